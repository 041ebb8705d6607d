"""The whole workflow config: datasets, each with its stages' configs.

``config/config.yaml`` is validated twice: by Snakemake against the generated JSON Schema at
parse time (so a bad key fails before any job runs), and by these models inside each job, on
the rule's own subtree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import Field, ValidationError, model_validator

from dynaclr.config.base import StrictModel
from dynaclr.config.phase import PhaseConfig
from dynaclr.config.simulate import SimulateConfig

PreviewChannel = Literal["Brightfield", "Nuclei", "ViralSensor", "ERMarker"]


class SummaryConfig(StrictModel):
    """Ground-truth summary of a simulated dataset (rule ``summarize_ground_truth``)."""

    preview_channels: list[PreviewChannel] = Field(
        default_factory=lambda: list(get_args(PreviewChannel)),
        min_length=1,
        description="Channels shown in the preview figure (central slice).",
    )
    preview_frames: int = Field(4, ge=1, description="Number of evenly spaced frames in the preview.")


class DatasetConfig(StrictModel):
    """One dataset: a simulated plate (``simulate``) or an existing plate (``plate``)."""

    simulate: SimulateConfig | None = Field(None, description="Simulate this dataset's plate.")
    plate: str | None = Field(None, description="Path of an existing HCS OME-Zarr plate.")
    summary: SummaryConfig = SummaryConfig()
    phase: PhaseConfig | None = Field(
        default_factory=PhaseConfig,
        description="Phase reconstruction; null when the plate already holds a 'Phase3D' channel.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        if (self.simulate is None) == (self.plate is None):
            raise ValueError("give exactly one of 'simulate' (a simulated plate) or 'plate' (a path)")
        return self

    @property
    def is_simulated(self) -> bool:
        return self.simulate is not None


class WorkflowConfig(StrictModel):
    """Top level of ``config/config.yaml``."""

    datasets: dict[str, DatasetConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _dataset_names(self) -> WorkflowConfig:
        import re

        bad = [name for name in self.datasets if not re.fullmatch(r"[A-Za-z0-9_-]+", name)]
        if bad:
            raise ValueError(f"datasets: names may hold letters, digits, '_' and '-' only; got {bad}")
        return self


def load_config(path: str | Path) -> WorkflowConfig:
    """Read and validate a workflow config file; errors name the file and the offending key."""
    path = Path(path)
    raw: Any = yaml.safe_load(path.read_text())
    try:
        return WorkflowConfig.model_validate(raw)
    except ValidationError as err:
        raise ValueError(f"{path}: invalid config:\n{err}") from err
