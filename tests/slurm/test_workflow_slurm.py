"""The tiny workflow under `--profile profiles/slurm` on a real single-node SLURM cluster:
every rule runs as a SLURM job and the outputs equal a local run with the same seed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT
from integration.workflow_helpers import snakemake, tiny_workflow_config, write_config
from iohub.ngff import open_ome_zarr

pytestmark = pytest.mark.slurm


def _merge(base: dict, overlay: dict) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merged_profile(tmp_path: Path) -> Path:
    """profiles/slurm with the test-cluster overlay, written as a profile directory."""
    base = yaml.safe_load((REPO_ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    overlay = yaml.safe_load((Path(__file__).parent / "profile_overlay.yaml").read_text())
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.yaml").write_text(yaml.safe_dump(_merge(base, overlay)))
    return profile


def _arrays(plate_path: Path) -> dict[str, np.ndarray]:
    with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
        return {name: np.asarray(position["0"][:]) for name, position in plate.positions()}


def test_tiny_workflow_under_slurm_matches_local_run(slurm_cluster, tmp_path, monkeypatch):
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    config = tiny_workflow_config()
    # one model trains as a 2-process DDP job (gloo on CPU) through the profile's torchrun launch
    config["contrastive_models"]["classical"]["processes"] = 2
    config["contrastive_models"]["classical"]["training"]["record_sample_rows"] = True
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for workdir in (local, cluster):
        write_config(workdir, config)

    start = time.perf_counter()
    snakemake(local, "--cores", "2")
    local_seconds = time.perf_counter() - start

    start = time.perf_counter()
    snakemake(cluster, "--profile", str(merged_profile(tmp_path)), timeout=1800)
    slurm_seconds = time.perf_counter() - start
    print(f"\ntiny workflow wall time: local {local_seconds:.1f} s, SLURM {slurm_seconds:.1f} s")

    # every rule ran as its own SLURM job: the plugin keeps one log per job under .snakemake/slurm_logs
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

    # the DDP model ran two ranks inside ONE SLURM job, and the ranks saw different samples
    ddp_logs = [p for p in logs if p.parts[0] == "rule_train_contrastive" and "classical" in str(p)]
    assert len(ddp_logs) == 1, ddp_logs
    model_logs = cluster / "results/models/classical/logs"
    rank_rows = [
        set(pd.read_parquet(model_logs / f"sample_rows_rank{r}.parquet")["anchor_row"]) for r in (0, 1)
    ]
    assert rank_rows[0] and rank_rows[1] and rank_rows[0] != rank_rows[1]
    assert (cluster / "results/models/classical/model.ckpt").exists()

    for plate in ("raw.zarr", "ground_truth/labels.zarr", "ground_truth/phase.zarr"):
        ours, theirs = _arrays(local / "results/tiny" / plate), _arrays(cluster / "results/tiny" / plate)
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
