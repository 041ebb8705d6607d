"""A patch store cut from a simulated plate at its *true* cell centroids (tests, demos, benchmarks).

It has the layout the patch stage writes (``(N, C, Z, Y, X)`` float32 zarr array + index table)
but skips tracking: every ground-truth cell observation becomes one patch, so downstream results
can be compared with the truth row by row (``track_id`` is the ground-truth track).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import zarr
from iohub.ngff import open_ome_zarr

from dynaclr.io import atomic_output, make_provenance, read_table, write_table

logger = logging.getLogger(__name__)

#: Columns of the patch index (the patch stage's contract).
PATCH_INDEX_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "track_id",
    "lineage_id",
    "parent_track_id",
    "t",
    "y",
    "x",
    "well",
    "condition",
    "border_fraction",
)


def _crop_with_padding(
    volume: np.ndarray, center_y: int, center_x: int, size: tuple[int, int]
) -> tuple[np.ndarray, float]:
    """Zero-padded crop of ``(C, Z, Y, X)`` around ``(center_y, center_x)``, and the padded share."""
    height, width = volume.shape[-2:]
    top, left = center_y - size[0] // 2, center_x - size[1] // 2
    out = np.zeros((*volume.shape[:2], *size), dtype=np.float32)
    y0, y1 = max(top, 0), min(top + size[0], height)
    x0, x1 = max(left, 0), min(left + size[1], width)
    if y1 > y0 and x1 > x0:
        out[..., y0 - top : y1 - top, x0 - left : x1 - left] = volume[..., y0:y1, x0:x1]
    inside = max(y1 - y0, 0) * max(x1 - x0, 0)
    return out, 1.0 - inside / (size[0] * size[1])


def ground_truth_patch_store(
    plate_path: str | Path,
    tracks_path: str | Path,
    array_path: str | Path,
    index_path: str | Path,
    patch_size_yx: tuple[int, int] = (32, 32),
    normalization_percentiles: tuple[float, float] = (1.0, 99.0),
) -> tuple[zarr.Array, pd.DataFrame]:
    """Cut one patch per ground-truth cell observation from a raw plate.

    Each channel of each FOV is normalised with its own percentiles over all frames
    (``(x - p_low) / (p_high - p_low)``, unitless) so that the brightfield's large offset does
    not dominate; patches falling off the image are zero-padded (``border_fraction`` says how much).

    Args:
        plate_path: raw HCS plate (``T, C, Z, Y, X``).
        tracks_path: ``ground_truth_tracks`` table.
        array_path: output zarr array ``(N, C, Z, Y, X)`` float32, chunks of one patch.
        index_path: output Parquet index (kind ``patch_index``), row ``i`` describing patch ``i``,
            sorted by ``fov_name, track_id, t``.
        patch_size_yx: patch size in pixels.
        normalization_percentiles: per-channel, per-FOV percentiles mapped to 0 and 1.

    Returns:
        The array (opened read-only) and the index.
    """
    tracks, tracks_prov = read_table(tracks_path, "ground_truth_tracks", PATCH_INDEX_COLUMNS[:-1])
    if tracks.empty:
        raise ValueError(f"{tracks_path}: no cell observations to cut patches from")
    tracks = tracks.sort_values(["fov_name", "track_id", "t"], ignore_index=True)
    rows: list[pd.DataFrame] = []
    with atomic_output(array_path) as tmp, open_ome_zarr(str(plate_path), layout="hcs", mode="r") as plate:
        array: zarr.Array | None = None
        start = 0
        for fov_name, fov_tracks in tracks.groupby("fov_name", sort=True):
            image = np.asarray(plate[str(fov_name)]["0"][:], dtype=np.float32)  # (T, C, Z, Y, X)
            low, high = np.percentile(image, normalization_percentiles, axis=(0, 2, 3, 4), keepdims=True)
            image = (image - low) / np.maximum(high - low, 1e-6)
            if array is None:
                shape = (len(tracks), image.shape[1], image.shape[2], *patch_size_yx)
                array = zarr.create_array(str(tmp), shape=shape, chunks=(1, *shape[1:]), dtype="float32")
            patches, borders = [], []
            for row in fov_tracks.itertuples(index=False):
                patch, border = _crop_with_padding(
                    image[int(row.t)], round(float(row.y)), round(float(row.x)), patch_size_yx
                )
                patches.append(patch)
                borders.append(border)
            array[start : start + len(patches)] = np.stack(patches)
            start += len(patches)
            rows.append(fov_tracks.assign(border_fraction=borders))
    index = pd.concat(rows, ignore_index=True)[list(PATCH_INDEX_COLUMNS)]
    write_table(
        index,
        index_path,
        make_provenance(
            "patch_index",
            {"source": "ground_truth", "patch_size_yx": list(patch_size_yx)},
            [(tracks_path, tracks_prov), plate_path],
        ),
    )
    logger.info("Cut %d ground-truth patches of %s px", len(index), patch_size_yx)
    return zarr.open_array(str(array_path), mode="r"), index
