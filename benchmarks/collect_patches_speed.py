"""Benchmark: ``collect_patches`` before and after the stored-chunk copy, side by side in one run.

Builds ``--fovs`` per-FOV patch stores by copying one per-FOV store (its ``.zarr`` and the
``.parquet`` beside it, e.g. one of ``make demo``'s ``results/demo/patches/<spec>/fovs/...``), each
copy under its own FOV name (:func:`copy_fov_patch_stores`: shard files hard-linked, metadata and
index rewritten). Then collects them with

* ``before``: :func:`collect_patches` as of ``--before-ref`` (read from git: the shard-by-shard
  decode and encode through zarr, one patch at a time into the shard buffer);
* ``after, N threads``: the current :func:`dynaclr.patches.collect_patches` with ``threads=N``
  for each of ``--threads``;

taking turns round by round (``--rounds``), so changes in machine load hit every variant alike, and
prints the best round's patches per second of each and its ratio to ``before``. The inputs are in
the page cache after the first round, so this measures decoding, encoding and writing, not the
disk. Every output is checked to hold the same patches as the first.

Usage::

    python benchmarks/collect_patches_speed.py --workdir /tmp/collect_speed --fovs 20 \\
        --fov-store results/demo/patches/phase_sensor/fovs/A/1/0.zarr
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import zarr

from dynaclr.io import read_table, write_table
from dynaclr.patches import CollectPatchesInputs, CollectPatchesOutputs, collect_patches
from dynaclr.patches.store import PATCH_ARRAY, create_patch_array

#: The commit before the stored-chunk copy.
BEFORE_REF = "2219f6b"
REPOSITORY = Path(__file__).resolve().parents[1]


def fov_name_of(number: int) -> str:
    """A distinct FOV name ``row/column/fov`` for copy ``number`` (up to 26 x 100 x 1000 copies)."""
    return f"{chr(ord('A') + number // 100_000)}/{number // 1000 % 100 + 1}/{number % 1000}"


def truncated_fov_store(zarr_path: Path, target: Path, n_patches: int | None) -> tuple[Path, Path]:
    """A copy of a per-FOV store and its index at ``target`` (.zarr, .parquet), same layout,
    attributes and provenance, with ``n_patches`` patches only (``None``: all): those of the FOV's
    first tracks (by ``track_id``), whole tracks in time order, so that tracks keep adjacent frames."""
    source = zarr.open_group(str(zarr_path), mode="r")
    array = source[PATCH_ARRAY]
    assert isinstance(array, zarr.Array)
    index, provenance = read_table(zarr_path.with_suffix(".parquet"), "patch_fov")
    by_track = index.sort_values(["track_id", "t"], kind="stable").index.to_numpy()
    rows = np.sort(by_track[:n_patches]) if n_patches is not None else np.arange(len(index))
    shutil.rmtree(target.with_suffix(".zarr"), ignore_errors=True)
    group = zarr.open_group(str(target.with_suffix(".zarr")), mode="w", zarr_format=3)
    attributes: dict[str, Any] = dict(source.attrs)
    group.attrs.update(attributes)
    step = int((array.shards or array.chunks)[0])
    n_channels, n_slices, height, width = array.shape[1:]
    patch_shape = (n_channels, n_slices, height, width)
    per_shard = int(attributes["patch_spec"]["patches_per_shard"])
    output = create_patch_array(group, len(rows), patch_shape, str(array.dtype), per_shard)
    for start in range(0, len(rows), step):
        output[start : start + step] = array.get_orthogonal_selection((rows[start : start + step],))
    kept = index.iloc[rows].reset_index(drop=True).assign(row=np.arange(len(rows), dtype=np.int64))
    write_table(kept, target.with_suffix(".parquet"), provenance)
    return target.with_suffix(".zarr"), target.with_suffix(".parquet")


def copy_fov_patch_stores(zarr_path: Path, folder: Path, n_fovs: int) -> tuple[list[Path], list[Path]]:
    """``n_fovs`` copies of a per-FOV store and its index in ``folder``, FOV ``i`` named
    :func:`fov_name_of` ``(i)``: shard files hard-linked (no data copied), the group's
    ``normalization`` attribute and the index's ``fov_name`` rewritten."""
    group_metadata = json.loads((zarr_path / "zarr.json").read_text())
    (normalization,) = group_metadata["attributes"]["normalization"].values()
    index, provenance = read_table(zarr_path.with_suffix(".parquet"), "patch_fov")
    array_files = [path for path in (zarr_path / PATCH_ARRAY).rglob("*") if path.is_file()]
    zarrs, parquets = [], []
    for number in range(n_fovs):
        name = fov_name_of(number)
        target = folder / f"{number}.zarr"
        for path in array_files:
            linked = target / path.relative_to(zarr_path)
            linked.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, linked)
        attributes = {**group_metadata["attributes"], "normalization": {name: normalization}}
        metadata = {**group_metadata, "attributes": attributes}
        (target / "zarr.json").write_text(json.dumps(metadata))
        write_table(index.assign(fov_name=name), target.with_suffix(".parquet"), provenance)
        zarrs.append(target)
        parquets.append(target.with_suffix(".parquet"))
    return zarrs, parquets


def _module_at(ref: str, relative: str, folder: Path) -> ModuleType:
    """The module ``relative`` (a path in this repository) as of git ``ref``, imported from a copy."""
    command = ["git", "-C", str(REPOSITORY), "show", f"{ref}:{relative}"]
    source = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    path = folder / f"before_{Path(relative).stem}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _collect_now(inputs: CollectPatchesInputs, outputs: CollectPatchesOutputs, threads: int) -> Any:
    return collect_patches(inputs, outputs, threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fov-store", type=Path, required=True, help="a per-FOV patch store (.zarr)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--fovs", type=int, default=20)
    parser.add_argument("--patches-per-fov", type=int, default=None, help="keep the first N (default: all)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before-ref", default=BEFORE_REF)
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    source, _ = truncated_fov_store(args.fov_store, args.workdir / "source", args.patches_per_fov)
    zarrs, parquets = copy_fov_patch_stores(source, args.workdir / "fovs", args.fovs)
    inputs = CollectPatchesInputs(zarrs=tuple(zarrs), parquets=tuple(parquets))
    before = _module_at(args.before_ref, "src/dynaclr/patches/collect.py", args.workdir)

    variants: dict[str, Callable[[CollectPatchesOutputs], Any]] = {
        "before": lambda outputs: before.collect_patches(inputs, outputs)
    }
    for threads in args.threads:
        variants[f"after, {threads} thread(s)"] = partial(_collect_now, inputs, threads=threads)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    reference: np.ndarray | None = None
    n_patches = 0
    for _ in range(args.rounds):
        for number, (name, run) in enumerate(variants.items()):
            outputs = CollectPatchesOutputs(
                zarr=args.workdir / f"out{number}.zarr", parquet=args.workdir / f"out{number}.parquet"
            )
            started = time.perf_counter()
            run(outputs)
            seconds[name].append(time.perf_counter() - started)
            collected = zarr.open_group(str(outputs.zarr), mode="r")[PATCH_ARRAY]
            assert isinstance(collected, zarr.Array)
            n_patches = collected.shape[0]
            sample = np.asarray(collected[:: max(1, n_patches // 50)])
            if reference is None:
                reference = sample
            elif not np.array_equal(sample, reference):
                raise RuntimeError(f"{name}: collected patches differ from the first variant's")
            shutil.rmtree(outputs.zarr)

    print(f"{args.fovs} FOVs, {n_patches} patches; best of {args.rounds} round(s); {os.cpu_count()} CPUs")
    print("| variant | seconds | patches/s | ratio to before |")
    print("| --- | --- | --- | --- |")
    baseline = min(seconds["before"])
    for name, times in seconds.items():
        best = min(times)
        print(f"| {name} | {best:.2f} | {n_patches / best:,.0f} | {baseline / best:.1f} |")
    shutil.rmtree(args.workdir / "fovs")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
