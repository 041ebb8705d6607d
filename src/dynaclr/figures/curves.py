"""Curves the figures plot, computed from the analyses' tables."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


def infected_fraction_over_time(
    predictions: pd.DataFrame,
    ground_truth: pd.DataFrame | None,
    task: str = "infection",
    positive_label: str = "infected",
) -> pd.DataFrame:
    """Predicted (and, on simulated data, true) fraction of infected cells per condition and frame.

    The predicted curve counts the cells of the embeddings (patches of tracked cells) predicted
    ``positive_label``; the true curve counts ground-truth cells with ``infected``. The two sets
    of cells need not be the same (tracking may miss or split cells), so they are not joined.

    Args:
        predictions: per-cell predictions with ``task, t, predicted_label`` and ``condition``
            (or ``well``, mapped to the condition through ``ground_truth``; on a plate, a cell
            whose well has no condition in the config is grouped under its well); with several
            ``train_dataset`` values (classifiers transferred from several datasets), the first's.
            ``time_minutes`` (embeddings since schema 4) gives the time axis without ground truth.
        ground_truth: ``ground_truth_tracks`` (``condition, well, t, infected``; ``time_minutes``
            optional), or ``None`` for a dataset without ground truth (a real plate): the true
            curve is then NaN with 0 cells.

    Returns:
        DataFrame ``condition, t, time_minutes, predicted_fraction, true_fraction,
        n_cells_predicted, n_cells_true, n_cells_annotated, n_cells_annotated_positive`` sorted by
        condition and frame (NaN where one side has no cell at that frame). The last two count the
        predicted cells with an annotation (``annotated``; 0 when the predictions do not say), the
        labels the classifier was fitted on (its own dataset's) or scored against (transferred),
        and those labelled ``positive_label`` (``annotation_label``).
    """
    task_rows = predictions[predictions["task"] == task]
    if "train_dataset" in task_rows.columns and task_rows["train_dataset"].nunique() > 1:
        # classifiers transferred from several datasets: the curve of the first (name order)
        sources = sorted(task_rows["train_dataset"].unique())
        logger.warning(
            "infected fraction: classifiers from %s predict these cells; drawing those of %s only",
            sources,
            sources[0],
        )
        task_rows = task_rows[task_rows["train_dataset"] == sources[0]]
    if task_rows.empty:
        raise ValueError(
            f"predictions hold no rows of task {task!r}; tasks found: {sorted(set(predictions['task']))}"
        )
    task_rows = _with_conditions(task_rows, ground_truth)
    annotated = (
        task_rows["annotated"].astype(bool)
        if "annotated" in task_rows.columns
        else pd.Series(False, index=task_rows.index)
    )
    labelled_positive = (
        annotated & (task_rows["annotation_label"] == positive_label)
        if "annotation_label" in task_rows.columns
        else pd.Series(False, index=task_rows.index)
    )
    task_rows = task_rows.assign(_annotated=annotated, _annotated_positive=labelled_positive)
    predicted_aggregations: dict[str, Any] = {
        "predicted_fraction": ("_positive", "mean"),
        "n_cells_predicted": ("_positive", "size"),
        "n_cells_annotated": ("_annotated", "sum"),
        "n_cells_annotated_positive": ("_annotated_positive", "sum"),
    }
    if ground_truth is None and "time_minutes" in task_rows.columns:
        predicted_aggregations["time_minutes"] = ("time_minutes", "first")
    predicted = (
        task_rows.assign(_positive=task_rows["predicted_label"] == positive_label)
        .groupby(["condition", "t"], as_index=False)
        .agg(**predicted_aggregations)
    )
    if ground_truth is None:
        curves = predicted.assign(true_fraction=float("nan"), n_cells_true=0).sort_values(
            ["condition", "t"], ignore_index=True
        )
    else:
        aggregations: dict[str, Any] = {
            "true_fraction": ("infected", "mean"),
            "n_cells_true": ("infected", "size"),
        }
        if "time_minutes" in ground_truth.columns:
            aggregations["time_minutes"] = ("time_minutes", "first")
        truth = ground_truth.groupby(["condition", "t"], as_index=False).agg(**aggregations)
        curves = predicted.merge(truth, on=["condition", "t"], how="outer").sort_values(
            ["condition", "t"], ignore_index=True
        )
    if "time_minutes" not in curves.columns:
        curves["time_minutes"] = float("nan")
    counts = ("n_cells_predicted", "n_cells_true", "n_cells_annotated", "n_cells_annotated_positive")
    for column in counts:
        curves[column] = curves[column].fillna(0).astype(int)
    return curves[
        [
            "condition",
            "t",
            "time_minutes",
            "predicted_fraction",
            "true_fraction",
            *counts,
        ]
    ]


def _with_conditions(cells: pd.DataFrame, ground_truth: pd.DataFrame | None) -> pd.DataFrame:
    """``cells`` with every ``condition`` filled: tracked cells carry their well but not always its
    condition, which the ground truth maps wells to; without ground truth a cell of a well without
    a condition is grouped under ``well <row/column>``."""
    if "condition" in cells.columns:
        text = cells["condition"].astype("string")
        condition = cells["condition"].astype("object").mask((text == "").fillna(True).astype(bool))
    else:
        condition = pd.Series(None, index=cells.index, dtype="object")
    if not condition.isna().any():
        return cells.assign(condition=condition)
    if "well" not in cells.columns:
        raise ValueError("predictions need a 'condition' or 'well' column to group cells by condition")
    if ground_truth is None:
        from_well = "well " + cells["well"].astype(str)
    else:
        from_well = cells["well"].map(ground_truth.drop_duplicates("well").set_index("well")["condition"])
    return cells.assign(condition=condition.fillna(from_well))
