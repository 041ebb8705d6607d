"""A person's annotation table (datasets without ground truth): checked, imported in the drawn
layout, refused with a message naming the file, the column, what was expected and what was found;
then classifiers and DTW pseudo-time run on it without any ground truth."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from dynaclr.classify import (
    ANNOTATION_COLUMNS,
    AnnotationsOutputs,
    AnnotationTableError,
    ClassifyInputs,
    ClassifyOutputs,
    ImportAnnotationsInputs,
    classify_stage,
    draw_annotations,
    import_annotations_stage,
    read_annotations,
)
from dynaclr.classify.annotation_table import (
    read_annotation_table,
    read_fov_tables,
    validate_annotation_table,
)
from dynaclr.config.analysis import AnnotationConfig, ClassificationConfig, PseudotimeConfig
from dynaclr.config.base import fill_fov_pattern, fov_placeholders
from dynaclr.embeddings import build_anndata, write_embeddings
from dynaclr.embeddings.cells import MatchOn, match_observations_to_cells
from dynaclr.io import (
    LARGEST_ID,
    ArtifactKind,
    make_provenance,
    read_table,
    read_table_provenance,
    table_header,
    write_table,
)
from dynaclr.numerics.timescale import time_unit_of_step
from dynaclr.pseudotime.stage import (
    DTW_ACCURACY_COLUMNS,
    AlignPseudotimeInputs,
    AlignPseudotimeOutputs,
    pseudotime_stage,
)
from dynaclr.pseudotime.synthetic import planted_infection_embeddings
from dynaclr.tracking import importing

#: What a tracker knows about a cell: no infection, no mitosis, no onset.
TRACK_COLUMNS = ["fov_name", "well", "track_id", "parent_track_id", "lineage_id", "t", "y", "x"]
#: (Y, X) of the images the planted cells lie in (their centres are within 15 and 252 pixels).
SHAPE_YX = (256, 256)
#: Frames of the planted movie (``n_frames`` of :func:`planted`).
N_FRAMES = 20
#: (T, Z, Y, X) of the plate the rule gives the import.
SHAPE_TZYX = (N_FRAMES, 1, *SHAPE_YX)
#: ``analysis.classification.max_match_distance_px`` the rule gives the import (the default).
MAX_MATCH_PX = ClassificationConfig().max_match_distance_px


@pytest.fixture(scope="module")
def planted() -> dict:
    features, truth = planted_infection_embeddings(
        n_fovs=6, tracks_per_fov=10, n_frames=N_FRAMES, noise=0.08, seed=2
    )
    return {"features": features, "truth": truth}


@pytest.fixture
def tracks(planted, tmp_path):
    """The workflow's ``tracks`` table of the planted cells."""
    path = tmp_path / "tracks.parquet"
    write_table(planted["truth"][TRACK_COLUMNS], path, make_provenance(ArtifactKind.TRACKS, {}))
    return path


def _import(
    table: Path,
    tracks: Path,
    out: Path,
    tasks: Sequence[str] = ("infection", "division"),
    match_on: MatchOn = "position",
    pixel_size_um: float | None = None,
    position_unit: str = "px",
    shape_tzyx: Sequence[int] = SHAPE_TZYX,
    max_match_distance_px: float = MAX_MATCH_PX,
    frame_interval_minutes: float | None = None,
    frame_step: int | None = None,
    tracks_frame_step: int | None = None,
) -> pd.DataFrame:
    """Rule ``import_annotations`` as the workflow runs it: the config names the table it reads,
    ``match_on`` is ``analysis.classification.match_annotations_on``, ``pixel_size_um`` the plate's
    stated pixel size, ``frame_interval_minutes`` its stated frame interval and ``tracks_frame_step``
    the dataset's ``tracks.frame_step`` (None: not stated, not set; the rule's ``checks`` leave them
    out)."""
    checks: dict[str, float] = {}
    if frame_interval_minutes is not None:
        checks["frame_interval_minutes"] = frame_interval_minutes
    if tracks_frame_step is not None:
        checks["tracks_frame_step"] = tracks_frame_step
    return import_annotations_stage(
        AnnotationConfig(
            table=str(table), tasks=tuple(tasks), position_unit=position_unit, frame_step=frame_step
        ),
        ImportAnnotationsInputs(table=(table,), tracks=tracks),
        AnnotationsOutputs(annotations=out),
        shape_tzyx=shape_tzyx,
        match_on=match_on,
        max_match_distance_px=max_match_distance_px,
        pixel_size_um=pixel_size_um,
        **checks,
    )


def _drawn(truth: pd.DataFrame, tasks=("infection", "division")) -> pd.DataFrame:
    return draw_annotations(truth, AnnotationConfig(fraction_of_cells=0.1, seed=4, tasks=tasks))


def _user_table(truth: pd.DataFrame, tasks=("infection", "division")) -> pd.DataFrame:
    """What a person writes: cells by track and frame, no positions, rows in no particular order."""
    table = _drawn(truth, tasks).drop(columns=["y", "x"])
    return table.sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_imported_csv_and_parquet_equal_the_drawn_table(planted, tracks, tmp_path):
    truth = planted["truth"]
    drawn = _drawn(truth)
    csv = tmp_path / "mine.csv"
    _user_table(truth).assign(annotator="me").to_csv(csv, index=False)  # extra columns are ignored
    parquet = tmp_path / "mine.parquet"
    _user_table(truth).to_parquet(parquet)
    for source in (csv, parquet):
        out = tmp_path / f"annotations_{source.suffix[1:]}.parquet"
        written = _import(source, tracks, out)
        stored = read_annotations(out)
        assert list(stored.columns) == list(ANNOTATION_COLUMNS)
        pd.testing.assert_frame_equal(stored, drawn)  # values, order and dtypes of the drawn table
        pd.testing.assert_frame_equal(written, drawn)
        prov = read_table_provenance(out, "annotations")
        assert prov.stage == "import_annotations"
        assert prov.config["table"] == str(source) and len(prov.config["table_sha256"]) == 64
        assert prov.config["tasks"] == ["infection", "division"]
        assert [(record.path, record.kind) for record in prov.inputs] == [
            (str(source), None),
            (str(tracks), "tracks"),
        ]


def test_positions_in_the_table_place_cells_the_tracks_lack(planted, tracks, tmp_path):
    table = _user_table(planted["truth"]).assign(y=np.nan, x=np.nan)
    table.loc[0, ["track_id", "y", "x"]] = [999, 12.5, 40.0]  # not a tracked cell, but located
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    written = _import(path, tracks, tmp_path / "annotations.parquet")
    kept = written[written["track_id"] == 999]
    assert len(kept) == 1 and kept[["y", "x"]].iloc[0].tolist() == [12.5, 40.0]
    assert written[["y", "x"]].notna().all().all()


def _positioned_table(truth: pd.DataFrame) -> pd.DataFrame:
    """A person's table that gives every cell's y, x (the tracked centroid, pixels)."""
    return _drawn(truth).sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.mark.parametrize(
    ("numbering", "renumber"),
    [("frames from 1", lambda t: t + 1), ("minutes, a frame every 30 min", lambda t: t * 30)],
)
def test_frames_past_the_movie_are_refused_even_with_positions(
    planted, tracks, tmp_path, numbering, renumber
):
    """A table whose t counts frames from 1, or minutes, with y, x given: the rows past the last
    frame were kept (and would match no cell), the others silently shifted to other frames."""
    table = _positioned_table(planted["truth"])
    table["t"] = renumber(table["t"])
    past = table["t"] >= N_FRAMES
    assert past.any() and not past.all(), numbering
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    first = int(np.flatnonzero(past.to_numpy())[0]) + 1
    with pytest.raises(AnnotationTableError) as refused:
        _import(path, tracks, tmp_path / "annotations.parquet")
    message = str(refused.value)
    assert message.startswith(f"{path}: column 't' holds frames of the plate, 0 to {N_FRAMES - 1}")
    assert f"at rows {first}," in message and f"({int(past.sum())} of {len(table)} rows)" in message
    assert "not from 1" in message and not (tmp_path / "annotations.parquet").exists()


#: Frames of the longer planted movie of the time-unit tests: 60 frames at 5 minutes, 5 h.
LONG_FRAMES = 60


@pytest.fixture(scope="module")
def planted_long() -> pd.DataFrame:
    """The planted cells over :data:`LONG_FRAMES` frames (their truth)."""
    _, truth = planted_infection_embeddings(
        n_fovs=6, tracks_per_fov=10, n_frames=LONG_FRAMES, noise=0.08, seed=2
    )
    return truth


@pytest.fixture
def long_tracks(planted_long, tmp_path):
    """The workflow's ``tracks`` table of the longer movie's cells."""
    path = tmp_path / "long_tracks.parquet"
    write_table(planted_long[TRACK_COLUMNS], path, make_provenance(ArtifactKind.TRACKS, {}))
    return path


def _import_long(table: pd.DataFrame, tracks: Path, tmp_path: Path, **kwargs) -> pd.DataFrame:
    """``table`` written as a CSV and imported on the longer movie's plate."""
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    shape = (LONG_FRAMES, 1, *SHAPE_YX)
    return _import(path, tracks, tmp_path / "annotations.parquet", shape_tzyx=shape, **kwargs)


def _in_time_units(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """``table``'s rows on the frames whose time ``k`` times the frame stays inside the movie, ``t``
    that time: each row moved to frame ``t mod (frames / k)`` (so both classes of each task stay), a
    repeated cell and task kept once."""
    inside = -(-LONG_FRAMES // k)  # frames whose time is inside the movie
    moved = table.assign(t=(table["t"] % inside) * k)
    return moved.drop_duplicates(["fov_name", "track_id", "t", "task"], ignore_index=True)


def _import_warnings(folder: Path) -> list[str]:
    """The WARNINGs recorded by the import :func:`_import_long` wrote in ``folder``."""
    return read_table_provenance(folder / "annotations.parquet", "annotations").config["import_warnings"]


def _tracked_until(truth: pd.DataFrame, n_frames: int, path: Path) -> Path:
    """The ``tracks`` table of ``truth``'s cells over its first ``n_frames`` frames only (a tracking
    of the movie's start), written to ``path``."""
    write_table(
        truth.loc[truth["t"] < n_frames, TRACK_COLUMNS].reset_index(drop=True),
        path,
        make_provenance(ArtifactKind.TRACKS, {}),
    )
    return path


def _time_past_tracks(table: pd.DataFrame, k: int) -> tuple[pd.DataFrame, int]:
    """``table`` in time units ``k`` times its frames, on the frames ``f`` whose time stays inside the
    movie while ``k * f`` lies past them (each row moved to such a frame, so both classes of each task
    stay), and that number of frames (a tracking of them alone tracks every row at ``f`` and none at
    ``k * f``)."""
    inside = -(-LONG_FRAMES // k)
    first = -(-inside // k)  # k * first >= inside
    moved = table.assign(t=(first + table["t"] % (inside - first)) * k)
    return moved.drop_duplicates(["fov_name", "track_id", "t", "task"], ignore_index=True), inside


@pytest.mark.parametrize(
    ("interval_minutes", "unit", "k"),
    [(5.0, "minutes", 5), (4.999, "minutes", 5), (0.25, "seconds", 15), (2.0, "minutes", 2)],
)
def test_t_in_minutes_or_seconds_inside_the_movie_is_refused(
    planted_long, tmp_path, interval_minutes, unit, k
):
    """A 60-frame plate at 5-minute intervals annotated in minutes: t 0, 5, ..., 55 all lie inside
    its frames, so the table was imported with exit 0, each label on frame t (5 times its frame, on
    another cell state); so were seconds (15 s a frame: 0, 15, 30, 45) and 2-minute intervals. Refused
    where the rows say so: every row names a track present at t / interval, none at t (the cells were
    tracked over the frames whose time lies inside the movie), each reading's count named."""
    frames, inside = _time_past_tracks(_user_table(planted_long), k)
    tracks = _tracked_until(planted_long, inside, tmp_path / "tracks.parquet")
    with pytest.raises(AnnotationTableError) as refused:
        _import_long(frames, tracks, tmp_path, frame_interval_minutes=interval_minutes)
    message = str(refused.value)
    shown = sorted(frames["t"].unique())
    assert message.startswith(f"{tmp_path / 'mine.csv'}: column 't' holds frames of the plate counted from 0")
    values = ", ".join(map(str, shown[:5])) + (f", ... {shown[-1]}" if len(shown) > 5 else "")
    interval = interval_minutes * (60 if unit == "seconds" else 1)
    assert f"found all {len(shown)} distinct values ({values}) multiples of {k}" in message
    assert f"the plate's frame interval in {unit} ({interval:g})" in message
    assert f"Of the {len(frames)} annotations, those on a tracked cell of their FOV" in message
    assert (
        f": 0 reading t as frames, {len(frames)} reading t as time in {unit} (frame t / {interval:g})"
        in message
    )
    assert f"t is time in {unit}" in message
    assert f"Convert t to frames (t / {interval:g})" in message
    assert not (tmp_path / "annotations.parquet").exists()


@pytest.mark.parametrize(
    ("interval", "frames"),
    [(10.0, [10, 20, 30]), (10.0, [0, 10, 20, 30, 40]), (5.0, [5, 10, 15, 20, 25]), (15.0, [15, 30, 45])],
)
def test_a_table_in_frames_on_round_frames_imports_with_a_warning_at_most(
    planted_long, long_tracks, tmp_path, interval, frames
):
    """People annotate round frames: 10, 20, 30 of a plate at 10 minutes were refused as "time in
    minutes" (their frames all multiples of the interval; the odds assumed frames drawn at random).
    Positions on the cells at t confirm the frames: imported silently. Without y, x on tracks
    spanning the movie both readings fit: imported as frames, with a WARNING recorded in the
    import's import_warnings naming annotations.frame_step, which silences it."""
    drawn = _drawn(planted_long, tasks=("infection",))
    positioned = drawn[drawn["t"].isin(frames)].reset_index(drop=True)
    assert positioned["t"].nunique() == len(frames)
    kwargs = {"tasks": ("infection",), "frame_interval_minutes": interval}
    written = _import_long(positioned, long_tracks, tmp_path, **kwargs)
    assert len(written) == len(positioned)
    record = read_table_provenance(tmp_path / "annotations.parquet", "annotations").config
    assert record["import_warnings"] == []
    clicks = positioned.drop(columns=["y", "x"])
    written = _import_long(clicks, long_tracks, tmp_path, **kwargs)
    assert sorted(written["t"].unique()) == frames
    (warning,) = _import_warnings(tmp_path)
    k = int(np.gcd.reduce([t for t in frames if t]))
    assert f"{len(clicks)} reading t as frames, {len(clicks)} reading t as time in minutes" in warning
    assert "so t is read as frames" in warning
    assert f"set annotations.frame_step: {k} to silence this warning" in warning
    _import_long(clicks, long_tracks, tmp_path, **kwargs, frame_step=k)
    assert _import_warnings(tmp_path) == []


def test_annotations_on_tracks_imported_on_one_frame_in_k_need_no_frame_step(planted_long, tmp_path):
    """Tracks imported with tracks.frame_step: 10 (a tracking of one frame in 10) hold cells on frames
    0, 10, 20, ... only, so annotations of them are all on multiples of 10: on a plate at 10 minutes
    they were refused as minutes unless annotations.frame_step was set too. The rule passes
    tracks.frame_step (tracks_frame_step), which stands for annotations.frame_step where that is
    unset."""
    sparse = planted_long[planted_long["t"] % 10 == 0]
    tracks = tmp_path / "tracks.parquet"
    write_table(sparse[TRACK_COLUMNS], tracks, make_provenance(ArtifactKind.TRACKS, {}))
    user = _user_table(planted_long, tasks=("infection",))
    user = user[user["t"] % 10 == 0].reset_index(drop=True)
    path = tmp_path / "mine.csv"
    user.to_csv(path, index=False)
    written = _import(
        path,
        tracks,
        tmp_path / "annotations.parquet",
        tasks=("infection",),
        shape_tzyx=(LONG_FRAMES, 1, *SHAPE_YX),
        frame_interval_minutes=10.0,
        tracks_frame_step=10,
    )
    assert len(written) == len(user)
    assert _import_warnings(tmp_path) == []


def test_a_table_in_minutes_annotated_on_every_other_frame_is_refused(planted_long, long_tracks, tmp_path):
    """A table in minutes of a plate at 5 minutes, annotated on every other frame: t 20, 30, 40, 50,
    whose gcd 10 is twice the interval, was imported with exit 0, each label on frame t (5 times its
    frame). Its y, x lie on the cells at t / 5 and on few at t: refused."""
    drawn = _drawn(planted_long, tasks=("infection",))
    on_even = drawn[drawn["t"].isin([4, 6, 8, 10])].reset_index(drop=True)
    minutes = on_even.assign(t=on_even["t"] * 5)
    with pytest.raises(AnnotationTableError) as refused:
        _import_long(minutes, long_tracks, tmp_path, tasks=("infection",), frame_interval_minutes=5.0)
    message = str(refused.value)
    assert (
        "found all 4 distinct values (20, 30, 40, 50) multiples of 10, 2 times the plate's frame interval in "
        in message
    )
    assert f"{len(minutes)} reading t as time in minutes (frame t / 5)" in message
    assert "t is time in minutes" in message and "Convert t to frames (t / 5)" in message


def test_the_time_step_of_annotations_counts_whole_multiples_and_that_of_tracks_does_not():
    """time_unit_of_step, shared with the tracks import: with multiples (annotations' frames) a step
    twice or ten times the interval is that unit's; without it (tracks' steps) only the interval is,
    as before. The interval itself wins (300 at 5 minutes is seconds), and an interval of one unit or
    less has no multiples (every step would be one)."""
    assert time_unit_of_step(10, 5.0, multiples=True) == ("minutes", 5.0)
    assert time_unit_of_step(50, 5.0, multiples=True) == ("minutes", 5.0)
    assert time_unit_of_step(10, 4.999, multiples=True) == ("minutes", 4.999)
    assert time_unit_of_step(300, 5.0, multiples=True) == ("seconds", 300.0)
    assert time_unit_of_step(30, 0.25, multiples=True) == ("seconds", 15.0)
    assert time_unit_of_step(7, 5.0, multiples=True) is None
    assert time_unit_of_step(4, 1.0, multiples=True) is None
    assert time_unit_of_step(10, 5.0) is None
    assert time_unit_of_step(5, 5.0) == ("minutes", 5.0)


def test_sparse_tables_in_frames_import_whatever_the_plates_frame_interval(
    planted_long, long_tracks, tmp_path
):
    """A person's clicks on some frames: a table in frames imports at any stated interval; so does one
    whose frames happen to be multiples of the interval (10, 20, 30 at 10 minutes, with a warning:
    the tracks span the movie and the rows give no y, x), a table in minutes on a plate stating no
    interval (nothing to compare), and a table annotated every 5th (or 10th) frame on purpose with
    annotations.frame_step."""
    user = _user_table(planted_long)
    drawn = _drawn(planted_long)
    for interval in (None, 1.0, 2.0, 5.0, 7.0, 0.5):
        written = _import_long(user, long_tracks, tmp_path, frame_interval_minutes=interval)
        pd.testing.assert_frame_equal(written, drawn)
    infection = user[user["task"] == "infection"]
    few = infection[infection["t"].isin([0, 10, 20, 30])]
    assert few["t"].nunique() == 4
    imported = _import_long(few, long_tracks, tmp_path, tasks=("infection",), frame_interval_minutes=5.0)
    assert len(imported) == len(few)
    imported = _import_long(few, long_tracks, tmp_path, tasks=("infection",), frame_interval_minutes=10.0)
    assert len(imported) == len(few)
    record = read_table_provenance(tmp_path / "annotations.parquet", "annotations").config
    assert "set annotations.frame_step: 10 to silence this warning" in record["import_warnings"][0]
    imported = _import_long(
        few, long_tracks, tmp_path, tasks=("infection",), frame_interval_minutes=10.0, frame_step=10
    )
    assert len(imported) == len(few)
    minutes = _in_time_units(user, 5)
    assert len(_import_long(minutes, long_tracks, tmp_path)) == len(minutes)
    every_fifth = infection[infection["t"] % 5 == 0]
    written = _import_long(
        every_fifth, long_tracks, tmp_path, tasks=("infection",), frame_interval_minutes=5.0, frame_step=5
    )
    assert sorted(written["t"].unique()) == list(range(0, LONG_FRAMES, 5))
    prov = read_table_provenance(tmp_path / "annotations.parquet", "annotations")
    assert prov.config["frame_step"] == 5
    _import_long(user, long_tracks, tmp_path, frame_interval_minutes=5.0)
    prov = read_table_provenance(tmp_path / "annotations.parquet", "annotations")
    assert "frame_step" not in prov.config  # recorded as before the key existed


def test_frame_step_is_a_tables_key_left_out_of_the_params_where_unset():
    """annotations.frame_step: added after configs were run without it, so unset it is not among the
    params Snakemake compares (upgrading reruns no annotation job); without a table it is refused."""
    assert "frame_step" not in AnnotationConfig(table="mine.csv").job_params()
    assert "frame_step" not in AnnotationConfig().job_params()
    assert AnnotationConfig(table="mine.csv", frame_step=5).job_params()["frame_step"] == 5
    with pytest.raises(ValidationError, match="frame_step=5 is the step between your table's frames t"):
        AnnotationConfig(frame_step=5)
    with pytest.raises(ValidationError, match="greater than or equal to 2"):
        AnnotationConfig(table="mine.csv", frame_step=1)


def test_a_csv_header_naming_a_column_twice_is_refused(planted, tracks, tmp_path):
    """Two ``t`` columns (the frame and, say, the time): pandas read the second as ``t.1`` and the
    import took the first, silently."""
    table = _user_table(planted["truth"]).assign(time=lambda frame: frame["t"] * 30)
    path = tmp_path / "mine.csv"
    path.write_text(table.to_csv(index=False).replace(",time\n", ",t\n", 1))
    with pytest.raises(AnnotationTableError, match=r"names columns \['t'\] more than once") as refused:
        _import(path, tracks, tmp_path / "annotations.parquet")
    assert str(refused.value).startswith(f"{path}: the CSV header names columns ['t'] more than once with")
    assert not (tmp_path / "annotations.parquet").exists()


def test_a_column_named_twice_with_the_same_values_is_read_once(planted, tracks, tmp_path, caplog):
    """A column written twice with the same values (pandas' ``to_csv`` of a table indexed by a column
    it also holds; two identical note columns) imported before the check and still does; only a
    repeat holding other values is refused."""
    table = _user_table(planted["truth"]).assign(note="checked")
    plain = tmp_path / "plain.csv"
    table.to_csv(plain, index=False)
    expected = _import(plain, tracks, tmp_path / "plain.parquet")
    path = tmp_path / "twice.csv"
    pd.concat([table, table[["label", "note"]]], axis=1).to_csv(path, index=False)
    assert path.read_text().splitlines()[0].endswith(",label,note,label,note")
    with caplog.at_level("INFO", logger="dynaclr.io.tables"):
        written = _import(path, tracks, tmp_path / "annotations.parquet")
    assert "more than once, each time with the same values; read once" in caplog.text
    pd.testing.assert_frame_equal(written, expected)


def test_positions_in_wrong_units_are_refused(planted, tracks, tmp_path):
    """y, x in micrometres (here x 3): most lie outside the 256 x 256 image, so none would match a
    patch by position; the import names the file, the count outside and what to check."""
    table = _positioned_table(planted["truth"])
    table[["y", "x"]] *= 3.0
    n_outside = int(((table["y"] >= SHAPE_YX[0]) | (table["x"] >= SHAPE_YX[1])).sum())
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "annotations.parquet"
    with pytest.raises(AnnotationTableError) as info:
        _import(path, tracks, out)
    message = str(info.value)
    assert message.startswith(f"{path}: {n_outside} of {len(table)} annotations with y, x")
    assert "outside the image (y in [-0.5, 255.5], x in [-0.5, 255.5] pixels)" in message
    assert "not micrometres" in message and "more than 1% outside is refused" in message
    assert not out.exists()


def _matched(table: pd.DataFrame, truth: pd.DataFrame) -> int:
    """Rows of ``table`` whose y, x lie within the classifiers' distance of a tracked cell of their
    FOV and frame (what classify matches by position)."""
    cells = truth[["fov_name", "t", "y", "x"]]
    rows = match_observations_to_cells(table, cells, "position", MAX_MATCH_PX, unmatched_level=logging.DEBUG)
    return int((rows >= 0).sum())


@pytest.mark.parametrize("pixel_size_um", [0.65, 0.2])
def test_positions_in_micrometres_inside_the_image_are_refused_naming_each_readings_count(
    planted, tracks, tmp_path, pixel_size_um
):
    """y, x in micrometres on pixels finer than 1 µm stay inside the image: they were imported with
    exit 0 and classify gave their labels to other cells or none. Now the counts matched as given
    and read as micrometres are named with the key to set; with it, the table imports as the one in
    pixels does."""
    truth = planted["truth"]
    table = _positioned_table(truth)
    in_um = table.assign(y=table["y"] * pixel_size_um, x=table["x"] * pixel_size_um)
    assert (in_um[["y", "x"]].to_numpy() < min(SHAPE_YX) - 0.5).all()  # inside: not refused as outside
    n_given = _matched(in_um, truth)
    assert n_given < 0.5 * len(table)
    path = tmp_path / "mine.csv"
    in_um.to_csv(path, index=False)
    out = tmp_path / "annotations.parquet"
    with pytest.raises(AnnotationTableError) as refused:
        _import(path, tracks, out, pixel_size_um=pixel_size_um)
    message = str(refused.value)
    assert message.startswith(f"{path}: of {len(table)} annotations with y, x, those within 6 px")
    assert f"as given (pixels) {n_given}," in message
    assert f"micrometres (pixel size {pixel_size_um:g} µm) {len(table)}," in message
    assert message.endswith("Set annotations.position_unit: um (micrometres are divided by the pixel size)")
    assert not out.exists()
    in_px = _write(table, tmp_path / "px.csv")
    expected = _import(in_px, tracks, tmp_path / "px.parquet", pixel_size_um=pixel_size_um)
    written = _import(path, tracks, out, pixel_size_um=pixel_size_um, position_unit="um")
    pd.testing.assert_frame_equal(written, expected)
    record = read_table_provenance(out, "annotations").config
    assert record["position_unit"] == "um" and record["pixel_size_um"] == pixel_size_um
    assert record["position_readings"] == {"rows": len(table), "given": len(table)}
    unstated = r"position_unit: um reads y, x as micrometres.*found none"
    with pytest.raises(AnnotationTableError, match=unstated):
        _import(path, tracks, out, position_unit="um")  # no pixel size stated


def _write(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "shape_yx", [SHAPE_YX, (SHAPE_YX[0], 2 * SHAPE_YX[1]), (2 * SHAPE_YX[0], SHAPE_YX[1])]
)
def test_swapped_positions_inside_the_image_are_refused(planted, tracks, tmp_path, shape_yx):
    """x and y swapped: on a square image, and on a non-square one whose cells lie where the swap
    stays inside, every position is inside the image and was imported with exit 0."""
    truth = planted["truth"]
    table = _positioned_table(truth)
    swapped = table.assign(y=table["x"], x=table["y"])
    n_given = _matched(swapped, truth)
    path = _write(swapped, tmp_path / "mine.csv")
    shape_tzyx = (N_FRAMES, 1, *shape_yx)
    with pytest.raises(AnnotationTableError) as refused:
        _import(path, tracks, tmp_path / "a.parquet", pixel_size_um=0.65, shape_tzyx=shape_tzyx)
    message = str(refused.value)
    assert f"as given (pixels) {n_given}, pixels with x and y swapped {len(table)}," in message
    assert message.endswith("Swap the table's columns y and x (rename y to x and x to y)")
    with pytest.raises(AnnotationTableError) as refused:  # pixel size not stated
        _import(path, tracks, tmp_path / "a.parquet", shape_tzyx=shape_tzyx)
    message = str(refused.value)
    assert (
        f"pixels with x and y swapped {len(table)}; micrometres not tried: the plate states no pixel"
        in message
    )


def test_a_correct_table_imports_as_before_and_records_its_match(planted, tracks, tmp_path, caplog):
    """Positions in pixels, pixel size known: one matching pass, the drawn table written, the counts
    recorded. Most positions matching no tracked cell, with no reading matching clearly more (cells
    the tracks lack, say): a warning naming the counts, not a refusal."""
    truth = planted["truth"]
    table = _positioned_table(truth)
    out = tmp_path / "annotations.parquet"
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        written = _import(_write(table, tmp_path / "mine.csv"), tracks, out, pixel_size_um=0.65)
    pd.testing.assert_frame_equal(written, _drawn(truth))
    assert not caplog.records
    record = read_table_provenance(out, "annotations").config
    assert record["position_readings"] == {"rows": len(table), "given": len(table)}
    assert "pixel_size_um" not in record
    by_track = _import(_write(table, tmp_path / "t.csv"), tracks, tmp_path / "t.parquet", match_on="track")
    pd.testing.assert_frame_equal(by_track, written)
    # matching by track: each row's y, x compared with its named cell's centroid (on it here)
    track_record = read_table_provenance(tmp_path / "t.parquet", "annotations").config
    assert track_record["position_readings"] == {"rows": len(table), "given": len(table)}
    assert track_record["import_warnings"] == []
    away = table.index < int(0.6 * len(table))
    # 60 % of the rows 40 px off their cells, inside the image
    table.loc[away, "y"] += np.where(table.loc[away, "y"] < SHAPE_YX[0] / 2, 40.0, -40.0)
    n_given = _matched(table, truth)
    assert n_given < 0.5 * len(table)
    caplog.clear()
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        _import(_write(table, tmp_path / "away.csv"), tracks, tmp_path / "away.parquet", pixel_size_um=0.65)
    (warned,) = [record.getMessage() for record in caplog.records]
    assert f"as given (pixels) {n_given}, pixels with x and y swapped" in warned
    assert "no other reading matches clearly more (80 % of them and 2 times as many)" in warned


@pytest.mark.parametrize("match_on", ["position", "track"])
def test_a_table_in_micrometres_without_positions_imports_on_a_plate_of_unstated_pixels(
    planted, tracks, tmp_path, match_on
):
    """position_unit: um with no row giving y, x has nothing to divide: it was refused for the pixel
    size nothing states. It imports as the table in pixels does; a row giving a position is still
    refused."""
    path = _write(_user_table(planted["truth"]), tmp_path / "mine.csv")
    common = {"match_on": match_on}
    expected = _import(path, tracks, tmp_path / "px.parquet", **common)
    written = _import(path, tracks, tmp_path / "um.parquet", position_unit="um", **common)
    pd.testing.assert_frame_equal(written, expected)
    table = _positioned_table(planted["truth"])
    table.loc[table.index > 0, ["y", "x"]] = np.nan  # one row gives its position
    positioned = _write(table, tmp_path / "one.csv")
    with pytest.raises(
        AnnotationTableError, match=r"position_unit: um reads y, x as micrometres.*found none"
    ):
        _import(positioned, tracks, tmp_path / "one.parquet", position_unit="um", **common)


def _renumbered(table: pd.DataFrame, truth: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """``table`` as made on an earlier tracking of the same plate: the same cells (same y, x), their
    track ids permuted within each FOV."""
    rng = np.random.default_rng(seed)
    out = table.copy()
    for fov, index in out.groupby("fov_name").groups.items():
        ids = sorted(truth.loc[truth["fov_name"] == fov, "track_id"].unique())
        out.loc[index, "track_id"] = out.loc[index, "track_id"].map(
            dict(zip(ids, rng.permutation(ids), strict=True))
        )
    return out


def test_a_table_of_another_trackings_ids_is_refused_matching_by_track(planted, tracks, tmp_path):
    """match_annotations_on: track, a table made on an earlier tracking (ids renumbered, y, x of the
    same cells): its rows were imported with exit 0 and the classifiers trained on the cells the ids
    now name (87 % of the rows over 6 px, median 85 px from them). Now refused, naming the rows, their
    distances and the named tracks' centroids, and the fixes; by position the same table imports."""
    truth = planted["truth"]
    table = _renumbered(_positioned_table(truth), truth)
    cells = truth.set_index(["fov_name", "track_id", "t"])
    named = cells.loc[
        list(zip(table["fov_name"], table["track_id"], table["t"], strict=True)), ["y", "x"]
    ].to_numpy()
    distance = np.hypot(*(table[["y", "x"]].to_numpy() - named).T)
    n_away = int((distance > MAX_MATCH_PX).sum())
    assert n_away > 0.5 * len(table)
    path = _write(table, tmp_path / "mine.csv")
    out = tmp_path / "annotations.parquet"
    with pytest.raises(AnnotationTableError) as refused:
        _import(path, tracks, out, match_on="track")
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert (
        f"{n_away} of {len(table)} annotations with y, x lie more than 6 px "
        "(analysis.classification.max_match_distance_px) from the tracked cell their fov_name, track_id, "
        "t name"
    ) in message
    farthest = int(np.argmax(distance))
    row = table.iloc[farthest]
    assert (
        f"{row['fov_name']} track {row['track_id']} frame {row['t']} at y {row['y']:g}, x {row['x']:g}: "
        f"{distance[farthest]:.1f} px from the track's centroid y {named[farthest, 0]:g}, "
        f"x {named[farthest, 1]:g}"
    ) in message
    assert "Write the track ids of the tracks the workflow reads" in message
    assert "analysis.classification.match_annotations_on: position" in message
    assert not out.exists()
    by_position = _import(path, tracks, tmp_path / "p.parquet")
    assert len(by_position) == len(table)


def test_a_few_rows_away_from_their_named_cells_are_a_recorded_warning_matching_by_track(
    planted, tracks, tmp_path, caplog
):
    """Most rows on the cells their ids name, two rows 40 px away: imported, a WARNING naming those
    rows, recorded in import_warnings (and so on the QC page)."""
    table = _positioned_table(planted["truth"])
    table.loc[[3, 7], "y"] += np.where(table.loc[[3, 7], "y"] < SHAPE_YX[0] / 2, 40.0, -40.0)
    out = tmp_path / "annotations.parquet"
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        written = _import(_write(table, tmp_path / "mine.csv"), tracks, out, match_on="track")
    assert len(written) == len(table)
    (warned,) = [record.getMessage() for record in caplog.records]
    assert f"2 of {len(table)} annotations with y, x lie more than 6 px" in warned
    assert "40.0 px from the track's centroid" in warned and "(at rows 4, 8)" in warned
    record = read_table_provenance(out, "annotations").config
    assert record["import_warnings"] == [warned]
    assert record["position_readings"] == {"rows": len(table), "given": len(table) - 2}


def test_swapped_positions_are_refused_matching_by_track(planted, tracks, tmp_path):
    table = _positioned_table(planted["truth"])
    table[["y", "x"]] = table[["x", "y"]].to_numpy()
    with pytest.raises(AnnotationTableError) as refused:
        _import(_write(table, tmp_path / "mine.csv"), tracks, tmp_path / "a.parquet", match_on="track")
    message = str(refused.value)
    assert f"pixels with x and y swapped {len(table)}" in message
    assert message.endswith("Swap the table's columns y and x (rename y to x and x to y)")


def test_cells_the_tracks_lack_are_refused_matching_by_track_even_with_positions(planted, tracks, tmp_path):
    """Track ids no track has, rows giving y, x: imported with exit 0 matching by track (only rows
    without y, x were looked up), though classify matches none of them. Now refused, naming the
    rows; by position the y, x place them, as before."""
    table = _positioned_table(planted["truth"])
    table.loc[[0, 5], "track_id"] += 1000
    path = _write(table, tmp_path / "mine.csv")
    with pytest.raises(AnnotationTableError) as refused:
        _import(path, tracks, tmp_path / "t.parquet", match_on="track")
    message = str(refused.value)
    assert message.startswith(
        f"{path}: 2 of {len(table)} annotations name cells (fov_name, track_id, t) that"
    )
    assert "matching by track (analysis.classification.match_annotations_on: track) every row" in message
    assert (
        f"track {table.at[0, 'track_id']} frame {table.at[0, 't']}" in message and "(at rows 1, 6)" in message
    )
    assert len(_import(path, tracks, tmp_path / "p.parquet")) == len(table)


def test_position_unit_applies_to_a_table_only():
    with pytest.raises(ValidationError, match=r"position_unit='um' is the unit of your table's y, x"):
        AnnotationConfig(position_unit="um")


def test_a_stray_position_outside_the_image_is_a_warning_with_its_count(planted, tracks, tmp_path, caplog):
    table = _positioned_table(planted["truth"])
    table.loc[3, ["y", "x"]] = [-4.0, 100.0]  # one stray click above the image: under 1 % of the rows
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        written = _import(path, tracks, tmp_path / "annotations.parquet")
    assert len(written) == len(table)
    warned = [r.getMessage() for r in caplog.records if "outside the image" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].startswith(f"{path}: 1 of {len(table)} annotations with y, x")
    assert "at y -4, x 100 (at row 4)" in warned[0] and "max_match_distance_px" in warned[0]


def test_clicks_on_the_border_pixels_are_inside_and_two_strays_in_a_small_table_are_warned(
    planted, tracks, tmp_path, caplog
):
    """napari's pixel-centre coordinates: a click on the first row's top half reads y = -0.3, inside.
    A table of a few rows with two stray clicks (over 1 %) is kept with a warning; all rows outside
    is refused."""
    table = _positioned_table(planted["truth"]).head(40).copy()
    table.loc[table.index[0], "y"] = -0.3
    table.loc[table.index[1], "x"] = SHAPE_YX[1] - 0.6
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        _import(path, tracks, tmp_path / "a.parquet")
    assert not [r for r in caplog.records if "outside the image" in r.getMessage()]
    table.loc[table.index[2:4], "y"] = SHAPE_YX[0] + 3.0  # 2 of 40 rows: 5 %, but two strays
    table.to_csv(path, index=False)
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        written = _import(path, tracks, tmp_path / "b.parquet")
    assert len(written) == len(table)
    assert any(r.getMessage().startswith(f"{path}: 2 of 40 annotations") for r in caplog.records)
    table.loc[table.index[4], "y"] = SHAPE_YX[0] + 3.0  # a third: refused
    table.to_csv(path, index=False)
    with pytest.raises(AnnotationTableError, match=r"3 of 40 annotations with y, x \(7\.5 %\)"):
        _import(path, tracks, tmp_path / "c.parquet")


def test_ids_must_lie_below_the_one_largest_id(planted):
    """Track ids and frames are refused from dynaclr.io.LARGEST_ID (2**53) on, the limit tracks share."""
    assert importing.LARGEST_ID is LARGEST_ID == 2**53
    table = _user_table(planted["truth"])
    table["track_id"] = table["track_id"].astype("int64")
    table.loc[0, "track_id"] = LARGEST_ID - 1
    assert validate_annotation_table(table)["track_id"].iloc[0] == LARGEST_ID - 1
    table.loc[0, "track_id"] = LARGEST_ID
    with pytest.raises(AnnotationTableError, match=r"'track_id' holds track ids .* found 9007199254740992"):
        validate_annotation_table(table)


def _break_missing_column(table):
    return table.drop(columns=["label"]), r"lacks columns \['label'\]; expected \['fov_name', 'track_id'"


def _break_unknown_task(table):
    table.loc[3, "task"] = "infektion"
    return table, r"column 'task' holds \['division', 'infection'\]; found 'infektion' at row 4"


def _break_label(table):
    row = table.index[table["task"] == "infection"][0]
    table.loc[row, "label"] = "yes"
    return (
        table,
        rf"column 'label' of task 'infection' holds \['uninfected', 'infected'\]; "
        rf"found 'yes' at row {row + 1}",
    )


def _break_conflicting_duplicate(table):
    row = table.iloc[[2]].copy()
    negative, positive = (
        ("uninfected", "infected") if row["task"].iloc[0] == "infection" else ("interphase", "mitosis")
    )
    row["label"] = positive if row["label"].iloc[0] == negative else negative
    return (
        pd.concat([table, row], ignore_index=True),
        r"2 rows annotate a cell and task more than once with different labels .* at rows 3, "
        rf"{len(table) + 1} \(labels \[.*\] disagree\)",
    )


def _break_frame_type(table):
    table["t"] = table["t"].astype(object)
    table.loc[1, "t"] = "five"
    return table, r"column 't' holds frames \(integers >= 0, below 2\*\*53\); found 'five' at row 2"


def _break_negative_track(table):
    table.loc[0, "track_id"] = -1
    return table, r"column 'track_id' holds track ids \(integers >= 0, below 2\*\*53\); found -1 at row 1"


def _break_empty_label(table):
    table.loc[5, "label"] = None
    return table, r"column 'label' is empty at row 6"


def _break_fov_name(table):
    table.loc[0, "fov_name"] = "A1"
    return table, r"column 'fov_name' holds FOV names 'row/column/fov' \(e\.g\. 'A/1/0'\); found 'A1'"


def _break_unknown_fov(table):
    table.loc[0, "fov_name"] = "H/12/0"
    return table, r"column 'fov_name' names FOVs of the tracks .*; found 'H/12/0' at row 1"


def _break_untracked_cell(table):
    table.loc[0, "track_id"] = 999
    return table, r"1 of \d+ annotations name cells .* not in the tracks .* track 999 .* add columns y, x"


def _break_single_class(table):
    division = table["task"] == "division"
    table.loc[division, "label"] = "interphase"
    return table, r"task 'division' has only \['interphase'\] labels; a classifier needs both"


def _break_single_fov(table):
    table = table[(table["task"] == "division") | (table["fov_name"] == "A/2/0")]
    return table, r"task 'infection' is annotated in one FOV only \(A/2/0\)"


def _break_lone_position(table):
    return table.assign(y=1.0), r"column 'y' without its partner"


@pytest.mark.parametrize(
    "break_table",
    [
        _break_missing_column,
        _break_unknown_task,
        _break_label,
        _break_conflicting_duplicate,
        _break_frame_type,
        _break_negative_track,
        _break_empty_label,
        _break_fov_name,
        _break_unknown_fov,
        _break_untracked_cell,
        _break_single_class,
        _break_single_fov,
        _break_lone_position,
    ],
)
def test_bad_tables_are_refused_naming_file_column_expected_and_found(planted, tracks, tmp_path, break_table):
    _assert_refused(*break_table(_user_table(planted["truth"])), tracks, tmp_path)


def _repeat_wide_row(wide: pd.DataFrame) -> pd.DataFrame:
    row = wide.index[wide["infection_state"].notna() & wide["cell_division_state"].notna()][0]
    return pd.concat([wide, wide.loc[[row]]], ignore_index=True)


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_a_row_repeating_a_cell_task_and_label_is_read_once_with_a_warning(
    planted, tracks, tmp_path, caplog, layout
):
    """The same cell and task annotated twice alike was refused by the import while
    fit_and_evaluate counted it twice (or, matching by track, failed): both now read it once, with
    a WARNING naming the file and rows (unique_cells); two labels are refused by both."""
    truth = planted["truth"]
    table = _user_table(truth)
    if layout == "wide":
        table = _wide_table(truth, table)
    repeated = (
        _repeat_wide_row(table)
        if layout == "wide"
        else pd.concat([table, table.iloc[[2]]], ignore_index=True)
    )
    once, twice = tmp_path / "once.csv", tmp_path / "twice.csv"
    table.to_csv(once, index=False)
    repeated.to_csv(twice, index=False)
    expected = _import(once, tracks, tmp_path / "once.parquet")
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        imported = _import(twice, tracks, tmp_path / "twice.parquet")
    pd.testing.assert_frame_equal(imported, expected)
    (warned,) = [r.getMessage() for r in caplog.records if "read once" in r.getMessage()]
    repeats = "2 rows repeat" if layout == "wide" else "1 row repeats"  # a wide row annotates two tasks
    assert warned.startswith(f"{twice}: {repeats} the cell, task and label of another row")
    assert f", {len(repeated)} (all '" in warned


def test_cells_placed_by_position_under_one_track_id_are_all_read(planted, tracks, tmp_path, caplog):
    """Cells absent from the tracks are placed by y, x, e.g. under a placeholder track_id 0: rows of
    one FOV, frame and task at other positions are other cells. The import took them as repeats
    (one key) and kept one per FOV and frame with exit 0, or refused two labels; a repeat now also
    gives the same y, x, and only the row giving the same y, x is read once."""
    truth = planted["truth"]
    table = _drawn(truth, ("infection",))
    fov_a, fov_b = sorted(set(table["fov_name"]))[:2]
    placed = pd.DataFrame(
        {
            "fov_name": [fov_a] * 3 + [fov_b] * 3,
            "track_id": 0,
            "t": 1,
            "y": [10.0, 20.0, 30.0] * 2,
            "x": [10.0, 20.0, 30.0] * 2,
            "task": "infection",
            "label": ["infected", "infected", "uninfected", "infected", "uninfected", "uninfected"],
        }
    )
    path = tmp_path / "placed.csv"
    placed.to_csv(path, index=False)
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        imported = _import(path, tracks, tmp_path / "placed.parquet", tasks=("infection",))
    pd.testing.assert_frame_equal(imported[placed.columns].reset_index(drop=True), placed, check_dtype=False)
    assert not [r for r in caplog.records if "read once" in r.getMessage()]
    repeated = pd.concat([placed, placed.iloc[[1]]], ignore_index=True)
    repeated.to_csv(path, index=False)
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        imported = _import(path, tracks, tmp_path / "repeated.parquet", tasks=("infection",))
    assert len(imported) == len(placed)
    (warned,) = [r.getMessage() for r in caplog.records if "read once" in r.getMessage()]
    assert "1 row repeats" in warned and "key fov_name, track_id, t, task, y, x" in warned
    assert "at rows 2, 7" in warned


def test_rows_of_one_track_and_frame_at_other_positions_are_refused_when_classify_matches_by_track(
    planted, tracks, tmp_path
):
    """Two rows of one fov_name, track_id, t, task at other y, x with other labels: other cells by
    position, one cell given two labels by track. The import read them by position whatever the
    matching, so with match_annotations_on 'track' classify refused them after training; the
    import is given the matching and refuses them itself, naming the file, the cell and its rows."""
    table = _drawn(planted["truth"], ("infection",))
    fov_a, fov_b = sorted(set(table["fov_name"]))[:2]
    placed = pd.DataFrame(
        {
            "fov_name": [fov_a, fov_a, fov_b, fov_b],
            "track_id": [5, 5, 6, 7],
            "t": 1,
            "y": [100.0, 101.0, 20.0, 30.0],
            "x": [100.0, 100.0, 20.0, 30.0],
            "task": "infection",
            "label": ["infected", "uninfected", "uninfected", "infected"],
        }
    )
    path = tmp_path / "clicked_twice.csv"
    placed.to_csv(path, index=False)
    assert len(_import(path, tracks, tmp_path / "position.parquet", tasks=("infection",))) == 4
    with pytest.raises(
        AnnotationTableError,
        match=rf"clicked_twice\.csv: 2 rows annotate a cell and task more than once with different labels "
        rf"\(key fov_name, track_id, t, task;.* FOV {fov_a} track 5 frame 1 task 'infection' at rows 1, 2",
    ):
        _import(path, tracks, tmp_path / "track.parquet", tasks=("infection",), match_on="track")
    assert not (tmp_path / "track.parquet").exists()


def _assert_refused(table: pd.DataFrame, message: str, tracks: Path, tmp_path: Path) -> str:
    """Import ``table`` (as a CSV): refused with ``message``, naming the file first, writing nothing."""
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "annotations.parquet"
    with pytest.raises(AnnotationTableError, match=message) as info:
        _import(path, tracks, out)
    assert str(info.value).startswith(f"{path}: ")
    assert not out.exists()
    return str(info.value)


#: Cells pandas' default parsing reads as missing; an annotation table's text is read as written.
_NA_SPELLINGS = ("NA", "None", "null", "nan", "N/A")


@pytest.mark.parametrize("spelling", _NA_SPELLINGS)
def test_a_label_task_or_fov_written_na_is_refused_as_the_text_written_not_as_empty(
    planted, tracks, tmp_path, spelling
):
    """A cell "NA" is a value someone wrote, not an empty cell: the refusal quotes it and lists what
    the column accepts (an empty cell keeps its own message, ``_break_empty_label``)."""
    user = _user_table(planted["truth"])
    row = int(user.index[user["task"] == "infection"][0])
    pattern = re.escape(repr(spelling))
    _assert_refused(
        user.assign(label=user["label"].where(user.index != row, spelling)),
        rf"column 'label' of task 'infection' holds \['uninfected', 'infected'\]; found {pattern} "
        rf"at row {row + 1}$",
        tracks,
        tmp_path,
    )
    _assert_refused(
        user.assign(task=user["task"].where(user.index != 3, spelling)),
        rf"column 'task' holds \['division', 'infection'\]; found {pattern} at row 4$",
        tracks,
        tmp_path,
    )
    _assert_refused(
        user.assign(fov_name=user["fov_name"].where(user.index != 0, spelling)),
        rf"column 'fov_name' holds FOV names 'row/column/fov' \(e\.g\. 'A/1/0'\); found {pattern} at row 1$",
        tracks,
        tmp_path,
    )


_HEADER = b"fov_name,t,track_id,task,label\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("mine.csv", b"", r"as CSV \(EmptyDataError: "),
        ("mine.csv", b"\xff\xfe\x00garbage", r"as CSV \(UnicodeDecodeError: "),
        ("mine.parquet", b"PAR1 not really", r"as PARQUET \(ArrowInvalid: "),
        # a first row with one field more than the header: pandas would take the names as an index
        (
            "mine.csv",
            b"fov_name,t,track_id,task,label\nA/1/0,0,1,infection,infected,x\n",
            r"as CSV \(ParserWarning: ",
        ),
        (
            "mine.csv",
            b"fov_name,t,track_id,task,label\nA/1/0,0,1,infection,infected\nA/1/0,1,1,infection,b,x\n",
            r"as CSV \(ParserError: ",
        ),
    ],
)
def test_an_unreadable_table_is_named(tracks, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(
        AnnotationTableError, match=rf"^{re.escape(str(path))}: cannot read the annotation table {message}"
    ):
        _import(path, tracks, tmp_path / "annotations.parquet")


def test_tasks_must_match_the_config(planted, tracks, tmp_path):
    path = tmp_path / "mine.parquet"
    _user_table(planted["truth"]).to_parquet(path)
    with pytest.raises(
        AnnotationTableError, match=r"holds tasks \['division'\] that annotations.tasks \['infection'\]"
    ):
        _import(path, tracks, tmp_path / "a.parquet", tasks=("infection",))
    _user_table(planted["truth"], tasks=("infection",)).to_parquet(path)
    with pytest.raises(AnnotationTableError, match=r"lists \['division'\] but the table has no rows of it"):
        _import(path, tracks, tmp_path / "a.parquet")
    with pytest.raises(AnnotationTableError, match=r"\.csv or \.parquet"):
        import_annotations_stage(
            AnnotationConfig(),
            ImportAnnotationsInputs(table=(tmp_path / "mine.xlsx",), tracks=tracks),
            AnnotationsOutputs(annotations=tmp_path / "a.parquet"),
            shape_tzyx=SHAPE_TZYX,
            match_on="position",
            max_match_distance_px=MAX_MATCH_PX,
            pixel_size_um=None,
        )
    with pytest.raises(ValidationError, match=r"\.csv or \.parquet"):  # the config refuses it first
        AnnotationConfig(table=str(tmp_path / "mine.xlsx"))


def test_classifier_and_pseudotime_on_a_dataset_without_ground_truth(planted, tracks, tmp_path):
    """A plate dataset: tracked cells, embeddings and a person's infection labels; no ground truth."""
    truth = planted["truth"]
    table = tmp_path / "mine.csv"
    _user_table(truth, tasks=("infection",)).to_csv(table, index=False)
    annotations = tmp_path / "annotations.parquet"
    _import(table, tracks, annotations, tasks=("infection",))
    embeddings = tmp_path / "embeddings" / "model" / "plate.zarr"
    tracked = read_table(tracks, "tracks")[0]
    identity = {"model": "model", "dataset": "plate"}
    write_embeddings(
        build_anndata(planted["features"], tracked, info=identity),
        embeddings,
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )

    out = tmp_path / "evaluation"
    metrics = classify_stage(
        ClassificationConfig(n_bootstrap=10, n_splits=3),  # asks for division too: not annotated, skipped
        ClassifyInputs(embeddings=embeddings, annotations=annotations),
        ClassifyOutputs(
            scores=out / "classification_scores.parquet",
            predictions=out / "predictions.parquet",
            classifiers=out / "classifiers.json",
        ),
        **identity,
    )
    assert list(metrics["task"]) == ["infection"]
    assert metrics["f1"].iloc[0] > 0.9

    _, accuracy = pseudotime_stage(
        PseudotimeConfig(),
        AlignPseudotimeInputs(embeddings=embeddings, predictions=out / "predictions.parquet"),
        AlignPseudotimeOutputs(pseudotime=out / "pseudotime.parquet", accuracy=out / "dtw_accuracy.csv"),
        **identity,
    )
    written = pd.read_csv(out / "dtw_accuracy.csv")
    assert list(written.columns) == list(DTW_ACCURACY_COLUMNS)
    assert written["true_onset_t"].isna().all() and not written["has_observed_onset"].any()
    # the aligned onsets are estimates of the true ones, which this test alone knows
    onsets = truth.groupby(["fov_name", "track_id"])["infection_onset_t"].first()
    infected = accuracy[accuracy["aligned_onset_t"].notna() & ~accuracy["is_reference_series"]]
    true = onsets.reindex(list(zip(infected["fov_name"], infected["query_id"], strict=True))).to_numpy()
    observed = (true > infected["t_first"].to_numpy()) & (true <= infected["t_last"].to_numpy())
    assert observed.sum() >= 10
    errors = np.abs(infected["aligned_onset_t"].to_numpy()[observed] - true[observed])
    assert np.median(errors) <= 1.0


# --- The wide layout: napari-iohub's Cell State Annotator and VisCy's annotation CSVs ---------------

_STATE_COLUMNS = {"infection": "infection_state", "division": "cell_division_state"}


def _wide_table(truth: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """The annotations of ``long`` as the Cell State Annotator writes them: one row per tracked cell
    in ultrack's index layout, one column per task (empty where a cell is not annotated), the
    annotator's other states and its metadata."""
    cells = truth[["fov_name", "track_id", "t", "parent_track_id", "y", "x"]].reset_index(drop=True)
    cells.insert(3, "id", np.arange(1, len(cells) + 1))
    cells.insert(5, "parent_id", -1)
    cells.insert(6, "z", 0)
    states = long.pivot(index=["fov_name", "track_id", "t"], columns="task", values="label")
    states = states.rename(columns=_STATE_COLUMNS).reset_index()
    states.columns.name = None
    wide = cells.merge(states, on=["fov_name", "track_id", "t"], how="left", validate="one_to_one")
    return wide.assign(
        organelle_state="noremodel",
        cell_death_state=None,
        annotator="me",
        annotation_date="2026-11-30T10:00:00",
        annotation_version="1.0",
    )


def test_a_wide_cell_state_annotator_table_imports_to_the_long_tables_artifact(
    planted, tracks, tmp_path, caplog
):
    """napari-iohub's export (every tracked cell a row, a column per task, organelle and death states,
    y, x the tracks' own): the same artifact as the long table of the same annotations."""
    truth = planted["truth"]
    long_path = tmp_path / "long.csv"
    _user_table(truth).to_csv(long_path, index=False)
    from_long = _import(long_path, tracks, tmp_path / "from_long.parquet")
    wide = _wide_table(truth, _user_table(truth))
    assert len(wide) > len(from_long)  # cells annotated for no task are rows too
    wide_path = tmp_path / "A_1_0.csv"
    wide.to_csv(wide_path, index=False)
    with caplog.at_level("INFO", logger="dynaclr.classify.annotation_table"):
        from_wide = _import(wide_path, tracks, tmp_path / "from_wide.parquet")
    pd.testing.assert_frame_equal(from_wide, from_long)
    pd.testing.assert_frame_equal(read_annotations(tmp_path / "from_wide.parquet"), _drawn(truth))
    assert (
        read_table_provenance(tmp_path / "from_wide.parquet", "annotations").config["table_layout"] == "wide"
    )
    assert (
        read_table_provenance(tmp_path / "from_long.parquet", "annotations").config["table_layout"] == "long"
    )
    ignored = [r.getMessage() for r in caplog.records if "ignoring columns" in r.getMessage()]
    assert ignored == [
        f"{wide_path}: wide annotation table: ignoring columns ['organelle_state', 'cell_death_state'] "
        "(no task of annotations.tasks ['infection', 'division'] reads them)"
    ]
    # annotations.tasks still selects: the division column is then ignored, and named
    caplog.clear()
    with caplog.at_level("INFO", logger="dynaclr.classify.annotation_table"):
        infection = _import(wide_path, tracks, tmp_path / "infection.parquet", tasks=("infection",))
    pd.testing.assert_frame_equal(infection, _drawn(truth, tasks=("infection",)))
    assert any(
        "['cell_division_state', 'organelle_state', 'cell_death_state']" in r.getMessage()
        for r in caplog.records
    )


def test_viscy_numeric_infection_codes_and_slashed_fov_names_import(planted, tracks, tmp_path):
    """An older VisCy table: ``/A/1/0`` FOV names, infection 1.0 uninfected, 2.0 infected, 0.0 and
    empty not annotated; the same artifact as the long table (whose slashes are dropped too)."""
    truth = planted["truth"]
    long = _user_table(truth, tasks=("infection",))
    expected = _drawn(truth, tasks=("infection",))
    wide = _wide_table(truth, long).drop(columns=["organelle_state", "cell_death_state"])
    codes = wide["infection_state"].map({"uninfected": 1.0, "infected": 2.0})
    codes[codes.isna() & (wide["t"] % 2 == 0)] = 0.0  # background, as VisCy wrote it
    wide["infection_state"] = codes
    wide["fov_name"] = "/" + wide["fov_name"]
    path = tmp_path / "tracking_v1_infection.csv"
    wide.to_csv(path, index=False)
    assert pd.read_csv(path)["infection_state"].dtype == np.float64
    written = _import(path, tracks, tmp_path / "wide.parquet", tasks=("infection",))
    pd.testing.assert_frame_equal(written, expected)
    slashed = tmp_path / "slashed.csv"
    long.assign(fov_name="/" + long["fov_name"]).to_csv(slashed, index=False)
    pd.testing.assert_frame_equal(
        _import(slashed, tracks, tmp_path / "long.parquet", tasks=("infection",)), expected
    )


def test_numeric_division_codes_are_refused_saying_how_to_map_them(planted, tracks, tmp_path):
    """Division files used several numeric schemes (0/2, 0/1): the import does not guess one. Left
    out of annotations.tasks, the column is ignored."""
    truth = planted["truth"]
    wide = _wide_table(truth, _user_table(truth))
    wide["cell_division_state"] = wide["cell_division_state"].map({"mitosis": 2.0, "interphase": 0.0})
    message = _assert_refused(
        wide,
        r"column 'cell_division_state' holds labels \['interphase', 'mitosis'\] \(empty: not annotated\); "
        r"found numeric codes 0\.0, 2\.0 at rows \d+",
        tracks,
        tmp_path,
    )
    assert "not guessed" in message
    assert (
        "table['cell_division_state'] = table['cell_division_state']"
        ".map({MITOSIS_CODE: 'mitosis', INTERPHASE_CODE: 'interphase'})" in message
    )
    assert "or leave 'division' out of annotations.tasks" in message
    written = _import(tmp_path / "mine.csv", tracks, tmp_path / "infection.parquet", tasks=("infection",))
    pd.testing.assert_frame_equal(written, _drawn(truth, tasks=("infection",)))


def test_a_table_with_both_layouts_columns_is_refused_as_ambiguous(planted, tracks, tmp_path):
    table = _user_table(planted["truth"]).assign(infection_state="infected")
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    with pytest.raises(
        AnnotationTableError,
        match=rf"^{re.escape(str(path))}: annotation table has both the long layout's columns "
        r"\['task', 'label'\] and the wide layout's state columns \['infection_state'\]; expected one layout",
    ):
        _import(path, tracks, tmp_path / "annotations.parquet")


def _wide_break_label(wide):
    row = wide.index[wide["infection_state"].notna()][3]
    wide.loc[row, "infection_state"] = "yes"
    return wide, (
        r"column 'infection_state' holds labels \['uninfected', 'infected'\], "
        r"VisCy's codes 0 \(not annotated\), 1 \(uninfected\), 2 \(infected\), or empty \(not annotated\); "
        rf"found 'yes' at row {row + 1}$"
    )


def _wide_break_code(wide):
    wide["infection_state"] = wide["infection_state"].map({"uninfected": 1.0, "infected": 3.0})
    return wide, r"column 'infection_state' holds labels .*; found 3\.0 at rows \d+"


def _wide_break_zero_one_codes(wide):
    wide["infection_state"] = wide["infection_state"].map({"uninfected": 0.0, "infected": 1.0})
    return (
        wide,
        r"holds numeric codes 0\.0, 1\.0 and no 2: .* If your file means 0 = uninfected, 1 = infected",
    )


def _wide_break_missing_task_column(wide):
    return wide.drop(columns=["cell_division_state"]), (
        r"annotations.tasks lists \['division'\] but the wide annotation table has no column "
        r"\['cell_division_state'\]"
    )


def _wide_break_missing_index_column(wide):
    return wide.drop(columns=["t"]), r"wide annotation table \(one column per task\) lacks columns \['t'\]"


def _wide_break_empty_track(wide):
    row = wide.index[wide["infection_state"].notna()][2]
    wide["track_id"] = wide["track_id"].astype(float)
    wide.loc[row, "track_id"] = np.nan
    return wide, rf"column 'track_id' is empty at row {row + 1}$"


def _wide_break_nothing_annotated(wide):
    wide["infection_state"] = np.nan
    wide["cell_division_state"] = np.nan
    return (
        wide,
        r"wide annotation table has no annotated cell: columns \['infection_state', 'cell_division_state'\]",
    )


@pytest.mark.parametrize("spelling", _NA_SPELLINGS)
def test_a_wide_state_written_na_is_refused_not_read_as_not_annotated(planted, tracks, tmp_path, spelling):
    """In a wide table an empty cell means "not annotated": a cell "NA" must not silently become one
    (the import would then drop an annotation and succeed); it is refused, quoted, with the labels."""
    truth = planted["truth"]
    wide = _wide_table(truth, _user_table(truth))
    row = wide.index[wide["infection_state"].notna()][3]
    wide.loc[row, "infection_state"] = spelling
    _assert_refused(
        wide,
        r"column 'infection_state' holds labels \['uninfected', 'infected'\], VisCy's codes .*, or empty "
        rf"\(not annotated\); found {re.escape(repr(spelling))} at row {row + 1}$",
        tracks,
        tmp_path,
    )


@pytest.mark.parametrize("spelling", ["NA", "N/A"])
def test_a_wide_column_of_codes_with_a_cell_na_names_that_cell_only(planted, tracks, tmp_path, spelling):
    """A CSV whose infection column mixes VisCy's codes with "NA" is read as text: the refusal listed
    every code as a bad value ("found '1', '2', 'NA' at rows 1, 2, 3, ..."), as if the codes were
    wrong; the codes now read as codes and only the "NA" cell is named, with the values accepted."""
    truth = planted["truth"]
    wide = _wide_table(truth, _user_table(truth))
    wide["infection_state"] = wide["infection_state"].map({"uninfected": 1, "infected": 2}).astype(object)
    row = wide.index[wide["infection_state"].notna()][3]
    wide.loc[row, "infection_state"] = spelling
    _assert_refused(
        wide,
        r"column 'infection_state' holds labels \['uninfected', 'infected'\], VisCy's codes 0 \(not "
        r"annotated\), 1 \(uninfected\), 2 \(infected\), or empty \(not annotated\); "
        rf"found {re.escape(repr(spelling))} at row {row + 1}$",
        tracks,
        tmp_path,
    )


@pytest.mark.parametrize(
    "break_wide",
    [
        _wide_break_label,
        _wide_break_code,
        _wide_break_zero_one_codes,
        _wide_break_missing_task_column,
        _wide_break_missing_index_column,
        _wide_break_empty_track,
        _wide_break_nothing_annotated,
    ],
)
def test_bad_wide_tables_are_refused_naming_the_wide_files_column_and_row(
    planted, tracks, tmp_path, break_wide
):
    """Messages name the wide file's own columns and data rows (1 = first row under the header)."""
    truth = planted["truth"]
    _assert_refused(*break_wide(_wide_table(truth, _user_table(truth))), tracks, tmp_path)


# --- A table per FOV (napari-iohub's annotator writes one CSV per FOV) --------------------------------

#: The plate's FOVs: the planted cells' six, and one without cells or an annotation file.
PLATE_FOVS = ("A/1/0", "A/2/0", "A/3/0", "B/1/0", "B/2/0", "B/3/0", "C/1/0")


def _import_per_fov(
    pattern: str,
    tracks: Path,
    out: Path,
    tasks: Sequence[str] = ("infection", "division"),
    match_on: MatchOn = "position",
) -> pd.DataFrame:
    """Rule ``import_annotations`` with ``annotations.table`` a pattern: the files that exist, in the
    plate's FOV order (what the rule lists)."""
    paths = (Path(fill_fov_pattern(pattern, fov)) for fov in PLATE_FOVS)
    return import_annotations_stage(
        AnnotationConfig(table=pattern, tasks=tuple(tasks)),
        ImportAnnotationsInputs(table=tuple(path for path in paths if path.is_file()), tracks=tracks),
        AnnotationsOutputs(annotations=out),
        shape_tzyx=SHAPE_TZYX,
        match_on=match_on,
        max_match_distance_px=MAX_MATCH_PX,
        pixel_size_um=None,
        fov_names=PLATE_FOVS,
    )


def _write_per_fov(
    table: pd.DataFrame, folder: Path, fovs: Sequence[str], without_fov_name: bool = False
) -> dict[str, Path]:
    """``table``'s rows of each FOV of ``fovs`` in the FOV's file ``{row}_{col}_{fov}.csv``."""
    folder.mkdir(exist_ok=True)
    paths = {}
    for fov in fovs:
        paths[fov] = folder / f"{fov.replace('/', '_')}.csv"
        rows = table[table["fov_name"] == fov]
        (rows.drop(columns=["fov_name"]) if without_fov_name else rows).to_csv(paths[fov], index=False)
    return paths


def test_a_table_per_fov_imports_as_the_one_table_of_its_files(planted, tracks, tmp_path, caplog):
    """One file per FOV: files without fov_name get it from their path, a slashed or matching one is
    kept; the FOVs without a file have no annotations (named at INFO); the artifact equals the one
    table of the same rows, its record holds each file's hash."""
    truth = planted["truth"]
    user = _user_table(truth)
    annotated = ["A/1/0", "A/2/0", "B/1/0", "B/3/0"]
    paths = _write_per_fov(user, tmp_path / "ann", annotated)
    pd.read_csv(paths["A/1/0"]).drop(columns=["fov_name"]).to_csv(paths["A/1/0"], index=False)
    slashed = pd.read_csv(paths["B/1/0"])
    slashed.assign(fov_name="/" + slashed["fov_name"]).to_csv(paths["B/1/0"], index=False)
    one = tmp_path / "one.csv"
    user[user["fov_name"].isin(annotated)].to_csv(one, index=False)
    expected = _import(one, tracks, tmp_path / "one.parquet")
    pattern = str(tmp_path / "ann" / "{row}_{col}_{fov}.csv")
    out = tmp_path / "per_fov.parquet"
    with caplog.at_level("INFO", logger="dynaclr.classify.annotation_table"):
        written = _import_per_fov(pattern, tracks, out)
    pd.testing.assert_frame_equal(written, expected)
    pd.testing.assert_frame_equal(read_annotations(out), expected)
    prov = read_table_provenance(out, "annotations")
    files = [str(paths[fov]) for fov in annotated]
    assert prov.config["table"] == pattern and "table_sha256" not in prov.config
    assert sorted(prov.config["table_files"]) == sorted(files)
    assert all(len(digest) == 64 for digest in prov.config["table_files"].values())
    assert [record.path for record in prov.inputs] == [*files, str(tracks)]
    without = [r.getMessage() for r in caplog.records if "have no file" in r.getMessage()]
    assert without == [
        f"annotations.table {pattern}: 3 of 7 FOVs have no file, so no annotations: "
        "['A/3/0', 'B/2/0', 'C/1/0']"
    ]
    # the wide layout per FOV too (the annotator's own files)
    wide = _wide_table(truth, user)
    _write_per_fov(wide, tmp_path / "wide", annotated, without_fov_name=True)
    from_wide = _import_per_fov(
        str(tmp_path / "wide" / "{row}_{col}_{fov}.csv"), tracks, tmp_path / "w.parquet"
    )
    pd.testing.assert_frame_equal(from_wide, expected)


def _per_fov_no_file(user, folder):
    return (
        r"^annotations\.table '.*': expected an annotation file for at least one of the plate's 7 FOVs, "
        "found none"
    )


def _per_fov_other_fov(user, folder):
    paths = _write_per_fov(user, folder, ["A/1/0", "A/2/0"])
    table = pd.read_csv(paths["A/2/0"])
    table.loc[[1, 4], "fov_name"] = "A/1/0"
    table.to_csv(paths["A/2/0"], index=False)
    return (
        rf"^{re.escape(str(paths['A/2/0']))}: column 'fov_name' names the FOV the file's path names \(A/2/0, "
        r"annotations\.table '.*'\) or is empty; found 'A/1/0' at rows 2, 5; correct the column"
    )


def _per_fov_bad_value(user, folder):
    paths = _write_per_fov(user, folder, ["A/1/0", "A/2/0", "B/1/0"])
    for fov, rows in (("A/2/0", [2]), ("B/1/0", [0, 3])):
        table = pd.read_csv(paths[fov])
        table.loc[rows, "t"] = -1
        table.to_csv(paths[fov], index=False)
    return (
        r"^/.*/\{row\}_\{col\}_\{fov\}\.csv: column 't' holds frames .*; found -1 at "
        rf"{re.escape(str(paths['A/2/0']))} row 3; {re.escape(str(paths['B/1/0']))} rows 1, 4$"
    )


def _per_fov_mixed_layouts(user, folder):
    paths = _write_per_fov(user, folder, ["A/1/0", "A/2/0"])
    wide = pd.DataFrame({"fov_name": ["A/2/0"], "track_id": [1], "t": [0], "infection_state": ["infected"]})
    wide.to_csv(paths["A/2/0"], index=False)
    return (
        r"expected every FOV's file in one layout .*, found both \(long: .*A_1_0\.csv; wide: .*A_2_0\.csv\)"
    )


def _per_fov_foreign_label(user, folder):
    paths = _write_per_fov(user, folder, ["A/1/0", "A/2/0"])
    table = pd.read_csv(paths["A/2/0"])
    table.loc[table["task"] == "division", "label"] = "Mitose"
    table.to_csv(paths["A/2/0"], index=False)
    where = re.escape(str(paths["A/2/0"]))
    return rf"column 'label' of task 'division' holds .*; found 'Mitose' at {where} rows"


@pytest.mark.parametrize(
    "break_files",
    [
        _per_fov_no_file,
        _per_fov_other_fov,
        _per_fov_bad_value,
        _per_fov_mixed_layouts,
        _per_fov_foreign_label,
    ],
)
def test_bad_tables_per_fov_are_refused_naming_the_file_and_its_rows(planted, tracks, tmp_path, break_files):
    folder = tmp_path / "ann"
    folder.mkdir()
    message = break_files(_user_table(planted["truth"]), folder)
    out = tmp_path / "annotations.parquet"
    with pytest.raises(AnnotationTableError, match=message):
        _import_per_fov(str(folder / "{row}_{col}_{fov}.csv"), tracks, out)
    assert not out.exists()


def test_two_fovs_naming_one_file_are_refused(tracks, tmp_path):
    (tmp_path / "A110.csv").write_text("fov_name,track_id,t,task,label\n")
    with pytest.raises(
        AnnotationTableError,
        match=r"expected one file per FOV, found FOVs A/1/10 and A/11/0 naming the same file .*A110\.csv",
    ):
        import_annotations_stage(
            AnnotationConfig(table=str(tmp_path / "{row}{col}{fov}.csv")),
            ImportAnnotationsInputs(table=(tmp_path / "A110.csv",), tracks=tracks),
            AnnotationsOutputs(annotations=tmp_path / "a.parquet"),
            shape_tzyx=SHAPE_TZYX,
            match_on="position",
            max_match_distance_px=MAX_MATCH_PX,
            pixel_size_um=None,
            fov_names=["A/1/10", "A/11/0"],
        )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "ann/{row}_{fov}.csv",
            r"annotations\.table: .*expected a pattern with \{row\} \{col\} \{fov\}, "
            r"found 'ann/\{row\}_\{fov\}\.csv' \(lacks \['\{col\}'\]\)",
        ),
        ("ann/{dataset}/{row}_{col}_{fov}.csv", r"annotations\.table: .* holds a placeholder other than"),
        # a TIFF position stands for a whole FOV: with a FOV's parts it would name two things
        (
            "ann/{position}_{fov}.csv",
            r"annotations\.table: .*give either \{position\} alone \(a tiff: dataset's positions\) or "
            r"\{row\} \{col\} \{fov\}, not both; found 'ann/\{position\}_\{fov\}\.csv'",
        ),
    ],
)
def test_an_incomplete_pattern_of_tables_per_fov_is_refused(table, message):
    with pytest.raises(ValidationError, match=message):
        AnnotationConfig(table=table)
    assert AnnotationConfig(table="ann/{row}_{col}_{fov}.csv").table_is_pattern
    assert AnnotationConfig(table="ann/{position}.csv").table_is_pattern
    assert not AnnotationConfig(table="ann/all.csv").table_is_pattern


def test_a_table_per_tiff_position_imports_as_the_table_per_fov(planted, tracks, tmp_path):
    """``annotations.table`` named by a TIFF dataset's positions (``ann/{position}.csv``): each file
    belongs to the FOV its position is (``fov_positions``, tiff.positions' or the default
    ``A/1/<position>``); the artifact equals the import of the same files named by FOV, and a file of
    a position the plate does not have is refused naming it."""
    user = _user_table(planted["truth"])
    annotated = ["A/1/0", "B/1/0", "B/3/0"]
    by_fov = _write_per_fov(user, tmp_path / "fov", annotated, without_fov_name=True)
    expected = _import_per_fov(
        str(tmp_path / "fov" / "{row}_{col}_{fov}.csv"), tracks, tmp_path / "f.parquet"
    )
    positions = {fov: f"Pos{index}" for index, fov in enumerate(PLATE_FOVS)}
    (tmp_path / "pos").mkdir()
    files = []
    for fov in PLATE_FOVS:  # the plate's order, as the rule lists them
        if fov in annotated:
            files.append(tmp_path / "pos" / f"{positions[fov]}.csv")
            files[-1].write_bytes(by_fov[fov].read_bytes())
    pattern = str(tmp_path / "pos" / "{position}.csv")

    def run(table_files, fov_positions, out):
        return import_annotations_stage(
            AnnotationConfig(table=pattern),
            ImportAnnotationsInputs(table=tuple(table_files), tracks=tracks),
            AnnotationsOutputs(annotations=out),
            shape_tzyx=SHAPE_TZYX,
            match_on="position",
            max_match_distance_px=MAX_MATCH_PX,
            pixel_size_um=None,
            # the rule passes each FOV's position in fov_names ({fov_name: position}, the plate's
            # order), leaving its script as it was before {position}: no import reruns
            fov_names=PLATE_FOVS if fov_positions is None else fov_positions,
        )

    pd.testing.assert_frame_equal(run(files, positions, tmp_path / "p.parquet"), expected)
    stray = tmp_path / "pos" / "Pos99.csv"
    stray.write_bytes(files[0].read_bytes())
    with pytest.raises(
        AnnotationTableError,
        match=rf"^{re.escape(str(stray))}: annotations\.table .* names this file for no FOV",
    ):
        run([*files, stray], positions, tmp_path / "s.parquet")
    with pytest.raises(AnnotationTableError, match=r"\{position\}.*expected the TIFF position of each FOV"):
        run(files, None, tmp_path / "n.parquet")


def test_a_table_per_position_whose_fov_name_is_the_position_is_refused_saying_so(tmp_path):
    """ann/Pos0.csv holding fov_name Pos0 (the position, where a FOV name belongs): the refusal says
    Pos0 is this file's TIFF position and names the FOV it maps to."""
    (tmp_path / "Pos0.csv").write_text("fov_name,track_id,t,task,label\nPos0,1,0,division,mitosis\n")
    pattern = str(tmp_path / "{position}.csv")
    with pytest.raises(AnnotationTableError) as refused:
        read_fov_tables(pattern, [tmp_path / "Pos0.csv"], ["B/2/0"], {"B/2/0": "Pos0"})
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'Pos0.csv'}: column 'fov_name' names the FOV")
    assert (
        "Pos0 is this file's TIFF position, not a FOV: tiff.positions (or, without it, the FOV naming "
        "A/1/<position>) maps position Pos0 to FOV B/2/0, so write B/2/0 or leave the column empty"
    ) in message
    # another FOV in the column is not the file's position: no such clause
    (tmp_path / "Pos0.csv").write_text("fov_name,track_id,t,task,label\nA/1/0,1,0,division,mitosis\n")
    with pytest.raises(AnnotationTableError) as other:
        read_fov_tables(pattern, [tmp_path / "Pos0.csv"], ["B/2/0"], {"B/2/0": "Pos0"})
    assert "TIFF position" not in str(other.value)


@pytest.mark.parametrize(
    ("table", "placeholders", "filled"),
    [
        ("ann/{{position}}/{row}_{col}_{fov}.csv", ["{row}", "{col}", "{fov}"], "ann/{position}/B_2_0.csv"),
        ("ann/{{row}}_{position}.csv", ["{position}"], "ann/{row}_Pos0.csv"),
        ("ann/{{position}}.csv", [], None),
    ],
)
def test_escaped_braces_are_no_placeholder_of_a_table_per_fov(table, placeholders, filled):
    """``{{position}}`` is the literal text ``{position}`` (as the refusals advise writing a brace):
    neither a placeholder, nor a mix of {position} with a FOV's parts, nor a table per FOV."""
    assert fov_placeholders(table) == placeholders
    config = AnnotationConfig(table=table)
    assert config.table_is_pattern == bool(placeholders)
    if filled is not None:
        assert fill_fov_pattern(table, "B/2/0", {"B/2/0": "Pos0"}) == filled


# --- Spelling variants of the labels ------------------------------------------------------------------


def test_labels_in_another_case_or_with_spaces_are_normalised_and_counted(planted, tracks, tmp_path, caplog):
    truth = planted["truth"]
    user = _user_table(truth)
    variant = user.copy()
    variant.loc[[0, 3], "label"] = variant.loc[[0, 3], "label"].str.capitalize()
    variant.loc[[5], "label"] = " " + variant.loc[[5], "label"] + "  "
    variant.loc[[7], "label"] = variant.loc[[7], "label"].str.upper()
    path = tmp_path / "variant.csv"
    variant.to_csv(path, index=False)
    with caplog.at_level("INFO", logger="dynaclr.classify.annotation_table"):
        written = _import(path, tracks, tmp_path / "variant.parquet")
    pd.testing.assert_frame_equal(written, _drawn(truth))
    normalised = [r.getMessage() for r in caplog.records if "normalised" in r.getMessage()]
    assert len(normalised) == 1 and normalised[0].startswith(
        f"{path}: normalised 4 labels written in another case or with surrounding spaces ("
    )
    # the wide layout's text labels too
    wide = _wide_table(truth, user)
    wide["infection_state"] = wide["infection_state"].str.upper()
    wide_path = tmp_path / "wide.csv"
    wide.to_csv(wide_path, index=False)
    pd.testing.assert_frame_equal(_import(wide_path, tracks, tmp_path / "wide.parquet"), _drawn(truth))
    # an unknown label is still refused, as written
    variant.loc[[2], "label"] = " Infectd"
    variant.to_csv(path, index=False)
    with pytest.raises(AnnotationTableError, match=r"found ' Infectd' at row 3"):
        _import(path, tracks, tmp_path / "refused.parquet")


def _qc_import_warnings(annotations: Path, out: Path) -> pd.DataFrame:
    """Rule ``qc_table`` of a dataset whose classifiers read ``annotations``: its
    ``import_warnings.csv``."""
    from dynaclr.qc.table import QcTableInputs, QcTableOutputs, qc_table

    outputs = QcTableOutputs(
        table=out / "qc.csv", record=out / "qc.json", import_warnings=out / "import_warnings.csv"
    )
    qc_table(QcTableInputs(imported_annotations=annotations), outputs, dataset="plate")
    return pd.read_csv(outputs.import_warnings, keep_default_na=False)


def test_an_annotation_import_matching_few_cells_puts_its_logged_warning_on_the_qc_page(
    planted, tracks, tmp_path, caplog
):
    """A real import whose y, x match few tracked cells (no other reading clearly more): its WARNING
    (units, the distance and its key, the unit not tried) reaches import_warnings.csv as logged;
    before, the QC page showed a text rebuilt from the counts, without them."""
    truth = planted["truth"]
    table = _positioned_table(truth)
    away = table.index < int(0.6 * len(table))
    table.loc[away, "y"] += np.where(table.loc[away, "y"] < SHAPE_YX[0] / 2, 40.0, -40.0)
    out = tmp_path / "away.parquet"
    with caplog.at_level("WARNING", logger="dynaclr.classify.annotation_table"):
        _import(_write(table, tmp_path / "away.csv"), tracks, out)
    (logged,) = [record.getMessage() for record in caplog.records]
    record = read_table_provenance(out, "annotations").config
    assert record["import_warnings"] == [logged]
    assert "(analysis.classification.max_match_distance_px)" in logged and "within 6 px" in logged
    assert "micrometres not tried: the plate states no pixel size" in logged
    warnings = _qc_import_warnings(out, tmp_path)
    assert warnings.to_dict(orient="records") == [
        {"record": f"annotations import ({out})", "warning": logged}
    ]


def test_well_matched_annotations_say_so_on_the_qc_page_matched_by_track_or_position(
    planted, tracks, tmp_path
):
    """Matching by track, the table's y, x are checked against the cells its track ids name: a table
    on them has no import warnings, as by position (an older record of an import matched by track,
    without position_readings, says ``no position check (matched by track)``:
    ``test_import_tracks.py``)."""
    table = _write(_positioned_table(planted["truth"]), tmp_path / "mine.csv")
    by_track, by_position = tmp_path / "t.parquet", tmp_path / "p.parquet"
    _import(table, tracks, by_track, match_on="track")
    _import(table, tracks, by_position)
    assert read_table_provenance(by_position, "annotations").config["import_warnings"] == []
    (tmp_path / "t").mkdir()
    (tmp_path / "p").mkdir()
    assert list(_qc_import_warnings(by_track, tmp_path / "t")["warning"]) == ["no import warnings"]
    assert list(_qc_import_warnings(by_position, tmp_path / "p")["warning"]) == ["no import warnings"]


def test_a_table_without_positions_matched_by_track_says_no_position_check_on_the_qc_page(
    planted, tracks, tmp_path
):
    """Matching by track, a table without y, x cannot be checked against the cells its ids name (ids of
    an earlier tracking pass unseen): the QC page says ``no position check (matched by track)``, as
    before the check existed, not ``no import warnings`` (which it said once every track-matched
    import recorded empty position_readings)."""
    table = _write(_positioned_table(planted["truth"]).drop(columns=["y", "x"]), tmp_path / "mine.csv")
    by_track = tmp_path / "t.parquet"
    _import(table, tracks, by_track, match_on="track")
    assert "position_readings" not in read_table_provenance(by_track, "annotations").config
    (tmp_path / "t").mkdir()
    assert list(_qc_import_warnings(by_track, tmp_path / "t")["warning"]) == [
        "no position check (matched by track)"
    ]


@pytest.mark.parametrize(
    ("header", "missing", "found"),
    [
        # a wide table in the user's own words: names the file's own columns, not the fov_name its path gave
        ("Track ID,Frame,infection_state", "['track_id', 't']", "['Track ID', 'Frame', 'infection_state']"),
        ("track_id,t,task", "['label']", "['track_id', 't', 'task']"),
    ],
)
def test_a_table_per_fov_lacking_columns_names_its_file_and_own_header(tmp_path, header, missing, found):
    """A FOV's file (``ann/{position}.csv``, no fov_name column: its path gives it) lacking a column is
    refused naming that file (not the pattern) and the columns it holds as written: the FOV the path
    supplies is not a column the user wrote, and a file per FOV need not hold one."""
    values = {"Track ID": "1", "Frame": "0", "infection_state": "infected", "track_id": "1", "t": "0"}
    columns = header.split(",")
    (tmp_path / "Pos0.csv").write_text(
        f"{header}\n" + ",".join(values.get(c, "infection") for c in columns) + "\n"
    )
    with pytest.raises(AnnotationTableError) as refused:
        read_fov_tables(
            str(tmp_path / "{position}.csv"), [tmp_path / "Pos0.csv"], ["B/2/0"], {"B/2/0": "Pos0"}
        )
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'Pos0.csv'}: ")
    assert f"lacks columns {missing}" in message
    assert f"found {found}" in message
    assert "'fov_name'" not in message.split("found")[1]


def _refusal_of_pos0(path: Path, per_fov: bool) -> str:
    """The import's refusal of ``path`` (``Pos0.csv``): the one table, or the file of FOV ``B/2/0`` of
    a table per FOV (``{position}.csv``)."""
    with pytest.raises(AnnotationTableError) as refused:
        if per_fov:
            read_fov_tables(str(path.parent / "{position}.csv"), [path], ["B/2/0"], {"B/2/0": "Pos0"})
        else:
            validate_annotation_table(read_annotation_table(path), source=str(path))
    return str(refused.value)


@pytest.mark.parametrize("separator", [";", "\t"])
@pytest.mark.parametrize("commas", [False, True])
@pytest.mark.parametrize("per_fov", [False, True])
def test_a_csv_separated_otherwise_than_by_commas_is_refused_saying_so(tmp_path, separator, commas, per_fov):
    """A spreadsheet saved as CSV in a locale whose list separator is ';' (or a tab-separated export):
    pandas reads one column, 'track_id;t;task;label'. The refusal names the file and the separator.
    Such a locale writes decimal commas (``12,5``), and a tab-separated file's notes may hold commas:
    pandas then cannot parse the rows at all (more fields than the header), and the refusal still
    names the separator, read from the header, rather than a generic parse error (session 20)."""
    path = tmp_path / "Pos0.csv"
    y, x, note = ("12,5", "40,25", "round, bright") if commas else ("12.5", "40.25", "round")
    rows = [
        ["fov_name", "track_id", "t", "y", "x", "task", "label", "note"],
        ["B/2/0", "1", "0", y, x, "infection", "infected", note],
    ]
    if per_fov:
        rows = [row[1:] for row in rows]
    path.write_text("".join(separator.join(row) + "\n" for row in rows))
    message = _refusal_of_pos0(path, per_fov)
    assert message.startswith(f"{path}: ")
    assert f"separated by {separator!r}" in message
    assert "commas" in message
    assert "cannot read" not in message


@pytest.mark.parametrize(
    "text",
    [
        "track_id,t,y,x,task,label\n1,0,3.5,4.5,infection,infected\n",
        "\ufefftrack_id,t,task,label\r\n1,0,infection,infected\r\n",  # a spreadsheet's BOM and CRLF
        '"Track ID","y, px",x,"note ""a"""\n1,2.0,3.0,n\n',  # quoted names holding commas, quotes
        "\n\ntrack_id,t,task,label\n1,0,infection,infected\n",  # blank lines before the header
        "track_id;t;task;label\n1;0;infection;infected\n",
        "",
    ],
)
def test_table_header_reads_the_names_pandas_reads(tmp_path, text):
    """The plan reads every FOV's file's header (are y, x given?) with :func:`table_header`, one line
    by the csv module rather than a pandas parser per file: the names are those pandas reads."""
    path = tmp_path / "Pos0.csv"
    path.write_bytes(text.encode())
    expected = [] if not text else [str(c) for c in pd.read_csv(path, nrows=0, index_col=False).columns]
    assert table_header(path) == expected
    parquet = tmp_path / "Pos0.parquet"
    if expected:
        pd.read_csv(path, index_col=False).to_parquet(parquet)
        assert table_header(parquet) == expected


@pytest.mark.parametrize("per_fov", [False, True])
def test_a_comma_separated_table_whose_column_names_hold_a_semicolon_is_refused_as_lacking_columns(
    tmp_path, per_fov
):
    """A comma-separated table of three columns in the user's own words, one name holding a ';'
    (``State; note``): its separator is right, so the refusal names the missing columns, not the
    separator (the header split on ';' gives no column of either layout)."""
    path = tmp_path / "Pos0.csv"
    path.write_text("Track ID,Frame,State; note\n1,0,infected; round\n")
    message = _refusal_of_pos0(path, per_fov)
    assert message.startswith(f"{path}: ")
    assert "lacks columns" in message
    assert "['Track ID', 'Frame', 'State; note']" in message
    assert "separated by" not in message
