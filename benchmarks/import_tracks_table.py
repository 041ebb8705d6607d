"""Benchmark: :func:`dynaclr.tracking.importing.conform_imported_tracks` on a plate-sized table.

Builds a synthetic imported table (``--tracks`` tracks of ``--frames`` frames in each FOV, one row per
detection; FOV names ``A/<i // 100>/<i % 100>``) and conforms it to the ``tracks`` artifact in three
forms: ``kept``, ultrack-style ``id``/``parent_id`` that link each track (kept as given); ``renumbered``,
no ``id``/``parent_id`` columns (numbered as ultrack does); ``lineage``, ``parent_track_id`` giving each
FOV's second half of the tracks a mother in the first half and ``id``/``parent_id`` of another
convention (0 for none: renumbered, with the lineage). Prints the seconds per form and per 1,000 FOVs,
and the rows per second, for each ``--fovs``; with ``--checks``, the seconds of the checks and the
conforming together as rule ``import_tracks`` runs them (:func:`checked_imported_tracks`, whose typing
and ``parent_id`` lineage the conforming takes). With ``--profile`` the first size is run under cProfile
too (top 15 by cumulative time).

Usage::

    python benchmarks/import_tracks_table.py --fovs 1000 10000 [--checks] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import platform
import pstats
import time

import numpy as np
import pandas as pd

from dynaclr.tracking.importing import WHERE, checked_imported_tracks, conform_imported_tracks


def synthetic_table(n_fovs: int, n_tracks: int, n_frames: int, form: str) -> pd.DataFrame:
    """The imported table of ``n_fovs`` FOVs in ``form`` (``kept``, ``renumbered``, ``lineage``)."""
    fovs = np.repeat([f"A/{i // 100}/{i % 100}" for i in range(n_fovs)], n_tracks * n_frames)
    track = np.tile(np.repeat(np.arange(1, n_tracks + 1), n_frames), n_fovs)
    t = np.tile(np.arange(n_frames), n_fovs * n_tracks)
    ids = np.tile(np.arange(1, n_tracks * n_frames + 1), n_fovs)
    table = pd.DataFrame({"fov_name": fovs, "track_id": track, "t": t, "y": 5.0, "x": 7.0})
    if form == "kept":
        return table.assign(id=ids, parent_id=np.where(t == 0, -1, ids - 1))
    if form == "renumbered":
        return table
    half = n_tracks // 2
    # daughters (second half) start where their mothers (first half) end: mothers keep the first half
    # of the frames, daughters the second
    mother = np.where(track > half, track - half, -1)
    keep = np.where(track > half, t >= n_frames // 2, t < n_frames // 2)
    return table.assign(parent_track_id=mother, id=ids, parent_id=np.where(t == 0, 0, ids - 1))[keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fovs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--forms", nargs="+", default=["kept", "renumbered", "lineage"])
    parser.add_argument("--checks", action="store_true", help="time the checks and the conforming")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the lineage form warns of renumbered FOVs once per run
    versions = f"python {platform.python_version()} pandas {pd.__version__} numpy {np.__version__}"
    print(f"{platform.node()} {versions}")
    print(f"{'form':<11} {'FOVs':>6} {'rows':>9} {'seconds':>8} {'s / 1,000 FOVs':>15} {'rows / s':>10}")
    for n_fovs in args.fovs:
        for form in args.forms:
            table = synthetic_table(n_fovs, args.tracks, args.frames, form)
            fov_names = list(pd.unique(table["fov_name"]))
            if args.checks:  # each row named as the reader names it (file and line)
                table[WHERE] = [f"tracks.csv line {line}" for line in range(2, len(table) + 2)]
            start = time.perf_counter()
            typed_and_links = None
            if args.checks:
                problems, typed_and_links = checked_imported_tracks(
                    table, fov_names=fov_names, shape_tzyx=(args.frames, 1, 10, 10)
                )
                assert not problems, problems[:3]
            tracks, _ = conform_imported_tracks(table, fov_names, typed_and_links)
            seconds = time.perf_counter() - start
            assert len(tracks) == len(table), (len(tracks), len(table))
            print(
                f"{form:<11} {n_fovs:>6} {len(table):>9} {seconds:>8.2f} {seconds / n_fovs * 1000:>15.2f} "
                f"{len(table) / seconds:>10,.0f}",
                flush=True,
            )
    if args.profile:
        table = synthetic_table(args.fovs[0], args.tracks, args.frames, args.forms[0])
        fov_names = list(pd.unique(table["fov_name"]))
        profile = cProfile.Profile()
        profile.runcall(conform_imported_tracks, table, fov_names)
        pstats.Stats(profile).sort_stats("cumtime").print_stats(15)


if __name__ == "__main__":
    main()
