"""Dot products of pairs of rows of a matrix read a block at a time (the temporal metrics' distances).

The temporal metrics need, for up to a few times ``N`` pairs of rows ``(a, b)``, the dot product
of the two rows after a per-row transform (unit L2 norm; for the paper's definition, z-scoring
first), never the transformed matrix itself. :func:`pair_dot_products` reads the matrix once, a
block of consecutive rows at a time (:class:`dynaclr.embeddings.MatrixBlocks`), and holds the
transformed current block and the one before it:

* *near* pairs, whose rows lie in one block or in two consecutive blocks, are computed when the
  later of the two blocks is read. Tracks are stored FOV by FOV, so every pair within a track is
  near unless a track is longer than a block;
* *far* pairs (rows in any order; the paper's random pairs over all cells) are computed after
  the pass from a spill file: the transformed rows they need (float64, written in row order while
  the blocks pass, in a temporary directory removed at the end), gathered a bounded batch of pairs
  at a time through a memory map opened for that batch only.

Memory: two blocks, one batch of gathered rows (:data:`PAIR_BATCH_BYTES`) and ``O(pairs)``
index vectors; disk: ``8 D`` bytes per row of a far pair (none when every pair is near). Each
pair's value is the same ``einsum`` of the same two transformed rows an in-memory computation
makes, so the results do not depend on the block size.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dynaclr.embeddings.blocks import MatrixBlocks

logger = logging.getLogger(__name__)

#: A per-row transform of a float64 block ``(rows, D)``; may work in place, returns the transformed rows.
RowTransform = Callable[[np.ndarray], np.ndarray]

#: Bytes of rows gathered at once for one batch of pairs (and of memory-mapped pages for far pairs).
PAIR_BATCH_BYTES = 32 * 2**20
_PAGE_BYTES = 4096


def pair_dot_products(
    blocks: MatrixBlocks,
    first: np.ndarray,
    second: np.ndarray,
    transform: RowTransform,
    spill_dir: str | Path | None = None,
) -> np.ndarray:
    """``einsum('ij,ij->i', T[first], T[second])`` with ``T`` the transformed matrix, never held whole.

    Args:
        blocks: the ``(N, D)`` matrix, read once (one pass over its blocks, in row order).
        first, second: ``(P,)`` row numbers of the pairs, any order, any distance apart.
        transform: applied to every block (every row is transformed once, whether or not a pair
            uses it, so a transform that validates its rows sees them all).
        spill_dir: where the far pairs' rows are spilled (default: the system's temporary directory,
            ``$TMPDIR``).

    Returns:
        ``(P,)`` float64 dot products.
    """
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(
            f"first and second must be 1-D arrays of one length, got {first.shape} and {second.shape}"
        )
    n_rows, n_columns = blocks.shape
    if first.size and (min(first.min(), second.min()) < 0 or max(first.max(), second.max()) >= n_rows):
        raise ValueError(f"pair rows must be in [0, {n_rows})")
    size = blocks.block_rows
    low = np.minimum(first, second) // size
    high = np.maximum(first, second) // size
    near = np.flatnonzero(high - low <= 1)
    near = near[np.argsort(high[near], kind="stable")]  # by the block at which both rows are held
    near_bounds = np.searchsorted(high[near], np.arange(blocks.n_blocks + 1))
    far = np.flatnonzero(high - low > 1)
    del low, high
    spilled = np.unique(np.concatenate([first[far], second[far]]))
    logger.debug(
        "%d pairs over %d blocks of %d rows: %d near, %d far (%d rows spilled)",
        first.size,
        blocks.n_blocks,
        size,
        near.size,
        far.size,
        spilled.size,
    )
    out = np.empty(first.size, dtype=np.float64)
    batch = max(1, PAIR_BATCH_BYTES // (2 * 8 * max(1, n_columns)))
    with tempfile.TemporaryDirectory(prefix="dynaclr-pairs-", dir=spill_dir) as tmp:
        spill_path = Path(tmp) / "rows.f64"
        previous, previous_start = np.zeros((0, n_columns)), 0
        with open(spill_path, "wb") as spill:
            passing = tqdm(
                blocks, total=blocks.n_blocks, desc="pairs", leave=False, mininterval=2, disable=None
            )
            for number, (start, block) in enumerate(passing):
                current = transform(block)
                stop = start + len(current)
                lo, hi = np.searchsorted(spilled, [start, stop])
                current[spilled[lo:hi] - start].tofile(spill)  # in row order: slots follow rows
                for pairs in _batches(near[near_bounds[number] : near_bounds[number + 1]], batch):
                    rows_a = _window_rows(first[pairs], current, start, previous, previous_start)
                    rows_b = _window_rows(second[pairs], current, start, previous, previous_start)
                    out[pairs] = np.einsum("ij,ij->i", rows_a, rows_b)
                previous, previous_start = current, start
        del previous
        if far.size:
            out[far] = _spilled_dot_products(spill_path, spilled, first[far], second[far], n_columns)
    return out


def _batches(items: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for begin in range(0, items.size, size):
        yield items[begin : begin + size]


def _window_rows(
    rows: np.ndarray, current: np.ndarray, start: int, previous: np.ndarray, previous_start: int
) -> np.ndarray:
    """Transformed ``rows``, each in the current block (from ``start``) or the one before it."""
    if rows.size and rows.min() >= start:
        return current[rows - start]
    gathered = np.empty((rows.size, current.shape[1]), dtype=np.float64)
    here = rows >= start
    gathered[here] = current[rows[here] - start]
    gathered[~here] = previous[rows[~here] - previous_start]
    return gathered


def _spilled_dot_products(
    path: Path, spilled: np.ndarray, first: np.ndarray, second: np.ndarray, n_columns: int
) -> np.ndarray:
    """Dot products of pairs of spilled rows, a batch at a time: each batch maps the file anew and
    unmaps it after, so that resident pages never exceed one batch's."""
    out = np.empty(first.size, dtype=np.float64)
    row_bytes = 8 * max(1, n_columns)
    batch = max(1, PAIR_BATCH_BYTES // (2 * (row_bytes + _PAGE_BYTES)))
    for begin in tqdm(
        range(0, first.size, batch), desc="far pairs", leave=False, mininterval=2, disable=None
    ):
        slots_a = np.searchsorted(spilled, first[begin : begin + batch])
        slots_b = np.searchsorted(spilled, second[begin : begin + batch])
        mapped = np.memmap(path, dtype=np.float64, mode="r", shape=(spilled.size, n_columns))
        rows_a, rows_b = np.asarray(mapped[slots_a]), np.asarray(mapped[slots_b])
        del mapped
        out[begin : begin + batch] = np.einsum("ij,ij->i", rows_a, rows_b)
    return out
