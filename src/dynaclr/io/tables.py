"""Tables: Parquet artifacts with provenance in the file's key-value metadata, and summary CSVs.

Summary CSVs (``results/evaluation/*.csv``) are for people and for the report; the per-job
artifacts they summarise carry the provenance. A CSV has no metadata block, so its columns are
the contract (documented by the functions that build them). A CSV has no types either: every CSV
is read with :func:`read_csv` (or :func:`parse_csv`), which reads the columns that name things
(:func:`is_text_column`) as text, so a dataset ``01`` or a model ``NA`` is read back as written.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.io.parsers.readers import STR_NA_VALUES

from dynaclr.io.atomic import atomic_output
from dynaclr.io.provenance import (
    PROVENANCE_KEY,
    ArtifactError,
    Provenance,
    check_optional_provenance,
    check_provenance,
    unreadable_artifact,
)

#: Ids and frames of tables (``track_id``, ``t``, ``id``, ``parent_id``, ...) must lie below this:
#: 2**53 is the first integer above which float64 cannot hold every integer, and a table's integer
#: columns pass through float64 (pandas reads a CSV column with an empty cell as floats, and an
#: integer column with a missing value becomes float64 on its way to Parquet). At or above it an id
#: read back may not be the one written, and two ids may become one.
LARGEST_ID = 2**53

logger = logging.getLogger(__name__)


def write_table(df: pd.DataFrame, path: str | Path, provenance: Provenance) -> None:
    """Write ``df`` to Parquet at ``path`` (atomically) with ``provenance`` in its metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[PROVENANCE_KEY.encode()] = provenance.model_dump_json().encode()
    table = table.replace_schema_metadata(metadata)
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def read_table_provenance(path: str | Path, kind: str) -> Provenance:
    """Read and check the provenance of the Parquet table at ``path``."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file not found (expected a '{kind}' table)")
    return check_provenance(_recorded_provenance(path, kind), kind, path)


def _recorded_provenance(path: Path, kinds: str | Sequence[str]) -> dict[str, Any] | None:
    """The provenance record in the Parquet metadata of ``path`` as read JSON; ``None`` where it has none.

    Raises:
        ArtifactError: the file or its record cannot be parsed (a damaged file, or a record that is no
            JSON: a ``JSONDecodeError`` naming no file before).
    """
    try:
        metadata = pq.read_schema(path).metadata or {}
        raw = metadata.get(PROVENANCE_KEY.encode())
        return json.loads(raw) if raw else None
    except Exception as err:  # pyarrow raises several error types for a damaged file; json ValueError
        raise unreadable_artifact(path, kinds, err) from err


def read_optional_table_provenance(
    path: str | Path, accepted_kinds: Sequence[str], what: str
) -> Provenance | None:
    """Provenance of a Parquet table that this workflow may or may not have written.

    The table counterpart of :func:`dynaclr.io.read_plate_provenance`: a table of the user's own
    (no dynaclr record) is accepted and ``None`` returned, so the caller records it by path only;
    a table with a record must be of one of ``accepted_kinds`` and of the current schema.

    Args:
        path: the Parquet file.
        accepted_kinds: artifact kinds that may serve here, e.g. ``("tracks", "ground_truth_tracks")``.
        what: what the table is for, for messages (e.g. ``"tracks table of patch extraction"``).

    Raises:
        ArtifactError: the file is missing, or its record is of another kind or out of date; the
            message names the file, what was expected and what was found.
    """
    path = Path(path)
    expected = " or ".join(accepted_kinds)
    if not path.exists():
        raise ArtifactError(f"{path}: table not found (the {what}: a table of kind {expected}, or your own)")
    return check_optional_provenance(_recorded_provenance(path, accepted_kinds), accepted_kinds, path, what)


def read_table(
    path: str | Path, kind: str, required_columns: list[str] | tuple[str, ...] = ()
) -> tuple[pd.DataFrame, Provenance]:
    """Read a Parquet artifact, check its provenance and that ``required_columns`` are present."""
    prov = read_table_provenance(path, kind)
    df = pq.read_table(path).to_pandas()
    missing = [c for c in required_columns if c not in df.columns]
    if missing:
        raise ArtifactError(
            f"{path}: '{kind}' table lacks required columns {missing}; found {list(df.columns)}"
        )
    return df, prov


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` to ``path`` as CSV (no index), under a temporary name moved into place."""
    with atomic_output(path) as tmp:
        table.to_csv(tmp, index=False)


#: Columns of the workflow's CSVs (and of the tables users give as CSV) that name things: datasets,
#: models, FOVs, tasks, labels, stages, reasons. Read by :func:`parse_csv` as text.
TEXT_COLUMNS = frozenset(
    {
        "model",
        "dataset",
        "train_dataset",
        "model_a",
        "model_b",
        "trained_on",
        "distribution",
        "transfers_skipped",
        "fov_name",
        "well",
        "condition",
        "task",
        "label",
        "positive_class",
        "predicted_label",
        "representation",
        "definition",
        "stage",
        "status",
        "reason",
        "dropped_frames",
        "frames_without_signal",
        "frames_without_foreground",
        "mode",
        "onset_source",
        "state_source",
        "event",
        "role",
        "channel",
        "feature",
        "source",
        "section",
        "topic",
        "statement",
        "kind",
    }
)

#: Endings of text columns named after another column: ``f1_infection_from`` (the source dataset),
#: ``f1_ci_missing`` (why a CI is missing), ``temporal_not_computed``, ``not_computed`` (why a value is).
TEXT_COLUMN_SUFFIXES = ("_from", "_ci_missing", "not_computed")


def is_text_column(name: str) -> bool:
    """Whether :func:`parse_csv` reads column ``name`` as text (:data:`TEXT_COLUMNS` and the
    columns ending in one of :data:`TEXT_COLUMN_SUFFIXES`)."""
    return name in TEXT_COLUMNS or name.endswith(TEXT_COLUMN_SUFFIXES)


def parse_csv(path: str | Path, *, only_empty_missing: Sequence[str] = (), **options: object) -> pd.DataFrame:
    """Read the CSV at ``path`` with its name columns (:func:`is_text_column`) as text.

    pandas infers each column's type from its cells, so a dataset ``01`` or a FOV part ``000``
    would be read as the number 1 or 0, and a model ``NA``, ``None`` or ``null`` as missing: joins
    and look-ups by name then fail or match nothing. Here a name column is read as written (an empty
    cell is missing); the other columns as pandas infers them. In the columns of
    ``only_empty_missing`` too only an empty cell is missing (a cell ``NA`` stays the text ``NA``),
    but their type is inferred (a column of numeric codes stays numeric). ``options`` go to
    ``pandas.read_csv`` (e.g. ``index_col=False``). The caller checks that the file exists and its
    columns.
    """
    header = pd.read_csv(path, nrows=0, **options).columns  # type: ignore[call-overload]
    text = [str(column) for column in header if is_text_column(str(column))]
    literal = {*text, *only_empty_missing}
    missing_values = {column: ([""] if column in literal else sorted(STR_NA_VALUES)) for column in header}
    table = pd.read_csv(  # type: ignore[call-overload]
        path,
        dtype=dict.fromkeys(text, str),
        keep_default_na=False,
        na_values=missing_values,
        **options,
    )
    return _without_repeated_columns(path, table, **options)


def table_header(path: str | Path, delimiter: str = ",") -> list[str]:
    """The column names of a user's ``.csv`` or ``.parquet`` table, as written, read without its rows.

    A CSV's names are its first record that is not a blank line, read by the :mod:`csv` module as
    ``pandas.read_csv`` reads a header (quoted names unquoted, a UTF-8 byte-order mark dropped),
    split on ``delimiter``; an empty file has none. A Parquet file's names are its schema's. Reading
    one line takes a small fraction of pandas' ``nrows=0`` (which sets up a parser per file): the plan
    reads the header of every FOV's file on every dry run.

    Raises:
        OSError: the file cannot be opened.
        ValueError: the file is not UTF-8 text, not a CSV (a quote left open) or not Parquet.
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return list(pq.read_schema(path).names)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            return next((record for record in csv.reader(handle, delimiter=delimiter) if record), [])
        except csv.Error as err:
            raise ValueError(f"{path}: cannot read the CSV header ({err})") from err


#: pandas' name for the second and later columns a header names alike (``t.1``, ``t.2``).
_MANGLED = re.compile(r"\.\d+$")


class RepeatedColumnError(ValueError):
    """A CSV header names a column twice and the two columns hold different values."""


def _without_repeated_columns(path: str | Path, table: pd.DataFrame, **options: object) -> pd.DataFrame:
    """``table`` read from the CSV at ``path`` without the repeats of a column its header names
    twice. pandas reads a second ``t`` as ``t.1`` and every reader would silently take the first:
    a repeat holding the same values as the first (an index written twice, e.g. pandas'
    ``to_csv`` of a table indexed by a column it also holds) is dropped with an INFO line; a repeat
    holding other values is refused (:class:`RepeatedColumnError`), whichever column it is. Empty
    names (pandas' ``Unnamed: i``) are not compared. The header is read again only where pandas
    renamed a column so (``<name>.<n>``): most files are read once.
    """
    if not any(_MANGLED.search(str(column)) for column in table.columns):
        return table
    written = pd.read_csv(  # type: ignore[call-overload]
        path, header=None, nrows=1, dtype=str, keep_default_na=False, **options
    )
    names = [str(name) for name in written.iloc[0]] if len(written) else []
    if len(names) != table.shape[1]:
        return table
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if not repeated:
        return table
    positions = {name: [i for i, other in enumerate(names) if other == name] for name in repeated}
    as_written = pd.read_csv(  # type: ignore[call-overload]
        path,
        header=None,
        skiprows=1,
        dtype=str,
        keep_default_na=False,
        usecols=sorted(i for at in positions.values() for i in at),
        **options,
    )
    differing = [
        name
        for name, at in positions.items()
        if not all(as_written[at[0]].equals(as_written[i]) for i in at[1:])
    ]
    if differing:
        raise RepeatedColumnError(
            f"{path}: the CSV header names columns {differing} more than once with different values "
            f"in them (found header {names}); expected each column once: a reader would take the "
            "first silently; delete or rename the extra columns"
        )
    keep = [i for i, name in enumerate(names) if not name or names.index(name) == i]
    logger.info(
        "%s: the CSV header names columns %s more than once, each time with the same values; read once",
        path,
        repeated,
    )
    result = table.iloc[:, keep]
    result.columns = [names[i] if names[i] else table.columns[i] for i in keep]
    return result


def read_csv(path: str | Path, required_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a summary CSV (:func:`parse_csv`) and check that ``required_columns`` are present.

    Raises:
        ArtifactError: the file is missing or lacks a column (the message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: table not found")
    table = parse_csv(path)
    missing = [c for c in required_columns if c not in table.columns]
    if missing:
        raise ArtifactError(f"{path}: missing columns {missing}; found {list(table.columns)}")
    return table


#: Key of an import record's ``config`` (tracks, annotations; a raw plate converted from TIFF files):
#: the WARNINGs the import or conversion logged about input it could not tell wrong (``[]`` when
#: none); shown on the report's QC page and first page (:mod:`dynaclr.qc.import_warnings`). An import
#: appends each warning it logs to its list where it logs it (a few checks of its own module); the
#: conversion keeps them with a logging handler (:func:`dynaclr.convert.stage.kept_warnings`), as its
#: warnings come from many functions of two modules, some logged once per file.
IMPORT_WARNINGS = "import_warnings"
#: Key of an import record's ``config``: the position check's readings and scores (tracks: checked
#: on the plate's images; annotations: matched to the tracked cells).
POSITION_READINGS = "position_readings"


def import_checked_fovs(path: str | Path) -> list[str] | None:
    """The FOVs whose images the import that wrote the tracks table at ``path`` read to check the
    positions (its record's :data:`POSITION_READINGS` ``frames``, ``[fov_name, t]`` each:
    :func:`~dynaclr.tracking.position_check.check_positions_on_cells`), in the order checked; ``[]``
    where it read none. ``None`` where no record says which: no such file, a table without a dynaclr
    record or of another kind or schema, a damaged file or record (not JSON), or an import recorded
    without readings. Rule ``import_tracks`` depends on the metadata files of these positions of a
    plate of your own (workflow/rules/common.smk, ``import_tracks_metadata``): one written again
    reruns the check."""
    try:
        config = read_table_provenance(path, "tracks").config
    except (ArtifactError, ValueError):  # planning goes on: every position is then a plain input
        return None
    readings = config.get(POSITION_READINGS)
    frames = readings.get("frames") if isinstance(readings, dict) else None
    if not isinstance(frames, list) or not all(isinstance(f, list) and f for f in frames):
        return None
    return list(dict.fromkeys(str(frame[0]) for frame in frames))


def micrometres_to_pixels(
    table: pd.DataFrame, pixel_size_um: float, z_step_um: float | None = None
) -> pd.DataFrame:
    """``table`` with its numeric ``y, x`` (micrometres) divided by ``pixel_size_um`` (µm per pixel), the
    conversion of a tracks or annotation table's ``position_unit: um``, and with ``z_step_um`` (µm per
    slice) its ``z`` (micrometres) too, where it has one; an empty or non-numeric cell is left as read,
    for the reader's checks to name."""
    sizes = {"y": pixel_size_um, "x": pixel_size_um}
    if z_step_um is not None and "z" in table.columns:
        sizes["z"] = z_step_um
    converted = {}
    for axis, size in sizes.items():
        values = pd.to_numeric(table[axis], errors="coerce").astype("float64")
        converted[axis] = (values / size).where(values.notna(), table[axis])
    return table.assign(**converted)
