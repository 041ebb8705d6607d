"""Inputs of patch extraction: source plates and a tracks table, with their provenance.

Source plates and tracks may come from this workflow (their provenance is then checked) or from
elsewhere (a user's own plate or tracking table without a provenance record: accepted and
recorded by path only), read with :func:`dynaclr.io.read_plate_provenance` and
:func:`dynaclr.io.tables.read_optional_table_provenance`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from dynaclr.io import ArtifactError, ArtifactKind, Provenance, parse_csv, read_plate_provenance
from dynaclr.io.plate import read_fov_record, split_fov_name
from dynaclr.io.tables import read_optional_table_provenance

logger = logging.getLogger(__name__)

#: Artifact kinds accepted for each patch source (a plate without provenance is accepted too).
#: Phase is read from the raw plate when it holds Phase3D itself (``phase: null`` in the config).
SOURCE_KINDS: dict[str, tuple[ArtifactKind, ...]] = {
    "raw": (ArtifactKind.RAW_PLATE,),
    "phase": (ArtifactKind.PHASE_PLATE, ArtifactKind.GROUND_TRUTH_PHASE, ArtifactKind.RAW_PLATE),
    "virtual_stain": (ArtifactKind.VIRTUAL_STAIN_PLATE,),
}

#: Artifact kinds accepted for the tracks table (a table without provenance is accepted too).
TRACKS_KINDS: tuple[ArtifactKind, ...] = (ArtifactKind.TRACKS, ArtifactKind.GROUND_TRUTH_TRACKS)

#: Columns every tracks table must have (units: t frames, y/x pixels).
REQUIRED_TRACK_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "parent_track_id", "t", "y", "x")

#: Columns of :func:`read_tracks`'s table, in order.
TRACK_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "well",
    "condition",
    "track_id",
    "parent_track_id",
    "lineage_id",
    "t",
    "y",
    "x",
)


def read_source_provenance(
    path: str | Path,
    source: str,
    fov_name: str | None = None,
    planned_root: Mapping[str, Any] | None = None,
) -> Provenance | None:
    """Provenance of the plate of patch source ``source`` (``None`` for a plate of your own): position
    ``fov_name``'s copy of the plate's record where given and held, else ``planned_root`` (a plate of
    your own, as the dry run read its root): no metadata of the plate's root."""
    if source not in SOURCE_KINDS:
        raise ValueError(f"unknown patch source {source!r}; expected one of {sorted(SOURCE_KINDS)}")
    what = f"{source} plate of patch extraction"
    return read_plate_provenance(path, SOURCE_KINDS[source], what, fov_name, planned_root)


def lineage_from_parents(tracks: pd.DataFrame) -> pd.Series:
    """``lineage_id`` of every row: the ``track_id`` of the root of its parent chain, per FOV.

    A parent that is not in the table (e.g. outside the tracked frames) ends the chain.
    Returns an int64 Series aligned with ``tracks``.
    """
    links = tracks.drop_duplicates(["fov_name", "track_id"])[["fov_name", "track_id", "parent_track_id"]]
    roots: dict[tuple[str, int], int] = {}
    for fov_name, fov_links in links.groupby("fov_name", sort=False):
        parent_of = dict(
            zip(fov_links["track_id"].astype(int), fov_links["parent_track_id"].astype(int), strict=True)
        )
        for track in parent_of:
            current, seen = track, {track}
            while parent_of.get(current, -1) in parent_of:
                current = parent_of[current]
                if current in seen:
                    raise ValueError(f"FOV {fov_name}: parent links form a cycle through track {current}")
                seen.add(current)
            roots[(str(fov_name), track)] = current
    keys = zip(tracks["fov_name"].astype(str), tracks["track_id"].astype(int), strict=True)
    return pd.Series([roots[key] for key in keys], index=tracks.index, dtype="int64")


def read_tracks(path: str | Path, fov_name: str | None = None) -> tuple[pd.DataFrame, Provenance | None]:
    """Read a tracks table (all FOVs, or only ``fov_name``'s rows) in the patch index's conventions.

    With ``fov_name`` only that FOV's row groups are decoded (a Parquet filter), so a per-FOV job's
    memory does not grow with the number of FOVs in the plate. Any Parquet table with
    ``fov_name, track_id, parent_track_id, t, y, x`` works (ground truth, the tracking stage's
    output, or a user's table); see :func:`conform_tracks` for the columns returned.

    Returns:
        The table (columns :data:`TRACK_COLUMNS`) and its provenance (``None``: a table of your own).
    """
    path = Path(path)
    provenance = read_optional_table_provenance(path, TRACKS_KINDS, "tracks table of patch extraction")
    filters = [("fov_name", "==", fov_name)] if fov_name is not None else None
    table = pq.read_table(path, filters=filters).to_pandas()
    return conform_tracks(table, where=str(path)), provenance


def read_fov_tracks(csv: str | Path, record: str | Path, fov_name: str) -> tuple[pd.DataFrame, Provenance]:
    """One FOV's tracks as rule ``track_fov`` wrote them (its CSV and its record), in the patch
    index's conventions (:func:`conform_tracks`).

    A per-FOV job reads its own FOV's tracks, not the dataset's table: planning a plate of N FOVs
    then never makes N jobs depend on a file made from N inputs.

    Raises:
        ArtifactError: the record is missing, not a tracking record, or of another FOV or CSV.
    """
    csv, record = Path(csv), Path(record)
    provenance, metrics = read_fov_record(record, "tracks_fov")
    if metrics.get("fov_name") != fov_name or Path(str(metrics.get("tracks_csv", ""))) != csv:
        raise ArtifactError(
            f"{record}: records FOV {metrics.get('fov_name')!r} and tracks CSV "
            f"{metrics.get('tracks_csv')!r}, expected FOV {fov_name!r} and {csv}; rerun "
            "`snakemake --forcerun track_fov`"
        )
    table = parse_csv(csv)
    table.insert(0, "fov_name", fov_name)
    return conform_tracks(table, where=str(csv)), provenance


def check_tracks(table: pd.DataFrame, where: str) -> None:
    """Fail (naming ``where``) on missing required columns, missing values or repeated observations.

    Raises:
        ArtifactError: a column of :data:`REQUIRED_TRACK_COLUMNS` is absent or has missing values,
            or a ``(fov_name, track_id, t)`` appears twice.
    """
    missing = [c for c in REQUIRED_TRACK_COLUMNS if c not in table.columns]
    if missing:
        raise ArtifactError(
            f"{where}: tracks table lacks required columns {missing}; expected "
            f"{list(REQUIRED_TRACK_COLUMNS)}, found {list(table.columns)}"
        )
    bad = table[list(REQUIRED_TRACK_COLUMNS[1:])].isna().any()
    if bad.any():
        raise ArtifactError(f"{where}: tracks table has missing values in columns {list(bad[bad].index)}")
    duplicated = table.duplicated(["fov_name", "track_id", "t"])
    if duplicated.any():
        first = table[duplicated].iloc[0]
        raise ArtifactError(
            f"{where}: {int(duplicated.sum())} rows repeat a (fov_name, track_id, t); first: "
            f"fov {first['fov_name']}, track {first['track_id']}, t {first['t']}"
        )


def conform_tracks(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """A checked tracks table (:func:`check_tracks`) in the patch index's conventions.

    ``lineage_id`` is computed from the parent links when absent (:func:`lineage_from_parents`);
    ``well`` is taken from ``fov_name`` (``row/column``) when absent; ``condition`` is kept when
    present, else missing (``<NA>``).

    Returns:
        Columns :data:`TRACK_COLUMNS`: ``t`` int64 frames, ``y``/``x`` float64 pixels, ids int64.
    """
    check_tracks(table, where)
    out = pd.DataFrame(
        {
            "fov_name": table["fov_name"].astype(str),
            "track_id": table["track_id"].astype("int64"),
            "parent_track_id": table["parent_track_id"].astype("int64"),
            "t": table["t"].astype("int64"),
            "y": table["y"].astype("float64"),
            "x": table["x"].astype("float64"),
        }
    )
    for name in out["fov_name"].unique():
        split_fov_name(name)  # fails early on a malformed name
    out["lineage_id"] = (
        table["lineage_id"].astype("int64") if "lineage_id" in table.columns else lineage_from_parents(out)
    )
    if "well" in table.columns:
        out["well"] = table["well"].astype(str)
    else:
        out["well"] = out["fov_name"].str.rsplit("/", n=1).str[0]
    out["condition"] = (
        table["condition"].astype("string")
        if "condition" in table.columns
        else pd.Series(pd.NA, index=out.index, dtype="string")
    )
    return out[list(TRACK_COLUMNS)]


def fov_tracks(tracks: pd.DataFrame, fov_name: str, path: str | Path) -> pd.DataFrame:
    """Rows of one FOV sorted by ``(t, track_id)``.

    A FOV without tracks (no cell in it, or nothing tracked at all) is not an error: a warning is
    logged and no rows are returned, so the FOV gets an empty, schema-valid patch store and the
    workflow goes on. (A FOV name that is not in the plate fails when the plate is opened.)
    """
    rows = tracks[tracks["fov_name"] == fov_name].sort_values(["t", "track_id"], kind="stable")
    if rows.empty:
        logger.warning("%s: no tracks for FOV %s; it gets an empty patch store", path, fov_name)
    return rows.reset_index(drop=True)
