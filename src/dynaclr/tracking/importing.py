"""Tracks you already have, instead of segmentation and tracking (rule ``import_tracks``).

Four forms are read (``tracks.format``, :class:`~dynaclr.config.tracking.ImportedTracksConfig`):

* ``table``: one CSV or Parquet file, every FOV, columns ``fov_name, track_id, t, y, x`` and
  optionally ``z``, ``parent_track_id`` (-1 or empty: none), ``id`` and ``parent_id``; other
  columns (bounding boxes, scores) are ignored;
* ``ultrack``: one CSV per FOV as ultrack's ``to_tracks_layer`` and napari-iohub write them,
  ``track_id, t, [z,] y, x, id, parent_track_id, parent_id``;
* ``ctc``: one Cell Tracking Challenge result folder per FOV: ``mask<t>.tif`` label images
  (label = track id, 0 = background; (Y, X) or (Z, Y, X)) and ``res_track.txt`` (one ``L B E P``
  line per track, ``P = 0`` for none), or a ground truth's ``TRA`` folder (``man_track<t>.tif``,
  ``man_track.txt``); one label image per frame of the plate, or of a contiguous part of it named
  by the files' frame numbers (the other frames untracked: :data:`TRACKED_FRAMES`), each label in
  exactly the frames ``B .. E`` (:func:`read_ctc_folder`). Centroids are the mean coordinates of each
  label's pixels. A label first seen after a gap whose parent has no other child is the same cell
  (CTC writes a cell lost for frames as a new label whose parent is the label before the gap) and is
  merged into its parent's track (:func:`merge_ctc_continuations`);
* ``trackmate``: one Fiji TrackMate XML file per FOV (:mod:`dynaclr.tracking.trackmate`): the spots of
  the tracks TrackMate keeps, in pixels by the file's calibration (checked against the plate's), the
  spot graph cut into segments at divisions (``id`` the spot ID); merges are refused.

Units: ``t`` in frames of the plate, centroids in pixels (``z`` in slices), or with
``tracks.position_unit: um`` micrometres (:func:`positions_in_pixels`); a ``t`` stepping by the plate's
frame interval in minutes or seconds is refused, another stride of every step warned of
(:func:`frame_stride_warning`). Every row is checked
against the plate (:func:`imported_tracks_problems`); all problems are reported at once, one
line each, naming the file and line (or mask), the column, what was expected and what was found.
The result is the ``tracks`` artifact exactly as :func:`dynaclr.tracking.fov.collect_tracks`
writes it: ``fov_name, track_id, t, [z,] y, x, id, parent_track_id, parent_id``, ``track_id``
unique within a FOV. ``id`` and ``parent_id`` are kept in each FOV whose given ones are usable
(integers, ``id`` unique within the FOV, ``parent_id`` linking as below), else numbered as ultrack
does: ``id`` one per detection, ``parent_id`` the previous detection of the track, for a daughter's
first detection its mother's last, -1 none. A track without ``parent_track_id`` whose first
detection's ``parent_id`` so names another track's last detection, in the frame before, has it as
mother (:func:`parent_id_lineage`; not in a FOV whose ``parent_id`` is otherwise of another
convention), renumbered or not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import ndimage
from tqdm import tqdm

from dynaclr.config.base import position_maps_to
from dynaclr.config.tracking import CTC_LAYOUTS, ImportedTracksConfig, mixed_ctc_layouts
from dynaclr.io import (
    LARGEST_ID,
    ArtifactError,
    StageFiles,
    make_provenance,
    micrometres_to_pixels,
    parse_csv,
    write_table,
)
from dynaclr.io.tables import IMPORT_WARNINGS, POSITION_READINGS
from dynaclr.numerics.timescale import time_unit_of_step
from dynaclr.tracking.engine import NO_PARENT, conform_tracks_table
from dynaclr.tracking.position_check import check_positions_on_cells
from dynaclr.tracking.trackmate import read_trackmate_xml

logger = logging.getLogger(__name__)

#: Columns every imported table must have (per-FOV forms: all but ``fov_name``).
REQUIRED_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t", "y", "x")
#: Where each row came from (file and line, or mask and label), for messages; dropped before writing.
WHERE = "_where"
#: Rows shown per problem before "... and N more".
SHOWN_ROWS = 3
#: Key of the record's ``config`` listing the plate's FOVs the imported tracks have no detection in
#: (in plate order; empty when every FOV has one): those FOVs get no patches.
UNTRACKED_FOVS = "untracked_fovs"
#: Key of the record's ``config`` (format ``trackmate``) giving, per FOV, the spots read, kept and dropped
#: (:class:`~dynaclr.tracking.trackmate.TrackMateCounts`).
TRACKMATE_SPOTS = "trackmate_spots"
#: Key of the record's ``config`` (format ``ctc``) giving, per FOV, the first and last frame its folder has
#: label images for (``{fov_name: [first, last]}``): a folder made on part of the movie leaves the other
#: frames untracked (no cell observation there, which says nothing of the cells in them).
TRACKED_FRAMES = "tracked_frames"
#: Key of the record's ``config`` (format ``ctc``): the plate's number of frames (the tracked ones' whole).
PLATE_FRAMES = "plate_frames"
#: Key of the record's ``config`` (format ``ctc``) giving, per FOV, how many labels continue their parent
#: after a gap as its only child and were merged into its track (:func:`merge_ctc_continuations`; 0
#: when none).
CTC_CONTINUATIONS = "ctc_continuations_merged"


@dataclass(frozen=True)
class CtcTrack:
    """One line of a Cell Tracking Challenge lineage file (``res_track.txt``, ``man_track.txt``):
    label, first and last frame, parent label (0: none). Read here, written by the CTC export."""

    label: int
    begin: int
    end: int
    parent: int


class ImportTracksInputs(StageFiles):
    """Rule ``import_tracks``: the user's files, in the plate's FOV order for the per-FOV forms:
    the table (``table``), one CSV per FOV (``ultrack``), one result folder per FOV (``ctc``,
    with each FOV's ``res_track.txt`` in ``ctc_lineage``) or one XML file per FOV (``trackmate``)."""

    files: tuple[Path, ...]
    ctc_lineage: tuple[Path, ...] = ()
    #: The raw plate, whose images the positions are checked against
    #: (:func:`~dynaclr.tracking.position_check.check_positions_on_cells`); None: not checked.
    plate: Path | None = None


class ImportTracksOutputs(StageFiles):
    """Rule ``import_tracks``: all FOVs' tracks in one table (kind ``tracks``)."""

    tracks: Path


def import_tracks(
    config: ImportedTracksConfig,
    inputs: ImportTracksInputs,
    outputs: ImportTracksOutputs,
    *,
    fov_names: Sequence[str],
    shape_tzyx: Sequence[int],
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
    frame_interval_minutes: float | None = None,
    unitless: Mapping[str, float] | None = None,
    image_files: Mapping[str, Sequence[str]] | None = None,
    positions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read the user's tracks, check them against the plate, write the ``tracks`` artifact.

    Args:
        config: the dataset's ``tracks`` subtree.
        inputs: the files ``config.path`` names (see :class:`ImportTracksInputs`).
        outputs: where the tracks table goes.
        fov_names: the plate's FOVs (``row/col/fov``), in its order; the per-FOV files are in this order.
        shape_tzyx: the plate's (T, Z, Y, X): frames, slices and pixels a cell must lie within.
        pixel_size_um: the plate's pixel size, None where its metadata states none; a TrackMate
            file's calibration must agree with it (format ``trackmate``).
        z_step_um: the plate's z step, likewise (a 3D TrackMate file's voxel depth).
        frame_interval_minutes: the plate's time interval, likewise (a TrackMate file's
            ``timeinterval``).
        unitless: the plate's values read from axes without a unit, by ``acquisition`` key
            (:meth:`~dynaclr.io.plate.PlateSampling.unitless_values`; the three above are then None):
            a guess a TrackMate file is not checked against, said at WARNING.
        image_files: each FOV's TIFF files (``{fov_name: paths}``, a ``tiff:`` dataset's), which a
            TrackMate file's ``ImageData filename`` is compared with: one naming none of them is
            read with a WARNING naming both (a wrong ``tiff.positions``).
        positions: each FOV's TIFF position (``{fov_name: position}``, a ``tiff:`` dataset's): a
            ``fov_name`` holding a position (``Pos0``) where a FOV belongs is refused naming its FOV.

    Raises:
        ArtifactError: a file is missing or unreadable, no FOV has a detection, or the tracks do not
            fit the plate; the message lists every problem found, one line each.
    """
    fov_names = list(fov_names)
    table, notes = read_imported_tracks(
        config,
        inputs,
        fov_names,
        tuple(shape_tzyx),
        pixel_size_um=pixel_size_um,
        z_step_um=z_step_um,
        frame_interval_minutes=frame_interval_minutes,
        unitless=unitless,
        image_files=image_files,
    )
    if config.position_unit == "um":
        table = positions_in_pixels(table, pixel_size_um, config.path, z_step_um)
    if table.empty:  # every later stage would run on no cell and succeed
        shown = ", ".join(str(path) for path in inputs.files[:3]) + (" ..." if len(inputs.files) > 3 else "")
        raise ArtifactError(
            f"{shown}: expected at least one detection (a row, or a label in a CTC mask) in the plate's "
            f"FOVs, found none (tracks.path {config.path!r}, format {config.format!r})"
        )
    problems, typed_and_links = checked_imported_tracks(
        table, fov_names=fov_names, shape_tzyx=tuple(shape_tzyx), positions=positions
    )
    if problems:
        raise ArtifactError(
            f"tracks ({config.format}, {config.path}) do not fit the plate: "
            f"{len(problems)} problem(s):\n" + "\n".join(problems)
        )
    # the checks' typing and parent_id lineage, not read again; the warnings are logged as found
    tracks, conform_warnings = conform_imported_tracks(table, fov_names, typed_and_links)
    stride_warning = frame_stride_warning(tracks, config, frame_interval_minutes)  # refuses t in time units
    warnings = imported_tracks_warnings(
        tracks,
        config.format,
        shape_tzyx=tuple(shape_tzyx),
        pixel_size_um=pixel_size_um,
        frame_step=config.frame_step,
    )
    warnings += [stride_warning] if stride_warning is not None else []
    for warning in warnings:
        logger.warning("tracks (%s): %s", config.path, warning)
    warnings = conform_warnings + warnings
    readings: dict[str, Any] = {}
    if inputs.plate is not None:
        check = check_positions_on_cells(
            tracks,
            inputs.plate,
            position_unit=config.position_unit,
            # a CTC folder's masks and a TrackMate file (converted by its calibration) are pixels
            pixel_size_um=pixel_size_um if config.format in USER_NUMBERED_FORMATS else None,
            source=f"tracks ({config.format}, {config.path})",
        )
        readings[POSITION_READINGS] = check.record
        if check.warning is not None:
            logger.warning(check.warning)
            warnings.append(check.warning)
    present = set(tracks["fov_name"].unique())
    untracked = [fov for fov in fov_names if fov not in present]
    if untracked:
        logger.warning(
            "tracks (%s): %d of %d FOVs of the plate have no detection and get no patches: %s%s",
            config.path,
            len(untracked),
            len(fov_names),
            untracked[:6],
            " ..." if len(untracked) > 6 else "",
        )
    # the record keeps the FOVs without tracks, so a reader of the artifact sees them (not only the log)
    recorded_config = {
        **config.job_params(),  # frame_step only where set: records as before it existed
        UNTRACKED_FOVS: untracked,
        IMPORT_WARNINGS: warnings,
        **notes,
        **readings,
    }
    write_table(
        tracks,
        outputs.tracks,
        make_provenance(
            "tracks",
            recorded_config,
            inputs=[
                *inputs.files,
                *inputs.ctc_lineage,
                *([inputs.plate] if inputs.plate is not None else []),
            ],
            stage="import_tracks",
        ),
    )
    logger.info(
        "imported %d detections of %d tracks in %d FOVs into %s",
        len(tracks),
        len(tracks.drop_duplicates(["fov_name", "track_id"])),
        tracks["fov_name"].nunique(),
        outputs.tracks,
    )
    return tracks


# ------------------------------------------------------------------ reading the four forms
def read_imported_tracks(
    config: ImportedTracksConfig,
    inputs: ImportTracksInputs,
    fov_names: list[str],
    shape_tzyx: tuple[int, ...],
    *,
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
    frame_interval_minutes: float | None = None,
    unitless: Mapping[str, float] | None = None,
    image_files: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The user's tracks as one raw table (values as read, plus :data:`WHERE`), not yet checked, and
    what the record adds about the reading (``trackmate``: :data:`TRACKMATE_SPOTS`).
    ``pixel_size_um``, ``z_step_um``, ``frame_interval_minutes``, ``unitless``: the plate's (None: not
    stated; see :func:`import_tracks`); ``image_files``: each FOV's TIFF files (see there)."""
    if config.format == "table":
        if len(inputs.files) != 1:
            raise ValueError(f"format 'table' reads one file; the rule gives {len(inputs.files)}")
        return read_tracks_table(inputs.files[0]), {}
    if len(inputs.files) != len(fov_names):
        raise ValueError(
            f"format {config.format!r} reads one file or folder per FOV: {len(fov_names)} FOVs, "
            f"{len(inputs.files)} given"
        )
    if config.format == "ctc" and len(inputs.ctc_lineage) != len(fov_names):
        raise ValueError(
            f"format 'ctc' reads one res_track.txt per FOV: {len(fov_names)} FOVs, "
            f"{len(inputs.ctc_lineage)} given"
        )
    if config.format == "ctc":
        mixed = mixed_ctc_layouts(dict(zip(fov_names, map(str, inputs.ctc_lineage), strict=True)))
        if mixed is not None:
            raise ArtifactError(f"tracks.path {config.path!r}: {mixed}")
    tables = []
    spots: dict[str, dict[str, int | str | None]] = {}
    tracked: dict[str, list[int]] = {}
    merged: dict[str, list[tuple[int, int]]] = {}
    for index, fov_name in enumerate(tqdm(fov_names, desc=f"read {config.format} tracks", mininterval=2)):
        if config.format == "ultrack":
            tables.append(read_ultrack_csv(inputs.files[index], fov_name))
        elif config.format == "trackmate":
            path = Path(inputs.files[index])
            table, counts = read_trackmate_xml(
                path,
                fov_name,
                shape_tzyx=shape_tzyx,
                pixel_size_um=pixel_size_um,
                z_step_um=z_step_um,
                frame_interval_minutes=frame_interval_minutes,
                unitless=unitless,
                image_files=None if image_files is None else image_files.get(fov_name),
            )
            tables.append(table.assign(**{WHERE: [f"{path} spot ID {spot}" for spot in table["id"]]}))
            spots[fov_name] = counts.as_dict()
        else:
            table, frames = read_ctc_folder(
                inputs.files[index], inputs.ctc_lineage[index], fov_name, shape_tzyx
            )
            table, merged[fov_name] = merge_ctc_continuations(table)
            tables.append(table)
            tracked[fov_name] = [frames.start, frames.stop - 1]
    has_z = {fov: "z" in table.columns for fov, table in zip(fov_names, tables, strict=True) if len(table)}
    if len(set(has_z.values())) > 1:
        with_z = sorted(fov for fov, z in has_z.items() if z)
        without = sorted(fov for fov, z in has_z.items() if not z)
        raise ArtifactError(
            f"tracks ({config.path}): expected every FOV in 2D (y, x) or every FOV in 3D (z, y, x), found "
            f"z in {with_z[:SHOWN_ROWS]} and none in {without[:SHOWN_ROWS]}"
        )
    notes: dict[str, Any] = {TRACKMATE_SPOTS: spots} if config.format == "trackmate" else {}
    if config.format == "ctc":
        notes.update(
            {
                TRACKED_FRAMES: tracked,
                PLATE_FRAMES: shape_tzyx[0],
                CTC_CONTINUATIONS: {fov: len(pairs) for fov, pairs in merged.items()},
            }
        )
        _warn_untracked_frames(config, tracked, shape_tzyx[0])
        _log_ctc_continuations(config, merged)
    combined = (
        pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=[*REQUIRED_COLUMNS, WHERE])
    )
    return combined, notes


def positions_in_pixels(
    table: pd.DataFrame, pixel_size_um: float | None, path: str, z_step_um: float | None = None
) -> pd.DataFrame:
    """``tracks.position_unit: um``: the table's numeric ``y, x`` divided by the plate's pixel size and
    its ``z``, where it has one, by the plate's z step (a non-numeric cell is left as read, for
    :func:`imported_tracks_problems` to name). A ``z`` of 0 µm throughout (TrackMate's ``POSITION_Z``
    of a 2D image) is slice 0 at any z step, so it needs none.

    Raises:
        ArtifactError: the plate states no pixel size, or the table has a non-zero ``z`` and the plate
            states no z step.
    """
    if pixel_size_um is None:
        raise ArtifactError(
            f"tracks ({path}): position_unit 'um' reads y, x as micrometres, divided by the plate's pixel "
            "size; expected one stated by the plate's metadata or acquisition.pixel_size_um, found none. "
            "Set acquisition.pixel_size_um, or convert y, x to pixels (position_unit: px)"
        )
    if "z" in table.columns and z_step_um is None:
        z = pd.to_numeric(table["z"], errors="coerce")
        nonzero = z.notna() & (z != 0)
        if nonzero.any():
            raise ArtifactError(
                f"tracks ({path}): position_unit 'um' reads column z as micrometres, divided by the "
                f"plate's z step; expected one stated by the plate's metadata or acquisition.z_step_um, "
                f"found none (z is {z[nonzero].iloc[0]:g} µm at {table[WHERE][nonzero].iloc[0]}). Set "
                "acquisition.z_step_um (µm per slice), write z in slices and y, x in pixels "
                "(position_unit: px), or drop column z for 2D tracks"
            )
    return micrometres_to_pixels(table, pixel_size_um, z_step_um)


def untracked_frames(tracked: Sequence[int], n_frames: int) -> list[int]:
    """The plate's frames outside ``tracked`` (``[first, last]``, :data:`TRACKED_FRAMES`)."""
    first, last = tracked
    return [t for t in range(n_frames) if not first <= t <= last]


def frame_runs(frames: Sequence[int]) -> list[tuple[int, int]]:
    """Unbroken runs ``(first, last)`` of sorted frame numbers."""
    runs: list[tuple[int, int]] = []
    for t in frames:
        if runs and t == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def _warn_untracked_frames(
    config: ImportedTracksConfig, tracked: Mapping[str, list[int]], n_frames: int
) -> None:
    """Say at WARNING which FOVs' CTC folders cover part of the movie only, and which frames they cover."""
    partial = {fov: span for fov, span in tracked.items() if untracked_frames(span, n_frames)}
    if partial:
        spans = list(partial.items())[:6]
        shown = ", ".join(f"{fov}: frames {first} .. {last}" for fov, (first, last) in spans)
        logger.warning(
            "tracks (%s): %d of %d FOVs' CTC folders cover part of the plate's %d frames (0 .. %d) only: "
            "%s%s; the other frames are untracked (no cell observation, no patch there; recorded as %s)",
            config.path,
            len(partial),
            len(tracked),
            n_frames,
            n_frames - 1,
            shown,
            " ..." if len(partial) > 6 else "",
            TRACKED_FRAMES,
        )


#: The column keys of TrackMate's spots CSV export ("Spots" table, Export to CSV) and the table's column
#: each is: no table is read so (the import reads TrackMate's XML, ``format: trackmate``); a refusal of
#: such a file says how to give either.
TRACKMATE_SPOT_COLUMNS = {"TRACK_ID": "track_id", "FRAME": "t", "POSITION_Y": "y", "POSITION_X": "x"}


def _trackmate_export_hint(columns: Sequence[object], required: Sequence[str]) -> str:
    """What to do with TrackMate's spots CSV export given as a table (or an ultrack CSV), else ''."""
    if not set(TRACKMATE_SPOT_COLUMNS) <= set(columns):
        return ""
    renames = ", ".join(f"{key} -> {name}" for key, name in TRACKMATE_SPOT_COLUMNS.items())
    add_fov = ", add fov_name (row/column/fov)" if "fov_name" in required else ""
    return (
        ". These are TrackMate's spots CSV export columns, which are not read as they are: import "
        "TrackMate's own XML file (File > Save) with tracks.format: trackmate, or rename the columns "
        f"({renames}, and POSITION_Z -> z for 3D tracks){add_fov}, drop the three rows under the header "
        "(names, short names, units) and, "
        "as its positions are calibrated, set tracks.position_unit: um (z is then divided by the "
        "plate's z step)"
    )


def _check_columns(table: pd.DataFrame, path: Path, required: Sequence[str]) -> None:
    missing = [name for name in required if name not in table.columns]
    if missing:
        raise ArtifactError(
            f"{path}: expected columns {list(required)} (tracks), missing {missing}; "
            f"found {list(table.columns)}{_trackmate_export_hint(list(table.columns), required)}"
        )


def _with_lines(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Add :data:`WHERE`: ``<file> line <n>`` (CSV, the header is line 1) or ``<file> row <i>`` (Parquet)."""
    if path.suffix.lower() == ".csv":
        where = [f"{path} line {n}" for n in range(2, len(table) + 2)]
    else:
        where = [f"{path} row {n}" for n in range(len(table))]
    return table.assign(**{WHERE: where})


#: Positions in µm on a plate of sub-µm pixels fill the fraction ``pixel_size_um`` of the image: warned
#: only where the largest y and x reach beyond this share of that box too (a field of cells converted
#: to µm), not where the cells sit in one corner of the image (a colony tracked by hand).
MICROMETRE_BOX_FILL = 0.8


def read_tracks_table(path: str | Path) -> pd.DataFrame:
    """A ``table`` file (CSV or Parquet) as read, with :data:`WHERE`; fails on a missing file or column."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: tracks table not found (datasets.<name>.tracks.path)")
    try:
        table = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else parse_csv(path)
    except Exception as err:  # pandas and pyarrow raise many error types for an unreadable file
        raise ArtifactError(f"{path}: cannot read the tracks table: {err}") from err
    _check_columns(table, path, REQUIRED_COLUMNS)
    # a Parquet file keeps the index pandas saved (repeated labels where per-FOV tables were joined
    # without ignore_index): rows are named by their position, as the CSV's by their line
    return _with_lines(table.reset_index(drop=True), path)


def read_ultrack_csv(path: str | Path, fov_name: str) -> pd.DataFrame:
    """One FOV's ultrack tracks CSV as read, with ``fov_name`` and :data:`WHERE`."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: tracks CSV of FOV {fov_name} not found (datasets.<name>.tracks.path)")
    try:
        table = parse_csv(path)
    except Exception as err:  # pandas raises several error types for an unreadable file
        raise ArtifactError(f"{path}: cannot read the tracks CSV of FOV {fov_name}: {err}") from err
    _check_columns(table, path, REQUIRED_COLUMNS[1:])
    if "fov_name" in table.columns:  # a CSV may name its FOV: it must be the one the file is read for
        _check_ultrack_fov_column(table["fov_name"], path, fov_name)
        table = table.drop(columns="fov_name")
    table.insert(0, "fov_name", fov_name)
    return _with_lines(table, path)


def _check_ultrack_fov_column(values: pd.Series, path: Path, fov_name: str) -> None:
    """Refuse an ultrack CSV whose ``fov_name`` column names another FOV than the one it is read for.

    ``tracks.path`` assigns the file to ``fov_name``; a column naming another FOV means the pattern
    maps files to the wrong FOVs (or the CSV holds several FOVs), and its tracks would be cut from
    the wrong images. Empty cells are allowed; names compare without surrounding spaces or slashes.
    """
    given = values.astype(str).str.strip().str.strip("/")
    wrong = values.notna() & (given != fov_name)
    if wrong.any():
        found = sorted(set(given[wrong]))
        first_line = int(np.flatnonzero(wrong.to_numpy())[0]) + 2  # the header is line 1
        raise ArtifactError(
            f"{path} line {first_line}: column 'fov_name': expected FOV {fov_name!r} (the FOV tracks.path "
            f"assigns this file to) in every row, found {found[:SHOWN_ROWS]}"
            f"{' ...' if len(found) > SHOWN_ROWS else ''} in {int(wrong.sum())} of {len(values)} rows; "
            "check tracks.path's {row}/{col}/{fov} placeholders (or, with {position}, tiff.positions), or "
            "give one CSV per FOV"
        )


def read_ctc_lineage(path: str | Path) -> dict[int, tuple[CtcTrack, int]]:
    """``res_track.txt`` (or ``man_track.txt``): ``{label: (its L B E P line, line number)}``, parent 0
    for none.

    Each line ``L B E P`` holds four non-negative integers (spaces or tabs, CRLF line endings and a
    UTF-8 byte order mark allowed), a new label ``L > 0``, ``B <= E``, and ``P`` 0 or a label of a line
    of the file (the frames are checked against the masks by :func:`read_ctc_folder`).
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: {path.name} not found (the CTC folder's lineage)")
    lines: dict[int, tuple[CtcTrack, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4 or not all(re.fullmatch(r"\d+", field) for field in fields):
            raise ArtifactError(
                f"{path} line {number}: expected 'L B E P' (four non-negative integers), "
                f"found {line.strip()!r}"
            )
        label, begin, end, parent = (int(field) for field in fields)
        if label == 0 or label in lines or begin > end:
            problem = (
                "label 0"
                if label == 0
                else f"label {label} again (first at line {lines[label][1]})"
                if label in lines
                else "B > E"
            )
            raise ArtifactError(
                f"{path} line {number}: expected a new label L > 0 and B <= E, "
                f"found {problem} ({line.strip()!r})"
            )
        lines[label] = (CtcTrack(label, begin, end, parent), number)
    for track, number in lines.values():
        if track.parent and track.parent not in lines:
            raise ArtifactError(
                f"{path} line {number}: column P (parent) of label {track.label}: expected 0 or a label of "
                f"this file (column L), found {track.parent}"
            )
    return lines


def label_centroids(mask: NDArray) -> pd.DataFrame:
    """``track_id`` and centroid (mean pixel coordinates: ``[z,] y, x``) of every label of a mask."""
    labels = np.unique(mask)
    labels = labels[labels > 0]
    axes = ["z", "y", "x"] if mask.ndim == 3 else ["y", "x"]
    if labels.size == 0:
        return pd.DataFrame({"track_id": pd.Series([], dtype="int64"), **{a: [] for a in axes}})
    centroids = np.array(
        ndimage.center_of_mass(np.ones(mask.shape, np.float32), mask, labels), dtype=np.float64
    )
    return pd.DataFrame({"track_id": labels.astype(np.int64), **dict(zip(axes, centroids.T, strict=True))})


def _some(frames: list[int], shown: int = 10) -> str:
    """The first ``shown`` of ``frames``, then `` ...`` where there are more."""
    return f"{frames[:shown]}{' ...' if len(frames) > shown else ''}"


def ctc_masks(folder: Path, prefix: str, n_frames: int) -> dict[int, Path]:
    """The label images ``<prefix><t>.tif`` of a CTC folder, ``{frame: path}``: one per frame of a
    contiguous run ``first .. last`` within the plate's ``0 .. n_frames - 1``.

    CTC names a label image by its frame, counted from 0 (``t`` padded to three digits, four in long
    movies: ``mask000.tif`` or ``mask0000.tif``), so the file numbers say which frames a folder made on
    part of the movie covers (e.g. ``mask010.tif .. mask049.tif``); the frames outside the run are
    untracked (:func:`read_ctc_folder`). The ending is ``.tif`` or ``.tiff`` in any case (Fiji on
    Windows writes ``mask000.TIF``); the prefix is as CTC names it.

    Raises:
        ArtifactError: no label image, two files for one frame, a frame inside the run without its
            file, or files for frames beyond the plate's (a folder counted from 1, or made for another
            movie).
    """
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)\.(?i:tiff?)")
    by_frame: dict[int, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if (match := pattern.fullmatch(path.name)) is not None:
            by_frame.setdefault(int(match.group(1)), []).append(path)
    if not by_frame:
        raise ArtifactError(
            f"{folder}: expected {prefix}<t>.tif label images (or .tiff, any case; CTC layouts: lineage "
            "file and label images "
            f"{CTC_LAYOUTS}), found none"
        )
    repeated = {t: paths for t, paths in by_frame.items() if len(paths) > 1}
    if repeated:
        t, paths = min(repeated.items())
        raise ArtifactError(
            f"{folder}: expected one label image per frame, found {len(repeated)} frames with several, "
            f"e.g. frame {t}: {[p.name for p in paths]}"
        )
    frames = sorted(by_frame)
    missing = sorted(set(range(frames[0], min(frames[-1], n_frames - 1) + 1)) - set(frames))
    extra = [t for t in frames if t >= n_frames]
    if missing or extra:
        found = f"frames {frames[0]} .. {frames[-1]} ({len(frames)} files)"
        details = [f"no file for frames {_some(missing)}"] if missing else []
        details += [f"files beyond the plate for frames {_some(extra)}"] if extra else []
        advice = (
            [
                "renumber the files to the plate's frames (mask<t>.tif holds frame t), or give the "
                "dataset the movie the folder was made on"
            ]
            if extra
            else []
        )
        advice += ["a frame without a cell needs an empty (all 0) label image"] if missing else []
        raise ArtifactError(
            f"{folder}: expected a label image {prefix}<t>.tif for each frame of a contiguous run within "
            f"the plate's {n_frames} frames (t = 0 .. {n_frames - 1}; CTC counts frames from 0 and names "
            f"each file by its frame), found {found}: " + "; ".join(details) + "; " + "; ".join(advice)
        )
    return {t: by_frame[t][0] for t in frames}


def read_ctc_folder(
    folder: str | Path, lineage_path: str | Path, fov_name: str, shape_tzyx: Sequence[int]
) -> tuple[pd.DataFrame, range]:
    """One FOV's CTC folder: a row per label and mask (centroid), lineage from its lineage file, and
    the frames it tracked.

    ``lineage_path`` is ``res_track.txt`` (label images ``mask<t>.tif``) or a ground truth's
    ``man_track.txt`` (``man_track<t>.tif``). ``shape_tzyx`` is the plate's (T, Z, Y, X): one label
    image per frame of a contiguous run of the plate's frames, every frame or part of the movie
    (:func:`ctc_masks`), each (Y, X) or (Z, Y, X) of it, labels non-negative; every label of the lineage
    file is in every frame from its ``B`` to its ``E`` and in no other (the CTC convention: a cell that
    is lost for some frames comes back as a new label whose parent is the one before the gap).

    Returns:
        The rows, and the frames the folder has label images for (``range(first, last + 1)``): the
        frames outside it were not tracked, which is not the same as holding no cell.
    """
    import tifffile

    folder, lineage_path = Path(folder), Path(lineage_path)
    if not folder.is_dir():
        raise ArtifactError(
            f"{folder}: CTC result folder of FOV {fov_name} not found (datasets.<name>.tracks.path)"
        )
    lines = read_ctc_lineage(lineage_path)
    n_t, n_z, n_y, n_x = shape_tzyx
    masks = ctc_masks(folder, CTC_LAYOUTS.get(lineage_path.name, "mask"), n_t)
    _check_ctc_frames(lines, lineage_path, n_t)
    _check_ctc_run(lines, lineage_path, folder, min(masks), max(masks))
    tables = []
    for t, path in masks.items():
        mask = tifffile.imread(path)
        if mask.shape not in ((n_y, n_x), (n_z, n_y, n_x)):
            raise ArtifactError(
                f"{path}: expected a label image of the plate's (Y, X) {(n_y, n_x)} or (Z, Y, X) "
                f"{(n_z, n_y, n_x)}, found shape {mask.shape}"
            )
        if not np.issubdtype(mask.dtype, np.integer):
            raise ArtifactError(f"{path}: expected integer labels, found dtype {mask.dtype}")
        if mask.size and mask.min() < 0:
            raise ArtifactError(
                f"{path}: expected labels >= 0 (0 background), found {int((mask < 0).sum())} pixels below 0 "
                f"(smallest {int(mask.min())}, dtype {mask.dtype})"
            )
        centroids = label_centroids(mask)
        centroids.insert(1, "t", t)
        centroids[WHERE] = [f"{path} label {label}" for label in centroids["track_id"]]
        tables.append(centroids)
    table = pd.concat(tables, ignore_index=True)
    unknown = sorted(set(table["track_id"].tolist()) - set(lines))
    if unknown:
        first = table.loc[table["track_id"] == unknown[0], WHERE].iloc[0]
        raise ArtifactError(
            f"{first}: expected every mask label in {lineage_path} (column L), found labels {unknown[:10]} "
            "missing there"
        )
    _check_ctc_spans(table, lines, lineage_path)
    parents = {label: track.parent if track.parent > 0 else NO_PARENT for label, (track, _) in lines.items()}
    table["parent_track_id"] = table["track_id"].map(parents).astype("int64")
    table.insert(0, "fov_name", fov_name)
    return table, range(min(masks), max(masks) + 1)


def merge_ctc_continuations(table: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    """One FOV's CTC rows (:func:`read_ctc_folder`) with each label that is its parent's only child
    and first seen after a gap merged into its parent's track, and the ``(parent, child)`` label pairs
    merged (sorted).

    CTC writes a cell lost for frames as a new label whose parent is the label before the gap (as the
    CTC export of this workflow does); a division is a parent with two or more children. Read as
    divisions, such continuations became lineage ``mitosis`` labels and DTW division events that never
    happened. The merged rows take the parent's ``track_id`` (the first label of the chain: several
    gaps merge fully) and its ``parent_track_id``; the child's own children name the merged track as
    parent. A single child starting in the frame right after its parent's last is kept as a daughter:
    a tool that follows a cell keeps its label, and a mother whose other daughter is not in the image
    (left the field) is written so (the simulator's ground truth has such divisions). A single child
    starting at or before its parent's last frame is left as it is (refused as a lineage problem by
    :func:`imported_tracks_problems`).
    """
    spans = table.groupby("track_id").agg(
        first=("t", "min"), last=("t", "max"), parent=("parent_track_id", "first")
    )
    children = spans.loc[spans["parent"] != NO_PARENT].groupby("parent").size()
    merged: list[tuple[int, int]] = []
    root: dict[int, int] = {}
    for label in spans.sort_values(["first"], kind="stable").index.tolist():
        parent = int(spans.at[label, "parent"])
        continues = (
            parent != NO_PARENT
            and parent in spans.index
            and int(children.get(parent, 0)) == 1
            and int(spans.at[label, "first"]) > int(spans.at[parent, "last"]) + 1
        )
        root[int(label)] = root.get(parent, parent) if continues else int(label)
        if continues:
            merged.append((parent, int(label)))
    if not merged:
        return table, []
    track = table["track_id"].map(root).astype("int64")
    root_parent = spans["parent"].astype("int64").map(lambda parent: root.get(int(parent), int(parent)))
    merged_table = table.assign(
        track_id=track, parent_track_id=track.map(root_parent).astype("int64").to_numpy()
    )
    return merged_table, sorted(merged)


def _log_ctc_continuations(config: ImportedTracksConfig, merged: Mapping[str, list[tuple[int, int]]]) -> None:
    """Say how many CTC labels were merged into their parent's track (:func:`merge_ctc_continuations`)."""
    total = sum(len(pairs) for pairs in merged.values())
    if total:
        fov, pairs = next((fov, pairs) for fov, pairs in merged.items() if pairs)
        logger.info(
            "tracks (%s): %d CTC label(s) in %d of %d FOVs are their parent's only child first seen after "
            "a gap: a cell lost for frames (CTC's new label after a gap), not a division; merged into the "
            "parent's track (e.g. FOV %s, label %d into %d; recorded as %s)",
            config.path,
            total,
            sum(1 for pairs in merged.values() if pairs),
            len(merged),
            fov,
            pairs[0][1],
            pairs[0][0],
            CTC_CONTINUATIONS,
        )


def _check_ctc_frames(lines: Mapping[int, tuple[CtcTrack, int]], lineage_path: Path, n_t: int) -> None:
    """Each line's frames ``B .. E`` lie within the plate's ``n_t`` frames (checked before any span is
    built: a corrupt ``E`` would otherwise make a set of that many frames)."""
    for track, number in sorted(lines.values(), key=lambda line: line[1]):
        if not 0 <= track.begin <= track.end < n_t:
            raise ArtifactError(
                f"{lineage_path} line {number}: label {track.label}: expected frames B .. E within the "
                f"plate's {n_t} frames (0 .. {n_t - 1}, B <= E), found B = {track.begin}, E = {track.end} "
                f"({track.label} {track.begin} {track.end} {track.parent})"
            )


def _shown_problems(problems: list[str], lineage_path: Path, what: str) -> None:
    """Refuse ``problems`` (one line per label of ``lineage_path``; the first few, then how many more)."""
    if problems:
        shown = problems[: 2 * SHOWN_ROWS] + (
            [f"... and {len(problems) - 2 * SHOWN_ROWS} more labels"]
            if len(problems) > 2 * SHOWN_ROWS
            else []
        )
        raise ArtifactError(f"{lineage_path}: {len(problems)} label(s) {what}:\n" + "\n".join(shown))


def _check_ctc_run(
    lines: Mapping[int, tuple[CtcTrack, int]], lineage_path: Path, folder: Path, first: int, last: int
) -> None:
    """Each line's frames ``B .. E`` lie within the run ``first .. last`` the folder has label images
    for (checked before the masks are compared with the lines: frames without a label image are
    untracked, not frames a cell was lost in)."""
    problems = [
        f"{lineage_path} line {number}: label {track.label}: expected frames B .. E within the frames "
        f"{first} .. {last} the folder has label images for, found B = {track.begin}, E = {track.end} "
        f"({track.label} {track.begin} {track.end} {track.parent})"
        for track, number in sorted(lines.values(), key=lambda line: line[1])
        if track.begin < first or track.end > last
    ]
    _shown_problems(
        problems,
        lineage_path,
        f"reach frames without a label image ({folder} covers frames {first} .. {last} only: the others "
        f"are untracked); cut each line to the run (B >= {first}, E <= {last}; a line wholly outside it "
        "goes, and a daughter whose mother went gets P = 0), or add the label images of the frames it "
        "reaches",
    )


def _check_ctc_spans(
    table: pd.DataFrame, lines: Mapping[int, tuple[CtcTrack, int]], lineage_path: Path
) -> None:
    """Each label of the lineage file is in the masks of frames ``B .. E`` and no other frame."""
    present = table.groupby("track_id")["t"].agg(lambda ts: set(ts.tolist())).to_dict()
    problems = []
    for label, (track, number) in sorted(lines.items(), key=lambda item: item[1][1]):
        frames = present.get(label, set())
        span = set(range(track.begin, track.end + 1))
        if frames == span:
            continue
        if not frames:
            found = "in no mask"
        else:
            absent, outside = sorted(span - frames), sorted(frames - span)
            parts = [f"absent from frames {_some(absent)}"] if absent else []
            parts += [f"also in frames {_some(outside)}"] if outside else []
            found = "; ".join(parts)
        problems.append(
            f"{lineage_path} line {number}: label {label}: expected in the masks of frames "
            f"{track.begin} .. {track.end} (B .. E; a cell lost for frames comes back as a new label "
            f"with this one as parent), found it {found}"
        )
    _shown_problems(problems, lineage_path, "disagree with the masks")


# ------------------------------------------------------------------ checks against the plate
def _cell(row: pd.Series) -> str:
    return f"FOV {row['fov_name']}, track {row['track_id']}, t {row['t']}"


def _row_problems(table: pd.DataFrame, bad: pd.Series, column: str, expected: str) -> list[str]:
    """One line per offending row (the first :data:`SHOWN_ROWS`), then how many more."""
    rows = table.loc[bad.to_numpy()]
    problems = [
        f"{row[WHERE]} ({_cell(row)}): column {column!r}: expected {expected}, found {row[column]!r}"
        for _, row in rows.head(SHOWN_ROWS).iterrows()
    ]
    if len(rows) > SHOWN_ROWS:
        problems.append(
            f"... and {len(rows) - SHOWN_ROWS} more rows whose column {column!r} is not {expected}"
        )
    return problems


def _numeric(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _value_problems(table: pd.DataFrame) -> list[str]:
    """Types: integer frames and track ids, numeric coordinates, integer or empty parents."""
    problems = []
    for column in ("track_id", "t"):
        values = _numeric(table[column])
        bad = values.isna() | (values != np.round(values)) | (values < 0)
        problems += _row_problems(table, bad, column, "a non-negative integer")
        problems += _row_problems(table, ~bad & (values >= LARGEST_ID), column, "an integer below 2**53")
    if "parent_track_id" in table.columns:
        values = _numeric(table["parent_track_id"])
        given = table["parent_track_id"].notna()
        bad = given & (values.isna() | (values != np.round(values)) | (values < NO_PARENT))
        problems += _row_problems(table, bad, "parent_track_id", "a track id, or -1 or empty for none")
        problems += _row_problems(
            table, ~bad & (values >= LARGEST_ID), "parent_track_id", "an integer below 2**53"
        )
    for column in [c for c in ("z", "y", "x") if c in table.columns]:
        values = _numeric(table[column])
        problems += _row_problems(table, ~np.isfinite(values), column, "a finite number (pixels)")
    return problems


def imported_tracks_problems(
    table: pd.DataFrame, *, fov_names: Sequence[str], shape_tzyx: tuple[int, ...]
) -> list[str]:
    """Every way the raw imported ``table`` does not fit the plate, one line each (empty: it fits).

    Checked: FOVs of the plate; integer ``t`` and ``track_id`` in ``[0, 2**53)``;
    finite coordinates;
    cells inside the movie (``t < T``, ``z`` in ``[0, Z)``, ``y`` in ``[0, Y)``, ``x`` in ``[0, X)``);
    one row per ``(fov_name, track_id, t)``; one parent per track, a track of the same FOV whose
    last frame is before the child's first.
    """
    return checked_imported_tracks(table, fov_names=fov_names, shape_tzyx=shape_tzyx)[0]


def checked_imported_tracks(
    table: pd.DataFrame,
    *,
    fov_names: Sequence[str],
    shape_tzyx: tuple[int, ...],
    positions: Mapping[str, str] | None = None,
) -> tuple[list[str], tuple[pd.DataFrame, ParentIdLinks] | None]:
    """:func:`imported_tracks_problems`, and the :func:`typed_tracks_and_links` of ``table`` the checks
    computed (None where a FOV or value problem came before the typing), for
    :func:`conform_imported_tracks` to take rather than read the ``parent_id`` lineage again.
    ``positions``: each FOV's TIFF position (:func:`import_tracks`)."""
    known = set(fov_names)
    fov_of_position = {position: fov for fov, position in (positions or {}).items()}
    unknown = ~table["fov_name"].astype(str).isin(known)
    if unknown.any():
        shown = list(fov_names[:6]) + (["..."] if len(fov_names) > 6 else [])
        problems = []
        bad_rows = table.loc[unknown.to_numpy()]
        for value, rows in bad_rows.groupby(bad_rows["fov_name"].astype(str), sort=True):
            problems.append(
                f"{rows[WHERE].iloc[0]}: column 'fov_name': expected a FOV of the plate {shown}, "
                f"found {value!r} ({len(rows)} rows)"
                + (
                    f"; {value} is a TIFF position, not a FOV: "
                    f"{position_maps_to(value, fov_of_position[value])}, so write {fov_of_position[value]}"
                    if value in fov_of_position
                    else ""
                )
            )
        return problems, None
    problems = _value_problems(table)
    if problems:
        return problems, None
    numbers, links = typed_tracks_and_links(table)
    n_t, n_z, n_y, n_x = shape_tzyx
    problems += _row_problems(table, numbers["t"] >= n_t, "t", f"a frame of the plate (t < {n_t})")
    bounds = {"y": n_y, "x": n_x, "z": n_z}
    for axis in [a for a in ("z", "y", "x") if a in numbers.columns]:
        outside = (numbers[axis] < 0) | (numbers[axis] >= bounds[axis])
        problems += _row_problems(
            table, outside, axis, f"a coordinate in [0, {bounds[axis]}) (the plate's size)"
        )
    problems += _repeated_cell_problems(numbers, table[WHERE])
    problems += _ambiguous_parent_id_problems(links.ambiguous, table)
    return problems + _lineage_problems(numbers, table[WHERE]), (numbers, links)


def _repeated_cell_problems(numbers: pd.DataFrame, where: pd.Series) -> list[str]:
    """A row whose ``(fov_name, track_id, t)`` an earlier row already has, with that earlier row."""
    key = ["fov_name", "track_id", "t"]
    repeated = numbers.duplicated(key, keep="first").to_numpy()
    if not repeated.any():
        return []
    first_where = numbers.assign(**{WHERE: where}).drop_duplicates(key).set_index(key)[WHERE]
    problems = []
    for index in np.flatnonzero(repeated)[:SHOWN_ROWS]:
        fov, track, t = (numbers.iloc[index][name] for name in key)
        problems.append(
            f"{where.iloc[index]} (FOV {fov}, track {track}, t {t}): columns (fov_name, track_id, t): "
            f"expected one row per cell and frame, found this cell at t {t} already at "
            f"{first_where.loc[(fov, track, t)]}"
        )
    if repeated.sum() > SHOWN_ROWS:
        problems.append(
            f"... and {int(repeated.sum()) - SHOWN_ROWS} more rows repeating a (fov_name, track_id, t)"
        )
    return problems


def typed_tracks_and_links(table: pd.DataFrame) -> tuple[pd.DataFrame, ParentIdLinks]:
    """The checked columns typed (``fov_name`` str, ids and ``t`` int64, no parent -1, centroids
    float64; a mother ``parent_id`` gives where ``parent_track_id`` gives none) and the
    :func:`parent_id_lineage` read (no link where the table has no ``id`` and ``parent_id``)."""
    links = ParentIdLinks(pd.Series(NO_PARENT, index=table.index), _NO_ROWS, _NO_ROWS)
    typed = pd.DataFrame(
        {
            "fov_name": table["fov_name"].astype(str),
            "track_id": _numeric(table["track_id"]).astype("int64"),
            "t": _numeric(table["t"]).astype("int64"),
        }
    )
    for axis in [a for a in ("z", "y", "x") if a in table.columns]:
        typed[axis] = _numeric(table[axis])
    parents = _numeric(table["parent_track_id"]) if "parent_track_id" in table.columns else None
    typed["parent_track_id"] = NO_PARENT if parents is None else parents.fillna(NO_PARENT).astype("int64")
    if {"id", "parent_id"} <= set(table.columns):
        links = parent_id_lineage(typed, table)
        implied, given = links.implied.to_numpy(), typed["parent_track_id"].to_numpy()
        typed["parent_track_id"] = np.where(implied == NO_PARENT, given, implied)
    return typed, links


#: Most daughters a division gives: a ``parent_id`` naming one track's last detection from the first
#: detections of more tracks is a "none" marker of another convention (e.g. 0 where some track's last
#: detection has id 0), not a division (:func:`parent_id_lineage`).
MOST_DAUGHTERS = 2
#: An empty table (:class:`ParentIdLinks`'s ``ambiguous`` and ``unlinked`` where nothing is).
_NO_ROWS = pd.DataFrame()


@dataclass(frozen=True)
class ParentIdLinks:
    """What :func:`parent_id_lineage` read from ``parent_id``.

    Attributes:
        implied: per row of ``typed`` (aligned), the parent track its ``parent_id`` names (-1: none, or
            the track has a ``parent_track_id``).
        ambiguous: the tracks' first rows whose ``parent_id`` names the last detections of several tracks
            ending in the frame before (ids repeated within a FOV), with ``row`` (position in ``typed``),
            ``fov_name``, ``track_id``, ``t`` (the track's first), ``parent_id`` and ``candidates``.
        unlinked: the tracks' first rows whose ``parent_id`` names another track's last detection, at
            or before their first frame, but not as a division is linked (that detection not in the
            frame before, or the track named by more than :data:`MOST_DAUGHTERS` first detections),
            one row per track named, with ``fov_name``, ``track_id``, ``t`` (the track's first),
            ``parent_track`` and ``parent_t`` (its last frame).
    """

    implied: pd.Series
    ambiguous: pd.DataFrame
    unlinked: pd.DataFrame


def parent_id_lineage(typed: pd.DataFrame, table: pd.DataFrame) -> ParentIdLinks:
    """The lineage a table holds only in ``parent_id``: for each track without a ``parent_track_id``
    whose first detection's ``parent_id`` is the ``id`` of another track's last detection, in the frame
    just before, in the same FOV (ultrack's convention: a daughter's first detection links to her
    mother's last, one frame earlier), that track is its parent. Not read as lineage:

    * a ``parent_id`` naming a track's last detection not in the frame just before (a daughter first
      seen after a missed frame, or a tool's new id for a track continued after a gap: a division or the
      same cell, which the ids cannot tell), nor one naming a track named so by the first detections of
      more than :data:`MOST_DAUGHTERS` tracks in all (a "none" marker such as 0, not a division): these
      are ``unlinked``, said by :func:`log_unlinked_parent_ids`, and do not count against the FOV below
      (a track ending after the daughter's first frame is no candidate, nor, for a first row with a
      candidate in the frame before, any other track: with ids counted per frame one id is the last of
      many tracks, so it neither makes those a marker nor is listed);
    * any ``parent_id`` of a FOV whose ``parent_id`` column, with these links, is not each track's
      previous detection (for a track's first its mother's last, -1 or empty none): the FOV's ids are
      of another convention, so its links are chance matches (e.g. 0 for none where a detection has
      id 0).

    Args:
        typed: the typed columns of :func:`typed_tracks_and_links` (``parent_track_id`` as given, -1 none).
        table: the raw table, with ``id`` and ``parent_id`` (integers or not: others link nothing).

    Returns:
        the links read, refused as ambiguous and not read (:class:`ParentIdLinks`).
    """
    rows = typed[["fov_name", "track_id", "t", "parent_track_id"]].reset_index(drop=True)
    rows["id"] = _numeric(table["id"]).to_numpy()
    rows["parent_id"] = _numeric(table["parent_id"]).to_numpy()
    rows["row"] = np.arange(len(rows))
    ordered = rows.sort_values(["fov_name", "track_id", "t"], kind="stable")
    by_track = ordered.groupby(["fov_name", "track_id"], sort=False)
    orphan = by_track["parent_track_id"].transform("max") == NO_PARENT
    firsts = ordered[~by_track.cumcount(ascending=True).astype(bool) & orphan & ordered["parent_id"].notna()]
    lasts = ordered[~by_track.cumcount(ascending=False).astype(bool) & ordered["id"].notna()]
    links = firsts[["fov_name", "track_id", "t", "parent_id", "row"]].merge(
        lasts[["fov_name", "track_id", "t", "id"]].rename(
            columns={"track_id": "parent_track", "t": "parent_t", "id": "parent_id"}
        ),
        on=["fov_name", "parent_id"],
    )
    links = links[links["parent_track"] != links["track_id"]].drop_duplicates(["row", "parent_track"])
    # a mother ends before her daughter starts; a row with a candidate in the frame before names no
    # other track (ids counted per frame: its id is the last of tracks ending at other frames too)
    links = links[(links["parent_t"] <= links["t"]).to_numpy()]
    in_time = (links["parent_t"] == links["t"] - 1).to_numpy()
    links = links[in_time | ~links["row"].isin(set(links.loc[in_time, "row"])).to_numpy()]
    # a "none" marker names one track from many tracks' firsts, in the frame before or not
    n_named = links.groupby(["fov_name", "parent_track"])["row"].transform("nunique")
    marker = (n_named > MOST_DAUGHTERS).to_numpy()
    timely = links[(links["parent_t"] == links["t"] - 1).to_numpy() & ~marker]
    n_candidates = timely.groupby("row")["parent_track"].transform("size")
    single = timely[n_candidates == 1]
    ambiguous_rows = set(timely.loc[n_candidates > 1, "row"])
    unlinked = links[~links["row"].isin(ambiguous_rows | set(single["row"]))]
    agreeing = _fovs_agreeing_with_links(rows, single, ambiguous_rows | set(unlinked["row"]))
    single = single[single["fov_name"].isin(agreeing)]
    parent_of = pd.Series(
        single["parent_track"].to_numpy(), index=pd.MultiIndex.from_frame(single[["fov_name", "track_id"]])
    )
    key = pd.MultiIndex.from_frame(rows[["fov_name", "track_id"]])
    implied = pd.Series(
        parent_of.reindex(key).fillna(NO_PARENT).astype("int64").to_numpy(), index=typed.index
    )
    several = timely[(n_candidates > 1) & timely["fov_name"].isin(agreeing)]
    ambiguous = (
        several.sort_values(["row", "parent_track"])
        .groupby(["row", "fov_name", "track_id", "t", "parent_id"], sort=True)["parent_track"]
        .agg(list)
        .rename("candidates")
        .reset_index()
    )
    unlinked = unlinked.sort_values(["fov_name", "track_id", "parent_track"])
    return ParentIdLinks(
        implied, ambiguous, unlinked[["fov_name", "track_id", "t", "parent_track", "parent_t"]]
    )


def log_unlinked_parent_ids(unlinked: pd.DataFrame) -> str | None:
    """Say at WARNING the daughters' links :func:`parent_id_lineage` did not read (its ``unlinked``):
    the count and the first few, each with its FOV, track, the track named and the frames between.

    Returns:
        the WARNING's text (for the record's ``import_warnings``), None where every link was read.
    """
    if unlinked.empty:
        return None
    shown = [
        f"FOV {row.fov_name} track {row.track_id} (first t {row.t}) naming track {row.parent_track} "
        f"(last t {row.parent_t}, "
        + (f"{row.t - row.parent_t - 1} frame(s) between)" if row.parent_t < row.t else "the same frame)")
        for row in unlinked.head(SHOWN_ROWS).itertuples(index=False)
    ]
    more = f" ... and {len(unlinked) - SHOWN_ROWS} more" if len(unlinked) > SHOWN_ROWS else ""
    message = (
        f"{len(unlinked)} tracks' first parent_id names another track's last detection not in the frame "
        f"before, or a track so named by more than {MOST_DAUGHTERS} tracks (a none marker): not linked, "
        "these tracks have no mother (a daughter first seen after a missed frame, or a track continued "
        "under a new id after a gap: give the mother in parent_track_id, or the same track_id for one "
        f"cell): {'; '.join(shown)}{more}"
    )
    logger.warning("%s", message)
    return message


def _fovs_agreeing_with_links(rows: pd.DataFrame, links: pd.DataFrame, ambiguous_rows: set[int]) -> set[str]:
    """The FOVs of ``rows`` (:func:`parent_id_lineage`'s) whose ``parent_id`` is each track's previous
    detection, for a track's first its mother's last (``parent_track_id``, or the ``links`` implied),
    -1 or empty none; every ``id`` given. The first rows in ``ambiguous_rows`` (refused on their own)
    are not compared."""
    mothers = pd.Series(
        links["parent_track"].to_numpy(), index=pd.MultiIndex.from_frame(links[["fov_name", "track_id"]])
    )
    implied = mothers.reindex(pd.MultiIndex.from_frame(rows[["fov_name", "track_id"]])).to_numpy()
    linked = rows.assign(
        parent_track_id=np.where(np.isnan(implied), rows["parent_track_id"], implied).astype("int64")
    )
    expected = _expected_parent_ids(linked)
    given = linked["parent_id"].fillna(NO_PARENT)
    off = (given != expected) & ~linked["row"].isin(ambiguous_rows)
    bad = _fov_set(linked["fov_name"][off | linked["id"].isna()])
    return _fov_set(linked["fov_name"]) - bad


def _ambiguous_parent_id_problems(ambiguous: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """A track without ``parent_track_id`` whose first ``parent_id`` names several tracks' last detections
    in the frame before (:func:`parent_id_lineage`'s ``ambiguous``)."""
    if ambiguous.empty:
        return []
    problems = [
        f"{table[WHERE].iloc[row.row]} (FOV {row.fov_name}, track {row.track_id}): column 'parent_id': "
        "expected the id of one track's last detection in the frame before (a daughter's link to her "
        f"mother), found {int(row.parent_id)}, the id of the last detections at t {row.t - 1} of tracks "
        f"{row.candidates} (ids repeat "
        "within the FOV); give the track's mother in parent_track_id, or ids unique within each FOV"
        for row in ambiguous.head(SHOWN_ROWS).itertuples(index=False)
    ]
    if len(ambiguous) > SHOWN_ROWS:
        problems.append(
            f"... and {len(ambiguous) - SHOWN_ROWS} more tracks whose parent_id names several tracks"
        )
    return problems


def _lineage_problems(numbers: pd.DataFrame, where: pd.Series) -> list[str]:
    """Each track has one parent, a track of its FOV that ends before it starts."""
    problems = []
    spans = numbers.assign(**{WHERE: where}).groupby(["fov_name", "track_id"], sort=False)
    summary = spans.agg(
        first=("t", "min"),
        last=("t", "max"),
        n_parents=("parent_track_id", "nunique"),
        parent=("parent_track_id", "max"),
    )
    summary["where"] = spans[WHERE].first()
    for (fov, track), row in summary.iterrows():
        head = f"{row['where']} (FOV {fov}, track {track})"
        if row["n_parents"] > 1:
            rows = (numbers["fov_name"] == fov) & (numbers["track_id"] == track)
            found = sorted(int(parent) for parent in numbers.loc[rows, "parent_track_id"].unique())
            problems.append(f"{head}: column 'parent_track_id': expected one value per track, found {found}")
            continue
        parent = int(row["parent"])
        if parent == NO_PARENT:
            continue
        if parent == track or (fov, parent) not in summary.index:
            reason = (
                "the track itself"
                if parent == track
                else "no such track in this FOV; a track without a parent has -1 or an empty cell, "
                "not 0 as CTC's P"
                if parent == 0
                else "no such track in this FOV"
            )
            problems.append(
                f"{head}: column 'parent_track_id': expected a track of FOV {fov}, found {parent} ({reason})"
            )
            continue
        parent_last = int(summary.loc[(fov, parent), "last"])
        if parent_last >= row["first"]:
            problems.append(
                f"{head}: column 'parent_track_id': expected parent track {parent} to end before this track "
                f"starts (t {row['first']}), found its last frame t {parent_last}"
            )
    if len(problems) > 2 * SHOWN_ROWS:
        problems = [
            *problems[: 2 * SHOWN_ROWS],
            f"... and {len(problems) - 2 * SHOWN_ROWS} more lineage problems",
        ]
    return problems


# ------------------------------------------------------------------ what the checks cannot refuse
#: Formats whose ``t``, ``y`` and ``x`` are the user's own numbers (a CTC folder's come from its file
#: names and masks, a TrackMate file's from its calibration, both checked against the plate).
USER_NUMBERED_FORMATS = ("table", "ultrack")


def imported_tracks_warnings(
    tracks: pd.DataFrame,
    format: str,
    *,
    shape_tzyx: tuple[int, ...],
    pixel_size_um: float | None = None,
    frame_step: int | None = None,
) -> list[str]:
    """What the conformed imported ``tracks`` (all FOVs) look like when written in another tool's
    convention the plate's bounds do not catch, one sentence each (empty: nothing seen);
    ``frame_step``: ``tracks.frame_step`` where set (else the tracks' own stride, :func:`frame_stride`,
    or 1 where they show none):

    * (``table``, ``ultrack``) no detection at frame 0 in any FOV of a movie: frames counted from 1
      put every cell one frame late (those at the last frame are refused as beyond the plate);
    * (``table``, ``ultrack``) no detection in the plate's last frames in any FOV, two whole steps of
      the tracks' frame step or more (tracks made on the first frames of the movie only; one step missing
      is a blank or dropped last frame): every stage after the import sees those frames without a cell,
      which the QC table and the first page would not say;
    * (``table``, ``ultrack``; a stated pixel size below 1 µm) every position within the part of the
      image positions in µm fill (``y < pixel_size * Y``, ``x < pixel_size * X``): TrackMate's
      ``POSITION_X`` and other calibrated tables put every cell at that fraction of its position;
    * (``table``, ``ultrack``, ``trackmate``) a mother with a single daughter first seen after a gap:
      read as a division, though CTC writes a cell lost for frames so (a new label whose parent is the
      one before the gap). A CTC folder's are merged on reading (:func:`merge_ctc_continuations`), so
      none is left to warn of.
    """
    warnings = []
    n_t, _, n_y, n_x = shape_tzyx
    if format in USER_NUMBERED_FORMATS and n_t > 1 and int(tracks["t"].min()) > 0:
        warnings.append(
            f"no detection at frame 0 in any of {tracks['fov_name'].nunique()} FOVs (frames "
            f"{int(tracks['t'].min())} .. {int(tracks['t'].max())} of the plate's 0 .. {n_t - 1}): t counts "
            "the plate's frames from 0; if the tracks count from 1, every cell is one frame late "
            "(subtract 1 from t)"
        )
    last = int(tracks["t"].max())
    step = frame_step or (frame_stride(tracks) or (1, 0))[0]
    if format in USER_NUMBERED_FORMATS and last + 2 * step <= n_t - 1:
        warnings.append(
            f"no detection after frame {last} in any of {tracks['fov_name'].nunique()} FOVs (the plate's "
            f"frames 0 .. {n_t - 1}): frames {last + 1} .. {n_t - 1} have no tracked cell, so no patch, "
            "embedding or metric covers them; if the tracks were made on the first frames only, track the "
            "whole movie"
        )
    if (
        format in USER_NUMBERED_FORMATS
        and pixel_size_um is not None
        and pixel_size_um < 1
        and MICROMETRE_BOX_FILL * pixel_size_um * n_y < tracks["y"].max() < pixel_size_um * n_y
        and MICROMETRE_BOX_FILL * pixel_size_um * n_x < tracks["x"].max() < pixel_size_um * n_x
    ):
        warnings.append(
            f"all {len(tracks)} detections lie within y < {tracks['y'].max():.1f}, x < "
            f"{tracks['x'].max():.1f}, inside the {pixel_size_um * n_y:.1f} x {pixel_size_um * n_x:.1f} a "
            f"table in µm fills on the plate's {n_y} x {n_x} pixels of {pixel_size_um:g} µm: y and x are "
            "pixels; if they are µm (TrackMate's POSITION_X, POSITION_Y), every cell is at "
            f"{pixel_size_um:g} times its position (set tracks.position_unit: um)"
        )
    late = late_single_daughters(tracks)
    if late:
        fov, mother, daughter, last, first = late[0]
        warnings.append(
            f"{len(late)} mother track(s) have a single daughter first seen after a gap (e.g. FOV {fov}, "
            f"track {mother} last at t {last}, its daughter {daughter} first at t {first}): read as "
            "divisions (lineage mitosis labels, DTW division events); if they are one cell lost for "
            "frames (CTC's new label whose parent is the label before the gap), give the daughter the "
            "mother's track id"
        )
    return warnings


def frame_stride(tracks: pd.DataFrame) -> tuple[int, int] | None:
    """``(k, n)``: the greatest common divisor ``k`` of the steps in ``t`` between each track's
    consecutive detections (per FOV and track) and the number ``n`` of those steps; None where no track
    has two detections."""
    ordered = tracks.sort_values(["fov_name", "track_id", "t"], kind="stable")
    steps = ordered.groupby(["fov_name", "track_id"], sort=False)["t"].diff().dropna()
    if steps.empty:
        return None
    return int(np.gcd.reduce(steps.abs().to_numpy(dtype=np.int64))), len(steps)


def frame_stride_warning(
    tracks: pd.DataFrame, config: ImportedTracksConfig, frame_interval_minutes: float | None
) -> str | None:
    """(``table``, ``ultrack``) the WARNING for conformed imported ``tracks`` whose consecutive
    detections are all ``k > 1`` frames apart (:func:`frame_stride`): ``t`` counting a subsampled
    movie's frames, or time, puts every cell at ``k`` times its frame. None where ``k`` is 1, no track
    has two detections, or ``k`` is a multiple of ``tracks.frame_step`` (the tracking used every
    ``frame_step``-th frame of the plate).

    Raises:
        ArtifactError: ``k`` is the plate's frame interval in minutes or in seconds (``t`` in time units);
            a tracking on every ``k``-th frame of a plate whose interval is ``k`` minutes looks the same,
            and is imported with ``tracks.frame_step: k``, which the message names.
    """
    if config.format not in USER_NUMBERED_FORMATS:
        return None
    found = frame_stride(tracks)
    if found is None:
        return None
    k, n = found
    if k == 1 or (config.frame_step is not None and k % config.frame_step == 0):
        return None
    span = f"t {int(tracks['t'].min())} .. {int(tracks['t'].max())}"
    steps = (
        f"every one of the {n} steps between a track's consecutive detections ({span}) is a multiple of {k}"
    )
    time_unit = time_unit_of_step(k, frame_interval_minutes)
    if time_unit is not None:
        unit, interval = time_unit
        raise ArtifactError(
            f"tracks ({config.format}, {config.path}): {steps}, the plate's frame interval in "
            f"{unit} ({interval:g}): t looks like time in {unit}, which would put every cell at "
            f"{k} times its frame; expected t counting the plate's frames from 0. Convert t to "
            f"frames (t / {k}: {k} becomes frame 1) and import again; if t does count the plate's "
            f"frames and the tracking used one frame in {k} of the plate (t 0, {k}, {2 * k}, "
            f"...), set tracks.frame_step: {k}"
        )
    interval_text = (
        ""
        if frame_interval_minutes is not None
        else " (the plate states no frame interval to compare it with)"
    )
    return (
        f"{steps}{interval_text}: t must count the plate's frames from 0; if it counts a subsampled "
        f"movie's frames or time, every cell is at {k} times its frame (convert t to the plate's frames); "
        f"if the tracking used one frame in {k} of the plate (t 0, {k}, {2 * k}, ...), set "
        f"tracks.frame_step: {k}"
    )


def late_single_daughters(tracks: pd.DataFrame) -> list[tuple[str, int, int, int, int]]:
    """``(fov_name, mother, daughter, mother's last t, daughter's first t)`` of each mother with one
    daughter, first seen two or more frames after the mother's last (in FOV and track order)."""
    spans = tracks.groupby(["fov_name", "track_id"], sort=True).agg(
        first=("t", "min"), last=("t", "max"), parent=("parent_track_id", "first")
    )
    daughters = spans[spans["parent"] != NO_PARENT].reset_index()
    counts = daughters.groupby(["fov_name", "parent"])["track_id"].transform("size")
    late = []
    for row in daughters[counts.to_numpy() == 1].itertuples(index=False):
        mother_last = int(spans.loc[(row.fov_name, row.parent), "last"])
        if row.first > mother_last + 1:
            late.append((str(row.fov_name), int(row.parent), int(row.track_id), mother_last, int(row.first)))
    return late


# ------------------------------------------------------------------ the tracks artifact
def _fovs_keeping_given_ids(table: pd.DataFrame, typed: pd.DataFrame, unlinked: pd.DataFrame) -> set[str]:
    """The FOVs whose given ``id``/``parent_id`` are usable: integers, ``id`` unique within the FOV, and
    ``parent_id`` each track's previous detection (for a track's first its mother's last, -1 none).
    The others are renumbered (:func:`number_detections`), each reason said once at WARNING with the
    FOVs it applies to: ids are unique within a FOV only, so one FOV's ids say nothing of another's. A FOV
    whose only such rows are first rows :func:`parent_id_lineage` did not link (``unlinked``: the track has
    no mother, so its given ``parent_id`` is not kept) is said so."""
    if not {"id", "parent_id"} <= set(table.columns):
        return set()
    fovs = typed["fov_name"]
    ids, parent_ids = _numeric(table["id"]), _numeric(table["parent_id"])
    integral = np.ones(len(typed), dtype=bool)
    for values in (ids, parent_ids):
        integral &= (values.notna() & (values == np.round(values)) & (values.abs() < LARGEST_ID)).to_numpy()
    bad = _fov_set(fovs[~integral])
    _warn_renumbered(bad, fovs, "the tracks' id/parent_id columns are not all integers")
    repeated = pd.DataFrame({"fov_name": fovs.to_numpy(), "id": ids.to_numpy()}).duplicated().to_numpy()
    repeating = _fov_set(fovs[repeated]) - bad
    _warn_renumbered(repeating, fovs, "the tracks' id column repeats an id within a FOV")
    bad |= repeating
    everyone = _fov_set(fovs)
    rows = fovs.isin(everyone - bad).to_numpy()
    if rows.any():
        linked = typed[rows].assign(
            id=ids[rows].astype("int64").to_numpy(), parent_id=parent_ids[rows].astype("int64").to_numpy()
        )
        disagree = _parent_ids_off_the_tracks(linked)
        not_linked = _unlinked_firsts(linked, unlinked)
        only_unlinked = _fov_set(linked["fov_name"][disagree & not_linked]) - _fov_set(
            linked["fov_name"][disagree & ~not_linked]
        )
        _warn_renumbered(
            only_unlinked,
            fovs,
            "the first parent_id of tracks given no mother (said above) is not -1, none",
        )
        bad |= only_unlinked
        disagree &= ~linked["fov_name"].isin(only_unlinked)
        if disagree.any():
            first = int(np.flatnonzero(disagree.to_numpy())[0])
            shown = table[WHERE][rows] if WHERE in table.columns else pd.Series(np.flatnonzero(rows))
            off = _fov_set(linked["fov_name"][disagree.to_numpy()])
            logger.warning(
                "the tracks' parent_id column disagrees with their track_id, t and parent_track_id in %d of "
                "%d rows (e.g. %s: parent_id %d, expected %d: the track's previous detection, for a track's "
                "first its mother's last, -1 none): id and parent_id renumbered in %s",
                int(disagree.sum()),
                len(linked),
                shown.iloc[first] if WHERE in table.columns else f"row {shown.iloc[first]}",
                int(linked["parent_id"].iloc[first]),
                int(_expected_parent_ids(linked).iloc[first]),
                _fovs_text(off, fovs),
            )
            bad |= off
    return everyone - bad


def _unlinked_firsts(linked: pd.DataFrame, unlinked: pd.DataFrame) -> pd.Series:
    """Rows of ``linked`` that are the first detection of a track in ``unlinked`` (aligned)."""
    if unlinked.empty:
        return pd.Series(False, index=linked.index)
    first = linked["t"] == linked.groupby(["fov_name", "track_id"])["t"].transform("min")
    tracks = pd.MultiIndex.from_frame(linked[["fov_name", "track_id"]])
    return first & tracks.isin(pd.MultiIndex.from_frame(unlinked[["fov_name", "track_id"]]))


def _fov_set(fovs: pd.Series) -> set[str]:
    """The distinct FOV names of a column (``unique`` first: a set of a million-row column is slow)."""
    return set(fovs.unique())


def _log_parent_id_lineage(table: pd.DataFrame, typed: pd.DataFrame) -> None:
    """Say which tracks got their mother from ``parent_id`` (:func:`parent_id_lineage`): at INFO for a
    table without ``parent_track_id`` (the lineage is there only), at WARNING for one whose column
    gave those tracks none."""
    has_column = "parent_track_id" in table.columns
    given = _numeric(table["parent_track_id"]).fillna(NO_PARENT).to_numpy() if has_column else NO_PARENT
    read = typed[typed["parent_track_id"].to_numpy() != given].drop_duplicates(["fov_name", "track_id"])
    if read.empty:
        return
    first = read.iloc[0]
    logger.log(
        logging.WARNING if has_column else logging.INFO,
        "%d tracks %s have a mother in parent_id (their first detection's parent_id is the id of another "
        "track's last in the frame before, as ultrack links a division; e.g. FOV %s track %d: mother %d): "
        "kept",
        len(read),
        "whose parent_track_id is none" if has_column else "(no parent_track_id column)",
        first["fov_name"],
        int(first["track_id"]),
        int(first["parent_track_id"]),
    )


def _fovs_text(some: set[str], fovs: pd.Series) -> str:
    """``the N of M FOVs [first six ...]`` (in the table's order) for a WARNING."""
    ordered = [fov for fov in fovs.unique() if fov in some]
    shown = ordered[:6] + (["..."] if len(ordered) > 6 else [])
    return f"the {len(ordered)} of {fovs.nunique()} FOVs with such rows {shown} (the others keep theirs)"


def _warn_renumbered(some: set[str], fovs: pd.Series, what: str) -> None:
    if some:
        logger.warning("%s: id and parent_id renumbered in %s", what, _fovs_text(some, fovs))


def _expected_parent_ids(linked: pd.DataFrame) -> pd.Series:
    """Each row's ``parent_id`` as its ``id`` and tracks say (aligned with ``linked``; float64): the previous
    detection of its track, for a track's first the last of its ``parent_track_id``, -1 none."""
    rows = linked.sort_values(["fov_name", "track_id", "t"], kind="stable")
    tracks = rows.groupby(["fov_name", "track_id"], sort=False)["id"]
    previous = tracks.shift(1)
    last = tracks.last()
    mother = pd.MultiIndex.from_arrays([rows["fov_name"], rows["parent_track_id"]])
    mothers_last = pd.Series(last.reindex(mother).to_numpy(), index=rows.index)
    expected = previous.fillna(mothers_last).fillna(NO_PARENT)  # float64: ids of a table may not be integers
    return expected.reindex(linked.index)


def _parent_ids_off_the_tracks(linked: pd.DataFrame) -> pd.Series:
    """Rows whose given ``parent_id`` is not the one :func:`_expected_parent_ids` gives."""
    return linked["parent_id"] != _expected_parent_ids(linked)


def number_detections(tracks: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """``id`` (1, 2, ... in (track_id, t) order) and ``parent_id`` of one FOV's rows, as ultrack links them;
    with ``by``, the column naming each row's FOV, of each FOV apart (rows sorted by it first).

    ``parent_id`` is the previous detection of the track; for a track's first detection, the last
    detection of its parent track (``parent_track_id``, in its FOV), -1 without one.
    """
    rows = tracks.sort_values([*([] if by is None else [by]), "track_id", "t"], kind="stable")
    rows = rows.reset_index(drop=True)
    # FOVs as integer codes (a categorical or string level would make the mothers' lookup slow or fragile)
    fov = np.zeros(len(rows), dtype=np.int64) if by is None else pd.factorize(rows[by])[0]
    rows["id"] = pd.Series(fov).groupby(fov).cumcount().to_numpy(dtype=np.int64) + 1
    track_ids = rows["id"].groupby([fov, rows["track_id"].to_numpy()])
    mother = pd.MultiIndex.from_arrays([fov, rows["parent_track_id"].to_numpy()])
    previous = track_ids.shift(1)
    first_parent = pd.Series(track_ids.last().reindex(mother).to_numpy(), index=rows.index)
    rows["parent_id"] = previous.fillna(first_parent).fillna(NO_PARENT).astype("int64")
    return rows


def conform_imported_tracks(
    table: pd.DataFrame,
    fov_names: Sequence[str],
    typed_and_links: tuple[pd.DataFrame, ParentIdLinks] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The checked raw table as the ``tracks`` artifact: FOVs in plate order (``fov_names``, each once;
    rows of other FOVs are left out), each sorted by track and t; and the WARNINGs logged on the way
    that the record's ``import_warnings`` keeps (the ``parent_id`` links not read; ``[]`` when none).
    ``typed_and_links``: ``table``'s :func:`typed_tracks_and_links` where the checks computed it
    (:func:`checked_imported_tracks`; not modified here), else computed here.

    Raises:
        ValueError: ``fov_names`` names a FOV more than once.
    """
    names = pd.Series(list(fov_names), dtype=object)
    repeated = list(names[names.duplicated()].unique())
    if repeated:
        raise ValueError(
            f"fov_names: expected each of the plate's {len(names)} FOVs once, found repeated "
            f"{repeated[:SHOWN_ROWS]}{' ...' if len(repeated) > SHOWN_ROWS else ''}"
        )
    typed, links = typed_tracks_and_links(table) if typed_and_links is None else typed_and_links
    typed = typed.copy(deep=False)  # columns are set below: leave the caller's frame as it is
    is_3d = "z" in typed.columns
    _log_parent_id_lineage(table, typed)
    unlinked_warning = log_unlinked_parent_ids(links.unlinked)
    keeping = _fovs_keeping_given_ids(table, typed, links.unlinked)
    if keeping:
        typed["id"] = _numeric(table["id"]).to_numpy()
        typed["parent_id"] = _numeric(table["parent_id"]).to_numpy()
    # plate order: a categorical fov_name sorts in its categories' order (NaN: not a FOV of fov_names)
    typed["fov_name"] = pd.Categorical(typed["fov_name"], categories=list(fov_names))
    typed = typed[typed["fov_name"].notna().to_numpy()]
    kept = typed["fov_name"].isin(keeping).to_numpy()
    pieces = [
        typed[kept].astype({"id": "int64", "parent_id": "int64"}) if keeping else typed[kept],
        number_detections(typed[~kept].drop(columns=["id", "parent_id"], errors="ignore"), by="fov_name"),
    ]
    combined = conform_tracks_table(pd.concat(pieces, ignore_index=True), is_3d, by=["fov_name"])
    combined["fov_name"] = combined["fov_name"].astype(str)
    return combined, [unlinked_warning] if unlinked_warning else []
