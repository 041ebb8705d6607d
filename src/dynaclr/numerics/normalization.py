"""Per-FOV intensity normalisation statistics of one channel, and their application.

Normalised intensity: ``(x - center) / scale`` in float32, with

* ``zscore``: ``center = mean``, ``scale = std``;
* ``median_p99``: ``center = median``, ``scale = p99 - median`` (background at 0, the 99th
  percentile at 1); where ``p99`` equals the median (sparse signal over a background of one value,
  more than 99 % of the voxels) and at least :data:`MIN_SIGNAL_SHARE` of the voxels lie above
  it, ``scale`` is the 99th percentile of the voxels above the median minus the median.

The statistics pool the frames ``(Z, Y, X)`` a caller names: the patches stage every time point
of the FOV (optionally also each time point on its own), virtual staining a few evenly spaced ones
(:func:`sample_frames`). Frames in which the channel is constant (an empty or missing
acquisition: :func:`~dynaclr.numerics.repeats.is_constant`, every finite voxel one value but for
fewer than :data:`MIN_SIGNAL_VOXELS` of them, hot pixels, whatever the frame's size) are
ignored. Mean and standard deviation are exact (float64 sums over every voxel
but outliers: voxels farther from their frame's median than :data:`OUTLIER_RANGE_FACTOR` times its
1st–99th percentile range, e.g. hot pixels, counted in ``outlier_voxels``); the median and the
99th percentile come from a regular subsample of at most about :data:`MAX_SAMPLES_PER_FRAME`
voxels per frame (every ``max(1, size // MAX_SAMPLES_PER_FRAME)``-th voxel).

Missing voxels (NaN, ±inf) follow :mod:`dynaclr.numerics.missing`: the statistics pool the finite
voxels only; a frame mostly missing is dropped (not pooled, listed in ``dropped_frames``, logged at
WARNING); a FOV whose frames read are mostly missing fails with a
:class:`~dynaclr.numerics.missing.MissingDataError` (whatever ``require_signal``).

With ``per_time_point``, a frame whose own scale is degenerate (a flat frame: a scale below
:data:`DEGENERATE_SCALE` times ``max(1, |center|)``, or flat except for fewer hot voxels than
the larger of :data:`MIN_SIGNAL_VOXELS` and :data:`MIN_SIGNAL_SHARE` of its voxels) takes the
FOV-level centre and scale, like a constant frame, and is listed in ``degenerate_frames`` (logged
at WARNING).

Where ``median_p99``'s scale is degenerate because more than half of the voxels sit at the maximum
(saturated at the camera's full scale: the 99th percentile is the median and nothing lies above it)
but the others vary, the scale is the standard deviation (outliers left out), with a warning, when
the caller accepts a fallback (``require_signal=False``; a scale of 1 left such a channel in raw
counts, values down to -65535); with ``require_signal`` it fails naming the saturation. A flat
background with too few voxels above it (sparse signal, not saturation) takes the fallback below.
A channel without signal (every frame constant, or a scale and a standard deviation
below :data:`DEGENERATE_SCALE` times ``max(1, |center|)``) either fails (``require_signal=True``,
an :class:`~dynaclr.io.ArtifactError`) or falls back to ``scale`` 1 with a warning, as its caller
chooses. When every frame is constant
the fallback ``center`` is the constant (the mean of the frames' constants), so a flat channel
(an empty well, a shutter that did not open, a saturated FOV) normalises to 0, whatever its level.

An over-exposed frame (:func:`~dynaclr.numerics.saturation.full_scale_share`: more than
:data:`~dynaclr.numerics.saturation.MAX_SATURATED_SHARE` of its voxels at a camera's full scale, not a
binary mask, the
frame phase reconstruction and virtual staining's prediction name ``saturated_frames``) whose share
at full scale is more than :data:`~dynaclr.numerics.saturation.SATURATION_OUTLIER_FACTOR` times the
median share of the FOV's frames with signal (an outlier: a flash,
:func:`~dynaclr.numerics.saturation.saturation_outliers`) is left out of the pooled statistics (listed
in ``saturated_frames``, logged at WARNING): its plateau would shift every other frame's normalisation
(one frame 31 % at 65535 in a 10-frame FOV moved the nuclei of the other nine from 0.96 to 0.02 under
``median_p99``, from 2.5 to -0.06 under ``zscore``). Over-exposed frames that are not outliers (dense
8-bit nuclei clipped at 255, their share growing as the cells multiply) are pooled like the others:
the frames left out are never a majority of those with signal.

Each constant frame's level is recorded (``constant_levels``); those whose level lies outside the
1st–99th percentiles of the pooled voxels of the non-constant frames (an all-0 frame of a sensor at
500 counts: an empty or missing acquisition) are listed in ``off_background_frames``, all of them
when every frame is constant. A constant frame at the background's level (background-subtracted data
clipped at 0 before a cell lights up, a mask frame with no object) is data, not listed there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from dynaclr.io import ArtifactError
from dynaclr.numerics.missing import MissingTally, missing_mask
from dynaclr.numerics.repeats import MIN_SIGNAL_SHARE, MIN_SIGNAL_VOXELS, constant_level, too_few_for_signal
from dynaclr.numerics.saturation import (
    MAX_SATURATED_SHARE,
    SATURATION_OUTLIER_FACTOR,
    full_scale_share,
    saturation_outliers,
)

__all__ = [
    "DEGENERATE_SCALE",
    "MAX_SAMPLES_PER_FRAME",
    "MIN_SIGNAL_SHARE",
    "MIN_SIGNAL_VOXELS",
    "OUTLIER_RANGE_FACTOR",
    "ChannelStatistics",
    "Normalization",
    "channel_statistics",
    "sample_frames",
]

logger = logging.getLogger(__name__)

#: Names of the normalisations.
Normalization = Literal["zscore", "median_p99"]

#: Voxels per frame (about) used for the median and the 99th percentile (a regular subsample).
MAX_SAMPLES_PER_FRAME = 1 << 18

#: A voxel farther from its frame's median than this many times the frame's 1st–99th percentile
#: range is an outlier candidate (a hot pixel, a cosmic ray); the candidates are left out of the mean
#: and standard deviation, which one such voxel per frame would otherwise dominate (a 65535-count hot
#: pixel lifts the std of a 512 x 512 frame with std 30 to 131), only when they are few (fewer than
#: the larger of :data:`MIN_SIGNAL_VOXELS` and :data:`MIN_SIGNAL_SHARE` of the frame's voxels): sparse
#: bright signal (nuclei on under 1 % of the pixels, far above a quiet background) reaches it too, and
#: stays in.
OUTLIER_RANGE_FACTOR = 50.0

#: A scale at or below this times ``max(1, |center|)`` is degenerate (the channel is flat).
DEGENERATE_SCALE = 1e-9


@dataclass
class ChannelStatistics:
    """Normalisation statistics of one channel of one FOV (intensities in the source's units).

    ``center``/``scale`` are the FOV-level values; ``center_per_time``/``scale_per_time`` (one per
    frame, constant frames filled with the FOV values) are set when normalising per time point.
    ``n_frames`` counts the frames read, ``empty_frames`` lists the constant ones and
    ``dropped_frames`` the mostly missing ones (frame indices, :mod:`dynaclr.numerics.missing`),
    ``degenerate_frames`` those whose own scale is degenerate (per time point only: they use the
    FOV values);
    ``missing_voxels`` counts the missing voxels of the frames read (dropped frames included),
    ``outlier_voxels`` those left out of ``mean`` and ``std`` (:data:`OUTLIER_RANGE_FACTOR`);
    ``constant_levels`` is each constant frame's value (``empty_frames`` order, ``None`` without a
    finite voxel) and ``off_background_frames`` the constant frames whose level is not the FOV's
    background (module docstring); ``saturated_frames`` lists the over-exposed frames left out of the
    FOV-level statistics as outliers (module docstring; per time point they keep their own).
    """

    channel: str
    normalization: str
    center: float
    scale: float
    mean: float
    std: float
    median: float
    p99: float
    n_frames: int
    empty_frames: list[int] = field(default_factory=list)
    dropped_frames: list[int] = field(default_factory=list)
    degenerate_frames: list[int] = field(default_factory=list)
    missing_voxels: int = 0
    outlier_voxels: int = 0
    constant_levels: list[float | None] = field(default_factory=list)
    off_background_frames: list[int] = field(default_factory=list)
    saturated_frames: list[int] = field(default_factory=list)
    center_per_time: list[float] | None = None
    scale_per_time: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def center_scale(self, t: int | None = None) -> tuple[float, float]:
        """``(center, scale)`` to use at frame ``t`` (the FOV values for ``None`` or FOV-level statistics)."""
        if t is not None and self.center_per_time is not None and self.scale_per_time is not None:
            return self.center_per_time[t], self.scale_per_time[t]
        return self.center, self.scale

    def apply(self, values: np.ndarray, t: int | None = None) -> np.ndarray:
        """``(values - center) / scale`` of an array of any shape (at frame ``t``), float32."""
        center, scale = self.center_scale(t)
        return (np.asarray(values, dtype=np.float32) - np.float32(center)) / np.float32(scale)


def sample_frames(n_frames: int, n_samples: int) -> list[int]:
    """``n_samples`` evenly spaced frame indices in ``[0, n_frames)`` (all frames if fewer)."""
    return sorted({round(float(t)) for t in np.linspace(0, n_frames - 1, min(n_samples, n_frames))})


def _subsample(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(-1)
    return flat[:: max(1, flat.size // MAX_SAMPLES_PER_FRAME)]


def _center_scale(
    normalization: str, mean: float, std: float, median: float, p99: float, sample: np.ndarray
) -> tuple[float, float]:
    if normalization == "zscore":
        return mean, std
    return median, _p99_spread(median, p99, sample)


def _p99_spread(median: float, p99: float, sample: np.ndarray) -> float:
    """``p99 - median``; where that is degenerate but at least :data:`MIN_SIGNAL_SHARE` of the sample
    lies above the median (sparse signal over a background of one value, e.g. cells on fewer than
    1 % of the pixels of background-subtracted data clipped at 0), the 99th percentile of those
    voxels minus the median, so the signal still maps to about 1 rather than the scale falling
    back to 1 (raw units)."""
    spread = p99 - median
    if spread > DEGENERATE_SCALE * max(1.0, abs(median)):
        return spread
    above = sample[sample > median]
    if above.size == 0 or too_few_for_signal(above.size, sample.size):
        return spread
    return float(np.percentile(above, 99.0)) - median


def _is_degenerate(scale: float, center: float) -> bool:
    return not (np.isfinite(scale) and scale > DEGENERATE_SCALE * max(1.0, abs(center)))


def _checked_scale(
    scale: float, center: float, where: str, require_signal: bool, std: float, top_plateau: bool
) -> float:
    """``scale``, or where it is degenerate the standard deviation ``std`` (outliers left out) when
    more than half of the voxels sit at the maximum (``top_plateau``: ``median_p99`` over a saturated
    channel, its 99th percentile is its median) and the others vary, unless ``require_signal`` (an
    error naming the saturation); else 1 with a warning or an error (``require_signal``)."""
    if not _is_degenerate(scale, center):
        return float(scale)
    if top_plateau and not _is_degenerate(std, center):
        if require_signal:
            raise ArtifactError(
                f"{where}: more than half of the voxels sit at the maximum {center:.6g} (saturated, e.g. "
                "at the camera's full scale), so median_p99 gives no scale (its median and 99th "
                "percentile are both the maximum); acquire with a shorter exposure or leave the FOV out"
            )
        logger.warning(
            "%s: the median and the 99th percentile are both %.6g (most voxels share that value, e.g. "
            "saturated at the camera's maximum), so median_p99 gives no scale; using the standard "
            "deviation %.6g (a scale of 1 would leave the channel in raw counts)",
            where,
            center,
            std,
        )
        return float(std)
    if require_signal:
        raise ArtifactError(
            f"{where}: intensity statistics give a zero or invalid scale ({scale:.3g} around {center:.6g}); "
            "the channel has too little signal to normalise"
        )
    logger.warning("%s: degenerate normalisation scale %.3g; using 1 (the channel is flat)", where, scale)
    return 1.0


def _check_arguments(frames: list[int], normalization: str, per_time_point: bool, where: str) -> None:
    if per_time_point and frames != list(range(len(frames))):
        raise ValueError(f"{where}: per-time-point statistics need the frames 0..T-1 in order, got {frames}")
    if normalization not in get_args(Normalization):
        raise ValueError(
            f"unknown normalization {normalization!r}; expected one of {get_args(Normalization)}"
        )


@dataclass
class _PooledFrames:
    """Running sums over the voxels of the non-constant frames, and each frame's subsample."""

    total: float = 0.0
    total_sq: float = 0.0
    count: int = 0
    samples: list[np.ndarray] = field(default_factory=list)
    constants: dict[int, float | None] = field(default_factory=dict)
    """The value of each constant frame (not pooled above; ``None`` without a finite voxel)."""
    outliers: int = 0
    """Voxels left out of the sums (:data:`OUTLIER_RANGE_FACTOR`)."""
    top_plateau_frames: list[int] = field(default_factory=list)
    """With ``per_time_point``: the frames more than half of whose voxels sit at their maximum
    (:func:`_top_plateau`)."""

    def add(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pool a float64 frame: its voxels without outliers into the sums, its float32 subsample
        (:data:`MAX_SAMPLES_PER_FRAME`, outliers kept) into the samples. Returns both."""
        sample = _subsample(values).astype(np.float32)
        low, median, high = (float(v) for v in np.percentile(sample, [1.0, 50.0, 99.0]))
        inliers = np.abs(values - median) <= OUTLIER_RANGE_FACTOR * (high - low)
        n_outliers = values.size - int(np.count_nonzero(inliers))
        if n_outliers and too_few_for_signal(n_outliers, values.size):  # many: sparse signal, kept
            values = values[inliers]
            self.outliers += n_outliers
        self.total += float(values.sum())
        self.total_sq += float(np.square(values).sum())
        self.count += values.size
        self.samples.append(sample)
        return values, sample

    def merge(self, other: _PooledFrames) -> None:
        """Pool the sums, samples and outliers of ``other`` (frames without constants) into these."""
        self.total += other.total
        self.total_sq += other.total_sq
        self.count += other.count
        self.outliers += other.outliers
        self.samples.extend(other.samples)

    def mean_std_median_p99(self) -> tuple[float, float, float, float, np.ndarray]:
        """Exact mean and standard deviation; median and 99th percentile of the subsamples, and the
        subsamples pooled."""
        mean = self.total / self.count
        std = float(np.sqrt(max(self.total_sq / self.count - mean * mean, 0.0)))
        sample = np.concatenate(self.samples)
        median, p99 = (float(v) for v in np.percentile(sample, [50.0, 99.0]))
        return mean, std, median, p99, sample


def _frame_center_scale(values: np.ndarray, sample: np.ndarray, normalization: str) -> tuple[float, float]:
    """One frame's ``(center, scale)``: exact mean and std (of ``values``, outliers left out),
    subsampled median and p99."""
    median, p99 = (float(v) for v in np.percentile(sample, [50.0, 99.0]))
    return _center_scale(normalization, float(values.mean()), float(values.std()), median, p99, sample)


def _pool_frames(
    read_frame: Callable[[int], np.ndarray],
    frames: list[int],
    normalization: str,
    per_time_point: bool,
    tally: MissingTally,
) -> tuple[_PooledFrames, list[tuple[float, float] | None], list[int], list[int]]:
    """Read each frame once and pool the finite voxels of the non-constant, non-dropped ones, the
    over-exposed ones (:func:`~dynaclr.numerics.saturation.full_scale_share` above
    :data:`~dynaclr.numerics.saturation.MAX_SATURATED_SHARE`) apart until every frame is
    read: those whose share at full scale is an outlier among the frames with signal
    (:func:`~dynaclr.numerics.saturation.saturation_outliers`) stay out, the others are pooled.

    Returns the pool, each frame's ``(center, scale)`` (``None`` for a constant or dropped frame, or
    for all frames unless ``per_time_point``), the constant frames' indices and the over-exposed
    frames left out of the pool; ``tally`` counts the missing voxels and lists the dropped frames."""
    pooled = _PooledFrames()
    exposed: dict[int, _PooledFrames] = {}
    shares: dict[int, float] = {}
    per_frame: list[tuple[float, float] | None] = []
    empty: list[int] = []
    for t in frames:
        values = np.asarray(read_frame(t), dtype=np.float64)
        if tally.add(t, values):
            per_frame.append(None)
            continue
        share = full_scale_share(values)  # of every voxel read, as the stages naming saturated_frames count
        missing = missing_mask(values)
        if missing is not None:
            values = values[~missing]
        constant, level = constant_level(values)
        if constant:  # hot pixels over a blank frame too (repeats.is_constant)
            pooled.constants[t] = level
            empty.append(t)
            per_frame.append(None)
            continue
        shares[int(t)] = share
        pool = exposed.setdefault(int(t), _PooledFrames()) if share > MAX_SATURATED_SHARE else pooled
        values, sample = pool.add(values)
        per_frame.append(_frame_center_scale(values, sample, normalization) if per_time_point else None)
        median = float(np.median(sample))
        if per_time_point and _top_plateau(normalization, sample, median):
            if not _is_degenerate(float(values.std()), median):  # the rest varies: saturated, not flat
                pooled.top_plateau_frames.append(t)
    left_out = saturation_outliers(shares)
    for t, frame_pool in exposed.items():
        if t not in left_out:
            pooled.merge(frame_pool)
    return pooled, per_frame, empty, left_out


def _pooled_values(
    pooled: _PooledFrames, frames: list[int], where: str, require_signal: bool
) -> tuple[float, float, float, float, np.ndarray]:
    """``(mean, std, median, p99, pooled subsample)``; when every frame is constant an error, or
    the frames' constant (their mean; 0 without any finite voxel) as mean, median and p99, std 0
    and an empty subsample."""
    if pooled.count:
        return pooled.mean_std_median_p99()
    if require_signal:
        raise ArtifactError(
            f"{where}: every frame of {frames} is constant (no signal); this FOV cannot be normalised "
            "(a FOV without this channel, e.g. without a nuclear marker, cannot be used)"
        )
    levels = [v for v in pooled.constants.values() if v is not None]
    level = float(np.mean(levels)) if levels else 0.0
    logger.warning(
        "%s: every frame is constant (%.6g); statistics default to center %.6g, scale 1 (the channel "
        "normalises to 0)",
        where,
        level,
        level,
    )
    return level, 0.0, level, level, np.empty(0, dtype=np.float32)


def channel_statistics(
    read_frame: Callable[[int], np.ndarray],
    frames: Sequence[int],
    normalization: Normalization,
    *,
    channel: str = "",
    per_time_point: bool = False,
    require_signal: bool = False,
    where: str = "",
) -> ChannelStatistics:
    """Statistics of one channel from the frames ``frames``, read one at a time (one pass).

    Args:
        read_frame: frame index → the channel's ``(Z, Y, X)`` volume (any real dtype).
        frames: the frame indices to pool; ``0 .. T-1`` in order when ``per_time_point``.
        normalization: ``"zscore"`` or ``"median_p99"``.
        channel: channel name, stored with the statistics.
        per_time_point: also compute each frame's ``center``/``scale``.
        require_signal: fail when every frame is constant or a scale is degenerate (else warn
            and fall back, see the module docstring).
        where: text naming the plate, FOV and channel in messages.

    Raises:
        MissingDataError: more than :data:`~dynaclr.numerics.missing.FAIL_FOV_SHARE` of the
            voxels read are missing.
        ArtifactError: ``require_signal`` and the channel has no usable signal.
        ValueError: an unknown ``normalization``, or ``per_time_point`` with frames other than
            ``0 .. T-1``.
    """
    frames = list(frames)
    _check_arguments(frames, normalization, per_time_point, where)
    tally = MissingTally(where)
    pooled, per_frame, empty, saturated = _pool_frames(
        read_frame, frames, normalization, per_time_point, tally
    )
    tally.check_fov()
    if saturated:
        logger.warning(
            "%s: frame(s) %s have more than %g%% of their voxels at a camera's full scale (over-exposed) "
            "and more than %g times the median share of the FOV's frames with signal: left out of the "
            "normalisation statistics (listed as saturated_frames of the statistics: "
            "normalization_saturated_frames in the patch record, phase_normalization_saturated_frames "
            "in the prediction record), where their plateau would shift every frame's centre and scale",
            where,
            saturated[:10],
            100.0 * MAX_SATURATED_SHARE,
            SATURATION_OUTLIER_FACTOR,
        )
    mean, std, median, p99, sample = _pooled_values(pooled, frames, where, require_signal)
    if empty:
        logger.info("%s: ignoring %d constant frame(s) %s in the statistics", where, len(empty), empty[:10])
    center, scale = _center_scale(normalization, mean, std, median, p99, sample)
    top_plateau = _top_plateau(normalization, sample, median)
    stats = ChannelStatistics(
        channel=channel,
        normalization=normalization,
        center=float(center),
        scale=_checked_scale(scale, center, where, require_signal, std, top_plateau),
        mean=float(mean),
        std=std,
        median=median,
        p99=p99,
        n_frames=len(frames),
        empty_frames=empty,
        dropped_frames=list(tally.dropped_frames),
        missing_voxels=tally.missing_voxels,
        outlier_voxels=pooled.outliers,
        constant_levels=[pooled.constants[t] for t in empty],
        off_background_frames=_off_background(pooled.constants, sample),
        saturated_frames=saturated,
    )
    if per_time_point:
        _set_per_time(stats, per_frame, pooled.top_plateau_frames, where)
    return stats


def _top_plateau(normalization: str, sample: np.ndarray, median: float) -> bool:
    """Whether more than half of the voxels of ``sample`` (median ``median``) sit at its maximum
    under ``median_p99`` (saturated, e.g. at the camera's full scale: the 99th percentile is the
    median and nothing lies above it)."""
    return normalization == "median_p99" and sample.size > 0 and float(sample.max()) <= median


def _off_background(constants: dict[int, float | None], sample: np.ndarray) -> list[int]:
    """The constant frames whose level lies outside the 1st–99th percentiles of ``sample`` (the
    pooled voxels of the non-constant frames; every constant frame when there are none)."""
    if sample.size == 0:
        return list(constants)
    low, high = (float(v) for v in np.percentile(sample, [1.0, 99.0]))
    return [t for t, level in constants.items() if level is None or not low <= level <= high]


def _set_per_time(
    stats: ChannelStatistics,
    per_frame: list[tuple[float, float] | None],
    top_plateau_frames: list[int],
    where: str,
) -> None:
    """Each frame's centre and scale: its own, or the FOV's for a constant, dropped or degenerate
    frame (the degenerate ones listed in ``stats.degenerate_frames`` and logged at WARNING, those
    more than half saturated, ``top_plateau_frames``, named so, the others as flat)."""
    stats.degenerate_frames = [t for t, v in enumerate(per_frame) if v and _is_degenerate(v[1], v[0])]
    own = [None if v is None or t in stats.degenerate_frames else v for t, v in enumerate(per_frame)]
    stats.center_per_time = [v[0] if v else stats.center for v in own]
    stats.scale_per_time = [v[1] if v else stats.scale for v in own]
    saturated = [t for t in stats.degenerate_frames if t in top_plateau_frames]
    flat = [t for t in stats.degenerate_frames if t not in top_plateau_frames]
    for frames, why in (
        (saturated, "more than half saturated (most voxels at its maximum, e.g. a camera's full scale)"),
        (flat, "flat"),
    ):
        if frames:
            logger.warning(
                "%s: %d frame(s) %s %s, a degenerate scale of their own: normalised with the FOV's "
                "centre %.6g and scale %.6g",
                where,
                len(frames),
                frames[:10],
                why,
                stats.center,
                stats.scale,
            )


def is_standardization(mean: np.ndarray, std: np.ndarray, width: int) -> bool:
    """Whether ``mean`` and ``std`` are a z-score of ``width`` features: one finite mean and one finite,
    non-negative std per feature (a classifier's recorded source statistics, an embeddings store's
    ``raw_mean``/``raw_std``)."""
    return bool(
        mean.shape == (width,)
        and std.shape == (width,)
        and np.all(np.isfinite(mean))
        and np.all(np.isfinite(std))
        and not np.any(std < 0)
    )


def zscore_with(matrix: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``matrix`` (rows by columns) z-scored column-wise with ``mean`` and ``std``; 0 in a column whose
    std is 0 (a constant feature)."""
    return np.where(std > 0, (matrix - mean) / np.where(std > 0, std, 1.0), 0.0)
