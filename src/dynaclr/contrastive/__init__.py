"""Framework-free contrastive building blocks: losses, encoder and batched augmentations.

Nothing here depends on Lightning or on the workflow; tensors are ``(B, ...)`` batches.
Submodules are imported lazily, so ``import dynaclr.contrastive.losses`` (e.g. in a worker
process) does not pay for importing timm.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
