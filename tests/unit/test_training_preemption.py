"""Save-before-kill: a preemption signal sent to torchrun makes training save ``last.ckpt`` mid-epoch
and exit 75; a rerun resumes from it and ends at the step count of an uninterrupted run.

The same path under a real SLURM cluster and Snakemake's executor: tests/slurm/test_workflow_slurm.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from test_training import _config
from test_training import patch_store as training_patch_store  # noqa: F401 (a fixture, shared)

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


def _torchrun(patch_store: dict[str, Path], config: Path, output_dir: Path) -> list[str]:
    """The launch of rule train_contrastive (one rank)."""
    return [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", *TORCHRUN_SIGNAL_ARGS),
        *("--nproc-per-node=1", "-m", "dynaclr.training", "--threads", "1"),
        *("--patches-zarr", str(patch_store["zarr"]), "--patches-parquet", str(patch_store["parquet"])),
        *("--config", str(config), "--output-dir", str(output_dir)),
    ]


def test_sigusr1_to_torchrun_saves_and_the_rerun_resumes(
    training_patch_store: dict[str, Path],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    config = tmp_path / "model.json"
    config.write_text(json.dumps(CONFIG))
    command = _torchrun(training_patch_store, config, tmp_path / "model")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "interrupted.log"
    with log.open("w") as out:
        launcher = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
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
    last = tmp_path / "model" / "checkpoints" / "last.ckpt"
    assert "received SIGUSR1: saved" in text and str(last) in text, text[-3000:]
    assert not (tmp_path / "model" / "model.ckpt").exists()
    saved_step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < saved_step < EPOCHS * BATCHES and saved_step % BATCHES, saved_step  # mid-epoch

    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout[rerun.stdout.index("{") :])
    assert summary["resumed_from"] == str(last)
    assert summary["global_step"] == EPOCHS * BATCHES  # what an uninterrupted run does


def test_cli_exits_75_when_training_was_preempted(monkeypatch, tmp_path: Path) -> None:
    import dynaclr.training.train as train_module
    from dynaclr.training.__main__ import main

    def preempted(*args, **kwargs):
        raise TrainingPreempted(signal.SIGURG, "last.ckpt", 5)

    monkeypatch.setattr(train_module, "train_contrastive", preempted)
    config = tmp_path / "model.json"
    config.write_text("{}")
    argv = ["--patches-zarr", "p.zarr", "--patches-parquet", "p.parquet", "--config", str(config)]
    assert main([*argv, "--output-dir", str(tmp_path)]) == EXIT_PREEMPTED
