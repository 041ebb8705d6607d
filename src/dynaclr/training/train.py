"""Train a contrastive encoder on a patch store (rule ``train_contrastive``).

Outputs (the rule's, :class:`TrainOutputs`):

* ``checkpoint`` (``model.ckpt``): the chosen checkpoint (best validation loss; the last one
  without validation), weights and hyperparameters only, with a ``contrastive_model`` provenance
  record under the key ``dynaclr``; read it with :func:`load_contrastive_model`;
* ``config`` (``config.json``): the model config with defaults filled in.

In the work directory the rule names (beside the outputs, outside them: Snakemake deletes declared
outputs before a job starts, and this state must survive a SLURM requeue):

* ``logs/``: TensorBoard (``logs/tensorboard``) and CSV (``logs/csv``) logs, one version per run;
* ``checkpoints/``: resumable state (``last.ckpt``, ``best.ckpt``). A rerun resumes from
  ``last.ckpt`` (e.g. after a SLURM requeue) only if it was made from the same config *and* the
  same patch store (the store's and index's provenance); otherwise training starts from scratch and
  says why. A ``last.ckpt`` that cannot be read (a job killed while writing it, or a file that is
  not a weights-only checkpoint) is moved aside to ``last.ckpt.corrupt`` with a warning. Every
  checkpoint is read with ``weights_only=True``: no file can run code.
  On SIGUSR1 or SIGURG (a SLURM time-limit or preemption warning) training saves ``last.ckpt`` at
  the next optimizer step and raises :class:`~dynaclr.training.preemption.TrainingPreempted`
  (see :mod:`dynaclr.training.preemption`).

Bad inputs fail before any training with a message naming the file or config key, what was
expected and what was found: an unknown ``backbone``, a store without patches, a ``tau`` longer
than every lineage of the store, a wrong patch spec or patch depth.

Launch on several devices with ``torchrun --standalone --nproc-per-node=N -m dynaclr.training ...``:
Lightning reads TorchElastic's environment (gloo backend on CPU, NCCL on GPU).
"""

from __future__ import annotations

import datetime
import difflib
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from dynaclr.config.patches import required_initial_patch_size_px
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.augment import BatchAugmentation
from dynaclr.io import ArtifactKind, Provenance, StageFiles, atomic_output, config_hash, make_provenance
from dynaclr.io.provenance import PROVENANCE_KEY
from dynaclr.patches.store import PatchStore, open_patch_store
from dynaclr.training.checkpoint import TRAINING_SUMMARY_KEY, load_checkpoint
from dynaclr.training.data import PatchBatch, PatchDataModule
from dynaclr.training.module import ContrastiveModule
from dynaclr.training.preemption import PreemptionFlag, TrainingPreempted
from dynaclr.training.sampling import split_fovs

logger = logging.getLogger(__name__)

CORRUPT_SUFFIX = ".corrupt"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
_EXPORTED_KEYS = ("state_dict", "hyper_parameters", "pytorch-lightning_version", "epoch", "global_step")


def check_backbone(name: str) -> None:
    """Fail naming the ``backbone`` key when ``name`` is not a timm model."""
    import timm

    if timm.is_model(name):
        return
    families = timm.list_models("convnext*") + timm.list_models("resnet*")
    close = difflib.get_close_matches(name, families, n=3, cutoff=0.6)
    raise ValueError(
        f"backbone {name!r} is not a timm model; expected a ConvNeXt or ResNet name such as "
        f"'convnext_atto', 'convnext_tiny' or 'resnet18'" + (f" (close matches: {close})" if close else "")
    )


def check_tau_fits(index: pd.DataFrame, tau_frames: int, tolerance_frames: int, where: str | Path) -> None:
    """Fail when ``tau`` (minus its tolerance) is longer than every lineage's span in ``index``.

    Such a ``tau`` leaves no time-aware anchor: no cell is seen ``tau`` frames after itself.
    """
    if tau_frames < 1 or index.empty:
        return
    spans = index.groupby(["fov_name", "lineage_id"], sort=False)["t"].agg(lambda t: int(t.max() - t.min()))
    longest = int(spans.max())
    if tau_frames - tolerance_frames > longest:
        lineage = spans.idxmax()
        raise ValueError(
            f"{where}: tau = {tau_frames} frames (± tau_tolerance_frames={tolerance_frames}) is longer than "
            f"every lineage: expected a lineage spanning at least {tau_frames - tolerance_frames} frames, "
            f"the longest (FOV {lineage[0]}, lineage {lineage[1]}) spans {longest}; use tau_frames <= "
            f"{longest + tolerance_frames} (or a smaller tau_minutes)"
        )


def resolve_tau_frames(config: ContrastiveModelConfig, time_interval_minutes: float | None) -> int:
    """``tau`` in frames: ``tau_frames``, or ``tau_minutes`` / the dataset's time interval (rounded)."""
    if config.sampling != "time_aware":
        return 0
    if config.tau_frames is not None:
        return config.tau_frames
    assert config.tau_minutes is not None
    if not time_interval_minutes:
        raise ValueError(
            "tau_minutes needs the dataset's time interval, but the patch store does not record it"
        )
    frames = round(config.tau_minutes / time_interval_minutes)
    if frames < 1:
        raise ValueError(
            f"tau_minutes={config.tau_minutes} is less than one frame ({time_interval_minutes} min); "
            f"use at least {time_interval_minutes}"
        )
    if abs(frames * time_interval_minutes - config.tau_minutes) > 0.1 * time_interval_minutes:
        logger.warning(
            "tau_minutes=%s is not a multiple of the %s min interval; using %d frames",
            config.tau_minutes,
            time_interval_minutes,
            frames,
        )
    return frames


class SampleRowRecorder(Callback):
    """Record the patch rows every training batch used: ``logs/sample_rows_rank{r}.parquet``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.records: list[pd.DataFrame] = []

    def on_train_batch_start(self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if isinstance(batch, PatchBatch):
            self.records.append(
                pd.DataFrame(
                    {
                        "epoch": trainer.current_epoch,
                        "batch": batch_idx,
                        "anchor_row": batch.anchor_row.cpu().numpy(),
                        "positive_row": batch.positive_row.cpu().numpy(),
                        "negative_row": batch.negative_row.cpu().numpy(),
                    }
                )
            )

    def on_train_end(self, trainer: Trainer, pl_module: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        table = pd.concat(self.records, ignore_index=True) if self.records else pd.DataFrame()
        table.to_parquet(self.directory / f"sample_rows_rank{trainer.global_rank}.parquet")


class CheckpointOnPreemption(Callback):
    """Save ``path`` and stop with :class:`TrainingPreempted` once any rank got a preemption signal.

    Every rank votes after each optimizer step (one all-reduce), so all ranks save the same step:
    Lightning's checkpoint save is collective. Rank 0 writes beside ``path`` and renames, so a kill
    during the write never leaves a truncated ``path``.
    """

    def __init__(self, flag: PreemptionFlag, path: Path) -> None:
        self.flag = flag
        self.path = path

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.strategy.reduce_boolean_decision(self.flag.received is not None, all=False):
            return
        partial = self.path.with_name(self.path.name + ".partial")
        trainer.save_checkpoint(partial)
        if trainer.is_global_zero:
            partial.replace(self.path)
        trainer.strategy.barrier("preemption checkpoint")  # the file is in place before any rank exits
        preempted = TrainingPreempted(self.flag.received, str(self.path), trainer.global_step)
        logger.warning("%s", preempted)
        raise preempted


def _launch_settings(config: ContrastiveModelConfig) -> dict[str, Any]:
    """Accelerator, devices, nodes, strategy and precision; TorchElastic's environment wins."""
    accelerator = config.accelerator
    on_gpu = accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available())
    settings: dict[str, Any] = {
        "accelerator": "gpu" if on_gpu else "cpu",
        "devices": config.devices,
        "num_nodes": 1,
        "strategy": config.strategy,
        "precision": "bf16-mixed" if on_gpu else "32-true",
    }
    elastic = all(key in os.environ for key in ("RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "WORLD_SIZE"))
    if elastic:
        local, world = int(os.environ["LOCAL_WORLD_SIZE"]), int(os.environ["WORLD_SIZE"])
        if isinstance(config.devices, int) and config.devices != local:
            logger.warning("devices=%d ignored: torchrun started %d local process(es)", config.devices, local)
        settings.update(
            devices=local, num_nodes=max(1, world // local), strategy="ddp" if world > 1 else "auto"
        )
    elif not on_gpu and config.devices == "auto":
        settings["devices"] = 1
    return settings


#: Key of a checkpoint under which the identity of its inputs and config is saved.
RESUME_KEY = "dynaclr_resume"


class TrainInputs(StageFiles):
    """Rule ``train_contrastive``: the patch store and its index."""

    patches_zarr: Path
    patches_parquet: Path


class TrainOutputs(StageFiles):
    """Rule ``train_contrastive``: the exported model and its config."""

    checkpoint: Path
    config: Path


def resume_identity(config_json: dict[str, Any], store: PatchStore) -> dict[str, Any]:
    """What a resumable checkpoint must have been made from: this config and this patch store.

    The store is named by its and its index's provenance (config hashes and creation times), so
    a store rebuilt with another normalisation, or rebuilt at all, never resumes an old run.
    """
    return {
        "config_hash": config_hash(config_json),
        "patches": [store.provenance.config_hash, store.provenance.created],
        "index": [store.index_provenance.config_hash, store.index_provenance.created],
        "n_patches": int(store.array.shape[0]),
    }


class ResumeIdentity(Callback):
    """Save :func:`resume_identity` into every checkpoint Lightning writes."""

    def __init__(self, identity: dict[str, Any]) -> None:
        self.identity = identity

    def on_save_checkpoint(self, trainer: Trainer, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        checkpoint[RESUME_KEY] = self.identity


def _move_aside(path: Path, reason: str) -> None:
    aside = path.with_name(path.name + CORRUPT_SUFFIX)
    if int(os.environ.get("RANK", "0")) == 0:
        try:
            path.replace(aside)
        except FileNotFoundError:  # another process moved it already
            pass
    logger.warning("%s: %s; moved aside to %s, starting from scratch", path, reason, aside)


def resumable_checkpoint(path: Path, identity: dict[str, Any]) -> Path | None:
    """``path`` if it exists and was made from the inputs and config of ``identity``, else ``None``.

    The file is read with ``weights_only=True`` (a planted file cannot run code). An unreadable one
    (truncated by a killed job, or not a weights-only checkpoint) is moved aside to
    ``<path>.corrupt`` by rank 0 with a warning, so it is kept for inspection and never read
    again; one made from other inputs or another config is left to be overwritten.
    """
    if not path.exists():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict):
            raise TypeError(f"expected a Lightning checkpoint dict, found {type(checkpoint).__name__}")
    except Exception as err:  # a truncated file, or one torch refuses to read without running code
        _move_aside(path, f"unreadable checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})")
        return None
    stored = checkpoint.get(RESUME_KEY)
    if stored != identity:
        differs = (
            "no record of its inputs"
            if not isinstance(stored, dict)
            else ", ".join(key for key in identity if stored.get(key) != identity[key]) + " differ"
        )
        logger.warning(
            "%s was made from other inputs or another config (%s); starting from scratch (it will be "
            "overwritten)",
            path,
            differs,
        )
        return None
    logger.info("resuming from %s", path)
    return path


def _export_model(source: Path, target: Path, provenance: Provenance, summary: dict[str, Any]) -> None:
    """Write the weights and hyperparameters of checkpoint ``source`` with provenance to ``target``."""
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    exported = {key: checkpoint[key] for key in _EXPORTED_KEYS if key in checkpoint}
    exported["hyper_parameters"] = json.loads(json.dumps(dict(exported["hyper_parameters"])))
    exported[PROVENANCE_KEY] = json.loads(provenance.model_dump_json())
    exported[TRAINING_SUMMARY_KEY] = json.loads(json.dumps(summary, default=str))
    with atomic_output(target) as tmp:
        torch.save(exported, tmp)


def train_contrastive(
    config: ContrastiveModelConfig,
    inputs: TrainInputs,
    outputs: TrainOutputs,
    *,
    work_dir: str | Path,
    num_threads: int | None = None,
    fast_dev_run: bool = False,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Train a contrastive encoder on a patch store; see the module docstring for the outputs.

    Args:
        config: the model config.
        inputs, outputs: the rule's files.
        work_dir: where ``logs/`` and the resumable ``checkpoints/`` go.
        num_threads: torch CPU threads of this process (the cores given to the job, divided by
            the processes on the node); ``None`` keeps torch's setting. More threads than free
            cores makes CPU training several times slower.
        fast_dev_run: one training and one validation batch (smoke tests); the model then holds
            the resulting weights.
        model_name: the model's name in the workflow config, recorded in the exported model's
            ``dynaclr_training`` summary (``model_name``): embedding checks that ``model.ckpt`` is
            the model it embeds with (:func:`~dynaclr.training.checkpoint.check_checkpoint_identity`).

    Returns:
        A summary: paths, split, anchors, epochs and steps run, best validation loss, seconds.

    Raises:
        TrainingPreempted: on SIGUSR1 or SIGURG, after saving ``checkpoints/last.ckpt``.
    """
    preemption = PreemptionFlag()
    preemption.install()
    try:
        return _train(
            config, inputs, outputs, Path(work_dir), num_threads, fast_dev_run, preemption, model_name
        )
    finally:
        preemption.restore()


def open_training_store(config: ContrastiveModelConfig, inputs: TrainInputs) -> tuple[PatchStore, int]:
    """The patch store, checked against the config, and ``tau`` in frames.

    Raises:
        ValueError: naming the file or key: an unknown backbone, an empty store, another patch
            spec, patches too small for the augmentation's zooms, a depth the stem does not divide,
            a ``tau`` longer than every lineage.
    """
    check_backbone(config.backbone)
    store = open_patch_store(inputs.patches_zarr, inputs.patches_parquet)
    where = inputs.patches_zarr
    if store.array.shape[0] == 0:
        raise ValueError(
            f"{where}: the patch store holds no patches (its tracks table was empty); expected at "
            "least one patch per batch; check the tracking output or the tracks table"
        )
    if store.spec_name != config.patch_spec:
        raise ValueError(
            f"{where} holds patch spec {store.spec_name!r}, the model config names patch_spec "
            f"{config.patch_spec!r}; pass the {config.patch_spec!r} store or fix patch_spec"
        )
    _, _, n_slices, initial_size, _ = store.array.shape
    augmentation = config.augmentation
    needed = required_initial_patch_size_px(
        store.patch_size_yx_px, augmentation.affine_scale_range, augmentation.affine_shear_range
    )
    if initial_size < needed:
        raise ValueError(
            f"{where}: patches are {initial_size} px, but zooms of ±{augmentation.affine_scale_range} "
            f"into a {store.patch_size_yx_px} px view need {needed} px; raise the spec's "
            "initial_patch_size_yx_px or lower augmentation.affine_scale_range"
        )
    if n_slices % config.stem_kernel_z:
        raise ValueError(
            f"stem_kernel_z={config.stem_kernel_z} must divide the patch depth Z={n_slices} of {where}"
        )
    tau_frames = resolve_tau_frames(config, store.time_interval_minutes)
    check_tau_fits(store.index, tau_frames, config.tau_tolerance_frames, inputs.patches_parquet)
    return store, tau_frames


def _trainer(
    config: ContrastiveModelConfig,
    settings: dict[str, Any],
    work_dir: Path,
    callbacks: list[Callback],
    fast_dev_run: bool,
) -> Trainer:
    return Trainer(
        **settings,
        max_epochs=config.epochs,
        max_time=datetime.timedelta(minutes=config.max_minutes) if config.max_minutes else None,
        callbacks=callbacks,
        logger=[
            TensorBoardLogger(work_dir / LOG_DIR, name="tensorboard"),
            CSVLogger(work_dir / LOG_DIR, name="csv"),
        ],
        default_root_dir=work_dir,
        log_every_n_steps=config.log_every_n_steps,
        use_distributed_sampler=False,
        fast_dev_run=fast_dev_run,
        enable_model_summary=False,
    )


def _train(
    config: ContrastiveModelConfig,
    inputs: TrainInputs,
    outputs: TrainOutputs,
    work_dir: Path,
    num_threads: int | None,
    fast_dev_run: bool,
    preemption: PreemptionFlag,
    model_name: str | None,
) -> dict[str, Any]:
    """Read and check the store, train, export: the body of :func:`train_contrastive`."""
    started = time.perf_counter()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    store, tau_frames = open_training_store(config, inputs)
    train_fovs, validation_fovs = split_fovs(
        store.index["fov_name"].unique().tolist(),
        config.validation_fraction,
        config.seed,
        config.validation_fovs,
    )
    config_json = config.model_dump(mode="json")
    settings = _launch_settings(config)
    if int(os.environ.get("RANK", "0")) == 0:
        with atomic_output(outputs.config) as tmp:
            tmp.write_text(json.dumps(config_json, indent=2) + "\n")

    seed_everything(config.seed, workers=True, verbose=False)
    _, n_channels, n_slices, _, _ = store.array.shape
    final_size = store.patch_size_yx_px
    module = ContrastiveModule(config_json, n_channels, n_slices, final_size, tau_frames)
    augment_in = config.resolved_augment_in(settings["accelerator"])
    data = PatchDataModule(
        store.zarr_path,
        store.index,
        config,
        tau_frames,
        train_fovs,
        validation_fovs,
        pin_memory=settings["accelerator"] == "gpu",
        augmentation=BatchAugmentation(config.augmentation, output_size_yx=(final_size, final_size))
        if augment_in == "workers"
        else None,
    )
    logger.info(
        "augmenting batches %s",
        "in the data-loader workers" if augment_in == "workers" else "on the training device",
    )
    last = work_dir / CHECKPOINT_DIR / "last.ckpt"
    checkpoints = ModelCheckpoint(
        dirpath=work_dir / CHECKPOINT_DIR,
        filename="best",
        monitor="val/loss" if validation_fovs else None,
        mode="min",
        save_top_k=1,
        save_last=True,
        enable_version_counter=False,
    )
    identity = resume_identity(config_json, store)
    callbacks: list[Callback] = [
        checkpoints,
        ResumeIdentity(identity),
        LearningRateMonitor(logging_interval="step"),
        CheckpointOnPreemption(preemption, last),
    ]
    if config.record_sample_rows:
        callbacks.append(SampleRowRecorder(work_dir / LOG_DIR))
    trainer = _trainer(config, settings, work_dir, callbacks, fast_dev_run)
    resume = None if fast_dev_run else resumable_checkpoint(last, identity)
    with warnings.catch_warnings():
        # Lightning cannot see that the batch sampler resumes mid-epoch itself (it asks the trainer
        # for its step: ContrastiveBatchSampler.position), and would warn that results are unreliable
        warnings.filterwarnings(
            "ignore", message="You're resuming from a checkpoint that ended before the epoch"
        )
        trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)

    best = checkpoints.best_model_path if validation_fovs else checkpoints.last_model_path
    best_score = checkpoints.best_model_score
    summary: dict[str, Any] = {
        "model_name": model_name,
        "model_path": str(outputs.checkpoint),
        "resumed_from": str(resume) if resume else None,
        "train_fovs": train_fovs,
        "validation_fovs": validation_fovs,
        "tau_frames": tau_frames,
        "n_patches": int(store.array.shape[0]),
        "n_train_anchors": len(data.train_sampler.planner.anchors) if data.train_sampler else 0,
        "epochs_completed": int(trainer.current_epoch),
        "global_step": int(trainer.global_step),
        "best_validation_loss": float(best_score) if best_score is not None else None,
        "world_size": int(trainer.world_size),
        "accelerator": settings["accelerator"],
        "precision": settings["precision"],
        "augment_in": augment_in,
    }
    source = Path(best) if best else work_dir / CHECKPOINT_DIR / "final.ckpt"
    if not best:
        trainer.save_checkpoint(source)  # collective: every rank calls it
    if trainer.is_global_zero:
        summary["checkpoint"] = str(source)
        summary["seconds"] = time.perf_counter() - started
        provenance = make_provenance(
            ArtifactKind.CONTRASTIVE_MODEL,
            config_json,
            inputs=[(store.zarr_path, store.provenance), (store.parquet_path, store.index_provenance)],
        )
        _export_model(source, outputs.checkpoint, provenance, summary)
        logger.info("trained %s in %.0f s: %s", config.backbone, summary["seconds"], summary)
    summary["seconds"] = time.perf_counter() - started
    return summary


def load_contrastive_model(
    path: str | Path, map_location: str = "cpu"
) -> tuple[ContrastiveModule, Provenance]:
    """Load ``model.ckpt`` (kind ``contrastive_model``) as an eval-mode :class:`ContrastiveModule`.

    ``module(x)`` then maps centre-cropped patches ``(B, C, Z, S, S)`` to embeddings ``(B, E)``.
    """
    checkpoint, provenance = load_checkpoint(path, map_location)
    module = ContrastiveModule(**checkpoint["hyper_parameters"])
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    return module, provenance
