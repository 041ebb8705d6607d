"""Small helpers the SLURM tests share: run a SLURM client, read job states, checkpoints and logs."""

from __future__ import annotations

import datetime
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from conftest import REPO_ROOT
from iohub.ngff import open_ome_zarr

from snakemake_logger_plugin_dynaclr.profile import without_logger

from .cluster import SlurmCluster

#: The profile's keys that submit per-FOV jobs in batches (see docs/slurm.md).
GROUPING_KEYS = ("groups", "group-components")

#: asctime of the logging format of ``python -m dynaclr.training``
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) rank\d+ ", re.MULTILINE)
#: states after which a job does not run again (``""``: squeue forgot it)
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", ""}


def slurm(cluster: SlurmCluster, *args: str, timeout: float = 30, absent_if: str | None = None) -> str:
    """Run a SLURM client command against ``cluster``; its stdout, or fail with its stderr.

    ``absent_if``: a failure whose stderr contains this text gives ``""`` instead (e.g. squeue's
    "Invalid job id" for a job it has forgotten).
    """
    proc = subprocess.run(
        list(args), capture_output=True, text=True, env=cluster.env, timeout=timeout, check=False
    )
    if proc.returncode != 0 and absent_if is not None and absent_if in proc.stderr:
        return ""
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout.strip()


def job_state(cluster: SlurmCluster, job_id: str) -> str:
    """The job's state, or ``""`` once squeue has forgotten it (``MinJobAge`` after it ended)."""
    return slurm(cluster, "squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T", absent_if="Invalid job id")


def wait_watching(cluster: SlurmCluster, run: subprocess.Popen, job_id: str, timeout: float) -> str:
    """Wait for ``run`` to exit; the last state squeue gave ``job_id`` meanwhile.

    squeue forgets a job ``MinJobAge`` after it ends, and a slow machine's workflow can run longer than
    that after the job, so its state is read while the workflow runs, not after.
    """
    deadline = time.monotonic() + timeout
    last = ""
    while run.poll() is None:
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(run.args, timeout)
        last = job_state(cluster, job_id) or last
        time.sleep(2)
    return job_state(cluster, job_id) or last


def complete_checkpoint(path: Path) -> dict | None:
    """The checkpoint at ``path`` once it is fully written, else ``None``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # missing or still being written
        return None


def log_times(text: str) -> list[float]:
    """Epoch seconds of the training log lines in ``text``."""
    return [
        datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for stamp in LOG_TIME.findall(text)
    ]


def _merge(base: dict, overlay: dict) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merged_profile(
    tmp_path: Path, *, grouped: bool = False, quiet: bool = False, overlay: dict | None = None
) -> Path:
    """profiles/slurm with the test-cluster overlay (and ``overlay`` over both), written as a profile
    directory. Without ``grouped`` the profile's groups, and its threads for the grouped rules, are left
    out: one SLURM job per rule and FOV, with the rule's own threads. Without ``quiet`` the profile's
    quiet console (``logger``) is left out: a failing test shows Snakemake's full console output."""
    base = yaml.safe_load((REPO_ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    if not quiet:
        base = without_logger(base)
    if not grouped:  # and the grouped rules' threads back to their own (profile comment)
        grouped_rules = set(base["groups"])
        base = {key: value for key, value in base.items() if key not in GROUPING_KEYS}
        kept = {rule: n for rule, n in base.pop("set-threads", {}).items() if rule not in grouped_rules}
        if kept:  # an empty set-threads becomes a bare --set-threads, which Snakemake refuses
            base["set-threads"] = kept
    test_cluster = yaml.safe_load((Path(__file__).parent / "profile_overlay.yaml").read_text())
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.yaml").write_text(yaml.safe_dump(_merge(_merge(base, test_cluster), overlay or {})))
    return profile


def plate_arrays(plate_path: Path) -> dict[str, np.ndarray]:
    """Every position's array ``0`` of an HCS plate, by FOV name."""
    with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
        return {name: np.asarray(position["0"][:]) for name, position in plate.positions()}
