"""Layout of patch stores: one zarr group holding an array ``patches`` ``(N, C, Z, Y, X)``.

Each patch is its own chunk ``(1, C, Z, Y, X)`` so a random batch reads exactly its patches;
chunks are grouped ``patches_per_shard`` at a time into shard files (Zarr v3 sharding) so a store
of a million patches is a few thousand files, not a million. Chunks are zstd-compressed at level 1:
on the demo plate this makes the store 3x smaller (border padding and float16 exponents compress
well) at about the read speed of uncompressed chunks (see ``benchmarks/patch_reads.py``).

The group's attributes hold (besides the provenance record) ``patch_spec`` (the spec as JSON),
``channel_names``, ``time_interval_minutes``, ``initial_patch_size_yx_px``,
``patch_size_yx_px``, ``z_slices`` ``[start, stop)`` and ``normalization``: per FOV, per channel,
the :class:`~dynaclr.patches.normalization.ChannelStatistics` used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr
from zarr.codecs import ZstdCodec

from dynaclr.io import ArtifactError, Provenance, read_table, read_zarr_provenance

#: Name of the patch array inside a patch store.
PATCH_ARRAY = "patches"

#: zstd level of patch chunks (1: fast to decode, nearly the ratio of higher levels).
PATCH_ZSTD_LEVEL = 1

#: Columns of a patch index (per FOV and collected); ``row`` is the patch's row in the store.
INDEX_COLUMNS: tuple[str, ...] = (
    "row",
    "fov_name",
    "well",
    "condition",
    "track_id",
    "parent_track_id",
    "lineage_id",
    "t",
    "y",
    "x",
    "border_fraction",
)


def create_patch_array(
    group: zarr.Group,
    n_patches: int,
    patch_shape_czyx: tuple[int, int, int, int],
    dtype: str,
    patches_per_shard: int,
) -> zarr.Array:
    """Create the ``patches`` array ``(n_patches, C, Z, Y, X)``: one chunk per patch, sharded."""
    shard_rows = max(1, min(patches_per_shard, n_patches))
    return group.create_array(
        PATCH_ARRAY,
        shape=(n_patches, *patch_shape_czyx),
        dtype=dtype,
        chunks=(1, *patch_shape_czyx),
        shards=(shard_rows, *patch_shape_czyx),
        compressors=[ZstdCodec(level=PATCH_ZSTD_LEVEL)],
        fill_value=0,
        dimension_names=["patch", "c", "z", "y", "x"],
    )


class ShardedRowWriter:
    """Buffer patches row by row and write whole shards, so memory holds one shard at most.

    ``append(patch)`` takes ``(C, Z, Y, X)``; ``close()`` writes the last (partial) shard and
    checks that exactly ``array.shape[0]`` rows were written.
    """

    def __init__(self, array: zarr.Array) -> None:
        self.array = array
        shards = array.shards or array.chunks
        self.rows_per_write = int(shards[0])
        self.buffer = np.zeros((self.rows_per_write, *array.shape[1:]), dtype=array.dtype)
        self.filled = 0
        self.written = 0

    def append(self, patch: np.ndarray) -> None:
        self.buffer[self.filled] = patch
        self.filled += 1
        if self.filled == self.rows_per_write:
            self.flush()

    def flush(self) -> None:
        if self.filled:
            self.array[self.written : self.written + self.filled] = self.buffer[: self.filled]
            self.written += self.filled
            self.filled = 0

    def close(self) -> None:
        self.flush()
        if self.written != self.array.shape[0]:
            raise RuntimeError(f"wrote {self.written} patches into an array of {self.array.shape[0]}")


@dataclass
class PatchStore:
    """An opened patch store: the lazily read array, its index and its metadata."""

    zarr_path: Path
    parquet_path: Path
    array: zarr.Array
    index: pd.DataFrame
    attributes: dict[str, Any]
    provenance: Provenance
    index_provenance: Provenance

    @property
    def channel_names(self) -> list[str]:
        return list(self.attributes["channel_names"])

    @property
    def time_interval_minutes(self) -> float:
        return float(self.attributes["time_interval_minutes"])

    @property
    def patch_size_yx_px(self) -> int:
        return int(self.attributes["patch_size_yx_px"])

    @property
    def spec_name(self) -> str:
        return str(self.attributes["patch_spec"]["name"])


def open_patch_store(zarr_path: str | Path, parquet_path: str | Path) -> PatchStore:
    """Open a collected patch store and its index, checking provenance and consistency."""
    zarr_path, parquet_path = Path(zarr_path), Path(parquet_path)
    provenance = read_zarr_provenance(zarr_path, "patches")
    index, index_provenance = read_table(parquet_path, "patch_index", required_columns=INDEX_COLUMNS)
    group = zarr.open_group(str(zarr_path), mode="r")
    if PATCH_ARRAY not in group:
        raise ArtifactError(
            f"{zarr_path}: no '{PATCH_ARRAY}' array; rerun `snakemake --forcerun collect_patches`"
        )
    array = group[PATCH_ARRAY]
    assert isinstance(array, zarr.Array)
    if array.shape[0] != len(index) or not np.array_equal(index["row"].to_numpy(), np.arange(len(index))):
        raise ArtifactError(
            f"{parquet_path}: index has {len(index)} rows numbered "
            f"{index['row'].min()}..{index['row'].max()}, but {zarr_path} holds {array.shape[0]} "
            "patches; rerun `snakemake --forcerun collect_patches`"
        )
    if index_provenance.config_hash != provenance.config_hash:
        raise ArtifactError(
            f"{parquet_path} (config hash {index_provenance.config_hash}) does not belong to {zarr_path} "
            f"(config hash {provenance.config_hash}); rerun `snakemake --forcerun collect_patches`"
        )
    return PatchStore(
        zarr_path=zarr_path,
        parquet_path=parquet_path,
        array=array,
        index=index,
        attributes=dict(group.attrs),
        provenance=provenance,
        index_provenance=index_provenance,
    )
