"""Training loader throughput: the patch store + batched augmentation against on-the-fly cropping.

Both loaders deliver the same planned ``(anchor, positive)`` samples (time-aware sampling, one plan
made once with :class:`~dynaclr.training.sampling.ContrastiveBatchSampler`) in the same batches,
with the same ``--num-workers``, augmented with the same :class:`BatchAugmentation` (paper
defaults) and centre-cropped to the network input:

* ``store`` (the project's loader): :class:`~dynaclr.training.data.PatchDataset` reads each batch's
  normalised patches from the patch store at once (:class:`~dynaclr.patches.store.PatchRowReader`:
  each needed chunk read and decoded once, straight from the shard files); the main process
  augments anchors and positives as two whole batches (what
  ``ContrastiveModule.on_after_batch_transfer`` does on the training device);
* ``on_the_fly`` (the anchor's way): for every sample the dataset reads the ``(C, Z, S, S)`` window
  around the cell's centroid from the full-FOV OME-Zarr plates (raw and phase; arrays opened once
  per worker and FOV, or per sample with ``--reopen-per-sample``), normalises it with the same
  per-FOV statistics and augments it on its own (a batch of one) in the worker.

It then times a few CPU training steps (augment, forward, NT-Xent, backward, AdamW) of the demo
model (``convnext_atto``) on the store's batches.

Usage::

    python benchmarks/training_loader.py --workdir /tmp/training_loader
    python benchmarks/training_loader.py --plate raw.zarr --phase phase.zarr --tracks tracks.parquet
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dynaclr.config.patches import PatchSpec
from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.augment import BatchAugmentation
from dynaclr.patches import collect_patches, extract_fov_patches, open_patch_store
from dynaclr.patches.store import PatchStore
from dynaclr.training.data import PatchBatch, PatchDataset, _keep_batch
from dynaclr.training.module import ContrastiveModule
from dynaclr.training.sampling import ContrastiveBatchSampler, PairPlanner

CHANNELS = [
    {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
    {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
]


def simulate(workdir: Path, n_fovs: int, n_frames: int, size_yx: int, cells: int) -> dict[str, Path]:
    """A small simulated plate (2 wells, ``n_fovs`` FOVs each) and its ground-truth tracks."""
    from dynaclr.simulate import simulate_plate

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
    simulate_plate(
        config,
        plate_path=paths["plate"],
        tracks_path=paths["tracks"],
        labels_path=paths["labels"],
        phase_path=paths["phase"],
    )
    return paths


def build_store(paths: dict[str, Path], spec: PatchSpec, workdir: Path) -> PatchStore:
    """Per-FOV extraction then collection, with the library."""
    import pandas as pd

    fovs = sorted(pd.read_parquet(paths["tracks"], columns=["fov_name"])["fov_name"].unique())
    zarrs, parquets = [], []
    for fov in fovs:
        stem = workdir / "per_fov" / fov.replace("/", "_")
        stem.parent.mkdir(parents=True, exist_ok=True)
        extract_fov_patches(
            {"raw": paths["plate"], "phase": paths["phase"]},
            paths["tracks"],
            fov,
            spec,
            stem.with_suffix(".zarr"),
            stem.with_suffix(".parquet"),
            stem.with_suffix(".json"),
        )
        zarrs.append(stem.with_suffix(".zarr"))
        parquets.append(stem.with_suffix(".parquet"))
    collect_patches(zarrs, parquets, workdir / "store.zarr", workdir / "store.parquet")
    return open_patch_store(workdir / "store.zarr", workdir / "store.parquet")


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
        self.y = np.floor(index["y"].to_numpy() + 0.5).astype(np.int64)
        self.x = np.floor(index["x"].to_numpy() + 0.5).astype(np.int64)
        self.size = int(store.attributes["initial_patch_size_yx_px"])
        self.z = slice(*store.attributes["z_slices"])
        self.normalization = store.attributes["normalization"]
        self.channels = [(c.source, c.channel, f"{c.source}:{c.channel}") for c in spec.channels]
        self.sources = {k: str(v) for k, v in sources.items()}
        self.reopen = reopen_per_sample
        self.augment = BatchAugmentation(output_size_yx=(output_size, output_size))
        self.seed = seed
        self._arrays: dict[tuple[str, str], tuple[Any, int]] = {}

    def _array(self, source: str, fov: str, channel: str) -> tuple[Any, int]:
        key = (source, fov)
        if self.reopen or key not in self._arrays:
            from iohub.ngff import open_ome_zarr

            position = open_ome_zarr(f"{self.sources[source]}/{fov}", layout="fov", mode="r")
            self._arrays[key] = (position["0"], position)  # type: ignore[assignment]
        image, position = self._arrays[key]
        return image, position.get_channel_index(channel)  # type: ignore[union-attr]

    def _patch(self, row: int) -> np.ndarray:
        fov, t, size = str(self.fov[row]), int(self.t[row]), self.size
        top, left = int(self.y[row]) - size // 2, int(self.x[row]) - size // 2
        planes = []
        for source, channel, name in self.channels:
            image, c = self._array(source, fov, channel)
            height, width = image.shape[-2:]
            y0, y1, x0, x1 = max(top, 0), min(top + size, height), max(left, 0), min(left + size, width)
            window = np.zeros((self.z.stop - self.z.start, size, size), dtype=np.float32)
            stats = self.normalization[fov][name]
            center, scale = stats["center"], stats["scale"]
            if stats.get("center_per_time"):
                center, scale = stats["center_per_time"][t], stats["scale_per_time"][t]
            if y1 > y0 and x1 > x0:
                crop = np.asarray(image[t, c, self.z, y0:y1, x0:x1], dtype=np.float32)
                window[:, y0 - top : y1 - top, x0 - left : x1 - left] = (crop - center) / scale
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

    def __init__(self, batches: list[list[tuple[int, int, int]]]) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def time_store_loader(store: PatchStore, plan, workers: int, output_size: int) -> tuple[float, PatchBatch]:
    augment = BatchAugmentation(output_size_yx=(output_size, output_size))
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(
        PatchDataset(store.zarr_path),
        batch_sampler=_FixedBatches(plan),
        collate_fn=_keep_batch,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
    )
    started = time.perf_counter()
    for batch in loader:
        batch.anchor = augment(batch.anchor, generator)
        batch.positive = augment(batch.positive, generator)
    return time.perf_counter() - started, batch


def time_on_the_fly_loader(dataset: OnTheFlyDataset, plan, workers: int) -> float:
    loader = DataLoader(
        dataset,
        batch_sampler=_FixedBatches(plan),
        num_workers=workers,
        prefetch_factor=4 if workers else None,
    )
    started = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - started


def time_training_steps(store: PatchStore, plan, steps: int, config: ContrastiveModelConfig) -> float:
    """Samples (anchors) per second of full training steps on CPU, after one warm-up step."""
    _, n_channels, n_slices, _, _ = store.array.shape
    module = ContrastiveModule(
        config.model_dump(mode="json"), n_channels, n_slices, store.patch_size_yx_px, 1
    )
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate)
    dataset = PatchDataset(store.zarr_path)
    generator = torch.Generator().manual_seed(0)
    batches = [dataset.__getitems__(samples) for samples in plan[: steps + 1]]
    started = 0.0
    for number, batch in enumerate(batches):
        if number == 1:
            started = time.perf_counter()
        batch.anchor = module.augment(batch.anchor, generator)
        batch.positive = module.augment(batch.positive, generator)
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

    planner = PairPlanner(
        store.index, store.index["row"].to_numpy(), "time_aware", tau_frames=1, tolerance_frames=1
    )
    sampler = ContrastiveBatchSampler(planner, args.batch_size, lineage_unique=False, seed=0)
    plan = list(sampler)[: args.batches]
    n_samples = sum(len(b) for b in plan)
    print(
        f"{len(plan)} batches of {args.batch_size} (anchor, positive) samples, {args.num_workers} worker(s), "
        f"patches {tuple(store.array.shape[1:])} -> crop {args.patch_size}"
    )

    # interleave repeats so load changes affect both alike; report the best of two
    store_times, fly_times = [], []
    fly = OnTheFlyDataset(
        store, {"raw": paths["plate"], "phase": paths["phase"]}, spec, args.patch_size, args.reopen_per_sample
    )
    for _ in range(2):
        seconds, batch = time_store_loader(store, plan, args.num_workers, args.patch_size)
        store_times.append(seconds)
        fly_times.append(time_on_the_fly_loader(fly, plan, args.num_workers))
    assert batch.anchor.shape[-1] == args.patch_size
    patches = 2 * n_samples  # anchor + positive per sample
    store_rate, fly_rate = patches / min(store_times), patches / min(fly_times)
    print(f"store + batched augmentation : {store_rate:8.0f} patches/s  (runs {store_times})")
    print(f"on-the-fly OME-Zarr crops    : {fly_rate:8.0f} patches/s  (runs {fly_times})")
    print(f"ratio                        : {store_rate / fly_rate:8.1f}x")

    config = ContrastiveModelConfig.model_validate(
        {"patch_spec": "bench", "tau_frames": 1, "backbone": "convnext_atto", "batch_size": args.batch_size}
    )
    rate = time_training_steps(store, plan, args.train_steps, config)
    print(
        f"training step (convnext_atto, CPU, {torch.get_num_threads()} threads, batch {args.batch_size}): "
        f"{rate:.1f} samples/s"
    )


if __name__ == "__main__":
    main()
