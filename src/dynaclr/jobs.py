"""What every workflow job needs before it calls its stage: logging to the rule's log file,
thread limits. Called by the shims in ``workflow/scripts``; the library itself never adds
logging handlers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
    try:
        import torch

        torch.set_num_threads(max(int(threads), 1))
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
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
