"""Sanity check of a plate's stated pixel size against the size of the nuclei tracking segmented.

Nothing else compares a plate's scale with what its images show: a plate stating 1 µm pixels that
are really 0.325 µm (its time scale set, so not taken for iohub's default of ones) is resampled,
tracked and embedded at the wrong physical size with exit 0. Tracking segments every nucleus anyway,
so each FOV's record holds the median equivalent diameter of its detections (the diameter of the
disc of the same area; in 3D of the label's own projection along Z) in
pixels and in µm at the stated pixel size. A median outside :data:`PLAUSIBLE_DIAMETER_UM` is logged
at WARNING (plate, FOV, the median in px and µm, the pixel size and where it was stated, the pixel
size that would make it :data:`TYPICAL_DIAMETER_UM`) and the QC table marks the FOV ``reduced``
("nuclei unusually large/small (pixel size misstated?)": a treatment that grows nuclei reads alike).
Nothing is refused: a heuristic must not stop valid data (organoids, yeast, giant cells, clumps).

What it cannot catch: ultrack cuts components larger than ``tracking.segmentation.max_area_px``
into pieces where its hierarchy offers smaller ones, and keeps none smaller than ``min_area_px``, so
the median mostly stays in the range those bounds give (the defaults, 60-450 px at 0.65 µm:
5.7-15.6 µm; the dry run's block scaled from the *stated* pixel size keeps those µm bounds whatever
the true size). Not strictly: nuclei it could not cut stay whole (probe10 variant m: a median of
about 460 px with the 450 px cap, 530 px with the 190 px one). Nuclei larger than the cap, or pixels
stated too large, show as detections piled up at or above the cap: where at
least :data:`AT_CAP_WARNING_SHARE` of them have at least :data:`AT_CAP_FRACTION` of
``max_area_px`` (the demo: at most 0.2 %), a WARNING names the key, the share and both causes and
the QC row is ``reduced``. Where a bound lies inside the plausible range the record says the check
is limited (:data:`CHECK_LIMIT_KEY`). A pixel size wrong by a factor of 2 is not caught for typical
nuclei. A FOV of fewer than :data:`MIN_DETECTIONS` detections is measured, not judged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Plausible median equivalent diameter (µm) of the nuclei of cultured cells, as tracking segments
#: them (the disc of a nucleus's projected area); approximate bounds, from published sizes, not a
#: calibration. Nuclei of adherent cell lines project about
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
AT_CAP_SHARE_KEY = "nucleus_share_at_max_area"
AT_CAP_KEY = "nucleus_size_at_max_area"
CHECK_LIMIT_KEY = "nucleus_size_check_limit"
#: A detection of at least this fraction of ``segmentation.max_area_px`` counts as at the cap.
AT_CAP_FRACTION = 0.9
#: From this share of detections at the cap the FOV is warned about: nuclei cut into pieces. The
#: demo's FOVs (default tracking, 0.65 µm pixels) have at most 0.2 % there; nuclei twice the cap's
#: area (a plate's pixels stated too large, or large nuclei) put most of their pieces there.
AT_CAP_WARNING_SHARE = 0.25
#: Fewest detections (over the FOV's frames) whose median diameter or share at the cap is judged: a
#: FOV of one or two cells (one large or binucleate nucleus) says nothing of the plate's scale.
MIN_DETECTIONS = 20


def equivalent_diameters(areas_px: Sequence[float] | np.ndarray) -> np.ndarray:
    """The diameter (px) of the disc of each area (px²)."""
    return 2.0 * np.sqrt(np.asarray(areas_px, dtype=np.float64) / math.pi)


def nucleus_size_metrics(
    areas_px: Sequence[float] | np.ndarray,
    pixel_size_um: float | None,
    source: str,
    where: str,
    *,
    area_bounds_px: tuple[int, int],
    sizes_px: Sequence[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """The record's nuclear-size metrics of one FOV from its detections' areas (px²), warning where
    the median diameter in µm is implausible or the detections pile up at the segmentation's cap (see
    the module's docstring).

    ``pixel_size_um``: the stated pixel size (None: stated by nothing, so no µm value and no check);
    ``source``: where it was stated, for the record and the message; ``where``: plate and FOV, for the
    message; ``area_bounds_px``: the segmentation's ``(min_area_px, max_area_px)``; ``sizes_px``: the
    detections' sizes those bounds apply to where they differ from ``areas_px`` (voxels in 3D: then
    the floor says nothing of the projected area and is not taken as a limit). No detection: the
    diameters are None and nothing is checked.
    """
    min_area, max_area = area_bounds_px
    sizes = np.asarray(areas_px if sizes_px is None else sizes_px, dtype=np.float64)
    at_cap = float(np.mean(sizes >= AT_CAP_FRACTION * max_area)) if sizes.size else None
    median_px = float(np.median(equivalent_diameters(areas_px))) if len(areas_px) else None
    median_um = median_px * pixel_size_um if median_px is not None and pixel_size_um is not None else None
    low, high = PLAUSIBLE_DIAMETER_UM
    enough = sizes.size >= MIN_DETECTIONS
    implausible = enough and median_um is not None and not low <= median_um <= high
    if implausible:
        assert median_px is not None and median_um is not None  # for mypy: implausible says so
        logger.warning(
            "%s: the nuclei's median equivalent diameter is %.1f px, %.1f µm at the stated pixel size of "
            "%g µm (%s), outside %g-%g µm for nuclei of cultured cells; a pixel size of %.3g µm would make "
            "it a typical %g µm. Check the plate's scale (or set acquisition.pixel_size_um where the plate "
            "states none): patches resampled to a pixel size show the wrong physical area. Kept (organoids, "
            "yeast, giant cells or a treatment may make nuclei this size)",
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
    piled = enough and at_cap is not None and at_cap >= AT_CAP_WARNING_SHARE
    if at_cap is not None and piled:
        logger.warning(
            "%s: %.0f%% of the detections have at least %g%% of tracking.segmentation.max_area_px (%d px): "
            "ultrack cuts larger components where it can, so nuclei are likely cut into pieces and their "
            "size cannot be checked. Either the nuclei are larger than the cap (raise max_area_px), touching "
            "nuclei of a confluent FOV are segmented as one, or the pixel size (%s µm, %s) is misstated "
            "(too large: the dry run scaled the cap from it)",
            where,
            100 * at_cap,
            100 * AT_CAP_FRACTION,
            max_area,
            "none" if pixel_size_um is None else f"{pixel_size_um:g}",
            source,
        )
    return {
        DIAMETER_PX_KEY: median_px,
        DIAMETER_UM_KEY: median_um,
        PIXEL_SIZE_KEY: pixel_size_um,
        PIXEL_SIZE_SOURCE_KEY: source,
        IMPLAUSIBLE_KEY: implausible,
        AT_CAP_SHARE_KEY: at_cap,
        AT_CAP_KEY: piled,
        CHECK_LIMIT_KEY: _check_limit(pixel_size_um, min_area if sizes_px is None else None, max_area),
    }


def _check_limit(pixel_size_um: float | None, min_area: int | None, max_area: int) -> str | None:
    """Where the segmentation's area bounds, in µm at the stated pixel size, lie inside
    :data:`PLAUSIBLE_DIAMETER_UM` (so a median beyond them cannot be seen): which, in a few words."""
    if pixel_size_um is None:
        return None
    low, high = PLAUSIBLE_DIAMETER_UM
    limits = []
    if min_area is not None and (floor := float(equivalent_diameters([min_area])[0]) * pixel_size_um) > low:
        limits.append(f"min_area_px {min_area} floors it at {floor:.1f} µm")
    if (ceiling := float(equivalent_diameters([max_area])[0]) * pixel_size_um) < high:
        limits.append(f"max_area_px {max_area} caps it near {ceiling:.1f} µm")
    return f"{' and '.join(limits)}, inside {low:g}-{high:g} µm" if limits else None


def nucleus_size_reasons(metrics: dict[str, Any]) -> list[str]:
    """The QC reasons of a record whose nuclear size is implausible (:data:`IMPLAUSIBLE_KEY`) or whose
    detections pile up at the cap (:data:`AT_CAP_KEY`); none for a record made before the check."""
    reasons = []
    if metrics.get(IMPLAUSIBLE_KEY):
        low, high = PLAUSIBLE_DIAMETER_UM
        median_px = float(metrics[DIAMETER_PX_KEY])
        median_um = float(metrics[DIAMETER_UM_KEY])
        reasons.append(
            f"nuclei unusually {'large' if median_um > high else 'small'} (pixel size misstated?): median "
            f"diameter {median_um:.1f} µm ({median_px:.1f} px at the stated "
            f"{float(metrics[PIXEL_SIZE_KEY]):g} µm pixels, {metrics.get(PIXEL_SIZE_SOURCE_KEY, '?')}) "
            f"outside {low:g}-{high:g} µm ({TYPICAL_DIAMETER_UM / median_px:.3g} µm would give "
            f"{TYPICAL_DIAMETER_UM:g} µm)"
        )
    if metrics.get(AT_CAP_KEY):
        reasons.append(
            f"{100 * float(metrics[AT_CAP_SHARE_KEY]):.0f}% of nuclei near tracking.segmentation.max_area_px "
            f"(at least {100 * AT_CAP_FRACTION:g}% of it): likely cut into pieces "
            "(nuclei larger than the cap, touching nuclei segmented as one, or pixel size misstated?)"
        )
    return reasons


def nucleus_size_flagged(metrics: dict[str, Any]) -> bool:
    """Whether the record's nuclear size makes its QC row ``reduced`` (:func:`nucleus_size_reasons`)."""
    return bool(metrics.get(IMPLAUSIBLE_KEY) or metrics.get(AT_CAP_KEY))
