"""The figure rules: one call per job, reading artifacts, drawing, writing the files the rule names.

* :func:`embedding_figures` (rule ``embedding_figures``, every (model, dataset)): each projection
  (PCA, UMAP, PHATE) coloured by time and condition, by predicted infection and division where the
  classifiers predict the dataset, by true ones on simulated data; and the adjacent- vs
  random-frame cosine distances (appendix C);
* :func:`infected_fraction_figure` (rule ``infected_fraction_figure``, simulated datasets with
  predictions): the infected fraction over time, counted from the classifier's calls and adjusted
  for its cross-validated error rates (:func:`~dynaclr.figures.curves.infected_fraction_over_time`),
  vs truth;
* :func:`pseudotime_figure` (rule ``pseudotime_figure``, simulated datasets): DTW pseudo-time vs
  the true time since onset;
* :func:`aligned_trajectories_figure` (rule ``aligned_trajectories_figure``, every (model, dataset)
  DTW aligns, a plate without ground truth too): the aligned trajectories (paper Fig 6: PCs along
  pseudo-time, a gallery of the best-aligned cells; :mod:`dynaclr.figures.trajectories`);
* :func:`feature_trajectories_stage` (rule ``feature_trajectories``, opt-in): engineered cell
  features along pseudo-time (paper Fig. 5: organelle remodelling;
  :mod:`dynaclr.figures.feature_trajectories`);
* :func:`results_table_stage` (rule ``results_table``): the model comparison (paper Tables 4-5);
* :func:`findings_stage` (rule ``findings``): the report's first page, the key numbers with a
  plain-language finding each (:mod:`dynaclr.figures.findings`).

Each figure is drawn by :mod:`dynaclr.figures.plots`, whose caption is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dynaclr.classify import read_predictions, truth_column
from dynaclr.config.analysis import ALIGNED_EVENT_NAMES, FiguresConfig, PseudotimeConfig
from dynaclr.config.patches import channel_index
from dynaclr.config.reasons import PLANNED_F1_REASONS
from dynaclr.embeddings import (
    attach_ground_truth,
    embeddings_identity,
    explained_variance_ratio,
    open_representation,
    projection_table,
    read_cells,
    read_embeddings_provenance,
    read_projections,
    streamed_principal_components,
    training_state,
    viewed_crop,
)
from dynaclr.evaluation.stage import TEMPORAL_COMPARISON_COLUMNS
from dynaclr.evaluation.temporal import INDEX_COLUMNS
from dynaclr.figures.curves import infected_fraction_over_time
from dynaclr.figures.explorer import explorer_data, explorer_html, select_tracks
from dynaclr.figures.feature_trajectories import (
    SUMMARY_COLUMNS,
    TRAJECTORY_COLUMNS,
    feature_frames,
    feature_trajectories,
    plot_feature_trajectories,
)
from dynaclr.figures.findings import (
    FINDINGS_COLUMNS,
    QC_OPTIONAL_COLUMNS,
    classifier_findings,
    dtw_findings,
    findings_rst,
    findings_table,
    image_findings,
    not_run_findings,
    run_findings,
    smoothness_findings,
    still_image_findings,
    training_findings,
    unlinked_movie_findings,
    virtual_stain_record_findings,
    virtual_stain_training_findings,
)
from dynaclr.figures.plots import (
    absent_states,
    not_computed_figure,
    plot_distance_distributions,
    plot_infected_fraction,
    plot_projections,
    plot_pseudotime_accuracy,
)
from dynaclr.figures.table import (
    PAIR_COLUMNS,
    partly_trained,
    plot_results_table,
    results_table,
    results_table_html,
    training_table,
)
from dynaclr.figures.trajectories import (
    CELL_KEYS,
    aligned_frames,
    plot_aligned_trajectories,
)
from dynaclr.io import ArtifactError, ArtifactKind, StageFiles, atomic_output, read_csv, read_table, write_csv
from dynaclr.io.figures import save_figure
from dynaclr.io.plate import read_fov_record
from dynaclr.numerics.crop import center_crop
from dynaclr.numerics.timescale import FrameClock
from dynaclr.patches.store import PatchRowReader, open_patch_store
from dynaclr.pseudotime.stage import never_reached_statement, read_dtw_accuracy
from dynaclr.qc.import_warnings import IMPORT_WARNING_COLUMNS
from dynaclr.qc.table import QC_COLUMNS
from dynaclr.tracking.importing import TRACKED_FRAMES
from dynaclr.virtual_stain.transfer import TRAINING_KEY as VIRTUAL_STAIN_TRAINING_KEY

logger = logging.getLogger(__name__)


class EmbeddingFiguresInputs(StageFiles):
    """Rule ``embedding_figures``: one embeddings store, its projections, and to colour cells by
    the ground truth (simulated datasets) and the classifiers' predictions (where classified)."""

    projections: Path
    embeddings: Path
    tracks: Path | None = None
    predictions: Path | None = None
    patches_zarr: Path | None = None
    patches_parquet: Path | None = None


class EmbeddingFiguresOutputs(StageFiles):
    """Rule ``embedding_figures``: two figures, each as PNG and SVG, and the explorer page."""

    projections_png: Path
    projections_svg: Path
    distances_png: Path
    distances_svg: Path
    explorer_html: Path | None = None


class InfectedFractionInputs(StageFiles):
    """Rule ``infected_fraction_figure``: the classifier's per-cell predictions and, on a simulated
    dataset, the ground truth."""

    predictions: Path
    tracks: Path | None = None


class InfectedFractionOutputs(StageFiles):
    """Rule ``infected_fraction_figure``: the figure (PNG and SVG) and the plotted curves."""

    infected_fraction_png: Path
    infected_fraction_svg: Path
    curves: Path


class PseudotimeFigureInputs(StageFiles):
    """Rule ``pseudotime_figure``: one (model, dataset)'s DTW pseudo-time and its accuracy table."""

    pseudotime: Path
    accuracy: Path


class PseudotimeFigureOutputs(StageFiles):
    """Rule ``pseudotime_figure``: the accuracy figure (PNG and SVG)."""

    pseudotime_png: Path
    pseudotime_svg: Path


class AlignedTrajectoriesInputs(StageFiles):
    """Rule ``aligned_trajectories_figure``: one (model, dataset)'s DTW pseudo-time, its embeddings
    and, for the gallery, the patch store they were computed from."""

    pseudotime: Path
    embeddings: Path
    patches_zarr: Path | None = None
    patches_parquet: Path | None = None


class AlignedTrajectoriesOutputs(StageFiles):
    """Rule ``aligned_trajectories_figure``: the aligned trajectories (PNG and SVG)."""

    trajectories_png: Path
    trajectories_svg: Path


class ResultsTableInputs(StageFiles):
    """Rule ``results_table``: the summary tables it merges (classification and DTW when run)."""

    temporal_metrics: Path | None = None
    classification: Path | None = None
    dtw_accuracy: Path | None = None
    #: every embeddings store of the table's rows: how far each model's training went (its provenance)
    embeddings: tuple[Path, ...] = ()


class ResultsTableOutputs(StageFiles):
    """Rule ``results_table``: the comparison as CSV, HTML and a drawn table (PNG and SVG)."""

    csv: Path
    html: Path
    png: Path
    svg: Path


def _save(figure: Figure, caption: str, *paths: Path) -> str:
    save_figure(figure, *paths)
    logger.info("Wrote %s: %s", ", ".join(map(str, paths)), caption)
    return caption


def _save_not_computed(label: str, what: str, reason: str, *figures: tuple[Path | None, Path | None]) -> str:
    """Save, for each ``(png, svg)`` of ``figures`` the rule writes, a figure saying in place of a plot
    that ``label``'s ``what`` was not computed and why; returns their caption
    ``<label>: <what> not computed: <reason>.``"""
    caption = f"{label}: {what} not computed: {reason}."
    for png, svg in figures:
        if png is not None and svg is not None:
            _save(not_computed_figure(label, reason), caption, png, svg)
    return caption


def _aligned_event(config: Mapping[str, Any]) -> str:
    """The event a pseudo-time table's record (``config``) says it aligned on, as the figures name
    it: ``division``, else ``infection onset``."""
    return ALIGNED_EVENT_NAMES["division" if config.get("event") == "division" else "infection"]


def _with_predicted_labels(cells: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with one column ``predicted_{task}`` (the predicted label, missing where a cell has
    none) per task of ``predictions``, joined on ``fov_name, track_id, t``."""
    keys = ["fov_name", "track_id", "t"]
    wide = predictions.pivot_table(index=keys, columns="task", values="predicted_label", aggfunc="first")
    wide.columns = [f"predicted_{task}" for task in wide.columns]
    return cells.merge(wide.reset_index(), on=keys, how="left", validate="many_to_one")


def embedding_figures(
    config: FiguresConfig,
    inputs: EmbeddingFiguresInputs,
    outputs: EmbeddingFiguresOutputs,
    *,
    model: str,
    dataset: str,
    conditions: Sequence[str] = (),
) -> list[str]:
    """Projections and distance distributions of one model's embeddings of one dataset.

    Every projection stored (PCA, UMAP, PHATE) is drawn, cells coloured by time and condition;
    with ``inputs.predictions`` also by each task's predicted label (``predicted_infection``,
    ``predicted_division``); with ``inputs.tracks`` (ground truth of a simulated dataset) by true
    infection and division, ground-truth cells finding their tracked cell as
    ``config.match_truth_on`` says (:func:`~dynaclr.embeddings.attach_ground_truth`). The
    distances use ``config.distances_representation`` and ``config.distances_seed``.

    The embeddings store is never read whole: the distances read its cells' ``fov_name, track_id,
    t`` (:func:`~dynaclr.embeddings.read_cells`) and its matrix a block of rows at a time
    (:func:`~dynaclr.embeddings.open_representation`; two passes, the temporal metrics' adjacent
    and random pairs code), the same values as the matrix in memory; the projections and the
    explorer page read the projections store (per-cell coordinates) and the patch store, never the
    features. What the job
    holds grows with the cells, not cells x features.

    ``conditions``: every condition of the run (the workflow's), which fix each condition's colour
    (:func:`~dynaclr.figures.plots.label_colors`).

    Returns:
        The two captions.
    """
    label = f"{model}, {dataset}"
    projections, _ = read_projections(inputs.projections)
    cells = projection_table(projections)
    if inputs.predictions is not None:
        cells = _with_predicted_labels(cells, read_predictions(inputs.predictions))
    if inputs.tracks is not None:
        truth, _ = read_table(inputs.tracks, "ground_truth_tracks")
        cells = attach_ground_truth(
            cells,
            truth,
            ("infected", "mitosis"),
            on=config.match_truth_on,
            max_distance_px=config.max_match_distance_px,
        )
    figure, caption = plot_projections(
        cells, title=label, variance_ratio=explained_variance_ratio(projections), conditions=conditions
    )
    captions = [_save(figure, caption, outputs.projections_png, outputs.projections_svg)]
    figure, caption = plot_distance_distributions(
        open_representation(inputs.embeddings, config.distances_representation),  # by blocks of rows
        read_cells(inputs.embeddings, INDEX_COLUMNS),
        seed=config.distances_seed,
        label=label,
    )
    captions.append(_save(figure, caption, outputs.distances_png, outputs.distances_svg))
    if outputs.explorer_html is not None:
        # no colour choice of a state the dataset does not have (all one colour), as in the figure
        shown = cells.drop(columns=absent_states(cells))
        _write_explorer(config, inputs, outputs.explorer_html, shown, projections, label)
    return captions


def _write_explorer(
    config: FiguresConfig,
    inputs: EmbeddingFiguresInputs,
    path: Path,
    cells: pd.DataFrame,
    projections: ad.AnnData,
    label: str,
) -> None:
    """The interactive explorer page (:mod:`dynaclr.figures.explorer`) of these cells."""
    if inputs.patches_zarr is None or inputs.patches_parquet is None or "row" not in cells.columns:
        raise ValueError(
            "the explorer needs the patch store the model embedded (patches_zarr, patches_parquet)"
        )
    store = open_patch_store(inputs.patches_zarr, inputs.patches_parquet)
    middle = store.array.shape[2] // 2
    channel = 0
    if config.explorer_channel is not None:
        try:
            channel = channel_index(store.channel_names, config.explorer_channel, "the patch store")
        except ValueError as err:
            raise ValueError(f"analysis.figures.explorer_channel: {err}") from None

    reader = PatchRowReader(inputs.patches_zarr)
    view = viewed_crop(inputs.embeddings, store)  # not the whole window

    def thumbnails(rows: np.ndarray) -> np.ndarray:
        return center_crop(reader.read(rows)[:, channel, middle], view.size_yx_px).astype(np.float32)

    shown = select_tracks(cells, config.explorer_max_cells, config.explorer_seed)
    variance = explained_variance_ratio(projections)
    axis_labels = {}
    if variance is not None and len(variance) >= 2:
        axis_labels["pca"] = f"PC1 {100 * variance[0]:.1f} % of the variance, PC2 {100 * variance[1]:.1f} %"
    data = explorer_data(
        shown,
        thumbnails,
        title=f"{label}: {len(shown)} of {len(cells)} cells, patches of {store.channel_names[channel]}",
        download_name=f"annotations_{label.replace(', ', '_')}.csv",
        axis_labels=axis_labels,
    )
    with atomic_output(path) as tmp:
        Path(tmp).write_text(explorer_html(data))
    logger.info("Wrote %s: the explorer of %d cells", path, len(shown))


def infected_fraction_figure(
    inputs: InfectedFractionInputs,
    outputs: InfectedFractionOutputs,
    *,
    model: str,
    dataset: str,
    conditions: Sequence[str] = (),
) -> str:
    """Infected fraction over time per condition: the classifier's (classify and count, and adjusted
    for its cross-validated error rates, ACC), beside the ground truth's on a simulated dataset
    (``inputs.tracks``), alone on a plate.

    ``outputs.curves`` holds the plotted curves
    (:func:`~dynaclr.figures.curves.infected_fraction_over_time` columns). The predictions are
    those of the dataset's own classifiers or of classifiers transferred from another dataset.
    ``conditions``: every condition of the run, which fix each condition's colour
    (:func:`~dynaclr.figures.plots.label_colors`).

    Returns:
        The caption.
    """
    task = "infection"
    truth = (
        None
        if inputs.tracks is None  # the task's column is required here, so a refusal names the file
        else read_table(inputs.tracks, "ground_truth_tracks", ("condition", "t", truth_column(task)))[0]
    )
    curves = infected_fraction_over_time(read_predictions(inputs.predictions), truth, task=task)
    write_csv(curves, outputs.curves)
    figure, caption = plot_infected_fraction(
        curves, label=f"{model}, {dataset}", conditions=conditions, task=task
    )
    return _save(figure, caption, outputs.infected_fraction_png, outputs.infected_fraction_svg)


def pseudotime_figure(
    inputs: PseudotimeFigureInputs,
    outputs: PseudotimeFigureOutputs,
    *,
    model: str,
    dataset: str,
    time_interval_minutes: float | None = None,
) -> str:
    """DTW pseudo-time against the true time since the event it aligned on (simulated data).

    ``time_interval_minutes``: the dataset's frame interval (rule ``params.time_interval_minutes``,
    the plate's, as the results table carries it): the figures give times in hours where it is
    known, else in frames, and say which.

    Returns:
        The caption.
    """
    pseudotime, provenance = read_table(inputs.pseudotime, ArtifactKind.PSEUDOTIME)
    accuracy = read_dtw_accuracy(inputs.accuracy)
    not_aligned = provenance.config.get("not_aligned")
    if not_aligned:  # nothing aligned (align_pseudotime logged why at WARNING): the figure says so
        return _save_not_computed(
            f"{model}, {dataset}",
            "DTW pseudo-time",
            not_aligned,
            (outputs.pseudotime_png, outputs.pseudotime_svg),
        )
    figure, caption = plot_pseudotime_accuracy(
        pseudotime,
        accuracy,
        label=f"{model}, {dataset}",
        event=_aligned_event(provenance.config),
        clock=FrameClock.of(time_interval_minutes),
    )
    return _save(figure, caption, outputs.pseudotime_png, outputs.pseudotime_svg)


def aligned_trajectories_figure(
    inputs: AlignedTrajectoriesInputs,
    outputs: AlignedTrajectoriesOutputs,
    *,
    model: str,
    dataset: str,
    time_interval_minutes: float | None = None,
) -> str:
    """The aligned trajectories (paper Fig 6) of any dataset DTW aligns: the first PCs of the
    embeddings along pseudo-time and a gallery of the best-aligned cells.

    Reads no ground truth: pseudo-time is the time since the reference's event, and the caption
    says what picked the reference (its provenance's ``state_source``: ground truth, the infection
    classifiers' predictions, the tracks' lineage) or that ``analysis.pseudotime.reference`` named
    it, and how many of the lineages drawn that state says never reach the event
    (``state_reaches_event``): their pseudo-time 0 is a match to the reference's onset, not an
    onset. A pseudo-time table with nothing aligned (``not_aligned``) gives a figure saying so.
    ``time_interval_minutes`` as :func:`pseudotime_figure`.

    Returns:
        The caption.
    """
    label = f"{model}, {dataset}"
    pseudotime, provenance = read_table(inputs.pseudotime, ArtifactKind.PSEUDOTIME)
    not_aligned = provenance.config.get("not_aligned")
    if not_aligned:  # nothing aligned (align_pseudotime logged why at WARNING): the figure says so
        return _save_not_computed(
            label, "DTW pseudo-time", not_aligned, (outputs.trajectories_png, outputs.trajectories_svg)
        )
    event = _aligned_event(provenance.config)
    figure, caption = _aligned_trajectories(
        inputs, pseudotime, event, label, FrameClock.of(time_interval_minutes)
    )
    state_source = str(provenance.config.get("state_source") or "")
    picked = state_source or "the track analysis.pseudotime.reference names"
    caption = f"{caption} Reference picked by: {picked}; no true {event} is drawn."
    caption += _never_reached_caption(pseudotime, event, state_source, "drawn all the same")
    return _save(figure, caption, outputs.trajectories_png, outputs.trajectories_svg)


def _never_reached_caption(pseudotime: pd.DataFrame, event: str, state_source: str, kept: str) -> str:
    """`` N of M aligned lineages never reach the <event> ... (<kept>; ...).`` for a pseudo-time
    table's lineages (reference excluded) whose own state never reaches the event
    (``state_reaches_event``, :func:`~dynaclr.pseudotime.stage.never_reached_statement`); nothing
    where none is known to, or the table was written before the column existed."""
    if "state_reaches_event" not in pseudotime.columns:
        return ""
    queries = pseudotime.drop_duplicates(["fov_name", "query_id"])
    never = never_reached_statement(
        queries[~queries["is_reference_series"].astype(bool)], event, state_source
    )
    if not never:
        return ""
    return f" {never[0].upper()}{never[1:]} ({kept}; state_reaches_event of dtw_accuracy.csv)."


def _aligned_trajectories(
    inputs: AlignedTrajectoriesInputs, pseudotime: pd.DataFrame, event: str, label: str, clock: FrameClock
) -> tuple[Figure, str]:
    """PCs of the embeddings along pseudo-time, with a gallery from the patch store when given.

    The embeddings store is never read whole: the cells' ``fov_name, track_id, t`` (and patch
    ``row``) through :func:`~dynaclr.embeddings.read_cells`, the features a block of rows at a time
    (:func:`~dynaclr.embeddings.open_representation`) for the exact PCA of
    :func:`~dynaclr.figures.trajectories.principal_components` (z-scored, scikit-learn's signs;
    :func:`~dynaclr.embeddings.blocks.streamed_principal_components`, to rounding). The job holds
    the cells and their first PCs, not cells x features.
    """
    blocks = open_representation(inputs.embeddings, "features")  # by blocks of rows, never whole
    n_components = min(3, *blocks.shape)
    # principal_components' PCA (z-scored, scikit-learn's signs), accumulated over the blocks
    components, variance = streamed_principal_components(blocks, n_components, standardize=True)
    try:
        cells = read_cells(inputs.embeddings, [*CELL_KEYS, "row"])
    except KeyError:  # no patch rows: no gallery
        cells = read_cells(inputs.embeddings, CELL_KEYS)
    for k in range(components.shape[1]):
        cells[f"pc{k + 1}"] = components[:, k]
    frames = aligned_frames(pseudotime, cells)
    thumbnails, described = None, "the central crop the model sees"
    if inputs.patches_zarr is not None and inputs.patches_parquet is not None and "row" in cells.columns:
        store = open_patch_store(inputs.patches_zarr, inputs.patches_parquet)
        middle = store.array.shape[2] // 2
        view = viewed_crop(inputs.embeddings, store)
        described = view.described

        def thumbnails(rows: np.ndarray) -> np.ndarray:
            order = np.argsort(rows)
            images = np.asarray(store.array.get_orthogonal_selection((rows[order], slice(None), middle)))
            return center_crop(images[np.argsort(order)], view.size_yx_px)

    return plot_aligned_trajectories(
        frames, variance, thumbnails, event=event, label=label, clock=clock, view=described
    )


def results_table_stage(
    inputs: ResultsTableInputs,
    outputs: ResultsTableOutputs,
    *,
    pairs: list[dict[str, str]] | None = None,
    tasks: Sequence[str] | None = None,
    event: str = "infection",
) -> pd.DataFrame:
    """The model comparison (paper Tables 4-5) as CSV, HTML table and a drawn table (its caption
    naming ``event``, rule ``params.event``: ``analysis.pseudotime.event``, what the DTW rows aligned).

    The CSV holds the numeric table (columns of :func:`~dynaclr.figures.table.results_table`);
    the classification and DTW columns come from the inputs that are given, the training columns
    (``stopped_by_time``, ``epochs_completed``, ``epochs``) from the embeddings stores' provenance
    (``inputs.embeddings``; a model its ``max_minutes`` budget stopped is logged at WARNING). ``pairs`` (rule
    ``params.pairs``): per (model, dataset) its ``distribution``, ``trained_on``, the dataset's
    ``time_interval_minutes`` (frame interval), ``transfers_skipped`` and ``temporal_not_computed``
    (``one time point`` for still images, which have no temporal metrics input: the reason of every
    column over time; a key left out is NaN; a movie's reasons found at run time come from
    ``temporal_metrics.csv``'s ``not_computed``, each in the columns of its definition). ``tasks``
    (rule ``params.tasks``, ``analysis.classification.tasks``) and the plan's ``f1_not_computed`` and
    ``f1_<task>_transferred_not_computed`` (``pairs``; :func:`~dynaclr.config.reasons.planned_f1_reasons`):
    why each empty F1 is empty (``f1_<task>[_transferred]_not_computed``).

    Returns:
        The numeric table.
    """
    temporal_metrics, classification, dtw_accuracy = (
        inputs.temporal_metrics,
        inputs.classification,
        inputs.dtw_accuracy,
    )
    table = results_table(
        temporal_metrics=None
        if temporal_metrics is None
        else read_csv(temporal_metrics, ("model", "dataset")),
        classification=None if classification is None else read_csv(classification, ("task",)),
        dtw_accuracy=None if dtw_accuracy is None else read_dtw_accuracy(dtw_accuracy),
        pairs=None
        if pairs is None
        else pd.DataFrame(pairs, columns=["model", "dataset", *PAIR_COLUMNS, *PLANNED_F1_REASONS]),
        tasks=tasks,
        training=_training_states(inputs.embeddings) if inputs.embeddings else None,
    )
    for row in table[partly_trained(table)].drop_duplicates("model").itertuples(index=False):
        logger.warning(
            "model %s: its max_minutes budget stopped its training after %s of %s epochs; the results "
            "table marks its rows (stopped_by_time)",
            row.model,
            row.epochs_completed,
            row.epochs,
        )
    write_csv(table, outputs.csv)
    with atomic_output(outputs.html) as tmp:
        Path(tmp).write_text(results_table_html(table) + "\n")
    figure, caption = plot_results_table(
        table, event=event, dtw_accuracy=dtw_accuracy if dtw_accuracy is not None else "dtw_accuracy.csv"
    )
    _save(figure, caption, outputs.png, outputs.svg)
    return table


def _training_states(stores: Sequence[Path]) -> pd.DataFrame:
    """:func:`~dynaclr.figures.table.training_table` of the embeddings ``stores``: each one's model
    and dataset and the training state it records (its provenance; none: a baseline, or a store
    embedded before it was recorded, read as not known)."""
    states = []
    for store in stores:
        provenance = read_embeddings_provenance(store)
        model, dataset = embeddings_identity(store)
        states.append((model, dataset, training_state(provenance)))
    return training_table(states)


class FindingsInputs(StageFiles):
    """Rule ``findings``: the run's evaluation tables (those the config runs)."""

    results_table: Path | None = None
    temporal_comparison: Path | None = None
    dtw_accuracy: Path | None = None
    qc: tuple[Path, ...] = ()
    #: per dataset that imports tracks or annotations, the warnings its imports recorded (rule qc_table)
    import_warnings: tuple[Path, ...] = ()
    phase: tuple[Path, ...] = ()
    virtual_stain: tuple[Path, ...] = ()
    tracking: tuple[Path, ...] = ()
    #: each ``tracking`` CSV's record (``tracking.json``, same order): the frames scored where the
    #: imported tracks cover part of the movie
    tracking_records: tuple[Path, ...] = ()
    #: per dataset without ground truth that virtually stains (no ``virtual_stain`` table), one FOV's
    #: prediction record (``records/virtual_stain/...json``, its first FOV's): the model's training
    #: state (``training``), the same in every FOV's record, whether its max_minutes budget stopped it
    virtual_stain_records: tuple[Path, ...] = ()


class FindingsOutputs(StageFiles):
    """Rule ``findings``: the first page (reStructuredText for the report) and the same as CSV."""

    rst: Path
    csv: Path


#: The columns ``findings_stage`` needs from each per-dataset table.
_PER_DATASET_COLUMNS: dict[str, tuple[str, ...]] = {
    # the frame lists read where they exist (an older qc.csv lacks frames_without_signal)
    "qc": tuple(c for c in QC_COLUMNS if c not in QC_OPTIONAL_COLUMNS and c != "missing_share"),
    "import_warnings": IMPORT_WARNING_COLUMNS,
    "phase": ("fov_name", "pearson_r"),
    "virtual_stain": ("fov_name", "held_out", "pearson_r"),
    "tracking": ("fov_name", "det", "tra", "division_precision", "division_recall", "n_reference_divisions"),
}


def read_temporal_comparison(path: Path) -> pd.DataFrame:
    """``temporal_comparison.csv`` (rule ``temporal_metrics``) with the level of its intervals.

    Raises:
        ArtifactError: a column is missing; a table without ``confidence`` (written before the
            intervals' level was recorded) is refused with the rule to rerun, not read at an assumed
            95 %.
    """
    table = read_csv(path, [column for column in TEMPORAL_COMPARISON_COLUMNS if column != "confidence"])
    if "confidence" not in table.columns:
        raise ArtifactError(
            f"{path}: no 'confidence' column (the level of each difference's interval; the table was "
            "written before rule temporal_metrics recorded it); rerun `snakemake --forcerun temporal_metrics`"
        )
    return table


def _virtual_stain_training_states(
    records: Sequence[Path], names: Sequence[str], evaluated: Mapping[str, Any]
) -> dict[str, Any]:
    """Per dataset of ``names``, the virtual-staining model's training state as its prediction record
    in ``records`` (same order; one FOV's) holds it: the record's metrics' ``training``, ``None`` where
    it holds none (a record of an older dynaclr). The datasets of ``evaluated`` (a ``virtual_stain.csv``,
    whose rows state it) are left out.

    Raises:
        ValueError: not one dataset name per record.
        ArtifactError: a record that is not a virtual-staining prediction record.
    """
    if len(names) != len(records):
        raise ValueError(
            f"findings: {len(records)} virtual-staining prediction record(s) but {len(names)} dataset "
            "name(s) in sources['virtual_stain_records']"
        )
    return {
        name: read_fov_record(path, ArtifactKind.VIRTUAL_STAIN_FOV)[1].get(VIRTUAL_STAIN_TRAINING_KEY)
        for name, path in zip(names, records, strict=True)
        if name not in evaluated
    }


def findings_stage(
    inputs: FindingsInputs,
    outputs: FindingsOutputs,
    *,
    datasets: dict[str, str],
    models: dict[str, str],
    sources: dict[str, list[str]],
    samplings: dict[str, str] | None = None,
    still: list[str] | None = None,
    unscored: Mapping[str, list[str]] | None = None,
    imported_tracks: list[str] | None = None,
    classification_confidence: float = 0.95,
    event: str = "infection",
    not_run: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The report's first page: what was run on what and the key numbers, each with a finding.

    Args:
        datasets: per dataset, a few words on what it is (its source).
        models: per model, a few words on how it was made.
        sources: per per-dataset input (``qc``, ``import_warnings``, ``phase``, ``virtual_stain``,
            ``tracking``, ``virtual_stain_records``), the dataset of each of its files, in order.
        samplings: per model the workflow trains, its ``training.sampling``: the time-aware vs
            classical pairs are the smoothness comparisons the page states (the others: the best
            model's line and ``temporal_comparison.csv``).
        still: the embedded datasets of one time point (no temporal metrics nor DTW: "not computed").
        unscored: per dataset without ground truth, the image stages it ran (keys of
            :data:`~dynaclr.figures.findings.UNSCORED_STAGES`: ``phase``, ``virtual_stain``,
            ``tracking``, ``imported_tracks``): a line saying they ran, "not scored".
        imported_tracks: the datasets of imported tracks (those scored say so on their tracking line).
        classification_confidence: the level of the classifiers' F1 intervals
            (``analysis.classification.confidence``; the smoothness intervals carry theirs).
        event: what the DTW pseudo-time aligns lineages on (``analysis.pseudotime.event``).
        not_run: per analysis the plan runs on no dataset (``infection classifier``, ``pseudo-time``),
            why (:meth:`~dynaclr.config.workflow.WorkflowConfig.infection_unclassified`,
            :meth:`~dynaclr.config.workflow.WorkflowConfig.dtw_not_run`): a line each
            (:func:`~dynaclr.figures.findings.not_run_findings`); empty reasons are skipped.

    Returns:
        The findings table (:data:`~dynaclr.figures.findings.FINDINGS_COLUMNS`).
    """
    per_dataset: dict[str, dict[str, pd.DataFrame]] = {}
    for kind, columns in _PER_DATASET_COLUMNS.items():
        paths = getattr(inputs, kind)
        names = sources.get(kind, [])
        if len(names) != len(paths):
            raise ValueError(
                f"findings: {len(paths)} {kind} file(s) but {len(names)} dataset name(s) in sources[{kind!r}]"
            )
        per_dataset[kind] = {name: read_csv(path, columns) for name, path in zip(names, paths, strict=True)}
    rows = run_findings(datasets, models, per_dataset["qc"], per_dataset["import_warnings"])
    if inputs.tracking_records and len(inputs.tracking_records) != len(inputs.tracking):
        raise ValueError(
            f"findings: {len(inputs.tracking)} tracking file(s) but {len(inputs.tracking_records)} "
            "tracking record(s): expected one record per tracking.csv, in the same order"
        )
    scored_frames = {
        name: read_fov_record(path, ArtifactKind.TRACKING_EVALUATION)[1].get(TRACKED_FRAMES) or {}
        for name, path in zip(sources.get("tracking", []), inputs.tracking_records, strict=False)
    }
    rows += image_findings(
        per_dataset["phase"],
        per_dataset["virtual_stain"],
        per_dataset["tracking"],
        unscored=unscored or {},
        imported_tracks=imported_tracks or [],
        scored_frames=scored_frames,
    )
    rows += virtual_stain_training_findings(per_dataset["virtual_stain"])
    recorded = sources.get("virtual_stain_records", [])
    states = _virtual_stain_training_states(
        inputs.virtual_stain_records, recorded, per_dataset["virtual_stain"]
    )
    rows += virtual_stain_record_findings(states)
    rows += still_image_findings(still or [])
    rows += not_run_findings(not_run or {})
    if inputs.temporal_comparison is not None:
        rows += smoothness_findings(read_temporal_comparison(inputs.temporal_comparison), samplings=samplings)
    intervals: dict[str, float | None] = {}
    if inputs.results_table is not None:
        results = read_csv(inputs.results_table, ("model", "dataset"))
        rows += training_findings(results)
        rows += unlinked_movie_findings(results)
        rows += classifier_findings(results, confidence=classification_confidence)
        if "time_interval_minutes" in results.columns:
            intervals = results.groupby("dataset", sort=False)["time_interval_minutes"].first().to_dict()
    if inputs.dtw_accuracy is not None:
        rows += dtw_findings(read_dtw_accuracy(inputs.dtw_accuracy), event=event, intervals_minutes=intervals)
    table = findings_table(rows)
    write_csv(table[list(FINDINGS_COLUMNS)], outputs.csv)
    with atomic_output(outputs.rst) as tmp:
        Path(tmp).write_text(findings_rst(table) + "\n")
    logger.info("Wrote %s and %s: %d findings", outputs.rst, outputs.csv, len(table))
    return table


class FeatureTrajectoriesInputs(StageFiles):
    """Rule ``feature_trajectories``: one (model, dataset)'s DTW pseudo-time, the cell features of
    its patch spec, the patch index (cell positions) and, on a simulated dataset, the ground truth."""

    pseudotime: Path
    features: Path
    patches_parquet: Path
    tracks: Path | None = None


class FeatureTrajectoriesOutputs(StageFiles):
    """Rule ``feature_trajectories``: the binned trajectories, the summary and the figure."""

    trajectory: Path
    summary: Path
    png: Path
    svg: Path


#: The keys of ``analysis.pseudotime`` saying how align_pseudotime matched ground-truth cells to
#: tracked cells, read back from its provenance by :func:`feature_trajectories_stage`.
_TRUTH_MATCHING_KEYS = ("match_truth_on", "max_match_distance_px")


def _pseudotime_truth_matching(path: Path, recorded: Mapping[str, Any]) -> PseudotimeConfig:
    """How the DTW pseudo-time at ``path`` matched the ground truth to the tracked cells (its
    provenance's ``match_truth_on`` and ``max_match_distance_px``, ``recorded``): analysis.pseudotime's,
    whose radius left at its default is refused before any job runs on a plate of other pixel size
    (:func:`dynaclr.config.plate_checks.workflow_problems`). The feature trajectories draw the ground
    truth of the same cells, so they match it the same way rather than with a radius of their own."""
    missing = [key for key in _TRUTH_MATCHING_KEYS if key not in recorded]
    if missing:
        raise ArtifactError(
            f"{path}: its provenance config lacks {missing} (expected align_pseudotime's ground-truth "
            f"matching, found keys {sorted(recorded)}); rerun `snakemake --forcerun align_pseudotime`"
        )
    return PseudotimeConfig.model_validate({key: recorded[key] for key in _TRUTH_MATCHING_KEYS})


def feature_trajectories_stage(
    inputs: FeatureTrajectoriesInputs,
    outputs: FeatureTrajectoriesOutputs,
    *,
    features: list[str],
    truth_columns: list[str],
    model: str,
    dataset: str,
    seed: int = 0,
    time_interval_minutes: float | None = None,
) -> pd.DataFrame:
    """Engineered features (and ground-truth columns) along pseudo-time (paper Fig. 5), drawn and
    summarised (:mod:`dynaclr.figures.feature_trajectories`).

    Args:
        features: cell-feature columns to follow; those the features table lacks (another patch
            spec's channels) are left out with a WARNING, and none present is an error.
        truth_columns: ground-truth columns drawn beside them (with ``inputs.tracks``), ground-truth
            cells matched to tracked cells as the pseudo-time's provenance says align_pseudotime
            matched them (analysis.pseudotime's ``match_truth_on``, ``max_match_distance_px``).
        time_interval_minutes: the dataset's frame interval (as :func:`pseudotime_figure`): the
            figure's pseudo-time in hours where it is known, else in frames.

    Returns:
        The summary (:data:`~dynaclr.figures.feature_trajectories.SUMMARY_COLUMNS`).
    """
    pseudotime, provenance = read_table(inputs.pseudotime, ArtifactKind.PSEUDOTIME)
    table, _ = read_table(inputs.features, ArtifactKind.CELL_FEATURES, CELL_KEYS)
    present = [name for name in features if name in table.columns]
    absent = [name for name in features if name not in table.columns]
    if not present:
        raise ValueError(
            f"{inputs.features}: none of the features {features} is a column; its features are "
            f"{[c for c in table.columns if c not in CELL_KEYS]}"
        )
    if absent:
        logger.warning("%s: no columns %s (other channels); following %s", inputs.features, absent, present)
    not_aligned = provenance.config.get("not_aligned")
    if not_aligned:  # align_pseudotime aligned nothing (known at run time): the outputs say so
        logger.warning(
            "Feature trajectories of dataset %r (model %r) not computed: DTW pseudo-time not computed: %s",
            dataset,
            model,
            not_aligned,
        )
        write_csv(pd.DataFrame(columns=list(TRAJECTORY_COLUMNS)), outputs.trajectory)
        summary = pd.DataFrame(columns=list(SUMMARY_COLUMNS))
        write_csv(summary, outputs.summary)
        _save_not_computed(
            f"{model}, {dataset}",
            "feature trajectories",
            f"DTW pseudo-time not computed: {not_aligned}",
            (outputs.png, outputs.svg),
        )
        return summary
    cells = table.loc[:, [*CELL_KEYS, *present]]
    sources = dict.fromkeys(present, "cell features")
    if inputs.tracks is not None and truth_columns:
        index, _ = read_table(inputs.patches_parquet, ArtifactKind.PATCH_INDEX, (*CELL_KEYS, "y", "x"))
        positioned = cells.merge(index.loc[:, [*CELL_KEYS, "y", "x"]], on=CELL_KEYS, how="left")
        truth, _ = read_table(inputs.tracks, ArtifactKind.GROUND_TRUTH_TRACKS, ("fov_name", "t", "y", "x"))
        matching = _pseudotime_truth_matching(inputs.pseudotime, provenance.config)
        cells = attach_ground_truth(
            positioned,
            truth,
            truth_columns,
            on=matching.match_truth_on,
            max_distance_px=matching.max_match_distance_px,
        ).drop(columns=["y", "x"])
        sources.update(dict.fromkeys(truth_columns, "ground truth"))
    columns = list(sources)
    frames = feature_frames(pseudotime, cells, columns)
    if frames.empty:
        raise ValueError(
            f"{inputs.pseudotime}: no aligned frame matches a cell of {inputs.features}; rerun "
            "`snakemake --forcerun cell_features` if the patch store changed"
        )
    trajectory, summary = feature_trajectories(
        frames, columns, sources, model=model, dataset=dataset, seed=seed
    )
    write_csv(trajectory, outputs.trajectory)
    write_csv(summary, outputs.summary)
    event = _aligned_event(provenance.config)
    figure, caption = plot_feature_trajectories(
        trajectory,
        summary,
        event=event,
        label=f"{model}, {dataset}",
        clock=FrameClock.of(time_interval_minutes),
    )
    caption += _never_reached_caption(
        pseudotime,
        event,
        str(provenance.config.get("state_source") or ""),
        "their changes across the event are in the means and the per-lineage changes all the same",
    )
    _save(figure, caption, outputs.png, outputs.svg)
    return summary
