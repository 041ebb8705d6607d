"""Smoothness and dynamic range as the DynaCLR paper's tables define them.

The reference implementation (VisCy 0.4.1, ``viscy.representation.evaluation.smoothness.
compute_embeddings_smoothness``) computes, and this module reproduces without its ``N x N``
distance matrix:

1. the features z-scored per dimension over all cells (scikit-learn's ``StandardScaler``);
2. *adjacent* distances: the cosine distance between successive frames of every track
   (``fov_name, track_id``) with two or more frames, in ``t`` order: as the reference pairs a track's
   successive rows, a frame gap (imported tracks: gap closing) is paired across (frames 2 and 5 of a
   track missing 3 and 4), where :mod:`dynaclr.evaluation.temporal` pairs only ``t`` and ``t + 1``;
3. *random* distances: as many pairs of cells as adjacent distances, drawn over **all** cells
   (any track, any frame; never a cell with itself) with numpy's legacy generator seeded 42,
   exactly as the reference draws them;
4. ``smoothness`` = mean adjacent / mean random distance (lower: smoother);
   ``dynamic_range`` = peak of the random distances' density − peak of the adjacent distances'
   density (higher: better), each peak the highest local maximum (at least a tenth of the
   maximum) of a Gaussian KDE (scipy, Scott's bandwidth) on 1000 points between the data's
   minimum and maximum; of a single distance, or distances all equal (constant features: each
   z-scored row is zero, so every distance is 1, smoothness 1 and dynamic range 0), that value,
   where the reference's KDE raises.

:mod:`dynaclr.evaluation.temporal` computes a stricter variant (raw features, random pairs within a
track, track-bootstrap CIs); both are written, named, by rule ``temporal_metrics``. The paper's
numbers (Tables 4 and 5) can be set beside this module's only.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import find_peaks
from scipy.stats import gaussian_kde

from dynaclr.embeddings.blocks import MatrixBlocks, standard_scaler_statistics
from dynaclr.evaluation.pairs import pair_dot_products

logger = logging.getLogger(__name__)

#: Seed of the reference implementation's random pairs (``np.random.seed(42)``).
PAPER_SEED = 42
#: KDE evaluation points between the distances' minimum and maximum.
KDE_POINTS = 1000


def paper_temporal_metrics(
    embeddings: np.ndarray | MatrixBlocks, index: pd.DataFrame, seed: int = PAPER_SEED
) -> dict[str, Any]:
    """Smoothness and dynamic range of ``embeddings`` as the paper defines them (module docstring).

    The features are read three times, a block of rows at a time, never whole: column means,
    column variances (:func:`standard_scaler_statistics`), then the z-scored unit rows' pair
    distances (:func:`dynaclr.evaluation.pairs.pair_dot_products`; the random pairs' rows are
    spilled to a temporary file).

    Args:
        embeddings: ``(N, D)`` features, row-aligned with ``index``: an array, or
            :class:`~dynaclr.embeddings.MatrixBlocks` (e.g. an embeddings store's matrix).
        index: ``fov_name, track_id, t`` of each row; a track's frames are paired in ``t`` order.
        seed: seed of the random pairs (42: the reference implementation's).

    Returns:
        ``smoothness``, ``dynamic_range``, ``mean_adjacent``, ``mean_random``, ``adjacent_peak``,
        ``random_peak`` (cosine distances of z-scored features, in [0, 2]), ``n_tracks`` (tracks
        with two or more frames), ``n_pairs`` (adjacent pairs, also the number of random pairs).

    Raises:
        ValueError: the embeddings and index differ in length, no track has two frames, or a
            value is NaN or infinite.
    """
    blocks = embeddings if isinstance(embeddings, MatrixBlocks) else MatrixBlocks(np.asarray(embeddings))
    if blocks.n_rows != len(index):
        raise ValueError(f"embeddings must be (N={len(index)}, D), got shape {blocks.shape}")
    first, second, n_tracks = _adjacent_pairs(index)
    if first.size == 0:
        raise ValueError("no track has two frames: the paper's smoothness needs adjacent frames")
    frames = index["t"].to_numpy()
    steps = frames[second] - frames[first]
    across = int(np.count_nonzero(steps > 1))
    if across:
        logger.warning(
            "paper smoothness: %d of %d adjacent pairs span a frame gap (longest %d frames apart), paired "
            "across it as the reference pairs a track's successive rows; the track_pairs definition pairs "
            "only frames t and t + 1",
            across,
            first.size,
            int(steps.max()),
        )
    rows_a, rows_b = _random_pairs(len(index), first.size, seed)
    mean, scale = standard_scaler_statistics(blocks)

    def standardised_unit_rows(block: np.ndarray) -> np.ndarray:
        block -= mean  # StandardScaler.transform, in place as it does
        block /= scale
        return _unit_rows(block)

    dots = pair_dot_products(
        blocks, np.concatenate([first, rows_a]), np.concatenate([second, rows_b]), standardised_unit_rows
    )
    adjacent, random = 1.0 - dots[: first.size], 1.0 - dots[first.size :]
    adjacent_peak, random_peak = density_peak(adjacent), density_peak(random)
    return {
        "smoothness": float(adjacent.mean() / random.mean()),
        "dynamic_range": float(random_peak - adjacent_peak),
        "mean_adjacent": float(adjacent.mean()),
        "mean_random": float(random.mean()),
        "adjacent_peak": float(adjacent_peak),
        "random_peak": float(random_peak),
        "n_tracks": int(n_tracks),
        "n_pairs": int(adjacent.size),
    }


def density_peak(values: np.ndarray) -> float:
    """Location of the highest peak of a Gaussian KDE of ``values`` (peaks below a tenth of the
    maximum are ignored; the maximum itself when no local peak qualifies).

    One value, or values without spread (every distance of constant features is 1), have no KDE
    (scipy raises on them): their peak is that value, as :func:`dynaclr.evaluation.temporal.kde_peak`
    gives it. A movie whose tracker linked a single pair of detections is thus measured, not a failed rule.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or np.ptp(values) == 0:
        return float(values.mean())
    grid = np.linspace(values.min(), values.max(), KDE_POINTS)
    try:
        kde = gaussian_kde(values)
    except np.linalg.LinAlgError:  # a spread below what the covariance's factorisation resolves
        return float(values.mean())
    density = kde(grid)
    peaks, properties = find_peaks(density, height=density.max() * 0.1)
    if peaks.size == 0:
        return float(grid[np.argmax(density)])
    return float(grid[peaks[np.argmax(properties["peak_heights"])]])


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in place (zero rows stay zero, as torch's ``normalize`` leaves them)."""
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return matrix


def _adjacent_pairs(index: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Row pairs of successive frames of every track, across a frame gap (tracks in sorted order, frames
    by ``t``)."""
    order = index.reset_index(drop=True).assign(_row=np.arange(len(index)))
    order = order.sort_values(["fov_name", "track_id", "t"], kind="stable")
    rows = order["_row"].to_numpy()
    same_track = (order["fov_name"].to_numpy()[1:] == order["fov_name"].to_numpy()[:-1]) & (
        order["track_id"].to_numpy()[1:] == order["track_id"].to_numpy()[:-1]
    )
    lengths = order.groupby(["fov_name", "track_id"], sort=False).size()
    return rows[:-1][same_track], rows[1:][same_track], int((lengths >= 2).sum())


def _random_pairs(n_cells: int, n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_pairs`` pairs of distinct cells drawn as the reference implementation draws them."""
    generator = np.random.RandomState(seed)  # the legacy stream np.random.seed(42) gives
    rows_a = generator.randint(0, n_cells, size=n_pairs)
    rows_b = generator.randint(0, n_cells, size=n_pairs)
    same = rows_a == rows_b
    while same.any():
        rows_b[same] = generator.randint(0, n_cells, size=int(same.sum()))
        same = rows_a == rows_b
    return rows_a, rows_b
