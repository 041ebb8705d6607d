"""A virtual-staining network applied to another plate than the one it was trained on: what the
checkpoint records of its training input and what each prediction compares (no deep-learning
framework).

The network counts in pixels and slices: the same weights see, on a plate of another pixel size or
z step, nuclei of another size and slabs of another depth than they learnt from, and predict a
plausible-looking but wrong image. Phase values in other units (radians, nm of optical path, a scale
100 times larger) need no check: each FOV is z-scored (mean 0, std 1) before the network sees it,
in training as in prediction.

``train_virtual_stain`` records, in the checkpoint's metrics under :data:`TRAINING_INPUT_KEY`, the
training phase plate, its channel, the pixel size and z step its metadata states, else those the
dataset's ``acquisition`` supplies for a plate stating none (``phase: null`` on a raw plate without
scale; ``None`` where nothing states them: see
:meth:`~dynaclr.io.plate.PlateSampling.stated_values`) and the fewest slices of a training FOV. A
network the workflow trained itself (no ``virtual_stain.checkpoint``) is that dataset's own: the
rule graph trains it on the plate it predicts, with the config it predicts with, so nothing is
compared. Each ``predict_virtual_stain`` job of a network given through ``virtual_stain.checkpoint``
(:func:`check_training_input`) compares them with the phase plate it reads, whatever plate the
checkpoint records (a relative path names a plate of the project it was trained in, which may be
another with a dataset of the same name):

* pixel size or z step (the z step where slabs hold several slices of both plates) more than
  :data:`REFUSED_SCALE_RATIO` times larger or smaller: refused, naming the checkpoint, the key, both
  values and both plates;
* differing by more than :data:`~dynaclr.config.plate_checks.SCALE_RELATIVE_TOLERANCE` but less:
  a WARNING with the ratio (another camera of nearly the same pixels may well be fine);
* a plate of one slice given to a network taking slabs of several (every slab the one slice
  repeated) trained on stacks: refused; stacks of fewer slices than a slab: a WARNING;
* a plate of several slices given to a network taking slabs of several trained on a plate of one
  slice (every slab it saw held that slice repeated, its input channels always equal): refused;
* another ``input_channel`` than the one the network was trained on (only the name: ``Phase`` and
  ``Phase3D`` may be the same quantity): a WARNING naming both.

A ``virtual_stain.checkpoint`` recording none of this (trained before it was recorded, or a bare
weights file) is predicted with a WARNING that nothing was compared.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dynaclr.config.plate_checks import sampling_differs
from dynaclr.config.tracking import PIXEL_SIZE_TOLERANCE
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io import ArtifactError
from dynaclr.io.plate import read_plate_sampling

__all__ = [
    "REFUSED_SCALE_RATIO",
    "TRAINED_ON_FOV_KEY",
    "TRAINED_ON_KEY",
    "TRAINING_INPUT_KEY",
    "TRAINING_KEY",
    "TRAINING_STATE_KEYS",
    "check_training_input",
    "same_plate",
    "trained_on_fov",
    "training_fovs_record",
    "training_input_record",
]

logger = logging.getLogger(__name__)

#: Key of the checkpoint's metrics recording the training input (:func:`training_input_record`).
TRAINING_INPUT_KEY = "training_input"

#: The key of a prediction record's and the evaluation record's metrics holding the model's training
#: state (:func:`~dynaclr.virtual_stain.checkpoint.recorded_training_state`); here, not in the
#: checkpoint module, so the evaluation reads it without importing torch.
TRAINING_KEY = "training"

#: The keys of a virtual-staining model's training state, as each FOV's prediction record and the
#: evaluation record (``training``) hold it.
TRAINING_STATE_KEYS: tuple[str, ...] = ("stopped_by_time", "steps", "max_steps", "max_minutes")

#: The key of a prediction record's metrics stating whether the model was trained on that FOV
#: (:func:`trained_on_fov`): ``True``, ``False`` or ``None`` (unknown), which the evaluation's
#: ``held_out`` follows.
TRAINED_ON_FOV_KEY = "trained_on_fov"

#: The key of a prediction record's metrics holding what the checkpoint records of its training FOVs
#: (:func:`training_fovs_record`): the evaluation compares its ``target_plate`` with the plate it
#: reads the measured nuclei from.
TRAINED_ON_KEY = "trained_on"

#: A pixel size or z step this many times larger or smaller than the training plate's is refused
#: (nuclei 2.25 times the area the network learnt from); a smaller difference is warned. It is the
#: dry run's :data:`~dynaclr.config.tracking.PIXEL_SIZE_TOLERANCE` by definition, not by coincidence:
#: both bound how much wider or narrower, in pixels, a cell may be than what a size in pixels (a
#: tracking default, a matching radius, a patch) or a network counting pixels was made for. One
#: value, so a plate whose pixel-valued defaults are accepted is not refused to a network trained
#: at the defaults' sampling, and the reverse; change it there.
REFUSED_SCALE_RATIO = PIXEL_SIZE_TOLERANCE

_SIZES = (("pixel_size_um", "pixel size"), ("z_step_um", "z step"))


def _stated_sizes(
    phase_plate: str | Path,
    supplied: Mapping[str, float] | None,
    fov_name: str | None = None,
    planned_root: Mapping[str, Any] | None = None,
) -> dict[str, float | None]:
    """The pixel size and z step the plate's metadata states (position ``fov_name``'s where given,
    else the first position's), else those ``supplied`` (the dataset's ``acquisition``, for a raw
    plate stating none: as the prediction plate is written with them); ``None`` for one neither
    states. ``planned_root``: :func:`~dynaclr.io.plate.read_plate_sampling`'s."""
    stated = read_plate_sampling(phase_plate, supplied, fov_name, planned_root).stated_values()
    return {key: stated[key] for key, _ in _SIZES}


def training_input_record(
    phase_plate: str | Path, channel: str, slices: int, supplied: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """What the checkpoint records of its training input (module docstring): JSON-ready. ``supplied``:
    the sampling the dataset's ``acquisition`` supplies for a phase plate whose metadata states none
    (:func:`~dynaclr.io.plate.split_supplied`)."""
    return {
        "plate": str(phase_plate),
        "channel": channel,
        "slices": int(slices),
        **_stated_sizes(phase_plate, supplied),
    }


def same_plate(recorded: str, path: str | Path) -> bool:
    """Whether the plate path a checkpoint records names the plate at ``path`` (as written, or
    resolved from the working directory: the workflow's paths are relative to it)."""
    if Path(recorded) == Path(path):
        return True
    try:
        return Path(recorded).resolve() == Path(path).resolve()
    except OSError:
        return False


def trained_on_fov(record: Mapping[str, Any] | None, phase_plate: str | Path, fov_name: str) -> bool | None:
    """Whether the network whose training input is ``record`` (:func:`training_input_record`, with
    the checkpoint's ``train_fovs``) was trained on FOV ``fov_name`` of ``phase_plate``: ``True``
    where the plate it records is ``phase_plate`` (the same path) and ``fov_name`` is one of its
    ``train_fovs``, ``False`` where it is not (another plate, or a FOV left out of training), ``None``
    where the checkpoint records neither (a weights file from elsewhere, or an older dynaclr's).

    A checkpoint given back through ``virtual_stain.checkpoint`` to the plate it was trained on (not to
    train it again) is so still evaluated on its held-out FOVs only. A relative path of another
    project naming a plate of the same path here counts as the same plate: its FOVs of the training
    FOVs' names are then not called held out (never the reverse)."""
    if not record:
        return None
    plate, fovs = record.get("plate"), record.get("train_fovs")
    if not isinstance(plate, str) or not isinstance(fovs, list):
        return None
    return same_plate(plate, phase_plate) and fov_name in fovs


def training_fovs_record(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a prediction record keeps of the checkpoint's training FOVs: the phase ``plate`` and the
    nuclear ``target_plate`` it learnt from and its ``train_fovs`` (JSON-ready); ``None`` where the
    checkpoint records no training FOVs. The evaluation counts a FOV of the training FOVs as trained on
    where its measured nuclei come from ``target_plate`` (another phase plate of the same cells, e.g.
    the true phase of a simulated plate the network was trained on, is still not held out)."""
    if not record or not isinstance(record.get("train_fovs"), list):
        return None
    target = record.get("target_plate")
    return {
        "plate": str(record.get("plate")),
        "target_plate": target if isinstance(target, str) else None,
        "train_fovs": [str(name) for name in record["train_fovs"]],
    }


def check_training_input(
    record: Mapping[str, Any] | None,
    checkpoint: str | Path,
    config: VirtualStainConfig,
    phase_plate: str | Path,
    slices: int,
    trained_channel: str | None,
    supplied: Mapping[str, float] | None = None,
    fov_name: str | None = None,
    planned_root: Mapping[str, Any] | None = None,
) -> None:
    """Compare the checkpoint's training input (``record``; ``trained_channel``: the ``input_channel``
    its provenance records, if any) with the phase plate a prediction reads (``slices`` per stack;
    its pixel size and z step those its metadata states, else those ``supplied``, the dataset's
    ``acquisition``; read from position ``fov_name`` where given, the one a per-FOV job predicts,
    and ``planned_root`` for a plate of your own, as the dry run read its root):
    refuse, warn or accept as the module docstring says. A network the workflow
    trained itself (``config.checkpoint`` None) is accepted without comparison or warning.

    Raises:
        ArtifactError: another pixel size or z step beyond :data:`REFUSED_SCALE_RATIO`, a plate of
            one slice for a network trained on slabs of several, or the reverse (a stack for a network of
            slabs of several slices trained on one slice).
    """
    if config.checkpoint is None:
        return  # the dataset's own network, trained on this plate with this config (rule graph)
    where = f"{checkpoint} (virtual_stain.checkpoint)"
    channel = record.get("channel") if record else trained_channel
    if isinstance(channel, str) and channel != config.input_channel:
        logger.warning(
            "%s was trained on phase channel %r, and predicts from channel %r of %s "
            "(virtual_stain.input_channel): check that it holds the same quantity (a network trained "
            "on phase predicts no nuclei from DIC or brightfield)",
            where,
            channel,
            config.input_channel,
            phase_plate,
        )
    if not record:
        logger.warning(
            "%s records no pixel size, z step or slices of the plate it was trained on (a weights file "
            "from elsewhere, or trained by an older dynaclr): nothing compared with %s; check that it was "
            "imaged with the same objective and z step",
            where,
            phase_plate,
        )
        return
    trained_plate = record.get("plate", "?")
    depth = config.input_depth_slices
    trained_slices = record.get("slices")
    if depth > 1 and slices == 1 and trained_slices != 1:
        raise ArtifactError(
            f"{where}: expected phase stacks of several slices (the network takes slabs of "
            f"input_depth_slices={depth} and was trained on stacks of {trained_slices} slices of "
            f"{trained_plate}), found 1 slice in {phase_plate}: every slab would be that slice repeated "
            f"{depth} times, which the network never saw. Use a network trained with input_depth_slices: 1 "
            "(or trained on this plate: virtual_stain.train), or a z-stack of this plate"
        )
    if depth > 1 and trained_slices == 1 and slices > 1:
        raise ArtifactError(
            f"{where}: expected phase images of one slice (the network takes slabs of "
            f"input_depth_slices={depth} and was trained on 1 slice of {trained_plate}: every slab it "
            f"saw was that slice repeated {depth} times), found {slices} slices in {phase_plate}: its "
            f"slabs would hold {min(depth, slices)} different slices, which the network never saw. Predict "
            "from one slice "
            "(phase.mode: 2d reconstructs one), or train a network on this plate (virtual_stain.train)"
        )
    if depth > 1 and slices < depth and isinstance(trained_slices, int) and trained_slices >= depth:
        logger.warning(
            "%s: stacks of %d slices in %s, fewer than input_depth_slices=%d (trained on %d slices of %s): "
            "every slab repeats edge slices",
            where,
            slices,
            phase_plate,
            depth,
            trained_slices,
            trained_plate,
        )
    found = _stated_sizes(phase_plate, supplied, fov_name, planned_root)
    several = depth > 1 and slices > 1 and isinstance(trained_slices, int) and trained_slices > 1
    for key, name in _SIZES:
        if key == "z_step_um" and not several:
            continue  # one slice per slab or per stack: the z step changes nothing the network sees
        recorded, value = record.get(key), found[key]
        wanted = float(recorded) if isinstance(recorded, int | float) else None
        if wanted is None or value is None:
            logger.warning(
                "%s: %s not compared: %s states none (trained on %s, %s)",
                where,
                name,
                phase_plate if value is None else trained_plate,
                trained_plate,
                "none stated" if wanted is None else f"{wanted:g} µm",
            )
            continue
        if not sampling_differs(value, wanted):
            continue
        ratio = value / wanted
        message = (
            f"{where}: {name} {value:g} µm in {phase_plate}, expected {wanted:g} µm, the {name} of "
            f"{trained_plate} it was trained on ({ratio:.3g} times)"
        )
        if max(ratio, 1 / ratio) > REFUSED_SCALE_RATIO:
            seen = (
                f"nuclei {1 / ratio:.3g} times as wide (in pixels) as those it learnt from"
                if key == "pixel_size_um"
                else f"slabs of {depth} slices spanning {depth * value:g} µm, not {depth * wanted:g} µm"
            )
            raise ArtifactError(
                f"{message}: the network counts in pixels and slices and would see {seen}. Resample the "
                f"plate to {wanted:g} µm, correct its scale metadata if it is wrong, or train a network on "
                "it (virtual_stain.train)"
            )
        logger.warning(
            "%s; check the prediction (evaluate_virtual_stain) on FOVs with a nuclear channel", message
        )
