"""Tests for dynaclr.pseudotime.dtw (subsequence vs sliding-window DTW, pseudo-time)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from dtaidistance.subsequence.dtw import subsequence_alignment as dtai_subsequence_alignment

from dynaclr.pseudotime import (
    align_tracks,
    c_backend_available,
    dtw as dtw_module,
    fill_frame_gaps,
    path_skew,
    pseudotime_from_path,
    sliding_window_alignment,
    subsequence_alignment,
)

REF_LEN, QUERY_LEN, DIM = 20, 70, 16


def _walk(rng: np.random.Generator, length: int, dim: int = DIM, step: float = 0.4) -> np.ndarray:
    """Smooth random walk on the unit sphere, ``(length, dim)``."""
    x = rng.normal(size=dim)
    out = np.empty((length, dim))
    for k in range(length):
        x = x + step * rng.normal(size=dim) / np.sqrt(dim) * (k > 0)
        x /= np.linalg.norm(x)
        out[k] = x
    return out


def _time_warp(series: np.ndarray, gamma: float) -> np.ndarray:
    """Same-length copy of ``series`` resampled at warped times ``(s ** gamma) * (M - 1)``."""
    m = series.shape[0]
    times = np.linspace(0.0, 1.0, m) ** gamma * (m - 1)
    return np.stack([np.interp(times, np.arange(m), series[:, d]) for d in range(series.shape[1])], axis=1)


def _planted_query(
    rng: np.random.Generator, reference: np.ndarray, offset: int, gamma: float = 1.4, noise: float = 0.02
) -> np.ndarray:
    """Background walk of ``QUERY_LEN`` frames with a noisy time-warped reference at ``offset``."""
    query = _walk(rng, QUERY_LEN)
    planted = _time_warp(reference, gamma) + noise * rng.normal(size=reference.shape)
    query[offset : offset + reference.shape[0]] = planted
    return query


@pytest.mark.parametrize("seed", range(6))
def test_planted_match_found_by_both_methods(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = _walk(rng, REF_LEN)
    offset = int(rng.integers(5, QUERY_LEN - REF_LEN - 5))
    query = _planted_query(rng, reference, offset, gamma=float(rng.uniform(0.7, 1.4)))
    sub = subsequence_alignment(reference, query)
    slide = sliding_window_alignment(reference, query)
    assert abs(sub.start - offset) <= 1
    assert slide.start == offset  # same-length plant: the exact window wins (no background frame)
    assert abs(sub.start - slide.start) <= 1
    assert abs(sub.end - (offset + REF_LEN)) <= 1
    assert slide.end - slide.start == REF_LEN
    for result in (sub, slide):
        path = result.path
        assert path[0, 0] == 0 and path[-1, 0] == REF_LEN - 1
        assert path[0, 1] == result.start and path[-1, 1] == result.end - 1
        steps = np.diff(path, axis=0)
        assert np.all(steps >= 0) and np.all(steps.max(axis=1) == 1)  # monotone, continuous
        assert 0.0 <= result.skew <= 1.0
        assert result.normalized_cost == pytest.approx(result.cost / len(path))


def test_pseudotime_monotone_within_match_and_nan_outside() -> None:
    rng = np.random.default_rng(11)
    reference = _walk(rng, REF_LEN)
    query = _planted_query(rng, reference, offset=30, gamma=1.5)
    result = subsequence_alignment(reference, query)
    minutes = 30.0 * np.arange(REF_LEN)  # e.g. 30 min per reference frame
    pt = pseudotime_from_path(result.path, minutes, QUERY_LEN)
    inside = pt[result.start : result.end]
    assert np.all(np.isfinite(inside))
    assert np.all(np.diff(inside) >= 0)
    assert inside[0] == pytest.approx(0.0) and inside[-1] == pytest.approx(minutes[-1])
    assert np.all(np.isnan(pt[: result.start])) and np.all(np.isnan(pt[result.end :]))


def test_normalized_cost_lower_for_planted_than_random_query() -> None:
    rng = np.random.default_rng(12)
    reference = _walk(rng, REF_LEN)
    planted = _planted_query(rng, reference, offset=10)
    unrelated = _walk(rng, QUERY_LEN)
    for align in (subsequence_alignment, sliding_window_alignment):
        good, bad = align(reference, planted), align(reference, unrelated)
        assert good.normalized_cost < 0.25 * bad.normalized_cost


def test_backtrack_matches_dtaidistance_best_path() -> None:
    rng = np.random.default_rng(13)
    reference = _walk(rng, REF_LEN)
    query = _planted_query(rng, reference, offset=22, gamma=0.8)
    ours = subsequence_alignment(reference, query, penalty=0.1)
    ref_unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    query_unit = query / np.linalg.norm(query, axis=1, keepdims=True)
    match = dtai_subsequence_alignment(ref_unit, query_unit, penalty=0.1, use_c=True).best_match()
    np.testing.assert_array_equal(ours.path, np.asarray(match.path))
    assert ours.start == match.segment[0] and ours.end == match.segment[1] + 1
    assert ours.dtw_distance == pytest.approx(match.distance)


def test_c_backend_is_used_and_python_path_agrees(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert c_backend_available()
    rng = np.random.default_rng(14)
    reference = _walk(rng, 8)
    query = _planted_query(rng, reference, offset=5)[:24]
    fast = subsequence_alignment(reference, query, use_c=True)
    slow = subsequence_alignment(reference, query, use_c=False)
    np.testing.assert_array_equal(fast.path, slow.path)
    assert fast.dtw_distance == pytest.approx(slow.dtw_distance)
    fast_sw = sliding_window_alignment(reference, query, use_c=True)
    slow_sw = sliding_window_alignment(reference, query, use_c=False)
    np.testing.assert_array_equal(fast_sw.path, slow_sw.path)
    # Without the compiled library: use_c=True fails clearly, use_c=None warns and falls back.
    monkeypatch.setattr(dtw_module.dtai_dtw, "dtw_cc", None)
    assert not c_backend_available()
    with pytest.raises(RuntimeError, match="C library"):
        subsequence_alignment(reference, query, use_c=True)
    with caplog.at_level(logging.WARNING, logger="dynaclr.pseudotime.dtw"):
        fallback = subsequence_alignment(reference, query, use_c=None)
    assert "pure-Python" in caplog.text
    np.testing.assert_array_equal(fallback.path, fast.path)


def test_pseudotime_and_skew_on_handmade_path() -> None:
    path = np.array([[0, 2], [1, 3], [2, 3], [3, 4]])
    pt = pseudotime_from_path(path, [0.0, 10.0, 20.0, 30.0], n_query=6)
    np.testing.assert_allclose(pt, [np.nan, np.nan, 0.0, 15.0, 30.0, np.nan])
    diagonal = np.array([[0, 5], [1, 6], [2, 7]])
    assert path_skew(diagonal, n_reference=3, start=5, end=8) == 0.0
    stall = np.array([[0, 0], [1, 0], [2, 0], [3, 1], [3, 2], [3, 3]])
    assert path_skew(stall, n_reference=4, start=0, end=4) > 0.3


def test_sliding_length_tolerance_finds_stretched_copy() -> None:
    rng = np.random.default_rng(15)
    reference = _walk(rng, REF_LEN)
    stretched_len = REF_LEN + 4
    times = np.linspace(0, REF_LEN - 1, stretched_len)
    stretched = np.stack([np.interp(times, np.arange(REF_LEN), reference[:, d]) for d in range(DIM)], axis=1)
    query = _walk(rng, QUERY_LEN)
    query[20 : 20 + stretched_len] = stretched
    result = sliding_window_alignment(reference, query, length_tolerance=5)
    assert abs(result.start - 20) <= 1 and abs(result.end - (20 + stretched_len)) <= 1
    sub = subsequence_alignment(reference, query)
    assert abs(sub.start - 20) <= 1 and abs(sub.end - (20 + stretched_len)) <= 1


def test_align_tracks_one_row_per_query_frame() -> None:
    rng = np.random.default_rng(16)
    reference = _walk(rng, REF_LEN)
    queries = {
        ("A/1/0", 3): _planted_query(rng, reference, offset=12),
        ("A/1/0", 7): _planted_query(rng, reference, offset=40)[:65],
    }
    times = {key: 100 + np.arange(len(series)) for key, series in queries.items()}
    for method in ("subsequence", "sliding"):
        table = align_tracks(reference, queries, query_times=times, method=method, show_progress=False)
        assert len(table) == QUERY_LEN + 65
        assert {"fov_name", "track_id", "t", "pseudotime", "normalized_cost", "skew"} <= set(table.columns)
        first = table[table["track_id"] == 3]
        assert first["t"].iloc[0] == 100
        assert abs(int(first["match_start"].iloc[0]) - 12) <= 1
        assert first["pseudotime"].notna().to_numpy().tolist() == first["in_match"].tolist()
        assert first["normalized_cost"].nunique() == 1
    empty = align_tracks(reference, {}, show_progress=False)
    assert isinstance(empty, pd.DataFrame) and len(empty) == 0


def test_input_errors() -> None:
    rng = np.random.default_rng(17)
    reference = _walk(rng, REF_LEN)
    with pytest.raises(ValueError, match="features per frame"):
        subsequence_alignment(reference, rng.normal(size=(40, DIM + 1)))
    with pytest.raises(ValueError, match="shorter than every window"):
        sliding_window_alignment(reference, rng.normal(size=(10, DIM)))
    with pytest.raises(ValueError, match="NaN"):
        subsequence_alignment(reference, np.full((40, DIM), np.nan))
    with pytest.raises(ValueError, match="method"):
        align_tracks(reference, {"a": reference}, method="nope")  # type: ignore[arg-type]


@pytest.mark.parametrize("align", [subsequence_alignment, sliding_window_alignment])
def test_normalize_false_compares_magnitudes_and_true_only_directions(align) -> None:
    """pseudotime.normalize: the reference planted three times brighter in a query is found with unit-
    normalised frames (cost ~0) and missed without them, where its frames lie 2 x |r| away (step cost
    4 against ~2 for unrelated unit frames); the reported cost is the raw squared distance then."""
    rng = np.random.default_rng(4)
    reference = _walk(rng, REF_LEN)
    query = _walk(rng, QUERY_LEN)
    offset = 30
    query[offset : offset + REF_LEN] = 3.0 * reference
    normalised = align(reference, query, normalize=True)
    raw = align(reference, query, normalize=False)
    assert normalised.start == offset and normalised.normalized_cost < 1e-6
    assert abs(raw.start - offset) >= REF_LEN // 2
    diff = reference[raw.path[:, 0]] - query[raw.path[:, 1]]
    assert raw.cost == pytest.approx(float((diff**2).sum()))
    assert raw.normalized_cost < 4.0


def test_fill_frame_gaps_interpolates_missing_frames_only() -> None:
    """Missing frames are linear between their neighbours; observed ones are kept as given."""
    t = np.array([3, 4, 7, 8])
    values = np.array([[0.0, 1.0], [1.0, 1.0], [4.0, -2.0], [5.0, 0.3]])
    filled, frames, observed = fill_frame_gaps(values, t)
    assert frames.tolist() == [3, 4, 5, 6, 7, 8]
    assert observed.tolist() == [True, True, False, False, True, True]
    np.testing.assert_array_equal(filled[observed], values)
    np.testing.assert_allclose(filled[2:4], [[2.0, 0.0], [3.0, -1.0]])
    same, frames, observed = fill_frame_gaps(values[:2], t[:2])
    assert observed.all() and frames.tolist() == [3, 4]
    np.testing.assert_array_equal(same, values[:2])
    gap_free = values[:2].astype(np.float32)
    assert fill_frame_gaps(gap_free, t[:2])[0] is gap_free  # nothing missing: no float64 copy
    with pytest.raises(ValueError, match="strictly increasing"):
        fill_frame_gaps(values, np.array([3, 5, 5, 8]))
    with pytest.raises(ValueError, match="integer frames"):
        fill_frame_gaps(values, t.astype(float))
