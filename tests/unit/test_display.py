"""Display metadata of the image stores: OMERO windows from the data, channel colours, NGFF label
images, checked with napari-ome-zarr's reader (no viewer)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from iohub.ngff import open_ome_zarr
from plate_helpers import assert_image_layers_bracket_their_data, napari_layers

from dynaclr.io import make_provenance
from dynaclr.io.display import (
    BLUE,
    CYAN,
    GREEN,
    GREY,
    MAGENTA,
    UNKNOWN_CHANNEL_COLOURS,
    WINDOW_PERCENTILES,
    YELLOW,
    channel_colors,
    display_window,
    sample_channel,
    write_display_metadata,
)
from dynaclr.io.plate import PlateGeometry, create_empty_plate

RNG = np.random.default_rng(0)

SAMPLES = {
    "camera counts": RNG.poisson(110, 50_000).astype(np.uint16) + (RNG.random(50_000) < 0.02) * 3000,
    "phase": RNG.normal(0.0, 0.02, 50_000).astype(np.float32),
    "prediction": RNG.exponential(0.3, 50_000).astype(np.float32) - 0.1,
}


@pytest.mark.parametrize("name", SAMPLES)
def test_window_is_the_data_percentiles(name: str) -> None:
    samples = SAMPLES[name]
    window = display_window(samples, samples.dtype)
    low, high = np.percentile(samples.astype(np.float64), WINDOW_PERCENTILES)
    assert window.start == pytest.approx(low) and window.end == pytest.approx(high)
    assert window.min <= window.start < np.median(samples) < window.end <= window.max
    assert np.mean(samples < window.start) <= 0.005 + 1e-9
    assert np.mean(samples > window.end) <= 0.005 + 1e-9


def test_integer_window_spans_the_type_and_float_window_the_data() -> None:
    counts = display_window(SAMPLES["camera counts"], np.uint16)
    assert (counts.min, counts.max) == (0.0, 65535.0)
    phase = SAMPLES["phase"]
    window = display_window(phase, np.float32)
    assert (window.min, window.max) == pytest.approx((float(phase.min()), float(phase.max())))


def test_missing_voxels_are_left_out() -> None:
    values = np.concatenate([SAMPLES["phase"], np.full(1000, np.nan), [np.inf, -np.inf]])
    window = display_window(values, np.float32)
    assert np.isfinite([window.start, window.end, window.min, window.max]).all()
    assert window.start == pytest.approx(np.percentile(SAMPLES["phase"], WINDOW_PERCENTILES[0]))


def test_sparse_labels_widen_to_their_range_and_constant_images_get_a_unit_window() -> None:
    labels = np.zeros(100_000, dtype=np.uint32)
    labels[:100] = 7  # 0.1 % labelled: both percentiles are 0
    window = display_window(labels, np.uint32)
    assert (window.start, window.end) == (0.0, 7.0)
    constant = display_window(np.full(10, 3.0), np.float32)
    assert (constant.start, constant.end) == (3.0, 4.0)
    empty = display_window(np.full(10, np.nan), np.float32)
    assert (empty.start, empty.end) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        (0, np.uint16),  # an all-zero channel (an empty virtual stain, a blank camera)
        (0.0, np.float32),
        (-2.5, np.float32),
        (255, np.uint8),  # saturated at the top of its type: the window lies below
        (127, np.int8),
        (1e20, np.float32),  # one unit above is lost to rounding
        (float(np.finfo(np.float64).max), np.float64),
    ],
)
def test_constant_channel_gets_a_window_that_ends_above_its_start(value: float, dtype: type) -> None:
    samples = np.full((3, 8, 8), value, dtype=dtype)
    window = display_window(samples, dtype)
    assert window.start < window.end
    assert window.start <= float(samples.flat[0]) <= window.end
    assert window.min <= window.start and window.end <= window.max
    assert np.isfinite([window.start, window.end, window.min, window.max]).all()


def test_sample_reads_first_and_last_frames_and_caps_the_voxels() -> None:
    array = np.arange(20 * 2 * 3 * 64 * 64, dtype=np.float32).reshape(20, 2, 3, 64, 64)
    sample = sample_channel(array, 1, max_voxels=4000, max_frames=5)
    assert sample.shape[0] == 5 and sample.size <= 4000 * 2
    assert sample[0, 0, 0, 0] == array[0, 1, 0, 0, 0] and sample[-1, 0, 0, 0] == array[-1, 1, 0, 0, 0]


@pytest.mark.parametrize(
    ("name", "colour"),
    [
        # nuclear markers and virtual stains of nuclei
        ("Nuclei", BLUE),
        ("nuclei_prediction", BLUE),
        ("VS_Nucleus", BLUE),
        ("Hoechst", BLUE),
        ("Hoechst 33342", BLUE),
        ("DAPI", BLUE),
        ("dapi", BLUE),
        ("nuc", BLUE),
        ("NucleiMarker", BLUE),
        ("nuclear_stain", BLUE),
        ("NUCLEI", BLUE),
        ("H2B", BLUE),
        # a fluorophore in the name wins over what the channel marks
        ("H2B-mCherry", MAGENTA),
        ("GFP-H2B", GREEN),
        ("Nuclei_GFP", GREEN),
        ("Membrane-mScarlet", MAGENTA),
        ("ViralSensor-mCherry", MAGENTA),
        ("CellMask Deep Red", CYAN),
        # a viral nucleocapsid (N) reporter is not a nucleus
        ("Nucleocapsid-mNeonGreen", GREEN),
        ("N-mNeonGreen", GREEN),
        # membranes and their virtual stains
        ("membrane_prediction", YELLOW),
        ("Membrane", YELLOW),
        ("CellMask", YELLOW),
        # green
        ("ViralSensor", GREEN),
        ("GFP", GREEN),
        ("EGFP", GREEN),
        ("gfp_labelled", GREEN),
        ("FITC", GREEN),
        ("mNeonGreen", GREEN),
        ("Alexa 488", GREEN),
        ("AF488", GREEN),
        ("488nm", GREEN),
        ("GFP-Sec61", GREEN),
        # red
        ("mCherry", MAGENTA),
        ("RFP", MAGENTA),
        ("TRITC", MAGENTA),
        ("mScarlet-I", MAGENTA),
        ("tdTomato", MAGENTA),
        ("561", MAGENTA),
        ("Laser_568", MAGENTA),
        ("Texas Red", MAGENTA),
        # far red
        ("Cy5", CYAN),
        ("CY5", CYAN),
        ("640nm", CYAN),
        ("Alexa Fluor 647", CYAN),
        ("far-red", CYAN),
        ("FarRed", CYAN),
        ("iRFP", CYAN),
        ("MitoTracker Deep Red", CYAN),
        ("deep_red", CYAN),
        ("Far Red", CYAN),
        # ER markers
        ("ERMarker", CYAN),
        ("Sec61", CYAN),
        # label-free channels and label images
        ("Phase3D", GREY),
        ("phase", GREY),
        ("Brightfield", GREY),
        ("BF", GREY),
        ("DIC", GREY),
        ("Retardance", GREY),
        ("nuclei_labels", GREY),
        ("labels", GREY),
    ],
)
def test_channel_colours_by_name(name: str, colour: str) -> None:
    assert channel_colors([name]) == {name: colour}


@pytest.mark.parametrize(
    "name",
    # not label-free (dic of prediction), not green (488 inside a number), not
    # red (red of predicted), not ER (er of Intensity_over), not nuclei (a viral nucleocapsid, a
    # nucleolar protein)
    ["prediction", "14880", "predicted", "Intensity_over", "Channel0", "Nucleocapsid", "nucleolin"],
)
def test_fragments_inside_other_words_do_not_choose_a_colour(name: str) -> None:
    assert channel_colors([name])[name] == UNKNOWN_CHANNEL_COLOURS[0]


def test_unknown_channels_get_distinct_colours_apart_from_the_known_ones() -> None:
    colours = channel_colors(["Phase3D", "ChannelA", "Nuclei", "ChannelB", "ChannelC"])
    assert (colours["Phase3D"], colours["Nuclei"]) == (GREY, BLUE)
    unknown = [colours[name] for name in ("ChannelA", "ChannelB", "ChannelC")]
    assert len(set(unknown)) == 3 and GREY not in unknown and BLUE not in unknown
    # the same names in the same order take the same colours in every store
    assert channel_colors(["Phase3D", "ChannelA", "Nuclei", "ChannelB", "ChannelC"]) == colours


def test_unknown_channels_stay_distinct_when_the_known_ones_use_every_colour() -> None:
    known = ["DAPI", "GFP", "mCherry", "Cy5", "Membrane"]
    unknown = [f"Channel{i}" for i in range(len(UNKNOWN_CHANNEL_COLOURS))]
    colours = channel_colors(known + unknown)
    assert len({colours[name] for name in unknown}) == len(UNKNOWN_CHANNEL_COLOURS)
    assert colours[unknown[0]] not in {colours[name] for name in known}


def test_write_display_metadata_sets_each_channels_window_and_colour(tmp_path: Path) -> None:
    plate = tmp_path / "plate.zarr"
    create_empty_plate(
        plate,
        ["A/1/0"],
        ["Nuclei", "Phase3D"],
        (4, 2, 3, 32, 32),
        np.float32,
        PlateGeometry(60.0, 2.0, 0.5),
        make_provenance("phase_plate", {}),
    )
    data = np.stack([RNG.exponential(100.0, (4, 3, 32, 32)), RNG.normal(0, 0.05, (4, 3, 32, 32))], axis=1)
    with open_ome_zarr(plate, layout="hcs", mode="r+") as opened:
        position = opened["A/1/0"]
        position["0"][:] = data.astype(np.float32)
        windows = write_display_metadata(position)
    omero = json.loads((plate / "A/1/0/zarr.json").read_text())["attributes"]["ome"]["omero"]
    stored = {channel["label"]: channel for channel in omero["channels"]}
    for c, name in enumerate(["Nuclei", "Phase3D"]):
        low, high = np.percentile(data[:, c], WINDOW_PERCENTILES)
        assert stored[name]["window"]["start"] == pytest.approx(low, rel=1e-5) == windows[name].start
        assert stored[name]["window"]["end"] == pytest.approx(high, rel=1e-5) == windows[name].end
    assert (stored["Nuclei"]["color"], stored["Phase3D"]["color"]) == (BLUE, GREY)


def test_store_with_unknown_and_constant_channels_opens_in_distinct_colours_with_valid_limits(
    tmp_path: Path,
) -> None:
    names = ["Phase3D", "ChannelA", "ChannelB", "Empty"]
    plate = tmp_path / "plate.zarr"
    create_empty_plate(
        plate,
        ["A/1/0"],
        names,
        (2, 4, 2, 16, 16),
        np.uint16,
        PlateGeometry(60.0, 2.0, 0.5),
        make_provenance("raw_plate", {}),
    )
    data = RNG.poisson(100, (2, 4, 2, 16, 16)).astype(np.uint16)
    data[:, 3] = 0  # an all-zero channel
    with open_ome_zarr(plate, layout="hcs", mode="r+") as opened:
        opened["A/1/0"]["0"][:] = data
        write_display_metadata(opened["A/1/0"])
    layers = {props["name"].split(": ")[-1]: props for _, props, kind in napari_layers(plate / "A/1/0")}
    assert set(layers) == set(names)
    colourmaps = {name: props["colormap"] for name, props in layers.items()}
    assert colourmaps["Phase3D"].name == "gray"
    unknown = [tuple(colourmaps[name].colors[-1]) for name in ("ChannelA", "ChannelB", "Empty")]
    assert len(set(unknown)) == 3  # told apart from one another
    assert all(colourmaps[name].name != "gray" for name in ("ChannelA", "ChannelB", "Empty"))
    for name, props in layers.items():
        low, high = props["contrast_limits"]
        assert high > low, name
    assert tuple(layers["Empty"]["contrast_limits"]) == (0.0, 1.0)


def test_empty_plate_with_a_label_image_opens_as_a_labels_layer(tmp_path: Path) -> None:
    plate = tmp_path / "labels.zarr"
    create_empty_plate(
        plate,
        ["A/1/0"],
        ["labels"],
        (3, 1, 2, 16, 16),
        np.uint32,
        PlateGeometry(60.0, 2.0, 0.5),
        make_provenance("tracks_plate", {}),
        label_image="tracks",
    )
    labels = np.zeros((3, 2, 16, 16), dtype=np.uint32)
    labels[:, :, 4:8, 4:8] = 5
    with open_ome_zarr(plate, layout="hcs", mode="r+") as opened:
        position = opened["A/1/0"]
        position["0"][:] = labels[:, None]
        position.zgroup["labels"]["tracks"]["0"][:] = labels
        write_display_metadata(position)
    layers = napari_layers(plate / "A/1/0")
    label_layers = [(data, props) for data, props, kind in layers if kind == "labels"]
    assert len(label_layers) == 1
    data, props = label_layers[0]
    np.testing.assert_array_equal(data, labels)
    assert props["scale"] == pytest.approx([60.0, 2.0, 0.5, 0.5])
    assert_shown_in_colour(data, props)
    # the plate itself opens too (napari-ome-zarr tiles its positions), labels included
    assert any(kind == "labels" for _, _, kind in napari_layers(plate))


def assert_shown_in_colour(data: np.ndarray, props: dict) -> None:
    """napari draws every label of a labels layer built from the reader's arguments visibly."""
    from napari.layers import Labels

    layer = Labels(data, **props)
    ids = np.unique(data[data > 0])
    assert ids.size and (layer.colormap.map(ids)[:, 3] > 0).all()


def test_simulated_plates_open_with_windows_on_the_data(tiny_plate: dict[str, Path]) -> None:
    raw = assert_image_layers_bracket_their_data(tiny_plate["plate"] / "B/1/0")
    colours = {props["name"].split(": ")[-1]: props["colormap"].name for _, props, _ in raw}
    assert colours == {"Brightfield": "gray", "Nuclei": "blue", "ViralSensor": "green", "ERMarker": "cyan"}
    assert_image_layers_bracket_their_data(tiny_plate["phase"] / "B/1/0")
    layers = assert_image_layers_bracket_their_data(tiny_plate["labels"] / "B/1/0")
    label_layers = [(data, props) for data, props, kind in layers if kind == "labels"]
    assert len(label_layers) == 1
    image = next(data for data, _, kind in layers if kind == "image")
    np.testing.assert_array_equal(label_layers[0][0], image)
    assert_shown_in_colour(*label_layers[0])
