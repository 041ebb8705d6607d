"""Small helpers over iohub for HCS OME-Zarr plates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iohub.ngff import open_ome_zarr
from iohub.ngff.models import TransformationMeta
from numpy.typing import DTypeLike

from dynaclr.io.atomic import atomic_output
from dynaclr.io.provenance import PROVENANCE_KEY, ArtifactError, Provenance, check_provenance
from dynaclr.io.zarr_store import write_zarr_provenance

OME_ZARR_VERSION = "0.5"


def scale_transform(time_interval_s: float, z_um: float, yx_um: float) -> list[TransformationMeta]:
    """OME-NGFF scale transform for TCZYX: time in seconds, space in micrometres."""
    return [TransformationMeta(type="scale", scale=[time_interval_s, 1.0, z_um, yx_um, yx_um])]


def split_fov_name(fov_name: str) -> tuple[str, str, str]:
    """``'A/1/0'`` → ``('A', '1', '0')`` with a clear error for anything else."""
    parts = fov_name.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"FOV name {fov_name!r} is not of the form 'row/column/fov' (e.g. 'A/1/0')")
    return parts[0], parts[1], parts[2]


def list_plate_fovs(plate_path: str | Path) -> list[str]:
    """FOV names (``row/column/fov``) of an HCS plate, read from its metadata only."""
    plate_path = Path(plate_path)
    if not plate_path.exists():
        raise ArtifactError(f"{plate_path}: plate not found")
    try:
        with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
            return [name for name, _ in plate.positions()]
    except Exception as err:
        raise ArtifactError(f"{plate_path}: not a readable HCS OME-Zarr plate ({err})") from err


@dataclass(frozen=True)
class PlateGeometry:
    """Physical sampling of a plate: time interval (s), z step (µm), pixel size (µm)."""

    time_interval_s: float
    z_step_um: float
    pixel_size_um: float

    def transform(self) -> list[TransformationMeta]:
        return scale_transform(self.time_interval_s, self.z_step_um, self.pixel_size_um)


def read_plate_geometry(plate_path: str | Path) -> PlateGeometry:
    """Time interval and pixel sizes of the first position of an HCS plate."""
    with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
        _, position = next(iter(plate.positions()))
        scale = position.scale
    return PlateGeometry(
        time_interval_s=float(scale[0]), z_step_um=float(scale[2]), pixel_size_um=float(scale[3])
    )


def create_empty_plate(
    path: str | Path,
    fov_names: list[str],
    channel_names: list[str],
    shape_tczyx: tuple[int, int, int, int, int],
    dtype: DTypeLike,
    geometry: PlateGeometry,
    provenance: Provenance,
    chunks: tuple[int, int, int, int, int] | None = None,
    attributes: dict[str, Any] | None = None,
) -> None:
    """Create an HCS plate whose positions hold lazily allocated arrays, for per-FOV jobs to fill.

    The plate is written under a temporary name and moved into place; each per-FOV job then
    writes its own position's chunks (no two jobs write the same file) and records completion
    with :func:`write_fov_record`.
    """
    _, _, n_z, n_y, n_x = shape_tczyx
    with atomic_output(path) as tmp:
        with open_ome_zarr(
            tmp, layout="hcs", mode="w", channel_names=list(channel_names), version=OME_ZARR_VERSION
        ) as plate:
            for fov_name in fov_names:
                position = plate.create_position(*split_fov_name(fov_name))
                position.create_zeros(
                    "0",
                    shape=shape_tczyx,
                    dtype=dtype,
                    chunks=chunks or (1, 1, n_z, n_y, n_x),
                    transform=geometry.transform(),
                )
            plate.zattrs["time_interval_minutes"] = geometry.time_interval_s / 60.0
            for key, value in (attributes or {}).items():
                plate.zattrs[key] = value
        write_zarr_provenance(tmp, provenance)


def fov_record_path(directory: str | Path, fov_name: str) -> Path:
    """Where a per-FOV job records its completion: ``{directory}/{row}/{col}/{fov}.json``."""
    return Path(directory).joinpath(*split_fov_name(fov_name)).with_suffix(".json")


def write_fov_record(path: str | Path, provenance: Provenance, metrics: dict[str, Any] | None = None) -> None:
    """Atomically write a per-FOV completion record (provenance + metrics) as JSON."""
    record = {PROVENANCE_KEY: json.loads(provenance.model_dump_json()), "metrics": metrics or {}}
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=float))


def read_fov_record(path: str | Path, kind: str) -> tuple[Provenance, dict[str, Any]]:
    """Read a per-FOV completion record and check its provenance."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(
            f"{path}: per-FOV record not found: the FOV was not processed (or its job was interrupted)"
        )
    record = json.loads(path.read_text())
    return check_provenance(record.get(PROVENANCE_KEY), kind, path), record.get("metrics", {})
