"""Train the virtual staining network on a phase plate and the raw plate's nuclear channel."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from iohub.ngff import open_ome_zarr
from lightning import Trainer
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from dynaclr.config.virtual_stain import NETWORK_STRIDE_PX, VirtualStainConfig
from dynaclr.io import ArtifactError, make_provenance, read_zarr_provenance
from dynaclr.virtual_stain.checkpoint import save_checkpoint
from dynaclr.virtual_stain.data import FovSource, SlabPatchDataset
from dynaclr.virtual_stain.module import BudgetedCosineSchedule, LossHistory, VirtualStainModule
from dynaclr.virtual_stain.normalization import fov_normalization
from dynaclr.virtual_stain.plates import channel_index, plate_image, read_phase_provenance

__all__ = ["fov_sources", "train_virtual_stain"]

logger = logging.getLogger(__name__)


def fov_sources(
    phase_plate_path: str | Path, target_plate_path: str | Path, config: VirtualStainConfig
) -> list[FovSource]:
    """Check the training FOVs of both plates and compute their per-FOV normalisations."""
    assert config.train is not None
    sources = []
    with (
        open_ome_zarr(phase_plate_path, layout="hcs", mode="r") as phase_plate,
        open_ome_zarr(target_plate_path, layout="hcs", mode="r") as target_plate,
    ):
        phase_c = channel_index(phase_plate, config.input_channel, phase_plate_path)
        target_c = channel_index(target_plate, config.target_channel, target_plate_path)
        for fov_name in config.train.train_fovs:
            phase = plate_image(phase_plate, fov_name, phase_plate_path)
            target = plate_image(target_plate, fov_name, target_plate_path)
            phase_tzyx = (phase.shape[0], *phase.shape[2:])
            target_tzyx = (target.shape[0], *target.shape[2:])
            if phase_tzyx != target_tzyx:
                raise ArtifactError(
                    f"FOV {fov_name}: phase {phase_plate_path} has T, Z, Y, X = {phase_tzyx} but target "
                    f"{target_plate_path} has {target_tzyx}; the two plates must come from the same "
                    "acquisition."
                )
            n_frames = config.normalization_frames
            sources.append(
                FovSource(
                    fov_name=fov_name,
                    phase_channel_index=phase_c,
                    target_channel_index=target_c,
                    phase_normalization=fov_normalization(
                        phase,
                        phase_c,
                        "mean_std",
                        n_frames,
                        f"{phase_plate_path} {fov_name} {config.input_channel!r}",
                    ),
                    target_normalization=fov_normalization(
                        target,
                        target_c,
                        "median_p99",
                        n_frames,
                        f"{target_plate_path} {fov_name} {config.target_channel!r}",
                    ),
                    shape_tzyx=tuple(int(n) for n in phase_tzyx),  # type: ignore[arg-type]
                )
            )
    return sources


def _patch_size(requested: int, sources: list[FovSource]) -> int:
    """``requested`` clipped to the smallest FOV (a multiple of the network stride where possible)."""
    smallest = min(min(s.shape_tzyx[2:]) for s in sources)
    if requested <= smallest:
        return requested
    clipped = smallest // NETWORK_STRIDE_PX * NETWORK_STRIDE_PX or smallest
    logger.warning(
        "patch_size_px %d exceeds the smallest training FOV (%d px); using %d", requested, smallest, clipped
    )
    return clipped


def train_virtual_stain(
    phase_plate_path: str | Path,
    target_plate_path: str | Path,
    config: VirtualStainConfig,
    checkpoint_path: str | Path,
    log_dir: str | Path,
) -> dict[str, Any]:
    """Train the network on ``config.train.train_fovs`` and write a checkpoint with provenance.

    Input: the phase plate (kind ``phase_plate`` or ``ground_truth_phase``, channel
    ``config.input_channel``) and the raw plate (kind ``raw_plate``, channel
    ``config.target_channel``), same positions and ``T, Z, Y, X``. Patches: random frames,
    slices and YX windows of the training FOVs (see :class:`SlabPatchDataset`).

    Writes ``checkpoint_path`` (kind ``virtual_stain_model``) and Lightning logs (CSV and
    TensorBoard) under ``log_dir``. On CPU the same seed gives the same weights unless the
    ``max_minutes`` budget ends training before ``max_steps``.

    Returns:
        metrics: ``steps``, ``train_seconds``, ``loss_first`` / ``loss_last`` (mean training MSE
        over the first and last 10% of steps, in normalised target units squared),
        ``stopped_by_time``, ``patch_size_px``, ``device``.
    """
    train = config.train
    if train is None:
        raise ValueError("train_virtual_stain needs a config with a 'train' section (not 'checkpoint')")
    phase_provenance = read_phase_provenance(phase_plate_path)
    target_provenance = read_zarr_provenance(target_plate_path, "raw_plate")
    sources = fov_sources(phase_plate_path, target_plate_path, config)
    patch_size = _patch_size(train.patch_size_px, sources)
    dataset = SlabPatchDataset(
        phase_plate_path,
        target_plate_path,
        sources,
        n_samples=train.max_steps * train.batch_size,
        depth=config.input_depth_slices,
        patch_size=patch_size,
        seed=train.seed,
        augmentation=train.augmentation,
        cache_megabytes=train.cache_megabytes,
    )
    if train.data_loader_workers == 0:
        dataset.preload()
    loader = DataLoader(
        dataset,
        batch_size=train.batch_size,
        shuffle=False,  # randomness lives in the samples (seeded by index)
        num_workers=train.data_loader_workers,
        persistent_workers=train.data_loader_workers > 0,
        drop_last=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train.seed)
        module = VirtualStainModule(config.model_dump(mode="json"))
    schedule, history = BudgetedCosineSchedule(train), LossHistory()
    log_dir = Path(log_dir)
    trainer = Trainer(
        accelerator=train.accelerator,
        devices=1,
        max_steps=train.max_steps,
        max_epochs=1,
        logger=[CSVLogger(log_dir, name="csv"), TensorBoardLogger(log_dir, name="tensorboard")],
        callbacks=[schedule, history, TQDMProgressBar(refresh_rate=20)],
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=min(10, train.max_steps),
        default_root_dir=log_dir,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        # one process on purpose: patches are cheap slices of cached stacks
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, loader)
    seconds = time.perf_counter() - start
    dataset.close()
    losses = np.asarray(history.losses)
    if losses.size == 0:
        raise RuntimeError("training ran no step; check max_steps and max_minutes")
    tail = max(1, losses.size // 10)
    metrics = {
        "steps": int(losses.size),
        "train_seconds": seconds,
        "loss_first": float(losses[:tail].mean()),
        "loss_last": float(losses[-tail:].mean()),
        "stopped_by_time": schedule.stopped_by_time,
        "patch_size_px": patch_size,
        "device": str(trainer.strategy.root_device),
        "train_fovs": list(train.train_fovs),
    }
    provenance = make_provenance(
        "virtual_stain_model",
        config.model_dump(mode="json"),
        inputs=[(phase_plate_path, phase_provenance), (target_plate_path, target_provenance)],
    )
    save_checkpoint(module.network, provenance, checkpoint_path, metrics)
    logger.info(
        "virtual staining trained: %d steps in %.0f s, loss %.3f -> %.3f; checkpoint %s",
        metrics["steps"],
        seconds,
        metrics["loss_first"],
        metrics["loss_last"],
        checkpoint_path,
    )
    return metrics
