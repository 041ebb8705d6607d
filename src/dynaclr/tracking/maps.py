"""Foreground and contour maps for ultrack, derived from a nuclear image.

The input is either a raw nuclear channel (uint16 camera counts: offset + background + signal)
or a virtual stain (float32, nuclei ≈ 1, background ≈ 0). Both are brought to a common scale by
a per-FOV percentile normalisation, so the thresholds below are in normalised units:

1. reduce Z: ``max_projection`` / ``mean_projection`` over ``z_slice_range`` → (Y, X) per
   frame (2D tracking), or keep the slices → (Z', Y, X) (3D tracking);
2. normalise: ``(image - p_low) / (p_high - p_low)`` with the FOV's percentiles over all
   frames (a FOV whose image is constant becomes all zeros: no nuclei, and so does one whose
   percentiles lie less than :data:`MIN_CONTRAST_TO_NOISE` times its pixel noise apart: noise
   only, a FOV without cells, ``noise_only``);
3. smooth each frame with a Gaussian of ``smoothing_sigma_px`` (never along time);
4. foreground = smoothed >= threshold (fixed, or Otsu's threshold of the FOV's smoothed values
   clipped to [0, 1], bounded below by ``minimum_otsu_threshold``), a 0/1 float32 map;
5. contours in [0, 1], high on nuclear boundaries: ``1 - smoothed`` (inverted intensity),
   the Sobel gradient magnitude, or ``1 - distance to background / its maximum``.

Missing voxels (NaN, ±inf; :mod:`dynaclr.numerics.missing`): the Z reduction skips them (a pixel
is missing only when its whole column is), the percentiles and Otsu's threshold ignore them, and a
missing pixel is background (0 after normalisation) and never foreground. A dropped frame (all NaN,
see :func:`dynaclr.tracking.fov.read_reduced_nuclei`) is thus an empty frame: no detections.

Saturated voxels (a plateau at a camera's full scale,
:data:`~dynaclr.numerics.saturation.CAMERA_FULL_SCALES`, that is the image's maximum, holds
more voxels than the high percentile leaves above it and covers at least
:data:`MIN_SATURATED_FRAME_SHARE` of a frame, e.g. a bright artefact over a third of a frame; not
saturated nuclei nor a 0/255 mask, whose plateau is the signal) are left out of the percentiles, counted
(``saturated_voxels``) and logged at WARNING: otherwise the high percentile would be the saturation
value and every nucleus elsewhere would normalise to about 0. They stay in the image (above 1
after normalisation).

A frame whose image is constant (no signal: a shutter that did not open, a frame saturated
everywhere) is treated like a missing one: left out of the percentiles and Otsu's threshold, no
detections (listed in ``empty_frames``, logged at WARNING). Otherwise a saturated frame would be
one FOV-wide nucleus and would lift the high percentile above every nucleus of the other frames.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import sobel, threshold_otsu

from dynaclr.config.tracking import TrackingMapsConfig
from dynaclr.numerics.missing import fill_missing, missing_mask
from dynaclr.numerics.saturation import full_scale_plateau

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingMaps:
    """ultrack's inputs for one FOV, each (T, Y, X) in 2D or (T, Z', Y, X) in 3D, float32."""

    foreground: NDArray[np.float32]
    contours: NDArray[np.float32]
    threshold: float
    """Foreground threshold used (normalised intensity units)."""
    normalization_range: tuple[float, float]
    """Input intensities mapped to 0 and 1 (the FOV's percentiles, input units)."""
    empty_frames: tuple[int, ...] = ()
    """Frames whose image is constant (no signal): no foreground there."""
    saturated_voxels: int = 0
    """Voxels at the saturation plateau left out of the percentiles (:func:`normalize_percentiles`)."""
    noise_only: bool = False
    """The image holds noise only (:data:`MIN_CONTRAST_TO_NOISE`): no foreground anywhere."""


def z_slices(config: TrackingMapsConfig, n_z: int, source: str = "input") -> slice:
    """Slices of a stack of ``n_z`` slices that ``config.z_slice_range`` selects.

    Raises ValueError naming ``source`` when the range lies outside the stack
    (:meth:`~dynaclr.config.tracking.TrackingMapsConfig.z_slices`; the dry run checks it against the
    tracking input's plate, ``dynaclr.config.plate_checks``).
    """
    try:
        return config.z_slices(n_z)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


def reduce_z(volume_zyx: NDArray, config: TrackingMapsConfig, source: str = "input") -> NDArray[np.float32]:
    """(Z, Y, X) → (Y, X) projection, or (Z', Y, X) slice range for 3D tracking; float32.

    Projections skip missing voxels (NaN, ±inf): a pixel is NaN only when its whole column is.
    """
    selected = np.asarray(volume_zyx[z_slices(config, volume_zyx.shape[0], source)], dtype=np.float32)
    missing = missing_mask(selected)
    if config.z_handling == "3d":
        return selected
    if missing is None:
        if config.z_handling == "max_projection":
            return selected.max(axis=0)
        return selected.mean(axis=0, dtype=np.float32)
    finite = np.where(missing, np.nan, selected)
    with warnings.catch_warnings():  # an all-missing column is NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        if config.z_handling == "max_projection":
            return np.nanmax(finite, axis=0).astype(np.float32)
        return np.nanmean(finite, axis=0, dtype=np.float32)


#: Smallest share of one frame a saturation plateau must cover to be left out of the percentiles: a
#: bright artefact over a large part of a frame (a third, in the test), not saturated nuclei (an
#: over-exposed 8-bit nuclear channel, a 0/255 binary mask: the plateau IS the signal then, a few %).
MIN_SATURATED_FRAME_SHARE = 0.2


def saturated_voxels(stack: NDArray, high_percentile: float) -> NDArray[np.bool_] | None:
    """Mask of the voxels of ``stack`` (``(T, ...)``; missing voxels never count) at its finite
    maximum when they are a saturation plateau: the maximum is a camera's full scale
    (:func:`~dynaclr.numerics.saturation.full_scale_plateau`), it holds more voxels than the
    ``100 - high_percentile`` % the high percentile leaves above it (so that percentile is the
    saturation value), it covers at least :data:`MIN_SATURATED_FRAME_SHARE` of some frame (an
    artefact, not saturated nuclei), and not every finite voxel. ``None`` otherwise, and when
    ``high_percentile`` is 100 (the maximum was asked for)."""
    plateau = None if high_percentile >= 100.0 else full_scale_plateau(stack)
    if plateau is None:
        return None
    _, at_max = plateau
    n_at_max = int(np.count_nonzero(at_max))
    n_finite = int(np.count_nonzero(np.isfinite(stack)))
    if n_at_max == n_finite or n_at_max <= (100.0 - high_percentile) / 100.0 * n_finite:
        return None
    per_frame = at_max.reshape(len(stack), -1).mean(axis=1)
    if float(per_frame.max()) < MIN_SATURATED_FRAME_SHARE:
        return None
    return at_max


#: Smallest span of the normalisation percentiles, in units of the pixel noise (:func:`pixel_noise`),
#: of an image holding nuclei. Noise alone spans 3-7 sigma between the 1st and 99.8th percentiles
#: (Gaussian 5.2; Poisson counts of 0.5-1000 photons, raw, max- or mean-projected: 2.9-6.7), the
#: simulated plates' nuclear channels and virtual stains 87-260 sigma. Below it the percentiles
#: would stretch the noise over [0, 1] and Otsu's threshold cut it in two: half the pixels of a FOV
#: without cells were foreground, and ultrack made tracks of them.
MIN_CONTRAST_TO_NOISE = 12.0


def pixel_noise(stack: NDArray) -> float:
    """Robust standard deviation of the pixel noise of ``stack`` (``(..., Y, X)``): the median absolute
    deviation of the differences between neighbouring pixels along X, / sqrt(2). Nuclei and smooth
    backgrounds barely move it; missing voxels are left out. 0 when at least half the differences are
    equal (a noise-free image, an image quantised coarser than its noise): no estimate then."""
    differences = np.diff(np.asarray(stack, dtype=np.float32), axis=-1).ravel()
    differences = differences[np.isfinite(differences)]
    if differences.size == 0:
        return 0.0
    deviation = np.abs(differences - np.median(differences))
    return float(1.4826 * np.median(deviation) / np.sqrt(2.0))


def normalize_percentiles(
    stack: NDArray[np.float32], percentiles: tuple[float, float], where: str = "input"
) -> tuple[NDArray[np.float32], tuple[float, float], int]:
    """Map the ``percentiles`` of ``stack`` (any shape) to 0 and 1; not clipped.

    Returns the normalised stack, the two input values used and the number of saturated voxels
    left out of the percentiles (:func:`saturated_voxels`; logged at WARNING naming ``where``). The
    percentiles are those of the finite, unsaturated voxels; missing voxels (NaN, ±inf) become 0
    (background). A stack with no contrast (high percentile == low percentile, or nothing finite)
    becomes all zeros.
    """
    missing = missing_mask(stack)
    finite = stack if missing is None else stack[~missing]
    if finite.size == 0:
        logger.warning("%s: image has no finite voxel: no nuclei", where)
        return np.zeros_like(stack, dtype=np.float32), (float("nan"), float("nan")), 0
    saturated = saturated_voxels(stack, percentiles[1])
    n_saturated = 0
    low, high = float("nan"), float("nan")
    if saturated is not None:
        unsaturated = stack[~saturated & np.isfinite(stack)]
        low, high = (float(v) for v in np.percentile(unsaturated, percentiles))
        if high > low:  # else the plateau is the only contrast: it is the signal, keep it
            n_saturated = int(np.count_nonzero(saturated))
            logger.warning(
                "%s: %d voxel(s) (%.1f%%) saturated at %.6g are left out of the normalisation "
                "percentiles (else nuclei elsewhere would normalise to about 0)",
                where,
                n_saturated,
                100.0 * n_saturated / finite.size,
                float(finite.max()),
            )
    if not n_saturated:
        low, high = (float(v) for v in np.percentile(finite, percentiles))
    if not high > low:
        logger.warning(
            "%s: image has no contrast (percentiles %s both %.4g): no nuclei", where, percentiles, low
        )
        return np.zeros_like(stack, dtype=np.float32), (low, high), n_saturated
    normalised = ((stack - low) / (high - low)).astype(np.float32)
    return fill_missing(normalised, 0.0), (low, high), n_saturated


def smooth_frames(stack: NDArray[np.float32], sigma_px: float) -> NDArray[np.float32]:
    """Gaussian smoothing of each frame of (T, Y, X) or (T, Z, Y, X); time is not smoothed."""
    if sigma_px <= 0:
        return stack
    sigma = (0.0,) + (sigma_px,) * (stack.ndim - 1)
    return ndimage.gaussian_filter(stack, sigma=sigma).astype(np.float32)


def constant_frames(stack: NDArray) -> list[int]:
    """Frames of ``stack`` ``(T, ...)`` whose finite voxels all hold one value (a frame without any
    finite voxel is missing, not constant)."""
    flat = stack.reshape(len(stack), -1)
    finite = np.isfinite(flat)
    low = np.where(finite, flat, np.inf).min(axis=1, initial=np.inf)
    high = np.where(finite, flat, -np.inf).max(axis=1, initial=-np.inf)
    return [int(t) for t in np.flatnonzero(low == high)]


def foreground_threshold(
    smoothed: NDArray[np.float32], config: TrackingMapsConfig, missing: NDArray[np.bool_] | None = None
) -> float:
    """The threshold in normalised units: fixed, or Otsu's bounded below (over the voxels not
    ``missing``).

    Otsu's threshold is taken of the values clipped to [0, 1], the range the normalisation maps
    the FOV's percentiles to: a few hot or saturated pixels far above 1 would otherwise stretch its
    histogram so that every nucleus falls into its lowest bins and below the threshold.
    """
    if not isinstance(config.foreground_threshold, str):
        return float(config.foreground_threshold)
    step = 2 if smoothed.shape[0] > 8 else 1
    values = smoothed[::step, ...].ravel()
    if missing is not None:
        values = values[~missing[::step, ...].ravel()]
    values = np.clip(values, 0.0, 1.0)
    if values.size == 0 or float(values.max()) <= float(values.min()):
        return max(config.minimum_otsu_threshold, 0.5)
    return max(float(threshold_otsu(values)), config.minimum_otsu_threshold)


def contour_map(
    smoothed: NDArray[np.float32], foreground: NDArray[np.bool_], method: str
) -> NDArray[np.float32]:
    """Boundary map in [0, 1], same shape as ``smoothed`` (T, [Z], Y, X)."""
    if method == "inverted_intensity":
        return (1.0 - np.clip(smoothed, 0.0, 1.0)).astype(np.float32)
    contours = np.zeros_like(smoothed, dtype=np.float32)
    for t in range(smoothed.shape[0]):
        if method == "gradient":
            contours[t] = sobel(smoothed[t])
        elif method == "distance":
            distance = ndimage.distance_transform_edt(foreground[t])
            contours[t] = 1.0 - distance / max(float(distance.max()), 1.0)
        else:
            raise ValueError(
                f"contour_method {method!r} unknown; use inverted_intensity, gradient or distance"
            )
    if method == "gradient":
        scale = float(np.percentile(contours, 99.9)) if contours.size else 0.0
        contours = np.clip(contours / scale, 0.0, 1.0) if scale > 0 else contours
    return contours.astype(np.float32)


def tracking_maps(
    reduced: NDArray[np.float32], config: TrackingMapsConfig, where: str = "input"
) -> TrackingMaps:
    """Foreground and contours from the Z-reduced nuclear stack (T, Y, X) or (T, Z', Y, X).

    Missing voxels (NaN, ±inf) are background and never foreground, and so are constant frames
    (module docstring); ``where`` names the plate, FOV and channel in warnings.
    """
    empty = constant_frames(reduced)
    if empty:
        logger.warning(
            "%s: frame(s) %s of the nuclear image are constant (no signal: a shutter that did not open, "
            "a saturated frame); no nuclei there",
            where,
            empty[:10],
        )
        reduced = reduced.copy()
        reduced[empty] = np.nan  # treated as missing: out of the statistics, background
    missing = missing_mask(reduced)
    percentiles = config.normalization_percentiles
    normalised, value_range, n_saturated = normalize_percentiles(reduced, percentiles, where)
    noise_only = _noise_only(reduced, value_range, where)
    if noise_only:
        normalised = np.zeros_like(normalised)
    smoothed = smooth_frames(normalised, config.smoothing_sigma_px)
    threshold = foreground_threshold(smoothed, config, missing)
    foreground = smoothed >= threshold
    if missing is not None:
        foreground &= ~missing
    contours = contour_map(smoothed, foreground, config.contour_method)
    logger.info(
        "maps: normalised %s → [0, 1], threshold %.3f, foreground fraction %.3f",
        value_range,
        threshold,
        float(foreground.mean()) if foreground.size else 0.0,
    )
    return TrackingMaps(
        foreground=foreground.astype(np.float32),
        contours=contours,
        threshold=threshold,
        normalization_range=value_range,
        empty_frames=tuple(empty),
        saturated_voxels=n_saturated,
        noise_only=noise_only,
    )


#: Frames (spread evenly over the movie) the pixel noise is estimated on: the noise of a movie is
#: steady, and :func:`pixel_noise` copies what it reads three times over.
NOISE_FRAMES = 8


def _noise_frames(n_frames: int) -> NDArray[np.intp]:
    """Indices of at most :data:`NOISE_FRAMES` frames spread evenly over ``n_frames``, first and last
    included."""
    return np.unique(np.linspace(0, n_frames - 1, min(n_frames, NOISE_FRAMES)).round().astype(np.intp))


def _noise_only(reduced: NDArray[np.float32], value_range: tuple[float, float], where: str) -> bool:
    """Whether the normalisation range of ``reduced`` spans less than :data:`MIN_CONTRAST_TO_NOISE`
    times its pixel noise (:func:`pixel_noise` of :data:`NOISE_FRAMES` of its frames; never where it
    has no estimate): a FOV without cells,
    logged at WARNING naming ``where``."""
    low, high = value_range
    noise = pixel_noise(reduced[_noise_frames(len(reduced))])
    if not (noise > 0 and high > low) or high - low >= MIN_CONTRAST_TO_NOISE * noise:
        return False
    logger.warning(
        "%s: image holds noise only (its normalisation percentiles span %.4g, %.1f times the pixel noise "
        "%.4g; nuclei span at least %g times it): no nuclei",
        where,
        high - low,
        (high - low) / noise,
        noise,
        MIN_CONTRAST_TO_NOISE,
    )
    return True
