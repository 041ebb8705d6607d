"""Percentile-bootstrap intervals over clusters, and the one rule every cluster bootstrap follows.

Observations of one track are correlated, so the workflow's bootstraps resample *tracks* (clusters)
with replacement: the classifiers' CIs (:func:`dynaclr.classify.bootstrap_metrics`), the
distillation's (:mod:`dynaclr.distill.intervals`), the track-pair smoothness
(:mod:`dynaclr.evaluation.temporal`) and the DTW onset error over lineages
(:func:`dynaclr.pseudotime.stage.onset_error_summary`). Below :data:`MIN_BOOTSTRAP_CLUSTERS`
clusters there is no interval: every resample of a single cluster redraws that cluster, so each
replicate is the point estimate and its "interval" a single value that cannot show the uncertainty
(:func:`too_few_clusters`; :func:`bootstrap_interval` withholds it, NaN bounds and
:data:`ONE_CLUSTER` as the reason). The feature trajectories' change over lineages
(:mod:`dynaclr.figures.feature_trajectories`) follows the same minimum and also withholds its
interval when every lineage changes by the same amount.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_UNDEFINED_REPLICATE_SHARE",
    "MIN_BOOTSTRAP_CLUSTERS",
    "ONE_CLUSTER",
    "BootstrapInterval",
    "bootstrap_interval",
    "percentile_interval",
    "too_few_clusters",
]

#: The most bootstrap replicates, as a share of ``n_bootstrap``, that may leave a metric undefined
#: (a resample without a positive or without a negative cell) before its CI is withheld: the
#: replicates that define it drew more of the rare class than the data hold, so their interval is
#: biased. Above it the CI is NaN and ``{metric}_ci_missing`` says why.
MAX_UNDEFINED_REPLICATE_SHARE = 0.10

#: Fewest clusters (tracks) a cluster-bootstrap interval rests on: every resample of one track is that
#: track (its cells, its pairs), so each replicate is the point estimate and its "interval" a single value.
MIN_BOOTSTRAP_CLUSTERS = 2

#: Why there is no interval over the cells of a single track (:data:`MIN_BOOTSTRAP_CLUSTERS`): the
#: ``{metric}_ci_missing`` of the classifiers' and the distillation's CIs.
ONE_CLUSTER = (
    "one track: a bootstrap over tracks needs two at least (every resample redraws that track's cells, "
    "so it cannot show the uncertainty)"
)


def too_few_clusters(n_clusters: int, n_replicates: int) -> bool:
    """Whether ``n_replicates`` bootstrap resamples of ``n_clusters`` clusters are no interval: some
    were drawn, over fewer than :data:`MIN_BOOTSTRAP_CLUSTERS` clusters (each is the point estimate)."""
    return n_replicates > 0 and n_clusters < MIN_BOOTSTRAP_CLUSTERS


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile-bootstrap CI and the replicates it rests on.

    Attributes:
        low, high: the bounds (NaN when withheld: see ``missing``).
        n_used: replicates that define the metric (the others are left out).
        missing: why there is no CI (``""`` when there is one).
    """

    low: float
    high: float
    n_used: int
    missing: str


def bootstrap_interval(
    values: np.ndarray,
    confidence: float,
    max_undefined_share: float = MAX_UNDEFINED_REPLICATE_SHARE,
    n_clusters: int | None = None,
) -> BootstrapInterval:
    """:func:`percentile_interval` of the finite ``values`` (one metric's ``(n_bootstrap,)``
    replicates, NaN where a resample left it undefined), withheld (NaN) when none were drawn, when
    the resamples are of fewer than :data:`MIN_BOOTSTRAP_CLUSTERS` clusters (``n_clusters``, the
    clusters resampled; reason :data:`ONE_CLUSTER`; ``None``: not a cluster bootstrap, no such
    check), or when more than ``max_undefined_share`` of them are NaN."""
    values = np.asarray(values, dtype=np.float64)
    n_used = int(np.isfinite(values).sum())
    n_dropped = values.size - n_used
    if values.size == 0:
        missing = "no bootstrap replicate drawn (n_bootstrap 0)"
        return BootstrapInterval(float("nan"), float("nan"), 0, missing)
    if n_clusters is not None and too_few_clusters(n_clusters, values.size):
        # every resample redrew the one track: replicates equal to the point metric
        return BootstrapInterval(float("nan"), float("nan"), 0, ONE_CLUSTER)
    if n_used == 0:
        return BootstrapInterval(
            float("nan"), float("nan"), 0, f"undefined in all {values.size} bootstrap replicates"
        )
    if n_dropped > max_undefined_share * values.size:
        return BootstrapInterval(
            float("nan"),
            float("nan"),
            n_used,
            f"undefined in {n_dropped} of {values.size} bootstrap replicates (resamples without a "
            f"positive or a negative cell), over the {max_undefined_share:.0%} limit: an interval of the "
            "others would be biased",
        )
    return BootstrapInterval(*percentile_interval(values, confidence), n_used, "")


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Central ``confidence`` percentile interval of the finite ``values`` (NaN, NaN when none)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)
