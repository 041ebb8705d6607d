"""Rule ``collect_pseudotime``: the per-(model, dataset) DTW outputs gathered into two tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dynaclr.io import ArtifactKind, StageFiles, make_provenance, read_table, write_csv, write_table
from dynaclr.pseudotime.stage import DTW_ACCURACY_COLUMNS, read_dtw_accuracy


class CollectPseudotimeInputs(StageFiles):
    """Rule ``collect_pseudotime``: every (model, dataset)'s DTW outputs (same order)."""

    pseudotime: tuple[Path, ...]
    accuracy: tuple[Path, ...]


class CollectPseudotimeOutputs(StageFiles):
    """Rule ``collect_pseudotime``: ``pseudotime.parquet`` and ``dtw_accuracy.csv``."""

    pseudotime: Path
    accuracy: Path


def collect_pseudotime(
    inputs: CollectPseudotimeInputs, outputs: CollectPseudotimeOutputs
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate per-(model, dataset) DTW outputs into one pseudo-time table and one accuracy CSV.

    ``outputs.pseudotime`` is a Parquet table (kind ``pseudotime``, its inputs recorded), rows
    sorted by ``model, dataset`` then the per-job order; ``outputs.accuracy`` a CSV with
    :data:`~dynaclr.pseudotime.stage.DTW_ACCURACY_COLUMNS`, sorted by ``model, dataset, fov_name,
    query_id``: each aligned query's row and, per (model, dataset) that aligned nothing, its row of
    ``not_computed`` (the integer columns stay integers, empty on that row).

    Returns:
        The two tables.
    """
    pseudotime_paths, accuracy_paths = inputs.pseudotime, inputs.accuracy
    if not pseudotime_paths or len(pseudotime_paths) != len(accuracy_paths):
        raise ValueError(
            f"collect_pseudotime needs one accuracy table per pseudotime table; got "
            f"{len(pseudotime_paths)} and {len(accuracy_paths)}"
        )
    tables: list[pd.DataFrame] = []
    recorded: list[Any] = []
    for path in pseudotime_paths:
        table, provenance = read_table(path, ArtifactKind.PSEUDOTIME, ("model", "dataset"))
        tables.append(table)
        recorded.append((path, provenance))
    pseudotime = _concat(tables).sort_values(["model", "dataset"], kind="stable", ignore_index=True)
    accuracies = [read_dtw_accuracy(p) for p in accuracy_paths]
    accuracy = _concat(accuracies)
    aligned = [table for table in accuracies if len(table) and (table["not_computed"] == "").all()]
    integers = [c for c in accuracy.columns if aligned and all(t[c].dtype.kind in "iu" for t in aligned)]
    accuracy = accuracy.astype(dict.fromkeys(integers, "Int64"))
    accuracy = accuracy[list(DTW_ACCURACY_COLUMNS)].sort_values(
        ["model", "dataset", "fov_name", "query_id"], ignore_index=True
    )
    pairs = sorted(set(zip(pseudotime["model"], pseudotime["dataset"], strict=True)))
    write_table(
        pseudotime,
        outputs.pseudotime,
        make_provenance(ArtifactKind.PSEUDOTIME, {"collected": pairs}, recorded, stage="collect_pseudotime"),
    )
    write_csv(accuracy, outputs.accuracy)
    return pseudotime, accuracy


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """``tables`` one after the other; the empty ones (a store with nothing to align, written with
    its columns only) are left out where another has rows, so that they change no column's type."""
    rows = [table for table in tables if len(table)]
    return pd.concat(rows or tables[:1], ignore_index=True)
