"""Shared fixtures: tiny simulated plates made at test time (never committed blobs)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

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


#: Patch channels of the training tests: reconstructed phase and the viral sensor of the tiny plate.
TINY_PATCH_CHANNELS = [
    {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
    {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
]
#: Their patch spec: 3 slices, 32 px.
TINY_PATCH_SPEC = {
    "name": "tiny",
    "channels": TINY_PATCH_CHANNELS,
    "z_window_slices": 3,
    "patch_size_yx_px": 32,
}


def load_script(path: Path, name: str) -> ModuleType:
    """The Python file ``path`` (a development tool or benchmark, not in the library) as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: docs/screenshots.py (starts headless chromium): ``start_chromium``, ``console_errors``,
#: ``click_first_point``, ``main``.
screenshots = load_script(REPO_ROOT / "docs" / "screenshots.py", "dynaclr_screenshots")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless chromium (selenium WebDriver) saving downloads into ``chromium.downloads``; the test
    skips where chromium, chromedriver or selenium is missing (``make browser``), or fails when
    ``DYNACLR_REQUIRE_BROWSER=1`` (CI, once it installed them)."""
    reason = screenshots.browser_missing()
    if reason is not None:
        if os.environ.get("DYNACLR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DYNACLR_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    downloads = tmp_path_factory.mktemp("downloads")
    driver = screenshots.start_chromium(downloads)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def one_torch_thread():
    """Small models run fastest single-threaded: 2 threads on 2 busy shared cores is several times slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_config() -> SimulateConfig:
    return SimulateConfig.model_validate(TINY_SIMULATE)


@pytest.fixture(scope="session")
def tiny_plate(tmp_path_factory: pytest.TempPathFactory, tiny_config: SimulateConfig) -> dict[str, Path]:
    """A simulated tiny plate with its ground truth, written once per test session."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    root = tmp_path_factory.mktemp("tiny_plate")
    outputs = SimulateOutputs(
        plate=root / "raw.zarr",
        tracks=root / "ground_truth" / "tracks.parquet",
        labels=root / "ground_truth" / "labels.zarr",
        phase=root / "ground_truth" / "phase.zarr",
    )
    simulate_plate(tiny_config, outputs)
    return outputs.model_dump()


def build_patch_store(
    plates: dict[str, Path], tracks: Path, spec, out: Path, fovs: tuple[str, ...] = ("A/1/0", "B/1/0")
) -> dict[str, Path]:
    """Extract ``spec``'s patches of the tiny plate's two FOVs (or ``fovs``) into ``out`` and collect them.

    ``plates`` maps patch sources ("raw", "phase") to plate paths.
    """
    from dynaclr.patches import (
        CollectPatchesInputs,
        CollectPatchesOutputs,
        ExtractPatchesInputs,
        ExtractPatchesOutputs,
        collect_patches,
        extract_fov_patches,
    )

    inputs = ExtractPatchesInputs(
        **{f"plate_{source}": path for source, path in plates.items()}, tracks=tracks
    )
    zarrs, parquets = [], []
    for fov in fovs:
        stem = out / fov.replace("/", "_")
        outputs = ExtractPatchesOutputs(
            zarr=stem.with_suffix(".zarr"),
            parquet=stem.with_suffix(".parquet"),
            record=stem.with_suffix(".json"),
        )
        extract_fov_patches(spec, inputs, outputs, fov_name=fov)
        zarrs.append(outputs.zarr)
        parquets.append(outputs.parquet)
    store = CollectPatchesOutputs(zarr=out / f"{spec.name}.zarr", parquet=out / f"{spec.name}.parquet")
    collect_patches(CollectPatchesInputs(zarrs=zarrs, parquets=parquets), store)
    return store.model_dump()


def pytest_configure(config: pytest.Config) -> None:
    """Under ``make test`` (2 pytest-xdist workers on the 2 cores) each worker's torch runs one thread:
    two workers of 2 threads each would oversubscribe the cores (tests that set threads still do)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


#: The groups of tests that run first under ``make test`` (2 pytest-xdist workers, ``--dist loadscope``
#: with :func:`pytest_xdist_make_scheduler`'s groups): the longest, so that neither worker is left
#: with one of them at the end.
FIRST_GROUPS = (
    "tests/slurm",
    "tests/integration/test_workflow.py",
    "tests/integration/test_alfi_like.py",
    "tests/faults",
)


def worker_group(nodeid: str) -> str:
    """The group of tests one xdist worker runs together: tests/slurm (one SLURM cluster per session),
    tests/faults (one shared fixture, made once) or the test's file (its module fixtures made once)."""
    path = nodeid.split("::")[0]
    top = "/".join(path.split("/")[:2])
    return top if top in ("tests/slurm", "tests/faults") else path


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before pytest-xdist's; without xdist, unused
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with :func:`worker_group` for a scope: each group runs whole on one worker,
    in collection order with ``--no-loadscope-reorder``. (``--dist loadgroup``'s ``xdist_group`` marks
    do not group under pytest 9: pytest-xdist 3.8 renames ``item._nodeid``, which pytest 9 never reads.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The layers (``make test-fast`` deselects both): the workflow tests of tests/integration (dry
    runs and the whole tiny run) are ``slow``; tests/slurm, which starts a SLURM cluster, ``slurm``.
    The longest groups first (:data:`FIRST_GROUPS`)."""
    tests = Path(__file__).parent
    for item in items:
        if tests / "integration" in item.path.parents:
            item.add_marker(pytest.mark.slow)
        if tests / "slurm" in item.path.parents:
            item.add_marker(pytest.mark.slurm)
    rank = {group: index for index, group in enumerate(FIRST_GROUPS)}
    items.sort(key=lambda item: rank.get(worker_group(item.nodeid), len(rank)))


def train_model(patches_zarr: Path, patches_parquet: Path, config, out: Path, **kwargs):
    """Train a contrastive model on a patch store into ``out`` (``model.ckpt``, ``config.json``,
    ``checkpoints/``, ``logs/``), as rule ``train_contrastive`` lays it out."""
    from dynaclr.config.training import ContrastiveModelConfig
    from dynaclr.training.train import TrainInputs, TrainOutputs, train_contrastive

    return train_contrastive(
        ContrastiveModelConfig.model_validate(config),
        TrainInputs(patches_zarr=patches_zarr, patches_parquet=patches_parquet),
        TrainOutputs(checkpoint=Path(out) / "model.ckpt", config=Path(out) / "config.json"),
        work_dir=out,
        **kwargs,
    )


def training_cli_outputs(out: Path) -> list[str]:
    """The output arguments of ``python -m dynaclr.training`` for the layout of :func:`train_model`."""
    return [
        "--model",
        str(out / "model.ckpt"),
        "--model-config",
        str(out / "config.json"),
        "--work-dir",
        str(out),
    ]
