"""Tracking errors injected into a tracks table at controlled rates (paper appendix F).

Two kinds of error a tracker makes, each applied to a valid table so that it stays valid for the
downstream stages (one row per ``(fov_name, track_id, t)``; a track's parent is a track of its
FOV that ends before it starts):

* **identity switch** at frame ``t``: two tracks present at ``t - 1`` and ``t`` whose cells are
  within ``max_distance_px`` of each other at ``t`` swap identities from ``t`` on (each track
  follows the other cell afterwards). Daughter tracks follow the cell they descend from, so the
  parent links of both tracks' daughters are swapped as well.
* **false merge** after frame ``e``: a track that ends at ``e`` (its cell left the field, died or
  divided) is continued by a cell of another track present at ``e + 1`` within ``max_distance_px``
  of the ending cell: that track's rows from ``e + 1`` on join the ending
  track. When the other track starts at ``e + 1`` (a daughter, a cell entering the field) the two
  tracks become one; otherwise the other track is cut short at ``e``. Daughters of the absorbed
  rows follow them; daughters of the ending track that now start inside it lose their parent
  (``-1``), as they would in a tracker's output with a missed division.

Rates are *per track of the input*: ``round(rate * n_tracks)`` errors of each kind, drawn
uniformly among the candidate events of the current table (identity switches first, then false
merges), each applied to the table left by the previous one. A candidate that an earlier error made
impossible is skipped; when candidates run out, fewer errors are injected and a warning says how
many (the returned log lists every error actually made).

Only track identities change: every row keeps its frame, position and any per-cell column (ground
truth such as ``infected``). ``parent_track_id`` follows the links above; ``id``/``parent_id``, when
present, are renumbered per FOV as ultrack links them; a ``lineage_id`` column is dropped once an
error is made (it no longer follows the links; patch extraction recomputes it from
``parent_track_id``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dynaclr.tracking.engine import NO_PARENT
from dynaclr.tracking.importing import number_detections

logger = logging.getLogger(__name__)

#: Columns of the error log: which error, where, and the two tracks it involved (as labelled then).
ERROR_LOG_COLUMNS: tuple[str, ...] = ("kind", "fov_name", "t", "track_id", "other_track_id")
IDENTITY_SWITCH = "identity_switch"
FALSE_MERGE = "false_merge"


@dataclass
class _Table:
    """The rows' fixed FOVs and frames, their current track labels and the current parent links."""

    fov: np.ndarray  # (N,) str
    t: np.ndarray  # (N,) int64 frames
    track: np.ndarray  # (N,) int64, updated as errors are applied
    parent: dict[tuple[str, int], int]  # (fov, track) -> parent track, NO_PARENT for none

    def rows(self, fov: str, track: int) -> np.ndarray:
        return (self.fov == fov) & (self.track == track)

    def present(self, fov: str, track: int, t: int) -> bool:
        return bool(np.any(self.rows(fov, track) & (self.t == t)))

    def last_frame(self, fov: str, track: int) -> int:
        frames = self.t[self.rows(fov, track)]
        return int(frames.max()) if frames.size else -1

    def first_frame(self, fov: str, track: int) -> int:
        frames = self.t[self.rows(fov, track)]
        return int(frames.min()) if frames.size else -1

    def children(self, fov: str, track: int) -> list[int]:
        return [child for (f, child), parent in self.parent.items() if f == fov and parent == track]


def _close_pairs(tracks: pd.DataFrame, max_distance_px: float, frames_apart: int) -> pd.DataFrame:
    """Row pairs ``(row_a, row_b)`` of different tracks of one FOV, ``row_b`` ``frames_apart`` frames
    after ``row_a``, centroids (``y, x`` pixels) within ``max_distance_px``; ``row_a < row_b`` when
    ``frames_apart`` is 0 (each unordered pair once)."""
    cells = tracks[["fov_name", "track_id", "t", "y", "x"]].assign(row=np.arange(len(tracks)))
    later = cells.assign(t=cells["t"] - frames_apart)
    pairs = cells.merge(later, on=["fov_name", "t"], suffixes=("_a", "_b"))
    close = np.hypot(pairs["y_a"] - pairs["y_b"], pairs["x_a"] - pairs["x_b"]) <= max_distance_px
    keep = close & (pairs["track_id_a"] != pairs["track_id_b"])
    if frames_apart == 0:
        keep &= pairs["row_a"] < pairs["row_b"]
    return pairs.loc[keep, ["row_a", "row_b"]].sort_values(["row_a", "row_b"]).reset_index(drop=True)


def _switch(table: _Table, row_a: int, row_b: int) -> tuple[str, int, int, int] | None:
    """Swap the two rows' tracks from their frame on; ``None`` when either is not present one frame before."""
    fov, t = str(table.fov[row_a]), int(table.t[row_a])
    a, b = int(table.track[row_a]), int(table.track[row_b])
    if not (table.present(fov, a, t - 1) and table.present(fov, b, t - 1)):
        return None
    children_a, children_b = table.children(fov, a), table.children(fov, b)
    tail_a = table.rows(fov, a) & (table.t >= t)
    tail_b = table.rows(fov, b) & (table.t >= t)
    table.track[tail_a], table.track[tail_b] = b, a
    for child in children_a:
        table.parent[(fov, child)] = b
    for child in children_b:
        table.parent[(fov, child)] = a
    return fov, t, a, b


def _merge(table: _Table, row_end: int, row_next: int) -> tuple[str, int, int, int] | None:
    """Attach the tail of ``row_next``'s track (from its frame on) to the track ending at ``row_end``;
    ``None`` when that track no longer ends there or both rows are of one track."""
    fov, end = str(table.fov[row_end]), int(table.t[row_end])
    a, b = int(table.track[row_end]), int(table.track[row_next])
    if a == b or table.last_frame(fov, a) != end:
        return None
    children_b = table.children(fov, b)
    table.track[table.rows(fov, b) & (table.t > end)] = a
    if not np.any(table.rows(fov, b)):
        del table.parent[(fov, b)]
    for child in children_b:
        table.parent[(fov, child)] = a
    last_a = table.last_frame(fov, a)
    for child in table.children(fov, a):
        if table.first_frame(fov, child) <= last_a:
            table.parent[(fov, child)] = NO_PARENT
    return fov, end + 1, a, b


def inject_tracking_errors(
    tracks: pd.DataFrame,
    *,
    identity_switch_rate: float,
    false_merge_rate: float,
    seed: int,
    max_distance_px: float = 20.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``tracks`` with identity switches and false merges injected (module docstring).

    Args:
        tracks: a valid tracks table: ``fov_name, track_id, t, y, x, parent_track_id`` (frames,
            pixels; ``-1`` no parent) and any other columns; gaps inside a track are allowed.
        identity_switch_rate: identity switches per track of ``tracks`` (``>= 0``).
        false_merge_rate: false merges per track of ``tracks`` (``>= 0``).
        seed: seed of the draw; the same table, rates and seed give the same result.
        max_distance_px: how close (pixels, ``y, x``) the two cells of an error are.

    Returns:
        The corrupted table (same rows in the same order, new ``track_id`` and ``parent_track_id``)
        and the log of the errors made, columns :data:`ERROR_LOG_COLUMNS` (``t``: the first frame
        whose identity is wrong; the two tracks as labelled when the error was made: ``track_id``
        switches with, or absorbs the tail of, ``other_track_id``). With no error made, the
        table is ``tracks`` unchanged.
    """
    if identity_switch_rate < 0 or false_merge_rate < 0:
        raise ValueError(
            f"error rates are errors per track, >= 0; got identity_switch_rate={identity_switch_rate}, "
            f"false_merge_rate={false_merge_rate}"
        )
    tracks = tracks.reset_index(drop=True)
    links = tracks.drop_duplicates(["fov_name", "track_id"])
    table = _Table(
        fov=tracks["fov_name"].astype(str).to_numpy(),
        t=tracks["t"].to_numpy(dtype=np.int64),
        track=tracks["track_id"].to_numpy(dtype=np.int64).copy(),
        parent={
            (str(fov), int(track)): int(parent)
            for fov, track, parent in zip(
                links["fov_name"], links["track_id"], links["parent_track_id"], strict=True
            )
        },
    )
    rng = np.random.default_rng(seed)
    log: list[dict[str, object]] = []
    for kind, rate, frames_apart, apply in (
        (IDENTITY_SWITCH, identity_switch_rate, 0, _switch),
        (FALSE_MERGE, false_merge_rate, 1, _merge),
    ):
        wanted = round(rate * len(links))
        if wanted == 0:
            continue
        candidates = _close_pairs(tracks, max_distance_px, frames_apart).to_numpy()
        made = 0
        for index in rng.permutation(len(candidates)):
            if made == wanted:
                break
            error = apply(table, int(candidates[index, 0]), int(candidates[index, 1]))
            if error is not None:
                log.append(dict(zip(ERROR_LOG_COLUMNS, (kind, *error), strict=True)))
                made += 1
        if made < wanted:
            logger.warning(
                "%s: %d wanted (rate %.3f x %d tracks), only %d possible within %.1f px",
                kind,
                wanted,
                rate,
                len(links),
                made,
                max_distance_px,
            )
    errors = pd.DataFrame(log, columns=list(ERROR_LOG_COLUMNS))
    return (_corrupted_table(tracks, table) if log else tracks.copy()), errors


def _corrupted_table(tracks: pd.DataFrame, table: _Table) -> pd.DataFrame:
    """``tracks`` with the current labels and parent links; ``id``/``parent_id`` renumbered."""
    out = tracks.drop(columns=[c for c in ("lineage_id",) if c in tracks.columns]).copy()
    out["track_id"] = table.track
    out["parent_track_id"] = [
        table.parent[(fov, int(track))] for fov, track in zip(table.fov, table.track, strict=True)
    ]
    out["parent_track_id"] = out["parent_track_id"].astype("int64")
    if {"id", "parent_id"} <= set(out.columns):
        order = out.assign(_row=np.arange(len(out)))
        numbered = pd.concat(
            [number_detections(rows) for _, rows in order.groupby("fov_name", sort=False)],
            ignore_index=True,
        ).set_index("_row")
        out["id"] = numbered.loc[np.arange(len(out)), "id"].to_numpy()
        out["parent_id"] = numbered.loc[np.arange(len(out)), "parent_id"].to_numpy()
    return out
