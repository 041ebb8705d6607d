"""Contrastive training on the tiny plate's patches: smoke runs per sampling and loss, checkpoints,
resume, determinism, and a 2-process DDP run (gloo) launched with torchrun."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import build_patch_store, train_model, training_cli_outputs
from lightning.pytorch.callbacks import Timer

from dynaclr.config.patches import PatchSpec
from dynaclr.contrastive.augment import center_crop
from dynaclr.patches import open_patch_store
from dynaclr.training import load_contrastive_model
from dynaclr.training.module import warmup_cosine_schedule
from dynaclr.training.sampling import ContrastiveBatchSampler

SPEC = PatchSpec.model_validate(
    {
        "name": "tiny",
        "channels": [
            {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
        ],
        "z_window_slices": 3,
        "patch_size_yx_px": 32,
    }
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def patch_store(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("training_patches")
    plates = {"raw": tiny_plate["plate"], "phase": tiny_plate["phase"]}
    return build_patch_store(plates, tiny_plate["tracks"], SPEC, out)


def _config(sampling: str, loss: str, **extra) -> dict:
    return {
        "patch_spec": "tiny",
        "sampling": sampling,
        "loss": loss,
        "tau_frames": 1 if sampling == "time_aware" else None,
        "backbone": "convnext_atto",
        "batch_size": 4,
        "num_workers": 0,
        "validation_fovs": ["A/1/0"],
        "seed": 3,
        **extra,
    }


@pytest.mark.parametrize("loss", ["ntxent", "triplet"])
@pytest.mark.parametrize("sampling", ["classical", "cell_aware", "time_aware"])
def test_fast_dev_run_per_sampling_and_loss(patch_store, tmp_path, sampling, loss):
    workers = 1 if (sampling, loss) == ("time_aware", "ntxent") else 0  # one run through a worker process
    summary = train_model(
        patch_store["zarr"],
        patch_store["parquet"],
        _config(sampling, loss, num_workers=workers),
        tmp_path,
        fast_dev_run=True,
    )
    assert summary["global_step"] == 1 and summary["train_fovs"] == ["B/1/0"]
    assert summary["tau_frames"] == (1 if sampling == "time_aware" else 0)
    module, provenance = load_contrastive_model(tmp_path / "model.ckpt")
    assert provenance.kind == "contrastive_model"
    assert provenance.config["sampling"] == sampling and provenance.config["loss"] == loss
    store = open_patch_store(patch_store["zarr"], patch_store["parquet"])
    patches = torch.from_numpy(np.asarray(store.array[:3], dtype=np.float32))  # (3, 2, 3, 60, 60)
    with torch.no_grad():
        embeddings = module(center_crop(patches, 32))
    assert embeddings.shape == (3, 320) and torch.isfinite(embeddings).all()


def test_a_warmup_as_long_as_the_training_is_warned_in_the_job_log(patch_store, tmp_path, caplog):
    """``epochs: 1`` with the default warm-up of 1 epoch trains at a learning rate that never decays:
    accepted, and the training job's log says so at WARNING, naming both keys and values (the dry run
    does too: tests/unit/test_early_checks.py); a shorter warm-up says nothing."""
    for warmup, warned in ((1.0, True), (0.5, False)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="dynaclr"):
            train_model(
                patch_store["zarr"],
                patch_store["parquet"],
                _config("classical", "ntxent", epochs=1, warmup_epochs=warmup),
                tmp_path / str(warmup),
                fast_dev_run=True,
            )
        lines = [r.getMessage() for r in caplog.records if "warmup_epochs" in r.getMessage()]
        assert [r.levelno for r in caplog.records if "warmup_epochs" in r.getMessage()] == [
            logging.WARNING
        ] * warned
        assert all(
            line.startswith("training.warmup_epochs (1) is not below training.epochs (1): the learning rate")
            for line in lines
        )


def test_same_seed_same_weights_wherever_batches_are_augmented(patch_store, tmp_path):
    """Same seed, same weights: twice on the device, then in 2 workers (each batch seeded alone)."""
    runs = {"a": ("device", 0), "b": ("device", 0), "workers": ("workers", 2)}
    states = {}
    for run, (augment_in, workers) in runs.items():
        summary = train_model(
            patch_store["zarr"],
            patch_store["parquet"],
            _config("time_aware", "ntxent", augment_in=augment_in, num_workers=workers),
            tmp_path / run,
            fast_dev_run=True,
        )
        assert summary["augment_in"] == augment_in
        states[run] = torch.load(tmp_path / run / "model.ckpt", weights_only=True)["state_dict"]
    for run in ("b", "workers"):
        assert states["a"].keys() == states[run].keys()
        assert all(torch.equal(states["a"][key], states[run][key]) for key in states["a"]), run


def test_strategy_ddp_in_one_process_trains_the_weights_of_the_default_strategy(
    patch_store, tmp_path, monkeypatch
):
    """training.strategy: ddp launched without torchrun on the CPU (one process, gloo): it runs on the
    threads it was given (Lightning's DDP sets torch's threads to the machine's cores where
    OMP_NUM_THREADS is unset) and so trains bitwise the weights strategy auto does."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    states = {}
    for strategy in ("auto", "ddp"):
        summary = train_model(
            patch_store["zarr"],
            patch_store["parquet"],
            _config("time_aware", "ntxent", strategy=strategy, accelerator="cpu"),
            tmp_path / strategy,
            fast_dev_run=True,
        )
        assert summary["global_step"] == 1 and summary["world_size"] == 1
        assert torch.get_num_threads() == 1 and "OMP_NUM_THREADS" not in os.environ  # as before the run
        states[strategy] = torch.load(tmp_path / strategy / "model.ckpt", weights_only=True)["state_dict"]
    assert states["auto"].keys() == states["ddp"].keys()
    assert all(torch.equal(states["auto"][key], states["ddp"][key]) for key in states["auto"])


def test_the_run_keys_train_the_same_weights_into_the_same_model_and_resume_each_other(patch_store, tmp_path):
    """ContrastiveModelConfig.RUN_KEYS (num_workers, and so where augment_in: auto augments; the
    logging interval; the audit of the rows trained on) train bitwise the same weights over several
    steps and epochs, and make the same model: the same config.json and checkpoint config hash (that
    of the config with the keys at their defaults, the hash the embed jobs expect), so a run with
    other values of them resumes the last one's checkpoint."""
    from dynaclr.config.training import ContrastiveModelConfig
    from dynaclr.io import config_hash

    steps = {"epochs": 2, "max_batches_per_epoch": 2, "max_validation_batches": 1, "warmup_epochs": 0.5}
    runs = {
        "defaults_but_in_process": {"num_workers": 0},  # auto: augmented on the device (the CPU)
        "workers_every_step_audited": {"num_workers": 2, "log_every_n_steps": 1, "record_sample_rows": True},
    }
    states, hashes, configs, recorded = {}, {}, {}, {}
    for run, keys in runs.items():
        summary = train_model(
            patch_store["zarr"],
            patch_store["parquet"],
            _config("time_aware", "ntxent", **steps, **keys),
            tmp_path / run,
        )
        recorded[run] = summary.get("run")
        states[run] = torch.load(tmp_path / run / "model.ckpt", weights_only=True)["state_dict"]
        hashes[run] = load_contrastive_model(tmp_path / run / "model.ckpt")[1].config_hash
        configs[run] = json.loads((tmp_path / run / "config.json").read_text())
    assert summary["augment_in"] == "workers" and summary["global_step"] == 4
    assert (tmp_path / "workers_every_step_audited" / "logs" / "sample_rows_rank0.parquet").exists()
    first, second = states.values()
    assert first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)
    at_defaults = ContrastiveModelConfig.model_validate(
        _config("time_aware", "ntxent", **steps, num_workers=2)
    )
    assert set(hashes.values()) == {config_hash(at_defaults.model_dump(mode="json"))}
    assert configs["defaults_but_in_process"] == configs["workers_every_step_audited"]
    assert configs["defaults_but_in_process"]["num_workers"] == 2  # held at the default
    # the values the runs had are in their training summaries (the checkpoint records it)
    assert set(runs["workers_every_step_audited"]) == set(ContrastiveModelConfig.RUN_KEYS)
    assert recorded == {
        run: ContrastiveModelConfig.model_validate(_config("time_aware", "ntxent", **keys)).run_params()
        for run, keys in runs.items()
    }

    # preempted with some run settings, resumed with others: the same run goes on
    work = tmp_path / "workers_every_step_audited"
    (work / "model.ckpt").unlink()
    again = train_model(
        patch_store["zarr"], patch_store["parquet"], _config("time_aware", "ntxent", **steps), work
    )
    assert again["resumed_from"] == str(work / "checkpoints" / "last.ckpt") and again["global_step"] == 4


def test_a_model_config_setting_no_run_key_keeps_its_params_and_hash():
    """ContrastiveModelConfig.job_params (train_contrastive's params, the checkpoint's config hash)
    holds the RUN_KEYS at their defaults: a config that does not set them dumps as it always did (the
    models trained before they were run keys are not trained again), one that sets them dumps the
    same, and the run params give its values back."""
    from dynaclr.config.base import with_run_params
    from dynaclr.config.training import ContrastiveModelConfig

    plain = {"patch_spec": "tiny", "sampling": "classical", "seed": 3}
    unset = ContrastiveModelConfig.model_validate(plain)
    assert list(unset.job_params().items()) == list(unset.model_dump(mode="json").items())
    run = {"num_workers": 0, "log_every_n_steps": 1, "record_sample_rows": True}
    edited = ContrastiveModelConfig.model_validate({**plain, **run})
    assert edited.job_params() == unset.job_params() and edited.run_params() == run
    assert with_run_params(edited.job_params(), edited.run_params()) == edited.model_dump(mode="json")


def test_a_compiled_encoder_trains_and_computes_what_the_eager_one_does(
    patch_store, tmp_path, caplog, monkeypatch
):
    """training.compile: the run compiles the encoder in place (checkpoint keys unchanged, no
    ``_orig_mod``), TorchDynamo captures graphs of it while it trains, and the compiled encoder's
    outputs and gradients are the eager ones (up to float rounding). (Weights after an AdamW step
    are not compared: its first step moves each weight by about the learning rate times the sign
    of its gradient, which rounding flips where a gradient is near zero.)

    Compiled here with the ``aot_eager`` backend: TorchDynamo's graph capture and AOTAutograd's
    forward/backward split, as in a run, without Inductor's code generation (fused kernels), which
    costs minutes on 2 cores with a cold cache (CI's). ``benchmarks/gpu_training.py --variants
    compile`` runs Inductor."""
    from torch._dynamo.testing import CompileCounterWithBackend

    module_compile = torch.nn.Module.compile
    counter = CompileCounterWithBackend("aot_eager")

    def aot_eager_compile(self: torch.nn.Module, *args, **kwargs) -> None:
        module_compile(self, *args, **{**kwargs, "backend": counter})

    monkeypatch.setattr(torch.nn.Module, "compile", aot_eager_compile)
    keys = {}
    for compiled in (False, True):
        with caplog.at_level(logging.INFO, logger="dynaclr.training.train"):
            summary = train_model(
                patch_store["zarr"],
                patch_store["parquet"],
                _config("time_aware", "ntxent", compile=compiled),
                tmp_path / str(compiled),
                fast_dev_run=True,
            )
        assert summary["global_step"] == 1
        assert ("encoder compiled with torch.compile" in caplog.text) == compiled
        assert (counter.frame_count > 0) == compiled, counter.frame_count  # graphs captured in training
        caplog.clear()
        keys[compiled] = list(
            torch.load(tmp_path / str(compiled) / "model.ckpt", weights_only=True)["state_dict"]
        )
    assert keys[True] == keys[False] and not any("_orig_mod" in key for key in keys[True])

    module, _ = load_contrastive_model(tmp_path / "True" / "model.ckpt")
    eager = module.encoder.train()
    compiled_encoder = copy.deepcopy(eager)
    compiled_encoder.compile()
    store = open_patch_store(patch_store["zarr"], patch_store["parquet"])
    patches = center_crop(torch.from_numpy(np.asarray(store.array[:4], dtype=np.float32)), 32)
    grads = []
    outputs = []
    for encoder in (eager, compiled_encoder):
        encoder.zero_grad()
        features, projections = encoder(patches)
        (features.square().mean() + projections.square().mean()).backward()
        outputs.append((features.detach(), projections.detach()))
        grads.append([p.grad.clone() for p in encoder.parameters()])
    for one, other in zip(outputs[0], outputs[1], strict=True):
        torch.testing.assert_close(other, one, rtol=1e-4, atol=1e-5)
    for one, other in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(other, one, rtol=1e-3, atol=1e-6)


def test_training_writes_logs_checkpoints_and_resumes(patch_store, tmp_path, caplog):
    config = _config(
        "time_aware",
        "ntxent",
        epochs=2,
        max_batches_per_epoch=2,
        max_validation_batches=2,
        log_every_n_steps=1,
        warmup_epochs=0.5,
        record_sample_rows=True,
    )
    with caplog.at_level(logging.INFO, logger="dynaclr.numerics.progress"):
        summary = train_model(patch_store["zarr"], patch_store["parquet"], config, tmp_path)
    assert summary["epochs_completed"] == 2 and summary["global_step"] == 4
    assert summary["stopped_by_time"] is False and summary["planned_steps"] == 4
    # the job's log reads as progress: a line per logged step (loss, rate, ETA), one per validation
    progress = [r.getMessage() for r in caplog.records if r.name == "dynaclr.numerics.progress"]
    steps = [line for line in progress if line.startswith("epoch") and "steps/s" in line]
    assert [line.split(", ")[1] for line in steps] == [f"step {k}/4 ({25 * k} %)" for k in (1, 2, 3, 4)]
    assert all("loss " in line and "lr " in line and "ETA " in line for line in steps)
    assert sum("validation loss" in line for line in progress) == 2
    assert progress[0] == "training: 2 epochs, 4 optimiser steps" and "ended at step 4" in progress[-1]
    assert summary["resumed_from"] is None and summary["best_validation_loss"] is not None
    assert json.loads((tmp_path / "config.json").read_text())["max_batches_per_epoch"] == 2
    assert (tmp_path / "checkpoints" / "last.ckpt").exists() and (
        tmp_path / "checkpoints" / "best.ckpt"
    ).exists()
    metrics = pd.read_csv(next((tmp_path / "logs" / "csv").glob("version_*/metrics.csv")))
    assert metrics["val/loss"].notna().sum() == 2 and metrics["train/loss_step"].notna().sum() == 4
    assert list((tmp_path / "logs" / "tensorboard").glob("version_*/events.out.tfevents.*"))
    rows = pd.read_parquet(tmp_path / "logs" / "sample_rows_rank0.parquet")
    assert len(rows) == 2 * 2 * 4
    epochs = [rows.loc[rows["epoch"] == e, "anchor_row"].tolist() for e in (0, 1)]
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    exported = torch.load(tmp_path / "model.ckpt", weights_only=True)
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=False)
    assert all(torch.equal(exported["state_dict"][k], best["state_dict"][k]) for k in best["state_dict"])
    assert "optimizer_states" not in exported and exported["dynaclr"]["kind"] == "contrastive_model"

    # Snakemake deletes model.ckpt before a rerun; the rerun resumes from checkpoints/last.ckpt
    (tmp_path / "model.ckpt").unlink()
    again = train_model(patch_store["zarr"], patch_store["parquet"], config, tmp_path)
    assert again["resumed_from"] == str(tmp_path / "checkpoints" / "last.ckpt")
    assert again["global_step"] == 4 and (tmp_path / "model.ckpt").exists()
    # another config never resumes from a stale checkpoint
    changed = train_model(
        patch_store["zarr"],
        patch_store["parquet"],
        {**config, "epochs": 1, "record_sample_rows": False},
        tmp_path,
    )
    assert changed["resumed_from"] is None and changed["global_step"] == 2


def test_time_budget_stops_training_early_with_a_checkpoint(patch_store, tmp_path, caplog):
    """training.max_minutes: a budget far shorter than the epochs ends the run early with the exported
    model of the steps taken, and says so: a WARNING naming the key, the steps taken and planned, and
    ``stopped_by_time`` in the model's summary. Before, only an INFO line ("training ended at step 3")
    told a model trained on a fraction of its epochs, its learning rate never decayed, from one trained
    to the end (exit 0; the demo config sets a 15-minute budget)."""
    config = _config(
        "time_aware",
        "ntxent",
        epochs=50,
        max_batches_per_epoch=1,
        max_validation_batches=1,
        max_minutes=0.002,
    )
    with caplog.at_level(logging.WARNING, logger="dynaclr.training.train"):
        summary = train_model(
            patch_store["zarr"], patch_store["parquet"], config, tmp_path, model_name="budgeted"
        )
    assert 1 <= summary["global_step"] < 50 and summary["epochs_completed"] < 50
    assert summary["stopped_by_time"] is True and summary["planned_steps"] == 50
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, warned
    assert "contrastive_models.budgeted.training.max_minutes (0.002)" in warned[0]
    assert (
        f"after {summary['epochs_completed']} of 50 epochs ({summary['global_step']} optimiser steps, "
        "the schedule planned about 50" in warned[0]
    )
    assert "stopped_by_time" in warned[0]
    assert "max_minutes is part of the model's config, so the model then retrains from scratch" in warned[0]
    recorded = torch.load(tmp_path / "model.ckpt", weights_only=True)["dynaclr_training"]
    assert recorded["stopped_by_time"] is True and recorded["planned_steps"] == 50
    _, provenance = load_contrastive_model(tmp_path / "model.ckpt")
    assert provenance.config["max_minutes"] == 0.002
    trained = torch.load(tmp_path / "model.ckpt", weights_only=True)["state_dict"]
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == summary["global_step"]
    assert trained.keys() and all(
        torch.isfinite(value).all() for value in trained.values() if value.is_floating_point()
    )
    # a rerun (a requeued job) resumes with the budget's time counted as used: no new step, still flagged
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dynaclr.training.train"):
        rerun = train_model(
            patch_store["zarr"], patch_store["parquet"], config, tmp_path, model_name="budgeted"
        )
    assert rerun["resumed_from"] is not None
    assert rerun["global_step"] == summary["global_step"]
    assert rerun["epochs_completed"] == summary["epochs_completed"]
    assert rerun["stopped_by_time"] is True
    assert (
        torch.load(tmp_path / "model.ckpt", weights_only=True)["dynaclr_training"]["stopped_by_time"] is True
    )
    assert [r for r in caplog.records if r.levelno == logging.WARNING and "stopped_by_time" in r.getMessage()]


@pytest.mark.parametrize(
    ("stop_after_step", "epochs_trained", "stopped"),
    [(None, 3, False), (4, 2, True), (5, 2, True)],
    ids=["not_stopped", "at_an_epochs_end", "within_the_last_epoch"],
)
def test_a_time_stop_is_decided_on_epochs_when_epochs_form_different_batch_counts(
    patch_store, tmp_path, monkeypatch, stop_after_step, epochs_trained, stopped
):
    """With lineage-unique batches each epoch's order forms its own count of batches (e.g. 77, 77,
    76, ...): every epoch trains the fewest any forms (``ContrastiveBatchSampler.batches_per_epoch``),
    so the schedule's planned steps, epoch 0's batches times ``epochs``, are the steps of a finished
    run. Here epoch 1 forms a batch fewer than the others (3, 2, 3): every epoch trains 2 (6 steps, 6
    planned); the budget is spent (a fake timer) at the end, after step 4 (the end of epoch 1 of 3), or
    after step 5 (within the last epoch, which Lightning counts as completed): it is decided on the
    epochs whose every batch trained."""
    formed = ContrastiveBatchSampler._formed_batches

    def uneven(self: ContrastiveBatchSampler, epoch: int) -> list[np.ndarray]:
        batches = formed(self, epoch)
        return batches[:-1] if self.sampler.shuffle and epoch == 1 else batches

    def stop_at_step(self: Timer, trainer, *args, **kwargs) -> None:
        if stop_after_step is not None and trainer.global_step >= stop_after_step:
            trainer.should_stop = True

    monkeypatch.setattr(ContrastiveBatchSampler, "_formed_batches", uneven)
    monkeypatch.setattr(Timer, "on_train_batch_end", stop_at_step)
    monkeypatch.setattr(Timer, "time_remaining", lambda self, stage="train": 0.0)  # the time is spent
    config = _config(
        "time_aware",
        "ntxent",
        epochs=3,
        batch_size=2,
        max_batches_per_epoch=3,
        max_validation_batches=1,
        max_minutes=60,
    )
    summary = train_model(patch_store["zarr"], patch_store["parquet"], config, tmp_path)
    assert summary["planned_steps"] == 6
    assert summary["global_step"] == (stop_after_step or 6)
    assert summary["epochs_completed"] == epochs_trained
    assert summary["stopped_by_time"] is stopped


def _warmup_then_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """The schedule's formula, written out: ``(s + 1) / W`` for ``s < W``, then half a cosine."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _rates(schedule, optimizer, steps: int) -> list[float]:
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


@pytest.mark.parametrize(
    ("warmup_steps", "total_steps"), [(0, 1), (0, 130), (1, 2), (1, 10), (2, 5), (32, 130), (65, 130), (9, 4)]
)
def test_warmup_cosine_schedule_gives_the_formula_rate_every_optimiser_step(warmup_steps, total_steps):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedule = warmup_cosine_schedule(optimizer, warmup_steps, total_steps)
    steps = max(total_steps, warmup_steps) + 10  # past the end the rate stays 0 (a cosine would rise again)
    rates = _rates(schedule, optimizer, steps)
    expected = [1e-3 * _warmup_then_cosine(step, warmup_steps, total_steps) for step in range(steps)]
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-18)


def test_warmup_cosine_schedule_resumes_from_its_state():
    def fresh():
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        return optimizer, warmup_cosine_schedule(optimizer, 8, 40)

    optimizer, schedule = fresh()
    whole = _rates(schedule, optimizer, 40)
    optimizer, schedule = fresh()
    first = _rates(schedule, optimizer, 5)  # stopped during the warm-up
    resumed_optimizer, resumed = fresh()
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(schedule.state_dict())
    np.testing.assert_allclose(first + _rates(resumed, resumed_optimizer, 35), whole, rtol=1e-12)


def test_wrong_patch_spec_or_depth_fails_early(patch_store, tmp_path):
    with pytest.raises(ValueError, match="holds patch spec 'tiny'"):
        train_model(
            patch_store["zarr"],
            patch_store["parquet"],
            {**_config("classical", "ntxent"), "patch_spec": "x"},
            tmp_path,
        )
    with pytest.raises(ValueError, match="must divide the patch depth Z=3"):
        train_model(
            patch_store["zarr"],
            patch_store["parquet"],
            {**_config("classical", "ntxent"), "stem_kernel_z": 2},
            tmp_path,
        )


def test_patches_smaller_than_the_backbone_takes_fail_before_training(tiny_plate, tmp_path):
    """16 px patches: a ConvNeXt (which needs 32 px) is refused naming the store, before any step (it
    failed inside the first forward pass with a torch error); a ResNet trains on them."""
    spec = SPEC.model_copy(update={"name": "small", "patch_size_yx_px": 16, "z_window_slices": 1})
    plates = {"raw": tiny_plate["plate"], "phase": tiny_plate["phase"]}
    store = build_patch_store(plates, tiny_plate["tracks"], spec, tmp_path / "patches")
    config = {**_config("classical", "ntxent"), "patch_spec": "small"}
    with pytest.raises(ValueError, match=r"backbone 'convnext_atto' needs patches of at least 32 x 32 px"):
        train_model(store["zarr"], store["parquet"], config, tmp_path / "convnext", fast_dev_run=True)
    assert not (tmp_path / "convnext" / "model.ckpt").exists()
    summary = train_model(
        store["zarr"],
        store["parquet"],
        {**config, "backbone": "resnet18"},
        tmp_path / "resnet",
        fast_dev_run=True,
    )
    assert summary["global_step"] == 1 and (tmp_path / "resnet" / "model.ckpt").is_file()


@pytest.mark.slow  # a torchrun launch of two ranks: about 15 s
def test_two_process_ddp_with_torchrun(patch_store, tmp_path):
    """2 ranks (gloo on CPU) via torchrun and the CLI; each rank trains on different anchors. The
    warm-up WARNING (``epochs: 1`` with the default warm-up of 1 epoch) is logged once, by global
    rank zero (it was logged by every rank: twice in the job log)."""
    config = _config(
        "time_aware",
        "ntxent",
        batch_size=2,
        epochs=1,
        max_batches_per_epoch=3,
        max_validation_batches=1,
        record_sample_rows=True,
    )
    config_path = tmp_path / "config_in.json"
    config_path.write_text(json.dumps(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"),
        *("-m", "dynaclr.training"),
        *("--patches-zarr", str(patch_store["zarr"]), "--patches-parquet", str(patch_store["parquet"])),
        *("--config", str(config_path)),
        *training_cli_outputs(tmp_path / "model"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["world_size"] == 2 and summary["global_step"] == 3
    warmup = [line for line in result.stderr.splitlines() if "warmup_epochs" in line and "not below" in line]
    assert len(warmup) == 1 and " rank0 " in warmup[0], warmup
    ranks = [pd.read_parquet(tmp_path / "model" / "logs" / f"sample_rows_rank{r}.parquet") for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 3 * 2
    assert set(ranks[0]["anchor_row"]).isdisjoint(ranks[1]["anchor_row"])
    _, provenance = load_contrastive_model(tmp_path / "model" / "model.ckpt")
    assert provenance.kind == "contrastive_model"
