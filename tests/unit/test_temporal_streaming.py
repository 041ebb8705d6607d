"""The temporal metrics read a block of rows at a time and give the values of the in-memory computation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import zarr
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dynaclr.config.analysis import TemporalMetricsConfig
from dynaclr.embeddings import (
    MatrixBlocks,
    build_anndata,
    cell_table,
    open_representation,
    read_cells,
    read_embeddings,
    representation_matrix,
    store as store_module,
    streamed_principal_components,
    write_embeddings,
)
from dynaclr.evaluation import (
    adjacent_distances,
    pairs as pairs_module,
    random_distances,
    temporal_metrics_with_replicates,
)
from dynaclr.evaluation.pairs import pair_dot_products
from dynaclr.evaluation.paper import paper_temporal_metrics, standard_scaler_statistics
from dynaclr.evaluation.stage import (
    TemporalMetricsInputs,
    TemporalMetricsOutputs,
    cells_fingerprint,
    temporal_metrics_stage,
)
from dynaclr.io import ArtifactKind, make_provenance

#: Blocks of 1 row, of 7 rows (every track crosses blocks) and of 100 rows; None: one block.
BLOCK_SIZES = (None, 1, 7, 100)


def _ragged_tracks(seed: int = 0, n_columns: int = 12) -> tuple[np.ndarray, pd.DataFrame]:
    """Shuffled rows of 75 tracks of 1..40 frames with gaps in t, a constant column and a zero row."""
    rng = np.random.default_rng(seed)
    rows, values = [], []
    for fov in ("A/1/0", "A/1/1", "B/2/0"):
        for track_id in range(25):
            length = int(rng.integers(1, 41))
            frames = np.sort(rng.choice(60, size=length, replace=False))
            walk = np.cumsum(rng.normal(scale=0.3, size=(length, n_columns)), axis=0)
            rows += [(fov, track_id, int(t)) for t in frames]
            values.append(walk + rng.normal(size=n_columns))
    matrix = np.concatenate(values).astype(np.float32)
    matrix[:, 3] = 2.5  # a constant feature: StandardScaler leaves its scale at 1
    matrix[7] = 0.0  # a zero row: its cosine distance to anything is 1
    index = pd.DataFrame(rows, columns=["fov_name", "track_id", "t"])
    order = rng.permutation(len(index))
    return matrix[order], index.iloc[order].reset_index(drop=True)


#: What the in-memory implementation gave on ``_ragged_tracks(0)`` before the computation streamed
#: (``temporal_metrics_with_replicates(n_bootstrap=50, seed=3)`` and ``paper_temporal_metrics``). The
#: track pairs' were recomputed when random pairs and bootstrap units became the tracks holding an
#: adjacent pair (64 of the 74 tracks of two frames or more; 10 are seen only across frame gaps): the
#: adjacent distances are unchanged (``mean_adjacent``, ``n_pairs``).
BEFORE_TRACK_PAIRS = {
    "smoothness": 0.14468797753478255,
    "smoothness_ci_low": 0.12138930196369546,
    "smoothness_ci_high": 0.17916822552299308,
    "dynamic_range": 0.032,
    "dynamic_range_ci_low": 0.02845,
    "dynamic_range_ci_high": 0.047099999999999996,
    "mean_adjacent": 0.01814790978715572,
    "mean_random": 0.1254279042140389,
    "n_tracks": 64,
    "n_pairs": 627,
    "n_random_pairs": 1392,
    "n_bootstrap": 50,
    "confidence": 0.95,
}
BEFORE_PAPER = {
    "smoothness": 0.025591088546794198,
    "dynamic_range": 0.9979000617304938,
    "mean_adjacent": 0.025696663230283377,
    "mean_random": 1.0041254471569716,
    "adjacent_peak": 0.01595925607479013,
    "random_peak": 1.013859317805284,
    "n_tracks": 74,
    "n_pairs": 1429,
}


def _source(matrix: np.ndarray, block_rows: int | None) -> Any:
    return matrix if block_rows is None else MatrixBlocks(matrix, block_rows)


def _assert_close(ours: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(ours) == set(expected)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-15), name


@pytest.fixture(scope="module")
def ragged() -> tuple[np.ndarray, pd.DataFrame]:
    return _ragged_tracks(0)


@pytest.mark.parametrize("block_rows", BLOCK_SIZES)
def test_track_pairs_equal_the_values_before_streaming(ragged, block_rows):
    matrix, index = ragged
    source = _source(matrix, block_rows)
    ours, replicates = temporal_metrics_with_replicates(source, index, n_bootstrap=50, seed=3)
    _assert_close(ours, BEFORE_TRACK_PAIRS)
    _, whole_replicates = temporal_metrics_with_replicates(matrix, index, n_bootstrap=50, seed=3)
    np.testing.assert_allclose(replicates, whole_replicates, rtol=1e-9)


@pytest.mark.parametrize("block_rows", BLOCK_SIZES)
def test_paper_definition_equals_the_values_before_streaming(ragged, block_rows):
    matrix, index = ragged
    _assert_close(paper_temporal_metrics(_source(matrix, block_rows), index), BEFORE_PAPER)


def _reference_unit_rows(matrix: np.ndarray) -> np.ndarray:
    unit = np.asarray(matrix, dtype=np.float64)
    return unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)


@pytest.mark.parametrize("block_rows", BLOCK_SIZES)
def test_pair_distances_equal_a_direct_computation(ragged, block_rows):
    matrix, index = ragged
    unit = _reference_unit_rows(matrix)
    rows = index.assign(_row=np.arange(len(index))).set_index(["fov_name", "track_id", "t"])["_row"]
    for table in (
        adjacent_distances(_source(matrix, block_rows), index),
        random_distances(_source(matrix, block_rows), index, rng=5),
    ):
        a = rows.loc[list(zip(table["fov_name"], table["track_id"], table["t_a"], strict=True))].to_numpy()
        b = rows.loc[list(zip(table["fov_name"], table["track_id"], table["t_b"], strict=True))].to_numpy()
        expected = np.clip(1.0 - np.sum(unit[a] * unit[b], axis=1), 0.0, 2.0)
        np.testing.assert_allclose(table["distance"], expected, rtol=1e-9, atol=1e-12)
    adjacent = adjacent_distances(_source(matrix, block_rows), index)
    assert (adjacent["t_b"] - adjacent["t_a"] == 1).all()  # a gap in t is never an adjacent pair


@pytest.mark.parametrize("block_rows", BLOCK_SIZES)
def test_paper_definition_equals_a_direct_computation(ragged, block_rows):
    """The reference implementation's steps on the whole matrix (scikit-learn's scaler, pairs by row)."""
    matrix, index = ragged
    standardised = StandardScaler().fit_transform(np.asarray(matrix, dtype=np.float64))
    unit = _reference_unit_rows(standardised)
    order = index.assign(_row=np.arange(len(index))).sort_values(["fov_name", "track_id", "t"])
    same = (order["fov_name"].to_numpy()[1:] == order["fov_name"].to_numpy()[:-1]) & (
        order["track_id"].to_numpy()[1:] == order["track_id"].to_numpy()[:-1]
    )
    first, second = order["_row"].to_numpy()[:-1][same], order["_row"].to_numpy()[1:][same]
    generator = np.random.RandomState(42)
    rows_a = generator.randint(0, len(matrix), size=first.size)
    rows_b = generator.randint(0, len(matrix), size=first.size)
    while (rows_a == rows_b).any():
        rows_b[rows_a == rows_b] = generator.randint(0, len(matrix), size=int((rows_a == rows_b).sum()))
    adjacent = 1.0 - np.sum(unit[first] * unit[second], axis=1)
    random = 1.0 - np.sum(unit[rows_a] * unit[rows_b], axis=1)
    ours = paper_temporal_metrics(_source(matrix, block_rows), index)
    assert ours["mean_adjacent"] == pytest.approx(adjacent.mean(), rel=1e-9)
    assert ours["mean_random"] == pytest.approx(random.mean(), rel=1e-9)
    assert ours["n_pairs"] == first.size


@pytest.mark.parametrize("block_rows", [1, 5, 64, 1000])
def test_scaler_statistics_equal_scikit_learns_fit(block_rows):
    rng = np.random.default_rng(3)
    matrix = rng.normal(loc=50.0, scale=[1e-3, 1.0, 1e3, 0.0], size=(997, 4))  # one constant column
    scaler = StandardScaler().fit(matrix)
    mean, scale = standard_scaler_statistics(MatrixBlocks(matrix, block_rows))
    np.testing.assert_allclose(mean, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(scale, scaler.scale_, rtol=1e-12)
    assert scale[3] == 1.0


def test_far_pairs_are_spilled_and_the_spill_removed(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(500, 6))
    first, second = rng.integers(0, 500, size=(2, 3000))  # most rows lie blocks apart
    monkeypatch.setattr(pairs_module, "PAIR_BATCH_BYTES", 1024)  # many small batches
    spill = tmp_path / "spill"
    spill.mkdir()
    ours = pair_dot_products(MatrixBlocks(matrix, 16), first, second, lambda block: block, spill_dir=spill)
    np.testing.assert_allclose(ours, np.sum(matrix[first] * matrix[second], axis=1), rtol=1e-12)
    assert list(spill.iterdir()) == []


class _CountingArray:
    """An array that records the rows of every read."""

    def __init__(self, values: np.ndarray, chunks: tuple[int, int]) -> None:
        self.values, self.chunks, self.reads = values, chunks, []

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def __getitem__(self, key: slice) -> np.ndarray:
        rows = self.values[key]
        self.reads.append(len(rows))
        return rows


def test_the_matrix_is_never_read_whole(ragged):
    matrix, index = ragged
    array = _CountingArray(matrix, chunks=(32, matrix.shape[1]))
    assert MatrixBlocks(array).block_rows == len(matrix)  # whole chunks within BLOCK_BYTES: all rows here
    blocks = MatrixBlocks(array, block_rows=32)
    ours, _ = temporal_metrics_with_replicates(blocks, index, n_bootstrap=50, seed=3)
    _assert_close(ours, BEFORE_TRACK_PAIRS)
    assert max(array.reads) <= 32 and sum(array.reads) == len(matrix)  # one pass
    array.reads.clear()
    _assert_close(paper_temporal_metrics(blocks, index), BEFORE_PAPER)
    assert max(array.reads) <= 32 and sum(array.reads) == 3 * len(matrix)  # means, variances, pairs


@pytest.mark.parametrize("standardize", [True, False])
def test_streamed_pca_equals_scikit_learns_and_reads_the_matrix_once_a_pass(standardize):
    rng = np.random.default_rng(5)
    matrix = rng.normal(loc=4.0, scale=[3.0, 1.0, 0.5, 0.2, 0.1, 1e-3], size=(301, 6))
    pipeline = (
        make_pipeline(StandardScaler(), PCA(3, svd_solver="full"))
        if standardize
        else PCA(3, svd_solver="full")
    )
    expected = pipeline.fit_transform(matrix)
    pca = pipeline[-1] if standardize else pipeline
    array = _CountingArray(matrix, chunks=(16, 6))
    scores, ratio = streamed_principal_components(
        MatrixBlocks(array, block_rows=16), 3, standardize=standardize
    )
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-9 * np.abs(expected).max())
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_, rtol=1e-12)
    assert max(array.reads) <= 16
    # means (and scales when standardising), the scatter, the coordinates
    assert sum(array.reads) == (4 if standardize else 3) * len(matrix)


def test_streamed_pca_of_one_row_fails_with_the_reason():
    with pytest.raises(ValueError, match="at least 2 rows"):
        streamed_principal_components(MatrixBlocks(np.ones((1, 4))), 1, standardize=False)


def _write_store(path: Path, matrix: np.ndarray, index: pd.DataFrame, model: str) -> Path:
    identity = {"model": model, "dataset": "toy"}
    write_embeddings(
        build_anndata(matrix, index, info=identity, projections=matrix[:, :5] * 2.0),
        path,
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )
    return path


def _write_chunked_store(tmp_path: Path, matrix: np.ndarray, index: pd.DataFrame, model: str) -> Path:
    """As rule embed writes it: the matrix streamed from a partial zarr array, a chunk of rows at a time
    (chunks of ``store.STREAMED_CHUNK_ROWS`` rows)."""
    partial_path = tmp_path / f"{model}.partial.zarr"
    partial = zarr.create_array(
        str(partial_path), shape=matrix.shape, dtype="float32", chunks=(50, matrix.shape[1])
    )
    partial[:] = matrix
    identity = {"model": model, "dataset": "toy"}
    path = tmp_path / f"{model}.zarr"
    provenance = make_provenance(ArtifactKind.EMBEDDINGS, identity)
    write_embeddings(build_anndata(partial, index, info=identity), path, provenance)
    return path


def test_a_store_is_read_in_blocks_of_its_chunks(ragged, tmp_path, monkeypatch):
    """A store written a chunk at a time (as rule embed writes it) is read a block of chunks at a time."""
    matrix, index = ragged
    monkeypatch.setattr(store_module, "STREAMED_CHUNK_ROWS", 64)
    staged = _write_store(tmp_path / "staged.zarr", matrix, index, "m")  # anndata's own chunks
    path = _write_chunked_store(tmp_path, matrix, index, "a")
    monkeypatch.setattr("dynaclr.embeddings.blocks.BLOCK_BYTES", 64 * 12 * 8 * 2)  # two chunks a block
    blocks = open_representation(path, "features")
    assert blocks.block_rows == 128 and blocks.n_blocks == -(-len(matrix) // 128)
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), matrix.astype(np.float64))
    ours, _ = temporal_metrics_with_replicates(blocks, index, n_bootstrap=50, seed=3)
    _assert_close(ours, BEFORE_TRACK_PAIRS)
    _assert_close(paper_temporal_metrics(blocks, index), BEFORE_PAPER)
    for representation in ("features", "projections"):
        np.testing.assert_array_equal(
            np.concatenate([b for _, b in open_representation(staged, representation)]),
            representation_matrix(read_embeddings(staged), representation),
        )
    with pytest.raises(KeyError, match="no 'projections' matrix"):
        open_representation(path, "projections")


def test_read_cells_equals_the_anndata_obs(ragged, tmp_path):
    matrix, index = ragged
    path = _write_store(tmp_path / "a.zarr", matrix, index.assign(condition=np.nan, well="A/1"), "m")
    whole = cell_table(read_embeddings(path))
    pd.testing.assert_frame_equal(read_cells(path), whole)
    pd.testing.assert_frame_equal(read_cells(path, ["t", "fov_name"]), whole[["t", "fov_name"]])
    with pytest.raises(KeyError, match="no columns"):
        read_cells(path, ["lineage_id"])


def test_cells_fingerprint_tells_rows_apart(ragged):
    _, index = ragged
    assert cells_fingerprint(index) == cells_fingerprint(index.copy())
    assert cells_fingerprint(index) != cells_fingerprint(index.iloc[::-1].reset_index(drop=True))
    assert cells_fingerprint(index) != cells_fingerprint(index.assign(t=index["t"] + 1))
    assert cells_fingerprint(index) != cells_fingerprint(index.assign(t=index["t"].astype(float)))


def test_stage_on_chunked_stores_equals_the_in_memory_functions(ragged, tmp_path, monkeypatch):
    matrix, index = ragged
    monkeypatch.setattr("dynaclr.embeddings.blocks.BLOCK_BYTES", 1)  # one chunk a block
    monkeypatch.setattr(store_module, "STREAMED_CHUNK_ROWS", 50)
    paths = [
        _write_chunked_store(tmp_path, values, index, model)
        for model, values in (("a", matrix), ("b", matrix[:, ::-1].copy()))
    ]
    table = temporal_metrics_stage(
        TemporalMetricsConfig(n_bootstrap=30, seed=2),
        TemporalMetricsInputs(embeddings=paths),
        TemporalMetricsOutputs(metrics=tmp_path / "m.csv", comparison=tmp_path / "c.csv"),
    )
    row = table[(table["model"] == "a") & (table["definition"] == "track_pairs")].iloc[0]
    expected, _ = temporal_metrics_with_replicates(matrix, index, n_bootstrap=30, seed=2)
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-9), name
    paper = table[(table["model"] == "a") & (table["definition"] == "paper")].iloc[0]
    assert paper["smoothness"] == pytest.approx(BEFORE_PAPER["smoothness"], rel=1e-9)
    assert len(pd.read_csv(tmp_path / "c.csv")) == 1  # same cells: the two models are compared
