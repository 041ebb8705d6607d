"""Benchmark: ``extract_fov_patches`` with and without resampling (a patch spec's ``pixel_size_um``).

Renders the simulator's cells of one FOV (noise-free nuclei and sensor densities, ``--slices``
slices) at 0.325 µm pixels (``2 x --size`` px), writes them as a plate, and extracts the same
cells' patches of ``--patch-size`` px (the demo's 48: a stored 88 px patch) with

* ``plate pixels``: the spec without ``pixel_size_um`` (an 88 px window of 0.325 µm pixels);
* ``resampled to 0.65 µm``: ``pixel_size_um: 0.65`` (a 176 px window resampled to 88 px);

taking turns round by round (``--rounds``) so that changes in machine load hit both, and prints the
best round's seconds and milliseconds per patch of each and their ratio.

Usage::

    python benchmarks/patch_resampling.py --workdir /tmp/patch_resampling
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr

from dynaclr.config.patches import PatchSpec
from dynaclr.config.simulate import SimulateConfig
from dynaclr.io import make_provenance
from dynaclr.io.plate import PlateGeometry, create_empty_plate
from dynaclr.patches import ExtractPatchesInputs, ExtractPatchesOutputs, extract_fov_patches
from dynaclr.simulate.plate import simulate_fov_dynamics
from dynaclr.simulate.render import render_frame


def rendered_plate(
    root: Path, config: SimulateConfig, cells: pd.DataFrame, factor: float
) -> tuple[Path, Path]:
    """A 1-FOV plate of the noise-free nuclei and sensor densities the simulator renders for
    ``cells`` (its dynamics table) at ``config``'s pixel size and shape, their positions scaled by
    ``factor`` to its pixels, and the tracks table in those pixels (also used by
    ``tests/unit/test_patch_resampling.py``: the same cells rendered at two pixel sizes)."""
    scaled = cells.assign(y=cells["y"] * factor, x=cells["x"] * factor)
    frames = []
    for t in range(config.n_frames):
        volumes = render_frame(scaled[scaled["t"] == t], config)
        frames.append(np.stack([volumes.nuclei, volumes.sensor]))
    data = np.stack(frames).astype(np.float32)
    plate = root / f"plate_{config.pixel_size_um:g}.zarr"
    create_empty_plate(
        plate,
        ["A/1/0"],
        ["Nuclei", "ViralSensor"],
        data.shape,
        np.float32,
        PlateGeometry(time_interval_s=1800.0, z_step_um=config.z_step_um, pixel_size_um=config.pixel_size_um),
        make_provenance("raw_plate", {"rendered": config.pixel_size_um}),
    )
    with open_ome_zarr(plate, layout="hcs", mode="r+") as opened:
        opened["A/1/0"]["0"][:] = data
    tracks = root / f"tracks_{config.pixel_size_um:g}.parquet"
    scaled[["track_id", "parent_track_id", "t", "y", "x"]].assign(fov_name="A/1/0").to_parquet(tracks)
    return plate, tracks


def _fine_plate(workdir: Path, frames: int, slices: int, size: int, seed: int) -> tuple[Path, Path, int]:
    """The plate of 0.325 µm pixels and its tracks (pixels); returns them and the number of cells."""
    coarse = SimulateConfig.model_validate(
        {"n_frames": frames, "shape_zyx": [slices, size, size], "fovs_per_well": 1, "seed": seed}
    )
    fine = coarse.model_copy(update={"pixel_size_um": 0.325, "shape_zyx": (slices, 2 * size, 2 * size)})
    cells = simulate_fov_dynamics(coarse, 0)
    return (*rendered_plate(workdir, fine, cells, 2.0), len(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--slices", type=int, default=3)
    parser.add_argument("--size", type=int, default=192, help="Y and X of the 0.65 µm grid (px)")
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    plate, tracks, n_cells = _fine_plate(args.workdir, args.frames, args.slices, args.size, args.seed)
    base = {
        "name": "bench",
        "channels": [
            {"source": "raw", "channel": "Nuclei", "normalization": "zscore"},
            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
        ],
        "patch_size_yx_px": args.patch_size,
    }
    variants = {
        "plate pixels": PatchSpec.model_validate(base),
        "resampled to 0.65 µm": PatchSpec.model_validate(base | {"pixel_size_um": 0.65}),
    }
    best = dict.fromkeys(variants, float("inf"))
    for round_ in range(args.rounds):
        for name, spec in variants.items():
            stem = args.workdir / f"out_{round_}_{len(name)}"
            outputs = ExtractPatchesOutputs(
                zarr=stem.with_suffix(".zarr"),
                parquet=stem.with_suffix(".parquet"),
                record=stem.with_suffix(".json"),
            )
            started = time.perf_counter()
            extract_fov_patches(
                spec, ExtractPatchesInputs(plate_raw=plate, tracks=tracks), outputs, fov_name="A/1/0"
            )
            best[name] = min(best[name], time.perf_counter() - started)
    print(
        f"{n_cells} patches (C=2, Z={args.slices}, stored {variants['plate pixels'].initial_size_px} px) "
        f"from a {args.frames}-frame {2 * args.size} x {2 * args.size} plate of 0.325 µm pixels; best of "
        f"{args.rounds} rounds"
    )
    for name, seconds in best.items():
        print(f"{name}: {seconds:.2f} s ({1000 * seconds / n_cells:.2f} ms/patch)")
    print(f"ratio: {best['resampled to 0.65 µm'] / best['plate pixels']:.2f}")


if __name__ == "__main__":
    main()
