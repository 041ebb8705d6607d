"""Contrastive training on a patch store (rule ``train_contrastive``).

* :mod:`~dynaclr.training.sampling`: classical, cell-aware and time-aware sampling, FOV split,
  lineage-unique and DDP-sharded batch samplers (plain torch);
* :mod:`~dynaclr.training.data`: the patch dataset and the Lightning data module;
* :mod:`~dynaclr.training.module`: the LightningModule (encoder, loss, on-device augmentation);
* :func:`read_contrastive_checkpoint`: a trained encoder and its architecture, without Lightning;
* :func:`train_contrastive`: the stage's entry point; ``python -m dynaclr.training`` is its CLI
  (launch several processes with ``torchrun --standalone --nproc-per-node=N -m dynaclr.training``).

Submodules are imported lazily, so ``import dynaclr.training.sampling`` does not import Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynaclr._lazy import lazy_exports

if TYPE_CHECKING:
    from dynaclr.training.checkpoint import ContrastiveCheckpoint, read_contrastive_checkpoint
    from dynaclr.training.data import PatchBatch, PatchDataModule, PatchDataset
    from dynaclr.training.module import ContrastiveModule
    from dynaclr.training.sampling import ContrastiveBatchSampler, EpochSampler, PairPlanner, split_fovs
    from dynaclr.training.train import load_contrastive_model, train_contrastive

_EXPORTS = {
    "ContrastiveCheckpoint": "checkpoint",
    "read_contrastive_checkpoint": "checkpoint",
    "PatchBatch": "data",
    "PatchDataModule": "data",
    "PatchDataset": "data",
    "ContrastiveModule": "module",
    "ContrastiveBatchSampler": "sampling",
    "EpochSampler": "sampling",
    "PairPlanner": "sampling",
    "split_fovs": "sampling",
    "load_contrastive_model": "train",
    "train_contrastive": "train",
}

__all__ = [
    "ContrastiveBatchSampler",
    "ContrastiveCheckpoint",
    "ContrastiveModule",
    "EpochSampler",
    "PairPlanner",
    "PatchBatch",
    "PatchDataModule",
    "PatchDataset",
    "load_contrastive_model",
    "read_contrastive_checkpoint",
    "split_fovs",
    "train_contrastive",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
