"""The paper's smoothness and dynamic range, checked against the reference implementation.

tests/data/paper_metrics/reference.json holds VisCy 0.4.1's values on the fixture of
tests/data/paper_metrics/fixture.py, computed once offline by make_reference.py beside them.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

from dynaclr.evaluation.paper import paper_temporal_metrics

DATA = REPO_ROOT / "tests" / "data" / "paper_metrics"
sys.path.insert(0, str(DATA))
from fixture import make_fixture  # noqa: E402

REFERENCE = json.loads((DATA / "reference.json").read_text())


def test_equals_the_reference_implementation():
    features, obs = make_fixture()
    ours = paper_temporal_metrics(features, obs)
    expected = {
        "smoothness": REFERENCE["smoothness_score"],
        "dynamic_range": REFERENCE["dynamic_range"],
        "mean_adjacent": REFERENCE["adjacent_frame_mean"],
        "mean_random": REFERENCE["random_frame_mean"],
        "adjacent_peak": REFERENCE["adjacent_frame_peak"],
        "random_peak": REFERENCE["random_frame_peak"],
    }
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_rows_in_any_order_give_the_same_values():
    features, obs = make_fixture()
    shuffled = np.random.default_rng(1).permutation(len(obs))
    first = paper_temporal_metrics(features, obs)
    second = paper_temporal_metrics(features[shuffled], obs.iloc[shuffled])
    # adjacent pairs follow t within each track wherever the rows are; the random pairs are
    # drawn over row positions, so only their statistics change
    assert second["mean_adjacent"] == pytest.approx(first["mean_adjacent"], rel=1e-12)
    assert second["n_pairs"] == first["n_pairs"] and second["n_tracks"] == first["n_tracks"]


def test_smoother_trajectories_score_lower():
    features, obs = make_fixture()
    jittered = features + np.random.default_rng(2).normal(size=features.shape).astype(np.float32) * 4
    assert (
        paper_temporal_metrics(features, obs)["smoothness"]
        < paper_temporal_metrics(jittered, obs)["smoothness"]
    )


def test_needs_a_track_of_two_frames():
    features, obs = make_fixture()
    single = obs.drop_duplicates(["fov_name", "track_id"])
    with pytest.raises(ValueError, match="no track has two frames"):
        paper_temporal_metrics(features[single.index.to_numpy()], single)


def test_a_frame_gap_is_paired_across_as_the_reference_pairs_a_tracks_successive_rows():
    """The reference pairs each track's successive rows (its distance matrix's first off-diagonal), so a
    track with a frame gap (imported tracks: TrackMate's gap closing) is paired across it here too:
    track 1's frames 2 and 5 are a pair of the ``paper`` definition, not of ``track_pairs``
    (dynaclr.evaluation.temporal), whose ``n_pairs`` in temporal_metrics.csv is smaller by the gaps."""
    import pandas as pd

    from dynaclr.evaluation.temporal import temporal_metrics

    t = [0, 1, 2, 5, 6, 0, 1, 3]
    index = pd.DataFrame({"fov_name": "C/2/0", "track_id": [1, 1, 1, 1, 1, 2, 2, 3], "t": t})
    features = np.random.default_rng(2).normal(size=(len(t), 4))
    assert paper_temporal_metrics(features, index)["n_pairs"] == 5  # 0-1, 1-2, 2-5, 5-6 and 0-1
    assert temporal_metrics(features, index, n_bootstrap=10, seed=0)["n_pairs"] == 4  # not 2-5


def test_pairs_across_a_frame_gap_are_counted_in_a_warning(caplog):
    """Tracks with gaps pair frames several frames apart under the paper's definition: a WARNING
    counts them and names the longest step, so the ``n_pairs`` of the two definitions are explained."""
    import logging

    import pandas as pd

    index = pd.DataFrame({"fov_name": "C/2/0", "track_id": [1, 1, 1, 1, 2, 2], "t": [0, 1, 4, 5, 0, 1]})
    features = np.random.default_rng(3).normal(size=(len(index), 4))
    with caplog.at_level(logging.WARNING, logger="dynaclr.evaluation.paper"):
        paper_temporal_metrics(features, index)
    assert "1 of 4 adjacent pairs span a frame gap (longest 3 frames apart)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dynaclr.evaluation.paper"):
        paper_temporal_metrics(features, index.assign(t=[0, 1, 2, 3, 0, 1]))
    assert "frame gap" not in caplog.text


def test_one_adjacent_pair_is_measured_not_a_kde_error():
    # a movie whose tracker linked one pair of detections: scipy's KDE of that one adjacent distance
    # raised "`dataset` input should have multiple elements", failing rule temporal_metrics for every
    # model and dataset; the peak of one distance is that distance
    import pandas as pd

    index = pd.DataFrame({"fov_name": "A/1/0", "track_id": [1, 1, 2, 3, 4, 5], "t": [0, 1, 0, 0, 1, 1]})
    features = np.random.default_rng(0).normal(size=(6, 8))
    out = paper_temporal_metrics(features, index)
    assert out["n_pairs"] == 1 and out["n_tracks"] == 1
    assert out["adjacent_peak"] == pytest.approx(out["mean_adjacent"])
    assert out["dynamic_range"] == pytest.approx(out["random_peak"] - out["mean_adjacent"])
    assert np.isfinite(out["smoothness"])


def test_constant_features_give_smoothness_one_and_no_dynamic_range():
    # every feature constant (a dead encoder): every z-scored row is zero, so every cosine distance is 1;
    # the KDE of identical distances raised numpy's LinAlgError (singular covariance)
    _, obs = make_fixture()
    out = paper_temporal_metrics(np.ones((len(obs), 8)), obs)
    assert out["mean_adjacent"] == out["mean_random"] == 1.0
    assert out["smoothness"] == 1.0 and out["dynamic_range"] == 0.0
