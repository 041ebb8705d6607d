"""Convert a dataset's TIFF / OME-TIFF files into its raw HCS OME-Zarr plate (rule ``convert_tiff``)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import tifffile
from iohub.ngff import open_ome_zarr
from numpy.typing import NDArray
from tqdm.auto import tqdm

from dynaclr.config.convert import TiffSourceConfig
from dynaclr.convert.tiff import (
    PLATE_AXES,
    TiffHeader,
    index_tiff_files,
    layout_from_headers,
    read_tiff_headers,
)
from dynaclr.io import ArtifactKind, StageFiles, atomic_output, make_provenance, write_plate_provenance
from dynaclr.io.display import write_display_metadata
from dynaclr.io.plate import OME_ZARR_VERSION, split_fov_name

logger = logging.getLogger(__name__)


class ConvertTiffInputs(StageFiles):
    """Rule ``convert_tiff``: the dataset's TIFF files (every file ``tiff.files`` matches)."""

    tiffs: tuple[Path, ...]


class ConvertTiffOutputs(StageFiles):
    """Rule ``convert_tiff``: the raw plate (kind ``raw_plate``, as the simulator writes it).

    HCS OME-Zarr 0.5, ``(T, C, Z, Y, X)`` in the files' own pixel type (uint16 stays uint16: every
    stage reads the raw plate as the simulator's uint16 counts and converts to float itself), one
    chunk per frame and channel, scale = (time interval s, 1, z step µm, pixel size µm, pixel size µm).
    """

    plate: Path


def to_tczyx(image: NDArray[np.generic], axes: str) -> NDArray[np.generic]:
    """``image`` with axes ``axes`` (letters of TCZYX, any order, some missing) as ``(T, C, Z, Y, X)``."""
    missing = [axis for axis in PLATE_AXES if axis not in axes]
    expanded = image.reshape(image.shape + (1,) * len(missing))
    order = [(axes + "".join(missing)).index(axis) for axis in PLATE_AXES]
    return np.transpose(expanded, order)


def _read(path: Path, header: TiffHeader) -> NDArray[np.generic]:
    """The image of ``path`` as ``(T, C, Z, Y, X)``; refuses one whose shape changed since planning."""
    with tifffile.TiffFile(path) as tiff:
        image = tiff.series[0].asarray()
    if image.size == math.prod(header.shape):
        image = image.reshape(header.shape)  # pages of a file without shape metadata, split along axes
    if image.shape != header.shape or image.dtype != header.dtype:
        raise ValueError(
            f"{path}: holds shape {image.shape} ({image.dtype}), its header said {header.shape} "
            f"({header.dtype}); was it rewritten during the conversion?"
        )
    return to_tczyx(image, header.axes)


def convert_tiff(config: TiffSourceConfig, inputs: ConvertTiffInputs, outputs: ConvertTiffOutputs) -> None:
    """Write ``inputs.tiffs`` as the dataset's raw plate ``outputs.plate``.

    The files are indexed and checked as at planning (:func:`~dynaclr.convert.tiff.tiff_layout`), then
    copied one file (a position, or a position's time point) at a time; the plate is written under a
    temporary name and moved into place when complete.
    """
    files = index_tiff_files(config, inputs.tiffs)
    headers = read_tiff_headers(config, files)
    layout = layout_from_headers(config, files, headers, outputs.plate)
    n_t, _, n_z, n_y, n_x = layout.shape_tczyx
    dtype = next(iter(headers.values())).dtype
    with atomic_output(outputs.plate) as tmp:
        with open_ome_zarr(
            tmp, layout="hcs", mode="w", channel_names=list(layout.channel_names), version=OME_ZARR_VERSION
        ) as plate:
            with tqdm(total=len(files.paths), desc="convert_tiff", unit="file", mininterval=2.0) as progress:
                for fov_name, by_time in files.files.items():
                    position = plate.create_position(*split_fov_name(fov_name))
                    array = position.create_zeros(
                        "0",
                        shape=layout.shape_tczyx,
                        dtype=dtype,
                        chunks=(1, 1, n_z, n_y, n_x),
                        transform=layout.geometry.transform(),
                    )
                    for frame, path in enumerate(by_time.values()):
                        image = _read(path, headers[path])
                        if files.per_time_point:
                            array[frame : frame + 1] = image
                        else:
                            array[:] = image
                        progress.update()
                    write_display_metadata(position)
            plate.zattrs["time_interval_minutes"] = layout.time_interval_minutes
        provenance = make_provenance(
            ArtifactKind.RAW_PLATE, config.model_dump(mode="json"), list(files.paths), stage="convert_tiff"
        )
        write_plate_provenance(tmp, provenance, files.files)  # root, and each position's copy
    logger.info(
        "converted %d files into %s: %d FOVs, T=%d, channels %s, Z=%d, %d x %d px (%s), %.4g min, "
        "%.4g µm/px, z step %.4g µm",
        len(files.paths),
        outputs.plate,
        len(files.fov_names),
        n_t,
        list(layout.channel_names),
        n_z,
        n_y,
        n_x,
        dtype,
        layout.time_interval_minutes,
        layout.geometry.pixel_size_um,
        layout.geometry.z_step_um,
    )
