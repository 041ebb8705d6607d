"""Sparse annotations drawn from ground truth, and how they find their cell among the patches.

Annotation scheme (:func:`draw_annotations`; :func:`draw_lineage_annotations` draws ``division``
the same way from a tracks table's lineage, :func:`lineage_division_states`), per task, independently:

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
of *tracked* cells, whose ``track_id`` differs from the ground truth's
(:func:`dynaclr.embeddings.match_observations_to_cells`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dynaclr.config.analysis import AnnotationConfig
from dynaclr.io import ArtifactKind, Provenance, StageFiles, make_provenance, read_table, write_table

logger = logging.getLogger(__name__)

ANNOTATION_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t", "y", "x", "task", "label")

#: task → (ground-truth column, label when True (positive), label when False).
TASK_LABELS: dict[str, tuple[str, str, str]] = {
    "infection": ("infected", "infected", "uninfected"),
    "division": ("mitosis", "mitosis", "interphase"),
}

#: A cell is called the positive class where the classifier's positive-class probability is at least
#: this: ``predicted_label`` in the predictions, the metrics' F1 and balanced accuracy, and the error
#: rates that adjust the infected fraction (``dynaclr.figures.curves``).
DECISION_THRESHOLD = 0.5


def positive_label(task: str) -> str:
    """Label of ``task``'s positive class (``infected`` or ``mitosis``)."""
    return _task(task)[1]


def truth_column(task: str) -> str:
    """Ground-truth column that says whether a cell is in ``task``'s positive state (``infected``
    or ``mitosis``): the column the drawn annotations and the fraction curves' truth read."""
    return _task(task)[0]


def task_classes(task: str) -> tuple[str, str]:
    """``(negative, positive)`` label names of ``task``."""
    _, positive, negative = _task(task)
    return negative, positive


def _task(task: str) -> tuple[str, str, str]:
    if task not in TASK_LABELS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_LABELS)}")
    return TASK_LABELS[task]


def draw_annotations(ground_truth_tracks: pd.DataFrame, config: AnnotationConfig) -> pd.DataFrame:
    """Draw sparse annotations of ``config.tasks`` from ground truth (scheme in the module docstring).

    Task ``k`` of ``config.tasks`` draws with the generator ``default_rng([config.seed, k])``.

    Args:
        ground_truth_tracks: ``ground_truth_tracks`` table (needs ``fov_name, track_id, t, y, x``
            and the tasks' columns ``infected`` / ``mitosis``).
        config: the budget (``fraction_of_cells``), positive share, visibility threshold, seed.

    Returns:
        DataFrame ``fov_name, track_id, t, y, x, task, label`` sorted by task, FOV, track, frame.
    """
    if config.table is not None:
        raise ValueError(f"annotations.table is set ({config.table!r}): annotations are imported, not drawn")
    tasks, seed = config.tasks, config.seed
    needed = ["fov_name", "track_id", "t", "y", "x", *{truth_column(task) for task in tasks}]
    missing = [c for c in needed if c not in ground_truth_tracks.columns]
    if missing:
        raise ValueError(
            f"ground_truth_tracks lacks columns {missing}; found {list(ground_truth_tracks.columns)}"
        )
    truth = ground_truth_tracks.reset_index(drop=True)
    n_total = max(2, round(config.fraction_of_cells * len(truth)))
    frames = []
    for task_number, task in enumerate(tasks):
        column = truth_column(task)
        negative, positive = task_classes(task)
        rng = np.random.default_rng([seed, task_number])
        is_positive = truth[column].to_numpy(dtype=bool)
        readable = np.ones(len(truth), dtype=bool)
        if task == "infection" and config.infection_visible_translocation > 0:
            readable = ~_ambiguous_infection(truth, config.infection_visible_translocation)
        chosen, n_positive, n_negative = _draw_observations(
            is_positive, readable, n_total, config.positive_class_share, rng
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


def _draw_observations(
    is_positive: np.ndarray,
    readable: np.ndarray,
    n_total: int,
    positive_share: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int, int]:
    """Row indices of one task's annotations: ``positive_share`` of ``n_total`` from the readable
    positives, the rest from the readable negatives, each uniformly without replacement; a class that
    runs short is filled from the other. Returns the indices and the two counts."""
    positives = np.flatnonzero(is_positive & readable)
    negatives = np.flatnonzero(~is_positive & readable)
    n_positive = min(round(positive_share * n_total), positives.size)
    n_negative = min(n_total - n_positive, negatives.size)
    n_positive = min(n_total - n_negative, positives.size)  # refill from positives if negatives ran short
    chosen = np.concatenate(
        [
            rng.choice(positives, size=n_positive, replace=False),
            rng.choice(negatives, size=n_negative, replace=False),
        ]
    )
    return chosen, n_positive, n_negative


def lineage_division_states(tracks: pd.DataFrame, config: AnnotationConfig) -> pd.DataFrame:
    """Division state of every observation from the tracks' lineage alone (no images, no ground truth).

    A *mother* is a track some track of its FOV names as ``parent_track_id``. ``mitosis``: the last
    ``config.mitosis_frames`` frames of a mother (``t > last - mitosis_frames``), the frames before
    its daughters appear, as the simulator marks them. ``interphase``: at least
    ``config.interphase_margin_frames`` frames from its track's last frame (a track that ends without
    daughters may have divided unseen, e.g. out of the field or after the movie) and, for a daughter,
    from its first frame. Other observations are ambiguous.

    Returns:
        ``fov_name, track_id, t, y, x`` with booleans ``mitosis`` and ``readable`` (not ambiguous).
    """
    rows = tracks.loc[:, ["fov_name", "track_id", "t", "y", "x", "parent_track_id"]].reset_index(drop=True)
    frames = rows.groupby(["fov_name", "track_id"])["t"]
    first = frames.transform("min").to_numpy(dtype=np.int64)
    last = frames.transform("max").to_numpy(dtype=np.int64)
    mothers = set(
        zip(
            rows.loc[rows["parent_track_id"] >= 0, "fov_name"],
            rows.loc[rows["parent_track_id"] >= 0, "parent_track_id"].astype(int),
            strict=True,
        )
    )
    is_mother = np.array(
        [key in mothers for key in zip(rows["fov_name"], rows["track_id"].astype(int), strict=True)],
        dtype=bool,
    )
    t = rows["t"].to_numpy(dtype=np.int64)
    mitosis = is_mother & (t > last - config.mitosis_frames)
    margin = config.interphase_margin_frames
    is_daughter = rows["parent_track_id"].to_numpy() >= 0
    interphase = (~mitosis) & (last - t >= margin) & (~is_daughter | (t - first >= margin))
    return rows.drop(columns="parent_track_id").assign(mitosis=mitosis, readable=mitosis | interphase)


def check_lineage_classes(
    tracks: pd.DataFrame, config: AnnotationConfig, source: str | Path, *, trains_classifier: bool = True
) -> None:
    """Refuse tracks whose lineage gives one division class only (:func:`lineage_division_states`)
    where the dataset trains classifiers (``trains_classifier``: in the resolved
    ``analysis.classification.train_on``): tracks without a division (no track named as another's
    ``parent_track_id``: tracks imported without links, a movie too short for a cell cycle) give no
    ``mitosis`` observation, so the drawn annotations would all be ``interphase`` and no division
    classifier could be trained on them. Raised here, where the lineage is read, rather than by rule
    ``classify`` after training and embedding, with a message naming ``source`` (the tracks), the key
    and the counts. A dataset only scored (``apply_to``) may hold one class: logged at WARNING (the
    transferred classifiers' AUROC there is NaN, ``binary_metrics``), the annotations written.

    Raises:
        ValueError: ``trains_classifier`` and no readable ``mitosis`` or no readable ``interphase``
            observation.
    """
    states = lineage_division_states(tracks, config)
    readable = states["readable"].to_numpy(dtype=bool)
    mitosis = states["mitosis"].to_numpy(dtype=bool)
    counts = {"mitosis": int((mitosis & readable).sum()), "interphase": int((~mitosis & readable).sum())}
    missing = [label for label, count in counts.items() if count == 0]
    if not missing:
        return
    n_tracks = states.groupby(["fov_name", "track_id"]).ngroups
    linked = tracks[tracks["parent_track_id"] >= 0]
    n_mothers = len(linked[["fov_name", "parent_track_id"]].drop_duplicates())
    found = (
        f"{source}: annotations.division_from_lineage draws 'mitosis' and 'interphase' annotations from the "
        f"tracks' lineage; expected observations of both, found {counts['mitosis']} 'mitosis' and "
        f"{counts['interphase']} 'interphase' of {len(states):,} ({n_tracks:,} tracks, {n_mothers} of them "
        "mothers named by a daughter's parent_track_id, annotations.mitosis_frames "
        f"{config.mitosis_frames}, interphase_margin_frames {config.interphase_margin_frames})"
    )
    without = " or ".join(repr(m) for m in missing)
    if not trains_classifier:
        logger.warning(
            "%s; this dataset is only scored (not in analysis.classification.train_on): the transferred "
            "division classifiers' AUROC and other two-class scores are NaN there without %s cells",
            found,
            without,
        )
        return
    raise ValueError(
        f"{found}: no division classifier can be trained (analysis.classification.train_on holds this "
        f"dataset) without {without} cells; set the dataset's annotations.division_from_lineage to false, "
        "leave it out of analysis.classification.train_on (scored only), or give tracks with their divisions"
    )


def draw_lineage_annotations(tracks: pd.DataFrame, config: AnnotationConfig) -> pd.DataFrame:
    """Sparse ``division`` annotations from the lineage (:func:`lineage_division_states`), drawn as
    from ground truth: ``round(fraction_of_cells * N)`` observations, ``positive_class_share`` of them
    ``mitosis``, generator ``default_rng([config.seed, 0])``.

    Returns:
        DataFrame ``fov_name, track_id, t, y, x, task, label`` sorted by FOV, track, frame.
    """
    if not config.division_from_lineage:
        raise ValueError(
            "annotations.division_from_lineage is false: annotations are not drawn from the lineage"
        )
    states = lineage_division_states(tracks, config)
    n_total = max(2, round(config.fraction_of_cells * len(states)))
    is_positive = states["mitosis"].to_numpy(dtype=bool)
    chosen, n_positive, n_negative = _draw_observations(
        is_positive,
        states["readable"].to_numpy(dtype=bool),
        n_total,
        config.positive_class_share,
        np.random.default_rng([config.seed, 0]),
    )
    negative, positive = task_classes("division")
    annotations = states.loc[chosen, ["fov_name", "track_id", "t", "y", "x"]].assign(
        task="division", label=np.where(is_positive[chosen], positive, negative)
    )
    logger.info(
        "division from lineage: %d annotations (%d mitosis of %d, %d interphase) of %d cell observations",
        len(annotations),
        n_positive,
        int(is_positive.sum()),
        n_negative,
        len(states),
    )
    return annotations.sort_values(["fov_name", "track_id", "t"], ignore_index=True)[list(ANNOTATION_COLUMNS)]


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


class DrawAnnotationsInputs(StageFiles):
    """Rule ``draw_annotations``: the simulator's ground truth."""

    tracks: Path


class AnnotationsOutputs(StageFiles):
    """Rules ``draw_annotations`` and ``import_annotations``: the annotations table."""

    annotations: Path


def draw_annotations_stage(
    config: AnnotationConfig, inputs: DrawAnnotationsInputs, outputs: AnnotationsOutputs
) -> pd.DataFrame:
    """Read ground-truth tracks, draw annotations, write them (kind ``annotations``)."""
    truth, truth_prov = read_table(inputs.tracks, "ground_truth_tracks")
    drawn = draw_annotations(truth, config)
    return _write_drawn(drawn, config, (inputs.tracks, truth_prov), outputs, "draw_annotations")


def _write_drawn(
    annotations: pd.DataFrame,
    config: AnnotationConfig,
    source: tuple[Path, Provenance | None],
    outputs: AnnotationsOutputs,
    stage: str,
) -> pd.DataFrame:
    """Write drawn annotations (kind ``annotations``; provenance: the drawing config and ``source``,
    stage the rule ``stage`` that drew them)."""
    provenance = make_provenance(
        ArtifactKind.ANNOTATIONS,
        # frame_step: a table's only (unset here), left out as before the key existed
        config.model_dump(mode="json", exclude={"table", "frame_step"}),
        [source],
        stage=stage,
    )
    write_table(annotations, outputs.annotations, provenance)
    return annotations


class LineageAnnotationsInputs(StageFiles):
    """Rule ``annotate_divisions_from_lineage``: the dataset's tracks (kind ``tracks``)."""

    tracks: Path


def lineage_annotations_stage(
    config: AnnotationConfig,
    inputs: LineageAnnotationsInputs,
    outputs: AnnotationsOutputs,
    *,
    trains_classifier: bool = True,
) -> pd.DataFrame:
    """Read the dataset's tracks, draw division annotations from their lineage, write them (kind
    ``annotations``). ``trains_classifier``: the dataset is in the resolved
    ``analysis.classification.train_on`` (else only scored: one class is a WARNING).

    Raises:
        ValueError: ``trains_classifier`` and the lineage gives no readable ``mitosis`` or no
            readable ``interphase`` observation (:func:`check_lineage_classes`), naming the tracks
            and the key.
    """
    tracks, tracks_prov = read_table(
        inputs.tracks, ArtifactKind.TRACKS, ["fov_name", "track_id", "t", "y", "x", "parent_track_id"]
    )
    check_lineage_classes(tracks, config, inputs.tracks, trains_classifier=trains_classifier)
    annotations = draw_lineage_annotations(tracks, config)
    return _write_drawn(
        annotations, config, (inputs.tracks, tracks_prov), outputs, "annotate_divisions_from_lineage"
    )


DRAWING_RULES = ("draw_annotations", "annotate_divisions_from_lineage")


def annotations_drawn(provenance: Provenance) -> bool:
    """Whether an ``annotations`` artifact was drawn (its provenance's stage one of
    :data:`DRAWING_RULES`: labels from ground truth or a lineage) rather than imported from a user's
    table (rule ``import_annotations``)."""
    return provenance.stage in DRAWING_RULES


def read_annotations(path: str | Path) -> pd.DataFrame:
    """Read an ``annotations`` table (provenance and columns checked)."""
    table, _ = read_table(path, ArtifactKind.ANNOTATIONS, ANNOTATION_COLUMNS)
    return table
