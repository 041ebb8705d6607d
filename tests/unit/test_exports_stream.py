"""Rule ``export_embeddings`` copies its store a block of rows at a time: the same files as whole.

Each export of a store read by blocks of :data:`BLOCK_ROWS` rows is compared with what the
in-memory path (``read_embeddings``, then anndata's, pyarrow's or xarray's writer of the whole
AnnData, table or Dataset) writes: the same values, dtypes, columns, metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

from dynaclr.embeddings import (
    build_anndata,
    open_embeddings,
    open_representation,
    read_embeddings,
    write_embeddings,
)
from dynaclr.embeddings.blocks import MatrixBlocks
from dynaclr.embeddings.projections import projections_anndata, write_projections
from dynaclr.exports.embeddings import (
    ExportEmbeddingsInputs,
    ExportEmbeddingsOutputs,
    export_embeddings,
    feature_table,
)
from dynaclr.exports.viscy import projection_coordinates, viscy_dataset, viscy_index
from dynaclr.io import ArtifactKind, make_provenance, read_table, write_table

#: Rows per block of the streamed exports: the 45 cells make 7 blocks, the last of 3 rows.
BLOCK_ROWS = 7
N_FOVS, N_TRACKS, N_FRAMES = 3, 3, 5


def _cells() -> pd.DataFrame:
    """45 cells: 3 FOVs x 3 tracks x 5 frames, in an order other than the tracks table's."""
    rows = [
        (f"{row}/1/0", track, t, -1 if track < 3 else 1, 2.0 * t + track, 3.5 * track, f"{row}/1", track)
        for row in "ABC"[:N_FOVS]
        for track in range(1, N_TRACKS + 1)
        for t in range(N_FRAMES)
    ]
    columns = ["fov_name", "track_id", "t", "parent_track_id", "y", "x", "well", "lineage_id"]
    cells = pd.DataFrame(rows, columns=columns)
    cells["condition"] = pd.Series(
        np.nan, index=cells.index, dtype=pd.StringDtype(na_value=np.nan)
    )  # none configured
    order = np.random.default_rng(0).permutation(len(cells))
    return cells.iloc[order].reset_index(drop=True)


def _tracks(cells: pd.DataFrame) -> pd.DataFrame:
    """The tracker's table of ``cells``, node ids numbered per track and frame, less one cell."""
    tracks = cells.sort_values(["fov_name", "track_id", "t"]).reset_index(drop=True)
    tracks = tracks[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]].copy()
    tracks["id"] = np.arange(len(tracks), dtype=np.int64) + 100
    previous = tracks.groupby(["fov_name", "track_id"])["id"].shift(1)
    tracks["parent_id"] = previous.fillna(-1).astype("int64")
    return tracks.iloc[1:].reset_index(drop=True)  # a cell the tracks table lacks


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An encoder's store (``X`` of 6 columns, projections of 5) with its tracks and projections
    stores, and an engineered-features store (z-scored ``X`` of 4 columns, ``layers['raw']``)."""
    root = tmp_path_factory.mktemp("exports_stream")
    cells = _cells()
    rng = np.random.default_rng(1)
    features = rng.normal(size=(len(cells), 6)).astype(np.float32)
    info = {"model": "m", "dataset": "d"}
    encoder = build_anndata(
        features,
        cells,
        projections=rng.normal(size=(len(cells), 5)).astype(np.float32),
        info={**info, "kind": "encoder"},
    )
    raw = rng.uniform(0, 100, size=(len(cells), 4)).astype(np.float32)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    engineered = build_anndata(
        (raw - mean) / std, cells, raw=raw, raw_mean=mean, raw_std=std, info={**info, "kind": "engineered"}
    )
    paths = {"encoder": root / "m" / "d.zarr", "engineered": root / "engineered" / "d.zarr"}
    for name, adata in (("encoder", encoder), ("engineered", engineered)):
        write_embeddings(adata, paths[name], make_provenance(ArtifactKind.EMBEDDINGS, info))
    paths["tracks"] = root / "d" / "tracks.parquet"
    paths["tracks"].parent.mkdir(parents=True)
    write_table(_tracks(cells), paths["tracks"], make_provenance(ArtifactKind.TRACKS, {}))
    n = len(cells)
    pca = np.linspace(0, 1, n * 2, dtype=np.float32).reshape(n, 2)
    umap = np.linspace(5, 9, n * 2, dtype=np.float32).reshape(n, 2)
    projections = projections_anndata(
        read_embeddings(paths["encoder"]).obs,
        {"pca": (pca, {"variance_ratio": [0.6, 0.3]}), "umap": (umap, {})},
    )
    paths["projections"] = root / "m" / "d.projections.zarr"
    write_projections(projections, paths["projections"], make_provenance(ArtifactKind.PROJECTIONS, {}))
    return paths


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> list[MatrixBlocks]:
    """The exports read their stores :data:`BLOCK_ROWS` rows at a time; the matrices they opened."""
    opened: list[MatrixBlocks] = []

    def open_small(path: Path) -> tuple[ad.AnnData, dict[str, MatrixBlocks]]:
        adata, matrices = open_embeddings(path, block_rows=BLOCK_ROWS)
        opened.extend(matrices.values())
        return adata, matrices

    def open_small_representation(path: Path, representation: str) -> MatrixBlocks:
        blocks = open_representation(path, representation, block_rows=BLOCK_ROWS)
        opened.append(blocks)
        return blocks

    for module in ("dynaclr.exports.embeddings", "dynaclr.exports.viscy"):
        monkeypatch.setattr(f"{module}.open_embeddings", open_small)
    monkeypatch.setattr("dynaclr.exports.embeddings.open_representation", open_small_representation)
    return opened


def _export(stores: dict[str, Path], name: str, out: Path, viscy: bool = True) -> ExportEmbeddingsOutputs:
    outputs = ExportEmbeddingsOutputs(
        h5ad=out / "d.h5ad", parquet=out / "d.parquet", viscy=out / "d.viscy.zarr" if viscy else None
    )
    inputs = ExportEmbeddingsInputs(
        embeddings=stores[name],
        tracks=stores["tracks"] if viscy else None,
        projections=stores["projections"] if viscy else None,
    )
    export_embeddings(inputs, outputs)
    return outputs


def _layers(adata: ad.AnnData) -> dict[str, Any]:
    """The layers other than ``X`` (anndata 0.13 lists ``X`` as the layer None)."""
    return {key: value for key, value in adata.layers.items() if key is not None}


@pytest.mark.parametrize("name", ["encoder", "engineered"])
def test_the_streamed_h5ad_reads_back_as_the_whole_anndata_written(
    stores: dict[str, Path], name: str, tmp_path: Path, small_blocks: list[MatrixBlocks]
):
    outputs = _export(stores, name, tmp_path / "streamed", viscy=False)
    assert small_blocks and all(blocks.block_rows == BLOCK_ROWS for blocks in small_blocks)
    whole = read_embeddings(stores[name])
    whole.write_h5ad(tmp_path / "whole.h5ad")  # the in-memory path
    expected, streamed = ad.read_h5ad(tmp_path / "whole.h5ad"), ad.read_h5ad(outputs.h5ad)
    assert streamed.X.dtype == expected.X.dtype == np.float32
    np.testing.assert_array_equal(streamed.X, expected.X)
    pd.testing.assert_frame_equal(streamed.obs, expected.obs)
    pd.testing.assert_frame_equal(streamed.var, expected.var)
    assert list(streamed.obsm) == list(expected.obsm) == (["X_projections"] if name == "encoder" else [])
    layers = [_layers(streamed), _layers(expected)]
    assert list(layers[0]) == list(layers[1]) == (["raw"] if name == "engineered" else [])
    for ours, theirs in [(streamed.obsm, expected.obsm), (layers[0], layers[1])]:
        for key in theirs:
            assert ours[key].dtype == theirs[key].dtype
            np.testing.assert_array_equal(ours[key], theirs[key])
    assert streamed.uns["dynaclr"] == expected.uns["dynaclr"] == {"model": "m", "dataset": "d", "kind": name}


def test_the_streamed_parquet_is_the_whole_table_a_row_group_per_block(
    stores: dict[str, Path], tmp_path: Path, small_blocks: list[MatrixBlocks]
):
    outputs = _export(stores, "encoder", tmp_path / "streamed", viscy=False)
    adata = read_embeddings(stores["encoder"])
    record = make_provenance(ArtifactKind.EMBEDDINGS_TABLE, {"features": "X"}, [])
    write_table(feature_table(adata.obs, np.asarray(adata.X)), tmp_path / "whole.parquet", record)
    expected, streamed = pq.ParquetFile(tmp_path / "whole.parquet"), pq.ParquetFile(outputs.parquet)
    assert streamed.metadata.num_row_groups == -(-adata.n_obs // BLOCK_ROWS)
    assert streamed.schema_arrow.equals(expected.schema_arrow, check_metadata=False)
    ours, theirs = streamed.schema_arrow.metadata, expected.schema_arrow.metadata
    assert list(ours) == list(theirs) == [b"pandas", b"dynaclr"]
    assert ours[b"pandas"] == theirs[b"pandas"]
    assert pq.read_table(outputs.parquet).equals(pq.read_table(tmp_path / "whole.parquet"))
    table, provenance = read_table(outputs.parquet, ArtifactKind.EMBEDDINGS_TABLE)
    pd.testing.assert_frame_equal(
        table, read_table(tmp_path / "whole.parquet", ArtifactKind.EMBEDDINGS_TABLE)[0]
    )
    assert table["condition"].isna().all() and table["feature_0"].dtype == np.float32
    assert [record.kind for record in provenance.inputs] == ["embeddings"]


def test_the_streamed_viscy_store_is_the_whole_dataset_written(
    stores: dict[str, Path], tmp_path: Path, small_blocks: list[MatrixBlocks]
):
    outputs = _export(stores, "encoder", tmp_path / "streamed")
    assert outputs.viscy is not None
    adata = read_embeddings(stores["encoder"])
    tracks, _ = read_table(stores["tracks"], ArtifactKind.TRACKS)
    index = viscy_index(adata.obs, tracks)
    coordinates, _ = projection_coordinates(stores["projections"], adata.obs)
    streamed = xr.open_zarr(outputs.viscy)
    whole = viscy_dataset(  # the in-memory path, with the streamed store's attributes
        index, np.asarray(adata.X), np.asarray(adata.obsm["X_projections"]), coordinates, streamed.attrs
    )
    whole.to_zarr(tmp_path / "whole.viscy.zarr", mode="w", zarr_format=2, consolidated=True)
    expected = xr.open_zarr(tmp_path / "whole.viscy.zarr")
    assert streamed.attrs["cells_not_in_tracks"] == 1
    assert [record["kind"] for record in streamed.attrs["dynaclr"]["inputs"]] == [
        "embeddings",
        "tracks",
        "projections",
    ]
    xr.testing.assert_identical(streamed.load(), expected.load())
    assert list(streamed.variables) == list(expected.variables)
    for name in ("features", "projections", "fov_name", "PCA1"):
        ours = json.loads((outputs.viscy / name / ".zarray").read_text())
        theirs = json.loads((tmp_path / "whole.viscy.zarr" / name / ".zarray").read_text())
        assert ours == theirs, name  # dtype, chunks, fill value, compressor
    root_attrs = [
        json.loads((path / ".zattrs").read_text()) for path in (outputs.viscy, tmp_path / "whole.viscy.zarr")
    ]
    assert root_attrs[0]["coordinates"] == root_attrs[1]["coordinates"]


def test_the_exports_read_the_matrices_by_blocks_only(stores: dict[str, Path], tmp_path: Path, small_blocks):
    """Every matrix the exports read is read :data:`BLOCK_ROWS` rows at a time: X and the head's
    output for the VisCy store and the .h5ad, X for the Parquet table."""
    _export(stores, "encoder", tmp_path)
    assert sorted((blocks.shape, blocks.block_rows) for blocks in small_blocks) == sorted(
        [((45, 6), BLOCK_ROWS)] * 3 + [((45, 5), BLOCK_ROWS)] * 2
    )
    assert all(blocks.n_blocks == 7 for blocks in small_blocks)


def test_the_export_of_an_empty_store_keeps_its_columns(tmp_path: Path):
    cells = _cells().iloc[:0]
    store = tmp_path / "empty.zarr"
    write_embeddings(
        build_anndata(np.zeros((0, 3), dtype=np.float32), cells),
        store,
        make_provenance(ArtifactKind.EMBEDDINGS, {"model": "m", "dataset": "d"}),
    )
    outputs = ExportEmbeddingsOutputs(h5ad=tmp_path / "d.h5ad", parquet=tmp_path / "d.parquet")
    export_embeddings(ExportEmbeddingsInputs(embeddings=store), outputs)
    assert ad.read_h5ad(outputs.h5ad).shape == (0, 3)
    table, _ = read_table(outputs.parquet, ArtifactKind.EMBEDDINGS_TABLE)
    assert list(table.columns) == [*cells.columns, "feature_0", "feature_1", "feature_2"] and table.empty
