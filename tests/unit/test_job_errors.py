"""A job that fails on its input says why in one line; a bug keeps its traceback.

Each test runs a shim-like script in a subprocess, as Snakemake runs ``workflow/scripts/*``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dynaclr.jobs import is_user_error, one_line

SHIM = textwrap.dedent(
    """
    import sys
    from dynaclr.jobs import job_context

    with job_context(sys.argv[1], 1):
        {body}
    """
)

BODIES = {
    "artifact": "from dynaclr.io.plate import read_plate_layout; read_plate_layout('/nowhere/plate.zarr')",
    "config": (
        "from dynaclr.config.tracking import TrackingConfig; "
        "TrackingConfig.model_validate({'maps': {'z_handling': 'sideways'}})"
    ),
    "dynaclr value": "from dynaclr.io.plate import split_fov_name; split_fov_name('A/1')",
    "bug in a library": "import numpy; numpy.zeros(3).reshape(4)",
    "bug": "raise KeyError('oops')",
}


def run_shim(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess, str]:
    script = tmp_path / "shim.py"
    script.write_text(SHIM.format(body=body))
    log = tmp_path / "logs" / "job.log"
    result = subprocess.run(
        [sys.executable, str(script), str(log)], capture_output=True, text=True, timeout=120, check=False
    )
    return result, log.read_text()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("artifact", "/nowhere/plate.zarr: plate not found"),
        ("config", "invalid config (TrackingConfig): maps.z_handling: Input should be"),
        ("dynaclr value", "FOV name 'A/1' is not of the form 'row/column/fov'"),
    ],
)
def test_a_user_error_is_one_line_on_stderr_and_a_traceback_in_the_log(
    tmp_path: Path, case: str, message: str
) -> None:
    result, log = run_shim(tmp_path, BODIES[case])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert " ERROR dynaclr.job: " in lines[0] and message in lines[0]
    assert f"(traceback in {tmp_path / 'logs' / 'job.log'})" in lines[0]
    assert "Traceback" not in result.stderr
    assert message in log and "Traceback (most recent call last)" in log


@pytest.mark.parametrize("case", ["bug in a library", "bug"])
def test_an_unexpected_error_keeps_its_traceback(tmp_path: Path, case: str) -> None:
    result, log = run_shim(tmp_path, BODIES[case])
    assert result.returncode == 1
    assert "job failed" in result.stderr and "Traceback (most recent call last)" in result.stderr
    assert "Traceback (most recent call last)" in log


def test_user_errors_are_those_dynaclr_explains() -> None:
    from dynaclr.io import ArtifactError
    from dynaclr.io.plate import split_fov_name

    assert is_user_error(ArtifactError("x"))
    with pytest.raises(ValueError) as raised:
        split_fov_name("bad")
    assert is_user_error(raised.value)
    with pytest.raises(ValueError) as foreign:
        int("x")
    assert not is_user_error(foreign.value)
    assert not is_user_error(KeyError("k"))
    assert one_line(ArtifactError("a\n  b\n")) == "a; b"


@pytest.mark.slow
def test_training_cli_ends_with_the_cause_of_a_user_error(tmp_path: Path) -> None:
    """The rule sends the CLI's output to the job's log: its last line is the cause (about 15 s:
    Lightning's import)."""
    config = tmp_path / "model.json"
    config.write_text(json.dumps({"patch_spec": "p", "sampling": "classical", "backbone": "convnext_atto"}))
    out = tmp_path / "model"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dynaclr.training",
            "--patches-zarr",
            str(tmp_path / "absent.zarr"),
            "--patches-parquet",
            str(tmp_path / "absent.parquet"),
            "--config",
            str(config),
            "--model",
            str(out / "model.ckpt"),
            "--model-config",
            str(out / "config.json"),
            "--model-name",
            "m",
            "--work-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "dynaclr.training: " in last and "absent.zarr: store not found" in last, result.stderr
    assert "Traceback (most recent call last)" in result.stderr  # for whoever debugs it, in the log


QUIET_BODY = (
    "import logging, warnings, tqdm; "
    "logging.getLogger('dynaclr.stage').info('step done'); "
    "logging.getLogger('dynaclr.stage').warning('fewer cells than asked'); "
    "logging.getLogger('ultrack.core.solve').warning('Using CBC solver. Consider installing Gurobi'); "
    "warnings.warn('a library warns'); "
    "[None for _ in tqdm.tqdm(range(3), desc='frames')]; "
    "print('printed', file=sys.stderr); print('to stdout'); "
    "import os; os.write(2, b'a C library writes\\n')"
)


def test_the_console_gets_warnings_only_and_the_log_gets_everything(tmp_path: Path) -> None:
    result, log = run_shim(tmp_path, QUIET_BODY)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line
    assert "WARNING dynaclr.stage: fewer cells than asked" in result.stderr
    assert result.stdout == ""
    for text in (
        "INFO dynaclr.stage: step done",
        "fewer cells than asked",
        "a library warns",
        "frames",
        "printed",
        "to stdout",
        "a C library writes",  # written to the file descriptor, below Python
        "Consider installing Gurobi",  # advice about a configured choice: the log only
    ):
        assert text in log, text
    assert log.index("step done") < log.index("fewer cells than asked")  # one file, in order


def test_dynaclr_verbose_puts_info_back_on_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNACLR_VERBOSE", "1")
    result, log = run_shim(tmp_path, QUIET_BODY)
    assert "INFO dynaclr.stage: step done" in result.stderr and "step done" in log


def test_a_job_run_in_the_callers_process_leaves_its_logging_levels_as_they_were(tmp_path: Path) -> None:
    """job_context raises the root logger to INFO (and sets iohub's, ultrack's) for the job: a caller
    running a job in its own process (a test, a notebook) gets its levels back on exit, as the
    handlers, whether the job succeeds or fails."""
    import logging

    from dynaclr.jobs import job_context

    names = ("", "iohub", "ultrack")
    before = {name: logging.getLogger(name).level for name in names}
    with job_context(tmp_path / "ok.log", 1):
        assert logging.getLogger().level == logging.INFO
    assert {name: logging.getLogger(name).level for name in names} == before
    with pytest.raises(KeyError), job_context(tmp_path / "bug.log", 1):
        raise KeyError("oops")
    assert {name: logging.getLogger(name).level for name in names} == before
