"""The one rule of every track bootstrap (dynaclr.numerics.bootstrap): below two tracks, no interval."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from dynaclr.classify import bootstrap_metrics
from dynaclr.config.distillation import DistillationConfig
from dynaclr.distill.intervals import METHODS, _interval_scores
from dynaclr.evaluation.temporal import temporal_metrics_with_replicates
from dynaclr.numerics import bootstrap
from dynaclr.numerics.bootstrap import ONE_CLUSTER, bootstrap_interval, too_few_clusters


def test_bootstrap_interval_withholds_an_interval_over_one_cluster():
    values = np.linspace(0.2, 0.8, 50)
    one = bootstrap_interval(values, 0.9, n_clusters=1)
    assert np.isnan(one.low) and np.isnan(one.high) and one.n_used == 0 and one.missing == ONE_CLUSTER
    two = bootstrap_interval(values, 0.9, n_clusters=2)
    assert two.missing == "" and two.n_used == 50
    assert (two.low, two.high) == pytest.approx(tuple(np.quantile(values, [0.05, 0.95])))
    # no replicate drawn says so, whatever the clusters; not a cluster bootstrap: no cluster check
    assert "n_bootstrap 0" in bootstrap_interval(np.zeros(0), 0.9, n_clusters=1).missing
    assert bootstrap_interval(values, 0.9).missing == ""
    assert too_few_clusters(1, 10) and not too_few_clusters(2, 10) and not too_few_clusters(1, 0)


def test_every_track_bootstrap_follows_the_one_rule(monkeypatch, caplog):
    """The classifiers', the distillation's and the track-pair smoothness' CIs withhold an interval by
    one rule: raising its minimum to three tracks withholds each over two tracks (before, the
    temporal metrics had a constant of their own and each caller its own test)."""
    monkeypatch.setattr(bootstrap, "MIN_BOOTSTRAP_CLUSTERS", 3)
    truth = np.tile([False, False, True, True, True], 4)
    rng = np.random.default_rng(2)
    probability = np.clip(truth * 0.5 + rng.uniform(0.0, 0.5, truth.size), 0.0, 1.0)
    two_tracks = np.repeat(["A/1/0|1", "A/1/0|2"], truth.size // 2)

    classified = bootstrap_metrics(truth, probability, two_tracks, 50, seed=0)
    assert classified["auroc_ci_missing"] == ONE_CLUSTER and np.isnan(classified["auroc_ci_low"])

    config = DistillationConfig(enabled=True, teacher_model="t", dataset="d", n_bootstrap=50)
    with caplog.at_level(logging.WARNING, logger="dynaclr.distill.intervals"):
        distilled = _interval_scores(dict.fromkeys(METHODS, probability), truth, two_tracks, config)
    assert all(distilled[method]["f1_ci_missing"] == ONE_CLUSTER for method in METHODS)
    assert any(ONE_CLUSTER in record.getMessage() for record in caplog.records)

    walks = np.cumsum(rng.normal(size=(2, 12, 8)), axis=1).reshape(24, 8)
    index = pd.DataFrame(
        {"fov_name": "A/1/0", "track_id": np.repeat([1, 2], 12), "t": np.tile(np.arange(12), 2)}
    )
    with caplog.at_level(logging.WARNING, logger="dynaclr.evaluation.temporal"):
        metrics, replicates = temporal_metrics_with_replicates(walks, index, n_bootstrap=20, seed=0)
    assert metrics["n_tracks"] == 2 and np.isfinite(metrics["smoothness"])
    assert np.isnan(metrics["smoothness_ci_low"]) and np.isnan(replicates[1:]).all()
    assert "no confidence interval: 2 track holds adjacent frames" in caplog.text
