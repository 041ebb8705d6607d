"""Write a simulated HCS plate and its ground truth."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr
from tqdm.auto import tqdm

from dynaclr.config.simulate import CHANNEL_NAMES, SimulateConfig
from dynaclr.io import atomic_output, make_provenance, write_table, write_zarr_provenance
from dynaclr.io.plate import OME_ZARR_VERSION, scale_transform, split_fov_name
from dynaclr.simulate.acquire import Microscope
from dynaclr.simulate.cells import FovDynamics
from dynaclr.simulate.render import render_frame

logger = logging.getLogger(__name__)

#: Columns of the ground-truth table, in order (units: t in frames, z in slices, y/x in pixels).
GROUND_TRUTH_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "well",
    "condition",
    "track_id",
    "parent_track_id",
    "lineage_id",
    "t",
    "time_minutes",
    "z",
    "y",
    "x",
    "nucleus_radius_px",
    "infected",
    "infection_onset_t",
    "mitosis",
    "dying",
    "death_start_t",
    "sensor_nuclear_fraction",
    "er_condensation",
)

PHASE_CHANNEL = "Phase3D"
LABEL_CHANNEL = "nuclei_labels"


def fov_rng(seed: int, fov_index: int, stream: int) -> np.random.Generator:
    """Independent generator per (seed, FOV, stream): FOVs do not depend on each other."""
    return np.random.default_rng(np.random.SeedSequence([seed, fov_index, stream]))


def simulate_fov_dynamics(config: SimulateConfig, fov_index: int) -> pd.DataFrame:
    """Per-cell per-frame states of FOV number ``fov_index`` (plate order)."""
    fov_name = config.fov_names()[fov_index]
    well = config.wells[fov_index // config.fovs_per_well]
    table = FovDynamics(config, well, fov_rng(config.seed, fov_index, 0)).run()
    table["fov_name"] = fov_name
    return table


def simulate_plate(
    config: SimulateConfig,
    plate_path: str | Path,
    tracks_path: str | Path,
    labels_path: str | Path,
    phase_path: str | Path,
) -> pd.DataFrame:
    """Simulate the whole plate; write raw images, labels, true phase and the ground-truth table.

    Streams frame by frame: memory holds one frame of one FOV plus the (small) tables.
    Returns the ground-truth table that was written.
    """
    microscope = Microscope.build(config)
    n_z, n_y, n_x = config.shape_zyx
    transform = scale_transform(config.time_interval_minutes * 60.0, config.z_step_um, config.pixel_size_um)
    fov_names = config.fov_names()
    marker_fovs = set(fov_names if config.nuclear_marker_fovs == "all" else config.nuclear_marker_fovs)
    config_dict = config.model_dump(mode="json")
    tables = []
    with (
        atomic_output(plate_path) as tmp_plate,
        atomic_output(labels_path) as tmp_labels,
        atomic_output(phase_path) as tmp_phase,
    ):
        stores = {
            "raw": open_ome_zarr(
                tmp_plate, layout="hcs", mode="w", channel_names=list(CHANNEL_NAMES), version=OME_ZARR_VERSION
            ),
            "labels": open_ome_zarr(
                tmp_labels, layout="hcs", mode="w", channel_names=[LABEL_CHANNEL], version=OME_ZARR_VERSION
            ),
            "phase": open_ome_zarr(
                tmp_phase, layout="hcs", mode="w", channel_names=[PHASE_CHANNEL], version=OME_ZARR_VERSION
            ),
        }
        shapes = {"raw": len(CHANNEL_NAMES), "labels": 1, "phase": 1}
        dtypes = {"raw": np.uint16, "labels": np.uint32, "phase": np.float32}
        progress = tqdm(
            total=len(fov_names) * config.n_frames, desc="simulate", unit="frame", mininterval=2.0
        )
        for fov_index, fov_name in enumerate(fov_names):
            table = simulate_fov_dynamics(config, fov_index)
            tables.append(table)
            arrays = {}
            for key, store in stores.items():
                position = store.create_position(*split_fov_name(fov_name))
                arrays[key] = position.create_zeros(
                    "0",
                    shape=(config.n_frames, shapes[key], n_z, n_y, n_x),
                    dtype=dtypes[key],
                    chunks=(1, 1, n_z, n_y, n_x),
                    transform=transform,
                )
            noise_rng = fov_rng(config.seed, fov_index, 1)
            by_frame = dict(tuple(table.groupby("t"))) if len(table) else {}
            for t in range(config.n_frames):
                cells = by_frame.get(t, table.iloc[0:0])
                volumes = render_frame(cells, config)
                arrays["raw"][t] = microscope.acquire(volumes, fov_name in marker_fovs, noise_rng)
                arrays["labels"][t, 0] = volumes.labels
                arrays["phase"][t, 0] = volumes.phase
                progress.update()
        progress.close()
        for store in stores.values():
            store.zattrs["time_interval_minutes"] = config.time_interval_minutes
            store.close()
        write_zarr_provenance(tmp_plate, make_provenance("raw_plate", config_dict))
        write_zarr_provenance(tmp_labels, make_provenance("ground_truth_labels", config_dict))
        write_zarr_provenance(tmp_phase, make_provenance("ground_truth_phase", config_dict))
        ground_truth = ground_truth_table(tables)
        write_table(ground_truth, tracks_path, make_provenance("ground_truth_tracks", config_dict))
    logger.info(
        "simulated %d FOVs x %d frames: %d cells, %d tracks",
        len(fov_names),
        config.n_frames,
        len(ground_truth),
        ground_truth.groupby(["fov_name", "track_id"]).ngroups if len(ground_truth) else 0,
    )
    return ground_truth


def ground_truth_table(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-FOV dynamics into the ground-truth table with stable dtypes."""
    non_empty = [t for t in tables if len(t)]
    if not non_empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in GROUND_TRUTH_COLUMNS})
    df = pd.concat(non_empty, ignore_index=True)[list(GROUND_TRUTH_COLUMNS)]
    for column in ("track_id", "parent_track_id", "lineage_id", "t", "infection_onset_t", "death_start_t"):
        df[column] = df[column].astype("int64")
    for column in ("infected", "mitosis", "dying"):
        df[column] = df[column].astype(bool)
    for column in ("fov_name", "well", "condition"):
        df[column] = df[column].astype(str)
    return df.sort_values(["fov_name", "track_id", "t"], ignore_index=True)
