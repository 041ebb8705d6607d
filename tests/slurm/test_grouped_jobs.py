"""Per-FOV jobs submitted in groups (profiles/slurm ``groups`` + ``group-components``) on the real
single-node SLURM cluster: each group job runs several FOVs of one rule, and the outputs equal a
local run's (where groups do not apply)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from conftest import REPO_ROOT
from integration.workflow_helpers import snakemake, tiny_workflow_config, write_config

from dynaclr.patches.store import PATCH_ARRAY

from .helpers import merged_profile, plate_arrays

pytestmark = pytest.mark.slurm

#: The profile's group of each per-FOV rule this workflow runs (tracking on the raw plate, no staining).
GROUPS = {"reconstruct_phase": "phase_fovs", "track_fov": "tracking_fovs", "extract_patches": "patch_fovs"}
FOVS_PER_GROUP_JOB = 2
TARGETS = ("results/tiny/tracks.parquet", "results/tiny/patches/phase_sensor.parquet")
#: A job's header and FOV in the log of the Snakemake process inside a SLURM job
JOB_HEADER = re.compile(r"^\s*rule (\w+):$", re.M)
FOV_WILDCARDS = re.compile(r"wildcards: dataset=tiny, .*?row=(\w+), col=(\w+), fov=(\w+)")


def _fovs_per_rule(log: str) -> dict[str, set[str]]:
    """The FOVs of every per-FOV job one SLURM job ran, by rule (from its Snakemake log)."""
    ran: dict[str, set[str]] = {}
    for header, next_header in zip(
        JOB_HEADER.finditer(log), [*list(JOB_HEADER.finditer(log))[1:], None], strict=True
    ):
        block = log[header.end() : next_header.start() if next_header else len(log)]
        fov = FOV_WILDCARDS.search(block)
        if fov:
            ran.setdefault(header.group(1), set()).add("/".join(fov.groups()))
    return ran


def test_per_fov_jobs_run_in_groups_and_match_a_local_run(slurm_cluster, tmp_path, monkeypatch):
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["fovs_per_well"] = 2  # 4 FOVs: 2 group jobs per rule
    fovs = {f"{row}/1/{fov}" for row in "AB" for fov in "01"}
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for workdir in (local, cluster):
        write_config(workdir, config)
    # the local run gives the grouped rules the profile's threads too (capped at 2 cores, as on the
    # 2-core cluster node): torch's results may depend on its thread count
    threads = yaml.safe_load((REPO_ROOT / "profiles" / "slurm" / "config.yaml").read_text())["set-threads"]
    local_threads = [f"{rule}={threads[rule]}" for rule in GROUPS]
    snakemake(local, "--cores", "2", "--set-threads", *local_threads, "--", *TARGETS)
    profile = merged_profile(
        tmp_path,
        grouped=True,
        overlay={"group-components": dict.fromkeys(GROUPS.values(), FOVS_PER_GROUP_JOB)},
    )
    run = snakemake(cluster, "--profile", str(profile), *TARGETS, timeout=1800)

    # one SLURM job per group of 2 FOVs, none per FOV: the plugin keeps one log per job
    logs_dir = cluster / ".snakemake" / "slurm_logs"
    logs = sorted(logs_dir.rglob("*.log"))
    submitted = {p.relative_to(logs_dir).parts[0] for p in logs}
    assert not submitted & {f"rule_{rule}" for rule in GROUPS}, submitted
    for rule, group in GROUPS.items():
        # the plugin names a group job's log folder group_<group>_<its rules>
        group_logs = [p for p in logs if p.relative_to(logs_dir).parts[0] == f"group_{group}_{rule}"]
        assert len(group_logs) == len(fovs) // FOVS_PER_GROUP_JOB, (group, group_logs, run.stdout[-3000:])
        ran = [_fovs_per_rule(p.read_text()).get(rule, set()) for p in group_logs]
        assert [len(fovs_of_job) for fovs_of_job in ran] == [FOVS_PER_GROUP_JOB] * len(group_logs), ran
        assert set().union(*ran) == fovs

    # the grouped run computed what the local run did
    for table in ("tracks.parquet", "patches/phase_sensor.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(local / "results/tiny" / table), pd.read_parquet(cluster / "results/tiny" / table)
        )
    ours, theirs = (plate_arrays(where / "results/tiny/phase.zarr") for where in (local, cluster))
    assert ours.keys() == theirs.keys() == fovs
    for fov in fovs:
        np.testing.assert_array_equal(ours[fov], theirs[fov])
    np.testing.assert_array_equal(
        *(
            zarr.open_group(where / "results/tiny/patches/phase_sensor.zarr", mode="r")[PATCH_ARRAY][:]
            for where in (local, cluster)
        )
    )
