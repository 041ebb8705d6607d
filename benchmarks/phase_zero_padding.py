"""Measurement: zero padding of a stitched, offset-subtracted brightfield plate (offset 0).

A stitched plate pads the gaps between its tiles with 0. Under a positive
``phase.camera_offset_counts`` every voxel at 0 is padding; under an offset of 0 (the offset was
subtracted at export and the counts clipped at 0) a dark voxel's read noise is 0 as well, so phase
takes for padding only the ``(y, x)`` positions at 0 in every z slice
(:func:`dynaclr.phase.reconstruct.padding_mask`). This script simulates a plate, turns its
brightfield into offset-subtracted low-light counts (mean ``level`` counts above the dark level,
shot noise and a read noise of 2 counts, the offset subtracted, clipped at 0, uint16) and prints

* false positives: positions taken for padding in stacks without padding, by light level, over
  ``--repeats`` noise draws, and in a vignetted border at the dark level (no light);
* with padding bands and a corner as stitching leaves them: the correlation inside the tiles of the
  phase with the phase of the same stack without padding, reconstructed as the workflow does
  (padding filled) and with the padding left in the stack (what phase did before);
* with a vignetted border and no padding: the correlation in the lit field with the phase of the
  border written as NaN, the border's chance zeros (0 in every slice) filled or left.

Usage::

    python benchmarks/phase_zero_padding.py --repeats 100
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from iohub.ngff import open_ome_zarr

from dynaclr.config.phase import PhaseConfig
from dynaclr.config.simulate import SimulateConfig
from dynaclr.phase import calculate_transfer_function, reconstruct_stack
from dynaclr.phase.reconstruct import (
    invert_brightfield,
    normalise_brightfield,
    padding_mask,
)
from dynaclr.simulate import SimulateOutputs, simulate_plate

READ_NOISE_COUNTS = 2.0
OFFSET = 100.0


def simulated_brightfield(root: Path, shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """Frame 0 of the simulator's brightfield ``(Z, Y, X)`` counts (offset 100 included), float32."""
    config = SimulateConfig.model_validate(
        {
            "seed": 5,
            "wells": [{"row": "A", "column": "1", "condition": "mock", "infected_fraction": 0.0}],
            "fovs_per_well": 1,
            "n_frames": 2,
            "shape_zyx": list(shape_zyx),
            "cells": {"initial_cells_per_fov": 12},
        }
    )
    outputs = SimulateOutputs(
        plate=root / "raw.zarr",
        tracks=root / "tracks.parquet",
        labels=root / "labels.zarr",
        phase=root / "phase.zarr",
    )
    simulate_plate(config, outputs)
    with open_ome_zarr(outputs.plate, layout="hcs", mode="r") as plate:
        return np.asarray(plate["A/1/0"]["0"][0, 0], dtype=np.float32)


def offset_subtracted(
    brightfield: np.ndarray, level: float, rng: np.random.Generator, lit: np.ndarray | None = None
) -> np.ndarray:
    """Low-light counts with the offset subtracted at export and clipped at 0 (uint16): the
    simulator's relative brightfield at mean ``level`` counts (0 where ``lit`` is False), shot noise,
    read noise :data:`READ_NOISE_COUNTS`."""
    signal = brightfield - OFFSET
    expected = signal * (level / signal.mean())
    if lit is not None:
        expected = expected * lit
    counts = rng.poisson(expected) + OFFSET + rng.normal(0.0, READ_NOISE_COUNTS, size=expected.shape)
    return np.clip(np.rint(counts - OFFSET), 0, None).astype(np.uint16)


def correlation(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.corrcoef(a[where], b[where])[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100, help="noise draws per light level")
    parser.add_argument("--shape", type=int, nargs=3, default=(5, 128, 128), help="Z Y X")
    args = parser.parse_args()
    shape = tuple(args.shape)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        brightfield = simulated_brightfield(Path(tmp), shape)
    n_z, n_y, n_x = shape
    print(f"simulated brightfield {shape}, offset {OFFSET:g} subtracted, read noise {READ_NOISE_COUNTS:g}")

    print("\n(a) positions taken for padding without padding (offset 0)")
    for level in (3.0, 5.0, 10.0, 20.0, 50.0):
        flagged = sum(
            int(padding_mask(offset_subtracted(brightfield, level, rng), 0.0)[0].sum())
            for _ in range(args.repeats)
        )
        zeros = float((offset_subtracted(brightfield, level, rng) == 0).mean())
        print(
            f"  mean {level:4g} counts: {flagged} of {args.repeats * n_y * n_x} positions "
            f"({100.0 * zeros:.3g}% of the voxels at 0)"
        )
    yy, xx = np.mgrid[:n_y, :n_x]
    lit = np.hypot(yy - (n_y - 1) / 2, xx - (n_x - 1) / 2) <= 0.6 * n_y
    border_flagged = sum(
        int(padding_mask(offset_subtracted(brightfield, 20.0, rng, lit), 0.0)[0][lit].sum())
        for _ in range(args.repeats)
    )
    dark_flagged = sum(
        int(padding_mask(offset_subtracted(brightfield, 20.0, rng, lit), 0.0)[0][~lit].sum())
        for _ in range(args.repeats)
    )
    print(
        f"  mean 20 counts, vignetted border ({100.0 * (~lit).mean():.1f}% of the field, no light): "
        f"lit {border_flagged} of {args.repeats * int(lit.sum())}, "
        f"border {dark_flagged} of {args.repeats * int((~lit).sum())} (0 in all {n_z} slices by chance)"
    )

    config = PhaseConfig(camera_offset_counts=0.0)
    transfer_function = calculate_transfer_function(shape, 0.65, 2.5, config)

    def unfilled(counts: np.ndarray) -> np.ndarray:
        """The phase with the padding left in the stack (before)."""
        return invert_brightfield(normalise_brightfield(counts, config), transfer_function, config)

    print("\n(b) correlation inside the tiles with the phase without padding (offset 0)")
    stitched = np.zeros((n_y, n_x), dtype=bool)
    stitched[:, n_x // 2 - 3 : n_x // 2 + 3] = True  # a 6-column gap between two tiles
    stitched[:4] = True  # a 4-row band at the top
    stitched[-20:, -20:] = True  # a missing corner
    print(f"  padding: {100.0 * stitched.mean():.1f}% of the field")
    for level in (20.0, 200.0, 3000.0):
        counts = offset_subtracted(brightfield, level, rng)
        reference = reconstruct_stack(counts, transfer_function, config)
        padded = counts.copy()
        padded[:, stitched] = 0
        inside = np.broadcast_to(~stitched, padded.shape)
        after = reconstruct_stack(padded, transfer_function, config)
        before = unfilled(padded)
        print(
            f"  mean {level:5g} counts: filled {correlation(after, reference, inside):.3f}, "
            f"left in {correlation(before, reference, inside):.3f} "
            f"(phase std inside: reference {reference[inside].std():.3g}, left in {before[inside].std():.3g})"
        )
    inside = np.broadcast_to(lit, shape)
    for level in (20.0, 200.0):
        counts = offset_subtracted(brightfield, level, rng, lit)
        border_as_nan = counts.astype(np.float32)
        border_as_nan[:, ~lit] = np.nan  # the border marked as no data: filled with the median
        reference = reconstruct_stack(border_as_nan, transfer_function, config)
        after = reconstruct_stack(counts, transfer_function, config)
        before = unfilled(counts)
        filled, left = correlation(after, reference, inside), correlation(before, reference, inside)
        print(
            f"  vignetted border, mean {level:g} counts, no padding: correlation in the lit field with the "
            f"phase of the border written as NaN: chance zeros filled {filled:.3f}, left {left:.3f}"
        )


if __name__ == "__main__":
    main()
