"""Frames or hours: the unit in which the DTW outputs' times are shown.

DTW pseudo-time, a lineage's time since its event and an onset error are counted in frames (the
``t`` of the tracks). Where the dataset's frame interval is known (the plate's
``time_interval_minutes``, as the results table carries it), the figures and the first page give
them in hours; otherwise in frames, and they say the interval is not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FrameClock:
    """Frames shown in hours where ``minutes_per_frame`` (a finite positive interval) is known."""

    minutes_per_frame: float | None = None

    @classmethod
    def of(cls, minutes: object) -> FrameClock:
        """The clock of a frame interval as a table or a rule gives it (NaN, None, 0 or a negative
        value: not known)."""
        value = pd.to_numeric(pd.Series([minutes], dtype=object), errors="coerce").iloc[0]
        known = pd.notna(value) and bool(np.isfinite(value)) and float(value) > 0
        return cls(float(value) if known else None)

    @property
    def known(self) -> bool:
        """Whether the frame interval is known (times are then shown in hours)."""
        return self.minutes_per_frame is not None

    @property
    def per_frame(self) -> float:
        """What one frame is in :attr:`unit`: hours per frame, or 1 (frames)."""
        return self.minutes_per_frame / 60.0 if self.minutes_per_frame is not None else 1.0

    @property
    def unit(self) -> str:
        """``h`` where the interval is known, else ``frames``."""
        return "h" if self.known else "frames"

    @property
    def stated(self) -> str:
        """Which unit the times are in, and why: ``hours (one frame = 30 min)`` or ``frames (the
        frame interval is not recorded)``."""
        if self.minutes_per_frame is None:
            return "frames (the frame interval is not recorded)"
        return f"hours (one frame = {self.minutes_per_frame:g} min)"

    def in_hours(self, frames: float) -> str:
        """`` = 0.92 h``: ``frames`` in hours, to follow a value given in frames; empty where the
        frame interval is not known."""
        return f" = {frames * self.per_frame:.2f} h" if self.known else ""

    def offset(self, frames: float, decimals: int = 1) -> str:
        """A signed span of ``frames`` as a label reads it: ``-1.0 h`` (``decimals`` places) where
        the frame interval is known, else ``-4 frames``."""
        if self.known:
            return f"{frames * self.per_frame:+.{decimals}f} h"
        return f"{frames:+.0f} frames"

    def __call__(self, frames: object) -> np.ndarray:
        """``frames`` (a number or an array of frames) in :attr:`unit`."""
        return np.asarray(frames, dtype=np.float64) * self.per_frame
