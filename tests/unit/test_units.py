"""The one vocabulary of free-text length and time units (dynaclr.io.units)."""

from __future__ import annotations

import pytest

from dynaclr.io.units import micrometres_per, seconds_per


@pytest.mark.parametrize(
    ("unit", "micrometres"),
    [
        ("µm", 1.0),
        ("μm", 1.0),
        ("\\u00B5m", 1.0),
        (" um ", 1.0),
        ("UM", 1.0),
        ("Micron", 1.0),
        ("MICROMETRES", 1.0),
        ("nm", 1e-3),
        ("mm", 1e3),
        ("Millimetre", 1e3),
        ("Mm", None),  # OME's megametre
        ("MM", None),
        ("pm", None),
    ],
)
def test_lengths_are_read_in_their_spellings_and_symbols_keep_their_case(
    unit: str, micrometres: float | None
) -> None:
    """Names are read in any case, but a symbol's case is its meaning: OME's ``Mm`` (megametre) was
    read as a millimetre, 10^9 times too small."""
    assert micrometres_per(unit) == micrometres


@pytest.mark.parametrize(
    ("unit", "seconds"),
    [
        ("s", 1.0),
        ("S", 1.0),
        ("Sec", 1.0),
        ("Min", 60.0),
        ("Hours", 3600.0),
        ("ms", 1e-3),
        ("MSEC", 1e-3),
        ("µs", 1e-6),
        ("\\u00B5s", 1e-6),
        ("Ms", None),  # OME's megasecond
        ("MS", None),
        ("frame", None),
    ],
)
def test_times_are_read_in_their_spellings_and_symbols_keep_their_case(
    unit: str, seconds: float | None
) -> None:
    """OME's ``Ms`` (megasecond) was read as a millisecond."""
    assert seconds_per(unit) == seconds
