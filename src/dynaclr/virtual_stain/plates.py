"""The plates of virtual staining: checks on those it reads (kinds, FOVs, channels, shapes; errors say
what to fix), the per-FOV normalisation of their channels and the empty prediction plate it writes
(rule ``virtual_stain_plate``). No deep-learning framework.

The phase input is the phase stage's plate, the simulator's true phase, or, with ``phase: null``,
the dataset's own plate (a simulated ``raw_plate`` or a plate without dynaclr provenance): any of
them must hold the channel ``input_channel``. The target is the raw plate's ``target_channel``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from iohub.ngff import open_ome_zarr

from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    StageFiles,
    make_provenance,
    read_plate_provenance,
)
from dynaclr.io.chunks import read_block
from dynaclr.io.plate import (
    check_plate_axes,
    create_empty_plate,
    list_plate_fovs,
    open_plate_position,
    plate_position,
    read_fov_record,
    read_plate_sampling,
)
from dynaclr.io.provenance import InputRecord, recorded_input
from dynaclr.numerics.normalization import ChannelStatistics, Normalization, channel_statistics, sample_frames

__all__ = [
    "OUTPUT_UNITS",
    "PHASE_INPUT_KINDS",
    "TARGET_PLATE_KINDS",
    "VirtualStainPlateInputs",
    "VirtualStainPlateOutputs",
    "channel_index",
    "check_fov_records",
    "checked_fov_records",
    "create_virtual_stain_plate",
    "fov_normalization",
    "plate_channel",
    "plate_image",
    "read_phase_input",
    "read_target_plate_provenance",
    "training_channels",
]

logger = logging.getLogger(__name__)

OUTPUT_UNITS = "nuclear fluorescence normalised per FOV: median 0, 99th percentile 1"

#: Kinds of plate accepted as the phase input: the phase stage's reconstruction, the simulator's true
#: phase, or the raw plate itself (``phase: null``). A plate without dynaclr provenance (your own)
#: is accepted too; every one of them must hold the configured ``input_channel``.
PHASE_INPUT_KINDS = (ArtifactKind.PHASE_PLATE, ArtifactKind.GROUND_TRUTH_PHASE, ArtifactKind.RAW_PLATE)

#: Kinds of plate accepted as the nuclear target (training and evaluation), or a plate of your own.
TARGET_PLATE_KINDS = (ArtifactKind.RAW_PLATE,)


def read_phase_input(
    path: str | Path,
    channel: str,
    fov_name: str | None = None,
    made_from: Provenance | None = None,
    *,
    train_fovs: Sequence[str] = (),
) -> Provenance | InputRecord | None:
    """Check the plate read as phase input and return its provenance (``None``: a plate of your own).
    Its channels are those of the positions ``train_fovs`` where given (training reads only them,
    and they must name the same channels: :func:`training_channels`), else of position ``fov_name``
    where given (a per-FOV job reads no other position), else of the plate (its first position). Its
    record: as ``made_from`` (the record of a
    plate made from it: the prediction plate's, whose rule read and checked the phase input) states it
    where given (:func:`~dynaclr.io.provenance.recorded_input`), else the copy in position
    ``fov_name`` where it holds one (a plate dynaclr made), else the plate's root: a per-FOV job given
    ``made_from`` reads no metadata of the plate's root, a plate of your own included.

    Raises:
        ArtifactError: the plate is missing, of a kind not in :data:`PHASE_INPUT_KINDS`, or has no
            channel ``channel``; the message names the plate and the channels it has.
    """

    def read() -> Provenance | None:
        return read_plate_provenance(path, PHASE_INPUT_KINDS, "phase input of virtual staining", fov_name)

    provenance = read() if made_from is None else recorded_input(path, made_from, read)
    if train_fovs:
        names = training_channels(path, train_fovs)
    elif fov_name is None:
        with open_ome_zarr(path, layout="hcs", mode="r") as plate:
            names = list(plate.channel_names)
    else:
        with open_plate_position(path, fov_name) as position:
            names = list(position.channel_names)
    if channel not in names:
        where = f" in the training FOVs {list(train_fovs)}" if train_fovs else ""
        raise ArtifactError(
            f"{path}: the phase input of virtual staining has no channel {channel!r} "
            f"(virtual_stain.input_channel); found channels {names}{where}. With `phase: null` the dataset's "
            "plate must hold the phase channel; otherwise configure `phase:` to reconstruct it."
        )
    return provenance


def training_channels(path: str | Path, train_fovs: Sequence[str]) -> list[str]:
    """The channel names of the training FOVs ``train_fovs`` of the plate at ``path`` (the first one's,
    in its order), read from those positions only: the plate's first position may be no training FOV,
    and may name other channels. The training FOVs must name the same channels, in any order (each
    is read by its own channel indices).

    Raises:
        ArtifactError: no such position (naming the plate's FOVs), or two training FOVs naming
            different channels (naming both positions and both lists).
    """
    with open_ome_zarr(path, layout="hcs", mode="r") as plate:
        channels = {name: list(plate_position(plate, name, path).channel_names) for name in train_fovs}
    first, *others = train_fovs
    for name in others:
        if sorted(channels[name]) != sorted(channels[first]):
            raise ArtifactError(
                f"{path}: the training FOVs (virtual_stain.train.train_fovs) name different channels: "
                f"position {first} has {channels[first]}, position {name} has {channels[name]}; expected "
                "the same channels in every training FOV (in any order). Train on FOVs acquired with the "
                "same channels, or write the positions' channel names alike"
            )
    return channels[first]


def read_target_plate_provenance(path: str | Path) -> Provenance | None:
    """Provenance of the plate holding the nuclear target channel (``None``: a plate of your own)."""
    return read_plate_provenance(path, TARGET_PLATE_KINDS, "nuclear target of virtual staining")


def check_fov_records(
    records: tuple[Path, ...], kind: ArtifactKind, plate: Provenance | InputRecord | None
) -> None:
    """Each per-FOV record exists, is of ``kind`` and, when ``plate`` (the provenance of the plate
    those jobs filled, or its record as another record states it) is known, was made with the
    plate's config. ``plate`` as another record states it without a config hash (it listed the plate
    as one of your own, no record) beside per-FOV records is refused: the records could not be
    compared, and a plate of your own has none."""
    checked_fov_records(records, kind, plate)


def checked_fov_records(
    records: tuple[Path, ...], kind: ArtifactKind, plate: Provenance | InputRecord | None
) -> dict[Path, dict[str, Any]]:
    """The metrics of each per-FOV record, by path, each read once and checked as
    :func:`check_fov_records` checks them (for a stage that reads the records' metrics too)."""
    if isinstance(plate, InputRecord) and plate.config_hash is None and records:
        raise ArtifactError(
            f"{records[0]}: a per-FOV record ({kind}) of {plate.path}, which the record of the plate made "
            f"from it lists without a config hash (as a plate of your own, no record): expected no "
            f"per-FOV records of it, found {len(records)}; rerun the rule that made the plate made from "
            "it (`snakemake --forcerun virtual_stain_plate` for a prediction plate)"
        )
    metrics: dict[Path, dict[str, Any]] = {}
    for record in records:
        provenance, metrics[Path(record)] = read_fov_record(record, kind)
        if plate is not None and provenance.config_hash != plate.config_hash:
            raise ArtifactError(
                f"{record}: made with config hash {provenance.config_hash}, the plate it fills was made "
                f"with {plate.config_hash}; rerun it with `snakemake --forcerun {provenance.stage}`"
            )
    return metrics


def plate_image(plate: Any, fov_name: str, plate_path: str | Path) -> Any:
    """The ``(T, C, Z, Y, X)`` image ``'0'`` of position ``fov_name`` of an open HCS plate (that
    position's metadata read only: :func:`~dynaclr.io.plate.plate_position`)."""
    return plate_position(plate, fov_name, plate_path)["0"]


def plate_channel(plate: Any, fov_name: str, channel: str, plate_path: str | Path) -> tuple[Any, int]:
    """The ``(T, C, Z, Y, X)`` image ``'0'`` of position ``fov_name`` of an open HCS plate and the
    index of ``channel`` in that position's own channels (:func:`channel_index`): positions may list
    the plate's channels in other orders, so an index read elsewhere (the plate's, its first
    position's) may name another channel here."""
    position = plate_position(plate, fov_name, plate_path)
    return position["0"], channel_index(position, channel, plate_path)


def channel_index(node: Any, channel: str, plate_path: str | Path) -> int:
    """Index of ``channel`` in an open position (or plate: its first position's; only a position's
    index reads that position's pixels, positions may list the channels in other orders), with an
    error naming the channels found."""
    names = list(node.channel_names)
    if channel not in names:
        raise ArtifactError(
            f"{plate_path}: no channel {channel!r}; found channels {names}. Check the channel names "
            "in the virtual staining config (input_channel, target_channel)."
        )
    return names.index(channel)


def fov_normalization(
    image: Any,
    channel: int,
    normalization: Normalization,
    n_frames: int,
    where: str,
    *,
    store: str | Path = "plate",
    fov_name: str | None = None,
) -> ChannelStatistics:
    """Normalisation of one channel of one FOV from ``n_frames`` of its frames, evenly spaced.

    Phase uses ``zscore``, the nuclear fluorescence target ``median_p99``
    (:mod:`dynaclr.numerics.normalization`); only the sampled frames are read. Missing voxels are
    left out of the statistics and mostly missing frames dropped (:mod:`dynaclr.numerics.missing`).

    Args:
        image: the position's ``(T, C, Z, Y, X)`` array (iohub/zarr or numpy).
        channel: ``C`` index of the channel.
        normalization: ``"zscore"`` or ``"median_p99"``.
        n_frames: how many evenly spaced frames to use (all frames if the FOV has fewer).
        where: names the plate, FOV and channel in errors, e.g. ``"raw.zarr FOV A/1/0 channel 'Nuclei'"``.
        store, fov_name: name the array in a corrupt-chunk error (:func:`~dynaclr.io.chunks.read_block`).

    Raises:
        MissingDataError: most voxels of the sampled frames are missing.
        ArtifactError: every sampled frame is constant, or the statistics give a degenerate scale
            (also where most voxels are saturated: no standard-deviation fallback here).
    """
    return channel_statistics(
        lambda t: read_block(image, (t, channel), store=store, fov_name=fov_name),
        sample_frames(int(image.shape[0]), n_frames),
        normalization,
        require_signal=True,
        where=where,
    )


class VirtualStainPlateInputs(StageFiles):
    """Rule ``virtual_stain_plate``: the plate holding the phase channel (positions, geometry)."""

    phase_plate: Path


class VirtualStainPlateOutputs(StageFiles):
    """Rule ``virtual_stain_plate``: the empty prediction plate the per-FOV jobs fill."""

    virtual_stain_plate: Path


def create_virtual_stain_plate(
    config: VirtualStainConfig,
    inputs: VirtualStainPlateInputs,
    outputs: VirtualStainPlateOutputs,
    supplied: Mapping[str, float] | None = None,
) -> None:
    """Create the empty prediction plate: the phase plate's positions, one channel
    ``config.output_channel``, ``float32`` ``(T, 1, Z, Y, X)``, chunks ``(1, 1, Z, Y, X)``.

    Reads only metadata. Per-FOV jobs (:func:`~dynaclr.virtual_stain.predict.predict_fov`) fill it.
    """
    phase_plate_path = inputs.phase_plate
    check_plate_axes(phase_plate_path)
    phase_provenance = read_phase_input(phase_plate_path, config.input_channel)
    fov_names = list_plate_fovs(phase_plate_path)
    shapes: dict[tuple[int, ...], list[str]] = {}
    with open_ome_zarr(phase_plate_path, layout="hcs", mode="r") as plate:
        for fov_name in fov_names:
            shape = plate_image(plate, fov_name, phase_plate_path).shape
            shapes.setdefault((shape[0], *shape[2:]), []).append(fov_name)
    if len(shapes) != 1:
        raise ArtifactError(
            f"{phase_plate_path}: FOVs differ in T, Z, Y, X ({ {k: v for k, v in shapes.items()} }); "
            "one prediction plate needs a single shape"
        )
    n_t, n_z, n_y, n_x = next(iter(shapes))
    sampling = read_plate_sampling(phase_plate_path, supplied)
    provenance = make_provenance(
        ArtifactKind.VIRTUAL_STAIN_PLATE,
        config.job_params(),  # without RUN_KEYS: the plate job never sees them; the FOV records match it
        inputs=[(phase_plate_path, phase_provenance)],
    )
    create_empty_plate(
        outputs.virtual_stain_plate,
        fov_names,
        [config.output_channel],
        (n_t, 1, n_z, n_y, n_x),
        np.float32,
        sampling.geometry,
        provenance,
        attributes={"virtual_stain_units": OUTPUT_UNITS, **sampling.supplied_attributes()},
    )
    logger.info(
        "created %s: %d FOVs of shape %s",
        outputs.virtual_stain_plate,
        len(fov_names),
        (n_t, 1, n_z, n_y, n_x),
    )
