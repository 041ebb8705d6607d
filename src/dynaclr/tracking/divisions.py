"""Divisions whose daughters touch are one nucleus cut in two: keep one track, drop the division.

ultrack may choose two fragments of one nucleus (its watershed hierarchy offers them for elongated
nuclei) as the daughters of a division, most of all in the last frame, where nothing has to
follow them. Daughters of a real division move apart (the simulator puts each ``division.
daughter_offset_um`` from the mother); fragments share a boundary. A division whose two daughters'
masks come within ``tracking.divisions.max_fragment_gap_px`` of each other is undone: the daughter
nearest the mother continues her track, the other becomes a track of its own (a false positive
detection at worst, instead of a false division).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import ndimage

from dynaclr.tracking.engine import NO_PARENT

logger = logging.getLogger(__name__)

#: A node's mask: its bounding box (min corner then max corner, pixels) and the boolean mask in it.
NodeMask = tuple[NDArray[np.int64], NDArray[np.bool_]]


def mask_gap_px(first: NodeMask, second: NodeMask) -> float:
    """Smallest distance (pixels) from a pixel of ``second`` to one of ``first``; 1 when adjacent,
    0 when they overlap. Works in 2D and 3D (bounding boxes ``(min..., max...)``)."""
    (box_a, mask_a), (box_b, mask_b) = first, second
    n_dim = mask_a.ndim
    low = np.minimum(box_a[:n_dim], box_b[:n_dim])
    high = np.maximum(box_a[n_dim:], box_b[n_dim:])
    canvas_a = np.zeros(tuple(high - low), dtype=bool)
    canvas_b = np.zeros_like(canvas_a)
    canvas_a[tuple(slice(s, s + n) for s, n in zip(box_a[:n_dim] - low, mask_a.shape, strict=True))] = mask_a
    canvas_b[tuple(slice(s, s + n) for s, n in zip(box_b[:n_dim] - low, mask_b.shape, strict=True))] = mask_b
    if not canvas_a.any() or not canvas_b.any():
        return float("inf")
    distance = ndimage.distance_transform_edt(~canvas_a)
    return float(distance[canvas_b].min())


def read_node_masks(main: Any, node_ids: list[int]) -> dict[int, NodeMask]:
    """Masks of ultrack nodes ``node_ids`` from the database of ``main`` (ultrack ``MainConfig``)."""
    from ultrack.core.database import NodeDB, get_node_values

    ids = sorted({int(i) for i in node_ids})
    if not ids:
        return {}
    nodes = get_node_values(main.data_config, ids, NodeDB.pickle)
    if not isinstance(nodes, pd.Series):  # ultrack squeezes a single row to its value
        nodes = pd.Series([nodes], index=ids)
    return {
        int(node_id): (np.asarray(node.bbox, dtype=np.int64), np.asarray(node.mask, dtype=bool))
        for node_id, node in nodes.items()
    }


def daughters_of_divisions(tracks: pd.DataFrame) -> dict[int, list[int]]:
    """``{mother track id: [daughter track ids]}`` for mothers with two or more daughters."""
    starts = tracks[tracks["parent_track_id"] != NO_PARENT].groupby("track_id")["parent_track_id"].first()
    daughters: dict[int, list[int]] = {}
    for daughter, mother in starts.items():
        daughters.setdefault(int(mother), []).append(int(daughter))  # type: ignore[arg-type]
    return {mother: sorted(ds) for mother, ds in daughters.items() if len(ds) >= 2}


def undo_fragment_divisions(
    tracks: pd.DataFrame, masks: dict[int, NodeMask], max_gap_px: float
) -> tuple[pd.DataFrame, int]:
    """Undo the divisions whose first two daughters' masks lie within ``max_gap_px`` (pixels).

    ``tracks``: ultrack's table (``track_id, t, [z,] y, x, id, parent_track_id, parent_id``);
    ``masks``: node id → mask of at least every daughter's first node. The daughter whose first
    centroid is nearest the mother's last continues the mother's track (her rows and her own
    daughters take the mother's id); the other loses her parent. Returns the new table and the
    number of divisions undone. A kept daughter's own divisions are checked under the mother's id she
    took (a nucleus cut in two in consecutive divisions becomes one track).
    """
    tracks = tracks.copy()
    undone = 0
    position = [c for c in ("z", "y", "x") if c in tracks.columns]
    renamed: dict[int, int] = {}  # kept daughter -> the mother's id she continues
    for listed_mother, daughters in daughters_of_divisions(tracks).items():
        mother = listed_mother
        while mother in renamed:  # her mother's division may have been undone in turn
            mother = renamed[mother]
        if len(daughters) != 2:
            continue
        firsts = [tracks[tracks["track_id"] == d].sort_values("t").iloc[0] for d in daughters]
        first_masks = [masks.get(int(row["id"])) for row in firsts]
        if first_masks[0] is None or first_masks[1] is None:
            continue
        if mask_gap_px(first_masks[0], first_masks[1]) > max_gap_px:
            continue
        mother_rows = tracks[tracks["track_id"] == mother].sort_values("t")
        if mother_rows.empty:
            continue
        last = mother_rows.iloc[-1]
        distances = [
            float(np.linalg.norm(row[position].to_numpy(float) - last[position].to_numpy(float)))
            for row in firsts
        ]
        kept, freed = (
            (daughters[0], daughters[1]) if distances[0] <= distances[1] else (daughters[1], daughters[0])
        )
        # the kept daughter's first node already has the mother's last node as parent_id
        kept_rows = tracks["track_id"] == kept
        tracks.loc[kept_rows, "track_id"] = mother
        renamed[kept] = mother
        tracks.loc[kept_rows, "parent_track_id"] = int(last["parent_track_id"])
        tracks.loc[tracks["parent_track_id"] == kept, "parent_track_id"] = mother
        freed_rows = tracks["track_id"] == freed
        tracks.loc[freed_rows, "parent_track_id"] = NO_PARENT
        tracks.loc[freed_rows & (tracks["t"] == tracks.loc[freed_rows, "t"].min()), "parent_id"] = NO_PARENT
        undone += 1
    if undone:
        logger.info("undid %d divisions whose daughters touch (one nucleus cut in two)", undone)
    return tracks, undone


def without_fragment_divisions(tracks: pd.DataFrame, main: Any, max_gap_px: float) -> pd.DataFrame:
    """:func:`undo_fragment_divisions` on ultrack's table, the daughters' masks read from the
    database of ``main`` (ultrack ``MainConfig``)."""
    daughters = [d for ds in daughters_of_divisions(tracks).values() for d in ds]
    if not daughters:
        return tracks
    firsts = tracks[tracks["track_id"].isin(daughters)].sort_values("t").groupby("track_id")["id"].first()
    masks = read_node_masks(main, [int(i) for i in firsts])
    return undo_fragment_divisions(tracks, masks, max_gap_px)[0]
