"""Random batch reads from a patch store: the chosen layout against alternatives, side by side.

Layouts of the same patches ``(N, C, Z, S, S)``:

* ``sharded_zstd1`` (chosen, :mod:`dynaclr.patches.store`): one chunk per patch, zstd level 1,
  ``patches_per_shard`` chunks per shard file;
* ``sharded_raw``: the same without compression;
* ``sharded_zstd3``: the same with zstd level 3;
* ``chunk_per_patch``: one chunk, and one file, per patch (zstd 1, no sharding);
* ``chunk_per_fov``: one array per FOV stored as a single chunk (zstd 1), what writing each FOV's
  patches in one piece gives; a batch decodes whole FOVs.

Every layout reads the same ``--batches`` random batches of ``--batch-size`` rows (sorted, as the
training dataset does); layouts take turns batch by batch, so changes in machine load affect them
alike, and the median time per batch is reported. Files are in the OS page cache after the copy:
this measures zarr's indexing and decoding, not the disk.

Usage::

    python benchmarks/patch_reads.py --store results/demo/patches/phase_sensor.zarr --workdir /tmp/patch_reads
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import zarr
from zarr.codecs import ZstdCodec

Reader = Callable[[np.ndarray], object]


def _copy(
    source: zarr.Array, target: Path, chunks: tuple[int, ...], shards: tuple[int, ...] | None, zstd_level: int
) -> zarr.Array:
    array = zarr.create_array(
        str(target),
        shape=source.shape,
        dtype=source.dtype,
        chunks=chunks,
        shards=shards,
        compressors=[ZstdCodec(level=zstd_level)] if zstd_level else None,
        overwrite=True,
    )
    step = shards[0] if shards else 256
    for start in range(0, source.shape[0], step):
        array[start : start + step] = source[start : start + step]
    return array


def _per_fov_copy(source: zarr.Array, index: pd.DataFrame, target: Path) -> Reader:
    """One single-chunk array per FOV; the reader maps global rows to (FOV, local row)."""
    shutil.rmtree(target, ignore_errors=True)
    group = zarr.open_group(str(target), mode="w")
    spans = []
    for number, (_, rows) in enumerate(index.groupby("fov_name", sort=False)["row"]):
        start, stop = int(rows.min()), int(rows.max()) + 1
        fov = group.create_array(
            f"fov{number}",
            shape=(stop - start, *source.shape[1:]),
            dtype=source.dtype,
            chunks=(stop - start, *source.shape[1:]),
            compressors=[ZstdCodec(level=1)],
        )
        fov[:] = source[start:stop]
        spans.append((start, stop, fov))

    def read(rows: np.ndarray) -> np.ndarray:
        parts = [fov.get_orthogonal_selection((rows[(rows >= a) & (rows < b)] - a,)) for a, b, fov in spans]
        return np.concatenate(parts)

    return read


def _read_rows(array: zarr.Array, rows: np.ndarray) -> object:
    return array.get_orthogonal_selection((rows,))


def _time_interleaved(
    readers: dict[str, Reader], n_rows: int, batch_size: int, batches: int, seed: int
) -> dict[str, float]:
    """Median seconds per random batch of every reader (same batches, layouts taking turns)."""
    rng = np.random.default_rng(seed)
    draws = [np.sort(rng.choice(n_rows, batch_size, replace=False)) for _ in range(batches + 1)]
    for read in readers.values():
        read(draws[0])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in readers}
    for rows in draws[1:]:
        for name, read in readers.items():
            started = time.perf_counter()
            read(rows)
            times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values)) for name, values in times.items()}


def _disk(path: Path) -> tuple[int, float]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a collected patch store (.zarr)")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch folder for the copies")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--patches-per-shard", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    source = zarr.open_group(str(args.store), mode="r")["patches"]
    assert isinstance(source, zarr.Array)
    index = pd.read_parquet(args.store.with_suffix(".parquet"))
    n_rows, patch_shape = source.shape[0], tuple(source.shape[1:])
    patch_mb = float(np.prod(patch_shape)) * source.dtype.itemsize / 1e6
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"{n_rows} patches of {patch_shape} {source.dtype} ({patch_mb:.3f} MB each); batch {args.batch_size}"
    )

    readers: dict[str, Reader] = {}
    paths: dict[str, Path] = {}
    one = (1, *patch_shape)
    shard = (args.patches_per_shard, *patch_shape)
    for name, chunks, shards, zstd_level in [
        ("sharded_zstd1", one, shard, 1),
        ("sharded_raw", one, shard, 0),
        ("sharded_zstd3", one, shard, 3),
        ("chunk_per_patch", one, None, 1),
    ]:
        paths[name] = args.workdir / f"{name}.zarr"
        shutil.rmtree(paths[name], ignore_errors=True)
        array = _copy(source, paths[name], chunks, shards, zstd_level)
        readers[name] = partial(_read_rows, array)
    paths["chunk_per_fov"] = args.workdir / "chunk_per_fov.zarr"
    readers["chunk_per_fov"] = _per_fov_copy(source, index, paths["chunk_per_fov"])

    seconds = _time_interleaved(readers, n_rows, args.batch_size, args.batches, args.seed)
    print(f"{'layout':<16} {'ms/batch':>9} {'patches/s':>10} {'MB/s':>8} {'files':>7} {'MB on disk':>11}")
    for name, path in paths.items():
        rate = args.batch_size / seconds[name]
        files, size_mb = _disk(path)
        throughput = f"{1e3 * seconds[name]:9.1f} {rate:10.0f} {rate * patch_mb:8.0f}"
        print(f"{name:<16} {throughput} {files:7d} {size_mb:11.0f}")


if __name__ == "__main__":
    main()
