"""The fault-injection layer: stages killed with SIGKILL and rerun, artifacts corrupted and read.

Every test here is ``slow`` (``make test-fast`` deselects it): each starts a stage in a fresh
Python process or builds the tiny chain of artifacts. The inputs every stage shares are made once
per session from the tiny simulated plate (``tests/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import build_patch_store, train_model

from faults.stages import (
    PATCH_SPEC,
    PHASE_CONFIG,
    VIRTUAL_STAIN_CONFIG,
    save_virtual_stain_weights,
)

FAULTS = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if FAULTS in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models run fastest single-threaded on the 2 shared cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def stage_inputs(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """What the long stages read, made once: the tiny plate, the phase transfer function, seeded
    virtual-staining weights, a patch store and a contrastive model trained for one step."""
    from dynaclr.phase import (
        PhaseTransferFunctionInputs,
        PhaseTransferFunctionOutputs,
        compute_transfer_function,
    )

    root = tmp_path_factory.mktemp("fault_inputs")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        compute_transfer_function(
            PHASE_CONFIG,
            PhaseTransferFunctionInputs(plate=tiny_plate["plate"]),
            PhaseTransferFunctionOutputs(transfer_function=root / "phase_transfer_function.zarr"),
        )
        save_virtual_stain_weights(VIRTUAL_STAIN_CONFIG, root / "virtual_stain" / "model.ckpt")
        store = build_patch_store(
            {"raw": tiny_plate["plate"], "phase": tiny_plate["phase"]},
            tiny_plate["tracks"],
            PATCH_SPEC,
            root / "patches",
        )
        model_config = {
            "patch_spec": PATCH_SPEC.name,
            "sampling": "time_aware",
            "tau_frames": 1,
            "backbone": "convnext_atto",
            "batch_size": 4,
            "num_workers": 0,
            "validation_fovs": ["A/1/0"],
            "seed": 5,
        }
        train_model(store["zarr"], store["parquet"], model_config, root / "model", fast_dev_run=True)
    finally:
        torch.set_num_threads(previous)
    return {
        "raw": tiny_plate["plate"],
        "truth_phase": tiny_plate["phase"],
        "truth_tracks": tiny_plate["tracks"],
        "truth_labels": tiny_plate["labels"],
        "transfer_function": root / "phase_transfer_function.zarr",
        "virtual_stain_checkpoint": root / "virtual_stain" / "model.ckpt",
        "patches_zarr": store["zarr"],
        "patches_parquet": store["parquet"],
        "model": root / "model" / "model.ckpt",
        "patch_dir": root / "patches",
    }
