"""Config validation: typed models, generated JSON Schema, errors that name the key."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml
from conftest import REPO_ROOT
from pydantic import ValidationError

from dynaclr.config import WorkflowConfig, load_config
from dynaclr.config.embeddings import EngineeredFeaturesConfig, engineered_features_misfit
from dynaclr.config.schema import render_schema

DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"
SCHEMA = json.loads((REPO_ROOT / "config" / "config.schema.json").read_text())


def _default() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def test_committed_schema_is_generated_from_the_models():
    assert (REPO_ROOT / "config" / "config.schema.json").read_text() == render_schema(), (
        "config/config.schema.json is stale: run `make schema`"
    )


def test_default_config_is_valid_and_names_the_demo_dataset():
    config = load_config(DEFAULT_CONFIG)
    jsonschema.validate(_default(), SCHEMA)
    assert "demo" in config.datasets
    demo = config.datasets["demo"].simulate
    assert demo is not None and len(demo.fov_names()) == 4


def _misspelt(cfg):
    cfg["datasets"]["demo"]["simulate"]["sed"] = 1
    return "sed"


def _wrong_type(cfg):
    cfg["datasets"]["demo"]["simulate"]["n_frames"] = "thirty"
    return "n_frames"


def _missing_required(cfg):
    del cfg["datasets"]["demo"]["simulate"]["wells"][0]["condition"]
    return "condition"


def _misspelt_nested(cfg):
    cfg["datasets"]["demo"]["simulate"]["cells"]["speed_um_per_frme"] = 1.0
    return "speed_um_per_frme"


@pytest.mark.parametrize("break_config", [_misspelt, _wrong_type, _missing_required, _misspelt_nested])
def test_bad_configs_are_rejected_naming_the_key(break_config):
    cfg = _default()
    key = break_config(cfg)
    with pytest.raises(ValidationError, match=key):
        WorkflowConfig.model_validate(cfg)
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate(cfg, SCHEMA)
    message = str(info.value)
    assert key in message or key in "/".join(map(str, info.value.absolute_path))


@pytest.mark.parametrize(
    "path",
    [
        ("analysis", "occlusion", "models"),  # config/config.yaml: "models: null does every model"
        ("analysis", "baseline_datasets"),
        ("analysis", "classification", "apply_to"),
        ("contrastive_models", "time_aware_ntxent", "training", "max_validation_batches"),
        ("contrastive_models", "time_aware_ntxent", "embed_datasets"),
        ("datasets", "demo_15min", "virtual_stain"),
        ("datasets", "demo", "annotations", "table"),
    ],
)
def test_a_key_written_as_null_means_the_key_left_out(path):
    """A key whose default is null may be written as null, as the descriptions and config/config.yaml
    say ('null: every model'): the models took it, but the JSON Schema refused it ("None is not of
    type 'array'"), so the dry run stopped on a value the config's own comment suggests."""
    written, left_out = _default(), _default()
    for cfg, value in ((written, [None]), (left_out, [])):
        node = cfg
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1], None)
        node.update({path[-1]: value[0]} if value else {})
    jsonschema.validate(written, SCHEMA)
    assert WorkflowConfig.model_validate(written) == WorkflowConfig.model_validate(left_out)


def test_a_misspelt_key_inside_a_section_that_may_be_null_is_named():
    cfg = _default()
    cfg["datasets"]["demo"]["virtual_stain"]["bakbone"] = "convnext_atto"
    with pytest.raises(jsonschema.ValidationError, match="bakbone"):
        jsonschema.validate(cfg, SCHEMA)
    cfg["datasets"]["demo"]["virtual_stain"] = "convnext_atto"
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'object'"):
        jsonschema.validate(cfg, SCHEMA)


def test_cross_field_checks():
    cfg = _default()
    cfg["datasets"]["demo"]["simulate"]["infection"]["onset_frames"] = [10, 2]
    with pytest.raises(ValidationError, match="onset_frames: lower bound 10 is above upper bound 2"):
        WorkflowConfig.model_validate(cfg)
    cfg = _default()
    cfg["datasets"]["demo"]["simulate"]["nuclear_marker_fovs"] = ["Z/9/0"]
    with pytest.raises(ValidationError, match=r"\['Z/9/0'\] are not FOVs of this plate"):
        WorkflowConfig.model_validate(cfg)
    cfg = _default()
    cfg["datasets"]["demo"]["plate"] = "/data/plate.zarr"
    with pytest.raises(ValidationError, match="exactly one of 'simulate'"):
        WorkflowConfig.model_validate(cfg)


def test_dataset_and_model_names_must_be_text_valid_in_paths():
    """YAML reads an unquoted ``01:`` as the number 1: the name the user wrote is lost, so it is
    refused saying to quote it; a quoted '01' is a name like any other. A name with a slash or a
    space (not a single path segment or wildcard value) is refused."""
    config = WorkflowConfig.model_validate(yaml.safe_load("datasets:\n  '01': {plate: /data/p.zarr}\n"))
    assert list(config.datasets) == ["01"]
    unquoted = yaml.safe_load("datasets:\n  01: {plate: /data/p.zarr}\n")
    with pytest.raises(ValidationError, match=r"datasets: names are text; found 1 \(int\).*quote the name"):
        WorkflowConfig.model_validate(unquoted)
    for name in ("a/b", "a b"):
        with pytest.raises(ValidationError, match=r"datasets: names may hold letters, digits"):
            WorkflowConfig.model_validate({"datasets": {name: {"plate": "/data/p.zarr"}}})
    models = {True: {"checkpoint": "m.ckpt"}}
    with pytest.raises(ValidationError, match=r"contrastive_models: names are text; found True \(bool\)"):
        WorkflowConfig.model_validate({"datasets": {"a": {"plate": "/p.zarr"}}, "contrastive_models": models})


def test_real_dataset_needs_only_a_plate_path():
    config = WorkflowConfig.model_validate({"datasets": {"real": {"plate": "/data/plate.zarr"}}})
    assert not config.datasets["real"].is_simulated


@pytest.mark.parametrize("source", [{"plate": "/data/plate.zarr"}, {"tiff": {"files": "tiffs/*.tif"}}])
@pytest.mark.parametrize("channels", [["DIC", "NS3-GFP"], ["Brightfield"]])
def test_a_ground_truth_summary_on_a_plate_of_ones_own_is_refused_saying_it_needs_a_simulation(
    source, channels
):
    """A new user copying the demo's ``summary`` onto their plate, with their channel names or the
    simulator's: refused saying the section is for simulated plates, not that their channels are wrong
    (nor accepted and never used)."""
    dataset = {**source, "summary": {"preview_channels": channels}}
    with pytest.raises(ValidationError) as raised:
        WorkflowConfig.model_validate({"datasets": {"mine": dataset}})
    message = str(raised.value)
    assert "summary: the ground-truth summary" in message and "simulated datasets only" in message
    assert "remove 'summary'" in message
    assert "Input should be 'Brightfield'" not in message
    assert WorkflowConfig.model_validate(_default()).datasets["demo"].summary.preview_channels


def test_a_plate_dataset_may_name_its_annotation_table():
    cfg = _default()
    cfg["datasets"]["real"] = {
        "plate": "/data/plate.zarr",
        "annotations": {"table": "labels.csv", "tasks": ["infection"]},
    }
    jsonschema.validate(cfg, SCHEMA)
    annotations = WorkflowConfig.model_validate(cfg).datasets["real"].annotations
    assert annotations.is_imported and annotations.tasks == ("infection",)
    assert not WorkflowConfig.model_validate(cfg).datasets["demo"].annotations.is_imported
    for bad, message in (
        ({"table": "labels.xlsx"}, r"must be a \.csv or \.parquet file; got 'labels.xlsx'"),
        (
            {"table": "labels.csv", "fraction_of_cells": 0.05},
            r"drawing keys \['fraction_of_cells=0.05'\] do not apply",
        ),
        (
            {"table": "labels.csv", "tasks": ["division"]},
            r"real.annotations.tasks \['division'\] share no task",
        ),
    ):
        cfg["datasets"]["real"]["annotations"] = bad
        cfg["analysis"]["classification"]["tasks"] = ["infection"]
        with pytest.raises(ValidationError, match=message):
            WorkflowConfig.model_validate(cfg)
    cfg["datasets"]["real"]["annotations"] = {"tabel": "labels.csv"}
    with pytest.raises(jsonschema.ValidationError, match="tabel"):
        jsonschema.validate(cfg, SCHEMA)


def test_a_simulated_plate_without_infected_cells_trains_no_infection_classifier():
    """Its drawn infection annotations would all be 'uninfected': refused when the config is read,
    not by ``classify`` after training."""
    from integration.workflow_helpers import tiny_workflow_config

    cfg = tiny_workflow_config()
    simulate = cfg["datasets"]["tiny"]["simulate"]
    for well in simulate["wells"]:
        well["infected_fraction"] = 0.0
    with pytest.raises(ValidationError, match=r"every simulate.wells\[\].infected_fraction is 0"):
        WorkflowConfig.model_validate(cfg)
    cfg["datasets"]["tiny"]["annotations"] = {"tasks": ["division"]}  # what the message says to do
    WorkflowConfig.model_validate(cfg)
    cfg = tiny_workflow_config()
    cfg["datasets"]["tiny"]["simulate"]["n_frames"] = 2  # onsets at frames 2 to 5: after the movie
    with pytest.raises(
        ValidationError,
        match=r"datasets.tiny.annotations.tasks: .*onset_frames \[2, 5\] start after the movie's 2 frames",
    ) as raised:
        WorkflowConfig.model_validate(cfg)
    assert "start simulate.infection.onset_frames within simulate.n_frames" in str(raised.value)
    assert "infect a well" not in str(raised.value)  # the wells are infected: the onsets come too late
    cfg["contrastive_models"] = {}  # no model embeds the plate: no classifier is fitted on it
    cfg["analysis"]["occlusion"] = {"enabled": False}  # nor attributed (refused when enabled)
    cfg["exports"] = {}  # nor exported (the embeddings exports are refused with nothing embedded)
    WorkflowConfig.model_validate(cfg)


def test_models_are_frozen_and_round_trip():
    config = load_config(DEFAULT_CONFIG)
    dumped = config.model_dump(mode="json")
    assert WorkflowConfig.model_validate(copy.deepcopy(dumped)) == config
    with pytest.raises(ValidationError):
        config.datasets["demo"].simulate.seed = 5  # type: ignore[union-attr,misc]


def test_figure_settings_left_out_follow_the_analyses_they_draw():
    from dynaclr.config.workflow import AnalysisConfig

    follows = AnalysisConfig.model_validate(
        {
            "temporal_metrics": {"seed": 7, "representation": "projections"},
            "pseudotime": {"match_truth_on": "track"},
        }
    ).figures
    assert (follows.distances_seed, follows.distances_representation, follows.match_truth_on) == (
        7,
        "projections",
        "track",
    )
    own = AnalysisConfig.model_validate(
        {"temporal_metrics": {"seed": 7}, "figures": {"distances_seed": 3}}
    ).figures
    assert own.distances_seed == 3  # set by the user: kept


def _tiny_with(edit) -> dict:
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    edit(config)
    return config


def test_patches_a_backbone_cannot_encode_are_refused_naming_the_key():
    """A ConvNeXt shrinks its input 32-fold with unpadded 2x2 downsamplings: a 16 px patch spec (or a
    24 px embedding crop) failed inside the training or embedding job with a torch error; the config is
    now refused before any job runs, and a ResNet, which takes such patches, is accepted."""
    spec = "datasets.tiny.patches[phase_sensor].patch_size_yx_px"

    def small(config):
        config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"] = 16

    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(_tiny_with(small))
    message = str(info.value)
    assert (
        "contrastive_models.time_aware.training.backbone: backbone 'convnext_atto' needs patches of at"
        in message
    )
    assert "least 32 x 32 px" in message and f"found [16, 16] px from {spec}" in message

    def resnet(config):
        small(config)
        for entry in config["contrastive_models"].values():
            entry["training"]["backbone"] = "resnet18"

    WorkflowConfig.model_validate(_tiny_with(resnet))

    def small_crop(config):
        config["analysis"]["embeddings"] = {"crop_size_yx_px": [24, 32]}

    with pytest.raises(
        ValidationError, match=r"found \[24, 32\] px from analysis.embeddings.crop_size_yx_px"
    ):
        WorkflowConfig.model_validate(_tiny_with(small_crop))


@pytest.mark.parametrize(
    ("initial", "scale_range", "accepted"),
    [(56, 0.2, False), (60, 0.2, True), (56, 0.1, True), (None, 0.3, False)],
)
def test_stored_patches_too_small_for_the_models_augmentation_are_refused(initial, scale_range, accepted):
    """PatchSpec accepts initial_patch_size_yx_px >= ceil(sqrt(2) x 1.2 x patch) (55 for 32 px), but training
    needs room for the model's zooms and shears (60 px with the default ±0.2): 56 px patches were extracted
    and then the training job failed. The config is now refused, naming both keys."""

    def edit(config):
        config["datasets"]["tiny"]["patches"][0]["initial_patch_size_yx_px"] = initial
        for entry in config["contrastive_models"].values():
            entry["training"]["augmentation"] = {"affine_scale_range": scale_range}

    config = _tiny_with(edit)
    if accepted:
        WorkflowConfig.model_validate(config)
        return
    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(config)
    message = str(info.value)
    assert (
        "datasets.tiny.patches[phase_sensor].initial_patch_size_yx_px: model 'time_aware' trains" in message
    )
    assert (
        f"zooms of ±{scale_range}" in message
        and "contrastive_models.time_aware.training.augmentation" in message
    )
    needed = int(message.split("stored patches of at least ")[1].split(" px")[0])
    assert f"set initial_patch_size_yx_px to at least {needed} or lower" in message  # a size that fits
    assert ("(null sizes them for the default augmentation)" in message) == (initial is None)


@pytest.mark.parametrize("key", ["embeddings", "engineered_features"])
def test_a_crop_larger_than_the_stored_patches_is_refused_naming_the_key(key):
    """The tiny spec stores 60 px patches (32 px view): a 64 px crop passed the dry run and failed the
    embed job ('cannot centre-crop'); it is now refused naming the key, the spec and both sizes. A 60 px
    crop is accepted; the engineered-features crop is not checked when that baseline is not run."""

    def crop(size, baselines=("engineered_features",)):
        def edit(config):
            config["analysis"][key] = {"crop_size_yx_px": [size, size]}
            config["analysis"]["baselines"] = list(baselines)

        return edit

    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(_tiny_with(crop(64)))
    assert (
        f"analysis.{key}.crop_size_yx_px: expected a crop within the stored patches of "
        "datasets.tiny.patches[phase_sensor] (60 x 60 px), found [64, 64] px"
    ) in str(info.value)
    WorkflowConfig.model_validate(_tiny_with(crop(60)))
    if key == "engineered_features":
        WorkflowConfig.model_validate(_tiny_with(crop(64, baselines=("random_weights",))))


def test_engineered_feature_rings_and_offsets_the_patches_cannot_hold_are_refused():
    """The engineered features measure the baseline spec's stored patches (60 px in the tiny config), or
    their crop: rings narrower than a pixel there, or a co-occurrence offset no pixel pair has along Y
    or X, gave columns constant for every cell with exit 0; the dry run refuses them naming the key, what
    is measured and a value that fits. Without the baseline, nothing is checked."""

    def features(settings, baselines=("engineered_features",)):
        def edit(config):
            config["analysis"]["engineered_features"] = settings
            config["analysis"]["baselines"] = list(baselines)

        return edit

    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(_tiny_with(features({"crop_size_yx_px": [16, 16], "radial_rings": 32})))
    assert (
        "analysis.engineered_features.radial_rings: expected rings that each hold a pixel of the 16 x 16 px "
        "crop (analysis.engineered_features.crop_size_yx_px), found 32"
    ) in str(info.value) and "use at most 10, or a larger crop" in str(info.value)
    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(_tiny_with(features({"texture_distances_px": [1, 60]})))
    assert (
        "analysis.engineered_features.texture_distances_px: expected offsets below the 60 px side of the "
        "60 x 60 px stored patches of datasets.tiny.patches[phase_sensor]"
    ) in str(info.value) and "found [60]; use offsets up to 59" in str(info.value)
    WorkflowConfig.model_validate(_tiny_with(features({"crop_size_yx_px": [16, 16], "radial_rings": 10})))
    WorkflowConfig.model_validate(_tiny_with(features({"texture_distances_px": [1, 59], "radial_rings": 32})))
    WorkflowConfig.model_validate(
        _tiny_with(features({"crop_size_yx_px": [16, 16], "radial_rings": 32}, baselines=("random_weights",)))
    )


@pytest.mark.parametrize("crop", [[-3, 4], [0, 0], [1, 2]])
def test_an_engineered_features_crop_below_2_px_is_refused_naming_the_key(crop):
    """A negative crop failed inside numpy ("negative dimensions are not allowed", no key named) and a
    0 or 1 px one was advised to "use at most 0" rings; the smallest measurable patch is 2 x 2 px (a
    pixel pair 1 px apart along Y and X, one ring)."""

    def edit(config):
        config["analysis"]["engineered_features"] = {"crop_size_yx_px": crop}
        config["analysis"]["baselines"] = ["engineered_features"]

    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(_tiny_with(edit))
    assert (
        f"crop_size_yx_px: expected two pixel counts of at least 2 each (the smallest patch with a pixel "
        f"pair 1 px apart along Y and X), e.g. [24, 24], found {crop}"
    ) in str(info.value)
    assert "use at most 0" not in str(info.value) and "negative dimensions" not in str(info.value)
    smallest = EngineeredFeaturesConfig(crop_size_yx_px=(2, 2), radial_rings=1, texture_distances_px=(1,))
    assert engineered_features_misfit(smallest, 2, 2, "crop (crop_size_yx_px)") == ""


def test_a_misfit_no_count_can_fix_advises_larger_patches_only():
    config = EngineeredFeaturesConfig(radial_rings=1, texture_distances_px=(1,))
    misfit = engineered_features_misfit(config, 1, 2, "patches")
    assert "hold none (their columns would be 0 for every cell); use larger patches" in misfit
    assert "would be empty), found [1]; use larger patches" in misfit
    assert "at most 0" not in misfit and "up to 0" not in misfit
    cropped = engineered_features_misfit(
        EngineeredFeaturesConfig(radial_rings=4), 3, 3, "crop (crop_size_yx_px)"
    )
    assert cropped.endswith("use at most 2, or a larger crop")


ATTRIBUTION_INDICES = {
    # the tiny spec has 2 channels (phase, sensor) seen as 32 px patches; occlusion is enabled
    "gallery channel past the spec's": (
        ("interpretation", "gallery_channel", 2),
        "analysis.interpretation.gallery_channel: expected the index of a channel of "
        "datasets.tiny.patches[phase_sensor] (model time_aware), 0..1 of ['phase:Phase3D', "
        "'raw:ViralSensor'], found 2",
    ),
    "region channel past the spec's": (
        ("occlusion", "region_channel", -3),
        "analysis.occlusion.region_channel: expected the index of a channel of datasets.tiny.patches"
        "[phase_sensor] (model time_aware), 0..1 of ['phase:Phase3D', 'raw:ViralSensor'] (or -1..-2 from the "
        "end), found -3",
    ),
    "occluding window larger than the patch": (
        ("occlusion", "window_yx_px", 40),
        "analysis.occlusion.window_yx_px: expected a window within the 32 px patch the encoder sees "
        "(datasets.tiny.patches[phase_sensor].patch_size_yx_px, model time_aware), found 40; use at most 32",
    ),
}


@pytest.mark.parametrize("case", list(ATTRIBUTION_INDICES))
def test_attribution_settings_beyond_the_patches_are_refused_naming_the_key(case):
    """The gallery showed the spec's last channel in place of one past it (its caption naming the index
    asked for), and the occlusion job, the workflow's last, failed after every other job had run. The
    last channel and a window of the patch's size are accepted; with the analysis off nothing is checked."""
    (section, key, value), expected = ATTRIBUTION_INDICES[case]

    def setting(value, enabled=True):
        def edit(config):
            config["analysis"][section].update({key: value, "enabled": enabled})

        return edit

    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(_tiny_with(setting(value)))
    assert expected in str(info.value)
    WorkflowConfig.model_validate(
        _tiny_with(setting({"gallery_channel": 1, "region_channel": -2}.get(key, 32)))
    )
    WorkflowConfig.model_validate(_tiny_with(setting(value, enabled=False)))


def test_a_dtw_match_longer_than_the_shortest_query_is_refused_when_the_config_is_read():
    """It failed the align_pseudotime job, after tracking, training and embedding."""
    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(
            _tiny_with(lambda c: c["analysis"].update(pseudotime={"min_match_frames": 7}))
        )
    assert "analysis.pseudotime" in str(info.value)
    assert "min_match_frames: expected at most min_query_frames (6: a query that short must still be" in str(
        info.value
    )
    WorkflowConfig.model_validate(
        _tiny_with(lambda c: c["analysis"].update(pseudotime={"min_match_frames": 6}))
    )


PROJECTION_WIDTHS = {
    # the tiny config: models time_aware and classical (projection_dim 32), the engineered-features baseline
    # on its 2-channel spec (20 features per channel with the default settings)
    "wider than a projection head": (
        {"representation": "projections"},
        {"time_aware": 16},
        20,
        16,
        "analysis.projections.n_components: expected at most the 16 columns of the 'projections' matrix it "
        "projects (model 'time_aware': contrastive_models.time_aware.training.projection_dim), found 20; "
        "lower it to 16 or less",
    ),
    "wider than the engineered features": (
        {"representation": "features"},
        {},
        41,
        40,
        "analysis.projections.n_components: expected at most the 40 columns of the 'features' matrix it "
        "projects (model 'engineered_features' on dataset 'tiny': analysis.engineered_features' 20 "
        "features per channel x 2 channels ['phase:Phase3D', 'raw:ViralSensor'] of "
        "datasets.tiny.patches[phase_sensor]), found 41; lower it to 40 or less",
    ),
}


@pytest.mark.parametrize("case", list(PROJECTION_WIDTHS))
def test_projections_wider_than_the_embeddings_are_refused_naming_the_key_width_and_model(case):
    """The config states the width of a projection head and of the engineered features: more
    coordinates than it failed the project_embeddings job after training and embedding. As many as
    the width are accepted; the engineered features' width does not bound a config without them."""
    projections, heads, asked, width, expected = PROJECTION_WIDTHS[case]

    def edit(n_components, baselines=("engineered_features",)):
        def apply(config):
            config["analysis"]["projections"] = {**projections, "n_components": n_components}
            config["analysis"]["baselines"] = list(baselines)
            for model, head in heads.items():
                config["contrastive_models"][model]["training"]["projection_dim"] = head

        return apply

    with pytest.raises(ValidationError) as info:
        WorkflowConfig.model_validate(_tiny_with(edit(asked)))
    assert expected in str(info.value)
    WorkflowConfig.model_validate(_tiny_with(edit(width)))
    if not heads:
        WorkflowConfig.model_validate(_tiny_with(edit(asked, baselines=("random_weights",))))


def _sampling_models():
    from dynaclr.config.convert import TiffSourceConfig
    from dynaclr.config.phase import PhaseConfig
    from dynaclr.config.simulate import OpticsConfig, SimulateConfig
    from dynaclr.config.workflow import AcquisitionConfig

    tiff = {"files": "tiffs/{position}.tif"}
    return {
        "phase.yx_pixel_size_um": (PhaseConfig, {}, "yx_pixel_size_um", "a pixel size"),
        "phase.z_step_um": (PhaseConfig, {}, "z_step_um", "a z step"),
        "acquisition.pixel_size_um": (AcquisitionConfig, {}, "pixel_size_um", "a pixel size"),
        "acquisition.z_step_um": (AcquisitionConfig, {}, "z_step_um", "a z step"),
        "tiff.pixel_size_um": (TiffSourceConfig, tiff, "pixel_size_um", "a pixel size"),
        "tiff.z_step_um": (TiffSourceConfig, tiff, "z_step_um", "a z step"),
        "simulate.pixel_size_um": (SimulateConfig, {}, "pixel_size_um", "a pixel size"),
        "simulate.z_step_um": (SimulateConfig, {}, "z_step_um", "a z step"),
        "simulate.optics.wavelength_um": (OpticsConfig, {}, "wavelength_um", "a wavelength"),
    }


#: Per kind of length: (values in nanometres, what to write for each), real values accepted, a value
#: outside the bounds whose thousandth is no length either, and the field's bounds (µm).
_LENGTHS = {
    "a wavelength": ((532,), ("0.532",), (0.25, 2.0), 3e6, (0.2, 2.0)),
    # 65: a 100x objective's 65 nm pixel (0.065 µm), taken as 65 µm before (the bound was 100)
    "a pixel size": ((65, 650), ("0.065", "0.65"), (0.02, 0.065, 0.65, 10.0, 20.0), 3e6, (0.02, 20.0)),
    "a z step": ((250, 650, 2000), ("0.25", "0.65", "2"), (0.05, 0.2, 2.0, 30.0, 50.0), 3e6, (0.05, 50.0)),
}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("simulate.z_step_um", 60),  # a 60 µm organoid survey step: 0.06 is no typical step
        ("acquisition.z_step_um", 60000),  # 60 in nm: neither
        ("simulate.pixel_size_um", 25),  # a 25 µm pixel: 0.025 is no typical pixel
        ("acquisition.pixel_size_um", 30000),
    ],
)
def test_a_size_out_of_bounds_is_called_nanometres_only_where_its_thousandth_is_typical(key, value):
    """Any z step in (50, 50000] was called nanometres (a 60 µm organoid survey step told "write 0.06"),
    a 25 µm pixel told to write 0.025: outside the bounds, only a value whose thousandth is a typical
    size (pixels 0.05-2 µm, z steps 0.1-10 µm) is; any other is told the field's bounds only."""
    model, required, field, _ = _sampling_models()[key]
    with pytest.raises(ValidationError) as info:
        model.model_validate({**required, field: value})
    assert "nanometres" not in str(info.value)
    assert "Input should be less than or equal to" in str(info.value)


@pytest.mark.parametrize("key", list(_sampling_models()))
def test_sizes_in_nanometres_are_refused_saying_what_to_write(key):
    """A pixel size, z step or wavelength written in nanometres (650 for 0.65 µm, 65 for a 100x
    objective's 0.065 µm pixel, as microscope metadata gives it) was taken as micrometres, with exit 0.
    Every live-cell size is accepted (:mod:`dynaclr.io.sampling`): pixels of 0.02-20 µm, z steps of
    0.05-50 µm, wavelengths of 0.2 to 2 µm; a value whose thousandth is no size either is refused
    without the hint."""
    model, required, field, what = _sampling_models()[key]
    nanometres, written, real_values, neither, (low, high) = _LENGTHS[what]
    for value, write in zip(nanometres, written, strict=True):
        with pytest.raises(ValidationError) as info:
            model.model_validate({**required, field: value})
        assert (
            f"{field}: expected {what} in µm between {low:g} and {high:g}, found {value:g}; {value:g} "
            f"looks like nanometres: write {write} [type=value_error"
        ) in str(info.value)
    with pytest.raises(ValidationError) as info:  # no size in nm either: the field's bound says so
        model.model_validate({**required, field: neither})
    assert f"Input should be less than or equal to {high:g} [type=less_than_equal" in str(info.value)
    with pytest.raises(ValidationError) as info:
        model.model_validate({**required, field: low / 2})
    assert f"Input should be greater than or equal to {low:g} [type=greater_than_equal" in str(info.value)
    for real in real_values:
        assert getattr(model.model_validate({**required, field: real}), field) == real


@pytest.mark.parametrize("key", list(_sampling_models()))
def test_the_micrometre_bounds_are_the_fields_in_the_schema(key):
    """The bounds of a wavelength (0.2-2 µm), a pixel size (0.02-20 µm) and a z step (0.05-50 µm)
    were only in Python validators: the schema said > 0, so an editor validating a config against it
    took 532 or 650 (and, below 100 µm, 65). They are the fields' own bounds, in the schema."""
    model, _, field, what = _sampling_models()[key]
    schema = model.model_json_schema()["properties"][field]
    (number,) = [branch for branch in schema.get("anyOf", [schema]) if branch.get("type") == "number"]
    assert (number["minimum"], number["maximum"]) == _LENGTHS[what][-1]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (("datasets", "demo", "phase"), "wavelength_illumination_um"),
        (("datasets", "demo", "simulate", "optics"), "wavelength_um"),
    ],
)
def test_a_wavelength_is_bounded_in_the_schema_and_named_when_in_nanometres(path: tuple[str, ...], key: str):
    """The 0.2-2.0 µm bound of a wavelength was only in a Python validator (the schema said > 0, so an
    editor validating against it took 532); it is the field's bound now, in the schema, and a value in
    nanometres is still told what to write."""
    config = _default()
    node = config
    for part in path:
        node = node.setdefault(part, {})
    for value, schema_ok in ((0.532, True), (532, False), (5.32, False), (0.1, False)):
        node[key] = value
        errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(config))
        assert (not errors) == schema_ok, (value, errors)
    node[key] = 532
    with pytest.raises(
        ValidationError, match=rf"{key}: expected a wavelength in µm .*532 looks like nanometres: write 0.532"
    ):
        WorkflowConfig.model_validate(config)
    node[key] = 5.32
    with pytest.raises(ValidationError, match=rf"{key}\n  Input should be less than or equal to 2"):
        WorkflowConfig.model_validate(config)


def test_an_explicit_reference_without_a_position_keeps_the_params_it_had():
    """reference.y_px, x_px were added after explicit references had been run: left unset they are not
    in align_pseudotime's params, so upgrading reruns no pseudo-time (nor what reads it); set, they are."""
    from dynaclr.config.analysis import PseudotimeConfig

    reference = {"fov_name": "A/1/0", "track_id": 1, "t_start": 0, "t_stop": 5, "onset_t": 2}
    params = PseudotimeConfig.model_validate({"reference": reference}).job_params()
    assert params["reference"] == {"dataset": None, **reference}  # the keys it had before them
    placed = PseudotimeConfig.model_validate({"reference": {**reference, "y_px": 3.0, "x_px": 4.0}})
    assert placed.job_params()["reference"] == {"dataset": None, **reference, "y_px": 3.0, "x_px": 4.0}
    assert PseudotimeConfig().job_params()["reference"] is None


@pytest.mark.parametrize(
    ("given", "normalised"),
    [("/data/p.zarr/", "/data/p.zarr"), ("./p.zarr/", "p.zarr"), ("data//p.zarr", "data/p.zarr")],
)
def test_a_plate_path_with_a_trailing_slash_is_normalised_and_stays_relative(given: str, normalised: str):
    """`plate: /data/p.zarr/` made the per-FOV jobs' inputs `/data/p.zarr//A/1/0/zarr.json` (Snakemake
    warned of the double '/' per job): the path is normalised once, a relative one kept relative."""
    config = WorkflowConfig.model_validate({"datasets": {"real": {"plate": given}}})
    assert config.datasets["real"].plate == normalised
