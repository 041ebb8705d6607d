"""Rule temporal_metrics: one CSV row per (model, dataset), computed on the features."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dynaclr.config.analysis import TemporalMetricsConfig
from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.evaluation.paper import paper_temporal_metrics
from dynaclr.evaluation.stage import (
    TEMPORAL_COMPARISON_COLUMNS,
    TEMPORAL_METRICS_COLUMNS,
    TemporalMetricsInputs,
    TemporalMetricsOutputs,
    temporal_metrics_stage,
)
from dynaclr.evaluation.temporal import temporal_metrics
from dynaclr.io import ArtifactError, ArtifactKind, make_provenance
from dynaclr.pseudotime.synthetic import planted_infection_embeddings


def _write_store(
    path: Path, features: np.ndarray, index: pd.DataFrame, model: str, dataset: str, **kw
) -> Path:
    """An embeddings store whose provenance names its model and dataset, as rule ``embed`` writes it."""
    identity = {"model": model, "dataset": dataset}
    write_embeddings(
        build_anndata(features, index, info=identity, **kw),
        path,
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )
    return path


def _run(stores: Iterable[Path], out: Path, **config) -> pd.DataFrame:
    """``temporal_metrics_stage`` on ``stores``, writing ``out/metrics.csv`` and ``out/comparison.csv``."""
    return temporal_metrics_stage(
        TemporalMetricsConfig(**config),
        TemporalMetricsInputs(embeddings=list(stores)),
        TemporalMetricsOutputs(metrics=out / "metrics.csv", comparison=out / "comparison.csv"),
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("temporal")
    features, index = planted_infection_embeddings(n_fovs=2, tracks_per_fov=8, n_frames=16, seed=4)
    rng = np.random.default_rng(0)
    shuffled = features[rng.permutation(len(features))]  # same values, no temporal order
    projections = rng.normal(size=(len(features), 3))
    paths = {}
    for model, matrix in (("planted", features), ("shuffled", shuffled)):
        paths[(model, "toy")] = _write_store(
            root / model / "toy.zarr", matrix, index, model, "toy", projections=projections
        )
    return {"paths": paths, "features": features, "index": index, "projections": projections, "root": root}


def test_one_row_per_model_with_the_documented_columns(stores, tmp_path):
    # the stage learns each store's (model, dataset) from its provenance, not from the order given
    table = _run(reversed(stores["paths"].values()), tmp_path, n_bootstrap=20, seed=1)
    written = pd.read_csv(tmp_path / "metrics.csv")
    assert list(written.columns) == list(TEMPORAL_METRICS_COLUMNS)
    assert list(written["model"]) == ["planted", "planted", "shuffled", "shuffled"]
    assert list(written["definition"]) == ["paper", "track_pairs"] * 2
    assert (written["representation"] == "features").all()
    assert (table["not_computed"] == "").all()  # computed: the CSV's empty cells
    written["not_computed"] = written["not_computed"].fillna("")
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    for definition in ("paper", "track_pairs"):  # either definition tells the two apart
        rows = written[written["definition"] == definition].set_index("model")
        assert rows.loc["planted", "smoothness"] < rows.loc["shuffled", "smoothness"], definition
        assert rows.loc["planted", "dynamic_range"] > rows.loc["shuffled", "dynamic_range"], definition
    assert written[written["definition"] == "paper"]["smoothness_ci_low"].isna().all()  # the paper has no CIs
    written = written[written["definition"] == "track_pairs"].reset_index(drop=True)
    planted, shuffled = written.iloc[0], written.iloc[1]
    assert planted["smoothness"] < 0.6 < shuffled["smoothness"]  # temporal order is what makes it smooth
    assert planted["dynamic_range"] > shuffled["dynamic_range"]
    assert planted["smoothness_ci_low"] <= planted["smoothness"] <= planted["smoothness_ci_high"]
    assert planted["n_tracks"] == 16 and planted["n_pairs"] == 16 * 15 and planted["n_cells"] == 16 * 16


def test_values_equal_the_library_function_on_features(stores, tmp_path):
    table = _run([stores["paths"][("planted", "toy")]], tmp_path / "t", n_bootstrap=10, seed=5)
    table = table.set_index("definition")
    direct = temporal_metrics(stores["features"], stores["index"], n_bootstrap=10, seed=5)
    for name in ("smoothness", "smoothness_ci_low", "dynamic_range", "dynamic_range_ci_high", "n_pairs"):
        assert table.loc["track_pairs", name] == pytest.approx(direct[name], rel=1e-5)
    paper = paper_temporal_metrics(stores["features"], stores["index"])
    for name in ("smoothness", "dynamic_range", "mean_adjacent", "n_pairs"):
        assert table.loc["paper", name] == pytest.approx(paper[name], rel=1e-5)
    on_projections = _run(
        [stores["paths"][("planted", "toy")]], tmp_path / "p", n_bootstrap=0, representation="projections"
    ).set_index("definition")
    expected = temporal_metrics(stores["projections"].astype(np.float32), stores["index"], n_bootstrap=0)
    assert on_projections.loc["track_pairs", "smoothness"] == pytest.approx(expected["smoothness"], rel=1e-5)
    assert np.isnan(on_projections.loc["track_pairs", "smoothness_ci_low"])


def test_same_seed_same_table(stores, tmp_path):
    first = _run(stores["paths"].values(), tmp_path / "a", n_bootstrap=20, seed=7)
    second = _run(stores["paths"].values(), tmp_path / "b", n_bootstrap=20, seed=7)
    pd.testing.assert_frame_equal(first, second)
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_empty_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        _run([], tmp_path)


def test_a_movie_whose_tracks_are_single_frames_is_recorded_not_computed_and_the_rest_measured(
    stores, tmp_path, caplog
):
    """Tracks of one detection each (a tracker that never links) on a multi-frame movie: no adjacent
    pair, so no smoothness. Known only once the tracks exist, so the job does not fail (the report
    would be lost): the dataset's rows say "not computed" and why with the counts (never a 0), a
    WARNING names the dataset, its store and what to check, and the other datasets are measured."""
    index = stores["index"].copy()
    index["track_id"] = np.arange(len(index))  # every detection its own track
    unlinked = _write_store(tmp_path / "unlinked.zarr", stores["features"], index, "planted", "unlinked")
    with caplog.at_level("WARNING", logger="dynaclr.evaluation.stage"):
        table = _run([stores["paths"][("planted", "toy")], unlinked], tmp_path, n_bootstrap=5)
    written = pd.read_csv(tmp_path / "metrics.csv")
    assert list(written.columns) == list(TEMPORAL_METRICS_COLUMNS)
    rows = written[written["dataset"] == "unlinked"]
    assert list(rows["definition"]) == ["paper", "track_pairs"]
    n_frames = index["t"].nunique()
    expected = f"no track spans two frames ({len(index):,} tracks, {len(index):,} cells, {n_frames} frames)"
    assert (rows["not_computed"] == expected).all()
    for column in ("smoothness", "smoothness_ci_low", "dynamic_range", "mean_adjacent", "mean_random"):
        assert rows[column].isna().all(), column
    assert (rows["n_pairs"] == 0).all() and (rows["n_cells"] == len(index)).all()
    measured = written[written["dataset"] == "toy"]
    assert measured["smoothness"].notna().all() and measured["not_computed"].isna().all()
    assert len(table) == 4
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "'unlinked'" in warning and "unlinked.zarr" in warning and "no track spans two frames" in warning
    assert "linking" in warning and "frame interval" in warning
    assert pd.read_csv(tmp_path / "comparison.csv").empty  # one measured model: nothing to pair


def test_a_movie_of_two_frames_has_no_track_pairs_smoothness_but_the_papers(tmp_path, caplog):
    """In a movie of two frames every random pair of distinct frames within a track is its adjacent
    pair: the track-pairs smoothness was 1.000 with an interval [1.000, 1.000] (dynamic range 0) for
    the planted embedding and for the same values shuffled alike, and the two were paired as equally
    smooth. Its row now says not computed and why; the paper's definition (random pairs over all cells)
    is measured and still tells the planted embedding from the shuffled one."""
    features, index = planted_infection_embeddings(n_fovs=2, tracks_per_fov=8, n_frames=2, seed=4)
    shuffled = features[np.random.default_rng(1).permutation(len(features))]
    paths = [
        _write_store(tmp_path / f"{model}.zarr", matrix, index, model, "two_frames")
        for model, matrix in (("planted", features), ("shuffled", shuffled))
    ]
    with caplog.at_level("WARNING", logger="dynaclr.evaluation.stage"):
        _run(paths, tmp_path, n_bootstrap=5)
    written = pd.read_csv(tmp_path / "metrics.csv").set_index(["model", "definition"])
    pairs = written.xs("track_pairs", level="definition")
    expected = (
        "no track spans three frames: every random pair within a track is an adjacent pair "
        f"(16 tracks, {len(index)} cells, 2 frames)"
    )
    assert (pairs["not_computed"] == expected).all()
    assert pairs[["smoothness", "smoothness_ci_low", "dynamic_range"]].isna().all().all()
    paper = written.xs("paper", level="definition")
    assert paper["not_computed"].isna().all()
    assert paper.loc["planted", "smoothness"] < 0.8 < paper.loc["shuffled", "smoothness"]
    assert pd.read_csv(tmp_path / "comparison.csv").empty  # nothing measured to pair
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2 and all("(track_pairs)" in w and "paper's definition" in w for w in warnings)


def test_stores_name_their_model_and_dataset(stores, tmp_path):
    index = stores["index"]
    anonymous = tmp_path / "anonymous.zarr"
    write_embeddings(
        build_anndata(stores["features"], index), anonymous, make_provenance(ArtifactKind.EMBEDDINGS, {})
    )
    with pytest.raises(ArtifactError, match="names no model and dataset"):
        _run([anonymous], tmp_path)
    twin = _write_store(tmp_path / "twin.zarr", stores["features"], index, "planted", "toy")
    with pytest.raises(ValueError, match="two embeddings stores of the same"):
        _run([stores["paths"][("planted", "toy")], twin], tmp_path)


def test_paired_comparison_puts_the_smoother_model_first(stores, tmp_path, caplog):
    # a third store of other cells (one frame dropped): it cannot be paired with the others
    features, index = stores["features"], stores["index"]
    keep = (index["t"] != 3).to_numpy()
    other = _write_store(
        stores["root"] / "other" / "toy.zarr",
        features[keep],
        index[keep].reset_index(drop=True),
        "other",
        "toy",
    )
    with caplog.at_level("WARNING"):
        _run([*stores["paths"].values(), other], tmp_path, n_bootstrap=50, seed=2)
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert list(table.columns) == list(TEMPORAL_COMPARISON_COLUMNS)
    assert len(table) == 1  # only planted vs shuffled embed the same cells
    row = table.iloc[0]
    assert (row["model_a"], row["model_b"]) == ("planted", "shuffled")
    assert row["smoothness_a"] < row["smoothness_b"]
    assert row["difference"] == pytest.approx(row["smoothness_a"] - row["smoothness_b"])
    assert row["difference_ci_low"] <= row["difference"] <= row["difference_ci_high"] < 0
    assert row["share_a_smoother"] == 1.0 and row["n_tracks"] == 16
    assert "embed different cells" in caplog.text


def test_a_movie_of_one_track_gets_no_interval_nor_a_paired_claim(tmp_path):
    # one cell followed over 16 frames, embedded by two models: the track bootstrap redraws that one
    # track in every resample, so the CI had zero width and the paired difference "excluded 0"
    features, index = planted_infection_embeddings(n_fovs=1, tracks_per_fov=1, n_frames=16, seed=4)
    rougher = features + 0.3 * np.random.default_rng(0).normal(size=features.shape)
    paths = [
        _write_store(tmp_path / model / "one.zarr", matrix, index, model, "one")
        for model, matrix in (("smooth", features), ("rough", rougher))
    ]
    table = _run(paths, tmp_path, n_bootstrap=50, seed=0)
    track_pairs = table[table["definition"] == "track_pairs"]
    assert (track_pairs["n_tracks"] == 1).all() and track_pairs["smoothness"].notna().all()
    assert track_pairs[["smoothness_ci_low", "smoothness_ci_high"]].isna().all().all()
    comparison = pd.read_csv(tmp_path / "comparison.csv")
    assert len(comparison) == 1
    row = comparison.iloc[0]
    assert np.isfinite(row["difference"]) and row["n_tracks"] == 1
    assert np.isnan(row["difference_ci_low"]) and np.isnan(row["difference_ci_high"])
    assert np.isnan(row["share_a_smoother"])


def test_a_movie_with_one_linked_pair_is_measured_by_the_papers_definition(tmp_path):
    # one track of two frames among single detections: the paper's KDE of its one adjacent distance
    # raised a scipy error and failed the rule for every store
    index = pd.DataFrame({"fov_name": "A/1/0", "track_id": [1, 1, 2, 3, 4, 5], "t": [0, 1, 0, 0, 1, 1]})
    features = np.random.default_rng(0).normal(size=(6, 8))
    path = _write_store(tmp_path / "m" / "d.zarr", features, index, "m", "d")
    table = _run([path], tmp_path, n_bootstrap=10)
    paper = table[table["definition"] == "paper"].iloc[0]
    assert paper["n_pairs"] == 1 and np.isfinite(paper["smoothness"]) and paper["not_computed"] == ""
    track_pairs = table[table["definition"] == "track_pairs"].iloc[0]
    assert track_pairs["not_computed"].startswith("no track spans three")


def test_tracks_seen_only_across_frame_gaps_are_counted_in_the_table(stores, tmp_path):
    """Tracks seen every other frame (gap closing, frames QC dropped) hold no adjacent pair: the
    ``track_pairs`` row left them out of its ``n_tracks`` with a WARNING alone, so the table could not
    tell a movie of 16 tracks from one of 16 tracks measured among 24. ``n_tracks_gap_only`` counts
    them on every row of the movie (``paper`` pairs their frames across the gap, in its ``n_tracks``),
    and where no track holds adjacent frames, on its not-computed rows too."""
    index = stores["index"]
    track = index["fov_name"].astype(str) + "|" + index["track_id"].astype(str)
    gapped = track.isin(track.unique()[:6]).to_numpy()  # 6 of the 16 tracks seen only at even frames
    keep = ~gapped | (index["t"].to_numpy() % 2 == 0)
    cells = index[keep].reset_index(drop=True)
    movie = _write_store(tmp_path / "gaps.zarr", stores["features"][keep], cells, "planted", "gaps")
    every_other = index[index["t"] % 2 == 0].reset_index(drop=True)
    unlinked = _write_store(
        tmp_path / "unlinked.zarr",
        stores["features"][(index["t"] % 2 == 0).to_numpy()],
        every_other,
        "planted",
        "unlinked",
    )
    table = _run([movie, unlinked], tmp_path, n_bootstrap=5).set_index(["dataset", "definition"])
    written = pd.read_csv(tmp_path / "metrics.csv")
    assert list(written.columns) == list(TEMPORAL_METRICS_COLUMNS)
    assert table.loc[("gaps", "track_pairs"), "n_tracks"] == 10
    assert table.loc[("gaps", "paper"), "n_tracks"] == 16
    assert (table.loc["gaps", "n_tracks_gap_only"] == 6).all()
    assert (table.loc["unlinked", "not_computed"].str.startswith("no track spans two adjacent frames")).all()
    assert (table.loc["unlinked", "n_tracks_gap_only"] == 16).all()
    assert (written.loc[written["dataset"] == "gaps", "n_tracks_gap_only"] == 6).all()
