"""Inputs of patch extraction: source plates and a tracks table, with their provenance.

Source plates and tracks may come from this workflow (their provenance is then checked) or from
elsewhere (a user's own plate or tracking table without a provenance record: accepted, with a
warning, and recorded by path only).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import zarr

from dynaclr.io import ArtifactError, Provenance, check_provenance
from dynaclr.io.plate import split_fov_name
from dynaclr.io.provenance import PROVENANCE_KEY

logger = logging.getLogger(__name__)

#: Artifact kinds accepted for each patch source (a plate without provenance is accepted too).
SOURCE_KINDS: dict[str, tuple[str, ...]] = {
    "raw": ("raw_plate",),
    "phase": ("phase_plate", "ground_truth_phase"),
    "virtual_stain": ("virtual_stain_plate",),
}

#: Artifact kinds accepted for the tracks table.
TRACKS_KINDS: tuple[str, ...] = ("tracks", "ground_truth_tracks")

#: Columns every tracks table must have (units: t frames, y/x pixels).
REQUIRED_TRACK_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "parent_track_id", "t", "y", "x")


def _check_optional_provenance(
    raw: object, allowed_kinds: tuple[str, ...], path: Path, what: str
) -> Provenance | None:
    if raw is None:
        logger.warning(
            "%s: no dynaclr provenance record; using it as an external %s (recorded by path only)", path, what
        )
        return None
    if not isinstance(raw, dict) or raw.get("kind") not in allowed_kinds:
        found = raw.get("kind") if isinstance(raw, dict) else type(raw).__name__
        raise ArtifactError(
            f"{path}: expected a {what} of kind {' or '.join(allowed_kinds)}, found kind {found!r}. "
            "Check the path given in the config."
        )
    return check_provenance(raw, str(raw["kind"]), path)


def read_plate_provenance(path: str | Path, source: str) -> Provenance | None:
    """Provenance of a source plate (``None`` for an external plate without one)."""
    path = Path(path)
    if source not in SOURCE_KINDS:
        raise ValueError(f"unknown patch source {source!r}; expected one of {sorted(SOURCE_KINDS)}")
    if not path.exists():
        raise ArtifactError(f"{path}: {source} plate not found")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as err:  # zarr raises several error types for a non-store
        raise ArtifactError(f"{path}: not a readable zarr store ({err})") from err
    return _check_optional_provenance(group.attrs.get(PROVENANCE_KEY), SOURCE_KINDS[source], path, "plate")


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
    memory does not grow with the number of FOVs in the plate.

    Any Parquet table with ``fov_name, track_id, parent_track_id, t, y, x`` works (ground truth,
    the tracking stage's output, or a user's table). ``lineage_id`` is computed from the parent
    links when absent; ``well`` is taken from ``fov_name`` when absent; ``condition`` is kept when
    present, else missing (``<NA>``).

    Returns:
        The table with columns ``fov_name, well, condition, track_id, parent_track_id,
        lineage_id, t, y, x`` (``t`` int frames, ``y``/``x`` float pixels) and its provenance.
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: tracks table not found")
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(PROVENANCE_KEY.encode())
    provenance = _check_optional_provenance(
        json.loads(raw) if raw else None, TRACKS_KINDS, path, "tracks table"
    )
    filters = [("fov_name", "==", fov_name)] if fov_name is not None else None
    table = pq.read_table(path, filters=filters).to_pandas()
    missing = [c for c in REQUIRED_TRACK_COLUMNS if c not in table.columns]
    if missing:
        raise ArtifactError(
            f"{path}: tracks table lacks required columns {missing}; expected "
            f"{list(REQUIRED_TRACK_COLUMNS)}, found {list(table.columns)}"
        )
    bad = table[list(REQUIRED_TRACK_COLUMNS[1:])].isna().any()
    if bad.any():
        raise ArtifactError(f"{path}: tracks table has missing values in columns {list(bad[bad].index)}")
    duplicated = table.duplicated(["fov_name", "track_id", "t"])
    if duplicated.any():
        first = table[duplicated].iloc[0]
        raise ArtifactError(
            f"{path}: {int(duplicated.sum())} rows repeat a (fov_name, track_id, t); first: "
            f"fov {first['fov_name']}, track {first['track_id']}, t {first['t']}"
        )
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
    columns = ["fov_name", "well", "condition", "track_id", "parent_track_id", "lineage_id", "t", "y", "x"]
    return out[columns], provenance


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


def as_int_centres(values: pd.Series) -> np.ndarray:
    """Round float pixel coordinates to the nearest pixel (half up), int64."""
    return np.floor(values.to_numpy(dtype=np.float64) + 0.5).astype(np.int64)
