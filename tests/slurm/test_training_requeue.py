"""Preemption on a real SLURM cluster: a contrastive training job requeued mid-run (``scontrol requeue``)
resumes from its last checkpoint and finishes with the same number of optimizer steps as an
uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import build_patch_store, training_cli_outputs

from dynaclr.config.patches import PatchSpec

from .cluster import SlurmCluster
from .helpers import ENDED, complete_checkpoint, job_state, log_times, slurm

pytestmark = pytest.mark.slurm

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

EPOCHS, BATCHES = 4, 16  # of 19 batches of 4 time-aware anchors in the tiny train FOV
CONFIG = {
    "patch_spec": "tiny",
    "sampling": "time_aware",
    "loss": "ntxent",
    "tau_frames": 1,
    "backbone": "convnext_atto",
    "batch_size": 4,
    "num_workers": 0,
    "validation_fovs": ["A/1/0"],
    "seed": 3,
    "epochs": EPOCHS,
    "max_batches_per_epoch": BATCHES,  # enough batches that an epoch takes a few seconds
    "max_validation_batches": 1,
    "log_every_n_steps": 1,
    "warmup_epochs": 0.5,
}
JOB_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def patch_store(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("requeue_patches")
    plates = {"raw": tiny_plate["plate"], "phase": tiny_plate["phase"]}
    return build_patch_store(plates, tiny_plate["tracks"], SPEC, out)


def _training_command(patch_store: dict[str, Path], config: Path, output_dir: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1"),
        *("-m", "dynaclr.training", "--threads", "1"),
        *("--patches-zarr", str(patch_store["zarr"]), "--patches-parquet", str(patch_store["parquet"])),
        *("--config", str(config)),
        *training_cli_outputs(output_dir),
    ]


def test_requeued_training_resumes_with_the_same_steps(
    slurm_cluster: SlurmCluster, patch_store: dict[str, Path], tmp_path: Path
) -> None:
    test_started = time.monotonic()
    config = tmp_path / "model.json"
    config.write_text(json.dumps(CONFIG))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    # (1) the uninterrupted reference run, locally and alongside the SLURM job (one core each)
    reference = subprocess.Popen(
        _training_command(patch_store, config, tmp_path / "reference"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )

    # (2) the same training as a requeueable batch job
    output_dir, starts, log = tmp_path / "job", tmp_path / "starts.txt", tmp_path / "job.log"
    command = " ".join(_training_command(patch_store, config, output_dir))
    script = tmp_path / "train.sh"
    script.write_text(
        "#!/bin/bash\nset -euo pipefail\n"
        + textwrap.dedent(
            f"""\
            echo "${{SLURM_RESTART_COUNT:-0}}" >> {starts}
            echo "=== start ${{SLURM_RESTART_COUNT:-0}} at $(date +%s.%N)"
            export OMP_NUM_THREADS=1
            exec {command}
            """
        )
    )
    script.chmod(0o755)
    job_id = slurm(
        slurm_cluster,
        *("sbatch", "--parsable", "--requeue", "--open-mode=append", "-J", "dynaclr-train-requeue"),
        *("-p", slurm_cluster.partition, "-n", "1", "-c", "1", "-o", str(log), str(script)),
    ).split(";")[0]
    last = output_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + JOB_TIMEOUT_S

    def wait(what: str, predicate: Callable[[], bool]) -> None:
        while not predicate():
            if time.monotonic() > deadline:
                queue = slurm(slurm_cluster, "squeue", "-t", "all", "-o", "%i %T %r %S")
                job_log = log.read_text() if log.exists() else "<no job log>"
                pytest.fail(
                    f"timed out after {JOB_TIMEOUT_S} s waiting for {what}\nsqueue:\n{queue}\n"
                    f"job log:\n{job_log[-4000:]}"
                )
            time.sleep(0.3)

    try:
        checkpoint: dict = {}

        def first_epoch_saved() -> bool:
            nonlocal checkpoint
            checkpoint = complete_checkpoint(last) or {}
            return bool(checkpoint)

        wait("the first epoch's checkpoints/last.ckpt", first_epoch_saved)
        state = job_state(slurm_cluster, job_id)
        assert state == "RUNNING" and not (output_dir / "model.ckpt").exists(), state
        interrupted_at_step = checkpoint["global_step"]
        # an end-of-epoch checkpoint, and the job had epochs left to run
        assert interrupted_at_step % BATCHES == 0 and 0 < interrupted_at_step < EPOCHS * BATCHES

        requeued_at = time.time()
        slurm(slurm_cluster, "scontrol", "requeue", job_id)
        wait("the requeued job to pend", lambda: job_state(slurm_cluster, job_id) == "PENDING")
        # release it early (see test_cluster.py: only once the clock is past the requeue's second)
        time.sleep(max(0.0, int(requeued_at) + 2 - time.time()))
        slurm(slurm_cluster, "scontrol", "update", f"jobid={job_id}", "StartTime=now")
        wait("the resumed job to end", lambda: job_state(slurm_cluster, job_id) in ENDED)
        out, err = reference.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        subprocess.run(["scancel", job_id], env=slurm_cluster.env, check=False, timeout=30)
        if reference.poll() is None:
            reference.kill()
            reference.wait()
    assert reference.returncode == 0, err[-3000:]
    reference_summary = json.loads(out[out.index("{") :])
    assert reference_summary["resumed_from"] is None
    assert reference_summary["global_step"] == EPOCHS * BATCHES

    # (3) it started twice, the second start resumed from last.ckpt and ended at the reference's step
    job_log = log.read_text()
    assert job_state(slurm_cluster, job_id) in {"COMPLETED", ""}, job_log[-4000:]
    assert (output_dir / "model.ckpt").exists(), job_log[-4000:]
    assert starts.read_text().split() == ["0", "1"], job_log[-4000:]
    first_run, resumed_run = job_log.split("=== start 1 at ")
    relaunched_at = float(resumed_run.split(maxsplit=1)[0])
    assert "=== start 0" in first_run and "resuming from" not in first_run
    assert f"resuming from {last}" in resumed_run, resumed_run[-4000:]
    summary = torch.load(output_dir / "model.ckpt", weights_only=True)["dynaclr_training"]
    assert summary["resumed_from"] == str(last)
    assert summary["global_step"] == reference_summary["global_step"]
    assert summary["epochs_completed"] == reference_summary["epochs_completed"] == EPOCHS
    final = torch.load(last, map_location="cpu", weights_only=False)
    assert final["global_step"] == reference_summary["global_step"] > interrupted_at_step

    resumed_at = min(log_times(resumed_run))
    print(
        f"\nrequeued at step {interrupted_at_step}/{EPOCHS * BATCHES}; requeue-to-resume "
        f"{resumed_at - requeued_at:.1f} s (first log line of the resumed training; the batch script "
        f"restarted {relaunched_at - requeued_at:.1f} s after the requeue); "
        f"test {time.monotonic() - test_started:.0f} s"
    )
