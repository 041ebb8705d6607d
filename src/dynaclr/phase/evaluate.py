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
phase's absolute scale is not compared).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from iohub.ngff import open_ome_zarr
from tqdm.auto import tqdm

from dynaclr.config.phase import PhaseConfig
from dynaclr.io import (
    ArtifactError,
    atomic_output,
    make_provenance,
    read_table,
    read_zarr_provenance,
)
from dynaclr.io.plate import list_plate_fovs, read_plate_geometry, write_fov_record
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


@dataclass
class PearsonAccumulator:
    """Pearson r of two variables over data seen in pieces (sums kept in float64)."""

    n: int = 0
    sum_a: float = 0.0
    sum_b: float = 0.0
    sum_aa: float = 0.0
    sum_bb: float = 0.0
    sum_ab: float = 0.0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        a64 = np.asarray(a, dtype=np.float64).ravel()
        b64 = np.asarray(b, dtype=np.float64).ravel()
        self.n += a64.size
        self.sum_a += float(a64.sum())
        self.sum_b += float(b64.sum())
        self.sum_aa += float(a64 @ a64)
        self.sum_bb += float(b64 @ b64)
        self.sum_ab += float(a64 @ b64)

    def merge(self, other: PearsonAccumulator) -> None:
        self.n += other.n
        self.sum_a += other.sum_a
        self.sum_b += other.sum_b
        self.sum_aa += other.sum_aa
        self.sum_bb += other.sum_bb
        self.sum_ab += other.sum_ab

    def r(self) -> float:
        """Pearson r; NaN when either variable is constant or nothing was added."""
        if self.n == 0:
            return math.nan
        cov = self.sum_ab - self.sum_a * self.sum_b / self.n
        var_a = self.sum_aa - self.sum_a**2 / self.n
        var_b = self.sum_bb - self.sum_b**2 / self.n
        if var_a <= 0 or var_b <= 0:
            return math.nan
        return cov / math.sqrt(var_a * var_b)


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


def evaluate_phase(
    phase_plate_path: str | Path,
    ground_truth_phase_path: str | Path,
    ground_truth_tracks_path: str | Path,
    transfer_function_path: str | Path,
    output_csv: str | Path,
    fov_names: list[str] | None = None,
) -> pd.DataFrame:
    """Pearson r between reconstructed and true phase, per FOV and over all FOVs.

    The phase config (mode, regularisation) is read from the phase plate's provenance; the
    transfer function must have been made with the same config. The z-range of a FOV runs from
    the lowest to the highest nuclear centroid of its ground-truth tracks (slices), widened by
    half the simulated nuclear height (``cells.nucleus_height_um`` in the tracks' provenance).
    Reads one time point of one FOV at a time. Writes ``output_csv`` (columns
    :data:`EVALUATION_COLUMNS`, one row per FOV then the row ``fov_name='all'``) and, beside it,
    ``<name>.json`` with the provenance (kind ``phase_evaluation``) and the overall figures.
    """
    output_csv = Path(output_csv)
    plate_provenance = read_zarr_provenance(phase_plate_path, "phase_plate")
    config = PhaseConfig.model_validate(plate_provenance.config)
    truth_provenance = read_zarr_provenance(ground_truth_phase_path, "ground_truth_phase")
    tracks, tracks_provenance = read_table(
        ground_truth_tracks_path, "ground_truth_tracks", ("fov_name", "t", "z")
    )
    transfer_function, transfer_provenance = load_transfer_function(transfer_function_path)
    check_same_config(config, transfer_provenance, transfer_function_path)
    nucleus_height_slices = _nucleus_height_um(ground_truth_tracks_path, tracks_provenance.config) / (
        read_plate_geometry(ground_truth_phase_path).z_step_um
    )
    fov_names = list(fov_names) if fov_names is not None else list_plate_fovs(phase_plate_path)
    rows = []
    overall_raw, overall_passband = PearsonAccumulator(), PearsonAccumulator()
    with (
        open_ome_zarr(phase_plate_path, layout="hcs", mode="r") as phase_plate,
        open_ome_zarr(ground_truth_phase_path, layout="hcs", mode="r") as truth_plate,
    ):
        for fov_name in tqdm(fov_names, desc="evaluate phase", unit="FOV", mininterval=2.0):
            reconstruction = phase_plate[fov_name]["0"]
            truth = truth_plate[fov_name]["0"]
            n_t, _, n_z, n_y, n_x = truth.shape
            expected = (n_t, 1, n_z if config.mode == "3d" else 1, n_y, n_x)
            if tuple(reconstruction.shape) != expected:
                raise ArtifactError(
                    f"{phase_plate_path}: FOV {fov_name} has shape {tuple(reconstruction.shape)}; the ground "
                    f"truth {ground_truth_phase_path} implies {expected}. Were they made from the same raw "
                    "plate? Rerun `snakemake --forcerun phase_plate`"
                )
            z_cells = tracks.loc[tracks["fov_name"] == fov_name, "z"].to_numpy()
            if config.mode == "3d":
                z_first, z_last = nuclei_z_range(z_cells, nucleus_height_slices, n_z)
            else:
                z_first, z_last = 0, n_z - 1
            raw, passband = PearsonAccumulator(), PearsonAccumulator()
            any_nonzero = False
            for t in range(n_t):
                reconstructed = np.asarray(reconstruction[t, 0], dtype=np.float32)
                true_phase = np.asarray(truth[t, 0], dtype=np.float32)
                any_nonzero = any_nonzero or bool(np.any(reconstructed))
                if config.mode == "2d":
                    true_phase = true_phase.sum(axis=0)
                reference = passband_reference(true_phase, transfer_function, config)
                if config.mode == "3d":
                    zs = slice(z_first, z_last + 1)
                    reconstructed, true_phase, reference = reconstructed[zs], true_phase[zs], reference[zs]
                raw.add(reconstructed, true_phase)
                passband.add(reconstructed, reference)
            if not any_nonzero:
                raise ArtifactError(
                    f"{phase_plate_path}: FOV {fov_name} holds no reconstruction (all zeros); its "
                    "reconstruct_phase job has not run or was interrupted: rerun it"
                )
            overall_raw.merge(raw)
            overall_passband.merge(passband)
            rows.append(
                {
                    "fov_name": fov_name,
                    "mode": config.mode,
                    "n_frames": n_t,
                    "z_first_slice": z_first,
                    "z_last_slice": z_last,
                    "n_voxels": raw.n,
                    "pearson_r": raw.r(),
                    "pearson_r_passband": passband.r(),
                }
            )
            logger.info(
                "%s: r = %.3f, r (passband) = %.3f",
                fov_name,
                rows[-1]["pearson_r"],
                rows[-1]["pearson_r_passband"],
            )
    rows.append(
        {
            "fov_name": OVERALL,
            "mode": config.mode,
            "n_frames": int(sum(row["n_frames"] for row in rows)),
            "z_first_slice": min((row["z_first_slice"] for row in rows), default=0),
            "z_last_slice": max((row["z_last_slice"] for row in rows), default=0),
            "n_voxels": overall_raw.n,
            "pearson_r": overall_raw.r(),
            "pearson_r_passband": overall_passband.r(),
        }
    )
    table = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))
    with atomic_output(output_csv) as tmp:
        table.to_csv(tmp, index=False)
    provenance = make_provenance(
        "phase_evaluation",
        config.model_dump(mode="json"),
        inputs=[
            (phase_plate_path, plate_provenance),
            (ground_truth_phase_path, truth_provenance),
            (ground_truth_tracks_path, tracks_provenance),
            (transfer_function_path, transfer_provenance),
        ],
    )
    write_fov_record(
        output_csv.with_suffix(".json"),
        provenance,
        {
            "table": output_csv.name,
            "pearson_r": overall_raw.r(),
            "pearson_r_passband": overall_passband.r(),
            "fov_names": fov_names,
        },
    )
    return table
