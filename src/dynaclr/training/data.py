"""Patch-store dataset and data module: planned samples in, :class:`PatchBatch` out.

The dataset reads whole batches at once (``__getitems__``): the unique rows of a batch's anchors,
positives and negatives are fetched with one orthogonal zarr read (one chunk per patch). The zarr
array is opened lazily in each process (data-loader workers included) on first use.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import zarr
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.patches.store import PATCH_ARRAY
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
        self._array: zarr.Array | None = None
        self._opened_in: int | None = None

    def _patches(self) -> zarr.Array:
        if self._array is None or self._opened_in != os.getpid():
            array = zarr.open_group(self.zarr_path, mode="r")[PATCH_ARRAY]
            assert isinstance(array, zarr.Array)
            self._array, self._opened_in = array, os.getpid()
        return self._array

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_array": None, "_opened_in": None}

    def __len__(self) -> int:
        return int(self._patches().shape[0])

    def read_rows(self, rows: np.ndarray) -> torch.Tensor:
        """Patches of ``rows`` ``(n,)`` as float32 ``(n, C, Z, S, S)`` (rows may repeat, any order)."""
        unique, inverse = np.unique(rows, return_inverse=True)
        block = np.asarray(self._patches().get_orthogonal_selection((unique,)))  # (u, C, Z, S, S)
        return torch.from_numpy(block[inverse].astype(np.float32, copy=False))

    def __getitems__(self, samples: list[Sample]) -> PatchBatch:
        rows = np.asarray(samples, dtype=np.int64).reshape(-1, 3)  # (B, 3): anchor, positive, negative
        with_negatives = bool((rows[:, 2] >= 0).all())
        wanted = rows if with_negatives else rows[:, :2]
        patches = self.read_rows(wanted.reshape(-1)).unflatten(0, wanted.shape)  # (B, 2|3, C, Z, S, S)
        return PatchBatch(
            anchor=patches[:, 0],
            positive=patches[:, 1],
            negative=patches[:, 2] if with_negatives else None,
            anchor_row=torch.from_numpy(rows[:, 0].copy()),
            positive_row=torch.from_numpy(rows[:, 1].copy()),
            negative_row=torch.from_numpy(rows[:, 2].copy()),
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
