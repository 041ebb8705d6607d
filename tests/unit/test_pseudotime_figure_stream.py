"""Rule ``aligned_trajectories_figure`` reads the embeddings store by blocks: the aligned trajectories
drawn as from the store in memory (the PCs along pseudo-time, their variance fractions, the caption)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_helpers import assert_same_drawing
from matplotlib.figure import Figure

import dynaclr.figures.stage as figures_stage
from dynaclr.config.analysis import PseudotimeConfig
from dynaclr.embeddings import (
    MatrixBlocks,
    build_anndata,
    cell_table,
    open_representation,
    read_embeddings,
    representation_matrix,
    write_embeddings,
)
from dynaclr.figures.stage import (
    AlignedTrajectoriesInputs,
    AlignedTrajectoriesOutputs,
    aligned_trajectories_figure,
)
from dynaclr.figures.trajectories import (
    CELL_KEYS,
    aligned_frames,
    plot_aligned_trajectories,
    principal_components,
)
from dynaclr.io import ArtifactKind, make_provenance, write_table
from dynaclr.pseudotime.stage import (
    STATE_FROM_GROUND_TRUTH,
    AlignPseudotimeInputs,
    AlignPseudotimeOutputs,
    never_reached_statement,
    pseudotime_stage,
)
from dynaclr.pseudotime.synthetic import planted_infection_embeddings

#: Rows per block of the streamed runs: the 288 cells of the store make 42 blocks, the last short.
BLOCK_ROWS = 7

#: The index columns stored with the planted features.
INDEX_COLUMNS = ["fov_name", "well", "condition", "track_id", "parent_track_id", "lineage_id", "t", "y", "x"]


@pytest.fixture(scope="module", params=["rows", "no rows"])
def stores(request, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An embeddings store of planted features (23 columns; with or without patch ``row``s, shuffled
    so that a cell's row is not its position), its ground truth and its DTW pseudo-time."""
    root = tmp_path_factory.mktemp("pseudotime_figure_stream")
    features, truth = planted_infection_embeddings(
        n_fovs=4, tracks_per_fov=6, n_frames=12, dim=23, noise=0.3, seed=5
    )
    index = truth[INDEX_COLUMNS].copy()
    if request.param == "rows":
        index["row"] = np.random.default_rng(5).permutation(len(index))
    identity = {"model": "planted", "dataset": "demo"}
    paths = {
        "embeddings": root / "demo.zarr",
        "truth": root / "tracks.parquet",
        "pseudotime": root / "pseudotime.parquet",
        "accuracy": root / "accuracy.csv",
    }
    write_embeddings(
        build_anndata(features, index, info=identity),
        paths["embeddings"],
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )
    write_table(truth, paths["truth"], make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    pseudotime_stage(
        PseudotimeConfig(match_truth_on="track"),
        AlignPseudotimeInputs(embeddings=paths["embeddings"], tracks=paths["truth"]),
        AlignPseudotimeOutputs(pseudotime=paths["pseudotime"], accuracy=paths["accuracy"]),
        **identity,
    )
    return paths


def test_streamed_trajectories_equal_the_in_memory_ones(stores, monkeypatch, tmp_path):
    """The stage, the store read by blocks of 7 rows and never whole, draws the PCs along pseudo-time
    (same signs), their variance fractions and the caption of the in-memory path (scikit-learn's
    PCA of the z-scored features of ``read_embeddings``, what the stage drew before it streamed)."""
    pseudotime = pd.read_parquet(stores["pseudotime"])
    adata = read_embeddings(stores["embeddings"])
    components, expected_variance = principal_components(representation_matrix(adata, "features"), 3)
    cells = cell_table(adata)
    cells = cells[CELL_KEYS + (["row"] if "row" in cells.columns else [])].copy()
    for k in range(components.shape[1]):
        cells[f"pc{k + 1}"] = components[:, k]
    expected_frames = aligned_frames(pseudotime, cells)
    expected_figure, expected_caption = plot_aligned_trajectories(
        expected_frames, expected_variance, None, event="infection onset", label="planted, demo"
    )
    assert len(expected_frames) > 50

    opened: list[MatrixBlocks] = []
    drawn: list[tuple[pd.DataFrame, np.ndarray]] = []
    saved: list[tuple[Figure, str]] = []
    save, plot = figures_stage._save, figures_stage.plot_aligned_trajectories

    def small_blocks(path, representation):
        blocks = open_representation(path, representation, block_rows=BLOCK_ROWS)
        opened.append(blocks)
        return blocks

    def never(*args, **kwargs):
        raise AssertionError("aligned_trajectories_figure read the embeddings store whole")

    def recording_plot(frames, variance, *args, **kwargs):
        drawn.append((frames, variance))
        return plot(frames, variance, *args, **kwargs)

    def recording_save(figure: Figure, caption: str, *paths: Path) -> str:
        saved.append((figure, caption))
        return save(figure, caption, *paths)

    monkeypatch.setattr("dynaclr.figures.stage.open_representation", small_blocks)
    monkeypatch.setattr("dynaclr.figures.stage.read_embeddings", never, raising=False)
    monkeypatch.setattr("dynaclr.embeddings.read_embeddings", never)
    monkeypatch.setattr("dynaclr.embeddings.store.read_embeddings", never)
    monkeypatch.setattr("anndata.read_zarr", never)
    monkeypatch.setattr("dynaclr.figures.stage.plot_aligned_trajectories", recording_plot)
    monkeypatch.setattr("dynaclr.figures.stage._save", recording_save)
    outputs = AlignedTrajectoriesOutputs(
        trajectories_png=tmp_path / "aligned_trajectories.png",
        trajectories_svg=tmp_path / "aligned_trajectories.svg",
    )
    inputs = AlignedTrajectoriesInputs(pseudotime=stores["pseudotime"], embeddings=stores["embeddings"])
    aligned_trajectories_figure(inputs, outputs, model="planted", dataset="demo")
    assert all(path.stat().st_size > 0 for path in outputs.model_dump().values())

    assert [blocks.block_rows for blocks in opened] == [BLOCK_ROWS]
    assert opened[0].n_blocks == -(-len(adata) // BLOCK_ROWS) > 2
    [(frames, variance)] = drawn
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-10)
    pcs = ["pc1", "pc2", "pc3"]
    pd.testing.assert_frame_equal(
        frames.drop(columns=pcs), expected_frames.drop(columns=pcs), check_exact=True
    )
    pd.testing.assert_frame_equal(frames[pcs], expected_frames[pcs], rtol=1e-9, atol=1e-9)
    assert ("row" in frames.columns) == ("row" in adata.obs.columns)
    [(figure, caption)] = saved
    picked = f"Reference picked by: {STATE_FROM_GROUND_TRUTH}; no true infection onset is drawn."
    # the lineages whose own state never reaches the onset are counted after it (branch dtwnone)
    queries = pseudotime.drop_duplicates(["fov_name", "query_id"])
    never = never_reached_statement(
        queries[~queries["is_reference_series"].astype(bool)], "infection onset", STATE_FROM_GROUND_TRUTH
    )
    assert " aligned lineages never reach the infection onset by " in never  # mock-well lineages planted
    counted = f"{never[0].upper()}{never[1:]} (drawn all the same; state_reaches_event of dtw_accuracy.csv)."
    assert caption == f"{expected_caption} {picked} {counted}"
    assert_same_drawing(figure, expected_figure, rtol=1e-9, atol=1e-9)
