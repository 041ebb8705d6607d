"""Cell Tracking Challenge measures DET and TRA, and division precision/recall.

Published definitions (Matula et al., PLoS ONE 10(12): e0144959, 2015; Ulman et al., Nature
Methods 14: 1141-1152, 2017), computed here from label images and track tables:

* **Graphs.** A vertex is a cell in a frame, ``(t, label)``, for every label present in that
  frame's label image. Edges join consecutive vertices of one track (a *track link*; frames
  where a track has no pixels are skipped) and a mother's last vertex to each daughter's first
  vertex (a *parent link*, ``parent_track_id`` of the daughter).
* **Matching.** A reference (ground-truth) vertex R is matched by the computed vertex S of the
  same frame that covers more than half of it, ``|R ∩ S| > 0.5 |R|`` (so each R has at most
  one S; one S may match several R).
* **Vertex errors.** FN: a reference vertex without a match (cost ``w_FN = 10``). FP: a computed
  vertex matching nothing (``w_FP = 1``). NS: a computed vertex matching k > 1 reference
  vertices needs k - 1 splits (``w_NS = 5`` each).
* **Edge errors**, on the graph induced by the computed vertices that match exactly one
  reference vertex (as in the CTC TRAMeasure software and traccuracy; edges at FP or NS vertices
  disappear with them): ED, a computed edge with no reference edge between the matched vertices
  (``w_ED = 1``); EC, an edge present in both with different semantics, track vs parent link
  (``w_EC = 1``); EA, a reference edge without a computed edge between its matched vertices,
  including every reference edge at an FN vertex or at a vertex matched through an NS vertex
  (``w_EA = 1.5``).
* **Scores.** ``AOGM-D = 5 NS + 10 FN + 1 FP``;  ``DET = 1 - min(AOGM-D, AOGM-D_0) / AOGM-D_0``
  with ``AOGM-D_0 = 10 |V_ref|`` (building every reference vertex from nothing).
  ``AOGM = AOGM-D + 1 ED + 1.5 EA + 1 EC``; ``TRA = 1 - min(AOGM, AOGM_0) / AOGM_0`` with
  ``AOGM_0 = 10 |V_ref| + 1.5 |E_ref|``.
  So one missed cell among N reference vertices lowers DET by exactly ``1 / N``; one wrong link
  (an ED plus the EA of the link it replaced) lowers TRA by ``2.5 / AOGM_0``.
* **Divisions.** A division is a mother track with at least two daughter tracks, at frame
  ``t_div`` (the daughters' first frame). A computed division matches a reference one when
  ``|t_div,comp - t_div,ref| <= tolerance``, the computed mother's last vertex matches a vertex of
  the reference mother (or of a reference daughter, when the computed division is later), and
  at frame ``max(t_div,comp, t_div,ref)`` the computed daughters match exactly the reference
  daughters, one to one. Each reference division is matched at most once (smallest time
  difference first). Precision = matched / computed divisions, recall = matched / reference
  divisions (NaN when the denominator is 0).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: CTC weights of the graph operations.
WEIGHT_SPLIT = 5.0
WEIGHT_FALSE_NEGATIVE_VERTEX = 10.0
WEIGHT_FALSE_POSITIVE_VERTEX = 1.0
WEIGHT_EDGE_DELETE = 1.0
WEIGHT_EDGE_ADD = 1.5
WEIGHT_EDGE_SEMANTICS = 1.0

Vertex = tuple[int, int]
"""A cell in a frame: ``(t, label)``."""


@dataclass
class TrackGraph:
    """Acyclic oriented graph of one FOV: vertices ``(t, label)``, edges → ``True`` for parent links."""

    vertices: set[Vertex] = field(default_factory=set)
    edges: dict[tuple[Vertex, Vertex], bool] = field(default_factory=dict)
    divisions: list[Division] = field(default_factory=list)


@dataclass(frozen=True)
class Division:
    """A mother track and its (two or more) daughter tracks; ``t`` is the daughters' first frame."""

    t: int
    mother: Vertex
    """The mother's last vertex."""
    daughters: tuple[int, ...]
    """Daughter track ids (labels)."""


def frame_overlaps(reference: NDArray, computed: NDArray) -> tuple[dict[int, int], dict[int, int]]:
    """Match one frame: ``{reference label: computed label}`` for ``|R ∩ S| > 0.5 |R|``.

    ``reference`` and ``computed``: integer label images of one shape ((Y, X) or (Z, Y, X)),
    0 = background. Also returns the reference labels' sizes (pixels).
    """
    if reference.shape != computed.shape:
        raise ValueError(
            f"label images differ in shape: reference {reference.shape}, computed {computed.shape}"
        )
    ref = reference.ravel().astype(np.uint64)
    comp = computed.ravel().astype(np.uint64)
    ref_labels, ref_sizes = np.unique(ref[ref > 0], return_counts=True)
    sizes = {int(label): int(size) for label, size in zip(ref_labels, ref_sizes, strict=True)}
    both = (ref > 0) & (comp > 0)
    pairs, counts = np.unique((ref[both] << np.uint64(32)) | comp[both], return_counts=True)
    matches = {}
    for pair, count in zip(pairs, counts, strict=True):
        ref_label, comp_label = int(pair >> np.uint64(32)), int(pair & np.uint64(0xFFFFFFFF))
        if 2 * int(count) > sizes[ref_label]:
            matches[ref_label] = comp_label
    return matches, sizes


def present_labels(labels: NDArray) -> set[int]:
    """Non-zero labels of an image."""
    values = np.unique(labels)
    return {int(v) for v in values if v != 0}


def track_graph(tracks: pd.DataFrame, present: dict[int, set[int]]) -> TrackGraph:
    """Build the graph from a track table (``track_id, t, parent_track_id``; -1 = no parent).

    ``present[t]`` are the labels with pixels in frame ``t``; rows whose label is absent from
    its frame are ignored (the link jumps over them), labels absent from the table become
    isolated vertices.
    """
    graph = TrackGraph()
    for t, labels in present.items():
        graph.vertices.update((int(t), int(label)) for label in labels)
    rows = tracks.loc[:, ["track_id", "t", "parent_track_id"]].astype("int64")
    keep = np.array(
        [
            int(label) in present.get(int(t), set())
            for t, label in zip(rows["t"], rows["track_id"], strict=True)
        ],
        dtype=bool,
    )
    rows = rows.loc[keep]
    rows = rows.sort_values(["track_id", "t"])
    first: dict[int, Vertex] = {}
    last: dict[int, Vertex] = {}
    parent_of: dict[int, int] = {}
    for track_id, track in rows.groupby("track_id", sort=True):
        frames = track["t"].to_numpy()
        label = int(track_id)  # type: ignore[call-overload]
        for t0, t1 in itertools.pairwise(frames):
            graph.edges[((int(t0), label), (int(t1), label))] = False
        first[label] = (int(frames[0]), label)
        last[label] = (int(frames[-1]), label)
        parent_of[label] = int(track["parent_track_id"].iloc[0])
    daughters_of: dict[int, list[int]] = defaultdict(list)
    for label, parent in parent_of.items():
        if parent >= 0 and parent in last and last[parent][0] < first[label][0]:
            graph.edges[(last[parent], first[label])] = True
            daughters_of[parent].append(label)
    for parent, daughters in sorted(daughters_of.items()):
        if len(daughters) < 2:
            continue
        t_division = min(first[d][0] for d in daughters)
        graph.divisions.append(
            Division(t=t_division, mother=last[parent], daughters=tuple(sorted(daughters)))
        )
    return graph


@dataclass(frozen=True)
class TrackingScores:
    """CTC error counts and scores of one FOV (or summed over FOVs), and division matching."""

    n_reference_vertices: int
    n_reference_edges: int
    n_computed_vertices: int
    n_computed_edges: int
    false_negative_vertices: int
    false_positive_vertices: int
    splits_needed: int
    edges_to_delete: int
    edges_to_add: int
    edges_wrong_semantics: int
    n_reference_divisions: int
    n_computed_divisions: int
    n_matched_divisions: int

    @property
    def aogm_detection(self) -> float:
        return (
            WEIGHT_SPLIT * self.splits_needed
            + WEIGHT_FALSE_NEGATIVE_VERTEX * self.false_negative_vertices
            + WEIGHT_FALSE_POSITIVE_VERTEX * self.false_positive_vertices
        )

    @property
    def aogm(self) -> float:
        return (
            self.aogm_detection
            + WEIGHT_EDGE_DELETE * self.edges_to_delete
            + WEIGHT_EDGE_ADD * self.edges_to_add
            + WEIGHT_EDGE_SEMANTICS * self.edges_wrong_semantics
        )

    @property
    def det(self) -> float:
        """CTC DET in [0, 1]; NaN without reference vertices."""
        empty = WEIGHT_FALSE_NEGATIVE_VERTEX * self.n_reference_vertices
        return float("nan") if empty == 0 else 1.0 - min(self.aogm_detection, empty) / empty

    @property
    def tra(self) -> float:
        """CTC TRA in [0, 1]; NaN without reference vertices."""
        empty = (
            WEIGHT_FALSE_NEGATIVE_VERTEX * self.n_reference_vertices
            + WEIGHT_EDGE_ADD * self.n_reference_edges
        )
        return float("nan") if empty == 0 else 1.0 - min(self.aogm, empty) / empty

    @property
    def division_precision(self) -> float:
        n = self.n_computed_divisions
        return float("nan") if n == 0 else self.n_matched_divisions / n

    @property
    def division_recall(self) -> float:
        n = self.n_reference_divisions
        return float("nan") if n == 0 else self.n_matched_divisions / n

    @classmethod
    def columns(cls) -> list[str]:
        """Keys of :meth:`as_row`, in order: scores, then counts."""
        scores = ["det", "tra", "division_precision", "division_recall", "aogm_detection", "aogm"]
        return scores + [f.name for f in fields(cls)]

    def as_row(self) -> dict[str, float | int]:
        """Counts and scores as one flat record (for a table)."""
        row: dict[str, float | int] = {
            "det": self.det,
            "tra": self.tra,
            "division_precision": self.division_precision,
            "division_recall": self.division_recall,
            "aogm_detection": self.aogm_detection,
            "aogm": self.aogm,
        }
        row.update(asdict(self))
        return row

    def __add__(self, other: TrackingScores) -> TrackingScores:
        mine, theirs = asdict(self), asdict(other)
        return TrackingScores(**{key: mine[key] + theirs[key] for key in mine})


def match_divisions(
    reference: TrackGraph,
    computed: TrackGraph,
    matches: dict[int, dict[int, int]],
    tolerance_frames: int,
) -> int:
    """Number of reference divisions matched by a computed division (see module docstring).

    ``matches[t]`` maps reference label → computed label (one-to-one matches only).
    """
    computed_to_reference = {t: {c: r for r, c in frame.items()} for t, frame in matches.items()}

    def reference_label(t: int, computed_label: int) -> int | None:
        return computed_to_reference.get(t, {}).get(computed_label)

    candidates = []
    for i, ref in enumerate(reference.divisions):
        for j, comp in enumerate(computed.divisions):
            delay = comp.t - ref.t
            if abs(delay) > tolerance_frames:
                continue
            mother_at = reference_label(comp.mother[0], comp.mother[1])
            allowed_mothers = {ref.mother[1]} | (set(ref.daughters) if delay > 0 else set())
            if mother_at not in allowed_mothers:
                continue
            t_check = max(comp.t, ref.t)
            daughters_at = [reference_label(t_check, d) for d in comp.daughters]
            if None in daughters_at or len(set(daughters_at)) != len(daughters_at):
                continue
            if set(daughters_at) != set(ref.daughters):
                continue
            candidates.append((abs(delay), i, j))
    used_reference: set[int] = set()
    used_computed: set[int] = set()
    for _, i, j in sorted(candidates):
        if i not in used_reference and j not in used_computed:
            used_reference.add(i)
            used_computed.add(j)
    return len(used_reference)


def ctc_scores(
    reference: TrackGraph,
    computed: TrackGraph,
    overlaps: dict[int, dict[int, int]],
    division_tolerance_frames: int = 1,
) -> TrackingScores:
    """Count the CTC graph errors of ``computed`` against ``reference``.

    ``overlaps[t]`` maps each matched reference label of frame ``t`` to the computed label that
    covers more than half of it (:func:`frame_overlaps`).
    """
    matched_by: dict[Vertex, list[Vertex]] = defaultdict(list)
    for t, frame in overlaps.items():
        for ref_label, comp_label in frame.items():
            if (t, ref_label) in reference.vertices and (t, comp_label) in computed.vertices:
                matched_by[(t, comp_label)].append((t, ref_label))
    one_to_one = {comp: refs[0] for comp, refs in matched_by.items() if len(refs) == 1}
    reference_to_computed = {ref: comp for comp, ref in one_to_one.items()}
    detected = {ref for refs in matched_by.values() for ref in refs}

    false_negatives = len(reference.vertices - detected)
    false_positives = len(computed.vertices - set(matched_by))
    splits = sum(len(refs) - 1 for refs in matched_by.values() if len(refs) > 1)

    to_delete = wrong_semantics = 0
    for (source, target), is_parent_link in computed.edges.items():
        if source not in one_to_one or target not in one_to_one:
            continue
        ref_edge = (one_to_one[source], one_to_one[target])
        if ref_edge not in reference.edges:
            to_delete += 1
        elif reference.edges[ref_edge] != is_parent_link:
            wrong_semantics += 1
    to_add = 0
    for source, target in reference.edges:
        comp_source, comp_target = reference_to_computed.get(source), reference_to_computed.get(target)
        if comp_source is None or comp_target is None or (comp_source, comp_target) not in computed.edges:
            to_add += 1

    one_to_one_by_frame: dict[int, dict[int, int]] = defaultdict(dict)
    for (t, comp_label), (_, ref_label) in one_to_one.items():
        one_to_one_by_frame[t][ref_label] = comp_label
    matched_divisions = match_divisions(reference, computed, one_to_one_by_frame, division_tolerance_frames)
    return TrackingScores(
        n_reference_vertices=len(reference.vertices),
        n_reference_edges=len(reference.edges),
        n_computed_vertices=len(computed.vertices),
        n_computed_edges=len(computed.edges),
        false_negative_vertices=false_negatives,
        false_positive_vertices=false_positives,
        splits_needed=splits,
        edges_to_delete=to_delete,
        edges_to_add=to_add,
        edges_wrong_semantics=wrong_semantics,
        n_reference_divisions=len(reference.divisions),
        n_computed_divisions=len(computed.divisions),
        n_matched_divisions=matched_divisions,
    )


def score_label_movies(
    reference_labels: NDArray,
    reference_tracks: pd.DataFrame,
    computed_labels: NDArray,
    computed_tracks: pd.DataFrame,
    division_tolerance_frames: int = 1,
) -> TrackingScores:
    """Score in-memory label movies (T, [Z,] Y, X) with their track tables (label = track_id)."""
    if reference_labels.shape != computed_labels.shape:
        raise ValueError(
            f"label movies differ in shape: reference {reference_labels.shape}, "
            f"computed {computed_labels.shape}"
        )
    overlaps, ref_present, comp_present = {}, {}, {}
    for t in range(reference_labels.shape[0]):
        overlaps[t], _ = frame_overlaps(reference_labels[t], computed_labels[t])
        ref_present[t] = present_labels(reference_labels[t])
        comp_present[t] = present_labels(computed_labels[t])
    return ctc_scores(
        track_graph(reference_tracks, ref_present),
        track_graph(computed_tracks, comp_present),
        overlaps,
        division_tolerance_frames,
    )
