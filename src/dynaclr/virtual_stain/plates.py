"""Checks on the plates virtual staining reads: kinds, FOVs, channels, shapes (errors say what to fix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zarr

from dynaclr.config.virtual_stain import PHASE_INPUT_KINDS
from dynaclr.io import ArtifactError, Provenance, check_provenance
from dynaclr.io.provenance import PROVENANCE_KEY

__all__ = ["channel_index", "plate_image", "read_phase_provenance"]


def read_phase_provenance(path: str | Path, kinds: tuple[str, ...] = PHASE_INPUT_KINDS) -> Provenance:
    """Check that ``path`` is a phase plate of one of ``kinds`` (default: the phase stage's
    ``phase_plate`` or the simulator's ``ground_truth_phase``) and return its provenance."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: phase plate not found (expected a zarr store of kind {list(kinds)})")
    try:
        raw = zarr.open_group(str(path), mode="r").attrs.get(PROVENANCE_KEY)
    except Exception as err:  # zarr raises several error types for a non-store
        raise ArtifactError(f"{path}: not a readable zarr store ({err})") from err
    if not isinstance(raw, dict):
        raw = None
    found = raw.get("kind") if raw is not None else None
    if found not in kinds:
        raise ArtifactError(
            f"{path}: expected a phase plate of kind {list(kinds)}, found kind {found!r}. "
            "Check the phase plate path given to virtual staining."
        )
    return check_provenance(raw, str(found), path)


def plate_image(plate: Any, fov_name: str, plate_path: str | Path) -> Any:
    """The ``(T, C, Z, Y, X)`` image ``'0'`` of position ``fov_name`` of an open HCS plate."""
    names = [name for name, _ in plate.positions()]
    if fov_name not in names:
        raise ArtifactError(f"{plate_path}: no FOV {fov_name!r}; the plate's FOVs are {names}")
    return plate[fov_name]["0"]


def channel_index(plate: Any, channel: str, plate_path: str | Path) -> int:
    """Index of ``channel`` in an open plate, with an error naming the channels found."""
    names = list(plate.channel_names)
    if channel not in names:
        raise ArtifactError(
            f"{plate_path}: no channel {channel!r}; found channels {names}. Check the channel names "
            "in the virtual staining config (input_channel, target_channel)."
        )
    return names.index(channel)
