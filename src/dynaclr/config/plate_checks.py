"""Checks of the workflow config against the plates it reads, made before any job runs.

A plate's metadata (FOVs, channels, axes, shape, time interval: :class:`~dynaclr.io.plate.PlateLayout`)
is cheap to read, so what would otherwise fail only after every upstream stage ran fails when
Snakemake parses the workflow (``workflow/rules/common.smk``; ``snakemake -n`` shows it): a channel
a plate lacks, a ``tau`` longer than the movie, a backbone the networks cannot be built from, a patch
window larger than the images, a tracking slice range past the stacks tracking reads, tracking sizes in
pixels left at defaults meant for pixels of another size, a stem kernel that
does not divide the patches' depth, a FOV a stage names that the plate does not have, a training split
that leaves no training FOV, a DTW reference window or an analysis needing more frames than the
movie has. A simulated
dataset's layout comes from its ``simulate`` config (:func:`simulated_layout`).

Each problem is one line: the config key (a dotted path naming the dataset or model), what was
expected and what was found. The exact checks that need the data (``tau`` against the tracked
lineages, the FOVs' pixel values) stay in the stages.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from dynaclr.config.backbones import (
    VIRTUAL_STAIN_BACKBONES,
    backbone_problem,
    contrastive_backbones,
    minimum_input_size_px,
)
from dynaclr.config.base import fov_pattern_paths, names_position
from dynaclr.config.distillation import crop_size_mismatch
from dynaclr.config.patches import PatchSpec, channel_indices, required_initial_patch_size_px
from dynaclr.config.reasons import single_class_fov
from dynaclr.config.simulate import CHANNEL_NAMES, RAW_PIXEL_TYPE, CellsConfig, SimulateConfig
from dynaclr.config.tracking import (
    DEFAULTS_PIXEL_SIZE_UM,
    LINKING_SECTIONS,
    MIN_SEGMENTABLE_AREA_PX,
    PIXEL_SIZE_TOLERANCE,
    TrackingConfig,
    mixed_ctc_layouts,
    pixel_ratio_beyond_tolerance,
    scaled_default_max_area_px,
)
from dynaclr.config.training import (
    COMMON_TAU_SEARCH_FRAMES,
    TAU_MINUTES_TOLERANCE,
    ContrastiveModelConfig,
    common_tau_minutes,
    qualified_fov_name,
    resolve_fov_entries,
    tau_minutes_in_frames,
    validation_fov_count,
)
from dynaclr.config.virtual_stain import NETWORK_STRIDE_PX, VirtualStainTrainConfig
from dynaclr.config.workflow import DatasetConfig, WorkflowConfig
from dynaclr.io.plate import EXPECTED_AXES, PlateGeometry, PlateLayout
from dynaclr.io.sampling import (
    SCALE_RELATIVE_TOLERANCE,
    implausible_sampling,
    sampling_differs,
    sampling_reads_as_nanometres,
)
from dynaclr.io.tables import table_header

__all__ = [
    "PHASE_CHANNEL",
    "SCALE_RELATIVE_TOLERANCE",
    "sampling_differs",
    "simulated_layout",
    "source_layouts",
    "supplied_layout",
    "unitless_guess",
    "workflow_problems",
    "workflow_warnings",
]

#: The channel of the phase stage's plate (``dynaclr.phase.reconstruct.PHASE_CHANNEL``).
PHASE_CHANNEL = "Phase3D"

#: The axes a sampling key (``acquisition`` key) is read from, and the unit assumed without one.
_AXES_OF_KEY = {
    "pixel_size_um": ("y and x", "µm"),
    "z_step_um": ("z", "µm"),
    "time_interval_minutes": ("t", "s"),
}


def unitless_guess(plate: Path, key: str, value: float) -> str:
    """Why ``key`` (an ``acquisition`` key) of ``plate``, read as ``value`` (µm; minutes for the
    interval) from axes with a scale but no unit (:attr:`~dynaclr.io.plate.PlateSampling.unitless`),
    is a guess: the axes, the scale and what it is only if read in seconds / micrometres."""
    axes, unit = _AXES_OF_KEY[key]
    read = value * 60.0 if key == "time_interval_minutes" else value
    several = " " in axes
    return (
        f"ax{'es' if several else 'is'} {axes} of {plate} ha{'ve' if several else 's'} a scale ({read:g}) "
        f"but no unit: {read:g} {unit} only if it is in {'seconds' if unit == 's' else 'micrometres'}, a "
        "guess"
    )


def simulated_layout(config: SimulateConfig, path: str) -> PlateLayout:
    """The layout the simulator will write at ``path`` (rule ``simulate``), from its config."""
    n_z, n_y, n_x = config.shape_zyx
    return PlateLayout(
        path=Path(path),
        fov_names=tuple(config.fov_names()),
        channel_names=CHANNEL_NAMES,
        axes=EXPECTED_AXES,
        shape_tczyx=(config.n_frames, len(CHANNEL_NAMES), n_z, n_y, n_x),
        geometry=PlateGeometry(
            time_interval_s=config.time_interval_minutes * 60.0,
            z_step_um=config.z_step_um,
            pixel_size_um=config.pixel_size_um,
        ),
        time_interval_minutes=config.time_interval_minutes,
        n_frames=config.n_frames,
        pixel_types=(RAW_PIXEL_TYPE,),
    )


def supplied_layout(dataset: DatasetConfig, raw: PlateLayout) -> PlateLayout:
    """``raw`` with the values its metadata does not state supplied by the dataset's ``acquisition``
    (:meth:`~dynaclr.io.plate.PlateLayout.supplied_by`; a layout already supplied is returned as is)."""
    return raw.supplied_by(dataset.acquisition.sampling())


def source_layouts(
    name: str, dataset: DatasetConfig, raw: PlateLayout, results: str
) -> dict[str, PlateLayout]:
    """The layout of every plate dataset ``name``'s stages read, by patch source: ``raw``, ``phase``
    (the phase stage's plate under ``results``, or the raw plate with ``phase: null``) and
    ``virtual_stain``. The plates the phase stage writes, and the virtual-staining plate made from
    the phase plate, have the phase config's pixel size and z step where it sets them
    (:meth:`~dynaclr.config.phase.PhaseConfig.effective_geometry`)."""
    n_t, _, n_z, n_y, n_x = raw.shape_tczyx
    plates = {"raw": raw, "phase": raw}
    if dataset.phase is not None:
        plates["phase"] = dataclasses.replace(
            raw,
            path=Path(results, name, "phase.zarr"),
            channel_names=(PHASE_CHANNEL,),
            shape_tczyx=(n_t, 1, n_z if dataset.phase.mode == "3d" else 1, n_y, n_x),
            geometry=dataset.phase.effective_geometry(raw.geometry),
            pixel_types=(),  # written by the workflow: not the raw plate's pixel type
        )
    if dataset.virtual_stain is not None:
        phase = plates["phase"].shape_tczyx
        plates["virtual_stain"] = dataclasses.replace(
            raw,
            path=Path(results, name, "virtual_stain.zarr"),
            channel_names=(dataset.virtual_stain.output_channel,),
            shape_tczyx=(phase[0], 1, phase[2], phase[3], phase[4]),
            geometry=plates["phase"].geometry,
            pixel_types=(),  # written by the workflow: not the raw plate's pixel type
        )
    return plates


def _channel_problem(key: str, channel: str, plate: PlateLayout, what: str, fix: str = "") -> list[str]:
    if channel in plate.channel_names:
        return []
    return [
        f"{key}: expected a channel of {what} ({plate.path}: {list(plate.channel_names)}), found {channel!r}"
        + (f"; {fix}" if fix else "")
    ]


def _fov_problem(key: str, names: list[str] | None, plate: PlateLayout) -> list[str]:
    unknown = [name for name in names or [] if name not in plate.fov_names]
    return [_unknown_fovs(key, plate, unknown)] if unknown else []


def _unknown_fovs(key: str, plate: PlateLayout, unknown: list[str], dataset: str | None = None) -> str:
    """``unknown`` (the entries as the config gives them) are no FOVs of ``plate``."""
    shown = list(plate.fov_names[:6]) + (["..."] if len(plate.fov_names) > 6 else [])
    of = f" (dataset {dataset!r})" if dataset is not None else ""
    return f"{key}: expected FOVs of the plate {plate.path}{of} {shown}, found {unknown}"


def _training_fov_problems(key: str, entries: list[str] | None, raws: Mapping[str, PlateLayout]) -> list[str]:
    """A model's ``validation_fovs`` / ``excluded_fovs`` (``key``) name FOVs of the plates ``raws`` of its
    ``train_datasets`` (:func:`~dynaclr.config.training.resolve_fov_entries`), as
    :func:`dynaclr.training.sampling.split_pooled_fovs` and ``without_excluded_fovs`` read them (an
    entry they do not find fails training after every upstream stage ran)."""
    resolved, problems = resolve_fov_entries(key, entries, list(raws))
    unknown: dict[str, list[str]] = {}
    for named in resolved:
        if named.fov not in raws[named.dataset].fov_names:
            unknown.setdefault(named.dataset, []).append(named.entry)
    single = len(raws) == 1
    problems += [
        _unknown_fovs(key, raws[dataset], names, None if single else dataset)
        for dataset, names in unknown.items()
    ]
    return problems


def _channel_problems(name: str, dataset: DatasetConfig, plates: Mapping[str, PlateLayout]) -> list[str]:
    key = f"datasets.{name}"
    raw, phase = plates["raw"], plates["phase"]
    problems = []
    # a plate of one slice is refused for phase whatever its channels (_geometry_problems: set
    # `phase: null`); naming a brightfield channel would not make it reconstructable
    if dataset.phase is not None and raw.shape_tczyx[2] >= 2:
        problems += _channel_problem(
            f"{key}.phase.brightfield_channel",
            dataset.phase.brightfield_channel,
            raw,
            "the raw plate",
            f"name its brightfield channel, or set `phase: null` if the plate holds {PHASE_CHANNEL}",
        )
    tracked_here = dataset.tracks is None  # imported tracks read no nuclear channel
    if tracked_here and dataset.tracking_input.source == "raw":
        problems += _channel_problem(
            f"{key}.tracking_input.channel", dataset.tracking_input.channel, raw, "the raw plate"
        )
    elif tracked_here and dataset.virtual_stain is not None:
        problems += _channel_problem(
            f"{key}.tracking_input.channel",
            dataset.tracking_input.channel,
            plates["virtual_stain"],
            "the virtual-staining plate",
            "it holds virtual_stain.output_channel",
        )
    if dataset.virtual_stain is not None and dataset.virtual_stain.train is not None:
        # the training target; a network from a checkpoint predicts without it
        problems += _channel_problem(
            f"{key}.virtual_stain.target_channel",
            dataset.virtual_stain.target_channel,
            raw,
            "the raw plate",
            "the network trains on it; without a nuclear channel, predict with a trained network "
            "(virtual_stain.checkpoint)",
        )
        problems += _channel_problem(
            f"{key}.virtual_stain.input_channel",
            dataset.virtual_stain.input_channel,
            phase,
            "the phase input" + (", the raw plate with phase: null" if dataset.phase is None else ""),
        )
        if dataset.virtual_stain.train is not None:
            problems += _fov_problem(
                f"{key}.virtual_stain.train.train_fovs", list(dataset.virtual_stain.train.train_fovs), raw
            )
    for spec in dataset.patches:
        for index, channel in enumerate(spec.channels):
            plate = plates.get(channel.source)
            if plate is not None:
                problems += _channel_problem(
                    f"{key}.patches[{spec.name}].channels[{index}].channel",
                    channel.channel,
                    plate,
                    f"the {channel.source} source"
                    + (
                        ", the raw plate with phase: null" if plate is raw and channel.source != "raw" else ""
                    ),
                )
    return problems


def _imported_tracks_problems(
    name: str, dataset: DatasetConfig, raw: PlateLayout, lineages: Mapping[str, str] | None
) -> list[str]:
    """The files ``tracks`` names exist: the table, or every FOV's CSV (ultrack), folder (ctc) or XML file
    (trackmate); CTC folders are all results or all ground truth (:func:`~dynaclr.config.tracking.
    mixed_ctc_layouts` of ``lineages``, the FOVs' lineage files, looked up here when ``None``)."""
    if dataset.tracks is None:
        return []
    key = f"datasets.{name}.tracks.path"
    tracks = dataset.tracks
    if tracks.format == "table":
        if Path(tracks.path).is_file():
            return []
        return [f"{key}: expected a tracks table, found nothing at {tracks.path}"]
    wanted, exists = {
        "ultrack": ("CSV", Path.is_file),
        "ctc": ("CTC result folder", Path.is_dir),
        "trackmate": ("TrackMate XML file", Path.is_file),
    }[tracks.format]
    try:
        positions = dataset.fov_positions(raw.fov_names) if names_position(tracks.path) else None
    except ValueError as err:
        return [f"{key}: {err}"]
    paths = {fov: tracks.fov_path(fov, positions) for fov in raw.fov_names}
    missing = [(fov, path) for fov, path in paths.items() if not exists(Path(path))]
    if not missing:
        if tracks.format != "ctc":
            return []
        mixed = mixed_ctc_layouts(
            tracks.ctc_lineages(raw.fov_names, positions) if lineages is None else lineages
        )
        return [] if mixed is None else [f"{key}: {mixed}"]
    shown = "; ".join(f"FOV {fov}: {path}" for fov, path in missing[:3]) + (
        "; ..." if len(missing) > 3 else ""
    )
    return [
        f"{key}: expected a {wanted} per FOV of {raw.path} ({tracks.path!r}), found none for "
        f"{len(missing)} of {len(raw.fov_names)} FOVs ({shown})"
    ]


def _annotation_table_files(
    name: str, dataset: DatasetConfig, raw: PlateLayout
) -> tuple[list[Path], list[str]]:
    """The files of ``annotations.table`` that exist (the one table, or the FOVs' files of a table per
    FOV, in the plate's FOV order), listed once for every check of the plan; and the problems of a
    table per FOV: a pattern that cannot be filled for the plate's FOVs, or no FOV's file."""
    table = dataset.annotations.table
    if table is None:
        return [], []
    if not dataset.annotations.table_is_pattern:
        return [path for path in [Path(table)] if path.is_file()], []
    key = f"datasets.{name}.annotations.table"
    try:
        positions = dataset.fov_positions(raw.fov_names) if names_position(str(table)) else None
        paths = fov_pattern_paths(str(table), raw.fov_names, positions)
    except ValueError as err:
        return [], [f"{key}: {err}"]
    existing = [Path(path) for path in paths if Path(path).is_file()]
    if existing:
        return existing, []
    shown = "; ".join(f"FOV {fov}: {path}" for path, fov in list(paths.items())[:3]) + (
        "; ..." if len(paths) > 3 else ""
    )
    return [], [
        f"{key}: expected an annotation file for at least one FOV of {raw.path} ({table!r}), found none "
        f"of the {len(paths)} ({shown})"
    ]


def _annotation_table_gives_positions(files: Sequence[Path]) -> bool:
    """Whether a file of ``annotations.table`` that exists (:func:`_annotation_table_files`) has
    columns ``y`` and ``x``, read from its header (:func:`~dynaclr.io.table_header`). Without them
    the import places every annotation at its tracked cell (``locate_annotations``), which the
    classifiers then match at distance 0: no radius is read. No file, or a header that cannot be
    read, counts as giving them (the import names the problem)."""
    if not files:
        return True
    for path in files:
        try:
            columns = set(table_header(path))
        except (OSError, ValueError):
            return True
        if {"y", "x"} <= columns:
            return True
    return False


def _annotation_unit_problems(
    name: str, dataset: DatasetConfig, plates: Mapping[str, PlateLayout]
) -> list[str]:
    """``annotations.position_unit: um`` on a plate whose tracked pixels' size nothing states
    (:func:`_tracked_pixel_size`): the import (after conversion and tracking) could not divide the
    table's micrometres by it. An implausible stated size is refused by
    :func:`_plausibility_problems` instead."""
    if dataset.annotations.table is None or dataset.annotations.position_unit != "um":
        return []
    if "pixel_size_um" in plates["raw"].implausible_keys or _tracked_pixel_size(dataset, plates) is not None:
        return []
    return [
        f"datasets.{name}.annotations.position_unit: 'um' reads the table's y, x as micrometres, divided "
        f"by the pixel size of the tracked plate; expected a pixel size stated by {plates['raw'].path}'s "
        f"metadata, datasets.{name}.acquisition.pixel_size_um or the phase config's yx_pixel_size_um, "
        f"found none. Set datasets.{name}.acquisition.pixel_size_um, or convert the table's y, x to "
        "pixels (position_unit: px; without y, x columns, remove position_unit)"
    ]


def _tracks_unit_problems(name: str, dataset: DatasetConfig, raw: PlateLayout) -> list[str]:
    """``tracks.position_unit: um`` on a raw plate whose pixel size neither its metadata (with a unit)
    nor ``acquisition`` states (``raw``: the plate as supplied): rule ``import_tracks`` divides by
    that size (the params of ``plate_stated_sampling``), and refused only when it ran. An implausible
    stated size is refused by :func:`_plausibility_problems` instead."""
    if dataset.tracks is None or dataset.tracks.position_unit != "um":
        return []
    if "pixel_size_um" in raw.implausible_keys or raw.stated_values()["pixel_size_um"] is not None:
        return []
    return [
        f"datasets.{name}.tracks.position_unit: 'um' reads the tracks' y, x as micrometres, divided by "
        f"the raw plate's pixel size; expected a pixel size stated by {raw.path}'s metadata (axes with a "
        f"unit) or datasets.{name}.acquisition.pixel_size_um, found none. Set "
        f"datasets.{name}.acquisition.pixel_size_um, or convert the tracks' y, x to pixels "
        "(position_unit: px)"
    ]


def sampling_source(spec: PatchSpec, plates: Mapping[str, PlateLayout]) -> str:
    """The source whose plate states the sampling of ``spec``'s patches: the first the spec reads
    that the phase stage writes (its plate, or the virtual-staining plate made from it: the phase
    config states the whole acquisition's sampling where it overrides the metadata), else ``raw``."""
    read = [channel.source for channel in spec.channels if channel.source in plates]
    return next((source for source in read if source != "raw"), "raw")


def resampled_plate_pixel_size_um(
    name: str, dataset: DatasetConfig, spec_name: str, raw: PlateLayout, results: str
) -> float | None:
    """The plate pixel size (µm) patch spec ``spec_name`` of dataset ``name`` resamples from: that of
    its :func:`sampling_source`'s plate as :func:`stated_pixel_size_um` gives it (``raw`` the plate
    as its metadata describes it, supplied by ``acquisition`` here). Rule ``extract_patches`` passes
    it to the job, so that the job resamples from the size the dry run checked (the phase config's
    ``yx_pixel_size_um`` where it corrects the raw plate's metadata). ``None``: the spec does not
    resample, or nothing states the size (refused by the dry run)."""
    spec = dataset.patch_spec(spec_name)
    if spec.pixel_size_um is None:
        return None
    plates = source_layouts(name, dataset, supplied_layout(dataset, raw), results)
    return stated_pixel_size_um(dataset, sampling_source(spec, plates), plates)


def _patch_window_problems(
    name: str, dataset: DatasetConfig, spec: PatchSpec, plates: Mapping[str, PlateLayout]
) -> list[str]:
    """The patch window fits the images (Y, X) and the kept slices fit the stacks (Z); a spec that
    resamples (``pixel_size_um``) reads plates whose pixel size is stated, and its window is the
    patch's size in their pixels."""
    key = f"datasets.{name}.patches[{spec.name}]"
    sources = {channel.source for channel in spec.channels if channel.source in plates}
    problems: list[str] = []
    depths = {}
    pixel_size = None
    if spec.pixel_size_um is not None and sources:
        resampled = sampling_source(spec, plates)
        pixel_size = stated_pixel_size_um(dataset, resampled, plates)
        if pixel_size is None:
            if "pixel_size_um" in plates["raw"].implausible_keys:
                return problems  # refused by _plausibility_problems
            return [
                f"{key}.pixel_size_um: {spec.pixel_size_um:g} resamples the patches, expected a plate "
                f"stating its pixel size; found none stated for {plates[resampled].path} (source "
                f"{resampled!r}). Set datasets.{name}.acquisition.pixel_size_um (or write the plate's "
                "scale), or remove pixel_size_um from the spec"
            ]
        try:
            spec.window_px(pixel_size)
        except ValueError as err:
            return [f"{key}: {err}"]
    for source in sorted(sources):
        plate = plates[source]
        _, _, n_z, n_y, n_x = plate.shape_tczyx
        depths[source] = n_z
        size = spec.window_px(pixel_size)
        if size > min(n_y, n_x):
            window = (
                f"initial_patch_size_yx_px={spec.initial_patch_size_yx_px}"
                if spec.initial_patch_size_yx_px is not None
                else f"the window patch_size_yx_px={spec.patch_size_yx_px} needs for augmentation"
            )
            if spec.pixel_size_um is not None:
                window += f", at pixel_size_um={spec.pixel_size_um:g} on {pixel_size:g} µm pixels"
            problems.append(
                f"{key}: expected a patch window that fits the images of {plate.path} (Y x X = {n_y} x "
                f"{n_x} px), found {size} px ({window}); use a smaller patch_size_yx_px"
            )
            break
    if len(set(depths.values())) > 1:
        problems.append(
            f"{key}.channels: expected sources with one stack depth, found Z = {depths} (a 2d phase plate "
            "has one slice); read every channel from stacks of the same depth"
        )
    elif depths:
        try:
            spec.z_slices(next(iter(depths.values())))
        except ValueError as err:
            problems.append(f"{key}: {err}")
    return problems


#: The diameter (µm) of the typical nucleus the sizes in pixels of the defaults are tuned for (the
#: simulator's default ``nucleus_radius_um``: ~7.7 px of 0.65 µm): a patch narrower than it does not
#: hold its cell's nucleus, let alone the cell.
NUCLEUS_DIAMETER_UM = 2.0 * CellsConfig.model_fields["nucleus_radius_um"].default


def _default_patch_size_px(ratio: float = 1.0) -> int:
    """The default ``patch_size_yx_px`` (meant for pixels of
    :data:`~dynaclr.config.tracking.DEFAULTS_PIXEL_SIZE_UM`) scaled by ``ratio`` (that size / the plate's
    pixel size): a multiple of 4, at least 16 (the spec's
    bounds)."""
    default = PatchSpec.model_fields["patch_size_yx_px"].default
    assert isinstance(default, int)
    return default if ratio == 1.0 else max(16, 4 * round(default * ratio / 4))


def _backbone_minimum_px(config: WorkflowConfig, spec: PatchSpec) -> int:
    """The smallest patch side the backbones of the contrastive models trained or embedding on patch spec
    ``spec`` (its name) take (:func:`~dynaclr.config.backbones.minimum_input_size_px`: 32 for ConvNeXt),
    the spec's own bound of 16 px where none uses it."""
    return max(
        [16]
        + [
            minimum_input_size_px(entry.training.backbone)
            for entry in config.contrastive_models.values()
            if entry.training.patch_spec == spec.name
        ]
    )


def _patch_size_offer(
    spec: PatchSpec,
    plates: Mapping[str, PlateLayout],
    pixel_size: float,
    ratio: float,
    minimum_px: int,
    zoom: float = 1.0,
) -> tuple[str, int | None]:
    """The ``patch_size_yx_px`` to offer for ``spec`` on pixels of ``pixel_size`` (µm; ``ratio``: the
    defaults' pixel size over it), as a phrase ending in the key and value: the default scaled to the
    plate (a multiple of 4), never below ``minimum_px`` (the models' backbones), and whose stored window
    (:func:`~dynaclr.config.patches.required_initial_patch_size_px`) fits the images of the spec's
    source plates (:func:`_patch_window_problems` refuses one that does not): where the scaled size
    does not fit, the images are too small for a cell-sized patch at these pixels and the largest size
    that fits is offered, or none where no size of ``minimum_px`` fits. ``zoom``: patch pixels per
    plate pixel (a spec resampling the plate's pixels, :func:`_patch_pixels`; 1: cut at them). Returns
    the phrase and the size offered (``None``: none)."""
    scaled = _default_patch_size_px(ratio)
    offer = max(scaled, 4 * math.ceil(minimum_px / 4))
    how = f"the default scaled to {pixel_size:g} µm (a multiple of 4)"
    if offer > scaled:
        how += f", {scaled} px, raised to the {minimum_px} px the backbone of its models needs"
    fields = {  # the images' size in patch pixels
        math.floor(min(plates[c.source].shape_tczyx[-2:]) * zoom): plates[c.source]
        for c in spec.channels
        if c.source in plates
    }
    if not fields:
        return f"{how}: patch_size_yx_px: {offer}", offer
    field = min(fields)
    window = required_initial_patch_size_px(offer)
    if window <= field:
        return f"{how}: patch_size_yx_px: {offer}", offer
    _, _, _, n_y, n_x = fields[field].shape_tczyx
    resampled = f" ({field} px resampled)" if zoom != 1.0 else ""
    small = (
        f"the {n_y} x {n_x} px images of {fields[field].path}{resampled} are too small for a cell-sized "
        "patch at "
        f"{pixel_size:g} µm pixels ({offer} px, the default scaled to them, needs a stored window of "
        f"{window} px)"
    )
    fitting = [size for size in range(4 * math.ceil(minimum_px / 4), field + 1, 4)]
    fitting = [size for size in fitting if required_initial_patch_size_px(size) <= field]
    if not fitting:
        return (
            f"no size: {small}, and no patch of {minimum_px} px or more fits them; image a larger field",
            None,
        )
    return f"the largest size that fits, as {small}: patch_size_yx_px: {max(fitting)}", max(fitting)


def _patch_size_problems(
    name: str, dataset: DatasetConfig, plates: Mapping[str, PlateLayout], config: WorkflowConfig
) -> list[str]:
    """A patch spec's ``patch_size_yx_px`` left at its default (48 px: a cell of ~15 px radius with
    margin at :data:`~dynaclr.config.tracking.DEFAULTS_PIXEL_SIZE_UM`) on a dataset whose stated pixels
    (:func:`_tracked_pixel_size`) are finer than those by more than
    :data:`~dynaclr.config.tracking.PIXEL_SIZE_TOLERANCE`: 9.6 µm on 0.2 µm pixels, narrower than a
    nucleus. Coarser pixels make a larger field of view, not a wrong size: a warning
    (:func:`_patch_size_warnings`). A size the config gives is used as it is
    (:func:`_patch_size_warnings` says when it cannot hold a nucleus). The size offered is
    :func:`_patch_size_offer`'s. A spec resampling the plate (``pixel_size_um``) is checked on the
    pixels of its patches (:func:`_patch_pixels`)."""
    problems = []
    default = _default_patch_size_px()
    for spec in dataset.patches:
        sampled = _patch_pixels(dataset, plates, spec)
        if sampled is None or "patch_size_yx_px" in spec.model_fields_set:
            continue
        where, pixel_size, zoom = sampled
        ratio = pixel_ratio_beyond_tolerance(pixel_size)
        if ratio is None or ratio < 1.0:
            continue
        if default * pixel_size < NUCLEUS_DIAMETER_UM:
            harm = (
                f"narrower than a nucleus (~{NUCLEUS_DIAMETER_UM:g} µm): the cell does not fit in its patch"
            )
        else:
            harm = (
                f"less of the cell and its surroundings than the {default * DEFAULTS_PIXEL_SIZE_UM:.2g} µm "
            )
            harm += "meant"
        offer = _patch_size_offer(spec, plates, pixel_size, ratio, _backbone_minimum_px(config, spec), zoom)
        problems.append(
            f"datasets.{name}.patches[{spec.name}].patch_size_yx_px: expected a patch size set for the "
            f"{pixel_size:g} µm {where}, found the default {default} px, meant for "
            f"{DEFAULTS_PIXEL_SIZE_UM:g} µm pixels (more than {PIXEL_SIZE_TOLERANCE:g} times finer); "
            f"{default} px is {default * pixel_size:.2g} µm here, {harm}. Set it, e.g. " + offer[0]
        )
    return problems


def _patch_pixels(
    dataset: DatasetConfig, plates: Mapping[str, PlateLayout], spec: PatchSpec
) -> tuple[str, float, float] | None:
    """The pixels of ``spec``'s patches, for a message and the patch size checks: ``(where, pixel
    size (µm), zoom)``: the stated pixels of the plate the tracks count (:func:`_tracked_pixel_size`,
    zoom 1), or for a spec with ``pixel_size_um`` the pixels its patches are resampled to (zoom: patch
    pixels per plate pixel). ``None`` where the plate's pixel size is not stated."""
    stated = _tracked_pixel_size(dataset, plates)
    if stated is None:
        return None
    plate, pixel_size = stated
    if spec.pixel_size_um is None:
        return f"pixels of {plate.path}", pixel_size, 1.0
    where = f"pixels its patches are resampled to (pixel_size_um) from the {pixel_size:g} µm of {plate.path}"
    return where, spec.pixel_size_um, pixel_size / spec.pixel_size_um


def _patch_size_warnings(
    name: str, dataset: DatasetConfig, plates: Mapping[str, PlateLayout], config: WorkflowConfig
) -> list[str]:
    """A ``patch_size_yx_px`` the config gives that is narrower, on the dataset's stated pixels, than a
    nucleus (:data:`NUCLEUS_DIAMETER_UM`): the patches hold part of a nucleus, no cell. A warning, not a
    refusal: the nuclei of one's own cells may be smaller than the defaults'. And one left at its default
    on pixels coarser than the defaults' beyond :data:`~dynaclr.config.tracking.PIXEL_SIZE_TOLERANCE`:
    a larger field of view around each cell, not a wrong size. Both offer :func:`_patch_size_offer`'s
    size (the scaled default only where its stored window fits the images). A spec resampling the
    plate (``pixel_size_um``) is checked on the pixels of its patches (:func:`_patch_pixels`)."""
    default = _default_patch_size_px()
    coarse, narrow = [], []
    for spec in dataset.patches:
        sampled = _patch_pixels(dataset, plates, spec)
        if sampled is None:
            continue
        where, pixel_size, zoom = sampled
        nucleus_px = NUCLEUS_DIAMETER_UM / pixel_size
        ratio = pixel_ratio_beyond_tolerance(pixel_size)
        minimum = _backbone_minimum_px(config, spec)
        if ratio is not None and ratio < 1.0 and "patch_size_yx_px" not in spec.model_fields_set:
            coarse.append(
                f"datasets.{name}.patches[{spec.name}].patch_size_yx_px: the default {default} px, meant for "
                f"{DEFAULTS_PIXEL_SIZE_UM:g} µm pixels, is {default * pixel_size:.2g} µm on the "
                f"{pixel_size:g} µm {where} (more than {PIXEL_SIZE_TOLERANCE:g} times coarser): each "
                "patch holds as much of the neighbours as of the cell; for the defaults' field of view set "
                "it, e.g. " + _patch_size_offer(spec, plates, pixel_size, ratio, minimum, zoom)[0]
            )
        if "patch_size_yx_px" in spec.model_fields_set and spec.patch_size_yx_px < nucleus_px:
            phrase, size = _patch_size_offer(
                spec, plates, pixel_size, DEFAULTS_PIXEL_SIZE_UM / pixel_size, minimum, zoom
            )
            narrow.append(
                f"datasets.{name}.patches[{spec.name}].patch_size_yx_px: a patch of "
                f"{spec.patch_size_yx_px} px is {spec.patch_size_yx_px * pixel_size:.2g} µm on the "
                f"{pixel_size:g} µm {where}, narrower "
                f"than a nucleus (~{NUCLEUS_DIAMETER_UM:g} µm, {nucleus_px:.0f} px here): the patches hold "
                "part of a nucleus, not a cell"
                + (
                    f"; for a cell-sized patch set it, e.g. {phrase}"
                    if size is not None and size > spec.patch_size_yx_px
                    else f"; {phrase}"
                )
            )
    return coarse + narrow


def _virtual_stain_patch_lines(
    name: str, dataset: DatasetConfig, plates: Mapping[str, PlateLayout]
) -> tuple[list[str], list[str]]:
    """``(refusals, warnings)`` for a dataset's ``virtual_stain.train.patch_size_px`` (96 px by default,
    meant for :data:`~dynaclr.config.tracking.DEFAULTS_PIXEL_SIZE_UM` pixels: 62 µm) on its stated
    pixels (those of the phase plate the network reads, where :func:`_tracked_pixel_size` finds the
    pixel size stated: the phase config's ``yx_pixel_size_um`` where set), as the patch specs'
    ``patch_size_yx_px`` are checked (:func:`_patch_size_problems`, :func:`_patch_size_warnings`):
    the default on pixels beyond :data:`~dynaclr.config.tracking.PIXEL_SIZE_TOLERANCE` is a warning (on
    0.33 µm pixels each training patch covers 32 µm, half the field meant), a refusal where it is
    narrower than a nucleus (:data:`NUCLEUS_DIAMETER_UM`); a size the config gives narrower than a
    nucleus is a warning. Each offers the default scaled to the pixels, a multiple of
    :data:`~dynaclr.config.virtual_stain.NETWORK_STRIDE_PX` (the U-Net's stride, which the key
    requires) and at most the largest such multiple within the images (training clips it to them:
    :func:`~dynaclr.virtual_stain.train._patch_size`); no warning where training already uses the
    size offered, and no offer where no such multiple within the images is as wide as a nucleus."""
    stain = dataset.virtual_stain
    if stain is None or stain.train is None or _tracked_pixel_size(dataset, plates) is None:
        return [], []
    plate = plates["phase"]  # the network's input
    pixel_size = plate.geometry.pixel_size_um
    key = f"datasets.{name}.virtual_stain.train.patch_size_px"
    default = VirtualStainTrainConfig.model_fields["patch_size_px"].default
    assert isinstance(default, int)
    size, given = stain.train.patch_size_px, "patch_size_px" in stain.train.model_fields_set
    ratio = pixel_ratio_beyond_tolerance(pixel_size)
    nucleus_px = NUCLEUS_DIAMETER_UM / pixel_size
    narrow = size < nucleus_px
    if (given and not narrow) or (not given and ratio is None):
        return [], []
    offer = NETWORK_STRIDE_PX * max(
        1, round(default * DEFAULTS_PIXEL_SIZE_UM / pixel_size / NETWORK_STRIDE_PX)
    )
    how = f"the default scaled to {pixel_size:g} µm (a multiple of {NETWORK_STRIDE_PX}, the network's stride)"
    field = min(plate.shape_tczyx[-2:])
    if offer > field:
        offer = max(NETWORK_STRIDE_PX, field // NETWORK_STRIDE_PX * NETWORK_STRIDE_PX)
        how = f"the largest multiple of {NETWORK_STRIDE_PX} within the {field} px images of {plate.path}"
    fix = f"{how}: patch_size_px: {offer}"
    if offer < nucleus_px:  # clipped to the images: no offer would hold a nucleus either
        fix = (
            f"no patch size can hold one: the {field} px images of {plate.path} hold no multiple of "
            f"{NETWORK_STRIDE_PX} px as wide as a nucleus"
        )
    covers = f"{size} px is {size * pixel_size:.3g} µm on the {pixel_size:g} µm pixels of {plate.path}"
    nucleus = f"narrower than a nucleus (~{NUCLEUS_DIAMETER_UM:g} µm, {nucleus_px:.0f} px here)"
    if given:
        better = (
            fix
            if offer < nucleus_px
            else f"for a patch that holds cells set it, e.g. {fix}"
            if offer > size
            else f"no larger: {fix}"
        )
        return [], [
            f"{key}: a patch of {covers}, {nucleus}: the network learns nuclei from parts of them; {better}"
        ]
    meant = f"meant for {DEFAULTS_PIXEL_SIZE_UM:g} µm pixels ({default * DEFAULTS_PIXEL_SIZE_UM:.3g} µm)"
    if narrow:
        return [
            f"{key}: expected a patch size set for the {pixel_size:g} µm pixels of {plate.path}, found the "
            f"default {default} px, {meant}; {covers}, {nucleus}. "
            + (fix[0].upper() + fix[1:] if offer < nucleus_px else f"Set it, e.g. {fix}")
        ], []
    finer = "finer" if ratio is not None and ratio > 1.0 else "coarser"
    # the size training uses: the default, clipped to the images (virtual_stain.train._patch_size)
    used = size if size <= field else field // NETWORK_STRIDE_PX * NETWORK_STRIDE_PX or field
    if (offer <= used) if finer == "finer" else (offer >= used):  # training already takes the offer
        return [], []
    return [], [
        f"{key}: the default {default} px, {meant}, is {size * pixel_size:.3g} µm on the {pixel_size:g} µm "
        f"pixels of {plate.path} (more than {PIXEL_SIZE_TOLERANCE:g} times {finer}): each training patch "
        + ("holds less of the cells and their surroundings" if finer == "finer" else "holds more neighbours")
        + f" than at the defaults' pixels; for the defaults' field of view set it, e.g. {fix}"
    ]


def _unstated_pixel_warning(
    name: str, dataset: DatasetConfig, plates: Mapping[str, PlateLayout], radii: list[str]
) -> list[str]:
    """One line for a dataset whose pixel size nothing states (:func:`_tracked_pixel_size`): the sizes
    in pixels left at their defaults that act on it (tracking's, the patches', the matching radii
    ``radii``) are not checked against its pixels. A size stated implausible is refused elsewhere."""
    raw = plates["raw"]
    if _tracked_pixel_size(dataset, plates) is not None or "pixel_size_um" in raw.implausible_keys:
        return []
    still = raw.shape_tczyx[0] == 1  # nothing is linked: _tracking_pixel_problems drops the linking keys
    keys = (
        []
        if dataset.tracks is not None
        else [
            f"tracking.{key}"
            for key in dataset.tracking.pixel_defaults_left()
            if not (still and key.startswith(LINKING_SECTIONS))
        ]
    )
    keys += [
        f"patches[{spec.name}].patch_size_yx_px"
        for spec in dataset.patches
        if "patch_size_yx_px" not in spec.model_fields_set
    ]
    stain = dataset.virtual_stain
    if stain is not None and stain.train is not None and "patch_size_px" not in stain.train.model_fields_set:
        keys.append("virtual_stain.train.patch_size_px")
    keys += radii
    if not keys:
        return []
    trackmate = (
        " (the calibration of the TrackMate XML files is not read at planning)"
        if dataset.tracks is not None and dataset.tracks.format == "trackmate"
        else ""
    )
    return [
        f"datasets.{name}.plate: {raw.path} states no pixel size (no scale with a unit in its metadata, no "
        f"datasets.{name}.acquisition.pixel_size_um{trackmate}): the sizes in pixels left at their defaults, "
        f"meant for {DEFAULTS_PIXEL_SIZE_UM:g} µm pixels, are not checked against its pixels "
        f"({', '.join(keys)}); set datasets.{name}.acquisition.pixel_size_um to check them"
    ]


def _tracking_slice_problems(
    name: str, dataset: DatasetConfig, plates: Mapping[str, PlateLayout]
) -> list[str]:
    """``tracking.maps.z_slice_range`` lies within the stacks of the plate tracking reads (the raw plate,
    or the virtual-staining plate, which has the phase plate's depth: one slice for 2d phase); the track
    job refused it only after phase and virtual staining had run."""
    maps = dataset.tracking.maps
    plate = plates.get(dataset.tracking_input.source)
    if dataset.tracks is not None or maps.z_slice_range is None or plate is None:
        return []
    n_z = plate.shape_tczyx[2]
    try:
        maps.z_slices(n_z)
    except ValueError:
        one = (
            " (a 2d phase plate, and the virtual stain predicted from it, has one slice)"
            if dataset.phase is not None and dataset.phase.mode == "2d" and plate is not plates["raw"]
            else ""
        )
        return [
            f"datasets.{name}.tracking.maps.z_slice_range: expected a range within the {n_z} slice(s) of the "
            f"tracking input {plate.path}{one}, found {list(maps.z_slice_range)}; use a stop <= {n_z}, or "
            "null for every slice"
        ]
    return []


def _tracked_pixel_size(
    dataset: DatasetConfig, plates: Mapping[str, PlateLayout]
) -> tuple[PlateLayout, float] | None:
    """The plate whose pixels the tracks' positions count (the tracking input; the raw plate for
    imported tracks) and its pixel size (µm), where stated: by the raw plate's metadata or
    ``acquisition.pixel_size_um``, or by the phase config's ``yx_pixel_size_um``, for a plate the
    phase stage writes and for the raw plate, on the same grid (the phase plate is the raw plate's
    Y x X, so the key states the raw plate's pixels too). ``None`` where nothing states it (or only
    axes without a unit: a guess) or the stated size is implausible (refused by
    :func:`_plausibility_problems`). Patches are cut and annotations and ground truth matched at those
    positions: the sizes in pixels of the defaults (tuned for
    :data:`~dynaclr.config.tracking.DEFAULTS_PIXEL_SIZE_UM`) are checked against this size."""
    source = "raw" if dataset.tracks is not None else dataset.tracking_input.source
    if source not in plates:
        return None
    stated = stated_pixel_size_um(dataset, source, plates)
    return None if stated is None else (plates[source], stated)


def stated_pixel_size_um(
    dataset: DatasetConfig, source: str, plates: Mapping[str, PlateLayout]
) -> float | None:
    """The pixel size (µm) of the plate of source ``source`` (``raw``, ``phase``, ``virtual_stain``;
    :func:`source_layouts`) as the stages use it, where stated: by the raw plate's metadata or
    ``acquisition.pixel_size_um`` (:meth:`~dynaclr.io.plate.PlateSampling.stated_values`), or by the
    phase config's ``yx_pixel_size_um``, for a plate the phase stage writes (the key's size) and for
    a raw plate stating none (the phase plate is the raw plate's Y x X, so the key states its pixels
    too). ``None`` where nothing states it (or only axes without a unit: a guess) or the raw plate's
    stated size is implausible (refused by :func:`_plausibility_problems`). One rule for the
    tracked pixels (:func:`_tracked_pixel_size`) and those a patch spec resamples
    (:func:`resampled_plate_pixel_size_um`)."""
    raw = plates["raw"]
    if "pixel_size_um" in raw.implausible_keys:
        return None
    override = dataset.phase.yx_pixel_size_um if dataset.phase is not None else None
    raw_states = raw.stated_values()["pixel_size_um"] is not None
    if not raw_states and override is None:
        return None
    plate = plates[source]
    if plate is raw and not raw_states:
        return override  # the raw plate's pixels, as the phase stage reads them
    return plate.geometry.pixel_size_um


def tracked_pixel_size_um(name: str, dataset: DatasetConfig, raw: PlateLayout, results: str) -> float | None:
    """The pixel size (µm) of dataset ``name``'s tracked positions where stated
    (:func:`_tracked_pixel_size`; ``raw`` the plate as its metadata describes it, supplied by
    ``acquisition`` here), else None: an annotation table's ``y, x`` in micrometres
    (``annotations.position_unit: um``) are divided by it, and without it the import cannot try
    reading a table in pixels as micrometres."""
    plates = source_layouts(name, dataset, supplied_layout(dataset, raw), results)
    stated = _tracked_pixel_size(dataset, plates)
    return None if stated is None else stated[1]


def _tracking_pixel_problems(
    name: str, dataset: DatasetConfig, plates: Mapping[str, PlateLayout]
) -> list[str]:
    """Tracking's pixel-valued keys left at their defaults (tuned for pixels of
    :data:`~dynaclr.config.tracking.DEFAULTS_PIXEL_SIZE_UM`) on a tracking input whose stated pixels
    differ from those by more than :data:`~dynaclr.config.tracking.PIXEL_SIZE_TOLERANCE`
    (:meth:`~dynaclr.config.tracking.TrackingConfig.unscaled_defaults`): on 0.2 µm pixels every nucleus
    (~1960 px) exceeded max_area_px 450 and ultrack's hierarchy cut it into pieces (14-18 detections a
    frame for 6 cells), with exit 0. A pixel size stated by nothing (or read from axes without a unit)
    is not checked: the message would rest on a guess. On still images (one frame) the linking and
    gap-closing keys do nothing and are not checked; in 3D ``maps.smoothing_sigma_px`` blurs Z slices
    too and is named without a scaled value; where the default largest nucleus covers under
    :data:`~dynaclr.config.tracking.MIN_SEGMENTABLE_AREA_PX` pixels, no values are offered: nuclei
    cannot be segmented at that sampling."""
    stated = _tracked_pixel_size(dataset, plates)
    if dataset.tracks is not None or stated is None:
        return []
    plate, pixel_size = stated
    unscaled = dataset.tracking.unscaled_defaults(pixel_size)
    if plate.shape_tczyx[0] == 1:  # still images: nothing is linked
        unscaled = {key: values for key, values in unscaled.items() if not key.startswith(LINKING_SECTIONS)}
    if not unscaled:
        return []
    found = ", ".join(f"{key} {default:g}" for key, (default, _) in unscaled.items())
    head = (
        f"datasets.{name}.tracking: expected pixel-valued keys set for the {pixel_size:g} µm pixels of the "
        f"tracking input {plate.path}, found the defaults, meant for {DEFAULTS_PIXEL_SIZE_UM:g} µm pixels "
        f"(more than {PIXEL_SIZE_TOLERANCE:g} times larger or smaller): {found}"
    )
    nucleus_px = scaled_default_max_area_px(pixel_size)
    if nucleus_px < MIN_SEGMENTABLE_AREA_PX:
        return [
            f"{head}; at {pixel_size:g} µm a nucleus covers about {nucleus_px:.2g} pixel(s) (fewer than "
            f"{MIN_SEGMENTABLE_AREA_PX}): nuclei cannot be segmented at this sampling. Image the nuclei with "
            f"finer pixels, or import tracks made otherwise (datasets.{name}.tracks)"
        ]
    sections: dict[str, list[str]] = {}
    for key, (_, value) in unscaled.items():
        section, field = key.split(".")
        if value is not None:
            sections.setdefault(section, []).append(f"{field}: {value:g}")
    snippet = ", ".join(f"{section}: {{{', '.join(fields)}}}" for section, fields in sections.items())
    notes = []
    if dataset.tracking.maps.z_handling == "3d":
        notes.append("areas count voxels in 3d: multiply them by the slices a nucleus spans")
        if "maps.smoothing_sigma_px" in unscaled:
            notes.append(
                "maps.smoothing_sigma_px also counts z slices in 3d: choose it for the z step, "
                "not scaled here"
            )
    segmentation = dataset.tracking.segmentation
    if "segmentation.min_area_px" in unscaled and "max_area_px" in segmentation.model_fields_set:
        smallest = TrackingConfig().unscaled_defaults(pixel_size)["segmentation.min_area_px"][1]
        if smallest is not None and segmentation.max_area_px <= smallest:
            notes.append(
                f"the given segmentation.max_area_px {segmentation.max_area_px} is not above the smallest "
                f"nucleus scaled to {pixel_size:g} µm ({smallest:g} px): min_area_px is offered just below "
                "it, check max_area_px"
            )
    note = f" ({'; '.join(notes)})" if notes else ""
    linked = plate.shape_tczyx[0] > 1
    if pixel_size < DEFAULTS_PIXEL_SIZE_UM:  # nuclei span more pixels than the defaults expect
        harm, links = "nuclei would be cut into pieces", " and links missed"
    else:
        harm, links = "nuclei would be missed (below min_area_px) or merged", " and far cells linked"
    harm += links if linked else ""
    block = f"tracking: {{{snippet}}}{note}"
    return [f"{head}; {harm}. Set them, e.g. the defaults scaled to {pixel_size:g} µm: {block}"]


def _stem_problems(
    key: str,
    training: ContrastiveModelConfig,
    dataset: str,
    spec: PatchSpec,
    plates: Mapping[str, PlateLayout],
) -> list[str]:
    """A z-fold stem's ``stem_kernel_z`` divides the depth of the patches (``spec``) the model reads of
    ``dataset``, the slices the spec keeps of its source plates: training (or, for a model from a file,
    embedding) refused it only after phase, virtual staining, tracking and patch extraction had run."""
    if training.stem != "z_fold" or training.stem_kernel_z == 1:
        return []
    depths = {plates[channel.source].shape_tczyx[2] for channel in spec.channels if channel.source in plates}
    if len(depths) != 1:
        return []  # sources of several depths: _patch_window_problems names it
    try:
        kept = spec.z_slices(depths.pop())
    except ValueError:
        return []  # _patch_window_problems names it
    depth = kept.stop - kept.start
    if depth % training.stem_kernel_z == 0:
        return []
    return [
        f"{key}.stem_kernel_z: expected a kernel that divides the depth of the patches of datasets.{dataset}"
        f".patches[{spec.name}] "
        f"({depth} slice(s)), found {training.stem_kernel_z}; use a divisor of {depth} (1 always fits), or "
        "keep another number of slices (z_window_slices, z_range)"
    ]


def _tau_problems(key: str, training: ContrastiveModelConfig, raws: Mapping[str, PlateLayout]) -> list[str]:
    """A time-aware ``tau`` of a model, against the movies of the datasets it trains on (``raws``): each
    has a second frame, a ``tau_minutes`` is a whole number of frames of every one (one model, one tau:
    checked together, so the values advised fit them all), and ``tau`` leaves at least one pair of
    frames ``(t, t + tau')`` in each movie (cell-aware sampling needs no second frame: its positive is
    the anchor's own patch, its negatives other lineages, so it trains on still images as classical
    sampling does)."""
    if training.sampling != "time_aware":
        return []
    if training.tau_frames is not None:
        key, asked = f"{key}.tau_frames", f"{training.tau_frames} frames"
    else:
        assert training.tau_minutes is not None
        key, asked = f"{key}.tau_minutes", f"{training.tau_minutes:g} min"
    problems = [
        f"{key}: expected a movie of at least 2 frames for sampling 'time_aware' (dataset {dataset!r} "
        f"has {raw.n_frames} frame in {raw.path}), found {asked}; use sampling 'classical' for still images"
        for dataset, raw in raws.items()
        if raw.n_frames < 2
    ]
    movies = {dataset: raw for dataset, raw in raws.items() if raw.n_frames >= 2}
    if training.tau_minutes is None:
        taus = {dataset: (training.tau_frames or 0, asked) for dataset in movies}
    else:
        # a movie without an interval (or with a guess) to count tau_minutes in: _geometry_problems names it
        counted = {
            dataset: raw
            for dataset, raw in movies.items()
            if raw.stated_values()["time_interval_minutes"] is not None and raw.time_interval_minutes > 0
        }
        inexact = _inexact_tau_problem(key, training.tau_minutes, counted)
        if inexact is not None:
            return [*problems, inexact]
        taus = {}
        for dataset, raw in counted.items():
            tau, _ = tau_minutes_in_frames(training.tau_minutes, raw.time_interval_minutes)
            interval = f"{raw.time_interval_minutes:g} min interval"
            taus[dataset] = (tau, f"{asked} = {tau} frames at the plate's {interval}")
    for dataset, (tau, given) in taus.items():
        n_frames = movies[dataset].n_frames
        if max(1, tau - training.tau_tolerance_frames) > n_frames - 1:
            problems.append(
                f"{key}: expected a tau of at most {n_frames - 1 + training.tau_tolerance_frames} frames "
                f"(dataset {dataset!r} has {n_frames} frames in {movies[dataset].path}, "
                f"tau_tolerance_frames={training.tau_tolerance_frames}), found {given}: no cell can be "
                "paired with itself tau later"
            )
    return problems


def _inexact_tau_problem(key: str, tau_minutes: float, movies: Mapping[str, PlateLayout]) -> str | None:
    """``tau_minutes`` is not a whole number of frames (at least one) of every movie of ``movies`` (the
    training datasets with a stated interval): the line refusing it, advising the nearest values that
    are one of all of them (:func:`~dynaclr.config.training.common_tau_minutes`), and ``tau_frames`` only
    where the intervals agree (a pooled ``tau_frames`` is refused otherwise: ``transfer_checks``)."""
    intervals = {dataset: raw.time_interval_minutes for dataset, raw in movies.items()}
    if not intervals or common_tau_minutes(tau_minutes, list(intervals.values())) == [tau_minutes]:
        return None
    several = len(intervals) > 1

    def frames(counts: Mapping[str, float]) -> str:
        return ", ".join(
            f"{n:g} frame{'s' if n != 1 else ''}{f' of {dataset!r}' if several else ''}"
            for dataset, n in counts.items()
        )

    def whole(minutes: float) -> str:
        return frames({d: tau_minutes_in_frames(minutes, i)[0] for d, i in intervals.items()})

    values = common_tau_minutes(tau_minutes, list(intervals.values()))
    advice = (
        "use " + " or ".join(f"{v:g} min ({whole(v)})" for v in values)
        if values
        else f"train a model per interval (no value up to {COMMON_TAU_SEARCH_FRAMES} frames past it is one "
        "of every movie)"
    )
    first = next(iter(intervals.values()))
    agree = not any(sampling_differs(interval, first) for interval in intervals.values())
    return (
        f"{key}: expected a whole number of the "
        + " and of the ".join(
            f"{interval:g} min frames of dataset {dataset!r} (from {movies[dataset].path})"
            for dataset, interval in intervals.items()
        )
        + f", within {TAU_MINUTES_TOLERANCE:.0%} of one frame interval, found {tau_minutes:g} min = "
        + frames({d: tau_minutes / i for d, i in intervals.items()})
        + f"; {advice}"
        + (", or tau_frames" if agree else "")
    )


def _frames(raw: PlateLayout, dataset: str) -> str:
    """How many frames dataset ``dataset``'s movie has, and where."""
    return f"dataset {dataset!r} has {raw.n_frames} frame{'s' if raw.n_frames != 1 else ''} in {raw.path}"


def _pseudotime_problems(config: WorkflowConfig, raws: Mapping[str, PlateLayout]) -> list[str]:
    """DTW (rule ``align_pseudotime``, after tracking, training and embedding) can find its reference
    and queries in the movie of every dataset it aligns (:meth:`WorkflowConfig.aligned_datasets`: of
    the (model, dataset) pairs it aligns; a movie aligned only on predictions fitted elsewhere and too
    short is not aligned, and so not refused here).

    A lineage series has at most one frame per time point, so a movie of ``T`` frames cannot hold an
    automatic reference of ``reference_frames_before_onset + reference_frames_after_onset`` frames, a
    query of ``min_query_frames`` frames, nor an explicit reference outside its frames."""
    pseudotime = config.analysis.pseudotime
    key = "analysis.pseudotime"
    referenced = config.explicit_reference_dataset()
    problems = []
    for name in config.aligned_datasets(frame_counts(raws), raws):
        raw = raws[name]
        n_frames = raw.n_frames
        reference = pseudotime.reference
        if reference is not None and name == referenced:
            if reference.onset_t >= n_frames or min(reference.t_stop, n_frames) - reference.t_start < 2:
                problems.append(
                    f"{key}.reference: expected t_start, onset_t < t_stop selecting >= 2 frames of the movie "
                    f"including the onset (frames 0..{n_frames - 1}: {_frames(raw, name)}), found t_start="
                    f"{reference.t_start}, onset_t={reference.onset_t}, t_stop={reference.t_stop}; choose "
                    "frames of a track of the movie"
                )
        else:
            before, after = pseudotime.reference_frames_before_onset, pseudotime.reference_frames_after_onset
            if before + after > n_frames:
                problems.append(
                    f"{key}.reference_frames_before_onset/reference_frames_after_onset: expected a reference "
                    f"window of at most {n_frames} frames ({_frames(raw, name)}; the automatic reference is "
                    f"a lineage with that many frames around its {pseudotime.event} event), found "
                    f"{before} + {after} = {before + after}; lower them so that they add up to at most "
                    f"{n_frames}, or set {key}.reference"
                )
        if pseudotime.min_query_frames > n_frames > 1:  # one frame: the reference's problem says it all
            problems.append(
                f"{key}.min_query_frames: expected at most {n_frames} frames ({_frames(raw, name)}: no "
                f"lineage is longer), found {pseudotime.min_query_frames}; lower it to at most {n_frames}"
            )
    return problems


def _pseudotime_interval_warnings(config: WorkflowConfig, raws: Mapping[str, PlateLayout]) -> list[str]:
    """``analysis.pseudotime`` counts frames (the automatic reference's window, ``min_query_frames``,
    ``max_interpolated_gap_frames``), one value for every dataset DTW aligns
    (:meth:`WorkflowConfig.aligned_datasets`): on datasets whose stated frame intervals differ, its
    window spans other times (7 frames: 3.5 h every 30 min, 35 min every 5 min), which nothing else
    said. One line where two aligned datasets' stated intervals differ (an interval nothing states is
    left out, never guessed), naming each dataset's interval, its reference window (an explicit
    ``reference``'s ``t_start``..``t_stop`` on its dataset) and shortest query (with ``method: sliding``
    at least the reference's length) in time, and where the onset errors are compared in hours
    (``dtw_accuracy.csv``)."""
    pseudotime = config.analysis.pseudotime
    intervals = {
        name: minutes
        for name in config.aligned_datasets(frame_counts(raws), raws)
        if (minutes := raws[name].stated_values()["time_interval_minutes"]) is not None
    }
    first = next(iter(intervals.values()), None)
    if first is None or not any(sampling_differs(minutes, first) for minutes in intervals.values()):
        return []
    window = pseudotime.reference_frames_before_onset + pseudotime.reference_frames_after_onset
    explicit = pseudotime.reference

    def span(frames: int, minutes: float) -> str:
        total = frames * minutes
        return f"{total / 60:g} h" if total >= 60 else f"{total:g} min"

    def described(name: str, minutes: float) -> str:
        """The dataset's reference window and shortest query in time: an explicit reference's
        t_start..t_stop on its dataset (the others choose theirs automatically); with method sliding
        no query shorter than the reference is aligned."""
        frames = window
        text = f"window {span(window, minutes)}"  # the automatic reference's
        if explicit is not None and explicit.dataset in (None, name):
            frames = explicit.t_stop - explicit.t_start
            text = (
                f"reference t_start {explicit.t_start} to t_stop {explicit.t_stop}: {frames} frames, "
                f"{span(frames, minutes)}"
            )
        shortest = pseudotime.min_query_frames
        if pseudotime.method == "sliding":
            shortest = max(shortest, frames)
        return f"{text}; queries of at least {span(shortest, minutes)}"

    listed = ", ".join(
        f"{name!r} {minutes:g} min ({described(name, minutes)})" for name, minutes in intervals.items()
    )
    return [
        f"analysis.pseudotime counts frames in every dataset DTW aligns, whose frame intervals differ: "
        f"reference_frames_before_onset + reference_frames_after_onset = {window} frames, min_query_frames "
        f"{pseudotime.min_query_frames}, max_interpolated_gap_frames "
        f"{pseudotime.max_interpolated_gap_frames} mean {listed}; each dataset is aligned on a "
        "window of another duration. Compare their onset errors in hours (dtw_accuracy.csv "
        "abs_onset_error_hours, the results table), not frames; to align them on one duration, run each "
        "interval in a config of its own with these keys scaled to it"
    ]


#: What a ``representation`` needs of the embeddings, and which models lack it (by name).
_MATRIX_NEEDS: dict[str, tuple[str, str]] = {
    "projections": (
        "engineered_features",
        "the engineered-features baseline has no projection head); use 'features' or leave "
        "engineered_features out of analysis.baselines",
    ),
    "standardized": (
        "encoders",
        "'standardized' is the engineered-features baseline's z-scored X only); use 'features'",
    ),
}


def _representation_problems(
    config: WorkflowConfig, n_frames: Mapping[str, int], raws: Mapping[str, PlateLayout]
) -> list[str]:
    """Every analysis reads its ``representation`` from the embeddings of every model embedding a
    dataset it analyses (:meth:`WorkflowConfig.models_embedding`): the engineered-features baseline
    stores no projections, and only it stores 'standardized' (:func:`dynaclr.embeddings.open_representation`
    raised a KeyError in the job, after everything was embedded)."""
    analysis = config.analysis
    embedded = sorted(config.datasets_embedded())
    # DTW reads the pairs it aligns only (a baseline whose transfer was skipped is not one of them)
    aligned = config.aligned_pairs(n_frames, raws)
    readers = {
        "analysis.temporal_metrics.representation": (
            analysis.temporal_metrics.representation,
            config.time_lapse_datasets(n_frames),
        ),
        "analysis.projections.representation": (analysis.projections.representation, embedded),
        "analysis.figures.distances_representation": (analysis.figures.distances_representation, embedded),
        "analysis.classification.representation": (
            analysis.classification.representation,
            config.classified_datasets(),
        ),
        "analysis.pseudotime.representation": (
            analysis.pseudotime.representation,
            sorted({dataset for _, dataset in aligned}),
        ),
        "analysis.interpretation.representation": (
            analysis.interpretation.representation,
            embedded if analysis.interpretation.enabled else [],
        ),
    }
    problems = []
    for key, (representation, datasets) in readers.items():
        if representation not in _MATRIX_NEEDS:
            continue
        lacking_kind, reason = _MATRIX_NEEDS[representation]
        lacking: dict[str, None] = {}
        where: list[str] = []
        for dataset in datasets:
            readers_of = config.models_embedding(dataset)
            if key == "analysis.pseudotime.representation":
                readers_of = [model for model, name in aligned if name == dataset]
            models = [
                model
                for model in readers_of
                if (model == "engineered_features") == (lacking_kind == "engineered_features")
            ]
            if models:
                lacking.update(dict.fromkeys(models))
                where.append(dataset)
        if lacking:
            named = f"dataset {where[0]!r}" if len(where) == 1 else f"datasets {where}"
            problems.append(
                f"{key}: expected a matrix every model embedding {named} stores, found {representation!r}, "
                f"which {sorted(lacking)} do not store ({reason}"
            )
    return problems


@dataclasses.dataclass(frozen=True)
class _Matching:
    """One analysis that brings annotations or ground-truth cells onto the tracked cells
    (:func:`dynaclr.embeddings.match_observations_to_cells`): its config section, how it matches
    (``on``), the datasets it matches (``datasets``: those whose annotations or ground truth it reads),
    what is matched and, as a clause, what it does with them."""

    section: str
    on: str
    datasets: list[str]
    matched: str
    what: str


def _matchings(
    config: WorkflowConfig, n_frames: Mapping[str, int], raws: Mapping[str, PlateLayout]
) -> list[_Matching]:
    """The analyses that match annotations or ground truth to tracked cells, with the datasets each
    matches: the classifiers the annotations of the datasets they train on and predict (drawn from
    ground truth, or a table: the lineage's are the tracks' own cells), DTW pseudo-time (and the feature
    trajectories, which match as it did), the figures, occlusion (always by position: the infection
    onset, where it draws the infection task with the dataset's own infection classifier) and
    distillation the ground truth of simulated datasets."""
    analysis = config.analysis
    embedded = config.datasets_embedded()
    distillation = analysis.distillation
    classified = set(config.classified_datasets())
    apply_to = analysis.classification.apply_to
    # annotations of the datasets classifiers train on, and of those they predict (scored where labelled)
    classifiers_read = (
        (classified | (embedded if apply_to is None else set(apply_to))) if classified else set()
    )
    simulated = {name for name, dataset in config.datasets.items() if dataset.is_simulated}
    annotated = {
        name
        for name in classifiers_read
        if config.datasets[name].annotations.source == "table"
        or (name in simulated and config.datasets[name].annotations.source == "ground_truth")
    }
    return [
        _Matching(
            "classification",
            analysis.classification.match_annotations_on,
            sorted(annotated),
            "annotations",
            "annotations are drawn from",
        ),
        _Matching(
            "pseudotime",
            analysis.pseudotime.match_truth_on,
            [name for name in config.aligned_datasets(n_frames, raws) if name in simulated],
            "ground-truth cells",
            "DTW pseudo-time is scored against",
        ),
        _Matching(
            "figures",
            analysis.figures.match_truth_on,
            sorted(embedded & simulated),
            "ground-truth cells",
            "figures are coloured by",
        ),
        _Matching(
            "occlusion",
            "position",
            sorted(name for name in config.occlusion_datasets() if config.occlusion_matches_truth(name)),
            "ground-truth cells",
            "occlusion maps draw the infected cells of",
        ),
        _Matching(
            "distillation",
            distillation.match_truth_on,
            [distillation.dataset]
            if distillation.enabled and distillation.dataset and distillation.dataset in simulated
            else [],
            "ground-truth cells",
            "distilled student is scored against",
        ),
    ]


def _track_matching_problems(
    config: WorkflowConfig, n_frames: Mapping[str, int], raws: Mapping[str, PlateLayout]
) -> list[str]:
    """Matching on 'track' (same ``fov_name, track_id, t``,
    :func:`dynaclr.embeddings.match_observations_to_cells`) of a simulated dataset tracked by ultrack:
    its ground truth, and the annotations drawn from it, carry the simulator's track ids, its tracks
    ultrack's, so the match paired unrelated cells and every job exited 0. Tracks of one's own
    (``tracks``) may be the ground truth's: not refused."""
    ultrack_simulated = {
        name
        for name, dataset in config.datasets.items()
        if dataset.is_simulated and not dataset.imports_tracks
    }
    problems = []
    for matching in _matchings(config, n_frames, raws):
        classification = matching.section == "classification"
        key = "match_annotations_on" if classification else "match_truth_on"
        problems += [
            f"analysis.{matching.section}.{key}: expected 'position' for dataset {name!r}, found 'track': "
            f"its {matching.what} the simulator's ground truth, whose track ids are not those of its tracks "
            "(ultrack's), so matching on track ids pairs unrelated cells; use 'position'"
            for name in matching.datasets
            if matching.on == "track"
            and name in ultrack_simulated
            and not (classification and config.datasets[name].annotations.source != "ground_truth")
        ]
    return problems


def _default_radii(
    config: WorkflowConfig, n_frames: Mapping[str, int], raws: Mapping[str, PlateLayout]
) -> list[_Matching]:
    """The analyses of :func:`_matchings` matching on 'position' whose ``max_match_distance_px`` the
    config does not give (``analysis.figures``' given where ``analysis.pseudotime``'s is: it follows it),
    and the classifiers' matching on 'track' too: rule ``import_annotations`` then checks a table's
    ``y, x`` against the cells its track ids name within that radius
    (:func:`~dynaclr.classify.annotation_table.check_position_reading`)."""
    pseudotime_given = "max_match_distance_px" in config.analysis.pseudotime.model_fields_set
    return [
        matching
        for matching in _matchings(config, n_frames, raws)
        if (matching.on == "position" or matching.section == "classification")
        and "max_match_distance_px" not in getattr(config.analysis, matching.section).model_fields_set
        and not (matching.section == "figures" and pseudotime_given)
    ]


def _match_radius_problems(
    config: WorkflowConfig,
    n_frames: Mapping[str, int],
    raws: Mapping[str, PlateLayout],
    plates_of: Mapping[str, Mapping[str, PlateLayout]],
    annotation_files: Mapping[str, Sequence[Path]],
) -> list[str]:
    """A ``max_match_distance_px`` left at its default (6 px, tuned for pixels of
    :data:`~dynaclr.config.tracking.DEFAULTS_PIXEL_SIZE_UM`) matching on 'position' on a dataset whose
    stated pixels (:func:`_tracked_pixel_size`) differ from those by more than
    :data:`~dynaclr.config.tracking.PIXEL_SIZE_TOLERANCE`: on 0.2 µm pixels 6 px is 1.2 µm, and 94 % of
    annotations clicked on a nucleus (radius ~24 px) matched no cell, their labels lost with exit 0;
    on 1.3 µm pixels it is 7.8 µm, past a nucleus's radius, where a cell the tracker missed takes a
    neighbour's. A radius the config gives is used as it is; ``analysis.figures``' follows
    ``analysis.pseudotime``'s where not given, and is named only for datasets pseudotime does not
    match. The classifiers matching on 'track' read the radius only in rule ``import_annotations``,
    for a table giving ``y, x`` (each row's distance from the cell its track id names): on finer
    pixels a correct table's clicks lie farther than the default and it would be refused; on coarser
    ones the default only loosens that check (the labels follow the track ids), so it is not named."""
    problems = []
    refused: set[str] = set()  # datasets whose pseudotime radius is refused: the figures' follows it
    for matching in _default_radii(config, n_frames, raws):
        section = getattr(config.analysis, matching.section)
        for name in matching.datasets:
            stated = _tracked_pixel_size(config.datasets[name], plates_of[name])
            ratio = None if stated is None else pixel_ratio_beyond_tolerance(stated[1])
            if stated is None or ratio is None or (matching.section == "figures" and name in refused):
                continue
            by_track = matching.section == "classification" and matching.on == "track"
            from_table = config.datasets[name].annotations.source == "table"
            if (
                matching.section == "classification"
                and (from_table or by_track)
                and not (from_table and _annotation_table_gives_positions(annotation_files.get(name, ())))
            ):
                # no y, x: every annotation sits at its tracked cell, matched at distance 0 (by track,
                # drawn annotations are not imported: the radius is not read)
                continue
            if by_track and ratio <= 1.0:
                # coarser pixels: the default radius only loosens the import's check of the ids (the
                # labels follow the track ids, not y, x): no result changes, nothing to refuse
                continue
            if matching.section == "pseudotime":
                refused.add(name)
            plate, pixel_size = stated
            radius = section.max_match_distance_px
            if by_track:
                harm = (
                    "annotations whose y, x lie farther than that from the cell their track id names are "
                    "taken for ids of another tracking (most: the import refuses the table)"
                )
            elif ratio > 1.0:  # finer pixels: the radius is shorter than the defaults mean
                harm = (
                    f"{matching.matched} farther than that from their cell's centre match none (labels lost)"
                )
            else:
                harm = (
                    f"{matching.matched} whose own cell was not tracked match a neighbour, taking its label"
                )
            silent = "" if by_track and ratio > 1.0 else ", with exit 0"  # a refusal is not silent
            scaled = float(f"{radius * ratio:.3g}")
            also = (
                " (analysis.figures and the feature trajectories follow it)"
                if matching.section == "pseudotime"
                else ""
            )
            problems.append(
                f"analysis.{matching.section}.max_match_distance_px: expected a radius set for the "
                f"{pixel_size:g} µm pixels of dataset {name!r} ({plate.path}), found the default "
                f"{radius:g} px, meant for {DEFAULTS_PIXEL_SIZE_UM:g} µm pixels (more than "
                f"{PIXEL_SIZE_TOLERANCE:g} times larger or smaller); {radius:g} px is "
                f"{radius * pixel_size:.2g} µm here: {harm}{silent}. Set it{also}, e.g. the default "
                f"scaled to {pixel_size:g} µm: analysis: {{{matching.section}: "
                f"{{max_match_distance_px: {scaled:g}}}}}"
            )
    return problems


def frame_counts(raws: Mapping[str, PlateLayout]) -> dict[str, int]:
    """Each dataset's frames, as :meth:`WorkflowConfig.still_datasets` takes them."""
    return {name: raw.n_frames for name, raw in raws.items()}


def _lineage_label_problems(config: WorkflowConfig, raws: Mapping[str, PlateLayout]) -> list[str]:
    """The division labels drawn from the lineage where they train classifiers have two classes (an
    interphase frame lies at least ``interphase_margin_frames`` frames before its track's last frame).
    (The analyses over time are not planned for still images: :meth:`WorkflowConfig.still_datasets`.)"""
    problems: list[str] = []
    classified = set(config.classified_datasets())
    if "division" not in config.analysis.classification.tasks:
        return problems
    for name in sorted(classified):
        annotations, raw = config.datasets[name].annotations, raws[name]
        if annotations.division_from_lineage and annotations.interphase_margin_frames >= raw.n_frames:
            problems.append(
                f"datasets.{name}.annotations.interphase_margin_frames: expected at most {raw.n_frames - 1} "
                f"frames ({_frames(raw, name)}; a frame that far from its track's last frame is "
                f"'interphase', the division classifier's other class), found "
                f"{annotations.interphase_margin_frames}; lower it"
            )
    return problems


def _qualified_fovs(entries: list[str] | None, datasets: list[str]) -> set[tuple[str, str]]:
    """``(dataset, fov)`` of the FOVs a model's ``validation_fovs`` / ``excluded_fovs`` name
    (:func:`~dynaclr.config.training.resolve_fov_entries`; an entry naming none is reported by
    :func:`_training_fov_problems`)."""
    return {(named.dataset, named.fov) for named in resolve_fov_entries("", entries, datasets)[0]}


def _validation_problems(
    key: str, training: ContrastiveModelConfig, raws: Mapping[str, PlateLayout]
) -> list[str]:
    """The FOV split leaves a training FOV in the plates of the datasets ``raws`` (a model's
    ``train_datasets``) once ``excluded_fovs`` are left out, as
    :func:`dynaclr.training.sampling.split_pooled_fovs` will need; no FOV is both excluded and a
    validation FOV.

    The plates' FOVs are an upper bound of the FOVs with patches, so a split refused here would be
    refused by training too (after every upstream stage ran)."""
    datasets = list(raws)
    excluded = _qualified_fovs(training.excluded_fovs, datasets)
    left = {
        dataset: [fov for fov in raw.fov_names if (dataset, fov) not in excluded]
        for dataset, raw in raws.items()
    }
    plates = ", ".join(str(raw.path) for raw in raws.values())
    if excluded and not any(left.values()):
        return [
            f"{key}.excluded_fovs: expected a list that leaves a FOV to train on, found every FOV of "
            f"{plates}; remove some from the list"
        ]
    if training.validation_fovs is None:
        fraction = training.validation_fraction
        problems = []
        for dataset, raw in raws.items():
            n_fovs = len(left[dataset])
            if not n_fovs:
                continue
            held_out = validation_fov_count(n_fovs, fraction)
            if held_out >= n_fovs:
                kept = f" left by {key}.excluded_fovs" if len(raw.fov_names) > n_fovs else ""
                problems.append(
                    f"{key}.validation_fraction: expected a fraction that leaves a training FOV (dataset "
                    f"{dataset!r} has {n_fovs} FOV(s){kept} in {raw.path}, of which it would hold out "
                    f"{held_out} for validation), found {fraction}; lower it, set 0 to train without "
                    "validation, or list validation_fovs"
                )
        return problems
    chosen = _qualified_fovs(training.validation_fovs, datasets)
    both = sorted(qualified_fov_name(d, f) if len(datasets) > 1 else f for d, f in chosen & excluded)
    if both:
        return [
            f"{key}.validation_fovs: expected FOVs that are not also in {key}.excluded_fovs (an excluded "
            f"FOV is neither trained nor validated on), found {both} in both; remove them from one list"
        ]
    every = {(dataset, fov) for dataset, fovs in left.items() for fov in fovs}
    if not every <= chosen:
        return []
    what = "every FOV not excluded" if excluded else "every FOV"
    return [
        f"{key}.validation_fovs: expected a list that leaves a FOV for training, found {what} of "
        f"{plates}; remove one from the list, or set validation_fovs: null and a validation_fraction"
    ]


def _acquisition_problems(name: str, dataset: DatasetConfig, raw: PlateLayout) -> list[str]:
    """The plate's time interval and pixel sizes agree with ``acquisition`` (the keys given) where its
    metadata states them; where it does not, ``raw`` (:func:`supplied_layout`) holds the config's value."""
    acquisition = dataset.acquisition
    found = {
        "time_interval_minutes": raw.time_interval_minutes,
        "pixel_size_um": raw.geometry.pixel_size_um,
        "z_step_um": raw.geometry.z_step_um,
    }
    problems = []
    for key, metadata in found.items():
        expected = getattr(acquisition, key)
        if expected is None or key in raw.supplied:
            continue
        if abs(metadata - expected) <= acquisition.relative_tolerance * expected:
            continue
        source = (
            "its time scale, and its time_interval_minutes attribute where it has one: the two must agree"
            if key == "time_interval_minutes"
            else "its scale transform"
        )
        problems.append(
            f"datasets.{name}.acquisition.{key}: expected {expected:g} (config), found {metadata:g} in the "
            f"metadata of {raw.path}; correct the plate's metadata ({source}) or the config"
        )
    return problems


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _plausibility_problems(name: str, raw: PlateLayout) -> list[str]:
    """The pixel size and z step the plate's scale states (in a unit it names, or none: read as µm)
    lie within the bounds of live-cell microscopy (:func:`~dynaclr.io.sampling.implausible_sampling`,
    the rule the config keys follow; :attr:`~dynaclr.io.plate.PlateSampling.implausible`), unless the
    dataset's ``acquisition`` takes their place. A 65 nm pixel written as 65 micrometer (or as 65
    without a unit) made every cell sub-pixel: the phase transfer function, the trackmate import's
    calibration check, the transfer checks between datasets and the sizes written into every plate
    were wrong, with exit 0. A z step is not needed of a plate of one slice (no stage reads it)."""
    key = f"datasets.{name}"
    problems = []
    values = {"pixel_size_um": raw.geometry.pixel_size_um, "z_step_um": raw.geometry.z_step_um}
    for acquisition_key, read in raw.implausible:
        if acquisition_key == "z_step_um" and raw.shape_tczyx[2] == 1:
            continue
        value = values[acquisition_key]
        problem = implausible_sampling(value, acquisition_key)
        fix = (
            f"write the unit 'nanometer', or the scale in µm ({value / 1000:g})"
            if sampling_reads_as_nanometres(value, acquisition_key)
            else "write the scale the plate was acquired at, in its axes' unit"
        )
        problems.append(
            f"{key}.plate: {raw.path}: {read}: {problem}; set {key}.acquisition.{acquisition_key} (it takes "
            f"the metadata's place), or correct the plate: {fix} (multiscales[0].axes[].unit, the scale "
            "of coordinateTransformations)"
        )
    return problems


def _geometry_problems(name: str, dataset: DatasetConfig, raw: PlateLayout) -> list[str]:
    """The sampling the stages use is physical: a stated, positive time interval for a movie; for phase,
    a brightfield z-stack (Z >= 2) and a stated pixel size and z step (the config's, else the plate's:
    a plate without a scale transform states none; one the scale states outside the bounds of live-cell
    microscopy, non-positive or NaN included, is refused for every dataset by
    :func:`_plausibility_problems`).

    A value read from axes with a scale but no unit (:attr:`~dynaclr.io.plate.PlateSampling.unitless`,
    seconds / micrometres assumed) is not stated (:meth:`~dynaclr.io.plate.PlateSampling.stated_values`):
    a plate written in nanometres without its units was reconstructed with 650 µm pixels (a
    meaningless transfer function, exit 0), one written in minutes counted tau_minutes and the
    patches' time_minutes in seconds. It is refused as one no scale states, naming the axes and the
    value guessed. Tracking, patches and virtual staining count in pixels and frames: they only copy
    the sizes into the plates they write, where a guess does no harm (tracking's defaults are checked
    against a stated pixel size only, :func:`_tracking_pixel_problems`)."""
    key = f"datasets.{name}"
    problems = []
    interval = raw.time_interval_minutes
    guesses = raw.unitless_values()
    if raw.n_frames > 1 and "time_interval_minutes" in guesses:
        problems.append(
            f"{key}.plate: expected a time interval the metadata of {raw.path} states in a unit it names "
            f"({raw.n_frames} frames: tau_minutes and the patches' time_minutes are counted in it), found "
            f"none ({unitless_guess(raw.path, 'time_interval_minutes', guesses['time_interval_minutes'])}); "
            f"set {key}.acquisition.time_interval_minutes, or write the time axis's unit "
            "(multiscales[0].axes[].unit) or the plate's time_interval_minutes attribute"
        )
    elif raw.n_frames > 1 and not raw.time_interval_stated:
        assert raw.unscaled_position is not None
        problems.append(
            f"{key}.plate: expected a time interval in the metadata of {raw.path} ({raw.n_frames} frames: "
            "tau_minutes and the patches' time_minutes are counted in it), found none "
            f"({raw.no_scale_text()}, and no plate attribute "
            "time_interval_minutes; iohub would read 1 s); "
            + raw.scale_fix(
                ["time_interval_minutes"],
                f"{key}.acquisition.time_interval_minutes",
                " or its time_interval_minutes attribute",
            )
        )
    elif raw.n_frames > 1 and not _positive(interval):
        problems.append(
            f"{key}.plate: expected a positive time interval in the metadata of {raw.path} ({raw.n_frames} "
            f"frames), found {interval:g} min; correct the plate's scale transform (axis t) or its "
            "time_interval_minutes attribute"
        )
    phase = dataset.phase
    if phase is None:
        return problems
    n_z = raw.shape_tczyx[2]
    if n_z < 2:
        problems.append(
            f"{key}.phase: expected a brightfield z-stack (Z >= 2: phase is read from defocus), found Z = "
            f"{n_z} in {raw.path} (one focal plane: phase is not reconstructed from it); set `phase: null` "
            "where the plate holds phase (Phase3D) or a label-free channel to use as it is (DIC, phase "
            "contrast, one brightfield plane: a patch channel {source: raw, channel: <its name>}, of "
            f"{list(raw.channel_names)}; README: 2D movies), or acquire a z-stack"
        )
    for field, acquisition_key, metadata, stated in (
        ("yx_pixel_size_um", "pixel_size_um", raw.geometry.pixel_size_um, raw.pixel_size_stated),
        ("z_step_um", "z_step_um", raw.geometry.z_step_um, raw.z_step_stated),
    ):
        configured = getattr(phase, field)
        if acquisition_key in raw.implausible_keys:
            continue  # refused by _plausibility_problems (a non-positive or NaN size among them)
        if configured is None and acquisition_key in guesses:
            units = "axes' units" if acquisition_key == "pixel_size_um" else "axis's unit"
            problems.append(
                f"{key}.phase.{field}: expected a size (µm) from the config or stated in a unit the metadata "
                f"of {raw.path} names (the transfer function is computed in it), found none "
                f"({unitless_guess(raw.path, acquisition_key, metadata)}); set phase.{field} "
                f"or {key}.acquisition.{acquisition_key}, or write the {units} (multiscales[0].axes[].unit)"
            )
        elif configured is None and not stated:
            problems.append(
                f"{key}.phase.{field}: expected a size (µm) from the config or the metadata of {raw.path}, "
                f"found none ({raw.no_scale_text()}; iohub would read 1 µm); "
                + raw.scale_fix([acquisition_key], f"phase.{field} or {key}.acquisition.{acquisition_key}")
            )
    return problems


def _offset_problems(name: str, dataset: DatasetConfig, raw: PlateLayout) -> list[str]:
    """The camera offset fits the raw plate's integer pixel types
    (:meth:`~dynaclr.config.phase.PhaseConfig.offset_pixel_type_problem`): each phase job refused the
    default 100 on 8-bit pixels, only once it ran."""
    if dataset.phase is None:
        return []
    problems = []
    for pixel_type in raw.pixel_types:
        problem = dataset.phase.offset_pixel_type_problem(pixel_type)
        if problem:
            problems.append(f"datasets.{name}.{problem} (plate {raw.path}, pixels {pixel_type})")
    return problems


def _student_checkpoint_problems(config: WorkflowConfig, results: str) -> list[str]:
    """The input a ``student_model`` read from a ``model.ckpt`` of this workflow (``checkpoint_format:
    dynaclr``) records (``hyper_parameters.patch_size_yx_px``, read without torch): the student reads
    it, so ``crop_size_yx_px`` is null or that size, and the size read fits the teacher's stored patches
    of the distilled dataset; the checks and messages of the distill job
    (:func:`dynaclr.distill.stage.student_crop`), at planning, not after the teacher trained. The
    config checks what it states without the file
    (:meth:`~dynaclr.config.workflow.WorkflowConfig._check_student_input_size`)."""
    from dynaclr.io.weights import checkpoint_entry  # reads the pickle alone: no torch

    distillation = config.analysis.distillation
    if not distillation.enabled or distillation.student_model is None:
        return []
    student = config.contrastive_models.get(str(distillation.student_model))
    if student is None or not (student.is_loaded and student.import_format == "dynaclr"):
        return []
    path = student.model_file
    if path is None or path.startswith(f"{results}/") or not Path(path).is_file():
        return []  # made by a rule, or missing (named by _model_file_problems)
    hyper_parameters = checkpoint_entry(path, "hyper_parameters")
    trained = hyper_parameters.get("patch_size_yx_px") if isinstance(hyper_parameters, dict) else None
    if not isinstance(trained, int) or isinstance(trained, bool):
        return []  # not readable so: rule import_model names what the file is
    problem = crop_size_mismatch(distillation, trained)
    if problem:
        return [f"{path}: {problem}; set it to null (or {trained}), the network input the file records"]
    teacher = config.contrastive_models[str(distillation.teacher_model)]
    spec = config.datasets[str(distillation.dataset)].patch_spec(teacher.training.patch_spec)
    if trained > spec.initial_size_px:
        return [
            f"analysis.distillation.student_model ({distillation.student_model!r}, {path}: network input "
            f"{trained} px): expected a student input within the stored patches of the teacher's spec "
            f"datasets.{distillation.dataset}.patches[{spec.name}] ({spec.initial_size_px} x "
            f"{spec.initial_size_px} px), found {trained} px; import a student model of a smaller input or "
            "raise the spec's initial_patch_size_yx_px"
        ]
    return []


def _model_file_problems(key: str, model_file: str | None, results: str, readme_section: str) -> list[str]:
    """A weights file the config names that is not there (one under ``results`` is made by a rule)."""
    if model_file is None or model_file.startswith(f"{results}/") or Path(model_file).is_file():
        return []
    return [
        f"{key}: expected a model file, found nothing at {model_file}; fetch it once "
        f"(README: {readme_section}) or correct the path"
    ]


def _phase_override_warnings(config: WorkflowConfig, supplied: Mapping[str, PlateLayout]) -> list[str]:
    """``phase.yx_pixel_size_um`` / ``z_step_um`` set and more than :data:`SCALE_RELATIVE_TOLERANCE`
    off the value the raw plate's metadata states in a unit (or ``acquisition`` supplies: ``supplied``,
    :func:`supplied_layout`): the README's fix for wrong metadata, but a phase config copied from
    another plate's dataset overrides a right one, and the phase (then every stage reading its plate)
    is computed in another size with exit 0."""
    warnings = []
    for name, raw in supplied.items():
        phase = config.datasets[name].phase
        if phase is None:
            continue
        stated = raw.stated_values()
        for field, key, what in (
            ("yx_pixel_size_um", "pixel_size_um", "pixel size"),
            ("z_step_um", "z_step_um", "z step"),
        ):
            configured, found = getattr(phase, field), stated[key]
            if configured is None or found is None or not sampling_differs(configured, found):
                continue
            warnings.append(
                f"datasets.{name}.phase.{field}: {configured:g} µm overrides the {what} {found:g} µm of "
                f"{raw.path} ({configured / found:.3g} times): the phase is reconstructed, and the stages "
                f"reading its plate count, in {configured:g} µm. Keep it only if the plate's metadata is "
                f"wrong; remove it for a phase config copied from another dataset"
            )
    return warnings


def workflow_warnings(
    config: WorkflowConfig, raw_layouts: Mapping[str, PlateLayout], results: str = "results"
) -> list[str]:
    """What the plan knows will leave a result empty or wrong without making the config wrong, one line
    each (the workflow logs them at every dry run): a simulated dataset whose drawn infection
    annotations train classifiers with one FOV only holding infected cells
    (:func:`_single_infected_fov_warnings`); annotations of the user's that no model's embeddings let
    any classifier read (:func:`_unread_annotation_warnings`); an annotation table without some of the
    tasks classified (:func:`_unannotated_task_warnings`); a dataset whose pixel size nothing
    states, so the sizes in pixels left at their defaults are not checked against it
    (:func:`_unstated_pixel_warning`, one line per dataset); a patch size given narrower than a
    nucleus (:func:`_patch_size_warnings`), and virtual staining's training patch at its default on
    pixels of another size or given narrower than a nucleus (:func:`_virtual_stain_patch_lines`); a
    phase config overriding the pixel size or z step the plate states (:func:`_phase_override_warnings`);
    DTW's frame keys over datasets of other frame intervals (:func:`_pseudotime_interval_warnings`);
    a trained contrastive model whose warm-up is as long as its training (:func:`_warmup_warnings`).
    ``results`` names the plates the workflow writes, as for :func:`workflow_problems`."""
    warnings = _single_infected_fov_warnings(config, raw_layouts)
    warnings += _warmup_warnings(config)
    warnings += _unread_annotation_warnings(config)
    warnings += _unannotated_task_warnings(config)
    supplied = {
        name: supplied_layout(dataset, raw_layouts[name]) for name, dataset in config.datasets.items()
    }
    warnings += _phase_override_warnings(config, supplied)
    warnings += _pseudotime_interval_warnings(config, supplied)
    radii: dict[str, list[str]] = {}
    for matching in _default_radii(config, frame_counts(supplied), supplied):
        for name in matching.datasets:
            radii.setdefault(name, []).append(f"analysis.{matching.section}.max_match_distance_px")
    for name, dataset in config.datasets.items():
        plates = source_layouts(name, dataset, supplied[name], results)
        warnings += _unstated_pixel_warning(name, dataset, plates, radii.get(name, []))
        warnings += _patch_size_warnings(name, dataset, plates, config)
        warnings += _virtual_stain_patch_lines(name, dataset, plates)[1]
    return warnings


def _warmup_warnings(config: WorkflowConfig) -> list[str]:
    """A contrastive model the workflow trains whose ``warmup_epochs`` are not below its ``epochs``:
    its learning rate never decays (:meth:`~dynaclr.config.training.ContrastiveModelConfig.
    warmup_warning`). One line per such model."""
    warnings = []
    for name, entry in config.contrastive_models.items():
        if not entry.is_loaded:  # trained by the workflow
            warning = entry.training.warmup_warning(f"contrastive_models.{name}.training")
            warnings += [warning] if warning else []
    return warnings


def _unannotated_task_warnings(config: WorkflowConfig) -> list[str]:
    """A dataset classified from its annotation table whose ``annotations.tasks`` lack some of
    ``analysis.classification.tasks`` (e.g. ``[infection]`` under the default ``[infection,
    division]``): it is not classified for those, said only by a WARNING in the classify job's log.
    One line per such dataset, naming the tasks and the keys to set. (Drawn annotations follow the
    tasks classified; the lineage gives division only, as its config states.)"""
    classified = config.analysis.classification.tasks
    warnings = []
    for name in config.classified_datasets():
        annotations = config.datasets[name].annotations
        missing = [task for task in classified if task not in annotations.tasks]
        if annotations.source != "table" or not missing:
            continue
        warnings.append(
            f"datasets.{name}.annotations.tasks: expected the tasks of analysis.classification.tasks "
            f"{list(classified)}, found {list(annotations.tasks)}: dataset {name!r} will not be classified "
            f"for {missing} (its table {annotations.table} holds no annotations of them); set "
            f"analysis.classification.tasks to the tasks annotated, or annotate {missing} in the table and "
            f"list them in datasets.{name}.annotations.tasks"
        )
    return warnings


def _unread_annotation_warnings(config: WorkflowConfig) -> list[str]:
    """A dataset given annotations of its own (``annotations.table`` or ``division_from_lineage``)
    that no contrastive model embeds: every classifier reads embeddings, so the plan holds no import,
    no classifier and no score for them, and the run ended without a word about the table. One line
    per such dataset, saying what to add. (A simulated dataset's annotations drawn from ground truth
    are the default, not a statement of the user's: not warned.)"""
    embedded = config.datasets_embedded()
    warnings = []
    for name, dataset in config.datasets.items():
        annotations = dataset.annotations
        if annotations.source == "ground_truth" or name in embedded:
            continue
        given = (
            f"annotations.table ({annotations.table})"
            if annotations.source == "table"
            else "annotations.division_from_lineage"
        )
        if dataset.patches:
            why = (
                f"no contrastive model embeds dataset {name!r} (none lists it in train_datasets or "
                "embed_datasets, or reads a patch spec of it that gives the model's input)"
            )
        else:
            why = f"dataset {name!r} has no patches, so no contrastive model embeds it"
        warnings.append(
            f"datasets.{name}.{given}: these annotations will not be read: {why}, and classifiers learn "
            f"from and are scored on embeddings only; give datasets.{name}.patches a spec named as a "
            "model's training.patch_spec and name the dataset in that model's train_datasets or "
            "embed_datasets (README: Models and classifiers across datasets)"
        )
    return warnings


def _single_infected_fov_warnings(
    config: WorkflowConfig, raw_layouts: Mapping[str, PlateLayout]
) -> list[str]:
    """A simulated dataset whose drawn infection annotations
    train classifiers while one FOV only can hold infected cells (its wells with an
    ``infected_fraction`` above 0 hold one FOV): the FOV-grouped folds never score an infected cell,
    so the infection F1 is not computed (:func:`~dynaclr.config.reasons.single_class_fov`). Per
    dataset, not per FOV: from the wells and ``fovs_per_well`` (the FOV names only to name the FOV)."""
    warnings: list[str] = []
    if "infection" not in config.analysis.classification.tasks:
        return warnings
    for name in config.classified_datasets():
        dataset = config.datasets[name]
        simulate = dataset.simulate
        if simulate is None or dataset.annotations.source != "ground_truth":
            continue
        if "infection" not in dataset.annotations.tasks:
            continue
        infected_wells = [f"{w.row}/{w.column}" for w in simulate.wells if w.infected_fraction > 0]
        n_fovs = len(raw_layouts[name].fov_names)
        # none, or one FOV in all, is refused elsewhere; the FOV names are read only to name the FOV
        if len(infected_wells) * simulate.fovs_per_well == 1 and n_fovs >= 2:
            fov = next(f for f in raw_layouts[name].fov_names if f.rsplit("/", 1)[0] == infected_wells[0])
            # the annotations are drawn from the simulation: the fix is the plate's layout
            warnings.append(
                f"datasets.{name}.simulate: set fovs_per_well to 2 or more, or give another well an "
                "infected_fraction above 0: "
                + single_class_fov("infection", ("uninfected", "infected"), fov, n_fovs)
            )
    return warnings


def workflow_problems(
    config: WorkflowConfig,
    raw_layouts: Mapping[str, PlateLayout],
    results: str,
    ctc_lineages: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Every way ``config`` does not fit its datasets' plates, one line each (empty: all fit).

    Args:
        config: the validated workflow config.
        raw_layouts: each dataset's raw plate layout (read from the plate, or :func:`simulated_layout`);
            the values its ``acquisition`` supplies are filled in here (:func:`supplied_layout`).
        results: the results directory (names the plates the workflow will write).
        ctc_lineages: the lineage file of each FOV of the datasets whose tracks are CTC folders, by
            dataset (:meth:`~dynaclr.config.tracking.ImportedTracksConfig.ctc_lineages` of the
            plate's FOVs), where the caller looked them up for its own use (the workflow: rule
            import_tracks's inputs); a dataset not in it is looked up here.
    """
    problems = []
    plates_of = {}
    annotation_files: dict[str, list[Path]] = {}
    classifier_datasets = config.classified_datasets()
    raw_layouts = {
        name: supplied_layout(dataset, raw_layouts[name]) for name, dataset in config.datasets.items()
    }
    for name, dataset in config.datasets.items():
        plates = plates_of[name] = source_layouts(name, dataset, raw_layouts[name], results)
        problems += _plausibility_problems(name, raw_layouts[name])
        problems += _geometry_problems(name, dataset, raw_layouts[name])
        problems += _acquisition_problems(name, dataset, raw_layouts[name])
        problems += _offset_problems(name, dataset, raw_layouts[name])
        problems += _channel_problems(name, dataset, plates)
        problems += _imported_tracks_problems(
            name, dataset, raw_layouts[name], (ctc_lineages or {}).get(name)
        )
        annotation_files[name], found = _annotation_table_files(name, dataset, raw_layouts[name])
        problems += found
        problems += _annotation_unit_problems(name, dataset, plates)
        problems += _tracks_unit_problems(name, dataset, raw_layouts[name])
        problems += _tracking_slice_problems(name, dataset, plates)
        problems += _tracking_pixel_problems(name, dataset, plates)
        problems += _patch_size_problems(name, dataset, plates, config)
        problems += _virtual_stain_patch_lines(name, dataset, plates)[0]
        for spec in dataset.patches:
            problems += _patch_window_problems(name, dataset, spec, plates)
        wells = {fov.rsplit("/", 1)[0] for fov in raw_layouts[name].fov_names}
        unknown = sorted(set(dataset.conditions) - wells)
        if unknown:
            if dataset.tiff is None:
                where, fix = f"in {raw_layouts[name].path}", "correct the well names (row/column)"
            else:  # the plate is made from the files, its wells by tiff.positions
                where = f"among the FOVs of the TIFF files {dataset.tiff.files}"
                fix = (
                    "map each position to its FOV (row/column/fov) with "
                    f"datasets.{name}.tiff.positions, e.g. {{Pos0: A/1/0, Pos1: B/1/0}}, or correct the "
                    "well names"
                )
                if dataset.tiff.positions is None:
                    where += " (without tiff.positions every position is a FOV of well A/1)"
            problems.append(
                f"datasets.{name}.conditions: wells {unknown} are not {where}, "
                f"whose wells are {sorted(wells)}; {fix}"
            )
        if name in classifier_datasets and len(raw_layouts[name].fov_names) < 2:
            problems.append(
                f"analysis.classification.train_on: expected at least 2 FOVs in each dataset whose "
                f"annotations train classifiers (cross-validated on folds grouped by FOV), found "
                f"{len(raw_layouts[name].fov_names)} in dataset {name!r} ({raw_layouts[name].path}); name "
                "the datasets that train classifiers without it (null: every annotated dataset; "
                "train_on: [] with apply_to: [] trains none)"
            )
        if dataset.virtual_stain is not None:
            problem = backbone_problem(
                f"datasets.{name}.virtual_stain.backbone",
                dataset.virtual_stain.backbone,
                VIRTUAL_STAIN_BACKBONES,
                "virtual-staining UNet",
            )
            problems += [problem] if problem else []
            problems += _model_file_problems(
                f"datasets.{name}.virtual_stain.checkpoint",
                dataset.virtual_stain.checkpoint,
                results,
                "Images as they are",
            )
    for model, entry in config.contrastive_models.items():
        file_key = "checkpoint" if entry.checkpoint is not None else "pretrained_weights"
        section = "Models from a file" if file_key == "checkpoint" else "Pretrained backbones"
        problems += _model_file_problems(
            f"contrastive_models.{model}.{file_key}", entry.model_file, results, section
        )
        key = f"contrastive_models.{model}.training"
        # the datasets the model reads: those it trains on (embedded or not) and those it embeds
        read = list(dict.fromkeys([*entry.train_datasets, *config.embedded_datasets(model)]))
        if entry.training.input_channels is not None:
            for name in read:
                try:
                    channel_indices(
                        config.datasets[name].patch_spec(entry.training.patch_spec),
                        entry.training.input_channels,
                    )
                except ValueError as err:
                    problems.append(f"{key}.input_channels (dataset {name}): {err}")
        explorer_channel = config.analysis.figures.explorer_channel
        if explorer_channel is not None:  # every embedded dataset's explorer shows this spec's patches
            for embedded in config.embedded_datasets(model):
                try:
                    channel_indices(
                        config.datasets[embedded].patch_spec(entry.training.patch_spec), [explorer_channel]
                    )
                except ValueError as err:
                    problems.append(
                        f"analysis.figures.explorer_channel (model {model}, dataset {embedded}): {err}"
                    )
        problem = backbone_problem(
            f"{key}.backbone",
            entry.training.backbone,
            contrastive_backbones(entry.training.stem),  # the one list import_model checks too
            "contrastive encoder",
            tagged=entry.training.stem == "backbone",  # the pretrained weights' tag: checked at import
        )
        problems += [problem] if problem else []
        problems += _tau_problems(key, entry.training, {d: raw_layouts[d] for d in entry.train_datasets})
        for name in read:
            spec = config.datasets[name].patch_spec(entry.training.patch_spec)
            problems += _stem_problems(key, entry.training, name, spec, plates_of[name])
        if entry.train_datasets:  # a model read from a file is not trained: its split means nothing
            raws = {name: raw_layouts[name] for name in entry.train_datasets}
            problems += _training_fov_problems(f"{key}.validation_fovs", entry.training.validation_fovs, raws)
            problems += _training_fov_problems(f"{key}.excluded_fovs", entry.training.excluded_fovs, raws)
            problems += _validation_problems(key, entry.training, raws)
    problems += _student_checkpoint_problems(config, results)
    problems += _pseudotime_problems(config, raw_layouts)
    problems += _lineage_label_problems(config, raw_layouts)
    frames = frame_counts(raw_layouts)
    problems += _representation_problems(config, frames, raw_layouts)
    problems += _track_matching_problems(config, frames, raw_layouts)
    problems += _match_radius_problems(config, frames, raw_layouts, plates_of, annotation_files)
    return problems
