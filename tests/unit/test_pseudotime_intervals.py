"""DTW pseudo-time of datasets recorded at other frame intervals: the tables state each dataset's
interval and give the onset errors and pseudo-times in hours beside the frames, so that the
collected tables (every model and dataset in one file) never mix frames of other durations unseen.
One stage run (a 30-min store) checks the columns and the record; the rest calls the helpers on
tables written here, which keeps this file to a few seconds."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from dynaclr.config.analysis import PseudotimeConfig
from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.io import ArtifactKind, make_provenance, read_table, write_csv, write_table
from dynaclr.io.plate import TIME_INTERVAL_TOLERANCE
from dynaclr.pseudotime.collect import CollectPseudotimeInputs, CollectPseudotimeOutputs, collect_pseudotime
from dynaclr.pseudotime.stage import (
    DTW_ACCURACY_COLUMNS,
    PSEUDOTIME_COLUMNS,
    AlignPseudotimeInputs,
    AlignPseudotimeOutputs,
    frame_interval_minutes,
    frames_in_hours,
    pseudotime_stage,
    read_dtw_accuracy,
)
from dynaclr.pseudotime.synthetic import planted_infection_embeddings


@pytest.fixture(scope="module")
def every_30_min(tmp_path_factory) -> AlignPseudotimeOutputs:
    """Planted infected cells aligned as a dataset recorded every 30 min (the one stage run here)."""
    tmp_path = tmp_path_factory.mktemp("aligned")
    features, truth = planted_infection_embeddings(
        n_fovs=2, tracks_per_fov=6, n_frames=16, noise=0.3, transition_width_frames=2.0, seed=5
    )
    cells = truth.assign(time_minutes=truth["t"] * 30.0)
    identity = {"model": "planted", "dataset": "every_30_min"}
    store = tmp_path / "store.zarr"
    write_embeddings(
        build_anndata(features, cells, info=identity),
        store,
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )
    tracks = tmp_path / "tracks.parquet"
    write_table(truth, tracks, make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    outputs = AlignPseudotimeOutputs(
        pseudotime=tmp_path / "pseudotime.parquet", accuracy=tmp_path / "dtw.csv"
    )
    config = PseudotimeConfig(
        reference_frames_before_onset=3, reference_frames_after_onset=3, min_query_frames=4
    )
    pseudotime_stage(config, AlignPseudotimeInputs(embeddings=store, tracks=tracks), outputs, **identity)
    return outputs


def test_the_stage_writes_the_interval_and_the_times_in_hours(every_30_min):
    accuracy = read_dtw_accuracy(every_30_min.accuracy)
    assert set(accuracy["time_interval_minutes"]) == {30.0}
    scored = accuracy.dropna(subset=["abs_onset_error_frames"])
    assert len(scored) and scored["abs_onset_error_frames"].gt(0).any()
    np.testing.assert_allclose(scored["abs_onset_error_hours"], scored["abs_onset_error_frames"] / 2)
    np.testing.assert_allclose(scored["onset_error_hours"], scored["onset_error_frames"] / 2)
    pseudotime, provenance = read_table(every_30_min.pseudotime, ArtifactKind.PSEUDOTIME)
    matched = pseudotime.dropna(subset=["pseudotime"])
    assert len(matched) and set(pseudotime["time_interval_minutes"]) == {30.0}
    np.testing.assert_allclose(matched["pseudotime_hours"], matched["pseudotime"] / 2)
    assert provenance.config["time_interval_minutes"] == 30.0


def _tables(dataset: str, minutes: float, errors: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A hand-written job's pseudo-time and accuracy tables of lineages with onset ``errors``."""
    n = len(errors)
    frames = np.asarray(errors, dtype=np.float64)
    shared = {  # the columns both tables have
        "model": "m",
        "dataset": dataset,
        "fov_name": "A/1/0",
        "query_id": [f"q{i}" for i in range(n)],
        "time_interval_minutes": minutes,
    }
    accuracy = pd.DataFrame({column: [np.nan] * n for column in DTW_ACCURACY_COLUMNS}).assign(
        **shared,
        is_reference_series=False,
        has_observed_onset=True,
        onset_error_frames=frames,
        abs_onset_error_frames=np.abs(frames),
        onset_source="ground truth",
        state_source="infection state from ground truth",
        state_event_position="reaches",
        not_computed="",
        onset_error_hours=frames_in_hours(frames, minutes),
        abs_onset_error_hours=frames_in_hours(np.abs(frames), minutes),
    )
    pseudotime = pd.DataFrame({column: [np.nan] * n for column in PSEUDOTIME_COLUMNS}).assign(
        **shared,
        pseudotime=frames,
        state_reaches_event=pd.array([True] * n, dtype="boolean"),
        pseudotime_hours=frames_in_hours(frames, minutes),
    )
    return pseudotime, accuracy


def test_collected_tables_keep_each_datasets_interval_and_hours(tmp_path):
    """Two jobs of one error in frames, recorded every 30 and every 5 min: the collected tables keep
    each dataset's interval, so its errors read six times apart in hours."""
    paths: dict[str, list] = {"pseudotime": [], "accuracy": []}
    for dataset, minutes in (("every_30_min", 30.0), ("every_5_min", 5.0)):
        pseudotime, accuracy = _tables(dataset, minutes, [1.0, -2.0])
        paths["pseudotime"].append(tmp_path / f"{dataset}.parquet")
        paths["accuracy"].append(tmp_path / f"{dataset}.csv")
        write_table(pseudotime, paths["pseudotime"][-1], make_provenance(ArtifactKind.PSEUDOTIME, {}))
        write_csv(accuracy, paths["accuracy"][-1])
    outputs = CollectPseudotimeOutputs(
        pseudotime=tmp_path / "pseudotime.parquet", accuracy=tmp_path / "dtw.csv"
    )
    collect_pseudotime(
        CollectPseudotimeInputs(pseudotime=tuple(paths["pseudotime"]), accuracy=tuple(paths["accuracy"])),
        outputs,
    )
    accuracy = read_dtw_accuracy(outputs.accuracy)
    means = accuracy.groupby("dataset")[["time_interval_minutes", "abs_onset_error_hours"]].mean()
    assert means["time_interval_minutes"].to_dict() == {"every_30_min": 30.0, "every_5_min": 5.0}
    assert means["abs_onset_error_hours"].to_dict() == pytest.approx(
        {"every_30_min": 0.75, "every_5_min": 0.125}
    )
    pseudotime, _ = read_table(outputs.pseudotime, ArtifactKind.PSEUDOTIME)
    hours = pseudotime.groupby("dataset")["pseudotime_hours"].apply(list).to_dict()
    assert hours == {"every_30_min": [0.5, -1.0], "every_5_min": pytest.approx([1 / 12, -1 / 6])}


def test_a_dataset_whose_interval_is_not_recorded_keeps_frames_and_no_hours():
    cells = pd.DataFrame({"fov_name": ["A/1/0"] * 3, "t": [0, 1, 2], "time_minutes": [np.nan] * 3})
    assert frame_interval_minutes(cells, "store.zarr") is None
    assert frame_interval_minutes(cells.drop(columns="time_minutes"), "store.zarr") is None
    assert np.isnan(frames_in_hours(np.array([1.0, 2.0]), None)).all()
    np.testing.assert_allclose(frames_in_hours(np.array([1.0, -2.0]), 30.0), [0.5, -1.0])


def _cells(intervals: dict[str, float], n_frames: int = 4) -> pd.DataFrame:
    """Cells of FOVs (name: their frame interval, minutes) at frames 0..n_frames-1."""
    return pd.concat(
        pd.DataFrame(
            {"fov_name": fov, "t": np.arange(n_frames), "time_minutes": np.arange(n_frames) * minutes}
        )
        for fov, minutes in intervals.items()
    )


def test_fovs_of_one_plate_whose_scales_differ_by_rounding_give_their_median_interval():
    """A plate without a time_interval_minutes attribute gives each FOV its own T scale; the plate
    check lets them differ in the 7th digit (1800 s and 1800.004 s). Refused before as "intervals from
    30 to 30.0001 min": those FOVs are one interval, the median taken."""
    cells = _cells({"A/1/0": 1800 / 60, "A/1/1": 1800.004 / 60, "A/2/0": 1800.001 / 60})
    assert frame_interval_minutes(cells, "store.zarr") == pytest.approx(1800.001 / 60, rel=1e-12)
    within = _cells({"A/1/0": 30.0, "A/1/1": 30.0 * (1 + 0.9 * TIME_INTERVAL_TOLERANCE)})
    assert frame_interval_minutes(within, "store.zarr") == pytest.approx(30.0, rel=TIME_INTERVAL_TOLERANCE)
    one_frame = pd.concat([_cells({"A/1/0": 30.0}), _cells({"B/1/0": 0.0}, n_frames=1)])
    assert frame_interval_minutes(one_frame, "store.zarr") == pytest.approx(30.0)
    assert frame_interval_minutes(_cells({"A/1/0": 0.0}, n_frames=1), "store.zarr") is None


def test_fovs_of_other_intervals_are_refused_naming_them_and_the_plate_to_fix():
    cells = _cells({"A/1/0": 30.0, "A/1/1": 30.0, "B/1/0": 5.0, "B/1/1": 30.09})
    with pytest.raises(ValueError) as refused:
        frame_interval_minutes(cells, "store.zarr")
    message = str(refused.value)
    assert message.startswith("store.zarr: obs column time_minutes")
    assert "FOVs B/1/0 (5 min), B/1/1 (30.09 min)" in message
    assert "off the 4 FOVs' median of 30 min (2 within it)" in message
    assert "A/1/0" not in message
    assert "time_interval_minutes attribute" in message and "--forcerun extract_patches" in message


def test_times_that_are_not_frames_of_one_interval_in_a_fov_are_refused_naming_it():
    cells = pd.DataFrame({"fov_name": "A/1/0", "t": [0, 1, 2, 3], "time_minutes": [0.0, 30.0, 60.0, 100.0]})
    with pytest.raises(ValueError, match=r"store\.zarr.*time_minutes.*FOV A/1/0.*30.*33\.3"):
        frame_interval_minutes(cells, "store.zarr")
    assert frame_interval_minutes(cells.iloc[:3], "store.zarr") == pytest.approx(30.0)


def test_a_store_with_times_in_some_fovs_only_is_refused_naming_the_fovs_without():
    """The positions of one plate state one interval (the plate check), so a store whose FOVs have
    times and others none was not written from one plate's state: its hours would be of some FOVs."""
    cells = _cells({"A/1/0": 30.0, "A/1/1": np.nan, "A/2/0": np.nan})
    with pytest.raises(ValueError, match=r"store\.zarr.*time_minutes.*2 FOVs without times \(A/1/1, A/2/0\)"):
        frame_interval_minutes(cells, "store.zarr")


def test_an_accuracy_table_written_before_the_hours_reads_them_as_not_known(tmp_path):
    _, table = _tables("old", 30.0, [1.0])
    added = ["time_interval_minutes", "onset_error_hours", "abs_onset_error_hours"]
    table.drop(columns=added).to_csv(tmp_path / "old.csv", index=False)
    old = read_dtw_accuracy(tmp_path / "old.csv")
    assert list(old.columns) == list(DTW_ACCURACY_COLUMNS)
    assert old[added].isna().all().all() and old["abs_onset_error_frames"].tolist() == [1.0]


def _dtw_warnings(config: dict) -> list[str]:
    from dynaclr.config.plate_checks import simulated_layout, workflow_warnings
    from dynaclr.config.workflow import WorkflowConfig

    validated = WorkflowConfig.model_validate(config)
    layouts = {
        name: simulated_layout(dataset.simulate, f"results/{name}/raw.zarr")
        for name, dataset in validated.datasets.items()
        if dataset.simulate is not None
    }
    return [w for w in workflow_warnings(validated, layouts) if w.startswith("analysis.pseudotime")]


@pytest.fixture()
def two_intervals() -> dict:
    """The tiny workflow's dataset every 30 min and a copy of it every 5 min."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    fast = copy.deepcopy(config["datasets"]["tiny"])
    fast["simulate"]["time_interval_minutes"] = 5.0
    config["datasets"]["fast"] = fast
    return config


def test_dtw_keys_in_frames_over_datasets_of_other_intervals_are_warned_at_planning(two_intervals):
    """One analysis.pseudotime for a 30-min and a 5-min dataset: its 7-frame reference window is 3.5 h
    on one and 35 min on the other, which nothing said. The plan warns, naming each dataset's interval
    and window; datasets of one interval say nothing."""
    (warning,) = _dtw_warnings(two_intervals)
    assert "'tiny' 30 min (window 3.5 h; queries of at least 3 h)" in warning
    assert "'fast' 5 min (window 35 min; queries of at least 30 min)" in warning
    assert "abs_onset_error_hours" in warning
    two_intervals["datasets"]["fast"]["simulate"]["time_interval_minutes"] = 30.0
    assert _dtw_warnings(two_intervals) == []


def test_the_warning_gives_an_explicit_references_window_and_sliding_queries_of_its_length(two_intervals):
    """An explicit reference's window is its t_start..t_stop on its dataset (the others choose theirs
    automatically); with method sliding no query shorter than the reference is aligned."""
    pseudotime = two_intervals.setdefault("analysis", {}).setdefault("pseudotime", {})
    pseudotime["reference"] = {
        "dataset": "fast",
        "fov_name": "A/1/0",
        "track_id": 1,
        "t_start": 2,
        "t_stop": 14,
        "onset_t": 6,
    }
    (warning,) = _dtw_warnings(two_intervals)
    assert (
        "'fast' 5 min (reference t_start 2 to t_stop 14: 12 frames, 1 h; queries of at least 30 min)"
        in warning
    )
    assert "'tiny' 30 min (window 3.5 h; queries of at least 3 h)" in warning
    pseudotime["method"] = "sliding"
    (warning,) = _dtw_warnings(two_intervals)
    assert (
        "'fast' 5 min (reference t_start 2 to t_stop 14: 12 frames, 1 h; queries of at least 1 h)" in warning
    )
    assert "'tiny' 30 min (window 3.5 h; queries of at least 3.5 h)" in warning
