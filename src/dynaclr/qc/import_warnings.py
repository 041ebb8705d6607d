"""The warnings a dataset's conversion and imports recorded, for the report (rule ``qc_table``, then
the first page).

A TIFF conversion or an import that finds something it cannot tell wrong (frames counted from 1,
positions that look like µm, ``parent_id`` links not read, a position check that could not decide, a
stack of slices that may be a movie) logs a WARNING and keeps it in its artifact's record; the log is
seldom read. Here each import's record is read as an artifact
(provenance checked) and its warnings listed, one row each, naming the record:

- the raw plate converted from TIFF files (rule ``convert_tiff``): its record's
  :data:`~dynaclr.io.tables.IMPORT_WARNINGS`, the conversion's own WARNINGs (a stack of slices
  read as a z-stack, axes relabelled, a frame interval from jittered planes...), the file named; a
  plate converted before they were recorded says :data:`NOT_RECORDED` (not "none": they are in the
  job's log);
- the imported tracks table (rule ``import_tracks``): its record's
  :data:`~dynaclr.io.tables.IMPORT_WARNINGS` (the position check's WARNING among them);
- the imported annotations (rule ``import_annotations``): a table whose ``y, x`` matched few tracked
  cells, with no other reading matching clearly more: its record's ``import_warnings``, the WARNING
  as logged (:func:`~dynaclr.classify.annotation_table.check_position_reading`); a record written
  before they were recorded gives one rebuilt from its ``position_readings`` counts (which hold the
  other readings' counts only then); matching by track, also rows whose ``y, x`` lie away from the
  cells their track ids name. Annotations matched by track imported before their ``y, x`` were
  checked, or whose table gives no ``y, x`` to check the ids against (no ``position_readings``: no
  position check), say :data:`NO_POSITION_CHECK`.

The phase's sign check is not repeated: ``qc.csv`` already flags a sign-inverted phase per FOV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dynaclr.io import ArtifactError, ArtifactKind, Provenance, read_table_provenance, read_zarr_provenance
from dynaclr.io.tables import IMPORT_WARNINGS, POSITION_READINGS

__all__ = [
    "IMPORT_WARNING_COLUMNS",
    "NOT_RECORDED",
    "NOT_WARNINGS",
    "NO_IMPORT_WARNINGS",
    "NO_POSITION_CHECK",
    "annotation_import_warnings",
    "conversion_warnings",
    "import_warnings_table",
    "tracks_import_warnings",
]

#: Columns of ``import_warnings.csv``: the record (which import, and the artifact's path) and one
#: warning; a record read without any has one row whose warning is :data:`NO_IMPORT_WARNINGS`
#: (:data:`NO_POSITION_CHECK` for annotations matched by track without ``y, x`` or imported before the check).
#: A dataset that imports nothing (tracked by the workflow) has no row.
IMPORT_WARNING_COLUMNS: tuple[str, ...] = ("record", "warning")
NO_IMPORT_WARNINGS = "no import warnings"
NO_POSITION_CHECK = "no position check (matched by track)"
#: The row of a plate converted before its warnings were recorded: a warning (they may be some).
NOT_RECORDED = (
    "warnings not recorded: the plate was converted before they were; they are in the log of rule "
    "convert_tiff (logs/convert_tiff/<dataset>.log under the results folder), or delete the plate and "
    "rerun it"
)
#: The rows of ``import_warnings.csv`` that are no warning.
NOT_WARNINGS: tuple[str, ...] = (NO_IMPORT_WARNINGS, NO_POSITION_CHECK)


def conversion_warnings(provenance: Provenance, path: Path) -> list[str]:
    """The converted raw plate's warnings (its record's ``import_warnings``, in the order logged), or
    :data:`NOT_RECORDED` for a plate converted before they were recorded.

    Raises:
        ArtifactError: the plate was not converted from TIFF files (its record's stage is not
            ``convert_tiff``), or its ``import_warnings`` is not a list of texts.
    """
    if provenance.stage != "convert_tiff":
        raise ArtifactError(
            f"{path}: expected a raw plate converted from TIFF files (record stage 'convert_tiff'), found "
            f"stage {provenance.stage!r}"
        )
    if IMPORT_WARNINGS not in provenance.config:
        return [NOT_RECORDED]
    warnings = provenance.config[IMPORT_WARNINGS]
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise ArtifactError(
            f"{path}: expected the raw plate record's config.{IMPORT_WARNINGS} (a list of texts), found "
            f"{type(warnings).__name__}; delete {path} and rerun (rule convert_tiff)"
        )
    return list(warnings)


def tracks_import_warnings(recorded_config: dict[str, Any], path: Path) -> list[str]:
    """The imported tracks record's warnings (``import_warnings``, in the order logged).

    Raises:
        ArtifactError: the record has no ``import_warnings`` list (imported before they were
            recorded): rerun ``import_tracks``, rather than report none.
    """
    warnings = recorded_config.get(IMPORT_WARNINGS)
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise ArtifactError(
            f"{path}: expected the tracks record's config.{IMPORT_WARNINGS} (a list of texts), found "
            f"{type(warnings).__name__}: the tracks were imported before their warnings were recorded; "
            f"delete {path} and rerun (rule import_tracks)"
        )
    return list(warnings)


def annotation_import_warnings(recorded_config: dict[str, Any]) -> list[str]:
    """The imported annotations record's warnings: its ``import_warnings`` (the WARNING of a table
    whose ``y, x`` matched few tracked cells, no other reading clearly more, as logged); a record
    written before they were recorded: that warning rebuilt from ``position_readings`` (which names
    readings other than ``given`` only then). None otherwise (well matched); matched by track with no
    ``y, x`` to check the ids against, or imported before the check (no ``position_readings``):
    :data:`NO_POSITION_CHECK`."""
    if POSITION_READINGS not in recorded_config:
        return [NO_POSITION_CHECK]
    warnings = recorded_config.get(IMPORT_WARNINGS)
    if isinstance(warnings, list) and all(isinstance(w, str) for w in warnings):
        return list(warnings)
    counts = recorded_config[POSITION_READINGS] or {}
    others = {name: n for name, n in counts.items() if name not in ("rows", "given")}
    if not others:
        return []
    shown = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in others.items())
    return [
        f"of {counts['rows']} annotations with y, x, {counts['given']} lie near a tracked cell of their FOV "
        f"and frame (read otherwise: {shown}); check that y, x are this dataset's positions: rows "
        "matching no tracked cell match no patch"
    ]


def import_warnings_table(
    imported_tracks: Path | None, imported_annotations: Path | None, converted_plate: Path | None = None
) -> tuple[pd.DataFrame, list[tuple[Path, Provenance]]]:
    """The rows (:data:`IMPORT_WARNING_COLUMNS`) of the dataset's conversion and import records (None:
    not converted, not imported), in that order, and the ``(path, provenance)`` of each record read."""
    rows, recorded = [], []
    for what, path in (
        ("TIFF conversion", converted_plate),
        ("tracks import", imported_tracks),
        ("annotations import", imported_annotations),
    ):
        if path is None:
            continue
        if what == "TIFF conversion":
            provenance = read_zarr_provenance(path, ArtifactKind.RAW_PLATE)
            found = conversion_warnings(provenance, path)
        elif what == "tracks import":
            provenance = read_table_provenance(path, ArtifactKind.TRACKS)
            found = tracks_import_warnings(provenance.config, path)
        else:
            provenance = read_table_provenance(path, ArtifactKind.ANNOTATIONS)
            found = annotation_import_warnings(provenance.config)
        recorded.append((path, provenance))
        rows += [{"record": f"{what} ({path})", "warning": text} for text in found or [NO_IMPORT_WARNINGS]]
    return pd.DataFrame(rows, columns=list(IMPORT_WARNING_COLUMNS)), recorded
