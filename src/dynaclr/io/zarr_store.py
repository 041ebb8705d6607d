"""Provenance stored in the root attributes of a zarr store (OME-Zarr plates included)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
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


#: The attribute of each position of a plate dynaclr makes for per-FOV jobs to fill
#: (:func:`~dynaclr.io.plate.create_empty_plate`) holding a copy of the plate's own root attributes
#: (its provenance record, ``time_interval_minutes`` and the stage's attributes): a per-FOV job reads
#: them in its own position's metadata, not in the plate's root ``zarr.json``.
PLATE_ATTRIBUTES_KEY = "dynaclr_plate"


#: Root attributes not copied into the positions: the plate's OME-NGFF metadata (every well listed).
PLATE_METADATA_KEYS = ("ome", "plate", "well")

#: A plate record listing more inputs than this (convert_tiff lists every TIFF file: 10,000 made each
#: position's ``zarr.json`` 1.7 MB, docs/benchmarks.md) is copied into the positions without them
#: (:func:`copied_plate_attributes`); the plate's root keeps the full record.
MAX_COPIED_INPUTS = 16

#: The key, in a position's copy of the root attributes, that counts and hashes the inputs left out of
#: its slimmed record (:data:`MAX_COPIED_INPUTS`).
OMITTED_INPUTS_KEY = "dynaclr_omitted_inputs"


def copied_plate_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """What each position of a plate holds as its copy of the plate's root ``attributes``
    (:data:`PLATE_ATTRIBUTES_KEY`): all but the OME-NGFF plate metadata, the provenance record slimmed
    where it lists more than :data:`MAX_COPIED_INPUTS` inputs (its ``inputs`` emptied, their count and
    hash under :data:`OMITTED_INPUTS_KEY`; the readers of the copy use the record's kind, schema and
    config hash, and :func:`~dynaclr.io.provenance.recorded_input` the input plate of a plate made from
    one: a short list). The writer and :func:`~dynaclr.io.plate.read_plate_layout`'s comparison of each
    copy with the root both call it."""
    copied = {key: value for key, value in attributes.items() if key not in PLATE_METADATA_KEYS}
    record = copied.get(PROVENANCE_KEY)
    inputs = record.get("inputs") if isinstance(record, dict) else None
    if isinstance(record, dict) and isinstance(inputs, list) and len(inputs) > MAX_COPIED_INPUTS:
        payload = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
        copied[PROVENANCE_KEY] = {**record, "inputs": []}
        copied[OMITTED_INPUTS_KEY] = {
            "count": len(inputs),
            "sha256": hashlib.sha256(payload.encode()).hexdigest(),
        }
    return copied


def write_plate_provenance(path: str | Path, provenance: Provenance, fov_names: Iterable[str]) -> None:
    """:func:`write_zarr_provenance` for an HCS plate, then a copy of its root attributes (the record,
    ``time_interval_minutes``, the stage's attributes; not its OME-NGFF plate metadata; the record
    slimmed where it lists many inputs: :func:`copied_plate_attributes`) into each of its positions
    ``fov_names`` (:data:`PLATE_ATTRIBUTES_KEY`): what each per-FOV job reads instead of the plate's
    root (:func:`position_plate_attributes`). Call it once the plate's root attributes are written."""
    write_zarr_provenance(path, provenance)
    copied = copied_plate_attributes(zarr.open_group(str(path), mode="r").attrs.asdict())
    for fov_name in fov_names:
        zarr.open_group(str(Path(path) / fov_name), mode="r+").attrs[PLATE_ATTRIBUTES_KEY] = copied


def copy_location(path: str | Path, fov_name: str) -> str:
    """Where position ``fov_name``'s copy of the root attributes of the plate at ``path`` lies, for
    messages: ``<plate>/<fov>/zarr.json (dynaclr_plate)``."""
    return f"{Path(path) / fov_name / 'zarr.json'} ({PLATE_ATTRIBUTES_KEY})"


def position_plate_attributes(path: str | Path, fov_name: str | None) -> dict[str, Any] | None:
    """The copy of the plate's root attributes in position ``fov_name`` of the plate at ``path``
    (:data:`PLATE_ATTRIBUTES_KEY`), reading that position's metadata alone; None where ``fov_name``
    is None, the position cannot be read or holds no copy (a plate of your own, or one dynaclr made
    before the copy was written): the caller then reads the plate's root."""
    if fov_name is None:
        return None
    try:
        copied = zarr.open_group(str(Path(path) / fov_name), mode="r").attrs.get(PLATE_ATTRIBUTES_KEY)
    except Exception:  # no such position, or not a zarr group: the caller's root read says which
        return None
    return copied if isinstance(copied, dict) and isinstance(copied.get(PROVENANCE_KEY), dict) else None


def read_plate_attribute(
    path: str | Path, key: str, fov_name: str | None = None, planned_root: Mapping[str, Any] | None = None
) -> Any:
    """Root attribute ``key`` of the plate at ``path`` (None where absent), read from position
    ``fov_name``'s copy of the root attributes where it holds one (:func:`position_plate_attributes`),
    else from ``planned_root`` where given (the root attributes of a plate of your own as the dry run
    read them: :func:`~dynaclr.io.plate.planned_root_attributes`), else from the plate's root."""
    copied = position_plate_attributes(path, fov_name)
    if copied is not None:
        return copied.get(key)
    if planned_root is not None:
        return planned_root.get(key)
    return zarr.open_group(str(path), mode="r").attrs.get(key)


def read_zarr_provenance(path: str | Path, kind: str, fov_name: str | None = None) -> Provenance:
    """Read and check the provenance of the zarr store at ``path``: for a plate, the copy in position
    ``fov_name`` where given and held (a per-FOV job reads no metadata of the plate's root:
    :func:`position_plate_attributes`), else the root's."""
    if fov_name is not None and (copied := position_plate_attributes(path, fov_name)) is not None:
        return check_provenance(copied[PROVENANCE_KEY], kind, copy_location(path, fov_name))
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: store not found (expected a '{kind}' zarr store)")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as err:  # zarr raises several error types for a non-store
        raise unreadable_artifact(path, kind, err) from err
    raw = group.attrs.get(PROVENANCE_KEY)
    return check_provenance(raw if isinstance(raw, dict) else None, kind, path)


def read_plate_provenance(
    path: str | Path,
    accepted_kinds: Sequence[str],
    what: str,
    fov_name: str | None = None,
    planned_root: Mapping[str, Any] | None = None,
) -> Provenance | None:
    """Provenance of a plate that this workflow may or may not have written.

    A plate from a microscope or another tool has no dynaclr record: it is accepted, ``None`` is
    returned and the caller records it by path only. A plate with a record must be of one of
    ``accepted_kinds`` (another kind means a wrong path in the config) and of the current schema.

    Args:
        path: the plate (a zarr group).
        accepted_kinds: artifact kinds that may serve here, e.g. ``("raw_plate", "phase_plate")``.
        what: what the plate is for, for messages (e.g. ``"phase input of virtual staining"``).
        fov_name: the position a per-FOV job reads: its copy of the plate's record is read where it
            holds one (:func:`position_plate_attributes`), not the plate's root.
        planned_root: the root attributes of a plate of your own as the dry run read them
            (:func:`~dynaclr.io.plate.planned_root_attributes`: no record; the dry run checked the
            plate is HCS), read in place of the root where position ``fov_name`` (given or not) holds
            no copy, as :func:`read_plate_attribute` and :func:`~dynaclr.io.plate.read_plate_sampling`
            take it.

    Raises:
        ArtifactError: the path is missing or not a zarr store, or its record is of another kind
            or out of date; the message names the file, what was expected and what was found.
    """
    if fov_name is not None and (copied := position_plate_attributes(path, fov_name)) is not None:
        return check_optional_provenance(
            copied[PROVENANCE_KEY], accepted_kinds, copy_location(path, fov_name), what
        )
    if planned_root is not None:
        return check_optional_provenance(planned_root.get(PROVENANCE_KEY), accepted_kinds, path, what)
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
