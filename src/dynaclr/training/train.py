"""Train a contrastive encoder on a patch store, or on several pooled (rule ``train_contrastive``).

Inputs (:class:`TrainInputs`): one collected patch store and its index per training dataset.
Several stores are pooled into one training set (:class:`TrainingStores`):

* they must agree on what the network sees: the patch spec (the config's ``patch_spec``), the
  channels in order, the Z depth, the patch size and the initial (stored) patch size;
* each dataset has a name (``dataset_names``; default the name a store records under its
  ``dataset`` attribute, else ``store0``, ``store1``, ...), and its FOVs are named
  ``dataset:A/1/0`` inside training (FOV names, and so tracks and lineages, never join two
  stores' cells: positives stay in one store and one lineage); one store keeps plain FOV names;
* ``tau_minutes`` is converted to frames with each store's own time interval (``tau_frames`` is
  the same frames everywhere), and must fit each store's lineages;
* ``validation_fraction`` splits each store's FOVs separately (the same seed for each);
  ``validation_fovs`` entries name a FOV as ``dataset:A/1/0`` (a plain name only with one store).

A single store trains exactly as before pooling existed (same seed, same weights).

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
  same patch stores (every store's and index's provenance, and with several stores their dataset
  names, in order) on the same number of ranks (devices x nodes: an epoch's batches, and so the
  batch a resumed run continues at, depend on it); otherwise training starts from scratch and
  says why. A ``last.ckpt`` that cannot be read (a job killed while writing it, or a file that is
  not a weights-only checkpoint) is moved aside to ``last.ckpt.corrupt`` with a warning. Every
  checkpoint is read with ``weights_only=True``: no file can run code.
  On SIGUSR1 or SIGURG (a SLURM time-limit or preemption warning) training saves ``last.ckpt`` at
  the next optimizer step and raises :class:`~dynaclr.training.preemption.TrainingPreempted`
  (see :mod:`dynaclr.training.preemption`).

Bad inputs fail before any training with a message naming the file or config key, what was
expected and what was found: an unknown ``backbone``, a store without patches, a ``tau`` longer
than every lineage of a store, a wrong patch spec or patch depth, pooled stores that disagree on
channels, depth or patch size (naming both files), or an ambiguous ``validation_fovs`` entry.

``model.ckpt``'s provenance lists every store and index as inputs; its ``hyper_parameters``
record ``tau_frames``: frames, or ``{dataset: frames}`` when the datasets' ``tau_minutes`` give
different frame counts; its training summary adds ``datasets`` and ``tau_frames_per_dataset``.

Launch on several devices with ``torchrun --standalone --nproc-per-node=N -m dynaclr.training ...``:
Lightning reads TorchElastic's environment (gloo backend on CPU, NCCL on GPU).
"""

from __future__ import annotations

import datetime
import difflib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, Timer
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from pydantic import field_validator, model_validator

from dynaclr.config.backbones import input_size_problem
from dynaclr.config.patches import required_initial_patch_size_px
from dynaclr.config.training import (
    FOV_SEPARATOR,
    TAU_MINUTES_TOLERANCE,
    ContrastiveModelConfig,
    common_tau_minutes,
    tau_minutes_in_frames,
)
from dynaclr.config.transfer_checks import DatasetSampling
from dynaclr.contrastive.augment import BatchAugmentation
from dynaclr.io import ArtifactKind, Provenance, StageFiles, atomic_output, config_hash, make_provenance
from dynaclr.io.provenance import PROVENANCE_KEY
from dynaclr.numerics.device import check_accelerator
from dynaclr.numerics.progress import ProgressLog
from dynaclr.patches.store import PatchStore, open_patch_store
from dynaclr.training.checkpoint import (
    TRAINING_SUMMARY_KEY,
    load_checkpoint,
    non_finite_weights,
    recorded_config,
)
from dynaclr.training.data import PatchBatch, PatchDataModule
from dynaclr.training.module import ContrastiveModule
from dynaclr.training.preemption import PreemptionFlag, TrainingPreempted
from dynaclr.training.sampling import (
    lineage_codes,
    pool_patch_indexes,
    split_pooled_fovs,
    without_excluded_fovs,
)

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


def check_tau_fits(
    index: pd.DataFrame,
    tau_frames: int,
    tolerance_frames: int,
    where: str | Path,
    lineage: np.ndarray | None = None,
) -> None:
    """Fail when ``tau`` (minus its tolerance) is longer than every lineage's span in ``index``.

    Such a ``tau`` leaves no time-aware anchor: no cell is seen ``tau`` frames after itself.
    ``lineage``: the :func:`~dynaclr.training.sampling.lineage_codes` of ``index`` where the caller
    holds them (computed otherwise).
    """
    if tau_frames < 1 or index.empty:
        return
    # lineage_id groups joined through parent links, as sampling joins them
    codes = lineage_codes(index)[0] if lineage is None else lineage
    spans = index["t"].groupby(codes).agg(lambda t: int(t.max() - t.min()))
    longest = int(spans.max())
    if tau_frames - tolerance_frames > longest:
        first = index.iloc[int(np.flatnonzero(codes == spans.idxmax())[0])]
        raise ValueError(
            f"{where}: tau = {tau_frames} frames (± tau_tolerance_frames={tolerance_frames}) is longer than "
            f"every lineage: expected a lineage spanning at least {tau_frames - tolerance_frames} frames, "
            f"the longest (FOV {first['fov_name']}, lineage {first['lineage_id']}) spans {longest}; use "
            f"tau_frames <= {longest + tolerance_frames} (or a smaller tau_minutes)"
        )


def resolve_tau_frames(
    config: ContrastiveModelConfig, time_interval_minutes: float | None, where: str | Path | None = None
) -> int:
    """``tau`` in frames: ``tau_frames``, or ``tau_minutes`` / the dataset's time interval, which must be
    a whole number of frames (:func:`~dynaclr.config.training.tau_minutes_in_frames`): one that is not
    raises, as the dry run refuses it, rather than training on another tau.

    ``where`` (the store) prefixes the messages.
    """
    if config.sampling != "time_aware":
        return 0
    if config.tau_frames is not None:
        return config.tau_frames
    assert config.tau_minutes is not None
    prefix = f"{where}: " if where is not None else ""
    if not time_interval_minutes:
        raise ValueError(
            f"{prefix}tau_minutes needs the dataset's time interval, but the patch store does not record "
            "it; use tau_frames"
        )
    frames, exact = tau_minutes_in_frames(config.tau_minutes, time_interval_minutes)
    if frames < 1 or not exact:  # the workflow's dry run refuses it too (plate_checks)
        advised = common_tau_minutes(config.tau_minutes, [time_interval_minutes])
        raise ValueError(
            f"{prefix}tau_minutes: expected a whole number of the {time_interval_minutes:g} min frames, "
            f"within {TAU_MINUTES_TOLERANCE:.0%} of one frame interval, found {config.tau_minutes:g} min = "
            f"{config.tau_minutes / time_interval_minutes:g} frames; use "
            + " or ".join(f"{v:g}" for v in advised)
            + ", or tau_frames"
        )
    return frames


class SampleRowRecorder(Callback):
    """Record the patch rows every training batch used: ``logs/sample_rows_rank{r}.parquet``.

    With pooled stores the rows are numbered across them, in the order of the inputs.
    """

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
    """Accelerator, devices, nodes, strategy and precision; TorchElastic's environment wins.

    Raises:
        RuntimeError: ``accelerator: gpu`` where torch sees no GPU (naming the key).
    """
    accelerator = config.accelerator
    check_accelerator(accelerator, "training.accelerator")
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
#: How the training sampler forms epochs, in :func:`resume_identity`: 2, every epoch cut to the fewest
#: batches any epoch forms (before, absent: Lightning trained epoch 0's count every epoch). A checkpoint
#: of another version starts from scratch (a forced rerun then retrains, never resumes a finished run).
SAMPLER_VERSION = 2


class TrainInputs(StageFiles):
    """Rule ``train_contrastive``: the patch stores and their indexes, one of each per dataset.

    ``patches_zarr[i]`` and ``patches_parquet[i]`` are dataset ``i``'s store and index (a single
    path is one dataset). ``dataset_names``: one name per store (without ``:``); by default the
    name a store records (its ``dataset`` attribute), else ``store0``, ``store1``, ...
    """

    patches_zarr: tuple[Path, ...]
    patches_parquet: tuple[Path, ...]
    dataset_names: tuple[str, ...] | None = None

    @field_validator("patches_zarr", "patches_parquet", mode="before")
    @classmethod
    def _one_or_several(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str | Path) else value

    @model_validator(mode="after")
    def _one_per_dataset(self) -> TrainInputs:
        n_stores = len(self.patches_zarr)
        if n_stores == 0:
            raise ValueError("patches_zarr: expected at least one patch store")
        if len(self.patches_parquet) != n_stores:
            raise ValueError(
                f"expected one patches_parquet per patches_zarr, in the same order: got {n_stores} stores "
                f"{[str(p) for p in self.patches_zarr]} and {len(self.patches_parquet)} indexes "
                f"{[str(p) for p in self.patches_parquet]}"
            )
        if self.dataset_names is not None:
            check_dataset_names(self.dataset_names, n_stores, "dataset_names")
        return self


class TrainOutputs(StageFiles):
    """Rule ``train_contrastive``: the exported model and its config."""

    checkpoint: Path
    config: Path


def check_dataset_names(names: Sequence[str], n_stores: int, key: str) -> None:
    """Fail naming ``key`` unless ``names`` are ``n_stores`` distinct non-empty names without ``:``."""
    if len(names) != n_stores:
        raise ValueError(f"{key}: expected one dataset name per patch store ({n_stores}), got {list(names)}")
    bad = [name for name in names if not name or FOV_SEPARATOR in name]
    if bad:
        raise ValueError(f"{key}: dataset names must be non-empty and without {FOV_SEPARATOR!r}, got {bad}")
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if list(names).count(name) > 1})
        raise ValueError(
            f"{key}: dataset names must differ, {repeated} name several stores; pass distinct dataset names"
        )


def resume_identity(
    config_json: dict[str, Any],
    store: PatchStore | Sequence[PatchStore],
    datasets: Sequence[str] = (),
    world_size: int = 1,
    numerics: tuple[str, str] = ("cpu", "32-true"),
) -> dict[str, Any]:
    """What a resumable checkpoint must have been made from: this config, these patch stores, this
    way of forming epochs (:data:`SAMPLER_VERSION`), this number of ranks (``world_size``) and these
    numerics (``numerics``: the accelerator and Lightning precision of :func:`_launch_settings`).

    An epoch holds ``1 / world_size`` as many steps on ``world_size`` ranks (a global batch is
    ``batch_size x world_size`` anchors), and a resumed run finds its batch in the epoch from the step:
    a checkpoint of another number of ranks would resume at another batch (skipping or replaying
    part of the data), with another global batch and learning-rate schedule. It is not resumed.
    ``world_size`` is recorded when above 1 (an identity of one rank is the one it always was).

    ``accelerator: auto`` trains on a GPU in bfloat16 (``bf16-mixed``, augmenting with CUDA's
    generator) and on CPU in float32: a run preempted on a GPU node and requeued on a CPU one (or
    rerun on a laptop) would go on in other numerics and other augmentation draws, and record only
    the last ones. The numerics are recorded where they are not CPU float32's (the identity of a CPU
    run is the one it always was): another one is not resumed.

    A store is named by its and its index's provenance (config hashes and creation times), so
    a store rebuilt with another normalisation, or rebuilt at all, never resumes an old run. One
    store gives the identity it always had; several give per-store lists (in order) and the
    dataset names (they name the FOVs, so the split), so another list of stores never resumes.
    """
    stores = [store] if isinstance(store, PatchStore) else list(store)
    ranks: dict[str, Any] = {"world_size": int(world_size)} if world_size > 1 else {}
    if tuple(numerics) != ("cpu", "32-true"):
        ranks["accelerator"], ranks["precision"] = numerics
    if len(stores) == 1:
        only = stores[0]
        return {
            "config_hash": config_hash(config_json),
            "patches": [only.provenance.config_hash, only.provenance.created],
            "index": [only.index_provenance.config_hash, only.index_provenance.created],
            "n_patches": int(only.array.shape[0]),
            "sampler_version": SAMPLER_VERSION,
            **ranks,
        }
    return {
        "config_hash": config_hash(config_json),
        "patches": [[s.provenance.config_hash, s.provenance.created] for s in stores],
        "index": [[s.index_provenance.config_hash, s.index_provenance.created] for s in stores],
        "n_patches": [int(s.array.shape[0]) for s in stores],
        "datasets": list(datasets),
        "sampler_version": SAMPLER_VERSION,
        **ranks,
    }


class ResumeIdentity(Callback):
    """Save :func:`resume_identity` into every checkpoint Lightning writes."""

    def __init__(self, identity: dict[str, Any]) -> None:
        self.identity = identity

    def on_save_checkpoint(self, trainer: Trainer, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        checkpoint[RESUME_KEY] = self.identity


class EpochsTrained(Callback):
    """Count the epochs whose every batch trained, kept in the checkpoints (a resumed run goes on
    counting). Lightning counts an epoch a stop (the ``max_minutes`` timer) cut short as completed
    (``trainer.current_epoch``); here an epoch counts at the end of the batch that ends it (the
    epoch's last: ``is_last_batch``, or its ``num_training_batches``-th), so an epoch a stop cut
    short never counts. Counted there, not at the epoch's end: a preemption checkpoint saved at an
    epoch's last batch (:class:`CheckpointOnPreemption`, after this callback) holds the epoch, which
    the resumed run, going on after that batch, never ends again. Must come before
    :class:`CheckpointOnPreemption` in the trainer's callbacks."""

    def __init__(self) -> None:
        self.epochs: int | None = None  # None: a run resumed from a checkpoint without the count

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        progress = trainer.fit_loop.epoch_loop.batch_progress
        if not (progress.is_last_batch or progress.current.ready >= trainer.num_training_batches):
            return
        if self.epochs is None:
            self.epochs = int(trainer.current_epoch)  # Lightning's count of the epochs before this one
        self.epochs += 1

    def trained(self, trainer: Trainer) -> int:
        """The epochs trained in full (Lightning's count where no epoch ended in this run or before)."""
        return self.epochs if self.epochs is not None else int(trainer.current_epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs = state_dict.get("epochs")


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
            else ", ".join(key for key in {**stored, **identity} if stored.get(key) != identity.get(key))
            + " differ"
        )
        if isinstance(stored, dict) and stored.get("world_size", 1) != identity.get("world_size", 1):
            differs += (
                f": made on {stored.get('world_size', 1)} rank(s), this run has "
                f"{identity.get('world_size', 1)}; an epoch holds another number of batches there, so it "
                "cannot resume at its batch"
            )
        made, here = (
            (record.get("accelerator", "cpu"), record.get("precision", "32-true"))
            for record in (stored if isinstance(stored, dict) else identity, identity)
        )
        if made != here:
            # a record without the keys: CPU float32, or a checkpoint saved before they were recorded
            unrecorded = isinstance(stored, dict) and not {"accelerator", "precision"} & stored.keys()
            differs += (
                f": made on {made[0]} in {made[1]}"
                + (", or before checkpoints recorded their numerics" if unrecorded else "")
                + f", this run trains on {here[0]} in {here[1]}; its steps would go on in other numerics "
                "and augmentation draws"
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
    """Write the weights and hyperparameters of checkpoint ``source`` with provenance to ``target``.

    Raises:
        FloatingPointError: the weights hold NaN or infinite values (a run that diverged after its
            last checked loss): ``target`` is not written, every embedding made with it would be NaN.
    """
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    bad = non_finite_weights(checkpoint["state_dict"])
    if bad:
        raise FloatingPointError(
            f"{source}: expected finite trained weights, found {bad} at step "
            f"{checkpoint.get('global_step')}; {target} is not written: training diverged (lower "
            "training.learning_rate or raise training.warmup_epochs) or its patches hold NaN"
        )
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
    training_sampling: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train a contrastive encoder on one patch store or several pooled; see the module docstring.

    Args:
        config: the model config.
        inputs, outputs: the rule's files (``inputs``: one store and index per dataset).
        work_dir: where ``logs/`` and the resumable ``checkpoints/`` go.
        num_threads: torch CPU threads of this process (the cores given to the job, divided by
            the processes on the node); ``None`` keeps torch's setting. More threads than free
            cores makes CPU training several times slower.
        fast_dev_run: one training and one validation batch (smoke tests); the model then holds
            the resulting weights.
        model_name: the model's name in the workflow config, recorded in the exported model's
            ``dynaclr_training`` summary (``model_name``): embedding checks that ``model.ckpt`` is
            the model it embeds with (:func:`~dynaclr.training.checkpoint.check_checkpoint_identity`).
        training_sampling: the sampling of each store's dataset, in the stores' order, as the
            workflow states it (:meth:`~dynaclr.config.transfer_checks.DatasetSampling.to_json`:
            pixel size, z step, time interval, ``None`` where nothing states it), recorded in the
            summary (``training_sampling``): ``import_model`` compares it with the datasets an
            imported copy embeds. ``None``: not known (recorded as ``null``, the import warns).

    Returns:
        A summary: paths, split, anchors, epochs and steps run, best validation loss, seconds.

    Raises:
        TrainingPreempted: on SIGUSR1 or SIGURG, after saving ``checkpoints/last.ckpt``.
    """
    preemption = PreemptionFlag()
    preemption.install()
    # Lightning's DDP strategies (strategy: ddp, or several devices, launched without torchrun) set
    # torch's threads to the machine's cores / processes where OMP_NUM_THREADS is unset, overriding
    # num_threads (or the caller's setting): the variable holds them for the run
    omp_threads = os.environ.get("OMP_NUM_THREADS")
    if omp_threads is None:
        os.environ["OMP_NUM_THREADS"] = str(
            num_threads if num_threads is not None else torch.get_num_threads()
        )
    try:
        return _train(
            config,
            inputs,
            outputs,
            Path(work_dir),
            num_threads,
            fast_dev_run,
            preemption,
            (model_name, None if training_sampling is None else list(training_sampling)),
        )
    finally:
        preemption.restore()
        if omp_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)


@dataclass
class TrainingStores:
    """The patch stores a model trains on (one per dataset), checked, with their pooled index.

    Attributes:
        stores: the opened stores, in the order of the inputs.
        datasets: their dataset names.
        tau_frames: each store's ``tau`` in frames (0 without time-aware sampling).
        index: the pooled index (:func:`~dynaclr.training.sampling.pool_patch_indexes`): rows
            numbered across the stores, ``store`` and ``store_row`` columns, FOV names qualified
            by dataset when there are several stores.
        lineage: the :func:`~dynaclr.training.sampling.lineage_codes` of ``index`` ``(N,)``, computed
            once for the run (a single store's are its own index's) and given to its planners.
    """

    stores: list[PatchStore]
    datasets: list[str]
    tau_frames: list[int]
    index: pd.DataFrame
    lineage: np.ndarray

    @property
    def zarr_paths(self) -> tuple[Path, ...]:
        return tuple(store.zarr_path for store in self.stores)

    @property
    def n_patches(self) -> int:
        return sum(int(store.array.shape[0]) for store in self.stores)

    def fovs_per_dataset(self) -> dict[str, list[str]]:
        """Each dataset's FOV names, as its store's index names them (unqualified)."""
        return {
            name: store.index["fov_name"].unique().tolist()
            for name, store in zip(self.datasets, self.stores, strict=True)
        }

    def tau_of_rows(self) -> int | np.ndarray:
        """``tau`` for the pair planner: one number when every store agrees, else one per pooled row."""
        if len(set(self.tau_frames)) == 1:
            return self.tau_frames[0]
        return np.asarray(self.tau_frames, dtype=np.int64)[self.index["store"].to_numpy()]

    def recorded_tau(self) -> int | dict[str, int]:
        """``tau`` as the checkpoint records it: frames, or ``{dataset: frames}`` when they differ."""
        if len(set(self.tau_frames)) == 1:
            return self.tau_frames[0]
        return dict(zip(self.datasets, self.tau_frames, strict=True))


def _recorded_dataset_name(store: PatchStore) -> str | None:
    """The dataset name a store records (its ``dataset`` attribute), if any."""
    name = store.attributes.get("dataset")
    return name if isinstance(name, str) and name else None


def _dataset_names(inputs: TrainInputs, stores: Sequence[PatchStore]) -> list[str]:
    if inputs.dataset_names is not None:
        return list(inputs.dataset_names)
    names = [_recorded_dataset_name(store) or f"store{number}" for number, store in enumerate(stores)]
    check_dataset_names(names, len(stores), "dataset names (recorded by the stores or store0, store1, ...)")
    return names


def _time_interval(store: PatchStore) -> float | None:
    interval = store.attributes.get("time_interval_minutes")
    return None if interval is None else float(interval)


def _check_stores_agree(stores: Sequence[PatchStore]) -> None:
    """Fail naming both files, the property and both values where a store differs from the first."""
    first = stores[0]

    def seen(store: PatchStore) -> dict[str, Any]:
        _, _, n_slices, initial_y, initial_x = store.array.shape
        return {
            "patch spec": store.spec_name,
            "channel names": store.channel_names,
            "patch depth Z (slices)": int(n_slices),
            "patch_size_yx_px": store.patch_size_yx_px,
            "initial patch size (stored Y, X px)": [int(initial_y), int(initial_x)],
        }

    expected = seen(first)
    for store in stores[1:]:
        for name, value in seen(store).items():
            if value != expected[name]:
                raise ValueError(
                    f"pooled patch stores disagree on {name}: {first.zarr_path} has {expected[name]!r}, "
                    f"{store.zarr_path} has {value!r}; stores trained together must be made with the "
                    "same patch spec (channels, z window, patch sizes)"
                )


def open_training_store(config: ContrastiveModelConfig, inputs: TrainInputs) -> TrainingStores:
    """The patch stores, checked against the config and each other, pooled; ``tau`` per store.

    Raises:
        ValueError: naming the file or key: an unknown backbone, an empty store, stores that
            disagree on what the network sees (naming both files), another patch spec, patches
            too small for the augmentation's zooms, a depth the stem does not divide, a ``tau``
            longer than every lineage of a store, repeated dataset names.
    """
    check_backbone(config.backbone)
    stores = [
        open_patch_store(zarr_path, parquet_path)
        for zarr_path, parquet_path in zip(inputs.patches_zarr, inputs.patches_parquet, strict=True)
    ]
    for store in stores:
        store.require_patches("every batch")
    _check_stores_agree(stores)
    for store in stores:
        _check_store(config, store)
    datasets = _dataset_names(inputs, stores)
    tau_frames = []
    for store in stores:
        lineage, disagreeing = lineage_codes(store.index)  # once per store: the warning and tau's check
        _warn_lineages_joined(store, disagreeing)
        tau = resolve_tau_frames(config, _time_interval(store), store.zarr_path if len(stores) > 1 else None)
        check_tau_fits(store.index, tau, config.tau_tolerance_frames, store.parquet_path, lineage=lineage)
        tau_frames.append(tau)
    if len(set(tau_frames)) > 1:
        logger.info("tau per dataset (frames): %s", dict(zip(datasets, tau_frames, strict=True)))
    index = pool_patch_indexes([store.index for store in stores], datasets)
    if len(stores) > 1:  # FOV names qualified by dataset: the pooled index's own (one store: its own)
        lineage, _ = lineage_codes(index)
    return TrainingStores(
        stores=stores, datasets=datasets, tau_frames=tau_frames, index=index, lineage=lineage
    )


def _warn_lineages_joined(store: PatchStore, disagreeing: int | None = None) -> None:
    """Warn, naming the index, where its ``lineage_id`` does not follow ``parent_track_id``: training
    joins those lineages (:func:`~dynaclr.training.sampling.lineage_codes`, which counts the
    ``disagreeing`` tracks; computed here where the caller does not hold the count)."""
    if disagreeing is None:
        _, disagreeing = lineage_codes(store.index)
    if disagreeing and _global_rank_zero():
        logger.warning(
            "%s: the lineage_id of %d track(s) is not that of their parent track (expected a daughter in "
            "her mother's lineage, as the patch stage computes lineage_id from parent_track_id; e.g. a "
            "tracks table giving each track its own lineage_id): training joins these lineages through "
            "parent_track_id, so a mother and her daughters, whom time-aware positives link, are never "
            "negatives of each other",
            store.parquet_path,
            disagreeing,
        )


def _check_store(config: ContrastiveModelConfig, store: PatchStore) -> None:
    """One store against the config: patch spec, augmentation margin, stem divisibility."""
    where = store.zarr_path
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
    size = (store.patch_size_yx_px, store.patch_size_yx_px)
    problem = input_size_problem("backbone", config.backbone, size, f"the patch spec of {where}")
    if problem:
        raise ValueError(problem)


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
        # a job's log is a file: ProgressLog writes lines there; the bar is for a terminal
        enable_progress_bar=sys.stderr.isatty(),
    )


def _check_training_sampling(records: list[Mapping[str, Any]] | None, datasets: list[str]) -> None:
    """``records`` (``training_sampling``) hold one sampling per store, of its dataset, in order.

    Raises:
        ValueError: another count or order of datasets, or a malformed record (naming the key).
    """
    if records is None:
        return
    for record in records:
        DatasetSampling.from_json(record)
    named = [record["dataset"] for record in records]
    if named != datasets:
        raise ValueError(
            f"training_sampling: expected the sampling of the datasets {datasets} (one per store, in their "
            f"order), found that of {named}; give --training-sampling the records of --datasets, in order"
        )


def _train(
    config: ContrastiveModelConfig,
    inputs: TrainInputs,
    outputs: TrainOutputs,
    work_dir: Path,
    num_threads: int | None,
    fast_dev_run: bool,
    preemption: PreemptionFlag,
    recorded: tuple[str | None, list[Mapping[str, Any]] | None],
) -> dict[str, Any]:
    """Read and check the stores, train, export: the body of :func:`train_contrastive`
    (``recorded``: its ``model_name`` and ``training_sampling``)."""
    started = time.perf_counter()
    model_name, training_sampling = recorded
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    settings = _launch_settings(config)  # a GPU asked for where there is none fails before any data is read
    warmup = config.warmup_warning(f"contrastive_models.{model_name}.training" if model_name else "training")
    if warmup and _global_rank_zero():  # once in the job's log, not once per DDP rank
        logger.warning("%s", warmup)
    pooled = open_training_store(config, inputs)
    _check_training_sampling(training_sampling, pooled.datasets)
    store = pooled.stores[0]  # all stores agree on the patches' shape and spec
    train_fovs, validation_fovs = split_pooled_fovs(
        without_excluded_fovs(pooled.fovs_per_dataset(), config.excluded_fovs),
        config.validation_fraction,
        config.seed,
        config.validation_fovs,
    )
    # the run keys (workers, logging, row audit) held at their defaults: the config.json, checkpoint
    # hash and resume identity of any values of them are those of the weights they all train
    config_json = config.job_params()
    if int(os.environ.get("RANK", "0")) == 0:
        with atomic_output(outputs.config) as tmp:
            tmp.write_text(json.dumps(config_json, indent=2) + "\n")

    seed_everything(config.seed, workers=True, verbose=False)
    _, n_channels, n_slices, _, _ = store.array.shape
    final_size = store.patch_size_yx_px
    module = ContrastiveModule(config_json, n_channels, n_slices, final_size, pooled.recorded_tau())
    if config.compile:
        # in place: the parameters, their names and so the checkpoints stay those of the eager encoder
        module.encoder.compile()
        logger.info("encoder compiled with torch.compile: the first steps of the run compile it")
    augment_in = config.resolved_augment_in(settings["accelerator"])
    data = PatchDataModule(
        pooled.zarr_paths,
        pooled.index,
        config,
        pooled.tau_of_rows(),
        train_fovs,
        validation_fovs,
        pin_memory=settings["accelerator"] == "gpu",
        augmentation=BatchAugmentation(config.augmentation, output_size_yx=(final_size, final_size))
        if augment_in == "workers"
        else None,
        lineage=pooled.lineage,
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
    identity = ResumeIdentity({})  # set below, once the trainer knows the number of ranks
    epochs_trained = EpochsTrained()  # before the preemption checkpoint: it holds an epoch just ended
    callbacks: list[Callback] = [
        checkpoints,
        identity,
        LearningRateMonitor(logging_interval="step"),
        epochs_trained,
        CheckpointOnPreemption(preemption, last),
        ProgressLog(config.log_every_n_steps),
    ]
    if config.record_sample_rows:
        callbacks.append(SampleRowRecorder(work_dir / LOG_DIR))
    # the max_minutes budget, as Lightning's max_time would add it, kept to tell a run it ended
    timer = (
        Timer(datetime.timedelta(minutes=config.max_minutes), interval="step") if config.max_minutes else None
    )
    if timer is not None:
        callbacks.append(timer)
    trainer = _trainer(config, settings, work_dir, callbacks, fast_dev_run)
    identity.identity = resume_identity(
        config_json,
        pooled.stores,
        pooled.datasets,
        trainer.world_size,
        (settings["accelerator"], settings["precision"]),
    )
    resume = None if fast_dev_run else resumable_checkpoint(last, identity.identity)
    with warnings.catch_warnings():
        # Lightning cannot see that the batch sampler resumes mid-epoch itself (it asks the trainer
        # for its step: ContrastiveBatchSampler.position), and would warn that results are unreliable
        warnings.filterwarnings(
            "ignore", message="You're resuming from a checkpoint that ended before the epoch"
        )
        trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)

    best = checkpoints.best_model_path if validation_fovs else checkpoints.last_model_path
    best_score = checkpoints.best_model_score
    planned_steps = module.planned_steps if module.planned_steps is not None else int(trainer.global_step)
    epochs = epochs_trained.trained(trainer)
    summary: dict[str, Any] = {
        "model_name": model_name,
        "model_path": str(outputs.checkpoint),
        "resumed_from": str(resume) if resume else None,
        "train_fovs": train_fovs,
        "validation_fovs": validation_fovs,
        "datasets": pooled.datasets,
        "input_channels": store.input_channels,
        "input_normalize_per_time_point": store.model_input()["normalize_per_time_point"],
        "training_sampling": training_sampling,
        "tau_frames": pooled.recorded_tau(),
        "tau_frames_per_dataset": dict(zip(pooled.datasets, pooled.tau_frames, strict=True)),
        "n_patches": pooled.n_patches,
        "n_train_anchors": len(data.train_sampler.planner.anchors) if data.train_sampler else 0,
        "epochs_completed": epochs,
        "global_step": int(trainer.global_step),
        "planned_steps": planned_steps,
        # lineage-unique batches formed beyond the batches every epoch trains (the fewest any forms)
        "batches_left_out": data.train_sampler.batches_left_out if data.train_sampler else 0,
        "stopped_by_time": _stopped_by_time(timer, epochs, config.epochs),
        "best_validation_loss": float(best_score) if best_score is not None else None,
        "world_size": int(trainer.world_size),
        "accelerator": settings["accelerator"],
        "precision": settings["precision"],
        "augment_in": augment_in,
        "run": config.run_params(),  # what the hashed config holds at its defaults
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
            inputs=[
                record
                for one in pooled.stores
                for record in ((one.zarr_path, one.provenance), (one.parquet_path, one.index_provenance))
            ],
        )
        _export_model(source, outputs.checkpoint, provenance, summary)
        logger.info("trained %s in %.0f s: %s", config.backbone, summary["seconds"], summary)
        if summary["stopped_by_time"]:  # on global rank zero only, as the warm-up's: once in the log
            _warn_stopped_by_time(config, summary, outputs.checkpoint)
    summary["seconds"] = time.perf_counter() - started
    return summary


def _global_rank_zero() -> bool:
    """Whether this process is global rank zero, as Lightning reads it (``rank_zero_only.rank``: from
    the environment, ``RANK`` of torchrun or ``LOCAL_RANK`` of Lightning's own launch, before the
    trainer exists): a WARNING every rank would log is logged by this one only."""
    return int(getattr(rank_zero_only, "rank", 0)) == 0


def _stopped_by_time(timer: Timer | None, epochs_trained: int, epochs: int) -> bool:
    """Whether the ``max_minutes`` budget (``timer``, its time counted over resumed runs too; ``None``:
    no budget) ended training before its ``epochs``: the time is spent and fewer epochs were trained.
    Decided on epochs, not steps: the epochs whose every batch trained say it without counting steps
    (every epoch trains the same batches, :attr:`~dynaclr.training.sampling.ContrastiveBatchSampler.
    batches_per_epoch`, so the planned steps are those of a finished run)."""
    remaining = timer.time_remaining() if timer is not None else None
    return remaining is not None and remaining <= 0 and epochs_trained < epochs


def _warn_stopped_by_time(
    config: ContrastiveModelConfig, summary: Mapping[str, Any], checkpoint: Path
) -> None:
    """The WARNING of a run the ``max_minutes`` budget ended before its epochs: a model trained on part
    of its steps, its learning rate not decayed, weights that depend on the machine's speed."""
    name = summary.get("model_name")
    key = f"contrastive_models.{name}.training.max_minutes" if name else "training.max_minutes"
    logger.warning(
        "%s (%g) ended training after %d of %d epochs (%d optimiser steps, the schedule planned about "
        "%d; stopped_by_time in %s's dynaclr_training summary): the model is trained on part of its data "
        "and steps, its learning rate not decayed to 0 (the warm-up and cosine span the planned steps), "
        "and its weights depend on the machine's speed; to train every epoch raise max_minutes, or set "
        "it null: max_minutes is part of the model's config, so the model then retrains from scratch "
        "(a rerun with the same max_minutes resumes, but its time is spent and it trains no further)",
        key,
        config.max_minutes,
        summary["epochs_completed"],
        config.epochs,
        summary["global_step"],
        summary["planned_steps"],
        checkpoint,
    )


def load_contrastive_model(
    path: str | Path, map_location: str = "cpu"
) -> tuple[ContrastiveModule, Provenance]:
    """Load ``model.ckpt`` (kind ``contrastive_model``) as an eval-mode :class:`ContrastiveModule`.

    ``module(x)`` then maps centre-cropped patches ``(B, C, Z, S, S)`` to embeddings ``(B, E)``.
    """
    checkpoint, provenance = load_checkpoint(path, map_location)
    hyper_parameters = checkpoint["hyper_parameters"]
    config = recorded_config(hyper_parameters, path).model_dump(mode="json")
    module = ContrastiveModule(**{**hyper_parameters, "config": config})
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    return module, provenance
