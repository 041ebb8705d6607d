"""Convert a dataset's TIFF / OME-TIFF files into its raw HCS OME-Zarr plate (rule ``convert_tiff``)."""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from iohub.ngff import open_ome_zarr
from numpy.typing import NDArray
from tqdm.auto import tqdm

from dynaclr.config.convert import TiffSourceConfig
from dynaclr.convert.tiff import (
    PLATE_AXES,
    FileKey,
    TiffFiles,
    TiffHeader,
    check_position_folders,
    file_channel_order,
    index_tiff_files,
    layout_from_headers,
    read_tiff_headers,
)
from dynaclr.io import ArtifactKind, StageFiles, atomic_output, make_provenance, write_plate_provenance
from dynaclr.io.display import write_display_metadata
from dynaclr.io.plate import OME_ZARR_VERSION, PlateLayout, split_fov_name
from dynaclr.io.tables import IMPORT_WARNINGS

logger = logging.getLogger(__name__)
#: The logger of the conversion's modules (this one and :mod:`dynaclr.convert.tiff`), whose
#: WARNINGs the plate's record keeps.
CONVERSION_LOGGER = "dynaclr.convert"


class ConvertTiffInputs(StageFiles):
    """Rule ``convert_tiff``: the dataset's TIFF files (every file ``tiff.files`` matches)."""

    tiffs: tuple[Path, ...]


class ConvertTiffOutputs(StageFiles):
    """Rule ``convert_tiff``: the raw plate (kind ``raw_plate``, as the simulator writes it).

    HCS OME-Zarr 0.5, ``(T, C, Z, Y, X)`` in the files' own pixel type (uint16 stays uint16: every
    stage reads the raw plate as the simulator's uint16 counts and converts to float itself), one
    chunk per frame and channel (per plane from files of one slice each holding several time points:
    :func:`_write_plate`), scale = (time interval s, 1, z step µm, pixel size µm, pixel size µm).
    """

    plate: Path


def to_tczyx(image: NDArray[np.generic], axes: str) -> NDArray[np.generic]:
    """``image`` with axes ``axes`` (letters of TCZYX, any order, some missing) as ``(T, C, Z, Y, X)``."""
    missing = [axis for axis in PLATE_AXES if axis not in axes]
    expanded = image.reshape(image.shape + (1,) * len(missing))
    order = [(axes + "".join(missing)).index(axis) for axis in PLATE_AXES]
    return np.transpose(expanded, order)


def _read(path: Path, header: TiffHeader, key: FileKey, channel_names: Sequence[str]) -> NDArray[np.generic]:
    """The image of ``path`` (the file of ``key``) as ``(T, C, Z, Y, X)``, its channels in the plate's
    order (``channel_names``) where its OME metadata names them in another order (placed by name:
    :func:`~dynaclr.convert.tiff.file_channel_order`); refuses one whose shape changed since planning."""
    with tifffile.TiffFile(path) as tiff:
        image = tiff.series[0].asarray()
    if image.size == math.prod(header.shape):
        image = image.reshape(header.shape)  # pages of a file without shape metadata, split along axes
    if image.shape != header.shape or image.dtype != header.dtype:
        raise ValueError(
            f"{path}: holds shape {image.shape} ({image.dtype}), its header said {header.shape} "
            f"({header.dtype}); was it rewritten during the conversion?"
        )
    tczyx = to_tczyx(image, header.axes)
    order = file_channel_order(header, key, channel_names)
    return tczyx if order is None else tczyx[:, order]


#: Texts one message of the conversion keeps (its values other than the file's differing: a
#: file's steps); the files giving it with further values are counted on the last one, as such.
MAX_TEXTS_PER_MESSAGE = 10


class _KeptWarnings(logging.Handler):
    """The WARNINGs (and above) logged through it, as texts: one per message (its format and its
    values other than the file's path, so a message logged for each file, 10^5 files of one time
    point, gives one text), saying how many more files gave it. The messages one call site logs with
    other values (the pixel size's, then the z step's) are each kept; past
    :data:`MAX_TEXTS_PER_MESSAGE` texts of one format, the files giving it with other values are
    counted on its last text, apart from those giving that text.

    Process-wide, as loggers are: one conversion runs per process (as Snakemake runs a rule's
    script), so what it keeps is that conversion's."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.first: dict[tuple[object, ...], str] = {}
        self.files: dict[tuple[object, ...], set[str]] = {}
        self.logged: Counter[tuple[object, ...]] = Counter()
        self.per_format: Counter[object] = Counter()
        # past MAX_TEXTS_PER_MESSAGE: what gave the message with other values, by its last text's key
        self.other_files: dict[tuple[object, ...], set[str]] = {}
        self.other_logged: Counter[tuple[object, ...]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        key = (record.msg, *("<file>" if isinstance(arg, os.PathLike) else repr(arg) for arg in args))
        paths = {os.fspath(arg) for arg in args if isinstance(arg, os.PathLike)}
        if key not in self.first:
            if self.per_format[record.msg] >= MAX_TEXTS_PER_MESSAGE:
                last = next(kept for kept in reversed(self.first) if kept[0] == record.msg)
                self.other_files.setdefault(last, set()).update(paths)
                self.other_logged[last] += 1
                return
            self.per_format[record.msg] += 1
            self.first[key], self.files[key] = record.getMessage(), set()
        self.files[key] |= paths
        self.logged[key] += 1

    def texts(self) -> list[str]:
        """The texts in the order first logged, each naming how many more files gave it (a message
        naming no file: how many more times it was logged), the last of a message's
        :data:`MAX_TEXTS_PER_MESSAGE` how many more gave the message with other values."""
        kept = []
        for key, text in self.first.items():
            notes = []
            like, unit = (
                (len(self.files[key]) - 1, "file") if self.files[key] else (self.logged[key] - 1, "time")
            )
            if like:
                notes.append(f"and {_more(like, unit)} like it")
            if key in self.other_logged:
                if self.other_files[key]:
                    other = _more(len(self.other_files[key]), "file")
                    notes.append(f"{other} gave this message with other values")
                else:
                    notes.append(f"logged {_more(self.other_logged[key], 'time')} with other values")
            if notes:
                text += f" ({'; '.join(notes)}: see the log of rule convert_tiff)"
            kept.append(text)
        return kept


def _more(number: int, unit: str) -> str:
    """``number`` more ``unit`` (plural where not 1): "3 more files"."""
    return f"{number} more {unit}{'s' if number != 1 else ''}"


@contextmanager
def kept_warnings(name: str = CONVERSION_LOGGER) -> Iterator[_KeptWarnings]:
    """Keep the WARNINGs logged to logger ``name`` (and its children) inside the block, for a
    record (``.texts()``); they are logged as before. A logger set above WARNING is lowered to it
    meanwhile: a record never says "no warnings" because none was let through. The handler is on a
    process-wide logger, so it keeps whatever that logger gets inside the block: one conversion runs
    per process, as Snakemake runs a rule's script; it is removed and the level restored on an error
    too."""
    named = logging.getLogger(name)
    kept, level = _KeptWarnings(), named.level
    if not named.isEnabledFor(logging.WARNING):
        named.setLevel(logging.WARNING)
    named.addHandler(kept)
    try:
        yield kept
    finally:
        named.removeHandler(kept)
        named.setLevel(level)


def _region(key: FileKey, frames: slice, first_slice: int | None) -> tuple[slice, slice, slice]:
    """Where in a FOV's ``(T, C, Z)`` the image of the file of ``key`` goes: ``frames``, its channel
    and its slice (from the FOV's ``first_slice``) where ``{c}`` and ``{z}`` split the files, else all."""
    channel = slice(key.c, key.c + 1) if key.c is not None else slice(None)
    if key.z is None or first_slice is None:
        return frames, channel, slice(None)
    return frames, channel, slice(key.z - first_slice, key.z - first_slice + 1)


def _write_plate(path: Path, files: TiffFiles, headers: dict[Path, TiffHeader], layout: PlateLayout) -> None:
    """Copy ``files`` (read as ``headers`` say) into a new plate at ``path`` laid out as ``layout``,
    one time point of a position at a time where the files hold one time point each (``{t}``, or a
    plate of one time point; the files of its channels and slices, ``{c}`` and ``{z}``, put together
    in memory: one chunk write per channel), else one file (a position, or its channel or slice) at
    a time. Chunks hold a frame's channel's z-stack, or one plane where files of one slice each hold
    several time points (``{z}`` without ``{t}``: a chunk of the z-stack would be rewritten once per
    slice)."""
    n_t, n_c, n_z, n_y, n_x = layout.shape_tczyx
    dtype = next(iter(headers.values())).dtype
    names = layout.channel_names  # each file's channels placed by name (_read)
    one_time_point = files.per_time_point or n_t == 1
    chunk_z = 1 if "Z" in files.split_axes and not one_time_point else n_z
    with open_ome_zarr(
        path, layout="hcs", mode="w", channel_names=list(layout.channel_names), version=OME_ZARR_VERSION
    ) as plate:
        with tqdm(total=len(files.paths), desc="convert_tiff", unit="file", mininterval=2.0) as progress:
            for fov_name, by_key in files.files.items():
                position = plate.create_position(*split_fov_name(fov_name))
                array = position.create_zeros(
                    "0",
                    shape=layout.shape_tczyx,
                    dtype=dtype,
                    chunks=(1, 1, chunk_z, n_y, n_x),
                    transform=layout.geometry.transform(),
                )
                first_slice = min((key.z for key in by_key if key.z is not None), default=None)
                by_time: dict[int | None, list[tuple[FileKey, Path]]] = {}
                for key, file in by_key.items():  # in plate order: time point, channel, slice
                    by_time.setdefault(key.t, []).append((key, file))
                for frame, time_point in enumerate(by_time.values()):
                    frames = slice(frame, frame + 1) if files.per_time_point else slice(None)
                    if not one_time_point or len(time_point) == 1:  # no buffer: a file at a time
                        for key, file in time_point:
                            array[_region(key, frames, first_slice)] = _read(file, headers[file], key, names)
                            progress.update()
                        continue
                    buffer = np.zeros((1, n_c, n_z, n_y, n_x), dtype=dtype)
                    for key, file in time_point:
                        buffer[_region(key, slice(None), first_slice)] = _read(
                            file, headers[file], key, names
                        )
                        progress.update()
                    array[frame : frame + 1] = buffer
                write_display_metadata(position)
        plate.zattrs["time_interval_minutes"] = layout.time_interval_minutes


def convert_tiff(config: TiffSourceConfig, inputs: ConvertTiffInputs, outputs: ConvertTiffOutputs) -> None:
    """Write ``inputs.tiffs`` as the dataset's raw plate ``outputs.plate``.

    The files are indexed and checked as at planning (:func:`~dynaclr.convert.tiff.tiff_layout`), then
    copied one file (a position, or a position's time point, channel or slice) at a time (at most one
    time point of one position in memory: :func:`_write_plate`); the plate is written under a
    temporary name and moved into place when complete. Its record (kind ``raw_plate``) keeps the
    config and the conversion's own WARNINGs (those of ``dynaclr.convert``, not tifffile's;
    ``import_warnings``: :func:`kept_warnings`; ``[]`` when none), which rule ``qc_table`` shows
    (:mod:`dynaclr.qc.import_warnings`).
    """
    with kept_warnings() as warned:
        check_position_folders(config, inputs.tiffs)  # a folder passed over is kept in the record
        files = index_tiff_files(config, inputs.tiffs)
        headers = read_tiff_headers(config, files)
        layout = layout_from_headers(config, files, headers, outputs.plate)
        with atomic_output(outputs.plate) as tmp:
            _write_plate(tmp, files, headers, layout)
            provenance = make_provenance(
                ArtifactKind.RAW_PLATE,
                {**config.model_dump(mode="json"), IMPORT_WARNINGS: warned.texts()},
                list(files.paths),
                stage="convert_tiff",
            )
            write_plate_provenance(tmp, provenance, files.files)  # root, and each position's copy
    n_t, _, n_z, n_y, n_x = layout.shape_tczyx
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
        next(iter(headers.values())).dtype,
        layout.time_interval_minutes,
        layout.geometry.pixel_size_um,
        layout.geometry.z_step_um,
    )
