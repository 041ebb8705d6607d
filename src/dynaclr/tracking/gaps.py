"""Gap closing: a track that ends and one that starts a few frames later, nearby, are one cell.

ultrack links segments of consecutive frames only: a nucleus missed for a frame cuts its track in
two. (Frames without any foreground, a blank frame, a shutter failure, a frame QC dropped as mostly
missing, are not given to ultrack, which links across up to ``max_gap_frames`` of them in a row as
across one frame: :func:`dynaclr.tracking.engine.solve_frames`; its joins are counted with these.)
:func:`close_gaps` joins, after the solve, the end of a track (one that
does not divide) to the start of a track without a mother ``gap + 1`` frames later, for gaps of
1 to ``max_gap_frames`` missing frames, shortest gaps first; at each gap the pairs are an optimal
one-to-one assignment (:func:`scipy.optimize.linear_sum_assignment`) of the ends of one frame to
the starts of the other by centroid distance, among the pairs within ``max_distance_px`` only (the
most such pairs, then the shortest: a cell beyond the distance changes no pair). The distance is
in pixels, in 3D in voxels (a z slice counts as a pixel, as in ultrack's linking).

A division ultrack linked is never joined across a gap (a mother has daughters: no end; a daughter
has a mother: no start). A division during the missing frames (the mother ends, her daughters start
after the gap without a mother) is not recovered: the mother may be continued by the nearer
daughter, and the other daughter starts without a mother. Gap closing makes no division: a rule
taking two starts near one end as her daughters made false ones (a cell that moved beside a
newcomer; a cell that died or left as two neighbours appeared), so every result is a continuation.

The joined track keeps a gap (no row in the missing frames), as tracks imported with gaps do
(:func:`dynaclr.tracking.importing.merge_ctc_continuations`): the later part takes the earlier's
``track_id`` and ``parent_track_id``, its daughters name the joined track as mother, and its first
row's ``parent_id`` is the earlier part's last ``id`` (the previous detection of the track).

ultrack's own ``ultrack.tracks.close_tracks_gaps`` is not used: it adds interpolated rows in the
missing frames (copies of the end's row, ``id`` included, with no segment in the label image), it
renumbers the table's index (ultrack's node ids, which painting the labels needs), leaves the joined
start's ``parent_id`` at -1, and its ends are not updated after a join, so a chain of gaps of
different lengths (ends joined at gap 1, then their continuation at gap 2) is left cut.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from dynaclr.tracking.engine import NO_PARENT

logger = logging.getLogger(__name__)


def _matches(tracks: pd.DataFrame, gap: int, max_distance_px: float) -> list[tuple[int, int]]:
    """``(earlier, later)`` track ids to join across ``gap`` missing frames (see :func:`close_gaps`)."""
    position = [c for c in ("z", "y", "x") if c in tracks.columns]
    ordered = tracks.sort_values(["track_id", "t"], kind="stable")
    mothers = set(ordered.loc[ordered["parent_track_id"] != NO_PARENT, "parent_track_id"].tolist())
    last = ordered.groupby("track_id").tail(1)
    ends = last[~last["track_id"].isin(mothers)]
    first = ordered.groupby("track_id").head(1)
    starts = first[first["parent_track_id"] == NO_PARENT]
    starts_by_t = {int(t): group for t, group in starts.groupby("t")}
    pairs: list[tuple[int, int]] = []
    for t, end_group in ends.groupby("t"):
        start_group = starts_by_t.get(int(t) + gap + 1)
        if start_group is None:
            continue
        end_ids, start_ids = end_group["track_id"].to_numpy(), start_group["track_id"].to_numpy()
        distances = cdist(end_group[position].to_numpy(float), start_group[position].to_numpy(float))
        # a pair beyond the distance costs more than any set of pairs within it: the assignment takes
        # the most pairs within the distance, then the shortest, and pairs beyond change none of them
        beyond = max_distance_px * min(distances.shape) + 1.0
        chosen = linear_sum_assignment(np.where(distances <= max_distance_px, distances, beyond))
        for row, column in zip(*chosen, strict=True):
            if distances[row, column] <= max_distance_px:
                pairs.append((int(end_ids[row]), int(start_ids[column])))
    return pairs


def _joined_into(track: int, root: dict[int, int]) -> int:
    """The track ``track`` is part of after the joins ``root`` (``{later: earlier}``): a chain of gaps
    of one length joins into its first part."""
    while track in root:
        track = root[track]
    return track


def close_gaps(tracks: pd.DataFrame, max_gap_frames: int, max_distance_px: float) -> tuple[pd.DataFrame, int]:
    """Join tracks across gaps of 1 to ``max_gap_frames`` missing frames (module docstring).

    ``tracks``: a tracks table (``track_id, t, [z,] y, x, id, parent_track_id, parent_id``; its index,
    e.g. ultrack's node ids, is kept). ``max_distance_px``: largest distance (pixels; voxels in 3D,
    z slices counted as pixels) from the end's centroid to the start's. Returns the table (rows as
    given, ids changed) and the number of gaps closed (joins);
    ``max_gap_frames`` 0 returns it as it is.
    """
    if max_gap_frames < 0 or max_distance_px < 0:
        raise ValueError(
            f"gap closing needs max_gap_frames >= 0 and max_distance_px >= 0; got {max_gap_frames}, "
            f"{max_distance_px}"
        )
    work = tracks.reset_index(drop=True)  # positions: the given index may be anything
    closed = 0
    for gap in range(1, max_gap_frames + 1):
        pairs = _matches(work, gap, max_distance_px)
        if not pairs:
            continue
        root = {later: earlier for earlier, later in pairs}
        ordered = work.sort_values(["track_id", "t"], kind="stable")
        last_id = ordered.groupby("track_id")["id"].last()
        mother_of = {
            int(k): int(v) for k, v in ordered.groupby("track_id")["parent_track_id"].first().items()
        }
        firsts = ordered.groupby("track_id").head(1)
        first_position = dict(zip(firsts["track_id"].tolist(), firsts.index.tolist(), strict=True))
        parent_id = work["parent_id"].to_numpy().copy()
        for earlier, later in pairs:
            parent_id[first_position[later]] = int(last_id[earlier])
        new_track = {track: _joined_into(track, root) for track in mother_of}
        new_mother = {
            track: NO_PARENT
            if mother_of[root_track] == NO_PARENT
            else _joined_into(mother_of[root_track], root)
            for track, root_track in new_track.items()
        }
        work = work.assign(
            track_id=work["track_id"].map(new_track),
            parent_track_id=work["track_id"].map(new_mother),
            parent_id=parent_id,
        )
        closed += len(pairs)
    result = tracks.copy()
    for name in ("track_id", "parent_track_id", "parent_id"):
        result[name] = work[name].to_numpy()
    if closed:
        logger.info("closed %d gaps (tracks joined across up to %d missing frames)", closed, max_gap_frames)
    return result, closed
