"""Benchmark: divisions tracked on small simulated plates, swept over density, speed and cycle length.

For each setting one FOV (256 x 256 px, the demo's size, so ``initial_cells_per_fov`` 40 is
twice the demo's density) is simulated, its raw ``Nuclei`` channel tracked with each tracking
configuration named in ``--configs`` and scored against the ground truth: CTC DET and TRA,
division precision and recall, tracking seconds per FOV. Every division is then diagnosed:

* a reference division that was missed is counted by what happened at it: ``undetected``
  (mother's last vertex or a daughter's first vertex not matched one to one: a segmentation
  error), ``continuation+new`` (one daughter continues the mother's track, the other starts a
  new track), ``continuation+other`` (one continues, the other is linked from another cell),
  ``both_unlinked`` (neither daughter is linked to the mother), ``division_missed_match`` (a
  computed division is there but does not match: frame off by more than the tolerance);
* a computed division that matches none is ``split`` (a daughter matches no reference cell: one
  nucleus cut in two, or a false positive), ``mother_unmatched`` or ``wrong_cells`` (all three
  cells are true cells, just not a true mother and her daughters).

Configurations: ``before`` has the weights of a costly division (division weight -0.05,
appearance and disappearance -0.3) and keeps divisions into touching daughters; ``after`` is
the defaults of :class:`TrackingConfig` (division reward 0.2, appearance and disappearance -1,
divisions into touching daughters undone).

Usage::

    python benchmarks/tracking_divisions.py --workdir /tmp/trk_div --configs before after
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr

from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.tracking import TrackingConfig
from dynaclr.io.plate import fov_record_path
from dynaclr.tracking import (
    TrackFovInputs,
    TrackFovOutputs,
    TracksPlateInputs,
    TracksPlateOutputs,
    create_tracks_plate,
    track_fov,
)
from dynaclr.tracking.ctc import TrackGraph, ctc_scores, frame_overlaps, present_labels, track_graph
from dynaclr.tracking.evaluate import project_labels_to_2d

#: Tracking configurations compared, by name: overrides of :class:`TrackingConfig`'s defaults.
CONFIGS: dict[str, dict[str, Any]] = {
    "before": {
        "linking": {"max_distance_px": 20.0, "max_neighbors": 5, "distance_weight_per_px": 0.01},
        "solver": {"division_weight": -0.05, "appear_weight": -0.3, "disappear_weight": -0.3},
        "divisions": {"max_fragment_gap_px": 0.0},
    },
    "after": {},
}

#: Settings swept, by name: (initial cells per 256 x 256 FOV, speed µm/frame, cycle length frames).
SETTINGS: dict[str, tuple[int, float, float]] = {
    "demo": (20, 2.5, 40.0),
    "sparse": (10, 2.5, 40.0),
    "dense_x2": (40, 2.5, 40.0),
    "fast": (20, 4.0, 40.0),
    "short_cycle": (20, 2.5, 20.0),
    "dense_fast": (40, 4.0, 30.0),
}


@dataclass
class Truth:
    raw: Path
    tracks: pd.DataFrame
    labels: np.ndarray  # (T, Y, X), projected to 2D


def simulate(workdir: Path, setting: str, n_frames: int, seed: int) -> Truth:
    """One FOV of ``setting`` (skipped when already simulated); ground truth projected to 2D."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    cells, speed, cycle = SETTINGS[setting]
    folder = workdir / f"{setting}_seed{seed}"
    outputs = SimulateOutputs(
        plate=folder / "raw.zarr",
        tracks=folder / "truth.parquet",
        labels=folder / "labels.zarr",
        phase=folder / "phase.zarr",
    )
    if not outputs.plate.exists():
        config = SimulateConfig.model_validate(
            {
                "seed": seed,
                "wells": [{"row": "A", "column": "1", "condition": "mock"}],
                "fovs_per_well": 1,
                "n_frames": n_frames,
                "cells": {"initial_cells_per_fov": cells, "speed_um_per_frame": speed},
                "division": {"cycle_length_frames": cycle},
            }
        )
        simulate_plate(config, outputs)
    with open_ome_zarr(outputs.labels, mode="r") as plate:
        movie = np.asarray(plate["A/1/0"]["0"][:, 0])
    labels = np.stack([project_labels_to_2d(frame) for frame in movie])
    return Truth(outputs.plate, pd.read_parquet(outputs.tracks), labels)


def track(truth: Truth, config: TrackingConfig, folder: Path) -> tuple[pd.DataFrame, np.ndarray, float]:
    """Track the FOV; return its table, labels (T, Y, X) and seconds."""
    plate = folder / "tracks.zarr"
    create_tracks_plate(
        config, TracksPlateInputs(plate=truth.raw), TracksPlateOutputs(tracks_plate=plate), channel="Nuclei"
    )
    started = time.perf_counter()
    table = track_fov(
        config,
        TrackFovInputs(plate=truth.raw, tracks_plate=plate),
        TrackFovOutputs(
            tracks_csv=folder / "tracks.csv", record=fov_record_path(folder / "records", "A/1/0")
        ),
        fov_name="A/1/0",
        scratch_dir=folder / "scratch",
    )
    seconds = time.perf_counter() - started
    with open_ome_zarr(plate, mode="r") as opened:
        labels = np.asarray(opened["A/1/0"]["0"][:, 0, 0])
    return table, labels, seconds


def one_to_one(reference: TrackGraph, computed: TrackGraph, overlaps: dict[int, dict[int, int]]) -> dict:
    """Reference vertex → computed vertex, for computed vertices matching exactly one reference."""
    matched: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for t, frame in overlaps.items():
        for ref, comp in frame.items():
            if (t, ref) in reference.vertices and (t, comp) in computed.vertices:
                matched.setdefault((t, comp), []).append((t, ref))
    return {refs[0]: comp for comp, refs in matched.items() if len(refs) == 1}


def diagnose(reference: TrackGraph, computed: TrackGraph, overlaps: dict[int, dict[int, int]]) -> Counter:
    """Count each failure type of missed and false divisions (module docstring)."""
    to_computed = one_to_one(reference, computed, overlaps)
    to_reference = {comp: ref for ref, comp in to_computed.items()}
    incoming = {target: (source, parent) for (source, target), parent in computed.edges.items()}
    counts: Counter = Counter()
    computed_division_mothers = {(d.mother, d.t) for d in computed.divisions}
    for division in reference.divisions:
        mother = to_computed.get(division.mother)
        daughters = [to_computed.get((division.t, d)) for d in division.daughters]
        if mother is None or None in daughters:
            counts["missed: undetected"] += 1
            continue
        links = [incoming.get(d) for d in daughters if d is not None]
        from_mother = [link is not None and link[0] == mother for link in links]
        kinds = [
            link[1] if ok and link is not None else None for ok, link in zip(from_mother, links, strict=True)
        ]
        if all(kind is True for kind in kinds):
            near = any(m == mother and abs(t - division.t) <= 1 for m, t in computed_division_mothers)
            counts["found" if near else "missed: division_missed_match"] += 1
        elif False in kinds:
            other = [link for ok, link in zip(from_mother, links, strict=True) if not ok]
            counts[
                "missed: continuation+other" if other and other[0] is not None else "missed: continuation+new"
            ] += 1
        else:
            counts["missed: both_unlinked"] += 1
    reference_division_keys = {
        (division.mother, frozenset(division.daughters), division.t) for division in reference.divisions
    }
    for division in computed.divisions:
        mother = to_reference.get(division.mother)
        daughters = [to_reference.get((division.t, d)) for d in division.daughters]
        if mother is None:
            counts["false: mother_unmatched"] += 1
        elif None in daughters:
            counts["false: split"] += 1
        else:
            labels = frozenset(d[1] for d in daughters if d is not None)
            true = any(key[1] == labels and abs(key[2] - division.t) <= 1 for key in reference_division_keys)
            if not true:
                counts["false: wrong_cells"] += 1
    return counts


def score(truth: Truth, table: pd.DataFrame, labels: np.ndarray) -> dict[str, Any]:
    overlaps, ref_present, comp_present = {}, {}, {}
    for t in range(labels.shape[0]):
        overlaps[t], _ = frame_overlaps(truth.labels[t], labels[t])
        ref_present[t] = present_labels(truth.labels[t])
        comp_present[t] = present_labels(labels[t])
    reference = track_graph(truth.tracks, ref_present)
    computed = track_graph(table, comp_present)
    scores = ctc_scores(reference, computed, overlaps, 1)
    row: dict[str, Any] = {
        "det": scores.det,
        "tra": scores.tra,
        "div_precision": scores.division_precision,
        "div_recall": scores.division_recall,
        "n_true_div": scores.n_reference_divisions,
        "n_comp_div": scores.n_computed_divisions,
        "n_matched": scores.n_matched_divisions,
    }
    row.update(diagnose(reference, computed, overlaps))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dynaclr_tracking_divisions"))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    rows = []
    for setting in args.settings:
        for seed in args.seeds:
            truth = simulate(args.workdir, setting, args.frames, seed)
            for name in args.configs:
                config = TrackingConfig.model_validate(CONFIGS[name])
                folder = args.workdir / "runs" / f"{setting}_seed{seed}_{name}"
                table, labels, seconds = track(truth, config, folder)
                row = {"setting": setting, "seed": seed, "config": name, "seconds": seconds}
                row.update(score(truth, table, labels))
                rows.append(row)
                print(pd.DataFrame([row]).round(3).to_string(index=False), flush=True)
    results = pd.DataFrame(rows).fillna(0)
    counts = [c for c in results.columns if c.startswith(("missed", "false", "found"))]
    summed = results.groupby(["setting", "config"], sort=False)[
        ["n_true_div", "n_comp_div", "n_matched", *counts]
    ].sum()
    means = results.groupby(["setting", "config"], sort=False)[["det", "tra", "seconds"]].mean()
    summary = means.join(summed)
    summary.insert(3, "div_precision", summary["n_matched"] / summary["n_comp_div"])
    summary.insert(4, "div_recall", summary["n_matched"] / summary["n_true_div"])
    print(summary.round(3).to_string())
    print(summary[["det", "tra", "div_precision", "div_recall", "seconds"]].round(3).to_markdown())


if __name__ == "__main__":
    main()
