"""Type stub of :mod:`dynaclr.baselines`: the names it exports, each imported lazily (lazy_loader)."""

from .engineered import (
    GLCM_PROPERTIES as GLCM_PROPERTIES,
    block_features as block_features,
    engineered_features as engineered_features,
    feature_names as feature_names,
    patch_features as patch_features,
    standardize_with_statistics as standardize_with_statistics,
)
from .random_weights import random_encoder as random_encoder
