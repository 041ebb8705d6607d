"""A plate's layout read from its metadata, and the plates the stages refuse before reading pixels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from iohub.ngff import open_ome_zarr
from plate_helpers import edit_position_metadata, rename_position, write_plate

from dynaclr.config.phase import PhaseConfig
from dynaclr.config.plate_checks import simulated_layout
from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.tracking import TrackingConfig
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io import ArtifactError
from dynaclr.io.plate import EXPECTED_AXES, check_plate_axes, read_plate_layout

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


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (  # stages take the channel index from the first position: the other would be read misaligned
            {"channels": ["GFP", "Nuclei"]},
            r"positions differ in channel names, expected the same for the whole plate .*found "
            r"\('Nuclei', 'GFP'\) in \['A/1/0', 'A/1/1'\]; \('GFP', 'Nuclei'\) in \['B/1/0'\]",
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
