"""Small helpers over iohub for HCS OME-Zarr plates."""

from __future__ import annotations

from pathlib import Path

from iohub.ngff import open_ome_zarr
from iohub.ngff.models import TransformationMeta

from dynaclr.io.provenance import ArtifactError

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
