"""Benchmark: phase reconstruction per FOV with one shared transfer function vs recomputing it per FOV.

The workflow computes the transfer function once per dataset (rule ``phase_transfer_function``)
and every per-FOV job loads it. The alternative is to compute it inside every per-FOV job (what
``waveorder.models.*.reconstruct`` does). Both procedures run in the same process on the same
FOVs: read each brightfield stack, reconstruct it, keep the result in memory. The script prints
the time to compute and to load the transfer function, the wall time per FOV for each
procedure, their ratio, and checks that both give identical phase.

Usage::

    python benchmarks/phase_transfer_function.py                      # simulates a demo-sized plate
    python benchmarks/phase_transfer_function.py --plate results/demo/raw.zarr --mode 2d
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from iohub.ngff import open_ome_zarr

from dynaclr.config.phase import PhaseConfig
from dynaclr.config.simulate import SimulateConfig
from dynaclr.io.plate import list_plate_fovs
from dynaclr.phase import (
    PhaseTransferFunctionInputs,
    PhaseTransferFunctionOutputs,
    TransferFunction,
    calculate_transfer_function,
    compute_transfer_function,
    load_transfer_function,
    reconstruct_stack,
)
from dynaclr.phase.transfer_function import effective_geometry


def reconstruct_frames(
    plate_path: Path, fov_name: str, transfer_function: TransferFunction, config: PhaseConfig
) -> np.ndarray:
    """Every time point of one FOV → phase ``(T, Z, Y, X)`` (``Z = 1`` in 2d mode)."""
    with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
        position = plate[fov_name]
        channel = position.get_channel_index(config.brightfield_channel)
        image = position["0"]
        return np.stack(
            [
                reconstruct_stack(np.asarray(image[t, channel]), transfer_function, config)
                for t in range(image.shape[0])
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--plate", type=Path, help="raw HCS plate; default: simulate a demo-sized one")
    parser.add_argument("--mode", choices=["3d", "2d"], default="3d")
    parser.add_argument("--frames", type=int, default=10, help="frames of the simulated plate")
    parser.add_argument("--fovs", type=int, default=4, help="FOVs to reconstruct (the first N)")
    args = parser.parse_args()
    config = PhaseConfig(mode=args.mode)

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        plate_path = args.plate
        if plate_path is None:
            from dynaclr.simulate import SimulateOutputs, simulate_plate

            plate_path = tmp / "raw.zarr"
            print(f"simulating a demo-sized plate ({args.frames} frames) in {tmp} ...")
            simulate_plate(
                SimulateConfig(n_frames=args.frames),
                SimulateOutputs(
                    plate=plate_path,
                    tracks=tmp / "tracks.parquet",
                    labels=tmp / "labels.zarr",
                    phase=tmp / "phase.zarr",
                ),
            )
        fov_names = list_plate_fovs(plate_path)[: args.fovs]
        geometry = effective_geometry(plate_path, config)

        start = time.perf_counter()
        compute_transfer_function(
            config,
            PhaseTransferFunctionInputs(plate=plate_path),
            PhaseTransferFunctionOutputs(transfer_function=tmp / "transfer_function.zarr"),
        )
        compute_s = time.perf_counter() - start

        shared_s, recomputed_s, load_s = [], [], []
        for fov_name in fov_names:
            start = time.perf_counter()
            shared, _ = load_transfer_function(tmp / "transfer_function.zarr")
            load_s.append(time.perf_counter() - start)
            shared_phase = reconstruct_frames(plate_path, fov_name, shared, config)
            shared_s.append(time.perf_counter() - start)

            start = time.perf_counter()
            own = calculate_transfer_function(
                shared.zyx_shape, geometry.pixel_size_um, geometry.z_step_um, config
            )
            recomputed_phase = reconstruct_frames(plate_path, fov_name, own, config)
            recomputed_s.append(time.perf_counter() - start)
            if not np.array_equal(shared_phase, recomputed_phase):
                raise AssertionError(f"{fov_name}: shared and recomputed transfer functions disagree")

    n_frames = shared_phase.shape[0]
    shared_total = compute_s / len(fov_names) + float(np.mean(shared_s))
    print(f"\nmachine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}")
    print(
        f"plate: {plate_path}, mode {args.mode}, ZYX {shared.zyx_shape}, "
        f"{len(fov_names)} FOVs x {n_frames} frames"
    )
    print(f"compute the transfer function once:        {compute_s:8.2f} s")
    print(f"load it (per FOV job):                      {np.mean(load_s):8.3f} s")
    print(f"per FOV, shared transfer function:          {np.mean(shared_s):8.2f} s")
    print(f"per FOV, shared + its share of computing:   {shared_total:8.2f} s")
    print(f"per FOV, transfer function recomputed:      {np.mean(recomputed_s):8.2f} s")
    print(f"ratio recomputed / shared (per FOV job):    {np.mean(recomputed_s) / np.mean(shared_s):8.2f} x")
    print(f"ratio recomputed / shared (amortised):      {np.mean(recomputed_s) / shared_total:8.2f} x")
    print("phase identical with both procedures:       yes")


if __name__ == "__main__":
    main()
