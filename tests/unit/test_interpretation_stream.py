"""Rule ``interpret_embeddings`` reads its store by blocks: the Spearman table, the component scores
and the gallery's cells of the in-memory path (scikit-learn's PCA of the whole matrix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import build_patch_store
from sklearn.decomposition import PCA
from test_interpretation import SPEC, _cell_features, _outputs, _write_predictions

from dynaclr.config.analysis import InterpretationConfig
from dynaclr.embeddings import (
    MatrixBlocks,
    build_anndata,
    cell_table,
    read_embeddings,
    representation_matrix,
    streamed_principal_components,
    write_embeddings,
)
from dynaclr.interpretation import CORRELATION_COLUMNS, principal_components, stage as interpretation_stage
from dynaclr.interpretation.features import KEY_COLUMNS
from dynaclr.interpretation.stage import (
    InterpretInputs,
    InterpretOutputs,
    _aligned_features,
    interpret_embeddings_stage,
    interpret_scores,
    store_principal_components,
)
from dynaclr.io import ArtifactKind, make_provenance, read_csv, read_table
from dynaclr.patches import open_patch_store

#: Rows per block of the streamed runs.
BLOCK_ROWS = 7
REPRESENTATIONS = ("features", "projections", "standardized")


@pytest.fixture(scope="module")
def planted(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny plate's patch store, its cell features, a store of planted embeddings (all three
    representations; the first dimension follows the Nuclei mean) and infection predictions."""
    folder = tmp_path_factory.mktemp("interpret_stream")
    patches = build_patch_store({"raw": tiny_plate["plate"]}, tiny_plate["tracks"], SPEC, folder)
    config = InterpretationConfig(batch_size=16)
    features = _cell_features(config, patches, folder / "features.parquet")
    index = open_patch_store(patches["zarr"], patches["parquet"]).index.drop(columns=["row"])
    nuclei = features["raw:Nuclei_mean"].to_numpy()
    rng = np.random.default_rng(0)
    scale = np.array([10.0, 5.0, 3.0, 2.0, 1.5, 1.0])
    matrix = (
        np.column_stack([(nuclei - nuclei.mean()) / nuclei.std(), rng.normal(size=(len(index), 5))]) * scale
    )
    matrix = matrix @ np.linalg.qr(rng.normal(size=(6, 6)))[0]  # the components mix every column
    raw_mean, raw_std = rng.uniform(-5, 5, size=6), rng.uniform(0.5, 3.0, size=6)
    identity = {"model": "planted", "dataset": "tiny"}
    adata = build_anndata(
        matrix.astype(np.float32),
        index,
        projections=np.tanh(matrix @ rng.normal(size=(6, 4))).astype(np.float32),
        raw=matrix * raw_std + raw_mean,
        raw_mean=raw_mean,
        raw_std=raw_std,
        info=identity,
    )
    store = folder / "planted.zarr"
    write_embeddings(adata, store, make_provenance(ArtifactKind.EMBEDDINGS, identity))
    predictions = _write_predictions(index, nuclei, folder / "predictions.parquet")
    inputs = InterpretInputs(
        embeddings=store,
        features=folder / "features.parquet",
        patches_zarr=patches["zarr"],
        patches_parquet=patches["parquet"],
        predictions=predictions,
    )
    return {"inputs": inputs, "n_cells": len(index)}


def _in_memory(
    config: InterpretationConfig, inputs: InterpretInputs, outputs: InterpretOutputs
) -> pd.DataFrame:
    """The stage before it streamed: the whole store read, scikit-learn's seeded PCA of the matrix."""
    adata = read_embeddings(inputs.embeddings)
    cells = cell_table(adata)
    features_table, _ = read_table(inputs.features, ArtifactKind.CELL_FEATURES, KEY_COLUMNS)
    features = _aligned_features(cells, features_table, inputs.features)
    scores, explained = principal_components(
        representation_matrix(adata, config.representation), config.n_components, config.seed
    )
    return interpret_scores(
        config, inputs, outputs, cells, features, scores, explained, model="planted", dataset="tiny"
    )


def _recording(monkeypatch) -> dict[str, list]:
    """Record the patches the gallery shows and the groups and captions it is drawn with."""
    record: dict[str, list] = {"patches": [], "galleries": []}
    patch_image, plot_gallery = interpretation_stage._patch_image, interpretation_stage.plot_gallery

    def recorded_patch(store, row, channel, crop):
        record["patches"].append((row, channel))
        return patch_image(store, row, channel, crop)

    def recorded_gallery(groups, column_labels, title, caption):
        record["galleries"].append((groups, column_labels, title, caption))
        return plot_gallery(groups, column_labels, title, caption)

    monkeypatch.setattr(interpretation_stage, "_patch_image", recorded_patch)
    monkeypatch.setattr(interpretation_stage, "plot_gallery", recorded_gallery)
    return record


def _never_whole(monkeypatch) -> None:
    def read_whole(path, *args, **kwargs):
        raise AssertionError(f"the streamed stage read {path} whole")

    monkeypatch.setattr("dynaclr.embeddings.store.read_embeddings", read_whole)
    monkeypatch.setattr("dynaclr.embeddings.read_embeddings", read_whole)
    monkeypatch.setattr(interpretation_stage, "read_embeddings", read_whole, raising=False)


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_store_components_are_scikit_learns(planted, representation):
    inputs = planted["inputs"]
    matrix = representation_matrix(read_embeddings(inputs.embeddings), representation)
    n_components = 8  # more than D: K = min(8, N, D), as scikit-learn's
    expected, expected_ratio = principal_components(matrix, n_components, seed=0)
    scores, ratio = store_principal_components(inputs.embeddings, representation, n_components, BLOCK_ROWS)
    assert scores.shape == expected.shape == (planted["n_cells"], matrix.shape[1])
    np.testing.assert_allclose(ratio, expected_ratio, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-9 * np.abs(expected).max())


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_streamed_stage_is_the_in_memory_stage(planted, representation, tmp_path, monkeypatch):
    config = InterpretationConfig(representation=representation, n_components=4, gallery_components=2)
    inputs = planted["inputs"]
    recorded = _recording(monkeypatch)
    expected = _in_memory(config, inputs, _outputs(tmp_path / "in_memory"))
    in_memory_record = {key: list(values) for key, values in recorded.items()}
    for values in recorded.values():
        values.clear()

    _never_whole(monkeypatch)
    outputs = _outputs(tmp_path / "streamed")
    table = interpret_embeddings_stage(
        config, inputs, outputs, model="planted", dataset="tiny", block_rows=BLOCK_ROWS
    )

    # the correlation table: the same ranks, so the same rho and p-values to the bit
    exact = [c for c in CORRELATION_COLUMNS if c != "explained_variance_ratio"]
    pd.testing.assert_frame_equal(table[exact], expected[exact], check_exact=True)
    np.testing.assert_allclose(
        table["explained_variance_ratio"], expected["explained_variance_ratio"], rtol=1e-10
    )
    written = read_csv(outputs.correlation, CORRELATION_COLUMNS)
    pd.testing.assert_frame_equal(written[exact], read_csv(tmp_path / "in_memory" / "correlation.csv")[exact])
    assert len(table) == 4 * (written["feature"].nunique()) and table["pc"].max() == 4

    # the gallery: the same cells, in the same places, with the same captions
    assert recorded["patches"] == in_memory_record["patches"] and recorded["patches"]
    (groups, labels, title, caption), (groups_before, labels_before, title_before, caption_before) = (
        recorded["galleries"][0],
        in_memory_record["galleries"][0],
    )
    assert (labels, title, caption) == (labels_before, title_before, caption_before)
    assert [name for name, _ in groups] == [name for name, _ in groups_before]
    assert [name for name, _ in groups][-2:] == ["infected (predicted)", "uninfected (predicted)"]
    for (_, columns), (_, columns_before) in zip(groups, groups_before, strict=True):
        assert [len(column) for column in columns] == [len(column) for column in columns_before]
        for column, column_before in zip(columns, columns_before, strict=True):
            for image, image_before in zip(column, column_before, strict=True):
                np.testing.assert_array_equal(image, image_before)
    for path in outputs.model_dump().values():
        assert Path(path).stat().st_size > 0


def test_the_stage_reads_its_store_by_blocks_by_default(planted, tmp_path, monkeypatch):
    """Without ``block_rows`` the stage asks :class:`MatrixBlocks` for its default blocks."""
    asked: list[int | None] = []
    open_representation = interpretation_stage.open_representation

    def open_blocks(path, representation, block_rows=None):
        asked.append(block_rows)
        return open_representation(path, representation, block_rows)

    monkeypatch.setattr(interpretation_stage, "open_representation", open_blocks)
    _never_whole(monkeypatch)
    config = InterpretationConfig(n_components=3, gallery_components=1)
    interpret_embeddings_stage(config, planted["inputs"], _outputs(tmp_path), model="planted", dataset="tiny")
    assert asked == [None]


def test_where_scikit_learn_is_randomized_the_exact_components_agree_to_tolerance():
    """On a short, wide matrix (N < 10 D, max(N, D) > 500) scikit-learn's ``svd_solver='auto'``
    takes its randomized solver; where the eigenvalues are well separated (each kept one 2.25x
    the next, the last 34x the noise floor) its scores agree with the exact PCA over blocks to
    1e-5 of each component's range, the variance ratios to 1e-12."""
    rng = np.random.default_rng(2)
    n, d, k = 600, 64, 8
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    deviations = np.concatenate([10 * 1.5 ** -np.arange(k), np.full(d - k, 0.1)])
    matrix = (rng.normal(size=(n, d)) * deviations) @ rotation.T + 3.0
    pca = PCA(n_components=k, random_state=0)
    expected = pca.fit_transform(matrix)
    assert pca._fit_svd_solver == "randomized"
    scores, ratio = streamed_principal_components(MatrixBlocks(matrix, BLOCK_ROWS), k, standardize=False)
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_, rtol=1e-12)
    for j in range(k):
        np.testing.assert_allclose(
            scores[:, j], expected[:, j], rtol=0, atol=1e-5 * np.abs(expected[:, j]).max()
        )


def test_components_past_the_matrix_are_logged_with_the_number_used(planted, tmp_path, monkeypatch, caplog):
    """n_components past the 4 columns of the projections was capped silently: a WARNING names the key,
    asked and used; the table's components, the heatmap's and the gallery's captions count those used."""
    record = _recording(monkeypatch)
    config = InterpretationConfig(representation="projections", n_components=8, gallery_components=8)
    with caplog.at_level("WARNING"):
        table = interpret_embeddings_stage(
            config, planted["inputs"], _outputs(tmp_path), model="planted", dataset="tiny"
        )
    warned = [r.getMessage() for r in caplog.records if "n_components" in r.getMessage()]
    assert warned == [
        "analysis.interpretation.n_components: 8 principal components asked, 4 used: min(N, D) of the "
        f"{planted['n_cells']} cells x 4 columns"
    ]
    assert sorted(table["pc"].unique()) == [1, 2, 3, 4]
    (_, _, _, caption) = record["galleries"][0]
    assert "cells along the first 4 principal components" in caption
    caplog.clear()
    with caplog.at_level("WARNING"):
        interpret_embeddings_stage(
            config.model_copy(update={"n_components": 4, "gallery_components": 4}),
            planted["inputs"],
            _outputs(tmp_path / "as_many"),
            model="planted",
            dataset="tiny",
        )
    assert not [r for r in caplog.records if "n_components" in r.getMessage()]
