"""Benchmark: gap closing (``tracking.gap_closing``) on simulated FOVs, intact and with a blank frame.

For each seed one FOV of the demo's setting (256 x 256 px, 20 cells, 2.5 µm per frame, the
``demo`` setting of ``benchmarks/tracking_divisions.py``) is simulated and its raw ``Nuclei``
channel tracked by ``track_fov`` twice: gap closing off (``max_gap_frames`` 0) and at the defaults.
The off run's tracks are then joined post hoc with :func:`dynaclr.tracking.gaps.close_gaps` at each
setting of :data:`SWEEP` (its labels renumbered alike; close_gaps then sees the labels' centroids,
``track_fov`` ultrack's, so a swept row equal to the defaults may differ slightly from the
``default`` row). Each is scored against the ground truth: CTC DET and TRA, division precision and
recall, gaps closed, the links across missing frames and of them those joining one true cell
(``gap_links_true``: CTC's TRA counts even those as errors where the truth has the cell in the
missing frame, as a nucleus missed for a frame), and how many true cells seen on both sides of
the blank frame keep one track across it (``kept_across``, of ``true_across``).

Condition ``blank``: the same FOV with its ``Nuclei`` channel zeroed at ``--blank-frame`` (a shutter
failure); the truth's labels are zeroed there too, so its tracks skip that frame as a tracker at
best can (a link across the gap is a true link, a cut an error), not a missed frame for every cell.

Usage::

    python benchmarks/tracking_gap_closing.py --workdir /tmp/trk_gaps --seeds 0 1
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr

from dynaclr.config.tracking import TrackingConfig
from dynaclr.io.plate import fov_record_path, read_fov_record
from dynaclr.tracking.gaps import close_gaps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracking_divisions import Truth, score, simulate, track

#: ``name: (max_gap_frames, max_distance_px)`` applied post hoc to the off run.
SWEEP: dict[str, tuple[int, float]] = {
    "gap1_d10": (1, 10.0),
    "gap1_d15": (1, 15.0),
    "gap1_d20": (1, 20.0),
    "gap2_d15": (2, 15.0),
    "gap3_d20": (3, 20.0),
}


def with_blank_frame(truth: Truth, t: int, folder: Path) -> Truth:
    """A copy of the FOV whose ``Nuclei`` channel is zero at frame ``t``; the truth's labels too."""
    raw = folder / "raw_blank.zarr"
    if not raw.exists():
        shutil.copytree(truth.raw, raw)
        with open_ome_zarr(raw, layout="hcs", mode="r+") as plate:
            position = plate["A/1/0"]
            image = position["0"]
            c = position.get_channel_index("Nuclei")
            image[t, c] = np.zeros(image.shape[2:], dtype=image.dtype)
    labels = truth.labels.copy()
    labels[t] = 0
    return replace(truth, raw=raw, labels=labels)


def kept_across(truth: Truth, table: pd.DataFrame, labels: np.ndarray, t: int) -> tuple[int, int]:
    """True cells seen at ``t - 1`` and ``t + 1`` (one track id), and of them those whose computed
    label at both frames (majority of the true cell's pixels) is one track."""
    true_ids = set(np.unique(truth.labels[t - 1])) & set(np.unique(truth.labels[t + 1])) - {0}
    kept = 0
    for cell in true_ids:
        before = labels[t - 1][truth.labels[t - 1] == cell]
        after = labels[t + 1][truth.labels[t + 1] == cell]
        first, second = np.bincount(before).argmax(), np.bincount(after).argmax()
        kept += int(first != 0 and first == second)
    return kept, len(true_ids)


def gap_links(truth: Truth, table: pd.DataFrame, labels: np.ndarray) -> tuple[int, int]:
    """Links of a track across missing frames, and of them those whose two ends hold one true cell
    (the true label under most of the computed label's pixels at each end)."""
    correct = total = 0
    for track_id, frames in table.groupby("track_id")["t"]:
        ts = np.sort(frames.to_numpy())
        for t0, t1 in itertools.pairwise(ts):
            if t1 - t0 < 2:
                continue
            cells = [np.bincount(truth.labels[t][labels[t] == track_id]).argmax() for t in (t0, t1)]
            total += 1
            correct += int(cells[0] != 0 and cells[0] == cells[1])
    return correct, total


def row_of(truth: Truth, table: pd.DataFrame, labels: np.ndarray, blank: int | None) -> dict[str, Any]:
    row = score(truth, table, labels)
    row = {key: row[key] for key in ("det", "tra", "div_precision", "div_recall")}
    row["gap_links_true"], row["gap_links"] = gap_links(truth, table, labels)
    if blank is not None:
        row["kept_across"], row["true_across"] = kept_across(truth, table, labels, blank)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dynaclr_tracking_gaps"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--blank-frame", type=int, default=15)
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        intact = simulate(args.workdir, "demo", args.frames, seed)
        folder = args.workdir / f"demo_seed{seed}"
        for condition, truth in (
            ("intact", intact),
            ("blank", with_blank_frame(intact, args.blank_frame, folder)),
        ):
            blank = args.blank_frame if condition == "blank" else None
            runs = args.workdir / "runs" / f"seed{seed}_{condition}"
            off_table, off_labels, _ = track(
                truth, TrackingConfig.model_validate({"gap_closing": {"max_gap_frames": 0}}), runs / "off"
            )
            default_table, default_labels, _ = track(truth, TrackingConfig(), runs / "default")
            defaults = TrackingConfig().gap_closing
            found = [
                ("off", 0, off_table, off_labels),
                (
                    f"default (gap {defaults.max_gap_frames}, {defaults.max_distance_px:g} px)",
                    int(
                        read_fov_record(fov_record_path(runs / "default" / "records", "A/1/0"), "tracks_fov")[
                            1
                        ]["gaps_closed"]
                    ),
                    default_table,
                    default_labels,
                ),
            ]
            for name, (max_gap, distance) in SWEEP.items():
                joined, closed = close_gaps(off_table, max_gap, distance)
                renumber = np.zeros(int(off_labels.max()) + 1, dtype=off_labels.dtype)
                renumber[off_table["track_id"].to_numpy()] = joined["track_id"].to_numpy()
                found.append((name, closed, joined, renumber[off_labels]))
            for name, closed, table, labels in found:
                row = {"seed": seed, "condition": condition, "config": name, "gaps_closed": closed}
                row.update(row_of(truth, table, labels, blank))
                rows.append(row)
                print(pd.DataFrame([row]).round(4).to_string(index=False), flush=True)
    results = pd.DataFrame(rows)
    print(results.round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()
