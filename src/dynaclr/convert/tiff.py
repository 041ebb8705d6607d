"""TIFF / OME-TIFF files of a dataset, read from their headers only: which file holds which position,
time point, channel and slice, and the plate they make (:func:`tiff_layout`), before any pixel is read.

Snakemake calls :func:`find_tiff_files` and :func:`tiff_layout` when it parses the workflow, so a dry
run knows the FOVs, channels, shape and sampling of the plate rule ``convert_tiff`` will write.
"""

from __future__ import annotations

import glob
import itertools
import logging
import math
import os
import re
import statistics
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tifffile

from dynaclr.config.base import POSITION_PLACEHOLDER
from dynaclr.config.convert import (
    ANONYMOUS_PLACEHOLDER,
    CHANNEL_PLACEHOLDER,
    SLICE_PLACEHOLDER,
    SPLIT_PLACEHOLDERS,
    TIME_PLACEHOLDER,
    TiffSourceConfig,
)
from dynaclr.io.plate import (
    EXPECTED_AXES,
    PIXEL_DTYPE_KINDS,
    SAFE_NAME,
    PlateGeometry,
    PlateLayout,
    PlateSampling,
)
from dynaclr.io.sampling import implausible_sampling, sampling_range, sampling_reads_as_nanometres, within
from dynaclr.io.units import TIME_UNITS_S, micrometres_per, seconds_per, spellings

logger = logging.getLogger(__name__)

#: Axis letters of the plate, in its order.
PLATE_AXES = "TCZYX"
#: Relative tolerance within which a metadata value and a config value agree.
RELATIVE_TOLERANCE = 1e-3
#: z step of a plate with one slice when the config gives none (µm; unused by stages; the files'
#: metadata's is not read, as a plate's one-slice z step is not).
SINGLE_SLICE_Z_STEP_UM = 1.0


@dataclass(frozen=True)
class TiffHeader:
    """What one file's header says, metadata values ``None`` where it says nothing.

    Attributes:
        shape: the image's shape in ``axes`` order (tifffile's first series, size-1 axes dropped).
        axes: one letter of TCZYX per axis (from config, or the OME/ImageJ metadata).
        dtype: the pixel type.
        channel_names: OME channel names, in channel order.
        time_interval_s, pixel_size_um, z_step_um: sampling from OME or ImageJ metadata.
        time_unit_not_read: the unit of a time interval the metadata gives in a unit
            :data:`~dynaclr.io.units.TIME_UNITS_S` does not list (its ``time_interval_s`` is then
            None), else None.
        length_units: the unit the metadata names for ``pixel_size_um`` and ``z_step_um`` (OME's
            ``PhysicalSize*Unit``, µm where it names none; ImageJ's ``unit``), by attribute.
        pixel_size_not_read: why a pixel size the file states is not read (a plain TIFF's resolution
            outside the bounds of microscopy: a writer's default), else None.
        pixel_size_from_resolution: ``pixel_size_um`` is a plain TIFF's XResolution and YResolution
            (no OME or ImageJ metadata): a writer's value as often as a calibration
            (``tiff.resolution_tags: ignore`` leaves them unread).
        time_interval_measured: ``time_interval_s`` is the mean of the times the planes were taken
            (OME ``Plane`` ``DeltaT``), which agrees with another value within
            :data:`PLANE_INTERVAL_TOLERANCE`, not :data:`RELATIVE_TOLERANCE` (see :func:`_tolerance`).
        time_interval_uneven: where the planes' ``DeltaT`` steps deviate from their mean by more than
            :data:`PLANE_INTERVAL_TOLERANCE`: the largest relative deviation and a description of the
            steps (refused, or a WARNING where the config states the interval; see
            :func:`_check_plane_steps`), else None.
        pixel_size_in_inches: ``pixel_size_um`` is from resolution tags in inches (a writer's or
            scanner's default unit, no microscope's calibration): it only checks a config's value.
        slices_or_time_points: where the axes are the metadata's (no ``tiff.axes``) and ImageJ's
            metadata gives several slices, one frame and no slice spacing (Fiji's time-lapse not made
            a hyperstack, or a z-stack of 1 µm steps: ImageJ writes no spacing of 1), the slices and
            frames as ImageJ gives them and its frame interval (``finterval``, None where it gives
            none), else None: the sampling, which knows whether the files hold one time point each,
            refuses such a stack stating a frame interval and warns of one stating none.
        earliest_delta_t_s: the earliest of its OME planes' ``DeltaT`` (s), None where none is stated
            in a unit read: across files of one time point each, the frame interval
            (:func:`_delta_t_across_files`).
        delta_t_steps: where ``TimeIncrement`` states ``time_interval_s``, its OME planes' ``DeltaT``
            steps (:class:`PlaneSteps`), which must agree with it (:func:`_check_plane_steps`), else
            None.
    """

    shape: tuple[int, ...]
    axes: str
    dtype: np.dtype[Any]
    channel_names: tuple[str, ...] | None
    time_interval_s: float | None
    pixel_size_um: float | None
    z_step_um: float | None
    time_unit_not_read: str | None = None
    length_units: tuple[tuple[str, str], ...] = ()
    pixel_size_not_read: str | None = None
    time_interval_measured: bool = False
    pixel_size_from_resolution: bool = False
    time_interval_uneven: tuple[float, str] | None = None
    pixel_size_in_inches: bool = False
    slices_or_time_points: tuple[int, int, float | None] | None = None
    earliest_delta_t_s: float | None = None
    delta_t_steps: PlaneSteps | None = None

    def sizes(self) -> dict[str, int]:
        """Size of each plate axis (1 for an axis the file lacks)."""
        return {axis: self.shape[self.axes.index(axis)] if axis in self.axes else 1 for axis in PLATE_AXES}


class FileKey(NamedTuple):
    """The part of a FOV's image one file holds: its time point and slice as ``{t}`` and ``{z}``
    numbered them, its channel's index among the plate's channels (what ``{c}`` matched, placed by
    :func:`_channel_indices`); ``None`` along an axis the file holds whole (no placeholder)."""

    t: int | None = None
    c: int | None = None
    z: int | None = None

    def described(self, channel_names: Sequence[str] | None = None) -> str:
        """``time point 3, channel 1 (DAPI), slice 0``, of the axes the key splits."""
        parts = [f"time point {self.t}" if self.t is not None else ""]
        if self.c is not None:
            name = f" ({channel_names[self.c]})" if channel_names and self.c < len(channel_names) else ""
            parts.append(f"channel {self.c}{name}")
        parts.append(f"slice {self.z}" if self.z is not None else "")
        return ", ".join(part for part in parts if part)


#: What each of a :class:`FileKey`'s fields is called in messages, by plate axis.
SPLIT_AXIS_NAMES = {"T": "time point", "C": "channel", "Z": "slice"}


@dataclass(frozen=True)
class TiffFiles:
    """The files of a dataset by FOV name and :class:`FileKey` (time point, channel and slice, each
    ``None`` where a file holds the axis whole).

    Attributes:
        files: ``{fov_name: {key: path}}``, FOVs in plate order, keys in plate order (time point, then
            channel, then slice).
        split_axes: the plate axes the files are split along (``TCZ`` order): ``T`` for ``{t}`` in
            the pattern, ``C`` for ``{c}``, ``Z`` for ``{z}``.
    """

    files: dict[str, dict[FileKey, Path]]
    split_axes: str = ""

    @property
    def per_time_point(self) -> bool:
        """Each file holds one time point (``{t}`` in the pattern)."""
        return "T" in self.split_axes

    @property
    def fov_names(self) -> tuple[str, ...]:
        return tuple(self.files)

    @property
    def paths(self) -> list[Path]:
        return [path for by_key in self.files.values() for path in by_key.values()]


#: Every placeholder of a pattern.
PLACEHOLDERS = (POSITION_PLACEHOLDER, ANONYMOUS_PLACEHOLDER, *SPLIT_PLACEHOLDERS)


def _pattern_parts(pattern: str) -> list[str]:
    """The pattern as literal parts and placeholders (``./`` and doubled slashes normalised away)."""
    return re.split("(" + "|".join(map(re.escape, PLACEHOLDERS)) + ")", Path(pattern).as_posix())


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """``{c}`` matches a channel's name or index (any text but ``/``: checked against
    ``channel_names`` once every file is matched, so a name not listed is refused, not skipped);
    the k-th ``{_}`` any text but ``/``, as group ``_k`` (no part of a file's key)."""
    groups = {
        POSITION_PLACEHOLDER: r"(?P<position>[^/]+)",
        TIME_PLACEHOLDER: r"(?P<t>[0-9]+)",
        CHANNEL_PLACEHOLDER: r"(?P<c>[^/]+)",
        SLICE_PLACEHOLDER: r"(?P<z>[0-9]+)",
    }
    anonymous = itertools.count()
    return re.compile(
        "".join(
            rf"(?P<_{next(anonymous)}>[^/]+)"
            if part == ANONYMOUS_PLACEHOLDER
            else groups.get(part, re.escape(part))
            for part in _pattern_parts(pattern)
        )
    )


def _globbed(pattern: str, position: str | None = None, folders: bool = False) -> dict[str, re.Match[str]]:
    """The paths matching ``pattern`` (:data:`PLACEHOLDERS`), unsorted, each with its
    match (what the placeholders matched): one listing of their folders, no file opened. With
    ``position``, the paths of that position only (``{position}`` taken literally; where the pattern is
    ambiguous, e.g. ``{position}_t{t}.tif`` with positions ``Pos1`` and ``Pos1_t2``, the match names
    another's); with ``folders``, only folders."""

    def wildcard_part(part: str) -> str:
        if part == POSITION_PLACEHOLDER and position is not None:
            return glob.escape(position)
        return "*" if part in PLACEHOLDERS else glob.escape(part)

    wildcard = "".join(map(wildcard_part, _pattern_parts(pattern))) + ("/" if folders else "")
    regex = _pattern_regex(pattern)
    found = {}
    for path in glob.glob(wildcard):
        path = path.rstrip("/") if folders else path  # glob keeps the "/" that makes it list folders only
        # glob joins the normalised wildcard's parts: POSIX paths already, except on Windows
        match = regex.fullmatch(path if os.sep == "/" else Path(path).as_posix())
        if match is not None:
            found[path] = match
    return found


#: What a TIFF file's name ends with (case ignored): see :func:`check_position_folders`.
TIFF_SUFFIXES = (".tif", ".tiff")


def _position_folders(config: TiffSourceConfig) -> list[str] | None:
    """The names ``{position}`` takes where it names a folder (``Pos0/t{t}.tif``: a part of the path
    before the file name, with no ``{t}``, ``{c}`` or ``{z}`` before it), from one listing of the
    folders (no file listed within them), in plate order; folders no FOV can be named after left out
    (see :func:`_fov_names`). For a config without ``positions`` (with them, :func:`first_fov_files`
    lists no folder). ``None`` where ``{position}`` is part of the file names."""
    folders = _position_folder_matches(config)
    if folders is None:
        return None
    names = set(folders.values())
    return sorted((name for name in names if SAFE_NAME.fullmatch(name)), key=_natural_key)


def _position_folder_depth(config: TiffSourceConfig) -> int | None:
    """How many parts of a path name its position's folder, where ``{position}`` names folders (see
    :func:`_position_folders`), else ``None``."""
    segments = Path(config.files).as_posix().split("/")
    index = next(i for i, segment in enumerate(segments) if POSITION_PLACEHOLDER in segment)
    before = "/".join(segments[: index + 1])
    if index == len(segments) - 1 or any(placeholder in before for placeholder in SPLIT_PLACEHOLDERS):
        return None
    return index + 1


def _position_folder_matches(config: TiffSourceConfig) -> dict[str, str] | None:
    """``{folder: position}`` of every folder ``{position}`` matches where it names folders (one
    listing of the folders), else ``None``."""
    depth = _position_folder_depth(config)
    if depth is None:
        return None
    segments = Path(config.files).as_posix().split("/")
    found = _globbed("/".join(segments[:depth]), folders=True)
    return {Path(path).as_posix(): match["position"] for path, match in found.items()}


def find_tiff_files(config: TiffSourceConfig) -> list[Path]:
    """The files matching ``config.files`` (relative to the working directory), sorted, with the
    folders ``{position}`` matches checked (:func:`check_position_folders`).

    Raises ``ValueError`` when no file matches, or a folder is refused.
    """
    found = sorted(map(Path, _globbed(config.files)))
    if not found:
        raise ValueError(f"tiff.files: no file matches {config.files!r} (in {Path.cwd()})")
    check_position_folders(config, found)
    return found


def check_position_folders(config: TiffSourceConfig, found: Sequence[str | Path]) -> None:
    """Where ``{position}`` names folders, each folder it matches that holds none of ``found`` (the
    files matching the pattern): one holding, where the pattern puts its files, Micro-Manager's
    ``metadata.txt`` or a TIFF file named as the pattern names them but for its digits
    (:func:`_holds_position_files`: Micro-Manager 2.0 names the position in each file,
    ``position001`` in ``Pos1``) is a position whose images the pattern misses, refused: it would
    be left out of the plate silently; any other (empty, another tool's ``analysis/`` or
    ``exports/`` folder, a results folder the pattern's ``{position}`` reaches) is passed over with
    a WARNING naming it (the conversion keeps it in its record's ``import_warnings``).

    Raises:
        ValueError: a folder holding a position's files, naming the folders and the fix.
    """
    folders = _position_folder_matches(config)
    if not folders:
        return
    depth = _position_folder_depth(config) or 0
    held = {"/".join(Path(path).as_posix().split("/")[:depth]) for path in found}
    without = sorted((folder for folder in folders if folder not in held), key=_natural_key)
    rest = Path(config.files).as_posix().split("/")[depth:]
    refused = [folder for folder in without if _holds_position_files(Path(folder), rest)]
    if refused:
        raise ValueError(
            f"tiff.files: the folders {_shown(refused, str, FOLDERS_MORE)} "
            f"(of {len(folders)} '{{position}}' matches) hold "
            f"Micro-Manager's metadata.txt or TIFF files named as {rest[-1]!r} but for their digits, and no "
            f"file matching {config.files!r} (in {Path.cwd()}): their positions would be left out of the "
            "plate. Where their files name each position (Micro-Manager 2.0's 'position001' in "
            "'Pos1/img_channel000_position001_time000000000_z000.tif'), put '{_}' in place of that text "
            "(it matches any text without '/'); where a position's images are missing, copy them; else "
            "move the folders out of the pattern's reach or anchor it (e.g. 'Pos{position}/...')"
        )
    passed = [folder for folder in without if folder not in refused]
    if passed:
        logger.warning(
            "tiff.files: the folders %s (of %d '{position}' matches) hold no file of %r and none named "
            "as its files but for their digits, so no position: passed over (a position whose images "
            "were never copied there is not in the plate)",
            _shown(passed, str, FOLDERS_MORE),
            len(folders),
            config.files,
        )


def _shown[T](items: Sequence[T], describe: Callable[[T], str], more: str) -> list[str]:
    """The first :data:`MISSING_FILES_SHOWN` of ``items`` as ``describe`` words them; where there are
    more, then ``more`` formatted with ``total`` (how many items) and ``left`` (how many not shown)."""
    shown = [describe(item) for item in items[:MISSING_FILES_SHOWN]]
    if len(items) > MISSING_FILES_SHOWN:
        shown.append(more.format(total=len(items), left=len(items) - MISSING_FILES_SHOWN))
    return shown


def _holds_position_files(folder: Path, rest: list[str]) -> bool:
    """Whether ``folder`` holds, at the depth the pattern's remaining parts ``rest`` put its files
    (no deeper: a results folder or a store beside the positions is not walked), Micro-Manager's
    ``metadata.txt`` (``*metadata.txt``) or a TIFF file whose name matches the pattern's file name
    with its digit runs free (any placeholder any text, a literal run of digits any digits)."""
    shape = re.compile(
        "".join(
            "[^/]+" if part.startswith("{") else r"[0-9]+" if part.isdigit() else re.escape(part)
            for part in re.split(r"(\{[^{}]*\}|[0-9]+)", rest[-1])
            if part
        ),
        re.IGNORECASE,
    )
    for path in folder.glob("/".join(["*"] * len(rest))):
        name = path.name
        if name.lower().endswith("metadata.txt") or (
            path.suffix.lower() in TIFF_SUFFIXES and shape.fullmatch(name) and path.is_file()
        ):
            return True
    return False


def _natural_key(name: str) -> list[Any]:
    """``Pos2`` before ``Pos10``."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"([0-9]+)", name)]


def index_tiff_files(config: TiffSourceConfig, paths: Iterable[str | Path]) -> TiffFiles:
    """Which file holds which FOV, time point, channel and slice, from the paths alone.

    Raises ``ValueError`` (naming the key and the files) for a path the pattern does not match, a
    position name that cannot be a FOV name without ``positions``, a position ``positions`` does not
    name or names but has no file, a file key given twice (two files differing only where ``{_}``
    matched), a channel ``{c}`` names that
    ``channel_names`` does not (:func:`_channel_indices`), and files missing (every position must have
    a file for every time point, channel and slice from the first to the last found: a gap in the
    indices is missing files).
    """
    by_position = _by_position(config, paths)
    fov_of = _fov_names(config, sorted(by_position, key=_natural_key))
    if config.split_axes:
        _check_complete(config, by_position)
    files = {
        fov_of[position]: _in_plate_order(by_position[position])
        for position in sorted(by_position, key=lambda name: _natural_key(fov_of[name]))
    }
    return TiffFiles(files=files, split_axes=config.split_axes)


def first_fov_files(config: TiffSourceConfig) -> TiffFiles:
    """The files of the plate's first FOV (in plate order, as :func:`index_tiff_files` orders them),
    from file names, no other FOV's file listed where the first FOV's position is known without
    listing the files: with ``positions`` (the config names the FOVs; the first is the first of its
    FOV names), its files only, wherever ``{position}`` stands (``{position}_t{t}.tif``: one listing of
    the folder, returning that position's files; ``{position}.tif``: no listing); where ``{position}``
    names folders (``{position}/t{t}.tif``), the folders' names and the files of the first folder (in
    plate order) holding any. Else (``{position}`` in the file names, no ``positions``) the names of
    every file ``config.files`` matches, unsorted: the first FOV is the first of every position's.

    For what a job needs of the plate (see :func:`read_tiff_sampling`): listing, sorting and indexing
    every file, as :func:`find_tiff_files` and :func:`index_tiff_files` do, costs seconds at 10^5
    files, in every job (a SLURM job parses the Snakefile again). Checks only what naming the FOVs
    needs (the dry run's :func:`tiff_layout` checks the rest); ``ValueError`` when no file matches.
    """
    positions = config.positions
    if positions is not None:
        first = min(positions, key=lambda name: _natural_key(positions[name]))
        # an ambiguous pattern may let another position's files through the glob: by name, as indexed
        by_key = _by_position(config, _globbed(config.files, first)).get(first)
        if not by_key:
            raise ValueError(
                f"tiff.positions: position {first!r} (FOV {positions[first]}, the plate's first) is "
                f"named but no file matches {config.files!r} (in {Path.cwd()})"
            )
        return _files_of(config, first, by_key)
    for position in _position_folders(config) or []:
        # {position} names folders: the first (plate order) holding files is the first FOV
        paths = list(_globbed(config.files, position))
        if paths:
            return _files_of(config, position, _by_position(config, paths)[position])
    matches = _globbed(config.files)
    if not matches:
        raise ValueError(f"tiff.files: no file matches {config.files!r} (in {Path.cwd()})")
    paths_of: dict[str, list[str]] = {}
    for path, match in matches.items():
        paths_of.setdefault(match["position"], []).append(path)
    fov_of = _fov_names(config, sorted(paths_of, key=_natural_key))
    first = min(paths_of, key=lambda name: _natural_key(fov_of[name]))
    return _files_of(config, first, _by_position(config, paths_of[first])[first])


def _files_of(config: TiffSourceConfig, position: str, by_key: dict[FileKey, Path]) -> TiffFiles:
    """The files of one position (``{key: path}``), as its FOV's only files."""
    return TiffFiles(files={config.fov_name(position): _in_plate_order(by_key)}, split_axes=config.split_axes)


def _by_position(config: TiffSourceConfig, paths: Iterable[str | Path]) -> dict[str, dict[FileKey, Path]]:
    """``{position: {key: path}}`` of ``paths``, from their names; ``ValueError`` for a path the
    pattern does not match, a channel ``{c}`` cannot place (:func:`_channel_indices`) and a key given
    twice (``t1`` and ``t001``)."""
    regex = _pattern_regex(config.files)
    matched: list[tuple[Path, re.Match[str]]] = []
    for path in map(Path, paths):
        match = regex.fullmatch(path.as_posix())
        if match is None:
            raise ValueError(f"tiff.files: {path} does not match the pattern {config.files!r}")
        matched.append((path, match))
    split = config.split_axes
    channel_of = (
        _channel_indices(config, [(match["c"], path) for path, match in matched]) if "C" in split else {}
    )
    by_position: dict[str, dict[FileKey, Path]] = {}
    for path, match in matched:
        key = FileKey(
            t=int(match["t"]) if "T" in split else None,
            c=channel_of[match["c"]] if "C" in split else None,
            z=int(match["z"]) if "Z" in split else None,
        )
        by_key = by_position.setdefault(match["position"], {})
        if key in by_key:
            anonymous = (
                f"; '{ANONYMOUS_PLACEHOLDER}' in the pattern matches text that is no part of a file's key: "
                "keep one of them"
                if ANONYMOUS_PLACEHOLDER in config.files
                else ""
            )
            raise ValueError(
                f"tiff.files: {key.described(config.channel_names)} of position {match['position']!r} is "
                f"both {by_key[key]} and {path}{anonymous}"
            )
        by_key[key] = path
    return by_position


def _channel_indices(config: TiffSourceConfig, matched: Sequence[tuple[str, Path]]) -> dict[str, int]:
    """The plate channel of each value ``{c}`` matched (``matched``: each value and a file it
    matched): a name of ``tiff.channel_names`` is its place among them, where every value is one
    (wavelengths such as ``488`` can be names); else, where every value is an integer, the index from
    the lowest found (Micro-Manager counts from 0, other software from 1), the n-th name of
    ``channel_names`` (the files' count is checked against them with the headers). ``ValueError``:
    without ``channel_names`` (the plate's channels need names and an order: ``{c}``'s own are not
    ordered, and each file's metadata names one channel at most), for a value neither a name listed
    nor an integer (naming a file it matched), for names listed that no file matches, and for
    integers spanning more indices than ``channel_names`` has names (wavelengths ``488`` and ``561``
    under two names: not 72 files missing)."""
    first_file: dict[str, Path] = {}
    for value, path in matched:
        first_file.setdefault(value, path)
    found = sorted(first_file, key=_natural_key)
    indices = all(value.isdigit() for value in found)
    names = config.channel_names
    if names is None:
        shown = found[:10] + ([f"... ({len(found)} values)"] if len(found) > 10 else [])
        raise ValueError(
            f"tiff.channel_names: '{{c}}' in tiff.files {config.files!r} matched channel "
            f"{'indices' if indices else 'names'} {shown}; give tiff.channel_names, the plate's channels in "
            "order (the names '{c}' matches, or one name per index, lowest index first)"
        )
    if all(value in names for value in found):
        absent = [name for name in names if name not in first_file]
        if absent:
            raise ValueError(
                f"tiff.channel_names: no file matches {config.files!r} for the channel(s) {absent} ('{{c}}' "
                f"matched {found}); remove them from tiff.channel_names, or add their files"
            )
        return {value: names.index(value) for value in found}
    if indices:
        lowest, highest = min(int(value) for value in found), max(int(value) for value in found)
        if highest - lowest + 1 > len(names):
            shown = found[:10] + ([f"... ({len(found)} values)"] if len(found) > 10 else [])
            raise ValueError(
                f"tiff.files: '{{c}}' matched the integers {shown}, {highest - lowest + 1} channels from "
                f"{lowest} to {highest} as indices, but tiff.channel_names lists {len(names)}: {names}; "
                "integers are indices into channel_names from the lowest found (Micro-Manager's "
                "channel000, channel001); where they are the channels' own names (wavelengths), list them "
                f"as such, e.g. channel_names: {found[:10]}"
            )
        return {value: int(value) - lowest for value in found}
    stray = [value for value in found if value not in names]
    where = "; ".join(f"{value!r} ({first_file[value]})" for value in stray[:5])
    counted = f"(first 5 of {len(stray)}) " if len(stray) > 5 else ""
    raise ValueError(
        f"tiff.files: '{{c}}' matched {stray[:5]} {counted}in {where}: not in tiff.channel_names {names} "
        "(nor integer indices into them); add the channel to tiff.channel_names, or move its files out "
        "of the pattern's reach"
    )


def _in_plate_order(by_key: dict[FileKey, Path]) -> dict[FileKey, Path]:
    """Time point, then channel, then slice."""
    return dict(sorted(by_key.items(), key=lambda item: tuple(index or 0 for index in item[0])))


def _fov_names(config: TiffSourceConfig, positions: Sequence[str]) -> dict[str, str]:
    if config.positions is None:
        unsafe = [name for name in positions if not SAFE_NAME.fullmatch(name)]
        if unsafe:
            raise ValueError(
                f"tiff.positions: the position names {unsafe} (what '{{position}}' matched in "
                f"{config.files!r}) hold characters other than letters, digits, '_' and '-' and cannot "
                "be FOV names; map each position to a FOV name with 'positions' (e.g. {"
                + f"{unsafe[0]!r}: A/1/0"
                + "})"
            )
        return {name: config.fov_name(name) for name in positions}
    unnamed = [name for name in positions if name not in config.positions]
    found = set(positions)  # a set: a list would make this quadratic (10^8 look-ups at 10^4 positions)
    absent = [name for name in config.positions if name not in found]
    if unnamed or absent:
        raise ValueError(
            "tiff.positions: "
            + "; ".join(
                text
                for text in (
                    f"positions {unnamed} have files but no FOV name (add them)" if unnamed else "",
                    f"positions {absent} are named but no file matches {config.files!r}" if absent else "",
                )
                if text
            )
        )
    return {name: config.fov_name(name) for name in positions}


#: How many missing files (or folders) a refusal names (it counts them all).
MISSING_FILES_SHOWN = 5
#: :func:`_shown`'s last item for the folders cut off: how many folders there are
FOLDERS_MORE = "... ({total} folders)"


def _check_complete(config: TiffSourceConfig, by_position: dict[str, dict[FileKey, Path]]) -> None:
    """Refuse positions missing a file: each needs one for every combination of the time points,
    channels and slices found (of the axes the files are split along), each from the lowest to the
    highest found in any position, so a gap in the indices (``t`` 0, 1, 3) is files missing too.
    Names the first :data:`MISSING_FILES_SHOWN` missing as the paths the pattern gives them
    (:func:`_expected_paths`) with their (time point, channel, slice), counts them all, and says where
    every missing file is of the last time point (:func:`_stopped_hint`) or a channel has no file at
    some time points or slices (:func:`_sparse_channel_hint`)."""
    split = config.split_axes
    ranges = {}
    for axis in split:
        found = [getattr(key, axis.lower()) for by_key in by_position.values() for key in by_key]
        ranges[axis] = range(min(found), max(found) + 1)
    expected = [
        FileKey(**{axis.lower(): index for axis, index in zip(split, combination, strict=True)})
        for combination in itertools.product(*ranges.values())
    ]
    missing = [
        (position, key)
        for position, by_key in sorted(by_position.items(), key=lambda item: _natural_key(item[0]))
        for key in expected
        if key not in by_key
    ]
    if missing:
        needs = [f"{SPLIT_AXIS_NAMES[axis]} {span.start}..{span.stop - 1}" for axis, span in ranges.items()]
        path_of = _expected_paths(config, by_position)
        shown = "; ".join(
            _shown(
                missing,
                lambda item: f"{path_of(*item)} ({item[1].described(config.channel_names)})",
                "... ({left} more)",
            )
        )
        hints = "".join(
            f". {hint}"
            for hint in (
                *_stopped_hint(by_position, missing, ranges),
                *_sparse_channel_hint(config, by_position, ranges),
            )
        )
        raise ValueError(
            f"tiff.files: every position needs a file for every {', '.join(needs[:-1])}"
            f"{' and ' if len(needs) > 1 else ''}{needs[-1]}; {len(missing)} "
            f"{'file is' if len(missing) == 1 else 'files are'} missing: {shown}{hints}"
        )


def _expected_paths(
    config: TiffSourceConfig, by_position: dict[str, dict[FileKey, Path]]
) -> Callable[[str, FileKey], str]:
    """The path the pattern gives the file of a position and key: what the placeholders matched in
    the files found (``{_}`` in the position's first file; an index no file has, zero-padded as those
    found are)."""
    regex = _pattern_regex(config.files)
    raws: dict[str, dict[int, str]] = {axis: {} for axis in config.split_axes}
    siblings: dict[str, re.Match[str]] = {}
    for position, by_key in by_position.items():
        for key, path in by_key.items():
            match = regex.fullmatch(path.as_posix())
            assert match is not None  # every path was matched by _by_position
            siblings.setdefault(position, match)
            for axis in raws:
                raws[axis].setdefault(getattr(key, axis.lower()), match[axis.lower()])

    def raw(axis: str, index: int) -> str:
        known = raws[axis]
        if index in known:
            return known[index]
        offset = next(int(text) - found for found, text in known.items())  # {c}'s lowest index
        padded = any(len(text) > 1 and text.startswith("0") for text in known.values())
        width = max(map(len, known.values())) if padded else 0
        return f"{index + offset:0{width}d}"

    def path_of(position: str, key: FileKey) -> str:
        anonymous = itertools.count()
        parts = []
        for part in _pattern_parts(config.files):
            if part == POSITION_PLACEHOLDER:
                parts.append(position)
            elif part == ANONYMOUS_PLACEHOLDER:
                parts.append(siblings[position][f"_{next(anonymous)}"])
            elif part in SPLIT_PLACEHOLDERS:
                axis = SPLIT_PLACEHOLDERS[part]
                parts.append(raw(axis, getattr(key, axis.lower())))
            else:
                parts.append(part)
        return "".join(parts)

    return path_of


def _stopped_hint(
    by_position: dict[str, dict[FileKey, Path]],
    missing: Sequence[tuple[str, FileKey]],
    ranges: dict[str, range],
) -> list[str]:
    """Where every missing file is of the last time point (of several): an acquisition stopped
    during it, whose files found are to be moved aside."""
    if "T" not in ranges or len(ranges["T"]) < 2 or any(key.t != ranges["T"][-1] for _, key in missing):
        return []
    last = ranges["T"][-1]
    found = [
        path
        for _, by_key in sorted(by_position.items(), key=lambda item: _natural_key(item[0]))
        for key, path in _in_plate_order(by_key).items()
        if key.t == last
    ]
    return [
        f"Every missing file is of the last time point, {last} (an acquisition stopped during it?): move "
        f"its {len(found)} files aside ({found[0]}, ...) to convert the time points before it"
    ]


def _sparse_channel_hint(
    config: TiffSourceConfig, by_position: dict[str, dict[FileKey, Path]], ranges: dict[str, range]
) -> list[str]:
    """Where a channel with files has none at some time points or slices, in any position
    (Micro-Manager's "skip frames" for a channel, or its z-stack off): such a channel goes in a
    dataset of its own."""
    if "C" not in ranges:
        return []
    held: dict[tuple[int, str], set[int]] = {}
    for by_key in by_position.values():
        for key in by_key:
            assert key.c is not None
            for axis in set(ranges) & {"T", "Z"}:
                held.setdefault((key.c, axis), set()).add(getattr(key, axis.lower()))
    sparse = []
    for channel in ranges["C"]:
        for axis in "TZ":
            if axis not in ranges or (channel, axis) not in held:  # a channel with no file: a gap
                continue
            absent = [index for index in ranges[axis] if index not in held.get((channel, axis), set())]
            if absent:
                shown = ", ".join(map(str, absent[:10])) + (
                    f", ... ({len(absent)})" if len(absent) > 10 else ""
                )
                what = "time points" if axis == "T" else "slices"
                channel_name = FileKey(c=channel).described(config.channel_names)
                sparse.append(f"{channel_name} has no file at the {what} [{shown}]")
    if not sparse:
        return []
    return [
        f'In every position, {"; ".join(sparse)} (Micro-Manager\'s "skip frames" for a channel, or its '
        "z-stack off?): the plate must be complete (every channel at every time point and slice), so a "
        "channel acquired at fewer time points or slices goes in a dataset of its own (its tiff.files "
        "naming its files only, e.g. its name or index in place of '{c}'), the other channels in another"
    ]


# ------------------------------------------------------------------ headers
def _finite(value: Any) -> float | None:
    """``value`` as a finite number (of any sign), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _float(value: Any) -> float | None:
    """``value`` as a finite positive number, else None."""
    number = _finite(value)
    return number if number is not None and number > 0 else None


def _ome_pixels(ome_xml: str) -> ElementTree.Element | None:
    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError:
        return None
    return next((element for element in root.iter() if _tag(element) == "Pixels"), None)


def _ome_values(path: Path, ome_xml: str) -> dict[str, Any]:
    """Channel names and sampling of the first image of ``path``'s OME-XML document: the frame interval
    its ``Pixels`` give (``TimeIncrement``), else the one its planes' ``DeltaT`` give
    (:func:`_plane_interval`); where both do, the ``DeltaT`` steps and their mean are kept to check
    the one stated (:func:`_check_plane_steps`)."""
    pixels = _ome_pixels(ome_xml)
    if pixels is None:
        return {}

    def length(key: str) -> float | None:
        value = _float(pixels.get(key))
        scale = micrometres_per(pixels.get(f"{key}Unit", "µm"))
        return None if value is None or scale is None else value * scale

    size_x, size_y = length("PhysicalSizeX"), length("PhysicalSizeY")
    units = (
        ("pixel_size_um", pixels.get("PhysicalSizeXUnit", "µm")),
        ("z_step_um", pixels.get("PhysicalSizeZUnit", "µm")),
    )
    interval = _float(pixels.get("TimeIncrement"))
    time_unit = pixels.get("TimeIncrementUnit", "s")
    timing = _interval_values(interval, time_unit, seconds_per(time_unit))
    planes = _plane_interval(path, pixels)
    if interval is None:
        timing = planes
    elif timing["time_interval_s"] is not None and planes.get("time_interval_measured"):
        # Micro-Manager writes both: the planes' steps are checked against the one stated
        timing["time_interval_uneven"] = planes.get("time_interval_uneven")
        timing["delta_t_steps"] = planes["plane_steps"]
    names = [element.get("Name") or "" for element in pixels if _tag(element) == "Channel"]
    return {
        "channel_names": tuple(names) if names and all(names) and len(set(names)) == len(names) else None,
        "pixel_size_um": size_x,
        "pixel_size_y_um": size_y,
        "z_step_um": length("PhysicalSizeZ"),
        "length_units": units,
        "earliest_delta_t_s": _earliest_delta_t(pixels),
        **timing,
    }


def _earliest_delta_t(pixels: ElementTree.Element) -> float | None:
    """The earliest ``DeltaT`` of the ``Plane`` elements of an OME ``Pixels``, in seconds; None where
    no plane states one in a unit read."""
    times = [
        delta * scale
        for plane in pixels
        if _tag(plane) == "Plane"
        and (delta := _finite(plane.get("DeltaT"))) is not None
        and (scale := seconds_per(plane.get("DeltaTUnit", "s"))) is not None
    ]
    return min(times, default=None)


def _tag(element: ElementTree.Element) -> str:
    """``element``'s tag without its namespace."""
    return str(element.tag).rsplit("}", 1)[-1]


#: Largest deviation of one frame interval from their mean, relative to the mean, that OME planes'
#: ``DeltaT`` may show and still state one frame interval (:func:`_plane_interval`). Acquisition jitter
#: (autofocus, stage moves between positions, a busy acquisition computer) delays single frames by
#: seconds, a few % of a frame interval of minutes, and shifts a frame's time by a small part of one
#: interval, which no stage resolves; a skipped frame (an interval doubled, +100 %) or a movie acquired
#: at two rates (2 then 10 min, +/-67 %) lies far beyond, and one interval on the plate would put its
#: frames at times they were not taken.
PLANE_INTERVAL_TOLERANCE = 0.1
#: Largest deviation of one ``DeltaT`` step from their mean that a frame interval the config states
#: (``tiff.time_interval_minutes``, the nominal one) accepts, with a WARNING: jitter of a fast stream
#: (0.15 s on 1 s frames, 15 %) shifts no frame by a whole interval; from half an interval on, a
#: skipped frame (+100 %) or a change of rate, after which the config's interval would be wrong.
NOMINAL_INTERVAL_TOLERANCE = 0.5
#: Frames by which a ``TimeIncrement`` may misplace the last frame of a movie its planes' ``DeltaT``
#: time before a WARNING says so (:func:`_check_plane_steps`): the measured step times the movie's
#: steps, against the stated one. Micro-Manager's overhead (1202 s taken for 1200 s requested) over 30
#: frames moves the last by 0.05 of a frame, below what any stage resolves; 21 min stated over 20 min
#: taken, by frame 20 a whole frame.
DRIFT_FRAMES = 0.5
#: How a refusal of times going back (``DeltaT`` decreasing, within a file or across files) ends.
NOT_IN_ACQUISITION_ORDER = "not in acquisition order; correct the files' metadata (or export them again)"


@dataclass(frozen=True)
class PlaneSteps:
    """The steps of an OME file's planes' ``DeltaT`` (s per time point, between successive time points
    of each channel and slice), kept beside a ``TimeIncrement`` to check it
    (:func:`_check_plane_steps`).

    Attributes:
        mean_s: their mean.
        median_s: their median: the interval measured (a pause moves the mean, not the median).
        n_steps: the time points the movie spans, less one.
        worst: the step farthest from the median: its earlier and later time point and its seconds.
    """

    mean_s: float
    median_s: float
    n_steps: int
    worst: tuple[int, int, float]

    def drift(self, interval_s: float, step_s: float | None = None) -> float:
        """Frames by which ``interval_s`` misplaces the movie's last frame, taken ``step_s`` (the
        median step where None) per time point."""
        step = self.median_s if step_s is None else step_s
        return self.n_steps * abs(step - interval_s) / interval_s


class _PlaneStepsNote(NamedTuple):
    """What :func:`_check_plane_steps` has to say of a file, said once per dataset
    (:func:`_log_plane_steps`): ``kind`` ``rate`` (the ``TimeIncrement`` is written and its drift
    reaches :data:`DRIFT_FRAMES`), ``chosen_stated`` / ``chosen_measured`` (the config's interval,
    the ``TimeIncrement``'s or the measured one), ``pause`` (the median agrees, the mean does not)."""

    kind: str
    level: int
    steps: PlaneSteps
    stated_s: float
    config_drift: float | None  # frames the config's interval misplaces the last frame by, if one


def _suggested_minutes(steps: PlaneSteps, stated_s: float) -> str:
    """The measured interval (the median step) in minutes, with the digits that keep it nearer the
    median than ``stated_s`` and within a tenth of :data:`DRIFT_FRAMES` of it over the movie: the value
    suggested is the one :func:`_check_plane_steps` takes as the measured one."""
    for digits in range(4, 12):
        text = f"{steps.median_s / 60.0:.{digits}g}"
        value = float(text) * 60.0
        if abs(value - steps.median_s) < abs(value - stated_s) and steps.drift(value) < DRIFT_FRAMES / 10:
            return text
    return f"{steps.median_s / 60.0:.12g}"


def _uneven_why(skipped: str, kept: str) -> str:
    """Why steps not evenly spaced are refused (``skipped``: what is missing) and the fix (``kept``:
    what to convert on its own)."""
    return (
        f"({skipped}, a pause or a change of rate); a plate has one frame interval: convert the evenly "
        f"spaced {kept}"
    )


def _plane_interval(path: Path, pixels: ElementTree.Element) -> dict[str, Any]:
    """The frame interval the ``Plane`` elements of an OME ``Pixels`` state through ``DeltaT`` (the
    time of each plane since the acquisition's start, in ``DeltaTUnit``, seconds where none is named;
    Micro-Manager and NIS-Elements write no ``TimeIncrement``): the mean of the differences of the
    ``DeltaT`` of successive time points of each channel and slice (``TheC``, ``TheZ``), per time point
    between them; a channel and slice whose every step is 0 (its planes all at one time: a writer's
    placeholder, no timing) left out. As :func:`_interval_values` gives it: None where no channel and
    slice states a step, the unit where it is not read. ``ValueError`` naming the file and the time
    points where a ``DeltaT`` decreases (planes' times not in acquisition order); steps deviating from
    their mean by more than :data:`PLANE_INTERVAL_TOLERANCE` are described as ``time_interval_uneven``
    (checked against the config by :func:`_check_plane_steps`: the header is read once)."""
    by_plane: dict[tuple[str, str], dict[int, float]] = {}
    for plane in pixels:
        time_point, delta = plane.get("TheT", "0"), _finite(plane.get("DeltaT"))
        if _tag(plane) != "Plane" or delta is None or not time_point.isdigit():
            continue
        unit = plane.get("DeltaTUnit", "s")
        scale = seconds_per(unit)
        if scale is None:
            return {"time_interval_s": None, "time_unit_not_read": str(unit)}
        times = by_plane.setdefault((plane.get("TheC", "0"), plane.get("TheZ", "0")), {})
        times[int(time_point)] = delta * scale
    steps = []  # (earlier, later, seconds per time point between them), of each channel and slice
    for (channel, z), times in by_plane.items():
        order = sorted(times)
        series = [(a, b, (times[b] - times[a]) / (b - a)) for a, b in itertools.pairwise(order)]
        decreasing = next((step for step in series if step[2] < 0), None)
        if decreasing is not None:
            earlier, later, _ = decreasing
            raise ValueError(
                f"{path}: its OME planes' DeltaT decrease from time point {earlier} ({times[earlier]:g} s) "
                f"to {later} ({times[later]:g} s) (channel {channel}, slice {z}): the planes' times are "
                + NOT_IN_ACQUISITION_ORDER
            )
        if any(step[2] for step in series):  # every step 0: a placeholder, no timing
            steps += series
    if not steps:
        return {"time_interval_s": None}
    intervals = [interval for _, _, interval in steps]
    mean = sum(intervals) / len(intervals)
    earlier, later, worst = max(steps, key=lambda step: abs(step[2] - mean))
    median = statistics.median(intervals)
    values: dict[str, Any] = {
        "time_interval_s": mean,
        "time_interval_measured": True,
        "plane_steps": PlaneSteps(
            mean_s=mean,
            median_s=median,
            n_steps=max(max(times) - min(times) for times in by_plane.values()),
            worst=max(steps, key=lambda step: abs(step[2] - median)),
        ),
    }
    if abs(worst - mean) > PLANE_INTERVAL_TOLERANCE * mean:
        values["time_interval_uneven"] = (
            abs(worst - mean) / mean,
            f"its OME planes' DeltaT give frame intervals of {min(intervals):g} to {max(intervals):g} s "
            f"(mean {mean:g} s; {worst:g} s per frame from time point {earlier} to {later})",
        )
    return values


def _check_plane_steps(
    path: Path, header: TiffHeader, from_config: float | None
) -> tuple[bool, _PlaneStepsNote | None]:
    """Refuse ``header``'s uneven ``DeltaT`` steps (``time_interval_uneven``), naming the file and the
    steps: beyond :data:`PLANE_INTERVAL_TOLERANCE` without a config interval, beyond
    :data:`NOMINAL_INTERVAL_TOLERANCE` with one (within it a WARNING: the config's interval is the
    plate's); then check a ``TimeIncrement`` against their median (``delta_t_steps``).
    ``TimeIncrement`` is the interval requested (Micro-Manager writes it), the ``DeltaT`` the one
    measured (slower where many positions or autofocus outlast it). A config interval (``from_config``,
    min) nearer their median than ``TimeIncrement`` and within :data:`PLANE_INTERVAL_TOLERANCE` of it is
    the plate's (the first of the result True: ``TimeIncrement`` is not to be held to the config), said
    at INFO (WARNING where it misplaces the movie's last frame by :data:`DRIFT_FRAMES` or more). Else a
    median beyond :data:`PLANE_INTERVAL_TOLERANCE` of ``TimeIncrement`` is refused, offering it as the
    config's interval. Within it ``TimeIncrement`` (or a config interval agreeing with it) is the
    plate's; where over the movie it misplaces the last frame by :data:`DRIFT_FRAMES` or more (21 min
    stated, 20 min measured over 21 frames: a whole frame), a WARNING without a config interval, INFO
    with one (chosen); where the median agrees and the mean does not, a WARNING naming the step farthest
    from the median (a pause). What is to be said is returned (said once per dataset by
    :func:`_log_plane_steps`)."""
    if header.time_interval_uneven is not None:
        _check_uneven_steps(path, header.time_interval_uneven, from_config)
    steps, stated = header.delta_t_steps, header.time_interval_s
    if steps is None or stated is None:
        return False, None
    measured, chosen = steps.median_s, None if from_config is None else from_config * 60.0

    def note(kind: str, level: int) -> _PlaneStepsNote:
        return _PlaneStepsNote(kind, level, steps, stated, None if chosen is None else steps.drift(chosen))

    if (
        chosen is not None
        and abs(chosen - measured) < abs(chosen - stated)
        and _agree(measured, chosen, PLANE_INTERVAL_TOLERANCE)
    ):
        return True, note(
            "chosen_measured", logging.INFO if steps.drift(chosen) < DRIFT_FRAMES else logging.WARNING
        )
    if not _agree(measured, stated, PLANE_INTERVAL_TOLERANCE):
        config = (
            ""
            if from_config is None
            else f"; the config tiff.time_interval_minutes = {from_config:g} disagrees with the DeltaT"
        )
        raise ValueError(
            f"{path}: its TimeIncrement gives a frame interval of {stated:g} s (the interval requested), its "
            f"OME planes' DeltaT {measured:g} s (the median of their steps: the interval measured); they "
            f"disagree by more than {PLANE_INTERVAL_TOLERANCE:.0%}{config}: the DeltaT are the times the "
            f"frames were taken, so set tiff.time_interval_minutes: {_suggested_minutes(steps, stated)} "
            "(where the acquisition was slower than requested), or correct the file's metadata"
        )
    if steps.drift(stated) >= DRIFT_FRAMES:
        if chosen is None:
            return False, note("rate", logging.WARNING)
        # a config agreeing with neither is refused by the caller
        return False, note("chosen_stated", logging.INFO) if _agree(stated, chosen) else None
    if steps.drift(stated, steps.mean_s) >= DRIFT_FRAMES:
        return False, note("pause", logging.WARNING)
    return False, None


def _log_plane_steps(
    notes: list[tuple[Path, _PlaneStepsNote]], n_files: int, from_config: float | None
) -> None:
    """Say what :func:`_check_plane_steps` noted, once per kind for the dataset, naming the first file
    (an argument: :func:`~dynaclr.convert.stage.kept_warnings` names it as the file), how many more
    of the dataset's ``n_files`` gave it and the first file's values."""
    by_kind: dict[str, list[tuple[Path, _PlaneStepsNote]]] = {}
    for path, note in notes:
        by_kind.setdefault(note.kind, []).append((path, note))
    for kind, noted in by_kind.items():
        path, note = noted[0]
        steps, stated = note.steps, note.stated_s
        more = f" (and {len(noted) - 1} more of the dataset's {n_files} files)" if len(noted) > 1 else ""
        head = (
            "%s%s: its OME planes' DeltaT step by %g s (the median of their steps: the interval measured), "
            "its TimeIncrement gives %g s (the interval requested)"
        )
        side = "earlier" if steps.median_s > stated else "later"
        drift = (
            f"over the movie's {steps.n_steps} steps the TimeIncrement places its last frame "
            f"{steps.drift(stated):.2g} frames {side} than it was taken"
        )
        if kind == "rate":
            logger.warning(
                head + "; %s: the TimeIncrement's %g min is the plate's frame interval; where the frames "
                "were taken at the DeltaT (an acquisition slower or faster than requested), set "
                "tiff.time_interval_minutes: %s",
                path,
                more,
                steps.median_s,
                stated,
                drift,
                stated / 60.0,
                _suggested_minutes(steps, stated),
            )
        elif kind == "chosen_stated":
            logger.info(
                head + "; %s: the config tiff.time_interval_minutes = %g (the TimeIncrement's) is the "
                "plate's frame interval",
                path,
                more,
                steps.median_s,
                stated,
                drift,
                from_config,
            )
        elif kind == "chosen_measured":
            logger.log(
                note.level,
                head + "; the config tiff.time_interval_minutes = %g agrees with the DeltaT and is the "
                "plate's (it places the movie's last frame %.2g frames from its DeltaT)",
                path,
                more,
                steps.median_s,
                stated,
                from_config,
                note.config_drift,
            )
        else:
            earlier, later, worst = steps.worst
            logger.warning(
                head + "; their median agrees with the TimeIncrement, their mean (%g s) does not: over the "
                "movie's %d steps its last frame was taken %.2g frames %s than the TimeIncrement places "
                "it, the step farthest from the median %g s per frame from time point %d to %d (a pause, "
                "or a change of rate; a plate has one frame interval)",
                path,
                more,
                steps.median_s,
                stated,
                steps.mean_s,
                steps.n_steps,
                steps.drift(stated, steps.mean_s),
                "later" if steps.mean_s > stated else "earlier",
                worst,
                earlier,
                later,
            )


def _check_uneven_steps(path: Path, uneven: tuple[float, str], from_config: float | None) -> None:
    """Refuse or warn of uneven ``DeltaT`` steps (``time_interval_uneven``), see
    :func:`_check_plane_steps`."""
    deviation, steps = uneven
    why = _uneven_why("a skipped frame", "frames only, as files of their own")
    if from_config is None:
        raise ValueError(
            f"{path}: {steps}: not evenly spaced within {PLANE_INTERVAL_TOLERANCE:.0%} {why}; where the "
            "steps are jitter around a nominal interval, state it as tiff.time_interval_minutes (steps "
            f"within {NOMINAL_INTERVAL_TOLERANCE:.0%} of their mean then convert at it, with a warning)"
        )
    if deviation >= NOMINAL_INTERVAL_TOLERANCE:
        raise ValueError(
            f"{path}: {steps}: not evenly spaced within {NOMINAL_INTERVAL_TOLERANCE:.0%}, as "
            f"tiff.time_interval_minutes = {from_config:g} needs {why}"
        )
    logger.warning(
        "%s: %s: not evenly spaced within %.0f%%; the config's tiff.time_interval_minutes = %g is the "
        "plate's (steps within %.0f%% of their mean: jitter)",
        path,
        steps,
        PLANE_INTERVAL_TOLERANCE * 100,
        from_config,
        NOMINAL_INTERVAL_TOLERANCE * 100,
    )


def _interval_values(interval: float | None, unit: object, seconds: float | None) -> dict[str, Any]:
    """``time_interval_s`` of an ``interval`` in ``unit`` (``seconds`` per unit), and the unit where it
    is not read (``time_unit_not_read``)."""
    if not interval:
        return {"time_interval_s": None}
    if seconds is None:
        return {"time_interval_s": None, "time_unit_not_read": str(unit)}
    return {"time_interval_s": interval * seconds}


def _imagej_values(tiff: tifffile.TiffFile) -> dict[str, Any]:
    """Sampling of an ImageJ hyperstack: spacing, finterval (in ``tunit``, seconds where ImageJ writes
    none; not read in a unit :data:`~dynaclr.io.units.TIME_UNITS_S` does not list) and XResolution
    and YResolution (pixels per unit). Lengths are in ``unit``, Y's in ``yunit`` and the spacing in
    ``zunit`` where ImageJ writes them (it does where they differ from ``unit``); one in a unit not
    read is not read."""
    metadata = tiff.imagej_metadata or {}
    unit = str(metadata.get("unit", "")).strip()
    y_unit = str(metadata.get("yunit", unit)).strip()
    z_unit = str(metadata.get("zunit", unit)).strip()
    interval = _float(metadata.get("finterval"))
    time_unit = metadata.get("tunit", "sec")
    values: dict[str, Any] = _interval_values(interval, time_unit, seconds_per(time_unit))
    values["length_units"] = (("pixel_size_um", unit), ("z_step_um", z_unit))
    spacing, z_scale = _float(metadata.get("spacing")), micrometres_per(z_unit)
    values["z_step_um"] = spacing * z_scale if spacing and z_scale is not None else None
    page = tiff.pages.first
    for key, tag_name, length_unit in (
        ("pixel_size_um", "XResolution", unit),
        ("pixel_size_y_um", "YResolution", y_unit),
    ):
        tag, scale = page.tags.get(tag_name), micrometres_per(length_unit)
        if tag is not None and scale is not None:
            numerator, denominator = tag.value
            per_unit = numerator / denominator if denominator else 0.0
            values[key] = scale / per_unit if per_unit > 0 else None
    return values


#: How a refusal over a plain TIFF's resolution tags names the way to keep the config's pixel size.
RESOLUTION_TAGS_HINT = (
    ", or set tiff.resolution_tags: ignore to use tiff.pixel_size_um where the tags hold a writer's or "
    "scanner's value, not the microscope's calibration"
)


#: Micrometres per unit of a TIFF's ``ResolutionUnit`` (XResolution and YResolution are pixels per
#: unit): the standard's inch (2, its default where the tag is absent) and centimetre (3), and
#: tifffile's millimetre (4) and micrometre (5). ``1`` (none) makes the resolutions an aspect ratio,
#: no physical size.
RESOLUTION_UNITS_UM: dict[int, tuple[str, float]] = {
    2: ("inch", 25400.0),
    3: ("centimetre", 1e4),
    4: ("millimetre", 1e3),
    5: ("micrometre", 1.0),
}


def _resolution_values(tiff: tifffile.TiffFile) -> dict[str, Any]:
    """The pixel size a TIFF without OME or ImageJ metadata states through its first page's
    XResolution and YResolution, in :data:`RESOLUTION_UNITS_UM` (none in unit none). A size outside
    the bounds of live-cell microscopy (:func:`~dynaclr.io.sampling.sampling_range`) is not read
    (so unstated; a WARNING names the file and the value): writers put a default there (72 or
    300 dots per inch: 352.8 or 84.7 µm per pixel), no microscope's calibration, unlike an OME or
    ImageJ size, which is refused; why, as ``pixel_size_not_read``, which :func:`_sampling` logs once.
    The tags' raw rationals are read (tifffile reads one of denominator 0 as its numerator): one of
    numerator or denominator 0 states no size. Tags in inches (the TIFF default unit, a writer's or
    scanner's: microscope calibrations are written per centimetre) state no size on their own
    (``pixel_size_in_inches``): they only check a config's value."""
    page = tiff.pages.first
    unit = RESOLUTION_UNITS_UM.get(int(page.resolutionunit))
    if unit is None or "XResolution" not in page.tags or "YResolution" not in page.tags:
        return {}
    name, micrometres = unit
    rationals = [page.tags[tag].value for tag in ("XResolution", "YResolution")]
    if not all(isinstance(value, tuple) and len(value) == 2 and all(value) for value in rationals):
        return {}  # a numerator or denominator 0: no value
    per_unit = [numerator / denominator for numerator, denominator in rationals]
    sizes = [micrometres / value if value > 0 else math.inf for value in per_unit]
    bounds = sampling_range("pixel_size_um")
    if not all(within(size, bounds) for size in sizes):
        return {
            "pixel_size_not_read": (
                f"its XResolution and YResolution ({per_unit[0]:g} and {per_unit[1]:g} pixels per {name}) "
                f"give pixels of {sizes[0]:g} x {sizes[1]:g} µm, outside the {bounds[0]:g}-{bounds[1]:g} µm "
                "of live-cell microscopy: not read as its pixel size (a writer's default, as 72 dots per "
                "inch, is no calibration)"
            )
        }
    return {
        "pixel_size_um": sizes[0],
        "pixel_size_y_um": sizes[1],
        "pixel_size_from_resolution": True,
        "pixel_size_in_inches": name == "inch",
    }


def _files_spanned(path: Path, tiff: tifffile.TiffFile, series: tifffile.TiffPageSeries) -> ValueError | None:
    """The error for a series whose planes lie in other files too (a multi-file OME-TIFF: its
    ``TiffData`` name other files by ``UUID``, as Micro-Manager writes a position split at 4 GB or one
    file per time point), else None. tifffile reads them as one image from any of its files (each file
    of a dataset read as a whole movie: a position converted once per file) and zeroes the planes of a
    file it does not find (with exit 0); the rule's inputs name the matched files only."""
    pages = list(series.pages)
    elsewhere = sum(1 for page in pages if page is not None and page.parent is not tiff)
    missing = sum(1 for page in pages if page is None)
    if not elsewhere and not missing:
        return None
    named = sorted(
        {
            name
            for element in ElementTree.fromstring(tiff.ome_metadata or "<none/>").iter()
            if _tag(element) == "UUID" and (name := element.get("FileName")) and name != path.name
        }
    )
    shown = ", ".join(named[:5]) + (f", ... ({len(named)} files)" if len(named) > 5 else "")
    renamed = (
        f"; if {path.name} is one file renamed (its OME-XML names its planes' file {named[0]}), restore "
        f"its original name {named[0]}"
        if len(named) == 1
        else ""
    )
    return ValueError(
        f"{path}: its image spans other files ({shown or 'not named'}): {elsewhere} of its "
        f"{len(pages)} planes lie in other files"
        + (f" and {missing} in files not found" if missing else "")
        + renamed
        + "; dynaclr reads one self-contained file per position (or per position and time point): save "
        "each position's planes as one file (e.g. with Bio-Formats' bfconvert)"
    )


TIFFFILE_FALLBACK_SERIES = ("generic", "uniform")
"""The kinds of series tifffile gives a file whose format metadata it does not read: its pages
(``generic``) or pages of one shape (``uniform``), without the format's axes."""


def _ome_files_not_found(
    path: Path, tiff: tifffile.TiffFile, series: tifffile.TiffPageSeries
) -> ValueError | None:
    """The error for an OME-TIFF whose OME-XML places its planes in files (``TiffData`` ``UUID``
    ``FileName``) not found beside it, where tifffile therefore dropped its OME series (a kind
    of :data:`TIFFFILE_FALLBACK_SERIES`: its pages read as ``IYX``, without the OME axes), else None
    (a Micro-Manager ``mmstack`` file whose OME-XML names other positions' files is read as its own):
    a single file renamed after writing, its OME-XML naming the original name. It was refused as
    giving no axis order (with ``tiff.axes``, read without its OME metadata)."""
    if not tiff.is_ome or series.kind not in TIFFFILE_FALLBACK_SERIES or not tiff.ome_metadata:
        return None
    try:
        elements = list(ElementTree.fromstring(tiff.ome_metadata).iter())
    except ElementTree.ParseError:  # OME-XML tifffile could not parse: no file it names
        return None
    named = sorted(
        {name for element in elements if _tag(element) == "UUID" and (name := element.get("FileName"))}
    )
    missing = [name for name in named if not (path.parent / name).is_file()]
    if not missing:
        return None
    shown = ", ".join(missing[:5]) + (f", ... ({len(missing)} files)" if len(missing) > 5 else "")
    renamed = (
        f"; if {path.name} was renamed after writing, restore its original name {missing[0]}"
        if len(named) == 1
        else "; dynaclr reads one self-contained file per position (or per position and time point): "
        "save each position's planes as one file (e.g. with Bio-Formats' bfconvert)"
    )
    return ValueError(
        f"{path}: its OME-XML places its planes in {shown} (TiffData UUID FileName), not found in "
        f"{path.parent}: tifffile cannot read its OME metadata (it reads its {len(series.pages)} pages "
        f"as {series.axes!r}, no axes){renamed}"
    )


def _slices_or_time_points(imagej: dict[str, Any], found_axes: str) -> tuple[int, int, float | None] | None:
    """ImageJ's slices, frames and frame interval (``finterval``, None where not given) where its
    metadata (``imagej``) gives several slices, one frame and no ``spacing`` (the axes tifffile reads,
    ``found_axes``, then have Z and no T), else None: Fiji saves a time-lapse not made a hyperstack so,
    and a z-stack of 1 µm steps (ImageJ writes no spacing of 1) too."""
    slices, frames = int(imagej.get("slices", 1) or 1), int(imagej.get("frames", 1) or 1)
    if not imagej or slices < 2 or frames > 1 or _float(imagej.get("spacing")):
        return None
    if "Z" not in found_axes or "T" in found_axes:
        return None
    return slices, frames, _float(imagej.get("finterval"))


def _slices_read_as_time(imagej: dict[str, Any], found_axes: str, axes: str) -> str:
    """What a relabelling WARNING adds where ``axes`` read ImageJ's slices as time points."""
    if not imagej or "Z" not in found_axes or "T" in found_axes or "T" not in axes or "Z" in axes:
        return ""
    return (
        f"; its ImageJ metadata calls them slices (slices={imagej.get('slices', 1)}, "
        f"frames={imagej.get('frames', 1)}): they are read as time points"
    )


def _unflattened(
    path: Path, shape: tuple[int, ...], found_axes: str, axes: str, n_channels: int | None
) -> tuple[int, ...]:
    """The shape in ``axes`` of a file whose pages tifffile reads as one flat axis (a TIFF without
    shape metadata: ``IYX``), when one axis besides Y and X is of unknown size (C is known from
    ``channel_names``); ``ValueError`` naming the file otherwise."""
    pages = math.prod(shape[:-2])
    known = {"Y": shape[-2], "X": shape[-1], **({"C": n_channels} if n_channels else {})}
    unknown = [axis for axis in axes if axis not in known]
    problem = f"{path}: tiff.axes {axes!r} names {len(axes)} dimensions, but the image has shape {shape}"
    if axes[-2:] != "YX" or len(shape) != 3 or len(unknown) > 1:
        hint = (
            "; give tiff.channel_names, so that its pages can be split into channels"
            if "C" in unknown and len(unknown) == 2
            else "; give one letter per dimension"
        )
        raise ValueError(
            f"{problem} (size-1 dimensions dropped; tifffile reads its axes as {found_axes!r}){hint}"
        )
    known_pages = math.prod(size for axis, size in known.items() if axis in axes[:-2])
    if pages % known_pages:
        raise ValueError(f"{problem}: its {pages} pages do not divide into {known_pages} channels")
    sizes = {**known, **{axis: pages // known_pages for axis in unknown}}
    result = tuple(sizes[axis] for axis in axes)
    if math.prod(result) != math.prod(shape):  # fewer letters than dimensions: pages left unread
        raise ValueError(
            f"{problem} (tifffile reads its axes as {found_axes!r}): {axes!r} would read "
            f"{math.prod(result[:-2])} of its {pages} pages; give one letter per dimension"
        )
    return result


def _suggested_axes(found_axes: str) -> str:
    """Letters of TCZYX for tifffile's axes ``found_axes``: its own where they are plate axes, ``C``
    for the samples of each pixel (``S``: RGB), ``Z``, ``C``, ``T`` (in that order, from the right) for
    the others (``I``, ``Q``: pages without axes metadata); Y and X where the file has them."""
    letters = [axis if axis in PLATE_AXES and found_axes.count(axis) == 1 else "" for axis in found_axes]
    letters = [
        "C" if axis == "S" and not letter and "C" not in letters else letter
        for axis, letter in zip(found_axes, letters, strict=True)
    ]
    spare = [axis for axis in "ZCT" if axis not in letters]
    for index in reversed(range(len(letters))):
        if not letters[index] and spare:
            letters[index] = spare.pop(0)
    return "".join(letters) if all(letters) else found_axes


def _axes_example(found_axes: str) -> str:
    """``e.g. '<axes>'`` (:func:`_suggested_axes`) where one order of TCZYX fits tifffile's axes
    ``found_axes``, else why none does (more dimensions than TCZYX: an RGB ``TCZYXS`` file)."""
    suggested = _suggested_axes(found_axes)
    if len(suggested) <= len(PLATE_AXES) and set(suggested) <= set(PLATE_AXES):
        return f"e.g. {suggested!r}"
    return (
        f"no order of TCZYX fits its {len(found_axes)} dimensions {found_axes!r}: export the file "
        "with at most T, C, Z, Y and X (an RGB file's samples as channels)"
    )


def _planes_not_where_the_file_has_them(
    path: Path, shape: tuple[int, ...], found_axes: str, axes: str
) -> ValueError | None:
    """The error for the config's ``axes`` putting Y and X elsewhere than tifffile's axes
    ``found_axes`` of ``shape`` (the files' rows and columns, or Y and X its metadata gives; an RGB
    file's samples, ``S``, last), else None: that reads the image across its planes (an RGB file's
    ``YXS`` as ``ZYX`` gave 97 slices of 131 x 3 pixels, with exit 0). ``axes`` as long as ``shape``
    must have Y and X at the same dimensions; longer or shorter ``axes`` split pages of Y by X, so the
    file's axes must end with them."""
    if "Y" not in found_axes or "X" not in found_axes or axes == found_axes:
        return None
    if len(axes) == len(shape):
        where = [axes.index(axis) if axis in axes else None for axis in "YX"]
        if where == [found_axes.index("Y"), found_axes.index("X")]:
            return None
    elif found_axes[-2:] == "YX":
        return None
    samples = ", S the samples of each pixel (RGB, in C)" if "S" in found_axes else ""
    return ValueError(
        f"{path}: tiff.axes {axes!r} does not put Y and X where the file has them: tifffile reads its "
        f"shape {shape} as {found_axes!r} (Y its {shape[found_axes.index('Y')]} rows, X its "
        f"{shape[found_axes.index('X')]} columns{samples}); give tiff.axes with Y and X at those "
        f"dimensions ({_axes_example(found_axes)})"
    )


def _shaped_axes(tiff: tifffile.TiffFile) -> bool:
    """Whether tifffile's own metadata (``shaped``: a JSON description tifffile, napari and
    scikit-image write) states the axes, as tifffile writes them when given ``metadata={'axes': ...}``;
    without them tifffile reads its dimensions as ``Q``."""
    return bool(tiff.is_shaped and any("axes" in (entry or {}) for entry in tiff.shaped_metadata or ()))


def _reordered(path: Path, found: str, axes: str) -> ValueError:
    """The error for the config's ``axes`` giving the axes the metadata gives (``found``, described) in
    another order: a swap of slices, time points or channels, never silent."""
    return ValueError(
        f"{path}: its metadata gives the axes {found}, the config tiff.axes {axes!r}: the same axes in "
        "another order; correct tiff.axes, or remove it to use the metadata"
    )


def _unsqueezed(tiff: tifffile.TiffFile) -> tuple[str, tuple[int, ...]]:
    """Axes and shape of ``tiff``'s first series with its size-1 dimensions kept (tifffile's default
    series drops them: an OME ``TCZYX`` file of one slice reads as ``TCYX``)."""
    full = tiff.series(squeeze=False)[0]  # tifffile >= 2026.5.2 (pyproject's minimum)
    return str(full.axes), tuple(int(n) for n in full.shape)


def _with_size_one_axes(
    path: Path,
    tiff: tifffile.TiffFile,
    shape: tuple[int, ...],
    found_axes: str,
    axes: str,
    n_channels: int | None,
) -> tuple[tuple[int, ...], str]:
    """Shape and axes of ``tiff`` in the config's ``axes`` where those name, besides the metadata's
    axes (``found_axes``, size-1 dimensions dropped), only dimensions of size 1 the metadata gives
    (:func:`_unsqueezed`: the Z of one slice of an OME ``TCZYX`` file); ``shape`` and ``found_axes``
    unchanged otherwise, among them where ``axes`` add a C the metadata gives as 1 but ``n_channels``
    (``tiff.channel_names``) are more: the pages hold interleaved channels, split by
    :func:`_unflattened` (Fiji's movie of two channels saved as frames, ``TYX``). ``ValueError`` naming
    the file where ``axes`` give the metadata's axes of size above 1 in another order (a swap, never
    silent)."""
    full_axes, full_shape = _unsqueezed(tiff)
    sizes = dict(zip(full_axes, full_shape, strict=True))
    extra = [axis for axis in axes if axis not in found_axes]
    if (
        len(set(axes)) != len(axes)
        or set(found_axes) - set(axes)
        or not extra
        or any(sizes.get(axis) != 1 for axis in extra)
        or ("C" in extra and n_channels not in (None, 1))
    ):
        return shape, found_axes
    if "".join(axis for axis in axes if axis in found_axes) != found_axes:
        found = f"{full_axes!r} (shape {full_shape}; {found_axes!r} without those of size 1)"
        raise _reordered(path, found, axes)
    return tuple(sizes[axis] for axis in axes), axes


def read_tiff_header(
    path: str | Path, axes: str | None = None, n_channels: int | None = None, read_resolution: bool = True
) -> TiffHeader:
    """Shape, axes, dtype, channel names and sampling of ``path``'s first series; no pixel is read.
    A plain TIFF's resolution tags are read as its pixel size only with ``read_resolution``
    (``tiff.resolution_tags: read``; :func:`_resolution_values`).

    ``axes`` (the config's) may not give the axes OME, ImageJ or tifffile's own (``shaped``) metadata
    give in another order (a silent swap); other letters relabel them, with a warning (also where
    they split the metadata's axes into more, see below); they may name size-1 dimensions the
    metadata gives and tifffile drops (:func:`_with_size_one_axes`). Pages of a file without shape metadata
    are split along ``axes`` with ``n_channels`` channels (see :func:`_unflattened`).
    Raises ``ValueError`` naming the file for an unreadable file,
    a file with several series, axes that reorder the metadata's, or axes that are not given and
    not known from metadata (letters other than TCZYX), or that do not fit the image's dimensions.
    """
    path = Path(path)
    axes_given = axes  # ``axes`` becomes the metadata's where not given
    try:
        with tifffile.TiffFile(path) as tiff:
            if len(tiff.series) != 1:
                raise ValueError(
                    f"{path}: holds {len(tiff.series)} image series; dynaclr reads one series (one "
                    "position) per file: export one file per position"
                )
            series = tiff.series[0]
            if (spanned := _files_spanned(path, tiff, series)) is not None:
                raise spanned
            if (not_found := _ome_files_not_found(path, tiff, series)) is not None:
                raise not_found
            imagej = dict(tiff.imagej_metadata or {}) if tiff.is_imagej else {}
            shape, found_axes, dtype = tuple(int(n) for n in series.shape), str(series.axes), series.dtype
            values: dict[str, Any] = {}
            axes_from_metadata = bool(tiff.is_ome or tiff.is_imagej or _shaped_axes(tiff))
            if axes is not None and axes_from_metadata and axes != found_axes:
                shape, found_axes = _with_size_one_axes(path, tiff, shape, found_axes, axes, n_channels)
            if tiff.is_ome and tiff.ome_metadata:
                values = _ome_values(path, tiff.ome_metadata)
            elif tiff.is_imagej:
                values = _imagej_values(tiff)
            elif read_resolution:
                values = _resolution_values(tiff)
    except (OSError, tifffile.TiffFileError) as err:
        raise ValueError(f"{path}: not a readable TIFF file ({err})") from err
    if axes is None:
        if not axes_from_metadata and len(shape) == 3 and found_axes[0] in "IQ":
            raise ValueError(
                f"{path}: its {shape[0]} pages carry no metadata saying whether they are slices, time "
                "points or channels (no OME or ImageJ metadata and no axes in tifffile's description; "
                f"tifffile reads shape {shape} as {found_axes!r}); give tiff.axes: 'ZYX' for slices, 'TYX' "
                "for time points, 'CYX' for "
                "channels (or more letters, e.g. 'CZYX', with tiff.channel_names where they hold channels)"
            )
        if set(found_axes) - set(PLATE_AXES) or len(set(found_axes)) != len(found_axes):
            raise ValueError(
                f"{path}: the metadata gives no axis order tifffile can read as TCZYX (it reads shape "
                f"{shape} as {found_axes!r}); give tiff.axes, one letter of TCZYX per dimension ("
                f"{_axes_example(found_axes)})"
            )
        axes = found_axes
    elif (misplaced := _planes_not_where_the_file_has_them(path, shape, found_axes, axes)) is not None:
        raise misplaced
    elif (
        axes_from_metadata
        and not set(found_axes) - set(PLATE_AXES)
        and len(found_axes) == len(axes)
        and found_axes != axes
    ):
        if sorted(found_axes) == sorted(axes):  # the same axes in another order: a swap, never silent
            raise _reordered(path, f"{found_axes!r} (shape {shape})", axes)
        # other letters: tiff.axes relabels what the writer's defaults got wrong (tifffile writes a
        # stack without axes as CYX; Fiji saves a time-lapse not made a hyperstack as slices, ZYX)
        logger.warning(
            "%s: tiff.axes %r relabels the axes %r its metadata gives (shape %s)%s",
            path,
            axes,
            found_axes,
            shape,
            _slices_read_as_time(imagej, found_axes, axes),
        )
    elif len(axes) != len(shape):
        unflattened = _unflattened(path, shape, found_axes, axes, n_channels)
        if axes_from_metadata and not set(found_axes) - set(PLATE_AXES):
            # the metadata's axes split into others (Fiji's slices into time points and channels)
            logger.warning(
                "%s: tiff.axes %r relabels the axes %r its metadata gives (shape %s) as shape %s",
                path,
                axes,
                found_axes,
                shape,
                unflattened,
            )
        shape = unflattened
    size_y = values.pop("pixel_size_y_um", None)
    size_x = values.get("pixel_size_um")
    if size_x is not None and size_y is not None and not _agree(size_x, size_y):
        tags = values.get("pixel_size_from_resolution", False)
        raise ValueError(
            f"{path}: the pixel size differs in X ({size_x:g} µm) and Y ({size_y:g} µm); dynaclr needs "
            "square pixels"
            + (
                f" (its XResolution and YResolution: a plain TIFF){RESOLUTION_TAGS_HINT} (with it, give "
                "tiff.pixel_size_um)"
                if tags
                else ""
            )
        )
    return TiffHeader(
        shape=shape,
        axes=axes,
        dtype=np.dtype(dtype),
        channel_names=values.get("channel_names"),
        time_interval_s=values.get("time_interval_s"),
        pixel_size_um=size_x,
        z_step_um=values.get("z_step_um"),
        time_unit_not_read=values.get("time_unit_not_read"),
        length_units=values.get("length_units", ()),
        pixel_size_not_read=values.get("pixel_size_not_read"),
        time_interval_measured=values.get("time_interval_measured", False),
        pixel_size_from_resolution=values.get("pixel_size_from_resolution", False),
        time_interval_uneven=values.get("time_interval_uneven"),
        pixel_size_in_inches=values.get("pixel_size_in_inches", False),
        slices_or_time_points=_slices_or_time_points(imagej, found_axes) if axes_given is None else None,
        earliest_delta_t_s=values.get("earliest_delta_t_s"),
        delta_t_steps=values.get("delta_t_steps"),
    )


def _agree(a: float, b: float, tolerance: float = RELATIVE_TOLERANCE) -> bool:
    return math.isclose(a, b, rel_tol=tolerance)


def _tolerance(header: TiffHeader, attribute: str) -> float:
    """Within what relative difference ``header``'s ``attribute`` agrees with another value: a frame
    interval measured from the planes' times (``DeltaT``, whose mean differs between positions and
    from the interval set by a frame's jitter) within :data:`PLANE_INTERVAL_TOLERANCE`, a stated one
    within :data:`RELATIVE_TOLERANCE`."""
    measured = attribute == "time_interval_s" and header.time_interval_measured
    return PLANE_INTERVAL_TOLERANCE if measured else RELATIVE_TOLERANCE


# ------------------------------------------------------------------ the plate they make
def _check_same_images(headers: dict[Path, TiffHeader], split_axes: str) -> None:
    first_path, first = next(iter(headers.items()))
    differing = [
        f"{path}: shape {header.shape}, axes {header.axes!r}, {header.dtype}"
        for path, header in headers.items()
        if (header.shape, header.axes, header.dtype) != (first.shape, first.axes, first.dtype)
    ]
    if differing:
        shown = "; ".join(differing[:5]) + (f"; ... ({len(differing)} files)" if len(differing) > 5 else "")
        raise ValueError(
            f"tiff.files: every file must hold an image of one shape, axes and type, like {first_path} "
            f"(shape {first.shape}, axes {first.axes!r}, {first.dtype}); found {shown}"
        )
    for placeholder, axis in SPLIT_PLACEHOLDERS.items():
        size, what = first.sizes()[axis], SPLIT_AXIS_NAMES[axis]
        if axis in split_axes and size != 1:
            plural = "slices" if axis == "Z" else f"{what}s"
            raise ValueError(
                f"{first_path}: holds {size} {plural} (axes {first.axes!r}), but files '{placeholder}' hold "
                f"one each; remove '{placeholder}' from tiff.files or export one {what} per file"
            )
    if first.dtype.kind not in PIXEL_DTYPE_KINDS:
        raise ValueError(f"{first_path}: pixels of type {first.dtype} are not supported (integers or floats)")


def _sampling_value(
    key: str, from_config: float | None, headers: dict[Path, TiffHeader], attribute: str, scale: float
) -> float | None:
    """The value of ``attribute`` in config units (``key``): the config's where it gives one (so that
    files stating it or not, read or ignored, give one plate), else the first file's metadata's.
    Every file's value must agree with it and with the config's (a frame interval measured from the
    planes' ``DeltaT`` within :data:`PLANE_INTERVAL_TOLERANCE`, with a WARNING naming both where it
    agrees only within that), and a file may not give one where the first file and the config give
    none; so the first file's header gives the plate's value (:func:`read_tiff_sampling` reads only
    that one)."""
    first_path, first = next(iter(headers.items()))
    stated = _metadata_value(first_path, first, key, attribute, scale, from_config)
    value = from_config if from_config is not None else stated
    if from_config is not None and stated is not None and not _agree(stated, from_config):
        if _agree(stated, from_config, _tolerance(first, attribute)):
            logger.warning(
                "%s: its metadata gives %s = %g (the mean of its planes' DeltaT), the config tiff.%s = %g: "
                "the config's is the plate's",
                first_path,
                key,
                stated,
                key,
                from_config,
            )
    if stated is None and from_config is not None and getattr(first, attribute) is not None:
        logger.warning(
            "%s: its metadata gives %s = %g µm, outside the bounds of live-cell microscopy: tiff.%s = %g "
            "in its place",
            first_path,
            key,
            getattr(first, attribute) / scale,
            key,
            from_config,
        )
    plane_notes: list[tuple[Path, _PlaneStepsNote]] = []
    for path, header in headers.items():
        if attribute == "time_interval_s":
            measured, noted = _check_plane_steps(path, header, from_config)
            if noted is not None:
                plane_notes.append((path, noted))
            if measured:
                continue  # the config's interval agrees with the measured DeltaT, not the requested one
        found = _metadata_value(path, header, key, attribute, scale, from_config)
        if found is None:
            continue
        tolerance = _tolerance(header, attribute)
        tags = key == "pixel_size_um" and header.pixel_size_from_resolution
        if from_config is not None and not _agree(found, from_config, tolerance):
            raise ValueError(
                f"{path}: its metadata gives {key} = {found:g}"
                + (" (the mean of its planes' DeltaT)" if header.time_interval_measured else "")
                + (
                    " (its XResolution and YResolution: a plain TIFF, no OME or ImageJ metadata)"
                    if tags
                    else ""
                )
                + f", the config tiff.{key} = {from_config:g}; they must agree (within {tolerance:g}): "
                f"correct tiff.{key}, or remove it to use the metadata"
                + (RESOLUTION_TAGS_HINT if tags else "")
            )
        if value is None:
            raise ValueError(
                f"{path}: its metadata gives {key} = {found:g}, the first file {first_path} none; every "
                f"file of a dataset must state the same sampling: give tiff.{key}"
            )
        if not _agree(found, value, max(tolerance, _tolerance(first, attribute))):
            raise ValueError(
                f"{path}: its metadata gives {key} = {found:g}, the files before it {value:g}; every file "
                "of a dataset must have the same sampling"
                + (f"{RESOLUTION_TAGS_HINT} (its size is its XResolution and YResolution)" if tags else "")
            )
    _log_plane_steps(plane_notes, len(headers), from_config)
    return value


def _metadata_value(
    path: Path, header: TiffHeader, key: str, attribute: str, scale: float, from_config: float | None
) -> float | None:
    """``header``'s ``attribute`` in config units (``key``), None where the metadata gives none. A
    pixel size or z step outside the bounds of live-cell microscopy
    (:func:`~dynaclr.io.sampling.implausible_sampling`, the rule the config key follows: a 65 nm pixel
    written with a resolution in microns) is replaced by the config's value where it gives one (None;
    :func:`_sampling_value` warns once), else refused (``ValueError`` naming the file, the value, the
    unit read and the fix)."""
    found = getattr(header, attribute)
    if found is None or (
        attribute == "pixel_size_um" and header.pixel_size_in_inches and from_config is None
    ):
        return None  # inch tags only check a config's value
    found /= scale
    problem = implausible_sampling(found, key) if key in ("pixel_size_um", "z_step_um") else None
    if problem is None:
        return float(found)
    unit = dict(header.length_units).get(key, "µm")
    read = f"its metadata gives {key} = {found:g} µm (in its unit {unit!r})"
    if from_config is not None:
        return None
    fix = (
        f"the unit is nanometres, or the value is {found / 1000:g} µm"
        if sampling_reads_as_nanometres(found, key)
        else "the value is the one the files were acquired at"
    )
    raise ValueError(
        f"{path}: {read}: {problem}; give tiff.{key} (it takes the metadata's place), or correct the files' "
        f"metadata so that {fix}"
    )


def _channel_names(
    config: TiffSourceConfig, files: TiffFiles, headers: dict[Path, TiffHeader], n_channels: int
) -> tuple[str, ...]:
    """The plate's channel names, in the plate's order: the config's, else the OME metadata's of the
    first file naming channels. A file holding several channels whose metadata names them in another
    order is placed by name (:func:`file_channel_order`, logged at INFO); one naming another set of
    channels is refused naming the file, the channels expected, where they came from, and those found;
    so are files naming none where the config gives none. With ``{c}``, a file's metadata names its own
    channel only: the config's name of the channel ``{c}`` placed it at (:func:`_channel_indices` made
    sure the config names them)."""
    first_path = next(iter(headers))
    found = {
        path: header.channel_names for path, header in headers.items() if header.channel_names is not None
    }
    names = tuple(config.channel_names) if config.channel_names is not None else None
    source = "the config tiff.channel_names"
    channel_of = {path: key.c for by_key in files.files.values() for key, path in by_key.items()}
    reordered: list[tuple[Path, tuple[str, ...]]] = []
    for path, from_metadata in found.items():
        channel = channel_of.get(path)
        if names is not None and channel is not None:
            own = names[channel : channel + 1]
            if from_metadata != own:
                raise ValueError(
                    f"{path}: its OME metadata names the channels {list(from_metadata)}, but '{{c}}' places "
                    f"it at channel {channel} of tiff.channel_names {list(names)} ({list(own)}); correct "
                    "tiff.channel_names (or their order)"
                )
            continue
        if names is None:
            names, source = from_metadata, f"the OME metadata of {path} (the first file naming channels)"
            continue
        if sorted(from_metadata) != sorted(names):
            fix = (
                "make them agree, or remove tiff.channel_names"
                if config.channel_names is not None
                else "every file must hold the same channels (in any order: each is placed by name); "
                "convert the files naming other channels as a dataset of their own"
            )
            raise ValueError(
                f"{path}: its OME metadata names the channels {sorted(from_metadata)}, expected the "
                f"channels {sorted(names)} of {source} (in any order); {fix}"
            )
        if from_metadata != names:
            reordered.append((path, from_metadata))
    if names is None:
        raise ValueError(
            f"{first_path}: no channel names in its metadata; give tiff.channel_names ({n_channels} "
            "name(s), in file order)"
        )
    if len(names) != n_channels:
        holder = (
            f"the files of {files.fov_names[0]} ('{{c}}')" if "C" in files.split_axes else str(first_path)
        )
        raise ValueError(
            f"{holder}: holds {n_channels} channel(s), but tiff.channel_names names {len(names)}: "
            f"{list(names)}"
        )
    if reordered:
        path, order = reordered[0]
        more = f" and {len(reordered) - 1} more file(s)" if len(reordered) > 1 else ""
        logger.info(
            "%s%s list the channels in another order (%s) than the plate's %s (from %s): placed by name",
            path,
            more,
            list(order),
            list(names),
            source,
        )
    return names


def file_channel_order(header: TiffHeader, key: FileKey, channel_names: Sequence[str]) -> list[int] | None:
    """The index in the file (of ``key``, read as ``header`` says) of each of the plate's channels
    (``channel_names``, in the plate's order), where the file's OME metadata names its channels in
    another order (one position's file ``[Nuclei, Phase]``, the plate's ``[Phase, Nuclei]``: ``[1, 0]``);
    None where it names none, or names them in the plate's order, or holds one channel ``{c}`` placed
    (``key.c``: its place is its key's). :func:`_channel_names` made sure every other file naming
    channels names the plate's."""
    own = header.channel_names
    if key.c is not None or own is None or tuple(own) == tuple(channel_names):
        return None
    return [own.index(name) for name in channel_names]


def _read_header(config: TiffSourceConfig, path: Path) -> TiffHeader:
    # files of one channel each ('{c}') hold none of channel_names' channels to split pages into
    split_channels = "C" in config.split_axes
    n_channels = (
        len(config.channel_names) if config.channel_names is not None and not split_channels else None
    )
    return read_tiff_header(path, config.axes, n_channels, config.resolution_tags == "read")


def read_tiff_headers(config: TiffSourceConfig, files: TiffFiles) -> dict[Path, TiffHeader]:
    """Every file's header, in plate order."""
    return {path: _read_header(config, path) for path in files.paths}


def read_first_tiff_header(config: TiffSourceConfig, files: TiffFiles) -> dict[Path, TiffHeader]:
    """The first file's header (of the first FOV, in plate order), as :func:`read_tiff_headers` gives it.

    For what a job needs of the plate beyond its FOV names (its shape, channels, sampling):
    :func:`layout_from_headers` with this header gives the values it gives with every file's, as the
    dry run's :func:`tiff_layout` refuses files that differ from the first (shape, axes, type) or state
    a sampling it does not; it checks nothing across files itself.
    """
    first = files.paths[0]
    return {first: _read_header(config, first)}


def _check_slices_or_time_points(path: Path, axes: str, imagej: tuple[int, int, float | None]) -> None:
    """An ImageJ stack of several slices, one frame and no slice spacing, read as slices (its axes
    ``axes`` the metadata's; :attr:`TiffHeader.slices_or_time_points`): refused where ImageJ gives a
    frame interval (``finterval``: Fiji writes it where the stack's frame interval is set, the file
    calling itself a time-lapse), else read as slices with a WARNING (ImageJ writes no spacing for a
    z-stack of 1 µm steps either; a time-lapse Fiji saved as slices reads the same)."""
    slices, frames, interval = imagej
    as_time, reorder = axes.replace("Z", "T"), "Image > Hyperstacks > Re-order Hyperstacks"
    if interval is not None:
        raise ValueError(
            f"{path}: its ImageJ metadata gives {slices} slices and {frames} frame with a frame interval "
            f"(finterval={interval:g}) and no slice spacing: a time-lapse saved as slices, or a z-stack; "
            f"give tiff.axes {as_time!r} to read the slices as time points (with a warning), or "
            f"{axes!r} to read them as slices, or in Fiji make them frames ({reorder}, or Stack to "
            "Hyperstack) and save the file again"
        )
    logger.warning(
        "%s: its ImageJ metadata gives %d slices and %d frame, no slice spacing and no frame interval: "
        "read as %d slices (a z-stack: ImageJ writes no spacing for a step of 1); if they are time "
        "points, give tiff.axes %r, or in Fiji make them frames (%s) and save the file again",
        path,
        slices,
        frames,
        slices,
        as_time,
        reorder,
    )


class _DeltaTAcrossFiles(NamedTuple):
    """The frame interval files of one time point each state through their planes' ``DeltaT``."""

    minutes: float  # the median step from file to file
    steps: str  # the files and their steps, described
    deviation: float  # the largest deviation of one step from the median, relative to it


def _delta_t_across_files(files: TiffFiles, headers: dict[Path, TiffHeader]) -> _DeltaTAcrossFiles | None:
    """The frame interval (min) that files of one time point each state through their planes'
    ``DeltaT`` (each file's earliest, the time since the acquisition's start): the median of the
    differences between successive files of each FOV, channel and slice, described. None where a
    file of ``headers`` (every file's, or the first one's only) states none, or every difference is
    0 (``DeltaT`` from each file's own start: no timing across files). ``ValueError`` naming the
    FOV, the two files and their ``DeltaT`` where one decreases (not in acquisition order), or, as
    within a file (see :func:`_check_plane_steps`), where a step deviates from the median by
    :data:`NOMINAL_INTERVAL_TOLERANCE` or more (a time point not acquired, a pause): the config's or
    the metadata's interval would put every later time point at a time it was not taken."""
    if not files.per_time_point:
        return None
    steps: list[tuple[str, Path, Path, float]] = []  # FOV, the two files, minutes between them
    times: dict[Path, float] = {}
    for fov, by_key in files.files.items():
        series: dict[tuple[int | None, int | None], list[Path]] = {}  # by channel and slice, in time order
        for key, path in by_key.items():
            header = headers.get(path)
            if header is None or header.earliest_delta_t_s is None:
                return None
            times[path] = header.earliest_delta_t_s
            series.setdefault((key.c, key.z), []).append(path)
        for paths in series.values():
            steps += [(fov, a, b, (times[b] - times[a]) / 60.0) for a, b in itertools.pairwise(paths)]
    minutes = [step for *_, step in steps]
    if not any(minutes):
        return None
    decreasing = next((step for step in steps if step[3] < 0), None)
    if decreasing is not None:
        fov, a, b, _ = decreasing
        raise ValueError(
            f"{a} ({times[a]:g} s) to {b} ({times[b]:g} s) (FOV {fov}): their planes' DeltaT decrease: the "
            "files' times are " + NOT_IN_ACQUISITION_ORDER
        )
    median = statistics.median(minutes)
    fov, a, b, worst = max(steps, key=lambda step: abs(step[3] - median))
    deviation = abs(worst - median) / median if median else math.inf  # most steps 0, not all
    described = f"(median of {len(minutes)} steps, {min(minutes):.3g} to {max(minutes):.3g} min)"
    if deviation >= NOMINAL_INTERVAL_TOLERANCE:
        kept = (
            "time points only, each run as a dataset of its own (move the files from the step on to a "
            "folder of their own), or remove a file taken out of step; tiff.time_interval_minutes "
            "applies to evenly spaced time points only"
        )
        raise ValueError(
            f"{a} ({times[a]:g} s) to {b} ({times[b]:g} s) (FOV {fov}): their planes' DeltaT advance by "
            f"{worst:.3g} min, from file to file by {median:.3g} min {described}: not evenly spaced within "
            f"{NOMINAL_INTERVAL_TOLERANCE:.0%} " + _uneven_why("a time point not acquired", kept)
        )
    all_paths = files.paths
    return _DeltaTAcrossFiles(
        median,
        f"{all_paths[0]} to {all_paths[-1]} ({len(all_paths)} files of one time point each): their planes' "
        f"DeltaT advance by {median:.3g} min from file to file {described}",
        deviation,
    )


def _check_delta_t_across_files(
    across: _DeltaTAcrossFiles | None, interval: float | None, source: str
) -> None:
    """Refuse a frame interval (``interval`` min, from ``source``: the config's, or the first file's
    metadata's) disagreeing with the one files of one time point each state through their ``DeltaT``
    (:func:`_delta_t_across_files`) beyond :data:`PLANE_INTERVAL_TOLERANCE` (a measured interval's, as
    within a file), with a WARNING where it agrees within that only, and one where the steps deviate
    from their median by more than that (jitter: the stated interval is the plate's)."""
    if across is None or interval is None:
        return
    if across.deviation > PLANE_INTERVAL_TOLERANCE:
        logger.warning(
            "%s: not evenly spaced within %.0f%%; %s = %g min is the plate's (steps within %.0f%% of their "
            "median: jitter)",
            across.steps,
            PLANE_INTERVAL_TOLERANCE * 100,
            source,
            interval,
            NOMINAL_INTERVAL_TOLERANCE * 100,
        )
    if _agree(across.minutes, interval):
        return
    if not _agree(across.minutes, interval, PLANE_INTERVAL_TOLERANCE):
        raise ValueError(
            f"{across.steps}, {source} = {interval:g} min; they must agree (within "
            f"{PLANE_INTERVAL_TOLERANCE:.0%}): set tiff.time_interval_minutes: {across.minutes:.3g} (or "
            "correct the files' metadata)"
        )
    logger.warning("%s, %s = %g min: that is the plate's interval", across.steps, source, interval)


def _sampling(config: TiffSourceConfig, files: TiffFiles, headers: dict[Path, TiffHeader]) -> PlateSampling:
    """The plate's sampling and time points: the config's values and the first file's metadata (see
    :func:`_sampling_value`; ``headers`` holds the first file's, in plate order, or every file's), the
    time points of the first FOV."""
    first_path, first = next(iter(headers.items()))
    sizes = _plate_sizes(files, first)
    n_t = sizes["T"]
    if first.slices_or_time_points is not None and not files.per_time_point:
        _check_slices_or_time_points(first_path, first.axes, first.slices_or_time_points)
    if first.pixel_size_not_read is not None:  # once, not per file (10^5 files of one time point)
        logger.warning("%s: %s", first_path, first.pixel_size_not_read)
    if first.pixel_size_from_resolution and not first.pixel_size_in_inches and config.pixel_size_um is None:
        logger.info(
            "%s: pixel size %g µm from its XResolution and YResolution (a plain TIFF's resolution tags)",
            first_path,
            first.pixel_size_um,
        )
    interval = _sampling_value(
        "time_interval_minutes", config.time_interval_minutes, headers, "time_interval_s", 60.0
    )
    across = _delta_t_across_files(files, headers)
    if config.time_interval_minutes is not None:
        source = "the config tiff.time_interval_minutes"
    else:
        source = "the first file's " + ("planes' DeltaT" if first.time_interval_measured else "TimeIncrement")
    _check_delta_t_across_files(across, interval, source)
    pixel = _sampling_value("pixel_size_um", config.pixel_size_um, headers, "pixel_size_um", 1.0)
    # no stage reads the z step of one slice: the metadata's is not read (nor refused), as a plate's
    if sizes["Z"] == 1:
        z_step: float | None = config.z_step_um if config.z_step_um is not None else SINGLE_SLICE_Z_STEP_UM
    else:
        z_step = _sampling_value("z_step_um", config.z_step_um, headers, "z_step_um", 1.0)
    missing = [
        key
        for key, value in (
            ("time_interval_minutes", interval),
            ("pixel_size_um", pixel),
            ("z_step_um", z_step),
        )
        if value is None
    ]
    if missing:
        unit = first.time_unit_not_read if "time_interval_minutes" in missing else None
        why = (
            f" (its frame interval in unit {unit!r} not read; units read: {spellings(TIME_UNITS_S)}, names "
            "in any case)"
            if unit is not None
            else ""
        )
        if "time_interval_minutes" in missing and across is not None:
            why += (
                f" (one time point per file; the files' DeltaT advance by {across.minutes:.3g} min: set "
                f"tiff.time_interval_minutes: {across.minutes:.3g})"
            )
        if "pixel_size_um" in missing and first.pixel_size_in_inches:
            why += (
                f" (its XResolution and YResolution in inches would give {first.pixel_size_um:g} µm: inch "
                "tags are a writer's or scanner's default, not read as a microscope's calibration)"
            )
        if (
            "z_step_um" in missing
            and n_t == 1
            and "T" not in first.axes
            and not set(files.split_axes) & {"T", "Z"}
            and config.axes is None
        ):
            # Fiji saves a time-lapse not made a hyperstack as slices: a z step would make it one frame
            # (files of one time point or slice each, '{t}', '{z}', are no such stack: there the
            # slices are slices; axes given state what they are)
            axes = first.axes.replace("Z", "T")
            why += (
                f" (its {sizes['Z']} slices and one time point: if the slices are time points, give "
                f"tiff.axes {axes!r} instead)"
            )
        raise ValueError(
            f"{first_path}: its metadata gives no {', '.join(missing)}{why}; give "
            + ", ".join(f"tiff.{key}" for key in missing)
        )
    assert interval is not None and pixel is not None and z_step is not None
    return PlateSampling(
        geometry=PlateGeometry(time_interval_s=interval * 60.0, z_step_um=z_step, pixel_size_um=pixel),
        time_interval_minutes=interval,
        n_frames=n_t,
    )


def _plate_sizes(files: TiffFiles, first: TiffHeader) -> dict[str, int]:
    """Size of each plate axis: along an axis the files are split along, the number of indices the
    first FOV's files have (every FOV has them all: :func:`_check_complete`); else the first file's."""
    sizes = first.sizes()
    first_fov = next(iter(files.files.values()))
    for axis in files.split_axes:
        sizes[axis] = len({getattr(key, axis.lower()) for key in first_fov})
    return sizes


def layout_from_headers(
    config: TiffSourceConfig, files: TiffFiles, headers: dict[Path, TiffHeader], plate_path: str | Path
) -> PlateLayout:
    """The plate :func:`convert_tiff <dynaclr.convert.convert_tiff>` writes from these files."""
    _check_same_images(headers, files.split_axes)
    sizes = _plate_sizes(files, next(iter(headers.values())))
    names = _channel_names(config, files, headers, sizes["C"])
    sampling = _sampling(config, files, headers)
    return PlateLayout(
        path=Path(plate_path),
        fov_names=files.fov_names,
        channel_names=names,
        axes=EXPECTED_AXES,
        shape_tczyx=(sampling.n_frames, sizes["C"], sizes["Z"], sizes["Y"], sizes["X"]),
        pixel_types=(next(iter(headers.values())).dtype.name,),
        **vars(sampling),
    )


def read_tiff_sampling(config: TiffSourceConfig) -> PlateSampling:
    """The sampling and time points :func:`tiff_layout` gives the plate, from the file names and ONE
    header: the first file's of the first FOV (:func:`first_fov_files`).

    For what a job needs of the plate (a per-FOV rule's ``params:``, whether a dataset is a movie):
    :func:`tiff_layout` reads every file's header (10^4-10^5 files of one time point each), in every job
    (a SLURM job parses the Snakefile again). It checks nothing across files: the dry run's
    :func:`tiff_layout` refuses files that differ in shape or sampling, or state a sampling value the
    first file does not (so the first file's header states the plate's), and positions that miss a
    time point, or files of one time point each whose ``DeltaT`` contradict the config's interval.
    ``ValueError`` naming the file and the key for what the header or config lack.
    """
    files = first_fov_files(config)
    first = files.paths[0]
    return _sampling(config, files, {first: _read_header(config, first)})


def tiff_layout(config: TiffSourceConfig, paths: Iterable[str | Path], plate_path: str | Path) -> PlateLayout:
    """The layout of the plate rule ``convert_tiff`` writes at ``plate_path`` from ``paths`` (the files
    :func:`find_tiff_files` found), from the files' headers only.

    Checks that every file holds an image of one shape, axes and dtype, that every position has every
    time point, and that metadata and config agree; ``ValueError`` naming the file and the key otherwise.
    """
    files = index_tiff_files(config, paths)
    return layout_from_headers(config, files, read_tiff_headers(config, files), plate_path)
