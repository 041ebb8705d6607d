"""Phase reconstruction stage: transfer function, empty plate, per-FOV jobs, evaluation.

Two kinds of input, both made at test time from the simulator's tiny plate (``tiny_plate``):
the simulator's own raw plate, and an "ideal microscope" plate whose brightfield is computed here
from the simulator's true phase with waveorder's forward model applied as a linear
(zero-padded, non-circular) convolution, plus shot noise. The second checks the reconstruction
against the physics it inverts, independently of how the simulator forms its brightfield.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
import zarr
from conftest import REPO_ROOT
from iohub.ngff import open_ome_zarr
from plate_helpers import (
    assert_image_layers_bracket_their_data,
    reads_outside_position,
    record_metadata_reads,
)
from pydantic import ValidationError
from waveorder.models import isotropic_thin_3d, phase_thick_3d

import dynaclr.phase.transfer_function as transfer_function_module
from dynaclr.config.phase import PhaseConfig
from dynaclr.config.simulate import SimulateConfig
from dynaclr.io import ArtifactError, ArtifactKind, make_provenance, read_zarr_provenance
from dynaclr.io.chunks import CorruptChunkError
from dynaclr.io.plate import (
    OME_ZARR_VERSION,
    fov_record_path,
    list_plate_fovs,
    read_fov_record,
    read_plate_geometry,
    scale_transform,
    split_fov_name,
)
from dynaclr.io.zarr_store import PLATE_ATTRIBUTES_KEY
from dynaclr.numerics.missing import MissingDataError
from dynaclr.numerics.repeats import stack_digest
from dynaclr.phase import (
    EVALUATION_COLUMNS,
    PHASE_CHANNEL,
    EvaluatePhaseInputs,
    EvaluatePhaseOutputs,
    PhasePlateInputs,
    PhasePlateOutputs,
    PhaseTransferFunctionInputs,
    PhaseTransferFunctionOutputs,
    ReconstructPhaseInputs,
    ReconstructPhaseOutputs,
    TransferFunction,
    calculate_transfer_function,
    compute_transfer_function,
    create_phase_plate,
    evaluate_phase,
    load_transfer_function,
    passband_reference,
    phase_plate_shape,
    reconstruct_fov,
)
from dynaclr.phase.evaluate import (
    EvaluationReference,
    FovCorrelations,
    correlate_fov,
    evaluation_table,
    nuclei_z_range,
)
from dynaclr.phase.reconstruct import (
    INVERTED_SIGN_SKEWNESS,
    SIGN_CHECK_FRAMES,
    ReconstructionTotals,
    SignCheck,
    fill_unmeasured_brightfield,
    non_negative_tikhonov,
    normalise_brightfield,
    pad_modulation_along_z,
    reconstruct_frames,
    reconstruct_stack,
    sample_skewness,
    sign_check_frames,
)
from dynaclr.qc import qc_row
from dynaclr.virtual_stain.plates import fov_normalization

IDEAL_PHOTONS = 20000.0
IDEAL_CONTRAST = 0.05  # std of the relative brightfield modulation inside cells, as in the simulator
IDEAL_OFFSET = 100


def reconstruct(
    config: PhaseConfig,
    raw_plate: Path,
    transfer_function: Path,
    phase_plate: Path,
    record: Path,
    fov_name: str,
) -> dict[str, object]:
    """One ``reconstruct_phase`` job, as the rule hands it its files."""
    return reconstruct_fov(
        config,
        ReconstructPhaseInputs(plate=raw_plate, transfer_function=transfer_function, phase_plate=phase_plate),
        ReconstructPhaseOutputs(record=record),
        fov_name=fov_name,
    )


def evaluate(paths: dict[str, Path], truth: dict[str, Path], records: tuple[Path, ...] = ()) -> pd.DataFrame:
    """The ``evaluate_phase`` job on ``paths`` (a :func:`run_stage` result) vs the simulator's truth."""
    return evaluate_phase(
        EvaluatePhaseInputs(
            phase_plate=paths["phase"],
            records=records,
            transfer_function=paths["transfer_function"],
            truth=truth["phase"],
            tracks=truth["tracks"],
        ),
        EvaluatePhaseOutputs(table=paths["evaluation"], record=paths["evaluation_record"]),
    )


def run_stage(
    raw_plate: Path, out: Path, config: PhaseConfig, truth: dict[str, Path] | None
) -> dict[str, Path]:
    """Transfer function, empty plate, every FOV, and (with ``truth``) the evaluation."""
    paths = {
        "transfer_function": out / "transfer_function.zarr",
        "phase": out / "phase.zarr",
        "records": out / "records",
        "evaluation": out / "evaluation" / "phase.csv",
        "evaluation_record": out / "evaluation" / "phase.json",
    }
    compute_transfer_function(
        config,
        PhaseTransferFunctionInputs(plate=raw_plate),
        PhaseTransferFunctionOutputs(transfer_function=paths["transfer_function"]),
    )
    create_phase_plate(
        config, PhasePlateInputs(plate=raw_plate), PhasePlateOutputs(phase_plate=paths["phase"])
    )
    records = []
    for fov_name in list_plate_fovs(raw_plate):
        records.append(fov_record_path(paths["records"], fov_name))
        reconstruct(config, raw_plate, paths["transfer_function"], paths["phase"], records[-1], fov_name)
    if truth is not None:
        evaluate(paths, truth, tuple(records))
    return paths


def write_ideal_brightfield_plate(truth_phase: Path, path: Path, config: SimulateConfig) -> None:
    """Brightfield counts ``(T, 1, Z, Y, X)`` from the true phase through waveorder's forward model.

    The phase is zero-padded by 3 slices on each side and convolved (waveorder
    ``apply_transfer_function`` with no padding of its own on the padded volume), so the result
    is a linear, non-circular convolution; then scaled to the simulator's contrast, with shot
    noise (Gaussian approximation) and a camera offset. No dynaclr provenance: it stands for a
    plate from a microscope.
    """
    optics = config.optics
    pad = 3
    n_z, n_y, n_x = config.shape_zyx
    transfer_function, _ = phase_thick_3d.calculate_transfer_function(
        zyx_shape=(n_z + 2 * pad, n_y, n_x),
        yx_pixel_size=config.pixel_size_um,
        z_pixel_size=config.z_step_um,
        wavelength_illumination=optics.wavelength_um,
        z_padding=0,
        index_of_refraction_media=optics.index_of_refraction_media,
        numerical_aperture_illumination=optics.numerical_aperture_illumination,
        numerical_aperture_detection=optics.numerical_aperture_detection,
    )
    rng = np.random.default_rng(0)
    geometry = read_plate_geometry(truth_phase)
    contrast_scale = None
    with (
        open_ome_zarr(truth_phase, layout="hcs", mode="r") as truth,
        open_ome_zarr(
            path, layout="hcs", mode="w", channel_names=["Brightfield"], version=OME_ZARR_VERSION
        ) as plate,
    ):
        for fov_name, truth_position in truth.positions():
            true_phase = truth_position["0"]
            n_t = true_phase.shape[0]
            counts = np.empty((n_t, 1, n_z, n_y, n_x), np.uint16)
            for t in range(n_t):
                phase = torch.from_numpy(np.asarray(true_phase[t, 0]))
                padded = torch.nn.functional.pad(phase, (0, 0, 0, 0, pad, pad))
                intensity = phase_thick_3d.apply_transfer_function(
                    padded, transfer_function, 0, brightness=1.0
                )
                modulation = (intensity - 1.0)[pad : pad + n_z].numpy()
                if contrast_scale is None:
                    contrast_scale = IDEAL_CONTRAST / float(modulation[phase.numpy() > 0].std())
                expected = IDEAL_PHOTONS * (1.0 + contrast_scale * modulation)
                noisy = expected + np.sqrt(expected) * rng.standard_normal(expected.shape)
                counts[t, 0] = np.clip(np.rint(noisy + IDEAL_OFFSET), 0, 65535)
            position = plate.create_position(*split_fov_name(fov_name))
            position.create_image(
                "0",
                counts,
                chunks=(1, 1, n_z, n_y, n_x),
                transform=scale_transform(
                    geometry.time_interval_s, geometry.z_step_um, geometry.pixel_size_um
                ),
            )


def write_small_plate(path: Path, shape_tczyx: tuple[int, int, int, int, int]) -> None:
    """A plate with one FOV of random brightfield counts (for shape checks)."""
    counts = np.random.default_rng(1).integers(19000, 21000, size=shape_tczyx, dtype=np.uint16)
    with open_ome_zarr(
        path, layout="hcs", mode="w", channel_names=["Brightfield"], version=OME_ZARR_VERSION
    ) as plate:
        position = plate.create_position("A", "1", "0")
        position.create_image("0", counts, transform=scale_transform(1800.0, 2.5, 0.65))


@pytest.fixture(scope="module")
def tiny_3d(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The default (3d) stage run on the simulator's tiny plate, evaluated."""
    return run_stage(tiny_plate["plate"], tmp_path_factory.mktemp("phase_tiny_3d"), PhaseConfig(), tiny_plate)


@pytest.fixture(scope="module")
def ideal_plate(
    tiny_plate: dict[str, Path], tiny_config: SimulateConfig, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("phase_ideal") / "raw.zarr"
    write_ideal_brightfield_plate(tiny_plate["phase"], path, tiny_config)
    return path


@pytest.fixture(scope="module")
def ideal_runs(
    ideal_plate: Path, tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Path]]:
    """Both modes on the ideal-microscope plate, evaluated against the simulator's true phase."""
    return {
        mode: run_stage(
            ideal_plate, tmp_path_factory.mktemp(f"phase_ideal_{mode}"), PhaseConfig(mode=mode), tiny_plate
        )
        for mode in ("3d", "2d")
    }


def evaluation_row(paths: dict[str, Path], fov_name: str = "all") -> pd.Series:
    table = pd.read_csv(paths["evaluation"])
    return table.set_index("fov_name").loc[fov_name]


# --- config -------------------------------------------------------------------------------------


def test_a_reconstruction_job_reads_no_metadata_outside_its_position(
    tiny_3d: dict[str, Path], tiny_plate: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One reconstruct_phase job per FOV (10,000 on a large plate): it reads the FOV's position of the
    raw and of the phase plate (the phase plate's record in its position's copy; the raw plate as that
    record states it), never another position's, a row's or well's metadata, nor either plate's root
    ``zarr.json`` (before, every job read both roots: the raw plate's record and the phase plate's)."""
    read = record_metadata_reads(monkeypatch)
    record = tmp_path / "B_1_0.json"
    reconstruct(
        PhaseConfig(), tiny_plate["plate"], tiny_3d["transfer_function"], tiny_3d["phase"], record, "B/1/0"
    )
    assert any(path.parent == tiny_plate["plate"] / "B/1/0" for path in read), read  # the recorder records
    assert reads_outside_position(read, [tiny_plate["plate"], tiny_3d["phase"]], "B/1/0") == []
    provenance, _ = read_fov_record(record, "phase_fov")
    raw = provenance.inputs[0]  # the raw plate, as the phase plate's record states it
    assert (raw.path, raw.kind) == (str(tiny_plate["plate"]), "raw_plate")
    assert raw.config_hash == read_zarr_provenance(tiny_plate["plate"], "raw_plate").config_hash


def test_a_plate_without_its_positions_copy_of_the_record_is_read_at_its_root(
    tiny_3d: dict[str, Path], tiny_plate: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phase plate made before positions held a copy of the plate's record (or a plate of your own)
    is read as before, at its root: the job runs and records the same inputs."""
    phase = tmp_path / "phase.zarr"
    shutil.copytree(tiny_3d["phase"], phase)
    for fov_name in ("A/1/0", "B/1/0"):
        group = zarr.open_group(str(phase / fov_name), mode="r+")
        group.attrs.put({k: v for k, v in group.attrs.asdict().items() if k != PLATE_ATTRIBUTES_KEY})
    read = record_metadata_reads(monkeypatch)
    record = tmp_path / "B_1_0.json"
    reconstruct(PhaseConfig(), tiny_plate["plate"], tiny_3d["transfer_function"], phase, record, "B/1/0")
    assert "phase.zarr/zarr.json" in reads_outside_position(read, [phase], "B/1/0")
    provenance, _ = read_fov_record(record, "phase_fov")
    assert [(i.path, i.kind) for i in provenance.inputs] == [
        (str(tiny_plate["plate"]), "raw_plate"),
        (str(tiny_3d["transfer_function"]), "phase_transfer_function"),
        (str(phase), "phase_plate"),
    ]


def test_config_defaults_match_the_demo_optics():
    config, optics = PhaseConfig(), SimulateConfig().optics
    assert config.mode == "3d"
    assert config.wavelength_illumination_um == optics.wavelength_um
    assert config.numerical_aperture_detection == optics.numerical_aperture_detection
    assert config.numerical_aperture_illumination == optics.numerical_aperture_illumination
    assert config.index_of_refraction_media == optics.index_of_refraction_media


def test_demo_config_is_the_default_phase_config():
    demo = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())["datasets"]["demo"]["phase"]
    assert PhaseConfig.model_validate(demo) == PhaseConfig()
    assert PhaseConfig().non_negativity_iterations > 0 and PhaseConfig().z_padding_fill == "background"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"numerical_aperture_illumination": 0.6}, "darkfield"),
        ({"numerical_aperture_detection": 1.4}, "must be below index_of_refraction_media"),
        ({"regularisation": 1e-3}, "Extra inputs are not permitted"),
        ({"mode": "4d"}, "'3d' or '2d'"),
        ({"regularization_strength": 0.0}, "greater than 0"),
        ({"z_padding_fill": "reflect"}, "'background' or 'mirror'"),
        ({"non_negativity_iterations": -1}, "greater than or equal to 0"),
        # in nanometres the passband lies below the images' lowest frequency: a blur with exit 0
        (
            {"wavelength_illumination_um": 532},
            "between 0.2 and 2, found 532; 532 looks like nanometres: write 0.532",
        ),
        (
            {"wavelength_illumination_um": 5.32},
            r"wavelength_illumination_um\n  Input should be less than or equal to 2 \[type=less_than_equal",
        ),
    ],
)
def test_config_rejects_bad_values_with_a_fix(overrides: dict[str, object], message: str):
    with pytest.raises(ValidationError, match=message):
        PhaseConfig.model_validate(overrides)


# --- building blocks ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["2d", "3d"])
def test_a_single_slice_is_refused_not_reconstructed_as_zero_phase(mode: str):
    """One focal plane carries no phase contrast: before, both modes returned a phase of exactly 0
    everywhere with no error to a library caller (the workflow's dry run refuses such a plate)."""
    config = PhaseConfig(mode=mode, z_padding_slices=0)
    with pytest.raises(
        ValueError, match=r"needs a brightfield z-stack \(Z >= 2.*found Z = 1 \(ZYX \(1, 64, 64\)\)"
    ):
        calculate_transfer_function((1, 64, 64), 0.65, 2.5, config)
    assert calculate_transfer_function((2, 64, 64), 0.65, 2.5, config).zyx_shape == (2, 64, 64)


def test_nuclei_z_range_spans_centroids_plus_half_the_height():
    assert nuclei_z_range(np.array([4.5, 5.0]), nucleus_height_slices=3.0, n_slices=10) == (3, 7)
    assert nuclei_z_range(np.array([0.2]), nucleus_height_slices=6.0, n_slices=10) == (0, 4)
    assert nuclei_z_range(np.array([]), nucleus_height_slices=3.0, n_slices=10) == (0, 9)


def test_z_padding_is_background_or_the_mirrored_stack():
    stack = torch.arange(1.0, 5.0)[:, None, None].expand(4, 2, 2)
    background = pad_modulation_along_z(stack, 2, "background")
    mirror = pad_modulation_along_z(stack, 2, "mirror")
    assert background.shape == mirror.shape == (8, 2, 2)
    assert background[:, 0, 0].tolist() == [0, 0, 1, 2, 3, 4, 0, 0]
    assert mirror[:, 0, 0].tolist() == [2, 1, 1, 2, 3, 4, 4, 3]  # waveorder: edge slices repeated
    assert torch.equal(pad_modulation_along_z(stack, 0, "background"), stack)


def _convolve(volume: torch.Tensor, transfer_function: torch.Tensor) -> torch.Tensor:
    return torch.real(torch.fft.ifftn(torch.fft.fftn(volume) * transfer_function))


def test_non_negative_tikhonov_meets_the_optimality_conditions():
    # KKT conditions of min |H o - m|² / 2 + λ |o|² / 2 subject to o >= 0, with gradient
    # g = H* (H o - m) + λ o: g = 0 where o > 0 and g >= 0 where o = 0
    rng = np.random.default_rng(0)
    shape = (6, 12, 12)
    transfer_function = torch.fft.fftn(torch.from_numpy(rng.normal(size=shape).astype(np.float32)))
    truth = np.clip(rng.normal(size=shape), 0, None) * (rng.random(shape) < 0.3)
    noise = 0.1 * rng.normal(size=shape)
    modulation = _convolve(torch.from_numpy(truth.astype(np.float32)), transfer_function)
    modulation += torch.from_numpy(noise.astype(np.float32))
    regularization = 1e-2 * float(transfer_function.abs().max() ** 2)
    phase = non_negative_tikhonov(modulation, transfer_function, regularization, iterations=1000)
    gradient = _convolve(_convolve(phase, transfer_function) - modulation, torch.conj(transfer_function))
    gradient += regularization * phase
    scale = float(_convolve(modulation, torch.conj(transfer_function)).abs().max())
    assert float(phase.min()) == 0.0
    assert 0.1 < float((phase == 0).float().mean()) < 0.9  # the constraint is active, not trivial
    assert float(gradient[phase > 0].abs().max()) < 1e-4 * scale
    assert float(gradient[phase == 0].min()) > -1e-4 * scale


def test_2d_mode_gives_one_slice(tiny_plate: dict[str, Path]):
    n_t, _, _, n_y, n_x = phase_plate_shape(tiny_plate["plate"], PhaseConfig())
    assert phase_plate_shape(tiny_plate["plate"], PhaseConfig(mode="2d")) == (n_t, 1, 1, n_y, n_x)


def test_transfer_function_is_deterministic_and_round_trips(tiny_3d: dict[str, Path]):
    stored, provenance = load_transfer_function(tiny_3d["transfer_function"])
    assert provenance.kind == "phase_transfer_function"
    assert stored.mode == "3d" and stored.zyx_shape == (5, 96, 96) and stored.z_padding_slices == 2
    assert stored.yx_pixel_size_um == pytest.approx(0.65) and stored.z_step_um == pytest.approx(2.5)
    again = calculate_transfer_function(stored.zyx_shape, 0.65, 2.5, PhaseConfig())
    shapes = {
        "real_potential_transfer_function": (9, 96, 96),
        "imaginary_potential_transfer_function": (9, 96, 96),
        "sign_check_singular_u": (2, 2, 96, 96),
        "sign_check_singular_values": (2, 96, 96),
        "sign_check_singular_vh": (2, 5, 96, 96),
    }
    assert {name: tuple(tensor.shape) for name, tensor in stored.arrays.items()} == shapes
    for name, tensor in stored.arrays.items():
        assert torch.equal(tensor, again.arrays[name]), name


# --- the stage on the simulator's plate ---------------------------------------------------------


def test_phase_plate_has_the_raw_plates_positions_and_geometry(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    assert list_plate_fovs(tiny_3d["phase"]) == list_plate_fovs(tiny_plate["plate"])
    assert read_plate_geometry(tiny_3d["phase"]) == read_plate_geometry(tiny_plate["plate"])
    with open_ome_zarr(tiny_3d["phase"], layout="hcs", mode="r") as plate:
        assert plate.channel_names == [PHASE_CHANNEL]
        assert plate.zattrs["phase_mode"] == "3d"
        for _, position in plate.positions():
            image = position["0"]
            assert image.shape == (12, 1, 5, 96, 96) and image.dtype == np.float32
            assert np.all(np.isfinite(image[-1])) and np.std(image[-1]) > 0


def test_phase_plate_opens_in_napari_with_a_window_on_the_data_in_arbitrary_units(tiny_3d: dict[str, Path]):
    for fov_name in list_plate_fovs(tiny_3d["phase"]):
        layers = assert_image_layers_bracket_their_data(tiny_3d["phase"] / fov_name)
        assert [props["colormap"].name for _, props, _ in layers] == ["gray"]
    with open_ome_zarr(tiny_3d["phase"], layout="hcs", mode="r") as plate:
        assert plate.zattrs["phase_units"].startswith("a.u.")


def test_provenance_and_per_fov_records(tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]):
    plate_provenance = read_zarr_provenance(tiny_3d["phase"], "phase_plate")
    assert plate_provenance.config == PhaseConfig().model_dump(mode="json")
    assert plate_provenance.inputs[0].kind == "raw_plate"
    for fov_name in list_plate_fovs(tiny_plate["plate"]):
        provenance, metrics = read_fov_record(fov_record_path(tiny_3d["records"], fov_name), "phase_fov")
        assert [record.kind for record in provenance.inputs] == [
            "raw_plate",
            "phase_transfer_function",
            "phase_plate",
        ]
        assert metrics["fov_name"] == fov_name and metrics["n_frames"] == 12
        assert 0 < metrics["seconds_reconstructing"] <= metrics["seconds_total"]
        assert metrics["phase_std"] > 0


def test_evaluation_table_and_provenance(tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]):
    table = pd.read_csv(tiny_3d["evaluation"])
    assert tuple(table.columns) == EVALUATION_COLUMNS
    assert table["fov_name"].tolist() == [*list_plate_fovs(tiny_plate["plate"]), "all"]
    assert table["n_voxels"].iloc[-1] == table["n_voxels"].iloc[:-1].sum()
    record = json.loads(tiny_3d["evaluation_record"].read_text())
    assert record["dynaclr"]["kind"] == "phase_evaluation"
    assert record["metrics"]["pearson_r_passband"] == pytest.approx(table["pearson_r_passband"].iloc[-1])


def test_reconstruction_of_the_simulated_plate_correlates_within_the_passband(tiny_3d: dict[str, Path]):
    # measured 0.965-0.967 per FOV (non-negative inverse, background-filled z padding)
    table = pd.read_csv(tiny_3d["evaluation"])
    assert (table["pearson_r_passband"] > 0.9).all(), table


def test_non_negativity_recovers_what_the_linear_inverse_loses(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], tmp_path: Path
):
    # measured on the tiny plate against the sharp phase: r 0.66-0.69 per FOV with the
    # non-negative inverse, 0.21-0.22 with the linear one (0.91 vs 0.76 on the 10-slice demo)
    linear = run_stage(tiny_plate["plate"], tmp_path, PhaseConfig(non_negativity_iterations=0), tiny_plate)
    constrained, unconstrained = pd.read_csv(tiny_3d["evaluation"]), pd.read_csv(linear["evaluation"])
    assert (constrained["pearson_r"] > unconstrained["pearson_r"] + 0.3).all(), (constrained, unconstrained)
    assert (constrained["pearson_r"] > 0.55).all(), constrained
    with (
        open_ome_zarr(tiny_3d["phase"], layout="hcs", mode="r") as plate,
        open_ome_zarr(linear["phase"], layout="hcs", mode="r") as linear_plate,
    ):
        assert float(np.min(plate["A/1/0"]["0"][:])) >= 0.0
        assert float(np.min(linear_plate["A/1/0"]["0"][:])) < 0.0


def test_same_input_gives_identical_output(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], tmp_path: Path
):
    config, fov_name = PhaseConfig(), "A/1/0"
    create_phase_plate(
        config,
        PhasePlateInputs(plate=tiny_plate["plate"]),
        PhasePlateOutputs(phase_plate=tmp_path / "phase.zarr"),
    )
    metadata = {path: path.stat().st_mtime_ns for path in (tmp_path / "phase.zarr").rglob("zarr.json")}
    reconstruct(
        config,
        tiny_plate["plate"],
        tiny_3d["transfer_function"],
        tmp_path / "phase.zarr",
        tmp_path / "record.json",
        fov_name,
    )
    with (
        open_ome_zarr(tiny_3d["phase"], layout="hcs", mode="r") as first,
        open_ome_zarr(tmp_path / "phase.zarr", layout="hcs", mode="r") as second,
    ):
        np.testing.assert_array_equal(first[fov_name]["0"][:], second[fov_name]["0"][:])
        assert not np.any(second["B/1/0"]["0"][0])  # the other position was left alone
    # a per-FOV job rewrites only its own position's metadata (its display windows), so concurrent
    # jobs on one plate cannot clobber each other
    own = tmp_path / "phase.zarr" / fov_name / "zarr.json"
    changed = {path for path, mtime in metadata.items() if path.stat().st_mtime_ns != mtime}
    assert changed == {own}


def test_frames_reconstruct_in_memory_as_on_the_plate(tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]):
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    with open_ome_zarr(tiny_plate["plate"], layout="hcs", mode="r") as raw:
        brightfield = np.asarray(raw["A/1/0"]["0"][:3])  # (T, C, Z, Y, X), the first 3 frames
    output = np.zeros((3, 1, *brightfield.shape[2:]), np.float32)
    totals = reconstruct_frames(brightfield, 0, output, transfer_function, PhaseConfig())
    with open_ome_zarr(tiny_3d["phase"], layout="hcs", mode="r") as plate:
        np.testing.assert_array_equal(output, plate["A/1/0"]["0"][:3])
    metrics = totals.metrics("A/1/0", "3d", seconds_total=1.5)
    assert metrics["n_frames"] == 3 and metrics["seconds_per_frame"] == pytest.approx(0.5)
    assert metrics["phase_mean"] == pytest.approx(float(output.mean()), rel=1e-5)
    assert metrics["phase_std"] == pytest.approx(float(output.std()), rel=1e-3)


def test_correlations_of_the_passband_reference_are_one(tiny_3d: dict[str, Path]):
    # a reconstruction equal to the passband reference of the truth: r = 1 within the passband, and
    # only the slices around the nuclei (z = 2 +- 1) are compared
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    config = PhaseConfig()
    rng = np.random.default_rng(0)
    truth = np.clip(rng.normal(size=(2, 1, 5, 96, 96)), 0, None).astype(np.float32) * 0.01
    reconstruction = np.stack([passband_reference(truth[t, 0], transfer_function, config) for t in range(2)])
    tracks = pd.DataFrame({"fov_name": ["X/1/0", "Y/1/0"], "t": [0, 0], "z": [2.0, 2.0]})
    reference = EvaluationReference(config, transfer_function, nucleus_height_slices=2.0, tracks=tracks)
    fovs = [
        correlate_fov(reconstruction[:, None], truth, "X/1/0", reference),
        correlate_fov(np.zeros_like(truth), truth, "Y/1/0", reference),
    ]
    assert isinstance(fovs[0], FovCorrelations) and fovs[0].any_nonzero and not fovs[1].any_nonzero
    assert (fovs[0].z_first_slice, fovs[0].z_last_slice) == (1, 3)
    assert fovs[0].passband.r() == pytest.approx(1.0, abs=1e-6)
    assert fovs[0].raw.n == 2 * 3 * 96 * 96
    table = evaluation_table(fovs, "3d")
    assert tuple(table.columns) == EVALUATION_COLUMNS
    assert table["fov_name"].tolist() == ["X/1/0", "Y/1/0", "all"]
    assert table["n_voxels"].iloc[-1] == 2 * fovs[0].raw.n and table["n_frames"].iloc[-1] == 4


# --- the stage against the physics it inverts ---------------------------------------------------


def test_3d_reconstruction_of_an_ideal_microscope(ideal_runs: dict[str, dict[str, Path]]):
    # measured: r 0.68 against the sharp true phase over the 5 slices (0.24 with the linear
    # inverse: the optics pass no phase at zero frequency nor in the missing cone, which the
    # constraint phase >= 0 partly restores), 0.96 in the passband
    row = evaluation_row(ideal_runs["3d"])
    assert row["pearson_r_passband"] > 0.9
    assert row["pearson_r"] > 0.55


def test_2d_reconstruction_of_an_ideal_microscope(ideal_runs: dict[str, dict[str, Path]]):
    # measured: r 0.945 against the true phase projected over z, 0.965 within the passband
    row = evaluation_row(ideal_runs["2d"])
    assert row["pearson_r"] > 0.88
    assert row["pearson_r_passband"] > 0.9
    with open_ome_zarr(ideal_runs["2d"]["phase"], layout="hcs", mode="r") as plate:
        assert plate["A/1/0"]["0"].shape == (12, 1, 1, 96, 96)


# --- errors -------------------------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes_and_the_rule_to_rerun(tiny_3d: dict[str, Path], tmp_path: Path):
    write_small_plate(tmp_path / "other.zarr", (2, 1, 5, 64, 64))
    with pytest.raises(ArtifactError) as error:
        reconstruct(
            PhaseConfig(),
            tmp_path / "other.zarr",
            tiny_3d["transfer_function"],
            tiny_3d["phase"],
            tmp_path / "record.json",
            "A/1/0",
        )
    message = str(error.value)
    assert "(5, 64, 64)" in message and "(5, 96, 96)" in message
    assert "snakemake --forcerun phase_transfer_function" in message
    assert not (tmp_path / "record.json").exists()


def test_other_config_than_the_transfer_functions_is_refused(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], tmp_path: Path
):
    with pytest.raises(ArtifactError, match="forcerun phase_transfer_function"):
        reconstruct(
            PhaseConfig(regularization_strength=1e-3),
            tiny_plate["plate"],
            tiny_3d["transfer_function"],
            tiny_3d["phase"],
            tmp_path / "record.json",
            "A/1/0",
        )


def test_missing_brightfield_channel_lists_the_channels(tiny_plate: dict[str, Path], tmp_path: Path):
    with pytest.raises(ArtifactError, match=r"'DIC'.*\['Brightfield', 'Nuclei'"):
        compute_transfer_function(
            PhaseConfig(brightfield_channel="DIC"),
            PhaseTransferFunctionInputs(plate=tiny_plate["plate"]),
            PhaseTransferFunctionOutputs(transfer_function=tmp_path / "tf.zarr"),
        )
    assert not (tmp_path / "tf.zarr").exists()


def test_evaluation_refuses_a_fov_that_was_not_reconstructed(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], tmp_path: Path
):
    create_phase_plate(
        PhaseConfig(),
        PhasePlateInputs(plate=tiny_plate["plate"]),
        PhasePlateOutputs(phase_plate=tmp_path / "phase.zarr"),
    )
    paths = {
        "phase": tmp_path / "phase.zarr",
        "transfer_function": tiny_3d["transfer_function"],
        "evaluation": tmp_path / "phase.csv",
        "evaluation_record": tmp_path / "phase.json",
    }
    with pytest.raises(ArtifactError, match="A/1/0 holds no reconstruction"):
        evaluate(paths, tiny_plate)
    assert not (tmp_path / "phase.csv").exists() and not (tmp_path / "phase.json").exists()


# --- missing voxels and damaged chunks (dynaclr.numerics.missing, dynaclr.io.chunks) ------------


def _first_frames(plate: Path, n_frames: int = 3) -> np.ndarray:
    """The first frames of FOV A/1/0 as float32 ``(T, C, Z, Y, X)`` (counts, NaN allowed)."""
    with open_ome_zarr(plate, layout="hcs", mode="r") as raw:
        return np.asarray(raw["A/1/0"]["0"][:n_frames], dtype=np.float32)


def _reconstruct_logged(
    brightfield: np.ndarray, transfer_function: TransferFunction, caplog, logger: str
) -> tuple[np.ndarray, ReconstructionTotals]:
    """Reconstruct the three frames of ``brightfield`` (frame 1 damaged: checked to be dropped as NaN,
    the others finite) with ``logger``'s warnings captured; returns the phase and the totals."""
    output = np.zeros((3, 1, *brightfield.shape[2:]), np.float32)
    with caplog.at_level(logging.WARNING, logger=logger):
        totals = reconstruct_frames(
            brightfield, 0, output, transfer_function, PhaseConfig(), where="raw.zarr FOV A/1/0 channel 'BF'"
        )
    assert np.isnan(output[1]).all() and np.isfinite(output[[0, 2]]).all()
    return output, totals


def test_a_stack_with_a_few_nan_voxels_gives_a_finite_phase(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    stack = _first_frames(tiny_plate["plate"], 1)[0, 0]  # (Z, Y, X) brightfield counts
    clean = reconstruct_stack(stack, transfer_function, PhaseConfig())
    holes = stack.copy()
    holes[2, 40:43, 50:53] = np.nan  # 9 voxels inside the field of view
    holes[0, 0, 0] = np.inf
    phase = reconstruct_stack(holes, transfer_function, PhaseConfig())
    assert np.isfinite(phase).all()
    assert np.corrcoef(phase.ravel(), clean.ravel())[0, 1] > 0.99
    holes[:, :60] = np.nan  # 62 % of the stack: not a stack to reconstruct
    with pytest.raises(MissingDataError, match=r"62\.5% of its voxels are missing.*cannot be reconstructed"):
        reconstruct_stack(holes, transfer_function, PhaseConfig())


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_reconstruct_frames_gives_each_stacks_own_phase_and_sign_check(
    tiny_plate: dict[str, Path], mode: str
):
    """reconstruct_frames fills each stack once and reconstructs the filled stack; its phase and
    sign-check skewness are, bit for bit, those of reconstruct_stack on each frame alone (which fills
    it), and of the thin-phase reconstruction of the crop of that filled stack (3d) or the crop of the
    phase (2d): NaN voxels in the crop and zero-padded columns included."""
    config = PhaseConfig(mode=mode)
    brightfield = _first_frames(tiny_plate["plate"], 3)[:, :1]
    n_y, n_x = brightfield.shape[-2:]
    brightfield[1, 0, 2, n_y // 2 - 4 : n_y // 2 + 4, n_x // 2 - 4 : n_x // 2 + 4] = np.nan  # in the crop
    brightfield[2, 0, :, :, :5] = 0.0  # zero padding of a stitched plate (0.0 on floats)
    transfer_function = calculate_transfer_function(brightfield.shape[2:], 0.65, 2.5, config)
    n_z = brightfield.shape[2] if mode == "3d" else 1
    output = np.zeros((3, 1, n_z, n_y, n_x), np.float32)
    totals = reconstruct_frames(brightfield, 0, output, transfer_function, config)

    sign_check = SignCheck.build(transfer_function, config)
    expected_skewness = []
    for t in range(3):
        stack = brightfield[t, 0]
        phase = reconstruct_stack(stack, transfer_function, config)
        assert np.isfinite(phase).all()
        np.testing.assert_array_equal(output[t, 0], phase)
        if sign_check.transfer_function is None:  # 2d: the crop of the phase itself
            projected = phase[:, sign_check.rows, sign_check.columns]
        else:
            crop = fill_unmeasured_brightfield(stack, config.camera_offset_counts)
            crop = crop[:, sign_check.rows, sign_check.columns]
            projected = reconstruct_stack(crop, sign_check.transfer_function, sign_check.config)
        expected_skewness.append(sample_skewness(projected))
    assert totals.sign_frames == [0, 1, 2]
    assert totals.sign_skewness == expected_skewness
    assert all(np.isfinite(expected_skewness))


def test_missing_brightfield_is_named_as_such_not_as_a_camera_offset():
    stack = np.full((3, 8, 8), 1000.0, dtype=np.float32)
    stack[1, 2, 2] = np.nan
    with pytest.raises(MissingDataError, match=r"holds 1 missing voxel\(s\) \(NaN or inf\)") as error:
        normalise_brightfield(stack, PhaseConfig())
    assert "offset" not in str(error.value)
    dark = np.full((3, 8, 8), 50.0, dtype=np.float32)  # below the default offset of 100 counts
    with pytest.raises(ValueError, match=r"set phase.camera_offset_counts below the camera's dark level"):
        normalise_brightfield(dark, PhaseConfig())


def test_brightfield_with_a_dark_border_is_brightfield():
    """Pixels without light (a vignetted corner, a well edge) sit at the camera's dark level, about
    half of them at or below 0 counts after the offset: a dark border of 6 % of the field (3 % of the
    voxels at or below 0) is ordinary brightfield, normalised, not refused; zeros in a quarter of the
    field and more is no brightfield."""
    rng = np.random.default_rng(0)
    counts = 100.0 + rng.poisson(1000.0, size=(5, 256, 256)) + rng.normal(0.0, 2.0, size=(5, 256, 256))
    yy, xx = np.mgrid[:256, :256]
    dark = np.hypot(yy - 127.5, xx - 127.5) > 150
    counts[:, dark] = 100.0 + rng.normal(0.0, 2.0, size=(5, int(dark.sum())))
    intensity = normalise_brightfield(counts.astype(np.float32), PhaseConfig()).numpy()
    assert np.isfinite(intensity).all()
    counts[:, :, :80] = 0.0  # 31 % of the voxels without light
    with pytest.raises(ValueError, match=r"of its voxels are at or below 0 counts \(at most 25% may be\)"):
        normalise_brightfield(counts.astype(np.float32), PhaseConfig())


def _as_8_bit(brightfield: np.ndarray, mean_counts: float, dark_level: float) -> np.ndarray:
    """The simulator's brightfield (offset 100) as an 8-bit camera's counts: its dark level at
    ``dark_level``, its mean at ``mean_counts``."""
    signal = brightfield - 100.0
    return np.clip(np.rint(dark_level + signal * (mean_counts / signal.mean())), 0, 255).astype(np.uint8)


def _refused_by_default_offset(
    counts: np.ndarray, transfer_function: TransferFunction, match: str, dark_level: float
) -> np.ndarray:
    """Check that ``counts`` ``(T, 1, Z, Y, X)`` are refused under the default camera offset with an
    error matching ``match`` and nothing written; returns their phase with the offset ``dark_level``."""
    output = np.zeros((counts.shape[0], 1, *counts.shape[2:]), np.float32)
    with pytest.raises(ValueError, match=match):
        reconstruct_frames(counts, 0, output, transfer_function, PhaseConfig(), where="FOV A/1/0")
    assert not output.any()  # nothing reconstructed
    reconstruct_frames(counts, 0, output, transfer_function, PhaseConfig(camera_offset_counts=dark_level))
    assert np.isfinite(output).all()
    return output


def test_the_default_camera_offset_is_refused_on_8_bit_pixels(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    """A 16-bit camera's offset (the default 100) on 8-bit pixels (dark level 5, brightfield about 120
    counts: the darkest voxel at 83, so only a few voxels go below 0) made a phase 4.9 times too
    large, with exit 0; it is refused before any pixel is read, naming the key, the pixel type and
    the limit. With the camera's dark level the 8-bit phase is the 16-bit one."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    brightfield = _first_frames(tiny_plate["plate"], 2)[:, :1]
    output = _refused_by_default_offset(
        _as_8_bit(brightfield, 120.0, 5.0),
        transfer_function,
        r"FOV A/1/0: phase.camera_offset_counts = 100 counts is 39% of the uint8 pixels' full scale "
        r"255; expected a camera dark level of at most 12.5% of it \(31.875 counts\)",
        5.0,
    )
    reference = np.stack(
        [reconstruct_stack(stack, transfer_function, PhaseConfig()) for stack in brightfield[:, 0]]
    )
    assert np.corrcoef(output[:, 0].ravel(), reference.ravel())[0, 1] > 0.99
    assert output.std() == pytest.approx(reference.std(), rel=0.05)


def test_an_offset_above_the_dark_level_is_refused_by_the_darkest_voxels(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    """Brightfield whose camera offset was subtracted at export (clipped at 0), with a vignetted border
    at the dark level (5 % of the field: below the share that makes a stack no brightfield; read noise
    of 2 counts about 0, so half of it exactly 0.0, filled as padding): read with the default offset
    100 its phase came out scaled, with exit 0; the border's other darkest voxels, below half the
    offset, refuse the stack naming the frame and the key. Offset 0 reconstructs it."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    brightfield = _first_frames(tiny_plate["plate"], 1)[:, :1] - 100.0
    n_y, n_x = brightfield.shape[-2:]
    yy, xx = np.mgrid[:n_y, :n_x]
    border = np.hypot(yy - (n_y - 1) / 2, xx - (n_x - 1) / 2) > 0.6 * n_y
    noise = np.random.default_rng(3).normal(0.0, 2.0, size=brightfield[..., border].shape)
    brightfield[..., border] = np.clip(noise, 0.0, None)
    assert 0.04 < border.mean() < 0.1
    _refused_by_default_offset(
        brightfield,
        transfer_function,
        r"FOV A/1/0 frame t=0: brightfield stack: its darkest 0.1% of voxels are at or below 0\.[0-9]+ "
        r"counts, less than half of phase.camera_offset_counts = 100",
        0.0,
    )


def test_a_mostly_missing_frame_is_dropped_as_nan_and_recorded(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog
):
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    brightfield = _first_frames(tiny_plate["plate"])
    brightfield[1, 0, :, :70] = np.nan  # 73 % of frame 1's brightfield
    brightfield[2, 0, 0, 0, :4] = np.nan  # 4 voxels of frame 2
    output, totals = _reconstruct_logged(brightfield, transfer_function, caplog, "dynaclr.numerics.missing")
    assert "raw.zarr FOV A/1/0 channel 'BF': frame t=1 dropped: 72.9%" in caplog.text
    metrics = totals.metrics("A/1/0", "3d", seconds_total=1.0)
    assert metrics["dropped_frames"] == [1] and metrics["filled_voxels"] == 4
    assert metrics["missing_voxels"] == 5 * 70 * 96 + 4
    assert np.isfinite(metrics["phase_mean"]) and metrics["phase_mean"] == pytest.approx(
        float(output[[0, 2]].mean()), rel=1e-5
    )
    brightfield[:, 0, :, :70] = np.nan  # every frame 73 % missing: the FOV fails on the last one
    with pytest.raises(MissingDataError, match=r"FOV A/1/0 channel 'BF': at least 72\.9% of the FOV's"):
        reconstruct_frames(
            brightfield, 0, output, transfer_function, PhaseConfig(), where="FOV A/1/0 channel 'BF'"
        )


def test_the_evaluation_leaves_out_dropped_frames(tiny_3d: dict[str, Path]):
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    config = PhaseConfig()
    rng = np.random.default_rng(0)
    truth = np.clip(rng.normal(size=(3, 1, 5, 96, 96)), 0, None).astype(np.float32) * 0.01
    reconstruction = np.stack([passband_reference(truth[t, 0], transfer_function, config) for t in range(3)])
    reconstruction[1] = np.nan  # a dropped frame
    tracks = pd.DataFrame({"fov_name": ["X/1/0"], "t": [0], "z": [2.0]})
    reference = EvaluationReference(config, transfer_function, nucleus_height_slices=2.0, tracks=tracks)
    fov = correlate_fov(reconstruction[:, None], truth, "X/1/0", reference)
    assert fov.passband.r() == pytest.approx(1.0, abs=1e-6)
    assert fov.raw.n == 2 * 3 * 96 * 96


def test_a_damaged_brightfield_chunk_names_the_store_fov_and_time_point(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], tmp_path: Path
):
    plate = tmp_path / "raw.zarr"
    shutil.copytree(tiny_plate["plate"], plate)
    chunk = plate / "A/1/0/0/c/0/0/0/0/0"  # t=0, the Brightfield channel
    chunk.write_bytes(chunk.read_bytes()[: len(chunk.read_bytes()) // 2])
    create_phase_plate(
        PhaseConfig(), PhasePlateInputs(plate=plate), PhasePlateOutputs(phase_plate=tmp_path / "p.zarr")
    )
    with pytest.raises(CorruptChunkError) as error:
        reconstruct(
            PhaseConfig(),
            plate,
            tiny_3d["transfer_function"],
            tmp_path / "p.zarr",
            tmp_path / "r.json",
            "A/1/0",
        )
    message = str(error.value)
    assert message.startswith(f"{plate}: array 'A/1/0/0' (FOV A/1/0, time point t=0, channel c=0)")
    assert "Re-copy the store from its source" in message
    assert not (tmp_path / "r.json").exists()


def test_flat_field_z_mean_divides_out_uneven_illumination_and_none_keeps_the_counts():
    """phase.flat_field: 'z_mean' makes every pixel's mean over z 1 (a YX illumination ramp cancels),
    'none' keeps the offset-free counts."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(500.0, 2000.0, 16, dtype=np.float32)[None, None, :]  # brighter to the right
    modulation = 1.0 + 0.05 * rng.normal(size=(5, 8, 16)).astype(np.float32)
    counts = 100.0 + ramp * modulation
    flat = normalise_brightfield(counts, PhaseConfig(camera_offset_counts=100.0)).numpy()
    kept = normalise_brightfield(counts, PhaseConfig(camera_offset_counts=100.0, flat_field="none")).numpy()
    np.testing.assert_allclose(kept, counts - 100.0, rtol=1e-6)
    np.testing.assert_allclose(flat.mean(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(flat, modulation / modulation.mean(axis=0, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_inverted_phase_contrast_reconstructs_a_stack_whose_z_axis_points_the_other_way(mode: str):
    """phase.invert_phase_contrast: the stack acquired in the opposite z order, reconstructed with the
    flag, gives (mirrored back) about the phase the stack gives without it; without the flag it does not."""
    shape = (9, 32, 32)
    base = PhaseConfig(mode=mode)
    inverted = base.model_copy(update={"invert_phase_contrast": True})
    truth = torch.zeros(shape)
    truth[3:6, 10:22, 8:20] = 1.0  # a block of phase, asymmetric in Y and X
    forward = calculate_transfer_function(shape, 0.65, 2.5, PhaseConfig(z_padding_slices=0))
    modulation = _convolve(truth, forward.arrays["real_potential_transfer_function"])
    counts = (1000.0 * (1.0 + 0.05 * modulation / modulation.abs().max()) + base.camera_offset_counts).numpy()
    reversed_counts = np.ascontiguousarray(counts[::-1])

    def phase(stack: np.ndarray, config: PhaseConfig) -> np.ndarray:
        reconstructed = reconstruct_stack(
            stack, calculate_transfer_function(shape, 0.65, 2.5, config), config
        )
        return reconstructed[::-1] if stack is reversed_counts else reconstructed

    def correlation(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    upright = phase(counts, base)
    flagged = correlation(phase(reversed_counts, inverted), upright)
    unflagged = correlation(phase(reversed_counts, base), upright)
    assert flagged > 0.7  # 3d: 0.76 (the non-negativity constraint acts on a mirrored problem); 2d: ~1
    assert unflagged < flagged - 0.5


def _sign_metrics(
    counts: np.ndarray, transfer_function: TransferFunction, config: PhaseConfig, caplog
) -> dict[str, object]:
    """The record metrics of reconstructing ``counts`` ``(T, 1, Z, Y, X)`` as FOV A/1/0, WARNINGs captured."""
    output = np.zeros((counts.shape[0], 1, *counts.shape[2:]), np.float32)
    with caplog.at_level(logging.WARNING, logger="dynaclr.phase.reconstruct"):
        totals = reconstruct_frames(counts, 0, output, transfer_function, config, where="raw.zarr FOV A/1/0")
    return totals.metrics("A/1/0", config.mode, 1.0)


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_a_z_reversed_brightfield_stack_is_warned_as_sign_inverted_and_the_normal_one_is_not(
    tiny_plate: dict[str, Path], mode: str, caplog
):
    """A foreign plate whose z-stacks are stored in the opposite z order (or a microscope with the
    opposite defocus sign) gave phase of the wrong sign (2d: cells dark; 3d: the non-negativity
    constraint keeps it positive, but it is not the cells' phase) with exit 0 and nothing said.
    The z-reversed stack is named in a WARNING with the statistic and the key to fix, recorded
    (``phase_sign_inverted``) and marked reduced in the QC table; the stack as acquired is not, nor is
    the reversed one reconstructed with ``phase.invert_phase_contrast``."""
    config = PhaseConfig(mode=mode)
    counts = _first_frames(tiny_plate["plate"], 3)[:, :1]
    shape = counts.shape[2:]
    transfer_function = calculate_transfer_function(shape, 0.65, 2.5, config)
    normal = _sign_metrics(counts, transfer_function, config, caplog)
    assert normal["phase_sign_inverted"] is False and normal["phase_sign_skewness"] > 1.0
    assert "sign-inverted" not in caplog.text
    assert qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), normal, "phase")["status"] == "ok"

    reversed_counts = np.ascontiguousarray(counts[:, :, ::-1])
    inverted = _sign_metrics(reversed_counts, transfer_function, config, caplog)
    assert inverted["phase_sign_inverted"] is True
    assert inverted["phase_sign_skewness"] < INVERTED_SIGN_SKEWNESS
    assert (
        "raw.zarr FOV A/1/0: the phase looks sign-inverted (cells darker than the medium): the median "
        f"skewness of the projected phase over its frames is {inverted['phase_sign_skewness']:.2f}"
        in caplog.text
    )
    assert "set phase.invert_phase_contrast to true, or reverse the stack's z axis" in caplog.text
    row = qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), inverted, "phase")
    assert row["status"] == "reduced"
    assert "phase looks sign-inverted" in row["reason"] and "phase.invert_phase_contrast" in row["reason"]

    caplog.clear()
    flagged = config.model_copy(update={"invert_phase_contrast": True})
    fixed = _sign_metrics(
        reversed_counts, calculate_transfer_function(shape, 0.65, 2.5, flagged), flagged, caplog
    )
    assert fixed["phase_sign_inverted"] is False and fixed["phase_sign_skewness"] > 1.0
    assert "sign-inverted" not in caplog.text


def test_the_sign_check_evaluates_at_most_k_frames_spread_over_the_fov_skipping_dropped_ones(
    tiny_plate: dict[str, Path], monkeypatch, caplog
):
    """The sign check reconstructed every frame's crop a second time (0.13 s per frame, +22 % of a
    plate of 100-frame FOVs) for a FOV median. A FOV with more frames than SIGN_CHECK_FRAMES
    evaluates that many, spread evenly from its first to its last frame; a due frame that is dropped
    passes its turn to the next reconstructed one; the record lists the frames evaluated."""
    n_frames = 20
    assert sign_check_frames(5) == [0, 1, 2, 3, 4]
    due = sign_check_frames(n_frames)
    assert len(due) == SIGN_CHECK_FRAMES == len(set(due)) and due[0] == 0 and due[-1] == n_frames - 1
    assert max(np.diff(due)) - min(np.diff(due)) <= 1
    counts = np.tile(_first_frames(tiny_plate["plate"], 2)[:, :1], (n_frames // 2, 1, 1, 1, 1))
    counts[due[1]] = np.nan  # mostly missing: dropped
    evaluated: list[int] = []
    skewness = SignCheck.skewness

    def counted(self: SignCheck, filled_counts: np.ndarray, phase: np.ndarray) -> float:
        evaluated.append(1)
        return skewness(self, filled_counts, phase)

    monkeypatch.setattr(SignCheck, "skewness", counted)
    config = PhaseConfig(mode="2d")
    transfer_function = calculate_transfer_function(counts.shape[2:], 0.65, 2.5, config)
    metrics = _sign_metrics(counts, transfer_function, config, caplog)
    assert metrics["dropped_frames"] == [due[1]]
    assert metrics["phase_sign_frames"] == [due[0], due[1] + 1, *due[2:]]
    assert len(evaluated) == SIGN_CHECK_FRAMES
    assert metrics["phase_sign_inverted"] is False and metrics["phase_sign_skewness"] > 1.0


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_a_nan_centre_within_the_stack_drop_limit_keeps_the_fov_and_its_sign_check(
    tiny_plate: dict[str, Path], mode: str, monkeypatch, caplog
):
    """A float plate with NaN gathered in the centre of its stacks (14 % of each stack, within the
    stack's drop limit, but 56 % of the sign check's central crop) failed the FOV job with a
    MissingDataError: the sign check applied the drop limit to its crop alone. The stack is filled as
    a whole, as the reconstruction does, before it is cropped: no frame dropped, a finite phase and a
    sign statistic."""
    monkeypatch.setattr(transfer_function_module, "SIGN_CHECK_CROP_PX", 48)
    config = PhaseConfig(mode=mode)
    counts = _first_frames(tiny_plate["plate"], 2)[:, :1]
    counts[:, :, :, 30:66, 30:66] = np.nan
    transfer_function = calculate_transfer_function(counts.shape[2:], 0.65, 2.5, config)
    metrics = _sign_metrics(counts, transfer_function, config, caplog)
    assert metrics["dropped_frames"] == [] and metrics["missing_voxels"] == 2 * 5 * 36 * 36
    assert np.isfinite(metrics["phase_mean"]) and metrics["phase_sign_frames"] == [0, 1]
    assert np.isfinite(float(metrics["phase_sign_skewness"]))
    if mode == "3d":  # the safety net: a crop that cannot be reconstructed has no statistic
        check = SignCheck.build(transfer_function, config)
        assert np.isnan(check.skewness(counts[0, 0], np.zeros((5, 96, 96), np.float32)))


def test_in_2d_mode_the_sign_check_reads_the_phase_without_a_second_transfer_function(
    tiny_plate: dict[str, Path], monkeypatch, caplog
):
    """In mode 2d the phase already is the thin-phase projection the sign check needs: it built a
    second transfer function (3.7 s per FOV at 10 x 256 x 256) and reconstructed the crop again per
    checked frame. It reads the crop of the phase instead (no transfer function built; in mode 3d
    one, with the plate's transfer function), with the same statistic where the crop is the whole
    field, and still warns of a z-reversed stack."""
    counts = _first_frames(tiny_plate["plate"], 3)[:, :1]
    config = PhaseConfig(mode="2d")
    transfer_function = calculate_transfer_function(counts.shape[2:], 0.65, 2.5, config)
    built = _count_thin_transfer_functions(monkeypatch)
    normal = _sign_metrics(counts, transfer_function, config, caplog)
    reversed_counts = np.ascontiguousarray(counts[:, :, ::-1])
    inverted = _sign_metrics(reversed_counts, transfer_function, config, caplog)
    assert built == []
    assert inverted["phase_sign_inverted"] is True and "phase looks sign-inverted" in caplog.text
    assert normal["phase_sign_inverted"] is False and normal["phase_sign_skewness"] > 1.0
    thin_by_itself = [
        sample_skewness(reconstruct_stack(stack, transfer_function, config)) for stack in counts[:, 0]
    ]
    assert normal["phase_sign_skewness"] == pytest.approx(float(np.median(thin_by_itself)), rel=1e-5)
    three_d = PhaseConfig()
    SignCheck.build(calculate_transfer_function(counts.shape[2:], 0.65, 2.5, three_d), three_d)
    assert built == [(96, 96)]  # mode 3d's, computed with the plate's transfer function


def _count_thin_transfer_functions(monkeypatch) -> list[tuple[int, int]]:
    """Record the ``(Y, X)`` of every thin-phase transfer function waveorder computes from now on."""
    built: list[tuple[int, int]] = []
    calculate = isotropic_thin_3d.calculate_transfer_function

    def counted(*args, **kwargs):
        built.append(tuple(kwargs["yx_shape"]))
        return calculate(*args, **kwargs)

    monkeypatch.setattr(isotropic_thin_3d, "calculate_transfer_function", counted)
    return built


def _thin_skewness_built_in_the_job(
    counts: np.ndarray, zyx_shape: tuple[int, int, int], config: PhaseConfig, crop_px: int
) -> list[float]:
    """The sign check's skewness of each stack of ``counts`` ``(T, 1, Z, Y, X)`` as every 3d FOV job
    computed it before the plate's transfer function stored it: the thin-phase transfer function of
    the central ``crop_px`` crop built from the config, the crop reconstructed with it."""
    n_z, n_y, n_x = zyx_shape
    rows = slice((n_y - min(n_y, crop_px)) // 2, (n_y - min(n_y, crop_px)) // 2 + min(n_y, crop_px))
    columns = slice((n_x - min(n_x, crop_px)) // 2, (n_x - min(n_x, crop_px)) // 2 + min(n_x, crop_px))
    thin = config.model_copy(update={"mode": "2d"})
    crop_shape = (n_z, rows.stop - rows.start, columns.stop - columns.start)
    built = calculate_transfer_function(crop_shape, 0.65, 2.5, thin)
    return [
        sample_skewness(reconstruct_stack(np.ascontiguousarray(stack[:, rows, columns]), built, thin))
        for stack in counts[:, 0]
    ]


def test_a_3d_fov_job_reads_the_sign_checks_thin_transfer_function_from_the_plates(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], monkeypatch, caplog
):
    """Every 3d reconstruct_phase job built the sign check's thin-phase transfer function itself (3.7 s
    per FOV job at 10 x 256 x 256, identical for every FOV of a plate). Rule phase_transfer_function
    computes it once and stores it in the plate's transfer function; the FOV job builds none, its sign
    statistic is the one of the function built in the job (within 1e-6), and a z-reversed stack is
    still warned of."""
    built = _count_thin_transfer_functions(monkeypatch)
    config = PhaseConfig()
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    counts = _first_frames(tiny_plate["plate"], 3)[:, :1]
    normal = _sign_metrics(counts, transfer_function, config, caplog)
    reversed_counts = np.ascontiguousarray(counts[:, :, ::-1])
    inverted = _sign_metrics(reversed_counts, transfer_function, config, caplog)
    assert built == []
    before = _thin_skewness_built_in_the_job(counts, transfer_function.zyx_shape, config, 256)
    assert normal["phase_sign_skewness"] == pytest.approx(float(np.median(before)), abs=1e-6)
    assert normal["phase_sign_inverted"] is False and normal["phase_sign_skewness"] > 1.0
    reversed_before = _thin_skewness_built_in_the_job(
        reversed_counts, transfer_function.zyx_shape, config, 256
    )
    assert inverted["phase_sign_skewness"] == pytest.approx(float(np.median(reversed_before)), abs=1e-6)
    assert inverted["phase_sign_inverted"] is True and "phase looks sign-inverted" in caplog.text


def test_the_stored_sign_check_crop_gives_the_statistic_of_the_crop_built_in_the_job(
    tiny_plate: dict[str, Path], monkeypatch, caplog
):
    """On a field larger than the crop (48 px of 96 here) the transfer function stores the thin-phase
    singular system of the central crop, which the check cuts from the stack: the same statistic as
    the crop's transfer function built in the job, within 1e-6."""
    monkeypatch.setattr(transfer_function_module, "SIGN_CHECK_CROP_PX", 48)
    config = PhaseConfig()
    counts = _first_frames(tiny_plate["plate"], 3)[:, :1]
    transfer_function = calculate_transfer_function(counts.shape[2:], 0.65, 2.5, config)
    assert transfer_function.arrays["sign_check_singular_vh"].shape == (2, 5, 48, 48)
    metrics = _sign_metrics(counts, transfer_function, config, caplog)
    before = _thin_skewness_built_in_the_job(counts, transfer_function.zyx_shape, config, 48)
    assert metrics["phase_sign_skewness"] == pytest.approx(float(np.median(before)), abs=1e-6)
    check = SignCheck.build(transfer_function, config)
    assert (check.rows, check.columns) == (slice(24, 72), slice(24, 72))


def test_a_3d_transfer_function_store_without_the_sign_checks_arrays_is_refused(tmp_path: Path):
    """A store made before the sign check's arrays were stored (schema 1) is refused by its schema
    version, one lacking them or holding them in other shapes by name; each names the rerun."""
    potentials = {
        name: torch.zeros((3, 8, 8), dtype=torch.complex64)
        for name in ("real_potential_transfer_function", "imaginary_potential_transfer_function")
    }
    old = TransferFunction("3d", (3, 8, 8), 0.65, 2.0, 0, potentials)
    provenance = make_provenance(ArtifactKind.PHASE_TRANSFER_FUNCTION, {})
    transfer_function_module.save_transfer_function(
        old, tmp_path / "v1.zarr", provenance.model_copy(update={"schema_version": 1})
    )
    with pytest.raises(ArtifactError, match=r"schema version 1 .* reads schema version 2.*forcerun phase_tr"):
        load_transfer_function(tmp_path / "v1.zarr")
    transfer_function_module.save_transfer_function(old, tmp_path / "lacking.zarr", provenance)
    with pytest.raises(ArtifactError, match=r"lacks arrays \['sign_check_singular_u'.*forcerun phase_tr"):
        load_transfer_function(tmp_path / "lacking.zarr")
    wrong = {
        "sign_check_singular_u": torch.zeros((2, 2, 8, 8), dtype=torch.complex64),
        "sign_check_singular_values": torch.zeros((2, 8, 8)),
        "sign_check_singular_vh": torch.zeros((2, 4, 8, 8), dtype=torch.complex64),  # 4 slices, not 3
    }
    transfer_function_module.save_transfer_function(
        TransferFunction("3d", (3, 8, 8), 0.65, 2.0, 0, {**potentials, **wrong}),
        tmp_path / "shape.zarr",
        provenance,
    )
    with pytest.raises(ArtifactError, match=r"'vh': \(2, 4, 8, 8\)\}; expected .*'vh': \(2, 3, 8, 8\)"):
        load_transfer_function(tmp_path / "shape.zarr")


def test_noise_only_and_constant_brightfield_is_not_warned_as_sign_inverted(tiny_3d: dict[str, Path], caplog):
    """Frames without cells (uniform random counts, as the shape tests' plates hold; a constant
    stack) have no sign to tell: no WARNING, and a constant stack has no statistic."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    shape = (3, 1, *transfer_function.zyx_shape)
    for seed in range(5):
        noise = np.random.default_rng(seed).integers(19000, 21000, size=shape, dtype=np.uint16)
        metrics = _sign_metrics(noise, transfer_function, PhaseConfig(), caplog)
        assert metrics["phase_sign_inverted"] is False
        assert abs(float(metrics["phase_sign_skewness"])) < -INVERTED_SIGN_SKEWNESS
    constant = _sign_metrics(np.full(shape, 5000, np.uint16), transfer_function, PhaseConfig(), caplog)
    assert constant["phase_sign_skewness"] is None and constant["phase_sign_inverted"] is False
    assert "sign-inverted" not in caplog.text


def test_a_frame_without_brightfield_intensity_is_dropped_as_nan_recorded_and_warned(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog
):
    """One frame at the camera's dark level (a shutter that did not open) in a movie is a dropped
    frame, like a mostly missing one: NaN in the phase, listed in the record with its reason, a
    WARNING naming the FOV and the frame; the other frames are reconstructed and the next stage drops
    the frame. (A float frame of exact 0.0, padding, is dropped too: see
    test_a_float_plate_fills_exact_zeros_only_and_only_under_a_positive_offset.)"""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    brightfield = _first_frames(tiny_plate["plate"])
    brightfield[1, 0] = 100.0  # the default camera offset
    output, totals = _reconstruct_logged(brightfield, transfer_function, caplog, "dynaclr.phase.reconstruct")
    assert "raw.zarr FOV A/1/0 channel 'BF': frame t=1 dropped: no brightfield intensity" in caplog.text
    assert "100.0% of its voxels are at or below 0 counts" in caplog.text
    metrics = totals.metrics("A/1/0", "3d", seconds_total=1.0)
    assert metrics["dropped_frames"] == [1] and metrics["frames_without_brightfield"] == [1]
    assert metrics["missing_voxels"] == 0 and np.isfinite(metrics["phase_mean"])
    row = qc_row(ArtifactKind.PHASE_FOV, Path("r/A/1/0.json"), {**metrics, "n_frames": 3}, "phase")
    assert row["status"] == "reduced" and row["dropped_frames"] == "1"
    assert row["reason"] == "frames [1] dropped (no brightfield intensity)"
    statistics = fov_normalization(output, 0, "zscore", 3, "phase.zarr FOV A/1/0 channel 'Phase3D'")
    assert statistics.dropped_frames == [1] and np.isfinite(statistics.center)


@pytest.mark.parametrize("blank", ["shutters_closed", "background_subtracted"])
def test_a_fov_mostly_without_brightfield_intensity_is_refused_naming_fov_and_frame(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], blank: str
):
    """Most frames without light (at the dark level) or background-subtracted data (about half the voxels
    negative, a small positive mean, in every frame) is no brightfield intensity: the FOV is refused
    naming the first such frame and what was found, never reconstructed into a phase of arbitrary
    size."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    brightfield = _first_frames(tiny_plate["plate"])
    config = PhaseConfig()
    if blank == "shutters_closed":
        brightfield[1:, 0] = 100.0  # the camera's dark level (the default offset)
        frame, share = 1, "100.0%"
    else:
        brightfield[:, 0] -= np.median(brightfield[:, 0]) - 1.0  # mean above 0 counts
        config, frame, share = PhaseConfig(camera_offset_counts=0.0), 0, ""
    output = np.zeros((3, 1, *brightfield.shape[2:]), np.float32)
    with pytest.raises(
        ValueError, match=rf"FOV A/1/0 channel 'BF' frame t={frame}: brightfield stack: "
    ) as error:
        reconstruct_frames(brightfield, 0, output, transfer_function, config, where="FOV A/1/0 channel 'BF'")
    assert f"{share}" in str(error.value) and "of its voxels are at or below 0 counts" in str(error.value)
    assert "2 of the FOV's 3 frames have no brightfield intensity" in str(error.value)


def test_frames_without_intensity_and_mostly_missing_frames_together_refuse_a_fov(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    """One frame of zeros and one mostly missing frame of three: most frames would be dropped."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    brightfield = _first_frames(tiny_plate["plate"])
    brightfield[0, 0] = 0.0
    brightfield[2, 0, :, :70] = np.nan
    output = np.zeros((3, 1, *brightfield.shape[2:]), np.float32)
    with pytest.raises(ValueError, match=r"1 of the FOV's 3 frames have no brightfield intensity and 1 more"):
        reconstruct_frames(brightfield, 0, output, transfer_function, PhaseConfig(), where="FOV A/1/0")


@pytest.mark.parametrize("focus_slice", [2, 6])
def test_2d_mode_reconstructs_a_thin_object_at_the_focus_offset_it_is_told(focus_slice: int):
    """phase.focus_offset_slices (2d mode): a thin object in focus at slice 2 or 6 of 9 (not Z // 2 = 4)
    is recovered with focus_offset_slices = slice - 4, and not with the default 0."""
    shape = (9, 32, 32)
    truth = torch.zeros(shape)
    truth[focus_slice, 10:22, 8:20] = 1.0  # a thin block of phase, asymmetric in Y and X
    forward = calculate_transfer_function(shape, 0.65, 2.5, PhaseConfig(z_padding_slices=0))
    modulation = _convolve(truth, forward.arrays["real_potential_transfer_function"])
    counts = (1000.0 * (1.0 + 0.05 * modulation / modulation.abs().max()) + 100.0).numpy()

    def correlation(offset: float) -> float:
        config = PhaseConfig(mode="2d", focus_offset_slices=offset)
        phase = reconstruct_stack(counts, calculate_transfer_function(shape, 0.65, 2.5, config), config)
        return float(np.corrcoef(np.asarray(phase).ravel(), truth[focus_slice].numpy().ravel())[0, 1])

    told, default = correlation(focus_slice - shape[0] // 2), correlation(0.0)
    assert told > 0.5  # 0.69 (slice 2), 0.56 (slice 6)
    assert told > default + 0.3  # 0.22, -0.12


def _as_16_bit(brightfield: np.ndarray, mean_counts: float) -> np.ndarray:
    """The simulator's brightfield (offset 100) as a 16-bit camera's counts around ``mean_counts``."""
    signal = brightfield - 100.0
    return np.rint(100.0 + signal * ((mean_counts - 100.0) / signal.mean())).astype(np.uint16)


#: What the WARNING says the filled voxels are at, by the brightfield's pixel type.
AT_PADDING = {
    "uint16": "are at 0, the uint16 pixels' minimum",
    "float32": "are at exactly 0, the float32 pixels' padding value",
    "int16": "are at 0, the int16 pixels' padding value",
}


@pytest.mark.parametrize("damage", ["zero_padding", "dead_pixels", "float_zero_padding"])
def test_zero_padding_and_dead_pixels_of_a_16_bit_plate_are_not_its_dark_level(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog, damage: str
):
    """Stitched 16-bit brightfield (about 3000 counts, dark level 100) with zero padding (2 columns:
    2 % of the voxels) or 0.15 % dead pixels at 0 was refused by the darkest-voxel check (0 lies
    below half the offset), which advised writing the gaps as NaN (impossible in a uint16 plate) or
    an offset of 0 (a wrong phase). The zeros are no measurement: filled with the stack's median, the
    phase is the one without them, the zeros counted in the FOV's record and named in a WARNING.
    The same counts in a float plate (offset not subtracted: an exact 0.0 lies as far below the dark
    level) were still refused advising NaN; they are filled the same way."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    clean = _as_16_bit(_first_frames(tiny_plate["plate"], 2)[:, :1], 3000.0)
    if damage.startswith("float"):
        clean = clean.astype(np.float32)
    damaged = clean.copy()
    if damage.endswith("zero_padding"):
        damaged[..., 47:49] = 0
    else:
        flat = damaged.reshape(-1)
        flat[np.random.default_rng(1).choice(flat.size, size=int(0.0015 * flat.size), replace=False)] = 0
    n_zeros = int((damaged == 0).sum())
    reference = np.zeros((2, 1, *clean.shape[2:]), np.float32)
    reconstruct_frames(clean, 0, reference, transfer_function, PhaseConfig())
    output = np.zeros_like(reference)
    with caplog.at_level(logging.WARNING, logger="dynaclr.phase.reconstruct"):
        totals = reconstruct_frames(damaged, 0, output, transfer_function, PhaseConfig(), where="FOV A/1/0")
    assert np.isfinite(output).all() and totals.dropped_frames() == []
    kept = damaged[:, :1] != 0
    assert np.corrcoef(output[kept], reference[kept])[0, 1] > 0.95
    metrics = totals.metrics("A/1/0", "3d", 1.0)
    assert metrics["voxels_at_pixel_type_minimum"] == metrics["filled_padding_voxels"] == n_zeros
    assert metrics["brightfield_voxels_read"] == damaged.size
    assert f"FOV A/1/0: {n_zeros} voxels (" in caplog.text
    # no phase where the padding was (10 % of the columns: r 0.69 with the true phase there, the FOV's
    # phase centre 9 % and scale 6 % off), which the QC table said nothing of: reduced
    row = qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), metrics, "phase")
    assert row["status"] == "reduced"
    assert row["reason"] == (
        f"{n_zeros} brightfield padding voxel(s) filled (zero padding or dead pixels: no phase there)"
    )
    assert f"{AT_PADDING[clean.dtype.name]}, below phase.camera_offset_counts = 100" in caplog.text


@pytest.mark.parametrize(("padding", "status"), [(5, "ok"), (3000, "reduced")])
def test_a_few_dead_pixels_do_not_reduce_a_fov_but_padding_above_0_1_percent_does(padding: int, status: str):
    """Any filled padding voxel (a single dead pixel: 5 voxels of 600 million) made the FOV ``reduced``;
    only above 0.1 % of the brightfield voxels read it does (2 % of the columns already moved r to 0.87),
    the count kept in the record either way."""
    complete = {"missing_voxels": 0, "dropped_frames": [], "repeated_frames": []}
    metrics = {
        **complete,
        "filled_padding_voxels": padding,
        "brightfield_voxels_read": 30 * 5 * 2048 * 2048 // 256,
    }
    assert 0.001 * metrics["brightfield_voxels_read"] < 3000
    row = qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), metrics, "phase")
    assert row["status"] == status
    if status == "reduced":
        assert (
            row["reason"]
            == "3000 brightfield padding voxel(s) filled (zero padding or dead pixels: no phase there)"
        )
    legacy = {**complete, "filled_padding_voxels": 5}
    legacy = qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), legacy, "phase")
    assert legacy["status"] == "reduced"  # a record without the voxels read: the share is unknown


def test_an_over_exposed_frame_is_counted_named_and_marked_reduced(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog
):
    """16-bit brightfield whose second frame is over-exposed (its brightest 30 % of voxels clipped at
    65535): its phase was written with exit 0 and nothing said so (on an 8-bit plate, r with the
    unsaturated phase fell to 0.91 at 31 % saturated, 0.49 at 99 %). The frame is named in a WARNING
    and the FOV's record (``saturated_frames``), and the QC table marks the FOV reduced."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    counts = _as_16_bit(_first_frames(tiny_plate["plate"], 2)[:, :1], 3000.0)
    counts[1][counts[1] >= np.percentile(counts[1], 70)] = 65535
    n_saturated = int((counts == 65535).sum())
    output = np.zeros((2, 1, *counts.shape[2:]), np.float32)
    with caplog.at_level(logging.WARNING, logger="dynaclr.phase.reconstruct"):
        totals = reconstruct_frames(counts, 0, output, transfer_function, PhaseConfig(), where="FOV A/1/0")
    metrics = totals.metrics("A/1/0", "3d", 1.0)
    assert metrics["saturated_frames"] == [1] and metrics["saturated_voxels"] == n_saturated
    assert (
        "FOV A/1/0: frame(s) [1] have more than 1% of their brightfield voxels at a camera's full scale "
        "65535 counts" in caplog.text
    )
    row = qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), metrics, "phase")
    assert row["status"] == "reduced" and row["reason"] == "frames [1] over-exposed (brightfield saturated)"
    floats = reconstruct_frames(counts.astype(np.float32), 0, output, transfer_function, PhaseConfig())
    assert floats.saturated_frames == [1]  # a float plate of counts saturates at the same value


@pytest.mark.parametrize("case", ["copy", "copy_2d", "copy_holding_nan", "dropped_copy", "after_dropped"])
def test_a_frame_repeating_the_one_before_is_named_and_marked_reduced(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog, case: str
):
    """A brightfield movie whose third frame is a copy of its second (an acquisition that wrote one
    frame twice): it was reconstructed as a new time point, exit 0 and no word, though a camera's noise
    never repeats voxel for voxel. The frame is named in a WARNING and the FOV's record
    (``repeated_frames``), and the QC table marks the FOV reduced; frames that differ say nothing. So
    in mode 2d, and for a copy holding the same missing (NaN) voxels; a dropped frame repeating a
    dropped frame carries its drop reason only, and a copy right after a dropped frame is named."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    config = PhaseConfig(mode="2d") if case == "copy_2d" else PhaseConfig()
    counts = _as_16_bit(_first_frames(tiny_plate["plate"], 4)[:, :1], 3000.0)
    if case == "copy_2d":
        transfer_function = calculate_transfer_function(counts.shape[2:], 0.65, 2.5, config)
    else:
        transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    out_z = 1 if case == "copy_2d" else counts.shape[2]
    output = np.zeros((4, 1, out_z, *counts.shape[3:]), np.float32)
    clean = reconstruct_frames(counts, 0, output, transfer_function, config)
    assert clean.metrics("A/1/0", config.mode, 1.0)["repeated_frames"] == []
    if case in ("copy_holding_nan", "dropped_copy", "after_dropped"):
        counts = counts.astype(np.float32)
    expected: list[int] = [2]
    if case == "copy_holding_nan":
        counts[1, 0, 0, 0, :4] = np.nan  # filled, not dropped: the copy holds the same NaN
    elif case == "dropped_copy":
        counts[1, 0, :, :70] = np.nan  # 73 % missing: dropped, and so is its copy
        expected = []
    elif case == "after_dropped":
        counts[1, 0, :, :70] = np.nan  # frame 1 dropped; frame 3 repeats frame 2
        counts[3] = counts[2]
        expected = [3]
    if case != "after_dropped":
        counts[2] = counts[1]
    with caplog.at_level(logging.WARNING, logger="dynaclr.phase.reconstruct"):
        totals = reconstruct_frames(counts, 0, output, transfer_function, config, where="FOV A/1/0")
    metrics = totals.metrics("A/1/0", config.mode, 1.0)
    assert metrics["repeated_frames"] == expected
    named = f"FOV A/1/0: frame(s) {expected} repeat the frame before them voxel for voxel"
    assert (named in caplog.text) == bool(expected)
    row = qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), metrics, "phase")
    assert row["status"] == "reduced"
    repeat_reason = f"frames {expected} repeat the frame before (a frame written twice?)"
    assert (repeat_reason in row["reason"]) == bool(expected)
    if case in ("copy", "copy_2d"):
        assert row["reason"] == repeat_reason


@pytest.mark.parametrize("drop", ["without_intensity", "mostly_missing"])
def test_a_dropped_frame_is_not_also_listed_as_over_exposed(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], drop: str, caplog
):
    """A brightfield frame dropped (62 % of it at 0 on 16 bits: no intensity; or 62 % NaN: mostly
    missing) whose measured rest has its brightest 5 % of the stack at 65535: it was listed as
    dropped and as over-exposed, one frame with two reasons in the QC table and a WARNING calling its
    phase reduced, though it has none (NaN). A dropped frame carries its drop reason only; an
    over-exposed frame that is reconstructed is still counted."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row

    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    counts = _as_16_bit(_first_frames(tiny_plate["plate"], 3)[:, :1], 3000.0)
    for t in (1, 2):  # frame 2: over-exposed only, reconstructed
        counts[t][counts[t] >= np.percentile(counts[t], 95)] = 65535
    if drop == "without_intensity":
        counts[1, ..., :60] = 0
        reason = "frames [1] dropped (no brightfield intensity)"
    else:
        counts = counts.astype(np.float32)
        counts[1, ..., :60] = np.nan
        reason = "frames [1] dropped (more than half their voxels missing)"
    output = np.zeros((3, 1, *counts.shape[2:]), np.float32)
    with caplog.at_level(logging.WARNING, logger="dynaclr.phase.reconstruct"):
        totals = reconstruct_frames(counts, 0, output, transfer_function, PhaseConfig(), where="FOV A/1/0")
    metrics = totals.metrics("A/1/0", "3d", 1.0)
    assert metrics["dropped_frames"] == [1] and np.isnan(output[1]).all()
    assert metrics["filled_padding_voxels"] == 0  # the dropped frame's zeros: its drop reason only
    assert metrics["saturated_frames"] == [2]
    assert metrics["saturated_voxels"] == int((counts[2] == 65535).sum())
    assert "frame(s) [2] have more than 1% of their brightfield voxels" in caplog.text
    row = qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), metrics, "phase")
    assert row["status"] == "reduced" and row["dropped_frames"] == "1"
    assert row["reason"] == f"{reason}; frames [2] over-exposed (brightfield saturated)"


def test_a_12_bit_camera_saturating_in_a_16_bit_plate_is_counted_at_its_full_scale(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog
):
    """A 12-bit camera's counts stored in uint16 clip at 4095, never at the type's 65535: 8 % of a
    frame's voxels at 4095 went uncounted and the FOV was 'ok'. The stack's maximum at a camera's
    full scale holding more than 1 % of its voxels is saturation, whatever the type's maximum; a
    frame whose maximum is no full scale, or one at a full scale held by few voxels, is not."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    counts = _as_16_bit(_first_frames(tiny_plate["plate"], 3)[:, :1], 3000.0)
    counts = np.minimum(counts, 4094).astype(np.uint16)  # a 12-bit camera below its full scale
    counts[1][counts[1] >= np.percentile(counts[1], 92)] = 4095  # frame 1: 8 % clipped at 4095
    counts[2].flat[:3] = 4095  # frame 2: three voxels at 4095, far below 1 %
    n_saturated = int((counts[1] == 4095).sum())
    assert 0.07 < n_saturated / counts[1].size < 0.09 and counts.max() < np.iinfo(np.uint16).max
    output = np.zeros((3, 1, *counts.shape[2:]), np.float32)
    with caplog.at_level(logging.WARNING, logger="dynaclr.phase.reconstruct"):
        totals = reconstruct_frames(counts, 0, output, transfer_function, PhaseConfig(), where="FOV A/1/0")
    metrics = totals.metrics("A/1/0", "3d", 1.0)
    assert metrics["saturated_frames"] == [1] and metrics["saturated_voxels"] == n_saturated
    said = "frame(s) [1] have more than 1% of their brightfield voxels at a camera's full scale 4095 counts"
    assert said in caplog.text
    unclipped = np.minimum(counts, 4000).astype(np.uint16)  # maximum 4000: no camera's full scale
    clean = reconstruct_frames(unclipped, 0, output, transfer_function, PhaseConfig())
    assert clean.saturated_frames == [] and clean.saturated_voxels == 0


def test_a_float_plate_fills_exact_zeros_only_and_only_under_a_positive_offset(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    """Float counts (about 3000, offset 100 not subtracted): a frame of padding only (exact 0.0) is
    dropped as a 16-bit one is; padding at another value below half the offset (0.5 counts: no
    padding value, maybe offset-subtracted data) is still refused, its advice naming NaN or exactly 0;
    under an offset of 0 (0.0 is then a dark voxel's value) zeros in some slices are not filled (only
    those in every slice are: the next test)."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    clean = _as_16_bit(_first_frames(tiny_plate["plate"], 2)[:, :1], 3000.0).astype(np.float32)
    damaged = clean.copy()
    damaged[1] = 0.0
    output = np.zeros((2, 1, *clean.shape[2:]), np.float32)
    totals = reconstruct_frames(damaged, 0, output, transfer_function, PhaseConfig())
    assert totals.frames_without_intensity == [1] and np.isnan(output[1]).all()
    assert f"100.0% of its voxels {AT_PADDING['float32']}" in totals.first_without_intensity
    damaged[1] = clean[1]
    damaged[..., 47:49] = 0.5
    refused = r"darkest 0.1% of voxels are at or below 0.5 counts.*NaN or exactly 0"
    with pytest.raises(ValueError, match=refused):
        reconstruct_frames(damaged, 0, output, transfer_function, PhaseConfig())
    subtracted = damaged - 100.0
    subtracted[:, :, :3, 10:12, 10:12] = 0.0  # dark voxels at exactly 0.0 in 3 of the 5 slices
    offset_0 = PhaseConfig(camera_offset_counts=0)
    unfilled = reconstruct_frames(subtracted, 0, output, transfer_function, offset_0)
    assert unfilled.metrics("A/1/0", "3d", 1.0)["voxels_at_pixel_type_minimum"] == 0


def test_missing_voxels_and_padding_are_one_mask_for_the_drop_limit_and_the_fill(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    """Float counts (about 3000) under the offset 100: NaN (missing) and exact 0.0 (padding) are both
    no measurement. A frame 31 % NaN and 31 % padding holds 38 % measured voxels: dropped as one
    without brightfield, naming both shares (before: each kind was under the 50 % limit alone and the
    frame was reconstructed from 38 % of its voxels). Below the limit the phase does not depend on
    which of the two marks a voxel (before: NaN took the median of every finite voxel, the 0.0
    padding included, so far below the measured counts)."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    clean = _as_16_bit(_first_frames(tiny_plate["plate"], 2)[:, :1], 3000.0).astype(np.float32)
    n_x = clean.shape[-1]
    damaged = clean.copy()
    damaged[1, ..., : int(0.31 * n_x)] = np.nan
    damaged[1, ..., int(0.31 * n_x) : int(0.62 * n_x)] = 0.0
    output = np.zeros((2, 1, *clean.shape[2:]), np.float32)
    totals = reconstruct_frames(damaged, 0, output, transfer_function, PhaseConfig())
    assert totals.frames_without_intensity == [1] and np.isnan(output[1]).all()
    assert np.isfinite(output[0]).all()
    assert f"of its voxels {AT_PADDING['float32']}" in totals.first_without_intensity
    assert "are missing (NaN or inf): 6" in totals.first_without_intensity

    stack = clean[0, 0].copy()
    stack[..., : int(0.3 * n_x)] = 0.0  # padding, under the limit
    as_nan, as_padding = stack.copy(), stack.copy()
    as_nan[:, 40:43, 50:53] = np.nan
    as_padding[:, 40:43, 50:53] = 0.0
    np.testing.assert_array_equal(
        reconstruct_stack(as_nan, transfer_function, PhaseConfig()),
        reconstruct_stack(as_padding, transfer_function, PhaseConfig()),
    )


def test_a_16_bit_frame_mostly_at_zero_is_dropped_as_one_without_brightfield(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    counts = _as_16_bit(_first_frames(tiny_plate["plate"], 3)[:, :1], 3000.0)
    counts[1, ..., :60] = 0
    output = np.zeros((3, 1, *counts.shape[2:]), np.float32)
    totals = reconstruct_frames(counts, 0, output, transfer_function, PhaseConfig())
    assert totals.frames_without_intensity == [1] and np.isnan(output[1]).all()
    assert "62.5% of its voxels are at 0, the uint16 pixels' minimum" in totals.first_without_intensity


def test_an_offset_above_the_dark_level_of_integer_pixels_is_refused_with_integer_advice():
    """On integer pixels the darkest voxels above the pixel type's minimum still refuse an offset above
    the dark level, with advice an integer plate can follow (no NaN)."""
    counts = np.full((3, 16, 16), 1000, dtype=np.uint16)
    counts[:, :2] = 20  # an eighth of the field at a dark level of 20, below half the offset 100
    with pytest.raises(ValueError) as error:
        normalise_brightfield(counts, PhaseConfig())
    message = str(error.value)
    assert "darkest 0.1% of voxels are at or below 20 counts" in message
    assert "0 only if the offset really was subtracted at export" in message
    assert "NaN" not in message


def _offset_subtracted(
    brightfield: np.ndarray, mean_counts: float, seed: int, pixel_type: str = "uint16"
) -> np.ndarray:
    """The simulator's brightfield (offset 100) as low-light counts whose offset was subtracted at
    export: mean ``mean_counts``, shot noise and 2 counts of read noise, clipped at 0 (unsigned and
    float types) or keeping the negative read noise (signed integers, as such exports do)."""
    rng = np.random.default_rng(seed)
    signal = brightfield - 100.0
    counts = np.rint(
        rng.poisson(signal * (mean_counts / signal.mean())) + rng.normal(0.0, 2.0, size=signal.shape)
    )
    if np.dtype(pixel_type).kind != "i":
        counts = np.clip(counts, 0, None)
    return counts.astype(pixel_type)


@pytest.mark.parametrize("pixel_type", ["uint16", "float32", "int16"])
def test_zero_padding_of_an_offset_subtracted_plate_is_filled_not_its_dark_voxels(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog, pixel_type: str
):
    """A stitched brightfield plate whose offset was subtracted at export (phase.camera_offset_counts
    = 0, as its users are told to set) kept its zero padding: with a 6-column gap between tiles and a
    missing corner (10 % of the field) the phase inside the tiles correlated 0.70 with the phase
    without padding, exit 0. Low light (10 counts) clipped at 0 leaves scattered zeros, varying slice
    to slice: those are dark voxels, not filled; the positions at 0 in every slice are padding: filled
    as under a positive offset, counted and named in the WARNING, and the phase inside the tiles is
    the one without padding. A frame more than half padding is dropped as one without brightfield.
    A signed plate (int16) keeps the negative read noise and pads with 0, not the type's minimum."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    clean = _offset_subtracted(
        _first_frames(tiny_plate["plate"], 2)[:, :1], 10.0, seed=4, pixel_type=pixel_type
    )
    assert (clean == 0).sum() > 50 and not (clean == 0).all(axis=2).any()  # scattered zeros only
    config = PhaseConfig(camera_offset_counts=0)
    reference = np.zeros((2, 1, *clean.shape[2:]), np.float32)
    reconstruct_frames(clean, 0, reference, transfer_function, config)
    padding = np.zeros(clean.shape[-2:], dtype=bool)
    padding[:, 45:51] = True  # the gap between two tiles
    padding[-20:, -20:] = True  # a missing corner
    padded = clean.copy()
    padded[..., padding] = 0
    output = np.zeros_like(reference)
    with caplog.at_level(logging.WARNING, logger="dynaclr.phase.reconstruct"):
        totals = reconstruct_frames(padded, 0, output, transfer_function, config, where="FOV A/1/0")
    assert np.isfinite(output).all() and totals.dropped_frames() == []
    tiles = np.broadcast_to(~padding, output.shape)
    assert np.corrcoef(output[tiles], reference[tiles])[0, 1] > 0.95
    n_padding = int(padding.sum()) * padded.shape[0] * padded.shape[2]
    assert totals.metrics("A/1/0", "3d", 1.0)["voxels_at_pixel_type_minimum"] == n_padding
    assert f"FOV A/1/0: {n_padding} voxels (" in caplog.text
    assert f"{AT_PADDING[pixel_type]}, in every z slice of their stack (phase.camera_offset_counts = 0)" in (
        caplog.text
    )
    padded[1, ..., :60] = 0
    totals = reconstruct_frames(padded, 0, output, transfer_function, config)
    assert totals.frames_without_intensity == [1] and np.isnan(output[1]).all()
    assert f"of its voxels {AT_PADDING[pixel_type]}, in every z slice" in totals.first_without_intensity


def test_a_phase_record_made_before_the_repeat_check_says_its_frames_were_not_checked():
    """A phase record written before ``repeated_frames`` existed: its frames were never compared, so
    its QC row must not read as checked and clean; the reason says so, with no rerun forced."""
    from dynaclr.io import ArtifactKind
    from dynaclr.qc import qc_row
    from dynaclr.qc.table import REPEATS_NOT_CHECKED

    old = {"n_frames": 3, "dropped_frames": [], "missing_voxels": 0}
    row = qc_row(ArtifactKind.PHASE_FOV, Path("records/phase/A/1/0.json"), old, "phase")
    assert row["status"] == "ok" and row["reason"] == REPEATS_NOT_CHECKED
    checked = qc_row(ArtifactKind.PHASE_FOV, Path("a.json"), {**old, "repeated_frames": []}, "phase")
    assert checked["status"] == "ok" and checked["reason"] == ""
    # tracking compares its nuclear frames too (session 20): its old records say so, naming its rule
    tracks = qc_row(ArtifactKind.TRACKS_FOV, Path("a.json"), {**old, "n_tracks": 1}, "tracking")
    assert tracks["status"] == "ok" and tracks["reason"].startswith("repeated frames not checked")
    assert "--forcerun track_fov" in tracks["reason"]
    checked = qc_row(
        ArtifactKind.TRACKS_FOV, Path("a.json"), {**old, "n_tracks": 1, "repeated_frames": []}, "tracking"
    )
    assert checked["reason"] == ""


def test_the_repeat_digest_is_equal_exactly_where_the_stacks_are_equal() -> None:
    """Equal values give one digest whatever the byte order, NaN payload or sign of zero (as
    ``np.array_equal(equal_nan=True)`` sees them); one changed value or another shape changes it."""
    counts = np.arange(24, dtype="<u2").reshape(2, 3, 4)
    assert stack_digest(counts) == stack_digest(counts.astype(">u2"))
    floats = np.array([1.0, np.nan, -0.0], dtype=">f4")
    assert stack_digest(floats) == stack_digest(np.array([1.0, -np.nan, 0.0], dtype="<f4"))
    changed = counts.copy()
    changed[1, 2, 3] += 1
    assert stack_digest(changed) != stack_digest(counts)
    assert stack_digest(counts.reshape(4, 3, 2)) != stack_digest(counts)


# --- constant (blank) brightfield stacks and z slices -------------------------------------------


@pytest.mark.parametrize("blank", ["constant", "saturated"])
def test_a_constant_brightfield_stack_is_dropped_as_nan_named_and_marked_reduced(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog, blank: str
):
    """A 16-bit brightfield frame whose every voxel holds one value above the dark level (a blank frame
    an exporter wrote, 5000 counts; or every voxel at the camera's full scale) has no modulation: it was
    reconstructed into a phase of exactly 0 with exit 0, listed nowhere (the saturated one only as
    over-exposed, 'reduced'), and virtual staining predicted nuclei from it. It is dropped like a frame
    without light: NaN, listed as constant_frames and dropped_frames, a WARNING naming the FOV and
    frame, the QC table giving that reason alone."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    counts = _as_16_bit(_first_frames(tiny_plate["plate"])[:, :1], 3000.0)
    counts[1, 0] = 5000 if blank == "constant" else 65535
    _, totals = _reconstruct_logged(counts, transfer_function, caplog, "dynaclr")  # frame 1 NaN, checked
    metrics = totals.metrics("A/1/0", "3d", seconds_total=1.0)
    assert metrics["dropped_frames"] == [1] and metrics["constant_frames"] == [1]
    assert metrics["frames_without_brightfield"] == [] and metrics["saturated_frames"] == []
    assert metrics["frames_with_constant_slices"] == []
    assert "raw.zarr FOV A/1/0 channel 'BF': frame(s) [1] are constant (every voxel one value" in caplog.text
    row = qc_row(ArtifactKind.PHASE_FOV, Path("r/A/1/0.json"), metrics, "phase")
    assert row["status"] == "reduced" and row["dropped_frames"] == "1"
    assert row["reason"] == "frames [1] dropped (constant input frame: every voxel one value, no signal)"


def test_the_missing_voxels_of_a_dropped_brightfield_frame_are_not_counted_as_filled(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path]
):
    """A frame dropped after its missing voxels were counted (constant once filled; without brightfield
    intensity) is written as NaN: none of its voxels is filled, yet they were counted in filled_voxels
    ("filled in frames that were used"). They stay missing voxels; frame 0's 4 are the filled ones."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    clean = _as_16_bit(_first_frames(tiny_plate["plate"])[:, :1], 3000.0).astype(np.float32)
    counts = clean.copy()
    counts[0, 0, 0, :2, :2] = np.nan  # filled: frame 0 is reconstructed
    counts[1, 0] = 5000.0
    counts[1, 0, 0, :3, :3] = np.nan  # a constant frame's: not filled
    output = np.zeros((3, 1, *counts.shape[2:]), np.float32)
    totals = reconstruct_frames(counts, 0, output, transfer_function, PhaseConfig())
    metrics = totals.metrics("A/1/0", "3d", seconds_total=1.0)
    assert metrics["constant_frames"] == [1] and np.isnan(output[1]).all()
    assert metrics["missing_voxels"] == 4 + 9 and metrics["filled_voxels"] == 4
    n_x = counts.shape[-1]  # frame 1 without brightfield: 31 % NaN and 31 % padding
    counts[1] = clean[1]
    counts[1, ..., : int(0.31 * n_x)] = np.nan
    counts[1, ..., int(0.31 * n_x) : int(0.62 * n_x)] = 0.0
    totals = reconstruct_frames(counts, 0, output, transfer_function, PhaseConfig())
    assert totals.frames_without_intensity == [1]
    assert totals.missing.filled_voxels == 4 and totals.missing.missing_voxels > 4


@pytest.mark.parametrize("slice_value", ["zero_under_offset_0", "constant", "nan"])
def test_a_brightfield_stack_with_a_constant_z_slice_is_named_and_marked_reduced(
    tiny_plate: dict[str, Path], tiny_3d: dict[str, Path], caplog, slice_value: str
):
    """One z slice of a brightfield stack that the acquisition did not write (0 under a camera offset of
    0: not padding, which must be 0 in every slice there; a constant 5000): its phase lost r 0.1 with
    the intact frame's, exit 0 and QC 'ok'. The frame is reconstructed, named in a WARNING (frames and
    slice) and the FOV's record (frames_with_constant_slices), and the QC table marks the FOV reduced;
    a NaN slice, filled with the stack's median, is named so too (beside its filled voxels). The
    intact frames list nothing."""
    transfer_function, _ = load_transfer_function(tiny_3d["transfer_function"])
    brightfield = _first_frames(tiny_plate["plate"])[:, :1]
    config = PhaseConfig()
    if slice_value == "zero_under_offset_0":
        brightfield -= 100.0  # the offset subtracted at export
        config = PhaseConfig(camera_offset_counts=0.0)
    brightfield[1, 0, 2] = {"zero_under_offset_0": 0.0, "constant": 5000.0, "nan": np.nan}[slice_value]
    output = np.zeros((3, 1, *brightfield.shape[2:]), np.float32)
    with caplog.at_level(logging.WARNING, logger="dynaclr.phase.reconstruct"):
        totals = reconstruct_frames(brightfield, 0, output, transfer_function, config, where="FOV A/1/0")
    assert np.isfinite(output).all()
    metrics = totals.metrics("A/1/0", "3d", seconds_total=1.0)
    assert metrics["frames_with_constant_slices"] == [1] and metrics["dropped_frames"] == []
    assert "FOV A/1/0: frame(s) [1] hold a constant z slice (z [2] of frame 1" in caplog.text
    row = qc_row(ArtifactKind.PHASE_FOV, Path("r/A/1/0.json"), metrics, "phase")
    assert row["status"] == "reduced"
    assert row["reason"].startswith("frames [1] hold a constant z slice (no brightfield contrast there)")


def test_a_brightfield_voxel_at_float32s_largest_value_is_refused_not_a_constant_phase() -> None:
    """Four voxels at float32's maximum (finite, so not missing) made the stack's float32 mean inf: the
    flat field divided every voxel by it and the phase came out one constant (3.9e-10 everywhere, exit
    0; the intact stack's phase spans -0.16 .. 0.18). The sums are float64 now, but such a voxel is a
    clipped or no-data value 10^35 times its neighbours, not a count: its phase would be its ringing.
    Refused, naming the voxels as that (not as an overflow to be written as NaN by scale)."""
    config = PhaseConfig(mode="2d", z_padding_slices=0)
    counts = (1000 + 20 * np.random.default_rng(0).normal(size=(5, 32, 32))).astype(np.float32)
    transfer_function = calculate_transfer_function(counts.shape, 0.65, 2.5, config)
    assert np.ptp(reconstruct_stack(counts, transfer_function, config)) > 0.1
    counts[2, :2, :2] = np.finfo(np.float32).max
    with pytest.raises(
        ValueError, match=r"found 4 voxel\(s\) of 5120 at float32's largest value \(3\.403e\+38\)"
    ):
        reconstruct_stack(counts, transfer_function, config)


@pytest.mark.parametrize("flat_field", ["z_mean", "none"])
@pytest.mark.parametrize("mode", ["2d", "3d"])
@pytest.mark.parametrize("scale", [1e30, "half float32's max"])
def test_a_uniformly_scaled_float_export_reconstructs_as_its_counts_do(
    flat_field: str, mode: str, scale
) -> None:
    """A float export scaled by one constant, every voxel finite float32 but their float32 sum beyond
    float32's range, was refused ("write such voxels as NaN", which would drop every frame): its phase
    is the unscaled stack's (phase does not depend on the counts' scale), to float32 precision."""
    config = PhaseConfig(mode=mode, z_padding_slices=0, camera_offset_counts=0.0, flat_field=flat_field)
    counts = (1000 + 20 * np.random.default_rng(0).normal(size=(5, 32, 32))).astype(np.float32)
    transfer_function = calculate_transfer_function(counts.shape, 0.65, 2.5, config)
    factor = np.finfo(np.float32).max / (2 * float(counts.max())) if isinstance(scale, str) else scale
    scaled = (counts.astype(np.float64) * factor).astype(np.float32)
    assert np.isfinite(scaled).all()
    expected = reconstruct_stack(counts, transfer_function, config)
    found = reconstruct_stack(scaled, transfer_function, config)
    assert np.ptp(expected) > 0.01
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-4 * float(np.ptp(expected)))


def test_a_float64_voxel_beyond_float32s_range_is_refused_as_such_not_as_missing() -> None:
    """A float64 voxel above float32's maximum became inf in float32 and was refused as a missing voxel
    ("fill them first"): it is a count float32 cannot hold, refused naming the count and the largest
    value and advising to rescale the export."""
    config = PhaseConfig(mode="2d", z_padding_slices=0)
    counts = 1000 + 20 * np.random.default_rng(0).normal(size=(5, 32, 32))
    transfer_function = calculate_transfer_function(counts.shape, 0.65, 2.5, config)
    counts[1, 3, 3] = 1e39
    with pytest.raises(
        ValueError, match=r"found 1 voxel\(s\) of 5120 beyond it, the largest 1e\+39"
    ) as error:
        reconstruct_stack(counts, transfer_function, config)
    assert not isinstance(error.value, MissingDataError)
    assert "rescale the export" in str(error.value)
