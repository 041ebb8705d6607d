"""Evaluation figures (matplotlib, headless). Every plotting function returns ``(Figure, caption)``;
:func:`save_figure` writes it to the paths a rule names (PNG, SVG).
"""

from dynaclr.figures.plots import (
    plot_distance_distributions,
    plot_infected_fraction,
    plot_projections,
    plot_pseudotime_accuracy,
)
from dynaclr.figures.table import (
    formatted_results_table,
    plot_results_table,
    results_table,
    results_table_html,
)
from dynaclr.io.figures import new_figure, save_figure

__all__ = [
    "formatted_results_table",
    "new_figure",
    "plot_distance_distributions",
    "plot_infected_fraction",
    "plot_projections",
    "plot_pseudotime_accuracy",
    "plot_results_table",
    "results_table",
    "results_table_html",
    "save_figure",
]
