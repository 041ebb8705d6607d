"""Workflow jobs import only what they run: packages export their names lazily, so a job that reads
an AnnData never pays seconds for importing torch, and no embedding or prediction job imports
Lightning."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dynaclr.embeddings

JOB_IMPORTS = {  # the import of a workflow shim -> heavy packages it must not import
    "from dynaclr.figures.stage import distances_figure, infected_fraction_figure": {"torch"},
    "from dynaclr.classify import classify_stage, collect_classification": {"torch"},
    "from dynaclr.classify import import_annotations_stage": {"torch", "sklearn"},
    "from dynaclr.evaluation.stage import temporal_metrics_stage": {"torch"},
    "from dynaclr.pseudotime.stage import pseudotime_stage": {"torch"},
    "from dynaclr.embeddings.stage import projection_stage": {"torch"},
    "from dynaclr.baselines import engineered_features": {"torch"},
    "from dynaclr.virtual_stain import create_virtual_stain_plate, evaluate_virtual_stain": {"torch"},
    "from dynaclr.virtual_stain import predict_fov": {"lightning", "monai"},
    "from dynaclr.training import read_contrastive_checkpoint": {"lightning"},
}


@pytest.mark.parametrize(("statement", "absent"), JOB_IMPORTS.items(), ids=range(len(JOB_IMPORTS)))
def test_a_job_imports_only_what_it_runs(statement: str, absent: set[str]) -> None:
    code = "\n".join(
        [
            "import sys",
            statement,
            "from dynaclr.jobs import job_context",
            "with job_context(None, 1):",
            "    pass",
            f"print(sorted(name for name in {sorted(absent)!r} if name in sys.modules))",
        ]
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", statement


def test_lazy_exports_resolve_list_and_refuse_unknown_names() -> None:
    assert dynaclr.embeddings.read_embeddings.__module__ == "dynaclr.embeddings.store"
    assert {"read_embeddings", "embed_patches", "compute_projections"} <= set(dir(dynaclr.embeddings))
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = dynaclr.embeddings.missing  # type: ignore[attr-defined]
