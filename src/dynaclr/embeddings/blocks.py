"""An ``(N, D)`` matrix read a block of consecutive rows at a time, as float64.

Analyses that need every cell's vector but not all of them at once (the temporal metrics, the
classifiers' predictions, the PCA projection; the annotated rows the classifiers fit on are
gathered by :meth:`MatrixBlocks.take`)
read the embeddings' matrix through :class:`MatrixBlocks`: an in-memory array, or a zarr array of an
embeddings store (:func:`dynaclr.embeddings.open_representation`) read without ever holding it
whole. A block is a whole number of the zarr array's row chunks (a slice inside a chunk decodes
the whole chunk anyway), about :data:`BLOCK_BYTES` of float64; rule ``embed`` writes chunks of
:data:`dynaclr.embeddings.store.STREAMED_CHUNK_ROWS` rows. :func:`standard_scaler_statistics` gives
the column statistics scikit-learn's ``StandardScaler`` would fit on the whole matrix,
:func:`streamed_principal_components` its PCA (rules ``project_embeddings``, ``align_pseudotime``,
``aligned_trajectories_figure`` and ``interpret_embeddings``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

#: Target size of one float64 block of a chunked (zarr) matrix: 128 MiB, at least one row chunk.
BLOCK_BYTES = 128 * 2**20

logger = logging.getLogger(__name__)


class MatrixBlocks:
    """Rows of an ``(N, D)`` matrix as float64 blocks of consecutive rows, in row order.

    Iterating yields ``(start, block)``: ``block`` is a fresh, writable float64 copy of rows
    ``start .. start + len(block) - 1`` (at most :attr:`block_rows` rows), so a consumer may
    transform it in place. Each iteration reads the matrix again (one pass). :meth:`take` gathers
    chosen rows, reading only their blocks.

    Args:
        array: an in-memory array, or an array read by slicing rows (a ``zarr.Array``: only the
            chunks of a block are read and decoded).
        block_rows: rows per block. Default: the whole matrix for an in-memory array; for an
            array with row chunks (``array.chunks``), the largest whole number of chunks within
            :data:`BLOCK_BYTES` of float64, at least one chunk.
    """

    def __init__(self, array: Any, block_rows: int | None = None) -> None:
        if not isinstance(getattr(array, "shape", None), tuple):
            array = np.asarray(array)
        if len(array.shape) != 2:
            raise ValueError(f"embeddings must be a 2-D (N, D) array, got shape {array.shape}")
        self.array = array
        self.block_rows = _default_block_rows(array) if block_rows is None else int(block_rows)
        if self.block_rows < 1:
            raise ValueError(f"block_rows must be >= 1, got {block_rows}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, D)``."""
        n_rows, n_columns = self.array.shape
        return int(n_rows), int(n_columns)

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    @property
    def n_columns(self) -> int:
        return self.shape[1]

    @property
    def n_blocks(self) -> int:
        return -(-self.n_rows // self.block_rows)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.n_rows, self.block_rows):
            yield start, np.array(self.array[start : start + self.block_rows], dtype=np.float64)

    def stored_blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """As iteration, but each block in the stored dtype (float32 for an embeddings store), as
        read: for copying the matrix out unchanged, without a float64 copy. Not to be written to."""
        for start in range(0, self.n_rows, self.block_rows):
            yield start, np.asarray(self.array[start : start + self.block_rows])

    def take(self, rows: Any) -> np.ndarray:
        """``(len(rows), D)`` float64 copy of ``rows`` (any order, repeats allowed), as
        ``matrix[rows]``; reads only the blocks that hold one of them, one block at a time."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((rows.size, self.n_columns), dtype=np.float64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise ValueError(f"rows must be in [0, {self.n_rows})")
        order = np.argsort(rows, kind="stable")
        block_of = rows[order] // self.block_rows
        bounds = np.flatnonzero(np.diff(block_of, prepend=-1, append=-1))
        for lo, hi in itertools.pairwise(bounds):
            start = int(block_of[lo]) * self.block_rows
            block = np.asarray(self.array[start : start + self.block_rows])  # stored dtype: no float64 copy
            out[order[lo:hi]] = block[rows[order[lo:hi]] - start]
        return out

    def __repr__(self) -> str:
        kind = type(self.array).__name__
        return f"MatrixBlocks(shape={self.shape}, block_rows={self.block_rows}, array={kind})"


def column_means(blocks: MatrixBlocks) -> np.ndarray:
    """``(D,)`` column means of the matrix in one pass over blocks: ``matrix.mean(axis=0)`` (the
    ``mean_`` of scikit-learn's ``StandardScaler`` and ``PCA``), every column sum accumulated row
    after row as numpy's ``sum(axis=0)`` of the whole matrix does (each block's first row is added to
    the running sum before the block is summed), so the result equals it to the last bit where numpy
    sums that way (numpy 2), to rounding otherwise.

    Raises:
        ValueError: a value is NaN or infinite.
    """
    total = np.zeros(blocks.n_columns)
    for number, (_, block) in enumerate(blocks):
        if not np.all(np.isfinite(block)):
            raise ValueError("embeddings contain NaN or infinite values")
        if number:
            block[0] += total
        total = block.sum(axis=0)
    return total / float(blocks.n_rows)


def standard_scaler_statistics(blocks: MatrixBlocks) -> tuple[np.ndarray, np.ndarray]:
    """``(D,)`` column means and scales of ``StandardScaler().fit(matrix)``, in two passes over blocks.

    The same arithmetic as scikit-learn's fit of the whole matrix (``mean_``, and ``scale_`` =
    the population standard deviation from the corrected two-pass variance, 1 for a column
    scikit-learn deems constant), with every column sum accumulated row after row as numpy's
    ``sum(axis=0)`` of the whole matrix does: each block's first row is added to the running sum
    before the block is summed. The results equal scikit-learn's to the last bit where numpy sums
    that way (numpy 2), to rounding otherwise.

    Raises:
        ValueError: a value is NaN or infinite (scikit-learn would skip it; the reference never
            meets one).
    """
    n_rows, n_columns = blocks.shape
    count = float(n_rows)
    mean = column_means(blocks)
    correction, squares = np.zeros(n_columns), np.zeros(n_columns)
    for number, (_, block) in enumerate(blocks):
        block -= mean
        first_row = block[0].copy()
        if number:
            block[0] += correction
        correction = block.sum(axis=0)
        block[0] = first_row
        block **= 2
        if number:
            block[0] += squares
        squares = block.sum(axis=0)
    variance = (squares - correction**2 / count) / count
    eps = np.finfo(np.float64).eps
    constant = variance <= count * eps * variance + (count * mean * eps) ** 2
    scale = np.sqrt(variance)
    scale[constant] = 1.0
    return mean, scale


def kept_components(asked: int, shape: tuple[int, int], key: str) -> int:
    """The principal components a PCA of an ``(N, D)`` matrix of ``shape`` gives when config key ``key``
    asks for ``asked``: ``min(asked, N, D)``, a WARNING naming the key, asked and used when fewer
    (the stage records the number used)."""
    kept = min(asked, *shape)
    if kept < asked:
        logger.warning(
            "%s: %d principal components asked, %d used: min(N, D) of the %d cells x %d columns",
            key,
            asked,
            kept,
            *shape,
        )
    return kept


def streamed_principal_components(
    blocks: MatrixBlocks, n_components: int, *, standardize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """PCA of the ``(N, D)`` matrix of ``blocks``, z-scored first when ``standardize``, never held
    whole: scikit-learn's ``PCA(n_components, svd_solver='full').fit_transform`` (after
    ``StandardScaler`` when ``standardize``), to rounding.

    Exact, not incremental: the eigendecomposition of the covariance, as scikit-learn's
    ``PCA(svd_solver='covariance_eigh')`` does, but accumulated over blocks of centred rows, with the
    conventions of its ``svd_solver='full'``. Four passes over the matrix (three when not
    standardising):

    1. and 2. column means ``mu`` and scales ``s`` of ``StandardScaler`` (population standard
       deviation, 1 for a constant column; :func:`standard_scaler_statistics`); when not
       standardising, the means alone (:func:`column_means`, one pass) and ``s = 1``;
    3. the ``(D, D)`` scatter ``S = sum_i z_i z_i^T`` of the rows ``z_i = (x_i - mu) / s`` and their
       sum, in float64; the covariance is ``C = (S - N m m^T) / (N - 1)`` with ``m`` the mean of
       the ``z_i`` (zero up to rounding: the correction of the two-pass algorithm);
    4. the coordinates ``(z_i - m) V_k`` of every row.

    ``C = V diag(lambda) V^T`` by ``numpy.linalg.eigh``; components in decreasing ``lambda`` (clipped
    at 0, as scikit-learn clips), each signed so that its largest-magnitude loading is positive
    (scikit-learn's ``svd_flip(..., u_based_decision=False)``). The variance ratio is
    ``lambda_j / sum(lambda)``: scikit-learn's ``explained_variance_ratio_`` (variances with
    ``ddof=1``, over all ``min(N, D)`` components). Memory: ``D x D`` float64, the ``(N, k)``
    coordinates and a few blocks.

    Returns:
        ``(N, n_components)`` float64 coordinates (unitless) and the ``(n_components,)`` variance ratio.

    Raises:
        ValueError: fewer than 2 rows (scikit-learn's variances divide by ``N - 1``),
            ``n_components`` is not in ``[1, min(N, D)]``, or a value is NaN or infinite.
    """
    n_rows, n_columns = blocks.shape
    if n_rows < 2:
        raise ValueError(f"a PCA needs at least 2 rows (cells); the matrix has {n_rows}")
    if not 1 <= n_components <= min(n_rows, n_columns):
        raise ValueError(f"n_components={n_components} must be in [1, min(N, D)={min(n_rows, n_columns)}]")
    if standardize:
        mean, scale = standard_scaler_statistics(blocks)
    else:
        mean, scale = column_means(blocks), np.ones(n_columns)
    scatter, total = np.zeros((n_columns, n_columns)), np.zeros(n_columns)
    for _, block in blocks:
        block -= mean
        block /= scale
        total += block.sum(axis=0)
        scatter += block.T @ block
    offset = total / n_rows
    covariance = (scatter - n_rows * np.outer(offset, offset)) / (n_rows - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    eigenvalues = np.clip(eigenvalues[::-1], 0.0, None)
    components = np.ascontiguousarray(eigenvectors[:, ::-1].T)  # (D, D): one component a row
    largest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(n_columns), largest])[:, np.newaxis]
    kept = components[:n_components]  # (k, D)
    coordinates = np.empty((n_rows, n_components))
    for start, block in blocks:
        block -= mean
        block /= scale
        block -= offset
        coordinates[start : start + len(block)] = block @ kept.T
    return coordinates, eigenvalues[:n_components] / eigenvalues.sum()


def _default_block_rows(array: Any) -> int:
    n_rows, n_columns = array.shape
    chunks = getattr(array, "chunks", None)
    if not isinstance(chunks, tuple) or not chunks:
        return max(1, int(n_rows))
    chunk_rows = max(1, int(chunks[0]))
    chunks_per_block = max(1, BLOCK_BYTES // max(1, chunk_rows * int(n_columns) * 8))
    return max(1, min(int(n_rows), chunk_rows * chunks_per_block))
