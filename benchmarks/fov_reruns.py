"""What a dry run plans after one FOV of a `plate:` dataset changes, counted per rule.

For each scenario it writes a plate of 4 FOVs (iohub, as benchmarks/planning.py: 2 frames, 2 channels,
1 x 32 x 32 px) with benchmarks/planning.py's config, stands in for a finished run (every output of
the tracking, patch and QC targets an empty file, then `snakemake --touch`, which records each job's
params and inputs as a run would), changes the plate and prints the jobs `snakemake -n` plans:

- ``add``: a position added (B/2/0, iohub's create_position);
- ``edit``: one FOV's pixels written into its existing array in place (no metadata file changes);
- ``rewrite``: one FOV written again (its pixels and its position's metadata);
- ``root``: the plate's root attributes rewritten.

Usage::

    python benchmarks/fov_reruns.py --workdir /tmp/fov_reruns [--scenarios add rewrite root]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from iohub.ngff import open_ome_zarr

from dynaclr.io.plate import OME_ZARR_VERSION, scale_transform

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests"), str(REPO / "tests" / "unit")]
import planning  # noqa: E402

FOVS = ["A/1/0", "A/1/1", "A/2/0", "B/1/0"]
TARGETS = [
    "results/big/tracks.parquet",
    "results/big/qc.csv",
    "results/big/patches/phase.zarr/zarr.json",
    "results/big/patches/phase.parquet",
] + [f"results/big/figures/qc/{name.replace('/', '_')}.{ext}" for name in FOVS for ext in ("png", "svg")]


def snakemake(workdir: Path, *args: str) -> str:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *args, *TARGETS]
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir, check=False)
    if result.returncode:
        raise RuntimeError(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def planned(workdir: Path) -> dict[str, int]:
    """Rules `snakemake -n` plans, with their job counts."""
    text = snakemake(workdir, "-n")
    match = re.search(r"Job stats:\n(.*?)\n\n", text + "\n\n", re.S)
    if "Nothing to be done" in text or match is None:
        return {}
    rows = (line.split() for line in match.group(1).splitlines())
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit() and row[0] != "total"}


def add_position(plate: Path, name: str) -> None:
    mode = "r+" if plate.exists() else "w"
    with open_ome_zarr(
        plate, layout="hcs", mode=mode, channel_names=["Phase3D", "Nuclei"], version=OME_ZARR_VERSION
    ) as hcs:
        position = hcs.create_position(*name.split("/"))
        position.create_zeros(
            "0", shape=(2, 2, 1, 32, 32), dtype=np.uint16, transform=scale_transform(600.0, 2.0, 0.65)
        )


def finished_run(workdir: Path) -> Path:
    """A plate of FOVS and a workdir where every output of TARGETS is up to date."""
    from test_stage_contract import planned_jobs

    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "config").mkdir(parents=True)
    plate = workdir / "plate.zarr"
    for name in FOVS:
        add_position(plate, name)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(planning.config(plate)))
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        outputs = [
            workdir / str(f)
            for job in planned_jobs(workdir / "config" / "config.yaml", workdir)
            for f in job.output
        ]
    finally:
        os.chdir(cwd)
    for path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":  # the embed job's memory reads its row count
            pq.write_table(pa.table({"x": [0]}), path)
        else:
            path.touch()
        os.utime(path, (1e9, 1e9))
    for _ in range(3):  # --touch marks the jobs it plans; those it did not see yet come next time
        snakemake(workdir, "--touch", "--cores", "1")
        if not planned(workdir):
            return plate
    raise RuntimeError(f"{workdir}: the stand-in run is not up to date: {planned(workdir)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--scenarios", nargs="+", default=["add", "edit", "rewrite", "root"])
    args = parser.parse_args()
    for scenario in args.scenarios:
        workdir = args.workdir / scenario
        plate = finished_run(workdir)
        if scenario == "add":
            add_position(plate, "B/2/0")
        elif scenario == "root":
            with open_ome_zarr(plate, layout="hcs", mode="r+") as hcs:
                hcs.zattrs["note"] = "the root rewritten"
        else:
            with open_ome_zarr(plate / "A/1/0", mode="r+") as position:
                position["0"][0, 0, 0] = 7
                if scenario == "rewrite":
                    position.zattrs["note"] = "written again"
        print(f"{scenario}: {planned(workdir)}", flush=True)


if __name__ == "__main__":
    main()
