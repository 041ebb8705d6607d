"""A plate's layout read from its metadata, and the plates the stages refuse before reading pixels."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from iohub.ngff import open_ome_zarr
from plate_helpers import (
    edit_position_metadata,
    ome_attributes,
    record_position_reads,
    rename_position,
    write_plate,
    write_plate_in_channel_orders,
)

from dynaclr.config.phase import PhaseConfig
from dynaclr.config.plate_checks import simulated_layout
from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.tracking import TrackingConfig
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io import ArtifactError
from dynaclr.io.plate import (
    EXPECTED_AXES,
    PlateGeometry,
    PlateLayout,
    check_plate_axes,
    create_empty_plate,
    position_geometry,
    read_plate_layout,
    read_plate_sampling,
    scale_transform,
)
from dynaclr.io.provenance import make_provenance
from dynaclr.virtual_stain.transfer import training_input_record

SHAPE = (6, 2, 3, 64, 48)


def test_layout_of_a_plate_with_pos0_style_names(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/Pos0", "A/1/Pos1", "B/12/Pos0"], ["Nuclei", "GFP"], SHAPE)
    layout = read_plate_layout(plate)
    assert layout.fov_names == ("A/1/Pos0", "A/1/Pos1", "B/12/Pos0")
    assert layout.channel_names == ("Nuclei", "GFP")
    assert layout.axes == EXPECTED_AXES
    assert layout.shape_tczyx == SHAPE and layout.n_frames == 6
    assert layout.time_interval_minutes == pytest.approx(10.0)
    assert (layout.geometry.z_step_um, layout.geometry.pixel_size_um) == (2.0, 0.65)


def test_simulated_layout_is_what_the_simulator_writes(
    tiny_plate: dict[str, Path], tiny_config: SimulateConfig
) -> None:
    read = read_plate_layout(tiny_plate["plate"])
    predicted = simulated_layout(tiny_config, str(tiny_plate["plate"]))
    assert read == predicted


def test_fov_names_with_shell_characters_are_refused_naming_plate_and_name(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei"], (6, 1, 3, 64, 48))
    rename_position(plate, "A/1/1", "1; rm -rf x")
    # iohub skips a position it cannot open with a warning only: the plate would lose a FOV silently
    with pytest.raises(ArtifactError, match=r"p.zarr: FOV names \['A/1/1; rm -rf x'\] hold characters"):
        read_plate_layout(plate)


def test_arrays_in_another_axis_order_are_refused(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "czt.zarr", ["A/1/0"], ["Nuclei", "GFP"], SHAPE, channel_first=True)
    expected = (
        r"czt.zarr: arrays are stored with axes \(c \[channel\], t \[time\], z.*dynaclr reads \(t \[time\]"
    )
    with pytest.raises(ArtifactError, match=expected):
        read_plate_layout(plate)
    with pytest.raises(ArtifactError, match=expected):
        check_plate_axes(plate)
    check_plate_axes(write_plate(tmp_path / "tczyx.zarr", ["A/1/0"], ["Nuclei", "GFP"], SHAPE))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_axes_in_order_without_their_types_are_refused_as_such(tmp_path: Path, version: str) -> None:
    """Axes named t, c, z, y, x in that order without a ``type`` (OME-NGFF: each axis SHOULD have one;
    iohub cannot read an axis without it): the refusal told to rewrite the arrays in TCZYX order,
    which they are in; it names the missing types and the key to write instead."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei", "GFP"], SHAPE, version=version)
    for fov in ("A/1/0", "A/1/1"):
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"]:
                del axis["type"]
    expected = (
        r"p\.zarr: arrays are stored with axes \(t \[None\], c \[None\], z \[None\], y \[None\], "
        r"x \[None\]\): "
        r"named t, c, z, y, x in the order dynaclr reads, but expected each axis's OME-NGFF type "
        r"\(multiscales\[0\]\.axes\[\]\.type\): t time, c channel, z, y and x space"
    )
    for read in (read_plate_layout, check_plate_axes):
        with pytest.raises(ArtifactError, match=expected) as raised:
            read(plate)
        assert "TCZYX order" not in str(raised.value)


def test_positions_of_different_shapes_missing_and_foreign_stores_are_refused(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0"], ["Nuclei"], (6, 1, 3, 64, 48))
    other = write_plate(tmp_path / "q.zarr", ["A/1/0"], ["Nuclei"], (5, 1, 3, 64, 48))
    shutil.copytree(other / "A" / "1" / "0", plate / "A" / "1" / "1")  # a second position, 5 frames
    well = plate / "A" / "1" / "zarr.json"
    well.write_text(well.read_text().replace('"images": [', '"images": [{"acquisition": 0, "path": "1"}, '))
    with pytest.raises(ArtifactError, match=r"positions differ in array shape .*\(5, 1, 3, 64, 48\)"):
        read_plate_layout(plate)
    with pytest.raises(ArtifactError, match=r"nope\.zarr: plate not found"):
        read_plate_layout(tmp_path / "nope.zarr")
    (tmp_path / "table.zarr").mkdir()
    with pytest.raises(ArtifactError, match=r"table\.zarr: the plate cannot be read as a zarr group"):
        read_plate_layout(tmp_path / "table.zarr")


def test_plate_creating_stages_refuse_another_axis_order(tmp_path: Path) -> None:
    from dynaclr.phase.reconstruct import PhasePlateInputs, PhasePlateOutputs, create_phase_plate
    from dynaclr.tracking.fov import TracksPlateInputs, TracksPlateOutputs, create_tracks_plate
    from dynaclr.virtual_stain.plates import (
        VirtualStainPlateInputs,
        VirtualStainPlateOutputs,
        create_virtual_stain_plate,
    )

    plate = write_plate(tmp_path / "czt.zarr", ["A/1/0"], ["Phase3D", "Nuclei"], SHAPE, channel_first=True)
    axes = r"czt.zarr: arrays are stored with axes \(c \[channel\], t \[time\]"
    with pytest.raises(ArtifactError, match=axes):
        create_phase_plate(
            PhaseConfig(), PhasePlateInputs(plate=plate), PhasePlateOutputs(phase_plate=tmp_path / "ph.zarr")
        )
    with pytest.raises(ArtifactError, match=axes):
        create_tracks_plate(
            TrackingConfig(),
            TracksPlateInputs(plate=plate),
            TracksPlateOutputs(tracks_plate=tmp_path / "tr.zarr"),
            channel="Nuclei",
        )
    with pytest.raises(ArtifactError, match=axes):
        create_virtual_stain_plate(
            VirtualStainConfig(),
            VirtualStainPlateInputs(phase_plate=plate),
            VirtualStainPlateOutputs(virtual_stain_plate=tmp_path / "vs.zarr"),
        )
    assert not any((tmp_path / name).exists() for name in ("ph.zarr", "tr.zarr", "vs.zarr"))


def test_patch_extraction_refuses_a_source_plate_in_another_axis_order(tmp_path: Path) -> None:
    from contextlib import ExitStack

    from dynaclr.config.patches import PatchSpec
    from dynaclr.patches.extract import open_fov_channels

    plate = write_plate(tmp_path / "czt.zarr", ["A/1/0"], ["Nuclei"], (6, 1, 3, 64, 48), channel_first=True)
    spec = PatchSpec.model_validate(
        {"name": "n", "channels": [{"source": "raw", "channel": "Nuclei", "normalization": "median_p99"}]}
    )
    with (
        ExitStack() as stack,
        pytest.raises(ArtifactError, match=r"czt.zarr: arrays are stored with axes \(c"),
    ):
        open_fov_channels({"raw": plate}, spec, "A/1/0", stack)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_positions_come_in_iohubs_order_for_both_zarr_formats(tmp_path: Path, version: str) -> None:
    # written out of order; iohub (and so every stage) iterates rows, columns, FOVs as sorted strings
    names = [f"{row}/{col}/{fov}" for row in "BA" for col in ("2", "10", "1") for fov in ("2", "10", "0")]
    plate = tmp_path / "p.zarr"
    with open_ome_zarr(plate, layout="hcs", mode="w", channel_names=["Nuclei"], version=version) as writer:
        for name in names:
            writer.create_position(*name.split("/")).create_zeros("0", shape=(2, 1, 1, 8, 8), dtype="uint16")
    with open_ome_zarr(plate, layout="hcs", mode="r") as reader:
        iohub_order = tuple(name for name, _ in reader.positions())
    layout = read_plate_layout(plate)
    assert layout.fov_names == iohub_order
    assert layout.fov_names[:4] == ("A/1/0", "A/1/10", "A/1/2", "A/10/0")
    assert layout.shape_tczyx == (2, 1, 1, 8, 8) and layout.channel_names == ("Nuclei",)


def test_listed_positions_without_metadata_or_array_are_refused(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1", "A/1/2"], ["Nuclei"], (6, 1, 3, 64, 48))
    shutil.rmtree(plate / "A" / "1" / "2" / "0")
    with pytest.raises(ArtifactError, match=r"position A/1/2 has no array '0' \(found \[\]\)"):
        read_plate_layout(plate)
    (plate / "A" / "1" / "1" / "zarr.json").unlink()
    with pytest.raises(ArtifactError, match=r"positions \['A/1/1'\] are listed .* but cannot be opened"):
        read_plate_layout(plate)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize("repeated", ["image", "well"])
def test_a_position_listed_twice_is_refused(tmp_path: Path, version: str, repeated: str) -> None:
    """A well listing one image twice, or a plate listing one well twice (as a hand-written or merged
    plate can): the layout gave that FOV twice (iohub lists it once), and every per-FOV rule, plate
    and table made from the layout would hold it twice."""
    plate = write_plate(
        tmp_path / "p.zarr", ["A/1/0", "A/1/1", "B/1/0"], ["Nuclei"], (2, 1, 1, 8, 8), version=version
    )
    if repeated == "image":
        with ome_attributes(plate / "A" / "1") as ome:
            ome["well"]["images"].append({"path": "0"})
        found = r"\['A/1/0'\]"
    else:
        with ome_attributes(plate) as ome:
            ome["plate"]["wells"].append(dict(ome["plate"]["wells"][0]))
        found = r"\['A/1/0', 'A/1/1'\]"
    with pytest.raises(
        ArtifactError,
        match=r"p\.zarr: expected each position listed once by the plate's metadata "
        r"\(plate\.wells\[\]\.path, each well's well\.images\[\]\.path\), found "
        + found
        + " listed more than once",
    ):
        read_plate_layout(plate)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize(("n_missing", "path"), [(1, None), (1, ""), (2, None)], ids=["one", "empty", "two"])
def test_a_well_image_without_a_path_is_refused_as_such(
    tmp_path: Path, version: str, n_missing: int, path: str | None
) -> None:
    """A well's images without a path become the FOV name 'A/1/': one was refused as a name holding
    other characters, two as a position 'listed more than once'; either is now named a missing path."""
    plate = write_plate(
        tmp_path / "p.zarr", ["A/1/0", "A/1/1", "B/1/0"], ["Nuclei"], (2, 1, 1, 8, 8), version=version
    )
    with ome_attributes(plate / "A" / "1") as ome:
        for image in ome["well"]["images"][:n_missing]:
            if path is None:
                del image["path"]
            else:
                image["path"] = path
    with pytest.raises(
        ArtifactError,
        match=r"p\.zarr: expected each image a well lists to have a path \(well\.images\[\]\.path, the "
        r"FOV's name, e\.g\. '0'\), found none or an empty one in the wells \['A/1'\]",
    ):
        read_plate_layout(plate)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize(
    ("label", "found"),
    [
        (None, r"omero\.channels\[1\] no label"),
        ("", r"omero\.channels\[1\]\.label ''"),
        (" \t", r"omero\.channels\[1\]\.label ' \\t'"),
        (2, r"omero\.channels\[1\]\.label 2"),
    ],
    ids=["missing", "empty", "blank", "number"],
)
@pytest.mark.parametrize("unlabelled", [("A/1/0", "A/1/1"), ("A/1/1",)], ids=["every position", "one"])
def test_an_omero_channel_without_a_label_is_refused(
    tmp_path: Path, version: str, label: object, found: str, unlabelled: tuple[str, ...]
) -> None:
    """A channel entry without a label: iohub names that channel None and the plate was read, a channel
    no config key can name (and a second unlabelled one was refused as a repeated name 'None'); a
    label of whitespace only was read as a name. In one position only, the refusal named the channel
    sets differing (``('Nuclei', 'None')``), not the missing label: every position's labels are checked."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei", "GFP"], SHAPE, version=version)
    for fov in unlabelled:
        with ome_attributes(plate / fov) as ome:
            if label is None:
                del ome["omero"]["channels"][1]["label"]
            else:
                ome["omero"]["channels"][1]["label"] = label
    with pytest.raises(
        ArtifactError,
        match=rf"p\.zarr: position {unlabelled[0]}: expected each omero channel to have a label "
        r"\(a non-blank string, the channel's name\), found " + found,
    ):
        read_plate_layout(plate)


@pytest.mark.parametrize("dimension_names", [["c", "t", "z", "y", "x"], ["t", "c", "z", "y"], "tczyx"])
def test_dimension_names_other_than_the_axes_are_refused(tmp_path: Path, dimension_names: object) -> None:
    """OME-Zarr 0.5: array 0's Zarr v3 dimension_names name the multiscales axes. A plate whose arrays
    say ``c, t, z, y, x`` beside axes ``t, c, z, y, x`` was read in the axes' order (each FOV's channels
    taken as its time points); iohub's own upper-case names (``T, C, Z, Y, X``) and null names agree."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei", "GFP"], (2, 2, 1, 8, 8))
    array_json = plate / "A/1/1/0/zarr.json"
    metadata = json.loads(array_json.read_text())
    assert metadata["dimension_names"] == ["T", "C", "Z", "Y", "X"]  # iohub's: read
    metadata["dimension_names"] = [None, "c", "Z", None, "x"]
    array_json.write_text(json.dumps(metadata))
    assert read_plate_layout(plate).shape_tczyx == (2, 2, 1, 8, 8)
    metadata["dimension_names"] = dimension_names
    array_json.write_text(json.dumps(metadata))
    with pytest.raises(
        ArtifactError,
        match=r"p\.zarr: position A/1/1: expected the dimension_names of array '0' \(its zarr\.json\) "
        r"to name the multiscales axes in their order, \['t', 'c', 'z', 'y', 'x'\], found "
        + re.escape(repr(dimension_names))
        + r"; .*Either the dimension_names are wrong \(correct them in the array's zarr\.json\) or the array "
        r"is in that order \(rewrite it as t, c, z, y, x",
    ):
        read_plate_layout(plate)
    first = plate / "A/1/0/0/zarr.json"  # the one position read_plate_sampling reads
    first.write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=r"position A/1/0: expected the dimension_names of array '0'"):
        read_plate_sampling(plate)


def test_job_level_axis_check_compares_dimension_names_as_the_dry_run_does(tmp_path: Path) -> None:
    """check_plate_axes (plate-creating stages, patch extraction) compares array 0's dimension_names with
    the multiscales axes, as the dry run does: a plate written by another tool with z and c swapped in
    its dimension_names passed it, and patch extraction read the FOV in the axes' order. Patch
    extraction checks the FOV it reads, not only the first position."""
    from contextlib import ExitStack

    from dynaclr.config.patches import PatchSpec
    from dynaclr.patches.extract import open_fov_channels

    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei", "GFP"], (2, 2, 1, 8, 8))
    check_plate_axes(plate)  # iohub's T, C, Z, Y, X: agree
    swapped = ["t", "z", "c", "y", "x"]
    second = plate / "A/1/1/0/zarr.json"
    metadata = json.loads(second.read_text())
    metadata["dimension_names"] = swapped
    second.write_text(json.dumps(metadata))
    check_plate_axes(plate)  # the first position agrees; A/1/1 is read by its own jobs
    expected = (
        r"p\.zarr: position A/1/1: expected the dimension_names of array '0' \(its zarr\.json\) to name "
        r"the multiscales axes in their order, \['t', 'c', 'z', 'y', 'x'\], found \['t', 'z', 'c', 'y', 'x'\]"
    )
    spec = PatchSpec.model_validate(
        {"name": "n", "channels": [{"source": "raw", "channel": "Nuclei", "normalization": "median_p99"}]}
    )
    with ExitStack() as stack, pytest.raises(ArtifactError, match=expected):
        open_fov_channels({"raw": plate}, spec, "A/1/1", stack)
    with pytest.raises(ArtifactError, match=expected):
        check_plate_axes(plate, "A/1/1")
    first = plate / "A/1/0/0/zarr.json"
    first.write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=expected.replace("A/1/1", "A/1/0")):
        check_plate_axes(plate)
    other = write_plate(tmp_path / "q.zarr", ["A/1/0"], ["Nuclei"], (2, 1, 1, 8, 8))
    check_plate_axes(other, "B/1/0")  # a FOV the plate lacks: refused by the caller, as such
    with (
        ExitStack() as stack,
        pytest.raises(ArtifactError, match=r"q\.zarr: no FOV 'B/1/0'; the plate's FOVs are \['A/1/0'\]"),
    ):
        open_fov_channels({"raw": other}, spec, "B/1/0", stack)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (  # the same names, one twice: another set of channels (only the order may differ)
            {"channels": ["GFP", "GFP"]},
            r"positions differ in channel names, expected the same channels in every position \(in any "
            r"order: .*found \('Nuclei', 'GFP'\) in \['A/1/0', 'A/1/1'\]; \('GFP', 'GFP'\) in \['B/1/0'\]",
        ),
        (
            {"channels": ["Nuclei", "Sensor"]},
            r"positions differ in channel names.*\('Nuclei', 'Sensor'\) in \['B/1/0'\]",
        ),
        (  # the geometry comes from the first position: another pixel size would be ignored
            {"scale": [600.0, 1.0, 2.0, 0.325, 0.325]},
            r"positions differ in scale transforms, expected the same .*0\.325, 0\.325\) in \['B/1/0'\]",
        ),
    ],
)
def test_positions_that_differ_in_channels_or_scale_are_refused(
    tmp_path: Path, edit: dict, message: str
) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1", "B/1/0"], ["Nuclei", "GFP"], SHAPE)
    read_plate_layout(plate)
    edit_position_metadata(plate, "B/1/0", **edit)
    with pytest.raises(ArtifactError, match=r"p\.zarr: " + message):
        read_plate_layout(plate)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_positions_listing_the_same_channels_in_another_order_are_read(tmp_path: Path, version: str) -> None:
    """A plate written a position at a time whose acquisition listed the channels in another order for
    some positions: the layout keeps the first position's order, and each job looks its channels up
    by name in its own position (tests/unit/test_channel_order.py runs them on such a plate)."""
    images = {name: np.full((2, 1, 8, 8), value, np.uint16) for name, value in (("Phase", 1), ("GFP", 2))}
    orders = {"A/1/0": ["Phase", "GFP"], "A/1/1": ["GFP", "Phase"], "B/1/0": ["GFP", "Phase"]}
    plate = write_plate_in_channel_orders(tmp_path / "p.zarr", orders, images, version=version)
    layout = read_plate_layout(plate)
    assert layout.fov_names == tuple(orders) and layout.channel_names == ("Phase", "GFP")
    assert layout.shape_tczyx == (2, 2, 1, 8, 8)
    edit_position_metadata(plate, "B/1/0", channels=["GFP", "Sensor"])  # another set: refused as before
    with pytest.raises(
        ArtifactError,
        match=r"p\.zarr: positions differ in channel names, expected the same channels in every position "
        r"\(in any order: each job looks a channel up by name in its own position\); found \('Phase', "
        r"'GFP'\) in \['A/1/0', 'A/1/1'\]; \('GFP', 'Sensor'\) in \['B/1/0'\]",
    ):
        read_plate_layout(plate)


def test_positions_at_other_stage_translations_or_rounding_of_one_scale_are_read(tmp_path: Path) -> None:
    """Real plates place each FOV at its stage position (a translation per position) and may write the
    same pixel size with float noise: neither is a different sampling."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1", "B/1/0"], ["Nuclei", "GFP"], SHAPE)
    scale = read_plate_layout(plate).geometry
    edit_position_metadata(plate, "A/1/1", translation=[0.0, 0.0, 0.0, 1520.5, -310.25])
    edit_position_metadata(plate, "B/1/0", scale_factor=1 + 1e-12)
    layout = read_plate_layout(plate)
    assert layout.geometry == scale
    assert layout.fov_names == ("A/1/0", "A/1/1", "B/1/0")


def test_a_channel_name_given_twice_is_refused(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei", "GFP"], SHAPE)
    for fov in ("A/1/0", "A/1/1"):
        edit_position_metadata(plate, fov, channels=["GFP", "GFP"])
    with pytest.raises(
        ArtifactError, match=r"p\.zarr: expected each channel name once, found \['GFP'\] repeated"
    ):
        read_plate_layout(plate)


def _drop_omero(ome: dict) -> None:
    del ome["omero"]


def _channel_labels(labels: list[str]) -> Callable[[dict], None]:
    def edit(ome: dict) -> None:
        ome["omero"]["channels"] = [{**ome["omero"]["channels"][0], "label": label} for label in labels]

    return edit


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize(
    ("edit", "found"),
    [
        (_drop_omero, r"found no 'omero' metadata"),  # iohub then names the channels 0, 1 (integers)
        (_channel_labels(["Nuclei"]), r"found 1: \['Nuclei'\]"),  # the second channel unnamed
        (_channel_labels(["Nuclei", "GFP", "RFP"]), r"found 3: \['Nuclei', 'GFP', 'RFP'\]"),  # RFP: no array
    ],
    ids=["no omero", "fewer labels", "more labels"],
)
def test_channel_labels_that_do_not_name_each_channel_of_the_array_are_refused(
    tmp_path: Path, version: str, edit: Callable[[dict], None], found: str
) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei", "GFP"], SHAPE, version=version)
    for fov in ("A/1/0", "A/1/1"):
        with ome_attributes(plate / fov) as ome:
            edit(ome)
    with pytest.raises(
        ArtifactError,
        match=r"p\.zarr: position A/1/0: expected one channel label per channel of array '0' "
        r"\(omero\.channels\[\]\.label; C = 2\), " + found,
    ):
        read_plate_layout(plate)


def _set_transforms(value: object, level: str = "dataset") -> Callable[[dict], None]:
    def edit(ome: dict) -> None:
        node = ome["multiscales"][0]
        node = node["datasets"][0] if level == "dataset" else node
        if value is _ABSENT:
            del node["coordinateTransformations"]
        else:
            node["coordinateTransformations"] = value

    return edit


_ABSENT = object()
_DATASET_KEY = r"multiscales\[0\]\.datasets\[0\]\.coordinateTransformations"


@pytest.mark.parametrize("fov", ["A/1/0", "B/1/0"])  # the position iohub opens, and one read as JSON only
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set_transforms(None), _DATASET_KEY + r" to be a list of transformations .*found None"),
        (_set_transforms(_ABSENT), _DATASET_KEY + r" to be a list of transformations .*found nothing"),
        (_set_transforms("scale"), _DATASET_KEY + r" to be a list of transformations .*found 'scale'"),
        (_set_transforms([["scale"]]), _DATASET_KEY + r" to be a list of transformations .*\[\['scale'\]\]"),
        (
            _set_transforms(None, level="multiscales"),
            r"multiscales\[0\]\.coordinateTransformations to be a list of transformations .*found None",
        ),
        (
            _set_transforms([{"type": "scale", "scale": [600.0, 1.0, 2.0]}]),
            _DATASET_KEY + r"\[0\]\.scale to be a list of 5 numbers \(one per axis \['t', 'c', 'z', 'y', "
            r"'x'\]\), found \[600\.0, 1\.0, 2\.0\]",
        ),
        (
            _set_transforms([{"type": "scale", "scale": [600.0, 1.0, "2", 0.65, 0.65]}]),
            _DATASET_KEY + r"\[0\]\.scale to be a list of 5 numbers .*found \[600\.0, 1\.0, '2', 0\.65",
        ),
    ],
)
def test_malformed_coordinate_transformations_are_refused_naming_position_and_key(
    tmp_path: Path, fov: str, edit: Callable[[dict], None], message: str
) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1", "B/1/0"], ["Nuclei"], (6, 1, 3, 64, 48))
    with ome_attributes(plate / fov) as ome:
        edit(ome)
    with pytest.raises(ArtifactError, match=rf"p\.zarr: position {fov}: expected " + message):
        read_plate_layout(plate)


def test_a_plate_without_scale_is_read_with_a_warning_and_says_so(tmp_path: Path) -> None:
    """iohub reads a missing scale as 1 s and 1 µm: the layout says the sampling is not stated (the dry
    run refuses it where a stage needs it) instead of passing iohub's default off as the plate's."""
    fovs = ["A/1/0", "A/1/1", "B/1/0"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei"], (6, 1, 3, 64, 48))
    scaled = read_plate_layout(plate)
    assert (scaled.unscaled_position, scaled.time_interval_stated) == (None, True)
    with ome_attributes(plate / "B/1/0") as ome:  # a stage translation only: no scale
        _set_transforms([{"type": "translation", "translation": [0.0, 0.0, 0.0, 10.0, 10.0]}])(ome)
    with pytest.raises(
        ArtifactError, match=r"positions differ in scale transforms.*; no scale in \['B/1/0'\]"
    ):
        read_plate_layout(plate)
    for fov in fovs[:2]:
        with ome_attributes(plate / fov) as ome:
            _set_transforms([])(ome)
    with pytest.warns(UserWarning, match=r"p\.zarr: position A/1/0 \(and every other\) has no 'scale'"):
        layout = read_plate_layout(plate)
    assert (layout.unscaled_position, layout.time_interval_stated) == ("A/1/0", False)
    with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:  # dynaclr's attribute states the interval
        writer.zattrs["time_interval_minutes"] = 7.0
    with pytest.warns(UserWarning, match="has no 'scale'"):
        layout = read_plate_layout(plate)
    assert (layout.unscaled_position, layout.time_interval_stated) == ("A/1/0", True)
    assert layout.time_interval_minutes == 7.0


@pytest.mark.parametrize(
    ("version", "dtype", "shown"),
    [
        ("0.5", "complex64", "complex64"),
        ("0.4", "complex128", "complex128"),
        ("0.5", "bool", "bool"),
        ("0.4", "str", "object"),
        ("0.5", "<U4", "fixed_length_utf32"),
    ],
)
def test_pixels_other_than_integers_or_real_floats_are_refused(
    version: str, dtype: str, shown: str, tmp_path: Path
) -> None:
    """Every stage reads pixels as float32: a complex plate would lose its imaginary part with exit 0,
    a boolean, string or object one is no image. Refused when the plate is read, naming the plate,
    each position and its type."""
    plate = write_plate(
        tmp_path / "p.zarr",
        ["A/1/0", "B/1/0"],
        ["X"],
        (2, 1, 1, 8, 8),
        version=version,
        dtype=np.dtype(dtype),
    )
    with pytest.raises(ArtifactError) as raised:
        read_plate_layout(plate)
    assert str(raised.value).startswith(
        f"{plate}: expected array '0' of every position to hold integer or real floating-point pixels "
        "(of any width: int8 to uint64, float16 to float64), found "
        f"A/1/0: {shown}, B/1/0: {shown} (2 of 2 positions)"
    )


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float16", "float64"])
def test_integer_and_real_float_pixels_are_read(dtype: str, tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0"], ["X"], (2, 1, 1, 8, 8), dtype=np.dtype(dtype))
    assert read_plate_layout(plate).shape_tczyx == (2, 1, 1, 8, 8)


def _v2_storage(plate: Path, fov_name: str, **metadata: str) -> None:
    """Rewrite keys of position ``fov_name``'s array ``0`` ``.zarray`` (its ``order``), as a writer
    other than iohub stores them."""
    zarray = plate / fov_name / "0" / ".zarray"
    zarray.write_text(json.dumps(json.loads(zarray.read_text()) | metadata))


@pytest.mark.parametrize(
    ("dtype", "order", "found"),
    [
        (">u2", "C", ".zarray dtype '>u2' (big-endian)"),
        (">f4", "C", ".zarray dtype '>f4' (big-endian)"),
        ("<u2", "F", ".zarray order 'F' (Fortran)"),
    ],
)
def test_zarr_v2_arrays_the_reader_cannot_decode_are_refused_before_any_job(
    dtype: str, order: str, found: str, tmp_path: Path
) -> None:
    """A Zarr v2 array stored big-endian (bioformats2raw's ``>u2``) or in Fortran order is valid, but
    iohub's default reader (the zarrs codec pipeline) does not decode it: the dry run passed such a
    plate and every job then failed at its first frame, told its store was truncated or corrupt and
    to re-copy it or leave the FOV out. Refused by the dry run and by each job's own position check,
    naming the plate, the position, the metadata found and the fix."""
    plate = write_plate(
        tmp_path / "p.zarr", ["A/1/0", "B/1/0"], ["X"], (2, 1, 1, 8, 8), version="0.4", dtype=dtype
    )
    _v2_storage(plate, "B/1/0", order=order)
    if order == "C":
        _v2_storage(plate, "A/1/0", dtype="<u2")
    expected = (
        f"{plate}: expected array '0' of every position in native (little-endian) byte order and C order, "
        f"the Zarr v2 storage the plate reader (iohub's zarrs codec pipeline) decodes, found B/1/0: {found} "
        "(1 of 2 positions); every job would fail reading its pixels (the data are not corrupt). Rewrite "
        "each array '0' little-endian in C order: read it with zarr-python's own codec pipeline"
    )
    with pytest.raises(ArtifactError) as raised:
        read_plate_layout(plate)
    assert str(raised.value).startswith(expected)
    with pytest.raises(ArtifactError) as raised:
        check_plate_axes(plate, "B/1/0")  # the job of that FOV
    assert str(raised.value).startswith(expected.replace("(1 of 2 positions)", "(1 of 1 positions)"))
    check_plate_axes(plate, "A/1/0")  # the other position is read


def test_a_little_endian_c_order_zarr_v2_array_is_read(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0"], ["X"], (2, 1, 1, 8, 8), version="0.4", dtype="<u2")
    _v2_storage(plate, "A/1/0", order="C")
    assert read_plate_layout(plate).pixel_types == ("uint16",)


def test_a_time_interval_attribute_other_than_the_scale_is_refused(tmp_path: Path) -> None:
    """The plate's time_interval_minutes attribute (read by minute-based settings) and its positions'
    time scale (read elsewhere) must state one interval: a disagreement is refused naming the plate and
    both values, by the layout and by the one-position read; within 1e-3 relative, or without a scale
    (the attribute then supplies iohub's 1 s), the plate is read."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "B/1/0"], ["Nuclei"], (6, 1, 3, 64, 48))
    with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:
        writer.zattrs["time_interval_minutes"] = 5.0  # the scale says 600 s
    message = (
        f"{plate}: plate attribute time_interval_minutes 5 min disagrees with the time scale of position "
        "A/1/0 (10 min = 600 s, within 0.001 relative); write the time scale the plate was acquired at in "
        "its axis's unit, or correct the attribute (minutes)"
    )
    for read in (read_plate_layout, read_plate_sampling):
        with pytest.raises(ArtifactError) as raised:
            read(plate)
        assert str(raised.value) == message  # never "delete the attribute": the scale would then state it
    for bad in ("ten", -1.0, True):
        with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:
            writer.zattrs["time_interval_minutes"] = bad
        with pytest.raises(
            ArtifactError, match="time_interval_minutes: expected a positive number of minutes"
        ):
            read_plate_layout(plate)
    with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:
        writer.zattrs["time_interval_minutes"] = 10.005
    layout = read_plate_layout(plate)
    assert (layout.geometry.time_interval_s, layout.time_interval_minutes) == (600.0, 10.005)
    for fov in ("A/1/0", "B/1/0"):
        with ome_attributes(plate / fov) as ome:
            _set_transforms([])(ome)
    with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:
        writer.zattrs["time_interval_minutes"] = 5.0
    with pytest.warns(UserWarning, match="has no 'scale'"):
        layout = read_plate_layout(plate)
    assert (layout.geometry.time_interval_s, layout.time_interval_minutes) == (300.0, 5.0)


def _plate_with_time_scale(path: Path, n_frames: int, scale_s: float | None, attribute: object) -> Path:
    """A one-position plate of ``n_frames`` written by iohub with time scale ``scale_s`` (None: no
    transform, for which iohub writes its explicit all-ones scale) and ``time_interval_minutes``."""
    with open_ome_zarr(path, layout="hcs", mode="w", channel_names=["Nuclei"]) as writer:
        position = writer.create_position("A", "1", "0")
        transform = None if scale_s is None else scale_transform(scale_s, 1.0, 0.65)
        position.create_zeros("0", shape=(n_frames, 1, 1, 16, 16), dtype=np.uint16, transform=transform)
        writer.zattrs["time_interval_minutes"] = attribute
    return path


def _write_derived_plate(path: Path, layout: PlateLayout) -> None:
    """A plate written from ``layout``'s geometry as the phase / virtual-staining stages write theirs."""
    provenance = make_provenance("phase_plate", {})
    create_empty_plate(
        path, list(layout.fov_names), ["X"], layout.shape_tczyx, np.float32, layout.geometry, provenance
    )


def test_iohubs_default_time_scale_beside_the_attribute_gives_the_attributes_interval(tmp_path: Path) -> None:
    """A 1 s time scale (iohub's default, here beside a stated pixel size) disagreeing with the plate
    attribute (which stated the interval before the scale was compared): the attribute gives the
    interval and the geometry, with a warning naming both values that the layout carries for
    Snakemake; the one-position read of a job gives the same sampling."""
    plate = _plate_with_time_scale(tmp_path / "p.zarr", 4, 1.0, 5)
    with ome_attributes(plate / "A/1/0") as ome:
        assert ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"][0] == 1.0
        assert ome["multiscales"][0]["axes"][0]["unit"] == "second"
    with pytest.warns(UserWarning, match="iohub's default"):
        layout = read_plate_layout(plate)
    assert (layout.geometry.time_interval_s, layout.time_interval_minutes) == (300.0, 5.0)
    assert layout.warnings == (
        f"{plate}: position A/1/0: time scale 1 s (iohub's default, written for an array created without "
        "a scale) ignored: the plate attribute time_interval_minutes 5 min states the time interval. Write "
        "the time scale in its axis's unit to state it there",
    )
    sampling = read_plate_sampling(plate)
    assert (sampling.geometry, sampling.time_interval_minutes) == (layout.geometry, 5.0)
    # a plate written from it states the attribute's interval in both places, and reads without warning
    copy = tmp_path / "copy.zarr"
    _write_derived_plate(copy, layout)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert read_plate_layout(copy).geometry.time_interval_s == 300.0
    # a 1 s scale that agrees with the attribute is no default ignored
    plate = _plate_with_time_scale(tmp_path / "s.zarr", 4, 1.0, 1 / 60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert read_plate_layout(plate).geometry.time_interval_s == pytest.approx(1.0)


def test_iohubs_default_scale_of_ones_states_no_sampling(tmp_path: Path) -> None:
    """iohub writes a scale of ones (seconds, micrometres) for an array created without a transform: a
    plate written so was read as 1 µm pixels and z steps and a 1 s interval, stated, with no warning
    (the phase transfer function computed for them, exit 0). It is read as a plate without scale: the
    values are not stated (the dry run refuses where a stage needs one), the plate attribute gives the
    interval, the dataset's acquisition supplies the rest, and the warning names iohub's default."""
    plate = _plate_with_time_scale(tmp_path / "p.zarr", 4, None, 5)
    with ome_attributes(plate / "A/1/0") as ome:  # iohub's own default, with units second, micrometer
        assert ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0] * 5
    for read in (read_plate_layout, read_plate_sampling):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sampling = read(plate)
        assert sampling.unscaled_position == "A/1/0" and sampling.default_scale
        assert (sampling.pixel_size_stated, sampling.z_step_stated) == (False, False)
        assert sampling.stated_values() == {
            "time_interval_minutes": 5.0,
            "pixel_size_um": None,
            "z_step_um": None,
        }
        assert "iohub's default scale (every value 1" in sampling.no_scale_text()
    with pytest.warns(UserWarning) as caught:
        layout = read_plate_layout(plate, {"pixel_size_um": 0.65})
    assert [str(found.message) for found in caught] == list(layout.warnings)
    assert layout.warnings == (
        f"{plate}: position A/1/0 (and every other) has iohub's default scale (every value 1, in seconds "
        "and micrometres: written for an array created without a scale, it states no sampling) in the "
        "coordinateTransformations of its dataset '0' or its multiscales: time interval 5 min from the "
        "plate attribute time_interval_minutes; pixel size 0.65 µm from the config "
        "(acquisition.pixel_size_um); z step not stated (read as 1 µm). Its scale is all ones, iohub's "
        "default when none is given: if 1 µm is right, state it with the dataset's acquisition.z_step_um; "
        "otherwise write the true scale; the dry run refuses the plate where a stage needs a value nothing "
        "states",
    )
    assert (layout.geometry.pixel_size_um, layout.geometry.time_interval_s) == (0.65, 300.0)
    # a scale of ones in other units, or with one value other than 1, is a scale the plate states
    edit_position_metadata(plate, "A/1/0", scale=[1.0, 1.0, 1.0, 0.65, 0.65])
    with pytest.warns(UserWarning, match="time scale 1 s"):
        assert read_plate_layout(plate).unscaled_position is None


def test_a_scale_of_ones_dynaclr_wrote_is_stated(tmp_path: Path) -> None:
    """A plate dynaclr wrote (its provenance in the plate's attributes) at 1 s, 1 µm and 1 µm carries
    the geometry it was written with, not iohub's default: read as stated, without a warning, so the
    virtual-stain checkpoint records the phase plate's sizes (a 5x mismatch was accepted with a log
    line) and planning models the plate as the jobs read it. The same scale without provenance
    (:func:`test_iohubs_default_scale_of_ones_states_no_sampling`) states nothing."""
    plate = tmp_path / "phase.zarr"
    create_empty_plate(
        plate,
        ["A/1/0"],
        ["Phase3D"],
        (1, 1, 5, 32, 32),
        np.float32,
        PlateGeometry(1.0, 1.0, 1.0),
        make_provenance("phase_plate", {}),
    )
    with ome_attributes(plate / "A/1/0") as ome:
        assert ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0] * 5
    for read in (read_plate_layout, read_plate_sampling):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            sampling = read(plate)
        assert sampling.unscaled_position is None and not sampling.default_scale
        assert sampling.stated_values() == {
            "time_interval_minutes": pytest.approx(1 / 60),
            "pixel_size_um": 1.0,
            "z_step_um": 1.0,
        }
    record = training_input_record(plate, "Phase3D", 5)
    assert (record["pixel_size_um"], record["z_step_um"]) == (1.0, 1.0)


def test_a_still_plate_of_iohubs_default_scale_is_not_asked_for_its_interval(tmp_path: Path) -> None:
    """A still image (T = 1) of iohub's default scale, without the interval attribute: no stage reads
    its interval, so the warning asks only for the sizes, saying the ones may be right and how to
    state them (the plate has a scale transform: "write the plate's scale transform" misled)."""
    plate = tmp_path / "still.zarr"
    with open_ome_zarr(plate, layout="hcs", mode="w", channel_names=["Nuclei"]) as writer:
        writer.create_position("A", "1", "0").create_zeros("0", shape=(1, 1, 3, 16, 16), dtype=np.uint16)
    with pytest.warns(UserWarning) as caught:
        layout = read_plate_layout(plate)
    assert [str(found.message) for found in caught] == list(layout.warnings) and len(caught) == 1
    assert layout.warnings[0].endswith(
        "coordinateTransformations of its dataset '0' or its multiscales: pixel size not stated (read as "
        "1 µm); z step not stated (read as 1 µm). Its scale is all ones, iohub's default when none is "
        "given: if 1 µm is right, state them with the dataset's acquisition.pixel_size_um and "
        "acquisition.z_step_um; otherwise write the true scale; the dry run refuses the plate where a "
        "stage needs a value nothing states"
    )


def test_the_time_interval_of_a_single_frame_is_not_checked(tmp_path: Path) -> None:
    """A still image (T = 1): no stage reads its interval, so neither a disagreement of attribute and
    scale nor a zero (or otherwise unusable) attribute is refused; a zero scale stays the scale of the
    phase / virtual-staining plates written from it, which read back (no attribute written that their
    reader would refuse)."""
    for name, scale_s, attribute in (("a", 7.0, 5.0), ("b", None, 5.0), ("c", 0.0, 0), ("d", 1.0, "ten")):
        plate = _plate_with_time_scale(tmp_path / f"{name}.zarr", 1, scale_s, attribute)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            layout = read_plate_layout(plate)
        # iohub's default scale of ones (no transform) states no pixel size: that alone is warned of
        expected = ["pixel size not stated"] if scale_s is None else []
        assert [
            text for text in expected for found in caught if text in str(found.message)
        ] == expected and len(caught) == len(expected)
        read_plate_sampling(plate)
        assert layout.n_frames == 1
    assert layout.geometry.time_interval_s == 1.0  # "ten" is not read
    still = _plate_with_time_scale(tmp_path / "still.zarr", 1, 0.0, 0.0)
    layout = read_plate_layout(still)
    derived = tmp_path / "derived.zarr"
    _write_derived_plate(derived, layout)
    assert "time_interval_minutes" not in zarr.open_group(derived, mode="r").attrs
    for read in (read_plate_layout, read_plate_sampling):
        assert read(derived).geometry.time_interval_s == 0.0
    # with two frames, the zero attribute is refused
    movie = _plate_with_time_scale(tmp_path / "movie.zarr", 2, 0.0, 0)
    with pytest.raises(
        ArtifactError, match=re.escape("expected a positive number of minutes (a JSON number")
    ):
        read_plate_layout(movie)


@pytest.mark.parametrize("scale_s", [float("nan"), float("inf")])
def test_a_non_finite_time_scale_beside_the_attribute_is_refused(scale_s: float, tmp_path: Path) -> None:
    """A NaN compares as agreeing with nothing: a movie whose time scale is NaN (or inf) beside the
    attribute would be read with two intervals (the scale's NaN, the attribute's minutes)."""
    plate = _plate_with_time_scale(tmp_path / "p.zarr", 4, 600.0, 5.0)
    with ome_attributes(plate / "A/1/0") as ome:
        ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"][0] = scale_s
    for read in (read_plate_layout, read_plate_sampling):
        with pytest.raises(ArtifactError, match="time_interval_minutes 5 min disagrees with the time scale"):
            read(plate)


def test_axes_without_a_unit_are_read_in_seconds_and_micrometres_with_a_warning(tmp_path: Path) -> None:
    """A scale without a unit is read in s and µm, as a plate in minutes or nanometres that lost its
    units would be read too: the layout says so instead of passing the assumption off as the plate's,
    and names the acquisition key that would take the scale's place (the time interval's: X alone
    without a unit is stated by Y's)."""
    fovs = ["A/1/0", "A/1/1"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei", "GFP"], SHAPE, time_interval_s=30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        read_plate_layout(plate)  # every unit stated: no warning
    for fov in fovs:
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"]:
                if axis["name"].lower() in "tx":
                    del axis["unit"]
    with pytest.warns(
        UserWarning,
        match=r"p\.zarr: position A/1/0: axes without a unit \(multiscales\[0\]\.axes\[\]\.unit\): "
        r"t 30 read in seconds; x 0\.65 read in micrometres\. Write each axis's OME-NGFF unit, or set the "
        r"dataset's acquisition\.time_interval_minutes \(the config's value then takes the scale's place\)$",
    ):
        layout = read_plate_layout(plate)
    assert layout.geometry == PlateGeometry(30.0, 2.0, 0.65)
    assert layout.unitless == ("time_interval_minutes",) and layout.time_interval_minutes == 0.5


def test_the_acquisition_takes_the_place_of_a_scale_without_a_unit(tmp_path: Path) -> None:
    """A plate written in minutes and nanometres that lost its units (t 5, z 2000, y/x 650): its scale
    read in s and µm is 60 and 1000 times off; the dataset's ``acquisition``, as the warning advises,
    supplies the values (recorded as supplied, so the dry run does not check it against the misread
    scale), the job's one-position read gives the same, and the warning says which value replaced which."""
    fovs = ["A/1/0"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei"], (6, 1, 3, 64, 64), time_interval_s=5.0)
    with ome_attributes(plate / "A/1/0") as ome:
        for axis in ome["multiscales"][0]["axes"]:
            axis.pop("unit", None)
        transforms = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"]
        transforms[0]["scale"] = [5.0, 1.0, 2000.0, 650.0, 650.0]
    acquisition = {"time_interval_minutes": 5.0, "pixel_size_um": 0.65, "z_step_um": None}
    with pytest.warns(UserWarning) as caught:
        layout = read_plate_layout(plate, acquisition)
    (message,) = [str(w.message) for w in caught if "axes without a unit" in str(w.message)]
    assert (layout.time_interval_minutes, layout.geometry) == (5.0, PlateGeometry(300.0, 2000.0, 0.65))
    assert set(layout.supplied) == {"time_interval_minutes", "pixel_size_um"}
    assert layout.unitless == ("z_step_um",)
    assert "t 5 not used: acquisition.time_interval_minutes 5 min in its place" in message
    assert "y 650 not used: acquisition.pixel_size_um 0.65 µm in its place" in message
    assert "z 2000 read in micrometres" in message
    assert message.endswith(
        "or set the dataset's acquisition.z_step_um (the config's value then takes the scale's place)"
    )
    sampling = read_plate_sampling(plate, acquisition)  # what a job reads: the same values
    assert sampling.supplied_values() == layout.supplied_values()
    assert sampling.geometry == layout.geometry
    again = layout.supplied_by(acquisition)  # applying the same values twice changes nothing
    assert again == layout
    with pytest.warns(UserWarning, match="axes without a unit") as caught:
        every = read_plate_layout(plate, {**acquisition, "z_step_um": 2.0})
    (message,) = [str(w.message) for w in caught]
    assert every.unitless == () and message.endswith(
        "Write each axis's OME-NGFF unit to state the sampling in the plate"
    )


def test_a_time_axis_without_a_unit_is_not_said_read_in_seconds_when_the_attribute_states_it(
    tmp_path: Path,
) -> None:
    """The plate's ``time_interval_minutes`` attribute states the interval: the time axis's scale
    without a unit is not what the interval is read from, so the warning leaves it out (none left: no
    warning) and the interval is stated, not replaced by ``acquisition``."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0"], ["Nuclei", "GFP"], SHAPE, time_interval_s=5.0)
    with ome_attributes(plate / "A/1/0") as ome:
        ome["multiscales"][0]["axes"][0].pop("unit")
    with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:
        writer.zattrs["time_interval_minutes"] = 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        layout = read_plate_layout(plate, {"time_interval_minutes": 7.0})
    assert (layout.time_interval_minutes, layout.supplied, layout.unitless) == (5.0, (), ())
    # the scale's 5 (no unit: not 5 s) is neither compared with the attribute nor kept in the geometry
    assert layout.geometry.time_interval_s == 300.0


@pytest.mark.parametrize(("scale", "n_frames"), [(600.0, 4), (10.0, 4), (1 / 6, 4), (5.0, 1)])
def test_a_time_axis_without_a_unit_that_is_the_attribute_in_some_unit_is_not_said(
    tmp_path: Path, scale: float, n_frames: int
) -> None:
    """Beside a 10 min attribute, a unit-less time scale of 600 (seconds), 10 (minutes) or 1/6 (hours)
    is the interval written in a unit nothing names: nothing to say. With one frame no stage reads the
    interval, so a scale that agrees in no unit is not said either."""
    plate = _plate_with_time_scale(tmp_path / "p.zarr", n_frames, scale, 10.0)
    with ome_attributes(plate / "A/1/0") as ome:
        ome["multiscales"][0]["axes"][0].pop("unit")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        layout = read_plate_layout(plate)
    assert (layout.time_interval_minutes, layout.warnings) == (10.0, ())


def test_a_time_axis_without_a_unit_that_disagrees_with_the_attribute_is_said(tmp_path: Path) -> None:
    """A unit-less time scale of 5 beside a 10 min attribute is 10 min in no unit (5 ms, 5 s, 5 min,
    5 h): one of the two is wrong. The attribute's interval is used, as before, but the warning names
    the plate, both values, the one used and how to silence it (and the layout keeps it for the
    workflow's log)."""
    plate = _plate_with_time_scale(tmp_path / "p.zarr", 4, 5.0, 10.0)
    with ome_attributes(plate / "A/1/0") as ome:
        ome["multiscales"][0]["axes"][0].pop("unit")
    with pytest.warns(UserWarning) as caught:
        layout = read_plate_layout(plate)
    (message,) = [str(w.message) for w in caught]
    assert message == (
        f"{plate}: position A/1/0: axes without a unit (multiscales[0].axes[].unit): t 5 not used: it is not "
        "the plate attribute time_interval_minutes 10 min in milliseconds, seconds, minutes, hours (within "
        "0.001 relative), and the attribute's 10 min is used. Write each axis's OME-NGFF unit to state the "
        "sampling in the plate; to silence the time axis's, write its scale as the interval the plate was "
        "acquired at, in its unit (it must then agree with the attribute), or correct the attribute (minutes)"
    )
    assert layout.warnings == (message,)
    assert (layout.time_interval_minutes, layout.geometry.time_interval_s, layout.unitless) == (
        10.0,
        600.0,
        (),
    )
    assert read_plate_sampling(plate).time_interval_minutes == 10.0  # the job's read: the same interval


@pytest.mark.parametrize(
    ("axis", "unit"), [(0, "minute"), (2, "nanometer"), (3, "nanometer"), (4, "millimeter")]
)
def test_positions_that_differ_in_axis_units_are_refused(tmp_path: Path, axis: int, unit: str) -> None:
    """The same numbers in another unit are another sampling (600 s is not 600 min)."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1", "B/1/0"], ["Nuclei"], (6, 1, 3, 64, 48))
    with ome_attributes(plate / "B/1/0") as ome:
        ome["multiscales"][0]["axes"][axis]["unit"] = unit
    with pytest.raises(
        ArtifactError,
        match=r"p\.zarr: positions differ in scale transforms.* in \['B/1/0'\]",
    ):
        read_plate_layout(plate)


def test_positions_that_write_one_sampling_in_other_units_are_read(tmp_path: Path) -> None:
    """650 nm and 0.65 µm, 10 min and 600 s, a unit left out (s / µm): one sampling, one plate."""
    fovs = ["A/1/0", "A/1/1", "B/1/0"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei"], (6, 1, 3, 64, 48))
    edit_position_metadata(plate, "A/1/1", scale=[10.0, 1.0, 2000.0, 650.0, 650.0])
    with ome_attributes(plate / "A/1/1") as ome:
        axes = ome["multiscales"][0]["axes"]
        axes[0]["unit"] = "minute"
        for axis in axes[2:]:
            axis["unit"] = "nanometer"
    with ome_attributes(plate / "B/1/0") as ome:
        for axis in ome["multiscales"][0]["axes"]:
            axis.pop("unit", None)
    layout = read_plate_layout(plate)  # A/1/0 as written: seconds and micrometres
    assert layout.fov_names == tuple(fovs)
    assert layout.geometry.time_interval_s == pytest.approx(600.0)
    assert (layout.geometry.z_step_um, layout.geometry.pixel_size_um) == pytest.approx((2.0, 0.65))


def test_time_and_space_units_are_converted_to_seconds_and_micrometres(tmp_path: Path) -> None:
    """A plate written in minutes and nanometres has the same sampling as dynaclr's seconds and µm."""
    fovs = ["A/1/0", "B/1/0"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei"], (6, 1, 3, 64, 48))
    for fov in fovs:
        edit_position_metadata(plate, fov, scale=[10.0, 1.0, 2000.0, 650.0, 650.0])
        with ome_attributes(plate / fov) as ome:
            axes = ome["multiscales"][0]["axes"]
            axes[0]["unit"] = "minute"
            for axis in axes[2:]:
                axis["unit"] = "nanometer"
    layout = read_plate_layout(plate)
    assert layout.geometry.time_interval_s == pytest.approx(600.0)
    assert layout.time_interval_minutes == pytest.approx(10.0)
    assert layout.geometry.z_step_um == pytest.approx(2.0)
    assert layout.geometry.pixel_size_um == pytest.approx(0.65)
    with open_ome_zarr(plate, layout="hcs", mode="r") as reader:  # what the stages read per position
        assert position_geometry(reader["B/1/0"]) == layout.geometry


def test_a_unit_outside_ome_ngff_is_refused(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "B/1/0"], ["Nuclei"], (6, 1, 3, 64, 48))
    for fov in ("A/1/0", "B/1/0"):
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"][2:]:
                axis["unit"] = "um"
    with pytest.raises(
        ArtifactError,
        match=r"p\.zarr: position A/1/0: expected an OME-NGFF space unit at "
        r"multiscales\[0\]\.axes\[2\]\.unit \(axis z; e\.g\. 'micrometer'\), found 'um'",
    ):
        read_plate_layout(plate)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_plate_metadata_is_read_from_both_zarr_formats(tmp_path: Path, version: str) -> None:
    """OME-Zarr 0.4 (Zarr v2: ``.zattrs`` / ``.zarray``, no ``ome`` wrapper) as 0.5 (``zarr.json``)."""
    fovs = ["A/1/Pos0", "A/1/Pos1", "B/12/Pos0"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei", "GFP"], SHAPE, version=version)
    assert (plate / "A" / "1" / "Pos0" / ("zarr.json" if version == "0.5" else ".zattrs")).is_file()
    layout = read_plate_layout(plate)
    assert layout.fov_names == tuple(fovs)
    assert layout.channel_names == ("Nuclei", "GFP")
    assert layout.axes == EXPECTED_AXES and layout.shape_tczyx == SHAPE
    assert layout.time_interval_minutes == pytest.approx(10.0)
    assert (layout.geometry.z_step_um, layout.geometry.pixel_size_um) == (2.0, 0.65)
    assert layout.unscaled_position is None


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"channels": ["Sensor", "Nuclei"]},
            r"positions differ in channel names.*\('Sensor', 'Nuclei'\) in \['B/1/0'\]",
        ),
        (
            {"scale": [600.0, 1.0, 2.0, 0.325, 0.325]},
            r"positions differ in scale transforms.*0\.325\) in \['B/1/0'\]",
        ),
        (
            {"shape": (5, 2, 3, 64, 48)},
            r"positions differ in array shape .*\(5, 2, 3, 64, 48\) in \['B/1/0'\]",
        ),
    ],
)
def test_positions_that_differ_are_refused_in_both_zarr_formats(
    tmp_path: Path, version: str, edit: dict, message: str
) -> None:
    plate = write_plate(
        tmp_path / "p.zarr", ["A/1/0", "A/1/1", "B/1/0"], ["Nuclei", "GFP"], SHAPE, version=version
    )
    read_plate_layout(plate)
    if "shape" in edit:  # B/1/0 replaced by the position of a plate of another shape
        other = write_plate(tmp_path / "q.zarr", ["B/1/0"], ["Nuclei", "GFP"], edit["shape"], version=version)
        shutil.rmtree(plate / "B" / "1" / "0")
        shutil.copytree(other / "B" / "1" / "0", plate / "B" / "1" / "0")
    else:
        edit_position_metadata(plate, "B/1/0", **edit)
    with pytest.raises(ArtifactError, match=r"p\.zarr: " + message):
        read_plate_layout(plate)


def test_reconstruct_phase_compares_each_fovs_sizes_in_micrometres(tmp_path: Path) -> None:
    """The transfer function is computed in µm from the converted geometry; each FOV's stack is checked
    against it in µm too, not in the plate's own unit (650 nm is the 0.65 µm it was computed for)."""
    from dynaclr.phase.reconstruct import ReconstructPhaseInputs, check_stack_geometry
    from dynaclr.phase.transfer_function import TransferFunction

    plate = write_plate(tmp_path / "p.zarr", ["A/1/0"], ["BF"], (2, 1, 3, 64, 48))
    edit_position_metadata(plate, "A/1/0", scale=[600.0, 1.0, 2000.0, 650.0, 650.0])
    with ome_attributes(plate / "A/1/0") as ome:
        for axis in ome["multiscales"][0]["axes"][2:]:
            axis["unit"] = "nanometer"
    inputs = ReconstructPhaseInputs(
        plate=plate, transfer_function=tmp_path / "tf", phase_plate=tmp_path / "ph"
    )
    with open_ome_zarr(plate, layout="hcs", mode="r") as reader:
        geometry = position_geometry(reader["A/1/0"])

    def check(computed_for_um: float) -> None:
        transfer_function = TransferFunction(
            mode="3d",
            zyx_shape=(3, 64, 48),
            yx_pixel_size_um=computed_for_um,
            z_step_um=2.0,
            z_padding_slices=0,
            arrays={},
        )
        check_stack_geometry(inputs, "A/1/0", (3, 64, 48), geometry, transfer_function, PhaseConfig())

    check(0.65)
    with pytest.raises(ArtifactError, match=r"FOV A/1/0 has pixel size \(µm\) 0\.65, but the transfer"):
        check(0.325)


def test_pixels_of_other_y_and_x_sizes_are_refused_and_units_count(tmp_path: Path) -> None:
    """The stages take one pixel size (Y's) for both axes: 0.65 x 0.325 µm pixels would be read as
    square; 650 nm by 0.65 µm are square."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0"], ["Nuclei"], (6, 1, 3, 64, 48))
    edit_position_metadata(plate, "A/1/0", scale=[600.0, 1.0, 2.0, 650.0, 0.65])
    with ome_attributes(plate / "A/1/0") as ome:
        ome["multiscales"][0]["axes"][3]["unit"] = "nanometer"
    assert read_plate_layout(plate).geometry.pixel_size_um == pytest.approx(0.65)
    edit_position_metadata(plate, "A/1/0", scale=[600.0, 1.0, 2.0, 650.0, 0.325])
    with pytest.raises(
        ArtifactError,
        match=r"p\.zarr: position A/1/0: expected square pixels .*found y 0\.65 µm and x 0\.325 µm",
    ):
        read_plate_layout(plate)
    edit_position_metadata(plate, "A/1/0", scale=[600.0, 1.0, 2.0, 650.0, 0.650065])  # 0.01 %: rounding
    assert read_plate_layout(plate).geometry.pixel_size_um == pytest.approx(0.65)
    edit_position_metadata(plate, "A/1/0", scale=[600.0, 1.0, 2.0, 650.0, 0.652])  # 0.3 %
    with pytest.raises(ArtifactError, match="expected square pixels"):
        read_plate_layout(plate)


def test_a_first_position_iohub_cannot_parse_is_refused_naming_it(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei"], (6, 1, 3, 64, 48))
    for fov in ("A/1/0", "A/1/1"):
        with ome_attributes(plate / fov) as ome:
            ome["omero"]["channels"] = "Nuclei"
    with pytest.raises(
        ArtifactError, match=r"p\.zarr: position A/1/0 cannot be opened as an OME-Zarr image \("
    ):
        read_plate_layout(plate)


def _unscaled_plate(tmp_path: Path, fovs: list[str]) -> Path:
    """A plate (6 frames, 3 slices) whose positions carry no scale transform."""
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Brightfield", "Nuclei"], (6, 2, 3, 64, 48))
    for fov in fovs:
        with ome_attributes(plate / fov) as ome:
            _set_transforms([])(ome)
    return plate


def test_the_acquisition_supplies_what_the_metadata_does_not_state(tmp_path: Path) -> None:
    """The values ``supplied`` gives take the place of iohub's 1 s and 1 µm where the metadata states
    none, are named as the config's in the one warning, and are recorded; a stated value is kept."""
    plate = _unscaled_plate(tmp_path, ["A/1/0", "B/1/0"])
    supplied = {"time_interval_minutes": 7.0, "pixel_size_um": 0.5, "z_step_um": None}
    with pytest.warns(UserWarning) as warned:
        layout = read_plate_layout(plate, supplied)
    assert len(warned) == 1
    message = str(warned[0].message)
    assert "time interval 7 min from the config (acquisition.time_interval_minutes)" in message
    assert "pixel size 0.5 µm from the config (acquisition.pixel_size_um)" in message
    assert (
        "z step not stated (read as 1 µm). Set the dataset's acquisition.z_step_um, or write the plate's "
        "scale transform; the dry run refuses"
    ) in message
    assert (layout.time_interval_minutes, layout.geometry.time_interval_s) == (7.0, 420.0)
    assert layout.geometry.pixel_size_um == 0.5 and layout.geometry.z_step_um == 1.0
    assert layout.time_interval_stated and layout.pixel_size_stated and not layout.z_step_stated
    assert layout.supplied_values() == {"time_interval_minutes": 7.0, "pixel_size_um": 0.5}
    assert layout.supplied_by(supplied) == layout  # applied once
    with pytest.warns(UserWarning) as warned:  # everything supplied: nothing for the dry run to refuse
        read_plate_layout(plate, {**supplied, "z_step_um": 2.0})
    assert "not stated" not in str(warned[0].message) and "refuses" not in str(warned[0].message)
    scaled = read_plate_layout(write_plate(tmp_path / "s.zarr", ["A/1/0"], ["Nuclei"], (6, 1, 3, 64, 48)))
    assert scaled.supplied_by(supplied) == scaled  # the metadata states them: checked, not replaced


def test_the_phase_plate_carries_the_interval_of_a_plate_without_scale(tmp_path: Path) -> None:
    """The phase plate's time interval is the raw plate's as every stage reads it: the plate attribute
    ``time_interval_minutes`` where the scale transform is missing, else the config's supplied value
    (recorded), never iohub's 1 s; its sizes are the phase config's (the workflow fills them in)."""
    from dynaclr.phase import PhasePlateInputs, PhasePlateOutputs, create_phase_plate

    plate = _unscaled_plate(tmp_path, ["A/1/0"])
    supplied = {"time_interval_minutes": 7.0, "pixel_size_um": 0.5, "z_step_um": 2.0}
    config = PhaseConfig().with_supplied(supplied)
    assert (config.yx_pixel_size_um, config.z_step_um) == (0.5, 2.0)
    assert PhaseConfig(z_step_um=3.0).with_supplied(supplied).z_step_um == 3.0  # the phase key first
    with pytest.warns(UserWarning, match="has no 'scale'"):
        create_phase_plate(
            config,
            PhasePlateInputs(plate=plate),
            PhasePlateOutputs(phase_plate=tmp_path / "ph.zarr"),
            supplied,
        )
    phase = read_plate_layout(tmp_path / "ph.zarr")
    assert phase.time_interval_minutes == pytest.approx(7.0)
    assert phase.geometry.time_interval_s == pytest.approx(420.0)
    assert (phase.geometry.pixel_size_um, phase.geometry.z_step_um) == (0.5, 2.0)
    with open_ome_zarr(tmp_path / "ph.zarr", layout="hcs", mode="r") as opened:
        assert opened.zattrs["supplied_sampling"] == supplied
    with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:  # dynaclr's attribute states it
        writer.zattrs["time_interval_minutes"] = 5.0
    with pytest.warns(UserWarning, match="has no 'scale'"):
        create_phase_plate(
            config, PhasePlateInputs(plate=plate), PhasePlateOutputs(phase_plate=tmp_path / "ph2.zarr")
        )
    assert read_plate_layout(tmp_path / "ph2.zarr").geometry.time_interval_s == pytest.approx(300.0)


@pytest.mark.parametrize("interval_attribute", [None, 5.0])
def test_one_position_gives_the_sampling_the_whole_plate_gives(
    tmp_path: Path, interval_attribute: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a job needs of the sampling (read_plate_sampling) is what the dry run's read of every
    position gives, supplied values included, from one position's metadata."""
    fovs = ["A/1/0", "A/1/1", "B/1/0"]
    plates = {"scaled": write_plate(tmp_path / "s.zarr", fovs, ["Nuclei"], (6, 1, 3, 64, 48))}
    plates["unscaled"] = _unscaled_plate(tmp_path, fovs)
    for name, plate in plates.items():
        if interval_attribute is not None:  # on the scaled plate, the interval its scale states (600 s)
            with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:
                writer.zattrs["time_interval_minutes"] = interval_attribute if name == "unscaled" else 10.0
    read_positions = record_position_reads(monkeypatch)
    for supplied in ({}, {"time_interval_minutes": 7.0, "pixel_size_um": 0.5, "z_step_um": None}):
        for plate in plates.values():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the unscaled plate's warning: another test's
                layout = read_plate_layout(plate, supplied)
            read_positions.clear()
            sampling = read_plate_sampling(plate, supplied)
            assert len(read_positions) == 1
            assert sampling.geometry == layout.geometry
            assert sampling.time_interval_minutes == layout.time_interval_minutes
            assert sampling.n_frames == layout.n_frames == 6
            assert sampling.supplied_values() == layout.supplied_values()
            assert (sampling.pixel_size_stated, sampling.z_step_stated, sampling.time_interval_stated) == (
                layout.pixel_size_stated,
                layout.z_step_stated,
                layout.time_interval_stated,
            )


def test_one_position_without_its_array_is_refused_naming_the_plate_and_position(tmp_path: Path) -> None:
    """read_plate_sampling gives the time points of the first position's array '0': a position without
    one fails naming the plate, the position and what it holds, as read_plate_layout does."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0", "A/1/1"], ["Nuclei"], (6, 1, 3, 64, 48))
    shutil.rmtree(plate / "A/1/0/0")
    expected = rf"{re.escape(str(plate))}: position A/1/0 has no array '0' \(found \[\]\)"
    with pytest.raises(ArtifactError, match=expected):
        read_plate_sampling(plate)
    with pytest.raises(ArtifactError, match=expected):
        read_plate_layout(plate)


def test_a_layout_whose_time_points_disagree_with_its_shape_is_refused(tmp_path: Path) -> None:
    """PlateLayout.n_frames (PlateSampling's) is the T of shape_tczyx: a layout made otherwise fails."""
    plate = write_plate(tmp_path / "p.zarr", ["A/1/0"], ["Nuclei"], (6, 1, 3, 64, 48))
    layout = read_plate_layout(plate)
    with pytest.raises(ValueError, match=r"n_frames 5 differs from the time points of shape_tczyx \(6, "):
        dataclasses.replace(layout, n_frames=5)


def test_the_label_and_prediction_plates_carry_the_supplied_sampling(tmp_path: Path) -> None:
    """The tracks plate and the virtual-staining plate made from a raw plate without scale carry the
    sampling the config supplies (recorded in their ``supplied_sampling`` attribute), as the phase plate
    does, not iohub's 1 s and 1 µm: in napari the labels lie on the raw and phase images."""
    from dynaclr.tracking.fov import TracksPlateInputs, TracksPlateOutputs, create_tracks_plate
    from dynaclr.virtual_stain.plates import (
        VirtualStainPlateInputs,
        VirtualStainPlateOutputs,
        create_virtual_stain_plate,
    )

    plate = write_plate(tmp_path / "p.zarr", ["A/1/0"], ["Phase3D", "Nuclei"], (6, 2, 3, 64, 48))
    with ome_attributes(plate / "A/1/0") as ome:
        _set_transforms([])(ome)
    supplied = {"time_interval_minutes": 7.0, "pixel_size_um": 0.5, "z_step_um": 2.0}
    create_tracks_plate(
        TrackingConfig(),
        TracksPlateInputs(plate=plate),
        TracksPlateOutputs(tracks_plate=tmp_path / "tr.zarr"),
        channel="Nuclei",
        supplied=supplied,
    )
    create_virtual_stain_plate(
        VirtualStainConfig(),
        VirtualStainPlateInputs(phase_plate=plate),
        VirtualStainPlateOutputs(virtual_stain_plate=tmp_path / "vs.zarr"),
        supplied,
    )
    for name in ("tr.zarr", "vs.zarr"):
        layout = read_plate_layout(tmp_path / name)
        assert layout.unscaled_position is None, name
        assert layout.geometry.time_interval_s == pytest.approx(420.0), name
        assert layout.time_interval_minutes == pytest.approx(7.0), name
        assert (layout.geometry.pixel_size_um, layout.geometry.z_step_um) == (0.5, 2.0), name
        with open_ome_zarr(tmp_path / name, layout="hcs", mode="r") as opened:
            assert opened.zattrs["supplied_sampling"] == supplied, name
        if name == "tr.zarr":  # the label image's own scale too
            with ome_attributes(tmp_path / name / "A/1/0" / "labels") as ome:
                labels = ome["labels"]
            with ome_attributes(tmp_path / name / "A/1/0" / "labels" / labels[0]) as ome:
                scale = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
            assert scale[0] == pytest.approx(420.0) and scale[-1] == 0.5


def test_the_geometry_is_that_of_array_0_however_the_datasets_are_listed(tmp_path: Path) -> None:
    """The sampling is read once, from the JSON metadata the positions are compared on: that of array
    ``0`` (the array every stage reads), not of whichever dataset the multiscales list first (iohub's
    ``scale``)."""
    fovs = ["A/1/0", "B/1/0"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei"], (6, 1, 3, 64, 48))
    expected = read_plate_layout(plate).geometry
    _list_a_downsampled_level_first(plate, fovs, (1, 1, 1, 2, 2))
    assert read_plate_layout(plate).geometry == expected


def test_every_per_fov_reader_takes_the_sampling_of_array_0(tmp_path: Path) -> None:
    """A position listing a downsampled level (2x in t, z, y, x) before array ``0``: iohub's
    ``position.scale`` is that level's; the per-FOV readers (the phase job's pixel-size check, the
    patches' frame interval, read_plate_geometry) take array 0's, as read_plate_layout does."""
    from contextlib import ExitStack

    from dynaclr.io.plate import read_plate_geometry
    from dynaclr.patches.extract import _open_source

    fovs = ["A/1/0", "B/1/0"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei"], (6, 1, 4, 64, 48))
    _list_a_downsampled_level_first(plate, fovs, (2, 1, 2, 2, 2))
    expected = read_plate_layout(plate)
    assert expected.geometry == PlateGeometry(time_interval_s=600.0, z_step_um=2.0, pixel_size_um=0.65)
    with open_ome_zarr(plate, layout="hcs", mode="r") as reader:
        position = reader["B/1/0"]
        assert position.scale[0] == 1200.0  # iohub's first-listed level: what the readers must not take
        assert position_geometry(position) == expected.geometry
    assert read_plate_geometry(plate) == expected.geometry
    with ExitStack() as stack:
        source = _open_source(plate, "raw", "B/1/0", stack)
        assert source.time_interval_minutes == pytest.approx(expected.time_interval_minutes)


def test_an_array_0_coarser_than_another_level_of_its_position_is_refused(tmp_path: Path) -> None:
    """A tool naming its full resolution otherwise (here ``1``, listed first as OME-NGFF lists the
    finest level) and a coarser level ``0``: every stage would read the downsampled ``0``, its pixel
    size right for it, with exit 0. Refused by the dry run and by a job's one-position read."""
    fovs = ["A/1/0", "B/1/0"]
    plate = write_plate(tmp_path / "p.zarr", fovs, ["Nuclei"], (6, 1, 3, 32, 32))
    _list_a_downsampled_level_first(plate, fovs, (1, 1, 1, 0.5, 0.5))
    for read in (read_plate_layout, read_plate_sampling):
        with pytest.raises(ArtifactError) as err:
            read(plate)
        message = str(err.value)
        assert str(plate) in message and "position A/1/0" in message
        assert "expected array '0' to be the full-resolution level" in message
        assert "dataset '1' (multiscales[0].datasets[0])" in message
        assert "axis y 0.325 against 0.65, axis x 0.325 against 0.65" in message


def _list_a_downsampled_level_first(plate: Path, fovs: list[str], factors: tuple[float, ...]) -> None:
    """Give each position an array ``1`` downsampled by ``factors`` (TCZYX; below 1: a finer level),
    listed in the multiscales before ``0``."""
    for fov in fovs:
        shape = zarr.open_array(plate / fov / "0", mode="r").shape
        level_shape = tuple(int(-(-n // f)) for n, f in zip(shape, factors, strict=True))
        zarr.open_group(plate / fov, mode="r+").create_array("1", shape=level_shape, dtype="uint16")
        with ome_attributes(plate / fov) as ome:
            datasets = ome["multiscales"][0]["datasets"]
            scale = [s * f for s, f in zip(_scale(datasets[0]), factors, strict=True)]
            level = {"path": "1", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
            ome["multiscales"][0]["datasets"] = [level, *datasets]


def _scale(dataset: dict) -> list[float]:
    return next(t["scale"] for t in dataset["coordinateTransformations"] if t["type"] == "scale")


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize("unlisted", ["image", "well", "well metadata"])
def test_positions_on_disk_that_the_metadata_does_not_list_are_warned_of(
    tmp_path: Path, version: str, unlisted: str
) -> None:
    """A position written on disk but missing from its well's ``well.images`` (or a whole well missing
    from the plate's ``plate.wells``, or listed there without metadata of its own listing its images),
    as a converter interrupted before it updated the metadata, or positions copied in by hand, leave
    it: the plate's metadata says which positions it holds, and every stage reads those. The dataset
    lost those FOVs without a word (exit 0, fewer cells); now the layout warns, naming the plate, the
    positions and the keys that list them, and reads the listed positions as before (a position left
    out of the metadata on purpose stays out)."""
    plate = write_plate(
        tmp_path / "p.zarr",
        ["B/03/000000", "B/03/000001", "C/04/000000"],
        ["Nuclei"],
        (2, 1, 1, 8, 8),
        version=version,
    )
    if unlisted == "image":
        shutil.copytree(plate / "C/04/000000", plate / "C/04/000001")
        expected = ["C/04/000001"]
    elif unlisted == "well":
        with ome_attributes(plate) as ome:
            ome["plate"]["wells"] = [well for well in ome["plate"]["wells"] if well["path"] != "C/04"]
        expected = ["C/04/000000"]
    else:  # listed by the plate, but its own metadata lists no image
        with ome_attributes(plate / "C/04") as ome:
            del ome["well"]
        expected = ["C/04/000000"]
    (plate / "B/03/notes").mkdir()  # a folder that holds no image is no position
    (plate / "B/03/notes/readme.txt").write_text("acquired on the spinning disk")
    layout, message = _read_with_one_warning(plate, "not listed")
    listed = ("B/03/000000", "B/03/000001") + (("C/04/000000",) if unlisted == "image" else ())
    assert layout.fov_names == listed
    assert message.startswith(f"{plate}: positions {expected} are on disk")
    assert "well.images[].path" in message and "plate.wells[].path" in message
    assert f"the dataset reads the {len(listed)} positions listed" in message


def _read_with_one_warning(plate: Path, words: str) -> tuple[PlateLayout, str]:
    """The plate's layout and the one warning it raised holding ``words`` (in ``layout.warnings``)."""
    with pytest.warns(UserWarning) as raised:
        layout = read_plate_layout(plate)
    messages = [str(warning.message) for warning in raised if words in str(warning.message)]
    assert len(messages) == 1, [str(warning.message) for warning in raised]
    assert messages[0] in layout.warnings
    return layout, messages[0]


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize("beside", ["labels and notes", "tables", "snapshot", "file named 0"])
def test_a_plate_whose_positions_are_all_listed_is_read_without_a_warning(
    tmp_path: Path, version: str, beside: str
) -> None:
    """Folders that are no position stay quiet: a position's labels group (a Zarr group below the
    position, not a position) and a notes folder beside the wells, holding a folder of its own (at a
    position's depth, but with no Zarr metadata or array '0': no position, not even a half-written one).

    Folders at a position's depth outside the plate's rows and columns are no positions either: a
    plate's tables (Fractal/ngio: tables/<name>/obs, a Zarr group, and tables/<name>/X, an array) and a
    file system's snapshot of a row (.snapshot/hourly.0/B, holding the row's zarr.json or .zgroup) were
    warned of as incomplete positions on a valid plate. OME-NGFF requires a well's path to be a row
    named in plate.rows and a column named in plate.columns: only those folders are looked in. Within
    a well, a file named 0 (an analysis's output) is no array 0."""
    plate = write_plate(
        tmp_path / "p.zarr", ["B/03/000000", "C/04/000000"], ["Nuclei"], (2, 1, 1, 8, 8), version=version
    )
    if beside == "labels and notes":
        zarr.open_group(plate / "B/03/000000", mode="r+").create_group("labels")
        (plate / "B/notes/figures").mkdir(parents=True)
        (plate / "B/notes/readme.txt").write_text("acquired on the spinning disk")
        (plate / "B/notes/figures/well.png").write_bytes(b"")
    elif beside == "tables":
        tables = zarr.open_group(plate / "tables", mode="w", zarr_format=3 if version == "0.5" else 2)
        table = tables.create_group("nuclei")
        table.create_group("obs").attrs["_index"] = "cell_id"
        table.create_array("X", shape=(4, 2), dtype="float32")
        assert (plate / "tables/nuclei/X").is_dir()
    elif beside == "snapshot":
        shutil.copytree(plate / "B", plate / ".snapshot/hourly.0/B")
    else:
        (plate / "B/03/analysis").mkdir()
        (plate / "B/03/analysis/0").write_text("cell_id,area\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layout = read_plate_layout(plate)
    assert layout.warnings == ()
    assert layout.fov_names == ("B/03/000000", "C/04/000000")


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_an_unlisted_position_whose_metadata_cannot_be_read_is_named_as_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """An unlisted complete position whose metadata file cannot be read (permission denied) was
    warned of as incomplete ('write or copy them again'): the read's error was taken for invalid
    JSON. It is now named among the folders that could not be read, with the file and the reason."""
    plate = write_plate(
        tmp_path / "p.zarr", ["B/03/000000", "C/04/000000"], ["Nuclei"], (2, 1, 1, 8, 8), version=version
    )
    shutil.copytree(plate / "C/04/000000", plate / "C/04/000001")
    refused = plate / "C/04/000001" / ("zarr.json" if version == "0.5" else ".zattrs")
    read_text = Path.read_text

    def reading(path: Path, *args: Any, **kwargs: Any) -> str:
        if path == refused:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", reading)
    layout, message = _read_with_one_warning(plate, "could not be listed or read")
    assert message.startswith(
        f"{plate}: folders ['C/04/000001/{refused.name} (Permission denied)'] could not"
    )
    assert not any("incomplete" in text or "are on disk" in text for text in layout.warnings)
    assert layout.fov_names == ("B/03/000000", "C/04/000000")


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize("written", ["group metadata", "array 0", "empty array folder", "truncated metadata"])
def test_a_half_written_position_the_metadata_does_not_list_is_warned_of_as_incomplete(
    tmp_path: Path, version: str, written: str
) -> None:
    """A position folder a converter was interrupted in, or a copy stopped part way, holds a Zarr
    group's metadata (zarr.json, .zgroup) or its array '0' (a folder: a copy stopped before the array's
    own metadata leaves it empty) but no multiscales yet: it was left out without a word (no OME-Zarr
    image, so no position). Now it is warned of as incomplete, naming what the folder holds or what is
    broken in it."""
    plate = write_plate(
        tmp_path / "p.zarr", ["B/03/000000", "C/04/000000"], ["Nuclei"], (2, 1, 1, 8, 8), version=version
    )
    partial = plate / "C/04/000001"
    group = "zarr.json" if version == "0.5" else ".zgroup and .zattrs"
    if written == "group metadata":
        zarr.open_group(partial, mode="w", zarr_format=3 if version == "0.5" else 2)
        (partial / ".zattrs").unlink(missing_ok=True)  # what zarr writes for a v2 group varies
        group = "zarr.json" if version == "0.5" else ".zgroup"
        found = f"{group} without multiscales"
    elif written == "array 0":  # a copy that reached the pixels before the position's metadata
        shutil.copytree(plate / "C/04/000000/0", partial / "0")
        found = "array 0 without multiscales"
    elif written == "empty array folder":
        (partial / "0").mkdir(parents=True)
        found = "array 0 without multiscales"
    else:
        shutil.copytree(plate / "C/04/000000", partial)
        document = partial / ("zarr.json" if version == "0.5" else ".zattrs")
        document.write_text(document.read_text()[:40])
        found = f"{document.name}: not valid JSON"
    layout, message = _read_with_one_warning(plate, "incomplete")
    assert layout.fov_names == ("B/03/000000", "C/04/000000")
    assert message.startswith(f"{plate}: folders ['C/04/000001 ({found})'] look like incomplete positions")
    assert "the dataset reads the 2 positions listed" in message
    assert not any("are on disk (folders holding an OME-Zarr image)" in text for text in layout.warnings)


class _Listing(list):
    """What a replaced ``os.scandir`` returns: the entries, usable as ``os.scandir``'s context manager."""

    def __enter__(self) -> _Listing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


@pytest.mark.parametrize("folder", ["C", "C/04", "C/04/000001"])
def test_a_folder_in_the_plate_that_cannot_be_listed_is_named_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """A row, well or unlisted position folder that cannot be listed (permission denied: another user's
    copy) made read_plate_layout raise PermissionError, and snakemake -n print a traceback, for a plate
    that read fine before the unlisted positions were looked for. Now it is skipped and named. A folder
    that is no row (lost+found beside the rows) is not looked in, readable or not."""
    plate = write_plate(tmp_path / "p.zarr", ["B/03/000000", "C/04/000000"], ["Nuclei"], (2, 1, 1, 8, 8))
    (plate / "lost+found").mkdir()
    (plate / "C/04/000001").mkdir()
    scandir = os.scandir
    refused = {plate / folder, plate / "lost+found"}

    def listing(path: str | os.PathLike[str]) -> object:
        if Path(path) in refused:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", listing)
    layout, message = _read_with_one_warning(plate, "could not be listed")
    assert layout.fov_names == ("B/03/000000", "C/04/000000")
    assert message.startswith(f"{plate}: folders ['{folder} (Permission denied)'] could not be listed")
    assert "the dataset reads the 2 positions listed" in message


def test_a_position_listed_in_another_case_than_its_folder_is_not_warned_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a case-insensitive file system (macOS, SMB shares) the metadata's ``a/1/0`` opens the folder
    ``A/1/0``, which the listing names ``A``: the position is read, and was warned of as not listed.
    Emulated here: the folder renamed ``A``, a link ``a`` to it opening the metadata's name, listed once
    (under its own name) as such a file system lists it; the row folder ``A`` is scanned as plate.rows'
    ``a``. A folder of another case beside the listed one's own (a case-sensitive file system holding
    both) is still warned of."""
    plate = write_plate(tmp_path / "p.zarr", ["a/1/0", "B/1/p"], ["Nuclei"], (2, 1, 1, 8, 8))
    (plate / "a").rename(plate / "A")
    (plate / "a").symlink_to("A", target_is_directory=True)
    scandir = os.scandir

    def listed_once(path: str | os.PathLike[str]) -> _Listing:
        with scandir(path) as entries:
            return _Listing(entry for entry in entries if not entry.is_symlink())

    monkeypatch.setattr(os, "scandir", listed_once)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layout = read_plate_layout(plate)
    assert layout.fov_names == ("B/1/p", "a/1/0") and layout.warnings == ()
    shutil.copytree(plate / "B/1/p", plate / "B/1/P")  # case-sensitive: p and P are two positions
    with pytest.warns(UserWarning, match=re.escape("positions ['B/1/P'] are on disk")):
        read_plate_layout(plate)
