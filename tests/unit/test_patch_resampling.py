"""A patch spec's ``pixel_size_um`` resamples the patches to that pixel size: one model applies to
plates of another objective without ``allow_other_scales``, and a plate whose pixel size nothing
states is refused rather than guessed."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import load_script
from plate_helpers import ome_attributes
from test_transfer_checks import DEFAULT, layouts_of, problems

from dynaclr.config.patches import PatchSpec
from dynaclr.config.plate_checks import workflow_problems
from dynaclr.config.simulate import SimulateConfig
from dynaclr.io import ArtifactError, read_zarr_provenance
from dynaclr.numerics.crop import resample_yx
from dynaclr.patches import (
    CollectPatchesInputs,
    CollectPatchesOutputs,
    ExtractPatchesInputs,
    ExtractPatchesOutputs,
    collect_patches,
    extract_fov_patches,
    open_patch_store,
)
from dynaclr.simulate.plate import simulate_fov_dynamics

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "patch_resampling.py"

SPEC = {
    "name": "cells",
    "channels": [
        {"source": "raw", "channel": "Nuclei", "normalization": "zscore"},
        {"source": "raw", "channel": "ViralSensor", "normalization": "zscore"},
    ],
    "patch_size_yx_px": 16,
    "storage_dtype": "float32",
}

#: The correlation of a resampled 0.325 µm patch with the native 0.65 µm patch of the same cell,
#: measured at seed 3: median 0.972 (nuclei) and 0.977 (sensor), lowest 0.868 and 0.788 (a cell
#: whose centre rounds to another half pixel on each grid). Patches cut at the fine plate's own
#: pixels (half the area) correlate with a median of 0.13 and -0.17.
MEDIAN_CORRELATION = 0.9
LOWEST_CORRELATION = 0.7


@pytest.fixture(scope="module")
def plate_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[float, tuple[Path, Path]]:
    """The same simulated cells rendered at 0.65 µm (96 x 96 px) and 0.325 µm (192 x 192 px)."""
    root = tmp_path_factory.mktemp("plate_pair")
    coarse = SimulateConfig.model_validate(
        {"n_frames": 2, "shape_zyx": [1, 96, 96], "fovs_per_well": 1, "seed": 3}
    )
    fine = coarse.model_copy(update={"pixel_size_um": 0.325, "shape_zyx": (1, 192, 192)})
    cells = simulate_fov_dynamics(coarse, 0)
    render = load_script(BENCHMARK, "patch_resampling").rendered_plate  # the same cells at a pixel size
    return {0.65: render(root, coarse, cells, 1.0), 0.325: render(root, fine, cells, 2.0)}


def _extract(plate: tuple[Path, Path], spec: dict, stem: Path, supplied: dict | None = None) -> np.ndarray:
    outputs = ExtractPatchesOutputs(
        zarr=stem.with_suffix(".zarr"), parquet=stem.with_suffix(".parquet"), record=stem.with_suffix(".json")
    )
    inputs = ExtractPatchesInputs(plate_raw=plate[0], tracks=plate[1])
    extract_fov_patches(PatchSpec.model_validate(spec), inputs, outputs, fov_name="A/1/0", supplied=supplied)
    return np.asarray(zarr.open_group(str(outputs.zarr), mode="r")["patches"][:])


def _correlations(a: np.ndarray, b: np.ndarray, channel: int) -> np.ndarray:
    return np.array(
        [np.corrcoef(x[channel].ravel(), y[channel].ravel())[0, 1] for x, y in zip(a, b, strict=True)]
    )


def test_patches_resampled_from_half_the_pixel_size_show_what_native_patches_show(plate_pair, tmp_path):
    native = _extract(plate_pair[0.65], SPEC, tmp_path / "native")
    resampled = _extract(plate_pair[0.325], SPEC | {"pixel_size_um": 0.65}, tmp_path / "resampled")
    unresampled = _extract(plate_pair[0.325], SPEC, tmp_path / "unresampled")
    assert native.shape == resampled.shape == unresampled.shape and len(native) > 20
    for channel in range(2):
        same = _correlations(native, resampled, channel)
        assert np.median(same) > MEDIAN_CORRELATION, same
        assert same.min() > LOWEST_CORRELATION, same
        assert np.median(_correlations(native, unresampled, channel)) < 0.5  # another area: the contrast


def test_the_store_and_its_provenance_record_the_resampling(plate_pair, tmp_path):
    _extract(plate_pair[0.325], SPEC | {"pixel_size_um": 0.65}, tmp_path / "p")
    expected = {
        "target_pixel_size_um": 0.65,
        "plate_pixel_size_um": 0.325,
        "window_px": 64,  # the 32 px stored patch spans 64 plate pixels
        "zoom": 0.5,
        "pixel_size_um": 0.65,
    }
    assert zarr.open_group(str(tmp_path / "p.zarr"), mode="r").attrs["resampling"] == pytest.approx(expected)
    config = read_zarr_provenance(tmp_path / "p.zarr", "patch_fov").config
    assert config["resampling"] == pytest.approx(expected) and config["pixel_size_um"] == 0.65
    collect_patches(
        CollectPatchesInputs(zarrs=[tmp_path / "p.zarr"], parquets=[tmp_path / "p.parquet"]),
        CollectPatchesOutputs(zarr=tmp_path / "all.zarr", parquet=tmp_path / "all.parquet"),
    )
    assert open_patch_store(tmp_path / "all.zarr", tmp_path / "all.parquet").pixel_size_um == 0.65
    _extract(plate_pair[0.65], SPEC, tmp_path / "q")  # not resampled: recorded as such
    assert zarr.open_group(str(tmp_path / "q.zarr"), mode="r").attrs["resampling"] is None
    assert "resampling" not in read_zarr_provenance(tmp_path / "q.zarr", "patch_fov").config


def test_a_spec_without_pixel_size_dumps_as_before_the_key_existed():
    """Existing specs keep their config hash (no rerun): the key is left out of the dump when null."""
    assert "pixel_size_um" not in PatchSpec.model_validate(SPEC).model_dump(mode="json")
    assert PatchSpec.model_validate(SPEC | {"pixel_size_um": 0.65}).model_dump()["pixel_size_um"] == 0.65


def test_a_plate_stating_no_pixel_size_is_refused_unless_the_acquisition_supplies_it(plate_pair, tmp_path):
    plate, tracks = plate_pair[0.325]
    unscaled = tmp_path / "unscaled.zarr"
    shutil.copytree(plate, unscaled)
    with ome_attributes(unscaled / "A/1/0") as ome:
        ome["multiscales"][0]["datasets"][0]["coordinateTransformations"] = [
            {"type": "translation", "translation": [0.0] * 5}
        ]
    spec = SPEC | {"pixel_size_um": 0.65}
    with pytest.raises(
        ArtifactError, match=r"pixel_size_um=0.65 resamples.*no pixel size stated.*acquisition\.pixel_size_um"
    ):
        _extract((unscaled, tracks), spec, tmp_path / "refused")
    supplied = _extract((unscaled, tracks), spec, tmp_path / "supplied", supplied={"pixel_size_um": 0.325})
    np.testing.assert_array_equal(supplied, _extract((plate, tracks), spec, tmp_path / "stated"))


def test_resampling_keeps_the_window_centred_and_averages_on_shrinking():
    window = np.zeros((1, 2, 8, 8), np.float32)
    window[..., 2:6, 2:6] = 1.0  # a centred square
    window[0, 1, ::2, :] += 1.0  # stripes finer than the output's pixels
    out = resample_yx(window, 4)
    assert out.shape == (1, 2, 4, 4)
    np.testing.assert_allclose(out[0, 0], out[0, 0][::-1, ::-1], atol=1e-6)  # symmetric: centred
    stripes = out[0, 1] - out[0, 0]
    assert np.ptp(stripes) < 0.3  # anti-aliased: the stripes average out (0.5 each), no alternation


def _resampled_demo(pixel_size_um: float | None) -> dict:
    """The demo config with ``demo_15min`` simulated at 0.325 µm, its spec resampled to ``pixel_size_um``."""
    cfg = copy.deepcopy(DEFAULT)
    dataset = cfg["datasets"]["demo_15min"]
    dataset["simulate"]["pixel_size_um"] = 0.325  # 192 px: the 84 px patch of 0.65 µm spans 168
    if pixel_size_um is not None:
        for spec in dataset["patches"]:
            spec["pixel_size_um"] = pixel_size_um
    return cfg


def test_a_model_applies_to_a_plate_of_another_objective_whose_patches_are_resampled_to_its_pixels():
    refused = problems(_resampled_demo(None))
    assert refused and "pixel size 0.325 µm" in refused[0]
    assert "(set pixel_size_um: 0.65 in its patch spec 'phase_sensor')" in refused[0]
    assert problems(_resampled_demo(0.65)) == []  # without allow_other_scales
    wrong = problems(_resampled_demo(0.5))
    assert wrong and "pixel size 0.5 µm" in wrong[0]  # the patches' sampling is compared


def test_the_dry_run_refuses_resampling_a_plate_of_unstated_pixel_size_naming_the_key():
    workflow, layouts = layouts_of(_resampled_demo(0.65), unscaled=("demo_15min",))
    key = "datasets.demo_15min.patches[phase_sensor].pixel_size_um: 0.65 resamples the patches"
    (found,) = [line for line in workflow_problems(workflow, layouts, "results") if line.startswith(key)]
    assert "found none stated for results/demo_15min/phase.zarr (source 'phase')" in found
    assert "Set datasets.demo_15min.acquisition.pixel_size_um" in found
    supplied = _resampled_demo(0.65)
    supplied["datasets"]["demo_15min"]["acquisition"] = {"pixel_size_um": 0.325, "z_step_um": 2.0}
    workflow, layouts = layouts_of(supplied, unscaled=("demo_15min",))
    assert not [line for line in workflow_problems(workflow, layouts, "results") if "pixel_size_um" in line]


def test_the_patch_size_checks_count_the_pixels_a_spec_resamples_to():
    """The default 48 px on 0.2 µm plate pixels is refused as narrower than a nucleus, but a spec
    resampling them to 0.65 µm makes 48 px of 0.65 µm: accepted (its window, 286 plate pixels, fits
    320 x 320 images). Resampled to 0.2 µm it is refused naming the patches' pixels."""
    from integration.workflow_helpers import tiny_workflow_config
    from test_early_checks import _simulated_problems

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    shape = config["datasets"]["tiny"]["simulate"]["shape_zyx"]
    config["datasets"]["tiny"]["simulate"]["shape_zyx"] = [shape[0], 320, 320]
    spec = config["datasets"]["tiny"]["patches"][0]
    del spec["patch_size_yx_px"]
    assert [p for p in _simulated_problems(config) if ".patch_size_yx_px:" in p]  # cut at plate pixels
    spec["pixel_size_um"] = 0.65
    assert not [p for p in _simulated_problems(config) if "patch" in p]
    spec["pixel_size_um"] = 0.2
    (problem,) = [p for p in _simulated_problems(config) if ".patch_size_yx_px:" in p]
    assert "set for the 0.2 µm pixels its patches are resampled to (pixel_size_um) from the 0.2 µm" in problem


def test_the_job_resamples_from_the_pixel_size_the_dry_run_uses(plate_pair, tmp_path):
    """A spec reading phase and raw, where ``phase.yx_pixel_size_um`` (0.3) corrects the raw plate's
    metadata (0.325): the phase plate states 0.3, the raw plate 0.325. The dry run resamples from
    the override; the job, given the size the rule passes, does too (it refused the plates' two sizes)."""
    import functools

    from dynaclr.config.plate_checks import resampled_plate_pixel_size_um
    from dynaclr.config.transfer_checks import dataset_sampling
    from dynaclr.io.plate import PLATE_PIXEL_SIZE_KEY, split_supplied

    cfg = _resampled_demo(0.65)
    cfg["datasets"]["demo_15min"]["phase"]["yx_pixel_size_um"] = 0.3
    workflow, layouts = layouts_of(cfg)
    common = (BENCHMARK.parents[1] / "workflow" / "rules" / "common.smk").read_text()
    start = common.index("@functools.cache\ndef patch_spec_config(")  # Snakemake's syntax elsewhere
    rule = {
        "functools": functools,
        "CONFIG": workflow,
        "RESULTS": "results",
        "with_supplied": lambda config, dataset: config,
        "with_planned_root": lambda config, dataset: config,  # a simulated plate: no root of your own
        "plate_layout": layouts.__getitem__,
        "resampled_plate_pixel_size_um": resampled_plate_pixel_size_um,
        "PLATE_PIXEL_SIZE_KEY": PLATE_PIXEL_SIZE_KEY,
    }
    exec(common[start : common.index("\n\n\n", start)], rule)
    params, supplied = split_supplied(rule["patch_spec_config"]("demo_15min", "phase_sensor"))
    assert supplied.plate_pixel_size_um == pytest.approx(0.3)  # rule extract_patches's params.config
    assert params == workflow.datasets["demo_15min"].patch_spec("phase_sensor").model_dump(mode="json")
    assert (
        dataset_sampling(workflow, "demo_15min", "phase_sensor", layouts["demo_15min"]).pixel_size_um == 0.65
    )
    render = load_script(BENCHMARK, "patch_resampling").rendered_plate
    coarse = SimulateConfig.model_validate(
        {"n_frames": 2, "shape_zyx": [1, 96, 96], "fovs_per_well": 1, "seed": 3}
    )
    phase, _ = render(
        tmp_path,
        coarse.model_copy(update={"pixel_size_um": 0.3, "shape_zyx": (1, 192, 192)}),
        simulate_fov_dynamics(coarse, 0),
        2.0,
    )
    raw, tracks = plate_pair[0.325]
    spec = dict(
        SPEC,
        pixel_size_um=0.65,
        channels=[
            {"source": "phase", "channel": "Nuclei", "normalization": "zscore"},
            {"source": "raw", "channel": "ViralSensor", "normalization": "zscore"},
        ],
    )
    outputs = ExtractPatchesOutputs(
        zarr=tmp_path / "p.zarr", parquet=tmp_path / "p.parquet", record=tmp_path / "p.json"
    )
    inputs = ExtractPatchesInputs(plate_raw=raw, plate_phase=phase, tracks=tracks)
    with pytest.raises(ArtifactError, match="state other pixel sizes"):  # nothing says which is right
        extract_fov_patches(PatchSpec.model_validate(spec), inputs, outputs, fov_name="A/1/0")
    extract_fov_patches(PatchSpec.model_validate(spec), inputs, outputs, fov_name="A/1/0", supplied=supplied)
    resampling = read_zarr_provenance(outputs.zarr, "patch_fov").config["resampling"]
    assert resampling["plate_pixel_size_um"] == pytest.approx(0.3)
    assert resampling["window_px"] == round(PatchSpec.model_validate(spec).initial_size_px * 0.65 / 0.3)


def test_the_phase_configs_pixel_size_states_the_raw_plates_for_resampling_as_for_tracking():
    """A raw plate without scale, ``phase.yx_pixel_size_um`` set: the tracked pixels' size is the
    key's (``tracked_pixel_size_um``), and a spec resampling raw channels reads the same size."""
    from dynaclr.config.plate_checks import resampled_plate_pixel_size_um, tracked_pixel_size_um

    cfg = _resampled_demo(0.65)
    dataset = cfg["datasets"]["demo_15min"]
    dataset["phase"]["yx_pixel_size_um"] = 0.325
    sensor = {"source": "raw", "channel": "ViralSensor", "normalization": "zscore"}
    dataset["patches"].append(dict(dataset["patches"][0], name="sensor", channels=[sensor]))
    workflow, layouts = layouts_of(cfg, unscaled=("demo_15min",))
    entry, raw = workflow.datasets["demo_15min"], layouts["demo_15min"]
    assert tracked_pixel_size_um("demo_15min", entry, raw, "results") == pytest.approx(0.325)
    assert resampled_plate_pixel_size_um("demo_15min", entry, "sensor", raw, "results") == pytest.approx(
        0.325
    )
    assert not [p for p in workflow_problems(workflow, layouts, "results") if "pixel_size_um: 0.65" in p]


@pytest.mark.parametrize("pixel_size_um", [0.01, 25.0])
def test_a_spec_pixel_size_outside_the_plausible_range_is_refused(pixel_size_um):
    with pytest.raises(ValueError, match=r"patch spec 'cells'.*pixel_size_um.*between 0.02 and 20"):
        PatchSpec.model_validate(dict(SPEC, pixel_size_um=pixel_size_um))


def test_a_resampling_zoom_beyond_eight_is_refused_naming_the_window():
    """6.5 typed for 0.65 on 0.325 µm plates: a window of 20 x the patch, shrunk 20-fold."""
    spec = PatchSpec.model_validate(dict(SPEC, pixel_size_um=6.5))
    window = round(spec.initial_size_px * 6.5 / 0.325)
    with pytest.raises(ValueError, match=rf"patch spec 'cells'.*6.5.*0.325 µm.*{window} plate pixels"):
        spec.window_px(0.325)
    assert spec.window_px(3.25) == 2 * spec.initial_size_px  # zoom 0.5: within bounds
    cfg = _resampled_demo(6.5)
    (found,) = [p for p in problems_of_dry_run(cfg) if "6.5" in p]
    assert "datasets.demo_15min.patches[phase_sensor]" in found and "plate pixels" in found


def problems_of_dry_run(cfg: dict) -> list[str]:
    workflow, layouts = layouts_of(cfg)
    return workflow_problems(workflow, layouts, "results")


def test_transfer_messages_name_the_specs_target_and_the_plates_pixel_size():
    """A spec already resampling (to 0.5 µm, from 0.325 µm plates) for a model of 0.65 µm: the
    refusal called 0.5 µm the plate's and advised setting the key already set; the
    allow_other_scales warning said "not resampled (no pixel_size_um)", as it did where only the z
    step differs."""
    from dynaclr.config.transfer_checks import transfer_warnings

    cfg = _resampled_demo(0.5)
    refusal = problems(cfg)[0]
    assert "pixel size 0.5 µm resampled by the spec's pixel_size_um from the plate's 0.325 µm" in refusal
    assert "set pixel_size_um: 0.65 in its patch spec 'phase_sensor' (it resamples to 0.5 µm)" in refusal
    assert "scale metadata" not in refusal  # the plate's metadata does not make the patches' pixels
    for model in cfg["contrastive_models"].values():
        model["allow_other_scales"] = True
    warning = transfer_warnings(*layouts_of(cfg))[0]
    assert "not resampled" not in warning and "pixel_size_um" in warning
    steps = copy.deepcopy(DEFAULT)
    steps["datasets"]["demo_15min"]["simulate"]["z_step_um"] = 1.0
    for model in steps["contrastive_models"].values():
        model["allow_other_scales"] = True
    warning = transfer_warnings(*layouts_of(steps))[0]
    assert "z step 1 µm, expected 2 µm" in warning and "resampled" not in warning
