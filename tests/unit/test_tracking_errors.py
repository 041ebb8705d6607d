"""Tracking errors injected into a tracks table (dynaclr.tracking.errors): none at rate 0, as many as
the rate asks, a table the downstream stages accept, the same table for the same seed, and the
lineage of hand-made tracks rewired as a tracker's mistake would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynaclr.config.simulate import SimulateConfig
from dynaclr.simulate import simulate_fov_dynamics
from dynaclr.simulate.plate import ground_truth_table
from dynaclr.tracking import inject_tracking_errors
from dynaclr.tracking.importing import WHERE, imported_tracks_problems

#: A plate's dynamics only (nothing rendered): 2 FOVs, 20 frames, dividing and moving cells.
PLATE = {
    "seed": 5,
    "wells": [{"row": "A", "column": "1", "condition": "infected", "infected_fraction": 0.5}],
    "fovs_per_well": 2,
    "n_frames": 20,
    "shape_zyx": [5, 128, 128],
    "cells": {"initial_cells_per_fov": 14, "entering_cells_per_frame": 0.3},
    "division": {"cycle_length_frames": 10},
}


@pytest.fixture(scope="module")
def config() -> SimulateConfig:
    return SimulateConfig.model_validate(PLATE)


@pytest.fixture(scope="module")
def truth(config: SimulateConfig) -> pd.DataFrame:
    return ground_truth_table([simulate_fov_dynamics(config, i) for i in range(len(config.fov_names()))])


def n_tracks(tracks: pd.DataFrame) -> int:
    return len(tracks.drop_duplicates(["fov_name", "track_id"]))


def problems(tracks: pd.DataFrame, config: SimulateConfig) -> list[str]:
    """What patch extraction's tracks import would reject (unique cells, consistent parent links)."""
    return imported_tracks_problems(
        tracks.assign(**{WHERE: [f"row {i}" for i in range(len(tracks))]}),
        fov_names=config.fov_names(),
        shape_tzyx=(config.n_frames, *config.shape_zyx),
    )


def identity_jumps(truth: pd.DataFrame, corrupted: pd.DataFrame) -> int:
    """Frames at which a corrupted track follows another true cell than one frame before."""
    labels = corrupted[["fov_name", "track_id", "t"]].assign(cell=truth["track_id"].to_numpy())
    labels = labels.sort_values(["fov_name", "track_id", "t"])
    previous = labels.groupby(["fov_name", "track_id"])["cell"].shift(1)
    return int((previous.notna() & (previous != labels["cell"])).sum())


def test_the_plate_has_enough_tracks(truth: pd.DataFrame, config: SimulateConfig) -> None:
    assert n_tracks(truth) >= 40
    assert problems(truth, config) == []


def test_rate_zero_leaves_the_table_unchanged(truth: pd.DataFrame) -> None:
    corrupted, log = inject_tracking_errors(truth, identity_switch_rate=0.0, false_merge_rate=0.0, seed=1)
    pd.testing.assert_frame_equal(corrupted, truth)
    assert log.empty


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("kind", ["identity_switch", "false_merge"])
def test_the_rate_sets_the_number_of_errors(
    truth: pd.DataFrame, config: SimulateConfig, rate: float, kind: str
) -> None:
    rates = {"identity_switch_rate": 0.0, "false_merge_rate": 0.0, f"{kind}_rate": rate}
    corrupted, log = inject_tracking_errors(truth, **rates, seed=3)
    expected = round(rate * n_tracks(truth))
    assert expected >= 2
    assert len(log) == expected
    assert set(log["kind"]) == {kind}
    assert problems(corrupted, config) == []
    # every row is kept, with its frame and position; only identities change
    pd.testing.assert_frame_equal(
        corrupted[["fov_name", "t", "y", "x", "infected"]], truth[["fov_name", "t", "y", "x", "infected"]]
    )
    jumps = identity_jumps(truth, corrupted)
    if kind == "identity_switch":
        # each switch makes both tracks jump to the other cell (a later switch may jump one back)
        assert expected <= jumps <= 2 * expected
        assert n_tracks(corrupted) == n_tracks(truth)
    else:
        # each merge makes one track jump to another cell; tracks absorbed whole disappear
        assert jumps == expected
        assert n_tracks(corrupted) < n_tracks(truth)


def test_both_kinds_together_give_a_valid_table(truth: pd.DataFrame, config: SimulateConfig) -> None:
    corrupted, log = inject_tracking_errors(truth, identity_switch_rate=0.2, false_merge_rate=0.2, seed=0)
    assert log["kind"].value_counts().to_dict() == {
        "identity_switch": round(0.2 * n_tracks(truth)),
        "false_merge": round(0.2 * n_tracks(truth)),
    }
    assert problems(corrupted, config) == []
    assert "lineage_id" not in corrupted.columns


def test_the_same_seed_gives_the_same_errors(truth: pd.DataFrame) -> None:
    runs = [
        inject_tracking_errors(truth, identity_switch_rate=0.1, false_merge_rate=0.1, seed=seed)
        for seed in (7, 7, 8)
    ]
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])
    assert not runs[0][1].equals(runs[2][1])


def test_too_few_candidates_inject_what_is_possible(truth: pd.DataFrame) -> None:
    _, log = inject_tracking_errors(
        truth, identity_switch_rate=0.2, false_merge_rate=0.0, seed=0, max_distance_px=0.0
    )
    assert log.empty


def test_negative_rates_are_refused(truth: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="errors per track"):
        inject_tracking_errors(truth, identity_switch_rate=-0.1, false_merge_rate=0.0, seed=0)


def hand_made(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    """One FOV's tracks from ``(track_id, t, y, parent_track_id)`` (x = 50 px); ultrack's node ids."""
    table = pd.DataFrame(rows, columns=["track_id", "t", "y", "parent_track_id"]).assign(
        fov_name="A/1/0", x=50.0
    )
    table["id"] = np.arange(1, len(table) + 1)
    table["parent_id"] = -1
    return table


def test_a_switch_swaps_the_tails_and_the_daughters() -> None:
    # tracks 1 and 2 side by side over frames 0-4; track 1 divides into 3 (frames 5-6); 9 is far away
    tracks = hand_made(
        [(1, t, 10.0, -1) for t in range(5)]
        + [(2, t, 14.0, -1) for t in range(5)]
        + [(3, t, 10.0, 1) for t in (5, 6)]
        + [(9, t, 90.0, -1) for t in range(7)]
    )
    corrupted, log = inject_tracking_errors(tracks, identity_switch_rate=0.25, false_merge_rate=0.0, seed=4)
    (switch,) = log.itertuples()
    assert {switch.track_id, switch.other_track_id} == {1, 2}
    assert 1 <= switch.t <= 4
    track_1 = corrupted[corrupted["track_id"] == 1]
    assert (track_1["y"] == np.where(track_1["t"] < switch.t, 10.0, 14.0)).all()
    # the daughter descends from the cell track 2 now follows
    assert corrupted.loc[corrupted["track_id"] == 3, "parent_track_id"].unique().tolist() == [2]
    # ultrack's node ids follow the new links
    first_of_3 = corrupted[corrupted["track_id"] == 3].sort_values("t").iloc[0]
    last_of_2 = corrupted[corrupted["track_id"] == 2].sort_values("t").iloc[-1]
    assert first_of_3["parent_id"] == last_of_2["id"]


def test_a_merge_joins_a_mother_to_one_daughter_and_orphans_the_other() -> None:
    # track 1 (frames 0-2) divides into 2 and 3 (frames 3-5), 4 px either side; 9 is far away
    tracks = hand_made(
        [(1, t, 10.0, -1) for t in range(3)]
        + [(2, t, 14.0, 1) for t in range(3, 6)]
        + [(3, t, 6.0, 1) for t in range(3, 6)]
        + [(9, t, 90.0, -1) for t in range(6)]
    )
    corrupted, log = inject_tracking_errors(tracks, identity_switch_rate=0.0, false_merge_rate=0.25, seed=0)
    (merge,) = log.itertuples()
    assert (merge.kind, merge.t, merge.track_id) == ("false_merge", 3, 1)
    assert sorted(corrupted["track_id"].unique()) == sorted({1, 9} | ({2, 3} - {merge.other_track_id}))
    assert corrupted.loc[corrupted["track_id"] == 1, "t"].tolist() == list(range(6))
    assert (corrupted["parent_track_id"] == -1).all()
