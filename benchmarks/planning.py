"""How planning (`snakemake -n`) grows with the plate: seconds, jobs and peak memory per FOV count.

For each N it writes an HCS OME-Zarr plate of N positions (metadata and tiny arrays: 2 frames, 2
channels, 1 x 32 x 32 px, as iohub writes them; the pixels are never read when planning), a config
with one `plate:` dataset (no phase, tracking on its Nuclei channel, one patch spec, one contrastive
model), runs `snakemake -n` on it under `/usr/bin/time` and prints N, planned jobs, wall seconds and
peak resident memory, then the exponent of seconds against N (1: linear, 2: quadratic).

Usage::

    python benchmarks/planning.py --workdir /tmp/planning --fovs 100 1000 10000
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from iohub.ngff import open_ome_zarr

from dynaclr.io.plate import OME_ZARR_VERSION, scale_transform

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
                "training": {"patch_spec": "phase", "sampling": "time_aware", "tau_frames": 1},
            }
        },
    }


def plan(workdir: Path) -> tuple[int, float, float]:
    """(jobs, seconds, peak MB) of `snakemake -n` in ``workdir``."""
    start = time.perf_counter()
    result = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--snakefile",
            str(REPO / "Snakefile"),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"snakemake -n failed in {workdir}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    peak_kb = float(result.stderr.strip().splitlines()[-1])
    total = re.search(r"^total\s+(\d+)", result.stdout + result.stderr, re.M)
    return int(total.group(1)) if total else -1, seconds, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--fovs", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    rows = []
    for n in args.fovs:
        workdir = args.workdir / f"fovs{n}"
        (workdir / "config").mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        write_plate(workdir / "plate.zarr", n)
        built = time.perf_counter() - start
        (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config(workdir / "plate.zarr")))
        jobs, seconds, peak = plan(workdir)
        rows.append((n, jobs, seconds, peak))
        print(
            f"N={n:>6}  jobs={jobs:>6}  plan {seconds:7.1f} s  peak {peak:7.0f} MB  "
            f"(plate built in {built:.0f} s)"
        )
    if len(rows) > 1:
        (n0, _, s0, _), (n1, _, s1, _) = rows[0], rows[-1]
        print(f"exponent of seconds vs N ({n0} -> {n1}): {math.log(s1 / s0) / math.log(n1 / n0):.2f}")


if __name__ == "__main__":
    main()
