"""Low-dimensional projections of embeddings for figures (a separate rule: a slow or failed
projection never costs the embeddings).

The output table has one row per cell: the embeddings' ``obs`` columns and the coordinates
``{method}_1 .. {method}_k`` (unitless). PCA is scikit-learn's (``svd_solver='full'``, exact
and deterministic); UMAP needs the optional ``umap-learn`` package.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from dynaclr.config.embeddings import ProjectionConfig
from dynaclr.embeddings.cells import cell_table
from dynaclr.embeddings.store import read_embeddings, read_embeddings_provenance, representation_matrix
from dynaclr.io import ArtifactKind, StageFiles, make_provenance, write_table

logger = logging.getLogger(__name__)


class ProjectionInputs(StageFiles):
    """Rule ``project_embeddings``: one embeddings store."""

    embeddings: Path


class ProjectionOutputs(StageFiles):
    """Rule ``project_embeddings``: the table of the cells' coordinates."""

    projections: Path


def project_matrix(matrix: np.ndarray, config: ProjectionConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Project ``(N, D)`` ``matrix`` to ``(N, config.n_components)`` with ``config.method``.

    Returns:
        The coordinates and a dict of diagnostics (PCA: ``explained_variance_ratio``).
    """
    n_components, method, seed = config.n_components, config.method, config.seed
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be (N, D), got shape {matrix.shape}")
    if n_components > min(matrix.shape):
        raise ValueError(
            f"n_components={n_components} exceeds min(N, D)={min(matrix.shape)} of the {matrix.shape} matrix"
        )
    if config.standardize:
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
            n_neighbors=min(config.umap_n_neighbors, matrix.shape[0] - 1),
            min_dist=config.umap_min_distance,
            random_state=seed,
        )
        return np.asarray(reducer.fit_transform(matrix)), {}
    raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")


def projection_stage(
    config: ProjectionConfig, inputs: ProjectionInputs, outputs: ProjectionOutputs
) -> pd.DataFrame:
    """Project one embeddings store and write the table (kind ``projections``).

    The table holds the embeddings' ``obs`` columns and ``{method}_1 .. {method}_k`` (unitless),
    computed from ``config.representation`` (:func:`project_matrix`).

    Returns:
        The table written.
    """
    adata = read_embeddings(inputs.embeddings)
    source = read_embeddings_provenance(inputs.embeddings)
    coordinates, diagnostics = project_matrix(representation_matrix(adata, config.representation), config)
    if diagnostics:
        logger.info("%s of %s: %s", config.method, inputs.embeddings, diagnostics)
    table = cell_table(adata).copy()
    for k in range(config.n_components):
        table[f"{config.method}_{k + 1}"] = coordinates[:, k]
    provenance = make_provenance(
        ArtifactKind.PROJECTIONS, config.model_dump(mode="json"), [(inputs.embeddings, source)]
    )
    write_table(table, outputs.projections, provenance)
    return table
