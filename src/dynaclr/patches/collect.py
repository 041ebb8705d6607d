"""Gather per-FOV patch stores into one store per dataset and spec (rule ``collect_patches``).

Output: ``results/{dataset}/patches/{spec}.zarr`` (array ``patches`` ``(N, C, Z, S, S)``, one chunk
per patch, sharded; see :mod:`dynaclr.patches.store`) and ``results/{dataset}/patches/{spec}.parquet``
(one row per patch, ``row`` = its position in the array). The per-FOV normalisation statistics are
merged into the store's ``normalization`` attribute. Copies stream shard by shard.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr
from tqdm.auto import tqdm

from dynaclr.io import (
    ArtifactError,
    Provenance,
    atomic_output,
    make_provenance,
    read_table,
    read_zarr_provenance,
    write_table,
    write_zarr_provenance,
)
from dynaclr.patches.store import INDEX_COLUMNS, PATCH_ARRAY, ShardedRowWriter, create_patch_array

logger = logging.getLogger(__name__)

#: Attributes that must agree between the per-FOV stores of one spec.
_SHARED_ATTRIBUTES = (
    "patch_spec",
    "channel_names",
    "initial_patch_size_yx_px",
    "patch_size_yx_px",
    "z_slices",
)


def collect_patches(
    per_fov_zarrs: Sequence[str | Path],
    per_fov_parquets: Sequence[str | Path],
    output_zarr: str | Path,
    output_parquet: str | Path,
) -> dict[str, Any]:
    """Concatenate per-FOV patch stores (in the given order) into one store and one index.

    Args:
        per_fov_zarrs: stores written by :func:`~dynaclr.patches.extract.extract_fov_patches`.
        per_fov_parquets: their indices, same order.
        output_zarr: the collected store (kind ``patches``).
        output_parquet: the collected index (kind ``patch_index``).

    Returns:
        ``n_patches``, ``n_fovs`` and the patch shape ``(C, Z, S, S)``.
    """
    if len(per_fov_zarrs) != len(per_fov_parquets) or not per_fov_zarrs:
        raise ValueError(
            f"collect_patches needs one index per store; got {len(per_fov_zarrs)} stores and "
            f"{len(per_fov_parquets)} indices"
        )
    arrays: list[zarr.Array] = []
    indices: list[pd.DataFrame] = []
    inputs: list[Provenance | tuple[str | Path, Provenance | None] | str | Path] = []
    shared: dict[str, Any] | None = None
    normalization: dict[str, Any] = {}
    config_hash = None
    for zarr_path, parquet_path in zip(map(Path, per_fov_zarrs), map(Path, per_fov_parquets), strict=True):
        provenance = read_zarr_provenance(zarr_path, "patch_fov")
        index, index_provenance = read_table(parquet_path, "patch_fov", required_columns=INDEX_COLUMNS)
        if config_hash is None:
            config_hash = provenance.config_hash
        if provenance.config_hash != config_hash or index_provenance.config_hash != config_hash:
            raise ArtifactError(
                f"{zarr_path} / {parquet_path}: made with patch spec hash {provenance.config_hash} / "
                f"{index_provenance.config_hash}, expected {config_hash} like {per_fov_zarrs[0]}; rerun "
                "`snakemake --forcerun extract_patches`"
            )
        group = zarr.open_group(str(zarr_path), mode="r")
        attributes = dict(group.attrs)
        these = {key: attributes.get(key) for key in _SHARED_ATTRIBUTES}
        if shared is None:
            shared = these
            shared["time_interval_minutes"] = attributes.get("time_interval_minutes")
        elif any(these[key] != shared[key] for key in _SHARED_ATTRIBUTES):
            differing = [key for key in _SHARED_ATTRIBUTES if these[key] != shared[key]]
            raise ArtifactError(
                f"{zarr_path}: attributes {differing} differ from those of {per_fov_zarrs[0]}"
            )
        array = group[PATCH_ARRAY]
        assert isinstance(array, zarr.Array)
        if array.shape[0] != len(index):
            raise ArtifactError(
                f"{parquet_path}: {len(index)} rows, but {zarr_path} holds {array.shape[0]} patches"
            )
        fov_names = index["fov_name"].unique().tolist()
        if any(name in normalization for name in fov_names):
            raise ArtifactError(f"{zarr_path}: FOV(s) {fov_names} appear in more than one input store")
        normalization.update(dict(attributes["normalization"]))  # type: ignore[arg-type]
        arrays.append(array)
        indices.append(index)
        inputs.append((zarr_path, provenance))
    assert shared is not None
    spec = shared["patch_spec"]
    n_channels, n_slices, height, width = arrays[0].shape[1:]
    patch_shape = (n_channels, n_slices, height, width)
    total = sum(a.shape[0] for a in arrays)
    collected = pd.concat(indices, ignore_index=True)
    collected["row"] = np.arange(total, dtype=np.int64)
    provenance = make_provenance("patches", spec, inputs=inputs)
    with atomic_output(output_zarr) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        group.attrs.update(json.loads(json.dumps({**shared, "normalization": normalization})))
        output = create_patch_array(
            group, total, patch_shape, str(arrays[0].dtype), int(spec["patches_per_shard"])
        )  # type: ignore[arg-type]
        writer = ShardedRowWriter(output)
        with tqdm(total=total, desc="collect patches", unit="patch", mininterval=2.0) as progress:
            for array in arrays:
                for start in range(0, array.shape[0], writer.rows_per_write):
                    block = np.asarray(array[start : start + writer.rows_per_write])
                    for patch in block:
                        writer.append(patch)
                    progress.update(len(block))
        writer.close()
        write_zarr_provenance(tmp, provenance)
    write_table(
        collected[list(INDEX_COLUMNS)], output_parquet, make_provenance("patch_index", spec, inputs=inputs)
    )
    logger.info("collected %d patches of shape %s from %d FOV store(s)", total, patch_shape, len(arrays))
    return {"n_patches": total, "n_fovs": len(arrays), "patch_shape_czyx": list(patch_shape)}
