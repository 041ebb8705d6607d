"""Embedding inference (streamed, resumable) and the embeddings artifact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import zarr
from conftest import build_patch_store
from torch import nn

from dynaclr.config.embeddings import EmbeddingConfig
from dynaclr.config.patches import PatchSpec
from dynaclr.contrastive import ContrastiveEncoder, center_crop
from dynaclr.embeddings import (
    RAW_LAYER,
    RAW_STD_COLUMN,
    build_anndata,
    encode_patches,
    read_embeddings,
    read_embeddings_provenance,
    representation_matrix,
    write_embeddings,
)
from dynaclr.embeddings.store import embeddings_shape, whole_store_memory_mb
from dynaclr.io import ArtifactError, make_provenance, write_zarr_provenance
from dynaclr.io.provenance import PROVENANCE_KEY
from dynaclr.patches import open_patch_store

#: Every raw channel of the tiny plate, every slice, 32 px: (N, 4, 5, 32, 32) patches.
SPEC = PatchSpec.model_validate(
    {
        "name": "all_raw",
        "channels": [
            {"source": "raw", "channel": name, "normalization": "median_p99"}
            for name in ("Brightfield", "Nuclei", "ViralSensor", "ERMarker")
        ],
        "patch_size_yx_px": 32,
    }
)
CONFIG = EmbeddingConfig(batch_size=32, device="cpu")

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
    out = tmp_path_factory.mktemp("patches")
    paths = build_patch_store({"raw": tiny_plate["plate"]}, tiny_plate["tracks"], SPEC, out)
    store = open_patch_store(paths["zarr"], paths["parquet"])
    return {"array": store.array, "index": store.index}


def encode(encoder: nn.Module, patch_store: dict, partial: Path, crop=None, patches_source=None, **overrides):
    config = CONFIG.model_copy(update=overrides)
    return encode_patches(
        encoder,
        patch_store["array"],
        patch_store["index"],
        config,
        crop_size_yx=crop,
        partial_path=partial,
        show_progress=False,
        patches_source=patches_source,
    )


def _expected(
    encoder: nn.Module, patches: np.ndarray, crop: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    encoder.eval()
    with torch.inference_mode():
        features, projections = encoder(center_crop(torch.from_numpy(patches.astype(np.float32)), crop))
    return features.numpy(), projections.numpy()


def test_encode_patches_equals_the_encoder_on_the_cropped_patches(patch_store, tmp_path):
    encoder = TinyEncoder()
    features, projections = encode(encoder, patch_store, tmp_path / "partial", crop=(24, 24))
    expected_features, expected_projections = _expected(
        TinyEncoder(), np.asarray(patch_store["array"][:]), (24, 24)
    )
    np.testing.assert_allclose(features, expected_features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(projections, expected_projections, rtol=1e-5, atol=1e-6)
    assert features.dtype == np.float32 and features.shape[0] == len(patch_store["index"])
    assert encoder.calls == math.ceil(len(patch_store["index"]) / BATCH)


def test_interrupted_encoding_resumes_from_the_last_complete_batch(patch_store, tmp_path):
    partial = tmp_path / "partial"
    n_batches = math.ceil(len(patch_store["index"]) / BATCH)
    k = 3
    with pytest.raises(KeyboardInterrupt):
        encode(TinyEncoder(fail_after=k), patch_store, partial)
    assert zarr.open_group(str(partial), mode="r").attrs["rows_done"] == k * BATCH
    resumed = TinyEncoder()
    features, projections = encode(resumed, patch_store, partial)
    assert resumed.calls == n_batches - k  # only the missing batches were encoded

    fresh = TinyEncoder()
    reference = encode(fresh, patch_store, tmp_path / "reference")
    assert fresh.calls == n_batches
    np.testing.assert_array_equal(features, reference[0])
    np.testing.assert_array_equal(projections, reference[1])


def test_partial_store_of_other_weights_is_discarded(patch_store, tmp_path):
    partial = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        encode(TinyEncoder(seed=1, fail_after=2), patch_store, partial)
    other = TinyEncoder(seed=2)
    features, _ = encode(other, patch_store, partial)
    assert other.calls == math.ceil(len(patch_store["index"]) / BATCH)  # started again
    whole = np.asarray(patch_store["array"][:])
    expected, _ = _expected(TinyEncoder(seed=2), whole, whole.shape[-2:])  # no crop: the stored patch
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)


def test_a_partial_store_of_other_patch_values_is_discarded_not_mixed(patch_store, tmp_path):
    """A job killed mid-way, then its patch store rebuilt with the same shape and cells (here: the
    spec's channels in another order): the retry resumed, its first rows embeddings of the old
    patches (exit 0). It now starts again and equals a fresh embedding of the new patches."""
    partial = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        encode(TinyEncoder(fail_after=2), patch_store, partial)
    rebuilt = {**patch_store, "array": np.ascontiguousarray(np.asarray(patch_store["array"][:])[:, ::-1])}
    again = TinyEncoder()
    features, projections = encode(again, rebuilt, partial)
    assert again.calls == math.ceil(len(patch_store["index"]) / BATCH)  # started again
    fresh = encode(TinyEncoder(), rebuilt, tmp_path / "fresh")
    np.testing.assert_array_equal(features, fresh[0])
    np.testing.assert_array_equal(projections, fresh[1])


def test_a_partial_store_of_another_patch_store_is_discarded(patch_store, tmp_path):
    """``patches_source`` (rule embed: the patch store's provenance) tells a rebuilt store apart
    whatever its values; the same source resumes."""
    partial = tmp_path / "partial"
    n_batches = math.ceil(len(patch_store["index"]) / BATCH)
    with pytest.raises(KeyboardInterrupt):
        encode(TinyEncoder(fail_after=2), patch_store, partial, patches_source="hash-a 2026-01-01")
    again = TinyEncoder()
    encode(again, patch_store, partial, patches_source="hash-a 2026-02-01")
    assert again.calls == n_batches  # another store: started again
    with pytest.raises(KeyboardInterrupt):
        encode(TinyEncoder(fail_after=2), patch_store, partial, patches_source="hash-b")
    resumed = TinyEncoder()
    encode(resumed, patch_store, partial, patches_source="hash-b")
    assert resumed.calls == n_batches - 2  # the same store: resumed


def test_a_partial_store_of_other_numerics_is_not_resumed(patch_store, tmp_path):
    """``device`` and ``bf16_autocast`` change the numbers: rows encoded on a GPU under bfloat16 are
    not joined to rows encoded on the CPU in float32 (the partial store records both)."""
    partial = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        encode(TinyEncoder(fail_after=2), patch_store, partial)
    group = zarr.open_group(str(partial), mode="r+")
    fingerprint = dict(group.attrs["fingerprint"])
    assert (fingerprint["device"], fingerprint["bf16_autocast"]) == ("cpu", False)
    group.attrs["fingerprint"] = {**fingerprint, "device": "cuda", "bf16_autocast": True}  # a GPU job's
    again = TinyEncoder()
    encode(again, patch_store, partial)
    assert again.calls == math.ceil(len(patch_store["index"]) / BATCH)


def test_no_resume_starts_again(patch_store, tmp_path):
    partial = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        encode(TinyEncoder(fail_after=2), patch_store, partial)
    again = TinyEncoder()
    encode(again, patch_store, partial, resume=False)
    assert again.calls == math.ceil(len(patch_store["index"]) / BATCH)


def test_encode_patches_rejects_misaligned_inputs(patch_store, tmp_path):
    index = patch_store["index"]
    with pytest.raises(ValueError, match="row-aligned"):
        encode(TinyEncoder(), {**patch_store, "index": index.iloc[:-1]}, tmp_path / "p")
    with pytest.raises(ValueError, match="crop_size_yx"):
        encode(TinyEncoder(), patch_store, tmp_path / "p", crop=(64, 64))
    with pytest.raises(ValueError, match="track_id"):
        encode(TinyEncoder(), {**patch_store, "index": index.drop(columns="track_id")}, tmp_path / "p")


def test_written_embeddings_keep_features_projections_and_index(patch_store, tmp_path):
    features, projections = encode(TinyEncoder(), patch_store, tmp_path / "partial")
    output = tmp_path / "embeddings" / "tiny" / "demo.zarr"
    adata = build_anndata(features, patch_store["index"], projections=projections, info={"model": "tiny"})
    write_embeddings(adata, output, make_provenance("embeddings", {"model": "tiny", "dataset": "demo"}))
    stored = read_embeddings(output)
    np.testing.assert_array_equal(stored.X, features)
    np.testing.assert_array_equal(stored.obsm["X_projections"], projections)
    pd.testing.assert_frame_equal(
        stored.obs.reset_index(drop=True), patch_store["index"].reset_index(drop=True), check_dtype=False
    )
    assert stored.obs["fov_name"].dtype != "category"
    assert stored.uns["dynaclr"]["model"] == "tiny"
    assert read_embeddings_provenance(output).config == {"model": "tiny", "dataset": "demo"}


def test_read_embeddings_checks_provenance(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        read_embeddings(tmp_path / "missing.zarr")
    group = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    group.attrs["x"] = 1
    write_zarr_provenance(tmp_path / "other.zarr", make_provenance("patches", {}))
    with pytest.raises(ArtifactError, match="expected an artifact of kind 'embeddings'"):
        read_embeddings(tmp_path / "other.zarr")


def test_zarr_matrices_are_written_a_chunk_at_a_time_with_the_same_values(tmp_path, monkeypatch):
    from dynaclr.embeddings import store as store_module

    monkeypatch.setattr(store_module, "STREAMED_CHUNK_ROWS", 4)
    rng = np.random.default_rng(0)
    features, projections = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 10, "track_id": [1] * 10, "t": range(10)})
    provenance = make_provenance("embeddings", {"model": "m", "dataset": "d"})
    in_memory = build_anndata(features, index, projections=projections, info={"model": "m"})
    partial = zarr.open_group(str(tmp_path / "partial.zarr"), mode="w")
    on_disk = {}
    for name, values in (("features", features), ("projections", projections)):
        on_disk[name] = partial.create_array(
            name, shape=values.shape, chunks=(3, values.shape[1]), dtype="f4"
        )
        on_disk[name][:] = values
    lazy = build_anndata(on_disk["features"], index, projections=on_disk["projections"], info={"model": "m"})
    assert isinstance(lazy.X, zarr.Array)
    write_embeddings(in_memory, tmp_path / "in_memory.zarr", provenance)
    write_embeddings(lazy, tmp_path / "streamed.zarr", provenance)
    expected, streamed = (
        read_embeddings(tmp_path / "in_memory.zarr"),
        read_embeddings(tmp_path / "streamed.zarr"),
    )
    assert isinstance(streamed.X, np.ndarray) and streamed.X.dtype == np.float32
    np.testing.assert_array_equal(streamed.X, expected.X)
    np.testing.assert_array_equal(streamed.obsm["X_projections"], expected.obsm["X_projections"])
    pd.testing.assert_frame_equal(streamed.obs, expected.obs)
    assert streamed.uns["dynaclr"] == expected.uns["dynaclr"] and list(streamed.var_names) == ["0", "1", "2"]
    assert zarr.open_group(str(tmp_path / "streamed.zarr"))["X"].chunks == (4, 3)


def test_embeddings_shape_is_read_from_the_metadata(tmp_path):
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 5, "track_id": [1] * 5, "t": range(5)})
    path = tmp_path / "e.zarr"
    write_embeddings(build_anndata(np.ones((5, 3)), index), path, make_provenance("embeddings", {}))
    assert embeddings_shape(path) == (5, 3)


def test_whole_store_memory_grows_with_the_stores_and_keeps_the_floor(tmp_path):
    """The mem_mb of the rules that read whole stores: the old fixed request for a demo-sized store,
    base + bytes per value x cells x features above it, summed over the stores a job reads."""
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 5, "track_id": [1] * 5, "t": range(5)})
    path = tmp_path / "e.zarr"
    write_embeddings(build_anndata(np.ones((5, 3)), index), path, make_provenance("embeddings", {}))
    sizing = {"bytes_per_value": 30, "base_mb": 1000, "floor_mb": 4000}
    assert whole_store_memory_mb([embeddings_shape(path)], **sizing) == 4000
    assert whole_store_memory_mb([(3_000, 768)], **sizing) == 4000  # a demo store: about 3,000 cells
    plate = (6_840_000, 320)  # 10,000 FOVs of the demo's density
    assert whole_store_memory_mb([plate], **sizing) == 1000 + math.ceil(6_840_000 * 320 * 30 / 1e6)
    wider = whole_store_memory_mb([(6_840_000, 768)], **sizing)
    assert wider > whole_store_memory_mb([plate], **sizing) > 4000
    assert whole_store_memory_mb([plate, plate], **sizing) - 1000 == 2 * (
        whole_store_memory_mb([plate], **sizing) - 1000
    )


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


def test_the_batch_size_changes_no_embedding_beyond_float32_rounding(tmp_path):
    """EmbeddingConfig.RUN_KEYS holds batch_size (editing it re-embeds nothing): a ConvNeXt encoder with
    a BatchNorm head, in eval mode, gives every patch the same features and projections, to float32
    rounding, whatever the rows per forward pass."""
    assert {"batch_size", "resume"} <= set(EmbeddingConfig.RUN_KEYS)
    assert not {"device", "bf16_autocast", "crop_size_yx_px"} & set(EmbeddingConfig.RUN_KEYS)
    torch.manual_seed(0)
    encoder = ContrastiveEncoder(
        "convnext_atto",
        in_channels=2,
        in_stack_depth=3,
        stem_kernel_z=3,
        projection_dim=16,
        projection_norm=True,
    )
    patches = np.random.default_rng(0).normal(size=(11, 2, 3, 32, 32)).astype(np.float32)
    index = pd.DataFrame({"fov_name": "A/1/0", "track_id": np.arange(11), "t": 0})
    encoded = {
        batch_size: encode(
            encoder, {"array": patches, "index": index}, tmp_path / str(batch_size), batch_size=batch_size
        )
        for batch_size in (3, 7)
    }
    for small, large in zip(encoded[3], encoded[7], strict=True):
        np.testing.assert_allclose(small, large, rtol=1e-5, atol=1e-6)


def test_non_finite_embeddings_are_refused_naming_the_patch_and_the_cause(patch_store, tmp_path):
    """An encoder whose weights hold NaN (a diverged run) embedded every patch as NaN with exit 0;
    only the analyses failed, naming no file. Now encoding stops at the first such batch naming the
    store, the first patch (FOV, track, frame) and the cause: the weights when the patches are
    finite, the patches when they hold NaN."""
    diverged = TinyEncoder()
    with torch.no_grad():
        diverged.conv.weight[0, 0, 0, 0, 0] = float("nan")
    first = patch_store["index"].iloc[0]
    where = f"FOV {first['fov_name']} track {first['track_id']} frame {first['t']}"
    with pytest.raises(ValueError, match=rf"expected finite embeddings.*first {where}.*encoder is at fault"):
        encode(diverged, patch_store, tmp_path / "a")
    patches = np.array(patch_store["array"][: BATCH + 4], dtype=np.float32)
    patches[BATCH + 1, 0, 0, 0, 0] = np.nan
    index = patch_store["index"].iloc[: BATCH + 4]
    bad = index.iloc[BATCH + 1]
    with pytest.raises(
        ValueError,
        match=rf"for 1 of the batch's 4 patches, the first FOV {bad['fov_name']} "
        rf"track {bad['track_id']} frame {bad['t']}; those patches hold 1 NaN",
    ):
        encode(TinyEncoder(), {"array": patches, "index": index}, tmp_path / "b")
