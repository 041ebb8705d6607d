"""Temporal smoothness and dynamic range of every (model, dataset) pair (rule ``temporal_metrics``).

Writes ``results/evaluation/temporal_metrics.csv``, one row per (model, dataset), computed with
:func:`dynaclr.evaluation.temporal.temporal_metrics` on the ``features`` matrix (AnnData ``X``,
the backbone's pooled features, which every downstream analysis reads) unless another
representation is asked for. Columns: ``model, dataset, representation, smoothness,
smoothness_ci_low, smoothness_ci_high, dynamic_range, dynamic_range_ci_low,
dynamic_range_ci_high, mean_adjacent, mean_random, n_tracks, n_pairs, n_random_pairs,
n_bootstrap, confidence, n_cells`` (distances in cosine-distance units, ``[0, 2]``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from dynaclr.embeddings import cell_table, read_embeddings, representation_matrix
from dynaclr.evaluation.tables import write_csv
from dynaclr.evaluation.temporal import temporal_metrics

logger = logging.getLogger(__name__)

TEMPORAL_METRICS_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "representation",
    "smoothness",
    "smoothness_ci_low",
    "smoothness_ci_high",
    "dynamic_range",
    "dynamic_range_ci_low",
    "dynamic_range_ci_high",
    "mean_adjacent",
    "mean_random",
    "n_tracks",
    "n_pairs",
    "n_random_pairs",
    "n_bootstrap",
    "confidence",
    "n_cells",
)


def temporal_metrics_stage(
    embeddings_paths: Mapping[tuple[str, str], str | Path],
    output_csv: str | Path,
    n_bootstrap: int = 200,
    seed: int = 0,
    representation: str = "features",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Temporal metrics of every embeddings store, one CSV row per ``(model, dataset)``.

    Args:
        embeddings_paths: ``{(model, dataset): path of an embeddings store}``.
        output_csv: ``results/evaluation/temporal_metrics.csv`` (columns in the module docstring).
        n_bootstrap: track-bootstrap replicates (0: CIs are NaN).
        seed: seed of the random pairs and the bootstrap (same seed, same table).
        representation: ``'features'`` (default), ``'projections'`` or ``'standardized'``.
        confidence: central coverage of the CIs.

    Returns:
        The table written, sorted by model then dataset.
    """
    if not embeddings_paths:
        raise ValueError("temporal_metrics_stage needs at least one embeddings store")
    rows: list[dict[str, Any]] = []
    for (model, dataset), path in tqdm(
        sorted(embeddings_paths.items()), desc="temporal metrics", mininterval=2
    ):
        adata = read_embeddings(path)
        matrix = representation_matrix(adata, representation)
        metrics = temporal_metrics(
            matrix, cell_table(adata), n_bootstrap=n_bootstrap, seed=seed, confidence=confidence
        )
        rows.append(
            {
                "model": model,
                "dataset": dataset,
                "representation": representation,
                **metrics,
                "n_cells": adata.n_obs,
            }
        )
        logger.info(
            "%s / %s: smoothness %.3f, dynamic range %.3f over %d tracks",
            model,
            dataset,
            metrics["smoothness"],
            metrics["dynamic_range"],
            metrics["n_tracks"],
        )
    table = pd.DataFrame(rows)[list(TEMPORAL_METRICS_COLUMNS)]
    write_csv(table, output_csv)
    return table
