"""Provenance stored in the root attributes of a zarr store (OME-Zarr plates included)."""

from __future__ import annotations

import json
from pathlib import Path

import zarr

from dynaclr.io.provenance import PROVENANCE_KEY, ArtifactError, Provenance, check_provenance


def write_zarr_provenance(path: str | Path, provenance: Provenance) -> None:
    """Add ``provenance`` to the root group attributes of the zarr store at ``path``."""
    group = zarr.open_group(str(path), mode="r+")
    group.attrs[PROVENANCE_KEY] = json.loads(provenance.model_dump_json())


def read_zarr_provenance(path: str | Path, kind: str) -> Provenance:
    """Read and check the provenance of the zarr store at ``path``."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: store not found (expected a '{kind}' zarr store)")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as err:  # zarr raises several error types for a non-store
        raise ArtifactError(f"{path}: not a readable zarr store ({err})") from err
    raw = group.attrs.get(PROVENANCE_KEY)
    return check_provenance(raw if isinstance(raw, dict) else None, kind, path)
