"""Shared fixtures: tiny simulated plates made at test time (never committed blobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynaclr.config.simulate import SimulateConfig

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The tiny test configuration: generates in about a second.
TINY_SIMULATE = {
    "seed": 3,
    "wells": [
        {"row": "A", "column": "1", "condition": "mock", "infected_fraction": 0.0},
        {"row": "B", "column": "1", "condition": "infected", "infected_fraction": 1.0},
    ],
    "fovs_per_well": 1,
    "n_frames": 12,
    "shape_zyx": [5, 96, 96],
    "z_step_um": 2.5,
    "cells": {"initial_cells_per_fov": 6, "entering_cells_per_frame": 0.2},
    "division": {"cycle_length_frames": 10},
    "infection": {"onset_frames": [2, 5], "translocation_frames": 3, "death_probability": 0.0},
}


@pytest.fixture(scope="session")
def tiny_config() -> SimulateConfig:
    return SimulateConfig.model_validate(TINY_SIMULATE)


@pytest.fixture(scope="session")
def tiny_plate(tmp_path_factory: pytest.TempPathFactory, tiny_config: SimulateConfig) -> dict[str, Path]:
    """A simulated tiny plate with its ground truth, written once per test session."""
    from dynaclr.simulate import simulate_plate

    root = tmp_path_factory.mktemp("tiny_plate")
    paths = {
        "plate": root / "raw.zarr",
        "tracks": root / "ground_truth" / "tracks.parquet",
        "labels": root / "ground_truth" / "labels.zarr",
        "phase": root / "ground_truth" / "phase.zarr",
    }
    simulate_plate(
        tiny_config,
        plate_path=paths["plate"],
        tracks_path=paths["tracks"],
        labels_path=paths["labels"],
        phase_path=paths["phase"],
    )
    return paths


def build_patch_store(plates: dict[str, Path], tracks: Path, spec, out: Path) -> dict[str, Path]:
    """Extract ``spec``'s patches of the tiny plate's two FOVs into ``out`` and collect them.

    ``plates`` maps patch sources ("raw", "phase") to plate paths.
    """
    from dynaclr.patches import collect_patches, extract_fov_patches

    zarrs, parquets = [], []
    for fov in ("A/1/0", "B/1/0"):
        stem = out / fov.replace("/", "_")
        extract_fov_patches(
            plates,
            tracks,
            fov,
            spec,
            stem.with_suffix(".zarr"),
            stem.with_suffix(".parquet"),
            stem.with_suffix(".json"),
        )
        zarrs.append(stem.with_suffix(".zarr"))
        parquets.append(stem.with_suffix(".parquet"))
    collect_patches(zarrs, parquets, out / f"{spec.name}.zarr", out / f"{spec.name}.parquet")
    return {"zarr": out / f"{spec.name}.zarr", "parquet": out / f"{spec.name}.parquet"}
