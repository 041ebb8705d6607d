"""How viewers show the images the workflow writes: OMERO contrast windows and channel colours.

OME-Zarr viewers (napari-ome-zarr, the OME-NGFF validator, OMERO) take each channel's initial
contrast from its ``omero.channels[i].window`` (``start``/``end``) and its colour from ``color``.
iohub writes fixed defaults (0–65535 for any channel, −0.2…0.2 for ``Phase3D``), so float
fluorescence shows black and phase saturated. :func:`write_display_metadata` replaces them, for
one position, with windows from the data's percentiles and colours from the channel names; every
writer of an image store calls it once a position is filled (a per-FOV job for its own position,
so no two jobs write the same metadata file).

Label images for napari's labels layer are written as NGFF ``labels/<name>`` groups
(:func:`create_label_image`); their values are ids, not intensities, and carry no window.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from iohub.ngff.models import TransformationMeta, WindowDict
from iohub.ngff.nodes import PositionLabel
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

#: Percentiles of the sampled voxels that become the window's start and end: 0.5 % of the voxels
#: are shown black and 0.5 % saturated, whatever the camera offset or the unit.
WINDOW_PERCENTILES: tuple[float, float] = (0.5, 99.5)

#: Voxels read per channel to estimate the window (evenly spaced frames, strided in Y and X).
SAMPLE_VOXELS = 2_000_000

#: Frames read at most per channel (evenly spaced, first and last included).
SAMPLE_FRAMES = 8

#: Hex colours (``RRGGBB``), each one of napari's named colour maps.
BLUE, GREEN, MAGENTA, CYAN = "0000FF", "00FF00", "FF00FF", "00FFFF"
YELLOW, RED, GREY = "FFFF00", "FF0000", "FFFFFF"

#: Colours of channels whose name :data:`_COLOUR_BY_FRAGMENT` does not know, in the order they are
#: handed out: magenta and green first (as napari colours two channels itself), blue last (dark on
#: black).
UNKNOWN_CHANNEL_COLOURS: tuple[str, ...] = (MAGENTA, GREEN, CYAN, YELLOW, RED, BLUE)

#: Lower-case name fragments → colour, in order of precedence (the first found in the channel name
#: wins): label images and label-free channels grey; then what states the colour the microscope
#: recorded: a fluorophore or dye, an excitation wavelength, a colour word (green, red → magenta,
#: far-red and deep red → cyan, far-red before red); then, for a channel named without any of those
#: (a virtual stain, ``Nuclei``, ``Membrane``), what it shows: nuclei blue, membranes yellow, a viral
#: sensor green, ER markers cyan. A fluorophore wins over a structure word because it is what the
#: channel holds, not a guess from what it marks, and keeps two reporters of one structure apart
#: (``H2B-mCherry`` magenta beside ``Hoechst`` blue, ``Nucleocapsid-mNeonGreen`` green). So
#: ``nuclei_labels`` is a label image (grey), ``GFP-Sec61`` green and ``MitoTracker Deep Red`` cyan.
#: Fragments are looked for in the name with its separators dropped (``far-red``, ``Texas Red``),
#: except those of :data:`_WHOLE_WORDS`, which must be a word of it (``ER`` in ``ERMarker``, not the
#: ``er`` of ``Intensity_over``; ``DIC``, not the ``dic`` of ``nuclei_prediction``; ``488`` in
#: ``GFP_488nm``, not in ``14880``; ``labels`` in ``nuclei_labels``, not in ``GFP_labelled``), and
#: those of :data:`_WORD_PREFIXES`, which must begin a word (``Nuclei``, ``nuclear_stain``,
#: ``VS_Nucleus``, not ``Nucleocapsid``).
_COLOUR_BY_FRAGMENT: tuple[tuple[str, str], ...] = (
    # label images
    ("label", GREY),
    ("labels", GREY),
    ("segment", GREY),
    # label-free
    ("phase", GREY),
    ("brightfield", GREY),
    ("bf", GREY),
    ("dic", GREY),
    ("retardance", GREY),
    ("orientation", GREY),
    ("birefringence", GREY),
    ("transmi", GREY),
    # fluorophores and dyes, far-red before red
    ("farred", CYAN),
    ("deepred", CYAN),
    ("cy5", CYAN),
    ("cy7", CYAN),
    ("irfp", CYAN),
    ("hoechst", BLUE),
    ("dapi", BLUE),
    ("bfp", BLUE),
    ("yfp", YELLOW),
    ("venus", YELLOW),
    ("citrine", YELLOW),
    ("cfp", CYAN),
    ("gfp", GREEN),
    ("fitc", GREEN),
    ("neongreen", GREEN),
    ("mclover", GREEN),
    ("mcherry", MAGENTA),
    ("rfp", MAGENTA),
    ("tritc", MAGENTA),
    ("mscarlet", MAGENTA),
    ("tdtomato", MAGENTA),
    ("dsred", MAGENTA),
    ("mruby", MAGENTA),
    ("mkate", MAGENTA),
    ("cy3", MAGENTA),
    ("texasred", MAGENTA),
    # excitation wavelengths (nm)
    ("405", BLUE),
    ("488", GREEN),
    ("514", YELLOW),
    ("543", MAGENTA),
    ("546", MAGENTA),
    ("555", MAGENTA),
    ("561", MAGENTA),
    ("568", MAGENTA),
    ("594", MAGENTA),
    ("633", CYAN),
    ("635", CYAN),
    ("637", CYAN),
    ("640", CYAN),
    ("647", CYAN),
    ("650", CYAN),
    ("680", CYAN),
    # colour words
    ("blue", BLUE),
    ("green", GREEN),
    ("red", MAGENTA),
    # what a channel shows (a virtual stain shows it too: nuclei_prediction, membrane_prediction)
    ("nuclei", BLUE),
    ("nuclear", BLUE),
    ("nucleus", BLUE),
    ("nuc", BLUE),
    ("h2b", BLUE),
    ("membrane", YELLOW),
    ("mem", YELLOW),
    ("cellmask", YELLOW),
    ("caax", YELLOW),
    ("sensor", GREEN),
    ("viral", GREEN),
    ("virus", GREEN),
    # organelles
    ("er", CYAN),
    ("sec61", CYAN),
)

#: Fragments of :data:`_COLOUR_BY_FRAGMENT` that must begin a word of the channel name.
_WORD_PREFIXES = frozenset({"nuclei", "nuclear", "nucleus"})

_WHOLE_WORDS = frozenset(
    {"label", "labels", "bf", "dic", "nuc", "mem", "er", "red"}
    | {fragment for fragment, _ in _COLOUR_BY_FRAGMENT if fragment.isdigit()}
)

#: Words of a channel name: upper-case runs (``ER`` of ``ERMarker``), capitalised or lower-case
#: words, digit runs.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def channel_colors(channel_names: Sequence[str]) -> dict[str, str]:
    """Display colour ``RRGGBB`` of each channel of a store, by channel name.

    A name :data:`_COLOUR_BY_FRAGMENT` knows (case-insensitively) takes its colour. The others take
    :data:`UNKNOWN_CHANNEL_COLOURS` in channel order, first those no known channel of the store
    shows, then the others: two unknown channels differ (up to six of them), and an unknown channel
    differs from the known ones while a colour is left. Never grey: grey stands for label-free
    channels and label images.
    """
    known = {name: _named_colour(name) for name in channel_names}
    unknown = [name for name, colour in known.items() if colour is None]
    taken = {colour for colour in known.values() if colour is not None}
    cycle = sorted(UNKNOWN_CHANNEL_COLOURS, key=lambda colour: colour in taken)  # stable: free first
    handed_out = {name: cycle[i % len(cycle)] for i, name in enumerate(unknown)}
    if unknown:
        logger.info("channels %s have no colour by name; shown in %s", unknown, list(handed_out.values()))
    return {name: colour if colour is not None else handed_out[name] for name, colour in known.items()}


def _named_colour(channel_name: str) -> str | None:
    """Colour of the first fragment of :data:`_COLOUR_BY_FRAGMENT` found in ``channel_name``, if any."""
    compact = re.sub(r"[^a-z0-9]", "", channel_name.lower())
    words = {word.lower() for word in _WORDS.findall(channel_name)}
    for fragment, colour in _COLOUR_BY_FRAGMENT:
        if fragment in _WORD_PREFIXES:
            found = any(word.startswith(fragment) for word in words)
        else:
            found = fragment in words or (fragment not in _WHOLE_WORDS and fragment in compact)
        if found:
            return colour
    return None


@dataclass(frozen=True)
class DisplayWindow:
    """Contrast window of one channel, in the data's own unit.

    ``start``/``end``: the initial contrast limits (the :data:`WINDOW_PERCENTILES` of the sampled
    voxels); ``min``/``max``: the range a viewer's slider spans (an integer type's full range, a
    float channel's sampled data range), which always contains ``start``/``end``.
    """

    start: float
    end: float
    min: float
    max: float

    def as_window(self) -> WindowDict:
        return WindowDict(start=self.start, end=self.end, min=self.min, max=self.max)


def display_window(
    samples: NDArray[Any], dtype: Any, percentiles: tuple[float, float] = WINDOW_PERCENTILES
) -> DisplayWindow:
    """Window of a channel from a sample of its voxels (any shape; NaN and ±inf are left out).

    ``start``/``end`` are ``percentiles`` of the finite samples. When those coincide (a sparse or
    constant image) the window widens to the samples' range, and when the image is constant (all
    zero, say) to a window that ends above where it starts, so a viewer can use it as contrast
    limits (:func:`_constant_window`); an image with no finite voxel gets ``0 … 1``.
    """
    values = np.asarray(samples, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        low = high = data_min = data_max = 0.0
    else:
        low, high = (float(v) for v in np.percentile(values, percentiles))
        data_min, data_max = float(values.min()), float(values.max())
    if not high > low:
        low, high = data_min, data_max
    kind = np.dtype(dtype)
    integer = np.issubdtype(kind, np.integer)
    if not high > low:
        ceiling = float(np.iinfo(kind).max) if integer else float(np.finfo(np.float64).max)
        low, high = _constant_window(low, ceiling)
    if integer:
        info = np.iinfo(kind)
        return DisplayWindow(low, high, float(info.min), float(info.max))
    return DisplayWindow(low, high, min(data_min, low), max(data_max, high))


def _constant_window(value: float, ceiling: float) -> tuple[float, float]:
    """Window ``(start, end)`` with ``start < end`` on an image of one value: one unit above it (or
    a millionth of it, for values where one unit is lost to rounding), below it when the value is
    at ``ceiling`` (the top of an integer type, the largest float)."""
    step = max(1.0, abs(value) * 1e-6)
    if value + step <= ceiling and value + step > value:
        return value, value + step
    return value - step, value


def sample_channel(
    array: Any, channel: int, max_voxels: int = SAMPLE_VOXELS, max_frames: int = SAMPLE_FRAMES
) -> NDArray[Any]:
    """Voxels of channel ``channel`` of a ``(T, C, Z, Y, X)`` array (zarr or numpy) for
    :func:`display_window`: up to ``max_frames`` evenly spaced frames, each read whole and strided
    in Y and X so that about ``max_voxels`` voxels are kept."""
    n_t, _, n_z, n_y, n_x = (int(n) for n in array.shape)
    frames = np.unique(np.linspace(0, n_t - 1, num=min(n_t, max_frames)).round().astype(int))
    per_frame = max(1, max_voxels // max(1, len(frames)))
    stride = max(1, math.ceil(math.sqrt(n_z * n_y * n_x / per_frame)))
    return np.stack([np.asarray(array[t, channel])[:, ::stride, ::stride] for t in frames])


def write_display_metadata(position: Any, image: str = "0") -> dict[str, DisplayWindow]:
    """Set the OMERO window and colour of every channel of an open iohub position from its data.

    Reads a sample of image ``image`` per channel (:func:`sample_channel`), sets the window
    (:func:`display_window`) and the colour (:func:`channel_colors`), and writes the position's
    metadata once. Returns the windows by channel name.
    """
    array = position[image]
    windows = {}
    for index, name in enumerate(position.channel_names):
        windows[name] = display_window(sample_channel(array, index), array.dtype)
    omero = position.metadata.omero
    if omero is None or omero.channels is None:
        logger.warning("position %s has no OMERO metadata; display settings not written", position.zgroup)
        return windows
    colours = channel_colors(list(windows))
    for channel in omero.channels:
        label = str(channel.label)
        if label in windows:
            channel.window = windows[label].as_window()
            channel.color = colours[label]
    position.dump_meta()
    return windows


def create_label_image(
    position: Any,
    name: str,
    shape_tzyx: tuple[int, int, int, int],
    dtype: Any,
    transform: Sequence[TransformationMeta] | None = None,
) -> Any:
    """Create an empty NGFF label image ``labels/<name>`` in an open iohub position (the image it
    segments), chunked one frame per chunk, and return its ``(T, Z, Y, X)`` array to fill.

    Viewers show it as a labels layer over the position's image (napari-ome-zarr reads
    ``labels/`` and its ``image-label`` metadata). ``transform``: the image's TCZYX scale, of
    which the channel entry is dropped; the label image covers the same voxels.
    """
    # NGFF keeps the list of label images in the attributes of the ``labels`` group; iohub's own
    # helpers list them in the image's attributes instead, where napari-ome-zarr mistakes the image
    # for a labels group and shows nothing.
    labels_group = position.zgroup.require_group("labels")
    group = labels_group.create_group(name, overwrite=True)
    names = sorted({*_listed_labels(labels_group), name})
    if position.version == "0.4":
        labels_group.attrs["labels"] = names
    else:
        labels_group.attrs["ome"] = {"version": position.version, "labels": names}
    # iohub creates a label image only from an in-memory array (Position.create_label); its node
    # class creates one lazily, given the position's storage implementation.
    label_image = PositionLabel(
        group=group,
        parse_meta=False,
        axes=position.label_axes,
        version=position.version,
        impl=position._impl,
    )
    label_transform = None
    if transform:
        channel_axis = [axis.type for axis in position.axes].index("channel")
        label_transform = [
            TransformationMeta(
                type=item.type, scale=[s for i, s in enumerate(item.scale or []) if i != channel_axis]
            )
            for item in transform
            if item.type == "scale"
        ]
    array = label_image.create_zeros(
        "0", shape=shape_tzyx, dtype=dtype, chunks=(1, *shape_tzyx[1:]), transform=label_transform
    )
    _drop_empty_label_colours(group)
    return array


def _drop_empty_label_colours(group: Any) -> None:
    """Remove the empty ``colors``/``properties`` lists iohub writes into ``image-label``: napari-ome-zarr
    turns an empty colour list into a colour map that draws every label transparent; without the
    key napari colours the labels itself."""
    attributes = dict(group.attrs)
    wrapped = "ome" in attributes
    ome = dict(attributes["ome"]) if wrapped else attributes
    image_label = {key: value for key, value in ome.get("image-label", {}).items() if value != []}
    ome["image-label"] = image_label
    if wrapped:
        group.attrs["ome"] = ome
    else:
        group.attrs["image-label"] = image_label


def _listed_labels(labels_group: Any) -> list[str]:
    attributes = dict(labels_group.attrs)
    listed = attributes.get("ome", attributes).get("labels", [])
    return [str(name) for name in listed] if isinstance(listed, list) else []
