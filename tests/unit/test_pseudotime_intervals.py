"""DTW pseudo-time of datasets recorded at other frame intervals: the tables state each dataset's
interval and give the onset errors and pseudo-times in hours beside the frames, so that the
collected tables (every model and dataset in one file) never mix frames of other durations unseen."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from dynaclr.config.analysis import PseudotimeConfig
from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.io import ArtifactKind, make_provenance, read_table, write_table
from dynaclr.pseudotime.collect import CollectPseudotimeInputs, CollectPseudotimeOutputs, collect_pseudotime
from dynaclr.pseudotime.stage import (
    DTW_ACCURACY_COLUMNS,
    AlignPseudotimeInputs,
    AlignPseudotimeOutputs,
    frame_interval_minutes,
    pseudotime_stage,
    read_dtw_accuracy,
)
from dynaclr.pseudotime.synthetic import planted_infection_embeddings


@pytest.fixture(scope="module")
def planted() -> dict:
    features, truth = planted_infection_embeddings(
        n_fovs=2, tracks_per_fov=8, n_frames=24, noise=0.08, seed=5
    )
    return {"features": features, "truth": truth}


@pytest.fixture(scope="module")
def aligned(planted, tmp_path_factory) -> dict[str, AlignPseudotimeOutputs]:
    """The planted cells aligned as a dataset recorded every 30 min, one every 5 min and one whose
    plate records no interval (each aligned once for the tests below)."""
    tmp_path = tmp_path_factory.mktemp("aligned")
    return {
        name: _align(planted, tmp_path, name, minutes)
        for name, minutes in (("every_30_min", 30.0), ("every_5_min", 5.0), ("unknown", None))
    }


def _align(planted: dict, tmp_path, dataset: str, minutes: float | None):
    """Align the planted cells as dataset ``dataset`` whose cells' ``time_minutes`` are ``t`` x
    ``minutes`` (NaN: the plate records no interval)."""
    truth = planted["truth"]
    cells = truth.assign(time_minutes=truth["t"] * (np.nan if minutes is None else minutes))
    identity = {"model": "planted", "dataset": dataset}
    store = tmp_path / f"{dataset}.zarr"
    write_embeddings(
        build_anndata(planted["features"], cells, info=identity),
        store,
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )
    tracks = tmp_path / f"{dataset}_tracks.parquet"
    write_table(truth, tracks, make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    outputs = AlignPseudotimeOutputs(
        pseudotime=tmp_path / "pseudotime" / f"{dataset}.parquet",
        accuracy=tmp_path / "dtw" / f"{dataset}.csv",
    )
    pseudotime_stage(
        PseudotimeConfig(), AlignPseudotimeInputs(embeddings=store, tracks=tracks), outputs, **identity
    )
    return outputs


def test_collected_tables_state_each_datasets_interval_and_the_errors_in_hours(aligned, tmp_path):
    """The same cells recorded every 30 min and every 5 min align frame for frame alike: their onset
    errors in frames are equal, in hours six times apart. The collected tables held frames only, with
    nothing saying that a frame of one dataset is six of the other's."""
    slow, fast = aligned["every_30_min"], aligned["every_5_min"]
    outputs = CollectPseudotimeOutputs(
        pseudotime=tmp_path / "pseudotime.parquet", accuracy=tmp_path / "dtw.csv"
    )
    collect_pseudotime(
        CollectPseudotimeInputs(
            pseudotime=(slow.pseudotime, fast.pseudotime), accuracy=(slow.accuracy, fast.accuracy)
        ),
        outputs,
    )
    accuracy = read_dtw_accuracy(outputs.accuracy)
    minutes = accuracy.groupby("dataset")["time_interval_minutes"].unique().to_dict()
    assert {d: v.tolist() for d, v in minutes.items()} == {"every_30_min": [30.0], "every_5_min": [5.0]}
    scored = accuracy.dropna(subset=["abs_onset_error_frames"])
    assert len(scored) and scored["abs_onset_error_frames"].gt(0).any()
    np.testing.assert_allclose(
        scored["abs_onset_error_hours"],
        scored["abs_onset_error_frames"] * scored["time_interval_minutes"] / 60,
    )
    np.testing.assert_allclose(
        scored["onset_error_hours"], scored["onset_error_frames"] * scored["time_interval_minutes"] / 60
    )
    by_dataset = scored.groupby("dataset")[["abs_onset_error_frames", "abs_onset_error_hours"]].mean()
    assert by_dataset.loc["every_30_min", "abs_onset_error_frames"] == pytest.approx(
        by_dataset.loc["every_5_min", "abs_onset_error_frames"]
    )
    assert by_dataset.loc["every_30_min", "abs_onset_error_hours"] == pytest.approx(
        6 * by_dataset.loc["every_5_min", "abs_onset_error_hours"]
    )
    pseudotime, _ = read_table(outputs.pseudotime, ArtifactKind.PSEUDOTIME)
    matched = pseudotime.dropna(subset=["pseudotime"])
    assert len(matched)
    np.testing.assert_allclose(
        matched["pseudotime_hours"], matched["pseudotime"] * matched["time_interval_minutes"] / 60
    )
    assert set(matched["time_interval_minutes"]) == {30.0, 5.0}
    _, job = read_table(slow.pseudotime, ArtifactKind.PSEUDOTIME)
    assert job.config["time_interval_minutes"] == 30.0


def test_a_dataset_whose_interval_is_not_recorded_keeps_frames_and_no_hours(aligned):
    outputs = aligned["unknown"]
    accuracy = read_dtw_accuracy(outputs.accuracy)
    assert accuracy["abs_onset_error_frames"].notna().any()
    assert (
        accuracy[["time_interval_minutes", "onset_error_hours", "abs_onset_error_hours"]].isna().all().all()
    )
    pseudotime, provenance = read_table(outputs.pseudotime, ArtifactKind.PSEUDOTIME)
    assert pseudotime["pseudotime_hours"].isna().all() and pseudotime["pseudotime"].notna().any()
    assert provenance.config["time_interval_minutes"] is None


def test_cell_times_that_are_not_frames_of_one_interval_are_refused_naming_the_store():
    cells = pd.DataFrame({"t": [0, 1, 2, 3], "time_minutes": [0.0, 30.0, 60.0, 100.0]})
    with pytest.raises(ValueError, match=r"store\.zarr.*time_minutes.*30.*33\.3"):
        frame_interval_minutes(cells, "store.zarr")
    assert frame_interval_minutes(cells.iloc[:3], "store.zarr") == pytest.approx(30.0)
    assert frame_interval_minutes(cells.drop(columns="time_minutes"), "store.zarr") is None
    assert frame_interval_minutes(cells.iloc[:1], "store.zarr") is None  # one time point: no interval


def test_an_accuracy_table_written_before_the_hours_reads_them_as_not_known(aligned, tmp_path):
    table = pd.read_csv(aligned["every_30_min"].accuracy)
    added = ["time_interval_minutes", "onset_error_hours", "abs_onset_error_hours"]
    table.drop(columns=added).to_csv(tmp_path / "old.csv", index=False)
    old = read_dtw_accuracy(tmp_path / "old.csv")
    assert list(old.columns) == list(DTW_ACCURACY_COLUMNS)
    assert old[added].isna().all().all()


def test_dtw_keys_in_frames_over_datasets_of_other_intervals_are_warned_at_planning():
    """One analysis.pseudotime for a 30-min and a 5-min dataset: its 7-frame reference window is 3.5 h
    on one and 35 min on the other, which nothing said. The plan warns, naming each dataset's interval
    and window; datasets of one interval say nothing."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.plate_checks import simulated_layout, workflow_warnings
    from dynaclr.config.workflow import WorkflowConfig

    def dtw_warnings(config: dict) -> list[str]:
        validated = WorkflowConfig.model_validate(config)
        layouts = {
            name: simulated_layout(dataset.simulate, f"results/{name}/raw.zarr")
            for name, dataset in validated.datasets.items()
            if dataset.simulate is not None
        }
        return [w for w in workflow_warnings(validated, layouts) if w.startswith("analysis.pseudotime")]

    config = tiny_workflow_config()
    fast = copy.deepcopy(config["datasets"]["tiny"])
    fast["simulate"]["time_interval_minutes"] = 5.0
    config["datasets"]["fast"] = fast
    (warning,) = dtw_warnings(config)
    assert "'tiny' 30 min (window 3.5 h, queries of at least 3 h)" in warning
    assert "'fast' 5 min (window 35 min, queries of at least 30 min)" in warning
    assert "abs_onset_error_hours" in warning
    fast["simulate"]["time_interval_minutes"] = 30.0
    assert dtw_warnings(config) == []
