"""Configuration of cross-modal distillation (paper Fig. 4, rule ``distill``).

A teacher reads phase and the viral sensor: a contrastive model's embeddings of one dataset with
the linear infection classifier of rule ``classify``, refitted on the sparse annotations of the
*training* FOVs only. Its predictions on every cell of those FOVs are pseudo-labels. A student
reads phase only (``student_channels`` of the same patch store): a ConvNeXt encoder
(:class:`~dynaclr.contrastive.ContrastiveEncoder`, seeded random initial weights) with a linear
head, fine-tuned end to end on the pseudo-labels with cross-entropy. Teacher, student and a
phase-only linear probe (the same classifier on the student's *initial* encoder's features, fitted
on the same sparse annotations: no distillation) are scored against the simulator's ground truth on
held-out FOVs that neither the teacher's head nor the student saw.

The student's training length is chosen on *validation* FOVs, training FOVs set aside
(``validation_fovs``) that neither the teacher's head nor the student trains on: the student is
scored every ``validation_every`` steps (F1 of its calls against the validation FOVs' sparse
annotations when they hold both states, otherwise against the teacher's calls there) and keeps the
weights of its best step. The held-out FOVs and the ground truth never take part in the choice.

Units are in the field names: ``_px`` pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from dynaclr.config.base import IntervalsConfig, StrictModel


class DistillationConfig(IntervalsConfig):
    """Cross-modal distillation of the infection state from a phase + sensor teacher into a
    phase-only student (module docstring). Off by default. Rule ``distill`` compares
    :meth:`~dynaclr.config.base.IntervalsConfig.fit_params` (without ``n_bootstrap`` and
    ``confidence``); rule ``distillation_intervals`` computes the CIs from its scores and held-out
    predictions, so editing those two keys retrains no student."""

    enabled: bool = Field(False, description="Run rule 'distill' for teacher_model on dataset.")
    teacher_model: str | None = Field(
        None,
        description="Contrastive model (contrastive_models) whose embeddings and infection classifier "
        "(rule classify) are the teacher; needed when enabled.",
    )
    dataset: str | None = Field(
        None,
        description="Simulated dataset (ground truth known) the teacher embeds and classifies; needed when "
        "enabled.",
    )
    heldout_fovs: list[str] | None = Field(
        None,
        description="FOVs ('row/column/fov') scored against ground truth and never used for the teacher's "
        "head, the pseudo-labels or the student's training; null: in every well with two FOVs or more, "
        "every second FOV in name order (B/1/1, B/1/3, ...). Each side needs both infection states.",
    )
    validation_fovs: list[str] | None = Field(
        None,
        description="Training FOVs ('row/column/fov') set aside to choose the student's training length: "
        "neither the teacher's head nor the student trains on them; the student keeps the weights of its "
        "step with the best validation F1 (against their sparse annotations when these hold both infection "
        "states, else against the teacher's calls on their cells). null: in every well with three training "
        "FOVs or more, every third in name order (the third first), none elsewhere (the demo's plate: none); "
        "[]: none. Without validation FOVs the student keeps the weights of its last step (max_steps).",
    )
    validation_every: int = Field(
        20,
        ge=1,
        description="Optimiser steps between validation scores of the student (the last step is always "
        "scored); each score encodes every validation cell once.",
    )
    student_channels: list[str] = Field(
        default_factory=lambda: ["Phase3D"],
        min_length=1,
        description="Channels of the teacher's patch store the student reads: as the store names them "
        "('phase:Phase3D', source and channel) or the channel alone when only one store channel has it. A "
        "strict subset of the store's channels (the student leaves out the sensor): listing every one is "
        "refused.",
    )
    student_model: str | None = Field(
        None,
        description="Contrastive model (contrastive_models) trained on patches of the student's channels "
        "alone (e.g. a phase-only time-aware model), as the paper's phase-only model: its encoder starts the "
        "student and its features are the probe's. null: a seeded random encoder of 'backbone' and "
        "'stem_kernel_z' (which a student_model's own architecture replaces).",
    )
    backbone: str = Field("convnext_atto", description="timm backbone of the student's encoder.")
    stem_kernel_z: int = Field(1, ge=1, description="Z kernel and stride of the student's 3-D stem.")
    crop_size_yx_px: int | None = Field(
        None,
        ge=8,
        description="Centre crop (pixels) the student (and the probe) sees; null: the network input "
        "(patch_size_yx_px) student_model was trained on, as rule embed feeds it, or without a student_model "
        "the patch store's patch_size_yx_px. With a student_model, only null or that size (checked at "
        "planning; for a model.ckpt of this workflow imported as checkpoint, whose file records the size, by "
        "the dry run reading the file).",
    )
    pseudo_labels: Literal["hard", "soft"] = Field(
        "hard",
        description="Cross-entropy targets: the teacher's predicted class (hard) or its probabilities "
        "(soft).",
    )
    max_steps: int = Field(
        60,
        ge=1,
        description="Optimiser steps of the student (a step budget, so one seed gives the same weights "
        "whatever the machine's speed); with validation FOVs the most it trains, its kept step chosen on "
        "them.",
    )
    batch_size: int = Field(
        32, ge=2, description="Training cells per step; each pass over them is a fresh permutation."
    )
    learning_rate: float = Field(1.0e-3, gt=0.0, description="AdamW learning rate (constant).")
    weight_decay: float = Field(0.05, ge=0.0, description="AdamW weight decay.")
    balance_classes: bool = Field(
        True,
        description="Weight the cross-entropy by inverse pseudo-label frequency (as the teacher's "
        "class_weight='balanced').",
    )
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="'auto': the GPU when torch sees one."
    )
    inference_batch_size: int = Field(256, ge=1, description="Patches encoded at a time for predictions.")
    match_truth_on: Literal["position", "track"] = Field(
        "position",
        description="How ground-truth cells find their tracked cell (see "
        "analysis.pseudotime.match_truth_on).",
    )
    max_match_distance_px: float = Field(6.0, gt=0.0, description="'position' matching radius in pixels.")
    n_bootstrap: int = Field(
        200,
        ge=0,
        description="Bootstrap replicates over held-out tracks for the CIs (rule distillation_intervals: "
        "editing it retrains no student).",
    )
    confidence: float = Field(
        0.95,
        gt=0.0,
        lt=1.0,
        description="Central coverage of the bootstrap interval (rule distillation_intervals).",
    )
    seed: int = Field(0, ge=0, description="Seed of the student's initial weights, batches and bootstrap.")

    @field_validator("heldout_fovs", "validation_fovs")
    @classmethod
    def _fov_names(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return value
        bad = [name for name in value if name.count("/") != 2 or "" in name.split("/")]
        if bad:
            raise ValueError(
                f"{info.field_name}: {bad} are not FOV names; write 'row/column/fov', e.g. 'B/1/1'"
            )
        if not value and info.field_name == "heldout_fovs":
            raise ValueError("heldout_fovs: empty; name at least one FOV or leave the key out")
        return value

    @model_validator(mode="after")
    def _validation_not_held_out(self) -> DistillationConfig:
        both = sorted(set(self.validation_fovs or ()) & set(self.heldout_fovs or ()))
        if both:
            raise ValueError(
                f"analysis.distillation.validation_fovs: {both} are also in heldout_fovs; a validation FOV "
                "is a training FOV set aside, never a held-out one"
            )
        return self

    @model_validator(mode="after")
    def _named_when_enabled(self) -> DistillationConfig:
        missing = [key for key in ("teacher_model", "dataset") if self.enabled and getattr(self, key) is None]
        if missing:
            raise ValueError(
                f"analysis.distillation: enabled needs {missing}; name the teacher (a contrastive model) and "
                "the simulated dataset it classifies"
            )
        return self


# Checks the distill job runs on its inputs and the workflow config runs at planning (same messages).


def student_channel_indices(names: list[str], store_channels: list[str], store: Path | str) -> list[int]:
    """Positions in ``store_channels`` (``'source:channel'``, e.g. ``'phase:Phase3D'``) of ``names``,
    each the full name or the channel part alone when one store channel has it. ``store`` names the
    teacher's patch store (its path, or at planning its patch spec) in the message.

    Raises:
        ValueError: a name matches no store channel, or several (the message lists the store's).
    """
    indices, problems = [], []
    for name in names:
        matches = [
            k for k, channel in enumerate(store_channels) if name in (channel, channel.split(":", 1)[-1])
        ]
        if len(matches) == 1:
            indices.append(matches[0])
        else:
            problems.append(f"{name!r} ({'no' if not matches else 'several'} matches)")
    if problems:
        raise ValueError(
            f"analysis.distillation.student_channels: {', '.join(problems)} in the channels of {store}; its "
            f"channels are {store_channels}"
        )
    return indices


def check_cross_modal(
    names: list[str], indices: list[int], store_channels: list[str], store: Path | str
) -> None:
    """Refuse a student that reads every channel of the teacher's patch store (``indices``, from
    :func:`student_channel_indices`): the teacher's input is drawn from those channels, so the
    student would see all it sees (the sensor included), and the scores and figure, which describe a
    phase-only student of a phase + sensor teacher, would describe nothing distilled across channels.

    Raises:
        ValueError: naming ``analysis.distillation.student_channels``, the store and its channels.
    """
    if set(indices) >= set(range(len(store_channels))):
        raise ValueError(
            f"analysis.distillation.student_channels: expected a strict subset of the channels of the "
            f"teacher's patch store {store} ({store_channels}; the student leaves out the sensor the teacher "
            f"reads), found {names}, every one of them: nothing would be distilled across channels; list "
            "the phase channel(s) alone, or distil on a patch spec that holds the sensor"
        )


def crop_size_mismatch(config: DistillationConfig, trained_px: int) -> str:
    """Why ``config.crop_size_yx_px`` cannot feed ``student_model``, whose network input (the
    ``patch_size_yx_px`` it was trained on) is ``trained_px``: its encoder, and the probe's features,
    would read an input it never read. Empty where it can (null or that size)."""
    if config.crop_size_yx_px is None or config.crop_size_yx_px == trained_px:
        return ""
    return (
        f"analysis.distillation.crop_size_yx_px: expected null or {trained_px} (the network input of "
        f"student_model {config.student_model!r}, which rule embed feeds it), found {config.crop_size_yx_px}"
    )


class DistillationEncoder(StrictModel):
    """How a contrastive encoder the distillation reads was made, as far as its held-out FOVs go
    (:meth:`~dynaclr.config.workflow.WorkflowConfig.distillation_encoders`): the teacher's model, or the
    student's starting model (``student_model``)."""

    model: str = Field(min_length=1, description="Name of the model in contrastive_models.")
    read_from_file: bool = Field(
        description="The model is read from a file (checkpoint or pretrained_weights): the FOVs it was "
        "trained on are not known."
    )
    trains_on_dataset: bool = Field(description="The distilled dataset is among its train_datasets.")
    excluded_fovs: list[str] = Field(
        default_factory=list,
        description="FOVs of the distilled dataset its training leaves out (training.excluded_fovs).",
    )

    def saw(self, heldout_fovs: Sequence[str]) -> Literal["yes", "no", "unknown"]:
        """Whether its self-supervised training read some of ``heldout_fovs`` (``unknown`` for a model
        read from a file)."""
        if self.read_from_file:
            return "unknown"
        if not self.trains_on_dataset:
            return "no"
        return "yes" if set(heldout_fovs) - set(self.excluded_fovs) else "no"

    def heldout_warning(self, role: str, heldout_fovs: Sequence[str]) -> str | None:
        """A line for the planning log when the encoder's training reads ``heldout_fovs`` (or may), with
        the key that keeps them unseen; None when it does not."""
        saw = self.saw(heldout_fovs)
        if saw == "no":
            return None
        if saw == "unknown":
            return (
                f"analysis.distillation: the {role}'s model {self.model!r} is read from a file, so whether "
                f"it was trained on the held-out FOVs {sorted(heldout_fovs)} is not known; the "
                "distillation table and caption say so"
            )
        seen = sorted(set(heldout_fovs) - set(self.excluded_fovs))
        return (
            f"analysis.distillation: the {role}'s model {self.model!r} is trained (self-supervised) on "
            f"the held-out FOVs {seen}; list them in contrastive_models.{self.model}.training.excluded_fovs "
            "to keep them unseen (the distillation table and caption say they were seen)"
        )
