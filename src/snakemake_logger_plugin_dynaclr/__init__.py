"""A quiet Snakemake console: one line per finished job (``snakemake --logger dynaclr``).

Snakemake's own console prints a block of about ten lines per job (rule, input, output, log,
reason, resources ...), and for a plate of thousands of FOVs the console becomes unreadable. With
this logger the console shows, per finished job, its place in the run, rule, wildcards and wall
time::

    [ 12/106  11 %] track_fov  dataset=demo fov=A_1_0  41 s

and, for a failed job, one line naming the rule, the wildcards, the executor's reason where it
gives one (the line of its message naming an ``error:``, else its first: SLURM's refused
``sbatch``, a job's ``TIMEOUT`` or ``OUT_OF_MEMORY``; without the executors'
:data:`EXECUTOR_SUFFIX`) and the log files to read (with the SLURM executor, the job's SLURM log
too)::

    FAILED embed  model=m: SLURM sbatch failed. The error message was '...': read results/logs/embed/m.log

A failed group job gets a line naming its SLURM log before its jobs' lines; Snakemake passes no
reason on for a group job (``GroupJob.log_error``), so the group's SLURM log is where to read it; a
group job sbatch refused has none, and its line says so (:data:`NO_GROUP_LOG`).
Warnings and errors are printed as Snakemake words them, and so are "Nothing to be done", "Complete
log(s): <path>" (a run's last line) and ``--unlock``'s "Unlocked working directory"; everything else
(the rule blocks, the DAG building) goes only to Snakemake's own log file under ``.snakemake/log/``,
which is unchanged. A dry run (``-n``) prints one line per planned job (rule, wildcards, reason;
the first :data:`PLANNED_SHOWN`, then one line counting the rest; none under ``--quiet rules`` or
``all``) and its plan (the job table). ``--verbose`` adds every other message as Snakemake words it
(not those reading ``None``), which is not its block per job (Snakemake's own console
builds those from the records): for those blocks, run with a copy of the profile without its
``logger`` (:mod:`snakemake_logger_plugin_dynaclr.profile`).
Jobs write their own progress to their rule's log file (``results/logs/...``).

Snakemake finds this module by its name (``snakemake_logger_plugin_<name>``); it imports the
logger-plugin interface only, never Snakemake itself.
"""

from __future__ import annotations

import sys
import time
from logging import INFO, WARNING, LogRecord
from typing import Any, TextIO

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

__all__ = [
    "EXECUTOR_SUFFIX",
    "NO_GROUP_LOG",
    "PLANNED_SHOWN",
    "LogHandler",
    "format_failed",
    "format_finished",
    "format_planned",
]

#: messages below WARNING that still reach the console: where nothing ran, where Snakemake's full log
#: is (a run's last line; after a failure the one pointer to it), and ``--unlock``'s answer
PASSED_ON = ("Nothing to be done", "Complete log(s): ", "Unlocked working directory")
#: the planned jobs a dry run (``-n``) lists, one line each; the rest are counted
PLANNED_SHOWN = 50
#: what the executors' ``print_job_error`` (snakemake-interface-executor-plugins' remote executor, the
#: SLURM plugin's base) glues onto every reason, with no space or newline before it
EXECUTOR_SUFFIX = (
    "For further error details see the cluster/cloud log and the log files of the involved rule(s)."
)
#: a failed group job's hint where the executor named no log (sbatch refused it: Snakemake passes no
#: reason on for a group job, and no SLURM log was written)
NO_GROUP_LOG = (
    "no SLURM log: sbatch may have refused the group job (Snakemake passes the reason on for single "
    "jobs only): rerun with `--verbose`, and the console and Snakemake's full log (.snakemake/log/) "
    "show the sbatch call; run it by hand to read sbatch's error"
)
#: how to see every planned job of a dry run, on the "... N more planned jobs" line
EVERY_PLANNED_JOB = (
    "for every job's block, plan without the dynaclr logger: drop `--logger dynaclr`, or with a "
    "profile setting it, plan with a copy without it "
    "(`python -m snakemake_logger_plugin_dynaclr.profile <profile> <copy>`, "
    "then `snakemake --profile <copy> -n`)"
)


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


def _first_line(text: Any) -> str:
    """The first non-blank line of ``text``, trimmed (``""`` for none)."""
    return next((line.strip() for line in str(text or "").splitlines() if line.strip()), "")


def _reason(text: Any) -> str:
    """The line of an executor's message that says why: its first, unless a later one holds ``error:``
    (sbatch's ``sbatch: warning: ...`` lines may come before its error), which is then told as the
    first line's cause (``SLURM sbatch failed: sbatch: error: ...``, without the quote that closed the
    sbatch message); without the executors' suffix, and without the sbatch call and script the SLURM
    plugin appends (an ``error:`` there is no reason)."""
    message = str(text or "").replace(EXECUTOR_SUFFIX, "\n").split("sbatch call:")[0]
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    error = next((line for line in lines[1:] if "error:" in line and "error:" not in lines[0]), None)
    if error is None:
        return lines[0]
    head = lines[0].split(" The error message was")[0].rstrip(".")
    return f"{head}: {error.rstrip('.').rstrip(chr(39))}"


def format_failed(rule: str, wildcards: str, logs: Any, reason: Any = None) -> str:
    """The one line of a failed job: what failed, why where the executor says (the line of its
    message naming an ``error:``, else its first: SLURM's "sbatch failed", a job's TIMEOUT) and which
    log to read."""
    label = f"{rule}  {wildcards}" if wildcards else rule
    why = _reason(reason).rstrip(".")
    files = ", ".join(str(path) for path in (logs or []))
    return f"FAILED {label}" + (f": {why}" if why else "") + (f": read {files}" if files else "")


def _says_nothing(record: LogRecord) -> bool:
    """A message with nothing to read: empty, ``None`` (Snakemake's DAG debug messages of a job
    without one) or the shell command of a ``run:`` rule (``Shell command: None``)."""
    if not record.msg or record.getMessage().strip() == "None":
        return True
    return getattr(record, "event", None) == LogEvent.SHELLCMD and not getattr(record, "shellcmd", None)


def _quiet_about_rules(quiet: Any) -> bool:
    """Whether ``--quiet`` holds ``rules`` or ``all`` (Snakemake's ``Quietness``, by name: this
    module imports no Snakemake)."""
    names = {str(getattr(item, "name", item)).lower() for item in (quiet or ())}
    return bool(names & {"rules", "all"})


def format_planned(rule: str, wildcards: str, reason: Any) -> str:
    """The one line of a job a dry run plans: rule, wildcards and why it runs."""
    return "  ".join(part for part in (rule, wildcards, _first_line(reason)) if part)


class LogHandler(LogHandlerBase):
    """One console line per finished or failed job; warnings and errors as they come."""

    def __post_init__(self) -> None:
        self.stream: TextIO = sys.stderr
        self._jobs: dict[int, tuple[str, str, float]] = {}
        self._finished: list[int] = []
        self._planned = 0  # jobs a dry run planned
        self._unlisted = 0  # of those, not listed (over PLANNED_SHOWN) and not yet counted on the console

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
        if self.common_settings.dryrun:
            self._emit_plan(record, event)
        elif event == LogEvent.JOB_INFO:
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
            reason = getattr(record, "rule_msg", None)
            self._write(format_failed(rule, wildcards, getattr(record, "log", None), reason))
        elif event == LogEvent.GROUP_ERROR:  # its jobs' own lines follow
            group = f"group {getattr(record, 'groupid', '?')}"
            logs = getattr(record, "aux_logs", None)
            self._write(format_failed(group, "", logs, None if logs else NO_GROUP_LOG))
        elif not _says_nothing(record) and (
            self.common_settings.verbose or record.levelno >= WARNING or str(record.msg).startswith(PASSED_ON)
        ):
            self._write(record.getMessage())

    def _emit_plan(self, record: LogRecord, event: Any) -> None:
        """A dry run: one line per planned job (the first :data:`PLANNED_SHOWN`, then how many more
        before the next message shown), then its plan."""
        if event == LogEvent.JOB_INFO:
            if _quiet_about_rules(getattr(self.common_settings, "quiet", None)):
                return
            self._planned += 1
            if self._planned <= PLANNED_SHOWN:
                rule = str(getattr(record, "rule_name", "?"))
                wildcards = _wildcards(getattr(record, "wildcards", None))
                self._write(format_planned(rule, wildcards, getattr(record, "reason", None)))
            else:
                self._unlisted += 1
            return
        shown = event in (None, LogEvent.RUN_INFO) or record.levelno >= WARNING
        if _says_nothing(record) or not (shown or self.common_settings.verbose):
            return
        # the plan's end (its job table, its last line; not a warning or a --verbose debug message)
        if self._unlisted and shown and INFO <= record.levelno < WARNING:
            self._write(f"... {self._unlisted} more planned jobs; {EVERY_PLANNED_JOB}")
            self._unlisted = 0
        self._write(record.getMessage())
