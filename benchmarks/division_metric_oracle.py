"""Oracle: our division precision/recall (:mod:`dynaclr.tracking.ctc`) against traccuracy's.

traccuracy (0.4.3; not a dependency of the project: install it beside, e.g.
``pip install --target /tmp/tracc_site traccuracy==0.4.3 pylapy skan --no-deps`` and put that
folder on ``PYTHONPATH``) is an independent implementation of the CTC matching and of division
matching with a frame buffer. Both are given the same label movies and track tables:

* vertices ``(t, label)`` for the labels present in each frame, track links between consecutive
  vertices of a track and parent links from a mother's last vertex to each daughter's first;
* the CTC matching (a computed vertex covering more than half of a reference vertex), restricted
  to one-to-one pairs (a computed vertex matching several reference vertices matches none), as
  traccuracy's division metric requires a one-to-one matching;
* our ``division_frame_tolerance`` is traccuracy's ``max_frame_buffer``.

Run on the tracks that ``benchmarks/tracking_divisions.py`` leaves in its work directory::

    PYTHONPATH=/tmp/tracc_site:src python benchmarks/division_metric_oracle.py --workdir /tmp/trk_div
"""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from dynaclr.tracking.ctc import frame_overlaps, score_label_movies

#: Node ids are integers for traccuracy: ``t * NODE_ID_FRAME_STRIDE + label``.
NODE_ID_FRAME_STRIDE = 1_000_000


def node_id(t: int, label: int) -> int:
    """traccuracy node id of label ``label`` in frame ``t`` (labels below a million)."""
    return int(t) * NODE_ID_FRAME_STRIDE + int(label)


def tracking_graph(labels: np.ndarray, tracks: pd.DataFrame):  # -> traccuracy TrackingGraph
    """traccuracy's graph of a (T, Y, X) label movie and its table (``track_id, t, parent_track_id``)."""
    from skimage.measure import regionprops
    from traccuracy import TrackingGraph

    graph: nx.DiGraph = nx.DiGraph()
    for t in range(labels.shape[0]):
        for region in regionprops(labels[t].astype(np.int64)):
            y, x = region.centroid
            graph.add_node(
                node_id(t, region.label),
                t=t,
                segmentation_id=region.label,
                y=float(y),
                x=float(x),
                bbox=np.asarray(region.bbox),
            )
    rows = tracks.loc[:, ["track_id", "t", "parent_track_id"]].astype("int64")
    rows = rows[[node_id(t, label) in graph for t, label in zip(rows["t"], rows["track_id"], strict=True)]]
    first, last, parent_of = {}, {}, {}
    for track_id, track in rows.sort_values("t").groupby("track_id"):
        frames = track["t"].tolist()
        for t0, t1 in itertools.pairwise(frames):
            graph.add_edge(node_id(t0, track_id), node_id(t1, track_id))
        first[track_id], last[track_id] = frames[0], frames[-1]
        parent_of[track_id] = int(track["parent_track_id"].iloc[0])
    for track_id, parent in parent_of.items():
        if parent in last and last[parent] < first[track_id]:
            graph.add_edge(node_id(last[parent], parent), node_id(first[track_id], track_id))
    return TrackingGraph(graph, segmentation=labels, location_keys=("y", "x"))


def one_to_one_mapping(reference_labels: np.ndarray, computed_labels: np.ndarray) -> list[tuple[int, int]]:
    """CTC matches (``|R ∩ S| > 0.5 |R|``) whose computed vertex matches exactly one reference."""
    by_computed: dict[int, list[int]] = defaultdict(list)
    for t in range(reference_labels.shape[0]):
        matches, _ = frame_overlaps(reference_labels[t], computed_labels[t])
        for ref, comp in matches.items():
            by_computed[node_id(t, comp)].append(node_id(t, ref))
    return [(refs[0], comp) for comp, refs in by_computed.items() if len(refs) == 1]


def traccuracy_divisions(
    reference_labels: np.ndarray,
    reference_tracks: pd.DataFrame,
    computed_labels: np.ndarray,
    computed_tracks: pd.DataFrame,
    tolerance_frames: int,
) -> dict[str, float]:
    """traccuracy's division precision, recall and counts at frame buffer ``tolerance_frames``."""
    from traccuracy.matchers import Matched
    from traccuracy.metrics import DivisionMetrics

    reference = tracking_graph(reference_labels, reference_tracks)
    computed = tracking_graph(computed_labels, computed_tracks)
    mapping = one_to_one_mapping(reference_labels, computed_labels)
    matched = Matched(reference, computed, mapping, {"name": "ctc_one_to_one", "matching type": "one-to-one"})
    result = DivisionMetrics(max_frame_buffer=tolerance_frames).compute(matched)
    scores = result.results[f"Frame Buffer {tolerance_frames}"]
    return {
        "precision": scores["Division Precision"],
        "recall": scores["Division Recall"],
        "n_reference": scores["Total GT Divisions"],
        "n_computed": scores["Total Predicted Divisions"],
        "n_matched": scores["True Positive Divisions"],
    }


def ours(
    reference_labels: np.ndarray,
    reference_tracks: pd.DataFrame,
    computed_labels: np.ndarray,
    computed_tracks: pd.DataFrame,
    tolerance_frames: int,
) -> dict[str, float]:
    """This project's division precision, recall and counts."""
    scores = score_label_movies(
        reference_labels, reference_tracks, computed_labels, computed_tracks, tolerance_frames
    )
    return {
        "precision": scores.division_precision,
        "recall": scores.division_recall,
        "n_reference": scores.n_reference_divisions,
        "n_computed": scores.n_computed_divisions,
        "n_matched": scores.n_matched_divisions,
    }


def main() -> None:
    from iohub.ngff import open_ome_zarr

    from dynaclr.tracking.evaluate import project_labels_to_2d

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dynaclr_tracking_divisions"))
    parser.add_argument("--tolerances", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = []
    for run in sorted((args.workdir / "runs").iterdir()):
        setting = run.name.rsplit("_", 1)[0]
        truth_dir = args.workdir / setting
        with open_ome_zarr(truth_dir / "labels.zarr", mode="r") as plate:
            reference_labels = np.stack(
                [project_labels_to_2d(f) for f in np.asarray(plate["A/1/0"]["0"][:, 0])]
            )
        with open_ome_zarr(run / "tracks.zarr", mode="r") as plate:
            computed_labels = np.asarray(plate["A/1/0"]["0"][:, 0, 0])
        reference_tracks = pd.read_parquet(truth_dir / "truth.parquet")
        computed_tracks = pd.read_csv(run / "tracks.csv")
        for tolerance in args.tolerances:
            movies = (reference_labels, reference_tracks, computed_labels, computed_tracks, tolerance)
            row = {"run": run.name, "tolerance": tolerance}
            row.update({f"ours_{k}": v for k, v in ours(*movies).items()})
            row.update({f"traccuracy_{k}": v for k, v in traccuracy_divisions(*movies).items()})
            rows.append(row)
            print(pd.DataFrame([row]).round(3).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    agree = (table["ours_n_matched"] == table["traccuracy_n_matched"]) & (
        table["ours_n_computed"] == table["traccuracy_n_computed"]
    )
    print(table.round(3).to_markdown(index=False))
    print(f"agree on {int(agree.sum())} of {len(table)} (run, tolerance) pairs")


if __name__ == "__main__":
    main()
