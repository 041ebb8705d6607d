"""The quiet console (``snakemake --logger dynaclr``): one line per finished or failed job."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

from snakemake_logger_plugin_dynaclr import LogHandler, format_failed, format_finished


def _handler(**settings: bool) -> tuple[LogHandler, io.StringIO]:
    common = SimpleNamespace(**{"verbose": False, "dryrun": False, **settings})
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


def test_a_failed_group_job_names_its_slurm_log():
    """Under the SLURM profile's groups, the job script's output (a FOV's ERROR line, a time limit) is
    in the group job's SLURM log: its line names it, and each FOV's line its rule's log."""
    handler, out = _handler()
    slurm_log = ".snakemake/slurm_logs/group_tracking_fovs_track_fov/123.log"
    handler.emit(
        _record(
            "Error in group tracking_fovs",
            logging.ERROR,
            event=LogEvent.GROUP_ERROR,
            groupid="tracking_fovs",
            aux_logs=[slurm_log],
            job_error_info=[],
        )
    )
    handler.emit(_record("Error in group x", logging.ERROR, event=LogEvent.GROUP_ERROR, groupid="x"))
    assert out.getvalue().splitlines() == [f"FAILED group tracking_fovs: read {slurm_log}", "FAILED group x"]
