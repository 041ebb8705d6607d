"""Rule temporal_metrics: one CSV row per (model, dataset), computed on the features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.evaluation.stage import (
    TEMPORAL_COMPARISON_COLUMNS,
    TEMPORAL_METRICS_COLUMNS,
    temporal_metrics_stage,
)
from dynaclr.evaluation.temporal import temporal_metrics
from dynaclr.io import make_provenance
from dynaclr.pseudotime.synthetic import planted_infection_embeddings


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("temporal")
    features, index = planted_infection_embeddings(n_fovs=2, tracks_per_fov=8, n_frames=16, seed=4)
    rng = np.random.default_rng(0)
    shuffled = features[rng.permutation(len(features))]  # same values, no temporal order
    projections = rng.normal(size=(len(features), 3))
    paths = {}
    for model, matrix in (("planted", features), ("shuffled", shuffled)):
        path = root / model / "toy.zarr"
        write_embeddings(
            build_anndata(matrix, index, projections=projections), path, make_provenance("embeddings", {})
        )
        paths[(model, "toy")] = path
    return {"paths": paths, "features": features, "index": index, "projections": projections, "root": root}


def test_one_row_per_model_with_the_documented_columns(stores, tmp_path):
    output = tmp_path / "evaluation" / "temporal_metrics.csv"
    table = temporal_metrics_stage(stores["paths"], output, n_bootstrap=20, seed=1)
    written = pd.read_csv(output)
    assert list(written.columns) == list(TEMPORAL_METRICS_COLUMNS)
    assert list(written["model"]) == ["planted", "shuffled"]
    assert (written["representation"] == "features").all()
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    planted, shuffled = written.iloc[0], written.iloc[1]
    assert planted["smoothness"] < 0.6 < shuffled["smoothness"]  # temporal order is what makes it smooth
    assert planted["dynamic_range"] > shuffled["dynamic_range"]
    assert planted["smoothness_ci_low"] <= planted["smoothness"] <= planted["smoothness_ci_high"]
    assert planted["n_tracks"] == 16 and planted["n_pairs"] == 16 * 15 and planted["n_cells"] == 16 * 16


def test_values_equal_the_library_function_on_features(stores, tmp_path):
    table = temporal_metrics_stage(
        {("planted", "toy"): stores["paths"][("planted", "toy")]}, tmp_path / "t.csv", n_bootstrap=10, seed=5
    )
    direct = temporal_metrics(stores["features"], stores["index"], n_bootstrap=10, seed=5)
    for name in ("smoothness", "smoothness_ci_low", "dynamic_range", "dynamic_range_ci_high", "n_pairs"):
        assert table.loc[0, name] == pytest.approx(direct[name], rel=1e-5)
    on_projections = temporal_metrics_stage(
        {("planted", "toy"): stores["paths"][("planted", "toy")]},
        tmp_path / "p.csv",
        n_bootstrap=0,
        representation="projections",
    )
    expected = temporal_metrics(stores["projections"].astype(np.float32), stores["index"], n_bootstrap=0)
    assert on_projections.loc[0, "smoothness"] == pytest.approx(expected["smoothness"], rel=1e-5)
    assert np.isnan(on_projections.loc[0, "smoothness_ci_low"])


def test_same_seed_same_table(stores, tmp_path):
    first = temporal_metrics_stage(stores["paths"], tmp_path / "a.csv", n_bootstrap=20, seed=7)
    second = temporal_metrics_stage(stores["paths"], tmp_path / "b.csv", n_bootstrap=20, seed=7)
    pd.testing.assert_frame_equal(first, second)
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_empty_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        temporal_metrics_stage({}, tmp_path / "x.csv")


def test_paired_comparison_puts_the_smoother_model_first(stores, tmp_path, caplog):
    paths = dict(stores["paths"])
    # a third store of other cells (one frame dropped): it cannot be paired with the others
    features, index = stores["features"], stores["index"]
    keep = (index["t"] != 3).to_numpy()
    other = stores["root"] / "other" / "toy.zarr"
    write_embeddings(
        build_anndata(features[keep], index[keep].reset_index(drop=True)),
        other,
        make_provenance("embeddings", {}),
    )
    paths[("other", "toy")] = other
    comparison_csv = tmp_path / "temporal_comparison.csv"
    with caplog.at_level("WARNING"):
        temporal_metrics_stage(
            paths, tmp_path / "m.csv", n_bootstrap=50, seed=2, comparison_csv=comparison_csv
        )
    table = pd.read_csv(comparison_csv)
    assert list(table.columns) == list(TEMPORAL_COMPARISON_COLUMNS)
    assert len(table) == 1  # only planted vs shuffled embed the same cells
    row = table.iloc[0]
    assert (row["model_a"], row["model_b"]) == ("planted", "shuffled")
    assert row["smoothness_a"] < row["smoothness_b"]
    assert row["difference"] == pytest.approx(row["smoothness_a"] - row["smoothness_b"])
    assert row["difference_ci_low"] <= row["difference"] <= row["difference_ci_high"] < 0
    assert row["share_a_smoother"] == 1.0 and row["n_tracks"] == 16
    assert "embed different cells" in caplog.text
