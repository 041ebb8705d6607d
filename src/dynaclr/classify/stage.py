"""Rule ``classify``: classifiers of every task for one (model, dataset), and the summaries.

Outputs of :func:`classify_stage` for ``{model}/{dataset}``:

* ``results/evaluation/classification/{model}/{dataset}.parquet`` (kind ``classification``): one
  row per task, columns :data:`CLASSIFICATION_COLUMNS`;
* ``results/evaluation/predictions/{model}/{dataset}.parquet`` (kind ``predictions``): one row
  per cell and task (see :func:`~dynaclr.classify.evaluate.fit_and_evaluate`);
* ``results/evaluation/classifiers/{model}/{dataset}.json``: the fitted classifiers
  (:mod:`dynaclr.classify.model`).

:func:`collect_classification` concatenates the per-job tables into
``results/evaluation/classification.csv``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dynaclr.classify.annotations import read_annotations
from dynaclr.classify.evaluate import fit_and_evaluate
from dynaclr.classify.model import CLASSIFIER_KIND, LinearClassifier, save_classifiers
from dynaclr.config.analysis import ClassificationConfig
from dynaclr.embeddings import read_embeddings, read_embeddings_provenance
from dynaclr.evaluation.tables import write_csv
from dynaclr.io import make_provenance, read_table, read_table_provenance, write_table

logger = logging.getLogger(__name__)

CLASSIFICATION_KIND = "classification"
PREDICTIONS_KIND = "predictions"
CLASSIFICATION_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "task",
    "representation",
    "positive_class",
    "f1",
    "f1_ci_low",
    "f1_ci_high",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "balanced_accuracy",
    "balanced_accuracy_ci_low",
    "balanced_accuracy_ci_high",
    "n_train",
    "n_test",
    "n_test_positive",
    "n_annotated",
    "n_matched",
    "n_folds",
    "n_fovs",
    "n_bootstrap",
    "confidence",
)


def classify_stage(
    embeddings_path: str | Path,
    annotations_path: str | Path,
    model: str,
    dataset: str,
    metrics_path: str | Path,
    predictions_path: str | Path,
    classifier_path: str | Path,
    config: ClassificationConfig | None = None,
) -> pd.DataFrame:
    """Fit, evaluate and apply a classifier per task of ``config``; write the three outputs above.

    Tasks of ``config`` without a row in the annotations (a dataset whose annotation table holds
    only some tasks) are skipped, with a warning.

    Returns:
        The metrics table (one row per task classified).

    Raises:
        ValueError: the annotations hold none of ``config.tasks``.
    """
    config = config or ClassificationConfig()
    adata = read_embeddings(embeddings_path)
    embeddings_prov = read_embeddings_provenance(embeddings_path)
    annotations = read_annotations(annotations_path)
    annotations_prov = read_table_provenance(annotations_path, "annotations")
    annotated_tasks = set(annotations["task"])
    tasks = [task for task in config.tasks if task in annotated_tasks]
    if not tasks:
        raise ValueError(
            f"{annotations_path}: annotations hold tasks {sorted(annotated_tasks)}, none of "
            f"analysis.classification.tasks {list(config.tasks)}"
        )
    skipped = [task for task in config.tasks if task not in annotated_tasks]
    if skipped:
        logger.warning("%s: no annotations of tasks %s; not classified", annotations_path, skipped)
    rows: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] = []
    classifiers: dict[str, LinearClassifier] = {}
    for task in tasks:
        result = fit_and_evaluate(
            adata,
            annotations,
            task,
            seed=config.seed,
            n_bootstrap=config.n_bootstrap,
            n_splits=config.n_splits,
            representation=config.representation,
            confidence=config.confidence,
            inverse_regularization_strength=config.inverse_regularization_strength,
            max_iterations=config.max_iterations,
            match_on=config.match_annotations_on,
            max_match_distance_px=config.max_match_distance_px,
        )
        rows.append({"model": model, "dataset": dataset, **result.metrics})
        predictions.append(result.predictions)
        classifiers[task] = result.classifier
    inputs: list[Any] = [(embeddings_path, embeddings_prov), (annotations_path, annotations_prov)]
    provenance_config = {**config.model_dump(mode="json"), "model": model, "dataset": dataset}
    metrics = pd.DataFrame(rows)[list(CLASSIFICATION_COLUMNS)]
    write_table(metrics, metrics_path, make_provenance(CLASSIFICATION_KIND, provenance_config, inputs))
    write_table(
        pd.concat(predictions, ignore_index=True),
        predictions_path,
        make_provenance(PREDICTIONS_KIND, provenance_config, inputs),
    )
    save_classifiers(
        classifiers, classifier_path, make_provenance(CLASSIFIER_KIND, provenance_config, inputs)
    )
    return metrics


def collect_classification(metrics_paths: Sequence[str | Path], output_csv: str | Path) -> pd.DataFrame:
    """Concatenate per-(model, dataset) ``classification`` tables into ``classification.csv``."""
    if not metrics_paths:
        raise ValueError("collect_classification needs at least one classification table")
    tables = [read_table(path, CLASSIFICATION_KIND, CLASSIFICATION_COLUMNS)[0] for path in metrics_paths]
    combined = pd.concat(tables, ignore_index=True).sort_values(
        ["model", "dataset", "task"], ignore_index=True
    )
    write_csv(combined[list(CLASSIFICATION_COLUMNS)], output_csv)
    return combined


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a ``predictions`` table (provenance and core columns checked)."""
    table, _ = read_table(
        path, PREDICTIONS_KIND, ("fov_name", "track_id", "t", "task", "probability", "predicted_label")
    )
    return table


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
    missing_condition = "condition" not in task_rows.columns or task_rows["condition"].isna().any()
    if missing_condition:
        # tracked cells carry their well but not always its condition: take it from the truth
        if "well" not in task_rows.columns:
            raise ValueError("predictions need a 'condition' or 'well' column to group cells by condition")
        well_condition = ground_truth.drop_duplicates("well").set_index("well")["condition"]
        from_well = task_rows["well"].map(well_condition)
        condition = (
            task_rows["condition"].fillna(from_well) if "condition" in task_rows.columns else from_well
        )
        task_rows = task_rows.assign(condition=condition)
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
