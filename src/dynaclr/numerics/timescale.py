"""Frames or hours: the unit in which the DTW outputs' times are shown.

DTW pseudo-time, a lineage's time since its event and an onset error are counted in frames (the
``t`` of the tracks). Where the dataset's frame interval is known (the plate's
``time_interval_minutes``, as the results table carries it), the figures and the first page give
them in hours; otherwise in frames, and they say the interval is not recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The units of :meth:`FrameClock.offsets`, in the order tried, with their count per minute.
_OFFSET_UNITS = (("h", 1.0 / 60.0), ("min", 1.0), ("s", 60.0))


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
        the frame interval is known, else ``-4 frames``; in minutes (or seconds) where hours would
        show a non-zero span as 0 (:meth:`offsets`)."""
        return self.offsets([frames], decimals)[0]

    def offsets(self, frames: Sequence[float], decimals: int = 1) -> list[str]:
        """Labels of signed spans of ``frames``, in one unit (:meth:`offset`): hours where the frame
        interval is known, else minutes, else seconds, the first in which no non-zero span reads 0
        and spans that differ read differently (at a 6 s interval, a span of 2 frames read
        ``-0.00 h``, and a gallery's columns had one title); ``frames`` where the interval is not
        known."""
        if self.minutes_per_frame is None:
            return [f"{value:+.0f} frames" for value in frames]
        labels: list[str] = []
        for unit, per_minute in _OFFSET_UNITS:
            spans = [value * self.minutes_per_frame * per_minute for value in frames]
            labels = [f"{span:+.{decimals}f} {unit}" for span in spans]
            reads_zero = any(span != 0 and round(abs(span), decimals) == 0 for span in spans)
            if not reads_zero and len(set(labels)) == len(set(frames)):
                break
        return labels

    def __call__(self, frames: object) -> np.ndarray:
        """``frames`` (a number or an array of frames) in :attr:`unit`."""
        return np.asarray(frames, dtype=np.float64) * self.per_frame


def time_unit_of_step(
    step: int, frame_interval_minutes: float | None, multiples: bool = False
) -> tuple[str, float] | None:
    """``(unit, interval)`` where a step of ``step`` in a ``t`` meant to count frames is the plate's
    frame interval in that unit (``"minutes"`` or ``"seconds"``, tried in that order; within 0.1%),
    else None (also where the interval is not known, or ``step`` is 1 or less). With ``multiples``,
    also where ``step`` is a whole multiple of that interval (within 0.1%; the interval itself in
    either unit first; an interval of one unit or less never counts: every step is a multiple of it).

    A table whose ``t`` is a time rather than a frame puts its rows at multiples of this interval:
    imported tracks whose consecutive detections all step by it
    (:func:`dynaclr.tracking.importing.frame_stride_warning`), annotations whose every frame is a
    multiple of it (:func:`dynaclr.classify.annotation_table.check_t_not_time`, with ``multiples``: a
    table in minutes annotated on every other frame has its frames all multiples of twice the
    interval). An interval of one minute makes minutes and frames the same numbers, so only seconds
    (a step of 60) are told apart.
    """
    if frame_interval_minutes is None or step <= 1:
        return None
    units = (("minutes", frame_interval_minutes), ("seconds", frame_interval_minutes * 60))
    for unit, interval in units:
        if np.isclose(step, interval, rtol=1e-3, atol=0):
            return unit, float(interval)
    for unit, interval in units if multiples else ():
        times = step / interval if interval > 1 else 0.0
        if times >= 2 and np.isclose(times, round(times), rtol=1e-3, atol=0):
            return unit, float(interval)
    return None
