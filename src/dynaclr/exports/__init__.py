"""Exports for other tools (rules ``export_ctc``, ``export_embeddings``; opt-in, config ``exports``).

* :func:`~dynaclr.exports.ctc.export_ctc_fov`: one FOV's tracking as a Cell Tracking Challenge
  result folder (``mask<t>.tif`` label images and ``res_track.txt``), which the CTC evaluation
  software, traccuracy and this project's own ``tracks: {format: ctc}`` import read.
* :func:`~dynaclr.exports.embeddings.export_embeddings`: an embeddings store as ``.h5ad`` (for
  tools without zarr-3 AnnData support) and as one Parquet table, the cell index then one column
  per feature.
* :func:`~dynaclr.exports.viscy.export_viscy_features`: an embeddings store as the xarray features
  store VisCy's ``EmbeddingWriter`` wrote for the DynaCLR paper, which VisCy's
  ``read_embedding_dataset`` and napari-iohub's "Single-cell features" widget open.
"""
