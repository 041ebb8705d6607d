"""Predict nuclear fluorescence for every slice of every frame: the output plate and per-FOV jobs.

The prediction of slice ``z`` comes from the slab of ``input_depth_slices`` phase slices centred
on ``z`` (the edge slice repeats at the top and bottom of the stack), so the output has the
input's full ``(T, Z, Y, X)`` and downstream stages take the slice or projection they need.
Values are in normalised fluorescence units: background (the FOV's median) 0, the 99th
percentile (inside nuclei) 1.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from iohub.ngff import open_ome_zarr
from tqdm.auto import tqdm

from dynaclr.config.virtual_stain import VirtualStainConfig, VirtualStainPredictConfig
from dynaclr.io import ArtifactError, make_provenance, read_zarr_provenance
from dynaclr.io.plate import write_fov_record
from dynaclr.virtual_stain.checkpoint import load_network
from dynaclr.virtual_stain.network import VirtualStainUNet
from dynaclr.virtual_stain.normalization import fov_normalization
from dynaclr.virtual_stain.plates import (
    OUTPUT_UNITS,
    channel_index,
    create_virtual_stain_plate,
    plate_image,
    read_phase_provenance,
)
from dynaclr.virtual_stain.slabs import slabs

__all__ = ["OUTPUT_UNITS", "create_virtual_stain_plate", "predict_fov", "predict_stack", "resolve_device"]

logger = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``'auto'`` → the GPU when one is available, else the CPU; ``'cuda'`` without a GPU fails."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("predict.device is 'cuda' but no GPU is available; use 'auto' or 'cpu'")
    return torch.device(device)


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


def predict_fov(
    phase_plate_path: str | Path,
    fov_name: str,
    checkpoint_path: str | Path,
    output_plate_path: str | Path,
    record_path: str | Path,
    config: VirtualStainConfig,
) -> dict[str, Any]:
    """Fill position ``fov_name`` of the prediction plate, one frame at a time; write its record.

    Args:
        phase_plate_path: phase plate (kind ``phase_plate`` or ``ground_truth_phase``).
        fov_name: ``row/column/fov``.
        checkpoint_path: trained weights (the ``train_virtual_stain`` output, or ``config.checkpoint``).
        output_plate_path: plate made by :func:`create_virtual_stain_plate` (opened ``r+``; only
            this FOV's array is written).
        record_path: completion record (kind ``virtual_stain_fov``), e.g.
            ``fov_record_path(records_dir, fov_name)``.
        config: the stage config (network and ``predict`` settings).

    Returns:
        metrics also written to the record: ``n_frames``, ``seconds``, ``seconds_per_frame``,
        ``device``, ``tile_size_px``, the phase normalisation (``phase_offset``, ``phase_scale``).
    """
    phase_provenance = read_phase_provenance(phase_plate_path)
    plate_provenance = read_zarr_provenance(output_plate_path, "virtual_stain_plate")
    network, model_provenance = load_network(checkpoint_path, config)
    device = resolve_device(config.predict.device)
    start = time.perf_counter()
    with (
        open_ome_zarr(phase_plate_path, layout="hcs", mode="r") as phase_plate,
        open_ome_zarr(output_plate_path, layout="hcs", mode="r+") as output_plate,
    ):
        phase_c = channel_index(phase_plate, config.input_channel, phase_plate_path)
        phase = plate_image(phase_plate, fov_name, phase_plate_path)
        output = plate_image(output_plate, fov_name, output_plate_path)
        expected = (phase.shape[0], 1, *phase.shape[2:])
        if tuple(output.shape) != expected:
            raise ArtifactError(
                f"{output_plate_path} {fov_name}: array shape {tuple(output.shape)}, expected {expected} "
                f"from {phase_plate_path}; recreate the prediction plate (`snakemake --forcerun "
                "virtual_stain_plate`)"
            )
        normalization = fov_normalization(
            phase, phase_c, "mean_std", config.normalization_frames, f"{phase_plate_path} {fov_name}"
        )
        for t in tqdm(range(phase.shape[0]), desc=f"virtual stain {fov_name}", unit="frame", mininterval=2.0):
            stack = normalization.apply(phase[t, phase_c])  # (Z, Y, X)
            output[t, 0] = predict_stack(network, stack, config.predict, device)
    seconds = time.perf_counter() - start
    metrics = {
        "n_frames": int(phase.shape[0]),
        "seconds": seconds,
        "seconds_per_frame": seconds / max(1, int(phase.shape[0])),
        "device": str(device),
        "tile_size_px": config.predict.tile_size_px,
        "phase_offset": normalization.offset,
        "phase_scale": normalization.scale,
    }
    provenance = make_provenance(
        "virtual_stain_fov",
        config.model_dump(mode="json"),
        inputs=[
            (phase_plate_path, phase_provenance),
            (checkpoint_path, model_provenance),
            (output_plate_path, plate_provenance),
        ],
    )
    write_fov_record(record_path, provenance, metrics)
    logger.info("%s: predicted %d frames in %.1f s on %s", fov_name, metrics["n_frames"], seconds, device)
    return metrics
