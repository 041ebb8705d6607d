"""Tracks you already have (rule import_tracks): the simulator's ground truth written out as a table
(CSV, Parquet), as ultrack's per-FOV CSVs and as Cell Tracking Challenge folders comes back as the
same cells, centroids and lineage; every way a file can be wrong fails with one line naming the
file, the row, the column, what was expected and what was found."""

from __future__ import annotations

import itertools
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from iohub.ngff import open_ome_zarr
from pydantic import ValidationError

from dynaclr.config.plate_checks import workflow_problems
from dynaclr.config.tracking import ImportedTracksConfig
from dynaclr.config.workflow import DatasetConfig, WorkflowConfig
from dynaclr.io import LARGEST_ID, ArtifactError, read_table, write_table
from dynaclr.io.plate import read_fov_record
from dynaclr.patches.inputs import read_tracks
from dynaclr.tracking import ImportTracksInputs, ImportTracksOutputs, import_tracks
from dynaclr.tracking.engine import conform_tracks_table, track_columns
from dynaclr.tracking.importing import (
    WHERE,
    conform_imported_tracks,
    imported_tracks_problems,
    imported_tracks_warnings,
    number_detections,
    read_tracks_table,
)
from dynaclr.tracking.position_check import (
    BETTER_SCORE_RATIO,
    CLEAR_SCORE,
    READING_WORDS,
    PositionCheck,
    check_positions_on_cells,
)
from dynaclr.tracking.trackmate import read_trackmate_xml

FOVS = ["A/1/0", "B/1/0"]
#: The tiny plate's (T, Z, Y, X).
SHAPE_TZYX = (12, 5, 96, 96)
PATTERN = "{row}/{col}/{fov}"


@pytest.fixture(scope="module")
def truth(tiny_plate: dict[str, Path]) -> pd.DataFrame:
    """The tiny plate's ground-truth tracks (fov_name, track_id, parent_track_id, t, z, y, x, ...)."""
    return pd.read_parquet(tiny_plate["tracks"])


def run_import(
    format: str,
    path: str,
    files: list[Path],
    out: Path,
    ctc_lineage: tuple[Path, ...] = (),
    plate: Path | None = None,
    position_unit: str = "px",
    **sampling_um: Any,
) -> pd.DataFrame:
    return import_tracks(
        ImportedTracksConfig(format=format, path=path, position_unit=position_unit),  # type: ignore[arg-type]
        ImportTracksInputs(files=tuple(files), ctc_lineage=ctc_lineage, plate=plate),
        ImportTracksOutputs(tracks=out / "tracks.parquet"),
        fov_names=FOVS,
        shape_tzyx=SHAPE_TZYX,
        **sampling_um,
    )


def assert_same_tracks(
    imported: pd.DataFrame, truth: pd.DataFrame, *, tolerance_px: float | None = 1e-9
) -> None:
    """Same cells at the same frames and parent links; centroids within ``tolerance_px`` (None: skip)."""
    key = ["fov_name", "track_id", "t"]
    merged = imported.merge(truth, on=key, how="outer", suffixes=("", "_truth"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", key]
    axes = [a for a in ("z", "y", "x") if a in imported.columns and tolerance_px is not None]
    for axis in axes:
        np.testing.assert_allclose(merged[axis], merged[f"{axis}_truth"], atol=tolerance_px)
    np.testing.assert_array_equal(merged["parent_track_id"], merged["parent_track_id_truth"])


def assert_tracks_artifact(imported: pd.DataFrame, out: Path, is_3d: bool) -> None:
    """The written table is the `tracks` artifact collect_tracks writes, and patch extraction reads it."""
    written, provenance = read_table(out / "tracks.parquet", "tracks")
    assert provenance.kind == "tracks"
    assert list(written.columns) == ["fov_name", *track_columns(is_3d)]
    expected_types = {name: "int64" for name in ("track_id", "t", "id", "parent_track_id", "parent_id")}
    assert {name: str(written[name].dtype) for name in expected_types} == expected_types
    assert all(str(written[a].dtype) == "float64" for a in ("y", "x"))
    pd.testing.assert_frame_equal(written, imported)
    # ids: one per detection within a FOV; parent_id the track's previous detection, or the mother's last
    for fov, rows in written.groupby("fov_name"):
        assert rows["id"].is_unique, fov
        by_id = rows.set_index("id")
        for _, track in rows.groupby("track_id"):
            firsts = track["parent_id"].iloc[1:].to_numpy()
            np.testing.assert_array_equal(firsts, track["id"].iloc[:-1].to_numpy())
            parent_track = int(track["parent_track_id"].iloc[0])
            first_parent = int(track["parent_id"].iloc[0])
            if parent_track < 0:
                assert first_parent == -1
            else:
                mother = by_id.loc[first_parent]
                assert mother["track_id"] == parent_track
                assert mother["t"] == rows.loc[rows["track_id"] == parent_track, "t"].max()
    patch_tracks, _ = read_tracks(out / "tracks.parquet")
    assert len(patch_tracks) == len(written)


def test_a_csv_table_comes_back_as_the_ground_truth(truth: pd.DataFrame, tmp_path: Path) -> None:
    table = truth[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]]
    table.to_csv(tmp_path / "mine.csv", index=False)
    imported = run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    assert "z" not in imported.columns
    assert_same_tracks(imported, truth)
    assert_tracks_artifact(imported, tmp_path, is_3d=False)


def test_a_parquet_table_in_3d_with_extra_columns_and_empty_parents(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    table = truth[["fov_name", "track_id", "t", "z", "y", "x", "parent_track_id", "condition"]].copy()
    table["parent_track_id"] = table["parent_track_id"].where(table["parent_track_id"] >= 0)  # none: empty
    table["bbox_y0"] = table["y"] - 5  # bounding boxes are ignored, not refused
    table.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "mine.parquet")
    imported = run_import("table", "mine.parquet", [tmp_path / "mine.parquet"], tmp_path)
    assert_same_tracks(imported, truth)
    assert_tracks_artifact(imported, tmp_path, is_3d=True)


def test_ultrack_csvs_per_fov_keep_their_node_ids(truth: pd.DataFrame, tmp_path: Path) -> None:
    files = []
    for fov, rows in truth.groupby("fov_name"):
        rows = rows.sort_values(["track_id", "t"])
        layer = rows[["track_id", "t", "y", "x", "parent_track_id"]].copy()
        layer.insert(4, "id", 1_000_000 + 1000 * rows["track_id"] + rows["t"])  # ultrack-like node ids
        previous = layer.groupby("track_id")["id"].shift(1)
        last = layer.groupby("track_id")["id"].last()
        layer["parent_id"] = previous.fillna(layer["parent_track_id"].map(last)).fillna(-1).astype(int)
        path = tmp_path / PATTERN.format(row=fov.split("/")[0], col="1", fov="0") / "tracks.csv"
        path.parent.mkdir(parents=True)
        layer.to_csv(path, index=False)
        files.append(path)
    imported = run_import("ultrack", f"{tmp_path}/{PATTERN}/tracks.csv", files, tmp_path)
    assert_same_tracks(imported, truth)
    assert (imported["id"] == 1_000_000 + 1000 * imported["track_id"] + imported["t"]).all()
    assert_tracks_artifact(imported, tmp_path, is_3d=False)


def write_ultrack_csvs(
    truth: pd.DataFrame, root: Path, fov_column: dict[str, str] | None = None
) -> list[Path]:
    """Each FOV's tracks as an ultrack CSV ``root/<row>_<col>_<fov>.csv``, in FOVS order; with
    ``fov_column``, a ``fov_name`` column holding the given value for each FOV."""
    files = []
    for fov in FOVS:
        layer = truth.loc[truth["fov_name"] == fov, ["track_id", "t", "y", "x", "parent_track_id"]]
        if fov_column is not None:
            layer = layer.assign(fov_name=fov_column[fov])
        path = root / f"{fov.replace('/', '_')}.csv"
        layer.to_csv(path, index=False)
        files.append(path)
    return files


def test_an_ultrack_csv_naming_its_own_fov_is_read(truth: pd.DataFrame, tmp_path: Path) -> None:
    files = write_ultrack_csvs(truth, tmp_path, {fov: f"/{fov}" for fov in FOVS})  # iohub's leading slash
    imported = run_import("ultrack", f"{tmp_path}/{{row}}_{{col}}_{{fov}}.csv", files, tmp_path)
    assert_same_tracks(imported, truth)


def test_an_ultrack_csv_naming_another_fov_is_refused(truth: pd.DataFrame, tmp_path: Path) -> None:
    """tracks.path maps B/1/0's file to A/1/0 (and back): its fov_name column says so, and the tracks
    would be cut from the other FOV's images."""
    files = write_ultrack_csvs(truth, tmp_path, {"A/1/0": "B/1/0", "B/1/0": "A/1/0"})
    n_rows = int((truth["fov_name"] == "A/1/0").sum())
    with pytest.raises(ArtifactError) as raised:
        run_import("ultrack", f"{tmp_path}/{{row}}_{{col}}_{{fov}}.csv", files, tmp_path)
    assert str(raised.value) == (
        f"{files[0]} line 2: column 'fov_name': expected FOV 'A/1/0' (the FOV tracks.path assigns this "
        f"file to) in every row, found ['B/1/0'] in {n_rows} of {n_rows} rows; check tracks.path's "
        "{row}/{col}/{fov} placeholders (or, with {position}, tiff.positions), or give one CSV per FOV"
    )
    assert not (tmp_path / "tracks.parquet").exists()


def test_fovs_without_tracks_are_in_the_record(truth: pd.DataFrame, tmp_path: Path) -> None:
    """A FOV of the plate the imported tracks lack gets no patches: the artifact's record says which."""
    table = truth.loc[
        truth["fov_name"] == "A/1/0", ["fov_name", "track_id", "t", "y", "x", "parent_track_id"]
    ]
    table.to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    _, provenance = read_table(tmp_path / "tracks.parquet", "tracks")
    assert provenance.config["untracked_fovs"] == ["B/1/0"]
    assert provenance.config["format"] == "table"
    truth[["fov_name", "track_id", "t", "y", "x"]].to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    assert read_table(tmp_path / "tracks.parquet", "tracks")[1].config["untracked_fovs"] == []


def test_the_record_of_imported_tracks_names_the_import_and_an_old_one_says_to_rerun_it(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    """Imported tracks are of kind ``tracks`` like collected ones, but their record says the rule that
    wrote them, and a table of an older schema names that rule to rerun, not collect_tracks."""
    truth[["fov_name", "track_id", "t", "y", "x"]].to_csv(tmp_path / "mine.csv", index=False)
    imported = run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    _, provenance = read_table(tmp_path / "tracks.parquet", "tracks")
    assert (provenance.kind, provenance.stage) == ("tracks", "import_tracks")
    write_table(imported, tmp_path / "old.parquet", provenance.model_copy(update={"schema_version": 0}))
    with pytest.raises(ArtifactError, match=r"schema version 0 .*--forcerun import_tracks`") as caught:
        read_table(tmp_path / "old.parquet", "tracks")
    assert "collect_tracks" not in str(caught.value)


def test_ids_from_the_largest_id_on_are_named(truth: pd.DataFrame) -> None:
    """track_id and t are checked against dynaclr.io.LARGEST_ID, the limit annotation tables share."""
    table = _table(truth).assign(**{WHERE: "mine.csv line 2"})
    table["track_id"] = table["track_id"].astype("int64") + (LARGEST_ID - 1 - int(table["track_id"].max()))
    assert not [
        p for p in imported_tracks_problems(table, fov_names=FOVS, shape_tzyx=SHAPE_TZYX) if "2**53" in p
    ]
    table.loc[0, "track_id"] = LARGEST_ID
    problems = imported_tracks_problems(table, fov_names=FOVS, shape_tzyx=SHAPE_TZYX)
    assert problems[0].endswith("column 'track_id': expected an integer below 2**53, found 9007199254740992")


def write_ctc(
    labels_plate: Path, truth: pd.DataFrame, root: Path, frames: range | None = None
) -> tuple[list[Path], tuple[Path, ...]]:
    """Each FOV's ground-truth label volumes as a CTC result folder: mask000.tif..., res_track.txt;
    of ``frames`` only (None: every frame) as a CTC tool tracking part of the movie writes it: files
    named by frame, spans cut to the frames, a parent outside them none (0)."""
    import tifffile

    folders, lineages = [], []
    with open_ome_zarr(labels_plate, mode="r") as plate:
        for fov in FOVS:
            folder = root / fov.replace("/", "_")
            folder.mkdir()
            labels = np.asarray(plate[fov]["0"][:, 0])
            kept = range(len(labels)) if frames is None else frames
            for t in kept:
                tifffile.imwrite(folder / f"mask{t:03d}.tif", labels[t].astype(np.uint16))
            cells = truth[(truth["fov_name"] == fov) & truth["t"].isin(kept)]
            spans = cells.groupby("track_id").agg(
                begin=("t", "min"), end=("t", "max"), parent=("parent_track_id", "first")
            )
            lines = [
                f"{track} {row.begin} {row.end} {row.parent if row.parent in spans.index else 0}"
                for track, row in spans.iterrows()
            ]
            (folder / "res_track.txt").write_text("\n".join(lines) + "\n")
            folders.append(folder)
            lineages.append(folder / "res_track.txt")
    return folders, tuple(lineages)


def test_ctc_folders_give_the_ground_truth_centroids_and_lineage(
    tiny_plate: dict[str, Path], truth: pd.DataFrame, tmp_path: Path
) -> None:
    folders, lineages = write_ctc(tiny_plate["labels"], truth, tmp_path)
    imported = run_import("ctc", f"{tmp_path}/{{row}}_{{col}}_{{fov}}", folders, tmp_path, lineages)
    assert_same_tracks(imported, truth, tolerance_px=None)
    # the simulator's centroid is the nucleus's centre; a nucleus cut by the image border is not
    # centred on its visible pixels, so only whole nuclei are compared to 0.5 px
    with open_ome_zarr(tiny_plate["labels"], mode="r") as plate:
        labels = {fov: np.asarray(plate[fov]["0"][:, 0]) for fov in FOVS}
    inside = [
        not (
            (mask := labels[row.fov_name][row.t] == row.track_id)[:, [0, -1], :].any()
            or mask[:, :, [0, -1]].any()
        )
        for row in imported.itertuples()
    ]
    assert sum(inside) > 0.6 * len(imported)
    merged = imported[inside].merge(truth, on=["fov_name", "track_id", "t"], suffixes=("", "_truth"))
    for axis in ("z", "y", "x"):
        np.testing.assert_allclose(merged[axis], merged[f"{axis}_truth"], atol=0.5)
    assert_tracks_artifact(imported, tmp_path, is_3d=True)


def test_ctc_folders_of_part_of_the_movie_give_those_frames_and_say_which_downstream(
    tiny_plate: dict[str, Path], truth: pd.DataFrame, tmp_path: Path
) -> None:
    """The ground truth's frames 3 .. 8 (of 12) as CTC folders (mask003.tif .. mask008.tif). Before:
    refused ('no file for frames [0, 1, 2, 9, 10, 11]'). Now the cells of those frames come back (a
    daughter whose mother is before them starts a lineage), the tracks record states the frames, the
    QC table's tracking row of each FOV names the untracked ones (reduced), and the evaluation scores
    the tracked frames only: the truth's cells in the others are not missed cells (DET and TRA 1)."""
    from dynaclr.config.tracking import TrackingEvaluationConfig
    from dynaclr.qc.table import QcTableInputs, qc_rows
    from dynaclr.tracking import EvaluateTrackingInputs, EvaluateTrackingOutputs, evaluate_tracking

    frames = range(3, 9)
    folders, lineages = write_ctc(tiny_plate["labels"], truth, tmp_path, frames)
    imported = run_import("ctc", f"{tmp_path}/{{row}}_{{col}}_{{fov}}", folders, tmp_path, lineages)
    expected = truth[truth["t"].isin(frames)].copy()
    present = set(zip(expected["fov_name"], expected["track_id"], strict=True))
    orphan = [
        (fov, parent) not in present
        for fov, parent in zip(expected["fov_name"], expected["parent_track_id"], strict=True)
    ]
    assert any(orphan) and (expected["parent_track_id"] >= 0).any()  # both kinds of daughter occur
    expected.loc[orphan, "parent_track_id"] = -1
    assert_same_tracks(imported, expected, tolerance_px=None)
    provenance = read_table(tmp_path / "tracks.parquet", "tracks")[1]
    assert provenance.config["tracked_frames"] == {fov: [3, 8] for fov in FOVS}

    qc, _ = qc_rows(QcTableInputs(imported_tracks=tmp_path / "tracks.parquet"))
    assert list(qc["fov_name"]) == FOVS and set(qc["stage"]) == {"tracking"}
    assert set(qc["status"]) == {"reduced"} and set(qc["n_frames"]) == {12}
    assert set(qc["dropped_frames"]) == {"0;1;2;9;10;11"}
    assert qc["reason"].str.contains(r"frames 0 \.\. 2, 9 \.\. 11 untracked").all()

    csv = tmp_path / "evaluation" / "tracking.csv"
    scores = evaluate_tracking(
        TrackingEvaluationConfig(),
        EvaluateTrackingInputs(
            tracks=tmp_path / "tracks.parquet", labels=tiny_plate["labels"], truth=tiny_plate["tracks"]
        ),
        EvaluateTrackingOutputs(table=csv, record=csv.with_suffix(".json")),
    ).iloc[-1]
    assert scores["false_negative_vertices"] == 0 and scores["det"] == 1.0 and scores["tra"] == 1.0
    assert scores["n_reference_vertices"] == len(expected)
    assert json.loads(csv.with_suffix(".json").read_text())["metrics"]["tracked_frames"] == {
        fov: [3, 8] for fov in FOVS
    }


def test_a_ctc_folder_of_the_whole_movie_has_an_ok_qc_row(
    tiny_plate: dict[str, Path], truth: pd.DataFrame, tmp_path: Path
) -> None:
    from dynaclr.qc.table import QcTableInputs, qc_rows

    folders, lineages = write_ctc(tiny_plate["labels"], truth, tmp_path)
    run_import("ctc", f"{tmp_path}/{{row}}_{{col}}_{{fov}}", folders, tmp_path, lineages)
    qc, _ = qc_rows(QcTableInputs(imported_tracks=tmp_path / "tracks.parquet"))
    assert list(qc["status"]) == ["ok", "ok"] and list(qc["n_dropped_frames"]) == [0, 0]


# ------------------------------------------------------------------ validation
def _table(truth: pd.DataFrame) -> pd.DataFrame:
    return truth[["fov_name", "track_id", "t", "z", "y", "x", "parent_track_id"]].reset_index(drop=True)


def _set(column: str, value: Any, row: int = 0) -> Any:
    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table[column] = table[column].astype(object)
        table.loc[row, column] = value
        return table

    return edit


def _daughter_row(truth: pd.DataFrame) -> int:
    return int(_table(truth).index[_table(truth)["parent_track_id"] >= 0][0])


CASES = {
    "missing column": (lambda t: t.drop(columns="y"), ["expected columns", "missing ['y']"]),
    "non-integer t": (_set("t", 2.5), ["line 2", "column 't': expected a non-negative integer, found 2.5"]),
    "negative t": (_set("t", -1), ["line 2", "column 't': expected a non-negative integer, found -1"]),
    "NaN y": (_set("y", np.nan), ["line 2", "column 'y': expected a finite number (pixels), found nan"]),
    "text x": (_set("x", "left"), ["line 2", "column 'x': expected a finite number (pixels), found 'left'"]),
    "track id beyond int64": (  # it would wrap to a negative id
        _set("track_id", 1e19),
        ["line 2", "column 'track_id': expected an integer below 2**53, found 1e+19"],
    ),
    "no rows": (lambda t: t.iloc[:0], ["expected at least one detection", "found none"]),
    "y outside": (_set("y", 96.0), ["column 'y': expected a coordinate in [0, 96)", "found 96.0"]),
    "x outside": (_set("x", -0.5), ["column 'x': expected a coordinate in [0, 96)", "found -0.5"]),
    "z outside": (_set("z", 5.0), ["column 'z': expected a coordinate in [0, 5)", "found 5.0"]),
    "t beyond the movie": (_set("t", 12), ["column 't': expected a frame of the plate (t < 12)", "found 12"]),
    "unknown FOV": (
        _set("fov_name", "C/1/0"),
        ["line 2", "column 'fov_name': expected a FOV of the plate ['A/1/0', 'B/1/0'], found 'C/1/0'"],
    ),
    "duplicate": (
        lambda t: pd.concat([t, t.iloc[[5]]], ignore_index=True),
        [
            "columns (fov_name, track_id, t): expected one row per cell and frame",
            "already at ",
            f"line {5 + 2}",
        ],
    ),
    "parent of one row only": (
        _set("parent_track_id", 999),
        [
            "line 2 (FOV A/1/0, track 1): column 'parent_track_id': "
            "expected one value per track, found [-1, 999]"
        ],
    ),
    "roots written 0 as CTC's P": (
        lambda t: t.assign(parent_track_id=t["parent_track_id"].where(t["parent_track_id"] >= 0, 0)),
        [
            "column 'parent_track_id': expected a track of FOV A/1/0, found 0 (no such track in this FOV; "
            "a track without a parent has -1 or an empty cell, not 0 as CTC's P)"
        ],
    ),
    "parent not a track": (
        lambda t: t.assign(
            parent_track_id=t["parent_track_id"].mask(t["fov_name"].eq("A/1/0") & t["track_id"].eq(1), 999)
        ),
        ["column 'parent_track_id': expected a track of FOV A/1/0, found 999 (no such track in this FOV)"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_named(case: str, truth: pd.DataFrame, tmp_path: Path) -> None:
    edit, expected = CASES[case]
    edit(_table(truth)).to_csv(tmp_path / "mine.csv", index=False)
    with pytest.raises(ArtifactError) as raised:
        run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "mine.csv") in message
    for fragment in expected:
        assert fragment in message, message
    assert not (tmp_path / "tracks.parquet").exists()


def test_a_parent_that_outlives_its_daughter_is_named(truth: pd.DataFrame, tmp_path: Path) -> None:
    table = _table(truth)
    daughter = table.loc[_daughter_row(truth)]
    mother_rows = table.index[
        (table["fov_name"] == daughter.fov_name) & (table["track_id"] == daughter.parent_track_id)
    ]
    last = table.loc[mother_rows, "t"].max()
    extra = table.loc[[mother_rows[-1]]].assign(t=last + 1)  # the mother lives on after the division
    pd.concat([table, extra], ignore_index=True).to_csv(tmp_path / "mine.csv", index=False)
    with pytest.raises(ArtifactError, match="expected parent track") as raised:
        run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    assert f"found its last frame t {last + 1}" in str(raised.value)
    assert f"track {daughter.track_id})" in str(raised.value)


def test_every_problem_is_listed_at_once(truth: pd.DataFrame, tmp_path: Path) -> None:
    table = _set("y", 200.0, row=3)(_set("x", 100.0, row=4)(_table(truth)))
    table.to_csv(tmp_path / "mine.csv", index=False)
    with pytest.raises(ArtifactError, match="2 problem") as raised:
        run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    assert "line 5" in str(raised.value) and "line 6" in str(raised.value)


def _import_warnings(out: Path) -> list[str]:
    return read_table(out / "tracks.parquet", "tracks")[1].config["import_warnings"]


def test_tracks_in_the_plates_conventions_are_imported_without_a_warning(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    _table(truth).to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path, pixel_size_um=0.65)
    assert _import_warnings(tmp_path) == []


def test_frames_counted_from_one_are_imported_with_a_warning_and_recorded(
    truth: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # counted from 1, the cells at the plate's last frame would be refused; without them, every cell
    # was one frame late with exit 0 and no word
    table = _table(truth).assign(t=lambda t: t["t"] + 1)
    table[table["t"] < SHAPE_TZYX[0]].to_csv(tmp_path / "mine.csv", index=False)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        imported = run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    assert imported["t"].min() == 1
    expected = "no detection at frame 0 in any of 2 FOVs (frames 1 .. 11 of the plate's 0 .. 11)"
    assert any(expected in record.getMessage() for record in caplog.records), caplog.text
    (warning,) = _import_warnings(tmp_path)
    assert expected in warning and "subtract 1 from t" in warning


def test_tracks_of_the_first_frames_only_are_imported_with_a_warning(
    truth: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A table tracked on the first frames of the movie only (here 0 .. 7 of 12): every later frame
    had no cell, with exit 0, a QC row "ok" over the plate's 12 frames and "no import warnings"."""
    table = _table(truth)
    table[table["t"] <= 7].to_csv(tmp_path / "mine.csv", index=False)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    expected = "no detection after frame 7 in any of 2 FOVs (the plate's frames 0 .. 11): frames 8 .. 11"
    (warning,) = _import_warnings(tmp_path)
    assert expected in warning and "track the whole movie" in warning
    assert warning in caplog.text


def _one_cell_per_frame(frames: range, *, one_track: bool) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"fov_name": "A/1/0", "track_id": 1 if one_track else t + 1, "t": t, "y": 10.0, "x": 10.0}
            | {"z": 0.0, "parent_track_id": -1}
            for t in frames
        ]
    )


@pytest.mark.parametrize(
    ("frames", "one_track", "frame_step", "warned"),
    [
        (range(19), True, None, False),  # the plate's last frame blank: one step missing
        (range(0, 19, 2), False, 2, False),  # every 2nd frame (stride unknown: one detection per track)
        (range(0, 19, 2), False, None, False),  # stride unknown, frame_step unset: one frame missing
        (range(18), True, None, True),  # two frames missing
        (range(0, 15, 2), False, 2, True),  # frames 15 .. 19: two steps of 2 and more
    ],
)
def test_tracks_ending_one_step_before_the_plate_end_are_not_warned_about(
    frames: range, one_track: bool, frame_step: int | None, warned: bool
) -> None:
    """A blank last frame (no cell at t = 19 of 0 .. 19) or tracks of every 2nd frame ending at 18 were
    warned about as tracks made on the first frames only (tracks.frame_step ignored, stride unknown:
    step 1). The warning needs two steps (tracks.frame_step where set) missing at the end."""
    tracks = _one_cell_per_frame(frames, one_track=one_track)
    warnings = imported_tracks_warnings(tracks, "table", shape_tzyx=(20, 1, 64, 64), frame_step=frame_step)
    assert any(w.startswith("no detection after frame") for w in warnings) == warned


def test_positions_in_micrometres_are_imported_with_a_warning(
    truth: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # TrackMate's POSITION_X / POSITION_Y (µm) renamed x / y: every cell at 0.65 times its position
    table = _table(truth).assign(y=lambda t: t["y"] * 0.65, x=lambda t: t["x"] * 0.65)
    table.to_csv(tmp_path / "mine.csv", index=False)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path, pixel_size_um=0.65)
    (warning,) = _import_warnings(tmp_path)
    assert f"all {len(table)} detections lie within y < " in warning
    assert "inside the 62.4 x 62.4 a table in µm fills on the plate's 96 x 96 pixels of 0.65 µm" in warning
    assert warning in caplog.text


def test_pixels_of_cells_in_one_corner_are_not_taken_for_micrometres(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    """A colony in one corner (every position below 0.65 of the image's sides) is pixels: only positions
    that also reach across most of the box a field in µm fills are warned."""
    table = _table(truth).assign(y=lambda t: t["y"] * 0.3, x=lambda t: t["x"] * 0.3)
    table.to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path, pixel_size_um=0.65)
    assert _import_warnings(tmp_path) == []


def test_a_parquet_table_of_repeated_index_labels_is_imported(truth: pd.DataFrame, tmp_path: Path) -> None:
    """Per-FOV tables joined without ignore_index keep repeated index labels in the Parquet file; with
    id / parent_id the import failed on 'cannot reindex on an axis with duplicate labels'."""
    table = _table(truth).sort_values(["fov_name", "track_id", "t"]).reset_index(drop=True)
    table["id"] = np.arange(1, len(table) + 1)
    table["parent_id"] = table.groupby(["fov_name", "track_id"])["id"].shift(1).fillna(-1).astype(int)
    table.index = np.arange(len(table)) // 2  # every label twice
    table.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "mine.parquet")
    imported = run_import("table", "mine.parquet", [tmp_path / "mine.parquet"], tmp_path)
    assert_same_tracks(imported, truth)


def test_a_single_daughter_after_a_gap_is_imported_with_a_warning(
    truth: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a cell lost for a frame, as CTC writes it: a new label from the frame it comes back, whose parent
    # is the label before the gap; it is read as a division (lineage mitosis labels), so it is said
    table = _table(truth)
    spans = table.groupby(["fov_name", "track_id"])["t"].agg(["min", "max"])
    mothers = set(zip(table["fov_name"], table["parent_track_id"], strict=True))
    fov, track = next(
        key for key, span in spans.iterrows() if span["max"] - span["min"] >= 4 and key not in mothers
    )
    rows = (table["fov_name"] == fov) & (table["track_id"] == track)
    lost = int(spans.loc[(fov, track), "min"]) + 2
    new_label = int(table["track_id"].max()) + 1
    table.loc[rows & (table["t"] > lost), ["track_id", "parent_track_id"]] = [new_label, track]
    table = table[~(rows & (table["t"] == lost))]
    table.to_csv(tmp_path / "mine.csv", index=False)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    (warning,) = _import_warnings(tmp_path)
    assert (
        f"1 mother track(s) have a single daughter first seen after a gap (e.g. FOV {fov}, track {track} "
        f"last at t {lost - 1}, its daughter {new_label} first at t {lost + 1})"
    ) in warning
    assert warning in caplog.text


def test_given_parent_ids_that_disagree_with_the_tracks_are_renumbered(
    truth: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # node ids of another convention (0 for none, as CTC's P): kept, they gave every root a parent
    # detection 0 in the written table (and the VisCy export) with exit 0
    table = _table(truth).sort_values(["fov_name", "track_id", "t"]).reset_index(drop=True)
    table["id"] = np.arange(1, len(table) + 1)
    previous = table.groupby(["fov_name", "track_id"])["id"].shift(1)
    table["parent_id"] = previous.fillna(0).astype(int)  # every track's first: 0, daughters' too
    table.to_csv(tmp_path / "mine.csv", index=False)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        imported = run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    n_firsts = table.drop_duplicates(["fov_name", "track_id"]).shape[0]
    disagree = f"parent_id column disagrees with their track_id, t and parent_track_id in {n_firsts} of"
    assert disagree in caplog.text
    assert "line 2: parent_id 0, expected -1" in caplog.text
    assert_same_tracks(imported, truth)
    assert_tracks_artifact(imported, tmp_path, is_3d=True)  # parent_id links each track's detections


def _node_ids(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (in track and t order) with ultrack's node ids: ``id`` 1000 * track + t + 1 (unique in a
    FOV), ``parent_id`` the track's previous detection, a daughter's first her mother's last, -1 none."""
    table = table.sort_values(["fov_name", "track_id", "t"]).reset_index(drop=True)
    table["id"] = 1000 * table["track_id"] + table["t"] + 1
    tracks = table.groupby(["fov_name", "track_id"])["id"]
    last = tracks.last()
    mother = pd.MultiIndex.from_arrays([table["fov_name"], table["parent_track_id"]])
    mothers_last = pd.Series(last.reindex(mother).to_numpy(), index=table.index)
    table["parent_id"] = tracks.shift(1).fillna(mothers_last).fillna(-1).astype(int)
    return table


@pytest.mark.parametrize(
    ("edit", "renumbered"),
    [
        (lambda table: table.drop(columns="parent_track_id"), False),
        (lambda table: table.assign(parent_track_id=np.nan), False),  # the column there, empty
        # ids that are renumbered: not integers
        (lambda table: table.drop(columns="parent_track_id").assign(id=table["id"] + 0.5), True),
    ],
    ids=["no_parent_track_id", "empty_parent_track_id", "renumbered_ids"],
)
def test_lineage_held_only_in_parent_id_is_kept(
    truth: pd.DataFrame, tmp_path: Path, edit: Any, renumbered: bool
) -> None:
    """A table whose divisions are only in ``parent_id`` (a daughter's first detection links to her
    mother's last, as ultrack's): before, its tracks came without mothers (exit 0; its parent_ids were
    'renumbered' as disagreeing with parent_track_id -1), so no mitosis label, no DTW division event."""
    assert (truth["parent_track_id"] >= 0).any()  # the tiny plate has divisions
    table = _node_ids(_table(truth))
    table["parent_id"] = np.where(
        table["parent_id"] >= 0, table["parent_id"] + (0.5 if renumbered else 0), -1
    )
    edit(table).to_csv(tmp_path / "mine.csv", index=False)
    imported = run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    assert_same_tracks(imported, truth)
    assert_tracks_artifact(imported, tmp_path, is_3d=True)
    kept = imported.merge(table, on=["fov_name", "track_id", "t"], suffixes=("", "_given"))
    assert (kept["id"] == kept["id_given"]).all() != renumbered


def test_an_import_reads_the_parent_id_lineage_once(
    truth: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks and the conforming each read the ``parent_id`` lineage of the whole table (the
    import's costliest step on a plate of ultrack ids): the conforming now takes the checks'."""
    from dynaclr.tracking import importing

    calls: list[int] = []
    lineage = importing.parent_id_lineage

    def counted(typed: pd.DataFrame, table: pd.DataFrame) -> Any:
        calls.append(len(table))
        return lineage(typed, table)

    monkeypatch.setattr(importing, "parent_id_lineage", counted)
    table = _node_ids(_table(truth)).drop(columns="parent_track_id")
    table.to_csv(tmp_path / "mine.csv", index=False)
    imported = run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    assert calls == [len(table)]
    assert_same_tracks(imported, truth)  # the mothers still read from parent_id


def test_ids_are_renumbered_only_in_the_fovs_that_need_them(
    truth: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One FOV repeating an id: before, every FOV's given ids were renumbered; now that FOV's only."""
    table = _node_ids(_table(truth))
    in_a = np.flatnonzero(table["fov_name"] == "A/1/0")
    table.loc[in_a[1], "id"] = table.loc[in_a[0], "id"]
    table.to_csv(tmp_path / "mine.csv", index=False)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        imported = run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    assert (
        "repeats an id within a FOV: id and parent_id renumbered in the 1 of 2 FOVs with such rows ['A/1/0']"
        in (caplog.text)
    )
    assert_same_tracks(imported, truth)
    assert_tracks_artifact(imported, tmp_path, is_3d=True)
    kept = imported.merge(table, on=["fov_name", "track_id", "t"], suffixes=("", "_given"))
    same = (kept["id"] == kept["id_given"]) & (kept["parent_id"] == kept["parent_id_given"])
    assert same.groupby(kept["fov_name"]).all().to_dict() == {"A/1/0": False, "B/1/0": True}


def test_a_parent_id_naming_several_tracks_is_refused() -> None:
    """Ids repeated within a frame, a daughter's parent_id the last id of two tracks ending in the frame
    before, and no parent_track_id: which is her mother cannot be told."""
    rows = [(1, 0, 5, -1), (1, 1, 6, 5), (2, 0, 4, -1), (2, 1, 6, 4), (3, 2, 7, 6)]  # track, t, id, parent_id
    table = pd.DataFrame(rows, columns=["track_id", "t", "id", "parent_id"]).assign(
        fov_name="A/1/0", y=1.0, x=1.0, **{WHERE: [f"mine.csv line {i}" for i in range(2, 7)]}
    )
    problems = imported_tracks_problems(table, fov_names=FOVS, shape_tzyx=SHAPE_TZYX)
    assert problems == [
        "mine.csv line 6 (FOV A/1/0, track 3): column 'parent_id': expected the id of one track's "
        "last detection in the frame before (a daughter's link to her mother), found 6, the id of the last "
        "detections at t 1 of tracks [1, 2] (ids repeat within the FOV); give the track's mother in "
        "parent_track_id, or ids unique within each FOV"
    ]


def _detections(rows: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    """``(track_id, t, id, parent_id)`` rows of FOV A/1/0, no parent_track_id column."""
    return pd.DataFrame(rows, columns=["track_id", "t", "id", "parent_id"]).assign(
        fov_name="A/1/0", y=1.0, x=1.0, **{WHERE: [f"mine.csv line {i}" for i in range(2, len(rows) + 2)]}
    )


def _mothers(tracks: pd.DataFrame) -> dict[int, int]:
    return tracks.groupby("track_id")["parent_track_id"].first().to_dict()


@pytest.mark.parametrize("first_t", [1, 2], ids=["frame_after", "after_a_gap"])
def test_a_parent_id_of_another_convention_gives_no_mother(
    first_t: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Ids counted from 0 and parent_id 0 for none: track 1 is one detection, id 0; before, track 3 (its
    first parent_id 0) got track 1 as mother with exit 0 (a division at INFO), whether it started the
    frame after track 1's (the FOV's other roots' parent_id 0 showing 0 is none) or after a gap."""
    rows = [(1, 0, 0, 0), (2, 0, 1, 0), (2, 1, 2, 1), (3, first_t, 3, 0), (3, first_t + 1, 4, 3)]
    table = _detections(rows)
    assert imported_tracks_problems(table, fov_names=FOVS, shape_tzyx=SHAPE_TZYX) == []
    with caplog.at_level("INFO", logger="dynaclr.tracking.importing"):
        tracks, _ = conform_imported_tracks(table, FOVS)
    assert _mothers(tracks) == {1: -1, 2: -1, 3: -1}
    assert "have a mother in parent_id" not in caplog.text
    disagree = "parent_id column disagrees with their track_id, t and parent_track_id in 3 of 5 rows"
    assert disagree in caplog.text


def test_a_parent_id_naming_one_track_for_more_daughters_than_a_division_gives_no_mother() -> None:
    """parent_id 0 for none where track 1's one detection has id 0, and the other tracks starting the
    frame after: three 'daughters' of track 1 are a none marker, not a division."""
    rows = [(1, 0, 0, -1), (2, 1, 1, 0), (3, 1, 2, 0), (4, 1, 3, 0), (4, 2, 4, 3)]
    tracks, _ = conform_imported_tracks(_detections(rows), FOVS)
    assert _mothers(tracks) == {1: -1, 2: -1, 3: -1, 4: -1}


#: Track 1 divides into 2 and 3 the frame after its last (ids unique, no parent_track_id column).
_CLEAN_DIVISION = [(1, 0, 1, -1), (1, 1, 2, 1), (2, 2, 3, 2), (2, 3, 4, 3), (3, 2, 5, 2), (3, 3, 6, 5)]


@pytest.mark.parametrize(
    ("others", "mothers", "named"),
    [
        (
            [(4, 0, 7, -1), (4, 1, 8, 7), (5, 2, 9, 8), (6, 3, 10, 8)],
            {4: -1, 5: 4, 6: -1},
            ["FOV A/1/0 track 6 (first t 3) naming track 4 (last t 1, 1 frame(s) between)"],
        ),
        (
            [(4, 0, 7, -1), (4, 1, 8, 7), (5, 3, 9, 8)],
            {4: -1, 5: -1},
            ["FOV A/1/0 track 5 (first t 3) naming track 4 (last t 1, 1 frame(s) between)"],
        ),
        (
            [(4, 0, 7, -1), (4, 1, 8, 7), (5, 2, 9, 8), (6, 2, 10, 8), (7, 2, 11, 8)],
            {4: -1, 5: -1, 6: -1, 7: -1},
            [
                f"FOV A/1/0 track {track} (first t 2) naming track 4 (last t 1, 0 frame(s) between)"
                for track in (5, 6, 7)
            ],
        ),
    ],
    ids=["daughter_after_a_missed_frame", "track_continued_under_a_new_id", "more_daughters_than_a_division"],
)
def test_a_parent_id_not_linked_keeps_the_fovs_clean_divisions(
    others: list[tuple[int, int, int, int]],
    mothers: dict[int, int],
    named: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A FOV with a clean division (1 into 2 and 3 the frame after) and a parent_id not read as a division:
    a daughter first seen a frame late, a track continued after a gap under a new id naming the earlier
    one, or three 'daughters'. Before, that row's parent_id disagreed with none, so every parent_id link
    of the FOV was dropped (the clean division too), exit 0, with only a 'renumbered' WARNING; now the
    clean division is kept and the links not read are named at WARNING."""
    table = _detections(_CLEAN_DIVISION + others)
    assert imported_tracks_problems(table, fov_names=FOVS, shape_tzyx=SHAPE_TZYX) == []
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        tracks, warnings = conform_imported_tracks(table, FOVS)
    assert _mothers(tracks) == {1: -1, 2: 1, 3: 1, **mothers}
    unlinked = [record.getMessage() for record in caplog.records if "not linked" in record.getMessage()]
    assert len(unlinked) == 1
    assert warnings == unlinked  # the record's import_warnings keep it
    assert unlinked[0].startswith(f"{len(named)} tracks' first parent_id names another track's last")
    assert unlinked[0].endswith(": " + "; ".join(named))
    # the given ids are renumbered as that parent_id is not kept: said so, not as a column disagreeing
    assert "disagrees" not in caplog.text
    assert (
        "the first parent_id of tracks given no mother (said above) is not -1, none: id and parent_id "
        "renumbered in the 1 of 1 FOVs with such rows ['A/1/0']"
    ) in caplog.text


def test_a_parent_id_not_linked_reaches_the_records_import_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A daughter first seen a frame late (parent_id naming track 4's last detection, a gap between):
    before, the WARNING naming the link not read was only logged, the record's import_warnings was []."""
    rows = [*_CLEAN_DIVISION, (4, 0, 7, -1), (4, 1, 8, 7), (5, 3, 9, 8)]
    _detections(rows).drop(columns=WHERE).to_csv(tmp_path / "mine.csv", index=False)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    # the plate's frames after the rows' last are warned of too (tracks of the first frames only)
    (warning,) = [w for w in _import_warnings(tmp_path) if not w.startswith("no detection after frame")]
    assert warning.startswith("1 tracks' first parent_id names another track's last detection")
    assert warning.endswith("FOV A/1/0 track 5 (first t 3) naming track 4 (last t 1, 1 frame(s) between)")
    assert warning in caplog.text


def test_a_repeated_fov_name_is_refused_by_name() -> None:
    """Before, a FOV named twice in fov_names failed in pandas: 'Categorical categories must be unique'."""
    table = _detections(_CLEAN_DIVISION)
    with pytest.raises(
        ValueError,
        match=r"^fov_names: expected each of the plate's 4 FOVs once, found repeated "
        r"\['A/1/0'\]$",
    ):
        conform_imported_tracks(table, ["A/1/0", "B/1/0", "A/1/0", "A/1/0"])


def test_ids_counted_per_frame_link_the_mother_of_the_frame_before() -> None:
    """Ids counting detections per frame (repeating within a FOV): a daughter's parent_id 1 is the id of
    track 1's last detection (t 0) and of track 2's (t 2, the frame before hers). Before, the table was
    refused as naming several tracks; her mother is track 2."""
    rows = [(1, 0, 1, -1), (2, 0, 2, -1), (2, 1, 1, 2), (2, 2, 1, 1), (3, 3, 1, 1), (4, 3, 2, 1)]
    table = _detections(rows)
    assert imported_tracks_problems(table, fov_names=FOVS, shape_tzyx=SHAPE_TZYX) == []
    tracks, _ = conform_imported_tracks(table, FOVS)
    assert _mothers(tracks) == {1: -1, 2: -1, 3: 2, 4: 2}


def test_the_plate_is_numbered_at_once_as_each_fov_apart(truth: pd.DataFrame) -> None:
    """All FOVs conformed and numbered in one pass (no per-FOV loop: 14 ms a FOV, minutes on a plate of
    10,000) give each FOV, in plate order, what numbering and conforming it alone gives: rows shuffled,
    the plate's order not the table's, ids from 1 in each FOV, a daughter's first parent_id her mother's
    last id in her own FOV."""
    table = _table(truth).sample(frac=1, random_state=0).reset_index(drop=True)
    plate_order = FOVS[::-1]
    apart = []
    for fov in plate_order:
        rows = number_detections(table[table["fov_name"] == fov].drop(columns="fov_name"))
        apart.append(conform_tracks_table(rows, is_3d=True).assign(fov_name=fov))
    expected = pd.concat(apart, ignore_index=True).loc[:, ["fov_name", *track_columns(True)]]
    assert expected["parent_track_id"].ne(-1).any()  # daughters: their first parent_id is looked up
    pd.testing.assert_frame_equal(conform_imported_tracks(table, plate_order)[0], expected)
    at_once = number_detections(table, by="fov_name")
    for fov, rows in at_once.groupby("fov_name"):
        alone = number_detections(table[table["fov_name"] == fov])
        pd.testing.assert_frame_equal(rows.reset_index(drop=True), alone)


def test_ids_counted_per_frame_link_mothers_sharing_a_last_id(caplog: pytest.LogCaptureFixture) -> None:
    """Ids counted per frame: track 1 (last id 3 at t 1) divides into 2 and 3 at t 2, track 4 (last id 3
    at t 3) into 5 and 6 at t 4. Before, id 3 named tracks 1 and 4 from four first rows each (the frame
    before, a later frame, an earlier one), read as a none marker: no mother for any daughter, exit 0, and
    a WARNING listing links to a mother ending after her daughter started ('-2 frame(s) between')."""
    rows = [(1, 0, 3, -1), (1, 1, 3, 3), (2, 2, 1, 3), (3, 2, 2, 3)]
    rows += [(4, 0, 4, -1), (4, 1, 4, 4), (4, 2, 4, 4), (4, 3, 3, 4), (5, 4, 5, 3), (6, 4, 6, 3)]
    table = _detections(rows)
    assert imported_tracks_problems(table, fov_names=FOVS, shape_tzyx=SHAPE_TZYX) == []
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        tracks, _ = conform_imported_tracks(table, FOVS)
    assert _mothers(tracks) == {1: -1, 2: 1, 3: 1, 4: -1, 5: 4, 6: 4}
    assert "not linked" not in caplog.text


def test_a_parent_id_naming_a_track_ending_later_is_no_link(caplog: pytest.LogCaptureFixture) -> None:
    """Track 4's first parent_id (t 0) is the id of track 5's last detection, at t 1: no mother ends after
    her daughter starts. Before, it was listed as a link not read ('-2 frame(s) between') and left out of
    the FOV's check, so the FOV's other parent_id links were read; now it is a parent_id the tracks do not
    give (ids of another convention): the FOV's links are not read, said at WARNING."""
    others = [(4, 0, 7, 10), (4, 1, 11, 7), (5, 0, 9, -1), (5, 1, 10, 9)]
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        tracks, _ = conform_imported_tracks(_detections(_CLEAN_DIVISION + others), FOVS)
    assert _mothers(tracks) == {1: -1, 2: -1, 3: -1, 4: -1, 5: -1}
    assert "frame(s) between" not in caplog.text
    disagree = "parent_id column disagrees with their track_id, t and parent_track_id in 3 of 10 rows"
    assert disagree in caplog.text


def test_a_missing_per_fov_file_is_named(truth: pd.DataFrame, tmp_path: Path) -> None:
    present = tmp_path / "A_1_0.csv"
    truth[truth["fov_name"] == "A/1/0"][["track_id", "t", "y", "x"]].to_csv(present, index=False)
    with pytest.raises(ArtifactError, match=r"B_1_0.csv: tracks CSV of FOV B/1/0 not found"):
        run_import(
            "ultrack", f"{tmp_path}/{{row}}_{{col}}_{{fov}}.csv", [present, tmp_path / "B_1_0.csv"], tmp_path
        )


def test_a_ctc_label_missing_from_res_track_is_named(
    tiny_plate: dict[str, Path], truth: pd.DataFrame, tmp_path: Path
) -> None:
    folders, lineages = write_ctc(tiny_plate["labels"], truth, tmp_path)
    lines = lineages[0].read_text().splitlines()
    lineages[0].write_text("\n".join(lines[1:]) + "\n")  # drop track 1
    with pytest.raises(
        ArtifactError, match=r"mask000.tif label 1: expected every mask label in .*res_track.txt"
    ):
        run_import("ctc", f"{tmp_path}/{{row}}_{{col}}_{{fov}}", folders, tmp_path, lineages)
    lineages[0].write_text("1 0 5\n")
    with pytest.raises(ArtifactError, match=r"res_track.txt line 1: expected 'L B E P'"):
        run_import("ctc", f"{tmp_path}/{{row}}_{{col}}_{{fov}}", folders, tmp_path, lineages)


# ------------------------------------------------------------------ config and early checks
@pytest.mark.parametrize(
    ("tracks", "message"),
    [
        ({"format": "table", "path": "t/{row}/{col}/{fov}.csv"}, "format 'table' reads one file"),
        ({"format": "table", "path": "tracks.txt"}, "expects a .csv or .parquet file"),
        ({"format": "ultrack", "path": "tracks/{row}/{fov}.csv"}, "lacks ['{col}']"),
        ({"format": "ctc", "path": "ctc/{row}/{col}/{fov}/{well}"}, "placeholder other than"),
        ({"format": "napari", "path": "x.csv"}, "format"),
        ({"format": "trackmate", "path": "tm/{row}_{col}.xml"}, "lacks ['{fov}']"),
        (
            {"format": "trackmate", "path": "tm/{row}_{col}_{fov}.csv"},
            "format 'trackmate' expects TrackMate XML",
        ),
    ],
)
def test_a_tracks_path_that_does_not_fit_its_format_is_refused(tracks: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ImportedTracksConfig.model_validate(tracks)


@pytest.mark.parametrize(
    ("fmt", "path", "filled"),
    [
        ("trackmate", "tm/{position}.xml", "tm/Pos3.xml"),
        ("ultrack", "t/{position}/tracks.csv", "t/Pos3/tracks.csv"),
        ("ctc", "c/{position}_RES", "c/Pos3_RES"),
    ],
)
def test_a_tracks_path_by_tiff_position_names_each_fovs_file_by_its_position(
    fmt: str, path: str, filled: str
) -> None:
    """Files named after a TIFF dataset's positions (``{position}``, as ``tiff.files`` names them;
    TrackMate files saved per Micro-Manager position, Pos0.xml): the path of a FOV is its position's
    file; without the FOV's position the path is not guessed."""
    tracks = ImportedTracksConfig.model_validate({"format": fmt, "path": path})
    assert tracks.fov_path("B/2/0", {"A/1/0": "Pos0", "B/2/0": "Pos3"}) == filled
    with pytest.raises(ValueError, match=r"\{position\}.*expected the TIFF position of each FOV"):
        tracks.fov_path("B/2/0")


@pytest.mark.parametrize(
    ("tracks", "message"),
    [
        (
            {"format": "trackmate", "path": "tm/{position}_{fov}.xml"},
            "tracks.path: give either {position} alone (a tiff: dataset's positions) or {row} {col} {fov}, "
            "not both; found 'tm/{position}_{fov}.xml'",
        ),
        ({"format": "table", "path": "t/{position}.csv"}, "format 'table' reads one file for all FOVs"),
    ],
)
def test_a_tracks_path_mixing_position_and_fov_or_a_table_by_position_is_refused(
    tracks: dict, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ImportedTracksConfig.model_validate(tracks)


@pytest.mark.parametrize("source", [{"plate": "p.zarr"}, {"simulate": {}}])
@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"tracks": {"format": "trackmate", "path": "tm/{position}.xml"}}, "tracks.path"),
        ({"annotations": {"table": "ann/{position}.csv"}}, "annotations.table"),
    ],
)
def test_a_path_by_position_of_a_dataset_without_tiff_files_is_refused(
    source: dict, section: dict, key: str
) -> None:
    """A plate (or a simulated one) has FOVs, no TIFF positions: the refusal names the key and says to
    name the files by FOV."""
    with pytest.raises(ValidationError) as caught:
        DatasetConfig.model_validate({**source, **section})
    message = str(caught.value)
    assert f"{key}: {{position}} is a TIFF position (a placeholder of tiff.files)" in message
    assert "this dataset reads no TIFF files" in message and "{row}, {col} and {fov}" in message


@pytest.mark.parametrize(
    ("positions", "naming", "example"),
    [
        (
            {"Pos0": "B/2/0", "Pos1": "A/1/0"},
            "tiff.positions of dataset conv names its FOVs (position Pos0 is FOV B/2/0)",
            "tm/B_2_0.xml for position Pos0's FOV B/2/0",
        ),
        (
            None,
            "dataset conv has no tiff.positions, so position <p> is FOV A/1/<p>",
            "tm/A_1_Pos0.xml for position Pos0's FOV A/1/Pos0",
        ),
    ],
)
@pytest.mark.parametrize("results", [None, "out"])
def test_a_path_by_position_of_a_plate_converted_from_another_tiff_dataset_is_refused_naming_it(
    positions: dict | None, naming: str, example: str, results: str | None
) -> None:
    """A plate: dataset reading a TIFF dataset's converted plate (<results>/conv/raw.zarr) holds its
    FOVs, not its positions: the refusal names the TIFF dataset, its FOV naming and the pattern by
    FOV, not only "reads no TIFF files"."""
    tiff = {"files": "tiffs/{position}.tif", **({"positions": positions} if positions else {})}
    folder = results or "results"
    config: dict[str, Any] = {
        "datasets": {
            "conv": {"tiff": tiff},
            "again": {
                "plate": f"./{folder}/conv/raw.zarr",
                "tracks": {"format": "trackmate", "path": "tm/{position}.xml"},
            },
        },
        **({"results": results} if results else {}),
    }
    with pytest.raises(ValidationError) as caught:
        WorkflowConfig.model_validate(config)
    message = str(caught.value)
    assert (
        f"datasets.again.tracks.path: {{position}} is a TIFF position (a placeholder of tiff.files), and "
        f"this dataset reads no TIFF files: its plate ./{folder}/conv/raw.zarr is the one converted from "
        "dataset conv's TIFF files ('tiffs/{position}.tif'), whose FOVs it holds without their positions; "
        f"{naming}: name each FOV's file by FOV, 'tm/{{row}}_{{col}}_{{fov}}.xml' ({example}), or give "
        "tracks.path to dataset conv, which has the positions"
    ) in message


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        ({"Pos0": "B/2/0", "Pos1": "A/1/0"}, {"B/2/0": "Pos0", "A/1/0": "Pos1"}),
        (None, {"A/1/Pos0": "Pos0", "A/1/Pos1": "Pos1"}),
    ],
)
def test_the_position_of_each_fov_of_a_tiff_dataset(positions: dict | None, expected: dict) -> None:
    """``{position}`` resolves through tiff.positions, or the default FOV naming ``A/1/<position>``."""
    tiff = {"files": "tiffs/{position}.tif", **({"positions": positions} if positions else {})}
    dataset = DatasetConfig.model_validate(
        {"tiff": tiff, "tracks": {"format": "trackmate", "path": "tm/{position}.xml"}}
    )
    assert dataset.fov_positions(list(expected)) == expected
    with pytest.raises(ValueError, match=r"FOV C/9/9 .*no position of tiff\.files"):
        dataset.fov_positions(["C/9/9"])
    plate = DatasetConfig.model_validate({"plate": "p.zarr"})
    assert plate.fov_positions(["A/1/0"]) is None


def test_imported_tracks_replace_the_tracking_sections() -> None:
    base = {"plate": "p.zarr", "tracks": {"format": "table", "path": "t.csv"}}
    assert DatasetConfig.model_validate(base).imports_tracks
    with pytest.raises(ValidationError, match=r"\['tracking', 'tracking_input'\] do not apply"):
        DatasetConfig.model_validate({**base, "tracking": {}, "tracking_input": {"source": "raw"}})


def _plate_layout(path: str, channels: tuple[str, ...]):
    from dynaclr.io.plate import EXPECTED_AXES, PlateGeometry, PlateLayout

    return PlateLayout(
        path=Path(path),
        fov_names=tuple(FOVS),
        channel_names=channels,
        axes=EXPECTED_AXES,
        shape_tczyx=(12, len(channels), 5, 96, 96),
        geometry=PlateGeometry(time_interval_s=600.0, z_step_um=2.0, pixel_size_um=0.65),
        time_interval_minutes=10.0,
        n_frames=12,
    )


def test_a_plate_without_nuclei_needs_no_tracking_channel_with_imported_tracks(tmp_path: Path) -> None:
    layout = _plate_layout("own.zarr", ("Brightfield", "Sensor"))
    own = {"plate": "own.zarr"}
    problems = workflow_problems(
        WorkflowConfig.model_validate({"datasets": {"own": own}}), {"own": layout}, "results"
    )
    assert [p.split(":")[0] for p in problems] == ["datasets.own.tracking_input.channel"]
    (tmp_path / "mine.csv").write_text("fov_name,track_id,t,y,x\n")
    imported = {**own, "tracks": {"format": "table", "path": str(tmp_path / "mine.csv")}}
    config = WorkflowConfig.model_validate({"datasets": {"own": imported}})
    assert workflow_problems(config, {"own": layout}, "results") == []


def test_missing_tracks_files_fail_before_any_job(tmp_path: Path) -> None:
    layout = _plate_layout("own.zarr", ("Brightfield",))
    (tmp_path / "A_1_0.csv").touch()
    tracks = {"format": "ultrack", "path": f"{tmp_path}/{{row}}_{{col}}_{{fov}}.csv"}
    config = WorkflowConfig.model_validate({"datasets": {"own": {"plate": "own.zarr", "tracks": tracks}}})
    (problem,) = workflow_problems(config, {"own": layout}, "results")
    assert problem.startswith("datasets.own.tracks.path: expected a CSV per FOV")
    assert f"found none for 1 of 2 FOVs (FOV B/1/0: {tmp_path}/B_1_0.csv)" in problem


def test_the_plan_imports_instead_of_tracking(tmp_path: Path) -> None:
    from plate_helpers import write_plate
    from test_early_checks import plan, plate_config
    from test_stage_contract import planned_jobs

    plate = write_plate(
        tmp_path / "own.zarr", ["A/1/0", "B/1/0"], ["Brightfield", "Sensor"], (6, 2, 3, 64, 64)
    )
    config = plate_config(plate)
    dataset = config["datasets"]["mine"]
    del dataset["tracking_input"]  # the plate has no nuclear channel: nothing is tracked here
    (tmp_path / "mine.csv").write_text("fov_name,track_id,t,y,x\nA/1/0,1,0,30,30\n")
    dataset["tracks"] = {"format": "table", "path": str(tmp_path / "mine.csv")}
    dataset["annotations"] = {"division_from_lineage": True}
    jobs = plan(config, tmp_path / "work")
    assert jobs["import_tracks"] == 1
    assert jobs["extract_patches"] == 2
    assert not {"tracks_plate", "track_fov", "collect_tracks", "evaluate_tracking"} & set(jobs)
    assert jobs["annotate_divisions_from_lineage"] == 1
    assert jobs["classify"] >= 1  # the division classifiers learn from the lineage's labels
    # the plate's sampling only feeds checks (a TrackMate file's calibration; a table's t stepping by
    # the frame interval in minutes or seconds, refused), so it is a param Snakemake does not compare:
    # adding it (or the plate's acquisition supplying a value) reruns no import and nothing after it
    (job,) = [
        job
        for job in planned_jobs(tmp_path / "work" / "config" / "config.yaml", tmp_path / "work")
        if job.rule.name == "import_tracks"
    ]
    assert job.params.sampling_um == {"pixel_size_um": 0.65, "z_step_um": 2.0, "frame_interval_minutes": 10.0}
    assert job.params.sampling_um not in list(job.non_derived_params)
    assert job.params.config in list(job.non_derived_params)


# ------------------------------------------------------------------ division labels from the lineage
def test_lineage_mitoses_are_the_simulated_ones_of_mothers_seen_dividing(truth: pd.DataFrame) -> None:
    from dynaclr.classify import lineage_division_states
    from dynaclr.config.analysis import AnnotationConfig

    # the tiny plate's mitosis_frames; a short margin, as its movie is 12 frames and its cycle 10
    config = AnnotationConfig(division_from_lineage=True, mitosis_frames=2, interphase_margin_frames=2)
    states = lineage_division_states(truth, config).merge(
        truth[["fov_name", "track_id", "t", "mitosis"]],
        on=["fov_name", "track_id", "t"],
        suffixes=("", "_truth"),
    )
    mothers = set(
        truth.loc[truth["parent_track_id"] >= 0, ["fov_name", "parent_track_id"]].itertuples(
            index=False, name=None
        )
    )
    seen_dividing = [(f, tr) in mothers for f, tr in zip(states["fov_name"], states["track_id"], strict=True)]
    # every simulated mitosis of a mother whose daughters appear in the movie, and nothing else
    np.testing.assert_array_equal(states["mitosis"], states["mitosis_truth"] & np.array(seen_dividing))
    assert states["mitosis"].sum() >= 8
    # interphase labels are never a simulated mitosis (those of cells that leave or outlive the movie
    # included: the last frames of every track are ambiguous)
    interphase = states["readable"] & ~states["mitosis"]
    assert interphase.sum() >= 20
    assert not (interphase & states["mitosis_truth"]).any()


def test_lineage_annotations_are_sparse_and_written_for_the_classifiers(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    from dynaclr.classify import (
        ANNOTATION_COLUMNS,
        AnnotationsOutputs,
        LineageAnnotationsInputs,
        lineage_annotations_stage,
        read_annotations,
    )
    from dynaclr.config.analysis import AnnotationConfig

    table = truth[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]]
    table.to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    config = AnnotationConfig.model_validate({"division_from_lineage": True})
    assert config.tasks == ("division",) and config.source == "lineage"
    written = lineage_annotations_stage(
        config,
        LineageAnnotationsInputs(tracks=tmp_path / "tracks.parquet"),
        AnnotationsOutputs(annotations=tmp_path / "annotations.parquet"),
    )
    pd.testing.assert_frame_equal(read_annotations(tmp_path / "annotations.parquet"), written)
    provenance = read_table(tmp_path / "annotations.parquet", "annotations")[1]
    assert provenance.stage == "annotate_divisions_from_lineage"
    assert list(written.columns) == list(ANNOTATION_COLUMNS)
    assert len(written) == round(0.10 * len(truth))
    assert set(written["label"]) == {"mitosis", "interphase"} and set(written["task"]) == {"division"}
    labelled = written.merge(truth, on=["fov_name", "track_id", "t"])
    assert (labelled["mitosis"] == (labelled["label"] == "mitosis")).all()


def test_lineage_annotations_of_tracks_without_a_division_are_refused(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    """Tracks of one's own without a division (imported without links, or a movie shorter than a cell
    cycle) give no 'mitosis' observation: the lineage annotation job refuses, naming the tracks, the key
    and the counts, rather than writing 'interphase' annotations alone (exit 0), on which rule classify
    failed after training and embedding ("division annotations hold a single class")."""
    from dynaclr.classify import AnnotationsOutputs, LineageAnnotationsInputs, lineage_annotations_stage
    from dynaclr.config.analysis import AnnotationConfig

    table = truth[["fov_name", "track_id", "t", "y", "x"]].assign(parent_track_id=-1)
    table.to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    outputs = AnnotationsOutputs(annotations=tmp_path / "annotations.parquet")
    with pytest.raises(ValueError, match=re.escape("annotations.division_from_lineage")) as refused:
        lineage_annotations_stage(
            AnnotationConfig.model_validate({"division_from_lineage": True}),
            LineageAnnotationsInputs(tracks=tmp_path / "tracks.parquet"),
            outputs,
        )
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'tracks.parquet'}: ")
    assert "found 0 'mitosis' and " in message and "0 of them mothers" in message
    assert "set the dataset's annotations.division_from_lineage to false" in message
    assert not outputs.annotations.exists()


def test_lineage_annotations_of_one_class_are_written_with_a_warning_for_a_dataset_only_scored(
    truth: pd.DataFrame, tmp_path: Path, caplog
) -> None:
    """A dataset only scored (in apply_to, not in the resolved train_on) may hold one division class:
    the transferred classifiers' AUROC there is NaN (binary_metrics), not an error. Its lineage
    annotations were refused whatever its role; they are written, with a WARNING naming the tracks."""
    from dynaclr.classify import AnnotationsOutputs, LineageAnnotationsInputs, lineage_annotations_stage
    from dynaclr.config.analysis import AnnotationConfig

    table = truth[["fov_name", "track_id", "t", "y", "x"]].assign(parent_track_id=-1)
    table.to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    outputs = AnnotationsOutputs(annotations=tmp_path / "annotations.parquet")
    with caplog.at_level(logging.WARNING, logger="dynaclr.classify.annotations"):
        annotations = lineage_annotations_stage(
            AnnotationConfig.model_validate({"division_from_lineage": True}),
            LineageAnnotationsInputs(tracks=tmp_path / "tracks.parquet"),
            outputs,
            trains_classifier=False,
        )
    assert outputs.annotations.exists() and len(annotations) > 0
    assert set(annotations["label"]) == {"interphase"}
    assert f"{tmp_path / 'tracks.parquet'}: " in caplog.text and "found 0 'mitosis' and " in caplog.text
    assert "only scored (not in analysis.classification.train_on)" in caplog.text


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"division_from_lineage": True, "tasks": ["infection", "division"]}, "expected [division]"),
        ({"division_from_lineage": True, "table": "a.csv"}, "not both"),
        ({"mitosis_frames": 3}, "division_from_lineage: true only"),
    ],
)
def test_lineage_annotation_keys_are_checked(annotations: dict, message: str) -> None:
    from dynaclr.config.analysis import AnnotationConfig

    with pytest.raises(ValidationError, match=re.escape(message)):
        AnnotationConfig.model_validate(annotations)


# ------------------------------------------------------------------ TrackMate XML
#: Spots of the hand-written TrackMate file: ID -> (FRAME, x px, y px). Track 0 (kept): 1 -> 2 -> 3 divides
#: into 4 and 5; 4 -> 6 skips frame 4 (gap closing); 5 -> 8. Track 1 (10 -> 11) is not in FilteredTracks;
#: spot 20 is in no track.
TM_SPOTS = {
    1: (0, 40.0, 30.0), 2: (1, 41.0, 31.0), 3: (2, 42.0, 32.0),
    4: (3, 35.0, 32.5), 5: (3, 49.0, 33.5), 6: (5, 33.0, 34.0), 7: (6, 32.0, 35.0), 8: (4, 50.0, 34.0),
    10: (0, 80.0, 80.0), 11: (1, 81.0, 80.0), 20: (0, 10.0, 60.0),
}  # fmt: skip
#: Edges per TRACK_ID; (6, 4) is written later spot first (TrackMate's edges need not point forward).
TM_TRACKS = {0: [(1, 2), (2, 3), (3, 4), (3, 5), (6, 4), (6, 7), (5, 8)], 1: [(10, 11)]}


def write_trackmate(
    path: Path,
    spots: dict[int, tuple[int, float, float]] = TM_SPOTS,
    tracks: dict[int, list[tuple[int, int]]] = TM_TRACKS,
    kept: tuple[int, ...] = (0,),
    *,
    units: str = "micron",
    pixel_size: float = 0.65,
    time_interval: str = "10.0",
    time_units: str = "min",
    z_slices: dict[int, float] | None = None,
    voxel_depth: float = 1.0,
    shape_tyx: tuple[int, int, int] = (12, 96, 96),
) -> Path:
    """A TrackMate XML file as TrackMate saves it: positions in ``units``, ``pixel_size`` per pixel,
    frames ``time_interval`` ``time_units`` apart, of an image of ``shape_tyx`` (frames, height,
    width); with ``z_slices`` (slice per spot ID) an image of 5 slices ``voxel_depth`` apart."""
    frames: dict[int, list[str]] = {}
    for spot_id, (frame, x, y) in spots.items():
        z = (z_slices or {}).get(spot_id, 0.0) * voxel_depth
        frames.setdefault(frame, []).append(
            f'<Spot ID="{spot_id}" name="ID{spot_id}" FRAME="{frame}" POSITION_X="{x * pixel_size!r}" '
            f'POSITION_Y="{y * pixel_size!r}" POSITION_Z="{z!r}" POSITION_T="{frame * 10.0}" RADIUS="3.0" '
            'QUALITY="1.0" VISIBILITY="1" />'
        )
    all_spots = "".join(
        f'<SpotsInFrame frame="{f}">{"".join(s)}</SpotsInFrame>' for f, s in sorted(frames.items())
    )
    all_tracks = "".join(
        f'<Track name="Track_{track}" TRACK_ID="{track}">'
        + "".join(f'<Edge SPOT_SOURCE_ID="{a}" SPOT_TARGET_ID="{b}" LINK_COST="1.0" />' for a, b in edges)
        + "</Track>"
        for track, edges in tracks.items()
    )
    filtered = "".join(f'<TrackID TRACK_ID="{track}" />' for track in kept)
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<TrackMate version="7.11.1">'
        f'<Model spatialunits="{units}" timeunits="{time_units}"><FeatureDeclarations />'
        f'<AllSpots nspots="{len(spots)}">{all_spots}</AllSpots><AllTracks>{all_tracks}</AllTracks>'
        f"<FilteredTracks>{filtered}</FilteredTracks></Model>"
        '<Settings><ImageData filename="a.tif" folder="/data/tiffs/" '
        f'width="{shape_tyx[2]}" height="{shape_tyx[1]}" '
        f'nslices="{1 if z_slices is None else 5}" nframes="{shape_tyx[0]}" pixelwidth="{pixel_size!r}" '
        f'pixelheight="{pixel_size!r}" voxeldepth="{voxel_depth!r}" timeinterval="{time_interval}" />'
        "</Settings></TrackMate>",
        encoding="utf-8",
    )
    return path


def trackmate_files(tmp_path: Path, **kwargs: Any) -> list[Path]:
    """The hand-written file for FOV A/1/0, a file with the filtered-out track only for B/1/0."""
    return [
        write_trackmate(tmp_path / "A_1_0.xml", **kwargs),
        write_trackmate(tmp_path / "B_1_0.xml", kept=(), **kwargs),
    ]


def trackmate_of_tracks(
    fov_tracks: pd.DataFrame, gaps: tuple[int, ...] = ()
) -> tuple[dict[int, tuple[int, float, float]], dict[int, list[tuple[int, int]]]]:
    """One FOV's tracks (``track_id, t, y, x, parent_track_id``) as the spots and edges of a TrackMate
    file: spot IDs from 1000 in (t, track_id) order (unrelated to the track ids), one TrackMate track
    per lineage (its root's ``track_id``), a division as two edges from the mother's last spot. The
    tracks in ``gaps`` lose their second detection (3 or more detections): their edge skips that frame,
    as TrackMate's gap closing links."""
    rows = fov_tracks.sort_values(["t", "track_id"]).reset_index(drop=True)
    second = rows.groupby("track_id").cumcount() == 1
    long = rows.groupby("track_id")["t"].transform("size") >= 3
    rows = rows[~(second & long & rows["track_id"].isin(gaps))]
    spot_ids = dict(zip(rows.index, range(1000, 1000 + len(rows)), strict=True))
    spots = {spot_ids[i]: (int(row.t), float(row.x), float(row.y)) for i, row in rows.iterrows()}
    parent = rows.groupby("track_id")["parent_track_id"].first().astype(int).to_dict()
    spots_of = {track: [spot_ids[i] for i in group.index] for track, group in rows.groupby("track_id")}

    def root(track: int) -> int:
        while parent[track] in parent:
            track = parent[track]
        return track

    edges: dict[int, list[tuple[int, int]]] = {}
    for track, ids in spots_of.items():
        links = list(itertools.pairwise(ids))
        if parent[track] in spots_of:
            links.insert(0, (spots_of[parent[track]][-1], ids[0]))
        edges.setdefault(root(track), []).extend(links)
    return spots, edges


@pytest.mark.parametrize(("units", "pixel_size"), [("micron", 0.65), ("µm", 0.65), ("nm", 650.0)])
def test_a_trackmate_file_becomes_segments_in_pixels(
    units: str, pixel_size: float, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A division starts two daughters whose parent is the mother's segment, gap closing continues a
    segment, the filtered-out track and the untracked spot are dropped, said at WARNING and counted in
    the record, and the physical positions come back in pixels."""
    files = trackmate_files(tmp_path, units=units, pixel_size=pixel_size)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.trackmate"):
        imported = run_import(
            "trackmate",
            f"{tmp_path}/{{row}}_{{col}}_{{fov}}.xml",
            files,
            tmp_path,
            pixel_size_um=0.65,
            z_step_um=2.0,
        )
    assert any(
        record.levelname == "WARNING"
        and "spots of" in record.getMessage()
        and "not in FilteredTracks" in record.getMessage()
        for record in caplog.records
    )
    segments = {1: [1, 2, 3], 2: [4, 6, 7], 3: [5, 8]}  # by first frame, then spot ID
    parents = {1: -1, 2: 1, 3: 1}
    previous = {1: -1, 2: 1, 3: 2, 4: 3, 5: 3, 6: 4, 7: 6, 8: 5}
    expected = pd.DataFrame(
        [
            (
                "A/1/0",
                track,
                TM_SPOTS[spot][0],
                TM_SPOTS[spot][2],
                TM_SPOTS[spot][1],
                spot,
                parents[track],
                previous[spot],
            )
            for track, spots in segments.items()
            for spot in spots
        ],
        columns=["fov_name", "track_id", "t", "y", "x", "id", "parent_track_id", "parent_id"],
    )
    pd.testing.assert_frame_equal(
        imported[expected.columns], expected, check_dtype=False, check_exact=False, atol=1e-9
    )
    assert_tracks_artifact(imported, tmp_path, is_3d=False)
    _, provenance = read_table(tmp_path / "tracks.parquet", "tracks")
    assert provenance.config["untracked_fovs"] == ["B/1/0"]
    assert provenance.config["trackmate_spots"]["A/1/0"] == {
        "spots": 11,
        "kept_spots": 8,
        "kept_tracks": 1,
        "spots_of_filtered_out_tracks": 2,
        "filtered_out_tracks": 1,
        "untracked_spots": 1,
        "frame_interval_warning": None,
        "calibration_not_checked": [],
        "image_file_warning": None,
    }
    assert provenance.config["trackmate_spots"]["B/1/0"]["kept_spots"] == 0


def one_daughter_continues(tracks: pd.DataFrame) -> pd.DataFrame:
    """``tracks`` with each daughter that is her mother's only one in the table (the other left the
    field) made part of her mother's track, as a TrackMate graph has them: one link from the mother's
    last spot, which continues the track (only a spot with two later links is a division)."""
    tracks = tracks.copy()
    while True:
        daughters = tracks[tracks["parent_track_id"] >= 0].drop_duplicates(["fov_name", "track_id"])
        counts = daughters.groupby(["fov_name", "parent_track_id"])["track_id"].transform("size")
        lone = daughters[counts == 1]
        if lone.empty:
            return tracks
        fov, daughter, mother = lone.iloc[0][["fov_name", "track_id", "parent_track_id"]]
        in_fov = tracks["fov_name"] == fov
        grandmother = tracks.loc[in_fov & (tracks["track_id"] == mother), "parent_track_id"].iloc[0]
        is_daughter = in_fov & (tracks["track_id"] == daughter)
        tracks.loc[is_daughter, ["track_id", "parent_track_id"]] = [mother, grandmother]
        tracks.loc[in_fov & (tracks["parent_track_id"] == daughter), "parent_track_id"] = mother


def test_trackmate_files_of_the_ground_truth_give_its_cells_lineage_and_mitoses(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    """The tiny plate's ground truth saved as TrackMate would save it (divisions as split edges, every
    third track's second detection left out, its edge skipping the frame as gap closing links; spot IDs
    and TRACK_IDs unrelated to the true track ids): each imported track is one true track (a mother
    with one daughter in the field and that daughter one track: one link, no split), its parent the
    true mother's track, a gap continues the track, and the lineage's division labels (what the
    division classifier learns from a plate without ground truth) are the truth's."""
    from dynaclr.classify import lineage_division_states
    from dynaclr.config.analysis import AnnotationConfig

    files, kept = [], []
    for fov in FOVS:
        rows = truth[truth["fov_name"] == fov]
        gaps = tuple(sorted(rows["track_id"].unique())[::3])
        spots, edges = trackmate_of_tracks(rows, gaps)
        files.append(write_trackmate(tmp_path / f"{fov.replace('/', '_')}.xml", spots, edges, tuple(edges)))
        linked = {spot for links in edges.values() for link in links for spot in link}
        kept += [(fov, spots[spot][0]) for spot in linked]
    imported = run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65)
    assert_tracks_artifact(imported, tmp_path, is_3d=False)
    place = ["fov_name", "t", "y", "x"]  # positions back in pixels to 1e-6 (µm and back)
    true_rows = one_daughter_continues(truth).assign(
        y=truth["y"].astype("float64").round(6), x=truth["x"].astype("float64").round(6)
    )
    imported = imported.assign(y=imported["y"].round(6), x=imported["x"].round(6))
    merged = imported.merge(true_rows, on=place, how="left", suffixes=("", "_truth"), validate="1:1")
    assert merged["track_id_truth"].notna().all()
    # one true track per imported track and back; mothers map to mothers
    pairs = merged[["fov_name", "track_id", "track_id_truth"]].drop_duplicates()
    assert not pairs.duplicated(["fov_name", "track_id"]).any()
    assert not pairs.duplicated(["fov_name", "track_id_truth"]).any()
    keys = zip(pairs["fov_name"], pairs["track_id"], strict=True)
    true_of = dict(zip(keys, pairs["track_id_truth"], strict=True))
    parents = merged.drop_duplicates(["fov_name", "track_id"])
    mapped = [
        true_of.get((fov, parent), -1)
        for fov, parent in zip(parents["fov_name"], parents["parent_track_id"], strict=True)
    ]
    np.testing.assert_array_equal(mapped, parents["parent_track_id_truth"].astype(int))
    assert (parents["parent_track_id"] >= 0).sum() >= 8  # the tiny plate's divisions came through
    # the tracks with a gap are one track across it; every kept spot of a lineage with a link came back
    steps = merged.sort_values(["fov_name", "track_id", "t"]).groupby(["fov_name", "track_id"])["t"].diff()
    assert (steps == 2).sum() >= 4 and set(steps.dropna()) == {1.0, 2.0}
    assert sorted(imported[["fov_name", "t"]].itertuples(index=False, name=None)) == sorted(kept)
    # the division labels the lineage gives are the truth lineage's, frame for frame
    config = AnnotationConfig(division_from_lineage=True, mitosis_frames=2, interphase_margin_frames=2)
    states = lineage_division_states(imported, config).merge(
        lineage_division_states(true_rows, config), on=place, suffixes=("", "_truth"), validate="1:1"
    )
    assert len(states) == len(imported) and states["mitosis"].sum() >= 8
    np.testing.assert_array_equal(states["mitosis"], states["mitosis_truth"])


def test_a_trackmate_calibration_other_than_the_plates_is_refused(tmp_path: Path) -> None:
    files = trackmate_files(tmp_path, pixel_size=0.5)
    with pytest.raises(ArtifactError) as raised:
        run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65, z_step_um=2.0)
    assert str(raised.value).startswith(
        f"{files[0]}: <ImageData pixelwidth>: expected the plate's pixel size 0.65 µm"
    )
    assert "found 0.5 micron = 0.5 µm" in str(raised.value)
    assert not (tmp_path / "tracks.parquet").exists()
    # within the tolerance (1e-3 relative) the file is read, converted with its own calibration
    files = trackmate_files(tmp_path, pixel_size=0.6503)
    imported = run_import(
        "trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65, z_step_um=2.0
    )
    assert imported.loc[imported["id"] == 1, "x"].item() == pytest.approx(40.0)


def test_a_trackmate_frame_interval_other_than_the_plates_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """FRAME indexes the plate's frames (the file's nframes must equal the plate's T): a file whose
    frame interval differs (a Fiji image without one: TrackMate saves 1 sec) holds correct tracks. It
    is imported, FRAME as t, with a WARNING naming the file and both intervals, recorded per FOV."""
    for interval, units, found in (
        ("20.0", "min", "20 min = 20 min"),
        ("1.0", "sec", "1 sec = 0.0166667 min"),
    ):
        files = trackmate_files(tmp_path, time_interval=interval, time_units=units)
        caplog.clear()
        with caplog.at_level("WARNING", logger="dynaclr.tracking.trackmate"):
            imported = run_import(
                "trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, frame_interval_minutes=10.0
            )
        assert imported.set_index("id")["t"].to_dict() == {spot: TM_SPOTS[spot][0] for spot in range(1, 9)}
        message = (
            f"{files[0]}: <ImageData timeinterval> {found} differs from the plate's frame interval 10 min "
            "(beyond 0.001 relative); read anyway"
        )
        assert message in caplog.text
        _, provenance = read_table(tmp_path / "tracks.parquet", "tracks")
        assert provenance.config["trackmate_spots"]["A/1/0"]["frame_interval_warning"].startswith(message)
    # other units, within the tolerance: no warning
    files = trackmate_files(tmp_path, time_interval="600.3", time_units="sec")
    caplog.clear()
    with caplog.at_level("WARNING", logger="dynaclr.tracking.trackmate"):
        imported = run_import(
            "trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, frame_interval_minutes=10.0
        )
    assert imported.set_index("id")["t"].to_dict() == {spot: TM_SPOTS[spot][0] for spot in range(1, 9)}
    assert "differs from the plate's frame interval" not in caplog.text
    _, provenance = read_table(tmp_path / "tracks.parquet", "tracks")
    assert provenance.config["trackmate_spots"]["A/1/0"]["frame_interval_warning"] is None


def test_a_trackmate_file_of_an_image_other_than_its_fovs_tiff_files_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A TrackMate file names the image it tracked (ImageData filename, here a.tif): where the FOV's
    TIFF files are known and it is none of them (a wrong tiff.positions gave the FOV another
    position's file), it is imported with a WARNING naming both, recorded per FOV; its own file, or
    unknown TIFF files, give none."""
    files = trackmate_files(tmp_path)
    own = {"A/1/0": ["tiffs/a.tif"], "B/1/0": ["tiffs/a.tif"]}
    other = {"A/1/0": ["tiffs/Pos3_t0.tif", "tiffs/Pos3_t1.tif"], "B/1/0": ["tiffs/a.tif"]}
    for image_files, warned in ((other, True), (own, False), (None, False)):
        caplog.clear()
        with caplog.at_level("WARNING", logger="dynaclr.tracking.trackmate"):
            run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, image_files=image_files)
        message = (
            f"{files[0]}: <ImageData filename> 'a.tif' (the image TrackMate tracked) is none of FOV A/1/0's "
            "TIFF files (Pos3_t0.tif, Pos3_t1.tif); read anyway: if it tracks another position, correct "
            "tiff.positions or tracks.path"
        )
        assert (message in caplog.text) == warned, caplog.text
        _, provenance = read_table(tmp_path / "tracks.parquet", "tracks")
        recorded = provenance.config["trackmate_spots"]
        assert recorded["A/1/0"]["image_file_warning"] == (message if warned else None)
        assert recorded["B/1/0"]["image_file_warning"] is None
    # an image TrackMate had no file of (Z Project, Split Channels): it writes the window's short
    # title and no folder, which names no file: nothing is compared
    for path in files:
        text = path.read_text()
        path.write_text(
            text.replace('filename="a.tif" folder="/data/tiffs/"', 'filename="MAX_Pos0" folder=""')
        )
    caplog.clear()
    with caplog.at_level("WARNING", logger="dynaclr.tracking.trackmate"):
        run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, image_files=other)
    assert "<ImageData filename>" not in caplog.text


def test_the_frame_interval_of_a_single_frame_trackmate_file_is_not_compared(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A still image has no interval to compare: nothing is warned of."""
    path = write_trackmate(
        tmp_path / "still.xml",
        spots={1: (0, 10.0, 20.0)},
        tracks={},
        kept=(),
        time_interval="1.0",
        time_units="sec",
    )
    path.write_text(path.read_text().replace('nframes="12"', 'nframes="1"'))
    with caplog.at_level("INFO", logger="dynaclr.tracking.trackmate"):
        _, counts = read_trackmate_xml(
            path,
            "A/1/0",
            shape_tzyx=(1, 5, 96, 96),
            pixel_size_um=0.65,
            z_step_um=None,
            frame_interval_minutes=10.0,
        )
    assert counts.frame_interval_warning is None
    assert f"{path}: one frame: the file's frame interval is not checked" in caplog.text
    assert "differs from the plate's frame interval" not in caplog.text


@pytest.mark.parametrize(
    ("time_interval", "time_units", "plate_minutes", "logged"),
    [
        ("1.0", "frame", 10.0, "time in frames"),
        ("20.0", "min", None, "the plate states no time interval"),
    ],
)
def test_a_trackmate_frame_interval_is_not_checked_without_one_side(
    time_interval: str,
    time_units: str,
    plate_minutes: float | None,
    logged: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = trackmate_files(tmp_path, time_interval=time_interval, time_units=time_units)
    with caplog.at_level("INFO", logger="dynaclr.tracking.trackmate"):
        run_import(
            "trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, frame_interval_minutes=plate_minutes
        )
    assert f"{files[0]}: {logged}: the file's frame interval is not checked" in caplog.text


@pytest.mark.parametrize("pixel_size", [0.65, 0.5])
def test_a_trackmate_file_is_not_checked_against_the_plates_unit_less_guesses(
    pixel_size: float, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plate whose axes have no unit states its values in no unit: read in µm and s they are a guess.
    A TrackMate file whose pixel size, z step or interval differs from the guess may be right (the plate
    written in nm and min), one that agrees may be wrong: neither is refused nor passed on the guess.
    Each check skipped is said at WARNING, naming the file's and the plate's value, and recorded."""
    z_slices = {spot: (spot % 5) * 0.9 for spot in TM_SPOTS}
    files = trackmate_files(tmp_path, pixel_size=pixel_size, z_slices=z_slices, voxel_depth=2.0)
    guesses = {"time_interval_minutes": 10.0, "pixel_size_um": 650.0, "z_step_um": 2000.0}
    with caplog.at_level("WARNING", logger="dynaclr.tracking.trackmate"):
        imported = run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, unitless=guesses)
    np.testing.assert_allclose(  # placed with the file's own calibration
        imported["x"].to_numpy(), [TM_SPOTS[spot][1] for spot in imported["id"]], rtol=0, atol=1e-9
    )
    expected = [
        f"{files[0]}: <ImageData pixelwidth> {pixel_size:g} micron = {pixel_size:g} µm not checked against "
        "the plate's pixel size: the plate's 650 is read from an axis without a unit (micrometres assumed, a "
        "guess). Write the plate's axis units (multiscales[0].axes[].unit) or set the dataset's "
        "acquisition.pixel_size_um to check it",
        f"{files[0]}: <ImageData voxeldepth> 2 micron = 2 µm not checked against the plate's z step: the "
        "plate's 2000 is read from an axis without a unit (micrometres assumed, a guess). Write the plate's "
        "axis units (multiscales[0].axes[].unit) or set the dataset's acquisition.z_step_um to check it",
        f"{files[0]}: <ImageData timeinterval> 10 min = 10 min not checked against the plate's frame "
        "interval: the plate's 10 min is read from a time axis without a unit (seconds assumed, a guess). "
        "Write the plate's time unit (multiscales[0].axes[].unit) or set the dataset's "
        "acquisition.time_interval_minutes to check it",
    ]
    warned = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and str(files[0]) in r.getMessage()
    ]
    assert [message for message in warned if "not checked" in message] == expected
    _, provenance = read_table(tmp_path / "tracks.parquet", "tracks")
    record = provenance.config["trackmate_spots"]["A/1/0"]
    assert record["calibration_not_checked"] == expected and record["frame_interval_warning"] is None


def test_a_trackmate_file_is_checked_against_the_values_acquisition_gives_a_unit_less_plate(
    tmp_path: Path,
) -> None:
    """The plate's axes have no unit (t 10, y/x 650: written in min and nm) and the dataset's
    ``acquisition`` states 10 min and 0.65 µm in their place: the values the import is given are the
    stated ones, the guesses only where nothing states them, and a file made on another image is
    refused against the stated pixel size."""
    from plate_helpers import ome_attributes, write_plate

    from dynaclr.io.plate import read_plate_layout

    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei"], (12, 1, 5, 96, 96))
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"]:
                axis.pop("unit", None)
            ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] = [
                10.0,
                1.0,
                2.0,
                650.0,
                650.0,
            ]
    with pytest.warns(UserWarning, match="axes without a unit"):
        guessed = read_plate_layout(plate)
        supplied = read_plate_layout(plate, {"time_interval_minutes": 10.0, "pixel_size_um": 0.65})
    assert guessed.stated_values() == dict.fromkeys(("time_interval_minutes", "pixel_size_um", "z_step_um"))
    assert guessed.unitless_values() == {
        "time_interval_minutes": 10.0 / 60.0,
        "pixel_size_um": 650.0,
        "z_step_um": 2.0,
    }
    assert supplied.stated_values() == {
        "time_interval_minutes": 10.0,
        "pixel_size_um": 0.65,
        "z_step_um": None,
    }
    assert supplied.unitless_values() == {"z_step_um": 2.0}
    files = trackmate_files(tmp_path, pixel_size=0.5)
    stated = supplied.stated_values()
    with pytest.raises(ArtifactError, match=r"expected the plate's pixel size 0\.65 µm"):
        run_import(
            "trackmate",
            "{row}_{col}_{fov}.xml",
            files,
            tmp_path,
            pixel_size_um=stated["pixel_size_um"],
            frame_interval_minutes=stated["time_interval_minutes"],
            unitless=supplied.unitless_values(),
        )


def test_a_trackmate_file_of_several_slices_gives_z_in_slices(tmp_path: Path) -> None:
    """voxeldepth converts POSITION_Z to slices (3D tracks); a voxel depth other than the plate's z
    step is refused as the pixel size is."""
    z_slices = {spot: (spot % 5) * 0.9 for spot in TM_SPOTS}
    files = trackmate_files(tmp_path, z_slices=z_slices, voxel_depth=2.0)
    imported = run_import(
        "trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65, z_step_um=2.0
    )
    assert_tracks_artifact(imported, tmp_path, is_3d=True)
    np.testing.assert_allclose(
        imported["z"].to_numpy(), [z_slices[spot] for spot in imported["id"]], rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        imported["x"].to_numpy(), [TM_SPOTS[spot][1] for spot in imported["id"]], rtol=0, atol=1e-9
    )
    substack = files[0].read_text(encoding="utf-8").replace('nslices="5"', 'nslices="3"')
    files[0].write_text(substack, encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"<ImageData nslices>: expected the plate's slices 5, found 3"):
        run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65, z_step_um=2.0)
    files = trackmate_files(tmp_path, z_slices=z_slices, voxel_depth=1.0)
    with pytest.raises(ArtifactError) as raised:
        run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65, z_step_um=2.0)
    assert str(raised.value).startswith(
        f"{files[0]}: <ImageData voxeldepth>: expected the plate's z step 2 µm (within 0.001 relative), "
        "found 1 micron = 1 µm"
    )


def test_a_trackmate_merge_is_refused_naming_the_spots(tmp_path: Path) -> None:
    """Two cells linked into one (TrackMate's track merging) cannot have two mothers: refused, naming them."""
    spots = {1: (0, 20.0, 20.0), 2: (0, 30.0, 20.0), 3: (1, 25.0, 20.0), 4: (2, 25.0, 21.0)}
    files = [
        write_trackmate(tmp_path / "A_1_0.xml", spots, {7: [(1, 3), (2, 3), (3, 4)]}, (7,)),
        write_trackmate(tmp_path / "B_1_0.xml"),
    ]
    with pytest.raises(
        ArtifactError, match=re.escape(f"{files[0]}: expected each spot linked from at most one")
    ) as raised:
        run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65)
    assert "found 1 merge(s): spot 3 from spots [1, 2]; remove one edge" in str(raised.value)


def test_an_edge_a_trackmate_file_lists_twice_is_one_link(tmp_path: Path) -> None:
    """The same link written twice (in one track or two) is neither a merge nor a division: one cell
    followed over three frames, one segment."""
    spots = {1: (0, 20.0, 20.0), 2: (1, 21.0, 20.0), 3: (2, 22.0, 20.0)}
    files = [
        write_trackmate(tmp_path / "A_1_0.xml", spots, {7: [(1, 2), (1, 2), (2, 3)], 8: [(2, 1)]}, (7, 8)),
        write_trackmate(tmp_path / "B_1_0.xml"),
    ]
    imported = run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65)
    one = imported[imported["fov_name"] == "A/1/0"]
    assert one["track_id"].nunique() == 1 and (one["parent_track_id"] == -1).all()
    assert one["t"].tolist() == [0, 1, 2]


def test_the_plan_imports_trackmate_files_with_the_plates_pixel_size(tmp_path: Path) -> None:
    from plate_helpers import write_plate
    from test_early_checks import plan, plate_config, refused
    from test_stage_contract import planned_jobs

    plate = write_plate(tmp_path / "own.zarr", FOVS, ["Brightfield", "Sensor"], (6, 2, 3, 96, 96))
    config = plate_config(plate)
    dataset = config["datasets"]["mine"]
    del dataset["tracking_input"]
    write_trackmate(tmp_path / "A_1_0.xml")
    dataset["tracks"] = {"format": "trackmate", "path": f"{tmp_path}/{{row}}_{{col}}_{{fov}}.xml"}
    message = refused(config, tmp_path / "work")
    assert (
        f"datasets.mine.tracks.path: expected a TrackMate XML file per FOV of {plate}" in message
        and f"FOV B/1/0: {tmp_path}/B_1_0.xml" in message
    )
    write_trackmate(tmp_path / "B_1_0.xml")
    jobs = plan(config, tmp_path / "work")
    assert jobs["import_tracks"] == 1 and jobs["extract_patches"] == 2
    assert not {"tracks_plate", "track_fov", "collect_tracks"} & set(jobs)
    # the job checks the files' calibration and frame interval against the plate's (its scale)
    (job,) = [
        job
        for job in planned_jobs(tmp_path / "work" / "config" / "config.yaml", tmp_path / "work")
        if job.rule.name == "import_tracks"
    ]
    assert job.params.sampling_um == {"pixel_size_um": 0.65, "z_step_um": 2.0, "frame_interval_minutes": 10.0}
    # space axes without units: their values are guesses, given as such (never as the plate's to check
    # against); a time axis without its unit is refused in a movie (test_early_checks)
    from plate_helpers import ome_attributes

    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"]:
                if axis.get("type") == "space":
                    axis.pop("unit", None)
    (job,) = [
        job
        for job in planned_jobs(tmp_path / "work" / "config" / "config.yaml", tmp_path / "work")
        if job.rule.name == "import_tracks"
    ]
    assert job.params.sampling_um == {
        "pixel_size_um": None,
        "z_step_um": None,
        "frame_interval_minutes": 10.0,
        "unitless": {"pixel_size_um": 0.65, "z_step_um": 2.0},
    }


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'spatialunits="micron"',
            'spatialunits="furlong"',
            "<Model spatialunits>: expected one of nm, nanometer, ",
        ),
        ('spatialunits="micron"', 'spatialunits="Mm"', "µm, μm, \\u00b5m, um, micron"),
        ('timeunits="min"', 'timeunits="fortnight"', "<Model timeunits>: expected one of"),
        ('timeinterval="10.0"', 'timeinterval="0.0"', "<ImageData timeinterval>: expected a positive"),
        ('<FilteredTracks><TrackID TRACK_ID="0" /></FilteredTracks>', "", "expected <FilteredTracks>"),
        (
            "<Settings><ImageData",
            "<Settings><Other",
            "expected <Settings><ImageData> (TrackMate's calibration)",
        ),
        ('SPOT_TARGET_ID="2"', 'SPOT_TARGET_ID="99"', "found no spot with ID [99]"),
        # a substack in time: TrackMate numbers its frames from 0, so its tracks would be shifted
        ('nframes="12"', 'nframes="10"', "<ImageData nframes>: expected the plate's frames 12, found 10"),
        ('width="96"', 'width="48"', "<ImageData width>: expected the plate's image width 96, found 48"),
        # a movie opened as an image sequence and not made a hyperstack: Fiji reads its frames as slices
        (
            'nslices="1" nframes="12"',
            'nslices="12" nframes="1"',
            "<ImageData nframes>: expected the plate's frames 12, found 1 (and 12 slices: the movie's time "
            "points were read as slices in Fiji",
        ),
        ('ID="5" name="ID5" FRAME="3"', 'ID="5" name="ID5" FRAME="2"', "found both at FRAME 2"),
        (
            'FRAME="1" POSITION_X',
            'FRAME="one" POSITION_X',
            "attribute 'FRAME': expected an integer, found 'one'",
        ),
        ("</AllTracks>", "", "cannot read the TrackMate XML file: mismatched tag"),
    ],
)
def test_a_damaged_trackmate_file_is_named(old: str, new: str, message: str, tmp_path: Path) -> None:
    files = trackmate_files(tmp_path)
    text = files[0].read_text(encoding="utf-8")
    assert old in text
    files[0].write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ArtifactError, match=re.escape(f"{files[0]}: ")) as raised:
        run_import("trackmate", "{row}_{col}_{fov}.xml", files, tmp_path, pixel_size_um=0.65)
    assert message in str(raised.value)


def _readings(out: Path) -> dict[str, Any]:
    return read_table(out / "tracks.parquet", "tracks")[1].config["position_readings"]


def test_tracks_on_the_plates_cells_are_imported_with_their_readings_recorded(
    truth: pd.DataFrame, tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    _table(truth).to_csv(tmp_path / "mine.csv", index=False)
    run_import(
        "table", "mine.csv", [tmp_path / "mine.csv"], tmp_path, plate=tiny_plate["plate"], pixel_size_um=0.65
    )
    assert _import_warnings(tmp_path) == []
    readings = _readings(tmp_path)
    assert readings["verdict"] == "given" and readings["channel"] == "Nuclei"
    assert len(readings["frames"]) == 4 and readings["detections"] >= 10
    scores = readings["scores"]
    assert set(scores) == {"given", "swapped", "um", "um_swapped", "random"}
    assert scores["given"] >= CLEAR_SCORE
    others = [scores[name] for name in ("swapped", "um", "um_swapped", "random") if scores[name] is not None]
    assert max(others) * BETTER_SCORE_RATIO < scores["given"]


@pytest.mark.parametrize(
    ("case", "fix"),
    [
        ("swapped", "swap the table's columns y and x"),
        ("um", "set tracks.position_unit: um (y, x are divided by the plate's pixel size, 0.65 µm)"),
    ],
)
def test_tracks_off_the_plates_cells_on_a_square_image_are_refused(
    case: str, fix: str, truth: pd.DataFrame, tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    """On the tiny plate's square image, x and y swapped, or µm on 0.65 µm pixels, stay inside it and
    were imported with exit 0 (patches cut off the cells); the nuclei are at the positions read back."""
    table = _table(truth)
    if case == "swapped":
        table = table.rename(columns={"y": "x", "x": "y"})
    else:
        table = table.assign(y=lambda t: t["y"] * 0.65, x=lambda t: t["x"] * 0.65)
    table.to_csv(tmp_path / "mine.csv", index=False)
    with pytest.raises(ArtifactError) as raised:
        run_import(
            "table",
            "mine.csv",
            [tmp_path / "mine.csv"],
            tmp_path,
            plate=tiny_plate["plate"],
            pixel_size_um=0.65,
        )
    message = str(raised.value)
    assert "tracks (table, mine.csv): the tracks' positions do not sit on the plate's cells" in message
    assert "on channel 'Nuclei'" in message and "random positions" in message
    assert f"found them on the cells read {READING_WORDS[case]}" in message and fix in message
    assert not (tmp_path / "tracks.parquet").exists()


def test_a_plate_showing_no_cells_gives_a_warning_not_a_refusal(truth: pd.DataFrame, tmp_path: Path) -> None:
    """Only noise (a phase image of low contrast, say): the check cannot decide and says so."""
    plate = tmp_path / "noise.zarr"
    rng = np.random.default_rng(1)
    with open_ome_zarr(plate, layout="hcs", mode="w-", channel_names=["Phase3D"]) as store:
        for fov in FOVS:
            position = store.create_position(*fov.split("/"))
            position.create_image(
                "0", rng.normal(100, 5, (SHAPE_TZYX[0], 1, *SHAPE_TZYX[1:])).astype(np.float32)
            )
    _table(truth).rename(columns={"y": "x", "x": "y"}).to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path, plate=plate)
    (warning,) = _import_warnings(tmp_path)
    assert "could not check that the tracks' positions sit on the plate's cells" in warning
    assert _readings(tmp_path)["verdict"] == "undecided"
    assert _readings(tmp_path)["channel"] == "Phase3D"


def test_positions_in_micrometres_stated_so_are_imported_in_pixels(
    truth: pd.DataFrame, tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    """tracks.position_unit: um divides y, x by the plate's pixel size (z by its z step): the table
    refused above comes back as the ground truth; a table in pixels stated as µm is refused, saying to
    state px."""
    table = _table(truth).assign(
        y=lambda t: t["y"] * 0.65, x=lambda t: t["x"] * 0.65, z=lambda t: t["z"] * 2.5
    )
    table.to_csv(tmp_path / "mine.csv", index=False)
    mine, plate = [tmp_path / "mine.csv"], tiny_plate["plate"]
    imported = run_import(
        "table",
        "mine.csv",
        mine,
        tmp_path,
        plate=plate,
        position_unit="um",
        pixel_size_um=0.65,
        z_step_um=2.5,
    )
    assert_same_tracks(imported, truth, tolerance_px=1e-6)
    assert _import_warnings(tmp_path) == [] and _readings(tmp_path)["verdict"] == "given"
    assert set(_readings(tmp_path)["scores"]) == {"given", "swapped", "px", "px_swapped", "random"}
    # pixels of 1.5 µm (divided, pixels stated as µm stay inside the image)
    _table(truth).to_csv(tmp_path / "pixels.csv", index=False)
    with pytest.raises(ArtifactError, match=r"found them on the cells read in pixels.*position_unit: px"):
        run_import(
            "table",
            "pixels.csv",
            [tmp_path / "pixels.csv"],
            tmp_path / "again",
            plate=plate,
            position_unit="um",
            pixel_size_um=1.5,
            z_step_um=1.0,  # z as written (slices): only y, x are read in the wrong unit here
        )
    with pytest.raises(ArtifactError, match=r"position_unit 'um' reads y, x as micrometres.*found none"):
        run_import("table", "mine.csv", mine, tmp_path / "none", position_unit="um")


def test_micrometres_are_refused_for_formats_giving_pixels() -> None:
    with pytest.raises(ValidationError, match="format 'ctc' gives pixels"):
        ImportedTracksConfig(format="ctc", path="ctc/{row}_{col}_{fov}", position_unit="um")


def _spot_plate(
    path: Path, *, glare: bool = False, clipped: bool = False, n_cells: int = 60
) -> tuple[Path, pd.DataFrame]:
    """A 256 x 256 plate of bright nuclei (channel Nuclei) and their tracks' true positions; ``glare``
    adds a Phase channel whose cells are faint and whose top-right corner (x - y > 30, no cell there)
    is a bright cell-free area, a well's edge; ``clipped``: a background of exact zeros."""
    rng = np.random.default_rng(0)
    n, frames = 256, 2
    yy, xx = np.mgrid[:n, :n]
    bright = (xx - yy) > 30
    rows = []
    channels = ["Nuclei", "Phase"] if glare else ["Nuclei"]
    image = np.zeros((frames, len(channels), 1, n, n), np.float32)
    for t in range(frames):
        nuclei = np.zeros((n, n)) if clipped else rng.normal(100, 5, (n, n))
        phase = rng.normal(0, 1, (n, n)) + 30 * bright
        k = 0
        while k < n_cells:
            y, x = rng.uniform(5, n - 45, 2)
            if glare and bright[int(y), int(x)]:
                continue
            disk = (yy - y) ** 2 + (xx - x) ** 2 < 16
            nuclei[disk] += 200 if clipped else 30
            phase[disk] += 1.0
            rows.append({"fov_name": "A/1/0", "track_id": k, "t": t, "y": y, "x": x})
            k += 1
        image[t, 0, 0] = nuclei
        if glare:
            image[t, 1, 0] = phase
    with open_ome_zarr(path, layout="hcs", mode="w-", channel_names=channels) as store:
        store.create_position("A", "1", "0").create_image("0", image)
    return path, pd.DataFrame(rows)


def _check(tracks: pd.DataFrame, plate: Path) -> PositionCheck:
    return check_positions_on_cells(tracks, plate, position_unit="px", pixel_size_um=None, source="t")


def _swapped(tracks: pd.DataFrame) -> pd.DataFrame:
    return tracks.rename(columns={"y": "x", "x": "y"})


def test_a_bright_cell_free_area_of_one_channel_does_not_refuse_tracks_another_confirms(
    tmp_path: Path,
) -> None:
    """Phase glare over a cell-free corner outscored, at the swapped positions, the nuclei at the given
    ones (0.6 vs 27 on Phase, 16.5 vs 0.1 on Nuclei): the channel whose best reading scored highest
    decided, and correct tracks were refused, telling the user to swap them. The background is now
    local, and a channel confirming the positions as given imports them; the swap is still refused."""
    plate, tracks = _spot_plate(tmp_path / "glare.zarr", glare=True)
    check = _check(tracks, plate)
    assert check.warning is None and check.record["verdict"] == "given"
    assert check.record["channel"] == "Nuclei"
    per_channel = check.record["channel_scores"]
    assert set(per_channel) == {"Nuclei", "Phase"}
    assert per_channel["Nuclei"]["given"] >= CLEAR_SCORE
    assert per_channel["Phase"]["swapped"] < CLEAR_SCORE  # the glare no longer reads as cells
    with pytest.raises(ArtifactError, match="found them on the cells read with x and y swapped"):
        _check(_swapped(tracks), plate)


@pytest.mark.parametrize("n_cells", [10, 60, 150])
def test_tracks_on_a_clipped_plate_of_zero_background_are_checked(n_cells: int, tmp_path: Path) -> None:
    """A background-subtracted plate (exact zeros): the MAD is 0 or the smoothing's rounding (1e-14),
    which gave true tracks a score of 1e16 (and, with the fallback to the standard deviation, about 5
    on the review's plate); the spread now ignores the flat background (a percentile range where over
    half the pixels share one value, up to rounding)."""
    plate, tracks = _spot_plate(tmp_path / "zero.zarr", clipped=True, n_cells=n_cells)
    check = _check(tracks, plate)
    assert check.record["verdict"] == "given" and check.warning is None
    assert 2 * CLEAR_SCORE <= check.record["scores"]["given"] <= 100  # not a division by rounding
    with pytest.raises(ArtifactError, match="found them on the cells read with x and y swapped"):
        _check(_swapped(tracks), plate)


def test_tracks_made_on_another_crop_are_imported_with_a_specific_warning(tmp_path: Path) -> None:
    """Tracks offset by 30 px (made on another crop) fit no reading tried (as given, swapped, and on a
    stated pixel size the other unit): not refused, but the WARNING says the positions miss the cells
    of a channel that clearly shows them."""
    plate, tracks = _spot_plate(tmp_path / "crop.zarr")
    check = _check(tracks.assign(y=tracks["y"] + 30, x=tracks["x"] + 30), plate)
    assert check.record["verdict"] == "undecided"
    assert check.warning is not None
    assert "the positions do not sit on the cells of channel 'Nuclei'" in check.warning
    assert "another crop, binning or orientation?" in check.warning


def test_the_tracks_record_names_the_plate_among_its_inputs(
    truth: pd.DataFrame, tiny_plate: dict[str, Path], tmp_path: Path
) -> None:
    _table(truth).to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path, plate=tiny_plate["plate"])
    inputs = [record.path for record in read_table(tmp_path / "tracks.parquet", "tracks")[1].inputs]
    assert inputs == [str(tmp_path / "mine.csv"), str(tiny_plate["plate"])]


# ------------------------------------------------------------------ import warnings in the report
def _report_pages(out: Path) -> tuple[pd.DataFrame, str]:
    """Rule qc_table, then rule findings, on the imported tracks in ``out``: the import warnings
    table (QC page) and the first page."""
    from report_helpers import qc_and_first_page

    from dynaclr.qc.table import QcTableInputs

    return qc_and_first_page(
        QcTableInputs(imported_tracks=out / "tracks.parquet"), out, "plate", "HCS plate x.zarr"
    )


def test_an_import_warning_of_the_tracks_record_reaches_the_qc_page_and_the_first_page(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    """Before, the tracks record's import_warnings were read by nothing: frames counted from 1 (every
    cell one frame late) were said only in the import's log, never in the report."""
    table = _table(truth).assign(t=lambda t: t["t"] + 1)
    table[table["t"] < SHAPE_TZYX[0]].to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path)
    (recorded,) = _import_warnings(tmp_path)
    warnings, page = _report_pages(tmp_path)
    assert warnings.to_dict(orient="records") == [
        {"record": f"tracks import ({tmp_path / 'tracks.parquet'})", "warning": recorded}
    ]
    assert "no detection at frame 0 in any of 2 FOVs" in recorded and "subtract 1 from t" in recorded
    (line,) = [line for line in page.splitlines() if "import warning:" in line]
    assert line.startswith("- **plate**, import warning: ") and "subtract 1 from t" in line
    assert "tracks.parquet" in line and "no import warnings" not in page.lower()
    provenance, metrics = read_fov_record(tmp_path / "qc.json", "qc_table")
    assert metrics["import_warnings"] == warnings.to_dict(orient="records")
    assert [Path(entry.path).name for entry in provenance.inputs] == ["tracks.parquet"]


def test_an_import_without_warnings_says_so_on_the_qc_page_and_the_first_page(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    _table(truth).to_csv(tmp_path / "mine.csv", index=False)
    run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path, pixel_size_um=0.65)
    warnings, page = _report_pages(tmp_path)
    assert list(warnings["warning"]) == ["no import warnings"]
    (line,) = [line for line in page.splitlines() if "import warning" in line]
    assert line.startswith("- **plate**, import warnings: No import warnings (tracks import (")


def test_a_tracks_record_without_import_warnings_is_refused_not_read_as_none(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    """A table imported before the warnings were recorded: 'no import warnings' would be a guess."""
    from dynaclr.io import make_provenance
    from dynaclr.qc.import_warnings import import_warnings_table

    write_table(_table(truth), tmp_path / "tracks.parquet", make_provenance("tracks", {"format": "table"}))
    with pytest.raises(ArtifactError, match=r"config.import_warnings .*rerun \(rule import_tracks\)"):
        import_warnings_table(tmp_path / "tracks.parquet", None)


def test_an_annotation_record_without_import_warnings_gives_one_rebuilt_from_its_counts() -> None:
    """Annotations imported before their WARNING was recorded: rebuilt from position_readings."""
    from dynaclr.qc.import_warnings import annotation_import_warnings

    assert annotation_import_warnings({"position_readings": {"rows": 40, "given": 40}}) == []
    # matched by track: no reading recorded, no check made
    assert annotation_import_warnings({}) == ["no position check (matched by track)"]
    assert annotation_import_warnings(
        {"position_readings": {"rows": 40, "given": 3, "swapped": 5}, "import_warnings": ["as logged"]}
    ) == ["as logged"]
    (warning,) = annotation_import_warnings(
        {"position_readings": {"rows": 40, "given": 3, "swapped": 5, "um": 4, "um_swapped": 2}}
    )
    assert warning.startswith("of 40 annotations with y, x, 3 lie near a tracked cell")
    assert "swapped 5, um 4, um swapped 2" in warning


def test_a_trackmate_spots_csv_given_as_a_table_names_trackmate_and_the_fix(tmp_path: Path) -> None:
    """TrackMate's spots CSV export (its column keys, then three rows of names, short names and
    units, as TrackMate 7 writes it) given as `format: table`: the refusal says it is TrackMate's
    export, which the import does not read as it is, and names the two ways in: TrackMate's XML
    (`format: trackmate`) or the columns renamed, positions in µm with `position_unit: um`."""
    keys = [
        "LABEL",
        "ID",
        "TRACK_ID",
        "QUALITY",
        "POSITION_X",
        "POSITION_Y",
        "POSITION_Z",
        "POSITION_T",
        "FRAME",
    ]
    lines = [
        ",".join(keys),
        "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame",
        "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame",
        ",,,(quality),(micron),(micron),(micron),(sec),",
        "ID0,0,0,1.0,12.5,20.25,0.0,0.0,0",
        "ID1,1,0,1.0,13.0,20.5,0.0,1200.0,1",
    ]
    path = tmp_path / "spots.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ArtifactError) as refused:
        read_tracks_table(path)
    message = str(refused.value)
    assert "missing ['fov_name', 'track_id', 't', 'y', 'x']" in message
    assert "TrackMate's spots CSV export" in message
    assert "tracks.format: trackmate" in message
    for rename in (
        "TRACK_ID -> track_id",
        "FRAME -> t",
        "POSITION_Y -> y",
        "POSITION_X -> x",
        "POSITION_Z -> z",
    ):
        assert rename in message
    assert "tracks.position_unit: um (z is then divided by the plate's z step)" in message
    assert "fov_name" in message and "three rows under the header" in message


def test_a_tables_fov_name_holding_tiff_positions_names_their_fovs(
    truth: pd.DataFrame, tmp_path: Path
) -> None:
    """A ``tiff:`` dataset's tracks table whose ``fov_name`` holds the TIFF positions (``Pos0``, as
    the user's files are named) rather than the FOVs they become: the refusal says which FOV each
    position is, as the annotations' does (session 20, probe9)."""
    table = _table(truth)
    table["fov_name"] = table["fov_name"].map({"A/1/0": "Pos0", "B/1/0": "Pos1"})
    table.to_csv(tmp_path / "mine.csv", index=False)

    def refusal(**positions: dict[str, str]) -> str:
        with pytest.raises(ArtifactError) as raised:
            run_import("table", "mine.csv", [tmp_path / "mine.csv"], tmp_path, **positions)
        return str(raised.value)

    message = refusal(positions={"A/1/0": "Pos0", "B/1/0": "Pos1"})
    assert "column 'fov_name': expected a FOV of the plate ['A/1/0', 'B/1/0'], found 'Pos0'" in message
    for position, fov in (("Pos0", "A/1/0"), ("Pos1", "B/1/0")):
        assert (
            f"{position} is a TIFF position, not a FOV: tiff.positions (or, without it, the FOV naming "
            f"A/1/<position>) maps position {position} to FOV {fov}, so write {fov}"
        ) in message
    # without TIFF positions (an OME-Zarr plate) nothing is said of positions
    assert "TIFF position" not in refusal()


# ------------------------------------------------------------------ z in µm; t stepping by k frames
def _cells(frames: list[int], *, z: float | None = None) -> pd.DataFrame:
    """Three cells in each FOV, each seen at ``frames`` (the plate's own ``t``, or what a table gives)."""
    rows = [
        {
            "fov_name": fov,
            "track_id": cell,
            "t": t,
            "y": 20.0 * cell,
            "x": 30.0,
            **({} if z is None else {"z": z}),
        }
        for fov in FOVS
        for cell in (1, 2, 3)
        for t in frames
    ]
    return pd.DataFrame(rows)


def _import_table(
    table: pd.DataFrame, tmp_path: Path, *, frame_step: int | None = None, **keywords: Any
) -> pd.DataFrame:
    """``table`` imported onto a plate of :data:`SHAPE_TZYX`'s images and as many frames as it reaches
    (a plate with frames after the table's last would be warned of: tracks of the first frames only)."""
    table.to_csv(tmp_path / "mine.csv", index=False)
    return import_tracks(
        ImportedTracksConfig(
            format="table",
            path="mine.csv",
            position_unit=keywords.pop("position_unit", "px"),
            **({} if frame_step is None else {"frame_step": frame_step}),
        ),
        ImportTracksInputs(files=(tmp_path / "mine.csv",)),
        ImportTracksOutputs(tracks=tmp_path / "tracks.parquet"),
        fov_names=FOVS,
        shape_tzyx=(int(table["t"].max()) + 1, *SHAPE_TZYX[1:]),
        **keywords,
    )


def test_z_in_micrometres_is_divided_by_the_plates_z_step(tmp_path: Path) -> None:
    """``position_unit: um`` divided y, x by the pixel size and left z in µm, read as a slice (TrackMate's
    POSITION_Z renamed z): slice 2 at 2 µm per slice (4 µm) came back as slice 4 of the plate's 5, every
    cell on the wrong slice with exit 0 (a larger z was refused as beyond the plate)."""
    table = _cells([0, 1, 2], z=4.0).assign(y=lambda t: t["y"] * 0.65, x=lambda t: t["x"] * 0.65)
    imported = _import_table(table, tmp_path, position_unit="um", pixel_size_um=0.65, z_step_um=2.0)
    np.testing.assert_allclose(imported["z"], 2.0)
    np.testing.assert_allclose(imported["y"].unique(), [20.0, 40.0, 60.0])
    np.testing.assert_allclose(imported["x"], 30.0)
    assert _import_warnings(tmp_path) == []


def test_z_in_micrometres_on_a_plate_stating_no_z_step_is_refused(tmp_path: Path) -> None:
    table = _cells([0, 1, 2], z=1.5)
    with pytest.raises(ArtifactError) as refused:
        _import_table(table, tmp_path, position_unit="um", pixel_size_um=1.0, z_step_um=None)
    message = str(refused.value)
    assert "position_unit 'um' reads column z as micrometres, divided by the plate's z step" in message
    assert "acquisition.z_step_um, found none (z is 1.5 µm at " in message and "mine.csv line 2" in message
    assert "Set acquisition.z_step_um" in message and "drop column z for 2D tracks" in message
    # 0 µm is slice 0 at any z step (TrackMate's POSITION_Z of a 2D image): imported without one
    imported = _import_table(_cells([0, 1, 2], z=0.0), tmp_path, position_unit="um", pixel_size_um=1.0)
    assert (imported["z"] == 0).all()


def test_tracks_in_pixels_leave_z_in_slices(tmp_path: Path) -> None:
    imported = _import_table(_cells([0, 1, 2], z=3.0), tmp_path, pixel_size_um=0.65, z_step_um=2.0)
    np.testing.assert_allclose(imported["z"], 3.0)


@pytest.mark.parametrize(
    ("interval_minutes", "unit", "stride"), [(5.0, "minutes", 5), (4.999, "minutes", 5), (0.5, "seconds", 30)]
)
def test_t_in_minutes_or_seconds_is_refused(
    interval_minutes: float, unit: str, stride: int, tmp_path: Path
) -> None:
    """t in minutes of a 5-min movie (0, 5, 10) was read as the plate's frames 0, 5, 10: every cell at
    five times its frame, exit 0, no word (so were seconds, 0, 30, 60 at 30 s a frame)."""
    _cells([0, stride, 2 * stride]).to_csv(tmp_path / "mine.csv", index=False)
    with pytest.raises(ArtifactError) as refused:
        import_tracks(
            ImportedTracksConfig(format="table", path="mine.csv"),
            ImportTracksInputs(files=(tmp_path / "mine.csv",)),
            ImportTracksOutputs(tracks=tmp_path / "tracks.parquet"),
            fov_names=FOVS,
            shape_tzyx=(3 * stride, *SHAPE_TZYX[1:]),
            frame_interval_minutes=interval_minutes,
        )
    message = str(refused.value)
    assert message.startswith("tracks (table, mine.csv): every one of the 12 steps between a track's ")
    assert f"is a multiple of {stride}, the plate's frame interval in {unit} " in message
    assert f"t looks like time in {unit}" in message
    assert f"Convert t to frames (t / {stride}: {stride} becomes frame 1)" in message
    assert f"set tracks.frame_step: {stride}" in message
    assert not (tmp_path / "tracks.parquet").exists()


def test_a_tracking_of_one_frame_in_the_interval_is_imported_with_frame_step(tmp_path: Path) -> None:
    """A tracking on one frame in 5 of a 5-min movie looks like t in minutes: frame_step says it is not."""
    imported = _import_table(_cells([0, 5, 10]), tmp_path, frame_step=5, frame_interval_minutes=5.0)
    assert sorted(imported["t"].unique()) == [0, 5, 10]
    assert _import_warnings(tmp_path) == []


def test_detections_all_k_frames_apart_are_imported_with_a_warning_and_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A movie subsampled 2x, its frames counted as the plate's, was imported with every cell at twice its
    frame, exit 0 and no word; a stride other than the interval may be right (one frame in 2 tracked)."""
    table = _cells([0, 2, 4, 8])  # one gap of 4: the steps' greatest common divisor is still 2
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        _import_table(table, tmp_path, frame_interval_minutes=5.0)
    (warning,) = _import_warnings(tmp_path)
    assert warning.startswith(
        "every one of the 18 steps between a track's consecutive detections (t 0 .. 8) is a multiple of 2: "
        "t must count the plate's frames from 0"
    )
    assert "every cell is at 2 times its frame" in warning and "set tracks.frame_step: 2" in warning
    assert warning in caplog.text
    # the plate stating no interval: warned as well, saying so
    _import_table(table, tmp_path)
    (warning,) = _import_warnings(tmp_path)
    assert "(the plate states no frame interval to compare it with)" in warning
    # frame_step: 2 says the tracking used one frame in 2 of the plate: nothing to warn of
    _import_table(table, tmp_path, frame_step=2, frame_interval_minutes=5.0)
    assert _import_warnings(tmp_path) == []


def test_steps_of_one_frame_with_gaps_give_no_stride_warning(tmp_path: Path) -> None:
    table = _cells([0, 1, 2, 4, 6, 9])  # gaps of 2 and 3, and steps of 1
    imported = _import_table(table, tmp_path, frame_interval_minutes=5.0)
    assert sorted(imported["t"].unique()) == [0, 1, 2, 4, 6, 9]
    assert _import_warnings(tmp_path) == []
    # a track of one detection has no step: no stride from it alone
    _import_table(_cells([5]), tmp_path, frame_interval_minutes=5.0)
    assert not [w for w in _import_warnings(tmp_path) if "is a multiple of" in w]


def test_frame_step_is_a_key_of_tables_only_and_left_out_of_the_params_unset() -> None:
    with pytest.raises(ValidationError, match=r"tracks\.frame_step: the step between a table's"):
        ImportedTracksConfig(format="ctc", path="ctc/{row}_{col}_{fov}_RES", frame_step=5)
    with pytest.raises(ValidationError):
        ImportedTracksConfig(format="table", path="mine.csv", frame_step=1)
    # unset, the params (and records) stay as before the key existed: upgrading reruns no import
    assert "frame_step" not in ImportedTracksConfig(format="table", path="mine.csv").job_params()
    assert (
        ImportedTracksConfig(format="ultrack", path="{row}/{col}/{fov}.csv", frame_step=3).job_params()[
            "frame_step"
        ]
        == 3
    )
