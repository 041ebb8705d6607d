"""Curves the figures plot, computed from the analyses' tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dynaclr.classify.annotations import (
    DECISION_THRESHOLD,
    positive_label as task_positive_label,
    truth_column,
)

logger = logging.getLogger(__name__)

#: Below this ``TPR - FPR`` (the classifier's separation of the two classes on its labelled cells)
#: the adjusted fraction ``(q - FPR) / (TPR - FPR)`` divides by a small, noisy number: the curves
#: keep the classify-and-count fraction instead, with a WARNING and a note in the table.
MIN_ADJUSTMENT_SEPARATION = 0.2

#: Fewer labelled cells of a class scored out of fold than this and its rate (TPR from the
#: positives, FPR from the negatives) moves in steps of more than 0.1 per cell: one infected label
#: makes TPR 0 or 1. The curves keep the classify-and-count fraction instead, with a WARNING and a
#: note in the table.
MIN_RATE_LABELS = 10

#: Columns of :func:`infected_fraction_over_time`'s table (``results/evaluation/infected_fraction``).
FRACTION_COLUMNS: tuple[str, ...] = (
    "condition",
    "t",
    "time_minutes",
    "predicted_fraction",
    "adjusted_fraction",
    "true_fraction",
    "n_cells_predicted",
    "n_cells_without_call",
    "n_cells_true",
    "n_cells_annotated",
    "n_cells_annotated_positive",
    "true_positive_rate",
    "false_positive_rate",
    "adjustment_note",
)


@dataclass(frozen=True)
class ErrorRates:
    """The classifier's error rates on its labelled cells scored out of fold, which adjust a
    classify-and-count fraction (adjusted classify and count, ACC; Forman 2008).

    Attributes:
        true_positive_rate: share of the labelled positives called positive (NaN when none).
        false_positive_rate: share of the labelled negatives called positive (NaN when none).
        n_positive, n_negative: labelled cells behind each rate.
        note: why the fraction is not adjusted (empty when it is).
    """

    true_positive_rate: float
    false_positive_rate: float
    n_positive: int
    n_negative: int
    note: str

    def adjust(self, fraction: pd.Series) -> pd.Series:
        """``clip((q - FPR) / (TPR - FPR), 0, 1)`` of each classify-and-count fraction ``q``; ``q``
        itself where :attr:`note` says the adjustment does not apply."""
        if self.note:
            return fraction.astype(float)
        separation = self.true_positive_rate - self.false_positive_rate
        return ((fraction - self.false_positive_rate) / separation).clip(0.0, 1.0)


def cross_validated_error_rates(
    predictions: pd.DataFrame,
    positive_label: str,
    min_separation: float = MIN_ADJUSTMENT_SEPARATION,
    min_labels: int = MIN_RATE_LABELS,
) -> ErrorRates:
    """TPR and FPR of one task's classifier at the threshold of its ``predicted_label`` (0.5), on the
    cells with an annotation and an ``out_of_fold_probability``: for a dataset's own classifier the
    FOV-grouped cross-validation's held-out probabilities (rule ``classify``), for one transferred
    from another dataset its probabilities on this dataset's labels (none of them trained on).

    Labels sampled at any class share leave both rates unbiased (each is conditional on the class),
    which is why they correct a fraction counted over every cell where the classifier's balanced
    class weights pull the counted fraction toward one half.

    Returns:
        The rates, with a ``note`` where the adjustment cannot be trusted: the predictions carry
        fewer than ``min_labels`` labelled cells scored out of fold of one class or the other, or
        ``TPR - FPR`` is below ``min_separation``.
    """
    needed = ("annotated", "annotation_label", "out_of_fold_probability")
    if any(column not in predictions.columns for column in needed):
        return ErrorRates(float("nan"), float("nan"), 0, 0, "no labelled cells scored out of fold")
    probability = pd.to_numeric(predictions["out_of_fold_probability"], errors="coerce").to_numpy(dtype=float)
    scored = predictions["annotated"].astype(bool).to_numpy() & np.isfinite(probability)
    truth = (predictions["annotation_label"] == positive_label).to_numpy()[scored]
    called = probability[scored] >= DECISION_THRESHOLD  # predicted_label's threshold
    n_positive, n_negative = int(truth.sum()), int((~truth).sum())
    tpr = float(called[truth].mean()) if n_positive else float("nan")
    fpr = float(called[~truth].mean()) if n_negative else float("nan")
    negative_label = "other"
    if n_negative:
        negative_label = str(predictions["annotation_label"].to_numpy()[scored][~truth][0])
    too_few = [
        f"{n} labelled {name} < {min_labels}"
        for n, name in ((n_positive, positive_label), (n_negative, negative_label))
        if n < min_labels
    ]
    if not n_positive and not n_negative:
        # a transferred classifier on a dataset without labels of this task: nothing to measure on
        note = "no error rates: no labelled cell of this task in these predictions to measure them on"
    elif too_few:
        note = f"no error rates: {' and '.join(too_few)} (scored out of fold)"
    elif tpr - fpr < min_separation:
        note = (
            f"unstable: TPR - FPR = {tpr:.3f} - {fpr:.3f} = {tpr - fpr:.3f} < {min_separation} "
            f"on {n_positive + n_negative} labelled cells"
        )
    else:
        note = ""
    return ErrorRates(tpr, fpr, n_positive, n_negative, note)


def infected_fraction_over_time(
    predictions: pd.DataFrame,
    ground_truth: pd.DataFrame | None,
    task: str = "infection",
    min_separation: float = MIN_ADJUSTMENT_SEPARATION,
) -> pd.DataFrame:
    """Predicted (and, on simulated data, true) fraction of cells in ``task``'s positive state
    (infected; for ``division``, mitotic) per condition and frame.

    Named for the workflow's one use (rule ``infected_fraction_figure``, task ``infection``), it
    serves each task: the table records which in ``attrs["task"]``, which
    :func:`dynaclr.figures.plots.plot_infected_fraction` labels the curves by (the CSV the workflow
    writes does not carry it: a table read back needs ``task=`` there).

    The predicted curve counts the cells of the embeddings (patches of tracked cells) predicted the
    task's positive label (``infected``, ``mitosis``: "classify and count", ``predicted_fraction``);
    the true curve counts ground-truth cells with the task's column (``infected``; ``mitosis`` for
    ``division``, the column the drawn annotations read too). The two sets of cells need not be
    the same (tracking may miss or split cells), so they are not joined. A cell without a call
    (``predicted_label`` missing: its classifier probability is not finite, e.g. NaN embeddings) is
    left out of both the counted cells and the cells called positive, with a WARNING, and counted
    in ``n_cells_without_call``: counting it as not positive would lower the fraction.

    Classify and count is a biased estimate of a fraction: a classifier trained with balanced class
    weights (and labels sampled near one half positive) calls too many cells of the rarer class, the
    counted fraction leaning toward 0.5. ``adjusted_fraction`` is the adjusted classify and count
    (ACC): ``clip((q - FPR) / (TPR - FPR), 0, 1)`` of each counted fraction ``q``, with the
    classifier's error rates from :func:`cross_validated_error_rates` (one pair per classifier,
    applied at every condition and frame). Where they cannot be trusted (``TPR - FPR`` below
    ``min_separation``, or fewer than :data:`MIN_RATE_LABELS` labelled cells of a class scored out
    of fold) ``adjusted_fraction`` is ``predicted_fraction`` itself, with a WARNING and the reason
    in ``adjustment_note``.

    Args:
        predictions: per-cell predictions with ``task, t, predicted_label`` and ``condition``
            (or ``well``, mapped to the condition through ``ground_truth``; on a plate, a cell
            whose well has no condition in the config is grouped under its well); with several
            ``train_dataset`` values (classifiers transferred from several datasets), the first's.
            ``time_minutes`` (embeddings since schema 4) gives the time axis without ground truth.
        ground_truth: ``ground_truth_tracks`` (``condition, well, t`` and the task's column,
            ``infected`` or ``mitosis``; ``time_minutes`` optional), or ``None`` for a dataset
            without ground truth (a real plate): the true curve is then NaN with 0 cells.
        task: ``infection`` or ``division`` (another is refused).

    Returns:
        DataFrame of :data:`FRACTION_COLUMNS` sorted by condition and frame (NaN where one side has
        no cell at that frame, or no cell of the frame has a call), ``attrs["task"]`` the task.
        ``n_cells_predicted`` counts the cells with a call (the counted fraction's denominator),
        ``n_cells_without_call`` those left out for want of one. ``n_cells_annotated`` and
        ``n_cells_annotated_positive`` count the cells with a call and an annotation (``annotated``;
        0 when the predictions do not say), the labels the classifier was fitted on (its own
        dataset's) or scored against (transferred), and those labelled the task's positive label
        (``annotation_label``). ``true_positive_rate``,
        ``false_positive_rate`` (the same on every row) and ``adjustment_note`` (empty where
        adjusted) say how ``adjusted_fraction`` was computed.
    """
    positive_label = task_positive_label(task)  # an unknown task is refused here
    truth = truth_column(task)
    if ground_truth is not None and truth not in ground_truth.columns:
        raise ValueError(
            f"ground truth lacks column {truth!r} (task {task!r}); found {list(ground_truth.columns)}"
        )
    task_rows = predictions[predictions["task"] == task]
    if "train_dataset" in task_rows.columns and task_rows["train_dataset"].nunique() > 1:
        # classifiers transferred from several datasets: the curve of the first (name order)
        sources = sorted(task_rows["train_dataset"].unique())
        logger.warning(
            "%s fraction: classifiers from %s predict these cells; drawing those of %s only",
            task,
            sources,
            sources[0],
        )
        task_rows = task_rows[task_rows["train_dataset"] == sources[0]]
    if task_rows.empty:
        raise ValueError(
            f"predictions hold no rows of task {task!r}; tasks found: {sorted(set(predictions['task']))}"
        )
    task_rows = _with_conditions(task_rows, ground_truth)
    rates = cross_validated_error_rates(task_rows, positive_label, min_separation)
    if rates.note:
        logger.warning(
            "%s fraction: adjusted classify and count not applied (%s); the adjusted curve is the "
            "classify-and-count one",
            task,
            rates.note,
        )
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
    # a cell without a call (no finite probability, e.g. NaN embeddings: predicted_label missing) is
    # neither positive nor negative: left out of the fraction's numerator and denominator, and counted
    called = task_rows["predicted_label"].notna().to_numpy()
    without_call = int((~called).sum())
    if without_call:
        logger.warning(
            "%s fraction: %d of %d cells have no predicted_label (no finite probability): left out of "
            "the counted fractions (n_cells_without_call)",
            task,
            without_call,
            len(task_rows),
        )
    positive = (task_rows["predicted_label"] == positive_label).astype(np.float64).where(called)
    task_rows = task_rows.assign(
        _positive=positive,
        _without_call=~called,
        _annotated=annotated & called,
        _annotated_positive=labelled_positive & called,
    )
    predicted_aggregations: dict[str, Any] = {
        "predicted_fraction": ("_positive", "mean"),  # NaN where no cell of the frame has a call
        "n_cells_predicted": ("_positive", "count"),
        "n_cells_without_call": ("_without_call", "sum"),
        "n_cells_annotated": ("_annotated", "sum"),
        "n_cells_annotated_positive": ("_annotated_positive", "sum"),
    }
    if ground_truth is None and "time_minutes" in task_rows.columns:
        predicted_aggregations["time_minutes"] = ("time_minutes", "first")
    predicted = task_rows.groupby(["condition", "t"], as_index=False).agg(**predicted_aggregations)
    if ground_truth is None:
        curves = predicted.assign(true_fraction=float("nan"), n_cells_true=0).sort_values(
            ["condition", "t"], ignore_index=True
        )
    else:
        aggregations: dict[str, Any] = {"true_fraction": (truth, "mean"), "n_cells_true": (truth, "size")}
        if "time_minutes" in ground_truth.columns:
            aggregations["time_minutes"] = ("time_minutes", "first")
        true = ground_truth.groupby(["condition", "t"], as_index=False).agg(**aggregations)
        curves = predicted.merge(true, on=["condition", "t"], how="outer").sort_values(
            ["condition", "t"], ignore_index=True
        )
    if "time_minutes" not in curves.columns:
        curves["time_minutes"] = float("nan")
    counts = (
        "n_cells_predicted",
        "n_cells_without_call",
        "n_cells_true",
        "n_cells_annotated",
        "n_cells_annotated_positive",
    )
    for column in counts:
        curves[column] = curves[column].fillna(0).astype(int)
    curves = curves.assign(
        adjusted_fraction=rates.adjust(curves["predicted_fraction"]),
        true_positive_rate=rates.true_positive_rate,
        false_positive_rate=rates.false_positive_rate,
        adjustment_note=rates.note,
    )
    curves = curves[list(FRACTION_COLUMNS)]
    curves.attrs["task"] = task  # what the fractions count: the plot's labels
    return curves


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
