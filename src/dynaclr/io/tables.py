"""Parquet tables with provenance in the file's key-value metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dynaclr.io.atomic import atomic_output
from dynaclr.io.provenance import PROVENANCE_KEY, ArtifactError, Provenance, check_provenance


def write_table(df: pd.DataFrame, path: str | Path, provenance: Provenance) -> None:
    """Write ``df`` to Parquet at ``path`` (atomically) with ``provenance`` in its metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[PROVENANCE_KEY.encode()] = provenance.model_dump_json().encode()
    table = table.replace_schema_metadata(metadata)
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def read_table_provenance(path: str | Path, kind: str) -> Provenance:
    """Read and check the provenance of the Parquet table at ``path``."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file not found (expected a '{kind}' table)")
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(PROVENANCE_KEY.encode())
    return check_provenance(json.loads(raw) if raw else None, kind, path)


def read_table(
    path: str | Path, kind: str, required_columns: list[str] | tuple[str, ...] = ()
) -> tuple[pd.DataFrame, Provenance]:
    """Read a Parquet artifact, check its provenance and that ``required_columns`` are present."""
    prov = read_table_provenance(path, kind)
    df = pq.read_table(path).to_pandas()
    missing = [c for c in required_columns if c not in df.columns]
    if missing:
        raise ArtifactError(
            f"{path}: '{kind}' table lacks required columns {missing}; found {list(df.columns)}"
        )
    return df, prov
