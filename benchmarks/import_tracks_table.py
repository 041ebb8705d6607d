"""Benchmark: :func:`dynaclr.tracking.importing.conform_imported_tracks` on a plate-sized table.

Builds a synthetic imported table (``--tracks`` tracks of ``--frames`` frames in each FOV, one row per
detection; FOV names ``A/<i // 100>/<i % 100>``) and conforms it to the ``tracks`` artifact in three
forms: ``kept``, ultrack-style ``id``/``parent_id`` that link each track (kept as given); ``renumbered``,
no ``id``/``parent_id`` columns (numbered as ultrack does); ``lineage``, ``parent_track_id`` giving each
FOV's second half of the tracks a mother in the first half and ``id``/``parent_id`` of another
convention (0 for none: renumbered, with the lineage). Prints the seconds per form and per 1,000 FOVs,
and the rows per second, for each ``--fovs``; with ``--checks``, the seconds of the checks and the
conforming together as rule ``import_tracks`` runs them (:func:`checked_imported_tracks`, whose typing
and ``parent_id`` lineage the conforming takes; ``--conform-retypes``: not taken, the conforming types
the table again, as before 2026-12-06). ``--cpu`` prints CPU seconds (``time.process_time``) rather than
wall seconds, ``--repeat N`` the best of N runs. With ``--profile`` the first size and form are run under
cProfile too (top 15 by cumulative time), what is timed: the checks and the conforming under ``--checks``.

Usage::

    python benchmarks/import_tracks_table.py --fovs 1000 10000 [--checks [--conform-retypes]] [--cpu]
        [--repeat N] [--profile]
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


def imported_table(n_fovs: int, form: str, args: argparse.Namespace) -> tuple[pd.DataFrame, list[str]]:
    """The synthetic table of ``n_fovs`` FOVs in ``form`` and its FOV names; under ``--checks`` each
    row named as the reader names it (file and line)."""
    table = synthetic_table(n_fovs, args.tracks, args.frames, form)
    fov_names = list(pd.unique(table["fov_name"]))
    if args.checks:
        table[WHERE] = [f"tracks.csv line {line}" for line in range(2, len(table) + 2)]
    return table, fov_names


def import_once(table: pd.DataFrame, fov_names: list[str], args: argparse.Namespace) -> pd.DataFrame:
    """What is timed: the conforming; under ``--checks`` the checks then the conforming, as rule
    ``import_tracks`` runs them (the checks' typed table and lineage passed on; with
    ``--conform-retypes`` not passed, so the conforming types the table and reads the lineage again,
    as before 2026-12-06)."""
    typed_and_links = None
    if args.checks:
        problems, typed_and_links = checked_imported_tracks(
            table, fov_names=fov_names, shape_tzyx=(args.frames, 1, 10, 10)
        )
        assert not problems, problems[:3]
        if args.conform_retypes:
            typed_and_links = None
    tracks, _ = conform_imported_tracks(table, fov_names, typed_and_links)
    assert len(tracks) == len(table), (len(tracks), len(table))
    return tracks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fovs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--forms", nargs="+", default=["kept", "renumbered", "lineage"])
    parser.add_argument("--checks", action="store_true", help="time the checks and the conforming")
    parser.add_argument(
        "--conform-retypes",
        action="store_true",
        help="with --checks: do not pass the checks' typing to the conforming (the code before 2026-12-06)",
    )
    parser.add_argument(
        "--cpu", action="store_true", help="CPU seconds of this process (time.process_time), not wall seconds"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each form and size; the best is printed"
    )
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.conform_retypes and not args.checks:
        parser.error("--conform-retypes needs --checks")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, found {args.repeat}")
    logging.basicConfig(level=logging.ERROR)  # the lineage form warns of renumbered FOVs once per run
    clock = time.process_time if args.cpu else time.perf_counter
    versions = f"python {platform.python_version()} pandas {pd.__version__} numpy {np.__version__}"
    print(f"{platform.node()} {versions}")
    unit = "CPU s" if args.cpu else "seconds"
    print(f"{'form':<11} {'FOVs':>6} {'rows':>9} {unit:>8} {'s / 1,000 FOVs':>15} {'rows / s':>10}")
    for n_fovs in args.fovs:
        for form in args.forms:
            table, fov_names = imported_table(n_fovs, form, args)
            runs = []
            for _ in range(args.repeat):
                start = clock()
                import_once(table, fov_names, args)
                runs.append(clock() - start)
            seconds = min(runs)
            print(
                f"{form:<11} {n_fovs:>6} {len(table):>9} {seconds:>8.2f} {seconds / n_fovs * 1000:>15.2f} "
                f"{len(table) / seconds:>10,.0f}"
                + (f"  (runs: {', '.join(f'{run:.2f}' for run in runs)})" if args.repeat > 1 else ""),
                flush=True,
            )
    if args.profile:
        table, fov_names = imported_table(args.fovs[0], args.forms[0], args)
        profile = cProfile.Profile()
        profile.runcall(import_once, table, fov_names, args)
        pstats.Stats(profile).sort_stats("cumtime").print_stats(15)


if __name__ == "__main__":
    main()
