"""The quiet console (``snakemake --logger dynaclr``): one line per finished or failed job."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.settings.enums import Quietness
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

from snakemake_logger_plugin_dynaclr import PLANNED_SHOWN, LogHandler, format_failed, format_finished
from snakemake_logger_plugin_dynaclr.profile import copy_without_logger, main as profile_main

#: what snakemake-interface-executor-plugins' remote executor (the SLURM plugin's base) appends to
#: every reason in ``print_job_error``, glued on without a space or newline (as of its 9.3 release)
SUFFIX = "For further error details see the cluster/cloud log and the log files of the involved rule(s)."


def _handler(**settings: object) -> tuple[LogHandler, io.StringIO]:
    common = SimpleNamespace(**{"verbose": False, "dryrun": False, "quiet": set(), **settings})
    handler = LogHandler(common, None)  # type: ignore[arg-type]
    handler.stream = io.StringIO()
    return handler, handler.stream


def _record(msg: str | None, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("snakemake", level, __file__, 0, msg, None, None)
    record.__dict__.update(extra)
    return record


def test_snakemake_finds_the_plugin_by_its_name():
    plugin = LoggerPluginRegistry().get_plugin("dynaclr")
    assert plugin.log_handler is LogHandler


def test_one_line_per_finished_job_and_one_per_failure():
    handler, out = _handler()
    handler.emit(_record("Building DAG of jobs..."))
    for jobid, fov in ((3, "A_1_0"), (4, "A_1_1"), (5, "B_1_0")):
        handler.emit(
            _record(
                " Rule: track_fov",
                event=LogEvent.JOB_INFO,
                jobid=jobid,
                rule_name="track_fov",
                wildcards={"dataset": "demo", "fov": fov},
            )
        )
    handler.emit(_record("Finished jobid: 3", event=LogEvent.JOB_FINISHED, job_id=3))
    handler.emit(_record(None, event=LogEvent.PROGRESS, done=1, total=12))
    handler.emit(_record("Finished jobid: 4", event=LogEvent.JOB_FINISHED, job_id=4))
    handler.emit(_record(None, event=LogEvent.PROGRESS, done=2, total=12))
    handler.emit(
        _record(
            "Error in rule track_fov",
            logging.ERROR,
            event=LogEvent.JOB_ERROR,
            jobid=5,
            rule_name="track_fov",
            log=["results/logs/track_fov/demo/B_1_0.log"],
        )
    )
    handler.emit(_record("Exiting because a job execution failed.", logging.ERROR))
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith("[ 1/12   8 %] track_fov  dataset=demo fov=A_1_0  ")
    assert lines[0].endswith(" s")
    assert lines[1].startswith("[ 2/12  17 %] track_fov  dataset=demo fov=A_1_1")
    assert lines[2] == "FAILED track_fov  dataset=demo fov=B_1_0: read results/logs/track_fov/demo/B_1_0.log"
    assert lines[3] == "Exiting because a job execution failed."


def test_group_jobs_finishing_together_count_up():
    handler, out = _handler()
    for jobid in (1, 2):
        handler.emit(
            _record("", event=LogEvent.JOB_INFO, jobid=jobid, rule_name="extract_patches", wildcards={})
        )
    for jobid in (1, 2):
        handler.emit(_record("", event=LogEvent.JOB_FINISHED, job_id=jobid))
    handler.emit(_record(None, event=LogEvent.PROGRESS, done=5, total=5))
    assert [line.split("]")[0] for line in out.getvalue().splitlines()] == ["[4/5  80 %", "[5/5 100 %"]


def test_a_dry_run_prints_its_plan_and_verbose_prints_everything():
    handler, out = _handler(dryrun=True)
    handler.emit(_record("Job stats:\njob  count", event=LogEvent.RUN_INFO))
    assert "Job stats" in out.getvalue()
    handler, out = _handler(verbose=True)
    handler.emit(_record("Building DAG of jobs..."))
    assert out.getvalue() == "Building DAG of jobs...\n"


def test_line_formats():
    assert (
        format_finished(7, 106, "embed", "model=m dataset=d", 12.4)
        == "[  7/106   7 %] embed  model=m dataset=d  12 s"
    )
    assert format_finished(1, 1, "all", "", None) == "[1/1 100 %] all"
    assert format_failed("simulate", "dataset=demo", []) == "FAILED simulate  dataset=demo"


def _group_error_line(aux_logs: list[str]) -> str:
    """The console's one line for a failed group job whose executor named ``aux_logs``."""
    handler, out = _handler()
    handler.emit(
        _record(
            "Error in group tracking_fovs",
            logging.ERROR,
            event=LogEvent.GROUP_ERROR,
            groupid="tracking_fovs",
            aux_logs=aux_logs,
            job_error_info=[],
        )
    )
    (line,) = out.getvalue().splitlines()
    return line


def test_a_failed_group_job_names_its_slurm_log():
    """Under the SLURM profile's groups, the job script's output (a FOV's ERROR line, a time limit) is
    in the group job's SLURM log: its line names it, and each FOV's line its rule's log."""
    slurm_log = ".snakemake/slurm_logs/group_tracking_fovs_track_fov/123.log"
    assert _group_error_line([slurm_log]) == f"FAILED group tracking_fovs: read {slurm_log}"


def test_a_group_job_sbatch_refused_says_there_is_no_slurm_log_and_what_to_do():
    """A group job sbatch refused: the SLURM plugin reports a message and no log, and Snakemake's
    ``GroupJob.log_error`` drops the message; the line must not be a bare ``FAILED group x``."""
    line = _group_error_line([])
    assert line.startswith("FAILED group tracking_fovs: no SLURM log: sbatch may have refused the group job")
    assert "--verbose" in line and "sbatch call" in line and ": read " not in line


def test_a_failed_jobs_line_says_why_the_executor_failed_it():
    """The SLURM plugin's reason (a refused sbatch, a time limit, an out-of-memory kill) comes in the
    error record's ``rule_msg``; Snakemake's pointer to its full log follows the failure."""
    handler, out = _handler()
    handler.emit(_record("", event=LogEvent.JOB_INFO, jobid=7, rule_name="embed", wildcards={"model": "m"}))
    refused = (
        "SLURM sbatch failed. The error message was 'sbatch: error: Batch job submission failed: "
        "Unable to contact slurm controller (connect failure)'.\n    sbatch call:\n        sbatch ...\n"
    ) + SUFFIX
    handler.emit(
        _record(
            "Error in rule embed, jobid: 7",
            logging.ERROR,
            event=LogEvent.JOB_ERROR,
            jobid=7,
            rule_name="embed",
            rule_msg=refused,
            log=["results/logs/embed/m.log"],
        )
    )
    handler.emit(_record("Complete log(s): /w/.snakemake/log/2026-12-07T013000.snakemake.log"))
    assert out.getvalue().splitlines() == [
        "FAILED embed  model=m: SLURM sbatch failed. The error message was 'sbatch: error: Batch job "
        "submission failed: Unable to contact slurm controller (connect failure)': "
        "read results/logs/embed/m.log",
        "Complete log(s): /w/.snakemake/log/2026-12-07T013000.snakemake.log",
    ]
    timeout = "  \nSLURM-job '12' failed, SLURM status is: 'TIMEOUT'. Reason: Step 0: TimeLimit." + SUFFIX
    assert format_failed("track_fov", "fov=A", ["a.log"], timeout) == (
        "FAILED track_fov  fov=A: SLURM-job '12' failed, SLURM status is: 'TIMEOUT'. Reason: Step 0: "
        "TimeLimit: read a.log"
    )
    # sbatch's warnings may come before its error: the line naming the error is the reason
    warned = (
        "SLURM sbatch failed. The error message was 'sbatch: warning: can't honor --ntasks-per-node\n"
        "sbatch: error: invalid partition specified: nosuch'.\n    sbatch call:\n        sbatch ...\n"
    ) + SUFFIX
    assert (
        format_failed("embed", "", [], warned)
        == "FAILED embed: SLURM sbatch failed: sbatch: error: invalid partition specified: nosuch"
    )
    # an `error:` in the sbatch call the plugin appends is no reason
    called = "SLURM sbatch failed. The error message was ''.\n    sbatch call: sbatch --comment 'x_error:1'\n"
    assert (
        format_failed("embed", "", [], called + SUFFIX)
        == "FAILED embed: SLURM sbatch failed. The error message was ''"
    )
    assert format_failed("embed", "", [], SUFFIX) == "FAILED embed"


def test_unlock_says_it_unlocked():
    handler, out = _handler()
    handler.emit(_record("Unlocked working directory."))
    assert out.getvalue() == "Unlocked working directory.\n"


def _planned_job(jobid: int) -> logging.LogRecord:
    return _record(
        f" Rule: track_fov, Jobid: {jobid}",
        event=LogEvent.JOB_INFO,
        jobid=jobid,
        rule_name="track_fov",
        wildcards={"dataset": "demo", "fov": f"A_1_{jobid}"},
        reason="Params have changed since last execution: tracking.gap_closing\nmore",
    )


def test_a_dry_run_lists_its_planned_jobs_up_to_a_cap():
    handler, out = _handler(dryrun=True)
    for jobid in range(PLANNED_SHOWN + 3):
        if jobid % 10 == 0:  # a group job's header, then its jobs, each followed by its shell command
            handler.emit(_record(f"Group job g{jobid}", event=LogEvent.GROUP_INFO, group_id=f"g{jobid}"))
        handler.emit(_planned_job(jobid))
        handler.emit(_record("Shell command: None", event=LogEvent.SHELLCMD, shellcmd=None))
    handler.emit(_record("Job stats:\njob  count", event=LogEvent.RUN_INFO))
    handler.emit(_record(None, event=LogEvent.PROGRESS, done=0, total=1))
    lines = out.getvalue().splitlines()
    assert len(lines) == PLANNED_SHOWN + 3, lines
    assert (
        lines[0]
        == "track_fov  dataset=demo fov=A_1_0  Params have changed since last execution: tracking.gap_closing"
    )
    assert lines[PLANNED_SHOWN - 1].startswith(f"track_fov  dataset=demo fov=A_1_{PLANNED_SHOWN - 1}  Params")
    assert lines[PLANNED_SHOWN].startswith(
        "... 3 more planned jobs; for every job's block, plan without the dynaclr logger: "
        "drop `--logger dynaclr`"
    )
    assert "python -m snakemake_logger_plugin_dynaclr.profile <profile> <copy>" in lines[PLANNED_SHOWN]
    assert lines[-2:] == ["Job stats:", "job  count"]
    # a plan of a few jobs lists them all, no count
    handler, out = _handler(dryrun=True)
    handler.emit(_planned_job(1))
    handler.emit(_record("This was a dry-run (flag -n)."))
    assert out.getvalue().splitlines()[1] == "This was a dry-run (flag -n)."


@pytest.mark.parametrize("quiet", ["rules", "all"])
def test_a_dry_run_under_quiet_rules_lists_no_jobs(quiet):
    """``--quiet rules`` (or ``all``) hides Snakemake's job blocks; it hides the job lines too, and
    counts none, while the plan's job table stays."""
    handler, out = _handler(dryrun=True, quiet={Quietness.parse_choice(quiet)})
    for jobid in range(PLANNED_SHOWN + 3):
        handler.emit(_planned_job(jobid))
    handler.emit(_record("Job stats:\njob  count", event=LogEvent.RUN_INFO))
    assert out.getvalue().splitlines() == ["Job stats:", "job  count"]


def test_a_verbose_dry_run_counts_every_hidden_job_on_one_line():
    handler, out = _handler(dryrun=True, verbose=True)
    for jobid in range(PLANNED_SHOWN + 4):
        handler.emit(_planned_job(jobid))
        handler.emit(_record(f"Considering job {jobid}", logging.DEBUG, event=LogEvent.DEBUG_DAG))
        handler.emit(_record(f"Handle temp files for job {jobid}", logging.DEBUG))  # no event
        handler.emit(_record("Warning: something", logging.WARNING))
    handler.emit(_record("Job stats:\njob  count", event=LogEvent.RUN_INFO))
    counts = [line for line in out.getvalue().splitlines() if line.startswith("...")]
    assert len(counts) == 1 and counts[0].startswith("... 4 more planned jobs;"), counts


def test_verbose_adds_snakemakes_messages_to_the_job_lines():
    """``--verbose`` adds every message as Snakemake words it (not its per-job blocks, which its own
    console builds from the records' attributes); the job lines stay, and an empty message is skipped."""
    handler, out = _handler(verbose=True)
    handler.emit(_record("", event=LogEvent.JOB_INFO, jobid=1, rule_name="embed", wildcards={"model": "m"}))
    handler.emit(_record("Finished jobid: 1", event=LogEvent.JOB_FINISHED, job_id=1))
    handler.emit(_record(None, event=LogEvent.PROGRESS, done=1, total=1))
    handler.emit(_record("Building DAG of jobs...", logging.DEBUG))
    # nothing to read: a DAG debug message of 'None', a `run:` rule's shell command
    handler.emit(_record("None", logging.DEBUG, event=LogEvent.DEBUG_DAG))
    handler.emit(_record("Shell command: None", event=LogEvent.SHELLCMD, shellcmd=None))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[1/1 100 %] embed  model=m"), lines
    assert lines[1] == "Building DAG of jobs..."


def test_a_copy_of_the_profile_without_its_logger(tmp_path):
    """The one way the tests, benchmarks/planning.py and docs/slurm.md get Snakemake's own console
    (a block per job) with profiles/slurm: a copy without ``logger``, every other setting kept."""
    shipped = Path(__file__).resolve().parents[2] / "profiles" / "slurm"
    values = yaml.safe_load((shipped / "config.yaml").read_text())
    assert values["logger"] == ["dynaclr"]
    copy = copy_without_logger(shipped, tmp_path / "every_job")
    copied = yaml.safe_load((copy / "config.yaml").read_text())
    assert copied == {key: value for key, value in values.items() if key != "logger"}
    assert copy_without_logger(shipped, copy) == copy  # again, over the first copy
    with pytest.raises(FileNotFoundError, match=r"not a Snakemake profile: expected config\.v8\+\.yaml or"):
        copy_without_logger(tmp_path / "nothing", tmp_path / "copy")


def test_a_copy_onto_the_profile_or_inside_it_is_refused_naming_both(tmp_path, capsys):
    profile = tmp_path / "p"
    profile.mkdir()
    (profile / "config.yaml").write_text("logger: [dynaclr]\njobs: 2\n")
    for copy, found in ((profile, "the profile itself"), (profile / "copy", "inside it")):
        with pytest.raises(SystemExit) as refused:
            profile_main([str(profile), str(copy)])
        assert refused.value.code == 2
        error = capsys.readouterr().err
        assert f"{copy}: the copy must lie outside the profile {profile}, found it is {found}" in error
        assert "Traceback" not in error
    assert sorted(path.name for path in profile.iterdir()) == ["config.yaml"]
    assert "logger" in (profile / "config.yaml").read_text()
