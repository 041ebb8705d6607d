"""Encode every patch once (centre crop, no augmentation), streaming rows to disk; resume after a stop.

Inference writes into a *partial store* whose path the rule gives (a zarr group outside the
rule's declared output, so Snakemake does not delete it before a retry):

* arrays ``features`` ``(N, E)`` and ``projections`` ``(N, P)``, float32, chunked by
  ``batch_size`` rows so every batch fills exactly one chunk;
* attribute ``rows_done``: rows ``[0, rows_done)`` are complete. It is updated after each batch's
  chunks are written, so a job killed at any point resumes from the last complete batch;
* attribute ``fingerprint``: the patch shape, batch size, crop, a hash of the index's
  ``fov_name, track_id, t``, a hash of the encoder's weights, what identifies the patch values (a
  digest of the first patch's, and the patch store's identity where the caller gives it:
  ``patches_source``, rule ``embed`` gives its provenance) and the numerics (the device type and
  whether bfloat16 autocast is in effect). A partial store with another fingerprint is discarded,
  never mixed: a job killed, then its patch store rebuilt with the same shape and cells (a spec
  whose channels, slices or normalisation were edited; a plate replaced) or run on another device,
  starts again instead of joining rows of the old patches (or numerics) to the new.

When every row is done the two matrices are returned; the caller (:mod:`dynaclr.embeddings.stage`)
writes the embeddings artifact and then removes the partial store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import zarr
from torch import nn
from tqdm import tqdm

from dynaclr.config.embeddings import EmbeddingConfig
from dynaclr.embeddings.store import check_index
from dynaclr.io.weights import state_dict_sha256
from dynaclr.numerics.crop import center_crop
from dynaclr.numerics.device import resolve_device

logger = logging.getLogger(__name__)

_ROWS_DONE = "rows_done"
_FINGERPRINT = "fingerprint"
_ARRAYS = ("features", "projections")


def encoder_fingerprint(encoder: nn.Module, weights_sha256: str | None = None) -> str:
    """SHA-256 (16 hex digits) of the encoder's parameter and buffer names, shapes and bytes: the
    weights' digest (:func:`dynaclr.io.weights.state_dict_sha256`) shortened; ``weights_sha256`` is
    that digest where the caller took it (the weights are not hashed again)."""
    if weights_sha256 is None:
        weights_sha256 = state_dict_sha256(encoder.state_dict())
    return weights_sha256[:16]


def index_fingerprint(index: pd.DataFrame) -> str:
    """SHA-256 (16 hex digits) of the index's ``fov_name, track_id, t`` columns, in row order."""
    keys = index[["fov_name", "track_id", "t"]].reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def patches_fingerprint(patches: zarr.Array | np.ndarray) -> str:
    """SHA-256 (16 hex digits) of the first patch's values as float32: a partial store made from other
    patch values (a rebuilt store of the same shape and cells) is told apart without reading them all."""
    first = np.ascontiguousarray(np.asarray(patches[:1], dtype=np.float32))
    return hashlib.sha256(first.tobytes()).hexdigest()[:16]


def _check_patches(
    patches: zarr.Array | np.ndarray, index: pd.DataFrame, crop: tuple[int, int] | None
) -> None:
    if len(patches.shape) != 5:
        raise ValueError(f"patches must be (N, C, Z, Y, X), got shape {tuple(patches.shape)}")
    if patches.shape[0] != len(index):
        raise ValueError(
            f"patch array has {patches.shape[0]} patches but the index has {len(index)} rows; "
            "they must be row-aligned (row i of the index describes patch i)"
        )
    if crop is not None and (crop[0] > patches.shape[3] or crop[1] > patches.shape[4]):
        raise ValueError(
            f"crop_size_yx {tuple(crop)} is larger than the stored patches (Y, X)={tuple(patches.shape[3:])}"
        )


def _open_partial(
    path: Path, fingerprint: dict[str, Any], resume: bool
) -> tuple[zarr.Group, int, dict[str, zarr.Array]]:
    """Open (or create) the partial store; return it, the rows already done and its arrays."""
    if path.exists() and resume:
        try:
            group = zarr.open_group(str(path), mode="r+")
            found = group.attrs.get(_FINGERPRINT)
            marker = group.attrs.get(_ROWS_DONE, 0)
            rows_done = int(marker) if isinstance(marker, int | float) else 0
            arrays: dict[str, zarr.Array] = {}
            if rows_done > 0:
                arrays = {name: group[name] for name in _ARRAYS}  # type: ignore[misc]
        except Exception as err:  # an interrupted attribute write can leave an unreadable store
            logger.warning("Partial store %s is unreadable (%s); starting again", path, err)
        else:
            if found == fingerprint:
                logger.info("Resuming embeddings from %s: %d rows already done", path, rows_done)
                return group, rows_done, arrays
            logger.warning(
                "Partial store %s was made from other inputs (found %s, expected %s); starting again",
                path,
                json.dumps(found, sort_keys=True),
                json.dumps(fingerprint, sort_keys=True),
            )
    if path.exists():
        shutil.rmtree(path)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.attrs.update({_FINGERPRINT: fingerprint, _ROWS_DONE: 0})
    return group, 0, {}


def _encode(
    encoder: nn.Module, batch: np.ndarray, device: torch.device, bf16_autocast: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``encoder`` on ``batch`` ``(B, C, Z, h, w)`` → ``(B, E)`` and ``(B, P)`` float32 arrays."""
    x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(device, non_blocking=True)
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        if bf16_autocast and device.type == "cuda"
        else nullcontext()
    )
    with torch.inference_mode(), autocast:
        output = encoder(x)
    if not isinstance(output, tuple | list) or len(output) != 2:
        raise TypeError(f"encoder must return (features, projections), got {type(output).__name__}")
    features, projections = output
    if features.ndim != 2 or projections.ndim != 2 or features.shape[0] != x.shape[0]:
        raise ValueError(
            f"encoder returned features {tuple(features.shape)} and projections {tuple(projections.shape)}; "
            f"expected (B={x.shape[0]}, E) and (B, P)"
        )
    return features.float().cpu().numpy(), projections.float().cpu().numpy()


def encode_patches(
    encoder: nn.Module,
    patches: zarr.Array | np.ndarray,
    index: pd.DataFrame,
    config: EmbeddingConfig,
    *,
    crop_size_yx: tuple[int, int] | None,
    partial_path: str | Path,
    show_progress: bool = True,
    lazy: bool = False,
    weights_sha256: str | None = None,
    where: str = "",
    patches_source: str | None = None,
) -> tuple[Any, Any]:
    """Encode every patch into features and projections, streaming rows into a resumable store.

    Patches are read ``config.batch_size`` rows at a time (the next batch is read while the
    current one is encoded), centre-cropped to ``crop_size_yx`` and encoded once in eval mode
    under ``torch.inference_mode`` (bfloat16 autocast on the GPU when ``config.bf16_autocast``;
    float32 on the CPU). Rows stream into the partial store at ``partial_path`` (module
    docstring), so an interrupted job resumes from its last complete batch when
    ``config.resume``.

    Args:
        encoder: module mapping ``(B, C, Z, h, w)`` float32 to ``(features (B, E), projections (B, P))``,
            e.g. :class:`dynaclr.contrastive.ContrastiveEncoder`. Put in eval mode here.
        patches: ``(N, C, Z, Y, X)`` float32 patches (a zarr or numpy array).
        index: ``N`` rows, row ``i`` describing patch ``i`` (``fov_name, track_id, t`` needed).
        config: batch size, device, autocast and resume.
        crop_size_yx: centre crop ``(h, w)`` in pixels; ``None`` keeps the stored size.
        partial_path: the partial store (the caller removes it once the result is written).
        show_progress: tqdm progress bar over batches.
        lazy: return the partial store's zarr arrays (read a chunk at a time when used, e.g. by
            :func:`~dynaclr.embeddings.write_embeddings`) instead of reading them into memory; use
            them before the partial store is removed.
        weights_sha256: :func:`dynaclr.io.weights.state_dict_sha256` of ``encoder``'s weights where
            the caller took it (rule ``embed`` records it), for the partial store's fingerprint;
            ``None``: taken here.
        where: names the patch store and the weights in the error raised for non-finite embeddings
            (:func:`check_finite_embeddings`).
        patches_source: what identifies the patch values beyond their shape, e.g. the patch store's
            provenance (its config hash and creation time; rule ``embed`` gives it): a partial store
            made from another is discarded (module docstring). ``None``: the digest of the first
            patch's values alone tells them apart.

    Returns:
        ``features (N, E)`` and ``projections (N, P)``, float32 (numpy; zarr arrays when ``lazy``).
    """
    batch_size = config.batch_size
    check_index(index, "patch index")
    crop = None if crop_size_yx is None else (int(crop_size_yx[0]), int(crop_size_yx[1]))
    _check_patches(patches, index, crop)
    n_rows = int(patches.shape[0])
    if n_rows == 0:
        raise ValueError("patch array is empty: nothing to embed")
    device = resolve_device(config.device, "analysis.embeddings.device")
    encoder = encoder.to(device).eval()
    fingerprint = {
        "patch_shape": [int(s) for s in patches.shape],
        "batch_size": batch_size,
        "crop_size_yx": None if crop is None else list(crop),
        "index": index_fingerprint(index),
        "encoder": encoder_fingerprint(encoder, weights_sha256),
        # the patch values and the numerics: a rebuilt store of the same shape and cells, or another
        # device or precision, must not resume into rows of the old ones
        "patches": patches_fingerprint(patches),
        "patches_source": patches_source,
        "device": device.type,
        "bf16_autocast": bool(config.bf16_autocast and device.type == "cuda"),
    }
    partial_path = Path(partial_path)
    partial_path.parent.mkdir(parents=True, exist_ok=True)
    group, rows_done, arrays = _open_partial(partial_path, fingerprint, config.resume)
    n_batches = math.ceil(n_rows / batch_size)
    first_batch = rows_done // batch_size

    logger.info(
        "Embedding %d patches in %d batches of %d on %s (starting at batch %d)",
        n_rows,
        n_batches,
        batch_size,
        device,
        first_batch,
    )

    def read_batch(batch_number: int) -> np.ndarray:
        lo, hi = batch_number * batch_size, min(n_rows, (batch_number + 1) * batch_size)
        batch = np.asarray(patches[lo:hi], dtype=np.float32)
        return batch if crop is None else center_crop(batch, crop)

    def encode_batch(batch_number: int, batch: np.ndarray) -> None:
        features, projections = _encode(encoder, batch, device, config.bf16_autocast)
        check_finite_embeddings(features, projections, batch, index.iloc[batch_number * batch_size :], where)
        for name, values in zip(_ARRAYS, (features, projections), strict=True):
            if name not in arrays:
                arrays[name] = group.create_array(
                    name,
                    shape=(n_rows, values.shape[1]),
                    chunks=(batch_size, values.shape[1]),
                    dtype="float32",
                    fill_value=0.0,
                )
            lo = batch_number * batch_size
            arrays[name][lo : lo + len(values)] = values
        group.attrs[_ROWS_DONE] = min(n_rows, (batch_number + 1) * batch_size)

    _read_ahead(first_batch, n_batches, read_batch, encode_batch, show_progress)
    if lazy:
        return arrays["features"], arrays["projections"]
    return np.asarray(arrays["features"][:]), np.asarray(arrays["projections"][:])


def check_finite_embeddings(
    features: np.ndarray, projections: np.ndarray, patches: np.ndarray, index: pd.DataFrame, where: str = ""
) -> None:
    """Refuse a batch whose embeddings hold NaN or infinite values (``index``: its rows first),
    naming the first such patch (``fov_name``, ``track_id``, ``t``), how many there are and whether
    the patches were finite (else the weights are at fault: a diverged run): the embeddings
    artifact would be written with exit 0 and only the analyses would fail, naming no patch."""
    bad = ~(np.isfinite(features).all(axis=1) & np.isfinite(projections).all(axis=1))
    if not bad.any():
        return
    rows = np.flatnonzero(bad)
    first = index.iloc[int(rows[0])]
    n_bad_voxels = int(np.count_nonzero(~np.isfinite(patches[rows])))
    cause = (
        f"those patches hold {n_bad_voxels} NaN or infinite voxel(s): rebuild the patch store"
        if n_bad_voxels
        else "their patches are finite, so the encoder is at fault (weights that diverged in training, "
        "or overflow): use a checkpoint from before the divergence"
    )
    raise ValueError(
        f"{where or 'patches'}: expected finite embeddings, found NaN or infinite values for "
        f"{len(rows)} of the batch's {len(bad)} patches, the first FOV {first['fov_name']} "
        f"track {first['track_id']} frame {first['t']}; {cause}"
    )


def _read_ahead(
    first: int,
    stop: int,
    read: Callable[[int], np.ndarray],
    consume: Callable[[int, np.ndarray], None],
    show_progress: bool,
) -> None:
    """``consume(k, read(k))`` for ``k`` in ``first .. stop - 1``, reading batch ``k + 1`` in a
    thread while batch ``k`` is consumed (tqdm bar over all ``stop`` batches)."""
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(read, first) if first < stop else None
        for batch_number in tqdm(
            range(first, stop),
            initial=first,
            total=stop,
            desc="embed",
            unit="batch",
            mininterval=2,
            disable=not show_progress,
        ):
            assert pending is not None
            batch = pending.result()
            pending = reader.submit(read, batch_number + 1) if batch_number + 1 < stop else None
            consume(batch_number, batch)
