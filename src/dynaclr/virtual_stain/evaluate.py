"""Compare predicted and measured nuclear fluorescence: Pearson r per FOV, held-out FOVs marked."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr
from tqdm.auto import tqdm

from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io import ArtifactError, atomic_output, make_provenance, read_zarr_provenance
from dynaclr.io.plate import list_plate_fovs, write_fov_record
from dynaclr.virtual_stain.plates import channel_index, plate_image

__all__ = ["EVALUATION_COLUMNS", "PearsonAccumulator", "evaluate_virtual_stain", "evaluation_record_path"]

logger = logging.getLogger(__name__)

#: Columns of the evaluation table.
EVALUATION_COLUMNS = (
    "fov_name",
    "held_out",
    "pearson_r",
    "pearson_r_frame_mean",
    "n_frames_evaluated",
    "n_voxels",
)


@dataclass
class PearsonAccumulator:
    """Streaming Pearson correlation: per-chunk centred moments merged with Chan et al.'s formula."""

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    m2_x: float = 0.0
    m2_y: float = 0.0
    c_xy: float = 0.0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add paired samples (arrays of the same shape)."""
        x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
        n_b = x.size
        if n_b == 0:
            return
        mean_xb, mean_yb = x.mean(), y.mean()
        dx, dy = x - mean_xb, y - mean_yb
        m2_xb, m2_yb, c_xyb = float(dx @ dx), float(dy @ dy), float(dx @ dy)
        n = self.n + n_b
        delta_x, delta_y = mean_xb - self.mean_x, mean_yb - self.mean_y
        weight = self.n * n_b / n
        self.m2_x += m2_xb + delta_x**2 * weight
        self.m2_y += m2_yb + delta_y**2 * weight
        self.c_xy += c_xyb + delta_x * delta_y * weight
        self.mean_x += delta_x * n_b / n
        self.mean_y += delta_y * n_b / n
        self.n = n

    @property
    def r(self) -> float:
        """Pearson r; NaN when either variable is constant or there are no samples."""
        denominator = np.sqrt(self.m2_x * self.m2_y)
        return float(self.c_xy / denominator) if denominator > 0 else float("nan")


def evaluation_record_path(output_csv: str | Path) -> Path:
    """The provenance record next to the evaluation CSV: ``virtual_stain.csv`` → ``virtual_stain.json``."""
    return Path(output_csv).with_suffix(".json")


def evaluate_virtual_stain(
    prediction_plate_path: str | Path,
    target_plate_path: str | Path,
    fov_names: list[str] | None,
    train_fovs: list[str],
    output_csv: str | Path,
) -> pd.DataFrame:
    """Pearson r between the predicted plate and the raw plate's nuclear channel, per FOV.

    Streams one frame ``(Z, Y, X)`` at a time. Frames whose measured channel is constant (no
    nuclear marker) are skipped; a FOV without any usable frame gets NaN.

    Args:
        prediction_plate_path: kind ``virtual_stain_plate`` (its provenance names the channels).
        target_plate_path: the raw plate (kind ``raw_plate``).
        fov_names: FOVs to evaluate; None for all FOVs of the prediction plate.
        train_fovs: FOVs used in training; the others are marked ``held_out``.
        output_csv: e.g. ``results/{dataset}/evaluation/virtual_stain.csv``; its provenance and the
            mean held-out r are written next to it (:func:`evaluation_record_path`).

    Returns:
        one row per FOV with :data:`EVALUATION_COLUMNS`: ``pearson_r`` over all voxels of all
        evaluated frames, ``pearson_r_frame_mean`` the mean of per-frame r.
    """
    prediction_provenance = read_zarr_provenance(prediction_plate_path, "virtual_stain_plate")
    target_provenance = read_zarr_provenance(target_plate_path, "raw_plate")
    config = VirtualStainConfig.model_validate(prediction_provenance.config)
    fov_names = list_plate_fovs(prediction_plate_path) if fov_names is None else list(fov_names)
    rows = []
    with (
        open_ome_zarr(prediction_plate_path, layout="hcs", mode="r") as prediction_plate,
        open_ome_zarr(target_plate_path, layout="hcs", mode="r") as target_plate,
    ):
        target_c = channel_index(target_plate, config.target_channel, target_plate_path)
        for fov_name in tqdm(fov_names, desc="evaluate virtual stain", unit="FOV", mininterval=2.0):
            predicted = plate_image(prediction_plate, fov_name, prediction_plate_path)
            measured = plate_image(target_plate, fov_name, target_plate_path)
            if (predicted.shape[0], *predicted.shape[2:]) != (measured.shape[0], *measured.shape[2:]):
                raise ArtifactError(
                    f"{fov_name}: prediction {prediction_plate_path} has shape {predicted.shape}, target "
                    f"{target_plate_path} has {measured.shape}; T, Z, Y, X must agree"
                )
            total, frame_r = PearsonAccumulator(), []
            for t in range(predicted.shape[0]):
                truth = np.asarray(measured[t, target_c], dtype=np.float64)  # (Z, Y, X)
                if truth.min() == truth.max():
                    continue
                prediction = np.asarray(predicted[t, 0], dtype=np.float64)
                frame = PearsonAccumulator()
                frame.add(prediction, truth)
                total.add(prediction, truth)
                frame_r.append(frame.r)
            rows.append(
                {
                    "fov_name": fov_name,
                    "held_out": fov_name not in train_fovs,
                    "pearson_r": total.r,
                    "pearson_r_frame_mean": float(np.nanmean(frame_r)) if frame_r else float("nan"),
                    "n_frames_evaluated": len(frame_r),
                    "n_voxels": total.n,
                }
            )
    table = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))
    with atomic_output(output_csv) as tmp:
        table.to_csv(tmp, index=False)
    held_out = table.loc[table["held_out"], "pearson_r"]
    summary = {
        "held_out_pearson_r_mean": float(held_out.mean()) if held_out.notna().any() else None,
        "train_pearson_r_mean": float(table.loc[~table["held_out"], "pearson_r"].mean())
        if (~table["held_out"]).any()
        else None,
        "n_fovs": len(table),
    }
    provenance = make_provenance(
        "virtual_stain_evaluation",
        {"fov_names": fov_names, "train_fovs": list(train_fovs), "target_channel": config.target_channel},
        inputs=[(prediction_plate_path, prediction_provenance), (target_plate_path, target_provenance)],
    )
    write_fov_record(evaluation_record_path(output_csv), provenance, summary)
    logger.info("virtual staining evaluation: %s", summary)
    return table
