"""Cut single-cell patches ``(C, Z, Y, X)`` around every tracked cell of one FOV (rule ``extract_patches``).

Two streaming passes over the FOV's time points: the first computes the normalisation statistics
(:mod:`dynaclr.patches.normalization`), the second normalises each frame, cuts a patch of
``initial_size x initial_size`` pixels centred on every cell's centroid (rounded to the nearest
pixel) and appends it to the store; whole shards are written as they fill, so memory holds one
frame plus one shard whatever the number of cells.

Cells near the image border are kept: the part of the crop outside the image is padded with 0
(in normalised units, i.e. the FOV's centre intensity) and the index records ``border_fraction``,
the fraction of the crop's area that is real image (1 for interior cells).

Bad input fails naming the file: a channel missing from the plate, a Z range outside the stack,
tracks outside the plate's frames, a FOV absent from a non-empty tracks table. An *empty* tracks
table (no cell tracked anywhere) is a documented skip: a warning is logged and the FOV's store and
index are written with 0 patches (schema-valid, so ``collect_patches`` and ``open_patch_store``
accept them); training then refuses a store without patches.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr
from iohub.ngff import open_ome_zarr
from tqdm.auto import tqdm

from dynaclr.config.patches import PatchSpec
from dynaclr.io import (
    ArtifactError,
    Provenance,
    atomic_output,
    make_provenance,
    write_table,
    write_zarr_provenance,
)
from dynaclr.io.plate import write_fov_record
from dynaclr.patches.inputs import as_int_centres, fov_tracks, read_plate_provenance, read_tracks
from dynaclr.patches.normalization import ChannelStatistics, fov_statistics
from dynaclr.patches.store import INDEX_COLUMNS, ShardedRowWriter, create_patch_array

logger = logging.getLogger(__name__)


@dataclass
class _ChannelReader:
    """One patch channel's image array ``(T, C, Z, Y, X)`` in its source plate."""

    name: str
    plate_path: Path
    image: Any  # iohub ImageArray (a zarr array)
    channel_index: int

    def read(self, t: int, z: slice) -> np.ndarray:
        """``(Z, Y, X)`` float32 volume of the kept slices at frame ``t``."""
        return np.asarray(self.image[t, self.channel_index, z], dtype=np.float32)


def _open_channels(
    sources: Mapping[str, str | Path], spec: PatchSpec, fov_name: str, stack: ExitStack
) -> tuple[list[_ChannelReader], list[tuple[Path, Provenance | None]], float | None]:
    readers: list[_ChannelReader] = []
    inputs: list[tuple[Path, Provenance | None]] = []
    time_interval_minutes: float | None = None
    opened: dict[str, Any] = {}
    for channel in spec.channels:
        if channel.source not in sources:
            raise ValueError(
                f"patch spec {spec.name!r}: channel {channel.channel!r} reads source {channel.source!r}, but "
                f"only sources {sorted(sources)} were given; map {channel.source!r} to a plate path"
            )
        path = Path(sources[channel.source])
        if channel.source not in opened:
            provenance = read_plate_provenance(path, channel.source)
            inputs.append((path, provenance))
            plate = stack.enter_context(open_ome_zarr(path, layout="hcs", mode="r"))
            try:
                opened[channel.source] = plate[fov_name]
            except KeyError as err:
                raise ArtifactError(f"{path}: plate has no position {fov_name!r}") from err
            if time_interval_minutes is None:
                interval = plate.zattrs.get("time_interval_minutes")
                if interval is None:
                    interval = float(opened[channel.source].scale[0]) / 60.0
                time_interval_minutes = float(interval)
        position = opened[channel.source]
        if channel.channel not in position.channel_names:
            raise ArtifactError(
                f"{path}: position {fov_name} has no channel {channel.channel!r} (patch spec {spec.name!r}); "
                f"channels are {list(position.channel_names)}"
            )
        readers.append(
            _ChannelReader(
                name=f"{channel.source}:{channel.channel}",
                plate_path=path,
                image=position["0"],
                channel_index=position.get_channel_index(channel.channel),
            )
        )
    shapes = {(r.plate_path, tuple(r.image.shape[i] for i in (0, 2, 3, 4))) for r in readers}
    if len({shape for _, shape in shapes}) > 1:
        found = ", ".join(f"{path}: (T, Z, Y, X)={shape}" for path, shape in sorted(shapes, key=str))
        raise ArtifactError(
            f"FOV {fov_name}: source plates differ in shape, expected equal shapes; found {found}"
        )
    return readers, inputs, time_interval_minutes


def _crop(frame: np.ndarray, center_y: int, center_x: int, size: int, out: np.ndarray) -> float:
    """Copy the ``size x size`` window of ``frame`` ``(C, Z, Y, X)`` centred on a pixel into ``out``.

    ``out`` ``(C, Z, size, size)`` is zero outside the image. Returns the fraction of the window
    inside the image.
    """
    height, width = frame.shape[-2:]
    top, left = center_y - size // 2, center_x - size // 2
    src_y0, src_y1 = max(top, 0), min(top + size, height)
    src_x0, src_x1 = max(left, 0), min(left + size, width)
    out.fill(0)
    if src_y1 <= src_y0 or src_x1 <= src_x0:
        return 0.0
    out[..., src_y0 - top : src_y1 - top, src_x0 - left : src_x1 - left] = frame[
        ..., src_y0:src_y1, src_x0:src_x1
    ]
    return (src_y1 - src_y0) * (src_x1 - src_x0) / float(size * size)


def _normalised_frame(
    readers: list[_ChannelReader], statistics: list[ChannelStatistics], t: int, z: slice
) -> np.ndarray:
    """``(C, Z, Y, X)`` float32 frame, every channel ``(x - center) / scale``."""
    planes = []
    for reader, stats in zip(readers, statistics, strict=True):
        center, scale = stats.center_scale(t)
        planes.append((reader.read(t, z) - np.float32(center)) / np.float32(scale))
    return np.stack(planes)


def extract_fov_patches(
    sources: Mapping[str, str | Path],
    tracks_path: str | Path,
    fov_name: str,
    spec: PatchSpec,
    output_zarr: str | Path,
    output_parquet: str | Path,
    record_path: str | Path,
) -> dict[str, Any]:
    """Cut a patch around every cell of ``fov_name`` at every time point it is tracked.

    Args:
        sources: plate path per source named in ``spec`` (``"raw"``, ``"phase"``, ``"virtual_stain"``).
        tracks_path: Parquet table with ``fov_name, track_id, parent_track_id, t, y, x`` (pixels,
            frames); ``lineage_id``, ``well``, ``condition`` are optional.
        fov_name: ``row/column/fov``.
        spec: the patch spec.
        output_zarr: per-FOV store, array ``patches`` ``(N, C, Z, S, S)`` with ``S`` the initial
            patch size, rows ordered by ``(t, track_id)``; statistics in its attributes.
        output_parquet: per-FOV index (:data:`~dynaclr.patches.store.INDEX_COLUMNS`).
        record_path: per-FOV completion record (kind ``patch_fov``) with the metrics returned.

    Returns:
        Metrics: ``n_patches``, ``n_border_patches``, ``seconds``, ``empty_frames`` per channel.
    """
    started = time.perf_counter()
    tracks, tracks_provenance = read_tracks(tracks_path, fov_name)
    cells = fov_tracks(tracks, fov_name, tracks_path)
    size = spec.initial_size_px
    config = spec.model_dump(mode="json")
    with ExitStack() as stack:
        readers, inputs, time_interval_minutes = _open_channels(sources, spec, fov_name, stack)
        n_frames, _, n_slices, height, width = readers[0].image.shape
        try:
            z = spec.z_slices(n_slices)
        except ValueError as err:
            raise ValueError(
                f"{readers[0].plate_path}: position {fov_name} has a stack of {n_slices} Z slices (found), "
                f"which the patch spec does not fit: {err}"
            ) from err
        if len(cells) and (int(cells["t"].max()) >= n_frames or int(cells["t"].min()) < 0):
            raise ArtifactError(
                f"{tracks_path}: FOV {fov_name} has tracks at frames {cells['t'].min()}..{cells['t'].max()}, "
                f"but {readers[0].plate_path} has frames 0..{n_frames - 1}"
            )
        statistics = fov_statistics(
            lambda channel, t: readers[channel].read(t, z),
            n_frames,
            [(r.name, c.normalization) for r, c in zip(readers, spec.channels, strict=True)],
            spec.normalize_per_time_point,
            where=f"FOV {fov_name}",
        )
        centers_y, centers_x = as_int_centres(cells["y"]), as_int_centres(cells["x"])
        border_fraction = np.ones(len(cells))
        patch_shape = (len(readers), z.stop - z.start, size, size)
        attributes = {
            "fov_name": fov_name,
            "patch_spec": config,
            "channel_names": [r.name for r in readers],
            "time_interval_minutes": time_interval_minutes,
            "initial_patch_size_yx_px": size,
            "patch_size_yx_px": spec.patch_size_yx_px,
            "z_slices": [z.start, z.stop],
            "image_shape_yx": [height, width],
            "normalization": {fov_name: {s.channel: s.to_json() for s in statistics}},
        }
        provenance = make_provenance(
            "patch_fov", config, inputs=[*inputs, (Path(tracks_path), tracks_provenance)]
        )
        patch = np.zeros(patch_shape, dtype=np.float32)
        rows_at = cells.groupby("t", sort=True).indices
        with atomic_output(output_zarr) as tmp:
            group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
            group.attrs.update(json.loads(json.dumps(attributes)))
            writer = ShardedRowWriter(
                create_patch_array(group, len(cells), patch_shape, spec.storage_dtype, spec.patches_per_shard)
            )
            for t in tqdm(sorted(rows_at), desc=f"patches {fov_name}", unit="frame", mininterval=2.0):
                frame = _normalised_frame(readers, statistics, int(t), z)  # (C, Z, Y, X)
                for row in rows_at[t]:
                    border_fraction[row] = _crop(frame, int(centers_y[row]), int(centers_x[row]), size, patch)
                    writer.append(patch)
            writer.close()
            write_zarr_provenance(tmp, provenance)
    index = cells.assign(row=np.arange(len(cells), dtype=np.int64), border_fraction=border_fraction)
    write_table(index[list(INDEX_COLUMNS)], output_parquet, provenance)
    metrics = {
        "n_patches": len(cells),
        "n_border_patches": int((border_fraction < 1.0).sum()),
        "seconds": time.perf_counter() - started,
        "empty_frames": {s.channel: s.empty_frames for s in statistics},
    }
    write_fov_record(record_path, provenance, metrics)
    logger.info(
        "FOV %s: %d patches (%d at the border) of %s in %.1f s",
        fov_name,
        metrics["n_patches"],
        metrics["n_border_patches"],
        patch_shape,
        metrics["seconds"],
    )
    return metrics


def read_fov_patch_index(path: str | Path) -> tuple[pd.DataFrame, Provenance]:
    """Read a per-FOV patch index (kind ``patch_fov``)."""
    from dynaclr.io import read_table

    return read_table(path, "patch_fov", required_columns=INDEX_COLUMNS)
