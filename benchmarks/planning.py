"""How planning (`snakemake -n`) grows with the plate: seconds, jobs and peak memory per FOV count.

For each N it writes an HCS OME-Zarr plate of N positions (metadata and tiny arrays: 2 frames, 2
channels, 1 x 32 x 32 px, as iohub writes them; the pixels are never read when planning), a config
with one `plate:` dataset (no phase, tracking on its Nuclei channel, one patch spec, one contrastive
model), runs `snakemake -n` on it under `/usr/bin/time` and prints N, planned jobs, wall seconds, CPU
seconds (user + system: what the run costs whatever else the machine is doing) and peak resident
memory, then the exponent of CPU seconds against N (1: linear, 2: quadratic).

It also times Snakemake's start-up alone (`import snakemake.cli`, which loads every installed
executor plugin): on a machine with SLURM's client installed but no controller answering, the SLURM
plugin's `scontrol show config` waits for its 10 s timeout there, in every `snakemake` call, before
the Snakefile is read. That wait is the cluster's, not the workflow's; it is printed apart.

With ``--profile`` it plans each plate a second time with that Snakemake profile (e.g. profiles/slurm,
whose per-FOV rules are grouped) and prints how many cluster jobs the run would submit: one per group
job, plus one per job outside any group (the target rule ``all``, which runs nothing, left out).

Usage::

    python benchmarks/planning.py --workdir /tmp/planning --fovs 100 1000 10000 --profile profiles/slurm
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from iohub.ngff import open_ome_zarr

from dynaclr.io.plate import OME_ZARR_VERSION, scale_transform
from snakemake_logger_plugin_dynaclr.profile import copy_without_logger

REPO = Path(__file__).resolve().parents[1]


def write_plate(path: Path, n_fovs: int) -> None:
    """A plate of ``n_fovs`` positions, 96 per well (rows A-H x columns 1-12 as needed)."""
    if path.exists():
        return
    partial = path.with_name(path.name + ".partial")
    with open_ome_zarr(
        partial, layout="hcs", mode="w", channel_names=["Phase3D", "Nuclei"], version=OME_ZARR_VERSION
    ) as plate:
        for index in range(n_fovs):
            well, fov = divmod(index, 96)
            row, column = (
                "ABCDEFGH"[well // 12 % 8] + ("" if well < 96 else str(well // 96)),
                str(well % 12 + 1),
            )
            position = plate.create_position(row, column, str(fov))
            position.create_zeros(
                "0", shape=(2, 2, 1, 32, 32), dtype=np.uint16, transform=scale_transform(600.0, 2.0, 0.65)
            )
    partial.rename(path)


def config(plate: Path) -> dict:
    return {
        "datasets": {
            "big": {
                "plate": str(plate),
                "phase": None,
                "tracking_input": {"source": "raw", "channel": "Nuclei"},
                "patches": [
                    {
                        "name": "phase",
                        "channels": [{"source": "raw", "channel": "Phase3D", "normalization": "zscore"}],
                        "z_window_slices": 1,
                        "patch_size_yx_px": 16,
                    }
                ],
            }
        },
        "contrastive_models": {
            "time_aware": {
                "train_datasets": ["big"],
                "training": {
                    "patch_spec": "phase",
                    "sampling": "time_aware",
                    "tau_frames": 1,
                    "backbone": "resnet18",
                },
            }
        },
    }


def startup_seconds() -> float:
    """Wall seconds of importing Snakemake's command line (its plugins included), in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import snakemake.cli"], check=True, capture_output=True)
    return time.perf_counter() - start


#: A job's header in Snakemake's dry-run log: a group job, or a job outside any group (group members
#: are indented under their group's header).
GROUP_JOB = re.compile(r"^\[[^]]+\] Group job ", re.M)
UNGROUPED_JOB = re.compile(r"^(?:local)?rule (\w+):", re.M)


def submissions(log: str) -> tuple[int, int]:
    """(group jobs, jobs outside any group) of a dry-run log; the rule ``all`` runs nothing."""
    ungrouped = [rule for rule in UNGROUPED_JOB.findall(log) if rule != "all"]
    groups = len(GROUP_JOB.findall(log))
    if not groups + len(ungrouped) and re.search(r"^total\s+[1-9]", log, re.M):
        raise RuntimeError(f"the dry run planned jobs but printed none of their blocks:\n{log[-2000:]}")
    return groups, len(ungrouped)


def plan(workdir: Path, *options: str) -> tuple[int, float, float, float, str]:
    """(jobs, wall seconds, CPU seconds, peak MB, log) of `snakemake -n [options]` in ``workdir``."""
    start = time.perf_counter()
    result = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%U %S %M",
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--snakefile",
            str(REPO / "Snakefile"),
            *options,
        ],
        cwd=workdir,
        # this tree's library first, as an absolute path: a relative PYTHONPATH (``src``) given to this
        # script would not resolve in ``workdir``, and the plan would import another tree's package
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"snakemake -n failed in {workdir}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    user, system, peak_kb = (float(value) for value in result.stderr.strip().splitlines()[-1].split())
    log = result.stdout + result.stderr
    total = re.search(r"^total\s+(\d+)", log, re.M)
    return int(total.group(1)) if total else -1, seconds, user + system, peak_kb / 1024, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--fovs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--profile", type=Path, help="also plan with this profile and count submissions")
    parser.add_argument(
        "--quiet-jobs",
        action="store_true",
        help="also plan with `--quiet rules`: the job table only, without printing every job",
    )
    args = parser.parse_args()
    print(f"snakemake start-up (import snakemake.cli): {startup_seconds():.1f} s wall")
    rows = []
    for n in args.fovs:
        workdir = args.workdir / f"fovs{n}"
        (workdir / "config").mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        write_plate(workdir / "plate.zarr", n)
        built = time.perf_counter() - start
        (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config(workdir / "plate.zarr")))
        jobs, seconds, cpu_seconds, peak, _ = plan(workdir)
        rows.append((n, cpu_seconds))
        print(
            f"N={n:>6}  jobs={jobs:>6}  plan {seconds:7.1f} s  CPU {cpu_seconds:7.1f} s  "
            f"peak {peak:7.0f} MB  (plate built in {built:.0f} s)",
            flush=True,
        )
        if args.quiet_jobs:
            jobs, seconds, cpu_seconds, peak, _ = plan(workdir, "--quiet", "rules")
            print(
                f"N={n:>6}  --quiet rules: jobs={jobs:>6}  plan {seconds:7.1f} s  CPU {cpu_seconds:7.1f} s  "
                f"peak {peak:7.0f} MB",
                flush=True,
            )
        if args.profile is not None:
            # the quiet console (profiles/slurm's `logger`) prints no job blocks, which submissions() counts
            profile = copy_without_logger(args.profile.resolve(), workdir / "profile")
            _, seconds, cpu_seconds, peak, log = plan(workdir, "--profile", str(profile))
            groups, ungrouped = submissions(log)
            print(
                f"N={n:>6}  with {args.profile}: {groups + ungrouped} submissions ({groups} group jobs + "
                f"{ungrouped} other jobs)  plan {seconds:7.1f} s  CPU {cpu_seconds:7.1f} s  "
                f"peak {peak:7.0f} MB",
                flush=True,
            )
    if len(rows) > 1:
        (n0, c0), (n1, c1) = rows[0], rows[-1]
        print(f"exponent of CPU seconds vs N ({n0} -> {n1}): {math.log(c1 / c0) / math.log(n1 / n0):.2f}")


if __name__ == "__main__":
    main()
