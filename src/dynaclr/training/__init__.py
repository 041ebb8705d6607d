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

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
