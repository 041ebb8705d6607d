"""Summary CSV tables of the evaluation stages (``results/evaluation/*.csv``), written atomically.

These tables are for people and for the report; the per-job artifacts they summarise carry the
provenance. A CSV has no metadata block, so the columns are the contract (documented by the
functions that build them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dynaclr.io import atomic_output


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` to ``path`` as CSV (no index), under a temporary name moved into place."""
    with atomic_output(path) as tmp:
        table.to_csv(tmp, index=False)


def read_csv(path: str | Path, required_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a summary CSV and check that ``required_columns`` are present (error names the file)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: table not found")
    table = pd.read_csv(path)
    missing = [c for c in required_columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; found {list(table.columns)}")
    return table


def concatenate_csv(paths: Sequence[str | Path], output_path: str | Path) -> pd.DataFrame:
    """Concatenate per-job CSV tables (same columns) into one, e.g. per (model, dataset) rows."""
    if not paths:
        raise ValueError("concatenate_csv needs at least one input table")
    tables = [read_csv(path) for path in paths]
    columns = list(tables[0].columns)
    for path, table in zip(paths, tables, strict=True):
        if list(table.columns) != columns:
            raise ValueError(f"{path}: columns {list(table.columns)} differ from {paths[0]}'s {columns}")
    combined = pd.concat(tables, ignore_index=True)
    write_csv(combined, output_path)
    return combined
