"""Per-FOV intensity normalisation of phase (input) and nuclear fluorescence (target).

* Phase: ``(phase - mean) / std`` → zero mean, unit standard deviation per FOV.
* Target: ``(fluorescence - median) / (p99 - median)`` → background (median) at 0 and the
  99th percentile (inside nuclei) at 1 per FOV.

Statistics come from ``normalization_frames`` evenly spaced frames of the FOV, read one
``(Z, Y, X)`` stack at a time and subsampled to at most ``MAX_STATISTICS_VOXELS`` voxels; empty
frames (constant, e.g. a missing channel or a blank acquisition) are ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dynaclr.io import ArtifactError

__all__ = ["IntensityNormalization", "fov_normalization", "sample_frames"]

logger = logging.getLogger(__name__)

#: Voxels kept (at most) for the statistics of one FOV.
MAX_STATISTICS_VOXELS = 4_000_000


@dataclass(frozen=True)
class IntensityNormalization:
    """``normalised = (value - offset) / scale`` (float32)."""

    offset: float
    scale: float

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Normalise an array of any shape; returns float32."""
        return ((np.asarray(values, dtype=np.float32) - self.offset) / self.scale).astype(np.float32)

    def as_dict(self) -> dict[str, float]:
        return {"offset": self.offset, "scale": self.scale}


def sample_frames(n_frames: int, n_samples: int) -> list[int]:
    """``n_samples`` evenly spaced frame indices in ``[0, n_frames)`` (all frames if fewer)."""
    return sorted({round(float(t)) for t in np.linspace(0, n_frames - 1, min(n_samples, n_frames))})


def fov_normalization(
    image: Any,
    channel_index: int,
    mode: Literal["mean_std", "median_p99"],
    n_frames: int,
    description: str,
) -> IntensityNormalization:
    """Normalisation of one channel of one FOV from a few of its frames.

    Args:
        image: the position's ``(T, C, Z, Y, X)`` array (iohub/zarr; only sampled frames are read).
        channel_index: ``C`` index of the channel.
        mode: ``"mean_std"`` (phase) or ``"median_p99"`` (fluorescence target).
        n_frames: how many evenly spaced frames to use.
        description: names the FOV and channel in errors, e.g. ``"raw.zarr A/1/0 channel 'Nuclei'"``.

    Raises:
        ArtifactError: every sampled frame is constant, or the statistics give a zero scale.
    """
    frames = sample_frames(int(image.shape[0]), n_frames)
    voxels_per_frame = int(np.prod(image.shape[2:]))
    stride = max(1, int(np.ceil(voxels_per_frame * len(frames) / MAX_STATISTICS_VOXELS)))
    samples = []
    for t in frames:
        stack = np.asarray(image[t, channel_index], dtype=np.float32).ravel()
        if stack.size == 0 or stack.min() == stack.max():
            logger.debug("%s: frame %d is empty (constant), ignored for normalisation", description, t)
            continue
        samples.append(stack[::stride])
    if not samples:
        raise ArtifactError(
            f"{description}: every sampled frame {frames} is constant (no signal); this FOV cannot be "
            "normalised. If it has no such channel (e.g. no nuclear marker), leave it out of train_fovs."
        )
    values = np.concatenate(samples)
    if mode == "mean_std":
        offset, scale = float(values.mean()), float(values.std())
    else:
        offset, high = (float(v) for v in np.percentile(values, [50.0, 99.0]))
        scale = high - offset
    if not np.isfinite(scale) or scale <= 0:
        raise ArtifactError(
            f"{description}: intensity statistics give a zero or invalid scale ({mode}: offset {offset}, "
            f"scale {scale}); the channel has too little signal to normalise."
        )
    return IntensityNormalization(offset=offset, scale=scale)
