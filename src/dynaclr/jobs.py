"""What every workflow job needs before it calls its stage: logging to the rule's log file,
thread limits. Called by the shims in ``workflow/scripts``; the library itself never adds
logging handlers.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def job_context(log_path: str | Path | None, threads: int = 1) -> Iterator[logging.Logger]:
    """Route ``logging`` (and uncaught exceptions) to ``log_path`` and cap torch/BLAS threads."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("iohub").setLevel(logging.ERROR)  # harmless first-position warnings
    saved_environment = _limit_threads(max(int(threads), 1))
    logger = logging.getLogger("dynaclr.job")
    try:
        yield logger
    except BaseException:
        logger.exception("job failed")
        raise
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        for variable, value in saved_environment.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


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
