"""Write outputs under a temporary name and move them into place when complete."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_output(final_path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write into; rename it to ``final_path`` on success.

    Works for files and directories (zarr stores). If the body raises, the temporary output is
    removed and ``final_path`` is left untouched, so an interrupted job never leaves something
    that looks complete.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = final_path.with_name(f".{final_path.name}.tmp-{os.getpid()}")
    _remove(tmp_path)
    try:
        yield tmp_path
    except BaseException:
        _remove(tmp_path)
        raise
    if not tmp_path.exists():
        raise FileNotFoundError(f"atomic_output: nothing was written to {tmp_path} for {final_path}")
    _remove(final_path)
    os.replace(tmp_path, final_path)
