"""The whole workflow config: datasets, each with its stages' configs.

``config/config.yaml`` is validated when Snakemake parses the workflow, before any job runs
(workflow/rules/common.smk): by these models (errors name the dotted key), then against the JSON
Schema generated from them (``config/config.schema.json``, ``make schema``). Each job validates its
rule's own subtree (its ``params``) again with that stage's model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import Field, ValidationError, model_validator

from dynaclr.config.analysis import (
    AnnotationConfig,
    ClassificationConfig,
    FiguresConfig,
    PseudotimeConfig,
    TemporalMetricsConfig,
)
from dynaclr.config.base import StrictModel
from dynaclr.config.embeddings import (
    BaselineName,
    EmbeddingConfig,
    EngineeredFeaturesConfig,
    ProjectionConfig,
)
from dynaclr.config.patches import PatchSpec
from dynaclr.config.phase import PhaseConfig
from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.tracking import TrackingConfig, TrackingEvaluationConfig
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.config.virtual_stain import VirtualStainConfig

PreviewChannel = Literal["Brightfield", "Nuclei", "ViralSensor", "ERMarker"]


class SummaryConfig(StrictModel):
    """Ground-truth summary of a simulated dataset (rule ``summarize_ground_truth``)."""

    preview_channels: list[PreviewChannel] = Field(
        default_factory=lambda: list(get_args(PreviewChannel)),
        min_length=1,
        description="Channels shown in the preview figure (central slice).",
    )
    preview_frames: int = Field(4, ge=1, description="Number of evenly spaced frames in the preview.")


class TrackingInputConfig(StrictModel):
    """Which nuclear image the tracking stage reads."""

    source: Literal["virtual_stain", "raw"] = Field(
        "virtual_stain",
        description="'virtual_stain': the virtual-staining output; 'raw': a nuclear channel of the plate.",
    )
    channel: str = Field("nuclei_prediction", min_length=1, description="Channel name in that plate.")


class ContrastiveModelEntry(StrictModel):
    """A named contrastive model: the dataset whose patches train it, and its training config."""

    dataset: str = Field(min_length=1, description="Dataset whose patch store trains the model.")
    training: ContrastiveModelConfig
    processes: int = Field(
        1,
        ge=1,
        description=(
            "DDP ranks on CPU (torchrun --nproc-per-node, gloo) and the training job's threads; a job "
            "given GPUs (the rule's 'gpu' resource) runs one rank per GPU instead."
        ),
    )


class AnalysisConfig(StrictModel):
    """Embeddings and what is read from them, for every model and dataset (dataset-level rules)."""

    embeddings: EmbeddingConfig = EmbeddingConfig()
    projections: ProjectionConfig = ProjectionConfig()
    baselines: list[BaselineName] = Field(
        default_factory=lambda: list(get_args(BaselineName)),
        description="Baselines that go through the same metrics, classifiers and DTW as trained models.",
    )
    engineered_features: EngineeredFeaturesConfig = EngineeredFeaturesConfig()
    temporal_metrics: TemporalMetricsConfig = TemporalMetricsConfig()
    classification: ClassificationConfig = ClassificationConfig()
    pseudotime: PseudotimeConfig = PseudotimeConfig()
    figures: FiguresConfig = Field(
        default_factory=FiguresConfig,
        description=(
            "Figure settings; a key left out follows the analysis it draws: the distance figure "
            "temporal_metrics' representation and seed, the ground-truth matching pseudotime's."
        ),
    )

    @model_validator(mode="after")
    def _figures_follow_their_analyses(self) -> AnalysisConfig:
        """Fill the figure keys the user left out from the analyses the figures draw."""
        following = {
            "distances_representation": self.temporal_metrics.representation,
            "distances_seed": self.temporal_metrics.seed,
            "match_truth_on": self.pseudotime.match_truth_on,
            "max_match_distance_px": self.pseudotime.max_match_distance_px,
        }
        update = {key: value for key, value in following.items() if key not in self.figures.model_fields_set}
        if update:
            figures = FiguresConfig.model_validate({**self.figures.model_dump(exclude_unset=True), **update})
            object.__setattr__(self, "figures", figures)
        return self


class DatasetConfig(StrictModel):
    """One dataset: a simulated plate (``simulate``) or an existing plate (``plate``)."""

    simulate: SimulateConfig | None = Field(None, description="Simulate this dataset's plate.")
    plate: str | None = Field(None, description="Path of an existing HCS OME-Zarr plate.")
    summary: SummaryConfig = SummaryConfig()
    phase: PhaseConfig | None = Field(
        default_factory=PhaseConfig,
        description="Phase reconstruction; null when the plate already holds a 'Phase3D' channel.",
    )
    virtual_stain: VirtualStainConfig | None = Field(
        None, description="Virtual staining of nuclei from phase; omit to track on the plate's own channel."
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

    @model_validator(mode="before")
    @classmethod
    def _default_tracking_input(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tracking_input" not in data:
            if data.get("virtual_stain") is not None:
                return {**data, "tracking_input": {"source": "virtual_stain", "channel": "nuclei_prediction"}}
            return {**data, "tracking_input": {"source": "raw", "channel": "Nuclei"}}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        if (self.simulate is None) == (self.plate is None):
            raise ValueError("give exactly one of 'simulate' (a simulated plate) or 'plate' (a path)")
        if self.tracking_input.source == "virtual_stain" and self.virtual_stain is None:
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

    def patch_spec(self, name: str) -> PatchSpec:
        return next(spec for spec in self.patches if spec.name == name)

    @property
    def is_simulated(self) -> bool:
        return self.simulate is not None


class WorkflowConfig(StrictModel):
    """Top level of ``config/config.yaml``."""

    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    contrastive_models: dict[str, ContrastiveModelEntry] = Field(
        default_factory=dict, description="Named contrastive models, each trained on one dataset's patches."
    )
    analysis: AnalysisConfig = AnalysisConfig()

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
            if entry.dataset not in self.datasets:
                raise ValueError(
                    f"contrastive_models.{name}.dataset: {entry.dataset!r} is not a dataset; "
                    f"datasets are {sorted(self.datasets)}"
                )
            specs = [spec.name for spec in self.datasets[entry.dataset].patches]
            if entry.training.patch_spec not in specs:
                raise ValueError(
                    f"contrastive_models.{name}.training.patch_spec: {entry.training.patch_spec!r} is not a "
                    f"patch spec of dataset {entry.dataset!r}; its specs are {specs}"
                )
        classified = set(self.analysis.classification.tasks)
        for name, dataset in self.datasets.items():
            annotated = dataset.is_simulated or dataset.annotations.is_imported
            if annotated and not classified & set(dataset.annotations.tasks):
                raise ValueError(
                    f"datasets.{name}.annotations.tasks {list(dataset.annotations.tasks)} share no task "
                    f"with analysis.classification.tasks {sorted(classified)}; nothing could be classified"
                )
        return self


def load_config(path: str | Path) -> WorkflowConfig:
    """Read and validate a workflow config file; errors name the file and the offending key."""
    path = Path(path)
    raw: Any = yaml.safe_load(path.read_text())
    try:
        return WorkflowConfig.model_validate(raw)
    except ValidationError as err:
        raise ValueError(f"{path}: invalid config:\n{err}") from err
