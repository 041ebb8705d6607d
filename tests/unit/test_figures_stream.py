"""Rule ``embedding_figures`` reads the embeddings store by blocks: the same figures as in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_helpers import assert_same_drawing
from matplotlib.figure import Figure

import dynaclr.figures.stage as figures_stage
from dynaclr.config.analysis import FiguresConfig
from dynaclr.config.embeddings import ProjectionConfig
from dynaclr.embeddings import (
    MatrixBlocks,
    build_anndata,
    cell_table,
    open_representation,
    read_cells,
    read_embeddings,
    representation_matrix,
    write_embeddings,
)
from dynaclr.embeddings.projections import ProjectionInputs, ProjectionOutputs, projection_stage
from dynaclr.evaluation.temporal import INDEX_COLUMNS, adjacent_distances, random_distances
from dynaclr.figures.plots import plot_distance_distributions
from dynaclr.figures.stage import EmbeddingFiguresInputs, EmbeddingFiguresOutputs, embedding_figures
from dynaclr.io import ArtifactKind, make_provenance, write_table
from dynaclr.pseudotime.synthetic import planted_infection_embeddings

#: Rows per block of the streamed runs: the 288 cells of the store make 42 blocks, the last short,
#: and a track of 12 frames spans two or three of them (far pairs, spilled).
BLOCK_ROWS = 7


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An embeddings store (planted features of 23 columns, projections of 11), its projections
    store (PCA) and its ground truth."""
    root = tmp_path_factory.mktemp("figures_stream")
    features, truth = planted_infection_embeddings(
        n_fovs=4, tracks_per_fov=6, n_frames=12, dim=23, noise=0.3, seed=5
    )
    rng = np.random.default_rng(5)
    projections = features @ rng.normal(size=(features.shape[1], 11)) + rng.normal(size=(len(truth), 11))
    identity = {"model": "planted", "dataset": "demo"}
    paths = {
        "embeddings": root / "demo.zarr",
        "projections": root / "demo.projections.zarr",
        "truth": root / "tracks.parquet",
    }
    write_embeddings(
        build_anndata(features, truth, projections=projections, info=identity),
        paths["embeddings"],
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )
    projection_stage(
        ProjectionConfig(),
        ProjectionInputs(embeddings=paths["embeddings"]),
        ProjectionOutputs(projections=paths["projections"]),
    )
    write_table(truth, paths["truth"], make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    return paths


@pytest.fixture
def streamed(monkeypatch) -> list[MatrixBlocks]:
    """The stage reads its store :data:`BLOCK_ROWS` rows at a time and never whole; the list
    collects the matrices it opened."""
    opened: list[MatrixBlocks] = []

    def small_blocks(path, representation):
        blocks = open_representation(path, representation, block_rows=BLOCK_ROWS)
        opened.append(blocks)
        return blocks

    def never(*args, **kwargs):
        raise AssertionError("embedding_figures read the embeddings store whole")

    monkeypatch.setattr("dynaclr.figures.stage.open_representation", small_blocks)
    monkeypatch.setattr("dynaclr.figures.stage.read_embeddings", never, raising=False)
    return opened


@pytest.mark.parametrize("representation", ["features", "projections"])
def test_streamed_distances_equal_the_in_memory_ones(stores, representation):
    """Adjacent and random pairs over blocks of 7 rows of the store: the same pairs (the same seed)
    and the same distances, to the bit, as on the matrix in memory."""
    adata = read_embeddings(stores["embeddings"])
    matrix, cells = representation_matrix(adata, representation), cell_table(adata)
    blocks = open_representation(stores["embeddings"], representation, block_rows=BLOCK_ROWS)
    index = read_cells(stores["embeddings"], INDEX_COLUMNS)
    assert blocks.n_blocks == -(-len(cells) // BLOCK_ROWS) > 2
    pd.testing.assert_frame_equal(
        adjacent_distances(blocks, index), adjacent_distances(matrix, cells), check_exact=True
    )
    pd.testing.assert_frame_equal(
        random_distances(blocks, index, rng=3), random_distances(matrix, cells, rng=3), check_exact=True
    )


def _run_stage(
    stores: dict[str, Path], config: FiguresConfig, out: Path, monkeypatch
) -> list[tuple[Figure, str]]:
    """Rule ``embedding_figures`` on the store, files under ``out``; the figures and captions it saved."""
    saved: list[tuple[Figure, str]] = []
    save = figures_stage._save

    def recording_save(figure: Figure, caption: str, *paths: Path) -> str:
        saved.append((figure, caption))
        return save(figure, caption, *paths)

    monkeypatch.setattr("dynaclr.figures.stage._save", recording_save)
    outputs = EmbeddingFiguresOutputs(
        projections_png=out / "projections.png",
        projections_svg=out / "projections.svg",
        distances_png=out / "distances.png",
        distances_svg=out / "distances.svg",
    )
    inputs = EmbeddingFiguresInputs(
        projections=stores["projections"], embeddings=stores["embeddings"], tracks=stores["truth"]
    )
    captions = embedding_figures(config, inputs, outputs, model="planted", dataset="demo")
    assert captions == [caption for _, caption in saved]
    assert all(path.stat().st_size > 0 for path in outputs.model_dump().values() if path is not None)
    return saved


@pytest.mark.parametrize("representation", ["features", "projections"])
def test_streamed_figures_equal_the_in_memory_ones(stores, representation, streamed, monkeypatch, tmp_path):
    """The stage, store read by blocks of 7 rows, draws the figures and captions of the in-memory
    path: the stage on the whole matrix (one block), and the distances figure of the matrix and
    ``obs`` of ``read_embeddings`` (what the stage drew before it streamed)."""
    config = FiguresConfig(match_truth_on="track", distances_representation=representation, distances_seed=11)
    figures = _run_stage(stores, config, tmp_path / "streamed", monkeypatch)
    assert [blocks.block_rows for blocks in streamed] == [BLOCK_ROWS]
    assert streamed[0].n_blocks > 2

    monkeypatch.undo()  # the in-memory references read the store whole
    adata = read_embeddings(stores["embeddings"])
    matrix = representation_matrix(adata, representation)
    monkeypatch.setattr("dynaclr.figures.stage.open_representation", lambda path, name: MatrixBlocks(matrix))
    in_memory = _run_stage(stores, config, tmp_path / "in_memory", monkeypatch)
    distances = plot_distance_distributions(matrix, cell_table(adata), seed=11, label="planted, demo")
    for (figure, caption), (expected_figure, expected_caption) in zip(
        figures, [*in_memory[:1], distances], strict=True
    ):
        assert caption == expected_caption
        assert_same_drawing(figure, expected_figure)
    assert [caption for _, caption in in_memory] == [caption for _, caption in figures]
