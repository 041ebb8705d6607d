"""A model trained here records the sampling of the plates it learnt from (``training_sampling`` in
model.ckpt: pixel size, z step, time interval, each null where nothing states it); a copy of it
imported elsewhere (rule import_model, ``checkpoint_format: dynaclr``) is compared with each dataset
it embeds as the dry run compares a model trained here (dynaclr.config.transfer_checks), so a
colleague's model is never embedded, without being told, on data of another objective or z step. A
dataset sampled as any of the training datasets is accepted; the time interval is not compared
(embedding one frame does not depend on it, as for a model trained here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import build_patch_store
from test_training import SPEC, _config
from test_transfer_checks import demo, layouts_of

from dynaclr.config.embeddings import EmbeddingConfig
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.config.transfer_checks import dataset_sampling
from dynaclr.embeddings import EmbedInputs, EmbedOutputs, embed_stage
from dynaclr.io import ArtifactError
from dynaclr.training.checkpoint import read_contrastive_checkpoint
from dynaclr.training.imported import ImportModelInputs, ImportModelOutputs, import_model
from dynaclr.training.train import TrainInputs, TrainOutputs, train_contrastive

#: The tiny plate's patch spec and a classical model of it (test_training's).
CONFIG = _config("classical", "ntxent")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def demo_records(**simulate: Any) -> dict[str, dict[str, Any]]:
    """The sampling the workflow states for the demo datasets (``demo_15min``'s ``simulate`` keys
    replaced), as the rules pass it (dataset_sampling's records), by dataset, with the depth of the
    tiny patches these tests train and import on (``SPEC``: import_model compares the recorded slices)."""
    workflow, layouts = layouts_of(demo(**simulate))
    spec = workflow.contrastive_models["time_aware_ntxent"].training.patch_spec
    return {
        d: {**dataset_sampling(workflow, d, spec, layouts[d]).to_json(), "slices": SPEC.z_window_slices}
        for d in ("demo", "demo_15min")
    }


def train(store: dict[str, Path], out: Path, records: list[dict[str, Any]] | None) -> dict[str, Any]:
    """One training step on ``store`` (dataset ``tiny``) into ``out``, recording ``records``."""
    return train_contrastive(
        ContrastiveModelConfig.model_validate(CONFIG),
        TrainInputs(patches_zarr=store["zarr"], patches_parquet=store["parquet"], dataset_names=("tiny",)),
        TrainOutputs(checkpoint=out / "model.ckpt", config=out / "config.json"),
        work_dir=out,
        fast_dev_run=True,
        training_sampling=records,
    )


@pytest.fixture(scope="module")
def store(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    plates = {"raw": tiny_plate["plate"], "phase": tiny_plate["phase"]}
    return build_patch_store(plates, tiny_plate["tracks"], SPEC, tmp_path_factory.mktemp("sampling_patches"))


@pytest.fixture(scope="module")
def trained(store: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained (one step) on the tiny plate's patches, whose plate is sampled as ``demo``."""
    out = tmp_path_factory.mktemp("trained_sampling")
    record = {**demo_records()["demo"], "dataset": "tiny"}
    assert train(store, out, [record])["training_sampling"] == [record]
    return out / "model.ckpt"


def run_import(
    tmp_path: Path,
    source: Path,
    embedded: dict[str, dict[str, Any]],
    allow_other_scales: bool = False,
) -> dict[str, Any]:
    outputs = ImportModelOutputs(checkpoint=tmp_path / "model.ckpt", config=tmp_path / "config.json")
    return import_model(
        ContrastiveModelConfig.model_validate(CONFIG),
        "dynaclr",
        ImportModelInputs(checkpoint=source),
        outputs,
        in_channels=2,
        in_stack_depth=3,
        patch_size_yx_px=32,
        model_name="colleague",
        channels=SPEC.channel_labels(),
        embedded_sampling=embedded,
        allow_other_scales=allow_other_scales,
    )


def test_a_trained_model_records_the_sampling_of_its_datasets(trained: Path) -> None:
    recorded = read_contrastive_checkpoint(trained).training_sampling
    assert recorded == [{**demo_records()["demo"], "dataset": "tiny"}]
    assert recorded[0]["pixel_size_um"] == 0.65 and recorded[0]["time_interval_minutes"] == 30.0


def test_a_model_imported_for_a_dataset_of_twice_the_pixel_size_is_refused(
    trained: Path, tmp_path: Path
) -> None:
    """demo_15min, imaged at 1.3 µm (and every 15 min): refused naming the key, both datasets and
    both values, as the dry run refuses a model trained here."""
    records = demo_records(pixel_size_um=1.3)
    with pytest.raises(ArtifactError) as refusal:
        run_import(tmp_path, trained, {"demo_15min": records["demo_15min"]})
    message = str(refusal.value)
    assert message.startswith(
        "contrastive_models.colleague.embed_datasets: dataset 'demo_15min' (results/demo_15min/raw.zarr) is "
        f"sampled otherwise than dataset 'tiny' (results/demo/raw.zarr, which {trained} was trained on): "
    )
    assert "pixel size 1.3 µm (a 32 px patch spans 41.6 µm), expected 0.65 µm (20.8 µm)" in message
    assert "time interval" not in message and "tau" not in message  # 15 min, not compared
    # the advice names the key of the size that differs, not the z step's
    assert "(or the dataset's phase.yx_pixel_size_um)" in message and "z_step_um" not in message
    assert "allow_other_scales: true" in message
    assert not (tmp_path / "model.ckpt").exists()


def test_another_time_interval_alone_is_accepted(trained: Path, tmp_path: Path) -> None:
    """demo_15min is imaged every 15 min, the training dataset every 30 min: a model trained here on
    demo embeds demo_15min without a word from the dry run, and so does an imported copy."""
    records = demo_records()
    assert records["demo_15min"]["time_interval_minutes"] == 15.0
    summary = run_import(tmp_path, trained, {"demo_15min": records["demo_15min"]})
    assert summary["training_sampling_verified"] is True


def pooled_model(trained: Path, tmp_path: Path) -> Path:
    """``trained`` as if pooled over dataset 'A' (0.65 µm pixels) and 'B' (0.325 µm)."""
    first = {**demo_records()["demo"], "dataset": "A", "plate": "results/A/raw.zarr"}
    second = {**first, "dataset": "B", "plate": "results/B/raw.zarr", "pixel_size_um": 0.325}
    checkpoint = torch.load(trained, weights_only=True)
    checkpoint["dynaclr_training"]["training_sampling"] = [first, second]
    torch.save(checkpoint, tmp_path / "pooled.ckpt")
    return tmp_path / "pooled.ckpt"


def test_a_dataset_sampled_as_any_training_dataset_is_accepted(trained: Path, tmp_path: Path) -> None:
    """Dataset C, sampled as B (the second training dataset), not as A: accepted."""
    pooled = pooled_model(trained, tmp_path)
    sampled_as_b = {**demo_records()["demo"], "dataset": "C", "pixel_size_um": 0.325}
    summary = run_import(tmp_path / "imported", pooled, {"C": sampled_as_b})
    assert summary["training_sampling_verified"] is True


def test_a_dataset_sampled_as_no_training_dataset_is_refused_naming_them_all(
    trained: Path, tmp_path: Path
) -> None:
    pooled = pooled_model(trained, tmp_path)
    with pytest.raises(ArtifactError) as refusal:
        run_import(
            tmp_path / "imported",
            pooled,
            {"D": {**demo_records()["demo"], "dataset": "D", "pixel_size_um": 1.3}},
        )
    message = str(refusal.value)
    assert "sampled otherwise than any of the 2 datasets it was trained on: " in message
    assert f"dataset 'A' (results/A/raw.zarr, which {pooled} was trained on): pixel size 1.3 µm" in message
    assert f"dataset 'B' (results/B/raw.zarr, which {pooled} was trained on): pixel size 1.3 µm" in message
    assert "expected 0.65 µm" in message and "expected 0.325 µm" in message


def test_the_same_sampling_is_accepted_and_recorded_as_verified(trained: Path, tmp_path: Path) -> None:
    records = demo_records()
    summary = run_import(tmp_path / "same", trained, {"demo": records["demo"]})
    assert summary["training_sampling_verified"] is True
    imported = read_contrastive_checkpoint(tmp_path / "same" / "model.ckpt")
    assert imported.training_sampling == read_contrastive_checkpoint(trained).training_sampling
    again = run_import(tmp_path / "again", tmp_path / "same" / "model.ckpt", {"demo": records["demo"]})
    assert again["training_sampling_verified"] is True  # an imported copy keeps what the training stated
    with pytest.raises(ArtifactError, match=r"pixel size 1.3 µm"):
        run_import(tmp_path / "other", tmp_path / "same" / "model.ckpt", demo_records(pixel_size_um=1.3))


def test_allow_other_scales_imports_with_a_warning(
    trained: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="dynaclr.training.imported"):
        summary = run_import(tmp_path, trained, demo_records(pixel_size_um=1.3), allow_other_scales=True)
    assert summary["training_sampling_verified"] is True
    assert any(
        "allowed by allow_other_scales" in r.getMessage() and "1.3 µm" in r.getMessage()
        for r in caplog.records
    )


def test_a_size_not_stated_for_the_embedded_dataset_is_refused(trained: Path, tmp_path: Path) -> None:
    unstated = {**demo_records()["demo"], "pixel_size_um": None}
    with pytest.raises(ArtifactError, match=r"not known to be sampled as .* pixel size not stated"):
        run_import(tmp_path, trained, {"demo": unstated})


def test_a_file_recording_no_sampling_is_imported_with_a_warning(
    trained: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A model.ckpt of an older dynaclr (no training_sampling): imported, warned, recorded unverified."""
    old = torch.load(trained, weights_only=True)
    del old["dynaclr_training"]["training_sampling"]
    torch.save(old, tmp_path / "old.ckpt")
    with caplog.at_level("WARNING", logger="dynaclr.training.imported"):
        summary = run_import(tmp_path / "imported", tmp_path / "old.ckpt", demo_records(pixel_size_um=1.3))
    assert summary["training_sampling_verified"] is False and summary["training_sampling"] is None
    assert any(
        "sampling could not be checked" in r.getMessage() and "demo_15min" in r.getMessage()
        for r in caplog.records
    )
    stored = torch.load(tmp_path / "imported" / "model.ckpt", weights_only=True)["dynaclr_training"]
    assert stored["training_sampling_verified"] is False


def test_training_refuses_records_of_other_datasets(store: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"expected the sampling of the datasets \['tiny'\].*found that of \['demo'\]"
    ):
        train(store, tmp_path, [demo_records()["demo"]])


def test_embed_compares_a_dataset_added_since_the_import(
    trained: Path, store: dict[str, Path], tmp_path: Path
) -> None:
    """import_model is not rerun when embed_datasets grows: each embed job of an imported model
    compares its own dataset, with the same refusal."""
    run_import(tmp_path / "imported", trained, {"demo": demo_records()["demo"]})
    imported = tmp_path / "imported" / "model.ckpt"
    with pytest.raises(ArtifactError, match=r"embed_datasets: dataset 'demo_15min' .*pixel size 1.3 µm"):
        embed(store, imported, tmp_path, "demo_15min", demo_records(pixel_size_um=1.3)["demo_15min"])
    assert not (tmp_path / "demo_15min.zarr").exists()
    assert embed(store, imported, tmp_path, "demo", demo_records()["demo"]).exists()


def embed(
    store: dict[str, Path], checkpoint: Path, tmp_path: Path, dataset: str, record: dict[str, Any]
) -> Path:
    """Rule embed of ``dataset`` (whose sampling is ``record``) with the imported ``checkpoint``."""
    output = tmp_path / f"{dataset}.zarr"
    embed_stage(
        EmbeddingConfig(),
        EmbedInputs(patches_zarr=store["zarr"], patches_parquet=store["parquet"], checkpoint=checkpoint),
        EmbedOutputs(embeddings=output),
        model="colleague",
        dataset=dataset,
        partial_store=tmp_path / f".{dataset}.partial",
        sampling_check={"sampling": record, "allow_other_scales": False},
    )
    return output


def test_embed_does_not_warn_again_for_a_copy_whose_file_recorded_no_sampling(
    trained: Path, store: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The import warned once (in the terms of the file it read); each embed job of the copy, which
    records training_sampling_verified: false, says nothing more about it."""
    old = torch.load(trained, weights_only=True)
    del old["dynaclr_training"]["training_sampling"]
    torch.save(old, tmp_path / "old.ckpt")
    with caplog.at_level("WARNING"):
        run_import(tmp_path / "imported", tmp_path / "old.ckpt", {"demo": demo_records()["demo"]})
    assert [r for r in caplog.records if "does not record the sampling" in r.getMessage()]  # once, here
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert embed(
            store, tmp_path / "imported" / "model.ckpt", tmp_path, "demo", demo_records()["demo"]
        ).exists()
    assert not [r for r in caplog.records if "does not record the sampling" in r.getMessage()]


@pytest.mark.parametrize("value", ["{not json", '{"dataset": "tiny"}'])
def test_the_command_line_refuses_a_sampling_that_is_not_a_list_of_records(
    store: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    from dynaclr.training.__main__ import main

    (tmp_path / "config.json").write_text(ContrastiveModelConfig.model_validate(CONFIG).model_dump_json())
    arguments = ["--patches-zarr", str(store["zarr"]), "--patches-parquet", str(store["parquet"])]
    arguments += ["--config", str(tmp_path / "config.json"), "--model", str(tmp_path / "model.ckpt")]
    arguments += ["--model-config", str(tmp_path / "c.json"), "--work-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as stopped:
        main([*arguments, "--training-sampling", value])
    assert stopped.value.code == 2 and "--training-sampling: expected a JSON list" in capsys.readouterr().err
    assert not (tmp_path / "model.ckpt").exists()
