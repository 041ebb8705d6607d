"""Save-before-kill: a preemption signal makes training save ``last.ckpt`` at the first optimizer step
that ends after it and stop (``python -m dynaclr.training`` exits 75); a rerun resumes from it and
ends at the step count of an uninterrupted run, wherever the signal landed (setup, a step, the
last step of an epoch or of the training, validation). torchrun forwards the signal to its rank.

The same path under a real SLURM cluster and Snakemake's executor: tests/slurm/test_workflow_slurm.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from conftest import train_model, training_cli_outputs
from lightning.pytorch import Callback, Trainer
from test_training import (
    _config,
    patch_store as training_patch_store,  # noqa: F401 (a fixture, shared)
)

import dynaclr.training.train as train_module
from dynaclr.training.preemption import (
    EXIT_PREEMPTED,
    PREEMPTION_SIGNALS,
    TORCHRUN_SIGNAL_ARGS,
    PreemptionFlag,
    TrainingPreempted,
)

EPOCHS, BATCHES = 2, 3
CONFIG = _config(
    "classical", "ntxent", epochs=EPOCHS, max_batches_per_epoch=BATCHES, max_validation_batches=1
)
#: logged by a rank once its handlers are installed: a signal sent after it is never lost
HANDLER_INSTALLED = "save checkpoints/last.ckpt at the next step"


def test_flag_records_the_first_signal_and_restores_handlers() -> None:
    before = {s: signal.getsignal(s) for s in PREEMPTION_SIGNALS}
    flag = PreemptionFlag()
    assert flag.install()
    try:
        os.kill(os.getpid(), signal.SIGURG)
        os.kill(os.getpid(), signal.SIGUSR1)  # would end this process without the handler
        time.sleep(0.01)  # Python runs handlers between bytecodes of the main thread
        assert flag.received == signal.SIGURG
    finally:
        flag.restore()
    assert {s: signal.getsignal(s) for s in PREEMPTION_SIGNALS} == before


class SignalAt(Callback):
    """Sends SIGURG to this process once, at a chosen point of the fit (the handler is real)."""

    def __init__(self, where: str, step: int | None = None) -> None:
        self.where, self.step, self.sent = where, step, False

    def _send(self) -> None:
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGURG)

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if self.where == "setup":
            self._send()

    def on_train_batch_start(self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self.where == "step" and trainer.global_step + 1 == self.step:  # during optimizer step `step`
            self._send()

    def on_validation_batch_start(
        self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.where == "validation" and not trainer.sanity_checking:
            self._send()


@pytest.mark.parametrize(
    ("where", "step", "saved_step"),
    [  # mid-epoch in the fast layer; the other places (two trainings each) in the slow one
        pytest.param("setup", None, 1, id="setup", marks=pytest.mark.slow),
        pytest.param("step", 2, 2, id="mid-epoch"),
        pytest.param("step", BATCHES, BATCHES, id="epoch-end", marks=pytest.mark.slow),
        # after epoch 1: the first step of epoch 2
        pytest.param("validation", None, BATCHES + 1, id="validation", marks=pytest.mark.slow),
        # the last step of the training
        pytest.param("step", EPOCHS * BATCHES, EPOCHS * BATCHES, id="last-step", marks=pytest.mark.slow),
    ],
)
def test_a_signal_anywhere_saves_at_the_next_step_and_the_rerun_completes(
    training_patch_store: dict[str, Path],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    step: int | None,
    saved_step: int,
) -> None:
    class SignallingTrainer(Trainer):
        def __init__(self, *args: Any, callbacks: list[Callback], **kwargs: Any) -> None:
            super().__init__(*args, callbacks=[*callbacks, SignalAt(where, step)], **kwargs)

    store = (training_patch_store["zarr"], training_patch_store["parquet"])
    last = tmp_path / "checkpoints" / "last.ckpt"
    handlers = {s: signal.getsignal(s) for s in PREEMPTION_SIGNALS}
    with monkeypatch.context() as patch:
        patch.setattr(train_module, "Trainer", SignallingTrainer)
        with pytest.raises(TrainingPreempted) as preempted:
            train_model(*store, CONFIG, tmp_path, num_threads=1)
    assert preempted.value.signum == signal.SIGURG and preempted.value.checkpoint == str(last)
    assert preempted.value.global_step == saved_step
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == saved_step
    assert not (tmp_path / "model.ckpt").exists()
    assert {s: signal.getsignal(s) for s in PREEMPTION_SIGNALS} == handlers  # restored on the way out

    rerun = train_model(*store, CONFIG, tmp_path, num_threads=1)
    assert rerun["resumed_from"] == str(last)
    assert rerun["global_step"] == EPOCHS * BATCHES  # what an uninterrupted run does
    assert rerun["epochs_completed"] == EPOCHS


@pytest.mark.slow  # two short trainings
def test_a_preemption_at_the_last_batch_of_a_later_epoch_counts_that_epoch(
    training_patch_store: dict[str, Path],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The preemption checkpoint of an epoch's last step was saved before ``EpochsTrained`` counted the
    epoch (at its end, after the batch hooks), and the resumed run goes on from the epoch's end without
    ending it again: a run of 3 epochs preempted at the end of epoch 1 finished with
    ``epochs_completed`` 2. The epoch is now counted at the batch that ends it, before the checkpoint."""
    config = {**CONFIG, "epochs": 3}

    class SignallingTrainer(Trainer):
        def __init__(self, *args: Any, callbacks: list[Callback], **kwargs: Any) -> None:
            super().__init__(*args, callbacks=[*callbacks, SignalAt("step", 2 * BATCHES)], **kwargs)

    store = (training_patch_store["zarr"], training_patch_store["parquet"])
    with monkeypatch.context() as patch:
        patch.setattr(train_module, "Trainer", SignallingTrainer)
        with pytest.raises(TrainingPreempted) as preempted:
            train_model(*store, config, tmp_path, num_threads=1)
    assert preempted.value.global_step == 2 * BATCHES  # the last step of epoch 1
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert [state["epochs"] for name, state in saved["callbacks"].items() if "EpochsTrained" in name] == [2]
    rerun = train_model(*store, config, tmp_path, num_threads=1)
    assert rerun["resumed_from"] is not None
    assert rerun["global_step"] == 3 * BATCHES and rerun["epochs_completed"] == 3


def _torchrun(patch_store: dict[str, Path], config: Path, output_dir: Path) -> list[str]:
    """The launch of rule train_contrastive (one rank)."""
    return [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", *TORCHRUN_SIGNAL_ARGS),
        *("--nproc-per-node=1", "-m", "dynaclr.training", "--threads", "1"),
        *("--patches-zarr", str(patch_store["zarr"]), "--patches-parquet", str(patch_store["parquet"])),
        *("--config", str(config)),
        *training_cli_outputs(output_dir),
    ]


@pytest.mark.slow  # a torchrun launch: about 15 s
def test_sigusr1_to_torchrun_reaches_the_rank_which_saves_and_exits_75(
    training_patch_store: dict[str, Path],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    """The signal goes to torchrun alone, once the rank handles it; the training is far longer than
    the test, so wherever the signal lands a step follows it."""
    config = tmp_path / "model.json"
    config.write_text(json.dumps({**CONFIG, "epochs": 1000}))
    output_dir = tmp_path / "model"
    log = tmp_path / "torchrun.log"
    with log.open("w") as out:
        launcher = subprocess.Popen(
            _torchrun(training_patch_store, config, output_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    try:
        deadline = time.monotonic() + 300
        while HANDLER_INSTALLED not in log.read_text():
            assert launcher.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        os.kill(launcher.pid, signal.SIGUSR1)  # torchrun only: it must forward the signal to its rank
        launcher.wait(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    text = log.read_text()
    assert launcher.returncode != 0, text[-3000:]
    assert "closing signal SIGUSR1" in text and "SIGKILL" not in text, text[-3000:]  # the rank exited itself
    last = output_dir / "checkpoints" / "last.ckpt"
    saved = re.search(rf"received SIGUSR1: saved {re.escape(str(last))} at global step (\d+)", text)
    assert saved, text[-3000:]
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == int(saved.group(1)) > 0
    assert not (output_dir / "model.ckpt").exists()


def test_cli_exits_75_when_training_was_preempted(monkeypatch, tmp_path: Path) -> None:
    from dynaclr.training.__main__ import main

    def preempted(*args, **kwargs):
        raise TrainingPreempted(signal.SIGURG, "last.ckpt", 5)

    monkeypatch.setattr(train_module, "train_contrastive", preempted)
    config = tmp_path / "model.json"
    config.write_text('{"patch_spec": "p", "sampling": "classical"}')
    argv = ["--patches-zarr", "p.zarr", "--patches-parquet", "p.parquet", "--config", str(config)]
    assert main([*argv, *training_cli_outputs(tmp_path)]) == EXIT_PREEMPTED


#: lineage-unique cell_aware batches of 6 on the training FOV: epoch 0's order forms 7 batches, epoch 1's 8
UNEVEN = _config(
    "cell_aware", "ntxent", batch_size=6, epochs=2, max_validation_batches=1, record_sample_rows=True
)


def _formed_batches(store: dict[str, Path], config: dict[str, Any], fixed: bool) -> list[list[list[int]]]:
    """The anchor rows of each epoch's batches, as the training sampler yields them (``fixed``: with
    the config's ``epochs``, as training builds it; else each epoch's own cut)."""
    from dynaclr.config.training import ContrastiveModelConfig
    from dynaclr.training.data import PatchDataModule
    from dynaclr.training.train import TrainInputs, open_training_store

    model = ContrastiveModelConfig.model_validate(config)
    pooled = open_training_store(
        model, TrainInputs(patches_zarr=store["zarr"], patches_parquet=store["parquet"])
    )
    data = PatchDataModule(pooled.zarr_paths, pooled.index, model, pooled.tau_of_rows(), ["B/1/0"], [])
    data.setup("fit")
    sampler = data.train_sampler
    assert sampler is not None
    if not fixed:
        sampler.epochs = None
    epochs = []
    for epoch in range(model.epochs):
        sampler.set_epoch(epoch)
        epochs.append([[int(anchor) for anchor, _, _ in batch] for batch in sampler])
    return epochs


def _trained_batches(run: Path) -> list[list[list[int]]]:
    """The anchor rows of each epoch's trained batches, in order, from logs/sample_rows_rank0.parquet."""
    rows = pd.read_parquet(run / "logs" / "sample_rows_rank0.parquet")
    return [
        [list(batch["anchor_row"]) for _, batch in epoch.groupby("batch", sort=True)]
        for _, epoch in rows.groupby("epoch", sort=True)
    ]


def test_epochs_of_uneven_lineage_unique_batches_train_every_batch_and_resume_exactly(
    training_patch_store: dict[str, Path],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lineage-unique batches: each epoch's order forms its own count of batches (here 7, then 8).
    Lightning counts an epoch's batches once, from epoch 0, so epoch 1's 8th batch never trained, and
    a resume found its batch in the epoch as ``step - epoch * len(sampler)`` with the resumed epoch's
    count, so a preemption in epoch 1 replayed a batch and skipped another (exit 0, no word). Every
    epoch now yields the fewest batches any epoch forms: each trains every batch the sampler yields,
    and an interrupted and resumed run trains the batches and weights of an uninterrupted one."""
    store = training_patch_store
    assert [len(epoch) for epoch in _formed_batches(store, UNEVEN, fixed=False)] == [7, 8]
    expected = _formed_batches(store, UNEVEN, fixed=True)
    assert [len(epoch) for epoch in expected] == [7, 7]

    whole = train_model(store["zarr"], store["parquet"], UNEVEN, tmp_path / "whole", num_threads=1)
    trained = _trained_batches(tmp_path / "whole")
    assert trained == expected  # every batch the sampler yields, and only those
    assert whole["global_step"] == whole["planned_steps"] == 14 and whole["epochs_completed"] == 2
    assert whole["batches_left_out"] == 1  # epoch 1's 8th batch: formed, not trained, recorded

    class SignallingTrainer(Trainer):
        def __init__(self, *args: Any, callbacks: list[Callback], **kwargs: Any) -> None:
            super().__init__(*args, callbacks=[*callbacks, SignalAt("step", 9)], **kwargs)  # epoch 1's 2nd

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "Trainer", SignallingTrainer)
        with pytest.raises(TrainingPreempted) as preempted:
            train_model(store["zarr"], store["parquet"], UNEVEN, tmp_path / "resumed", num_threads=1)
    assert preempted.value.global_step == 9
    resumed = train_model(store["zarr"], store["parquet"], UNEVEN, tmp_path / "resumed", num_threads=1)
    assert resumed["resumed_from"] is not None
    assert _trained_batches(tmp_path / "resumed") == [expected[1][2:]]  # the batches after step 9
    assert resumed["global_step"] == 14 and resumed["epochs_completed"] == 2
    weights = [
        torch.load(run / "model.ckpt", weights_only=True)["state_dict"]
        for run in (tmp_path / "whole", tmp_path / "resumed")
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
