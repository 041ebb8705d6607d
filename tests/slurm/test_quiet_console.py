"""The profile's quiet console (``logger: [dynaclr]``) under the SLURM executor, on the real
single-node cluster: one console line per finished job, none of Snakemake's or the plugin's per-job
messages, and a failed job's line naming its logs (the rule's and SLURM's).

A three-rule workflow written here stands in for the project's: the console depends on the logger and
the executor, not on what the jobs compute, and these jobs take seconds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from integration.workflow_helpers import SNAKEMAKE

from .helpers import merged_profile

pytestmark = pytest.mark.slurm

FOVS = ("A_1_0", "A_1_1")
SNAKEFILE = f"""
localrules: all

rule all:
    input: expand("done/{{fov}}.txt", fov={list(FOVS)!r})

rule work:
    output: "done/{{fov}}.txt"
    log: "logs/work/{{fov}}.log"
    resources: mem_mb=100, runtime=5
    shell: "echo working on {{wildcards.fov}} > {{log}}; echo {{wildcards.fov}} > {{output}}"

rule broken:
    output: "broken.txt"
    log: "logs/broken.log"
    resources: mem_mb=100, runtime=5
    shell: "echo cannot read the input > {{log}}; exit 3"

rule broken_fov:
    output: "broken/{{fov}}.txt"
    log: "logs/broken/{{fov}}.log"
    resources: mem_mb=100, runtime=5
    shell: "echo cannot read {{wildcards.fov}} > {{log}}; exit 3"
"""
#: the failing per-FOV rule in one group job, as the profile groups the project's per-FOV rules
GROUPED = {"groups": {"broken_fov": "broken_fovs"}, "group-components": {"broken_fovs": len(FOVS)}}
#: a finished job's line (snakemake_logger_plugin_dynaclr.format_finished)
FINISHED = re.compile(r"^\[\s*(\d+)/(\d+)\s+\d+ %\] (\w+)(?:  (\w+=\S+(?: \w+=\S+)*))?(?:  \d+ s)?$")
#: what Snakemake's console and the SLURM plugin print for each job, never on the quiet console
CHATTER = (
    "rule work",
    "Rule:",
    "jobid",
    "has been submitted with SLURM jobid",
    "resources:",
    "wildcards:",
    "Select jobs to execute",
    "steps (",
    "Error in rule",
)
#: start-up lines: Snakemake's, and the plugin guessing an account (it ignores
#: --slurm-no-account and asks sacct, which the test cluster lacks) for each job submitted before
#: its first sbatch answered
START_UP = (
    "Using profile ",
    "No SLURM account given, trying to guess.",
    "No account was given, not able to get a SLURM account via sacct",
    "Unable to guess SLURM account. Trying to proceed without.",
)
#: Snakemake's last line of a run (not a dry run), which the console passes on: where its full log is
FULL_LOG = "Complete log(s): "


def _run(workdir: Path, profile: Path, *targets: str) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "--snakefile", str(workdir / "Snakefile"), "--directory", str(workdir)]
    return subprocess.run(
        [*cmd, "--profile", str(profile), *targets],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=600,
        check=False,
    )


def _console(run: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]


def _full_log(workdir: Path) -> str:
    """Snakemake's own log of the latest run (.snakemake/log/), kept whatever the console shows."""
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    return logs[-1].read_text() if logs else ""


def test_the_slurm_profile_prints_one_line_per_job_and_names_a_failed_jobs_logs(
    slurm_cluster, tmp_path, monkeypatch
):
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    shipped = yaml.safe_load((REPO_ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert shipped["logger"] == ["dynaclr"], shipped.get("logger")
    profile = merged_profile(tmp_path, quiet=True)
    workdir = tmp_path / "workflow"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(SNAKEFILE)

    run = _run(workdir, profile)
    console = _console(run)
    assert run.returncode == 0, "\n".join(console) + "\n" + _full_log(workdir)
    # every job ran as a SLURM job (the plugin kept their logs) ...
    slurm_logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(slurm_logs) == len(FOVS), slurm_logs
    assert "has been submitted with SLURM jobid" in _full_log(workdir)
    # ... and the console holds one line per finished job, besides the start-up lines
    assert console[-1].startswith(FULL_LOG), "\n".join(console)
    jobs = [line for line in console[:-1] if not line.startswith(START_UP)]
    finished = [FINISHED.match(line) for line in jobs]
    assert all(finished) and len(finished) == len(FOVS) + 1, "\n".join(console)
    assert [(m[1], m[2]) for m in finished if m] == [("1", "3"), ("2", "3"), ("3", "3")], jobs
    assert sorted((m[3], m[4]) for m in finished if m) == [
        ("all", None),
        *(("work", f"fov={fov}") for fov in FOVS),
    ], jobs

    run = _run(workdir, profile, "broken.txt")
    console = _console(run)
    text = "\n".join(console)
    assert run.returncode != 0, text
    assert not [line for line in console if any(word in line for word in CHATTER)], text
    failed = [line for line in console if line.startswith("FAILED broken")]
    # besides those: Snakemake's closing words ("Exiting because a job execution failed", the error)
    assert len([line for line in console if not line.startswith((*START_UP, "FAILED ", FULL_LOG))]) <= 3, text
    # the profile's `retries: 1` submits the job twice: both failures are on the console
    assert len(failed) == 2, text
    for line in failed:  # the plugin's reason (its status command here is squeue, not sacct), the logs
        reason, logs = line.removeprefix("FAILED broken: ").rsplit(": read ", 1)
        assert re.fullmatch(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'\. .+", reason), line
        rule_log, slurm_log = logs.split(", ")
        assert rule_log == "logs/broken.log", line
        assert "cannot read the input" in (workdir / rule_log).read_text()
        assert re.fullmatch(r"\S*\.snakemake/slurm_logs/rule_broken/\d+\.log", slurm_log), line
        assert (workdir / slurm_log).is_file(), line

    # a failed group job: a line naming its SLURM log, then each FOV's naming its rule's log
    grouped = tmp_path / "grouped"
    grouped.mkdir()
    profile = merged_profile(grouped, grouped=True, quiet=True, overlay=GROUPED)
    run = _run(workdir, profile, *(f"broken/{fov}.txt" for fov in FOVS))
    console = _console(run)
    text = "\n".join(console)
    assert run.returncode != 0, text
    assert not [line for line in console if any(word in line for word in CHATTER)], text
    groups = [line for line in console if line.startswith("FAILED group broken_fovs")]
    assert len(groups) == 2, text  # `retries: 1`
    for line in groups:
        (slurm_log,) = line.removeprefix("FAILED group broken_fovs: read ").split(", ")
        assert re.fullmatch(r"\S*\.snakemake/slurm_logs/group_broken_fovs_broken_fov/\d+\.log", slurm_log), (
            line
        )
        assert (workdir / slurm_log).is_file(), line
    for fov in FOVS:
        assert f"FAILED broken_fov  fov={fov}: read logs/broken/{fov}.log" in console, text

    # a submission sbatch refuses (a partition the cluster lacks): the line says why; Snakemake's
    # pointer to its full log follows
    refused = tmp_path / "refused"
    refused.mkdir()
    profile = merged_profile(
        refused, quiet=True, overlay={"default-resources": {"slurm_partition": "nonexistent"}}
    )
    run = _run(workdir, profile, "done/refused.txt")
    console = _console(run)
    text = "\n".join(console)
    assert run.returncode != 0, text
    failed = [line for line in console if line.startswith("FAILED work  fov=refused: SLURM sbatch failed")]
    assert len(failed) == 2 and all("partition" in line for line in failed), text  # `retries: 1`
    assert all(line.endswith(": read logs/work/refused.log") for line in failed), text
    assert any(line.startswith(FULL_LOG) for line in console), text
