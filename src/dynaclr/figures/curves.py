"""Curves the figures plot, computed from the analyses' tables."""

from __future__ import annotations

from typing import Any

import pandas as pd


def infected_fraction_over_time(
    predictions: pd.DataFrame,
    ground_truth: pd.DataFrame,
    task: str = "infection",
    positive_label: str = "infected",
) -> pd.DataFrame:
    """Predicted and true fraction of infected cells per condition and frame.

    The predicted curve counts the cells of the embeddings (patches of tracked cells) predicted
    ``positive_label``; the true curve counts ground-truth cells with ``infected``. The two sets
    of cells need not be the same (tracking may miss or split cells), so they are not joined.

    Args:
        predictions: per-cell predictions with ``task, t, predicted_label`` and ``condition``
            (or ``well``, mapped to the condition through ``ground_truth``).
        ground_truth: ``ground_truth_tracks`` (``condition, well, t, infected``; ``time_minutes``
            optional).

    Returns:
        DataFrame ``condition, t, time_minutes, predicted_fraction, true_fraction,
        n_cells_predicted, n_cells_true`` sorted by condition and frame (NaN where one side has
        no cell at that frame).
    """
    task_rows = predictions[predictions["task"] == task]
    if task_rows.empty:
        raise ValueError(
            f"predictions hold no rows of task {task!r}; tasks found: {sorted(set(predictions['task']))}"
        )
    task_rows = _with_conditions(task_rows, ground_truth)
    predicted = (
        task_rows.assign(_positive=task_rows["predicted_label"] == positive_label)
        .groupby(["condition", "t"], as_index=False)
        .agg(predicted_fraction=("_positive", "mean"), n_cells_predicted=("_positive", "size"))
    )
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
    for column in ("n_cells_predicted", "n_cells_true"):
        curves[column] = curves[column].fillna(0).astype(int)
    return curves[
        [
            "condition",
            "t",
            "time_minutes",
            "predicted_fraction",
            "true_fraction",
            "n_cells_predicted",
            "n_cells_true",
        ]
    ]


def _with_conditions(cells: pd.DataFrame, ground_truth: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with every ``condition`` filled: tracked cells carry their well but not always its
    condition, which the ground truth maps wells to."""
    if "condition" in cells.columns and not cells["condition"].isna().any():
        return cells
    if "well" not in cells.columns:
        raise ValueError("predictions need a 'condition' or 'well' column to group cells by condition")
    well_condition = ground_truth.drop_duplicates("well").set_index("well")["condition"]
    from_well = cells["well"].map(well_condition)
    condition = cells["condition"].fillna(from_well) if "condition" in cells.columns else from_well
    return cells.assign(condition=condition)
