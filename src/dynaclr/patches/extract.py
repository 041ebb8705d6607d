"""Cut single-cell patches ``(C, Z, Y, X)`` around every tracked cell of one FOV (rule ``extract_patches``).

Two streaming passes over the FOV's time points: the first computes the normalisation statistics
(:mod:`dynaclr.numerics.normalization`), the second normalises each frame, cuts a patch of
``initial_size x initial_size`` pixels around every cell's centroid (rounded half up to a pixel,
:mod:`dynaclr.numerics.crop`) and appends it to the store; whole shards are written as they fill,
so memory holds one frame plus one shard whatever the number of cells.

Cells near the image border are kept: the part of the crop outside the image is padded with 0
(in normalised units, i.e. the FOV's centre intensity) and the index records ``padded_fraction``,
the share of the crop's area outside the image (0 for interior cells, 0.75 for a cell on an
image corner with an even patch size).

A patch spec with ``pixel_size_um`` resamples: the window is ``round(S x pixel_size_um / p)`` plate
pixels (``p`` the plate's pixel size, from its scale metadata or the dataset's
``acquisition.pixel_size_um``; a plate stating none is refused, as are source plates of other
pixel sizes), cut as above and resampled to ``S x S`` per channel and Z slice (Z is not
resampled; :func:`~dynaclr.numerics.crop.resample_yx`: bilinear, anti-aliased where it shrinks).
The store's attribute ``resampling`` (and the record's provenance) gives the plate's pixel size,
the window, the zoom ``S / window`` and the patches' pixel size ``window x p / S`` (the target
within the rounding of the window); it is ``null`` for a spec that does not resample. Centres and
``padded_fraction`` stay in plate pixels (of the window).

A patch window larger than the image (``initial_patch_size_yx_px``, or the size derived from
``patch_size_yx_px``, above the image's Y or X) is refused: such patches would be mostly padding.
The record counts the patches more than :data:`MOSTLY_PADDED_FRACTION` padded and a WARNING is
logged when they exceed :data:`MOSTLY_PADDED_WARNING_SHARE` of the FOV's patches.

Missing voxels (NaN, ±inf) follow :mod:`dynaclr.numerics.missing`: the statistics ignore them, a
frame mostly missing in any channel is dropped (no patches at that frame, logged at WARNING and
listed in the record's ``dropped_frames``), missing voxels of the other frames are 0 after
normalisation (the FOV's centre), and a FOV mostly missing fails.

A channel constant at a frame at a level off the FOV's background (an empty or missing acquisition,
e.g. an all-0 frame of a sensor at 500 counts: ``off_background_frames`` of
:class:`~dynaclr.numerics.normalization.ChannelStatistics`) is 0 there, like a missing voxel, rather
than the FOV's (or the frame's fallback) normalisation of that level, a uniform offset no cell has;
the cell observations there are counted per channel in the record (``n_cells_at_constant_frames``)
and logged at WARNING. A constant frame at the background's level (background-subtracted data
clipped at 0 before a cell lights up, a mask frame with no object) is data: normalised as usual,
neither counted nor warned about. Voxels at a camera's full scale (saturated,
:mod:`dynaclr.numerics.saturation`; a frame whose finite values are only its minimum and the full
scale, a 0/255 mask, has no unsaturated spread and is not counted) are counted per channel
(``saturated_voxels_per_channel``, ``saturated_share_per_channel``) and logged at WARNING above
:data:`SATURATED_WARNING_SHARE`, over the frames that reach the patches: a dropped frame, or one
where the channel is constant off its background (0 in the patches), carries that reason only and
is in neither the count nor the share's denominator.

Normalised values beyond the finite range of ``storage_dtype`` (float16: ±65504; e.g. a hot pixel
over a nearly flat background, whose scale is tiny) would be stored as ±inf: they are clipped to
that range, counted per channel in the record (``clipped_voxels_per_channel``) and logged at
WARNING naming the plate, FOV, channel and frames (``storage_dtype: float32`` keeps them).

Bad input fails naming the file: a channel missing from the plate, a Z range outside the stack,
tracks outside the plate's frames, a FOV absent from a non-empty tracks table. An *empty* tracks
table (no cell tracked anywhere) is a documented skip: a warning is logged and the FOV's store and
index are written with 0 patches (schema-valid, so ``collect_patches`` and ``open_patch_store``
accept them); a FOV without patches leaves the others' patches in the dataset's store, but training
and embedding refuse a store without any patch (no cell tracked in any FOV of the dataset).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import zarr
from tqdm.auto import tqdm

from dynaclr.config.patches import PatchChannel, PatchSpec
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    StageFiles,
    atomic_output,
    make_provenance,
    write_table,
    write_zarr_provenance,
)
from dynaclr.io.chunks import read_block
from dynaclr.io.plate import (
    SUPPLIED_KEY,
    SuppliedValues,
    check_plate_axes,
    open_plate_position,
    planned_root_of,
    position_geometry,
    read_plate_sampling,
    write_fov_record,
)
from dynaclr.io.sampling import sampling_differs
from dynaclr.io.zarr_store import read_plate_attribute
from dynaclr.numerics.crop import crop_with_padding, resample_yx
from dynaclr.numerics.missing import fill_missing
from dynaclr.numerics.normalization import ChannelStatistics, channel_statistics
from dynaclr.numerics.saturation import full_scale_plateau, two_valued
from dynaclr.patches.inputs import fov_tracks, read_fov_tracks, read_source_provenance, read_tracks
from dynaclr.patches.store import INDEX_COLUMNS, ShardedRowWriter, create_patch_array

logger = logging.getLogger(__name__)

#: A patch more than this share outside the image is *mostly padded* (counted in the record).
MOSTLY_PADDED_FRACTION = 0.5

#: A FOV with more than this share of mostly padded patches is logged at WARNING: the patch window
#: is large for the image, and many of its patches show little of a cell's surroundings.
MOSTLY_PADDED_WARNING_SHARE = 0.25

#: A channel with more than this share of its voxels at a camera's full scale (saturated,
#: :mod:`dynaclr.numerics.saturation`) is logged at WARNING and marked in the QC table: beyond 1 %
#: the 99th percentile, ``median_p99``'s scale, is the saturation level, which squeezes the
#: unsaturated signal towards 0 (5 % saturated: a cell 2000 counts over the background at 0.03).
SATURATED_WARNING_SHARE = 0.01


class ExtractPatchesInputs(StageFiles):
    """Rule ``extract_patches``: the plate of each patch source the spec reads, and the tracks.

    ``plate_raw``, ``plate_phase``, ``plate_virtual_stain``: the plate of that source (given only
    when a channel of the spec reads it). ``records``: this FOV's phase / virtual-staining records,
    which order the job after the jobs writing the FOV into those plates (the plates' own
    provenance is what is checked). ``tracks``: the tracks table (any FOVs; this FOV's rows used),
    or with ``tracks_record`` this FOV's tracks CSV from rule ``track_fov`` and its record.
    """

    plate_raw: Path | None = None
    plate_phase: Path | None = None
    plate_virtual_stain: Path | None = None
    records: tuple[Path, ...] = ()
    tracks: Path
    tracks_record: Path | None = None

    def source_plates(self) -> dict[str, Path]:
        """Plate path per patch source given (``"raw"``, ``"phase"``, ``"virtual_stain"``)."""
        plates = {"raw": self.plate_raw, "phase": self.plate_phase, "virtual_stain": self.plate_virtual_stain}
        return {source: path for source, path in plates.items() if path is not None}


class ExtractPatchesOutputs(StageFiles):
    """Rule ``extract_patches``: the FOV's patch store, its index and its completion record.

    ``zarr``: array ``patches`` ``(N, C, Z, S, S)`` (``S`` the initial patch size), rows ordered by
    ``(t, track_id)``, normalisation statistics in its attributes; ``parquet``: the index
    (:data:`~dynaclr.patches.store.INDEX_COLUMNS`); ``record``: kind ``patch_fov``, with the metrics.
    """

    zarr: Path
    parquet: Path
    record: Path


@dataclass
class _ChannelReader:
    """One patch channel's image array ``(T, C, Z, Y, X)`` in its source plate: ``name`` is the patch
    channel's (``source:name``), ``plate_channel`` the channel it reads in the plate."""

    name: str
    plate_path: Path
    image: Any  # iohub ImageArray (a zarr array)
    channel_index: int
    fov_name: str
    plate_channel: str

    def read(self, t: int, z: slice) -> np.ndarray:
        """``(Z, Y, X)`` float32 volume of the kept slices at frame ``t`` (missing voxels kept as read)."""
        key = (t, self.channel_index, z)
        block = read_block(self.image, key, store=self.plate_path, fov_name=self.fov_name)
        return block.astype(np.float32, copy=False)

    def where(self) -> str:
        """The plate, FOV and channel, for messages."""
        named = self.name.split(":", 1)[1] != self.plate_channel
        read = f" (the plate's channel {self.plate_channel!r})" if named else ""
        return f"{self.plate_path} FOV {self.fov_name} channel {self.name!r}{read}"


@dataclass(frozen=True)
class FovChannels:
    """The patch channels of one FOV, opened in their source plates (in the spec's order).

    ``plates`` lists each source plate once with its provenance (``None``: a plate of your own);
    ``shape_tzyx`` is the image shape every source shares; ``resampling``: how a spec with
    ``pixel_size_um`` resamples the patches (:func:`patch_resampling`), ``None`` for one that does not.
    """

    fov_name: str
    readers: list[_ChannelReader]
    plates: list[tuple[Path, Provenance | None]]
    time_interval_minutes: float | None
    shape_tzyx: tuple[int, int, int, int]
    resampling: dict[str, float] | None = None

    @property
    def window_px(self) -> int | None:
        """Plate pixels a resampled patch covers (``None``: not resampled)."""
        return None if self.resampling is None else int(self.resampling["window_px"])

    def normalised_frame(self, statistics: list[ChannelStatistics], z: slice, t: int) -> np.ndarray:
        """``(C, Z, Y, X)`` float32 frame ``t``, every channel ``(x - center) / scale``, missing voxels 0;
        a channel constant at ``t`` off its background (in its ``off_background_frames``) is 0 there."""
        return np.stack(
            [
                _without_constant(fill_missing(stats.apply(reader.read(t, z), t), 0.0), stats, t)
                for reader, stats in zip(self.readers, statistics, strict=True)
            ]
        )


def _without_constant(normalised: np.ndarray, stats: ChannelStatistics, t: int) -> np.ndarray:
    """``normalised`` set to 0 (the FOV's centre, a missing voxel's value) where frame ``t`` of the
    channel is constant at a level off its background (an empty or missing acquisition): the FOV's
    centre and scale would turn its level into a uniform offset no cell has (an all-0 frame of a
    sensor at 500 counts: -0.25). A constant frame at the background's level is kept."""
    if t in stats.off_background_frames:
        normalised[...] = 0.0
    return normalised


@dataclass
class _OpenedSource:
    path: Path
    position: Any  # iohub Position of the FOV
    provenance: Provenance | None
    time_interval_minutes: float


def _open_source(
    path: Path, source: str, fov_name: str, stack: ExitStack, planned_root: Mapping[str, Any] | None = None
) -> _OpenedSource:
    """The FOV's position in a source plate (open until ``stack`` closes), its provenance and frame
    interval (minutes: the plate's ``time_interval_minutes``, else the position's T scale in its unit).
    The FOV's position is checked first (:func:`check_plate_axes`); no other position's metadata is
    read, nor the plate's root where the position holds a copy of its record and attributes (a plate
    dynaclr made: :func:`~dynaclr.io.zarr_store.position_plate_attributes`), nor where
    ``planned_root`` gives the root attributes of a plate of your own as the dry run read them."""
    check_plate_axes(path, fov_name)
    provenance = read_source_provenance(path, source, fov_name, planned_root)
    position = stack.enter_context(open_plate_position(path, fov_name))  # no other FOV's metadata
    interval: Any = read_plate_attribute(path, "time_interval_minutes", fov_name, planned_root)
    if interval is None:  # the T scale, in the unit its axis names
        interval = position_geometry(position).time_interval_s / 60.0
    return _OpenedSource(path, position, provenance, float(interval))


def _channel_reader(
    source: _OpenedSource, channel: PatchChannel, spec: PatchSpec, fov_name: str
) -> _ChannelReader:
    position = source.position
    if channel.channel not in position.channel_names:
        raise ArtifactError(
            f"{source.path}: position {fov_name} has no channel {channel.channel!r} "
            f"(patch spec {spec.name!r}); channels are {list(position.channel_names)}"
        )
    return _ChannelReader(
        name=f"{channel.source}:{channel.patch_name}",  # the plate's channel under its patch name
        plate_path=source.path,
        image=position["0"],
        channel_index=position.get_channel_index(channel.channel),
        fov_name=fov_name,
        plate_channel=channel.channel,
    )


def open_fov_channels(
    plates: Mapping[str, Path],
    spec: PatchSpec,
    fov_name: str,
    stack: ExitStack,
    supplied: Mapping[str, float] | None = None,
) -> FovChannels:
    """Open every channel of ``spec`` in its source plate's position ``fov_name``; ``supplied``
    (:func:`~dynaclr.io.plate.split_supplied`'s) may carry the root attributes of plates of your own
    as the dry run read them (their roots are not read: :func:`~dynaclr.io.plate.planned_root_of`).

    Raises:
        ValueError: a channel reads a source without a plate in ``plates``.
        ArtifactError: a plate lacks the position or the channel, or the sources' (T, Z, Y, X) differ.
    """
    opened: dict[str, _OpenedSource] = {}
    readers: list[_ChannelReader] = []
    for channel in spec.channels:
        if channel.source not in plates:
            raise ValueError(
                f"patch spec {spec.name!r}: channel {channel.channel!r} reads source {channel.source!r}, but "
                f"only sources {sorted(plates)} were given; give the rule's input plate_{channel.source}"
            )
        if channel.source not in opened:
            path = Path(plates[channel.source])
            opened[channel.source] = _open_source(
                path, channel.source, fov_name, stack, planned_root_of(supplied, path)
            )
        readers.append(_channel_reader(opened[channel.source], channel, spec, fov_name))
    shapes = {(r.plate_path, tuple(r.image.shape[i] for i in (0, 2, 3, 4))) for r in readers}
    if len({shape for _, shape in shapes}) > 1:
        found = ", ".join(f"{path}: (T, Z, Y, X)={shape}" for path, shape in sorted(shapes, key=str))
        raise ArtifactError(
            f"FOV {fov_name}: source plates differ in shape, expected equal shapes; found {found}"
        )
    n_frames, _, n_slices, height, width = readers[0].image.shape
    return FovChannels(
        fov_name=fov_name,
        readers=readers,
        plates=[(source.path, source.provenance) for source in opened.values()],
        time_interval_minutes=next(iter(opened.values())).time_interval_minutes,
        shape_tzyx=(int(n_frames), int(n_slices), int(height), int(width)),
    )


def patch_resampling(
    spec: PatchSpec,
    channels: FovChannels,
    supplied: Mapping[str, float] | None,
    plate_pixel_size_um: float | None = None,
) -> dict[str, float] | None:
    """How a spec with ``pixel_size_um`` resamples the FOV's patches: ``target_pixel_size_um`` (the
    spec's), ``plate_pixel_size_um`` (the plate pixel size it resamples from), ``window_px`` (plate
    pixels a patch covers, :meth:`~dynaclr.config.patches.PatchSpec.window_px`), ``zoom`` (patch
    pixels per plate pixel) and ``pixel_size_um`` (of the patches: the target within the window's
    rounding). ``None`` for a spec that does not resample.

    The plate pixel size is ``plate_pixel_size_um`` where given: the size the dry run checked
    (:func:`~dynaclr.config.plate_checks.resampled_plate_pixel_size_um`, which rule
    ``extract_patches`` passes; the phase config's ``yx_pixel_size_um`` where it corrects the raw
    plate's metadata). Else the source plates' as their metadata states it (or
    ``acquisition.pixel_size_um`` in ``supplied`` where it states none), one size for all.

    Raises:
        ArtifactError: no size is given and a source plate states none (nor does ``supplied``), or
            the source plates state other pixel sizes.
        ValueError: the zoom lies beyond :data:`~dynaclr.config.patches.MAX_RESAMPLING_ZOOM`.
    """
    if spec.pixel_size_um is None:
        return None
    if plate_pixel_size_um is None:
        plate_pixel_size_um = _stated_plate_pixel_size_um(spec, channels, supplied)
    window = spec.window_px(plate_pixel_size_um)
    return {
        "target_pixel_size_um": spec.pixel_size_um,
        "plate_pixel_size_um": plate_pixel_size_um,
        "window_px": window,
        "zoom": spec.initial_size_px / window,
        "pixel_size_um": window * plate_pixel_size_um / spec.initial_size_px,
    }


def _stated_plate_pixel_size_um(
    spec: PatchSpec, channels: FovChannels, supplied: Mapping[str, float] | None
) -> float:
    """The one pixel size the FOV's source plates state (:func:`patch_resampling`)."""
    sizes: dict[Path, float | None] = {}
    for path, _ in channels.plates:
        sampling = read_plate_sampling(path, supplied, channels.fov_name)
        sizes[path] = sampling.stated_values()["pixel_size_um"]
    unknown = [str(path) for path, size in sizes.items() if size is None]
    if unknown:
        raise ArtifactError(
            f"patch spec {spec.name!r}: pixel_size_um={spec.pixel_size_um:g} resamples the patches to "
            f"that pixel size, expected plates stating theirs; found {unknown} with no pixel size stated "
            "(no scale, iohub's default of ones, or axes without a unit). Set the dataset's "
            "acquisition.pixel_size_um (or write the plate's scale), or remove pixel_size_um from the spec"
        )
    stated = [size for size in sizes.values() if size is not None]
    if any(sampling_differs(size, stated[0]) for size in stated):
        raise ArtifactError(
            f"patch spec {spec.name!r}: the source plates of FOV {channels.fov_name} state other pixel "
            f"sizes, expected one to resample from; found {{plate: µm}} = "
            f"{ {str(path): size for path, size in sizes.items()} } (the workflow passes the size its "
            "dry run checked: the phase config's yx_pixel_size_um where it corrects the metadata)"
        )
    return stated[0]


def kept_slices(channels: FovChannels, spec: PatchSpec) -> slice:
    """The Z slices ``spec`` keeps of the FOV's stack; fails naming the plate when they do not fit."""
    n_slices = channels.shape_tzyx[1]
    try:
        return spec.z_slices(n_slices)
    except ValueError as err:
        raise ValueError(
            f"{channels.readers[0].plate_path}: position {channels.fov_name} has a stack of {n_slices} Z "
            f"slices (found), which the patch spec does not fit: {err}"
        ) from err


def check_patch_window(channels: FovChannels, spec: PatchSpec) -> None:
    """Refuse a patch window larger than the image's Y or X (its patches would be mostly padding)."""
    _, _, height, width = channels.shape_tzyx
    size = spec.initial_size_px if channels.window_px is None else channels.window_px
    if size <= height and size <= width:
        return
    if channels.resampling is not None:
        key = (
            f"of {size} px (initial size {spec.initial_size_px} px at pixel_size_um = "
            f"{spec.pixel_size_um:g}, from the plate's "
            f"{channels.resampling['plate_pixel_size_um']:g} µm pixels)"
        )
        fix = "lower patch_size_yx_px or pixel_size_um"
    elif spec.initial_patch_size_yx_px is not None:
        key = f"initial_patch_size_yx_px = {size} px"
        fix = "set initial_patch_size_yx_px"
    else:
        key = (
            f"initial_patch_size_yx_px (null: {size} px, derived from patch_size_yx_px = "
            f"{spec.patch_size_yx_px} px)"
        )
        fix = "lower patch_size_yx_px (the initial size follows) or set initial_patch_size_yx_px"
    raise ArtifactError(
        f"patch spec {spec.name!r}: the patch window {key} is larger than the image of FOV "
        f"{channels.fov_name} in {channels.readers[0].plate_path}, (Y, X) = ({height}, {width}) px; every "
        f"patch would be mostly zero padding. In the dataset's patches: entry {spec.name!r}, {fix} to at "
        f"most {min(height, width)} px (or use images larger than the patch)."
    )


def check_track_bounds(cells: pd.DataFrame, channels: FovChannels, tracks_path: Path) -> None:
    """Fail when the FOV's tracks reach frames the plates do not have, or place a centroid outside the
    image or at a non-finite position (a table of another plate, of a binned or larger image, or in
    micrometres): its patch would be all zero padding, cut and trained on as a cell."""
    n_frames, _, height, width = channels.shape_tzyx
    if len(cells) and (int(cells["t"].max()) >= n_frames or int(cells["t"].min()) < 0):
        raise ArtifactError(
            f"{tracks_path}: FOV {channels.fov_name} has tracks at frames {cells['t'].min()}.."
            f"{cells['t'].max()}, but {channels.readers[0].plate_path} has frames 0..{n_frames - 1}"
        )
    # inside the image: from the first pixel's edge in pixel-centre coordinates (-0.5, which rounds
    # half up to pixel 0) to Y, the bound imported tracks are checked against (the simulator's
    # continuous positions reach it: 95.54 of 96 rows)
    y = cells["y"].to_numpy(dtype=np.float64)
    x = cells["x"].to_numpy(dtype=np.float64)
    inside = np.isfinite(y) & np.isfinite(x) & (y >= -0.5) & (y < height) & (x >= -0.5) & (x < width)
    if not inside.all():
        rows = cells.loc[~inside, ["track_id", "t", "y", "x"]].head(5)
        listed = "; ".join(
            f"track {r.track_id} t {r.t} (y, x) = ({r.y:g}, {r.x:g})" for r in rows.itertuples(index=False)
        )
        raise ArtifactError(
            f"{tracks_path}: FOV {channels.fov_name} has {int((~inside).sum())} of {len(cells)} centroids "
            f"outside its image: expected finite y in [-0.5, {height}) and x in [-0.5, {width}) (pixels of "
            f"the {height} x {width} image of {channels.readers[0].plate_path}), found {listed}; are "
            "the tracks of another plate, of a binned or larger image, or in micrometres rather than pixels?"
        )


class FrameSaturation(NamedTuple):
    """One frame's voxels read, its voxels at the camera's full scale and that full scale."""

    voxels: int
    saturated: int
    level: float


@dataclass
class SaturationCount:
    """A channel's frame reader that counts, per frame as frames pass, the voxels at a camera's full
    scale (:func:`~dynaclr.numerics.saturation.full_scale_plateau` of each frame), but not in a frame
    whose other finite voxels all share one value (a 0/255 mask: no unsaturated spread). The totals
    cover the frames not left out (:meth:`leave_out`: frames dropped or constant, which carry that
    reason and no saturated voxel in the patches)."""

    read: Callable[[int], np.ndarray]
    per_frame: dict[int, FrameSaturation] = field(default_factory=dict)

    def __call__(self, t: int) -> np.ndarray:
        values = self.read(t)
        plateau = full_scale_plateau(values)
        if plateau is not None and not two_valued(values, plateau[1]):
            level, at_max = plateau
            self.per_frame[int(t)] = FrameSaturation(values.size, int(np.count_nonzero(at_max)), level)
        else:
            self.per_frame[int(t)] = FrameSaturation(values.size, 0, 0.0)
        return values

    def leave_out(self, frames: Iterable[int]) -> None:
        """Leave ``frames`` out of the counts (dropped, or 0 in the patches: constant off the
        background), so that a frame gets one reason, not also saturation."""
        for t in frames:
            self.per_frame.pop(int(t), None)

    @property
    def voxels(self) -> int:
        return sum(f.voxels for f in self.per_frame.values())

    @property
    def saturated(self) -> int:
        return sum(f.saturated for f in self.per_frame.values())

    @property
    def frames(self) -> list[int]:
        """The counted frames holding saturated voxels, in order."""
        return sorted(t for t, f in self.per_frame.items() if f.saturated)

    @property
    def level(self) -> float:
        """The highest full scale of the counted frames (0 without a saturated voxel)."""
        return max((f.level for f in self.per_frame.values() if f.saturated), default=0.0)

    @property
    def share(self) -> float:
        voxels = self.voxels
        return self.saturated / voxels if voxels else 0.0

    def warn(self, where: str) -> None:
        """Log a WARNING when more than :data:`SATURATED_WARNING_SHARE` of the voxels are saturated."""
        if self.share > SATURATED_WARNING_SHARE:
            logger.warning(
                "%s: %d voxel(s) (%.1f%%) at the camera's full scale %.0f (saturated) in frame(s) %s; "
                "over %.0f%% the 99th percentile (median_p99's scale) is the saturation level and the "
                "unsaturated signal is squeezed towards 0. Acquire with a shorter exposure, or leave the "
                "FOV out",
                where,
                self.saturated,
                100.0 * self.share,
                self.level,
                self.frames[:10],
                100.0 * SATURATED_WARNING_SHARE,
            )


def fov_statistics(
    channels: FovChannels, spec: PatchSpec, z: slice
) -> tuple[list[ChannelStatistics], list[SaturationCount]]:
    """Normalisation statistics of every channel over all the FOV's frames (one pass each), and its
    saturated voxels (logged at WARNING when many, :meth:`SaturationCount.warn`) at the frames that
    reach the patches: not at the FOV's dropped frames (any channel) nor at the channel's frames
    constant off its background (0 in the patches), which carry that reason instead."""
    statistics, counts = [], []
    for reader, channel in zip(channels.readers, spec.channels, strict=True):
        count = SaturationCount(partial(reader.read, z=z))
        statistics.append(
            channel_statistics(
                count,
                range(channels.shape_tzyx[0]),
                channel.normalization,
                channel=reader.name,
                per_time_point=spec.normalize_per_time_point,
                where=reader.where(),
            )
        )
        counts.append(count)
    dropped = fov_dropped_frames(statistics)
    for reader, stats, count in zip(channels.readers, statistics, counts, strict=True):
        count.leave_out([*dropped, *stats.off_background_frames])
        count.warn(reader.where())
    return statistics, counts


def fov_dropped_frames(statistics: list[ChannelStatistics]) -> list[int]:
    """The frames dropped (mostly missing) in any channel, in order: no patch is cut there."""
    return sorted({t for stats in statistics for t in stats.dropped_frames})


def patch_store_attributes(
    spec: PatchSpec, channels: FovChannels, z: slice, statistics: list[ChannelStatistics]
) -> dict[str, Any]:
    """Attributes of a FOV's patch store (see :mod:`dynaclr.patches.store`), JSON-ready."""
    _, _, height, width = channels.shape_tzyx
    attributes = {
        "fov_name": channels.fov_name,
        "patch_spec": spec.model_dump(mode="json"),
        "channel_names": [r.name for r in channels.readers],
        "time_interval_minutes": channels.time_interval_minutes,
        "initial_patch_size_yx_px": spec.initial_size_px,
        "patch_size_yx_px": spec.patch_size_yx_px,
        "z_slices": [z.start, z.stop],
        "image_shape_yx": [height, width],
        "resampling": channels.resampling,
        "normalization": {channels.fov_name: {s.channel: s.to_json() for s in statistics}},
    }
    return json.loads(json.dumps(attributes))  # type: ignore[no-any-return]


@dataclass
class StorageClipper:
    """Normalised frames clipped to the finite range of the store's dtype, and what was clipped.

    Called as ``frame_at``: frame ``t`` → the normalised ``(C, Z, Y, X)`` frame of ``normalised``,
    with values beyond ``±limit`` (float16: 65504, stored as ±inf otherwise) set to ``±limit``;
    ``clipped[c]`` counts the voxels clipped in channel ``c``, ``frames[c]`` lists their frames and
    ``largest[c]`` is the largest ``|value|`` clipped.
    """

    normalised: Callable[[int], np.ndarray]
    limit: float
    clipped: list[int]
    frames: list[list[int]]
    largest: list[float]

    @classmethod
    def for_dtype(
        cls, normalised: Callable[[int], np.ndarray], dtype: str, n_channels: int
    ) -> StorageClipper:
        limit = float(np.finfo(np.dtype(dtype)).max)
        return cls(normalised, limit, [0] * n_channels, [[] for _ in range(n_channels)], [0.0] * n_channels)

    def __call__(self, t: int) -> np.ndarray:
        frame = self.normalised(t)
        flat = frame.reshape(len(frame), -1)
        magnitude = np.maximum(flat.max(axis=1), -flat.min(axis=1))  # (C,) largest |value|, no copy
        for c in np.flatnonzero(magnitude > self.limit):
            beyond = int(np.count_nonzero(np.abs(frame[c]) > self.limit))
            np.clip(frame[c], -self.limit, self.limit, out=frame[c])
            self.clipped[c] += beyond
            self.frames[c].append(t)
            self.largest[c] = max(self.largest[c], float(magnitude[c]))
        return frame

    def warn(self, channels: FovChannels, dtype: str) -> None:
        """Log a WARNING for every channel with clipped voxels."""
        for reader, n_clipped, frames, largest in zip(
            channels.readers, self.clipped, self.frames, self.largest, strict=True
        ):
            if n_clipped:
                logger.warning(
                    "%s: %d normalised voxel(s) at frame(s) %s lie beyond the %s range (largest |value| "
                    "%.3g, e.g. hot pixels over a nearly flat background); stored as ±%.6g. Set the patch "
                    "spec's storage_dtype: float32 to keep them",
                    reader.where(),
                    n_clipped,
                    frames[:10],
                    dtype,
                    largest,
                    self.limit,
                )


def cut_patches(
    frame_at: Callable[[int], np.ndarray],
    cells: pd.DataFrame,
    patch_shape_czyx: tuple[int, int, int, int],
    append: Callable[[np.ndarray], None],
    *,
    description: str = "patches",
    window_px: int | None = None,
) -> np.ndarray:
    """Cut a patch around every cell, frame by frame, and hand each to ``append`` in row order.

    Args:
        frame_at: frame index → the normalised ``(C, Z, Y, X)`` frame; called once per frame with cells.
        cells: rows ``t`` (frames), ``y``, ``x`` (pixels), sorted by ``(t, track_id)``, index 0..N-1.
        patch_shape_czyx: ``(C, Z, S, S)``; the patch is the ``S x S`` window around the centroid
            rounded half up (:func:`~dynaclr.numerics.crop.crop_with_padding`), 0 outside the image.
        append: receives each patch (one buffer, overwritten by the next patch: copy to keep it).
        description: progress bar text.
        window_px: the window of plate pixels to cut and resample to ``S x S``
            (:func:`~dynaclr.numerics.crop.resample_yx`); ``None``: the patch is the ``S x S`` window.

    Returns:
        ``padded_fraction`` per row ``(N,)``: the share of the patch's area outside the image.
    """
    centers_y, centers_x = cells["y"].to_numpy(np.float64), cells["x"].to_numpy(np.float64)
    padded_fraction = np.zeros(len(cells))
    size = patch_shape_czyx[-1]
    patch = np.zeros(patch_shape_czyx, dtype=np.float32)
    width = size if window_px is None else window_px
    resampled = width != size
    window = np.zeros((*patch_shape_czyx[:2], width, width), np.float32) if resampled else patch
    rows_at = cells.groupby("t", sort=True).indices
    for t in tqdm(sorted(rows_at), desc=description, unit="frame", mininterval=2.0):
        frame = frame_at(int(t))
        for row in rows_at[t]:
            _, padded_fraction[row] = crop_with_padding(
                frame, centers_y[row], centers_x[row], width, out=window
            )
            if resampled:
                resample_yx(window, size, out=patch)
            append(patch)
    return padded_fraction


def _write_fov_store(
    path: Path,
    spec: PatchSpec,
    attributes: dict[str, Any],
    provenance: Provenance,
    frame_at: Callable[[int], np.ndarray],
    cells: pd.DataFrame,
    patch_shape_czyx: tuple[int, int, int, int],
) -> np.ndarray:
    """Cut the cells' patches (:func:`cut_patches`) into a new store at ``path``, whole shards at a
    time, written atomically. Returns the padded fractions."""
    with atomic_output(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        group.attrs.update(attributes)
        array = create_patch_array(
            group, len(cells), patch_shape_czyx, spec.storage_dtype, spec.patches_per_shard
        )
        writer = ShardedRowWriter(array)
        padded_fraction = cut_patches(
            frame_at,
            cells,
            patch_shape_czyx,
            writer.append,
            description=f"patches {attributes['fov_name']}",
            window_px=None if attributes["resampling"] is None else attributes["resampling"]["window_px"],
        )
        writer.close()
        write_zarr_provenance(tmp, provenance)
    return padded_fraction


def cells_outside_dropped_frames(
    cells: pd.DataFrame, statistics: list[ChannelStatistics], fov_name: str
) -> tuple[pd.DataFrame, list[int], int]:
    """The cells at frames no channel dropped (index reset to 0..N-1), the dropped frames (any channel)
    and how many cell observations they removed (logged at WARNING)."""
    dropped = fov_dropped_frames(statistics)
    at_dropped = cells["t"].isin(dropped).to_numpy()
    if at_dropped.any():
        logger.warning(
            "FOV %s: %d cell observation(s) at dropped frames %s (mostly missing voxels) get no patch",
            fov_name,
            int(at_dropped.sum()),
            dropped,
        )
    return cells.loc[~at_dropped].reset_index(drop=True), dropped, int(at_dropped.sum())


def warn_constant_frames(
    cells: pd.DataFrame, channels: FovChannels, statistics: list[ChannelStatistics]
) -> dict[str, int]:
    """Cell observations per channel at the frames where it is constant off its background
    (``off_background_frames``: normalised to 0 there, :meth:`FovChannels.normalised_frame`), logged
    at WARNING naming plate, FOV, channel, frames and levels when the channel has signal at other
    frames (a channel constant throughout is warned about with its statistics). A constant frame at
    the background's level is data and is not counted."""
    counts = {}
    for reader, stats in zip(channels.readers, statistics, strict=True):
        off = stats.off_background_frames
        counts[stats.channel] = int(cells["t"].isin(off).sum())
        if counts[stats.channel] and len(off) < stats.n_frames:
            levels = dict(zip(stats.empty_frames, stats.constant_levels, strict=True))
            logger.warning(
                "%s: constant at frame(s) %s at level(s) %s, off the FOV's background (an empty or "
                "missing acquisition, e.g. an all-0 frame); the %d cell observation(s) there have this "
                "channel at 0 (the FOV's centre), not its normalised level",
                reader.where(),
                off[:10],
                [levels[t] for t in off[:10]],
                counts[stats.channel],
            )
    return counts


def with_condition(cells: pd.DataFrame, condition: str | None) -> pd.DataFrame:
    """``cells`` with ``condition`` in every row when the config names the well's condition; the
    tracks table's ``condition`` (or missing) is kept when it is ``None``."""
    if condition is None:
        return cells
    return cells.assign(condition=pd.Series(condition, index=cells.index, dtype="string"))


def frame_times_minutes(t: np.ndarray, time_interval_minutes: float | None) -> np.ndarray:
    """Time of frames ``t`` ``(N,)`` in minutes: ``t`` x the plate's frame interval, float64.

    All NaN when the plate records no interval (``None``, not finite, or not positive).
    """
    interval = float("nan") if time_interval_minutes is None else float(time_interval_minutes)
    if not np.isfinite(interval) or interval <= 0.0:
        return np.full(len(t), np.nan)
    return np.asarray(t, dtype=np.float64) * interval


def patch_metrics(
    cells: pd.DataFrame,
    padded_fraction: np.ndarray,
    statistics: list[ChannelStatistics],
    channels: FovChannels,
    z: slice,
    dropped: tuple[list[int], int],
) -> dict[str, Any]:
    """The record's metrics (see :func:`extract_fov_patches`); WARNING when many patches are mostly padded."""
    n_frames, _, height, width = channels.shape_tzyx
    mostly_padded = int((padded_fraction > MOSTLY_PADDED_FRACTION).sum())
    share = mostly_padded / len(cells) if len(cells) else 0.0
    if share > MOSTLY_PADDED_WARNING_SHARE:
        logger.warning(
            "FOV %s: %d of %d patches (%.0f%%) are more than %.0f%% padding; the patch window is large "
            "for the image (Y, X) = (%d, %d)",
            channels.fov_name,
            mostly_padded,
            len(cells),
            100.0 * share,
            100.0 * MOSTLY_PADDED_FRACTION,
            height,
            width,
        )
    missing = {stats.channel: stats.missing_voxels for stats in statistics}
    voxels_read = len(statistics) * n_frames * (z.stop - z.start) * height * width
    return {
        "fov_name": channels.fov_name,
        "n_frames": n_frames,
        "n_patches": len(cells),
        "n_border_patches": int((padded_fraction > 0.0).sum()),
        "n_mostly_padded_patches": mostly_padded,
        "mostly_padded_share": share,
        "empty_frames": {stats.channel: stats.empty_frames for stats in statistics},
        "off_background_frames": {stats.channel: stats.off_background_frames for stats in statistics},
        "degenerate_frames": {stats.channel: stats.degenerate_frames for stats in statistics},
        # over-exposed frames left out of each channel's normalisation statistics (numerics.normalization)
        "normalization_saturated_frames": {stats.channel: stats.saturated_frames for stats in statistics},
        "dropped_frames": dropped[0],
        "n_cells_at_dropped_frames": dropped[1],
        "missing_voxels": int(sum(missing.values())),
        "missing_voxels_per_channel": missing,
        "missing_share": sum(missing.values()) / voxels_read if voxels_read else 0.0,
    }


def extract_fov_patches(
    spec: PatchSpec,
    inputs: ExtractPatchesInputs,
    outputs: ExtractPatchesOutputs,
    *,
    fov_name: str,
    condition: str | None = None,
    supplied: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Cut a patch around every cell of ``fov_name`` at every time point it is tracked.

    The index (:data:`~dynaclr.patches.store.INDEX_COLUMNS`) gives every patch its well's
    ``condition`` and ``time_minutes`` = ``t`` x the source plate's frame interval
    (:func:`frame_times_minutes`), or the ``time_interval_minutes`` in ``supplied``.

    Args:
        spec: the patch spec (rule ``params.config``).
        inputs: the source plates the spec's channels read, and a Parquet tracks table with
            ``fov_name, track_id, parent_track_id, t, y, x`` (frames, pixels); ``lineage_id``,
            ``well``, ``condition`` are optional.
        outputs: the FOV's store, index and record (:class:`ExtractPatchesOutputs`).
        fov_name: ``row/column/fov``.
        condition: the FOV's well's condition from the dataset's config (rule ``params.condition``);
            ``None`` keeps the tracks table's ``condition`` (missing when it has none).
        supplied: the sampling the dataset's ``acquisition`` supplies for a raw plate whose metadata
            states none (:meth:`~dynaclr.io.plate.PlateLayout.supplied_values`, in the rule's
            ``params.config``): its time interval replaces the plates' (iohub's 1 s), and the
            provenance's config records it under :data:`~dynaclr.io.plate.SUPPLIED_KEY`. As
            :func:`~dynaclr.io.plate.split_supplied` gives it, it also carries the root attributes of
            a source plate of your own as the dry run read them (the rule's ``params.config``,
            :data:`~dynaclr.io.plate.PLANNED_ROOT_KEY`): the job reads no metadata of that plate's
            root (they are not recorded in the provenance), and for a spec with ``pixel_size_um``
            the plate pixel size the dry run checked, which the job resamples from
            (:data:`~dynaclr.io.plate.PLATE_PIXEL_SIZE_KEY`; absent: the one the source plates
            state, :func:`patch_resampling`).

    Returns:
        Metrics: ``fov_name``, ``n_frames``, ``n_patches``, ``n_border_patches`` (any padding),
        ``n_mostly_padded_patches`` and ``mostly_padded_share`` (more than
        :data:`MOSTLY_PADDED_FRACTION` padding), ``empty_frames`` (constant) and
        ``off_background_frames`` (constant off the background: 0 in the patches) per channel,
        ``dropped_frames``
        (mostly missing in any channel: no patches there) and ``n_cells_at_dropped_frames``,
        ``missing_voxels`` (all channels; ``missing_voxels_per_channel``), ``missing_share``,
        ``clipped_voxels_per_channel`` (beyond the ``storage_dtype`` range, module docstring),
        ``seconds``.

    Raises:
        ArtifactError: the patch window is larger than the image (:func:`check_patch_window`), an
            input is missing or malformed, or the FOV is mostly missing voxels
            (:class:`~dynaclr.numerics.missing.MissingDataError`).
    """
    started = time.perf_counter()
    if inputs.tracks_record is not None:
        tracks, fov_provenance = read_fov_tracks(inputs.tracks, inputs.tracks_record, fov_name)
        tracks_provenance: Provenance | None = fov_provenance
    else:
        tracks, tracks_provenance = read_tracks(inputs.tracks, fov_name)
    cells = with_condition(fov_tracks(tracks, fov_name, inputs.tracks), condition)
    with ExitStack() as stack:
        channels = open_fov_channels(inputs.source_plates(), spec, fov_name, stack, supplied)
        if supplied and "time_interval_minutes" in supplied:
            channels = replace(channels, time_interval_minutes=float(supplied["time_interval_minutes"]))
        channels = replace(
            channels,
            resampling=patch_resampling(
                spec,
                channels,
                supplied,
                supplied.plate_pixel_size_um if isinstance(supplied, SuppliedValues) else None,
            ),
        )
        check_patch_window(channels, spec)
        z = kept_slices(channels, spec)
        check_track_bounds(cells, channels, inputs.tracks)
        statistics, saturation = fov_statistics(channels, spec, z)
        cells, dropped, n_removed = cells_outside_dropped_frames(cells, statistics, fov_name)
        provenance = make_provenance(
            ArtifactKind.PATCH_FOV,
            spec.model_dump(mode="json")
            | ({SUPPLIED_KEY: dict(supplied)} if supplied else {})
            | ({"resampling": channels.resampling} if channels.resampling is not None else {}),
            inputs=[*channels.plates, (inputs.tracks, tracks_provenance)],
        )
        patch_shape = (len(channels.readers), z.stop - z.start, spec.initial_size_px, spec.initial_size_px)
        clipper = StorageClipper.for_dtype(
            partial(channels.normalised_frame, statistics, z), spec.storage_dtype, len(channels.readers)
        )
        padded_fraction = _write_fov_store(
            outputs.zarr,
            spec,
            patch_store_attributes(spec, channels, z, statistics),
            provenance,
            clipper,
            cells,
            patch_shape,
        )
        clipper.warn(channels, spec.storage_dtype)
        at_constant = warn_constant_frames(cells, channels, statistics)
    index = cells.assign(
        row=np.arange(len(cells), dtype=np.int64),
        time_minutes=frame_times_minutes(cells["t"].to_numpy(), channels.time_interval_minutes),
        padded_fraction=padded_fraction,
    )
    write_table(index[list(INDEX_COLUMNS)], outputs.parquet, provenance)
    metrics = {
        **patch_metrics(cells, padded_fraction, statistics, channels, z, (dropped, n_removed)),
        "clipped_voxels_per_channel": {
            reader.name: n for reader, n in zip(channels.readers, clipper.clipped, strict=True)
        },
        "n_cells_at_constant_frames": at_constant,
        "saturated_voxels_per_channel": {
            s.channel: c.saturated for s, c in zip(statistics, saturation, strict=True)
        },
        "saturated_share_per_channel": {
            s.channel: c.share for s, c in zip(statistics, saturation, strict=True)
        },
        "seconds": time.perf_counter() - started,
    }
    write_fov_record(outputs.record, provenance, metrics)
    logger.info(
        "FOV %s: %d patches (%d at the border) of %s in %.1f s",
        fov_name,
        metrics["n_patches"],
        metrics["n_border_patches"],
        patch_shape,
        metrics["seconds"],
    )
    return metrics
