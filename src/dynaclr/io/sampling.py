"""The one plausibility rule for a physical pixel size or z step, wherever it enters: a config key
(:func:`dynaclr.config.base.nanometre_hint`), a plate's scale
(:attr:`dynaclr.io.plate.PlateSampling.implausible`, refused by the dry run) or a TIFF file's metadata
(:mod:`dynaclr.convert.tiff`).

A size outside the bounds of live-cell light microscopy is refused, and one whose thousandth lies in
the typical range of the size (:func:`nanometre_range`) is said to be nanometres (what microscope
metadata writes: 65 for a 100x objective's 0.065 µm pixel); any other is told only the bounds (a
60 µm organoid survey step is not 60 nm, nor a 25 µm pixel 25 nm). Taken as micrometres, a 65 µm
pixel makes a cell sub-pixel, and the phase transfer function, the patches' physical size, the
transfer checks between datasets and the plates written would all be wrong, with exit 0.
Dependency-free, so that the config models and the plate reader share it, and the one tolerance
within which two sizes are the same sampling (:data:`SCALE_RELATIVE_TOLERANCE`).
"""

from __future__ import annotations

import math

#: Largest relative difference of pixel size, z step or time interval taken as the same sampling:
#: calibrated pixel sizes of one nominal magnification differ by 1-3 %, and a trained model has seen
#: YX zooms of 1 +- ``augmentation.affine_scale_range`` (default 0.2) in training, so 5 % is well
#: inside what it learnt from while another objective (a factor 1.5 or 2) is not. Here, not in
#: :mod:`dynaclr.config.plate_checks`, so that the config models (which do not import iohub) share it.
SCALE_RELATIVE_TOLERANCE = 0.05


def sampling_differs(found: float, expected: float) -> bool:
    """Both values are usable sizes and differ by more than :data:`SCALE_RELATIVE_TOLERANCE`."""
    usable = all(math.isfinite(v) and v > 0 for v in (found, expected))
    return usable and abs(found - expected) > SCALE_RELATIVE_TOLERANCE * expected


#: Pixel sizes at the sample (µm) of live-cell light microscopy. Smallest: a 100x/1.45 objective with
#: 1.5-2x extra magnification on a camera of 3.45-6.5 µm pixels samples 0.02-0.04 µm, already 5-10
#: times finer than the diffraction limit (about 0.2 µm) needs; largest: a 1-2x objective on a camera
#: of 13-16 µm pixels, binned, about 10-20 µm, a pixel as large as a whole cell (10-30 µm), below
#: which no tracking or patch sees one. Sizes written in nanometres (20-20,000) lie above.
PIXEL_SIZE_RANGE_UM = (0.02, 20.0)
#: Distances between slices (µm). Smallest: a piezo stage's 0.05 µm steps, four times finer than
#: the axial Nyquist step of a 1.4 NA objective (about 0.2 µm); largest: a low-NA survey through a
#: thick sample (an organoid, an embryo) in steps of tens of µm. Steps written in nanometres
#: (50-50,000) lie above.
Z_STEP_RANGE_UM = (0.05, 50.0)
#: Pixel sizes (µm) a thousandth of a value outside :data:`PIXEL_SIZE_RANGE_UM` must land in to be
#: called nanometres: the typical pixels of 10x-100x objectives (0.05-2 µm; 65 nm, 650 nm).
PIXEL_SIZE_NANOMETRE_RANGE_UM = (0.05, 2.0)
#: z steps (µm) a thousandth of a value outside :data:`Z_STEP_RANGE_UM` must land in to be called
#: nanometres: the typical steps of a z-stack (0.1-10 µm; 250 nm, 2000 nm).
Z_STEP_NANOMETRE_RANGE_UM = (0.1, 10.0)


def sampling_range(key: str) -> tuple[float, float]:
    """The bounds (µm) of the size a key or attribute names: :data:`Z_STEP_RANGE_UM` for a z step
    (a name holding ``z_step``), else :data:`PIXEL_SIZE_RANGE_UM`."""
    return Z_STEP_RANGE_UM if "z_step" in key else PIXEL_SIZE_RANGE_UM


def nanometre_range(key: str) -> tuple[float, float]:
    """The typical range (µm) of the size a key names, where the thousandth of a value outside
    :func:`sampling_range` must land for it to be read as nanometres: :data:`Z_STEP_NANOMETRE_RANGE_UM`
    for a z step, else :data:`PIXEL_SIZE_NANOMETRE_RANGE_UM`."""
    return Z_STEP_NANOMETRE_RANGE_UM if "z_step" in key else PIXEL_SIZE_NANOMETRE_RANGE_UM


def sampling_what(key: str) -> str:
    """What ``key`` measures, in words (``"a z step"``, ``"a pixel size"``)."""
    return "a z step" if "z_step" in key else "a pixel size"


def within(value: float, bounds: tuple[float, float]) -> bool:
    """Whether ``value`` lies in ``[low, high]`` (a NaN does not)."""
    low, high = bounds
    return low <= value <= high


def reads_as_nanometres(
    value: float, bounds: tuple[float, float], typical: tuple[float, float] | None = None
) -> bool:
    """Whether ``value`` (µm) lies outside ``bounds`` while its thousandth lies in ``typical`` (the
    typical range of the length; ``bounds`` where None): a length written in nanometres."""
    return not within(value, bounds) and within(value / 1000.0, bounds if typical is None else typical)


def sampling_reads_as_nanometres(value: float, key: str) -> bool:
    """:func:`reads_as_nanometres` of the pixel size or z step ``key``: outside
    :func:`sampling_range`, its thousandth in :func:`nanometre_range`."""
    return reads_as_nanometres(value, sampling_range(key), nanometre_range(key))


def implausible_sampling(value_um: float, key: str) -> str | None:
    """What is wrong with ``value_um`` as the size ``key`` names (:func:`sampling_range`), or None
    where it is plausible: the bounds and the value, and what it is if read in nanometres
    (:func:`sampling_reads_as_nanometres`: ``"expected a pixel size between 0.02 and 20 µm, found
    65 µm: 65 looks like nanometres (0.065 µm)"``)."""
    bounds = sampling_range(key)
    if within(value_um, bounds):
        return None
    low, high = bounds
    text = (
        f"expected {sampling_what(key)} between {low:g} and {high:g} µm (live-cell microscopy), found "
        f"{value_um:g} µm"
    )
    if sampling_reads_as_nanometres(value_um, key):
        text += f": {value_um:g} looks like nanometres ({value_um / 1000.0:g} µm)"
    return text
