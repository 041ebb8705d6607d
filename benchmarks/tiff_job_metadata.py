"""Benchmark: what a job of a `tiff:` dataset reads of the dataset's metadata.

Writes N FOVs of tiny TIFF files (one file per FOV and time point, 8 x 8 pixels, sampling in the
config; ``--layout folders``: ``tiffs/Pos<i>/t<t>.tif``, ``--layout flat``: every file in one
folder, ``tiffs/Pos<i>_t<t>.tif``; ``--named``: the config names the positions, ``positions``) and
times, in this process, each metadata step a job runs when Snakemake parses the
Snakefile again (``workflow/rules/common.smk``), before and now:

- a per-dataset job that lists the FOVs (``collect_tracks``, ``collect_patches``, ``qc_table``:
  ``fovs``): before, the plate layout from every file's header (``tiff_layout``); now the FOV names
  from the file names (``index_tiff_files``), no header read;
- a job that needs the plate's shape (``import_tracks``, ``import_annotations``, ``import_model``,
  the baseline transfers of the report's jobs: ``plate_layout``): before, every header; now the
  file names and the first file's header (``read_first_tiff_header``);
- a per-FOV job that needs the sampling (``image_qc_figure``: ``tiff_sampling``): the first FOV's
  files and one header (``read_tiff_sampling``); before, every file was listed to find the first
  FOV, now the position folders and the first FOV's files only, and with ``positions`` (any layout)
  the first named position's files only (a flat folder is still read once, by glob, but only that
  position's files come back; ``--layout flat`` adds the time of that bare listing,
  ``os.scandir``, for reference). Run the script with
  ``PYTHONPATH`` on a checkout before the change for that step's "before" (the steps using functions
  it lacks are skipped).

Each step runs ``--repeats`` times (median printed) with the headers it reads and the files its
listings return counted. The layouts and FOV names of both ways are checked equal. ``--per-fov-only``
times the per-FOV step only (the steps over every header take minutes at 10^5 files), checking its
sampling against the layout from the file names and the first header, built once.

Usage::

    python benchmarks/tiff_job_metadata.py --fovs 500 --frames 10
    python benchmarks/tiff_job_metadata.py --fovs 10000 --frames 10 --layout flat --named
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import tifffile

import dynaclr.convert as convert
import dynaclr.convert.tiff as tiff_module
from dynaclr.config.convert import TiffSourceConfig
from dynaclr.convert import find_tiff_files, index_tiff_files, read_tiff_sampling, tiff_layout

#: The files' sampling, in the config (plain TIFFs state none).
SAMPLING = {"time_interval_minutes": 5.0, "pixel_size_um": 0.5, "z_step_um": 2.0}


#: File name pattern (under ``tiffs/``) of each layout.
LAYOUTS = {"folders": "{position}/t{t}.tif", "flat": "{position}_t{t}.tif"}


def write_files(root: Path, n_fovs: int, n_frames: int, layout: str, named: bool) -> TiffSourceConfig:
    """One 2-slice 8 x 8 uint16 image per FOV (``Pos<i>``) and time point, named after ``layout``
    (the same bytes in every file); the config names the positions (``A/1/<i>``) where ``named``."""
    encoded = io.BytesIO()
    tifffile.imwrite(encoded, np.zeros((2, 8, 8), np.uint16), metadata=None)
    for fov in range(n_fovs):
        for t in range(n_frames):
            path = root / LAYOUTS[layout].format(position=f"Pos{fov}", t=t)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encoded.getvalue())
    positions = {f"Pos{fov}": f"A/1/{fov}" for fov in range(n_fovs)} if named else None
    return TiffSourceConfig(
        files=f"tiffs/{LAYOUTS[layout]}", positions=positions, axes="ZYX", channel_names=["GFP"], **SAMPLING
    )


def timed(step: Callable[[], Any], repeats: int, counts: dict[str, int]) -> tuple[float, dict[str, int], Any]:
    """Median seconds of ``step``, what one call reads (headers, files listed), its result."""
    seconds = []
    for _ in range(repeats):
        counts.update(headers=0, listed=0)
        start = time.perf_counter()
        result = step()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), dict(counts), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fovs", type=int, default=500)
    parser.add_argument("--frames", type=int, default=10, help="time points (files) per FOV")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="folders", help="files by folder")
    parser.add_argument("--named", action="store_true", help="the config names the positions")
    parser.add_argument("--per-fov-only", action="store_true", help="time the per-FOV step only")
    args = parser.parse_args()
    counts = {"headers": 0, "listed": 0}
    read_header, listing = tiff_module.read_tiff_header, tiff_module.glob.glob

    def counting(path: str | Path, *rest: Any) -> Any:
        counts["headers"] += 1
        return read_header(path, *rest)

    def counting_listing(pattern: str) -> list[str]:
        found = listing(pattern)
        counts["listed"] += sum(path.endswith(".tif") for path in found)
        return found

    tiff_module.read_tiff_header = counting  # type: ignore[assignment]
    tiff_module.glob = SimpleNamespace(glob=counting_listing, escape=tiff_module.glob.escape)  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        config = write_files(Path(tmp) / "tiffs", args.fovs, args.frames, args.layout, args.named)
        print(
            f"{args.fovs} FOVs x {args.frames} time points = {args.fovs * args.frames} files, "
            f"{config.files}, positions {'named' if args.named else 'not named'}"
        )

        def every_header() -> Any:
            return tiff_layout(config, find_tiff_files(config), "raw.zarr")

        def names() -> Any:
            return index_tiff_files(config, find_tiff_files(config)).fov_names

        def first_header() -> Any:
            files = index_tiff_files(config, find_tiff_files(config))
            headers = convert.read_first_tiff_header(config, files)
            return convert.layout_from_headers(config, files, headers, "raw.zarr")

        rows = [
            ("every header (before: fovs, plate shape)", every_header),
            ("FOV names from the file names (now: fovs)", names),
            ("file names + first header (now: plate shape)", first_header),
            ("first FOV's files + one header (per-FOV sampling)", lambda: read_tiff_sampling(config)),
        ]
        if not hasattr(convert, "read_first_tiff_header"):  # a checkout before the change
            del rows[2]
        results: dict[str, Any] = {}
        if args.per_fov_only:
            results[rows[0][0]] = first_header()  # equal to every header's (checked without the flag)
            rows = rows[-1:]
        if args.layout == "flat":  # what any look-up in the folder costs at least: its names, once
            rows.append(("the folder's names, one os.scandir (reference)", lambda: bare_listing("tiffs")))
        print(f"| step | headers read | files listed | median s ({args.repeats} runs) |")
        print("| --- | --- | --- | --- |")
        for label, step in rows:
            seconds, read, results[label] = timed(step, args.repeats, counts)
            print(f"| {label} | {read['headers']} | {read['listed']} | {seconds:.4f} |")
        layout = results["every header (before: fovs, plate shape)"]
        assert args.per_fov_only or results[rows[1][0]] == layout.fov_names
        assert all(results[label] == layout for label, _ in rows if label.startswith("file names"))
        assert results["first FOV's files + one header (per-FOV sampling)"].geometry == layout.geometry


def bare_listing(folder: str) -> list[str]:
    """The names in ``folder``, as one ``os.scandir`` reads them."""
    with os.scandir(folder) as entries:
        return [entry.name for entry in entries]


if __name__ == "__main__":
    main()
