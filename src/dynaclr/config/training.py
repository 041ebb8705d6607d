"""Configuration of contrastive training (rule ``train_contrastive``).

One :class:`ContrastiveModelConfig` per named model in the workflow config. Sampling follows the
DynaCLR paper (section 3.2):

* ``classical``: anchor and positive are two augmentations of the same patch; batches are random,
  so other patches of the same cell can act as negatives (no tracking knowledge is used).
* ``cell_aware``: as classical, but tracking defines identity: under NT-Xent a batch never holds two
  patches of the same lineage, and explicit (triplet) negatives come from other lineages, at any
  time point by default (the paper's definition: its reference implementation draws the triplet
  negative from any other track at a random time), or at the anchor's time (``negative_time: same``).
* ``time_aware``: the positive is the same cell ``tau`` later, following the lineage through
  divisions; negatives are other lineages at that time (``negative_time: same``, the default and
  the paper's definition).

Where the paper takes "another cell" to be another track, this project takes another lineage: a
mother and its daughters are never each other's negatives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from dynaclr.config.base import StrictModel

#: Separates the dataset from the FOV in a pooled FOV name (``dataset:A/1/0``).
FOV_SEPARATOR = ":"


def qualified_fov_name(dataset: str, fov_name: str) -> str:
    """The FOV ``fov_name`` of ``dataset`` named across datasets, ``dataset:row/col/fov``
    (:data:`FOV_SEPARATOR`): as a pooled patch index holds it and a model's FOV lists give it."""
    return f"{dataset}{FOV_SEPARATOR}{fov_name}"


class FovEntry(NamedTuple):
    """An entry of a model's FOV list (:func:`resolve_fov_entries`) and the FOV it names."""

    entry: str  # as the config gives it
    dataset: str
    fov: str  # row/col/fov


def resolve_fov_entries(
    key: str, entries: Sequence[str] | None, datasets: Sequence[str]
) -> tuple[list[FovEntry], list[str]]:
    """The FOVs the entries of a model's FOV list ``key`` (``validation_fovs``, ``excluded_fovs``) name,
    in order, among the ``datasets`` it trains on, and the problems of the entries that name none of
    them (left out of the FOVs).

    An entry is ``dataset:row/col/fov`` (:func:`qualified_fov_name`) with ``dataset`` one of
    ``datasets``, or plain ``row/col/fov`` when there is one dataset. Each problem names ``key``, what
    was expected and the entries found. Whether the FOV exists is for the caller to check."""
    single = datasets[0] if len(datasets) == 1 else None
    resolved: list[FovEntry] = []
    unqualified: list[str] = []
    other_datasets: list[str] = []
    for entry in entries or ():
        dataset, separator, fov = entry.partition(FOV_SEPARATOR)
        if not separator:
            if single is None:
                unqualified.append(entry)
                continue
            dataset, fov = single, entry
        if dataset in datasets:
            resolved.append(FovEntry(entry, dataset, fov))
        else:
            other_datasets.append(entry)
    problems = []
    if unqualified:
        example = f"; e.g. {qualified_fov_name(datasets[0], unqualified[0])}" if datasets else ""
        problems.append(
            f"{key}: expected FOVs qualified by their dataset ('dataset{FOV_SEPARATOR}row/col/fov'; the "
            f"model trains on {list(datasets)}), found {unqualified}{example}"
        )
    if other_datasets:
        problems.append(
            f"{key}: expected FOVs of the datasets the model trains on (train_datasets {list(datasets)}), "
            f"found {other_datasets}"
        )
    return resolved, problems


def fov_entries(key: str, entries: Sequence[str] | None, datasets: Sequence[str]) -> list[FovEntry]:
    """The FOVs of :func:`resolve_fov_entries`; ``ValueError`` with its problems when an entry names
    none of ``datasets``."""
    resolved, problems = resolve_fov_entries(key, entries, datasets)
    if problems:
        raise ValueError("; ".join(problems))
    return resolved


def validation_fov_count(n_fovs: int, validation_fraction: float) -> int:
    """FOVs ``validation_fraction`` holds out of ``n_fovs``: ``round(fraction * n)``, at least one
    when the fraction is positive (0 for a fraction of 0). Training needs fewer than ``n_fovs``."""
    if validation_fraction <= 0:
        return 0
    return max(1, round(validation_fraction * n_fovs))


#: How far (a fraction of the frame interval) ``tau_minutes`` may be from a whole number of frames.
TAU_MINUTES_TOLERANCE = 0.1


def tau_minutes_in_frames(tau_minutes: float, time_interval_minutes: float) -> tuple[int, bool]:
    """``tau_minutes`` as whole frames of ``time_interval_minutes`` (the nearest, halves up: 1.5 and 2.5
    frames give 2 and 3, not Python's 2 and 2), and whether that is the time asked for, within
    :data:`TAU_MINUTES_TOLERANCE` of the interval (30 min at a 20 min interval is 1.5 frames: not)."""
    frames = math.floor(tau_minutes / time_interval_minutes + 0.5)
    exact = abs(frames * time_interval_minutes - tau_minutes) <= TAU_MINUTES_TOLERANCE * time_interval_minutes
    return frames, exact


#: How far past ``tau_minutes`` (in frames of the longest interval) :func:`common_tau_minutes` looks.
COMMON_TAU_SEARCH_FRAMES = 1000


def common_tau_minutes(tau_minutes: float, intervals: Sequence[float]) -> list[float]:
    """The values nearest ``tau_minutes`` that are a whole number of frames (at least one,
    :func:`tau_minutes_in_frames` exact) at every interval of ``intervals`` (positive, in minutes).

    ``[tau_minutes]`` when it is one; else the largest value below it and the smallest above it (only
    the smallest common value when none is below: 60 for 30 min at 20 and 30 min intervals), searched
    among the whole multiples of each interval; ``[]`` when none up to
    :data:`COMMON_TAU_SEARCH_FRAMES` frames of the longest interval past ``tau_minutes`` is.
    """

    def accepted(minutes: float) -> bool:
        return all(
            frames >= 1 and exact
            for frames, exact in (tau_minutes_in_frames(minutes, interval) for interval in intervals)
        )

    if accepted(tau_minutes):
        return [tau_minutes]
    limit = tau_minutes + COMMON_TAU_SEARCH_FRAMES * max(intervals)
    candidates = sorted({k * i for i in intervals for k in range(1, math.floor(limit / i) + 1)})
    below = next((v for v in reversed(candidates) if v < tau_minutes and accepted(v)), None)
    above = next((v for v in candidates if v > tau_minutes and accepted(v)), None)
    return [v for v in (below, above) if v is not None]


class AugmentationConfig(StrictModel):
    """Batched augmentations of contrastive training (:class:`dynaclr.contrastive.BatchAugmentation`).

    Defaults are the DynaCLR paper values.
    Probabilities are per sample, in ``[0, 1]``. Ranges ``r`` mean ``U(-r, r)``; pairs are
    ``(low, high)``. Intensities are in the units of the input (usually z-scored, unitless).
    """

    affine_probability: float = Field(0.8, ge=0.0, le=1.0)
    affine_rotation_range: float = Field(math.pi, ge=0.0, description="radians, rotation in YX")
    affine_scale_range: float = Field(0.2, ge=0.0, lt=1.0, description="isotropic YX zoom 1+U(-r, r)")
    affine_shear_range: float = Field(0.01, ge=0.0, description="shear factors along Y and X")
    affine_padding_mode: Literal["zeros", "border", "reflection"] = "reflection"
    gamma_probability: float = Field(0.5, ge=0.0, le=1.0)
    gamma_range: tuple[float, float] = (0.8, 1.2)
    intensity_scale_probability: float = Field(0.5, ge=0.0, le=1.0)
    intensity_scale_range: float = Field(0.5, ge=0.0, description="multiply by 1+U(-r, r)")
    gaussian_smooth_probability: float = Field(0.5, ge=0.0, le=1.0)
    gaussian_smooth_sigma_yx_range: tuple[float, float] = Field(
        (0.25, 0.75), description="pixels; σ_y and σ_x drawn independently"
    )
    gaussian_noise_probability: float = Field(0.5, ge=0.0, le=1.0)
    gaussian_noise_std: float = Field(0.2, ge=0.0)

    @field_validator("gamma_range", "gaussian_smooth_sigma_yx_range")
    @classmethod
    def _positive_ordered_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.0 < low <= high:
            raise ValueError(f"range must satisfy 0 < low <= high, got {value}")
        return value


SamplingName = Literal["classical", "cell_aware", "time_aware"]
LossName = Literal["ntxent", "triplet"]


class ContrastiveModelConfig(StrictModel):
    """One contrastive model: data, sampling, loss, network, optimisation and launch."""

    #: How the run goes, not the weights it trains (bitwise the same weights for any values: data-loader
    #: workers, with the placement ``augment_in: auto`` resolves from them; logging; the audit of the
    #: rows trained on): :meth:`job_params` holds them at their defaults and the job gets them with
    #: the whole config in a param Snakemake does not compare, so editing them retrains nothing.
    #: ``augment_in`` is not one of them: on a GPU, 'device' draws from a CUDA generator, 'workers'
    #: from a CPU one (other augmentations).
    RUN_KEYS: ClassVar[tuple[str, ...]] = ("num_workers", "log_every_n_steps", "record_sample_rows")
    #: :meth:`job_params` (what decides the weights: rule ``train_contrastive``'s params, the hash of
    #: the model's checkpoint, its config.json, and what a resumed run must share) holds them at their
    #: defaults, not left out, so these stay those of a config that does not set them, as they were
    #: before the keys became run keys (no retraining on upgrade; a config setting one to another value
    #: retrains once). :func:`~dynaclr.config.base.with_run_params` with :meth:`run_params` gives the
    #: config back.
    RUN_KEYS_AT_DEFAULTS: ClassVar[tuple[str, ...]] = RUN_KEYS

    patch_spec: str = Field(
        min_length=1, description="Name of the patch spec whose store this model trains on."
    )
    sampling: SamplingName = Field(
        "time_aware", description="Positive/negative sampling: classical, cell_aware or time_aware."
    )
    tau_frames: int | None = Field(
        None, ge=1, description="time_aware: positive is the same lineage this many frames later."
    )
    tau_minutes: float | None = Field(
        None,
        gt=0,
        description="time_aware: tau in minutes, converted to frames with the dataset's time interval.",
    )
    tau_tolerance_frames: int = Field(
        1,
        ge=0,
        description="time_aware: if the cell is missing at t+tau, accept t+tau±k for k up to this.",
    )
    lineage_unique_batches: bool | None = Field(
        None,
        description="Never put two patches of one lineage in a batch (no false negatives under NT-Xent); "
        "null = true for cell_aware and time_aware with the ntxent loss, else false. Each epoch's order then "
        "forms its own count of batches: every epoch trains the fewest any of the epochs forms.",
    )
    negative_time: Literal["same", "any"] | None = Field(
        None,
        description="Triplet negatives of cell_aware and time_aware sampling: another lineage's patch at the "
        "positive's time point ('same') or at any time point ('any'). null = the paper's definition: 'any' "
        "for cell_aware, 'same' for time_aware. classical draws any other patch (null or 'any' only). Loss "
        "ntxent draws no explicit negatives (the batch's other cells are its negatives): null only.",
    )
    loss: LossName = Field("ntxent", description="'ntxent' (SimCLR) or 'triplet' (explicit negatives).")
    temperature: float = Field(0.5, gt=0, description="NT-Xent softmax temperature.")
    margin: float = Field(0.5, gt=0, description="Triplet margin, in units of the cosine distance.")
    backbone: str = Field(
        "convnext_tiny",
        min_length=1,
        description="timm backbone (ConvNeXt or ResNet family). With stem 'backbone', the name with the "
        "pretrained weights' tag (e.g. 'resnet18d.ra4_e3600_r224_in1k') where the architecture's tags "
        "normalise their input otherwise (an import of such a name without a tag is refused).",
    )
    stem_kernel_z: int = Field(
        1, ge=1, description="Z kernel and stride of the 3-D stem; must divide the patch depth."
    )
    stem: Literal["z_fold", "backbone"] = Field(
        "z_fold",
        description="'z_fold': this project's stem folds the Z stack into the backbone's channels (trained "
        "models, VisCy's checkpoints); 'backbone': the backbone keeps its own 2-D stem, as a pretrained "
        "(ImageNet) network expects: each patch is reduced to one plane ('z_reduction'), its channels "
        "('input_channels': 1, repeated to RGB, or 3) scaled to [0, 1] and normalised with the backbone's "
        "mean and std. Only for a model that is not trained (contrastive_models.<name>.train: false).",
    )
    z_reduction: Literal["middle", "max", "mean"] = Field(
        "middle",
        description="stem 'backbone': the plane the network sees: the middle slice, or the maximum or mean "
        "projection of the patch's slices.",
    )
    input_channels: list[str] | None = Field(
        None,
        description="stem 'backbone': the patch spec's channels the network sees (1 or 3, e.g. [Sensor] as "
        "the paper feeds its ImageNet baseline); null: all of them.",
    )
    projection_dim: int = Field(
        32,
        ge=0,
        description="Width of the projection the loss sees; 0: no projection head (projections = "
        "features, e.g. for a pretrained backbone used as is). The embedding width is the backbone's "
        "(320 for convnext_atto, 768 for convnext_tiny).",
    )
    projection_norm: bool = Field(
        False,
        description="End the projection head with a BatchNorm1d, as the reference implementation's "
        "(VisCy) head does; needed to load its checkpoints with their projections.",
    )
    drop_path_rate: float = Field(0.0, ge=0, lt=1, description="Stochastic depth rate of the backbone.")
    augmentation: AugmentationConfig = Field(
        default_factory=AugmentationConfig, description="Batched augmentations (paper defaults)."
    )
    epochs: int = Field(50, ge=1, description="Maximum number of epochs.")
    max_batches_per_epoch: int | None = Field(
        None, ge=1, description="Cap on training batches per epoch (null: all)."
    )
    max_validation_batches: int | None = Field(
        None, ge=1, description="Cap on validation batches per epoch (null: all)."
    )
    batch_size: int = Field(64, ge=2, description="Anchors per batch per device.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(0.05, ge=0, description="AdamW weight decay.")
    warmup_epochs: float = Field(
        1.0,
        ge=0,
        description="Linear warm-up length in epochs, then cosine decay to zero; not below epochs, the "
        "learning rate never decays (warned at planning and in the training log).",
    )
    validation_fraction: float = Field(
        0.25, ge=0, lt=1, description="Fraction of FOVs held out for validation (at least one if > 0)."
    )
    validation_fovs: list[str] | None = Field(
        None,
        description="Explicit validation FOVs ('A/1/0', ...; 'dataset:A/1/0' with several train_datasets); "
        "overrides validation_fraction.",
    )
    excluded_fovs: list[str] | None = Field(
        None,
        min_length=1,
        description="FOVs neither trained nor validated on ('A/1/0', ...; 'dataset:A/1/0' with several "
        "train_datasets), e.g. the held-out FOVs of analysis.distillation, which then stay unseen by the "
        "encoder; the split into training and validation FOVs is made among the others. Null: none.",
    )
    seed: int = Field(0, ge=0, description="Seed of the split, sampling, augmentation and initialisation.")
    max_minutes: float | None = Field(
        None,
        gt=0,
        description="Wall-clock budget; training stops (and checkpoints) when reached: a WARNING and "
        "stopped_by_time in model.ckpt's summary then say the model trained fewer steps than its epochs.",
    )
    num_workers: int = Field(2, ge=0, description="Data-loader worker processes per device.")
    augment_in: Literal["auto", "device", "workers"] = Field(
        "auto",
        description="Where batches are augmented (always whole batches, each with a generator seeded by "
        "its epoch, batch and rank: on CPU the choice does not change the draws; on a GPU 'device' draws "
        "from a CUDA generator and 'workers' from a CPU one, other augmentations, so editing it retrains): "
        "'device' on the training "
        "device after the transfer (the GPU's work); 'workers' in the data-loader worker that read the batch "
        "(on CPU, in parallel across workers and overlapping the training step; in the main process "
        "when num_workers is 0); 'auto' = 'workers' when training on CPU with num_workers > 0, else "
        "'device'.",
    )
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="Lightning accelerator.")
    devices: int | Literal["auto"] = Field(
        "auto", description="Devices per node; under torchrun the number of local processes is used."
    )
    strategy: Literal["auto", "ddp"] = Field(
        "auto", description="'ddp' for several devices (chosen automatically under torchrun)."
    )
    compile: bool = Field(
        False,
        description="Train with the encoder compiled by torch.compile (its element-wise operations fused): "
        "1.33x the training throughput of eager bf16 on one H200 (benchmarks/gpu_training.py, "
        "docs/benchmarks.md), paid for by compiling on the first steps of every run (about 90 s there; "
        "again after a resume). Same weights layout and checkpoints; works on the CPU too (needs a C "
        "compiler).",
    )
    log_every_n_steps: int = Field(10, ge=1, description="Logging interval in optimiser steps.")
    record_sample_rows: bool = Field(
        False, description="Write the patch rows every rank trained on to logs/ (for auditing)."
    )

    @model_serializer(mode="wrap")
    def _without_unset_exclusion(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The dump leaves ``excluded_fovs`` out when null: a model's params, its checkpoint's config
        hash and its config.json stay those of a config written before the key existed (no retraining
        or re-embedding on upgrade)."""
        dumped: dict[str, Any] = handler(self)
        if self.excluded_fovs is None:
            dumped.pop("excluded_fovs", None)
        return dumped

    @model_validator(mode="after")
    def _check_input(self) -> ContrastiveModelConfig:
        if self.stem != "backbone":
            changed = [name for name in ("input_channels",) if getattr(self, name) is not None]
            if self.z_reduction != "middle":
                changed.append("z_reduction")
            if changed:
                raise ValueError(f"{changed} are read only with stem: backbone; remove them or set the stem")
        if self.input_channels is not None:
            if len(self.input_channels) not in (1, 3) or len(set(self.input_channels)) != len(
                self.input_channels
            ):
                raise ValueError(
                    f"input_channels: a pretrained backbone takes 1 channel (repeated to RGB) or 3 distinct "
                    f"ones, got {self.input_channels}"
                )
        if self.projection_dim == 0 and self.projection_norm:
            raise ValueError("projection_norm needs a projection head (projection_dim >= 1)")
        return self

    @model_validator(mode="after")
    def _check_tau(self) -> ContrastiveModelConfig:
        given = [name for name in ("tau_frames", "tau_minutes") if getattr(self, name) is not None]
        if self.sampling == "time_aware" and len(given) != 1:
            raise ValueError(
                "time_aware sampling needs exactly one of tau_frames or tau_minutes "
                f"(got {given or 'neither'}); e.g. tau_frames: 1"
            )
        if self.sampling != "time_aware" and given:
            raise ValueError(f"{given[0]} is only used by time_aware sampling; remove it or set sampling")
        if self.sampling == "classical" and self.negative_time == "same":
            raise ValueError(
                "negative_time: same needs tracking (cell_aware or time_aware sampling); classical sampling "
                "draws any other patch as its negative: remove negative_time or set sampling"
            )
        if self.loss == "ntxent" and self.negative_time is not None:
            raise ValueError(
                "negative_time: expected null with loss ntxent (NT-Xent draws no explicit negatives: the "
                "other cells of the batch are its negatives, so negative_time would change nothing "
                f"trained), found {self.negative_time!r}; remove negative_time or set loss: triplet"
            )
        return self

    def warmup_warning(self, key: str = "training") -> str | None:
        """The warning of a warm-up as long as the training (``warmup_epochs >= epochs``): the learning
        rate rises over every step and never decays. Accepted (``epochs: 1`` with the default warm-up
        of 1 epoch is one), warned at planning and in the training job's log; ``key`` names the config's
        place (``contrastive_models.<model>.training``). ``None``: the warm-up ends before the training."""
        if self.warmup_epochs < self.epochs:
            return None
        return (
            f"{key}.warmup_epochs ({self.warmup_epochs:g}) is not below {key}.epochs ({self.epochs}): the "
            "learning rate rises over the whole training and never decays (the cosine decay follows the "
            "warm-up), so the model ends at its peak learning rate; set warmup_epochs below epochs (the "
            "paper's configs warm up 2 of 50 epochs)"
        )

    @property
    def resolved_negative_time(self) -> Literal["same", "any"]:
        """When triplet negatives are drawn: the configured value, else the paper's definition."""
        if self.negative_time is not None:
            return self.negative_time
        return "same" if self.sampling == "time_aware" else "any"

    def encoder_arguments(self) -> dict[str, Any]:
        """The :class:`~dynaclr.contrastive.ContrastiveEncoder` arguments this config fixes (the input's
        channels and slices come from the patches)."""
        return {
            "backbone": self.backbone,
            "stem_kernel_z": self.stem_kernel_z,
            "projection_dim": self.projection_dim,
            "projection_norm": self.projection_norm,
            "drop_path_rate": self.drop_path_rate,
            "stem": self.stem,
            "z_reduction": self.z_reduction,
        }

    @property
    def uses_lineage_unique_batches(self) -> bool:
        """Whether batches must hold one patch per lineage (see ``lineage_unique_batches``)."""
        if self.lineage_unique_batches is not None:
            return self.lineage_unique_batches
        return self.loss == "ntxent" and self.sampling != "classical"

    def resolved_augment_in(self, accelerator: str) -> Literal["device", "workers"]:
        """Where batches are augmented when training on ``accelerator`` ('cpu' or 'gpu').

        ``auto``: in the data-loader workers on CPU (the training step and the augmentation then
        share the CPU cores: augmenting in the workers runs it in parallel and overlapped with the
        step, instead of serially in the main process), on the device on GPU (far faster there, and
        the workers' CPUs stay free for reading).
        """
        if self.augment_in != "auto":
            return self.augment_in
        return "workers" if accelerator == "cpu" and self.num_workers > 0 else "device"
