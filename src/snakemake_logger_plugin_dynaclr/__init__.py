"""A quiet Snakemake console: one line per finished job (``snakemake --logger dynaclr``).

Snakemake's own console prints a block of about ten lines per job (rule, input, output, log,
reason, resources ...), and for a plate of thousands of FOVs the console becomes unreadable. With
this logger the console shows, per finished job, its place in the run, rule, wildcards and wall
time::

    [ 12/106  11 %] track_fov  dataset=demo fov=A_1_0  41 s

and, for a failed job, one line naming the rule, the wildcards and the log files to read (with the
SLURM executor, the job's SLURM log too; a failed group job gets a line naming its SLURM log before
its jobs' lines). Warnings and errors are printed as Snakemake words them; everything else (the
rule blocks, the DAG building) goes only to Snakemake's own log file under ``.snakemake/log/``,
which is unchanged. A dry run (``-n``) prints its plan (the job table) as usual; ``--verbose``
prints every message.
Jobs write their own progress to their rule's log file (``results/logs/...``).

Snakemake finds this module by its name (``snakemake_logger_plugin_<name>``); it imports the
logger-plugin interface only, never Snakemake itself.
"""

from __future__ import annotations

import sys
import time
from logging import WARNING, LogRecord
from typing import Any, TextIO

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

__all__ = ["LogHandler", "format_failed", "format_finished"]


def _wildcards(values: Any) -> str:
    """``key=value`` pairs of a job's wildcards (``/`` in a value kept as is)."""
    if not values:
        return ""
    items = values.items() if hasattr(values, "items") else []
    return " ".join(f"{key}={value}" for key, value in items)


def format_finished(done: int, total: int, rule: str, wildcards: str, seconds: float | None) -> str:
    """The one line of a finished job."""
    width = len(str(total))
    percent = 100 * done / total if total else 100.0
    duration = "" if seconds is None else f"  {seconds:.0f} s"
    label = f"{rule}  {wildcards}" if wildcards else rule
    return f"[{done:>{width}}/{total} {percent:3.0f} %] {label}{duration}"


def format_failed(rule: str, wildcards: str, logs: Any) -> str:
    """The one line of a failed job: what failed and which log to read."""
    label = f"{rule}  {wildcards}" if wildcards else rule
    files = ", ".join(str(path) for path in (logs or []))
    return f"FAILED {label}" + (f": read {files}" if files else "")


class LogHandler(LogHandlerBase):
    """One console line per finished or failed job; warnings and errors as they come."""

    def __post_init__(self) -> None:
        self.stream: TextIO = sys.stderr
        self._jobs: dict[int, tuple[str, str, float]] = {}
        self._finished: list[int] = []

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def emit(self, record: LogRecord) -> None:
        try:
            self._emit(record)
        except Exception:  # a console line must never stop the workflow
            self.handleError(record)

    def _emit(self, record: LogRecord) -> None:
        event = getattr(record, "event", None)
        if self.common_settings.verbose or (
            self.common_settings.dryrun and event in (None, LogEvent.RUN_INFO) and record.msg
        ):
            self._write(record.getMessage())
            return
        if event == LogEvent.JOB_INFO:
            jobid = int(getattr(record, "jobid", -1))
            rule = str(getattr(record, "rule_name", "?"))
            self._jobs[jobid] = (rule, _wildcards(getattr(record, "wildcards", None)), time.monotonic())
        elif event == LogEvent.JOB_FINISHED:
            self._finished.append(int(getattr(record, "job_id", -1)))
        elif event == LogEvent.PROGRESS:
            done, total = int(getattr(record, "done", 0)), int(getattr(record, "total", 0))
            finished, self._finished = self._finished, []
            for offset, jobid in enumerate(finished):
                rule, wildcards, started = self._jobs.pop(jobid, ("job " + str(jobid), "", float("nan")))
                seconds = time.monotonic() - started if started == started else None
                position = done - len(finished) + offset + 1
                self._write(format_finished(position, total, rule, wildcards, seconds))
        elif event == LogEvent.JOB_ERROR:
            rule = str(getattr(record, "rule_name", "?"))
            jobid = int(getattr(record, "jobid", -1))
            known = self._jobs.pop(jobid, None)
            wildcards = known[1] if known else ""
            self._write(format_failed(rule, wildcards, getattr(record, "log", None)))
        elif event == LogEvent.GROUP_ERROR:  # its jobs' own lines follow
            group = f"group {getattr(record, 'groupid', '?')}"
            self._write(format_failed(group, "", getattr(record, "aux_logs", None)))
        elif record.msg and (record.levelno >= WARNING or str(record.msg).startswith("Nothing to be done")):
            self._write(record.getMessage())
