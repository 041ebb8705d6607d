"""An embeddings store for tools that read neither zarr-3 AnnData nor this project's stores.

``.h5ad`` is the same AnnData (``X``, ``obs``, ``obsm``, ``uns`` with the store's provenance);
the Parquet table has the cell index (the ``obs`` columns) then one ``feature_<i>`` column per
embedding dimension, with the provenance (kind ``embeddings_table``) in its metadata; the VisCy
features store (``.viscy.zarr``) is described in :mod:`dynaclr.exports.viscy`.

Each export copies the store's matrices a block of rows at a time (:class:`MatrixBlocks`), so a
job holds the cells' index and a few blocks, never a whole matrix: the ``.h5ad`` is written by
anndata without its dense matrices, which are then filled into HDF5 datasets block by block; the
Parquet table gets one row group per block. Both read back as the whole AnnData written at once
would (``tests/unit/test_exports_stream.py``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dynaclr.embeddings import open_embeddings, open_representation, read_cells, read_embeddings_provenance
from dynaclr.embeddings.blocks import MatrixBlocks
from dynaclr.embeddings.store import ARRAY_ENCODING
from dynaclr.exports.viscy import export_viscy_features
from dynaclr.io import ArtifactError, ArtifactKind, Provenance, StageFiles, atomic_output, make_provenance
from dynaclr.io.provenance import PROVENANCE_KEY

logger = logging.getLogger(__name__)
#: Key of pandas' description of a table in an Arrow schema's metadata (what ``to_pandas`` restores).
PANDAS_METADATA_KEY = b"pandas"


def feature_names(obs_columns: list[str], n_features: int) -> list[str]:
    """``feature_0 … feature_{D-1}``; raises :class:`ArtifactError` if ``obs`` has one already."""
    names = [f"feature_{i}" for i in range(n_features)]
    clash = sorted(set(names) & set(obs_columns))
    if clash:
        raise ArtifactError(f"obs already has columns {clash}; the feature columns would overwrite them")
    return names


def feature_table(obs: pd.DataFrame, features: np.ndarray) -> pd.DataFrame:
    """The cell index then ``feature_0 … feature_{D-1}`` (float32), one row per cell and frame
    (the Parquet table :func:`write_feature_table` writes, whole)."""
    if len(obs) != len(features):
        raise ValueError(f"{len(obs)} cells in obs but {len(features)} feature rows")
    names = feature_names([str(c) for c in obs.columns], features.shape[1])
    values = pd.DataFrame(np.asarray(features, dtype=np.float32), columns=names, index=obs.index)
    return pd.concat([obs, values], axis=1).reset_index(drop=True)


def feature_table_schema(cells: pa.Table, obs: pd.DataFrame, names: list[str]) -> pa.Schema:
    """The Arrow schema of :func:`feature_table` of ``obs`` (``cells``: ``obs`` as Arrow), with the
    same pandas metadata as ``pa.Table.from_pandas`` of the whole table, without building it: the
    ``obs`` columns as converted whole (their types can depend on the values), the feature columns
    (and the description of the columns' index) as the empty table gives them."""
    empty = pa.Table.from_pandas(
        feature_table(obs.iloc[:0], np.zeros((0, len(names)), dtype=np.float32)), preserve_index=False
    )
    pandas_metadata = json.loads(empty.schema.metadata[PANDAS_METADATA_KEY])
    whole = json.loads((cells.schema.metadata or {})[PANDAS_METADATA_KEY])
    pandas_metadata["columns"] = whole["columns"] + pandas_metadata["columns"][len(obs.columns) :]
    fields = [*cells.schema, *(empty.schema.field(name) for name in names)]
    return pa.schema(fields, metadata={PANDAS_METADATA_KEY: json.dumps(pandas_metadata).encode()})


def write_feature_table(embeddings: Path, output: Path, provenance: Provenance) -> int:
    """Write the Parquet table of an embeddings store (the cells' index, then ``X`` as
    ``feature_<i>`` float32 columns), one row group per block of ``X``'s rows, with ``provenance``
    in its metadata; the same table as ``write_table(feature_table(obs, X), output, provenance)``.
    Returns the number of rows."""
    obs = read_cells(embeddings)
    blocks = open_representation(embeddings, "features")
    names = feature_names([str(c) for c in obs.columns], blocks.n_columns)
    if len(obs) != blocks.n_rows:
        raise ArtifactError(f"{embeddings}: {len(obs)} cells in obs but {blocks.n_rows} rows in X")
    cells = pa.Table.from_pandas(obs, preserve_index=False)
    schema = feature_table_schema(cells, obs, names)
    schema = schema.with_metadata(
        {**(schema.metadata or {}), PROVENANCE_KEY.encode(): provenance.model_dump_json().encode()}
    )
    with atomic_output(output) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for start, block in blocks.stored_blocks():
            features = np.asfortranarray(block, dtype=np.float32)  # contiguous columns
            columns = [*cells.slice(start, len(block)).columns, *(pa.array(column) for column in features.T)]
            writer.write_table(
                pa.Table.from_arrays(columns, schema=schema), row_group_size=max(1, len(block))
            )
    return len(obs)


def write_h5ad(embeddings: Path, output: Path) -> tuple[int, int]:
    """Write an embeddings store as ``.h5ad``: anndata writes all but its dense matrices, then each
    (``X``, ``obsm``, ``layers``) is filled into an HDF5 dataset with anndata's encoding, a block of
    rows at a time. ``anndata.read_h5ad`` reads back the AnnData ``read_embeddings`` gives.
    Returns ``(cells, features)``."""
    adata, matrices = open_embeddings(embeddings)
    with atomic_output(output) as tmp:
        adata.write_h5ad(tmp)
        with h5py.File(tmp, "r+") as file:
            for key, blocks in matrices.items():
                _copy_matrix(blocks, file, key)
    return adata.n_obs, adata.n_vars


def _copy_matrix(blocks: MatrixBlocks, file: h5py.File, key: str) -> None:
    """``blocks`` into a new dataset ``key`` of ``file`` (contiguous, uncompressed, as anndata writes
    a dense array by default), a block at a time."""
    dataset = file.create_dataset(key, shape=blocks.shape, dtype=blocks.array.dtype)
    dataset.attrs.update(ARRAY_ENCODING)
    for start, block in blocks.stored_blocks():
        dataset[start : start + len(block)] = block


class ExportEmbeddingsInputs(StageFiles):
    """Rules ``export_embeddings`` and ``export_viscy``: one embeddings store; for ``viscy`` (rule
    ``export_viscy``) also the dataset's tracks table (the tracker's node ids) and the store's
    projections."""

    embeddings: Path
    tracks: Path | None = None
    projections: Path | None = None


class ExportEmbeddingsOutputs(StageFiles):
    """The exports the config asks for: ``h5ad`` and ``parquet`` (rule ``export_embeddings``),
    ``viscy`` (rule ``export_viscy``, its own rule: turning it on or off reruns no other export)."""

    h5ad: Path | None = None
    parquet: Path | None = None
    viscy: Path | None = None


def export_embeddings(inputs: ExportEmbeddingsInputs, outputs: ExportEmbeddingsOutputs) -> None:
    """Write an embeddings store as ``.h5ad``, as a Parquet feature table and/or as VisCy's
    features store (:mod:`dynaclr.exports.viscy`), each a block of rows at a time."""
    embeddings, h5ad, parquet = inputs.embeddings, outputs.h5ad, outputs.parquet
    if outputs.viscy is not None:
        if inputs.tracks is None:
            raise ValueError("the VisCy features store needs the dataset's tracks table (input 'tracks')")
        export_viscy_features(embeddings, inputs.tracks, outputs.viscy, inputs.projections)
    if h5ad is not None:
        n_cells, n_features = write_h5ad(embeddings, h5ad)
        logger.info("Wrote %s: %d cells × %d features", h5ad, n_cells, n_features)
    if parquet is not None:
        record = make_provenance(
            ArtifactKind.EMBEDDINGS_TABLE,
            {"features": "X"},
            [(str(embeddings), read_embeddings_provenance(embeddings))],
        )
        n_rows = write_feature_table(embeddings, parquet, record)
        logger.info("Wrote %s: %d rows", parquet, n_rows)
