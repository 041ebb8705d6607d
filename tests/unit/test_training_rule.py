"""Rule train_contrastive's launch, read from Snakemake's dry run (``-n -p``): which interpreter runs
torchrun (the rule's conda env under ``--sdm conda``, else the one running Snakemake) and how many
torch threads each rank gets (the job's threads shared by its ranks). Under ``--sdm conda``, conda
also sees ``DYNACLR_SOURCE``, from which envs/dynaclr.yaml installs dynaclr."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from integration.workflow_helpers import snakemake, tiny_workflow_config, write_config

MODELS = ("time_aware", "classical")
#: Answers the questions Snakemake asks conda before a dry run (conda cannot be installed here) and
#: records the DYNACLR_SOURCE it was given; anything else, e.g. creating an environment, fails.
FAKE_CONDA = """#!/bin/sh
printf '%s' "${DYNACLR_SOURCE-unset}" > "$(dirname "$0")/dynaclr_source"
case "$*" in
  "info --json") echo '{"conda_prefix": "/nonexistent/conda", "platform": "linux-64"}' ;;
  "--version") echo "conda 25.1.1" ;;
  "config --get channel_priority --json") echo '{"get": {"channel_priority": "strict"}}' ;;
  *) echo "fake conda cannot run: $*" >&2; exit 1 ;;
esac
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny workflow with one single-process model and one 2-process (CPU DDP) model."""
    workdir = tmp_path_factory.mktemp("training_rule")
    config = tiny_workflow_config()
    config["contrastive_models"]["classical"]["processes"] = 2
    write_config(workdir, config)
    return workdir


def launches(workdir: Path, *args: str) -> dict[str, tuple[str, int, int]]:
    """``{model: (interpreter, ranks, threads per rank)}`` of the training jobs a dry run plans.

    Ranks and threads come from running the command's own shell arithmetic in bash.
    """
    targets = [f"results/models/{model}/model.ckpt" for model in MODELS]
    output = snakemake(workdir, "--dry-run", "--printshellcmds", *args, "--", *targets).stdout
    found = {}
    for command in re.findall(r"^.*-m torch\.distributed\.run .*$", output, re.M):
        model = re.search(r"--work-dir results/models/(\w+)", command).group(1)  # type: ignore[union-attr]
        interpreter = re.search(r"(\S+) -m torch\.distributed\.run", command).group(1)  # type: ignore[union-attr]
        arithmetic = re.search(r"ranks=.*?threads_per_rank=1;", command).group(0)  # type: ignore[union-attr]
        shell = subprocess.run(
            ["bash", "-c", f'{arithmetic} echo "$ranks $threads_per_rank"'],
            capture_output=True,
            text=True,
            check=True,
        )
        ranks, threads = map(int, shell.stdout.split())
        assert "--nproc-per-node=$ranks" in command and "--threads $threads_per_rank" in command, command
        found[model] = (interpreter, ranks, threads)
    assert sorted(found) == sorted(MODELS), output[-3000:]
    return found


@pytest.mark.slow  # a Snakemake run
def test_without_conda_the_interpreter_running_snakemake_launches_at_least_one_thread_per_rank(workdir):
    # one core: the 2-rank job's threads are capped at 1, still 1 thread per rank
    assert launches(workdir, "--cores", "1") == {
        "time_aware": (sys.executable, 1, 1),
        "classical": (sys.executable, 2, 1),
    }


@pytest.mark.slow  # a Snakemake run
def test_under_sdm_conda_the_env_python_launches_and_ranks_share_the_jobs_threads(
    workdir, tmp_path, monkeypatch
):
    fake = tmp_path / "bin" / "conda"
    fake.parent.mkdir()
    fake.write_text(FAKE_CONDA)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    # a 32-core node with 4 GPUs: one rank per GPU, 8 threads each
    gpu_node = ("--set-threads", "train_contrastive=32", "--set-resources", "train_contrastive:gpu=4")
    assert launches(workdir, "--sdm", "conda", "--cores", "32", *gpu_node) == {
        model: ("python", 4, 8) for model in MODELS
    }
    assert (fake.parent / "dynaclr_source").read_text() == str(REPO_ROOT)


@pytest.mark.slow  # a Snakemake run
def test_the_command_gives_training_the_sampling_of_its_datasets(workdir):
    """model.ckpt records the sampling the dry run compares (import_model compares a copy with it):
    the rule passes each training dataset's, in order, from the plate's metadata."""
    output = snakemake(workdir, "--dry-run", "--printshellcmds", "--", "results/models/time_aware/model.ckpt")
    command = re.search(r"^.*-m torch\.distributed\.run .*$", output.stdout, re.M)
    assert command is not None, output.stdout[-3000:]
    words = shlex.split(command.group(0))
    records = json.loads(words[words.index("--training-sampling") + 1])
    assert [record["dataset"] for record in records] == ["tiny"]
    assert records[0]["source"] == "phase" and records[0]["slices"] == 3
    assert all(
        isinstance(records[0][key], float) for key in ("pixel_size_um", "z_step_um", "time_interval_minutes")
    )
