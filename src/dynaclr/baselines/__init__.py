"""Baselines run through the same analyses as trained models.

* :func:`random_encoder`: the contrastive encoder with seeded random weights (model
  ``random_weights``);
* :func:`engineered_features`: area, intensity, texture and radial-profile features per patch
  (model ``engineered_features``).

Both compute; :func:`dynaclr.embeddings.embed_stage` writes their embeddings. Submodules are
imported lazily (lazy_loader), so the engineered features do not import torch.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
