"""TIFF / OME-TIFF files as a dataset source: the tiny simulated plate written out in the forms other
acquisition software writes, converted back, must be the same plate voxel for voxel, with the same
channels, FOVs and sampling; and what cannot be converted is refused naming the file and the key."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tifffile
from iohub.ngff import open_ome_zarr
from plate_helpers import assert_image_layers_bracket_their_data, assert_positions_copy_the_root
from pydantic import ValidationError
from report_helpers import qc_and_first_page

from dynaclr.config.convert import TiffSourceConfig
from dynaclr.config.workflow import DatasetConfig
from dynaclr.convert import (
    ConvertTiffInputs,
    ConvertTiffOutputs,
    convert_tiff,
    find_tiff_files,
    first_fov_files,
    index_tiff_files,
    layout_from_headers,
    read_first_tiff_header,
    read_tiff_sampling,
    stage as convert_stage,
    tiff_layout,
    to_tczyx,
)
from dynaclr.convert.stage import MAX_TEXTS_PER_MESSAGE, kept_warnings
from dynaclr.io import read_zarr_provenance, write_zarr_provenance
from dynaclr.io.plate import PlateSampling, read_fov_record, read_plate_layout
from dynaclr.qc import QcTableInputs

#: What a PlateSampling holds (a PlateLayout holds it too).
SAMPLING_FIELDS = [field.name for field in dataclasses.fields(PlateSampling)]
#: What '{position}' matches for each FOV of the tiny plate, and back.
POSITION_OF = {"A/1/0": "A1-site0", "B/1/0": "B1-site0"}
POSITIONS = {position: fov for fov, position in POSITION_OF.items()}


def raw_images(plate: Path) -> dict[str, np.ndarray]:
    """Each FOV's ``(T, C, Z, Y, X)`` image."""
    with open_ome_zarr(plate, layout="hcs", mode="r") as store:
        return {name: np.asarray(position["0"][:]) for name, position in store.positions()}


@pytest.fixture(scope="module")
def tiny_images(tiny_plate: dict[str, Path]) -> dict[str, np.ndarray]:
    return raw_images(tiny_plate["plate"])


def write_ome_per_position(root: Path, images: dict[str, np.ndarray], plate: Path) -> None:
    """Form (a): one OME-TIFF per position, TCZYX, with channel names and sampling."""
    layout = read_plate_layout(plate)
    for fov, image in images.items():
        tifffile.imwrite(
            root / "tiffs" / f"{POSITION_OF[fov]}.ome.tif",
            image,
            metadata={
                "axes": "TCZYX",
                "Channel": {"Name": list(layout.channel_names)},
                "PhysicalSizeX": layout.geometry.pixel_size_um,
                "PhysicalSizeY": layout.geometry.pixel_size_um,
                "PhysicalSizeZ": layout.geometry.z_step_um,
                "TimeIncrement": layout.time_interval_minutes,
                "TimeIncrementUnit": "min",
            },
        )


def write_plain_per_time_point(root: Path, images: dict[str, np.ndarray]) -> None:
    """Form (b): one plain TIFF (no metadata) per position and time point, CZYX, t zero-padded."""
    for fov, image in images.items():
        for t, frame in enumerate(image):
            path = root / "tiffs" / POSITION_OF[fov] / f"img_t{t:03d}.tif"
            path.parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(path, frame, metadata=None)


def plain_config(plate: Path, **changes: Any) -> TiffSourceConfig:
    layout = read_plate_layout(plate)
    return TiffSourceConfig.model_validate(
        {
            "files": "tiffs/{position}/img_t{t}.tif",
            "positions": POSITIONS,
            "axes": "CZYX",
            "channel_names": list(layout.channel_names),
            "time_interval_minutes": layout.time_interval_minutes,
            "pixel_size_um": layout.geometry.pixel_size_um,
            "z_step_um": layout.geometry.z_step_um,
            **changes,
        }
    )


def convert(config: TiffSourceConfig, out: Path) -> Path:
    """Plan (headers only) and convert, as the workflow does; returns the plate."""
    files = find_tiff_files(config)
    planned = tiff_layout(config, files, out)
    convert_tiff(config, ConvertTiffInputs(tiffs=tuple(files)), ConvertTiffOutputs(plate=out))
    assert read_plate_layout(out) == planned, "the plate is not the one planned from the headers"
    return out


def assert_same_plate(converted: Path, expected: dict[str, np.ndarray], reference: Path) -> None:
    images = raw_images(converted)
    assert list(images) == list(expected)
    for fov, image in expected.items():
        assert images[fov].dtype == image.dtype
        np.testing.assert_array_equal(images[fov], image, err_msg=fov)
    got, want = read_plate_layout(converted), read_plate_layout(reference)
    assert got.channel_names == want.channel_names
    assert got.geometry == want.geometry
    assert got.time_interval_minutes == want.time_interval_minutes
    provenance = read_zarr_provenance(converted, "raw_plate")
    assert (provenance.kind, provenance.stage) == ("raw_plate", "convert_tiff")
    assert_positions_copy_the_root(converted)


def test_one_ome_tiff_per_position_converts_to_the_same_plate(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiffs").mkdir()
    write_ome_per_position(tmp_path, tiny_images, tiny_plate["plate"])
    config = TiffSourceConfig(files="tiffs/{position}.ome.tif", positions=POSITIONS)
    plate = convert(config, tmp_path / "raw.zarr")
    assert_same_plate(plate, tiny_images, tiny_plate["plate"])
    for fov_name in tiny_images:
        assert_image_layers_bracket_their_data(plate / fov_name)


def test_plain_tiffs_per_time_point_convert_with_metadata_from_the_config(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_plain_per_time_point(tmp_path, tiny_images)
    plate = convert(plain_config(tiny_plate["plate"]), tmp_path / "raw.zarr")
    assert_same_plate(plate, tiny_images, tiny_plate["plate"])


def test_2d_movies_convert_as_one_slice(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    """(c) One channel, one slice: YX files per time point (no metadata), and ImageJ TYX movies
    whose spacing, frame interval and resolution give the sampling."""
    monkeypatch.chdir(tmp_path)
    layout = read_plate_layout(tiny_plate["plate"])
    nuclei = layout.channel_names.index("Nuclei")
    movies = {fov: image[:, nuclei : nuclei + 1, 2:3] for fov, image in tiny_images.items()}
    pixel = layout.geometry.pixel_size_um
    for fov, movie in movies.items():
        (tmp_path / "yx").mkdir(exist_ok=True)
        for t in range(movie.shape[0]):
            tifffile.imwrite(tmp_path / "yx" / f"{POSITION_OF[fov]}_{t}.tif", movie[t, 0, 0])
        (tmp_path / "tyx").mkdir(exist_ok=True)
        tifffile.imwrite(
            tmp_path / "tyx" / f"{POSITION_OF[fov]}.tif",
            movie[:, 0, 0],
            imagej=True,
            resolution=(1 / pixel, 1 / pixel),
            metadata={"axes": "TYX", "finterval": layout.geometry.time_interval_s, "unit": "um"},
        )
    per_frame = TiffSourceConfig(
        files="yx/{position}_{t}.tif",
        positions=POSITIONS,
        channel_names=["Nuclei"],
        time_interval_minutes=layout.time_interval_minutes,
        pixel_size_um=pixel,
    )
    movie = TiffSourceConfig(files="tyx/{position}.tif", positions=POSITIONS, channel_names=["Nuclei"])
    for config, out in ((per_frame, "yx.zarr"), (movie, "tyx.zarr")):
        images = raw_images(convert(config, tmp_path / out))
        assert list(images) == list(movies)
        for fov, expected in movies.items():
            np.testing.assert_array_equal(images[fov], expected, err_msg=f"{out} {fov}")
        converted = read_plate_layout(tmp_path / out)
        assert converted.channel_names == ("Nuclei",)
        assert converted.shape_tczyx == (layout.n_frames, 1, 1, *layout.shape_tczyx[3:])
        assert converted.time_interval_minutes == pytest.approx(layout.time_interval_minutes, rel=1e-6)
        assert converted.geometry.pixel_size_um == pytest.approx(pixel, rel=1e-6)


@pytest.mark.parametrize(
    ("tunit", "minutes"),
    [
        (None, 5 / 60),
        ("sec", 5 / 60),
        ("min", 5.0),
        ("hr", 300.0),
        ("Sec", 5 / 60),
        (" Min ", 5.0),
        ("Hours", 300.0),
        ("us", 5e-6 / 60),
        ("\\u00B5s", 5e-6 / 60),
        ("frame", None),
    ],
)
def test_an_imagej_frame_interval_is_read_in_its_time_unit(
    tunit: str | None, minutes: float | None, tmp_path: Path, monkeypatch
) -> None:
    """ImageJ writes ``finterval`` in its time unit ``tunit`` (none where it is seconds): an interval of
    5 min is not 5 s, so a config stating 5 min is not refused against a misread header. An interval in
    a unit not listed is not read (the config's, or none); a unit name is looked up in any case (ImageJ
    writes "Sec", "Min", "Hours" and escapes µs), and the error names a unit not read."""
    monkeypatch.chdir(tmp_path)
    metadata = {"axes": "TYX", "finterval": 5.0, "unit": "um"} | ({"tunit": tunit} if tunit else {})
    tifffile.imwrite(tmp_path / "Pos0.tif", np.zeros((3, 8, 8), np.uint8), imagej=True, metadata=metadata)
    config = TiffSourceConfig(files="{position}.tif", channel_names=["GFP"], pixel_size_um=1)
    if minutes is None:
        unit_not_read = r"gives no time_interval_minutes \(its frame interval in unit 'frame' not read"
        with pytest.raises(ValueError, match=unit_not_read):
            read_tiff_sampling(config)
        minutes = 7.0  # the config's, compared with nothing
    else:
        assert read_tiff_sampling(config).time_interval_minutes == pytest.approx(minutes)
    stated = config.model_copy(update={"time_interval_minutes": minutes})
    layout = tiff_layout(stated, find_tiff_files(stated), "raw.zarr")
    assert layout.time_interval_minutes == pytest.approx(minutes)


def test_default_fov_names_are_well_a1_and_sorted_naturally(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("Pos10", "Pos2", "Pos0"):
        tifffile.imwrite(tmp_path / f"{name}.tif", np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    config = TiffSourceConfig(
        files="{position}.tif", axes="TYX", channel_names=["GFP"], time_interval_minutes=5, pixel_size_um=1
    )
    layout = tiff_layout(config, find_tiff_files(config), "raw.zarr")
    assert layout.fov_names == ("A/1/Pos0", "A/1/Pos2", "A/1/Pos10")
    assert layout.shape_tczyx == (3, 1, 1, 8, 8)


def test_a_tiff_stating_an_implausible_size_is_refused_unless_the_config_replaces_it(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """A 100x objective's 65 nm pixel saved by ImageJ as a resolution of 1/65 pixel per micron was read
    as a 65 µm pixel (every cell sub-pixel in the plate written), with exit 0; a z step of 2000 written
    in µm (OME ``PhysicalSizeZ``) as 2 mm. A size outside the bounds of live-cell microscopy (the config
    keys' rule) is refused when the files are read (the dry run), naming the file, the value, the unit
    read and the fix; the config's value takes its place where it gives one, with a warning."""
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite(
        tmp_path / "Pos0.tif",
        np.zeros((3, 8, 8), np.uint8),
        imagej=True,
        resolution=(1 / 65, 1 / 65),
        metadata={"axes": "TYX", "finterval": 60.0, "unit": "micron"},
    )
    config = TiffSourceConfig(files="{position}.tif", channel_names=["GFP"])
    with pytest.raises(ValueError) as info:
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    assert str(info.value) == (
        "Pos0.tif: its metadata gives pixel_size_um = 65 µm (in its unit 'micron'): expected a pixel size "
        "between 0.02 and 20 µm (live-cell microscopy), found 65 µm: 65 looks like nanometres (0.065 µm); "
        "give tiff.pixel_size_um (it takes the metadata's place), or correct the files' metadata so that the "
        "unit is nanometres, or the value is 0.065 µm"
    )
    with pytest.raises(ValueError, match="its metadata gives pixel_size_um = 65 µm"):
        read_tiff_sampling(config)  # a job's reading
    replaced = config.model_copy(update={"pixel_size_um": 0.065})
    layout = tiff_layout(replaced, find_tiff_files(replaced), "raw.zarr")
    assert layout.geometry.pixel_size_um == 0.065
    assert (
        "pixel_size_um = 65 µm, outside the bounds of live-cell microscopy: tiff.pixel_size_um" in caplog.text
    )
    write_ome_file(tmp_path / "ome" / "Pos0.ome.tif", (2, 1, 3, 8, 8), 0.65, z_step_um=2000.0)
    ome = TiffSourceConfig(files="ome/{position}.ome.tif")
    with pytest.raises(
        ValueError, match=r"z_step_um = 2000 µm \(in its unit 'µm'\): expected a z step between"
    ):
        tiff_layout(ome, find_tiff_files(ome), "raw.zarr")


def test_a_one_slice_tiff_is_not_refused_over_a_z_step_no_stage_reads(tmp_path: Path) -> None:
    """A one-slice OME-TIFF stating a z step outside the bounds (2000 or 0.01 µm) was refused, though
    nothing reads the z step of one slice (a plate of one slice is not refused over it): its metadata's
    z step is treated as absent, the config's (or 1 µm) taken."""
    for z_step in (2000.0, 0.01):
        folder = tmp_path / f"z{z_step:g}"
        write_ome_file(folder / "Pos0.ome.tif", (2, 1, 1, 8, 8), 0.65, z_step_um=z_step)
        config = TiffSourceConfig(files=f"{folder}/{{position}}.ome.tif")
        layout = tiff_layout(config, find_tiff_files(config), "raw.zarr")
        assert layout.geometry.z_step_um == 1.0
        assert layout.geometry.pixel_size_um == 0.65
        given = config.model_copy(update={"z_step_um": 3.0})
        assert tiff_layout(given, find_tiff_files(given), "raw.zarr").geometry.z_step_um == 3.0


def write_ome_file(
    path: Path, shape_tczyx: tuple[int, ...], pixel_size_um: float | None, z_step_um: float = 2.0
) -> None:
    """An OME-TIFF of zeros with channel GFP, a ``z_step_um`` z step, 5 min between frames and
    ``pixel_size_um`` (none stated when None)."""
    sizes = {"PhysicalSizeX": pixel_size_um, "PhysicalSizeY": pixel_size_um} if pixel_size_um else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        path,
        np.zeros(shape_tczyx, np.uint16),
        metadata={
            "axes": "TCZYX",
            "Channel": {"Name": ["GFP"]},
            "PhysicalSizeZ": z_step_um,
            "TimeIncrement": 5.0,
            "TimeIncrementUnit": "min",
            **sizes,
        },
    )


def record_header_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files whose header dynaclr reads from now on."""
    import dynaclr.convert.tiff as tiff_module

    read: list[Path] = []
    read_header = tiff_module.read_tiff_header

    def recording(path: str | Path, *args: Any, **kwargs: Any) -> Any:
        read.append(Path(path))
        return read_header(path, *args, **kwargs)

    monkeypatch.setattr(tiff_module, "read_tiff_header", recording)
    return read


def assert_sampling_of_the_layout(config: TiffSourceConfig, monkeypatch: pytest.MonkeyPatch) -> Path:
    """read_tiff_sampling gives what tiff_layout gives, from one header; returns the file read."""
    layout = tiff_layout(config, find_tiff_files(config), "raw.zarr")
    read = record_header_reads(monkeypatch)
    sampling = read_tiff_sampling(config)
    assert len(read) == 1, read
    assert sampling.geometry == layout.geometry
    assert sampling.time_interval_minutes == layout.time_interval_minutes
    assert sampling.n_frames == layout.n_frames
    assert (sampling.unscaled_position, sampling.time_interval_stated, sampling.supplied) == (
        layout.unscaled_position,
        layout.time_interval_stated,
        layout.supplied,
    )
    return read[0]


def test_one_header_gives_the_layouts_sampling_and_frames(tmp_path: Path, monkeypatch) -> None:
    """What a job needs of a TIFF dataset (sampling, time points) comes from the first FOV's first
    file (the plate's order: natural, by FOV name), with tiff_layout's values: per position or per time
    point, from metadata within the tolerance of the other files' or from the config."""
    monkeypatch.chdir(tmp_path)
    # one OME-TIFF per position; Pos2 is the first FOV (natural order), its pixel size rounded otherwise
    for name, pixel in (("Pos10", 0.65), ("Pos2", 0.65 * (1 + 1e-4)), ("Pos0x", 0.65)):
        write_ome_file(tmp_path / f"{name}.ome.tif", (4, 1, 2, 8, 8), pixel)
    per_position = TiffSourceConfig(
        files="{position}.ome.tif", positions={"Pos10": "B/1/0", "Pos2": "A/1/0", "Pos0x": "C/1/0"}
    )
    assert assert_sampling_of_the_layout(per_position, monkeypatch) == Path("Pos2.ome.tif")
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    # plain TIFFs of one time point each, unpadded t (t10 after t9); sampling from the config
    for position in ("Pos1", "Pos0"):
        (tmp_path / position).mkdir()
        for t in range(11):
            tifffile.imwrite(tmp_path / position / f"t{t}.tif", np.zeros((2, 8, 8), np.uint8), metadata=None)
    per_time_point = TiffSourceConfig(
        files="{position}/t{t}.tif",
        axes="ZYX",
        channel_names=["GFP"],
        time_interval_minutes=3,
        pixel_size_um=1,
        z_step_um=2,
    )
    assert assert_sampling_of_the_layout(per_time_point, monkeypatch) == Path("Pos0/t0.tif")


@pytest.mark.parametrize(
    ("files", "positions"),
    [
        ("{position}/t{t}.tif", None),  # a folder per position
        ("{position}/t{t}.tif", {"Pos1": "B/1/0", "Pos2": "A/1/0", "Pos10": "C/1/0"}),  # Pos2 first
        ("{position}_t{t}.tif", None),  # positions in the file names: every file listed
        ("{position}_t{t}.tif", {"Pos1": "B/1/0", "Pos2": "A/1/0", "Pos10": "C/1/0"}),  # named: Pos2's
        ("{position}.tif", {"Pos1": "B/1/0", "Pos2": "A/1/0", "Pos10": "C/1/0"}),  # named: no listing
    ],
)
def test_a_job_reads_the_first_fov_as_the_whole_plate_orders_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: str, positions: dict[str, str] | None
) -> None:
    """first_fov_files gives the files index_tiff_files puts first; where '{position}' names folders it
    lists the folders and then the first FOV's files only, passing over a folder without files that
    sorts first, a folder no FOV is named after and one of unrelated files (which the dry run's
    find_tiff_files passes over, and refuses once it holds a TIFF file: a position would be left
    out). The layout from the first header (a job's) is the layout from every header (the dry
    run's), and so is its sampling."""
    import glob

    import dynaclr.convert.tiff as tiff_module

    monkeypatch.chdir(tmp_path)
    for position in ("Pos10", "Pos2", "Pos1"):
        for t in range(3):
            path = tmp_path / files.format(position=position, t=t)
            path.parent.mkdir(exist_ok=True)
            tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint8), metadata=None)
    config = TiffSourceConfig(
        files=files,
        positions=positions,
        axes="ZYX",
        channel_names=["GFP"],
        time_interval_minutes=3,
        pixel_size_um=1,
        z_step_um=2,
    )
    index = index_tiff_files(config, find_tiff_files(config))
    (tmp_path / "Pos0").mkdir(exist_ok=True)  # first in plate order, but no file
    (tmp_path / "not a position").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("unrelated")
    if (
        "/" in files
    ):  # folders holding no file named as the pattern's are no positions; one holding one is refused
        assert find_tiff_files(config) == sorted(
            path for paths in index.files.values() for path in paths.values()
        )
        tifffile.imwrite(tmp_path / "notes" / "t_0.tif", np.zeros((8, 8), np.uint8))  # t{t}.tif but 't_0'
        with pytest.raises(
            ValueError, match=r"the folders \['notes'\] \(of 6 .*but for their digits, and no file"
        ):
            find_tiff_files(config)
        (tmp_path / "notes" / "t_0.tif").unlink()
    first = index.fov_names[0]
    listed: list[str] = []

    def listing(pattern: str) -> list[str]:
        found = glob.glob(pattern)
        listed.extend(path for path in found if Path(path).is_file())
        return found

    monkeypatch.setattr(tiff_module, "glob", type("Glob", (), {"glob": listing, "escape": glob.escape}))
    assert first_fov_files(config).files == {first: index.files[first]}
    if "/" in files or positions is not None:
        assert sorted(map(Path, listed)) == sorted(index.files[first].values())
    else:
        assert len(listed) == len(index.paths)
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    layout = tiff_layout(config, index.paths, "raw.zarr")  # the files found before the extra folders
    read = record_header_reads(monkeypatch)
    assert layout_from_headers(config, index, read_first_tiff_header(config, index), "raw.zarr") == layout
    assert read == [next(iter(index.files[first].values()))]
    sampling = read_tiff_sampling(config)
    assert {key: getattr(sampling, key) for key in SAMPLING_FIELDS} == {
        key: getattr(layout, key) for key in SAMPLING_FIELDS
    }


def test_a_job_refuses_a_first_named_position_without_files(tmp_path: Path, monkeypatch) -> None:
    """With ``positions``, a job takes the first FOV's position from the config: where no file is that
    position's (only another's, which an ambiguous pattern lets through its glob) it is refused naming
    the position, its FOV and the pattern, not read as another position's files."""
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite(tmp_path / "Pos1_t2_t0.tif", np.zeros((8, 8), np.uint8), metadata=None)
    config = TiffSourceConfig(
        files="{position}_t{t}.tif",
        positions={"Pos1": "A/1/0", "Pos1_t2": "A/1/1"},
        axes="YX",
        channel_names=["GFP"],
        time_interval_minutes=3,
        pixel_size_um=1,
    )
    with pytest.raises(ValueError, match=r"position 'Pos1' \(FOV A/1/0.*no file matches '\{position\}_t"):
        first_fov_files(config)


def test_a_file_stating_a_sampling_the_first_file_does_not_is_refused(tmp_path: Path, monkeypatch) -> None:
    """A later file whose metadata states a value that the first file and the config do not: the files
    disagree (and a job, which reads only the first file's header, would not find it); refused naming
    both files and the key; with the key in the config, the files' values are checked against it."""
    monkeypatch.chdir(tmp_path)
    write_ome_file(tmp_path / "Pos0.ome.tif", (2, 1, 2, 8, 8), None)
    write_ome_file(tmp_path / "Pos1.ome.tif", (2, 1, 2, 8, 8), 0.5)
    config = TiffSourceConfig(files="{position}.ome.tif")
    with pytest.raises(
        ValueError,
        match=r"Pos1\.ome\.tif: its metadata gives pixel_size_um = 0\.5, the first file Pos0\.ome\.tif none;"
        r".*give tiff\.pixel_size_um",
    ):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    given = config.model_copy(update={"pixel_size_um": 0.5})
    assert tiff_layout(given, find_tiff_files(given), "raw.zarr").geometry.pixel_size_um == 0.5
    assert read_tiff_sampling(given).geometry.pixel_size_um == 0.5


@pytest.mark.parametrize(
    ("axes", "shape", "expected"),
    [
        ("TCZYX", (2, 3, 4, 5, 6), (2, 3, 4, 5, 6)),
        ("CZYX", (3, 4, 5, 6), (1, 3, 4, 5, 6)),
        ("ZTYX", (4, 2, 5, 6), (2, 1, 4, 5, 6)),
        ("YX", (5, 6), (1, 1, 1, 5, 6)),
        ("XY", (6, 5), (1, 1, 1, 5, 6)),
    ],
)
def test_to_tczyx_orders_and_adds_axes(axes: str, shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    image = np.arange(np.prod(shape)).reshape(shape)
    converted = to_tczyx(image, axes)
    assert converted.shape == expected
    index = {axis: 1 for axis in axes}
    source = tuple(index[axis] for axis in axes)
    target = tuple(index.get(axis, 0) for axis in "TCZYX")
    assert converted[target] == image[source]


# ------------------------------------------------------------------ what is refused
def test_metadata_and_config_that_disagree_are_refused(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiffs").mkdir()
    write_ome_per_position(tmp_path, tiny_images, tiny_plate["plate"])
    base = {"files": "tiffs/{position}.ome.tif", "positions": POSITIONS}
    for key, value in (("pixel_size_um", 0.5), ("time_interval_minutes", 10.0), ("z_step_um", 1.0)):
        config = TiffSourceConfig.model_validate({**base, key: value})
        with pytest.raises(ValueError, match=rf"tiffs/A1-site0\.ome\.tif: .*tiff\.{key} = {value:g}"):
            tiff_layout(config, find_tiff_files(config), "raw.zarr")
    config = TiffSourceConfig.model_validate({**base, "channel_names": ["a", "b", "c", "d"]})
    with pytest.raises(ValueError, match=r"A1-site0\.ome\.tif: .*tiff\.channel_names"):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    # agreeing within 1e-3: the config's value is the plate's (metadata read or not, one plate)
    agreeing = TiffSourceConfig.model_validate({**base, "pixel_size_um": 0.65 * (1 + 1e-4)})
    layout = tiff_layout(agreeing, find_tiff_files(agreeing), "raw.zarr")
    assert layout.geometry.pixel_size_um == 0.65 * (1 + 1e-4)


def test_a_missing_time_point_is_refused_naming_position_and_time(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_plain_per_time_point(tmp_path, tiny_images)
    (tmp_path / "tiffs" / "B1-site0" / "img_t004.tif").unlink()
    (tmp_path / "tiffs" / "A1-site0" / "img_t011.tif").unlink()
    config = plain_config(tiny_plate["plate"])
    with pytest.raises(
        ValueError,
        match=r"every position needs a file for every time point 0\.\.11; 2 files are missing: "
        r"tiffs/A1-site0/img_t011\.tif \(time point 11\); tiffs/B1-site0/img_t004\.tif \(time point 4\)$",
    ):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")


def test_files_of_different_shapes_are_refused_naming_the_file(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_plain_per_time_point(tmp_path, tiny_images)
    odd = tmp_path / "tiffs" / "B1-site0" / "img_t003.tif"
    tifffile.imwrite(odd, tiny_images["B/1/0"][3, :, :, :90], metadata=None)
    config = plain_config(tiny_plate["plate"])
    with pytest.raises(ValueError, match=r"one shape, axes and type.*tiffs/B1-site0/img_t003\.tif: shape"):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")


def test_missing_channel_names_and_sampling_are_asked_for(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_plain_per_time_point(tmp_path, tiny_images)
    for key, expected in (
        ("channel_names", r"tiffs/A1-site0/img_t000\.tif: .*give tiff\.channel_names"),
        (
            "pixel_size_um",
            r"tiffs/A1-site0/img_t000\.tif: its metadata gives no pixel_size_um.*tiff\.pixel_size",
        ),
        ("axes", r"tiffs/A1-site0/img_t000\.tif: its 20 pages carry no metadata saying whether.*tiff\.axes"),
    ):
        config = plain_config(tiny_plate["plate"], **{key: None})
        with pytest.raises(ValueError, match=expected):
            tiff_layout(config, find_tiff_files(config), "raw.zarr")
    for t in range(2):
        tifffile.imwrite(tmp_path / f"Pos0_{t}.tif", np.zeros((8, 8), np.uint16))
    no_names = TiffSourceConfig(files="{position}_{t}.tif", time_interval_minutes=1)
    with pytest.raises(
        ValueError, match=r"Pos0_0\.tif: no channel names in its metadata; give tiff\.channel_names"
    ):
        tiff_layout(no_names, find_tiff_files(no_names), "raw.zarr")
    two_names = no_names.model_copy(update={"channel_names": ["GFP", "RFP"]})
    with pytest.raises(
        ValueError, match=r"Pos0_0\.tif: holds 1 channel\(s\), but tiff\.channel_names names 2"
    ):
        tiff_layout(two_names, find_tiff_files(two_names), "raw.zarr")


def test_unsafe_or_unnamed_positions_are_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("Pos 0", "Pos.1"):
        tifffile.imwrite(tmp_path / f"{name}.tif", np.zeros((8, 8), np.uint16))
    config = TiffSourceConfig(
        files="{position}.tif", channel_names=["GFP"], time_interval_minutes=1, pixel_size_um=1
    )
    unsafe = r"tiff\.positions: the position names \['Pos 0', 'Pos\.1'\].*'positions'"
    with pytest.raises(ValueError, match=unsafe):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    named = config.model_copy(update={"positions": {"Pos 0": "A/1/0"}})
    unnamed = r"tiff\.positions: positions \['Pos\.1'\] have files but no FOV name"
    with pytest.raises(ValueError, match=unnamed):
        tiff_layout(named, find_tiff_files(named), "raw.zarr")
    renamed = config.model_copy(update={"positions": {"Pos 0": "A/1/0", "Pos.1": "B/2/0"}})
    assert tiff_layout(renamed, find_tiff_files(renamed), "raw.zarr").fov_names == ("A/1/0", "B/2/0")


def assert_refused_as_reordered(config: TiffSourceConfig, path: str, found: str) -> None:
    """``config``'s tiff.axes are refused as the metadata's axes (``found``, a regex) in another order."""
    with pytest.raises(
        ValueError,
        match=rf"{path}: its metadata gives the axes {found}, the config tiff\.axes '{config.axes}': the "
        r"same axes in another order",
    ):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")


def test_axes_that_contradict_the_metadata_are_refused(tmp_path: Path, monkeypatch) -> None:
    """Z and C of the same size: tiff.axes 'CZYX' over metadata 'ZCYX' would swap slices and channels."""
    monkeypatch.chdir(tmp_path)
    image = np.arange(2 * 2 * 8 * 10, dtype=np.uint16).reshape(2, 2, 8, 10)
    metadata = {"axes": "ZCYX", "Channel": {"Name": ["a", "b"]}, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    tifffile.imwrite(tmp_path / "Pos0.ome.tif", image, metadata={**metadata, "PhysicalSizeZ": 1.0})
    base = {"files": "{position}.ome.tif", "time_interval_minutes": 1}
    config = TiffSourceConfig.model_validate({**base, "axes": "CZYX"})
    assert_refused_as_reordered(config, r"Pos0\.ome\.tif", r"'ZCYX' \(shape \(2, 2, 8, 10\)\)")
    for agreeing in ({**base, "axes": "ZCYX"}, base):
        config = TiffSourceConfig.model_validate(agreeing)
        assert tiff_layout(config, find_tiff_files(config), "raw.zarr").shape_tczyx == (1, 2, 2, 8, 10)


def test_axes_relabel_metadata_that_names_other_axes(tmp_path: Path, monkeypatch, caplog) -> None:
    """tifffile writes a stack without axes as 'CYX' (and Fiji a plain time-lapse as slices): tiff.axes
    'TYX' names what the file holds, with a warning."""
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite(tmp_path / "Pos0.tif", np.zeros((5, 8, 10), dtype=np.uint16), imagej=True)
    config = TiffSourceConfig.model_validate(
        {
            "files": "{position}.tif",
            "time_interval_minutes": 1,
            "axes": "TYX",
            "channel_names": ["GFP"],
            "pixel_size_um": 0.5,
        }
    )
    with caplog.at_level("WARNING", logger="dynaclr.convert.tiff"):
        layout = tiff_layout(config, find_tiff_files(config), "raw.zarr")
    assert layout.shape_tczyx == (5, 1, 1, 8, 10)
    assert "tiff.axes 'TYX' relabels the axes" in caplog.text


@pytest.mark.parametrize(("written", "given"), [("ZCYX", "CZYX"), ("TCYX", "CTYX")])
def test_axes_that_reorder_tifffiles_own_metadata_are_refused(
    written: str, given: str, tmp_path: Path, monkeypatch
) -> None:
    """tifffile (and napari, scikit-image through it) writes the axes it is given into its own
    ("shaped") metadata, which gives the default axes: tiff.axes naming them in another order swapped
    slices (or time points) and channels of the same size with exit 0, as OME metadata would not."""
    monkeypatch.chdir(tmp_path)
    image = np.arange(2 * 2 * 8 * 10, dtype=np.uint16).reshape(2, 2, 8, 10)
    tifffile.imwrite(tmp_path / "Pos0.tif", image, metadata={"axes": written})
    base = {
        "files": "{position}.tif",
        "channel_names": ["a", "b"],
        "time_interval_minutes": 1,
        "pixel_size_um": 0.5,
        "z_step_um": 1,
    }
    config = TiffSourceConfig.model_validate({**base, "axes": given})
    assert_refused_as_reordered(config, r"Pos0\.tif", rf"'{written}' \(shape \(2, 2, 8, 10\)\)")
    for agreeing in ({**base, "axes": written}, base):
        config = TiffSourceConfig.model_validate(agreeing)
        converted = convert(config, tmp_path / f"{len(agreeing)}.zarr")
        np.testing.assert_array_equal(raw_images(converted)["A/1/Pos0"], to_tczyx(image, written))


@pytest.mark.parametrize(("kind", "written"), [("imagej", "ZYX"), ("imagej", "TYX"), ("ome", "TYX")])
def test_axes_that_split_the_metadatas_axes_relabel_them_with_a_warning(
    kind: str, written: str, tmp_path: Path, monkeypatch, caplog
) -> None:
    """Fiji saves a two-channel time-lapse not made a hyperstack as slices or frames (ImageJ 'ZYX' or
    'TYX', channels interleaved; an OME 'TYX' file likewise): tiff.axes 'TCYX' with two channel names
    splits them into time points and channels, relabelling what the metadata says as 'other letters'
    do, with a warning (it was silent). The C the metadata gives as 1 is not taken as a size-1
    dimension where tiff.channel_names name two (the frames converted as 6 time points of one
    channel, or were refused)."""
    monkeypatch.chdir(tmp_path)
    movie = np.arange(3 * 2 * 8 * 10, dtype=np.uint16).reshape(3, 2, 8, 10)
    suffix = ".ome.tif" if kind == "ome" else ".tif"
    writer = {"ome": True} if kind == "ome" else {"imagej": True}
    frames = movie.reshape(6, 8, 10)
    tifffile.imwrite(tmp_path / f"Pos0{suffix}", frames, **writer, metadata={"axes": written})
    config = TiffSourceConfig.model_validate(
        {
            "files": f"{{position}}{suffix}",
            "axes": "TCYX",
            "channel_names": ["a", "b"],
            "time_interval_minutes": 1,
            "pixel_size_um": 0.5,
        }
    )
    with caplog.at_level("WARNING", logger="dynaclr.convert.tiff"):
        converted = convert(config, tmp_path / "raw.zarr")
    np.testing.assert_array_equal(raw_images(converted)["A/1/Pos0"], movie[:, :, None])
    relabelled = f"tiff.axes 'TCYX' relabels the axes {written!r} its metadata gives (shape (6, 8, 10))"
    assert relabelled in caplog.text


def test_slices_without_a_z_step_are_asked_whether_they_are_time_points(tmp_path: Path, monkeypatch) -> None:
    """Fiji saves a time-lapse not made a hyperstack as slices (ImageJ 'ZYX', one frame, no spacing):
    the z step asked for would convert the movie as one frame of a z-stack (still images, exit 0), so
    the error says which tiff.axes reads the slices as time points; not where tiff.axes is given (it
    states what the slices are)."""
    monkeypatch.chdir(tmp_path)
    movie = np.arange(4 * 8 * 10, dtype=np.uint16).reshape(4, 8, 10)
    metadata = {"axes": "ZYX", "unit": "um"}
    tifffile.imwrite(tmp_path / "Pos0.tif", movie, imagej=True, resolution=(2, 2), metadata=metadata)
    base = {"files": "{position}.tif", "channel_names": ["GFP"], "time_interval_minutes": 1}
    config = TiffSourceConfig.model_validate(base)
    asked = (
        r"Pos0\.tif: its metadata gives no z_step_um \(its 4 slices and one time point: if the slices are "
        r"time points, give tiff\.axes 'TYX' instead\); give tiff\.z_step_um"
    )
    with pytest.raises(ValueError, match=asked):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    slices_config = TiffSourceConfig.model_validate({**base, "axes": "ZYX"})
    with pytest.raises(ValueError, match=r"gives no z_step_um; give tiff\.z_step_um") as refused:
        tiff_layout(slices_config, find_tiff_files(slices_config), "raw.zarr")
    assert "'TYX'" not in str(refused.value)
    movie_config = TiffSourceConfig.model_validate({**base, "axes": "TYX"})
    converted = convert(movie_config, tmp_path / "raw.zarr")
    np.testing.assert_array_equal(raw_images(converted)["A/1/Pos0"], movie[:, None, None])
    # files of one time point each ('{t}', here one file) take no T: the error asks for the z step only
    (tmp_path / "Pos0.tif").rename(tmp_path / "Pos0_t0.tif")
    per_time_point = TiffSourceConfig.model_validate({**base, "files": "{position}_t{t}.tif"})
    with pytest.raises(ValueError, match=r"gives no z_step_um; give tiff\.z_step_um") as refused:
        tiff_layout(per_time_point, find_tiff_files(per_time_point), "raw.zarr")
    assert "tiff.axes" not in str(refused.value)
    assert read_plate_layout(converted).time_interval_minutes == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"files": "tiffs/*.tif"}, r"'\{position\}' exactly once"),
        ({"files": "{position}/{position}.tif"}, r"'\{position\}' exactly once"),
        ({"files": "{position}_{w}.tif"}, r"placeholders \['\{w\}'\] are not known"),
        ({"files": "{position}_{c}_{c}.tif"}, r"'\{c\}' at most once"),
        ({"files": "{position}_{c}.tif", "axes": "CYX"}, "remove C from axes"),
        ({"files": "{position}_z{z}.tif", "axes": "ZYX"}, "remove Z from axes"),
        ({"axes": "TCZY"}, "with Y and X"),
        ({"axes": "TTYX"}, "each at most once"),
        ({"files": "{position}_{t}.tif", "axes": "TYX"}, "remove T from axes"),
        ({"positions": {"Pos0": "A/1"}}, r"\['A/1'\] are not 'row/column/fov'"),
        ({"positions": {"Pos0": "A/1/0", "Pos1": "A/1/0"}}, "given to more than one position"),
        ({"channel_names": ["GFP", "GFP"]}, "channel names must be unique"),
    ],
)
def test_config_errors_say_how_to_fix_them(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TiffSourceConfig.model_validate({"files": "{position}.tif", **changes})


def test_a_dataset_has_exactly_one_source() -> None:
    tiff = {"files": "{position}.tif"}
    assert DatasetConfig.model_validate({"tiff": tiff}).tiff == TiffSourceConfig(**tiff)
    for sources in ({"tiff": tiff, "plate": "p.zarr"}, {}):
        with pytest.raises(ValidationError, match=r"exactly one of 'simulate'.*'plate'.*'tiff'"):
            DatasetConfig.model_validate(sources)


@pytest.mark.parametrize(
    ("unit", "written", "read"),
    [("µm", 0.65, 0.65), ("μm", 0.65, 0.65), ("\\u00B5m", 0.65, 0.65), ("nm", 650.0, 0.65)],
    ids=["micro sign", "greek mu", "imagej escape", "nm"],
)
def test_ome_lengths_are_read_in_each_spelling_of_their_unit(
    unit: str, written: float, read: float, tmp_path: Path
) -> None:
    """OME-XML's micrometre is "µm" (U+00B5, the micro sign) by its schema, but writers also put "μm"
    (U+03BC, the Greek small letter mu: the two look alike): its pixel size and z step were not read,
    and the user asked for tiff.pixel_size_um though the file states it."""
    image = np.zeros((2, 1, 3, 8, 8), np.uint16)
    lengths = {f"PhysicalSize{axis}": written * (2 if axis == "Z" else 1) for axis in "XYZ"}
    units = {f"PhysicalSize{axis}Unit": unit for axis in "XYZ"}
    metadata = {"axes": "TCZYX", "Channel": {"Name": ["GFP"]}, "TimeIncrement": 5.0}
    tifffile.imwrite(tmp_path / "Pos0.ome.tif", image, metadata={**metadata, **lengths, **units})
    config = TiffSourceConfig(files=f"{tmp_path}/{{position}}.ome.tif")
    geometry = tiff_layout(config, find_tiff_files(config), "raw.zarr").geometry
    assert geometry.pixel_size_um == pytest.approx(read)
    assert geometry.z_step_um == pytest.approx(2 * read)


def write_one_slice_movie(path: Path, kind: str) -> np.ndarray:
    """A 2-frame, 3-channel, one-slice movie of distinct pixels as an OME-TIFF (axes TCZYX) or an
    ImageJ hyperstack (TZCYX) with 5 min between frames and 0.5 µm pixels; returns it as TCZYX."""
    image = np.arange(2 * 3 * 8 * 10, dtype=np.uint16).reshape(2, 3, 1, 8, 10)
    if kind == "ome":
        metadata = {
            "axes": "TCZYX",
            "Channel": {"Name": ["a", "b", "c"]},
            **{"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 5.0, "TimeIncrementUnit": "min"},
        }
        tifffile.imwrite(path, image, metadata=metadata)
    else:
        metadata = {"axes": "TZCYX", "unit": "um", "finterval": 300.0}
        hyperstack = image.transpose(0, 2, 1, 3, 4)
        tifffile.imwrite(path, hyperstack, imagej=True, resolution=(2.0, 2.0), metadata=metadata)
    return image


@pytest.mark.parametrize("kind", ["ome", "imagej"])
def test_axes_naming_a_size_one_dimension_the_metadata_gives_are_accepted(
    kind: str, tmp_path: Path, monkeypatch
) -> None:
    """tifffile drops the size-1 Z of a one-slice TCZYX movie (it reads TCYX): tiff.axes 'TCZYX', which
    names the file's axes as its metadata does, was refused ("size-1 dimensions dropped"). It converts
    to the same plate as without tiff.axes; axes that swap the metadata's axes of size above 1 are
    still refused."""
    monkeypatch.chdir(tmp_path)
    suffix = ".ome.tif" if kind == "ome" else ".tif"
    image = write_one_slice_movie(tmp_path / f"Pos0{suffix}", kind)
    names = {"channel_names": ["a", "b", "c"]} if kind == "imagej" else {}  # ImageJ names none
    base = {"files": f"{{position}}{suffix}", **names}
    for name, axes in (("given", {"axes": "TCZYX"}), ("moved", {"axes": "TZCYX"}), ("metadata", {})):
        config = TiffSourceConfig.model_validate({**base, **axes})
        converted = convert(config, tmp_path / f"{name}.zarr")
        np.testing.assert_array_equal(raw_images(converted)["A/1/Pos0"], image)
        layout = read_plate_layout(converted)
        assert (layout.time_interval_minutes, layout.geometry.pixel_size_um) == (5.0, 0.5)
    config = TiffSourceConfig.model_validate({**base, "axes": "CTZYX"})
    found = r"'\w+' \(shape \([\d, ]+\); 'TCYX' without those of size 1\)"
    assert_refused_as_reordered(config, rf"Pos0{re.escape(suffix)}", found)


def write_rgb_movie(path: Path, kind: str) -> np.ndarray:
    """A two-frame RGB movie of 97 x 131 pixels (samples per pixel 3, tifffile's 'TYXS') written as a
    plain TIFF, an ImageJ or an OME-TIFF with its sampling; returns its (T, C, Z, Y, X) image."""
    movie = np.arange(2 * 97 * 131 * 3, dtype=np.uint32).reshape(2, 97, 131, 3).astype(np.uint8)
    metadata: dict[str, Any] = {"axes": "TYXS"}
    if kind == "ome":
        metadata |= {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 60}
    writer = {"imagej": True, "resolution": (2, 2)} if kind == "imagej" else {}
    if kind == "imagej":
        metadata |= {"unit": "um", "finterval": 60}
    tifffile.imwrite(path, movie, photometric="rgb", metadata=metadata, **writer)
    return np.moveaxis(movie, -1, 1)[:, :, None]


@pytest.mark.parametrize("kind", ["plain", "imagej", "ome"])
@pytest.mark.parametrize("axes", ["TZYX", "TCYX", "TXYC", "TYX", "CYX"])
def test_axes_that_put_y_and_x_elsewhere_than_the_file_are_refused(
    kind: str, axes: str, tmp_path: Path, monkeypatch
) -> None:
    """An RGB file's samples are its last dimension (tifffile's 'TYXS'): tiff.axes 'TZYX' read its
    97 rows as slices of 131 x 3 pixels (and 'TXYC' transposed its images), with exit 0. tiff.axes
    must put Y and X where the file has them; the error for a file without axes suggests 'TYXC' (it
    suggested 'CZYX'), which converts the samples as channels."""
    monkeypatch.chdir(tmp_path)
    expected = write_rgb_movie(tmp_path / "Pos0.tif", kind)
    base = {"files": "{position}.tif", "time_interval_minutes": 1, "pixel_size_um": 0.5, "z_step_um": 1}
    names = {"channel_names": ["r", "g", "b"] if "C" in axes else ["bf"]}
    config = TiffSourceConfig.model_validate({**base, **names, "axes": axes})
    misplaced = (
        rf"Pos0\.tif: tiff\.axes '{axes}' does not put Y and X where the file has them: tifffile reads its "
        r"shape \(2, 97, 131, 3\) as 'TYXS' \(Y its 97 rows, X its 131 columns, S the samples of each "
        r"pixel \(RGB, in C\)\); give tiff\.axes with Y and X at those dimensions \(e\.g\. 'TYXC'\)"
    )
    with pytest.raises(ValueError, match=misplaced):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    rgb = TiffSourceConfig.model_validate({**base, "channel_names": ["r", "g", "b"]})
    with pytest.raises(ValueError, match=r"reads shape \(2, 97, 131, 3\) as 'TYXS'.*\(e\.g\. 'TYXC'\)"):
        tiff_layout(rgb, find_tiff_files(rgb), "raw.zarr")
    converted = convert(rgb.model_copy(update={"axes": "TYXC"}), tmp_path / "raw.zarr")
    np.testing.assert_array_equal(raw_images(converted)["A/1/Pos0"], expected)


@pytest.mark.parametrize(
    ("unit", "x_per_unit", "y_unit", "y_per_unit", "z_unit", "spacing"),
    [
        ("micron", 2.0, None, 2.0, "nm", 300.0),
        ("nm", 0.002, "micron", 2.0, "micron", 0.3),
        ("\\u00B5m", 2.0, "mm", 2000.0, "\\u00B5m", 0.3),
    ],
)
def test_an_imagej_y_and_z_unit_other_than_its_unit_are_read(
    unit: str,
    x_per_unit: float,
    y_unit: str | None,
    y_per_unit: float,
    z_unit: str,
    spacing: float,
    tmp_path: Path,
    monkeypatch,
) -> None:
    """ImageJ writes ``yunit`` and ``zunit`` where Y's or the slices' unit differs from ``unit`` (a
    0.3 µm z step as ``spacing=300`` in ``zunit=nm`` beside pixels in microns): both were read in
    ``unit``, so a 300 µm z step (or Y's pixel 1000 times X's) was refused as implausible, its fix
    saying to write the unit in nanometres it is written in. The 0.5 µm pixel and 0.3 µm z step are
    read."""
    monkeypatch.chdir(tmp_path)
    stack = np.arange(4 * 97 * 131, dtype=np.uint16).reshape(4, 97, 131)
    units = {"unit": unit, "zunit": z_unit} | ({"yunit": y_unit} if y_unit else {})
    metadata = {"axes": "ZYX", "spacing": spacing, **units}
    tifffile.imwrite(
        tmp_path / "Pos0.tif", stack, imagej=True, resolution=(x_per_unit, y_per_unit), metadata=metadata
    )
    config = TiffSourceConfig(files="{position}.tif", channel_names=["GFP"], time_interval_minutes=1)
    sampling = read_tiff_sampling(config)
    assert sampling.geometry.pixel_size_um == pytest.approx(0.5)
    assert sampling.geometry.z_step_um == pytest.approx(0.3)
    converted = convert(config, tmp_path / "raw.zarr")
    np.testing.assert_array_equal(raw_images(converted)["A/1/Pos0"], stack[None, None])


def test_axes_of_fewer_letters_than_the_pages_need_are_refused_at_planning(tmp_path: Path) -> None:
    """Six pages without shape metadata given tiff.axes 'YX' planned a single image (the job then
    failed reading shape (6, 32, 40) 'rewritten during the conversion'): axes must account for every
    page."""
    from dynaclr.convert.tiff import read_tiff_header

    path = tmp_path / "Pos0.tif"
    tifffile.imwrite(path, np.zeros((6, 32, 40), np.uint16), metadata=None)
    with pytest.raises(ValueError, match=r"'YX' would read 1 of its 6 pages; give one letter per dimension"):
        read_tiff_header(path, axes="YX")
    assert read_tiff_header(path, axes="TYX").shape == (6, 32, 40)


def test_a_file_of_more_dimensions_than_tczyx_gets_no_axes_that_cannot_be_given(tmp_path: Path) -> None:
    """An RGB z-stack time-lapse of channels ('TCZYXS') has six dimensions: the hint was tifffile's own
    'TCZYXS', which the config refuses."""
    from dynaclr.convert.tiff import read_tiff_header

    path = tmp_path / "Pos0.tif"
    tifffile.imwrite(
        path, np.zeros((2, 2, 2, 8, 8, 3), np.uint8), photometric="rgb", metadata={"axes": "TCZYXS"}
    )
    with pytest.raises(ValueError, match=r"no order of TCZYX fits its 6 dimensions") as refused:
        read_tiff_header(path)
    assert "e.g." not in str(refused.value)


def write_ome_delta_t_movie(
    path: Path,
    delta_t: list[float],
    unit: str = "s",
    channel_b: list[float] | None = None,
    time_increment_s: float | None = None,
) -> None:
    """An OME-TIFF movie of two channels (A, B) of 0.5 µm pixels whose frame interval only its planes'
    ``DeltaT`` state (in ``unit``; no ``TimeIncrement``, as Micro-Manager and NIS-Elements export it,
    unless ``time_increment_s`` gives one): ``delta_t`` gives each time point's channel A, channel B
    taken 1 s after it (or at ``channel_b``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = {"s": 1.0, "ms": 1e-3, "min": 60.0}[unit]
    b_times = channel_b if channel_b is not None else [at + 1.0 / seconds for at in delta_t]
    times = [value for at, b in zip(delta_t, b_times, strict=True) for value in (at, b)]
    tifffile.imwrite(
        path,
        np.zeros((len(delta_t), 2, 8, 8), np.uint16),
        metadata={
            "axes": "TCYX",
            "Channel": {"Name": ["A", "B"]},
            "PhysicalSizeX": 0.5,
            "PhysicalSizeY": 0.5,
            "Plane": {"DeltaT": times, "DeltaTUnit": [unit] * len(times)},
            **(
                {}
                if time_increment_s is None
                else {"TimeIncrement": time_increment_s, "TimeIncrementUnit": "s"}
            ),
        },
    )


@pytest.mark.parametrize(
    ("delta_t", "unit", "minutes"),
    [
        ([0.0, 300.0, 600.0, 900.0], "s", 5.0),
        ([0.4, 304.0, 597.0, 903.4], "s", 5.0),  # jitter of seconds, within 10 %
        ([0.0, 300_000.0, 600_000.0], "ms", 5.0),
        ([0.0, 5.0, 10.0], "min", 5.0),
    ],
    ids=["regular", "jitter", "ms", "min"],
)
def test_an_ome_frame_interval_stated_by_the_planes_delta_t_is_read(
    delta_t: list[float], unit: str, minutes: float, tmp_path: Path, monkeypatch
) -> None:
    """An OME-TIFF stating its frame interval only through its planes' ``DeltaT`` was read as stating
    none (the run asked for ``tiff.time_interval_minutes`` and compared a config's with nothing: 1 min
    for a 5 min movie passed). The interval is the mean step of ``DeltaT`` between successive time
    points of each channel, in ``DeltaTUnit``; a config disagreeing with it is refused, one agreeing
    within the tolerance of a measured interval (10 %) is not."""
    monkeypatch.chdir(tmp_path)
    write_ome_delta_t_movie(tmp_path / "Pos0.ome.tif", delta_t, unit)
    config = TiffSourceConfig(files="{position}.ome.tif")
    assert read_tiff_sampling(config).time_interval_minutes == pytest.approx(minutes, rel=0.01)
    assert tiff_layout(config, find_tiff_files(config), "raw.zarr").time_interval_minutes == pytest.approx(
        minutes, rel=0.01
    )
    nominal = config.model_copy(update={"time_interval_minutes": 5.0})
    assert tiff_layout(nominal, find_tiff_files(nominal), "raw.zarr").n_frames == len(delta_t)
    wrong = config.model_copy(update={"time_interval_minutes": 1.0})
    with pytest.raises(
        ValueError,
        match=r"Pos0\.ome\.tif: its metadata gives time_interval_minutes = 5\.?\d* \(the mean of its planes' "
        r"DeltaT\), the config tiff\.time_interval_minutes = 1; they must agree \(within 0\.1\)",
    ):
        tiff_layout(wrong, find_tiff_files(wrong), "raw.zarr")


def test_ome_planes_taken_at_uneven_times_are_refused_naming_the_intervals(
    tmp_path: Path, monkeypatch
) -> None:
    """A movie with a skipped frame (``DeltaT`` 0, 300, 900, 1200 s) was converted at the config's
    5 min, its last frames 5 min early, with exit 0. Refused naming the file, the intervals, the
    time points of the one furthest from their mean and the tolerance, config or not (without one,
    naming tiff.time_interval_minutes for a nominal interval); a ``DeltaTUnit`` not read is named, as
    ``TimeIncrementUnit``'s is."""
    monkeypatch.chdir(tmp_path)
    write_ome_delta_t_movie(tmp_path / "Pos0.ome.tif", [0.0, 300.0, 900.0, 1200.0])
    steps = (
        "Pos0.ome.tif: its OME planes' DeltaT give frame intervals of 300 to 600 s (mean 400 s; 600 s "
        "per frame from time point 1 to 2): not evenly spaced within "
    )
    why = (
        "(a skipped frame, a pause or a change of rate); a plate has one frame interval: convert the "
        "evenly spaced frames only, as files of their own"
    )
    refusals = {
        None: f"{steps}10% {why}; where the steps are jitter around a nominal interval, state it as "
        "tiff.time_interval_minutes (steps within 50% of their mean then convert at it, with a warning)",
        5.0: f"{steps}50%, as tiff.time_interval_minutes = 5 needs {why}",
    }
    for minutes, refusal in refusals.items():
        config = TiffSourceConfig(files="{position}.ome.tif", time_interval_minutes=minutes)
        with pytest.raises(ValueError, match=f"^{re.escape(refusal)}$"):
            tiff_layout(config, find_tiff_files(config), "raw.zarr")
        with pytest.raises(ValueError, match=f"^{re.escape(refusal)}$"):
            read_tiff_sampling(config)
    (tmp_path / "unit").mkdir()
    tifffile.imwrite(
        tmp_path / "unit" / "Pos0.ome.tif",
        np.zeros((2, 8, 8), np.uint16),
        metadata={"axes": "TYX", "Plane": {"DeltaT": [0.0, 5.0], "DeltaTUnit": ["fortnight"] * 2}},
    )
    config = TiffSourceConfig(files="unit/{position}.ome.tif", channel_names=["GFP"], pixel_size_um=1.0)
    with pytest.raises(ValueError, match=r"its frame interval in unit 'fortnight' not read"):
        read_tiff_sampling(config)


def test_a_stream_with_jitter_converts_at_the_configs_nominal_interval(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """A 1 s stream with 0.15 s of jitter (steps 1, 1.15, 0.85 s: 15 % from their mean) was refused at
    header read, config or not: it could never convert. With tiff.time_interval_minutes the config's
    interval is the plate's, with a WARNING naming the file and the steps; without it the 10 % refusal
    stays."""
    monkeypatch.chdir(tmp_path)
    write_ome_delta_t_movie(tmp_path / "Pos0.ome.tif", [0.0, 1.0, 2.15, 3.0])
    config = TiffSourceConfig(files="{position}.ome.tif")
    with pytest.raises(ValueError, match=r"not evenly spaced within 10%.*tiff\.time_interval_minutes"):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    nominal = config.model_copy(update={"time_interval_minutes": 1 / 60})
    layout = tiff_layout(nominal, find_tiff_files(nominal), "raw.zarr")
    assert layout.geometry.time_interval_s == pytest.approx(1.0)
    assert layout.n_frames == 4
    warned = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any(
        message.startswith("Pos0.ome.tif: its OME planes' DeltaT give frame intervals of 0.85 to 1.15 s")
        and "tiff.time_interval_minutes = 0.0166667 is the plate's" in message
        for message in warned
    )


def test_a_configs_interval_agreeing_with_the_planes_mean_within_10_percent_is_the_plates(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """The config's 5 min and a DeltaT mean step of 324 s (5.4 min, within 10 %) gave a plate interval
    of 5.4 min silently: the metadata's was preferred. The config's is the plate's, with a WARNING
    naming both; where they agree within 1e-3 the plate is the config's too, so one metadata read or
    ignored gives one plate."""
    monkeypatch.chdir(tmp_path)
    write_ome_delta_t_movie(tmp_path / "Pos0.ome.tif", [0.0, 324.0, 648.0, 972.0])
    config = TiffSourceConfig(files="{position}.ome.tif", time_interval_minutes=5.0)
    assert tiff_layout(config, find_tiff_files(config), "raw.zarr").time_interval_minutes == 5.0
    assert read_tiff_sampling(config).geometry.time_interval_s == 300.0
    warned = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any(
        message.startswith("Pos0.ome.tif: its metadata gives time_interval_minutes = 5.4 (the mean")
        and "the config tiff.time_interval_minutes = 5: the config's is the plate's" in message
        for message in warned
    )
    write_ome_delta_t_movie(tmp_path / "close" / "Pos0.ome.tif", [0.0, 300.1, 600.2, 900.3])
    close = TiffSourceConfig(files="close/{position}.ome.tif", time_interval_minutes=5.0)
    assert tiff_layout(close, find_tiff_files(close), "raw.zarr").time_interval_minutes == 5.0


def test_a_channel_of_placeholder_times_beside_real_ones_is_left_out_and_a_decrease_is_named(
    tmp_path: Path, monkeypatch
) -> None:
    """A channel whose planes' DeltaT are all 0 (a writer's placeholder) beside a channel with real
    times was refused as uneven ("intervals 0 to 300 s"); it is left out of the mean. DeltaT
    decreasing is refused as not in acquisition order, not as unevenly spaced."""
    monkeypatch.chdir(tmp_path)
    write_ome_delta_t_movie(tmp_path / "Pos0.ome.tif", [0.0, 300.0, 600.0, 900.0], channel_b=[0.0] * 4)
    config = TiffSourceConfig(files="{position}.ome.tif")
    assert read_tiff_sampling(config).time_interval_minutes == 5.0
    write_ome_delta_t_movie(tmp_path / "down" / "Pos0.ome.tif", [900.0, 600.0, 300.0, 0.0])
    down = TiffSourceConfig(files="down/{position}.ome.tif", time_interval_minutes=5.0)
    with pytest.raises(
        ValueError,
        match=r"^down/Pos0\.ome\.tif: its OME planes' DeltaT decrease from time point 0 \(900 s\) to 1 "
        r"\(600 s\) \(channel 0, slice 0\): the planes' times are not in acquisition order",
    ):
        read_tiff_sampling(down)


def test_an_ome_time_increment_is_checked_against_its_planes_delta_t(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """An OME-TIFF stating ``TimeIncrement`` 1200 s (Micro-Manager writes it beside the planes'
    ``DeltaT``) was converted at 20 min whatever its planes' ``DeltaT`` said: they were read only where
    ``TimeIncrement`` is absent, so a pause (0, 1200, 2400, 4800, 6000 s) or another rate (every
    1800 s) gave exit 0, every later time wrong. Uneven steps are refused as without
    ``TimeIncrement`` (the same text); a ``TimeIncrement`` the ``DeltaT`` mean contradicts beyond
    10 % is refused naming both and offering the mean as ``tiff.time_interval_minutes`` (Micro-Manager
    writes the interval requested as ``TimeIncrement``; many positions or autofocus make the real one
    slower), which is then the plate's with a WARNING, and a config interval agreeing with
    ``TimeIncrement`` but not the ``DeltaT`` is refused; within 10 % (overhead, jitter) ``TimeIncrement``
    is the plate's interval (with a WARNING beyond 1e-3: see the test after this one)."""
    monkeypatch.chdir(tmp_path)
    write_ome_delta_t_movie(
        tmp_path / "stated" / "Pos0.ome.tif", [0.0, 1200.0, 2400.0, 4800.0, 6000.0], time_increment_s=1200.0
    )
    write_ome_delta_t_movie(tmp_path / "plain" / "Pos0.ome.tif", [0.0, 1200.0, 2400.0, 4800.0, 6000.0])
    for minutes in (None, 20.0):
        refusals = []
        for folder in ("stated", "plain"):
            config = TiffSourceConfig(files=f"{folder}/{{position}}.ome.tif", time_interval_minutes=minutes)
            with pytest.raises(ValueError, match=r"not evenly spaced within") as refused:
                tiff_layout(config, find_tiff_files(config), "raw.zarr")
            refusals.append(str(refused.value).replace(folder, "*"))
        assert refusals[0] == refusals[1]
        assert (
            "frame intervals of 1200 to 2400 s (mean 1500 s; 2400 s per frame from time point 2 to 3)"
            in (refusals[0])
        )
    write_ome_delta_t_movie(
        tmp_path / "rate" / "Pos0.ome.tif", [0.0, 1800.0, 3600.0, 5400.0], time_increment_s=1200.0
    )
    both = (
        "rate/Pos0.ome.tif: its TimeIncrement gives a frame interval of 1200 s (the interval requested), "
        "its OME planes' DeltaT 1800 s (the median of their steps: the interval measured)"
    )
    for minutes, config_says in (
        (None, ""),
        (20.0, "; the config tiff.time_interval_minutes = 20 disagrees with the DeltaT"),
        (40.0, "; the config tiff.time_interval_minutes = 40 disagrees with the DeltaT"),
    ):
        config = TiffSourceConfig(files="rate/{position}.ome.tif", time_interval_minutes=minutes)
        refusal = (
            f"{both}; they disagree by more than 10%{config_says}: the DeltaT are the times the frames "
            "were taken, so set tiff.time_interval_minutes: 30 (where the acquisition was slower than "
            "requested), or correct the file's metadata"
        )
        with pytest.raises(ValueError, match=f"^{re.escape(refusal)}$"):
            tiff_layout(config, find_tiff_files(config), "raw.zarr")
        with pytest.raises(ValueError, match=f"^{re.escape(refusal)}$"):
            read_tiff_sampling(config)
    # Micro-Manager's TimeIncrement is the interval requested: a config interval the DeltaT agree with
    # (within 10 %) is the plate's, with a WARNING naming the TimeIncrement it contradicts
    write_ome_delta_t_movie(
        tmp_path / "rate" / "Pos1.ome.tif", [0.0, 1750.0, 3500.0, 5250.0], time_increment_s=1200.0
    )
    for minutes in (30.0, 28.0):
        caplog.clear()
        slower = TiffSourceConfig(files="rate/{position}.ome.tif", time_interval_minutes=minutes)
        with caplog.at_level(logging.INFO, logger="dynaclr.convert.tiff"):
            layout = tiff_layout(slower, find_tiff_files(slower), "raw.zarr")
            sampling = read_tiff_sampling(slower)
        assert (layout.time_interval_minutes, layout.n_frames) == (minutes, 4)
        assert sampling.time_interval_minutes == minutes
        assert _said(caplog, logging.WARNING) == []
        said = _said(caplog, logging.INFO)
        assert said[0].startswith(
            "rate/Pos0.ome.tif (and 1 more of the dataset's 2 files): its OME planes' DeltaT step by 1800 s"
        )
        assert f"the config tiff.time_interval_minutes = {minutes:g} agrees with the DeltaT" in said[0]
        assert said[1].startswith(
            "rate/Pos0.ome.tif: its OME planes' DeltaT step by 1800 s"
        )  # the job's one header
    write_ome_delta_t_movie(
        tmp_path / "down" / "Pos0.ome.tif", [2400.0, 1200.0, 0.0], time_increment_s=1200.0
    )
    down = TiffSourceConfig(files="down/{position}.ome.tif")
    with pytest.raises(ValueError, match=r"DeltaT decrease from time point 0 .*not in acquisition order"):
        read_tiff_sampling(down)
    write_ome_delta_t_movie(
        tmp_path / "near" / "Pos0.ome.tif", [0.0, 1230.0, 2460.0, 3690.0], time_increment_s=1200.0
    )
    near = TiffSourceConfig(files="near/{position}.ome.tif")
    layout = tiff_layout(near, find_tiff_files(near), "raw.zarr")
    assert (layout.time_interval_minutes, layout.n_frames) == (20.0, 4)


def _said(caplog, level: int) -> list[str]:
    """The messages of ``caplog``'s records at ``level`` naming a TimeIncrement."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == level and "TimeIncrement" in record.getMessage()
    ]


def _layout_said(config: TiffSourceConfig, caplog) -> tuple[float | None, list[str], list[str]]:
    """The plate's frame interval ``config`` gives, and the WARNINGs and INFO lines naming a
    TimeIncrement it logs."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dynaclr.convert.tiff"):
        interval = tiff_layout(config, find_tiff_files(config), "raw.zarr").time_interval_minutes
    return interval, _said(caplog, logging.WARNING), _said(caplog, logging.INFO)


def test_micro_managers_overhead_on_a_time_increment_warns_of_nothing(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """Micro-Manager's ordinary files (TimeIncrement 1200 s requested, a real cycle of 1202 s with 1 s
    of jitter, 30 frames: the last frame 0.05 of a frame off) gave a WARNING per file, each naming its
    own mean (so import_warnings could not fold them), and no config value silenced it (20 still
    warned, the offered 20.03 swapped in another WARNING). A drift under half a frame over the movie
    says nothing, and a config interval (either value) is the plate's without a WARNING."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for position in range(3):
        times = [round(i * 1202.0 + rng.uniform(0, 1) + 30 * position, 3) for i in range(30)]
        write_ome_delta_t_movie(tmp_path / "mm" / f"Pos{position}.ome.tif", times, time_increment_s=1200.0)
    config = TiffSourceConfig(files="mm/{position}.ome.tif")
    plate = convert(config, tmp_path / "raw.zarr")
    assert read_plate_layout(plate).time_interval_minutes == 20.0
    assert read_zarr_provenance(plate, "raw_plate").config["import_warnings"] == []
    for minutes in (20.0, 20.03):
        interval, warned, _ = _layout_said(
            config.model_copy(update={"time_interval_minutes": minutes}), caplog
        )
        assert (interval, warned) == (minutes, [])


def test_a_time_increment_misplacing_the_last_frame_by_half_a_frame_warns_once_per_dataset(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """TimeIncrement 21 min beside DeltaT 20 min apart over 21 frames (the last frame a whole frame
    off) converts at 21 min with one WARNING for the dataset (its two files folded: the path an
    argument), naming the drift and the config interval that writes the measured one; a config
    interval the user chose (21, or the offered 20) is said at INFO, not WARNING; one agreeing with
    neither is refused."""
    monkeypatch.chdir(tmp_path)
    for position in range(2):
        write_ome_delta_t_movie(
            tmp_path / "near" / f"Pos{position}.ome.tif",
            [i * 1200.0 for i in range(21)],
            time_increment_s=1260.0,
        )
    stated = TiffSourceConfig(files="near/{position}.ome.tif")
    head = (
        "near/Pos0.ome.tif (and 1 more of the dataset's 2 files): its OME planes' DeltaT step by 1200 s (the "
        "median of their steps: the interval measured), its TimeIncrement gives 1260 s (the interval "
        "requested)"
    )
    drift = (
        "over the movie's 20 steps the TimeIncrement places its last frame 0.95 frames later than it was "
        "taken"
    )
    plate = convert(stated, tmp_path / "raw.zarr")
    assert read_plate_layout(plate).time_interval_minutes == 21.0
    assert read_zarr_provenance(plate, "raw_plate").config["import_warnings"] == [
        f"{head}; {drift}: the TimeIncrement's 21 min is the plate's frame interval; where the frames were "
        "taken at the DeltaT (an acquisition slower or faster than requested), set "
        "tiff.time_interval_minutes: 20"
    ]
    for minutes, said in (
        (
            21.0,
            f"{head}; {drift}: the config tiff.time_interval_minutes = 21 (the TimeIncrement's) is the "
            "plate's frame interval",
        ),
        (
            20.0,
            f"{head}; the config tiff.time_interval_minutes = 20 agrees with the DeltaT and is the plate's "
            "(it places the movie's last frame 0 frames from its DeltaT)",
        ),
    ):
        interval, warned, informed = _layout_said(
            stated.model_copy(update={"time_interval_minutes": minutes}), caplog
        )
        assert (interval, warned, informed) == (minutes, [], [said])
    neither = stated.model_copy(update={"time_interval_minutes": 25.0})
    refusal = r"gives time_interval_minutes = 21, the config tiff\.time_interval_minutes = 25"
    with pytest.raises(ValueError, match=refusal):
        tiff_layout(neither, find_tiff_files(neither), "raw.zarr")


def test_the_interval_offered_beside_a_time_increment_is_taken_as_the_measured_one(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """DeltaT 1201.5 s beside TimeIncrement 1200 s (1.25e-3 apart) advised 20.02, which, within 1e-3 of
    the TimeIncrement, was then taken as the TimeIncrement's and warned of again. Over 1000 frames
    (1.2 frames of drift) the offer has the digits to be the measured one: set, it is the plate's, said
    at INFO."""
    monkeypatch.chdir(tmp_path)
    write_ome_delta_t_movie(
        tmp_path / "long" / "Pos0.ome.tif", [i * 1201.5 for i in range(1000)], time_increment_s=1200.0
    )
    config = TiffSourceConfig(files="long/{position}.ome.tif")
    interval, warned, _ = _layout_said(config, caplog)
    assert interval == 20.0
    assert len(warned) == 1 and warned[0].endswith("set tiff.time_interval_minutes: 20.025"), warned
    interval, warned, informed = _layout_said(
        config.model_copy(update={"time_interval_minutes": 20.025}), caplog
    )
    assert (interval, warned) == (20.025, [])
    assert len(informed) == 1 and "= 20.025 agrees with the DeltaT and is the plate's" in informed[0]


def test_a_pause_beside_a_time_increment_is_named_not_read_as_a_slower_rate(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """The measured step was (last - first) / steps: one frame paused 100 s in 10 steps read as an
    acquisition slower than requested. The median step is the measured one: that movie warns of
    nothing; where the median agrees with the TimeIncrement and the mean misplaces the last frame by
    half a frame (7 of 20 steps 110 s long), the WARNING names the step farthest from the median."""
    monkeypatch.chdir(tmp_path)
    paused = [i * 1200.0 for i in range(6)] + [i * 1200.0 + 100 for i in range(6, 11)]
    write_ome_delta_t_movie(tmp_path / "paused" / "Pos0.ome.tif", paused, time_increment_s=1200.0)
    config = TiffSourceConfig(files="paused/{position}.ome.tif")
    assert _layout_said(config, caplog)[:2] == (20.0, [])
    steps = [1310.0 if i % 3 == 0 else 1200.0 for i in range(20)]  # 7 slow steps
    write_ome_delta_t_movie(
        tmp_path / "slow" / "Pos0.ome.tif", [sum(steps[:i]) for i in range(21)], time_increment_s=1200.0
    )
    interval, warned, _ = _layout_said(TiffSourceConfig(files="slow/{position}.ome.tif"), caplog)
    assert interval == 20.0
    assert warned == [
        "slow/Pos0.ome.tif: its OME planes' DeltaT step by 1200 s (the median of their steps: the interval "
        "measured), its TimeIncrement gives 1200 s (the interval requested); their median agrees with the "
        "TimeIncrement, their mean (1238.5 s) does not: over the movie's 20 steps its last frame was taken "
        "0.64 frames later than the TimeIncrement places it, the step farthest from the median 1310 s per "
        "frame from time point 0 to 1 (a pause, or a change of rate; a plate has one frame interval)"
    ]


@pytest.mark.parametrize(
    ("resolution", "unit", "pixel_size_um"),
    [
        (2e4, "CENTIMETER", 0.5),
        (50800.0, "INCH", None),  # inches: a writer's or scanner's unit, no calibration on its own
        (2.0, "NONE", None),  # an aspect ratio, no size
        (72.0, "INCH", None),  # a writer's default: 352.8 µm, outside 0.02-20 µm
    ],
    ids=["centimetre", "inch", "none", "72 dpi"],
)
def test_a_plain_tiffs_resolution_is_read_in_its_unit_and_a_writers_default_is_not(
    resolution: float, unit: str, pixel_size_um: float | None, tmp_path: Path, monkeypatch, caplog
) -> None:
    """A TIFF without OME or ImageJ metadata stating XResolution and YResolution in centimetres or
    inches: its pixel size was not read (a config's was compared with nothing: 5 µm over files of
    0.5 µm pixels passed). Pixels per centimetre give 10^4 / resolution µm, per inch 25400 /
    resolution; unit none states no size; a size outside the bounds of microscopy (72 dots per inch,
    the default of many writers) is not read, with a warning naming the file and the size. Inch tags
    in bounds (2400 and 4800 dpi scanners: 10.6 and 5.3 µm) set the pixel size with exit 0: they state
    none on their own (the dry run asks for tiff.pixel_size_um saying what they would give) and only
    check a config's value; centimetre tags set it, logged at INFO."""
    monkeypatch.chdir(tmp_path)
    for t in range(2):
        tifffile.imwrite(
            tmp_path / f"Pos0_t{t}.tif",
            np.zeros((8, 8), np.uint16),
            resolution=(resolution, resolution),
            resolutionunit=unit,
            metadata=None,
        )
    config = TiffSourceConfig(
        files="{position}_t{t}.tif", axes="YX", channel_names=["GFP"], time_interval_minutes=5
    )
    if pixel_size_um is None:
        with pytest.raises(ValueError, match=r"Pos0_t0\.tif: its metadata gives no pixel_size_um"):
            tiff_layout(config, find_tiff_files(config), "raw.zarr")
        given = config.model_copy(update={"pixel_size_um": 0.5})
        assert tiff_layout(given, find_tiff_files(given), "raw.zarr").geometry.pixel_size_um == 0.5
        warned = [record.getMessage() for record in caplog.records if "XResolution" in record.message]
        if resolution == 72.0:
            assert warned and all(message.startswith("Pos0_t0.tif: ") for message in warned)
            assert "give pixels of 352.778 x 352.778 µm, outside the 0.02-20 µm" in warned[0]
        else:
            assert not warned
        if resolution == 50800.0:
            with pytest.raises(ValueError, match=r"in inches would give 0\.5 µm: inch tags are a writer's"):
                read_tiff_sampling(config)
            wrong = config.model_copy(update={"pixel_size_um": 5.0})
            with pytest.raises(ValueError, match=r"or set tiff\.resolution_tags: ignore"):
                tiff_layout(wrong, find_tiff_files(wrong), "raw.zarr")
        return
    caplog.set_level("INFO", logger="dynaclr.convert.tiff")
    assert read_tiff_sampling(config).geometry.pixel_size_um == pytest.approx(pixel_size_um)
    assert any(
        record.levelname == "INFO" and "pixel size 0.5 µm from its XResolution" in record.getMessage()
        for record in caplog.records
    )
    layout = tiff_layout(config, find_tiff_files(config), "raw.zarr")
    assert layout.geometry.pixel_size_um == pytest.approx(pixel_size_um)
    wrong = config.model_copy(update={"pixel_size_um": 5.0})
    with pytest.raises(
        ValueError, match=r"Pos0_t0\.tif: its metadata gives pixel_size_um = 0\.5 \(its XResolution and"
    ):
        tiff_layout(wrong, find_tiff_files(wrong), "raw.zarr")


def test_a_plain_tiffs_resolution_disagreeing_with_the_config_can_be_ignored(
    tmp_path: Path, monkeypatch
) -> None:
    """A plain TIFF's resolution tags are as often a writer's or a scanner's value as a calibration:
    2400 dots per inch reads as 10.58 µm, inside the bounds of microscopy, and a config's correct
    tiff.pixel_size_um (0.65) disagreeing with it was refused with no way to keep it. The refusal
    names tiff.resolution_tags; with 'ignore' the tags are not read and the plate converts with the
    config's value."""
    monkeypatch.chdir(tmp_path)
    image = np.arange(64, dtype=np.uint16).reshape(8, 8)
    tifffile.imwrite(
        tmp_path / "Pos0.tif", image, resolution=(2400, 2400), resolutionunit="INCH", metadata=None
    )
    config = TiffSourceConfig(
        files="{position}.tif", axes="YX", channel_names=["GFP"], time_interval_minutes=5, pixel_size_um=0.65
    )
    with pytest.raises(ValueError) as refused:
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    message = str(refused.value)
    assert message.startswith(
        "Pos0.tif: its metadata gives pixel_size_um = 10.5833 (its XResolution and YResolution: a plain "
        "TIFF, no OME or ImageJ metadata), the config tiff.pixel_size_um = 0.65"
    )
    assert "or set tiff.resolution_tags: ignore to use tiff.pixel_size_um" in message
    ignored = config.model_copy(update={"resolution_tags": "ignore"})
    plate = convert(ignored, tmp_path / "raw.zarr")
    assert read_plate_layout(plate).geometry.pixel_size_um == 0.65
    assert read_tiff_sampling(ignored).geometry.pixel_size_um == 0.65
    np.testing.assert_array_equal(raw_images(plate)["A/1/Pos0"][0, 0, 0], image)


def write_multi_file_ome(folder: Path, names: list[str]) -> None:
    """One OME movie (TYX, a frame per file) spread over ``names``, each file holding one plane and the
    whole OME-XML, its ``TiffData`` naming each plane's file by ``UUID`` (as Micro-Manager writes a
    time-lapse one file per time point); plane ``t`` holds ``t + 1``."""
    folder.mkdir(parents=True, exist_ok=True)
    uuids = [f"urn:uuid:00000000-0000-0000-0000-{t:012d}" for t in range(len(names))]
    tiff_data = "".join(
        f'<TiffData FirstT="{t}" IFD="0" PlaneCount="1"><UUID FileName="{name}">{uuids[t]}</UUID></TiffData>'
        for t, name in enumerate(names)
    )
    for t, name in enumerate(names):
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/'
            f'2016-06" UUID="{uuids[t]}"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" '
            f'Type="uint16" SizeX="8" SizeY="8" SizeC="1" SizeZ="1" SizeT="{len(names)}" '
            'PhysicalSizeX="0.5" PhysicalSizeY="0.5" TimeIncrement="60"><Channel ID="Channel:0:0" '
            f'Name="GFP" SamplesPerPixel="1"/>{tiff_data}</Pixels></Image></OME>'
        )
        tifffile.imwrite(folder / name, np.full((8, 8), t + 1, np.uint16), description=xml, metadata=None)


def test_a_multi_file_ome_tiff_is_refused_naming_the_other_files(tmp_path: Path, monkeypatch) -> None:
    """tifffile reads a movie spread over files (OME ``TiffData`` naming other files) as a whole from
    any of them: files matched as positions each converted to the whole movie (one position twice),
    and a file missing read as zeros, with exit 0; as files of one time point each, the files were
    refused as holding 3 time points (and told to drop '{t}', which converts each as a position).
    Refused naming the file, the files its image spans and the planes in them or not found."""
    monkeypatch.chdir(tmp_path)
    names = ["Pos0_t0.ome.tif", "Pos0_t1.ome.tif", "Pos0_t2.ome.tif"]
    write_multi_file_ome(tmp_path / "mm", names)
    spanned = r"its image spans other files \(Pos0_t1\.ome\.tif, Pos0_t2\.ome\.tif\): 2 of its 3 planes"
    for files in ("mm/{position}.ome.tif", "mm/{position}_t{t}.ome.tif"):
        config = TiffSourceConfig(files=files)
        with pytest.raises(ValueError, match=r"mm/Pos0(_t0)?\.ome\.tif: its image spans other files"):
            tiff_layout(config, find_tiff_files(config), "raw.zarr")
    config = TiffSourceConfig(files="mm/{position}_t0.ome.tif")
    with pytest.raises(ValueError, match=rf"mm/Pos0_t0\.ome\.tif: {spanned} lie in other files; dynaclr"):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    (tmp_path / "mm" / names[2]).unlink()
    with pytest.raises(ValueError, match=r"1 of its 3 planes lie in other files and 1 in files not found"):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")


def write_resolution_tiff(path: Path, x: tuple[int, int], y: tuple[int, int]) -> None:
    """A plain TIFF (no OME or ImageJ metadata) whose XResolution and YResolution (pixels per
    centimetre) are the raw rationals ``x`` and ``y``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        path, np.zeros((8, 8), np.uint16), resolution=(1, 1), resolutionunit="CENTIMETER", metadata=None
    )
    with tifffile.TiffFile(path, mode="r+b") as tiff:
        tiff.pages.first.tags["XResolution"].overwrite(x)
        tiff.pages.first.tags["YResolution"].overwrite(y)


def test_refusals_over_resolution_tags_name_the_way_to_ignore_them(tmp_path: Path, monkeypatch) -> None:
    """A plain TIFF's tags giving non-square pixels, or a size other than the files before it, were
    refused without naming tiff.resolution_tags: ignore, the way to keep tiff.pixel_size_um."""
    monkeypatch.chdir(tmp_path)
    write_resolution_tiff(tmp_path / "anis" / "Pos0.tif", (15385, 1), (7692, 1))
    config = TiffSourceConfig(
        files="anis/{position}.tif", axes="YX", channel_names=["GFP"], time_interval_minutes=5
    )
    with pytest.raises(ValueError, match=r"needs square pixels .*or set tiff\.resolution_tags: ignore"):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    write_resolution_tiff(tmp_path / "mixed" / "Pos0.tif", (15385, 1), (15385, 1))
    write_resolution_tiff(tmp_path / "mixed" / "Pos1.tif", (20000, 1), (20000, 1))
    mixed = config.model_copy(update={"files": "mixed/{position}.tif"})
    with pytest.raises(
        ValueError,
        match=r"Pos1\.tif: .*the files before it 0\.649984; .*, or set tiff\.resolution_tags: ignore",
    ):
        tiff_layout(mixed, find_tiff_files(mixed), "raw.zarr")


def test_resolution_tags_read_or_ignored_give_the_configs_pixel_size(tmp_path: Path, monkeypatch) -> None:
    """Tags agreeing with the config's pixel size within 1e-3 (15385 pixels per cm: 0.649984 µm) gave
    the plate the tags' value: with resolution_tags read and ignore (a run key, compared by nothing)
    the plates differed. The config's is the plate's. A rational of denominator 0 (tifffile reads it
    as its numerator) states no size."""
    monkeypatch.chdir(tmp_path)
    write_resolution_tiff(tmp_path / "Pos0.tif", (15385, 1), (15385, 1))
    config = TiffSourceConfig(
        files="{position}.tif", axes="YX", channel_names=["GFP"], time_interval_minutes=5, pixel_size_um=0.65
    )
    for setting in ("read", "ignore"):
        given = config.model_copy(update={"resolution_tags": setting})
        assert tiff_layout(given, find_tiff_files(given), "raw.zarr").geometry.pixel_size_um == 0.65
        assert read_tiff_sampling(given).geometry.pixel_size_um == 0.65
    write_resolution_tiff(tmp_path / "zero" / "Pos0.tif", (15385, 0), (15385, 0))
    unstated = config.model_copy(update={"files": "zero/{position}.tif", "pixel_size_um": None})
    with pytest.raises(ValueError, match=r"its metadata gives no pixel_size_um; give tiff\.pixel_size_um$"):
        read_tiff_sampling(unstated)


def write_ome_naming_its_file_acquired(path: Path) -> None:
    """A single-file OME-TIFF of 2 time points whose OME-XML places its planes in file
    ``acquired.ome.tif`` (``TiffData`` ``UUID`` ``FileName``), written at ``path``: renamed after writing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    uuid = "urn:uuid:11111111-2222-3333-4444-555555555555"
    xml = (  # no UUID on OME itself (tifffile then matches the files by name)
        '<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/'
        '2016-06"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" '
        'SizeX="8" SizeY="8" SizeC="1" SizeZ="1" SizeT="2" PhysicalSizeX="0.5" PhysicalSizeY="0.5">'
        '<Channel ID="Channel:0:0" Name="GFP" SamplesPerPixel="1"/>'
        + "".join(
            f'<TiffData FirstT="{t}" IFD="{t}" PlaneCount="1"><UUID FileName="acquired.ome.tif">{uuid}'
            "</UUID></TiffData>"
            for t in range(2)
        )
        + "</Pixels></Image></OME>"
    )
    with tifffile.TiffWriter(path) as writer:
        for t in range(2):
            writer.write(
                np.full((8, 8), t, np.uint16),
                description=xml if t == 0 else None,
                metadata=None,
                contiguous=False,
            )


def test_a_renamed_single_file_ome_tiff_is_told_to_restore_its_name(tmp_path: Path, monkeypatch) -> None:
    """A single-file OME-TIFF renamed after writing (its TiffData UUID FileName naming its original
    name) was refused as spanning other files with no hint; the refusal says it may have been renamed
    and names the original name to restore."""
    monkeypatch.chdir(tmp_path)
    write_ome_naming_its_file_acquired(tmp_path / "mm" / "acquired.ome.tif")
    shutil.copy(tmp_path / "mm" / "acquired.ome.tif", tmp_path / "mm" / "Pos0.ome.tif")  # a renamed copy
    config = TiffSourceConfig(files="mm/Pos{position}.ome.tif")
    with pytest.raises(
        ValueError,
        match=r"if Pos0\.ome\.tif is one file renamed \(its OME-XML names its planes' file "
        r"acquired\.ome\.tif\), restore its original name acquired\.ome\.tif",
    ):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")


def test_a_fiji_z_stack_of_1_um_steps_converts_as_slices_with_a_warning(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """ImageJ writes no spacing for a step of 1: a fixed-cell z-stack (slices=5, frames=1, no spacing,
    no finterval) reads as a time-lapse Fiji saved as slices does. With tiff.time_interval_minutes
    (required of every TIFF dataset, still images too) it was refused as a possible movie; it converts
    as 5 slices, as before, with a WARNING naming the file, the metadata's slices and frames and how to
    read them as time points. Files of one time point each ('{t}') are slices: no warning."""
    monkeypatch.chdir(tmp_path)
    stack = np.arange(5 * 8 * 10, dtype=np.uint16).reshape(5, 8, 10)
    metadata = {"axes": "ZYX", "unit": "um"}  # no spacing, no finterval
    for position in ("Pos0", "Pos1"):
        tifffile.imwrite(
            tmp_path / f"{position}.tif", stack, imagej=True, resolution=(2, 2), metadata=metadata
        )
    base = {"files": "{position}.tif", "channel_names": ["DAPI"], "time_interval_minutes": 5}
    config = TiffSourceConfig.model_validate({**base, "z_step_um": 1.0})
    warned = (
        r"Pos0\.tif: its ImageJ metadata gives 5 slices and 1 frame, no slice spacing and no frame "
        r"interval: read as 5 slices .*if they are time points, give tiff\.axes 'TYX', or in Fiji make "
        r"them frames \(Image > Hyperstacks > Re-order Hyperstacks\)"
    )
    with caplog.at_level("WARNING", logger="dynaclr.convert.tiff"):
        converted = convert(config, tmp_path / "stack.zarr")
    assert re.search(warned, caplog.text)
    assert "time-lapse" not in caplog.text
    for position in ("Pos0", "Pos1"):
        np.testing.assert_array_equal(raw_images(converted)[f"A/1/{position}"], stack[None, None])
    assert read_plate_layout(converted).shape_tczyx == (1, 1, 5, 8, 10)
    caplog.clear()
    with caplog.at_level("WARNING", logger="dynaclr.convert.tiff"):
        movie_config = TiffSourceConfig.model_validate({**base, "axes": "TYX"})
        movie = convert(movie_config, tmp_path / "movie.zarr")
    np.testing.assert_array_equal(raw_images(movie)["A/1/Pos0"], stack[:, None, None])
    assert "its ImageJ metadata calls them slices (slices=5, frames=1)" in caplog.text
    for position in ("Pos0", "Pos1"):
        (tmp_path / f"{position}.tif").rename(tmp_path / f"{position}_t0.tif")
    caplog.clear()
    per_time_point = TiffSourceConfig.model_validate({**config.model_dump(), "files": "{position}_t{t}.tif"})
    with caplog.at_level("WARNING", logger="dynaclr.convert.tiff"):
        layout = tiff_layout(per_time_point, find_tiff_files(per_time_point), "raw.zarr")
    assert layout.shape_tczyx == (1, 1, 5, 8, 10)
    assert "ImageJ metadata gives" not in caplog.text


def test_a_fiji_stack_of_slices_stating_a_frame_interval_and_no_spacing_needs_its_axes(
    tmp_path: Path, monkeypatch
) -> None:
    """A stack of 5 slices and 1 frame with a frame interval (finterval, written where Fiji's frame
    interval is set) and no spacing converted as one time point of 5 slices, with exit 0: the file
    calls itself a time-lapse. Refused without tiff.axes, naming the file, slices, frames, finterval
    and the fixes; 'TYX' reads the slices as time points at its interval, 'ZYX' as slices."""
    monkeypatch.chdir(tmp_path)
    movie = np.arange(5 * 8 * 10, dtype=np.uint16).reshape(5, 8, 10)
    metadata = {"axes": "ZYX", "unit": "um", "finterval": 300.0}
    tifffile.imwrite(tmp_path / "Pos0.tif", movie, imagej=True, resolution=(2, 2), metadata=metadata)
    base = {"files": "{position}.tif", "channel_names": ["GFP"]}
    refused = (
        r"Pos0\.tif: its ImageJ metadata gives 5 slices and 1 frame with a frame interval "
        r"\(finterval=300\) and no slice spacing.*give tiff\.axes 'TYX' to read the slices as time points"
        r".*'ZYX' to read them as slices.*Image > Hyperstacks > Re-order Hyperstacks"
    )
    for given in ({}, {"z_step_um": 1.0, "time_interval_minutes": 5}):
        config = TiffSourceConfig.model_validate({**base, **given})
        with pytest.raises(ValueError, match=refused):
            tiff_layout(config, find_tiff_files(config), "raw.zarr")
        with pytest.raises(ValueError, match=refused):
            read_tiff_sampling(config)
    movie_config = TiffSourceConfig.model_validate({**base, "axes": "TYX"})
    converted = convert(movie_config, tmp_path / "movie.zarr")
    np.testing.assert_array_equal(raw_images(converted)["A/1/Pos0"], movie[:, None, None])
    assert read_plate_layout(converted).time_interval_minutes == pytest.approx(5.0)
    stack_config = TiffSourceConfig.model_validate({**base, "axes": "ZYX", "z_step_um": 1.0})
    stack = convert(stack_config, tmp_path / "stack.zarr")
    np.testing.assert_array_equal(raw_images(stack)["A/1/Pos0"], movie[None, None])


def test_pages_with_tifffiles_shape_and_no_axes_need_axes(tmp_path: Path) -> None:
    """tifffile's default imwrite writes a description giving the shape and no axes ('QYX'): the
    refusal says so, not that the file has no tifffile description."""
    from dynaclr.convert.tiff import read_tiff_header

    tifffile.imwrite(tmp_path / "a.tif", np.zeros((5, 8, 10), np.uint16))
    with pytest.raises(
        ValueError,
        match=r"a\.tif: its 5 pages carry no metadata .*\(no OME or ImageJ metadata and no axes in "
        r"tifffile's description; tifffile reads shape \(5, 8, 10\) as 'QYX'\)",
    ):
        read_tiff_header(tmp_path / "a.tif")


def test_pages_without_metadata_need_axes_naming_their_count(tmp_path: Path, monkeypatch) -> None:
    """A multi-page TIFF with no ImageJ, OME or tifffile description (pages written one by one): its
    pages are no axis; the refusal suggested 'ZYX' alone, a guess of slices. It names the page count
    and both readings, and the axes given read them as given."""
    monkeypatch.chdir(tmp_path)
    movie = np.arange(5 * 8 * 10, dtype=np.uint16).reshape(5, 8, 10)
    with tifffile.TiffWriter(tmp_path / "Pos0.tif", ome=False) as writer:
        for page in movie:
            writer.write(page, description=None, metadata=None, contiguous=False)
    base = {"files": "{position}.tif", "channel_names": ["GFP"], "time_interval_minutes": 5}
    config = TiffSourceConfig.model_validate({**base, "pixel_size_um": 0.5, "z_step_um": 1.0})
    with pytest.raises(
        ValueError,
        match=r"Pos0\.tif: its 5 pages carry no metadata saying whether they are slices, time points or "
        r"channels .*give tiff\.axes: 'ZYX' for slices, 'TYX' for time points",
    ):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    movie_config = config.model_copy(update={"axes": "TYX"})
    np.testing.assert_array_equal(
        raw_images(convert(movie_config, tmp_path / "raw.zarr"))["A/1/Pos0"], movie[:, None, None]
    )


def test_a_renamed_ome_tiff_whose_original_is_gone_says_so(tmp_path: Path, monkeypatch) -> None:
    """A single-file OME-TIFF renamed after writing, its original name absent: tifffile cannot place
    its planes (its OME-XML puts them in the original file), drops the OME series and reads the pages
    as 'IYX', so the file was refused as giving no axis order (give tiff.axes: a reading without its
    OME metadata). The refusal names the file the OME-XML references and to restore its name."""
    monkeypatch.chdir(tmp_path)
    write_ome_naming_its_file_acquired(tmp_path / "mm" / "Pos0.ome.tif")
    not_found = (
        r"Pos0\.ome\.tif: its OME-XML places its planes in acquired\.ome\.tif \(TiffData UUID FileName\), "
        r"not found in mm: .*renamed after writing, restore its original name acquired\.ome\.tif"
    )
    for axes in (None, "TYX"):  # axes given would read the pages without the OME metadata
        config = TiffSourceConfig(files="mm/Pos{position}.ome.tif", axes=axes)
        with pytest.raises(ValueError, match=not_found):
            tiff_layout(config, find_tiff_files(config), "raw.zarr")


def test_only_a_series_tifffile_read_without_its_ome_metadata_misses_the_files_it_names(
    tmp_path: Path,
) -> None:
    """A Micro-Manager file (tifffile's 'mmstack' series, read from its own metadata) whose OME-XML
    names other positions' files, absent, is not refused as a renamed OME-TIFF: only a series tifffile
    fell back to (its pages, 'generic' or 'uniform') lacks the OME axes."""
    from types import SimpleNamespace

    from dynaclr.convert.tiff import _ome_files_not_found

    xml = (
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:1"><Pixels '
        'ID="Pixels:1" DimensionOrder="XYCZT" Type="uint16" SizeX="8" SizeY="8" SizeC="1" SizeZ="1" '
        'SizeT="1"><TiffData><UUID FileName="Pos1.ome.tif">urn:uuid:1</UUID></TiffData></Pixels>'
        "</Image></OME>"
    )
    tiff = SimpleNamespace(is_ome=True, ome_metadata=xml)
    path = tmp_path / "Pos0.ome.tif"
    for kind in ("mmstack", "ome", "imagej"):
        series = SimpleNamespace(kind=kind, pages=[None], axes="YX")
        assert _ome_files_not_found(path, tiff, series) is None  # type: ignore[arg-type]
    for kind in ("generic", "uniform"):
        series = SimpleNamespace(kind=kind, pages=[None, None], axes="IYX")
        error = _ome_files_not_found(path, tiff, series)  # type: ignore[arg-type]
        assert error is not None and "places its planes in Pos1.ome.tif" in str(error)


def test_each_files_own_delta_t_interval_is_checked_by_the_conversion(tmp_path: Path, monkeypatch) -> None:
    """The conversion job (one per dataset) reads every file's header: a later file whose planes'
    DeltaT give another interval than the first's is refused there, not only by the dry run."""
    monkeypatch.chdir(tmp_path)
    write_ome_delta_t_movie(tmp_path / "Pos0.ome.tif", [0.0, 300.0, 600.0])
    write_ome_delta_t_movie(tmp_path / "Pos1.ome.tif", [0.0, 600.0, 1200.0])
    for interval in (None, 5.0):
        config = TiffSourceConfig(files="{position}.ome.tif", time_interval_minutes=interval)
        files = tuple(find_tiff_files(config))
        with pytest.raises(
            ValueError, match=r"Pos1\.ome\.tif: its metadata gives time_interval_minutes = 10"
        ):
            convert_tiff(
                config, ConvertTiffInputs(tiffs=files), ConvertTiffOutputs(plate=tmp_path / "raw.zarr")
            )
        assert not (tmp_path / "raw.zarr").exists()


def write_ome_time_points(
    folder: Path, delta_t_s: list[float], time_increment_s: float | None = None
) -> None:
    """Files of one time point each (``{t}``) for positions Pos0 and Pos1, as Micro-Manager writes
    them: each one plane per channel whose ``DeltaT`` (seconds; channel B 1 s after A) is the time
    since the acquisition's start (``delta_t_s``: each time point's, Pos1 acquired 30 s after Pos0),
    each stating ``TimeIncrement`` ``time_increment_s`` where given."""
    for offset, position in ((0.0, "Pos0"), (30.0, "Pos1")):
        for t, at in enumerate(delta_t_s):
            path = folder / position / f"img_t{t:03d}.ome.tif"
            write_ome_delta_t_movie(path, [at + offset], time_increment_s=time_increment_s)


def test_files_of_one_time_point_each_check_a_stated_interval_against_their_delta_t(
    tmp_path: Path, monkeypatch
) -> None:
    """Files of one time point each whose planes' ``DeltaT`` (from the acquisition's start) advance by
    20 min from file to file: the config's 30 min was taken silently (every time off by 1.5x, exit 0).
    Refused naming the files, the measured and stated values and the fix; 20 min (or within 10 %:
    jitter) converts; without a config value the refusal says what the files' ``DeltaT`` measure.
    ``DeltaT`` relative to each file's own start (all 0) say nothing."""
    monkeypatch.chdir(tmp_path)
    write_ome_time_points(tmp_path / "abs", [0.0, 1200.0, 2404.0, 3600.0])
    config = TiffSourceConfig(files="abs/{position}/img_t{t}.ome.tif", time_interval_minutes=30)
    with pytest.raises(
        ValueError,
        match=r"^abs/Pos0/img_t000\.ome\.tif to abs/Pos1/img_t003\.ome\.tif \(8 files of one time point "
        r"each\): their planes' DeltaT advance by 20 min from file to file \(median of 6 steps, 19\.9 to "
        r"20\.1 min\), the config tiff\.time_interval_minutes = 30 min; they must agree \(within 10%\): set "
        r"tiff\.time_interval_minutes: 20",
    ):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    for stated in (20.0, 21.0):
        agreeing = config.model_copy(update={"time_interval_minutes": stated})
        layout = tiff_layout(agreeing, find_tiff_files(agreeing), "raw.zarr")
        assert (layout.time_interval_minutes, layout.n_frames) == (stated, 4)
    unstated = config.model_copy(update={"time_interval_minutes": None})
    with pytest.raises(
        ValueError,
        match=r"its metadata gives no time_interval_minutes \(one time point per file; the files' DeltaT "
        r"advance by 20 min: set tiff\.time_interval_minutes: 20\); give tiff\.time_interval_minutes$",
    ):
        tiff_layout(unstated, find_tiff_files(unstated), "raw.zarr")
    write_ome_time_points(tmp_path / "own", [0.0] * 4)
    own_start = TiffSourceConfig(files="own/{position}/img_t{t}.ome.tif", time_interval_minutes=30)
    assert tiff_layout(own_start, find_tiff_files(own_start), "raw.zarr").time_interval_minutes == 30
    unstated = own_start.model_copy(update={"time_interval_minutes": None})
    with pytest.raises(
        ValueError, match=r"gives no time_interval_minutes; give tiff\.time_interval_minutes$"
    ):
        tiff_layout(unstated, find_tiff_files(unstated), "raw.zarr")


def test_files_of_one_time_point_each_check_their_time_increment_against_their_delta_t(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """Files of one time point each stating ``TimeIncrement`` 30 min whose planes' ``DeltaT`` advance by
    20 min, no config interval: the first file's 30 min was taken silently (only a config's interval
    was compared). Refused naming the first file's TimeIncrement; within 10 % a WARNING naming it."""
    monkeypatch.chdir(tmp_path)
    write_ome_time_points(tmp_path / "off", [0.0, 1200.0, 2404.0, 3600.0], time_increment_s=1800.0)
    config = TiffSourceConfig(files="off/{position}/img_t{t}.ome.tif")
    with pytest.raises(
        ValueError,
        match=r"their planes' DeltaT advance by 20 min from file to file \(median of 6 steps, 19\.9 to "
        r"20\.1 min\), the first file's TimeIncrement = 30 min; they must agree \(within 10%\): set "
        r"tiff\.time_interval_minutes: 20",
    ):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    write_ome_time_points(tmp_path / "near", [0.0, 1200.0, 2404.0, 3600.0], time_increment_s=1260.0)
    near = TiffSourceConfig(files="near/{position}/img_t{t}.ome.tif")
    with caplog.at_level(logging.WARNING, logger="dynaclr.convert.tiff"):
        assert tiff_layout(near, find_tiff_files(near), "raw.zarr").time_interval_minutes == 21
    assert "the first file's TimeIncrement = 21 min: that is the plate's interval" in caplog.text


def test_files_of_one_time_point_each_whose_delta_t_steps_are_uneven_are_refused(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """Files of one time point each whose planes' ``DeltaT`` advance by 20, 20, 40, 20 min (a pause, a
    time point not acquired) converted at the config's 20 min (or asked for it) with exit 0: every time
    after the pause wrong. Refused as within a file, config or not, naming the FOV, the files around the
    step, the steps and the fix; ``DeltaT`` going back between files is named as not in acquisition
    order; steps within 50 % of their median (jitter) convert at the config's interval with a WARNING."""
    monkeypatch.chdir(tmp_path)
    write_ome_time_points(tmp_path / "pause", [0.0, 1200.0, 2400.0, 4800.0, 6000.0])
    config = TiffSourceConfig(files="pause/{position}/img_t{t}.ome.tif", time_interval_minutes=20)
    for stated in (20.0, None):
        with pytest.raises(
            ValueError,
            match=r"^pause/Pos0/img_t002\.ome\.tif \(2400 s\) to pause/Pos0/img_t003\.ome\.tif \(4800 s\) "
            r"\(FOV A/1/Pos0\): their planes' DeltaT advance by 40 min, from file to file by 20 min \(median "
            r"of 8 steps, 20 to 40 min\): not evenly spaced within 50% \(a time point not acquired, a pause "
            r"or a change of rate\); a plate has one frame interval.*tiff\.time_interval_minutes applies to "
            r"evenly spaced time points only",
        ):
            unstated = config.model_copy(update={"time_interval_minutes": stated})
            tiff_layout(unstated, find_tiff_files(unstated), "raw.zarr")
    write_ome_time_points(tmp_path / "most0", [0.0, 0.0, 0.0, 1200.0])  # not all 0: not own starts
    most0 = TiffSourceConfig(files="most0/{position}/img_t{t}.ome.tif", time_interval_minutes=20)
    with pytest.raises(ValueError, match=r"img_t003\.ome\.tif \(1200 s\) \(FOV A/1/Pos0\): .* within 50%"):
        tiff_layout(most0, find_tiff_files(most0), "raw.zarr")
    write_ome_time_points(tmp_path / "back", [0.0, 1200.0, 600.0, 1800.0])
    back = TiffSourceConfig(files="back/{position}/img_t{t}.ome.tif", time_interval_minutes=20)
    with pytest.raises(
        ValueError,
        match=r"^back/Pos0/img_t001\.ome\.tif \(1200 s\) to back/Pos0/img_t002\.ome\.tif \(600 s\) "
        r"\(FOV A/1/Pos0\): their planes' DeltaT decrease: the files' times are not in acquisition order",
    ):
        tiff_layout(back, find_tiff_files(back), "raw.zarr")
    write_ome_time_points(tmp_path / "jitter", [0.0, 1200.0, 2700.0, 3600.0])
    jitter = TiffSourceConfig(files="jitter/{position}/img_t{t}.ome.tif", time_interval_minutes=20)
    with caplog.at_level(logging.WARNING, logger="dynaclr.convert.tiff"):
        assert tiff_layout(jitter, find_tiff_files(jitter), "raw.zarr").time_interval_minutes == 20
    assert (
        "(median of 6 steps, 15 to 25 min): not evenly spaced within 10%; the config "
        "tiff.time_interval_minutes = 20 min is the plate's (steps within 50% of their median: jitter)"
    ) in caplog.text


# ------------------------------------------------------------------ the conversion's warnings in the report
def report_pages(plate: Path, out: Path) -> tuple[pd.DataFrame, str]:
    """Rule qc_table, then rule findings, on the converted ``plate``: the import warnings table (QC
    page) and the first page."""
    return qc_and_first_page(QcTableInputs(converted_plate=plate), out, "stack", "TIFF files *.tif")


def write_fiji_z_stacks(folder: Path) -> np.ndarray:
    """Two positions' Fiji z-stacks of 1 µm steps (5 slices, 1 frame, neither spacing nor finterval)."""
    stack = np.arange(5 * 8 * 10, dtype=np.uint16).reshape(5, 8, 10)
    for position in ("Pos0", "Pos1"):
        tifffile.imwrite(
            folder / f"{position}.tif",
            stack,
            imagej=True,
            resolution=(2, 2),
            metadata={"axes": "ZYX", "unit": "um"},
        )
    return stack


FIJI_STACK_CONFIG = {"files": "{position}.tif", "channel_names": ["DAPI"], "time_interval_minutes": 5}


def test_a_conversion_warning_reaches_its_record_the_qc_page_and_the_first_page(
    tmp_path: Path, monkeypatch
) -> None:
    """Before, the WARNING that a Fiji stack of slices without spacing or finterval was read as a
    z-stack (a movie Fiji saved as slices reads the same) was only in the job's log: the plate's
    record kept no warnings, and the report's QC page and first page said nothing of it."""
    monkeypatch.chdir(tmp_path)
    write_fiji_z_stacks(tmp_path)
    plate = convert(
        TiffSourceConfig.model_validate({**FIJI_STACK_CONFIG, "z_step_um": 1.0}), tmp_path / "raw.zarr"
    )
    (recorded,) = read_zarr_provenance(plate, "raw_plate").config["import_warnings"]
    assert recorded.startswith("Pos0.tif: its ImageJ metadata gives 5 slices and 1 frame, no slice spacing")
    assert "give tiff.axes 'TYX'" in recorded
    warnings, page = report_pages(plate, tmp_path)
    assert warnings.to_dict(orient="records") == [
        {"record": f"TIFF conversion ({tmp_path / 'raw.zarr'})", "warning": recorded}
    ]
    (line,) = [line for line in page.splitlines() if "import warning" in line]
    assert line.startswith("- **stack**, import warning: Pos0.tif: its ImageJ metadata gives 5 slices")
    assert "(from the TIFF conversion (" in line and line.endswith("raw.zarr)).")
    provenance, metrics = read_fov_record(tmp_path / "qc.json", "qc_table")
    assert metrics["import_warnings"] == warnings.to_dict(orient="records")
    assert [Path(entry.path).name for entry in provenance.inputs] == ["raw.zarr"]


def test_a_warning_repeated_for_every_file_is_recorded_once_with_their_count(
    tmp_path: Path, monkeypatch
) -> None:
    """tiff.axes relabelling each file's metadata warns per file (10^5 files of one time point would
    give 10^5 lines): the record keeps the first, saying how many more files it concerns; a logger
    set above WARNING (a quieter log) does not make the record say there were none."""
    monkeypatch.chdir(tmp_path)
    write_fiji_z_stacks(tmp_path)
    quieter = logging.getLogger("dynaclr.convert")
    quieter.setLevel(logging.ERROR)
    try:
        config = TiffSourceConfig.model_validate({**FIJI_STACK_CONFIG, "axes": "TYX"})
        plate = convert(config, tmp_path / "raw.zarr")
        assert quieter.level == logging.ERROR
    finally:
        quieter.setLevel(logging.NOTSET)
    (recorded,) = read_zarr_provenance(plate, "raw_plate").config["import_warnings"]
    assert recorded.startswith("Pos0.tif: tiff.axes 'TYX' relabels the axes 'ZYX'")
    assert recorded.endswith("(and 1 more file like it: see the log of rule convert_tiff)")


def test_a_conversion_without_warnings_and_one_before_they_were_recorded_say_so(
    tmp_path: Path, monkeypatch
) -> None:
    """A plate converted before its warnings were recorded: 'no import warnings' would be a guess, and
    rerunning the conversion is not needed to report the rest: its row says they were not recorded."""
    monkeypatch.chdir(tmp_path)
    write_fiji_z_stacks(tmp_path)
    plate = convert(
        TiffSourceConfig.model_validate({**FIJI_STACK_CONFIG, "axes": "ZYX", "z_step_um": 1.0}),
        tmp_path / "raw.zarr",
    )
    assert read_zarr_provenance(plate, "raw_plate").config["import_warnings"] == []
    warnings, page = report_pages(plate, tmp_path)
    assert list(warnings["warning"]) == ["no import warnings"]
    (line,) = [line for line in page.splitlines() if "import warning" in line]
    assert line.startswith("- **stack**, import warnings: No import warnings (TIFF conversion (")
    provenance = read_zarr_provenance(plate, "raw_plate")
    del provenance.config["import_warnings"]
    write_zarr_provenance(plate, provenance)
    warnings, page = report_pages(plate, tmp_path)
    (not_recorded,) = warnings["warning"]
    assert not_recorded.startswith("warnings not recorded: the plate was converted before they were")
    # the results folder is configurable: named as such, not as 'results/'
    assert "(logs/convert_tiff/<dataset>.log under the results folder)" in not_recorded
    assert "results/logs" not in not_recorded
    (line,) = [line for line in page.splitlines() if "import warning" in line]
    assert line.startswith("- **stack**, import warning: warnings not recorded: the plate was converted")


def test_each_setting_a_call_site_warns_about_is_kept_and_files_are_counted(
    tmp_path: Path, monkeypatch
) -> None:
    """Before, warnings were kept one per call site: a file whose pixel size and z step were both out
    of bounds kept the pixel size's "(and 1 more like it)", the z step's never reached the report;
    and the count was of log lines, not files."""
    monkeypatch.chdir(tmp_path)
    for position in ("Pos0", "Pos1"):
        tifffile.imwrite(
            tmp_path / f"{position}.tif",
            np.zeros((5, 8, 10), dtype=np.uint16),
            imagej=True,
            resolution=(1e-3, 1e-3),  # 1000 µm pixels
            metadata={"axes": "ZYX", "unit": "um", "spacing": 500.0},
        )
    config = {**FIJI_STACK_CONFIG, "pixel_size_um": 0.5, "z_step_um": 1.0}
    plate = convert(TiffSourceConfig.model_validate(config), tmp_path / "raw.zarr")
    pixel_size, z_step = read_zarr_provenance(plate, "raw_plate").config["import_warnings"]
    assert pixel_size.startswith("Pos0.tif: its metadata gives pixel_size_um = 1000 µm")
    assert z_step.startswith("Pos0.tif: its metadata gives z_step_um = 500 µm")
    with kept_warnings("dynaclr.test_kept") as kept:
        logged = logging.getLogger("dynaclr.test_kept.site")
        for path, axes in [("a.tif", "ZYX"), ("a.tif", "ZYX"), ("b.tif", "ZYX"), ("a.tif", "CYX")]:
            logged.warning("%s: axes %r relabelled", Path(path), axes)  # one call site
        for _ in range(3):
            logged.warning("no file named")
    assert kept.texts() == [
        "a.tif: axes 'ZYX' relabelled (and 1 more file like it: see the log of rule convert_tiff)",
        "a.tif: axes 'CYX' relabelled",
        "no file named (and 2 more times like it: see the log of rule convert_tiff)",
    ]


def test_a_message_logged_with_ever_new_values_keeps_a_bounded_number_of_texts() -> None:
    """A per-file message whose other values differ per file (a jittered file's steps) is not kept
    10^5 times: past MAX_TEXTS_PER_MESSAGE texts its files are counted on the last one, as files giving
    the message with other values (they were counted "like it", values they did not give), apart from
    the files giving the last text's; a message naming no file counts the times."""
    log = logging.getLogger("dynaclr.test_kept")
    last = MAX_TEXTS_PER_MESSAGE - 1
    with kept_warnings("dynaclr.test_kept") as kept:
        for index in range(MAX_TEXTS_PER_MESSAGE + 5):
            log.warning("%s: steps %d", Path(f"f{index}.tif"), index)
        log.warning("%s: steps %d", Path("g.tif"), last)  # the last text's values
        for index in range(MAX_TEXTS_PER_MESSAGE + 1):
            log.warning("no file, steps %d", index)
    texts = kept.texts()
    assert len(texts) == 2 * MAX_TEXTS_PER_MESSAGE
    assert texts[MAX_TEXTS_PER_MESSAGE - 1] == (
        f"f{last}.tif: steps {last} (and 1 more file like it; 5 more files gave this message with other "
        "values: see the log of rule convert_tiff)"
    )
    assert texts[-1] == (
        f"no file, steps {last} (logged 1 more time with other values: see the log of rule convert_tiff)"
    )


def test_the_kept_warnings_handler_is_removed_and_the_level_restored_after_an_error() -> None:
    named = logging.getLogger("dynaclr.test_kept")
    named.setLevel(logging.ERROR)
    try:
        with (
            pytest.raises(RuntimeError, match="conversion failed"),
            kept_warnings("dynaclr.test_kept") as kept,
        ):
            assert kept in named.handlers and named.level == logging.WARNING
            raise RuntimeError("conversion failed")
        assert kept not in named.handlers
        assert named.level == logging.ERROR
    finally:
        named.setLevel(logging.NOTSET)


# ------------------------------------------------------------------ one file per channel (and slice)
def write_micro_manager(root: Path, images: dict[str, np.ndarray], plate: Path, split_z: bool) -> None:
    """Micro-Manager's "separate image files": one plain TIFF per position, time point and channel
    (1.4: ``Pos0/img_000000000_DAPI_000.tif``, each a z-stack here), or per slice too (2.0:
    ``Pos1/img_channel000_position001_time000000000_z000.tif``, each a plane: the position's index in
    every file name)."""
    names = read_plate_layout(plate).channel_names
    for i, (fov, image) in enumerate(images.items()):
        folder = root / "mm" / POSITION_OF[fov]
        folder.mkdir(parents=True)
        for t, c in itertools.product(range(image.shape[0]), range(image.shape[1])):
            if not split_z:
                tifffile.imwrite(folder / f"img_{t:09d}_{names[c]}_000.tif", image[t, c], metadata=None)
                continue
            for z in range(image.shape[2]):
                name = f"img_channel{c:03d}_position{i:03d}_time{t:09d}_z{z:03d}.tif"
                tifffile.imwrite(folder / name, image[t, c, z], metadata=None)


def micro_manager_config(plate: Path, split_z: bool, **changes: Any) -> TiffSourceConfig:
    default = (
        "mm/{position}/img_channel{c}_position{_}_time{t}_z{z}.tif"
        if split_z
        else "mm/{position}/img_{t}_{c}_000.tif"
    )
    files = changes.pop("files", default)
    return plain_config(plate, files=files, axes="YX" if split_z else "ZYX", **changes)


def small_config(files: str, **changes: Any) -> TiffSourceConfig:
    """A config of files written from planes of the tiny plate, its sampling given (5 min, 0.5 µm)."""
    return TiffSourceConfig.model_validate(
        {"files": files, "time_interval_minutes": 5, "pixel_size_um": 0.5, "z_step_um": 1.0, **changes}
    )


def assert_layout_refused(config: TiffSourceConfig, match: str) -> None:
    """Planning (the dry run's :func:`tiff_layout`) refuses ``config``'s files with ``match``."""
    with pytest.raises(ValueError, match=match):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")


def convert_recording_buffers(
    config: TiffSourceConfig, out: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, list[tuple[int, ...]]]:
    """:func:`convert`, and the shape of each buffer the writer allocated (``np.zeros``)."""
    buffers: list[tuple[int, ...]] = []

    def zeros(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        buffers.append(tuple(shape))
        return np.zeros(shape, dtype)

    class Numpy:  # numpy, but for the writer's buffers
        def __getattr__(self, name: str) -> Any:
            return zeros if name == "zeros" else getattr(np, name)

    with monkeypatch.context() as patched:
        patched.setattr(convert_stage, "np", Numpy())
        plate = convert(config, out)
    return plate, buffers


@pytest.mark.parametrize("split_z", [False, True], ids=["per-channel", "per-channel-and-slice"])
def test_micro_manager_files_per_channel_convert_voxel_for_voxel(
    tiny_plate: dict[str, Path],
    tiny_images: dict[str, np.ndarray],
    tmp_path: Path,
    monkeypatch,
    split_z: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_micro_manager(tmp_path, tiny_images, tiny_plate["plate"], split_z)
    config = micro_manager_config(tiny_plate["plate"], split_z)
    # what the writer holds: one buffer per time point of a position, of that one time point
    plate, buffers = convert_recording_buffers(config, tmp_path / "raw.zarr", monkeypatch)
    n_t, *per_time_point = next(iter(tiny_images.values())).shape
    assert buffers == [(1, *per_time_point)] * (n_t * len(tiny_images))
    assert_same_plate(plate, tiny_images, tiny_plate["plate"])
    # a job's layout (the file names, the first file's header) and sampling (the first FOV's names) are
    # the dry run's
    index = index_tiff_files(config, find_tiff_files(config))
    layout = read_plate_layout(plate)
    assert layout_from_headers(config, index, read_first_tiff_header(config, index), plate) == layout
    assert first_fov_files(config).files == {"A/1/0": index.files["A/1/0"]}
    sampling = read_tiff_sampling(config)
    assert {key: getattr(sampling, key) for key in SAMPLING_FIELDS} == {
        key: getattr(layout, key) for key in SAMPLING_FIELDS
    }


def test_channels_named_in_the_files_take_the_order_of_channel_names(
    tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    """``{c}`` matching names: the plate's channels are ``channel_names`` in its order, whatever the
    files' alphabetical order."""
    monkeypatch.chdir(tmp_path)
    image = tiny_images["A/1/0"][:3]
    two = np.stack([image[:, 0], image[:, 0] + 1], axis=1)  # (T, 2, Z, Y, X)
    for t, c in itertools.product(range(3), range(2)):
        tifffile.imwrite(tmp_path / f"Pos0_{t}_{['Phase', 'DAPI'][c]}.tif", two[t, c], metadata=None)
    config = small_config("{position}_{t}_{c}.tif", axes="ZYX", channel_names=["Phase", "DAPI"])
    plate = convert(config, tmp_path / "raw.zarr")
    assert read_plate_layout(plate).channel_names == ("Phase", "DAPI")
    np.testing.assert_array_equal(raw_images(plate)["A/1/Pos0"], two)


def test_a_missing_channel_file_is_refused_naming_it_and_the_count(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_micro_manager(tmp_path, tiny_images, tiny_plate["plate"], split_z=True)
    (tmp_path / "mm" / "B1-site0" / "img_channel000_position001_time000000004_z001.tif").unlink()
    (tmp_path / "mm" / "A1-site0" / "img_channel000_position000_time000000011_z000.tif").unlink()
    config = micro_manager_config(tiny_plate["plate"], split_z=True)
    # each missing file as the path the pattern gives it, from its siblings' matched text
    assert_layout_refused(
        config,
        r"every position needs a file for every time point 0\.\.11, channel 0\.\.\d+ and slice "
        r"0\.\.\d+; 2 files are missing: mm/A1-site0/img_channel000_position000_time000000011_z000\.tif "
        r"\(time point 11, channel 0 \(\w+\), slice 0\); "
        r"mm/B1-site0/img_channel000_position001_time000000004_z001\.tif \(time point 4, channel 0 "
        r"\(\w+\), slice 1\)$",
    )


@pytest.fixture
def micro_manager_2_0(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> Path:
    """The tiny plate as Micro-Manager 2.0's files of one plane each under ``tmp_path/mm`` (the
    working directory); the tiny plate's path."""
    monkeypatch.chdir(tmp_path)
    write_micro_manager(tmp_path, tiny_images, tiny_plate["plate"], split_z=True)
    return tiny_plate["plate"]


def test_a_position_folder_holding_no_file_of_the_pattern_is_refused(
    micro_manager_2_0: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Micro-Manager 2.0 names the position in each file (``position001`` in ``Pos1``): a pattern
    fixing ``position000`` matched the first folder's files only, and the plate held one position
    (exit 0). Every folder ``{position}`` matches that holds TIFF files must hold files of the pattern."""
    files = "mm/{position}/img_channel{c}_position000_time{t}_z{z}.tif"
    config = micro_manager_config(micro_manager_2_0, split_z=True, files=files)
    assert_layout_refused(
        config,
        r"the folders \['mm/B1-site0'\] \(of 2 '\{position\}' matches\) hold Micro-Manager's "
        r"metadata\.txt or TIFF files named as .* but for their digits, and no file matching .*'\{_\}'",
    )
    config = micro_manager_config(micro_manager_2_0, split_z=True)
    layout = tiff_layout(config, find_tiff_files(config), "raw.zarr")
    # an empty folder, one of another tool's output (TIFFs of other names), and a results folder
    # holding TIFF files deeper than the pattern's are no positions: passed over, said
    (tmp_path / "mm" / "C1-site0").mkdir()
    (tmp_path / "mm" / "analysis").mkdir()
    (tmp_path / "mm" / "analysis" / "cells.csv").write_text("t,y,x\n")
    tifffile.imwrite(tmp_path / "mm" / "analysis" / "overview.tif", np.zeros((4, 4), np.uint16))
    (tmp_path / "mm" / "results" / "ctc").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "mm" / "results" / "ctc" / "mask000.tif", np.zeros((4, 4), np.uint16))
    with caplog.at_level(logging.WARNING, logger="dynaclr.convert"):
        assert tiff_layout(config, find_tiff_files(config), "raw.zarr").fov_names == layout.fov_names
    assert len(layout.fov_names) == 2
    assert (
        "['mm/C1-site0', 'mm/analysis', 'mm/results'] (of 5 '{position}' matches) hold no file" in caplog.text
    )
    plate = convert(config, tmp_path / "raw.zarr")  # the plate's record keeps the folders passed over
    (kept,) = read_zarr_provenance(plate, "raw_plate").config["import_warnings"]
    assert "['mm/C1-site0', 'mm/analysis', 'mm/results']" in kept and "passed over" in kept
    # a folder of Micro-Manager's metadata whose images were never copied is a position left out
    (tmp_path / "mm" / "C1-site0" / "metadata.txt").write_text("{}")
    assert_layout_refused(
        config, r"the folders \['mm/C1-site0'\] \(of 5 .*metadata\.txt or TIFF files .* no file matching"
    )
    (tmp_path / "mm" / "C1-site0" / "metadata.txt").unlink()
    # with '{_}', a position's own files in it make it a position (here one tiff.positions lacks)
    name = "img_channel000_position002_time000000000_z000.tif"
    tifffile.imwrite(tmp_path / "mm" / "C1-site0" / name, np.zeros((4, 4), np.uint16))
    assert_layout_refused(config, r"positions \['C1-site0'\] have files but no FOV name")


def test_a_gap_in_the_channel_or_slice_indices_is_refused(
    tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plane = tiny_images["A/1/0"][0, 0, 0]
    for c in (1, 3):  # channel 2 (b) not written, in any position or time point
        tifffile.imwrite(tmp_path / f"Pos0_c{c}.tif", plane, metadata=None)
    config = small_config("{position}_c{c}.tif", axes="YX", channel_names=["a", "b", "c"])
    assert_layout_refused(config, r"channel 0\.\.2.*1 file is missing: Pos0_c2\.tif \(channel 1 \(b\)\)$")
    for z in (0, 1, 3):  # slice 2 not written; zero padding as its siblings'
        tifffile.imwrite(tmp_path / f"Pos0_z{z:02d}.tif", plane, metadata=None)
    config = config.model_copy(update={"files": "{position}_z{z}.tif", "channel_names": ["a"]})
    assert_layout_refused(config, r"every slice 0\.\.3; 1 file is missing: Pos0_z02\.tif \(slice 2\)$")


@pytest.mark.parametrize(
    ("names", "files", "channel_names", "message"),
    [
        (
            ["Pos0_a_c0.tif", "Pos0_b_c0.tif"],
            "{position}_{_}_c{c}.tif",
            ["x"],
            r"channel 0 \(x\) of position 'Pos0' is both Pos0_a_c0\.tif and Pos0_b_c0\.tif; "
            r"'\{_\}' in the pattern",
        ),
        (
            ["Pos0_488.tif", "Pos0_561.tif"],
            "{position}_{c}.tif",
            ["GFP", "RFP"],
            r"'\{c\}' matched the integers \['488', '561'\], 74 channels from 488 to 561 as indices, but "
            r"tiff\.channel_names lists 2: \['GFP', 'RFP'\]; .*channel_names: \['488', '561'\]",
        ),
    ],
    ids=["differing-only-in-anonymous", "wavelengths-as-indices"],
)
def test_ambiguous_files_and_channel_integers_beyond_channel_names_are_refused(
    tiny_images: dict[str, np.ndarray],
    tmp_path: Path,
    monkeypatch,
    names: list[str],
    files: str,
    channel_names: list[str],
    message: str,
) -> None:
    """Two files of one key differing only where ``{_}`` matched; integers ``{c}`` matched spanning
    more indices than ``channel_names`` has names (wavelengths 488 and 561 under two names: before,
    72 files "missing")."""
    monkeypatch.chdir(tmp_path)
    for name in names:
        tifffile.imwrite(name, tiny_images["A/1/0"][0, 0, 0], metadata=None)
    assert_layout_refused(small_config(files, axes="YX", channel_names=channel_names), message)


def test_an_acquisition_stopped_during_its_last_time_point_is_named(
    micro_manager_2_0: Path, tmp_path: Path
) -> None:
    for path in (tmp_path / "mm" / "B1-site0").glob("img_channel001_*_time000000011_*.tif"):
        path.unlink()
    config = micro_manager_config(micro_manager_2_0, split_z=True)
    assert_layout_refused(
        config,
        r"files are missing: .*Every missing file is of the last time point, 11 \(an acquisition stopped "
        r"during it\?\): move its \d+ files aside \(mm/A1-site0/img_channel000_position000_time000000011_"
        r"z000\.tif, \.\.\.\) to convert the time points before it",
    )


@pytest.mark.parametrize(
    ("files", "kept", "message"),
    [
        ("{position}_t{t}_{c}.tif", "t", r"channel 1 \(b\) has no file at the time points \[1, 3\]"),
        ("{position}_{c}_z{z}.tif", "z", r"channel 1 \(b\) has no file at the slices \[1, 2, 3\]"),
    ],
    ids=["skip-frames", "z-stack-off"],
)
def test_a_channel_acquired_at_fewer_time_points_or_slices_is_told_to_be_a_dataset_of_its_own(
    tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch, files: str, kept: str, message: str
) -> None:
    """Micro-Manager's "skip frames" for a channel, or its z-stack off: the plate must be complete."""
    monkeypatch.chdir(tmp_path)
    plane = tiny_images["A/1/0"][0, 0, 0]
    for position, index, c in itertools.product(["Pos0", "Pos1"], range(4), ["a", "b"]):
        if c == "b" and (index % 2 if kept == "t" else index):
            continue  # b every other time point, or at slice 0 only
        name = files.format(position=position, c=c, **{kept: index})
        tifffile.imwrite(tmp_path / name, plane, metadata=None)
    config = small_config(files, axes="YX", channel_names=["a", "b"])
    assert_layout_refused(
        config,
        message + r".*the plate must be complete .* a channel acquired at fewer time points or slices "
        r"goes in a dataset of its own",
    )


def test_a_channel_name_not_in_channel_names_is_refused(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_micro_manager(tmp_path, tiny_images, tiny_plate["plate"], split_z=False)
    stray = tmp_path / "mm" / "A1-site0" / "img_000000000_GFP_000.tif"
    shutil.copy(next((tmp_path / "mm" / "A1-site0").iterdir()), stray)
    config = micro_manager_config(tiny_plate["plate"], split_z=False)
    assert_layout_refused(
        config,
        r"'\{c\}' matched \['GFP'\] .*mm/A1-site0/img_000000000_GFP_000\.tif.* not in "
        r"tiff\.channel_names",
    )
    # names without channel_names: no order to put them in
    config = micro_manager_config(tiny_plate["plate"], split_z=False, channel_names=None)
    stray.unlink()
    assert_layout_refused(
        config, r"'\{c\}' in tiff\.files .* matched channel names \['Brightfield', .*give tiff\.channel_names"
    )


def test_a_file_of_several_channels_under_a_channel_placeholder_is_refused(
    tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    image = tiny_images["A/1/0"][0, :, 0]  # (C, Y, X), C > 1
    for c in range(2):
        tifffile.imwrite(
            tmp_path / f"Pos0_{c}.tif", image, photometric="minisblack", metadata={"axes": "CYX"}
        )
    config = small_config("{position}_{c}.tif", channel_names=["a", "b"])
    assert_layout_refused(config, r"Pos0_0\.tif: holds \d+ channels .*'\{c\}' hold one each")


def test_a_file_whose_ome_channel_name_is_not_its_channels_is_refused(
    tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    """With ``{c}`` each file's OME metadata names its own channel, which must be the one ``{c}``
    placed it at (a file named DAPI holding Phase, or channel_names in another order)."""
    monkeypatch.chdir(tmp_path)
    plane = tiny_images["A/1/0"][0, 0, 0]
    for c, name in enumerate(["Phase", "DAPI"]):
        metadata = {"axes": "YX", "Channel": {"Name": [name]}, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
        tifffile.imwrite(tmp_path / f"Pos0_c{c}.ome.tif", plane, metadata=metadata)
    config = small_config("{position}_c{c}.ome.tif", channel_names=["Phase", "DAPI"])
    assert tiff_layout(config, find_tiff_files(config), "raw.zarr").channel_names == ("Phase", "DAPI")
    swapped = config.model_copy(update={"channel_names": ["DAPI", "Phase"]})
    assert_layout_refused(swapped, r"Pos0_c0\.ome\.tif: its OME metadata names the channels \['Phase'\], but")


@pytest.mark.parametrize("n_t", [1, 3], ids=["one-time-point", "time-points-in-each-file"])
def test_files_of_one_slice_each_without_time_points_write_each_chunk_once(
    tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch, n_t: int
) -> None:
    """``{z}`` without ``{t}``: a chunk of a whole z-stack written a slice at a time is rewritten once
    per slice. One time point: the position's z-stack is put together in memory and written at once;
    several in each file: one chunk per plane."""
    monkeypatch.chdir(tmp_path)
    image = tiny_images["A/1/0"][:n_t, :1]  # (T, 1, Z, Y, X)
    n_z = image.shape[2]
    assert n_z > 1
    for z in range(n_z):
        tifffile.imwrite(tmp_path / f"Pos0_z{z}.tif", image[:, 0, z].squeeze(), metadata=None)
    config = small_config("{position}_z{z}.tif", axes="YX" if n_t == 1 else "TYX", channel_names=["a"])
    plate, buffers = convert_recording_buffers(config, tmp_path / "raw.zarr", monkeypatch)
    np.testing.assert_array_equal(raw_images(plate)["A/1/Pos0"], image)
    with open_ome_zarr(plate, layout="hcs", mode="r") as store:
        chunks = store["A/1/Pos0"]["0"].chunks
    if n_t == 1:
        assert buffers == [(1, *image.shape[1:])]
        assert chunks == (1, 1, n_z, *image.shape[3:])
    else:
        assert buffers == []
        assert chunks == (1, 1, 1, *image.shape[3:])


def test_refusals_name_the_first_five_files_or_folders_and_count_the_rest(
    micro_manager_2_0: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Both lists are cut at ``MISSING_FILES_SHOWN``: the missing files with how many more are
    missing, the folders passed over with how many there are."""
    config = micro_manager_config(micro_manager_2_0, split_z=True)
    for name in "CDEFGH":
        (tmp_path / "mm" / f"{name}1-site0").mkdir()
    with caplog.at_level(logging.WARNING, logger="dynaclr.convert"):
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    shown = ", ".join(f"'mm/{name}1-site0'" for name in "CDEFG")
    assert f"[{shown}, '... (6 folders)'] (of 8 '{{position}}' matches) hold no file" in caplog.text
    gone = sorted((tmp_path / "mm" / "B1-site0").glob("img_*_time000000011_*.tif"))
    assert len(gone) > 5
    for path in gone:
        path.unlink()
    with pytest.raises(ValueError, match=rf"; {len(gone)} files are missing: ") as refused:
        tiff_layout(config, find_tiff_files(config), "raw.zarr")
    named = re.findall(r"mm/B1-site0/img_\w+\.tif \(time point 11, [^;]*\)", str(refused.value))
    assert len(named) == 5, str(refused.value)
    assert f"; ... ({len(gone) - 5} more). Every missing file is of the last time point" in str(refused.value)


def write_ome_in_channel_orders(
    root: Path,
    images: dict[str, np.ndarray],
    names: list[str],
    orders: dict[str, list[str]],
    per_t: bool,
    labels: dict[str, list[str]] | None = None,
) -> None:
    """OME-TIFFs of the tiny plate's FOVs (``images``, channels ``names``), FOV ``fov``'s channels in the
    order ``orders[fov]`` (its pixels and its OME channel names alike; the names ``labels[fov]`` where
    given): one file per position (``TCZYX``), or one per position and time point (``CZYX``, ``per_t``)."""
    for fov, image in images.items():
        order = orders[fov]
        reordered = image[:, [names.index(name) for name in order]]
        frames = list(enumerate(reordered)) if per_t else [(None, reordered)]
        for t, data in frames:
            path = root / "tiffs" / POSITION_OF[fov] / (f"img_t{t:03d}.ome.tif" if per_t else "all.ome.tif")
            path.parent.mkdir(parents=True, exist_ok=True)
            metadata = {
                "axes": "CZYX" if per_t else "TCZYX",
                "Channel": {"Name": (labels or {}).get(fov, order)},
                "PhysicalSizeX": 0.5,
            }
            tifffile.imwrite(path, data, metadata=metadata)


@pytest.mark.parametrize("per_t", [False, True], ids=["one-file-per-position", "one-file-per-time-point"])
def test_files_listing_the_channels_in_other_orders_are_placed_by_name(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch, per_t: bool
) -> None:
    """One position's OME-TIFFs name the channels in another order than the other's (or than
    ``channel_names``): each file's channels are placed by name into the plate's order,
    ``channel_names`` or the first file's. Before, every such file was refused ("make them agree")."""
    monkeypatch.chdir(tmp_path)
    names = list(read_plate_layout(tiny_plate["plate"]).channel_names)
    swapped, rotated = names[::-1], names[1:] + names[:1]
    write_ome_in_channel_orders(tmp_path, tiny_images, names, {"A/1/0": names, "B/1/0": swapped}, per_t)
    files = "tiffs/{position}/" + ("img_t{t}.ome.tif" if per_t else "all.ome.tif")
    config = small_config(files, positions=POSITIONS)
    for run, (channel_names, order) in enumerate(((None, names), (names, names), (rotated, rotated))):
        given = config.model_copy(update={"channel_names": channel_names})
        out = tmp_path / f"raw_{run}.zarr"
        plate = convert(given, out)
        assert read_plate_layout(plate).channel_names == tuple(order)
        for fov, image in raw_images(plate).items():
            expected = tiny_images[fov][:, [names.index(name) for name in order]]
            np.testing.assert_array_equal(image, expected, err_msg=f"{fov}, channel_names {channel_names}")
        with open_ome_zarr(plate, layout="hcs", mode="r") as store:
            assert [position.channel_names for _, position in store.positions()] == [order, order]


def test_a_file_naming_other_channels_is_refused_naming_both_sets(
    tiny_plate: dict[str, Path], tiny_images: dict[str, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    """Placed by name, a file must name the plate's channels (in any order): another set stops the
    run naming the file, the channels expected and those found (and where the expected came from)."""
    monkeypatch.chdir(tmp_path)
    names = list(read_plate_layout(tiny_plate["plate"]).channel_names)
    assert "GFP" not in names
    swapped = names[::-1]
    other = [name if name != names[0] else "GFP" for name in swapped]  # another order, one name other
    orders, labels = {"A/1/0": names, "B/1/0": swapped}, {"B/1/0": other}
    write_ome_in_channel_orders(tmp_path, tiny_images, names, orders, per_t=False, labels=labels)
    config = small_config("tiffs/{position}/all.ome.tif", positions=POSITIONS)
    expected, found = re.escape(str(sorted(names))), re.escape(str(sorted(other)))
    assert_layout_refused(
        config,
        rf"B1-site0/all\.ome\.tif: its OME metadata names the channels {found}, expected the channels "
        rf"{expected} of the OME metadata of tiffs/A1-site0/all\.ome\.tif \(the first file naming channels\)",
    )
    given = config.model_copy(update={"channel_names": other})
    assert_layout_refused(
        given,
        rf"A1-site0/all\.ome\.tif: its OME metadata names the channels {expected}, expected the channels "
        rf"{found} of the config tiff\.channel_names \(in any order\)",
    )
