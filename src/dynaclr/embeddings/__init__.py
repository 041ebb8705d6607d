"""Embeddings of single-cell patches: inference, the ``embeddings`` AnnData artifact, projections.

* :func:`embed_patches`: encode every patch (centre crop, no augmentation), streamed and resumable;
* :func:`read_embeddings` / :func:`write_embeddings`: the AnnData store with provenance
  (``X`` = backbone features or z-scored engineered features, ``obsm['X_projections']`` = head
  output, ``layers['raw']`` = raw engineered features, ``obs`` = patch index);
* :func:`compute_projections`: PCA (or UMAP) coordinates for figures, in their own table;
* :func:`ground_truth_patch_store`: patches cut at the true centroids of a simulated plate.

Submodules are imported lazily, so reading an embeddings store does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynaclr._lazy import lazy_exports

if TYPE_CHECKING:
    from dynaclr.embeddings.inference import (
        embed_patches,
        encoder_fingerprint,
        partial_store_path,
        resolve_device,
    )
    from dynaclr.embeddings.projections import PROJECTIONS_KIND, compute_projections, project_matrix
    from dynaclr.embeddings.store import (
        EMBEDDINGS_KIND,
        PROJECTIONS_KEY,
        RAW_LAYER,
        RAW_MEAN_COLUMN,
        RAW_STD_COLUMN,
        REQUIRED_OBS_COLUMNS,
        build_anndata,
        cell_table,
        read_embeddings,
        read_embeddings_provenance,
        representation_matrix,
        write_embeddings,
    )
    from dynaclr.embeddings.synthetic import PATCH_INDEX_COLUMNS, ground_truth_patch_store

_EXPORTS = {
    "embed_patches": "inference",
    "encoder_fingerprint": "inference",
    "partial_store_path": "inference",
    "resolve_device": "inference",
    "PROJECTIONS_KIND": "projections",
    "compute_projections": "projections",
    "project_matrix": "projections",
    "EMBEDDINGS_KIND": "store",
    "PROJECTIONS_KEY": "store",
    "REQUIRED_OBS_COLUMNS": "store",
    "RAW_LAYER": "store",
    "RAW_MEAN_COLUMN": "store",
    "RAW_STD_COLUMN": "store",
    "build_anndata": "store",
    "cell_table": "store",
    "read_embeddings": "store",
    "read_embeddings_provenance": "store",
    "representation_matrix": "store",
    "write_embeddings": "store",
    "PATCH_INDEX_COLUMNS": "synthetic",
    "ground_truth_patch_store": "synthetic",
}

__all__ = [
    "EMBEDDINGS_KIND",
    "PATCH_INDEX_COLUMNS",
    "PROJECTIONS_KEY",
    "PROJECTIONS_KIND",
    "RAW_LAYER",
    "RAW_MEAN_COLUMN",
    "RAW_STD_COLUMN",
    "REQUIRED_OBS_COLUMNS",
    "build_anndata",
    "cell_table",
    "compute_projections",
    "embed_patches",
    "encoder_fingerprint",
    "ground_truth_patch_store",
    "partial_store_path",
    "project_matrix",
    "read_embeddings",
    "read_embeddings_provenance",
    "representation_matrix",
    "resolve_device",
    "write_embeddings",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
