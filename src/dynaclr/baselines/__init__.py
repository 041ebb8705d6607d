"""Baselines run through the same analyses as trained models.

* :func:`random_encoder`: the contrastive encoder with seeded random weights (model
  ``random_weights``; embed it with :func:`dynaclr.embeddings.embed_patches`);
* :func:`engineered_features`: area, intensity, texture and radial-profile features per patch,
  written in the embeddings layout (model ``engineered_features``).
"""

from dynaclr.baselines.engineered import (
    GLCM_PROPERTIES,
    engineered_features,
    feature_names,
    patch_features,
    standardize_columns,
)
from dynaclr.baselines.random_weights import random_encoder

__all__ = [
    "GLCM_PROPERTIES",
    "engineered_features",
    "feature_names",
    "patch_features",
    "random_encoder",
    "standardize_columns",
]
