"""Exports for other tools: CTC result folders from the tracked labels, .h5ad and Parquet embeddings."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from iohub.ngff import open_ome_zarr
from plate_helpers import reads_outside_position, record_metadata_reads

from dynaclr.exports.ctc import (
    LABEL_COLUMNS,
    ExportCtcInputs,
    ExportCtcOutputs,
    ctc_tracks,
    export_ctc_fov,
    export_labels,
    mask_name,
)
from dynaclr.exports.embeddings import (
    ExportEmbeddingsInputs,
    ExportEmbeddingsOutputs,
    export_embeddings,
    feature_table,
)
from dynaclr.io import ArtifactError, ArtifactKind, make_provenance, read_table, write_plate_provenance
from dynaclr.tracking.importing import read_ctc_folder

FOV = "A/1/0"


def _square(frame: np.ndarray, label: int, y: int, x: int) -> None:
    frame[0, y : y + 4, x : x + 4] = label


@pytest.fixture
def tracked(tmp_path: Path) -> dict[str, Path]:
    """A tracks plate of one FOV over 6 frames: track 1 lost at t 2 (a gap), track 2 divides into
    3 and 4 at t 3, track 7 appears at t 4 without a parent."""
    n_t = 6
    labels = np.zeros((n_t, 1, 1, 32, 32), dtype=np.uint32)
    rows = []
    for t in range(n_t):
        if t != 2:
            _square(labels[t, 0], 1, 2, 2)
            rows.append((1, t, -1))
        if t < 3:
            _square(labels[t, 0], 2, 12, 12)
            rows.append((2, t, -1))
        else:
            _square(labels[t, 0], 3, 10, 20)
            _square(labels[t, 0], 4, 20, 10)
            rows += [(3, t, 2), (4, t, 2)]
        if t >= 4:
            _square(labels[t, 0], 7, 25, 25)
            rows.append((7, t, -1))
    plate_path = tmp_path / "tracks.zarr"
    with open_ome_zarr(plate_path, layout="hcs", mode="w", channel_names=["labels"]) as plate:
        plate.create_position("A", "1", "0").create_image("0", labels)
    # the record at the root and in the position, as rule tracks_plate writes it
    write_plate_provenance(plate_path, make_provenance(ArtifactKind.TRACKS_PLATE, {}), ["A/1/0"])
    csv = tmp_path / "tracks.csv"
    pd.DataFrame(rows, columns=["track_id", "t", "parent_track_id"]).assign(y=0.0, x=0.0).to_csv(
        csv, index=False
    )
    return {"plate": plate_path, "csv": csv, "labels": labels}


def test_gaps_become_new_ctc_tracks_whose_parent_is_the_run_before():
    present = {0: {1, 2}, 1: {1, 2}, 2: {2}, 3: {1, 3}, 4: {1, 3}}
    tracks, relabel = ctc_tracks(present, {3: 2})
    lines = {(k.label, k.begin, k.end, k.parent) for k in tracks}
    assert lines == {(1, 0, 1, 0), (4, 3, 4, 1), (2, 0, 2, 0), (3, 3, 4, 2)}
    assert relabel == {3: {1: 4}, 4: {1: 4}}


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        # the parent goes on after her daughter begins (frames 2, 3 of both)
        ({0: {1}, 1: {1}, 2: {1, 2}, 3: {1, 2}}, "begins at frame 2, its parent 1 is last at frame 3"),
        # the daughter begins while her parent is lost for frames 2, 3, and the parent comes back
        ({0: {1}, 1: {1}, 2: {2}, 3: {2}, 4: {1}}, "begins at frame 2, its parent 1 is last at frame 4"),
    ],
    ids=["parent_goes_on", "daughter_in_parents_gap"],
)
def test_a_daughter_beginning_before_her_parent_ends_is_refused(present: dict[int, set[int]], expected: str):
    """CTC's ``P`` ends before its daughter's ``B`` (the CTC tools and this workflow's import refuse
    anything else); before, the line was written with the parent's last run as ``P``."""
    with pytest.raises(ValueError, match=expected):
        ctc_tracks(present, {2: 1})


def test_a_ctc_export_refuses_a_lineage_no_ctc_reader_accepts(tracked: dict[str, Path], tmp_path: Path):
    """Track 7 (frames 4, 5) given track 1 (frames 0, 1, 3, 4, 5) as parent: refused naming both,
    the plate, FOV and tracks CSV; no folder is left."""
    table = pd.read_csv(tracked["csv"])
    table.loc[table["track_id"] == 7, "parent_track_id"] = 1
    table.to_csv(tracked["csv"], index=False)
    folder = tmp_path / "out"
    expected = r"A/1/0 .*tracks.csv.*track 7 begins at frame 4, its parent 1 is last at frame 5"
    with pytest.raises(ArtifactError, match=expected):
        export_ctc_fov(
            ExportCtcInputs(tracks_plate=tracked["plate"], tracks_csv=tracked["csv"]),
            ExportCtcOutputs(res_track=folder / "res_track.txt", labels=tmp_path / "labels.csv"),
            FOV,
        )
    assert not folder.exists()
    assert not (tmp_path / "labels.csv").exists()


def test_a_ctc_export_reads_no_metadata_outside_its_position(
    tracked: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """One export_ctc job per FOV: it reads the tracks plate's record and labels in the FOV's own
    position, never the plate's root ``zarr.json`` (before, every job read it twice: the record, and
    the plate's metadata to look the position up)."""
    read = record_metadata_reads(monkeypatch)
    export_ctc_fov(
        ExportCtcInputs(tracks_plate=tracked["plate"], tracks_csv=tracked["csv"]),
        ExportCtcOutputs(res_track=tmp_path / "ctc" / "res_track.txt", labels=tmp_path / "labels.csv"),
        FOV,
    )
    assert any(path.parent == tracked["plate"] / FOV for path in read), read  # the recorder records
    assert reads_outside_position(read, [tracked["plate"]], FOV) == []


def test_mask_names_pad_to_three_digits_and_more_for_long_movies():
    assert mask_name(7, 30) == "mask007.tif"
    assert mask_name(7, 1500) == "mask0007.tif"


def test_a_ctc_export_reads_back_through_the_ctc_import(tracked: dict[str, Path], tmp_path: Path):
    folder = tmp_path / "ctc" / "A_1_0"
    tracks = export_ctc_fov(
        ExportCtcInputs(tracks_plate=tracked["plate"], tracks_csv=tracked["csv"]),
        ExportCtcOutputs(res_track=folder / "res_track.txt", labels=tmp_path / "labels.csv"),
        FOV,
    )
    lineage = (folder / "res_track.txt").read_text().split("\n")
    assert sorted(line for line in lineage if line) == sorted(
        ["1 0 1 0", "8 3 5 1", "2 0 2 0", "3 3 5 2", "4 3 5 2", "7 4 5 0"]
    )
    assert len(tracks) == 6
    # the masks and the lineage only: no marker or other file for the CTC tools to trip on
    assert sorted(p.name for p in folder.iterdir()) == [*(mask_name(t, 6) for t in range(6)), "res_track.txt"]
    back, _ = read_ctc_folder(folder, folder / "res_track.txt", FOV, (6, 1, 32, 32))
    frames = back.groupby("track_id")["t"].apply(list).to_dict()
    assert frames == {1: [0, 1], 2: [0, 1, 2], 3: [3, 4, 5], 4: [3, 4, 5], 7: [4, 5], 8: [3, 4, 5]}
    parents = back.drop_duplicates("track_id").set_index("track_id")["parent_track_id"].to_dict()
    assert parents == {1: -1, 2: -1, 3: 2, 4: 2, 7: -1, 8: 1}  # the import writes no parent as -1
    # the masks hold the same pixels as the tracked labels, under the CTC labels
    import tifffile

    mask = tifffile.imread(folder / mask_name(3, 6))
    assert mask.dtype == np.uint16 and mask.shape == (32, 32)
    assert np.array_equal(mask > 0, tracked["labels"][3, 0, 0] > 0)
    assert set(np.unique(mask[tracked["labels"][3, 0, 0] == 1])) == {8}
    # beside the folder, each label's track: the ids as they are, run 8 after track 1's gap
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert list(labels.columns) == list(LABEL_COLUMNS)
    assert sorted(labels.itertuples(index=False, name=None)) == sorted(
        [
            (FOV, 1, 1, 0, 1, 0),
            (FOV, 8, 1, 3, 5, 1),
            (FOV, 2, 2, 0, 2, 0),
            (FOV, 3, 3, 3, 5, 2),
            (FOV, 4, 4, 3, 5, 2),
            (FOV, 7, 7, 4, 5, 0),
        ]
    )


#: Track ids of the fixture given ids a CTC mask cannot hold (track 2 divides into 3 and 4).
LARGE_IDS = {1: 5, 2: 70000, 3: 70001, 4: 123456, 7: 7}


def test_track_ids_above_uint16_are_exported_renumbered_with_their_lineage(
    tracked: dict[str, Path], tmp_path: Path
):
    """Tracks 70000 -> 70001, 123456 (a division) and 5, 7: before, refused ("CTC masks are uint16");
    now renumbered 1 .. 5 in track id order in every mask and in ``P``, track 5's run after its gap
    labelled 6, and the CSV beside the folder maps each label back to its track."""
    labels = tracked["labels"].copy()
    for old, new in LARGE_IDS.items():
        labels[tracked["labels"] == old] = new
    with open_ome_zarr(tracked["plate"], layout="hcs", mode="r+") as plate:
        plate[FOV]["0"][:] = labels
    table = pd.read_csv(tracked["csv"])
    table["track_id"] = table["track_id"].map(LARGE_IDS)
    table["parent_track_id"] = table["parent_track_id"].map({-1: -1, **LARGE_IDS})
    table.to_csv(tracked["csv"], index=False)
    folder = tmp_path / "ctc" / "A_1_0"
    export_ctc_fov(
        ExportCtcInputs(tracks_plate=tracked["plate"], tracks_csv=tracked["csv"]),
        ExportCtcOutputs(res_track=folder / "res_track.txt", labels=tmp_path / "labels.csv"),
        FOV,
    )
    lineage = (folder / "res_track.txt").read_text().split()
    assert sorted(" ".join(lineage[i : i + 4]) for i in range(0, len(lineage), 4)) == sorted(
        ["1 0 1 0", "6 3 5 1", "2 4 5 0", "3 0 2 0", "4 3 5 3", "5 3 5 3"]
    )
    back = pd.read_csv(tmp_path / "labels.csv").set_index("ctc_label")
    assert back["track_id"].to_dict() == {1: 5, 6: 5, 2: 7, 3: 70000, 4: 70001, 5: 123456}
    assert back["ctc_parent"].to_dict() == {1: 0, 6: 1, 2: 0, 3: 0, 4: 3, 5: 3}
    import tifffile

    for t in range(6):
        mask = tifffile.imread(folder / mask_name(t, 6))
        # each pixel's label names, through the CSV, the track the plate has there
        tracks_there = back["track_id"].reindex(mask.ravel()).fillna(0).to_numpy().reshape(mask.shape)
        assert np.array_equal(tracks_there, labels[t, 0, 0])
    # read back through the CTC import and mapped back: the original tracks and lineage
    imported, _ = read_ctc_folder(folder, folder / "res_track.txt", FOV, (6, 1, 32, 32))
    imported["track_id"] = imported["track_id"].map(back["track_id"])
    imported["parent_track_id"] = imported["parent_track_id"].map({-1: -1, **back["track_id"].to_dict()})
    parents = imported.drop_duplicates("track_id").set_index("track_id")["parent_track_id"].to_dict()
    assert parents == {5: -1, 7: -1, 70000: -1, 70001: 70000, 123456: 70000}


def test_a_fov_with_more_ctc_tracks_than_uint16_labels_is_refused():
    present = {0: set(range(1, 65537))}
    with pytest.raises(OverflowError, match=r"FOV A/1/0 has 65536 CTC tracks \(65536 tracks and 0 runs"):
        export_labels(present, {}, FOV)


def test_renumbering_for_runs_after_a_gap_names_the_largest_label(caplog: pytest.LogCaptureFixture):
    """Track 65535 lost at t 1: its run after the gap is label 65536, beyond uint16 though every track id
    fits; before, the WARNING said "track ids up to 65535 do not fit"."""
    with caplog.at_level("WARNING", logger="dynaclr.exports.ctc"):
        export_labels({0: {65535}, 2: {65535}}, {}, FOV)
    assert "labels (track ids, or runs after a gap) up to 65536 do not fit CTC's uint16 labels" in caplog.text


def test_tracks_with_a_gap_exported_to_ctc_import_back_as_the_same_lineage(
    tracked: dict[str, Path], tmp_path: Path
):
    """The export writes track 1's gap as CTC does, a new label 8 whose parent is 1; before, the
    import read label 8 as track 1's daughter (a division that never happened: mitosis labels, DTW
    division events). Now the round trip gives back the tracks: each track's frames and its mother's."""
    from dynaclr.config.tracking import ImportedTracksConfig
    from dynaclr.tracking import ImportTracksInputs, ImportTracksOutputs, import_tracks

    folder = tmp_path / "ctc" / "A_1_0"
    export_ctc_fov(
        ExportCtcInputs(tracks_plate=tracked["plate"], tracks_csv=tracked["csv"]),
        ExportCtcOutputs(res_track=folder / "res_track.txt", labels=tmp_path / "labels.csv"),
        FOV,
    )
    back = import_tracks(
        ImportedTracksConfig(format="ctc", path=str(tmp_path / "ctc" / "{row}_{col}_{fov}")),
        ImportTracksInputs(files=(folder,), ctc_lineage=(folder / "res_track.txt",)),
        ImportTracksOutputs(tracks=tmp_path / "tracks.parquet"),
        fov_names=[FOV],
        shape_tzyx=(6, 1, 32, 32),
    )

    def lineage(tracks: pd.DataFrame) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Per track (ids aside): its frames and its mother's frames (``()``: none)."""
        frames = {k: tuple(v) for k, v in tracks.groupby("track_id")["t"].apply(list).items()}
        mother = tracks.groupby("track_id")["parent_track_id"].first()
        return sorted((frames[k], frames.get(int(mother[k]), ())) for k in frames)

    original = pd.read_csv(tracked["csv"])
    assert lineage(back) == lineage(original)
    assert lineage(original)[0] == ((0, 1, 2), ())  # track 2, whose daughters 3 and 4 follow
    assert ((0, 1, 3, 4, 5), ()) in lineage(back)  # track 1 across its gap, no mother


def test_the_ctc_export_is_named_by_its_res_track_file(tmp_path: Path):
    """The rule names the folder by its res_track.txt (no directory() output, so no Snakemake
    marker among the files the CTC tools list); any other file name is a rule/stage mismatch."""
    labels = str(tmp_path / "A_1_0.csv")
    outputs = ExportCtcOutputs.from_rule(
        {"res_track": str(tmp_path / "A_1_0" / "res_track.txt"), "labels": labels}
    )
    assert outputs.folder == tmp_path / "A_1_0"
    with pytest.raises(ValueError, match=r"res_track: expected a folder's res_track.txt, found .*A_1_0"):
        ExportCtcOutputs.from_rule({"res_track": str(tmp_path / "A_1_0"), "labels": labels})


def test_a_label_without_a_track_row_is_refused(tracked: dict[str, Path], tmp_path: Path):
    table = pd.read_csv(tracked["csv"])
    table[table["track_id"] != 7].to_csv(tracked["csv"], index=False)
    with pytest.raises(ArtifactError, match=r"labels \[7\] without a row"):
        export_ctc_fov(
            ExportCtcInputs(tracks_plate=tracked["plate"], tracks_csv=tracked["csv"]),
            ExportCtcOutputs(res_track=tmp_path / "out" / "res_track.txt", labels=tmp_path / "labels.csv"),
            FOV,
        )
    assert not (tmp_path / "out").exists()  # nothing that looks complete
    assert not (tmp_path / "labels.csv").exists()


def test_embeddings_export_as_h5ad_and_parquet(tmp_path: Path):
    from dynaclr.embeddings.store import write_embeddings

    obs = pd.DataFrame({"fov_name": ["A/1/0"] * 3, "track_id": [1, 1, 2], "t": [0, 1, 0]})
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    adata = ad.AnnData(X=features, obs=obs.set_axis([str(i) for i in range(3)]))
    store = tmp_path / "m" / "d.zarr"
    write_embeddings(adata, store, make_provenance(ArtifactKind.EMBEDDINGS, {"model": "m"}))
    outputs = ExportEmbeddingsOutputs(h5ad=tmp_path / "d.h5ad", parquet=tmp_path / "d.parquet")
    export_embeddings(ExportEmbeddingsInputs(embeddings=store), outputs)
    again = ad.read_h5ad(outputs.h5ad)
    np.testing.assert_array_equal(again.X, features)
    assert list(again.obs["track_id"]) == [1, 1, 2]
    table, provenance = read_table(outputs.parquet, ArtifactKind.EMBEDDINGS_TABLE)
    assert list(table.columns) == [
        "fov_name",
        "track_id",
        "t",
        "feature_0",
        "feature_1",
        "feature_2",
        "feature_3",
    ]
    np.testing.assert_array_equal(table[[f"feature_{i}" for i in range(4)]].to_numpy(), features)
    assert provenance.inputs[0].kind == "embeddings"


@pytest.mark.parametrize("asked", ["h5ad", "parquet"])
def test_each_embeddings_export_is_written_alone(asked: str, tmp_path: Path):
    """exports.h5ad and exports.feature_parquet each on its own: the rule's only output is written, the
    other is not."""
    from dynaclr.embeddings.store import write_embeddings

    obs = pd.DataFrame({"fov_name": ["A/1/0"] * 2, "track_id": [1, 2], "t": [0, 0]})
    features = np.arange(6, dtype=np.float32).reshape(2, 3)
    store = tmp_path / "m" / "d.zarr"
    adata = ad.AnnData(X=features, obs=obs.set_axis(["0", "1"]))
    write_embeddings(adata, store, make_provenance(ArtifactKind.EMBEDDINGS, {"model": "m"}))
    paths = {"h5ad": tmp_path / "d.h5ad", "parquet": tmp_path / "d.parquet"}
    outputs = ExportEmbeddingsOutputs(**{asked: paths[asked]})
    export_embeddings(ExportEmbeddingsInputs(embeddings=store), outputs)
    assert sorted(name for name, path in paths.items() if path.exists()) == [asked]
    if asked == "parquet":
        table, _ = read_table(paths["parquet"], ArtifactKind.EMBEDDINGS_TABLE)
        np.testing.assert_array_equal(table[["feature_0", "feature_1", "feature_2"]].to_numpy(), features)
    else:
        np.testing.assert_array_equal(ad.read_h5ad(paths["h5ad"]).X, features)


def test_feature_columns_never_overwrite_the_cell_index():
    with pytest.raises(ArtifactError, match="feature_0"):
        feature_table(pd.DataFrame({"feature_0": [1.0]}), np.zeros((1, 2)))
