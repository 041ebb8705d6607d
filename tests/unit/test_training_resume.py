"""A resumable checkpoint is valid only for the exact patch store and config that made it.

``checkpoints/last.ckpt`` carries :func:`dynaclr.training.train.resume_identity` (the config hash and
the patch store's and index's provenance). A rerun on a store rebuilt with another normalisation
(same paths, same training config) must start from scratch, say why at WARNING, train every step
and export weights whose provenance names the new store, never the old run's weights restamped.
The same store and config resume where a stopped run left off and end where an uninterrupted run
ends, bit for bit.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import build_patch_store, train_model
from lightning.pytorch import Callback, Trainer

import dynaclr.training.train as train_module
from dynaclr.config.patches import PatchSpec
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.patches import open_patch_store
from dynaclr.training import load_contrastive_model
from dynaclr.training.preemption import TrainingPreempted

pytestmark = pytest.mark.slow  # five short trainings: about 40 s on 2 busy cores


def _spec(phase_normalization: str) -> PatchSpec:
    return PatchSpec.model_validate(
        {
            "name": "tiny",
            "channels": [
                {"source": "phase", "channel": "Phase3D", "normalization": phase_normalization},
                {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
            ],
            "z_window_slices": 3,
            "patch_size_yx_px": 32,
        }
    )


EPOCHS, BATCHES = 2, 2
CONFIG = {
    "patch_spec": "tiny",
    "sampling": "time_aware",
    "tau_frames": 1,
    "loss": "ntxent",
    "backbone": "convnext_atto",
    "batch_size": 4,
    "num_workers": 0,
    "validation_fovs": ["A/1/0"],
    "seed": 3,
    "epochs": EPOCHS,
    "max_batches_per_epoch": BATCHES,
    "max_validation_batches": 1,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _plates(tiny_plate: dict[str, Path]) -> dict[str, Path]:
    return {"raw": tiny_plate["plate"], "phase": tiny_plate["phase"]}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_a_store_rebuilt_with_another_normalisation_starts_from_scratch(tiny_plate, tmp_path, caplog):
    store_dir, work_dir = tmp_path / "patches", tmp_path / "model"
    store = build_patch_store(_plates(tiny_plate), tiny_plate["tracks"], _spec("zscore"), store_dir)
    old_hash = open_patch_store(store["zarr"], store["parquet"]).provenance.config_hash
    first = train_model(store["zarr"], store["parquet"], CONFIG, work_dir)
    assert first["global_step"] == EPOCHS * BATCHES
    old_weights = _weights(work_dir / "model.ckpt")
    last = work_dir / "checkpoints" / "last.ckpt"
    assert last.exists()  # the finished run's resumable state stays beside the outputs

    # the patch spec's normalisation changes; the store is rebuilt in place, training settings stay
    rebuilt = build_patch_store(_plates(tiny_plate), tiny_plate["tracks"], _spec("median_p99"), store_dir)
    assert rebuilt == store
    new_hash = open_patch_store(store["zarr"], store["parquet"]).provenance.config_hash
    assert new_hash != old_hash
    (work_dir / "model.ckpt").unlink()  # Snakemake deletes the declared output before the rerun
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        again = train_model(store["zarr"], store["parquet"], CONFIG, work_dir)

    assert again["resumed_from"] is None and again["global_step"] == EPOCHS * BATCHES
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        str(last) in w and "patches" in w and "index" in w and "starting from scratch" in w for w in warnings
    ), warnings
    _, provenance = load_contrastive_model(work_dir / "model.ckpt")
    patches_input = next(i for i in provenance.inputs if i.path == str(store["zarr"]))
    assert patches_input.config_hash == new_hash and patches_input.kind == "patches"
    new_weights = _weights(work_dir / "model.ckpt")
    assert not _same_weights(new_weights, old_weights)
    # from scratch means: the weights of a fresh run on the new store in an empty directory
    train_model(store["zarr"], store["parquet"], CONFIG, tmp_path / "fresh")
    assert _same_weights(new_weights, _weights(tmp_path / "fresh" / "model.ckpt"))


class _SignalAtStep(Callback):
    """Sends SIGURG (a preemption warning) to this process during optimizer step ``step``."""

    def __init__(self, step: int) -> None:
        self.step, self.sent = step, False

    def on_train_batch_start(self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if not self.sent and trainer.global_step + 1 == self.step:
            self.sent = True
            os.kill(os.getpid(), signal.SIGURG)


def _preempted(
    monkeypatch: pytest.MonkeyPatch,
    trainer: type[Trainer],
    signal_at: Callback,
    store: dict[str, Path],
    config: dict[str, Any],
    work_dir: Path,
) -> None:
    """Train on ``store`` with ``trainer`` until ``signal_at`` sends the preemption warning."""

    class Stopping(trainer):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, callbacks: list[Callback], **kwargs: Any) -> None:
            super().__init__(*args, callbacks=[*callbacks, signal_at], **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "Trainer", Stopping)
        with pytest.raises(TrainingPreempted):
            train_model(store["zarr"], store["parquet"], config, work_dir)


@pytest.mark.parametrize(
    "stop_step",
    [
        BATCHES,  # the last step of the first epoch
        pytest.param(BATCHES + 1, id="mid-epoch"),  # the first step of the second epoch
    ],
    ids=lambda step: "epoch-end" if step == BATCHES else str(step),
)
def test_the_same_store_and_config_resume_and_end_as_an_uninterrupted_run(
    tiny_plate, tmp_path, monkeypatch, caplog, stop_step
):
    store = build_patch_store(
        _plates(tiny_plate), tiny_plate["tracks"], _spec("zscore"), tmp_path / "patches"
    )
    work_dir = tmp_path / "model"

    _preempted(monkeypatch, Trainer, _SignalAtStep(stop_step), store, CONFIG, work_dir)
    last = work_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert saved["global_step"] == stop_step and not (work_dir / "model.ckpt").exists()
    expected = train_module.resume_identity(
        ContrastiveModelConfig.model_validate(CONFIG).job_params(),  # run keys at their defaults
        open_patch_store(store["zarr"], store["parquet"]),
    )
    assert saved[train_module.RESUME_KEY] == expected

    caplog.clear()  # the preempted run's own warning
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        resumed = train_model(store["zarr"], store["parquet"], CONFIG, work_dir)
    assert resumed["resumed_from"] == str(last) and resumed["global_step"] == EPOCHS * BATCHES
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "last.ckpt" in r.getMessage()]
    uninterrupted = train_model(store["zarr"], store["parquet"], CONFIG, tmp_path / "uninterrupted")
    assert uninterrupted["resumed_from"] is None
    assert _same_weights(
        _weights(work_dir / "model.ckpt"), _weights(tmp_path / "uninterrupted" / "model.ckpt")
    )


def test_a_checkpoint_of_an_earlier_sampler_starts_from_scratch(tmp_path: Path, caplog) -> None:
    """A last.ckpt written before epochs were cut to equal batch counts (no ``sampler_version``) was
    resumed: a forced rerun of a finished run trained nothing and kept the old weights; an interrupted
    one resumed at another batch. It now starts from scratch, saying why."""
    identity = {"config_hash": "c", "patches": ["p", "t"], "index": ["i", "t"], "n_patches": 4}
    identity["sampler_version"] = train_module.SAMPLER_VERSION
    path = tmp_path / "last.ckpt"
    earlier = {key: value for key, value in identity.items() if key != "sampler_version"}
    torch.save({train_module.RESUME_KEY: earlier, "global_step": 4}, path)
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        assert train_module.resumable_checkpoint(path, identity) is None
    assert any("sampler_version differ" in r.getMessage() for r in caplog.records)
    torch.save({train_module.RESUME_KEY: identity, "global_step": 4}, path)
    assert train_module.resumable_checkpoint(path, identity) == path


class _TwoRankTrainer(Trainer):
    """A trainer that says it runs on two ranks (this process rank 0): the batch sampler then hands it
    the first half of every global batch of 2 x batch_size, as on two devices."""

    @property
    def world_size(self) -> int:
        return 2


def test_a_checkpoint_of_another_number_of_ranks_starts_from_scratch(
    tiny_plate, tmp_path, monkeypatch, caplog
):
    """An epoch holds half the steps on two ranks, and a resumed run finds its batch from the step: a
    last.ckpt written on two ranks was resumed on one at another batch (an epoch replayed, or skipped
    the other way round), with another global batch. It now starts from scratch, saying why."""
    store = build_patch_store(
        _plates(tiny_plate), tiny_plate["tracks"], _spec("zscore"), tmp_path / "patches"
    )
    work_dir = tmp_path / "model"
    config = {**CONFIG, "batch_size": 2}  # the tiny plate's lineages fill a global batch of 2 x 2
    with monkeypatch.context() as patch:
        patch.setattr(train_module, "Trainer", _TwoRankTrainer)
        two = train_model(store["zarr"], store["parquet"], config, work_dir)
    assert two["world_size"] == 2
    last = work_dir / "checkpoints" / "last.ckpt"
    recorded = torch.load(last, map_location="cpu", weights_only=True)[train_module.RESUME_KEY]
    (work_dir / "model.ckpt").unlink()  # Snakemake deletes the declared output before the rerun
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        one = train_model(store["zarr"], store["parquet"], config, work_dir)
    assert one["resumed_from"] is None and one["world_size"] == 1 and one["global_step"] == EPOCHS * BATCHES
    assert any(
        str(last) in r.getMessage()
        and "world_size differ" in r.getMessage()
        and "made on 2 rank(s)" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    assert recorded["world_size"] == 2
    # one rank records no world_size: its identity is the one it always was
    assert (
        "world_size" not in torch.load(last, map_location="cpu", weights_only=True)[train_module.RESUME_KEY]
    )


class _SignalInEpoch(Callback):
    """Sends SIGURG (a preemption warning) to this process during the first step of epoch ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.sent = epoch, False

    def on_train_batch_start(self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if not self.sent and trainer.current_epoch == self.epoch:
            self.sent = True
            os.kill(os.getpid(), signal.SIGURG)


@pytest.mark.parametrize(
    ("epoch", "found"),
    [
        pytest.param(1, r"found one at step \d+ in epoch 1", id="later-epoch"),
        # in its first epoch the step falls inside the epoch here too: it resumed at another batch of
        # the epoch with the schedule of the two-rank run, exit 0 (session 26); the schedule tells it
        pytest.param(
            0,
            r"found one at step \d+ in epoch 0, whose learning-rate schedule was planned over \d+ steps, "
            r"this run's over \d+",
            id="first-epoch",
        ),
    ],
)
def test_a_checkpoint_of_more_ranks_without_their_record_is_refused_on_one(
    tiny_plate, tmp_path, monkeypatch, epoch, found
):
    """A last.ckpt saved on two ranks before checkpoints recorded their number resumes past the
    identity check on one rank: its step, counted in epochs of half as many batches, fell before the
    epoch's first step here and the epoch was replayed from its start (an exit 0 with another
    schedule). Its epoch and step (in its first epoch, its learning-rate schedule) tell it: refused,
    naming the file and what to do."""
    store = build_patch_store(
        _plates(tiny_plate), tiny_plate["tracks"], _spec("zscore"), tmp_path / "patches"
    )
    work_dir = tmp_path / "model"
    config = {key: value for key, value in CONFIG.items() if key != "max_batches_per_epoch"}
    config["batch_size"] = 2  # the tiny plate's lineages fill a global batch of 2 x 2

    _preempted(monkeypatch, _TwoRankTrainer, _SignalInEpoch(epoch), store, config, work_dir)
    last = work_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=True)
    del saved[train_module.RESUME_KEY]["world_size"]  # as saved before the record
    torch.save(saved, last)
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(str(last))}: expected a checkpoint of epochs of \d+ batches \(those this run "
        rf"forms on 1 rank\(s\)\), {found}.*delete .*last\.ckpt and rerun",
    ):
        train_model(store["zarr"], store["parquet"], config, work_dir)


def test_a_gpu_checkpoint_saved_before_numerics_were_recorded_is_not_said_to_be_cpus(
    tmp_path: Path, caplog
) -> None:
    """A record without ``accelerator`` and ``precision`` is CPU float32's, or one saved before they
    were recorded (a GPU training interrupted before the upgrade): the WARNING said "made on cpu in
    32-true" of a GPU checkpoint (session 25 review); it now says it may be either."""
    identity = {"config_hash": "c", "patches": ["p", "t"], "index": ["i", "t"], "n_patches": 4}
    identity["sampler_version"] = train_module.SAMPLER_VERSION
    path = tmp_path / "last.ckpt"
    torch.save({train_module.RESUME_KEY: identity, "global_step": 4}, path)
    on_gpu = {**identity, "accelerator": "gpu", "precision": "bf16-mixed"}
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        assert train_module.resumable_checkpoint(path, on_gpu) is None
    assert any(
        "accelerator, precision differ: made on cpu in 32-true, or before checkpoints recorded their "
        "numerics, this run trains on gpu in bf16-mixed" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    caplog.clear()
    torch.save({train_module.RESUME_KEY: on_gpu, "global_step": 4}, path)
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        assert train_module.resumable_checkpoint(path, identity) is None
    assert any(
        "made on gpu in bf16-mixed, this run trains on cpu in 32-true" in r.getMessage()
        for r in caplog.records
    )
    assert not any("before checkpoints recorded" in r.getMessage() for r in caplog.records)


def test_a_checkpoint_of_other_numerics_starts_from_scratch(tiny_plate, tmp_path, monkeypatch, caplog):
    """``accelerator: auto`` trains in bfloat16 on a GPU, in float32 on CPU: a run preempted on a GPU
    node and requeued on a CPU one resumed, its later steps in other numerics (and augmentation draws),
    and recorded only the last ones (``precision: 32-true``). bf16-mixed on CPU stands in for the GPU
    here. It now starts from scratch, saying why; a CPU run's identity is the one it always was."""
    store = build_patch_store(
        _plates(tiny_plate), tiny_plate["tracks"], _spec("zscore"), tmp_path / "patches"
    )
    work_dir = tmp_path / "model"
    launch = train_module._launch_settings
    with monkeypatch.context() as patch:
        patch.setattr(
            train_module, "_launch_settings", lambda config: {**launch(config), "precision": "bf16-mixed"}
        )
        _preempted(patch, Trainer, _SignalAtStep(BATCHES + 1), store, CONFIG, work_dir)
    last = work_dir / "checkpoints" / "last.ckpt"
    recorded = torch.load(last, map_location="cpu", weights_only=True)[train_module.RESUME_KEY]
    assert (recorded["accelerator"], recorded["precision"]) == ("cpu", "bf16-mixed")
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        resumed = train_model(store["zarr"], store["parquet"], CONFIG, work_dir)
    assert resumed["resumed_from"] is None and resumed["precision"] == "32-true"
    assert resumed["global_step"] == EPOCHS * BATCHES
    assert any(
        str(last) in r.getMessage()
        and "precision differ: made on cpu in bf16-mixed, this run trains on cpu in 32-true" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    expected = train_module.resume_identity(
        ContrastiveModelConfig.model_validate(CONFIG).job_params(),
        open_patch_store(store["zarr"], store["parquet"]),
    )
    assert torch.load(last, map_location="cpu", weights_only=True)[train_module.RESUME_KEY] == expected
