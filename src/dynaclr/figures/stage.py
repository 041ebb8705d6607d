"""The report rules: one call per figure job, and the summary tables the figures read.

Each ``*_figure`` function reads the artifacts of one ``(model, dataset)``, draws the figure with
:mod:`dynaclr.figures.plots`, writes it as ``{stem}.png`` and ``{stem}.svg`` (the suffix of
``output_path`` is ignored) and returns the caption, which is also logged.

:func:`collect_pseudotime` concatenates the per-job DTW tables (rule ``collect_pseudotime``);
:func:`results_table_stage` writes the model comparison (rule ``results_table``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dynaclr.classify import infected_fraction_over_time, read_predictions
from dynaclr.embeddings import (
    PROJECTIONS_KIND,
    cell_table,
    read_embeddings,
    representation_matrix,
)
from dynaclr.evaluation.tables import read_csv, write_csv
from dynaclr.figures.common import attach_ground_truth, save_figure
from dynaclr.figures.plots import (
    plot_distance_distributions,
    plot_infected_fraction,
    plot_projections,
    plot_pseudotime_accuracy,
)
from dynaclr.figures.table import plot_results_table, results_table, results_table_html
from dynaclr.io import atomic_output, make_provenance, read_table, write_table
from dynaclr.pseudotime.stage import DTW_ACCURACY_COLUMNS, PSEUDOTIME_KIND

logger = logging.getLogger(__name__)


def _label(model: str, dataset: str) -> str:
    return f"{model}, {dataset}"


def _save(figure: Any, caption: str, output_path: str | Path) -> str:
    written = save_figure(figure, output_path)
    logger.info("Wrote %s: %s", ", ".join(map(str, written)), caption)
    return caption


def projections_figure(
    projections_path: str | Path,
    output_path: str | Path,
    model: str,
    dataset: str,
    ground_truth_tracks_path: str | Path | None = None,
    match_on: str = "position",
    max_match_distance_px: float = 6.0,
) -> str:
    """Projections of one model's embeddings coloured by frame, and by infection and division.

    Args:
        projections_path: table of rule ``project_embeddings`` (``pca_*`` or ``umap_*`` columns).
        output_path: figure path; ``{stem}.png`` and ``{stem}.svg`` are written.
        model, dataset: for the title and caption.
        ground_truth_tracks_path: ground truth of a simulated dataset; without it the cells are
            coloured by frame only.
        match_on, max_match_distance_px: how ground-truth cells find their patch
            (:func:`~dynaclr.figures.common.attach_ground_truth`).

    Returns:
        The caption.
    """
    cells, _ = read_table(projections_path, PROJECTIONS_KIND, ("fov_name", "track_id", "t"))
    if ground_truth_tracks_path is not None:
        truth, _ = read_table(ground_truth_tracks_path, "ground_truth_tracks")
        cells = attach_ground_truth(cells, truth, on=match_on, max_distance_px=max_match_distance_px)
    figure, caption = plot_projections(cells, title=_label(model, dataset))
    return _save(figure, caption, output_path)


def distances_figure(
    embeddings_path: str | Path,
    output_path: str | Path,
    model: str,
    dataset: str,
    representation: str = "features",
    seed: int = 0,
) -> str:
    """Adjacent-frame vs random-frame cosine distances of one model's embeddings (appendix C).

    Args:
        embeddings_path: an embeddings store.
        output_path: figure path; ``{stem}.png`` and ``{stem}.svg`` are written.
        model, dataset: for the title and caption.
        representation, seed: as in rule ``temporal_metrics`` (same matrix, same random pairs).

    Returns:
        The caption.
    """
    adata = read_embeddings(embeddings_path)
    figure, caption = plot_distance_distributions(
        representation_matrix(adata, representation),
        cell_table(adata),
        seed=seed,
        label=_label(model, dataset),
    )
    return _save(figure, caption, output_path)


def infected_fraction_figure(
    predictions_path: str | Path,
    ground_truth_tracks_path: str | Path,
    output_path: str | Path,
    model: str,
    dataset: str,
    curves_csv: str | Path | None = None,
) -> str:
    """Predicted (infection classifier) vs true fraction of infected cells per condition over time.

    Args:
        predictions_path: ``predictions`` table of rule ``classify`` (task ``infection``).
        ground_truth_tracks_path: ground truth of the simulated dataset.
        output_path: figure path; ``{stem}.png`` and ``{stem}.svg`` are written.
        model, dataset: for the title and caption.
        curves_csv: optionally, the plotted curves
            (:func:`~dynaclr.classify.infected_fraction_over_time` columns).

    Returns:
        The caption.
    """
    truth, _ = read_table(ground_truth_tracks_path, "ground_truth_tracks")
    curves = infected_fraction_over_time(read_predictions(predictions_path), truth)
    if curves_csv is not None:
        write_csv(curves, curves_csv)
    figure, caption = plot_infected_fraction(curves, label=_label(model, dataset))
    return _save(figure, caption, output_path)


def pseudotime_figure(
    pseudotime_path: str | Path,
    accuracy_csv: str | Path,
    output_path: str | Path,
    model: str,
    dataset: str,
) -> str:
    """DTW pseudo-time against the true time since infection onset, and the onset errors.

    Args:
        pseudotime_path, accuracy_csv: the two outputs of rule ``align_pseudotime``.
        output_path: figure path; ``{stem}.png`` and ``{stem}.svg`` are written.
        model, dataset: for the title and caption.

    Returns:
        The caption.
    """
    pseudotime, _ = read_table(pseudotime_path, PSEUDOTIME_KIND)
    accuracy = read_csv(accuracy_csv, DTW_ACCURACY_COLUMNS)
    figure, caption = plot_pseudotime_accuracy(pseudotime, accuracy, label=_label(model, dataset))
    return _save(figure, caption, output_path)


def collect_pseudotime(
    pseudotime_paths: Sequence[str | Path],
    accuracy_paths: Sequence[str | Path],
    pseudotime_output: str | Path,
    accuracy_output: str | Path,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate per-(model, dataset) DTW outputs into ``pseudotime.parquet`` and ``dtw_accuracy.csv``.

    Args:
        pseudotime_paths: ``pseudotime`` tables of rule ``align_pseudotime``.
        accuracy_paths: their accuracy CSVs (:data:`~dynaclr.pseudotime.stage.DTW_ACCURACY_COLUMNS`).
        pseudotime_output: Parquet (kind ``pseudotime``, its inputs recorded), rows sorted by
            ``model, dataset`` then the per-job order.
        accuracy_output: CSV with the same columns, sorted by ``model, dataset, fov_name, query_id``.

    Returns:
        The two tables.
    """
    if not pseudotime_paths or len(pseudotime_paths) != len(accuracy_paths):
        raise ValueError(
            f"collect_pseudotime needs one accuracy table per pseudotime table; got "
            f"{len(pseudotime_paths)} and {len(accuracy_paths)}"
        )
    tables: list[pd.DataFrame] = []
    inputs: list[Any] = []
    for path in pseudotime_paths:
        table, provenance = read_table(path, PSEUDOTIME_KIND, ("model", "dataset"))
        tables.append(table)
        inputs.append((path, provenance))
    pseudotime = pd.concat(tables, ignore_index=True).sort_values(
        ["model", "dataset"], kind="stable", ignore_index=True
    )
    accuracy = pd.concat([read_csv(p, DTW_ACCURACY_COLUMNS) for p in accuracy_paths], ignore_index=True)
    accuracy = accuracy[list(DTW_ACCURACY_COLUMNS)].sort_values(
        ["model", "dataset", "fov_name", "query_id"], ignore_index=True
    )
    pairs = sorted(set(zip(pseudotime["model"], pseudotime["dataset"], strict=True)))
    write_table(pseudotime, pseudotime_output, make_provenance(PSEUDOTIME_KIND, {"collected": pairs}, inputs))
    write_csv(accuracy, accuracy_output)
    return pseudotime, accuracy


def results_table_stage(
    temporal_metrics_csv: str | Path,
    table_csv: str | Path,
    figure_path: str | Path,
    html_path: str | Path,
    classification_csv: str | Path | None = None,
    dtw_accuracy_csv: str | Path | None = None,
) -> pd.DataFrame:
    """The model comparison (paper Tables 4-5) as CSV, figure (PNG + SVG) and HTML table.

    Args:
        temporal_metrics_csv: ``results/evaluation/temporal_metrics.csv``.
        table_csv: numeric table, columns of :func:`~dynaclr.figures.table.results_table`.
        figure_path: the table drawn; ``{stem}.png`` and ``{stem}.svg`` are written.
        html_path: an HTML ``<table>`` of the formatted values.
        classification_csv: ``classification.csv`` (simulated datasets; optional).
        dtw_accuracy_csv: ``dtw_accuracy.csv`` (optional).

    Returns:
        The numeric table.
    """
    table = results_table(
        temporal_metrics=read_csv(temporal_metrics_csv, ("model", "dataset")),
        classification=None if classification_csv is None else read_csv(classification_csv, ("task",)),
        dtw_accuracy=None if dtw_accuracy_csv is None else read_csv(dtw_accuracy_csv, DTW_ACCURACY_COLUMNS),
    )
    write_csv(table, table_csv)
    with atomic_output(html_path) as tmp:
        Path(tmp).write_text(results_table_html(table) + "\n")
    figure, caption = plot_results_table(table)
    _save(figure, caption, figure_path)
    return table
