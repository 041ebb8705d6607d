"""Gather per-FOV patch stores into one store per dataset and spec (rule ``collect_patches``).

Output: ``results/{dataset}/patches/{spec}.zarr`` (array ``patches`` ``(N, C, Z, S, S)``, one chunk
per patch, sharded; see :mod:`dynaclr.patches.store`) and ``results/{dataset}/patches/{spec}.parquet``
(one row per patch, ``row`` = its position in the array). The per-FOV normalisation statistics are
merged into the store's ``normalization`` attribute. Copies stream shard by shard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr
from tqdm.auto import tqdm

from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    StageFiles,
    atomic_output,
    make_provenance,
    read_table,
    read_zarr_provenance,
    write_table,
    write_zarr_provenance,
)
from dynaclr.patches.store import INDEX_COLUMNS, PATCH_ARRAY, PatchStore, ShardedRowWriter, create_patch_array

logger = logging.getLogger(__name__)

#: Attributes that must agree between the per-FOV stores of one spec.
SHARED_ATTRIBUTES = (
    "patch_spec",
    "channel_names",
    "initial_patch_size_yx_px",
    "patch_size_yx_px",
    "z_slices",
)


class CollectPatchesInputs(StageFiles):
    """Rule ``collect_patches``: every FOV's patch store and its index (same order)."""

    zarrs: tuple[Path, ...]
    parquets: tuple[Path, ...]


class CollectPatchesOutputs(StageFiles):
    """Rule ``collect_patches``: the collected store (kind ``patches``) and index (``patch_index``)."""

    zarr: Path
    parquet: Path


def read_fov_store(zarr_path: Path, parquet_path: Path) -> PatchStore:
    """Open a per-FOV store and read its index; checks their kinds and that they hold the same rows."""
    provenance = read_zarr_provenance(zarr_path, ArtifactKind.PATCH_FOV)
    index, index_provenance = read_table(parquet_path, ArtifactKind.PATCH_FOV, required_columns=INDEX_COLUMNS)
    group = zarr.open_group(str(zarr_path), mode="r")
    array = group[PATCH_ARRAY]
    assert isinstance(array, zarr.Array)
    if array.shape[0] != len(index):
        raise ArtifactError(
            f"{parquet_path}: {len(index)} rows, but {zarr_path} holds {array.shape[0]} patches"
        )
    return PatchStore(zarr_path, parquet_path, array, index, dict(group.attrs), provenance, index_provenance)


def check_same_spec(stores: Sequence[PatchStore]) -> None:
    """Fail unless every store and index was made with the first store's patch spec (config hash)."""
    expected = stores[0].provenance.config_hash
    for store in stores:
        if store.provenance.config_hash != expected or store.index_provenance.config_hash != expected:
            raise ArtifactError(
                f"{store.zarr_path} / {store.parquet_path}: made with patch spec hash "
                f"{store.provenance.config_hash} / {store.index_provenance.config_hash}, expected {expected} "
                f"like {stores[0].zarr_path}; rerun `snakemake --forcerun extract_patches`"
            )


def collected_attributes(attributes: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Attributes of the collected store from the per-FOV stores' (``names`` label them in errors).

    :data:`SHARED_ATTRIBUTES` must agree and are kept once, with the first store's
    ``time_interval_minutes``; ``normalization`` (per FOV) is merged, each FOV from one store only.

    Raises:
        ArtifactError: a shared attribute differs, or a FOV appears in two stores.
    """
    first = attributes[0]
    shared = {key: first.get(key) for key in SHARED_ATTRIBUTES}
    shared["time_interval_minutes"] = first.get("time_interval_minutes")
    normalization: dict[str, Any] = {}
    for these, name in zip(attributes, names, strict=True):
        differing = [key for key in SHARED_ATTRIBUTES if these.get(key) != shared[key]]
        if differing:
            raise ArtifactError(f"{name}: attributes {differing} differ from those of {names[0]}")
        fov_names = list(these["normalization"])
        if any(fov_name in normalization for fov_name in fov_names):
            raise ArtifactError(f"{name}: FOV(s) {fov_names} appear in more than one input store")
        normalization.update(these["normalization"])
    return {**shared, "normalization": normalization}


def collected_index(indices: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The per-FOV indices one after the other, ``row`` renumbered ``0 .. N-1``.

    Columns :data:`~dynaclr.patches.store.INDEX_COLUMNS`.
    """
    collected = pd.concat(indices, ignore_index=True)
    collected["row"] = np.arange(len(collected), dtype=np.int64)
    return collected[list(INDEX_COLUMNS)]


def _write_collected_store(
    path: Path, stores: Sequence[PatchStore], attributes: dict[str, Any], provenance: Provenance
) -> tuple[int, int, int, int]:
    """Copy every store's patches, in order, into a new store at ``path`` (shard by shard, atomically).

    Returns the patch shape ``(C, Z, S, S)``."""
    first = stores[0].array
    n_channels, n_slices, height, width = first.shape[1:]
    patch_shape = (n_channels, n_slices, height, width)
    total = sum(store.array.shape[0] for store in stores)
    with atomic_output(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        group.attrs.update(attributes)
        output = create_patch_array(
            group, total, patch_shape, str(first.dtype), int(attributes["patch_spec"]["patches_per_shard"])
        )
        writer = ShardedRowWriter(output)
        with tqdm(total=total, desc="collect patches", unit="patch", mininterval=2.0) as progress:
            for store in stores:
                for start in range(0, store.array.shape[0], writer.rows_per_write):
                    block = np.asarray(store.array[start : start + writer.rows_per_write])
                    for patch in block:
                        writer.append(patch)
                    progress.update(len(block))
        writer.close()
        write_zarr_provenance(tmp, provenance)
    return patch_shape


def collect_patches(inputs: CollectPatchesInputs, outputs: CollectPatchesOutputs) -> dict[str, Any]:
    """Concatenate per-FOV patch stores (in the given order) into one store and one index.

    Args:
        inputs: stores written by :func:`~dynaclr.patches.extract.extract_fov_patches` and their
            indices, same order.
        outputs: the collected store (kind ``patches``) and index (kind ``patch_index``).

    Returns:
        ``n_patches``, ``n_fovs`` and the patch shape ``(C, Z, S, S)``.
    """
    if len(inputs.zarrs) != len(inputs.parquets) or not inputs.zarrs:
        raise ValueError(
            f"collect_patches needs one index per store; got {len(inputs.zarrs)} stores and "
            f"{len(inputs.parquets)} indices"
        )
    stores = [read_fov_store(z, p) for z, p in zip(inputs.zarrs, inputs.parquets, strict=True)]
    check_same_spec(stores)
    attributes = collected_attributes([s.attributes for s in stores], [str(s.zarr_path) for s in stores])
    index = collected_index([s.index for s in stores])
    spec = attributes["patch_spec"]
    recorded: list[Any] = [(store.zarr_path, store.provenance) for store in stores]
    patch_shape = _write_collected_store(
        outputs.zarr, stores, attributes, make_provenance(ArtifactKind.PATCHES, spec, inputs=recorded)
    )
    write_table(index, outputs.parquet, make_provenance(ArtifactKind.PATCH_INDEX, spec, inputs=recorded))
    logger.info("collected %d patches of shape %s from %d FOV store(s)", len(index), patch_shape, len(stores))
    return {"n_patches": len(index), "n_fovs": len(stores), "patch_shape_czyx": list(patch_shape)}
