"""Embeddings of single-cell patches: the ``embeddings`` AnnData artifact, its cells, the stages.

* :func:`read_embeddings` / :func:`write_embeddings`: the AnnData store with provenance
  (``X`` = backbone features or z-scored engineered features, ``obsm['X_projections']`` = head
  output, ``layers['raw']`` = raw engineered features, ``obs`` = patch index);
* :func:`read_cells` / :func:`open_representation`: a store's cells, and one of its matrices read
  a block of rows at a time (:class:`MatrixBlocks`), neither reading the whole AnnData;
  :func:`open_embeddings`: the AnnData without its dense matrices, and each of them by blocks;
* :func:`cell_table`, :func:`match_observations_to_cells`, :func:`attach_ground_truth`: the
  embeddings' cells, and annotations or ground truth brought onto them;
* :func:`embed_stage`: rule ``embed``, whatever embeds (a trained encoder, or a baseline of
  :mod:`dynaclr.baselines`); :func:`encode_patches` streams an encoder over a patch store;
* :func:`projection_stage`: rule ``project_embeddings`` (PCA, UMAP, PHATE coordinates in
  ``obsm['X_pca']``, ``obsm['X_umap']``, ``obsm['X_phate']``); :func:`read_projections`,
  :func:`projection_table` read them back.

Submodules are imported lazily (lazy_loader), so reading an embeddings store does not import torch.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
