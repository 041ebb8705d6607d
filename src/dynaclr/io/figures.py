"""Figure artifacts: headless matplotlib figures (no pyplot state) written atomically as PNG or SVG.

Not imported by ``dynaclr.io`` itself (matplotlib is heavy): ``from dynaclr.io.figures import ...``.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from dynaclr.io import atomic_output


def new_figure(width_in: float, height_in: float) -> Figure:
    """A matplotlib Figure rendered with the Agg canvas (never touches pyplot's global state)."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


def save_figure(figure: Figure, *paths: str | Path, dpi: int = 150) -> None:
    """Write ``figure`` to each of ``paths`` (atomically), in the format of the path's suffix."""
    for path in map(Path, paths):
        with atomic_output(path) as tmp:
            figure.savefig(tmp, dpi=dpi, format=path.suffix.lstrip("."))
