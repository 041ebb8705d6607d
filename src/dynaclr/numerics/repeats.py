"""Repeated frames: a frame equal voxel for voxel to the frame before it.

A camera's noise never repeats, so a stack identical to the one before is a frame written twice (an
acquisition software or export fault), not a time point: the cells did not move, and motion, temporal
smoothness and time-aware positives across it see a zero step. Every stage that reads each frame of a
FOV's channel in order (phase reconstruction, virtual staining's prediction, tracking) finds them the
same way, :class:`RepeatedFrames`, and lists them as ``repeated_frames`` in the FOV's record, which
the QC table reports (``reduced``). A digest of each stack is kept, not the stack: one frame in memory.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)


def stack_digest(counts: np.ndarray) -> bytes:
    """A BLAKE2b digest of a stack's values, pixel type and shape: two stacks have one digest exactly
    where :func:`numpy.array_equal` (``equal_nan=True``) holds between them, barring a hash collision.
    Floating-point values are canonicalised first (any NaN the same NaN, -0.0 as 0.0), as that
    comparison sees them. Kept instead of the frame before, to find a repeated frame."""
    values = np.ascontiguousarray(counts)
    if not values.dtype.isnative:  # one byte order, so equal values of >u2 and <u2 hash alike
        values = values.astype(values.dtype.newbyteorder("="))
    if np.issubdtype(values.dtype, np.inexact):
        values = values + values.dtype.type(0)  # a copy, -0.0 + 0.0 = 0.0
        values[np.isnan(values)] = np.nan
    digest = hashlib.blake2b(digest_size=32)
    digest.update(f"{values.dtype.str}{values.shape}".encode())
    digest.update(memoryview(values).cast("B"))
    return digest.digest()


@dataclass
class RepeatedFrames:
    """The frames of one FOV's channel, read in order, that repeat the frame before them voxel for
    voxel (``frames``), found by :func:`stack_digest`."""

    frames: list[int] = field(default_factory=list)
    previous: bytes | None = field(default=None, repr=False)

    def repeats(self, stack: np.ndarray) -> bool:
        """Whether ``stack`` equals the stack passed before it (the frame before); every frame read
        is passed, a dropped one too, so the next is compared with its neighbour."""
        digest = stack_digest(stack)
        repeated = digest == self.previous
        self.previous = digest
        return repeated

    def add(self, t: int, stack: np.ndarray, *, dropped: bool = False) -> bool:
        """:meth:`repeats`, listing frame ``t`` in ``frames`` where it repeats, unless it is ``dropped``
        or constant (:func:`is_constant`: an empty frame repeating an empty one): those carry their own
        reason. Whether it is constant is looked at only for a repeat."""
        listed = self.repeats(stack) and not dropped and not is_constant(stack)
        if listed:
            self.frames.append(int(t))
        return listed

    def report(self, where: str, consequence: str) -> None:
        """Log at WARNING, naming ``where``, the frames listed and ``consequence`` (what the stage made
        of them)."""
        if self.frames:
            warn_repeated(where, self.frames, consequence)


def warn_repeated(where: str, frames: list[int], consequence: str) -> None:
    """Log at WARNING, naming ``where``, the repeated ``frames`` and ``consequence``."""
    logger.warning(
        "%s: frame(s) %s repeat the frame before them voxel for voxel (a frame written twice? a "
        "camera's noise never repeats): %s, so motion, temporal metrics and time-aware positives "
        "across it see no change (listed as repeated_frames in the FOV's record and the QC table); "
        "check the acquisition's export",
        where,
        frames[:10],
        consequence,
    )


#: Record key of the frames of a stage's input whose stack is constant (:func:`is_constant`: every finite
#: voxel one value but for hot pixels, a frame without signal: blank, a shutter that did not open, every
#: voxel saturated) that the stage dropped for it (also in ``dropped_frames``): phase reconstruction
#: (brightfield) and virtual staining's prediction (its phase input). The QC table gives them their own
#: reason.
CONSTANT_FRAMES_KEY = "constant_frames"

#: Record key of phase reconstruction's frames (reconstructed, not dropped) whose brightfield stack holds
#: a constant z slice (:func:`is_constant` of the slice once its missing voxels and padding are filled: a
#: slice the acquisition did not write, written as 0 or NaN, or saturated throughout): their phase is
#: reduced (one zero slice of 5 under a camera offset of 0 left r 0.90 with the intact frame's phase),
#: the QC table marks the FOV ``reduced``. A camera's noise never gives a constant slice of lit
#: brightfield. Not looked for in a phase input (a non-negative phase may hold a slice of zeros).
CONSTANT_SLICES_KEY = "frames_with_constant_slices"


def warn_constant(where: str, frames: list[int], consequence: str) -> None:
    """Log at WARNING, naming ``where``, the constant input ``frames`` (:func:`is_constant`) a stage
    dropped and ``consequence`` (what it wrote there)."""
    if not frames:
        return
    logger.warning(
        "%s: frame(s) %s are constant (every voxel one value: no signal, a blank frame, a shutter that "
        "did not open or every voxel saturated): dropped, %s (listed as %s and dropped_frames in the "
        "FOV's record and the QC table); check the acquisition's export",
        where,
        frames[:10],
        consequence,
        CONSTANT_FRAMES_KEY,
    )


#: Share of the (subsampled) voxels that must lie above the median for ``median_p99`` to take its
#: scale from them when the 99th percentile equals the median: fewer are hot pixels, not signal.
MIN_SIGNAL_SHARE = 1e-4

#: Fewest voxels off a flat background (a frame whose 1st and 99th percentiles are equal) that are
#: signal rather than hot pixels or cosmic rays (a nucleus covers hundreds of pixels). The
#: normalisation calls voxels off a flat background hot pixels when fewer than the larger of this and
#: :data:`MIN_SIGNAL_SHARE` of the voxels (:func:`too_few_for_signal`: outliers left out of the mean
#: and standard deviation, no ``median_p99`` scale); a frame is constant (:func:`is_constant`) when
#: fewer than this many voxels, whatever its size, are off its one value (on a 2048 x 2048 frame the
#: share allowed 419 voxels: a nucleus of 300 pixels over an exact 0 was a blank frame).
MIN_SIGNAL_VOXELS = 10

#: Voxels (about) of the regular subsample whose median is a frame's background in :func:`constant_level`.
_LEVEL_SAMPLES = 1 << 18


def too_few_for_signal(n_off_background: int, n_voxels: int) -> bool:
    """Whether ``n_off_background`` voxels off a flat background of ``n_voxels`` are too few to be
    signal, the normalisation's outlier rule: fewer than the larger of :data:`MIN_SIGNAL_VOXELS` and
    :data:`MIN_SIGNAL_SHARE` times ``n_voxels`` (hot pixels)."""
    return n_off_background < max(MIN_SIGNAL_SHARE * n_voxels, MIN_SIGNAL_VOXELS)


def constant_level(stack: np.ndarray) -> tuple[bool, float | None]:
    """Whether ``stack`` is constant (:func:`is_constant`) and its level: the value its finite voxels
    share but for hot pixels (``None`` without a finite voxel; ``(False, None)`` where not constant)."""
    finite = stack[np.isfinite(stack)] if np.issubdtype(stack.dtype, np.inexact) else stack.reshape(-1)
    if finite.size == 0:
        return True, None
    low, high = finite.min(), finite.max()
    if low == high:
        return True, float(low)
    level = np.median(finite[:: max(1, finite.size // _LEVEL_SAMPLES)])
    if int(np.count_nonzero(finite != level)) < MIN_SIGNAL_VOXELS:  # hot pixels, whatever the frame size
        return True, float(level)
    return False, None


def is_constant(stack: np.ndarray) -> bool:
    """Whether the finite voxels of ``stack`` hold one value (or none) but for hot pixels (fewer than
    :data:`MIN_SIGNAL_VOXELS` voxels off it, whatever the frame's size: a blank frame of 0 with
    5 voxels at 65535 was predicted and pooled into the normalisation as data): an empty frame, which
    repeats an empty one before it without being a frame written twice."""
    return constant_level(stack)[0]
