"""Type stub of :mod:`dynaclr.training`: the names it exports, each imported lazily (lazy_loader)."""

from .checkpoint import (
    ContrastiveCheckpoint as ContrastiveCheckpoint,
    read_contrastive_checkpoint as read_contrastive_checkpoint,
)
from .data import (
    PatchBatch as PatchBatch,
    PatchDataModule as PatchDataModule,
    PatchDataset as PatchDataset,
)
from .module import ContrastiveModule as ContrastiveModule
from .sampling import (
    ContrastiveBatchSampler as ContrastiveBatchSampler,
    EpochSampler as EpochSampler,
    PairPlanner as PairPlanner,
    split_fovs as split_fovs,
)
from .train import (
    load_contrastive_model as load_contrastive_model,
    train_contrastive as train_contrastive,
)
