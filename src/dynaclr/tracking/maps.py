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
   clipped to [0, 1], bounded below by ``minimum_otsu_threshold``), in frames with contrast above
   the pixel noise, and, where the threshold lies in the noise, above the noise clip (below); a
   0/1 float32 map;
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

Noise (:func:`noise_levels`): a frame without cells is not constant but holds the background's
photons and camera noise, which the percentiles stretch over [0, 1] and Otsu's threshold cuts in two
(half the pixels of a simulated FOV without cells were foreground, 57 detections in 27 tracks). Each
frame is judged on the normalised image smoothed by ``max(smoothing_sigma_px,``
:data:`JUDGING_SIGMA_PX```)``: its pixel noise (:func:`pixel_noise` of the raw frame) times that
smoothing's noise gain (:func:`smoothing_noise_gain`, 0.28 at 1 px in 2D) is the judged frame's
noise sigma; its noise floor lies :data:`NOISE_FLOOR_SIGMAS` of them above the background (the
frame's 1st percentile + 2.33 sigma). A fill plateau at the frame's minimum (zero-filled borders of
drift correction or stitching, :func:`fill_plateaus`) is left out of the noise estimate and the 1st
percentile. A frame where no connected region of at least ``min_area_px`` pixels (the
segmentation's smallest nucleus) rises above its floor has no contrast above the pixel noise: no
foreground, out of the percentiles and Otsu's threshold (``frames_without_signal``, WARNING). A FOV
none of whose frames has such contrast, and with no frame left unjudged (no noise estimate) that
could hold nuclei, is ``noise_only``. In frames with signal the threshold alone decides where it
lies :data:`SIGNAL_CLIP_SIGMAS` noise sigmas or more above the background (the foreground is then
exactly that without the noise check); where it lies lower, in the noise (a single nucleus in a large
frame), no pixel of the judged image below that level is foreground, which shrinks dim nuclei whose
smoothed edges fall below it (Gaussian-profile nuclei of radius 8 px at +3 raw sigma: median area
172 px, 234 without the check). The decision is per frame, so a dim nucleus (+2 raw noise sigma is
+7 smoothed sigma), a single nucleus in a large frame and cells in a few frames of a long movie are
kept. Not caught: an empty image that is smooth rather than noisy (a virtual stain of an empty FOV,
vignetting, a background that varies over the frame): its structure rises above the floor;
bleaching (a background changing between frames) is caught.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import sobel, threshold_otsu

from dynaclr.config.tracking import TrackingMapsConfig, UltrackSegmentationConfig
from dynaclr.numerics.missing import fill_missing, missing_mask
from dynaclr.numerics.saturation import full_scale_plateau
from dynaclr.tracking.engine import frames_without_foreground

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
    """Frames with no contrast above the pixel noise (:func:`noise_levels`): no foreground there."""
    noise_only: bool = False
    """No frame has contrast above the pixel noise (at least one judged, none unjudged but for constant
    or missing frames): no foreground."""

    @cached_property
    def frames_without_foreground(self) -> list[int]:
        """The frames without any foreground pixel, scanned once per FOV
        (:func:`~dynaclr.tracking.engine.frames_without_foreground`): the record's
        ``frames_without_foreground`` and the frames ultrack's solves leave out
        (:func:`~dynaclr.tracking.engine.solve_frames`)."""
        return frames_without_foreground(self.foreground)


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


#: Smallest smoothing (px) of the image a frame's signal is judged on: without smoothing
#: (``smoothing_sigma_px`` 0) the floor lay 7.3 raw noise sigmas above the background and nuclei 5
#: sigmas above it were erased; smoothed by 1 px they rise 18 smoothed sigmas above it.
JUDGING_SIGMA_PX = 1.0

#: Height of the foreground clip of frames WITH signal above their background, in smoothed noise
#: sigmas, applied only where the threshold lies below it (in the noise: a single nucleus in a large
#: frame, whose 99.8th percentile is noise): lower than :data:`NOISE_FLOOR_SIGMAS` (which decides
#: whether a frame has signal) so that dim nuclei shrink less (Gaussian-profile nuclei of radius 8 px
#: at +3 raw sigma: median area 172 px, 130 with the full floor, 234 without any), high enough that
#: noise stays out (Gaussian tail 3e-5; 0.07 % of a 512 x 512 frame around one nucleus, 0.2 % at 3).
SIGNAL_CLIP_SIGMAS = 4.0

#: The part of a frame's exact minimum connected to the frame's Y/X border (rows and columns at its
#: edges), covering at least this share of its finite pixels and less than
#: :data:`PLATEAU_MAX_SHARE` of them, lying more than :data:`PLATEAU_GAP_SIGMAS` raw noise sigmas
#: below the 1st percentile of the rest, is fill (zero-filled borders of drift correction or
#: stitching), not background: it is left out of the frame's noise estimate and background
#: percentile. Zeros of sparse photons lie within the noise and stay in; so does the exact-0
#: background of a background-subtracted and clipped (or masked) image, which covers most of the
#: frame (taken for fill, the nuclei became the background and dim ones lost all their area).
PLATEAU_SHARE, PLATEAU_MAX_SHARE, PLATEAU_GAP_SIGMAS = 0.01, 0.5, 5.0


def _touching_the_border(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The connected components of ``mask`` (one frame, (Y, X) or (Z', Y, X)) touching its Y/X border."""
    labels, _ = ndimage.label(mask)
    edges = np.zeros(mask.shape, dtype=bool)
    edges[..., 0, :] = edges[..., -1, :] = edges[..., :, 0] = edges[..., :, -1] = True
    border_labels = np.unique(labels[edges & mask])
    return np.isin(labels, border_labels[border_labels > 0])


def fill_plateaus(reduced: NDArray, skip: list[int]) -> NDArray[np.bool_] | None:
    """Mask of the fill plateaus (:data:`PLATEAU_SHARE`: at the minimum, connected to the frame's
    border, less than :data:`PLATEAU_MAX_SHARE` of it) of the frames of ``reduced`` not in ``skip``;
    ``None`` where there is none."""
    plateaus: NDArray[np.bool_] | None = None
    for t in range(len(reduced)):
        if t in skip:
            continue
        frame = reduced[t]
        finite = np.isfinite(frame)
        n_finite = int(np.count_nonzero(finite))
        if n_finite == 0:
            continue
        minimum = float(frame[finite].min())
        at_min = frame == minimum
        if int(np.count_nonzero(at_min)) == n_finite:
            continue
        fill = _touching_the_border(at_min)
        n_fill = int(np.count_nonzero(fill))
        if not PLATEAU_SHARE * n_finite <= n_fill < PLATEAU_MAX_SHARE * n_finite:
            continue
        rest = frame[finite & ~at_min]
        step = max(1, -(-rest.size // NOISE_SAMPLE_SIZE))
        noise = pixel_noise(frame)  # with the plateau: sparse photons' zeros are their noise
        gap = float(np.percentile(rest[::step], BACKGROUND_PERCENTILE)) - minimum
        if not gap > PLATEAU_GAP_SIGMAS * noise:
            continue
        if plateaus is None:
            plateaus = np.zeros(reduced.shape, dtype=bool)
        plateaus[t] = fill
    return plateaus


def frame_noises(
    reduced: NDArray, skip: list[int], plateaus: NDArray[np.bool_] | None
) -> NDArray[np.float64]:
    """:func:`pixel_noise` of each raw frame of ``reduced``, its fill ``plateaus`` left out; 0 (no
    estimate, frame not judged) for frames in ``skip``."""
    noises = np.zeros(len(reduced))
    for t in range(len(reduced)):
        if t in skip:
            continue
        frame = reduced[t]
        if plateaus is not None and plateaus[t].any():
            frame = np.where(plateaus[t], np.nan, frame)
        noises[t] = pixel_noise(frame)
    return noises


def noise_levels(
    smoothed: NDArray[np.float32],
    excluded: NDArray[np.bool_] | None,
    noises: NDArray[np.float64],
    value_range: tuple[float, float],
    sigma_px: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per frame, the background and the noise sigma of ``smoothed`` (normalised units,
    ``value_range`` the raw values mapped to 0 and 1; smoothed by ``sigma_px``): background = 1st
    percentile of the pixels not ``excluded`` + :data:`BACKGROUND_PERCENTILE_SIGMAS` sigmas, sigma
    the raw frame's ``noises`` times :func:`smoothing_noise_gain`. A frame's noise floor is its
    background + :data:`NOISE_FLOOR_SIGMAS` sigmas. Background ``-inf`` (not judged) for frames
    without a noise estimate (0) or a pixel left, and every frame when the normalisation had no
    contrast."""
    backgrounds, sigmas = np.full(len(smoothed), -np.inf), np.zeros(len(smoothed))
    low, high = value_range
    if not high > low:  # also NaN: nothing finite, the image is all zeros already
        return backgrounds, sigmas
    gain = smoothing_noise_gain(sigma_px, smoothed.ndim - 1)
    for t in range(len(smoothed)):
        if noises[t] <= 0:
            continue
        values = smoothed[t].ravel()
        step = max(1, -(-values.size // NOISE_SAMPLE_SIZE))
        values = values[::step] if excluded is None else values[::step][~excluded[t].ravel()[::step]]
        if values.size == 0:
            continue
        sigmas[t] = gain * noises[t] / (high - low)
        percentile = float(np.percentile(values, BACKGROUND_PERCENTILE))
        backgrounds[t] = percentile + BACKGROUND_PERCENTILE_SIGMAS * sigmas[t]
    return backgrounds, sigmas


def _near(mask: NDArray[np.bool_] | None, sigma_px: float) -> NDArray[np.bool_] | None:
    """``mask`` grown by the reach of :func:`smooth_frames` with ``sigma_px`` (values it blurs)."""
    if mask is None or sigma_px <= 0:
        return mask
    return smooth_frames(mask.astype(np.float32), sigma_px) > 1e-3


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
    missing, normalised, value_range, n_saturated = _normalised(reduced, config, where)
    smoothed = smooth_frames(normalised, config.smoothing_sigma_px)
    # signal is judged smoothed by at least JUDGING_SIGMA_PX, with that smoothing's noise gain
    judging_sigma = max(config.smoothing_sigma_px, JUDGING_SIGMA_PX)
    judged = _judged(normalised, smoothed, config)
    plateaus = fill_plateaus(reduced, empty)
    noises = frame_noises(reduced, empty, plateaus)
    backgrounds, sigmas = noise_levels(
        judged, _excluded(missing, plateaus, judging_sigma), noises, value_range, judging_sigma
    )
    floors = backgrounds + NOISE_FLOOR_SIGMAS * sigmas
    without_signal = _frames_without_signal(judged, missing, floors, min_area_px)
    unjudged = [
        t for t in np.flatnonzero(~np.isfinite(floors)) if t not in empty and np.isfinite(reduced[t]).any()
    ]
    noise_only = bool(without_signal) and len(without_signal) == int(np.count_nonzero(np.isfinite(floors)))
    noise_only = noise_only and not unjudged  # an unjudged frame may hold nuclei: they stay
    if without_signal:
        _warn_without_signal(where, without_signal, len(reduced), noise_only, min_area_px, reduced.ndim > 3)
    if without_signal and not noise_only:  # like constant frames: out of the percentiles and Otsu's threshold
        signal_only = reduced.copy() if not empty else reduced
        signal_only[without_signal] = np.nan
        again = _normalised(signal_only, config, where)
        if again[2][1] > again[2][0]:  # else keep the first normalisation (frames still excluded below)
            missing, normalised, value_range, n_saturated = again
            smoothed = smooth_frames(normalised, config.smoothing_sigma_px)
            judged = _judged(normalised, smoothed, config)
    del normalised
    excluded = missing
    if without_signal:
        excluded = np.zeros(smoothed.shape, dtype=bool) if missing is None else missing.copy()
        excluded[without_signal] = True  # never foreground
        smoothed[without_signal] = 0.0
    threshold = foreground_threshold(smoothed, config, excluded)
    foreground = smoothed >= threshold
    _clip_in_noise(foreground, smoothed, judged, excluded, plateaus, noises, value_range, config, threshold)
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


def _normalised(
    reduced: NDArray[np.float32], config: TrackingMapsConfig, where: str
) -> tuple[NDArray[np.bool_] | None, NDArray[np.float32], tuple[float, float], int]:
    """Missing mask, normalised stack, normalisation range and saturated voxels of ``reduced``
    (step 2 of the module docstring)."""
    missing = missing_mask(reduced)
    normalised, value_range, n_saturated = normalize_percentiles(
        reduced, config.normalization_percentiles, where
    )
    return missing, normalised, value_range, n_saturated


def _judged(
    normalised: NDArray[np.float32], smoothed: NDArray[np.float32], config: TrackingMapsConfig
) -> NDArray[np.float32]:
    """The image signal is judged on: ``normalised`` smoothed by at least :data:`JUDGING_SIGMA_PX`
    (``smoothed`` itself where ``smoothing_sigma_px`` is that or more)."""
    if config.smoothing_sigma_px >= JUDGING_SIGMA_PX:
        return smoothed
    return smooth_frames(normalised, JUDGING_SIGMA_PX)


def _excluded(
    missing: NDArray[np.bool_] | None, plateaus: NDArray[np.bool_] | None, sigma_px: float
) -> NDArray[np.bool_] | None:
    """Voxels left out of a frame's background: ``missing`` ones, and the fill ``plateaus`` with the
    voxels smoothing by ``sigma_px`` blurs them into."""
    near = _near(plateaus, sigma_px)
    if near is None:
        return missing
    return near if missing is None else near | missing


def _clip_in_noise(
    foreground: NDArray[np.bool_],
    smoothed: NDArray[np.float32],
    judged: NDArray[np.float32],
    excluded: NDArray[np.bool_] | None,
    plateaus: NDArray[np.bool_] | None,
    noises: NDArray[np.float64],
    value_range: tuple[float, float],
    config: TrackingMapsConfig,
    threshold: float,
) -> None:
    """Clear ``foreground`` where ``judged`` (``smoothed``, the segmentation's image, smoothed by at
    least :data:`JUDGING_SIGMA_PX`) lies less than :data:`SIGNAL_CLIP_SIGMAS` noise sigmas above its
    frame's background, in the frames where ``threshold`` lies less than that above the background
    of ``smoothed``: there it lies in the noise (a single nucleus in a large frame, whose 99.8th
    percentile is noise) and would make noise foreground. Elsewhere the threshold alone decides, as
    without the noise check, so nuclei well above the noise do not shrink. Frames not judged (and
    frames without signal, all ``excluded``) are left alone."""
    sigma_px, judging_sigma = config.smoothing_sigma_px, max(config.smoothing_sigma_px, JUDGING_SIGMA_PX)
    backgrounds, sigmas = noise_levels(
        smoothed, _excluded(excluded, plateaus, sigma_px), noises, value_range, sigma_px
    )
    if judged is not smoothed:
        judged_backgrounds, judged_sigmas = noise_levels(
            judged, _excluded(excluded, plateaus, judging_sigma), noises, value_range, judging_sigma
        )
    else:
        judged_backgrounds, judged_sigmas = backgrounds, sigmas
    for t in np.flatnonzero(threshold < backgrounds + SIGNAL_CLIP_SIGMAS * sigmas):
        foreground[t] &= judged[t] >= judged_backgrounds[t] + SIGNAL_CLIP_SIGMAS * judged_sigmas[t]


def _warn_without_signal(
    where: str, frames: list[int], n_frames: int, noise_only: bool, min_area_px: int, is_3d: bool
) -> None:
    """WARNING naming ``where`` and the frames without contrast above the pixel noise."""
    rule = (
        f"no connected region of {min_area_px} {'voxel' if is_3d else 'pixel'}(s) "
        f"{NOISE_FLOOR_SIGMAS:g} noise sigmas above the background of the smoothed image"
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
