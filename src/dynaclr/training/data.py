"""Patch-store dataset and data module: planned samples in, :class:`PatchBatch` out.

The dataset reads whole batches at once (``__getitems__``): the unique rows of a batch's anchors,
positives and negatives are read at once (one chunk per patch, each read and decoded once however
often the batch asks for it), then gathered into the requested order and converted to float32 by
torch (several times faster than numpy's float16 conversion); in a data-loader worker the result
is written straight into shared memory, so sending it to the main process copies nothing. The
store is opened lazily in each process (data-loader workers included) on first use, with a
:class:`~dynaclr.patches.store.PatchRowReader`.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, get_worker_info

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.patches.store import PatchRowReader
from dynaclr.training.sampling import ContrastiveBatchSampler, PairPlanner, Sample

logger = logging.getLogger(__name__)


@dataclass
class PatchBatch:
    """One batch of planned samples.

    ``anchor``, ``positive`` and (triplet loss only) ``negative`` are float32 ``(B, C, Z, S, S)``
    patches in normalised intensity units at the stored (initial) size ``S``; ``*_row`` are their
    ``(B,)`` int64 rows in the patch store (``negative_row`` is -1 when there are no negatives).
    """

    anchor: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor | None
    anchor_row: torch.Tensor
    positive_row: torch.Tensor
    negative_row: torch.Tensor

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


def _keep_batch(batch: Any) -> PatchBatch:
    """``collate_fn`` for :class:`PatchDataset`: its ``__getitems__`` already returns a batch."""
    if not isinstance(batch, PatchBatch):
        raise TypeError(f"expected a PatchBatch from PatchDataset.__getitems__, got {type(batch).__name__}")
    return batch


class PatchDataset(Dataset[PatchBatch]):
    """Read planned ``(anchor, positive, negative)`` samples from a patch store.

    Args:
        zarr_path: the collected patch store (``patches`` array ``(N, C, Z, S, S)``).
    """

    def __init__(self, zarr_path: str | Path) -> None:
        self.zarr_path = str(zarr_path)
        self._reader: PatchRowReader | None = None
        self._opened_in: int | None = None

    def _patches(self) -> PatchRowReader:
        if self._reader is None or self._opened_in != os.getpid():
            self._reader, self._opened_in = PatchRowReader(self.zarr_path), os.getpid()
        return self._reader

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_reader": None, "_opened_in": None}

    def __len__(self) -> int:
        return int(self._patches().array.shape[0])

    def read_rows(self, rows: np.ndarray) -> torch.Tensor:
        """Patches of ``rows`` ``(n,)`` as float32 ``(n, C, Z, S, S)`` (rows may repeat, any order)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        unique, inverse = np.unique(rows, return_inverse=True)
        patches = torch.from_numpy(self._patches().read(unique))  # (u, C, Z, S, S), stored dtype
        if not np.array_equal(unique, rows):  # repeated or unsorted rows: gather in the stored dtype
            patches = patches[torch.from_numpy(inverse)]  # (n, C, Z, S, S)
        return _empty_for_transfer(patches.shape, torch.float32).copy_(patches)

    def __getitems__(self, samples: list[Sample]) -> PatchBatch:
        rows = np.asarray(samples, dtype=np.int64).reshape(-1, 3)  # (B, 3): anchor, positive, negative
        with_negatives = bool((rows[:, 2] >= 0).all())
        views = rows.T if with_negatives else rows[:, :2].T  # (2|3, B): each view's rows together
        patches = self.read_rows(views.reshape(-1)).unflatten(0, views.shape)  # (2|3, B, C, Z, S, S)
        columns = torch.from_numpy(rows.T.copy())  # (3, B): one storage to send, not three
        return PatchBatch(
            anchor=patches[0],
            positive=patches[1],
            negative=patches[2] if with_negatives else None,
            anchor_row=columns[0],
            positive_row=columns[1],
            negative_row=columns[2],
        )

    def __getitem__(self, sample: Sample) -> PatchBatch:
        return self.__getitems__([sample])


class PatchDataModule(LightningDataModule):
    """Training and validation loaders over the FOV split of one patch store.

    Rank and world size are read from the trainer in :meth:`setup`; batch samplers do the DDP
    sharding themselves, so the trainer must run with ``use_distributed_sampler=False``.
    """

    def __init__(
        self,
        zarr_path: str | Path,
        index: pd.DataFrame,
        config: ContrastiveModelConfig,
        tau_frames: int,
        train_fovs: list[str],
        validation_fovs: list[str],
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.zarr_path = Path(zarr_path)
        self.index = index
        self.config = config
        self.tau_frames = tau_frames
        self.train_fovs = train_fovs
        self.validation_fovs = validation_fovs
        self.pin_memory = pin_memory
        self.train_sampler: ContrastiveBatchSampler | None = None
        self.validation_sampler: ContrastiveBatchSampler | None = None

    def _planner(self, fovs: list[str]) -> PairPlanner:
        rows = self.index.loc[self.index["fov_name"].isin(fovs), "row"].to_numpy()
        return PairPlanner(
            self.index,
            rows,
            self.config.sampling,
            tau_frames=self.tau_frames,
            tolerance_frames=self.config.tau_tolerance_frames,
            with_negatives=self.config.loss == "triplet",
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
        )
        if self.validation_fovs:
            planner = self._planner(self.validation_fovs)
            size = self._validation_batch_size(planner, world_size)
            if size < 2:
                raise ValueError(
                    f"validation FOVs {self.validation_fovs} cannot fill a batch of 2 per rank; choose other "
                    "validation_fovs or a larger validation_fraction"
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

    def _loader(self, sampler: ContrastiveBatchSampler) -> DataLoader[PatchBatch]:
        workers = self.config.num_workers
        return DataLoader(
            PatchDataset(self.zarr_path),
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
