"""Baseline: hand-engineered features of each patch (model ``engineered_features``).

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

The raw values mix units (pixels, intensities, unitless texture), so the embeddings stage
(:func:`dynaclr.embeddings.embed_stage`) stores them z-scored over all cells in ``X``
(:func:`standardize_with_statistics`; population std, constant features → 0): no feature
dominates a cosine distance (temporal metrics, DTW) by its unit.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import zarr
from skimage.feature import graycomatrix
from skimage.filters import threshold_otsu
from tqdm import tqdm

from dynaclr.config.embeddings import (
    GLCM_PROPERTIES as GLCM_PROPERTIES,
    EngineeredFeaturesConfig,
    engineered_features_misfit,
    feature_names,
    ring_labels,
)
from dynaclr.io import ArtifactError
from dynaclr.numerics.crop import center_crop
from dynaclr.numerics.normalization import zscore_with

_GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


def _quantise(slices: np.ndarray, levels: int) -> np.ndarray:
    """Slices ``(S, Y, X)`` as ``uint8`` grey levels ``0 .. levels - 1`` between each slice's min and max."""
    low = slices.min(axis=(1, 2), keepdims=True)
    high = slices.max(axis=(1, 2), keepdims=True)
    flat = high <= low
    scaled = (slices - low) / np.where(flat, 1.0, high - low) * (levels - 1)
    quantised = np.clip(np.rint(scaled), 0, levels - 1).astype(np.uint8)
    quantised[np.broadcast_to(flat, quantised.shape)] = 0
    return quantised


def _glcm_properties(matrices: np.ndarray) -> np.ndarray:
    """:data:`GLCM_PROPERTIES` of normalised co-occurrence matrices ``(S, L, L, ...)`` → ``(S, ..., 4)``.

    The definitions of skimage's ``graycoprops``, for many matrices at once (correlation is 1 where
    a grey-level standard deviation is below 1e-15).
    """
    shape = (1, matrices.shape[1], 1) + (1,) * (matrices.ndim - 3)
    i = np.arange(matrices.shape[1], dtype=np.float64).reshape(shape)
    j = np.swapaxes(i, 1, 2)
    axes = (1, 2)
    contrast = (matrices * (i - j) ** 2).sum(axis=axes)
    homogeneity = (matrices / (1.0 + (i - j) ** 2)).sum(axis=axes)
    energy = np.sqrt((matrices**2).sum(axis=axes))
    diff_i = i - (matrices * i).sum(axis=axes, keepdims=True)
    diff_j = j - (matrices * j).sum(axis=axes, keepdims=True)
    std_i = np.sqrt((matrices * diff_i**2).sum(axis=axes))
    std_j = np.sqrt((matrices * diff_j**2).sum(axis=axes))
    covariance = (matrices * diff_i * diff_j).sum(axis=axes)
    degenerate = (std_i < 1e-15) | (std_j < 1e-15)
    correlation = np.where(degenerate, 1.0, covariance / np.where(degenerate, 1.0, std_i * std_j))
    return np.stack([contrast, homogeneity, energy, correlation], axis=-1)


def _texture(slices: np.ndarray, config: EngineeredFeaturesConfig) -> np.ndarray:
    """GLCM features ``(S, n_distances * 4)`` of slices ``(S, Y, X)``, averaged over the angles."""
    levels = config.texture_gray_levels
    matrices = np.stack(
        [
            graycomatrix(
                quantised,
                distances=list(config.texture_distances_px),
                angles=list(_GLCM_ANGLES),
                levels=levels,
                symmetric=True,
                normed=True,
            )
            for quantised in _quantise(slices, levels)
        ]
    )  # (S, levels, levels, n_distances, n_angles)
    by_distance = _glcm_properties(matrices).mean(axis=2)  # (S, n_distances, 4)
    return np.nan_to_num(by_distance, nan=0.0).reshape(len(slices), -1)


def _intensity_features(patches: np.ndarray, config: EngineeredFeaturesConfig) -> np.ndarray:
    """Otsu area of the central slice, mean, std and percentiles of the volume, per patch and
    channel: ``(B, C, 3 + n_percentiles)``. One patch at a time, which keeps the data in cache."""
    out = np.empty((*patches.shape[:2], 3 + len(config.intensity_percentiles)))
    for patch, row in zip(patches, out, strict=True):
        patch = np.asarray(patch, dtype=np.float64)
        volumes = patch.reshape(patch.shape[0], -1)
        for channel, central in enumerate(patch[:, patch.shape[1] // 2]):
            row[channel, 0] = (
                0.0 if np.ptp(central) == 0 else np.count_nonzero(central > threshold_otsu(central))
            )
        row[:, 1] = volumes.mean(axis=1)
        row[:, 2] = volumes.std(axis=1)
        row[:, 3:] = np.percentile(volumes, config.intensity_percentiles, axis=1).T
    return out


def _check_fits(
    config: EngineeredFeaturesConfig, height: int, width: int, measured: str, source: str | Path | None = None
) -> None:
    """Refuse rings or co-occurrence offsets that ``height x width`` px ``measured`` cannot hold: an
    :class:`~dynaclr.io.ArtifactError` naming ``source`` (the patch store) where given, else ValueError."""
    misfit = engineered_features_misfit(config, height, width, measured)
    if misfit and source is not None:
        raise ArtifactError(f"{source}: {misfit}")
    if misfit:
        raise ValueError(misfit)


def block_features(
    patches: np.ndarray, config: EngineeredFeaturesConfig, rings: np.ndarray | None = None
) -> np.ndarray:
    """Feature matrix ``(B, F)`` of patches ``(B, C, Z, Y, X)`` (columns of :func:`feature_names`).

    Every patch's row equals :func:`patch_features` of that patch; texture and rings are computed
    for the whole block at once. ``rings`` (:func:`~dynaclr.config.embeddings.ring_labels`) comes from
    :func:`engineered_features`, which checked the config against the patches; without it they are
    checked here.

    Raises:
        ValueError: a ring holds no pixel, or an offset exceeds the patches
            (:func:`~dynaclr.config.embeddings.engineered_features_misfit`).
    """
    patches = np.asarray(patches)
    if patches.ndim != 5:
        raise ValueError(f"patches must be (B, C, Z, Y, X), got shape {patches.shape}")
    n_patches, n_channels, depth, height, width = patches.shape
    if rings is None:
        _check_fits(config, height, width, "patches")
        rings = ring_labels(height, width, config.radial_rings)
    central = patches[:, :, depth // 2].astype(np.float64)  # (B, C, Y, X)
    ring_means = [
        central[:, :, rings == k].mean(axis=-1) if (rings == k).any() else np.zeros((n_patches, n_channels))
        for k in range(config.radial_rings)
    ]
    columns = [
        _intensity_features(patches, config),
        _texture(central.reshape(-1, height, width), config).reshape(n_patches, n_channels, -1),
        np.stack(ring_means, axis=-1),
    ]
    return np.concatenate(columns, axis=-1).reshape(n_patches, -1)


def patch_features(
    patch: np.ndarray, config: EngineeredFeaturesConfig, rings: np.ndarray | None = None
) -> np.ndarray:
    """Feature vector of one patch ``(C, Z, Y, X)`` (order of :func:`feature_names`)."""
    patch = np.asarray(patch, dtype=np.float64)
    if patch.ndim != 4:
        raise ValueError(f"patch must be (C, Z, Y, X), got shape {patch.shape}")
    return block_features(patch[None], config, rings)[0]


def standardize_with_statistics(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z-score every column over the rows (population std; constant columns become 0).

    Returns:
        ``(standardized, mean, std)``: the float64 matrix and the ``(F,)`` column mean and std used.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    mean = matrix.mean(axis=0)
    std = matrix.std(axis=0)
    return zscore_with(matrix, mean, std), mean, std


def engineered_features(
    patches: zarr.Array | np.ndarray,
    config: EngineeredFeaturesConfig,
    show_progress: bool = True,
    source: str | Path | None = None,
) -> np.ndarray:
    """Raw engineered features ``(N, F)`` of every patch ``(N, C, Z, Y, X)`` (columns of
    :func:`feature_names`), computed ``config.batch_size`` patches at a time after the optional
    centre crop ``config.crop_size_yx_px``.

    Raises:
        ValueError: rings or offsets the patches measured cannot hold
            (:func:`~dynaclr.config.embeddings.engineered_features_misfit`).
        ArtifactError: the same where ``source`` (the patch store's path) is given, naming it.
    """
    if len(patches.shape) != 5:
        raise ValueError(f"patches must be (N, C, Z, Y, X), got shape {tuple(patches.shape)}")
    crop = config.crop_size_yx_px
    height, width = crop if crop is not None else (int(patches.shape[3]), int(patches.shape[4]))
    _check_fits(config, height, width, "crop (crop_size_yx_px)" if crop is not None else "patches", source)
    rings = ring_labels(height, width, config.radial_rings)
    n_rows = int(patches.shape[0])
    rows: list[np.ndarray] = []
    batches = range(math.ceil(n_rows / config.batch_size))
    for batch in tqdm(
        batches, desc="engineered features", unit="batch", mininterval=2, disable=not show_progress
    ):
        lo, hi = batch * config.batch_size, min(n_rows, (batch + 1) * config.batch_size)
        block = np.asarray(patches[lo:hi], dtype=np.float32)
        rows.append(block_features(block if crop is None else center_crop(block, crop), config, rings))
    if not rows:
        return np.zeros((0, len(feature_names([f"ch{c}" for c in range(patches.shape[1])], config))))
    return np.concatenate(rows)
