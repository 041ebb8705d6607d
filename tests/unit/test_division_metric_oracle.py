"""Oracle: division precision/recall agree with traccuracy's (an independent implementation).

traccuracy is not a dependency of the project; these tests run where it is importable (see
``benchmarks/division_metric_oracle.py`` for how to install it beside the environment) and are
skipped elsewhere. Both implementations score the same label movies and track tables; our
``division_frame_tolerance`` is traccuracy's ``max_frame_buffer``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_script

from dynaclr.config.simulate import SimulateConfig

pytest.importorskip("traccuracy")

ORACLE_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "division_metric_oracle.py"
SIZE = 48


ORACLE = load_script(ORACLE_PATH, "division_metric_oracle")


def paint(frames: int, cells: dict[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """(T, Y, X) labels; ``cells[(t, label)] = (y, x)`` paints a 6 x 6 square at (y, x)."""
    movie = np.zeros((frames, SIZE, SIZE), dtype=np.uint32)
    for (t, label), (y, x) in cells.items():
        movie[t, y : y + 6, x : x + 6] = label
    return movie


def lineage() -> tuple[np.ndarray, pd.DataFrame]:
    """Cell 1 (frames 0-1) divides into 2 and 3 (frames 2-4); cell 4 moves along (frames 0-4)."""
    cells = {(t, 1): (20, 10 + t) for t in range(2)} | {(t, 4): (40, 2 + 2 * t) for t in range(5)}
    cells |= {(t, 2): (10, 12 + t) for t in range(2, 5)} | {(t, 3): (30, 12 + t) for t in range(2, 5)}
    rows = [(1, t, -1) for t in range(2)] + [(4, t, -1) for t in range(5)]
    rows += [(d, t, 1) for d in (2, 3) for t in range(2, 5)]
    return paint(5, cells), pd.DataFrame(rows, columns=["track_id", "t", "parent_track_id"])


def delay_division(
    labels: np.ndarray, tracks: pd.DataFrame, mother: int, by: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """The mother continues as her first daughter for ``by`` frames; the other daughter is missed
    then; both daughters start ``by`` frames late."""
    labels, tracks = labels.copy(), tracks.copy()
    daughters = sorted(tracks.loc[tracks["parent_track_id"] == mother, "track_id"].unique())
    t_division = int(tracks.loc[tracks["track_id"].isin(daughters), "t"].min())
    late = list(range(t_division, t_division + by))
    for t in late:
        labels[t][labels[t] == daughters[0]] = mother
        for other in daughters[1:]:
            labels[t][labels[t] == other] = 0
    in_late = tracks["t"].isin(late) & tracks["track_id"].isin(daughters)
    continued = tracks[in_late & (tracks["track_id"] == daughters[0])].assign(
        track_id=mother, parent_track_id=-1
    )
    tracks = pd.concat([tracks[~in_late], continued], ignore_index=True)
    return labels, tracks


def continue_daughter(
    labels: np.ndarray, tracks: pd.DataFrame, daughter: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """The first daughter is the mother's continuation (one track): the division is missed."""
    labels, tracks = labels.copy(), tracks.copy()
    mother = int(tracks.loc[tracks["track_id"] == daughter, "parent_track_id"].iloc[0])
    labels[labels == daughter] = mother
    rows = tracks["track_id"] == daughter
    tracks.loc[rows, "track_id"] = mother
    tracks.loc[rows, "parent_track_id"] = -1
    return labels, tracks


def assert_agree(reference, computed, tolerance: int) -> dict[str, float]:
    ours = ORACLE.ours(*reference, *computed, tolerance)
    theirs = ORACLE.traccuracy_divisions(*reference, *computed, tolerance)
    for key in ("n_reference", "n_computed", "n_matched"):
        assert ours[key] == theirs[key], f"{key}: ours {ours}, traccuracy {theirs}"
    return ours


@pytest.mark.parametrize("tolerance", [0, 1, 2])
def test_hand_made_divisions_agree(tolerance: int) -> None:
    labels, tracks = lineage()
    perfect = assert_agree((labels, tracks), (labels, tracks), tolerance)
    assert perfect["n_matched"] == perfect["n_reference"] == 1
    unlinked = assert_agree((labels, tracks), (labels, tracks.assign(parent_track_id=-1)), tolerance)
    assert unlinked["n_computed"] == unlinked["n_matched"] == 0
    assert_agree((labels, tracks), continue_daughter(labels, tracks, 2), tolerance)
    late = assert_agree((labels, tracks), delay_division(labels, tracks, 1, by=1), tolerance)
    assert late["n_matched"] == (1 if tolerance >= 1 else 0)
    later = assert_agree((labels, tracks), delay_division(labels, tracks, 1, by=2), tolerance)
    assert later["n_matched"] == (1 if tolerance >= 2 else 0)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, pd.DataFrame]:
    """A small simulated FOV with several divisions: ground-truth labels projected to 2D, table."""
    from iohub.ngff import open_ome_zarr

    from dynaclr.simulate import SimulateOutputs, simulate_plate
    from dynaclr.tracking.evaluate import project_labels_to_2d

    root = tmp_path_factory.mktemp("oracle")
    outputs = SimulateOutputs(
        plate=root / "raw.zarr", tracks=root / "t.parquet", labels=root / "l.zarr", phase=root / "p.zarr"
    )
    config = SimulateConfig.model_validate(
        {
            "seed": 3,
            "wells": [{"row": "A", "column": "1", "condition": "mock"}],
            "fovs_per_well": 1,
            "n_frames": 14,
            "shape_zyx": [4, 128, 128],
            "cells": {"initial_cells_per_fov": 12, "entering_cells_per_frame": 0.2},
            "division": {"cycle_length_frames": 10},
        }
    )
    simulate_plate(config, outputs)
    with open_ome_zarr(outputs.labels, mode="r") as plate:
        labels = np.stack([project_labels_to_2d(frame) for frame in np.asarray(plate["A/1/0"]["0"][:, 0])])
    tracks = pd.read_parquet(outputs.tracks)
    return labels, tracks.loc[:, ["track_id", "t", "parent_track_id"]]


@pytest.mark.parametrize("tolerance", [0, 1, 2])
def test_simulated_tracks_with_division_errors_agree(simulated, tolerance: int) -> None:
    labels, tracks = simulated
    reference = (labels, tracks)
    n_daughters = tracks[tracks["parent_track_id"] >= 0].groupby("parent_track_id")["track_id"].nunique()
    mothers = sorted(int(m) for m in n_daughters.index[n_daughters >= 2])
    assert len(mothers) >= 4, "the fixture should hold several divisions"
    perfect = assert_agree(reference, reference, tolerance)
    assert perfect["n_matched"] == perfect["n_reference"] == len(mothers)
    computed_labels, computed_tracks = labels, tracks
    # one division missed by continuation, one unlinked, one and two frames late
    first_daughter = int(tracks.loc[tracks["parent_track_id"] == mothers[0], "track_id"].min())
    computed_labels, computed_tracks = continue_daughter(computed_labels, computed_tracks, first_daughter)
    unlinked = computed_tracks["parent_track_id"] == mothers[1]
    computed_tracks = computed_tracks.assign(
        parent_track_id=computed_tracks["parent_track_id"].where(~unlinked, -1)
    )
    computed_labels, computed_tracks = delay_division(computed_labels, computed_tracks, mothers[2], by=1)
    computed_labels, computed_tracks = delay_division(computed_labels, computed_tracks, mothers[3], by=2)
    scores = assert_agree(reference, (computed_labels, computed_tracks), tolerance)
    late_matches = (tolerance >= 1) + (tolerance >= 2)
    assert scores["n_matched"] == len(mothers) - 4 + late_matches
