"""Framework-free contrastive building blocks: losses, encoder and batched augmentations.

Nothing here depends on Lightning or on the workflow; tensors are ``(B, ...)`` batches.
Submodules are imported lazily, so ``import dynaclr.contrastive.losses`` (e.g. in a worker
process) does not pay for importing timm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynaclr._lazy import lazy_exports

if TYPE_CHECKING:
    from dynaclr.contrastive.augment import AugmentationConfig, BatchAugmentation, center_crop
    from dynaclr.contrastive.encoder import SUPPORTED_FAMILIES, ContrastiveEncoder, DepthToChannelStem
    from dynaclr.contrastive.losses import NTXentLoss, TripletLoss, gather_with_grad

_EXPORTS = {
    "AugmentationConfig": "augment",
    "BatchAugmentation": "augment",
    "center_crop": "augment",
    "SUPPORTED_FAMILIES": "encoder",
    "ContrastiveEncoder": "encoder",
    "DepthToChannelStem": "encoder",
    "NTXentLoss": "losses",
    "TripletLoss": "losses",
    "gather_with_grad": "losses",
}

__all__ = [
    "SUPPORTED_FAMILIES",
    "AugmentationConfig",
    "BatchAugmentation",
    "ContrastiveEncoder",
    "DepthToChannelStem",
    "NTXentLoss",
    "TripletLoss",
    "center_crop",
    "gather_with_grad",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
