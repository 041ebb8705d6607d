"""Training loader throughput: the patch store + batched augmentation against on-the-fly cropping.

Both loaders deliver the same planned ``(anchor, positive)`` samples (time-aware sampling, one plan
made once with :class:`~dynaclr.training.sampling.ContrastiveBatchSampler`) in the same batches,
with the same ``--num-workers``, augmented with the same :class:`BatchAugmentation` (paper
defaults, the same operations on every patch) and centre-cropped to the network input, on CPU:

* ``store`` (the project's loader, placed as CPU training places it: ``augment_in: auto``):
  :class:`~dynaclr.training.data.PatchDataset` reads each batch's normalised patches from the
  patch store at once (:class:`~dynaclr.patches.store.PatchRowReader`: each needed chunk read and
  decoded once, straight from the shard files) and, with workers, augments anchors and positives
  there as two whole batches, seeded by the batch's ``augment_seed``, writing the cropped result
  straight into shared memory (``augment_in: workers``); the main process only receives batches.
  With ``--num-workers 0`` or ``--augment-in device`` the main process augments each received
  batch as a whole (what ``ContrastiveModule.on_after_batch_transfer`` does on a GPU);
* ``on_the_fly`` (the anchor's way): for every sample the dataset reads the ``(C, Z, S, S)`` window
  around the cell's centroid from the full-FOV OME-Zarr plates (raw and phase; arrays opened once
  per worker and FOV, or per sample with ``--reopen-per-sample``), normalises it with the same
  per-FOV statistics and augments it on its own (a batch of one) in the worker.

Each loader's runs are interleaved (store, on-the-fly, store, on-the-fly) so load changes on a
shared machine hit both alike; the best run of each is reported, with the CPU seconds of the main
process and of the workers. It then times a few CPU training steps (forward, NT-Xent, backward,
AdamW, and the augmentation when it is done on the device) of the demo model (``convnext_atto``)
on the store's batches.

Usage::

    python benchmarks/training_loader.py --workdir /tmp/training_loader
    python benchmarks/training_loader.py --plate raw.zarr --phase phase.zarr --tracks tracks.parquet
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from iohub.ngff import Position, open_ome_zarr
from torch.utils.data import DataLoader, Dataset

from dynaclr.config.patches import PatchSpec
from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.augment import BatchAugmentation
from dynaclr.numerics.crop import crop_window
from dynaclr.patches import (
    CollectPatchesInputs,
    CollectPatchesOutputs,
    ExtractPatchesInputs,
    ExtractPatchesOutputs,
    collect_patches,
    extract_fov_patches,
    open_patch_store,
)
from dynaclr.patches.store import PatchStore
from dynaclr.training.data import PatchBatch, PatchDataset, _keep_batch, augment_batch, augmentation_generator
from dynaclr.training.module import ContrastiveModule
from dynaclr.training.sampling import ContrastiveBatchSampler, PairPlanner, PlannedBatch

CHANNELS = [
    {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
    {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
]


def simulate(workdir: Path, n_fovs: int, n_frames: int, size_yx: int, cells: int) -> dict[str, Path]:
    """A small simulated plate (2 wells, ``n_fovs`` FOVs each) and its ground-truth tracks."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    config = SimulateConfig.model_validate(
        {
            "seed": 1,
            "wells": [
                {"row": "A", "column": "1", "condition": "mock", "infected_fraction": 0.0},
                {"row": "B", "column": "1", "condition": "infected", "infected_fraction": 1.0},
            ],
            "fovs_per_well": n_fovs,
            "n_frames": n_frames,
            "shape_zyx": [5, size_yx, size_yx],
            "z_step_um": 2.5,
            "cells": {"initial_cells_per_fov": cells, "entering_cells_per_frame": 0.2},
            "division": {"cycle_length_frames": 10},
            "infection": {"onset_frames": [2, 5], "translocation_frames": 3, "death_probability": 0.0},
        }
    )
    paths = {
        "plate": workdir / "raw.zarr",
        "tracks": workdir / "tracks.parquet",
        "labels": workdir / "labels.zarr",
        "phase": workdir / "phase.zarr",
    }
    simulate_plate(config, SimulateOutputs(**paths))
    return paths


def build_store(paths: dict[str, Path], spec: PatchSpec, workdir: Path) -> PatchStore:
    """Per-FOV extraction then collection, with the library."""
    import pandas as pd

    fovs = sorted(pd.read_parquet(paths["tracks"], columns=["fov_name"])["fov_name"].unique())
    inputs = ExtractPatchesInputs(
        plate_raw=paths["plate"], plate_phase=paths["phase"], tracks=paths["tracks"]
    )
    zarrs, parquets = [], []
    for fov in fovs:
        stem = workdir / "per_fov" / fov.replace("/", "_")
        stem.parent.mkdir(parents=True, exist_ok=True)
        outputs = ExtractPatchesOutputs(
            zarr=stem.with_suffix(".zarr"),
            parquet=stem.with_suffix(".parquet"),
            record=stem.with_suffix(".json"),
        )
        extract_fov_patches(spec, inputs, outputs, fov_name=fov)
        zarrs.append(outputs.zarr)
        parquets.append(outputs.parquet)
    store = CollectPatchesOutputs(zarr=workdir / "store.zarr", parquet=workdir / "store.parquet")
    collect_patches(CollectPatchesInputs(zarrs=zarrs, parquets=parquets), store)
    return open_patch_store(store.zarr, store.parquet)


class OnTheFlyDataset(Dataset[dict[str, torch.Tensor]]):
    """One planned sample → its anchor and positive cropped from the full FOVs, normalised, augmented."""

    def __init__(
        self,
        store: PatchStore,
        sources: dict[str, Path],
        spec: PatchSpec,
        output_size: int,
        reopen_per_sample: bool,
        seed: int = 0,
    ) -> None:
        index = store.index
        self.fov = index["fov_name"].to_numpy()
        self.t = index["t"].to_numpy(dtype=np.int64)
        self.y = index["y"].to_numpy(np.float64)
        self.x = index["x"].to_numpy(np.float64)
        self.size = int(store.attributes["initial_patch_size_yx_px"])
        self.z = slice(*store.attributes["z_slices"])
        self.normalization = store.attributes["normalization"]
        self.channels = [(c.source, c.channel, f"{c.source}:{c.channel}") for c in spec.channels]
        self.sources = {k: str(v) for k, v in sources.items()}
        self.reopen = reopen_per_sample
        self.augment = BatchAugmentation(output_size_yx=(output_size, output_size))
        self.seed = seed
        self._arrays: dict[tuple[str, str], tuple[Any, Position]] = {}

    def _array(self, source: str, fov: str, channel: str) -> tuple[Any, int]:
        key = (source, fov)
        if self.reopen or key not in self._arrays:
            position = open_ome_zarr(f"{self.sources[source]}/{fov}", layout="fov", mode="r")
            assert isinstance(position, Position), f"{self.sources[source]}/{fov} is not an FOV"
            self._arrays[key] = (position["0"], position)
        image, position = self._arrays[key]
        return image, position.get_channel_index(channel)

    def _patch(self, row: int) -> np.ndarray:
        fov, t, size = str(self.fov[row]), int(self.t[row]), self.size
        planes = []
        for source, channel, name in self.channels:
            image, c = self._array(source, fov, channel)
            # the store's crop rule, reading only the part of the window inside the image
            placement = crop_window(self.y[row], self.x[row], size, image.shape[-2:])
            window = np.zeros((self.z.stop - self.z.start, size, size), dtype=np.float32)
            stats = self.normalization[fov][name]
            center, scale = stats["center"], stats["scale"]
            if stats.get("center_per_time"):
                center, scale = stats["center_per_time"][t], stats["scale_per_time"][t]
            if placement.padded_fraction < 1.0:
                crop = np.asarray(image[(t, c, self.z, *placement.source)], dtype=np.float32)
                window[(slice(None), *placement.target)] = (crop - center) / scale
            planes.append(window)
        return np.stack(planes)  # (C, Z, S, S)

    def __getitem__(self, sample: tuple[int, int, int]) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + sample[0])
        out = {}
        for key, row in (("anchor", sample[0]), ("positive", sample[1])):
            patch = torch.from_numpy(self._patch(int(row)))[None]  # (1, C, Z, S, S)
            out[key] = self.augment(patch, generator)[0]
        return out

    def __len__(self) -> int:
        return len(self.t)


class _FixedBatches:
    """A batch sampler replaying a fixed list of batches (each a list of samples)."""

    def __init__(self, batches: list[PlannedBatch]) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(loader: DataLoader, consume) -> tuple[float, float, float, float, Any]:
    """One pass: wall seconds, main-process CPU seconds, (reaped) worker CPU seconds, seconds to the
    first batch (worker start-up included), and the last batch."""
    children, main = _children_cpu(), time.process_time()
    started = time.perf_counter()
    batches = iter(loader)
    batch, first = None, 0.0
    for batch in batches:
        first = first or time.perf_counter() - started
        batch = consume(batch)
    wall = time.perf_counter() - started
    main = time.process_time() - main
    del batches  # shuts the workers down and reaps them, so their CPU time is counted
    return wall, main, _children_cpu() - children, first, batch


def time_store_loader(
    store: PatchStore, plan, workers: int, output_size: int, augment_in: str
) -> tuple[float, float, float, float, PatchBatch]:
    augmentation = BatchAugmentation(output_size_yx=(output_size, output_size))
    loader = DataLoader(
        PatchDataset(store.zarr_path, augmentation if augment_in == "workers" else None),
        batch_sampler=_FixedBatches(plan),
        collate_fn=_keep_batch,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
    )

    def consume(batch: PatchBatch) -> PatchBatch:
        if batch.augmented:
            return batch
        return augment_batch(batch, augmentation, augmentation_generator(batch.augment_seed))

    return _run(loader, consume)


def time_on_the_fly_loader(dataset: OnTheFlyDataset, plan, workers: int) -> tuple[float, float, float, float]:
    loader = DataLoader(
        dataset,
        batch_sampler=_FixedBatches(plan),
        num_workers=workers,
        prefetch_factor=4 if workers else None,
    )
    return _run(loader, lambda batch: batch)[:4]


def time_training_steps(
    store: PatchStore, plan, steps: int, config: ContrastiveModelConfig, augment_in: str
) -> float:
    """Samples (anchors) per second of training steps on CPU, after one warm-up step.

    With ``augment_in`` 'workers' the batches come augmented (the step does not augment)."""
    _, n_channels, n_slices, _, _ = store.array.shape
    module = ContrastiveModule(
        config.model_dump(mode="json"), n_channels, n_slices, store.patch_size_yx_px, 1
    )
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate)
    dataset = PatchDataset(store.zarr_path, module.augment if augment_in == "workers" else None)
    batches = [dataset.__getitems__(samples) for samples in plan[: steps + 1]]
    started = 0.0
    for number, batch in enumerate(batches):
        if number == 1:
            started = time.perf_counter()
        if not batch.augmented:
            batch = augment_batch(batch, module.augment, augmentation_generator(batch.augment_seed))
        loss = module._loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * len(batches[0]) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dynaclr_training_loader"))
    parser.add_argument("--plate", type=Path, help="raw OME-Zarr plate (default: simulate one)")
    parser.add_argument("--phase", type=Path, help="phase OME-Zarr plate (with --plate)")
    parser.add_argument("--tracks", type=Path, help="tracks table (with --plate)")
    parser.add_argument("--fovs-per-well", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size-yx", type=int, default=256)
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the main process")
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--reopen-per-sample", action="store_true")
    parser.add_argument(
        "--augment-in",
        choices=["auto", "device", "workers"],
        default="auto",
        help="where the store path augments (training's augment_in; auto: as CPU training does)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    if args.plate:
        paths = {"plate": args.plate, "phase": args.phase or args.plate, "tracks": args.tracks}
    else:
        paths = simulate(args.workdir, args.fovs_per_well, args.frames, args.size_yx, args.cells)
    simulated = time.perf_counter()
    spec = PatchSpec.model_validate(
        {"name": "bench", "channels": CHANNELS, "z_window_slices": 5, "patch_size_yx_px": args.patch_size}
    )
    store = build_store(paths, spec, args.workdir)
    built = time.perf_counter()
    print(
        f"plate {'given' if args.plate else 'simulated'} in {simulated - started:.1f} s; store "
        f"{tuple(store.array.shape)} {store.array.dtype} built in {built - simulated:.1f} s"
    )

    config = ContrastiveModelConfig.model_validate(
        {
            "patch_spec": "bench",
            "tau_frames": 1,
            "backbone": "convnext_atto",
            "batch_size": args.batch_size,
            "num_workers": args.num_workers,
            "augment_in": args.augment_in,
        }
    )
    augment_in = config.resolved_augment_in("cpu")
    planner = PairPlanner(
        store.index, store.index["row"].to_numpy(), "time_aware", tau_frames=1, tolerance_frames=1
    )
    sampler = ContrastiveBatchSampler(planner, args.batch_size, lineage_unique=False, seed=0)
    plan = list(sampler)[: args.batches]
    n_samples = sum(len(b) for b in plan)
    print(
        f"{len(plan)} batches of {args.batch_size} (anchor, positive) samples, {args.num_workers} worker(s), "
        f"patches {tuple(store.array.shape[1:])} -> crop {args.patch_size}; store path augments in the "
        f"{'data-loader workers' if augment_in == 'workers' else 'main process (device placement)'}"
    )

    # interleave repeats so load changes affect both alike; report the best of two
    store_runs, fly_runs = [], []
    fly = OnTheFlyDataset(
        store, {"raw": paths["plate"], "phase": paths["phase"]}, spec, args.patch_size, args.reopen_per_sample
    )
    load = [f"{value:.1f}" for value in os.getloadavg()]
    for _ in range(2):
        *timings, batch = time_store_loader(store, plan, args.num_workers, args.patch_size, augment_in)
        store_runs.append(timings)
        fly_runs.append(time_on_the_fly_loader(fly, plan, args.num_workers))
    assert batch.anchor.shape[-1] == args.patch_size
    patches = 2 * n_samples  # anchor + positive per sample
    for name, runs in (("store + batched augmentation", store_runs), ("on-the-fly OME-Zarr crops", fly_runs)):
        wall, main_cpu, workers_cpu, first = min(runs)
        print(
            f"{name:29s}: {patches / wall:8.0f} patches/s  (runs {[round(r[0], 2) for r in runs]} s; "
            f"best run: first batch after {first:.2f} s, main process {main_cpu:.2f} CPU s, workers "
            f"{workers_cpu:.2f} CPU s)"
        )
    ratio = min(fly_runs)[0] / min(store_runs)[0]
    print(f"{'ratio':29s}: {ratio:8.1f}x  (1/5/15-min load before: {', '.join(load)})")

    rate = time_training_steps(store, plan, args.train_steps, config, augment_in)
    print(
        f"training step (convnext_atto, CPU, {torch.get_num_threads()} threads, batch {args.batch_size}, "
        f"augmentation {'in workers, not timed' if augment_in == 'workers' else 'included'}): "
        f"{rate:.1f} samples/s"
    )


if __name__ == "__main__":
    main()
