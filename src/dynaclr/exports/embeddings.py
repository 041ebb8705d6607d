"""An embeddings store for tools that read neither zarr-3 AnnData nor this project's stores.

``.h5ad`` is the same AnnData (``X``, ``obs``, ``obsm``, ``uns`` with the store's provenance);
the Parquet table has the cell index (the ``obs`` columns) then one ``feature_<i>`` column per
embedding dimension, with the provenance (kind ``embeddings_table``) in its metadata; the VisCy
features store (``.viscy.zarr``) is described in :mod:`dynaclr.exports.viscy`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dynaclr.embeddings import read_embeddings, read_embeddings_provenance
from dynaclr.exports.viscy import export_viscy_features
from dynaclr.io import ArtifactError, ArtifactKind, StageFiles, atomic_output, make_provenance
from dynaclr.io.tables import write_table

logger = logging.getLogger(__name__)


def feature_table(obs: pd.DataFrame, features: np.ndarray) -> pd.DataFrame:
    """The cell index then ``feature_0 … feature_{D-1}`` (float32), one row per cell and frame."""
    if len(obs) != len(features):
        raise ValueError(f"{len(obs)} cells in obs but {len(features)} feature rows")
    names = [f"feature_{i}" for i in range(features.shape[1])]
    clash = sorted(set(names) & set(obs.columns))
    if clash:
        raise ArtifactError(f"obs already has columns {clash}; the feature columns would overwrite them")
    values = pd.DataFrame(np.asarray(features, dtype=np.float32), columns=names, index=obs.index)
    return pd.concat([obs, values], axis=1).reset_index(drop=True)


class ExportEmbeddingsInputs(StageFiles):
    """Rule ``export_embeddings``: one embeddings store; for ``viscy`` also the dataset's tracks
    table (the tracker's node ids) and, where computed, the store's projections."""

    embeddings: Path
    tracks: Path | None = None
    projections: Path | None = None


class ExportEmbeddingsOutputs(StageFiles):
    """Rule ``export_embeddings``: the exports the config asks for."""

    h5ad: Path | None = None
    parquet: Path | None = None
    viscy: Path | None = None


def export_embeddings(inputs: ExportEmbeddingsInputs, outputs: ExportEmbeddingsOutputs) -> None:
    """Write an embeddings store as ``.h5ad``, as a Parquet feature table and/or as VisCy's
    features store (:mod:`dynaclr.exports.viscy`)."""
    embeddings, h5ad, parquet = inputs.embeddings, outputs.h5ad, outputs.parquet
    if outputs.viscy is not None:
        if inputs.tracks is None:
            raise ValueError("the VisCy features store needs the dataset's tracks table (input 'tracks')")
        export_viscy_features(embeddings, inputs.tracks, outputs.viscy, inputs.projections)
    if h5ad is None and parquet is None:
        return
    adata = read_embeddings(embeddings)
    provenance = read_embeddings_provenance(embeddings)
    if h5ad is not None:
        with atomic_output(h5ad) as tmp:
            adata.write_h5ad(tmp)
        logger.info("Wrote %s: %d cells × %d features", h5ad, adata.n_obs, adata.n_vars)
    if parquet is not None:
        table = feature_table(adata.obs, np.asarray(adata.X))
        record = make_provenance(
            ArtifactKind.EMBEDDINGS_TABLE, {"features": "X"}, [(str(embeddings), provenance)]
        )
        write_table(table, parquet, record)
        logger.info("Wrote %s: %d rows, %d columns", parquet, len(table), table.shape[1])
