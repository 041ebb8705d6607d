"""Models and classifiers across datasets: which datasets a model trains on and embeds, models read
from a file, classifiers trained on some datasets and applied to others (the config's checks)."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import REPO_ROOT
from pydantic import ValidationError

from dynaclr.config import WorkflowConfig
from dynaclr.config.patches import PatchSpec, spec_contract

DEFAULT = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())


def config(**edits) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    for path, value in edits.items():
        *parents, last = path.split("__")
        node = cfg
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return cfg


def test_the_demo_models_embed_the_demo_and_the_other_plate() -> None:
    workflow = WorkflowConfig.model_validate(DEFAULT)
    assert workflow.embedded_datasets("time_aware_ntxent") == [
        "demo",
        "demo_15min",
    ]  # training datasets first
    assert workflow.embedded_datasets("viscy_fixture") == ["demo_15min"]  # named
    assert workflow.contrastive_models["viscy_fixture"].is_loaded


def test_a_dataset_whose_spec_gives_another_input_is_not_embedded_by_default() -> None:
    cfg = config()
    cfg["analysis"]["occlusion"] = {"enabled": False}  # it names the demo's model, renamed below
    cfg["datasets"]["demo_15min"]["patches"][0]["patch_size_yx_px"] = 64
    cfg["analysis"]["classification"]["apply_to"] = None  # demo_15min, embedded by no model, is refused
    workflow = WorkflowConfig.model_validate(
        cfg | {"contrastive_models": {"m": cfg["contrastive_models"]["time_aware_ntxent"]}}
    )
    assert workflow.embedded_datasets("m") == ["demo"]
    cfg["contrastive_models"] = {
        "m": {**cfg["contrastive_models"]["time_aware_ntxent"], "embed_datasets": ["demo_15min"]}
    }
    with pytest.raises(
        ValidationError,
        match=r"dataset 'demo_15min'.s patch spec 'phase_sensor' gives another input .*size_yx_px 64 vs 48",
    ) as refused:
        WorkflowConfig.model_validate(cfg)
    assert "resampled" not in str(refused.value)  # both plates of 0.65 µm pixels: the size alone differs


def _patch_size_refusal(cfg: dict, patch_size_px: int) -> str:
    """The refusal (whitespace collapsed) of ``cfg`` with demo_15min's patches of ``patch_size_px``
    embedded by the demo's model, whose patches are 48 px."""
    cfg["datasets"]["demo_15min"]["patches"][0]["patch_size_yx_px"] = patch_size_px
    cfg["contrastive_models"]["time_aware_ntxent"]["embed_datasets"] = ["demo", "demo_15min"]
    with pytest.raises(ValidationError) as refused:
        WorkflowConfig.model_validate(cfg)
    message = " ".join(str(refused.value).split())
    assert f"patch_size_yx_px {patch_size_px} vs 48" in message
    return message


def _half_pixel_size() -> dict:
    """The demo config with demo_15min simulated at 0.325 µm pixels (the demo's: 0.65 µm)."""
    cfg = config()
    cfg["datasets"]["demo_15min"]["simulate"]["pixel_size_um"] = 0.325
    return cfg


def test_a_patch_size_scaled_to_another_pixel_size_is_refused_saying_patches_are_not_resampled() -> None:
    """A plate of half the pixel size given twice the patch size (the same micrometres): the spec gives
    another input, and "make the specs agree" alone would send the user to the sampling refusal next;
    the message says the two patches span the same area, that patches are cut in pixels, and what to
    do (give the spec the model's size and pixel_size_um; probe4: 96 px at 0.325 µm for a model of 48
    px at 0.65 µm)."""
    message = _patch_size_refusal(_half_pixel_size(), 96)
    assert "96 px of 0.325 µm span 31.2 µm, as 48 px of 0.65 µm do" in message
    assert "patches are cut in pixels, not resampled without the spec's pixel_size_um" in message
    assert "allow_other_scales: true" in message
    assert "pixel_size_um: 0.65 to resample its patches to the model's sampling" in message


def test_a_patch_size_spanning_another_area_is_not_said_to_span_the_same() -> None:
    """64 px of 0.325 µm span 20.8 µm, not the 31.2 µm of 48 px of 0.65 µm: the refusal said they span
    it "as" the model's patches do whenever both pixel sizes were stated."""
    message = _patch_size_refusal(_half_pixel_size(), 64)
    assert " span " not in message and "as 48 px of" not in message
    assert (
        "patches are cut in pixels, not resampled without the spec's pixel_size_um" in message
    )  # the pixel sizes still differ


def test_a_patch_size_edit_on_a_plate_of_unstated_pixel_size_gets_no_resampling_advice() -> None:
    """A plate whose pixel size comes from its metadata (no ``acquisition.pixel_size_um``) given 64 px
    where the model has 48: nothing says the pixel sizes differ, yet the refusal advised
    allow_other_scales or resampling the plate, as if they did. The sampling check, which reads the
    plate, refuses a pixel size that differs."""
    cfg = config()
    dataset = cfg["datasets"]["demo_15min"]
    dataset.pop("simulate")
    dataset.pop("summary")  # of a simulated dataset's ground truth
    dataset["plate"] = "data/plate_b.zarr"
    message = _patch_size_refusal(cfg, 64)
    assert "resample" not in message and "allow_other_scales" not in message


def test_a_patch_size_scaled_to_a_tiff_datasets_stated_pixel_size_is_refused_saying_so() -> None:
    """A TIFF dataset stating ``tiff.pixel_size_um`` 0.325 (half the demo's) given twice the patch size:
    only ``simulate`` and ``acquisition`` were read for the stated size, so the refusal gave no word of
    the pixel sizes, as for a plate whose size only its metadata states."""
    cfg = config()
    dataset = cfg["datasets"]["demo_15min"]
    dataset.pop("simulate")
    dataset.pop("summary")  # of a simulated dataset's ground truth
    dataset["tiff"] = {"files": "tiffs/{position}.tif", "pixel_size_um": 0.325}
    message = _patch_size_refusal(cfg, 96)
    assert "96 px of 0.325 µm span 31.2 µm, as 48 px of 0.65 µm do" in message
    assert "patches are cut in pixels, not resampled without the spec's pixel_size_um" in message


def test_pooled_training_needs_the_same_input_in_every_dataset() -> None:
    cfg = config()
    cfg["contrastive_models"]["time_aware_ntxent"]["train_datasets"] = ["demo", "demo_15min"]
    assert WorkflowConfig.model_validate(cfg).embedded_datasets("time_aware_ntxent") == ["demo", "demo_15min"]
    cfg["datasets"]["demo_15min"]["patches"][0]["channels"][1]["normalization"] = "zscore"
    with pytest.raises(
        ValidationError, match=r"train_datasets: dataset 'demo_15min'.s patch spec .* channels"
    ):
        WorkflowConfig.model_validate(cfg)


def _sensor_named(cfg: dict, channel: str, name: str | None) -> None:
    """demo_15min's sensor read from the plate's channel ``channel``, named ``name`` in its patches."""
    entry = cfg["datasets"]["demo_15min"]["patches"][0]["channels"][1]
    entry["channel"] = channel
    entry.pop("name", None)
    if name is not None:
        entry["name"] = name


def test_a_sensor_the_other_plate_names_otherwise_is_embedded_under_the_models_name() -> None:
    """The second plate calls the sensor 'mCherry': unnamed, its spec gives another input (the model
    is refused, with the way out in the message); named 'ViralSensor', the model embeds it, by default
    and when named in embed_datasets, and the classifiers trained on the demo apply to it."""
    cfg = config()
    _sensor_named(cfg, "mCherry", None)
    cfg["contrastive_models"]["time_aware_ntxent"]["embed_datasets"] = ["demo", "demo_15min"]
    hint = r"channel 'mCherry' is the signal .* give it name: ViralSensor"
    with pytest.raises(ValidationError, match=hint):
        WorkflowConfig.model_validate(cfg)
    _sensor_named(cfg, "mCherry", "ViralSensor")
    workflow = WorkflowConfig.model_validate(cfg)
    assert workflow.embedded_datasets("time_aware_ntxent") == ["demo", "demo_15min"]
    spec = workflow.datasets["demo_15min"].patch_spec("phase_sensor")
    assert spec.channel_names() == ["phase:Phase3D", "raw:ViralSensor"]
    assert spec.channel_labels() == workflow.datasets["demo"].patch_spec("phase_sensor").channel_labels()
    cfg = config()
    _sensor_named(cfg, "mCherry", "ViralSensor")  # by default too, and apply_to: [demo_15min] is served
    assert WorkflowConfig.model_validate(cfg).embedded_datasets("time_aware_ntxent") == ["demo", "demo_15min"]


def test_a_name_that_is_not_the_models_channel_is_still_refused() -> None:
    cfg = config()
    _sensor_named(cfg, "mCherry", "RFP")
    cfg["contrastive_models"]["time_aware_ntxent"]["embed_datasets"] = ["demo", "demo_15min"]
    with pytest.raises(ValidationError, match=r"channels .*'RFP'.* vs .*'ViralSensor'"):
        WorkflowConfig.model_validate(cfg)
    _sensor_named(cfg, "ViralSensor", "RFP")  # the plate's channel is the model's, its name is not
    with pytest.raises(ValidationError, match=r"channels .*'RFP'.* vs .*'ViralSensor'"):
        WorkflowConfig.model_validate(cfg)


def test_phase_read_from_the_raw_plate_is_pointed_to_the_phase_source() -> None:
    """A plate that already holds phase (phase: null): its Phase3D read as source 'raw' is another
    input than a model's reconstructed phase (refused, pointing to source 'phase'); as source 'phase',
    which such a dataset reads from its raw plate, the model embeds it."""
    cfg = config()
    cfg["datasets"]["demo_15min"]["phase"] = None
    cfg["contrastive_models"]["time_aware_ntxent"]["embed_datasets"] = ["demo", "demo_15min"]
    channels = cfg["datasets"]["demo_15min"]["patches"][0]["channels"]
    channels[0]["source"] = "raw"
    with pytest.raises(ValidationError, match=r"phase: null reads source 'phase' from its raw plate"):
        WorkflowConfig.model_validate(cfg)
    channels[0]["source"] = "phase"
    assert WorkflowConfig.model_validate(cfg).embedded_datasets("time_aware_ntxent") == ["demo", "demo_15min"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"train_datasets": []}, "give exactly one of 'train_datasets'"),
        ({"checkpoint": "model.ckpt"}, "give exactly one of 'train_datasets'"),  # both
        ({"train_datasets": ["demo", "demo"]}, r"\['demo'\] listed more than once"),
        ({"train_datasets": ["nowhere"]}, "train_datasets: 'nowhere' is not a dataset"),
        ({"embed_datasets": ["nowhere"]}, "embed_datasets: 'nowhere' is not a dataset"),
        ({"checkpoint_format": "viscy"}, "checkpoint_format is only read with 'checkpoint'"),
        ({"dataset": "demo"}, "dataset"),  # the old key is unknown: extra keys are errors
    ],
)
def test_bad_model_entries_are_refused_naming_the_key(entry: dict, message: str) -> None:
    cfg = config()
    cfg["contrastive_models"]["time_aware_ntxent"].update(entry)
    with pytest.raises(ValidationError, match=message):
        WorkflowConfig.model_validate(cfg)


def test_classifiers_train_on_and_apply_to_name_datasets() -> None:
    cfg = config()
    cfg["analysis"]["classification"]["train_on"] = ["nowhere"]
    with pytest.raises(ValidationError, match=r"train_on: \['nowhere'\] are not datasets"):
        WorkflowConfig.model_validate(cfg)
    cfg = config()
    cfg["analysis"]["classification"]["apply_to"] = ["elsewhere"]
    with pytest.raises(ValidationError, match=r"apply_to: \['elsewhere'\] are not datasets"):
        WorkflowConfig.model_validate(cfg)
    cfg = config()
    cfg["datasets"]["plate"] = {"plate": "/data/plate.zarr"}
    cfg["analysis"]["classification"]["train_on"] = ["plate"]
    with pytest.raises(ValidationError, match=r"\['plate'\] have no annotations"):
        WorkflowConfig.model_validate(cfg)


def test_baseline_datasets_name_datasets() -> None:
    cfg = config()
    cfg["analysis"]["baseline_datasets"] = ["demo", "nowhere"]
    with pytest.raises(ValidationError, match=r"analysis.baseline_datasets: \['nowhere'\] are not datasets"):
        WorkflowConfig.model_validate(cfg)


def test_baseline_datasets_no_model_embeds_are_refused() -> None:
    """Baselines embed with the patch spec of a model embedding the dataset: a dataset no model embeds
    (or a config without models) would silently get no baseline row, the run ending 'done'."""
    cfg = config()
    cfg["analysis"]["baseline_datasets"] = ["demo"]
    cfg["contrastive_models"] = {}
    refused = r"baseline_datasets: \['demo'\] are embedded by no contrastive model"
    with pytest.raises(ValidationError, match=refused):
        WorkflowConfig.model_validate(cfg)


def test_the_spec_contract_ignores_storage_and_focus_only() -> None:
    spec = PatchSpec.model_validate(
        {
            "name": "s",
            "channels": [{"source": "raw", "channel": "ViralSensor", "normalization": "zscore"}],
            "z_range": [2, 7],
        }
    )
    same = spec.model_copy(update={"storage_dtype": "float32", "patches_per_shard": 8, "z_range": (0, 5)})
    assert spec_contract(spec) == spec_contract(same)
    assert spec_contract(spec) != spec_contract(spec.model_copy(update={"z_range": (0, 4)}))
    assert spec_contract(spec) != spec_contract(spec.model_copy(update={"normalize_per_time_point": True}))


def test_the_first_page_describes_where_each_datasets_annotations_come_from() -> None:
    """A plate without annotations says so on the report's first page, which then holds no classifier
    score of it (rather than leaving the section out without a word)."""
    cfg = config()
    cfg["datasets"]["bare"] = {"plate": "/data/bare.zarr"}
    cfg["datasets"]["labelled"] = {
        "plate": "/data/labelled.zarr",
        "annotations": {"table": "/data/labels.csv", "tasks": ["infection"]},
    }
    workflow = WorkflowConfig.model_validate(cfg)
    bare = workflow.datasets["bare"].description()
    assert bare.startswith("HCS OME-Zarr plate /data/bare.zarr")
    assert "no annotations (no classifier is trained or scored on it)" in bare
    labelled = workflow.datasets["labelled"].description()
    assert "annotations (infection) from /data/labels.csv" in labelled and "no annotations" not in labelled
    assert "one frame every" not in bare  # the interval is the plate's, given by the Snakefile
    at_7_min = workflow.datasets["bare"].description(7.0)
    assert "HCS OME-Zarr plate /data/bare.zarr, one frame every 7 min," in at_7_min
    still = workflow.datasets["bare"].description(7.0, n_frames=1)  # no interval between frames
    assert "HCS OME-Zarr plate /data/bare.zarr, still images (one time point)," in still
    assert "one frame every" not in still
    assert "ground truth known" in workflow.datasets["demo"].description()
    assert "no annotations" not in workflow.datasets["demo"].description()


def test_the_first_page_names_the_format_and_files_imported_tracks_come_from() -> None:
    """Imported tracks are named on the report's first page by their format and path (the pattern of a
    file per FOV), as annotations from a table are: "tracks imported" alone left a reader of the report
    unable to tell TrackMate's tracks from a table's."""
    cfg = config()
    cfg["datasets"]["fiji"] = {
        "plate": "/data/fiji.zarr",
        "tracks": {"format": "trackmate", "path": "/data/tm/{row}_{col}_{fov}.xml"},
    }
    cfg["datasets"]["table"] = {
        "plate": "/data/table.zarr",
        "tracks": {"format": "table", "path": "/data/tracks.csv"},
    }
    workflow = WorkflowConfig.model_validate(cfg)
    assert ", tracks imported from TrackMate XML files /data/tm/{row}_{col}_{fov}.xml," in (
        workflow.datasets["fiji"].description(7.0)
    )
    assert ", tracks imported from table /data/tracks.csv," in workflow.datasets["table"].description()
    assert "tracks imported" not in workflow.datasets["demo"].description()


def test_the_patch_size_advice_counts_each_specs_pixel_size_um() -> None:
    """The model's patches are resampled to 0.65 µm from a 0.325 µm plate; a 0.65 µm dataset given 96
    px differs in its patch size alone: the refusal advised "48 px and pixel_size_um: 0.325" (the
    model's plate's pixels). A spec already resampling, to 0.5 µm, is advised the model's 0.65 µm,
    not told it is not resampled."""
    cfg = config()
    cfg["datasets"]["demo"]["simulate"]["pixel_size_um"] = 0.325
    cfg["datasets"]["demo"]["patches"][0]["pixel_size_um"] = 0.65
    message = _patch_size_refusal(cfg, 96)
    assert "resample" not in message and "pixel_size_um: 0.325" not in message
    cfg = _half_pixel_size()
    cfg["datasets"]["demo_15min"]["patches"][0]["pixel_size_um"] = 0.5
    message = _patch_size_refusal(cfg, 64)
    assert "not resampled" not in message
    assert "the spec resamples its patches to pixel_size_um: 0.5, not the model's 0.65 µm" in message
    assert "Give the spec 48 px, the model's, and pixel_size_um: 0.65 to resample" in message
