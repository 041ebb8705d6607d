"""`make resume` after a `kill -9`: the lock Snakemake left is removed and the interrupted job reruns.

The state a killed run leaves is made by hand (a lock naming an output, that output marked
incomplete); make prints its recipe (`make -n`) and the steps before the report run as dry runs in a
scratch directory (the report needs a finished run).
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess

from conftest import REPO_ROOT

from integration.workflow_helpers import tiny_workflow_config, write_config


def test_make_resume_unlocks_then_reruns_the_incomplete_jobs(tmp_path):
    write_config(tmp_path, tiny_workflow_config())
    # the simulate job was running when Snakemake was killed, one of its outputs on disk (its stores,
    # named by their root zarr.json, appear only complete: dynaclr.io.atomic_output)
    interrupted = "results/tiny/ground_truth/tracks.parquet"
    (tmp_path / interrupted).parent.mkdir(parents=True)
    (tmp_path / interrupted).touch()
    locks, incomplete = tmp_path / ".snakemake" / "locks", tmp_path / ".snakemake" / "incomplete"
    locks.mkdir(parents=True)
    incomplete.mkdir(parents=True)
    (locks / "0.output.lock").write_text(f"{tmp_path / interrupted}\n")
    (incomplete / base64.b64encode(interrupted.encode()).decode()).touch()

    arguments = f"--snakefile {REPO_ROOT / 'Snakefile'} --directory {tmp_path} --dry-run"
    # Under `make test` this make is a sub-make (MAKELEVEL is inherited) and would print
    # "Entering directory" lines: --no-print-directory keeps the recipe alone, as a user sees it.
    recipe = subprocess.run(
        [
            "make",
            "-n",
            "--no-print-directory",
            "-o",
            ".venv/.dynaclr-installed",
            "resume",
            f"CONFIG={tmp_path / 'config' / 'config.yaml'}",
            f"SNAKEMAKE_ARGS={arguments}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MAKELEVEL": "1"},  # as under `make test`, whoever runs this test
    ).stdout.splitlines()
    assert [
        next(flag for flag in ("--unlock", "--rerun-incomplete", "--report") if flag in line)
        for line in recipe
    ] == [
        "--unlock",
        "--rerun-incomplete",
        "--report",
    ]

    unlock = subprocess.run(
        shlex.split(recipe[0]), cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert unlock.returncode == 0, unlock.stderr
    assert not locks.exists() or not any(locks.iterdir()), "the stale lock is still there"
    rerun = subprocess.run(shlex.split(recipe[1]), cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    plan = rerun.stdout + rerun.stderr
    assert "IncompleteFilesException" not in plan
    assert "rule simulate:" in plan and "forced" in plan  # the interrupted job runs again
