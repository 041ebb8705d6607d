"""Patch-store dataset and data module: planned samples in, :class:`PatchBatch` out.

One dataset reads one patch store or several pooled ones (one per training dataset): its rows are
then numbered across the stores in order (store ``i``'s rows follow store ``i - 1``'s, as
:func:`~dynaclr.training.sampling.pool_patch_indexes` numbers them), and each requested row is read
from its own store.

The dataset reads whole batches at once (``__getitems__``): the unique rows of a batch's anchors,
positives and negatives are read at once (one chunk per patch, each read and decoded once however
often the batch asks for it), then copied row by row into the requested order, converted to
float32 by torch on the way (one pass; several times faster than numpy's float16 conversion, and
than a gather followed by a conversion); in a data-loader worker the result
is written straight into shared memory, so sending it to the main process copies nothing. The
stores are opened lazily in each process (data-loader workers included) on first use, with one
:class:`~dynaclr.patches.store.PatchRowReader` per store.

Given a :class:`~dynaclr.contrastive.augment.BatchAugmentation`, the dataset also augments each
batch where it was read (``augment_in: workers``, the default for CPU training): anchors, positives
and negatives as whole batches, with a generator seeded by the batch's
:attr:`~dynaclr.training.sampling.PlannedBatch.augment_seed`, written straight into shared memory
at the network's input size. :func:`augment_batch` does the same work wherever it runs (the module
calls it on the training device), so on CPU the result does not depend on where, or in which
worker, a batch is augmented.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, get_worker_info

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.augment import BatchAugmentation
from dynaclr.patches.store import PatchRowReader
from dynaclr.training.sampling import (
    ContrastiveBatchSampler,
    NoAnchorsError,
    PairPlanner,
    Sample,
    lineage_codes,
)

logger = logging.getLogger(__name__)


@dataclass
class PatchBatch:
    """One batch of planned samples.

    ``anchor``, ``positive`` and (triplet loss only) ``negative`` are float32 ``(B, C, Z, S, S)``
    patches in normalised intensity units at the stored (initial) size ``S``, or, when ``augmented``,
    already augmented and centre-cropped to the network input; ``*_row`` are their ``(B,)`` int64
    rows in the patch store, or in the pooled stores (numbered across them), (``negative_row`` is
    -1 when there are no negatives); ``augment_seed``
    seeds the batch's augmentations (``None`` for batches without a planned seed).
    """

    anchor: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor | None
    anchor_row: torch.Tensor
    positive_row: torch.Tensor
    negative_row: torch.Tensor
    augment_seed: int | None = None
    augmented: bool = False

    def pin_memory(self) -> PatchBatch:
        """Page-locked copy (called by the DataLoader when ``pin_memory=True``)."""
        return replace(
            self,
            anchor=self.anchor.pin_memory(),
            positive=self.positive.pin_memory(),
            negative=None if self.negative is None else self.negative.pin_memory(),
        )

    def __len__(self) -> int:
        return int(self.anchor.shape[0])


def _empty_for_transfer(shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor; in a data-loader worker it lives in shared memory.

    A worker sends its batches to the main process through shared memory: a tensor that is
    already there is sent as a handle, any other is first copied into new shared memory (what
    torch's ``default_collate`` avoids the same way).
    """
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage).view(shape)


def augmentation_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    """The generator of a batch's augmentations: seeded by ``seed`` on ``device`` (``None``: none)."""
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)


def augment_batch(
    batch: PatchBatch,
    augmentation: BatchAugmentation,
    generator: torch.Generator | None,
    out: torch.Tensor | None = None,
) -> PatchBatch:
    """Augment the anchors, positives and negatives of ``batch``, in this order, as whole batches.

    ``out``: where to write the results, ``(V, B, C, Z, h, w)`` for the ``V`` views (2, or 3 with
    negatives); the views of the returned batch are then its slices.
    """
    views = [batch.anchor, batch.positive] + ([batch.negative] if batch.negative is not None else [])
    augmented = [
        augmentation(view, generator, out=None if out is None else out[number])
        for number, view in enumerate(views)
    ]
    return replace(
        batch,
        anchor=augmented[0],
        positive=augmented[1],
        negative=augmented[2] if len(augmented) == 3 else None,
        augmented=True,
    )


def _keep_batch(batch: Any) -> PatchBatch:
    """``collate_fn`` for :class:`PatchDataset`: its ``__getitems__`` already returns a batch."""
    if not isinstance(batch, PatchBatch):
        raise TypeError(f"expected a PatchBatch from PatchDataset.__getitems__, got {type(batch).__name__}")
    return batch


def _zarr_paths(zarr_path: str | Path | Sequence[str | Path]) -> tuple[str, ...]:
    """One store's path, or several, as a tuple of strings."""
    paths = (zarr_path,) if isinstance(zarr_path, str | Path) else tuple(zarr_path)
    if not paths:
        raise ValueError("expected at least one patch store")
    return tuple(str(path) for path in paths)


class PatchDataset(Dataset[PatchBatch]):
    """Read planned ``(anchor, positive, negative)`` samples from a patch store, or pooled stores.

    Args:
        zarr_path: the collected patch store (``patches`` array ``(N, C, Z, S, S)``), or several
            (one per dataset, of the same ``(C, Z, S, S)``): global row ``r`` is then row
            ``r - N_0 - ... - N_{i-1}`` of store ``i``.
        augmentation: when given, every batch is augmented and centre-cropped here, seeded by the
            ``augment_seed`` of its :class:`~dynaclr.training.sampling.PlannedBatch` (a plain list
            of samples draws from torch's global generator).
    """

    def __init__(
        self, zarr_path: str | Path | Sequence[str | Path], augmentation: BatchAugmentation | None = None
    ) -> None:
        self.zarr_paths = _zarr_paths(zarr_path)
        self.augmentation = augmentation
        self._readers: list[PatchRowReader] | None = None
        self._starts = np.zeros(1, dtype=np.int64)  # first global row of each store, then the total
        self._opened_in: int | None = None

    def _stores(self) -> list[PatchRowReader]:
        """This process's readers, one per store (opened on first use in each process)."""
        if self._readers is None or self._opened_in != os.getpid():
            readers = [PatchRowReader(path) for path in self.zarr_paths]
            shapes = {tuple(reader.array.shape[1:]) for reader in readers}
            if len(shapes) > 1:
                raise ValueError(
                    f"pooled patch stores {list(self.zarr_paths)} hold patches of different shapes "
                    f"{[tuple(reader.array.shape[1:]) for reader in readers]}; expected one (C, Z, Y, X)"
                )
            sizes = [int(reader.array.shape[0]) for reader in readers]
            self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            self._readers, self._opened_in = readers, os.getpid()
        return self._readers

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_readers": None, "_opened_in": None}

    def __len__(self) -> int:
        self._stores()
        return int(self._starts[-1])

    def _read_unique(self, rows: np.ndarray) -> np.ndarray:
        """Patches of sorted distinct global ``rows``, each read from its store (stored dtype)."""
        readers = self._stores()
        if len(readers) == 1:
            return readers[0].read(rows)
        if rows.size and (rows.min() < 0 or rows.max() >= self._starts[-1]):
            raise IndexError(f"rows must be in [0, {self._starts[-1]}), got {rows.min()}..{rows.max()}")
        store = np.searchsorted(self._starts, rows, side="right") - 1
        dtype = np.result_type(*(reader.array.dtype for reader in readers))
        out = np.empty((len(rows), *readers[0].array.shape[1:]), dtype=dtype)
        for number in np.unique(store).tolist():
            members = store == number
            out[members] = readers[number].read(rows[members] - self._starts[number])
        return out

    def read_rows(self, rows: np.ndarray, for_transfer: bool = True) -> torch.Tensor:
        """Patches of ``rows`` ``(n,)`` as float32 ``(n, C, Z, S, S)`` (rows may repeat, any order).

        ``for_transfer=False``: in ordinary memory even in a worker (patches that are augmented
        there, not sent).
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        unique, inverse = np.unique(rows, return_inverse=True)
        patches = torch.from_numpy(self._read_unique(unique))  # (u, C, Z, S, S), stored dtype
        shape = torch.Size((len(rows), *patches.shape[1:]))
        out = _empty_for_transfer(shape, torch.float32) if for_transfer else torch.empty(shape)
        if np.array_equal(unique, rows):
            return out.copy_(patches)
        for position, row in enumerate(inverse.tolist()):  # repeated or unsorted rows
            out[position].copy_(patches[row])
        return out

    def __getitems__(self, samples: list[Sample]) -> PatchBatch:
        rows = np.asarray(samples, dtype=np.int64).reshape(-1, 3)  # (B, 3): anchor, positive, negative
        with_negatives = bool((rows[:, 2] >= 0).all())
        views = rows.T if with_negatives else rows[:, :2].T  # (2|3, B): each view's rows together
        augmentation = self.augmentation
        patches = self.read_rows(views.reshape(-1), for_transfer=augmentation is None)
        patches = patches.unflatten(0, views.shape)  # (2|3, B, C, Z, S, S)
        columns = torch.from_numpy(rows.T.copy())  # (3, B): one storage to send, not three
        seed = getattr(samples, "augment_seed", None)
        batch = PatchBatch(
            anchor=patches[0],
            positive=patches[1],
            negative=patches[2] if with_negatives else None,
            anchor_row=columns[0],
            positive_row=columns[1],
            negative_row=columns[2],
            augment_seed=seed,
        )
        if augmentation is None:
            return batch
        size = augmentation.output_size_yx or patches.shape[-2:]
        shape = torch.Size((*patches.shape[:-2], *size))  # (2|3, B, C, Z, h, w)
        out = _empty_for_transfer(shape, torch.float32)
        return augment_batch(batch, augmentation, augmentation_generator(seed), out=out)

    def __getitem__(self, sample: Sample) -> PatchBatch:
        return self.__getitems__([sample])


class PatchDataModule(LightningDataModule):
    """Training and validation loaders over the FOV split of one patch store, or of pooled stores.

    ``index`` is the (pooled) patch index whose rows the dataset reads (for several stores, from
    :func:`~dynaclr.training.sampling.pool_patch_indexes`, FOV names qualified by dataset);
    ``tau_frames`` is one offset, or one per row of ``index`` (each store's own). ``lineage``: the
    :func:`~dynaclr.training.sampling.lineage_codes` of ``index`` where the caller holds them
    (:class:`~dynaclr.training.train.TrainingStores`), else computed once for the training and
    validation planners.

    Rank and world size are read from the trainer in :meth:`setup`; batch samplers do the DDP
    sharding themselves, so the trainer must run with ``use_distributed_sampler=False``. With
    ``augmentation`` the datasets augment every batch where it is read (``augment_in: workers``);
    without it the module augments on the training device.
    """

    def __init__(
        self,
        zarr_path: str | Path | Sequence[str | Path],
        index: pd.DataFrame,
        config: ContrastiveModelConfig,
        tau_frames: int | np.ndarray,
        train_fovs: list[str],
        validation_fovs: list[str],
        pin_memory: bool = False,
        augmentation: BatchAugmentation | None = None,
        lineage: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.zarr_paths = tuple(Path(path) for path in _zarr_paths(zarr_path))
        self.index = index
        self.config = config
        self.tau_frames = tau_frames
        self.train_fovs = train_fovs
        self.validation_fovs = validation_fovs
        self.pin_memory = pin_memory
        self.augmentation = augmentation
        self.lineage = lineage
        self.train_sampler: ContrastiveBatchSampler | None = None
        self.validation_sampler: ContrastiveBatchSampler | None = None

    def _planner(self, fovs: list[str]) -> PairPlanner:
        rows = self.index.loc[self.index["fov_name"].isin(fovs), "row"].to_numpy()
        if self.lineage is None:
            self.lineage, _ = lineage_codes(self.index)
        return PairPlanner(
            self.index,
            rows,
            self.config.sampling,
            tau_frames=self.tau_frames,
            tolerance_frames=self.config.tau_tolerance_frames,
            with_negatives=self.config.loss == "triplet",
            negative_time=self.config.resolved_negative_time,
            lineage=self.lineage,
        )

    def _validation_batch_size(self, planner: PairPlanner, world_size: int) -> int:
        """The configured batch size, lowered to what the validation FOVs can fill."""
        lineage_unique = self.config.uses_lineage_unique_batches
        capacity = (
            len(np.unique(planner.lineage[planner.anchors])) if lineage_unique else len(planner.anchors)
        )
        size = min(self.config.batch_size, capacity // world_size)
        if size < self.config.batch_size:
            logger.info("validation batch size lowered to %d (validation FOVs are small)", size)
        return size

    def setup(self, stage: str) -> None:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world_size = self.trainer.world_size if self.trainer is not None else 1
        cfg = self.config
        self.train_sampler = ContrastiveBatchSampler(
            self._planner(self.train_fovs),
            cfg.batch_size,
            cfg.uses_lineage_unique_batches,
            seed=cfg.seed,
            shuffle=True,
            rank=rank,
            world_size=world_size,
            max_batches=cfg.max_batches_per_epoch,
            epochs=cfg.epochs,  # every epoch the same batches: Lightning counts them once, from epoch 0
        )
        if self.trainer is not None:
            self.train_sampler.position = self._training_position
        if self.validation_fovs:
            # the split is drawn from FOVs with patches, so its FOVs may hold cells but no anchor: say
            # that it is the validation split (the training FOVs may train) and what to set
            key = "contrastive_models.<model>.training"
            fix = (
                f"list {key}.validation_fovs naming FOVs whose cells give anchors, or set "
                f"{key}.validation_fraction: 0 to train without validation"
            )
            try:
                planner = self._planner(self.validation_fovs)
            except NoAnchorsError as err:
                raise NoAnchorsError(f"validation FOVs {self.validation_fovs}: {err}; {fix}") from err
            except ValueError as err:  # not a matter of which FOVs: no advice on them
                raise ValueError(f"validation FOVs {self.validation_fovs}: {err}") from err
            size = self._validation_batch_size(planner, world_size)
            if size < 2:
                lineages = len(np.unique(planner.lineage[planner.anchors]))
                capacity = (
                    f"{lineages} lineage(s) with anchors"
                    if cfg.uses_lineage_unique_batches
                    else (f"{len(planner.anchors)} anchor(s)")
                )
                if not cfg.validation_fovs:  # drawn by validation_fraction: more of them may fill one
                    fix = f"set a larger {key}.validation_fraction (now {cfg.validation_fraction:g}), " + fix
                raise ValueError(
                    f"validation FOVs {self.validation_fovs} cannot fill a batch of 2 per rank ({capacity}); "
                    f"{fix}"
                )
            self.validation_sampler = ContrastiveBatchSampler(
                planner,
                size,
                cfg.uses_lineage_unique_batches,
                seed=cfg.seed + 1,
                shuffle=False,
                rank=rank,
                world_size=world_size,
                max_batches=cfg.max_validation_batches,
            )

    def _training_position(self) -> tuple[int, int]:
        """``(epoch, batches done in it)`` from the trainer: one optimiser step per batch, and every
        epoch the same batches (the sampler's ``epochs``), so a run restored from a mid-epoch
        checkpoint continues at the batch after the last one it trained."""
        assert self.trainer is not None and self.train_sampler is not None
        epoch, step, per_epoch = self.trainer.current_epoch, self.trainer.global_step, len(self.train_sampler)
        if step < epoch * per_epoch:
            raise ValueError(
                self._other_epoch_length(
                    epoch,
                    step,
                    per_epoch,
                    f"fewer steps than the {epoch * per_epoch} its epochs before would take here",
                    "of fewer batches per epoch, on more ranks",
                    "replay the epoch from its start",
                )
            )
        planned, found = self._schedule_milestones()
        if planned is not None and found is not None and found != planned:
            # in its first epoch (or any) the step tells nothing: the schedule it planned does
            raise ValueError(
                self._other_epoch_length(
                    epoch,
                    step,
                    per_epoch,
                    f"whose learning-rate schedule was planned over {found[-1]} steps, this run's over "
                    f"{planned[-1]}",
                    "of another number of batches per epoch, on another number of ranks",
                    "go on at another batch of the epoch",
                )
            )
        return epoch, step - epoch * per_epoch

    def _schedule_milestones(self) -> tuple[list[int] | None, list[int] | None]:
        """The step milestones of this run's learning-rate schedule as the module planned them, and
        those of the schedule the trainer holds (a resumed checkpoint's); ``None`` where not known."""
        assert self.trainer is not None
        planned = getattr(self.trainer.lightning_module, "schedule_milestones", None)
        configs = self.trainer.lr_scheduler_configs
        found = getattr(configs[0].scheduler, "_milestones", None) if configs else None
        return planned, None if found is None else [int(m) for m in found]

    def _other_epoch_length(
        self, epoch: int, step: int, per_epoch: int, evidence: str, saved_by: str, resuming: str
    ) -> str:
        """Why a run restored at ``step`` of ``epoch`` cannot go on: its checkpoint's epochs held
        another number of batches (``evidence``: what tells it)."""
        assert self.trainer is not None
        path = getattr(self.trainer, "ckpt_path", None) or "checkpoints/last.ckpt"
        return (
            f"{path}: expected a checkpoint of epochs of {per_epoch} batches (those this run forms on "
            f"{self.trainer.world_size} rank(s)), found one at step {step} in epoch {epoch}, {evidence}: "
            f"it was saved by a training {saved_by} (a multi-device training saved before checkpoints "
            f"recorded their number of ranks), and resuming it would {resuming} with another global "
            f"batch and learning-rate schedule; delete {path} and rerun (training starts from scratch), "
            "or rerun on the number of devices that saved it"
        )

    def _loader(self, sampler: ContrastiveBatchSampler) -> DataLoader[PatchBatch]:
        workers = self.config.num_workers
        return DataLoader(
            PatchDataset(self.zarr_paths, self.augmentation),
            batch_sampler=sampler,
            collate_fn=_keep_batch,
            num_workers=workers,
            pin_memory=self.pin_memory,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )

    def train_dataloader(self) -> DataLoader[PatchBatch]:
        assert self.train_sampler is not None, "call setup() first"
        return self._loader(self.train_sampler)

    def val_dataloader(self) -> DataLoader[PatchBatch] | list[DataLoader[PatchBatch]]:
        if self.validation_sampler is None:
            return []
        return self._loader(self.validation_sampler)
