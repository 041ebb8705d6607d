"""Tests for dynaclr.evaluation.temporal (smoothness, dynamic range, track bootstrap)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from dynaclr.evaluation import (
    adjacent_distances,
    dynamic_range,
    kde_grid,
    paired_smoothness_difference,
    random_distances,
    smoothness,
    temporal as temporal_module,
    temporal_metrics,
    temporal_metrics_with_replicates,
)


def _sphere_walks(
    rng: np.random.Generator, n_tracks: int, length: int, dim: int = 16, step: float = 0.05
) -> tuple[np.ndarray, pd.DataFrame]:
    """Random walks with small steps on the unit sphere, one per track, frames 0..length-1."""
    start = rng.normal(size=(n_tracks, 1, dim))
    steps = step * rng.normal(size=(n_tracks, length, dim))
    steps[:, 0] = 0.0
    walks = start + np.cumsum(steps, axis=1)
    walks /= np.linalg.norm(walks, axis=2, keepdims=True)
    index = pd.DataFrame(
        {
            "fov_name": np.repeat([f"A/{k % 3}/0" for k in range(n_tracks)], length),
            "track_id": np.repeat(np.arange(n_tracks), length),
            "t": np.tile(np.arange(length), n_tracks),
        }
    )
    return walks.reshape(n_tracks * length, dim), index


def _shuffle_time(rng: np.random.Generator, embeddings: np.ndarray, n_tracks: int, length: int) -> np.ndarray:
    """Permute the frames within each track (destroys temporal order, keeps the point cloud)."""
    cube = embeddings.reshape(n_tracks, length, -1).copy()
    for k in range(n_tracks):
        cube[k] = cube[k, rng.permutation(length)]
    return cube.reshape(n_tracks * length, -1)


def test_smooth_trajectory_is_smoother_than_shuffled() -> None:
    rng = np.random.default_rng(0)
    emb, index = _sphere_walks(rng, n_tracks=30, length=40, step=0.25)
    shuffled = _shuffle_time(rng, emb, 30, 40)
    smooth = temporal_metrics(emb, index, n_bootstrap=50, seed=1)
    noisy = temporal_metrics(shuffled, index, n_bootstrap=50, seed=1)
    assert smooth["smoothness"] < 0.5 * noisy["smoothness"]
    # Shuffled frames: adjacent pairs are random pairs, so the ratio is ~1.
    assert 0.8 < noisy["smoothness"] < 1.2
    # Smooth walks: adjacent distances concentrate near 0, random ones further out.
    assert smooth["dynamic_range"] > 0.02
    assert smooth["dynamic_range_ci_low"] > 0
    assert abs(noisy["dynamic_range"]) < 0.5 * smooth["dynamic_range"]
    assert smooth["smoothness_ci_high"] < noisy["smoothness_ci_low"]
    assert smooth["n_tracks"] == 30
    assert smooth["n_pairs"] == 30 * 39


def test_constant_tracks_give_undefined_smoothness_and_zero_range(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(1)
    n_tracks, length = 5, 6
    per_track = rng.normal(size=(n_tracks, 8))
    emb = np.repeat(per_track, length, axis=0)
    index = pd.DataFrame(
        {
            "fov_name": "B/1/0",
            "track_id": np.repeat(np.arange(n_tracks), length),
            "t": np.tile(np.arange(length), n_tracks),
        }
    )
    with caplog.at_level(logging.WARNING, logger="dynaclr.evaluation.temporal"):
        out = temporal_metrics(emb, index, n_bootstrap=20, seed=0)
    assert np.isnan(out["smoothness"])
    assert np.isnan(out["smoothness_ci_low"]) and np.isnan(out["smoothness_ci_high"])
    assert out["dynamic_range"] == pytest.approx(0.0, abs=1e-9)
    assert out["mean_adjacent"] == pytest.approx(0.0, abs=1e-9)
    assert "static" in caplog.text


def test_adjacent_pairs_skip_gaps_and_follow_row_order() -> None:
    rng = np.random.default_rng(2)
    # Track 1 has frames 0,1,2,5,6 (gap 2->5); track 2 has 0,1; track 3 a single frame.
    t = [0, 1, 2, 5, 6, 0, 1, 3]
    track = [1, 1, 1, 1, 1, 2, 2, 3]
    emb = rng.normal(size=(len(t), 4))
    index = pd.DataFrame({"fov_name": "C/2/0", "track_id": track, "t": t})
    perm = rng.permutation(len(t))  # rows in arbitrary order must not matter
    adj = adjacent_distances(emb[perm], index.iloc[perm].reset_index(drop=True))
    assert len(adj) == 3 + 1
    pairs = set(zip(adj["track_id"], adj["t_a"], adj["t_b"], strict=True))
    assert pairs == {(1, 0, 1), (1, 1, 2), (1, 5, 6), (2, 0, 1)}
    assert (1, 2, 5) not in pairs
    # Distances belong to the right rows.
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    row = adj[(adj["track_id"] == 1) & (adj["t_a"] == 5)].iloc[0]
    assert row["distance"] == pytest.approx(1.0 - unit[3] @ unit[4])
    metrics = temporal_metrics(emb, index, n_bootstrap=10, seed=0)
    assert metrics["n_pairs"] == 4
    assert metrics["n_tracks"] == 2  # the single-frame track carries no pairs


def test_random_pairs_are_distinct_frames_of_one_track() -> None:
    rng = np.random.default_rng(3)
    emb, index = _sphere_walks(rng, n_tracks=7, length=5)
    per_track = random_distances(emb, index, rng=0, pairs_per_track=11)
    assert len(per_track) == 7 * 11
    assert (per_track.groupby("track_id").size() == 11).all()
    assert (per_track["t_a"] != per_track["t_b"]).all()
    total = random_distances(emb, index, rng=0, n_pairs=500)
    assert len(total) == 500
    assert (total["t_a"] != total["t_b"]).all()
    default = random_distances(emb, index, rng=0)
    assert len(default) == 7 * 4
    with pytest.raises(ValueError, match="at most one"):
        random_distances(emb, index, rng=0, pairs_per_track=2, n_pairs=3)


def test_bootstrap_ci_contains_estimate_and_is_deterministic() -> None:
    rng = np.random.default_rng(4)
    emb, index = _sphere_walks(rng, n_tracks=25, length=30, step=0.08)
    a = temporal_metrics(emb, index, n_bootstrap=100, seed=7)
    b = temporal_metrics(emb, index, n_bootstrap=100, seed=7)
    c = temporal_metrics(emb, index, n_bootstrap=100, seed=8)
    assert a == b
    assert a != c
    assert a["smoothness_ci_low"] <= a["smoothness"] <= a["smoothness_ci_high"]
    assert a["dynamic_range_ci_low"] <= a["dynamic_range"] <= a["dynamic_range_ci_high"]
    assert a["smoothness_ci_low"] < a["smoothness_ci_high"]


def test_one_track_has_no_bootstrap_interval(caplog: pytest.LogCaptureFixture) -> None:
    # The bootstrap resamples tracks: with a single track every resample redraws it, so each replicate
    # is the point estimate. That interval of zero width claimed a certainty one track cannot give (and
    # a paired difference of two models on it "excluded 0" whatever its size): no interval is given.
    rng = np.random.default_rng(5)
    emb, index = _sphere_walks(rng, n_tracks=1, length=60, step=0.1)
    with caplog.at_level(logging.WARNING, logger="dynaclr.evaluation.temporal"):
        out, reps = temporal_metrics_with_replicates(emb, index, n_bootstrap=50, seed=0)
    assert np.isfinite(out["smoothness"]) and np.isfinite(out["dynamic_range"])
    assert out["n_tracks"] == 1 and out["n_bootstrap"] == 50
    for key in ("smoothness_ci_low", "smoothness_ci_high", "dynamic_range_ci_low", "dynamic_range_ci_high"):
        assert np.isnan(out[key]), key
    assert "1 track holds adjacent frames" in caplog.text and "no confidence interval" in caplog.text
    assert reps[0] == pytest.approx(out["smoothness"]) and np.isnan(reps[1:]).all()
    # another embedding of the same track, a little rougher: no paired claim either way
    _, rougher = temporal_metrics_with_replicates(
        emb + 0.05 * rng.normal(size=emb.shape), index, n_bootstrap=50, seed=0
    )
    paired = paired_smoothness_difference(reps, rougher)
    assert paired["difference"] < 0
    assert np.isnan(paired["difference_ci_low"]) and np.isnan(paired["difference_ci_high"])
    assert np.isnan(paired["share_a_smoother"])
    # two tracks: an interval again
    two, _ = temporal_metrics_with_replicates(*_sphere_walks(rng, n_tracks=2, length=30), n_bootstrap=50)
    assert two["smoothness_ci_low"] <= two["smoothness_ci_high"]


def _gapped(index: pd.DataFrame, linked: int) -> pd.DataFrame:
    """``index`` with every track from ``linked`` on seen every other frame (only frames across gaps)."""
    gapped = index["track_id"].to_numpy() >= linked
    return index.assign(t=np.where(gapped, 2 * index["t"].to_numpy(), index["t"].to_numpy()))


def test_tracks_seen_only_across_gaps_add_no_random_pairs(caplog: pytest.LogCaptureFixture) -> None:
    # half the cells seen every other frame (gap closing, frames QC dropped): they hold no adjacent
    # pair, yet their random pairs, spanning twice the time for as many frames, entered the mean
    # random distance, so the ratio fell (0.28 for 0.36 on the tracks measured) and they were resampled
    # by the bootstrap; now both means are of the tracks holding adjacent frames
    rng = np.random.default_rng(0)
    cells = np.cumsum(rng.normal(size=(40, 24, 16)), axis=1)  # each cell over 24 frames
    index = pd.DataFrame(
        {"fov_name": "A/1/0", "track_id": np.repeat(np.arange(40), 12), "t": np.tile(np.arange(12), 40)}
    )
    gapped = _gapped(index, 20)
    emb = cells[gapped["track_id"].to_numpy(), gapped["t"].to_numpy()]
    linked = (gapped["track_id"] < 20).to_numpy()
    alone = temporal_metrics(emb[linked], gapped[linked].reset_index(drop=True), n_bootstrap=50, seed=1)
    out = temporal_metrics(emb, gapped, n_bootstrap=50, seed=1)
    assert out["n_tracks"] == 20 and out["n_pairs"] == 20 * 11
    for key in ("smoothness", "smoothness_ci_low", "mean_random", "dynamic_range"):
        assert out[key] == pytest.approx(alone[key]), key
    random = random_distances(emb, gapped, rng=1)
    assert set(random["track_id"]) == set(range(20))
    # one linked track among 20 seen across gaps: no interval
    with caplog.at_level(logging.WARNING, logger="dynaclr.evaluation.temporal"):
        one = temporal_metrics(emb, _gapped(index, 1), n_bootstrap=50, seed=1)
    assert one["n_tracks"] == 1 and np.isfinite(one["smoothness"]) and np.isnan(one["smoothness_ci_low"])
    assert "1 track holds adjacent frames" in caplog.text


def test_no_random_pairs_where_only_tracks_across_gaps_span_three_frames() -> None:
    index = pd.DataFrame({"fov_name": "A/1/0", "track_id": [1, 1, 2, 2, 2], "t": [0, 1, 0, 2, 4]})
    assert temporal_module.no_random_pairs_reason(index) == temporal_module.NO_LINKED_TRACK_SPANS_THREE_FRAMES
    assert temporal_module.no_random_pairs_reason(index.assign(t=[0, 1, 0, 1, 2])) is None


def test_point_estimates_match_public_helpers() -> None:
    rng = np.random.default_rng(6)
    emb, index = _sphere_walks(rng, n_tracks=20, length=25, step=0.07)
    out = temporal_metrics(emb, index, n_bootstrap=0, seed=3)
    adj = adjacent_distances(emb, index)["distance"].to_numpy()
    rnd = random_distances(emb, index, rng=3)["distance"].to_numpy()  # same seed -> same pairs
    assert out["smoothness"] == pytest.approx(smoothness(adj, rnd), rel=1e-12)
    # Binned KDE (bootstrap path) vs exact scipy gaussian_kde: within two grid steps.
    step = kde_grid()[1] - kde_grid()[0]
    assert out["dynamic_range"] == pytest.approx(dynamic_range(adj, rnd), abs=2 * step + 1e-12)
    assert np.isnan(out["smoothness_ci_low"])


def test_no_adjacent_pairs_raises_with_details() -> None:
    index = pd.DataFrame({"fov_name": "D/0/0", "track_id": [1, 2, 3], "t": [0, 4, 9]})
    emb = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"no adjacent pairs.*3 tracks, 3 of them with a single frame"):
        temporal_metrics(emb, index)


def test_input_validation() -> None:
    emb = np.ones((3, 4))
    index = pd.DataFrame({"fov_name": "E", "track_id": 1, "t": [0, 1, 1]})
    with pytest.raises(ValueError, match="duplicated"):
        temporal_metrics(emb, index)
    with pytest.raises(ValueError, match="missing columns"):
        temporal_metrics(emb, index.drop(columns="t"))
    with pytest.raises(ValueError, match="row-aligned"):
        temporal_metrics(emb[:2], index)


def test_chunked_bootstrap_gives_identical_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    emb, index = _sphere_walks(rng, n_tracks=12, length=15, step=0.2)
    whole = temporal_metrics(emb, index, n_bootstrap=37, seed=3)
    monkeypatch.setattr(temporal_module, "_BOOTSTRAP_CHUNK_CELLS", 12 * 4)  # 4 replicates per chunk
    assert temporal_metrics(emb, index, n_bootstrap=37, seed=3) == whole


def test_paired_difference_separates_what_overlapping_intervals_cannot() -> None:
    """Two embeddings of the same cells: the paired bootstrap sees a difference the CIs hide."""
    rng = np.random.default_rng(3)
    emb, index = _sphere_walks(rng, n_tracks=30, length=20, step=0.2)
    # b = a plus a little frame-to-frame jitter: slightly less smooth on every track
    jitter = emb + 0.008 * rng.normal(size=emb.shape)
    a, reps_a = temporal_metrics_with_replicates(emb, index, n_bootstrap=200, seed=5)
    b, reps_b = temporal_metrics_with_replicates(jitter, index, n_bootstrap=200, seed=5)
    assert reps_a[0] == pytest.approx(a["smoothness"]) and reps_a.shape == (201,)
    assert a == temporal_metrics(emb, index, n_bootstrap=200, seed=5)  # the same numbers
    assert a["smoothness_ci_high"] > b["smoothness_ci_low"]  # unpaired intervals overlap
    paired = paired_smoothness_difference(reps_a, reps_b)
    assert paired["difference"] == pytest.approx(a["smoothness"] - b["smoothness"])
    assert paired["difference_ci_low"] <= paired["difference"] <= paired["difference_ci_high"] < 0
    assert paired["share_a_smoother"] > 0.975
    swapped = paired_smoothness_difference(reps_b, reps_a)
    assert swapped["difference_ci_low"] > 0 and swapped["share_a_smoother"] < 0.025
    itself = paired_smoothness_difference(reps_a, reps_a)
    assert itself["difference"] == itself["difference_ci_low"] == itself["difference_ci_high"] == 0.0


def test_paired_difference_refuses_replicates_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="one length"):
        paired_smoothness_difference(np.zeros(11), np.zeros(21))
