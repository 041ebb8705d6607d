"""Principal components of embeddings, their Spearman correlation with engineered features, and
the cells drawn along them (paper Fig. 3d, 5b, appendix F)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.decomposition import PCA

from dynaclr.embeddings import kept_components

#: The config key of the number of principal components read against the features (logged where capped).
N_COMPONENTS_KEY = "analysis.interpretation.n_components"

#: Columns of the correlation table (one row per principal component and feature).
CORRELATION_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "pc",
    "explained_variance_ratio",
    "feature",
    "rho",
    "p_value",
    "n_cells",
)


def principal_components(
    matrix: np.ndarray, n_components: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """PCA scores ``(N, K)`` of ``matrix`` ``(N, D)`` and each component's explained variance ratio
    ``(K,)``; ``K = min(n_components, N, D)`` (fewer than asked logged at WARNING), the solver seeded
    by ``seed``.

    scikit-learn's ``PCA`` of a matrix in memory. Rule ``interpret_embeddings`` never holds its
    matrix: it takes the exact PCA over blocks of rows
    (:func:`dynaclr.interpretation.stage.store_principal_components`), equal to this to rounding
    where scikit-learn's solver is exact, the components this approximates where it is randomized."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n_kept = kept_components(n_components, matrix.shape, N_COMPONENTS_KEY)
    pca = PCA(n_components=n_kept, random_state=seed)
    return pca.fit_transform(matrix), np.asarray(pca.explained_variance_ratio_)


def component_feature_correlation(
    scores: np.ndarray, explained: np.ndarray, features: pd.DataFrame
) -> pd.DataFrame:
    """Spearman's rho (and its two-sided p-value) of every component with every feature.

    Args:
        scores: ``(N, K)`` component scores, row-aligned with ``features``.
        explained: ``(K,)`` explained variance ratio of each component.
        features: ``(N, F)`` numeric features; NaN values (e.g. the shape of an empty mask) are
            left out pairwise. A constant feature gets rho NaN.

    Returns:
        Columns ``pc`` (1-based), ``explained_variance_ratio``, ``feature``, ``rho``, ``p_value``,
        ``n_cells`` (cells with a finite value); by component, features in their column order.
    """
    if len(scores) != len(features):
        raise ValueError(f"{len(scores)} rows of scores for {len(features)} rows of features")
    rows = []
    for name in features.columns:
        values = features[name].to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        for k in range(scores.shape[1]):
            rho = p_value = np.nan
            if finite.sum() >= 3 and np.ptp(values[finite]) > 0 and np.ptp(scores[finite, k]) > 0:
                result = spearmanr(scores[finite, k], values[finite])
                rho, p_value = float(result.statistic), float(result.pvalue)
            rows.append(
                {
                    "pc": k + 1,
                    "explained_variance_ratio": float(explained[k]),
                    "feature": name,
                    "rho": rho,
                    "p_value": p_value,
                    "n_cells": int(finite.sum()),
                }
            )
    return pd.DataFrame(rows).sort_values("pc", kind="stable").reset_index(drop=True)


def quantile_bin_draw(
    values: np.ndarray, n_bins: int, per_bin: int, rng: np.random.Generator | int = 0
) -> list[np.ndarray]:
    """Row indices drawn from each of ``n_bins`` equal-count bins of ``values`` (lowest first).

    Bins are by rank (ties broken by order), so each holds ``N / n_bins`` cells; up to ``per_bin``
    rows are drawn per bin without replacement, returned sorted by value.
    """
    rng = np.random.default_rng(rng)
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    drawn = []
    for members in np.array_split(order, n_bins):
        chosen = (
            rng.choice(members, size=min(per_bin, len(members)), replace=False) if len(members) else members
        )
        drawn.append(chosen[np.argsort(values[chosen], kind="stable")])
    return drawn
