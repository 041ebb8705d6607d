"""Linear classifiers from sparse annotations, evaluated with FOV-grouped cross-validation.

Protocol (:func:`fit_and_evaluate`):

1. Annotations are matched to the embeddings' cells (:func:`~dynaclr.embeddings.match_observations_to_cells`).
2. Folds: :class:`sklearn.model_selection.StratifiedGroupKFold` with the FOV as group
   (``min(n_splits, n_FOVs)`` folds, shuffled with ``seed``): a FOV, hence every track and
   lineage in it, is entirely in training or entirely in test; label proportions are kept as far
   as FOV grouping allows. Each fold fits a fresh pipeline (StandardScaler → LogisticRegression
   with balanced class weights) on its training rows only, so the scaler never sees test cells.
   A fold whose training rows hold one class cannot be fitted and is skipped (logged).
3. Metrics on the pooled out-of-fold predictions (scikit-learn's): F1 of the positive class
   (threshold 0.5), AUROC of the positive-class probability, balanced accuracy. CIs
   (:func:`score_intervals`, computed from the predictions table by rule
   ``classification_intervals``, so editing their settings refits nothing): percentile
   bootstrap that resamples *tracks* (``fov_name, track_id``, in the order of the table's cells)
   with replacement, since observations of one track are correlated. A replicate without a
   positive or without a negative cell has undefined metrics (:func:`binary_metrics`): it is left
   out of the CIs, the count of replicates used is recorded
   (``{metric}_bootstrap_used``), and where more than
   :data:`MAX_UNDEFINED_REPLICATE_SHARE` of them are left out no CI is reported (NaN bounds, the
   reason in ``{metric}_ci_missing``): the replicates left are those that drew more positives
   (or negatives), a biased subset. Scored cells of one class (a classifier transferred to a
   dataset whose matched annotations are all of one class) get no metric at all: NaN, the reason
   (:func:`one_class_reason`) in each ``{metric}_ci_missing``.
4. The final classifier is fitted on every matched annotation and predicts every cell.

Only the annotated cells' rows of the matrix are held for fitting; every cell is predicted a block
of rows at a time (:func:`classify_cells`, :func:`apply_classifiers` over a
:class:`~dynaclr.embeddings.MatrixBlocks`, e.g. :func:`~dynaclr.embeddings.open_representation`
of a store), and a cell's probability does not depend on the block size
(:meth:`~dynaclr.classify.model.LinearClassifier.positive_probability`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from dynaclr.classify.annotation_table import unique_cells
from dynaclr.classify.annotations import DECISION_THRESHOLD, task_classes
from dynaclr.classify.model import LinearClassifier, build_pipeline
from dynaclr.config.analysis import ClassificationConfig
from dynaclr.config.reasons import NO_CELL_SCORED, single_class_folds
from dynaclr.embeddings import MatrixBlocks, cell_table, match_observations_to_cells, representation_matrix
from dynaclr.numerics.bootstrap import (  # the interval rule, here also for dynaclr.classify's names
    MAX_UNDEFINED_REPLICATE_SHARE as MAX_UNDEFINED_REPLICATE_SHARE,
    ONE_CLUSTER as ONE_CLUSTER,
    BootstrapInterval as BootstrapInterval,
    bootstrap_interval as bootstrap_interval,
    percentile_interval as percentile_interval,
)

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
    "time_minutes",
)


def binary_metrics(truth: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """``f1``, ``auroc``, ``balanced_accuracy`` of positive-class ``probability`` (threshold 0.5).

    scikit-learn's metrics of the positive class ``truth == True``. Each needs both classes in
    ``truth``: a bootstrap replicate, the held-out FOVs of a few annotations or a dataset a
    classifier is transferred to may hold one class only, and then all three are NaN (withheld,
    :func:`one_class_reason` says why where a scores row holds one class). With no negative cell
    no call can be false, so precision is 1 whatever is called and F1 measures recall alone: a
    classifier calling every cell positive would score 1. With no positive cell F1 has nothing to
    find (a false call would make it 0, "misses every infected cell", which the data cannot
    support). With one class, balanced accuracy is the accuracy on that class, and a classifier
    calling every cell that class would score 1. Both classes present and no positive called: F1 0
    (every positive missed).
    """
    truth = np.asarray(truth, dtype=bool)
    probability = np.asarray(probability, dtype=np.float64)
    if truth.all() or not truth.any():  # one class, or no cell
        return {"f1": float("nan"), "auroc": float("nan"), "balanced_accuracy": float("nan")}
    predicted = probability >= DECISION_THRESHOLD
    return {
        "f1": float(f1_score(truth, predicted, zero_division=np.nan)),
        "auroc": float(roc_auc_score(truth, probability)),
        "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
    }


def one_class_reason(task: str, n_cells: int, n_positive: int) -> str:
    """Why the metrics of ``n_cells`` scored annotated cells of ``task``, ``n_positive`` of them of
    the positive class, are withheld (:func:`binary_metrics`); ``""`` when they hold both classes
    (or none: :func:`_no_cell_scored`)."""
    if n_cells == 0 or 0 < n_positive < n_cells:
        return ""
    negative, positive = task_classes(task)
    label = positive if n_positive else negative
    # all positive: no call can be false, so calling every cell positive gives F1 1; all negative:
    # F1 has no positive to find (0/0), balanced accuracy is the accuracy on the negatives alone
    constant = (
        "F1 and balanced accuracy would be 1"
        if n_positive
        else "balanced accuracy would be 1; F1 has nothing to find"
    )
    return (
        f"the {n_cells} scored annotated cells are all {label!r}: F1, AUROC and balanced accuracy need "
        f"both {negative!r} and {positive!r} cells (for a classifier calling every cell {label!r}, "
        f"{constant}); annotate cells of both classes"
    )


def bootstrap_replicates(
    truth: np.ndarray, probability: np.ndarray, clusters: np.ndarray, n_bootstrap: int, seed: int
) -> dict[str, np.ndarray]:
    """:func:`binary_metrics` of ``n_bootstrap`` resamples of ``clusters`` (e.g. tracks), each metric
    an ``(n_bootstrap,)`` array. The resamples depend only on ``clusters`` and ``seed``: two
    predictors scored on the same cells with the same seed get the same resamples, so the
    differences of their replicates form a paired bootstrap."""
    names = ("f1", "auroc", "balanced_accuracy")
    values: dict[str, list[float]] = {name: [] for name in names}
    if n_bootstrap > 0 and len(truth) > 0:
        codes, cluster_ids = pd.factorize(pd.Series(list(map(str, clusters))))
        members = [np.flatnonzero(codes == k) for k in range(len(cluster_ids))]
        rng = np.random.default_rng(seed)
        for _ in range(n_bootstrap):
            drawn = rng.integers(0, len(members), size=len(members))
            rows = np.concatenate([members[k] for k in drawn])
            for name, value in binary_metrics(truth[rows], probability[rows]).items():
                values[name].append(value)
    return {name: np.asarray(values[name], dtype=np.float64) for name in names}


def bootstrap_metrics(
    truth: np.ndarray,
    probability: np.ndarray,
    clusters: np.ndarray,
    n_bootstrap: int,
    seed: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Percentile-bootstrap CIs of :func:`binary_metrics`, resampling ``clusters`` (e.g. tracks).

    Returns:
        For each metric ``{metric}_ci_low`` / ``{metric}_ci_high`` (NaN when ``n_bootstrap == 0``
        or the metric is undefined in more than :data:`MAX_UNDEFINED_REPLICATE_SHARE` of the
        replicates, or the cells are of fewer than
        :data:`~dynaclr.numerics.bootstrap.MIN_BOOTSTRAP_CLUSTERS` clusters: :data:`ONE_CLUSTER`),
        ``{metric}_bootstrap_used`` (the replicates defining it) and ``{metric}_ci_missing`` (why
        there is no CI; ``""`` when there is one): see :func:`bootstrap_interval`.
    """
    out: dict[str, Any] = {}
    n_clusters = len(set(map(str, clusters)))
    for name, values in bootstrap_replicates(truth, probability, clusters, n_bootstrap, seed).items():
        interval = bootstrap_interval(values, confidence, n_clusters=n_clusters)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = interval.low, interval.high
        out[f"{name}_bootstrap_used"], out[f"{name}_ci_missing"] = interval.n_used, interval.missing
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
        metrics: one row of ``classification_scores`` (task, point metrics, counts); from
            :func:`fit_and_evaluate` also its CIs (:func:`score_intervals`), a row of
            ``classification``.
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


@dataclass(frozen=True)
class MatchedAnnotations:
    """The annotations of one task that found a cell of the embeddings."""

    annotations: pd.DataFrame  # rows of the task's annotations that matched, fresh index
    cell_rows: np.ndarray  # (M,) row of each in the embeddings
    truth: np.ndarray  # (M,) bool, the positive class
    fovs: np.ndarray  # (M,) FOV of each matched cell (the cross-validation groups)
    tracks: np.ndarray  # (M,) track of each matched cell
    n_annotated: int  # annotations of the task, each cell once (:func:`unique_cells`)


def match_task_annotations(
    annotations: pd.DataFrame,
    obs: pd.DataFrame,
    task: str,
    config: ClassificationConfig,
    *,
    for_training: bool = True,
    source: str = "annotations",
    drawn: bool = False,
) -> MatchedAnnotations:
    """Annotations of ``task`` matched to the embeddings' cells ``obs`` (``config.match_annotations_on``).

    A cell and task annotated twice with one label is read once, as rule ``import_annotations``
    reads it (:func:`~dynaclr.classify.annotation_table.unique_cells`): with ``on='track'`` both
    rows matched the cell and were counted twice. What one cell is follows the matching: by
    track, rows of one ``fov_name, track_id, t`` whatever their ``y, x`` (two labels refused); by
    position, only rows also at equal ``y, x`` (rows at other positions are other cells).

    Args:
        for_training: the annotations train a cross-validated classifier, so they must hold both
            classes and two FOVs; ``False`` (scoring a classifier fitted elsewhere) checks labels
            and matching only.
        source: what to call ``annotations`` in messages (their file).
        drawn: the annotations were drawn from ground truth or a lineage (rules
            ``draw_annotations``, ``annotate_divisions_from_lineage``;
            :func:`~dynaclr.classify.annotations.annotations_drawn`), not a user's table: two of
            other labels on one tracked cell are two cells the tracker merged, the closer one is
            kept (logged at INFO) instead of refused.

    Raises:
        ValueError: a label is not one of the task's, a cell and task has two labels (naming
            ``source``, the cell, its rows and the labels; by position also two annotations at
            other ``y, x`` that match one tracked cell, unless ``drawn``, naming both and the cell:
            :func:`~dynaclr.embeddings.match_observations_to_cells`), no annotation matches a cell, or (for
            training) the matched annotations hold one class or come from a single FOV.
    """
    negative, positive = task_classes(task)
    task_annotations = unique_cells(
        annotations[annotations["task"] == task], source, on=config.match_annotations_on
    ).reset_index(drop=True)
    unknown = sorted(set(task_annotations["label"]) - {negative, positive})
    if unknown:
        raise ValueError(f"{task} annotations have labels {unknown}; expected {negative!r} or {positive!r}")
    rows = match_observations_to_cells(
        task_annotations,
        obs,
        on=config.match_annotations_on,
        max_distance_px=config.max_match_distance_px,
        kind=f"{source}: {task} annotations",
        label_column="label",
        other_labels="closer" if drawn else "refuse",
    )
    matched = task_annotations[rows >= 0].reset_index(drop=True)
    rows = rows[rows >= 0]
    if len(matched) == 0:
        on = config.match_annotations_on
        raise ValueError(f"no {task} annotation matches a cell of the embeddings (match_on={on!r})")
    truth = (matched["label"] == positive).to_numpy()
    fovs = obs["fov_name"].to_numpy()[rows].astype(str)
    if not for_training:
        return MatchedAnnotations(
            matched, rows, truth, fovs, obs["track_id"].to_numpy()[rows], len(task_annotations)
        )
    if truth.all() or not truth.any():
        raise ValueError(f"{task} annotations hold a single class ({matched['label'].iloc[0]!r}); need both")
    if len(np.unique(fovs)) < 2:
        raise ValueError(
            f"{task}: expected annotations from at least 2 FOVs (the evaluation's folds are grouped by "
            f"FOV), found one FOV ({fovs[0]}); annotate cells of another FOV, or leave the dataset out "
            "of analysis.classification.train_on"
        )
    return MatchedAnnotations(
        matched, rows, truth, fovs, obs["track_id"].to_numpy()[rows], len(task_annotations)
    )


def cross_validate(
    features: np.ndarray, truth: np.ndarray, fovs: np.ndarray, config: ClassificationConfig, task: str
) -> tuple[list[Fold], np.ndarray]:
    """FOV-grouped folds (module docstring) and the out-of-fold positive-class probabilities.

    Returns:
        The folds and ``(M,)`` out-of-fold probabilities (NaN where a fold was skipped).
    """
    n_fovs = len(np.unique(fovs))
    splitter = StratifiedGroupKFold(
        n_splits=min(config.n_splits, n_fovs), shuffle=True, random_state=config.seed
    )
    folds: list[Fold] = []
    out_of_fold = np.full(len(truth), np.nan)
    for train_rows, test_rows in splitter.split(features, truth, groups=fovs):
        fold_fovs = (
            tuple(sorted({str(f) for f in fovs[train_rows]})),
            tuple(sorted({str(f) for f in fovs[test_rows]})),
        )
        if truth[train_rows].all() or not truth[train_rows].any():
            logger.warning(
                "%s: fold testing FOVs %s has one class in its training FOVs %s; skipped",
                task,
                fold_fovs[1],
                fold_fovs[0],
            )
            folds.append(Fold(train_rows, test_rows, *fold_fovs, pipeline=None))
            continue
        pipeline = build_pipeline(config.inverse_regularization_strength, config.max_iterations)
        pipeline.fit(features[train_rows], truth[train_rows].astype(int))
        out_of_fold[test_rows] = pipeline.predict_proba(features[test_rows])[:, 1]
        folds.append(Fold(train_rows, test_rows, *fold_fovs, pipeline=pipeline))
    return folds, out_of_fold


def _scores_row(
    task: str,
    matched: MatchedAnnotations,
    folds: list[Fold],
    out_of_fold: np.ndarray,
    config: ClassificationConfig,
) -> dict[str, Any]:
    """One row of ``classification_scores``: point metrics on the out-of-fold cells and counts; the
    track-bootstrap CIs are :func:`score_intervals`' (rule ``classification_intervals``).

    ``folds`` empty: a classifier fitted elsewhere, applied (``out_of_fold`` its probabilities on
    the annotated cells). Where no cell is scored the WARNING gives :func:`_no_cell_scored`'s reason,
    as the CIs' ``{metric}_ci_missing`` do."""
    truth = matched.truth
    evaluated = np.isfinite(out_of_fold)
    if evaluated.any():
        point = binary_metrics(truth[evaluated], out_of_fold[evaluated])
        if one_class := one_class_reason(task, int(evaluated.sum()), int(truth[evaluated].sum())):
            logger.warning("%s: metrics are NaN: %s", task, one_class)
    else:
        reason = _no_cell_scored(task, len(np.unique(matched.fovs)), cross_validated=bool(folds))
        logger.warning("%s: metrics are NaN: %s", task, reason)
        point = binary_metrics(truth[:0], out_of_fold[:0])
    fitted = [fold for fold in folds if fold.pipeline is not None]
    return {
        "task": task,
        "representation": config.representation,
        "positive_class": task_classes(task)[1],
        **{name: point[name] for name in ("f1", "auroc", "balanced_accuracy")},
        "n_train": round(float(np.mean([len(fold.train_rows) for fold in fitted]))) if fitted else 0,
        "n_test": int(evaluated.sum()),
        "n_test_positive": int(truth[evaluated].sum()),
        "n_annotated": matched.n_annotated,
        "n_matched": len(matched.annotations),
        "n_folds": len(fitted),
        "n_fovs": len(np.unique(matched.fovs)),
    }


def score_intervals(
    scores: dict[str, Any],
    predictions: pd.DataFrame,
    config: ClassificationConfig,
    where: str,
    *,
    cross_validated: bool,
) -> dict[str, Any]:
    """Track-bootstrap CIs (:func:`bootstrap_metrics`: ``config.n_bootstrap``, ``seed``,
    ``confidence``) of one row of ``classification_scores`` (:func:`_scores_row`), from the cells
    its metrics were computed on: the rows of ``predictions`` (one source's, columns of
    :func:`fit_and_evaluate`'s) of its task that are annotated with a finite
    ``out_of_fold_probability``, the truth their ``annotation_label`` being its ``positive_class``,
    resampled by ``fov_name, track_id``.

    Returns:
        The CI columns and ``n_bootstrap``, ``confidence``; with the scored cells all of one class,
        NaN bounds and :func:`one_class_reason` in each ``{metric}_ci_missing`` (the row's metrics
        are NaN too: :func:`binary_metrics`); with no cell scored, NaN bounds and
        why in each ``{metric}_ci_missing``: for a dataset's own classifier (``cross_validated``)
        that fitted no fold (``n_folds`` 0), :func:`~dynaclr.config.reasons.single_class_folds`
        (annotations matched, ``n_matched``, but every fold skipped: the only way a row of
        :func:`_scores_row` scores none of them); for a classifier of another dataset or an
        earlier run (no folds), :data:`~dynaclr.config.reasons.NO_CELL_SCORED`.

    Raises:
        ValueError: those cells are not the ones the row counts (``n_test``, ``n_test_positive``),
            or their :func:`binary_metrics` are not the row's: the predictions are not those the
            scores were computed with. ``where`` names them.
    """
    task = scores["task"]
    of_task = (predictions["task"] == task).to_numpy() & predictions["annotated"].to_numpy(dtype=bool)
    finite = np.isfinite(predictions["out_of_fold_probability"].to_numpy(dtype=np.float64))
    scored = predictions[of_task & finite]
    truth = (scored["annotation_label"] == scores["positive_class"]).to_numpy()
    probability = scored["out_of_fold_probability"].to_numpy(dtype=np.float64)
    found = (len(scored), int(truth.sum()))
    expected = (int(scores["n_test"]), int(scores["n_test_positive"]))
    point = binary_metrics(truth, probability)
    differing = [
        f"{name} {scores[name]} (scores) vs {value} (predictions)"
        for name, value in point.items()
        if not np.isclose(float(scores[name]), value, rtol=0.0, atol=1e-12, equal_nan=True)
    ]
    if found != expected or differing:
        raise ValueError(
            f"{where}: expected {expected[0]} scored {task} cells ({expected[1]} "
            f"{scores['positive_class']!r}, as the scores count: n_test, n_test_positive) giving the "
            f"scores' metrics, found {found[0]} ({found[1]}) annotated cells with an "
            f"out_of_fold_probability{' giving ' + '; '.join(differing) if differing else ''}: the "
            "predictions are not those the scores were computed with; rerun the rule that wrote both"
        )
    clusters = (scored["fov_name"].astype(str) + "|" + scored["track_id"].astype(str)).to_numpy()
    n_bootstrap = config.n_bootstrap if len(scored) else 0
    out = bootstrap_metrics(
        truth,
        probability,
        clusters,
        n_bootstrap,
        config.seed,
        config.confidence,
    )
    if not len(scored):
        # a fitted fold scores its test FOVs' cells, so with none scored n_folds is 0 where cross-validated
        reason = _no_cell_scored(task, int(scores["n_fovs"]), cross_validated and int(scores["n_folds"]) == 0)
        out.update({key: reason for key in out if key.endswith("_ci_missing")})
    elif one_class := one_class_reason(task, *found):
        # the point metrics are withheld (NaN): their reason, not "undefined in every replicate"
        out.update({key: one_class for key in out if key.endswith("_ci_missing")})
    return {**out, "n_bootstrap": config.n_bootstrap, "confidence": config.confidence}


def _no_cell_scored(task: str, n_fovs: int, cross_validated: bool) -> str:
    """Why a classifier of ``task`` scored none of the annotated cells of ``n_fovs`` FOVs: for a
    dataset's own classifier (``cross_validated``, every fold skipped)
    :func:`~dynaclr.config.reasons.single_class_folds`; for one fitted elsewhere and applied (no
    folds), :data:`~dynaclr.config.reasons.NO_CELL_SCORED`."""
    return single_class_folds(task, task_classes(task), n_fovs) if cross_validated else NO_CELL_SCORED


def _predictions(
    obs: pd.DataFrame,
    probability: np.ndarray,
    task: str,
    matched: MatchedAnnotations,
    out_of_fold: np.ndarray,
) -> pd.DataFrame:
    """One row per cell: its index columns, the final classifier's probability and label (missing
    where the probability is NaN: no call), and whether (and how) it was annotated."""
    negative, positive = task_classes(task)
    columns = [c for c in PREDICTION_INDEX_COLUMNS if c in obs.columns]
    annotated = np.zeros(len(obs), dtype=bool)
    annotated[matched.cell_rows] = True
    annotation_label = np.full(len(obs), "", dtype=object)
    annotation_label[matched.cell_rows] = matched.annotations["label"].to_numpy()
    out_of_fold_all = np.full(len(obs), np.nan)
    out_of_fold_all[matched.cell_rows] = out_of_fold
    # a NaN probability (NaN embeddings) is no call: below the threshold it read as the negative class
    predicted_label = np.where(probability >= DECISION_THRESHOLD, positive, negative).astype(object)
    predicted_label[~np.isfinite(probability)] = None
    return obs[columns].assign(
        task=task,
        probability=probability,
        predicted_label=predicted_label,
        annotated=annotated,
        annotation_label=annotation_label.astype(str),
        out_of_fold_probability=out_of_fold_all,
    )


def classify_cells(
    cells: pd.DataFrame,
    blocks: MatrixBlocks,
    annotations: pd.DataFrame,
    tasks: Sequence[str],
    config: ClassificationConfig,
    *,
    source: str = "annotations",
    drawn: bool = False,
) -> list[ClassificationResult]:
    """:func:`fit_and_evaluate` of every task of ``tasks``, on cells and a matrix read by blocks.

    Only the annotated cells' rows of ``blocks`` are held (gathered with
    :meth:`~dynaclr.embeddings.MatrixBlocks.take`); every cell is predicted by every task's final
    classifier in one pass over the blocks. The results do not depend on the block size.

    Args:
        cells: the embeddings' ``obs`` (index ``0..N-1``; as :func:`~dynaclr.embeddings.cell_table`).
        blocks: the ``(N, D)`` matrix of ``config.representation``.
        annotations, config, source, drawn: as :func:`fit_and_evaluate`.
        tasks: the tasks, in the order of the results.
    """
    if blocks.n_rows != len(cells):
        raise ValueError(f"{len(cells)} cells for a matrix of {blocks.n_rows} rows")
    fitted = [_fit_task(cells, blocks, annotations, task, config, source, drawn) for task in tasks]
    probabilities = predict_cells(blocks, [task.classifier for task in fitted])
    return [
        ClassificationResult(
            task.metrics,
            task.annotated_table(cells),
            _predictions(cells, probability, task.classifier.task, task.matched, task.out_of_fold),
            task.classifier,
            task.folds,
        )
        for task, probability in zip(fitted, probabilities, strict=True)
    ]


def fit_and_evaluate(
    embeddings: ad.AnnData,
    annotations: pd.DataFrame,
    task: str,
    config: ClassificationConfig,
    *,
    source: str = "annotations",
    drawn: bool = False,
) -> ClassificationResult:
    """Cross-validate a linear classifier of ``task`` from sparse annotations and predict every cell.

    Protocol in the module docstring; ``config`` gives the matrix (``representation``), folds
    (``n_splits``: at most the number of annotated FOVs, at least 2), ``seed`` (fold shuffle and
    bootstrap), CIs (``n_bootstrap`` over tracks, 0: NaN; ``confidence``), LogisticRegression's
    ``C`` and ``max_iter`` and how annotations find their cell. An embeddings store is classified
    without reading it whole by :func:`classify_cells` (the same results, its metrics without
    the CIs: :func:`score_intervals` of its predictions adds them).

    Args:
        embeddings: AnnData of the embeddings (``obs`` with ``fov_name, track_id, t`` and, for
            matching on position, ``y, x``).
        annotations: ``fov_name, track_id, t, y, x, task, label`` (other tasks' rows are ignored);
            a cell and task annotated twice with one label counts once, with two labels is refused
            (as rule ``import_annotations`` reads a table:
            :func:`~dynaclr.classify.annotation_table.unique_cells`).
        task: ``'infection'`` or ``'division'``.
        config: the stage's config.
        source: what to call ``annotations`` in messages (their file; rows are named by the
            index, 0-based, as a row number from 1).
        drawn: the annotations were drawn, not a user's (:func:`match_task_annotations`).

    Returns:
        :class:`ClassificationResult`; ``predictions`` has the ``obs`` columns of
        :data:`PREDICTION_INDEX_COLUMNS` present, ``task``, ``probability`` (positive class, final
        classifier), ``predicted_label``, ``annotated`` (bool), ``annotation_label`` (``""`` if
        none) and ``out_of_fold_probability`` (NaN unless annotated and evaluated).

    Raises:
        ValueError: see :func:`match_task_annotations`.
    """
    blocks = MatrixBlocks(representation_matrix(embeddings, config.representation))
    result = classify_cells(
        cell_table(embeddings), blocks, annotations, [task], config, source=source, drawn=drawn
    )[0]
    intervals = score_intervals(
        result.metrics, result.predictions, config, f"{task} predictions", cross_validated=True
    )
    return replace(result, metrics={**result.metrics, **intervals})


@dataclass(frozen=True)
class _FittedTask:
    """One task's matched annotations, folds, metrics and final classifier (no prediction yet)."""

    matched: MatchedAnnotations
    folds: list[Fold]
    out_of_fold: np.ndarray
    metrics: dict[str, Any]
    classifier: LinearClassifier

    def annotated_table(self, cells: pd.DataFrame) -> pd.DataFrame:
        """:attr:`ClassificationResult.annotated`."""
        matched = self.matched
        return pd.DataFrame(
            {
                "cell_row": matched.cell_rows,
                "fov_name": matched.fovs,
                "track_id": matched.tracks,
                "t": cells["t"].to_numpy()[matched.cell_rows],
                "label": matched.annotations["label"].to_numpy(),
                "truth": matched.truth,
                "out_of_fold_probability": self.out_of_fold,
            }
        )


def _fit_task(
    cells: pd.DataFrame,
    blocks: MatrixBlocks,
    annotations: pd.DataFrame,
    task: str,
    config: ClassificationConfig,
    source: str,
    drawn: bool,
) -> _FittedTask:
    """Match, cross-validate and fit the final classifier of ``task`` on the annotated rows only."""
    matched = match_task_annotations(annotations, cells, task, config, source=source, drawn=drawn)
    features = blocks.take(matched.cell_rows)
    folds, out_of_fold = cross_validate(features, matched.truth, matched.fovs, config, task)
    metrics = _scores_row(task, matched, folds, out_of_fold, config)
    final = build_pipeline(config.inverse_regularization_strength, config.max_iterations)
    final.fit(features, matched.truth.astype(int))
    classifier = LinearClassifier(task, final, task_classes(task), config.representation)
    logger.info(
        "%s: F1 %.3f, AUROC %.3f, balanced accuracy %.3f on %d out-of-fold cells (%d folds)",
        task,
        metrics["f1"],
        metrics["auroc"],
        metrics["balanced_accuracy"],
        metrics["n_test"],
        metrics["n_folds"],
    )
    return _FittedTask(matched, folds, out_of_fold, metrics, classifier)


def predict_cells(blocks: MatrixBlocks, classifiers: Sequence[LinearClassifier]) -> list[np.ndarray]:
    """``(N,)`` positive-class probability of every row of ``blocks`` by each classifier, in one pass.

    Raises:
        ValueError: a classifier reads another matrix width than ``blocks`` (another model's).
    """
    for classifier in classifiers:
        _check_width(classifier, blocks.n_columns)
    probabilities = [np.empty(blocks.n_rows, dtype=np.float64) for _ in classifiers]
    if not classifiers:
        return probabilities
    for start, block in tqdm(
        blocks, total=blocks.n_blocks, desc="predict", leave=False, mininterval=2, disable=None
    ):
        for probability, classifier in zip(probabilities, classifiers, strict=True):
            probability[start : start + len(block)] = classifier.positive_probability(block)
    return probabilities


def _check_width(classifier: LinearClassifier, n_columns: int) -> None:
    if n_columns != classifier.feature_dim:
        raise ValueError(
            f"{classifier.task} classifier reads {classifier.feature_dim} {classifier.representation} "
            f"dimensions, these embeddings have {n_columns}: it was fitted on another model's embeddings"
        )


def apply_classifiers(
    cells: pd.DataFrame,
    blocks: MatrixBlocks,
    classifiers: Sequence[LinearClassifier],
    annotations: pd.DataFrame | None,
    config: ClassificationConfig,
    *,
    source: str = "annotations",
    drawn: bool = False,
) -> list[tuple[dict[str, Any] | None, pd.DataFrame]]:
    """:func:`apply_and_evaluate` of each classifier (all reading ``blocks``, their representation's
    matrix), predicting every cell in one pass over the blocks; results in ``classifiers`` order.

    Raises:
        ValueError: a classifier reads another matrix width than ``blocks`` (another model's).
    """
    if blocks.n_rows != len(cells):
        raise ValueError(f"{len(cells)} cells for a matrix of {blocks.n_rows} rows")
    probabilities = predict_cells(blocks, classifiers)
    return [
        _score_applied(cells, classifier.task, probability, annotations, config, source, drawn)
        for classifier, probability in zip(classifiers, probabilities, strict=True)
    ]


def apply_and_evaluate(
    embeddings: ad.AnnData,
    classifier: LinearClassifier,
    annotations: pd.DataFrame | None,
    config: ClassificationConfig,
) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """Predict every cell of ``embeddings`` with a classifier fitted on another dataset; score it on
    this dataset's annotations of the task when it has some.

    The classifier is applied as it is (no refit, no cross-validation): every annotated cell is a
    test cell. Metrics and track-bootstrap CIs as in :func:`fit_and_evaluate`; ``n_train`` and
    ``n_folds`` are 0 (the training happened on the source dataset). An embeddings store is
    read by blocks instead with :func:`apply_classifiers` (the same predictions and scores, without
    the CIs: :func:`score_intervals` of its predictions adds them).

    Returns:
        The metrics row (``None`` without annotations of the task) and the per-cell predictions
        (columns of :func:`fit_and_evaluate`'s; ``out_of_fold_probability`` is the probability on
        annotated cells).

    Raises:
        ValueError: the classifier reads another matrix width than these embeddings (another model's).
    """
    blocks = MatrixBlocks(representation_matrix(embeddings, classifier.representation))
    scores, predictions = apply_classifiers(
        cell_table(embeddings), blocks, [classifier], annotations, config
    )[0]
    if scores is None:
        return None, predictions
    where = f"{classifier.task} predictions"
    return {
        **scores,
        **score_intervals(scores, predictions, config, where, cross_validated=False),
    }, predictions


def _score_applied(
    cells: pd.DataFrame,
    task: str,
    probability: np.ndarray,
    annotations: pd.DataFrame | None,
    config: ClassificationConfig,
    source: str,
    drawn: bool,
) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """Metrics (``None`` without annotations of ``task``) and predictions of an applied classifier."""
    has_labels = annotations is not None and bool((annotations["task"] == task).any())
    if not has_labels:
        empty = MatchedAnnotations(
            annotations=pd.DataFrame({"label": pd.Series(dtype=str)}),
            cell_rows=np.zeros(0, dtype=int),
            truth=np.zeros(0, dtype=bool),
            fovs=np.zeros(0, dtype=object),
            tracks=np.zeros(0, dtype=int),
            n_annotated=0,
        )
        return None, _predictions(cells, probability, task, empty, np.zeros(0))
    assert annotations is not None
    matched = match_task_annotations(
        annotations, cells, task, config, for_training=False, source=source, drawn=drawn
    )
    on_annotated = probability[matched.cell_rows]
    metrics = _scores_row(task, matched, [], on_annotated, config)
    logger.info(
        "%s applied: F1 %.3f, AUROC %.3f on %d annotated cells",
        task,
        metrics["f1"],
        metrics["auroc"],
        metrics["n_test"],
    )
    return metrics, _predictions(cells, probability, task, matched, on_annotated)
