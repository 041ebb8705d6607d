"""The ``embeddings`` artifact: an AnnData written with anndata's zarr writer, provenance in its root.

Layout of ``results/embeddings/{model}/{dataset}.zarr`` (one row per patch, in patch-store order):

* ``X``: ``(N, E)`` float32, the backbone's pooled features (``features``);
* ``obsm['X_projections']``: ``(N, P)`` float32, the projection head's output (absent for models
  without a head, e.g. engineered features);
* ``obsm['X_standardized']``: ``(N, E)`` float32, only for the engineered-features baseline: ``X``
  z-scored per column over all cells;
* ``obs``: the patch index columns (``fov_name, track_id, t`` required; usually also
  ``lineage_id, parent_track_id, y, x, well, condition, border_fraction``), index ``"0".."N-1"``;
* ``uns['dynaclr']``: ``model``, ``dataset``, ``representation_note``;
* root attributes ``dynaclr``: the provenance record (kind ``embeddings``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from dynaclr.io import ArtifactError, Provenance, atomic_output, read_zarr_provenance, write_zarr_provenance

logger = logging.getLogger(__name__)

EMBEDDINGS_KIND = "embeddings"
#: Columns every embeddings ``obs`` table must have: track identity and frame.
REQUIRED_OBS_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t")
PROJECTIONS_KEY = "X_projections"
STANDARDIZED_KEY = "X_standardized"
_REPRESENTATION_KEYS = {"projections": PROJECTIONS_KEY, "standardized": STANDARDIZED_KEY}


def check_index(index: pd.DataFrame, source: str = "index") -> None:
    """Raise ``ValueError`` naming ``source`` when ``index`` lacks ``fov_name, track_id, t``."""
    missing = [c for c in REQUIRED_OBS_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(
            f"{source}: missing required columns {missing}; expected at least {list(REQUIRED_OBS_COLUMNS)}, "
            f"found {list(index.columns)}"
        )


def build_anndata(
    features: np.ndarray,
    index: pd.DataFrame,
    projections: np.ndarray | None = None,
    standardized: np.ndarray | None = None,
    info: dict[str, Any] | None = None,
) -> ad.AnnData:
    """Assemble the embeddings AnnData (layout in the module docstring).

    Args:
        features: ``(N, E)`` backbone features.
        index: ``N`` rows, the patch index (row ``i`` describes patch ``i``).
        projections: optional ``(N, P)`` head output.
        standardized: optional ``(N, E)`` z-scored features.
        info: stored as ``uns['dynaclr']``.
    """
    check_index(index)
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] != len(index):
        raise ValueError(f"features must be (N={len(index)}, E), got shape {features.shape}")
    obs = index.reset_index(drop=True).copy()
    obs.index = pd.Index(np.arange(len(obs)).astype(str))
    obs.columns = [str(c) for c in obs.columns]
    adata = ad.AnnData(X=features, obs=obs)
    for key, matrix in ((PROJECTIONS_KEY, projections), (STANDARDIZED_KEY, standardized)):
        if matrix is None:
            continue
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(index):
            raise ValueError(f"{key} must be (N={len(index)}, D), got shape {matrix.shape}")
        adata.obsm[key] = matrix
    adata.uns["dynaclr"] = dict(info or {})
    return adata


def write_embeddings(adata: ad.AnnData, path: str | Path, provenance: Provenance) -> None:
    """Write ``adata`` to the zarr store ``path`` atomically, with ``provenance`` in its root attributes."""
    if provenance.kind != EMBEDDINGS_KIND:
        raise ValueError(f"provenance kind must be {EMBEDDINGS_KIND!r}, got {provenance.kind!r}")
    with atomic_output(path) as tmp:
        adata.write_zarr(tmp)
        write_zarr_provenance(tmp, provenance)
    logger.info("Wrote embeddings %s (%d cells x %d features)", path, adata.n_obs, adata.n_vars)


def read_embeddings_provenance(path: str | Path) -> Provenance:
    """Provenance of an embeddings store; raises :class:`ArtifactError` if it is not one."""
    return read_zarr_provenance(path, EMBEDDINGS_KIND)


def read_embeddings(path: str | Path) -> ad.AnnData:
    """Read an embeddings store after checking its provenance (kind ``embeddings``).

    String columns of ``obs`` come back as strings (anndata stores them as categoricals).

    Raises:
        ArtifactError: the store is missing, not an embeddings artifact, of another schema
            version, or its ``obs`` lacks ``fov_name, track_id, t``.
    """
    read_embeddings_provenance(path)
    adata = ad.read_zarr(str(path))
    obs = adata.obs
    for column in obs.columns:
        if isinstance(obs[column].dtype, pd.CategoricalDtype):
            obs[column] = obs[column].astype(obs[column].cat.categories.dtype)
    try:
        check_index(obs, f"{path}: obs")
    except ValueError as err:
        raise ArtifactError(str(err)) from err
    return adata


def cell_table(adata: ad.AnnData) -> pd.DataFrame:
    """The embeddings' ``obs`` as a plain DataFrame with a fresh ``0..N-1`` index (a copy)."""
    obs = adata.obs
    if not isinstance(obs, pd.DataFrame):
        raise TypeError(f"embeddings obs must be a pandas DataFrame, got {type(obs).__name__}")
    return obs.reset_index(drop=True)


def representation_matrix(adata: ad.AnnData, representation: str) -> np.ndarray:
    """``(N, D)`` float64 matrix of ``representation``: ``features``, ``projections`` or ``standardized``.

    ``features`` is the model's feature vector as the analyses compare it: ``X`` for a learned
    model; for an AnnData that carries ``obsm['X_standardized']`` (the engineered-features
    baseline, whose ``X`` mixes pixels, intensities and unitless texture) its z-scored copy, so
    that cosine distances are not dominated by whichever feature has the largest unit.

    Raises:
        KeyError: the AnnData has no such matrix (e.g. projections of engineered features).
    """
    if representation == "features":
        matrix = adata.obsm[STANDARDIZED_KEY] if STANDARDIZED_KEY in adata.obsm else adata.X
    elif representation in _REPRESENTATION_KEYS:
        key = _REPRESENTATION_KEYS[representation]
        if key not in adata.obsm:
            raise KeyError(
                f"embeddings have no {representation!r} matrix (obsm[{key!r}]); available: 'features'"
                + "".join(f", {name!r}" for name, k in _REPRESENTATION_KEYS.items() if k in adata.obsm)
            )
        matrix = adata.obsm[key]
    else:
        raise KeyError(
            f"representation must be one of 'features', 'projections', 'standardized'; got {representation!r}"
        )
    return np.asarray(matrix, dtype=np.float64)
