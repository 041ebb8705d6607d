"""Gap closing (``tracking.gap_closing``): tracks joined across a blank or dropped frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SIMULATE
from iohub.ngff import open_ome_zarr

from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.tracking import TrackingConfig
from dynaclr.io.plate import fov_record_path, read_fov_record
from dynaclr.tracking import (
    TrackFovInputs,
    TrackFovOutputs,
    TracksPlateInputs,
    TracksPlateOutputs,
    create_tracks_plate,
    track_fov,
)
from dynaclr.tracking.engine import NO_PARENT
from dynaclr.tracking.evaluate import project_labels_to_2d
from dynaclr.tracking.fov import LabelFrameWriter, segment_and_track
from dynaclr.tracking.gaps import close_gaps
from dynaclr.tracking.maps import tracking_maps

BLANK_T = 5
#: The tiny plate's mock well alone, 10 frames of 3 slices, 7 cells moving along, none entering.
SIMULATE = {
    **TINY_SIMULATE,
    "wells": TINY_SIMULATE["wells"][:1],
    "n_frames": 10,
    "shape_zyx": [3, 96, 96],
    "cells": {"initial_cells_per_fov": 7, "entering_cells_per_frame": 0.0},
    "division": {"cycle_length_frames": 100},
}
FOV = "A/1/0"


def table(rows: list[tuple[int, int, float, float, int, int]]) -> pd.DataFrame:
    """A 2D tracks table from ``(track_id, t, y, x, parent_track_id, id)`` rows (parent_id: the
    previous row of the track, a daughter's first the mother's last; filled here)."""
    frame = pd.DataFrame(rows, columns=["track_id", "t", "y", "x", "parent_track_id", "id"])
    frame = frame.sort_values(["track_id", "t"]).reset_index(drop=True)
    previous = frame.groupby("track_id")["id"].shift(1)
    last = frame.groupby("track_id")["id"].last()
    first = previous.isna()
    previous[first] = frame.loc[first, "parent_track_id"].map(lambda p: last.get(p, NO_PARENT))
    frame["parent_id"] = previous.astype("int64")
    frame.index = frame["id"] + 1000  # ultrack's node ids as the index, kept
    return frame[["track_id", "t", "y", "x", "id", "parent_track_id", "parent_id"]]


def test_a_track_cut_by_a_missing_frame_is_joined_and_keeps_its_gap() -> None:
    """Track 1 ends at t=2, track 2 starts at t=4 beside it (one missing frame): one track, no row at
    t=3, its first row after the gap naming the last before it as parent_id; track 3 starts too far
    away and stays on its own; the index (node ids) is kept."""
    tracks = table(
        [(1, t, 10.0, 10.0 + t, NO_PARENT, t) for t in range(3)]
        + [(2, t, 10.0, 10.0 + t, NO_PARENT, 10 + t) for t in range(4, 7)]
        + [(3, t, 60.0, 60.0, NO_PARENT, 20 + t) for t in range(4, 7)]
    )
    joined, closed = close_gaps(tracks, max_gap_frames=1, max_distance_px=15.0)
    assert closed == 1
    assert joined.index.tolist() == tracks.index.tolist()
    one = joined[joined["track_id"] == 1].sort_values("t")
    assert one["t"].tolist() == [0, 1, 2, 4, 5, 6]
    assert one["parent_id"].tolist() == [NO_PARENT, 0, 1, 2, 14, 15]
    assert (one["parent_track_id"] == NO_PARENT).all()
    assert set(joined["track_id"]) == {1, 3}
    off, none_closed = close_gaps(tracks, max_gap_frames=0, max_distance_px=15.0)
    assert none_closed == 0 and off.equals(tracks)


def test_a_gap_longer_than_the_limit_or_farther_than_the_distance_is_left() -> None:
    tracks = table(
        [(1, t, 10.0, 10.0, NO_PARENT, t) for t in range(3)]
        + [(2, t, 10.0, 12.0, NO_PARENT, 10 + t) for t in range(5, 7)]  # two missing frames
        + [(3, t, 50.0, 50.0, NO_PARENT, 20 + t) for t in range(3)]
        + [(4, t, 50.0, 70.0, NO_PARENT, 30 + t) for t in range(4, 7)]  # 20 px away
    )
    assert close_gaps(tracks, max_gap_frames=1, max_distance_px=15.0)[1] == 0
    joined, closed = close_gaps(tracks, max_gap_frames=2, max_distance_px=15.0)
    assert closed == 1 and set(joined["track_id"]) == {1, 3, 4}


def test_divisions_are_never_joined_across_a_gap() -> None:
    """A mother (track 1) dividing into daughters 2 and 3 at t=3 has no end to join, and the
    daughters no start: a track starting after a gap beside the mother's last position (track 4) is
    not made her continuation; a daughter's end is joined to a track after a gap (5), which takes the
    daughter's mother, and its daughters (6) name the joined track as mother."""
    tracks = table(
        [(1, t, 30.0, 30.0, NO_PARENT, t) for t in range(3)]
        + [(2, t, 30.0, 20.0, 1, 10 + t) for t in range(3, 5)]
        + [(3, t, 30.0, 40.0, 1, 20 + t) for t in range(3, 6)]
        + [(4, 4, 30.0, 31.0, NO_PARENT, 34)]
        + [(5, t, 30.0, 21.0, NO_PARENT, 40 + t) for t in range(6, 8)]
        + [(6, 8, 30.0, 21.0, 5, 58)]
    )
    joined, closed = close_gaps(tracks, max_gap_frames=2, max_distance_px=15.0)
    assert closed == 1
    two = joined[joined["track_id"] == 2].sort_values("t")
    assert two["t"].tolist() == [3, 4, 6, 7] and (two["parent_track_id"] == 1).all()
    assert two["parent_id"].tolist() == [2, 13, 14, 46]
    assert joined.loc[joined["track_id"] == 6, "parent_track_id"].tolist() == [2]
    assert joined.loc[joined["track_id"] == 1, "t"].tolist() == [0, 1, 2]  # the mother is untouched
    assert joined.loc[joined["track_id"] == 4, "parent_track_id"].tolist() == [NO_PARENT]


def test_a_chain_of_gaps_joins_into_one_track() -> None:
    """Gaps of one frame at t=2 and t=5, and of two frames after t=8 (joined at the second pass)."""
    tracks = table(
        [(1, t, 10.0, 10.0, NO_PARENT, t) for t in range(2)]
        + [(2, t, 10.0, 11.0, NO_PARENT, 10 + t) for t in range(3, 5)]
        + [(3, t, 10.0, 12.0, NO_PARENT, 20 + t) for t in range(6, 9)]
        + [(4, t, 10.0, 13.0, NO_PARENT, 30 + t) for t in range(11, 13)]
    )
    joined, closed = close_gaps(tracks, max_gap_frames=2, max_distance_px=15.0)
    assert closed == 3 and set(joined["track_id"]) == {1}
    assert joined.sort_values("t")["parent_id"].tolist() == [NO_PARENT, 0, 1, 13, 14, 26, 27, 28, 41]


def _segment_and_track(movie: np.ndarray, config: TrackingConfig, scratch: Path) -> tuple[pd.DataFrame, int]:
    maps = tracking_maps(movie, config.maps, min_area_px=config.segmentation.min_area_px)
    labels = np.zeros((movie.shape[0], 1, 1, *movie.shape[1:]), dtype=np.uint32)
    return segment_and_track(maps, config, LabelFrameWriter(labels, 0, 1), scratch, "A/1/0")


def test_tracks_are_joined_across_a_frame_dropped_as_missing(tmp_path: Path) -> None:
    """Frame 4 of two moving nuclei is all NaN (QC drops it: no detections): with the defaults each
    nucleus is one track with a gap at t=4; with gap closing off, four half-tracks."""
    n_t, size = 9, 64
    yy, xx = np.mgrid[:size, :size]
    movie = np.zeros((n_t, size, size), dtype=np.float32)
    for t in range(n_t):
        for y, x in ((20, 14 + 2 * t), (46, 48 - 2 * t)):
            movie[t][(yy - y) ** 2 + (xx - x) ** 2 <= 49] = 1.0
    movie[4] = np.nan
    tracks, closed = _segment_and_track(movie, TrackingConfig(), tmp_path / "on")
    assert closed == 2 and tracks["track_id"].nunique() == 2
    assert sorted(set(tracks["t"])) == [0, 1, 2, 3, 5, 6, 7, 8]
    off = TrackingConfig.model_validate({"gap_closing": {"max_gap_frames": 0}})
    split, none_closed = _segment_and_track(movie, off, tmp_path / "off")
    assert none_closed == 0 and split["track_id"].nunique() == 4


@pytest.mark.parametrize(
    ("dropped", "n_tracks"),
    [([1], 3), ([2], 3), ([1, 2], 6), ([1, 3], 3), ([0, 2, 4], 3)],
    ids=[
        "frame 0 alone",
        "two frames at the end",
        "a gap of two",
        "every other frame",
        "frames 1 and 3 alone",
    ],
)
def test_frames_between_dropped_frames_keep_their_nuclei(
    dropped: list[int], n_tracks: int, tmp_path: Path
) -> None:
    """Three fixed nuclei in 5 frames, the frames ``dropped`` all NaN (QC drops them). ultrack charges a
    track that starts or ends away from the movie's first and last frame and rewards links only, so a
    frame between dropped frames (or a dropped frame and the movie's end) had nothing to pay for its
    nuclei: frame 0 before a dropped frame 1 lost all 3, the 2 frames after a dropped frame 2 kept 2 of
    3 (a link paid exactly one start), with exit 0; with no two frames in a row ultrack failed ("nodes
    solution is empty"). Now ultrack is given the frames with foreground, linking across gaps of up to
    gap_closing.max_gap_frames (a gap of two stays cut): every frame keeps its nuclei, painted in the
    labels under the CSV's track ids, each row's parent_id the track's previous row; with gap closing off
    the nuclei stay too, the tracks cut at each dropped frame."""
    n_t, size = 5, 64
    yy, xx = np.mgrid[:size, :size]
    movie = np.full((n_t, size, size), 120.0, dtype=np.float32)
    centres = ((16, 16), (40, 20), (30, 46))
    for t in range(n_t):
        for y, x in centres:
            movie[t][(yy - y) ** 2 + (xx - x) ** 2 <= 49] = 520.0
    movie[dropped] = np.nan
    config = TrackingConfig()
    maps = tracking_maps(movie, config.maps, min_area_px=config.segmentation.min_area_px)
    labels = np.zeros((n_t, 1, 1, size, size), dtype=np.uint32)
    tracks, _ = segment_and_track(maps, config, LabelFrameWriter(labels, 0, 1), tmp_path, "A/1/0")
    kept = [t for t in range(n_t) if t not in dropped]
    assert [int((tracks["t"] == t).sum()) for t in range(n_t)] == [
        0 if t in dropped else 3 for t in range(n_t)
    ]
    assert tracks["track_id"].nunique() == n_tracks and tracks["id"].is_unique
    for t in range(n_t):
        painted = set(np.unique(labels[t, 0, 0])) - {0}
        assert painted == set(tracks.loc[tracks["t"] == t, "track_id"]), t
        for y, x in centres:  # each nucleus painted with its row's track id
            row = tracks[(tracks["t"] == t) & (tracks["y"].round() == y) & (tracks["x"].round() == x)]
            assert len(row) == (1 if t in kept else 0)
            if t in kept:
                assert labels[t, 0, 0, y, x] == row["track_id"].iloc[0]
    for _, rows in tracks.sort_values("t").groupby("track_id"):
        assert rows["parent_id"].tolist()[1:] == rows["id"].tolist()[:-1]
    off = TrackingConfig.model_validate({"gap_closing": {"max_gap_frames": 0}})
    cut, closed = segment_and_track(maps, off, LabelFrameWriter(labels, 0, 1), tmp_path / "off", "A/1/0")
    assert [int((cut["t"] == t).sum()) for t in range(n_t)] == [0 if t in dropped else 3 for t in range(n_t)]
    runs = sum(1 for t in kept if t - 1 not in kept)
    assert closed == 0 and cut["track_id"].nunique() == 3 * runs


@pytest.fixture(scope="module")
def blank_frame_plate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A simulated FOV whose nuclear channel is blank (zero: a shutter failure) at frame BLANK_T."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    root = tmp_path_factory.mktemp("blank_frame")
    paths = {"plate": root / "raw.zarr", "labels": root / "labels.zarr"}
    simulate_plate(
        SimulateConfig.model_validate(SIMULATE),
        SimulateOutputs(
            plate=paths["plate"],
            tracks=root / "truth.parquet",
            labels=paths["labels"],
            phase=root / "phase.zarr",
        ),
    )
    with open_ome_zarr(paths["plate"], layout="hcs", mode="r+") as plate:
        position = plate[FOV]
        c = position.get_channel_index("Nuclei")
        image = position["0"]
        image[BLANK_T, c] = np.zeros(image.shape[2:], dtype=image.dtype)
    return paths


@pytest.mark.parametrize("max_gap_frames", [None, 0])  # the default, and off
def test_a_blank_frame_leaves_tracks_joined_across_it(
    blank_frame_plate: dict[str, Path], max_gap_frames: int | None, tmp_path: Path
) -> None:
    """End to end (track_fov): a blank frame cut every track of the FOV in two (no track spanned it),
    exit 0. With the default gap closing each true cell detected on both sides of it keeps one track
    (its labels carry one id before and after; no row, no label at the blank frame) and the record
    counts the gaps closed; off (0), the tracks are cut as before."""
    overrides = {} if max_gap_frames is None else {"gap_closing": {"max_gap_frames": max_gap_frames}}
    config = TrackingConfig.model_validate(overrides)
    plate, tracks_plate = blank_frame_plate["plate"], tmp_path / "tracks.zarr"
    create_tracks_plate(
        config,
        TracksPlateInputs(plate=plate),
        TracksPlateOutputs(tracks_plate=tracks_plate),
        channel="Nuclei",
    )
    record = fov_record_path(tmp_path / "records", FOV)
    tracks = track_fov(
        config,
        TrackFovInputs(plate=plate, tracks_plate=tracks_plate),
        TrackFovOutputs(tracks_csv=tmp_path / "tracks.csv", record=record),
        fov_name=FOV,
        scratch_dir=tmp_path / "scratch",
    )
    assert not (tracks["t"] == BLANK_T).any()
    with open_ome_zarr(tracks_plate / FOV, mode="r") as position:
        computed = {t: np.asarray(position["0"][t, 0, 0]) for t in (BLANK_T - 1, BLANK_T + 1)}
    with open_ome_zarr(blank_frame_plate["labels"] / FOV, mode="r") as position:
        true = {t: project_labels_to_2d(np.asarray(position["0"][t, 0])) for t in computed}
    # each true cell seen on both sides of the blank frame and detected on both: its track ids there
    sides = []
    for cell in (set(np.unique(true[BLANK_T - 1])) & set(np.unique(true[BLANK_T + 1]))) - {0}:
        ids = [int(np.bincount(computed[t][true[t] == cell]).argmax()) for t in computed]
        if 0 not in ids:
            sides.append(ids)
    assert len(sides) >= 4
    kept = sum(before == after for before, after in sides)
    _, metrics = read_fov_record(record, "tracks_fov")
    assert metrics["frames_without_foreground"] == [BLANK_T]  # constant: flagged by QC as well
    assert BLANK_T in metrics["empty_frames"]
    assert not list((tmp_path / "scratch").rglob("data.db"))  # each solve's database removed (off: two)
    if max_gap_frames == 0:
        assert not list((tmp_path / "scratch").glob("frames_*"))
        assert kept == 0 and metrics["gaps_closed"] == 0
    else:
        assert kept == len(sides) and metrics["gaps_closed"] >= kept
        rows = tracks[tracks["track_id"].isin([ids[0] for ids in sides])]
        assert set(rows["t"]) >= {BLANK_T - 1, BLANK_T + 1}  # the CSV holds the joined tracks too


def _three_nuclei_movie(dim_frames: list[int], n_t: int = 5, size: int = 64) -> np.ndarray:
    """Three fixed nuclei (520 over 120, noise sigma 5); in ``dim_frames`` they are at 200 only: 16
    noise sigmas up (signal), below the FOV's threshold (no foreground)."""
    yy, xx = np.mgrid[:size, :size]
    movie = np.full((n_t, size, size), 120.0, dtype=np.float32)
    for t in range(n_t):
        for y, x in ((16, 16), (40, 20), (30, 46)):
            movie[t][(yy - y) ** 2 + (xx - x) ** 2 <= 49] = 200.0 if t in dim_frames else 520.0
    return movie + np.random.default_rng(0).normal(0, 5, movie.shape).astype(np.float32)


def test_a_dim_frame_left_out_of_the_solves_is_recorded_warned_of_and_in_the_qc_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A frame whose nuclei are too dim for the FOV's threshold has signal (not in
    frames_without_signal), is not dropped, and gets no foreground: ultrack's solves leave it out
    (since frames without foreground are not given to ultrack), yet the record and qc.csv named it
    nowhere, the FOV ``ok`` without a word. The record now lists the frames left out
    (``frames_without_foreground``), the QC table's tracking row shows them, and the job names the
    frame at WARNING; an FOV whose every frame has foreground lists none and warns of none."""
    from plate_helpers import write_plate

    from dynaclr.io import ArtifactKind
    from dynaclr.qc import QC_COLUMNS, qc_row

    dim, intact = "A/1/0", "A/1/1"
    plate = write_plate(tmp_path / "raw.zarr", [dim, intact], ["Nuclei"], (5, 1, 1, 64, 64))
    with open_ome_zarr(plate, layout="hcs", mode="r+") as opened:
        opened[dim]["0"][:, 0, 0] = _three_nuclei_movie([2])
        opened[intact]["0"][:, 0, 0] = _three_nuclei_movie([])
    config, tracks_plate = TrackingConfig(), tmp_path / "tracks.zarr"
    create_tracks_plate(
        config,
        TracksPlateInputs(plate=plate),
        TracksPlateOutputs(tracks_plate=tracks_plate),
        channel="Nuclei",
    )
    rows = {}
    for fov in (dim, intact):
        record = fov_record_path(tmp_path / "records", fov)
        caplog.clear()
        with caplog.at_level("WARNING", logger="dynaclr.tracking.fov"):
            tracks = track_fov(
                config,
                TrackFovInputs(plate=plate, tracks_plate=tracks_plate),
                TrackFovOutputs(tracks_csv=tmp_path / f"{fov.replace('/', '_')}.csv", record=record),
                fov_name=fov,
                scratch_dir=tmp_path / "scratch" / fov,
            )
        _, metrics = read_fov_record(record, "tracks_fov")
        warnings = [r.getMessage() for r in caplog.records if "no foreground" in r.getMessage()]
        if fov == dim:
            assert metrics["frames_without_signal"] == [] and metrics["dropped_frames"] == []
            assert metrics["empty_frames"] == []
            assert metrics["frames_without_foreground"] == [2]
            assert not (tracks["t"] == 2).any() and set(tracks["t"]) == {0, 1, 3, 4}
            assert len(warnings) == 1 and "frames [2] have no foreground" in warnings[0]
            assert f"FOV {dim}" in warnings[0]
        else:
            assert metrics["frames_without_foreground"] == [] and not warnings
        rows[fov] = qc_row(ArtifactKind.TRACKS_FOV, record, metrics, "tracking")
    assert "frames_without_foreground" in QC_COLUMNS
    assert rows[dim]["frames_without_foreground"] == "2" and rows[dim]["frames_without_signal"] == ""
    # its cells are lost at frame 2: reduced, the reason naming it (test_missing_data.py has more)
    assert rows[dim]["status"] == "reduced" and "frames 2 without nuclei" in rows[dim]["reason"]
    assert rows[intact]["status"] == "ok"
    assert rows[intact]["frames_without_foreground"] == ""
    older = {k: v for k, v in metrics.items() if k != "frames_without_foreground"}  # a record before it
    assert qc_row(ArtifactKind.TRACKS_FOV, record, older, "tracking")["frames_without_foreground"] == ""


@pytest.mark.parametrize(
    ("xs", "expected"),
    [
        # ends x=0 (1), x=14 (2); starts x=2 (3), x=-300 (4): 3 continues 1 (2 px), not 2 (12 px)
        ((0.0, 14.0, 2.0, -300.0), {1: [1, 3], 2: [2], 4: [4]}),
        # ends x=0 (1), x=30 (2); starts x=12 (3), x=-200 (4): 3 continues 1 (12 px), the one pair within
        ((0.0, 30.0, 12.0, -200.0), {1: [1, 3], 2: [2], 4: [4]}),
    ],
    ids=["far_cell_changed_the_pair", "far_cell_left_none"],
)
def test_cells_beyond_the_distance_do_not_change_the_pairs_within_it(
    xs: tuple[float, float, float, float], expected: dict[int, list[int]]
) -> None:
    """The assignment ran on every distance and cut at max_distance_px afterwards, so a far start made
    the nearest pair lose: track 3 was joined to track 2 (12 px) instead of track 1 (2 px), or to none
    though 12 px is within 15. Pairs beyond the distance now take no part in the assignment."""
    tracks = table(
        [
            (1, 0, 50.0, xs[0], NO_PARENT, 10),
            (2, 0, 50.0, xs[1], NO_PARENT, 20),
            (3, 2, 50.0, xs[2], NO_PARENT, 30),
            (4, 2, 50.0, xs[3], NO_PARENT, 40),
        ]
    )
    joined, closed = close_gaps(tracks, max_gap_frames=1, max_distance_px=15.0)
    assert closed == 1
    parts = joined.assign(old=tracks["track_id"]).groupby("track_id")["old"].apply(sorted).to_dict()
    assert parts == expected
    assert joined.loc[tracks["track_id"] == 3, "parent_id"].tolist() == [10]


def parts_of(tracks: pd.DataFrame, joined: pd.DataFrame) -> dict[int, list[int]]:
    """``{joined track: [given tracks it is made of]}``."""
    return (
        joined.assign(old=tracks["track_id"])
        .groupby("track_id")["old"]
        .apply(lambda o: sorted(set(o)))
        .to_dict()
    )


def an_end_and_two_starts(
    x_2: float, x_3: float, last_t: int = 5
) -> list[tuple[int, int, float, float, int, int]]:
    """``table`` rows: track 1 at x=30 ending at t=2, tracks 2 and 3 at ``x_2`` and ``x_3`` from t=4
    (one missing frame) to ``last_t``, all at y=30 and without a mother."""
    return (
        [(1, t, 30.0, 30.0, NO_PARENT, t) for t in range(3)]
        + [(2, t, 30.0, x_2, NO_PARENT, 10 + t) for t in range(4, last_t + 1)]
        + [(3, t, 30.0, x_3, NO_PARENT, 20 + t) for t in range(4, last_t + 1)]
    )


def test_a_division_during_the_missing_frame_is_not_recovered() -> None:
    """A mother (track 1) ends at t=2 and divides during the missing frame: her daughters (2 at 9 px,
    3 at 10 px) start at t=4 without a mother. Gap closing makes no division: the mother is continued
    by the nearer daughter and the other starts without one (the limit the docs state); a third track
    ending beside daughter 3 (6) continues her, each end its nearest start."""
    tracks = table(an_end_and_two_starts(21.0, 40.0))
    joined, closed = close_gaps(tracks, max_gap_frames=1, max_distance_px=15.0)
    assert closed == 1 and (joined["parent_track_id"] == NO_PARENT).all()
    assert parts_of(tracks, joined) == {1: [1, 2], 3: [3]}
    crowded = table(
        an_end_and_two_starts(21.0, 39.0) + [(6, t, 30.0, 45.0, NO_PARENT, 60 + t) for t in range(3)]
    )
    joined, closed = close_gaps(crowded, max_gap_frames=1, max_distance_px=15.0)
    assert closed == 2 and (joined["parent_track_id"] == NO_PARENT).all()
    assert dict(zip(crowded["track_id"], joined["track_id"], strict=True)) == {1: 1, 2: 1, 3: 6, 6: 6}


def test_a_moved_cell_beside_a_newcomer_is_no_division() -> None:
    """Reviewer's case: cell 1 ends at x=30 (t=2), its continuation 2 starts at x=32 and a newcomer 3
    at x=44 (t=4), both within 15 px of 1 alone. A rule taking them for 1's daughters made a false
    division with exit 0; 1 is joined to 2 and 3 stays alone, without a mother."""
    tracks = table(an_end_and_two_starts(32.0, 44.0, last_t=7))
    joined, closed = close_gaps(tracks, max_gap_frames=1, max_distance_px=15.0)
    assert closed == 1 and (joined["parent_track_id"] == NO_PARENT).all()
    assert parts_of(tracks, joined) == {1: [1, 2], 3: [3]}
    assert joined.loc[(tracks["track_id"] == 2) & (tracks["t"] == 4), "parent_id"].tolist() == [2]
    assert joined.loc[tracks["track_id"] == 3, "parent_id"].tolist()[0] == NO_PARENT


def test_a_longer_gap_keeps_its_continuation_beside_a_shorter_one() -> None:
    """Reviewer's case, gaps of up to 2 frames: track 9 ends at t=0 (x=44) and continues as 3 at t=3
    (x=44); track 1 ends at t=1 (x=30) and continues as 2 at t=3 (x=31). Near no other end *of its
    frame*, 2 and 3 were made 1's daughters and 9 was left cut; the pairs are 1+2 and 9+3."""
    tracks = table(
        [(1, t, 30.0, 30.0, NO_PARENT, t) for t in range(2)]
        + [(9, 0, 30.0, 44.0, NO_PARENT, 90)]
        + [(2, t, 30.0, 31.0, NO_PARENT, 10 + t) for t in range(3, 5)]
        + [(3, t, 30.0, 44.0, NO_PARENT, 20 + t) for t in range(3, 5)]
    )
    joined, closed = close_gaps(tracks, max_gap_frames=2, max_distance_px=15.0)
    assert closed == 2 and (joined["parent_track_id"] == NO_PARENT).all()
    assert parts_of(tracks, joined) == {1: [1, 2], 9: [3, 9]}
    firsts = joined[tracks["t"] == 3].set_index(tracks.loc[tracks["t"] == 3, "track_id"])["parent_id"]
    assert firsts.to_dict() == {2: 1, 3: 90}
