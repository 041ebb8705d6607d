"""Baselines: a seeded random-weights encoder and engineered features in the embeddings layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import build_patch_store
from skimage.feature import graycomatrix, graycoprops

from dynaclr.baselines import (
    GLCM_PROPERTIES,
    engineered_features,
    feature_names,
    patch_features,
    random_encoder,
    standardize_with_statistics,
)
from dynaclr.baselines.engineered import block_features
from dynaclr.config.embeddings import EmbeddingConfig, EngineeredFeaturesConfig
from dynaclr.config.patches import PatchSpec
from dynaclr.embeddings import (
    EmbedInputs,
    EmbedOutputs,
    embed_stage,
    encode_patches,
    read_embeddings,
    read_embeddings_provenance,
    representation_matrix,
)
from dynaclr.evaluation.temporal import temporal_metrics
from dynaclr.patches import open_patch_store

CHANNELS = ["Brightfield", "Nuclei", "ViralSensor", "ERMarker"]
#: Every raw channel of the tiny plate, every slice, 32 px.
SPEC = PatchSpec.model_validate(
    {
        "name": "all_raw",
        "channels": [{"source": "raw", "channel": name, "normalization": "median_p99"} for name in CHANNELS],
        "patch_size_yx_px": 32,
    }
)

ENCODER = {
    "backbone": "convnext_atto",
    "in_channels": 4,
    "in_stack_depth": 5,
    "stem_kernel_z": 5,
    "projection_dim": 8,
}


@pytest.fixture(scope="module")
def patch_store(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("baseline_patches")
    paths = build_patch_store({"raw": tiny_plate["plate"]}, tiny_plate["tracks"], SPEC, root)
    store = open_patch_store(paths["zarr"], paths["parquet"])
    return {"array": store.array, "index": store.index, **paths}


def test_random_encoder_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = random_encoder(seed=0, **ENCODER)
    assert torch.equal(torch.rand(3), before)  # global RNG stream untouched
    second = random_encoder(seed=0, **ENCODER)
    other = random_encoder(seed=1, **ENCODER)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert any(
        not torch.equal(a, c)
        for a, c in zip(first.state_dict().values(), other.state_dict().values(), strict=True)
    )
    assert not first.training
    with pytest.raises(ValueError, match="weights_path"):
        random_encoder(seed=0, weights_path="x.pt", **ENCODER)


def test_random_encoder_runs_through_encode_patches(patch_store, tmp_path):
    index = patch_store["index"].iloc[:40]
    patches = np.asarray(patch_store["array"][:40])
    features, projections = encode_patches(
        random_encoder(seed=0, **ENCODER),
        patches,
        index,
        EmbeddingConfig(batch_size=16),
        crop_size_yx=(32, 32),
        partial_path=tmp_path / "partial",
        show_progress=False,
    )
    assert features.shape == (40, 320) and projections.shape == (40, 8)
    assert np.isfinite(features).all() and features.std(axis=0).max() > 0


def test_the_batch_size_changes_no_engineered_feature():
    """EngineeredFeaturesConfig.RUN_KEYS holds batch_size (editing it re-embeds nothing): every batch
    size gives the same features, bit for bit."""
    assert EngineeredFeaturesConfig.RUN_KEYS == ("batch_size",)
    patches = np.random.default_rng(4).normal(size=(9, 2, 3, 20, 20)).astype(np.float32)
    features = [
        engineered_features(patches, EngineeredFeaturesConfig(batch_size=size), show_progress=False)
        for size in (1, 4, 64)
    ]
    for other in features[1:]:
        np.testing.assert_array_equal(other, features[0])


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"radial_rings": 32},
            "analysis.engineered_features.radial_rings: expected rings that each hold a pixel of the 16 x 16 "
            "px patches, found 32, whose rings [0, 1, 3, ",
        ),
        (
            {"texture_distances_px": (1, 16)},
            "analysis.engineered_features.texture_distances_px: expected offsets below the 16 px side of the "
            "16 x 16 px patches (",
        ),
        (
            {"texture_distances_px": (1, 30), "crop_size_yx_px": (12, 16)},
            "expected offsets below the 12 px side of the 12 x 16 px crop (crop_size_yx_px) (",
        ),
    ],
)
def test_rings_and_offsets_the_patches_cannot_hold_are_refused(settings, expected):
    """On 16 px patches, 12 of 32 rings are narrower than a pixel and hold none: their columns were 0
    for every cell; an offset of the patch's side had empty co-occurrence matrices at 0 and 90 degrees
    (16 px) or at every angle (30 px: contrast, homogeneity, energy 0 and correlation 1 for every cell).
    Both exited 0; engineered_features now refuses them, naming the key, the patch and a value that fits."""
    patches = np.random.default_rng(0).normal(size=(5, 1, 3, 16, 16)).astype(np.float32)
    config = EngineeredFeaturesConfig.model_validate(settings)
    with pytest.raises(ValueError) as info:
        engineered_features(patches, config, show_progress=False)
    assert expected in str(info.value)
    assert ("use at most 10" in str(info.value)) == ("radial_rings" in settings)
    fitting = EngineeredFeaturesConfig(radial_rings=10, texture_distances_px=(1, 15))
    features = engineered_features(patches, fitting, show_progress=False)
    assert (features.std(axis=0) > 0).all()  # every ring and offset tells the cells apart


def _disk_patch(radius: float, size: int = 32, depth: int = 3) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    disk = (np.hypot(y - (size - 1) / 2, x - (size - 1) / 2) < radius).astype(np.float32)
    return np.broadcast_to(disk, (1, depth, size, size)).copy()


def test_patch_features_measure_area_intensity_and_rings():
    config = EngineeredFeaturesConfig(intensity_percentiles=(50.0,), radial_rings=4)
    patch = _disk_patch(radius=6.0)
    values = dict(zip(feature_names(["nuc"], config), patch_features(patch, config), strict=True))
    assert values["nuc_area_px"] == int((patch[0, 1] > 0.5).sum())
    assert values["nuc_area_px"] == pytest.approx(np.pi * 36, rel=0.1)
    assert values["nuc_mean"] == pytest.approx(patch.mean())
    assert values["nuc_ring0"] == 1.0 and values["nuc_ring3"] == 0.0  # inside the disk, outside it
    assert values["nuc_glcm_homogeneity_d1"] > 0.8  # a flat disk is a homogeneous texture
    bigger = dict(
        zip(feature_names(["nuc"], config), patch_features(_disk_patch(radius=10.0), config), strict=True)
    )
    assert bigger["nuc_area_px"] > values["nuc_area_px"] and bigger["nuc_ring2"] > values["nuc_ring2"]
    constant = patch_features(np.ones((1, 3, 32, 32)), config)
    assert np.isfinite(constant).all() and constant[0] == 0


def test_texture_features_are_skimage_glcm_properties_and_blocks_match_single_patches():
    config = EngineeredFeaturesConfig(
        intensity_percentiles=(10.0, 50.0), texture_gray_levels=8, texture_distances_px=(1, 3), radial_rings=3
    )
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(3, 2, 3, 20, 24))
    patches[1, 1] = 2.0  # a constant channel: texture of a single grey level
    features = block_features(patches, config)
    names = feature_names(["a", "b"], config)
    for row, patch in zip(features, patches, strict=True):
        np.testing.assert_array_equal(row, patch_features(patch, config))
        values = dict(zip(names, row, strict=True))
        for channel, name in enumerate(("a", "b")):
            central = patch[channel, 1]
            span = central.max() - central.min()
            scaled = (central - central.min()) / (span if span > 0 else 1.0) * 7
            matrix = graycomatrix(
                np.clip(np.rint(scaled), 0, 7).astype(np.uint8),
                distances=[1, 3],
                angles=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4],
                levels=8,
                symmetric=True,
                normed=True,
            )
            for prop in GLCM_PROPERTIES:
                expected = np.nan_to_num(graycoprops(matrix, prop).mean(axis=1))
                for k, distance in enumerate((1, 3)):
                    assert values[f"{name}_glcm_{prop}_d{distance}"] == pytest.approx(expected[k], abs=1e-12)
            assert values[f"{name}_p50"] == pytest.approx(np.percentile(patch[channel], 50))


def test_standardize_columns_zero_mean_unit_variance():
    matrix = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    again, mean, std = standardize_with_statistics(matrix)
    np.testing.assert_allclose(again.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(again.std(axis=0), [1, 0, 1])
    np.testing.assert_allclose(mean, [3.0, 5.0, 5.0])
    np.testing.assert_allclose(std, matrix.std(axis=0))
    assert std[1] == 0 and np.all(again[:, 1] == 0)  # a constant column becomes 0


def _engineered_features(config: EngineeredFeaturesConfig, store: dict, output: Path, tmp_path: Path):
    """Rule embed's engineered features of the patch store ``store`` (``zarr``, ``parquet``)."""
    return embed_stage(
        config,
        EmbedInputs(patches_zarr=store["zarr"], patches_parquet=store["parquet"]),
        EmbedOutputs(embeddings=output),
        model="engineered_features",
        dataset="demo",
        partial_store=tmp_path / "partial",
    )


def test_engineered_features_in_the_embeddings_layout(patch_store, tmp_path):
    output = tmp_path / "engineered_features" / "demo.zarr"
    config = EngineeredFeaturesConfig(crop_size_yx_px=(24, 24))
    adata = _engineered_features(config, patch_store, output, tmp_path)
    stored = read_embeddings(output)
    channels = [f"raw:{name}" for name in CHANNELS]  # the patch store's names: source and channel
    assert stored.X.shape == (len(patch_store["index"]), len(feature_names(channels, config)))
    assert list(stored.var_names) == feature_names(channels, config)
    np.testing.assert_allclose(stored.X, adata.X)
    assert "X_projections" not in stored.obsm and "X_standardized" not in stored.obsm
    # X is the z-scored features (what every analysis reads), the raw values a layer beside it
    raw = stored.layers["raw"]
    assert raw.shape == stored.X.shape and raw.dtype == np.float32
    np.testing.assert_allclose(raw, engineered_features(patch_store["array"], config), rtol=1e-6)
    mean, std = stored.var["raw_mean"].to_numpy(), stored.var["raw_std"].to_numpy()
    np.testing.assert_allclose(mean, raw.astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, raw.astype(np.float64).std(axis=0), rtol=1e-5, atol=1e-5)
    expected = np.where(std > 0, (raw - mean) / np.where(std > 0, std, 1.0), 0.0)
    np.testing.assert_allclose(stored.X, expected, atol=1e-4)
    np.testing.assert_allclose(stored.X, standardize_with_statistics(raw)[0], atol=1e-4)
    np.testing.assert_array_equal(representation_matrix(stored, "features"), stored.X.astype(np.float64))
    np.testing.assert_array_equal(representation_matrix(stored, "standardized"), stored.X.astype(np.float64))
    with pytest.raises(KeyError, match="projections"):
        representation_matrix(stored, "projections")
    pd.testing.assert_frame_equal(
        stored.obs.reset_index(drop=True), patch_store["index"].reset_index(drop=True), check_dtype=False
    )
    provenance = read_embeddings_provenance(output)
    assert provenance.config["channel_names"] == channels
    assert (provenance.config["model"], provenance.config["dataset"]) == ("engineered_features", "demo")
    # the viral sensor's nuclear enrichment makes infected cells differ: the features see infection
    infected = stored.obs["condition"].to_numpy() == "infected"
    sensor_centre = raw[:, list(stored.var_names).index("raw:ViralSensor_ring0")]
    assert sensor_centre[infected].mean() != pytest.approx(sensor_centre[~infected].mean(), rel=0.01)
    metrics = temporal_metrics(representation_matrix(stored, "features"), stored.obs, n_bootstrap=0)
    assert 0 < metrics["smoothness"] < 1
    with pytest.raises(ValueError, match="N, C, Z, Y, X"):
        engineered_features(np.zeros((2, 3, 4)), config)


def test_engineered_features_of_a_named_channel_carry_its_name(tiny_plate, tmp_path):
    """A plate's 'Nuclei' read under the name another plate gives the marker ('H2B'): the features,
    and the channels their classifiers check before transferring, are named 'raw:H2B', so classifiers
    fitted on the other plate's H2B features apply here."""
    spec = PatchSpec.model_validate(
        {
            "name": "named",
            "channels": [
                {"source": "raw", "channel": "Nuclei", "name": "H2B", "normalization": "median_p99"}
            ],
            "patch_size_yx_px": 32,
        }
    )
    paths = build_patch_store({"raw": tiny_plate["plate"]}, tiny_plate["tracks"], spec, tmp_path / "patches")
    config = EngineeredFeaturesConfig(crop_size_yx_px=(24, 24))
    output = tmp_path / "features.zarr"
    _engineered_features(config, paths, output, tmp_path)
    assert read_embeddings_provenance(output).config["channel_names"] == ["raw:H2B"]
    assert list(read_embeddings(output).var_names) == feature_names(["raw:H2B"], config)
