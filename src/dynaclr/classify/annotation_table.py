"""Annotations a person made, read from a CSV or Parquet table (rule ``import_annotations``).

A dataset that is not simulated has no ground truth to draw annotations from; its config names
a table instead (``datasets.<name>.annotations.table``). :func:`import_annotations_stage`
validates that table and writes it as an ``annotations`` artifact in exactly the layout
:func:`~dynaclr.classify.annotations.draw_annotations_stage` writes, so rule ``classify`` reads
one kind of table either way.

The table, one row per annotated cell observation and task:

=============  ========  ================================================================
column         type      meaning
=============  ========  ================================================================
``fov_name``   str       ``row/column/fov`` of the plate
``track_id``   int >= 0  track of the workflow's tracking (``results/<dataset>/tracks.parquet``)
``t``          int >= 0  frame
``task``       str       ``infection`` or ``division``
``label``      str       ``infected``/``uninfected`` (infection), ``mitosis``/``interphase`` (division)
``y``, ``x``   float     optional, pixels (``annotations.position_unit``): where the cell is
=============  ========  ================================================================

Other columns (an annotator's name, a note) are ignored. The import refuses, naming the file,
the column, what was expected and what was found: missing columns, empty cells, values of the
wrong type, unknown tasks, tasks other than the config's ``tasks`` (and listed tasks without
rows), labels foreign to their task, a task holding a single class or annotated in a single FOV
(classifiers are cross-validated by FOV), the same cell and task given two labels (a row
repeating another's cell, task, label and ``y, x`` is read once, with a warning; rows of one cell,
task and frame at other ``y, x`` are other cells where classifiers match annotations by position,
one cell where they match by track, as ``analysis.classification.match_annotations_on`` says:
:func:`unique_cells`), frames
``t`` past the plate's last frame (numbered from 1, or a time), ``t`` whose every frame is a
multiple of the plate's frame interval in minutes or seconds and whose rows lie on the tracked cells
clearly more often read as that time than as frames (a time within the plate's frames:
:func:`check_t_not_time`; where the rows cannot tell, a warning; ``annotations.frame_step``, else
``tracks.frame_step``, for a table annotated every few frames), a CSV
header naming a column twice,
cells that are
in no FOV of the tracks or, without ``y, x`` (where classifiers match by track: any row), not among
the tracks at all, and given ``y, x``
outside the plate's image in more than :data:`OUTSIDE_IMAGE_SHARE` of the rows that give them
(fewer, or up to :data:`OUTSIDE_IMAGE_STRAY_ROWS` rows: a warning), given ``y, x`` that match the
tracked cells only when read with x and y swapped or in the other unit
(:func:`check_position_reading`; ``annotations.position_unit``: ``px``, or ``um`` for
micrometres, divided by the plate's pixel size), and, where classifiers match by track, given
``y, x`` mostly away from the cells their track ids name (ids of another tracking). ``y, x`` of the
other rows are taken from the tracks (the track's centroid, which is also the patch centre), so
classifiers match annotations to patches by position as they do for drawn annotations.

The *wide* layout, one row per cell observation and one column per task, is read too: the CSVs
napari-iohub's "Cell State Annotator" writes (ultrack's index ``fov_name, track_id, t, id,
parent_track_id, parent_id, (z,) y, x`` then ``infection_state``, ``cell_division_state``,
``organelle_state``, ``cell_death_state``) and the older VisCy annotation tables. A table is wide
when it has no ``task``/``label`` column and at least one of :data:`WIDE_STATE_COLUMNS`; one with
both layouts' columns is refused. :data:`WIDE_TASK_COLUMNS` maps its columns to tasks (columns of
tasks ``annotations.tasks`` does not list, and the other state columns, are ignored with an INFO
line naming them); each annotated cell of a column becomes one long row, an empty cell is not
annotated. Values: the task's labels as text, or for infection VisCy's numeric codes
(:data:`VISCY_INFECTION_CODES`: 1 uninfected, 2 infected, 0 not annotated), also written as text (a
CSV column mixing codes with text such as ``NA`` is read as text: only the text is refused).
Numeric division codes differ between files and are refused rather than guessed. The long rows are
then checked as a long table is, with the wide file's data-row numbers in the messages. In either
layout a leading ``/`` of ``fov_name`` (VisCy writes ``/A/3/0``) is dropped, and labels in another
case or with surrounding spaces (``Infected``, `` mitosis ``) are spelt as the task spells them
(one INFO line counts them).

napari-iohub's annotator writes one CSV per FOV: ``annotations.table`` may then be a pattern with
``{row}``, ``{col}``, ``{fov}`` (as a per-FOV ``tracks.path``), or on a ``tiff:`` dataset
``{position}`` alone (each FOV's file named by its TIFF position). The rule lists the files of the
plate's FOVs that exist; :func:`read_fov_tables` reads them as one table, ``fov_name`` taken from
each file's path, and messages name each row's file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dynaclr.classify.annotations import (
    ANNOTATION_COLUMNS,
    TASK_LABELS,
    AnnotationsOutputs,
    task_classes,
)
from dynaclr.config.analysis import AnnotationConfig
from dynaclr.config.base import fov_pattern_paths, position_maps_to
from dynaclr.config.reasons import single_class_folds, single_fov_class
from dynaclr.embeddings.cells import match_observations_to_cells
from dynaclr.io import (
    LARGEST_ID,
    ArtifactKind,
    RepeatedColumnError,
    StageFiles,
    make_provenance,
    micrometres_to_pixels,
    parse_csv,
    read_table,
    table_header,
    write_table,
)
from dynaclr.io.tables import IMPORT_WARNINGS, POSITION_READINGS
from dynaclr.numerics.timescale import time_unit_of_step

if TYPE_CHECKING:
    from dynaclr.config.workflow import WorkflowConfig
    from dynaclr.embeddings.cells import MatchOn

logger = logging.getLogger(__name__)

#: Columns a user's annotation table must have.
REQUIRED_TABLE_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t", "task", "label")
#: Columns it may have (both or neither).
POSITION_COLUMNS: tuple[str, ...] = ("y", "x")
#: Wide layout: the column of each task (napari-iohub's Cell State Annotator, VisCy).
WIDE_TASK_COLUMNS: dict[str, str] = {"infection_state": "infection", "cell_division_state": "division"}
#: Columns that make a table wide: those of :data:`WIDE_TASK_COLUMNS` and the annotator's states no
#: task of the workflow reads (ignored).
WIDE_STATE_COLUMNS: tuple[str, ...] = (*WIDE_TASK_COLUMNS, "organelle_state", "cell_death_state")
#: Columns a wide table must have besides its state columns.
WIDE_INDEX_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t")
#: Older VisCy infection tables' numeric codes: label, or ``None`` for not annotated (0, background).
VISCY_INFECTION_CODES: dict[int, str | None] = {0: None, 1: "uninfected", 2: "infected"}
_FOV_PATTERN = re.compile(r"^[^/]+/[^/]+/[^/]+$")
_KEY = ["fov_name", "track_id", "t", "task"]
_SHOWN = 5  # rows quoted in an error message
#: Share of the positioned annotations (rows with ``y, x``) that may lie outside the image before the
#: import refuses the table: a few stray clicks are warned about, more mean wrong units (micrometres,
#: another image size) or another dataset's table. Classifiers match annotations to patches by
#: position (``match_annotations_on: position``), so such rows would match no cell.
OUTSIDE_IMAGE_SHARE = 0.01
#: Rows outside the image that are always only warned about, whatever the share (unless they are all
#: the positioned rows): one or two stray clicks in a small table are not wrong units.
OUTSIDE_IMAGE_STRAY_ROWS = 2
#: Margin (pixels) around the image within which a position counts as inside: in napari's
#: pixel-centre coordinates a pixel spans its index ± 0.5, so a click on the first row's top half
#: reads y = -0.3.
_PIXEL_HALF = 0.5
#: Reading the table's ``y, x`` (:func:`check_position_reading`): where at least this share of the
#: positioned rows match a tracked cell as the table gives them, the table is read as given after that
#: one matching pass; below it, the other readings (x and y swapped; the other unit) are matched too.
POOR_MATCH_SHARE = 0.5
#: Another reading is the table's, and the import refuses, when it matches at least this share of the
#: positioned rows, at least :data:`BETTER_MATCH_RATIO` times as many as the reading given and at least
#: :data:`MIN_READING_ROWS` rows: cells cover a few percent of an image, so a wrong reading matches that
#: share of rows by chance, never most of them.
BETTER_MATCH_SHARE = 0.8
BETTER_MATCH_RATIO = 2.0
#: Fewer positioned rows than this are never refused for their reading: all of a handful may match by
#: chance.
MIN_READING_ROWS = 5


class AnnotationTableError(ValueError):
    """A user's annotation table is malformed; the message names the file, the column, what was
    expected and what was found."""


def read_annotation_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` annotation table as it is (no validation).

    A CSV is read by :func:`~dynaclr.io.parse_csv`: ``fov_name``, ``task`` and ``label`` are read
    as text, and in them and the wide layout's state columns (:data:`WIDE_STATE_COLUMNS`) only an
    empty cell is missing, so a cell ``NA``, ``None`` or ``null`` is the text written (refused as an
    unknown label or FOV, naming it) rather than an empty cell or, in a wide table, a cell not
    annotated.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise AnnotationTableError(
            f"{path}: annotation tables are .csv or .parquet files; found suffix {suffix!r}"
        )
    if not path.is_file():
        raise AnnotationTableError(f"{path}: annotation table not found (datasets.<name>.annotations.table)")
    try:
        if suffix == ".csv":
            _check_separator(path)
            # index_col=False: a row with more fields than the header is refused, never taken as an index
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return parse_csv(path, only_empty_missing=WIDE_STATE_COLUMNS, index_col=False)
        return pd.read_parquet(path)
    except AnnotationTableError:
        raise
    except RepeatedColumnError as err:  # readable, but a column is named twice with other values
        raise AnnotationTableError(str(err)) from err
    except Exception as err:  # pandas and pyarrow raise many error types for an unreadable file
        raise AnnotationTableError(
            f"{path}: cannot read the annotation table as {suffix[1:].upper()} ({type(err).__name__}: "
            f"{err}); expected a table with columns " + ", ".join(REQUIRED_TABLE_COLUMNS)
        ) from err


def _check_separator(path: Path) -> None:
    """A CSV separated by ``;`` (a spreadsheet saved as CSV where the list separator is ``;``) or by
    tabs (a tab-separated export) is refused naming the separator, not as lacking columns nor as
    unparsable: read by commas its header is one column, ``track_id;t;task;label``, and its rows,
    holding decimal commas (``12,5``) or notes with commas, have more fields than the header, which
    pandas cannot parse. Read from the header alone (:func:`~dynaclr.io.table_header`), before
    the rows: refused where the header names no column of either layout and, split on ``;`` or a tab,
    is one column read by commas or names such a column. A comma-separated header whose names hold a
    ``;`` (``Track ID,Frame,State; note``) is left to the check of the columns."""
    known = {*REQUIRED_TABLE_COLUMNS, *WIDE_STATE_COLUMNS}
    names = table_header(path)
    if known & set(names):
        return
    for separator in (";", "\t"):
        split = table_header(path, delimiter=separator)
        if len(split) > 1 and (len(names) == 1 or known & set(split)):
            raise AnnotationTableError(
                f"{path}: expected a CSV separated by commas, with columns "
                f"{', '.join(REQUIRED_TABLE_COLUMNS)} (or the wide layout's); found its header separated "
                f"by {separator!r} ({split}), read by commas as the columns {names}. Save the table with "
                "commas as separators (a spreadsheet's 'CSV (comma delimited)'), or as Parquet"
            )


def read_fov_tables(
    pattern: str,
    files: Sequence[str | Path],
    fov_names: Sequence[str],
    positions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The tables of ``annotations.table`` when it names one file per FOV, as one table.

    Args:
        pattern: ``annotations.table``, with ``{row}``, ``{col}``, ``{fov}``, or ``{position}``.
        files: the files of the pattern that exist (the rule lists them), in the plate's FOV order.
        fov_names: the plate's FOVs: the FOV of each file is the one whose filled pattern it is.
        positions: each FOV's TIFF position (``{fov_name: position}``) where the pattern names the
            files by ``{position}`` (a ``tiff:`` dataset's), else None.

    Each file is read as it is (:func:`read_annotation_table`); its ``fov_name`` is the FOV its path
    names: a file without the column gets it, empty cells are filled, a cell naming another FOV
    (a leading ``/`` aside) is refused. The FOVs without a file have no annotations (an INFO line
    names them). All files are in one layout (long or wide).

    Returns:
        The files' rows concatenated, indexed by ``(file, row)`` (row: the file's data row,
        0-based), so messages name the file and row of each problem (:func:`_rows`).

    Raises:
        AnnotationTableError: no file; two FOVs naming the same file; a file the pattern names for
            no FOV; a ``fov_name`` the path disagrees with; files of both layouts.
    """
    try:
        by_path = fov_pattern_paths(pattern, fov_names, positions)
    except ValueError as err:
        raise AnnotationTableError(f"annotations.table: {err}") from None
    if not files:
        expected = ", ".join(list(by_path)[:3]) + (" ..." if len(by_path) > 3 else "")
        raise AnnotationTableError(
            f"annotations.table {pattern!r}: expected an annotation file for at least one of the plate's "
            f"{len(by_path)} FOVs, found none ({expected})"
        )
    tables, layouts = {}, {}
    for file in files:
        path = os.path.normpath(str(file))
        if path not in by_path:
            raise AnnotationTableError(
                f"{file}: annotations.table {pattern!r} names this file for no FOV of the plate "
                f"({', '.join(list(by_path)[:3])} ...)"
            )
        fov_name = by_path[path]
        position = None if positions is None else positions.get(fov_name)
        own = read_annotation_table(file)
        # before the files are put together, where a message could name only the pattern, and a
        # fov_name the path supplied among the columns found
        _check_required_columns(
            own, str(file), wide=annotation_layout(own, str(file)) == "wide", fov_name_optional=True
        )
        table = _with_fov_of_path(own, fov_name, str(file), pattern, position)
        layouts[str(file)] = annotation_layout(table, str(file))
        tables[str(file)] = table
    if len(set(layouts.values())) > 1:
        shown = "; ".join(
            f"{layout}: " + ", ".join([file for file, of in layouts.items() if of == layout][:3])
            for layout in sorted(set(layouts.values()))
        )
        raise AnnotationTableError(
            f"annotations.table {pattern!r}: expected every FOV's file in one layout (long: task, label "
            f"columns; wide: a column per task), found both ({shown})"
        )
    read = {by_path[os.path.normpath(str(file))] for file in files}
    without = [fov_name for fov_name in fov_names if fov_name not in read]
    if without:
        logger.info(
            "annotations.table %s: %d of %d FOVs have no file, so no annotations: %s%s",
            pattern,
            len(without),
            len(by_path),
            without[:_SHOWN],
            " ..." if len(without) > _SHOWN else "",
        )
    return pd.concat(list(tables.values()), keys=list(tables), names=["file", "row"])


def _check_required_columns(
    table: pd.DataFrame, source: str, *, wide: bool, fov_name_optional: bool = False
) -> None:
    """``table`` holds the columns its layout requires (:data:`REQUIRED_TABLE_COLUMNS`, or for the
    wide layout :data:`WIDE_INDEX_COLUMNS`); ``fov_name_optional``: ``fov_name`` aside (a FOV's file
    of a table per FOV, whose path names the FOV).

    Raises:
        AnnotationTableError: naming ``source``, the columns missing, those expected and those found.
    """
    required = WIDE_INDEX_COLUMNS if wide else REQUIRED_TABLE_COLUMNS
    expected = [column for column in required if not (fov_name_optional and column == "fov_name")]
    missing = [column for column in expected if column not in table.columns]
    if missing:
        more = (
            f"plus task columns {list(WIDE_TASK_COLUMNS)}"
            if wide
            else f"(and optionally {list(POSITION_COLUMNS)})"
        )
        optional = ", fov_name optional (the file's path names its FOV)" if fov_name_optional else ""
        raise AnnotationTableError(
            f"{source}: {'wide annotation table (one column per task)' if wide else 'annotation table'} "
            f"lacks columns {missing}; expected {expected} {more}{optional}; found "
            f"{[str(column) for column in table.columns]}"
        )


def _with_fov_of_path(
    table: pd.DataFrame, fov_name: str, file: str, pattern: str, position: str | None = None
) -> pd.DataFrame:
    """``table`` (a file of a table per FOV) with ``fov_name`` the FOV its path names (``position``:
    the FOV's TIFF position, where the pattern names the file by ``{position}``)."""
    if "fov_name" in table.columns:
        given = table["fov_name"].notna()
        spelled = _without_leading_slash(table, file)["fov_name"]
        other = given & (spelled != fov_name)
        if other.any():
            # a column holding the file's own position (Pos0) names no FOV: the FOV is what
            # tiff.positions (or the default A/1/<position>) makes of it
            own_position = (
                ""
                if position is None or not (spelled[other].astype(str) == position).any()
                else f"; {position} is this file's TIFF position, not a FOV: "
                f"{position_maps_to(position, fov_name)}, so write {fov_name} or leave the column empty"
            )
            raise AnnotationTableError(
                f"{file}: column 'fov_name' names the FOV the file's path names ({fov_name}, "
                f"annotations.table {pattern!r}) or is empty; found {_values(table['fov_name'], other)} at "
                f"{_rows(other)}{own_position}; "
                "correct the column or move the rows to their FOV's file"
            )
    return table.assign(fov_name=fov_name)


def _rows(mask: np.ndarray | pd.Series) -> str:
    """Data-row numbers (1 = first row under the header) where ``mask`` holds, the first few.

    A Series' index is the file's data row (0-based) each row comes from: the row's position in a
    long table, the wide row it was made from in a wide one (:func:`validate_annotation_table`);
    for a table per FOV (:func:`read_fov_tables`) it is ``(file, row)``, and the rows are named by
    file (``a.csv rows 3, 4; b.csv row 1``).
    """
    if isinstance(mask, pd.Series) and isinstance(mask.index, pd.MultiIndex):
        chosen = mask.index[mask.to_numpy(dtype=bool)]
        by_file: dict[str, list[int]] = {}
        for file, row in chosen:
            by_file.setdefault(str(file), []).append(int(row) + 1)
        parts, shown_rows = [], 0
        for file, rows in by_file.items():
            unique = sorted(set(rows))
            if shown_rows >= _SHOWN:
                break
            part = unique[: _SHOWN - shown_rows]
            shown_rows += len(part)
            parts.append(f"{file} row{'s' if len(unique) > 1 else ''} {', '.join(map(str, part))}")
        n_rows = sum(len(set(rows)) for rows in by_file.values())
        more = f" and {n_rows - shown_rows} more" if n_rows > shown_rows else ""
        return "; ".join(parts) + more
    if isinstance(mask, pd.Series) and pd.api.types.is_integer_dtype(mask.index):
        positions = np.unique(mask.index[mask.to_numpy(dtype=bool)].to_numpy(dtype=np.int64)) + 1
    else:
        positions = np.flatnonzero(np.asarray(mask, dtype=bool)) + 1
    shown = ", ".join(map(str, positions[:_SHOWN]))
    more = f" and {positions.size - _SHOWN} more" if positions.size > _SHOWN else ""
    return f"row{'s' if positions.size > 1 else ''} {shown}{more}"


def _values(series: pd.Series, mask: pd.Series) -> str:
    """The distinct values of ``series`` where ``mask`` holds, the first few, as written in Python."""
    found = [value.item() if isinstance(value, np.generic) else value for value in pd.unique(series[mask])]
    return ", ".join(repr(value) for value in found[:_SHOWN]) + (" ..." if len(found) > _SHOWN else "")


def _integer_column(table: pd.DataFrame, column: str, meaning: str, source: str) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce").astype("float64")
    is_bool = pd.api.types.is_bool_dtype(table[column])
    bad = values.isna() | (values < 0) | (values != np.floor(values)) | (values >= LARGEST_ID) | is_bool
    if bad.any():
        raise AnnotationTableError(
            f"{source}: column {column!r} holds {meaning} (integers >= 0, below 2**53); found "
            f"{_values(table[column], bad)} at {_rows(bad)}"
        )
    return values.astype(np.int64)


def _position_column(table: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce").astype("float64")
    bad = (values.isna() & table[column].notna()) | np.isinf(values)
    if bad.any():
        raise AnnotationTableError(
            f"{source}: column {column!r} holds pixel coordinates (numbers, or empty to take them from "
            f"the tracks); found {_values(table[column], bad)} at {_rows(bad)}"
        )
    return values


def annotation_layout(table: pd.DataFrame, source: str = "annotations") -> str:
    """``"long"`` (columns ``task, label``) or ``"wide"`` (a column per task, module docstring).

    Raises:
        AnnotationTableError: the table has columns of both layouts, naming them.
    """
    state = [str(column) for column in table.columns if column in WIDE_STATE_COLUMNS]
    long = [column for column in ("task", "label") if column in table.columns]
    if state and long:
        raise AnnotationTableError(
            f"{source}: annotation table has both the long layout's columns {long} and the wide layout's "
            f"state columns {state}; expected one layout: either {list(REQUIRED_TABLE_COLUMNS)} (one row "
            f"per cell and task) or {list(WIDE_INDEX_COLUMNS)} plus one column per task "
            f"({', '.join(f'{column} for {task}' for column, task in WIDE_TASK_COLUMNS.items())}); "
            "drop the columns of the other layout"
        )
    return "wide" if state else "long"


def wide_to_long(table: pd.DataFrame, tasks: Sequence[str], source: str = "annotations") -> pd.DataFrame:
    """The long rows ``fov_name, track_id, t, [y, x,] task, label`` of a wide table's annotated cells.

    Columns of :data:`WIDE_TASK_COLUMNS` whose task ``tasks`` lists are read (values: module
    docstring); the other state columns are ignored with an INFO line naming them. The index of the
    result is the wide data row (0-based) each long row comes from, rows in file order.

    Raises:
        AnnotationTableError: a missing index column; a listed task without its column; a value
            that is neither a label of the column's task, nor empty, nor (infection) a VisCy code;
            numeric division codes; no annotated cell at all.
    """
    _check_required_columns(table, source, wide=True)
    found = [str(column) for column in table.columns]
    read = {
        column: task
        for column, task in WIDE_TASK_COLUMNS.items()
        if column in table.columns and task in tasks
    }
    absent = [task for task in tasks if task not in read.values()]
    if absent:
        columns = [column for column, task in WIDE_TASK_COLUMNS.items() if task in absent]
        raise AnnotationTableError(
            f"{source}: annotations.tasks lists {absent} but the wide annotation table has no column "
            f"{columns}; found {found}; add the column or remove the task from annotations.tasks"
        )
    ignored = [str(column) for column in table.columns if column in WIDE_STATE_COLUMNS and column not in read]
    if ignored:
        logger.info(
            "%s: wide annotation table: ignoring columns %s (no task of annotations.tasks %s reads them)",
            source,
            ignored,
            list(tasks),
        )
    table = _by_data_row(table)
    kept = [column for column in (*WIDE_INDEX_COLUMNS, *POSITION_COLUMNS) if column in table.columns]
    parts = []
    for column, task in read.items():
        labels = _wide_labels(table[column], column, task, source)
        annotated = labels.notna()
        parts.append(table.loc[annotated, kept].assign(task=task, label=labels[annotated]))
    long = pd.concat(parts).sort_index(kind="stable")
    if long.empty:
        raise AnnotationTableError(
            f"{source}: wide annotation table has no annotated cell: columns {list(read)} are empty (or 0, "
            f"not annotated) in all {len(table)} rows"
        )
    logger.info(
        "%s: wide annotation table: %d rows give %d annotations (%s)",
        source,
        len(table),
        len(long),
        ", ".join(f"{column} -> {task}" for column, task in read.items()),
    )
    return long


def _wide_labels(values: pd.Series, column: str, task: str, source: str) -> pd.Series:
    """Labels of a wide table's task column: text labels, VisCy codes (infection); NaN: not annotated."""
    negative, positive = task_classes(task)
    written = values.astype(object)
    raw = written.map(_code_text).astype(object)
    empty = raw.isna() | raw.map(lambda value: isinstance(value, str) and not value.strip())
    text = ~empty & raw.map(lambda value: isinstance(value, str))
    codes = pd.to_numeric(raw.where(~empty & ~text), errors="coerce")
    boolean = raw.map(lambda value: isinstance(value, (bool, np.bool_)))
    number = ~empty & ~text & ~boolean & codes.notna() & np.isfinite(codes)
    if task != "infection" and number.any():
        raise AnnotationTableError(
            f"{source}: column {column!r} holds labels {[negative, positive]} (empty: not annotated); found "
            f"numeric codes {_values(written, number)} at {_rows(number)}. Numeric {task} codes differ "
            "between annotation files, so they are not guessed: write the labels into the column with your "
            f"file's own codes, e.g. table[{column!r}] = table[{column!r}].map("
            f"{{{positive.upper()}_CODE: {positive!r}, {negative.upper()}_CODE: {negative!r}}}) (codes left "
            "out become empty: not annotated), "
            f"or leave {task!r} out of annotations.tasks"
        )
    by_code = {float(code): label for code, label in VISCY_INFECTION_CODES.items()}
    scheme = ", ".join(
        f"{code} ({label or 'not annotated'})" for code, label in VISCY_INFECTION_CODES.items()
    )
    bad = (
        (text & ~raw.map(_label_spelling).isin([negative, positive]))
        | (number & ~codes.isin(list(by_code)))
        | (~empty & ~text & ~number)
    )
    if bad.any():
        raise AnnotationTableError(
            f"{source}: column {column!r} holds labels {[negative, positive]}, VisCy's codes {scheme}, or "
            f"empty (not annotated); found {_values(written, bad)} at {_rows(bad)}"
        )
    labels = raw.where(text)
    labels[number] = codes[number].map(by_code)
    if number.any() and not (labels.map(_label_spelling) == positive).any():
        raise AnnotationTableError(
            f"{source}: column {column!r} holds numeric codes {_values(written, number)} and no 2: read as "
            f"VisCy's {scheme}, no cell is {positive!r}. If your file means 0 = {negative}, "
            f"1 = {positive}, write the labels {[negative, positive]} into the column instead"
        )
    return labels


_CODE_TEXT = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*$")


def _code_text(value: object) -> object:
    """A code written as text (``"2"``, ``" 1 "``, ``"2.0"``) as its number: a CSV column that mixes
    codes with text (``NA``) is read as text, and its codes must still read as codes, so that only
    the text is refused; other values as they are (``"nan"`` stays text)."""
    return float(value) if isinstance(value, str) and _CODE_TEXT.match(value) else value


def _label_spelling(value: object) -> object:
    """A text label as the tasks spell theirs (lower case, no surrounding spaces); others as they are."""
    return value.strip().lower() if isinstance(value, str) else value


def _normalised_labels(labels: pd.Series, tasks: pd.Series, source: str) -> pd.Series:
    """``labels`` with variants of their task's labels (``Infected``, `` infected ``) spelt as the
    task spells them, counted in one INFO line; other labels as they are (refused later)."""
    spelled = labels.map(_label_spelling)
    known = pd.Series(
        [
            task in TASK_LABELS and label in task_classes(task)
            for task, label in zip(tasks, spelled, strict=True)
        ],
        index=labels.index,
        dtype=bool,
    )
    changed = known & (spelled != labels)
    if changed.any():
        variants = sorted(
            {f"{old!r} -> {new!r}" for old, new in zip(labels[changed], spelled[changed], strict=True)}
        )
        logger.info(
            "%s: normalised %d labels written in another case or with surrounding spaces (%s%s)",
            source,
            int(changed.sum()),
            ", ".join(variants[:_SHOWN]),
            " ..." if len(variants) > _SHOWN else "",
        )
    return labels.where(~changed, spelled)


def _by_data_row(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` indexed by the data row (0-based) each row is: its position, or the ``(file,
    row)`` index a table per FOV has (:func:`read_fov_tables`), kept."""
    return table if isinstance(table.index, pd.MultiIndex) else table.reset_index(drop=True)


def _without_leading_slash(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """``fov_name`` without the leading ``/`` VisCy writes (``/A/3/0`` -> ``A/3/0``)."""
    if "fov_name" not in table.columns:
        return table
    slashed = table["fov_name"].map(lambda value: isinstance(value, str) and value.startswith("/"))
    if not slashed.any():
        return table
    logger.info(
        "%s: dropped the leading '/' of fov_name in %d rows (VisCy's spelling)", source, int(slashed.sum())
    )
    table = table.copy()
    table["fov_name"] = [
        value[1:] if strip else value for value, strip in zip(table["fov_name"], slashed, strict=True)
    ]
    return table


def validate_annotation_table(
    table: pd.DataFrame,
    tasks: Sequence[str] = ("infection", "division"),
    source: str = "annotations",
    on: MatchOn = "position",
) -> pd.DataFrame:
    """Check a user's annotation table (module docstring) and return it in canonical types.

    Args:
        table: the table as read (:func:`read_annotation_table`).
        tasks: the tasks it must hold (``annotations.tasks``): every listed task has rows, no
            other task does.
        source: what to call the table in error messages (its path).
        on: how the classifiers match annotations to cells
            (``analysis.classification.match_annotations_on``), which decides what one cell is
            (:func:`unique_cells`): by track, rows of one ``fov_name, track_id, t, task`` at other
            ``y, x`` with other labels are refused here, not after training.

    The table is in the long or the wide layout (module docstring; :func:`annotation_layout`);
    a wide one is first turned into long rows (:func:`wide_to_long`).

    Returns:
        ``fov_name, track_id, t, y, x, task, label`` (``y, x`` NaN where the table gives none),
        int64 ``track_id, t``, float64 ``y, x``, in the table's row order; the index is the
        table's data row (0-based) each row comes from (a wide row gives one row per task it
        annotates).

    Raises:
        AnnotationTableError: the first problem found, naming ``source``, the column, what was
            expected and what was found (with data-row numbers, 1 = first row under the header).
    """
    if annotation_layout(table, source) == "wide":
        table = wide_to_long(table, tasks, source)
    else:
        table = _by_data_row(table)
    table = _without_leading_slash(table, source)
    table = _checked_columns(table, source)
    out = pd.DataFrame(
        {
            "fov_name": table["fov_name"].astype(str),
            "track_id": _integer_column(table, "track_id", "track ids", source),
            "t": _integer_column(table, "t", "frames", source),
        }
    )
    given_positions = all(column in table.columns for column in POSITION_COLUMNS)
    for column in POSITION_COLUMNS:
        out[column] = _position_column(table, column, source) if given_positions else np.nan
    out["task"] = table["task"].astype(str)
    out["label"] = _normalised_labels(table["label"].astype(str), out["task"], source)
    _check_tasks(out, tasks, source)
    return unique_cells(out, source, on=on)[list(ANNOTATION_COLUMNS)]


def _checked_columns(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """The table once its columns are present, filled and of the right kind of value."""
    _check_required_columns(table, source, wide=False)
    given_positions = [column for column in POSITION_COLUMNS if column in table.columns]
    if len(given_positions) == 1:
        raise AnnotationTableError(
            f"{source}: annotation table has column {given_positions[0]!r} without its partner; give both "
            f"{list(POSITION_COLUMNS)} or neither"
        )
    if table.empty:
        raise AnnotationTableError(f"{source}: annotation table has no rows")
    for column in REQUIRED_TABLE_COLUMNS:
        empty = table[column].isna()
        if empty.any():
            raise AnnotationTableError(f"{source}: column {column!r} is empty at {_rows(empty)}")
    for column in ("fov_name", "task", "label"):
        not_text = ~table[column].map(lambda value: isinstance(value, str))
        if not_text.any():
            raise AnnotationTableError(
                f"{source}: column {column!r} holds text; found {_values(table[column], not_text)} at "
                f"{_rows(not_text)}"
            )
    bad_fov = ~table["fov_name"].map(lambda value: bool(_FOV_PATTERN.match(value)))
    if bad_fov.any():
        raise AnnotationTableError(
            f"{source}: column 'fov_name' holds FOV names 'row/column/fov' (e.g. 'A/1/0'); found "
            f"{_values(table['fov_name'], bad_fov)} at {_rows(bad_fov)}"
        )
    return table


def _check_tasks(out: pd.DataFrame, tasks: Sequence[str], source: str) -> None:
    """Known tasks, exactly those listed; each with both of its labels, in at least two FOVs."""
    unknown = ~out["task"].isin(list(TASK_LABELS))
    if unknown.any():
        raise AnnotationTableError(
            f"{source}: column 'task' holds {sorted(TASK_LABELS)}; found {_values(out['task'], unknown)} "
            f"at {_rows(unknown)}"
        )
    present = set(out["task"])
    unlisted = sorted(present - set(tasks))
    if unlisted:
        raise AnnotationTableError(
            f"{source}: column 'task' holds tasks {unlisted} that annotations.tasks {list(tasks)} does not "
            "list; add them to annotations.tasks or remove those rows"
        )
    absent = [task for task in tasks if task not in present]
    if absent:
        raise AnnotationTableError(
            f"{source}: annotations.tasks lists {absent} but the table has no rows of "
            f"{'it' if len(absent) == 1 else 'them'} (tasks found: {sorted(present)}); remove "
            f"{'it' if len(absent) == 1 else 'them'} from annotations.tasks or annotate them"
        )
    for task in sorted(present):
        classes = task_classes(task)
        of_task = out["task"] == task
        foreign = of_task & ~out["label"].isin(classes)
        if foreign.any():
            raise AnnotationTableError(
                f"{source}: column 'label' of task {task!r} holds {list(classes)}; found "
                f"{_values(out['label'], foreign)} at {_rows(foreign)}"
            )
        labels = sorted(set(out.loc[of_task, "label"]))
        if len(labels) < 2:
            raise AnnotationTableError(
                f"{source}: task {task!r} has only {labels} labels; a classifier needs both {list(classes)}"
            )
        fovs = sorted(set(out.loc[of_task, "fov_name"]))
        if len(fovs) < 2:
            raise AnnotationTableError(
                f"{source}: task {task!r} is annotated in one FOV only ({fovs[0]}); classifiers are "
                "cross-validated by FOV, so annotate cells of >= 2 FOVs"
            )


def unique_cells(table: pd.DataFrame, source: str = "annotations", on: MatchOn = "position") -> pd.DataFrame:
    """``table`` with one row per cell and task: a row repeating another's cell, task and label is
    dropped (one WARNING counts them, naming the first); the rule ``import_annotations`` and
    :func:`~dynaclr.classify.evaluate.fit_and_evaluate` both read annotations through it, with the
    same ``on`` (the rule is given ``analysis.classification.match_annotations_on``), so a table is
    taken or refused alike by either.

    What one cell is follows how annotations are matched to cells (``match_annotations_on``):

    * ``on='position'``: rows of one
      ``fov_name, track_id, t, task`` are one cell only where they also give equal ``y, x``
      (an empty ``y, x`` equal to an empty one). Rows of one key at other positions are other
      cells, as matching by position takes them (a table placing cells by position alone,
      under a placeholder ``track_id`` such as 0), and are all kept.
    * ``on='track'``: rows of one ``fov_name, track_id, t, task`` are one cell whatever their
      ``y, x``, since matching by track ignores the positions: the same label is read once (the
      WARNING says where the positions differ), two labels are refused.

    Rows are named as :func:`_rows` names them (the index: the file's data row, 0-based).

    Raises:
        AnnotationTableError: a cell and task is given two labels, naming ``source``, the cell
            (FOV, track, frame, task), the key, its rows and the labels.
    """
    by_position = on == "position" and all(column in table.columns for column in POSITION_COLUMNS)
    key = [*_KEY, *POSITION_COLUMNS] if by_position else _KEY
    repeated = table.duplicated(key, keep=False)
    if not repeated.any():
        return table
    group = table.groupby(key, sort=False, dropna=False).ngroup().to_numpy()
    n_labels = table.groupby(key, sort=False, dropna=False)["label"].transform("nunique").to_numpy()
    conflicting = repeated & (n_labels > 1)
    shown = conflicting if conflicting.any() else repeated
    first_row = int(np.flatnonzero(shown.to_numpy())[0])
    first = table.iloc[first_row]
    same = pd.Series(group == group[first_row], index=table.index)
    cell = (
        f"FOV {first['fov_name']} track {first['track_id']} frame {first['t']} task {first['task']!r} "
        f"at {_rows(same)}"
    )
    if conflicting.any():
        labels = sorted(set(table.loc[same, "label"]))
        raise AnnotationTableError(
            f"{source}: {int(conflicting.sum())} rows annotate a cell and task more than once with "
            f"different labels (key {', '.join(key)}; expected one label each); e.g. {cell} (labels "
            f"{labels} disagree); keep the right row of each"
        )
    extra = table.duplicated(key, keep="first")
    n_extra = int(extra.sum())
    moved = ""
    if on == "track" and all(column in table.columns for column in POSITION_COLUMNS):
        n_positions = table.groupby(key, sort=False, dropna=False)[list(POSITION_COLUMNS)].transform(
            lambda column: column.nunique(dropna=False)
        )
        if (repeated & (n_positions > 1).any(axis=1)).any():
            moved = " (matching by track: rows of one cell at other y, x are the same cell)"
    logger.warning(
        "%s: %s the cell, task and label of another row (key %s)%s; each is read once, e.g. %s (all %r)",
        source,
        f"{n_extra} rows repeat" if n_extra > 1 else "1 row repeats",
        ", ".join(key),
        moved,
        cell,
        first["label"],
    )
    return table[~extra]


def locate_annotations(
    annotations: pd.DataFrame,
    tracks: pd.DataFrame,
    source: str = "annotations",
    tracks_source: str = "tracks",
    on: MatchOn = "position",
) -> pd.DataFrame:
    """Fill ``y, x`` of annotations from the tracks; refuse cells the tracks cannot place.

    Args:
        annotations: output of :func:`validate_annotation_table`.
        tracks: ``fov_name, track_id, t, y, x`` (the ``tracks`` artifact).
        source, tracks_source: names of the two tables in error messages.
        on: how classifiers match the annotations to cells (``match_annotations_on``). By position a
            row's ``y, x`` place a cell the tracks lack (classify matches it to the patch there); by
            track every row must name a tracked cell, ``y, x`` or not: classify takes a row's cell by
            its ``fov_name, track_id, t`` alone, so a row naming none would train nothing.

    Returns:
        ``annotations`` with ``y, x`` set wherever the table left them empty.

    Raises:
        AnnotationTableError: a row's FOV is not among the tracks', or a row without ``y, x`` (by
            track: any row) names a cell (``fov_name, track_id, t``) that is not in the tracks.
    """
    fovs = set(tracks["fov_name"].astype(str))
    foreign = ~annotations["fov_name"].isin(list(fovs))
    if foreign.any():
        raise AnnotationTableError(
            f"{source}: column 'fov_name' names FOVs of the tracks ({tracks_source}: {sorted(fovs)}); "
            f"found {_values(annotations['fov_name'], foreign)} at {_rows(foreign)}"
        )
    cells = (
        tracks[["fov_name", "track_id", "t", "y", "x"]]
        .astype({"fov_name": str})
        .drop_duplicates(["fov_name", "track_id", "t"])
    )
    merged = annotations.merge(
        cells, on=["fov_name", "track_id", "t"], how="left", suffixes=("", "_tracked"), validate="many_to_one"
    )
    merged.index = annotations.index  # a left merge keeps the rows in order: the file's row numbers
    untracked = merged["y_tracked"].isna()
    unplaced = untracked if on == "track" else (merged["y"].isna() | merged["x"].isna()) & untracked
    if unplaced.any():
        examples = "; ".join(
            f"{row.fov_name} track {row.track_id} frame {row.t}"
            for row in merged[unplaced].head(_SHOWN).itertuples()
        )
        if on == "track":
            what, fix = (
                "; matching by track (analysis.classification.match_annotations_on: track) every row must "
                "name a tracked cell, y, x or not",
                "Write the track ids of the tracks the workflow reads (a table made on another tracking "
                "names other ids), or, where the table gives y, x, match by position "
                "(analysis.classification.match_annotations_on: position)",
            )
        else:
            what, fix = (
                " and give no y, x",
                "Annotate cells of the workflow's tracks, or add columns y, x (pixels)",
            )
        raise AnnotationTableError(
            f"{source}: {int(unplaced.sum())} of {len(merged)} annotations name cells (fov_name, track_id, "
            f"t) that are not in the tracks ({tracks_source}){what}: {examples} (at "
            f"{_rows(unplaced)}). {fix}"
        )
    for column in POSITION_COLUMNS:
        merged[column] = merged[column].fillna(merged[f"{column}_tracked"])
    return merged[list(ANNOTATION_COLUMNS)]


def check_frames_in_movie(annotations: pd.DataFrame, n_frames: int, source: str) -> None:
    """Refuse rows whose ``t`` is not a frame of the plate's ``n_frames`` (``0 .. n_frames - 1``).

    A row past the last frame is never a stray click: it is a frame numbered from 1, or a time in
    minutes or hours, and the same numbering shifts every other row of the table too (to a frame
    of the same track, silently). A row that gives ``y, x`` would otherwise be kept and match no
    cell.

    Raises:
        AnnotationTableError: naming ``source``, column ``t``, the plate's frames, the values and
            rows past them, and what to check.
    """
    past = annotations["t"] >= int(n_frames)
    if past.any():
        frames = (
            "frame 0 only (a still image)"
            if int(n_frames) == 1
            else f"0 to {int(n_frames) - 1} ({int(n_frames)} frames, numbered from 0)"
        )
        raise AnnotationTableError(
            f"{source}: column 't' holds frames of the plate, {frames}; found "
            f"{_values(annotations['t'], past)} at {_rows(past)} "
            f"({int(past.sum())} of {len(annotations)} rows). Check that t counts frames from 0 (not from 1: "
            "subtract 1 from every row) and is not a time in minutes or hours, and that the table is "
            "this dataset's"
        )


def check_t_not_time(
    annotations: pd.DataFrame,
    tracks: pd.DataFrame,
    frame_interval_minutes: float | None,
    frame_step: int | None,
    source: str,
    *,
    max_distance_px: float,
    on: MatchOn = "position",
) -> list[str]:
    """Refuse a table whose ``t`` is a time in minutes or seconds rather than frames, where its rows
    say so; warn where only its frames hint at it.

    Such a ``t`` is the frame times the plate's frame interval in that unit, so every annotated frame
    is a multiple of it; where those values stay inside the plate's frames,
    :func:`check_frames_in_movie` passes them and every label lands on the wrong frame (t 5 of a plate
    at 5-minute intervals, frame 1, read as frame 5). The trigger: ``k``, the greatest common divisor
    of the table's distinct frames other than 0, is the interval in minutes or seconds or a whole
    multiple of it (a table in minutes annotated on every other frame;
    :func:`~dynaclr.numerics.timescale.time_unit_of_step` with ``multiples``). A trigger alone is no
    evidence: people annotate round frames (10, 20, 30 of a plate at 10 minutes). So the rows are
    placed on the tracked cells read both ways, ``t`` as frames and ``t / interval`` as frames
    (:func:`_rows_on_tracked_cells`: a row with ``y, x`` lies within ``max_distance_px`` of a tracked
    cell of its FOV at that frame, or, matching by track, of the cell its ``fov_name, track_id``
    name; a row without ``y, x`` names a track present at that frame). Reading ``t`` as time placing
    at least :data:`BETTER_MATCH_SHARE` of the rows, :data:`BETTER_MATCH_RATIO` times as many as
    reading it as frames, and :data:`MIN_READING_ROWS` rows, is refused; reading it as frames
    winning by the same margins passes silently; anything else (a small table, tracks spanning the
    movie and rows without ``y, x``, which fit both readings alike) is a WARNING, logged and
    returned. ``frame_step`` (``annotations.frame_step``, else ``tracks.frame_step``: a table
    annotated, or tracks made, on one frame in ``frame_step``) silences the check where ``k`` is a
    multiple of it; nothing is checked where the interval is not known (None).

    Args:
        annotations: the validated table, ``y, x`` in pixels (:func:`positions_in_pixels`).
        tracks: ``fov_name, track_id, t, y, x`` (the ``tracks`` artifact).

    Returns:
        The WARNING logged, as logged (a list: empty where nothing is warned about).

    Raises:
        AnnotationTableError: naming ``source``, column ``t``, the frames found, the interval and
            unit, the rows placed by each reading, and the fix.
    """
    frames = np.unique(annotations["t"].to_numpy(dtype=np.int64))
    later = frames[frames > 0]
    if later.size == 0:
        return []
    k = int(np.gcd.reduce(later))
    if frame_step is not None and k % frame_step == 0:
        return []
    time_unit = time_unit_of_step(k, frame_interval_minutes, multiples=True)
    if time_unit is None:
        return []
    unit, interval = time_unit
    n_rows = len(annotations)
    cells = (
        tracks[["fov_name", "track_id", "t", "y", "x"]]
        .astype({"fov_name": str})
        .drop_duplicates(["fov_name", "track_id", "t"])
    )
    t = annotations["t"].to_numpy(dtype=np.int64)
    as_time = np.rint(t / interval).astype(np.int64)
    n_frames = _rows_on_tracked_cells(annotations, t, cells, max_distance_px, on)
    n_time = _rows_on_tracked_cells(annotations, as_time, cells, max_distance_px, on)
    shown = ", ".join(map(str, frames[:_SHOWN])) + (f", ... {frames[-1]}" if frames.size > _SHOWN else "")
    times = round(k / interval)
    of_interval = (
        f"the plate's frame interval in {unit} ({interval:g})"
        if times == 1
        else f"{times} times the plate's frame interval in {unit} ({interval:g})"
    )
    placed = (
        f"on the tracked cell their fov_name, track_id name (within {max_distance_px:g} px where y, x given)"
        if on == "track"
        else f"on a tracked cell of their FOV (within {max_distance_px:g} px where y, x given)"
    )
    what = (
        f"{source}: column 't' holds frames of the plate counted from 0; found all {frames.size} distinct "
        f"values ({shown}) multiples of {k}, {of_interval}. Of the {n_rows} annotations, those {placed} "
        f"at their frame: {n_frames} reading t as frames, {n_time} reading t as time in {unit} (frame t / "
        f"{interval:g})"
    )
    if n_time >= max(BETTER_MATCH_SHARE * n_rows, BETTER_MATCH_RATIO * n_frames, MIN_READING_ROWS):
        raise AnnotationTableError(
            f"{what}: t is time in {unit}, which would put every annotation at {interval:g} times its frame "
            f"(t {k}, frame {k / interval:g}, read as frame {k}). Convert t to frames (t / {interval:g}) and "
            "import again"
        )
    if n_frames >= max(BETTER_MATCH_SHARE * n_rows, BETTER_MATCH_RATIO * n_time, MIN_READING_ROWS):
        return []
    warning = (
        f"{what}: neither reading fits clearly better ({100.0 * BETTER_MATCH_SHARE:.0f} % of the rows and "
        f"{BETTER_MATCH_RATIO:g} times as many as the other; {MIN_READING_ROWS} rows at least), so t is read "
        f"as frames. If t is a time in {unit}, convert it to frames (t / {interval:g}) and import again; "
        f"if t counts the plate's frames (cells annotated on round frames, or on one frame in {k}), set "
        f"annotations.frame_step: {k} to silence this warning"
    )
    logger.warning("%s", warning)
    return [warning]


def _rows_on_tracked_cells(
    annotations: pd.DataFrame, frames: np.ndarray, cells: pd.DataFrame, max_distance_px: float, on: MatchOn
) -> int:
    """How many of ``annotations``' rows, each put at ``frames`` (its reading of ``t``), lie on a
    tracked cell of ``cells`` (:func:`check_t_not_time`): a row with ``y, x`` within
    ``max_distance_px`` of a cell of its FOV at that frame (matching by track: of the cell its
    ``fov_name, track_id`` name), one without them naming a track present at that frame."""
    rows = annotations[["fov_name", "track_id", "task", "y", "x"]].reset_index(drop=True).assign(t=frames)
    positioned = (rows["y"].notna() & rows["x"].notna()).to_numpy()
    named = rows[["fov_name", "track_id", "t"]].merge(
        cells, on=["fov_name", "track_id", "t"], how="left", validate="many_to_one"
    )
    exists = named["y"].notna().to_numpy()
    if on == "track":
        near = np.hypot(rows["y"] - named["y"], rows["x"] - named["x"]).to_numpy() <= max_distance_px
        return int(np.where(positioned, exists & near, exists).sum())
    n_placed = int((exists & ~positioned).sum())
    if positioned.any():
        matched = match_observations_to_cells(
            rows[positioned].reset_index(drop=True),
            cells,
            "position",
            max_distance_px,
            kind="annotations",
            unmatched_level=logging.DEBUG,
        )
        n_placed += int((matched >= 0).sum())
    return n_placed


def check_positions_in_image(annotations: pd.DataFrame, shape_yx: Sequence[int], source: str) -> None:
    """Refuse a table whose given ``y, x`` lie outside the ``(Y, X)`` image in more than
    :data:`OUTSIDE_IMAGE_SHARE` of the positioned rows; warn about fewer, naming them.

    Positions are what classifiers match annotations to patches by, and every cell's centre lies
    in the image: ``[-0.5, Y - 0.5] x [-0.5, X - 0.5]`` in pixel-centre coordinates (napari's).
    Rows without ``y, x`` (taken from the tracks) are not counted. Up to
    :data:`OUTSIDE_IMAGE_STRAY_ROWS` rows outside are only warned about in any table, unless they
    are all its positioned rows.

    Raises:
        AnnotationTableError: naming ``source``, the count and share outside, the image size, the
            rows and what to check (pixels, not micrometres; the dataset's own table).
    """
    n_y, n_x = (int(size) for size in shape_yx)
    given = annotations["y"].notna() & annotations["x"].notna()
    inside = annotations["y"].between(-_PIXEL_HALF, n_y - _PIXEL_HALF) & annotations["x"].between(
        -_PIXEL_HALF, n_x - _PIXEL_HALF
    )
    outside = given & ~inside
    n_outside, n_given = int(outside.sum()), int(given.sum())
    if not n_outside:
        return
    what = (
        f"{source}: {n_outside} of {n_given} annotations with y, x ({100.0 * n_outside / n_given:.1f} %) lie "
        f"outside the image (y in [-0.5, {n_y - _PIXEL_HALF:g}], x in [-0.5, {n_x - _PIXEL_HALF:g}] pixels): "
        + "; ".join(
            f"{row.fov_name} track {row.track_id} frame {row.t} at y {row.y:g}, x {row.x:g}"
            for row in annotations[outside].head(_SHOWN).itertuples()
        )
        + f" (at {_rows(outside)}). Check that y, x are pixels of this dataset's images (not micrometres, "
        "unless annotations.position_unit: um, nor (x, y) swapped) and that the table is this dataset's"
    )
    stray = n_outside <= OUTSIDE_IMAGE_STRAY_ROWS and n_outside < n_given
    if n_outside > OUTSIDE_IMAGE_SHARE * n_given and not stray:
        raise AnnotationTableError(
            f"{what}; more than {OUTSIDE_IMAGE_SHARE:.0%} outside is refused (they would match no patch)"
        )
    logger.warning(
        "%s; they are kept, but match a patch only if its centre is within "
        "analysis.classification.max_match_distance_px",
        what,
    )


def positions_in_pixels(
    annotations: pd.DataFrame, position_unit: str, pixel_size_um: float | None, source: str
) -> pd.DataFrame:
    """``annotations`` with the table's ``y, x`` in pixels: divided by ``pixel_size_um`` where
    ``position_unit`` (``annotations.position_unit``) is ``um``.

    Raises:
        AnnotationTableError: ``um`` on a plate whose pixel size nothing states, where some row gives
            a position (a table whose rows all lack ``y, x`` has nothing to divide).
    """
    if position_unit == "px":
        return annotations
    if pixel_size_um is None:
        if not annotations[list(POSITION_COLUMNS)].notna().to_numpy().any():
            return annotations
        raise AnnotationTableError(
            f"{source}: annotations.position_unit: um reads y, x as micrometres, divided by the plate's "
            "pixel size; expected a pixel size stated by the plate's metadata or acquisition.pixel_size_um, "
            "found none. Set acquisition.pixel_size_um, or write y, x in pixels (position_unit: px)"
        )
    return micrometres_to_pixels(annotations, pixel_size_um)


def check_position_reading(
    annotations: pd.DataFrame,
    tracks: pd.DataFrame,
    *,
    max_distance_px: float,
    position_unit: str,
    pixel_size_um: float | None,
    source: str,
    on: MatchOn = "position",
) -> tuple[dict[str, int], list[str]]:
    """Refuse a table whose ``y, x`` match the tracked cells only when read another way, or (matching
    by track) lie away from the cells their track ids name.

    Positions in micrometres on pixels finer than 1 µm, or with x and y swapped, stay inside the
    image (:func:`check_positions_in_image` lets them pass), and classifiers matching annotations
    by position (``match_annotations_on: position``) then give their labels to other cells, or to
    none. The table's positioned rows (already in pixels: :func:`positions_in_pixels`) are matched to
    the tracked cells as classify matches them to patches (the tracks' centroids are the patch
    centres: same FOV and frame, within ``max_distance_px``). Where fewer than
    :data:`POOR_MATCH_SHARE` match, the other readings are matched too: x and y swapped and, where
    the plate's pixel size is known, the other unit of ``position_unit`` (and it swapped). One that
    matches at least :data:`BETTER_MATCH_SHARE` of the rows, :data:`BETTER_MATCH_RATIO` times as many
    as the table as given and :data:`MIN_READING_ROWS` rows is the table's: refused. A poor match
    with no better reading is a warning (positions of cells the tracks lack, or another dataset's).

    With ``on='track'`` (``match_annotations_on: track``: classify takes each row's cell by its
    ``fov_name, track_id, t`` and ignores ``y, x``) a row matches where its ``y, x`` lie within
    ``max_distance_px`` of the tracked centroid of the cell it names (every row must name one:
    :func:`locate_annotations`), by the same shares and readings. A table written against another
    tracking (ids renumbered by a rerun) places its rows away from the cells its ids now name, and
    classifiers matching by track would train on other cells' labels: fewer than
    :data:`POOR_MATCH_SHARE` matching, with no better reading, is refused, naming the rows, their
    distances and the named tracks' centroids; fewer rows away than that are a warning naming them.

    Returns:
        The positioned rows (``rows``) and the count matched by each reading tried (``given``, and
        ``swapped``, ``um``/``px``, ``um_swapped``/``px_swapped`` where tried), for the record; and
        the WARNING logged (a poor match, no better reading), as logged, or none.

    Raises:
        AnnotationTableError: naming ``source``, each reading's count and what to fix (swap the
            columns, ``annotations.position_unit``); matching by track, also the rows away from
            their named cells, their distances and those cells' centroids, and what to do.
    """
    given = (annotations["y"].notna() & annotations["x"].notna()).to_numpy()
    positioned = annotations.loc[given, ["fov_name", "track_id", "t", "task"]].reset_index(drop=True)
    y = annotations["y"].to_numpy(dtype=np.float64)[given]
    x = annotations["x"].to_numpy(dtype=np.float64)[given]
    n_rows = len(positioned)
    counts = {"rows": n_rows}
    if not n_rows:
        return counts, []
    by_track = on == "track"
    cells = tracks[["fov_name", "track_id", "t", "y", "x"]].astype({"fov_name": str})
    named = (
        positioned[["fov_name", "track_id", "t"]]
        .merge(
            cells.drop_duplicates(["fov_name", "track_id", "t"]), on=["fov_name", "track_id", "t"], how="left"
        )
        .loc[:, ["y", "x"]]
        .to_numpy(dtype=np.float64)
        if by_track
        else np.empty((0, 2))
    )

    def distances(reading_y: np.ndarray, reading_x: np.ndarray) -> np.ndarray:
        """Matching by track: each row's distance (pixels) from its named cell's centroid."""
        return np.hypot(reading_y - named[:, 0], reading_x - named[:, 1])

    def matched(reading_y: np.ndarray, reading_x: np.ndarray) -> int:
        if by_track:
            return int((distances(reading_y, reading_x) <= max_distance_px).sum())
        rows = match_observations_to_cells(
            positioned.assign(y=reading_y, x=reading_x),
            cells,
            "position",
            max_distance_px,
            kind="annotations",
            unmatched_level=logging.DEBUG,
        )
        return int((rows >= 0).sum())

    n_given = counts["given"] = matched(y, x)
    if n_given >= POOR_MATCH_SHARE * n_rows or n_rows < MIN_READING_ROWS:
        if by_track and n_given < n_rows:
            return counts, _away_from_named_cells(
                annotations.index[given],
                positioned,
                y,
                x,
                distances(y, x),
                named,
                max_distance_px,
                source,
                n_given,
            )
        return counts, []
    readings = {"swapped": (x, y)}
    other = "um" if position_unit == "px" else "px"
    if pixel_size_um is not None:
        factor = 1.0 / pixel_size_um if other == "um" else pixel_size_um
        readings[other] = (y * factor, x * factor)
        readings[f"{other}_swapped"] = (x * factor, y * factor)
    for name, (reading_y, reading_x) in readings.items():
        counts[name] = matched(reading_y, reading_x)
    best = max(readings, key=lambda name: counts[name])
    n_best = counts[best]
    unit = {"px": "pixels", "um": "micrometres"}
    said = {
        "given": f"as given ({unit[position_unit]})",
        "swapped": f"{unit[position_unit]} with x and y swapped",
        other: f"{unit[other]} (pixel size {pixel_size_um:g} µm)" if pixel_size_um else unit[other],
        f"{other}_swapped": f"{unit[other]} with x and y swapped",
    }
    shown = ", ".join(f"{said[name]} {counts[name]}" for name in ("given", *readings))
    untried = f"; {unit[other]} not tried: the plate states no pixel size" if pixel_size_um is None else ""
    near = (
        "the tracked cell their fov_name, track_id, t name"
        if by_track
        else "a tracked cell of their FOV and frame number"
    )
    what = (
        f"{source}: of {n_rows} annotations with y, x, those within {max_distance_px:g} px "
        f"(analysis.classification.max_match_distance_px) of {near}: "
        f"{shown}{untried}"
    )
    if n_best >= max(BETTER_MATCH_SHARE * n_rows, BETTER_MATCH_RATIO * n_given, MIN_READING_ROWS):
        fixes = []
        if best.endswith("swapped"):
            fixes.append("swap the table's columns y and x (rename y to x and x to y)")
        if best.startswith(other):
            fixes.append(
                f"set annotations.position_unit: {other}"
                + (" (micrometres are divided by the pixel size)" if other == "um" else "")
            )
        harm = (
            "the positions written with the annotations would be other places than their cells"
            if by_track
            else "classifiers matching by position would give their labels to other cells or to none"
        )
        raise AnnotationTableError(
            f"{what}. Expected y, x in {unit[position_unit]} (annotations.position_unit: {position_unit}), "
            f"found positions that match the tracked cells read as {said[best]}: {harm}. "
            + _sentence(", and ".join(fixes))
        )
    if by_track:
        _away_from_named_cells(
            annotations.index[given], positioned, y, x, distances(y, x), named, max_distance_px, what, n_given
        )
    warning = (
        f"{what}; no other reading matches clearly more ({100.0 * BETTER_MATCH_SHARE:.0f} % of them and "
        f"{BETTER_MATCH_RATIO:g} times as many). Check that y, x are this dataset's positions; rows "
        "matching no tracked cell match no patch"
    )
    logger.warning("%s", warning)
    return counts, [warning]


def _away_from_named_cells(
    index: pd.Index,
    positioned: pd.DataFrame,
    y: np.ndarray,
    x: np.ndarray,
    distance: np.ndarray,
    named: np.ndarray,
    max_distance_px: float,
    what: str,
    n_near: int,
) -> list[str]:
    """Matching by track (:func:`check_position_reading`): the rows whose ``y, x`` lie farther than
    ``max_distance_px`` from the centroid of the tracked cell they name, named with their distances
    and those centroids. Fewer than :data:`POOR_MATCH_SHARE` of the ``len(positioned)`` rows near
    their cell (``n_near``): refused (the ids are another tracking's, or the positions another
    table's); else a WARNING, logged and returned (as a list, empty where every row is near).

    Args:
        index: the rows' index in the table (their data rows, for :func:`_rows`).
        positioned, y, x: the rows' ``fov_name, track_id, t`` and their ``y, x`` (pixels).
        distance, named: each row's distance from its named cell's centroid, and that centroid.
        what: the start of the message (``source``, or ``source`` and each reading's count).
    """
    away = distance > max_distance_px
    if not away.any():
        return []
    n_rows = len(positioned)
    order = np.flatnonzero(away)[np.argsort(-distance[away], kind="stable")][:_SHOWN]
    examples = "; ".join(
        f"{positioned.at[i, 'fov_name']} track {positioned.at[i, 'track_id']} frame {positioned.at[i, 't']} "
        f"at y {y[i]:g}, x {x[i]:g}: {distance[i]:.1f} px from "
        f"the track's centroid y {named[i, 0]:g}, x {named[i, 1]:g}"
        for i in order
    )
    rows = pd.Series(away, index=index)
    said = (
        f"{what}: matching by track (analysis.classification.match_annotations_on: track), "
        f"{int(away.sum())} of {n_rows} annotations with y, x lie more than {max_distance_px:g} px "
        f"(analysis.classification.max_match_distance_px) from the tracked cell their fov_name, track_id, t "
        f"name, the farthest: {examples} (at {_rows(rows)})"
    )
    if n_near < POOR_MATCH_SHARE * n_rows:
        raise AnnotationTableError(
            f"{said}. Expected each row's y, x on the cell its track id names; found most elsewhere: the "
            "track ids are not those of the workflow's tracks (a table made on an earlier tracking, ids "
            "renumbered since), and classifiers matching by track would train on other cells' labels. "
            "Write the track ids of the tracks the workflow reads (results/<dataset>/tracks.parquet), or "
            "match by position (analysis.classification.match_annotations_on: position), which places each "
            "row by its y, x. If the ids are right and y, x are not each frame's cell centre (one click "
            "copied along a track, a click beside the nucleus), remove the y and x columns: matching by "
            "track reads only the ids (or raise max_match_distance_px)"
        )
    warning = (
        f"{said}; they are kept under their track ids (classifiers matching by track ignore y, x): check "
        "that those rows' track ids and positions name the same cell"
    )
    logger.warning("%s", warning)
    return [warning]


def _sentence(text: str) -> str:
    """``text`` with its first letter upper-case (``str.capitalize`` lowers the others)."""
    return text[:1].upper() + text[1:]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ImportAnnotationsInputs(StageFiles):
    """Rule ``import_annotations``: your table (one file, or the files of a table per FOV that
    exist, in the plate's FOV order), and the tracks its cells refer to."""

    table: tuple[Path, ...]
    tracks: Path


def read_configured_table(
    config: AnnotationConfig,
    files: Sequence[str | Path],
    fov_names: Sequence[str] = (),
    positions: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, str]:
    """The table ``config.table`` names, as read (no validation), and what to call it in messages.

    Args:
        files: the table's file, or (``config.table`` a pattern) the files of it that exist, in the
            plate's FOV order (:func:`read_fov_tables`).
        fov_names: the plate's FOVs (a pattern only).
        positions: their TIFF positions (a pattern with ``{position}`` only).
    """
    if config.table_is_pattern:
        source = str(config.table)
        return read_fov_tables(source, files, fov_names, positions), source
    if len(files) != 1:
        raise ValueError(f"annotations.table {config.table!r} is one file; the rule gives {len(files)}")
    return read_annotation_table(files[0]), str(files[0])


def single_fov_class_warnings(
    config: WorkflowConfig,
    files: Mapping[str, Sequence[str]],
    fov_names: Mapping[str, Sequence[str]],
    positions: Mapping[str, Mapping[str, str] | None] | None = None,
) -> list[str]:
    """What the plan knows will leave a classifier's metrics empty, one line each, worded as what
    will happen (the workflow logs them whenever its main process starts, as
    :func:`~dynaclr.config.plate_checks.workflow_warnings` does for simulated plates; the table's
    own log lines, below ERROR, are left to rule ``import_annotations``): a dataset whose
    annotation table trains classifiers while a class of a task the run classifies sits in one FOV
    of the table only. The folds are grouped by FOV, so the fold
    testing that FOV is skipped and no cell of that class is scored
    (:func:`~dynaclr.config.reasons.single_fov_class`); where each class sits in one FOV, every
    fold is skipped and no cell at all (:func:`~dynaclr.config.reasons.single_class_folds`). A
    warning, not a refusal: the final classifier is still fitted on every annotation and predicts
    every cell, and the metrics' ``{metric}_ci_missing`` say why they are empty.

    Args:
        config: the workflow config.
        files: the table files of each dataset that imports one (as rule ``import_annotations``
            lists them: :func:`read_configured_table`).
        fov_names: each of those datasets' plate FOVs.
        positions: their TIFF positions, of the datasets whose table names files by ``{position}``.

    A table that cannot be read or is malformed gives no line: rule ``import_annotations`` refuses
    it, naming the problem.
    """
    lines: list[str] = []
    classified = config.analysis.classification.tasks
    for name in config.classified_datasets():
        annotations = config.datasets[name].annotations
        if annotations.source != "table" or name not in files:
            continue
        # the import's own lines (repeats read once, labels respelled) are rule import_annotations'
        # to log, in its job: raised to ERROR while the plan reads the table
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            table, source = read_configured_table(
                annotations, files[name], fov_names.get(name, ()), (positions or {}).get(name)
            )
            valid = validate_annotation_table(
                table, annotations.tasks, source, on=config.analysis.classification.match_annotations_on
            )
        except (OSError, ValueError) as err:
            logger.setLevel(level)
            logger.debug("%s: annotation table not checked at planning: %s", name, err)
            continue
        finally:
            logger.setLevel(level)
        key = f"datasets.{name}.annotations.table ({source})"
        for task in [task for task in annotations.tasks if task in classified]:
            of_task = valid[valid["task"] == task]
            classes = task_classes(task)
            fovs_of = {
                label: sorted(set(of_task.loc[of_task["label"] == label, "fov_name"])) for label in classes
            }
            n_fovs = of_task["fov_name"].nunique()
            confined = [label for label in classes if len(fovs_of[label]) == 1]
            if len(confined) == 2:
                held = " and ".join(f"only {label!r} cells in FOV {fovs_of[label][0]}" for label in classes)
                lines.append(
                    f"{key}: the {task} annotations hold {held}: "
                    + single_class_folds(task, classes, n_fovs, planned=True)
                )
            elif confined:
                label = confined[0]
                lines.append(
                    f"{key}: annotate {label!r} cells of another FOV: "
                    + single_fov_class(task, classes, label, fovs_of[label][0], n_fovs)
                )
    return lines


def import_annotations_stage(
    config: AnnotationConfig,
    inputs: ImportAnnotationsInputs,
    outputs: AnnotationsOutputs,
    *,
    shape_tzyx: Sequence[int],
    match_on: MatchOn,
    max_match_distance_px: float | None,
    pixel_size_um: float | None,
    fov_names: Sequence[str] | Mapping[str, str] = (),
    frame_interval_minutes: float | None = None,
    tracks_frame_step: int | None = None,
) -> pd.DataFrame:
    """Validate a user's annotation table and write it as an ``annotations`` artifact.

    ``inputs.table`` is the ``.csv`` or ``.parquet`` table (module docstring), ``inputs.tracks``
    the ``tracks`` table the annotations refer to (it gives missing ``y, x``). The output is a
    Parquet table (kind ``annotations``, stage ``import_annotations``): columns ``fov_name,
    track_id, t, y, x, task, label`` sorted by task, FOV, track, frame, the layout
    :func:`~dynaclr.classify.annotations.draw_annotations_stage` writes. The table must hold rows
    of every task of ``config.tasks``; the record holds ``config``, the table's content hash
    (``table_sha256``) and its layout (``table_layout``: ``long`` or ``wide``). ``shape_tzyx`` is
    the plate's ``(T, Z, Y, X)``: every ``t`` must be one of its frames
    (:func:`check_frames_in_movie`), and not read as a time in minutes or seconds of the plate's
    ``frame_interval_minutes`` (its stated interval, or None: not checked; :func:`check_t_not_time`:
    refused where its rows lie on the tracked cells clearly more often read as that time, a WARNING
    in ``import_warnings`` where they cannot tell; ``config.frame_step``, else ``tracks_frame_step``
    (the dataset's ``tracks.frame_step``, tracks imported on one frame in that many), allowing a table
    annotated every ``frame_step``-th frame), and the table's own
    ``y, x`` must lie in the image
    (:func:`check_positions_in_image`). ``match_on`` is how the classifiers will match the
    annotations to cells (``analysis.classification.match_annotations_on``): it decides which rows
    are one cell (:func:`unique_cells`), so a table classify would refuse is refused here, and,
    matching by track, every row must name a cell of the tracks (:func:`locate_annotations`).
    The table's ``y, x`` are in ``config.position_unit`` (micrometres are divided by
    ``pixel_size_um``, the plate's stated pixel size or None: :func:`positions_in_pixels`) and are
    checked against the tracked cells within ``max_match_distance_px``
    (``analysis.classification.max_match_distance_px``; :func:`check_position_reading`): a table
    whose ``y, x`` match them only when read with x and y swapped or in the other unit is refused;
    matching by track, so is one whose ``y, x`` lie mostly away from the cells its track ids name
    (ids of another tracking), and a few such rows are a WARNING. The counts matched are recorded
    (``position_readings``), with the WARNINGs as logged (``import_warnings``, a list as the imported
    tracks' record has, the time check's first; empty otherwise).

    With ``config.table`` a pattern (``{row}``, ``{col}``, ``{fov}``: a file per FOV; or a ``tiff:``
    dataset's ``{position}``), ``inputs.table`` are the files of it that exist and ``fov_names`` the
    plate's FOVs, in order; with ``{position}``, ``{fov_name: position}`` (each FOV's TIFF position,
    ``DatasetConfig.fov_positions``: the rule's ``fov_names`` param carries them, so that its script,
    whose date Snakemake compares with every import's, is the one before ``{position}``); the files
    are read as one table (:func:`read_fov_tables`), messages name the pattern and each row's file,
    and the record holds each file's hash (``table_files``) instead of ``table_sha256``.

    Returns:
        The written table.
    """
    tracks_path, tasks = inputs.tracks, config.tasks
    positions = dict(fov_names) if isinstance(fov_names, Mapping) else None
    table, source = read_configured_table(config, inputs.table, list(fov_names), positions)
    hashes: dict[str, object] = (
        {"table_files": {str(path): _sha256(path) for path in inputs.table}}
        if config.table_is_pattern
        else {"table_sha256": _sha256(inputs.table[0])}
    )
    layout = annotation_layout(table, source)
    annotations = validate_annotation_table(table, tasks, source, on=match_on)
    check_frames_in_movie(annotations, shape_tzyx[0], source)
    annotations = positions_in_pixels(annotations, config.position_unit, pixel_size_um, source)
    check_positions_in_image(annotations, shape_tzyx[2:], source)
    tracks, tracks_prov = read_table(tracks_path, "tracks", ("fov_name", "track_id", "t", "y", "x"))
    if max_match_distance_px is None:  # the rule passed None matching by track before the check existed
        raise ValueError(
            "import_annotations_stage: expected max_match_distance_px (analysis.classification."
            "max_match_distance_px) whatever match_on is, the table's y, x being checked against the tracked "
            "cells within it; found None"
        )
    # a t in minutes is refused before its rows are placed at frame t: they would be refused as cells
    # the tracks lack, or as positions away from their cells, naming the wrong cause
    time_warnings = check_t_not_time(
        annotations,
        tracks,
        frame_interval_minutes,
        config.frame_step if config.frame_step is not None else tracks_frame_step,
        source,
        max_distance_px=max_match_distance_px,
        on=match_on,
    )
    # cells the tracks cannot place (by track: any row naming no tracked cell) are refused first
    located = locate_annotations(annotations, tracks, source, str(tracks_path), on=match_on)
    readings: dict[str, object] = {}
    position_readings, position_warnings = check_position_reading(
        annotations,
        tracks,
        max_distance_px=max_match_distance_px,
        position_unit=config.position_unit,
        pixel_size_um=pixel_size_um,
        source=source,
        on=match_on,
    )
    readings[IMPORT_WARNINGS] = [*time_warnings, *position_warnings]
    if match_on == "position" or position_readings["rows"]:
        # matched by track without y, x, nothing was checked: no readings, so the QC page says
        # "no position check (matched by track)" rather than "no import warnings"
        readings[POSITION_READINGS] = position_readings
    annotations = located
    annotations = annotations.sort_values(["task", "fov_name", "track_id", "t"], ignore_index=True)
    recorded_config = {
        # frame_step only where set: records as before it existed
        **config.model_dump(mode="json", exclude=None if config.frame_step is not None else {"frame_step"}),
        **hashes,
        "table_layout": layout,
        **({"pixel_size_um": pixel_size_um} if config.position_unit == "um" else {}),
        **readings,
    }
    provenance = make_provenance(
        ArtifactKind.ANNOTATIONS,
        recorded_config,
        [*((path, None) for path in inputs.table), (tracks_path, tracks_prov)],
        stage="import_annotations",
    )
    write_table(annotations, outputs.annotations, provenance)
    for task, rows in annotations.groupby("task", sort=True):
        counts = rows["label"].value_counts().to_dict()
        logger.info(
            "%s: %d annotations (%s) in %d FOVs",
            task,
            len(rows),
            ", ".join(f"{n} {label}" for label, n in sorted(counts.items())),
            rows["fov_name"].nunique(),
        )
    return annotations
