"""Missing voxels: the one policy every stage that reads pixels follows.

A voxel is *missing* when it is not finite (NaN or ±inf): a tile the microscope did not write, a
stitching gap, a frame a plate exporter filled with NaN, or a frame an earlier stage of this
workflow dropped (it writes NaN there). Integer images (camera counts) have no missing voxels.

1. **Statistics ignore missing voxels**: normalisation centres and scales, percentiles, means and
   correlations are computed over the finite voxels only.
2. **A frame** (one time point of one channel: the voxels the stage uses of it) **whose missing share
   exceeds** :data:`DROP_FRAME_SHARE` **is dropped**: the stage does not use it (see the table),
   logs a WARNING and lists it in the FOV's record (``dropped_frames``).
3. **Below that share, missing voxels are filled** for the computation with the stage's neutral
   value (table) and counted (``missing_voxels``, ``filled_voxels`` in the record).
4. **A FOV whose missing share over the frames read exceeds** :data:`FAIL_FOV_SHARE` **fails** with
   a :class:`MissingDataError` naming the plate, FOV, channel, the share and what to do: its results
   would be mostly made up, so no stage passes it on as if it were data.

What each stage does with a dropped frame, and the value it fills missing voxels with below the
threshold:

* phase reconstruction: not reconstructed, written as NaN; the frame's median brightfield (counts,
  before normalisation), so the modulation is 0 there;
* virtual staining, prediction: predicted as NaN; 0 after normalisation (the FOV's mean phase);
* virtual staining, training: never sampled; 0 after normalisation;
* tracking maps: no detections (an empty frame); background (0 after normalisation), and a missing
  pixel is never foreground;
* patch extraction: no patches at that frame; 0 after normalisation (the FOV's centre);
* evaluations (phase, virtual staining): voxels missing in either image are left out.

Clean data (no missing voxel) takes exactly the code path it took before this policy existed:
:func:`fill_missing` returns its input unchanged, so outputs stay bit for bit the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dynaclr.io import ArtifactError

__all__ = [
    "BRIGHTFIELD_VOXELS_READ_KEY",
    "DROP_FRAME_SHARE",
    "FAIL_FOV_SHARE",
    "FILLED_PADDING_KEY",
    "FOV_FIX",
    "MIN_FILLED_PADDING_SHARE",
    "MissingDataError",
    "MissingTally",
    "count_missing",
    "fill_missing",
    "frame_is_dropped",
    "missing_mask",
]

logger = logging.getLogger(__name__)

#: A frame with more than this share of its voxels missing is dropped (one half: most of it is gone).
DROP_FRAME_SHARE = 0.5

#: A FOV with more than this share of the voxels of its frames missing fails (one half).
FAIL_FOV_SHARE = 0.5

#: Record key of phase reconstruction's padding voxels (brightfield voxels at the pixel type's minimum,
#: ``dynaclr.phase.reconstruct.padding_mask``: a stitched plate's zero padding, dead pixels) of the frames
#: it reconstructed, filled with their stack's median brightfield as missing voxels are: no phase there,
#: and the FOV's phase statistics move (2, 10 and 21 % of the columns at 0: the phase there r 0.87, 0.69
#: and 0.43 with the true phase, the FOV's phase centre -2, -9 and -21 %, its scale -1, -6 and -12 %), so
#: the QC table marks the FOV ``reduced``. A dropped frame's padding is counted in
#: ``voxels_at_pixel_type_minimum`` only: the frame carries its drop reason.
FILLED_PADDING_KEY = "filled_padding_voxels"

#: Record key of the brightfield voxels phase reconstruction read (every frame's stack): the
#: denominator of :data:`MIN_FILLED_PADDING_SHARE`.
BRIGHTFIELD_VOXELS_READ_KEY = "brightfield_voxels_read"

#: Share of the brightfield voxels read (:data:`BRIGHTFIELD_VOXELS_READ_KEY`) above which filled padding
#: (:data:`FILLED_PADDING_KEY`) marks the FOV ``reduced`` in the QC table (0.1 %). Padding on 2 % of the
#: columns already left r 0.87 with the true phase there and moved the FOV's centre by 2 %; a few dead
#: pixels (5 voxels of 600 million) change nothing measurable, and a FOV is not reduced for them (the
#: count stays in the record and the WARNING). 0.15 % dead pixels are above it.
MIN_FILLED_PADDING_SHARE = 1e-3

#: What the error of a mostly missing FOV tells the user to do.
FOV_FIX = (
    "Exclude the FOV from the dataset (a plate without that position) or fix the acquisition "
    "(re-export or re-acquire the FOV without the missing data)"
)


class MissingDataError(ArtifactError):
    """A FOV (or a stack that cannot be dropped) has too many missing voxels to be used."""


def missing_mask(values: np.ndarray) -> np.ndarray | None:
    """Boolean mask of the missing (non-finite) voxels, or ``None`` when none is missing."""
    values = np.asarray(values)
    if values.dtype.kind not in "fc":
        return None
    mask = ~np.isfinite(values)
    return mask if mask.any() else None


def count_missing(values: np.ndarray) -> int:
    """Number of missing voxels of ``values`` (0 for integer images)."""
    mask = missing_mask(values)
    return 0 if mask is None else int(mask.sum())


def frame_is_dropped(n_missing: int, n_voxels: int) -> bool:
    """Whether a frame of ``n_voxels`` with ``n_missing`` missing is dropped (:data:`DROP_FRAME_SHARE`)."""
    return n_missing > DROP_FRAME_SHARE * n_voxels


def fill_missing(values: np.ndarray, fill_value: float) -> np.ndarray:
    """``values`` with every missing voxel set to ``fill_value``; ``values`` itself when none is missing."""
    mask = missing_mask(values)
    if mask is None:
        return values
    return np.where(mask, np.asarray(fill_value, dtype=values.dtype), values)


@dataclass
class MissingTally:
    """The missing voxels of one channel of one FOV, frame by frame (:meth:`add`).

    Attributes:
        where: names the plate, FOV and channel in messages (``"<plate> FOV A/1/0 channel 'Nuclei'"``).
        expected_voxels: voxels of all the frames the stage will read, when known: the FOV then
            fails as soon as its missing voxels exceed :data:`FAIL_FOV_SHARE` of them (the same
            verdict :meth:`check_fov` gives at the end, without reading the rest).
        n_frames, n_voxels: frames and voxels seen.
        missing_voxels: missing voxels seen (dropped frames included).
        filled_voxels: missing voxels of the frames used (the stage filled them).
        dropped_frames: the dropped frames' indices.
    """

    where: str
    expected_voxels: int | None = None
    n_frames: int = 0
    n_voxels: int = 0
    missing_voxels: int = 0
    filled_voxels: int = 0
    dropped_frames: list[int] = field(default_factory=list)

    def add(self, t: int, values: np.ndarray) -> bool:
        """Count frame ``t`` (the voxels the stage uses); returns whether it is dropped.

        A dropped frame is logged at WARNING. Raises :class:`MissingDataError` once the FOV's
        missing voxels exceed :data:`FAIL_FOV_SHARE` of ``expected_voxels``.
        """
        n_missing, size = count_missing(values), int(np.asarray(values).size)
        self.n_frames += 1
        self.n_voxels += size
        self.missing_voxels += n_missing
        dropped = frame_is_dropped(n_missing, size)
        if dropped:
            self.dropped_frames.append(int(t))
            logger.warning(
                "%s: frame t=%d dropped: %.1f%% of its voxels are missing (NaN or inf), more than %.0f%%",
                self.where,
                t,
                100.0 * n_missing / max(size, 1),
                100.0 * DROP_FRAME_SHARE,
            )
        else:
            self.filled_voxels += n_missing
        if self.expected_voxels and self.missing_voxels > FAIL_FOV_SHARE * self.expected_voxels:
            self._fail(self.missing_voxels / self.expected_voxels, "at least ")
        return dropped

    def not_used(self, values: np.ndarray) -> None:
        """The frame :meth:`add` last counted as used (``values``) is dropped by the stage for another
        cause (constant, no brightfield intensity): its missing voxels were never filled, so they leave
        ``filled_voxels`` (they stay in ``missing_voxels``)."""
        self.filled_voxels -= count_missing(values)

    @property
    def missing_share(self) -> float:
        """Share of the voxels seen that are missing (0 before any frame)."""
        return self.missing_voxels / self.n_voxels if self.n_voxels else 0.0

    def check_fov(self) -> None:
        """Raise :class:`MissingDataError` when more than :data:`FAIL_FOV_SHARE` of the voxels are missing;
        log the filled voxels at WARNING otherwise."""
        if self.missing_share > FAIL_FOV_SHARE:
            self._fail(self.missing_share, "")
        if self.filled_voxels:
            logger.warning(
                "%s: %d missing voxel(s) (NaN or inf) filled in frames that were used",
                self.where,
                self.filled_voxels,
            )

    def _fail(self, share: float, bound: str) -> None:
        raise MissingDataError(
            f"{self.where}: {bound}{100.0 * share:.1f}% of the FOV's voxels are missing (NaN or inf; "
            f"{len(self.dropped_frames)} of the {self.n_frames} frames read dropped), more than "
            f"the {100.0 * FAIL_FOV_SHARE:.0f}% a FOV may miss: its results would be mostly made up. "
            f"{FOV_FIX}."
        )

    def metrics(self) -> dict[str, Any]:
        """The record's metrics: ``missing_voxels``, ``filled_voxels``, ``missing_share``,
        ``dropped_frames``."""
        return {
            "missing_voxels": self.missing_voxels,
            "filled_voxels": self.filled_voxels,
            "missing_share": self.missing_share,
            "dropped_frames": list(self.dropped_frames),
        }
