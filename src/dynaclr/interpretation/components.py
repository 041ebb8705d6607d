"""Principal components of embeddings, their Spearman correlation with engineered features, and
the cells drawn along them (paper Fig. 3d, 5b, appendix F)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from dynaclr.embeddings import kept_components
from dynaclr.numerics.bootstrap import MIN_BOOTSTRAP_CLUSTERS, BootstrapInterval, bootstrap_interval

#: The config key of the number of principal components read against the features (logged where capped).
N_COMPONENTS_KEY = "analysis.interpretation.n_components"

#: Replicates of the bootstrap over tracks that gives each rho its interval (the default of
#: ``analysis.interpretation.n_bootstrap``).
N_BOOTSTRAP = 1000

#: Level of that interval (the default of ``analysis.interpretation.confidence``).
CONFIDENCE = 0.95

#: Seed of the bootstrap's draws of tracks (the same table on every run). Each set of features
#: sharing their finite rows draws from its own generator of this seed, so that a feature's interval
#: does not depend on which other features the table holds.
BOOTSTRAP_SEED = 0

#: Most ``replicates x observations x (components + 3)`` held at a time (8 bytes each).
_BLOCK_ELEMENTS = 4_000_000

#: Why a rho has no interval where rho itself is undefined.
UNDEFINED_RHO = "rho undefined: a constant component or feature, or fewer than 3 observations"

#: Columns of the correlation table (one row per principal component and feature). ``rho`` is the
#: paper's: Spearman's over every cell observation (a track at each frame); its interval is from a
#: bootstrap over tracks (a track's observations are not independent: the same cells seen at more
#: frames give no more evidence). Tables written before the interval named ``n_observations``
#: ``n_cells`` and carried ``p_value``, Spearman's p-value counting each observation as an independent
#: cell (overstated on any time-lapse); nothing in the workflow reads those columns.
CORRELATION_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "pc",
    "explained_variance_ratio",
    "feature",
    "rho",
    "rho_ci_low",
    "rho_ci_high",
    "rho_ci_missing",
    "n_observations",
    "n_tracks",
    "n_bootstrap",
    "confidence",
)


def principal_components(
    matrix: np.ndarray, n_components: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """PCA scores ``(N, K)`` of ``matrix`` ``(N, D)`` and each component's explained variance ratio
    ``(K,)``; ``K = min(n_components, N, D)`` (fewer than asked logged at WARNING), the solver seeded
    by ``seed``.

    scikit-learn's ``PCA`` of a matrix in memory. Rule ``interpret_embeddings`` never holds its
    matrix: it takes the exact PCA over blocks of rows
    (:func:`dynaclr.interpretation.stage.store_principal_components`), equal to this to rounding
    where scikit-learn's solver is exact, the components this approximates where it is randomized."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n_kept = kept_components(n_components, matrix.shape, N_COMPONENTS_KEY)
    pca = PCA(n_components=n_kept, random_state=seed)
    return pca.fit_transform(matrix), np.asarray(pca.explained_variance_ratio_)


def rho_excludes_zero(table: pd.DataFrame) -> pd.Series:
    """Rows of a correlation table whose interval over tracks excludes 0 (False where withheld)."""
    low = table["rho_ci_low"].to_numpy(dtype=np.float64)
    high = table["rho_ci_high"].to_numpy(dtype=np.float64)
    return pd.Series((low > 0) | (high < 0), index=table.index)


#: A variable's sort order, where each run of equal values (a tie) starts in it (None: no tie),
#: and each observation's place in that order.
RankPlan = tuple[np.ndarray, np.ndarray | None, np.ndarray]


def _rank_plan(values: np.ndarray) -> RankPlan:
    """The :data:`RankPlan` of ``values``."""
    index = np.int32 if len(values) < np.iinfo(np.int32).max else np.int64
    order = np.argsort(values, kind="stable").astype(index)
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]).astype(index)
    place = np.empty_like(order)
    place[order] = np.arange(len(order), dtype=index)
    return order, (None if len(starts) == len(values) else starts), place


def _weighted_midranks(
    weights: np.ndarray, order: np.ndarray, starts: np.ndarray | None, place: np.ndarray
) -> np.ndarray:
    """``(B, M)`` the rank each observation has in each resample, ``weights`` ``(B, M)`` its copies
    there: the ranks of the resample's values, ties sharing their mean rank (Spearman's)."""
    ordered = np.take(weights, order, axis=1)
    if starts is None:  # no ties: each value its own run
        mid = np.cumsum(ordered, axis=1) - ordered + (ordered + 1.0) / 2.0
    else:
        tied = np.add.reduceat(ordered, starts, axis=1)
        mid = np.cumsum(tied, axis=1) - tied + (tied + 1.0) / 2.0
        mid = np.repeat(mid, np.diff(np.r_[starts, weights.shape[1]]), axis=1)
    return np.take(mid, place, axis=1)


def _rank_plans(scores: np.ndarray, features: np.ndarray) -> list[RankPlan]:
    """:func:`_rank_plan` of each column of ``scores`` then of ``features``."""
    return [_rank_plan(scores[:, k]) for k in range(scores.shape[1])] + [
        _rank_plan(features[:, f]) for f in range(features.shape[1])
    ]


def _weighted_rank_correlation(weights: np.ndarray, plans: list[RankPlan], k: int) -> np.ndarray:
    """``(B, K, F)`` Spearman rho of each of the first ``k`` variables of ``plans`` (the component
    scores, :func:`_rank_plans`) with each of the others (the features) in each resample
    (observation ``i`` drawn ``weights[b, i]`` times; all ones: the sample's rho); NaN where a
    resample holds a single value of either. Memory: the ``(B, M, K)`` component ranks and a few
    ``(B, M)`` arrays, one feature at a time."""
    total = weights.sum(axis=1)  # (B,)
    score_ranks = np.empty((*weights.shape, k))
    for v in range(k):
        score_ranks[:, :, v] = _weighted_midranks(weights, *plans[v])
    score_mean = np.matmul(weights[:, None, :], score_ranks)[:, 0, :] / total[:, None]  # (B, K)
    score_var = (
        np.stack(
            [np.einsum("bm,bm->b", weights * score_ranks[:, :, v], score_ranks[:, :, v]) for v in range(k)],
            axis=1,
        )
        / total[:, None]
        - score_mean**2
    )
    rho = np.full((weights.shape[0], k, len(plans) - k), np.nan)
    for f, plan in enumerate(plans[k:]):
        ranks = _weighted_midranks(weights, *plan)
        weighted = weights * ranks
        mean = weighted.sum(axis=1) / total
        var = np.einsum("bm,bm->b", weighted, ranks) / total - mean**2
        cross = np.matmul(weighted[:, None, :], score_ranks)[:, 0, :] / total[:, None]
        cross -= score_mean * mean[:, None]
        denominator = np.sqrt(np.clip(score_var, 0.0, None) * np.clip(var, 0.0, None)[:, None])
        # a variable of one value in the resample: its rank variance is 0 up to rounding
        defined = denominator > 1e-9 * total[:, None] ** 2
        rho[:, :, f][defined] = cross[defined] / denominator[defined]
    return np.clip(rho, -1.0, 1.0)


def _track_bootstrap(
    plans: list[RankPlan], k: int, tracks: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """``(n_bootstrap, K, F)`` rho of resamples of the tracks (drawn with replacement, every
    observation of a drawn track kept, the resample re-ranked), every pair on the same resamples;
    ``plans`` and ``k`` as :func:`_weighted_rank_correlation`'s."""
    labels, codes = np.unique(tracks, return_inverse=True)
    n_tracks, codes = len(labels), codes.ravel()
    per_replicate = max(1, len(codes) * (k + 3))
    block = max(1, _BLOCK_ELEMENTS // per_replicate)
    replicates = []
    for first in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - first)
        drawn = rng.integers(0, n_tracks, size=(size, n_tracks)) + n_tracks * np.arange(size)[:, None]
        copies = np.bincount(drawn.ravel(), minlength=size * n_tracks).reshape(size, n_tracks)
        replicates.append(_weighted_rank_correlation(copies[:, codes].astype(np.float64), plans, k))
    return np.concatenate(replicates, axis=0)


def component_feature_correlation(
    scores: np.ndarray,
    explained: np.ndarray,
    features: pd.DataFrame,
    tracks: np.ndarray | pd.Series,
    *,
    n_bootstrap: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> pd.DataFrame:
    """Spearman's rho of every component with every feature over the cell observations (the paper's
    definition), and its percentile interval from a bootstrap over tracks.

    A cell seen at many frames is many observations of one cell, not independent ones: the
    uncertainty of rho is resampled by track (every observation of a drawn track; the resample
    re-ranked), under :func:`dynaclr.numerics.bootstrap.bootstrap_interval`'s rule (no interval over
    fewer than two tracks). No p-value counting observations as independent cells is given: it falls
    as the frames rise where the cells add no evidence.

    Args:
        scores: ``(N, K)`` component scores, row-aligned with ``features``.
        explained: ``(K,)`` explained variance ratio of each component.
        features: ``(N, F)`` numeric features; NaN values (e.g. the shape of an empty mask) are
            left out pairwise. A constant feature gets rho NaN.
        tracks: ``(N,)`` the track of each row (labels unique across FOVs, e.g. ``fov/track_id``);
            the resamples draw tracks in the sorted order of the labels, so the same rows in another
            order give the same table.
        n_bootstrap, confidence, seed: the bootstrap's replicates (0: no interval), its interval's
            level, its seed (a generator of it for each set of features sharing their finite rows).

    Returns:
        Columns ``pc`` (1-based), ``explained_variance_ratio``, ``feature``, ``rho``, ``rho_ci_low``,
        ``rho_ci_high``, ``rho_ci_missing`` (why there is no interval; ``""`` where there is one),
        ``n_observations`` (rows with a finite feature value), ``n_tracks`` (their tracks),
        ``n_bootstrap``, ``confidence``; by component, features in their column order.
    """
    tracks = np.asarray(tracks)
    if not len(scores) == len(features) == len(tracks):
        raise ValueError(
            f"{len(scores)} rows of scores, {len(features)} rows of features and {len(tracks)} tracks: "
            "expected one of each per cell observation"
        )
    scores = np.asarray(scores, dtype=np.float64)
    values = features.to_numpy(dtype=np.float64)
    n_components, names = scores.shape[1], list(features.columns)
    found: dict[tuple[int, int], dict] = {}
    finite = np.isfinite(values)
    # features sharing their finite rows (e.g. every shape feature of one channel) share resamples
    groups: dict[bytes, list[int]] = {}
    for f in range(len(names)):
        groups.setdefault(np.packbits(finite[:, f]).tobytes(), []).append(f)
    for members in groups.values():
        rows = np.flatnonzero(finite[:, members[0]])
        n_tracks = len(np.unique(tracks[rows]))
        every = len(rows) == len(values)  # no copy of the scores where every row is finite
        sub_scores = scores if every else scores[rows]
        sub_values = values[:, members] if every else values[np.ix_(rows, members)]
        point = np.full((n_components, len(members)), np.nan)
        replicates = np.full((n_bootstrap, n_components, len(members)), np.nan)
        if len(rows) >= 3:
            plans = _rank_plans(sub_scores, sub_values)
            point = _weighted_rank_correlation(np.ones((1, len(rows))), plans, n_components)[0]
            if n_tracks >= MIN_BOOTSTRAP_CLUSTERS and n_bootstrap > 0:
                # a generator per set: a feature's resamples do not depend on the other features
                rng = np.random.default_rng(seed)
                replicates = _track_bootstrap(plans, n_components, tracks[rows], n_bootstrap, rng)
        for j, f in enumerate(members):
            for k in range(n_components):
                rho = float(point[k, j])
                interval = (
                    bootstrap_interval(replicates[:, k, j], confidence, n_clusters=n_tracks)
                    if np.isfinite(rho)
                    else BootstrapInterval(float("nan"), float("nan"), 0, UNDEFINED_RHO)
                )
                found[k, f] = {
                    "pc": k + 1,
                    "explained_variance_ratio": float(explained[k]),
                    "feature": names[f],
                    "rho": rho,
                    "rho_ci_low": interval.low,
                    "rho_ci_high": interval.high,
                    "rho_ci_missing": interval.missing,
                    "n_observations": len(rows),
                    "n_tracks": n_tracks,
                    "n_bootstrap": n_bootstrap,
                    "confidence": confidence,
                }
    table = [found[k, f] for k in range(n_components) for f in range(len(names))]
    return pd.DataFrame(table, columns=list(CORRELATION_COLUMNS[2:]))


def quantile_bin_draw(
    values: np.ndarray, n_bins: int, per_bin: int, rng: np.random.Generator | int = 0
) -> list[np.ndarray]:
    """Row indices drawn from each of ``n_bins`` equal-count bins of ``values`` (lowest first).

    Bins are by rank (ties broken by order), so each holds ``N / n_bins`` cells; up to ``per_bin``
    rows are drawn per bin without replacement, returned sorted by value.
    """
    rng = np.random.default_rng(rng)
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    drawn = []
    for members in np.array_split(order, n_bins):
        chosen = (
            rng.choice(members, size=min(per_bin, len(members)), replace=False) if len(members) else members
        )
        drawn.append(chosen[np.argsort(values[chosen], kind="stable")])
    return drawn
