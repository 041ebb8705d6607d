"""The tiny workflow under `--profile profiles/slurm` on a real single-node SLURM cluster:
every rule runs as a SLURM job and the outputs equal a local run with the same seed.

On the way, the DDP training job of one model is preempted twice, as a real cluster would:

1. it gets the profile's time-limit warning signal (``--signal=URG@90`` sends SIGURG to every
   process of the job's step; here ``scancel --signal=URG``): training saves ``last.ckpt`` mid-epoch
   and exits 75, the job fails and Snakemake's retry resumes from that checkpoint;
2. the retried job is requeued (``scontrol requeue``, as SLURM does on preemption): Snakemake keeps
   waiting for the same job id, which runs again and resumes from ``last.ckpt``.

The model still ends at the local run's optimizer step count, and no other job ran twice.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO_ROOT
from integration.workflow_helpers import SNAKEMAKE, snakemake, tiny_workflow_config, write_config

from .cluster import SlurmCluster
from .helpers import (
    ENDED,
    complete_checkpoint,
    job_state,
    log_times,
    merged_profile,
    plate_arrays,
    slurm,
    wait_watching,
)

pytestmark = pytest.mark.slurm

PREEMPTED = "classical"  # the model whose training job is interrupted (2 DDP ranks)
EPOCHS, BATCHES = 4, 5  # its training: a resumed run trains for seconds, time enough to requeue it
#: logged by each training rank once it handles the preemption signals
HANDLER_INSTALLED = "save checkpoints/last.ckpt at the next step"
#: outputs upstream of the preempted model's training, finished before it starts
UPSTREAM = (
    "tiny/raw.zarr",
    "tiny/ground_truth/tracks.parquet",
    "tiny/phase_transfer_function.zarr",
    "tiny/phase.zarr",
    "tiny/records",
    "tiny/tracks.zarr",
    "tiny/patches",  # not tracks.parquet: the patches read each FOV's CSV, so it may be written later
)


@dataclass
class Preemption:
    """What the interruptions of one training job saw (times in epoch seconds)."""

    signalled_job: str
    retried_job: str
    saved_step: int
    signalled_at: float
    saved_at: float
    resumed_after_signal_at: float
    requeued_at: float
    resumed_after_requeue_at: float
    upstream_mtimes: dict[Path, int] = field(repr=False)


def _upstream_mtimes(workdir: Path) -> dict[Path, int]:
    files = [
        f for name in UPSTREAM for f in [workdir / "results" / name, *(workdir / "results" / name).rglob("*")]
    ]
    return {f: f.stat().st_mtime_ns for f in files if f.is_file()}


def _training_jobs(cluster: SlurmCluster, model: str) -> list[str]:
    """SLURM job ids of rule train_contrastive for ``model``, oldest first (from the plugin's comment)."""
    out = slurm(cluster, "squeue", "-h", "-t", "all", "-o", "%i|%k")
    comment = f"rule_train_contrastive_wildcards_{model}"
    return sorted((line.split("|")[0] for line in out.splitlines() if line.endswith(comment)), key=int)


def preempt_training(
    cluster: SlurmCluster, workdir: Path, run: subprocess.Popen, model: str, timeout: float = 900
) -> Preemption:
    """Signal, then requeue, the training job of ``model`` while Snakemake (``run``) runs the workflow."""
    log = workdir / "results" / "logs" / "train_contrastive" / f"{model}.log"
    last = workdir / "results" / "models" / model / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + timeout

    def log_text() -> str:
        return log.read_text(errors="replace") if log.exists() else ""

    def wait(what: str, predicate: Callable[[], bool]) -> None:
        while not predicate():
            if run.poll() is not None or time.monotonic() > deadline:
                queue = slurm(cluster, "squeue", "-t", "all", "-o", "%i %T %r %k")
                pytest.fail(
                    f"snakemake exited ({run.returncode}) or {timeout} s passed while waiting for {what}\n"
                    f"squeue:\n{queue}\ntraining log:\n{log_text()[-3000:]}"
                )
            time.sleep(0.3)

    def started_after(moment: float, resumed: bool) -> bool:
        text = log_text()
        times = log_times(text)
        return (
            bool(times)
            and min(times) > moment
            and text.count(HANDLER_INSTALLED) == 2  # both ranks handle the signals
            and (not resumed or re.search(rf"resuming from \S*models/{model}/checkpoints/last\.ckpt", text))
        )

    # 1. the warning signal, once both ranks of the first attempt handle it
    wait("the first training run", lambda: started_after(0, resumed=False))
    upstream = _upstream_mtimes(workdir)
    (signalled,) = _training_jobs(cluster, model)
    signalled_at = time.time()
    slurm(cluster, "scancel", "--signal=URG", signalled)  # what --signal=URG@90 sends, now
    wait("the signalled job to end", lambda: job_state(cluster, signalled) in ENDED)
    assert job_state(cluster, signalled) == "FAILED", log_text()[-3000:]
    assert "received SIGURG: saved" in log_text(), log_text()[-3000:]
    saved = complete_checkpoint(last)
    assert saved is not None, log_text()[-3000:]
    saved_at = last.stat().st_mtime
    wait("Snakemake's retry", lambda: len(_training_jobs(cluster, model)) == 2)
    retried = _training_jobs(cluster, model)[-1]
    wait("the retry to resume", lambda: started_after(signalled_at, resumed=True))
    resumed_after_signal_at = min(log_times(log_text()))

    # 2. a requeue of the retried job while it trains
    requeued_at = time.time()
    slurm(cluster, "scontrol", "requeue", retried)
    wait("the requeued job to resume", lambda: started_after(requeued_at, resumed=True))
    return Preemption(
        signalled_job=signalled,
        retried_job=retried,
        saved_step=saved["global_step"],
        signalled_at=signalled_at,
        saved_at=saved_at,
        resumed_after_signal_at=resumed_after_signal_at,
        requeued_at=requeued_at,
        resumed_after_requeue_at=min(log_times(log_text())),
        upstream_mtimes=upstream,
    )


def snakemake_in_background(workdir: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """Start snakemake on the repository's Snakefile; its output goes to a file (never a full pipe)."""
    output = workdir / "snakemake.out"
    cmd = [*SNAKEMAKE, "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(workdir), *args]
    with output.open("w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir), output


def test_tiny_workflow_under_slurm_matches_local_run(slurm_cluster, tmp_path, monkeypatch):
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    config = tiny_workflow_config()
    # one model trains as a 2-process DDP job (gloo on CPU) through the profile's torchrun launch
    preempted = config["contrastive_models"][PREEMPTED]
    preempted["processes"] = 2
    preempted["training"].update(record_sample_rows=True, epochs=EPOCHS, max_batches_per_epoch=BATCHES)
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for workdir in (local, cluster):
        write_config(workdir, config)

    start = time.perf_counter()
    snakemake(local, "--cores", "2")
    local_seconds = time.perf_counter() - start

    start = time.perf_counter()
    run, output = snakemake_in_background(cluster, "--profile", str(merged_profile(tmp_path)))
    try:
        preemption = preempt_training(slurm_cluster, cluster, run, PREEMPTED)
        retried_state = wait_watching(slurm_cluster, run, preemption.retried_job, timeout=1800)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    slurm_seconds = time.perf_counter() - start
    assert run.returncode == 0, output.read_text()[-5000:]
    p = preemption
    print(
        f"\ntiny workflow wall time: local {local_seconds:.1f} s, SLURM {slurm_seconds:.1f} s\n"
        f"preempted training job: signal -> checkpoint saved {p.saved_at - p.signalled_at:.1f} s "
        f"(step {p.saved_step}/{EPOCHS * BATCHES}), -> resumed by Snakemake's retry "
        f"{p.resumed_after_signal_at - p.signalled_at:.1f} s; requeue -> resumed training "
        f"{p.resumed_after_requeue_at - p.requeued_at:.1f} s"
    )

    # every rule ran as its own SLURM job (the profile's groups are left out here, test_grouped_jobs.py
    # runs them): the plugin keeps one log per job under .snakemake/slurm_logs
    logs = sorted(
        p.relative_to(cluster / ".snakemake" / "slurm_logs")
        for p in (cluster / ".snakemake" / "slurm_logs").rglob("*.log")
    )
    rules = {p.parts[0] for p in logs}
    assert {
        "rule_simulate",
        "rule_summarize_ground_truth",
        "rule_track_fov",
        "rule_train_contrastive",
    } <= rules
    assert not (local / ".snakemake" / "slurm_logs").exists()

    # nothing ran twice: one job per rule and wildcards, but for the preempted training the signalled
    # job and Snakemake's retry (the requeue kept the retry's job id); upstream files untouched
    preempted_dir = Path("rule_train_contrastive") / PREEMPTED
    assert retried_state == "COMPLETED"
    assert [p.name for p in logs if p.parent == preempted_dir] == sorted(
        f"{job}.log" for job in (preemption.signalled_job, preemption.retried_job)
    )
    runs = Counter(p.parent for p in logs if p.parent != preempted_dir)
    assert set(runs.values()) == {1}, runs
    assert _upstream_mtimes(cluster) == preemption.upstream_mtimes

    # the preempted model saved where the signal landed, resumed and made as many optimizer steps as locally
    trained = {
        where: torch.load(where / f"results/models/{PREEMPTED}/model.ckpt", weights_only=True)[
            "dynaclr_training"
        ]
        for where in (local, cluster)
    }
    steps = trained[local]["global_step"]
    assert steps == EPOCHS * BATCHES and trained[local]["resumed_from"] is None
    assert 0 < preemption.saved_step <= steps, preemption.saved_step  # wherever the signal landed
    assert trained[cluster]["global_step"] == steps
    assert trained[cluster]["resumed_from"].endswith(f"models/{PREEMPTED}/checkpoints/last.ckpt")

    # the DDP model ran two ranks inside each SLURM job (both handled the signal), and the ranks saw
    # different samples
    model_logs = cluster / f"results/models/{PREEMPTED}/logs"
    rank_rows = [
        set(pd.read_parquet(model_logs / f"sample_rows_rank{r}.parquet")["anchor_row"]) for r in (0, 1)
    ]
    assert rank_rows[0] and rank_rows[1] and rank_rows[0] != rank_rows[1]

    for plate in ("raw.zarr", "ground_truth/labels.zarr", "ground_truth/phase.zarr"):
        ours, theirs = (
            plate_arrays(local / "results/tiny" / plate),
            plate_arrays(cluster / "results/tiny" / plate),
        )
        assert ours.keys() == theirs.keys()
        for fov in ours:
            np.testing.assert_array_equal(ours[fov], theirs[fov])
    for table in (
        "ground_truth/tracks.parquet",
        "ground_truth/summary.parquet",
        "tracks.parquet",
        "patches/phase_sensor.parquet",
    ):
        pd.testing.assert_frame_equal(
            pd.read_parquet(local / "results/tiny" / table), pd.read_parquet(cluster / "results/tiny" / table)
        )
