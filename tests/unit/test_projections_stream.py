"""Rule ``project_embeddings`` with ``pca`` alone, or UMAP and PHATE on ``neighbor_pca_components``
principal components, reads its store by blocks: sklearn's PCA, to rounding."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from dynaclr.config.embeddings import ProjectionConfig
from dynaclr.embeddings import (
    build_anndata,
    open_representation,
    projections as projections_module,
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
    streamed_projections,
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


def _capture_neighbor_methods(monkeypatch) -> dict[str, np.ndarray]:
    """UMAP and PHATE record the matrix they receive and return its first two columns, plus one."""
    received: dict[str, np.ndarray] = {}

    def capture(method):
        def run(matrix, config):
            received[method] = np.array(matrix, copy=True)
            return matrix[:, : config.n_components] + 1.0, {}

        return run

    for method in ("umap", "phate"):
        monkeypatch.setitem(projections_module._METHODS, method, capture(method))
    return received


def _sklearn_scores(matrix: np.ndarray, n_components: int, standardize: bool) -> tuple[np.ndarray, dict]:
    if standardize:
        matrix = StandardScaler().fit_transform(matrix.astype(np.float64))
    pca = PCA(n_components=n_components, svd_solver="full")
    return pca.fit_transform(matrix), {"variance_ratio": pca.explained_variance_ratio_}


@pytest.mark.parametrize("representation", ["features", "projections"])
@pytest.mark.parametrize("standardize", [True, False])
def test_stage_streams_umap_and_phate_on_principal_components(
    store, tmp_path, monkeypatch, small_blocks, representation, standardize
):
    received = _capture_neighbor_methods(monkeypatch)
    config = ProjectionConfig(
        methods=("pca", "umap", "phate"),
        representation=representation,
        standardize=standardize,
        neighbor_pca_components=6,
    )
    matrix = representation_matrix(read_embeddings(store), representation)
    output = tmp_path / "planted.projections.zarr"
    projection_stage(config, ProjectionInputs(embeddings=store), ProjectionOutputs(projections=output))
    expected = _sklearn_scores(matrix, 6, standardize)
    assert set(received) == {"umap", "phate"}
    for method in ("umap", "phate"):
        assert received[method].shape == (len(matrix), 6)
        _assert_same_pca((received[method], expected[1]), expected)
    written, provenance = read_projections(output)
    assert provenance.config["neighbor_pca_components"] == 6
    assert sorted(written.obsm) == ["X_pca", "X_phate", "X_umap"]
    in_memory_pca = ProjectionConfig(methods=("pca",), representation=representation, standardize=standardize)
    pca = project_matrix(matrix, in_memory_pca)["pca"]
    variance_ratio = {"variance_ratio": np.asarray(written.uns["pca"]["variance_ratio"])}
    _assert_same_pca(
        (np.asarray(written.obsm["X_pca"], dtype=np.float64), variance_ratio),
        (pca[0].astype(np.float32), pca[1]),
    )
    np.testing.assert_array_equal(written.obsm["X_umap"], (received["umap"][:, :2] + 1.0).astype(np.float32))


def test_in_memory_projection_honours_neighbor_pca_components(store, monkeypatch):
    received = _capture_neighbor_methods(monkeypatch)
    matrix = representation_matrix(read_embeddings(store), "features")
    config = ProjectionConfig(methods=("umap", "pca"), n_components=3, neighbor_pca_components=5)
    projected = project_matrix(matrix, config)
    scores, ratio = _sklearn_scores(matrix, 5, standardize=True)
    np.testing.assert_array_equal(received["umap"], scores)  # one PCA, its first 5 components
    np.testing.assert_array_equal(projected["pca"][0], scores[:, :3])
    np.testing.assert_allclose(projected["pca"][1]["variance_ratio"], ratio["variance_ratio"][:3], atol=1e-12)
    streamed = streamed_projections(open_representation(store, "features", block_rows=BLOCK_ROWS), config)
    _assert_same_pca(streamed["pca"], projected["pca"])
    assert received["umap"].shape == (len(matrix), 5)


def test_without_neighbor_pca_components_umap_reads_the_whole_matrix(store, tmp_path, monkeypatch):
    received = _capture_neighbor_methods(monkeypatch)
    whole = []
    monkeypatch.setattr(
        "dynaclr.embeddings.projections.read_embeddings",
        lambda path: whole.append(path) or read_embeddings(path),
    )

    def no_stream(*args, **kwargs):
        raise AssertionError("UMAP without neighbor_pca_components must not stream")

    monkeypatch.setattr("dynaclr.embeddings.projections.open_representation", no_stream)
    config = ProjectionConfig(methods=("pca", "umap"))
    assert config.neighbor_pca_components is None
    output = tmp_path / "planted.projections.zarr"
    projection_stage(config, ProjectionInputs(embeddings=store), ProjectionOutputs(projections=output))
    assert whole == [store]
    matrix = representation_matrix(read_embeddings(store), "features").astype(np.float64)
    np.testing.assert_array_equal(received["umap"], StandardScaler().fit_transform(matrix))


def test_neighbor_pca_components_checked():
    matrix = np.random.default_rng(0).normal(size=(12, 8))
    config = ProjectionConfig(methods=("pca", "umap"), neighbor_pca_components=9)
    with pytest.raises(ValueError, match=r"analysis\.projections\.neighbor_pca_components=9"):
        streamed_projections(MatrixBlocks(matrix, 5), config)
    with pytest.raises(ValueError, match=r"analysis\.projections\.neighbor_pca_components=9"):
        project_matrix(matrix, config)
    with pytest.raises(ValueError, match="neighbor_pca_components"):
        streamed_projections(MatrixBlocks(matrix, 5), ProjectionConfig(methods=("umap",)))
    with pytest.raises(ValidationError):
        ProjectionConfig(neighbor_pca_components=1)
    pca_alone = ProjectionConfig(methods=("pca",), neighbor_pca_components=9)  # no effect on PCA alone
    _assert_same_pca(
        streamed_projections(MatrixBlocks(matrix, 5), pca_alone)["pca"],
        project_matrix(matrix, ProjectionConfig(methods=("pca",)))["pca"],
    )


def test_umap_and_phate_run_on_principal_components(store):
    """The real methods (a few hundred cells): PHATE skips its own PCA, same seed same coordinates."""
    blocks = open_representation(store, "features", block_rows=BLOCK_ROWS)
    config = ProjectionConfig(methods=("umap", "phate"), neighbor_pca_components=4)
    projected = streamed_projections(blocks, config)
    again = streamed_projections(blocks, config)
    for method in ("umap", "phate"):
        coordinates = projected[method][0]
        assert coordinates.shape == (blocks.n_rows, 2) and np.isfinite(coordinates).all()
        np.testing.assert_array_equal(coordinates, again[method][0])
