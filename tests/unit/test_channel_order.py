"""A plate of your own whose positions list the same channels in other orders (``A/1/0``:
Brightfield, GFP; ``B/1/0``: GFP, Brightfield): every per-FOV reader looks its channel up by name in
the position it reads pixels from, so both positions, holding the same images, give the same results.
Read at the plate's level (its first position's order), ``B/1/0`` would read the other channel."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from iohub.ngff import open_ome_zarr
from plate_helpers import write_plate_in_channel_orders

from dynaclr import phase as phase_stage
from dynaclr.config.patches import PatchSpec
from dynaclr.config.phase import PhaseConfig
from dynaclr.config.tracking import TrackingConfig
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io.plate import read_plate_layout
from dynaclr.patches.extract import open_fov_channels
from dynaclr.tracking.fov import read_reduced_nuclei
from dynaclr.virtual_stain.evaluate import (
    EvaluateVirtualStainInputs,
    EvaluateVirtualStainOutputs,
    evaluate_virtual_stain,
)
from dynaclr.virtual_stain.plates import (
    VirtualStainPlateInputs,
    VirtualStainPlateOutputs,
    create_virtual_stain_plate,
)
from dynaclr.virtual_stain.train import fov_sources

FOVS = ["A/1/0", "B/1/0"]
ORDERS = {"A/1/0": ["Brightfield", "GFP"], "B/1/0": ["GFP", "Brightfield"]}
SHAPE_TZYX = (3, 5, 32, 32)


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    """Brightfield counts around 20,000 and a GFP channel around 1,000: neither reads as the other."""
    rng = np.random.default_rng(0)
    return {
        "Brightfield": rng.integers(19000, 21000, size=SHAPE_TZYX, dtype=np.uint16),
        "GFP": rng.integers(500, 1500, size=SHAPE_TZYX, dtype=np.uint16),
    }


@pytest.fixture(scope="module")
def plate(images: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plate_in_channel_orders(tmp_path_factory.mktemp("orders") / "raw.zarr", ORDERS, images)


def test_the_plate_holds_the_channels_in_each_positions_own_order(
    plate: Path, images: dict[str, np.ndarray]
) -> None:
    """What the other tests read: iohub gives each position its own channel names and pixels."""
    for fov_name, order in ORDERS.items():
        with open_ome_zarr(plate / fov_name, layout="fov", mode="r") as position:
            assert position.channel_names == order
            for index, name in enumerate(order):
                np.testing.assert_array_equal(position["0"][:, index], images[name])


def test_the_layout_keeps_the_channel_set_in_the_first_positions_order(plate: Path) -> None:
    layout = read_plate_layout(plate)
    assert layout.fov_names == tuple(FOVS)
    assert layout.channel_names == ("Brightfield", "GFP")


def test_phase_reconstruction_reads_each_positions_brightfield(plate: Path, tmp_path: Path) -> None:
    config = PhaseConfig()
    transfer_function, phase = tmp_path / "tf.zarr", tmp_path / "phase.zarr"
    phase_stage.compute_transfer_function(
        config,
        phase_stage.PhaseTransferFunctionInputs(plate=plate),
        phase_stage.PhaseTransferFunctionOutputs(transfer_function=transfer_function),
    )
    phase_stage.create_phase_plate(
        config, phase_stage.PhasePlateInputs(plate=plate), phase_stage.PhasePlateOutputs(phase_plate=phase)
    )
    inputs = phase_stage.ReconstructPhaseInputs(
        plate=plate, transfer_function=transfer_function, phase_plate=phase
    )
    for fov_name in FOVS:
        record = tmp_path / f"{fov_name.replace('/', '_')}.json"
        phase_stage.reconstruct_fov(
            config, inputs, phase_stage.ReconstructPhaseOutputs(record=record), fov_name=fov_name
        )
    with open_ome_zarr(phase, layout="hcs", mode="r") as reconstructed:
        first, swapped = (np.asarray(reconstructed[fov_name]["0"][:]) for fov_name in FOVS)
    assert np.isfinite(first).all() and first.std() > 0
    np.testing.assert_array_equal(swapped, first)


def test_patch_extraction_reads_each_channel_by_name_in_its_position(
    plate: Path, images: dict[str, np.ndarray]
) -> None:
    spec = PatchSpec.model_validate(
        {
            "name": "both",
            "channels": [
                {"source": "raw", "channel": "Brightfield", "normalization": "zscore"},
                {"source": "raw", "channel": "GFP", "normalization": "median_p99"},
            ],
        }
    )
    for fov_name in FOVS:
        with ExitStack() as stack:
            channels = open_fov_channels({"raw": plate}, spec, fov_name, stack)
            for reader, name in zip(channels.readers, ["Brightfield", "GFP"], strict=True):
                assert reader.plate_channel == name
                for t in range(SHAPE_TZYX[0]):
                    np.testing.assert_array_equal(reader.read(t, slice(None)), images[name][t])


def test_tracking_reads_the_nuclear_channel_by_name_in_each_position(
    plate: Path, images: dict[str, np.ndarray]
) -> None:
    first, _, _ = read_reduced_nuclei(plate, "GFP", FOVS[0], TrackingConfig())
    swapped, _, _ = read_reduced_nuclei(plate, "GFP", FOVS[1], TrackingConfig())
    np.testing.assert_array_equal(swapped, first)
    assert first.max() <= images["GFP"].max() < images["Brightfield"].min()  # GFP's counts, not brightfield's


def _virtual_stain_config() -> VirtualStainConfig:
    return VirtualStainConfig.model_validate(
        {
            "input_channel": "Brightfield",
            "target_channel": "GFP",
            "input_depth_slices": 3,
            "normalization_frames": 3,
            "train": {"train_fovs": FOVS, "patch_size_px": 32},
        }
    )


def test_virtual_staining_training_normalises_each_fovs_own_channels(plate: Path) -> None:
    """``phase: null``: the plate is both the phase input (Brightfield) and the target (GFP)."""
    first, swapped = fov_sources(plate, plate, _virtual_stain_config())
    assert (first.phase_channel_index, first.target_channel_index) == (0, 1)
    assert (swapped.phase_channel_index, swapped.target_channel_index) == (1, 0)
    assert swapped.phase_normalization == first.phase_normalization
    assert swapped.target_normalization == first.target_normalization


def test_virtual_staining_evaluation_compares_with_each_fovs_own_target(
    plate: Path, images: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """A prediction equal to the GFP channel correlates perfectly in both FOVs."""
    config = _virtual_stain_config()
    predicted = tmp_path / "vs.zarr"
    create_virtual_stain_plate(
        config,
        VirtualStainPlateInputs(phase_plate=plate),
        VirtualStainPlateOutputs(virtual_stain_plate=predicted),
    )
    for fov_name in FOVS:
        with open_ome_zarr(predicted / fov_name, layout="fov", mode="r+") as position:
            position["0"][:] = images["GFP"][:, None].astype(np.float32)
    table = evaluate_virtual_stain(
        config,
        EvaluateVirtualStainInputs(virtual_stain_plate=predicted, plate=plate),
        EvaluateVirtualStainOutputs(table=tmp_path / "vs.csv", record=tmp_path / "vs.json"),
    )
    assert table["fov_name"].tolist() == FOVS
    np.testing.assert_allclose(table["pearson_r"], 1.0, rtol=1e-6)
