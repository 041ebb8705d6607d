"""Saturation: voxels clipped at a camera's full scale.

A camera of 8 to 16 bits clips over-exposed pixels at its full scale, ``2**bits - 1`` counts
(:data:`CAMERA_FULL_SCALES`), whatever integer type stores them: a 12-bit camera's counts in uint16
saturate at 4095, not at the type's 65535. Such voxels form a plateau at the image's maximum.
Phase reconstruction (:meth:`dynaclr.phase.reconstruct.ReconstructionTotals.count_maximum`), the
tracking maps (:func:`dynaclr.tracking.maps.saturated_voxels`) and the patches
(:class:`dynaclr.patches.extract.SaturationCount`) find it with :func:`full_scale_plateau`, each
deciding how many voxels make it saturation (the three rules and their thresholds side by side:
docs/reliability.md, "Saturation").
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
