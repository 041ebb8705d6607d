"""Low-dimensional projections of embeddings for figures (a separate rule: a slow or failed
projection never costs the embeddings).

The ``projections`` artifact (``results/embeddings/{model}/{dataset}.projections.zarr``) is an
AnnData written with anndata's zarr writer, provenance in its root attributes:

* ``obs``: the embeddings' ``obs`` (one row per cell, same order);
* ``obsm['X_pca']``, ``obsm['X_umap']``, ``obsm['X_phate']``: ``(N, k)`` float32 coordinates
  (unitless) of each method in ``analysis.projections.methods``, under scanpy's keys, so
  ``scanpy.pl.embedding(adata, basis='umap')`` draws them;
* ``uns['pca']['variance_ratio']``: PCA's explained variance ratio per component (scanpy's key);
* no ``X`` (``n_vars`` is 0): the features stay in the embeddings store.

PCA is exact and deterministic. With ``pca`` alone in ``config.methods`` the store is never read
whole (:func:`streamed_pca`: the matrix a block of rows at a time, the cells without it). With
``config.neighbor_pca_components`` set to k, UMAP and PHATE run on the first k principal components
(scanpy's neighbours on ``X_pca``), from the same streamed PCA (:func:`streamed_projections`): the
store is not read whole either, the job holds ``(N, k)`` scores. Otherwise UMAP and PHATE need the
whole matrix, so with either of them every method runs on it in memory (:func:`project_matrix`:
scikit-learn's ``PCA(svd_solver='full')``). Both PCAs give the same coordinates to rounding, with
scikit-learn's signs. UMAP is umap-learn's and PHATE phate's, both
seeded with ``config.seed`` and run single-threaded, so the same seed gives the same coordinates
on a CPU. :func:`projection_table` flattens the store into the table the
figures read (``pca_1 .. pca_k``, ``umap_1 ..``, ``phate_1 ..`` beside the ``obs`` columns).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from dynaclr.config.embeddings import PROJECTION_KEYS, ProjectionConfig
from dynaclr.embeddings.blocks import MatrixBlocks, streamed_principal_components
from dynaclr.embeddings.cells import cell_table
from dynaclr.embeddings.store import (
    check_index,
    open_representation,
    read_cells,
    read_embeddings,
    read_embeddings_provenance,
    representation_matrix,
    write_anndata_zarr,
)
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    StageFiles,
    atomic_output,
    make_provenance,
    read_zarr_provenance,
    unreadable_artifact,
    write_zarr_provenance,
)

logger = logging.getLogger(__name__)

_CONFIG_KEY = "analysis.projections"


class ProjectionInputs(StageFiles):
    """Rule ``project_embeddings``: one embeddings store."""

    embeddings: Path


class ProjectionOutputs(StageFiles):
    """Rule ``project_embeddings``: the AnnData store of the cells' coordinates."""

    projections: Path


def _check_neighbours(n_cells: int, n_neighbours: int, key: str) -> None:
    if n_neighbours >= n_cells:
        raise ValueError(
            f"{_CONFIG_KEY}.{key}={n_neighbours} needs more cells than neighbours, but the embeddings have "
            f"{n_cells} cells: lower {_CONFIG_KEY}.{key} below {n_cells}, or drop the method from "
            f"{_CONFIG_KEY}.methods"
        )


def _check_components(shape: tuple[int, int], n_components: int, where: str = "") -> None:
    """``n_components`` coordinates need at least as many cells and columns; ``where`` names the
    matrix (its model, representation and store) in the message."""
    if n_components > min(shape):
        raise ValueError(
            f"{_CONFIG_KEY}.n_components={n_components} exceeds min(N, D)={min(shape)} of the {shape} matrix"
            f"{where}: lower it to {min(shape)} or less"
        )


def _pca(matrix: np.ndarray, config: ProjectionConfig) -> tuple[np.ndarray, dict[str, Any]]:
    pca = PCA(n_components=config.n_components, svd_solver="full", random_state=config.seed)
    coordinates = pca.fit_transform(matrix)
    return coordinates, {"variance_ratio": pca.explained_variance_ratio_.tolist()}


def _umap(matrix: np.ndarray, config: ProjectionConfig) -> tuple[np.ndarray, dict[str, Any]]:
    import umap

    _check_neighbours(len(matrix), config.umap.n_neighbors, "umap.n_neighbors")
    reducer = umap.UMAP(
        n_components=config.n_components,
        n_neighbors=config.umap.n_neighbors,
        min_dist=config.umap.min_distance,
        random_state=config.seed,  # a seed makes umap-learn single-threaded: reproducible
        n_jobs=1,
    )
    return np.asarray(reducer.fit_transform(matrix)), {}


def _phate(matrix: np.ndarray, config: ProjectionConfig) -> tuple[np.ndarray, dict[str, Any]]:
    import phate

    _check_neighbours(len(matrix), config.phate.knn, "phate.knn")
    # principal components already: no second PCA (phate's would skip it anyway, with a warning)
    n_pca = None if config.neighbor_pca_components is not None else min(100, *matrix.shape)
    operator = phate.PHATE(
        n_components=config.n_components,
        knn=config.phate.knn,
        decay=config.phate.decay,
        t=config.phate.t,
        n_landmark=config.phate.n_landmark,
        n_pca=n_pca,
        n_jobs=1,
        random_state=config.seed,
        verbose=0,
    )
    coordinates = np.asarray(operator.fit_transform(matrix))
    return coordinates, {"t": int(operator.optimal_t) if config.phate.t == "auto" else config.phate.t}


_METHODS = {"pca": _pca, "umap": _umap, "phate": _phate}


def _check_neighbor_components(shape: tuple[int, int], n_components: int) -> None:
    if n_components > min(shape):
        raise ValueError(
            f"{_CONFIG_KEY}.neighbor_pca_components={n_components} exceeds min(N, D)={min(shape)} of the "
            f"{shape} matrix: lower it, or set it to null"
        )


def _pca_components_needed(config: ProjectionConfig) -> int:
    """Principal components one PCA must give: ``n_components`` for ``pca``, ``neighbor_pca_components``
    for UMAP and PHATE."""
    needed = config.n_components if "pca" in config.methods else 1
    if config.neighbor_pca_components is not None and set(config.methods) != {"pca"}:
        needed = max(needed, config.neighbor_pca_components)
    return needed


def _from_principal_components(
    scores: np.ndarray, variance_ratio: np.ndarray, config: ProjectionConfig
) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Every method of ``config.methods`` from one PCA's ``(N, >= needed)`` ``scores``: ``pca`` its
    first ``n_components`` columns, UMAP and PHATE run on its first ``neighbor_pca_components``."""
    projected: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    for method in config.methods:
        if method == "pca":
            ratio = variance_ratio[: config.n_components]
            projected[method] = (scores[:, : config.n_components], {"variance_ratio": ratio.tolist()})
        else:
            assert config.neighbor_pca_components is not None
            reduced = np.ascontiguousarray(scores[:, : config.neighbor_pca_components])
            projected[method] = _METHODS[method](reduced, config)
    return projected


def project_matrix(
    matrix: np.ndarray, config: ProjectionConfig
) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Project ``(N, D)`` ``matrix`` to ``(N, config.n_components)`` with every method of ``config.methods``.

    Columns are z-scored first when ``config.standardize``. With ``config.neighbor_pca_components``
    set, one PCA gives both ``pca``'s coordinates and the principal components UMAP and PHATE run on.

    Returns:
        Per method: the coordinates and a dict of diagnostics (PCA: ``variance_ratio``, PHATE: ``t``).

    Raises:
        ValueError: ``n_components`` exceeds ``min(N, D)``, or a neighbourhood (``umap.n_neighbors``,
            ``phate.knn``) is not smaller than ``N``, or ``neighbor_pca_components`` exceeds
            ``min(N, D)``; the message names the config key.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be (N, D), got shape {matrix.shape}")
    _check_components(matrix.shape, config.n_components)
    if config.neighbor_pca_components is not None and set(config.methods) != {"pca"}:
        _check_neighbor_components(matrix.shape, config.neighbor_pca_components)
    if config.standardize:
        matrix = StandardScaler().fit_transform(matrix)
    if config.neighbor_pca_components is not None and set(config.methods) != {"pca"}:
        pca = PCA(n_components=_pca_components_needed(config), svd_solver="full", random_state=config.seed)
        scores = pca.fit_transform(matrix)
        return _from_principal_components(scores, pca.explained_variance_ratio_, config)
    return {method: _METHODS[method](matrix, config) for method in config.methods}


def streamed_pca(blocks: MatrixBlocks, config: ProjectionConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """PCA of the ``(N, D)`` matrix of ``blocks``, z-scored first when ``config.standardize``, never
    held whole: what :func:`project_matrix` gives for ``pca``, to rounding
    (:func:`~dynaclr.embeddings.blocks.streamed_principal_components`).

    Returns:
        ``(N, config.n_components)`` float64 coordinates (unitless) and ``{"variance_ratio": [...]}``.

    Raises:
        ValueError: ``n_components`` exceeds ``min(N, D)`` (naming the config key), or a value is
            NaN or infinite.
    """
    _check_components(blocks.shape, config.n_components)
    coordinates, ratio = streamed_principal_components(
        blocks, config.n_components, standardize=config.standardize
    )
    return coordinates, {"variance_ratio": ratio.tolist()}


def streamed_projections(
    blocks: MatrixBlocks, config: ProjectionConfig
) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Every method of ``config.methods`` from one streamed PCA of the ``(N, D)`` matrix of
    ``blocks`` (z-scored first when ``config.standardize``), never held whole: ``pca`` its first
    ``n_components`` coordinates (:func:`streamed_pca`'s), UMAP and PHATE run on its first
    ``config.neighbor_pca_components`` (required when either is in ``config.methods``). What
    :func:`project_matrix` gives, to rounding (UMAP and PHATE: from scores equal to rounding).

    Returns:
        Per method: the coordinates and a dict of diagnostics (PCA: ``variance_ratio``, PHATE: ``t``).

    Raises:
        ValueError: as :func:`project_matrix`; or UMAP or PHATE without ``neighbor_pca_components``,
            or a value is NaN or infinite.
    """
    if config.neighbor_pca_components is None and set(config.methods) != {"pca"}:
        raise ValueError(
            f"UMAP and PHATE stream only from principal components: set {_CONFIG_KEY}.neighbor_pca_components"
        )
    _check_components(blocks.shape, config.n_components)
    if config.neighbor_pca_components is not None and set(config.methods) != {"pca"}:
        _check_neighbor_components(blocks.shape, config.neighbor_pca_components)
    scores, ratio = streamed_principal_components(
        blocks, _pca_components_needed(config), standardize=config.standardize
    )
    return _from_principal_components(scores, ratio, config)


def projections_anndata(
    cells: pd.DataFrame, projected: dict[str, tuple[np.ndarray, dict[str, Any]]]
) -> ad.AnnData:
    """The projections AnnData (layout in the module docstring) of ``cells`` (the embeddings' obs)."""
    check_index(cells, "cells")
    obs = cells.reset_index(drop=True).copy()
    obs.index = pd.Index(np.arange(len(obs)).astype(str))
    adata = ad.AnnData(obs=obs)
    for method, (coordinates, diagnostics) in projected.items():
        coordinates = np.asarray(coordinates, dtype=np.float32)
        if coordinates.ndim != 2 or coordinates.shape[0] != len(obs):
            raise ValueError(f"{method} coordinates must be (N={len(obs)}, k), got shape {coordinates.shape}")
        adata.obsm[PROJECTION_KEYS[method]] = coordinates
        if method == "pca":
            adata.uns["pca"] = {"variance_ratio": np.asarray(diagnostics["variance_ratio"], dtype=np.float64)}
    return adata


def write_projections(adata: ad.AnnData, path: str | Path, provenance: Provenance) -> None:
    """Write the projections AnnData to the zarr store ``path`` atomically, provenance in its root."""
    if provenance.kind != ArtifactKind.PROJECTIONS:
        raise ValueError(f"provenance kind must be {ArtifactKind.PROJECTIONS!r}, got {provenance.kind!r}")
    with atomic_output(path) as tmp:
        write_anndata_zarr(adata, tmp)
        write_zarr_provenance(tmp, provenance)
    logger.info("Wrote projections %s (%d cells: %s)", path, adata.n_obs, ", ".join(adata.obsm))


def read_projections(path: str | Path) -> tuple[ad.AnnData, Provenance]:
    """Read a projections store after checking its provenance (kind ``projections``).

    Raises:
        ArtifactError: missing, not a projections store, of another schema version, or without
            ``fov_name, track_id, t`` in ``obs`` or any coordinates.
    """
    provenance = read_zarr_provenance(path, ArtifactKind.PROJECTIONS)
    try:
        adata = ad.read_zarr(str(path))
    except Exception as err:  # anndata raises several error types for a damaged store
        raise unreadable_artifact(Path(path), ArtifactKind.PROJECTIONS, err) from err
    for column in adata.obs.columns:
        if isinstance(adata.obs[column].dtype, pd.CategoricalDtype):
            adata.obs[column] = adata.obs[column].astype(adata.obs[column].cat.categories.dtype)
    try:
        check_index(adata.obs, f"{path}: obs")
    except ValueError as err:
        rule = ArtifactKind.PROJECTIONS.rule
        raise ArtifactError(f"{err}; rerun it with `snakemake --forcerun {rule}`") from err
    if not any(key in adata.obsm for key in PROJECTION_KEYS.values()):
        raise ArtifactError(
            f"{path}: no coordinates (none of obsm {list(PROJECTION_KEYS.values())}); rerun it with "
            f"`snakemake --forcerun {ArtifactKind.PROJECTIONS.rule}`"
        )
    return adata, provenance


def projection_table(adata: ad.AnnData) -> pd.DataFrame:
    """The cells' ``obs`` with each stored method's coordinates as columns ``{method}_1 .. {method}_k``,
    methods in :data:`~dynaclr.config.embeddings.PROJECTION_KEYS` order."""
    table = cell_table(adata).copy()
    for method, key in PROJECTION_KEYS.items():
        if key in adata.obsm:
            coordinates: np.ndarray = np.asarray(adata.obsm[key])
            for k in range(coordinates.shape[1]):
                table[f"{method}_{k + 1}"] = coordinates[:, k]
    return table


def explained_variance_ratio(adata: ad.AnnData) -> list[float] | None:
    """PCA's explained variance ratio per component (``uns['pca']['variance_ratio']``), if stored."""
    pca = adata.uns.get("pca")
    if not isinstance(pca, dict) or "variance_ratio" not in pca:
        return None
    return [float(v) for v in np.asarray(pca["variance_ratio"])]


def projection_stage(
    config: ProjectionConfig, inputs: ProjectionInputs, outputs: ProjectionOutputs
) -> ad.AnnData:
    """Project one embeddings store with every method of ``config.methods`` and write the
    projections store (kind ``projections``; layout in the module docstring).

    The matrix projected is ``config.representation`` of the embeddings. With ``pca`` alone in
    ``config.methods``, or with ``config.neighbor_pca_components`` set, it is read a block of rows
    at a time and the cells without it (:func:`streamed_pca`, :func:`streamed_projections`: memory
    grows with the cells, not cells x features); otherwise the store is read whole and every method
    runs in memory (:func:`project_matrix`), as UMAP and PHATE on the whole matrix need.

    Returns:
        The AnnData written.
    """
    source = read_embeddings_provenance(inputs.embeddings)
    model = source.config.get("model")

    def check(shape: tuple[int, int]) -> None:
        """Before the PCA: the config check knows the width of a projection head and of the engineered
        features, not the cells; the message names the model and the store."""
        matrix = f"'{config.representation}' of model {model!r} in {inputs.embeddings}"
        _check_components(shape, config.n_components, f" ({matrix}: {shape[0]} cells x {shape[1]} columns)")

    projected: dict[str, tuple[np.ndarray, dict[str, Any]]]
    if tuple(config.methods) == ("pca",) or config.neighbor_pca_components is not None:
        cells = read_cells(inputs.embeddings)
        blocks = open_representation(inputs.embeddings, config.representation)
        check(blocks.shape)
        if tuple(config.methods) == ("pca",):
            logger.info("PCA of %s streamed: %s", inputs.embeddings, blocks)
            projected = {"pca": streamed_pca(blocks, config)}
        else:
            logger.info(
                "PCA of %s streamed (%d components for UMAP and PHATE): %s",
                inputs.embeddings,
                config.neighbor_pca_components,
                blocks,
            )
            projected = streamed_projections(blocks, config)
    else:
        adata = read_embeddings(inputs.embeddings)
        cells = cell_table(adata)
        matrix = representation_matrix(adata, config.representation)
        check(matrix.shape)
        projected = project_matrix(matrix, config)
        del adata
    for method, (_, diagnostics) in projected.items():
        if diagnostics:
            logger.info("%s of %s: %s", method, inputs.embeddings, diagnostics)
    result = projections_anndata(cells, projected)
    provenance = make_provenance(
        ArtifactKind.PROJECTIONS, config.model_dump(mode="json"), [(inputs.embeddings, source)]
    )
    write_projections(result, outputs.projections, provenance)
    return result
