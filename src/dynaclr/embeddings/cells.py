"""The embeddings' cells: their table, and how cells seen elsewhere find their row in it.

Every analysis of an embeddings store reads its cells (``obs``: one row per patch of a tracked
cell) and often needs to bring observations made elsewhere onto them: annotations a person (or
the simulator) made, or the simulator's ground truth. Both name cells by frame and position
(and, for ground truth, by the simulator's own ``track_id``), never by the tracker's row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

MatchOn = Literal["position", "track"]


def cell_table(adata: ad.AnnData) -> pd.DataFrame:
    """The embeddings' ``obs`` as a plain DataFrame with a fresh ``0..N-1`` index (a copy)."""
    obs = adata.obs
    if not isinstance(obs, pd.DataFrame):
        raise TypeError(f"embeddings obs must be a pandas DataFrame, got {type(obs).__name__}")
    return obs.reset_index(drop=True)


def match_observations_to_cells(
    observations: pd.DataFrame,
    cells: pd.DataFrame,
    on: MatchOn = "position",
    max_distance_px: float = 6.0,
    kind: str = "observations",
    unmatched_level: int = logging.WARNING,
    label_column: str | None = None,
    other_labels: Literal["refuse", "closer"] = "refuse",
) -> np.ndarray:
    """Row of ``cells`` (the embeddings' tracked cells) each observation refers to; ``-1`` when none.

    An observation is one cell at one frame seen elsewhere: an annotation, or a ground-truth cell
    of a simulated plate. Tracked cells carry the tracker's ``track_id``, which differs from the
    ground truth's, so observations are usually matched by position.

    * ``on='track'``: same ``fov_name, track_id, t``.
    * ``on='position'``: same ``fov_name`` and ``t``, nearest ``(y, x)`` within ``max_distance_px``
      pixels.

    When two observations of one task (column ``task``, if any) pick the same cell, one keeps it
    (by position the closer; by track the first) and the others match no cell. With
    ``label_column`` (annotations: what each observation says of its cell), two that give the cell
    other labels are refused instead: keeping the closer would choose a label silently; those of
    the same label are read once, and the log line says how many. With ``other_labels='closer'``
    (annotations drawn from ground truth or a lineage, whose labels are right for the simulated
    cell they name) two of other labels on one tracked cell are two cells the tracker merged: the
    closer one keeps the cell and the count is logged at WARNING. Ground truth has no such column:
    two simulated cells picking one tracked cell are two cells the tracker merged, not two
    statements about one cell, and the closer one's values are copied (:func:`attach_ground_truth`).

    Args:
        observations: needs ``fov_name, t`` and ``track_id`` or ``y, x`` (pixels).
        cells: the embeddings' ``obs`` (same columns).
        kind, unmatched_level: what the observations are and the level at which the count of
            unmatched ones is logged: a user's annotations that match no cell are lost labels
            (a warning); ground-truth cells that the tracker missed are expected (INFO).
        label_column: the observations' label column, whose values two observations of one task
            and cell must share (None: not compared).
        other_labels: with ``label_column``, what two observations of other labels on one cell
            mean: ``'refuse'`` (a user's annotations: one is wrong, or the tracker merged two
            cells) or ``'closer'`` (drawn annotations: the tracker merged two cells; the closer
            one is kept).

    Returns:
        ``(len(observations),)`` int64 positions into ``cells``.

    Raises:
        ValueError: two observations of one task matched to one cell with other labels (unless
            ``other_labels='closer'``), naming ``kind``, both observations (FOV, track, frame,
            position, label) and the cell.
    """
    left = observations.reset_index(drop=True).assign(_annotation=np.arange(len(observations)))
    right = cells.reset_index(drop=True).assign(_cell=np.arange(len(cells)))
    left = left.assign(_task=left["task"] if "task" in left.columns else "")
    if on == "track":
        keys = ["fov_name", "track_id", "t"]
        merged = left[[*keys, "_annotation", "_task"]].merge(right[[*keys, "_cell"]], on=keys, how="inner")
        merged = merged.drop_duplicates("_annotation")
    elif on == "position":
        for name, frame in (("observations", left), ("cells", right)):
            missing = [c for c in ("fov_name", "t", "y", "x") if c not in frame.columns]
            if missing:
                raise ValueError(f"matching on position needs {missing} in {name}; use on='track' instead")
        merged = left[["fov_name", "t", "y", "x", "_annotation", "_task"]].merge(
            right[["fov_name", "t", "y", "x", "_cell"]], on=["fov_name", "t"], suffixes=("", "_cell")
        )
        merged["_distance"] = np.hypot(merged["y"] - merged["y_cell"], merged["x"] - merged["x_cell"])
        merged = merged[merged["_distance"] <= max_distance_px]
        merged = merged.sort_values(["_distance", "_annotation"], kind="stable")
        merged = merged.drop_duplicates("_annotation")
    else:
        raise ValueError(f"on must be 'position' or 'track', got {on!r}")
    n_read_once = n_merged = 0
    if label_column is not None:
        labels = left[label_column].to_numpy()[merged["_annotation"].to_numpy()]
        if other_labels == "refuse":
            _refuse_other_labels_of_one_cell(merged, left, right, label_column, kind)
        n_read_once = int(merged.assign(_label=labels).duplicated(["_task", "_cell", "_label"]).sum())
        n_merged = int(merged.duplicated(["_task", "_cell"]).sum()) - n_read_once
    if n_merged:  # a label dropped: said at WARNING (the scores' n_matched still counts it)
        logger.warning(
            "%d %s give a tracked cell another label than a closer one of its task: the tracker "
            "merged their cells, the closer one is kept",
            n_merged,
            kind,
        )
    merged = merged.drop_duplicates(["_task", "_cell"])
    rows = np.full(len(observations), -1, dtype=np.int64)
    rows[merged["_annotation"].to_numpy()] = merged["_cell"].to_numpy()
    n_unmatched = int((rows < 0).sum()) - n_merged
    if n_unmatched:
        same_label = (
            f"; {n_read_once} of them give a cell the label another of its task gives it (read once)"
            if n_read_once
            else ""
        )
        logger.log(
            unmatched_level,
            "%d of %d %s (%.1f %%) match no tracked cell (matched on %s%s)%s",
            n_unmatched,
            len(observations),
            kind,
            100.0 * n_unmatched / len(observations),
            on,
            f", within {max_distance_px:g} px" if on == "position" else "",
            same_label,
        )
    return rows


def _refuse_other_labels_of_one_cell(
    merged: pd.DataFrame, left: pd.DataFrame, right: pd.DataFrame, label_column: str, kind: str
) -> None:
    """Raise where two observations of one task matched (``merged``: ``_annotation``, ``_task``,
    ``_cell``) one cell of ``right`` with other ``label_column`` values of ``left``."""
    labels = left[label_column].to_numpy()[merged["_annotation"].to_numpy()]
    n_labels = merged.assign(_label=labels).groupby(["_task", "_cell"])["_label"].transform("nunique")
    conflicting = merged[n_labels.to_numpy() > 1]
    if conflicting.empty:
        return
    first = conflicting.iloc[0]
    both = conflicting[(conflicting["_task"] == first["_task"]) & (conflicting["_cell"] == first["_cell"])]

    def where(frame: pd.DataFrame, row: int) -> str:
        found = frame.iloc[row]
        track = f" track {found['track_id']}" if "track_id" in frame.columns else ""
        position = f" at y {found['y']:g}, x {found['x']:g}" if {"y", "x"} <= set(frame.columns) else ""
        return f"FOV {found['fov_name']}{track} frame {found['t']}{position}"

    observed = " and ".join(
        f"{left[label_column].iloc[i]!r} ({where(left, i)})" for i in both["_annotation"].to_numpy()
    )
    task = f" of task {first['_task']!r}" if first["_task"] != "" else ""
    raise ValueError(
        f"{kind}: {conflicting[['_task', '_cell']].drop_duplicates().shape[0]} tracked cell(s) matched by "
        f"observations{task} with other labels (expected one label per cell); e.g. {observed} both "
        f"match the tracked cell {where(right, int(first['_cell']))}: remove the wrong annotation, or "
        "the tracker merged two cells (check the tracks there)"
    )


def attach_ground_truth(
    cells: pd.DataFrame,
    ground_truth: pd.DataFrame,
    columns: Sequence[str],
    on: MatchOn = "position",
    max_distance_px: float = 6.0,
) -> pd.DataFrame:
    """``cells`` (a copy, fresh index) with ground-truth ``columns`` copied onto the matched cells.

    Cells no ground-truth cell matches get NaN (the columns become float64). Matching as
    :func:`match_observations_to_cells`.
    """
    missing = [column for column in columns if column not in ground_truth.columns]
    if missing:
        raise KeyError(f"ground truth lacks columns {missing}; found {list(ground_truth.columns)}")
    rows = match_observations_to_cells(
        ground_truth,
        cells,
        on=on,
        max_distance_px=max_distance_px,
        kind="ground-truth cells",
        unmatched_level=logging.INFO,
    )
    out = cells.reset_index(drop=True).copy()
    matched = rows >= 0
    for column in columns:
        values = np.full(len(out), np.nan)
        values[rows[matched]] = ground_truth[column].to_numpy(dtype=np.float64)[matched]
        out[column] = values
    return out
