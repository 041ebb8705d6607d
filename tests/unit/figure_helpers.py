"""What a matplotlib figure shows: a figure a streamed stage draws against its in-memory reference."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def drawn(figure: Figure) -> dict[str, tuple[list, list[np.ndarray]]]:
    """What ``figure`` shows, per axes: its texts (title, axis labels, legend entries) and how many
    bars, lines and collections it draws; and, as float arrays, their values (axis limits, bars as x,
    width and height, each line, each collection's points)."""
    shown: dict[str, tuple[list, list[np.ndarray]]] = {}
    for number, ax in enumerate(figure.axes):
        legend = ax.get_legend()
        texts = [
            ax.get_title(),
            ax.get_xlabel(),
            ax.get_ylabel(),
            [text.get_text() for text in legend.get_texts()] if legend is not None else [],
            (len(ax.patches), len(ax.lines), len(ax.collections)),
        ]
        values = [
            np.asarray(ax.get_xlim(), dtype=float),
            np.asarray(ax.get_ylim(), dtype=float),
            np.array(
                [(patch.get_x(), patch.get_width(), patch.get_height()) for patch in ax.patches], dtype=float
            ),
            *(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float) for line in ax.lines),
            *(np.asarray(collection.get_offsets(), dtype=float) for collection in ax.collections),
        ]
        shown[f"axes {number}"] = (texts, values)
    return shown


def assert_same_drawing(figure: Figure, expected: Figure, *, rtol: float = 0.0, atol: float = 0.0) -> None:
    """``figure`` shows what ``expected`` shows: the same texts, and the same values, exactly unless
    ``rtol`` or ``atol`` allow more."""
    shown, wanted = drawn(figure), drawn(expected)
    assert shown.keys() == wanted.keys()
    for name, (texts, values) in shown.items():
        expected_texts, expected_values = wanted[name]
        assert texts == expected_texts, name
        assert len(values) == len(expected_values), name
        for value, expected_value in zip(values, expected_values, strict=True):
            np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=atol, strict=True, err_msg=name)
