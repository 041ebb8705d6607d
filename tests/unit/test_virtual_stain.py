"""Virtual staining of nuclei: network shapes, checkpoints, training, prediction, evaluation.

Data come from the simulator at test time (a plate like conftest's ``tiny_plate``, made once
for this module). Everything runs on the CPU in a few tens of seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from iohub.ngff import open_ome_zarr
from pydantic import ValidationError

from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io import ArtifactError, make_provenance, read_zarr_provenance
from dynaclr.io.plate import fov_record_path, read_fov_record
from dynaclr.virtual_stain import (
    VirtualStainUNet,
    build_network,
    create_virtual_stain_plate,
    evaluate_virtual_stain,
    evaluation_record_path,
    load_network,
    predict_fov,
    save_checkpoint,
    train_virtual_stain,
)
from dynaclr.virtual_stain.data import SlabPatchDataset, slab_indices, slabs
from dynaclr.virtual_stain.evaluate import PearsonAccumulator
from dynaclr.virtual_stain.module import learning_rate_factor
from dynaclr.virtual_stain.normalization import fov_normalization
from dynaclr.virtual_stain.train import fov_sources

#: Like conftest's tiny plate (2 wells x 1 FOV, 12 frames, 5 x 96 x 96), with 2 FOVs per well
#: so that there are held-out FOVs, and 6 frames of 8 cells to keep it quick.
SIMULATE = {
    "seed": 3,
    "wells": [
        {"row": "A", "column": "1", "condition": "mock", "infected_fraction": 0.0},
        {"row": "B", "column": "1", "condition": "infected", "infected_fraction": 1.0},
    ],
    "fovs_per_well": 2,
    "n_frames": 6,
    "shape_zyx": [5, 96, 96],
    "z_step_um": 2.5,
    "cells": {"initial_cells_per_fov": 8, "entering_cells_per_frame": 0.2},
    "division": {"cycle_length_frames": 10},
    "infection": {"onset_frames": [2, 4], "translocation_frames": 3, "death_probability": 0.0},
}
FOVS = ["A/1/0", "A/1/1", "B/1/0", "B/1/1"]
TRAIN_FOVS = ["A/1/0", "B/1/0"]


def small_config(**train: Any) -> VirtualStainConfig:
    """A quick config: 3-slice slabs, 64 px patches, a few steps."""
    settings = {
        "train_fovs": TRAIN_FOVS,
        "max_steps": 12,
        "batch_size": 4,
        "patch_size_px": 64,
        "max_minutes": 10,
    }
    return VirtualStainConfig.model_validate(
        {
            "input_depth_slices": 3,
            "decoder_full_resolution_channels": 8,
            "normalization_frames": 3,
            "train": {**settings, **train},
            "predict": {"tile_size_px": 64, "tiles_per_batch": 4},
        }
    )


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Small models run fastest single-threaded; on a busy 2-core machine OpenMP spinning costs ~10x."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A simulated 4-FOV plate: raw.zarr and ground_truth/phase.zarr (true phase, 'Phase3D')."""
    from dynaclr.simulate import simulate_plate

    root = tmp_path_factory.mktemp("virtual_stain_plate")
    paths = {"plate": root / "raw.zarr", "phase": root / "ground_truth" / "phase.zarr"}
    simulate_plate(
        SimulateConfig.model_validate(SIMULATE),
        plate_path=paths["plate"],
        tracks_path=root / "ground_truth" / "tracks.parquet",
        labels_path=root / "ground_truth" / "labels.zarr",
        phase_path=paths["phase"],
    )
    return paths


@pytest.fixture(scope="module")
def trained(plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A short training run on the simulated plate."""
    root = tmp_path_factory.mktemp("virtual_stain_training")
    config = small_config()
    checkpoint = root / "model.pt"
    metrics = train_virtual_stain(plate["phase"], plate["plate"], config, checkpoint, root / "logs")
    return {"config": config, "checkpoint": checkpoint, "metrics": metrics, "root": root}


# --- config -------------------------------------------------------------------------------------


def test_config_defaults_train_and_checkpoint_replaces_training() -> None:
    default = VirtualStainConfig()
    assert default.train is not None and default.checkpoint is None
    assert default.train.train_fovs == ["A/1/0", "B/1/0"]
    from_checkpoint = VirtualStainConfig.model_validate({"checkpoint": "weights.pt"})
    assert from_checkpoint.train is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"checkpoint": "weights.pt", "train": {}}, "exactly one of 'train'"),
        ({"train": None}, "exactly one of 'train'"),
        ({"input_depth_slices": 4}, "must be odd"),
        ({"train": {"patch_size_px": 100}}, "multiple of 32"),
        ({"train": {"train_fovs": ["A/1"]}}, "row/column/fov"),
        ({"backbone": "resnet18"}, "ConvNeXt"),
        ({"trian": {}}, "Extra inputs are not permitted"),
    ],
)
def test_config_errors_say_how_to_fix(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VirtualStainConfig.model_validate(raw)


# --- network ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "size_yx"), [(3, (37, 53)), (5, (64, 96)), (1, (33, 31))])
def test_network_output_has_input_resolution(depth: int, size_yx: tuple[int, int]) -> None:
    torch.manual_seed(0)
    network = VirtualStainUNet("convnext_atto", input_depth_slices=depth, full_resolution_channels=8).eval()
    with torch.no_grad():
        output = network(torch.randn(2, depth, *size_yx))
    assert output.shape == (2, 1, *size_yx)
    assert torch.isfinite(output).all()
    assert network.stem.in_channels == depth


def test_network_refuses_wrong_slab_depth() -> None:
    network = VirtualStainUNet("convnext_atto", input_depth_slices=3, full_resolution_channels=8)
    with pytest.raises(ValueError, match=r"expected input \(B, D=3, Y, X\).*got \(1, 5, 32, 32\)"):
        network(torch.randn(1, 5, 32, 32))


def test_slabs_repeat_edge_slices() -> None:
    assert slab_indices(0, 5, 10).tolist() == [0, 0, 0, 1, 2]
    assert slab_indices(9, 5, 10).tolist() == [7, 8, 9, 9, 9]
    assert slab_indices(0, 3, 1).tolist() == [0, 0, 0]
    stack = np.arange(4)[:, None, None] * np.ones((4, 2, 3))
    out = slabs(stack, [0, 3], 3)
    assert out.shape == (2, 3, 2, 3)
    assert out[:, :, 0, 0].tolist() == [[0, 0, 1], [2, 3, 3]]


def test_learning_rate_warms_up_then_decays_to_zero() -> None:
    assert learning_rate_factor(0, 0.0, 10) == pytest.approx(0.1)
    assert learning_rate_factor(9, 0.0, 10) == pytest.approx(1.0)
    assert learning_rate_factor(50, 0.5, 10) == pytest.approx(0.5)
    assert learning_rate_factor(99, 1.0, 10) == pytest.approx(0.0)


def test_pearson_accumulator_matches_numpy_over_chunks() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 2.0, 3000)
    y = 0.7 * x + rng.normal(1000.0, 1.0, 3000)
    accumulator = PearsonAccumulator()
    for chunk in np.array_split(np.arange(3000), 7):
        accumulator.add(x[chunk], y[chunk])
    assert accumulator.n == 3000
    assert accumulator.r == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-10)
    constant = PearsonAccumulator()
    constant.add(np.ones(10), np.arange(10))
    assert np.isnan(constant.r)


# --- checkpoints --------------------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    config = small_config()
    torch.manual_seed(1)
    network = build_network(config).eval()
    provenance = make_provenance("virtual_stain_model", config.model_dump(mode="json"))
    save_checkpoint(network, provenance, tmp_path / "model.pt", {"steps": 3})
    loaded, loaded_provenance = load_network(tmp_path / "model.pt", config)
    assert loaded_provenance is not None and loaded_provenance.config_hash == provenance.config_hash
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), network(x))
    raw = torch.load(tmp_path / "model.pt", weights_only=True)
    assert raw["network"] == {
        "backbone": "convnext_atto",
        "input_depth_slices": 3,
        "decoder_full_resolution_channels": 8,
    }
    # a bare state dict (no provenance) also loads
    torch.save(network.state_dict(), tmp_path / "bare.pt")
    bare, bare_provenance = load_network(tmp_path / "bare.pt", config)
    assert bare_provenance is None
    with torch.no_grad():
        torch.testing.assert_close(bare(x), network(x))


def test_checkpoint_with_wrong_depth_names_expected_and_found_channels(tmp_path: Path) -> None:
    five_slices = VirtualStainConfig.model_validate(
        {"input_depth_slices": 5, "decoder_full_resolution_channels": 8}
    )
    network = build_network(five_slices)
    save_checkpoint(network, make_provenance("virtual_stain_model", {}), tmp_path / "model.pt")
    with pytest.raises(ArtifactError, match=r"takes 5 input channels.*expects 3 input channels"):
        load_network(tmp_path / "model.pt", small_config())


def test_checkpoint_of_another_backbone_or_kind_fails_clearly(tmp_path: Path) -> None:
    config = small_config()
    femto = config.model_copy(update={"backbone": "convnext_femto"})
    save_checkpoint(build_network(femto), make_provenance("virtual_stain_model", {}), tmp_path / "femto.pt")
    with pytest.raises(ArtifactError, match=r"do not fit the configured network \(backbone 'convnext_atto'"):
        load_network(tmp_path / "femto.pt", config)
    save_checkpoint(build_network(config), make_provenance("contrastive_model", {}), tmp_path / "other.pt")
    with pytest.raises(ArtifactError, match="expected an artifact of kind 'virtual_stain_model'"):
        load_network(tmp_path / "other.pt", config)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ArtifactError, match="weights_only=True"):
        load_network(tmp_path / "junk.pt", config)


# --- data ---------------------------------------------------------------------------------------


def test_normalisation_ignores_empty_frames(plate: dict[str, Path]) -> None:
    with open_ome_zarr(plate["plate"], layout="hcs", mode="r") as raw:
        image = raw["A/1/0"]["0"]
        nuclei = fov_normalization(image, 1, "median_p99", 6, "A/1/0 Nuclei")
        values = np.asarray(image[:, 1], dtype=np.float64)
    assert nuclei.offset == pytest.approx(np.median(values), rel=0.05)
    assert nuclei.offset + nuclei.scale == pytest.approx(np.percentile(values, 99), rel=0.05)
    with_empty = np.concatenate([np.zeros((3, *values.shape[1:])), values])[:, None]  # (T, 1, Z, Y, X)
    again = fov_normalization(with_empty, 0, "median_p99", 9, "padded")
    assert again.offset == pytest.approx(nuclei.offset, rel=0.05)
    with pytest.raises(ArtifactError, match=r"every sampled frame .* is constant"):
        fov_normalization(np.zeros((4, 1, 2, 8, 8)), 0, "mean_std", 4, "empty FOV")


def test_patches_are_reproducible_and_paired(plate: dict[str, Path]) -> None:
    config = small_config(patch_size_px=32)
    assert config.train is not None
    sources = fov_sources(plate["phase"], plate["plate"], config)
    assert [source.fov_name for source in sources] == TRAIN_FOVS
    assert sources[0].shape_tzyx == (6, 5, 96, 96)

    def dataset() -> SlabPatchDataset:
        return SlabPatchDataset(
            plate["phase"], plate["plate"], sources, 10, 3, 32, 7, config.train.augmentation, 100.0
        )

    first, second = dataset(), dataset()
    sample = first[4]
    assert sample["phase"].shape == (3, 32, 32) and sample["target"].shape == (1, 32, 32)
    assert sample["phase"].dtype == torch.float32 and type(sample["phase"]) is torch.Tensor
    second[9]  # a different order and cache state gives the same samples
    torch.testing.assert_close(second[4]["phase"], sample["phase"], rtol=0, atol=0)
    torch.testing.assert_close(second[4]["target"], sample["target"], rtol=0, atol=0)
    assert not torch.equal(first[5]["phase"], sample["phase"])
    assert first.preload() == 12  # 2 FOVs x 6 frames fit in 100 MB
    first.close()
    second.close()


# --- training, prediction, evaluation -----------------------------------------------------------


def test_training_reduces_the_loss_and_writes_a_checkpoint(
    trained: dict[str, Any], plate: dict[str, Path]
) -> None:
    metrics = trained["metrics"]
    assert metrics["steps"] == 12
    assert not metrics["stopped_by_time"]
    assert metrics["loss_last"] < 0.7 * metrics["loss_first"]
    _, provenance = load_network(trained["checkpoint"], trained["config"])
    assert provenance is not None
    assert provenance.config == trained["config"].model_dump(mode="json")
    assert {record.kind for record in provenance.inputs} == {"ground_truth_phase", "raw_plate"}
    assert list((trained["root"] / "logs").rglob("metrics.csv")), "Lightning CSV log missing"


def test_same_seed_gives_same_weights(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    config = trained["config"]
    again = train_virtual_stain(
        plate["phase"], plate["plate"], config, tmp_path / "again.pt", tmp_path / "logs"
    )
    first = torch.load(trained["checkpoint"], weights_only=True)["state_dict"]
    second = torch.load(tmp_path / "again.pt", weights_only=True)["state_dict"]
    assert again["loss_last"] == trained["metrics"]["loss_last"]
    for key, value in first.items():
        torch.testing.assert_close(second[key], value, rtol=0, atol=0, msg=key)


def test_time_budget_stops_training_early_with_a_checkpoint(plate: dict[str, Path], tmp_path: Path) -> None:
    config = small_config(max_steps=500, max_minutes=0.002)  # 0.12 s
    metrics = train_virtual_stain(
        plate["phase"], plate["plate"], config, tmp_path / "m.pt", tmp_path / "logs"
    )
    assert metrics["stopped_by_time"]
    assert 1 <= metrics["steps"] < 500
    load_network(tmp_path / "m.pt", config)


def test_training_refuses_unknown_fovs_channels_and_plates(plate: dict[str, Path], tmp_path: Path) -> None:
    config = small_config(train_fovs=["A/1/0", "C/1/0"])
    with pytest.raises(ArtifactError, match=r"no FOV 'C/1/0'; the plate's FOVs are"):
        train_virtual_stain(plate["phase"], plate["plate"], config, tmp_path / "m.pt", tmp_path / "logs")
    wrong_channel = config.model_copy(update={"target_channel": "DAPI"})
    with pytest.raises(ArtifactError, match=r"no channel 'DAPI'; found channels \['Brightfield'"):
        train_virtual_stain(
            plate["phase"], plate["plate"], wrong_channel, tmp_path / "m.pt", tmp_path / "logs"
        )
    with pytest.raises(
        ArtifactError, match=r"expected a phase plate of kind \['phase_plate', 'ground_truth_phase'\]"
    ):
        train_virtual_stain(plate["plate"], plate["plate"], config, tmp_path / "m.pt", tmp_path / "logs")


@pytest.fixture(scope="module")
def predicted(plate: dict[str, Path], trained: dict[str, Any]) -> dict[str, Any]:
    """The prediction plate with every FOV filled, and the per-FOV metrics."""
    root, config = trained["root"], trained["config"]
    output = root / "virtual_stain.zarr"
    create_virtual_stain_plate(plate["phase"], config, output)
    metrics = {}
    for fov_name in FOVS:
        record = fov_record_path(root / "records", fov_name)
        metrics[fov_name] = predict_fov(
            plate["phase"], fov_name, trained["checkpoint"], output, record, config
        )
    return {"plate": output, "metrics": metrics, "records": root / "records"}


def test_prediction_writes_the_plate_and_the_records(
    predicted: dict[str, Any], plate: dict[str, Path]
) -> None:
    provenance = read_zarr_provenance(predicted["plate"], "virtual_stain_plate")
    assert provenance.inputs[0].kind == "ground_truth_phase"
    with open_ome_zarr(predicted["plate"], layout="hcs", mode="r") as output:
        assert output.channel_names == ["nuclei_prediction"]
        assert [name for name, _ in output.positions()] == FOVS
        for fov_name in FOVS:
            image = np.asarray(output[fov_name]["0"][:])
            assert image.shape == (6, 1, 5, 96, 96) and image.dtype == np.float32
            assert np.isfinite(image).all() and image.std() > 0, fov_name
    for fov_name in FOVS:
        record_provenance, metrics = read_fov_record(
            fov_record_path(predicted["records"], fov_name), "virtual_stain_fov"
        )
        assert metrics["n_frames"] == 6 and metrics["device"] == "cpu"
        assert [record.kind for record in record_provenance.inputs] == [
            "ground_truth_phase",
            "virtual_stain_model",
            "virtual_stain_plate",
        ]


def test_tiled_prediction_matches_whole_image_prediction(
    trained: dict[str, Any], plate: dict[str, Path]
) -> None:
    from dynaclr.virtual_stain.predict import predict_stack

    network, _ = load_network(trained["checkpoint"], trained["config"])
    with open_ome_zarr(plate["phase"], layout="hcs", mode="r") as phase:
        stack = np.asarray(phase["B/1/1"]["0"][2, 0], dtype=np.float32)
    stack = (stack - stack.mean()) / stack.std()
    whole_config = trained["config"].predict.model_copy(update={"tile_size_px": None})
    tiled_config = trained["config"].predict.model_copy(
        update={"tile_size_px": 64, "tile_overlap_fraction": 0.5}
    )
    whole = predict_stack(network, stack, whole_config, torch.device("cpu"))
    tiled = predict_stack(network, stack, tiled_config, torch.device("cpu"))
    assert whole.shape == tiled.shape == stack.shape
    # tiles see less context at their borders, so they differ a little but not much
    assert np.corrcoef(whole.ravel(), tiled.ravel())[0, 1] > 0.95


def test_prediction_refuses_a_checkpoint_of_another_depth(
    predicted: dict[str, Any], trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    config = trained["config"].model_copy(update={"input_depth_slices": 5})
    with pytest.raises(ArtifactError, match="expects 5 input channels"):
        predict_fov(
            plate["phase"], "A/1/0", trained["checkpoint"], predicted["plate"], tmp_path / "r.json", config
        )
    assert not (tmp_path / "r.json").exists()


def test_evaluation_marks_held_out_fovs_and_gives_finite_correlations(
    predicted: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    output_csv = tmp_path / "evaluation" / "virtual_stain.csv"
    table = evaluate_virtual_stain(predicted["plate"], plate["plate"], FOVS, TRAIN_FOVS, output_csv)
    assert table["fov_name"].tolist() == FOVS
    assert table["held_out"].tolist() == [False, True, False, True]
    assert np.isfinite(table["pearson_r"]).all() and np.isfinite(table["pearson_r_frame_mean"]).all()
    assert (table["pearson_r"].between(-1, 1)).all()
    assert (table["n_frames_evaluated"] == 6).all() and (table["n_voxels"] == 6 * 5 * 96 * 96).all()
    # even 12 steps learn something: prediction correlates positively with the nuclei
    assert (table["pearson_r"] > 0.2).all(), table
    pd.testing.assert_frame_equal(pd.read_csv(output_csv), table)
    record = json.loads(evaluation_record_path(output_csv).read_text())
    assert record["dynaclr"]["kind"] == "virtual_stain_evaluation"
    assert record["metrics"]["held_out_pearson_r_mean"] == pytest.approx(
        table.loc[table["held_out"], "pearson_r"].mean()
    )
