"""Evaluation of embeddings without a deep-learning framework (numpy/pandas/scipy only).

:mod:`dynaclr.evaluation.temporal`: temporal smoothness and dynamic range of embedding
trajectories along cell tracks, with track-bootstrap confidence intervals (paper appendix C).
"""

from dynaclr.evaluation.temporal import (
    INDEX_COLUMNS,
    adjacent_distances,
    count_gap_only_tracks,
    dynamic_range,
    kde_grid,
    kde_peak,
    no_adjacent_pairs_reason,
    no_random_pairs_reason,
    paired_smoothness_difference,
    random_distances,
    smoothness,
    temporal_metrics,
    temporal_metrics_with_replicates,
)

__all__ = [
    "INDEX_COLUMNS",
    "adjacent_distances",
    "count_gap_only_tracks",
    "dynamic_range",
    "kde_grid",
    "kde_peak",
    "no_adjacent_pairs_reason",
    "no_random_pairs_reason",
    "paired_smoothness_difference",
    "random_distances",
    "smoothness",
    "temporal_metrics",
    "temporal_metrics_with_replicates",
]
