"""Rule ``project_embeddings`` with ``pca`` alone reads its store by blocks: sklearn's PCA, to rounding."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from dynaclr.config.embeddings import ProjectionConfig
from dynaclr.embeddings import (
    build_anndata,
    open_representation,
    read_embeddings,
    representation_matrix,
    write_embeddings,
)
from dynaclr.embeddings.blocks import MatrixBlocks
from dynaclr.embeddings.projections import (
    ProjectionInputs,
    ProjectionOutputs,
    project_matrix,
    projection_stage,
    read_projections,
    streamed_pca,
)
from dynaclr.io import ArtifactKind, make_provenance
from dynaclr.pseudotime.synthetic import planted_infection_embeddings

#: Rows per block of the streamed runs: the 432 cells of the store make 62 blocks, the last short.
BLOCK_ROWS = 7
CONSTANT_COLUMN = 5


def _matrix(rng: np.random.Generator, n_rows: int, n_columns: int) -> np.ndarray:
    """Six latent directions of distinct variance, noise, an offset per column, one constant column."""
    latent = rng.normal(size=(n_rows, 6)) * np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.5])
    mixing = np.linalg.qr(rng.normal(size=(n_columns, 6)))[0].T * rng.uniform(0.5, 3.0, size=n_columns)
    matrix = (
        latent @ mixing + 0.1 * rng.normal(size=(n_rows, n_columns)) + rng.uniform(-50, 50, size=n_columns)
    )
    matrix[:, CONSTANT_COLUMN] = 3.25
    return matrix.astype(np.float32)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 432 cells: ``X`` of 23 columns, projections of 11, each with a constant column."""
    _, truth = planted_infection_embeddings(n_fovs=6, tracks_per_fov=6, n_frames=12, dim=4, seed=3)
    rng = np.random.default_rng(3)
    adata = build_anndata(_matrix(rng, len(truth), 23), truth, projections=_matrix(rng, len(truth), 11))
    path = tmp_path_factory.mktemp("projections_stream") / "planted.zarr"
    write_embeddings(
        adata, path, make_provenance(ArtifactKind.EMBEDDINGS, {"model": "planted", "dataset": "s"})
    )
    return path


@pytest.fixture
def small_blocks(monkeypatch) -> None:
    """The stage reads its store :data:`BLOCK_ROWS` rows at a time, and never whole."""
    monkeypatch.setattr(
        "dynaclr.embeddings.projections.open_representation",
        functools.partial(open_representation, block_rows=BLOCK_ROWS),
    )

    def read_whole(path):
        raise AssertionError(f"the streamed PCA read {path} whole")

    monkeypatch.setattr("dynaclr.embeddings.projections.read_embeddings", read_whole)


def _assert_same_pca(streamed: tuple[np.ndarray, dict], in_memory: tuple[np.ndarray, dict]) -> None:
    coordinates, expected = streamed[0], in_memory[0]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(coordinates, expected, rtol=1e-6, atol=1e-8 * scale)
    clear = np.abs(expected) > 1e-6 * scale
    np.testing.assert_array_equal(np.sign(coordinates[clear]), np.sign(expected[clear]))
    np.testing.assert_allclose(
        streamed[1]["variance_ratio"], in_memory[1]["variance_ratio"], rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("representation", ["features", "projections"])
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("n_components", [2, 6])
def test_streamed_pca_is_sklearn_pca(store, representation, standardize, n_components):
    config = ProjectionConfig(
        methods=("pca",), representation=representation, standardize=standardize, n_components=n_components
    )
    blocks = open_representation(store, representation, block_rows=BLOCK_ROWS)
    assert blocks.n_blocks == 62
    matrix = representation_matrix(read_embeddings(store), representation)
    assert np.ptp(matrix[:, CONSTANT_COLUMN]) == 0
    _assert_same_pca(streamed_pca(blocks, config), project_matrix(matrix, config)["pca"])


@pytest.mark.parametrize("representation", ["features", "projections"])
@pytest.mark.parametrize("standardize", [True, False])
def test_stage_streams_pca_alone_and_writes_what_memory_did(
    store, tmp_path, small_blocks, representation, standardize
):
    config = ProjectionConfig(methods=("pca",), representation=representation, standardize=standardize)
    adata = read_embeddings(store)  # the in-memory path's inputs (this module's name is not patched)
    in_memory = project_matrix(representation_matrix(adata, representation), config)["pca"]
    output = tmp_path / "planted.projections.zarr"
    projection_stage(config, ProjectionInputs(embeddings=store), ProjectionOutputs(projections=output))
    written, provenance = read_projections(output)
    assert provenance.config["methods"] == ["pca"] and list(written.obsm) == ["X_pca"]
    coordinates = np.asarray(written.obsm["X_pca"])
    assert coordinates.dtype == np.float32
    variance_ratio = {"variance_ratio": np.asarray(written.uns["pca"]["variance_ratio"])}
    _assert_same_pca(
        (coordinates.astype(np.float64), variance_ratio), (in_memory[0].astype(np.float32), in_memory[1])
    )
    expected_obs = adata.obs.reset_index(drop=True)
    np.testing.assert_array_equal(written.obs.columns, expected_obs.columns)
    for column in expected_obs.columns:
        np.testing.assert_array_equal(written.obs[column].to_numpy(), expected_obs[column].to_numpy())


def test_streamed_pca_fails_as_in_memory():
    matrix = np.random.default_rng(0).normal(size=(12, 8))
    with pytest.raises(ValueError, match=r"analysis\.projections\.n_components=9"):
        streamed_pca(MatrixBlocks(matrix, 5), ProjectionConfig(methods=("pca",), n_components=9))
    matrix[7, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        streamed_pca(MatrixBlocks(matrix, 5), ProjectionConfig(methods=("pca",)))
