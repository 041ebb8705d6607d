"""dynaclr: time-aware contrastive learning of single-cell dynamics from live-cell imaging.

One package per workflow stage (``simulate``, ...), all writing artifacts through
:mod:`dynaclr.io`, which records provenance and checks it on read.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dynaclr")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
