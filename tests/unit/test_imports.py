"""Workflow jobs import only what they run: packages export their names lazily, so a job that reads
an AnnData never pays seconds for importing torch, and no embedding or prediction job imports
Lightning.

Each shim's own import lines (read from workflow/scripts) run in a fresh interpreter, and the heavy
packages its job must not load are checked absent. Every shim is listed, so a new one is a
decision, not an accident.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import REPO_ROOT

import dynaclr.embeddings

SCRIPTS = REPO_ROOT / "workflow" / "scripts"

#: shim -> heavy packages its imports must not load (an empty set: no constraint).
ABSENT: dict[str, set[str]] = {
    "align_pseudotime": {"torch"},
    "aligned_trajectories_figure": {"torch"},
    "annotate_divisions_from_lineage": {"torch", "sklearn"},
    "cell_features": {"torch"},
    "classification_intervals": {"torch", "iohub", "lightning", "timm"},
    "classify": {"torch"},
    "collect_classification": {"torch"},
    "collect_patches": {"torch"},
    "collect_pseudotime": {"torch"},
    "collect_tracks": {"torch"},
    "convert_tiff": {"torch"},
    "distill": {"lightning"},  # fine-tunes the student in plain torch
    "distillation_intervals": {"torch", "iohub", "lightning", "timm"},  # the CIs of distill's tables
    "draw_annotations": {"torch", "sklearn"},
    "embed": {"torch", "lightning"},  # an encoder imports torch when it runs, never Lightning
    "embedding_figures": {"torch"},
    "evaluate_phase": set(),
    "evaluate_tracking": {"torch"},
    "evaluate_virtual_stain": {"torch"},
    "extract_patches": {"torch"},
    "export_ctc": {"torch"},
    "export_embeddings": {"torch"},
    "feature_trajectories": {"torch"},
    "findings": {"torch"},
    "image_qc_figure": {"torch"},
    "import_annotations": {"torch", "sklearn"},
    "import_model": {"lightning"},
    "import_tracks": {"torch"},
    "infected_fraction_figure": {"torch"},
    "interpret_embeddings": {"torch"},  # reads and writes a checkpoint with torch only
    "occlusion_attribution": {"lightning"},  # an encoder and Captum, never Lightning
    "phase_plate": set(),
    "phase_transfer_function": set(),
    "predict_virtual_stain": {"lightning", "monai"},
    "project_embeddings": {"torch"},
    "pseudotime_figure": {"torch"},
    "qc_table": {"torch"},
    "reconstruct_phase": set(),
    "results_table": {"torch"},
    "simulate": set(),
    "summarize_ground_truth": {"torch"},
    "temporal_metrics": {"torch"},
    "track_fov": set(),
    "transfer_classifiers": {"torch"},
    "tracks_plate": set(),
    "train_virtual_stain": set(),
    "virtual_stain_plate": {"torch"},
}


def shim_imports(name: str) -> str:
    """The import statements of ``workflow/scripts/<name>.py``, as source."""
    source = (SCRIPTS / f"{name}.py").read_text()
    tree = ast.parse(source)
    return "\n".join(
        ast.get_source_segment(source, node) or ""
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
    )


def test_every_shim_is_listed() -> None:
    assert sorted(path.stem for path in SCRIPTS.glob("*.py")) == sorted(ABSENT)


def _loaded_absentees(shim: str) -> str:
    """What a fresh interpreter running ``shim``'s imports loads of the packages its job must not."""
    absent = sorted(ABSENT[shim])
    code = "\n".join(
        [
            "import sys",
            shim_imports(shim),
            "with job_context(None, 1):",
            "    pass",
            f"print(sorted(name for name in {absent!r} if name in sys.modules))",
        ]
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.mark.slow  # a fresh interpreter per shim, as many at once as there are cores: about 1.5 min in all
def test_every_job_imports_only_what_it_runs() -> None:
    shims = sorted(name for name, absent in ABSENT.items() if absent)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        loaded = dict(zip(shims, pool.map(_loaded_absentees, shims), strict=True))
    failed = {shim: found for shim, found in loaded.items() if found != "[]"}
    assert not failed, f"these shims' imports load packages their jobs must not: {failed}"


def test_reading_the_config_imports_no_iohub() -> None:
    """Every job reads its config: dynaclr.config loads neither iohub nor torch (about 1 s each)."""
    code = (
        "import sys\nimport dynaclr.config\nprint(sorted(n for n in ('iohub', 'torch') if n in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", f"dynaclr.config loads {result.stdout.strip()}"


def test_lazy_exports_resolve_list_and_refuse_unknown_names() -> None:
    assert dynaclr.embeddings.read_embeddings.__module__ == "dynaclr.embeddings.store"
    assert {"read_embeddings", "encode_patches", "projection_stage"} <= set(dir(dynaclr.embeddings))
    with pytest.raises(AttributeError, match="attribute missing"):
        _ = dynaclr.embeddings.missing  # type: ignore[attr-defined]
