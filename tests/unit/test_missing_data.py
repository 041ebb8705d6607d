"""Missing voxels (NaN, ±inf) and damaged chunks, across the stages that read pixels.

The policy (:mod:`dynaclr.numerics.missing`): statistics ignore missing voxels; a frame more than
half missing is dropped (logged at WARNING, listed in the FOV's record and the QC table); fewer are
filled with the stage's neutral value; a FOV more than half missing fails naming the fix. Plates
here are float32 copies of conftest's ``tiny_plate`` (camera counts cannot hold NaN), edited
before they are written; a damaged chunk is a real chunk file cut short on disk.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import zarr
from iohub.ngff import open_ome_zarr

from dynaclr.config.patches import PatchSpec
from dynaclr.config.tracking import TrackingConfig
from dynaclr.io import ArtifactError
from dynaclr.io.chunks import CorruptChunkError, read_block
from dynaclr.io.plate import (
    OME_ZARR_VERSION,
    fov_record_path,
    open_plate_position,
    read_fov_record,
    read_plate_geometry,
    scale_transform,
    split_fov_name,
)
from dynaclr.io.tables import parse_csv
from dynaclr.numerics.missing import (
    DROP_FRAME_SHARE,
    MissingDataError,
    MissingTally,
    count_missing,
    fill_missing,
    frame_is_dropped,
    missing_mask,
)
from dynaclr.numerics.normalization import channel_statistics
from dynaclr.patches import ExtractPatchesInputs, ExtractPatchesOutputs, extract_fov_patches
from dynaclr.qc import QcTableInputs, QcTableOutputs, qc_table
from dynaclr.tracking import (
    TrackFovInputs,
    TrackFovOutputs,
    TracksPlateInputs,
    TracksPlateOutputs,
    create_tracks_plate,
    track_fov,
)
from dynaclr.tracking.fov import read_reduced_nuclei
from dynaclr.virtual_stain.plates import fov_normalization

FOV = "A/1/0"
NUCLEI, SENSOR = 1, 2  # channel indices of the tiny plate: Brightfield, Nuclei, ViralSensor, ERMarker
DROPPED_T = 4

SPEC = PatchSpec.model_validate(
    {
        "name": "sensor",
        "channels": [{"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"}],
        "z_window_slices": 3,
        "patch_size_yx_px": 16,
        "storage_dtype": "float32",
    }
)


def float_plate_copy(
    source: Path,
    target: Path,
    edit: Callable[[np.ndarray], None] | None = None,
    fovs: tuple[str, ...] = (FOV,),
) -> Path:
    """A float32 copy of ``fovs`` of an HCS plate, a plate of one's own (no dynaclr provenance);
    ``edit`` may change each (T, C, Z, Y, X) image in place before it is written."""
    geometry = read_plate_geometry(source)
    with (
        open_ome_zarr(source, layout="hcs", mode="r") as plate,
        open_ome_zarr(
            target, layout="hcs", mode="w", channel_names=list(plate.channel_names), version=OME_ZARR_VERSION
        ) as copy,
    ):
        for fov_name in fovs:
            image = np.asarray(plate[fov_name]["0"][:], dtype=np.float32)
            if edit is not None:
                edit(image)
            copy.create_position(*split_fov_name(fov_name)).create_image(
                "0",
                image,
                transform=scale_transform(
                    geometry.time_interval_s, geometry.z_step_um, geometry.pixel_size_um
                ),
            )
        copy.zattrs["time_interval_minutes"] = geometry.time_interval_s / 60.0
    return target


def nan_in_a_nucleus(tracks: Path) -> Callable[[np.ndarray], None]:
    """An edit putting one NaN voxel in the nuclear channel, at a cell's centroid (t=5)."""
    cell = pd.read_parquet(tracks).query("fov_name == @FOV and t == 5").iloc[0]

    def edit(image: np.ndarray) -> None:
        image[5, NUCLEI, round(cell["z"]), round(cell["y"]), round(cell["x"])] = np.nan

    return edit


def mostly_missing_frame(image: np.ndarray) -> None:
    """Frame ``DROPPED_T`` of every channel: 60 of the 96 rows NaN (62 % of its voxels)."""
    image[DROPPED_T, :, :, :60] = np.nan


def all_missing(image: np.ndarray) -> None:
    image[:, NUCLEI] = np.nan
    image[:, SENSOR] = np.nan


def track_one_fov(plate: Path, root: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Track FOV A/1/0 of ``plate`` (its Nuclei channel) under ``root``; the table and the record's
    metrics."""
    config = TrackingConfig()
    create_tracks_plate(
        config,
        TracksPlateInputs(plate=plate),
        TracksPlateOutputs(tracks_plate=root / "tracks.zarr"),
        channel="Nuclei",
    )
    outputs = TrackFovOutputs(
        tracks_csv=root / "tracks.csv", record=fov_record_path(root / "records/tracks", FOV)
    )
    table = track_fov(
        config,
        TrackFovInputs(plate=plate, tracks_plate=root / "tracks.zarr"),
        outputs,
        fov_name=FOV,
        scratch_dir=root / "scratch",
    )
    _, metrics = read_fov_record(outputs.record, "tracks_fov")
    return table, metrics


def extract(plate: Path, tracks: Path, root: Path) -> tuple[pd.DataFrame, dict[str, Any], Path]:
    """Patch spec ``sensor`` of FOV A/1/0; the index, the metrics and the record's path."""
    outputs = ExtractPatchesOutputs(
        zarr=root / "patches.zarr",
        parquet=root / "patches.parquet",
        record=fov_record_path(root / "records/patches", FOV),
    )
    metrics = extract_fov_patches(
        SPEC, ExtractPatchesInputs(plate_raw=plate, tracks=tracks), outputs, fov_name=FOV
    )
    return pd.read_parquet(outputs.parquet), metrics, outputs.record


def as_tracks_table(table: pd.DataFrame, path: Path) -> Path:
    """A tracking CSV table as the Parquet tracks table patch extraction reads (``fov_name`` added)."""
    table.assign(fov_name=FOV).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def clean(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """FOV A/1/0 of the tiny plate as float32, tracked."""
    root = tmp_path_factory.mktemp("clean")
    plate = float_plate_copy(tiny_plate["plate"], root / "plate.zarr")
    table, metrics = track_one_fov(plate, root)
    return {
        "plate": plate,
        "table": table,
        "metrics": metrics,
        "record": fov_record_path(root / "records/tracks", FOV),
    }


@pytest.fixture(scope="module")
def dropped(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """FOV A/1/0 with frame 4 mostly NaN in every channel, tracked and cut into patches."""
    root = tmp_path_factory.mktemp("dropped")
    plate = float_plate_copy(tiny_plate["plate"], root / "plate.zarr", mostly_missing_frame)
    table, metrics = track_one_fov(plate, root)
    index, patch_metrics, patch_record = extract(plate, tiny_plate["tracks"], root)
    return {
        "root": root,
        "table": table,
        "metrics": metrics,
        "index": index,
        "patch_metrics": patch_metrics,
        "records": {"track": fov_record_path(root / "records/tracks", FOV), "patch": patch_record},
    }


# --- the policy ---------------------------------------------------------------------------------


def test_missing_voxels_are_the_non_finite_ones_and_integer_images_have_none() -> None:
    values = np.array([1.0, np.nan, np.inf, -np.inf, 2.0], dtype=np.float32)
    assert missing_mask(values).tolist() == [False, True, True, True, False]
    assert count_missing(values) == 3
    assert missing_mask(np.arange(5, dtype=np.uint16)) is None
    assert missing_mask(np.ones(4)) is None
    assert fill_missing(values, 0.5).tolist() == [1.0, 0.5, 0.5, 0.5, 2.0]
    clean_values = np.ones(4, dtype=np.float32)
    assert fill_missing(clean_values, 0.0) is clean_values  # clean data is not copied, nor changed
    assert not frame_is_dropped(50, 100) and frame_is_dropped(51, 100)
    assert DROP_FRAME_SHARE == 0.5


def test_tally_drops_mostly_missing_frames_fills_the_rest_and_fails_a_mostly_missing_fov(caplog) -> None:
    frame = np.ones((2, 10, 10), dtype=np.float32)
    partly, mostly = frame.copy(), frame.copy()
    partly[0, 0, :3] = np.nan
    mostly[:, :6] = np.nan
    tally = MissingTally("plate.zarr FOV A/1/0 channel 'Nuclei'")
    with caplog.at_level(logging.WARNING, logger="dynaclr.numerics.missing"):
        assert [tally.add(t, f) for t, f in enumerate([frame, partly, mostly, frame])] == [
            False,
            False,
            True,
            False,
        ]
    assert "plate.zarr FOV A/1/0 channel 'Nuclei': frame t=2 dropped: 60.0%" in caplog.text
    assert tally.metrics() == {
        "missing_voxels": 123,
        "filled_voxels": 3,
        "missing_share": 123 / 800,
        "dropped_frames": [2],
    }
    tally.check_fov()  # 15 % missing: the FOV is used
    failing = MissingTally("plate.zarr FOV A/1/0 channel 'Nuclei'", expected_voxels=4 * 200)
    for t in range(3):  # 360 of the 800 voxels missing: not yet more than half
        failing.add(t, mostly)
    with pytest.raises(MissingDataError) as error:  # fails on the frame that settles it
        failing.add(3, mostly)
    message = str(error.value)
    assert "plate.zarr FOV A/1/0 channel 'Nuclei': at least 60.0% of the FOV's voxels are missing" in message
    assert "Exclude the FOV from the dataset" in message and "fix the acquisition" in message


def test_normalisation_ignores_missing_voxels_and_drops_mostly_missing_frames() -> None:
    rng = np.random.default_rng(0)
    frames = rng.normal(100.0, 10.0, size=(4, 3, 8, 8))
    with_missing = frames.copy()
    with_missing[1, 0, 0, 0] = np.nan
    with_missing[2, :, :6] = np.inf  # 75 % of frame 2
    stats = channel_statistics(lambda t: with_missing[t], range(4), "zscore", where="FOV A/1/0")
    finite = np.concatenate([frames[0].ravel(), np.delete(frames[1].ravel(), 0), frames[3].ravel()])
    assert stats.mean == pytest.approx(finite.mean()) and stats.std == pytest.approx(finite.std())
    assert stats.dropped_frames == [2] and stats.missing_voxels == 1 + 3 * 6 * 8
    per_time = channel_statistics(lambda t: with_missing[t], range(4), "zscore", per_time_point=True)
    assert np.isfinite(per_time.center_per_time).all() and per_time.center_per_time[2] == per_time.center
    with pytest.raises(MissingDataError, match=r"raw.zarr FOV A/1/0 channel 'Nuclei': 100.0% of the FOV's"):
        channel_statistics(
            lambda t: np.full((3, 8, 8), np.nan),
            range(4),
            "median_p99",
            where="raw.zarr FOV A/1/0 channel 'Nuclei'",
        )


# --- one NaN voxel: tracked and cut as without it ---------------------------------------------------


@pytest.mark.slow  # tracks and cuts a FOV (the fixtures clean, dropped)
def test_one_nan_voxel_in_the_nuclear_channel_changes_no_track(
    tiny_plate: dict[str, Path], clean: dict[str, Any], tmp_path: Path
) -> None:
    plate = float_plate_copy(
        tiny_plate["plate"], tmp_path / "plate.zarr", nan_in_a_nucleus(tiny_plate["tracks"])
    )
    table, metrics = track_one_fov(plate, tmp_path)
    assert len(clean["table"]) > 50
    pd.testing.assert_frame_equal(table, clean["table"])
    assert (
        metrics["missing_voxels"] == 1 and metrics["filled_voxels"] == 1 and metrics["dropped_frames"] == []
    )
    assert np.isfinite(metrics["normalization_range"]).all()
    # patches of the tracked cells are cut, finite, as many as cells
    index, patch_metrics, _ = extract(plate, as_tracks_table(table, tmp_path / "tracks.parquet"), tmp_path)
    assert patch_metrics["n_patches"] == len(table) == len(index)


@pytest.mark.slow  # tracks and cuts a FOV (the fixtures clean, dropped)
def test_a_nan_voxel_in_a_patch_channel_is_the_normalised_centre(
    tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    cell = pd.read_parquet(tiny_plate["tracks"]).query("fov_name == @FOV and t == 3").iloc[0]
    y, x = round(cell["y"]), round(cell["x"])

    def edit(image: np.ndarray) -> None:
        image[3, SENSOR, 2, y, x] = np.nan  # slice 2: the middle of the 3 kept slices (1..3)

    plate = float_plate_copy(tiny_plate["plate"], tmp_path / "plate.zarr", edit)
    index, metrics, _ = extract(plate, tiny_plate["tracks"], tmp_path)
    assert metrics["missing_voxels"] == 1 and metrics["dropped_frames"] == []
    import zarr

    patches = zarr.open_group(str(tmp_path / "patches.zarr"), mode="r")["patches"]
    assert np.isfinite(patches[:]).all()
    row = index[(index["t"] == 3) & (index["track_id"] == cell["track_id"])].iloc[0]
    size = SPEC.initial_size_px
    offset_y = y - (int(np.floor(row["y"] + 0.5)) - size // 2)
    offset_x = x - (int(np.floor(row["x"] + 0.5)) - size // 2)
    assert patches[int(row["row"]), 0, 1, offset_y, offset_x] == 0.0


# --- a frame mostly missing: dropped, reported, the rest processed -----------------------------------


@pytest.mark.slow  # tracks and cuts a FOV (the fixtures clean, dropped)
def test_a_mostly_missing_frame_has_no_detections_and_the_other_frames_are_tracked(
    dropped: dict[str, Any], clean: dict[str, Any]
) -> None:
    table, metrics = dropped["table"], dropped["metrics"]
    assert metrics["dropped_frames"] == [DROPPED_T]
    assert DROPPED_T not in set(table["t"])
    assert set(table["t"]) == set(range(12)) - {DROPPED_T}
    clean_other = clean["table"].query("t != @DROPPED_T")
    assert len(table) >= 0.8 * len(clean_other)


@pytest.mark.slow  # tracks and cuts a FOV (the fixtures clean, dropped)
def test_a_mostly_missing_frame_gets_no_patches_and_is_logged_at_warning(
    tiny_plate: dict[str, Path], tmp_path: Path, caplog
) -> None:
    plate = float_plate_copy(tiny_plate["plate"], tmp_path / "plate.zarr", mostly_missing_frame)
    with caplog.at_level(logging.WARNING):
        index, metrics, _ = extract(plate, tiny_plate["tracks"], tmp_path)
    cells = pd.read_parquet(tiny_plate["tracks"]).query("fov_name == @FOV")
    at_dropped = int((cells["t"] == DROPPED_T).sum())
    assert at_dropped > 0
    assert DROPPED_T not in set(index["t"]) and len(index) == len(cells) - at_dropped
    assert metrics["dropped_frames"] == [DROPPED_T] and metrics["n_cells_at_dropped_frames"] == at_dropped
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"frame t={DROPPED_T} dropped" in m and "'raw:ViralSensor'" in m for m in warnings)
    assert any(f"{at_dropped} cell observation(s) at dropped frames [{DROPPED_T}]" in m for m in warnings)


@pytest.mark.slow  # tracks and cuts a FOV (the fixtures clean, dropped)
def test_the_qc_table_lists_the_dropped_frame_and_warns(
    dropped: dict[str, Any], tmp_path: Path, caplog
) -> None:
    outputs = QcTableOutputs(
        table=tmp_path / "qc.csv",
        record=tmp_path / "qc.json",
        import_warnings=tmp_path / "import_warnings.csv",
    )
    inputs = QcTableInputs(
        track_records=[dropped["records"]["track"]], patch_records=[dropped["records"]["patch"]]
    )
    with caplog.at_level(logging.WARNING, logger="dynaclr.qc.table"):
        qc_table(inputs, outputs, dataset="demo")
    table = parse_csv(outputs.table)  # as the findings read it: one frame "3" is text, as "3;4" is
    assert table["stage"].tolist() == ["tracking", "patches:sensor"]
    assert table["fov_name"].tolist() == [FOV, FOV]
    assert table["dropped_frames"].tolist() == [str(DROPPED_T)] * 2
    assert table["status"].tolist() == ["reduced", "reduced"]
    assert all(f"frames [{DROPPED_T}] dropped" in reason for reason in table["reason"])
    assert (table["missing_voxels"] > 0).all()
    assert f"dataset demo, FOV {FOV}, tracking: reduced (frames [{DROPPED_T}] dropped" in caplog.text
    provenance, metrics = read_fov_record(outputs.record, "qc_table")
    assert provenance.stage == "qc_table" and len(provenance.inputs) == 2
    assert metrics["n_reduced"] == 2 and metrics["n_ok"] == 0


@pytest.mark.slow  # tracks and cuts a FOV (the fixtures clean, dropped)
def test_the_qc_table_marks_clean_fovs_ok(clean: dict[str, Any], tmp_path: Path) -> None:
    outputs = QcTableOutputs(
        table=tmp_path / "qc.csv",
        record=tmp_path / "qc.json",
        import_warnings=tmp_path / "import_warnings.csv",
    )
    table = qc_table(QcTableInputs(track_records=[clean["record"]]), outputs, dataset="demo")
    assert table[["status", "reason", "n_dropped_frames", "missing_voxels"]].iloc[0].tolist() == [
        "ok",
        "",
        0,
        0,
    ]


def test_qc_rows_say_why_a_fov_is_reduced_empty_or_unknown() -> None:
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    path = Path("results/demo/records/patches/sensor/B/1/0.json")
    clean = {"n_frames": 12, "n_patches": 40, "missing_voxels": 0, "dropped_frames": []}
    few_padded = qc_row(ArtifactKind.PATCH_FOV, path, {**clean, "mostly_padded_share": 0.1}, "patches:sensor")
    assert few_padded["fov_name"] == "B/1/0" and few_padded["status"] == "ok" and few_padded["reason"] == ""
    many_padded = {**clean, "n_mostly_padded_patches": 12, "mostly_padded_share": 0.3}
    row = qc_row(ArtifactKind.PATCH_FOV, path, many_padded, "patches:sensor")
    assert row["status"] == "reduced" and row["reason"] == "12 patch(es) (30%) more than half padding"
    clipped = {**clean, "clipped_voxels_per_channel": {"raw:Phase": 0, "raw:ViralSensor": 3}}
    row = qc_row(ArtifactKind.PATCH_FOV, path, clipped, "patches:sensor")
    assert row["status"] == "reduced"
    assert row["reason"] == "normalised voxel(s) clipped to the storage dtype's range: 3 in raw:ViralSensor"
    no_tracks = {
        "fov_name": "A/1/0",
        "n_frames": 12,
        "n_tracks": 0,
        "missing_voxels": 0,
        "dropped_frames": [],
    }
    row = qc_row(ArtifactKind.TRACKS_FOV, path, no_tracks, "tracking")
    assert row["status"] == "empty" and row["reason"] == "no detection in any frame: 0 tracks"
    row = qc_row(ArtifactKind.TRACKS_FOV, path, {**no_tracks, "noise_only": True}, "tracking")
    assert row["status"] == "empty"
    noise = "(no contrast above the pixel noise in any frame of the nuclear image)"
    assert row["reason"] == f"no detection in any frame: 0 tracks {noise}"
    row = qc_row(ArtifactKind.PHASE_FOV, path, {"n_frames": 12}, "phase")
    assert row["status"] == "unknown" and "snakemake --forcerun reconstruct_phase" in row["reason"]


def test_qc_rows_give_each_frame_one_reason_and_name_frames_without_signal() -> None:
    """A phase record made before dropped frames left ``saturated_frames`` (frame 1 dropped and
    listed as saturated too) gave frame 1 two reasons; it now keeps its drop reason only. A tracking
    record's frames without signal are listed in every row kind: a ``noise_only`` FOV stays
    ``empty`` with its one reason (every frame), a FOV with tracks elsewhere is ``reduced``."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    path = Path("results/demo/records/phase/A/1/0.json")
    phase = {
        "fov_name": "A/1/0",
        "n_frames": 4,
        "missing_voxels": 0,
        "dropped_frames": [1],
        "frames_without_brightfield": [1],
        "saturated_frames": [1, 3],
        "repeated_frames": [],
    }
    row = qc_row(ArtifactKind.PHASE_FOV, path, phase, "phase")
    assert row["reason"] == (
        "frames [1] dropped (no brightfield intensity); frames [3] over-exposed (brightfield saturated)"
    )
    assert row["frames_without_signal"] == ""
    tracking = {
        "fov_name": "A/1/0",
        "n_frames": 3,
        "missing_voxels": 0,
        "dropped_frames": [],
        "repeated_frames": [],
    }
    noise_only = {**tracking, "n_tracks": 0, "frames_without_signal": [0, 1, 2], "noise_only": True}
    row = qc_row(ArtifactKind.TRACKS_FOV, path, noise_only, "tracking")
    assert row["status"] == "empty" and row["frames_without_signal"] == "0;1;2"
    noise = "(no contrast above the pixel noise in any frame of the nuclear image)"
    assert row["reason"] == f"no detection in any frame: 0 tracks {noise}"
    # constant (and dropped) frames have their own reasons: the noise clause names the other frames
    # only (it read "in any frame" beside "frames 0 .. 1 without nuclei (constant ...)")
    longer = {**tracking, "n_frames": 10, "dropped_frames": [9], "n_tracks": 0, "noise_only": True}
    mixed = {**longer, "empty_frames": [0, 1], "frames_without_signal": list(range(2, 10))}
    row = qc_row(ArtifactKind.TRACKS_FOV, path, mixed, "tracking")
    assert row["status"] == "empty" and row["frames_without_signal"] == "0;1;2;3;4;5;6;7;8"
    assert row["reason"] == (
        "no detection in any frame: 0 tracks (no contrast above the pixel noise in frames 2 .. 8 of the "
        "nuclear image); frames [9] dropped (more than half their voxels missing); frames 0 .. 1 without "
        "nuclei (constant nuclear image: no signal)"
    )
    partly = {**tracking, "n_tracks": 4, "frames_without_signal": [0], "noise_only": False}
    row = qc_row(ArtifactKind.TRACKS_FOV, path, partly, "tracking")
    assert row["status"] == "reduced" and row["frames_without_signal"] == "0"
    assert row["reason"] == "frames 0 without nuclei (no contrast above the pixel noise)"


# --- a FOV mostly missing: fails, naming the FOV and the fix -----------------------------------------


def test_an_entirely_missing_fov_fails_in_every_stage_naming_the_fix(
    tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    plate = float_plate_copy(tiny_plate["plate"], tmp_path / "plate.zarr", all_missing)
    channel = "'(Nuclei|raw:ViralSensor)'"
    expected = (
        rf"{re.escape(str(plate))} FOV {FOV} channel {channel}: (at least )?\d+\.\d% of the FOV's voxels"
    )
    with pytest.raises(MissingDataError, match=expected) as tracking_error:
        track_one_fov(plate, tmp_path / "tracking")
    assert "Exclude the FOV from the dataset" in str(tracking_error.value)
    with pytest.raises(MissingDataError, match=expected):
        extract(plate, tiny_plate["tracks"], tmp_path / "patches")
    with open_ome_zarr(plate, layout="hcs", mode="r") as opened:
        image = opened[FOV]["0"]
        with pytest.raises(MissingDataError, match=r"100\.0% of the FOV's voxels are missing"):
            fov_normalization(image, NUCLEI, "median_p99", 3, f"{plate} FOV {FOV} channel 'Nuclei'")


# --- a damaged chunk: the store, array, FOV, time point and the fix ------------------------------------


@pytest.fixture(scope="module")
def damaged(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of the tiny plate whose chunk (t=3, c=Nuclei) of FOV A/1/0 is cut short, and one whose
    chunk (t=7, c=ViralSensor) is overwritten with zeros."""
    root = tmp_path_factory.mktemp("damaged")
    truncated, overwritten = root / "truncated.zarr", root / "overwritten.zarr"
    shutil.copytree(tiny_plate["plate"], truncated)
    shutil.copytree(tiny_plate["plate"], overwritten)
    chunk = truncated / "A/1/0/0/c/3/1/0/0/0"
    chunk.write_bytes(chunk.read_bytes()[:100])
    chunk = overwritten / "A/1/0/0/c/7/2/0/0/0"
    chunk.write_bytes(bytes(len(chunk.read_bytes())))
    return {"truncated": truncated, "overwritten": overwritten}


def test_a_truncated_chunk_names_the_store_array_fov_time_point_and_fix(
    damaged: dict[str, Path], tmp_path: Path
) -> None:
    plate = damaged["truncated"]
    config = TrackingConfig()
    with pytest.raises(CorruptChunkError) as error:
        read_reduced_nuclei(plate, "Nuclei", FOV, config)
    message = str(error.value)
    assert message.startswith(f"{plate}: array 'A/1/0/0' (FOV {FOV}, time point t=3, channel c=1)")
    assert f"chunk (3, 1, 0, 0, 0) (file {plate}/A/1/0/0/c/3/1/0/0/0)" in message
    assert "Re-copy the store from its source" in message and f"leave FOV {FOV} out of the dataset" in message
    assert isinstance(error.value.__cause__, RuntimeError)  # blosc's own error, kept as the cause
    # the other FOV's frames still read
    assert read_reduced_nuclei(plate, "Nuclei", "B/1/0", config)[0].shape == (12, 96, 96)


def test_a_chunk_overwritten_with_zeros_fails_patch_extraction_and_normalisation(
    damaged: dict[str, Path], tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    plate = damaged["overwritten"]
    where = rf"{re.escape(str(plate))}: array 'A/1/0/0' \(FOV {FOV}, time point t=7, channel c=2\)"
    with pytest.raises(CorruptChunkError, match=where):
        extract(plate, tiny_plate["tracks"], tmp_path)
    with open_ome_zarr(plate, layout="hcs", mode="r") as opened:
        with pytest.raises(CorruptChunkError, match=where):
            fov_normalization(opened[FOV]["0"], SENSOR, "median_p99", 12, "sensor", store=plate, fov_name=FOV)


@pytest.mark.parametrize(("dtype", "order"), [(">u2", "C"), ("<u2", "F")])
def test_a_zarr_v2_array_the_reader_does_not_decode_is_not_called_corrupt(
    dtype: str, order: str, tmp_path: Path
) -> None:
    """iohub's default reader (the zarrs codec pipeline) fails on a valid Zarr v2 array stored big-endian
    or in Fortran order: the error named the store truncated or corrupt and told to re-copy it or leave
    the FOV out. It names the storage instead (zarr-python's own pipeline reads the same file right)."""
    path = tmp_path / "p.zarr"
    data = np.arange(2 * 1 * 2 * 4 * 4, dtype=np.uint16).reshape(2, 1, 2, 4, 4)
    with open_ome_zarr(path, layout="hcs", mode="w", channel_names=["X"], version="0.4") as plate:
        plate.create_position("A", "1", "0").create_zeros("0", shape=data.shape, dtype=np.uint16)
    shutil.rmtree(path / "A/1/0/0")
    written = zarr.create_array(
        str(path / "A/1/0/0"),
        shape=data.shape,
        dtype=dtype,
        chunks=(1, 1, 2, 4, 4),
        zarr_format=2,
        order=order,
    )
    written[:] = data
    with zarr.config.set({"codec_pipeline.path": "zarr.core.codec_pipeline.BatchedCodecPipeline"}):
        assert np.array_equal(zarr.open_array(str(path / "A/1/0/0"), mode="r")[1, 0], data[1, 0])
    with open_plate_position(path, "A/1/0") as position:
        with pytest.raises(ArtifactError) as error:
            read_block(position["0"], (1, 0), store=path, fov_name="A/1/0")
    message = str(error.value)
    assert not isinstance(error.value, CorruptChunkError)
    assert message.startswith(
        f"{path}: array 'A/1/0/0' (FOV A/1/0, time point t=1, channel c=0) cannot be read"
    )
    assert "The store is not corrupt; rewrite the array little-endian in C order" in message
    assert "Re-copy" not in message


def test_read_block_passes_arrays_without_chunks_and_other_errors_through() -> None:
    array = np.arange(24).reshape(2, 3, 4)
    assert read_block(array, (1, 2), store="memory").tolist() == [20, 21, 22, 23]
    with pytest.raises(IndexError):
        read_block(array, (5,), store="memory")


def test_the_qc_table_lists_each_fovs_frames_without_foreground(tmp_path: Path) -> None:
    """Tracking leaves the frames without foreground out of ultrack's solves; a dim frame (signal, nuclei
    below the FOV's threshold) was listed in neither ``dropped_frames`` nor ``frames_without_signal``, so
    qc.csv could not tell which FOVs' tracking skipped frames. Its ``frames_without_foreground`` column
    now lists, per ``tracking`` row, every such frame (flagged or not; ``;``-separated, read back as
    text), empty for a FOV whose every frame has foreground, for a record made before the key, and for
    the other stages."""
    from dynaclr.io import make_provenance
    from dynaclr.io.plate import write_fov_record

    provenance = make_provenance("tracks_fov", TrackingConfig().model_dump(mode="json"))
    base = {"n_frames": 5, "n_tracks": 3, "missing_voxels": 0, "dropped_frames": [], "repeated_frames": []}
    records = []
    for fov, extra in (
        ("A/1/0", {"frames_without_foreground": [2]}),  # a dim frame, flagged nowhere else
        ("A/1/1", {"frames_without_foreground": [1, 3], "empty_frames": [1], "dropped_frames": [3]}),
        ("A/1/2", {"frames_without_foreground": []}),
        ("A/1/3", {}),  # a record made before frames_without_foreground
    ):
        record = tmp_path / "records" / f"{fov}.json"
        write_fov_record(record, provenance, {**base, "fov_name": fov, **extra})
        records.append(record)
    phase = tmp_path / "records" / "phase.json"
    write_fov_record(
        phase,
        make_provenance("phase_fov", {}),
        {**base, "fov_name": "A/1/0", "frames_without_foreground": [2]},
    )
    outputs = QcTableOutputs(
        table=tmp_path / "qc.csv",
        record=tmp_path / "qc.json",
        import_warnings=tmp_path / "import_warnings.csv",
    )
    qc_table(QcTableInputs(phase_records=[phase], track_records=records), outputs, dataset="demo")
    table = parse_csv(outputs.table)
    assert table["frames_without_foreground"].fillna("").tolist() == ["", "2", "1;3", "", ""]
    assert table.loc[2, "frames_without_signal"] == "1" and table.loc[2, "dropped_frames"] == "3"


def test_a_tracking_row_with_a_dim_frame_is_reduced_naming_it(tmp_path: Path) -> None:
    """A frame with signal where tracking segmented no nucleus (``frames_without_foreground`` neither
    dropped nor without signal: nuclei below the FOV's threshold) has no detection, so the FOV's
    cells are lost there; qc.csv listed it in ``frames_without_foreground`` only, with status ``ok``
    ("nothing left out") and no reason, and the first page said "quality control dropped no frame
    and no FOV". The row is now ``reduced``, its reason naming the frames; frames both left out and
    flagged otherwise (dropped, constant, without contrast) keep their own reason only."""
    from dynaclr.io import make_provenance
    from dynaclr.io.plate import write_fov_record

    provenance = make_provenance("tracks_fov", TrackingConfig().model_dump(mode="json"))
    base = {"n_frames": 6, "n_tracks": 3, "missing_voxels": 0, "dropped_frames": [], "repeated_frames": []}
    records = []
    for fov, extra in (
        ("B/12/003", {"frames_without_foreground": [2, 3]}),  # dim frames, flagged nowhere else
        ("B/12/004", {"frames_without_foreground": [1, 3], "empty_frames": [1], "dropped_frames": [3]}),
    ):
        record = tmp_path / "records" / f"{fov}.json"
        write_fov_record(record, provenance, {**base, "fov_name": fov, **extra})
        records.append(record)
    outputs = QcTableOutputs(
        table=tmp_path / "qc.csv",
        record=tmp_path / "qc.json",
        import_warnings=tmp_path / "import_warnings.csv",
    )
    qc_table(QcTableInputs(track_records=records), outputs, dataset="plate")
    table = parse_csv(outputs.table).set_index("fov_name")
    assert table.loc["B/12/003", "status"] == "reduced"
    assert "frames 2 .. 3 without nuclei though not without signal" in table.loc["B/12/003", "reason"]
    assert "not without signal" not in table.loc["B/12/004", "reason"]  # each frame has its own reason
