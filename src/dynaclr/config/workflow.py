"""The whole workflow config: datasets, each with its stages' configs.

``config/config.yaml`` is validated when Snakemake parses the workflow, before any job runs
(workflow/rules/common.smk): by these models (errors name the dotted key), then against the JSON
Schema generated from them (``config/config.schema.json``, ``make schema``). Each job validates its
rule's own subtree (its ``params``) again with that stage's model.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, get_args

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from dynaclr.config.analysis import (
    AnnotationConfig,
    ClassificationConfig,
    FiguresConfig,
    InterpretationConfig,
    OcclusionConfig,
    PseudotimeConfig,
    TemporalMetricsConfig,
)
from dynaclr.config.backbones import (
    CONTRASTIVE_BACKBONES,
    backbone_label,
    backbone_problem,
    input_size_problem,
)
from dynaclr.config.base import POSITION_PLACEHOLDER, StrictModel, names_position, sampling_nanometre_hint
from dynaclr.config.convert import DEFAULT_WELL, TiffSourceConfig
from dynaclr.config.distillation import (
    DistillationConfig,
    DistillationEncoder,
    check_cross_modal,
    crop_size_mismatch,
    student_channel_indices,
)
from dynaclr.config.embeddings import (
    BaselineName,
    EmbeddingConfig,
    EngineeredFeaturesConfig,
    ProjectionConfig,
    engineered_features_misfit,
    feature_names,
)
from dynaclr.config.exports import ExportsConfig
from dynaclr.config.patches import PatchSpec, required_initial_patch_size_px, spec_contract
from dynaclr.config.phase import PhaseConfig
from dynaclr.config.reasons import not_configured
from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.tracking import ImportedTracksConfig, TrackingConfig, TrackingEvaluationConfig
from dynaclr.config.training import ContrastiveModelConfig, resolve_fov_entries
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io.sampling import (
    PIXEL_SIZE_RANGE_UM,
    SCALE_RELATIVE_TOLERANCE,
    Z_STEP_RANGE_UM,
    sampling_differs,
)

if TYPE_CHECKING:  # dynaclr.io.plate imports iohub: not at every job's config read
    from dynaclr.io.plate import PlateLayout

PreviewChannel = Literal["Brightfield", "Nuclei", "ViralSensor", "ERMarker"]


#: The keys of a dataset's ``acquisition`` that supply a sampling the plate's metadata does not state
#: (:meth:`dynaclr.io.plate.PlateLayout.supplied_by`). Not imported from dynaclr.io.plate: the config
#: is read by every job, and that module imports iohub.
SAMPLING_KEYS = ("time_interval_minutes", "pixel_size_um", "z_step_um")


class SummaryConfig(StrictModel):
    """Ground-truth summary of a simulated dataset (rule ``summarize_ground_truth``)."""

    preview_channels: list[PreviewChannel] = Field(
        default_factory=lambda: list(get_args(PreviewChannel)),
        min_length=1,
        description="Channels shown in the preview figure (central slice).",
    )
    preview_frames: int = Field(4, ge=1, description="Number of evenly spaced frames in the preview.")


class QcFiguresConfig(StrictModel):
    """Image-stage QC figures (rule ``image_qc_figure``): each stage's images of a few FOVs."""

    max_fovs: int = Field(
        4,
        ge=0,
        description="FOVs drawn, evenly spread over the plate's FOV list (0: no figure); one figure each.",
    )
    frames: int = Field(3, ge=1, le=12, description="Evenly spaced frames per figure, first to last.")
    tail_frames: int = Field(
        5, ge=0, description="Frames of each track's tail drawn over the tracked labels."
    )

    PLANNING_KEYS: ClassVar[tuple[str, ...]] = ("max_fovs",)


class TrackingInputConfig(StrictModel):
    """Which nuclear image the tracking stage reads."""

    source: Literal["virtual_stain", "raw"] = Field(
        "virtual_stain",
        description="'virtual_stain': the virtual-staining output; 'raw': a nuclear channel of the plate.",
    )
    channel: str = Field("nuclei_prediction", min_length=1, description="Channel name in that plate.")


class AcquisitionConfig(StrictModel):
    """What you know of the acquisition. A value the plate's metadata states is checked against it
    before any job runs: a plate whose metadata says otherwise (a time interval of 1 s from a
    converter's default, pixel sizes of another objective) is refused instead of silently turning
    ``tau_minutes`` and micrometre settings into wrong frame and pixel counts. A value the metadata
    does not state (a plate without a scale transform), or states on an axis without a unit, or (a
    pixel size, a z step) states outside the bounds of live-cell microscopy
    (:func:`~dynaclr.io.sampling.implausible_sampling`: 65 micrometer for a 65 nm pixel), is supplied
    by the config (in place of the scale, with a warning): every stage uses it
    (:meth:`~dynaclr.io.plate.PlateLayout.supplied_by`)."""

    time_interval_minutes: float | None = Field(
        None,
        gt=0,
        description="Time between frames (minutes); supplies it where the plate's metadata states none, or "
        "states it on an axis without a unit (the config's value then replaces the scale's).",
    )
    pixel_size_um: float | None = Field(
        None,
        ge=PIXEL_SIZE_RANGE_UM[0],
        le=PIXEL_SIZE_RANGE_UM[1],
        description="Pixel size in Y and X (µm), 0.02-20 (65 or 650 is refused as nanometres); supplies it "
        "where the plate's metadata states none, states it on an axis without a unit, or states one outside "
        "these bounds (the config's value then replaces the scale's).",
    )
    z_step_um: float | None = Field(
        None,
        ge=Z_STEP_RANGE_UM[0],
        le=Z_STEP_RANGE_UM[1],
        description="Distance between z slices (µm), 0.05-50 (500 or 2000 is refused as nanometres); "
        "supplies it where the plate's metadata states none, states it on an axis without a unit, or states "
        "one outside these bounds (the config's value then replaces the scale's).",
    )
    relative_tolerance: float = Field(
        0.01, ge=0, lt=1, description="Largest relative difference accepted between config and metadata."
    )

    def sampling(self) -> dict[str, float | None]:
        """The values given, by key (:data:`SAMPLING_KEYS`; ``None``: not given)."""
        return {key: getattr(self, key) for key in SAMPLING_KEYS}

    @field_validator("pixel_size_um", "z_step_um", mode="before")
    @classmethod
    def _sampling_in_micrometres(cls, value: Any, info: ValidationInfo) -> Any:
        """A size in nanometres (650 for 0.65 µm) is refused as such: beside metadata that states the
        size it was refused as a disagreement, and where the metadata states none it was supplied to every
        stage, each µm setting then a thousandth of the pixels it should be."""
        return sampling_nanometre_hint(value, str(info.field_name))


#: How :meth:`ContrastiveModelEntry.description` names a model file's format, a sampling and a loss.
_IMPORT_FORMATS = {"dynaclr": "dynaclr checkpoint", "viscy": "VisCy checkpoint", "timm": "timm weights"}
_SAMPLING_LABELS = {"classical": "classical", "cell_aware": "cell-aware", "time_aware": "time-aware"}
_LOSS_LABELS = {"ntxent": "NT-Xent", "triplet": "triplet"}


class ContrastiveModelEntry(StrictModel):
    """A named contrastive model: trained on the patches of one or more datasets, or read from a file.

    The model embeds every dataset of ``embed_datasets`` (default: every dataset whose patch spec
    of this name gives the network the input it was trained on, :func:`~dynaclr.config.patches.
    spec_contract`); each (model, dataset) pair gets its embeddings, metrics, classifiers and figures.
    """

    train_datasets: list[str] = Field(
        default_factory=list,
        description="Datasets whose patch stores train the model, pooled (the FOV split is drawn per "
        "dataset); empty when 'checkpoint' gives the model.",
    )
    checkpoint: str | None = Field(
        None,
        description="A model file instead of training: a model.ckpt written by this workflow, or a "
        "DynaCLR checkpoint of the reference implementation (checkpoint_format: viscy). 'training' "
        "then describes its architecture (backbone, stem_kernel_z, projection_dim, projection_norm) and "
        "patch_spec the input it takes; the weights must fit it exactly.",
    )
    train: bool = Field(
        True,
        description="false: the model is not trained, it embeds with the weights 'pretrained_weights' gives "
        "(e.g. the paper's ImageNet baseline: training.stem backbone, input_channels [Sensor]).",
    )
    pretrained_weights: str | None = Field(
        None,
        description="With train: false, a local weights file of the timm backbone 'training.backbone' "
        "(a Hugging Face model.safetensors or a torch state dict, bare or under 'state_dict', 'model', "
        "'model_state' or 'model_state_dict', its keys maybe prefixed 'module.', 'model.' or 'backbone.'; "
        "its classifier is dropped), used with training.stem: backbone and projection_dim: 0 (every weight "
        "from the file), fetched once (README: Pretrained backbones); nothing is downloaded at run time.",
    )
    checkpoint_format: Literal["dynaclr", "viscy"] = Field(
        "dynaclr",
        description="'dynaclr': a model.ckpt of this workflow; 'viscy': a Lightning checkpoint of VisCy's "
        "ContrastiveModule (its encoder's state dict is mapped onto this project's encoder).",
    )
    embed_datasets: list[str] | None = Field(
        None,
        description="Datasets this model embeds; null: the training datasets and every other dataset whose "
        "patch spec 'training.patch_spec' gives the same input (channels, normalisation, slices, size).",
    )
    allow_other_scales: bool = Field(
        False,
        description="true: train on or embed datasets whose pixel size (or z step, for patches of several "
        f"slices) differs by more than {SCALE_RELATIVE_TOLERANCE * 100:g} % from the first dataset's; the "
        "patch spec is in pixels (its patches are resampled only where it sets pixel_size_um), so the model "
        "then sees another physical area: the dry run warns, naming each such dataset and both sizes. "
        "false: such a dataset is refused before any job runs; a spec with pixel_size_um resamples its "
        "patches to that pixel size, which is then the dataset's.",
    )
    training: ContrastiveModelConfig
    processes: int = Field(
        1,
        ge=1,
        description=(
            "DDP ranks on CPU (torchrun --nproc-per-node, gloo) and the training job's threads; a job "
            "given GPUs (the rule's 'gpu' resource) runs one rank per GPU instead."
        ),
    )

    @model_validator(mode="after")
    def _trained_or_loaded(self) -> ContrastiveModelEntry:
        if not self.train:
            if self.pretrained_weights is None or self.train_datasets or self.checkpoint is not None:
                raise ValueError(
                    "train: false embeds with a pretrained backbone: give 'pretrained_weights' (a weights "
                    "file of training.backbone) and neither train_datasets nor checkpoint; got "
                    f"pretrained_weights="
                    f"{self.pretrained_weights!r}, train_datasets={self.train_datasets}, "
                    f"checkpoint={self.checkpoint!r}"
                )
            if self.training.stem != "backbone" or self.training.projection_dim != 0:
                raise ValueError(
                    "train: false embeds with a timm network as published: its weights file holds the "
                    "backbone alone, so training.stem must be 'backbone' (the network's own stem) and "
                    "training.projection_dim 0 (no head), or the stem convolution or the projection head "
                    f"would keep random weights; got stem={self.training.stem!r}, "
                    f"projection_dim={self.training.projection_dim}"
                )
        elif self.pretrained_weights is not None:
            raise ValueError(
                "pretrained_weights is read with train: false (the backbone as published, for inference); "
                "fine-tuning a contrastive model from pretrained weights is not offered"
            )
        elif bool(self.train_datasets) == (self.checkpoint is not None):
            raise ValueError(
                "give exactly one of 'train_datasets' (train the model) or 'checkpoint' (read it from a "
                f"file); got train_datasets={self.train_datasets}, checkpoint={self.checkpoint!r}"
            )
        if self.train_datasets and self.training.stem != "z_fold":
            raise ValueError(
                "training.stem: backbone is for a pretrained backbone used as is (train: false); a trained "
                "model uses stem z_fold"
            )
        repeated = sorted({name for name in self.train_datasets if self.train_datasets.count(name) > 1})
        if repeated:
            raise ValueError(f"train_datasets: {repeated} listed more than once")
        if self.checkpoint is None and self.checkpoint_format != "dynaclr":
            raise ValueError("checkpoint_format is only read with 'checkpoint'; remove it or give the file")
        return self

    def training_params(self) -> dict[str, Any]:
        """The entry as rule ``train_contrastive``'s ``params.config``: Snakemake retrains the model
        when it changes, so it holds what decides the weights (datasets, architecture and training,
        ``processes``: the global batch is ``batch_size`` x ranks on CPU). ``allow_other_scales`` (a
        check) is left out and ``embed_datasets`` (which datasets the model embeds) held at its
        default, as the training's run keys are (:meth:`ContrastiveModelConfig.job_params`): editing
        them retrains nothing, and a model trained before ``allow_other_scales`` existed is not
        retrained on upgrade."""
        dumped = self.model_dump(mode="json")
        dumped.pop("allow_other_scales")
        dumped["embed_datasets"] = None
        dumped["training"] = self.training.job_params()
        return dumped

    @property
    def is_loaded(self) -> bool:
        """Whether the model comes from a file (``checkpoint``, ``pretrained_weights``), not training."""
        return self.checkpoint is not None or self.pretrained_weights is not None

    @property
    def model_file(self) -> str | None:
        """The file a loaded model comes from (``checkpoint`` or ``pretrained_weights``)."""
        return self.checkpoint if self.checkpoint is not None else self.pretrained_weights

    @property
    def import_format(self) -> Literal["dynaclr", "viscy", "timm"]:
        """How rule ``import_model`` reads :attr:`model_file`."""
        return "timm" if self.pretrained_weights is not None else self.checkpoint_format

    def description(self) -> str:
        """How the model was made, in plain words, for the report's first page: a trained one's
        sampling, loss, encoder, epochs and training datasets (``contrastive model, time-aware
        sampling, NT-Xent loss, ConvNeXt-atto encoder, up to 50 epochs, trained on demo``); one read
        from a file, its file's name and format (``imported from model.ckpt (VisCy checkpoint)``)."""
        training = self.training
        encoder = f"{backbone_label(training.backbone)} encoder"
        if self.model_file is not None:
            source = f"imported from {Path(self.model_file).name} ({_IMPORT_FORMATS[self.import_format]})"
            if self.checkpoint is None:
                return f"pretrained {encoder} used as is (no contrastive training), {source}"
            return f"contrastive model, {encoder}, {source}"
        return (
            f"contrastive model, {_SAMPLING_LABELS[training.sampling]} sampling, "
            f"{_LOSS_LABELS[training.loss]} loss, {encoder}, up to {training.epochs} "
            f"{'epoch' if training.epochs == 1 else 'epochs'}, trained on "
            f"{', '.join(self.train_datasets)}"
        )


class AnalysisConfig(StrictModel):
    """Embeddings and what is read from them, for every model and dataset (dataset-level rules)."""

    embeddings: EmbeddingConfig = EmbeddingConfig()
    projections: ProjectionConfig = ProjectionConfig()
    baselines: list[BaselineName] = Field(
        default_factory=lambda: list(get_args(BaselineName)),
        description="Baselines that go through the same metrics, classifiers and DTW as trained models.",
    )
    baseline_datasets: list[str] | None = Field(
        None,
        description="Datasets the baselines embed (each with the patch spec of its first model); null: every "
        "dataset a model embeds.",
    )
    engineered_features: EngineeredFeaturesConfig = EngineeredFeaturesConfig()
    temporal_metrics: TemporalMetricsConfig = TemporalMetricsConfig()
    classification: ClassificationConfig = ClassificationConfig()
    pseudotime: PseudotimeConfig = PseudotimeConfig()
    interpretation: InterpretationConfig = InterpretationConfig()
    occlusion: OcclusionConfig = OcclusionConfig()
    distillation: DistillationConfig = Field(
        default_factory=DistillationConfig,
        description="Cross-modal distillation (paper Fig. 4): a phase + sensor teacher's infection calls "
        "train a phase-only student, scored on held-out FOVs; off by default.",
    )
    figures: FiguresConfig = Field(
        default_factory=FiguresConfig,
        description=(
            "Figure settings; a key left out follows the analysis it draws: the distance figure "
            "temporal_metrics' representation and seed, the ground-truth matching pseudotime's."
        ),
    )

    @model_validator(mode="after")
    def _figures_follow_their_analyses(self) -> AnalysisConfig:
        """Fill the figure keys the user left out from the analyses the figures draw. The keys filled
        stay out of the figures' ``model_fields_set``, which holds the keys the config gives (the dry
        run checks a ``max_match_distance_px`` left at its default against the plate's pixels)."""
        following = {
            "distances_representation": self.temporal_metrics.representation,
            "distances_seed": self.temporal_metrics.seed,
            "match_truth_on": self.pseudotime.match_truth_on,
            "max_match_distance_px": self.pseudotime.max_match_distance_px,
        }
        update = {key: value for key, value in following.items() if key not in self.figures.model_fields_set}
        if update:
            figures = FiguresConfig.model_validate({**self.figures.model_dump(exclude_unset=True), **update})
            figures.__pydantic_fields_set__.difference_update(update)
            object.__setattr__(self, "figures", figures)
        return self

    @model_validator(mode="after")
    def _occlusion_follows_classification(self) -> AnalysisConfig:
        """Occlusion draws the events of the tasks classified unless its ``tasks`` are given: a head
        exists only for a task ``classification`` fits."""
        if "tasks" not in self.occlusion.model_fields_set:
            occlusion = OcclusionConfig.model_validate(
                {**self.occlusion.model_dump(exclude_unset=True), "tasks": self.classification.tasks}
            )
            object.__setattr__(self, "occlusion", occlusion)
        return self


#: A well as ``conditions`` names it: ``row/column``, as the plate names them (e.g. ``A/1``, ``B/12``).
#: A well, ``row/column``, each part what ``dynaclr.io.plate.SAFE_NAME`` allows (not imported: the
#: config is read by every job, and dynaclr.io.plate imports iohub).
WELL_NAME = re.compile(r"[A-Za-z0-9_-]+/[A-Za-z0-9_-]+")


def _condition_problems(conditions: dict[str, str], simulate: SimulateConfig | None) -> list[str]:
    """Every problem of a dataset's ``conditions`` mapping: a key that is not ``row/column``, an empty
    condition, and for a simulated dataset a well it does not simulate or a condition that
    contradicts ``simulate.wells``."""
    problems = [
        f"conditions: key {key!r} is not a well; write 'row/column' as the plate names them, e.g. 'A/1'"
        for key in conditions
        if not WELL_NAME.fullmatch(key)
    ]
    problems += [
        f"conditions.{key}: the condition is empty" for key, value in conditions.items() if not value
    ]
    if simulate is not None:
        simulated = {f"{well.row}/{well.column}": well.condition for well in simulate.wells}
        for key, value in conditions.items():
            if WELL_NAME.fullmatch(key) and key not in simulated:
                problems.append(
                    f"conditions.{key}: not a well of the simulated plate; its wells are {sorted(simulated)}"
                )
            elif key in simulated and value != simulated[key]:
                problems.append(
                    f"conditions.{key}: {value!r} contradicts simulate.wells, where well {key} is "
                    f"{simulated[key]!r}; remove the key or make the two agree"
                )
    return problems


class DatasetConfig(StrictModel):
    """One dataset: a simulated plate (``simulate``), an existing plate (``plate``) or TIFF files
    converted into a plate (``tiff``)."""

    simulate: SimulateConfig | None = Field(None, description="Simulate this dataset's plate.")
    plate: str | None = Field(None, description="Path of an existing HCS OME-Zarr plate.")
    tiff: TiffSourceConfig | None = Field(
        None, description="TIFF / OME-TIFF files, converted into the dataset's raw plate (rule convert_tiff)."
    )
    conditions: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Condition of each well, 'row/column' -> name (e.g. {A/1: mock, B/1: infected}); the patch "
            "index and the embeddings' obs carry it as 'condition'. A well not listed has no condition "
            "(missing). A simulated dataset takes its conditions from simulate.wells; keys given here "
            "must agree with them."
        ),
        json_schema_extra={
            "propertyNames": {"pattern": f"^{WELL_NAME.pattern}$"},
            "additionalProperties": {"type": "string", "minLength": 1},
        },
    )
    acquisition: AcquisitionConfig = Field(
        default_factory=AcquisitionConfig,
        description="Time interval and pixel sizes: each one given is checked against the plate's metadata, "
        "or supplies the value where the metadata states none (a plate without a scale transform).",
    )
    summary: SummaryConfig = SummaryConfig()
    qc_figures: QcFiguresConfig = Field(
        default_factory=QcFiguresConfig,
        description="Figures of each image stage (raw, phase, virtual stain, tracks) for a few FOVs.",
    )
    phase: PhaseConfig | None = Field(
        default_factory=PhaseConfig,
        description="Phase reconstruction; null when the plate already holds a 'Phase3D' channel.",
    )
    virtual_stain: VirtualStainConfig | None = Field(
        None, description="Virtual staining of nuclei from phase; omit to track on the plate's own channel."
    )
    tracks: ImportedTracksConfig | None = Field(
        None,
        description=(
            "Tracks you already have (a table, ultrack CSVs, CTC results or TrackMate XML files) instead of "
            "segmentation and "
            "tracking: rule import_tracks writes them as results/<dataset>/tracks.parquet; 'tracking_input', "
            "'tracking' and 'tracking_evaluation' then do not apply."
        ),
    )
    tracking_input: TrackingInputConfig = Field(
        default_factory=TrackingInputConfig,
        description="Default: the virtual-staining output when 'virtual_stain' is set, else raw 'Nuclei'.",
    )
    tracking: TrackingConfig = TrackingConfig()
    tracking_evaluation: TrackingEvaluationConfig = TrackingEvaluationConfig()
    patches: list[PatchSpec] = Field(
        default_factory=list, description="Single-cell patch specs extracted from this dataset."
    )
    annotations: AnnotationConfig = Field(
        default_factory=AnnotationConfig,
        description=(
            "Annotations the classifiers learn from: drawn from ground truth (simulated datasets), or "
            "your own table ('table'); a plate dataset without 'table' is not classified."
        ),
    )

    @field_validator("plate")
    @classmethod
    def _plate_path_normalised(cls, plate: str | None) -> str | None:
        """The plate's path without a trailing ``/``, ``./`` or ``//`` (os.path.normpath; a relative path
        stays relative): the per-FOV jobs' inputs are ``<plate>/<row>/<col>/<fov>/zarr.json``, which
        ``plate: /data/p.zarr/`` made ``/data/p.zarr//A/1/0/zarr.json`` (Snakemake warned per job), and
        the workflow compares the path with the plates it writes."""
        return os.path.normpath(plate) if plate else plate

    @model_validator(mode="before")
    @classmethod
    def _summary_needs_simulation(cls, data: Any) -> Any:
        """``summary`` configures the ground-truth summary of a simulated plate (rule
        ``summarize_ground_truth``): on a plate or TIFF dataset it would be ignored, and its channels
        (the simulator's) were refused with a list of the simulator's names only, as if the plate's
        own channel names were the mistake. Checked before the fields, so that is the message."""
        if isinstance(data, dict) and "summary" in data and data.get("simulate") is None:
            source = next((key for key in ("plate", "tiff") if data.get(key) is not None), None)
            raise ValueError(
                "summary: the ground-truth summary (preview of the simulator's channels with the true "
                "centroids, rule summarize_ground_truth) applies to simulated datasets only; this dataset "
                f"reads {'its ' + source if source else 'no simulate section'}, so remove 'summary' (the "
                "image QC figures, qc_figures, show any plate's channels)"
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _default_tracking_input(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tracking_input" not in data and data.get("tracks") is None:
            if data.get("virtual_stain") is not None:
                return {**data, "tracking_input": {"source": "virtual_stain", "channel": "nuclei_prediction"}}
            return {**data, "tracking_input": {"source": "raw", "channel": "Nuclei"}}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        sources = [key for key in ("simulate", "plate", "tiff") if getattr(self, key) is not None]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one of 'simulate' (a simulated plate), 'plate' (a path) or 'tiff' (TIFF "
                f"files); found {sources or 'none'}"
            )
        if (
            self.tracks is None
            and self.tracking_input.source == "virtual_stain"
            and self.virtual_stain is None
        ):
            raise ValueError(
                "tracking_input.source is 'virtual_stain' but 'virtual_stain' is not configured: add a "
                "'virtual_stain' section, or track on the plate's nuclear channel with "
                "tracking_input: {source: raw, channel: Nuclei}"
            )
        names = [spec.name for spec in self.patches]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"patches: spec names must be unique; repeated: {repeated}")
        for spec in self.patches:
            for channel in spec.channels:
                if channel.source == "virtual_stain" and self.virtual_stain is None:
                    raise ValueError(
                        f"patches '{spec.name}': channel {channel.channel!r} comes from 'virtual_stain', "
                        "which this dataset does not configure"
                    )
        return self

    @model_validator(mode="after")
    def _imported_tracks_replace_tracking(self) -> DatasetConfig:
        if self.tracks is None:
            return self
        unused = sorted({"tracking_input", "tracking", "tracking_evaluation"} & self.model_fields_set)
        if unused:
            raise ValueError(
                f"tracks: the dataset imports its tracks (format {self.tracks.format!r}), so {unused} do not "
                "apply (they configure segmentation and tracking with ultrack); remove them or 'tracks'"
            )
        return self

    @model_validator(mode="after")
    def _positions_need_tiff_files(self) -> DatasetConfig:
        """``{position}`` names a file by the TIFF position of its FOV: a plate's (or a simulated
        plate's) FOVs have none, so a path naming it would name no file."""
        if self.tiff is not None:
            return self
        by_position = [
            key
            for key, pattern in (
                ("tracks.path", None if self.tracks is None else self.tracks.path),
                ("annotations.table", self.annotations.table),
            )
            if names_position(pattern)
        ]
        if by_position:
            source = "a simulated plate" if self.simulate is not None else f"the plate {self.plate}"
            raise ValueError(
                f"{by_position[0]}: {POSITION_PLACEHOLDER} is a TIFF position (a placeholder of tiff.files), "
                f"and this dataset reads no TIFF files ({source}), so its FOVs have no position: name "
                "each FOV's file with {row}, {col} and {fov} (e.g. A_1_0.xml for FOV A/1/0: "
                "{row}_{col}_{fov}.xml)"
            )
        return self

    @model_validator(mode="after")
    def _conditions_name_wells(self) -> DatasetConfig:
        problems = _condition_problems(self.conditions, self.simulate)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def well_conditions(self) -> dict[str, str]:
        """Condition per well (``row/column``): ``simulate.wells``' for a simulated dataset, else
        ``conditions``. A well not in the mapping has no condition (its cells' ``condition`` is missing)."""
        if self.simulate is not None:
            return {f"{well.row}/{well.column}": well.condition for well in self.simulate.wells}
        return dict(self.conditions)

    def patch_spec(self, name: str) -> PatchSpec:
        return next(spec for spec in self.patches if spec.name == name)

    def fov_positions(self, fov_names: Iterable[str]) -> dict[str, str] | None:
        """The TIFF position of each FOV (``{fov_name: position}``, what a ``{position}`` of
        ``tracks.path`` or ``annotations.table`` is filled with:
        :meth:`~dynaclr.config.convert.TiffSourceConfig.fov_positions`); ``None`` without ``tiff``."""
        return None if self.tiff is None else self.tiff.fov_positions(fov_names)

    @property
    def patch_names(self) -> list[str]:
        """Names of this dataset's patch specs."""
        return [spec.name for spec in self.patches]

    @property
    def is_simulated(self) -> bool:
        return self.simulate is not None

    @property
    def is_annotated(self) -> bool:
        """True when the dataset has annotations: from ground truth (simulated), a table, or the lineage."""
        return self.is_simulated or self.annotations.source != "ground_truth"

    @property
    def imports_tracks(self) -> bool:
        """True when the tracks come from the user's files (``tracks``), not from ultrack."""
        return self.tracks is not None

    def description(self, time_interval_minutes: float | None = None, n_frames: int | None = None) -> str:
        """A few words on what the dataset is, for the report's first page: its source, its frame
        interval (``time_interval_minutes``: the plate's, as its metadata or ``acquisition`` gives
        it; a simulated dataset's from ``simulate``) or, for a plate of one frame (``n_frames``),
        that it holds still images, where its tracks are imported from (format and path) and where
        its annotations come from; a dataset without annotations says so, since the page then has no
        classifier score of it."""
        if self.simulate is not None:
            interval = self.simulate.time_interval_minutes
            text = f"simulated plate, one frame every {interval:g} min, ground truth known"
        elif self.tiff is not None:
            text = "TIFF files converted to OME-Zarr"
        else:
            text = f"HCS OME-Zarr plate {self.plate}"
        if n_frames == 1:
            text += ", still images (one time point)"
        elif self.simulate is None and time_interval_minutes is not None:
            text += f", one frame every {time_interval_minutes:g} min"
        if self.tracks is not None:
            text += f", tracks imported from {self.tracks.description()}"
        source = self.annotations.source
        tasks = ", ".join(self.annotations.tasks)
        if source == "table":
            text += f", annotations ({tasks}) from {self.annotations.table}"
        elif source == "lineage":
            text += ", division annotations from the tracks' lineage"
        elif not self.is_simulated:
            text += ", no annotations (no classifier is trained or scored on it)"
        return text


class WorkflowConfig(StrictModel):
    """Top level of ``config/config.yaml``."""

    results: str = Field(
        "results",
        pattern=r"^[A-Za-z0-9_./-]+$",
        description="Folder (relative to the working directory) every output goes under; another "
        "config with its own folder (e.g. config/paper.yaml: results_paper) never touches the demo's.",
    )
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    contrastive_models: dict[str, ContrastiveModelEntry] = Field(
        default_factory=dict,
        description="Named contrastive models, trained on datasets' patches or read from a file.",
    )
    analysis: AnalysisConfig = AnalysisConfig()
    exports: ExportsConfig = Field(
        default_factory=ExportsConfig,
        description="Copies for other tools: CTC tracking results, .h5ad and Parquet embeddings.",
    )

    @model_validator(mode="before")
    @classmethod
    def _names_are_text(cls, data: Any) -> Any:
        """Refuse a dataset or model name YAML read as a number, boolean or null (``01:`` is 1)."""
        if not isinstance(data, dict):
            return data
        for section in ("datasets", "contrastive_models"):
            entries = data.get(section)
            if not isinstance(entries, dict):
                continue
            bad = [name for name in entries if not isinstance(name, str)]
            if bad:
                found = ", ".join(f"{name!r} ({type(name).__name__})" for name in bad)
                raise ValueError(
                    f"{section}: names are text; found {found}: YAML reads an unquoted name of digits "
                    "as a number (01 as 1), and true, false, yes, no or null as a boolean or null; "
                    "quote the name in the config, e.g. '01':"
                )
        return data

    @model_validator(mode="before")
    @classmethod
    def _positions_of_a_converted_plate(cls, data: Any) -> Any:
        """A ``plate:`` dataset reading another dataset's converted plate (``<results>/<tiff
        dataset>/raw.zarr``) has that plate's FOVs, not the TIFF dataset's positions: a ``{position}``
        of its ``tracks.path`` or ``annotations.table`` is refused naming the TIFF dataset, its FOV
        naming and the pattern by FOV (before ``DatasetConfig``'s refusal, which knows no other
        dataset)."""
        datasets = data.get("datasets") if isinstance(data, dict) else None
        if not isinstance(datasets, dict):
            return data
        results = data.get("results", "results")
        if not isinstance(results, str):
            return data
        converted = {
            os.path.normpath(f"{results}/{name}/raw.zarr"): name
            for name, entry in datasets.items()
            if isinstance(entry, dict) and isinstance(entry.get("tiff"), dict)
        }
        for name, entry in datasets.items():
            if (
                not isinstance(entry, dict)
                or entry.get("tiff") is not None
                or not isinstance(entry.get("plate"), str)
            ):
                continue
            source = converted.get(os.path.normpath(entry["plate"]))
            if source is None:
                continue
            for key, pattern in (
                ("tracks.path", (entry.get("tracks") or {}).get("path")),
                ("annotations.table", (entry.get("annotations") or {}).get("table")),
            ):
                if isinstance(pattern, str) and names_position(pattern):
                    raise ValueError(
                        _converted_plate_position_problem(
                            f"datasets.{name}.{key}",
                            pattern,
                            entry["plate"],
                            source,
                            datasets[source]["tiff"],
                        )
                    )
        return data

    @model_validator(mode="after")
    def _names_and_references(self) -> WorkflowConfig:
        import re

        for section, names in (("datasets", self.datasets), ("contrastive_models", self.contrastive_models)):
            bad = [name for name in names if not re.fullmatch(r"[A-Za-z0-9_-]+", name)]
            if bad:
                raise ValueError(f"{section}: names may hold letters, digits, '_' and '-' only; got {bad}")
        clashes = sorted(set(self.contrastive_models) & set(self.analysis.baselines))
        if clashes:
            raise ValueError(f"contrastive_models: {clashes} are baseline names; rename the models")
        for name, entry in self.contrastive_models.items():
            self._check_model_datasets(name, entry)
        unknown = sorted(set(self.analysis.baseline_datasets or []) - set(self.datasets))
        if unknown:
            raise ValueError(
                f"analysis.baseline_datasets: {unknown} are not datasets; datasets are "
                f"{sorted(self.datasets)}"
            )
        embedded = self.datasets_embedded()
        unembedded = sorted(set(self.analysis.baseline_datasets or []) - embedded)
        if unembedded:
            raise ValueError(
                f"analysis.baseline_datasets: {unembedded} are embedded by no contrastive model, and a "
                "baseline embeds a dataset with the patch spec of a model that embeds it, so the baselines "
                f"would embed nothing there; the models embed {sorted(embedded) or 'no dataset'}: add a "
                "contrastive model that embeds them (contrastive_models.<model>.embed_datasets) or leave "
                "them out"
            )
        classification = self.analysis.classification
        for key, listed in (("train_on", classification.train_on), ("apply_to", classification.apply_to)):
            unknown = sorted(set(listed or []) - set(self.datasets))
            if unknown:
                raise ValueError(
                    f"analysis.classification.{key}: {unknown} are not datasets; "
                    f"datasets are {sorted(self.datasets)}"
                )
        unannotated = [name for name in classification.train_on or [] if not self.datasets[name].is_annotated]
        if unannotated:
            raise ValueError(
                f"analysis.classification.train_on: {unannotated} have no annotations (a plate dataset needs "
                "annotations.table or annotations.division_from_lineage) so no classifier can be trained on "
                "them"
            )
        self._check_apply_to()
        self._check_imported_classifiers()
        self._check_pseudotime_reference()
        classified = set(self.analysis.classification.tasks)
        for name, dataset in self.datasets.items():
            if dataset.is_annotated and not classified & set(dataset.annotations.tasks):
                raise ValueError(
                    f"datasets.{name}.annotations.tasks {list(dataset.annotations.tasks)} share no task "
                    f"with analysis.classification.tasks {sorted(classified)}; nothing could be classified"
                )
        self._check_simulated_infection_annotations()
        occlusion = self.analysis.occlusion
        unknown = sorted(set(occlusion.models or []) - set(self.contrastive_models))
        if unknown:
            raise ValueError(
                f"analysis.occlusion.models: {unknown} are not in contrastive_models "
                f"{sorted(self.contrastive_models)}; only a model with a checkpoint can be attributed"
            )
        unclassified = [task for task in occlusion.tasks if task not in classified]
        if occlusion.enabled and unclassified:
            raise ValueError(
                f"analysis.occlusion.tasks: {unclassified} are not in analysis.classification.tasks "
                f"{sorted(classified)}, so no classifier head exists for them; drop them from occlusion.tasks"
            )
        self._check_occlusion_has_pairs()
        self._check_occlusion_radius()
        imported = [d.imports_tracks for d in self.datasets.values()]
        if self.exports.ctc_tracks and imported and all(imported):
            raise ValueError(
                "exports.ctc_tracks: expected a dataset tracked by the workflow (its label images are "
                f"exported), found only datasets whose tracks are imported ({sorted(self.datasets)}: "
                "datasets.<name>.tracks), which have no label images, so nothing would be exported: "
                "set exports.ctc_tracks to false"
            )
        self._check_embedding_exports()
        self._check_distillation()
        self._check_crops_fit_the_patches()
        self._check_engineered_features_fit_the_patches()
        self._check_attribution_fits_the_patches()
        self._check_projections_fit_the_embeddings()
        return self

    def _check_embedding_exports(self) -> None:
        """exports.h5ad, feature_parquet and viscy_features copy each embeddings store; with no
        contrastive model embedding a dataset (the baselines embed only where one does) there is no
        store, and the run exited 0 without the exports it was asked for."""
        asked = [key for key in ("h5ad", "feature_parquet", "viscy_features") if getattr(self.exports, key)]
        if not asked or any(self.embedded_datasets(model) for model in self.contrastive_models):
            return
        models = sorted(self.contrastive_models)
        found = f"contrastive_models {models} embedding no dataset" if models else "no contrastive model"
        keys = ", ".join(f"exports.{key}" for key in asked)
        raise ValueError(
            f"exports.{asked[0]}: expected an embeddings store to export, found {found}, and the "
            f"baselines {list(self.analysis.baselines)} embed only the datasets a model embeds, so nothing "
            f"would be exported: add a contrastive model that embeds a dataset, or set {keys} to false"
        )

    def _check_occlusion_has_pairs(self) -> None:
        """analysis.occlusion.enabled attributes a model on a dataset whose own annotations fitted its
        classifiers (rule occlusion_attribution, ``occlusion_pairs``): with no such (model, dataset) it
        planned no job and the run exited 0 without the attribution it was asked for."""
        occlusion = self.analysis.occlusion
        if not occlusion.enabled:
            return
        models = occlusion.models or sorted(self.contrastive_models)
        sources = set(self.classifier_training_datasets())
        if any(sources & set(self.embedded_datasets(model)) for model in models):
            return
        embedded = {model: self.embedded_datasets(model) for model in models}
        raise ValueError(
            "analysis.occlusion.enabled: expected a model of analysis.occlusion.models (null: every "
            "contrastive model) embedding a dataset whose annotations train classifiers, found the "
            f"models embedding {embedded} and classifiers trained on {sorted(sources) or 'no dataset'} "
            "(a plate dataset needs annotations.table or annotations.division_from_lineage; see "
            "analysis.classification.train_on), so occlusion attribution would run on nothing: annotate "
            "a dataset these models embed, or set analysis.occlusion.enabled to false"
        )

    def _check_occlusion_radius(self) -> None:
        """``analysis.occlusion.max_match_distance_px`` null means 'not read by this job' (what the
        workflow hands the jobs that match no ground truth): written null in the config where a job
        reads it (:meth:`occlusion_matches_truth`), that job failed after every job before it had run."""
        occlusion = self.analysis.occlusion
        if not occlusion.enabled or occlusion.max_match_distance_px is not None:
            return
        reading = sorted(name for name in self.occlusion_datasets() if self.occlusion_matches_truth(name))
        if reading:
            raise ValueError(
                "analysis.occlusion.max_match_distance_px: expected a radius in pixels, found null, and "
                f"occlusion matches the ground truth of {reading} (the infection onset): set it (default 6)"
            )

    def _check_crops_fit_the_patches(self) -> None:
        """The embedding crop (encoders) and the engineered-features crop fit the stored patches of
        every patch spec they are applied to (each model's; each dataset's baseline spec): a larger
        one failed the embed job."""
        crops = {
            "analysis.embeddings.crop_size_yx_px": (
                self.analysis.embeddings.crop_size_yx_px,
                [
                    (d, self.contrastive_models[m].training.patch_spec)
                    for m in self.contrastive_models
                    for d in self.embedded_datasets(m)
                ],  # the baselines embed with one of these
            ),
            "analysis.engineered_features.crop_size_yx_px": (
                self.analysis.engineered_features.crop_size_yx_px,
                list(self.baseline_patch_specs().items())
                if "engineered_features" in self.analysis.baselines
                else [],
            ),
        }
        for key, (crop, uses) in crops.items():
            if crop is None:
                continue
            for dataset, spec_name in uses:
                stored = self.datasets[dataset].patch_spec(spec_name).initial_size_px
                if max(crop) > stored:
                    raise ValueError(
                        f"{key}: expected a crop within the stored patches of datasets.{dataset}."
                        f"patches[{spec_name}] ({stored} x {stored} px), found {list(crop)} px; use a "
                        "smaller crop or raise the spec's initial_patch_size_yx_px"
                    )

    def _check_engineered_features_fit_the_patches(self) -> None:
        """``analysis.engineered_features.radial_rings`` and ``texture_distances_px`` fit the patches the
        baseline measures (its crop, else each dataset's stored baseline patches): rings narrower than a
        pixel, and offsets no pixel pair has along Y or X, gave columns constant for every cell, and
        the embed job exited 0 (:func:`~dynaclr.config.embeddings.engineered_features_misfit`)."""
        if "engineered_features" not in self.analysis.baselines:
            return
        features = self.analysis.engineered_features
        for dataset, spec_name in self.baseline_patch_specs().items():
            if features.crop_size_yx_px is not None:
                height, width = features.crop_size_yx_px
                measured = "crop (analysis.engineered_features.crop_size_yx_px)"
            else:
                height = width = self.datasets[dataset].patch_spec(spec_name).initial_size_px
                measured = f"stored patches of datasets.{dataset}.patches[{spec_name}]"
            misfit = engineered_features_misfit(features, height, width, measured)
            if misfit:
                raise ValueError(misfit)

    def _check_attribution_fits_the_patches(self) -> None:
        """``analysis.interpretation.gallery_channel`` and ``analysis.occlusion.region_channel`` index a
        channel of every patch spec they read, and the occluding window fits the patch the encoder sees
        (``analysis.embeddings.crop_size_yx_px``, else the spec's ``patch_size_yx_px``). The gallery
        showed the spec's last channel in place of one past it (its caption naming the index asked for),
        and the occlusion job, the workflow's last, failed after every other job had run."""
        interpretation, occlusion = self.analysis.interpretation, self.analysis.occlusion
        classified = set(self.classifier_training_datasets())
        attributed = set(occlusion.models or self.contrastive_models) if occlusion.enabled else set()
        crop = self.analysis.embeddings.crop_size_yx_px
        for model, entry in self.contrastive_models.items():
            spec_name = entry.training.patch_spec
            for dataset in self.embedded_datasets(model):
                spec = self.datasets[dataset].patch_spec(spec_name)
                spec_key = f"datasets.{dataset}.patches[{spec_name}]"
                where = f"{spec_key} (model {model})"
                channels = spec.channel_names()
                if interpretation.enabled and interpretation.gallery_channel >= len(channels):
                    raise ValueError(
                        f"analysis.interpretation.gallery_channel: expected the index of a channel of "
                        f"{where}, 0..{len(channels) - 1} of {channels}, found "
                        f"{interpretation.gallery_channel}; choose one of them"
                    )
                if model not in attributed or dataset not in classified:
                    continue
                if not -len(channels) <= occlusion.region_channel < len(channels):
                    raise ValueError(
                        f"analysis.occlusion.region_channel: expected the index of a channel of {where}, "
                        f"0..{len(channels) - 1} of {channels} (or -1..-{len(channels)} from the end), "
                        f"found {occlusion.region_channel}; choose one of them"
                    )
                side = min(crop) if crop is not None else spec.patch_size_yx_px
                if occlusion.window_yx_px > side:
                    source = (
                        "analysis.embeddings.crop_size_yx_px"
                        if crop is not None
                        else f"{spec_key}.patch_size_yx_px, model {model}"
                    )
                    raise ValueError(
                        f"analysis.occlusion.window_yx_px: expected a window within the {side} px patch the "
                        f"encoder sees ({source}), found {occlusion.window_yx_px}; use at most {side}"
                    )

    def _check_projections_fit_the_embeddings(self) -> None:
        """``analysis.projections.n_components`` coordinates need as many columns of the matrix every
        embedding's projection job reads: a model's projection head (``training.projection_dim``, with
        ``representation: projections``), the engineered features (their number per channel times the
        channels of the baselines' patch spec). The projection job failed after training and
        embedding. Not checked here: an encoder's features (every backbone gives at least 64, above
        n_components' bound of 50), the random-weights baseline (the head of a model checked here)
        and the cells (the projection job refuses fewer cells than coordinates)."""
        projections = self.analysis.projections
        wanted = projections.n_components
        widths: list[tuple[int, str]] = []
        if projections.representation == "projections":
            for model, entry in sorted(self.contrastive_models.items()):
                head = entry.training.projection_dim
                if head and self.embedded_datasets(model):
                    widths.append(
                        (head, f"model {model!r}: contrastive_models.{model}.training.projection_dim")
                    )
        elif "engineered_features" in self.analysis.baselines:
            for dataset, spec_name in sorted(self.baseline_patch_specs().items()):
                channels = self.datasets[dataset].patch_spec(spec_name).channel_names()
                width = len(feature_names(channels, self.analysis.engineered_features))
                widths.append(
                    (
                        width,
                        f"model 'engineered_features' on dataset {dataset!r}: analysis.engineered_features' "
                        f"{width // len(channels)} features per channel x {len(channels)} channels "
                        f"{channels} of datasets.{dataset}.patches[{spec_name}]",
                    )
                )
        for width, source in widths:
            if wanted > width:
                raise ValueError(
                    f"analysis.projections.n_components: expected at most the {width} columns of the "
                    f"'{projections.representation}' matrix it projects ({source}), found {wanted}; "
                    f"lower it to {width} or less"
                )

    def baseline_patch_specs(self) -> dict[str, str]:
        """The patch spec the baselines embed each dataset with: that of the first model (sorted by
        name) embedding it; every dataset some model embeds, of ``analysis.baseline_datasets`` when
        given."""
        specs: dict[str, str] = {}
        for model in sorted(self.contrastive_models):
            for dataset in self.embedded_datasets(model):
                specs.setdefault(dataset, self.contrastive_models[model].training.patch_spec)
        wanted = self.analysis.baseline_datasets
        return {d: s for d, s in sorted(specs.items()) if wanted is None or d in wanted}

    def models_embedding(self, dataset: str) -> list[str]:
        """The models whose embeddings of ``dataset`` are computed, the analyses reading each of them:
        the contrastive models embedding it (:meth:`embedded_datasets`), then the baselines when they
        embed it (:meth:`baseline_patch_specs`)."""
        models = [model for model in self.contrastive_models if dataset in self.embedded_datasets(model)]
        if dataset in self.baseline_patch_specs():
            models += list(self.analysis.baselines)
        return models

    def _check_pseudotime_reference(self) -> None:
        """An explicit DTW reference names its dataset when there are several: a FOV name and track id
        name another cell (or none) in each."""
        reference = self.analysis.pseudotime.reference
        if reference is None:
            return
        key = "analysis.pseudotime.reference.dataset"
        if reference.dataset is None and len(self.datasets) > 1:
            raise ValueError(
                f"{key}: expected the dataset whose track {reference.track_id} of FOV {reference.fov_name!r} "
                f"is the reference (datasets {sorted(self.datasets)} may each have that FOV and track id, "
                "another cell in each), found none; the other datasets choose their reference automatically"
            )
        if reference.dataset is not None and reference.dataset not in self.datasets:
            raise ValueError(
                f"{key}: {reference.dataset!r} is not a dataset; datasets are {sorted(self.datasets)}"
            )

    def _check_simulated_infection_annotations(self) -> None:
        """A simulated dataset whose drawn annotations train infection classifiers has infected cells:
        otherwise every infection annotation is 'uninfected' and ``classify`` fails after training."""
        classification = self.analysis.classification
        if "infection" not in classification.tasks:
            return
        classified = self.classified_datasets()
        for name, dataset in self.datasets.items():
            simulate = dataset.simulate
            if simulate is None or dataset.annotations.source != "ground_truth":
                continue
            if "infection" not in dataset.annotations.tasks:
                continue
            if name not in classified:
                continue  # its annotations train no classifier (they may score others': one class is fine)
            found, fix = _why_no_infected_cell(simulate)
            if not found:
                continue
            raise ValueError(
                f"datasets.{name}.annotations.tasks: expected tasks whose drawn annotations hold both "
                f"classes, found 'infection' with no infected cell ({found}); leave 'infection' out of "
                f"datasets.{name}.annotations.tasks, {fix}"
            )

    def classifier_training_datasets(self) -> list[str]:
        """The datasets whose annotations train classifiers, sorted: ``analysis.classification.train_on``,
        else every annotated dataset."""
        train_on = self.analysis.classification.train_on
        return sorted(
            name
            for name, dataset in self.datasets.items()
            if dataset.is_annotated and (train_on is None or name in train_on)
        )

    def datasets_embedded(self) -> set[str]:
        """The datasets some contrastive model embeds (the baselines embed some of them)."""
        return {d for model in self.contrastive_models for d in self.embedded_datasets(model)}

    def explicit_reference_dataset(self) -> str | None:
        """The dataset whose track is the explicit DTW reference (``analysis.pseudotime.reference``: its
        ``dataset``, else the config's only dataset), or None without one."""
        reference = self.analysis.pseudotime.reference
        if reference is None:
            return None
        return reference.dataset if reference.dataset is not None else sorted(self.datasets)[0]

    def infection_classified(self, name: str) -> bool:
        """True when dataset ``name`` gets an infection classifier: annotated, with the task among its
        annotations' tasks and ``analysis.classification.tasks``."""
        dataset = self.datasets[name]
        tasks = self.analysis.classification.tasks
        return dataset.is_annotated and "infection" in dataset.annotations.tasks and "infection" in tasks

    def infection_unclassified(self) -> str:
        """Why no dataset gets an infection classifier of this run, in one line for the first page:
        none of :meth:`classified_datasets` (those classifiers train on that a model embeds: every
        classifier reads an embedding) has infection annotations, naming apart a dataset classifiers
        would train on with infection annotations that no contrastive model embeds, and what to set.
        The caller checks that no (model, dataset) gets infection predictions (nor imported ones)
        first."""
        if "infection" not in self.analysis.classification.tasks:
            return "infection is not in analysis.classification.tasks"
        trained = self.classified_datasets()
        why = (
            f"no dataset classifiers train on ({', '.join(trained)}) has infection annotations"
            if trained
            else "classifiers train on no dataset a contrastive model embeds"
        )
        why += ", and no imported infection classifier applies"
        embedded = self.datasets_embedded()
        unembedded = [
            name
            for name in self.classifier_training_datasets()
            if name not in embedded and "infection" in self.datasets[name].annotations.tasks
        ]
        if unembedded:
            has, it = ("has", "it") if len(unembedded) == 1 else ("have", "them")
            why += (
                f"; {', '.join(unembedded)} {has} infection annotations but no contrastive model embeds "
                f"{it}: name {it} in a model's embed_datasets (where a patch spec reads the model's signal "
                "under another channel name, give that channel the model's name with name:)"
            )
        return why

    def dtw_not_run(self, n_frames: Mapping[str, int], layouts: Mapping[str, PlateLayout]) -> str:
        """Why DTW aligns no dataset (:meth:`aligned_pairs` is empty), in one line for the first page;
        empty where it aligns one. ``n_frames`` and ``layouts`` as :meth:`aligned_pairs` takes them."""
        if self.aligned_pairs(n_frames, layouts):
            return ""
        if not self.time_lapse_datasets(n_frames):
            return "every embedded dataset has one time point"
        short = {dataset: reason for (_, dataset), reason in self.dtw_left_out(n_frames, layouts).items()}
        if set(short) >= set(self.time_lapse_datasets(n_frames)):  # each one's own reason says it all
            return "; ".join(f"{dataset}: {reason}" for dataset, reason in sorted(short.items()))
        return (
            "no embedded dataset of several frames is simulated (ground truth) or gets infection "
            "predictions (of its own infection classifier, or transferred or imported) to give its cells' "
            "infection state, and analysis.pseudotime.reference names no track"
            + "".join(f"; {dataset}: {reason}" for dataset, reason in sorted(short.items()))
        )

    def dtw_not_computed(
        self, model: str, dataset: str, n_frames: Mapping[str, int], layouts: Mapping[str, PlateLayout]
    ) -> str:
        """Why DTW does not align (``model``, ``dataset``) (:meth:`aligned_pairs`), in the results
        table's words; empty where it does, or where the dataset has one time point (the plan's ``one
        time point`` says so)."""
        return self._dtw_plan(model, dataset, n_frames, layouts).reason

    def dtw_left_out(
        self, n_frames: Mapping[str, int], layouts: Mapping[str, PlateLayout]
    ) -> dict[tuple[str, str], str]:
        """The (model, dataset) pairs DTW would align but leaves out, each with its
        :meth:`dtw_not_computed` (the dry run's WARNING): infection predictions fitted elsewhere on a
        movie too short for the reference window (:meth:`dtw_too_short`), or the event 'infection' on a
        simulated plate without an infected cell."""
        plans = {(m, d): self._dtw_plan(m, d, n_frames, layouts) for m, d, _ in self.embedding_pairs()}
        return {pair: plan.reason for pair, plan in plans.items() if plan.left_out}

    def still_datasets(self, n_frames: Mapping[str, int]) -> list[str]:
        """The embedded datasets of one time point (still images, e.g. fixed cells), sorted; ``n_frames``
        gives each dataset's frames (its raw plate's). The analyses that follow a cell over time are
        not planned for them (:meth:`time_lapse_datasets`): temporal metrics compare a cell's adjacent
        frames, DTW aligns lineages over time; the report says "not computed: one time point"."""
        return sorted(name for name in self.datasets_embedded() if n_frames[name] < 2)

    def time_lapse_datasets(self, n_frames: Mapping[str, int]) -> list[str]:
        """The embedded datasets of at least two frames (the temporal metrics' datasets), sorted."""
        still = set(self.still_datasets(n_frames))
        return sorted(self.datasets_embedded() - still)

    def embedding_pairs(self) -> list[tuple[str, str, str]]:
        """(model, dataset, patch spec) of every embeddings store: each contrastive model (by name) and
        the datasets it embeds (:meth:`embedded_datasets`) with its patch spec, then the baselines and
        the datasets of :meth:`baseline_patch_specs` with theirs (the workflow's ``embedding_jobs``)."""
        pairs = [
            (model, dataset, self.contrastive_models[model].training.patch_spec)
            for model in sorted(self.contrastive_models)
            for dataset in self.embedded_datasets(model)
        ]
        specs = self.baseline_patch_specs()
        return pairs + [(b, d, spec) for d, spec in specs.items() for b in self.analysis.baselines]

    def candidate_transfer_sources(self, model: str, dataset: str) -> list[str]:
        """The datasets whose classifiers (of ``model``) may predict ``dataset``: those classifiers
        train on (:meth:`classifier_training_datasets`) that ``model`` embeds, ``dataset`` aside, if
        ``analysis.classification.apply_to`` names ``dataset`` (every one when null)."""
        apply_to = self.analysis.classification.apply_to
        if apply_to is not None and dataset not in apply_to:
            return []
        embedded = {(m, d) for m, d, _ in self.embedding_pairs()}
        return [s for s in self.classifier_training_datasets() if s != dataset and (model, s) in embedded]

    def transfer_differences(
        self, model: str, source: str, target: str, layouts: Mapping[str, PlateLayout]
    ) -> list[str]:
        """How the patches the baseline ``model`` embeds ``target`` with differ from ``source``'s:
        another input (channels, normalisation, slices, size;
        :func:`~dynaclr.config.transfer_checks.input_differences`) or sampled otherwise (pixel size,
        z step where the patches hold several slices; ``scale_differences``, from the two datasets'
        raw plate ``layouts``); empty when alike, and for a contrastive model (it embeds only
        datasets of its input, and one sampled otherwise is refused by the dry run instead)."""
        if model not in self.analysis.baselines:
            return []
        from dynaclr.config.transfer_checks import input_differences, scale_differences

        specs = self.baseline_patch_specs()
        pair = ((source, specs[source]), (target, specs[target]))
        return input_differences(self, *pair) + scale_differences(self, layouts, *pair)

    def transfer_sources(self, model: str, dataset: str, layouts: Mapping[str, PlateLayout]) -> list[str]:
        """The datasets whose classifiers (of ``model``) predict ``dataset``
        (:meth:`candidate_transfer_sources`): a baseline's only those whose patches give the same
        input sampled alike (:meth:`transfer_differences`; a baseline has no opt-in to other scales);
        the transfers left out are logged at planning."""
        return [
            source
            for source in self.candidate_transfer_sources(model, dataset)
            if not self.transfer_differences(model, source, dataset, layouts)
        ]

    def imported_tasks(self, name: str) -> list[str]:
        """The tasks the file of ``analysis.classification.imported.<name>`` holds classifiers of,
        sorted; read once per process and file version. A file that cannot be read holds none here:
        the dry run refuses it (:func:`dynaclr.classify.model.imported_classifier_problems`)."""
        file = Path(self.analysis.classification.imported[name].file)
        try:
            stat = file.stat()
        except OSError:
            return []
        return list(_classifier_file_tasks(str(file.resolve()), stat.st_mtime_ns, stat.st_size))

    def occlusion_datasets(self) -> set[str]:
        """The datasets rule occlusion_attribution runs on (``occlusion_pairs``): those whose own
        annotations train classifiers, embedded by a model of ``analysis.occlusion.models``."""
        occlusion = self.analysis.occlusion
        if not occlusion.enabled:
            return set()
        embedded = {
            name
            for model in occlusion.models or self.contrastive_models
            for name in self.embedded_datasets(model)
        }
        return embedded & set(self.classifier_training_datasets())

    def occlusion_matches_truth(self, dataset: str) -> bool:
        """True when rule occlusion_attribution on ``dataset`` reads
        ``analysis.occlusion.max_match_distance_px``: it draws the infection task
        (``analysis.occlusion.tasks``) with the dataset's own infection classifier
        (:meth:`own_infection_predictions`), its onsets from the ground truth (simulated)."""
        return (
            "infection" in self.analysis.occlusion.tasks
            and self.datasets[dataset].is_simulated
            and self.own_infection_predictions(dataset)
        )

    def own_infection_predictions(self, dataset: str) -> bool:
        """True when ``dataset``'s own classifiers (it is one classifiers train on) include an
        infection classifier (:meth:`infection_classified`): its predictions give the infection
        state; else those of classifiers fitted elsewhere do (:meth:`infection_sources`)."""
        return dataset in self.classifier_training_datasets() and self.infection_classified(dataset)

    def infection_sources(self, model: str, dataset: str, layouts: Mapping[str, PlateLayout]) -> list[str]:
        """What gives (``model``, ``dataset``) infection predictions fitted elsewhere, in the transfer
        rule's order: the datasets of :meth:`transfer_sources` with an infection classifier, then
        ``analysis.classification.imported.<name>`` of each entry predicting it whose file holds one;
        empty when infection is not in ``analysis.classification.tasks``."""
        if "infection" not in self.analysis.classification.tasks:
            return []
        return [s for s in self.transfer_sources(model, dataset, layouts) if self.infection_classified(s)] + [
            f"analysis.classification.imported.{name}"
            for name in self.imported_classifier_targets(model, dataset)
            if "infection" in self.imported_tasks(name)
        ]

    def dtw_too_short(self, frames: int) -> str:
        """Why a movie of ``frames`` frames holds no automatic DTW reference or query
        (``reference_frames_before_onset + reference_frames_after_onset``, ``min_query_frames``);
        empty where it holds both."""
        pseudotime = self.analysis.pseudotime
        window = pseudotime.reference_frames_before_onset + pseudotime.reference_frames_after_onset
        if frames < window:
            return f"{frames} frames, shorter than the reference window of {window}"
        if frames < pseudotime.min_query_frames:
            return f"{frames} frames, shorter than min_query_frames {pseudotime.min_query_frames}"
        return ""

    def _dtw_plan(
        self, model: str, dataset: str, n_frames: Mapping[str, int], layouts: Mapping[str, PlateLayout]
    ) -> _DtwPlan:
        """Whether DTW aligns (``model``, ``dataset``), and why not (the results table's
        ``dtw_not_computed``; empty for a dataset of one time point, whose plan says so): the one
        decision :meth:`aligned_pairs`, :meth:`dtw_not_computed` and :meth:`dtw_left_out` read."""
        if dataset == self.explicit_reference_dataset():
            return _DtwPlan(True)  # of one time point too: the dry run refuses the reference then
        if n_frames[dataset] < 2:
            return _DtwPlan(False)
        simulate = self.datasets[dataset].simulate
        no_infection = _why_no_infected_cell(simulate)[0] if simulate is not None else ""
        if no_infection and self.analysis.pseudotime.event == "infection":
            # its ground truth gives the state: no lineage holds the event, so no reference exists
            return _DtwPlan(
                False,
                f"no infected cell in {dataset} ({no_infection}), and analysis.pseudotime.event is "
                "'infection'",
                left_out=True,
            )
        made_eligible = (
            self.datasets[dataset].is_simulated
            or self.analysis.pseudotime.event == "division"
            or self.own_infection_predictions(dataset)
        )
        if made_eligible:
            return _DtwPlan(True)  # too short: the dry run refuses the window (plate_checks)
        sources = self.infection_sources(model, dataset, layouts)
        if sources:
            # aligned only on predictions from elsewhere (apply_to null names every dataset): a movie
            # too short for the window is left out, not refused
            short = self.dtw_too_short(n_frames[dataset])
            if short:
                return _DtwPlan(False, f"{short} (predictions transferred from {', '.join(sources)})", True)
            return _DtwPlan(True)
        skipped = [
            source
            for source in self.candidate_transfer_sources(model, dataset)
            if self.infection_classified(source)
            and self.transfer_differences(model, source, dataset, layouts)
        ]
        if skipped and "infection" in self.analysis.classification.tasks:
            return _DtwPlan(
                False,
                (
                    f"no infection classifier of {model} predicts {dataset}: the patches of "
                    f"{', '.join(skipped)}, whose classifiers would, differ from its own (transfers_skipped)"
                ),
            )
        if "infection" not in self.analysis.classification.tasks:
            return _DtwPlan(False, f"no ground truth in {dataset}, and {not_configured('infection')}")
        return _DtwPlan(
            False,
            (
                f"nothing gives the infection state of {dataset}'s cells: no ground truth, no "
                f"infection classifier of its own, none of {model} transferred to it "
                "(analysis.classification.apply_to) nor imported"
            ),
        )

    def aligned_pairs(
        self, n_frames: Mapping[str, int], layouts: Mapping[str, PlateLayout]
    ) -> list[tuple[str, str]]:
        """(model, dataset) DTW aligns (rule ``align_pseudotime``), in :meth:`embedding_pairs` order;
        ``n_frames`` gives each dataset's frames, ``layouts`` its raw plate's layout (read only for a
        baseline's transfer, :meth:`transfer_differences`). Every model's pairs of a simulated dataset
        (ground truth), of one whose own infection classifier predicts it, of the explicit reference's
        dataset, and every time-lapse one with event division (its own lineage); a pair whose
        infection predictions come from classifiers fitted elsewhere only (:meth:`infection_sources`:
        ``apply_to``, ``imported``) where they hold infection and the movie holds the reference
        window (:meth:`dtw_too_short`; else not aligned, the reason in :meth:`dtw_not_computed`).
        A dataset of one time point only as the explicit reference's dataset, which the dry run
        refuses (a reference needs two frames)."""
        return [
            (model, dataset)
            for model, dataset, _ in self.embedding_pairs()
            if self._dtw_plan(model, dataset, n_frames, layouts).aligned
        ]

    def aligned_datasets(self, n_frames: Mapping[str, int], layouts: Mapping[str, PlateLayout]) -> list[str]:
        """The datasets of :meth:`aligned_pairs`, sorted."""
        return sorted({dataset for _, dataset in self.aligned_pairs(n_frames, layouts)})

    def classified_datasets(self) -> list[str]:
        """The datasets classifiers are fitted and cross-validated on: those of
        :meth:`classifier_training_datasets` that some contrastive model embeds (every classifier
        reads an embedding)."""
        embedded = self.datasets_embedded()
        return [name for name in self.classifier_training_datasets() if name in embedded]

    def _check_apply_to(self) -> None:
        """Every dataset ``apply_to`` names gets predictions: some contrastive model embeds it and a
        dataset whose annotations train classifiers (``train_on``, else every annotated one) other than
        itself. Each degenerate case (no dataset trains classifiers; it is the only one that does; no
        model embeds it) is said as such, with what to write instead."""
        classification = self.analysis.classification
        if not classification.apply_to:
            return
        key = "analysis.classification.apply_to"
        sources = self.classifier_training_datasets()
        trained_by = (
            f"analysis.classification.train_on {classification.train_on}"
            if classification.train_on is not None
            else "analysis.classification.train_on (null: every annotated dataset)"
        )
        if not sources:
            raise ValueError(
                f"{key}: expected datasets to apply classifiers to, found {classification.apply_to} while no "
                f"dataset trains classifiers ({trained_by} names no annotated dataset): write "
                f"`apply_to: []`, or name annotated datasets in train_on"
            )
        embedded = {model: set(self.embedded_datasets(model)) for model in self.contrastive_models}
        for target in classification.apply_to:
            others = set(sources) - {target}
            if any(target in names and names & others for names in embedded.values()):
                continue
            if not others:
                raise ValueError(
                    f"{key}: {target!r} is the only dataset classifiers train on ({trained_by}): its own "
                    "classifiers are cross-validated on it already, and apply_to names the datasets they "
                    f"predict besides; remove {target!r} from apply_to (`apply_to: []` for none)"
                )
            by = sorted(model for model, names in embedded.items() if target in names)
            serving = {m: sorted(n & others) for m, n in embedded.items() if n & others}
            if not by:
                raise ValueError(
                    f"{key}: {target!r} would get no predictions: no contrastive model embeds it ("
                    + (
                        f"models embedding the datasets classifiers train on: {serving}"
                        if serving
                        else f"nor any of the datasets classifiers train on, {sorted(others)}"
                    )
                    + "); name it in a model's embed_datasets (its patch spec must give the model's "
                    "input) or remove it from apply_to"
                    + "".join(f". Not embedded: {self._why_not_embedded(model, target)}" for model in serving)
                )
            raise ValueError(
                f"{key}: {target!r} would get no predictions: expected a contrastive model that embeds it "
                f"and one of the other datasets classifiers train on {sorted(others)}, found models "
                f"embedding it {by} and models embedding those "
                f"{ {m: sorted(n & others) for m, n in embedded.items()} }; name it in a model's "
                "embed_datasets (its patch spec must give the model's input) or remove it from apply_to"
            )

    def _check_imported_classifiers(self) -> None:
        """Each ``analysis.classification.imported`` entry names a contrastive model that embeds every
        dataset its ``apply_to`` names (and some dataset when null): the classifiers read that model's
        embeddings only. Its file lies outside this run's results folder (there it is an output of
        this run) and no two entries name the same file and model. The file itself is checked by the dry run
        (:func:`dynaclr.classify.model.imported_classifier_problems`)."""
        import re

        results = Path(self.results).resolve()
        seen: dict[tuple[Path, str], str] = {}
        for name, entry in self.analysis.classification.imported.items():
            key = f"analysis.classification.imported.{name}"
            if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise ValueError(f"{key}: names may hold letters, digits, '_' and '-' only; got {name!r}")
            file = Path(entry.file).resolve()
            if file.is_relative_to(results):
                raise ValueError(
                    f"{key}.file: expected a classifiers file of an earlier run, outside this run's results "
                    f"folder {self.results!r}, found {entry.file!r}, under the folder this run writes (its "
                    "rule 'classify' writes classifiers files there); copy the earlier run's file elsewhere "
                    "and name the copy"
                )
            other = seen.setdefault((file, entry.model), name)
            if other != name:
                raise ValueError(
                    f"{key}: expected each file applied once per model, found {entry.file!r} with model "
                    f"{entry.model!r} in analysis.classification.imported.{other} too; remove one entry"
                )
            if entry.model not in self.contrastive_models:
                raise ValueError(
                    f"{key}.model: expected a model of contrastive_models {sorted(self.contrastive_models)} "
                    f"(the classifiers read its embeddings), found {entry.model!r}"
                )
            embedded = self.embedded_datasets(entry.model)
            targets = embedded if entry.apply_to is None else entry.apply_to
            missing = sorted(set(targets) - set(embedded))
            if missing or not targets:
                found = f"{missing}, which it does not embed" if missing else "none"
                raise ValueError(
                    f"{key}.apply_to: expected datasets model {entry.model!r} embeds {embedded}, found "
                    f"{found}; name them in contrastive_models.{entry.model}.embed_datasets or correct "
                    "apply_to"
                )

    def imported_classifier_targets(self, model: str, dataset: str) -> list[str]:
        """The ``analysis.classification.imported`` names whose classifiers predict ``dataset``'s
        embeddings by ``model``, sorted."""
        return sorted(
            name
            for name, entry in self.analysis.classification.imported.items()
            if entry.model == model
            and dataset in (self.embedded_datasets(model) if entry.apply_to is None else entry.apply_to)
        )

    def distillation_encoders(self) -> dict[str, DistillationEncoder]:
        """The contrastive encoders analysis.distillation reads, by role: ``teacher`` (teacher_model)
        and, with a student_model, ``student`` (the student's start and the probe's features), each
        with the FOVs of the distilled dataset its training leaves out. Empty when it is off."""
        distillation = self.analysis.distillation
        if not distillation.enabled:
            return {}
        dataset = str(distillation.dataset)
        roles = {"teacher": distillation.teacher_model, "student": distillation.student_model}
        encoders = {}
        for role, name in roles.items():
            if name is None:
                continue
            entry = self.contrastive_models[name]
            resolved, _ = resolve_fov_entries(  # an entry naming none: the dry run's problem
                f"contrastive_models.{name}.training.excluded_fovs",
                entry.training.excluded_fovs,
                entry.train_datasets,
            )
            encoders[role] = DistillationEncoder(
                model=name,
                read_from_file=entry.is_loaded,
                trains_on_dataset=dataset in entry.train_datasets,
                excluded_fovs=[named.fov for named in resolved if named.dataset == dataset],
            )
        return encoders

    def _check_distillation(self) -> None:
        """The teacher is a contrastive model that embeds the dataset, and the dataset is simulated and
        gets an infection classifier of its own (rule classify)."""
        distillation = self.analysis.distillation
        if not distillation.enabled:
            return
        teacher, dataset = distillation.teacher_model, distillation.dataset
        key = "analysis.distillation"
        if teacher not in self.contrastive_models:
            raise ValueError(
                f"{key}.teacher_model: {teacher!r} is not a contrastive model; models are "
                f"{sorted(self.contrastive_models)}"
            )
        if dataset not in self.datasets:
            raise ValueError(
                f"{key}.dataset: {dataset!r} is not a dataset; datasets are {sorted(self.datasets)}"
            )
        spec = self.datasets[dataset]
        problems = []
        if not spec.is_simulated:
            problems.append("it is not simulated (the held-out cells are scored against ground truth)")
        if dataset not in self.embedded_datasets(str(teacher)):
            problems.append(f"model {teacher!r} does not embed it")
        classification = self.analysis.classification
        if classification.train_on is not None and dataset not in classification.train_on:
            problems.append(
                "analysis.classification.train_on leaves it out (the teacher's head is its classifier)"
            )
        if "infection" not in classification.tasks or "infection" not in spec.annotations.tasks:
            problems.append(
                "it has no infection classifier (analysis.classification.tasks and its annotations.tasks)"
            )
        if problems:
            raise ValueError(f"{key}.dataset: {dataset!r} cannot be distilled on: " + "; ".join(problems))
        teacher_spec = self.datasets[dataset].patch_spec(
            self.contrastive_models[str(teacher)].training.patch_spec
        )
        self._check_student_channels(str(teacher), dataset, teacher_spec)
        if distillation.student_model is not None:
            self._check_student_model(str(teacher), dataset)
        else:  # a seeded random encoder of 'backbone' (checked here, as contrastive models' are at planning)
            problem = backbone_problem(
                f"{key}.backbone",
                distillation.backbone,
                CONTRASTIVE_BACKBONES,
                "student's contrastive encoder",
            )
            if problem is not None:
                raise ValueError(problem)
        self._check_student_input_size(dataset, teacher_spec)

    def _check_student_channels(self, teacher: str, dataset: str, spec: PatchSpec) -> None:
        """``student_channels`` name channels of the teacher's patch spec, a strict subset of them (the
        checks, and messages, of the distill job on the store: :func:`check_cross_modal`); ``spec``:
        the teacher's patch spec."""
        distillation = self.analysis.distillation
        where = f"datasets.{dataset}.patches[{spec.name}] (model {teacher})"
        channels = spec.channel_names()
        indices = student_channel_indices(distillation.student_channels, channels, where)
        check_cross_modal(distillation.student_channels, indices, channels, where)

    def _check_student_input_size(self, dataset: str, spec: PatchSpec) -> None:
        """The student reads the input size it would be fed: ``crop_size_yx_px`` is null or the network
        input ``student_model`` takes: for a workflow-trained model its spec's ``patch_size_yx_px`` on
        its first training dataset (what it trained on), for a model imported from a VisCy checkpoint
        or timm weights its spec's on the first dataset it embeds (the size rule ``import_model``
        records as the model's input; not the distilled dataset's, whose spec of the same name may
        have another size). A ``model.ckpt`` of this workflow imported as ``checkpoint`` records its
        own (at most the spec's), read from the file by the dry run
        (:func:`dynaclr.config.plate_checks.workflow_problems`, without torch) and by the distill job,
        :func:`dynaclr.distill.stage.student_crop`, with the same message. The size
        it reads (a ``crop_size_yx_px`` given, for every student) must fit the teacher's stored
        patches it is cropped from (``spec``, the teacher's patch spec)."""
        distillation = self.analysis.distillation
        fed, key = distillation.crop_size_yx_px, "analysis.distillation.crop_size_yx_px"
        student_name = distillation.student_model
        student = None if student_name is None else self.contrastive_models[str(student_name)]
        if student is not None and not (student.is_loaded and student.import_format == "dynaclr"):
            source = self._student_input_dataset(str(student_name), dataset)
            trained = self.datasets[source].patch_spec(student.training.patch_spec).patch_size_yx_px
            where = f"datasets.{source}.patches[{student.training.patch_spec}].patch_size_yx_px"
            problem = crop_size_mismatch(distillation, trained)
            if problem:
                remedy = (
                    f", the size its patch spec declares ({where}; rule import_model records it as its input)"
                )
                if not student.is_loaded:
                    asked = distillation.crop_size_yx_px
                    remedy = f", or train student_model on a spec of patch_size_yx_px {asked} ({where})"
                raise ValueError(f"{problem}; set it to null (or {trained}){remedy}")
            if fed is None:
                fed = trained
                key = f"analysis.distillation.student_model ({student_name!r}, {where})"
        if fed is not None and fed > spec.initial_size_px:
            raise ValueError(
                f"{key}: expected a student input within the stored patches of the teacher's spec "
                f"datasets.{dataset}.patches[{spec.name}] ({spec.initial_size_px} x {spec.initial_size_px} "
                f"px), found {fed} px; use a smaller input or raise the spec's initial_patch_size_yx_px"
            )

    def _student_input_dataset(self, student: str, dataset: str) -> str:
        """The dataset whose ``student`` patch spec gives its network input: its first training dataset
        (trained here), else the first it embeds (imported: ``imported_spec`` of rule ``import_model``);
        ``dataset`` (the distilled one) where it has neither."""
        entry = self.contrastive_models[student]
        if not entry.is_loaded and entry.train_datasets:
            return entry.train_datasets[0]
        embedded = self.embedded_datasets(student)
        return embedded[0] if embedded else dataset

    def _check_student_model(self, teacher: str, dataset: str) -> None:
        """The student model reads, from its own patch spec, exactly the student's channels of the
        teacher's patch spec (same source, channel, normalisation and slices)."""
        distillation = self.analysis.distillation
        key = "analysis.distillation.student_model"
        student = str(distillation.student_model)
        if student not in self.contrastive_models:
            raise ValueError(
                f"{key}: {student!r} is not a contrastive model; models are {sorted(self.contrastive_models)}"
            )
        specs = {spec.name: spec for spec in self.datasets[dataset].patches}
        teacher_spec = specs[self.contrastive_models[teacher].training.patch_spec]
        student_spec_name = self.contrastive_models[student].training.patch_spec
        if student_spec_name not in specs:
            raise ValueError(
                f"{key}: {student!r} reads patch spec {student_spec_name!r}, which dataset {dataset!r} "
                f"does not have (its specs are {sorted(specs)})"
            )
        student_spec = specs[student_spec_name]

        def named(channel: Any) -> str:
            return f"{channel.source}:{channel.patch_name}"

        wanted = []
        for name in distillation.student_channels:
            found = [c for c in teacher_spec.channels if name in (named(c), c.patch_name)]
            wanted += found[:1]
        expected = [(named(c), c.normalization) for c in wanted]
        found_channels = [(named(c), c.normalization) for c in student_spec.channels]
        if expected != found_channels or student_spec.z_window_slices != teacher_spec.z_window_slices:
            raise ValueError(
                f"{key}: {student!r} was trained on patch spec {student_spec_name!r} with channels "
                f"{found_channels} and {student_spec.z_window_slices} slices, but the student reads "
                f"{expected} with {teacher_spec.z_window_slices} slices from the teacher's spec "
                f"{teacher_spec.name!r}: train the student model on a spec of exactly those channels"
            )

    def _input_mismatch(self, spec_name: str, dataset: str, reference: str) -> str:
        """How ``dataset``'s patch spec ``spec_name`` gives another input than ``reference``'s (the
        differing items of :func:`spec_contract`, with what may make them agree); empty where it
        gives the same."""
        expected = spec_contract(self.datasets[reference].patch_spec(spec_name))
        found = spec_contract(self.datasets[dataset].patch_spec(spec_name))
        if found == expected:
            return ""
        differing = sorted(k for k in expected if expected[k] != found[k])
        return (
            f"dataset {dataset!r}'s patch spec {spec_name!r} gives another input than dataset "
            f"{reference!r}'s: "
            + "; ".join(f"{k} {found[k]!r} vs {expected[k]!r}" for k in differing)
            + "; make the specs agree or leave the dataset out"
            + _channel_hint(found["channels"], expected["channels"], self.datasets[dataset])
            + _size_hint(
                (
                    found["patch_size_yx_px"],
                    self.datasets[dataset],
                    self.datasets[dataset].patch_spec(spec_name),
                ),
                (
                    expected["patch_size_yx_px"],
                    self.datasets[reference],
                    self.datasets[reference].patch_spec(spec_name),
                ),
            )
        )

    def _why_not_embedded(self, model: str, dataset: str) -> str:
        """Why ``model`` (no ``embed_datasets``) does not embed ``dataset`` by default: the dataset has
        no patch spec of the model's, or its spec gives another input (:meth:`_input_mismatch`)."""
        entry = self.contrastive_models[model]
        spec_name = entry.training.patch_spec
        reference = self._reference_dataset(entry)
        if entry.embed_datasets is not None or reference is None:
            return f"model {model!r}'s embed_datasets {entry.embed_datasets} leaves it out"
        if spec_name not in self.datasets[dataset].patch_names:
            return (
                f"model {model!r} reads patch spec {spec_name!r}, which dataset {dataset!r} lacks "
                f"(its specs: {self.datasets[dataset].patch_names})"
            )
        return f"model {model!r}: " + self._input_mismatch(spec_name, dataset, reference)

    def _check_model_datasets(self, name: str, entry: ContrastiveModelEntry) -> None:
        """Every dataset a model trains on or embeds exists and gives the input the model takes."""
        spec_name = entry.training.patch_spec
        for key, names in (
            ("train_datasets", entry.train_datasets),
            ("embed_datasets", entry.embed_datasets or []),
        ):
            for dataset in names:
                if dataset not in self.datasets:
                    raise ValueError(
                        f"contrastive_models.{name}.{key}: {dataset!r} is not a dataset; "
                        f"datasets are {sorted(self.datasets)}"
                    )
                specs = [spec.name for spec in self.datasets[dataset].patches]
                if spec_name not in specs:
                    raise ValueError(
                        f"contrastive_models.{name}.training.patch_spec: {spec_name!r} is not a patch spec "
                        f"of dataset {dataset!r} ({key}); its specs are {specs}"
                    )
        reference = self._reference_dataset(entry)
        if reference is None:
            if entry.embed_datasets is not None or entry.train_datasets:
                return
            raise ValueError(
                f"contrastive_models.{name}: no dataset has a patch spec {spec_name!r}; the model would "
                "embed nothing; add the spec to a dataset or name embed_datasets"
            )
        for key, names in (
            ("train_datasets", entry.train_datasets),
            ("embed_datasets", entry.embed_datasets or []),
        ):
            for dataset in names:
                mismatch = self._input_mismatch(spec_name, dataset, reference)
                if mismatch:
                    raise ValueError(f"contrastive_models.{name}.{key}: {mismatch}")
        self._check_input_sizes(name, entry, reference)

    def _check_input_sizes(self, name: str, entry: ContrastiveModelEntry, reference: str) -> None:
        """The backbone can encode the model's patches (and the embedding crop), and every training
        dataset stores patches large enough for the model's augmentation (rule train_contrastive)."""
        training = entry.training
        spec = self.datasets[reference].patch_spec(training.patch_spec)
        inputs = [
            (
                (spec.patch_size_yx_px, spec.patch_size_yx_px),
                f"datasets.{reference}.patches[{spec.name}].patch_size_yx_px",
            )
        ]
        crop = self.analysis.embeddings.crop_size_yx_px
        if crop is not None:
            inputs.append((crop, "analysis.embeddings.crop_size_yx_px"))
        for size, what in inputs:
            problem = input_size_problem(
                f"contrastive_models.{name}.training.backbone", training.backbone, size, what
            )
            if problem:
                raise ValueError(problem)
        augmentation = training.augmentation
        for dataset in entry.train_datasets if entry.train else []:
            spec = self.datasets[dataset].patch_spec(training.patch_spec)
            needed = required_initial_patch_size_px(
                spec.patch_size_yx_px, augmentation.affine_scale_range, augmentation.affine_shear_range
            )
            if spec.initial_size_px < needed:
                raise ValueError(
                    f"datasets.{dataset}.patches[{spec.name}].initial_patch_size_yx_px: model {name!r} "
                    f"trains with zooms of ±{augmentation.affine_scale_range} and shears of "
                    f"{augmentation.affine_shear_range} into a {spec.patch_size_yx_px} px view, which need "
                    f"stored patches of at least {needed} px, found {spec.initial_size_px} px"
                    + (
                        " (null sizes them for the default augmentation)"
                        if spec.initial_patch_size_yx_px is None
                        else ""
                    )
                    + f"; set initial_patch_size_yx_px to at least {needed} or lower "
                    f"contrastive_models.{name}.training.augmentation"
                )

    def _reference_dataset(self, entry: ContrastiveModelEntry) -> str | None:
        """The dataset whose patch spec defines the model's input: its first training dataset, else
        its first named or (sorted) first dataset with the spec."""
        if entry.train_datasets:
            return entry.train_datasets[0]
        if entry.embed_datasets:
            return entry.embed_datasets[0]
        names = [
            d for d in sorted(self.datasets) if entry.training.patch_spec in self.datasets[d].patch_names
        ]
        return names[0] if names else None

    def embedded_datasets(self, model: str) -> list[str]:
        """Datasets ``model`` embeds: its training datasets first, then the others (sorted).

        ``embed_datasets`` when given; else every dataset whose patch spec ``training.patch_spec``
        gives the same input as the model's reference dataset (:func:`spec_contract`).
        """
        entry = self.contrastive_models[model]
        if entry.embed_datasets is not None:
            named = list(entry.embed_datasets)
        else:
            reference = self._reference_dataset(entry)
            if reference is None:
                return []
            spec_name = entry.training.patch_spec
            expected = spec_contract(self.datasets[reference].patch_spec(spec_name))
            named = [
                d
                for d in sorted(self.datasets)
                if spec_name in self.datasets[d].patch_names
                and spec_contract(self.datasets[d].patch_spec(spec_name)) == expected
            ]
        first = [d for d in entry.train_datasets if d in named]
        return first + [d for d in named if d not in first]


def _why_no_infected_cell(simulate: SimulateConfig) -> tuple[str, str]:
    """Why a simulated plate holds no infected cell, and the fix (empty strings where one is
    infected): every well's ``infected_fraction`` is 0, or the onsets start after the movie."""
    if all(well.infected_fraction == 0 for well in simulate.wells):
        return "every simulate.wells[].infected_fraction is 0", "or infect a well"
    if simulate.infection.onset_frames[0] >= simulate.n_frames:
        return (
            f"simulate.infection.onset_frames {list(simulate.infection.onset_frames)} start after "
            f"the movie's {simulate.n_frames} frames",
            "or start simulate.infection.onset_frames within simulate.n_frames",
        )
    return "", ""


class _DtwPlan(NamedTuple):
    """Whether DTW aligns a (model, dataset) pair, why not (empty: aligned, or one time point), and
    whether it is left out with a planning WARNING (:meth:`WorkflowConfig.dtw_left_out`)."""

    aligned: bool
    reason: str = ""
    left_out: bool = False


@functools.cache
def _classifier_file_tasks(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    """The tasks a classifiers file holds (:meth:`WorkflowConfig.imported_tasks`), read once per
    version (``mtime_ns``, ``size``); none where it cannot be read."""
    # the file's "classifiers" object, read as JSON here (config sits below the classify stage); the dry
    # run checks the whole file (dynaclr.classify.model.imported_classifier_problems) and refuses a bad one
    try:
        document = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return ()
    classifiers = document.get("classifiers") if isinstance(document, dict) else None
    return tuple(sorted(classifiers)) if isinstance(classifiers, dict) else ()


def _channel_hint(
    found: list[tuple[str, str, str]], expected: list[tuple[str, str, str]], dataset: DatasetConfig
) -> str:
    """How to make the first differing patch channel of ``dataset`` the model's, where it may be the
    same signal: named otherwise (``name``), or read from the raw plate where the model's reads the
    phase source, which a dataset with ``phase: null`` reads from its raw plate."""
    for (source, name, normalization), (want_source, want_name, want_normalization) in zip(
        found, expected, strict=False
    ):
        if (source, name, normalization) == (want_source, want_name, want_normalization):
            continue
        if source == "raw" and want_source == "phase" and dataset.phase is None:
            return (
                f" (a dataset with phase: null reads source 'phase' from its raw plate: give channel "
                f"{name!r} source: phase, as the model's reads it)"
            )
        if source == want_source and name != want_name:
            return (
                f" (if channel {name!r} is the signal the model knows as {want_name!r}, give it "
                f"name: {want_name}: the patches then call it so, whatever the plate does)"
            )
        return ""
    return ""


def _stated_pixel_size_um(dataset: DatasetConfig) -> float | None:
    """The pixel size the config states for ``dataset`` (simulated, ``acquisition``, or its TIFF
    files' ``tiff.pixel_size_um``), else None."""
    if dataset.simulate is not None:
        return dataset.simulate.pixel_size_um
    if dataset.acquisition.pixel_size_um is None and dataset.tiff is not None:
        return dataset.tiff.pixel_size_um
    return dataset.acquisition.pixel_size_um


def _patch_pixel_size_um(dataset: DatasetConfig, spec: PatchSpec) -> float | None:
    """The pixel size of ``spec``'s patches the config states: the spec's ``pixel_size_um`` (which
    resamples them), else the dataset's (:func:`_stated_pixel_size_um`), else None."""
    return spec.pixel_size_um if spec.pixel_size_um is not None else _stated_pixel_size_um(dataset)


def _size_hint(
    found: tuple[int, DatasetConfig, PatchSpec], expected: tuple[int, DatasetConfig, PatchSpec]
) -> str:
    """Where patch sizes differ on patches whose stated pixel sizes differ (beyond
    :data:`SCALE_RELATIVE_TOLERANCE`; each spec's ``pixel_size_um`` where set, else its plate's):
    patches are cut in pixels, so a patch size scaled to another pixel size is no way to give a
    model its input; say what is (the spec's ``pixel_size_um`` at the model's patches' pixel size).
    Nothing where either size is not stated (read from the plate's metadata: the sampling check
    compares it) or they agree: the patch size is then the only difference known."""
    (found_px, dataset, spec), (expected_px, reference, reference_spec) = found, expected
    found_um = _patch_pixel_size_um(dataset, spec)
    expected_um = _patch_pixel_size_um(reference, reference_spec)
    if found_px == expected_px or found_um is None or expected_um is None:
        return ""
    if not sampling_differs(found_um, expected_um):
        return ""
    found_span, expected_span = found_px * found_um, expected_px * expected_um
    same_area = (
        ""
        if sampling_differs(found_span, expected_span)
        else f"{found_px} px of {found_um:g} µm span {found_span:.3g} µm, as {expected_px} px of "
        f"{expected_um:g} µm do, but "
    )
    how = (
        "patches are cut in pixels, not resampled without the spec's pixel_size_um: a plate of another "
        "pixel size gives"
        if spec.pixel_size_um is None
        else f"the spec resamples its patches to pixel_size_um: {found_um:g}, not the model's "
        f"{expected_um:g} µm: patches of another pixel size give"
    )
    return (
        f" ({same_area}{how} the model another input at any patch size. Give the spec "
        f"{expected_px} px, the model's, and pixel_size_um: {expected_um:g} to resample its patches to the "
        "model's sampling, or set allow_other_scales: true on the model to embed it at another physical "
        "area)"
    )


def load_config(path: str | Path) -> WorkflowConfig:
    """Read and validate a workflow config file; errors name the file and the offending key."""
    path = Path(path)
    raw: Any = yaml.safe_load(path.read_text())
    try:
        return WorkflowConfig.model_validate(raw)
    except ValidationError as err:
        raise ValueError(f"{path}: invalid config:\n{err}") from err


def _converted_plate_position_problem(
    key: str, pattern: str, plate: str, source: str, tiff: Mapping[str, Any]
) -> str:
    """The refusal of ``{position}`` in ``key`` of a dataset whose ``plate`` is TIFF dataset
    ``source``'s converted plate: the pattern by FOV, with an example of ``source``'s FOV naming."""
    positions = tiff.get("positions")
    if isinstance(positions, dict) and positions:
        position, fov_name = next(iter(positions.items()))
        naming = f"tiff.positions of dataset {source} names its FOVs (position {position} is FOV {fov_name})"
    else:
        position, fov_name = "Pos0", f"{DEFAULT_WELL}/Pos0"
        naming = f"dataset {source} has no tiff.positions, so position <p> is FOV {DEFAULT_WELL}/<p>"
    by_fov = pattern.replace(POSITION_PLACEHOLDER, "{row}_{col}_{fov}")
    row, col, fov = str(fov_name).split("/") if str(fov_name).count("/") == 2 else ("A", "1", "0")
    example = by_fov.replace("{row}", row).replace("{col}", col).replace("{fov}", fov)
    return (
        f"{key}: {POSITION_PLACEHOLDER} is a TIFF position (a placeholder of tiff.files), and this dataset "
        f"reads no TIFF files: its plate {plate} is the one converted from dataset {source}'s TIFF files "
        f"({tiff.get('files')!r}), whose FOVs it holds without their positions; {naming}: name each FOV's "
        f"file by FOV, {by_fov!r} ({example} for position {position}'s FOV {fov_name}), or give "
        f"{key.split('.', 2)[2]} to dataset {source}, which has the positions"
    )
