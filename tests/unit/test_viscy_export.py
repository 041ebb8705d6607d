"""The VisCy features store (exports.viscy_features), read back the way VisCy and napari-iohub do.

The readers re-implemented here (xarray is what both use) are, for the facts only:

* VisCy's ``read_embedding_dataset`` (``viscy/representation/embedding_writer.py``; current VisCy
  ``viscy_utils/callbacks/embedding_writer.py``): ``xarray.open_zarr(path)``, then
  ``set_index(sample=<those of fov_name, track_id, t, id, parent_track_id, parent_id, z, y, x
  present as coordinates>)``; analyses take ``ds["features"].values`` and
  ``ds["sample"].to_dataframe()``;
* napari-iohub's ``_view_tracks._load_features(path, fov_name)``: ``open_zarr(path)``,
  ``set_index(sample=["fov_name", "track_id", "t", <UMAP1, UMAP2, PHATE1, PHATE2 in ds>])``,
  ``.sel(fov_name=fov_name)["sample"].to_dataframe()``, columns renamed ``label``, ``frame``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dynaclr.embeddings.projections import projections_anndata, write_projections
from dynaclr.embeddings.store import write_embeddings
from dynaclr.exports.embeddings import ExportEmbeddingsInputs, ExportEmbeddingsOutputs, export_embeddings
from dynaclr.exports.viscy import VISCY_INDEX_COLUMNS, viscy_index
from dynaclr.io import ArtifactKind, make_provenance, read_zarr_provenance, write_table

#: Tracks of two FOVs: in A/1/0 track 1 (t 0-2) divides into 2 and 3 at t 3; in B/1/0 track 1 (t 0-1).
#: ``id`` as ultrack numbers nodes, ``parent_id`` the previous detection (a daughter's: the mother's last).
TRACKS = pd.DataFrame(
    [
        ("A/1/0", 1, 0, 10.0, 11.0, 101, -1, -1),
        ("A/1/0", 1, 1, 10.5, 11.5, 102, -1, 101),
        ("A/1/0", 1, 2, 11.0, 12.0, 103, -1, 102),
        ("A/1/0", 2, 3, 5.0, 6.0, 104, 1, 103),
        ("A/1/0", 3, 3, 20.0, 21.0, 105, 1, 103),
        ("B/1/0", 1, 0, 7.0, 8.0, 101, -1, -1),
        ("B/1/0", 1, 1, 7.5, 8.5, 102, -1, 101),
    ],
    columns=["fov_name", "track_id", "t", "y", "x", "id", "parent_track_id", "parent_id"],
)


def _store(tmp_path: Path, rows: pd.DataFrame, head: bool = True) -> tuple[Path, np.ndarray, np.ndarray]:
    """An embeddings store of ``rows`` (shuffled against the tracks) with 4 features, 3 projections."""
    obs = rows[["fov_name", "track_id", "t", "parent_track_id", "y", "x"]].reset_index(drop=True)
    obs = obs.assign(well=obs["fov_name"].str.rsplit("/", n=1).str[0], lineage_id=obs["track_id"])
    features = np.arange(len(obs) * 4, dtype=np.float32).reshape(len(obs), 4) / 7
    projections = -np.arange(len(obs) * 3, dtype=np.float32).reshape(len(obs), 3)
    adata = ad.AnnData(X=features, obs=obs.set_axis([str(i) for i in range(len(obs))]))
    if head:
        adata.obsm["X_projections"] = projections
    store = tmp_path / "embeddings" / "m" / "d.zarr"
    write_embeddings(adata, store, make_provenance(ArtifactKind.EMBEDDINGS, {"model": "m"}))
    return store, features, projections


def _tracks(tmp_path: Path, tracks: pd.DataFrame = TRACKS) -> Path:
    path = tmp_path / "d" / "tracks.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(tracks, path, make_provenance(ArtifactKind.TRACKS, {}))
    return path


def _projections(tmp_path: Path, store: Path, obs: pd.DataFrame) -> tuple[Path, np.ndarray, np.ndarray]:
    pca = np.linspace(0, 1, len(obs) * 2, dtype=np.float32).reshape(len(obs), 2)
    umap = np.linspace(5, 9, len(obs) * 2, dtype=np.float32).reshape(len(obs), 2)
    adata = projections_anndata(obs, {"pca": (pca, {"variance_ratio": [0.6, 0.3]}), "umap": (umap, {})})
    path = store.with_name("d.projections.zarr")
    write_projections(adata, path, make_provenance(ArtifactKind.PROJECTIONS, {}))
    return path, pca, umap


def sample_frame(sample: xr.DataArray) -> pd.DataFrame:
    """``sample.to_dataframe().reset_index(drop=True)`` as VisCy's and napari-iohub's xarray gave
    it: the multi-index levels as columns. The xarray of this environment (2026.9) returns them
    as the frame's index instead, so they are moved back to columns here."""
    frame = sample.to_dataframe()
    return frame.drop(columns="sample").reset_index()


def read_embedding_dataset(path: Path) -> xr.Dataset:
    """VisCy's reader: open_zarr, then the index columns present become the ``sample`` multi-index."""
    dataset = xr.open_zarr(path)
    return dataset.set_index(sample=[c for c in VISCY_INDEX_COLUMNS if c in dataset.coords])


def napari_iohub_load_features(path: Path, fov_name: str) -> pd.DataFrame:
    """napari-iohub's ``_load_features``: one FOV's track_id, t and UMAP/PHATE components."""
    dataset = xr.open_zarr(path)
    coords = ["fov_name", "track_id", "t"] + [
        c for c in ("UMAP1", "UMAP2", "PHATE1", "PHATE2") if c in dataset
    ]
    dataset = dataset.set_index(sample=coords)
    return sample_frame(dataset.sel(fov_name=fov_name)["sample"])[coords[1:]].rename(
        columns={"track_id": "label", "t": "frame"}
    )


def test_the_viscy_store_reads_back_as_viscy_and_napari_iohub_read_it(tmp_path: Path):
    rows = TRACKS.iloc[[3, 0, 5, 4, 1, 6, 2]]  # another order than the tracks table
    store, features, projections = _store(tmp_path, rows)
    projections_path, pca, umap = _projections(tmp_path, store, ad.read_zarr(store).obs)
    out = tmp_path / "exports" / "m" / "d.viscy.zarr"
    export_embeddings(
        ExportEmbeddingsInputs(embeddings=store, tracks=_tracks(tmp_path), projections=projections_path),
        ExportEmbeddingsOutputs(viscy=out),
    )
    assert (out / ".zgroup").exists() and (out / ".zmetadata").exists()  # zarr format 2, consolidated

    dataset = read_embedding_dataset(out)
    # a 2-D variable named after its own dimension comes back among the coordinates, as VisCy's
    # own stores do (its converter looks for "projections" in ds.coords); ds["features"] reads it
    assert {"features", "projections"} <= set(dataset.variables)
    assert dataset["features"].dims == ("sample", "features") and dataset["features"].dtype == np.float32
    assert dataset["projections"].dims == ("sample", "projections")
    np.testing.assert_array_equal(dataset["features"].values, features)
    np.testing.assert_array_equal(dataset["projections"].values, projections)
    index = sample_frame(dataset["sample"])
    expected = rows.reset_index(drop=True)
    assert list(dataset.indexes["sample"].names) == [c for c in VISCY_INDEX_COLUMNS if c != "z"]
    assert list(index["fov_name"]) == ["/" + f for f in expected["fov_name"]]
    for column in ("track_id", "t", "id", "parent_track_id", "parent_id"):
        assert index[column].dtype == np.int64, column
        assert list(index[column]) == list(expected[column]), column
    np.testing.assert_array_equal(index[["y", "x"]].to_numpy(), expected[["y", "x"]].to_numpy())
    assert "z" not in index.columns  # 2D tracks: no z, as ultrack writes them

    # selecting one cell through the multi-index, as VisCy's analyses do
    cell = dataset.sel(fov_name="/A/1/0", track_id=3, t=3)
    np.testing.assert_array_equal(cell["features"].values.reshape(-1), features[3])

    # PCA and UMAP components, one coordinate each (VisCy's UMAP1, UMAP2 ...)
    raw = xr.open_zarr(out)
    np.testing.assert_array_equal(np.column_stack([raw["PCA1"].values, raw["PCA2"].values]), pca)
    np.testing.assert_array_equal(np.column_stack([raw["UMAP1"].values, raw["UMAP2"].values]), umap)
    assert "PHATE1" not in raw

    table = napari_iohub_load_features(out, "/A/1/0")
    assert list(table.columns) == ["label", "frame", "UMAP1", "UMAP2"]
    in_a = (expected["fov_name"] == "A/1/0").to_numpy()
    assert list(table["label"]) == list(expected.loc[in_a, "track_id"])
    assert list(table["frame"]) == list(expected.loc[in_a, "t"])
    np.testing.assert_array_equal(table[["UMAP1", "UMAP2"]].to_numpy(), umap[in_a])

    provenance = read_zarr_provenance(out, ArtifactKind.VISCY_FEATURES)
    assert [record.kind for record in provenance.inputs] == ["embeddings", "tracks", "projections"]


def test_3d_tracks_give_z_and_a_model_without_a_head_no_projections(tmp_path: Path):
    tracks = TRACKS.assign(z=[3.0, 3.2, 4.0, 4.0, 2.0, 1.0, 1.0])
    store, features, _ = _store(tmp_path, tracks, head=False)
    out = tmp_path / "d.viscy.zarr"
    export_embeddings(
        ExportEmbeddingsInputs(embeddings=store, tracks=_tracks(tmp_path, tracks)),
        ExportEmbeddingsOutputs(viscy=out),
    )
    dataset = read_embedding_dataset(out)
    assert "features" in dataset.variables and "projections" not in dataset.variables
    np.testing.assert_array_equal(dataset["features"].values, features)
    index = sample_frame(dataset["sample"])
    assert list(dataset.indexes["sample"].names) == list(VISCY_INDEX_COLUMNS)
    assert list(index["z"]) == [3, 3, 4, 4, 2, 1, 1] and index["z"].dtype == np.int64


def test_cells_missing_from_the_tracks_get_minus_one_and_a_warning(caplog: pytest.LogCaptureFixture):
    obs = pd.DataFrame({"fov_name": ["A/1/0", "A/1/0"], "track_id": [1, 9], "t": [1, 0]})
    with caplog.at_level(logging.WARNING):
        index = viscy_index(obs, TRACKS)
    assert list(index["id"]) == [102, -1] and list(index["parent_id"]) == [101, -1]
    assert list(index["parent_track_id"]) == [-1, -1]
    assert "1 of 2 cells are not in the tracks table" in caplog.text


def test_the_store_records_how_many_cells_the_tracks_table_lacked(tmp_path: Path):
    extra = pd.DataFrame(
        [("B/1/0", 7, 4, 1.0, 2.0, 0, -1, -1)], columns=TRACKS.columns
    )  # a cell of a track the tracks table does not have
    counts = {}
    for name, rows in (("all", TRACKS), ("extra", pd.concat([TRACKS, extra], ignore_index=True))):
        store, _, _ = _store(tmp_path / name, rows)
        out = tmp_path / name / "out.viscy.zarr"
        export_embeddings(
            ExportEmbeddingsInputs(embeddings=store, tracks=_tracks(tmp_path / name)),
            ExportEmbeddingsOutputs(viscy=out),
        )
        dataset = xr.open_zarr(out)
        counts[name] = dataset.attrs["cells_not_in_tracks"]
        assert dataset.sizes["sample"] == len(rows)
    assert counts == {"all": 0, "extra": 1}


def test_the_export_needs_the_tracks_table(tmp_path: Path):
    store, _, _ = _store(tmp_path, TRACKS)
    with pytest.raises(ValueError, match="tracks"):
        export_embeddings(
            ExportEmbeddingsInputs(embeddings=store), ExportEmbeddingsOutputs(viscy=tmp_path / "o.zarr")
        )
