"""Sparse annotations drawn from ground truth, and how they find their cell among the patches.

Annotation scheme (:func:`draw_annotations`), per task, independently:

* the annotated unit is one cell observation (one cell at one frame);
* the budget is ``round(fraction_of_cells * N)`` observations (``N``: all ground-truth cell
  observations, at least 2), i.e. at most 10 % of the cells by default;
* the annotator deliberately looks for the positive class (``infected`` for ``infection``,
  ``mitosis`` for ``division``): ``positive_class_share`` of the budget (default one half) goes
  to positives drawn uniformly without replacement, the rest to negatives (``uninfected``,
  ``interphase``). Mitoses are rare (a few % of observations), so uniform sampling would give a
  handful; when a class runs short the other fills the budget;
* the annotator labels what the images show: a cell whose infection has begun but whose viral
  sensor has moved less than ``infection_visible_translocation`` of the way from its resting to
  its fully translocated level still looks uninfected, so it is left unannotated (ambiguous)
  rather than given a label no one could read from the image. The resting level is the median
  sensor nuclear fraction of never-yet-infected observations, the full level the maximum over
  infected ones (columns ``sensor_nuclear_fraction`` and ``infected`` of the ground truth; a
  table without the sensor column is labelled from the true onset). ``0`` labels every cell
  from its true onset on.

Annotations keep the cell's centroid (``y``, ``x`` in pixels) so they can be matched to patches
of *tracked* cells, whose ``track_id`` differs from the ground truth's (:func:`match_annotations`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from dynaclr.io import make_provenance, read_table, write_table

logger = logging.getLogger(__name__)

ANNOTATIONS_KIND = "annotations"
ANNOTATION_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t", "y", "x", "task", "label")

#: task → (ground-truth column, label when True (positive), label when False).
TASK_LABELS: dict[str, tuple[str, str, str]] = {
    "infection": ("infected", "infected", "uninfected"),
    "division": ("mitosis", "mitosis", "interphase"),
}


def positive_label(task: str) -> str:
    """Label of ``task``'s positive class (``infected`` or ``mitosis``)."""
    return _task(task)[1]


def task_classes(task: str) -> tuple[str, str]:
    """``(negative, positive)`` label names of ``task``."""
    _, positive, negative = _task(task)
    return negative, positive


def _task(task: str) -> tuple[str, str, str]:
    if task not in TASK_LABELS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_LABELS)}")
    return TASK_LABELS[task]


def draw_annotations(
    ground_truth_tracks: pd.DataFrame,
    fraction_of_cells: float = 0.10,
    seed: int = 0,
    tasks: tuple[str, ...] = ("infection", "division"),
    positive_class_share: float = 0.5,
    infection_visible_translocation: float = 0.5,
) -> pd.DataFrame:
    """Draw sparse annotations of ``tasks`` from ground truth (scheme in the module docstring).

    Args:
        ground_truth_tracks: ``ground_truth_tracks`` table (needs ``fov_name, track_id, t, y, x``
            and the tasks' columns ``infected`` / ``mitosis``).
        fraction_of_cells: budget per task as a fraction of all cell observations, in ``(0, 0.1]``.
        seed: seed of the draw; task ``k`` uses the generator ``default_rng([seed, k])``.
        tasks: ``'infection'`` and/or ``'division'``.
        positive_class_share: target share of positives in the budget, in ``(0, 1)``.
        infection_visible_translocation: sensor translocation progress, in ``[0, 1]``, from which
            an infected cell is recognisable (and annotated) as infected.

    Returns:
        DataFrame ``fov_name, track_id, t, y, x, task, label`` sorted by task, FOV, track, frame.
    """
    if not 0.0 < fraction_of_cells <= 0.10:
        raise ValueError(f"fraction_of_cells must be in (0, 0.10] (sparse labels), got {fraction_of_cells}")
    if not 0.0 < positive_class_share < 1.0:
        raise ValueError(f"positive_class_share must be in (0, 1), got {positive_class_share}")
    if not 0.0 <= infection_visible_translocation <= 1.0:
        raise ValueError(
            f"infection_visible_translocation must be in [0, 1], got {infection_visible_translocation}"
        )
    needed = ["fov_name", "track_id", "t", "y", "x", *{_task(task)[0] for task in tasks}]
    missing = [c for c in needed if c not in ground_truth_tracks.columns]
    if missing:
        raise ValueError(
            f"ground_truth_tracks lacks columns {missing}; found {list(ground_truth_tracks.columns)}"
        )
    truth = ground_truth_tracks.reset_index(drop=True)
    n_total = max(2, round(fraction_of_cells * len(truth)))
    frames = []
    for task_number, task in enumerate(tasks):
        column, positive, negative = _task(task)
        rng = np.random.default_rng([seed, task_number])
        is_positive = truth[column].to_numpy(dtype=bool)
        readable = np.ones(len(truth), dtype=bool)
        if task == "infection" and infection_visible_translocation > 0:
            readable = ~_ambiguous_infection(truth, infection_visible_translocation)
        positives = np.flatnonzero(is_positive & readable)
        negatives = np.flatnonzero(~is_positive & readable)
        n_positive = min(round(positive_class_share * n_total), positives.size)
        n_negative = min(n_total - n_positive, negatives.size)
        n_positive = min(n_total - n_negative, positives.size)  # refill from positives if negatives ran short
        chosen = np.concatenate(
            [
                rng.choice(positives, size=n_positive, replace=False),
                rng.choice(negatives, size=n_negative, replace=False),
            ]
        )
        labels = np.where(is_positive[chosen], positive, negative)
        frames.append(
            truth.loc[chosen, ["fov_name", "track_id", "t", "y", "x"]].assign(task=task, label=labels)
        )
        logger.info(
            "%s: %d annotations (%d %s, %d %s) of %d cell observations",
            task,
            chosen.size,
            n_positive,
            positive,
            n_negative,
            negative,
            len(truth),
        )
    annotations = pd.concat(frames, ignore_index=True)
    return annotations.sort_values(["task", "fov_name", "track_id", "t"], ignore_index=True)[
        list(ANNOTATION_COLUMNS)
    ]


def _ambiguous_infection(truth: pd.DataFrame, visible_from: float) -> np.ndarray:
    """Infected observations whose sensor has not yet visibly translocated (module docstring)."""
    infected = truth["infected"].to_numpy(dtype=bool)
    if "sensor_nuclear_fraction" not in truth.columns:
        logger.info("no 'sensor_nuclear_fraction' in the ground truth: infected cells labelled from onset")
        return np.zeros(len(truth), dtype=bool)
    fraction = truth["sensor_nuclear_fraction"].to_numpy(dtype=np.float64)
    if not infected.any() or infected.all():
        return np.zeros(len(truth), dtype=bool)
    resting, full = float(np.median(fraction[~infected])), float(fraction[infected].max())
    if full <= resting:
        return np.zeros(len(truth), dtype=bool)
    progress = (fraction - resting) / (full - resting)
    return infected & (progress < visible_from)


def draw_annotations_stage(
    tracks_path: str | Path,
    output_path: str | Path,
    fraction_of_cells: float = 0.10,
    seed: int = 0,
    tasks: tuple[str, ...] = ("infection", "division"),
    positive_class_share: float = 0.5,
    infection_visible_translocation: float = 0.5,
    provenance_config: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Read ground-truth tracks, draw annotations, write them (kind ``annotations``) to ``output_path``."""
    truth, truth_prov = read_table(tracks_path, "ground_truth_tracks")
    annotations = draw_annotations(
        truth, fraction_of_cells, seed, tasks, positive_class_share, infection_visible_translocation
    )
    config = provenance_config or {
        "fraction_of_cells": fraction_of_cells,
        "seed": seed,
        "tasks": list(tasks),
        "positive_class_share": positive_class_share,
        "infection_visible_translocation": infection_visible_translocation,
    }
    write_table(
        annotations, output_path, make_provenance(ANNOTATIONS_KIND, config, [(tracks_path, truth_prov)])
    )
    return annotations


def read_annotations(path: str | Path) -> pd.DataFrame:
    """Read an ``annotations`` table (provenance and columns checked)."""
    table, _ = read_table(path, ANNOTATIONS_KIND, ANNOTATION_COLUMNS)
    return table


def match_annotations(
    annotations: pd.DataFrame,
    obs: pd.DataFrame,
    on: Literal["position", "track"] = "position",
    max_distance_px: float = 6.0,
) -> np.ndarray:
    """Row of ``obs`` (the embeddings' cells) each annotation refers to; ``-1`` when none.

    * ``on='track'``: same ``fov_name, track_id, t``.
    * ``on='position'``: same ``fov_name`` and ``t``, nearest ``(y, x)`` within ``max_distance_px``
      pixels. When two annotations of one task pick the same cell, the closer keeps it.

    Args:
        annotations: needs ``fov_name, t`` and ``track_id`` or ``y, x``.
        obs: the embeddings' ``obs`` (same columns).

    Returns:
        ``(len(annotations),)`` int64 positions into ``obs``.
    """
    left = annotations.reset_index(drop=True).assign(_annotation=np.arange(len(annotations)))
    right = obs.reset_index(drop=True).assign(_cell=np.arange(len(obs)))
    if on == "track":
        keys = ["fov_name", "track_id", "t"]
        merged = left[[*keys, "_annotation"]].merge(right[[*keys, "_cell"]], on=keys, how="inner")
        merged = merged.drop_duplicates("_annotation")
    elif on == "position":
        for name, frame in (("annotations", left), ("obs", right)):
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
    rows = np.full(len(annotations), -1, dtype=np.int64)
    rows[merged["_annotation"].to_numpy()] = merged["_cell"].to_numpy()
    n_unmatched = int((rows < 0).sum())
    if n_unmatched:
        logger.warning("%d of %d annotations match no cell (on=%s)", n_unmatched, len(annotations), on)
    return rows
