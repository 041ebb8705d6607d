"""Rule ``distill``: cross-modal distillation of the infection state (paper Fig. 4).

Protocol (:func:`distill_stage`, config :class:`~dynaclr.config.distillation.DistillationConfig`):

1. Split the dataset's cells by FOV (:func:`~dynaclr.distill.split.split_by_fov`): training FOVs,
   validation FOVs (training FOVs set aside, possibly none) and held-out FOVs.
2. Teacher: the infection classifier of rule ``classify`` on the teacher's (phase + sensor)
   embeddings, read from its artifact (hyperparameters, representation) and refitted, with the same
   scikit-learn pipeline, on the annotations of the training FOVs only (the rule's own classifier
   saw every FOV's annotations, held-out ones included). The annotated cells are those the
   ``classify`` predictions mark (``annotated``, ``annotation_label``). Its positive-class
   probability on every training cell is the pseudo-label. The embeddings store is never read
   whole: the head fits on the annotated training rows gathered from it, and predicts every cell a
   block of rows at a time (:func:`teacher_probability`).
3. Student: a phase-only encoder (``student_channels`` of the teacher's patch store, a strict
   subset of its channels: :func:`check_cross_modal`) with a linear head, reading the centre crop of
   :func:`student_crop`, fine-tuned end to end on every training cell's pseudo-label
   (:func:`~dynaclr.distill.student.train_student`). It starts from ``student_model``'s encoder (a
   contrastive model trained on those channels alone, as the paper's phase-only model) or, without
   one, from seeded random weights. With validation FOVs it is scored every ``validation_every``
   steps and keeps the weights of its best step (:func:`validation_target`): the score is the F1 of
   its calls (threshold 0.5) against the validation FOVs' sparse annotations when these hold both
   states (``annotation_f1``), otherwise against the teacher's calls on every validation cell
   (``pseudo_label_f1``): labels it never trained on, and never the held-out FOVs' ground truth.
   Without validation FOVs it keeps its last step's weights (``max_steps``).
4. Probe (no distillation): the same classifier pipeline fitted on the same training annotations,
   on the features of the student's *initial* encoder (the phase-only contrastive model, or random
   weights).
5. Every held-out cell a ground-truth cell matches is scored: F1 of ``infected`` (threshold 0.5),
   AUROC, balanced accuracy, and each phase-only method's F1 minus the probe's.
6. Rule ``distillation_intervals``
   (:func:`~dynaclr.distill.intervals.distillation_intervals_stage`) adds percentile-bootstrap
   CIs over held-out tracks (:func:`~dynaclr.classify.bootstrap_replicates`), the F1 gain's *paired*
   (the same resampled tracks for every method), from the held-out predictions alone: editing
   ``n_bootstrap`` or ``confidence`` retrains no student.

Outputs of ``distill``: ``scores`` (kind ``distillation_scores``, one row per method:
:data:`~dynaclr.distill.intervals.DISTILLATION_SCORE_COLUMNS`) and ``predictions`` (kind
``distillation_predictions``, one row per held-out cell: its index, truth and each method's
probability). Outputs of
``distillation_intervals``: ``metrics`` (kind ``distillation``,
:data:`~dynaclr.distill.intervals.DISTILLATION_COLUMNS`) and the
figure (PNG, SVG).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from dynaclr.classify import (
    LinearClassifier,
    binary_metrics,
    load_classifiers,
    positive_label,
    predict_cells,
    read_predictions,
)
from dynaclr.classify.stage import check_classifiers_fit
from dynaclr.config.distillation import (
    DistillationConfig,
    DistillationEncoder,
    check_cross_modal,
    crop_size_mismatch,
    student_channel_indices,
)
from dynaclr.distill.intervals import DISTILLATION_SCORE_COLUMNS, METHODS
from dynaclr.distill.split import FovSplit, split_by_fov
from dynaclr.distill.student import (
    StudentClassifier,
    StudentScorer,
    StudentTraining,
    build_student,
    encode_rows,
    student_from_encoder,
    train_student,
)
from dynaclr.embeddings import (
    MatrixBlocks,
    attach_ground_truth,
    open_representation,
    read_cells,
    read_embeddings_provenance,
)
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    StageFiles,
    make_provenance,
    read_table,
    read_table_provenance,
    write_table,
)
from dynaclr.numerics.device import resolve_device
from dynaclr.patches.store import PatchRowReader, open_patch_store

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TASK = "infection"
KEY_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t")
METHOD_DESCRIPTIONS: dict[str, str] = {
    "teacher": "phase + sensor embeddings, linear head on sparse annotations",
    "probe": "phase-only initial encoder, linear head on sparse annotations (no distillation)",
    "student": "phase-only encoder fine-tuned on the teacher's pseudo-labels",
}


class DistillInputs(StageFiles):
    """Rule ``distill``: the teacher's embeddings, its ``classify`` artifacts, the patch store it
    embedded and the dataset's ground truth."""

    embeddings: Path
    predictions: Path
    classifiers: Path
    patches_zarr: Path
    patches_parquet: Path
    ground_truth: Path
    student_checkpoint: Path | None = None


class DistillOutputs(StageFiles):
    """Rule ``distill``: point scores (no CIs) and held-out predictions."""

    scores: Path
    predictions: Path


def _rows_of(cells: pd.DataFrame, table: pd.DataFrame, column: str, source: Path, rerun: str) -> np.ndarray:
    """``table[column]`` for each cell (same order), matched one to one on :data:`KEY_COLUMNS`."""
    keys = list(KEY_COLUMNS)
    merged = cells.loc[:, keys].merge(
        table.loc[:, [*keys, column]], on=keys, how="left", validate="one_to_one"
    )
    if merged[column].isna().any():
        raise ArtifactError(
            f"{source}: {int(merged[column].isna().sum())} of {len(cells)} cells of the teacher's embeddings "
            f"are missing; rerun `snakemake --forcerun {rerun}`"
        )
    return merged[column].to_numpy()


def _teacher_annotations(cells: pd.DataFrame, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` bool annotated and ``(N,)`` bool positive label of each cell, from ``classify``'s
    predictions."""
    predictions = read_predictions(path)
    infection = predictions[predictions["task"] == TASK]
    if infection.empty:
        raise ArtifactError(f"{path}: no '{TASK}' predictions; the dataset needs infection annotations")
    for column in ("annotated", "annotation_label"):
        if column not in infection.columns:
            raise ArtifactError(f"{path}: no column {column!r}; rerun `snakemake --forcerun classify`")
    annotated = _rows_of(cells, infection, "annotated", path, "classify").astype(bool)
    label = _rows_of(cells, infection, "annotation_label", path, "classify").astype(str)
    return annotated, annotated & (label == positive_label(TASK))


def student_crop(
    config: DistillationConfig, store_patch_size: int, start: Any, checkpoint: Path | None
) -> int:
    """The centre crop (pixels, Y and X) the student and the probe read: ``crop_size_yx_px``, else the
    network input ``student_model`` was trained on (as rule ``embed`` crops for it), else the patch
    store's ``patch_size_yx_px``.

    Raises:
        ArtifactError: ``crop_size_yx_px`` is set to another size than the student model's network
            input (its encoder, and the probe's features, would read an input it never read).
    """
    if start is None:
        return int(config.crop_size_yx_px or store_patch_size)
    trained = int(start.patch_size_yx_px)
    problem = crop_size_mismatch(config, trained)
    if problem:
        raise ArtifactError(f"{checkpoint}: {problem}")
    if trained != store_patch_size:
        logger.info(
            "Student and probe read the central %d px (student_model %s's network input), not the patch "
            "store's %d px",
            trained,
            config.student_model,
            store_patch_size,
        )
    return trained


def _fit_head(pipeline: Any, matrix: np.ndarray, truth: np.ndarray, what: str) -> Any:
    """A fresh clone of ``pipeline`` fitted on ``matrix`` rows and bool ``truth``."""
    if truth.all() or not truth.any():
        raise ValueError(
            f"{what}: the training FOVs' {TASK} annotations hold one class ({int(truth.sum())} of "
            f"{len(truth)} positive); hold out or set aside other FOVs (analysis.distillation.heldout_fovs, "
            "validation_fovs)"
        )
    return clone(pipeline).fit(matrix, truth.astype(int))


def teacher_probability(
    classifier: LinearClassifier, blocks: MatrixBlocks, annotated_training: np.ndarray, positive: np.ndarray
) -> np.ndarray:
    """``(N,)`` positive-class probability of every cell by ``classifier``'s pipeline refitted on the
    ``(A,)`` rows ``annotated_training`` of ``blocks`` (its representation's matrix) and their bool
    labels ``positive``.

    Only those rows are gathered (:meth:`~dynaclr.embeddings.MatrixBlocks.take`) to fit; every cell is
    predicted a block of rows at a time (:func:`~dynaclr.classify.predict_cells`): the pipeline's
    ``predict_proba`` of the whole matrix up to rounding, the same bits whatever the block size.
    """
    head = _fit_head(classifier.pipeline, blocks.take(annotated_training), positive, "teacher")
    return predict_cells(blocks, [replace(classifier, pipeline=head)])[0]


def _point_scores(
    probabilities: dict[str, np.ndarray], truth: np.ndarray, config: DistillationConfig
) -> dict[str, dict[str, Any]]:
    """Per method: its description, F1, AUROC, balanced accuracy and its F1 minus the probe's (NaN
    for the probe)."""
    point = {method: binary_metrics(truth, probabilities[method]) for method in METHODS}
    return {
        method: {
            "method": method,
            "description": method_descriptions(config)[method],
            **point[method],
            "f1_minus_probe": point[method]["f1"] - point["probe"]["f1"] if method != "probe" else np.nan,
        }
        for method in METHODS
    }


def method_descriptions(config: DistillationConfig) -> dict[str, str]:
    """:data:`METHOD_DESCRIPTIONS`, naming the phase-only contrastive model the student starts from."""
    if config.student_model is None:
        return METHOD_DESCRIPTIONS
    start = f"phase-only contrastive model {config.student_model}"
    return {
        **METHOD_DESCRIPTIONS,
        "probe": f"{start}, linear head on sparse annotations (no distillation)",
        "student": f"{start} fine-tuned on the teacher's pseudo-labels",
    }


def _student_start(config: DistillationConfig, path: Path | None, n_channels: int, depth: int) -> Any:
    """``student_model``'s checkpoint (a :class:`~dynaclr.training.ContrastiveCheckpoint`), checked to
    be that model's and to read ``n_channels`` channels of ``depth`` slices; None without one."""
    if config.student_model is None:
        return None
    if path is None:
        raise ValueError(
            f"analysis.distillation.student_model {config.student_model!r}: the job got no "
            "'student_checkpoint' input (its model.ckpt)"
        )
    from dynaclr.training import read_contrastive_checkpoint
    from dynaclr.training.checkpoint import check_checkpoint_identity

    trained = read_contrastive_checkpoint(path)
    check_checkpoint_identity(trained, path, expected_model=config.student_model)
    found = (trained.in_channels, trained.in_stack_depth)
    if found != (n_channels, depth) or trained.channel_indices is not None:
        raise ArtifactError(
            f"{path}: model {config.student_model!r} reads {found[0]} channel(s) of {found[1]} slice(s)"
            f"{' through a pretrained stem' if trained.channel_indices is not None else ''}; the student "
            f"reads {n_channels} channel(s) of {depth} slice(s) ({config.student_channels}): train "
            "student_model on a patch spec of exactly the student's channels"
        )
    logger.info("Student starts from model %s (%s)", config.student_model, path)
    return trained


def _check_heldout_truth(split: FovSplit, truth: np.ndarray) -> None:
    scored = split.heldout & np.isfinite(truth)
    positives = int((truth[scored] > 0.5).sum())
    if positives == 0 or positives == int(scored.sum()):
        raise ValueError(
            f"analysis.distillation.heldout_fovs: the held-out FOVs {list(split.heldout_fovs)} hold "
            f"{positives} infected of {int(scored.sum())} ground-truth-matched cells; both states are needed "
            "to score F1; hold out FOVs of infected and mock wells"
        )


@dataclass(frozen=True)
class ValidationTarget:
    """The labels the student's training length is chosen on (cells of the validation FOVs).

    Attributes:
        cells: ``(V,)`` positions of the scored validation cells in the teacher's embeddings.
        positive: ``(V,)`` bool, their label is ``infected``.
        metric: ``'annotation_f1'`` (the cells are the annotated ones, labelled by their annotation) or
            ``'pseudo_label_f1'`` (every validation cell, labelled by the teacher's call).
    """

    cells: np.ndarray
    positive: np.ndarray
    metric: str


def validation_target(
    split: FovSplit, annotated: np.ndarray, annotation_positive: np.ndarray, teacher_probability: np.ndarray
) -> ValidationTarget | None:
    """The validation FOVs' sparse annotations when they hold both states, else the teacher's calls
    (probability >= 0.5) on every validation cell; None without validation FOVs.

    Args:
        annotated, annotation_positive: ``(N,)`` bool per cell of the teacher's embeddings.
        teacher_probability: ``(N,)`` the teacher's positive-class probability (its head never saw
            the validation FOVs' annotations).

    Raises:
        ValueError: neither the annotations nor the teacher's calls on the validation FOVs hold both
            states (the message names ``analysis.distillation.validation_fovs`` and the counts).
    """
    if not split.validation_fovs:
        return None
    labelled = np.flatnonzero(split.validation & annotated)
    n_positive = int(annotation_positive[labelled].sum())
    if 0 < n_positive < len(labelled):
        return ValidationTarget(labelled, annotation_positive[labelled], "annotation_f1")
    every = np.flatnonzero(split.validation)
    calls = teacher_probability[every] >= 0.5
    if 0 < int(calls.sum()) < len(every):
        return ValidationTarget(every, calls, "pseudo_label_f1")
    raise ValueError(
        f"analysis.distillation.validation_fovs: expected both infection states on the validation FOVs "
        f"{list(split.validation_fovs)}, found {n_positive} infected of {len(labelled)} annotations and "
        f"{int(calls.sum())} infected of {len(every)} teacher calls; set aside FOVs of infected and mock "
        "wells, or [] for none"
    )


@dataclass(frozen=True)
class StageCells:
    """The cells of the teacher's embeddings the stage uses, as positions into them.

    Attributes:
        store_rows: ``(N,)`` patch-store row of every cell.
        annotated_training: ``(A,)`` annotated cells of the training FOVs (fit both linear heads).
        annotation_positive: ``(A,)`` bool, their annotation is the positive class.
        training: ``(T,)`` every cell of the training FOVs (pseudo-labelled, train the student).
        validation: the student's validation cells and labels (:func:`validation_target`); None
            without validation FOVs.
        scored: ``(H,)`` cells of the held-out FOVs that a ground-truth cell matches.
        truth: ``(H,)`` bool, ground-truth ``infected`` of ``scored``.
        tracks: ``(H,)`` ``'fov|track'`` of ``scored`` (the bootstrap's clusters).
    """

    store_rows: np.ndarray
    annotated_training: np.ndarray
    annotation_positive: np.ndarray
    training: np.ndarray
    validation: ValidationTarget | None
    scored: np.ndarray
    truth: np.ndarray
    tracks: np.ndarray


class StudentChannels:
    """Reads the student's channels of patch-store rows: ``(n, C_student, Z, Y, X)``."""

    def __init__(self, zarr_path: Path, channel_indices: list[int]) -> None:
        self.reader = PatchRowReader(zarr_path)
        self.channel_indices = channel_indices

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return self.reader.read(rows)[:, self.channel_indices]


def pseudo_label_targets(probability: np.ndarray, kind: str) -> np.ndarray:
    """Cross-entropy targets from the teacher's ``(T,)`` probability: ``(T,)`` classes (``hard``,
    threshold 0.5) or ``(T, 2)`` class probabilities (``soft``)."""
    if kind == "soft":
        return np.stack([1.0 - probability, probability], axis=1)
    return (probability >= 0.5).astype(np.int64)


def _validation_scorer(
    read: StudentChannels,
    rows: np.ndarray,
    positive: np.ndarray,
    crop_yx: int,
    config: DistillationConfig,
    device: torch.device,
) -> StudentScorer:
    """F1 (threshold 0.5) of a student's calls on the patch-store ``rows`` ``(V,)`` against ``positive``."""

    def score(student: StudentClassifier) -> float:
        _, probability = encode_rows(
            student, read, rows, crop_yx=crop_yx, batch_size=config.inference_batch_size, device=device
        )
        return binary_metrics(positive, probability)["f1"]

    return score


def _phase_only_probabilities(
    config: DistillationConfig,
    read: StudentChannels,
    in_stack_depth: int,
    crop_yx: int,
    pipeline: Any,
    cells: StageCells,
    targets: np.ndarray,
    start: Any = None,
) -> tuple[dict[str, np.ndarray], StudentTraining]:
    """``{'probe': (H,), 'student': (H,)}`` positive-class probabilities of the held-out cells, and the
    student's training record (its validation curve and kept step).

    The probe is fitted on the student's initial encoder's features before the student trains; that
    encoder is ``start``'s (a phase-only contrastive model) or seeded random weights."""
    device = resolve_device(config.device, "analysis.distillation.device")
    if start is not None:
        student = student_from_encoder(start, config.seed)
    else:
        student = build_student(
            config.backbone, len(read.channel_indices), in_stack_depth, config.stem_kernel_z, config.seed
        )
    n_annotated = len(cells.annotated_training)
    rows = cells.store_rows[np.concatenate([cells.annotated_training, cells.scored])]
    initial_features, _ = encode_rows(
        student, read, rows, crop_yx=crop_yx, batch_size=config.inference_batch_size, device=device
    )
    probe = _fit_head(pipeline, initial_features[:n_annotated], cells.annotation_positive, "probe")
    probe_probability = probe.predict_proba(initial_features[n_annotated:])[:, 1]
    logger.info("Student: %d training cells, %d steps on %s", len(cells.training), config.max_steps, device)
    validate = None
    if cells.validation is not None:
        validate = _validation_scorer(
            read, cells.store_rows[cells.validation.cells], cells.validation.positive, crop_yx, config, device
        )
    training = train_student(
        student,
        read,
        cells.store_rows[cells.training],
        targets,
        crop_yx=crop_yx,
        max_steps=config.max_steps,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        balance_classes=config.balance_classes,
        seed=config.seed,
        device=device,
        validate=validate,
        validation_every=config.validation_every,
    )
    _, student_probability = encode_rows(
        student,
        read,
        cells.store_rows[cells.scored],
        crop_yx=crop_yx,
        batch_size=config.inference_batch_size,
        device=device,
    )
    return {"probe": probe_probability, "student": student_probability}, training


def _scores_table(
    config: DistillationConfig,
    probabilities: dict[str, np.ndarray],
    cells: StageCells,
    split: FovSplit,
    training: StudentTraining,
    identity: dict[str, Any],
) -> pd.DataFrame:
    """One row per method of :data:`METHODS` (:data:`DISTILLATION_SCORE_COLUMNS`); ``identity`` holds
    ``teacher_model``, ``dataset``, ``pseudo_label_positive_fraction`` and each method's channels.
    The validation curve is two comma-separated strings (steps; scores as Python writes floats, so
    they read back exactly)."""
    channels = identity.pop("input_channels")
    saw_heldout = identity.pop("encoder_saw_heldout")
    scores = dict(zip(training.validation_steps, training.validation_scores, strict=True))
    common = {
        **identity,
        "n_heldout_cells": len(cells.scored),
        "n_heldout_positive": int(cells.truth.sum()),
        "n_heldout_tracks": len(np.unique(cells.tracks)),
        "heldout_fovs": ",".join(split.heldout_fovs),
        "training_fovs": ",".join(split.training_fovs),
        "n_training_annotations": len(cells.annotated_training),
        "n_pseudo_labelled": len(cells.training),
        "validation_fovs": ",".join(split.validation_fovs),
        "n_validation_cells": 0 if cells.validation is None else len(cells.validation.cells),
        "validation_metric": "none" if cells.validation is None else cells.validation.metric,
        "validation_steps": ",".join(map(str, training.validation_steps)),
        "validation_scores": ",".join(map(repr, training.validation_scores)),
        "student_chosen_step": training.chosen_step,
        "validation_score": scores.get(training.chosen_step, np.nan),
    }
    teacher_call = probabilities["teacher"] >= 0.5
    held_out_scores = _point_scores(probabilities, cells.truth, config)
    rows = [
        {
            **common,
            **held_out_scores[method],
            "input_channels": channels[method],
            "encoder_saw_heldout": saw_heldout[method],
            "agreement_with_teacher": float(np.mean((probabilities[method] >= 0.5) == teacher_call)),
        }
        for method in METHODS
    ]
    for row in rows:
        logger.info("%s: held-out F1 %.3f, AUROC %.3f", row["method"], row["f1"], row["auroc"])
    return pd.DataFrame(rows)[list(DISTILLATION_SCORE_COLUMNS)]


def _encoders_saw_heldout(
    config: DistillationConfig,
    encoders: Mapping[str, DistillationEncoder] | None,
    heldout_fovs: Sequence[str],
) -> dict[str, str]:
    """Per method, whether the contrastive encoder it reads was trained on some of ``heldout_fovs``:
    the teacher's model for ``teacher``, the student's starting model for ``probe`` and ``student``
    (``no`` when they start from random weights); ``unknown`` where ``encoders`` does not say."""
    known = encoders or {}
    teacher = known["teacher"].saw(heldout_fovs) if "teacher" in known else "unknown"
    if config.student_model is None:
        student = "no"
    else:
        student = known["student"].saw(heldout_fovs) if "student" in known else "unknown"
    return {"teacher": teacher, "probe": student, "student": student}


def distill_stage(
    config: DistillationConfig,
    inputs: DistillInputs,
    outputs: DistillOutputs,
    *,
    model: str,
    dataset: str,
    encoders: Mapping[str, DistillationEncoder] | None = None,
) -> pd.DataFrame:
    """Distil ``model``'s infection classifier into a phase-only student on ``dataset`` (module docstring).

    ``encoders`` (:meth:`~dynaclr.config.workflow.WorkflowConfig.distillation_encoders`) tell how the
    teacher's and the student's contrastive encoders were trained: each row's ``encoder_saw_heldout``
    says whether its encoder's self-supervised training read held-out FOVs (``unknown`` when not told,
    or for a model read from a file; ``no`` for a student started from random weights).

    The CIs are rule ``distillation_intervals``'
    (:func:`~dynaclr.distill.intervals.distillation_intervals_stage`), from the
    held-out predictions written here: this job reads neither ``n_bootstrap`` nor ``confidence``, and
    records ``config``'s :meth:`~dynaclr.config.base.IntervalsConfig.fit_params`.

    Returns:
        The scores table (one row per method of :data:`METHODS`, point metrics and counts), also
        written to ``outputs.scores``.

    Raises:
        ValueError: a student channel is not in the patch store, a validation FOV is unknown or held
            out, the split leaves a side (training, validation or held out) without both classes, or
            the pseudo-labels hold one class.
        ArtifactError: an input is missing, malformed, or does not cover the teacher's cells.
    """
    obs = read_cells(inputs.embeddings)  # the matrix stays on disk (teacher_probability)
    classifiers = load_classifiers(inputs.classifiers)
    # the teacher reads these embeddings: refuse a classifier fitted on another model's
    check_classifiers_fit(
        inputs.classifiers, inputs.embeddings, read_embeddings_provenance(inputs.embeddings)
    )
    if TASK not in classifiers:
        raise ArtifactError(f"{inputs.classifiers}: no '{TASK}' classifier (found {sorted(classifiers)})")
    teacher_classifier = classifiers[TASK]
    annotated, annotation_positive = _teacher_annotations(obs, inputs.predictions)
    store = open_patch_store(inputs.patches_zarr, inputs.patches_parquet)
    read = StudentChannels(
        inputs.patches_zarr,
        student_channel_indices(config.student_channels, store.channel_names, inputs.patches_zarr),
    )
    student_start = _student_start(
        config, inputs.student_checkpoint, len(read.channel_indices), int(store.array.shape[2])
    )
    check_cross_modal(config.student_channels, read.channel_indices, store.channel_names, inputs.patches_zarr)
    crop_yx = student_crop(config, store.patch_size_yx_px, student_start, inputs.student_checkpoint)
    truth_table, truth_provenance = read_table(
        inputs.ground_truth, ArtifactKind.GROUND_TRUTH_TRACKS, ("infected",)
    )
    truth = attach_ground_truth(
        obs, truth_table, ["infected"], on=config.match_truth_on, max_distance_px=config.max_match_distance_px
    )["infected"].to_numpy(dtype=np.float64)
    split = split_by_fov(obs["fov_name"].to_numpy(), config.heldout_fovs, config.validation_fovs)
    _check_heldout_truth(split, truth)
    logger.info(
        "Training FOVs %s, validation FOVs %s, held-out FOVs %s",
        list(split.training_fovs),
        list(split.validation_fovs),
        list(split.heldout_fovs),
    )
    annotated_training = np.flatnonzero(split.training & annotated)

    # teacher: classify's pipeline refitted on the training FOVs' annotations
    teacher = teacher_probability(
        teacher_classifier,
        open_representation(inputs.embeddings, teacher_classifier.representation),
        annotated_training,
        annotation_positive[annotated_training],
    )
    scored = np.flatnonzero(split.heldout & np.isfinite(truth))
    cells = StageCells(
        store_rows=_rows_of(obs, store.index, "row", inputs.patches_parquet, "embed").astype(np.int64),
        annotated_training=annotated_training,
        annotation_positive=annotation_positive[annotated_training],
        training=np.flatnonzero(split.training),
        validation=validation_target(split, annotated, annotation_positive, teacher),
        scored=scored,
        truth=truth[scored] > 0.5,
        tracks=(obs["fov_name"].astype(str) + "|" + obs["track_id"].astype(str)).to_numpy()[scored],
    )
    pseudo_probability = teacher[cells.training]
    phase_only, training = _phase_only_probabilities(
        config,
        read,
        int(store.array.shape[2]),
        crop_yx,
        teacher_classifier.pipeline,
        cells,
        pseudo_label_targets(pseudo_probability, config.pseudo_labels),
        start=student_start.encoder() if student_start is not None else None,
    )
    probabilities = {"teacher": teacher[scored], **phase_only}
    saw_heldout = _encoders_saw_heldout(config, encoders, split.heldout_fovs)
    student_channels = "+".join(config.student_channels)
    scores = _scores_table(
        config,
        probabilities,
        cells,
        split,
        training,
        {
            "teacher_model": model,
            "dataset": dataset,
            "pseudo_label_positive_fraction": float(np.mean(pseudo_probability >= 0.5)),
            "encoder_saw_heldout": saw_heldout,
            "input_channels": {
                "teacher": "+".join(store.channel_names),
                "probe": student_channels,
                "student": student_channels,
            },
        },
    )
    index_columns = [c for c in ("fov_name", "track_id", "t", "y", "x", "condition") if c in obs.columns]
    predictions = (
        obs.loc[scored, index_columns]
        .reset_index(drop=True)
        .assign(
            infected=cells.truth, **{f"{method}_probability": probabilities[method] for method in METHODS}
        )
    )
    recorded: list[Any] = [
        (inputs.embeddings, read_embeddings_provenance(inputs.embeddings)),
        (inputs.predictions, read_table_provenance(inputs.predictions, ArtifactKind.PREDICTIONS)),
        inputs.classifiers,
        (inputs.patches_zarr, store.provenance),
        (inputs.patches_parquet, store.index_provenance),
        (inputs.ground_truth, truth_provenance),
        *([(inputs.student_checkpoint, student_start.provenance)] if student_start is not None else []),
    ]
    provenance_config = {**config.fit_params(), "model": model, "dataset": dataset}
    write_table(
        scores,
        outputs.scores,
        make_provenance(ArtifactKind.DISTILLATION_SCORES, provenance_config, recorded),
    )
    write_table(
        predictions,
        outputs.predictions,
        make_provenance(ArtifactKind.DISTILLATION_PREDICTIONS, provenance_config, recorded),
    )
    return scores
