"""The one vocabulary of length and time units as microscope software writes them in free text: OME-XML
(``PhysicalSize*Unit``, ``TimeIncrementUnit``), ImageJ (``unit``, ``tunit``) and TrackMate
(``spatialunits``, ``timeunits``), looked up stripped and in lower case (:func:`micrometres_per`,
:func:`seconds_per`).

Micro is spelled three ways: the micro sign U+00B5 ("µm", what OME's schema lists), the Greek small
letter mu U+03BC ("μm", what other writers and keyboards produce: the two look alike and NFKC folds
the first into the second) and ImageJ's escape ``\\u00B5m``; each is read. The OME-NGFF units of a
plate's axes ("micrometer", "second", ...) are a closed list of the specification's own, kept apart
in :mod:`dynaclr.io.plate`, which refuses any other. Dependency-free.
"""

from __future__ import annotations

#: Micrometres per length unit.
LENGTH_UNITS_UM: dict[str, float] = {
    **dict.fromkeys(("nm", "nanometer", "nanometre", "nanometers", "nanometres"), 1e-3),
    **dict.fromkeys(
        (
            *("µm", "μm", "\\u00b5m", "um"),
            *("micron", "microns", "micrometer", "micrometre", "micrometers", "micrometres"),
        ),
        1.0,
    ),
    **dict.fromkeys(("mm", "millimeter", "millimetre", "millimeters", "millimetres"), 1e3),
}
#: Seconds per time unit (ImageJ writes "sec" where it writes none; its own "Sec", "Min", "Hours").
TIME_UNITS_S: dict[str, float] = {
    **dict.fromkeys(("us", "µs", "μs", "\\u00b5s", "usec", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
}


def unit_key(unit: object) -> str:
    """How ``unit`` is looked up in :data:`LENGTH_UNITS_UM` and :data:`TIME_UNITS_S`: stripped, in lower
    case."""
    return str(unit).strip().lower()


def micrometres_per(unit: object) -> float | None:
    """Micrometres per length ``unit``; None: not in :data:`LENGTH_UNITS_UM`."""
    return LENGTH_UNITS_UM.get(unit_key(unit))


def seconds_per(unit: object) -> float | None:
    """Seconds per time ``unit``; None: not in :data:`TIME_UNITS_S`."""
    return TIME_UNITS_S.get(unit_key(unit))
