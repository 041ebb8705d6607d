"""The ``embeddings`` artifact: an AnnData written with anndata's zarr writer, provenance in its root.

Layout of ``results/embeddings/{model}/{dataset}.zarr`` (one row per patch, in patch-store order):

* ``X``: ``(N, E)`` float32, the representation every analysis reads as ``features``: the
  backbone's pooled features; for the engineered-features baseline the features z-scored per
  column over all cells (their raw values mix pixels, intensities and unitless texture);
* ``obsm['X_projections']``: ``(N, P)`` float32, the projection head's output (absent for models
  without a head, e.g. engineered features);
* ``layers['raw']``: ``(N, E)`` float32, only where ``X`` is standardised (engineered features):
  the raw values, with ``var['raw_mean']`` and ``var['raw_std']`` the column mean and population
  std used (``X = (raw - raw_mean) / raw_std``, 0 where ``raw_std == 0``);
* ``obs``: the patch index columns (``fov_name, track_id, t`` required; from the patch store also
  ``well, condition, lineage_id, parent_track_id, time_minutes, y, x, padded_fraction``, see
  :data:`dynaclr.patches.store.INDEX_COLUMNS`: ``condition`` the well's condition, missing where
  none is configured; ``time_minutes`` = ``t`` x the plate's frame interval, NaN where the plate
  records none), index ``"0".."N-1"``;
* ``uns['dynaclr']``: ``model``, ``dataset``, ``kind``, ``representation_note``;
* root attributes ``dynaclr``: the provenance record (kind ``embeddings``; its config names the
  ``model`` and ``dataset``; for a trained model, ``kind: contrastive``, also ``training``: how far
  the training of its ``model.ckpt`` went, :func:`training_state`). :func:`read_embeddings` refuses
  a store of another schema version.

An encoder's ``X`` and projections are written from the partial store a chunk of rows at a time
(chunks of :data:`STREAMED_CHUNK_ROWS` rows), so the embed job never holds them whole;
anndata reads them back as usual. The store is zarr format 3 (root ``zarr.json``, the file the
workflow names it by) whatever anndata's ``zarr_write_format`` setting says
(:func:`write_anndata_zarr`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anndata as ad
import numpy as np
import pandas as pd
import zarr
from anndata.io import read_elem

from dynaclr.embeddings.blocks import MatrixBlocks
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    atomic_output,
    read_zarr_provenance,
    write_zarr_provenance,
)
from dynaclr.numerics.normalization import is_standardization, zscore_with

if TYPE_CHECKING:
    from dynaclr.patches import PatchStore

logger = logging.getLogger(__name__)

#: Columns every embeddings ``obs`` table must have: track identity and frame.
REQUIRED_OBS_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t")
PROJECTIONS_KEY = "X_projections"
#: Layer of the raw values where ``X`` is their z-scored copy (engineered features).
RAW_LAYER = "raw"
#: ``var`` columns of the column mean and population std that z-scored ``layers['raw']`` into ``X``.
RAW_MEAN_COLUMN = "raw_mean"
RAW_STD_COLUMN = "raw_std"


def check_index(index: pd.DataFrame, source: str = "index") -> None:
    """Raise ``ValueError`` naming ``source`` when ``index`` lacks ``fov_name, track_id, t``."""
    missing = [c for c in REQUIRED_OBS_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(
            f"{source}: missing required columns {missing}; expected at least {list(REQUIRED_OBS_COLUMNS)}, "
            f"found {list(index.columns)}"
        )


#: anndata's attributes of a dense array element (what ``anndata.io.write_elem`` writes for one).
ARRAY_ENCODING = {"encoding-type": "array", "encoding-version": "0.2.0"}
#: Rows per chunk of a matrix written from a zarr array (320 float32 features: 84 MB a chunk).
STREAMED_CHUNK_ROWS = 65_536


def _float32_matrix(values: Any) -> Any:
    """``values`` as float32: a numpy array, or a float32 zarr array kept on disk."""
    if isinstance(values, zarr.Array) and values.dtype == np.float32:
        return values
    return np.asarray(values, dtype=np.float32)


def build_anndata(
    features: Any,
    index: pd.DataFrame,
    projections: Any | None = None,
    raw: np.ndarray | None = None,
    raw_mean: np.ndarray | None = None,
    raw_std: np.ndarray | None = None,
    info: dict[str, Any] | None = None,
) -> ad.AnnData:
    """Assemble the embeddings AnnData (layout in the module docstring).

    Args:
        features: ``(N, E)`` the matrix analyses read (``X``): backbone features, or z-scored
            engineered features. A float32 zarr array (also ``projections``) stays on disk:
            :func:`write_embeddings` then copies it a chunk of rows at a time.
        index: ``N`` rows, the patch index (row ``i`` describes patch ``i``).
        projections: optional ``(N, P)`` head output.
        raw: optional ``(N, E)`` raw values ``features`` were standardised from (``layers['raw']``);
            needs ``raw_mean`` and ``raw_std``.
        raw_mean, raw_std: ``(E,)`` column mean and population std used (``var['raw_mean']``,
            ``var['raw_std']``).
        info: stored as ``uns['dynaclr']``.
    """
    check_index(index)
    features = _float32_matrix(features)
    if features.ndim != 2 or features.shape[0] != len(index):
        raise ValueError(f"features must be (N={len(index)}, E), got shape {features.shape}")
    obs = index.reset_index(drop=True).copy()
    obs.index = pd.Index(np.arange(len(obs)).astype(str))
    obs.columns = [str(c) for c in obs.columns]
    adata = ad.AnnData(X=features, obs=obs)
    if projections is not None:
        projections = _float32_matrix(projections)
        if projections.ndim != 2 or projections.shape[0] != len(index):
            raise ValueError(f"{PROJECTIONS_KEY} must be (N={len(index)}, D), got shape {projections.shape}")
        adata.obsm[PROJECTIONS_KEY] = projections
    if raw is not None:
        if raw_mean is None or raw_std is None:
            raise ValueError("raw values need the raw_mean and raw_std they were standardised with")
        raw = np.asarray(raw, dtype=np.float32)
        if raw.shape != features.shape:
            raise ValueError(f"raw must have the shape of features {features.shape}, got {raw.shape}")
        adata.layers[RAW_LAYER] = raw
        for column, values in ((RAW_MEAN_COLUMN, raw_mean), (RAW_STD_COLUMN, raw_std)):
            values = np.asarray(values, dtype=np.float64)
            if values.shape != (features.shape[1],):
                raise ValueError(f"{column} must be ({features.shape[1]},), got shape {values.shape}")
            adata.var[column] = values
    elif raw_mean is not None or raw_std is not None:
        raise ValueError("raw_mean and raw_std are only stored with the raw values (raw=...)")
    adata.uns["dynaclr"] = dict(info or {})
    return adata


def write_anndata_zarr(adata: ad.AnnData, path: str | Path) -> None:
    """``adata.write_zarr(path)`` in zarr format 3 whatever anndata's ``zarr_write_format`` setting
    says (a caller's ``anndata.settings.zarr_write_format = 2``; the variable ``ANNDATA_ZARR_WRITE_FORMAT``
    is meant to set it, though anndata 0.13.4 fails to import with it set, reading it as a string): a
    store of format 2 has no root ``zarr.json``, the file the workflow names the store by, so the job
    would fail with Snakemake's MissingOutputException. The setting is deprecated in anndata 0.13
    (its read warns; silenced here) and gone in 0.14, which writes format 3 only."""
    if "zarr_write_format" not in type(ad.settings).model_fields:  # anndata >= 0.14: format 3 only
        adata.write_zarr(path)
        return
    with warnings.catch_warnings():  # only the setting's own deprecation (the override reads it)
        warnings.filterwarnings("ignore", "This setting will be removed", DeprecationWarning)
        with ad.settings.override(zarr_write_format=3):
            adata.write_zarr(path)


def write_embeddings(adata: ad.AnnData, path: str | Path, provenance: Provenance) -> None:
    """Write ``adata`` to the zarr store ``path`` atomically, with ``provenance`` in its root attributes.

    Matrices held as zarr arrays (``X``, ``obsm``) are copied :data:`STREAMED_CHUNK_ROWS` rows at
    a time, one chunk in memory (:func:`_write_streamed`); the values read back are the same.
    """
    if provenance.kind != ArtifactKind.EMBEDDINGS:
        raise ValueError(f"provenance kind must be {ArtifactKind.EMBEDDINGS!r}, got {provenance.kind!r}")
    with atomic_output(path) as tmp:
        if isinstance(adata.X, zarr.Array) or any(isinstance(v, zarr.Array) for v in adata.obsm.values()):
            _write_streamed(adata, tmp)
        else:
            write_anndata_zarr(adata, tmp)
        write_zarr_provenance(tmp, provenance)
    logger.info("Wrote embeddings %s (%d cells x %d features)", path, adata.n_obs, adata.n_vars)


def _write_streamed(adata: ad.AnnData, path: Path) -> None:
    """Write ``adata`` with anndata's writer, except its zarr-array matrices: each is then copied
    into an array of chunks of :data:`STREAMED_CHUNK_ROWS` rows (with anndata's encoding attributes),
    a chunk at a time, and the store's consolidated metadata is rebuilt."""
    lazy: dict[str, zarr.Array] = {"X": adata.X} if isinstance(adata.X, zarr.Array) else {}
    lazy |= {f"obsm/{key}": values for key, values in adata.obsm.items() if isinstance(values, zarr.Array)}
    skeleton = ad.AnnData(
        X=None if "X" in lazy else adata.X,
        obs=adata.obs,
        var=adata.var,
        uns=dict(adata.uns),
        obsm={key: values for key, values in adata.obsm.items() if f"obsm/{key}" not in lazy},
        # layers other than X (anndata 0.13 lists X as the layer None)
        layers={key: values for key, values in cast(Any, adata.layers).items() if key is not None},
    )
    write_anndata_zarr(skeleton, path)
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    for key, source in lazy.items():
        parent, _, name = key.rpartition("/")
        target_group = group[parent] if parent else group
        assert isinstance(target_group, zarr.Group)
        n_rows, n_columns = source.shape
        target = target_group.create_array(
            name, shape=(n_rows, n_columns), dtype="float32", chunks=(STREAMED_CHUNK_ROWS, n_columns)
        )
        target.attrs.update(ARRAY_ENCODING)
        for start in range(0, n_rows, STREAMED_CHUNK_ROWS):
            target[start : start + STREAMED_CHUNK_ROWS] = source[start : start + STREAMED_CHUNK_ROWS]
    with warnings.catch_warnings():  # anndata consolidates its stores too, and silences this warning
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def read_embeddings_provenance(path: str | Path) -> Provenance:
    """Provenance of an embeddings store; raises :class:`ArtifactError` if it is not one."""
    return read_zarr_provenance(path, ArtifactKind.EMBEDDINGS)


def _checked_store(path: str | Path, provenance: Provenance | None) -> None:
    """Check that ``path`` is an embeddings store (:func:`read_embeddings_provenance`), unless the
    caller holds its ``provenance``, read so once for a job that reads the store several ways."""
    if provenance is None:
        read_embeddings_provenance(path)


def encoded_crop(path: str | Path) -> tuple[int, int] | None:
    """The centre crop ``(h, w)`` an encoder read of every patch of the embeddings store ``path``
    (its provenance's ``resolved_crop_size_yx_px``); ``None`` where none is recorded (a baseline's
    store, or one older than the record)."""
    return _encoded_crop_of(read_embeddings_provenance(path).config)


def _encoded_crop_of(config: dict[str, Any]) -> tuple[int, int] | None:
    """:func:`encoded_crop` of the store's provenance ``config`` already read."""
    recorded = config.get("resolved_crop_size_yx_px")
    if isinstance(recorded, list) and len(recorded) == 2:
        return int(recorded[0]), int(recorded[1])
    return None


@dataclasses.dataclass(frozen=True)
class ViewedCrop:
    """What the figures' thumbnails show of a stored patch window (:func:`viewed_crop`): the centre
    crop ``size_yx_px`` and, for their captions, ``described`` (what that crop is to the model)."""

    size_yx_px: tuple[int, int]
    described: str


def viewed_crop(path: str | Path, patches: PatchStore) -> ViewedCrop:
    """The centre crop of a stored patch window (of the patch store ``patches``) that the model of
    the embeddings store ``path`` reads, which the figures' thumbnails show (a thumbnail of the whole
    window covered several cells): an encoder's :func:`encoded_crop`; for ``engineered_features`` its
    ``crop_size_yx_px``, where null the whole window (the features are measured on all of it); for a
    store recording neither (older, or of unknown origin) the patch store's ``patch_size_yx_px`` (the
    network input; the stored window is wider so that training's rotations and zooms can crop it),
    which its caption does not claim the model reads."""
    window_yx_px = (int(patches.array.shape[-2]), int(patches.array.shape[-1]))
    patch_size_yx_px = patches.patch_size_yx_px
    config = read_embeddings_provenance(path).config
    encoded = _encoded_crop_of(config)
    if encoded is not None:
        return ViewedCrop(encoded, f"the central {encoded[0]} x {encoded[1]} px the model sees")
    if config.get("kind") == "engineered_features":
        crop = config.get("crop_size_yx_px")
        if crop is None:
            return ViewedCrop(
                window_yx_px,
                f"the whole {window_yx_px[0]} x {window_yx_px[1]} px window the features are measured on",
            )
        size = (int(crop[0]), int(crop[1]))
        return ViewedCrop(size, f"the central {size[0]} x {size[1]} px the features are measured on")
    return ViewedCrop(
        (patch_size_yx_px, patch_size_yx_px),
        f"the central {patch_size_yx_px} x {patch_size_yx_px} px, the patch store's network input (the "
        "embeddings record no crop)",
    )


def read_embeddings(path: str | Path) -> ad.AnnData:
    """Read an embeddings store after checking its provenance (kind ``embeddings``).

    String columns of ``obs`` come back as strings (anndata stores them as categoricals), ``condition``
    too when no cell has one (all missing).

    Raises:
        ArtifactError: the store is missing, not an embeddings artifact, of another schema
            version, or its ``obs`` lacks ``fov_name, track_id, t``.
    """
    read_embeddings_provenance(path)
    adata = ad.read_zarr(str(path))
    _plain_obs_columns(adata.obs)
    _check_stored_index(adata.obs.columns, path)
    return adata


def _plain_obs_columns(obs: pd.DataFrame) -> None:
    """In place: categorical columns as their categories' dtype, an all-missing ``condition`` as strings."""
    for column in obs.columns:
        if isinstance(obs[column].dtype, pd.CategoricalDtype):
            obs[column] = obs[column].astype(obs[column].cat.categories.dtype)
    if "condition" in obs.columns and obs["condition"].isna().all():
        obs["condition"] = obs["condition"].astype(pd.StringDtype(na_value=np.nan))


def _check_stored_index(columns: Any, path: str | Path) -> None:
    """Raise :class:`ArtifactError` when the stored ``obs`` lacks ``fov_name, track_id, t``."""
    try:
        check_index(pd.DataFrame(columns=list(columns)), f"{path}: obs")
    except ValueError as err:
        raise ArtifactError(str(err)) from err


def read_cells(
    path: str | Path, columns: Sequence[str] | None = None, *, provenance: Provenance | None = None
) -> pd.DataFrame:
    """The cells (``obs``) of an embeddings store, read without any of its matrices.

    Args:
        path: the embeddings store (its provenance is checked as :func:`read_embeddings` does).
        columns: the ``obs`` columns to read, in this order (default: all of them).
        provenance: the store's provenance where the caller read it (:func:`read_embeddings_provenance`):
            not read again.

    Returns:
        The columns as :func:`read_embeddings` gives them (strings, not categoricals) with index
        ``0..N-1``: equal to ``cell_table(read_embeddings(path))[columns]``.

    Raises:
        ArtifactError: as :func:`read_embeddings`.
        KeyError: a column asked for is not stored.
    """
    _checked_store(path, provenance)
    obs = zarr.open_group(str(path), mode="r").get("obs")
    if not isinstance(obs, zarr.Group):
        raise ArtifactError(f"{path}: no obs table; rerun it with `snakemake --forcerun embed`")
    stored = [str(name) for name in cast(list, obs.attrs.get("column-order", []))]
    _check_stored_index(stored, path)
    wanted = stored if columns is None else list(columns)
    unknown = [name for name in wanted if name not in stored]
    if unknown:
        raise KeyError(f"{path}: obs has no columns {unknown}; it has {stored}")
    frame = pd.DataFrame({name: read_elem(obs[name]) for name in wanted})
    _plain_obs_columns(frame)
    return frame


def open_representation(
    path: str | Path,
    representation: str,
    block_rows: int | None = None,
    *,
    provenance: Provenance | None = None,
) -> MatrixBlocks:
    """The ``(N, D)`` matrix of ``representation`` of an embeddings store, read a block of rows at a time.

    The same matrix as ``representation_matrix(read_embeddings(path), representation)``, left on
    disk: iterating the result reads it one block (a whole number of the array's row chunks, see
    :class:`MatrixBlocks`) at a time, as float64. ``provenance``: as :func:`read_cells` takes it.

    Raises:
        ArtifactError: as :func:`read_embeddings_provenance`, or the matrix is not a dense array.
        KeyError: as :func:`representation_matrix`.
    """
    _checked_store(path, provenance)
    root = zarr.open_group(str(path), mode="r")
    key = _representation_key(
        representation,
        has_projections=_has_member(root, "obsm", PROJECTIONS_KEY),
        has_raw=_has_member(root, "layers", RAW_LAYER),
    )
    array = root[key]
    if not isinstance(array, zarr.Array):
        raise ArtifactError(f"{path}: {key} is not a dense array; rerun it with `snakemake --forcerun embed`")
    return MatrixBlocks(array, block_rows)


def read_standardization(
    path: str | Path, *, provenance: Provenance | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``(E,)`` column mean and population std that z-scored the store's raw values
    (``layers['raw']``) into its ``X`` (``var['raw_mean']``, ``var['raw_std']``): the statistics of
    this dataset's own cells (engineered features). ``None`` where ``X`` is no such copy (no
    ``layers['raw']``: an encoder's features, the same function of a patch whatever the dataset).
    ``provenance``: as :func:`read_cells` takes it.

    Raises:
        ArtifactError: as :func:`read_embeddings_provenance`, or the store has ``layers['raw']``
            without both columns, or their values are not ``E`` finite numbers (a std below 0).
    """
    _checked_store(path, provenance)
    root = zarr.open_group(str(path), mode="r")
    raw = _raw_layer(root)
    if raw is None:
        return None
    width = int(raw.shape[1])
    var: Any = read_elem(root["var"]) if "var" in root else pd.DataFrame()
    missing = [column for column in (RAW_MEAN_COLUMN, RAW_STD_COLUMN) if column not in var.columns]
    if missing:
        raise ArtifactError(
            f"{path}: expected var columns {RAW_MEAN_COLUMN!r} and {RAW_STD_COLUMN!r} (the statistics that "
            f"z-scored layers[{RAW_LAYER!r}] into X) beside layers[{RAW_LAYER!r}], found no {missing}: the "
            "store was altered or written by another program; rerun it with `snakemake --forcerun embed`"
        )
    mean = np.asarray(var[RAW_MEAN_COLUMN], dtype=np.float64)
    std = np.asarray(var[RAW_STD_COLUMN], dtype=np.float64)
    if not is_standardization(mean, std, width):
        raise ArtifactError(
            f"{path}: expected var[{RAW_MEAN_COLUMN!r}] and var[{RAW_STD_COLUMN!r}] to hold {width} finite "
            f"numbers each (stds >= 0), one per column of layers[{RAW_LAYER!r}], found {mean.size} means, "
            f"{int(np.sum(~np.isfinite(mean)) + np.sum(~np.isfinite(std)))} not finite, "
            f"{int(np.sum(std < 0))} negative stds; rerun it with `snakemake --forcerun embed`"
        )
    return mean, std


def _raw_layer(root: zarr.Group) -> zarr.Array | None:
    """The store's ``layers['raw']`` array, ``None`` where it has none.

    Raises:
        ArtifactError: it is no dense array."""
    if not _has_member(root, "layers", RAW_LAYER):
        return None
    layers = root["layers"]
    array = layers[RAW_LAYER] if isinstance(layers, zarr.Group) else None
    if not isinstance(array, zarr.Array) or len(array.shape) != 2:
        raise ArtifactError(
            f"{root.store}: layers[{RAW_LAYER!r}] is not a dense (N, E) array; rerun it with "
            "`snakemake --forcerun embed`"
        )
    return array


class _Restandardized:
    """Rows of a raw matrix z-scored with given statistics on read (0 where the std is 0), as
    :class:`MatrixBlocks` slices an array: ``shape``, ``chunks`` (the raw array's) and row slices."""

    def __init__(self, array: Any, mean: np.ndarray, std: np.ndarray) -> None:
        self.array, self.mean, self.std = array, mean, std
        self.shape = tuple(int(n) for n in array.shape)
        self.chunks = getattr(array, "chunks", None)

    def __getitem__(self, rows: Any) -> np.ndarray:
        return zscore_with(np.asarray(self.array[rows], dtype=np.float64), self.mean, self.std)


def open_restandardized(
    path: str | Path,
    mean: np.ndarray,
    std: np.ndarray,
    block_rows: int | None = None,
    *,
    provenance: Provenance | None = None,
) -> MatrixBlocks:
    """The store's raw values (``layers['raw']``) z-scored with ``mean`` and ``std``, the statistics
    of another dataset's cells (0 in a column whose std is 0), read a block of rows at a time: that
    dataset's ``X`` is its raw values z-scored so
    (:func:`dynaclr.baselines.standardize_with_statistics`), and a classifier fitted on it reads
    this store's cells on that scale. The store's own ``X`` is z-scored with its own statistics: a
    dataset of other proportions (a plate whose cells are all infected) is centred elsewhere.
    ``provenance``: as :func:`read_cells` takes it.

    Raises:
        ArtifactError: as :func:`read_standardization`, or the store has no ``layers['raw']`` (an
            encoder's features), or ``mean`` and ``std`` are not one number per raw column.
    """
    _checked_store(path, provenance)
    array = _raw_layer(zarr.open_group(str(path), mode="r"))
    if array is None:
        raise ArtifactError(
            f"{path}: expected layers[{RAW_LAYER!r}], the raw values its X was z-scored from (with "
            f"var[{RAW_MEAN_COLUMN!r}], var[{RAW_STD_COLUMN!r}]), found none: X is not a z-scored copy "
            "of raw values here (only the engineered-features baseline stores one), so it cannot be "
            "put on another dataset's scale"
        )
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    width = int(array.shape[1])
    if mean.shape != (width,) or std.shape != (width,):
        raise ArtifactError(
            f"{path}: expected statistics of its {width} raw columns (layers[{RAW_LAYER!r}]), found "
            f"{mean.shape} means and {std.shape} stds: they were computed on another model's features"
        )
    return MatrixBlocks(_Restandardized(array, mean, std), block_rows)


#: Elements of an AnnData store besides ``X``, ``obsm`` and ``layers``: :func:`open_embeddings` reads them.
ANNDATA_ELEMENTS: tuple[str, ...] = ("obs", "var", "uns", "varm", "obsp", "varp")


def open_embeddings(
    path: str | Path, block_rows: int | None = None
) -> tuple[ad.AnnData, dict[str, MatrixBlocks]]:
    """An embeddings store as :func:`read_embeddings` gives it, its dense matrices left on disk.

    Returns:
        The AnnData without its dense matrices (``X`` None; ``obsm`` and ``layers`` without theirs),
        its other elements (``obs``, ``var``, ``uns`` ...) as :func:`read_embeddings` reads them;
        and each dense matrix read a block of rows at a time (:class:`MatrixBlocks`, its stored
        dtype through :meth:`MatrixBlocks.stored_blocks`), by its path in the store: ``"X"``,
        ``"obsm/X_projections"``, ``"layers/raw"``.

    Raises:
        ArtifactError: as :func:`read_embeddings`.
    """
    read_embeddings_provenance(path)
    root = zarr.open_group(str(path), mode="r")
    elements: dict[str, Any] = {key: read_elem(root[key]) for key in ANNDATA_ELEMENTS if key in root}
    matrices: dict[str, MatrixBlocks] = {}
    if "X" in root:
        if _is_dense_matrix(root["X"]):
            matrices["X"] = MatrixBlocks(root["X"], block_rows)
        else:
            elements["X"] = read_elem(root["X"])
    for key in ("obsm", "layers"):
        group = root.get(key)
        if not isinstance(group, zarr.Group):
            continue
        elements[key] = {}
        for name, member in group.members():
            if _is_dense_matrix(member):
                matrices[f"{key}/{name}"] = MatrixBlocks(member, block_rows)
            else:
                elements[key][name] = read_elem(member)
    adata = ad.AnnData(**elements)
    _plain_obs_columns(adata.obs)
    _check_stored_index(adata.obs.columns, path)
    return adata, matrices


def _is_dense_matrix(element: Any) -> bool:
    """Whether a store element is a 2-D dense array as anndata writes one."""
    return (
        isinstance(element, zarr.Array)
        and len(element.shape) == 2
        and element.attrs.get("encoding-type") == ARRAY_ENCODING["encoding-type"]
    )


def _has_member(root: zarr.Group, group: str, name: str) -> bool:
    if group not in root:
        return False
    parent = root[group]
    return isinstance(parent, zarr.Group) and name in parent


def embeddings_shape(path: str | Path) -> tuple[int, int]:
    """``(cells, features)`` of an embeddings store's ``X``, from the array's metadata (no data read)."""
    array = zarr.open_array(str(Path(path) / "X"), mode="r")
    n_cells, n_features = array.shape
    return int(n_cells), int(n_features)


def whole_store_memory_mb(
    shapes: Sequence[tuple[int, int]], *, bytes_per_value: float, base_mb: int, floor_mb: int
) -> int:
    """Memory (MB, 10^6 bytes) to request for a job that reads embeddings stores of ``shapes`` whole.

    ``base_mb`` (interpreter, libraries, fixed costs) plus ``bytes_per_value`` for every stored
    matrix value (``cells x features`` summed over the stores), never below ``floor_mb``. A job that
    reads a store with :func:`read_embeddings` holds its float32 ``X`` (4 bytes a value) and the
    float64 copies its analysis makes; the workflow measures ``bytes_per_value`` per rule
    (``benchmarks/gathers.py --analysis-cells``, docs/benchmarks.md).
    """
    values = sum(n_cells * n_features for n_cells, n_features in shapes)
    return max(floor_mb, base_mb + math.ceil(values * bytes_per_value / 1e6))


#: The provenance config key of a trained model's training state (:func:`training_state`).
TRAINING_KEY = "training"


def training_state(provenance: Provenance) -> dict[str, Any] | None:
    """How far the training of the model an embeddings store's ``provenance`` records went: its
    config's ``training`` (rule ``embed`` copies it from the model's ``model.ckpt``,
    :func:`~dynaclr.training.checkpoint.recorded_training_state`): ``stopped_by_time`` (``True``: the
    ``max_minutes`` budget ended training before its epochs, a partly trained model),
    ``epochs_completed`` of ``epochs``, ``max_minutes``, ``global_step`` of ``planned_steps``; a value
    not known is ``None``. ``None``: the store records none: not a trained model (a baseline), or a
    store embedded before it was recorded (unknown, not a partly trained model)."""
    state = provenance.config.get(TRAINING_KEY)
    return dict(state) if isinstance(state, dict) else None


def embeddings_identity(path: str | Path) -> tuple[str, str]:
    """``(model, dataset)`` of an embeddings store, from the provenance it was written with."""
    provenance = read_embeddings_provenance(path)
    model, dataset = provenance.config.get("model"), provenance.config.get("dataset")
    if not isinstance(model, str) or not isinstance(dataset, str):
        raise ArtifactError(
            f"{path}: the embeddings' provenance names no model and dataset (found {model!r}, {dataset!r}); "
            "rerun it with `snakemake --forcerun embed`"
        )
    return model, dataset


def representation_matrix(adata: ad.AnnData, representation: str) -> np.ndarray:
    """``(N, D)`` float64 matrix of ``representation``: ``features``, ``projections`` or ``standardized``.

    * ``features``: ``X``, for every model (for the engineered-features baseline ``X`` is already
      z-scored, so that cosine distances are not dominated by whichever feature has the largest
      unit);
    * ``projections``: ``obsm['X_projections']``, the projection head's output;
    * ``standardized``: ``X`` too, but only where ``X`` is the z-scored copy of raw values
      (``layers['raw']``, engineered features); kept so that a config naming it still reads the
      same matrix.

    Raises:
        KeyError: the AnnData has no such matrix (e.g. projections of engineered features).
    """
    key = _representation_key(
        representation, has_projections=PROJECTIONS_KEY in adata.obsm, has_raw=RAW_LAYER in adata.layers
    )
    matrix = adata.X if key == "X" else adata.obsm[PROJECTIONS_KEY]
    return np.asarray(matrix, dtype=np.float64)


def _representation_key(representation: str, has_projections: bool, has_raw: bool) -> str:
    """Where ``representation`` is stored: ``"X"`` or ``"obsm/X_projections"``.

    Raises:
        KeyError: the store has no such matrix, naming the ones it has.
    """
    available = ["features"]
    if has_projections:
        available.append("projections")
    if has_raw:
        available.append("standardized")
    if representation == "features":
        return "X"
    if representation == "projections":
        if not has_projections:
            raise KeyError(
                f"embeddings have no 'projections' matrix (obsm[{PROJECTIONS_KEY!r}]); available: "
                + ", ".join(repr(name) for name in available)
            )
        return f"obsm/{PROJECTIONS_KEY}"
    if representation == "standardized":
        if not has_raw:
            raise KeyError(
                "embeddings have no 'standardized' matrix: X is not a z-scored copy of raw values "
                f"(no layers[{RAW_LAYER!r}]; only the engineered-features baseline has one); available: "
                + ", ".join(repr(name) for name in available)
            )
        return "X"
    raise KeyError(
        f"representation must be one of 'features', 'projections', 'standardized'; got {representation!r}"
    )
