"""A copy of a Snakemake profile without its ``logger``: Snakemake's own console, a block per job.

Command-line flags cannot take a profile's ``logger`` away, so where the quiet console hides what is
needed (each job's input, output and reason in a dry run; a failed job's full block), run with a copy
of the profile made by::

    python -m snakemake_logger_plugin_dynaclr.profile profiles/slurm /tmp/slurm_every_job
    snakemake --profile /tmp/slurm_every_job -n

The copy holds the profile's files, its config without the ``logger`` key (and without comments).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CONFIG_FILES", "copy_without_logger", "without_logger"]

#: the files Snakemake reads a profile's settings from (the first one present)
CONFIG_FILES = ("config.v8+.yaml", "config.yaml")


def without_logger(values: dict[str, Any]) -> dict[str, Any]:
    """A profile's settings without its ``logger`` (Snakemake's own console)."""
    return {key: value for key, value in values.items() if key != "logger"}


def copy_without_logger(profile: Path, copy: Path) -> Path:
    """Copy the profile directory ``profile`` into ``copy`` (over any files there) without ``logger``;
    a ``copy`` that is the profile or lies inside it is refused."""
    configs = [profile / name for name in CONFIG_FILES if (profile / name).is_file()]
    if not configs:
        expected = " or ".join(CONFIG_FILES)
        raise FileNotFoundError(f"{profile}: not a Snakemake profile: expected {expected}, found neither")
    if copy.resolve() == profile.resolve() or copy.resolve().is_relative_to(profile.resolve()):
        raise ValueError(
            f"{copy}: the copy must lie outside the profile {profile}, found it is "
            + ("the profile itself" if copy.resolve() == profile.resolve() else "inside it")
            + " (it would overwrite or copy into the profile): name another directory"
        )
    shutil.copytree(profile, copy, dirs_exist_ok=True)
    for config in configs:
        values = yaml.safe_load(config.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{config}: expected a mapping of settings, found {type(values).__name__}")
        (copy / config.name).write_text(yaml.safe_dump(without_logger(values), sort_keys=False))
    return copy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path, help="the profile directory, e.g. profiles/slurm")
    parser.add_argument("copy", type=Path, help="the copy's directory")
    args = parser.parse_args(argv)
    try:
        print(copy_without_logger(args.profile, args.copy))
    except (OSError, ValueError) as error:  # one line naming the file, not a traceback
        parser.error(str(error))


if __name__ == "__main__":
    main()
