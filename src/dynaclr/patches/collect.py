"""Gather per-FOV patch stores into one store per dataset and spec (rule ``collect_patches``).

Output: ``results/{dataset}/patches/{spec}.zarr`` (array ``patches`` ``(N, C, Z, S, S)``, one chunk
per patch, sharded; see :mod:`dynaclr.patches.store`) and ``results/{dataset}/patches/{spec}.parquet``
(one row per patch, ``row`` = its position in the array). The per-FOV normalisation statistics are
merged into the store's ``normalization`` attribute.

The copy goes one output shard at a time, several shards at once on the job's threads; inputs in
the store's own layout are copied as their stored (compressed) chunks, without decoding, so the
output has the bytes a decode-and-encode copy would give, at the speed of reading and writing files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr
from tqdm.auto import tqdm

from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    StageFiles,
    atomic_output,
    make_provenance,
    read_table,
    read_zarr_provenance,
    write_table,
    write_zarr_provenance,
)
from dynaclr.patches.store import (
    INDEX_COLUMNS,
    PATCH_ARRAY,
    PatchStore,
    ShardedRowWriter,
    can_copy_encoded,
    create_patch_array,
    read_encoded_rows,
    write_encoded_shard,
)

logger = logging.getLogger(__name__)

#: Attributes that must agree between the per-FOV stores of one spec.
SHARED_ATTRIBUTES = (
    "patch_spec",
    "channel_names",
    "initial_patch_size_yx_px",
    "patch_size_yx_px",
    "z_slices",
    "resampling",
)


class CollectPatchesInputs(StageFiles):
    """Rule ``collect_patches``: every FOV's patch store and its index (same order)."""

    zarrs: tuple[Path, ...]
    parquets: tuple[Path, ...]


class CollectPatchesOutputs(StageFiles):
    """Rule ``collect_patches``: the collected store (kind ``patches``) and index (``patch_index``)."""

    zarr: Path
    parquet: Path


def read_fov_store(zarr_path: Path, parquet_path: Path) -> PatchStore:
    """Open a per-FOV store and read its index; checks their kinds and that they hold the same rows."""
    provenance = read_zarr_provenance(zarr_path, ArtifactKind.PATCH_FOV)
    index, index_provenance = read_table(parquet_path, ArtifactKind.PATCH_FOV, required_columns=INDEX_COLUMNS)
    group = zarr.open_group(str(zarr_path), mode="r")
    array = group[PATCH_ARRAY]
    assert isinstance(array, zarr.Array)
    if array.shape[0] != len(index):
        raise ArtifactError(
            f"{parquet_path}: {len(index)} rows, but {zarr_path} holds {array.shape[0]} patches"
        )
    return PatchStore(zarr_path, parquet_path, array, index, dict(group.attrs), provenance, index_provenance)


def check_same_spec(stores: Sequence[PatchStore]) -> None:
    """Fail unless every store and index was made with the first store's patch spec (config hash)."""
    expected = stores[0].provenance.config_hash
    for store in stores:
        if store.provenance.config_hash != expected or store.index_provenance.config_hash != expected:
            raise ArtifactError(
                f"{store.zarr_path} / {store.parquet_path}: made with patch spec hash "
                f"{store.provenance.config_hash} / {store.index_provenance.config_hash}, expected {expected} "
                f"like {stores[0].zarr_path}; rerun `snakemake --forcerun extract_patches`"
            )


def collected_attributes(attributes: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Attributes of the collected store from the per-FOV stores' (``names`` label them in errors).

    :data:`SHARED_ATTRIBUTES` must agree and are kept once, with the first store's
    ``time_interval_minutes``; ``normalization`` (per FOV) is merged, each FOV from one store only.

    Raises:
        ArtifactError: a shared attribute differs, or a FOV appears in two stores.
    """
    first = attributes[0]
    shared = {key: first.get(key) for key in SHARED_ATTRIBUTES}
    shared["time_interval_minutes"] = first.get("time_interval_minutes")
    normalization: dict[str, Any] = {}
    for these, name in zip(attributes, names, strict=True):
        differing = [key for key in SHARED_ATTRIBUTES if these.get(key) != shared[key]]
        if differing:
            raise ArtifactError(f"{name}: attributes {differing} differ from those of {names[0]}")
        fov_names = list(these["normalization"])
        if any(fov_name in normalization for fov_name in fov_names):
            raise ArtifactError(f"{name}: FOV(s) {fov_names} appear in more than one input store")
        normalization.update(these["normalization"])
    return {**shared, "normalization": normalization}


def collected_index(indices: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The per-FOV indices one after the other, ``row`` renumbered ``0 .. N-1``.

    Columns :data:`~dynaclr.patches.store.INDEX_COLUMNS`.
    """
    collected = pd.concat(indices, ignore_index=True)
    collected["row"] = np.arange(len(collected), dtype=np.int64)
    return collected[list(INDEX_COLUMNS)]


#: A segment of a destination shard: rows ``[start, stop)`` of input store ``store``.
Segment = tuple[int, int, int]


def destination_shards(row_counts: Sequence[int], rows_per_shard: int) -> Iterator[list[Segment]]:
    """The collected array's shards, in order, as the input rows that fill them.

    The inputs' rows ``row_counts`` (one count per input store) are laid end to end and cut every
    ``rows_per_shard`` rows; each shard is a list of ``(store, start, stop)`` segments. Yielded one
    shard at a time, so a plate's worth of rows is never listed at once.
    """
    segments: list[Segment] = []
    filled = 0
    for store, n_rows in enumerate(row_counts):
        start = 0
        while start < n_rows:
            take = min(n_rows - start, rows_per_shard - filled)
            segments.append((store, start, start + take))
            filled += take
            start += take
            if filled == rows_per_shard:
                yield segments
                segments, filled = [], 0
    if segments:
        yield segments


def _copy_encoded(sources: Sequence[zarr.Array], output: zarr.Array, threads: int, progress: tqdm) -> None:
    """Fill ``output`` shard by shard with the inputs' stored chunks, copied as bytes (no decoding):
    up to ``threads`` shards at a time, at most ``2 x threads`` shards' chunks in memory."""
    shard_rows = int(output.shards[0])  # type: ignore[index]

    def copy_shard(shard: int, segments: list[Segment]) -> int:
        chunks: list[bytes | None] = []
        for store, start, stop in segments:
            chunks.extend(read_encoded_rows(sources[store], start, stop))
        write_encoded_shard(output, shard, chunks)
        return len(chunks)

    shards = enumerate(destination_shards([source.shape[0] for source in sources], shard_rows))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: set[Future[int]] = set()
        for shard, segments in shards:
            pending.add(pool.submit(copy_shard, shard, segments))
            if len(pending) >= 2 * threads:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                progress.update(sum(future.result() for future in done))
        progress.update(sum(future.result() for future in pending))


def _copy_decoded(sources: Sequence[zarr.Array], output: zarr.Array, progress: tqdm) -> None:
    """Fill ``output`` through zarr (decode, encode), reading and writing a shard's rows at a time."""
    writer = ShardedRowWriter(output)
    for source in sources:
        for start in range(0, source.shape[0], writer.rows_per_write):
            block = np.asarray(source[start : start + writer.rows_per_write])
            writer.extend(block)
            progress.update(len(block))
    writer.close()


def _write_collected_store(
    path: Path, stores: Sequence[PatchStore], attributes: dict[str, Any], provenance: Provenance, threads: int
) -> tuple[int, int, int, int]:
    """Copy every store's patches, in order, into a new store at ``path`` (atomically).

    Inputs of the layout the store is written in are copied as stored chunks, whole shards at a
    time (:func:`_copy_encoded`); any other input is decoded and encoded again. Both give the same
    files. Returns the patch shape ``(C, Z, S, S)``."""
    first = stores[0].array
    n_channels, n_slices, height, width = first.shape[1:]
    patch_shape = (n_channels, n_slices, height, width)
    total = sum(store.array.shape[0] for store in stores)
    sources = [store.array for store in stores]
    with atomic_output(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        group.attrs.update(attributes)
        output = create_patch_array(
            group, total, patch_shape, str(first.dtype), int(attributes["patch_spec"]["patches_per_shard"])
        )
        with tqdm(total=total, desc="collect patches", unit="patch", mininterval=2.0) as progress:
            if all(can_copy_encoded(source, output) for source in sources):
                _copy_encoded(sources, output, max(1, threads), progress)
            else:
                logger.info("input stores of another layout: copying decoded patches")
                _copy_decoded(sources, output, progress)
        write_zarr_provenance(tmp, provenance)
    return patch_shape


def collect_patches(
    inputs: CollectPatchesInputs, outputs: CollectPatchesOutputs, threads: int = 1
) -> dict[str, Any]:
    """Concatenate per-FOV patch stores (in the given order) into one store and one index.

    Args:
        inputs: stores written by :func:`~dynaclr.patches.extract.extract_fov_patches` and their
            indices, same order.
        outputs: the collected store (kind ``patches``) and index (kind ``patch_index``).
        threads: shards copied at a time.

    Returns:
        ``n_patches``, ``n_fovs`` and the patch shape ``(C, Z, S, S)``.
    """
    if len(inputs.zarrs) != len(inputs.parquets) or not inputs.zarrs:
        raise ValueError(
            f"collect_patches needs one index per store; got {len(inputs.zarrs)} stores and "
            f"{len(inputs.parquets)} indices"
        )
    stores = [read_fov_store(z, p) for z, p in zip(inputs.zarrs, inputs.parquets, strict=True)]
    check_same_spec(stores)
    attributes = collected_attributes([s.attributes for s in stores], [str(s.zarr_path) for s in stores])
    index = collected_index([s.index for s in stores])
    spec = attributes["patch_spec"]
    recorded: list[Any] = [(store.zarr_path, store.provenance) for store in stores]
    provenance = make_provenance(ArtifactKind.PATCHES, spec, inputs=recorded)
    patch_shape = _write_collected_store(outputs.zarr, stores, attributes, provenance, threads)
    write_table(index, outputs.parquet, make_provenance(ArtifactKind.PATCH_INDEX, spec, inputs=recorded))
    logger.info("collected %d patches of shape %s from %d FOV store(s)", len(index), patch_shape, len(stores))
    return {"n_patches": len(index), "n_fovs": len(stores), "patch_shape_czyx": list(patch_shape)}
