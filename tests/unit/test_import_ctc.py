"""Cell Tracking Challenge folders as real CTC datasets ship them (``tracks: {format: ctc}``): the
ground truth's ``TRA`` layout, 3- and 4-digit frame numbers, foreign line endings, and the ways a
folder's lineage file and label images can disagree, each read correctly or refused naming the file
(and line or label), what was expected and what was found."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from dynaclr.config.tracking import ImportedTracksConfig
from dynaclr.io import ArtifactError, read_table
from dynaclr.tracking import ImportTracksInputs, ImportTracksOutputs, import_tracks

FOV = "A/1/0"
SHAPE_TZYX = (4, 1, 16, 16)
#: Where each test cell sits: label -> (y, x) of its 3 x 3 square.
CELLS = {1: (2, 2), 2: (8, 8), 3: (12, 2), 4: (2, 12), 5: (12, 12)}


def mask(labels: list[int], dtype: type = np.uint16) -> np.ndarray:
    """A (Y, X) label image holding the ``labels`` as 3 x 3 squares (centroid (y + 1, x + 1))."""
    image = np.zeros(SHAPE_TZYX[2:], dtype)
    for label in labels:
        y, x = CELLS[label]
        image[y : y + 3, x : x + 3] = label
    return image


def write_folder(
    root: Path,
    frames: dict[int, list[int]],
    lineage: str,
    *,
    name: str = "mask{:03d}.tif",
    lineage_name: str = "res_track.txt",
) -> ImportedTracksConfig:
    """FOV ``A/1/0``'s CTC folder ``root/A_1_0``: a label image per entry of ``frames`` (file name
    ``name`` formatted with the frame) and the lineage file's bytes ``lineage``; its config."""
    folder = root / "A_1_0"
    folder.mkdir(parents=True)
    for t, labels in frames.items():
        tifffile.imwrite(folder / name.format(t), mask(labels))
    (folder / lineage_name).write_bytes(lineage.encode())
    return ImportedTracksConfig(format="ctc", path=str(root / "{row}_{col}_{fov}"))


def run(config: ImportedTracksConfig, out: Path, lineage: Path | None = None) -> pd.DataFrame:
    """Rule ``import_tracks``'s library function on FOV ``A/1/0`` (lineage file: ``res_track.txt``
    unless given)."""
    folder = Path(config.fov_path(FOV))
    return import_tracks(
        config,
        ImportTracksInputs(files=(folder,), ctc_lineage=(lineage or folder / "res_track.txt",)),
        ImportTracksOutputs(tracks=out / "tracks.parquet"),
        fov_names=[FOV],
        shape_tzyx=SHAPE_TZYX,
    )


def test_a_ground_truth_tra_folder_with_four_digit_frames_is_read(tmp_path: Path) -> None:
    """01_GT/TRA: man_track.txt and man_track<t>.tif (4 digits in long movies), no res_track.txt."""
    config = write_folder(
        tmp_path,
        {0: [1], 1: [1], 2: [2, 3], 3: [2]},
        "1 0 1 0\n2 2 3 1\n3 2 2 1\n",
        name="man_track{:04d}.tif",
        lineage_name="man_track.txt",
    )
    lineage = Path(config.ctc_lineage(FOV))  # what rule import_tracks is given
    assert lineage == tmp_path / "A_1_0" / "man_track.txt"
    tracks = run(config, tmp_path, lineage)
    cells = {(row.track_id, row.t): (row.y, row.x, row.parent_track_id) for row in tracks.itertuples()}
    assert cells == {
        (1, 0): (3.0, 3.0, -1),
        (1, 1): (3.0, 3.0, -1),
        (2, 2): (9.0, 9.0, 1),
        (2, 3): (9.0, 9.0, 1),
        (3, 2): (13.0, 3.0, 1),
    }


def test_tabs_crlf_blank_lines_and_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    config = write_folder(tmp_path, {0: [1], 1: [1], 2: [2], 3: [2]}, "\ufeff1\t0  1 0 \r\n\r\n 2 2 3 1\r\n")
    tracks = run(config, tmp_path)
    assert tracks.groupby("track_id")["parent_track_id"].first().to_dict() == {1: -1, 2: 1}
    assert len(tracks) == 4


@pytest.mark.parametrize(
    ("frames", "lineage", "message"),
    [
        # a gap inside B .. E: CTC wants a new label (parent: the one before the gap)
        (
            {0: [1], 1: [], 2: [1], 3: [1]},
            "1 0 3 0\n",
            r"line 1: label 1: expected in the masks of frames 0 \.\. 3 ",
        ),
        (
            {0: [1], 1: [1], 2: [1], 3: [1]},
            "1 0 1 0\n",
            r"line 1: label 1: .* found it also in frames \[2, 3\]",
        ),
        ({0: [1], 1: [1], 2: [1], 3: [1]}, "1 0 3 0\n5 0 3 0\n", r"line 2: label 5: .* found it in no mask"),
    ],
    ids=["gap-inside-B-E", "outside-B-E", "never-in-the-masks"],
)
def test_a_lineage_line_the_masks_disagree_with_is_named(
    tmp_path: Path, frames: dict[int, list[int]], lineage: str, message: str
) -> None:
    """Before: read as the masks have it, the file's B and E (and labels in no mask) ignored, exit 0."""
    config = write_folder(tmp_path, frames, lineage)
    with pytest.raises(
        ArtifactError, match=r"res_track\.txt: 1 label\(s\) disagree with the masks:\n.*" + message
    ):
        run(config, tmp_path)


def test_absent_in_frames_names_the_frames(tmp_path: Path) -> None:
    config = write_folder(tmp_path, {0: [1], 1: [], 2: [], 3: [1]}, "1 0 3 0\n")
    with pytest.raises(ArtifactError, match=r"found it absent from frames \[1, 2\]$"):
        run(config, tmp_path)


@pytest.mark.parametrize("name", ["mask{:03d}.TIF", "mask{:03d}.TIFF", "mask{:03d}.tiff", "mask{:04d}.Tif"])
def test_label_images_ending_in_upper_case_or_tiff_are_read(tmp_path: Path, name: str) -> None:
    """Fiji on Windows writes mask000.TIF: a folder of them failed with "found none"."""
    frames, lineage = {0: [1], 1: [1], 2: [2, 3], 3: [2]}, "1 0 1 0\n2 2 3 1\n3 2 2 1\n"
    expected = run(write_folder(tmp_path / "lower", frames, lineage), tmp_path / "lower")
    tracks = run(write_folder(tmp_path / "other", frames, lineage, name=name), tmp_path / "other")
    pd.testing.assert_frame_equal(tracks, expected)
    assert len(tracks) == 5


def _second_file_for_frame_0(folder: Path) -> None:
    tifffile.imwrite(folder / "mask0000.tif", mask([2]))


def _upper_case_file_for_frame_0(folder: Path) -> None:
    tifffile.imwrite(folder / "mask000.TIF", mask([2]))


@pytest.mark.parametrize(
    ("frames", "change", "message"),
    [
        (
            {0: [1], 1: [1], 3: [1]},
            None,
            r"found frames 0 \.\. 3 \(3 files\): no file for frames \[2\]; a frame without a cell needs an "
            r"empty \(all 0\) label image",
        ),
        (
            {1: [1], 2: [1], 4: [1]},
            None,
            r"found frames 1 \.\. 4 \(3 files\): no file for frames \[3\]; files beyond the plate for "
            r"frames \[4\]; renumber the files to the plate's frames .*; a frame without a cell needs an "
            r"empty \(all 0\) label image$",
        ),
        (
            {0: [1], 1: [1], 2: [1], 3: [1], 4: [1]},
            None,
            r"found frames 0 \.\. 4 \(5 files\): files beyond the plate for frames \[4\]; renumber the "
            r"files to the plate's frames",
        ),
        (
            {0: [1], 1: [1], 2: [1], 3: [1]},
            _second_file_for_frame_0,
            r"expected one label image per frame, .* frame 0: \['mask000.tif', 'mask0000.tif'\]",
        ),
        (
            {0: [1], 1: [1], 2: [1], 3: [1]},
            _upper_case_file_for_frame_0,
            r"expected one label image per frame, .* frame 0: \['mask000.TIF', 'mask000.tif'\]",
        ),
    ],
    ids=[
        "missing-in-the-middle",
        "counted-from-1-with-a-gap",
        "beyond-the-plate",
        "two-for-a-frame",
        "two-for-a-frame-upper-case",
    ],
)
def test_label_images_that_are_not_one_per_frame_of_the_plate_are_refused(
    tmp_path: Path,
    frames: dict[int, list[int]],
    change: Callable[[Path], None] | None,
    message: str,
) -> None:
    """Before: the first was read with a frame missing, exit 0. A folder on part of the movie is read
    (test_a_folder_made_on_part_of_the_movie_is_read_and_its_frames_recorded)."""
    span = [t for t, labels in frames.items() if labels]
    config = write_folder(tmp_path, frames, f"1 {min(span)} {max(span)} 0\n")
    if change is not None:
        change(Path(config.fov_path(FOV)))
    with pytest.raises(ArtifactError, match=r"A_1_0: .*" + message):
        run(config, tmp_path)


@pytest.mark.parametrize(
    ("frames", "lineage", "tracked"),
    [
        ({0: [1], 1: [1]}, "1 0 1 0\n", [0, 1]),
        ({1: [1], 2: [2, 3], 3: [2]}, "1 1 1 0\n2 2 3 1\n3 2 2 1\n", [1, 3]),
        ({1: [], 2: [1]}, "1 2 2 0\n", [1, 2]),
    ],
    ids=["first-frames", "last-frames", "middle-first-frame-empty"],
)
def test_a_folder_made_on_part_of_the_movie_is_read_and_its_frames_recorded(
    tmp_path: Path, frames: dict[int, list[int]], lineage: str, tracked: list[int], caplog
) -> None:
    """Before: refused ('no file for frames ...') although CTC names each label image by its frame. Now
    the cells of the frames it covers are read, the record states those frames (an empty label image
    is a tracked frame without cells; a frame without one is untracked), and the log says which."""
    config = write_folder(tmp_path, frames, lineage)
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        tracks = run(config, tmp_path)
    expected = {(label, t) for t, labels in frames.items() for label in labels}
    assert set(zip(tracks["track_id"], tracks["t"], strict=True)) == expected
    provenance = read_table(tmp_path / "tracks.parquet", "tracks")[1]
    assert provenance.config["tracked_frames"] == {FOV: tracked}
    assert provenance.config["plate_frames"] == SHAPE_TZYX[0]
    assert f"A/1/0: frames {tracked[0]} .. {tracked[1]}" in caplog.text


@pytest.mark.parametrize(
    ("frames", "lineage", "found"),
    [
        ({2: [1], 3: [1]}, "1 0 3 0\n", "B = 0, E = 3"),
        ({0: [1], 1: [1]}, "1 0 3 0\n", "B = 0, E = 3"),
        ({2: [2], 3: [2]}, "1 0 1 0\n2 2 3 1\n", "B = 0, E = 1"),
    ],
    ids=["begins-before-the-run", "ends-after-the-run", "mother-wholly-before-the-run"],
)
def test_a_line_reaching_frames_without_a_label_image_is_refused_as_untracked(
    tmp_path: Path, frames: dict[int, list[int]], lineage: str, found: str
) -> None:
    """Before: refused as a cell 'absent from frames [0, 1]' with the advice for a cell lost for some
    frames (a new label), though those frames have no label image: they are untracked. Now the line is
    named with the frames the folder covers and how to cut it to them."""
    config = write_folder(tmp_path, frames, lineage)
    first, last = min(frames), max(frames)
    with pytest.raises(ArtifactError) as refused:
        run(config, tmp_path)
    message = str(refused.value)
    assert f"A_1_0 covers frames {first} .. {last} only" in message
    assert f"cut each line to the run (B >= {first}, E <= {last};" in message
    assert "gets P = 0" in message
    assert f"line 1: label 1: expected frames B .. E within the frames {first} .. {last}" in message
    assert found in message
    assert "absent from frames" not in message
    assert "comes back as a new label" not in message


def test_a_folder_of_the_whole_movie_records_every_frame_tracked(tmp_path: Path, caplog) -> None:
    config = write_folder(tmp_path, {0: [1], 1: [1], 2: [1], 3: [1]}, "1 0 3 0\n")
    with caplog.at_level("WARNING", logger="dynaclr.tracking.importing"):
        run(config, tmp_path)
    assert read_table(tmp_path / "tracks.parquet", "tracks")[1].config["tracked_frames"] == {FOV: [0, 3]}
    assert "part of the plate" not in caplog.text


def test_negative_labels_are_refused(tmp_path: Path) -> None:
    """Before: the pixels of a negative label (a signed image) were dropped, exit 0."""
    config = write_folder(tmp_path, {0: [1], 1: [1], 2: [1], 3: [1]}, "1 0 3 0\n")
    image = mask([1], np.int32)
    image[10:12, 10:12] = -3
    tifffile.imwrite(Path(config.fov_path(FOV)) / "mask002.tif", image)
    with pytest.raises(ArtifactError, match=r"mask002\.tif: expected labels >= 0 .* found 4 pixels below 0"):
        run(config, tmp_path)


def test_a_parent_not_in_the_lineage_file_names_its_line(tmp_path: Path) -> None:
    config = write_folder(tmp_path, {0: [1], 1: [1], 2: [2], 3: [2]}, "1 0 1 0\n2 2 3 7\n")
    with pytest.raises(
        ArtifactError,
        match=r"res_track\.txt line 2: column P \(parent\) of label 2: expected 0 or a label .* found 7",
    ):
        run(config, tmp_path)


def _ctc_plan_config(tmp_path: Path, lineages: dict[str, str]) -> dict:
    """A two-FOV plate whose tracks are CTC folders ``ctc/<folder>`` holding the lineage file named."""
    from plate_helpers import write_plate
    from test_early_checks import plate_config

    plate = write_plate(
        tmp_path / "own.zarr", ["A/1/0", "B/1/0"], ["Brightfield", "Sensor"], (6, 2, 3, 64, 64)
    )
    config = plate_config(plate)
    dataset = config["datasets"]["mine"]
    del dataset["tracking_input"]
    for folder, lineage in lineages.items():
        (tmp_path / "ctc" / folder).mkdir(parents=True)
        (tmp_path / "ctc" / folder / lineage).write_text("1 0 0 0\n")
    dataset["tracks"] = {"format": "ctc", "path": str(tmp_path / "ctc" / "{row}_{col}_{fov}")}
    return config


def test_the_plan_gives_import_tracks_each_folders_own_lineage_file(tmp_path: Path) -> None:
    """A ground truth's TRA folders: man_track.txt (before: res_track.txt for every folder, a missing
    input)."""
    from test_early_checks import plan
    from test_stage_contract import planned_jobs

    config = _ctc_plan_config(tmp_path, {"A_1_0": "man_track.txt", "B_1_0": "man_track.txt"})
    work = tmp_path / "work"
    assert plan(config, work)["import_tracks"] == 1
    (job,) = [
        job for job in planned_jobs(work / "config" / "config.yaml", work) if job.rule.name == "import_tracks"
    ]
    assert list(job.input.ctc_lineage) == [
        str(tmp_path / "ctc" / "A_1_0" / "man_track.txt"),
        str(tmp_path / "ctc" / "B_1_0" / "man_track.txt"),
    ]


def test_the_plan_looks_up_each_folders_lineage_file_once(tmp_path: Path, monkeypatch) -> None:
    """The dry run's layout check and rule import_tracks's inputs share one look-up per FOV (before:
    two, each up to two file checks; 10,000 FOVs of a plate)."""
    from test_early_checks import plan
    from test_stage_contract import planned_jobs

    looked_up = []
    lookup = ImportedTracksConfig.ctc_lineage
    monkeypatch.setattr(
        ImportedTracksConfig,
        "ctc_lineage",
        lambda self, fov, positions=None: looked_up.append(fov) or lookup(self, fov, positions),
    )
    config = _ctc_plan_config(tmp_path, {"A_1_0": "man_track.txt", "B_1_0": "man_track.txt"})
    work = tmp_path / "work"
    assert plan(config, work)["import_tracks"] == 1
    assert sorted(looked_up) == ["A/1/0", "B/1/0"]
    # and the files planned are each folder's own, as before
    (job,) = [
        job for job in planned_jobs(work / "config" / "config.yaml", work) if job.rule.name == "import_tracks"
    ]
    assert list(job.input.ctc_lineage) == [
        str(tmp_path / "ctc" / f / "man_track.txt") for f in ("A_1_0", "B_1_0")
    ]


def test_a_dataset_mixing_results_and_ground_truth_folders_is_refused_at_the_dry_run(tmp_path: Path) -> None:
    """FOV A/1/0 holds a tracker's result (res_track.txt), FOV B/1/0 a ground truth (man_track.txt):
    before, each FOV's own file was read and the dataset's tracks silently mixed the two."""
    from test_early_checks import refused

    config = _ctc_plan_config(tmp_path, {"A_1_0": "res_track.txt", "B_1_0": "man_track.txt"})
    message = refused(config, tmp_path / "work")
    assert "datasets.mine.tracks.path: expected one layout in every FOV's folder" in message
    assert f"res_track.txt) in FOV A/1/0 ({tmp_path / 'ctc' / 'A_1_0' / 'res_track.txt'})" in message
    assert f"man_track.txt) in FOV B/1/0 ({tmp_path / 'ctc' / 'B_1_0' / 'man_track.txt'})" in message


def test_the_stage_refuses_folders_mixing_results_and_ground_truth(tmp_path: Path) -> None:
    """Called without the dry run (the library function): the same refusal, before any mask is read."""
    config = write_folder(tmp_path, {0: [1], 1: [1], 2: [1], 3: [1]}, "1 0 3 0\n")
    truth = tmp_path / "B_1_0"
    truth.mkdir()
    (truth / "man_track.txt").write_text("1 0 3 0\n")
    folder = Path(config.fov_path(FOV))
    with pytest.raises(ArtifactError, match=r"in FOV A/1/0 .*\(man_track\.txt\) in FOV B/1/0"):
        import_tracks(
            config,
            ImportTracksInputs(
                files=(folder, truth), ctc_lineage=(folder / "res_track.txt", truth / "man_track.txt")
            ),
            ImportTracksOutputs(tracks=tmp_path / "tracks.parquet"),
            fov_names=[FOV, "B/1/0"],
            shape_tzyx=SHAPE_TZYX,
        )


@pytest.mark.parametrize(
    ("lineage", "found"),
    [("1 0 3 0\n2 2 1000000 1\n", "B = 2, E = 1000000"), ("1 0 3 0\n2 4 4 1\n", "B = 4, E = 4")],
    ids=["large-E", "E-past-the-last-frame"],
)
def test_a_line_whose_frames_lie_outside_the_plate_is_named(tmp_path: Path, lineage: str, found: str) -> None:
    """A corrupt E (before: a set of its frames B .. E was built before anything was refused, all the
    memory there is for an E of 10^11; 10^6 here keeps a regression cheap); the plate has 4 frames."""
    config = write_folder(tmp_path, {0: [1], 1: [1], 2: [1], 3: [1]}, lineage)
    with pytest.raises(
        ArtifactError,
        match=rf"res_track\.txt line 2: label 2: expected frames B \.\. E within the plate's 4 frames "
        rf"\(0 \.\. 3, B <= E\), found {found} ",
    ):
        run(config, tmp_path)


def test_the_qc_rows_of_imported_ctc_tracks_come_in_stage_order(tmp_path: Path) -> None:
    """Before: the imported tracks' tracking row came after the patches rows, though qc.csv lists
    stages in the order phase, virtual staining, tracking, patches (docs/artifacts.md)."""
    from dynaclr.io import ArtifactKind, make_provenance
    from dynaclr.io.plate import write_fov_record
    from dynaclr.qc.table import QcTableInputs, qc_rows

    run(write_folder(tmp_path, {2: [1], 3: [1]}, "1 2 3 0\n"), tmp_path)
    clean = {"fov_name": FOV, "n_frames": 4, "missing_voxels": 0, "dropped_frames": []}
    records = {}
    for kind, name in ((ArtifactKind.PHASE_FOV, "phase"), (ArtifactKind.PATCH_FOV, "patches")):
        records[name] = tmp_path / "records" / f"{name}.json"
        config = {"name": "sensor"} if name == "patches" else {}
        write_fov_record(records[name], make_provenance(kind, config), {**clean, "n_patches": 5})
    qc, recorded = qc_rows(
        QcTableInputs(
            phase_records=(records["phase"],),
            patch_records=(records["patches"],),
            imported_tracks=tmp_path / "tracks.parquet",
        )
    )
    assert list(qc["stage"]) == ["phase", "tracking", "patches:sensor"]
    assert qc.loc[1, "dropped_frames"] == "0;1" and qc.loc[1, "status"] == "reduced"
    assert [path for path, _ in recorded] == [
        records["phase"],
        tmp_path / "tracks.parquet",
        records["patches"],
    ]


def _lineage(tracks: pd.DataFrame) -> dict[int, tuple[list[int], int]]:
    """``{track_id: (its frames, its parent)}`` of imported tracks."""
    return {
        int(track): (rows["t"].tolist(), int(rows["parent_track_id"].iloc[0]))
        for track, rows in tracks.groupby("track_id")
    }


def test_a_cell_lost_for_frames_reads_as_one_track_not_a_division(tmp_path: Path, caplog) -> None:
    """CTC writes a cell lost for frames as a new label whose parent is the label before the gap
    (label 2, after the gap at t 1). Before, it was read as a daughter: lineage mitosis labels and DTW
    division events for a cell that never divided."""
    from dynaclr.classify.annotations import lineage_division_states
    from dynaclr.config.analysis import AnnotationConfig
    from dynaclr.pseudotime.stage import division_state, first_daughter_frames

    config = write_folder(tmp_path, {0: [1], 1: [], 2: [2], 3: [2]}, "1 0 0 0\n2 2 3 1\n")
    with caplog.at_level("INFO", logger="dynaclr.tracking.importing"):
        tracks = run(config, tmp_path)
    assert _lineage(tracks) == {1: ([0, 2, 3], -1)}
    assert tracks["y"].tolist() == [3.0, 9.0, 9.0]  # each frame's own mask, under the one track
    assert not lineage_division_states(tracks, AnnotationConfig())["mitosis"].any()
    assert not division_state(tracks).any() and first_daughter_frames(tracks) == {}
    record = read_table(tmp_path / "tracks.parquet", "tracks")[1].config
    assert record["ctc_continuations_merged"] == {FOV: 1} and record["import_warnings"] == []
    assert "1 CTC label(s) in 1 of 1 FOVs are their parent's only child first seen after a gap" in caplog.text


def test_a_division_after_a_gap_names_the_merged_track_as_mother(tmp_path: Path) -> None:
    """Two children are a division: kept, their mother the track the label before them merged into."""
    config = write_folder(
        tmp_path, {0: [1], 1: [], 2: [2], 3: [4, 5]}, "1 0 0 0\n2 2 2 1\n4 3 3 2\n5 3 3 2\n"
    )
    tracks = run(config, tmp_path)
    assert _lineage(tracks) == {1: ([0, 2], -1), 4: ([3], 1), 5: ([3], 1)}
    assert read_table(tmp_path / "tracks.parquet", "tracks")[1].config["ctc_continuations_merged"] == {FOV: 1}


def test_a_single_daughter_right_after_her_mother_stays_a_daughter(tmp_path: Path) -> None:
    """No gap: a division whose sister is not in the image (left the field), as ground truths write it."""
    config = write_folder(tmp_path, {0: [1], 1: [1], 2: [2], 3: [2]}, "1 0 1 0\n2 2 3 1\n")
    tracks = run(config, tmp_path)
    assert _lineage(tracks) == {1: ([0, 1], -1), 2: ([2, 3], 1)}
    assert read_table(tmp_path / "tracks.parquet", "tracks")[1].config["ctc_continuations_merged"] == {FOV: 0}


def test_a_chain_of_gaps_merges_into_one_track() -> None:
    from dynaclr.tracking.importing import merge_ctc_continuations

    # label: (frames, parent); 1 lost at t 1 and t 3 (labels 2 and 3), then divides into 4 and 5
    labels = {1: ([0], -1), 2: ([2], 1), 3: ([4, 5], 2), 4: ([6], 3), 5: ([6, 7], 3), 6: ([0], -1)}
    table = pd.DataFrame(
        [(label, t, parent) for label, (frames, parent) in labels.items() for t in frames],
        columns=["track_id", "t", "parent_track_id"],
    )
    merged, pairs = merge_ctc_continuations(table)
    assert pairs == [(1, 2), (2, 3)]
    assert _lineage(merged) == {1: ([0, 2, 4, 5], -1), 4: ([6], 1), 5: ([6, 7], 1), 6: ([0], -1)}


def test_a_single_child_overlapping_its_parent_is_not_merged_but_refused(tmp_path: Path) -> None:
    config = write_folder(tmp_path, {0: [1], 1: [1, 2], 2: [2], 3: []}, "1 0 1 0\n2 1 2 1\n")
    with pytest.raises(ArtifactError, match="expected parent track 1 to end before this track starts"):
        run(config, tmp_path)
