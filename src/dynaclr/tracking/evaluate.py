"""Tracking vs ground truth (rule ``evaluate_tracking``): CTC DET/TRA and division P/R per FOV.

Definitions in :mod:`dynaclr.tracking.ctc`. Label images are read one frame at a time. When
the predicted labels are 2D (``Z = 1``, projection tracking) and the ground truth is 3D, each
ground-truth frame is projected to 2D with :func:`project_labels_to_2d`.

Imported tracks (``tracks:``, rule ``import_tracks``) have positions, not label images: a detection
matches the true cell whose mask holds its position (:func:`point_overlaps`; the ground truth
projected to 2D unless the tracks give ``z``), then the same graph errors and scores follow. A
point covers no area, so a detection never matches two true cells (no split is ever needed), and
where several detections fall in one true cell the first by track id matches it and the others are
false positives, as a second label covering less than half of a cell would be. Tracks imported from
CTC folders made on part of the movie are scored on the frames their folder covers only (the tracks
record's :data:`~dynaclr.tracking.importing.TRACKED_FRAMES`, kept in this record): a true cell in an
untracked frame is not a missed cell.

Output: a CSV (``results/{dataset}/evaluation/tracking.csv``) with one row per FOV and a last
row ``fov_name = "all"`` whose scores come from the error counts summed over FOVs; columns
``fov_name, det, tra, division_precision, division_recall, aogm_detection, aogm`` followed by
the counts (:class:`dynaclr.tracking.ctc.TrackingScores`). CSV files carry no metadata, so the
provenance (kind ``tracking_evaluation``) and the overall scores go to a JSON record the rule
names beside it (``tracking.json``; read both with :func:`read_tracking_evaluation`).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr
from numpy.typing import NDArray
from tqdm import tqdm

from dynaclr.config.tracking import TrackingEvaluationConfig
from dynaclr.io import (
    ArtifactError,
    Provenance,
    StageFiles,
    make_provenance,
    parse_csv,
    read_table,
    read_zarr_provenance,
    write_csv,
)
from dynaclr.io.chunks import read_block
from dynaclr.io.plate import list_plate_fovs, read_fov_record, write_fov_record
from dynaclr.tracking.ctc import TrackingScores, ctc_scores, frame_overlaps, present_labels, track_graph
from dynaclr.tracking.importing import TRACKED_FRAMES

logger = logging.getLogger(__name__)

OVERALL_FOV_NAME = "all"
GROUND_TRUTH_COLUMNS = ("fov_name", "track_id", "parent_track_id", "t")
TRACKS_COLUMNS = ("fov_name", "track_id", "parent_track_id", "t", "y", "x")


def project_labels_to_2d(labels_zyx: NDArray) -> NDArray:
    """(Z, Y, X) labels → (Y, X): each pixel takes the label filling most slices of its Z column.

    Ties go to the larger label; a pixel is background (0) only when its whole column is. Unlike
    a plain maximum, a nucleus is not overwritten by a larger label that only grazes its column.
    """
    labels = np.asarray(labels_zyx)
    if labels.ndim != 3:
        raise ValueError(f"expected (Z, Y, X) labels, got shape {labels.shape}")
    votes = np.zeros(labels.shape, dtype=np.int64)
    for z in range(labels.shape[0]):
        votes += labels == labels[z : z + 1]
    key = votes * (int(labels.max()) + 1) + labels.astype(np.int64)
    key[labels == 0] = -1
    best = np.argmax(key, axis=0)
    return np.take_along_axis(labels, best[None], axis=0)[0]


class EvaluateTrackingInputs(StageFiles):
    """Rule ``evaluate_tracking``: the tracked labels (none for imported tracks) and table, and the
    simulator's ground truth."""

    tracks_plate: Path | None = None
    tracks: Path
    labels: Path
    truth: Path


class EvaluateTrackingOutputs(StageFiles):
    """Rule ``evaluate_tracking``: the scores table and its record (provenance, overall scores)."""

    table: Path
    record: Path


def read_tracking_evaluation(csv_path: str | Path, json_path: str | Path) -> tuple[pd.DataFrame, Provenance]:
    """Read the evaluation CSV and check the provenance of its record."""
    provenance, _ = read_fov_record(json_path, "tracking_evaluation")
    csv_path = Path(csv_path)
    if not csv_path.exists():
        raise ArtifactError(f"{csv_path}: evaluation CSV not found; rerun evaluate_tracking")
    return parse_csv(csv_path), provenance


def point_overlaps(true_frame_zyx: NDArray, points: pd.DataFrame) -> dict[int, int]:
    """Match one frame's detections to the true cells: ``{true label: track id}`` for the true cell
    whose mask holds the detection's position (``y, x`` and, for a (Z, Y, X) frame of more than one
    slice, ``z``; rounded to the nearest pixel); the first detection by track id where several fall
    in one cell."""
    frame = np.asarray(true_frame_zyx)
    rows = points.sort_values("track_id")

    def pixel(column: str, axis: int) -> NDArray:
        return np.clip(np.rint(rows[column].to_numpy(dtype=float)).astype(int), 0, frame.shape[axis] - 1)

    z = pixel("z", 0) if frame.shape[0] > 1 else 0
    labels = frame[z, pixel("y", 1), pixel("x", 2)]
    matches: dict[int, int] = {}
    for label, track_id in zip(labels.tolist(), rows["track_id"].tolist(), strict=True):
        if label and int(label) not in matches:
            matches[int(label)] = int(track_id)
    return matches


def score_fov(
    tracks_plate_path: str | Path | None,
    ground_truth_labels_path: str | Path,
    fov_name: str,
    tracks: pd.DataFrame,
    ground_truth: pd.DataFrame,
    division_tolerance_frames: int,
    frames: range | None = None,
) -> TrackingScores:
    """Scores of one FOV; label images read frame by frame (GT projected to 2D when the predicted
    labels are 2D, or imported tracks have no ``z``). Without a tracks plate (imported tracks) each
    detection is matched to the true cell holding its position (:func:`point_overlaps`). ``frames``:
    the frames the tracks cover (None: every frame); the truth in the others is left out, its links
    into them too."""
    with ExitStack() as stack:
        truth = stack.enter_context(open_ome_zarr(ground_truth_labels_path, layout="hcs", mode="r"))[
            fov_name
        ]["0"]
        n_t, _, z_true, y_true, x_true = truth.shape
        if tracks_plate_path is None:
            predicted = None
            project = z_true > 1 and not ("z" in tracks.columns and tracks["z"].notna().all())
            by_frame = dict(tuple(tracks.groupby("t")))
        else:
            predicted = stack.enter_context(open_ome_zarr(tracks_plate_path, layout="hcs", mode="r"))[
                fov_name
            ]["0"]
            _, _, z_pred, y_pred, x_pred = predicted.shape
            if (predicted.shape[0], y_pred, x_pred) != (n_t, y_true, x_true) or z_pred not in (1, z_true):
                raise ArtifactError(
                    f"{fov_name}: predicted labels {predicted.shape} (T, 1, Z, Y, X) in {tracks_plate_path} "
                    f"do not fit the ground truth {truth.shape} in {ground_truth_labels_path}: T, Y, X must "
                    "agree and Z be 1 or the same"
                )
            project = z_pred == 1 and z_true > 1
        overlaps, true_present, predicted_present = {}, {}, {}
        scored = range(n_t) if frames is None else frames
        for t in tqdm(scored, desc=f"evaluate {fov_name}", mininterval=2, leave=False):
            true_frame = read_block(truth, (t, 0), store=ground_truth_labels_path, fov_name=fov_name)
            if project:
                true_frame = project_labels_to_2d(true_frame)[None]
            if predicted is None or tracks_plate_path is None:
                points = by_frame.get(t, tracks.iloc[:0])
                overlaps[t] = point_overlaps(true_frame, points)
                predicted_present[t] = {int(track_id) for track_id in points["track_id"]}
            else:
                predicted_frame = read_block(predicted, (t, 0), store=tracks_plate_path, fov_name=fov_name)
                overlaps[t], _ = frame_overlaps(true_frame, predicted_frame)
                predicted_present[t] = present_labels(predicted_frame)
            true_present[t] = present_labels(true_frame)
    return ctc_scores(
        track_graph(ground_truth, true_present),
        track_graph(tracks, predicted_present),
        overlaps,
        division_tolerance_frames,
    )


def evaluate_tracking(
    config: TrackingEvaluationConfig, inputs: EvaluateTrackingInputs, outputs: EvaluateTrackingOutputs
) -> pd.DataFrame:
    """CTC DET, TRA and division precision/recall per FOV and overall; written as CSV and record.

    Reads the tracked label plate (kind ``tracks_plate``; none for imported tracks, matched by
    position: module docstring), the collected or imported tracks (``tracks``), the ground-truth
    labels (``ground_truth_labels``) and table (``ground_truth_tracks``); scores every FOV of the
    tracks plate (of the ground truth for imported tracks). Returns the table written (one row per
    FOV, then ``fov_name = "all"``).
    """
    tracks_plate_path, ground_truth_labels_path = inputs.tracks_plate, inputs.labels
    tracks, tracks_provenance = read_table(inputs.tracks, "tracks", TRACKS_COLUMNS)
    labels_provenance = read_zarr_provenance(ground_truth_labels_path, "ground_truth_labels")
    truth, truth_provenance = read_table(inputs.truth, "ground_truth_tracks", GROUND_TRUTH_COLUMNS)
    read_inputs: list[tuple[Path, Provenance]] = []
    if tracks_plate_path is not None:
        read_inputs.append((tracks_plate_path, read_zarr_provenance(tracks_plate_path, "tracks_plate")))
    fov_names = list_plate_fovs(
        tracks_plate_path if tracks_plate_path is not None else ground_truth_labels_path
    )
    rows = []
    total: TrackingScores | None = None
    tracked: dict[str, list[int]] = tracks_provenance.config.get(TRACKED_FRAMES) or {}
    for fov_name in fov_names:
        first_last = tracked.get(fov_name)
        scores = score_fov(
            tracks_plate_path,
            ground_truth_labels_path,
            fov_name,
            tracks[tracks["fov_name"] == fov_name],
            truth[truth["fov_name"] == fov_name],
            config.division_frame_tolerance,
            None if first_last is None else range(first_last[0], first_last[1] + 1),
        )
        rows.append({"fov_name": fov_name, **scores.as_row()})
        total = scores if total is None else total + scores
        logger.info(
            "%s: DET %.3f TRA %.3f division precision %.2f recall %.2f",
            fov_name,
            scores.det,
            scores.tra,
            scores.division_precision,
            scores.division_recall,
        )
    if total is not None:
        rows.append({"fov_name": OVERALL_FOV_NAME, **total.as_row()})
    table = pd.DataFrame(rows, columns=["fov_name", *TrackingScores.columns()])
    provenance = make_provenance(
        "tracking_evaluation",
        config.model_dump(mode="json"),
        inputs=[
            *read_inputs,
            (inputs.tracks, tracks_provenance),
            (ground_truth_labels_path, labels_provenance),
            (inputs.truth, truth_provenance),
        ],
    )
    write_csv(table, outputs.table)
    overall = total.as_row() if total is not None else {}
    scored_frames = {TRACKED_FRAMES: tracked} if tracked else {}
    write_fov_record(outputs.record, provenance, {"fov_names": fov_names, **scored_frames, **overall})
    return table
