"""Sanity check of a plate's stated pixel size against the size of the nuclei tracking segmented.

Nothing else compares a plate's scale with what its images show: a plate stating 1 µm pixels that
are really 0.325 µm (its time scale set, so not taken for iohub's default of ones) is resampled,
tracked and embedded at the wrong physical size with exit 0. Tracking segments every nucleus anyway,
so each FOV's record holds the median equivalent diameter of its detections (the diameter of the
disc of the same area; in 3D the area of the nucleus projected along Z) in pixels and in µm at the
stated pixel size. A median outside :data:`PLAUSIBLE_DIAMETER_UM` is logged at WARNING (plate, FOV,
the median in px and µm, the pixel size and where it was stated, the pixel size that would make it
:data:`TYPICAL_DIAMETER_UM`) and the QC table marks the FOV ``reduced``. Nothing is refused: a
heuristic must not stop valid data (organoids, yeast, giant cells, a segmentation of clumps).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Plausible median equivalent diameter (µm) of the nuclei of cultured cells, as tracking segments
#: them (the disc of a nucleus's projected area). Nuclei of adherent cell lines project about
#: 100-300 µm² (HeLa, A549, U2OS, MCF-7, fibroblasts: equivalent diameters about 11-20 µm; the
#: demo's simulated nuclei 9.4-9.7 µm); lymphocytes and stem cells 5-8 µm across. Below 4 µm
#: (yeast, bacteria, or pixels stated too small) or above 22 µm (giant or polyploid cells, clumps
#: segmented as one, or pixels stated too large) the FOV is warned about, never refused. The upper
#: bound is tight on purpose: a 0.325 µm plate stated at 1 µm (probe10 variant m) has nuclei of
#: 8-9 µm read as 25-28 µm, inside a looser 30 µm. A pixel size wrong by a factor of 2 (0.325 for
#: 0.65 µm) is not caught for typical nuclei.
PLAUSIBLE_DIAMETER_UM: tuple[float, float] = (4.0, 22.0)
#: The nuclear diameter (µm) a message takes as typical, to say which pixel size would give it.
TYPICAL_DIAMETER_UM = 10.0
#: Record keys of the check (the tracking record's metrics; absent from a record made before it).
DIAMETER_PX_KEY = "median_nucleus_diameter_px"
DIAMETER_UM_KEY = "median_nucleus_diameter_um"
PIXEL_SIZE_KEY = "pixel_size_um"
PIXEL_SIZE_SOURCE_KEY = "pixel_size_source"
IMPLAUSIBLE_KEY = "nucleus_size_implausible"


def equivalent_diameters(areas_px: Sequence[float] | np.ndarray) -> np.ndarray:
    """The diameter (px) of the disc of each area (px²)."""
    return 2.0 * np.sqrt(np.asarray(areas_px, dtype=np.float64) / math.pi)


def nucleus_size_metrics(
    areas_px: Sequence[float] | np.ndarray,
    pixel_size_um: float | None,
    source: str,
    where: str,
) -> dict[str, Any]:
    """The record's nuclear-size metrics of one FOV from its detections' areas (px²), warning where
    the median diameter in µm is implausible (see the module's docstring).

    ``pixel_size_um``: the stated pixel size (None: stated by nothing, so no µm value and no check);
    ``source``: where it was stated, for the record and the message; ``where``: plate and FOV, for the
    message. No detection: the diameters are None and nothing is checked.
    """
    median_px = float(np.median(equivalent_diameters(areas_px))) if len(areas_px) else None
    median_um = median_px * pixel_size_um if median_px is not None and pixel_size_um is not None else None
    low, high = PLAUSIBLE_DIAMETER_UM
    implausible = median_um is not None and not low <= median_um <= high
    if implausible:
        assert median_px is not None and median_um is not None  # for mypy: implausible says so
        logger.warning(
            "%s: the nuclei's median equivalent diameter is %.1f px, %.1f µm at the stated pixel size of "
            "%g µm (%s), outside %g-%g µm for nuclei of cultured cells; a pixel size of %.3g µm would make "
            "it a typical %g µm. Check the plate's scale (or set acquisition.pixel_size_um where the plate "
            "states none): patches resampled to a pixel size show the wrong physical area. Kept (organoids, "
            "yeast or giant cells may be this size)",
            where,
            median_px,
            median_um,
            pixel_size_um,
            source,
            low,
            high,
            TYPICAL_DIAMETER_UM / median_px,
            TYPICAL_DIAMETER_UM,
        )
    return {
        DIAMETER_PX_KEY: median_px,
        DIAMETER_UM_KEY: median_um,
        PIXEL_SIZE_KEY: pixel_size_um,
        PIXEL_SIZE_SOURCE_KEY: source,
        IMPLAUSIBLE_KEY: implausible,
    }


def nucleus_size_reason(metrics: dict[str, Any]) -> str | None:
    """The QC reason of a record whose nuclear size is implausible (:data:`IMPLAUSIBLE_KEY`), else None
    (a record made before the check has none of its keys: None)."""
    if not metrics.get(IMPLAUSIBLE_KEY):
        return None
    low, high = PLAUSIBLE_DIAMETER_UM
    median_px = float(metrics[DIAMETER_PX_KEY])
    return (
        f"nuclei's median diameter {float(metrics[DIAMETER_UM_KEY]):.1f} µm ({median_px:.1f} px at the "
        f"stated {float(metrics[PIXEL_SIZE_KEY]):g} µm pixels, {metrics.get(PIXEL_SIZE_SOURCE_KEY, '?')}) "
        f"outside {low:g}-{high:g} µm: pixel size misstated? ({TYPICAL_DIAMETER_UM / median_px:.3g} µm "
        f"would give {TYPICAL_DIAMETER_UM:g} µm)"
    )
