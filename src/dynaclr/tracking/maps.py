"""Foreground and contour maps for ultrack, derived from a nuclear image.

The input is either a raw nuclear channel (uint16 camera counts: offset + background + signal)
or a virtual stain (float32, nuclei ≈ 1, background ≈ 0). Both are brought to a common scale by
a per-FOV percentile normalisation, so the thresholds below are in normalised units:

1. reduce Z: ``max_projection`` / ``mean_projection`` over ``z_slice_range`` → (Y, X) per
   frame (2D tracking), or keep the slices → (Z', Y, X) (3D tracking);
2. normalise: ``(image - p_low) / (p_high - p_low)`` with the FOV's percentiles over all
   frames (a FOV whose image is constant becomes all zeros: no nuclei);
3. smooth each frame with a Gaussian of ``smoothing_sigma_px`` (never along time);
4. foreground = smoothed >= threshold (fixed, or Otsu's threshold of the FOV's smoothed values
   clipped to [0, 1], bounded below by ``minimum_otsu_threshold``) and >= the frame's noise floor
   (below), a 0/1 float32 map;
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

Noise (:func:`noise_floors`): a frame without cells is not constant but holds the background's
photons and camera noise, which the percentiles stretch over [0, 1] and Otsu's threshold cuts in two
(half the pixels of a simulated FOV without cells were foreground, 57 detections in 27 tracks). Each
frame is judged on the smoothed image the segmentation uses: its pixel noise (:func:`pixel_noise`
of the raw frame) times the smoothing kernel's noise gain (:func:`smoothing_noise_gain`, 0.28 for
``smoothing_sigma_px`` 1 in 2D) is the smoothed frame's noise sigma; its noise floor lies
:data:`NOISE_FLOOR_SIGMAS` of them above the background (the frame's 1st percentile + 2.33
sigma). No foreground lies below the floor, and a frame where no connected region of at least
``min_area_px`` pixels (the segmentation's smallest nucleus) rises above it has no contrast above
the pixel noise: no foreground, out of Otsu's threshold (``frames_without_signal``, WARNING). A FOV
none of whose frames has such contrast is ``noise_only``. The decision is per frame, so a dim
nucleus (+2 raw noise sigma is +7 smoothed sigma), a single nucleus in a large frame and cells in a
few frames of a long movie are kept. Not caught: an empty image that is smooth rather than noisy
(a virtual stain of an empty FOV, vignetting, a background that varies over the frame): its
structure rises above the floor; bleaching (a background changing between frames) is caught.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import sobel, threshold_otsu

from dynaclr.config.tracking import TrackingMapsConfig, UltrackSegmentationConfig
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
    frames_without_signal: tuple[int, ...] = ()
    """Frames with no contrast above the pixel noise (:func:`noise_floors`): no foreground there."""
    noise_only: bool = False
    """No frame has contrast above the pixel noise (and at least one was judged): no foreground."""


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


#: Height of a frame's noise floor above its background, in standard deviations of the smoothed
#: frame's pixel noise: Gaussian noise exceeds it in 3e-7 of the pixels (about one pixel of a
#: 2048 x 2048 frame), and never in a connected region of a nucleus' size; Poisson counts of 0.1 to
#: 1000 photons, raw or max-projected, left at most 4 connected pixels above it in 512 x 512 frames.
NOISE_FLOOR_SIGMAS = 5.0

#: The background of a frame is its 1st percentile (of the smoothed image) plus this many noise
#: sigmas (the 1st percentile of Gaussian noise): a percentile, not the median, so that a frame
#: covered by more than half with nuclei keeps them.
BACKGROUND_PERCENTILE, BACKGROUND_PERCENTILE_SIGMAS = 1.0, 2.326

#: At most this many pixel differences (or smoothed pixels) are read per frame to estimate its
#: noise (or background): rows spread evenly over the frame, so a (Z', Y, X) frame of 2048 x 2048 px
#: over 50 slices is not copied whole.
NOISE_SAMPLE_SIZE = 1_000_000

#: Clipping of :func:`pixel_noise`: differences farther from their median than this many standard
#: deviations (nuclei edges) are left out, over :data:`NOISE_CLIP_ROUNDS` rounds.
NOISE_CLIP_SIGMAS, NOISE_CLIP_ROUNDS = 4.0, 5


def pixel_noise(frame: NDArray) -> float:
    """Standard deviation of the pixel noise of one frame (``(..., Y, X)``): that of the differences
    between neighbouring pixels along X, sigma-clipped (:data:`NOISE_CLIP_SIGMAS`, so nuclei edges
    and smooth backgrounds barely move it), / sqrt(2), over at most :data:`NOISE_SAMPLE_SIZE` of
    them (rows spread over the frame); missing voxels are left out. Unlike a median absolute
    deviation it holds for integer counts (a max projection of 2 photons a pixel: MAD 1.05, true
    1.2) and sparse photons (most differences 0). Clipping that would leave only equal differences
    (a noise-free image) stops at the last non-zero estimate; 0 only when all differences are equal
    or none is finite."""
    rows = np.asarray(frame).reshape(-1, frame.shape[-1])
    step = max(1, -(-rows.shape[0] * max(rows.shape[1] - 1, 1) // NOISE_SAMPLE_SIZE))
    differences = np.diff(rows[::step].astype(np.float64), axis=-1).ravel()
    differences = differences[np.isfinite(differences)]
    if differences.size == 0:
        return 0.0
    centre, sigma = float(np.median(differences)), float(differences.std())
    for _ in range(NOISE_CLIP_ROUNDS):
        kept = differences[np.abs(differences - centre) <= NOISE_CLIP_SIGMAS * sigma]
        clipped = float(kept.std()) if kept.size else 0.0
        if clipped <= 0.0 or clipped == sigma:
            break
        sigma = clipped
    return sigma / float(np.sqrt(2.0))


def smoothing_noise_gain(sigma_px: float, n_axes: int) -> float:
    """Factor by which :func:`smooth_frames` (``sigma_px`` over ``n_axes`` axes) scales white pixel
    noise's standard deviation: the root of the sum of its kernel's squares (1 without smoothing)."""
    if sigma_px <= 0:
        return 1.0
    radius = int(4.0 * sigma_px + 0.5)  # scipy's kernel radius (truncate=4)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    kernel = ndimage.gaussian_filter1d(impulse, sigma_px)
    return float(np.sqrt(np.sum(kernel**2)) ** n_axes)


def noise_floors(
    reduced: NDArray,
    smoothed: NDArray[np.float32],
    missing: NDArray[np.bool_] | None,
    value_range: tuple[float, float],
    sigma_px: float,
    skip: list[int],
) -> NDArray[np.float64]:
    """Per frame, the noise floor of ``smoothed`` (normalised units, ``value_range`` the raw values
    mapped to 0 and 1): background (1st percentile + :data:`BACKGROUND_PERCENTILE_SIGMAS`) +
    :data:`NOISE_FLOOR_SIGMAS` times the smoothed pixel noise (:func:`pixel_noise` of the raw frame
    of ``reduced`` times :func:`smoothing_noise_gain`). ``-inf`` (not judged) for frames in
    ``skip``, frames without a finite pixel or a noise estimate, and every frame when the
    normalisation had no contrast."""
    floors = np.full(len(reduced), -np.inf)
    low, high = value_range
    if not high > low:  # also NaN: nothing finite, the image is all zeros already
        return floors
    gain = smoothing_noise_gain(sigma_px, reduced.ndim - 1)
    for t in range(len(reduced)):
        if t in skip:
            continue
        noise = pixel_noise(reduced[t])
        if noise <= 0:
            continue
        values = smoothed[t].ravel()
        step = max(1, -(-values.size // NOISE_SAMPLE_SIZE))
        values = values[::step] if missing is None else values[::step][~missing[t].ravel()[::step]]
        if values.size == 0:
            continue
        sigma = gain * noise / (high - low)
        background = (
            float(np.percentile(values, BACKGROUND_PERCENTILE)) + BACKGROUND_PERCENTILE_SIGMAS * sigma
        )
        floors[t] = background + NOISE_FLOOR_SIGMAS * sigma
    return floors


def _frames_without_signal(
    smoothed: NDArray[np.float32],
    missing: NDArray[np.bool_] | None,
    floors: NDArray[np.float64],
    min_area_px: int,
) -> list[int]:
    """Judged frames (finite floor) where no connected region of at least ``min_area_px`` pixels of
    ``smoothed`` (not ``missing``) lies above the floor."""
    without = []
    for t in np.flatnonzero(np.isfinite(floors)):
        above = smoothed[t] >= floors[t]
        if missing is not None:
            above &= ~missing[t]
        if np.count_nonzero(above) >= min_area_px:
            labels, n_regions = ndimage.label(above)
            if n_regions and int(np.bincount(labels.ravel())[1:].max()) >= min_area_px:
                continue
        without.append(int(t))
    return without


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
    reduced: NDArray[np.float32],
    config: TrackingMapsConfig,
    where: str = "input",
    min_area_px: int = UltrackSegmentationConfig.model_fields["min_area_px"].default,
) -> TrackingMaps:
    """Foreground and contours from the Z-reduced nuclear stack (T, Y, X) or (T, Z', Y, X).

    Missing voxels (NaN, ±inf) are background and never foreground, and so are constant frames and
    frames without contrast above the pixel noise (module docstring; ``min_area_px``: the
    segmentation's smallest nucleus); ``where`` names the plate, FOV and channel in warnings.
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
    missing, smoothed, value_range, n_saturated = _normalised_smoothed(reduced, config, where)
    floors = noise_floors(reduced, smoothed, missing, value_range, config.smoothing_sigma_px, empty)
    without_signal = _frames_without_signal(smoothed, missing, floors, min_area_px)
    noise_only = bool(without_signal) and len(without_signal) == int(np.count_nonzero(np.isfinite(floors)))
    if without_signal:
        _warn_without_signal(where, without_signal, len(reduced), noise_only, min_area_px)
    if without_signal and not noise_only:  # like constant frames: out of the percentiles and Otsu's threshold
        signal_only = reduced.copy() if not empty else reduced
        signal_only[without_signal] = np.nan
        again = _normalised_smoothed(signal_only, config, where)
        low, high = again[2]
        if high > low:  # else keep the first normalisation (the frames are still excluded below)
            raw_floors = value_range[0] + floors * (value_range[1] - value_range[0])
            missing, smoothed, value_range, n_saturated = again
            floors = (raw_floors - low) / (high - low)
    excluded = missing
    if without_signal:
        excluded = np.zeros(smoothed.shape, dtype=bool) if missing is None else missing.copy()
        excluded[without_signal] = True  # never foreground
        smoothed[without_signal] = 0.0
    threshold = foreground_threshold(smoothed, config, excluded)
    foreground = (smoothed >= threshold) & (smoothed >= floors.reshape((-1,) + (1,) * (smoothed.ndim - 1)))
    if excluded is not None:
        foreground &= ~excluded
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
        frames_without_signal=tuple(without_signal),
        noise_only=noise_only,
    )


def _normalised_smoothed(
    reduced: NDArray[np.float32], config: TrackingMapsConfig, where: str
) -> tuple[NDArray[np.bool_] | None, NDArray[np.float32], tuple[float, float], int]:
    """Missing mask, normalised and smoothed stack, normalisation range and saturated voxels of
    ``reduced`` (steps 2 and 3 of the module docstring)."""
    missing = missing_mask(reduced)
    normalised, value_range, n_saturated = normalize_percentiles(
        reduced, config.normalization_percentiles, where
    )
    return missing, smooth_frames(normalised, config.smoothing_sigma_px), value_range, n_saturated


def _warn_without_signal(
    where: str, frames: list[int], n_frames: int, noise_only: bool, min_area_px: int
) -> None:
    """WARNING naming ``where`` and the frames without contrast above the pixel noise."""
    rule = (
        f"no connected region of {min_area_px} pixel(s) {NOISE_FLOOR_SIGMAS:g} noise sigmas above the "
        "background of the smoothed image"
    )
    if noise_only:
        logger.warning(
            "%s: no contrast above the pixel noise in any frame (%s): no nuclei",
            where,
            rule,
        )
        return
    logger.warning(
        "%s: %d of %d frame(s) have no contrast above the pixel noise (%s), no nuclei there: %s",
        where,
        len(frames),
        n_frames,
        rule,
        frames[:10],
    )
