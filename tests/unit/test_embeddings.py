"""Embedding inference (streamed, resumable), the embeddings artifact and projections."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import zarr
from torch import nn

from dynaclr.contrastive import center_crop
from dynaclr.embeddings import (
    RAW_LAYER,
    RAW_STD_COLUMN,
    build_anndata,
    compute_projections,
    embed_patches,
    ground_truth_patch_store,
    partial_store_path,
    read_embeddings,
    read_embeddings_provenance,
    representation_matrix,
    write_embeddings,
)
from dynaclr.io import ArtifactError, make_provenance, read_table, write_zarr_provenance
from dynaclr.io.provenance import PROVENANCE_KEY

BATCH = 32


class TinyEncoder(nn.Module):
    """(B, C, Z, Y, X) → (features (B, 8), projections (B, 3)); counts forward calls.

    With ``fail_after=k`` the (k+1)-th call raises, as a job killed mid-way.
    """

    def __init__(self, in_channels: int = 4, seed: int = 0, fail_after: int | None = None) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv3d(in_channels, 8, kernel_size=3)
        self.head = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        self.calls = 0
        self.fail_after = fail_after

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.calls == self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        features = self.conv(x).mean(dim=(2, 3, 4))
        return features, self.head(features)


@pytest.fixture(scope="module")
def patch_store(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("patches")
    array, index = ground_truth_patch_store(
        tiny_plate["plate"],
        tiny_plate["tracks"],
        root / "gt.zarr",
        root / "gt.parquet",
        patch_size_yx=(32, 32),
    )
    return {"array_path": root / "gt.zarr", "index_path": root / "gt.parquet", "array": array, "index": index}


def test_ground_truth_patch_store_is_row_aligned_with_truth(tiny_plate, patch_store):
    truth = pd.read_parquet(tiny_plate["tracks"])
    index, array = patch_store["index"], patch_store["array"]
    assert array.shape == (len(truth), 4, 5, 32, 32)
    assert array.dtype == np.float32
    assert list(index.columns) == [
        "fov_name",
        "track_id",
        "lineage_id",
        "parent_track_id",
        "t",
        "y",
        "x",
        "well",
        "condition",
        "border_fraction",
    ]
    assert not index.duplicated(["fov_name", "track_id", "t"]).any()
    assert index["border_fraction"].between(0, 1).all()
    stored, prov = read_table(patch_store["index_path"], "patch_index")
    pd.testing.assert_frame_equal(stored, index)
    assert prov.inputs[0].kind == "ground_truth_tracks"


def _expected(
    encoder: nn.Module, patches: np.ndarray, crop: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    encoder.eval()
    with torch.inference_mode():
        features, projections = encoder(center_crop(torch.from_numpy(patches), crop))
    return features.numpy(), projections.numpy()


def test_embed_patches_writes_features_projections_and_index(patch_store, tmp_path):
    encoder = TinyEncoder()
    output = tmp_path / "embeddings" / "tiny" / "demo.zarr"
    embed_patches(
        encoder,
        patch_store["array_path"],
        patch_store["index"],
        output,
        batch_size=BATCH,
        device="cpu",
        crop_size_yx=(24, 24),
        provenance_config={"batch_size": BATCH},
        inputs=[patch_store["array_path"]],
        info={"model": "tiny", "dataset": "demo"},
        show_progress=False,
    )
    adata = read_embeddings(output)
    features, projections = _expected(TinyEncoder(), np.asarray(patch_store["array"][:]), (24, 24))
    np.testing.assert_allclose(adata.X, features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(adata.obsm["X_projections"], projections, rtol=1e-5, atol=1e-6)
    assert adata.X.dtype == np.float32
    pd.testing.assert_frame_equal(
        adata.obs.reset_index(drop=True), patch_store["index"].reset_index(drop=True), check_dtype=False
    )
    assert adata.obs["fov_name"].dtype != "category"
    assert adata.uns["dynaclr"]["model"] == "tiny"
    prov = read_embeddings_provenance(output)
    assert prov.kind == "embeddings" and prov.config == {"batch_size": BATCH}
    assert not partial_store_path(output).exists()
    assert encoder.calls == math.ceil(len(patch_store["index"]) / BATCH)


def test_interrupted_embedding_resumes_from_the_last_complete_batch(patch_store, tmp_path):
    output = tmp_path / "demo.zarr"
    n_batches = math.ceil(len(patch_store["index"]) / BATCH)
    k = 3
    args = (patch_store["array_path"], patch_store["index"], output)
    with pytest.raises(KeyboardInterrupt):
        embed_patches(TinyEncoder(fail_after=k), *args, batch_size=BATCH, device="cpu", show_progress=False)
    assert not output.exists()
    partial = zarr.open_group(str(partial_store_path(output)), mode="r")
    assert partial.attrs["rows_done"] == k * BATCH
    resumed = TinyEncoder()
    embed_patches(resumed, *args, batch_size=BATCH, device="cpu", show_progress=False)
    assert resumed.calls == n_batches - k  # only the missing batches were encoded

    fresh = TinyEncoder()
    reference = tmp_path / "reference.zarr"
    embed_patches(fresh, args[0], args[1], reference, batch_size=BATCH, device="cpu", show_progress=False)
    assert fresh.calls == n_batches
    np.testing.assert_array_equal(read_embeddings(output).X, read_embeddings(reference).X)
    np.testing.assert_array_equal(
        read_embeddings(output).obsm["X_projections"], read_embeddings(reference).obsm["X_projections"]
    )


def test_partial_store_of_other_weights_is_discarded(patch_store, tmp_path):
    output = tmp_path / "demo.zarr"
    args = (patch_store["array_path"], patch_store["index"], output)
    with pytest.raises(KeyboardInterrupt):
        embed_patches(TinyEncoder(seed=1, fail_after=2), *args, batch_size=BATCH, show_progress=False)
    other = TinyEncoder(seed=2)
    embed_patches(other, *args, batch_size=BATCH, show_progress=False)
    assert other.calls == math.ceil(len(patch_store["index"]) / BATCH)  # started again
    features, _ = _expected(TinyEncoder(seed=2), np.asarray(patch_store["array"][:]), (32, 32))
    np.testing.assert_allclose(read_embeddings(output).X, features, rtol=1e-5, atol=1e-6)


def test_embed_patches_rejects_misaligned_inputs(patch_store, tmp_path):
    index = patch_store["index"]
    with pytest.raises(ValueError, match="row-aligned"):
        embed_patches(TinyEncoder(), patch_store["array_path"], index.iloc[:-1], tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="crop_size_yx"):
        embed_patches(
            TinyEncoder(), patch_store["array_path"], index, tmp_path / "x.zarr", crop_size_yx=(64, 64)
        )
    with pytest.raises(ValueError, match="track_id"):
        embed_patches(
            TinyEncoder(), patch_store["array_path"], index.drop(columns="track_id"), tmp_path / "x.zarr"
        )
    with pytest.raises(FileNotFoundError):
        embed_patches(TinyEncoder(), tmp_path / "missing.zarr", index, tmp_path / "x.zarr")


def test_read_embeddings_checks_provenance(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        read_embeddings(tmp_path / "missing.zarr")
    group = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    group.attrs["x"] = 1
    write_zarr_provenance(tmp_path / "other.zarr", make_provenance("patches", {}))
    with pytest.raises(ArtifactError, match="expected an artifact of kind 'embeddings'"):
        read_embeddings(tmp_path / "other.zarr")


def test_read_embeddings_refuses_schema_1_stores(tmp_path):
    """Schema 1 kept engineered features raw in X (z-scored in obsm['X_standardized']): refused."""
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 3, "track_id": [1, 1, 1], "t": [0, 1, 2]})
    path = tmp_path / "old.zarr"
    write_embeddings(build_anndata(np.ones((3, 2)), index), path, make_provenance("embeddings", {}))
    read_embeddings(path)
    old = json.loads(read_embeddings_provenance(path).model_dump_json())
    old["schema_version"] = 1
    zarr.open_group(str(path), mode="r+").attrs[PROVENANCE_KEY] = old
    with pytest.raises(ArtifactError, match=r"schema version 1 .* `snakemake --forcerun embed`"):
        read_embeddings(path)


def test_representation_matrix_reads_x_for_features(tmp_path):
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 3, "track_id": [1, 1, 1], "t": [0, 1, 2]})
    features = np.arange(6.0).reshape(3, 2)
    learned = build_anndata(features, index, projections=np.ones((3, 4)))
    np.testing.assert_array_equal(representation_matrix(learned, "features"), features)
    np.testing.assert_array_equal(representation_matrix(learned, "projections"), np.ones((3, 4)))
    with pytest.raises(KeyError, match=r"'standardized'.*available: 'features', 'projections'"):
        representation_matrix(learned, "standardized")
    raw = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    z = np.array([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]) * np.array([1.5**0.5, 1.0])
    engineered = build_anndata(z, index, raw=raw, raw_mean=raw.mean(axis=0), raw_std=raw.std(axis=0))
    path = tmp_path / "engineered.zarr"
    write_embeddings(engineered, path, make_provenance("embeddings", {}))
    stored = read_embeddings(path)
    np.testing.assert_array_equal(stored.layers[RAW_LAYER], raw)
    np.testing.assert_allclose(stored.var[RAW_STD_COLUMN], raw.std(axis=0))
    for representation in ("features", "standardized"):
        np.testing.assert_allclose(representation_matrix(stored, representation), z, rtol=1e-6)
    with pytest.raises(KeyError, match="available: 'features', 'standardized'"):
        representation_matrix(stored, "projections")
    with pytest.raises(ValueError, match="raw_mean and raw_std"):
        build_anndata(z, index, raw=raw)


def test_compute_projections_pca_is_deterministic(patch_store, tmp_path):
    embeddings = tmp_path / "e.zarr"
    embed_patches(
        TinyEncoder(), patch_store["array_path"], patch_store["index"], embeddings, show_progress=False
    )
    first = compute_projections(embeddings, tmp_path / "p1.parquet", n_components=2, seed=3)
    second = compute_projections(embeddings, tmp_path / "p2.parquet", n_components=2, seed=3)
    pd.testing.assert_frame_equal(first, second)
    table, prov = read_table(
        tmp_path / "p1.parquet", "embeddings", ["fov_name", "track_id", "t", "pca_1", "pca_2"]
    )
    assert len(table) == len(patch_store["index"])
    assert table["pca_1"].var() >= table["pca_2"].var() > 0
    assert prov.inputs[0].kind == "embeddings"
    with pytest.raises(KeyError, match="standardized"):
        compute_projections(embeddings, tmp_path / "p3.parquet", representation="standardized")
    with pytest.raises(ValueError, match="n_components"):
        compute_projections(embeddings, tmp_path / "p4.parquet", n_components=100)
