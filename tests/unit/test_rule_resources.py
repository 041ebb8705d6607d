"""Resources the rules ask SLURM for, computed by functions of workflow/rules/*.smk.

The functions are taken from the rule file itself (its Python statements, not a copy), with the
store's size given in place of reading a store: what is tested is what Snakemake evaluates.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

ANALYSIS_COMMON = Path(__file__).resolve().parents[2] / "workflow" / "rules" / "analysis_common.smk"
#: Cells of a 10,000-FOV plate at the demo's density (docs/benchmarks.md, "UMAP and PHATE at plate scale").
PLATE_CELLS = 6_840_000


#: The prefixes of the rule file's constants :func:`rule_functions` executes (those of the functions tested).
CONSTANT_PREFIXES = ("PROJECT_", "CLASSIFICATION_INTERVALS_")


def rule_functions(path: Path, names: set[str], **namespace: Any) -> dict[str, Any]:
    """The top-level constants and functions ``names`` (and every constant of
    :data:`CONSTANT_PREFIXES`) of a rule file, executed in ``namespace`` (what they call from
    elsewhere in the workflow)."""
    module = ast.parse(path.read_text(), filename=str(path))
    wanted = [
        node
        for node in module.body
        if (isinstance(node, ast.FunctionDef) and node.name in names)
        or (
            isinstance(node, ast.Assign)
            and all(isinstance(t, ast.Name) and t.id.startswith(CONSTANT_PREFIXES) for t in node.targets)
        )
    ]
    found = {node.name for node in wanted if isinstance(node, ast.FunctionDef)}
    assert found == names, f"{path} lacks {sorted(names - found)}"
    scope: dict[str, Any] = {"math": math, **namespace}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(path), "exec"), scope)
    return scope


@pytest.fixture(scope="module")
def runtime_of() -> Any:
    """``runtime_of(methods, n_cells)``: project_embeddings's runtime (minutes) for a store of ``n_cells``."""
    scope = rule_functions(
        ANALYSIS_COMMON,
        {"project_embeddings_runtime"},
        _store_shape=lambda path: (int(path), 320),  # the "store" is its cell count here
    )

    def runtime_of(methods: tuple[str, ...], n_cells: int) -> int:
        runtime = scope["project_embeddings_runtime"](SimpleNamespace(methods=list(methods)))
        if not callable(runtime):
            return runtime
        return runtime(SimpleNamespace(), SimpleNamespace(embeddings=str(n_cells)))

    return runtime_of


def test_pca_alone_asks_the_fixed_twenty_minutes_at_any_size(runtime_of: Any) -> None:
    assert runtime_of(("pca",), 1_000) == runtime_of(("pca",), PLATE_CELLS) == 20


def test_umap_and_phate_runtime_grows_with_the_cells_as_measured(runtime_of: Any) -> None:
    """20 minutes plus twice the 200,000-cell seconds (UMAP 100 s, PHATE 160 s measured), grown as
    cells^1.2 (UMAP) and cells^1.5 (PHATE)."""
    assert runtime_of(("pca", "umap"), 200_000) == 20 + math.ceil(200 / 60)
    assert runtime_of(("pca", "phate"), 200_000) == 20 + math.ceil(320 / 60)
    for method, exponent, seconds in (("umap", 1.2, 200.0), ("phate", 1.5, 320.0)):
        sizes = [50_000, 200_000, 1_000_000, PLATE_CELLS]
        minutes = [runtime_of(("pca", method), n) for n in sizes]
        assert minutes == sorted(minutes) and len(set(minutes)) == len(minutes), (method, minutes)
        assert minutes[-1] == 20 + math.ceil(seconds * (PLATE_CELLS / 200_000) ** exponent / 60)
    # both methods: their seconds add up
    both = runtime_of(("pca", "umap", "phate"), 1_000_000)
    assert both - 20 == pytest.approx(
        (runtime_of(("umap",), 1_000_000) - 20) + (runtime_of(("phate",), 1_000_000) - 20), abs=1
    )


def test_phate_asks_more_than_umap_at_the_same_size(runtime_of: Any) -> None:
    for n_cells in (200_000, 1_000_000, PLATE_CELLS):
        assert runtime_of(("phate",), n_cells) > runtime_of(("umap",), n_cells) > 20


def test_the_documented_plate_scale_runtimes(runtime_of: Any) -> None:
    """docs/benchmarks.md: about 4 h (UMAP) and 18 h (PHATE) at 6.84 million cells; above the
    fixed 20 minutes PHATE alone needs from about 1 million cells."""
    assert round(runtime_of(("pca", "umap"), PLATE_CELLS) / 60) == 4
    assert round(runtime_of(("pca", "phate"), PLATE_CELLS) / 60) == 18
    assert runtime_of(("phate",), 1_000_000) - 20 > 20


def test_the_classification_intervals_runtime_grows_with_the_scored_cells_and_replicates(
    tmp_path: Path,
) -> None:
    """classification_intervals asked a fixed 15 minutes whatever its bootstrap: about 11 min measured
    (0.94 us per scored cell and 8 ms per scores row per replicate) at 684,000 scored cells and
    n_bootstrap 1,000. Now 15 minutes plus twice that (2 us, 20 ms): 39 min there, read from the scores'
    n_test (the cells each row's bootstrap resamples)."""
    scope = rule_functions(
        ANALYSIS_COMMON, {"classification_intervals_runtime", "_intervals_runtime"}, _made=lambda path: path
    )

    def minutes(n_bootstrap: int, n_test: list[int]) -> int:
        scores = tmp_path / "scores.parquet"
        pd.DataFrame({"task": ["infection"] * len(n_test), "n_test": n_test}).to_parquet(scores)
        runtime = scope["classification_intervals_runtime"](SimpleNamespace(n_bootstrap=n_bootstrap))
        return runtime(SimpleNamespace(), SimpleNamespace(scores=str(scores)))

    assert minutes(1000, [342_000, 342_000]) == 15 + math.ceil(1000 * (2e-6 * 684_000 + 0.02 * 2) / 60) == 39
    assert minutes(0, [342_000, 342_000]) == minutes(1000, []) == 15
    assert minutes(200, [50_000, 50_000]) == 15 + 1  # up to 100,000 at the default 200: 16 min
    grown = [minutes(n, [rows]) - 15 for n, rows in ((1000, 100_000), (2000, 100_000), (1000, 400_000))]
    assert grown[1] == pytest.approx(2 * grown[0], abs=1) and grown[2] > 3 * grown[0]


def test_the_distillation_intervals_runtime_grows_with_the_held_out_cells_and_replicates(
    tmp_path: Path,
) -> None:
    """distillation_intervals bootstraps each method's row (three) over its held-out cells
    (n_heldout_cells), at classification_intervals' allowed cost per cell and row per replicate."""
    scope = rule_functions(
        ANALYSIS_COMMON, {"distillation_intervals_runtime", "_intervals_runtime"}, _made=lambda path: path
    )
    scores = tmp_path / "scores.parquet"
    pd.DataFrame({"method": ["teacher", "probe", "student"], "n_heldout_cells": [300_000] * 3}).to_parquet(
        scores
    )

    def minutes(n_bootstrap: int) -> int:
        runtime = scope["distillation_intervals_runtime"](SimpleNamespace(n_bootstrap=n_bootstrap))
        return runtime(SimpleNamespace(), SimpleNamespace(scores=str(scores)))

    assert minutes(0) == 15
    assert minutes(1000) == 15 + math.ceil(1000 * 3 * (2e-6 * 300_000 + 0.02) / 60) == 46
