"""Engineered per-cell features that the principal components of embeddings are read against
(paper Fig. 3d, 5b, appendix F).

Rule ``cell_features`` measures them on the network input: the central ``patch_size_yx_px`` square
of each stored patch (the stored window is wider, for training's rotations and zooms; its margin
holds pixels, often neighbouring cells, that no model sees: measured there, they would move Otsu's
threshold, hence the central cell's mask, and every intensity and texture feature).

Per channel ``c`` of a patch ``(C, Z, Y, X)`` (so cropped), on its central slice ``S = patch[c, Z // 2]``:

* the central cell's mask: the connected component of ``S > otsu(S)`` that holds the patch centre
  (else the component whose centroid is nearest to it; empty for a constant slice), and its
  ``{c}_area_px`` (pixels), ``{c}_perimeter_to_area_per_px`` (scikit-image's perimeter over the
  area, 1/pixels: ``2 / r`` for a disc of radius ``r``) and ``{c}_eccentricity`` (of the ellipse
  with the mask's second moments: 0 for a disc); NaN where the mask is empty;
* ``{c}_mean`` and ``{c}_iqr``: mean and interquartile range (75th - 25th percentile) of ``S``,
  in the patch store's units;
* ``{c}_entropy_bits``: Shannon entropy of ``S`` quantised to ``texture_gray_levels`` levels
  between its own min and max;
* ``{c}_radial_slope``: least-squares slope of the ring means of ``S`` (``radial_rings`` rings
  from the centre out to the inscribed radius) against the ring's centre radius as a fraction of
  the inscribed radius: negative when the centre is brighter than the rim;
* ``{c}_glcm_contrast`` and ``{c}_glcm_homogeneity``: grey-level co-occurrence statistics at
  offset 1 pixel, averaged over 4 angles, as the engineered-features baseline computes them.

Segmentation, entropy and radial slope are measured here; quantisation, rings and GLCM are the
baseline's (:mod:`dynaclr.baselines.engineered`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import zarr
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.measure import regionprops
from tqdm import tqdm

from dynaclr.baselines.engineered import _quantise, _texture
from dynaclr.config.analysis import InterpretationConfig
from dynaclr.config.embeddings import EngineeredFeaturesConfig, ring_labels
from dynaclr.numerics.crop import center_crop

#: Key columns of the cell-features table (the patch index's cell identity).
KEY_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t")
#: Features per channel, in column order.
CHANNEL_FEATURES: tuple[str, ...] = (
    "area_px",
    "perimeter_to_area_per_px",
    "eccentricity",
    "mean",
    "iqr",
    "entropy_bits",
    "radial_slope",
    "glcm_contrast",
    "glcm_homogeneity",
)


def cell_feature_names(channel_names: Sequence[str]) -> list[str]:
    """Column names ``{channel}_{feature}`` in column order (module docstring)."""
    return [f"{channel}_{feature}" for channel in channel_names for feature in CHANNEL_FEATURES]


def central_cell_mask(image: np.ndarray) -> np.ndarray:
    """Boolean ``(Y, X)`` mask of the central cell of ``image`` (module docstring); all False for a
    constant image or when nothing lies above Otsu's threshold."""
    image = np.asarray(image, dtype=np.float64)
    if np.ptp(image) == 0:
        return np.zeros(image.shape, dtype=bool)
    labels, n_labels = ndimage.label(image > threshold_otsu(image))
    if n_labels == 0:
        return np.zeros(image.shape, dtype=bool)
    centre = ((image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2)
    at_centre = labels[round(centre[0]), round(centre[1])]
    if at_centre == 0:
        centroids = np.asarray(ndimage.center_of_mass(np.ones_like(image), labels, range(1, n_labels + 1)))
        at_centre = 1 + int(np.argmin(np.hypot(centroids[:, 0] - centre[0], centroids[:, 1] - centre[1])))
    return labels == at_centre


def _shape_features(image: np.ndarray) -> tuple[float, float, float]:
    """``(area_px, perimeter_to_area_per_px, eccentricity)`` of the central cell of ``image``."""
    mask = central_cell_mask(image)
    if not mask.any():
        return 0.0, math.nan, math.nan
    (region,) = regionprops(mask.astype(np.uint8))
    area = float(region.area)
    return area, float(region.perimeter) / area, float(region.eccentricity)


def _entropy_bits(quantised: np.ndarray, levels: int) -> np.ndarray:
    """Shannon entropy (bits) of each quantised slice ``(S, Y, X)`` → ``(S,)``."""
    counts = np.stack([np.bincount(q.ravel(), minlength=levels) for q in quantised]).astype(np.float64)
    probabilities = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probabilities > 0, probabilities * np.log2(probabilities), 0.0)
    return -terms.sum(axis=1)


def _radial_slope(slices: np.ndarray, rings: np.ndarray, n_rings: int) -> np.ndarray:
    """Slope of ring mean vs ring-centre radius (fraction of the inscribed radius), ``(S,)``."""
    present = [k for k in range(n_rings) if (rings == k).any()]
    if len(present) < 2:
        return np.zeros(len(slices))
    means = np.stack([slices[:, rings == k].mean(axis=-1) for k in present], axis=-1)  # (S, K)
    radius = (np.asarray(present, dtype=np.float64) + 0.5) / n_rings
    centred = radius - radius.mean()
    return (means - means.mean(axis=1, keepdims=True)) @ centred / (centred**2).sum()


def block_cell_features(patches: np.ndarray, config: InterpretationConfig) -> np.ndarray:
    """Features ``(B, C * 9)`` of patches ``(B, C, Z, Y, X)``, columns of :func:`cell_feature_names`."""
    patches = np.asarray(patches)
    if patches.ndim != 5:
        raise ValueError(f"patches must be (B, C, Z, Y, X), got shape {patches.shape}")
    n_patches, n_channels, depth, height, width = patches.shape
    slices = patches[:, :, depth // 2].astype(np.float64).reshape(-1, height, width)  # (B * C, Y, X)
    shape = np.array([_shape_features(image) for image in slices]).reshape(-1, 3)
    texture_config = EngineeredFeaturesConfig(
        texture_gray_levels=config.texture_gray_levels, texture_distances_px=(1,)
    )
    texture = _texture(slices, texture_config)[:, :2]  # contrast, homogeneity
    rings = ring_labels(height, width, config.radial_rings)
    columns = np.column_stack(
        [
            shape,
            slices.mean(axis=(1, 2)),
            np.subtract(*np.percentile(slices.reshape(len(slices), -1), [75, 25], axis=1)),
            _entropy_bits(_quantise(slices, config.texture_gray_levels), config.texture_gray_levels),
            _radial_slope(slices, rings, config.radial_rings),
            texture,
        ]
    )  # (B * C, 9)
    return columns.reshape(n_patches, n_channels * len(CHANNEL_FEATURES))


def cell_features(
    patches: zarr.Array | np.ndarray,
    index: pd.DataFrame,
    channel_names: Sequence[str],
    config: InterpretationConfig,
    show_progress: bool = True,
    crop_yx: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The feature table of every patch ``(N, C, Z, Y, X)`` of a store, ``config.batch_size``
    patches read at a time (the store is never held in memory whole).

    Args:
        patches: the patch array, row-aligned with ``index``.
        index: the patch index (``fov_name, track_id, t`` at least).
        channel_names: the ``C`` channel names, prefixes of the feature columns.
        crop_yx: measure on the central ``(h, w)`` of each patch (rule ``cell_features``: the store's
            ``patch_size_yx_px``, the network input); None: the whole patch.

    Returns:
        ``fov_name, track_id, t`` and the columns of :func:`cell_feature_names`, one row per patch.
    """
    if len(patches.shape) != 5 or patches.shape[1] != len(channel_names):
        raise ValueError(
            f"patches must be (N, C, Z, Y, X) with C = {len(channel_names)} channels "
            f"({list(channel_names)}), got shape {tuple(patches.shape)}"
        )
    if len(index) != patches.shape[0]:
        raise ValueError(f"index has {len(index)} rows for {patches.shape[0]} patches")
    if crop_yx is not None and not (
        0 < crop_yx[0] <= patches.shape[3] and 0 < crop_yx[1] <= patches.shape[4]
    ):
        raise ValueError(
            f"crop_yx: expected a crop within the patches' (Y, X) = {tuple(patches.shape[3:])}, "
            f"found {crop_yx}"
        )
    n_rows = int(patches.shape[0])
    rows = [np.zeros((0, len(channel_names) * len(CHANNEL_FEATURES)))]
    for batch in tqdm(
        range(math.ceil(n_rows / config.batch_size)),
        desc="cell features",
        unit="batch",
        mininterval=2,
        disable=not show_progress,
    ):
        lo, hi = batch * config.batch_size, min(n_rows, (batch + 1) * config.batch_size)
        block = np.asarray(patches[lo:hi], dtype=np.float32)
        if crop_yx is not None:
            block = np.ascontiguousarray(center_crop(block, crop_yx))
        rows.append(block_cell_features(block, config))
    table = index.loc[:, list(KEY_COLUMNS)].reset_index(drop=True)
    features = pd.DataFrame(np.concatenate(rows), columns=cell_feature_names(channel_names))
    return pd.concat([table, features], axis=1)
