"""Predict nuclear fluorescence for every slice of every frame, one job per FOV (rule
``predict_virtual_stain``), into the plate :func:`~dynaclr.virtual_stain.plates.create_virtual_stain_plate`
made.

The prediction of slice ``z`` comes from the slab of ``input_depth_slices`` phase slices centred
on ``z`` (the edge slice repeats at the top and bottom of the stack), so the output has the
input's full ``(T, Z, Y, X)`` and downstream stages take the slice or projection they need.
Values are in normalised fluorescence units: background (the FOV's median) 0, the 99th
percentile (inside nuclei) 1.

A checkpoint trained on another plate is compared with the plate predicted (pixel size, z step,
slices, channel name; :mod:`dynaclr.virtual_stain.transfer`): refused where the network would see
nuclei or slabs of another size than it learnt from, warned where the difference is small.

Missing phase voxels (:mod:`dynaclr.numerics.missing`): a frame mostly missing is dropped and
predicted as NaN (so the stages reading the prediction drop it too); below that, missing voxels
are 0 after normalisation (the FOV's mean phase); a FOV mostly missing fails. A constant phase frame
(:func:`~dynaclr.numerics.repeats.is_constant`: every finite voxel one value, a blank frame written as
0, not NaN) has no phase: it is dropped the same way (NaN, listed as ``constant_frames`` and
``dropped_frames``, a WARNING naming the FOV and frames), not predicted from nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from dynaclr.config.virtual_stain import VirtualStainConfig, VirtualStainPredictConfig
from dynaclr.io import ArtifactError, ArtifactKind, StageFiles, make_provenance, read_zarr_provenance
from dynaclr.io.chunks import read_block
from dynaclr.io.display import write_display_metadata
from dynaclr.io.plate import open_plate_position, planned_root_of, write_fov_record
from dynaclr.numerics.device import resolve_device
from dynaclr.numerics.missing import MissingTally, count_missing, fill_missing
from dynaclr.numerics.normalization import ChannelStatistics
from dynaclr.numerics.repeats import CONSTANT_FRAMES_KEY, RepeatedFrames, is_constant, warn_constant
from dynaclr.numerics.saturation import MAX_SATURATED_SHARE, saturated_frame
from dynaclr.virtual_stain.checkpoint import TRAINING_KEY, load_trained_network
from dynaclr.virtual_stain.network import VirtualStainUNet
from dynaclr.virtual_stain.plates import (
    channel_index,
    check_fov_records,
    fov_normalization,
    read_phase_input,
)
from dynaclr.virtual_stain.slabs import slabs
from dynaclr.virtual_stain.transfer import (
    TRAINED_ON_FOV_KEY,
    TRAINED_ON_KEY,
    check_training_input,
    trained_on_fov,
    training_fovs_record,
)

__all__ = [
    "PredictVirtualStainInputs",
    "PredictVirtualStainOutputs",
    "predict_fov",
    "predict_frames",
    "predict_stack",
]

logger = logging.getLogger(__name__)


def predict_stack(
    network: VirtualStainUNet,
    phase_stack: np.ndarray,
    predict_config: VirtualStainPredictConfig,
    device: torch.device,
) -> np.ndarray:
    """Predict every slice of one normalised phase stack ``(Z, Y, X)`` → ``(Z, Y, X)`` float32.

    ``predict_config.tile_size_px`` null, or a tile covering the whole image (one window, whose
    blending weights cancel), runs whole slabs through the network, ``tiles_per_batch`` at a time;
    otherwise MONAI sliding-window inference over YX tiles (overlap, Gaussian or constant blending;
    MONAI is imported only then). ``slices_per_batch`` slabs ``(b, D, Y, X)`` are on the device
    at a time. The network is moved to ``device`` in channels-last memory format (about 20%
    faster on CPU); its input stays in the default layout, as MONAI's tiles are.
    """
    n_z, n_y, n_x = phase_stack.shape
    depth = network.input_depth_slices
    output = np.empty((n_z, n_y, n_x), dtype=np.float32)
    network = network.to(device).to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
    tile_size = predict_config.tile_size_px
    tile = (
        None
        if tile_size is None or tile_size >= max(n_y, n_x)
        else (min(tile_size, n_y), min(tile_size, n_x))
    )
    for start in range(0, n_z, predict_config.slices_per_batch):
        z_indices = np.arange(start, min(n_z, start + predict_config.slices_per_batch))
        batch = torch.from_numpy(slabs(phase_stack, z_indices, depth)).to(device)  # (b, D, Y, X)
        prediction: Any  # MONAI's return type also allows tuples and dicts
        with torch.inference_mode():
            if tile is None:  # whole slabs, tiles_per_batch at a time: (b, 1, Y, X)
                prediction = torch.cat(
                    [network(part) for part in batch.split(predict_config.tiles_per_batch)]
                )
            else:
                from monai.inferers import sliding_window_inference  # seconds to import; tiles only

                prediction = sliding_window_inference(
                    batch,
                    roi_size=tile,
                    sw_batch_size=predict_config.tiles_per_batch,
                    predictor=network,
                    overlap=predict_config.tile_overlap_fraction,
                    mode=predict_config.blending,
                )
        assert isinstance(prediction, torch.Tensor)
        output[z_indices] = prediction[:, 0].float().cpu().numpy()
    return output


def predict_frames(
    network: VirtualStainUNet,
    stacks: Iterable[np.ndarray | None],
    output: Any,
    predict_config: VirtualStainPredictConfig,
    device: torch.device,
    *,
    where: str = "phase input",
    weights: str | Path = "the network",
) -> None:
    """Predict each normalised phase stack ``(Z, Y, X)`` of ``stacks`` (frame ``t`` the ``t``-th) into
    ``output[t, 0]`` of a ``(T, 1, Z, Y, X)`` array (zarr, written one frame at a time, or numpy).
    A ``None`` stack is a dropped frame: its prediction is NaN.

    Raises:
        ArtifactError: a prediction holds NaN or infinite values (the stacks are finite: missing
            voxels filled), naming ``where`` (plate, FOV, channel), the frame and ``weights`` (the
            checkpoint): weights holding NaN or inf, a diverged training; refused at the first such
            frame, not written as a prediction every later stage drops as missing.
    """
    for t, stack in enumerate(stacks):
        if stack is None:
            output[t, 0] = np.full(tuple(output.shape[2:]), np.nan, dtype=np.float32)
            continue
        prediction = predict_stack(network, stack, predict_config, device)
        n_bad = int(np.count_nonzero(~np.isfinite(prediction)))
        if n_bad:
            raise ArtifactError(
                f"{where} frame t={t}: expected a finite prediction of the finite phase input (normalised "
                f"values up to {float(np.abs(stack).max()):.3g}), found {n_bad} NaN or infinite values of "
                f"{prediction.size}: weights of {weights} holding NaN or infinite values (a diverged "
                "training, or weights saved in float16 beyond its range?), or phase values far beyond the "
                "FOV's normalisation overflowing the network; use weights from before the divergence "
                "(virtual_stain.checkpoint) or retrain (`snakemake --forcerun train_virtual_stain`)"
            )
        output[t, 0] = prediction


def normalised_phase_stacks(
    phase: Any,
    channel: int,
    normalization: ChannelStatistics,
    tally: MissingTally,
    *,
    store: str | Path,
    fov_name: str,
    repeats: RepeatedFrames,
    constant: list[int],
    saturated: list[int],
) -> Iterator[np.ndarray | None]:
    """Each frame's normalised phase stack ``(Z, Y, X)`` of a ``(T, C, Z, Y, X)`` array, missing voxels
    0, or ``None`` for a dropped frame: mostly missing (``tally`` counts them and fails a FOV mostly
    missing) or constant (:func:`~dynaclr.numerics.repeats.is_constant`: no phase to predict from,
    appended to ``constant``); ``repeats`` lists the frames repeating the frame before (a dropped or
    constant one not listed), ``saturated`` the predicted frames over-exposed
    (:func:`~dynaclr.numerics.saturation.saturated_frame`: an integer label-free channel clipped at a
    camera's full scale).

    A voxel whose normalisation overflows float32 (a value near float32's maximum, ~3.4e38, divided
    by a scale below 1) is missing too: ``tally`` counts the normalised stack's missing voxels, so it
    is filled (``filled_voxels``) or drops its frame as a NaN read would, never set to 0 uncounted."""
    frames = tqdm(range(phase.shape[0]), desc=f"virtual stain {fov_name}", unit="frame", mininterval=2.0)
    for t in frames:
        stack = read_block(phase, (t, channel), store=store, fov_name=fov_name)
        normalised = normalization.apply(stack)
        overflowed = count_missing(normalised) - count_missing(stack)
        if overflowed:
            logger.warning(
                "%s FOV %s frame t=%d: %d finite phase voxel(s) overflow float32 once normalised "
                "(scale %.4g): counted as missing voxels",
                store,
                fov_name,
                t,
                overflowed,
                normalization.center_scale()[1],
            )
        dropped = tally.add(t, normalised)
        repeats.add(t, stack, dropped=dropped)
        if not dropped and is_constant(stack):
            constant.append(int(t))
            tally.not_used(normalised)  # its missing voxels are not filled: the frame is dropped
            dropped = True
        elif not dropped and saturated_frame(stack) is not None:
            saturated.append(int(t))
        yield None if dropped else fill_missing(normalised, 0.0)
    tally.check_fov()


def _warn_saturated(where: str, frames: list[int], left_out: list[int]) -> None:
    """Log at WARNING the predicted ``frames`` over-exposed, naming ``where``, and which of them the
    FOV's normalisation statistics left out (``left_out``: outliers among the frames they read,
    :func:`~dynaclr.numerics.normalization.channel_statistics`; ``phase_normalization_saturated_frames``
    in the record): a flash's plateau there shifted the FOV's centre and scale, so every frame's
    prediction changed (a frame 30 % at 65535 read for them left r 0.57-0.68 with the prediction of the
    intact FOV, in every frame). The others were pooled (over-exposed alike: no outlier)."""
    if not frames:
        return
    out = [t for t in frames if t in set(left_out)]
    pooled = [t for t in frames if t not in set(left_out)]
    fate = (f"left out of the FOV's normalisation statistics: {out[:10]}" if out else "") + (
        f"{'; ' if out else ''}pooled in the FOV's normalisation statistics (not outliers among its "
        f"frames, or not read for them): {pooled[:10]}"
        if pooled
        else ""
    )
    logger.warning(
        "%s: frame(s) %s have more than %g%% of their voxels at a camera's full scale (over-exposed): "
        "predicted, but reduced there (listed as saturated_frames in the FOV's record and the QC table; "
        "%s); lower the exposure",
        where,
        frames[:10],
        100.0 * MAX_SATURATED_SHARE,
        fate,
    )


class PredictVirtualStainInputs(StageFiles):
    """Rule ``predict_virtual_stain``: the phase input, this FOV's phase record when the phase stage
    wrote it (none with ``phase: null``), the trained weights and the prediction plate to fill."""

    phase_plate: Path
    phase_record: tuple[Path, ...] = ()
    checkpoint: Path
    virtual_stain_plate: Path


class PredictVirtualStainOutputs(StageFiles):
    """Rule ``predict_virtual_stain``: this FOV's completion record."""

    record: Path


def _check_output_shape(output: Any, phase: Any, fov_name: str, inputs: PredictVirtualStainInputs) -> None:
    expected = (phase.shape[0], 1, *phase.shape[2:])
    if tuple(output.shape) != expected:
        raise ArtifactError(
            f"{inputs.virtual_stain_plate} {fov_name}: array shape {tuple(output.shape)}, expected "
            f"{expected} from {inputs.phase_plate}; recreate the prediction plate (`snakemake --forcerun "
            "virtual_stain_plate`)"
        )


def predict_fov(
    config: VirtualStainConfig,
    inputs: PredictVirtualStainInputs,
    outputs: PredictVirtualStainOutputs,
    *,
    fov_name: str,
    supplied: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Fill position ``fov_name`` (``row/column/fov``) of the prediction plate; write its record.

    Reads channel ``config.input_channel`` of ``inputs.phase_plate`` (a plate of
    :data:`~dynaclr.virtual_stain.plates.PHASE_INPUT_KINDS` or your own) one frame at a time,
    normalised per FOV (z-score), predicts it with the weights at ``inputs.checkpoint`` (the
    ``train_virtual_stain`` output, or ``config.checkpoint``) and writes only this FOV's array of
    ``inputs.virtual_stain_plate`` (opened ``r+``) and its display windows
    (:func:`~dynaclr.io.display.write_display_metadata`). Then writes the completion record (kind
    ``virtual_stain_fov``) at ``outputs.record``.

    Missing phase voxels follow :mod:`dynaclr.numerics.missing` (module docstring). A
    ``virtual_stain.checkpoint`` is compared with the phase plate
    (:func:`~dynaclr.virtual_stain.transfer.check_training_input`), whose pixel size and z step are those
    its metadata states, else those ``supplied`` (the dataset's ``acquisition``). ``supplied``, as
    :func:`~dynaclr.io.plate.split_supplied` gives it, also carries the root attributes of a phase plate
    of your own (``phase: null``) as the dry run read them (the rule's ``params.config``,
    :data:`~dynaclr.io.plate.PLANNED_ROOT_KEY`): its root is not read.

    Returns:
        metrics also written to the record: ``fov_name``, ``n_frames``, ``seconds``,
        ``seconds_per_frame``, ``device``, ``tile_size_px``, the phase normalisation
        (``phase_offset``, ``phase_scale``; ``phase_normalization_saturated_frames``: the over-exposed
        frames of those it read that it left out), and the missing voxels and dropped frames
        (:meth:`~dynaclr.numerics.missing.MissingTally.metrics`; ``dropped_frames`` also holds the
        constant frames, ``constant_frames``: predicted as NaN), the frames of the phase input
        repeating the frame before (``repeated_frames``: :mod:`dynaclr.numerics.repeats`; with
        ``phase: null`` no other stage compares them), ``trained_on_fov``: whether the model was
        trained on this FOV of this plate (:func:`~dynaclr.virtual_stain.transfer.trained_on_fov`;
        ``None``: the checkpoint does not say), which the evaluation's ``held_out`` follows, with
        ``trained_on`` (:func:`~dynaclr.virtual_stain.transfer.training_fovs_record`: the plates and
        FOVs the checkpoint learnt from, ``None`` where unknown), and
        ``training``: how far the model's training went
        (:func:`~dynaclr.virtual_stain.checkpoint.recorded_training_state`), which the evaluation
        carries to the report.
    """
    phase_path, output_path = inputs.phase_plate, inputs.virtual_stain_plate
    plate_provenance = read_zarr_provenance(output_path, ArtifactKind.VIRTUAL_STAIN_PLATE, fov_name)
    # the phase input as the prediction plate's record states it (rule virtual_stain_plate read and
    # checked it): no job reads the root of a phase plate of your own (`phase: null`) again
    phase_provenance = read_phase_input(phase_path, config.input_channel, fov_name, plate_provenance)
    check_fov_records(inputs.phase_record, ArtifactKind.PHASE_FOV, phase_provenance)
    network, model_provenance, training_input, training = load_trained_network(inputs.checkpoint, config)
    device = resolve_device(config.predict.device, "virtual_stain.predict.device")
    start = time.perf_counter()
    with (  # this FOV's positions alone: no other FOV's metadata, nor the plates' root (their records
        # above are the copies in this FOV's positions: position_plate_attributes)
        open_plate_position(phase_path, fov_name) as phase_position,
        open_plate_position(output_path, fov_name, mode="r+") as output_position,
    ):
        phase_c = channel_index(phase_position, config.input_channel, phase_path)
        phase, output = phase_position["0"], output_position["0"]
        _check_output_shape(output, phase, fov_name, inputs)
        check_training_input(
            training_input,
            inputs.checkpoint,
            config,
            phase_path,
            int(phase.shape[2]),
            model_provenance.config.get("input_channel") if model_provenance is not None else None,
            supplied,
            fov_name,
            planned_root_of(supplied, phase_path),
        )
        where = f"{phase_path} FOV {fov_name} channel {config.input_channel!r}"
        normalization = fov_normalization(
            phase, phase_c, "zscore", config.normalization_frames, where, store=phase_path, fov_name=fov_name
        )
        tally = MissingTally(where, expected_voxels=int(np.prod(phase.shape[:1] + phase.shape[2:])))
        repeats, constant, saturated = RepeatedFrames(), list[int](), list[int]()
        stacks = normalised_phase_stacks(
            phase,
            phase_c,
            normalization,
            tally,
            store=phase_path,
            fov_name=fov_name,
            repeats=repeats,
            constant=constant,
            saturated=saturated,
        )
        predict_frames(
            network, stacks, output, config.predict, device, where=where, weights=inputs.checkpoint
        )
        repeats.report(where, "each is predicted as a new time point")
        warn_constant(where, constant, "predicted as NaN (the stages reading the prediction drop them too)")
        _warn_saturated(where, saturated, normalization.saturated_frames)
        write_display_metadata(output_position)
    seconds, n_frames = time.perf_counter() - start, int(phase.shape[0])
    metrics = {
        "fov_name": fov_name,
        "n_frames": n_frames,
        "seconds": seconds,
        "seconds_per_frame": seconds / max(1, n_frames),
        "device": str(device),
        "tile_size_px": config.predict.tile_size_px,
        "phase_offset": normalization.center,
        "phase_scale": normalization.scale,
        # over-exposed frames the normalisation statistics read and left out as outliers (a flash shifts
        # every frame's)
        "phase_normalization_saturated_frames": list(normalization.saturated_frames),
        **tally.metrics(),
        "dropped_frames": sorted([*tally.dropped_frames, *constant]),
        CONSTANT_FRAMES_KEY: list(constant),
        "saturated_frames": list(saturated),
        "repeated_frames": list(repeats.frames),
        # whether the model learnt from this FOV (None: unknown), which the evaluation's held_out follows
        TRAINED_ON_FOV_KEY: trained_on_fov(training_input, phase_path, fov_name),
        TRAINED_ON_KEY: training_fovs_record(training_input),
        # how far the model's training went (stopped_by_time: partly trained), for the evaluation
        TRAINING_KEY: training,
    }
    provenance = make_provenance(
        ArtifactKind.VIRTUAL_STAIN_FOV,
        config.job_params(),  # without the batch sizes (RUN_KEYS): the plate's config, whatever they are
        inputs=[
            (phase_path, phase_provenance),
            (inputs.checkpoint, model_provenance),
            (output_path, plate_provenance),
        ],
    )
    write_fov_record(outputs.record, provenance, metrics)
    logger.info("%s: predicted %d frames in %.1f s on %s", fov_name, n_frames, seconds, device)
    return metrics
