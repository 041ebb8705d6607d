"""Encode every patch once (centre crop, no augmentation), streaming rows to disk; resume after a stop.

Inference writes into a *partial store* beside the output, ``.{output name}.partial`` (a zarr
group outside the rule's declared output, so Snakemake does not delete it before a retry):

* arrays ``features`` ``(N, E)`` and ``projections`` ``(N, P)``, float32, chunked by
  ``batch_size`` rows so every batch fills exactly one chunk;
* attribute ``rows_done``: rows ``[0, rows_done)`` are complete. It is updated after each batch's
  chunks are written, so a job killed at any point resumes from the last complete batch;
* attribute ``fingerprint``: the patch shape, batch size, crop, a hash of the index's
  ``fov_name, track_id, t`` and a hash of the encoder's weights. A partial store with another
  fingerprint is discarded, never mixed.

When every row is done the AnnData is assembled (:mod:`dynaclr.embeddings.store`), written
atomically with its provenance, and the partial store is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections.abc import Sequence
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

from dynaclr.embeddings.patch_arrays import PatchArray, center_crop_numpy, open_patches
from dynaclr.embeddings.store import EMBEDDINGS_KIND, build_anndata, check_index, write_embeddings
from dynaclr.io import Provenance, make_provenance

logger = logging.getLogger(__name__)

_ROWS_DONE = "rows_done"
_FINGERPRINT = "fingerprint"
_ARRAYS = ("features", "projections")


def partial_store_path(output_path: str | Path) -> Path:
    """Where the resumable partial store of ``output_path`` lives (a hidden sibling)."""
    output_path = Path(output_path)
    return output_path.with_name(f".{output_path.name}.partial")


def resolve_device(device: str) -> torch.device:
    """``'auto'`` → CUDA when available, else CPU; ``'cuda'`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was requested but torch sees no GPU; use 'auto' or 'cpu'")
    return torch.device(device)


def encoder_fingerprint(encoder: nn.Module) -> str:
    """SHA-256 (16 hex digits) of the encoder's parameter and buffer names, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in encoder.state_dict().items():
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def index_fingerprint(index: pd.DataFrame) -> str:
    """SHA-256 (16 hex digits) of the index's ``fov_name, track_id, t`` columns, in row order."""
    keys = index[["fov_name", "track_id", "t"]].reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _check_patches(patches: PatchArray, index: pd.DataFrame, crop: tuple[int, int] | None) -> None:
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
    group = zarr.open_group(str(path), mode="w")
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


def embed_patches(
    encoder: nn.Module,
    patches_array: PatchArray | str | Path,
    index_df: pd.DataFrame,
    output_path: str | Path,
    batch_size: int = 128,
    device: str = "auto",
    crop_size_yx: tuple[int, int] | None = None,
    bf16_autocast: bool = True,
    resume: bool = True,
    provenance_config: dict[str, Any] | None = None,
    inputs: Sequence[tuple[str | Path, Provenance | None] | str | Path] = (),
    info: dict[str, Any] | None = None,
    show_progress: bool = True,
) -> Path:
    """Encode every patch into features and projections and write the ``embeddings`` AnnData.

    Patches are read ``batch_size`` rows at a time (the next batch is read while the current one
    is encoded), centre-cropped to ``crop_size_yx`` and encoded once in eval mode under
    ``torch.inference_mode`` (bfloat16 autocast on the GPU when ``bf16_autocast``; float32 on
    the CPU). Rows stream into the partial store (module docstring), so an interrupted job
    resumes from its last complete batch; the finished AnnData is written atomically.

    Args:
        encoder: module mapping ``(B, C, Z, h, w)`` float32 to ``(features (B, E), projections (B, P))``,
            e.g. :class:`dynaclr.contrastive.ContrastiveEncoder`. Put in eval mode here.
        patches_array: ``(N, C, Z, Y, X)`` float32 patches: a zarr array, a numpy array or the
            path of a zarr array (opened with ``zarr.open_array``).
        index_df: ``N`` rows, row ``i`` describing patch ``i``; needs ``fov_name, track_id, t``;
            every column becomes an ``obs`` column.
        output_path: the embeddings store, ``results/embeddings/{model}/{dataset}.zarr``.
        batch_size: patches per forward pass and rows per chunk of the partial store.
        device: ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:k'``.
        crop_size_yx: centre crop ``(h, w)`` in pixels; ``None`` keeps the stored size.
        bf16_autocast: bfloat16 autocast on the GPU (ignored on the CPU).
        resume: continue a compatible partial store instead of starting again.
        provenance_config: the stage's config subtree, recorded in the provenance.
        inputs: input paths (optionally with their provenance) recorded in the provenance.
        info: stored as ``uns['dynaclr']`` (e.g. ``{"model": ..., "dataset": ...}``).
        show_progress: tqdm progress bar over batches.

    Returns:
        ``output_path``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    output_path = Path(output_path)
    check_index(index_df, "index_df")
    patches = open_patches(patches_array)
    crop = None if crop_size_yx is None else (int(crop_size_yx[0]), int(crop_size_yx[1]))
    _check_patches(patches, index_df, crop)
    n_rows = int(patches.shape[0])
    if n_rows == 0:
        raise ValueError("patch array is empty: nothing to embed")
    torch_device = resolve_device(device)
    encoder = encoder.to(torch_device).eval()
    fingerprint = {
        "patch_shape": [int(s) for s in patches.shape],
        "batch_size": batch_size,
        "crop_size_yx": None if crop is None else list(crop),
        "index": index_fingerprint(index_df),
        "encoder": encoder_fingerprint(encoder),
    }
    partial_path = partial_store_path(output_path)
    partial_path.parent.mkdir(parents=True, exist_ok=True)
    group, rows_done, arrays = _open_partial(partial_path, fingerprint, resume)
    n_batches = math.ceil(n_rows / batch_size)
    first_batch = rows_done // batch_size

    def read_batch(batch_number: int) -> np.ndarray:
        lo, hi = batch_number * batch_size, min(n_rows, (batch_number + 1) * batch_size)
        return center_crop_numpy(np.asarray(patches[lo:hi], dtype=np.float32), crop)

    logger.info(
        "Embedding %d patches in %d batches of %d on %s (starting at batch %d)",
        n_rows,
        n_batches,
        batch_size,
        torch_device,
        first_batch,
    )
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(read_batch, first_batch) if first_batch < n_batches else None
        batches = tqdm(
            range(first_batch, n_batches),
            initial=first_batch,
            total=n_batches,
            desc="embed",
            unit="batch",
            mininterval=2,
            disable=not show_progress,
        )
        for batch_number in batches:
            assert pending is not None
            batch = pending.result()
            pending = reader.submit(read_batch, batch_number + 1) if batch_number + 1 < n_batches else None
            features, projections = _encode(encoder, batch, torch_device, bf16_autocast)
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

    adata = build_anndata(
        np.asarray(arrays["features"][:]),
        index_df,
        projections=np.asarray(arrays["projections"][:]),
        info={**(info or {}), "representation_note": "X = backbone features, obsm['X_projections'] = head"},
    )
    config = dict(provenance_config or {})
    provenance = make_provenance(EMBEDDINGS_KIND, config, list(inputs))
    write_embeddings(adata, output_path, provenance)
    shutil.rmtree(partial_path, ignore_errors=True)
    return output_path
