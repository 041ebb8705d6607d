"""Train the virtual staining network on a phase plate and the raw plate's nuclear channel (rule
``train_virtual_stain``)."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from iohub.ngff import open_ome_zarr
from lightning import Trainer
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from dynaclr.config.virtual_stain import NETWORK_STRIDE_PX, VirtualStainConfig, VirtualStainTrainConfig
from dynaclr.io import ArtifactError, ArtifactKind, StageFiles, make_provenance
from dynaclr.numerics.device import check_accelerator
from dynaclr.numerics.progress import ProgressLog
from dynaclr.virtual_stain.checkpoint import save_checkpoint
from dynaclr.virtual_stain.data import FovSource, SlabPatchDataset
from dynaclr.virtual_stain.module import LossHistory, TrainingBudget, VirtualStainModule
from dynaclr.virtual_stain.plates import (
    check_fov_records,
    fov_normalization,
    plate_channel,
    read_phase_input,
    read_target_plate_provenance,
    training_channels,
)
from dynaclr.virtual_stain.transfer import TRAINING_INPUT_KEY, training_input_record

__all__ = [
    "TrainVirtualStainInputs",
    "TrainVirtualStainOutputs",
    "fit_network",
    "fov_sources",
    "loss_metrics",
    "train_virtual_stain",
]

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
        for fov_name in config.train.train_fovs:
            # each FOV's own channel indices: positions may list the channels in other orders
            phase, phase_c = plate_channel(phase_plate, fov_name, config.input_channel, phase_plate_path)
            target, target_c = plate_channel(target_plate, fov_name, config.target_channel, target_plate_path)
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
                        "zscore",
                        n_frames,
                        f"{phase_plate_path} FOV {fov_name} channel {config.input_channel!r}",
                        store=phase_plate_path,
                        fov_name=fov_name,
                    ),
                    target_normalization=fov_normalization(
                        target,
                        target_c,
                        "median_p99",
                        n_frames,
                        f"{target_plate_path} FOV {fov_name} channel {config.target_channel!r}",
                        store=target_plate_path,
                        fov_name=fov_name,
                    ),
                    shape_tzyx=tuple(int(n) for n in phase_tzyx),  # type: ignore[arg-type]
                )
            )
    return sources


def _check_target_channel(plate_path: str | Path, channel: str, train_fovs: Sequence[str]) -> None:
    """The training FOVs of the target plate name the same channels (:func:`training_channels`), among
    them ``channel`` (``virtual_stain.target_channel``); the error names the positions read."""
    names = training_channels(plate_path, train_fovs)
    if channel not in names:
        raise ArtifactError(
            f"{plate_path}: no channel {channel!r}; found channels {names} in the training FOVs "
            f"{list(train_fovs)} (virtual_stain.target_channel). Check the channel names in the virtual "
            "staining config (input_channel, target_channel)."
        )


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


class TrainVirtualStainInputs(StageFiles):
    """Rule ``train_virtual_stain``: the phase input, the phase stage's per-FOV records when it ran
    (none with ``phase: null``), and the plate holding the nuclear target channel."""

    phase_plate: Path
    phase_records: tuple[Path, ...] = ()
    plate: Path


class TrainVirtualStainOutputs(StageFiles):
    """Rule ``train_virtual_stain``: the checkpoint (kind ``virtual_stain_model``)."""

    checkpoint: Path


def training_loader(
    inputs: TrainVirtualStainInputs, sources: list[FovSource], config: VirtualStainConfig, patch_size: int
) -> tuple[SlabPatchDataset, DataLoader]:
    """The patch dataset of ``max_steps x batch_size`` samples (preloaded when loading in this
    process) and its loader, in sample order (the randomness lives in the samples, seeded by index)."""
    train = config.train
    assert train is not None
    dataset = SlabPatchDataset(
        inputs.phase_plate,
        inputs.plate,
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
        shuffle=False,
        num_workers=train.data_loader_workers,
        persistent_workers=train.data_loader_workers > 0,
        drop_last=True,
    )
    return dataset, loader


def build_trainer(train: VirtualStainTrainConfig, log_dir: Path, callbacks: list[Any]) -> Trainer:
    """One device, ``train.max_steps`` steps in one epoch; CSV and TensorBoard logs under ``log_dir``."""
    return Trainer(
        accelerator=train.accelerator,
        devices=1,
        max_steps=train.max_steps,
        max_epochs=1,
        logger=[CSVLogger(log_dir, name="csv"), TensorBoardLogger(log_dir, name="tensorboard")],
        # a job's log is a file: ProgressLog writes lines there; the bar is for a terminal
        callbacks=[*callbacks, ProgressLog(max(1, train.max_steps // 20))],
        enable_progress_bar=sys.stderr.isatty(),
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=min(10, train.max_steps),
        default_root_dir=log_dir,
    )


def loss_metrics(losses: list[float]) -> dict[str, Any]:
    """``steps`` and the mean training loss over the first and the last 10% of the steps."""
    values = np.asarray(losses)
    if values.size == 0:
        raise RuntimeError("training ran no step; check max_steps and max_minutes")
    tail = max(1, values.size // 10)
    return {
        "steps": int(values.size),
        "loss_first": float(values[:tail].mean()),
        "loss_last": float(values[-tail:].mean()),
    }


def fit_network(
    config: VirtualStainConfig, loader: DataLoader, log_dir: Path
) -> tuple[VirtualStainModule, dict[str, Any]]:
    """Build the module (weights seeded by ``train.seed``) and fit it on ``loader``'s batches.

    Returns the module and the run's metrics: :func:`loss_metrics`, ``train_seconds``,
    ``stopped_by_time`` (the ``max_minutes`` budget ended it) and ``device``.
    """
    train = config.train
    assert train is not None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train.seed)
        module = VirtualStainModule(config.model_dump(mode="json"))
    budget, history = TrainingBudget(train), LossHistory()
    trainer = build_trainer(train, log_dir, [budget, history])
    start = time.perf_counter()
    with warnings.catch_warnings():
        # one process on purpose: patches are cheap slices of cached stacks
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, loader)
    seconds = time.perf_counter() - start
    return module, {
        **loss_metrics(history.losses),
        "train_seconds": seconds,
        "stopped_by_time": budget.stopped_by_time,
        "device": str(trainer.strategy.root_device),
    }


def train_virtual_stain(
    config: VirtualStainConfig,
    inputs: TrainVirtualStainInputs,
    outputs: TrainVirtualStainOutputs,
    *,
    log_dir: str | Path,
    supplied: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Train the network on ``config.train.train_fovs`` and write a checkpoint with provenance.

    Input: ``inputs.phase_plate`` (kind ``phase_plate``, ``ground_truth_phase`` or ``raw_plate``,
    or your own plate, with channel ``config.input_channel``) and ``inputs.plate`` (kind
    ``raw_plate`` or your own, channel ``config.target_channel``), same positions and
    ``T, Z, Y, X``. Patches: random frames, slices and YX windows of the training FOVs (see
    :class:`SlabPatchDataset`).

    ``supplied``: the sampling the dataset's ``acquisition`` supplies for a phase plate whose metadata
    states none (the raw plate, phase off), which ``training_input`` records.

    Writes ``outputs.checkpoint`` (kind ``virtual_stain_model``) and Lightning logs (CSV and
    TensorBoard) under ``log_dir``. On CPU the same seed gives the same weights, whatever the run
    settings (``data_loader_workers``, ``cache_megabytes``), unless the ``max_minutes`` budget ends
    training before ``max_steps`` (``stopped_by_time``, logged at WARNING): the steps it affords then
    depend on the machine's speed and on the run settings, which rerun nothing.

    Returns:
        metrics: ``steps``, ``train_seconds``, ``loss_first`` / ``loss_last`` (mean training MSE
        over the first and last 10% of steps, in normalised target units squared),
        ``stopped_by_time``, ``patch_size_px``, ``device``, ``train_fovs``, ``run`` (the values of
        the training's run keys, ``data_loader_workers`` and ``cache_megabytes``, which the recorded
        config holds at their defaults), ``training_input`` (the phase plate, channel, pixel size, z
        step and fewest slices a prediction on another plate compares:
        :mod:`dynaclr.virtual_stain.transfer`).
    """
    train = config.train
    if train is None:
        raise ValueError("train_virtual_stain needs a config with a 'train' section (not 'checkpoint')")
    check_accelerator(train.accelerator, "virtual_stain.train.accelerator")  # before any data is read
    # the training FOVs' channels, not the plate's first position's (which may be no training FOV)
    phase_provenance = read_phase_input(inputs.phase_plate, config.input_channel, train_fovs=train.train_fovs)
    _check_target_channel(inputs.plate, config.target_channel, train.train_fovs)
    check_fov_records(inputs.phase_records, ArtifactKind.PHASE_FOV, phase_provenance)
    target_provenance = read_target_plate_provenance(inputs.plate)
    sources = fov_sources(inputs.phase_plate, inputs.plate, config)
    patch_size = _patch_size(train.patch_size_px, sources)
    dataset, loader = training_loader(inputs, sources, config, patch_size)
    module, fitted = fit_network(config, loader, Path(log_dir))
    dataset.close()
    metrics = {
        **fitted,
        "patch_size_px": patch_size,
        "train_fovs": list(train.train_fovs),
        "run": config.training_run_params()["train"],  # the run keys' values (the config holds defaults)
        # what a prediction on another plate compares (dynaclr.virtual_stain.transfer)
        TRAINING_INPUT_KEY: training_input_record(
            inputs.phase_plate, config.input_channel, min(s.shape_tzyx[1] for s in sources), supplied
        ),
    }
    provenance = make_provenance(
        ArtifactKind.VIRTUAL_STAIN_MODEL,
        config.training_params(),  # the rule's params: prediction settings are not the weights
        inputs=[(inputs.phase_plate, phase_provenance), (inputs.plate, target_provenance)],
    )
    save_checkpoint(module.network, provenance, outputs.checkpoint, metrics)
    logger.info(
        "virtual staining trained: %d steps in %.0f s, loss %.3f -> %.3f; checkpoint %s",
        metrics["steps"],
        metrics["train_seconds"],
        metrics["loss_first"],
        metrics["loss_last"],
        outputs.checkpoint,
    )
    if metrics["stopped_by_time"]:
        logger.warning(
            "%s: virtual_stain.train.max_minutes (%g) ended training after %d of max_steps %d steps "
            "(stopped_by_time in the checkpoint's metrics): its weights depend on the machine's speed "
            "and on the run settings, which rerun nothing (metrics.run: %s; other values train "
            "another number of steps in the budget); raise max_minutes for weights that depend on the "
            "config and seed only",
            outputs.checkpoint,
            train.max_minutes,
            metrics["steps"],
            train.max_steps,
            metrics["run"],
        )
    return metrics
