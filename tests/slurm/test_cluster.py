"""Behaviour of the real single-node SLURM cluster that the workflow's SLURM profile relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .cluster import SlurmCluster
from .helpers import job_state, slurm

pytestmark = pytest.mark.slurm


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\nset -euo pipefail\n" + textwrap.dedent(body).lstrip())
    path.chmod(0o755)
    return path


def _wait(what: str, predicate: Callable[[], bool], timeout: float, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            queue = slurm(cluster, "squeue", "-t", "all", "-o", "%i %T %r %S")
            pytest.fail(f"timed out after {timeout} s waiting for {what}\nsqueue:\n{queue}")
        time.sleep(0.3)


def _sbatch_wait(cluster: SlurmCluster, script: Path, *opts: str, timeout: float = 120) -> str:
    """Submit with ``sbatch --wait``; returns the job id, fails with the job's log otherwise."""
    log = script.with_suffix(".log")
    cmd = ["sbatch", "--parsable", "--wait", "-p", cluster.partition, "-o", str(log), *opts, str(script)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=cluster.env, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        queue = slurm(cluster, "squeue", "-t", "all", "-o", "%i %T %r")
        subprocess.run(["scancel", "-n", script.name], env=cluster.env, check=False)
        pytest.fail(f"sbatch --wait {script.name} did not finish in {timeout} s\nsqueue:\n{queue}")
    job_log = log.read_text() if log.exists() else "<no job log>"
    assert proc.returncode == 0, (
        f"job {script.name} failed ({proc.returncode}):\n{proc.stderr}\njob log:\n{job_log}"
    )
    return proc.stdout.strip().split(";")[0]


def test_cluster_is_up(slurm_cluster: SlurmCluster) -> None:
    states = slurm_cluster.sinfo_states()
    assert set(states) & {"idle", "mix", "alloc"}, states
    config = slurm(slurm_cluster, "scontrol", "show", "config")
    if not slurm_cluster.reused:
        assert f"cred_expire={slurm_cluster.cred_expire}" in config


def test_sbatch_wait_runs_a_batch_script(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    out = tmp_path / "hello.txt"
    script = _script(tmp_path / "hello.sh", f'echo "hello from $SLURM_JOB_ID on $(hostname -s)" > {out}\n')
    job_id = _sbatch_wait(slurm_cluster, script, "-J", "dynaclr-hello")
    assert out.read_text().split() == ["hello", "from", job_id, "on", slurm_cluster.node_name]


TORCH_ALL_REDUCE = """
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
out = Path(sys.argv[1]) / f"rank{rank}.txt"
out.write_text(f"{rank} {world} {os.environ['SLURM_JOB_ID']} {value.item()}\\n")
dist.destroy_process_group()
"""


def test_torchrun_two_ranks_in_one_job(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    worker = tmp_path / "allreduce.py"
    worker.write_text(TORCH_ALL_REDUCE)
    outdir = tmp_path / "ranks"
    outdir.mkdir()
    script = _script(
        tmp_path / "torchrun.sh",
        f"""
        export OMP_NUM_THREADS=1
        exec {sys.executable} -m torch.distributed.run --standalone --nproc-per-node=2 \\
            {worker} {outdir}
        """,
    )
    cpus = str(min(2, os.cpu_count() or 1))
    job_id = _sbatch_wait(slurm_cluster, script, "-J", "dynaclr-torchrun", "-n", "1", "-c", cpus)

    rows = sorted(p.read_text().split() for p in outdir.glob("rank*.txt"))
    assert len(rows) == 2, rows
    ranks = {int(r[0]) for r in rows}
    assert ranks == {0, 1}
    assert {r[1] for r in rows} == {"2"}  # world size
    assert {r[2] for r in rows} == {job_id}  # both ranks inside ONE SLURM job
    assert {float(r[3]) for r in rows} == {3.0}  # all_reduce(1 + 2) really communicated


def test_requeue_reruns_with_restart_count(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    starts = tmp_path / "starts.txt"
    script = _script(
        tmp_path / "requeue.sh",
        f"""
        echo "${{SLURM_RESTART_COUNT:-0}} $SLURM_JOB_ID" >> {starts}
        sleep 120
        """,
    )
    job_id = slurm(
        slurm_cluster,
        *("sbatch", "--parsable", "--requeue", "-J", "dynaclr-requeue", "-p", slurm_cluster.partition),
        *("-o", str(tmp_path / "requeue.log"), str(script)),
    ).split(";")[0]

    def n_starts() -> int:
        return len(starts.read_text().splitlines()) if starts.exists() else 0

    try:
        _wait("first start", lambda: n_starts() == 1, 30, slurm_cluster)
        assert job_state(slurm_cluster, job_id) == "RUNNING"

        requeued_at = time.time()
        slurm(slurm_cluster, "scontrol", "requeue", job_id)
        pending = lambda: job_state(slurm_cluster, job_id) == "PENDING"  # noqa: E731
        _wait("requeued job to pend", pending, 20, slurm_cluster)
        # A requeued job gets a begin time cred_expire seconds ahead (default 120 s); release it
        # early, but only once the clock is past the second of the requeue: slurmd rejects a launch
        # credential not newer than the job's revocation ("Job credential revoked") and the job fails.
        time.sleep(max(0.0, int(requeued_at) + 2 - time.time()))
        slurm(slurm_cluster, "scontrol", "update", f"jobid={job_id}", "StartTime=now")
        _wait("second start", lambda: n_starts() == 2, 30, slurm_cluster)
    finally:
        subprocess.run(["scancel", job_id], env=slurm_cluster.env, check=False, timeout=30)

    assert starts.read_text().splitlines() == [f"0 {job_id}", f"1 {job_id}"]
