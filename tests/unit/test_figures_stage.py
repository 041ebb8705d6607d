"""Report rules: per-(model, dataset) figures from the workflow's artifacts, the pseudo-time gather
and the model comparison table, chained on planted embeddings with known ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dynaclr.classify import classify_stage, collect_classification, draw_annotations_stage
from dynaclr.config.analysis import ClassificationConfig, PseudotimeConfig
from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.embeddings.stage import projection_stage
from dynaclr.evaluation.stage import temporal_metrics_stage
from dynaclr.figures.stage import (
    collect_pseudotime,
    distances_figure,
    infected_fraction_figure,
    projections_figure,
    pseudotime_figure,
    results_table_stage,
)
from dynaclr.io import make_provenance, read_table, write_table
from dynaclr.pseudotime.stage import DTW_ACCURACY_COLUMNS, pseudotime_stage
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
    write_table(truth, paths["truth"], make_provenance("ground_truth_tracks", {}, []))
    draw_annotations_stage(paths["truth"], root / "annotations.parquet", seed=0)
    noise = np.random.default_rng(0).normal(size=features.shape).astype(np.float32)
    for model, matrix in zip(MODELS, (features, noise), strict=True):
        embeddings = root / "embeddings" / model / "demo.zarr"
        write_embeddings(
            build_anndata(matrix, truth[INDEX_COLUMNS], info={"model": model, "dataset": "demo"}),
            embeddings,
            make_provenance("embeddings", {"model": model}, []),
        )
        paths[f"{model}/embeddings"] = embeddings
        paths[f"{model}/projections"] = projection_stage(
            embeddings, root / "embeddings" / model / "demo.proj.parquet"
        )
        for kind in ("metrics", "predictions", "classifiers"):
            paths[f"{model}/{kind}"] = (
                root / kind / model / ("demo.json" if kind == "classifiers" else "demo.parquet")
            )
        classify_stage(
            embeddings,
            root / "annotations.parquet",
            model,
            "demo",
            paths[f"{model}/metrics"],
            paths[f"{model}/predictions"],
            paths[f"{model}/classifiers"],
            ClassificationConfig(match_annotations_on="track", n_bootstrap=0),
        )
        paths[f"{model}/pseudotime"] = root / "pseudotime" / model / "demo.parquet"
        paths[f"{model}/accuracy"] = root / "dtw_accuracy" / model / "demo.csv"
        pseudotime_stage(
            embeddings,
            model,
            "demo",
            paths[f"{model}/pseudotime"],
            paths[f"{model}/accuracy"],
            PseudotimeConfig(match_truth_on="track"),
            ground_truth_tracks_path=paths["truth"],
        )
    return paths


def _written(png: Path) -> None:
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in png.with_suffix(".svg").read_bytes()[:400]


def test_projections_figure_colours_by_ground_truth(artifacts, tmp_path):
    truth = read_table(artifacts["truth"], "ground_truth_tracks")[0]
    caption = projections_figure(
        artifacts["planted/projections"],
        tmp_path / "demo" / "planted" / "projections.png",
        "planted",
        "demo",
        ground_truth_tracks_path=artifacts["truth"],
        match_on="track",
    )
    _written(tmp_path / "demo" / "planted" / "projections.png")
    assert caption.startswith("planted, demo: projection of 640 cell embeddings")
    assert f"{int(truth['infected'].sum())} of 640 cells infected" in caption
    time_only = projections_figure(artifacts["planted/projections"], tmp_path / "t.png", "planted", "demo")
    assert "coloured by t." in time_only and "cells infected" not in time_only


def test_distances_figure_matches_the_temporal_metrics(artifacts, tmp_path):
    table = temporal_metrics_stage(
        {("planted", "demo"): artifacts["planted/embeddings"]}, tmp_path / "temporal.csv", n_bootstrap=0
    )
    caption = distances_figure(artifacts["planted/embeddings"], tmp_path / "distances.png", "planted", "demo")
    _written(tmp_path / "distances.png")
    assert f"smoothness (mean adjacent / mean random) {table.loc[0, 'smoothness']:.3f}" in caption
    # The figure's KDE is exact, the table's binned (for the bootstrap): peaks agree to a grid step or two.
    shown = float(caption.split("Dynamic range (peak difference) ")[1].split(",")[0])
    assert shown == pytest.approx(table.loc[0, "dynamic_range"], abs=0.005)


def test_infected_fraction_figure_writes_the_curves(artifacts, tmp_path):
    caption = infected_fraction_figure(
        artifacts["planted/predictions"],
        artifacts["truth"],
        tmp_path / "infected_fraction.png",
        "planted",
        "demo",
        curves_csv=tmp_path / "curves.csv",
    )
    _written(tmp_path / "infected_fraction.png")
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves["condition"]) == {"mock", "infected"} and len(curves) == 2 * 20
    mock = curves[curves["condition"] == "mock"]
    assert (mock["true_fraction"] == 0).all()
    infected = curves[curves["condition"] == "infected"]
    assert np.abs(infected["predicted_fraction"] - infected["true_fraction"]).mean() < 0.15
    assert "mock" in caption and "infected" in caption


def test_collect_pseudotime_concatenates_models(artifacts, tmp_path):
    pseudotime, accuracy = collect_pseudotime(
        [artifacts[f"{m}/pseudotime"] for m in MODELS],
        [artifacts[f"{m}/accuracy"] for m in MODELS],
        tmp_path / "pseudotime.parquet",
        tmp_path / "dtw_accuracy.csv",
    )
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
        collect_pseudotime([artifacts["planted/pseudotime"]], [], tmp_path / "x.parquet", tmp_path / "x.csv")


def test_pseudotime_figure(artifacts, tmp_path):
    caption = pseudotime_figure(
        artifacts["planted/pseudotime"], artifacts["planted/accuracy"], tmp_path / "p.png", "planted", "demo"
    )
    _written(tmp_path / "p.png")
    accuracy = pd.read_csv(artifacts["planted/accuracy"])
    observed = accuracy[accuracy["has_observed_onset"]]
    assert f"mean |error| {observed['abs_onset_error_frames'].mean():.2f} frames" in caption


def test_results_table_stage_compares_the_models(artifacts, tmp_path):
    temporal_metrics_stage(
        {(m, "demo"): artifacts[f"{m}/embeddings"] for m in MODELS}, tmp_path / "temporal.csv", n_bootstrap=0
    )
    collect_classification([artifacts[f"{m}/metrics"] for m in MODELS], tmp_path / "classification.csv")
    collect_pseudotime(
        [artifacts[f"{m}/pseudotime"] for m in MODELS],
        [artifacts[f"{m}/accuracy"] for m in MODELS],
        tmp_path / "pseudotime.parquet",
        tmp_path / "dtw_accuracy.csv",
    )
    outputs = {
        "table_csv": tmp_path / "results_table.csv",
        "figure_path": tmp_path / "figures" / "results_table.png",
        "html_path": tmp_path / "results_table.html",
    }
    table = results_table_stage(
        tmp_path / "temporal.csv",
        **outputs,
        classification_csv=tmp_path / "classification.csv",
        dtw_accuracy_csv=tmp_path / "dtw_accuracy.csv",
    )
    _written(outputs["figure_path"])
    on_disk = pd.read_csv(outputs["table_csv"])
    assert list(on_disk["model"]) == ["noise", "planted"]
    planted, noise = on_disk.set_index("model").loc["planted"], on_disk.set_index("model").loc["noise"]
    assert planted["smoothness"] < noise["smoothness"] and planted["f1_infection"] > noise["f1_infection"]
    assert planted["dtw_onset_mae_frames"] < noise["dtw_onset_mae_frames"]
    html = outputs["html_path"].read_text()
    assert html.startswith("<table") and html.count("<tr>") == 3
    assert len(table) == 2
    temporal_only = results_table_stage(
        tmp_path / "temporal.csv",
        table_csv=tmp_path / "t.csv",
        figure_path=tmp_path / "t.png",
        html_path=tmp_path / "t.html",
    )
    assert temporal_only["f1_infection"].isna().all() and temporal_only["dtw_onset_mae_frames"].isna().all()
