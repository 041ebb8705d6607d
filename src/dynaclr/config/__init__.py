"""Typed configuration of the workflow: one pydantic model per stage, composed per dataset.

The JSON Schema that Snakemake validates ``config/config.yaml`` against
(``config/config.schema.json``) is generated from these models with ``make schema`` and a test
checks that it is current, so the models are the single source of truth.
"""

from dynaclr.config.base import StrictModel
from dynaclr.config.workflow import DatasetConfig, SummaryConfig, WorkflowConfig, load_config

__all__ = ["DatasetConfig", "StrictModel", "SummaryConfig", "WorkflowConfig", "load_config"]
