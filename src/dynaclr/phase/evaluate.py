"""Reconstructed phase vs the simulator's true phase (rule ``evaluate_phase``).

Two Pearson correlations per FOV and over all FOVs, each pooled over every time point:

``pearson_r``
    reconstruction vs the true phase as simulated (sharp, all spatial frequencies). In 3d mode
    over the slices spanned by the nuclei; in 2d mode the true phase is projected (summed) over
    z, since the thin model reconstructs the phase integrated through the sample.
``pearson_r_passband``
    reconstruction vs the *passband reference*: the true phase pushed through the same transfer
    function (ideal, noise-free, evenly lit brightfield) and the same regularised inverse. It is
    what this stage would output with a perfect camera, so it measures the stage (noise, flat
    field, model and padding mismatch) apart from what the optics cannot transmit: weak-object
    brightfield passes no phase at zero spatial frequency and, in 3d, little along the missing
    cone, so a linear inverse loses smooth cell bodies whatever the algorithm. The non-negative
    3d inverse (``non_negativity_iterations``) recovers much of them from the constraint
    ``phase >= 0``; the reference then goes through that same non-linear inverse.

Both are insensitive to scale and offset (the simulator scales the brightfield contrast, so the
phase's absolute scale is not compared). Missing voxels (NaN, ±inf: the frames the reconstruction
dropped, :mod:`dynaclr.numerics.missing`) are left out of both.

The table goes to the CSV the rule names (``outputs.table``); CSV files carry no metadata, so the
provenance (kind ``phase_evaluation``) and the overall figures go to the JSON record the rule
names beside it (``outputs.record``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from iohub.ngff import open_ome_zarr
from tqdm.auto import tqdm

from dynaclr.config.phase import PhaseConfig
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    StageFiles,
    atomic_output,
    make_provenance,
    read_table,
    read_zarr_provenance,
)
from dynaclr.io.chunks import read_block
from dynaclr.io.plate import list_plate_fovs, read_fov_record, read_plate_geometry, write_fov_record
from dynaclr.numerics.missing import missing_mask
from dynaclr.numerics.pearson import PearsonAccumulator
from dynaclr.phase.reconstruct import check_same_config, invert_brightfield
from dynaclr.phase.transfer_function import TransferFunction, load_transfer_function

logger = logging.getLogger(__name__)

EVALUATION_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "mode",
    "n_frames",
    "z_first_slice",
    "z_last_slice",
    "n_voxels",
    "pearson_r",
    "pearson_r_passband",
)

#: ``fov_name`` of the row pooling every evaluated FOV.
OVERALL = "all"


def passband_reference(
    true_phase: np.ndarray, transfer_function: TransferFunction, config: PhaseConfig
) -> np.ndarray:
    """The stage's output for an ideal brightfield stack computed from ``true_phase``.

    3d: ``true_phase`` is ``(Z, Y, X)`` cycles per voxel; it is zero-padded by the transfer
    function's z padding, multiplied by the real-potential transfer function in 3D Fourier space
    (a linear, non-circular convolution along z) and cropped back to ``(Z, Y, X)``. 2d:
    ``true_phase`` is the projected phase ``(Y, X)``, multiplied by the thin-phase transfer
    function of each slice. The noise-free modulation (plus a unit background) goes through
    :func:`invert_brightfield` with ``config``; returns float32 ``(Z, Y, X)`` or ``(1, Y, X)``.
    """
    phase = torch.from_numpy(np.asarray(true_phase, dtype=np.float32))
    if transfer_function.mode == "3d":
        pad = transfer_function.z_padding_slices
        padded = torch.nn.functional.pad(phase, (0, 0, 0, 0, pad, pad))
        spectrum = torch.fft.fftn(padded) * transfer_function.arrays["real_potential_transfer_function"]
        modulation = torch.real(torch.fft.ifftn(spectrum))[pad : pad + phase.shape[0]]
    else:
        spectrum = torch.fft.fft2(phase)[None] * transfer_function.arrays["phase_transfer_function"]
        modulation = torch.real(torch.fft.ifft2(spectrum))
    return invert_brightfield(1.0 + modulation, transfer_function, config)


def nuclei_z_range(z_slices: np.ndarray, nucleus_height_slices: float, n_slices: int) -> tuple[int, int]:
    """First and last slice spanned by nuclei centred at ``z_slices`` (inclusive, clipped).

    ``nucleus_height_slices`` is the nuclear extent along z in slices; no cells → the whole stack.
    """
    if len(z_slices) == 0:
        return 0, n_slices - 1
    half = nucleus_height_slices / 2.0
    first = max(math.floor(float(np.min(z_slices)) - half), 0)
    last = min(math.ceil(float(np.max(z_slices)) + half), n_slices - 1)
    return int(first), int(last)


def _nucleus_height_um(tracks_path: str | Path, simulate_config: dict[str, object]) -> float:
    cells = simulate_config.get("cells")
    height = cells.get("nucleus_height_um") if isinstance(cells, dict) else None
    if not isinstance(height, int | float):
        raise ArtifactError(
            f"{tracks_path}: provenance config has no cells.nucleus_height_um (found keys "
            f"{sorted(simulate_config)}); the phase evaluation needs a ground truth written by the "
            "simulator: rerun it with `snakemake --forcerun simulate`"
        )
    return float(height)


class EvaluatePhaseInputs(StageFiles):
    """Rule ``evaluate_phase``: the phase plate and every FOV's record (proof it is filled), the
    transfer function it was made with, and the simulator's true phase and tracks."""

    phase_plate: Path
    records: tuple[Path, ...]
    transfer_function: Path
    truth: Path
    tracks: Path


class EvaluatePhaseOutputs(StageFiles):
    """Rule ``evaluate_phase``: the table of correlations and its record (provenance, overall r)."""

    table: Path
    record: Path


@dataclass(frozen=True)
class EvaluationReference:
    """What each FOV is compared with: the stage's config and transfer function (for the passband
    reference), the simulated nuclear height in slices, and the ground-truth tracks (``fov_name,
    t, z``; ``z`` in slices)."""

    config: PhaseConfig
    transfer_function: TransferFunction
    nucleus_height_slices: float
    tracks: pd.DataFrame


@dataclass
class FovCorrelations:
    """One FOV's pooled correlations (every frame) and the slice range they cover (inclusive)."""

    fov_name: str
    n_frames: int
    z_first_slice: int
    z_last_slice: int
    raw: PearsonAccumulator
    passband: PearsonAccumulator
    any_nonzero: bool

    def row(self, mode: str) -> dict[str, Any]:
        """This FOV's row of the table (:data:`EVALUATION_COLUMNS`)."""
        return {
            "fov_name": self.fov_name,
            "mode": mode,
            "n_frames": self.n_frames,
            "z_first_slice": self.z_first_slice,
            "z_last_slice": self.z_last_slice,
            "n_voxels": self.raw.n,
            "pearson_r": self.raw.r(),
            "pearson_r_passband": self.passband.r(),
        }


def read_evaluation_reference(inputs: EvaluatePhaseInputs) -> tuple[EvaluationReference, list[Any]]:
    """Read and check everything but the images; returns the reference and the inputs to record.

    The phase config is the phase plate's (its provenance); the transfer function and every FOV
    record must have been made with it. The nuclear height comes from the tracks' provenance
    (``cells.nucleus_height_um``) over the true phase's z step.
    """
    plate_provenance = read_zarr_provenance(inputs.phase_plate, ArtifactKind.PHASE_PLATE)
    config = PhaseConfig.model_validate(plate_provenance.config)
    for record in inputs.records:
        record_provenance, _ = read_fov_record(record, ArtifactKind.PHASE_FOV)
        check_same_config(config, record_provenance, record)
    truth_provenance = read_zarr_provenance(inputs.truth, ArtifactKind.GROUND_TRUTH_PHASE)
    tracks, tracks_provenance = read_table(
        inputs.tracks, ArtifactKind.GROUND_TRUTH_TRACKS, ("fov_name", "t", "z")
    )
    transfer_function, transfer_provenance = load_transfer_function(inputs.transfer_function)
    check_same_config(config, transfer_provenance, inputs.transfer_function)
    nucleus_height_slices = _nucleus_height_um(inputs.tracks, tracks_provenance.config) / (
        read_plate_geometry(inputs.truth).z_step_um
    )
    recorded: list[Any] = [
        (inputs.phase_plate, plate_provenance),
        (inputs.truth, truth_provenance),
        (inputs.tracks, tracks_provenance),
        (inputs.transfer_function, transfer_provenance),
    ]
    return EvaluationReference(config, transfer_function, nucleus_height_slices, tracks), recorded


def _finite_pairs(
    reconstructed: np.ndarray, true_phase: np.ndarray, passband: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three images' voxels where none is missing (the inputs themselves when none is)."""
    missing = [missing_mask(image) for image in (reconstructed, true_phase, passband)]
    if all(mask is None for mask in missing):
        return reconstructed, true_phase, passband
    keep = ~np.logical_or.reduce([mask for mask in missing if mask is not None])
    return reconstructed[keep], true_phase[keep], passband[keep]


def correlate_fov(
    reconstruction: Any,
    truth: Any,
    fov_name: str,
    reference: EvaluationReference,
    *,
    stores: tuple[str | Path, str | Path] = ("reconstruction", "truth"),
) -> FovCorrelations:
    """Pearson accumulators of one FOV, read one time point at a time.

    ``reconstruction`` is the stage's ``(T, 1, Z', Y, X)`` (``Z' = Z`` in 3d mode, 1 in 2d) and
    ``truth`` the true phase ``(T, 1, Z, Y, X)``: zarr or numpy arrays of matching shape. In 3d mode
    only the slices spanned by the FOV's nuclei are compared (:func:`nuclei_z_range`); in 2d mode
    the true phase is summed over z. Voxels missing in either (a dropped frame) are left out.
    ``stores`` (reconstruction, truth) name the plates in a corrupt-chunk error.
    """
    config = reference.config
    n_t, _, n_z, _, _ = truth.shape
    z_cells = reference.tracks.loc[reference.tracks["fov_name"] == fov_name, "z"].to_numpy()
    if config.mode == "3d":
        z_first, z_last = nuclei_z_range(z_cells, reference.nucleus_height_slices, n_z)
    else:
        z_first, z_last = 0, n_z - 1
    scores = FovCorrelations(
        fov_name, n_t, z_first, z_last, PearsonAccumulator(), PearsonAccumulator(), False
    )
    for t in range(n_t):
        reconstructed = read_block(reconstruction, (t, 0), store=stores[0], fov_name=fov_name)
        reconstructed = reconstructed.astype(np.float32, copy=False)
        true_phase = read_block(truth, (t, 0), store=stores[1], fov_name=fov_name).astype(np.float32)
        scores.any_nonzero = scores.any_nonzero or bool(np.any(reconstructed))
        if config.mode == "2d":
            true_phase = true_phase.sum(axis=0)
        passband = passband_reference(true_phase, reference.transfer_function, config)
        if config.mode == "3d":
            zs = slice(z_first, z_last + 1)
            reconstructed, true_phase, passband = reconstructed[zs], true_phase[zs], passband[zs]
        reconstructed, true_phase, passband = _finite_pairs(reconstructed, true_phase, passband)
        scores.raw.add(reconstructed, true_phase)
        scores.passband.add(reconstructed, passband)
    return scores


def evaluation_table(fovs: list[FovCorrelations], mode: str) -> pd.DataFrame:
    """One row per FOV, then ``fov_name = "all"`` pooling every voxel of every FOV."""
    overall_raw, overall_passband = PearsonAccumulator(), PearsonAccumulator()
    for fov in fovs:
        overall_raw.merge(fov.raw)
        overall_passband.merge(fov.passband)
    overall = {
        "fov_name": OVERALL,
        "mode": mode,
        "n_frames": int(sum(fov.n_frames for fov in fovs)),
        "z_first_slice": min((fov.z_first_slice for fov in fovs), default=0),
        "z_last_slice": max((fov.z_last_slice for fov in fovs), default=0),
        "n_voxels": overall_raw.n,
        "pearson_r": overall_raw.r(),
        "pearson_r_passband": overall_passband.r(),
    }
    return pd.DataFrame([*(fov.row(mode) for fov in fovs), overall], columns=list(EVALUATION_COLUMNS))


def _check_fov_shapes(
    reconstruction: Any, truth: Any, fov_name: str, inputs: EvaluatePhaseInputs, mode: str
) -> None:
    n_t, _, n_z, n_y, n_x = truth.shape
    expected = (n_t, 1, n_z if mode == "3d" else 1, n_y, n_x)
    if tuple(reconstruction.shape) != expected:
        raise ArtifactError(
            f"{inputs.phase_plate}: FOV {fov_name} has shape {tuple(reconstruction.shape)}; the ground "
            f"truth {inputs.truth} implies {expected}. Were they made from the same raw "
            "plate? Rerun `snakemake --forcerun phase_plate`"
        )


def evaluate_phase(inputs: EvaluatePhaseInputs, outputs: EvaluatePhaseOutputs) -> pd.DataFrame:
    """Pearson r between reconstructed and true phase, per FOV and over all FOVs.

    The phase config (mode, regularisation) is read from the phase plate's provenance; the
    transfer function and the FOV records must have been made with the same config. The z-range
    of a FOV runs from the lowest to the highest nuclear centroid of its ground-truth tracks
    (slices), widened by half the simulated nuclear height. Reads one time point of one FOV at a
    time. Writes ``outputs.table`` (columns :data:`EVALUATION_COLUMNS`, one row per FOV of the
    phase plate then the row ``fov_name='all'``) and ``outputs.record`` with the provenance (kind
    ``phase_evaluation``) and the overall figures; returns the table.
    """
    reference, recorded = read_evaluation_reference(inputs)
    mode = reference.config.mode
    fov_names = list_plate_fovs(inputs.phase_plate)
    fovs = []
    with (
        open_ome_zarr(inputs.phase_plate, layout="hcs", mode="r") as phase_plate,
        open_ome_zarr(inputs.truth, layout="hcs", mode="r") as truth_plate,
    ):
        for fov_name in tqdm(fov_names, desc="evaluate phase", unit="FOV", mininterval=2.0):
            reconstruction, truth = phase_plate[fov_name]["0"], truth_plate[fov_name]["0"]
            _check_fov_shapes(reconstruction, truth, fov_name, inputs, mode)
            fov = correlate_fov(
                reconstruction, truth, fov_name, reference, stores=(inputs.phase_plate, inputs.truth)
            )
            if not fov.any_nonzero:
                raise ArtifactError(
                    f"{inputs.phase_plate}: FOV {fov_name} holds no reconstruction (all zeros); its "
                    "reconstruct_phase job has not run or was interrupted: rerun it"
                )
            logger.info("%s: r = %.3f, r (passband) = %.3f", fov_name, fov.raw.r(), fov.passband.r())
            fovs.append(fov)
    table = evaluation_table(fovs, mode)
    with atomic_output(outputs.table) as tmp:
        table.to_csv(tmp, index=False)
    overall = table.iloc[-1]
    write_fov_record(
        outputs.record,
        make_provenance(
            ArtifactKind.PHASE_EVALUATION, reference.config.model_dump(mode="json"), inputs=recorded
        ),
        {
            "table": outputs.table.name,
            "pearson_r": float(overall["pearson_r"]),
            "pearson_r_passband": float(overall["pearson_r_passband"]),
            "fov_names": fov_names,
        },
    )
    return table
