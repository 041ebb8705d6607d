"""Cross-modal distillation (paper Fig. 4): the held-out and validation splits, the student on a
separable toy and its kept step, the figure's caption, the config's errors, and the whole stage on
synthetic artifacts."""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO_ROOT
from pydantic import ValidationError

from dynaclr.config.distillation import DistillationConfig, DistillationEncoder
from dynaclr.config.workflow import WorkflowConfig
from dynaclr.distill import (
    METHODS,
    build_student,
    default_heldout_fovs,
    default_validation_fovs,
    distillation_caption,
    encode_rows,
    pseudo_label_targets,
    split_by_fov,
    train_student,
    validation_target,
)
from dynaclr.distill.intervals import _interval_scores
from dynaclr.distill.stage import _point_scores, student_channel_indices

FOVS = np.array(["A/1/0", "A/1/0", "A/1/1", "B/1/0", "B/1/1", "B/1/2", "C/1/0"])


def test_default_heldout_fovs_are_every_second_fov_of_each_well():
    assert default_heldout_fovs(FOVS) == ["A/1/1", "B/1/1"]


def test_default_validation_fovs_are_every_third_training_fov_of_wells_with_three():
    training = ["A/1/0", "A/1/2", "B/1/0", "B/1/2", "B/1/4", "B/1/6", "B/1/8", "B/1/9", "C/2/0"]
    assert default_validation_fovs(training) == ["B/1/4", "B/1/9"]
    assert default_validation_fovs(["A/1/0", "A/1/2", "B/1/0"]) == []  # the demo's plate: none


PLATE = np.array([f"{well}/{k}" for well in ("A/1", "B/1") for k in range(6) for _ in range(2)])


def test_the_validation_split_is_disjoint_from_training_and_held_out_and_deterministic():
    split = split_by_fov(PLATE, None, None)
    assert split.heldout_fovs == ("A/1/1", "A/1/3", "A/1/5", "B/1/1", "B/1/3", "B/1/5")
    assert split.validation_fovs == ("A/1/4", "B/1/4")
    assert split.training_fovs == ("A/1/0", "A/1/2", "B/1/0", "B/1/2")
    sides = [split.training, split.validation, split.heldout]
    assert (np.sum(sides, axis=0) == 1).all()  # every cell on exactly one side
    assert set(PLATE[split.validation]) == set(split.validation_fovs)
    again = split_by_fov(PLATE[::-1], None, None)  # the order of the cells does not matter
    assert (again.training_fovs, again.validation_fovs) == (split.training_fovs, split.validation_fovs)
    named = split_by_fov(PLATE, None, ["B/1/2"])
    assert named.validation_fovs == ("B/1/2",) and "B/1/2" not in named.training_fovs
    none = split_by_fov(PLATE, None, [])
    assert none.validation_fovs == () and not none.validation.any()
    assert set(none.training_fovs) == set(split.training_fovs) | set(split.validation_fovs)


@pytest.mark.parametrize(
    ("heldout", "validation", "message"),
    [
        (None, ["A/1/1"], r"\['A/1/1'\] are also held out"),
        (None, ["D/1/0"], r"\['D/1/0'\] have no cell"),
        (["A/1/1", "B/1/1"], ["A/1/0", "B/1/0", "B/1/2", "C/1/0"], "leave no training FOV"),
    ],
)
def test_a_validation_split_that_cannot_work_names_the_key(heldout, validation, message):
    with pytest.raises(ValueError, match=f"analysis.distillation.validation_fovs: expected some.*{message}"):
        split_by_fov(FOVS, heldout, validation)


def test_the_validation_target_prefers_annotations_then_the_teachers_calls():
    split = split_by_fov(PLATE, None, ["A/1/4", "B/1/4"])
    validation = np.flatnonzero(split.validation)  # A/1/4 (2 cells), B/1/4 (2 cells)
    annotated = np.zeros(len(PLATE), bool)
    annotated[validation[[0, 2]]] = True
    positive = np.isin(np.arange(len(PLATE)), validation[2:])  # B/1/4 infected
    teacher = np.where(np.char.startswith(PLATE.astype(str), "B"), 0.9, 0.1)
    target = validation_target(split, annotated, positive, teacher)
    assert target is not None and target.metric == "annotation_f1"
    assert target.cells.tolist() == validation[[0, 2]].tolist() and target.positive.tolist() == [False, True]
    one_state = validation_target(split, annotated & ~positive, positive & False, teacher)
    assert one_state is not None and one_state.metric == "pseudo_label_f1"
    assert one_state.cells.tolist() == validation.tolist()
    assert one_state.positive.tolist() == [False, False, True, True]
    assert validation_target(split_by_fov(PLATE, None, []), annotated, positive, teacher) is None
    mock_only = split_by_fov(PLATE, None, ["A/1/4"])
    with pytest.raises(
        ValueError, match=r"validation_fovs: expected both .*\['A/1/4'\], found 0 infected of 1"
    ):
        validation_target(mock_only, annotated, positive, teacher)


def test_split_sides_are_disjoint_and_cover_every_cell():
    split = split_by_fov(FOVS, None)
    assert set(split.training_fovs).isdisjoint(split.heldout_fovs)
    assert set(split.training_fovs) | set(split.heldout_fovs) == set(FOVS)
    assert np.array_equal(split.heldout, np.isin(FOVS, ["A/1/1", "B/1/1"]))
    assert not (split.heldout & split.training).any() and (split.heldout | split.training).all()
    named = split_by_fov(FOVS, ["C/1/0"])
    assert named.heldout_fovs == ("C/1/0",) and named.heldout.sum() == 1


@pytest.mark.parametrize(
    ("heldout", "message"),
    [(["D/1/0"], "have no cell"), (sorted(set(FOVS)), "some but not all")],
)
def test_a_split_that_cannot_work_names_the_key(heldout, message):
    with pytest.raises(ValueError, match=f"analysis.distillation.heldout_fovs.*{message}"):
        split_by_fov(FOVS, heldout)


def _toy_patches(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 1, 1, 32, 32)`` noise patches; label 1 has a bright central square (separable)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    patches = rng.normal(0.0, 0.3, size=(n, 1, 1, 32, 32)).astype(np.float32)
    patches[labels == 1, :, :, 10:22, 10:22] += 2.0
    return patches, labels


def _fit_toy(
    seed: int,
    steps: int = 25,
    validate=None,
    validation_every: int = 20,
    soft: bool = False,
    balance_classes: bool = True,
):
    """The student trained on the toy's labels (``soft``: as a teacher's probabilities 0.9 / 0.1)."""
    patches, labels = _toy_patches(48, seed=1)
    targets = pseudo_label_targets(np.where(labels == 1, 0.9, 0.1), "soft") if soft else labels
    student = build_student("convnext_atto", 1, 1, 1, seed=seed)
    training = train_student(
        student,
        lambda rows: patches[rows],
        np.arange(len(patches)),
        targets,
        crop_yx=32,
        max_steps=steps,
        batch_size=16,
        learning_rate=1e-3,
        weight_decay=0.0,
        balance_classes=balance_classes,
        seed=seed,
        device=torch.device("cpu"),
        validate=validate,
        validation_every=validation_every,
    )
    return student, patches, labels, training


def _toy_accuracy(student) -> float:
    """The student's accuracy on 32 new toy cells."""
    test_patches, test_labels = _toy_patches(32, seed=2)
    _, probability = encode_rows(
        student,
        lambda rows: test_patches[rows],
        np.arange(32),
        crop_yx=32,
        batch_size=8,
        device=torch.device("cpu"),
    )
    return float(np.mean((probability >= 0.5) == test_labels))


def test_the_student_learns_pseudo_labels_of_a_separable_toy(one_torch_thread):
    student, _, _, training = _fit_toy(seed=0)
    losses = training.losses
    assert training.chosen_step == 25 and training.validation_steps == ()  # no scorer: the last step
    assert _toy_accuracy(student) >= 0.9
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_same_seed_gives_the_same_student_on_the_cpu(one_torch_thread):
    first, *_ = _fit_toy(seed=3, steps=4)
    second, *_ = _fit_toy(seed=3, steps=4)
    other, *_ = _fit_toy(seed=4, steps=4)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(first.head.weight, other.head.weight)


def _same_weights(first, second) -> None:
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_the_student_keeps_the_weights_of_its_best_validation_step(one_torch_thread):
    """Scores every 2 steps and at the last (7); the first best (step 4 of a tie with step 7) wins,
    and the kept weights are those of a 4-step run with the same seed: scoring changes nothing."""
    scripted = iter([0.2, 0.7, 0.5, 0.7])

    def validate(student):
        return next(scripted)

    kept, *_, training = _fit_toy(seed=5, steps=7, validate=validate, validation_every=2)
    assert training.validation_steps == (2, 4, 6, 7)
    assert training.validation_scores == (0.2, 0.7, 0.5, 0.7)
    assert training.chosen_step == training.validation_steps[int(np.argmax(training.validation_scores))] == 4
    four_steps, *_, short = _fit_toy(seed=5, steps=4)
    _same_weights(kept, four_steps)
    assert training.losses[:4] == short.losses  # the same batches and updates until step 4
    seven_steps, *_, full = _fit_toy(seed=5, steps=7)
    assert training.losses == full.losses and not torch.equal(kept.head.weight, seven_steps.head.weight)
    assert kept.training  # left in train mode, like a run without validation


@pytest.mark.parametrize("balance_classes", [True, False])
def test_the_student_learns_soft_pseudo_labels_down_to_their_entropy(one_torch_thread, balance_classes):
    """distillation.pseudo_labels: soft (the teacher's probabilities, 0.9 for its class) with and
    without balance_classes: the student still separates the toy and its cross-entropy falls;
    unweighted, towards the targets' own entropy (0.325 nats, the least a soft target allows), not
    to zero as hard labels would."""
    student, _, _, training = _fit_toy(seed=0, soft=True, balance_classes=balance_classes)
    assert _toy_accuracy(student) >= 0.9
    assert np.mean(training.losses[-5:]) < np.mean(training.losses[:5])
    entropy = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    if not balance_classes:  # unweighted, the cross-entropy of a soft target is at least its entropy
        assert min(training.losses) > 0.9 * entropy  # soft targets: not learnt as hard ones (loss -> 0)


def test_one_pseudo_label_class_fails_clearly():
    patches, _ = _toy_patches(16, seed=0)
    student = build_student("convnext_atto", 1, 1, 1, seed=0)
    with pytest.raises(ValueError, match="one class"):
        train_student(
            student,
            lambda rows: patches[rows],
            np.arange(16),
            np.zeros(16, dtype=np.int64),
            crop_yx=32,
            max_steps=1,
            batch_size=8,
            learning_rate=1e-3,
            weight_decay=0.0,
            balance_classes=True,
            seed=0,
            device=torch.device("cpu"),
        )


def test_the_caption_states_each_methods_f1_and_the_held_out_cells():
    metrics = pd.DataFrame(
        {
            "method": list(METHODS),
            "f1": [0.9, 0.4, 0.8],
            "f1_ci_low": [0.85, 0.3, 0.7],
            "f1_ci_high": [0.95, 0.5, 0.85],
            "teacher_model": "teacher",
            "dataset": "demo",
            "n_heldout_cells": 100,
            "n_heldout_positive": 40,
            "n_heldout_tracks": 12,
            "heldout_fovs": "A/1/1,B/1/1",
            "n_pseudo_labelled": 300,
            "confidence": 0.95,
            "f1_minus_probe": [0.5, np.nan, 0.4],
            "f1_minus_probe_ci_low": [0.4, np.nan, 0.25],
            "f1_minus_probe_ci_high": [0.6, np.nan, 0.55],
        }
    )
    caption = distillation_caption(metrics)
    for text in (
        "0.90 [0.85, 0.95]",
        "0.80 [0.70, 0.85]",
        "0.40 [0.30, 0.50]",
        "100 held-out",
        "A/1/1,B/1/1",
    ):
        assert text in caption
    assert (
        "The student beats the probe: F1 +0.40 [+0.25, +0.55], paired bootstrap, 80% of the teacher's gain"
        in caption
    )
    # an F1 of held-out cells of one class is undefined (none called with infected cells present is 0)
    one_class = distillation_caption(metrics.assign(f1=[0.9, np.nan, 0.8]))
    assert "undefined (held-out cells of one class)" in one_class and "predicted-infected" not in one_class
    # a gain whose interval includes 0 is not claimed
    unsure = metrics.assign(f1_minus_probe_ci_low=[0.4, np.nan, -0.05])
    assert "do not differ beyond the interval" in distillation_caption(unsure)
    assert "beats" not in distillation_caption(unsure)
    # whether the contrastive encoders saw the held-out FOVs (a table of schema 3 says nothing)
    assert "trained on" not in caption
    unseen = distillation_caption(metrics.assign(encoder_saw_heldout="no"))
    assert "No contrastive encoder was trained on the held-out FOVs" in unseen
    seen = distillation_caption(metrics.assign(encoder_saw_heldout=["yes", "unknown", "unknown"]))
    assert "The teacher's contrastive encoder was trained on them" in seen
    assert "starting encoder may have been trained on them (read from a file)" in seen
    assert "unseen by labels only" in seen


def test_each_method_says_whether_its_encoder_was_trained_on_the_held_out_fovs():
    """DistillationEncoder.saw: a model trained on the dataset saw the held-out FOVs its excluded_fovs
    do not list; one trained on other datasets saw none; one read from a file is unknown. The warning
    names the key that keeps them unseen."""
    from dynaclr.config.distillation import DistillationEncoder
    from dynaclr.distill.stage import _encoders_saw_heldout

    heldout = ["A/1/1", "B/1/1"]
    trained = DistillationEncoder(model="m", read_from_file=False, trains_on_dataset=True)
    assert trained.saw(heldout) == "yes"
    warning = trained.heldout_warning("teacher", heldout)
    assert warning is not None and "['A/1/1', 'B/1/1']" in warning
    assert "contrastive_models.m.training.excluded_fovs" in warning
    partly = trained.model_copy(update={"excluded_fovs": ["A/1/1"]})
    assert partly.saw(heldout) == "yes" and "['B/1/1']" in str(partly.heldout_warning("teacher", heldout))
    excluding = trained.model_copy(update={"excluded_fovs": [*heldout, "C/1/0"]})
    assert excluding.saw(heldout) == "no" and excluding.heldout_warning("teacher", heldout) is None
    assert trained.model_copy(update={"trains_on_dataset": False}).saw(heldout) == "no"
    loaded = trained.model_copy(update={"read_from_file": True, "excluded_fovs": heldout})
    assert loaded.saw(heldout) == "unknown" and "not known" in str(loaded.heldout_warning("student", heldout))
    config = DistillationConfig(enabled=True, teacher_model="t", dataset="d", student_model="s")
    assert _encoders_saw_heldout(config, {"teacher": excluding, "student": trained}, heldout) == {
        "teacher": "no",
        "probe": "yes",
        "student": "yes",
    }
    random_start = config.model_copy(update={"student_model": None})
    assert _encoders_saw_heldout(random_start, None, heldout) == {
        "teacher": "unknown",
        "probe": "no",
        "student": "no",
    }


def test_the_workflow_config_names_each_encoder_and_its_excluded_fovs_of_the_distilled_dataset():
    """WorkflowConfig.distillation_encoders: the teacher's and the student's models with the FOVs of
    the distilled dataset their training leaves out (qualified entries of other datasets ignored)."""
    raw = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    model = raw["contrastive_models"]["time_aware_ntxent"]
    model["training"]["excluded_fovs"] = ["A/1/1"]
    raw["analysis"]["distillation"] = dict(enabled=True, teacher_model="time_aware_ntxent", dataset="demo")
    encoders = WorkflowConfig.model_validate(raw).distillation_encoders()
    assert list(encoders) == ["teacher"]
    teacher = encoders["teacher"]
    assert teacher.model == "time_aware_ntxent" and teacher.trains_on_dataset and not teacher.read_from_file
    assert teacher.excluded_fovs == ["A/1/1"] and teacher.saw(["A/1/1", "B/1/1"]) == "yes"
    model["train_datasets"] = ["demo", "demo_15min"]
    model["training"]["excluded_fovs"] = ["demo:A/1/1", "demo_15min:A/1/0"]
    pooled = WorkflowConfig.model_validate(raw).distillation_encoders()["teacher"]
    assert pooled.excluded_fovs == ["A/1/1"]
    # trained on one other dataset: its plain names are that dataset's FOVs, not the distilled one's
    model["train_datasets"], model["embed_datasets"] = ["demo_15min"], ["demo_15min", "demo"]
    model["training"]["excluded_fovs"] = ["A/1/1"]
    other = WorkflowConfig.model_validate(raw).distillation_encoders()["teacher"]
    assert not other.trains_on_dataset and other.excluded_fovs == []


def test_a_ci_resting_on_too_few_defined_replicates_is_withheld_with_its_reason():
    """One infected track of 20: most resamples draw no infected cell, F1 is undefined in them, and a
    CI of the few that draw it would be biased: withheld, with the reason, and the caption says so."""
    tracks = np.repeat(np.arange(20), 5)
    truth = tracks == 0
    rng = np.random.default_rng(0)
    noisy = np.clip(truth * 0.8 + rng.uniform(0, 0.3, truth.size), 0, 1)
    probabilities = dict.fromkeys(METHODS, noisy)
    config = DistillationConfig(enabled=True, teacher_model="t", dataset="d", n_bootstrap=50)
    points, intervals = (
        _point_scores(probabilities, truth, config),
        _interval_scores(probabilities, truth, tracks, config),
    )
    scores = {method: {**points[method], **intervals[method]} for method in METHODS}
    for method in METHODS:
        row = scores[method]
        assert np.isfinite(row["f1"])
        assert np.isnan(row["f1_ci_low"]) and np.isnan(row["f1_ci_high"])
        assert "bootstrap replicates" in row["f1_ci_missing"]
    assert scores["probe"]["f1_minus_probe_ci_missing"] == "the probe is the reference"
    assert "replicates" in scores["student"]["f1_minus_probe_ci_missing"]
    metrics = pd.DataFrame(
        [
            {
                **scores[method],
                "teacher_model": "t",
                "dataset": "d",
                "n_heldout_cells": truth.size,
                "n_heldout_positive": int(truth.sum()),
                "n_heldout_tracks": 20,
                "heldout_fovs": "A/1/1",
                "n_pseudo_labelled": 10,
                "confidence": 0.95,
            }
            for method in METHODS
        ]
    )
    caption = distillation_caption(metrics)
    assert "nan" not in caption.lower()
    assert "[no CI: undefined in" in caption
    assert "do not differ beyond the interval" not in caption
    assert "no interval to tell them apart" in caption


def test_held_out_cells_of_one_track_get_no_interval(caplog):
    """Every held-out cell in one track (a held-out FOV of one tracked cell): each track-bootstrap
    resample redraws that track's cells, so every replicate equals the point score and the "CI" was
    a single value (e.g. F1 0.80 [0.80, 0.80]), the student's gain over the probe a paired CI of one
    value. Each CI is withheld with the classification's reason (``ONE_CLUSTER``), which the
    caption shows; two tracks give CIs again."""
    from dynaclr.classify.evaluate import ONE_CLUSTER

    truth = np.arange(20) >= 8  # one cell infected from frame 8 on
    rng = np.random.default_rng(1)
    probabilities = {
        method: np.clip(truth * 0.6 + rng.uniform(0.0, 0.5, truth.size), 0, 1) for method in METHODS
    }
    tracks = np.array(["A/1/1|3"] * truth.size)
    config = DistillationConfig(enabled=True, teacher_model="t", dataset="d", n_bootstrap=50)
    with caplog.at_level(logging.WARNING, logger="dynaclr.distill.intervals"):
        intervals = _interval_scores(probabilities, truth, tracks, config)
    assert any(ONE_CLUSTER in r.getMessage() for r in caplog.records)
    points = _point_scores(probabilities, truth, config)
    for method in METHODS:
        row = intervals[method]
        assert np.isfinite(points[method]["f1"])
        for metric in ("f1", "auroc", "balanced_accuracy"):
            assert np.isnan(row[f"{metric}_ci_low"]) and np.isnan(row[f"{metric}_ci_high"]), (method, metric)
            assert row[f"{metric}_ci_missing"] == ONE_CLUSTER
    assert intervals["probe"]["f1_minus_probe_ci_missing"] == "the probe is the reference"
    for method in ("teacher", "student"):
        assert np.isnan(intervals[method]["f1_minus_probe_ci_low"])
        assert intervals[method]["f1_minus_probe_ci_missing"] == ONE_CLUSTER
    metrics = pd.DataFrame(
        [
            {
                **points[method],
                **intervals[method],
                "teacher_model": "t",
                "dataset": "d",
                "n_heldout_cells": truth.size,
                "n_heldout_positive": int(truth.sum()),
                "n_heldout_tracks": 1,
                "heldout_fovs": "A/1/1",
                "n_pseudo_labelled": 10,
                "confidence": 0.95,
            }
            for method in METHODS
        ]
    )
    caption = distillation_caption(metrics)
    assert caption.count("[no CI: one track: a bootstrap over tracks needs two at least") == 3
    assert "no interval to tell them apart (one track:" in caption
    # n_bootstrap 0 keeps its own reason; two tracks give intervals
    none = _interval_scores(probabilities, truth, tracks, config.model_copy(update={"n_bootstrap": 0}))
    assert none["student"]["f1_ci_missing"] == "no bootstrap replicate drawn (n_bootstrap 0)"
    two = np.where(np.arange(truth.size) % 2 == 0, "A/1/1|3", "A/1/1|4")
    two_tracks = _interval_scores(probabilities, truth, two, config)
    assert two_tracks["student"]["f1_ci_missing"] == "" and np.isfinite(two_tracks["student"]["f1_ci_low"])


def test_enabled_without_teacher_or_dataset_fails_naming_the_keys():
    with pytest.raises(ValidationError, match=r"enabled needs \['teacher_model', 'dataset'\]"):
        DistillationConfig(enabled=True)
    with pytest.raises(ValidationError, match="not FOV names"):
        DistillationConfig(heldout_fovs=["B1"])
    with pytest.raises(ValidationError, match="Extra inputs"):
        DistillationConfig.model_validate({"max_stepz": 3})
    with pytest.raises(ValidationError, match=r"validation_fovs: \['B1'\] are not FOV names"):
        DistillationConfig(validation_fovs=["B1"])
    with pytest.raises(ValidationError, match=r"validation_fovs: \['B/1/1'\] are also in heldout_fovs"):
        DistillationConfig(heldout_fovs=["A/1/1", "B/1/1"], validation_fovs=["B/1/1", "B/1/2"])
    with pytest.raises(ValidationError, match="validation_every"):
        DistillationConfig(validation_every=0)
    assert DistillationConfig(validation_fovs=[]).validation_fovs == []  # none: keep the last step


@pytest.mark.parametrize(
    ("distillation", "message"),
    [
        ({"teacher_model": "nope", "dataset": "demo"}, "teacher_model: 'nope' is not a contrastive model"),
        ({"teacher_model": "time_aware_ntxent", "dataset": "nope"}, "dataset: 'nope' is not a dataset"),
        ({"teacher_model": "time_aware_ntxent", "dataset": "demo_15min"}, "train_on leaves it out"),
    ],
)
def test_the_workflow_config_checks_teacher_and_dataset(distillation, message):
    raw = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    raw["analysis"]["distillation"] = {"enabled": True, **distillation}
    with pytest.raises(ValidationError, match=message):
        WorkflowConfig.model_validate(raw)
    raw["analysis"]["distillation"] = {
        "enabled": True,
        "teacher_model": "time_aware_ntxent",
        "dataset": "demo",
    }
    assert WorkflowConfig.model_validate(raw).analysis.distillation.enabled


def _distillation_overlay() -> dict:
    """config/config.yaml with config/distillation.yaml merged over it (as ``--configfile a b``)."""

    def update(base: dict, extra: dict) -> dict:
        for key, value in extra.items():
            base[key] = update(base.get(key, {}), value) if isinstance(value, dict) else value
        return base

    merged: dict = {}
    for name in ("config", "distillation"):
        update(merged, yaml.safe_load((REPO_ROOT / "config" / f"{name}.yaml").read_text()))
    return merged


@pytest.mark.parametrize(
    ("distillation", "message"),
    [
        (  # every channel of the teacher's spec: the distill job refused it after training both models
            {"student_model": None, "student_channels": ["Phase3D", "raw:ViralSensor"]},
            r"student_channels: expected a strict subset of the channels of the teacher's patch store "
            r"datasets.demo.patches\[phase_sensor\] \(model time_aware_ntxent\) "
            r"\(\['phase:Phase3D', 'raw:ViralSensor'\]; .*found \['Phase3D', 'raw:ViralSensor'\]",
        ),
        (
            {"student_model": None, "student_channels": ["DAPI"]},
            r"student_channels: 'DAPI' \(no matches\) in the channels of "
            r"datasets.demo.patches\[phase_sensor\]",
        ),
        (  # the student model learnt from 48 px: the job refused another crop only when it ran
            {"crop_size_yx_px": 32},
            r"crop_size_yx_px: expected null or 48 \(the network input of student_model 'time_aware_phase', "
            r"which rule embed feeds it\), found 32",
        ),
        (  # the job's seeded random student was built from it only after every model trained
            {"student_model": None, "backbone": "resnet18.my_cells_ft"},
            r"analysis\.distillation\.backbone: expected a timm backbone the student's contrastive encoder "
            r"can be built from .*found 'resnet18\.my_cells_ft'",
        ),
        (  # larger than the teacher's stored patches it is cropped from
            {"student_model": None, "crop_size_yx_px": 512},
            r"crop_size_yx_px: expected a student input within the stored patches of the teacher's spec "
            r"datasets.demo.patches\[phase_sensor\] \(\d+ x \d+ px\), found 512 px",
        ),
    ],
)
def test_the_workflow_config_refuses_a_student_input_the_distill_job_would_refuse(distillation, message):
    """At planning (``snakemake -n``), not when the distill job runs after every model is trained."""
    raw = _distillation_overlay()
    assert WorkflowConfig.model_validate(raw).analysis.distillation.student_model == "time_aware_phase"
    raw["analysis"]["distillation"].update(distillation)
    with pytest.raises(ValidationError, match=message):
        WorkflowConfig.model_validate(raw)


@pytest.mark.parametrize("checkpoint_format", ["viscy", "dynaclr"])
def test_the_workflow_config_checks_an_imported_student_models_crop_at_planning(tmp_path, checkpoint_format):
    """A student_model read from a file: a VisCy checkpoint's network input is the size its patch spec
    declares (rule import_model records it so), so another crop_size_yx_px is refused at planning with
    the distill job's message, not after every model is imported and the teacher trained. A model.ckpt
    of this workflow records its own input (at most the spec's): the config alone cannot tell it (the
    dry run reads the file: test_a_workflow_model_ckpt_students_recorded_input_is_checked_at_planning)."""
    raw = _distillation_overlay()
    checkpoint = tmp_path / "phase_model.ckpt"
    checkpoint.write_bytes(b"weights")
    student = raw["contrastive_models"]["time_aware_phase"]
    student.pop("train_datasets")
    student.update({"checkpoint": str(checkpoint), "checkpoint_format": checkpoint_format})
    assert WorkflowConfig.model_validate(raw).contrastive_models["time_aware_phase"].is_loaded
    raw["analysis"]["distillation"]["crop_size_yx_px"] = 32
    if checkpoint_format == "dynaclr":
        WorkflowConfig.model_validate(raw)  # its input is in the file: the dry run reads it
        return
    with pytest.raises(
        ValidationError,
        match=r"crop_size_yx_px: expected null or 48 \(the network input of student_model "
        r"'time_aware_phase', which rule embed feeds it\), found 32; set it to null \(or 48\), the size its "
        r"patch spec declares",
    ):
        WorkflowConfig.model_validate(raw)
    raw["analysis"]["distillation"]["crop_size_yx_px"] = 48
    WorkflowConfig.model_validate(raw)


@pytest.mark.parametrize("import_format", ["viscy", "timm"])
def test_an_imported_students_crop_is_checked_against_the_first_dataset_it_embeds(tmp_path, import_format):
    """Rule import_model records a VisCy- or timm-imported model's input from its patch spec on the first
    dataset it embeds (demo_15min, 32 px), not the distilled dataset's spec of the same name (demo,
    48 px). Planning read the distilled dataset's: it refused crop_size_yx_px 32, the model's input, and
    let 48 through to the distill job, which refused it after the teacher's training."""
    raw = _distillation_overlay()
    raw["datasets"]["demo_15min"]["patches"] = copy.deepcopy(raw["datasets"]["demo"]["patches"])
    for spec in raw["datasets"]["demo_15min"]["patches"]:
        if spec["name"] == "phase":
            spec["patch_size_yx_px"] = 32
    student = raw["contrastive_models"]["time_aware_phase"]
    student.pop("train_datasets")
    student["embed_datasets"] = ["demo_15min"]
    if import_format == "viscy":
        (tmp_path / "phase_model.ckpt").write_bytes(b"weights")
        student.update({"checkpoint": str(tmp_path / "phase_model.ckpt"), "checkpoint_format": "viscy"})
    else:
        student.update({"train": False, "pretrained_weights": str(tmp_path / "convnext.safetensors")})
        student["training"].update({"stem": "backbone", "projection_dim": 0})
    config = WorkflowConfig.model_validate(raw)
    assert config.contrastive_models["time_aware_phase"].import_format == import_format
    assert config.embedded_datasets("time_aware_phase") == ["demo_15min"]
    raw["analysis"]["distillation"]["crop_size_yx_px"] = 32
    WorkflowConfig.model_validate(raw)
    raw["analysis"]["distillation"]["crop_size_yx_px"] = 48
    with pytest.raises(
        ValidationError,
        match=r"crop_size_yx_px: expected null or 32 \(the network input of student_model "
        r"'time_aware_phase', which rule embed feeds it\), found 48; set it to null \(or 32\), the size "
        r"its patch spec declares \(datasets.demo_15min.patches\[phase\].patch_size_yx_px;",
    ):
        WorkflowConfig.model_validate(raw)


def test_a_crop_given_for_a_workflow_model_ckpt_student_must_fit_the_teachers_stored_patches(tmp_path):
    """A model.ckpt of this workflow imported as student_model records its own input (read by the
    distill job), so planning skipped every size check, the fit in the teacher's stored patches too: a
    crop_size_yx_px of 512 px (the stored window is 88 px) passed planning. A crop given is checked."""
    raw = _distillation_overlay()
    (tmp_path / "phase_model.ckpt").write_bytes(b"weights")
    student = raw["contrastive_models"]["time_aware_phase"]
    student.pop("train_datasets")
    student.update({"checkpoint": str(tmp_path / "phase_model.ckpt"), "checkpoint_format": "dynaclr"})
    raw["analysis"]["distillation"]["crop_size_yx_px"] = 512
    with pytest.raises(
        ValidationError,
        match=r"crop_size_yx_px: expected a student input within the stored patches of the teacher's spec "
        r"datasets.demo.patches\[phase_sensor\] \(\d+ x \d+ px\), found 512 px",
    ):
        WorkflowConfig.model_validate(raw)
    raw["analysis"]["distillation"]["crop_size_yx_px"] = None  # its own input: the distill job checks it
    WorkflowConfig.model_validate(raw)


@pytest.mark.parametrize(
    ("recorded_px", "crop", "message"),
    [
        (  # a null crop reads the file's input: larger than the teacher's stored window
            128,
            None,
            r"analysis\.distillation\.student_model \('time_aware_phase', .*model\.ckpt: network input "
            r"128 px\): expected a student input within the stored patches of the teacher's spec "
            r"datasets\.demo\.patches\[phase_sensor\] \(\d+ x \d+ px\), found 128 px",
        ),
        (
            32,
            48,
            r".*model\.ckpt: analysis\.distillation\.crop_size_yx_px: expected null or 32 \(the network "
            r"input of student_model 'time_aware_phase', which rule embed feeds it\), found 48; set it to "
            r"null \(or 32\), the network input the file records",
        ),
    ],
    ids=["null-crop-too-large", "other-crop"],
)
def test_a_workflow_model_ckpt_students_recorded_input_is_checked_at_planning(
    tmp_path, recorded_px, crop, message
):
    """A model.ckpt of this workflow imported as student_model records its network input, which only
    the distill job read: a null crop reading an input larger than the teacher's stored patches (or a
    crop of another size) was refused after the teacher trained (session 26). The dry run reads the
    size from the file (without torch) and refuses it with the job's message."""
    from dynaclr.config.plate_checks import simulated_layout, workflow_problems

    raw = _distillation_overlay()
    checkpoint = _phase_only_model(tmp_path, "phase_model", patch_size_yx_px=recorded_px)
    student = raw["contrastive_models"]["time_aware_phase"]
    student.pop("train_datasets")
    student.update({"checkpoint": str(checkpoint), "checkpoint_format": "dynaclr"})
    raw["analysis"]["distillation"]["crop_size_yx_px"] = crop
    config = WorkflowConfig.model_validate(raw)  # the config alone cannot tell
    layouts = {n: simulated_layout(d.simulate, f"results/{n}/raw.zarr") for n, d in config.datasets.items()}
    problems = [p for p in workflow_problems(config, layouts, "results") if "student" in p]
    assert len(problems) == 1 and re.match(message, problems[0]), problems
    raw["analysis"]["distillation"]["crop_size_yx_px"] = recorded_px if recorded_px <= 64 else None
    if recorded_px <= 64:  # the size it records passes
        config = WorkflowConfig.model_validate(raw)
        assert not [p for p in workflow_problems(config, layouts, "results") if "student" in p]


def test_the_workflow_config_refuses_a_student_model_larger_than_the_teachers_stored_patches():
    raw = _distillation_overlay()
    for spec in raw["datasets"]["demo"]["patches"]:  # both datasets' specs (one YAML anchor)
        if spec["name"] == "phase":
            spec["patch_size_yx_px"] = 128
    with pytest.raises(
        ValidationError,
        match=r"analysis.distillation.student_model \('time_aware_phase', datasets.demo.patches\[phase\]"
        r".patch_size_yx_px\): expected a student input within the stored patches of the teacher's spec "
        r"datasets.demo.patches\[phase_sensor\] \(\d+ x \d+ px\), found 128 px",
    ):
        WorkflowConfig.model_validate(raw)
    raw["analysis"]["distillation"]["crop_size_yx_px"] = 128  # the size it learnt, still too large
    with pytest.raises(ValidationError, match=r"crop_size_yx_px: expected a student input within"):
        WorkflowConfig.model_validate(raw)
    raw["analysis"]["distillation"]["crop_size_yx_px"] = 48
    with pytest.raises(ValidationError, match=r"crop_size_yx_px: expected null or 128 .*found 48"):
        WorkflowConfig.model_validate(raw)


TOY_FOVS = ("A/1/0", "A/1/1", "B/1/0", "B/1/1")


def _write_toy_artifacts(
    root,
    n_tracks: int = 6,
    n_frames: int = 8,
    fovs=TOY_FOVS,
    classifiers_of: str = "teacher",
    patch_size: int = 32,
) -> dict:
    """Synthetic artifacts of rule ``distill``: ``fovs`` (mock A/1/*, infected B/1/*), channels
    ``Phase3D`` (a bright centre when infected: phase sees it) and ``ViralSensor`` (the same, brighter);
    the teacher's features separate the states, annotations cover every third cell; the classifiers
    record fitting on ``classifiers_of``'s embeddings."""
    import zarr

    from dynaclr.classify import LinearClassifier, build_pipeline, save_classifiers
    from dynaclr.distill import DistillInputs
    from dynaclr.embeddings import build_anndata, write_embeddings
    from dynaclr.io import ArtifactKind, make_provenance, write_table, write_zarr_provenance
    from dynaclr.patches.store import INDEX_COLUMNS, create_patch_array

    rng = np.random.default_rng(0)
    rows = []
    for fov in fovs:
        for track in range(n_tracks):
            onset = rng.integers(1, n_frames - 2) if fov.startswith("B") and track % 3 else n_frames
            for t in range(n_frames):
                rows.append({"fov_name": fov, "track_id": track, "t": t, "infected": t >= onset})
    cells = pd.DataFrame(rows)
    n = len(cells)
    cells = cells.assign(
        row=np.arange(n),
        well=cells["fov_name"].str.rsplit("/", n=1).str[0],
        condition=np.where(cells["fov_name"].str.startswith("B"), "infected", "mock"),
        parent_track_id=-1,
        lineage_id=cells["track_id"],
        time_minutes=30.0 * cells["t"],
        y=10.0 * cells["track_id"] + 20.0,
        x=50.0,
        padded_fraction=0.0,
    )
    infected = cells["infected"].to_numpy()
    patches = rng.normal(0.0, 0.3, size=(n, 2, 1, patch_size, patch_size)).astype(np.float32)
    centre = slice(patch_size // 2 - 6, patch_size // 2 + 6)
    patches[infected, 0, :, centre, centre] += 1.5
    patches[infected, 1, :, centre, centre] += 3.0
    zarr_path, parquet_path = root / "patches.zarr", root / "patches.parquet"
    group = zarr.open_group(str(zarr_path), mode="w")
    create_patch_array(group, n, (2, 1, patch_size, patch_size), "float32", 64)[:] = patches
    group.attrs.update({"channel_names": ["Phase3D", "ViralSensor"], "patch_size_yx_px": patch_size})
    patch_provenance = make_provenance(ArtifactKind.PATCHES, {"name": "toy"})
    write_zarr_provenance(zarr_path, patch_provenance)
    index = cells.loc[:, list(INDEX_COLUMNS)]
    write_table(index, parquet_path, make_provenance(ArtifactKind.PATCH_INDEX, {"name": "toy"}))

    features = rng.normal(size=(n, 8)).astype(np.float32)
    features[:, 0] += 6.0 * infected
    embeddings = root / "embeddings.zarr"
    write_embeddings(
        build_anndata(features, index, projections=features[:, :4]),
        embeddings,
        make_provenance(ArtifactKind.EMBEDDINGS, {"model": "teacher"}),
    )
    annotated = np.arange(n) % 3 == 0
    label = np.where(infected, "infected", "uninfected")
    pipeline = build_pipeline().fit(features[annotated], infected[annotated].astype(int))
    predictions = cells.loc[:, ["fov_name", "track_id", "t", "y", "x"]].assign(
        task="infection",
        probability=pipeline.predict_proba(features)[:, 1],
        predicted_label="",
        annotated=annotated,
        annotation_label=np.where(annotated, label, ""),
    )
    write_table(predictions, root / "predictions.parquet", make_provenance(ArtifactKind.PREDICTIONS, {}))
    classifier = LinearClassifier("infection", pipeline, ("uninfected", "infected"), "features")
    fitted_on = {"embedded_by": {"model": classifiers_of, "encoder_config_hash": None}}
    save_classifiers(
        {"infection": classifier},
        root / "classifiers.json",
        make_provenance(ArtifactKind.CLASSIFIERS, fitted_on),
    )
    truth = cells.loc[:, ["fov_name", "track_id", "t", "y", "x", "infected"]]
    write_table(truth, root / "truth.parquet", make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    return DistillInputs(
        embeddings=embeddings,
        predictions=root / "predictions.parquet",
        classifiers=root / "classifiers.json",
        patches_zarr=zarr_path,
        patches_parquet=parquet_path,
        ground_truth=root / "truth.parquet",
    )


def _outputs(folder):
    from dynaclr.distill import DistillOutputs

    return DistillOutputs(scores=folder / "scores.parquet", predictions=folder / "predictions.parquet")


def _intervals(config, outputs, folder=None, **files):
    """Rule distillation_intervals on ``outputs`` of a distill job (``files`` replace its scores or
    predictions): the metrics, written with the figure to ``folder`` (default: the outputs')."""
    from dynaclr.distill import (
        DistillationIntervalsInputs,
        DistillationIntervalsOutputs,
        distillation_intervals_stage,
    )

    folder = folder or outputs.scores.parent
    inputs = DistillationIntervalsInputs(
        scores=files.get("scores", outputs.scores), predictions=files.get("predictions", outputs.predictions)
    )
    return distillation_intervals_stage(
        config,
        inputs,
        DistillationIntervalsOutputs(
            metrics=folder / "metrics.parquet",
            figure_png=folder / "distillation.png",
            figure_svg=folder / "distillation.svg",
        ),
    )


def test_the_stage_scores_teacher_student_and_probe_on_held_out_fovs(tmp_path, one_torch_thread):
    from dynaclr.distill import DISTILLATION_COLUMNS, distill_stage
    from dynaclr.io import ArtifactKind, read_table

    inputs = _write_toy_artifacts(tmp_path)
    outputs = _outputs(tmp_path / "out")
    config = DistillationConfig(
        enabled=True, teacher_model="teacher", dataset="toy", max_steps=20, batch_size=16, n_bootstrap=20
    )
    # the teacher's encoder left the held-out FOVs out of its training; the student starts at random
    encoders = {
        "teacher": DistillationEncoder(
            model="teacher", read_from_file=False, trains_on_dataset=True, excluded_fovs=["A/1/1", "B/1/1"]
        )
    }
    scores = distill_stage(config, inputs, outputs, model="teacher", dataset="toy", encoders=encoders)
    metrics = _intervals(config, outputs)
    assert list(metrics.columns) == list(DISTILLATION_COLUMNS)
    pd.testing.assert_frame_equal(metrics[list(scores.columns)], scores)
    assert set(metrics["encoder_saw_heldout"]) == {"no"}
    assert list(metrics["method"]) == list(METHODS)
    by_method = metrics.set_index("method")
    assert by_method.loc["teacher", "f1"] > 0.9
    assert by_method.loc["student", "f1"] > 0.8  # phase alone shows the state: the student learns it
    gain = by_method.loc["student", ["f1_minus_probe", "f1_minus_probe_ci_low", "f1_minus_probe_ci_high"]]
    assert gain.iloc[0] == pytest.approx(by_method.loc["student", "f1"] - by_method.loc["probe", "f1"])
    assert gain.iloc[1] <= gain.iloc[0] <= gain.iloc[2] and np.isnan(by_method.loc["probe", "f1_minus_probe"])
    assert (metrics["f1_ci_low"] <= metrics["f1"]).all() and (metrics["f1"] <= metrics["f1_ci_high"]).all()
    assert set(metrics["heldout_fovs"]) == {"A/1/1,B/1/1"} and set(metrics["training_fovs"]) == {
        "A/1/0,B/1/0"
    }
    # two FOVs per well: no validation FOV by default, the student keeps its last step
    assert set(metrics["validation_metric"]) == {"none"} and set(metrics["validation_fovs"]) == {""}
    assert (metrics["student_chosen_step"] == 20).all() and metrics["validation_score"].isna().all()
    predictions, provenance = read_table(outputs.predictions, ArtifactKind.DISTILLATION_PREDICTIONS)
    assert set(predictions["fov_name"]) == {"A/1/1", "B/1/1"}  # held-out cells only
    assert provenance.config["seed"] == 0 and (tmp_path / "out" / "distillation.png").stat().st_size > 0
    stored, _ = read_table(tmp_path / "out" / "metrics.parquet", ArtifactKind.DISTILLATION)
    pd.testing.assert_frame_equal(stored, metrics)
    again = distill_stage(config, inputs, outputs, model="teacher", dataset="toy", encoders=encoders)
    pd.testing.assert_frame_equal(again, scores)  # same seed, same result on the CPU


def test_the_stage_chooses_the_students_step_on_validation_fovs(tmp_path, one_torch_thread):
    """Validation FOVs A/1/2, B/1/2: nothing trains on them (the teacher's head fits the training FOVs'
    annotations only), the student is scored on their annotations every 4 steps and keeps its best."""
    from dynaclr.distill import distill_stage, plot_distillation, validation_curve
    from dynaclr.io import ArtifactKind, read_table

    fovs = ("A/1/0", "A/1/1", "A/1/2", "B/1/0", "B/1/1", "B/1/2")
    inputs = _write_toy_artifacts(tmp_path, n_tracks=4, n_frames=6, fovs=fovs)
    outputs = _outputs(tmp_path / "out")
    config = DistillationConfig(
        enabled=True,
        teacher_model="teacher",
        dataset="toy",
        validation_fovs=["A/1/2", "B/1/2"],
        validation_every=4,
        max_steps=10,
        batch_size=8,
        n_bootstrap=10,
    )
    distill_stage(config, inputs, outputs, model="teacher", dataset="toy")
    metrics = _intervals(config, outputs)
    first = metrics.iloc[0]
    assert (first["training_fovs"], first["validation_fovs"], first["heldout_fovs"]) == (
        "A/1/0,B/1/0",
        "A/1/2,B/1/2",
        "A/1/1,B/1/1",
    )
    predictions, _ = read_table(inputs.predictions, ArtifactKind.PREDICTIONS)
    annotated = predictions["annotated"].astype(bool)
    assert first["n_training_annotations"] == int(
        (annotated & predictions["fov_name"].isin(["A/1/0", "B/1/0"])).sum()
    )
    assert first["n_validation_cells"] == int(
        (annotated & predictions["fov_name"].isin(["A/1/2", "B/1/2"])).sum()
    )
    assert first["n_pseudo_labelled"] == 2 * 4 * 6  # the training FOVs' cells only
    assert first["validation_metric"] == "annotation_f1"
    steps, scores = validation_curve(metrics)
    assert steps.tolist() == [4, 8, 10] and np.isfinite(scores).all()
    assert first["student_chosen_step"] == steps[np.argmax(scores)]
    assert first["validation_score"] == scores.max()
    stored, _ = read_table(tmp_path / "out" / "metrics.parquet", ArtifactKind.DISTILLATION)
    pd.testing.assert_frame_equal(stored, metrics)
    assert "kept the weights of step" in plot_distillation(metrics)[1]
    kept, _ = read_table(outputs.predictions, ArtifactKind.DISTILLATION_PREDICTIONS)
    again = distill_stage(config, inputs, outputs, model="teacher", dataset="toy")
    pd.testing.assert_frame_equal(again, metrics[list(again.columns)])  # same seed, same result on the CPU
    # the kept weights are those of a run of exactly the chosen number of steps
    chosen = int(first["student_chosen_step"])
    distill_stage(
        config.model_copy(update={"max_steps": chosen}), inputs, outputs, model="teacher", dataset="toy"
    )
    short, _ = read_table(outputs.predictions, ArtifactKind.DISTILLATION_PREDICTIONS)
    np.testing.assert_array_equal(short["student_probability"], kept["student_probability"])


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    """One short distill job on the toy artifacts: its config, outputs and point scores; the toy's
    embeddings and patches are then deleted (the intervals must not need them)."""
    import shutil

    from dynaclr.distill import distill_stage

    root = tmp_path_factory.mktemp("distilled")
    inputs = _write_toy_artifacts(root)
    outputs = _outputs(root / "out")
    config = DistillationConfig(
        enabled=True, teacher_model="teacher", dataset="toy", max_steps=4, batch_size=16, n_bootstrap=40
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as one_torch_thread
    try:
        scores = distill_stage(config, inputs, outputs, model="teacher", dataset="toy")
        other = _outputs(root / "other")  # another job: one more step
        distill_stage(
            config.model_copy(update={"max_steps": 5}), inputs, other, model="teacher", dataset="toy"
        )
    finally:
        torch.set_num_threads(threads)
    for store in (inputs.embeddings, inputs.patches_zarr):
        shutil.rmtree(store)
    return {"root": root, "config": config, "outputs": outputs, "other": other, "scores": scores}


def test_the_intervals_are_computed_from_the_predictions_and_retrain_nothing(distilled, tmp_path):
    """Rule distillation_intervals reads distill's scores and held-out predictions only (the toy's
    embeddings and patches are gone): other CI settings give other CIs of the same point scores,
    without touching distill's files, and the table records both files and the CI settings."""
    from dynaclr.distill import DISTILLATION_SCORE_COLUMNS
    from dynaclr.io import ArtifactKind, read_table

    config, outputs = distilled["config"], distilled["outputs"]
    written = {path: path.read_bytes() for path in (outputs.scores, outputs.predictions)}
    runs = {}
    for name, update in {"wide": {}, "narrow": {"confidence": 0.5}, "none": {"n_bootstrap": 0}}.items():
        (tmp_path / name).mkdir()
        runs[name] = _intervals(config.model_copy(update=update), outputs, tmp_path / name)
    assert written == {path: path.read_bytes() for path in written}
    for metrics in runs.values():
        pd.testing.assert_frame_equal(metrics[list(DISTILLATION_SCORE_COLUMNS)], distilled["scores"])
    wide, narrow, none = runs["wide"], runs["narrow"], runs["none"]
    assert set(wide["confidence"]) == {0.95} and set(narrow["confidence"]) == {0.5}
    assert (narrow["f1_ci_low"] >= wide["f1_ci_low"]).all() and (
        narrow["f1_ci_high"] <= wide["f1_ci_high"]
    ).all()
    assert (narrow["f1_ci_high"] - narrow["f1_ci_low"]).sum() < (wide["f1_ci_high"] - wide["f1_ci_low"]).sum()
    assert none[["f1_ci_low", "f1_ci_high", "auroc_ci_low"]].isna().all().all()
    assert set(none["f1_ci_missing"]) == {"no bootstrap replicate drawn (n_bootstrap 0)"}
    assert set(none["n_bootstrap"]) == {0}
    _, provenance = read_table(tmp_path / "narrow" / "metrics.parquet", ArtifactKind.DISTILLATION)
    assert provenance.stage == "distillation_intervals"
    assert [item.path for item in provenance.inputs] == [str(outputs.scores), str(outputs.predictions)]
    assert (provenance.config["confidence"], provenance.config["n_bootstrap"]) == (0.5, 40)
    assert provenance.config["max_steps"] == 4 and provenance.config["model"] == "teacher"
    _, scores_provenance = read_table(outputs.scores, ArtifactKind.DISTILLATION_SCORES)
    assert not {"n_bootstrap", "confidence"} & set(scores_provenance.config)
    assert (tmp_path / "narrow" / "distillation.png").stat().st_size > 0


def test_the_intervals_refuse_scores_and_predictions_of_different_jobs_or_cells(distilled, tmp_path):
    """Scores of one distill job with the predictions of another (another config), scores of another
    seed than the bootstrap's, and predictions that lost a held-out cell or whose probabilities are
    not those scored are refused, naming the files; nothing is written."""
    from dynaclr.io import ArtifactKind, read_table, write_table

    config, outputs, other = distilled["config"], distilled["outputs"], distilled["other"]
    with pytest.raises(
        ValueError, match=r"out/scores.parquet: expected the scores of the job that wrote .*other/predictions"
    ):
        _intervals(config, outputs, tmp_path, predictions=other.predictions)
    with pytest.raises(
        ValueError, match=r"scores.parquet: expected scores of analysis.distillation.seed 1 .* found seed 0"
    ):
        _intervals(config.model_copy(update={"seed": 1}), outputs, tmp_path)
    predictions, provenance = read_table(outputs.predictions, ArtifactKind.DISTILLATION_PREDICTIONS)
    write_table(predictions.iloc[1:], tmp_path / "lost.parquet", provenance)
    n = len(predictions)
    with pytest.raises(
        ValueError,
        match=rf"lost.parquet for .*scores.parquet: .*\(teacher n_heldout_cells {n} \(scores\) vs {n - 1} \(",
    ):
        _intervals(config, outputs, tmp_path, predictions=tmp_path / "lost.parquet")
    flipped = predictions.assign(student_probability=1.0 - predictions["student_probability"])
    write_table(flipped, tmp_path / "flipped.parquet", provenance)
    with pytest.raises(
        ValueError, match=r"flipped.parquet for .*: .*student f1 .* \(scores\) vs .* \(predictions\)"
    ):
        _intervals(config, outputs, tmp_path, predictions=tmp_path / "flipped.parquet")
    scores, scores_provenance = read_table(outputs.scores, ArtifactKind.DISTILLATION_SCORES)
    student = scores["method"] == "student"
    tampered = scores.assign(
        n_heldout_cells=scores["n_heldout_cells"].where(~student, n + 5),
        f1_minus_probe=scores["f1_minus_probe"].where(~student, 0.5),
    )
    write_table(tampered, tmp_path / "tampered.parquet", scores_provenance)
    with pytest.raises(ValueError, match=r"tampered.parquet: .*student n_heldout_cells") as refused:
        _intervals(config, outputs, tmp_path, scores=tmp_path / "tampered.parquet")
    assert "student f1_minus_probe 0.5 (scores)" in str(refused.value)
    assert not (tmp_path / "metrics.parquet").exists()


def test_held_out_fovs_without_both_states_fail_naming_the_key(tmp_path):
    from dynaclr.distill import distill_stage

    inputs = _write_toy_artifacts(tmp_path, n_tracks=3, n_frames=5)
    outputs = _outputs(tmp_path / "out")
    config = DistillationConfig(enabled=True, teacher_model="t", dataset="d", heldout_fovs=["A/1/1"])
    with pytest.raises(ValueError, match=r"heldout_fovs: the held-out FOVs \['A/1/1'\] hold 0 infected"):
        distill_stage(config, inputs, outputs, model="t", dataset="d")
    bad_channel = DistillationConfig(enabled=True, teacher_model="t", dataset="d", student_channels=["DAPI"])
    with pytest.raises(ValueError, match=r"student_channels: .DAPI. \(no matches\)"):
        distill_stage(bad_channel, inputs, outputs, model="t", dataset="d")


def test_a_classifier_fitted_on_another_models_embeddings_is_refused(tmp_path):
    from dynaclr.distill import distill_stage

    inputs = _write_toy_artifacts(tmp_path, n_tracks=3, n_frames=5, classifiers_of="other")
    config = DistillationConfig(enabled=True, teacher_model="t", dataset="d")
    with pytest.raises(ValueError, match=r"expected classifiers fitted on 'teacher'.s embeddings .* 'other'"):
        distill_stage(config, inputs, _outputs(tmp_path / "out"), model="t", dataset="d")


def test_the_workflow_plans_distill_when_enabled_and_its_shim_accepts_the_files(tmp_path):
    """Off in the demo config; on, one ``distill`` job reads the teacher's classify artifacts, with
    params without the CI settings, and one ``distillation_intervals`` job reads its outputs, with the
    CI settings and seed as its compared params (the caption's other keys in a param it does not
    compare)."""
    from test_stage_contract import SCRIPTS, planned_jobs, shim_classes

    raw = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    assert not raw["analysis"]["distillation"]["enabled"]
    raw["analysis"]["distillation"]["enabled"] = True
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(raw, sort_keys=False))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(REPO_ROOT / "tests" / "data")
    planned = [
        job
        for job in planned_jobs(configfile, tmp_path)
        if job.rule.name in {"distill", "distillation_intervals"}
    ]
    jobs = {job.rule.name: job for job in planned}
    assert len(planned) == len(jobs) == 2
    job, intervals = jobs["distill"], jobs["distillation_intervals"]
    assert job.wildcards_dict == intervals.wildcards_dict == {"model": "time_aware_ntxent", "dataset": "demo"}
    assert str(job.input["classifiers"]).endswith("evaluation/classifiers/time_aware_ntxent/demo.json")
    distillation = DistillationConfig.model_validate(raw["analysis"]["distillation"])
    whole = distillation.model_dump(mode="json")
    assert dict(job.params["config"]) == {
        k: v for k, v in whole.items() if k not in ("n_bootstrap", "confidence")
    }
    assert dict(intervals.params["config"]) == {k: whole[k] for k in ("n_bootstrap", "confidence", "seed")}
    assert {str(path) for path in intervals.input} == {str(path) for path in job.output}
    assert intervals.params["described"] not in list(intervals.non_derived_params)
    caption = (REPO_ROOT / "workflow" / "report" / "distillation.rst").read_text()
    for param, field in re.findall(r"snakemake\.params\.(\w+)\.(\w+)", caption):
        assert field in intervals.params[param], f"distillation.rst reads params.{param}.{field}"
    for script, planned_job in (("distill.py", job), ("distillation_intervals.py", intervals)):
        classes = shim_classes(SCRIPTS / script)
        for side in ("input", "output"):
            classes[side].from_rule(getattr(planned_job, side))


def test_pseudo_label_targets_are_classes_or_probabilities():
    probability = np.array([0.2, 0.5, 0.9])
    assert pseudo_label_targets(probability, "hard").tolist() == [0, 1, 1]
    assert np.allclose(pseudo_label_targets(probability, "soft"), [[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]])


def test_student_channels_are_found_by_full_or_channel_name():
    store = ["phase:Phase3D", "raw:ViralSensor", "raw:Phase3D"]
    assert student_channel_indices(["raw:ViralSensor", "raw:Phase3D"], store, Path("s.zarr")) == [1, 2]
    assert student_channel_indices(["ViralSensor"], store, Path("s.zarr")) == [1]
    with pytest.raises(ValueError, match=r"'Phase3D' \(several matches\)"):
        student_channel_indices(["Phase3D"], store, Path("s.zarr"))


def _phase_only_model(root, name: str, patch_size_yx_px: int = 32):
    """A phase-only contrastive model's model.ckpt (1 channel, 1 slice, test_convnext backbone, trained
    on a ``patch_size_yx_px`` network input)."""
    import timm
    import torch

    from dynaclr.config.training import ContrastiveModelConfig
    from dynaclr.training.imported import ImportModelInputs, ImportModelOutputs, import_model

    weights = root / "backbone.pt"
    torch.manual_seed(1)
    torch.save(timm.create_model("test_convnext", pretrained=False, num_classes=0).state_dict(), weights)
    # a timm file holds the backbone alone: its own 2-D stem, no projection head (nothing left random)
    config = ContrastiveModelConfig(
        patch_spec="phase", sampling="classical", backbone="test_convnext", stem="backbone", projection_dim=0
    )
    outputs = ImportModelOutputs(checkpoint=root / name / "model.ckpt", config=root / name / "config.json")
    import_model(
        config,
        "timm",
        ImportModelInputs(checkpoint=weights),
        outputs,
        in_channels=1,
        in_stack_depth=1,
        patch_size_yx_px=patch_size_yx_px,
        model_name=name,
    )
    return outputs.checkpoint


def test_the_student_can_start_from_a_phase_only_contrastive_model(tmp_path, one_torch_thread):
    """``student_model``: its encoder starts the student and gives the probe's features; a checkpoint
    of another model, or one that reads other channels, is refused naming what it holds."""
    from dynaclr.distill import distill_stage
    from dynaclr.io import ArtifactError, ArtifactKind, read_table

    inputs = _write_toy_artifacts(tmp_path).model_copy(
        update={"student_checkpoint": _phase_only_model(tmp_path, "phase_model")}
    )
    outputs = _outputs(tmp_path / "out")
    config = DistillationConfig(
        enabled=True,
        teacher_model="teacher",
        dataset="toy",
        student_model="phase_model",
        max_steps=20,
        batch_size=16,
        n_bootstrap=20,
    )
    metrics = distill_stage(config, inputs, outputs, model="teacher", dataset="toy").set_index("method")
    assert metrics.loc["probe", "description"].startswith("phase-only contrastive model phase_model")
    assert metrics.loc["student", "f1"] > 0.8
    _, provenance = read_table(outputs.scores, ArtifactKind.DISTILLATION_SCORES)
    assert str(inputs.student_checkpoint) in [item.path for item in provenance.inputs]

    with pytest.raises(ArtifactError, match="holds model 'phase_model', expected model 'other'"):
        distill_stage(
            config.model_copy(update={"student_model": "other"}),
            inputs,
            outputs,
            model="teacher",
            dataset="toy",
        )
    two_channels = config.model_copy(update={"student_channels": ["Phase3D", "ViralSensor"]})
    with pytest.raises(ArtifactError, match=r"reads 1 channel\(s\) of 1 slice\(s\).*the student reads 2"):
        distill_stage(two_channels, inputs, outputs, model="teacher", dataset="toy")


def test_the_workflow_config_checks_the_student_model_reads_the_students_channels():
    raw = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    raw["analysis"]["distillation"] = {
        "enabled": True,
        "teacher_model": "time_aware_ntxent",
        "dataset": "demo",
        "student_model": "classical_ntxent",  # reads phase and the sensor
    }
    with pytest.raises(ValidationError, match=r"'classical_ntxent' was trained on patch spec 'phase_sensor'"):
        WorkflowConfig.model_validate(raw)
    raw["analysis"]["distillation"]["student_model"] = "nope"
    with pytest.raises(ValidationError, match="student_model: 'nope' is not a contrastive model"):
        WorkflowConfig.model_validate(raw)


def test_a_student_reading_every_channel_of_the_teachers_store_is_refused(tmp_path):
    """The student must leave out a channel the teacher reads (the sensor): reading them all it was
    scored, with exit 0, as a 'phase-only' student of a 'phase + sensor' teacher."""
    from dynaclr.distill import distill_stage

    inputs = _write_toy_artifacts(tmp_path)
    outputs = _outputs(tmp_path / "out")
    config = DistillationConfig(
        enabled=True,
        teacher_model="teacher",
        dataset="toy",
        max_steps=2,
        student_channels=["Phase3D", "ViralSensor"],
    )
    with pytest.raises(
        ValueError,
        match=r"student_channels: expected a strict subset of the channels of the teacher's patch store "
        r".*patches.zarr \(\['Phase3D', 'ViralSensor'\].*found \['Phase3D', 'ViralSensor'\], every one",
    ):
        distill_stage(config, inputs, outputs, model="teacher", dataset="toy")
    assert not outputs.scores.exists() and not outputs.predictions.exists()


def test_the_student_model_reads_the_network_input_it_was_trained_on(tmp_path, one_torch_thread, monkeypatch):
    """A student_model trained on 32 px: the student and the probe read the central 32 px of the
    48 px patches (as rule embed feeds that model), not the store's 48; another crop_size_yx_px is
    refused naming both sizes."""
    from dynaclr.distill import distill_stage, stage as distill_module
    from dynaclr.io import ArtifactError

    inputs = _write_toy_artifacts(tmp_path, patch_size=48).model_copy(
        update={"student_checkpoint": _phase_only_model(tmp_path, "phase_model", patch_size_yx_px=32)}
    )
    encoded = []
    encode_rows = distill_module.encode_rows

    def encoding(student, reader, rows, *, crop_yx, **kwargs):
        encoded.append(crop_yx)
        return encode_rows(student, reader, rows, crop_yx=crop_yx, **kwargs)

    monkeypatch.setattr(distill_module, "encode_rows", encoding)
    config = DistillationConfig(
        enabled=True,
        teacher_model="teacher",
        dataset="toy",
        student_model="phase_model",
        max_steps=3,
        batch_size=16,
        n_bootstrap=20,
    )
    distill_stage(config, inputs, _outputs(tmp_path / "out"), model="teacher", dataset="toy")
    assert encoded and set(encoded) == {32}  # the probe's features and the student's calls
    with pytest.raises(ArtifactError, match=r"crop_size_yx_px: expected null or 32 .*phase_model.*found 48"):
        distill_stage(
            config.model_copy(update={"crop_size_yx_px": 48}),
            inputs,
            _outputs(tmp_path / "refused"),
            model="teacher",
            dataset="toy",
        )
    assert not (tmp_path / "refused" / "scores.parquet").exists()
