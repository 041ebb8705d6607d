"""profiles/slurm's group jobs ask for what they need: one FOV's CPUs and memory, k x the rule's runtime.

The SLURM plugin runs a group job's FOVs one after another (its Snakemake gets ``--jobs 1``), while
Snakemake sizes the group job's request by stacking its jobs in layers of at most ``cores`` threads
(docs/slurm.md). The request is computed here with Snakemake's own ``GroupResources.basic_layered``
(what ``GroupJob.resources`` calls) from the profile's values and each rule's declared threads,
memory and runtime (workflow/rules/*.smk).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import load_script
from snakemake.resources import GroupResources, Resources

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE = REPO_ROOT / "profiles" / "slurm" / "config.yaml"
#: the walltime ceiling the profile assumes, as its comments and docs/slurm.md state it
WALLTIME_CEILING_MIN = 48 * 60
#: what a group job leaves below it: the job's and each FOV's Snakemake start-up (docs/slurm.md)
WALLTIME_MARGIN_MIN = 60
#: jobs outside any group of the 10,000-FOV plan (one dataset, one model; docs/benchmarks.md): the dry
#: runs at 100 and 1,000 FOVs (benchmarks/planning.py --profile profiles/slurm) counted 17 at both; the
#: count does not grow with the plate, and a dry run of a 3-FOV plate checks it below (slow)
JOBS_OUTSIDE_GROUPS = 17


def rule_request(rule: str) -> dict[str, int]:
    """The literal ``threads`` (1 when absent), ``mem_mb`` and ``runtime`` of ``rule`` in workflow/rules."""
    for path in sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        start = re.search(rf"^rule {rule}:$", text, re.M)
        if start is None:
            continue
        following = re.search(r"^\S", text[start.end() :], re.M)
        body = text[start.end() : start.end() + following.start()] if following else text[start.end() :]
        threads = re.search(r"^\s+threads: (\d+)$", body, re.M)
        mem_mb = re.search(r"^\s+mem_mb=(\d+),$", body, re.M)
        runtime = re.search(r"^\s+runtime=(\d+),$", body, re.M)
        assert mem_mb and runtime, f"{path}: rule {rule} declares no literal mem_mb and runtime"
        return {
            "threads": int(threads.group(1)) if threads else 1,
            "mem_mb": int(mem_mb.group(1)),
            "runtime": int(runtime.group(1)),
        }
    raise AssertionError(f"rule {rule} not found in workflow/rules")


def group_request(fov_job: dict[str, int], fovs: int, cores: int, jobs: int) -> dict:
    """What Snakemake asks SLURM for a group job of ``fovs`` independent jobs like ``fov_job``."""
    job = SimpleNamespace(resources={"_nodes": 1, **fov_job}, pipe_group=None)
    return GroupResources.basic_layered(
        toposorted_jobs=[[job] * fovs],
        constraints=Resources.from_mapping({"_cores": cores, "_nodes": jobs}),
        run_local=False,
        additive_resources=["runtime"],
        sortby=["runtime"],
    )


def fov_job(profile: dict, rule: str) -> dict[str, int]:
    """One FOV job's resources under the profile: its threads capped at ``cores`` as Snakemake does."""
    declared = rule_request(rule)
    threads = min(profile.get("set-threads", {}).get(rule, declared["threads"]), profile["cores"])
    return {"_cores": threads, "mem_mb": declared["mem_mb"], "runtime": declared["runtime"]}


PROFILE_VALUES = yaml.safe_load(PROFILE.read_text())


@pytest.mark.parametrize("rule", sorted(PROFILE_VALUES["groups"]))
def test_a_full_group_job_asks_one_fovs_cpus_and_memory_and_k_times_its_runtime(rule):
    profile = PROFILE_VALUES
    fovs = profile["group-components"][profile["groups"][rule]]
    job = fov_job(profile, rule)
    request = group_request(job, fovs, profile["cores"], profile["jobs"])
    # the FOVs run in a row: each gets its rule's runtime, and the CPUs the job asks are all its own
    assert request["runtime"] >= fovs * job["runtime"], (rule, fovs, request)
    assert request["_cores"] == job["_cores"], (rule, request)
    assert request["mem_mb"] == job["mem_mb"], (rule, request)
    assert request["runtime"] <= WALLTIME_CEILING_MIN - WALLTIME_MARGIN_MIN, (rule, fovs, request)


def test_one_thread_fovs_under_eight_cores_are_asked_for_as_eight_at_once():
    """The computation above tells the defect: 50 one-thread FOVs of 30 min under ``cores: 8`` were
    asked for as 7 layers (8 CPUs, 8 x the memory, 3.5 h) where they need 25 h in a row."""
    request = group_request({"_cores": 1, "mem_mb": 4000, "runtime": 30}, 50, 8, 200)
    assert (request["_cores"], request["mem_mb"], request["runtime"]) == (8, 32000, 7 * 30)


def test_a_plate_of_10000_fovs_tracked_and_cut_into_patches_stays_under_500_submissions():
    """The count docs/slurm.md gives: tracking and patch group jobs, the QC figures' one, and the jobs
    outside any group."""
    sizes = PROFILE_VALUES["group-components"]
    groups = math.ceil(10_000 / sizes["tracking_fovs"]) + math.ceil(10_000 / sizes["patch_fovs"])
    submissions = groups + 1 + JOBS_OUTSIDE_GROUPS
    assert submissions <= 500, groups
    documented = re.search(
        r"(\d+) submissions \((\d+) group jobs, one of them the QC figures', \+ (\d+) others\)",
        (REPO_ROOT / "docs" / "slurm.md").read_text(),
    )
    assert documented, "docs/slurm.md no longer states the 10,000-FOV submissions"
    assert tuple(map(int, documented.groups())) == (submissions, groups + 1, JOBS_OUTSIDE_GROUPS)


@pytest.mark.slow
def test_the_jobs_outside_any_group_are_counted_by_a_dry_run(tmp_path: Path) -> None:
    """JOBS_OUTSIDE_GROUPS from a dry run of benchmarks/planning.py's plan (a plate of 3 FOVs) with
    the profile: one group job per grouped rule (tracking, patches, QC figures) and the jobs outside."""
    planning = load_script(REPO_ROOT / "benchmarks" / "planning.py", "planning")
    (tmp_path / "config").mkdir()
    planning.write_plate(tmp_path / "plate.zarr", 3)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(planning.config(tmp_path / "plate.zarr")))
    profile = planning.copy_without_logger(PROFILE.parent, tmp_path / "profile")
    log = planning.plan(tmp_path, "--profile", str(profile))[-1]
    assert planning.submissions(log) == (3, JOBS_OUTSIDE_GROUPS), log[-3000:]


@pytest.mark.parametrize("grouped", [False, True], ids=["one job per FOV", "grouped"])
def test_the_test_clusters_profiles_give_snakemake_no_empty_setting(tmp_path: Path, grouped: bool) -> None:
    """tests/slurm's profiles (the shipped profile, its groups and their threads left out for one job
    per FOV): an empty mapping becomes a bare ``--set-threads``, which Snakemake refuses."""
    from slurm.helpers import merged_profile

    profile = yaml.safe_load((merged_profile(tmp_path, grouped=grouped) / "config.yaml").read_text())
    assert all(value not in ({}, [], None) for value in profile.values()), profile
    assert ("set-threads" in profile) == grouped
