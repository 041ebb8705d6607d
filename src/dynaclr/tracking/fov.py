"""Tracking stage: the label plate, one ultrack job per FOV, and the collected track table.

Rules: ``tracks_plate`` (:func:`create_tracks_plate`, once per dataset), ``track_fov``
(:func:`track_fov`, one job per FOV, writes only its own position, its CSV and its record),
``collect_tracks`` (:func:`collect_tracks`).

Outputs (``tracks_plate`` artifact, an HCS OME-Zarr plate with the input's positions):

* image ``0`` of each position: channel ``labels``, ``uint32``, ``(T, 1, Z, Y, X)`` with
  ``Z = 1`` when tracking in 2D (projection) and the input's Z when tracking in 3D; label =
  ``track_id``, 0 = background (the array every reader uses), with OMERO display windows;
* the same labels as the NGFF label image ``labels/tracks`` of each position, ``(T, Z, Y, X)``,
  which napari-ome-zarr shows as a labels layer;
* per FOV, a CSV the rule names (``results/{dataset}/tracks/{row}/{col}/{fov}/tracks_{row}_{col}_{fov}.csv``,
  the tree of per-position ``tracks*.csv`` that napari-iohub and VisCy's data loaders read, kept
  outside the zarr store): ultrack's tracks-layer table with columns
  ``track_id, t, [z,] y, x, id, parent_track_id, parent_id``: ``t`` in frames; centroids in
  pixels, the mean coordinates of the label's pixels (float, sub-pixel; ultrack's own are
  rounded to whole pixels; ``z`` in slices of the input, only when tracking in 3D); ``id``
  ultrack's node id; ``parent_id`` the node id of the previous detection of the track (for a
  daughter's first row, the mother's last); ``parent_track_id`` the mother's ``track_id``;
  both -1 for none (ultrack's ``NO_PARENT``, as napari and VisCy expect). A track has no row in
  the frames of a gap it was joined across (``tracking.gap_closing``, :mod:`dynaclr.tracking.gaps`;
  a blank or dropped frame, a nucleus missed): its rows skip those frames, as imported tracks
  with gaps do; the record's ``gaps_closed`` counts the joins. Frames without any foreground are not
  given to ultrack (:func:`segment_and_track`): it links across up to ``gap_closing.max_gap_frames``
  of them in a row, and the frames beside them keep their nuclei; the record lists them
  (``frames_without_foreground``, dropped, blank and dim frames alike; ``qc.csv`` shows it), and a
  FOV where any of them is neither dropped nor found without signal (nuclei too dim for the FOV's
  threshold?) is logged at WARNING.

The tracks plate records the channel it was made for (``tracking.input_channel``); the per-FOV
jobs read that channel, so the plate and its labels always come from one input.

Missing voxels of the nuclear channel (NaN, ±inf) follow :mod:`dynaclr.numerics.missing`: a frame
mostly missing is dropped (no detections at that frame, as an empty frame; a virtual stain's
dropped frames are all NaN); below that, missing pixels are background; a FOV mostly missing fails.
Each FOV's record lists them (``missing_voxels``, ``dropped_frames``); a FOV without any detection
is logged at WARNING.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr
from numpy.typing import NDArray
from tqdm import tqdm

from dynaclr.config.tracking import TrackingConfig
from dynaclr.io import (
    ArtifactError,
    Provenance,
    StageFiles,
    atomic_output,
    make_provenance,
    parse_csv,
    read_plate_provenance,
    read_zarr_provenance,
    write_table,
)
from dynaclr.io.chunks import read_block
from dynaclr.io.display import write_display_metadata
from dynaclr.io.plate import (
    SUPPLIED_KEY,
    check_plate_axes,
    create_empty_plate,
    list_plate_fovs,
    open_plate_position,
    read_fov_record,
    read_plate_sampling,
    write_fov_record,
)
from dynaclr.io.provenance import recorded_input
from dynaclr.io.zarr_store import read_plate_attribute
from dynaclr.numerics.missing import MissingTally
from dynaclr.numerics.repeats import RepeatedFrames
from dynaclr.tracking.divisions import without_fragment_divisions
from dynaclr.tracking.engine import (
    conform_tracks_table,
    empty_tracks_table,
    export_label_frames,
    in_movie_frames,
    links_across_gaps,
    run_ultrack,
    solve_frames,
    solve_node_ids,
    track_columns,
    unflagged_frames_without_foreground,
)
from dynaclr.tracking.gaps import close_gaps
from dynaclr.tracking.maps import TrackingMaps, reduce_z, tracking_maps, z_slices
from dynaclr.tracking.nucleus_size import nucleus_size_metrics

logger = logging.getLogger(__name__)

#: Channel name of the label images.
LABELS_CHANNEL = "labels"
LABELS_DTYPE = np.uint32
#: NGFF label image of each position (``labels/tracks``): the same labels, for viewers' labels layers.
LABEL_IMAGE = "tracks"
#: Subfolder of a FOV's scratch directory holding the ultrack database of one run of frames
#: (``frames_<first>-<last>``) where frames without foreground cut the movie (:func:`segment_and_track`).
RUN_DIR_PREFIX = "frames_"

#: Kinds of plates a nuclear channel may come from (plates without dynaclr provenance, e.g. a
#: user's own acquisition, are accepted and recorded by path only).
INPUT_PLATE_KINDS = ("raw_plate", "virtual_stain_plate")


def read_input_plate_provenance(plate_path: str | Path, fov_name: str | None = None) -> Provenance | None:
    """Provenance of the plate holding the nuclear channel (``None``: a plate of your own)."""
    return read_plate_provenance(plate_path, INPUT_PLATE_KINDS, "tracking input", fov_name)


class TracksPlateInputs(StageFiles):
    """Rule ``tracks_plate``: the plate holding the nuclear channel to track."""

    plate: Path


class TracksPlateOutputs(StageFiles):
    """Rule ``tracks_plate``: the empty label plate the per-FOV jobs fill."""

    tracks_plate: Path


class TrackFovInputs(StageFiles):
    """Rule ``track_fov``: the input plate, its per-FOV record when this workflow wrote it (the
    virtual staining of this FOV), and the label plate to fill."""

    plate: Path
    input_record: tuple[Path, ...] = ()
    tracks_plate: Path


class TrackFovOutputs(StageFiles):
    """Rule ``track_fov``: this FOV's tracks CSV and its completion record."""

    tracks_csv: Path
    record: Path


class CollectTracksInputs(StageFiles):
    """Rule ``collect_tracks``: the label plate, and every FOV's record and CSV (same order)."""

    tracks_plate: Path
    records: tuple[Path, ...]
    tracks_csvs: tuple[Path, ...]


class CollectTracksOutputs(StageFiles):
    """Rule ``collect_tracks``: all FOVs' tracks in one table."""

    tracks: Path


def _output_z(config: TrackingConfig, input_z: int) -> int:
    return input_z if config.maps.z_handling == "3d" else 1


def create_tracks_plate(
    config: TrackingConfig,
    inputs: TracksPlateInputs,
    outputs: TracksPlateOutputs,
    *,
    channel: str,
    supplied: Mapping[str, float] | None = None,
) -> list[str]:
    """Create the empty label plate (every position of the input, zeros) for the per-FOV jobs.

    Label images are ``uint32`` ``(T, 1, Z, Y, X)``, channel ``labels``, ``Z = 1`` for 2D
    tracking. Checks that every position has ``channel`` (fails early, naming the plate and the
    channels found) and records it in the plate's attributes for the per-FOV jobs.
    Returns the FOV names.
    """
    input_plate_path, output_plate_path = inputs.plate, outputs.tracks_plate
    check_plate_axes(input_plate_path)
    input_provenance = read_input_plate_provenance(input_plate_path)
    fov_names = list_plate_fovs(input_plate_path)
    shape: tuple[int, ...] | None = None
    with open_ome_zarr(input_plate_path, layout="hcs", mode="r") as plate:
        for fov_name in fov_names:
            position = plate[fov_name]
            fov_shape = tuple(position["0"].shape)
            if shape is None:
                shape = fov_shape
            elif fov_shape[:1] + fov_shape[2:] != shape[:1] + shape[2:]:
                raise ArtifactError(
                    f"{input_plate_path}: position {fov_name} has shape {fov_shape}, the first position "
                    f"{shape}; tracking needs one (T, Z, Y, X) for the whole plate"
                )
            if channel not in position.channel_names:
                raise ArtifactError(
                    f"{input_plate_path}: position {fov_name} has no channel {channel!r}; "
                    f"found {position.channel_names}"
                )
    if shape is None:
        raise ArtifactError(f"{input_plate_path}: plate has no positions")
    n_t, _, n_z, n_y, n_x = shape
    z_slices(config.maps, n_z, source=str(input_plate_path))  # fails early on a bad z_slice_range
    sampling = read_plate_sampling(input_plate_path, supplied)
    provenance = make_provenance(
        "tracks_plate", config.model_dump(mode="json"), inputs=[(input_plate_path, input_provenance)]
    )
    create_empty_plate(
        output_plate_path,
        fov_names,
        [LABELS_CHANNEL],
        (n_t, 1, _output_z(config, n_z), n_y, n_x),
        LABELS_DTYPE,
        sampling.geometry,
        provenance,
        attributes={
            "tracking": {"input_plate": str(input_plate_path), "input_channel": channel},
            **sampling.supplied_attributes(),
        },
        label_image=LABEL_IMAGE,
    )
    logger.info("tracks plate with %d FOVs created at %s", len(fov_names), output_plate_path)
    return fov_names


def read_reduced_nuclei(
    input_plate_path: str | Path, channel: str, fov_name: str, config: TrackingConfig
) -> tuple[NDArray[np.float32], MissingTally, RepeatedFrames]:
    """Read one FOV's nuclear channel frame by frame, Z-reduced: (T, Y, X) or (T, Z', Y, X) float32.

    Returns the stack, the tally of its missing voxels over the slices used: a dropped frame
    (mostly missing) is all NaN in the stack; a FOV mostly missing fails
    (:class:`~dynaclr.numerics.missing.MissingDataError`), and the frames whose slices used repeat
    the frame before voxel for voxel (:class:`~dynaclr.numerics.repeats.RepeatedFrames`: a frame
    written twice; a dropped or constant frame, without nuclei for its own reason, not listed).
    """
    with open_plate_position(input_plate_path, fov_name) as position:  # no other FOV's metadata
        if channel not in position.channel_names:
            raise ArtifactError(
                f"{input_plate_path}: position {fov_name} has no channel {channel!r}; "
                f"found {position.channel_names}"
            )
        c = position.get_channel_index(channel)
        image = position["0"]
        source = f"{input_plate_path}/{fov_name}"
        used = z_slices(config.maps, int(image.shape[2]), source)
        n_t, _, _, n_y, n_x = image.shape
        tally = MissingTally(
            f"{input_plate_path} FOV {fov_name} channel {channel!r}",
            expected_voxels=int(n_t * (used.stop - used.start) * n_y * n_x),
        )
        frames, repeats = [], RepeatedFrames()
        for t in tqdm(range(n_t), desc=f"read {fov_name}", mininterval=2, leave=False):
            volume = read_block(image, (t, c), store=input_plate_path, fov_name=fov_name)
            frame = reduce_z(volume, config.maps, source)
            used_volume = volume[used]
            dropped = tally.add(t, used_volume)
            repeats.add(t, used_volume, dropped=dropped)
            if dropped:
                frame = np.full_like(frame, np.nan)
            frames.append(frame)
    tally.check_fov()
    return np.stack(frames).astype(np.float32), tally, repeats


class LabelFrameWriter:
    """Writes ultrack's label frames into a position's (T, 1, Z, Y, X) image, one frame at a time,
    and measures each label's centroid (mean pixel coordinates, sub-pixel; ultrack rounds its
    own centroids to whole pixels), size (pixels, voxels in 3D: :attr:`sizes`) and area (pixels; in
    3D of its own projection along Z, the pixels it covers in any slice: :attr:`areas`).

    ``frame`` is (Y, X) or (Z', Y, X) for the ``n_z_used`` slices starting at ``z_offset``.
    ``label_image``, when given, is the position's NGFF label image ``(T, Z, Y, X)``
    (:data:`LABEL_IMAGE`): each frame is written there too.
    """

    def __init__(self, labels: Any, z_offset: int, n_z_used: int, label_image: Any = None) -> None:
        self.labels = labels
        self.label_image = label_image
        self.z_offset = z_offset
        self.n_z_used = n_z_used
        _, _, self.n_z, self.n_y, self.n_x = labels.shape
        self._centroids: list[pd.DataFrame] = []
        #: every label's size (px; voxels in 3D) in each frame written
        self.sizes: list[int] = []
        #: every label's area (px) in each frame written, in YX (its own projection along Z in 3D)
        self.areas: list[int] = []

    def __call__(self, t: int, frame: NDArray) -> None:
        full = np.zeros((self.n_z, self.n_y, self.n_x), dtype=LABELS_DTYPE)
        full[self.z_offset : self.z_offset + self.n_z_used] = frame.reshape(self.n_z_used, self.n_y, self.n_x)
        self.labels[t, 0] = full
        if self.label_image is not None:
            self.label_image[t] = full
        flat = full.ravel()
        where = np.flatnonzero(flat)
        if where.size:
            z, y, x = np.unravel_index(where, full.shape)
            pixels = pd.DataFrame({"track_id": flat[where].astype(np.int64), "z": z, "y": y, "x": x})
            by_label = pixels.groupby("track_id")
            means = by_label.mean().astype("float64").reset_index()
            means.insert(0, "t", int(t))
            self._centroids.append(means)
            self.sizes.extend(int(n) for n in by_label.size())
            if self.n_z_used == 1:
                self.areas.extend(self.sizes[-len(means) :])
            else:  # each label's own projection along Z: its distinct (y, x), whatever lies above it
                plane = self.n_y * self.n_x
                pixels_yx = np.unique(flat[where].astype(np.int64) * plane + where % plane)
                self.areas.extend(int(n) for n in np.unique(pixels_yx // plane, return_counts=True)[1])

    def write_empty_frames(self, frames: Iterable[int] | None = None) -> None:
        """All-zero labels in ``frames`` (None: every frame, a FOV without tracks); overwrites an
        earlier run."""
        for t in range(self.labels.shape[0]) if frames is None else frames:
            self(t, np.zeros((self.n_z_used, self.n_y, self.n_x), dtype=LABELS_DTYPE))

    def centroids(self) -> pd.DataFrame:
        """``t, track_id, z, y, x`` of every label written (pixels; z in slices of the plate)."""
        if not self._centroids:
            return pd.DataFrame({"t": [], "track_id": [], "z": [], "y": [], "x": []})
        return pd.concat(self._centroids, ignore_index=True)


def with_label_centroids(tracks: pd.DataFrame, centroids: pd.DataFrame, is_3d: bool) -> pd.DataFrame:
    """Replace the tracks' centroids by those measured on the label images (same rows, order)."""
    axes = ["z", "y", "x"] if is_3d else ["y", "x"]
    measured = tracks[["t", "track_id"]].merge(
        centroids.astype({"t": "int64", "track_id": "int64"}), on=["t", "track_id"], how="left"
    )
    missing = measured[axes[-1]].isna().to_numpy()
    if missing.any():
        logger.warning(
            "%d detections have no pixels in the label image; kept ultrack's centroids", missing.sum()
        )
    result = tracks.copy()
    for axis in axes:
        result[axis] = np.where(missing, tracks[axis].to_numpy(), measured[axis].to_numpy())
    return result


def _count_divisions(tracks: pd.DataFrame) -> int:
    parents = tracks.loc[tracks["parent_track_id"] >= 0].groupby("parent_track_id")["track_id"].nunique()
    return int((parents >= 2).sum())


def _check_tracks_plate(
    tracks_plate_path: Path, config: TrackingConfig, fov_name: str | None = None
) -> Provenance:
    """The label plate's record (position ``fov_name``'s copy where given: a per-FOV job reads no
    metadata of the plate's root), made with ``config``."""
    provenance = read_zarr_provenance(tracks_plate_path, "tracks_plate", fov_name)
    expected = make_provenance("tracks_plate", config.model_dump(mode="json")).config_hash
    if provenance.config_hash != expected:
        raise ArtifactError(
            f"{tracks_plate_path}: made with tracking config hash {provenance.config_hash}, this job's "
            f"config hashes to {expected}; the plate is out of date: rerun it with "
            "`snakemake --forcerun tracks_plate`"
        )
    return provenance


def _input_channel(tracks_plate: Path, fov_name: str | None = None) -> str:
    """The nuclear channel the label plate was made for (see :func:`create_tracks_plate`), read from
    position ``fov_name``'s copy of the plate's attributes where given and held."""
    attributes = read_plate_attribute(tracks_plate, "tracking", fov_name)
    channel = attributes.get("input_channel") if isinstance(attributes, dict) else None
    if not isinstance(channel, str):
        raise ArtifactError(
            f"{tracks_plate}: no 'tracking.input_channel' attribute; the plate was not made by rule "
            "tracks_plate of this version: rerun it with `snakemake --forcerun tracks_plate`"
        )
    return channel


def track_fov(
    config: TrackingConfig,
    inputs: TrackFovInputs,
    outputs: TrackFovOutputs,
    *,
    fov_name: str,
    scratch_dir: str | Path,
) -> pd.DataFrame:
    """Segment and track the nuclei of one FOV with ultrack; write its labels, CSV and record.

    Reads the nuclear channel the label plate was made for (position ``fov_name`` of
    ``inputs.plate``, (T, C, Z, Y, X)) one frame at a time, derives the maps
    (:mod:`dynaclr.tracking.maps`), runs ultrack with its SQLite database in ``scratch_dir`` (this
    FOV's own directory; the database is removed after success, kept after a failure for
    inspection), paints the selected segments with their ``track_id`` into this FOV's position of
    ``inputs.tracks_plate``, and writes ``outputs.tracks_csv`` and the completion record (kind
    ``tracks_fov``, metrics: counts and seconds per step, missing voxels and dropped frames, frames
    repeating the frame before: ``repeated_frames``, frames without any foreground, left out of
    ultrack's solves: ``frames_without_foreground``) at ``outputs.record``. A frame without
    foreground that is neither dropped nor found without signal by the maps (``empty_frames``,
    ``frames_without_signal``: nuclei too dim for the FOV's threshold?) is named at WARNING.
    ``inputs.input_record``, when given, is the per-FOV virtual-staining record (kind
    ``virtual_stain_fov``) of the job that wrote this FOV of the input; it is checked and recorded.

    Returns the tracks table (columns :func:`dynaclr.tracking.engine.track_columns`); a FOV
    without nuclei gives an empty table and all-zero labels.
    """
    started = time.perf_counter()
    tracks_plate_path, scratch_dir = inputs.tracks_plate, Path(scratch_dir)
    channel, recorded = _track_fov_inputs(config, inputs, fov_name)
    is_3d = config.maps.z_handling == "3d"
    timings = {"start": started}
    reduced, missing, repeats = read_reduced_nuclei(inputs.plate, channel, fov_name, config)
    repeats.report(
        f"{inputs.plate} FOV {fov_name} channel {channel!r}", "each is tracked as a new time point"
    )
    timings["read"] = time.perf_counter()
    maps = tracking_maps(
        reduced,
        config.maps,
        where=f"{inputs.plate} FOV {fov_name} channel {channel!r}",
        min_area_px=config.segmentation.min_area_px,
    )
    timings["maps"] = time.perf_counter()
    z_offset = config.maps.z_slice_range[0] if is_3d and config.maps.z_slice_range else 0
    with open_plate_position(tracks_plate_path, fov_name, mode="r+") as position:
        labels = position["0"]
        n_z_used = reduced.shape[1] if is_3d else 1
        _check_label_image(
            labels.shape, reduced.shape, z_offset, n_z_used, is_3d, f"{tracks_plate_path}/{fov_name}"
        )
        writer = LabelFrameWriter(labels, z_offset, n_z_used, _ngff_label_image(position, labels.shape))
        table, gaps_closed = segment_and_track(maps, config, writer, scratch_dir, fov_name)
        write_display_metadata(position)
        timings["tracked"] = time.perf_counter()
    table = with_label_centroids(table, writer.centroids(), is_3d)
    timings["exported"] = time.perf_counter()
    with atomic_output(outputs.tracks_csv) as tmp:
        table.to_csv(tmp, index=False)
    metrics = {
        **_track_metrics(table, int(reduced.shape[0]), maps, timings),
        "gaps_closed": gaps_closed,
        "frames_without_foreground": maps.frames_without_foreground,
        **missing.metrics(),
        "repeated_frames": list(repeats.frames),
        **nucleus_size_metrics(
            writer.areas,
            *_stated_pixel_size(inputs, fov_name),
            where=f"{inputs.plate} FOV {fov_name}",
            area_bounds_px=(config.segmentation.min_area_px, config.segmentation.max_area_px),
            sizes_px=writer.sizes if is_3d else None,
        ),
        "fov_name": fov_name,
        "tracks_csv": str(outputs.tracks_csv),
    }
    write_fov_record(
        outputs.record,
        make_provenance("tracks_fov", config.model_dump(mode="json"), inputs=recorded),
        metrics,
    )
    _warn_unflagged_frames_without_foreground(metrics, f"{inputs.plate} FOV {fov_name}")
    remove_ultrack_databases(scratch_dir)
    logger.info(
        "%s: %d tracks, %d detections, %d divisions in %.1f s",
        fov_name,
        metrics["n_tracks"],
        metrics["n_detections"],
        metrics["n_divisions"],
        metrics["seconds_total"],
    )
    return table


def _warn_unflagged_frames_without_foreground(metrics: Mapping[str, Any], where: str) -> None:
    """WARNING naming the frames without foreground of a FOV where QC flags not every one of them
    otherwise (:func:`~dynaclr.tracking.engine.unflagged_frames_without_foreground`): no detection
    there, left out of ultrack's solves."""
    unflagged = unflagged_frames_without_foreground(metrics)
    if not unflagged:
        return
    logger.warning(
        "%s: frames %s have no foreground (no nucleus segmented) though they were neither dropped "
        "nor found without signal: nuclei dimmer than the FOV's foreground threshold (%.3g, "
        "normalised)? No detection there; ultrack's solves leave out frames %s "
        "(frames_without_foreground in the FOV's record and qc.csv)",
        where,
        unflagged,
        float(metrics["foreground_threshold"]),
        list(metrics["frames_without_foreground"]),
    )


def _stated_pixel_size(inputs: TrackFovInputs, fov_name: str) -> tuple[float | None, str]:
    """The pixel size (µm) the nuclear channel's plate states, read from the label plate made with
    its sampling (position ``fov_name``: no other position's metadata), and where it was stated: the
    dataset's ``acquisition.pixel_size_um`` (the label plate records it as supplied) or the input
    plate's scale; None where nothing states it (iohub's default scale of ones)."""
    sampling = read_plate_sampling(inputs.tracks_plate, fov_name=fov_name)
    supplied = read_plate_attribute(inputs.tracks_plate, SUPPLIED_KEY, fov_name) or {}
    if "pixel_size_um" in supplied:
        return float(supplied["pixel_size_um"]), "the dataset's acquisition.pixel_size_um"
    if not sampling.pixel_size_stated:
        return None, f"stated by nothing ({sampling.no_scale_text()} of {inputs.plate})"
    if sampling.stated_values()["pixel_size_um"] is None:
        return None, f"stated by nothing (the scale of {inputs.plate}'s axes y and x has no unit)"
    return sampling.geometry.pixel_size_um, f"the scale of {inputs.plate} position {fov_name}"


def _ngff_label_image(position: Any, shape_tczyx: tuple[int, ...]) -> Any:
    """The position's label image :data:`LABEL_IMAGE` ``(T, Z, Y, X)`` as a zarr array.

    Raises:
        ArtifactError: it is missing or its shape does not match image ``0`` (a plate made by an
            earlier version of rule ``tracks_plate``).
    """
    n_t, _, n_z, n_y, n_x = shape_tczyx
    try:
        array = position.zgroup["labels"][LABEL_IMAGE]["0"]
    except KeyError:
        array = None
    if array is None or tuple(array.shape) != (n_t, n_z, n_y, n_x):
        raise ArtifactError(
            f"{position.zgroup.store_path}: no label image labels/{LABEL_IMAGE}/0 of shape "
            f"{(n_t, n_z, n_y, n_x)}; the plate was made by an earlier version of rule tracks_plate: "
            "rerun it with `snakemake --forcerun tracks_plate`"
        )
    return array


def _track_fov_inputs(config: TrackingConfig, inputs: TrackFovInputs, fov_name: str) -> tuple[str, list[Any]]:
    """The channel to track (the label plate's) and the inputs' provenance, all checked; read in
    position ``fov_name`` of the label plate (its copy of the plate's record and attributes), the input
    plate as that record states it (rule tracks_plate checked it): no plate's root metadata."""
    plate_provenance = _check_tracks_plate(inputs.tracks_plate, config, fov_name)
    channel = _input_channel(inputs.tracks_plate, fov_name)
    input_provenance = recorded_input(
        inputs.plate, plate_provenance, lambda: read_input_plate_provenance(inputs.plate, fov_name)
    )
    recorded: list[Any] = [(inputs.plate, input_provenance), (inputs.tracks_plate, plate_provenance)]
    for input_record in inputs.input_record:
        record_provenance, _ = read_fov_record(input_record, "virtual_stain_fov")
        recorded.append((input_record, record_provenance))
    return channel, recorded


def _check_label_image(
    labels_shape: tuple[int, ...],
    reduced_shape: tuple[int, ...],
    z_offset: int,
    n_z_used: int,
    is_3d: bool,
    where: str,
) -> None:
    """The label image ``(T, 1, Z, Y, X)`` must fit the Z-reduced input ``(T, [Z',] Y, X)``."""
    n_t, _, n_z, n_y, n_x = labels_shape
    expected = (reduced_shape[0], reduced_shape[-2], reduced_shape[-1])
    if (n_t, n_y, n_x) != expected or n_z < z_offset + n_z_used or (n_z != 1 and not is_3d):
        raise ArtifactError(
            f"{where}: label image (T, 1, Z, Y, X) {tuple(labels_shape)} does not fit the input's (T, Y, X) "
            f"{expected} with {n_z_used} slice(s) from {z_offset}; rerun `snakemake --forcerun tracks_plate`"
        )


def segment_and_track(
    maps: TrackingMaps, config: TrackingConfig, writer: LabelFrameWriter, scratch_dir: Path, fov_name: str
) -> tuple[pd.DataFrame, int]:
    """ultrack on the maps of one FOV; every frame's labels go to ``writer``.

    Frames without foreground (dropped, blank, without signal) are not given to ultrack
    (:func:`~dynaclr.tracking.engine.solve_frames`): up to ``config.gap_closing.max_gap_frames`` of
    them in a row, it links across them (the track keeps its gap: no row there); a longer run of them
    separates solves, each with its database in a subfolder ``frames_<first>-<last>`` of
    ``scratch_dir`` (in ``scratch_dir`` itself when one solve holds every frame). Divisions into
    touching daughters are undone (:mod:`dynaclr.tracking.divisions`, ``config.divisions``), then
    tracks are joined across gaps (:mod:`dynaclr.tracking.gaps`, ``config.gap_closing``: a nucleus
    missed in some frames), before the labels are painted. Returns the conformed tracks table
    (:func:`dynaclr.tracking.engine.track_columns`, ultrack's centroids) and the number of gaps
    closed (links across frames without foreground and joins); a FOV without foreground, or without
    tracks, gets all-zero labels and an empty table.
    """
    is_3d = config.maps.z_handling == "3d"
    n_t = maps.foreground.shape[0]
    solves = solve_frames(n_t, maps.frames_without_foreground, config.gap_closing.max_gap_frames)
    if not solves:
        logger.warning("%s: no foreground in any frame: 0 tracks (a FOV without nuclei?)", fov_name)
        writer.write_empty_frames()
        return empty_tracks_table(is_3d), 0
    scratch_dir.mkdir(parents=True, exist_ok=True)
    whole = solves == [list(range(n_t))]
    if not whole:
        logger.info(
            "%s: frames without foreground left out of ultrack's solves of frames %s",
            fov_name,
            [f"{frames[0]}-{frames[-1]}" for frames in solves],
        )
    solved: list[tuple[list[int], Any]] = []  # each solve's frames and ultrack MainConfig
    tables: list[pd.DataFrame] = []
    track_offset = 0
    for frames in solves:
        directory = scratch_dir if whole else scratch_dir / f"{RUN_DIR_PREFIX}{frames[0]}-{frames[-1]}"
        foreground, contours = (
            (maps.foreground, maps.contours) if whole else (maps.foreground[frames], maps.contours[frames])
        )
        solve_tracks, ultrack_config = run_ultrack(foreground, contours, config, directory)
        solved.append((frames, ultrack_config))
        if not len(solve_tracks):
            continue
        if config.divisions.max_fragment_gap_px > 0:
            solve_tracks = without_fragment_divisions(
                solve_tracks, ultrack_config, config.divisions.max_fragment_gap_px
            )
        tables.append(in_movie_frames(solve_tracks, frames, track_offset))
        track_offset = int(tables[-1]["track_id"].max())
    raw_tracks = pd.concat(tables) if tables else empty_tracks_table(is_3d)
    if not raw_tracks.index.is_unique:  # ultrack numbering its nodes otherwise than MAX_SEGMENTS_PER_TIME
        raise RuntimeError(f"{fov_name}: ultrack node ids of the solves of frames {solves} collide")
    gaps_closed = links_across_gaps(raw_tracks)
    if len(raw_tracks) and config.gap_closing.max_gap_frames > 0:
        raw_tracks, joined = close_gaps(
            raw_tracks, config.gap_closing.max_gap_frames, config.gap_closing.max_distance_px
        )
        gaps_closed += joined
    if not len(raw_tracks):
        logger.warning("%s: ultrack selected no segment: 0 tracks", fov_name)
        writer.write_empty_frames()
        return conform_tracks_table(raw_tracks, is_3d), gaps_closed
    painted: set[int] = set()
    for frames, ultrack_config in solved:
        rows = raw_tracks[raw_tracks["t"].isin(frames)].copy()
        if not len(rows):
            continue
        rows.index = pd.Index(solve_node_ids(rows.index, frames))  # as the solve's database holds them
        rows["t"] = rows["t"].map({t: k for k, t in enumerate(frames)})

        def write_movie_frame(k: int, labels: NDArray, frames: list[int] = frames) -> None:
            writer(frames[k], labels)

        export_label_frames(ultrack_config, rows, write_movie_frame, n_frames=len(frames))
        painted.update(frames)
    writer.write_empty_frames([t for t in range(n_t) if t not in painted])
    return conform_tracks_table(raw_tracks, is_3d), gaps_closed


def remove_ultrack_databases(scratch_dir: Path) -> None:
    """Remove ultrack's databases of a FOV tracked with success (:func:`segment_and_track`): those in
    ``scratch_dir`` and in its runs' subfolders."""
    if not scratch_dir.exists():
        return
    for directory in [scratch_dir, *sorted(scratch_dir.glob(f"{RUN_DIR_PREFIX}*"))]:
        for name in ("data.db", "metadata.toml"):
            (directory / name).unlink(missing_ok=True)
        if directory != scratch_dir and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def _track_metrics(
    table: pd.DataFrame, n_t: int, maps: TrackingMaps, timings: dict[str, float]
) -> dict[str, Any]:
    """Counts and seconds per step of one FOV's tracking (its record's metrics)."""
    total = timings["exported"] - timings["start"]
    return {
        "n_frames": n_t,
        "n_tracks": int(table["track_id"].nunique()),
        "n_detections": len(table),
        "n_divisions": _count_divisions(table),
        "mean_track_length_frames": float(table.groupby("track_id").size().mean()) if len(table) else 0.0,
        "foreground_threshold": maps.threshold,
        "normalization_range": list(maps.normalization_range),
        "empty_frames": list(maps.empty_frames),
        "saturated_voxels": maps.saturated_voxels,
        "frames_without_signal": list(maps.frames_without_signal),
        "noise_only": maps.noise_only,
        "seconds_read": timings["read"] - timings["start"],
        "seconds_maps": timings["maps"] - timings["read"],
        "seconds_ultrack": timings["tracked"] - timings["maps"],
        "seconds_export": timings["exported"] - timings["tracked"],
        "seconds_total": total,
        "frames_per_second": n_t / total if total > 0 else 0.0,
    }


def read_tracks_csv(path: str | Path, is_3d: bool | None = None) -> pd.DataFrame:
    """Read a per-FOV tracks CSV, check its columns and type them (see :func:`track_columns`)."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: tracks CSV not found: the FOV was not tracked (rerun rule track_fov)")
    table = parse_csv(path)
    if is_3d is None:
        is_3d = "z" in table.columns
    expected = list(track_columns(is_3d))
    if list(table.columns) != expected:
        raise ArtifactError(f"{path}: expected columns {expected}, found {list(table.columns)}")
    return conform_tracks_table(table, is_3d)


def collect_tracks(inputs: CollectTracksInputs, outputs: CollectTracksOutputs) -> pd.DataFrame:
    """All FOVs' tracks in one Parquet table (kind ``tracks``), ``fov_name`` first.

    Checks each FOV's record (kind ``tracks_fov``, made with the plate's config) and reads the CSV
    beside it in ``inputs.tracks_csvs``; centroids stay float (pixels). Columns: ``fov_name,
    track_id, t, [z,] y, x, id, parent_track_id, parent_id``; ``track_id`` is unique within a FOV
    only.
    """
    if len(inputs.records) != len(inputs.tracks_csvs):
        raise ValueError(
            f"collect_tracks needs one tracks CSV per record; got {len(inputs.records)} records and "
            f"{len(inputs.tracks_csvs)} CSVs"
        )
    tracks_plate_path = inputs.tracks_plate
    plate_provenance = read_zarr_provenance(tracks_plate_path, "tracks_plate")
    is_3d = plate_provenance.config.get("maps", {}).get("z_handling") == "3d"
    recorded: list[Any] = [(tracks_plate_path, plate_provenance)]
    tables = []
    for record, csv_path in tqdm(
        list(zip(inputs.records, inputs.tracks_csvs, strict=True)), desc="collect tracks", mininterval=2
    ):
        provenance, metrics = read_fov_record(record, "tracks_fov")
        if provenance.config_hash != plate_provenance.config_hash:
            raise ArtifactError(
                f"{record}: tracked with config hash {provenance.config_hash}, the plate has "
                f"{plate_provenance.config_hash}; rerun `snakemake --forcerun track_fov`"
            )
        if Path(metrics.get("tracks_csv", "")) != csv_path:
            raise ArtifactError(
                f"{record}: records the tracks CSV {metrics.get('tracks_csv')!r}, the rule gives {csv_path}; "
                "rerun `snakemake --forcerun track_fov`"
            )
        recorded.append((record, provenance))
        table = read_tracks_csv(csv_path, is_3d)
        table.insert(0, "fov_name", str(metrics["fov_name"]))
        tables.append(table)
    columns = ["fov_name", *track_columns(is_3d)]
    if tables:
        combined = pd.concat(tables, ignore_index=True)
    else:
        combined = empty_tracks_table(is_3d)
        combined.insert(0, "fov_name", pd.Series([], dtype="str"))
    combined = combined.loc[:, columns]
    write_table(
        combined,
        outputs.tracks,
        make_provenance("tracks", plate_provenance.config, inputs=recorded),
    )
    logger.info("%d detections of %d FOVs collected into %s", len(combined), len(tables), outputs.tracks)
    return combined
