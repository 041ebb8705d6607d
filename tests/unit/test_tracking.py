"""Tracking stage on a tiny simulated plate: labels, CSV layout, collection, evaluation, errors."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from iohub.ngff import open_ome_zarr
from plate_helpers import (
    assert_image_layers_bracket_their_data,
    edit_position_metadata,
    reads_outside_position,
    record_metadata_reads,
)
from pydantic import ValidationError
from scipy import ndimage

from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.tracking import TrackingConfig, TrackingEvaluationConfig, TrackingMapsConfig
from dynaclr.io import ArtifactError, ArtifactKind, read_table, read_zarr_provenance
from dynaclr.io.plate import fov_record_path, read_fov_record
from dynaclr.qc import qc_row
from dynaclr.tracking import (
    LABELS_CHANNEL,
    CollectTracksInputs,
    CollectTracksOutputs,
    EvaluateTrackingInputs,
    EvaluateTrackingOutputs,
    TrackFovInputs,
    TrackFovOutputs,
    TracksPlateInputs,
    TracksPlateOutputs,
    collect_tracks,
    create_tracks_plate,
    evaluate_tracking,
    read_tracking_evaluation,
    track_fov,
)
from dynaclr.tracking.fov import LABEL_IMAGE, LabelFrameWriter
from dynaclr.tracking.maps import (
    fill_plateaus,
    foreground_threshold,
    normalize_percentiles,
    reduce_z,
    smooth_frames,
    tracking_maps,
    z_slices,
)
from dynaclr.tracking.nucleus_size import (
    AT_CAP_SHARE_KEY,
    AT_CAP_WARNING_SHARE,
    CHECK_LIMIT_KEY,
    PLAUSIBLE_DIAMETER_UM,
    TYPICAL_DIAMETER_UM,
    nucleus_size_metrics,
)

#: Like the shared tiny plate (tests/conftest.py), with an FOV imaged without the nuclear marker
#: (its Nuclei channel is constant: an FOV without nuclei) and a few more cells.
TRACKING_SIMULATE = {
    "seed": 5,
    "wells": [
        {"row": "A", "column": "1", "condition": "mock", "infected_fraction": 0.0},
        {"row": "B", "column": "1", "condition": "infected", "infected_fraction": 1.0},
    ],
    "fovs_per_well": 1,
    "n_frames": 12,
    "shape_zyx": [5, 96, 96],
    "z_step_um": 2.5,
    "nuclear_marker_fovs": ["A/1/0"],
    "cells": {"initial_cells_per_fov": 7, "entering_cells_per_frame": 0.2},
    "division": {"cycle_length_frames": 10},
    "infection": {"onset_frames": [2, 5], "translocation_frames": 3, "death_probability": 0.0},
}
CELLS_FOV, EMPTY_FOV = "A/1/0", "B/1/0"
CSV_COLUMNS_2D = ["track_id", "t", "y", "x", "id", "parent_track_id", "parent_id"]


def make_plate(raw: Path, config: TrackingConfig, tracks_plate: Path, channel: str = "Nuclei") -> list[str]:
    return create_tracks_plate(
        config, TracksPlateInputs(plate=raw), TracksPlateOutputs(tracks_plate=tracks_plate), channel=channel
    )


def track(raw: Path, config: TrackingConfig, tracks_plate: Path, root: Path, fov_name: str) -> pd.DataFrame:
    """Track one FOV; its CSV and record go under ``root`` (see :func:`csv_of`, :func:`record_of`)."""
    return track_fov(
        config,
        TrackFovInputs(plate=raw, tracks_plate=tracks_plate),
        TrackFovOutputs(tracks_csv=csv_of(root, fov_name), record=record_of(root, fov_name)),
        fov_name=fov_name,
        scratch_dir=root / "scratch" / fov_name,
    )


def csv_of(root: Path, fov_name: str) -> Path:
    return root / "tracks" / fov_name / f"tracks_{fov_name.replace('/', '_')}.csv"


def record_of(root: Path, fov_name: str) -> Path:
    return fov_record_path(root / "records", fov_name)


def collect(tracks_plate: Path, root: Path, fov_names: list[str], output: Path) -> pd.DataFrame:
    return collect_tracks(
        CollectTracksInputs(
            tracks_plate=tracks_plate,
            records=[record_of(root, name) for name in fov_names],
            tracks_csvs=[csv_of(root, name) for name in fov_names],
        ),
        CollectTracksOutputs(tracks=output),
    )


def evaluate(tracks_plate: Path, tracks: Path, labels: Path, truth: Path, csv: Path) -> pd.DataFrame:
    return evaluate_tracking(
        TrackingEvaluationConfig(),
        EvaluateTrackingInputs(tracks_plate=tracks_plate, tracks=tracks, labels=labels, truth=truth),
        EvaluateTrackingOutputs(table=csv, record=csv.with_suffix(".json")),
    )


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Simulate, create the label plate, track both FOVs, collect and evaluate (once per module)."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    root = tmp_path_factory.mktemp("tracking")
    paths = {
        "plate": root / "raw.zarr",
        "truth": root / "ground_truth" / "tracks.parquet",
        "labels": root / "ground_truth" / "labels.zarr",
        "tracks_plate": root / "tracks.zarr",
        "records": root / "records",
        "parquet": root / "tracks.parquet",
        "evaluation": root / "evaluation" / "tracking.csv",
    }
    simulate_plate(
        SimulateConfig.model_validate(TRACKING_SIMULATE),
        SimulateOutputs(
            plate=paths["plate"],
            tracks=paths["truth"],
            labels=paths["labels"],
            phase=root / "ground_truth" / "phase.zarr",
        ),
    )
    config = TrackingConfig()
    fov_names = make_plate(paths["plate"], config, paths["tracks_plate"])
    assert fov_names == [CELLS_FOV, EMPTY_FOV]
    for fov_name in fov_names:
        track(paths["plate"], config, paths["tracks_plate"], root, fov_name)
    collect(paths["tracks_plate"], root, fov_names, paths["parquet"])
    evaluate(paths["tracks_plate"], paths["parquet"], paths["labels"], paths["truth"], paths["evaluation"])
    paths["root"] = root
    return paths


def test_a_tracking_job_reads_no_metadata_outside_its_position(
    tracked: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One track_fov job per FOV (10,000 on a large plate): it reads the label plate's record and
    input channel in the FOV's own position (the plate's copy), the input plate as that record states
    it, and the FOV's positions: never another position's, a row's or well's metadata, nor either
    plate's root ``zarr.json`` (before, every job read both roots: the records and the channel)."""
    read = record_metadata_reads(monkeypatch)
    track(tracked["plate"], TrackingConfig(), tracked["tracks_plate"], tmp_path, EMPTY_FOV)
    assert any(path.parent == tracked["plate"] / EMPTY_FOV for path in read), read  # the recorder records
    assert reads_outside_position(read, [tracked["plate"], tracked["tracks_plate"]], EMPTY_FOV) == []
    provenance, _ = read_fov_record(record_of(tmp_path, EMPTY_FOV), "tracks_fov")
    input_plate = provenance.inputs[0]  # the raw plate, as the label plate's record states it
    assert (input_plate.path, input_plate.kind) == (str(tracked["plate"]), "raw_plate")


def test_tracks_match_the_ground_truth(tracked: dict[str, Path]) -> None:
    scores, provenance = read_tracking_evaluation(
        tracked["evaluation"], tracked["evaluation"].with_suffix(".json")
    )
    assert provenance.kind == "tracking_evaluation"
    assert scores["fov_name"].tolist() == [CELLS_FOV, EMPTY_FOV, "all"]
    cells = scores.set_index("fov_name").loc[CELLS_FOV]
    # measured on this plate: DET 0.97, TRA 0.97 (demo plate: DET 0.99, TRA 0.99)
    assert cells["det"] >= 0.95
    assert cells["tra"] >= 0.93
    assert cells["n_reference_vertices"] > 50
    empty = scores.set_index("fov_name").loc[EMPTY_FOV]
    assert empty["n_reference_vertices"] > 0 and empty["n_computed_vertices"] == 0  # no marker, no cells


def test_label_plate_layout_and_labels_agree_with_the_csv(tracked: dict[str, Path]) -> None:
    assert read_zarr_provenance(tracked["tracks_plate"], "tracks_plate").kind == "tracks_plate"
    table = pd.read_csv(csv_of(tracked["root"], CELLS_FOV))
    assert list(table.columns) == CSV_COLUMNS_2D
    assert len(table) > 50
    assert (table["parent_track_id"] == -1).any()
    for _, track in table.groupby("track_id"):
        # ultrack's convention: parent_id is the previous node of the track, or the mother's last
        # node for a daughter's first row; -1 (and parent_track_id -1) for a track without mother
        assert (track["parent_id"].to_numpy()[1:] == track["id"].to_numpy()[:-1]).all()
        assert (track["parent_track_id"].iloc[0] == -1) == (track["parent_id"].iloc[0] == -1)
    with open_ome_zarr(tracked["tracks_plate"], layout="hcs", mode="r") as plate:
        position = plate[CELLS_FOV]
        assert position.channel_names == [LABELS_CHANNEL]
        image = position["0"]
        assert image.dtype == np.uint32 and image.shape == (12, 1, 1, 96, 96)
        for t in (0, 6, 11):
            frame = np.asarray(image[t, 0, 0])
            rows = table[table["t"] == t]
            assert set(np.unique(frame)) - {0} == set(rows["track_id"])
            for row in rows.itertuples():
                ys, xs = np.nonzero(frame == row.track_id)
                assert ys.mean() == pytest.approx(row.y) and xs.mean() == pytest.approx(row.x)


def test_tracks_plate_opens_in_napari_with_the_tracks_as_a_labels_layer(tracked: dict[str, Path]) -> None:
    layers = assert_image_layers_bracket_their_data(tracked["tracks_plate"] / CELLS_FOV)
    with open_ome_zarr(tracked["tracks_plate"], layout="hcs", mode="r") as plate:
        image = np.asarray(plate[CELLS_FOV]["0"])
    label_layers = [(data, props) for data, props, kind in layers if kind == "labels"]
    assert [props["name"] for _, props in label_layers] == [LABEL_IMAGE]
    np.testing.assert_array_equal(label_layers[0][0], image[:, 0])
    assert label_layers[0][0].max() > 0


def test_empty_fov_gives_empty_schema_valid_outputs(tracked: dict[str, Path]) -> None:
    table = pd.read_csv(csv_of(tracked["root"], EMPTY_FOV))
    assert list(table.columns) == CSV_COLUMNS_2D and len(table) == 0
    with open_ome_zarr(tracked["tracks_plate"], layout="hcs", mode="r") as plate:
        assert not np.asarray(plate[EMPTY_FOV]["0"]).any()
    provenance, metrics = read_fov_record(record_of(tracked["root"], EMPTY_FOV), "tracks_fov")
    assert provenance.kind == "tracks_fov"
    assert metrics["n_tracks"] == 0 and metrics["n_detections"] == 0


def test_record_holds_counts_and_timing(tracked: dict[str, Path]) -> None:
    _, metrics = read_fov_record(record_of(tracked["root"], CELLS_FOV), "tracks_fov")
    table = pd.read_csv(csv_of(tracked["root"], CELLS_FOV))
    assert metrics["n_tracks"] == table["track_id"].nunique() and metrics["n_detections"] == len(table)
    assert metrics["seconds_total"] >= metrics["seconds_ultrack"] > 0 and metrics["n_frames"] == 12


def test_a_plate_restated_at_another_pixel_size_is_warned_about_by_its_nuclei_size(
    tracked: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Probe10 variant m: a plate whose scale states pixels about 4.6 times their size (3 µm, simulated
    at 0.65 µm; its time scale set, so not iohub's default of ones) was tracked, resampled and embedded
    at the wrong physical size with exit 0 and no word. Each FOV's record now holds the nuclei's median
    equivalent diameter in px and µm; the restated one is named in a WARNING with the pixel size that
    would make it typical, and its QC row is reduced; the plate as simulated (nuclei 10 µm across) is not."""
    _, metrics = read_fov_record(record_of(tracked["root"], CELLS_FOV), "tracks_fov")
    low, high = PLAUSIBLE_DIAMETER_UM
    assert metrics["pixel_size_um"] == pytest.approx(0.65)
    assert metrics["median_nucleus_diameter_um"] == pytest.approx(
        metrics["median_nucleus_diameter_px"] * 0.65
    )
    assert low < metrics["median_nucleus_diameter_um"] < high and not metrics["nucleus_size_implausible"]
    assert "scale of" in metrics["pixel_size_source"]
    assert not any(
        "diameter" in part for part in qc_row_of(record_of(tracked["root"], CELLS_FOV))["reason"].split("; ")
    )

    restated = tmp_path / "restated.zarr"
    shutil.copytree(tracked["plate"], restated)
    for fov_name in (CELLS_FOV, EMPTY_FOV):
        edit_position_metadata(restated, fov_name, scale=[1800.0, 1.0, 2.5, 3.0, 3.0])
    config = TrackingConfig()
    make_plate(restated, config, tmp_path / "tracks.zarr")
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        track(restated, config, tmp_path / "tracks.zarr", tmp_path, CELLS_FOV)
    _, wrong = read_fov_record(record_of(tmp_path, CELLS_FOV), "tracks_fov")
    assert wrong["median_nucleus_diameter_px"] == pytest.approx(metrics["median_nucleus_diameter_px"])
    assert wrong["median_nucleus_diameter_um"] > high and wrong["nucleus_size_implausible"]
    warned = [r.getMessage() for r in caplog.records if "median equivalent diameter" in r.getMessage()]
    assert len(warned) == 1
    typical = TYPICAL_DIAMETER_UM / wrong["median_nucleus_diameter_px"]
    for part in (
        str(restated),
        CELLS_FOV,
        f"{wrong['median_nucleus_diameter_px']:.1f} px",
        f"{wrong['median_nucleus_diameter_um']:.1f} µm",
        "3 µm",
        f"scale of {restated} position",
        f"{typical:.3g} µm",
    ):
        assert part in warned[0], part
    assert 0.4 < typical < 1.0  # about the 0.65 µm it was simulated at
    row = qc_row_of(record_of(tmp_path, CELLS_FOV))
    assert row["status"] == "reduced" and "pixel size misstated?" in row["reason"]
    # a record made before the check has none of its keys: read as before
    old = {key: value for key, value in wrong.items() if "nucleus" not in key and "pixel_size" not in key}
    assert qc_row(ArtifactKind.TRACKS_FOV, record_of(tmp_path, CELLS_FOV), old, "tracking")["status"] == "ok"


def test_nuclei_larger_than_the_segmentations_cap_are_warned_of(
    tracked: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ultrack keeps no candidate above segmentation.max_area_px: it cuts larger nuclei into pieces,
    so their median diameter stays inside the plausible range whatever the pixel size (probe10
    variant m with tracking defaults: nuclei of ~530 px cut into pieces of at most ~190 px) and the
    size check was blind, with no word. A cap below the simulated nuclei's area (~170 px) piles the
    detections up at it: a WARNING names the key, the share and both causes, and the QC row is
    reduced; the record says the check is limited by the bounds. The defaults' own FOV is neither."""
    _, metrics = read_fov_record(record_of(tracked["root"], CELLS_FOV), "tracks_fov")
    assert metrics[AT_CAP_SHARE_KEY] < AT_CAP_WARNING_SHARE and not metrics["nucleus_size_at_max_area"]
    assert metrics[CHECK_LIMIT_KEY] == (
        "min_area_px 60 floors it at 5.7 µm and max_area_px 450 caps it near 15.6 µm, inside 4-22 µm"
    )
    config = TrackingConfig.model_validate({"segmentation": {"min_area_px": 10, "max_area_px": 80}})
    make_plate(tracked["plate"], config, tmp_path / "tracks.zarr")
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        track(tracked["plate"], config, tmp_path / "tracks.zarr", tmp_path, CELLS_FOV)
    _, capped = read_fov_record(record_of(tmp_path, CELLS_FOV), "tracks_fov")
    low, high = PLAUSIBLE_DIAMETER_UM
    assert low < capped["median_nucleus_diameter_um"] < high and not capped["nucleus_size_implausible"]
    assert capped[AT_CAP_SHARE_KEY] >= AT_CAP_WARNING_SHARE and capped["nucleus_size_at_max_area"]
    assert "max_area_px 80 caps it near 6.6 µm" in capped[CHECK_LIMIT_KEY]
    warned = [r.getMessage() for r in caplog.records if "max_area_px" in r.getMessage()]
    assert len(warned) == 1
    share = f"{100 * capped[AT_CAP_SHARE_KEY]:.0f}%"
    for part in (
        CELLS_FOV,
        share,
        "tracking.segmentation.max_area_px (80 px)",
        "larger than the cap",
        "0.65",
    ):
        assert part in warned[0], part
    assert "misstated" in warned[0]
    row = qc_row_of(record_of(tmp_path, CELLS_FOV))
    assert row["status"] == "reduced" and row["nucleus_size_flagged"]
    assert f"{share} of nuclei near tracking.segmentation.max_area_px (at least 90% of it)" in row["reason"]
    assert not qc_row_of(record_of(tracked["root"], CELLS_FOV))["nucleus_size_flagged"]


def test_3d_nuclei_are_measured_on_the_label_frames_projection() -> None:
    """In 3D each label's area is that of the frame's maximum projection along Z (before: the distinct
    (label, y, x) of every voxel, 2.6 s per 5 M voxels), its size the voxels that max_area_px bounds;
    the pile-up at the cap is judged on the voxels, and min_area_px (voxels) says nothing of the
    projected area, so only the cap limits the check."""
    labels = np.zeros((1, 1, 4, 8, 8), dtype=np.uint32)
    frame = np.zeros((3, 8, 8), dtype=np.uint32)
    frame[0:2, 0:4, 0:4] = 7  # 32 voxels over 2 slices: 16 px projected
    frame[2, 5:8, 5:8] = 9  # 9 voxels on 1 slice
    writer = LabelFrameWriter(labels, z_offset=1, n_z_used=3)
    writer(0, frame)
    assert writer.sizes == [32, 9] and writer.areas == [16, 9]
    stacked = np.zeros((3, 8, 8), dtype=np.uint32)
    stacked[0, 0:4, 0:4], stacked[1, 0:4, 0:4], stacked[2, 0:2, 0:2] = 9, 7, 9  # 7 under 9, not covered
    covered = LabelFrameWriter(np.zeros((1, 1, 3, 8, 8), dtype=np.uint32), z_offset=0, n_z_used=3)
    covered(0, stacked)
    assert covered.sizes == [16, 20] and covered.areas == [16, 16]
    assert (labels[0, 0, 1:] == frame).all() and not labels[0, 0, 0].any()
    flat = LabelFrameWriter(np.zeros((1, 1, 1, 8, 8), dtype=np.uint32), z_offset=0, n_z_used=1)
    flat(0, frame[:1])
    assert flat.sizes == flat.areas == [16]

    few = nucleus_size_metrics(
        writer.areas, 0.65, "stated", "here", area_bounds_px=(30, 34), sizes_px=writer.sizes
    )
    assert few[AT_CAP_SHARE_KEY] == 0.5 and not few["nucleus_size_at_max_area"]  # 2 detections: not judged
    metrics = nucleus_size_metrics(
        writer.areas * 10, 0.65, "stated", "here", area_bounds_px=(30, 34), sizes_px=writer.sizes * 10
    )
    assert metrics[AT_CAP_SHARE_KEY] == 0.5 and metrics["nucleus_size_at_max_area"]
    assert metrics[CHECK_LIMIT_KEY] == "max_area_px 34 caps it near 4.3 µm, inside 4-22 µm"
    in_2d = nucleus_size_metrics(writer.areas, 0.65, "stated", "here", area_bounds_px=(30, 34))
    assert in_2d[CHECK_LIMIT_KEY].startswith("min_area_px 30 floors it at 4.0 µm and max_area_px 34")


def qc_row_of(record: Path) -> dict:
    _, metrics = read_fov_record(record, "tracks_fov")
    return qc_row(ArtifactKind.TRACKS_FOV, record, metrics, "tracking")


def test_collect_tracks_adds_fov_name_and_keeps_float_centroids(tracked: dict[str, Path]) -> None:
    collected, provenance = read_table(tracked["parquet"], "tracks")
    assert provenance.kind == "tracks"
    assert list(collected.columns) == ["fov_name", *CSV_COLUMNS_2D]
    assert set(collected["fov_name"]) == {CELLS_FOV}
    assert collected["y"].dtype == np.float64 and collected["x"].dtype == np.float64
    assert (collected["y"] % 1 != 0).any()  # sub-pixel centroids survive
    per_fov = pd.read_csv(csv_of(tracked["root"], CELLS_FOV))
    np.testing.assert_array_equal(collected[CSV_COLUMNS_2D].to_numpy(), per_fov.to_numpy())


@pytest.mark.slow  # a 3D ultrack solve
def test_3d_tracking_keeps_the_slices(tracked: dict[str, Path], tmp_path: Path) -> None:
    config = TrackingConfig.model_validate(
        {
            "maps": {"z_handling": "3d", "z_slice_range": [1, 5]},
            "segmentation": {"min_area_px": 150, "max_area_px": 1500},
        }
    )
    plate = tmp_path / "tracks3d.zarr"
    make_plate(tracked["plate"], config, plate)
    table = track(tracked["plate"], config, plate, tmp_path, CELLS_FOV)
    assert list(table.columns) == ["track_id", "t", "z", "y", "x", "id", "parent_track_id", "parent_id"]
    assert table["z"].between(1, 4).all()  # slice coordinates of the input, within the range used
    with open_ome_zarr(plate, layout="hcs", mode="r") as opened:
        labels = opened[CELLS_FOV]["0"]
        assert labels.shape == (12, 1, 5, 96, 96)
        assert not np.asarray(labels[:, :, 0]).any()  # slice 0 is outside z_slice_range
    collect(plate, tmp_path, [CELLS_FOV], tmp_path / "tracks.parquet")
    scores = evaluate(
        plate, tmp_path / "tracks.parquet", tracked["labels"], tracked["truth"], tmp_path / "tracking.csv"
    ).set_index("fov_name")
    # measured: DET 0.97, TRA 0.97 (3D labels against the 3D ground truth, no projection)
    assert scores.loc[CELLS_FOV, "det"] >= 0.9 and scores.loc[CELLS_FOV, "tra"] >= 0.88


def test_collect_tracks_refuses_a_missing_record(tracked: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not processed"):
        collect(tracked["tracks_plate"], tmp_path, [CELLS_FOV], tmp_path / "t.parquet")


def test_track_fov_refuses_a_plate_made_with_another_config(tracked: dict[str, Path], tmp_path: Path) -> None:
    other = TrackingConfig.model_validate({"linking": {"max_distance_px": 12.0}})
    with pytest.raises(ArtifactError, match="forcerun tracks_plate"):
        track(tracked["plate"], other, tracked["tracks_plate"], tmp_path, CELLS_FOV)


def test_unknown_channel_fails_early_naming_the_channels(tracked: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"'nuclei_prediction'.*Brightfield"):
        make_plate(tracked["plate"], TrackingConfig(), tmp_path / "t.zarr", channel="nuclei_prediction")


def test_maps_do_not_depend_on_the_intensity_scale() -> None:
    """Raw counts (offset + background + signal) and a [0, 1] virtual stain give the same maps."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    stain = np.zeros((3, 64, 64), dtype=np.float32)
    for t in range(3):
        for cy, cx in ((20, 20 + 3 * t), (44, 40)):
            stain[t] += ((yy - cy) ** 2 + (xx - cx) ** 2 <= 49).astype(np.float32)
    counts = (100 + 20 + 400 * stain + rng.normal(0, 2, stain.shape)).astype(np.float32)
    config = TrackingMapsConfig()
    from_stain, from_counts = tracking_maps(stain, config), tracking_maps(counts, config)
    agreement = (from_stain.foreground == from_counts.foreground).mean()
    assert agreement > 0.99
    assert from_stain.foreground[:, 20, 20].all() and not from_stain.foreground[:, 5, 60].any()
    normalised, value_range, _ = normalize_percentiles(np.full((2, 8, 8), 7.0, dtype=np.float32), (1, 99))
    assert value_range == (7.0, 7.0) and not normalised.any()  # no contrast: no nuclei


def test_missing_pixels_are_background_and_a_missing_frame_has_no_foreground() -> None:
    yy, xx = np.mgrid[:64, :64]
    stain = np.zeros((4, 64, 64), dtype=np.float32)
    for t in range(4):
        stain[t] += ((yy - 20) ** 2 + (xx - 20 - 3 * t) ** 2 <= 49).astype(np.float32)
    counts = 120 + 400 * stain
    clean = tracking_maps(counts, TrackingMapsConfig())
    holes = counts.copy()
    holes[1, 20, 23] = np.nan  # inside the nucleus
    holes[2] = np.nan  # a dropped frame
    holes[3, 50, 50] = np.inf
    maps = tracking_maps(holes, TrackingMapsConfig())
    assert maps.normalization_range == pytest.approx(clean.normalization_range, rel=0.01)
    assert np.isfinite(maps.foreground).all() and np.isfinite(maps.contours).all()
    assert not maps.foreground[2].any() and not maps.foreground[1, 20, 23]
    assert (maps.foreground[[0, 3]] == clean.foreground[[0, 3]]).all()
    assert maps.foreground[1].sum() >= clean.foreground[1].sum() - 9  # the rest of the nucleus stays
    # Z projections skip missing slices: a pixel is missing only when its whole column is
    volume = np.ones((3, 2, 2), dtype=np.float32)
    volume[0, 0, 0] = np.nan
    volume[:, 1, 1] = np.nan
    for handling in ("max_projection", "mean_projection"):
        projected = reduce_z(volume, TrackingMapsConfig(z_handling=handling))
        assert projected[0, 0] == 1.0 and np.isnan(projected[1, 1])


def disk_movie(cells: list[tuple[int, int, int, int]], n_t: int, size: int = 64) -> np.ndarray:
    """(T, Y, X) float32 image: 1 inside the disks ``(t, y, x, radius_px)``, 0 elsewhere."""
    movie = np.zeros((n_t, size, size), dtype=np.float32)
    yy, xx = np.mgrid[:size, :size]
    for t, y, x, radius in cells:
        movie[t][(yy - y) ** 2 + (xx - x) ** 2 <= radius**2] = 1.0
    return movie


#: The division weights before they were set for divisions the link alone does not pay for.
COSTLY_DIVISIONS = {"solver": {"appear_weight": -0.3, "disappear_weight": -0.3, "division_weight": -0.05}}


@pytest.mark.parametrize(("overrides", "divides"), [({}, True), (COSTLY_DIVISIONS, False)])
def test_daughters_in_the_last_frame_are_linked_as_a_division(
    overrides: dict, divides: bool, tmp_path: Path
) -> None:
    """A mother rounds up (radius 7 → 5 px) and divides into two daughters 9 px to either side in the
    last frame; the daughters overlap neither the mother nor each other (IoU 0). The default weights
    link both as her daughters; with a division cost and no reward the second daughter is left out
    (selecting her only costs: her link from the mother is negative and nothing follows her)."""
    from dynaclr.tracking.engine import run_ultrack

    cells = [(t, 32, 32, 7) for t in range(3)] + [(3, 32, 32, 5), (4, 32, 23, 6), (4, 32, 41, 6)]
    cells += [(t, 12, 10 + 2 * t, 7) for t in range(5)]  # a neighbour moving along
    maps = tracking_maps(disk_movie(cells, 5), TrackingMapsConfig())
    config = TrackingConfig.model_validate(overrides)
    tracks, _ = run_ultrack(maps.foreground, maps.contours, config, tmp_path / "ultrack")
    mother = int(tracks.loc[(tracks["t"] == 3) & (tracks["x"].round() == 32), "track_id"].iloc[0])
    daughters = tracks[tracks["parent_track_id"] == mother]
    neighbour = tracks[tracks["y"].round() == 12]
    assert neighbour["track_id"].nunique() == 1 and len(neighbour) == 5
    if divides:
        assert sorted(daughters["x"].round()) == [23.0, 41.0] and (daughters["t"] == 4).all()
    else:
        assert daughters.empty and len(tracks[tracks["t"] == 4]) == 2  # the neighbour and one daughter


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"maps": {"normalization_percentiles": [99, 1]}}, "low < high"),
        ({"maps": {"foreground_threshold": 2.0}}, "otsu"),
        ({"maps": {"z_slice_range": [5, 2]}}, "first < stop"),
        ({"segmentation": {"min_area_px": 500, "max_area_px": 400}}, "smaller than max_area_px"),
        ({"solver": {"solver_name": "SCIP"}}, "CBC"),
        ({"linking": {"max_distanse_px": 3}}, "max_distanse_px"),
    ],
)
def test_config_errors_say_how_to_fix(raw: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrackingConfig.model_validate(raw)


def test_a_slice_range_past_the_stack_names_the_input_the_key_and_the_depth() -> None:
    """The track job's refusal names the key to change (the dry run refuses it first: test_early_checks)."""
    maps = TrackingMapsConfig(z_slice_range=(2, 8))
    with pytest.raises(
        ValueError, match=r"^in.zarr: tracking.maps.z_slice_range \[2, 8\] needs 8 slices, the stack has 5;"
    ):
        z_slices(maps, 5, source="in.zarr")
    assert z_slices(maps, 8) == slice(2, 8) and z_slices(TrackingMapsConfig(), 5) == slice(0, 5)


def test_config_round_trips_through_json() -> None:
    config = TrackingConfig.model_validate({"maps": {"foreground_threshold": 0.4, "z_handling": "3d"}})
    assert TrackingConfig.model_validate(json.loads(config.model_dump_json())) == config
    assert TrackingConfig().solver.solver_name == "CBC"


def square_mask(y: int, x: int, side: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A node mask: bounding box ``(y0, x0, y1, x1)`` and a full ``side`` x ``side`` square."""
    return np.array([y, x, y + side, x + side]), np.ones((side, side), dtype=bool)


@pytest.mark.parametrize(("second_x", "undone"), [(16, True), (17, False), (30, False)])
def test_division_into_touching_daughters_is_one_nucleus_cut_in_two(second_x: int, undone: bool) -> None:
    """Mother 1 (frames 0-1) divides at frame 2 into 2 (x = 10-15) and 3 (x from ``second_x``);
    3 has a daughter 4 later. Adjacent daughters (gap 1 px) are fragments: 2, nearer the mother,
    continues track 1, 3 loses her parent, 4 stays 3's daughter."""
    from dynaclr.tracking.divisions import mask_gap_px, undo_fragment_divisions

    rows = [(1, 0, 20.0, 11.0, 100, -1, -1), (1, 1, 20.0, 12.0, 101, -1, 100)]
    rows += [(2, 2, 20.0, 12.5, 102, 1, 101), (2, 3, 20.0, 13.0, 103, -1, 102)]
    rows += [(3, 2, 20.0, second_x + 2.5, 104, 1, 101), (4, 3, 20.0, second_x + 3.0, 105, 3, 104)]
    tracks = pd.DataFrame(rows, columns=CSV_COLUMNS_2D).set_index("id", drop=False)
    masks = {102: square_mask(17, 10), 104: square_mask(17, second_x)}
    assert mask_gap_px(masks[102], masks[104]) == second_x - 15
    fixed, n_undone = undo_fragment_divisions(tracks, masks, max_gap_px=1.5)
    assert n_undone == int(undone)
    if undone:
        assert fixed.loc[[102, 103], "track_id"].tolist() == [1, 1]
        assert fixed.loc[[102, 103], "parent_track_id"].tolist() == [-1, -1]
        assert (fixed.loc[104, "parent_track_id"], fixed.loc[104, "parent_id"]) == (-1, -1)
        assert fixed.loc[105, "parent_track_id"] == 3
    else:
        pd.testing.assert_frame_equal(fixed, tracks)


@pytest.mark.parametrize("ids", [(2, 3, 5, 6), (7, 8, 2, 3)])  # outer division listed first, or inner
def test_a_fragment_division_of_the_daughter_that_continues_her_mother_is_undone_too(
    ids: tuple[int, int, int, int],
) -> None:
    """Mother 1 (frames 0-1) splits at frame 2 into touching fragments a (kept: nearer) and b; a splits
    again at frame 4 into touching fragments c (kept) and d. Undoing the first renamed a to 1; the
    second, found under mother a, was then skipped (no rows of track a left) and track 1 kept a false
    division. Both are undone, in either order: 1 runs frames 0-5, b and d lose their parent."""
    from dynaclr.tracking.divisions import undo_fragment_divisions

    a, b, c, d = ids
    rows = [(1, 0, 20.0, 11.0, 100, -1, -1), (1, 1, 20.0, 12.0, 101, -1, 100)]
    rows += [(a, 2, 20.0, 12.5, 102, 1, 101), (a, 3, 20.0, 13.0, 103, -1, 102)]
    rows += [(b, 2, 20.0, 18.5, 104, 1, 101)]
    rows += [(c, 4, 20.0, 13.5, 105, a, 103), (c, 5, 20.0, 14.0, 106, -1, 105)]
    rows += [(d, 4, 20.0, 19.5, 107, a, 103)]
    tracks = pd.DataFrame(rows, columns=CSV_COLUMNS_2D).set_index("id", drop=False)
    masks = {102: square_mask(17, 10), 104: square_mask(17, 16)}  # touching: gap 1 px
    masks |= {105: square_mask(17, 11), 107: square_mask(17, 17)}
    fixed, n_undone = undo_fragment_divisions(tracks, masks, max_gap_px=1.5)
    assert n_undone == 2
    assert fixed.loc[[100, 101, 102, 103, 105, 106], "track_id"].tolist() == [1] * 6
    assert (fixed["parent_track_id"] == -1).all()
    assert (fixed.loc[107, "track_id"], fixed.loc[107, "parent_id"]) == (d, -1)


def test_each_contour_method_is_its_reference_map() -> None:
    """tracking.maps.contour_method: 'inverted_intensity' = 1 - smoothed intensity, 'gradient' = the
    Sobel magnitude (scaled by its 99.9th percentile), 'distance' = 1 - the normalised distance to the
    background; the two touching nuclei are split by a ridge in the distance map only."""
    from scipy import ndimage
    from skimage.filters import sobel

    movie = disk_movie([(t, 32, 24 + t, 8) for t in range(3)] + [(t, 32, 38 + t, 8) for t in range(3)], 3)
    low, high = np.percentile(movie, (1.0, 99.8))
    smoothed = ndimage.gaussian_filter((movie - low) / (high - low), sigma=(0, 1.0, 1.0))
    maps = {
        method: tracking_maps(movie, TrackingMapsConfig(contour_method=method, foreground_threshold=0.5))
        for method in ("inverted_intensity", "gradient", "distance")
    }
    foreground = smoothed >= 0.5
    np.testing.assert_array_equal(maps["distance"].foreground, foreground)
    np.testing.assert_allclose(maps["inverted_intensity"].contours, 1 - np.clip(smoothed, 0, 1), atol=1e-5)
    gradient = np.stack([sobel(frame) for frame in smoothed])
    np.testing.assert_allclose(
        maps["gradient"].contours, np.clip(gradient / np.percentile(gradient, 99.9), 0, 1), atol=1e-5
    )
    distance = np.stack([ndimage.distance_transform_edt(frame) for frame in foreground])
    distance = 1 - distance / distance.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(maps["distance"].contours, distance, atol=1e-5)
    neck, centre = (0, 32, 31), (0, 32, 24)  # where the disks touch, and the first one's centre
    assert maps["distance"].contours[neck] - maps["distance"].contours[centre] > 0.3
    assert maps["inverted_intensity"].contours[neck] - maps["inverted_intensity"].contours[centre] < 0.1


def test_power_link_function_tracks_cells_moving_along(tmp_path: Path) -> None:
    """tracking.solver.link_function 'power' (with no distance weight, which it forbids) reaches ultrack
    and links each of two moving nuclei into one track."""
    from dynaclr.tracking.engine import run_ultrack

    movie = disk_movie(
        [(t, 20, 16 + 2 * t, 7) for t in range(4)] + [(t, 46, 44 - 2 * t, 7) for t in range(4)], 4
    )
    maps = tracking_maps(movie, TrackingMapsConfig())
    config = TrackingConfig.model_validate(
        {"linking": {"distance_weight_per_px": 0.0}, "solver": {"link_function": "power", "power": 2.0}}
    )
    tracks, main = run_ultrack(maps.foreground, maps.contours, config, tmp_path / "ultrack")
    assert main.tracking_config.link_function == "power" and main.tracking_config.power == 2.0
    assert tracks.groupby(tracks["y"].round())["track_id"].nunique().to_dict() == {20.0: 1, 46.0: 1}
    assert len(tracks) == 8 and (tracks["parent_track_id"] == -1).all()


def test_a_solver_that_cannot_be_loaded_fails_the_job_instead_of_falling_back_to_cbc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """tracking.solver.solver_name 'GUROBI' without a usable licence: ultrack would quietly solve with
    CBC; the job stops, naming the setting and the fix."""
    import mip

    from dynaclr.tracking.engine import check_solver, run_ultrack

    def unlicensed(*args: object, solver_name: str = "", **kwargs: object) -> None:
        raise mip.exceptions.InterfacingError("Gurobi environment could not be loaded, check your license.")

    check_solver("CBC")
    monkeypatch.setattr(mip, "Model", unlicensed)
    check_solver("CBC")  # CBC needs nothing loaded
    config = TrackingConfig.model_validate({"solver": {"solver_name": "GUROBI"}})
    movie = disk_movie([(t, 20, 20, 7) for t in range(2)], 2)
    with pytest.raises(RuntimeError, match=r"solver_name 'GUROBI'.*licen.*'CBC'"):
        run_ultrack(movie, 1 - movie, config, tmp_path / "ultrack")
    assert not (tmp_path / "ultrack").exists() or not any((tmp_path / "ultrack").iterdir())

    def not_installed(*args: object, solver_name: str = "", **kwargs: object) -> None:
        raise FileNotFoundError(
            "Gurobi not found. Please check if the Gurobi dynamic loadable library is reachable"
        )

    monkeypatch.setattr(mip, "Model", not_installed)  # mip's error when Gurobi is absent
    with pytest.raises(RuntimeError, match=r"solver_name 'GUROBI'.*Gurobi not found.*'CBC'"):
        check_solver("GUROBI")


def _nucleus_centres_are_foreground(foreground: np.ndarray, frames: list[int]) -> bool:
    """Both nuclei of :func:`_nuclei_counts` are foreground at their centres in ``frames``."""
    t = np.asarray(frames)
    return bool(foreground[t, 20, 20 + 3 * t].all() and foreground[t, 44, 40].all())


def _nuclei_counts(n_t: int = 4) -> np.ndarray:
    """(T, 64, 64) camera counts: two nuclei (radius 6 px) at 120 + 400 counts over a 120-count
    background with a little noise."""
    cells = [(t, 20, 20 + 3 * t, 6) for t in range(n_t)] + [(t, 44, 40, 6) for t in range(n_t)]
    noise = np.random.default_rng(0).normal(0.0, 5.0, size=(n_t, 64, 64))
    return (120 + 400 * disk_movie(cells, n_t) + noise).astype(np.float32)


def test_a_hot_pixel_per_frame_does_not_raise_otsus_threshold_above_the_nuclei() -> None:
    """One pixel at the camera's maximum per frame: Otsu's threshold of the unclipped values split
    it from everything else and lost every nucleus; of the values clipped to [0, 1] it is unchanged."""
    counts = _nuclei_counts()
    clean = tracking_maps(counts, TrackingMapsConfig())
    hot = counts.copy()
    hot[:, 5, 58] = 65535.0
    maps = tracking_maps(hot, TrackingMapsConfig())
    assert maps.threshold == pytest.approx(clean.threshold, abs=0.02) and maps.threshold <= 1.0
    assert (maps.foreground[:, 20:40, :] == clean.foreground[:, 20:40, :]).all()  # the nuclei stay
    assert _nucleus_centres_are_foreground(maps.foreground, [0, 1, 2, 3])


@pytest.mark.parametrize("level", [0.0, 65535.0])
def test_a_constant_frame_has_no_nuclei_and_leaves_the_others_alone(level: float, caplog) -> None:
    """A frame without signal (a shutter that did not open: zeros; a frame saturated everywhere) has
    no foreground and does not enter the FOV's percentiles, so the other frames keep their nuclei."""
    counts = _nuclei_counts()
    clean = tracking_maps(counts, TrackingMapsConfig())
    blank = counts.copy()
    blank[1] = level
    with caplog.at_level(logging.WARNING, logger="dynaclr.tracking.maps"):
        maps = tracking_maps(blank, TrackingMapsConfig(), where="raw.zarr FOV A/1/0 channel 'Nuclei'")
    warning = "raw.zarr FOV A/1/0 channel 'Nuclei': frame(s) [1] of the nuclear image are constant"
    assert maps.empty_frames == (1,) and warning in caplog.text
    assert not maps.foreground[1].any()
    assert maps.normalization_range == pytest.approx(clean.normalization_range, rel=0.02)
    assert _nucleus_centres_are_foreground(maps.foreground, [0, 2, 3])
    changed = np.count_nonzero(maps.foreground[[0, 2, 3]] != clean.foreground[[0, 2, 3]])
    assert changed <= 0.05 * np.count_nonzero(clean.foreground[[0, 2, 3]])


def _empty_field(kind: str) -> np.ndarray:
    """(T, 64, 64) counts of a FOV without cells: a camera offset, background photons and their noise."""
    rng = np.random.default_rng(1)
    if kind == "gaussian":
        return (120 + rng.normal(0.0, 5.0, size=(4, 64, 64))).astype(np.float32)
    if kind == "bleaching":  # the background fades from 200 to 120 counts over the movie
        return (np.linspace(200, 120, 4)[:, None, None] + rng.normal(0.0, 5.0, size=(4, 64, 64))).astype(
            np.float32
        )
    if kind == "poisson_max_projection":  # 2 photons a pixel in each of 5 slices, max-projected
        return (100 + rng.poisson(2.0, size=(4, 5, 64, 64)).max(axis=1)).astype(np.float32)
    if kind == "poisson_sparse":  # 0.1 photon a pixel: most neighbouring pixels are equal
        return (100 + rng.poisson(0.1, size=(4, 64, 64))).astype(np.float32)
    return (100 + rng.poisson(20.0, size=(4, 64, 64))).astype(np.float32)


@pytest.mark.parametrize(
    "kind", ["gaussian", "bleaching", "poisson", "poisson_max_projection", "poisson_sparse"]
)
def test_a_fov_of_noise_only_has_no_nuclei(kind: str, caplog) -> None:
    """A FOV without cells is not constant: it holds the background's noise. Its percentiles stretched
    that noise over [0, 1] and Otsu's threshold cut it in two: about half the pixels were foreground
    and ultrack tracked them (57 detections in 3 frames of a simulated FOV without cells). Judged
    per frame, a background fading between frames is noise only too, and so are sparse photons
    (most pixel differences 0: a median absolute deviation had no estimate of their noise)."""
    with caplog.at_level(logging.WARNING, logger="dynaclr.tracking.maps"):
        where = "raw.zarr FOV A/1/0 channel 'Nuclei'"
        maps = tracking_maps(_empty_field(kind), TrackingMapsConfig(), where=where)
    assert not maps.foreground.any() and maps.noise_only and maps.frames_without_signal == (0, 1, 2, 3)
    assert f"{where}: no contrast above the pixel noise in any frame" in caplog.text


def test_noise_only_frames_whose_sampled_frames_are_missing_have_no_nuclei() -> None:
    """Frames 0, 2, 4, 6, 9, 11, 13 and 15 dropped (NaN), the 8 others noise: the noise used to be
    estimated on those 8 frames only, found none, and the noise of the others was cut in two."""
    field = (120 + np.random.default_rng(3).normal(0.0, 5.0, size=(16, 64, 64))).astype(np.float32)
    dropped = [0, 2, 4, 6, 9, 11, 13, 15]
    field[dropped] = np.nan
    maps = tracking_maps(field, TrackingMapsConfig())
    assert not maps.foreground.any() and maps.noise_only
    assert maps.frames_without_signal == (1, 3, 5, 7, 8, 10, 12, 14)  # dropped frames are not judged


def test_a_simulated_fov_without_cells_gets_no_tracks(tmp_path: Path) -> None:
    """The simulator's FOV without cells (background photons and camera noise in the nuclear
    channel): 57 detections in 27 tracks of noise, exit 0; now none, and the record says why."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    empty = {**TRACKING_SIMULATE, "n_frames": 3, "shape_zyx": [3, 64, 64], "nuclear_marker_fovs": "all"}
    empty["cells"] = {"initial_cells_per_fov": 0, "entering_cells_per_frame": 0.0}
    raw = tmp_path / "raw.zarr"
    truth = simulate_plate(
        SimulateConfig.model_validate(empty),
        SimulateOutputs(
            plate=raw,
            tracks=tmp_path / "gt.parquet",
            labels=tmp_path / "labels.zarr",
            phase=tmp_path / "phase.zarr",
        ),
    )
    assert len(truth) == 0
    config = TrackingConfig()
    make_plate(raw, config, tmp_path / "tracks.zarr")
    table = track(raw, config, tmp_path / "tracks.zarr", tmp_path, CELLS_FOV)
    _, metrics = read_fov_record(record_of(tmp_path, CELLS_FOV), "tracks_fov")
    assert len(table) == 0 and metrics["n_detections"] == 0 and metrics["noise_only"] is True
    assert metrics["frames_without_signal"] == [0, 1, 2]


def _disks_over_noise(
    n_t: int, size: int, n_nuclei: int, radius: int, above: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(T, size, size) counts: ``n_nuclei`` disks of ``radius`` px, ``above`` noise sigmas (5 counts)
    over a 120-count background, the same in every frame; and the (size, size) mask of the disks."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(radius, size - radius, size=(n_nuclei, 2))
    yy, xx = np.mgrid[:size, :size]
    truth = np.zeros((size, size), dtype=bool)
    for y, x in centres:
        truth |= (yy - y) ** 2 + (xx - x) ** 2 <= radius**2
    counts = 120 + 5.0 * above * truth + rng.normal(0.0, 5.0, size=(n_t, size, size))
    return counts.astype(np.float32), truth


def _recall_and_false_share(foreground: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Share of the true nuclei's pixels that are foreground, and of the background's that are."""
    found = foreground > 0
    return float(found[truth].mean()), float(found[~truth].mean())


@pytest.mark.parametrize("above", [4.0, 6.0])
def test_dim_nuclei_over_the_same_noise_are_kept(above: float) -> None:
    """15 nuclei (radius 10 px, 7 % of the pixels) 4 or 6 noise sigmas above the background: their
    percentiles span 9-11 times the pixel noise, which a FOV-wide contrast-to-noise check (12) took
    for noise only, erasing them (recall 0). Smoothing (sigma 1 px) cuts the noise 3.5 times, so
    they rise 14-21 smoothed sigmas above it and every frame keeps them."""
    counts, truth = _disks_over_noise(4, 256, 15, 10, above)
    maps = tracking_maps(counts, TrackingMapsConfig())
    assert not maps.noise_only and maps.frames_without_signal == ()
    for frame in maps.foreground:
        recall, false_share = _recall_and_false_share(frame, truth)
        assert recall >= 0.9 and false_share < 0.01


def test_a_single_nucleus_in_a_large_frame_is_kept_without_noise_around_it() -> None:
    """One nucleus (0.17 % of a 512 x 512 frame): the 99.8th percentile lies in the noise, the
    contrast-to-noise check called the FOV noise only (recall 0), and without it Otsu's threshold cut
    the stretched noise in two (48 % of the background foreground). The noise floor keeps the
    nucleus and nothing else."""
    counts, truth = _disks_over_noise(2, 512, 1, 12, 40.0)
    maps = tracking_maps(counts, TrackingMapsConfig())
    assert not maps.noise_only
    for frame in maps.foreground:
        recall, false_share = _recall_and_false_share(frame, truth)
        assert recall >= 0.9 and false_share < 0.001


def test_nuclei_in_the_last_frames_of_a_long_movie_are_kept(caplog) -> None:
    """A nucleus entering in the last 2 of 40 frames (0.1 % of the FOV's pixels): the pooled 99.8th
    percentile lay in the noise and the FOV was called noise only. Per frame, the 38 frames of noise
    have no foreground (listed, WARNING) and are left out of the percentiles; the last 2 keep it."""
    counts, truth = _disks_over_noise(2, 128, 1, 10, 20.0)
    noise = 120 + np.random.default_rng(4).normal(0.0, 5.0, size=(38, 128, 128))
    movie = np.concatenate([noise.astype(np.float32), counts])
    with caplog.at_level(logging.WARNING, logger="dynaclr.tracking.maps"):
        maps = tracking_maps(movie, TrackingMapsConfig(), where="raw.zarr FOV A/1/0 channel 'Nuclei'")
    assert not maps.noise_only and maps.frames_without_signal == tuple(range(38))
    assert not maps.foreground[:38].any()
    warning = "raw.zarr FOV A/1/0 channel 'Nuclei': 38 of 40 frame(s) have no contrast above the pixel noise"
    assert warning in caplog.text
    for frame in maps.foreground[38:]:
        recall, false_share = _recall_and_false_share(frame, truth)
        assert recall >= 0.9 and false_share < 0.001


def test_the_qc_table_names_the_frames_left_without_nuclei_for_want_of_signal() -> None:
    """A FOV keeping a nucleus in its last 2 of 40 frames, frame 5 constant (a shutter that did not
    open) and frame 6 dropped (all missing): the tracking maps leave frames 0 .. 4 and 7 .. 37 (no
    contrast above the pixel noise) and 5 (constant) without nuclei, but the QC table gave the FOV
    ``ok`` (only the dropped frame 6 ``reduced``) and no word of them, so a biologist saw cells vanish
    without explanation. The ``tracking`` row now lists them (``frames_without_signal``) with their
    reasons, each frame under one reason, and is ``reduced``."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    counts, _ = _disks_over_noise(2, 128, 1, 10, 20.0)
    noise = 120 + np.random.default_rng(4).normal(0.0, 5.0, size=(38, 128, 128))
    movie = np.concatenate([noise.astype(np.float32), counts])
    movie[5] = 120.0
    movie[6] = np.nan
    maps = tracking_maps(movie, TrackingMapsConfig())
    assert maps.empty_frames == (5,) and not maps.noise_only
    assert maps.foreground[38:].any() and not maps.foreground[:38].any()
    metrics = {
        "fov_name": "A/1/0",
        "n_frames": 40,
        "n_tracks": 1,
        "missing_voxels": 128 * 128,
        "dropped_frames": [6],
        "empty_frames": list(maps.empty_frames),
        "frames_without_signal": list(maps.frames_without_signal),
        "noise_only": maps.noise_only,
        "repeated_frames": [],
    }
    row = qc_row(ArtifactKind.TRACKS_FOV, Path("records/tracks/A/1/0.json"), metrics, "tracking")
    assert row["status"] == "reduced" and row["dropped_frames"] == "6"
    assert row["frames_without_signal"] == ";".join(str(t) for t in range(38) if t != 6)
    assert row["reason"] == (
        "frames [6] dropped (more than half their voxels missing); "
        "frames 5 without nuclei (constant nuclear image: no signal); "
        "frames 0 .. 4, 7 .. 37 without nuclei (no contrast above the pixel noise)"
    )


def test_nuclei_covering_most_of_a_frame_are_kept() -> None:
    """Nuclei over more than half the frame: their level is the frame's median, so the background
    is taken from the 1st percentile, not the median, and the nuclei stay above the noise floor."""
    counts, truth = _disks_over_noise(2, 128, 120, 10, 6.0)
    assert truth.mean() > 0.6
    maps = tracking_maps(counts, TrackingMapsConfig())
    assert maps.frames_without_signal == ()
    for frame in maps.foreground:
        assert _recall_and_false_share(frame, truth)[0] >= 0.9


def test_without_smoothing_nuclei_six_noise_sigmas_up_are_kept() -> None:
    """``smoothing_sigma_px`` 0: the noise floor lay 7.3 raw noise sigmas above the background, so
    nuclei 5-6 sigmas up were erased and the FOV called noise only. Signal is judged smoothed by at
    least 1 px, where they rise far above the smoothed noise."""
    counts, truth = _disks_over_noise(4, 256, 15, 10, 6.0)
    maps = tracking_maps(counts, TrackingMapsConfig(smoothing_sigma_px=0.0))
    assert not maps.noise_only and maps.frames_without_signal == ()
    for frame in maps.foreground:
        recall, false_share = _recall_and_false_share(frame, truth)
        assert recall >= 0.9 and false_share < 0.01


def _foreground_without_the_noise_check(counts: np.ndarray, config: TrackingMapsConfig) -> np.ndarray:
    """The foreground of the maps before any noise check: normalise, smooth, threshold."""
    normalised = normalize_percentiles(counts, config.normalization_percentiles)[0]
    smoothed = smooth_frames(normalised, config.smoothing_sigma_px)
    return smoothed >= foreground_threshold(smoothed, config)


@pytest.mark.parametrize("above", [3.0, 8.0])
def test_nuclei_above_the_noise_keep_the_foreground_of_no_noise_check(above: float) -> None:
    """In a FOV where every frame has signal and the threshold lies above the noise, the noise check
    changes nothing: the foreground is exactly that without it. The noise floor clipped every frame,
    shrinking nuclei 3 noise sigmas up (their smoothed edges lie between threshold and floor)."""
    counts, _ = _disks_over_noise(4, 256, 15, 10, above)
    config = TrackingMapsConfig()
    maps = tracking_maps(counts, config)
    assert maps.frames_without_signal == ()
    np.testing.assert_array_equal(maps.foreground > 0, _foreground_without_the_noise_check(counts, config))


@pytest.mark.parametrize("columns", [4, 80])
def test_noise_beside_a_zero_filled_border_has_no_nuclei(columns: int) -> None:
    """Drift correction and stitching fill borders with 0: the 1st percentile was 0, the background
    and noise floor far below the noise, and 98 % of the frames (4 zero columns of 256) were
    foreground. A plateau at the minimum far below the rest is left out of the background and the
    noise estimate; nuclei next to it are kept."""
    rng = np.random.default_rng(3)
    noise = (120 + rng.normal(0.0, 5.0, size=(4, 256, 256))).astype(np.float32)
    noise[:, :, :columns] = 0
    maps = tracking_maps(noise, TrackingMapsConfig())
    assert maps.noise_only and not maps.foreground.any()
    counts, truth = _disks_over_noise(4, 256, 15, 10, 6.0)
    counts[:, :, :columns] = 0
    maps = tracking_maps(counts, TrackingMapsConfig())
    assert not maps.noise_only and maps.frames_without_signal == ()
    # the fill stays in Otsu's threshold, which drops into the noise: nuclei edges widen, and the
    # clip keeps all but a few of the noise pixels (without it: 88 % of them)
    away = ~ndimage.binary_dilation(truth, iterations=3)
    away[:, :columns] = False
    for frame in maps.foreground:
        recall = float((frame[:, columns:] > 0)[truth[:, columns:]].mean())
        assert recall >= 0.9 and float((frame[away] > 0).mean()) < 0.001


def test_dim_nuclei_on_an_exact_zero_background_keep_their_area() -> None:
    """A background-subtracted and clipped (or masked) nuclear image: background exactly 0 over 95 %
    of the frame, nuclei at 60-210 over noise sigma 10. The zero background was taken for a fill
    plateau, the nuclei became the background, and the clip cleared every pixel below their 1st
    percentile + 4 sigma: the nuclei at 60 and 70 lost all their area, silently. Fill must touch the
    frame's border and cover less than half of it: every nucleus keeps its area without the noise
    check (within 10 %)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    stack = np.zeros((4, 256, 256), np.float32)
    centres = [(30 + 50 * (k // 4), 30 + 60 * (k % 4)) for k in range(16)]
    for t in range(4):
        for k, (cy, cx) in enumerate(centres):
            disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= 64
            stack[t][disk] = 60 + 10 * k + 10 * rng.standard_normal(int(disk.sum()))
    stack = np.clip(stack, 0, None)
    assert fill_plateaus(stack, []) is None
    config = TrackingMapsConfig()
    maps = tracking_maps(stack, config)
    assert maps.frames_without_signal == () and not maps.noise_only
    unchecked = _foreground_without_the_noise_check(stack, config)
    for k, (cy, cx) in enumerate(centres):
        near = (yy - cy) ** 2 + (xx - cx) ** 2 <= 100
        for t in range(4):
            area, expected = np.count_nonzero(maps.foreground[t][near]), np.count_nonzero(unchecked[t][near])
            assert abs(area - expected) <= 0.1 * expected, (k, t, area, expected)


def test_only_a_fill_plateau_touching_the_border_is_fill() -> None:
    """Drift or stitching fill lies in rows and columns at the frame's edges: a zero block inside
    the frame is data, a zero border beside it is fill (only the border part is masked)."""
    frame = (120 + np.random.default_rng(5).normal(0.0, 5.0, size=(1, 64, 64))).astype(np.float32)
    frame[0, 20:40, 20:40] = 0  # inside: 10 % of the frame
    assert fill_plateaus(frame, []) is None
    frame[0, :, :4] = 0  # a zero-filled border
    plateaus = fill_plateaus(frame, [])
    assert plateaus is not None
    assert plateaus[0, :, :4].all() and not plateaus[0, :, 4:].any()


def test_a_fov_with_an_unjudged_frame_holding_foreground_is_not_noise_only() -> None:
    """A frame without a pixel-noise estimate (noise-free, all neighbouring differences equal: a
    rendered or denoised frame) is not judged and keeps its foreground; the FOV was called noise
    only all the same."""
    field = (120 + np.random.default_rng(3).normal(0.0, 5.0, size=(4, 64, 64))).astype(np.float32)
    field[3] = np.linspace(100.0, 300.0, 64, dtype=np.float32)[:, None]  # rows constant, rising along Y
    maps = tracking_maps(field, TrackingMapsConfig())
    assert maps.frames_without_signal == (0, 1, 2) and maps.foreground[3].any()
    assert not maps.noise_only


def test_the_noise_warning_of_a_3d_stack_names_voxels(caplog) -> None:
    """3D tracking judges (Z', Y, X) frames: its minimum region is in voxels, not pixels."""
    stack = (120 + np.random.default_rng(3).normal(0.0, 5.0, size=(3, 4, 64, 64))).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="dynaclr.tracking.maps"):
        maps = tracking_maps(stack, TrackingMapsConfig())
    assert maps.noise_only
    assert "no connected region of 60 voxel(s)" in caplog.text and "pixel(s)" not in caplog.text


def test_a_third_of_a_frame_saturated_does_not_lose_the_nuclei_elsewhere(caplog) -> None:
    """Frame 1 with its top 20 rows (31 %) at the camera's maximum: 8 % of the FOV's pixels, so the
    99.8th percentile was 65535 and every nucleus normalised to about 0.006. The saturated pixels
    are left out of the percentiles (counted, warned about), so the nuclei of every frame stay."""
    counts = _nuclei_counts()
    clean = tracking_maps(counts, TrackingMapsConfig())
    bright = counts.copy()
    bright[1, :20] = 65535.0  # above both nuclei (rows 14-26 and 38-50 hold them)
    with caplog.at_level(logging.WARNING, logger="dynaclr.tracking.maps"):
        maps = tracking_maps(bright, TrackingMapsConfig(), where="raw.zarr FOV A/1/0 channel 'Nuclei'")
    assert maps.saturated_voxels == 20 * 64
    assert "raw.zarr FOV A/1/0 channel 'Nuclei': 1280 voxel(s) (7.8%) saturated at 65535" in caplog.text
    assert maps.normalization_range == pytest.approx(clean.normalization_range, rel=0.02)
    assert _nucleus_centres_are_foreground(maps.foreground, [0, 1, 2, 3])
    for region in (np.s_[[0, 2, 3]], np.s_[1, 23:]):  # rows 20-22 of frame 1: the smoothed edge
        changed = np.count_nonzero(maps.foreground[region] != clean.foreground[region])
        assert changed <= 0.05 * np.count_nonzero(clean.foreground[region])
    assert clean.saturated_voxels == 0


@pytest.mark.parametrize("image", ["saturated_8bit_nuclei", "binary_mask"])
def test_saturated_nuclei_and_binary_masks_keep_their_plateau(image: str) -> None:
    """Nuclei at an 8-bit camera's 255 over a background of 10 counts, or a 0/255 mask (ImageJ's
    binary): the plateau at the full scale is the signal, a few % of each frame, not an artefact.
    It stays in the percentiles (no saturated voxel counted): the nuclei normalise to 1 and the
    foreground is the nuclei, not smoothed noise."""
    cells = [(t, 20, 20 + 3 * t, 6) for t in range(3)] + [(t, 44, 40, 6) for t in range(3)]
    nuclei = disk_movie(cells, 3) > 0
    background = 0.0
    if image == "saturated_8bit_nuclei":
        background = 10.0 + np.random.default_rng(0).normal(0.0, 2.0, size=nuclei.shape)
    counts = np.where(nuclei, 255.0, background).astype(np.float32)
    maps = tracking_maps(counts, TrackingMapsConfig())
    assert maps.saturated_voxels == 0
    assert maps.normalization_range[1] == pytest.approx(255.0)
    assert _nucleus_centres_are_foreground(maps.foreground, [0, 1, 2])
    assert abs(int(maps.foreground.sum()) - int(nuclei.sum())) <= 0.25 * nuclei.sum()


def test_a_still_image_is_segmented_each_cell_its_own_track(tmp_path: Path) -> None:
    """One frame (fixed cells): ultrack rewards links only, so on its own a frame selects no segment;
    each of the three disks is a track of one detection, without parent, at frame 0."""
    from dynaclr.tracking.engine import run_ultrack

    cells = [(0, 16, 16, 6), (0, 40, 20, 6), (0, 30, 46, 7)]
    maps = tracking_maps(disk_movie(cells, 1), TrackingMapsConfig())
    tracks, _ = run_ultrack(maps.foreground, maps.contours, TrackingConfig(), tmp_path / "ultrack")
    assert len(tracks) == 3 and (tracks["t"] == 0).all() and (tracks["parent_track_id"] == -1).all()
    assert sorted(zip(tracks["y"].round(), tracks["x"].round(), strict=True)) == [
        (16, 16),
        (30, 46),
        (40, 20),
    ]
    assert tracks["track_id"].nunique() == 3


def test_imported_tracks_are_scored_by_position_against_the_ground_truth(
    tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    """Imported tracks have positions, no label image: each detection matches the true cell holding
    it. The ground truth's own positions and lineage, imported, score DET and TRA 1 and find every
    true division; leaving one detection out is one missed cell (DET lowered by 1 / N)."""
    from dynaclr.io import make_provenance, write_table

    truth = pd.read_parquet(tiny_plate["tracks"])
    columns = ["fov_name", "track_id", "t", "y", "x", "parent_track_id"]

    def scored(table: pd.DataFrame, name: str) -> pd.Series:
        path = tmp_path / f"{name}.parquet"
        write_table(table[columns].reset_index(drop=True), path, make_provenance("tracks", {}))
        csv = tmp_path / name / "tracking.csv"
        evaluated = evaluate_tracking(
            TrackingEvaluationConfig(),
            EvaluateTrackingInputs(tracks=path, labels=tiny_plate["labels"], truth=tiny_plate["tracks"]),
            EvaluateTrackingOutputs(table=csv, record=csv.with_suffix(".json")),
        )
        assert list(evaluated["fov_name"])[-1] == "all"
        return evaluated.iloc[-1]

    perfect = scored(truth, "perfect")
    assert perfect["det"] == 1.0 and perfect["tra"] == 1.0
    assert perfect["n_reference_divisions"] > 0 and perfect["division_recall"] == 1.0
    assert perfect["division_precision"] == 1.0
    missing = scored(truth.drop(index=truth.index[len(truth) // 2]), "missing")
    assert missing["false_negative_vertices"] == 1
    assert missing["det"] == pytest.approx(1 - 1 / perfect["n_reference_vertices"])


def test_a_nuclear_frame_repeating_the_one_before_is_named_and_marked_reduced(
    tracked: dict[str, Path], tmp_path: Path, caplog
) -> None:
    """A plate tracked from its raw nuclear channel without phase reconstruction (``phase: null``, a
    fluorescence-only dataset), whose frame 5 is a copy of frame 4 (an acquisition that wrote one frame
    twice): only the phase stage compared frames, so it was tracked as a new time point, exit 0 and no
    word, its zero displacement biasing temporal metrics. Tracking, which reads every raw frame, names it
    in a WARNING and the FOV's record (``repeated_frames``), and the QC table marks the FOV reduced. The
    plate as simulated lists none, nor does its FOV whose nuclear channel is constant (every frame
    equal, empty: no frame written twice)."""
    import shutil

    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    for fov_name in (CELLS_FOV, EMPTY_FOV):
        _, clean = read_fov_record(record_of(tracked["root"], fov_name), "tracks_fov")
        assert clean["repeated_frames"] == []
    raw = tmp_path / "raw.zarr"
    shutil.copytree(tracked["plate"], raw)
    with open_ome_zarr(raw, layout="hcs", mode="r+") as plate:
        image = plate[CELLS_FOV]["0"]
        image[5] = np.asarray(image[4])
    config = TrackingConfig()
    make_plate(raw, config, tmp_path / "tracks.zarr")
    with caplog.at_level(logging.WARNING, logger="dynaclr.numerics.repeats"):
        track(raw, config, tmp_path / "tracks.zarr", tmp_path, CELLS_FOV)
    _, metrics = read_fov_record(record_of(tmp_path, CELLS_FOV), "tracks_fov")
    assert metrics["repeated_frames"] == [5]
    assert f"FOV {CELLS_FOV} channel 'Nuclei': frame(s) [5] repeat the frame before them" in caplog.text
    row = qc_row(ArtifactKind.TRACKS_FOV, record_of(tmp_path, CELLS_FOV), metrics, "tracking")
    assert row["status"] == "reduced"
    assert "frames [5] repeat the frame before (a frame written twice?)" in row["reason"]
    # a record made before the check: its frames never compared, which its QC reason says
    older = {key: value for key, value in metrics.items() if key != "repeated_frames"}
    row = qc_row(ArtifactKind.TRACKS_FOV, record_of(tmp_path, CELLS_FOV), older, "tracking")
    assert row["reason"].endswith(
        "repeated frames not checked (a record made before the check; `snakemake --forcerun track_fov` to "
        "check)"
    )
