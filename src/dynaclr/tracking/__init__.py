"""Segmentation and tracking of nuclei with ultrack, and its evaluation against ground truth.

Stage functions (one per rule): :func:`create_tracks_plate` (``tracks_plate``), :func:`track_fov`
(``track_fov``, one job per FOV), :func:`collect_tracks` (``collect_tracks``), or, for tracks
you already have, :func:`import_tracks` (``import_tracks``, :mod:`~dynaclr.tracking.importing`),
:func:`evaluate_tracking` (``evaluate_tracking``). Building blocks: :mod:`~dynaclr.tracking.maps`
(foreground and contour maps from a nuclear image), :mod:`~dynaclr.tracking.engine` (ultrack
segment → link → solve; CBC solver, no commercial licence), :mod:`~dynaclr.tracking.divisions`
(divisions into touching daughters undone: one nucleus cut in two), :mod:`~dynaclr.tracking.ctc` (Cell
Tracking Challenge DET/TRA and division precision/recall), :mod:`~dynaclr.tracking.errors` (identity
switches and false merges injected into a tracks table at controlled rates, for robustness studies).
"""

from dynaclr.tracking.ctc import TrackingScores, ctc_scores, score_label_movies
from dynaclr.tracking.engine import NO_PARENT, track_columns
from dynaclr.tracking.errors import ERROR_LOG_COLUMNS, inject_tracking_errors
from dynaclr.tracking.evaluate import (
    EvaluateTrackingInputs,
    EvaluateTrackingOutputs,
    evaluate_tracking,
    project_labels_to_2d,
    read_tracking_evaluation,
)
from dynaclr.tracking.fov import (
    LABELS_CHANNEL,
    CollectTracksInputs,
    CollectTracksOutputs,
    TrackFovInputs,
    TrackFovOutputs,
    TracksPlateInputs,
    TracksPlateOutputs,
    collect_tracks,
    create_tracks_plate,
    read_tracks_csv,
    track_fov,
)
from dynaclr.tracking.importing import ImportTracksInputs, ImportTracksOutputs, import_tracks

__all__ = [
    "ERROR_LOG_COLUMNS",
    "LABELS_CHANNEL",
    "NO_PARENT",
    "CollectTracksInputs",
    "CollectTracksOutputs",
    "EvaluateTrackingInputs",
    "EvaluateTrackingOutputs",
    "ImportTracksInputs",
    "ImportTracksOutputs",
    "TrackFovInputs",
    "TrackFovOutputs",
    "TrackingScores",
    "TracksPlateInputs",
    "TracksPlateOutputs",
    "collect_tracks",
    "create_tracks_plate",
    "ctc_scores",
    "evaluate_tracking",
    "import_tracks",
    "inject_tracking_errors",
    "project_labels_to_2d",
    "read_tracking_evaluation",
    "read_tracks_csv",
    "score_label_movies",
    "track_columns",
    "track_fov",
]
