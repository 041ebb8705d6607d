"""Baseline: hand-engineered features of each patch, in the embeddings layout.

Per channel ``c`` of a patch ``(C, Z, Y, X)`` (after the optional centre crop), with the central
slice ``S = patch[c, Z // 2]``:

* ``{c}_area_px``: pixels of ``S`` above Otsu's threshold of ``S`` (0 for a constant slice);
* ``{c}_mean``, ``{c}_std``, ``{c}_p{q}``: intensity statistics of the whole volume ``patch[c]``
  (the patch store's units, e.g. normalised intensity);
* ``{c}_glcm_{contrast,homogeneity,energy,correlation}_d{d}``: grey-level co-occurrence
  statistics of ``S`` quantised to ``texture_gray_levels`` levels between its own min and max
  (so texture does not depend on brightness), symmetric, normalised, averaged over the angles
  0, 45, 90, 135 degrees, at pixel offset ``d``;
* ``{c}_ring{k}``: mean intensity of ``S`` in ring ``k`` of ``radial_rings`` equal-width rings
  from the patch centre out to the inscribed radius ``min(Y, X) / 2``.

``X`` holds these raw values (mixed units: pixels, intensities, unitless texture), which the
classifier pipeline standardises itself; ``obsm['X_standardized']`` holds the same features
z-scored over all cells (constant features → 0), the matrix to use for cosine-distance analyses
(temporal metrics, DTW) so that no feature dominates by its unit. There is no projection head,
so ``obsm['X_projections']`` is absent.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from skimage.feature import graycomatrix, graycoprops
from skimage.filters import threshold_otsu
from tqdm import tqdm

from dynaclr.config.embeddings import EngineeredFeaturesConfig
from dynaclr.embeddings.inference import center_crop_numpy, open_patches
from dynaclr.embeddings.store import EMBEDDINGS_KIND, build_anndata, check_index, write_embeddings
from dynaclr.io import Provenance, make_provenance

logger = logging.getLogger(__name__)

GLCM_PROPERTIES: tuple[str, ...] = ("contrast", "homogeneity", "energy", "correlation")
_GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


def feature_names(channel_names: Sequence[str], config: EngineeredFeaturesConfig) -> list[str]:
    """Names of the features, in column order (module docstring)."""
    names: list[str] = []
    for channel in channel_names:
        names.append(f"{channel}_area_px")
        names += [f"{channel}_mean", f"{channel}_std"]
        names += [f"{channel}_p{q:g}" for q in config.intensity_percentiles]
        names += [
            f"{channel}_glcm_{prop}_d{d}" for d in config.texture_distances_px for prop in GLCM_PROPERTIES
        ]
        names += [f"{channel}_ring{k}" for k in range(config.radial_rings)]
    return names


def _ring_labels(height: int, width: int, n_rings: int) -> np.ndarray:
    """``(Y, X)`` ring index of each pixel (``-1`` outside the inscribed circle)."""
    y, x = np.mgrid[:height, :width]
    radius = np.hypot(y - (height - 1) / 2, x - (width - 1) / 2)
    edge = min(height, width) / 2
    ring = np.floor(radius / edge * n_rings).astype(np.int64)
    ring[radius >= edge] = -1
    return ring


def _texture(slice_yx: np.ndarray, config: EngineeredFeaturesConfig) -> list[float]:
    low, high = float(slice_yx.min()), float(slice_yx.max())
    levels = config.texture_gray_levels
    if high <= low:
        quantised = np.zeros(slice_yx.shape, dtype=np.uint8)
    else:
        scaled = (slice_yx - low) / (high - low) * (levels - 1)
        quantised = np.clip(np.rint(scaled), 0, levels - 1).astype(np.uint8)
    matrix = graycomatrix(
        quantised,
        distances=list(config.texture_distances_px),
        angles=list(_GLCM_ANGLES),
        levels=levels,
        symmetric=True,
        normed=True,
    )  # (levels, levels, n_distances, n_angles)
    by_property = {
        prop: np.nan_to_num(graycoprops(matrix, prop).mean(axis=1), nan=0.0) for prop in GLCM_PROPERTIES
    }
    return [
        float(by_property[prop][d])
        for d in range(len(config.texture_distances_px))
        for prop in GLCM_PROPERTIES
    ]


def patch_features(
    patch: np.ndarray, config: EngineeredFeaturesConfig, rings: np.ndarray | None = None
) -> np.ndarray:
    """Feature vector of one patch ``(C, Z, Y, X)`` (order of :func:`feature_names`)."""
    patch = np.asarray(patch, dtype=np.float64)
    if patch.ndim != 4:
        raise ValueError(f"patch must be (C, Z, Y, X), got shape {patch.shape}")
    if rings is None:
        rings = _ring_labels(patch.shape[-2], patch.shape[-1], config.radial_rings)
    values: list[float] = []
    for channel in patch:
        central = channel[channel.shape[0] // 2]
        area = 0.0 if np.ptp(central) == 0 else float(np.count_nonzero(central > threshold_otsu(central)))
        values.append(area)
        values += [float(channel.mean()), float(channel.std())]
        values += [float(v) for v in np.percentile(channel, config.intensity_percentiles)]
        values += _texture(central, config)
        for k in range(config.radial_rings):
            inside = rings == k
            values.append(float(central[inside].mean()) if inside.any() else 0.0)
    return np.asarray(values)


def standardize_columns(matrix: np.ndarray) -> np.ndarray:
    """z-score every column over the rows (population std); constant columns become 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    std = matrix.std(axis=0)
    return np.where(std > 0, (matrix - matrix.mean(axis=0)) / np.where(std > 0, std, 1.0), 0.0)


def engineered_features(
    patches_array: Any,
    index_df: pd.DataFrame,
    output_path: str | Path | None = None,
    channel_names: Sequence[str] | None = None,
    config: EngineeredFeaturesConfig | None = None,
    inputs: Sequence[tuple[str | Path, Provenance | None] | str | Path] = (),
    show_progress: bool = True,
) -> ad.AnnData:
    """Engineered features of every patch as an embeddings AnnData (model ``engineered_features``).

    Args:
        patches_array: ``(N, C, Z, Y, X)`` patches: zarr array, numpy array or path of a zarr array.
        index_df: ``N`` rows describing the patches (``fov_name, track_id, t`` required).
        output_path: if given, the AnnData is written there (kind ``embeddings``, atomically).
        channel_names: ``C`` names used in the feature names (default ``ch0, ch1, ...``).
        config: feature settings (default :class:`EngineeredFeaturesConfig`).
        inputs: recorded in the provenance.
        show_progress: tqdm progress bar over batches.

    Returns:
        AnnData with ``X`` ``(N, F)`` raw features, ``obsm['X_standardized']``, ``var_names`` the
        feature names, ``obs`` the index.
    """
    config = config or EngineeredFeaturesConfig()
    check_index(index_df, "index_df")
    patches = open_patches(patches_array)
    if len(patches.shape) != 5 or patches.shape[0] != len(index_df):
        raise ValueError(
            f"patches must be (N={len(index_df)}, C, Z, Y, X) to match the index, "
            f"got shape {tuple(patches.shape)}"
        )
    n_channels = int(patches.shape[1])
    names = list(channel_names) if channel_names is not None else [f"ch{c}" for c in range(n_channels)]
    if len(names) != n_channels:
        raise ValueError(f"{len(names)} channel names given for {n_channels} channels: {names}")
    crop = config.crop_size_yx_px
    height, width = crop if crop is not None else (int(patches.shape[3]), int(patches.shape[4]))
    rings = _ring_labels(height, width, config.radial_rings)
    n_rows = int(patches.shape[0])
    rows: list[np.ndarray] = []
    batches = range(math.ceil(n_rows / config.batch_size))
    for batch in tqdm(
        batches, desc="engineered features", unit="batch", mininterval=2, disable=not show_progress
    ):
        lo, hi = batch * config.batch_size, min(n_rows, (batch + 1) * config.batch_size)
        block = center_crop_numpy(np.asarray(patches[lo:hi], dtype=np.float32), crop)
        rows.extend(patch_features(patch, config, rings) for patch in block)
    features = np.stack(rows)
    adata = build_anndata(
        features,
        index_df,
        standardized=standardize_columns(features),
        info={"model": "engineered_features", "representation_note": "X = raw engineered features"},
    )
    adata.var_names = feature_names(names, config)
    if output_path is not None:
        provenance_config = {**config.model_dump(mode="json"), "channel_names": names}
        write_embeddings(
            adata, output_path, make_provenance(EMBEDDINGS_KIND, provenance_config, list(inputs))
        )
    return adata
