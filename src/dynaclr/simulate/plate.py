"""Write a simulated HCS plate and its ground truth (rule ``simulate``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr
from numpy.typing import DTypeLike
from tqdm.auto import tqdm

from dynaclr.config.simulate import CHANNEL_NAMES, RAW_PIXEL_TYPE, SimulateConfig
from dynaclr.io import (
    ArtifactKind,
    StageFiles,
    atomic_output,
    make_provenance,
    write_plate_provenance,
    write_table,
)
from dynaclr.io.display import create_label_image, write_display_metadata
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
#: The NGFF label image (``labels/nuclei`` of each position) of the ground-truth labels plate.
LABEL_IMAGE = "nuclei"


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


class SimulateOutputs(StageFiles):
    """Rule ``simulate``: the raw plate and its ground truth.

    ``plate``: HCS OME-Zarr, channels :data:`~dynaclr.config.simulate.CHANNEL_NAMES`, uint16
    camera counts ``(T, C, Z, Y, X)``; ``tracks``: the ground-truth table
    (:data:`GROUND_TRUTH_COLUMNS`); ``labels``: nuclear labels (uint32, label = ``track_id``);
    ``phase``: the true phase (float32, cycles per voxel). The three plates share the positions.
    """

    plate: Path
    tracks: Path
    labels: Path
    phase: Path


@dataclass(frozen=True)
class _PlateLayout:
    channel_names: tuple[str, ...]
    dtype: DTypeLike
    kind: ArtifactKind


#: The plates a simulation writes, by output name.
_PLATES: dict[str, _PlateLayout] = {
    "plate": _PlateLayout(CHANNEL_NAMES, np.dtype(RAW_PIXEL_TYPE), ArtifactKind.RAW_PLATE),
    "labels": _PlateLayout((LABEL_CHANNEL,), np.uint32, ArtifactKind.GROUND_TRUTH_LABELS),
    "phase": _PlateLayout((PHASE_CHANNEL,), np.float32, ArtifactKind.GROUND_TRUTH_PHASE),
}


def _create_fov_positions(
    stores: dict[str, Any], fov_name: str, config: SimulateConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create position ``fov_name`` in each plate with its zero image ``(T, C, Z, Y, X)``, one chunk
    per frame and channel, and the labels plate's label image ``(T, Z, Y, X)``.

    Returns the positions and the arrays to fill, by output name (``labels_image``: the label image).
    """
    n_z, n_y, n_x = config.shape_zyx
    transform = scale_transform(config.time_interval_minutes * 60.0, config.z_step_um, config.pixel_size_um)
    positions, arrays = {}, {}
    for key, store in stores.items():
        layout = _PLATES[key]
        position = store.create_position(*split_fov_name(fov_name))
        positions[key] = position
        arrays[key] = position.create_zeros(
            "0",
            shape=(config.n_frames, len(layout.channel_names), n_z, n_y, n_x),
            dtype=layout.dtype,
            chunks=(1, 1, n_z, n_y, n_x),
            transform=transform,
        )
    arrays["labels_image"] = create_label_image(
        positions["labels"], LABEL_IMAGE, (config.n_frames, n_z, n_y, n_x), _PLATES["labels"].dtype, transform
    )
    return positions, arrays


def _simulate_fov(
    config: SimulateConfig,
    fov_index: int,
    microscope: Microscope,
    arrays: dict[str, Any],
    nuclear_marker: bool,
    progress: tqdm,
) -> pd.DataFrame:
    """Simulate FOV number ``fov_index`` into its ``arrays``, frame by frame; returns its dynamics."""
    table = simulate_fov_dynamics(config, fov_index)
    noise_rng = fov_rng(config.seed, fov_index, 1)
    by_frame = dict(tuple(table.groupby("t"))) if len(table) else {}
    for t in range(config.n_frames):
        cells = by_frame.get(t, table.iloc[0:0])
        volumes = render_frame(cells, config)
        arrays["plate"][t] = microscope.acquire(volumes, nuclear_marker, noise_rng)
        arrays["labels"][t, 0] = volumes.labels
        arrays["labels_image"][t] = volumes.labels
        arrays["phase"][t, 0] = volumes.phase
        progress.update()
    return table


def simulate_plate(config: SimulateConfig, outputs: SimulateOutputs) -> pd.DataFrame:
    """Simulate the whole plate; write raw images, labels, true phase and the ground-truth table.

    Streams frame by frame: memory holds one frame of one FOV plus the (small) tables. Each FOV
    draws from its own generators (:func:`fov_rng`), so the same seed gives the same plate.
    Returns the ground-truth table that was written.
    """
    microscope = Microscope.build(config)
    fov_names = config.fov_names()
    marker_fovs = set(fov_names if config.nuclear_marker_fovs == "all" else config.nuclear_marker_fovs)
    config_dict = config.model_dump(mode="json")
    tables = []
    with (
        atomic_output(outputs.plate) as tmp_plate,
        atomic_output(outputs.labels) as tmp_labels,
        atomic_output(outputs.phase) as tmp_phase,
    ):
        paths = {"plate": tmp_plate, "labels": tmp_labels, "phase": tmp_phase}
        stores = {
            key: open_ome_zarr(
                path,
                layout="hcs",
                mode="w",
                channel_names=list(_PLATES[key].channel_names),
                version=OME_ZARR_VERSION,
            )
            for key, path in paths.items()
        }
        with tqdm(
            total=len(fov_names) * config.n_frames, desc="simulate", unit="frame", mininterval=2.0
        ) as bar:
            for fov_index, fov_name in enumerate(fov_names):
                positions, arrays = _create_fov_positions(stores, fov_name, config)
                tables.append(
                    _simulate_fov(config, fov_index, microscope, arrays, fov_name in marker_fovs, bar)
                )
                for position in positions.values():
                    write_display_metadata(position)
        for key, store in stores.items():
            store.zattrs["time_interval_minutes"] = config.time_interval_minutes
            store.close()
            # root, and each position's copy (what a per-FOV job reads instead of the root)
            write_plate_provenance(paths[key], make_provenance(_PLATES[key].kind, config_dict), fov_names)
        ground_truth = ground_truth_table(tables)
        write_table(
            ground_truth, outputs.tracks, make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, config_dict)
        )
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
