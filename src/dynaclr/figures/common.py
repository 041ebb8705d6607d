"""Shared figure helpers: headless figures (no pyplot state) written as PNG and SVG, atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dynaclr.classify.annotations import match_annotations
from dynaclr.io import atomic_output

#: File formats every figure is written in.
FIGURE_FORMATS: tuple[str, ...] = ("png", "svg")


def new_figure(width_in: float, height_in: float) -> Figure:
    """A matplotlib Figure rendered with the Agg canvas (never touches pyplot's global state)."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


def save_figure(figure: Figure, path: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``figure`` as ``{stem}.png`` and ``{stem}.svg`` beside ``path`` (its suffix is ignored).

    Returns:
        The written paths.
    """
    path = Path(path)
    written = []
    for fmt in FIGURE_FORMATS:
        target = path.with_suffix(f".{fmt}")
        with atomic_output(target) as tmp:
            figure.savefig(tmp, dpi=dpi, format=fmt)
        written.append(target)
    return written


def attach_ground_truth(
    cells: pd.DataFrame,
    ground_truth: pd.DataFrame,
    columns: tuple[str, ...] = ("infected", "mitosis"),
    on: str = "position",
    max_distance_px: float = 6.0,
) -> pd.DataFrame:
    """Copy ground-truth ``columns`` onto ``cells`` (e.g. a projections table) by cell matching.

    Cells without a ground-truth match get NaN. Matching as
    :func:`~dynaclr.classify.annotations.match_annotations` (``on='track'`` or ``'position'``).
    """
    rows = match_annotations(ground_truth, cells, on=on, max_distance_px=max_distance_px)  # type: ignore[arg-type]
    out = cells.reset_index(drop=True).copy()
    matched = rows >= 0
    for column in columns:
        values = np.full(len(out), np.nan)
        values[rows[matched]] = ground_truth[column].to_numpy(dtype=np.float64)[matched]
        out[column] = values
    return out
