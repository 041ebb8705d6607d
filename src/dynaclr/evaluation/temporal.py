"""Temporal smoothness and dynamic range of single-cell embedding trajectories (paper appendix C).

A *track* is one cell followed over time, identified by the pair ``(fov_name, track_id)``; each
row of the index table gives the track and the frame ``t`` (integer frame index, not minutes) of
the embedding in the same row of the ``(N, D)`` embedding array.

Two distance distributions are compared, both in cosine distance ``1 - cos(a, b)`` (range
``[0, 2]``, unitless):

* **adjacent**: embeddings of the same track at consecutive frames ``t`` and ``t + 1``. A frame
  gap (``t`` to ``t + 2`` because ``t + 1`` is missing) is *not* an adjacent pair.
* **random**: embeddings of the same track at two distinct, randomly drawn frames, drawn from the
  tracks that hold an adjacent pair only: a track seen only across frame gaps (every other frame:
  gap closing, frames QC dropped) gives no adjacent distance, and its random pairs, spanning more
  time for as many frames, would lower the ratio below that of the tracks measured (the two means
  are of the same tracks).

From these, ``smoothness = mean(adjacent) / mean(random)`` (lower is smoother) and
``dynamic_range = peak(random) - peak(adjacent)``, where ``peak`` is the location of the maximum of
a Gaussian kernel density estimate (Scott's rule, as :class:`scipy.stats.gaussian_kde`) evaluated
on a regular grid over ``[0, 2]`` (argmax; the grid spacing is the resolution). Confidence
intervals come from a percentile bootstrap that resamples *tracks* with replacement (pairs of one
track stay together), because pairs of the same track are not independent. Its units are the tracks
holding an adjacent pair; with fewer than :data:`~dynaclr.numerics.bootstrap.MIN_BOOTSTRAP_CLUSTERS`
there is no interval (NaN bounds, a WARNING): every resample of one track redraws it, so its
replicates are the point estimate and cannot show any uncertainty (the rule of every track bootstrap,
:func:`~dynaclr.numerics.bootstrap.too_few_clusters`).

The pairs depend on the index only; their distances are computed in one pass over the embeddings,
a block of rows at a time (:mod:`dynaclr.evaluation.pairs`), so an embeddings store's matrix
(:func:`dynaclr.embeddings.open_representation`) is never held whole. An in-memory array is one
block; either gives the same values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import gaussian_kde

from dynaclr.config.reasons import ONE_TIME_POINT
from dynaclr.embeddings.blocks import MatrixBlocks
from dynaclr.evaluation.pairs import pair_dot_products
from dynaclr.numerics.bootstrap import MIN_BOOTSTRAP_CLUSTERS, percentile_interval, too_few_clusters

logger = logging.getLogger(__name__)

INDEX_COLUMNS: tuple[str, str, str] = ("fov_name", "track_id", "t")
"""Columns the index table must have: track identity ``(fov_name, track_id)`` and frame ``t``."""

COSINE_DISTANCE_RANGE: tuple[float, float] = (0.0, 2.0)
"""Range of the cosine distance; the KDE grid spans it."""

_NORM_EPS = 1e-12
_BOOTSTRAP_CHUNK_CELLS = 1 << 21  # replicates x tracks evaluated at once (~16 MiB of weights)
_DISTANCE_ATOL = 1e-12
"""Cosine distances below this are rounding noise (``1 - dot`` of identical unit vectors) and set to 0."""


#: ``(N, D)`` embeddings: an array, or its rows read a block at a time (e.g. from an embeddings store,
#: :func:`dynaclr.embeddings.open_representation`); either gives the same values.
Embeddings = np.ndarray | MatrixBlocks


@dataclass(frozen=True)
class _Tracks:
    """Embedding rows grouped by track, sorted by ``(fov_name, track_id, t)``.

    Attributes:
        order: ``(N,)`` row positions into the original embedding array, in sorted order.
        track_code: ``(N,)`` integer track code of each sorted row (0..n_tracks-1).
        t: ``(N,)`` frame index of each sorted row.
        starts: ``(n_tracks,)`` position in the sorted order where each track begins.
        lengths: ``(n_tracks,)`` number of frames of each track.
        keys: DataFrame with ``fov_name, track_id`` per track code.
    """

    order: np.ndarray
    track_code: np.ndarray
    t: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    keys: pd.DataFrame


def _check_inputs(embeddings: Embeddings, index: pd.DataFrame) -> MatrixBlocks:
    """``embeddings`` as blocks of rows (an in-memory array: one block), checked against ``index``.

    Finiteness is checked as the rows are read (:func:`_finite_unit_rows`)."""
    blocks = embeddings if isinstance(embeddings, MatrixBlocks) else MatrixBlocks(embeddings)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"index is missing columns {missing}; it has {list(index.columns)}")
    if len(index) != blocks.n_rows:
        raise ValueError(
            f"index has {len(index)} rows but embeddings has {blocks.n_rows}; "
            "they must be row-aligned (one index row per embedding)"
        )
    return blocks


def _group_tracks(index: pd.DataFrame) -> _Tracks:
    if len(index) == 0:
        raise ValueError("index is empty: no embeddings to evaluate")
    frame = pd.DataFrame(
        {
            "fov_name": index["fov_name"].to_numpy(),
            "track_id": index["track_id"].to_numpy(),
            "t": index["t"].to_numpy(),
            "_row": np.arange(len(index)),
        }
    )
    if frame["t"].isna().any():
        raise ValueError("index column 't' contains missing values")
    t_values = frame["t"].to_numpy(dtype=np.float64)
    if not np.all(t_values == np.round(t_values)):
        raise ValueError("index column 't' must hold integer frame indices (not minutes)")
    frame["t"] = t_values.astype(np.int64)
    frame = frame.sort_values(["fov_name", "track_id", "t"], kind="stable", ignore_index=True)
    codes = frame.groupby(["fov_name", "track_id"], sort=False, dropna=False).ngroup().to_numpy()
    t = frame["t"].to_numpy()
    same_track = codes[1:] == codes[:-1]
    dup = same_track & (t[1:] == t[:-1])
    if dup.any():
        first = int(np.flatnonzero(dup)[0])
        row = frame.iloc[first]
        raise ValueError(
            f"index has {int(dup.sum())} duplicated (fov_name, track_id, t) rows, e.g. "
            f"fov_name={row['fov_name']!r}, track_id={row['track_id']!r}, t={row['t']}"
        )
    lengths = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    keys = frame.loc[starts, ["fov_name", "track_id"]].reset_index(drop=True)
    return _Tracks(
        order=frame["_row"].to_numpy(),
        track_code=codes,
        t=t,
        starts=starts,
        lengths=lengths,
        keys=keys,
    )


def _finite_unit_rows(block: np.ndarray) -> np.ndarray:
    """Rows of a float64 block L2-normalised in place; zero rows stay zero (their cosine distance
    to anything is 1). Raises ``ValueError`` on NaN or infinite values."""
    if not np.all(np.isfinite(block)):
        raise ValueError("embeddings contain NaN or infinite values")
    block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), _NORM_EPS)
    return block


def _cosine_distances(
    blocks: MatrixBlocks, tracks: _Tracks, pairs: list[tuple[np.ndarray, np.ndarray]]
) -> list[np.ndarray]:
    """Cosine distance of every pair of sorted positions ``(a, b)`` of each set in ``pairs``, clipped
    to [0, 2], in one pass over the embeddings (:func:`dynaclr.evaluation.pairs.pair_dot_products`).

    Values below ``_DISTANCE_ATOL`` are set to exactly 0 so that identical embeddings give 0.
    """
    first = tracks.order[np.concatenate([a for a, _ in pairs])]
    second = tracks.order[np.concatenate([b for _, b in pairs])]
    dist = np.clip(1.0 - pair_dot_products(blocks, first, second, _finite_unit_rows), *COSINE_DISTANCE_RANGE)
    dist[dist < _DISTANCE_ATOL] = 0.0
    return np.split(dist, np.cumsum([a.size for a, _ in pairs])[:-1])


def no_adjacent_pairs_reason(index: pd.DataFrame) -> str | None:
    """Why ``index`` (``fov_name, track_id, t``) has no adjacent pair, or ``None`` where it has one.

    ``one time point`` (still images), ``no track spans two frames`` (every track one detection:
    e.g. a tracker that never links) or ``no track spans two adjacent frames`` (tracks only across
    frame gaps). Smoothness, dynamic range and the distance figure compare adjacent frames: they are
    not computed where this gives a reason.
    """
    tracks = _group_tracks(index)
    if _adjacent_pairs(tracks)[0].size:
        return None
    if np.unique(tracks.t).size < 2:
        return ONE_TIME_POINT
    if int(tracks.lengths.max()) < 2:
        return "no track spans two frames"
    return "no track spans two adjacent frames"


#: What to check where a movie's cells are never followed from one frame to the next (a reason of
#: :func:`no_adjacent_pairs_reason` other than :data:`ONE_TIME_POINT`): said by every stage and page
#: that has nothing to compare or align for that reason (:func:`warn_unlinked`, the report's findings).
CHECK_LINKING = (
    "check the tracking's linking (its parameters, or the links of imported tracks) and the frame interval"
)


def counted_reason(reason: str, index: pd.DataFrame) -> str:
    """``reason`` with the counts it rests on: ``<reason> (N tracks, N cells, N frames)`` of ``index``
    (``fov_name, track_id, t``): the ``not_computed`` of the temporal metrics and the ``not_aligned``
    of the pseudo-time, the same words for the same movie."""
    n_tracks = index.groupby(["fov_name", "track_id"]).ngroups
    return f"{reason} ({n_tracks:,} tracks, {len(index):,} cells, {index['t'].nunique()} frames)"


def warn_unlinked(
    log: logging.Logger,
    what: str,
    needs: str,
    reason: str,
    *,
    model: str,
    dataset: str,
    store: Path | None = None,
) -> None:
    """The WARNING of a stage that computes nothing for a movie whose cells are never followed over
    time: ``<what> of dataset 'd' (model 'm'[, embeddings <store>]) not computed: <reason>; <needs>:``
    and :data:`CHECK_LINKING` (``needs``: what the stage compares or aligns), on the stage's logger."""
    log.warning(
        "%s of dataset %r (model %r%s) not computed: %s; %s: %s",
        what,
        dataset,
        model,
        "" if store is None else f", embeddings {store}",
        reason,
        needs,
        CHECK_LINKING,
    )


#: Why within-track random pairs tell nothing where adjacent pairs exist: every track's frames lie
#: within two consecutive frames (a movie of two frames), so each random pair of distinct frames of a
#: track is its adjacent pair, and the ``track_pairs`` smoothness is 1 and its dynamic range 0 for
#: any embedding (a shuffled one included), with an interval of zero width.
NO_TRACK_SPANS_THREE_FRAMES = (
    "no track spans three frames: every random pair within a track is an adjacent pair"
)

#: :data:`NO_TRACK_SPANS_THREE_FRAMES` where other tracks span three frames but only across frame gaps
#: (random pairs are drawn from the tracks holding adjacent frames).
NO_LINKED_TRACK_SPANS_THREE_FRAMES = (
    "no track spans three frames but across frame gaps: every random pair within a track holding "
    "adjacent frames is an adjacent pair"
)


def no_random_pairs_reason(index: pd.DataFrame) -> str | None:
    """Why ``index`` (``fov_name, track_id, t``) has no within-track random pair other than an adjacent
    pair, or ``None`` where it has one: :func:`no_adjacent_pairs_reason`'s reason, else
    :data:`NO_TRACK_SPANS_THREE_FRAMES` where no track holds two frames at least 2 apart
    (:data:`NO_LINKED_TRACK_SPANS_THREE_FRAMES` where only tracks without an adjacent pair do: the random
    pairs are drawn from the tracks holding one). The
    ``track_pairs`` metrics and the distance figure (random pairs within a track) are not computed
    where this gives a reason; the paper's definition (random pairs over all cells) still is."""
    reason = no_adjacent_pairs_reason(index)
    if reason is not None:
        return reason
    tracks = _group_tracks(index)
    ends = tracks.starts + tracks.lengths - 1
    spans = tracks.t[ends] - tracks.t[tracks.starts]
    if int(spans.max()) < 2:
        return NO_TRACK_SPANS_THREE_FRAMES
    if int(spans[_linked_tracks(tracks)].max()) < 2:
        return NO_LINKED_TRACK_SPANS_THREE_FRAMES
    return None


def _linked_tracks(tracks: _Tracks) -> np.ndarray:
    """Codes of the tracks holding an adjacent pair (frames ``t`` and ``t + 1``), ascending: those
    random pairs are drawn from and the bootstrap resamples."""
    return np.unique(_adjacent_pairs(tracks)[2])


def _gap_only(tracks: _Tracks, linked: np.ndarray) -> int:
    """How many of ``tracks`` span two frames or more but hold no adjacent pair (seen only across frame
    gaps), ``linked`` being the codes of those holding one (:func:`_linked_tracks`)."""
    return int(np.sum(tracks.lengths >= 2)) - linked.size


def count_gap_only_tracks(index: pd.DataFrame) -> int:
    """How many tracks of ``index`` (``fov_name, track_id, t``) span two frames or more but never hold
    frames ``t`` and ``t + 1`` (seen only across frame gaps: every other frame, gap closing, frames QC
    dropped). They give no adjacent distance, so the ``track_pairs`` metrics leave them out (of their
    ``n_tracks``, random pairs and bootstrap; a WARNING) where the paper's definition pairs their
    frames across the gap: the ``n_tracks_gap_only`` of ``temporal_metrics.csv``."""
    tracks = _group_tracks(index)
    return _gap_only(tracks, _linked_tracks(tracks))


def _adjacent_pairs(tracks: _Tracks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted positions ``(a, b)`` of adjacent pairs and their track codes."""
    code, t = tracks.track_code, tracks.t
    mask = (code[1:] == code[:-1]) & (t[1:] - t[:-1] == 1)
    a = np.flatnonzero(mask)
    return a, a + 1, code[a]


def _random_pairs(
    tracks: _Tracks,
    rng: np.random.Generator,
    pairs_per_track: int | None,
    n_pairs: int | None,
    eligible: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted positions ``(a, b)`` of random distinct-frame pairs within the tracks holding an adjacent
    pair (``eligible``, their codes; None: :func:`_linked_tracks`), and track codes."""
    if pairs_per_track is not None and n_pairs is not None:
        raise ValueError("give at most one of pairs_per_track and n_pairs")
    lengths = tracks.lengths
    eligible = _linked_tracks(tracks) if eligible is None else eligible
    if eligible.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    if n_pairs is not None:
        if n_pairs < 1:
            raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
        # Uniform over all unordered distinct-frame pairs: track weight L * (L - 1).
        weight = lengths[eligible] * (lengths[eligible] - 1.0)
        pair_track = rng.choice(eligible, size=n_pairs, p=weight / weight.sum())
    else:
        if pairs_per_track is None:
            per_track = lengths[eligible] - 1  # same per-track sample size as a gap-free adjacent set
        else:
            if pairs_per_track < 1:
                raise ValueError(f"pairs_per_track must be >= 1, got {pairs_per_track}")
            per_track = np.full(eligible.size, pairs_per_track)
        pair_track = np.repeat(eligible, per_track)
    length = lengths[pair_track]
    first = rng.integers(0, length)
    second = (first + rng.integers(1, length)) % length  # never equal to first
    start = tracks.starts[pair_track]
    return start + first, start + second, pair_track


def _pair_frame(tracks: _Tracks, a: np.ndarray, b: np.ndarray, dist: np.ndarray) -> pd.DataFrame:
    keys = tracks.keys.iloc[tracks.track_code[a]].reset_index(drop=True)
    return keys.assign(t_a=tracks.t[a], t_b=tracks.t[b], distance=dist)


def adjacent_distances(embeddings: Embeddings, index: pd.DataFrame) -> pd.DataFrame:
    """Cosine distances between embeddings of the same track at consecutive frames.

    Args:
        embeddings: ``(N, D)`` embeddings, row-aligned with ``index``: an array, or
            :class:`~dynaclr.embeddings.MatrixBlocks` (read a block of rows at a time, never whole).
        index: DataFrame with columns ``fov_name, track_id, t`` (``t`` in integer frames).

    Returns:
        One row per adjacent pair (frames ``t`` and ``t + 1`` of the same track; pairs across a
        gap are excluded) with columns ``fov_name, track_id, t_a, t_b, distance`` (cosine distance,
        ``[0, 2]``), sorted by track and ``t_a``.
    """
    blocks = _check_inputs(embeddings, index)
    tracks = _group_tracks(index)
    a, b, _ = _adjacent_pairs(tracks)
    (dist,) = _cosine_distances(blocks, tracks, [(a, b)])
    return _pair_frame(tracks, a, b, dist)


def random_distances(
    embeddings: Embeddings,
    index: pd.DataFrame,
    rng: np.random.Generator | int | None = None,
    pairs_per_track: int | None = None,
    n_pairs: int | None = None,
) -> pd.DataFrame:
    """Cosine distances between random pairs of distinct frames of the same track.

    Pairs are drawn with replacement; each pair's two frames are distinct. Only tracks holding an
    adjacent pair (frames ``t`` and ``t + 1``) are drawn from, the tracks :func:`adjacent_distances`
    measures: a track of a single frame, or seen only across frame gaps, is skipped.

    Args:
        embeddings: ``(N, D)`` embeddings, row-aligned with ``index``: an array, or
            :class:`~dynaclr.embeddings.MatrixBlocks` (read a block of rows at a time, never whole).
        index: DataFrame with columns ``fov_name, track_id, t``.
        rng: numpy Generator or seed.
        pairs_per_track: draw this many pairs from every track holding an adjacent pair.
        n_pairs: alternatively, draw this many pairs in total, uniformly over all distinct-frame
            pairs of all tracks (a track of ``L`` frames is picked with weight ``L * (L - 1)``).
            If neither is given, each track contributes ``L - 1`` pairs (as many as a gap-free
            track contributes adjacent pairs).

    Returns:
        One row per pair with columns ``fov_name, track_id, t_a, t_b, distance``.
    """
    blocks = _check_inputs(embeddings, index)
    tracks = _group_tracks(index)
    a, b, _ = _random_pairs(tracks, np.random.default_rng(rng), pairs_per_track, n_pairs)
    (dist,) = _cosine_distances(blocks, tracks, [(a, b)])
    return _pair_frame(tracks, a, b, dist)


def smoothness(adjacent: np.ndarray, random: np.ndarray) -> float:
    """``mean(adjacent) / mean(random)``; lower is smoother.

    Returns NaN (and logs a warning) when the random distances average to zero, i.e. the
    embeddings do not change along any track, where the ratio is undefined.
    """
    adjacent = np.asarray(adjacent, dtype=np.float64)
    random = np.asarray(random, dtype=np.float64)
    if adjacent.size == 0 or random.size == 0:
        raise ValueError(f"need adjacent and random distances, got {adjacent.size} and {random.size}")
    denominator = random.mean()
    if denominator <= 0:
        logger.warning("random-pair distances are all zero (static embeddings); smoothness is undefined")
        return float("nan")
    return float(adjacent.mean() / denominator)


def kde_grid(grid_size: int = 1001) -> np.ndarray:
    """``(grid_size,)`` evaluation grid over the cosine-distance range ``[0, 2]``."""
    if grid_size < 2:
        raise ValueError(f"grid_size must be >= 2, got {grid_size}")
    return np.linspace(*COSINE_DISTANCE_RANGE, grid_size)


def kde_peak(values: np.ndarray, grid: np.ndarray | None = None) -> float:
    """Location of the maximum of a Gaussian KDE (Scott's rule) of ``values`` on ``grid``.

    This is the exact (unbinned) estimate. If ``values`` has zero variance the KDE is degenerate
    and the common value is returned.

    Args:
        values: ``(P,)`` distances.
        grid: evaluation grid; default :func:`kde_grid`.
    """
    values = np.asarray(values, dtype=np.float64)
    grid = kde_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    if values.size == 0:
        raise ValueError("kde_peak needs at least one value")
    if values.size < 2 or np.ptp(values) == 0:
        return float(values.mean())
    return float(grid[np.argmax(gaussian_kde(values)(grid))])


def dynamic_range(adjacent: np.ndarray, random: np.ndarray, grid: np.ndarray | None = None) -> float:
    """``kde_peak(random) - kde_peak(adjacent)`` (cosine-distance units; exact, unbinned KDE)."""
    return kde_peak(random, grid) - kde_peak(adjacent, grid)


def _binned_kde_peaks(
    weights: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    sumsq: np.ndarray,
    hist: sparse.csr_array,
    grid: np.ndarray,
) -> np.ndarray:
    """KDE peak per bootstrap replicate from per-track summaries, all replicates at once.

    Replicate ``b`` weights track ``k`` by ``weights[b, k]`` (how often it was drawn). Its KDE is
    the weighted Gaussian KDE of the pair distances with the pair locations snapped to the grid
    and the bandwidth Scott's rule gives on the unbinned pairs (weighted standard deviation with
    :func:`numpy.cov`'s ``aweights`` normalisation, times ``n_eff ** (-1/5)``, ``n_eff =
    (sum w)^2 / sum w^2``), i.e. what :class:`scipy.stats.gaussian_kde` computes for those
    points, weights and bandwidth. Since data and evaluation points share the regular grid, the
    density is the weighted grid histogram convolved with the sampled Gaussian kernel; the
    convolution is done exactly (zero-padded FFT, full kernel support) for all replicates in one
    vectorised call.

    Args:
        weights: ``(B, K)`` track multiplicities.
        counts, sums, sumsq: ``(K,)`` per-track number of pairs, sum and sum of squares of distances.
        hist: ``(K, G)`` per-track histogram of pair distances on the grid.
        grid: ``(G,)`` regular grid.

    Returns:
        ``(B,)`` peak locations; NaN for a replicate without pairs, the weighted mean for a
        replicate whose distances have zero variance.
    """
    w1 = weights @ counts  # sum of pair weights
    wx = weights @ sums
    wxx = weights @ sumsq
    w2 = (weights**2) @ counts  # sum of squared pair weights
    binned = np.asarray((sparse.csr_array(weights) @ hist).todense())  # (B, G)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = wx / w1
        unbiased = w1 - w2 / w1
        variance = np.where(unbiased > 0, np.maximum(wxx - w1 * mean**2, 0.0) / unbiased, 0.0)
        bandwidth = np.sqrt(variance) * (w1**2 / w2) ** (-1.0 / 5.0)
    peaks = np.where(w1 > 0, mean, np.nan)
    spread = (w1 > 0) & (variance > 1e-18) & (np.count_nonzero(binned, axis=1) >= 2)
    if spread.any():
        size = grid.size
        step = grid[1] - grid[0]
        lags = np.arange(-(size - 1), size) * step  # (2G - 1,) kernel support: every grid offset
        kernel = np.exp(-0.5 * (lags[None, :] / bandwidth[spread, None]) ** 2)
        n_fft = 1 << int(np.ceil(np.log2(3 * size - 2)))
        density = np.fft.irfft(
            np.fft.rfft(binned[spread], n_fft, axis=1) * np.fft.rfft(kernel, n_fft, axis=1), n_fft, axis=1
        )[:, size - 1 : 2 * size - 1]  # linear-convolution values at the G grid points
        peaks[spread] = grid[np.argmax(density, axis=1)]
    return peaks


def _track_summaries(
    dist: np.ndarray, track: np.ndarray, n_tracks: int, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, sparse.csr_array]:
    counts = np.bincount(track, minlength=n_tracks).astype(np.float64)
    sums = np.bincount(track, weights=dist, minlength=n_tracks)
    sumsq = np.bincount(track, weights=dist**2, minlength=n_tracks)
    step = grid[1] - grid[0]
    bins = np.clip(np.rint((dist - grid[0]) / step).astype(np.int64), 0, grid.size - 1)
    hist = sparse.csr_array(
        (np.ones(dist.size), (track, bins)), shape=(n_tracks, grid.size), dtype=np.float64
    )
    hist.sum_duplicates()
    return counts, sums, sumsq, hist


def temporal_metrics(
    embeddings: Embeddings,
    index: pd.DataFrame,
    n_bootstrap: int = 200,
    seed: int | None = 0,
    confidence: float = 0.95,
    pairs_per_track: int | None = None,
    n_random_pairs: int | None = None,
    grid_size: int = 1001,
) -> dict[str, Any]:
    """Smoothness and dynamic range of embedding trajectories, with track-bootstrap CIs.

    The point estimates and every bootstrap replicate use the same KDE: the Gaussian KDE of the
    pair distances with Scott's bandwidth, pair locations snapped to the evaluation grid (spacing
    ``2 / (grid_size - 1)``, i.e. 0.002 by default), which is also the resolution of the peak.
    :func:`dynamic_range` gives the unbinned estimate; the two agree to about one grid step.

    Args:
        embeddings: ``(N, D)`` embeddings, row-aligned with ``index``: an array, or
            :class:`~dynaclr.embeddings.MatrixBlocks` (read a block of rows at a time, never whole).
        index: DataFrame with columns ``fov_name, track_id, t`` (``t`` in integer frames).
        n_bootstrap: number of bootstrap replicates (0 disables the CIs, which are then NaN; so are
            they with fewer than :data:`~dynaclr.numerics.bootstrap.MIN_BOOTSTRAP_CLUSTERS` tracks
            holding adjacent frames, a WARNING).
        seed: seed of the generator used for the random pairs and the bootstrap; the result is
            deterministic for a given seed.
        confidence: central coverage of the percentile bootstrap interval.
        pairs_per_track, n_random_pairs: how random pairs are drawn, see :func:`random_distances`.
        grid_size: number of KDE grid points over ``[0, 2]``.

    Returns:
        Dict with ``smoothness``, ``smoothness_ci_low``, ``smoothness_ci_high``,
        ``dynamic_range``, ``dynamic_range_ci_low``, ``dynamic_range_ci_high`` (cosine-distance
        units), ``mean_adjacent``, ``mean_random``, ``n_tracks`` (tracks holding an adjacent pair, the
        bootstrap units and the tracks random pairs are drawn from), ``n_pairs`` (adjacent pairs),
        ``n_random_pairs``, ``n_bootstrap`` and ``confidence``.

    Raises:
        ValueError: if no track has two consecutive frames.
    """
    result, _ = temporal_metrics_with_replicates(
        embeddings, index, n_bootstrap, seed, confidence, pairs_per_track, n_random_pairs, grid_size
    )
    return result


def temporal_metrics_with_replicates(
    embeddings: Embeddings,
    index: pd.DataFrame,
    n_bootstrap: int = 200,
    seed: int | None = 0,
    confidence: float = 0.95,
    pairs_per_track: int | None = None,
    n_random_pairs: int | None = None,
    grid_size: int = 1001,
) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`temporal_metrics` and its smoothness replicates ``(1 + n_bootstrap,)``.

    Element 0 is the point estimate, the others the bootstrap replicates (all NaN with fewer than
    :data:`~dynaclr.numerics.bootstrap.MIN_BOOTSTRAP_CLUSTERS` tracks holding adjacent frames: no
    interval, nor a paired one). The random pairs and the resampled tracks depend only on ``index``
    and ``seed``, never on the embeddings: two embeddings of the same cells with the same seed get the
    same replicates' tracks, so their replicate-wise differences form a *paired* bootstrap
    (:func:`paired_smoothness_difference`).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    blocks = _check_inputs(embeddings, index)
    tracks = _group_tracks(index)
    adj_a, adj_b, adj_track = _adjacent_pairs(tracks)
    if adj_a.size == 0:
        lengths = tracks.lengths
        raise ValueError(
            "no adjacent pairs (frames t and t+1 of the same track) found: "
            f"{blocks.n_rows} embeddings in {lengths.size} tracks, "
            f"{int(np.sum(lengths == 1))} of them with a single frame, longest track "
            f"{int(lengths.max()) if lengths.size else 0} frames"
        )
    # Bootstrap units: tracks holding an adjacent pair (those random pairs are drawn from), re-coded 0..K-1.
    units = np.unique(adj_track)
    gap_only = _gap_only(tracks, units)
    if gap_only:
        logger.warning(
            "%d of %d tracks of two frames or more hold no adjacent frames (seen only across frame gaps): "
            "left out of the track-pair smoothness (its random pairs and bootstrap; n_tracks counts %d)",
            gap_only,
            gap_only + units.size,
            units.size,
        )
    rng = np.random.default_rng(seed)
    rnd_a, rnd_b, rnd_track = _random_pairs(tracks, rng, pairs_per_track, n_random_pairs, units)
    adj, rnd = _cosine_distances(blocks, tracks, [(adj_a, adj_b), (rnd_a, rnd_b)])

    recode = np.full(tracks.lengths.size, -1)
    recode[units] = np.arange(units.size)
    grid = kde_grid(grid_size)
    adj_summary = _track_summaries(adj, recode[adj_track], units.size, grid)
    rnd_summary = _track_summaries(rnd, recode[rnd_track], units.size, grid)

    # Replicate 0 is the point estimate (every track once); 1.. are bootstrap resamples, drawn and
    # evaluated in chunks of replicates so that the (chunk, n_tracks) weight matrix stays small.
    n_units = units.size
    chunk = max(1, _BOOTSTRAP_CHUNK_CELLS // n_units)
    smooth_parts, drange_parts, mean_adj, mean_rnd = [], [], np.nan, np.nan
    for first in range(0, n_bootstrap + 1, chunk):
        n_rows = min(chunk, n_bootstrap + 1 - first)
        n_boot_rows = n_rows - 1 if first == 0 else n_rows
        draws = rng.integers(0, n_units, size=(n_boot_rows, n_units))
        flat = (np.arange(n_boot_rows)[:, None] * n_units + draws).ravel()
        weights = np.bincount(flat, minlength=n_boot_rows * n_units).reshape(n_boot_rows, n_units)
        weights = weights.astype(np.float64)
        if first == 0:
            weights = np.vstack([np.ones((1, n_units)), weights])
        with np.errstate(invalid="ignore", divide="ignore"):
            adj_mean = (weights @ adj_summary[1]) / (weights @ adj_summary[0])
            rnd_mean = (weights @ rnd_summary[1]) / (weights @ rnd_summary[0])
            smooth_parts.append(np.where(rnd_mean > 0, adj_mean / rnd_mean, np.nan))
        drange_parts.append(
            _binned_kde_peaks(weights, *rnd_summary, grid) - _binned_kde_peaks(weights, *adj_summary, grid)
        )
        if first == 0:
            mean_adj, mean_rnd = adj_mean[0], rnd_mean[0]
    smooth = np.concatenate(smooth_parts)
    drange = np.concatenate(drange_parts)
    if too_few_clusters(n_units, n_bootstrap):
        # every resample redrew the one track: replicates equal to the point estimate are no interval
        # (and two embeddings' paired difference would "exclude 0" whatever its size)
        smooth[1:], drange[1:] = np.nan, np.nan
        logger.warning(
            "temporal metrics (%d embeddings): no confidence interval: %d track holds adjacent frames; a "
            "bootstrap over tracks needs %d at least (every resample redraws that track's pairs, so it "
            "cannot show the uncertainty)",
            blocks.n_rows,
            n_units,
            MIN_BOOTSTRAP_CLUSTERS,
        )
    if not mean_rnd > 0:
        logger.warning("random-pair distances are all zero (static embeddings); smoothness is undefined")

    s_low, s_high = percentile_interval(smooth[1:], confidence)
    d_low, d_high = percentile_interval(drange[1:], confidence)
    result = {
        "smoothness": float(smooth[0]),
        "smoothness_ci_low": s_low,
        "smoothness_ci_high": s_high,
        "dynamic_range": float(drange[0]),
        "dynamic_range_ci_low": d_low,
        "dynamic_range_ci_high": d_high,
        "mean_adjacent": float(mean_adj),
        "mean_random": float(mean_rnd),
        "n_tracks": int(units.size),
        "n_pairs": int(adj.size),
        "n_random_pairs": int(rnd.size),
        "n_bootstrap": int(n_bootstrap),
        "confidence": float(confidence),
    }
    logger.debug("temporal metrics: %s", result)
    return result, smooth


def paired_smoothness_difference(
    replicates_a: np.ndarray, replicates_b: np.ndarray, confidence: float = 0.95
) -> dict[str, float]:
    """Smoothness of ``a`` minus that of ``b`` over the same tracks, with a paired bootstrap CI.

    Args:
        replicates_a, replicates_b: smoothness replicates from
            :func:`temporal_metrics_with_replicates` of two embeddings of the *same* index with
            the same seed (element 0 the point estimate).
        confidence: central coverage of the interval.

    Returns:
        ``difference`` (negative: ``a`` is smoother), ``difference_ci_low``,
        ``difference_ci_high`` and ``share_a_smoother``, the share of bootstrap replicates in
        which ``a`` is smoother than ``b`` (a one-sided bootstrap support, not a p-value); the last
        three NaN where no replicate is finite (``n_bootstrap`` 0, or a single track holding adjacent frames).
    """
    a = np.asarray(replicates_a, dtype=np.float64)
    b = np.asarray(replicates_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"replicates must be two 1-D arrays of one length, got {a.shape} and {b.shape}")
    diff = a - b
    boot = diff[1:][np.isfinite(diff[1:])]
    low, high = percentile_interval(boot, confidence)
    share = float(np.mean(boot < 0)) if boot.size else float("nan")
    return {
        "difference": float(diff[0]),
        "difference_ci_low": float(low),
        "difference_ci_high": float(high),
        "share_a_smoother": share,
    }
