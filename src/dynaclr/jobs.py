"""What every workflow job needs before it calls its stage: logging to the rule's log file,
thread limits, a quiet console, and failures a person can act on. Called by the shims in
``workflow/scripts``; the library itself never adds logging handlers.

A failure caused by the input or the config (:func:`is_user_error`: an artifact that is missing,
corrupt or out of date, an invalid config, a ``ValueError`` or ``FileNotFoundError`` raised by
dynaclr itself) ends the job with one ERROR line on stderr that names the cause and the fix, the
full traceback in the job's log file only, and exit status 1. Any other exception is a bug: its
traceback goes to stderr too.

With a log file the console (the job's stderr: Snakemake's terminal, or SLURM's job output) gets
WARNING and above only, and whatever the job writes to ``sys.stderr`` itself (progress bars, Python
warnings) goes to the log file too, so a plate of thousands of jobs does not flood the console;
``DYNACLR_VERBOSE=1`` in the environment puts INFO back on the console.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from dynaclr.io.provenance import ArtifactError

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_PACKAGE_DIRECTORY = Path(__file__).resolve().parent

#: Exit status of a job stopped by a user error.
EXIT_USER_ERROR = 1


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` says what is wrong with the input or config (rather than being a bug).

    ``ArtifactError`` and pydantic ``ValidationError`` always are; a ``ValueError`` or
    ``FileNotFoundError`` is when dynaclr raised it (its last traceback frame is in the package):
    dynaclr's messages name the file or key and the fix, a library's deep inside numpy or zarr do not.
    """
    if isinstance(error, ArtifactError | ValidationError):
        return True
    if isinstance(error, ValueError | FileNotFoundError):
        frames = traceback.extract_tb(error.__traceback__)
        return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(_PACKAGE_DIRECTORY)
    return False


def one_line(error: BaseException) -> str:
    """The error's message on one line: a config error as ``key: problem`` items, other messages
    with their lines joined."""
    if isinstance(error, ValidationError):
        items = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"]) or "(top)"
            items.append(f"{key}: {item['msg']} (found {item['input']!r:.80})")
        return f"invalid config ({error.title}): " + "; ".join(items)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


def _expected_advice(record: logging.LogRecord) -> bool:
    """False for warnings that advise about a choice the config made on purpose (kept in the log
    file, off the console): ultrack's advice to install Gurobi when the CBC solver is chosen."""
    return not (record.name.startswith("ultrack") and "gurobi" in record.getMessage().lower())


@contextmanager
def job_context(log_path: str | Path | None, threads: int = 1) -> Iterator[logging.Logger]:
    """Route ``logging`` (and uncaught exceptions) to ``log_path`` and cap torch/BLAS threads."""
    redirect = _OutputToLog(Path(log_path)) if log_path else None
    console = logging.StreamHandler(redirect.console if redirect is not None else sys.stderr)
    handlers: list[logging.Handler] = [console]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="a"))
        if not os.environ.get("DYNACLR_VERBOSE"):
            console.setLevel(logging.WARNING)
            console.addFilter(_expected_advice)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    # the levels set here are put back on exit, as the handlers are removed: a caller running a job
    # in its own process (a test, a notebook) keeps its logging as it was
    saved_levels = {name: logging.getLogger(name).level for name in ("", "iohub", "ultrack")}
    root.setLevel(logging.INFO)
    logging.getLogger("iohub").setLevel(logging.ERROR)  # harmless first-position warnings
    # ultrack logs every segmentation node at INFO (thousands of multi-line records per FOV, on the
    # console of every tracking job); the tracking stage logs its own summary
    logging.getLogger("ultrack").setLevel(logging.WARNING)
    saved_environment = _limit_threads(max(int(threads), 1))
    logger = logging.getLogger("dynaclr.job")
    if redirect is not None:
        redirect.start()
    try:
        yield logger
    except Exception as error:
        if not is_user_error(error):
            logger.exception("job failed")
            raise
        where = f" (traceback in {log_path})" if log_path else ""
        logger.error("%s%s", one_line(error), where)
        if len(handlers) > 1:  # the traceback for whoever debugs it, in the log file only
            handlers[1].handle(
                logger.makeRecord(logger.name, logging.DEBUG, "", 0, "traceback", (), sys.exc_info())
            )
        raise SystemExit(EXIT_USER_ERROR) from None
    except BaseException:
        logger.exception("job failed")
        raise
    finally:
        if redirect is not None:
            redirect.stop()
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        for variable, value in saved_environment.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


class _OutputToLog:
    """Send everything the job writes to stdout and stderr to its log file, at the file-descriptor
    level when it can (so a C library's prints, e.g. the tracking solver's, go there too), else
    Python's ``sys.stdout``/``sys.stderr`` only; :attr:`console` is the job's original stderr."""

    def __init__(self, log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("")  # every writer below appends: none overwrites another
        self.log_path = log_path
        self.saved_streams = (sys.stdout, sys.stderr)
        try:
            self.fds: tuple[int, int] | None = (sys.stdout.fileno(), sys.stderr.fileno())
        except (AttributeError, OSError, ValueError):  # e.g. a test's captured streams
            self.fds = None
        if self.fds is not None:
            self.console: TextIO = os.fdopen(os.dup(self.fds[1]), "w", buffering=1)
        else:
            self.console = sys.stderr
        self.log_stream = open(log_path, "a", buffering=1)
        self.saved_fds: tuple[int, int] | None = None

    def start(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        if self.fds is not None:
            self.saved_fds = (os.dup(self.fds[0]), os.dup(self.fds[1]))
            for fd in self.fds:
                os.dup2(self.log_stream.fileno(), fd)
        else:
            sys.stdout = sys.stderr = self.log_stream

    def stop(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        if self.fds is not None and self.saved_fds is not None:
            for fd, saved in zip(self.fds, self.saved_fds, strict=True):
                os.dup2(saved, fd)
                os.close(saved)
        sys.stdout, sys.stderr = self.saved_streams
        self.log_stream.close()
        if self.console is not self.saved_streams[1]:
            self.console.close()


def _limit_threads(threads: int) -> dict[str, str | None]:
    """Cap torch's intra-op threads without importing torch (jobs without a network never do).

    torch reads ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` when it is first imported; one imported
    already is capped directly. Returns the variables' previous values, to restore.
    """
    saved = {variable: os.environ.get(variable) for variable in _THREAD_VARIABLES}
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    return saved
