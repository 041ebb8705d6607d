"""Training and embedding throughput of the contrastive encoder: samples/s, step time, FLOPs, MFU.

The model is the project's own :class:`~dynaclr.contrastive.ContrastiveEncoder` (z-fold stem, timm
backbone, projection head) built from :class:`~dynaclr.config.training.ContrastiveModelConfig`, on
random ``(C, Z, Y, X)`` patches (default ``2 x 15 x 160 x 160``, the paper's input). One training
step is what ``ContrastiveModule`` does per batch: anchors and positives through the encoder in one
pass (``2 x batch`` patches), NT-Xent on the projections, backward, AdamW. A *sample* is one
(anchor, positive) pair. Embedding is the encoder's forward pass alone, in eval mode without
gradients, one patch per cell.

Precision: bf16 autocast on a GPU, fp32 on the CPU. FLOPs of the forward pass are counted by
``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplications and convolutions; element-wise
operations are not counted: 4.58 GFLOP per 2 x 15 x 160 x 160 patch with convnext_tiny, 8.9 GFLOP for
the bare backbone at 3 x 224 x 224, its usual figure), and a training step is taken as 3 x the
forward (the backward as twice the forward, the usual MFU convention), so
MFU = 3 x forward FLOPs per step / step time / peak FLOP/s. The peak is the device's dense bf16 figure for
the GPUs in ``PEAK_BF16_TFLOPS``; give ``--peak-tflops`` for any other device (for the CPU:
cores x clock x fp32 FLOPs per cycle); without a peak MFU is not printed.

Usage::

    python benchmarks/gpu_training.py --batch 64                 # on a GPU
    python benchmarks/gpu_training.py --smoke                    # CPU, batch 2, 3 steps
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.encoder import ContrastiveEncoder
from dynaclr.contrastive.losses import NTXentLoss

#: Dense bf16 tensor-core peak (TFLOP/s, no sparsity) by a substring of ``torch.cuda.get_device_name``.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def device_peak_tflops(device: torch.device) -> float | None:
    """The bf16 peak of a known GPU, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], None], device: torch.device, warmup: int, steps: int) -> float:
    """Median seconds of ``step`` over ``steps`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    synchronize(device)
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[len(seconds) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backbone", default="convnext_tiny")
    parser.add_argument(
        "--stem-kernel-z", type=int, default=5, help="Z kernel of the stem; divides the depth"
    )
    parser.add_argument("--shape-czyx", type=int, nargs=4, default=[2, 15, 160, 160])
    parser.add_argument("--batch", type=int, default=64, help="samples (anchor-positive pairs) per step")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, help="the device's peak, for MFU (default: known GPUs)")
    parser.add_argument("--smoke", action="store_true", help="CPU, batch 2, 1 warm-up and 3 timed steps")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.steps, args.warmup = 2, 3, 1
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    precision = torch.bfloat16 if device.type == "cuda" else torch.float32
    channels, depth, height, width = args.shape_czyx
    config = ContrastiveModelConfig(
        patch_spec="benchmark", sampling="classical", backbone=args.backbone, stem_kernel_z=args.stem_kernel_z
    )
    encoder = ContrastiveEncoder(in_channels=channels, in_stack_depth=depth, **config.encoder_arguments())
    encoder = encoder.to(device)
    loss_fn = NTXentLoss(temperature=config.temperature, gather_distributed=False)
    optimizer = torch.optim.AdamW(
        encoder.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    generator = torch.Generator(device=device).manual_seed(0)
    # (2B, C, Z, Y, X): anchors then positives, as ContrastiveModule concatenates the views
    views = torch.randn(2 * args.batch, channels, depth, height, width, device=device, generator=generator)
    cells = views[: args.batch]  # (B, C, Z, Y, X) for embedding

    def train_step() -> None:
        with torch.autocast(device.type, dtype=precision, enabled=precision != torch.float32):
            _, projections = encoder(views)  # (2B, P)
            anchors, positives = projections.float().chunk(2)  # 2 x (B, P)
            loss = loss_fn(anchors, positives)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def embed_step() -> None:
        with torch.autocast(device.type, dtype=precision, enabled=precision != torch.float32):
            encoder(cells)

    encoder.train()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        encoder(views)
    flops_per_sample = (
        3 * counter.get_total_flops() / args.batch
    )  # (anchor + positive) x (forward + backward)
    step_seconds = timed(train_step, device, args.warmup, args.steps)
    encoder.eval()
    embed_seconds = timed(embed_step, device, args.warmup, args.steps)
    peak = args.peak_tflops if args.peak_tflops is not None else device_peak_tflops(device)
    achieved_tflops = flops_per_sample * args.batch / step_seconds / 1e12
    memory = (
        f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"
        if device.type == "cuda"
        else ""
    )
    print(
        f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'} "
        f"({torch.get_num_threads()} threads), {str(precision).removeprefix('torch.')}, {args.backbone}, "
        f"patches {channels}x{depth}x{height}x{width}, batch {args.batch} pairs{memory}"
    )
    print(f"training: step {step_seconds * 1e3:.1f} ms, {args.batch / step_seconds:.2f} samples/s")
    print(f"FLOPs per sample (2 views, forward + backward = 3 x forward): {flops_per_sample / 1e9:.1f} GFLOP")
    print(
        f"achieved {achieved_tflops:.3f} TFLOP/s"
        + (
            f", MFU {achieved_tflops / peak:.1%} of {peak:g} TFLOP/s"
            if peak
            else ", MFU n/a (no --peak-tflops)"
        )
    )
    print(
        f"embedding: {args.batch / embed_seconds:.1f} cells/s "
        f"({embed_seconds * 1e3:.1f} ms per {args.batch} cells)"
    )


if __name__ == "__main__":
    main()
