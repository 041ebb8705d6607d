"""Benchmark: what a per-FOV job of a plate reads to find its own position.

Writes an HCS plate of N FOVs (OME-Zarr 0.5, one 1 x 1 x 1 x 4 x 4 array each: metadata is what is
timed) and times, in this process, the two ways a per-FOV job (``predict_virtual_stain``,
``reconstruct_phase``) found the position it reads:

- ``listing`` (before): open the plate with iohub and list every position (``plate.positions()``)
  to check that the FOV is one of them, then look it up: every position's metadata, in every job
  (twice per ``predict_virtual_stain`` job: the phase plate and the prediction plate);
- ``direct`` (now, :func:`dynaclr.io.plate.open_plate_position`): open the position alone (iohub's
  ``fov`` layout): its own metadata, neither the plate's nor another position's.

The job's FOV is the plate's last. Median of ``--repeats`` runs each; both ways are checked to give
the same array shape.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/plate_job_position.py --fovs 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from iohub.ngff import open_ome_zarr

from dynaclr.io.plate import OME_ZARR_VERSION, open_plate_position, split_fov_name


def write_plate(path: Path, n_fovs: int) -> list[str]:
    """A plate of ``n_fovs`` positions (100 per well); returns their names in plate order."""
    names = [f"{chr(65 + i // 1200)}/{i // 100 % 12 + 1}/{i % 100}" for i in range(n_fovs)]
    with open_ome_zarr(
        path, layout="hcs", mode="w", channel_names=["Phase3D"], version=OME_ZARR_VERSION
    ) as plate:
        for name in names:
            plate.create_position(*split_fov_name(name)).create_zeros("0", (1, 1, 1, 4, 4), np.float32)
    return names


def timed(step: Callable[[], tuple[int, ...]], repeats: int) -> tuple[float, tuple[int, ...]]:
    seconds: list[float] = []
    shape: tuple[int, ...] = ()
    for _ in range(repeats):
        start = time.perf_counter()
        shape = step()
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[len(seconds) // 2], shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fovs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    plate = Path(tempfile.mkdtemp()) / "plate.zarr"
    fov = write_plate(plate, args.fovs)[-1]

    def listing() -> tuple[int, ...]:
        with open_ome_zarr(plate, layout="hcs", mode="r") as opened:
            assert fov in [name for name, _ in opened.positions()]
            return tuple(opened[fov]["0"].shape)

    def direct() -> tuple[int, ...]:
        with open_plate_position(plate, fov) as position:
            return tuple(position["0"].shape)

    results = {name: timed(step, args.repeats) for name, step in (("listing", listing), ("direct", direct))}
    assert results["listing"][1] == results["direct"][1]
    for name, (seconds, _) in results.items():
        print(f"{args.fovs} FOVs, {name}: {seconds:.4f} s per lookup (median of {args.repeats})")


if __name__ == "__main__":
    main()
