"""Per-FOV (optionally per-time-point) normalisation statistics of patch channels.

Statistics are computed on the Z slices the patches keep, over every time point of the FOV,
before any patch is cut (so extraction can stream one time point at a time). Frames in which a
channel is constant (an empty or missing acquisition) are ignored. Means and standard deviations
are exact; the median and 99th percentile are computed on a regular subsample of at most
:data:`MAX_SAMPLES_PER_FRAME` voxels per frame.

Normalised intensity: ``(x - center) / scale`` with

* ``zscore``: ``center = mean``, ``scale = std``;
* ``median_p99``: ``center = median``, ``scale = p99 - median``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Voxels per frame used for the median and the 99th percentile (a regular subsample).
MAX_SAMPLES_PER_FRAME = 1 << 18

#: A scale below this (relative to max(1, |center|)) is degenerate and replaced by 1.
_DEGENERATE_SCALE = 1e-9


@dataclass
class ChannelStatistics:
    """Normalisation statistics of one channel of one FOV (intensities in the source's units).

    ``center``/``scale`` are the FOV-level values; ``center_per_time``/``scale_per_time`` (one per
    frame, empty frames filled with the FOV values) are set when normalising per time point.
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
    center_per_time: list[float] | None = None
    scale_per_time: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def center_scale(self, t: int) -> tuple[float, float]:
        """``(center, scale)`` to use at frame ``t``."""
        if self.center_per_time is not None and self.scale_per_time is not None:
            return self.center_per_time[t], self.scale_per_time[t]
        return self.center, self.scale


def _subsample(volume: np.ndarray) -> np.ndarray:
    flat = volume.reshape(-1)
    step = max(1, flat.size // MAX_SAMPLES_PER_FRAME)
    return flat[::step]


def _center_scale(
    normalization: str, mean: float, std: float, median: float, p99: float
) -> tuple[float, float]:
    if normalization == "zscore":
        return mean, std
    if normalization == "median_p99":
        return median, p99 - median
    raise ValueError(f"unknown normalization {normalization!r}; expected 'zscore' or 'median_p99'")


def _safe_scale(scale: float, center: float, where: str) -> float:
    if not np.isfinite(scale) or scale <= _DEGENERATE_SCALE * max(1.0, abs(center)):
        logger.warning("%s: degenerate normalisation scale %.3g; using 1 (the channel is flat)", where, scale)
        return 1.0
    return float(scale)


def channel_statistics(
    frames: Iterable[np.ndarray],
    channel: str,
    normalization: str,
    per_time_point: bool,
    where: str = "",
) -> ChannelStatistics:
    """Statistics of one channel from its frames ``(Z, Y, X)`` in time order (one pass).

    Args:
        frames: one volume per time point, any real dtype.
        channel: channel name, stored with the statistics.
        normalization: ``"zscore"`` or ``"median_p99"``.
        per_time_point: also compute per-frame ``center``/``scale``.
        where: text naming the FOV/channel in log messages.
    """
    total = total_sq = 0.0
    count = 0
    samples: list[np.ndarray] = []
    per_frame: list[tuple[float, float] | None] = []
    empty: list[int] = []
    n_frames = 0
    for t, frame in enumerate(frames):
        n_frames += 1
        values = np.asarray(frame, dtype=np.float64)
        if values.size == 0 or values.min() == values.max():
            empty.append(t)
            per_frame.append(None)
            continue
        total += float(values.sum())
        total_sq += float(np.square(values).sum())
        count += values.size
        sample = _subsample(values)
        samples.append(sample.astype(np.float32))
        if per_time_point:
            median, p99 = np.percentile(sample, [50.0, 99.0])
            per_frame.append(
                _center_scale(
                    normalization, float(values.mean()), float(values.std()), float(median), float(p99)
                )
            )
        else:
            per_frame.append(None)
    if count == 0:
        logger.warning("%s: every frame is constant; statistics default to center 0, scale 1", where)
        mean = std = median = p99 = 0.0
    else:
        mean = total / count
        std = float(np.sqrt(max(total_sq / count - mean * mean, 0.0)))
        median, p99 = (float(v) for v in np.percentile(np.concatenate(samples), [50.0, 99.0]))
    if empty:
        logger.info("%s: ignoring %d constant frame(s) %s in the statistics", where, len(empty), empty[:10])
    center, scale = _center_scale(normalization, mean, std, median, p99)
    scale = _safe_scale(scale, center, where)
    stats = ChannelStatistics(
        channel=channel,
        normalization=normalization,
        center=float(center),
        scale=scale,
        mean=float(mean),
        std=std,
        median=median,
        p99=p99,
        n_frames=n_frames,
        empty_frames=empty,
    )
    if per_time_point:
        stats.center_per_time = [float(v[0]) if v else stats.center for v in per_frame]
        stats.scale_per_time = [
            _safe_scale(v[1], v[0], f"{where} t={t}") if v else stats.scale for t, v in enumerate(per_frame)
        ]
    return stats


def fov_statistics(
    read_frame: Callable[[int, int], np.ndarray],
    n_frames: int,
    channels: list[tuple[str, str]],
    per_time_point: bool,
    where: str = "",
) -> list[ChannelStatistics]:
    """Statistics of every channel of one FOV.

    Args:
        read_frame: ``(channel_index, t) -> (Z, Y, X)`` volume of the kept slices.
        n_frames: number of time points.
        channels: ``(name, normalization)`` per channel.
    """
    return [
        channel_statistics(
            (read_frame(index, t) for t in range(n_frames)),
            name,
            normalization,
            per_time_point,
            where=f"{where} {name}".strip(),
        )
        for index, (name, normalization) in enumerate(channels)
    ]
