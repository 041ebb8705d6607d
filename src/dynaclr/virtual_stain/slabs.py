"""Phase slabs: the ``input_depth_slices`` slices around a z the network predicts (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["slab_indices", "slabs"]


def slab_indices(z: int, depth: int, n_z: int) -> np.ndarray:
    """Slice indices of the ``depth``-slice slab centred on ``z``; the edge slice repeats at the ends."""
    half = depth // 2
    return np.clip(np.arange(z - half, z + half + 1), 0, n_z - 1)


def slabs(stack: np.ndarray, z_indices: list[int] | np.ndarray, depth: int) -> np.ndarray:
    """Slabs centred on ``z_indices`` of a ``(Z, Y, X)`` stack → ``(len(z_indices), depth, Y, X)``."""
    n_z = stack.shape[0]
    return np.stack([stack[slab_indices(int(z), depth, n_z)] for z in z_indices])
