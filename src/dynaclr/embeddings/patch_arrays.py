"""Patch arrays as the embedders read them (numpy and zarr only, no deep-learning framework)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

PatchArray = zarr.Array | np.ndarray


def open_patches(patches: PatchArray | str | Path) -> PatchArray:
    """Open patches ``(N, C, Z, Y, X)`` given as a zarr array, a numpy array or a zarr array's path."""
    if isinstance(patches, str | Path):
        path = Path(patches)
        if not path.exists():
            raise FileNotFoundError(f"{path}: patch array not found")
        return zarr.open_array(str(path), mode="r")
    return patches


def center_crop_numpy(batch: np.ndarray, crop: tuple[int, int] | None) -> np.ndarray:
    """Centre crop of the last two axes (start ``(Y - h) // 2``, like ``dynaclr.contrastive.center_crop``)."""
    if crop is None:
        return batch
    height, width = batch.shape[-2:]
    top, left = (height - crop[0]) // 2, (width - crop[1]) // 2
    return batch[..., top : top + crop[0], left : left + crop[1]]
