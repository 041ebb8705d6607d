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

Variants (``--variants``), each timed on a fresh model in the same run so they compare side by side:

- ``eager``: the model as the training stage runs it (what ``bf16-mixed`` Lightning does);
- ``channels_last``: the 2-D backbone's weights and activations in NHWC, which cuDNN's tensor-core
  convolutions prefer;
- ``compile``: ``torch.compile`` of the encoder (compilation time is printed apart and not timed).

``--ddp`` also times the ``eager`` step under ``DistributedDataParallel`` with one process per GPU
(NCCL; on the CPU ``--ddp-world`` processes with Gloo) and NT-Xent gathering the projections of all
ranks, as ``train_contrastive`` does on several GPUs; ``--batch`` is then per rank and the
throughput is the sum over ranks. With one GPU this measures DDP's own overhead.

Usage::

    python benchmarks/gpu_training.py --batch 256 --variants eager channels_last compile --ddp  # GPU
    python benchmarks/gpu_training.py --smoke                                                   # CPU
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.flop_counter import FlopCounterMode

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.encoder import ContrastiveEncoder
from dynaclr.contrastive.losses import NTXentLoss

#: Dense bf16 tensor-core peak (TFLOP/s, no sparsity) by a substring of ``torch.cuda.get_device_name``.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}

VARIANTS = ("eager", "channels_last", "compile")


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


def build_encoder(
    args: argparse.Namespace, device: torch.device
) -> tuple[ContrastiveEncoder, ContrastiveModelConfig]:
    channels, depth, _, _ = args.shape_czyx
    config = ContrastiveModelConfig(
        patch_spec="benchmark", sampling="classical", backbone=args.backbone, stem_kernel_z=args.stem_kernel_z
    )
    torch.manual_seed(0)
    encoder = ContrastiveEncoder(in_channels=channels, in_stack_depth=depth, **config.encoder_arguments())
    return encoder.to(device), config


def make_views(args: argparse.Namespace, device: torch.device) -> torch.Tensor:
    """``(2B, C, Z, Y, X)`` random views: anchors then positives, as ContrastiveModule concatenates them."""
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.randn(2 * args.batch, *args.shape_czyx, device=device, generator=generator)


def forward_flops(encoder: torch.nn.Module, views: torch.Tensor) -> int:
    encoder.train()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        encoder(views)
    return counter.get_total_flops()


def measure(
    encoder: torch.nn.Module,
    config: ContrastiveModelConfig,
    views: torch.Tensor,
    device: torch.device,
    args: argparse.Namespace,
    *,
    distributed: bool = False,
    embed: bool = True,
) -> dict[str, float]:
    """Median training-step (and embedding-batch) seconds of ``encoder`` on ``views``."""
    precision = torch.bfloat16 if device.type == "cuda" else torch.float32
    loss_fn = NTXentLoss(temperature=config.temperature, gather_distributed=distributed)
    optimizer = torch.optim.AdamW(
        encoder.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    cells = views[: args.batch]  # (B, C, Z, Y, X) for embedding
    autocast = precision != torch.float32

    def train_step() -> None:
        with torch.autocast(device.type, dtype=precision, enabled=autocast):
            _, projections = encoder(views)  # (2B, P)
            anchors, positives = projections.float().chunk(2)  # 2 x (B, P)
            loss = loss_fn(anchors, positives)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def embed_step() -> None:
        with torch.autocast(device.type, dtype=precision, enabled=autocast):
            encoder(cells)

    encoder.train()
    result = {"step_s": timed(train_step, device, args.warmup, args.steps)}
    if embed:
        encoder.eval()
        result["embed_s"] = timed(embed_step, device, args.warmup, args.steps)
    return result


def apply_variant(variant: str, encoder: Any) -> Any:
    """``encoder`` as ``variant`` runs it (the same module for ``eager``)."""
    if variant == "channels_last":
        # the 2-D backbone only: the z-fold stem's Conv3d has 5-D weights; its folded output is
        # made NHWC by the first backbone convolution's weights
        encoder.backbone.to(memory_format=torch.channels_last)
    elif variant == "compile":
        encoder = torch.compile(encoder)
    return encoder


def run_variant(variant: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    encoder, config = build_encoder(args, device)
    views = make_views(args, device)
    flops = forward_flops(encoder, views)
    compile_s = None
    encoder = apply_variant(variant, encoder)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if variant == "compile":
        start = time.perf_counter()
        measure(encoder, config, views, device, argparse.Namespace(**{**vars(args), "warmup": 1, "steps": 1}))
        compile_s = time.perf_counter() - start
    result: dict[str, Any] = {"variant": variant, "world": 1, **measure(encoder, config, views, device, args)}
    result["flops_per_sample"] = 3 * flops / args.batch  # (anchor + positive) x (forward + backward)
    result["compile_s"] = compile_s
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def _ddp_rank(rank: int, world: int, args: argparse.Namespace, port: int, queue: Any) -> None:
    """One DDP rank: fresh encoder wrapped in DDP, NT-Xent gathering all ranks' projections."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    use_cuda = torch.cuda.is_available() and not args.smoke
    if use_cuda:
        torch.cuda.set_device(rank)
    device = torch.device("cuda", rank) if use_cuda else torch.device("cpu")
    dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    try:
        encoder, config = build_encoder(args, device)
        views = make_views(args, device)
        flops = forward_flops(encoder, views)
        wrapped = torch.nn.parallel.DistributedDataParallel(encoder, device_ids=[rank] if use_cuda else None)
        result = measure(wrapped, config, views, device, args, distributed=True, embed=False)  # type: ignore[arg-type]
        step = torch.tensor([result["step_s"]], device=device)
        dist.all_reduce(step, op=dist.ReduceOp.MAX)  # the slowest rank sets the pace
        if rank == 0:
            queue.put(
                {
                    "variant": f"ddp x{world}",
                    "world": world,
                    "step_s": float(step.item()),
                    "flops_per_sample": 3 * flops / args.batch,
                    "compile_s": None,
                    **(
                        {"peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30}
                        if use_cuda
                        else {}
                    ),
                }
            )
    finally:
        dist.destroy_process_group()


def run_ddp(args: argparse.Namespace) -> dict[str, Any]:
    world = torch.cuda.device_count() if torch.cuda.is_available() and not args.smoke else args.ddp_world
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    port = 29500 + os.getpid() % 1000
    mp.spawn(_ddp_rank, args=(world, args, port, queue), nprocs=world, join=True)
    return queue.get()


def profile_step(args: argparse.Namespace, device: torch.device) -> None:
    """Print the operators of three training steps of the first of ``--variants`` that take most
    device (or CPU) time (after two warm-up steps, which also compile a compiled variant)."""
    from torch.profiler import ProfilerActivity, profile

    encoder, config = build_encoder(args, device)
    encoder = apply_variant(args.variants[0], encoder)
    views = make_views(args, device)
    measure(encoder, config, views, device, argparse.Namespace(**{**vars(args), "warmup": 2, "steps": 1}))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    quiet = argparse.Namespace(**{**vars(args), "warmup": 0, "steps": 3})
    with profile(activities=activities) as profiler:
        measure(encoder, config, views, device, quiet, embed=False)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(profiler.key_averages().table(sort_by=sort, row_limit=args.profile, max_name_column_width=60))


def report(
    results: list[dict[str, Any]], args: argparse.Namespace, device: torch.device, peak: float | None
) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    precision = "bfloat16 autocast" if device.type == "cuda" else "float32"
    channels, depth, height, width = args.shape_czyx
    print(
        f"device {name} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}, {precision}, "
        f"{args.backbone}, patches {channels}x{depth}x{height}x{width}, batch {args.batch} pairs "
        f"(per rank for DDP), median of {args.steps} steps after {args.warmup} warm-up"
    )
    gflops = results[0]["flops_per_sample"] / 1e9
    print(f"FLOPs per sample (2 views, forward + backward = 3 x forward): {gflops:.1f} GFLOP")
    header = "| variant | step ms | samples/s | TFLOP/s | MFU | embed cells/s | peak GiB | compile s |"
    print(header)
    print("| " + " | ".join(["---"] * (header.count("|") - 1)) + " |")
    for row in results:
        samples = row["world"] * args.batch / row["step_s"]
        tflops = row["flops_per_sample"] * samples / 1e12
        row.update(samples_per_s=samples, tflops=tflops, mfu=tflops / peak if peak else None)
        if "embed_s" in row:
            row["embed_cells_per_s"] = args.batch / row["embed_s"]
        cells = f"{row['embed_cells_per_s']:.0f}" if "embed_cells_per_s" in row else "–"
        print(
            f"| {row['variant']} | {row['step_s'] * 1e3:.1f} | {samples:.1f} | {tflops:.3f} | "
            f"{f'{row["mfu"]:.1%}' if row['mfu'] is not None else 'n/a'} | {cells} | "
            f"{f'{row["peak_memory_gib"]:.1f}' if 'peak_memory_gib' in row else '–'} | "
            f"{f'{row["compile_s"]:.0f}' if row['compile_s'] is not None else '–'} |"
        )
    if peak is None:
        print("MFU n/a: no --peak-tflops for this device")
    else:
        print(f"MFU against {peak:g} TFLOP/s dense bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backbone", default="convnext_tiny")
    parser.add_argument(
        "--stem-kernel-z", type=int, default=5, help="Z kernel of the stem; divides the depth"
    )
    parser.add_argument("--shape-czyx", type=int, nargs=4, default=[2, 15, 160, 160])
    parser.add_argument("--batch", type=int, default=256, help="samples (anchor-positive pairs) per step")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["eager"])
    parser.add_argument("--ddp", action="store_true", help="also time the eager step under DDP")
    parser.add_argument(
        "--ddp-world", type=int, default=2, help="DDP processes on the CPU (GPU: one per GPU)"
    )
    parser.add_argument("--peak-tflops", type=float, help="the device's peak, for MFU (default: known GPUs)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also print the N operators taking most device time in a step of the first variant",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CPU, batch 2, 1 warm-up and 2 timed steps, eager and channels_last",
    )
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.steps, args.warmup = 2, 2, 1
        args.variants = [v for v in args.variants if v != "compile"] or ["eager"]
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    results = [run_variant(variant, args, device) for variant in args.variants]
    if args.ddp:
        results.append(run_ddp(args))
    peak = args.peak_tflops if args.peak_tflops is not None else device_peak_tflops(device)
    report(results, args, device, peak)
    if args.profile:
        profile_step(args, device)
    if args.json:
        args.json.write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": results}, indent=1)
        )


if __name__ == "__main__":
    main()
