"""Lazy package exports: a package re-exports names of its submodules without importing them.

``from dynaclr.embeddings import read_embeddings`` then imports :mod:`dynaclr.embeddings.store`
only, not the torch-based inference module beside it, so a workflow job pays only for the
modules it uses. A package lists its exports as ``{name: submodule}`` and binds::

    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

(PEP 562); it keeps ``__all__`` and, for type checkers, the same imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        exports: exported name → submodule (relative to ``package``) that defines it.

    Returns:
        ``(__getattr__, __dir__)``: the first imports the submodule of a name on first access and
        caches the value in the package's namespace; the second lists the namespace and exports.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
