"""Baselines run through the same analyses as trained models.

* :func:`random_encoder`: the contrastive encoder with seeded random weights (model
  ``random_weights``; embed it with :func:`dynaclr.embeddings.embed_patches`);
* :func:`engineered_features`: area, intensity, texture and radial-profile features per patch,
  written in the embeddings layout (model ``engineered_features``).

Submodules are imported lazily, so the engineered features do not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynaclr._lazy import lazy_exports

if TYPE_CHECKING:
    from dynaclr.baselines.engineered import (
        GLCM_PROPERTIES,
        engineered_features,
        feature_names,
        patch_features,
        standardize_columns,
        standardize_with_statistics,
    )
    from dynaclr.baselines.random_weights import random_encoder

_EXPORTS = {
    "GLCM_PROPERTIES": "engineered",
    "engineered_features": "engineered",
    "feature_names": "engineered",
    "patch_features": "engineered",
    "standardize_columns": "engineered",
    "standardize_with_statistics": "engineered",
    "random_encoder": "random_weights",
}

__all__ = [
    "GLCM_PROPERTIES",
    "engineered_features",
    "feature_names",
    "patch_features",
    "random_encoder",
    "standardize_columns",
    "standardize_with_statistics",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
