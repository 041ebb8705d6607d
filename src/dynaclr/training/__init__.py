"""Contrastive training on a patch store (rule ``train_contrastive``).

* :mod:`~dynaclr.training.sampling`: classical, cell-aware and time-aware sampling, FOV split,
  lineage-unique and DDP-sharded batch samplers (plain torch);
* :mod:`~dynaclr.training.data`: the patch dataset and the Lightning data module;
* :mod:`~dynaclr.training.module`: the LightningModule (encoder, loss, on-device augmentation);
* :func:`train_contrastive`: the stage's entry point; ``python -m dynaclr.training`` is its CLI
  (launch several processes with ``torchrun --standalone --nproc-per-node=N -m dynaclr.training``).

Submodules are imported lazily, so ``import dynaclr.training.sampling`` does not import Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynaclr.training.data import PatchBatch, PatchDataModule, PatchDataset
    from dynaclr.training.module import ContrastiveModule
    from dynaclr.training.sampling import ContrastiveBatchSampler, EpochSampler, PairPlanner, split_fovs
    from dynaclr.training.train import load_contrastive_model, train_contrastive

_EXPORTS = {
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
    "ContrastiveModule",
    "EpochSampler",
    "PairPlanner",
    "PatchBatch",
    "PatchDataModule",
    "PatchDataset",
    "load_contrastive_model",
    "split_fovs",
    "train_contrastive",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
