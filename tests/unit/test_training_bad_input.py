"""Bad input to patch extraction and training: each case is a clear error or a documented skip.

Errors name the file or config key, what was expected and what was found. Documented skips: an
empty tracks table gives an empty, schema-valid patch store and index (training then refuses it);
an unreadable ``checkpoints/last.ckpt`` is moved aside to ``last.ckpt.corrupt`` with a warning and
training starts from scratch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TINY_PATCH_CHANNELS, TINY_PATCH_SPEC, build_patch_store, train_model

from dynaclr.config.patches import PatchSpec
from dynaclr.io import ArtifactError, read_table
from dynaclr.patches import (
    INDEX_COLUMNS,
    CollectPatchesInputs,
    CollectPatchesOutputs,
    ExtractPatchesInputs,
    ExtractPatchesOutputs,
    collect_patches,
    extract_fov_patches,
    open_patch_store,
)

CHANNELS = TINY_PATCH_CHANNELS
SPEC = PatchSpec.model_validate(TINY_PATCH_SPEC)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _extract(
    tiny_plate: dict[str, Path], out: Path, fov: str, spec: PatchSpec = SPEC, tracks: Path | None = None
) -> dict:
    stem = out / fov.replace("/", "_")
    return extract_fov_patches(
        spec,
        ExtractPatchesInputs(
            plate_raw=tiny_plate["plate"],
            plate_phase=tiny_plate["phase"],
            tracks=tracks or tiny_plate["tracks"],
        ),
        ExtractPatchesOutputs(
            zarr=stem.with_suffix(".zarr"),
            parquet=stem.with_suffix(".parquet"),
            record=stem.with_suffix(".json"),
        ),
        fov_name=fov,
    )


@pytest.fixture(scope="module")
def patch_store(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bad_input_patches")
    plates = {"raw": tiny_plate["plate"], "phase": tiny_plate["phase"]}
    return build_patch_store(plates, tiny_plate["tracks"], SPEC, out)


def _config(**extra) -> dict:
    return {
        "patch_spec": "tiny",
        "sampling": "time_aware",
        "tau_frames": 1,
        "backbone": "convnext_atto",
        "batch_size": 4,
        "num_workers": 0,
        "validation_fovs": ["A/1/0"],
        "seed": 3,
        **extra,
    }


def test_missing_channel_names_plate_channel_and_found_channels(tiny_plate, tmp_path):
    spec = SPEC.model_copy(
        update={"channels": [*SPEC.channels[:1], SPEC.channels[1].model_copy(update={"channel": "Actin"})]}
    )
    with pytest.raises(ArtifactError) as info:
        _extract(tiny_plate, tmp_path, "A/1/0", spec)
    message = str(info.value)
    assert str(tiny_plate["plate"]) in message  # the file
    assert "no channel 'Actin'" in message and "patch spec 'tiny'" in message  # the key, what was expected
    assert "ViralSensor" in message  # what was found
    assert not (tmp_path / "A_1_0.zarr").exists()


def test_z_range_outside_stack_names_plate_range_and_depth(tiny_plate, tmp_path):
    spec = PatchSpec.model_validate({"name": "tiny", "channels": CHANNELS, "z_range": [2, 40]})
    with pytest.raises(ValueError) as info:
        _extract(tiny_plate, tmp_path, "A/1/0", spec)
    message = str(info.value)
    assert str(tiny_plate["phase"]) in message and "position A/1/0" in message  # the file
    assert "z_range [2, 40] needs 40 slices" in message  # the key and what was expected
    assert "stack of 5 Z slices" in message and "use a stop <= 5" in message  # found, and the fix
    assert not (tmp_path / "A_1_0.zarr").exists()


def test_tau_longer_than_every_track_fails_before_training(patch_store, tmp_path):
    index = open_patch_store(patch_store["zarr"], patch_store["parquet"]).index
    longest = int(index.groupby(["fov_name", "lineage_id"])["t"].agg(lambda t: t.max() - t.min()).max())
    with pytest.raises(ValueError) as info:
        train_model(patch_store["zarr"], patch_store["parquet"], _config(tau_frames=50), tmp_path)
    message = str(info.value)
    assert str(patch_store["parquet"]) in message  # the file
    assert "tau = 50 frames" in message and "tau_tolerance_frames=1" in message  # the key, expected
    assert f"spans {longest}" in message and f"use tau_frames <= {longest + 1}" in message  # found, fix
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "model.ckpt").exists()


def test_unknown_backbone_names_key_and_close_matches(patch_store, tmp_path):
    with pytest.raises(ValueError) as info:
        train_model(patch_store["zarr"], patch_store["parquet"], _config(backbone="convnext_atoo"), tmp_path)
    message = str(info.value)
    assert "backbone 'convnext_atoo' is not a timm model" in message  # the key and what was found
    assert "ConvNeXt or ResNet" in message and "'convnext_atto'" in message  # expected, close match
    assert not (tmp_path / "config.json").exists()


def test_empty_tracks_table_gives_empty_valid_store(tiny_plate, tmp_path, caplog):
    """Documented skip: warning, 0-patch store and index that collect and open; training refuses it."""
    empty = tmp_path / "empty_tracks.parquet"
    pd.read_parquet(tiny_plate["tracks"]).iloc[:0].to_parquet(empty)
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        metrics = _extract(tiny_plate, tmp_path, "A/1/0", tracks=empty)
    assert metrics["n_patches"] == 0 and metrics["n_border_patches"] == 0
    assert any(
        "no tracks for FOV A/1/0" in r.getMessage() and str(empty) in r.getMessage() for r in caplog.records
    )
    index, provenance = read_table(tmp_path / "A_1_0.parquet", "patch_fov", required_columns=INDEX_COLUMNS)
    assert len(index) == 0 and list(index.columns) == list(INDEX_COLUMNS) and provenance.kind == "patch_fov"

    collect_patches(
        CollectPatchesInputs(zarrs=[tmp_path / "A_1_0.zarr"], parquets=[tmp_path / "A_1_0.parquet"]),
        CollectPatchesOutputs(zarr=tmp_path / "e.zarr", parquet=tmp_path / "e.parquet"),
    )
    store = open_patch_store(tmp_path / "e.zarr", tmp_path / "e.parquet")
    assert store.array.shape == (0, 2, 3, 60, 60) and len(store.index) == 0
    assert store.channel_names == ["phase:Phase3D", "raw:ViralSensor"]

    with pytest.raises(ValueError) as info:
        train_model(tmp_path / "e.zarr", tmp_path / "e.parquet", _config(), tmp_path / "model")
    message = str(info.value)
    assert str(tmp_path / "e.zarr") in message and "holds no patches" in message
    assert "no cell was tracked in any FOV" in message and "check the tracking input" in message

    # embedding refuses it too, an encoder or the engineered features (which wrote 0 rows, and the
    # classifiers then failed on "no annotation matches a cell")
    from dynaclr.config.embeddings import EngineeredFeaturesConfig
    from dynaclr.embeddings.stage import EmbedInputs, EmbedOutputs, embed_stage

    with pytest.raises(ValueError) as info:
        embed_stage(
            EngineeredFeaturesConfig(),
            EmbedInputs(patches_zarr=tmp_path / "e.zarr", patches_parquet=tmp_path / "e.parquet"),
            EmbedOutputs(embeddings=tmp_path / "x.zarr"),
            model="engineered_features",
            dataset="blank",
            partial_store=tmp_path / "partial",
        )
    message = str(info.value)
    assert str(tmp_path / "e.zarr") in message and "holds no patches" in message
    assert "embeddings of blank by engineered_features" in message
    assert not (tmp_path / "x.zarr").exists()


def test_corrupt_last_checkpoint_is_moved_aside_and_training_starts_fresh(patch_store, tmp_path, caplog):
    """Documented skip: an unreadable last.ckpt goes to last.ckpt.corrupt, with a warning."""
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    garbage = b"PK\x03\x04 truncated by a killed job"
    last.write_bytes(garbage)
    config = _config(epochs=1, max_batches_per_epoch=1, max_validation_batches=1)
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        summary = train_model(patch_store["zarr"], patch_store["parquet"], config, tmp_path)
    assert summary["resumed_from"] is None and summary["global_step"] == 1
    aside = tmp_path / "checkpoints" / "last.ckpt.corrupt"
    assert aside.read_bytes() == garbage
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(last) in w and "unreadable checkpoint" in w and str(aside) in w for w in warnings)
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 1  # a fresh one
    assert (tmp_path / "model.ckpt").exists()


def test_a_gpu_asked_for_where_torch_sees_none_fails_naming_the_key_before_reading(tmp_path, monkeypatch):
    """training.accelerator: gpu on a machine where torch sees no GPU: refused naming the key before
    the stores are read (here they do not even exist) and before config.json is written, not by
    Lightning's "No supported gpu backend found!" after the data is set up."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    config = {
        "patch_spec": "tiny",
        "sampling": "classical",
        "backbone": "convnext_atto",
        "accelerator": "gpu",
    }
    with pytest.raises(
        RuntimeError, match=r"training.accelerator: 'gpu' was requested but torch sees no GPU"
    ):
        train_model(tmp_path / "missing.zarr", tmp_path / "missing.parquet", config, tmp_path / "model")
    assert not (tmp_path / "model" / "config.json").exists()


def test_a_nan_loss_stops_training_naming_the_step_and_the_patches(patch_store, tmp_path):
    """Patches holding NaN (a store written elsewhere, or a stage's bug) give a NaN loss: Lightning
    went on, exported a model.ckpt of NaN weights with exit 0, and every embedding made with it was
    NaN. Training now stops at that step, naming it, the batch's rows and that the patches hold NaN."""
    import shutil

    import numpy as np
    import zarr

    store = tmp_path / "store"
    shutil.copytree(patch_store["zarr"], store / "tiny.zarr")
    shutil.copy(patch_store["parquet"], store / "tiny.parquet")
    patches = zarr.open_group(str(store / "tiny.zarr"), mode="r+")["patches"]
    patches[:] = np.full(patches.shape, np.nan, dtype=patches.dtype)
    with pytest.raises(FloatingPointError, match=r"training loss is nan at step 0 .*NaN or infinite voxel"):
        train_model(
            store / "tiny.zarr", store / "tiny.parquet", _config(), tmp_path / "run", fast_dev_run=True
        )
    assert not (tmp_path / "run" / "model.ckpt").exists()


def test_a_nan_validation_loss_stops_training_naming_the_rows_and_the_patches(patch_store, tmp_path):
    """Validation patches holding NaN (training patches finite): the validation loss was NaN, never
    checked, and model.ckpt was exported with exit 0. Training now stops after the validation epoch,
    naming the step, the batch's rows and that the patches hold NaN."""
    import shutil

    import numpy as np
    import zarr

    store = tmp_path / "store"
    shutil.copytree(patch_store["zarr"], store / "tiny.zarr")
    shutil.copy(patch_store["parquet"], store / "tiny.parquet")
    index = pd.read_parquet(store / "tiny.parquet")
    validation_rows = index.loc[index["fov_name"] == "A/1/0", "row"].to_numpy()
    patches = zarr.open_group(str(store / "tiny.zarr"), mode="r+")["patches"]
    values = np.asarray(patches[:])
    values[validation_rows] = np.nan
    patches[:] = values
    with pytest.raises(
        FloatingPointError, match=r"validation loss is nan at step \d+ .*NaN or infinite voxel"
    ):
        train_model(
            store / "tiny.zarr", store / "tiny.parquet", _config(), tmp_path / "run", fast_dev_run=True
        )
    assert not (tmp_path / "run" / "model.ckpt").exists()


def test_nan_weights_are_not_exported_whatever_the_last_loss(tmp_path):
    """A run whose weights turned NaN after its last checked loss (no validation to notice): its
    checkpoint is refused at export, naming the file and the tensor, and model.ckpt is not written."""
    from dynaclr.io import ArtifactKind, make_provenance
    from dynaclr.training.train import _export_model

    weights = {
        "encoder.stem.weight": torch.ones(2, 2),
        "encoder.head.bias": torch.tensor([1.0, float("nan")]),
    }
    source = tmp_path / "final.ckpt"
    torch.save({"state_dict": weights, "hyper_parameters": {}, "global_step": 12}, source)
    provenance = make_provenance(ArtifactKind.CONTRASTIVE_MODEL, {}, inputs=[])
    with pytest.raises(
        FloatingPointError, match=r"final.ckpt: expected finite trained weights.*'encoder.head.bias'"
    ):
        _export_model(source, tmp_path / "model.ckpt", provenance, {})
    assert not (tmp_path / "model.ckpt").exists()


def test_the_loss_check_names_the_first_non_finite_step_when_it_reads_the_flag_later():
    """The loss is checked on the device every step and read at the logging cadence: the error
    names the first non-finite step, its rows and cause, not the step at which it was read; every
    rank raises when any rank saw one (the strategy's vote)."""
    from dynaclr.training.data import PatchBatch
    from dynaclr.training.module import NonFiniteLossWatch

    class Vote:
        def __init__(self, others: bool = False) -> None:
            self.others = others

        def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
            return decision or self.others

    def batch(first_row: int, anchor: torch.Tensor) -> PatchBatch:
        rows = torch.arange(first_row, first_row + 10)
        return PatchBatch(
            anchor=anchor,
            positive=torch.zeros(10, 1),
            negative=None,
            anchor_row=rows,
            positive_row=rows,
            negative_row=rows,
        )

    watch = NonFiniteLossWatch("training")
    watch.update(torch.tensor(1.0), batch(0, torch.zeros(10, 1)), 0)
    watch.check(Vote())  # finite: nothing
    with pytest.raises(FloatingPointError, match="not finite on another process"):
        watch.check(Vote(others=True))
    watch.update(torch.tensor(float("inf")), batch(20, torch.zeros(10, 1)), 1)
    watch.update(torch.tensor(float("nan")), batch(40, torch.full((10, 1), float("nan"))), 2)
    rows = r"\[20, 21, 22, 23, 24, 25, 26, 27\] \.\.\."
    message = rf"training loss is inf at step 1 \(batch of anchor rows {rows}.*finite, so training diverged"
    with pytest.raises(FloatingPointError, match=message):
        watch.check(Vote())
