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
) -> np.ndarray:
    """Row of ``cells`` (the embeddings' tracked cells) each observation refers to; ``-1`` when none.

    An observation is one cell at one frame seen elsewhere: an annotation, or a ground-truth cell
    of a simulated plate. Tracked cells carry the tracker's ``track_id``, which differs from the
    ground truth's, so observations are usually matched by position.

    * ``on='track'``: same ``fov_name, track_id, t``.
    * ``on='position'``: same ``fov_name`` and ``t``, nearest ``(y, x)`` within ``max_distance_px``
      pixels. When two observations of one task (column ``task``, if any) pick the same cell, the
      closer keeps it.

    Args:
        observations: needs ``fov_name, t`` and ``track_id`` or ``y, x`` (pixels).
        cells: the embeddings' ``obs`` (same columns).
        kind, unmatched_level: what the observations are and the level at which the count of
            unmatched ones is logged: a user's annotations that match no cell are lost labels
            (a warning); ground-truth cells that the tracker missed are expected (INFO).

    Returns:
        ``(len(observations),)`` int64 positions into ``cells``.
    """
    left = observations.reset_index(drop=True).assign(_annotation=np.arange(len(observations)))
    right = cells.reset_index(drop=True).assign(_cell=np.arange(len(cells)))
    if on == "track":
        keys = ["fov_name", "track_id", "t"]
        merged = left[[*keys, "_annotation"]].merge(right[[*keys, "_cell"]], on=keys, how="inner")
        merged = merged.drop_duplicates("_annotation")
    elif on == "position":
        for name, frame in (("observations", left), ("cells", right)):
            missing = [c for c in ("fov_name", "t", "y", "x") if c not in frame.columns]
            if missing:
                raise ValueError(f"matching on position needs {missing} in {name}; use on='track' instead")
        left = left.assign(_task=left["task"] if "task" in left.columns else "")
        merged = left[["fov_name", "t", "y", "x", "_annotation", "_task"]].merge(
            right[["fov_name", "t", "y", "x", "_cell"]], on=["fov_name", "t"], suffixes=("", "_cell")
        )
        merged["_distance"] = np.hypot(merged["y"] - merged["y_cell"], merged["x"] - merged["x_cell"])
        merged = merged[merged["_distance"] <= max_distance_px]
        merged = merged.sort_values(["_distance", "_annotation"], kind="stable")
        merged = merged.drop_duplicates("_annotation").drop_duplicates(["_task", "_cell"])
    else:
        raise ValueError(f"on must be 'position' or 'track', got {on!r}")
    rows = np.full(len(observations), -1, dtype=np.int64)
    rows[merged["_annotation"].to_numpy()] = merged["_cell"].to_numpy()
    n_unmatched = int((rows < 0).sum())
    if n_unmatched:
        logger.log(
            unmatched_level,
            "%d of %d %s (%.1f %%) match no tracked cell (matched on %s%s)",
            n_unmatched,
            len(observations),
            kind,
            100.0 * n_unmatched / len(observations),
            on,
            f", within {max_distance_px:g} px" if on == "position" else "",
        )
    return rows


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
