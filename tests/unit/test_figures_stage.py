"""Report rules: per-(model, dataset) figures from the workflow's artifacts, the pseudo-time gather
and the model comparison table, chained on planted embeddings with known ground truth."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dynaclr.figures.stage as figures_stage
from dynaclr.classify import (
    AnnotationsOutputs,
    ClassificationIntervalsInputs,
    ClassificationIntervalsOutputs,
    ClassifyInputs,
    ClassifyOutputs,
    CollectClassificationInputs,
    CollectClassificationOutputs,
    DrawAnnotationsInputs,
    classification_intervals_stage,
    classify_stage,
    collect_classification,
    draw_annotations_stage,
)
from dynaclr.config.analysis import (
    AnnotationConfig,
    ClassificationConfig,
    FiguresConfig,
    PseudotimeConfig,
    TemporalMetricsConfig,
)
from dynaclr.config.embeddings import ProjectionConfig
from dynaclr.embeddings import build_anndata, cell_table, read_embeddings, write_embeddings
from dynaclr.embeddings.projections import ProjectionInputs, ProjectionOutputs, projection_stage
from dynaclr.evaluation.stage import TemporalMetricsInputs, TemporalMetricsOutputs, temporal_metrics_stage
from dynaclr.figures.curves import FRACTION_COLUMNS, MIN_ADJUSTMENT_SEPARATION
from dynaclr.figures.stage import (
    AlignedTrajectoriesInputs,
    AlignedTrajectoriesOutputs,
    EmbeddingFiguresInputs,
    EmbeddingFiguresOutputs,
    InfectedFractionInputs,
    InfectedFractionOutputs,
    PseudotimeFigureInputs,
    PseudotimeFigureOutputs,
    ResultsTableInputs,
    ResultsTableOutputs,
    aligned_trajectories_figure,
    embedding_figures,
    infected_fraction_figure,
    pseudotime_figure,
    results_table_stage,
)
from dynaclr.figures.trajectories import (
    aligned_frames,
    gallery_picks,
    plot_aligned_trajectories,
    principal_components,
)
from dynaclr.io import ArtifactError, ArtifactKind, make_provenance, read_table, write_table
from dynaclr.pseudotime.collect import CollectPseudotimeInputs, CollectPseudotimeOutputs, collect_pseudotime
from dynaclr.pseudotime.stage import (
    DTW_ACCURACY_COLUMNS,
    AlignPseudotimeInputs,
    AlignPseudotimeOutputs,
    pseudotime_stage,
)
from dynaclr.pseudotime.synthetic import planted_infection_embeddings

INDEX_COLUMNS = ["fov_name", "well", "condition", "track_id", "parent_track_id", "lineage_id", "t", "y", "x"]
MODELS = ("planted", "noise")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Ground truth, and for two models (planted signal, pure noise) embeddings and their analyses."""
    root = tmp_path_factory.mktemp("figures_stage")
    features, truth = planted_infection_embeddings(
        n_fovs=4, tracks_per_fov=8, n_frames=20, noise=0.08, seed=3
    )
    paths: dict[str, Path] = {"truth": root / "ground_truth" / "tracks.parquet", "root": root}
    write_table(truth, paths["truth"], make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}, []))
    draw_annotations_stage(
        AnnotationConfig(seed=0),
        DrawAnnotationsInputs(tracks=paths["truth"]),
        AnnotationsOutputs(annotations=root / "annotations.parquet"),
    )
    noise = np.random.default_rng(0).normal(size=features.shape).astype(np.float32)
    for model, matrix in zip(MODELS, (features, noise), strict=True):
        identity = {"model": model, "dataset": "demo"}
        embeddings = root / "embeddings" / model / "demo.zarr"
        write_embeddings(
            build_anndata(matrix, truth[INDEX_COLUMNS], info=identity),
            embeddings,
            make_provenance(ArtifactKind.EMBEDDINGS, identity, []),
        )
        paths[f"{model}/embeddings"] = embeddings
        paths[f"{model}/projections"] = root / "embeddings" / model / "demo.projections.zarr"
        projection_stage(
            ProjectionConfig(),
            ProjectionInputs(embeddings=embeddings),
            ProjectionOutputs(projections=paths[f"{model}/projections"]),
        )
        for kind in ("scores", "metrics", "predictions", "classifiers"):
            paths[f"{model}/{kind}"] = (
                root / kind / model / ("demo.json" if kind == "classifiers" else "demo.parquet")
            )
        classification = ClassificationConfig(match_annotations_on="track", n_bootstrap=0)
        classify_stage(
            classification,
            ClassifyInputs(embeddings=embeddings, annotations=root / "annotations.parquet"),
            ClassifyOutputs(
                scores=paths[f"{model}/scores"],
                predictions=paths[f"{model}/predictions"],
                classifiers=paths[f"{model}/classifiers"],
            ),
            **identity,
        )
        classification_intervals_stage(
            classification,
            ClassificationIntervalsInputs(
                scores=paths[f"{model}/scores"], predictions=paths[f"{model}/predictions"]
            ),
            ClassificationIntervalsOutputs(metrics=paths[f"{model}/metrics"]),
        )
        paths[f"{model}/pseudotime"] = root / "pseudotime" / model / "demo.parquet"
        paths[f"{model}/accuracy"] = root / "dtw_accuracy" / model / "demo.csv"
        pseudotime_stage(
            PseudotimeConfig(match_truth_on="track"),
            AlignPseudotimeInputs(embeddings=embeddings, tracks=paths["truth"]),
            AlignPseudotimeOutputs(
                pseudotime=paths[f"{model}/pseudotime"], accuracy=paths[f"{model}/accuracy"]
            ),
            **identity,
        )
    return paths


def _written(png: Path, svg: Path) -> None:
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:400]


def _embedding_figures(
    artifacts: dict[str, Path],
    out: Path,
    with_truth: bool = True,
    model: str = "planted",
    with_predictions: bool = False,
) -> tuple[list[str], EmbeddingFiguresOutputs]:
    """Rule ``embedding_figures`` of ``model`` on the demo dataset, figures under ``out``."""
    outputs = EmbeddingFiguresOutputs(
        projections_png=out / "projections.png",
        projections_svg=out / "projections.svg",
        distances_png=out / "distances.png",
        distances_svg=out / "distances.svg",
    )
    captions = embedding_figures(
        FiguresConfig(match_truth_on="track"),
        EmbeddingFiguresInputs(
            projections=artifacts[f"{model}/projections"],
            embeddings=artifacts[f"{model}/embeddings"],
            tracks=artifacts["truth"] if with_truth else None,
            predictions=artifacts[f"{model}/predictions"] if with_predictions else None,
        ),
        outputs,
        model=model,
        dataset="demo",
    )
    return captions, outputs


def _infected_fraction(artifacts: dict[str, Path], out: Path, model: str = "planted"):
    """Rule ``infected_fraction_figure`` of ``model`` on the demo dataset, files under ``out``."""
    outputs = InfectedFractionOutputs(
        infected_fraction_png=out / "infected_fraction.png",
        infected_fraction_svg=out / "infected_fraction.svg",
        curves=out / "curves.csv",
    )
    inputs = InfectedFractionInputs(predictions=artifacts[f"{model}/predictions"], tracks=artifacts["truth"])
    return infected_fraction_figure(inputs, outputs, model=model, dataset="demo"), outputs


def _pseudotime(
    artifacts: dict[str, Path],
    out: Path,
    model: str = "planted",
    time_interval_minutes: float | None = None,
):
    """Rule ``pseudotime_figure`` of ``model`` on the demo dataset, files under ``out``."""
    outputs = PseudotimeFigureOutputs(
        pseudotime_png=out / "pseudotime.png", pseudotime_svg=out / "pseudotime.svg"
    )
    inputs = PseudotimeFigureInputs(
        pseudotime=artifacts[f"{model}/pseudotime"], accuracy=artifacts[f"{model}/accuracy"]
    )
    caption = pseudotime_figure(
        inputs, outputs, model=model, dataset="demo", time_interval_minutes=time_interval_minutes
    )
    return caption, outputs


def _trajectories(
    artifacts: dict[str, Path],
    out: Path,
    model: str = "planted",
    time_interval_minutes: float | None = None,
    pseudotime: Path | None = None,
):
    """Rule ``aligned_trajectories_figure`` of ``model`` on the demo dataset, files under ``out``;
    ``pseudotime``: another pseudo-time table than the one aligned on the ground truth."""
    outputs = AlignedTrajectoriesOutputs(
        trajectories_png=out / "aligned_trajectories.png",
        trajectories_svg=out / "aligned_trajectories.svg",
    )
    inputs = AlignedTrajectoriesInputs(
        pseudotime=pseudotime or artifacts[f"{model}/pseudotime"], embeddings=artifacts[f"{model}/embeddings"]
    )
    caption = aligned_trajectories_figure(
        inputs, outputs, model=model, dataset="demo", time_interval_minutes=time_interval_minutes
    )
    return caption, outputs


def _temporal_metrics(artifacts: dict[str, Path], out: Path, models=MODELS) -> pd.DataFrame:
    return temporal_metrics_stage(
        TemporalMetricsConfig(n_bootstrap=0),
        TemporalMetricsInputs(embeddings=[artifacts[f"{m}/embeddings"] for m in models]),
        TemporalMetricsOutputs(metrics=out / "temporal.csv", comparison=out / "temporal_comparison.csv"),
    )


def _collect_pseudotime(artifacts: dict[str, Path], out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return collect_pseudotime(
        CollectPseudotimeInputs(
            pseudotime=[artifacts[f"{m}/pseudotime"] for m in MODELS],
            accuracy=[artifacts[f"{m}/accuracy"] for m in MODELS],
        ),
        CollectPseudotimeOutputs(pseudotime=out / "pseudotime.parquet", accuracy=out / "dtw_accuracy.csv"),
    )


def test_projections_figure_colours_by_ground_truth(artifacts, tmp_path):
    truth = read_table(artifacts["truth"], "ground_truth_tracks")[0]
    (caption, _), outputs = _embedding_figures(artifacts, tmp_path / "demo" / "planted")
    _written(outputs.projections_png, outputs.projections_svg)
    assert caption.startswith("planted, demo: projections (PC) of 640 cell embeddings")
    assert f"{int(truth['infected'].sum())} of 640 cells infected" in caption
    (time_only, _), _ = _embedding_figures(artifacts, tmp_path / "time_only", with_truth=False)
    assert "coloured by time, condition." in time_only and "cells infected" not in time_only


def test_projections_figure_colours_by_predicted_state(artifacts, tmp_path):
    (caption, _), _ = _embedding_figures(
        artifacts, tmp_path / "predicted", with_truth=False, with_predictions=True
    )
    assert "coloured by time, condition, predicted infection, predicted division." in caption


def test_distances_figure_matches_the_temporal_metrics(artifacts, tmp_path):
    table = _temporal_metrics(artifacts, tmp_path, models=("planted",))
    table = table[table["definition"] == "track_pairs"].reset_index(drop=True)  # what the figure draws
    (_, caption), outputs = _embedding_figures(artifacts, tmp_path / "figures")
    _written(outputs.distances_png, outputs.distances_svg)
    assert f"smoothness (mean adjacent / mean random) {table.loc[0, 'smoothness']:.3f}" in caption
    # The figure's KDE is exact, the table's binned (for the bootstrap): peaks agree to a grid step or two.
    shown = float(caption.split("Dynamic range (peak difference) ")[1].split(",")[0])
    assert shown == pytest.approx(table.loc[0, "dynamic_range"], abs=0.005)


def test_infected_fraction_figure_writes_the_curves(artifacts, tmp_path):
    caption, outputs = _infected_fraction(artifacts, tmp_path)
    _written(outputs.infected_fraction_png, outputs.infected_fraction_svg)
    curves = pd.read_csv(outputs.curves)
    assert set(curves["condition"]) == {"mock", "infected"} and len(curves) == 2 * 20
    mock = curves[curves["condition"] == "mock"]
    assert (mock["true_fraction"] == 0).all()
    infected = curves[curves["condition"] == "infected"]
    assert np.abs(infected["predicted_fraction"] - infected["true_fraction"]).mean() < 0.15
    assert "mock" in caption and "infected" in caption
    assert list(curves.columns) == list(FRACTION_COLUMNS)
    assert curves["adjustment_note"].isna().all()  # written empty: adjusted, drawn beside the counted one
    assert np.abs(infected["adjusted_fraction"] - infected["true_fraction"]).mean() < 0.15
    assert "adjusted (ACC)" in caption


def test_infected_fraction_figure_names_its_task_to_the_plot_not_through_attrs(
    artifacts, tmp_path, monkeypatch
):
    """The figure drew the curves' task from ``curves.attrs["task"]`` only, which a pandas operation
    may drop (attrs are experimental): the stage passes its task to the plot itself."""
    computed = figures_stage.infected_fraction_over_time

    def without_attrs(*args, **kwargs):
        curves = computed(*args, **kwargs)
        curves.attrs.clear()
        return curves

    monkeypatch.setattr(figures_stage, "infected_fraction_over_time", without_attrs)
    caption, outputs = _infected_fraction(artifacts, tmp_path)
    _written(outputs.infected_fraction_png, outputs.infected_fraction_svg)
    assert "infected" in caption


def test_infected_fraction_figure_of_a_classifier_that_does_not_separate_keeps_the_count(
    artifacts, tmp_path, caplog
):
    """Embeddings of noise: the cross-validated TPR - FPR is near 0, dividing by it would blow the
    counted fraction's noise up; the table keeps the counted fraction, the reason beside it."""
    with caplog.at_level(logging.WARNING, logger="dynaclr.figures.curves"):
        caption, outputs = _infected_fraction(artifacts, tmp_path, model="noise")
    curves = pd.read_csv(outputs.curves)
    separation = curves["true_positive_rate"] - curves["false_positive_rate"]
    assert (separation < MIN_ADJUSTMENT_SEPARATION).all()
    assert (curves["adjusted_fraction"] == curves["predicted_fraction"]).all()
    assert curves["adjustment_note"].str.startswith("unstable: TPR - FPR").all()
    assert any("adjusted classify and count not applied" in r.getMessage() for r in caplog.records)
    assert "Adjusted classify and count (ACC) not drawn: unstable" in caption


def test_infected_fraction_figure_names_the_ground_truth_that_lacks_the_tasks_column(artifacts, tmp_path):
    """A ground-truth table without the ``infected`` column was refused with "ground truth lacks
    column 'infected'", naming no file: the stage reads it requiring the task's column."""
    truth, provenance = read_table(artifacts["truth"], "ground_truth_tracks")
    bare = tmp_path / "ground_truth" / "tracks.parquet"
    write_table(truth.drop(columns="infected"), bare, provenance)
    outputs = InfectedFractionOutputs(
        infected_fraction_png=tmp_path / "f.png",
        infected_fraction_svg=tmp_path / "f.svg",
        curves=tmp_path / "c.csv",
    )
    inputs = InfectedFractionInputs(predictions=artifacts["planted/predictions"], tracks=bare)
    with pytest.raises(
        ArtifactError, match=rf"{re.escape(str(bare))}: .*lacks required columns \['infected'\]"
    ):
        infected_fraction_figure(inputs, outputs, model="planted", dataset="demo")
    assert not outputs.curves.exists()


def test_collect_pseudotime_concatenates_models(artifacts, tmp_path):
    pseudotime, accuracy = _collect_pseudotime(artifacts, tmp_path)
    assert list(accuracy["model"].unique()) == ["noise", "planted"]
    per_model = [read_table(artifacts[f"{m}/pseudotime"], "pseudotime")[0] for m in MODELS]
    assert len(pseudotime) == sum(len(t) for t in per_model)
    assert list(pseudotime["model"].unique()) == ["noise", "planted"]  # sorted
    written, provenance = read_table(tmp_path / "pseudotime.parquet", "pseudotime")
    assert len(written) == len(pseudotime) and len(provenance.inputs) == 2
    on_disk = pd.read_csv(tmp_path / "dtw_accuracy.csv")
    assert list(on_disk.columns) == list(DTW_ACCURACY_COLUMNS)
    assert set(on_disk["model"]) == set(MODELS) and "onset_error_frames" in on_disk
    errors = on_disk.groupby("model")["abs_onset_error_frames"].mean()
    assert errors["planted"] < errors["noise"]  # the planted signal times the onset better
    with pytest.raises(ValueError, match="one accuracy table per pseudotime table"):
        collect_pseudotime(
            CollectPseudotimeInputs(pseudotime=[artifacts["planted/pseudotime"]], accuracy=[]),
            CollectPseudotimeOutputs(pseudotime=tmp_path / "x.parquet", accuracy=tmp_path / "x.csv"),
        )


def test_pseudotime_figure(artifacts, tmp_path):
    caption, outputs = _pseudotime(artifacts, tmp_path)
    _written(outputs.pseudotime_png, outputs.pseudotime_svg)
    accuracy = pd.read_csv(artifacts["planted/accuracy"])
    # the reference, aligned to itself, is left out (as in the results table and the first page)
    observed = accuracy[accuracy["has_observed_onset"] & ~accuracy["is_reference_series"]]
    assert f"mean |error| {observed['abs_onset_error_frames'].mean():.2f} frames" in caption


def test_the_dtw_figures_give_times_in_hours_where_the_frame_interval_is_known(artifacts, tmp_path):
    """The pseudo-time figures' axes and captions were in frames only: with the dataset's frame
    interval (rule param time_interval_minutes) they are in hours and say so; without, in frames,
    saying the interval is not recorded."""
    from dynaclr.figures.plots import plot_pseudotime_accuracy
    from dynaclr.numerics.timescale import FrameClock

    pseudotime = pd.read_parquet(artifacts["planted/pseudotime"])
    accuracy = pd.read_csv(artifacts["planted/accuracy"])
    hours, caption = plot_pseudotime_accuracy(pseudotime, accuracy, clock=FrameClock.of(30.0))
    frames, in_frames = plot_pseudotime_accuracy(pseudotime, accuracy)
    left, right = hours.axes
    assert (left.get_xlabel(), left.get_ylabel()) == (
        "true time since infection onset (h)",
        "DTW pseudo-time (h)",
    )
    assert right.get_xlabel() == "aligned - true onset (h)"
    assert frames.axes[0].get_ylabel() == "DTW pseudo-time (frames)"
    for drawn_in_hours, drawn_in_frames in zip(left.get_lines(), frames.axes[0].get_lines(), strict=True):
        np.testing.assert_allclose(drawn_in_hours.get_xydata(), 0.5 * drawn_in_frames.get_xydata())
    observed = accuracy[accuracy["has_observed_onset"] & ~accuracy["is_reference_series"]]
    error = observed["abs_onset_error_frames"].mean()
    assert caption.startswith("times in hours (one frame = 30 min). Left,")
    assert f"mean |error| {error:.2f} frames = {error / 2:.2f} h" in caption
    assert in_frames.startswith("times in frames (the frame interval is not recorded). Left,")

    caption, _ = _pseudotime(artifacts, tmp_path, time_interval_minutes=15)
    assert "times in hours (one frame = 15 min)" in caption
    caption, _ = _trajectories(artifacts, tmp_path, time_interval_minutes=15)
    assert "in hours (one frame = 15 min)" in caption
    cells = cell_table(read_embeddings(artifacts["planted/embeddings"]))[["fov_name", "track_id", "t"]]
    components, variance = principal_components(read_embeddings(artifacts["planted/embeddings"]).X, 2)
    frames_table = aligned_frames(pseudotime, cells.assign(pc1=components[:, 0], pc2=components[:, 1]))
    figure, trajectories = plot_aligned_trajectories(frames_table, variance, clock=FrameClock.of(15))
    assert {axis.get_xlabel() for axis in figure.axes} == {"pseudo-time (h)"}
    assert "in hours (one frame = 15 min)" in trajectories
    figure, trajectories = plot_aligned_trajectories(frames_table, variance)
    assert {axis.get_xlabel() for axis in figure.axes} == {"pseudo-time (frames)"}
    assert "in frames (the frame interval is not recorded)" in trajectories


def test_aligned_trajectories_follow_the_planted_state(artifacts, tmp_path):
    caption, outputs = _trajectories(artifacts, tmp_path)
    _written(outputs.trajectories_png, outputs.trajectories_svg)
    assert (
        "Reference picked by: infection state from ground truth; no true infection onset is drawn." in caption
    )
    # the planted state turns by 90 degrees at the onset: a PC separates frames before and after it,
    # more than the PCs of noise embeddings aligned the same way (DTW's choice of matching windows
    # separates even noise somewhat; mock lineages, aligned too, never change state)
    planted, noise = (_before_after_separation(artifacts, model) for model in ("planted", "noise"))
    assert planted > 0.75 and planted > 1.2 * noise


def test_aligned_trajectories_are_drawn_on_a_dataset_without_ground_truth(artifacts, tmp_path):
    """A plate aligned by DTW on its classifier's predictions has no true onset (its accuracy table's
    true onsets are NaN): the aligned trajectories are drawn all the same, from the pseudo-time and
    the embeddings alone, finite, and the caption says what picked the reference and that no true
    onset is drawn, and how many lineages drawn the predictions never call infected (their aligned
    onsets are matches, not onsets; the caption said nothing of them)."""
    pseudotime = tmp_path / "predicted" / "pseudotime.parquet"
    _, accuracy = pseudotime_stage(
        PseudotimeConfig(),
        AlignPseudotimeInputs(
            embeddings=artifacts["planted/embeddings"], predictions=artifacts["planted/predictions"]
        ),
        AlignPseudotimeOutputs(pseudotime=pseudotime, accuracy=tmp_path / "predicted" / "accuracy.csv"),
        model="planted",
        dataset="demo",
    )
    assert accuracy["true_onset_t"].isna().all() and not accuracy["has_observed_onset"].any()
    caption, outputs = _trajectories(artifacts, tmp_path / "figures", pseudotime=pseudotime)
    _written(outputs.trajectories_png, outputs.trajectories_svg)
    assert (
        "Reference picked by: infection state predicted by its own classifiers; no true infection onset "
        "is drawn." in caption
    )
    queries = accuracy[~accuracy["is_reference_series"]]
    never = int((queries["state_reaches_event"] == False).sum())  # noqa: E712 (<NA>: not known)
    assert 0 < never < len(queries)
    assert caption.endswith(
        f"{never} of {len(queries)} aligned lineages never reach the infection onset by the infection state "
        "predicted by its own classifiers: their aligned onsets are matches, not onsets (drawn all the same; "
        "state_reaches_event of dtw_accuracy.csv)."
    )
    drawn = re.search(r"mean ± SD over (\d+) matched observations of (\d+) aligned lineages", caption)
    assert drawn is not None and int(drawn[1]) > 0 and int(drawn[2]) > 1, caption


def _before_after_separation(artifacts: dict[str, Path], model: str) -> float:
    """The largest |mean PC before - mean PC after| pseudo-time 0 (|pseudo-time| >= 2), in SD units."""
    adata = read_embeddings(artifacts[f"{model}/embeddings"])
    components, variance = principal_components(adata.X, 3)
    assert variance[0] >= variance[1] >= variance[2]
    cells = cell_table(adata)[["fov_name", "track_id", "t"]]
    cells = cells.assign(pc1=components[:, 0], pc2=components[:, 1])
    frames = aligned_frames(pd.read_parquet(artifacts[f"{model}/pseudotime"]), cells)
    assert not frames.duplicated(["fov_name", "track_id", "t"]).any()
    before, after = frames[frames["pseudotime"] <= -2], frames[frames["pseudotime"] >= 2]
    return max(abs(before[pc].mean() - after[pc].mean()) / frames[pc].std() for pc in ("pc1", "pc2"))


def test_gallery_shows_the_lowest_cost_frames_at_each_pseudotime():
    frames = pd.DataFrame(
        {
            "fov_name": "A/1/0",
            "query_id": [1, 2, 3, 1, 2, 3],
            "track_id": [1, 2, 3, 1, 2, 3],
            "t": [4, 5, 6, 8, 9, 9],
            "pseudotime": [0.0, 0.0, 0.0, 3.0, 3.0, 3.0],
            "normalized_cost": [0.3, 0.1, 0.2, 0.5, 0.4, 0.6],
            "row": [10, 11, 12, 13, 14, 15],
            "pc1": [0.0, 0.1, 0.2, 1.0, 1.1, 1.2],
            "is_reference_series": [True, False, False, True, False, False],
        }
    )
    picks = gallery_picks(frames, n_points=2, per_point=2)
    assert {k: v["row"].tolist() for k, v in picks.items()} == {0.0: [11, 12], 3.0: [14, 13]}
    asked = []

    def thumbnails(rows):
        asked.append(rows.tolist())
        return np.zeros((len(rows), 8, 8), np.float32)

    figure, caption = plot_aligned_trajectories(
        frames, np.array([0.5]), thumbnails, event="division", n_points=2, per_point=2
    )
    assert asked == [[11, 12], [14, 13]]
    assert len(figure.axes) == 1 + 4 and "since the reference's division" in caption


def _one_lineage_at(times: np.ndarray) -> pd.DataFrame:
    """Aligned frames of one lineage, one frame at each pseudo-time of ``times``."""
    return pd.DataFrame(
        {
            "fov_name": "A/1/0",
            "query_id": 1,
            "track_id": 1,
            "t": np.arange(times.size),
            "pseudotime": times,
            "normalized_cost": 0.1,
            "row": np.arange(times.size),
        }
    )


@pytest.mark.parametrize(("first", "last"), [(-3, 2), (-3, 7), (-1, 9), (0, 4)])
def test_gallery_shows_the_event_frame(first: int, last: int):
    """The gallery spread its columns evenly over the aligned pseudo-times and so skipped the event
    itself: aligned from 3 frames before a division to 2 after (a 6-frame reference) it showed -3, -2,
    -1, 1 and 2, and the demo's 11 frames (-3 to 7) -3, -1, 2, 5 and 7. Pseudo-time 0, the frame
    the figure is centred on, is now always a column where it was aligned, the others still spread
    over the range (the first and the last kept)."""
    times = np.arange(first, last + 1, dtype=np.float64)
    frames = _one_lineage_at(times)
    chosen = sorted(gallery_picks(frames, n_points=5, per_point=1))
    assert len(chosen) == 5
    assert 0.0 in chosen
    assert chosen[0] == first and chosen[-1] == last


def test_gallery_without_the_event_frame_spreads_its_columns():
    """Aligned frames that do not reach pseudo-time 0 keep the evenly spread columns."""
    times = np.arange(2, 12, dtype=np.float64)
    frames = _one_lineage_at(times)
    assert sorted(gallery_picks(frames, n_points=4, per_point=1)) == [2.0, 5.0, 8.0, 11.0]


def test_the_report_caption_of_the_gallery_names_the_channels_it_draws():
    """The report's caption said the gallery showed "the patches (first channel, middle slice)" while
    the figure draws two channels, the first grey and the second magenta over it; the report's
    caption now says what the figure's own caption says."""
    from conftest import REPO_ROOT

    frames = pd.DataFrame(
        {
            "fov_name": "A/1/0",
            "query_id": [1, 2],
            "track_id": [1, 2],
            "t": [4, 5],
            "pseudotime": [0.0, 0.0],
            "normalized_cost": [0.1, 0.2],
            "row": [0, 1],
            "pc1": [0.0, 0.1],
            "is_reference_series": [True, False],
        }
    )
    rng = np.random.default_rng(0)
    figure, caption = plot_aligned_trajectories(
        frames, np.array([0.5]), lambda rows: rng.random((len(rows), 2, 8, 8)), n_points=1, per_point=1
    )
    drawn = figure.axes[-1].get_images()[0].get_array()
    assert drawn.shape[-1] == 3 and not np.allclose(drawn[..., 0], drawn[..., 1])  # colour, not grey
    described = "first channel grey, second magenta"
    assert described in caption
    rst = " ".join((REPO_ROOT / "workflow" / "report" / "aligned_trajectories.rst").read_text().split())
    assert described in rst and "(first channel, middle slice)" not in rst


def test_results_table_stage_compares_the_models(artifacts, tmp_path):
    _temporal_metrics(artifacts, tmp_path)
    collect_classification(
        CollectClassificationInputs(metrics=[artifacts[f"{m}/metrics"] for m in MODELS]),
        CollectClassificationOutputs(table=tmp_path / "classification.csv"),
    )
    _collect_pseudotime(artifacts, tmp_path)
    outputs = ResultsTableOutputs(
        csv=tmp_path / "results_table.csv",
        html=tmp_path / "results_table.html",
        png=tmp_path / "figures" / "results_table.png",
        svg=tmp_path / "figures" / "results_table.svg",
    )
    table = results_table_stage(
        ResultsTableInputs(
            temporal_metrics=tmp_path / "temporal.csv",
            classification=tmp_path / "classification.csv",
            dtw_accuracy=tmp_path / "dtw_accuracy.csv",
        ),
        outputs,
    )
    _written(outputs.png, outputs.svg)
    on_disk = pd.read_csv(outputs.csv)
    assert list(on_disk["model"]) == ["noise", "planted"]
    planted, noise = on_disk.set_index("model").loc["planted"], on_disk.set_index("model").loc["noise"]
    assert planted["smoothness"] < noise["smoothness"] and planted["f1_infection"] > noise["f1_infection"]
    assert planted["dtw_onset_mae_frames"] < noise["dtw_onset_mae_frames"]
    html = outputs.html.read_text()
    assert html.startswith("<table") and html.count("<tr>") == 3
    assert len(table) == 2
    temporal_only = results_table_stage(
        ResultsTableInputs(temporal_metrics=tmp_path / "temporal.csv"),
        ResultsTableOutputs(
            csv=tmp_path / "t.csv", html=tmp_path / "t.html", png=tmp_path / "t.png", svg=tmp_path / "t.svg"
        ),
    )
    assert temporal_only["f1_infection"].isna().all() and temporal_only["dtw_onset_mae_frames"].isna().all()


def test_results_table_names_each_row_s_frame_interval(artifacts, tmp_path):
    """Smoothness and dynamic range compare adjacent frames: each row says how long a frame step is."""
    _temporal_metrics(artifacts, tmp_path)
    datasets = pd.read_csv(tmp_path / "temporal.csv")[["model", "dataset"]].drop_duplicates()
    pairs = [
        {"model": m, "dataset": d, "distribution": "in", "trained_on": d, "time_interval_minutes": 15.0}
        for m, d in zip(datasets["model"], datasets["dataset"], strict=True)
    ]
    outputs = ResultsTableOutputs(
        csv=tmp_path / "t.csv", html=tmp_path / "t.html", png=tmp_path / "t.png", svg=tmp_path / "t.svg"
    )
    results_table_stage(ResultsTableInputs(temporal_metrics=tmp_path / "temporal.csv"), outputs, pairs=pairs)
    on_disk = pd.read_csv(outputs.csv)
    columns = ["model", "dataset", "distribution", "trained_on", "time_interval_minutes"]
    assert list(on_disk.columns[:5]) == columns
    assert (on_disk["time_interval_minutes"] == 15.0).all()
    older = [{k: v for k, v in pair.items() if k != "time_interval_minutes"} for pair in pairs]
    results_table_stage(ResultsTableInputs(temporal_metrics=tmp_path / "temporal.csv"), outputs, pairs=older)
    assert pd.read_csv(outputs.csv)["time_interval_minutes"].isna().all()  # not given: NaN


def test_results_table_records_the_classifier_transfers_left_out(artifacts, tmp_path):
    """A transfer the workflow left out (datasets sampled otherwise) is in the artifact, not only in
    the dry run's log: the pair's ``transfers_skipped`` phrase reaches the CSV, empty elsewhere."""
    _temporal_metrics(artifacts, tmp_path)
    datasets = pd.read_csv(tmp_path / "temporal.csv")[["model", "dataset"]].drop_duplicates()
    skipped = "baseline random_weights: the classifiers of dataset 'b' do not predict dataset 'a'"
    pairs = [
        {"model": m, "dataset": d, "transfers_skipped": skipped if i == 0 else ""}
        for i, (m, d) in enumerate(zip(datasets["model"], datasets["dataset"], strict=True))
    ]
    outputs = ResultsTableOutputs(
        csv=tmp_path / "t.csv", html=tmp_path / "t.html", png=tmp_path / "t.png", svg=tmp_path / "t.svg"
    )
    results_table_stage(ResultsTableInputs(temporal_metrics=tmp_path / "temporal.csv"), outputs, pairs=pairs)
    on_disk = pd.read_csv(outputs.csv, keep_default_na=False).set_index(["model", "dataset"])
    first = (datasets["model"].iloc[0], datasets["dataset"].iloc[0])
    assert on_disk.loc[first, "transfers_skipped"] == skipped
    assert (on_disk.drop(index=[first])["transfers_skipped"] == "").all()
