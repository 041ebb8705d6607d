"""Layout of patch stores: one zarr group holding an array ``patches`` ``(N, C, Z, Y, X)``.

Each patch is its own chunk ``(1, C, Z, Y, X)`` so a random batch reads exactly its patches;
chunks are grouped ``patches_per_shard`` at a time into shard files (Zarr v3 sharding) so a store
of a million patches is a few thousand files, not a million. Chunks are zstd-compressed at level 1:
on the demo plate this makes the store 3x smaller (border padding and float16 exponents compress
well) at about the read speed of uncompressed chunks (see ``benchmarks/patch_reads.py``).

Training reads random batches with :class:`PatchRowReader`, which reads this layout's shard files
directly (each needed chunk read and decoded once, shard indexes cached) instead of through zarr's
per-chunk machinery, which cost more than decoding the chunks (``benchmarks/training_loader.py``).

The group's attributes hold (besides the provenance record) ``patch_spec`` (the spec as JSON),
``channel_names``, ``time_interval_minutes``, ``initial_patch_size_yx_px``,
``patch_size_yx_px``, ``z_slices`` ``[start, stop)`` and ``normalization``: per FOV, per channel,
the :class:`~dynaclr.numerics.normalization.ChannelStatistics` used.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import pandas as pd
import zarr
from numcodecs.zstd import Zstd
from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec, ZstdCodec
from zarr.storage import LocalStore

from dynaclr.config.patches import channel_label
from dynaclr.io import ArtifactError, Provenance, read_table, read_zarr_provenance

#: Name of the patch array inside a patch store.
PATCH_ARRAY = "patches"

#: zstd level of patch chunks (1: fast to decode, nearly the ratio of higher levels).
PATCH_ZSTD_LEVEL = 1

#: Columns of a patch index (per FOV and collected); ``row`` is the patch's row in the store.
#: ``condition``: the well's condition (the dataset's config, else the tracks table; missing when
#: neither names one); ``t`` frames; ``time_minutes`` = ``t`` x the plate's frame interval (NaN when
#: the plate records none); ``y``, ``x`` pixels.
INDEX_COLUMNS: tuple[str, ...] = (
    "row",
    "fov_name",
    "well",
    "condition",
    "track_id",
    "parent_track_id",
    "lineage_id",
    "t",
    "time_minutes",
    "y",
    "x",
    "padded_fraction",
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

    def extend(self, patches: np.ndarray) -> None:
        """Append ``patches`` ``(n, C, Z, Y, X)``, copied into the buffer a shard's share at a time."""
        start = 0
        while start < len(patches):
            take = min(len(patches) - start, self.rows_per_write - self.filled)
            self.buffer[self.filled : self.filled + take] = patches[start : start + take]
            self.filled += take
            start += take
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


#: Shard-index entry ``(offset, nbytes)`` of a chunk that is not stored (all fill value).
_ABSENT = np.uint64(2**64 - 1)


def _little_endian(codec: object) -> bool:
    return isinstance(codec, BytesCodec) and str(getattr(codec.endian, "value", codec.endian)) == "little"


def _is_written_layout(array: zarr.Array) -> bool:
    """Whether ``array`` has exactly the layout :func:`create_patch_array` writes, in a local store."""
    codecs = array.metadata.codecs if array.metadata.zarr_format == 3 else ()
    if sys.byteorder != "little" or not isinstance(array.store, LocalStore) or len(codecs) != 1:
        return False
    sharding = codecs[0]
    return (
        isinstance(sharding, ShardingCodec)
        and array.shards is not None
        and tuple(array.shards[1:]) == tuple(array.shape[1:])
        and tuple(sharding.chunk_shape) == (1, *array.shape[1:])
        and str(getattr(sharding.index_location, "value", sharding.index_location)) == "end"
        and len(sharding.codecs) == 2
        and _little_endian(sharding.codecs[0])
        and isinstance(sharding.codecs[1], ZstdCodec)
        and len(sharding.index_codecs) == 2
        and _little_endian(sharding.index_codecs[0])
        and isinstance(sharding.index_codecs[1], Crc32cCodec)
    )


class PatchRowReader:
    """Read rows (whole patches) of a patch store's ``patches`` array, in any order.

    For the layout :func:`create_patch_array` writes, in a local directory, shard files are read
    directly (Zarr v3 sharding format): a shard's index (``(offset, nbytes)`` per chunk, then its
    crc32c) is read and checked once per reader and cached; each requested chunk is read with one
    ``pread`` and zstd-decoded once. Any other layout or store is read with zarr's orthogonal
    selection. Open one reader per process (it holds no open files between reads).
    """

    def __init__(self, zarr_path: str | Path) -> None:
        array = zarr.open_group(str(zarr_path), mode="r")[PATCH_ARRAY]
        assert isinstance(array, zarr.Array)
        self.array = array
        self.direct = _is_written_layout(array)
        self._shard_rows = int(array.shards[0]) if self.direct and array.shards else 0
        self._chunk_nbytes = int(np.prod(array.shape[1:])) * array.dtype.itemsize
        self._indexes: dict[int, np.ndarray] = {}
        self._zstd = Zstd()

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Patches of distinct ``rows`` ``(n,)`` (any order) as ``(n, C, Z, Y, X)``, the stored dtype."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not self.direct:
            return np.asarray(self.array.get_orthogonal_selection((rows,)))
        if rows.size and (rows.min() < 0 or rows.max() >= self.array.shape[0]):
            raise IndexError(f"rows must be in [0, {self.array.shape[0]}), got {rows.min()}..{rows.max()}")
        out = np.empty((len(rows), *self.array.shape[1:]), dtype=self.array.dtype)
        shards = rows // self._shard_rows
        order = np.lexsort((rows, shards))  # by shard, then by row (file order)
        starts = np.flatnonzero(np.diff(shards[order])) + 1  # where the next shard begins
        for members in np.split(order, starts) if rows.size else []:
            self._read_shard(int(shards[members[0]]), rows, members, out)
        return out

    def _read_shard(self, shard: int, rows: np.ndarray, members: np.ndarray, out: np.ndarray) -> None:
        """Decode ``rows[members]`` (all in ``shard``) into ``out[members]``."""
        path = _shard_path(self.array, shard)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # zarr writes no file for a shard of absent chunks
            out[members] = self.array.metadata.fill_value
            return
        try:
            index = self._index(shard, fd, path)
            for position in members:
                offset, nbytes = index[rows[position] - shard * self._shard_rows]
                if offset == _ABSENT:
                    out[position] = self.array.metadata.fill_value
                    continue
                decoded = self._zstd.decode(os.pread(fd, int(nbytes), int(offset)))
                if len(decoded) != self._chunk_nbytes:
                    raise ArtifactError(
                        f"{path}: chunk of row {rows[position]} decodes to {len(decoded)} bytes"
                    )
                out[position] = np.frombuffer(decoded, dtype=out.dtype).reshape(out.shape[1:])
        finally:
            os.close(fd)

    def _index(self, shard: int, fd: int, path: Path) -> np.ndarray:
        """The shard's ``(rows per shard, 2)`` ``(offset, nbytes)`` table, read and checked once."""
        index = self._indexes.get(shard)
        if index is None:
            index = _read_shard_index(fd, path, self._shard_rows)
            self._indexes[shard] = index
        return index


def _shard_path(array: zarr.Array, shard: int) -> Path:
    """File of shard ``shard`` (along rows) of a patch array in a local store."""
    key = array.metadata.encode_chunk_key((shard,) + (0,) * (array.ndim - 1))
    return Path(array.store.root) / array.path / key  # type: ignore[attr-defined]


def _read_shard_index(fd: int, path: Path, shard_rows: int) -> np.ndarray:
    """The ``(shard_rows, 2)`` ``(offset, nbytes)`` table at the end of an open shard file, checked
    against its crc32c and the file's size."""
    n_bytes = 16 * shard_rows + 4
    size = os.fstat(fd).st_size
    raw = os.pread(fd, n_bytes, size - n_bytes) if size >= n_bytes else b""
    table, checksum = raw[:-4], raw[-4:]
    if len(raw) != n_bytes or google_crc32c.value(table).to_bytes(4, "little") != checksum:
        raise ArtifactError(f"{path}: shard index is truncated or corrupt")
    index = np.frombuffer(table, dtype="<u8").reshape(shard_rows, 2)
    stored = index[index[:, 0] != _ABSENT]
    if (stored.sum(axis=1) > size - n_bytes).any():
        raise ArtifactError(f"{path}: shard index points past the end of the file")
    return index


def can_copy_encoded(source: zarr.Array, destination: zarr.Array) -> bool:
    """Whether ``source``'s stored chunks can be copied into ``destination`` as bytes.

    True when both have the layout :func:`create_patch_array` writes, in local stores, with the
    same patch shape, dtype, fill value and chunk codecs: a chunk encoded for one then decodes,
    and encodes again, to the same bytes in the other.
    """
    if not (_is_written_layout(source) and _is_written_layout(destination)):
        return False
    return (
        source.shape[1:] == destination.shape[1:]
        and source.dtype == destination.dtype
        and source.metadata.fill_value == destination.metadata.fill_value
        and source.metadata.codecs[0].codecs == destination.metadata.codecs[0].codecs  # type: ignore[union-attr]
    )


def read_encoded_rows(array: zarr.Array, start: int, stop: int) -> list[bytes | None]:
    """The stored (zstd-encoded) chunks of rows ``[start, stop)`` of a patch array of the layout
    :func:`create_patch_array` writes, in row order; ``None`` for a row stored as absent (all fill value).

    Each shard's index is read and checked once; its chunks are read with one ``pread`` of the span
    they occupy.
    """
    shard_rows = int(array.shards[0])  # type: ignore[index]
    chunks: list[bytes | None] = []
    for shard in range(start // shard_rows, (stop - 1) // shard_rows + 1 if stop > start else 0):
        first, last = max(start, shard * shard_rows), min(stop, (shard + 1) * shard_rows)
        path = _shard_path(array, shard)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # zarr writes no file for a shard of absent chunks
            chunks.extend([None] * (last - first))
            continue
        try:
            shard_start = shard * shard_rows
            entries = _read_shard_index(fd, path, shard_rows)[first - shard_start : last - shard_start]
            present = entries[:, 0] != _ABSENT
            if not present.any():
                chunks.extend([None] * len(entries))
                continue
            span_start = int(entries[present, 0].min())
            span_stop = int((entries[present, 0] + entries[present, 1]).max())
            span = os.pread(fd, span_stop - span_start, span_start)
        finally:
            os.close(fd)
        for (offset, nbytes), is_present in zip(entries.tolist(), present.tolist(), strict=True):
            chunks.append(span[offset - span_start : offset - span_start + nbytes] if is_present else None)
    return chunks


def write_encoded_shard(array: zarr.Array, shard: int, chunks: list[bytes | None]) -> None:
    """Write shard ``shard`` of a patch array of the layout :func:`create_patch_array` writes, from
    its rows' encoded chunks (``None``: absent), as zarr's sharding codec lays it out: the present
    chunks one after the other, then the index ``(offset, nbytes)`` per row (absent rows and rows
    past the array's end ``2**64 - 1``) and its crc32c. No file when every chunk is absent.
    """
    shard_rows = int(array.shards[0])  # type: ignore[index]
    if len(chunks) > shard_rows:
        raise ValueError(f"shard {shard} holds {shard_rows} rows, got {len(chunks)} chunks")
    index = np.full((shard_rows, 2), _ABSENT, dtype="<u8")
    offset = 0
    for row, chunk in enumerate(chunks):
        if chunk is not None:
            index[row] = (offset, len(chunk))
            offset += len(chunk)
    if offset == 0:
        return
    table = index.tobytes()
    path = _shard_path(array, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        file.write(b"".join([chunk for chunk in chunks if chunk is not None]))
        file.write(table + google_crc32c.value(table).to_bytes(4, "little"))


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
    def pixel_size_um(self) -> float | None:
        """Pixel size (µm) of patches resampled by a spec's ``pixel_size_um`` (the ``resampling``
        attribute); ``None``: cut at the plate's own pixels (whose size the plate states)."""
        resampling = self.attributes.get("resampling")  # absent from stores written before it
        return None if resampling is None else float(resampling["pixel_size_um"])

    @property
    def spec_name(self) -> str:
        return str(self.attributes["patch_spec"]["name"])

    @property
    def input_channels(self) -> list[str]:
        """The patch channels as a model records its input, in order
        (:func:`~dynaclr.config.patches.channel_label`: ``source:name (normalization)``)."""
        return [channel_label(channel) for channel in self.attributes["patch_spec"]["channels"]]

    def model_input(self, channel_indices: list[int] | None = None) -> dict[str, Any]:
        """What a network reading these patches sees, as the embeddings record it (``input``): the
        channels it reads (``channel_indices``, a pretrained backbone's selection; ``None``: all), in
        order with their normalisation, and whether each time point is normalised with its own
        statistics. The same weights fed another input give features that mean something else: a
        classifier fitted on one input's features is not applied to another's. A selection also
        records ``channel_indices``, each channel's index in the patch spec's ``channels`` (the key a
        refusal names, :func:`~dynaclr.classify.model.input_differences`)."""
        channels = self.input_channels
        record: dict[str, Any] = {
            "channels": channels if channel_indices is None else [channels[i] for i in channel_indices],
            "normalize_per_time_point": bool(self.attributes["patch_spec"]["normalize_per_time_point"]),
        }
        if channel_indices is not None:
            record["channel_indices"] = [int(i) for i in channel_indices]
        return record

    def require_patches(self, what: str) -> None:
        """Fail naming the store unless it holds a patch: ``what`` (e.g. "a batch to train on") needs one.

        A store without patches comes from a dataset in which no cell was tracked in any FOV (each
        FOV's patch record and the dataset's ``qc.csv`` say ``empty``)."""
        if self.array.shape[0] == 0:
            raise ValueError(
                f"{self.zarr_path}: the patch store holds no patches (no cell was tracked in any FOV: "
                f"qc.csv lists them as empty); expected at least one patch for {what}; check the "
                "tracking input (channel, segmentation) or the tracks table, or leave the dataset out"
            )


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
