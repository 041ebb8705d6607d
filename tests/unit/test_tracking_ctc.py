"""CTC DET/TRA and division matching against hand-made cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dynaclr.tracking.ctc import TrackingScores, frame_overlaps, score_label_movies
from dynaclr.tracking.evaluate import project_labels_to_2d

SIZE = 40


def paint(frames: int, cells: dict[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """(T, Y, X) labels; ``cells[(t, label)] = (y, x)`` paints a 6 x 6 square at (y, x)."""
    movie = np.zeros((frames, SIZE, SIZE), dtype=np.uint32)
    for (t, label), (y, x) in cells.items():
        movie[t, y : y + 6, x : x + 6] = label
    return movie


def table(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    """Rows ``(track_id, t, parent_track_id)``."""
    return pd.DataFrame(rows, columns=["track_id", "t", "parent_track_id"])


def lineage() -> tuple[np.ndarray, pd.DataFrame]:
    """Cell 1 (frames 0-1) divides into 2 and 3 (frames 2-3); cell 4 moves along (frames 0-3)."""
    cells = {
        (0, 1): (10, 10),
        (1, 1): (11, 11),
        (0, 4): (30, 2),
        (1, 4): (30, 4),
        (2, 4): (30, 6),
        (3, 4): (30, 8),
    }
    cells.update({(2, 2): (4, 12), (3, 2): (3, 13), (2, 3): (18, 12), (3, 3): (19, 13)})
    rows = [(1, 0, -1), (1, 1, -1), (4, 0, -1), (4, 1, -1), (4, 2, -1), (4, 3, -1)]
    rows += [(2, 2, 1), (2, 3, 1), (3, 2, 1), (3, 3, 1)]
    return paint(4, cells), table(rows)


# 10 vertices; edges: 1 (cell 1) + 3 (cell 4) + 1 + 1 (daughters) + 2 parent links = 8
N_VERTICES, N_EDGES = 10, 8
AOGM_0 = 10 * N_VERTICES + 1.5 * N_EDGES


def test_perfect_tracking_scores_one():
    labels, tracks = lineage()
    scores = score_label_movies(labels, tracks, labels.copy(), tracks.copy())
    assert (scores.n_reference_vertices, scores.n_reference_edges) == (N_VERTICES, N_EDGES)
    assert scores.det == 1.0 and scores.tra == 1.0
    assert scores.division_precision == 1.0 and scores.division_recall == 1.0
    assert scores.n_reference_divisions == 1


def test_relabelled_computed_tracks_still_score_one():
    """Labels are matched by overlap, not by value."""
    labels, tracks = lineage()
    mapping = {1: 7, 2: 9, 3: 8, 4: 5}
    relabelled = np.vectorize(lambda v: mapping.get(int(v), 0))(labels).astype(np.uint32)
    computed = tracks.assign(
        track_id=tracks["track_id"].map(mapping),
        parent_track_id=tracks["parent_track_id"].map(lambda p: mapping.get(p, -1)),
    )
    scores = score_label_movies(labels, tracks, relabelled, computed)
    assert scores.det == 1.0 and scores.tra == 1.0 and scores.n_matched_divisions == 1


def test_missed_cell_lowers_det_by_one_over_n_vertices():
    labels, tracks = lineage()
    computed = labels.copy()
    computed[3][computed[3] == 4] = 0  # cell 4 missed in its last frame
    scores = score_label_movies(labels, tracks, computed, tracks[~((tracks.track_id == 4) & (tracks.t == 3))])
    assert scores.false_negative_vertices == 1 and scores.false_positive_vertices == 0
    assert scores.det == pytest.approx(1 - 1 / N_VERTICES)
    # the FN vertex and its one incoming reference edge must be added
    assert scores.edges_to_add == 1
    assert scores.tra == pytest.approx(1 - (10 + 1.5) / AOGM_0)


def test_false_positive_and_merge_cost_one_and_five():
    labels, tracks = lineage()
    computed = labels.copy()
    computed[0, 0:4, 30:34] = 6  # an extra object
    fp = score_label_movies(labels, tracks, computed, pd.concat([tracks, table([(6, 0, -1)])]))
    assert fp.false_positive_vertices == 1
    assert fp.det == pytest.approx(1 - 1 / (10 * N_VERTICES))
    assert fp.tra == pytest.approx(1 - 1 / AOGM_0)

    merged = labels.copy()
    merged[3][merged[3] == 3] = 2  # daughters 2 and 3 segmented as one object at t = 3
    merged_tracks = tracks[~((tracks.track_id == 3) & (tracks.t == 3))]
    ns = score_label_movies(labels, tracks, merged, merged_tracks)
    assert (ns.splits_needed, ns.false_negative_vertices) == (1, 0)
    assert ns.det == pytest.approx(1 - 5 / (10 * N_VERTICES))
    # edges 2@2 → 2@3 and 3@2 → 3@3 end at a vertex matched through the merged object: added
    assert ns.edges_to_add == 2


def test_swapped_identities_cost_two_deletions_and_two_additions():
    """Two cells swap track ids between frames 1 and 2: two wrong links."""
    cells = {(t, 1): (5, 5 + 2 * t) for t in range(4)} | {(t, 2): (25, 5 + 2 * t) for t in range(4)}
    labels = paint(4, cells)
    tracks = table([(label, t, -1) for label in (1, 2) for t in range(4)])
    swapped = labels.copy()
    for t in (2, 3):
        swapped[t] = np.where(labels[t] == 1, 2, np.where(labels[t] == 2, 1, 0))
    scores = score_label_movies(labels, tracks, swapped, tracks)
    assert scores.det == 1.0
    assert (scores.edges_to_delete, scores.edges_to_add, scores.edges_wrong_semantics) == (2, 2, 0)
    assert scores.tra == pytest.approx(1 - (2 * 1 + 2 * 1.5) / (10 * 8 + 1.5 * 6))


def test_false_division_costs_semantics_and_deletion():
    """Cell 1 moves on; cell 2 appears at t = 2. The computed tracks call it a division of 1."""
    cells = {(t, 1): (10, 5 + 2 * t) for t in range(4)} | {(2, 2): (25, 20), (3, 2): (25, 22)}
    labels = paint(4, cells)
    tracks = table([(1, t, -1) for t in range(4)] + [(2, 2, -1), (2, 3, -1)])
    computed_labels = labels.copy()
    computed_labels[2:][computed_labels[2:] == 1] = 3  # track 1 ends at t = 1; daughter 3 continues it
    computed = table([(1, 0, -1), (1, 1, -1), (3, 2, 1), (3, 3, 1), (2, 2, 1), (2, 3, 1)])
    scores = score_label_movies(labels, tracks, computed_labels, computed)
    assert scores.det == 1.0
    # 1@1 → 3@2 maps onto a reference track link (wrong semantics); 1@1 → 2@2 has no reference edge
    assert (scores.edges_wrong_semantics, scores.edges_to_delete, scores.edges_to_add) == (1, 1, 0)
    assert scores.tra == pytest.approx(1 - 2 / (10 * 6 + 1.5 * 4))
    divisions = (scores.n_reference_divisions, scores.n_computed_divisions, scores.n_matched_divisions)
    assert divisions == (0, 1, 0)
    assert scores.division_precision == 0.0 and math.isnan(scores.division_recall)


def test_late_division_matches_within_tolerance_only():
    labels, tracks = lineage()
    # computed: mother 1 lasts one frame longer (covering daughter 2 at t = 2), daughters start at t = 3
    computed_labels = labels.copy()
    computed_labels[2][labels[2] == 2] = 1
    computed_labels[2][labels[2] == 3] = 0
    computed = table([(1, 0, -1), (1, 1, -1), (1, 2, -1), (4, 0, -1), (4, 1, -1), (4, 2, -1), (4, 3, -1)])
    computed = pd.concat([computed, table([(2, 3, 1), (3, 3, 1)])])
    tolerant = score_label_movies(labels, tracks, computed_labels, computed, division_tolerance_frames=1)
    strict = score_label_movies(labels, tracks, computed_labels, computed, division_tolerance_frames=0)
    assert tolerant.n_matched_divisions == 1 and tolerant.division_recall == 1.0
    assert strict.n_matched_divisions == 0 and strict.division_precision == 0.0


def test_missed_division_lowers_recall_not_precision():
    labels, tracks = lineage()
    computed = tracks.assign(parent_track_id=-1)  # daughters detected but not linked to the mother
    scores = score_label_movies(labels, tracks, labels, computed)
    assert scores.det == 1.0
    assert scores.division_recall == 0.0 and math.isnan(scores.division_precision)
    assert scores.edges_to_add == 2
    assert scores.tra == pytest.approx(1 - 2 * 1.5 / AOGM_0)


def test_overlap_needs_more_than_half_of_the_reference():
    reference = np.zeros((1, 4, 4), dtype=np.uint32)
    reference[0, :2, :] = 1  # 8 pixels
    computed = np.zeros_like(reference)
    computed[0, :1, :] = 5  # covers exactly half
    assert frame_overlaps(reference, computed)[0] == {}
    computed[0, 1, 0] = 5  # 5 of 8
    assert frame_overlaps(reference, computed)[0] == {1: 5}


def test_scores_add_by_counts():
    labels, tracks = lineage()
    perfect = score_label_movies(labels, tracks, labels, tracks)
    empty = score_label_movies(labels, tracks, np.zeros_like(labels), tracks.iloc[:0])
    assert empty.det == 0.0 and empty.tra == 0.0
    total: TrackingScores = perfect + empty
    assert total.n_reference_vertices == 2 * N_VERTICES
    assert total.det == pytest.approx(0.5)
    assert list(total.as_row()) == TrackingScores.columns()


def test_project_labels_to_2d_prefers_the_label_filling_the_column():
    labels = np.zeros((4, 2, 3), dtype=np.uint32)
    labels[:, 0, 0] = [0, 3, 3, 9]  # 3 fills two slices, 9 one: 3 wins over the larger label
    labels[:, 0, 1] = [0, 2, 5, 0]  # tie: larger label
    labels[3, 1, 2] = 7  # a single slice still counts
    projected = project_labels_to_2d(labels)
    assert projected.tolist() == [[3, 5, 0], [0, 0, 7]]
