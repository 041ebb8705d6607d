"""What the principal components of embeddings capture (paper Fig. 3d, 5b, appendix F).

* :func:`cell_features`: engineered features of every patch of a store (shape of the central
  cell, intensity, entropy, radial profile, texture), streamed in batches;
* :func:`principal_components`, :func:`component_feature_correlation`: seeded PCA and the Spearman
  table of components against features (the paper's rho over cell observations, its interval from a
  bootstrap over tracks; :func:`rho_excludes_zero`);
* :func:`quantile_bin_draw`, :func:`plot_gallery`, :func:`plot_correlation_heatmap`: galleries of
  cells along the components, the heatmap;
* :func:`cell_features_stage`, :func:`interpret_embeddings_stage`: the rules' calls.

Occlusion attribution of an encoder with its classifiers as linear heads lives in
:mod:`dynaclr.interpretation.occlusion` (heads, maps, the cells shown) and
:mod:`dynaclr.interpretation.occlusion_stage` (rule ``occlusion_attribution``); they import torch
and Captum, so this package does not import them.
"""

from dynaclr.interpretation.components import (
    CORRELATION_COLUMNS,
    component_feature_correlation,
    principal_components,
    quantile_bin_draw,
    rho_excludes_zero,
)
from dynaclr.interpretation.features import (
    CHANNEL_FEATURES,
    block_cell_features,
    cell_feature_names,
    cell_features,
    central_cell_mask,
)
from dynaclr.interpretation.plots import plot_correlation_heatmap, plot_gallery

__all__ = [
    "CHANNEL_FEATURES",
    "CORRELATION_COLUMNS",
    "block_cell_features",
    "cell_feature_names",
    "cell_features",
    "central_cell_mask",
    "component_feature_correlation",
    "plot_correlation_heatmap",
    "plot_gallery",
    "principal_components",
    "quantile_bin_draw",
    "rho_excludes_zero",
]
