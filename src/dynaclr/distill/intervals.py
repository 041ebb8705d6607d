"""Rule ``distillation_intervals``: the track-bootstrap CIs of a ``distill`` job's held-out scores,
from its held-out predictions, and the distillation figure (:func:`distillation_intervals_stage`).

It reads no embeddings, patches or model and trains nothing (nor imports torch): editing
``analysis.distillation.n_bootstrap`` or ``confidence`` reruns this rule alone. The table columns
of both rules are defined here (:data:`DISTILLATION_COLUMNS`, :data:`DISTILLATION_SCORE_COLUMNS`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dynaclr.classify import binary_metrics, bootstrap_replicates
from dynaclr.classify.stage import check_bootstrap_seed, check_same_job
from dynaclr.config.distillation import DistillationConfig
from dynaclr.distill.plots import plot_distillation
from dynaclr.io import ArtifactKind, StageFiles, make_provenance, read_table, write_table
from dynaclr.io.figures import save_figure
from dynaclr.numerics.bootstrap import ONE_CLUSTER, BootstrapInterval, bootstrap_interval, too_few_clusters

logger = logging.getLogger(__name__)

#: Methods scored, in the figure's order.
METHODS: tuple[str, ...] = ("teacher", "probe", "student")
#: Columns of ``distillation`` (rule ``distillation_intervals``): the scores' and the CIs.
DISTILLATION_COLUMNS: tuple[str, ...] = (
    "teacher_model",
    "dataset",
    "method",
    "description",
    "input_channels",
    "encoder_saw_heldout",
    "f1",
    "f1_ci_low",
    "f1_ci_high",
    "f1_ci_missing",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "auroc_ci_missing",
    "balanced_accuracy",
    "balanced_accuracy_ci_low",
    "balanced_accuracy_ci_high",
    "balanced_accuracy_ci_missing",
    "f1_minus_probe",
    "f1_minus_probe_ci_low",
    "f1_minus_probe_ci_high",
    "f1_minus_probe_ci_missing",
    "n_heldout_cells",
    "n_heldout_positive",
    "n_heldout_tracks",
    "heldout_fovs",
    "training_fovs",
    "n_training_annotations",
    "n_pseudo_labelled",
    "pseudo_label_positive_fraction",
    "agreement_with_teacher",
    "validation_fovs",
    "n_validation_cells",
    "validation_metric",
    "validation_steps",
    "validation_scores",
    "student_chosen_step",
    "validation_score",
    "n_bootstrap",
    "confidence",
)
#: Columns of ``distillation`` that rule ``distillation_intervals`` computes (from the held-out
#: predictions); the others are the scores'.
DISTILLATION_INTERVAL_COLUMNS: tuple[str, ...] = (
    *(
        f"{metric}_{part}"
        for metric in ("f1", "auroc", "balanced_accuracy", "f1_minus_probe")
        for part in ("ci_low", "ci_high", "ci_missing")
    ),
    "n_bootstrap",
    "confidence",
)
#: Columns of ``distillation_scores`` (rule ``distill``): point metrics and counts, no CIs.
DISTILLATION_SCORE_COLUMNS: tuple[str, ...] = tuple(
    c for c in DISTILLATION_COLUMNS if c not in DISTILLATION_INTERVAL_COLUMNS
)
#: Columns of a ``distillation_predictions`` table the CIs are computed from.
SCORED_PREDICTION_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "track_id",
    "infected",
    *(f"{method}_probability" for method in METHODS),
)


class DistillationIntervalsInputs(StageFiles):
    """Rule ``distillation_intervals``: the scores and held-out predictions of one ``distill`` job."""

    scores: Path
    predictions: Path


class DistillationIntervalsOutputs(StageFiles):
    """Rule ``distillation_intervals``: the metrics with their CIs and the figure."""

    metrics: Path
    figure_png: Path
    figure_svg: Path


def _interval_scores(
    probabilities: dict[str, np.ndarray], truth: np.ndarray, tracks: np.ndarray, config: DistillationConfig
) -> dict[str, dict[str, Any]]:
    """Per method: percentile-bootstrap CIs over ``tracks`` (``config.n_bootstrap``, ``seed``,
    ``confidence``) of F1, AUROC, balanced accuracy, and of its F1 minus the probe's a *paired* CI
    (every method is scored on the same resampled tracks). A CI resting on too few replicates that
    define the metric is withheld (NaN) with its reason in ``{metric}_ci_missing``, as is every CI
    over held-out cells of fewer than :data:`~dynaclr.numerics.bootstrap.MIN_BOOTSTRAP_CLUSTERS`
    tracks (one track: every resample redraws its cells, a one-value "interval"; reason
    :data:`~dynaclr.numerics.bootstrap.ONE_CLUSTER`): :func:`~dynaclr.numerics.bootstrap.bootstrap_interval`,
    as the classification's CIs (:func:`~dynaclr.classify.bootstrap_metrics`)."""
    replicates = {
        method: bootstrap_replicates(truth, probabilities[method], tracks, config.n_bootstrap, config.seed)
        for method in METHODS
    }
    n_tracks = len(set(map(str, tracks)))
    if truth.size and too_few_clusters(n_tracks, config.n_bootstrap):
        logger.warning("held-out cells of %s: no bootstrap CI (%s)", set(map(str, tracks)), ONE_CLUSTER)

    def interval(values: np.ndarray) -> BootstrapInterval:
        return bootstrap_interval(values, config.confidence, n_clusters=n_tracks)

    scores: dict[str, dict[str, Any]] = {}
    for method in METHODS:
        intervals = {
            name: interval(replicates[method][name]) for name in ("f1", "auroc", "balanced_accuracy")
        }
        if method == "probe":
            intervals["f1_minus_probe"] = BootstrapInterval(np.nan, np.nan, 0, "the probe is the reference")
        else:
            intervals["f1_minus_probe"] = interval(replicates[method]["f1"] - replicates["probe"]["f1"])
        scores[method] = {
            f"{name}_{part}": getattr(interval, part.removeprefix("ci_"))
            for name, interval in intervals.items()
            for part in ("ci_low", "ci_high", "ci_missing")
        }
    return scores


def _check_scored_cells(scores: pd.DataFrame, predictions: pd.DataFrame, where: str) -> None:
    """Refuse ``predictions`` that are not the held-out cells ``scores`` were computed on: the
    methods, the counts (``n_heldout_cells``, ``n_heldout_positive``, ``n_heldout_tracks``) or a
    method's point metrics differ. ``where`` names both files."""
    problems = []
    if list(scores["method"]) != list(METHODS):
        problems.append(f"methods {list(scores['method'])} in the scores, expected {list(METHODS)}")
    else:
        truth = predictions["infected"].to_numpy(dtype=bool)
        tracks = predictions["fov_name"].astype(str) + "|" + predictions["track_id"].astype(str)
        found = {
            "n_heldout_cells": len(predictions),
            "n_heldout_positive": int(truth.sum()),
            "n_heldout_tracks": int(tracks.nunique()),
        }
        problems += [
            f"{row['method']} {name} {int(row[name])} (scores) vs {value} (predictions)"
            for row in scores.to_dict("records")
            for name, value in found.items()
            if int(row[name]) != value
        ]
        probe_f1 = (
            float(scores.set_index("method").loc["probe", "f1"])
            if "probe" in set(scores["method"])
            else np.nan
        )
        for row in scores.to_dict("records"):
            point = binary_metrics(truth, predictions[f"{row['method']}_probability"].to_numpy(np.float64))
            if "f1_minus_probe" in row and row["method"] != "probe":  # the probe's own gain is NaN
                point = {**point, "f1_minus_probe": float(row["f1"]) - probe_f1}
            problems += [
                f"{row['method']} {name} {row[name]} (scores) vs {value} (predictions)"
                for name, value in point.items()
                if not np.isclose(float(row[name]), value, rtol=0.0, atol=1e-12, equal_nan=True)
            ]
    if problems:
        raise ValueError(
            f"{where}: the predictions are not the held-out cells the scores were computed on "
            f"({'; '.join(problems)}); rerun rule 'distill'"
        )


def distillation_intervals_stage(
    config: DistillationConfig,
    inputs: DistillationIntervalsInputs,
    outputs: DistillationIntervalsOutputs,
) -> pd.DataFrame:
    """Add the track-bootstrap CIs (``config.n_bootstrap``, ``confidence``, ``seed``) to each method's
    row of a ``distillation_scores`` table, computed from the held-out cells of the
    ``distillation_predictions`` table the same ``distill`` job wrote (:func:`_interval_scores`);
    write the ``distillation`` table (:data:`DISTILLATION_COLUMNS`) and the figure.

    The CIs read no embeddings, patches or model and train nothing: editing ``n_bootstrap`` or
    ``confidence`` reruns this rule alone. The table records the scores' config with the interval
    keys, the config its rows were computed with.

    Returns:
        The ``distillation`` table.

    Raises:
        ArtifactError: an input is not of its kind, or misses a column.
        ValueError: the two files come from different jobs (their recorded rules, configs or inputs
            differ), the scores were computed with another ``seed`` than ``config``'s, or the
            predictions are not the cells the scores count and score (:func:`_check_scored_cells`).
    """
    scores, scores_prov = read_table(
        inputs.scores, ArtifactKind.DISTILLATION_SCORES, DISTILLATION_SCORE_COLUMNS
    )
    predictions, predictions_prov = read_table(
        inputs.predictions, ArtifactKind.DISTILLATION_PREDICTIONS, SCORED_PREDICTION_COLUMNS
    )
    check_same_job(inputs.scores, scores_prov, inputs.predictions, predictions_prov)
    check_bootstrap_seed(inputs.scores, scores_prov, config.seed, "analysis.distillation.seed")
    _check_scored_cells(scores, predictions, f"{inputs.predictions} for {inputs.scores}")
    probabilities = {
        method: predictions[f"{method}_probability"].to_numpy(dtype=np.float64) for method in METHODS
    }
    tracks = (predictions["fov_name"].astype(str) + "|" + predictions["track_id"].astype(str)).to_numpy()
    intervals = _interval_scores(probabilities, predictions["infected"].to_numpy(dtype=bool), tracks, config)
    rows = [
        {
            **row,
            **intervals[row["method"]],
            "n_bootstrap": config.n_bootstrap,
            "confidence": config.confidence,
        }
        for row in scores.to_dict("records")
    ]
    metrics = pd.DataFrame(rows)[list(DISTILLATION_COLUMNS)]
    for row in rows:
        if row["f1_ci_missing"]:
            logger.info("%s: held-out F1 %.3f [no CI: %s]", row["method"], row["f1"], row["f1_ci_missing"])
        else:
            logger.info(
                "%s: held-out F1 %.3f [%.3f, %.3f]",
                row["method"],
                row["f1"],
                row["f1_ci_low"],
                row["f1_ci_high"],
            )
    provenance_config = {**scores_prov.config, **config.interval_params()}
    recorded: list[Any] = [(inputs.scores, scores_prov), (inputs.predictions, predictions_prov)]
    write_table(
        metrics, outputs.metrics, make_provenance(ArtifactKind.DISTILLATION, provenance_config, recorded)
    )
    figure, caption = plot_distillation(metrics)
    save_figure(figure, outputs.figure_png, outputs.figure_svg)
    logger.info("Wrote %s: %s", outputs.figure_png, caption)
    return metrics
