"""Benchmark: ultrack tracking time per FOV, first call (numba compilation) vs later calls.

Tracks every FOV of a plate's nuclear channel with :func:`dynaclr.tracking.track_fov` in one
process, in plate order, and reports per FOV the wall time (read, maps, ultrack, label export),
seconds per frame, cells per frame (tracked detections over frames), seconds per 100 cells (per
100 tracked cell-frames) and counts; the first FOV pays for numba's just-in-time compilation, the
later ones do not. The first FOV is tracked once more at the end of each run, so the compilation cost
is the first call minus that repeat. With ``--scratch-dirs`` the FOVs are tracked once per
scratch directory (e.g. a disk folder and a tmpfs folder such as ``/dev/shm``), so the cost of
ultrack's SQLite database on each is measured side by side in the same process. With
``--evaluate`` the tracks are scored against the simulator's ground truth (CTC DET/TRA,
division precision/recall).

Without ``--plate`` a demo-sized plate (``SimulateConfig()`` defaults: 2 wells x 2 FOVs, 30
frames, 10 x 256 x 256) is simulated into ``--workdir`` first (about 40 s on 2 cores).

Usage::

    python benchmarks/tracking_per_fov.py --workdir /tmp/tracking_bench --evaluate \
        --scratch-dirs /tmp/tracking_bench/scratch /dev/shm/tracking_bench
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd

from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.tracking import TrackingConfig, TrackingEvaluationConfig
from dynaclr.io.plate import fov_record_path, read_fov_record
from dynaclr.tracking import (
    CollectTracksInputs,
    CollectTracksOutputs,
    EvaluateTrackingInputs,
    EvaluateTrackingOutputs,
    TrackFovInputs,
    TrackFovOutputs,
    TracksPlateInputs,
    TracksPlateOutputs,
    collect_tracks,
    create_tracks_plate,
    evaluate_tracking,
    track_fov,
)


def simulate_demo(workdir: Path, config: SimulateConfig | None = None) -> dict[str, Path]:
    """Simulate the demo plate (or ``config``'s) into ``workdir``, skipped when it is already there.

    Returns the paths of the raw plate (``plate``) and of the ground truth (``tracks``, ``labels``,
    ``phase``)."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    paths = {
        "plate": workdir / "raw.zarr",
        "tracks": workdir / "ground_truth" / "tracks.parquet",
        "labels": workdir / "ground_truth" / "labels.zarr",
        "phase": workdir / "ground_truth" / "phase.zarr",
    }
    if not paths["plate"].exists():
        started = time.perf_counter()
        simulate_plate(config or SimulateConfig(), SimulateOutputs(**paths))
        print(f"simulated {paths['plate']} in {time.perf_counter() - started:.1f} s")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dynaclr_tracking_benchmark"))
    parser.add_argument("--plate", type=Path, help="existing HCS plate (default: simulate the demo plate)")
    parser.add_argument("--channel", default="Nuclei", help="nuclear channel of the plate")
    parser.add_argument("--config", type=Path, help="TrackingConfig as JSON (default: the defaults)")
    parser.add_argument("--scratch-dirs", type=Path, nargs="+", help="scratch roots to compare")
    parser.add_argument("--evaluate", action="store_true", help="score against the simulated ground truth")
    args = parser.parse_args()

    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"plate": args.plate} if args.plate else simulate_demo(workdir)
    config = (
        TrackingConfig.model_validate(json.loads(args.config.read_text()))
        if args.config
        else TrackingConfig()
    )
    scratch_roots = args.scratch_dirs or [workdir / "scratch"]
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")

    rows = []
    for run, scratch_root in enumerate(scratch_roots):
        out = workdir / f"run{run}"
        plate = out / "tracks.zarr"
        fov_names = create_tracks_plate(
            config,
            TracksPlateInputs(plate=paths["plate"]),
            TracksPlateOutputs(tracks_plate=plate),
            channel=args.channel,
        )
        outputs = {
            fov_name: TrackFovOutputs(
                tracks_csv=fov_record_path(out / "tracks", fov_name).with_suffix(".csv"),
                record=fov_record_path(out / "records", fov_name),
            )
            for fov_name in fov_names
        }
        # the first FOV again at the end: the same work as the first call, without compilation
        for call, fov_name in enumerate([*fov_names, fov_names[0]]):
            started = time.perf_counter()
            table = track_fov(
                config,
                TrackFovInputs(plate=paths["plate"], tracks_plate=plate),
                outputs[fov_name],
                fov_name=fov_name,
                scratch_dir=scratch_root / f"run{run}" / fov_name,
            )
            wall = time.perf_counter() - started
            _, metrics = read_fov_record(outputs[fov_name].record, "tracks_fov")
            rows.append(
                {
                    "scratch": str(scratch_root),
                    "fov_name": fov_name,
                    "call": (
                        "first (numba compile)"
                        if run == 0 and call == 0
                        else ("repeat of first FOV" if call == len(fov_names) else "later")
                    ),
                    "wall_s": round(wall, 2),
                    "ultrack_s": round(metrics["seconds_ultrack"], 2),
                    "maps_s": round(metrics["seconds_maps"], 2),
                    "export_s": round(metrics["seconds_export"], 2),
                    "frames_per_s": round(metrics["n_frames"] / wall, 2),
                    "n_frames": metrics["n_frames"],
                    "s_per_frame": round(wall / metrics["n_frames"], 3),
                    "cells_per_frame": round(len(table) / metrics["n_frames"], 1),
                    "s_per_100_cells": round(100 * wall / max(len(table), 1), 3),
                    "n_tracks": table["track_id"].nunique(),
                    "n_detections": len(table),
                }
            )
            print(rows[-1], flush=True)
        if args.evaluate and not args.plate:
            collect_tracks(
                CollectTracksInputs(
                    tracks_plate=plate,
                    records=tuple(outputs[name].record for name in fov_names),
                    tracks_csvs=tuple(outputs[name].tracks_csv for name in fov_names),
                ),
                CollectTracksOutputs(tracks=out / "tracks.parquet"),
            )
            scores = evaluate_tracking(
                TrackingEvaluationConfig(),
                EvaluateTrackingInputs(
                    tracks_plate=plate,
                    tracks=out / "tracks.parquet",
                    labels=paths["labels"],
                    truth=paths["tracks"],
                ),
                EvaluateTrackingOutputs(table=out / "tracking.csv", record=out / "tracking.json"),
            )
            columns = ["fov_name", "det", "tra", "division_precision", "division_recall"]
            print(scores[columns].round(3).to_string(index=False))

    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    later = table[table["call"] != "first (numba compile)"]
    for scratch, group in later.groupby("scratch", sort=False):
        seconds, frames, detections = group[["wall_s", "n_frames", "n_detections"]].sum()
        print(
            f"{scratch}: later calls {group['wall_s'].mean():.1f} s per FOV, {seconds / frames:.3f} s per "
            f"frame, {detections / frames:.1f} cells per frame, {100 * seconds / detections:.3f} s per "
            "100 cells (tracked cell-frames)"
        )


if __name__ == "__main__":
    main()
