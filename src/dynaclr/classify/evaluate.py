"""Linear classifiers from sparse annotations, evaluated with FOV-grouped cross-validation.

Protocol (:func:`fit_and_evaluate`):

1. Annotations are matched to the embeddings' cells (:func:`~dynaclr.classify.annotations.match_annotations`).
2. Folds: :class:`sklearn.model_selection.StratifiedGroupKFold` with the FOV as group
   (``min(n_splits, n_FOVs)`` folds, shuffled with ``seed``): a FOV, hence every track and
   lineage in it, is entirely in training or entirely in test; label proportions are kept as far
   as FOV grouping allows. Each fold fits a fresh pipeline (StandardScaler → LogisticRegression
   with balanced class weights) on its training rows only, so the scaler never sees test cells.
   A fold whose training rows hold one class cannot be fitted and is skipped (logged).
3. Metrics on the pooled out-of-fold predictions: F1 of the positive class (threshold 0.5),
   AUROC of the positive-class probability, balanced accuracy. CIs: percentile bootstrap that
   resamples *tracks* (``fov_name, track_id``) with replacement, since observations of one track
   are correlated; a replicate with one class only has undefined AUROC and is left out of it.
4. The final classifier is fitted on every matched annotation and predicts every cell.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedGroupKFold

from dynaclr.classify.annotations import match_annotations, task_classes
from dynaclr.classify.model import LinearClassifier, build_pipeline
from dynaclr.embeddings import cell_table, representation_matrix

logger = logging.getLogger(__name__)

#: obs columns copied into the per-cell predictions when present.
PREDICTION_INDEX_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "track_id",
    "t",
    "lineage_id",
    "parent_track_id",
    "y",
    "x",
    "well",
    "condition",
)


def f1_score_binary(truth: np.ndarray, predicted: np.ndarray) -> float:
    """F1 of class 1: ``2 TP / (2 TP + FP + FN)``; NaN without any true or predicted positive."""
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    tp = np.count_nonzero(truth & predicted)
    denominator = 2 * tp + np.count_nonzero(~truth & predicted) + np.count_nonzero(truth & ~predicted)
    return float(2 * tp / denominator) if denominator else float("nan")


def balanced_accuracy_binary(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the recalls of classes 0 and 1 (recall of a class absent from ``truth`` is skipped)."""
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    recalls = [np.mean(predicted[truth == cls] == cls) for cls in (False, True) if np.any(truth == cls)]
    return float(np.mean(recalls)) if recalls else float("nan")


def auroc_binary(truth: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg), ties count one half); NaN with one class."""
    truth = np.asarray(truth, dtype=bool)
    n_positive, n_negative = int(truth.sum()), int((~truth).sum())
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, dtype=np.float64))
    return float((ranks[truth].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def binary_metrics(truth: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """``f1``, ``auroc``, ``balanced_accuracy`` of positive-class ``probability`` (threshold 0.5)."""
    predicted = np.asarray(probability) >= 0.5
    return {
        "f1": f1_score_binary(truth, predicted),
        "auroc": auroc_binary(truth, probability),
        "balanced_accuracy": balanced_accuracy_binary(truth, predicted),
    }


def bootstrap_metrics(
    truth: np.ndarray,
    probability: np.ndarray,
    clusters: np.ndarray,
    n_bootstrap: int,
    seed: int,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Percentile-bootstrap CIs of :func:`binary_metrics`, resampling ``clusters`` (e.g. tracks).

    Returns:
        ``{metric}_ci_low`` / ``{metric}_ci_high`` for each metric (NaN when ``n_bootstrap == 0``
        or no replicate defines the metric).
    """
    names = ("f1", "auroc", "balanced_accuracy")
    out = {f"{name}_{side}": float("nan") for name in names for side in ("ci_low", "ci_high")}
    if n_bootstrap == 0 or len(truth) == 0:
        return out
    codes, cluster_ids = pd.factorize(pd.Series(list(map(str, clusters))))
    members = [np.flatnonzero(codes == k) for k in range(len(cluster_ids))]
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(n_bootstrap):
        drawn = rng.integers(0, len(members), size=len(members))
        rows = np.concatenate([members[k] for k in drawn])
        for name, value in binary_metrics(truth[rows], probability[rows]).items():
            values[name].append(value)
    alpha = (1.0 - confidence) / 2.0
    for name in names:
        finite = np.asarray(values[name])[np.isfinite(values[name])]
        if finite.size:
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (
                float(v) for v in np.quantile(finite, [alpha, 1 - alpha])
            )
    return out


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: positions into the matched annotations, and its fitted pipeline.

    ``pipeline`` is ``None`` when the training rows hold a single class (fold skipped).
    """

    train_rows: np.ndarray
    test_rows: np.ndarray
    train_fovs: tuple[str, ...]
    test_fovs: tuple[str, ...]
    pipeline: Any


@dataclass(frozen=True)
class ClassificationResult:
    """Everything :func:`fit_and_evaluate` produced for one task.

    Attributes:
        metrics: one row of ``classification`` (task, metrics with CIs, counts).
        annotated: matched annotations: ``cell_row`` (row of the embeddings), ``fov_name,
            track_id, t`` of the cell, ``label``, ``truth`` (bool, positive class),
            ``out_of_fold_probability`` (NaN when its fold was skipped).
        predictions: one row per cell of the embeddings (see :func:`fit_and_evaluate`).
        classifier: the final classifier, fitted on every matched annotation.
        folds: the cross-validation folds.
    """

    metrics: dict[str, Any]
    annotated: pd.DataFrame
    predictions: pd.DataFrame
    classifier: LinearClassifier
    folds: list[Fold]


def fit_and_evaluate(
    embeddings: ad.AnnData,
    annotations: pd.DataFrame,
    task: str,
    seed: int = 0,
    n_bootstrap: int = 200,
    n_splits: int = 5,
    representation: str = "features",
    confidence: float = 0.95,
    inverse_regularization_strength: float = 1.0,
    max_iterations: int = 2000,
    match_on: Literal["position", "track"] = "position",
    max_match_distance_px: float = 6.0,
) -> ClassificationResult:
    """Cross-validate a linear classifier of ``task`` from sparse annotations and predict every cell.

    Protocol in the module docstring.

    Args:
        embeddings: AnnData of the embeddings (``obs`` with ``fov_name, track_id, t`` and, for
            ``match_on='position'``, ``y, x``).
        annotations: ``fov_name, track_id, t, y, x, task, label`` (other tasks' rows are ignored).
        task: ``'infection'`` or ``'division'``.
        seed: seed of the fold shuffle and of the bootstrap.
        n_bootstrap: bootstrap replicates over tracks (0: CIs are NaN).
        n_splits: requested folds (at most the number of annotated FOVs, at least 2).
        representation: ``'features'``, ``'projections'`` or ``'standardized'``.
        confidence: central coverage of the CIs.
        inverse_regularization_strength, max_iterations: LogisticRegression's ``C`` and ``max_iter``.
        match_on, max_match_distance_px: see :func:`~dynaclr.classify.annotations.match_annotations`.

    Returns:
        :class:`ClassificationResult`; ``predictions`` has the ``obs`` columns of
        :data:`PREDICTION_INDEX_COLUMNS` present, ``task``, ``probability`` (positive class, final
        classifier), ``predicted_label``, ``annotated`` (bool), ``annotation_label`` (``""`` if
        none) and ``out_of_fold_probability`` (NaN unless annotated and evaluated).

    Raises:
        ValueError: no annotation of ``task`` matches a cell, the annotations hold one class, or
            they come from a single FOV.
    """
    negative, positive = task_classes(task)
    matrix = representation_matrix(embeddings, representation)
    obs = cell_table(embeddings)
    task_annotations = annotations[annotations["task"] == task].reset_index(drop=True)
    unknown = sorted(set(task_annotations["label"]) - {negative, positive})
    if unknown:
        raise ValueError(f"{task} annotations have labels {unknown}; expected {negative!r} or {positive!r}")
    cell_rows = match_annotations(task_annotations, obs, on=match_on, max_distance_px=max_match_distance_px)
    matched = task_annotations[cell_rows >= 0].reset_index(drop=True)
    cell_rows = cell_rows[cell_rows >= 0]
    if len(matched) == 0:
        raise ValueError(f"no {task} annotation matches a cell of the embeddings (match_on={match_on!r})")
    truth = (matched["label"] == positive).to_numpy()
    if truth.all() or not truth.any():
        raise ValueError(f"{task} annotations hold a single class ({matched['label'].iloc[0]!r}); need both")
    cell_fov = obs["fov_name"].to_numpy()[cell_rows].astype(str)
    cell_track = obs["track_id"].to_numpy()[cell_rows]
    n_fovs = len(np.unique(cell_fov))
    if n_fovs < 2:
        raise ValueError(
            f"{task}: annotations come from one FOV ({cell_fov[0]}); FOV-grouped evaluation needs >= 2"
        )
    x_annotated = matrix[cell_rows]
    splitter = StratifiedGroupKFold(n_splits=min(n_splits, n_fovs), shuffle=True, random_state=seed)
    folds: list[Fold] = []
    out_of_fold = np.full(len(matched), np.nan)
    for train_rows, test_rows in splitter.split(x_annotated, truth, groups=cell_fov):
        fold_fovs = (
            tuple(sorted({str(f) for f in cell_fov[train_rows]})),
            tuple(sorted({str(f) for f in cell_fov[test_rows]})),
        )
        if truth[train_rows].all() or not truth[train_rows].any():
            logger.warning("%s: fold testing FOVs %s has one class in training; skipped", task, fold_fovs[1])
            folds.append(Fold(train_rows, test_rows, *fold_fovs, pipeline=None))
            continue
        pipeline = build_pipeline(inverse_regularization_strength, max_iterations)
        pipeline.fit(x_annotated[train_rows], truth[train_rows].astype(int))
        out_of_fold[test_rows] = pipeline.predict_proba(x_annotated[test_rows])[:, 1]
        folds.append(Fold(train_rows, test_rows, *fold_fovs, pipeline=pipeline))

    evaluated = np.isfinite(out_of_fold)
    clusters = np.array([f"{fov}|{track}" for fov, track in zip(cell_fov, cell_track, strict=True)])
    if evaluated.any():
        point = binary_metrics(truth[evaluated], out_of_fold[evaluated])
        intervals = bootstrap_metrics(
            truth[evaluated], out_of_fold[evaluated], clusters[evaluated], n_bootstrap, seed, confidence
        )
    else:
        logger.warning("%s: no fold could be evaluated; metrics are NaN", task)
        point = {"f1": float("nan"), "auroc": float("nan"), "balanced_accuracy": float("nan")}
        intervals = bootstrap_metrics(truth[:0], out_of_fold[:0], clusters[:0], 0, seed, confidence)
    fitted = [fold for fold in folds if fold.pipeline is not None]
    metrics: dict[str, Any] = {
        "task": task,
        "representation": representation,
        "positive_class": positive,
        **{name: point[name] for name in ("f1", "auroc", "balanced_accuracy")},
        **intervals,
        "n_train": round(float(np.mean([len(fold.train_rows) for fold in fitted]))) if fitted else 0,
        "n_test": int(evaluated.sum()),
        "n_test_positive": int(truth[evaluated].sum()),
        "n_annotated": len(task_annotations),
        "n_matched": len(matched),
        "n_folds": len(fitted),
        "n_fovs": n_fovs,
        "n_bootstrap": n_bootstrap,
        "confidence": confidence,
    }

    final = build_pipeline(inverse_regularization_strength, max_iterations)
    final.fit(x_annotated, truth.astype(int))
    classifier = LinearClassifier(task, final, (negative, positive), representation)
    probability = classifier.positive_probability(matrix)
    columns = [c for c in PREDICTION_INDEX_COLUMNS if c in obs.columns]
    predictions = obs[columns].copy()
    annotated_flag = np.zeros(len(obs), dtype=bool)
    annotated_flag[cell_rows] = True
    annotation_label = np.full(len(obs), "", dtype=object)
    annotation_label[cell_rows] = matched["label"].to_numpy()
    oof_all = np.full(len(obs), np.nan)
    oof_all[cell_rows] = out_of_fold
    predictions = predictions.assign(
        task=task,
        probability=probability,
        predicted_label=np.where(probability >= 0.5, positive, negative),
        annotated=annotated_flag,
        annotation_label=annotation_label.astype(str),
        out_of_fold_probability=oof_all,
    )
    annotated_table = pd.DataFrame(
        {
            "cell_row": cell_rows,
            "fov_name": cell_fov,
            "track_id": cell_track,
            "t": obs["t"].to_numpy()[cell_rows],
            "label": matched["label"].to_numpy(),
            "truth": truth,
            "out_of_fold_probability": out_of_fold,
        }
    )
    logger.info(
        "%s: F1 %.3f, AUROC %.3f, balanced accuracy %.3f on %d out-of-fold cells (%d folds)",
        task,
        point["f1"],
        point["auroc"],
        point["balanced_accuracy"],
        metrics["n_test"],
        metrics["n_folds"],
    )
    return ClassificationResult(metrics, annotated_table, predictions, classifier, folds)
