"""Small HCS plates written with iohub at test time: metadata checks need no real pixels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from iohub.ngff import open_ome_zarr
from iohub.ngff.models import ChannelAxisMeta, SpaceAxisMeta, TimeAxisMeta

from dynaclr.io.plate import OME_ZARR_VERSION, scale_transform


def write_plate(
    path: Path,
    fov_names: list[str],
    channels: list[str],
    shape_tczyx: tuple[int, int, int, int, int],
    *,
    channel_first: bool = False,
    time_interval_s: float = 600.0,
) -> Path:
    """An HCS plate of zeros (lazily allocated) with ``fov_names`` and ``channels``.

    ``channel_first`` stores the arrays as ``(C, T, Z, Y, X)``, axes ``c, t, z, y, x``: valid
    OME-Zarr, but not the order the workflow reads.
    """
    axes = None
    shape = shape_tczyx
    if channel_first:
        axes = [
            ChannelAxisMeta(name="c"),
            TimeAxisMeta(name="t", unit="second"),
            *(SpaceAxisMeta(name=name, unit="micrometer") for name in "zyx"),
        ]
        shape = (shape_tczyx[1], shape_tczyx[0], *shape_tczyx[2:])
    with open_ome_zarr(
        path, layout="hcs", mode="w", channel_names=channels, axes=axes, version=OME_ZARR_VERSION
    ) as plate:
        for name in fov_names:
            position = plate.create_position(*name.split("/"))
            scale = scale_transform(time_interval_s, 2.0, 0.65)
            if channel_first:
                scale[0].scale = [1.0, time_interval_s, 2.0, 0.65, 0.65]
            position.create_zeros("0", shape=shape, dtype=np.float32, transform=scale)
    return path


def rename_position(plate: Path, fov_name: str, new_fov: str) -> Path:
    """Rename position ``fov_name``'s FOV to ``new_fov`` on disk and in its well's metadata, as a
    tool other than iohub could write it (iohub itself refuses names that are not alphanumeric)."""
    row, column, fov = fov_name.split("/")
    well = plate / row / column
    shutil.move(well / fov, well / new_fov)
    metadata_file = well / "zarr.json"
    metadata = json.loads(metadata_file.read_text())
    for image in metadata["attributes"]["ome"]["well"]["images"]:
        if image["path"] == fov:
            image["path"] = new_fov
    metadata_file.write_text(json.dumps(metadata))
    return plate
