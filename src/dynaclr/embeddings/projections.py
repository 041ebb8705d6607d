"""Low-dimensional projections of embeddings for figures (a separate rule: a slow or failed
projection never costs the embeddings).

The output table has one row per cell: the embeddings' ``obs`` columns and the coordinates
``{method}_1 .. {method}_k`` (unitless). PCA is scikit-learn's (``svd_solver='full'``, exact
and deterministic); UMAP needs the optional ``umap-learn`` package.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from dynaclr.embeddings.store import (
    cell_table,
    read_embeddings,
    read_embeddings_provenance,
    representation_matrix,
)
from dynaclr.io import make_provenance, write_table

logger = logging.getLogger(__name__)

#: Artifact kind written for projection tables. TODO(lead): register a ``projections`` kind
#: (rule ``project_embeddings``); until then the table is tagged as ``embeddings``.
PROJECTIONS_KIND = "embeddings"


def project_matrix(
    matrix: np.ndarray,
    method: Literal["pca", "umap"] = "pca",
    n_components: int = 2,
    standardize: bool = True,
    seed: int = 0,
    umap_n_neighbors: int = 15,
    umap_min_distance: float = 0.1,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Project ``(N, D)`` ``matrix`` to ``(N, n_components)``.

    Returns:
        The coordinates and a dict of diagnostics (PCA: ``explained_variance_ratio``).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be (N, D), got shape {matrix.shape}")
    if n_components > min(matrix.shape):
        raise ValueError(
            f"n_components={n_components} exceeds min(N, D)={min(matrix.shape)} of the {matrix.shape} matrix"
        )
    if standardize:
        matrix = StandardScaler().fit_transform(matrix)
    if method == "pca":
        pca = PCA(n_components=n_components, svd_solver="full", random_state=seed)
        coordinates = pca.fit_transform(matrix)
        return coordinates, {"explained_variance_ratio": pca.explained_variance_ratio_.tolist()}
    if method == "umap":
        try:
            import umap  # type: ignore[import-not-found]
        except ImportError as err:
            raise ImportError(
                "method='umap' needs the umap-learn package (pip install umap-learn); use method='pca'"
            ) from err
        reducer = umap.UMAP(
            n_components=n_components,
            n_neighbors=min(umap_n_neighbors, matrix.shape[0] - 1),
            min_dist=umap_min_distance,
            random_state=seed,
        )
        return np.asarray(reducer.fit_transform(matrix)), {}
    raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")


def compute_projections(
    embeddings_path: str | Path,
    output_path: str | Path,
    method: Literal["pca", "umap"] = "pca",
    n_components: int = 2,
    representation: str = "features",
    standardize: bool = True,
    seed: int = 0,
    umap_n_neighbors: int = 15,
    umap_min_distance: float = 0.1,
    provenance_config: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Project the embeddings at ``embeddings_path`` and write a Parquet table at ``output_path``.

    Args:
        embeddings_path: an ``embeddings`` store.
        output_path: Parquet table: ``obs`` columns + ``{method}_1 .. {method}_{n_components}``.
        method, n_components, standardize, seed, umap_n_neighbors, umap_min_distance: see
            :func:`project_matrix`.
        representation: ``'features'``, ``'projections'`` or ``'standardized'``.
        provenance_config: the stage's config subtree (default: the arguments above).

    Returns:
        The table written.
    """
    adata = read_embeddings(embeddings_path)
    source = read_embeddings_provenance(embeddings_path)
    coordinates, diagnostics = project_matrix(
        representation_matrix(adata, representation),
        method=method,
        n_components=n_components,
        standardize=standardize,
        seed=seed,
        umap_n_neighbors=umap_n_neighbors,
        umap_min_distance=umap_min_distance,
    )
    if diagnostics:
        logger.info("%s of %s: %s", method, embeddings_path, diagnostics)
    table = cell_table(adata).copy()
    for k in range(n_components):
        table[f"{method}_{k + 1}"] = coordinates[:, k]
    config = provenance_config or {
        "method": method,
        "n_components": n_components,
        "representation": representation,
        "standardize": standardize,
        "seed": seed,
        "umap_n_neighbors": umap_n_neighbors,
        "umap_min_distance": umap_min_distance,
    }
    write_table(table, output_path, make_provenance(PROJECTIONS_KIND, config, [(embeddings_path, source)]))
    return table
