"""Small helpers the SLURM tests share: run a SLURM client, read job states, checkpoints and logs."""

from __future__ import annotations

import datetime
import re
import subprocess
from pathlib import Path

import torch

from .cluster import SlurmCluster

#: asctime of the logging format of ``python -m dynaclr.training``
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) rank\d+ ", re.MULTILINE)
#: states after which a job does not run again (``""``: squeue forgot it)
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", ""}


def slurm(cluster: SlurmCluster, *args: str, timeout: float = 30) -> str:
    """Run a SLURM client command against ``cluster``; its stdout, or fail with its stderr."""
    proc = subprocess.run(
        list(args), capture_output=True, text=True, env=cluster.env, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout.strip()


def job_state(cluster: SlurmCluster, job_id: str) -> str:
    return slurm(cluster, "squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T")


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
