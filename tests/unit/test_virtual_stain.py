"""Virtual staining of nuclei: network shapes, checkpoints, training, prediction, evaluation.

Data come from the simulator at test time (a plate like conftest's ``tiny_plate``, made once
for this module, and a plate of one's own holding ``Phase3D`` and ``Nuclei`` built from
``tiny_plate``). Everything runs on the CPU in a few tens of seconds.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from iohub.ngff import open_ome_zarr
from plate_helpers import (
    assert_image_layers_bracket_their_data,
    ome_attributes,
    plate_of_your_own,
    reads_outside_position,
    record_metadata_reads,
    run_workflow_script,
)
from pydantic import ValidationError
from test_stage_contract import SCRIPTS, _params_by_job, planned_jobs, shim_classes

from dynaclr.config.base import with_run_params
from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.figures.stage import FindingsInputs, FindingsOutputs, findings_stage
from dynaclr.io import ArtifactError, make_provenance, read_zarr_provenance, write_zarr_provenance
from dynaclr.io.plate import (
    OME_ZARR_VERSION,
    PLANNED_ROOT_KEY,
    SUPPLIED_KEY,
    fov_record_path,
    list_plate_fovs,
    planned_root_attributes,
    planned_root_of,
    read_fov_record,
    read_plate_geometry,
    scale_transform,
    split_fov_name,
    split_supplied,
    write_fov_record,
)
from dynaclr.virtual_stain import (
    EvaluateVirtualStainInputs,
    EvaluateVirtualStainOutputs,
    PredictVirtualStainInputs,
    PredictVirtualStainOutputs,
    TrainVirtualStainInputs,
    TrainVirtualStainOutputs,
    VirtualStainPlateInputs,
    VirtualStainPlateOutputs,
    VirtualStainUNet,
    build_network,
    create_virtual_stain_plate,
    evaluate_virtual_stain,
    load_network,
    predict_fov,
    save_checkpoint,
    train_virtual_stain,
)
from dynaclr.virtual_stain.data import SlabPatchDataset, slab_indices, slabs
from dynaclr.virtual_stain.evaluate import evaluation_summary, fov_correlation, records_training_state
from dynaclr.virtual_stain.module import budgeted_cosine_schedule, learning_rate_factor
from dynaclr.virtual_stain.plates import fov_normalization, read_phase_input
from dynaclr.virtual_stain.train import fov_sources, loss_metrics
from dynaclr.virtual_stain.transfer import check_training_input

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


def train(
    config: VirtualStainConfig,
    phase: Path,
    target: Path,
    root: Path,
    name: str = "model.pt",
    supplied: dict[str, float] | None = None,
) -> dict:
    """One ``train_virtual_stain`` job, as the rule hands it its files: checkpoint ``root/name``
    (``supplied``: the dataset's ``acquisition`` values)."""
    return train_virtual_stain(
        config,
        TrainVirtualStainInputs(phase_plate=phase, plate=target),
        TrainVirtualStainOutputs(checkpoint=root / name),
        log_dir=root / "logs",
        supplied=supplied,
    )


def create_plate(
    config: VirtualStainConfig, phase: Path, output: Path, supplied: dict[str, float] | None = None
) -> None:
    """The ``virtual_stain_plate`` job (``supplied``: the dataset's ``acquisition`` values)."""
    create_virtual_stain_plate(
        config,
        VirtualStainPlateInputs(phase_plate=phase),
        VirtualStainPlateOutputs(virtual_stain_plate=output),
        supplied,
    )


def predict(
    config: VirtualStainConfig,
    phase: Path,
    checkpoint: Path,
    output: Path,
    record: Path,
    fov_name: str,
    supplied: dict[str, float] | None = None,
) -> dict:
    """One ``predict_virtual_stain`` job (no phase record: the phase plate is not the phase stage's)."""
    return predict_fov(
        config,
        PredictVirtualStainInputs(phase_plate=phase, checkpoint=checkpoint, virtual_stain_plate=output),
        PredictVirtualStainOutputs(record=record),
        fov_name=fov_name,
        supplied=supplied,
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
    """A simulated 4-FOV plate: raw.zarr, ground_truth/phase.zarr (true phase, 'Phase3D') and the
    ground-truth labels (a plate of another kind)."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    root = tmp_path_factory.mktemp("virtual_stain_plate")
    outputs = SimulateOutputs(
        plate=root / "raw.zarr",
        tracks=root / "ground_truth" / "tracks.parquet",
        labels=root / "ground_truth" / "labels.zarr",
        phase=root / "ground_truth" / "phase.zarr",
    )
    simulate_plate(SimulateConfig.model_validate(SIMULATE), outputs)
    return {"plate": outputs.plate, "phase": outputs.phase, "labels": outputs.labels}


@pytest.fixture(scope="module")
def trained(plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A short training run on the simulated plate."""
    root = tmp_path_factory.mktemp("virtual_stain_training")
    config = small_config()
    metrics = train(config, plate["phase"], plate["plate"], root)
    return {"config": config, "checkpoint": root / "model.pt", "metrics": metrics, "root": root}


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


@pytest.mark.parametrize("tile_size_px", [None, 32])
def test_the_tiles_and_slices_per_batch_change_no_prediction_beyond_float32_rounding(
    tile_size_px: int | None,
) -> None:
    """VirtualStainConfig.RUN_KEYS holds predict.tiles_per_batch and slices_per_batch (editing them
    predicts nothing again): in eval mode every slab and tile is predicted on its own, so whole-image
    and tiled (Gaussian-blended) predictions agree, to float32 rounding, whatever the batch sizes."""
    from dynaclr.virtual_stain.predict import predict_stack

    assert {"predict.tiles_per_batch", "predict.slices_per_batch"} <= set(VirtualStainConfig.RUN_KEYS)
    config = VirtualStainConfig.model_validate({"input_depth_slices": 3})
    assert "tiles_per_batch" not in config.job_params()["predict"]
    assert config.run_params()["predict"] == {"tiles_per_batch": 8, "slices_per_batch": 16}
    torch.manual_seed(0)
    network = VirtualStainUNet("convnext_atto", input_depth_slices=3, full_resolution_channels=8)
    stack = np.random.default_rng(0).normal(size=(5, 64, 64)).astype(np.float32)
    predictions = [
        predict_stack(
            network,
            stack,
            config.predict.model_copy(
                update={"tile_size_px": tile_size_px, "tiles_per_batch": tiles, "slices_per_batch": slices}
            ),
            torch.device("cpu"),
        )
        for tiles, slices in [(1, 1), (3, 2), (16, 16)]
    ]
    for other in predictions[1:]:
        np.testing.assert_allclose(other, predictions[0], rtol=1e-5, atol=1e-5)


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


def _warmup_times_cosine(step: int, warmup_steps: int, planned_steps: int) -> float:
    """The schedule's formula, written out: a linear warm-up ramp times a cosine over the plan."""
    ramp = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    return ramp * 0.5 * (1.0 + math.cos(math.pi * min(step / planned_steps, 1.0)))


@pytest.mark.parametrize(("warmup_steps", "max_steps"), [(0, 10), (1, 10), (20, 300), (50, 30)])
def test_schedule_gives_the_formula_rate_every_optimiser_step(warmup_steps: int, max_steps: int) -> None:
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=2e-3)
    plan = {"steps": max_steps}
    schedule = budgeted_cosine_schedule(optimizer, warmup_steps, lambda: plan["steps"])
    for step in range(max_steps + 5):
        if step == max_steps // 2:
            plan["steps"] = max(step + 1, max_steps * 3 // 4)  # the time budget shortens the plan
        rate = optimizer.param_groups[0]["lr"]
        expected = _warmup_times_cosine(
            step, warmup_steps, max_steps if step <= max_steps // 2 else plan["steps"]
        )
        assert rate == pytest.approx(2e-3 * expected, rel=1e-12, abs=1e-15)
        optimizer.step()
        schedule.step()


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
    # a bare state dict (no provenance) also loads when the config names it as its own weights file
    torch.save(network.state_dict(), tmp_path / "bare.pt")
    bare, bare_provenance = load_network(tmp_path / "bare.pt", user_checkpoint(config, tmp_path / "bare.pt"))
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
        load_network(tmp_path / "model.pt", user_checkpoint(small_config(), tmp_path / "model.pt"))


def test_checkpoint_of_another_backbone_or_kind_fails_clearly(tmp_path: Path) -> None:
    config = user_checkpoint(small_config(), tmp_path / "weights.pt")
    femto = config.model_copy(update={"backbone": "convnext_femto"})
    save_checkpoint(build_network(femto), make_provenance("virtual_stain_model", {}), tmp_path / "femto.pt")
    with pytest.raises(ArtifactError, match=r"do not fit the configured network \(backbone 'convnext_atto'"):
        load_network(tmp_path / "femto.pt", config)
    save_checkpoint(build_network(config), make_provenance("contrastive_model", {}), tmp_path / "other.pt")
    with pytest.raises(ArtifactError, match="expected an artifact of kind 'virtual_stain_model'"):
        load_network(tmp_path / "other.pt", config)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(
        ArtifactError, match=r"junk.pt: virtual staining checkpoint cannot be read: it is corrupt"
    ):
        load_network(tmp_path / "junk.pt", config)
    network = build_network(config)
    save_checkpoint(network, make_provenance("virtual_stain_model", {}), tmp_path / "whole.pt")
    (tmp_path / "half.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:5000])
    with pytest.raises(ArtifactError) as raised:
        load_network(tmp_path / "half.pt", config)
    message = str(raised.value)
    assert "half.pt: virtual staining checkpoint cannot be read: the file is truncated or corrupt" in message
    assert "copy the weights file again" in message and "weights_only=False" not in message
    with pytest.raises(
        ArtifactError, match=r"half.pt: .*retrain it with `snakemake --forcerun train_virtual_stain`"
    ):
        load_network(tmp_path / "half.pt", small_config())


def test_a_published_checkpoint_with_another_global_advises_saving_its_state_dict_alone(
    tmp_path: Path,
) -> None:
    """A file the config names (``virtual_stain.checkpoint``: a published network) holding a global
    dynaclr does not read is refused naming it, advising to save its state dict alone: copying the
    file again cannot help. Before: "copy the weights file again, or correct virtual_stain.checkpoint"."""
    config = small_config()
    published = tmp_path / "published.ckpt"
    torch.save({"state_dict": build_network(config).state_dict(), "loss": eval}, published)
    with pytest.raises(ArtifactError) as raised:
        load_network(published, user_checkpoint(config, published))
    message = str(raised.value)
    assert str(published) in message and "builtins.eval" in message, message
    assert "torch.save(ckpt['state_dict'], path)" in message and "copy the weights file" not in message, (
        message
    )
    with pytest.raises(ArtifactError, match=r"not written by dynaclr.*retrain it"):  # its own: retrain
        load_network(published, config)


def test_a_trained_checkpoint_must_come_from_the_config_it_predicts_with(tmp_path: Path) -> None:
    config = small_config()
    network = build_network(config)
    save_checkpoint(
        network, make_provenance("virtual_stain_model", config.model_dump(mode="json")), tmp_path / "m.pt"
    )
    retiled = config.model_copy(update={"predict": config.predict.model_copy(update={"tile_size_px": 32})})
    load_network(tmp_path / "m.pt", retiled)  # prediction settings do not change the weights
    longer = small_config(max_steps=99)
    with pytest.raises(ArtifactError) as raised:
        load_network(tmp_path / "m.pt", longer)
    message = str(raised.value)
    assert (
        "m.pt: trained with another virtual_stain config than this job's "
        "(train.max_steps: found 12, expected 99)" in message
    )
    assert "`snakemake --forcerun train_virtual_stain`" in message
    torch.save(network.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(
        ArtifactError, match=r"bare.pt: has no dynaclr provenance, but the config trains the network"
    ):
        load_network(tmp_path / "bare.pt", config)


def user_checkpoint(config: VirtualStainConfig, path: Path) -> VirtualStainConfig:
    """``config`` naming ``path`` as its weights file (``checkpoint:``) instead of training."""
    return VirtualStainConfig.model_validate(
        {**config.model_dump(mode="json", exclude={"train"}), "checkpoint": str(path)}
    )


# --- data ---------------------------------------------------------------------------------------


def test_normalisation_ignores_empty_frames(plate: dict[str, Path]) -> None:
    with open_ome_zarr(plate["plate"], layout="hcs", mode="r") as raw:
        image = raw["A/1/0"]["0"]
        nuclei = fov_normalization(image, 1, "median_p99", 6, "A/1/0 Nuclei")
        values = np.asarray(image[:, 1], dtype=np.float64)
    assert nuclei.center == pytest.approx(np.median(values), rel=0.05)
    assert nuclei.center + nuclei.scale == pytest.approx(np.percentile(values, 99), rel=0.05)
    with_empty = np.concatenate([np.zeros((3, *values.shape[1:])), values])[:, None]  # (T, 1, Z, Y, X)
    again = fov_normalization(with_empty, 0, "median_p99", 9, "padded")
    assert again.center == pytest.approx(nuclei.center, rel=0.05)
    assert again.empty_frames and max(again.empty_frames) < 3
    with pytest.raises(ArtifactError, match=r"empty FOV: every frame of \[0, 1, 2, 3\] is constant"):
        fov_normalization(np.zeros((4, 1, 2, 8, 8)), 0, "zscore", 4, "empty FOV")


def test_normalisation_refuses_a_mostly_saturated_target() -> None:
    """A nuclear target 62 % at 65535 has no median_p99 scale; virtual staining requires signal, so
    it is refused naming the saturation (the patches stage's standard-deviation fallback is not
    taken)."""
    image = np.random.default_rng(0).normal(500.0, 50.0, size=(4, 1, 1, 64, 64))
    image[..., :40] = 65535.0
    with pytest.raises(ArtifactError, match=r"Nuclei'.*saturated"):
        fov_normalization(image, 0, "median_p99", 4, "raw.zarr FOV A/1/0 channel 'Nuclei'")


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
    # the config train_virtual_stain's params hold: without the prediction settings
    assert provenance.config == trained["config"].training_params()
    assert not {"predict", "output_channel", "checkpoint"} & set(provenance.config)
    assert {record.kind for record in provenance.inputs} == {"ground_truth_phase", "raw_plate"}
    assert list((trained["root"] / "logs").rglob("metrics.csv")), "Lightning CSV log missing"


def test_same_seed_gives_same_weights_and_logs_progress_lines(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = trained["config"]
    with caplog.at_level(logging.INFO, logger="dynaclr.numerics.progress"):
        again = train(config, plate["phase"], plate["plate"], tmp_path, "again.pt")
    # a job's log gets progress as lines (step, loss, rate, ETA), not a terminal bar
    lines = [r.getMessage() for r in caplog.records if r.name == "dynaclr.numerics.progress"]
    assert any("step 12/12 (100 %)" in line and "loss" in line and "steps/s" in line for line in lines), lines
    first = torch.load(trained["checkpoint"], weights_only=True)["state_dict"]
    second = torch.load(tmp_path / "again.pt", weights_only=True)["state_dict"]
    assert again["loss_last"] == trained["metrics"]["loss_last"]
    for key, value in first.items():
        torch.testing.assert_close(second[key], value, rtol=0, atol=0, msg=key)


def test_the_training_run_keys_train_bitwise_the_same_weights_into_the_same_record(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    """VirtualStainConfig.RUN_KEYS holds train.data_loader_workers and cache_megabytes (editing them
    trains nothing again): a worker process reading the patches, into a cache smaller than one stack
    (every stack read again), trains bitwise the same weights; the checkpoint records the same config
    (the run keys at their defaults, as the rule's params hold them) and the values in its metrics."""
    run = {"data_loader_workers": 1, "cache_megabytes": 0.05}  # a stack is 0.18 MB
    assert {f"train.{key}" for key in run} <= set(VirtualStainConfig.RUN_KEYS)
    config = small_config(**run)
    metrics = train(config, plate["phase"], plate["plate"], tmp_path)
    assert metrics["run"] == run
    first = torch.load(trained["checkpoint"], weights_only=True)
    second = torch.load(tmp_path / "model.pt", weights_only=True)
    assert second["metrics"]["run"] == run
    for key, value in first["state_dict"].items():
        torch.testing.assert_close(second["state_dict"][key], value, rtol=0, atol=0, msg=key)
    assert second["dynaclr"]["config"] == first["dynaclr"]["config"] == config.training_params()
    assert second["dynaclr"]["config_hash"] == first["dynaclr"]["config_hash"]
    load_network(trained["checkpoint"], config)  # a prediction with the run keys edited accepts it


def test_time_budget_stops_training_early_with_a_checkpoint(
    plate: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A budget that ends training early trains the steps the machine affords: the weights then
    depend on its speed and on the run settings (data_loader_workers, cache_megabytes), which rerun
    nothing. The checkpoint records stopped_by_time beside metrics.run, and a WARNING says so."""
    config = small_config(max_steps=500, max_minutes=0.002)  # 0.12 s
    with caplog.at_level(logging.WARNING, logger="dynaclr.virtual_stain.train"):
        metrics = train(config, plate["phase"], plate["plate"], tmp_path, "m.pt")
    assert metrics["stopped_by_time"]
    assert 1 <= metrics["steps"] < 500
    load_network(tmp_path / "m.pt", config)
    recorded = torch.load(tmp_path / "m.pt", weights_only=True)["metrics"]
    assert recorded["stopped_by_time"]
    assert recorded["run"] == {"cache_megabytes": 2048.0, "data_loader_workers": 0}
    said = f"virtual_stain.train.max_minutes (0.002) ended training after {metrics['steps']} of max_steps 500"
    assert said in caplog.text
    assert "depend on the machine's speed and on the run settings, which rerun nothing" in caplog.text


def test_training_refuses_unknown_fovs_channels_and_plates(plate: dict[str, Path], tmp_path: Path) -> None:
    config = small_config(train_fovs=["A/1/0", "C/1/0"])
    with pytest.raises(ArtifactError, match=r"no FOV 'C/1/0'; the plate's FOVs are"):
        train(config, plate["phase"], plate["plate"], tmp_path)
    config = small_config()  # known FOVs from here: the training FOVs' channels are read first
    wrong_channel = config.model_copy(update={"target_channel": "DAPI"})
    with pytest.raises(ArtifactError, match=r"no channel 'DAPI'; found channels \['Brightfield'"):
        train(wrong_channel, plate["phase"], plate["plate"], tmp_path)
    # a raw plate may serve as phase input (phase: null), but this one holds no phase channel
    with pytest.raises(
        ArtifactError, match=r"raw.zarr: the phase input .* no channel 'Phase3D'.*\['Brightfield'"
    ):
        train(config, plate["plate"], plate["plate"], tmp_path)
    with pytest.raises(
        ArtifactError,
        match=r"kind phase_plate or ground_truth_phase or raw_plate .*found kind 'ground_truth_labels'",
    ):
        train(config, plate["labels"], plate["plate"], tmp_path)
    assert not (tmp_path / "model.pt").exists()


def test_training_on_a_gpu_where_torch_sees_none_fails_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """virtual_stain.train.accelerator: gpu where torch sees no GPU is refused before any plate is read
    (here none exists), naming the key, not by Lightning after the patches are loaded."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"virtual_stain.train.accelerator: 'gpu' was requested"):
        train(small_config(accelerator="gpu"), tmp_path / "no_phase.zarr", tmp_path / "no_raw.zarr", tmp_path)
    assert not (tmp_path / "model.pt").exists()


@pytest.fixture(scope="module")
def predicted(plate: dict[str, Path], trained: dict[str, Any]) -> dict[str, Any]:
    """The prediction plate with every FOV filled, and the per-FOV metrics."""
    root, config = trained["root"], trained["config"]
    output = root / "virtual_stain.zarr"
    create_plate(config, plate["phase"], output)
    metrics = {}
    for fov_name in FOVS:
        record = fov_record_path(root / "records", fov_name)
        metrics[fov_name] = predict(config, plate["phase"], trained["checkpoint"], output, record, fov_name)
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


def test_a_plate_recorded_without_a_config_hash_does_not_turn_the_record_check_off(tmp_path: Path) -> None:
    """check_fov_records takes the phase plate as the prediction plate's record states it
    (``InputRecord``): one listed without a config hash (a plate of your own when that record was
    written) has no per-FOV phase records to compare, so records beside it are refused, not passed
    unchecked; with none it passes, and a hash compares as before."""
    from dynaclr.io import ArtifactKind
    from dynaclr.io.provenance import InputRecord
    from dynaclr.virtual_stain.plates import check_fov_records

    phase_plate = make_provenance("phase_plate", {"a": 1}, stage="phase_plate")
    record = tmp_path / "records" / "A_1_0.json"
    write_fov_record(record, make_provenance("phase_fov", {"a": 1}, stage="reconstruct_phase"))
    hashless = InputRecord(path=str(tmp_path / "phase.zarr"))
    check_fov_records((), ArtifactKind.PHASE_FOV, hashless)  # a plate of your own: no records
    with pytest.raises(
        ArtifactError,
        match=r"A_1_0\.json: a per-FOV record \(phase_fov\) of .*phase\.zarr.*"
        r"without a config hash.*found 1; rerun",
    ):
        check_fov_records((record,), ArtifactKind.PHASE_FOV, hashless)
    listed = InputRecord(
        path=str(tmp_path / "phase.zarr"), kind="phase_plate", config_hash=phase_plate.config_hash
    )
    check_fov_records((record,), ArtifactKind.PHASE_FOV, listed)  # made with the plate's config
    other = listed.model_copy(update={"config_hash": "0" * 16})
    with pytest.raises(ArtifactError, match="made with config hash"):
        check_fov_records((record,), ArtifactKind.PHASE_FOV, other)


def test_a_prediction_with_other_batch_sizes_fills_the_plate_it_was_planned_for(
    predicted: dict[str, Any], trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    """predict.tiles_per_batch / slices_per_batch are RUN_KEYS: the plate job never sees them (its
    config has the defaults), the FOV job gets the user's. The record still carries the plate's
    config hash, so evaluate_virtual_stain's check of the records against the plate passes."""
    from dynaclr.io import ArtifactKind
    from dynaclr.virtual_stain.plates import check_fov_records

    config = trained["config"]
    smaller = config.model_copy(
        update={"predict": config.predict.model_copy(update={"tiles_per_batch": 1, "slices_per_batch": 2})}
    )
    output = tmp_path / "virtual_stain.zarr"
    shutil.copytree(predicted["plate"], output)
    record = fov_record_path(tmp_path / "records", FOVS[0])
    predict(smaller, plate["phase"], trained["checkpoint"], output, record, FOVS[0])
    check_fov_records(
        (record,), ArtifactKind.VIRTUAL_STAIN_FOV, read_zarr_provenance(output, "virtual_stain_plate")
    )


def test_prediction_opens_in_napari_blue_with_a_window_on_the_data(predicted: dict[str, Any]) -> None:
    for fov_name in FOVS:
        layers = assert_image_layers_bracket_their_data(predicted["plate"] / fov_name)
        assert [props["colormap"].name for _, props, _ in layers] == ["blue"]


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
    # the rule's own checkpoint: trained with another config; a file the config names: another depth
    own = user_checkpoint(config, trained["checkpoint"])
    for job_config, expected in (
        (config, r"trained with another virtual_stain config .*\(input_depth_slices: found 3, expected 5\)"),
        (own, "expects 5 input channels"),
    ):
        with pytest.raises(ArtifactError, match=expected):
            predict(
                job_config,
                plate["phase"],
                trained["checkpoint"],
                predicted["plate"],
                tmp_path / "r.json",
                "A/1/0",
            )
    assert not (tmp_path / "r.json").exists()


def test_evaluation_marks_held_out_fovs_and_gives_finite_correlations(
    predicted: dict[str, Any], trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    output_csv, output_record = tmp_path / "evaluation" / "virtual_stain.csv", tmp_path / "virtual_stain.json"
    table = evaluate_virtual_stain(
        trained["config"],
        EvaluateVirtualStainInputs(
            virtual_stain_plate=predicted["plate"],
            records=tuple(fov_record_path(predicted["records"], fov_name) for fov_name in FOVS),
            plate=plate["plate"],
        ),
        EvaluateVirtualStainOutputs(table=output_csv, record=output_record),
    )
    assert table["fov_name"].tolist() == FOVS
    assert table["held_out"].tolist() == [False, True, False, True]
    assert np.isfinite(table["pearson_r"]).all() and np.isfinite(table["pearson_r_frame_mean"]).all()
    assert (table["pearson_r"].between(-1, 1)).all()
    assert (table["n_frames_evaluated"] == 6).all() and (table["n_voxels"] == 6 * 5 * 96 * 96).all()
    # even 12 steps learn something: prediction correlates positively with the nuclei
    assert (table["pearson_r"] > 0.2).all(), table
    pd.testing.assert_frame_equal(pd.read_csv(output_csv), table)
    record = json.loads(output_record.read_text())
    assert record["dynaclr"]["kind"] == "virtual_stain_evaluation"
    assert record["metrics"]["held_out_pearson_r_mean"] == pytest.approx(
        table.loc[table["held_out"], "pearson_r"].mean()
    )


def test_a_checkpoint_given_back_to_the_plate_it_learnt_from_is_evaluated_on_its_held_out_fovs_only(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    """The model.pt trained on A/1/0 and B/1/0, given back as ``virtual_stain.checkpoint`` (so as not to
    train it again) to the same plate: those FOVs are not held out (the evaluation's held-out mean and
    the first page are of A/1/1 and B/1/1 only); nor to another phase plate of the same cells evaluated
    against the nuclei it learnt from; on other plates (copies elsewhere of both) every FOV is."""
    given = user_checkpoint(trained["config"], trained["checkpoint"])
    trained_here = [False, True, False, True]
    other_target = tmp_path / "other_raw.zarr"
    shutil.copytree(plate["plate"], other_target)
    tables = {}
    for name, phase, target, on_this_phase, expected in (
        ("same", plate["phase"], plate["plate"], True, trained_here),
        ("other_phase", phase_copy(plate["phase"], tmp_path), plate["plate"], False, trained_here),
        ("other_plates", tmp_path / "other_phase.zarr", other_target, False, [True] * 4),
    ):
        root = tmp_path / name
        output, records = root / "vs.zarr", root / "records"
        create_plate(given, phase, output)
        metrics = [
            predict(given, phase, trained["checkpoint"], output, fov_record_path(records, fov), fov)
            for fov in FOVS
        ]
        table = evaluate(given, output, records, target, root)
        evaluation = pd.read_csv(table)
        assert evaluation["held_out"].tolist() == expected, name
        assert [m.get("trained_on_fov") for m in metrics] == [
            on_this_phase and not held for held in trained_here
        ]
        summary = json.loads(table.with_suffix(".json").read_text())["metrics"]
        held = evaluation.loc[evaluation["held_out"], "pearson_r"]
        assert summary["held_out_pearson_r_mean"] == pytest.approx(held.mean())
        tables[name] = table
    statement = next(s for s in first_page_on(tables["same"], tmp_path) if "nuclei" in s)
    assert "training FOVs" in statement and "held out" in statement, statement


def evaluate(config: VirtualStainConfig, prediction: Path, records: Path, target: Path, root: Path) -> Path:
    """One ``evaluate_virtual_stain`` job on every FOV's record; returns its CSV (the JSON beside it)."""
    table = root / "evaluation" / "virtual_stain.csv"
    evaluate_virtual_stain(
        config,
        EvaluateVirtualStainInputs(
            virtual_stain_plate=prediction,
            records=tuple(fov_record_path(records, fov_name) for fov_name in FOVS),
            plate=target,
        ),
        EvaluateVirtualStainOutputs(table=table, record=table.with_suffix(".json")),
    )
    return table


def first_page_on(table: Path, root: Path) -> list[str]:
    """The first page's statements (rule findings) with ``table`` the virtual_stain.csv of dataset sim."""
    findings = findings_stage(
        FindingsInputs(virtual_stain=(table,)),
        FindingsOutputs(rst=root / "findings.rst", csv=root / "findings.csv"),
        datasets={},
        models={},
        sources={"virtual_stain": ["sim"]},
    )
    return findings["statement"].tolist()


def test_a_model_its_budget_stopped_is_evaluated_and_shown_on_the_first_page_as_partly_trained(
    plate: dict[str, Path], tmp_path: Path
) -> None:
    """The max_minutes budget stops training before max_steps: every FOV's prediction record, the
    evaluation table and record carry the training state, and the first page says, under "What was
    run", that the virtual staining is of a partly trained model, with the steps trained."""
    config = small_config(max_steps=500, max_minutes=0.002)  # 0.12 s
    metrics = train(config, plate["phase"], plate["plate"], tmp_path)
    assert metrics["stopped_by_time"]
    steps = metrics["steps"]
    output = tmp_path / "virtual_stain.zarr"
    create_plate(config, plate["phase"], output)
    for fov_name in FOVS:
        record = fov_record_path(tmp_path / "records", fov_name)
        predicted = predict(config, plate["phase"], tmp_path / "model.pt", output, record, fov_name)
        assert predicted["training"] == {
            "stopped_by_time": True,
            "steps": steps,
            "max_steps": 500,
            "max_minutes": 0.002,
        }
    table_path = evaluate(config, output, tmp_path / "records", plate["plate"], tmp_path)
    table = pd.read_csv(table_path)
    assert table["stopped_by_time"].tolist() == [True] * 4
    assert table["training_steps"].tolist() == [steps] * 4 and table["max_steps"].tolist() == [500] * 4
    assert table["max_minutes"].tolist() == [0.002] * 4
    record = json.loads(table_path.with_suffix(".json").read_text())["metrics"]
    assert record["training"] == {
        "stopped_by_time": True,
        "steps": steps,
        "max_steps": 500,
        "max_minutes": 0.002,
    }
    statements = first_page_on(table_path, tmp_path)
    assert [line for line in statements if "max_minutes" in line] == [
        f"The virtual-staining model was stopped by its max_minutes budget after {steps} of 500 steps: "
        "its virtual staining (and what was tracked from it) is of a partly trained model (raise "
        "virtual_stain.train.max_minutes to train every step)."
    ]
    page = (tmp_path / "findings.csv").read_text()
    assert "What was run" in page and "partly trained model" in page


def test_a_fully_trained_model_is_recorded_so_and_the_first_page_says_nothing_more(
    predicted: dict[str, Any], trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    config = trained["config"]
    table_path = evaluate(config, predicted["plate"], predicted["records"], plate["plate"], tmp_path)
    table = pd.read_csv(table_path)
    assert table["stopped_by_time"].tolist() == [False] * 4
    assert table["training_steps"].tolist() == table["max_steps"].tolist() == [12] * 4
    record = json.loads(table_path.with_suffix(".json").read_text())["metrics"]
    assert record["training"] == {"stopped_by_time": False, "steps": 12, "max_steps": 12, "max_minutes": 10.0}
    statements = first_page_on(table_path, tmp_path)
    assert not [line for line in statements if "max_minutes" in line or "partly trained" in line]
    assert [line for line in statements if line.startswith("Virtual nuclei vs the true nuclei")]


def test_the_first_page_reads_a_stopped_model_from_the_virtual_stain_table(tmp_path: Path) -> None:
    """The report side alone: a virtual_stain.csv whose model the budget stopped (7 of 500 steps)
    gives the "What was run" line; one of a fully trained model none."""
    rows = {"fov_name": FOVS, "held_out": [False, True, False, True], "pearson_r": 0.5}
    stopped, full = tmp_path / "stopped.csv", tmp_path / "full.csv"
    state = {"training_steps": 7, "max_steps": 500, "max_minutes": 0.5}
    pd.DataFrame({**rows, "stopped_by_time": True, **state}).to_csv(stopped, index=False)
    pd.DataFrame({**rows, "stopped_by_time": False, **state, "training_steps": 500}).to_csv(full, index=False)
    assert [line for line in first_page_on(stopped, tmp_path) if "partly trained" in line] == [
        "The virtual-staining model was stopped by its max_minutes budget after 7 of 500 steps: its "
        "virtual staining (and what was tracked from it) is of a partly trained model (raise "
        "virtual_stain.train.max_minutes to train every step)."
    ]
    findings = pd.read_csv(tmp_path / "findings.csv")
    line = findings[findings["statement"].str.contains("partly trained")]
    assert line[["section", "dataset"]].values.tolist() == [["What was run", "sim"]]
    assert not [line for line in first_page_on(full, tmp_path) if "partly trained" in line]


def test_records_and_tables_written_before_the_training_state_read_as_unknown(
    predicted: dict[str, Any], tmp_path: Path
) -> None:
    """Prediction records of an older dynaclr (no ``training``) give an unknown state (every value
    None, the table's columns empty); a virtual_stain.csv without the columns is read, and neither
    gets a line on the first page. Records of two different models are refused."""
    older = []
    for fov_name in FOVS:
        provenance, metrics = read_fov_record(
            fov_record_path(predicted["records"], fov_name), "virtual_stain_fov"
        )
        path = fov_record_path(tmp_path / "older", fov_name)
        write_fov_record(
            path, provenance, {key: value for key, value in metrics.items() if key != "training"}
        )
        older.append(path)
    assert records_training_state(tuple(older)) == dict.fromkeys(
        ("stopped_by_time", "steps", "max_steps", "max_minutes")
    )
    assert records_training_state(()) == records_training_state(tuple(older))
    table = tmp_path / "virtual_stain.csv"
    pd.DataFrame({"fov_name": FOVS, "held_out": [False, True, False, True], "pearson_r": 0.5}).to_csv(table)
    assert not [line for line in first_page_on(table, tmp_path) if "partly trained" in line]
    empty = tmp_path / "empty_state.csv"
    pd.read_csv(table).assign(stopped_by_time=None, training_steps=None, max_steps=None).to_csv(empty)
    assert not [line for line in first_page_on(empty, tmp_path) if "partly trained" in line]
    provenance, metrics = read_fov_record(older[0], "virtual_stain_fov")
    write_fov_record(older[0], provenance, {**metrics, "training": {"stopped_by_time": True, "steps": 3}})
    current = fov_record_path(predicted["records"], FOVS[1])
    with pytest.raises(ArtifactError, match="different training states of the model"):
        records_training_state((older[0], current))


def first_page_on_records(
    records: dict[str, Path], root: Path, tables: dict[str, Path] | None = None
) -> pd.DataFrame:
    """The first page (rule findings) of datasets without ground truth (``unscored``), each given by
    one FOV's prediction record (``virtual_stain_records``, as the rule hands it one per dataset);
    ``tables``: the virtual_stain.csv of simulated datasets beside them."""
    tables = tables or {}
    return findings_stage(
        FindingsInputs(virtual_stain=tuple(tables.values()), virtual_stain_records=tuple(records.values())),
        FindingsOutputs(rst=root / "findings.rst", csv=root / "findings.csv"),
        datasets={},
        models={},
        sources={"virtual_stain": list(tables), "virtual_stain_records": list(records)},
        unscored={name: ["virtual_stain", "tracking"] for name in records if name not in tables},
    )


def _stopped_lines(findings: pd.DataFrame) -> list[list[str]]:
    lines = findings[findings["statement"].str.contains("partly trained|max_minutes")]
    return lines[["section", "dataset", "statement"]].values.tolist()


def test_the_first_page_names_a_partly_trained_model_of_a_dataset_without_ground_truth(
    plate: dict[str, Path], predicted: dict[str, Any], tmp_path: Path
) -> None:
    """A dataset without ground truth runs no virtual-staining evaluation: the first page reads the
    model's training state from one FOV's prediction record. A model its max_minutes budget stopped
    gets the "What was run" line of the simulated case; a fully trained one none. Before, nothing on
    the page said that the nuclei of such a dataset came from a partly trained model."""
    config = small_config(max_steps=500, max_minutes=0.002)
    metrics = train(config, plate["phase"], plate["plate"], tmp_path)
    assert metrics["stopped_by_time"]
    output = tmp_path / "virtual_stain.zarr"
    create_plate(config, plate["phase"], output)
    stopped = fov_record_path(tmp_path / "records", FOVS[0])
    predict(config, plate["phase"], tmp_path / "model.pt", output, stopped, FOVS[0])
    full = fov_record_path(predicted["records"], FOVS[0])
    findings = first_page_on_records({"budgeted": stopped, "full": full}, tmp_path)
    assert _stopped_lines(findings) == [
        [
            "What was run",
            "budgeted",
            f"The virtual-staining model was stopped by its max_minutes budget after {metrics['steps']} "
            "of 500 steps: its virtual staining (and what was tracked from it) is of a partly trained "
            "model (raise virtual_stain.train.max_minutes to train every step).",
        ]
    ]
    assert "budgeted" in (tmp_path / "findings.rst").read_text()
    # the datasets' line saying their image stages ran and are not scored is still there
    unscored = findings[findings["statement"].str.contains("not scored")]
    assert sorted(unscored["dataset"]) == ["budgeted", "full"]
    # a dataset whose evaluation table states the model is named once, from its table
    table = tmp_path / "virtual_stain.csv"
    pd.DataFrame(
        {
            "fov_name": FOVS,
            "held_out": [False, True, False, True],
            "pearson_r": 0.5,
            "stopped_by_time": True,
            "training_steps": 7,
            "max_steps": 500,
        }
    ).to_csv(table, index=False)
    both = first_page_on_records({"budgeted": stopped}, tmp_path, tables={"budgeted": table})
    assert [line[1:] for line in _stopped_lines(both)] == [
        [
            "budgeted",
            "The virtual-staining model was stopped by its max_minutes budget after 7 of 500 steps: its "
            "virtual staining (and what was tracked from it) is of a partly trained model (raise "
            "virtual_stain.train.max_minutes to train every step).",
        ]
    ]


def test_a_prediction_record_of_unknown_training_state_makes_no_claim_on_the_first_page(
    predicted: dict[str, Any], tmp_path: Path
) -> None:
    """A record of an older dynaclr (no ``training``) or of weights of your own
    (``virtual_stain.checkpoint``: every value null) says nothing of how far the model trained: the
    first page claims neither a partly nor a fully trained model. A record of another kind is refused."""
    provenance, metrics = read_fov_record(fov_record_path(predicted["records"], FOVS[0]), "virtual_stain_fov")
    older, own = tmp_path / "older.json", tmp_path / "own.json"
    write_fov_record(older, provenance, {key: value for key, value in metrics.items() if key != "training"})
    unknown = dict.fromkeys(("stopped_by_time", "steps", "max_steps", "max_minutes"))
    write_fov_record(own, provenance, {**metrics, "training": unknown})
    findings = first_page_on_records({"older": older, "own": own}, tmp_path)
    assert _stopped_lines(findings) == []
    unscored = findings[findings["statement"].str.contains("not scored")]
    assert sorted(unscored["dataset"]) == ["older", "own"]
    other = tmp_path / "other.json"
    write_fov_record(other, make_provenance("tracks_fov", {}), metrics)
    with pytest.raises(ArtifactError, match="tracks_fov"):
        first_page_on_records({"other": other}, tmp_path)


def test_the_first_page_of_a_dataset_without_ground_truth_reads_one_prediction_record(
    own_plate: Path, tmp_path: Path
) -> None:
    """Rule findings takes, per dataset without ground truth that virtually stains, the first FOV's
    prediction record as input (Snakemake runs it after, and again when the model is retrained, as
    every FOV is predicted again), never every FOV's: a plate of 10,000 FOVs opens one. A simulated
    dataset's state comes from its evaluation table, as before."""
    config = {
        "datasets": {
            "own": {
                "plate": str(own_plate),
                "phase": None,
                "virtual_stain": {"train": {"train_fovs": ["A/1/0"]}},
            }
        }
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(tmp_path / "config.yaml", tmp_path)
    (findings,) = [job for job in jobs if job.rule.name == "findings"]
    first = list_plate_fovs(own_plate)[0]
    assert list(findings.input.virtual_stain_records) == [f"results/own/records/virtual_stain/{first}.json"]
    assert findings.params.sources["virtual_stain_records"] == ["own"]
    assert FindingsInputs.from_rule(findings.input).virtual_stain_records == (
        Path(f"results/own/records/virtual_stain/{first}.json"),
    )
    predictions = [job for job in jobs if job.rule.name == "predict_virtual_stain"]
    records = {str(job.output.record) for job in predictions}
    assert f"results/own/records/virtual_stain/{first}.json" in records


def test_fov_correlation_pools_frames_and_skips_frames_without_marker() -> None:
    rng = np.random.default_rng(0)
    measured = rng.normal(size=(3, 2, 4, 8, 8))  # (T, C, Z, Y, X)
    measured[1, 1] = 5.0  # no nuclear marker in frame 1
    predicted = 2.0 * measured[:, 1:2] + 1.0  # (T, 1, Z, Y, X): a perfect prediction up to scale
    total, frame_r = fov_correlation(predicted, measured, 1)
    assert total.n == 2 * 4 * 8 * 8 and total.r() == pytest.approx(1.0)
    assert frame_r == pytest.approx([1.0, 1.0])
    table = pd.DataFrame({"fov_name": ["A/1/0", "B/1/0"], "held_out": [False, True], "pearson_r": [0.5, 0.7]})
    assert evaluation_summary(table) == {
        "held_out_pearson_r_mean": pytest.approx(0.7),
        "train_pearson_r_mean": pytest.approx(0.5),
        "n_fovs": 2,
    }
    assert evaluation_summary(table.iloc[:1])["held_out_pearson_r_mean"] is None


# --- missing voxels (dynaclr.numerics.missing) --------------------------------------------------


@pytest.fixture(scope="module")
def phase_with_holes(plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The true-phase plate with frame 2 of every FOV mostly NaN (60 of 96 rows) and 5 NaN voxels in
    frame 3."""
    path = tmp_path_factory.mktemp("phase_with_holes") / "phase.zarr"
    shutil.copytree(plate["phase"], path)
    with open_ome_zarr(path, layout="hcs", mode="r+") as phase:
        for fov_name in FOVS:
            image = phase[fov_name]["0"]
            frame = np.asarray(image[2])
            frame[..., :60, :] = np.nan
            image[2] = frame
            frame = np.asarray(image[3])
            frame[0, 2, 40, 40:45] = np.nan
            image[3] = frame
    return path


def test_a_mostly_missing_phase_frame_is_predicted_as_nan_and_left_out_of_the_evaluation(
    phase_with_holes: Path, plate: dict[str, Path], trained: dict[str, Any], tmp_path: Path, caplog
) -> None:
    config, fov_name = trained["config"], "A/1/1"
    create_plate(config, phase_with_holes, tmp_path / "vs.zarr")
    with caplog.at_level("WARNING", logger="dynaclr.numerics.missing"):
        metrics = predict(
            config,
            phase_with_holes,
            trained["checkpoint"],
            tmp_path / "vs.zarr",
            tmp_path / "r.json",
            fov_name,
        )
    assert f"FOV {fov_name} channel 'Phase3D': frame t=2 dropped: 62.5%" in caplog.text
    assert (
        metrics["dropped_frames"] == [2] and metrics["filled_voxels"] == 5 and metrics["fov_name"] == fov_name
    )
    _, recorded = read_fov_record(tmp_path / "r.json", "virtual_stain_fov")
    assert recorded["dropped_frames"] == [2]
    with (
        open_ome_zarr(tmp_path / "vs.zarr", layout="hcs", mode="r") as output,
        open_ome_zarr(plate["plate"], layout="hcs", mode="r") as raw,
    ):
        predicted = output[fov_name]["0"]
        image = np.asarray(predicted[:])
        assert np.isnan(image[2]).all() and np.isfinite(np.delete(image, 2, axis=0)).all()
        total, frame_r = fov_correlation(predicted, raw[fov_name]["0"], raw.channel_names.index("Nuclei"))
    assert len(frame_r) == 5 and np.isfinite(frame_r).all()
    assert total.n == 5 * 5 * 96 * 96 and np.isfinite(total.r())


def test_a_phase_frame_repeating_the_one_before_is_named_and_marked_reduced(
    predicted: dict[str, Any], plate: dict[str, Path], trained: dict[str, Any], tmp_path: Path, caplog
) -> None:
    """Virtual staining from a phase plate of your own (``phase: null``: no reconstruction compares
    frames) whose frame 4 is a copy of frame 3 (an acquisition that wrote one frame twice): it was
    predicted as a new time point, exit 0 and no word. The prediction, which reads every frame, names
    it in a WARNING and the FOV's record (``repeated_frames``), and the QC table marks the FOV
    reduced; the plate as simulated lists none."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    assert all(metrics["repeated_frames"] == [] for metrics in predicted["metrics"].values())
    config, fov_name = trained["config"], "A/1/1"
    path = tmp_path / "phase.zarr"
    shutil.copytree(plate["phase"], path)
    with open_ome_zarr(path, layout="hcs", mode="r+") as phase:
        image = phase[fov_name]["0"]
        image[4] = np.asarray(image[3])
    create_plate(config, path, tmp_path / "vs.zarr")
    with caplog.at_level("WARNING", logger="dynaclr.numerics.repeats"):
        predict(config, path, trained["checkpoint"], tmp_path / "vs.zarr", tmp_path / "r.json", fov_name)
    _, metrics = read_fov_record(tmp_path / "r.json", "virtual_stain_fov")
    assert metrics["repeated_frames"] == [4]
    assert f"FOV {fov_name} channel 'Phase3D': frame(s) [4] repeat the frame before them" in caplog.text
    row = qc_row(ArtifactKind.VIRTUAL_STAIN_FOV, tmp_path / "r.json", metrics, "virtual_stain")
    assert row["status"] == "reduced"
    assert row["reason"] == "frames [4] repeat the frame before (a frame written twice?)"


@pytest.mark.parametrize(("level", "hot_pixels"), [(0.0, 0), (3.0, 0), (0.0, 5)])
def test_a_constant_phase_frame_is_dropped_as_nan_named_and_marked_reduced(
    plate: dict[str, Path], trained: dict[str, Any], tmp_path: Path, caplog, level: float, hot_pixels: int
) -> None:
    """Virtual staining from a phase plate of your own (``phase: null``) whose frame 2 is blank, written
    as 0 (not NaN) or another constant: it was predicted from nothing (a faint, made-up nuclear image),
    listed nowhere, QC 'ok', and flagged only downstream by tracking as dim nuclei. It has no phase: it
    is dropped (NaN in the prediction, so later stages drop it too), listed as constant_frames and
    dropped_frames in the FOV's record, named in a WARNING with the FOV, and the QC table marks the FOV
    reduced naming the frame; the other frames are predicted. A blank frame with 5 hot pixels (65535) is
    as constant: it was predicted as data."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    config, fov_name = trained["config"], "A/1/1"
    path = tmp_path / "phase.zarr"
    shutil.copytree(plate["phase"], path)
    with open_ome_zarr(path, layout="hcs", mode="r+") as phase:
        image = phase[fov_name]["0"]
        blank = np.full(image.shape[1:], level, np.float32)
        blank[0, 1, 10, 10 : 10 + hot_pixels] = 65535.0
        image[2] = blank
    create_plate(config, path, tmp_path / "vs.zarr")
    with caplog.at_level("WARNING", logger="dynaclr"):
        predict(config, path, trained["checkpoint"], tmp_path / "vs.zarr", tmp_path / "r.json", fov_name)
    _, metrics = read_fov_record(tmp_path / "r.json", "virtual_stain_fov")
    assert metrics["constant_frames"] == [2] and metrics["dropped_frames"] == [2]
    assert metrics["repeated_frames"] == [] and metrics["missing_voxels"] == 0
    assert f"FOV {fov_name} channel 'Phase3D': frame(s) [2] are constant (every voxel" in caplog.text
    with open_ome_zarr(tmp_path / "vs.zarr", layout="hcs", mode="r") as output:
        image = np.asarray(output[fov_name]["0"][:])
    assert np.isnan(image[2]).all() and np.isfinite(np.delete(image, 2, axis=0)).all()
    row = qc_row(ArtifactKind.VIRTUAL_STAIN_FOV, tmp_path / "r.json", metrics, "virtual_stain")
    assert row["status"] == "reduced" and row["dropped_frames"] == "2"
    assert row["reason"] == "frames [2] dropped (constant input frame: every voxel one value, no signal)"


def test_the_missing_voxels_of_a_constant_frame_are_not_counted_as_filled() -> None:
    """Frame 1 is constant (0.0) with 25 NaN voxels: dropped, predicted as NaN, so none of its voxels
    is filled; they were counted in filled_voxels ("filled in frames that were used": 125, not frame
    0's 100). They stay missing voxels."""
    from dynaclr.numerics.missing import MissingTally
    from dynaclr.numerics.normalization import ChannelStatistics
    from dynaclr.numerics.repeats import RepeatedFrames
    from dynaclr.virtual_stain.predict import normalised_phase_stacks

    phase = np.random.default_rng(0).normal(0.0, 0.1, (3, 1, 3, 32, 32)).astype(np.float32)
    phase[0, 0, 1, :10, :10] = np.nan  # filled: frame 0 is predicted
    phase[1, 0] = 0.0
    phase[1, 0, 0, :5, :5] = np.nan  # a constant frame's: not filled
    normalization = ChannelStatistics("Phase", "zscore", 0.0, 0.1, 0.0, 0.1, 0.0, 0.3, 3)
    tally = MissingTally("FOV A/1/0 channel 'Phase'", expected_voxels=phase[:, 0].size)
    constant: list[int] = []
    stacks = normalised_phase_stacks(
        phase, 0, normalization, tally, store="p.zarr", fov_name="A/1/0", repeats=RepeatedFrames(),
        constant=constant, saturated=[],
    )  # fmt: skip
    used = [stack is not None for stack in stacks]
    assert used == [True, False, True] and constant == [1]
    assert tally.metrics()["missing_voxels"] == 125 and tally.metrics()["filled_voxels"] == 100


def test_phase_voxels_whose_normalisation_overflows_are_counted_as_filled() -> None:
    """Four voxels at float32's maximum are finite as read, but (x - 0) / 0.1 overflows to inf, which
    was set to 0 with filled_voxels 0 (record and QC 'ok'). They are missing voxels, filled."""
    from dynaclr.numerics.missing import MissingTally
    from dynaclr.numerics.normalization import ChannelStatistics
    from dynaclr.numerics.repeats import RepeatedFrames
    from dynaclr.virtual_stain.predict import normalised_phase_stacks

    phase = np.random.default_rng(0).normal(0.0, 0.1, (2, 1, 3, 32, 32)).astype(np.float32)
    phase[1, 0, 1, :2, :2] = np.finfo(np.float32).max
    normalization = ChannelStatistics("Phase", "zscore", 0.0, 0.1, 0.0, 0.1, 0.0, 0.3, 2)
    tally = MissingTally("FOV A/1/0 channel 'Phase'", expected_voxels=phase[:, 0].size)
    stacks = list(
        normalised_phase_stacks(
            phase, 0, normalization, tally, store="p.zarr", fov_name="A/1/0", repeats=RepeatedFrames(),
            constant=[], saturated=[],
        )
    )  # fmt: skip
    assert all(stack is not None and np.isfinite(stack).all() for stack in stacks)
    assert tally.metrics()["missing_voxels"] == 4 and tally.metrics()["filled_voxels"] == 4


def test_a_checkpoint_whose_weights_hold_nan_is_refused_at_the_first_frame(
    predicted: dict[str, Any], plate: dict[str, Path], trained: dict[str, Any], tmp_path: Path
) -> None:
    """Weights holding NaN (a training elsewhere that diverged) predicted NaN in every frame with exit 0
    and QC 'ok' (tracking then failed each FOV as mostly missing, blaming the acquisition). The first
    frame's non-finite prediction of a finite input is refused, naming the plate, FOV, frame and
    weights file; the intact checkpoint predicts finite values (``predicted``)."""
    config, fov_name = trained["config"], "A/1/1"
    checkpoint = torch.load(trained["checkpoint"], weights_only=True)
    weights = checkpoint["state_dict"]
    key = next(key for key, value in weights.items() if value.is_floating_point() and value.numel() > 1)
    weights[key].view(-1)[0] = float("nan")
    torch.save(checkpoint, tmp_path / "diverged.pt")
    diverged, output = tmp_path / "diverged.pt", tmp_path / "vs.zarr"
    create_plate(config, plate["phase"], output)
    refusal = r"FOV A/1/1 channel 'Phase3D' frame t=0: expected a finite"
    with pytest.raises(ArtifactError, match=refusal) as error:
        predict(config, plate["phase"], diverged, output, tmp_path / "r.json", fov_name)
    assert f"weights of {diverged} holding NaN or infinite values" in str(error.value)
    assert not (tmp_path / "r.json").exists()


def test_an_over_exposed_frame_of_an_integer_input_is_named_and_marked_reduced(
    plate: dict[str, Path], trained: dict[str, Any], tmp_path: Path, caplog
) -> None:
    """``phase: null`` on an integer label-free channel (16-bit counts) whose frame 2 is over-exposed (its
    brightest 30 % clipped at 65535): predicted with exit 0, QC 'ok', though that frame, read for the
    FOV's normalisation, scaled it 4.4 times and changed every frame's prediction. The frame is named in
    a WARNING and the record (``saturated_frames``), and the QC table marks the FOV reduced; the intact
    counts list none. The normalisation statistics leave it out (``phase_normalization_saturated_frames``),
    so the other frames' predictions are those of the intact FOV (r 0.57-0.68 with them when it was read)."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    config, fov_name = trained["config"], "A/1/1"
    geometry = read_plate_geometry(plate["phase"])
    with open_ome_zarr(plate["phase"], layout="hcs", mode="r") as phase:
        values = np.asarray(phase[fov_name]["0"][:], dtype=np.float64)
    counts = 1000.0 + (values - values.min()) * (20000.0 / np.ptp(values))
    intact = np.rint(counts).astype(np.uint16)
    counts[2] = np.where(counts[2] >= np.percentile(counts[2], 70), 65535, counts[2])
    metrics = {}
    for name, image in (("intact", intact), ("over_exposed", np.rint(counts).astype(np.uint16))):
        path = tmp_path / f"{name}.zarr"
        with open_ome_zarr(
            path, layout="hcs", mode="w", channel_names=["Phase3D"], version=OME_ZARR_VERSION
        ) as own:
            own.create_position(*split_fov_name(fov_name)).create_image(
                "0",
                image,
                transform=scale_transform(
                    geometry.time_interval_s, geometry.z_step_um, geometry.pixel_size_um
                ),
            )
        create_plate(config, path, tmp_path / f"{name}_vs.zarr")
        with caplog.at_level("WARNING", logger="dynaclr.virtual_stain.predict"):
            record = tmp_path / f"{name}.json"
            predict(config, path, trained["checkpoint"], tmp_path / f"{name}_vs.zarr", record, fov_name)
        metrics[name] = read_fov_record(record, "virtual_stain_fov")[1]
    assert metrics["intact"]["saturated_frames"] == [] and metrics["over_exposed"]["saturated_frames"] == [2]
    assert f"FOV {fov_name} channel 'Phase3D': frame(s) [2] have more than 1% of their voxels" in caplog.text
    assert "left out of the FOV's normalisation statistics" in caplog.text
    assert metrics["over_exposed"]["phase_normalization_saturated_frames"] == [2]
    assert metrics["intact"]["phase_normalization_saturated_frames"] == []
    with (
        open_ome_zarr(tmp_path / "intact_vs.zarr", layout="hcs", mode="r") as intact_vs,
        open_ome_zarr(tmp_path / "over_exposed_vs.zarr", layout="hcs", mode="r") as over_exposed_vs,
    ):
        kept = np.asarray(intact_vs[fov_name]["0"][:])
        reduced = np.asarray(over_exposed_vs[fov_name]["0"][:])
    for t in [t for t in range(kept.shape[0]) if t != 2]:
        assert np.corrcoef(kept[t].ravel(), reduced[t].ravel())[0, 1] > 0.99, t
    rows = {
        name: qc_row(ArtifactKind.VIRTUAL_STAIN_FOV, tmp_path / f"{name}.json", found, "virtual_stain")
        for name, found in metrics.items()
    }
    assert rows["intact"]["status"] == "ok"
    assert rows["over_exposed"]["status"] == "reduced"
    assert rows["over_exposed"]["reason"] == "frames [2] over-exposed (input saturated)"


def test_training_never_samples_a_mostly_missing_frame(
    phase_with_holes: Path, plate: dict[str, Path], caplog
) -> None:
    config = small_config(patch_size_px=32)
    assert config.train is not None
    sources = fov_sources(phase_with_holes, plate["plate"], config)
    assert sources[0].phase_normalization.dropped_frames == [2]  # frames 0, 2 (dropped) and 5 sampled
    dataset = SlabPatchDataset(
        phase_with_holes, plate["plate"], sources, 40, 3, 32, 7, config.train.augmentation, 100.0
    )
    with caplog.at_level("WARNING", logger="dynaclr.virtual_stain.data"):
        samples = [dataset[i] for i in range(40)]
    assert all(
        torch.isfinite(sample["phase"]).all() and torch.isfinite(sample["target"]).all() for sample in samples
    )
    assert {key for key in dataset._dropped} == {("phase", fov, 2) for fov in TRAIN_FOVS}
    assert "frame t=2: 62.5% of its voxels are missing (NaN or inf); not sampled" in caplog.text
    dataset.close()


def test_training_counts_phase_voxels_whose_normalisation_overflows(
    plate: dict[str, Path], tmp_path: Path, caplog
) -> None:
    """Five finite phase voxels near float32's maximum (3e38, a corrupt export) in frame 3: left out of
    the statistics as outliers, they overflow to inf once normalised (scale below 1) and were set to 0
    uncounted, a training patch of invented values. They are counted as missing (a WARNING naming the
    FOV, frame and count, as prediction counts them); a frame mostly overflowing is never sampled."""
    config = small_config(patch_size_px=32)
    assert config.train is not None
    path = tmp_path / "phase.zarr"
    shutil.copytree(plate["phase"], path)
    with open_ome_zarr(path, layout="hcs", mode="r+") as phase:
        image = phase[TRAIN_FOVS[0]]["0"]
        frame = np.asarray(image[3])
        frame[0, 2, 40, 40:45] = 3e38
        image[3] = frame
        frame = np.asarray(image[4])
        frame[0, :, :60, :] = 3e38
        image[4] = frame
    source = next(s for s in fov_sources(path, plate["plate"], config) if s.fov_name == TRAIN_FOVS[0])
    assert source.phase_normalization.scale < 1.0
    dataset = SlabPatchDataset(path, plate["plate"], [source], 40, 3, 32, 7, config.train.augmentation, 100.0)
    with caplog.at_level("WARNING", logger="dynaclr.virtual_stain.data"):
        stack = dataset._stack("phase", source, 3)
        assert dataset._stack("phase", source, 4) is None
        assert dataset._stack("phase", source, 3) is stack  # cached: warned once
    assert stack is not None and np.isfinite(stack).all()
    assert caplog.text.count(f"FOV {TRAIN_FOVS[0]} frame t=3: 5 finite phase voxel(s) overflow float32") == 1
    assert f"FOV {TRAIN_FOVS[0]} frame t=4: 62.5% of its voxels are missing" in caplog.text
    assert ("phase", TRAIN_FOVS[0], 4) in dataset._dropped
    dataset.close()


def test_fov_correlation_leaves_out_missing_voxels() -> None:
    rng = np.random.default_rng(1)
    measured = rng.normal(size=(2, 1, 2, 8, 8))
    predicted = 3.0 * measured.copy()
    predicted[0, 0, 0, 0, :4] = np.nan
    measured[1, 0, 1, 2, 2] = np.inf
    total, frame_r = fov_correlation(predicted, measured, 0)
    assert total.n == 2 * 2 * 8 * 8 - 5 and total.r() == pytest.approx(1.0)
    assert frame_r == pytest.approx([1.0, 1.0])


def test_loss_metrics_average_the_first_and_last_tenth_of_the_steps() -> None:
    losses = [float(step) for step in range(20)]
    assert loss_metrics(losses) == {"steps": 20, "loss_first": 0.5, "loss_last": 18.5}
    assert loss_metrics([3.0]) == {"steps": 1, "loss_first": 3.0, "loss_last": 3.0}
    with pytest.raises(RuntimeError, match="training ran no step"):
        loss_metrics([])


# --- phase: null: a plate of one's own that holds Phase3D ----------------------------------------


@pytest.fixture(scope="module")
def own_plate(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plate written with iohub, no dynaclr provenance: the simulator's true phase as ``Phase3D``
    and its raw ``Nuclei``, (T, 2, Z, Y, X) float32 per position (what ``phase: null`` expects)."""
    path = tmp_path_factory.mktemp("own_plate") / "own.zarr"
    geometry = read_plate_geometry(tiny_plate["plate"])
    with (
        open_ome_zarr(tiny_plate["phase"], layout="hcs", mode="r") as phase,
        open_ome_zarr(tiny_plate["plate"], layout="hcs", mode="r") as raw,
        open_ome_zarr(
            path, layout="hcs", mode="w", channel_names=["Phase3D", "Nuclei"], version=OME_ZARR_VERSION
        ) as own,
    ):
        nuclei_c = raw.channel_names.index("Nuclei")
        for fov_name, phase_position in phase.positions():
            true_phase = np.asarray(phase_position["0"][:, 0], dtype=np.float32)  # (T, Z, Y, X)
            nuclei = np.asarray(raw[fov_name]["0"][:, nuclei_c], dtype=np.float32)
            position = own.create_position(*split_fov_name(fov_name))
            position.create_image(
                "0",
                np.stack([true_phase, nuclei], axis=1),
                transform=scale_transform(
                    geometry.time_interval_s, geometry.z_step_um, geometry.pixel_size_um
                ),
            )
    return path


def test_phase_input_is_a_phase_or_raw_plate_or_ones_own_with_the_phase_channel(
    own_plate: Path, plate: dict[str, Path], tmp_path: Path
) -> None:
    assert read_phase_input(own_plate, "Phase3D") is None  # recorded by path only
    simulated_raw = tmp_path / "raw.zarr"  # a raw_plate of this workflow that holds Phase3D
    shutil.copytree(own_plate, simulated_raw)
    write_zarr_provenance(simulated_raw, make_provenance("raw_plate", {}))
    provenance = read_phase_input(simulated_raw, "Phase3D")
    assert provenance is not None and provenance.kind == "raw_plate"
    truth_provenance = read_phase_input(plate["phase"], "Phase3D")
    assert truth_provenance is not None and truth_provenance.kind == "ground_truth_phase"
    with pytest.raises(ArtifactError, match=r"own.zarr: .*no channel 'DPC'.*\['Phase3D', 'Nuclei'\]"):
        read_phase_input(own_plate, "DPC")


def test_virtual_staining_of_a_plate_that_holds_its_phase(own_plate: Path, tmp_path: Path) -> None:
    # phase: null: the dataset's plate is both the phase input and the nuclear target
    config = small_config(train_fovs=["A/1/0"], max_steps=4)
    metrics = train(config, own_plate, own_plate, tmp_path)
    assert metrics["steps"] == 4
    _, model_provenance = load_network(tmp_path / "model.pt", config)
    assert model_provenance is not None
    assert [record.kind for record in model_provenance.inputs] == [None, None]
    assert [record.path for record in model_provenance.inputs] == [str(own_plate)] * 2
    output = tmp_path / "virtual_stain.zarr"
    create_plate(config, own_plate, output)
    assert read_zarr_provenance(output, "virtual_stain_plate").inputs[0].kind is None
    predict(config, own_plate, tmp_path / "model.pt", output, tmp_path / "B_1_0.json", "B/1/0")
    with open_ome_zarr(output, layout="hcs", mode="r") as plate:
        predicted = np.asarray(plate["B/1/0"]["0"][:])
        assert predicted.shape == (12, 1, 5, 96, 96)
        assert np.isfinite(predicted).all() and predicted.std() > 0
        assert not np.any(plate["A/1/0"]["0"][:])  # only the job's own FOV is written
    record_provenance, record_metrics = read_fov_record(tmp_path / "B_1_0.json", "virtual_stain_fov")
    assert [record.kind for record in record_provenance.inputs] == [
        None,
        "virtual_stain_model",
        "virtual_stain_plate",
    ]
    assert record_metrics["n_frames"] == 12


def test_workflow_plans_virtual_staining_of_a_plate_that_holds_its_phase(
    own_plate: Path, tmp_path: Path
) -> None:
    config = {
        "datasets": {
            "own": {
                "plate": str(own_plate),
                "phase": None,
                "virtual_stain": {"train": {"train_fovs": ["A/1/0"]}},
            }
        }
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(tmp_path / "config.yaml", tmp_path)
    counts = pd.Series([job.rule.name for job in jobs]).value_counts().to_dict()
    assert counts["predict_virtual_stain"] == counts["track_fov"] == 2
    assert counts["train_virtual_stain"] == counts["virtual_stain_plate"] == 1
    assert not {"reconstruct_phase", "phase_plate", "phase_transfer_function", "evaluate_phase"} & set(counts)
    # the rules read the plate itself as phase input and hand the stages the files they expect
    for job in jobs:
        if job.rule.name in {"train_virtual_stain", "virtual_stain_plate", "predict_virtual_stain"}:
            assert str(job.input.phase_plate) == str(own_plate)
            for side, cls in shim_classes(SCRIPTS / f"{job.rule.name}.py").items():
                cls.from_rule(getattr(job, side))
    # the tiles and slices per batch reach predict_virtual_stain as params.run, which the params
    # trigger does not compare: editing them changes no job's compared params (VirtualStainConfig.RUN_KEYS)
    config["datasets"]["own"]["virtual_stain"]["predict"] = {"tiles_per_batch": 3, "slices_per_batch": 2}
    (tmp_path / "edited").mkdir()
    (tmp_path / "edited" / "config.yaml").write_text(yaml.safe_dump(config))
    edited = planned_jobs(tmp_path / "edited" / "config.yaml", tmp_path / "edited")

    assert _params_by_job(edited) == _params_by_job(jobs)
    for job in edited:
        if job.rule.name == "predict_virtual_stain":
            merged = VirtualStainConfig.model_validate(with_run_params(job.params.config, job.params.run))
            assert (merged.predict.tiles_per_batch, merged.predict.slices_per_batch) == (3, 2)


def test_workflow_hands_training_and_prediction_the_acquisition_of_a_plate_without_scale(
    own_plate: Path, tmp_path: Path
) -> None:
    """phase: null on a plate stating no scale: train_virtual_stain and predict_virtual_stain get the
    sampling the dataset's ``acquisition`` supplies (as virtual_stain_plate does), which the checkpoint
    records and a prediction compares; the config the stage validates is the one without it."""
    unscaled = tmp_path / "unscaled.zarr"
    shutil.copytree(own_plate, unscaled)
    for fov_name in list_plate_fovs(unscaled):
        with ome_attributes(unscaled / fov_name) as ome:
            ome["multiscales"][0]["datasets"][0]["coordinateTransformations"] = []
    acquisition = {"time_interval_minutes": 10.0, "pixel_size_um": 0.65, "z_step_um": 2.5}
    config = {
        "datasets": {
            "own": {
                "plate": str(unscaled),
                "phase": None,
                "acquisition": acquisition,
                "virtual_stain": {"train": {"train_fovs": ["A/1/0"]}},
            }
        }
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(tmp_path / "config.yaml", tmp_path)
    handed = {"train_virtual_stain": 0, "predict_virtual_stain": 0}
    for job in jobs:
        if job.rule.name in handed:
            handed[job.rule.name] += 1
            assert job.params.config[SUPPLIED_KEY] == acquisition
            own, supplied = split_supplied(job.params.config)
            assert supplied == acquisition
            VirtualStainConfig.model_validate(own)
    assert handed["train_virtual_stain"] == 1 and handed["predict_virtual_stain"] == 2


@pytest.mark.parametrize("checkpoint", [False, True], ids=["trained here", "virtual_stain.checkpoint"])
def test_a_prediction_job_with_a_checkpoint_is_given_the_root_attributes_of_a_plate_of_your_own(
    own_plate: Path, trained: dict[str, Any], tmp_path: Path, checkpoint: bool
) -> None:
    """phase: null on a plate of your own with a virtual_stain.checkpoint: each predict_virtual_stain
    job gets the root attributes its comparison with the checkpoint reads (``params.config``,
    PLANNED_ROOT_KEY, by the path the job reads the plate at), so it reads no root; a network trained
    here is compared with nothing, and its params stay as they were."""
    stage: dict[str, Any] = {"checkpoint": str(trained["checkpoint"])} if checkpoint else {"train": {}}
    config = {"datasets": {"own": {"plate": str(own_plate), "phase": None, "virtual_stain": stage}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    jobs = [
        job
        for job in planned_jobs(tmp_path / "config.yaml", tmp_path)
        if job.rule.name == "predict_virtual_stain"
    ]
    assert len(jobs) == len(list_plate_fovs(own_plate))
    for job in jobs:
        rest, supplied = split_supplied(job.params.config)  # as the rule's script splits it
        assert planned_root_of(supplied, job.input.phase_plate) == (
            planned_root_attributes(own_plate) if checkpoint else None
        )
        VirtualStainConfig.model_validate(rest)


class _TileColumn(torch.nn.Module):
    """A stand-in network whose prediction is each pixel's column within the tile it sees."""

    input_depth_slices = 1

    def forward(self, slab: torch.Tensor) -> torch.Tensor:
        n_b, _, n_y, n_x = slab.shape
        return torch.arange(n_x, dtype=slab.dtype).expand(n_b, 1, n_y, n_x).clone()


def test_blending_constant_averages_overlapping_tiles_and_gaussian_favours_the_tile_centre() -> None:
    """virtual_stain.predict.blending: two 32 px tiles overlap on columns 16-31 of a 48 px wide image;
    'constant' gives the plain mean of the two tiles' predictions there, 'gaussian' about the
    prediction of the tile whose centre is nearer."""
    from dynaclr.virtual_stain.predict import predict_stack

    network: Any = _TileColumn()
    phase = np.zeros((1, 32, 48), dtype=np.float32)
    tiled = VirtualStainConfig().predict.model_copy(update={"tile_size_px": 32, "tile_overlap_fraction": 0.5})
    column = np.arange(48, dtype=np.float32)
    first, second = column, column - 16  # column within the tile at x 0-31 and within the one at x 16-47
    constant = predict_stack(
        network, phase, tiled.model_copy(update={"blending": "constant"}), torch.device("cpu")
    )
    gaussian = predict_stack(network, phase, tiled, torch.device("cpu"))
    assert tiled.blending == "gaussian"
    np.testing.assert_allclose(constant[0, 5, :16], first[:16], atol=1e-5)
    np.testing.assert_allclose(constant[0, 5, 16:32], (first[16:32] + second[16:32]) / 2, atol=1e-4)
    np.testing.assert_allclose(constant[0, 5, 32:], second[32:], atol=1e-5)
    assert abs(gaussian[0, 5, 17] - first[17]) < 1.0 and abs(gaussian[0, 5, 30] - second[30]) < 1.0
    assert abs(gaussian[0, 5, 17] - constant[0, 5, 17]) > 5.0


# --- a network applied to another plate (dynaclr.virtual_stain.transfer) ---------------------------


def phase_copy(
    phase: Path, root: Path, *, pixel: float = 1.0, z: float = 1.0, channel: str | None = None
) -> Path:
    """A copy of the phase plate whose metadata states ``pixel`` times its pixel size and ``z`` times
    its z step (another objective, another z step), its channel renamed to ``channel``."""
    copy = root / "other_phase.zarr"
    shutil.copytree(phase, copy)
    for fov_name in FOVS:
        with ome_attributes(copy / fov_name) as ome:
            if channel is not None:
                ome["omero"]["channels"][0]["label"] = channel
            for transform in ome["multiscales"][0]["datasets"][0]["coordinateTransformations"]:
                if transform["type"] == "scale":
                    t, c, dz, dy, dx = transform["scale"]
                    transform["scale"] = [t, c, dz * z, dy * pixel, dx * pixel]
    return copy


def predict_other_plate(
    trained: dict[str, Any],
    phase: Path,
    root: Path,
    config: VirtualStainConfig | None = None,
    supplied: dict[str, float] | None = None,
) -> dict:
    """Predict FOV A/1/0 of ``phase`` with the trained network named as a weights file (``checkpoint:``),
    ``supplied`` the dataset's ``acquisition`` values."""
    config = config or user_checkpoint(trained["config"], trained["checkpoint"])
    output = root / "vs.zarr"
    create_plate(config, phase, output, supplied)
    return predict(config, phase, trained["checkpoint"], output, root / "A_1_0.json", "A/1/0", supplied)


def unscaled_copy(phase: Path, root: Path) -> Path:
    """A copy of the phase plate whose positions state no scale (a raw plate read with ``phase: null``,
    whose pixel size and z step only the dataset's ``acquisition`` supplies)."""
    copy = root / "unscaled_phase.zarr"
    shutil.copytree(phase, copy)
    for fov_name in FOVS:
        with ome_attributes(copy / fov_name) as ome:
            ome["multiscales"][0]["datasets"][0]["coordinateTransformations"] = []
    return copy


def test_the_checkpoint_records_the_plate_it_was_trained_on(
    trained: dict[str, Any], plate: dict[str, Path]
) -> None:
    checkpoint = torch.load(trained["checkpoint"], weights_only=True)
    assert checkpoint["metrics"]["training_input"] == {
        "plate": str(plate["phase"]),
        "channel": "Phase3D",
        "slices": 5,
        "pixel_size_um": pytest.approx(0.65),
        "z_step_um": pytest.approx(2.5),
    }


def test_a_network_trained_on_a_plate_without_scale_records_the_acquisition_values(
    plate: dict[str, Path], tmp_path: Path
) -> None:
    """phase: null on a raw plate stating no scale: the pixel size and z step the dataset's
    ``acquisition`` supplies (as the prediction plate is written with them) are what the checkpoint
    records, not None."""
    unscaled = unscaled_copy(plate["phase"], tmp_path)
    supplied = {"pixel_size_um": 0.65, "z_step_um": 2.5}
    train(small_config(max_steps=2), unscaled, plate["plate"], tmp_path, supplied=supplied)
    record = torch.load(tmp_path / "model.pt", weights_only=True)["metrics"]["training_input"]
    assert (record["pixel_size_um"], record["z_step_um"]) == (pytest.approx(0.65), pytest.approx(2.5))


@pytest.mark.parametrize(("pixel", "refused"), [(0.2, True), (0.65, False)], ids=["0.2 um", "0.65 um"])
def test_a_plate_without_scale_is_compared_at_the_acquisition_values(
    trained: dict[str, Any],
    plate: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    pixel: float,
    refused: bool,
) -> None:
    """A network trained at 0.65 µm given (virtual_stain.checkpoint) a plate stating no scale, whose
    ``acquisition.pixel_size_um`` is 0.2 µm: refused, as if the plate stated it; at 0.65 µm it is
    compared and accepted (no 'not compared' warning)."""
    unscaled = unscaled_copy(plate["phase"], tmp_path)
    supplied = {"pixel_size_um": pixel, "z_step_um": 2.5}
    if refused:
        with pytest.raises(
            ArtifactError, match=r"pixel size 0\.2 µm in .*unscaled_phase\.zarr, expected 0\.65 µm"
        ):
            predict_other_plate(trained, unscaled, tmp_path, supplied=supplied)
        assert not (tmp_path / "A_1_0.json").exists()
        return
    with caplog.at_level(logging.WARNING):
        predict_other_plate(trained, unscaled, tmp_path, supplied=supplied)
    assert "not compared" not in caplog.text


def test_a_given_checkpoint_of_0_2_um_refuses_a_plate_without_scale_of_0_65_um_acquisition(
    plate: dict[str, Path], tmp_path: Path
) -> None:
    """The brief's case: a checkpoint recording 0.2 µm, a plate stating no scale whose
    ``acquisition.pixel_size_um`` is 0.65: refused (main logged 'pixel size not compared', exit 0)."""
    record = {
        "plate": "elsewhere.zarr",
        "channel": "Phase3D",
        "slices": 5,
        "pixel_size_um": 0.2,
        "z_step_um": 2.5,
    }
    config = user_checkpoint(small_config(), Path("weights/vs.ckpt"))
    unscaled = unscaled_copy(plate["phase"], tmp_path)
    supplied = {"pixel_size_um": 0.65, "z_step_um": 2.5}
    expected = r"pixel size 0\.65 µm in .*unscaled_phase\.zarr, expected 0\.2 µm"
    with pytest.raises(ArtifactError, match=expected):
        check_training_input(record, "weights/vs.ckpt", config, unscaled, 5, None, supplied)


@pytest.mark.parametrize("own", [False, True], ids=["dynaclr's phase plate", "phase plate of your own"])
@pytest.mark.parametrize("given", [False, True], ids=["trained here", "virtual_stain.checkpoint"])
def test_a_prediction_job_reads_no_metadata_outside_its_position(
    trained: dict[str, Any],
    plate: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: bool,
    own: bool,
) -> None:
    """One predict_virtual_stain job per FOV (10,000 on a large plate): it reads the metadata of its
    own position (channels, shape, sampling, and its copy of the plate's record and attributes), never
    another position's, a row's or well's, nor the plate's root ``zarr.json``, of the phase plate or of
    the prediction plate; with a checkpoint from elsewhere too (the phase plate's sampling compared with
    the training input's). Before, every job read both plates' roots (their records, the time interval).
    ``phase: null`` on a plate another pipeline wrote (no record, no copies in its positions): the
    phase input as the prediction plate's record states it (rule virtual_stain_plate read the root),
    and with a checkpoint the root attributes as the dry run read them (the rule's ``params.config``
    under PLANNED_ROOT_KEY, run by the rule's script as it was before them: ``split_supplied`` hands
    them on in ``supplied``); before, each such job read that root too."""
    config = user_checkpoint(trained["config"], trained["checkpoint"]) if given else trained["config"]
    phase = plate_of_your_own(plate["phase"], tmp_path / "own.zarr") if own else plate["phase"]
    output = tmp_path / "vs.zarr"
    create_plate(config, phase, output)
    fov_name = FOVS[-1]
    planned = {PLANNED_ROOT_KEY: {str(phase): planned_root_attributes(phase)}} if own and given else {}
    read = record_metadata_reads(monkeypatch)
    record = tmp_path / "record.json"
    run_workflow_script(  # as the rule runs it: the script passes the planned root on in `supplied`
        "predict_virtual_stain",
        {**config.job_params(), **planned},
        PredictVirtualStainInputs(
            phase_plate=phase, checkpoint=trained["checkpoint"], virtual_stain_plate=output
        ),
        PredictVirtualStainOutputs(record=record),
        fov_name=fov_name,
        run=config.run_params(),
    )
    assert any(path.parent == phase / fov_name for path in read), read  # the recorder records
    assert reads_outside_position(read, [phase, output], fov_name) == []
    provenance, _ = read_fov_record(record, "virtual_stain_fov")
    kind = None if own else "ground_truth_phase"
    assert (str(phase), kind) in [(i.path, i.kind) for i in provenance.inputs]


def test_a_network_predicts_another_plate_of_the_same_sampling_without_a_warning(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        metrics = predict_other_plate(trained, phase_copy(plate["phase"], tmp_path), tmp_path)
    assert metrics["n_frames"] == 6
    # iohub warns that it cannot read the empty prediction plate's first position: not ours
    ours = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("dynaclr")]
    assert not ours, caplog.text


@pytest.mark.parametrize(
    ("pixel", "z", "expected"),
    [
        (
            0.2 / 0.65,
            1.0,
            r"pixel size 0\.2 µm in .*other_phase\.zarr, expected 0\.65 µm.*nuclei 3\.25 times",
        ),
        (
            1.0,
            3.0,
            r"z step 7\.5 µm in .*other_phase\.zarr, expected 2\.5 µm.*spanning 22\.5 µm, not 7\.5 µm",
        ),
    ],
    ids=["0.2 um pixels for a network of 0.65 um", "a z step 3 times larger"],
)
def test_a_network_applied_to_a_plate_of_another_sampling_is_refused(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path, pixel: float, z: float, expected: str
) -> None:
    other = phase_copy(plate["phase"], tmp_path, pixel=pixel, z=z)
    with pytest.raises(ArtifactError, match=expected) as raised:
        predict_other_plate(trained, other, tmp_path)
    assert "(virtual_stain.checkpoint)" in str(raised.value)
    assert str(trained["checkpoint"]) in str(raised.value)
    assert not (tmp_path / "A_1_0.json").exists()


def test_a_network_applied_to_a_plate_of_nearly_its_pixel_size_is_warned_with_the_ratio(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        predict_other_plate(trained, phase_copy(plate["phase"], tmp_path, pixel=1.2), tmp_path)
    assert "pixel size 0.78 µm in" in caplog.text
    assert "expected 0.65 µm" in caplog.text and "(1.2 times)" in caplog.text


@pytest.mark.parametrize("slices", [1, 2])
def test_a_plate_of_one_slice_given_to_a_network_of_several_is_refused_fewer_warned(
    trained: dict[str, Any],
    plate: dict[str, Path],
    tmp_path: Path,
    slices: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    flat = tmp_path / "flat.zarr"
    geometry = read_plate_geometry(plate["phase"])
    with (
        open_ome_zarr(plate["phase"], layout="hcs", mode="r") as phase,
        open_ome_zarr(
            flat, layout="hcs", mode="w", channel_names=["Phase3D"], version=OME_ZARR_VERSION
        ) as own,
    ):
        for fov_name, position in phase.positions():
            middle = np.asarray(position["0"][:, :, 2 : 2 + slices], dtype=np.float32)  # (T, 1, Z, Y, X)
            own.create_position(*split_fov_name(fov_name)).create_image(
                "0",
                middle,
                transform=scale_transform(
                    geometry.time_interval_s, geometry.z_step_um, geometry.pixel_size_um
                ),
            )
    if slices == 1:
        with pytest.raises(
            ArtifactError, match=r"expected phase stacks of several slices .* found 1 slice in .*flat\.zarr"
        ):
            predict_other_plate(trained, flat, tmp_path)
        return
    with caplog.at_level(logging.WARNING):
        predict_other_plate(trained, flat, tmp_path)
    assert "stacks of 2 slices in" in caplog.text and "fewer than input_depth_slices=3" in caplog.text


@pytest.mark.parametrize("slices", [5, 2])
def test_a_network_trained_on_one_slice_is_refused_a_plate_of_several(
    plate: dict[str, Path], slices: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The mirror of the case above: a network of 3-slice slabs trained on a 2D plate (one slice, so
    every training slab was that slice repeated: its 3 input channels always equal) given through
    virtual_stain.checkpoint a stack, whose slabs hold different slices it never saw together.
    Predicted with exit 0 and no warning; now refused, naming the checkpoint and both depths."""
    record = {
        "plate": "flat_phase.zarr",
        "channel": "Phase3D",
        "slices": 1,
        "pixel_size_um": 0.65,
        "z_step_um": 2.5,
    }
    config = user_checkpoint(small_config(), Path("weights/vs.ckpt"))
    expected = (
        r"weights/vs\.ckpt \(virtual_stain\.checkpoint\): expected phase images of one slice \(the network "
        r"takes slabs of input_depth_slices=3 and was trained on 1 slice of flat_phase\.zarr.*\), "
        rf"found {slices} slices in .*phase\.zarr"
    )
    with pytest.raises(ArtifactError, match=expected):
        check_training_input(record, "weights/vs.ckpt", config, plate["phase"], slices, None)
    # one slice, as trained: accepted without a warning about slices
    with caplog.at_level(logging.WARNING):
        check_training_input(record, "weights/vs.ckpt", config, plate["phase"], 1, None)
    assert "slice" not in caplog.text


def test_a_network_predicting_from_another_channel_name_or_recording_nothing_is_warned(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = phase_copy(plate["phase"], tmp_path, channel="DIC")
    config = user_checkpoint(
        trained["config"].model_copy(update={"input_channel": "DIC"}), trained["checkpoint"]
    )
    with caplog.at_level(logging.WARNING):
        predict_other_plate(trained, other, tmp_path, config)
    assert "was trained on phase channel 'Phase3D', and predicts from channel 'DIC'" in caplog.text
    caplog.clear()
    network, _ = load_network(trained["checkpoint"], trained["config"])
    torch.save(network.state_dict(), tmp_path / "bare.pt")
    bare = user_checkpoint(trained["config"], tmp_path / "bare.pt")
    output = tmp_path / "bare_vs.zarr"
    create_plate(bare, plate["phase"], output)
    with caplog.at_level(logging.WARNING):
        predict(bare, plate["phase"], tmp_path / "bare.pt", output, tmp_path / "bare.json", "A/1/0")
    assert "records no pixel size, z step or slices of the plate it was trained on" in caplog.text


def test_a_given_checkpoint_recording_a_plate_of_the_same_relative_path_is_compared(
    plate: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint trained in another project on its ``ground_truth/phase.zarr`` at 0.2 µm, given
    through virtual_stain.checkpoint to this project, whose ``ground_truth/phase.zarr`` states
    0.65 µm: the recorded relative path resolves to this plate, and still it is refused."""
    monkeypatch.chdir(plate["phase"].parent.parent)
    relative = Path("ground_truth") / plate["phase"].name
    assert relative.resolve() == plate["phase"].resolve()
    record = {
        "plate": str(relative),
        "channel": "Phase3D",
        "slices": 5,
        "pixel_size_um": 0.2,
        "z_step_um": 2.5,
    }
    config = user_checkpoint(small_config(), Path("weights/vs.ckpt"))
    with pytest.raises(ArtifactError, match=r"pixel size 0\.65 µm in .*expected 0\.2 µm"):
        check_training_input(record, "weights/vs.ckpt", config, relative, 5, None)


def test_a_network_the_workflow_trained_is_predicted_without_comparison_or_warning(
    plate: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """``config.checkpoint`` None: the dataset's own network (the rule graph trains it on the plate it
    predicts); one trained before the training input was recorded is not 'a weights file from
    elsewhere'."""
    with caplog.at_level(logging.WARNING):
        check_training_input(
            None, "results/demo/virtual_stain/model.ckpt", small_config(), plate["phase"], 5, None
        )
    assert not caplog.records, caplog.text


def test_phase_in_other_units_predicts_the_same_nuclei(
    trained: dict[str, Any], plate: dict[str, Path], tmp_path: Path
) -> None:
    """Each FOV is z-scored: phase 100 times larger (nm of optical path for radians) and offset
    changes the prediction by float32 rounding only."""
    scaled = phase_copy(plate["phase"], tmp_path)
    with open_ome_zarr(scaled, layout="hcs", mode="r+") as copy:
        image = copy["A/1/0"]["0"]
        image[:] = np.asarray(image[:]) * 100.0 + 7.0
    predict_other_plate(trained, scaled, tmp_path)
    with open_ome_zarr(tmp_path / "vs.zarr", layout="hcs", mode="r") as ours:
        other = np.asarray(ours["A/1/0"]["0"][:])
    config = user_checkpoint(trained["config"], trained["checkpoint"])
    create_plate(config, plate["phase"], tmp_path / "same.zarr")
    predict(
        config, plate["phase"], trained["checkpoint"], tmp_path / "same.zarr", tmp_path / "s.json", "A/1/0"
    )
    with open_ome_zarr(tmp_path / "same.zarr", layout="hcs", mode="r") as same:
        np.testing.assert_allclose(other, np.asarray(same["A/1/0"]["0"][:]), atol=1e-3)


def _rename_channel(plate: Path, fov_name: str, old: str, new: str) -> None:
    """Position ``fov_name`` of ``plate`` names its channel ``old`` ``new`` (its metadata rewritten)."""
    metadata = plate / fov_name / "zarr.json"
    metadata.write_text(metadata.read_text().replace(f'"{old}"', f'"{new}"'))


def test_training_reads_the_channels_of_its_training_fovs_not_of_the_first_position(
    own_plate: Path, tmp_path: Path
) -> None:
    """A plate of one's own whose first position (no training FOV) names other channels trains on
    the training FOV's; training FOVs naming different channels are refused, naming both positions
    and both lists; a training FOV without the channel is named."""
    plate = tmp_path / "own.zarr"
    shutil.copytree(own_plate, plate)
    _rename_channel(plate, "A/1/0", "Phase3D", "DPC")
    metrics = train(small_config(train_fovs=["B/1/0"], max_steps=2), plate, plate, tmp_path)
    assert metrics["steps"] == 2 and metrics["train_fovs"] == ["B/1/0"]
    both = small_config(train_fovs=["B/1/0", "A/1/0"], max_steps=2)
    with pytest.raises(
        ArtifactError,
        match=r"own.zarr: the training FOVs \(virtual_stain.train.train_fovs\) name different channels: "
        r"position B/1/0 has \['Phase3D', 'Nuclei'\], position A/1/0 has \['DPC', 'Nuclei'\]",
    ):
        train(both, plate, plate, tmp_path, name="both.pt")
    with pytest.raises(
        ArtifactError, match=r"no channel 'Phase3D'.*\['DPC', 'Nuclei'\] in the training FOVs \['A/1/0'\]"
    ):
        train(small_config(train_fovs=["A/1/0"], max_steps=2), plate, plate, tmp_path, name="a.pt")
    _rename_channel(plate, "B/1/0", "Nuclei", "DAPI")
    with pytest.raises(
        ArtifactError, match=r"no channel 'Nuclei'; .*\['Phase3D', 'DAPI'\] in the training FOVs \['B/1/0'\]"
    ):
        train(small_config(train_fovs=["B/1/0"], max_steps=2), plate, plate, tmp_path, name="b.pt")
    assert not (tmp_path / "both.pt").exists() and not (tmp_path / "a.pt").exists()
