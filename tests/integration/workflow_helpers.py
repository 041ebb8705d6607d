"""Run the workflow on a tiny config in a scratch directory and read Snakemake's plan."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO_ROOT, TINY_SIMULATE

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


TINY_TRAINING = {
    "patch_spec": "phase_sensor",
    "backbone": "convnext_atto",
    "batch_size": 4,  # the tiny plate has 7 lineages in its training split (time-aware: one patch each)
    "epochs": 1,
    "max_batches_per_epoch": 3,
    "max_validation_batches": 1,
    "warmup_epochs": 0.5,
    "num_workers": 0,
    "seed": 0,
}


def tiny_workflow_config() -> dict:
    """The tiny dataset through the whole chain: phase, tracking on the plate's own nuclear
    channel (virtual staining has its own tests), patches, two contrastive models."""
    return copy.deepcopy(
        {
            "datasets": {
                "tiny": {
                    "simulate": TINY_SIMULATE,
                    "summary": {"preview_frames": 2},
                    "patches": [
                        {
                            "name": "phase_sensor",
                            "channels": [
                                {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
                                {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
                            ],
                            "z_window_slices": 3,
                            "patch_size_yx_px": 32,
                        }
                    ],
                }
            },
            "contrastive_models": {
                "time_aware": {
                    "train_datasets": ["tiny"],
                    "training": {**TINY_TRAINING, "sampling": "time_aware", "tau_frames": 1},
                },
                "classical": {
                    "train_datasets": ["tiny"],
                    "training": {**TINY_TRAINING, "sampling": "classical"},
                },
            },
            "analysis": {
                "baselines": ["engineered_features"],
                "temporal_metrics": {"n_bootstrap": 20},
                "classification": {"n_bootstrap": 20},
                "interpretation": {
                    "enabled": True,
                    "n_components": 4,
                    "trajectory_features": ["raw:ViralSensor_radial_slope", "raw:ViralSensor_mean"],
                    "trajectory_truth_columns": ["sensor_nuclear_fraction"],
                },
                "occlusion": {"enabled": True},
            },
            "exports": {"ctc_tracks": True, "h5ad": True, "feature_parquet": True, "viscy_features": True},
        }
    )


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 1200
) -> subprocess.CompletedProcess:
    """Run snakemake on the repository's Snakefile with ``workdir`` as working directory."""
    cmd = [*SNAKEMAKE, "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(workdir), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rules Snakemake would run now (dry run), with their job counts; ``all`` excluded."""
    result = snakemake(workdir, "--dry-run", *args)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    match = re.search(r"Job stats:\n(.*?)\n\n", text + "\n\n", re.S)
    assert match, f"no job stats in snakemake output:\n{text}"
    jobs = {}
    for line in match.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "all"):
            jobs[parts[0]] = int(parts[1])
    return jobs
