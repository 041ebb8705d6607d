"""Benchmark: tiled (MONAI sliding window, Gaussian blending) vs whole-image virtual staining.

Predicts every slice of one frame of one FOV of a phase plate, once per mode, each mode in its
own fresh process (spawned) so its peak memory can be read: the increase of the process's peak
resident set size (``ru_maxrss``) during prediction on the CPU, ``torch.cuda.max_memory_allocated``
on a GPU. The stack can be mirror-tiled to a larger ``--size-px`` to emulate a camera-sized image.
Reports seconds per stack, throughput in tiles per second (network inputs: the sliding-window
tiles, or one whole slab per slice without tiling) and in output megapixels (Z x Y x X) per
second, peak memory, and the max / mean absolute difference and the Pearson r of each tiled
prediction against the whole-image one (in normalised fluorescence units: the FOV's median is 0
and its 99th percentile 1).

Without ``--checkpoint`` the network has random weights (seed 0): timings and memory are the
same, differences are still those of the tiling, on an arbitrary output scale.

Usage::

    python benchmarks/virtual_stain_tiling.py --phase-plate results/demo/phase.zarr \\
        --checkpoint results/demo/virtual_stain/model.ckpt --fov A/1/1 --tiles 128 256 --size-px 512
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from iohub.ngff import open_ome_zarr

from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.numerics.device import resolve_device
from dynaclr.virtual_stain import build_network, load_network, predict_stack
from dynaclr.virtual_stain.plates import fov_normalization, plate_channel


def load_stack(args: argparse.Namespace) -> np.ndarray:
    """The normalised ``(Z, Y, X)`` phase stack of ``--fov`` at ``--frame``, mirror-tiled to ``--size-px``."""
    with open_ome_zarr(args.phase_plate, layout="hcs", mode="r") as plate:
        image, channel = plate_channel(plate, args.fov, args.channel, args.phase_plate)
        normalization = fov_normalization(image, channel, "zscore", 8, f"{args.phase_plate} {args.fov}")
        stack = normalization.apply(image[args.frame, channel])
    if args.size_px:
        _, n_y, n_x = stack.shape
        pad = ((0, 0), (0, max(0, args.size_px - n_y)), (0, max(0, args.size_px - n_x)))
        stack = np.ascontiguousarray(np.pad(stack, pad, mode="symmetric")[:, : args.size_px, : args.size_px])
    return stack


def run_mode(
    args: argparse.Namespace, tile_size: int | None, stack_path: str, output_path: str
) -> dict[str, Any]:
    """Predict the stack with one tile size in this (fresh) process; save the output, return figures."""
    torch.set_num_threads(args.threads)
    settings: dict[str, Any] = {
        "input_depth_slices": args.depth,
        "predict": {
            "tile_size_px": tile_size,
            "tile_overlap_fraction": args.overlap,
            "tiles_per_batch": args.tiles_per_batch,
            "slices_per_batch": args.slices_per_batch,
            "device": args.device,
        },
    }
    if args.checkpoint:
        settings["checkpoint"] = args.checkpoint
    config = VirtualStainConfig.model_validate(settings)
    if args.checkpoint:
        network, _ = load_network(args.checkpoint, config)
    else:
        torch.manual_seed(0)
        network = build_network(config).eval()
    device = resolve_device(config.predict.device)
    stack = np.load(stack_path)
    predict_stack(network, stack[:1], config.predict, device)  # warm-up (allocations, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tiles = [0]  # network inputs: tiles, or whole slabs without tiling
    hook = network.register_forward_hook(lambda module, inputs, output: tiles.append(len(inputs[0])))
    start = time.perf_counter()
    output = predict_stack(network, stack, config.predict, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    hook.remove()
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before_mb
    np.save(output_path, output)
    return {"seconds": seconds, "peak_mb": peak_mb, "device": str(device), "tiles": sum(tiles)}


def _child(
    args: argparse.Namespace, tile_size: int | None, stack_path: str, output_path: str, queue: Any
) -> None:
    queue.put(run_mode(args, tile_size, stack_path, output_path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--phase-plate", required=True, type=Path)
    parser.add_argument("--checkpoint", default=None, help="trained weights; random weights if omitted")
    parser.add_argument("--fov", default="A/1/1")
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--channel", default="Phase3D")
    parser.add_argument("--depth", type=int, default=5, help="input_depth_slices of the network")
    parser.add_argument("--tiles", type=int, nargs="+", default=[128], help="tile sizes (px) to compare")
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--tiles-per-batch", type=int, default=8)
    parser.add_argument("--slices-per-batch", type=int, default=16)
    parser.add_argument(
        "--size-px", type=int, default=0, help="mirror-tile the image to this size (0: as is)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        stack = load_stack(args)
        stack_path = str(Path(tmp) / "stack.npy")
        np.save(stack_path, stack)
        machine = platform.processor() or platform.machine()
        print(f"# {machine}, torch {torch.__version__}, {args.threads} threads")
        print(f"# {args.phase_plate} {args.fov} frame {args.frame}: stack (Z, Y, X) = {stack.shape}")
        results: dict[str, dict[str, Any]] = {}
        outputs: dict[str, np.ndarray] = {}
        for tile_size in [None, *args.tiles]:
            name = "whole image" if tile_size is None else f"tiles {tile_size} px"
            output_path = str(Path(tmp) / f"out_{tile_size}.npy")
            queue = context.Queue()
            process = context.Process(target=_child, args=(args, tile_size, stack_path, output_path, queue))
            process.start()
            results[name] = queue.get()
            process.join()
            outputs[name] = np.load(output_path)
        whole = outputs["whole image"]
        columns = ("s/stack", "tiles", "tiles/s", "Mpx/s", "peak MB", "max |diff|", "mean |diff|", "r")
        print(f"{'mode':<16} {'device':<7} " + " ".join(f"{c:>11}" for c in columns))
        for name, result in results.items():
            difference = np.abs(outputs[name] - whole)
            r = np.corrcoef(outputs[name].ravel(), whole.ravel())[0, 1]
            seconds = result["seconds"]
            rate = f"{result['tiles'] / seconds:>11.1f} {stack.size / 1e6 / seconds:>11.3f}"
            print(
                f"{name:<16} {result['device']:<7} {result['seconds']:>11.2f} {result['tiles']:>11d} {rate} "
                f"{result['peak_mb']:>11.0f} {difference.max():>11.4f} {difference.mean():>11.5f} {r:>11.5f}"
            )
        print(f"# output scale: whole-image prediction std {whole.std():.4f}, max {whole.max():.4f}")


if __name__ == "__main__":
    main()
