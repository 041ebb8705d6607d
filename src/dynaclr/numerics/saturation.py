"""Saturation: voxels clipped at a camera's full scale.

A camera of 8 to 16 bits clips over-exposed pixels at its full scale, ``2**bits - 1`` counts
(:data:`CAMERA_FULL_SCALES`), whatever integer type stores them: a 12-bit camera's counts in uint16
saturate at 4095, not at the type's 65535. Such voxels form a plateau at the image's maximum.
Phase reconstruction (:meth:`dynaclr.phase.reconstruct.ReconstructionTotals.count_maximum`) and
virtual staining's prediction (its integer label-free input) with :func:`saturated_frame`, the
tracking maps (:func:`dynaclr.tracking.maps.saturated_voxels`) and the patches
(:class:`dynaclr.patches.extract.SaturationCount`) find it with :func:`full_scale_plateau`, each
deciding how many voxels make it saturation (the rules and their thresholds side by side:
docs/reliability.md, "Saturation"). The normalisation statistics leave out the over-exposed frames
(:func:`full_scale_share` above :data:`MAX_SATURATED_SHARE`) whose share is an outlier among
their FOV's frames (:func:`saturation_outliers`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Full-scale values of 8- to 16-bit cameras (``2**bits - 1`` counts): the level saturated pixels
#: take in raw counts. A virtual stain (float) or a binary image never sits at one of them.
CAMERA_FULL_SCALES = frozenset(float(2**bits - 1) for bits in range(8, 17))


def full_scale_plateau(values: NDArray) -> tuple[float, NDArray[np.bool_]] | None:
    """The finite maximum of ``values`` and the mask of the voxels at it, when that maximum is a
    camera's full scale (:data:`CAMERA_FULL_SCALES`); ``None`` otherwise (missing voxels never
    count, and an array without a finite voxel has no plateau)."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    top = float(values[finite].max())
    if top not in CAMERA_FULL_SCALES:
        return None
    return top, finite & (values == top)


def two_valued(values: NDArray, at_max: NDArray[np.bool_]) -> bool:
    """Whether the finite voxels of ``values`` not in ``at_max`` (the full-scale plateau) exist and
    all share one value: a binary mask (0/255), whose full scale is its foreground, not saturation."""
    below = values[np.isfinite(values) & ~at_max]
    return below.size > 0 and float(below.min()) == float(below.max())


#: Share of an input stack's voxels at a camera's full scale above which the frame is called saturated
#: (over-exposed) by phase reconstruction (its brightfield) and virtual staining's prediction (its
#: label-free input: an integer channel of the plate with ``phase: null``): :func:`saturated_frame`.
#: On the simulated 8-bit brightfield of a 75 x 133 px FOV, the phase's Pearson r with the unsaturated
#: reconstruction was 0.99 with 2.7 % of the voxels saturated, 0.91 with 31 %, 0.75 with 89 % and 0.49
#: with 99 % (r with the true phase 0.71, 0.64, 0.49, 0.26), each exit 0.
MAX_SATURATED_SHARE = 0.01


def saturated_frame(values: NDArray) -> tuple[float, int] | None:
    """The camera's full scale and the number of voxels of the stack ``values`` at it, where its maximum
    is a full scale (:func:`full_scale_plateau`) held by more than :data:`MAX_SATURATED_SHARE` of its
    voxels (an over-exposed frame); ``None`` otherwise."""
    plateau = full_scale_plateau(values)
    if plateau is None:
        return None
    top, at_maximum = plateau
    n_at_maximum = int(np.count_nonzero(at_maximum))
    return (top, n_at_maximum) if n_at_maximum > MAX_SATURATED_SHARE * values.size else None


def full_scale_share(values: NDArray) -> float:
    """The share of the voxels of the frame ``values`` (every voxel read in the denominator) on its
    full-scale plateau (:func:`full_scale_plateau`); 0 without one or for a binary mask
    (:func:`two_valued`: a 0/255 mask's full scale is its foreground)."""
    plateau = full_scale_plateau(values)
    if plateau is None or two_valued(values, plateau[1]):
        return 0.0
    return int(np.count_nonzero(plateau[1])) / values.size if values.size else 0.0


#: How many times the median full-scale share of its FOV's frames with signal an over-exposed frame's
#: share must exceed for the normalisation statistics to leave it out (:func:`saturation_outliers`).
#: A flash is an outlier: one frame 31 % at 65535 against about 0 % in the other nine. Dense 8-bit
#: fluorescence whose nuclei clip at 255 is not: as cells multiply the share grows smoothly (0.37 % to
#: 3.9 % over ten frames, at most 1.9 times the median 2.1 %), and leaving out its 8 frames above 1 %
#: took the FOV's statistics from the 2 sparse early frames (``zscore`` centre/scale 22.5/23.7 against
#: 28.9/43.9 from every frame). Three doublings of the cells in a movie put its last frame under 3
#: times the median.
SATURATION_OUTLIER_FACTOR = 5.0


def saturation_outliers(shares: dict[int, float]) -> list[int]:
    """The frames (keys of ``shares``: each frame with signal and its :func:`full_scale_share`) the
    normalisation statistics leave out: over-exposed (more than :data:`MAX_SATURATED_SHARE`) with a
    share over :data:`SATURATION_OUTLIER_FACTOR` times the median share of ``shares``. Being above the
    median, they are never a majority of the frames with signal (all of them over-exposed alike: none)."""
    if not shares:
        return []
    level = SATURATION_OUTLIER_FACTOR * float(np.median(list(shares.values())))
    return sorted(t for t, share in shares.items() if share > MAX_SATURATED_SHARE and share > level)
