"""An embeddings store in the layout VisCy writes its predicted features in, for VisCy and napari-iohub.

``results/exports/embeddings/{model}/{dataset}.viscy.zarr`` (config ``exports.viscy_features``) is
the xarray ``Dataset`` that VisCy's ``EmbeddingWriter`` wrote in the release of the DynaCLR paper
(``viscy/representation/embedding_writer.py``, VisCy 0.3) and that both
``viscy.representation.embedding_writer.read_embedding_dataset`` (``xarray.open_zarr(path)
.set_index(sample=<index columns present>)``; kept in current VisCy as
``viscy_utils.callbacks.embedding_writer.read_embedding_dataset``) and napari-iohub's
"Single-cell features" widget (``napari_iohub._view_tracks._load_features``:
``open_zarr(path).set_index(sample=["fov_name", "track_id", "t", <UMAP1, UMAP2, PHATE1, PHATE2
present>]).sel(fov_name=...)``) read. Current VisCy *writes* an AnnData zarr instead, but no
reader of napari-iohub takes it; VisCy's ``convert_xarray_annotation_to_anndata`` turns this
layout into that one, and ``exports.h5ad`` gives the AnnData as is.

Layout (zarr format 2 with consolidated metadata, which zarr 2 and zarr 3 both open):

* dimension ``sample`` (one per cell and frame, in the embeddings' row order), ``features`` and
  ``projections``;
* data variables ``features`` ``(sample, features)`` float32 = the store's ``X``, and
  ``projections`` ``(sample, projections)`` float32 = ``obsm['X_projections']`` (absent for
  models without a projection head, e.g. engineered features);
* coordinates along ``sample`` (VisCy's ``INDEX_COLUMNS`` after ``reset_index('sample')``):
  ``fov_name`` (str, ``"/A/1/0"``: with the leading ``/`` of the zarr group name VisCy took it
  from), ``track_id``, ``t``, ``id``, ``parent_track_id``, ``parent_id`` (int64), ``z`` (int64,
  only when the tracks are 3D; 2D tracks have none, which VisCy's reader accepts), ``y``, ``x``
  (the store's patch centres, pixels); then the projections of the dataset, if computed:
  ``PCA1 .. PCAk``, ``UMAP1 ..``, ``PHATE1 ..`` (float32, one coordinate per component);
* attribute ``dynaclr``: the provenance record (kind ``viscy_features``); attribute
  ``cells_not_in_tracks``: how many cells the tracks table lacked (below).

``id`` and ``parent_id`` are the tracker's node ids from ``results/{dataset}/tracks.parquet``
(ultrack's, or an imported table's, or numbered as ultrack does), matched on ``fov_name,
track_id, t``: ``parent_id`` is the node id of the previous detection of the track (for a
daughter's first row, the mother's last), -1 for none. A cell not in that table (none, when the
embeddings were made from it) gets ``id = parent_id = -1`` (``z = -1``), ultrack's and VisCy's
"none", with a warning giving their number; the store's attribute ``cells_not_in_tracks`` keeps it.

The matrices are copied a block of rows at a time (:func:`write_viscy_store`): xarray writes the
coordinates, then ``features`` and ``projections`` are created as xarray would encode them and
filled block by block; ``xarray.open_zarr`` reads the same Dataset as :func:`viscy_dataset` of the
whole matrices gives.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from dynaclr.config.embeddings import PROJECTION_KEYS
from dynaclr.embeddings import open_embeddings, read_embeddings_provenance
from dynaclr.embeddings.blocks import MatrixBlocks
from dynaclr.embeddings.projections import read_projections
from dynaclr.embeddings.store import PROJECTIONS_KEY
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    atomic_output,
    make_provenance,
    read_table,
)
from dynaclr.io.zarr_store import PROVENANCE_KEY
from dynaclr.tracking.engine import NO_PARENT

logger = logging.getLogger(__name__)

#: VisCy's index columns (``viscy_data._typing.ULTRACK_INDEX_COLUMNS``), in its order.
VISCY_INDEX_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "track_id",
    "t",
    "id",
    "parent_track_id",
    "parent_id",
    "z",
    "y",
    "x",
)
#: Columns that identify a cell at a frame in both the embeddings and the tracks.
CELL_KEY: tuple[str, ...] = ("fov_name", "track_id", "t")
#: Attribute in which xarray's zarr backend names an array's dimensions.
XARRAY_DIMENSIONS_KEY = "_ARRAY_DIMENSIONS"
#: Prefix of each projection method's coordinates (VisCy's ``UMAP1``, ``PHATE1``, ``PCA1`` ...).
COORDINATE_PREFIXES: dict[str, str] = {"pca": "PCA", "umap": "UMAP", "phate": "PHATE"}


def viscy_index(obs: pd.DataFrame, tracks: pd.DataFrame) -> pd.DataFrame:
    """VisCy's index columns for the embeddings' ``obs`` (module docstring), one row per cell.

    ``tracks``: the dataset's tracks table (``fov_name, track_id, t, [z,] y, x, id,
    parent_track_id, parent_id``). ``index.attrs["cells_not_in_tracks"]``: how many cells it lacked.
    """
    missing = [c for c in (*CELL_KEY, "id", "parent_id") if c not in tracks.columns]
    if missing:
        raise ArtifactError(f"the tracks table lacks {missing}; found {list(tracks.columns)}")
    has_z = "z" in tracks.columns
    keys = list(CELL_KEY)
    cell = obs[keys].astype({"fov_name": str, "track_id": "int64", "t": "int64"}).reset_index(drop=True)
    node_columns = ["id", "parent_id", "parent_track_id"] + (["z"] if has_z else [])
    nodes = tracks[[*keys, *[c for c in node_columns if c in tracks.columns]]].astype(
        {"fov_name": str, "track_id": "int64", "t": "int64"}
    )
    if nodes.duplicated(keys).any():
        raise ArtifactError("the tracks table repeats a (fov_name, track_id, t)")
    merged = cell.merge(nodes, on=keys, how="left", validate="many_to_one", indicator=True)
    unmatched = (merged.pop("_merge") != "both").to_numpy()
    if unmatched.any():
        logger.warning(
            "%d of %d cells are not in the tracks table: id, parent_id%s set to %d (none)",
            int(unmatched.sum()),
            len(cell),
            " and z" if has_z else "",
            NO_PARENT,
        )
    index = pd.DataFrame({"fov_name": "/" + cell["fov_name"].str.strip("/")})
    index.attrs["cells_not_in_tracks"] = int(unmatched.sum())
    index["track_id"] = cell["track_id"]
    index["t"] = cell["t"]
    index["id"] = merged["id"].fillna(NO_PARENT).astype("int64")
    if "parent_track_id" in obs.columns:
        index["parent_track_id"] = obs["parent_track_id"].fillna(NO_PARENT).astype("int64").to_numpy()
    else:
        index["parent_track_id"] = merged.get("parent_track_id", pd.Series(NO_PARENT, index=merged.index))
        index["parent_track_id"] = index["parent_track_id"].fillna(NO_PARENT).astype("int64")
    index["parent_id"] = merged["parent_id"].fillna(NO_PARENT).astype("int64")
    if has_z:
        index["z"] = np.round(merged["z"].fillna(NO_PARENT)).astype("int64")
    for column in ("y", "x"):
        if column in obs.columns:
            index[column] = obs[column].to_numpy()
    return index


def viscy_dataset(
    index: pd.DataFrame,
    features: np.ndarray,
    projections: np.ndarray | None = None,
    coordinates: dict[str, np.ndarray] | None = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """The xarray Dataset VisCy writes, whole in memory: ``features`` (and ``projections``) along
    ``sample``, the index columns and each projection's components (``coordinates``: prefix ->
    ``(N, k)``) as ``sample`` coordinates. :func:`export_viscy_features` writes the same store
    without holding the matrices (:func:`viscy_coordinates`, then the matrices by blocks)."""
    n = len(index)
    matrices = {"features": features} | ({} if projections is None else {"projections": projections})
    variables: dict[str, Any] = {}
    for name, values in matrices.items():
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or values.shape[0] != n:
            raise ValueError(f"{name} must be (N={n}, columns), got shape {values.shape}")
        variables[name] = (("sample", name), values)
    return xr.Dataset(variables, coords=viscy_coordinates(index, coordinates).coords, attrs=dict(attrs or {}))


def viscy_coordinates(
    index: pd.DataFrame, coordinates: dict[str, np.ndarray] | None = None, attrs: dict[str, Any] | None = None
) -> xr.Dataset:
    """The ``sample`` coordinates of VisCy's Dataset, without its matrices: the index columns
    (``fov_name`` as str) and each projection's components (``coordinates``: prefix -> ``(N, k)``,
    float32, one coordinate ``<prefix><component>`` each, from 1)."""
    n = len(index)
    coords: dict[str, Any] = {}
    for column in index.columns:
        values = index[column].to_numpy()
        coords[column] = ("sample", values.astype(str) if column == "fov_name" else values)
    for prefix, values in (coordinates or {}).items():
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or values.shape[0] != n:
            raise ValueError(f"{prefix} coordinates must be (N={n}, k), got shape {values.shape}")
        for component in range(values.shape[1]):
            coords[f"{prefix}{component + 1}"] = ("sample", values[:, component])
    return xr.Dataset(coords=coords, attrs=dict(attrs or {}))


def projection_coordinates(
    projections_path: Path, obs: pd.DataFrame
) -> tuple[dict[str, np.ndarray], Provenance]:
    """Each projection's coordinates in a projections store (prefix -> ``(N, k)``), checked to
    describe the same cells, in the same order, as ``obs``; and the store's provenance."""
    adata, provenance = read_projections(projections_path)
    keys = list(CELL_KEY)
    theirs = pd.DataFrame(adata.obs[keys]).astype({"fov_name": str}).reset_index(drop=True)
    ours = obs[keys].astype({"fov_name": str}).reset_index(drop=True)
    if len(theirs) != len(ours) or not theirs.equals(ours.astype(theirs.dtypes.to_dict())):
        raise ArtifactError(
            f"{projections_path}: its cells are not the embeddings' ({len(theirs)} vs {len(ours)} rows, or "
            "another order); rerun `snakemake --forcerun project_embeddings`"
        )
    coordinates: dict[str, np.ndarray] = {
        COORDINATE_PREFIXES[method]: np.asarray(adata.obsm[key])
        for method, key in PROJECTION_KEYS.items()
        if key in adata.obsm
    }
    return coordinates, provenance


def export_viscy_features(
    embeddings: Path, tracks: Path, output: Path, projections: Path | None = None
) -> xr.Dataset:
    """Write the embeddings store ``embeddings`` as VisCy's features store ``output`` (module
    docstring), its matrices a block of rows at a time (:func:`write_viscy_store`); returns the
    store opened lazily (``xarray.open_zarr``)."""
    adata, matrices = open_embeddings(embeddings)
    provenance = read_embeddings_provenance(embeddings)
    tracks_table, tracks_provenance = read_table(tracks, ArtifactKind.TRACKS)
    index = viscy_index(adata.obs, tracks_table)
    del tracks_table
    inputs: list[Any] = [(str(embeddings), provenance), (str(tracks), tracks_provenance)]
    coordinates: dict[str, np.ndarray] = {}
    if projections is not None:
        coordinates, projections_provenance = projection_coordinates(projections, adata.obs)
        inputs.append((str(projections), projections_provenance))
    head = matrices.get(f"obsm/{PROJECTIONS_KEY}")
    record = make_provenance(
        ArtifactKind.VISCY_FEATURES,
        {"features": "X", "projections": PROJECTIONS_KEY if head is not None else None},
        inputs,
    )
    attrs = {
        PROVENANCE_KEY: json.loads(record.model_dump_json()),
        "cells_not_in_tracks": index.attrs["cells_not_in_tracks"],
    }
    variables = {"features": matrices["X"]} | ({} if head is None else {"projections": head})
    write_viscy_store(viscy_coordinates(index, coordinates, attrs), variables, output)
    dataset = xr.open_zarr(output)
    logger.info(
        "Wrote %s: %d cells × %d features%s",
        output,
        dataset.sizes["sample"],
        dataset.sizes["features"],
        "" if head is None else f", {dataset.sizes['projections']} projections",
    )
    return dataset


def write_viscy_store(coordinates: xr.Dataset, matrices: dict[str, MatrixBlocks], output: Path) -> None:
    """Write VisCy's store at ``output`` (atomically): xarray writes ``coordinates`` (zarr format 2),
    then each matrix (name -> ``(N, columns)``) becomes the float32 variable ``name`` of dimensions
    ``(sample, name)``, encoded as xarray encodes a float32 variable (NaN fill value, the default
    compressor), filled a block of rows at a time; the metadata is consolidated last. Chunks: the
    source's row chunks (whole blocks write whole chunks), all columns."""
    n_samples = coordinates.sizes.get("sample", 0)
    with atomic_output(output) as tmp:
        coordinates.to_zarr(tmp, mode="w", zarr_format=2, consolidated=False)
        group = zarr.open_group(str(tmp), mode="r+", zarr_format=2)
        for name, blocks in matrices.items():
            if blocks.n_rows != n_samples:
                raise ArtifactError(f"{name}: {blocks.n_rows} rows for {n_samples} cells")
            source_chunks = getattr(blocks.array, "chunks", None) or (blocks.block_rows,)
            chunk_rows = max(1, min(blocks.n_rows, int(source_chunks[0])))
            array = group.create_array(
                name,
                shape=blocks.shape,
                dtype="float32",
                chunks=(chunk_rows, max(1, blocks.n_columns)),
                fill_value=np.nan,
                attributes={XARRAY_DIMENSIONS_KEY: ["sample", name]},
            )
            for start, block in blocks.stored_blocks():
                array[start : start + len(block)] = np.asarray(block, dtype=np.float32)
        with warnings.catch_warnings():  # xarray silences it too when it consolidates
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            zarr.consolidate_metadata(str(tmp), zarr_format=2)
