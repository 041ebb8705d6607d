"""Fiji TrackMate's XML file (one per FOV) as a raw imported tracks table (``tracks.format: trackmate``).

What is read (TrackMate's own file, ``File > Save`` in its GUI)::

    <TrackMate>
      <Model spatialunits="micron" timeunits="min">
        <AllSpots> <SpotsInFrame frame="0"> <Spot ID=".." FRAME=".." POSITION_X=".." POSITION_Y=".."
                                                   POSITION_Z=".." .../> ...
        <AllTracks> <Track TRACK_ID=".."> <Edge SPOT_SOURCE_ID=".." SPOT_TARGET_ID=".." .../> ...
        <FilteredTracks> <TrackID TRACK_ID=".."/> ...
      </Model>
      <Settings> <ImageData width= height= nslices= pixelwidth= pixelheight= voxeldepth= .../> ...

Positions are in the file's spatial units; they become pixels with the file's own calibration
(``POSITION_X / pixelwidth``, ``POSITION_Y / pixelheight``, ``POSITION_Z / voxeldepth``; TrackMate puts
a pixel's centre at its index times the pixel size, as the workflow's centroids). The calibration
must agree with the plate's (within :data:`CALIBRATION_TOLERANCE`, relative) and the image with the
plate's width and height: a file made on another image (another binning, a crop) would put every
cell in the wrong place. ``FRAME`` is the frame ``t``, an index of the plate's frames (the file's
``nframes`` must equal the plate's T, so a subsampled copy or a substack in time is refused): a
file's frame interval (``ImageData timeinterval`` in the Model's ``timeunits``) other than the
plate's (beyond :data:`CALIBRATION_TOLERANCE`, relative) is logged as a WARNING and recorded
(:attr:`TrackMateCounts.frame_interval_warning`), not refused: a file made in Fiji on an image
without a frame interval says 1 sec and holds correct tracks. It is not compared (a log line says
so) where either states none, the file counts time in frames, or the plate has one frame.
A file whose image has one slice gives 2D tracks (no ``z``).

The plate's values are those its metadata states in a unit it names, or the dataset's
``acquisition`` supplies (:meth:`~dynaclr.io.plate.PlateSampling.stated_values`). A pixel size or
z step read from axes without a unit (``unitless``: micrometres assumed) is a guess: the file's
calibration is not compared with it, neither to refuse a correct file nor to pass a wrong one; a
WARNING names both values and how to state the plate's, and the record keeps it
(:attr:`TrackMateCounts.calibration_not_checked`, with the other checks skipped: an uncalibrated
file, a plate that states no pixel size). A movie's time interval read from a time axis without a
unit (seconds assumed) never reaches the import in the workflow: the dry run refuses it
(:func:`~dynaclr.config.plate_checks.workflow_problems`: set ``acquisition.time_interval_minutes``);
a library caller handing such a plate's guess is treated alike (not compared, WARNING).

Only the tracks listed in ``FilteredTracks`` are kept (those TrackMate shows and exports); spots of
the other tracks and spots in no track are dropped and counted (:class:`TrackMateCounts`).

The spot graph of each kept track becomes track segments, as ultrack's tracks are: a segment
follows single links (an edge skipping frames, TrackMate's gap closing, continues the segment); a
spot with two or more links to later frames (a division) ends its segment, and each link starts a
daughter segment whose ``parent_track_id`` is the mother's segment. A spot with two links from
earlier frames (a merge, TrackMate's "allow track merging") is refused, naming the file and the
spots: a cell has one mother in the workflow's tables, and which of the merged cells continues is a
tracking decision to make in TrackMate (delete one of the edges), not one to guess here. Segments
are numbered 1, 2, ... by (first frame, first spot ID); ``id`` is the spot's TrackMate ``ID`` and
``parent_id`` the ``ID`` of the spot linked before it (-1 for none).
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dynaclr.io import ArtifactError
from dynaclr.io.units import LENGTH_UNITS_UM, TIME_UNITS_S as SECONDS_PER_UNIT, spellings, unit_key
from dynaclr.tracking.engine import NO_PARENT

logger = logging.getLogger(__name__)

#: Largest relative difference between the file's pixel size (or z step) and the plate's.
CALIBRATION_TOLERANCE = 1e-3
#: Micrometres per unit of TrackMate's ``spatialunits`` (:data:`~dynaclr.io.units.LENGTH_UNITS_UM`);
#: None: uncalibrated (positions in pixels).
SPATIAL_UNITS_UM: dict[str, float | None] = {
    **LENGTH_UNITS_UM,
    **dict.fromkeys(("pixel", "pixels", "px"), None),
}
#: Seconds per unit of TrackMate's ``timeunits`` (:data:`~dynaclr.io.units.TIME_UNITS_S`); None:
#: frames (no interval to check).
TIME_UNITS_S: dict[str, float | None] = {**SECONDS_PER_UNIT, **dict.fromkeys(("frame", "frames"), None)}
#: Spots named per problem before "... and N more".
SHOWN_SPOTS = 5


@dataclass
class TrackMateCounts:
    """What one file held and what was kept: spots in kept tracks; spots dropped because their track is
    not in ``FilteredTracks``; spots in no track."""

    spots: int
    kept_spots: int
    kept_tracks: int
    spots_of_filtered_out_tracks: int
    filtered_out_tracks: int
    untracked_spots: int
    #: the WARNING logged where the file's frame interval differs from the plate's (None: it agrees
    #: or is not compared)
    frame_interval_warning: str | None = None
    #: the WARNINGs logged where the file's calibration or frame interval is not checked: positions
    #: in pixels, a plate stating no pixel size, a plate value read from an axis without a unit
    calibration_not_checked: list[str] = field(default_factory=list)
    #: the WARNING logged where the file's image (``ImageData filename``) is none of its FOV's TIFF
    #: files (None: it is one, or either is not known)
    image_file_warning: str | None = None

    def as_dict(self) -> dict[str, int | str | None]:
        return asdict(self)


@dataclass
class _Parsed:
    """The parts of a TrackMate file the import needs."""

    spatial_units: str | None = None
    time_units: str | None = None
    spots: dict[int, tuple[int, float, float, float]] = field(default_factory=dict)  # ID: frame, x, y, z
    tracks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # TRACK_ID: edges
    filtered: set[int] | None = None
    image: dict[str, str] | None = None


def _number(path: Path, element: str, attributes: dict[str, str], name: str, kind: type = float) -> Any:
    """Attribute ``name`` as ``kind`` (int, or a finite float); fails naming the file, element, attribute."""
    value = attributes.get(name)
    number: float | int | None
    try:
        number = int(str(value)) if kind is int else float(str(value))
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):
        shown = attributes.get("ID", attributes.get("TRACK_ID", ""))
        raise ArtifactError(
            f"{path}: <{element}{' ID=' + shown if shown else ''}> attribute {name!r}: expected "
            f"{'an integer' if kind is int else 'a finite number'}, found {value!r}"
        )
    return number


def _elements(path: Path) -> Iterator[tuple[str, ET.Element]]:
    try:
        yield from ET.iterparse(path, events=("start", "end"))
    except ET.ParseError as err:
        raise ArtifactError(f"{path}: cannot read the TrackMate XML file: {err}") from err


def _parse(path: Path) -> _Parsed:
    """One pass over the file (:func:`xml.etree.ElementTree.iterparse`), spots and edges cleared as read."""
    parsed = _Parsed()
    track: list[tuple[int, int]] | None = None
    root_seen = False
    for event, element in _elements(path):
        tag = element.tag
        if event == "start":
            if not root_seen:
                root_seen = True
                if tag != "TrackMate":
                    raise ArtifactError(
                        f"{path}: expected a TrackMate XML file (root element <TrackMate>), found <{tag}>"
                    )
            elif tag == "Model":
                parsed.spatial_units = element.get("spatialunits")
                parsed.time_units = element.get("timeunits")
            elif tag == "Track":
                track = parsed.tracks.setdefault(_number(path, tag, element.attrib, "TRACK_ID", int), [])
            elif tag == "FilteredTracks" and parsed.filtered is None:
                parsed.filtered = set()
            continue
        if tag == "Spot":
            spot_id = _number(path, tag, element.attrib, "ID", int)
            parsed.spots[spot_id] = (
                _number(path, tag, element.attrib, "FRAME", int),
                _number(path, tag, element.attrib, "POSITION_X"),
                _number(path, tag, element.attrib, "POSITION_Y"),
                float(element.get("POSITION_Z", "0") or 0.0),
            )
            element.clear()
        elif tag == "Edge" and track is not None:
            source = _number(path, tag, element.attrib, "SPOT_SOURCE_ID", int)
            track.append((source, _number(path, tag, element.attrib, "SPOT_TARGET_ID", int)))
            element.clear()
        elif tag == "Track":
            track = None
        elif tag == "TrackID" and parsed.filtered is not None:
            parsed.filtered.add(_number(path, tag, element.attrib, "TRACK_ID", int))
        elif tag == "ImageData":
            parsed.image = dict(element.attrib)
    return parsed


def _pixel_sizes(
    path: Path,
    parsed: _Parsed,
    *,
    shape_tzyx: tuple[int, ...],
    pixel_size_um: float | None,
    z_step_um: float | None,
    unitless: Mapping[str, float],
    not_checked: list[str],
) -> tuple[dict[str, float], bool]:
    """``{axis: size in the file's units}`` of the axes read, checked against the plate (``unitless``:
    its guesses, by ``acquisition`` key, not checked against); whether 3D. What is not checked is
    logged at WARNING and added to ``not_checked``."""
    image = parsed.image
    if parsed.spatial_units is None or image is None:
        missing = "<Model spatialunits=...>" if parsed.spatial_units is None else "<Settings><ImageData>"
        raise ArtifactError(
            f"{path}: expected {missing} (TrackMate's calibration), found none; save the file from "
            "TrackMate (File > Save), not an export of the tracks"
        )
    units = parsed.spatial_units.strip()
    if unit_key(units) not in SPATIAL_UNITS_UM:
        raise ArtifactError(
            f"{path}: <Model spatialunits>: expected one of {spellings(SPATIAL_UNITS_UM)}, found {units!r}"
        )
    um_per_unit = SPATIAL_UNITS_UM[unit_key(units)]
    n_slices = _number(path, "ImageData", image, "nslices", int)
    is_3d = n_slices > 1
    n_t, n_z, n_y, n_x = shape_tzyx
    # frames and slices of a substack are numbered from 0 in TrackMate: tracks made on one would be
    # shifted in time or depth, within the plate, without a word; a 2D file of a 3D plate (tracked on a
    # projection) has one slice
    checked = [("width", n_x, "image width"), ("height", n_y, "image height"), ("nframes", n_t, "frames")]
    if is_3d:
        checked.append(("nslices", n_z, "slices"))
    for name, plate_size, what in checked:
        size = _number(path, "ImageData", image, name, int)
        if size != plate_size:
            raise ArtifactError(
                f"{path}: <ImageData {name}>: expected the plate's {what} {plate_size}, found {size}"
                f"{_time_read_as_slices(name, size, n_slices, n_t, n_z)}; track "
                "the plate's whole images and movie (not a binned or cropped copy, nor a substack in time "
                "or depth, whose frames and slices TrackMate numbers from 0)"
            )
    sizes = {"x": "pixelwidth", "y": "pixelheight"} | ({"z": "voxeldepth"} if is_3d else {})
    found = {axis: _number(path, "ImageData", image, name) for axis, name in sizes.items()}
    for axis, size in found.items():
        if size <= 0:
            raise ArtifactError(
                f"{path}: <ImageData {sizes[axis]}>: expected a positive size, found {size:g}"
            )
        plate = z_step_um if axis == "z" else pixel_size_um
        if um_per_unit is None or plate is None:
            continue
        size_um = size * um_per_unit
        if abs(size_um - plate) > CALIBRATION_TOLERANCE * plate:
            what = "z step" if axis == "z" else "pixel size"
            raise ArtifactError(
                f"{path}: <ImageData {sizes[axis]}>: expected the plate's {what} {plate:g} µm (within "
                f"{CALIBRATION_TOLERANCE:g} relative), found {size:g} {units} = {size_um:g} µm; track the "
                "plate's images, or correct the calibration in Fiji (Image > Properties) or the plate's "
                "metadata"
            )
    if um_per_unit is None:
        _not_checked(
            not_checked,
            f"{path}: TrackMate positions are in pixels (uncalibrated image): no pixel size to check",
        )
        return found, is_3d
    for axis, key, what in (("x", "pixel_size_um", "pixel size"), ("z", "z_step_um", "z step")):
        if axis in found and key in unitless:
            _not_checked(
                not_checked,
                f"{path}: <ImageData {sizes[axis]}> {found[axis]:g} {units} = "
                f"{found[axis] * um_per_unit:g} µm "
                f"not checked against the plate's {what}: the plate's {unitless[key]:g} is read from an axis "
                "without a unit (micrometres assumed, a guess). Write the plate's axis units "
                f"(multiscales[0].axes[].unit) or set the dataset's acquisition.{key} to check it",
            )
    if pixel_size_um is None and "pixel_size_um" not in unitless:
        _not_checked(
            not_checked, f"{path}: the plate states no pixel size: the file's calibration is not checked"
        )
    return found, is_3d


def _time_read_as_slices(
    name: str, n_frames: int, n_slices: int, plate_frames: int, plate_slices: int
) -> str:
    """For an image of one frame whose slices are the plate's frames (or frames x slices): the note that
    Fiji read the movie's time points as slices (an image sequence of one file per time point, not made
    a hyperstack), and how to correct it; else ``""``."""
    if name != "nframes" or n_frames != 1 or plate_frames == 1:
        return ""
    if n_slices not in (plate_frames, plate_frames * plate_slices):
        return ""
    return (
        f" (and {n_slices} slices: the movie's time points were read as slices in Fiji, as an image "
        "sequence of one file per time point opens; set Slices (z) and Frames (t) in Image > Properties or "
        "Image > Hyperstacks > Stack to Hyperstack, then track again)"
    )


def _not_checked(not_checked: list[str], message: str) -> None:
    """Log at WARNING a check of the file against the plate that is not made, and keep it for the record."""
    logger.warning(message)
    not_checked.append(message)


def _check_image_file(
    path: Path, fov_name: str, parsed: _Parsed, image_files: Sequence[str] | None
) -> str | None:
    """A WARNING (logged, and returned) where the file's image (``ImageData filename``, the file
    TrackMate tracked) is none of FOV ``fov_name``'s TIFF files ``image_files`` (compared by file
    name), else None; nothing is compared where either is not known (no TIFF files; an image TrackMate
    had no file of: an empty ``ImageData folder``, where TrackMate writes the image window's short
    title, e.g. ``MAX_Pos0`` after Z Project or ``C2-Pos0`` after Split Channels, not a file name).
    A TrackMate file of another position, given this FOV by a wrong ``tiff.positions`` or
    ``tracks.path``, would otherwise be imported silently."""
    image = parsed.image or {}
    named = str(image.get("filename", "")).strip()
    if not image_files or not named or not str(image.get("folder", "")).strip():
        return None
    names = sorted({Path(file).name for file in image_files})
    if named in names:
        return None
    shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
    warning = (
        f"{path}: <ImageData filename> {named!r} (the image TrackMate tracked) is none of FOV {fov_name}'s "
        f"TIFF files ({shown}); read anyway: if it tracks another position, correct tiff.positions or "
        "tracks.path"
    )
    logger.warning(warning)
    return warning


def _check_frame_interval(
    path: Path,
    parsed: _Parsed,
    frame_interval_minutes: float | None,
    n_frames: int,
    unitless: Mapping[str, float],
    not_checked: list[str],
) -> str | None:
    """A WARNING (logged, and returned) where the file's frame interval (``ImageData timeinterval``, in
    ``timeunits``) differs from the plate's ``frame_interval_minutes`` beyond
    :data:`CALIBRATION_TOLERANCE` (relative), else None: ``FRAME`` indexes the plate's ``n_frames``
    frames whatever the file's interval (the frame counts agree); log and skip where either states
    none, the file counts time in frames, or the plate has one frame; skip at WARNING (added to
    ``not_checked``) where the plate's interval is read from a time axis without a unit
    (``unitless["time_interval_minutes"]``, seconds assumed: a guess; in the workflow the dry run
    refuses such a movie first, so only a library caller gets here). Refuses a malformed interval
    (unknown unit, not positive)."""
    if n_frames == 1:
        logger.info("%s: one frame: the file's frame interval is not checked against the plate's", path)
        return None
    image = parsed.image or {}
    units = (parsed.time_units or "").strip()
    if "timeinterval" not in image or not units:
        missing = "<ImageData timeinterval>" if "timeinterval" not in image else "<Model timeunits>"
        logger.info("%s: no %s: the file's frame interval is not checked against the plate's", path, missing)
        return None
    if unit_key(units) not in TIME_UNITS_S:
        raise ArtifactError(
            f"{path}: <Model timeunits>: expected one of {spellings(TIME_UNITS_S)}, found {units!r}"
        )
    interval = _number(path, "ImageData", image, "timeinterval")
    if interval <= 0:
        raise ArtifactError(
            f"{path}: <ImageData timeinterval>: expected a positive frame interval, found "
            f"{interval:g} {units}"
        )
    seconds_per_unit = TIME_UNITS_S[unit_key(units)]
    guess = unitless.get("time_interval_minutes")
    # A defensive check for library callers: the workflow's dry run refuses a movie whose interval is
    # such a guess (plate_checks._geometry_problems), so no workflow job reaches this branch.
    if seconds_per_unit is not None and frame_interval_minutes is None and guess is not None:
        _not_checked(
            not_checked,
            f"{path}: <ImageData timeinterval> {interval:g} {units} = "
            f"{interval * seconds_per_unit / 60.0:g} min "
            f"not checked against the plate's frame interval: the plate's {guess:g} min is read from a time "
            "axis without a unit (seconds assumed, a guess). Write the plate's time unit "
            "(multiscales[0].axes[].unit) or set the dataset's acquisition.time_interval_minutes to check it",
        )
        return None
    if seconds_per_unit is None or frame_interval_minutes is None:
        logger.info(
            "%s: %s: the file's frame interval is not checked against the plate's",
            path,
            "time in frames" if seconds_per_unit is None else "the plate states no time interval",
        )
        return None
    interval_minutes = interval * seconds_per_unit / 60.0
    if abs(interval_minutes - frame_interval_minutes) <= CALIBRATION_TOLERANCE * frame_interval_minutes:
        return None
    warning = (
        f"{path}: <ImageData timeinterval> {interval:g} {units} = {interval_minutes:g} min differs from the "
        f"plate's frame interval {frame_interval_minutes:g} min (beyond {CALIBRATION_TOLERANCE:g} relative); "
        "read anyway: FRAME indexes the plate's frames (their number agrees), the plate's interval is used. "
        "Without a frame interval in Fiji (Image > Properties) TrackMate saves 1 sec"
    )
    logger.warning(warning)
    return warning


def _oriented_edges(path: Path, parsed: _Parsed, kept: list[int]) -> list[tuple[int, int, int]]:
    """``(source, target, track)`` of the kept tracks' edges, the earlier spot first; fails on an unknown
    spot or a link within one frame."""
    edges = []
    for track_id in kept:
        for source, target in parsed.tracks[track_id]:
            edge = f"<Track TRACK_ID={track_id}> <Edge SPOT_SOURCE_ID={source} SPOT_TARGET_ID={target}>"
            unknown = [spot for spot in (source, target) if spot not in parsed.spots]
            if unknown:
                raise ArtifactError(
                    f"{path}: {edge}: expected spots of <AllSpots>, found no spot with ID {unknown}"
                )
            frame_source, frame_target = parsed.spots[source][0], parsed.spots[target][0]
            if frame_source == frame_target:
                raise ArtifactError(
                    f"{path}: {edge}: expected a link between frames, found both at FRAME {frame_source}"
                )
            edges.append(
                (source, target, track_id) if frame_source < frame_target else (target, source, track_id)
            )
    return edges


def _segments(path: Path, parsed: _Parsed, kept: list[int]) -> pd.DataFrame:
    """The kept tracks' spots as segments: ``track_id, parent_track_id, id, parent_id`` per spot."""
    successors: dict[int, list[int]] = {}
    predecessors: dict[int, list[int]] = {}
    for source, target in dict.fromkeys(
        (source, target) for source, target, _ in _oriented_edges(path, parsed, kept)
    ):
        successors.setdefault(source, []).append(target)
        predecessors.setdefault(target, []).append(source)
        successors.setdefault(target, [])
        predecessors.setdefault(source, [])
    merges = sorted((spot, sorted(before)) for spot, before in predecessors.items() if len(before) > 1)
    if merges:
        shown = "; ".join(f"spot {spot} from spots {before}" for spot, before in merges[:SHOWN_SPOTS])
        raise ArtifactError(
            f"{path}: expected each spot linked from at most one earlier spot (a cell has one mother), found "
            f"{len(merges)} merge(s): {shown}{' ...' if len(merges) > SHOWN_SPOTS else ''}; remove one edge "
            "of each merge in TrackMate (or track without 'allow track merging') and save again"
        )
    frame = {spot: parsed.spots[spot][0] for spot in successors}
    starts = sorted(
        (spot for spot, before in predecessors.items() if not before or len(successors[before[0]]) > 1),
        key=lambda spot: (frame[spot], spot),
    )
    segment_of: dict[int, int] = {}
    rows = []
    for number, start in enumerate(starts, start=1):
        spot = start
        while True:
            segment_of[spot] = number
            rows.append((number, spot))
            after = successors[spot]
            if len(after) != 1:
                break
            spot = after[0]
    table = pd.DataFrame(rows, columns=["track_id", "id"])
    before = table["id"].map(lambda spot: predecessors[spot][0] if predecessors[spot] else NO_PARENT)
    table["parent_id"] = before.astype("int64")
    first = table.drop_duplicates("track_id").set_index("track_id")["parent_id"]
    parent_segment = first.map(lambda spot: segment_of.get(spot, NO_PARENT)).astype("int64")
    table["parent_track_id"] = table["track_id"].map(parent_segment)
    return table


def read_trackmate_xml(
    path: str | Path,
    fov_name: str,
    *,
    shape_tzyx: tuple[int, ...],
    pixel_size_um: float | None,
    z_step_um: float | None,
    frame_interval_minutes: float | None = None,
    unitless: Mapping[str, float] | None = None,
    image_files: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, TrackMateCounts]:
    """One FOV's TrackMate XML as a raw tracks table (``fov_name, track_id, t, [z,] y, x, id, parent_id,
    parent_track_id``) and the spot counts (see module docstring).

    ``shape_tzyx`` is the plate's (T, Z, Y, X); ``pixel_size_um``, ``z_step_um`` and
    ``frame_interval_minutes`` the plate's stated values (None: the plate states none, the file's is
    then not checked); ``unitless`` the plate's values read from axes without a unit, by
    ``acquisition`` key (:meth:`~dynaclr.io.plate.PlateSampling.unitless_values`): not checked
    against, said at WARNING. ``image_files``: the FOV's TIFF files (a ``tiff:`` dataset's, else
    None): where the file names its image (``ImageData filename``) and it is none of them, a WARNING
    names both (:func:`_check_image_file`).
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(
            f"{path}: TrackMate XML file of FOV {fov_name} not found (datasets.<name>.tracks.path)"
        )
    parsed = _parse(path)
    guesses = dict(unitless or {})
    not_checked: list[str] = []
    sizes, is_3d = _pixel_sizes(
        path,
        parsed,
        shape_tzyx=shape_tzyx,
        pixel_size_um=pixel_size_um,
        z_step_um=z_step_um,
        unitless=guesses,
        not_checked=not_checked,
    )
    frame_interval_warning = _check_frame_interval(
        path, parsed, frame_interval_minutes, shape_tzyx[0], guesses, not_checked
    )
    image_file_warning = _check_image_file(path, fov_name, parsed, image_files)
    if parsed.filtered is None:
        raise ArtifactError(
            f"{path}: expected <FilteredTracks> (the tracks TrackMate keeps), found none; save the file "
            "from TrackMate (File > Save)"
        )
    kept = sorted(track for track in parsed.tracks if track in parsed.filtered)
    table = _segments(path, parsed, kept)
    spots = table["id"].map(parsed.spots)
    table.insert(1, "t", spots.map(lambda spot: spot[0]).astype("int64"))
    axes = {"x": 1, "y": 2, "z": 3}
    for axis in ("x", "y", "z") if is_3d else ("x", "y"):  # each inserted after t: z, y, x
        table.insert(2, axis, spots.map(lambda spot, i=axes[axis]: spot[i]).astype("float64") / sizes[axis])
    table.insert(0, "fov_name", fov_name)
    in_tracks = {spot for edges in parsed.tracks.values() for edge in edges for spot in edge} & set(
        parsed.spots
    )
    kept_spots = set(table["id"].tolist())
    counts = TrackMateCounts(
        spots=len(parsed.spots),
        kept_spots=len(kept_spots),
        kept_tracks=len(kept),
        spots_of_filtered_out_tracks=len(in_tracks - kept_spots),
        filtered_out_tracks=len(parsed.tracks) - len(kept),
        untracked_spots=len(set(parsed.spots) - in_tracks),
        frame_interval_warning=frame_interval_warning,
        calibration_not_checked=not_checked,
        image_file_warning=image_file_warning,
    )
    dropped = counts.spots_of_filtered_out_tracks + counts.untracked_spots
    # spots left out of the tracks are cells the chain will not see: said at WARNING (and in the record)
    logger.log(
        logging.WARNING if dropped else logging.INFO,
        "%s (FOV %s): %d of %d spots kept, in %d tracks (%d segments); dropped %d spots of %d tracks not in "
        "FilteredTracks and %d spots in no track",
        path,
        fov_name,
        counts.kept_spots,
        counts.spots,
        counts.kept_tracks,
        table["track_id"].nunique(),
        counts.spots_of_filtered_out_tracks,
        counts.filtered_out_tracks,
        counts.untracked_spots,
    )
    return table, counts
