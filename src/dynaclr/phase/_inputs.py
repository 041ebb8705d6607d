"""Reading the raw plate, which may come from the simulator (with provenance) or from a microscope."""

from __future__ import annotations

import logging
from pathlib import Path

import zarr

from dynaclr.io import ArtifactError, Provenance, read_zarr_provenance
from dynaclr.io.provenance import PROVENANCE_KEY

logger = logging.getLogger(__name__)


def optional_raw_plate_provenance(raw_plate_path: str | Path) -> Provenance | None:
    """Provenance of a simulated raw plate, or ``None`` for a plate written by another tool.

    A plate named in the config (``plate:``) has no dynaclr provenance; one that has it must be
    a ``raw_plate`` of the current schema version.
    """
    path = Path(raw_plate_path)
    if not path.exists():
        raise ArtifactError(f"{path}: raw plate not found")
    try:
        attrs = zarr.open_group(str(path), mode="r").attrs
    except Exception as err:  # zarr raises several error types for a non-store
        raise ArtifactError(f"{path}: not a readable zarr store ({err})") from err
    if PROVENANCE_KEY not in attrs:
        logger.info("%s has no dynaclr provenance: treated as an external plate", path)
        return None
    return read_zarr_provenance(path, "raw_plate")
