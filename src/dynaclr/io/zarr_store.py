"""Provenance stored in the root attributes of a zarr store (OME-Zarr plates included)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zarr

from dynaclr.io.provenance import (
    PROVENANCE_KEY,
    ArtifactError,
    ArtifactKind,
    Provenance,
    check_optional_provenance,
    check_provenance,
    unreadable_artifact,
)


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
        raise unreadable_artifact(path, kind, err) from err
    raw = group.attrs.get(PROVENANCE_KEY)
    return check_provenance(raw if isinstance(raw, dict) else None, kind, path)


def read_plate_provenance(path: str | Path, accepted_kinds: Sequence[str], what: str) -> Provenance | None:
    """Provenance of a plate that this workflow may or may not have written.

    A plate from a microscope or another tool has no dynaclr record: it is accepted, ``None`` is
    returned and the caller records it by path only. A plate with a record must be of one of
    ``accepted_kinds`` (another kind means a wrong path in the config) and of the current schema.

    Args:
        path: the plate (a zarr group).
        accepted_kinds: artifact kinds that may serve here, e.g. ``("raw_plate", "phase_plate")``.
        what: what the plate is for, for messages (e.g. ``"phase input of virtual staining"``).

    Raises:
        ArtifactError: the path is missing or not a zarr store, or its record is of another kind
            or out of date; the message names the file, what was expected and what was found.
    """
    path = Path(path)
    expected = " or ".join(accepted_kinds)
    if not path.exists():
        raise ArtifactError(f"{path}: plate not found (the {what}: a plate of kind {expected}, or your own)")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as err:  # zarr raises several error types for a non-store
        raise unreadable_artifact(path, accepted_kinds, err) from err
    attributes = group.attrs.asdict()
    raw = attributes.get(PROVENANCE_KEY)
    if raw is None and not _is_hcs_plate(attributes):
        rules = " or ".join(
            sorted({f"`snakemake --forcerun {ArtifactKind.of(str(k)).rule}`" for k in accepted_kinds})
        )
        raise ArtifactError(
            f"{path}: neither a dynaclr plate (no '{PROVENANCE_KEY}' record) nor an HCS OME-Zarr plate (no "
            f"'plate' metadata); expected the {what}: a plate of kind {expected} (rerun it with {rules}) or "
            "an HCS plate of your own (check the path given in the config)"
        )
    return check_optional_provenance(raw, accepted_kinds, path, what)


def _is_hcs_plate(attributes: Mapping[str, Any]) -> bool:
    """OME-NGFF plate metadata at the root: ``plate`` (0.4) or ``ome.plate`` (0.5)."""
    ome = attributes.get("ome")
    return "plate" in attributes or (isinstance(ome, dict) and "plate" in ome)
