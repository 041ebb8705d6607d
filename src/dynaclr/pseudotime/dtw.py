"""DTW alignment of embedding trajectories to a reference trajectory (paper section 4.5, appendix D).

A *reference* is an ``(M, D)`` embedding trajectory of a process (e.g. one annotated infected
cell), a *query* an ``(N, D)`` trajectory of another cell, usually longer (``N >= M``). Both are
indexed by frame. Alignment finds the window ``query[start:end]`` that best matches the whole
reference under dynamic time warping (DTW) and the warping path between them, from which each
matched query frame gets a *pseudo-time*: the reference time it corresponds to.

Two procedures are provided:

* :func:`subsequence_alignment` (the one to use): subsequence DTW with dtaidistance
  (:func:`dtaidistance.subsequence.dtw.subsequence_alignment`). The start of the match in the
  query is free, so a *single* ``(M + 1) x (N + 1)`` dynamic-programming pass scores every
  possible end point, and the best window and path are read back from it.
* :func:`sliding_window_alignment` (the paper's reference procedure, kept for comparison): full
  DTW between the reference and every query window of length ``M`` (optionally ``M +- k``),
  keeping the best. It costs ``O(M^2 (N - M + 1))`` per query instead of ``O(M N)``.

Distance. dtaidistance's multivariate ("dependent") DTW uses the squared Euclidean distance
``||r_i - q_j||^2`` as the step cost, accumulates it along the path together with a ``penalty**2``
for every non-diagonal step, and reports the square root of the total as the DTW distance. With
``normalize=True`` (default) every frame is first scaled to unit L2 norm, so the step cost is
``2 * (1 - cos(r_i, q_j))``, twice the cosine distance, in ``[0, 4]``; this matches the cosine
geometry of contrastive embeddings. Both procedures select the window by that DTW distance (the
same objective; subsequence DTW searches all window lengths, the sliding window only the lengths
it is given). The reported ``cost`` is recomputed from the chosen path without penalties:
``sum over the path of ||r_i - q_j||^2``; ``normalized_cost = cost / len(path)`` is the mean step
cost, comparable across references and queries of different lengths.

Indices are frames. ``start`` is inclusive, ``end`` exclusive (``query[start:end]`` is the
match). Pseudo-time is in the units of the ``reference_times`` given (frames by default, or e.g.
minutes after infection).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from dtaidistance import dtw as dtai_dtw, dtw_ndim
from dtaidistance.subsequence.dtw import subsequence_alignment as dtai_subsequence_alignment
from scipy.interpolate import make_interp_spline
from tqdm import tqdm

logger = logging.getLogger(__name__)

_NORM_EPS = 1e-12


def c_backend_available() -> bool:
    """Whether dtaidistance's compiled C library (``dtaidistance.dtw_cc``) is importable."""
    return getattr(dtai_dtw, "dtw_cc", None) is not None


def _resolve_use_c(use_c: bool | None) -> bool:
    """``None``: C if available, else the (much slower) Python path with a warning.

    ``True``: require C and raise if it is missing. ``False``: force Python.
    """
    available = c_backend_available()
    if use_c is None:
        if not available:
            logger.warning(
                "dtaidistance C library not available; using the pure-Python DTW (orders of magnitude "
                "slower). Reinstall dtaidistance with its compiled extension to fix."
            )
        return available
    if use_c and not available:
        raise RuntimeError(
            "use_c=True but dtaidistance's compiled C library (dtaidistance.dtw_cc) is not importable; "
            "reinstall dtaidistance with its C extension, or pass use_c=None/False for the Python path"
        )
    return bool(use_c)


@dataclass(frozen=True)
class Alignment:
    """Best match of a reference ``(M, D)`` inside a query ``(N, D)``.

    Attributes:
        start: first query frame of the match (inclusive).
        end: one past the last query frame of the match (exclusive); ``query[start:end]``.
        cost: ``sum over the path of ||r_i - q_j||^2`` (step costs after the optional
            normalisation, penalties excluded).
        normalized_cost: ``cost / len(path)``, the mean step cost. For unit-normalised
            embeddings it is twice the mean cosine distance between matched frames.
        path: ``(P, 2)`` int array of ``(reference_index, query_index)`` pairs, monotone in both,
            from ``(0, start)`` to ``(M - 1, end - 1)``; query indices are absolute frames.
        skew: deviation of the path from the window's diagonal, see :func:`path_skew`;
            0 means a linear time mapping, at most 1.
        dtw_distance: dtaidistance DTW distance of the match (square root of accumulated step
            costs plus ``penalty**2`` per non-diagonal step), the objective used to pick it.
        method: ``"subsequence"`` or ``"sliding"``.
    """

    start: int
    end: int
    cost: float
    normalized_cost: float
    path: np.ndarray
    skew: float
    dtw_distance: float
    method: str

    @property
    def length(self) -> int:
        """Number of query frames in the match."""
        return self.end - self.start


def _prepare(series: np.ndarray, normalize: bool, name: str) -> np.ndarray:
    """float64, C-contiguous ``(T, D)`` copy, optionally with unit-L2-norm rows."""
    arr = np.asarray(series, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (T, D) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if normalize:
        norms = np.sqrt(np.einsum("ij,ij->i", arr, arr))
        arr = arr / np.maximum(norms, _NORM_EPS)[:, None]
    return np.ascontiguousarray(arr)


def _check_dims(reference: np.ndarray, query: np.ndarray) -> None:
    if reference.shape[1] != query.shape[1]:
        raise ValueError(
            f"reference has {reference.shape[1]} features per frame but query has {query.shape[1]}"
        )


def _backtrack(acc: np.ndarray, end_col: int, step_penalty: float) -> np.ndarray:
    """Optimal path ending at ``acc[-1, end_col]`` of an accumulated-cost matrix.

    ``acc`` is the ``(M + 1, C + 1)`` matrix in dtaidistance's internal representation (sums of
    squared step costs, row/column 0 the boundary). At each step the predecessor with the lowest
    ``acc[i-1, j-1]``, ``acc[i-1, j] + p``, ``acc[i, j-1] + p`` is taken (ties in that order, as
    ``dtaidistance.dtw.best_path``). Stops on reaching row or column 0.

    Returns:
        ``(P, 2)`` array of ``(row, col)`` indices into the two series (0-based).
    """
    i, j = acc.shape[0] - 1, end_col
    table = memoryview(np.ascontiguousarray(acc, dtype=np.float64))  # fast scalar access
    rows, cols = [i - 1], [j - 1]
    while i > 0 and j > 0:
        diag = table[i - 1, j - 1]
        up = table[i - 1, j] + step_penalty
        left = table[i, j - 1] + step_penalty
        if diag <= up and diag <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
        if i == 0 or j == 0:
            break
        rows.append(i - 1)
        cols.append(j - 1)
    path = np.empty((len(rows), 2), dtype=np.int64)
    path[:, 0] = rows[::-1]
    path[:, 1] = cols[::-1]
    return path


def path_skew(path: np.ndarray, n_reference: int, start: int, end: int) -> float:
    """Mean distance of a warping path from the diagonal of its window, in ``[0, 1]``.

    ``mean over (i, j) in path of |i / (M - 1) - (j - start) / (end - 1 - start)|``: both
    indices are rescaled to ``[0, 1]`` over the reference and the matched window, so a path that
    maps reference time linearly onto the window (any constant speed) has skew 0, and one that
    spends its time far from that line (e.g. a stall then a jump) approaches 1. A single-frame
    reference or window contributes position 0.

    Args:
        path: ``(P, 2)`` ``(reference_index, query_index)`` pairs, query indices absolute.
        n_reference: reference length ``M`` (frames).
        start, end: matched window, ``end`` exclusive.
    """
    path = np.asarray(path)
    ref_scale = 1.0 / (n_reference - 1) if n_reference > 1 else 0.0
    span = end - 1 - start
    query_scale = 1.0 / span if span > 0 else 0.0
    deviation = path[:, 0] * ref_scale - (path[:, 1] - start) * query_scale
    return float(np.abs(deviation).mean())


def _finish(
    reference: np.ndarray, query: np.ndarray, path: np.ndarray, dtw_distance: float, method: str
) -> Alignment:
    start, end = int(path[0, 1]), int(path[-1, 1]) + 1
    diff = reference[path[:, 0]] - query[path[:, 1]]
    cost = float(np.vdot(diff, diff))
    return Alignment(
        start=start,
        end=end,
        cost=cost,
        normalized_cost=cost / len(path),
        path=path,
        skew=path_skew(path, reference.shape[0], start, end),
        dtw_distance=float(dtw_distance),
        method=method,
    )


def subsequence_alignment(
    reference: np.ndarray,
    query: np.ndarray,
    penalty: float = 0.1,
    normalize: bool = True,
    min_length: int = 2,
    max_length: int | None = None,
    use_c: bool | None = None,
) -> Alignment:
    """Best-matching window of ``query`` for the whole ``reference``, by subsequence DTW.

    One dynamic-programming pass over the ``(M + 1) x (N + 1)`` accumulated-cost matrix
    (dtaidistance, C backend when available) with a free start in the query gives, for every
    query end frame, the cost of the best match ending there; the lowest-cost end whose window
    length is within ``[min_length, max_length]`` wins and its path is traced back.

    Args:
        reference: ``(M, D)`` reference trajectory (frames).
        query: ``(N, D)`` query trajectory (frames), typically ``N >= M``.
        penalty: dtaidistance penalty for a non-diagonal step (``penalty**2`` is added to the
            accumulated squared cost); discourages stalls and jumps.
        normalize: scale every frame to unit L2 norm first (step cost = 2 x cosine distance).
        min_length, max_length: allowed window length in query frames (``max_length=None``:
            no limit).
        use_c: ``None`` C if available (warn and use Python otherwise), ``True`` require C,
            ``False`` pure Python.

    Returns:
        :class:`Alignment` with ``method="subsequence"``.

    Raises:
        ValueError: on malformed inputs or if no window satisfies the length limits.
    """
    ref = _prepare(reference, normalize, "reference")
    qry = _prepare(query, normalize, "query")
    _check_dims(ref, qry)
    if min_length < 1:
        raise ValueError(f"min_length must be >= 1, got {min_length}")
    if max_length is not None and max_length < min_length:
        raise ValueError(f"max_length ({max_length}) < min_length ({min_length})")
    if qry.shape[0] < min_length:
        raise ValueError(f"query has {qry.shape[0]} frames, fewer than min_length={min_length}")
    c = _resolve_use_c(use_c)
    sa = dtai_subsequence_alignment(ref, qry, penalty=penalty, use_c=c)
    acc = sa.warping_paths()  # (M + 1, N + 1), internal representation (squared sums)
    matching = sa.matching_function()  # (N,) sqrt(acc[-1, 1:]) / M, lower is better
    step_penalty = sa.settings.adj_penalty
    for end_frame in np.argsort(matching, kind="stable"):
        if not np.isfinite(matching[end_frame]):
            break
        path = _backtrack(acc, int(end_frame) + 1, step_penalty)
        length = int(end_frame) + 1 - int(path[0, 1])
        if length < min_length or (max_length is not None and length > max_length):
            continue
        return _finish(ref, qry, path, matching[end_frame] * ref.shape[0], "subsequence")
    raise ValueError(
        f"no subsequence match of length in [{min_length}, {max_length}] frames "
        f"(reference {ref.shape[0]} frames, query {qry.shape[0]} frames)"
    )


def sliding_window_alignment(
    reference: np.ndarray,
    query: np.ndarray,
    penalty: float = 0.1,
    normalize: bool = True,
    length_tolerance: int = 0,
    use_c: bool | None = None,
) -> Alignment:
    """Best-matching window by full DTW against every window (the paper's reference procedure).

    For every window length ``L`` in ``M - length_tolerance .. M + length_tolerance`` (clipped to
    ``[1, N]``) and every offset ``o`` in ``0 .. N - L``, compute the full DTW distance
    (``dtaidistance.dtw_ndim.distance``) between ``reference`` and ``query[o:o + L]``; keep the
    lowest. Ties go to the length closest to ``M`` (shorter first), then to the earliest offset.
    The warping path of the winner is then computed once.

    Args:
        reference: ``(M, D)`` reference trajectory (frames).
        query: ``(N, D)`` query trajectory (frames), ``N >= M - length_tolerance``.
        penalty, normalize, use_c: as in :func:`subsequence_alignment`.
        length_tolerance: also try windows up to this many frames shorter or longer than ``M``.

    Returns:
        :class:`Alignment` with ``method="sliding"``.
    """
    ref = _prepare(reference, normalize, "reference")
    qry = _prepare(query, normalize, "query")
    _check_dims(ref, qry)
    if length_tolerance < 0:
        raise ValueError(f"length_tolerance must be >= 0, got {length_tolerance}")
    m, n = ref.shape[0], qry.shape[0]
    lengths = sorted(
        {length for length in range(m - length_tolerance, m + length_tolerance + 1) if 1 <= length <= n},
        key=lambda length: (abs(length - m), length),
    )
    if not lengths:
        raise ValueError(
            f"query has {n} frames, shorter than every window length "
            f"({m} +- {length_tolerance}) for a reference of {m} frames"
        )
    c = _resolve_use_c(use_c)
    best = (np.inf, -1, -1)
    for length in lengths:
        for offset in range(n - length + 1):
            d = dtw_ndim.distance(ref, qry[offset : offset + length], penalty=penalty, use_c=c)
            if d < best[0]:
                best = (d, offset, length)
    d, offset, length = best
    if offset < 0:
        raise ValueError("no finite DTW distance for any window")
    _, acc = dtw_ndim.warping_paths(
        ref, qry[offset : offset + length], penalty=penalty, psi_neg=False, keep_int_repr=True, use_c=c
    )
    step_penalty = penalty**2 if penalty else 0.0
    path = _backtrack(acc, length, step_penalty)
    path[:, 1] += offset
    return _finish(ref, qry, path, d, "sliding")


def fill_frame_gaps(
    series: np.ndarray, t: np.ndarray | Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A trajectory observed at frames ``t`` put on its regular frame grid ``t[0] .. t[-1]``.

    DTW steps from one sample to the next, so a series that skips frames (a cell missed by the
    tracker, a frame dropped by QC) would be warped as if its samples followed one another, a gap of
    ``g`` frames counted as one step. Each missing frame is filled by linear interpolation between
    the observed frames on either side of its gap (:func:`scipy.interpolate.make_interp_spline` of
    degree 1, every feature at once).

    Args:
        series: ``(T, D)`` (or ``(T,)``) values at the observed frames.
        t: ``(T,)`` integer frames, strictly increasing.

    Returns:
        ``(values, frames, observed)``: ``(F, D)`` values on the grid (``F = t[-1] - t[0] + 1``), the
        ``(F,)`` frames and an ``(F,)`` bool mask, true where the frame was observed (its values are
        the series' own, unchanged). Where no frame is missing ``values`` is ``series`` itself (2-D),
        not a copy.
    """
    values = np.asarray(series)
    if values.ndim == 1:
        values = values[:, None]
    frames = np.asarray(t)
    if frames.shape != (values.shape[0],) or frames.size == 0:
        raise ValueError(f"t has shape {frames.shape}, expected ({values.shape[0]},) with at least one frame")
    if not np.issubdtype(frames.dtype, np.integer):
        raise ValueError(f"t must hold integer frames, found dtype {frames.dtype}")
    if np.any(np.diff(frames) <= 0):
        raise ValueError("t must be strictly increasing")
    grid = np.arange(int(frames[0]), int(frames[-1]) + 1)
    observed = np.zeros(grid.size, dtype=bool)
    observed[frames - frames[0]] = True
    if observed.all():
        return values, grid, observed
    # float64, only where a frame is missing: every feature at once
    filled = make_interp_spline(frames, values.astype(np.float64), k=1, axis=0)(grid)
    filled[observed] = values  # the observed frames exactly, not re-interpolated
    return filled, grid, observed


def pseudotime_from_path(
    path: np.ndarray, reference_times: np.ndarray | Sequence[float], n_query: int
) -> np.ndarray:
    """Pseudo-time of every query frame from a warping path.

    A matched query frame gets the mean reference time of the reference frames the path pairs
    it with (several when the path stalls on the query). Because the path is monotone, the
    pseudo-time is non-decreasing along the match whenever ``reference_times`` is. Frames outside
    the matched window get NaN.

    Args:
        path: ``(P, 2)`` ``(reference_index, query_index)`` pairs, query indices absolute.
        reference_times: ``(M,)`` time of each reference frame (frames, minutes, ... ; the output
            has the same unit).
        n_query: number of query frames ``N``.

    Returns:
        ``(N,)`` float array.
    """
    path = np.asarray(path, dtype=np.int64)
    times = np.asarray(reference_times, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0:
        raise ValueError(f"path must be a non-empty (P, 2) array, got shape {path.shape}")
    if times.ndim != 1:
        raise ValueError(f"reference_times must be 1-D, got shape {times.shape}")
    if path[:, 0].max() >= times.size or path[:, 0].min() < 0:
        raise ValueError(
            f"path refers to reference frame {int(path[:, 0].max())} but reference_times has {times.size}"
        )
    if path[:, 1].max() >= n_query or path[:, 1].min() < 0:
        raise ValueError(f"path refers to query frame {int(path[:, 1].max())} but n_query={n_query}")
    totals = np.bincount(path[:, 1], weights=times[path[:, 0]], minlength=n_query)
    counts = np.bincount(path[:, 1], minlength=n_query)
    out = np.full(n_query, np.nan)
    matched = counts > 0
    out[matched] = totals[matched] / counts[matched]
    return out


def align_tracks(
    reference: np.ndarray,
    queries: Mapping[Hashable, np.ndarray],
    reference_times: np.ndarray | Sequence[float] | None = None,
    query_times: Mapping[Hashable, np.ndarray | Sequence[float]] | None = None,
    method: Literal["subsequence", "sliding"] = "subsequence",
    key_names: Sequence[str] | None = None,
    show_progress: bool = True,
    **kwargs: object,
) -> pd.DataFrame:
    """Align many query tracks to one reference; one output row per query frame.

    Args:
        reference: ``(M, D)`` reference trajectory.
        queries: ``{key: (N_k, D) array}``; a key is a scalar or a tuple such as
            ``(fov_name, track_id)``.
        reference_times: ``(M,)`` time of each reference frame (default ``0 .. M-1`` frames);
            sets the unit of ``pseudotime``.
        query_times: optional ``{key: (N_k,)}`` frame index (or time) of each query frame for the
            ``t`` column; default ``0 .. N_k - 1``.
        method: ``"subsequence"`` (:func:`subsequence_alignment`) or ``"sliding"``
            (:func:`sliding_window_alignment`).
        key_names: column names for the key parts; default ``("fov_name", "track_id")`` for
            2-tuples, ``key_0, key_1, ...`` for other tuples, ``"key"`` for scalars.
        show_progress: show a tqdm progress bar.
        **kwargs: passed to the alignment function (``penalty``, ``normalize``, ``use_c``, ...).

    Returns:
        DataFrame with the key columns, ``t``, ``frame`` (0-based position in the query),
        ``pseudotime`` (NaN outside the match), ``in_match``, ``match_start``, ``match_end``
        (frames, end exclusive), ``normalized_cost``, ``cost``, ``skew`` (the last three are per
        query, repeated on its rows).
    """
    aligners: dict[str, Callable[..., Alignment]] = {
        "subsequence": subsequence_alignment,
        "sliding": sliding_window_alignment,
    }
    align = aligners.get(method)
    if align is None:
        raise ValueError(f"method must be 'subsequence' or 'sliding', got {method!r}")
    m = np.asarray(reference).shape[0]
    ref_times = np.arange(m, dtype=np.float64) if reference_times is None else np.asarray(reference_times)
    if ref_times.shape != (m,):
        raise ValueError(f"reference_times has shape {ref_times.shape}, expected ({m},)")
    keys = list(queries)
    if key_names is None:
        first = keys[0] if keys else None
        if isinstance(first, tuple):
            key_names = (
                ("fov_name", "track_id") if len(first) == 2 else [f"key_{i}" for i in range(len(first))]
            )
        else:
            key_names = ("key",)
    key_names = list(key_names)

    frames: list[pd.DataFrame] = []
    for key in tqdm(keys, desc=f"DTW ({method})", disable=not show_progress):
        series = np.asarray(queries[key])
        n = series.shape[0]
        try:
            result = align(reference, series, **kwargs)
        except ValueError as err:
            raise ValueError(f"alignment of query {key!r} failed: {err}") from err
        parts = key if isinstance(key, tuple) else (key,)
        if len(parts) != len(key_names):
            raise ValueError(f"key {key!r} does not match key_names {key_names}")
        t = np.arange(n) if query_times is None else np.asarray(query_times[key])
        if t.shape != (n,):
            raise ValueError(f"query_times[{key!r}] has shape {t.shape}, expected ({n},)")
        frame_idx = np.arange(n)
        columns: dict[str, Any] = {name: [part] * n for name, part in zip(key_names, parts, strict=True)}
        columns.update(
            t=t,
            frame=frame_idx,
            pseudotime=pseudotime_from_path(result.path, ref_times, n),
            in_match=(frame_idx >= result.start) & (frame_idx < result.end),
            match_start=result.start,
            match_end=result.end,
            normalized_cost=result.normalized_cost,
            cost=result.cost,
            skew=result.skew,
        )
        frames.append(pd.DataFrame(columns))
    if not frames:
        names = [*key_names, "t", "frame", "pseudotime", "in_match", "match_start", "match_end"]
        return pd.DataFrame(columns=[*names, "normalized_cost", "cost", "skew"])
    return pd.concat(frames, ignore_index=True)
