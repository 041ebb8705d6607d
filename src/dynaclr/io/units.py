"""The one vocabulary of length and time units as microscope software writes them in free text: OME-XML
(``PhysicalSize*Unit``, ``TimeIncrementUnit``), ImageJ (``unit``, ``tunit``) and TrackMate
(``spatialunits``, ``timeunits``), looked up stripped (:func:`micrometres_per`, :func:`seconds_per`):
names of more than two characters in any case ("Sec", "MICRON"), symbols exactly as written, but for
the few of :data:`SHORT_SPELLINGS` (OME's ``Mm`` is the megametre and ``Ms`` the megasecond, no
millimetre or millisecond).

Micro is spelled three ways: the micro sign U+00B5 ("µm", what OME's schema lists), the Greek small
letter mu U+03BC ("μm", what other writers and keyboards produce: the two look alike and NFKC folds
the first into the second) and ImageJ's escape ``\\u00B5m``; each is read. The OME-NGFF units of a
plate's axes ("micrometer", "second", ...) are a closed list of the specification's own, kept apart
in :mod:`dynaclr.io.plate`, which refuses any other. Dependency-free.
"""

from __future__ import annotations

from collections.abc import Iterable

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


#: Symbols of one or two characters read in another case than the tables' (others are case-sensitive:
#: ``Mm``, ``MM`` and ``Ms`` are not ``mm`` and ``ms``).
SHORT_SPELLINGS: dict[str, str] = {"S": "s", "H": "h", "UM": "um", "Um": "um", "NM": "nm", "US": "us"}


def unit_key(unit: object) -> str:
    """How ``unit`` is looked up in :data:`LENGTH_UNITS_UM` and :data:`TIME_UNITS_S` (whose keys are in
    lower case): stripped; in lower case where longer than two characters (a name, ImageJ's
    ``\\u00B5m``), a symbol of one or two exactly as written or as :data:`SHORT_SPELLINGS` gives it."""
    text = str(unit).strip()
    return text.lower() if len(text) > 2 else SHORT_SPELLINGS.get(text, text)


def spellings(units: Iterable[str]) -> str:
    """``units`` (a table's keys) as an error message lists them: readable, ImageJ's escape shown as
    written in a file (``\\u00b5m``, not Python's doubled backslash)."""
    return ", ".join(units)


def micrometres_per(unit: object) -> float | None:
    """Micrometres per length ``unit``; None: not in :data:`LENGTH_UNITS_UM`."""
    return LENGTH_UNITS_UM.get(unit_key(unit))


def seconds_per(unit: object) -> float | None:
    """Seconds per time ``unit``; None: not in :data:`TIME_UNITS_S`."""
    return TIME_UNITS_S.get(unit_key(unit))
