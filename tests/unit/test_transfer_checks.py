"""Trained once, applied elsewhere: a model never reads, without being told, a dataset sampled
otherwise than the one it learnt from (pixel size, z step; a pooled tau in frames over other time
intervals); the dry run refuses it naming the key, the datasets and both values."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO_ROOT
from test_early_checks import refused

from dynaclr.config.plate_checks import SCALE_RELATIVE_TOLERANCE, simulated_layout, workflow_problems
from dynaclr.config.transfer_checks import (
    DatasetSampling,
    dataset_sampling,
    stack_slices,
    transfer_problems,
    transfer_warnings,
)
from dynaclr.config.workflow import ContrastiveModelEntry, WorkflowConfig
from dynaclr.io.plate import IOHUB_DEFAULT_SCALE, PlateGeometry, PlateLayout

DEFAULT = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())


#: The sampling keys a plate of :func:`problems`' ``unitless`` reads from axes without a unit.
UNITLESS = ("time_interval_minutes", "pixel_size_um", "z_step_um")


def layouts_of(
    cfg: dict[str, Any], unscaled: tuple[str, ...] = (), unitless: dict[str, PlateGeometry] | None = None
) -> tuple[WorkflowConfig, dict[str, PlateLayout]]:
    """``cfg`` validated and its simulated datasets' layouts from their configs; those named in
    ``unscaled`` as a plate without a scale transform (iohub reads 1 s, 1 µm), those in ``unitless``
    as a plate whose time and space axes have a scale (the geometry given) but no unit."""
    workflow = WorkflowConfig.model_validate(cfg)
    layouts = {
        name: simulated_layout(dataset.simulate, f"results/{name}/raw.zarr")
        for name, dataset in workflow.datasets.items()
        if dataset.simulate is not None
    }
    for name in unscaled:
        layouts[name] = dataclasses.replace(
            layouts[name], geometry=PlateGeometry(1.0, 1.0, 1.0), unscaled_position="B/1/0"
        )
    for name, geometry in (unitless or {}).items():
        layouts[name] = dataclasses.replace(
            layouts[name],
            geometry=geometry,
            time_interval_minutes=geometry.time_interval_s / 60.0,
            unitless=UNITLESS,
        )
    return workflow, layouts


def problems(
    cfg: dict[str, Any], unscaled: tuple[str, ...] = (), unitless: dict[str, PlateGeometry] | None = None
) -> list[str]:
    """The transfer problems of ``cfg`` with the layouts of :func:`layouts_of`."""
    return transfer_problems(*layouts_of(cfg, unscaled, unitless))


def demo(**simulate: Any) -> dict[str, Any]:
    """The demo config with ``demo_15min``'s ``simulate`` keys replaced."""
    cfg = copy.deepcopy(DEFAULT)
    cfg["datasets"]["demo_15min"]["simulate"].update(simulate)
    return cfg


def pooled_tau_frames() -> tuple[dict[str, Any], dict[str, Any]]:
    """The demo config with one model ``m`` trained on both datasets with ``tau_frames: 1``, and the
    demo model's training section (``tau_minutes``)."""
    cfg = copy.deepcopy(DEFAULT)
    training = cfg["contrastive_models"]["time_aware_ntxent"]["training"]
    cfg["contrastive_models"] = {
        "m": {
            **cfg["contrastive_models"]["time_aware_ntxent"],
            "train_datasets": ["demo", "demo_15min"],
            "training": {**{k: v for k, v in training.items() if k != "tau_minutes"}, "tau_frames": 1},
        }
    }
    cfg["analysis"]["occlusion"] = {"enabled": False}
    cfg["analysis"]["distillation"] = {"enabled": False}
    return cfg, training


def test_the_demo_datasets_are_sampled_alike() -> None:
    assert problems(copy.deepcopy(DEFAULT)) == []


def test_a_dataset_of_another_objective_is_refused_naming_both_pixel_sizes() -> None:
    found = problems(demo(pixel_size_um=0.325))
    assert len(found) == 2  # both trained models (the imported one embeds demo_15min alone)
    assert found[0].startswith("contrastive_models.time_aware_ntxent.embed_datasets: dataset 'demo_15min'")
    assert "pixel size 0.325 µm (a 48 px patch spans 15.6 µm), expected 0.65 µm (31.2 µm)" in found[0]
    assert "allow_other_scales: true" in found[0]
    assert not any("z step" in line for line in found)


def test_a_different_z_step_matters_only_for_patches_of_several_slices() -> None:
    cfg = demo(z_step_um=0.5)
    assert any("z step 0.5 µm, expected 2 µm" in line for line in problems(cfg))
    for dataset in ("demo", "demo_15min"):
        cfg["datasets"][dataset]["patches"][0]["z_window_slices"] = 1
    assert problems(cfg) == []
    phase_only = {
        "name": "phase",
        "channels": [{"source": "phase", "channel": "Phase3D", "normalization": "zscore"}],
    }
    for dataset in ("demo", "demo_15min"):  # a 2d phase plate: all its slices are one
        cfg["datasets"][dataset]["phase"]["mode"] = "2d"
        cfg["datasets"][dataset]["patches"] = [cfg["datasets"][dataset]["patches"][0], phase_only]
    cfg["contrastive_models"]["time_aware_ntxent"]["training"]["patch_spec"] = "phase"
    assert problems(cfg) == []


def test_a_difference_within_five_percent_is_the_same_sampling() -> None:
    assert problems(demo(pixel_size_um=0.65 * 1.04)) == []  # one magnification, another calibration
    assert any("pixel size 0.702 µm" in line for line in problems(demo(pixel_size_um=0.65 * 1.08)))


def test_the_phase_override_is_the_sampling_of_the_patches_that_read_the_phase_plate() -> None:
    """The README's fix for wrong metadata: the phase config states the sizes the stages write."""
    cfg = demo(pixel_size_um=1.0, z_step_um=1.0)  # the plate's metadata, wrong
    assert any("pixel size 1 µm" in line and "z step 1 µm" in line for line in problems(cfg))
    cfg["datasets"]["demo_15min"]["phase"].update(yx_pixel_size_um=0.65, z_step_um=2.0)
    assert problems(cfg) == []


def test_a_phase_override_that_changes_the_sampling_is_refused() -> None:
    cfg = copy.deepcopy(DEFAULT)
    cfg["datasets"]["demo_15min"]["phase"]["yx_pixel_size_um"] = 0.325
    found = problems(cfg)
    assert found and all("dataset 'demo_15min'" in line for line in found)
    assert "pixel size 0.325 µm (a 48 px patch spans 15.6 µm), expected 0.65 µm (31.2 µm)" in found[0]
    assert not any("z step" in line for line in found)


def test_a_size_no_metadata_states_is_not_stated_not_1_um() -> None:
    found = problems(copy.deepcopy(DEFAULT), unscaled=("demo_15min",))
    assert found
    assert "1 µm," not in found[0] and "pixel size 1 µm" not in found[0]
    assert (
        "pixel size not stated (no scale transform in the metadata of results/demo_15min/raw.zarr: iohub "
        "would read 1 µm; set datasets.demo_15min.acquisition.pixel_size_um (or "
        "datasets.demo_15min.phase.yx_pixel_size_um), or write the plate's scale transform), expected 0.65 µm"
    ) in found[0]
    assert "z step not stated" in found[0]
    cfg = copy.deepcopy(DEFAULT)
    cfg["datasets"]["demo_15min"]["phase"].update(yx_pixel_size_um=0.65, z_step_um=2.0)
    assert problems(cfg, unscaled=("demo_15min",)) == []  # the config states them
    found = problems(copy.deepcopy(DEFAULT), unscaled=("demo",))  # the reference states none
    assert found
    assert "expected not stated (no scale transform in the metadata of results/demo/raw.zarr" in found[0]


def test_a_size_under_iohubs_default_scale_is_not_stated_naming_the_default() -> None:
    """A plate whose scale is iohub's default of ones has a scale transform: the line said "no scale
    transform ... write the plate's scale transform". It names iohub's default and says the ones may
    be right and how to state them, as the dry run's plate checks do; the record keeps the flag."""
    workflow, layouts = layouts_of(copy.deepcopy(DEFAULT), unscaled=("demo_15min",))
    layouts["demo_15min"] = dataclasses.replace(layouts["demo_15min"], default_scale=True)
    found = transfer_problems(workflow, layouts)
    assert found
    assert (
        f"pixel size not stated ({IOHUB_DEFAULT_SCALE} in the metadata of results/demo_15min/raw.zarr: "
        "iohub would read 1 µm; its scale is all ones, iohub's default when none is given: if 1 µm is "
        "right, state it with datasets.demo_15min.acquisition.pixel_size_um (or "
        "datasets.demo_15min.phase.yx_pixel_size_um); otherwise write the true scale), expected 0.65 µm"
    ) in found[0]
    assert "no scale transform" not in found[0] and "write the plate's scale transform" not in found[0]
    sampling = dataset_sampling(workflow, "demo_15min", "phase_sensor", layouts["demo_15min"])
    assert sampling.default_scale
    assert DatasetSampling.from_json(sampling.to_json()) == sampling


def test_the_acquisition_supplies_the_sizes_a_plate_does_not_state_and_they_are_compared() -> None:
    """A plate without a scale transform takes its pixel size and z step from the dataset's
    ``acquisition``: the transfer check compares those (not iohub's 1 µm, nor "not stated")."""
    cfg = copy.deepcopy(DEFAULT)
    cfg["datasets"]["demo_15min"]["acquisition"] = {"pixel_size_um": 0.65, "z_step_um": 2.0}
    assert problems(cfg, unscaled=("demo_15min",)) == []
    cfg["datasets"]["demo_15min"]["acquisition"] = {"pixel_size_um": 0.325, "z_step_um": 2.0}
    found = problems(cfg, unscaled=("demo_15min",))
    assert found and "pixel size 0.325 µm (a 48 px patch spans 15.6 µm), expected 0.65 µm" in found[0]
    assert not any("not stated" in line for line in found)


def test_a_size_read_from_an_axis_without_a_unit_is_not_stated_not_compared() -> None:
    """A plate whose axes have a scale but no unit is read in micrometres, a guess: one written in nm
    (650 for 0.65 µm) was refused as 1000 times the training pixel size, and two such plates were
    compared on their guesses. The guess is not compared: the size is "not stated", saying so and
    naming the acquisition key to set; the values ``acquisition`` gives are compared."""
    in_nm = PlateGeometry(time_interval_s=15 * 60.0, z_step_um=2000.0, pixel_size_um=650.0)
    found = problems(copy.deepcopy(DEFAULT), unitless={"demo_15min": in_nm})
    assert len(found) == 2  # the trained models; viscy_fixture embeds demo_15min alone
    assert "pixel size 650 µm" not in found[0] and "z step 2000 µm" not in found[0]
    assert (
        "pixel size not stated (axes y and x of results/demo_15min/raw.zarr have a scale (650) but no "
        "unit: 650 µm only if it is in micrometres, a guess not compared; set "
        "datasets.demo_15min.acquisition.pixel_size_um (or datasets.demo_15min.phase.yx_pixel_size_um) or "
        "write the axes' units), expected 0.65 µm"
    ) in found[0]
    assert (
        "z step not stated (axis z of results/demo_15min/raw.zarr has a scale (2000) but no unit"
        in (found[0])
    )
    assert "no scale transform" not in found[0]
    assert "is not known to be sampled as dataset 'demo'" in found[0]
    cfg = copy.deepcopy(DEFAULT)
    cfg["datasets"]["demo_15min"]["acquisition"] = {"pixel_size_um": 0.65, "z_step_um": 2.0}
    assert problems(cfg, unitless={"demo_15min": in_nm}) == []  # the config states them
    cfg["datasets"]["demo_15min"]["acquisition"] = {"pixel_size_um": 0.325, "z_step_um": 2.0}
    (line, _) = problems(cfg, unitless={"demo_15min": in_nm})
    assert "pixel size 0.325 µm (a 48 px patch spans 15.6 µm), expected 0.65 µm" in line
    assert "not stated" not in line
    assert "is sampled otherwise than dataset 'demo'" in line
    # a spec's pixel_size_um resamples the patches: the message names the key
    assert "resample its patches to the model's pixel size (set pixel_size_um: 0.65 in its patch spec" in line
    assert "resample" not in found[0]  # sizes not stated: nothing tells what to resample to


def test_sizes_stated_for_neither_dataset_are_not_taken_as_alike() -> None:
    """Two plates whose sizes nothing states (axes without a unit whose guesses agree, or no scale
    transform: iohub's 1 µm in both) passed as sampled alike; the check cannot claim it, so both are
    said not stated (the reference's with it)."""
    in_um = PlateGeometry(time_interval_s=15 * 60.0, z_step_um=2.0, pixel_size_um=0.65)
    guesses = {"demo": in_um, "demo_15min": in_um}
    for found in (
        problems(copy.deepcopy(DEFAULT), unitless=guesses),
        problems(copy.deepcopy(DEFAULT), unscaled=("demo", "demo_15min")),
    ):
        assert len(found) == 2
        assert (
            "dataset 'demo_15min' (results/demo_15min/raw.zarr) is not known to be sampled as dataset"
            in (found[0])
        )
        assert "so the model may see another physical area" in found[0]
        assert "pixel size not stated (" in found[0]
        assert "expected not stated (" in found[0]
        assert "results/demo/raw.zarr" in found[0].split("expected not stated")[1]
    cfg = copy.deepcopy(DEFAULT)
    for dataset in ("demo", "demo_15min"):
        cfg["datasets"][dataset]["acquisition"] = {"pixel_size_um": 0.65, "z_step_um": 2.0}
    assert problems(cfg, unitless=guesses) == []


def test_a_size_known_to_differ_is_refused_as_sampled_otherwise_beside_one_not_stated() -> None:
    """demo_15min's pixel size stated (0.325 µm against demo's 0.65 µm), its z step read from an
    axis without a unit: the line says it is sampled otherwise and the model would see another area
    (a known difference), not merely that it is not known to be sampled alike."""
    guess = PlateGeometry(time_interval_s=15 * 60.0, z_step_um=2.0, pixel_size_um=0.65)
    cfg = copy.deepcopy(DEFAULT)
    cfg["datasets"]["demo_15min"]["acquisition"] = {"pixel_size_um": 0.325, "time_interval_minutes": 15}
    found = problems(cfg, unitless={"demo_15min": guess})
    assert len(found) == 2
    assert "pixel size 0.325 µm (a 48 px patch spans 15.6 µm), expected 0.65 µm" in found[0]
    assert "z step not stated (axis z of results/demo_15min/raw.zarr has a scale (2) but no unit" in found[0]
    assert "dataset 'demo_15min' (results/demo_15min/raw.zarr) is sampled otherwise than dataset" in found[0]
    assert "so the model would see another physical area" in found[0]
    assert "not known to be sampled" not in found[0] and "model may see" not in found[0]


def test_a_pooled_tau_in_frames_is_not_compared_with_an_interval_read_without_a_unit() -> None:
    """A time axis with a scale but no unit (and no time_interval_minutes attribute) is read in
    seconds: a movie of 30 min frames written in minutes read 30 s and refused a pooled tau_frames,
    advising tau_minutes, which would count in the guess. The dry run refuses the guess once (the
    plate checks, naming the acquisition key): the transfer check adds no second line; with the
    acquisition's interval the intervals are compared."""
    cfg, _ = pooled_tau_frames()
    in_minutes = PlateGeometry(time_interval_s=30.0, z_step_um=2.0, pixel_size_um=0.65)  # 30 read as s
    cfg["datasets"]["demo_15min"]["acquisition"] = {"pixel_size_um": 0.65, "z_step_um": 2.0}
    workflow, layouts = layouts_of(cfg, unitless={"demo_15min": in_minutes})
    assert transfer_problems(workflow, layouts) == []
    (line,) = [
        line
        for line in workflow_problems(workflow, layouts, "results") + transfer_problems(workflow, layouts)
        if "time interval" in line
    ]
    assert line.startswith("datasets.demo_15min.plate: expected a time interval the metadata of ")
    assert "set datasets.demo_15min.acquisition.time_interval_minutes" in line
    cfg["datasets"]["demo_15min"]["acquisition"]["time_interval_minutes"] = 30
    assert problems(cfg, unitless={"demo_15min": in_minutes}) == []
    cfg["datasets"]["demo_15min"]["acquisition"]["time_interval_minutes"] = 15
    (line,) = problems(cfg, unitless={"demo_15min": in_minutes})
    assert "found 'demo_15min' 15 min (15 min); give tau_minutes 30, a whole number of frames" in line


def test_allow_other_scales_accepts_the_dataset_and_leaving_it_out_too() -> None:
    cfg = demo(pixel_size_um=0.325)
    for entry in cfg["contrastive_models"].values():
        entry["allow_other_scales"] = True
    assert problems(cfg) == []
    cfg = demo(pixel_size_um=0.325)
    for entry in cfg["contrastive_models"].values():
        entry["embed_datasets"] = ["demo"] if entry.get("train_datasets") else ["demo_15min"]
    cfg["analysis"]["classification"]["apply_to"] = []  # no model embeds demo and demo_15min now
    assert problems(cfg) == []


def test_a_dataset_accepted_by_allow_other_scales_is_named_in_a_warning_of_the_dry_run() -> None:
    """probe4: a model trained at 0.65 µm embedding a 0.325 µm plate under allow_other_scales: true ran
    without a word in the dry run, the embed log or the results: a result at another physical area,
    told nowhere. The dry run now warns, one line per dataset so accepted, naming both sizes."""
    cfg = demo(pixel_size_um=0.325)
    for entry in cfg["contrastive_models"].values():
        entry["allow_other_scales"] = True
    assert problems(cfg) == []
    lines = transfer_warnings(*layouts_of(cfg))
    trained = [line for line in lines if line.startswith("contrastive_models.time_aware_ntxent.")]
    assert len(trained) == 1, lines
    (line,) = trained
    assert (
        "dataset 'demo_15min' (results/demo_15min/raw.zarr) is sampled otherwise than dataset 'demo'" in line
    )
    assert "pixel size 0.325 µm (a 48 px patch spans 15.6 µm), expected 0.65 µm (31.2 µm)" in line
    assert "accepted by allow_other_scales: true" in line
    assert "its patches are not resampled (no pixel_size_um in the patch spec)" in line
    cfg = demo(pixel_size_um=0.65)  # sampled alike: nothing to say
    for entry in cfg["contrastive_models"].values():
        entry["allow_other_scales"] = True
    assert transfer_warnings(*layouts_of(cfg)) == []


def test_a_dataset_of_unknown_size_accepted_by_allow_other_scales_is_not_called_sampled_otherwise() -> None:
    """A plate whose pixel size is "not stated" (axes without a unit) was warned of as "sampled otherwise
    ... sees another physical area": an unknown size is no known difference. The warning words it as
    the refusal does ("not known to be sampled as ... may see")."""
    in_nm = PlateGeometry(time_interval_s=15 * 60.0, z_step_um=2000.0, pixel_size_um=650.0)
    cfg = copy.deepcopy(DEFAULT)
    for entry in cfg["contrastive_models"].values():
        entry["allow_other_scales"] = True
    workflow, layouts = layouts_of(cfg, unitless={"demo_15min": in_nm})
    lines = [line for line in transfer_warnings(workflow, layouts) if "time_aware_ntxent" in line]
    assert len(lines) == 1, lines
    (line,) = lines
    assert "is not known to be sampled as dataset 'demo'" in line
    assert "sampled otherwise" not in line
    assert "pixel size not stated" in line
    assert "the model may see another physical area than it learnt from" in line
    assert "accepted by allow_other_scales: true" in line
    for entry in cfg["contrastive_models"].values():
        entry["allow_other_scales"] = False
    (refusal, _) = problems(cfg, unitless={"demo_15min": in_nm})
    shared = line.split("; accepted by")[0]
    assert shared in refusal  # one text for the mismatch, refused or accepted


def test_allow_other_scales_states_the_tolerance_the_check_uses() -> None:
    """The key's description (config.schema.json) said "more than 1 %" while the check refuses beyond
    5 % (SCALE_RELATIVE_TOLERANCE): a 3 % difference read as refused is accepted."""
    description = ContrastiveModelEntry.model_fields["allow_other_scales"].description or ""
    assert f"more than {SCALE_RELATIVE_TOLERANCE * 100:g} % from the first dataset's" in description


def test_pooled_training_on_other_pixel_sizes_is_refused_as_train_datasets() -> None:
    cfg = demo(pixel_size_um=0.325)
    cfg["contrastive_models"] = {
        "m": {**cfg["contrastive_models"]["time_aware_ntxent"], "train_datasets": ["demo", "demo_15min"]}
    }
    cfg["analysis"]["occlusion"] = {"enabled": False}
    cfg["analysis"]["distillation"] = {"enabled": False}
    (line,) = problems(cfg)
    assert line.startswith("contrastive_models.m.train_datasets: dataset 'demo_15min'")
    assert "dataset 'demo' (results/demo/raw.zarr, trained on)" in line


def test_a_pooled_tau_in_frames_over_other_intervals_is_refused() -> None:
    cfg, training = pooled_tau_frames()
    (line,) = problems(cfg)
    assert line == (
        "contrastive_models.m.training.tau_frames: expected the time interval of dataset 'demo' (30 min: "
        "tau = 30 min) in every training dataset, found 'demo_15min' 15 min (15 min); give tau_minutes 30, "
        "a whole number of frames of every training dataset, instead (converted with each dataset's own "
        "interval)"
    )
    cfg["contrastive_models"]["m"]["training"] = training  # tau_minutes: frames per dataset
    assert problems(cfg) == []


def test_the_dry_run_refuses_a_dataset_of_another_objective(tmp_path: Path) -> None:
    message = refused(demo(pixel_size_um=0.325), tmp_path)
    assert message.startswith("The config does not fit the data")
    assert "contrastive_models.time_aware_ntxent.embed_datasets: dataset 'demo_15min'" in message
    assert not (tmp_path / "results").exists()


def test_apply_to_a_dataset_no_model_embeds_is_refused() -> None:
    cfg = copy.deepcopy(DEFAULT)
    cfg["datasets"]["demo_15min"]["patches"][0]["patch_size_yx_px"] = 64  # not embedded by default
    cfg["contrastive_models"].pop("viscy_fixture")
    cfg["analysis"]["occlusion"] = {"enabled": False}
    assert cfg["analysis"]["classification"]["apply_to"] == ["demo_15min"]
    with pytest.raises(
        ValueError,
        match=r"apply_to: 'demo_15min' would get no predictions: no contrastive model embeds it \(models "
        r"embedding the datasets classifiers train on: \{'time_aware_ntxent': \['demo'\]",
    ) as caught:
        WorkflowConfig.model_validate(cfg)
    assert "[]" not in str(caught.value).split(" [type=")[0]
    cfg["analysis"]["classification"]["apply_to"] = None  # default: every other embedded dataset
    WorkflowConfig.model_validate(cfg)


def test_stack_slices_are_the_plates_depth_the_spec_keeps_a_window_of() -> None:
    """Rule import_model passes each embedded dataset's stack depth (a depth refused then says where no
    window gives the model's): the plate's Z, of which the record's slices are the spec's window."""
    workflow, layouts = layouts_of(demo(shape_zyx=[3, 192, 192]))
    spec = workflow.contrastive_models["time_aware_ntxent"].training.patch_spec
    assert stack_slices(workflow, "demo", spec, layouts["demo"]) == layouts["demo"].shape_tczyx[2] == 10
    assert dataset_sampling(workflow, "demo", spec, layouts["demo"]).slices == 5
    assert stack_slices(workflow, "demo_15min", spec, layouts["demo_15min"]) == 3
    assert dataset_sampling(workflow, "demo_15min", spec, layouts["demo_15min"]).slices is None  # 5 of 3


def test_apply_to_a_dataset_no_model_embeds_says_why_the_model_leaves_it_out() -> None:
    """A channel typed otherwise in apply_to's dataset (the plate's name for the model's signal, or a
    typo) leaves that dataset out of the model's default embed_datasets; the refusal names the differing
    channels and the fix, not only "name it in embed_datasets" (which the dry run then refuses again)."""
    cfg = copy.deepcopy(DEFAULT)
    cfg["datasets"]["demo_15min"]["patches"][0]["channels"][1]["channel"] = "mCherry"
    cfg["contrastive_models"].pop("viscy_fixture")
    cfg["analysis"]["occlusion"] = {"enabled": False}
    with pytest.raises(ValueError, match=r"apply_to: 'demo_15min' would get no predictions") as caught:
        WorkflowConfig.model_validate(cfg)
    message = str(caught.value)
    assert (
        "Not embedded: model 'time_aware_ntxent': dataset 'demo_15min''s patch spec 'phase_sensor' gives "
        "another input than dataset 'demo''s: channels [('phase', 'Phase3D', 'zscore'), ('raw', 'mCherry', "
        "'median_p99')] vs [('phase', 'Phase3D', 'zscore'), ('raw', 'ViralSensor', 'median_p99')]"
    ) in message
    assert "give it name: ViralSensor" in message
    cfg["datasets"]["demo_15min"]["patches"][0]["z_window_slices"] = 3
    with pytest.raises(
        ValueError,
        match=r"apply_to: 'demo_15min' would get no predictions.*Not embedded: model 'time_aware_ntxent': "
        r"dataset 'demo_15min''s patch spec 'phase_sensor' gives another input than dataset 'demo''s: "
        r"channels .*; slices 3 vs 5; make the specs agree",
    ):
        WorkflowConfig.model_validate(cfg)


@pytest.mark.parametrize(
    ("classification", "expected"),
    [
        (  # apply_to names the only dataset classifiers train on: read "...train on []"
            {"apply_to": ["demo"]},
            "analysis.classification.apply_to: 'demo' is the only dataset classifiers train on "
            "(analysis.classification.train_on ['demo']): its own classifiers are cross-validated on it "
            "already, and apply_to names the datasets they predict besides; remove 'demo' from apply_to "
            "(`apply_to: []` for none)",
        ),
        (  # no dataset trains classifiers: read "...train on []" too
            {"apply_to": ["demo_15min"], "train_on": []},
            "analysis.classification.apply_to: expected datasets to apply classifiers to, found "
            "['demo_15min'] while no dataset trains classifiers (analysis.classification.train_on [] names "
            "no annotated dataset): write `apply_to: []`, or name annotated datasets in train_on",
        ),
    ],
)
def test_a_degenerate_apply_to_says_what_is_wrong_and_what_to_write(
    classification: dict[str, Any], expected: str
) -> None:
    cfg = copy.deepcopy(DEFAULT)
    cfg["analysis"]["classification"].update(classification)
    with pytest.raises(ValueError) as caught:
        WorkflowConfig.model_validate(cfg)
    assert expected in str(caught.value)


def test_an_explicit_dtw_reference_names_its_dataset_when_there_are_several() -> None:
    cfg = copy.deepcopy(DEFAULT)
    reference = {"fov_name": "B/1/0", "track_id": 3, "t_start": 2, "t_stop": 12, "onset_t": 5}
    cfg["analysis"]["pseudotime"]["reference"] = reference  # demo and demo_15min both have B/1/0
    with pytest.raises(ValueError, match=r"pseudotime.reference.dataset: expected the dataset whose track 3"):
        WorkflowConfig.model_validate(cfg)
    cfg["analysis"]["pseudotime"]["reference"] = {**reference, "dataset": "nowhere"}
    with pytest.raises(ValueError, match=r"'nowhere' is not a dataset"):
        WorkflowConfig.model_validate(cfg)
    cfg["analysis"]["pseudotime"]["reference"] = {**reference, "dataset": "demo"}
    WorkflowConfig.model_validate(cfg)  # demo_15min is simulated: its ground truth picks its reference
    cfg["datasets"]["mine"] = {"plate": "/data/mine.zarr", "patches": cfg["datasets"]["demo"]["patches"]}
    # a plate dataset other than the reference's picks its own reference from its infection
    # classifier's predictions, or is not aligned without one (as with no explicit reference)
    WorkflowConfig.model_validate(cfg)


def test_baseline_classifiers_do_not_transfer_between_datasets_sampled_otherwise(tmp_path: Path) -> None:
    """Each trained model embeds one dataset, the baselines both: a baseline's classifiers predict the
    other dataset only when its patches hold the same channels and it has the same pixel size, and the
    dry run says which transfers it left out."""
    from integration.workflow_helpers import TINY_TRAINING, snakemake, tiny_workflow_config, write_config

    config = tiny_workflow_config()
    config["datasets"]["other"] = copy.deepcopy(config["datasets"]["tiny"])
    config["contrastive_models"] = {
        f"on_{name}": {
            "train_datasets": [name],
            "embed_datasets": [name],
            "training": {**TINY_TRAINING, "sampling": "classical"},
        }
        for name in ("tiny", "other")
    }
    config["analysis"].update(interpretation={"enabled": False}, occlusion={"enabled": False})

    def plan() -> tuple[str, int]:
        write_config(tmp_path, config)
        result = snakemake(tmp_path, "--dry-run")
        text = result.stdout + result.stderr
        found = re.search(r"^transfer_classifiers\s+(\d+)$", text, re.M)
        return text, int(found.group(1)) if found else 0

    def skipped(why: str) -> str:
        text, transfers = plan()
        assert transfers == 0
        for source, target in (("tiny", "other"), ("other", "tiny")):
            assert (
                f"Skipped transfer: baseline engineered_features: the classifiers of dataset {source!r} do "
                f"not predict dataset {target!r}, whose patches differ: {why}"
            ) in text
        return text

    text, transfers = plan()
    assert transfers == 2 and "Skipped transfer" not in text  # the baseline: tiny -> other, other -> tiny
    # the same width, another channel: features of the nuclear marker are not the sensor's
    other_spec = config["datasets"]["other"]["patches"][0]
    other_spec["channels"][1]["channel"] = "Nuclei"
    assert "channels [('phase', 'Phase3D', 'zscore'), ('raw', 'Nuclei', 'median_p99')]" in skipped("channels")
    other_spec["channels"][1]["channel"] = "ViralSensor"
    config["datasets"]["other"]["simulate"]["pixel_size_um"] = 0.325
    config["datasets"]["other"]["tracking"] = {  # tracking's sizes in pixels, for 0.325 µm pixels
        "maps": {"smoothing_sigma_px": 2.0},
        "segmentation": {"min_area_px": 240, "max_area_px": 1800},
        "linking": {"max_distance_px": 40.0, "distance_weight_per_px": 0.005},
        "solver": {"image_border_px": 20},
        "gap_closing": {"max_distance_px": 30.0},
    }
    for section in ("classification", "pseudotime"):  # the matching radii too, given for both pixel sizes
        config["analysis"].setdefault(section, {})["max_match_distance_px"] = 8.0
    skipped("pixel size")


def test_a_spec_keeping_every_slice_of_stacks_of_another_depth_is_refused() -> None:
    """A spec without z_range or z_window_slices gives each dataset the depth of its own stacks; the
    spec contract (slices: null in both) let a model trained on 10-slice patches embed 8-slice ones,
    and the embed job failed on the encoder's input check. The dry run now refuses it, whatever
    allow_other_scales says; stacks of the same depth, or a window, are accepted."""
    cfg = demo()
    for dataset in ("demo", "demo_15min"):
        del cfg["datasets"][dataset]["patches"][0]["z_window_slices"]
    assert problems(cfg) == []  # both stacks hold 10 slices
    cfg["datasets"]["demo_15min"]["simulate"]["shape_zyx"] = [8, 192, 192]
    for entry in cfg["contrastive_models"].values():
        entry["allow_other_scales"] = True
    found = problems(cfg)
    assert len(found) == 2  # the trained models; viscy_fixture embeds demo_15min alone
    for model, line in zip(("time_aware_ntxent", "classical_ntxent"), found, strict=True):
        assert line.startswith(
            f"contrastive_models.{model}.embed_datasets: expected patches of 10 slices in dataset "
            "'demo_15min' (patch spec 'phase_sensor' of dataset 'demo', which the model trains on), "
            "found 8 slices (results/demo_15min/raw.zarr)"
        )
    for dataset in ("demo", "demo_15min"):
        cfg["datasets"][dataset]["patches"][0]["z_window_slices"] = 5
    assert problems(cfg) == []


def test_a_pooled_tau_in_minutes_is_advised_a_value_whole_in_every_interval() -> None:
    """One model on movies of 30 and 20 min frames: the tau in minutes is checked for both together.
    Checked per dataset, the advice circled (30 -> use 20 or 40; 20 -> use 30; 40 -> use 30 or 60) and
    offered tau_frames, which the pooled check refuses; now every value advised is accepted."""
    cfg, training = pooled_tau_frames()
    cfg["datasets"]["demo_15min"]["simulate"]["time_interval_minutes"] = 20
    cfg["contrastive_models"]["m"]["training"] = {**training, "tau_minutes": 30}
    workflow, layouts = layouts_of(cfg)
    (line,) = [line for line in workflow_problems(workflow, layouts, "results") if "tau" in line]
    assert line == (
        "contrastive_models.m.training.tau_minutes: expected a whole number of the 30 min frames of "
        "dataset 'demo' (from results/demo/raw.zarr) and of the 20 min frames of dataset 'demo_15min' "
        "(from results/demo_15min/raw.zarr), within 10% of one frame interval, found 30 min = 1 frame of "
        "'demo', 1.5 frames of 'demo_15min'; use 60 min (2 frames of 'demo', 3 frames of 'demo_15min')"
    )
    for asked, advised in ((20, [60]), (40, [60]), (150, [120, 180])):
        cfg["contrastive_models"]["m"]["training"]["tau_minutes"] = asked
        workflow, layouts = layouts_of(cfg)
        (line,) = [line for line in workflow_problems(workflow, layouts, "results") if "tau" in line]
        assert re.findall(r"(\d+) min \(\d frames of 'demo'", line) == [str(v) for v in advised]
        for value in advised:  # the advice is taken: no tau line, no transfer line
            cfg["contrastive_models"]["m"]["training"]["tau_minutes"] = value
            workflow, layouts = layouts_of(cfg)
            assert not [line for line in workflow_problems(workflow, layouts, "results") if "tau" in line]
            assert transfer_problems(workflow, layouts) == []


def test_a_pooled_tau_in_frames_over_other_intervals_is_advised_a_common_tau_in_minutes() -> None:
    cfg, _ = pooled_tau_frames()
    cfg["datasets"]["demo_15min"]["simulate"]["time_interval_minutes"] = 20
    (line,) = problems(cfg)
    assert line.endswith(
        "give tau_minutes 60, a whole number of frames of every training dataset, instead (converted with "
        "each dataset's own interval)"
    )
