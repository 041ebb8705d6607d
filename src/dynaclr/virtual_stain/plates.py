"""The plates of virtual staining: checks on those it reads (kinds, FOVs, channels, shapes; errors say
what to fix) and the empty prediction plate it writes. Metadata only: no deep-learning framework."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from iohub.ngff import open_ome_zarr

from dynaclr.config.virtual_stain import PHASE_INPUT_KINDS, VirtualStainConfig
from dynaclr.io import ArtifactError, Provenance, check_provenance, make_provenance
from dynaclr.io.plate import create_empty_plate, list_plate_fovs, read_plate_geometry
from dynaclr.io.provenance import PROVENANCE_KEY

__all__ = [
    "OUTPUT_UNITS",
    "channel_index",
    "create_virtual_stain_plate",
    "plate_image",
    "read_phase_provenance",
]

logger = logging.getLogger(__name__)

OUTPUT_UNITS = "nuclear fluorescence normalised per FOV: median 0, 99th percentile 1"


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


def create_virtual_stain_plate(
    phase_plate_path: str | Path, config: VirtualStainConfig, output_plate_path: str | Path
) -> None:
    """Create the empty prediction plate: the phase plate's positions, one channel
    ``config.output_channel``, ``float32`` ``(T, 1, Z, Y, X)``, chunks ``(1, 1, Z, Y, X)``.

    Reads only metadata. Per-FOV jobs (:func:`predict_fov`) fill it.
    """
    phase_provenance = read_phase_provenance(phase_plate_path)
    fov_names = list_plate_fovs(phase_plate_path)
    shapes: dict[tuple[int, ...], list[str]] = {}
    with open_ome_zarr(phase_plate_path, layout="hcs", mode="r") as plate:
        channel_index(plate, config.input_channel, phase_plate_path)
        for fov_name in fov_names:
            shape = plate_image(plate, fov_name, phase_plate_path).shape
            shapes.setdefault((shape[0], *shape[2:]), []).append(fov_name)
    if len(shapes) != 1:
        raise ArtifactError(
            f"{phase_plate_path}: FOVs differ in T, Z, Y, X ({ {k: v for k, v in shapes.items()} }); "
            "one prediction plate needs a single shape"
        )
    n_t, n_z, n_y, n_x = next(iter(shapes))
    provenance = make_provenance(
        "virtual_stain_plate", config.model_dump(mode="json"), inputs=[(phase_plate_path, phase_provenance)]
    )
    create_empty_plate(
        output_plate_path,
        fov_names,
        [config.output_channel],
        (n_t, 1, n_z, n_y, n_x),
        np.float32,
        read_plate_geometry(phase_plate_path),
        provenance,
        attributes={"virtual_stain_units": OUTPUT_UNITS},
    )
    logger.info("created %s: %d FOVs of shape %s", output_plate_path, len(fov_names), (n_t, 1, n_z, n_y, n_x))
