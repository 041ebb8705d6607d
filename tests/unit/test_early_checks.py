"""The config checked against the plates' metadata before any job runs: `snakemake -n` fails with
one line per problem naming the key, what was expected and what was found.

The plans are built in this process (``planned_jobs`` of test_stage_contract, a dry run of about a
second); one test runs ``snakemake -n`` itself to show what a person sees.
"""

from __future__ import annotations

import copy
import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO_ROOT
from iohub.ngff import open_ome_zarr
from plate_helpers import (
    edit_position_metadata,
    ome_attributes,
    record_position_reads,
    rename_position,
    write_plate,
)
from snakemake.io import is_flagged
from snakemake_interface_common.exceptions import WorkflowError
from test_stage_contract import planned_jobs

from dynaclr.config.plate_checks import workflow_problems
from dynaclr.config.workflow import WorkflowConfig
from dynaclr.io.plate import IOHUB_DEFAULT_SCALE, PlateLayout, read_plate_layout, read_plate_sampling

#: (T, C, Z, Y, X) of the test plate: 6 frames at 10 min, 3 slices of 64 x 64 px.
SHAPE = (6, 2, 3, 64, 64)
FOVS = ["A/1/Pos0", "A/1/Pos1", "B/2/Pos0"]


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plate of one's own: OME-Zarr position names like `Pos0`, channels Nuclei and Sensor."""
    return write_plate(tmp_path_factory.mktemp("own") / "own.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)


def plate_config(plate: Path) -> dict[str, Any]:
    """A dataset on ``plate`` (no phase, tracking on its Nuclei channel), one time-aware model."""
    return {
        "datasets": {
            "mine": {
                "plate": str(plate),
                "phase": None,
                "tracking_input": {"source": "raw", "channel": "Nuclei"},
                "patches": [
                    {
                        "name": "sensor",
                        "channels": [{"source": "raw", "channel": "Sensor", "normalization": "median_p99"}],
                        "z_window_slices": 1,
                        "patch_size_yx_px": 32,
                    }
                ],
            }
        },
        "contrastive_models": {
            "m": {
                "train_datasets": ["mine"],
                "training": {
                    "patch_spec": "sensor",
                    "sampling": "time_aware",
                    "tau_frames": 1,
                    "backbone": "convnext_atto",
                },
            }
        },
        "analysis": {"baselines": ["engineered_features"]},
    }


def plan(config: dict[str, Any], workdir: Path) -> Counter[str]:
    """Jobs per rule of a dry run of ``config`` in ``workdir``."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return Counter(job.rule.name for job in planned_jobs(configfile, workdir))


def refused(config: dict[str, Any], workdir: Path) -> str:
    """The message of the dry run that refuses ``config``."""
    with pytest.raises(WorkflowError) as raised:
        plan(config, workdir)
    return str(raised.value)


def test_pos0_fov_names_are_planned(plate: Path, tmp_path: Path) -> None:
    config = plate_config(plate)
    # what the user knows of the acquisition agrees with the plate's metadata (within 1 %)
    config["datasets"]["mine"]["acquisition"] = {"time_interval_minutes": 10.05, "pixel_size_um": 0.65}
    jobs = plan(config, tmp_path)
    assert jobs["track_fov"] == jobs["extract_patches"] == len(FOVS)
    assert jobs["train_contrastive"] == 1


def test_virtual_staining_from_a_checkpoint_needs_no_nuclear_channel(plate: Path, tmp_path: Path) -> None:
    """A trusted network predicts nuclei on a label-free plate: no training, no target channel needed."""
    weights = tmp_path / "vs.pt"
    weights.write_bytes(b"")  # planning only reads the path
    config = plate_config(plate)
    config["datasets"]["mine"].update(
        virtual_stain={"input_channel": "Sensor", "target_channel": "DAPI", "checkpoint": str(weights)},
        tracking_input={"source": "virtual_stain", "channel": "nuclei_prediction"},
    )
    jobs = plan(config, tmp_path)
    assert "train_virtual_stain" not in jobs
    assert jobs["predict_virtual_stain"] == jobs["track_fov"] == len(FOVS)
    config["datasets"]["mine"]["virtual_stain"] = {
        "input_channel": "Sensor",
        "target_channel": "DAPI",
        "train": {"train_fovs": ["A/1/Pos0"]},
    }
    message = refused(config, tmp_path)
    assert "virtual_stain.target_channel: expected a channel of the raw plate" in message
    assert "virtual_stain.checkpoint" in message


def test_a_plate_fov_name_with_shell_characters_is_refused_at_parse_time(plate: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zarr"
    import shutil

    shutil.copytree(plate, bad)
    rename_position(bad, "A/1/Pos1", "Pos 1")
    message = refused(plate_config(bad), tmp_path)
    assert "datasets.mine.plate:" in message and "bad.zarr" in message and "'A/1/Pos 1'" in message


def test_a_plate_in_another_axis_order_is_refused_at_parse_time(tmp_path: Path) -> None:
    plate = write_plate(tmp_path / "czt.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE, channel_first=True)
    message = refused(plate_config(plate), tmp_path)
    assert (
        "datasets.mine.plate:" in message and "arrays are stored with axes (c [channel], t [time]" in message
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting the dotted ``path`` (list items by index) of a config to ``value``."""

    def edit(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return edit


CASES = {
    "brightfield channel": (
        _set("datasets.mine.phase", {}),
        [
            "datasets.mine.phase.brightfield_channel: expected a channel of the raw plate (",
            "found 'Brightfield'",
        ],
    ),
    "tracking channel": (
        _set("datasets.mine.tracking_input.channel", "DAPI"),
        ["datasets.mine.tracking_input.channel: expected a channel of the raw plate", "found 'DAPI'"],
    ),
    "patch channel": (
        _set("datasets.mine.patches.0.channels.0.channel", "GFP"),
        [
            "datasets.mine.patches[sensor].channels[0].channel: expected a channel of the raw source (",
            "'GFP'",
        ],
    ),
    "phase null without Phase3D": (
        _set(
            "datasets.mine.patches.0.channels.0",
            {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
        ),
        [
            "datasets.mine.patches[sensor].channels[0].channel: expected a channel of the phase source, "
            "the raw plate with phase: null ("
        ],
    ),
    "acquisition the metadata contradicts": (
        _set(
            "datasets.mine.acquisition", {"time_interval_minutes": 7, "pixel_size_um": 0.65, "z_step_um": 1.0}
        ),
        [
            "datasets.mine.acquisition.time_interval_minutes: expected 7 (config), found 10 in the metadata",
            "datasets.mine.acquisition.z_step_um: expected 1 (config), found 2 in the metadata",
            # the interval is the attribute's where the plate has one: correcting the scale alone is refused
            "correct the plate's metadata (its time scale, and its time_interval_minutes attribute where it "
            "has one: the two must agree) or the config",
            "correct the plate's metadata (its scale transform) or the config",
        ],
    ),
    "virtual staining channels": (
        _set(
            "datasets.mine.virtual_stain", {"target_channel": "DAPI", "train": {"train_fovs": ["A/1/Pos0"]}}
        ),
        [
            "datasets.mine.virtual_stain.target_channel: expected a channel of the raw plate",
            "datasets.mine.virtual_stain.input_channel: expected a channel of the phase input, "
            "the raw plate with phase: null (",
        ],
    ),
    "tracking the virtual staining's channel": (
        lambda config: config["datasets"]["mine"].update(
            virtual_stain={
                "target_channel": "Nuclei",
                "input_channel": "Sensor",
                "train": {"train_fovs": ["A/1/Pos0"]},
            },
            tracking_input={"source": "virtual_stain", "channel": "nuclei"},
        ),
        [
            "datasets.mine.tracking_input.channel: expected a channel of the virtual-staining plate",
            "found 'nuclei'",
        ],
    ),
    "virtual staining FOVs": (
        _set("datasets.mine.virtual_stain", {"target_channel": "Nuclei", "input_channel": "Sensor"}),
        [
            "datasets.mine.virtual_stain.train.train_fovs: expected FOVs of the plate",
            "found ['A/1/0', 'B/1/0']",
        ],
    ),
    "tau frames": (
        _set("contrastive_models.m.training.tau_frames", 9),
        [
            "contrastive_models.m.training.tau_frames: expected a tau of at most 6 frames "
            "(dataset 'mine' has 6 frames",
            "found 9 frames",
        ],
    ),
    "tau minutes": (
        _set("contrastive_models.m.training", {"patch_spec": "sensor", "tau_minutes": 120}),
        [
            "contrastive_models.m.training.tau_minutes: expected a tau of at most 6 frames",
            "12 frames at the plate's 10 min",
        ],
    ),
    "contrastive backbone": (
        _set("contrastive_models.m.training.backbone", "convnext_tinny"),
        [
            "contrastive_models.m.training.backbone: expected a timm backbone",
            "found 'convnext_tinny'",
            "'convnext_tiny'",
        ],
    ),
    "virtual staining backbone": (
        _set(
            "datasets.mine.virtual_stain",
            {
                "backbone": "convnext_huge",
                "target_channel": "Nuclei",
                "input_channel": "Sensor",
                "train": {"train_fovs": ["A/1/Pos0"]},
            },
        ),
        [
            "datasets.mine.virtual_stain.backbone: expected a timm backbone the virtual-staining UNet",
            "'convnext_huge'",
        ],
    ),
    "patch window": (
        _set("datasets.mine.patches.0.patch_size_yx_px", 48),
        [
            "datasets.mine.patches[sensor]: expected a patch window that fits the images",
            "64 x 64 px), found 88 px",
        ],
    ),
    "tracking slices beyond the stack": (
        _set("datasets.mine.tracking", {"maps": {"z_slice_range": [1, 5]}}),
        [
            "datasets.mine.tracking.maps.z_slice_range: expected a range within the 3 slice(s) of the "
            "tracking input",
            "found [1, 5]; use a stop <= 3",
        ],
    ),
    "a stem kernel that does not divide the patch depth": (
        lambda config: config["contrastive_models"]["m"]["training"].update(stem_kernel_z=2),
        [
            "contrastive_models.m.training.stem_kernel_z: expected a kernel that divides the depth of the "
            "patches of datasets.mine.patches[sensor] (1 slice(s)), found 2",
        ],
    ),
    # a dataset the model trains on but does not embed was never checked: training failed after the
    # stages before it had run
    "a stem kernel that does not divide the depth of a dataset trained on, not embedded": (
        lambda config: (
            config["contrastive_models"]["m"]["training"].update(stem_kernel_z=2),
            config["contrastive_models"]["m"].update(embed_datasets=[]),
            config["datasets"]["mine"]["patches"][0].update(z_window_slices=3),
        ),
        [
            "contrastive_models.m.training.stem_kernel_z: expected a kernel that divides the depth of the "
            "patches of datasets.mine.patches[sensor] (3 slice(s)), found 2",
        ],
    ),
    "validation FOVs": (
        _set("contrastive_models.m.training.validation_fovs", ["A/1/0"]),
        ["contrastive_models.m.training.validation_fovs: expected FOVs of the plate", "found ['A/1/0']"],
    ),
    "a validation fraction that leaves no training FOV": (
        _set("contrastive_models.m.training.validation_fraction", 0.9),
        [
            "contrastive_models.m.training.validation_fraction: expected a fraction that leaves a training "
            "FOV (dataset 'mine' has 3 FOV(s)",
            "hold out 3 for validation), found 0.9",
        ],
    ),
    "validation FOVs that leave no training FOV": (
        _set("contrastive_models.m.training.validation_fovs", FOVS),
        ["contrastive_models.m.training.validation_fovs: expected a list that leaves a FOV for training"],
    ),
    "conditions of wells the plate lacks": (
        _set("datasets.mine.conditions", {"A/1": "mock", "C/3": "infected"}),
        ["datasets.mine.conditions: wells ['C/3'] are not in", "whose wells are ['A/1', 'B/2']"],
    ),
    "a model file that is not there": (
        lambda config: config["contrastive_models"].update(
            loaded={
                "checkpoint": "nowhere/model.ckpt",
                "training": {"patch_spec": "sensor", "sampling": "classical"},
            }
        ),
        ["contrastive_models.loaded.checkpoint: expected a model file, found nothing at nowhere/model.ckpt"],
    ),
    "a virtual-staining checkpoint that is not there": (
        _set(
            "datasets.mine.virtual_stain",
            {"input_channel": "Sensor", "input_depth_slices": 1, "checkpoint": "models/vs_dic.ckpt"},
        ),
        [
            "datasets.mine.virtual_stain.checkpoint: expected a model file, found nothing at "
            "models/vs_dic.ckpt; fetch it once (README: Images as they are)"
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_config_that_does_not_fit_the_plate_fails_the_dry_run(
    case: str, plate: Path, tmp_path: Path
) -> None:
    edit, expected = CASES[case]
    config = plate_config(plate)
    edit(config)
    message = refused(config, tmp_path)
    assert message.startswith("The config does not fit the data")
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"
    assert not (tmp_path / "results").exists()


def test_conditions_of_wells_the_tiff_files_lack_point_to_the_positions_map(plate: Path) -> None:
    """TIFF files without ``tiff.positions`` become FOVs of well A/1 (README); conditions naming B/1
    were refused with "not in results/<dataset>/raw.zarr" (a plate not yet written, made from the
    files) and "correct the well names", leaving the map of positions to wells unsaid. The message
    names the files and the key that places positions in wells; a plate dataset's stays as it was."""
    config = plate_config(plate)
    config["datasets"]["mine"]["conditions"] = {"A/1": "mock", "C/3": "infected"}
    layouts = {"mine": read_plate_layout(plate)}

    def conditions_line(config: dict[str, Any]) -> str:
        problems = workflow_problems(WorkflowConfig.model_validate(config), layouts, "results")
        (line,) = [p for p in problems if "conditions" in p]
        return line

    assert conditions_line(config).endswith(
        f"wells ['C/3'] are not in {plate}, whose wells are ['A/1', 'B/2']; "
        "correct the well names (row/column)"
    )
    del config["datasets"]["mine"]["plate"]
    config["datasets"]["mine"]["tiff"] = {"files": "tiffs/{position}.ome.tif"}
    assert conditions_line(config) == (
        "datasets.mine.conditions: wells ['C/3'] are not among the FOVs of the TIFF files "
        "tiffs/{position}.ome.tif (without tiff.positions every position is a FOV of well A/1), whose "
        "wells are ['A/1', 'B/2']; map each position to its FOV (row/column/fov) with "
        "datasets.mine.tiff.positions, e.g. {Pos0: A/1/0, Pos1: B/1/0}, or correct the well names"
    )


def test_a_simulated_dataset_is_checked_against_its_simulate_config(tmp_path: Path) -> None:
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["contrastive_models"]["time_aware"]["training"]["tau_frames"] = 20  # the tiny movie has 12 frames
    message = refused(config, tmp_path)
    assert "contrastive_models.time_aware.training.tau_frames: expected a tau of at most 12 frames" in message
    assert "results/tiny/raw.zarr" in message


def test_a_single_fov_dataset_with_the_default_validation_fraction_fails_the_dry_run(tmp_path: Path) -> None:
    """One FOV cannot be split into training and validation, nor into the classifiers' folds: refused
    before simulating, not after phase, tracking, patches (and training) ran."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["wells"] = config["datasets"]["tiny"]["simulate"]["wells"][1:]
    message = refused(config, tmp_path)
    for model in ("time_aware", "classical"):
        assert (
            f"contrastive_models.{model}.training.validation_fraction: expected a fraction that leaves a "
            "training FOV (dataset 'tiny' has 1 FOV(s) in results/tiny/raw.zarr"
        ) in message
    config["contrastive_models"]["time_aware"]["training"]["validation_fraction"] = 0
    config["contrastive_models"]["classical"]["training"]["validation_fraction"] = 0
    # nor can one FOV give the classifiers' FOV-grouped folds (classify failed after training)
    message = refused(config, tmp_path)
    assert (
        "analysis.classification.train_on: expected at least 2 FOVs in each dataset whose annotations "
        "train classifiers (cross-validated on folds grouped by FOV), found 1 in dataset 'tiny' "
        "(results/tiny/raw.zarr)"
    ) in message
    assert "validation_fraction" not in message
    config["analysis"]["classification"] = {"train_on": [], "apply_to": []}
    config["analysis"]["occlusion"] = {"enabled": False}  # no classifier to attribute: refused when on
    planned = plan(config, tmp_path)
    assert planned["train_contrastive"] == 2
    assert "classify" not in planned


def test_a_plate_with_one_infected_fov_is_warned_that_no_fold_scores_an_infected_cell() -> None:
    """The tiny plate (A/1/0 mock, B/1/0 infected): the infection classifier's folds are grouped by
    FOV, so the fold testing B/1/0 trains on no infected cell and no infected cell is ever scored; the
    run said "no cell scored" after training. The plan says why and what to do, from the wells alone;
    a second infected FOV, or infection not classified, says nothing."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.plate_checks import workflow_warnings

    def warnings_of(config: dict[str, Any]) -> list[str]:
        return workflow_warnings(*_simulated_layouts(config))

    config = tiny_workflow_config()
    assert warnings_of(config) == [
        "datasets.tiny.simulate: set fovs_per_well to 2 or more, or give another well an infected_fraction "
        "above 0: only FOV B/1/0 of 2 can hold 'infected' cells, and the infection classifier's folds are "
        "grouped by FOV: the fold testing B/1/0 trains on no 'infected' cell and is skipped, so no "
        "'infected' cell is scored and its F1 will not be computed (with one FOV of each class, every "
        "fold's training FOVs hold only uninfected or only infected cells)"
    ]
    two_fovs = copy.deepcopy(config)
    two_fovs["datasets"]["tiny"]["simulate"]["fovs_per_well"] = 2
    assert warnings_of(two_fovs) == []
    division_only = copy.deepcopy(config)
    division_only["analysis"]["classification"]["tasks"] = ["division"]
    assert warnings_of(division_only) == []


def test_a_phase_pixel_size_overriding_another_the_plate_states_is_warned_at_planning() -> None:
    """A phase config tuned for a 0.2 µm plate (``yx_pixel_size_um: 0.2``) copied to a dataset whose
    plate states 0.65 µm reconstructed the phase with 0.2 µm pixels, exit 0 and no word; the override
    is the fix for wrong metadata, so the plan warns, naming the key, both values and the ratio. An
    override equal to the metadata says nothing."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.plate_checks import workflow_warnings

    config = tiny_workflow_config()
    config["analysis"]["classification"]["tasks"] = ["division"]
    config["datasets"]["tiny"]["phase"] = {"yx_pixel_size_um": 0.2, "z_step_um": 2.5}
    assert workflow_warnings(*_simulated_layouts(config)) == [
        "datasets.tiny.phase.yx_pixel_size_um: 0.2 µm overrides the pixel size 0.65 µm of "
        "results/tiny/raw.zarr (0.308 times): the phase is reconstructed, and the stages reading its "
        "plate count, in 0.2 µm. Keep it only if the plate's metadata is wrong; remove it for a phase "
        "config copied from another dataset"
    ]
    config["datasets"]["tiny"]["phase"] = {"yx_pixel_size_um": 0.65, "z_step_um": 2.5}
    assert workflow_warnings(*_simulated_layouts(config)) == []


def test_a_warmup_as_long_as_the_training_is_warned_at_planning() -> None:
    """``warmup_epochs >= epochs`` (e.g. ``epochs: 1`` with the default warm-up of 1 epoch) was
    accepted without a word: the learning rate rises over every step and never decays. It stays
    accepted (short test runs use it), and the plan warns, naming both keys and values; a warm-up
    shorter than the training says nothing."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.plate_checks import workflow_warnings

    config = tiny_workflow_config()
    config["analysis"]["classification"]["tasks"] = ["division"]
    models = config["contrastive_models"]
    name = next(iter(models))
    assert models[name]["training"]["epochs"] == 1
    assert workflow_warnings(*_simulated_layouts(config)) == []  # a warm-up of 0.5 epochs
    models[name]["training"]["warmup_epochs"] = 1
    key = f"contrastive_models.{name}.training"
    assert workflow_warnings(*_simulated_layouts(config)) == [
        f"{key}.warmup_epochs (1) is not below {key}.epochs (1): the learning rate rises over the whole "
        "training and never decays (the cosine decay follows the warm-up), so the model ends at its peak "
        "learning rate; set warmup_epochs below epochs (the paper's configs warm up 2 of 50 epochs)"
    ]


def test_an_annotation_table_with_a_class_in_one_fov_is_warned_at_planning(
    plate: Path, tmp_path: Path
) -> None:
    """The simulated plate with one infected FOV was warned at planning; a table whose classes each
    sit in one FOV was not: every FOV-grouped fold trained on one class, and the run said so only
    after fitting. The plan now names the dataset, the table, the classes and their FOVs; a class
    in one FOV only (the other in two) loses the F1; both classes in two FOVs say nothing."""
    from dynaclr.classify.annotation_table import single_fov_class_warnings

    table = tmp_path / "mine.csv"

    def warnings_of(rows: list[str]) -> list[str]:
        table.write_text("fov_name,track_id,t,task,label\n" + "".join(f"{row}\n" for row in rows))
        config = plate_config(plate)
        config["datasets"]["mine"]["annotations"] = {"table": str(table), "tasks": ["infection"]}
        workflow = WorkflowConfig.model_validate(config)
        return single_fov_class_warnings(workflow, {"mine": [str(table)]}, {"mine": FOVS})

    one_each = ["A/1/Pos0,1,0,infection,uninfected", "B/2/Pos0,1,0,infection,infected"]
    assert warnings_of(one_each) == [
        f"datasets.mine.annotations.table ({table}): the infection annotations hold only 'uninfected' "
        "cells in FOV A/1/Pos0 and only 'infected' cells in FOV B/2/Pos0: every cross-validation fold's "
        "training FOVs hold only uninfected or only infected cells (2 annotated FOVs, folds grouped by "
        "FOV), so every infection fold will be skipped and no annotated cell will be scored; annotate "
        "both classes in more FOVs, or image more FOVs per condition"
    ]
    two_negative_fovs = [*one_each, "A/1/Pos1,2,3,infection,uninfected"]
    assert warnings_of(two_negative_fovs) == [
        f"datasets.mine.annotations.table ({table}): annotate 'infected' cells of another FOV: only FOV "
        "B/2/Pos0 of the 3 annotated FOVs holds 'infected' infection annotations, and the classifier's "
        "folds are grouped by FOV: the fold testing B/2/Pos0 will train on no 'infected' cell and be "
        "skipped, so no 'infected' cell will be scored and its F1 and AUROC will not be computed"
    ]
    assert warnings_of([*two_negative_fovs, "A/1/Pos1,2,4,infection,infected"]) == []
    # a malformed table is the import's to refuse, naming the problem: no line here
    assert warnings_of(["A/1/Pos0,1,0,infection,uninfected", "A/1/Pos0,2,0,infection,infected"]) == []


def infection_table_config(
    plate: Path, tmp_path: Path
) -> tuple[dict[str, Any], Path, Callable[[dict[str, Any], str], list[str]]]:
    """:func:`plate_config` with an annotation table of one infection row, the table, and a function
    giving the planning warnings of a config that hold a text."""
    from dynaclr.config.plate_checks import workflow_warnings

    table = tmp_path / "mine.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    config = plate_config(plate)
    config["datasets"]["mine"]["annotations"] = {"table": str(table), "tasks": ["infection"]}
    layouts = {"mine": read_plate_layout(plate)}

    def warned(config: dict[str, Any], text: str) -> list[str]:
        return [w for w in workflow_warnings(WorkflowConfig.model_validate(config), layouts) if text in w]

    return config, table, warned


def test_an_annotation_table_no_model_reads_is_warned_at_planning(plate: Path, tmp_path: Path) -> None:
    """A plate dataset given its annotation table but no patches (the README's own-data snippets, each
    alone) planned no import, no classifier and no score, and the run ended without a word about the
    table. The plan says the annotations will not be read and what to add; a dataset some model
    embeds says nothing."""
    config, table, warned = infection_table_config(plate, tmp_path)

    def unread(config: dict[str, Any]) -> list[str]:
        return warned(config, "will not be read")

    assert unread(config) == []
    no_patches = copy.deepcopy(config)
    no_patches["datasets"]["mine"]["patches"] = []
    del no_patches["contrastive_models"], no_patches["analysis"]
    assert unread(no_patches) == [
        f"datasets.mine.annotations.table ({table}): these annotations will not be read: dataset 'mine' has "
        "no patches, so no contrastive model embeds it, and classifiers learn from and are scored on "
        "embeddings only; give datasets.mine.patches a spec named as a model's training.patch_spec and "
        "name the dataset in that model's train_datasets or embed_datasets (README: Models and classifiers "
        "across datasets)"
    ]
    patches_only = copy.deepcopy(config)
    del patches_only["contrastive_models"], patches_only["analysis"]
    (line,) = unread(patches_only)
    assert "no contrastive model embeds dataset 'mine' (none lists it in train_datasets or" in line


def test_the_planning_warning_leaves_the_tables_own_log_lines_to_the_import(
    plate: Path, tmp_path: Path, caplog
) -> None:
    """The planning warning read the table through the import's checks, which logged a repeated row
    (WARNING) and respelled labels (INFO) again at every start of the main process, before any job
    ran; those are rule import_annotations' to say. The plan's own line is still given."""
    from dynaclr.classify.annotation_table import single_fov_class_warnings

    table = tmp_path / "mine.csv"
    repeated = "A/1/Pos0,1,0,infection,Uninfected"  # respelled label, and the row twice
    rows = [repeated, repeated, "B/2/Pos0,1,0,infection,infected"]
    table.write_text("fov_name,track_id,t,task,label\n" + "".join(f"{row}\n" for row in rows))
    config = plate_config(plate)
    config["datasets"]["mine"]["annotations"] = {"table": str(table), "tasks": ["infection"]}
    workflow = WorkflowConfig.model_validate(config)
    with caplog.at_level("DEBUG", logger="dynaclr.classify.annotation_table"):
        (line,) = single_fov_class_warnings(workflow, {"mine": [str(table)]}, {"mine": FOVS})
    assert [r.getMessage() for r in caplog.records if r.name == "dynaclr.classify.annotation_table"] == []
    assert "every infection fold will be skipped" in line


def test_a_model_read_from_a_file_is_not_checked_for_a_training_split() -> None:
    """An imported model trains on nothing: a validation split copied into its training block (from
    the model it was trained as) is no problem."""
    from dynaclr.config.plate_checks import simulated_layout
    from dynaclr.config.workflow import load_config

    config = load_config(REPO_ROOT / "config" / "config.yaml").model_dump(mode="json")
    config["contrastive_models"]["viscy_fixture"]["training"]["validation_fovs"] = ["A/1/0"]
    validated = WorkflowConfig.model_validate(config)
    layouts = {
        name: simulated_layout(dataset.simulate, f"results/{name}/raw.zarr")
        for name, dataset in validated.datasets.items()
        if dataset.simulate is not None
    }
    problems = workflow_problems(validated, layouts, "results")
    assert not [problem for problem in problems if "validation_fovs" in problem], problems


@pytest.mark.parametrize(("phase_mode", "refused"), [("2d", True), ("3d", False)])
def test_the_tracking_slice_range_is_checked_against_the_virtual_stain_of_a_2d_phase(
    phase_mode: str, refused: bool
) -> None:
    """Tracking the virtual stain of a 2d phase plate reads one slice: a z_slice_range the raw stacks
    hold failed the track job, after phase and virtual staining had run."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.plate_checks import simulated_layout

    config = tiny_workflow_config()
    config["datasets"]["tiny"].update(
        phase={"mode": phase_mode},
        virtual_stain={"train": {"train_fovs": ["A/1/0"]}},
        tracking={"maps": {"z_slice_range": [0, 3]}},
    )
    validated = WorkflowConfig.model_validate(config)
    layout = simulated_layout(validated.datasets["tiny"].simulate, "results/tiny/raw.zarr")
    problems = [
        problem
        for problem in workflow_problems(validated, {"tiny": layout}, "results")
        if "z_slice_range" in problem
    ]
    expected = (
        "datasets.tiny.tracking.maps.z_slice_range: expected a range within the 1 slice(s) of the tracking "
        "input results/tiny/virtual_stain.zarr (a 2d phase plate, and the virtual stain predicted from it, "
        "has one slice), found [0, 3]"
    )
    assert [problem.split(";")[0] for problem in problems] == ([expected] if refused else [])


#: The tracking keys that count pixels of a length, scaled from the defaults' 0.65 µm to 0.2 µm pixels.
SCALED_TO_0_2_UM = {
    "maps": {"smoothing_sigma_px": 3.25},
    "segmentation": {"min_area_px": 634, "max_area_px": 4753},
    "linking": {"max_distance_px": 65.0, "distance_weight_per_px": 0.00308},
    "solver": {"image_border_px": 32},
    "gap_closing": {"max_distance_px": 48.8},
}


#: Every tracking key that counts pixels of a length, given (at its default value).
TRACKING_SIZES_GIVEN = {
    "maps": {"smoothing_sigma_px": 1.0},
    "segmentation": {"min_area_px": 60, "max_area_px": 450},
    "linking": {"max_distance_px": 20.0, "distance_weight_per_px": 0.01},
    "solver": {"image_border_px": 10},
    "gap_closing": {"max_distance_px": 15.0},
}


def test_tracking_sizes_left_at_their_defaults_are_refused_on_a_plate_of_other_pixels(tmp_path: Path) -> None:
    """The tracking sizes in pixels are tuned for 0.65 µm pixels: on a plate of 0.2 µm pixels every nucleus
    (~1960 px) exceeded max_area_px 450 and ultrack cut it into pieces, 14-18 detections a frame for 6
    cells, with exit 0. The dry run names the keys, the plate's pixel size and the values scaled to it;
    the one key given is not among them."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    config["datasets"]["tiny"]["tracking"] = {"solver": {"image_border_px": 30}}
    message = refused(config, tmp_path)
    assert (
        "datasets.tiny.tracking: expected pixel-valued keys set for the 0.2 µm pixels of the tracking input "
        "results/tiny/raw.zarr, found the defaults, meant for 0.65 µm pixels (more than 1.5 times larger or "
        "smaller): maps.smoothing_sigma_px 1, segmentation.min_area_px 60, segmentation.max_area_px 450, "
        "linking.max_distance_px 20, linking.distance_weight_per_px 0.01, gap_closing.max_distance_px 15;"
    ) in message
    assert (
        "e.g. the defaults scaled to 0.2 µm: tracking: {maps: {smoothing_sigma_px: 3.25}, segmentation: "
        "{min_area_px: 634, max_area_px: 4753}, linking: {max_distance_px: 65, distance_weight_per_px: "
        "0.00308}, gap_closing: {max_distance_px: 48.8}}"
    ) in message
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("pixel_size_um", "tracking"),
    [(0.2, SCALED_TO_0_2_UM), (0.5, {}), (0.9, {})],
    ids=["0.2um_keys_given", "0.5um_defaults", "0.9um_defaults"],
)
def test_tracking_sizes_given_or_within_the_tolerance_are_accepted(
    tmp_path: Path, pixel_size_um: float, tracking: dict[str, Any]
) -> None:
    """Keys given in the config are taken as they are; within 1.5 times the defaults' 0.65 µm pixels the
    defaults hold."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = pixel_size_um
    config["datasets"]["tiny"]["tracking"] = tracking
    if tracking:  # the matching radii count pixels of a length too (checked alike)
        config["analysis"]["classification"]["max_match_distance_px"] = 19.5
        config["analysis"]["pseudotime"] = {"max_match_distance_px": 19.5}
        config["analysis"]["occlusion"]["max_match_distance_px"] = 19.5
    assert plan(config, tmp_path)["track_fov"] == 2  # the tiny plate's FOVs


def _pixel_problems(config: dict[str, Any]) -> list[str]:
    """The dry run's problems of the tracking sizes of a config whose datasets are all simulated."""
    return [problem for problem in _simulated_problems(config) if "expected pixel-valued keys" in problem]


@pytest.mark.parametrize("pixel_size_um", [5.0, 12.0])
def test_pixels_too_coarse_for_a_nucleus_are_refused_without_sizes_to_set(pixel_size_um: float) -> None:
    """Scaled with max(1, round(x)), max_area_px became 1 above ~11.3 µm pixels: the block offered
    (min_area_px 1, max_area_px 1) was itself an invalid config. The scaled areas now always validate;
    where the default nucleus covers under 10 pixels, no sizes are offered: nuclei cannot be segmented
    at that sampling."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.tracking import TrackingConfig

    unscaled = TrackingConfig().unscaled_defaults(pixel_size_um)
    sections: dict[str, dict[str, float | None]] = {}
    for key, (_, value) in unscaled.items():
        section, field = key.split(".")
        sections.setdefault(section, {})[field] = value
    scaled = TrackingConfig.model_validate(sections)  # a valid block
    assert (
        2 <= scaled.segmentation.max_area_px
        and scaled.segmentation.min_area_px < scaled.segmentation.max_area_px
    )
    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = pixel_size_um
    (problem,) = _pixel_problems(config)
    assert "nuclei cannot be segmented at this sampling" in problem
    assert "e.g. the defaults scaled" not in problem


def test_a_given_max_area_below_the_scaled_smallest_nucleus_gets_a_valid_block() -> None:
    """With max_area_px given (500) and min_area_px left at its default, scaled to 0.2 µm pixels
    (634), the block offered (min 634 with max 500) was an invalid config. The offered min_area_px
    stays below the given max_area_px, and the message says the given max lies below the scaled
    smallest nucleus."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.tracking import TrackingConfig

    tracking = TrackingConfig.model_validate({"segmentation": {"max_area_px": 500}})
    unscaled = tracking.unscaled_defaults(0.2)
    assert unscaled["segmentation.min_area_px"] == (60, 499)
    TrackingConfig.model_validate({"segmentation": {"max_area_px": 500, "min_area_px": 499}})
    roomy = TrackingConfig.model_validate({"segmentation": {"max_area_px": 5000}})
    assert roomy.unscaled_defaults(0.2)["segmentation.min_area_px"] == (60, 634)
    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    config["datasets"]["tiny"]["tracking"] = {"segmentation": {"max_area_px": 500}}
    (problem,) = _pixel_problems(config)
    assert "segmentation: {min_area_px: 499}, linking:" in problem
    note = "the given segmentation.max_area_px 500 is not above the smallest nucleus scaled to 0.2 µm"
    assert f"{note} (634 px)" in problem


def test_tracking_sizes_harm_is_worded_by_the_direction_of_the_pixels() -> None:
    """Finer pixels than the defaults' cut nuclei into pieces; coarser ones miss nuclei (below
    min_area_px) or merge them. The message said "cut into pieces or merged" either way."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    (fine,) = _pixel_problems(config)
    assert "; nuclei would be cut into pieces and links missed. Set them" in fine
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 1.3
    (coarse,) = _pixel_problems(config)
    assert "; nuclei would be missed (below min_area_px) or merged and far cells linked. Set them" in coarse


def test_tracking_smoothing_in_3d_is_not_scaled_by_the_yx_pixels() -> None:
    """In 3D the smoothing sigma blurs Z slices too: scaling it by the YX pixel ratio scaled the Z blur,
    though the z step had not changed. It is named, not given a scaled value, and the note says to
    choose it for the z step."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    config["datasets"]["tiny"]["tracking"] = {"maps": {"z_handling": "3d"}}
    (problem,) = _pixel_problems(config)
    assert "found the defaults, meant for 0.65 µm pixels (more than 1.5 times larger or smaller): " in problem
    assert "maps.smoothing_sigma_px 1," in problem
    assert "tracking: {segmentation: {min_area_px: 634, max_area_px: 4753}, linking:" in problem
    assert "smoothing_sigma_px: " not in problem
    assert "maps.smoothing_sigma_px also counts z slices in 3d: choose it for the z step" in problem


def test_tracking_linking_sizes_are_not_checked_on_still_images() -> None:
    """On still images (one frame) nothing is linked: the linking keys were refused although they do
    nothing there (nor do the gap-closing ones). The segmentation sizes still are."""
    import dataclasses

    from integration.workflow_helpers import tiny_workflow_config

    def problems(tracking: dict[str, Any], n_frames: int) -> list[str]:
        config = tiny_workflow_config()
        config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
        config["datasets"]["tiny"]["tracking"] = tracking
        validated, layouts = _simulated_layouts(config)
        layout = layouts["tiny"]
        layouts["tiny"] = dataclasses.replace(
            layout, shape_tczyx=(n_frames, *layout.shape_tczyx[1:]), n_frames=n_frames
        )
        return [
            p for p in workflow_problems(validated, layouts, "results") if "expected pixel-valued keys" in p
        ]

    areas = {"segmentation": {"min_area_px": 634, "max_area_px": 4753}}
    (still,) = problems(areas, 1)
    assert "linking" not in still
    assert (
        "maps.smoothing_sigma_px 1, solver.image_border_px 10; nuclei would be cut into pieces. Set" in still
    )
    given = {**areas, "maps": {"smoothing_sigma_px": 3.25}, "solver": {"image_border_px": 32}}
    assert problems(given, 1) == []
    (movie,) = problems(given, 2)
    assert "found the defaults, meant for 0.65 µm pixels (more than 1.5 times larger or smaller): " in movie
    assert (
        "linking.max_distance_px 20, linking.distance_weight_per_px 0.01, "
        "gap_closing.max_distance_px 15; nuclei" in movie
    )


def test_gap_closing_turned_off_leaves_its_distance_unchecked(tmp_path: Path) -> None:
    """With gap_closing.max_gap_frames 0 nothing is joined and its max_distance_px does nothing: the dry
    run still refused it at its default on a plate of other pixels (every other key scaled), and the
    warning for a plate stating no pixel size named it."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.plate_checks import workflow_warnings

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    off = {key: value for key, value in SCALED_TO_0_2_UM.items() if key != "gap_closing"}
    config["datasets"]["tiny"]["tracking"] = {**off, "gap_closing": {"max_gap_frames": 0}}
    assert _pixel_problems(config) == []
    config["datasets"]["tiny"]["tracking"] = off
    (problem,) = _pixel_problems(config)
    assert "found the defaults, meant for 0.65 µm pixels (more than 1.5 times larger or smaller): " in problem
    assert "gap_closing.max_distance_px 15; nuclei" in problem

    plate, layouts = _unitless_plate(tmp_path / "unitless.zarr", SHAPE)
    unitless = plate_config(plate)
    unitless["datasets"]["mine"]["tracking"] = {"gap_closing": {"max_gap_frames": 0}}
    (warning,) = workflow_warnings(WorkflowConfig.model_validate(unitless), layouts)
    assert "tracking.solver.image_border_px); set" in warning and "tracking.gap_closing" not in warning


def _radius_problems(config: dict[str, Any]) -> list[str]:
    """The dry run's problems of the matching radii of a config whose datasets are all simulated."""
    return [p for p in _simulated_problems(config) if ".max_match_distance_px: expected a radius" in p]


def test_match_radii_left_at_their_defaults_are_refused_on_a_plate_of_other_pixels() -> None:
    """max_match_distance_px (6 px) is tuned for 0.65 µm pixels too: on 0.2 µm pixels it is 1.2 µm, and
    94 % of annotations clicked on a nucleus (radius ~24 px) matched no cell, their labels lost with exit
    0; on 1.3 µm pixels it is 7.8 µm, past a nucleus's radius. The dry run refuses each radius left at its
    default on each dataset it matches, with the value scaled to the plate; radii given are used as they
    are, and the figures' radius follows pseudotime's (named once)."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    config["analysis"]["occlusion"]["max_match_distance_px"] = 6.0  # given: used as it is (test below)
    classification, pseudotime = _radius_problems(config)
    assert classification.startswith(
        "analysis.classification.max_match_distance_px: expected a radius set for the 0.2 µm pixels of "
        "dataset 'tiny' (results/tiny/raw.zarr), found the default 6 px, meant for 0.65 µm pixels (more than "
        "1.5 times larger or smaller); 6 px is 1.2 µm here: annotations farther than that from their cell's "
        "centre match none (labels lost), with exit 0. Set it, e.g. the default scaled to 0.2 µm: analysis: "
        "{classification: {max_match_distance_px: 19.5}}"
    )
    assert pseudotime.startswith(
        "analysis.pseudotime.max_match_distance_px: expected a radius set for the 0.2"
    )
    assert "Set it (analysis.figures and the feature trajectories follow it), e.g." in pseudotime
    assert pseudotime.endswith("analysis: {pseudotime: {max_match_distance_px: 19.5}}")
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 1.3
    coarse = _radius_problems(config)
    assert [problem.split(":")[0] for problem in coarse] == [
        "analysis.classification.max_match_distance_px",
        "analysis.pseudotime.max_match_distance_px",
    ]
    assert "6 px is 7.8 µm here: annotations whose own cell was not tracked match a neighbour" in coarse[0]
    assert coarse[0].endswith("{classification: {max_match_distance_px: 3}}")
    # given radii are used as they are; the figures' follows pseudotime's given one
    config["analysis"]["classification"]["max_match_distance_px"] = 6.0
    config["analysis"]["pseudotime"] = {"max_match_distance_px": 3.0}
    assert _radius_problems(config) == []
    # the figures' radius given (even at the default's value): used as it is, pseudotime's still refused
    config["analysis"]["pseudotime"] = {}
    config["analysis"]["figures"] = {"max_match_distance_px": 6.0}
    assert [problem.split(":")[0] for problem in _radius_problems(config)] == [
        "analysis.pseudotime.max_match_distance_px"
    ]
    config["analysis"]["classification"] = {"match_annotations_on": "position", "n_bootstrap": 20}
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.9  # within 1.5 times 0.65 µm
    assert _radius_problems(config) == []


def test_the_occlusion_radius_left_at_its_default_is_refused_on_a_plate_of_other_pixels() -> None:
    """Occlusion matched the ground truth's infection onset to the patches within a built-in 6 px, which
    on 0.2 µm pixels left every cell without an onset (nothing to draw) with exit 0. Its radius is
    ``analysis.occlusion.max_match_distance_px``, refused like the others where left at its default on
    a simulated dataset of other pixels that occlusion runs on, and used as it is where given."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    config["analysis"]["classification"]["max_match_distance_px"] = 19.5
    config["analysis"]["pseudotime"] = {"max_match_distance_px": 19.5}
    config["analysis"]["occlusion"] = {"enabled": False}
    assert _radius_problems(config) == []
    config["analysis"]["occlusion"] = {"enabled": True}
    (occlusion,) = _radius_problems(config)
    assert occlusion.startswith(
        "analysis.occlusion.max_match_distance_px: expected a radius set for the 0.2 µm pixels of "
        "dataset 'tiny'"
    )
    assert occlusion.endswith("analysis: {occlusion: {max_match_distance_px: 19.5}}")
    # drawing no infection (occlusion.tasks), or with no infection classifier, the radius is never read
    config["analysis"]["occlusion"] = {"enabled": True, "tasks": ["division"]}
    assert _radius_problems(config) == []
    config["analysis"]["occlusion"] = {"enabled": True}
    config["analysis"]["classification"]["tasks"] = ["division"]
    assert _radius_problems(config) == []
    del config["analysis"]["classification"]["tasks"]
    config["analysis"]["occlusion"]["max_match_distance_px"] = 19.5
    assert _radius_problems(config) == []


@pytest.mark.parametrize("tasks", [["infection", "division"], ["division"]])
def test_occlusion_compares_its_radius_only_where_it_reads_it(
    tasks: list[str], plate: Path, tmp_path: Path
) -> None:
    """occlusion_attribution reads analysis.occlusion.max_match_distance_px only to match a simulated
    dataset's ground-truth infection onsets: on a dataset of one's own, or drawing no infection, it is
    passed as None, so editing it reruns no such job; where it is read it is the value given."""
    from integration.workflow_helpers import tiny_workflow_config

    def occlusion_radius(config: dict[str, Any], root: Path) -> Any:
        root.mkdir()
        (root / "config").mkdir()
        configfile = root / "config" / "config.yaml"
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        jobs = [job for job in planned_jobs(configfile, root) if job.rule.name == "occlusion_attribution"]
        assert jobs
        return {job.params.config["max_match_distance_px"] for job in jobs}

    occlusion = {"enabled": True, "tasks": tasks, "max_match_distance_px": 7.0}
    table = tmp_path / "mine.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    own = plate_config(plate)
    own["datasets"]["mine"]["acquisition"] = {"pixel_size_um": 0.65}
    own["datasets"]["mine"]["annotations"] = {"table": str(table), "tasks": ["infection"]}
    own["analysis"]["pseudotime"] = {"reference_frames_before_onset": 2, "reference_frames_after_onset": 3}
    own["analysis"]["occlusion"] = occlusion
    assert occlusion_radius(own, tmp_path / "own") == {None}
    simulated = tiny_workflow_config()
    simulated["analysis"]["occlusion"] = occlusion
    expected = 7.0 if "infection" in tasks else None
    assert occlusion_radius(simulated, tmp_path / "simulated") == {expected}


def test_a_patch_size_left_at_its_default_is_refused_on_a_plate_of_finer_pixels() -> None:
    """patch_size_yx_px has a default (48 px: a cell of ~15 px radius with margin at 0.65 µm): on 0.2 µm
    pixels it is 9.6 µm, narrower than a nucleus, with exit 0. Left at its default it is refused as the
    tracking sizes are, with a size to set that the config and the plate then accept: the default scaled
    to the plate (a multiple of 4) where its window fits the images, else the largest that fits; a size
    given that cannot hold a nucleus is a warning. On coarser pixels the default is a larger field of
    view, not a wrong size: a warning, offering a size the models' ConvNeXt backbone takes (>= 32 px)."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.plate_checks import workflow_warnings

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    del config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"]
    (problem,) = [p for p in _simulated_problems(config) if ".patch_size_yx_px:" in p]
    # the default scaled to 0.2 µm, 156 px, needs a 282 px window: the 96 x 96 px images cannot hold it
    assert problem == (
        "datasets.tiny.patches[phase_sensor].patch_size_yx_px: expected a patch size set for the 0.2 µm "
        "pixels of results/tiny/raw.zarr, found the default 48 px, meant for 0.65 µm pixels (more than 1.5 "
        "times finer); 48 px is 9.6 µm here, narrower than a nucleus (~10 µm): the cell does not fit in its "
        "patch. Set it, e.g. the largest size that fits, as the 96 x 96 px images of results/tiny/raw.zarr "
        "are too small for a cell-sized patch at 0.2 µm pixels (156 px, the default scaled to them, needs a "
        "stored window of 282 px): patch_size_yx_px: 52"
    )
    config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"] = 52  # the offer: accepted
    assert not [p for p in _simulated_problems(config) if "patch" in p]
    shape = config["datasets"]["tiny"]["simulate"]["shape_zyx"]
    config["datasets"]["tiny"]["simulate"]["shape_zyx"] = [shape[0], 320, 320]  # holds the scaled size
    del config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"]
    (problem,) = [p for p in _simulated_problems(config) if ".patch_size_yx_px:" in p]
    assert problem.endswith("e.g. the default scaled to 0.2 µm (a multiple of 4): patch_size_yx_px: 156")
    config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"] = 156
    assert not [p for p in _simulated_problems(config) if "patch" in p]
    config["datasets"]["tiny"]["simulate"]["shape_zyx"] = shape

    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 1.3
    del config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"]
    assert not [p for p in _simulated_problems(config) if ".patch_size_yx_px:" in p]
    (coarse,) = [w for w in workflow_warnings(*_simulated_layouts(config)) if "patch_size_yx_px" in w]
    assert coarse == (
        "datasets.tiny.patches[phase_sensor].patch_size_yx_px: the default 48 px, meant for 0.65 µm pixels, "
        "is 62 µm on the 1.3 µm pixels of results/tiny/raw.zarr (more than 1.5 times coarser): each patch "
        "holds as much of the neighbours as of the cell; for the defaults' field of view set it, e.g. the "
        "default scaled to 1.3 µm (a multiple of 4), 24 px, raised to the 32 px the backbone of its models "
        "needs: patch_size_yx_px: 32"
    )
    config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"] = 32  # the offer: accepted, no warning
    assert not [p for p in _simulated_problems(config) if "patch" in p]
    assert not [w for w in workflow_warnings(*_simulated_layouts(config)) if "patch_size_yx_px" in w]

    config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = 0.2
    config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"] = 32  # given: used as it is, but warned
    assert not [p for p in _simulated_problems(config) if ".patch_size_yx_px:" in p]
    (warning,) = [w for w in workflow_warnings(*_simulated_layouts(config)) if "patch_size_yx_px" in w]
    # the size offered is the refusal's, not the scaled default (156 px) the 96 px images cannot hold
    assert warning == (
        "datasets.tiny.patches[phase_sensor].patch_size_yx_px: a patch of 32 px is 6.4 µm on the 0.2 µm "
        "pixels of results/tiny/raw.zarr, narrower than a nucleus (~10 µm, 50 px here): the patches hold "
        "part of a nucleus, not a cell; for a cell-sized patch set it, e.g. the largest size that fits, as "
        "the 96 x 96 px images of results/tiny/raw.zarr are too small for a cell-sized patch at 0.2 µm "
        "pixels (156 px, the default scaled to them, needs a stored window of 282 px): patch_size_yx_px: 52"
    )
    config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"] = 52
    assert not [w for w in workflow_warnings(*_simulated_layouts(config)) if "patch_size_yx_px" in w]
    # images of 88 px hold at most 48 px (an 88 px window): a given 48 px is offered no larger size, so
    # the warning does not say "set it, e.g." a size no larger than the one set
    config["datasets"]["tiny"]["simulate"]["shape_zyx"] = [shape[0], 88, 88]
    config["datasets"]["tiny"]["patches"][0]["patch_size_yx_px"] = 48
    (warning,) = [w for w in workflow_warnings(*_simulated_layouts(config)) if "patch_size_yx_px" in w]
    assert "e.g." not in warning
    assert warning.endswith(
        "part of a nucleus, not a cell; the largest size that fits, as the 88 x 88 px "
        "images of results/tiny/raw.zarr are too small for a cell-sized patch at 0.2 µm pixels (156 px, the "
        "default scaled to them, needs a stored window of 282 px): patch_size_yx_px: 48"
    )


def test_virtual_stainings_patch_size_is_checked_against_the_pixels() -> None:
    """virtual_stain.train.patch_size_px (96 px, 62 µm on the defaults' 0.65 µm pixels) was checked
    against nothing: on a 0.33 µm plate each training patch covers 32 µm. As the patch specs' sizes: the
    default on pixels of another size is a warning offering the default scaled to them, a multiple of
    the U-Net's stride (32) within the images; a refusal where it is narrower than a nucleus; a size
    given narrower than a nucleus is a warning; the size offered is accepted without a word."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.plate_checks import workflow_warnings

    key = "virtual_stain.train.patch_size_px"
    config = tiny_workflow_config()
    config["datasets"]["tiny"]["virtual_stain"] = {}
    simulate = config["datasets"]["tiny"]["simulate"]
    simulate["shape_zyx"] = [simulate["shape_zyx"][0], 320, 320]

    def lines(pixel_size_um: float) -> tuple[list[str], list[str]]:
        simulate["pixel_size_um"] = pixel_size_um
        problems = [p for p in _simulated_problems(config) if key in p]
        return problems, [w for w in workflow_warnings(*_simulated_layouts(config)) if key in w]

    assert lines(0.65) == ([], [])
    problems, (warning,) = lines(0.33)
    assert problems == []
    assert warning == (
        "datasets.tiny.virtual_stain.train.patch_size_px: the default 96 px, meant for 0.65 µm pixels "
        "(62.4 µm), is 31.7 µm on the 0.33 µm pixels of results/tiny/phase.zarr (more than 1.5 times "
        "finer): each training patch holds less of the cells and their surroundings than at the defaults' "
        "pixels; for the defaults' field of view set it, e.g. the default scaled to 0.33 µm (a multiple "
        "of 32, the network's stride): patch_size_px: 192"
    )
    config["datasets"]["tiny"]["virtual_stain"] = {"train": {"patch_size_px": 192}}  # the offer
    assert lines(0.33) == ([], [])
    config["datasets"]["tiny"]["virtual_stain"] = {}
    problems, (warning,) = lines(1.3)
    assert problems == [] and warning.endswith(
        "(more than 1.5 times coarser): each training patch holds "
        "more neighbours than at the defaults' pixels; for the defaults' field of view set it, e.g. the "
        "default scaled to 1.3 µm (a multiple of 32, the network's stride): patch_size_px: 64"
    )

    # 96 px of 0.08 µm is 7.7 µm, narrower than a nucleus: refused; the scaled default (780 px) exceeds
    # the 320 px images, so the largest multiple of 32 within them is offered
    (problem,), _ = lines(0.08)
    assert problem == (
        "datasets.tiny.virtual_stain.train.patch_size_px: expected a patch size set for the 0.08 µm pixels "
        "of results/tiny/phase.zarr, found the default 96 px, meant for 0.65 µm pixels (62.4 µm); 96 px is "
        "7.68 µm on the 0.08 µm pixels of results/tiny/phase.zarr, narrower than a nucleus (~10 µm, 125 px "
        "here). Set it, e.g. the largest multiple of 32 within the 320 px images of results/tiny/phase.zarr: "
        "patch_size_px: 320"
    )
    config["datasets"]["tiny"]["virtual_stain"] = {"train": {"patch_size_px": 64}}  # given: warned only
    problems, (warning,) = lines(0.08)
    assert (
        problems == []
        and warning.startswith(
            "datasets.tiny.virtual_stain.train.patch_size_px: a patch of 64 px is 5.12 µm on the 0.08 µm "
            "pixels of results/tiny/phase.zarr, narrower than a nucleus (~10 µm, 125 px here)"
        )
        and warning.endswith(
            "set it, e.g. the largest multiple of 32 within the 320 px images of "
            "results/tiny/phase.zarr: patch_size_px: 320"
        )
    )
    config["datasets"]["tiny"]["virtual_stain"] = {"train": {"patch_size_px": 320}}
    assert lines(0.08) == ([], [])

    # images no wider than the default patch: training clips the default to the largest multiple of 32
    # within them (virtual_stain.train._patch_size), the size the check would offer: nothing to advise
    config["datasets"]["tiny"]["virtual_stain"] = {}
    for side in (64, 80):
        simulate["shape_zyx"] = [simulate["shape_zyx"][0], side, side]
        assert lines(0.33) == ([], []), side
        assert lines(1.3) == ([], []), side  # coarser: the 64 px offered is what training takes too
    # 64 px images of 0.08 µm pixels (5 µm) cannot hold a nucleus (125 px): nothing is offered that the
    # warning on a given size would then flag
    simulate["shape_zyx"] = [simulate["shape_zyx"][0], 64, 64]
    (problem,), _ = lines(0.08)
    assert problem.endswith(
        "narrower than a nucleus (~10 µm, 125 px here). No patch size can hold one: the 64 px images of "
        "results/tiny/phase.zarr hold no multiple of 32 px as wide as a nucleus"
    )
    config["datasets"]["tiny"]["virtual_stain"] = {"train": {"patch_size_px": 32}}
    problems, (warning,) = lines(0.08)
    assert problems == [] and warning.endswith(
        "the network learns nuclei from parts of them; no patch size can hold one: the 64 px images of "
        "results/tiny/phase.zarr hold no multiple of 32 px as wide as a nucleus"
    )

    # the network reads the phase plate, on the phase config's pixels where it sets them: 0.33 µm here,
    # although the raw plate, which is tracked here, states 0.65 µm
    simulate["shape_zyx"] = [simulate["shape_zyx"][0], 320, 320]
    config["datasets"]["tiny"]["virtual_stain"] = {}
    config["datasets"]["tiny"]["phase"] = {"yx_pixel_size_um": 0.33}
    config["datasets"]["tiny"]["tracking_input"] = {"source": "raw", "channel": "Nuclei"}
    problems, (warning,) = lines(0.65)
    assert problems == [] and warning.startswith(
        "datasets.tiny.virtual_stain.train.patch_size_px: the default 96 px, meant for 0.65 µm pixels "
        "(62.4 µm), is 31.7 µm on the 0.33 µm pixels of results/tiny/phase.zarr"
    )


def test_a_plate_stating_no_pixel_size_is_said_to_be_unchecked(tmp_path: Path) -> None:
    """A plate whose pixel size nothing states (a scale without a unit: a guess) was not checked at all,
    silently. The dry run warns once per dataset, naming the sizes in pixels left at their defaults, until
    the config states it."""
    from dynaclr.config.plate_checks import workflow_warnings

    plate = write_plate(tmp_path / "unitless.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"][-2:]:  # y and x
                axis.pop("unit", None)
    config = plate_config(plate)
    validated = WorkflowConfig.model_validate(config)
    with pytest.warns(UserWarning, match="axes without a unit"):
        layouts = {"mine": read_plate_layout(plate)}
    assert workflow_problems(validated, layouts, "results") == []
    (warning,) = workflow_warnings(validated, layouts)
    assert warning == (
        f"datasets.mine.plate: {plate} states no pixel size (no scale with a unit in its metadata, no "
        "datasets.mine.acquisition.pixel_size_um): the sizes in pixels left at their defaults, meant for "
        "0.65 µm pixels, are not checked against its pixels (tracking.maps.smoothing_sigma_px, "
        "tracking.segmentation.min_area_px, tracking.segmentation.max_area_px, "
        "tracking.linking.max_distance_px, tracking.linking.distance_weight_per_px, "
        "tracking.solver.image_border_px, tracking.gap_closing.max_distance_px); set "
        "datasets.mine.acquisition.pixel_size_um to check them"
    )
    config["datasets"]["mine"]["acquisition"] = {"pixel_size_um": 0.65}
    assert workflow_warnings(WorkflowConfig.model_validate(config), layouts) == []


def _unitless_plate(path: Path, shape: tuple[int, ...]) -> tuple[Path, dict[str, PlateLayout]]:
    """A plate of ``shape`` whose Y and X axes have no unit (its pixel size a guess), and its layout."""
    plate = write_plate(path, FOVS, ["Nuclei", "Sensor"], shape)
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"][-2:]:  # y and x
                axis.pop("unit", None)
    with pytest.warns(UserWarning, match="axes without a unit"):
        return plate, {"mine": read_plate_layout(plate)}


def test_the_unchecked_pixel_sizes_are_those_the_checks_would_read(tmp_path: Path) -> None:
    """The warning for a plate stating no pixel size named tracking's linking keys on still images (one
    frame), which the tracking check leaves out there (nothing is linked); and it named a pixel size the
    phase config states (phase.yx_pixel_size_um, the raw plate's grid) as stated by nothing, where the
    tracking on the raw plate is checked against it now; for TrackMate tracks it says the XML's
    calibration is not read at planning."""
    from dynaclr.config.plate_checks import workflow_warnings

    plate, layouts = _unitless_plate(tmp_path / "still.zarr", (1, *SHAPE[1:]))
    config = plate_config(plate)
    config["contrastive_models"]["m"]["training"]["sampling"] = "classical"  # one frame: no time-aware pairs
    del config["contrastive_models"]["m"]["training"]["tau_frames"]
    (warning,) = workflow_warnings(WorkflowConfig.model_validate(config), layouts)
    assert "linking" not in warning
    assert "(tracking.maps.smoothing_sigma_px, tracking.segmentation.min_area_px, " in warning

    plate, layouts = _unitless_plate(tmp_path / "movie.zarr", SHAPE)
    config = plate_config(plate)
    config["datasets"]["mine"]["phase"] = {"brightfield_channel": "Sensor", "yx_pixel_size_um": 1.3}
    validated = WorkflowConfig.model_validate(config)
    assert workflow_warnings(validated, layouts) == []
    (problem,) = [p for p in workflow_problems(validated, layouts, "results") if "tracking" in p]
    assert problem.startswith(
        "datasets.mine.tracking: expected pixel-valued keys set for the 1.3 µm pixels of the tracking input "
        f"{plate}"
    )

    config = plate_config(plate)
    del config["datasets"]["mine"]["tracking_input"]
    trackmate = str(tmp_path / "{row}_{col}_{fov}.xml")
    config["datasets"]["mine"]["tracks"] = {"format": "trackmate", "path": trackmate}
    del config["datasets"]["mine"]["patches"][0]["patch_size_yx_px"]  # at its default: not checked
    (warning,) = workflow_warnings(WorkflowConfig.model_validate(config), layouts)
    assert "(the calibration of the TrackMate XML files is not read at planning)" in warning


def test_tracking_sizes_are_checked_against_the_pixels_a_plate_states(tmp_path: Path) -> None:
    """A plate of one's own whose scale states 1.3 µm pixels (nuclei a quarter of the defaults' areas) is
    refused; one whose scale has no unit is not checked against that guess, until the config states the
    pixel size (acquisition.pixel_size_um)."""
    plate = write_plate(tmp_path / "coarse.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        edit_position_metadata(plate, fov, scale=[600.0, 1.0, 2.0, 1.3, 1.3])
    message = refused(plate_config(plate), tmp_path)
    assert "datasets.mine.tracking: expected pixel-valued keys set for the 1.3 µm pixels" in message
    assert "segmentation: {min_area_px: 15, max_area_px: 112}" in message
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"][-2:]:  # y and x
                axis.pop("unit", None)
    config = plate_config(plate)
    assert plan(config, tmp_path)["track_fov"] == len(FOVS)
    config["datasets"]["mine"]["acquisition"] = {"pixel_size_um": 1.3}
    assert "datasets.mine.tracking: expected pixel-valued keys set for the 1.3 µm pixels" in refused(
        config, tmp_path
    )


def test_all_problems_are_listed_at_once(plate: Path) -> None:
    config = plate_config(plate)
    config["datasets"]["mine"]["tracking_input"]["channel"] = "DAPI"
    config["contrastive_models"]["m"]["training"]["backbone"] = "vit_tiny"
    from dynaclr.io.plate import read_plate_layout

    problems = workflow_problems(
        WorkflowConfig.model_validate(config), {"mine": read_plate_layout(plate)}, "results"
    )
    assert [problem.split(":")[0] for problem in problems] == [
        "datasets.mine.tracking_input.channel",
        "contrastive_models.m.training.backbone",
    ]
    assert (
        workflow_problems(
            WorkflowConfig.model_validate(plate_config(plate)), {"mine": read_plate_layout(plate)}, "results"
        )
        == []
    )


@pytest.mark.parametrize(("channel", "fits"), [("Sensor", True), ("raw:Sensor", True), ("GFP", False)])
def test_the_explorer_channel_is_a_channel_of_every_embedded_patch_spec(
    plate: Path, channel: str, fits: bool
) -> None:
    """analysis.figures.explorer_channel names a patch channel as the other patch keys do (its name, or
    source:channel); one the patches lack is refused before any job runs, not when the figure is drawn."""
    from dynaclr.io.plate import read_plate_layout

    config = plate_config(plate)
    config["analysis"]["figures"] = {"explorer_channel": channel}
    problems = workflow_problems(
        WorkflowConfig.model_validate(config), {"mine": read_plate_layout(plate)}, "results"
    )
    if fits:
        assert problems == []
    else:
        (problem,) = problems
        assert problem.startswith(
            "analysis.figures.explorer_channel (model m, dataset mine): channel 'GFP' is"
        )
        assert "['raw:Sensor']" in problem


def _phase_from(channel: str) -> Callable[[dict[str, Any]], None]:
    return _set("datasets.mine.phase", {"brightfield_channel": channel})


SAMPLING_CASES = {
    # a single brightfield slice gives a phase of zeros (no defocus to read it from)
    "one slice for phase": (
        (6, 2, 1, 64, 64),
        None,
        _phase_from("Sensor"),
        [
            "datasets.mine.phase: expected a brightfield z-stack (Z >= 2",
            "found Z = 1 in",
            # a 2D DIC movie is told how it comes in (its channel as it is), not only "if it holds phase"
            "a label-free channel to use as it is",
            "{source: raw, channel: <its name>}, of ['Nuclei', 'Sensor']; README: 2D movies",
        ],
    ),
    # a 2D movie without a brightfield channel: the one line says to set `phase: null`, with no second
    # line asking to name a brightfield channel for a phase that cannot be reconstructed anyway
    "one slice for phase, no brightfield channel": (
        (6, 2, 1, 64, 64),
        None,
        _set("datasets.mine.phase", {}),
        [
            "datasets.mine.phase: expected a brightfield z-stack (Z >= 2",
            "found Z = 1 in",
            "set `phase: null`",
        ],
    ),
    "zero time interval": (
        SHAPE,
        [0.0, 1.0, 2.0, 0.65, 0.65],
        lambda config: None,
        ["datasets.mine.plate: expected a positive time interval in the metadata of", "found 0 min"],
    ),
    "negative pixel size for phase": (
        SHAPE,
        [600.0, 1.0, 2.0, -0.65, -0.65],
        _phase_from("Sensor"),
        [
            "datasets.mine.plate: ",
            "scale -0.65 micrometer of axes y and x: expected a pixel size between 0.02 and 20 µm (live-cell "
            "microscopy), found -0.65 µm; set datasets.mine.acquisition.pixel_size_um",
        ],
    ),
    "no z step for phase": (
        SHAPE,
        [600.0, 1.0, float("nan"), 0.65, 0.65],
        _phase_from("Sensor"),
        ["datasets.mine.plate: ", "scale nan micrometer of axis z: expected a z step between 0.05 and 50 µm"],
    ),
    "time-aware sampling of one frame": (
        (1, 2, 3, 64, 64),
        None,
        lambda config: None,
        [
            "contrastive_models.m.training.tau_frames: expected a movie of at least 2 frames for sampling "
            "'time_aware' (dataset 'mine' has 1 frame in"
        ],
    ),
}


@pytest.mark.parametrize("case", list(SAMPLING_CASES))
def test_a_plate_whose_sampling_the_stages_cannot_use_is_refused(case: str, tmp_path: Path) -> None:
    """Metadata that would run every stage on a wrong or empty result (a phase of zeros, times of
    0 min) is refused with the key, the plate and the value found."""
    from dynaclr.io.plate import read_plate_layout

    shape, scale, edit, expected = SAMPLING_CASES[case]
    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei", "Sensor"], shape)
    for fov in FOVS if scale is not None else []:
        edit_position_metadata(plate, fov, scale=scale)
    config = plate_config(plate)
    edit(config)
    problems = workflow_problems(
        WorkflowConfig.model_validate(config), {"mine": read_plate_layout(plate)}, "results"
    )
    assert len(problems) == 1, problems
    for part in expected:
        assert part in problems[0], problems[0]
    if case == "negative pixel size for phase":  # the acquisition's value replaces the metadata's
        config["datasets"]["mine"]["acquisition"] = {"pixel_size_um": 0.65}
        workflow = WorkflowConfig.model_validate(config)
        with pytest.warns(UserWarning, match="not used"):
            layout = read_plate_layout(plate, workflow.datasets["mine"].acquisition.sampling())
        assert workflow_problems(workflow, {"mine": layout}, "results") == []


@pytest.mark.slow  # a Snakemake run
def test_snakemake_dry_run_prints_the_problem_and_no_traceback(plate: Path, tmp_path: Path) -> None:
    from integration.workflow_helpers import snakemake, write_config

    config = copy.deepcopy(plate_config(plate))
    config["datasets"]["mine"]["tracking_input"]["channel"] = "DAPI"
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "datasets.mine.tracking_input.channel: expected a channel of the raw plate" in output
    assert "Traceback" not in output


def test_snakemake_dry_run_shows_what_the_plate_is_read_with(tmp_path: Path) -> None:
    """Snakemake shows no Python warning issued while it parses the workflow: the warnings of a plate
    read with an assumption (axes without units read in s and µm) reach its output. (The z axis: no
    stage of this config computes in the z step; a time axis without a unit is refused in a movie.)"""
    from integration.workflow_helpers import snakemake, write_config

    plate = write_plate(tmp_path / "own.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            ome["multiscales"][0]["axes"][2].pop("unit")
    write_config(tmp_path, plate_config(plate))
    result = snakemake(tmp_path, "--dry-run")
    assert "WARNING datasets.mine.plate: " + str(plate) + ": position A/1/Pos0: axes without a unit" in (
        result.stdout + result.stderr
    )


def _set_all(*edits: tuple[str, Any]) -> Callable[[dict[str, Any]], None]:
    """Several :func:`_set` edits, in order."""

    def edit(config: dict[str, Any]) -> None:
        for path, value in edits:
            _set(path, value)(config)

    return edit


#: A time-aware training whose tau is given in minutes (counted in the plate's time interval).
_TAU_MINUTES = {
    "patch_spec": "sensor",
    "sampling": "time_aware",
    "tau_minutes": 10,
    "backbone": "convnext_atto",
}

UNSCALED_CASES = {
    # a movie: tau_minutes and the patches' time_minutes are counted in the time interval
    "a movie": (
        _set("contrastive_models.m.training", _TAU_MINUTES),
        False,
        [
            "datasets.mine.plate: expected a time interval in the metadata of",
            "(6 frames: tau_minutes and the patches' time_minutes are counted in it), found none (no "
            "'scale' in the coordinateTransformations of position A/1/Pos0's dataset '0' or multiscales, "
            "and no plate attribute time_interval_minutes; iohub would read 1 s); set "
            "datasets.mine.acquisition.time_interval_minutes",
        ],
    ),
    # tau in frames: the patches' time_minutes still need the interval
    "a movie, tau in frames": (
        lambda config: None,
        False,
        [
            "datasets.mine.plate: expected a time interval",
            "iohub would read 1 s); set datasets.mine.acquisition",
        ],
    ),
    "a movie whose interval the acquisition supplies": (
        _set("datasets.mine.acquisition", {"time_interval_minutes": 7}),
        False,
        [],
    ),
    "a movie, tau in minutes, whose interval the acquisition supplies": (
        _set_all(
            ("datasets.mine.acquisition", {"time_interval_minutes": 5}),
            ("contrastive_models.m.training", _TAU_MINUTES),
        ),
        False,
        [],
    ),
    # phase needs the pixel size and z step: the config's keys state them
    "phase": (
        _phase_from("Sensor"),
        True,
        [
            "datasets.mine.phase.yx_pixel_size_um: expected a size (µm) from the config or the metadata of",
            "found none (no 'scale' in the coordinateTransformations of position A/1/Pos0's dataset '0' or "
            "multiscales; iohub would read 1 µm); set phase.yx_pixel_size_um or "
            "datasets.mine.acquisition.pixel_size_um",
            "datasets.mine.phase.z_step_um: expected a size (µm)",
        ],
    ),
    "phase with its sizes in the config": (
        _set(
            "datasets.mine.phase", {"brightfield_channel": "Sensor", "yx_pixel_size_um": 0.65, "z_step_um": 2}
        ),
        True,
        [],
    ),
    "phase with its sizes from the acquisition": (
        _set_all(
            ("datasets.mine.phase", {"brightfield_channel": "Sensor"}),
            ("datasets.mine.acquisition", {"pixel_size_um": 0.65, "z_step_um": 2}),
        ),
        True,
        [],
    ),
    "phase with only the pixel size from the acquisition": (
        _set_all(
            ("datasets.mine.phase", {"brightfield_channel": "Sensor"}),
            ("datasets.mine.acquisition", {"pixel_size_um": 0.65}),
        ),
        True,
        ["datasets.mine.phase.z_step_um: expected a size (µm)"],
    ),
    # the acquisition supplies what the metadata does not state: nothing to check it against
    "the acquisition's pixel size": (
        # (0.8 µm: within 1.5 times the tracking defaults' 0.65 µm pixels, which 1 µm is not)
        _set("datasets.mine.acquisition", {"pixel_size_um": 0.8, "time_interval_minutes": 10}),
        True,
        [],
    ),
    "nothing that needs it": (lambda config: None, True, []),
}


def assert_sampling_problems(
    plate: Path, edit: Callable[[dict[str, Any]], None], warning: str, expected: list[str]
) -> None:
    """The problems of :func:`plate_config` on ``plate`` edited by ``edit`` hold each of ``expected``
    (one problem per part starting with ``datasets.``; none where it is empty), the layout read as
    the workflow reads it, with the acquisition's values (and without: the checks supply them too),
    with a warning matching ``warning``."""
    config = plate_config(plate)
    edit(config)
    workflow = WorkflowConfig.model_validate(config)
    with pytest.warns(UserWarning, match=warning):
        layouts = [
            read_plate_layout(plate),
            read_plate_layout(plate, workflow.datasets["mine"].acquisition.sampling()),
        ]
    for layout in layouts:
        problems = workflow_problems(workflow, {"mine": layout}, "results")
        if not expected:
            assert problems == []
        for part in expected:
            assert any(part in problem for problem in problems), f"{part!r} not in {problems}"
        assert len(problems) == len([part for part in expected if part.startswith("datasets.")])


@pytest.mark.parametrize("case", list(UNSCALED_CASES))
def test_a_plate_without_scale_is_refused_where_a_stage_needs_it(case: str, tmp_path: Path) -> None:
    """iohub reads a missing scale transform as 1 s and 1 µm: the dry run refuses the plate where a stage
    would count in them (unless the config states the value it uses: the dataset's ``acquisition``
    supplies it), naming the position and the key. The layout is read as the workflow reads it, with the
    acquisition's values (and without: the checks supply them too)."""
    edit, interval_attribute, expected = UNSCALED_CASES[case]
    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            ome["multiscales"][0]["datasets"][0]["coordinateTransformations"] = []
    if interval_attribute:  # dynaclr's plate attribute states the time interval
        with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:
            writer.zattrs["time_interval_minutes"] = 10.0
    assert_sampling_problems(plate, edit, "has no 'scale'", expected)


@pytest.mark.parametrize("case", ["a movie", "phase"])
def test_a_plate_of_iohubs_default_scale_is_refused_as_one_without_scale(case: str, tmp_path: Path) -> None:
    """iohub's default scale (every value 1 in seconds and micrometres, written for an array created
    without a transform) states no sampling: the movie's 1 s and phase's 1 µm sizes were taken as
    stated (exit 0, the transfer function computed in them). Refused as a plate without scale is,
    the problem naming iohub's default. The plate has a scale transform: the fix says its ones may be
    right and how to state them (not "write the plate's scale transform")."""
    edit, interval_attribute, expected = UNSCALED_CASES[case]
    plate = tmp_path / "p.zarr"
    with open_ome_zarr(plate, layout="hcs", mode="w", channel_names=["Nuclei", "Sensor"]) as writer:
        for fov in FOVS:
            writer.create_position(*fov.split("/")).create_zeros("0", shape=SHAPE, dtype="uint16")
        if interval_attribute:
            writer.zattrs["time_interval_minutes"] = 10.0
    ones = "1 s (1/60 min)" if case == "a movie" else "1 µm"
    fix = f"); its scale is all ones, iohub's default when none is given: if {ones} is right, state it with "
    expected = [part.replace("no 'scale'", IOHUB_DEFAULT_SCALE).replace("); set ", fix) for part in expected]
    assert any(IOHUB_DEFAULT_SCALE in part for part in expected) and any(fix in part for part in expected)
    expected.append("otherwise write the true scale")
    assert_sampling_problems(plate, edit, re.escape(f"has {IOHUB_DEFAULT_SCALE}"), expected)
    config = plate_config(plate)
    edit(config)
    workflow = WorkflowConfig.model_validate(config)
    with pytest.warns(UserWarning, match="Its scale is all ones"):
        layout = read_plate_layout(plate)
    assert not any(
        "scale transform" in problem for problem in workflow_problems(workflow, {"mine": layout}, "results")
    )


#: A plate written in seconds and micrometres that lost its axes' units: read as s and µm, a guess
#: (plausible sizes; one outside the bounds, a plate in nanometres, is refused as implausible too).
_UNITLESS_SCALE = [600.0, 1.0, 2.0, 0.65, 0.65]

UNITLESS_CASES = {
    # phase computes its transfer function in the pixel size and z step: a guess is not a size
    "phase": (
        _set_all(
            ("datasets.mine.phase", {"brightfield_channel": "Sensor"}),
            ("datasets.mine.acquisition", {"time_interval_minutes": 10}),
        ),
        [
            "datasets.mine.phase.yx_pixel_size_um: expected a size (µm) from the config or stated in a unit "
            "the metadata of",
            "found none (axes y and x of",
            "have a scale (0.65) but no unit: 0.65 µm only if it is in micrometres, a guess); set "
            "phase.yx_pixel_size_um or datasets.mine.acquisition.pixel_size_um, or write the axes' units",
            "datasets.mine.phase.z_step_um: expected a size (µm)",
            "has a scale (2) but no unit: 2 µm only if it is in micrometres, a guess); set "
            "phase.z_step_um or datasets.mine.acquisition.z_step_um, or write the axis's unit",
        ],
    ),
    "phase with its sizes in the config": (
        _set_all(
            (
                "datasets.mine.phase",
                {"brightfield_channel": "Sensor", "yx_pixel_size_um": 0.65, "z_step_um": 2},
            ),
            ("datasets.mine.acquisition", {"time_interval_minutes": 10}),
        ),
        [],
    ),
    "phase with its sizes from the acquisition": (
        _set_all(
            ("datasets.mine.phase", {"brightfield_channel": "Sensor"}),
            (
                "datasets.mine.acquisition",
                {"time_interval_minutes": 10, "pixel_size_um": 0.65, "z_step_um": 2},
            ),
        ),
        [],
    ),
    # tau_minutes and the patches' time_minutes are counted in the interval: 600 read as 600 s
    "a movie, tau in minutes": (
        _set("contrastive_models.m.training", _TAU_MINUTES),
        [
            "datasets.mine.plate: expected a time interval the metadata of",
            "states in a unit it names (6 frames: tau_minutes and the patches' time_minutes are counted in "
            "it), found none (axis t of",
            "has a scale (600) but no unit: 600 s only if it is in seconds, a guess); set "
            "datasets.mine.acquisition.time_interval_minutes, or write the time axis's unit",
        ],
    ),
    "a movie, tau in frames": (
        lambda config: None,
        ["datasets.mine.plate: expected a time interval the metadata of"],
    ),
    "a movie whose interval the acquisition supplies": (
        _set_all(
            ("datasets.mine.acquisition", {"time_interval_minutes": 10}),
            ("contrastive_models.m.training", _TAU_MINUTES),
        ),
        [],
    ),
}


@pytest.mark.parametrize("case", list(UNITLESS_CASES))
def test_a_size_read_from_an_axis_without_a_unit_is_refused_where_a_stage_needs_it(
    case: str, tmp_path: Path
) -> None:
    """Axes with a scale but no unit are read in seconds and micrometres, a guess (the plate reader
    warns): a plate written in nanometres was reconstructed with 650 µm pixels and exit 0 (now refused as
    implausible, :func:`test_a_unit_less_implausible_size_is_refused`). The dry run
    refuses the guess where a stage computes in it, as it refuses a plate without a scale, naming the
    dataset, the plate, the axes and the keys to set; the config's values are accepted in its place.
    Tracking and patches (pixels, frames) do not need the sizes: no phase, no refusal of them."""
    edit, expected = UNITLESS_CASES[case]
    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        edit_position_metadata(plate, fov, scale=_UNITLESS_SCALE)
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"]:
                axis.pop("unit", None)
    assert_sampling_problems(plate, edit, "axes without a unit", expected)


def test_the_acquisition_the_unit_less_warning_advises_is_accepted(tmp_path: Path) -> None:
    """A plate in minutes that lost its units (t scale 5, no unit) is read as 5 s; the warning advises
    stating the interval in ``acquisition``: the dry run takes it in the scale's place rather than
    refusing it as contradicting the misread 0.0833 min. A scale with its unit is still checked."""
    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE, time_interval_s=5.0)
    config = plate_config(plate)
    config["datasets"]["mine"]["acquisition"] = {"time_interval_minutes": 5, "pixel_size_um": 0.65}
    workflow = WorkflowConfig.model_validate(config)
    stated = read_plate_layout(plate, workflow.datasets["mine"].acquisition.sampling())
    (problem,) = workflow_problems(workflow, {"mine": stated}, "results")  # in seconds: a contradiction
    assert "acquisition.time_interval_minutes: expected 5 (config), found 0.0833" in problem
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            ome["multiscales"][0]["axes"][0].pop("unit")
    with pytest.warns(UserWarning, match="acquisition.time_interval_minutes 5 min in its place"):
        layout = read_plate_layout(plate, workflow.datasets["mine"].acquisition.sampling())
    assert workflow_problems(workflow, {"mine": layout}, "results") == []
    assert layout.time_interval_minutes == 5.0 and layout.supplied == ("time_interval_minutes",)


#: A plate scale stating a size in micrometres that is nanometres: (scale, acquisition key, the size
#: read, what the dry run says of it, the size to supply).
IMPLAUSIBLE_SCALES = {
    "a 65 nm pixel written as 65 micrometer": (
        [600.0, 1.0, 2.0, 65.0, 65.0],
        "pixel_size_um",
        "scale 65 micrometer of axes y and x: expected a pixel size between 0.02 and 20 µm (live-cell "
        "microscopy), found 65 µm: 65 looks like nanometres (0.065 µm); set "
        "datasets.mine.acquisition.pixel_size_um (it takes the metadata's place), or correct the plate: "
        "write the unit 'nanometer', or the scale in µm (0.065)",
        0.065,
    ),
    "a 2000 nm z step written as 2000 micrometer": (
        [600.0, 1.0, 2000.0, 0.65, 0.65],
        "z_step_um",
        "scale 2000 micrometer of axis z: expected a z step between 0.05 and 50 µm (live-cell microscopy), "
        "found 2000 µm: 2000 looks like nanometres (2 µm)",
        2.0,
    ),
}


@pytest.mark.parametrize("case", list(IMPLAUSIBLE_SCALES))
def test_a_plate_stating_an_implausible_size_in_its_unit_is_refused_unless_the_acquisition_replaces_it(
    case: str, tmp_path: Path
) -> None:
    """A plate's scale stated in a unit it names was never checked for plausibility: a 100x
    objective's 65 nm pixel written as 65 micrometer made every cell sub-pixel (phase, the trackmate
    calibration check, the transfer checks and every plate written were wrong), with exit 0. The dry
    run refuses a size outside the bounds of live-cell microscopy (the config keys' rule), naming the
    dataset, the plate, the scale and unit read, the value and the fix, with or without phase; the
    dataset's ``acquisition`` value takes its place (with a warning), in the dry run and in the jobs
    (``read_plate_sampling``)."""
    scale, key, said, supplied = IMPLAUSIBLE_SCALES[case]
    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        edit_position_metadata(plate, fov, scale=scale)
    workflow = WorkflowConfig.model_validate(plate_config(plate))
    (problem,) = workflow_problems(workflow, {"mine": read_plate_layout(plate)}, "results")
    assert problem.startswith(f"datasets.mine.plate: {plate}: ") and said in problem
    assert f"datasets.mine.acquisition.{key}" in refused(
        plate_config(plate), tmp_path / "run"
    )  # snakemake -n
    config = plate_config(plate)
    config["datasets"]["mine"]["acquisition"] = {key: supplied}
    config["datasets"]["mine"]["tracking"] = TRACKING_SIZES_GIVEN  # a 65 nm pixel is not the defaults'
    workflow = WorkflowConfig.model_validate(config)
    sampling = workflow.datasets["mine"].acquisition.sampling()
    with pytest.warns(UserWarning, match=rf"not used \(implausible\): acquisition.{key} {supplied:g} µm"):
        layout = read_plate_layout(plate, sampling)
    assert workflow_problems(workflow, {"mine": layout}, "results") == []
    assert layout.supplied == (key,) and layout.supplied_values() == {key: supplied}
    assert read_plate_sampling(plate, sampling).supplied_values() == {key: supplied}


def test_a_unit_less_implausible_size_is_refused(tmp_path: Path) -> None:
    """A size read from axes without a unit (as µm) was not checked for plausibility: a 65 nm pixel
    written as 65 without its unit gave a 65 µm pixel size and no dry-run problem for a dataset without
    phase (only a warning). It is refused like one stated in its unit, the message saying the axis has
    no unit, unless ``acquisition`` supplies it; where only y lacks a unit, each axis is named with its
    own (y's number is not shown with x's unit)."""
    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        edit_position_metadata(plate, fov, scale=[600.0, 1.0, 2.0, 65.0, 65.0])
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"][3:]:
                axis.pop("unit")
    workflow = WorkflowConfig.model_validate(plate_config(plate))
    with pytest.warns(UserWarning, match="axes without a unit"):
        layout = read_plate_layout(plate)
    assert layout.geometry.pixel_size_um == 65.0
    (problem,) = workflow_problems(workflow, {"mine": layout}, "results")
    assert problem.startswith(
        f"datasets.mine.plate: {plate}: scale 65 (no unit, read as µm) of axes y and x: "
    )
    assert "expected a pixel size between 0.02 and 20 µm" in problem
    assert "set datasets.mine.acquisition.pixel_size_um" in problem
    config = plate_config(plate)
    config["datasets"]["mine"]["acquisition"] = {"pixel_size_um": 0.065}
    supplied = WorkflowConfig.model_validate(config)
    with pytest.warns(UserWarning, match="acquisition.pixel_size_um 0.065 µm in its place"):
        layout = read_plate_layout(plate, supplied.datasets["mine"].acquisition.sampling())
    # the 65 nm pixels are the plate's: only tracking's defaults, meant for 0.65 µm pixels, do not fit
    (problem,) = workflow_problems(supplied, {"mine": layout}, "results")
    assert problem.startswith(
        "datasets.mine.tracking: expected pixel-valued keys set for the 0.065 µm pixels of the tracking input"
    )
    assert layout.geometry.pixel_size_um == 0.065
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            ome["multiscales"][0]["axes"][4]["unit"] = "micrometer"
    with pytest.warns(UserWarning, match="axes without a unit"):
        layout = read_plate_layout(plate)
    (problem,) = workflow_problems(workflow, {"mine": layout}, "results")
    assert (
        "scale 65 (no unit, read as µm) of axis y, 65 micrometer of axis x: expected a pixel size" in problem
    )


def test_a_plausible_plate_scale_and_the_z_step_of_one_slice_are_not_refused(tmp_path: Path) -> None:
    """The bounds refuse no real microscope's sampling (a 100x objective's 0.065 µm pixels, a macro
    lens's 20 µm ones, 50 µm steps); a z step no stage reads (one slice) is not checked."""
    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    config = plate_config(plate)
    # tracking's sizes in pixels given (as such plates need: its defaults are meant for 0.65 µm pixels)
    config["datasets"]["mine"]["tracking"] = TRACKING_SIZES_GIVEN
    workflow = WorkflowConfig.model_validate(config)
    for scale in ([600.0, 1.0, 0.05, 0.065, 0.065], [600.0, 1.0, 50.0, 20.0, 20.0]):
        for fov in FOVS:
            edit_position_metadata(plate, fov, scale=scale)
        assert workflow_problems(workflow, {"mine": read_plate_layout(plate)}, "results") == []
    flat = write_plate(tmp_path / "flat.zarr", FOVS, ["Nuclei", "Sensor"], (6, 2, 1, 64, 64))
    for fov in FOVS:
        edit_position_metadata(flat, fov, scale=[600.0, 1.0, 2000.0, 0.65, 0.65])
    workflow = WorkflowConfig.model_validate(plate_config(flat))
    assert workflow_problems(workflow, {"mine": read_plate_layout(flat)}, "results") == []


def test_an_explicit_dtw_reference_leaves_other_datasets_their_own_reference(
    plate: Path, tmp_path: Path
) -> None:
    """The reference is a track of `mine`: `mine` is aligned to it (no infection state needed); the
    plate dataset `theirs`, whose table trains an infection classifier, picks its own reference from
    its predictions; `bare`, without annotations, from the predictions of the classifiers of `theirs`
    transferred to it (apply_to null: every dataset), as with no explicit reference."""
    table = tmp_path / "theirs.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    config = plate_config(plate)
    config["datasets"]["theirs"] = {
        **copy.deepcopy(config["datasets"]["mine"]),
        "annotations": {"table": str(table), "tasks": ["infection"]},
    }
    config["datasets"]["bare"] = copy.deepcopy(config["datasets"]["mine"])
    config["analysis"]["pseudotime"] = {
        # `theirs` picks its reference automatically: a window of 2 + 3 frames fits its 6
        "reference_frames_before_onset": 2,
        "reference_frames_after_onset": 3,
        "reference": {
            "dataset": "mine",
            "fov_name": "A/1/Pos0",
            "track_id": 1,
            "t_start": 0,
            "t_stop": 6,
            "onset_t": 3,
        },
    }
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    aligned = {
        (job.wildcards["model"], job.wildcards["dataset"]): sorted(map(str, job.input))
        for job in planned_jobs(configfile, tmp_path)
        if job.rule.name == "align_pseudotime"
    }
    models = ["engineered_features", "m"]
    assert sorted(aligned) == [(m, d) for m in models for d in ("bare", "mine", "theirs")]
    for model in models:
        assert aligned[model, "mine"] == [f"results/embeddings/{model}/mine.zarr/zarr.json"]
        assert f"results/evaluation/predictions/{model}/theirs.parquet" in aligned[model, "theirs"]
        assert f"results/evaluation/transfer_predictions/{model}/bare.parquet" in aligned[model, "bare"]


@pytest.mark.parametrize("event", ["infection", "division"])
def test_a_plate_dtw_aligns_gets_its_aligned_trajectories_figure(
    event: str, plate: Path, tmp_path: Path
) -> None:
    """Paper Fig 6 on any dataset: a plate DTW aligns (on its own infection predictions, `theirs`; on
    those transferred from `theirs`, `mine`; on divisions, both) gets the aligned trajectories of every
    model, registered in the report, though it has no ground truth; the accuracy figure, which plots
    the true onsets, stays on simulated datasets (none here). The rule drawing both was planned on
    simulated datasets only: a plate got no aligned trajectories."""
    table = tmp_path / "theirs.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    config = plate_config(plate)
    config["datasets"]["theirs"] = {
        **copy.deepcopy(config["datasets"]["mine"]),
        "annotations": {"table": str(table), "tasks": ["infection"]},
    }
    # a window of 2 + 3 frames fits the plate's 6
    config["analysis"]["pseudotime"] = {
        "event": event,
        "reference_frames_before_onset": 2,
        "reference_frames_after_onset": 3,
    }
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(configfile, tmp_path)
    aligned = {
        (job.wildcards["model"], job.wildcards["dataset"])
        for job in jobs
        if job.rule.name == "align_pseudotime"
    }
    drawn = {
        (job.wildcards["model"], job.wildcards["dataset"]): job
        for job in jobs
        if job.rule.name == "aligned_trajectories_figure"
    }
    assert sorted(aligned) == [(m, d) for m in ("engineered_features", "m") for d in ("mine", "theirs")]
    assert sorted(drawn) == sorted(aligned)
    for (model, dataset), job in drawn.items():
        png = f"results/figures/{dataset}/{model}/aligned_trajectories.png"
        assert [str(path) for path in job.output] == [png, png.replace(".png", ".svg")]
        assert is_flagged(job.output[0], "report")  # shown in the HTML report
        assert f"results/evaluation/pseudotime/{model}/{dataset}.parquet" in map(str, job.input)
    assert not [job for job in jobs if job.rule.name == "pseudotime_figure"]


def unscaled_phase_config(tmp_path: Path) -> dict[str, Any]:
    """A dataset on a plate (written in ``tmp_path``) whose positions have no scale transform, with
    phase reconstructed and patches of the raw Sensor and the phase; no ``acquisition`` values."""
    plate = write_plate(tmp_path / "p.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            ome["multiscales"][0]["datasets"][0]["coordinateTransformations"] = []
    config = plate_config(plate)
    config["datasets"]["mine"]["phase"] = {"brightfield_channel": "Sensor"}
    config["datasets"]["mine"]["patches"][0]["channels"].append(
        {"source": "phase", "channel": "Phase3D", "normalization": "zscore"}
    )
    return config


def test_the_acquisition_supplies_what_a_plate_without_scale_does_not_state(tmp_path: Path) -> None:
    """A movie whose plate has no scale transform: the dry run refuses it naming
    ``acquisition.time_interval_minutes``; with the acquisition's values it is planned, and the jobs that
    count in them get the config's values, not iohub's 1 s and 1 µm: the patches (their time_minutes),
    the phase plate (its time interval) and the phase stage (pixel size, z step), the QC figures."""
    config = unscaled_phase_config(tmp_path)
    message = refused(config, tmp_path / "without")
    assert "set datasets.mine.acquisition.time_interval_minutes" in message
    assert "set phase.yx_pixel_size_um or datasets.mine.acquisition.pixel_size_um" in message
    config["datasets"]["mine"]["acquisition"] = {
        "time_interval_minutes": 7,
        "pixel_size_um": 0.5,
        "z_step_um": 2,
    }
    workdir = tmp_path / "with"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(workdir / "config" / "config.yaml", workdir)
    supplied = {"time_interval_minutes": 7.0, "pixel_size_um": 0.5, "z_step_um": 2.0}
    by_rule: dict[str, list[Any]] = {}
    for job in jobs:
        by_rule.setdefault(job.rule.name, []).append(job)
    assert by_rule["extract_patches"]
    for job in by_rule["extract_patches"] + by_rule["phase_plate"]:
        assert job.params.config["supplied_sampling"] == supplied
    for job in by_rule["phase_plate"] + by_rule["phase_transfer_function"] + by_rule["reconstruct_phase"]:
        assert (job.params.config["yx_pixel_size_um"], job.params.config["z_step_um"]) == (0.5, 2.0)
    for job in by_rule.get("image_qc_figure", []):
        assert job.params.time_interval_minutes == 7.0


def test_a_plate_stating_its_sampling_keeps_its_rules_params(plate: Path, tmp_path: Path) -> None:
    """The supplied values join a rule's params only where the config supplies one: a plate that states
    its sampling (checked against ``acquisition``) plans the same params as before, so nothing reruns."""
    config = plate_config(plate)
    config["datasets"]["mine"]["acquisition"] = {"time_interval_minutes": 10, "pixel_size_um": 0.65}
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(tmp_path / "config" / "config.yaml", tmp_path)
    patch_jobs = [job for job in jobs if job.rule.name == "extract_patches"]
    assert patch_jobs
    assert all("supplied_sampling" not in job.params.config for job in patch_jobs)


def test_a_dtw_window_longer_than_a_short_movie_fails_the_dry_run(tmp_path: Path) -> None:
    """A simulated movie of 5 frames cannot hold the default DTW reference window (3 + 4 frames) nor a
    query of min_query_frames (6): refused before simulating, not by align_pseudotime after tracking,
    training and embedding; with a window and queries that fit, DTW is planned."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    config["datasets"]["tiny"]["simulate"]["n_frames"] = 5
    message = refused(config, tmp_path)
    assert (
        "analysis.pseudotime.reference_frames_before_onset/reference_frames_after_onset: expected a "
        "reference window of at most 5 frames (dataset 'tiny' has 5 frames in results/tiny/raw.zarr"
    ) in message
    assert (
        "found 3 + 4 = 7; lower them so that they add up to at most 5, or set analysis.pseudotime.reference"
        in message
    )
    assert (
        "analysis.pseudotime.min_query_frames: expected at most 5 frames (dataset 'tiny' has 5 frames in "
        "results/tiny/raw.zarr: no lineage is longer), found 6"
    ) in message
    config["analysis"]["pseudotime"] = {
        "reference_frames_before_onset": 2,
        "reference_frames_after_onset": 3,
        "min_query_frames": 5,
    }
    assert plan(config, tmp_path)["align_pseudotime"] == 3  # two models and the baseline


def _plate_problems(config: dict[str, Any], plate: Path) -> list[str]:
    from dynaclr.io.plate import read_plate_layout

    return workflow_problems(
        WorkflowConfig.model_validate(config), {"mine": read_plate_layout(plate)}, "results"
    )


def test_a_tau_in_minutes_between_two_frames_is_refused(plate: Path) -> None:
    """tau_minutes 15 on the plate's 10 min frames is 1.5 frames: the dry run passed and the job trained
    on a tau it rounded (Python's round: 2 frames, 20 min), saying so in its log only; 25 min (2.5
    frames) rounded down to the same 2. A tau within 10 % of a frame (21 min) is that frame."""
    config = plate_config(plate)
    training = config["contrastive_models"]["m"]["training"]
    del training["tau_frames"]
    for minutes, frames, choices in (
        (15, "1.5 frames", "10 min (1 frame) or 20 min (2 frames)"),
        (25, "2.5 frames", "20 min (2 frames) or 30 min (3 frames)"),
        (6, "0.6 frames", "10 min (1 frame)"),  # less than a frame: one value
        (4, "0.4 frames", "10 min (1 frame)"),
    ):
        training["tau_minutes"] = minutes
        assert _plate_problems(config, plate) == [
            f"contrastive_models.m.training.tau_minutes: expected a whole number of the 10 min frames of "
            f"dataset 'mine' (from {plate}), within 10% of one frame interval, found {minutes} min = "
            f"{frames}; use {choices}, or tau_frames"
        ]
    for minutes in (10, 21, 30):
        training["tau_minutes"] = minutes
        assert _plate_problems(config, plate) == []


def test_the_frame_count_of_a_still_image_is_checked_before_the_tau(tmp_path: Path) -> None:
    """On one frame, time-aware sampling is refused for the still image, not for a tau in minutes that
    is not a whole number of its (unused) frame interval."""
    still = write_plate(tmp_path / "still.zarr", FOVS, ["Nuclei", "Sensor"], (1, 2, 3, 64, 64))
    config = plate_config(still)
    training = config["contrastive_models"]["m"]["training"]
    del training["tau_frames"]
    training["tau_minutes"] = 15  # 1.5 of the plate's 10 min frames
    (problem,) = workflow_problems(
        WorkflowConfig.model_validate(config), {"mine": read_plate_layout(still)}, "results"
    )
    assert problem.startswith(
        "contrastive_models.m.training.tau_minutes: expected a movie of at least 2 frames for sampling "
        "'time_aware' (dataset 'mine' has 1 frame in"
    )
    assert problem.endswith("found 15 min; use sampling 'classical' for still images")


def test_a_tau_in_minutes_becomes_the_nearest_frame_halves_up() -> None:
    from dynaclr.config.training import tau_minutes_in_frames

    assert tau_minutes_in_frames(30, 20) == (2, False)
    assert tau_minutes_in_frames(50, 20) == (3, False)  # round() gave 2 of 2.5, 4 of 3.5
    assert tau_minutes_in_frames(70, 20) == (4, False)
    assert tau_minutes_in_frames(7, 7.2) == (1, True)
    assert tau_minutes_in_frames(5, 10) == (1, False)


def test_an_explicit_dtw_reference_outside_the_movie_is_refused(plate: Path) -> None:
    """The plate has 6 frames (0..5): a reference whose onset is frame 6 selects no onset."""
    config = plate_config(plate)
    reference = {"fov_name": "A/1/Pos0", "track_id": 1, "t_start": 2, "t_stop": 9, "onset_t": 6}
    config["analysis"]["pseudotime"] = {"reference": reference}
    (problem,) = _plate_problems(config, plate)
    assert problem.startswith(
        "analysis.pseudotime.reference: expected t_start, onset_t < t_stop selecting >= 2 frames of the "
        "movie including the onset (frames 0..5: dataset 'mine' has 6 frames in"
    )
    assert "found t_start=2, onset_t=6, t_stop=9" in problem
    reference["onset_t"] = 5  # frames 2..5 of the movie, the onset among them
    assert _plate_problems(config, plate) == []


def test_dtw_of_divisions_checks_every_embedded_movie(plate: Path) -> None:
    """With event 'division' every embedded dataset is aligned, a plate without annotations too."""
    config = plate_config(plate)
    assert _plate_problems(config, plate) == []  # infection: the plate has no classifier, not aligned
    config["analysis"]["pseudotime"] = {"event": "division"}
    problems = _plate_problems(config, plate)
    assert [problem.split(":")[0] for problem in problems] == [
        "analysis.pseudotime.reference_frames_before_onset/reference_frames_after_onset"
    ]
    assert "around its division event), found 3 + 4 = 7" in problems[0]


def _still_and_movie_config(tmp_path: Path) -> dict[str, Any]:
    """A plate of one frame (``still``, fixed cells) trained on by a classical model, and a movie
    (``mine``, 6 frames) it embeds too; DTW of divisions (every embedded dataset) with a window that
    fits the movie."""
    still = write_plate(tmp_path / "still.zarr", FOVS, ["Nuclei", "Sensor"], (1, 2, 3, 64, 64))
    movie = write_plate(tmp_path / "movie.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    config = plate_config(movie)
    config["datasets"]["still"] = {**copy.deepcopy(config["datasets"]["mine"]), "plate": str(still)}
    config["contrastive_models"]["m"] = {
        "train_datasets": ["still"],
        "training": {"patch_spec": "sensor", "sampling": "classical", "backbone": "convnext_atto"},
    }
    config["analysis"]["pseudotime"] = {
        "event": "division",
        "reference_frames_before_onset": 2,
        "reference_frames_after_onset": 3,
    }
    return config


def test_still_images_are_embedded_without_the_analyses_over_time(tmp_path: Path) -> None:
    """Still images (one frame) embedded by a classical model: embedding, projections and figures are
    planned for them, temporal metrics and DTW only for the movie beside them; the results table and
    the first page are told which datasets have one time point."""
    config = _still_and_movie_config(tmp_path)
    assert WorkflowConfig.model_validate(config).still_datasets({"still": 1, "mine": 6}) == ["still"]
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(configfile, tmp_path)
    by_rule: dict[str, list[Any]] = {}
    for job in jobs:
        by_rule.setdefault(job.rule.name, []).append(job)
    embedded = {(job.wildcards.model, job.wildcards.dataset) for job in by_rule["embed"]}
    assert embedded == {(m, d) for m in ("m", "engineered_features") for d in ("mine", "still")}
    drawn = {job.wildcards.dataset for job in by_rule["embedding_figures"]}
    assert drawn == {"mine", "still"}
    assert {job.wildcards.dataset for job in by_rule["project_embeddings"]} == {"mine", "still"}
    (temporal,) = by_rule["temporal_metrics"]
    assert sorted(temporal.input) == sorted(
        f"results/embeddings/{m}/mine.zarr/zarr.json" for m in ("m", "engineered_features")
    )
    assert {job.wildcards.dataset for job in by_rule["align_pseudotime"]} == {"mine"}
    (table,) = by_rule["results_table"]
    reasons = {(pair["model"], pair["dataset"]): pair["temporal_not_computed"] for pair in table.params.pairs}
    assert reasons == {
        ("m", "still"): "one time point",
        ("engineered_features", "still"): "one time point",
        ("m", "mine"): "",
        ("engineered_features", "mine"): "",
    }
    (findings,) = by_rule["findings"]
    assert findings.params.still == ["still"]


def test_still_images_alone_plan_no_temporal_metrics(tmp_path: Path) -> None:
    """Only still images: no temporal metrics job at all; the results table and the first page read
    no temporal table (they say "not computed: one time point")."""
    config = _still_and_movie_config(tmp_path)
    del config["datasets"]["mine"]
    jobs = plan(config, tmp_path)
    assert jobs["embed"] == 2 and jobs["embedding_figures"] == 2 and jobs["results_table"] == 1
    assert "temporal_metrics" not in jobs and "align_pseudotime" not in jobs
    assert jobs["findings"] == 1


def test_time_aware_sampling_and_a_dtw_reference_on_still_images_are_refused(tmp_path: Path) -> None:
    """Time-aware sampling pairs a cell with itself later, and a DTW reference is a stretch of a
    track: on one frame they are refused by the dry run. Classical and cell-aware sampling (positive:
    the anchor's own patch; negatives: other cells) need no second frame."""
    config = _still_and_movie_config(tmp_path)
    still = Path(config["datasets"]["still"]["plate"])
    layouts = {
        "still": read_plate_layout(still),
        "mine": read_plate_layout(Path(config["datasets"]["mine"]["plate"])),
    }

    def problems(edited: dict[str, Any]) -> list[str]:
        return workflow_problems(WorkflowConfig.model_validate(edited), layouts, "results")

    assert problems(config) == []
    edited = copy.deepcopy(config)
    edited["contrastive_models"]["m"]["training"].update(sampling="cell_aware")
    assert problems(edited) == []
    edited["contrastive_models"]["m"]["training"].update(sampling="time_aware", tau_frames=1)
    (problem,) = problems(edited)
    assert (
        "expected a movie of at least 2 frames for sampling 'time_aware' (dataset 'still' has 1 frame"
        in problem
    )
    assert problem.endswith("use sampling 'classical' for still images")
    edited = copy.deepcopy(config)
    edited["analysis"]["pseudotime"]["reference"] = {
        "dataset": "still",
        "fov_name": "A/1/Pos0",
        "track_id": 1,
        "t_start": 0,
        "t_stop": 1,
        "onset_t": 0,
    }
    (problem,) = problems(edited)
    assert problem.startswith(
        "analysis.pseudotime.reference: expected t_start, onset_t < t_stop selecting >= 2"
    )
    assert "dataset 'still' has 1 frame in" in problem


def test_lineage_division_labels_need_interphase_frames(plate: Path) -> None:
    """Division labels from the lineage: a frame is 'interphase' at least interphase_margin_frames from
    its track's last frame; in a movie of 6 frames a margin of 6 leaves the classifier one class."""
    config = plate_config(plate)
    config["datasets"]["mine"]["annotations"] = {"division_from_lineage": True, "interphase_margin_frames": 6}
    config["analysis"]["classification"] = {"tasks": ["division"]}
    (problem,) = _plate_problems(config, plate)
    assert problem.startswith(
        "datasets.mine.annotations.interphase_margin_frames: expected at most 5 frames (dataset 'mine' has 6 "
        "frames in"
    )
    assert problem.endswith("found 6; lower it")
    config["datasets"]["mine"]["annotations"]["interphase_margin_frames"] = 5
    assert _plate_problems(config, plate) == []


#: Per-FOV jobs of a plate: those whose params hold what the plate's sampling gives (the supplied values,
#: the interval), and track_fov.
PER_FOV_TARGETS = [
    "extract_patches:dataset=mine,spec=sensor,row=B,col=2,fov=Pos0",
    "reconstruct_phase:dataset=mine,row=B,col=2,fov=Pos0",
    "image_qc_figure:dataset=mine,row=B,col=2,fov=Pos0",
    "track_fov:dataset=mine,row=B,col=2,fov=Pos0",
]


def test_a_cluster_job_reads_one_position_of_the_plate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cluster job parses the Snakefile again: a per-FOV job of a plate whose ``acquisition``
    supplies its sampling reads one position's metadata (not every position's, about 2 s at 10,000
    FOVs) and plans the params the dry run planned (the supplied values, the time interval)."""
    config = unscaled_phase_config(tmp_path)
    supplied = {"time_interval_minutes": 7, "pixel_size_um": 0.5, "z_step_um": 2}
    config["datasets"]["mine"]["acquisition"] = supplied
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    planned = {(job.rule.name, str(job.wildcards)): job for job in planned_jobs(configfile, tmp_path)}
    read_positions = record_position_reads(monkeypatch)
    for target in PER_FOV_TARGETS:
        read_positions.clear()
        rule = target.split(":")[0]
        jobs = [job for job in planned_jobs(configfile, tmp_path, target) if job.rule.name == rule]
        assert len(jobs) == 1, target
        assert len(set(read_positions)) <= 1, f"{target} read positions {sorted(set(read_positions))}"
        assert dict(jobs[0].params) == dict(planned[rule, str(jobs[0].wildcards)].params), target


def test_a_cluster_job_lists_the_fovs_of_a_plate_in_the_dry_runs_order_without_double_slashes(
    tmp_path: Path,
) -> None:
    """A plate whose metadata lists its wells out of order, named with a trailing '/': a cluster job
    lists the plate-making job's position metadata files (io.plate.listed_fov_names) as the dry run does,
    in the same order (the metadata's order before), and no path holds '//' (`<plate>//A/1/0/zarr.json`
    before, which Snakemake warned of per job)."""
    names = ["B/2/Pos0", "A/2/Pos0", "A/10/Pos1", "A/1/Pos1", "A/1/Pos0"]
    plate = write_plate(tmp_path / "unsorted.zarr", names, ["Nuclei", "Sensor"], SHAPE)
    config = plate_config(plate)
    config["datasets"]["mine"]["plate"] = f"{plate}/"
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))

    def plate_inputs(jobs: list[Any]) -> list[str]:
        (job,) = [job for job in jobs if job.rule.name == "tracks_plate"]
        return [str(path) for path in job.input]

    planned = plate_inputs(planned_jobs(configfile, tmp_path))
    assert not [path for path in planned if "//" in path]
    in_job = plate_inputs(planned_jobs(configfile, tmp_path, "track_fov:dataset=mine,row=B,col=2,fov=Pos0"))
    assert in_job == planned


#: The FOV names of tiff_config's files.
FOVS_OF_TIFFS = ["A/1/Pos0", "A/1/Pos1", "A/1/Pos2"]


def tiff_config(tmp_path: Path, files: str = "tiffs/{position}/t{t}.tif") -> dict[str, Any]:
    """plate_config's dataset given as plain TIFFs (written in ``tmp_path``, named after ``files``) of
    one time point each: the plate's 3 positions, 6 frames, 2 channels and 3 slices, sampling from the
    config."""
    import numpy as np
    import tifffile

    for position in ("Pos0", "Pos1", "Pos2"):
        for t in range(SHAPE[0]):
            path = tmp_path / files.format(position=position, t=t)
            path.parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(path, np.zeros(SHAPE[1:], np.uint16), photometric="minisblack", metadata=None)
    config = plate_config(tmp_path / "unused.zarr")
    dataset = config["datasets"]["mine"]
    del dataset["plate"]
    dataset["tiff"] = {
        "files": files,
        "axes": "CZYX",
        "channel_names": ["Nuclei", "Sensor"],
        "time_interval_minutes": 7,
        "pixel_size_um": 0.5,
        "z_step_um": 2,
    }
    return config


def test_a_cluster_job_of_a_tiff_dataset_reads_one_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A per-FOV job of a dataset given as TIFF files of one time point each (10^4-10^5 files) reads
    one file's header for the sampling its params hold (the QC figure's time interval) and whether
    the dataset is a movie, not every file's, and does not sort every file (rule convert_tiff's
    input, tiff_files); it plans the params the dry run planned."""
    import dynaclr.convert as convert
    import dynaclr.convert.tiff as tiff_module

    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(tiff_config(tmp_path), sort_keys=False))
    monkeypatch.chdir(tmp_path)
    planned = {(job.rule.name, str(job.wildcards)): job for job in planned_jobs(configfile, tmp_path)}
    qc_figures = [job for (rule, _), job in planned.items() if rule == "image_qc_figure"]
    assert {job.params.time_interval_minutes for job in qc_figures} == {7}, [
        str(j.wildcards) for j in qc_figures
    ]
    read: list[Any] = []
    read_header, find_files = tiff_module.read_tiff_header, convert.find_tiff_files
    monkeypatch.setattr(
        tiff_module, "read_tiff_header", lambda *args: read.append(args) or read_header(*args)
    )
    monkeypatch.setattr(convert, "find_tiff_files", lambda *args: read.append("find") or find_files(*args))
    for target in (
        "image_qc_figure:dataset=mine,row=A,col=1,fov=Pos2",
        "extract_patches:dataset=mine,spec=sensor,row=A,col=1,fov=Pos2",
    ):
        read.clear()
        rule = target.split(":")[0]
        jobs = planned_jobs(configfile, tmp_path, target, allowed_rules={rule})
        assert [job.rule.name for job in jobs] == [rule]
        assert len(read) <= 1 and "find" not in read, f"{target}: {read}"
        assert dict(jobs[0].params) == dict(planned[rule, str(jobs[0].wildcards)].params), target


def record_tiff_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, what dynaclr reads of TIFF files: ``header <path>`` per header read and
    ``listed <path>`` per file (not folder) a listing of the files returns."""
    import glob
    from types import SimpleNamespace

    import dynaclr.convert.tiff as tiff_module

    read: list[str] = []
    read_header = tiff_module.read_tiff_header

    def listing(pattern: str) -> list[str]:
        found = glob.glob(pattern)
        read.extend(f"listed {Path(path).as_posix()}" for path in found if Path(path).is_file())
        return found

    def reading(path: str | Path, *rest: Any) -> Any:
        read.append(f"header {path}")
        return read_header(path, *rest)

    monkeypatch.setattr(tiff_module, "read_tiff_header", reading)
    monkeypatch.setattr(tiff_module, "glob", SimpleNamespace(glob=listing, escape=glob.escape))
    return read


def _tiff_configfile(tmp_path: Path, config: dict[str, Any]) -> Path:
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return configfile


def _job_reads(configfile: Path, tmp_path: Path, target: str, read: list[str], planned: dict) -> list[str]:
    """What the cluster job ``target`` (``rule:wildcards``) reads of the TIFF files while it parses the
    Snakefile; checks that it plans the params the dry run planned."""
    read.clear()
    rule = target.split(":")[0]
    jobs = planned_jobs(configfile, tmp_path, target, allowed_rules={rule})
    assert [job.rule.name for job in jobs] == [rule]
    assert dict(jobs[0].params) == dict(planned[rule, str(jobs[0].wildcards)].params), target
    return list(read)


def _planned_tiff_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any] | None = None
) -> tuple[Path, dict, list[str]]:
    """The plan of ``config`` (default: tiff_config's; the dry run, in ``tmp_path``) by (rule,
    wildcards), and what it read of the TIFF files (record_tiff_reads, recording on)."""
    configfile = _tiff_configfile(tmp_path, tiff_config(tmp_path) if config is None else config)
    monkeypatch.chdir(tmp_path)
    read = record_tiff_reads(monkeypatch)
    planned = {(job.rule.name, str(job.wildcards)): job for job in planned_jobs(configfile, tmp_path)}
    return configfile, planned, read


def test_planning_reads_each_tiff_header_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dry run reads every TIFF file's header once: the checks of every file, and the sampling
    from the first, which it takes from those headers without reading the first again."""
    _, _, read = _planned_tiff_jobs(tmp_path, monkeypatch)
    headers = Counter(line for line in read if line.startswith("header "))
    assert len(headers) == 3 * SHAPE[0] and set(headers.values()) == {1}, headers


def test_the_qc_table_of_a_tiff_dataset_reads_its_converted_plates_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QC table reads the converted plate's record (the conversion's warnings), and the first
    page its import_warnings.csv; before, neither did: the warnings were in the job's log only."""
    from dynaclr.qc import QcTableInputs

    _, planned, _ = _planned_tiff_jobs(tmp_path, monkeypatch)
    (qc,) = [job for (rule, _), job in planned.items() if rule == "qc_table"]
    assert QcTableInputs.from_rule(qc.input).converted_plate == Path("results/mine/raw.zarr")
    (findings,) = [job for (rule, _), job in planned.items() if rule == "findings"]
    assert list(findings.input.import_warnings) == ["results/mine/import_warnings.csv"]
    assert findings.params.sources["import_warnings"] == ["mine"]


@pytest.mark.parametrize(
    "target",
    ["collect_tracks:dataset=mine", "collect_patches:dataset=mine,spec=sensor", "qc_table:dataset=mine"],
)
def test_a_cluster_job_listing_the_fovs_of_a_tiff_dataset_reads_no_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """A per-dataset job that needs the FOV names (collect_tracks, collect_patches, qc_table: every
    FOV's files as inputs) takes them from the file names, reading no header, and plans the params the
    dry run planned."""
    configfile, planned, read = _planned_tiff_jobs(tmp_path, monkeypatch)
    reads = _job_reads(configfile, tmp_path, target, read, planned)
    assert not [line for line in reads if line.startswith("header ")], reads
    assert any(line.startswith("listed ") for line in reads), reads


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ("tiffs/{position}/t{t}.tif", False),  # a folder per position
        ("tiffs/{position}_t{t}.tif", True),  # every position's files in one folder, positions named
    ],
)
def test_a_per_fov_job_of_a_tiff_dataset_lists_the_first_fovs_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: str, named: bool
) -> None:
    """A per-FOV job that needs the sampling (image_qc_figure's time interval) reads the first file's
    header and lists the first FOV's files only, not every FOV's: where '{position}' names folders,
    the first FOV's folder; where every position's files share one folder and the config names the
    positions, the first named position's files."""
    config = tiff_config(tmp_path, files)
    if named:
        config["datasets"]["mine"]["tiff"]["positions"] = {
            fov.rsplit("/", 1)[1]: fov for fov in FOVS_OF_TIFFS
        }
    configfile, planned, read = _planned_tiff_jobs(tmp_path, monkeypatch, config)
    target = "image_qc_figure:dataset=mine,row=A,col=1,fov=Pos2"
    reads = _job_reads(configfile, tmp_path, target, read, planned)
    first_fov = [files.format(position="Pos0", t=t) for t in range(SHAPE[0])]
    assert [line for line in reads if line.startswith("header ")] == [f"header {first_fov[0]}"], reads
    listed = [line for line in reads if line.startswith("listed ")]
    assert sorted(listed) == sorted(f"listed {path}" for path in first_fov), reads


def test_the_per_fov_jobs_of_a_flat_tiff_folder_list_no_file_but_the_qc_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every position's files in one folder, positions not named (the first FOV is known only from
    every file's name): planning lists the folder once; the per-FOV jobs that run for every FOV
    (track_fov, extract_patches) list no file and read no header; image_qc_figure, the one per-FOV
    job needing the sampling, lists the folder once and reads one header, and it runs for
    qc_figures.max_fovs FOVs only, not for every FOV."""
    files = "tiffs/{position}_t{t}.tif"
    config = tiff_config(tmp_path, files)
    config["datasets"]["mine"]["qc_figures"] = {"max_fovs": 2}
    configfile, planned, read = _planned_tiff_jobs(tmp_path, monkeypatch, config)
    positions = ("Pos0", "Pos1", "Pos2")
    every_file = [f"listed {files.format(position=p, t=t)}" for p in positions for t in range(SHAPE[0])]
    assert sorted(line for line in read if line.startswith("listed ")) == sorted(every_file), read
    qc_figures = sorted(str(job.wildcards) for (rule, _), job in planned.items() if rule == "image_qc_figure")
    assert len(qc_figures) == 2, qc_figures
    for rule in ("track_fov", "extract_patches"):
        (job,) = [job for (name, _), job in planned.items() if name == rule and job.wildcards.fov == "Pos1"]
        target = f"{rule}:" + ",".join(f"{key}={value}" for key, value in job.wildcards.items())
        assert _job_reads(configfile, tmp_path, target, read, planned) == [], target
    target = "image_qc_figure:dataset=mine,row=A,col=1,fov=Pos2"
    reads = _job_reads(configfile, tmp_path, target, read, planned)
    assert sorted(reads) == sorted([*every_file, "header tiffs/Pos0_t0.tif"]), reads


def test_a_cluster_job_needing_the_shape_of_a_tiff_dataset_reads_one_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """import_tracks of a TIFF dataset (its FOV names and the plate's shape in its params) reads the
    first file's header only, not every file's, and plans the params the dry run planned."""
    table = tmp_path / "tracks.csv"
    table.write_text("fov_name,track_id,t,y,x,parent_track_id\nA/1/Pos0,1,0,10,10,-1\n")
    config = tiff_config(tmp_path)
    config["datasets"]["mine"]["tracks"] = {"format": "table", "path": str(table)}
    del config["datasets"]["mine"]["tracking_input"]
    configfile = _tiff_configfile(tmp_path, config)
    monkeypatch.chdir(tmp_path)
    planned = {(job.rule.name, str(job.wildcards)): job for job in planned_jobs(configfile, tmp_path)}
    (job,) = [job for (rule, _), job in planned.items() if rule == "import_tracks"]
    assert job.params.shape_tzyx == [SHAPE[0], *SHAPE[2:]] and job.params.fov_names == FOVS_OF_TIFFS
    # each FOV's position, which a fov_name column holding positions (Pos0) is told to be
    assert job.params.sampling_um["positions"] == {fov: fov.rsplit("/", 1)[1] for fov in FOVS_OF_TIFFS}
    read = record_tiff_reads(monkeypatch)
    reads = _job_reads(configfile, tmp_path, "import_tracks:dataset=mine", read, planned)
    assert [line for line in reads if line.startswith("header ")] == ["header tiffs/Pos0/t0.tif"], reads


@pytest.mark.parametrize(
    "positions",
    [
        {"Pos0": "B/2/0", "Pos1": "A/1/0", "Pos2": "A/1/7"},  # tiff.positions maps them
        None,  # the default FOV naming, A/1/<position>
    ],
)
def test_files_named_by_tiff_position_are_each_fovs_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, positions: dict[str, str] | None
) -> None:
    """tracks.path and annotations.table with ``{position}`` (a TrackMate file and an annotation table
    per Micro-Manager position): the dry run plans import_tracks on each FOV's own position's file, in
    the plate's FOV order, and import_annotations on the tables that exist (one position has none);
    a position's tracks file missing is refused naming the FOV and the file."""
    config = tiff_config(tmp_path)
    dataset = config["datasets"]["mine"]
    if positions is not None:
        dataset["tiff"]["positions"] = positions
    del dataset["tracking_input"]
    dataset["tracks"] = {"format": "trackmate", "path": "tm/{position}.xml"}
    dataset["annotations"] = {"table": "ann/{position}.csv", "tasks": ["division"]}
    for folder, names in (("tm", ("Pos0.xml", "Pos1.xml", "Pos2.xml")), ("ann", ("Pos0.csv", "Pos2.csv"))):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / name).write_text(
                "fov_name,track_id,t,task,label\n" if folder == "ann" else ""
            )
    configfile, planned, _ = _planned_tiff_jobs(tmp_path, monkeypatch, config)
    fov_of = positions or {p: f"A/1/{p}" for p in ("Pos0", "Pos1", "Pos2")}
    position_of = {fov: position for position, fov in fov_of.items()}
    (job,) = [job for (rule, _), job in planned.items() if rule == "import_tracks"]
    fov_names = job.params.fov_names
    assert sorted(fov_names) == sorted(position_of)
    assert list(job.input.files) == [f"tm/{position_of[fov]}.xml" for fov in fov_names]
    # each FOV's TIFF files, which its TrackMate file's ImageData filename is compared with
    assert job.params.sampling_um["image_files"] == {
        fov: [f"tiffs/{position_of[fov]}/t{t}.tif" for t in range(SHAPE[0])] for fov in fov_names
    }
    (job,) = [job for (rule, _), job in planned.items() if rule == "import_annotations"]
    assert list(job.input.table) == [
        f"ann/{position_of[fov]}.csv" for fov in fov_names if fov != fov_of["Pos1"]
    ]
    # each FOV's position rides in fov_names, a param of the job's input (not compared by Snakemake's
    # params trigger), in the plate's FOV order
    assert job.params.fov_names == position_of and list(job.params.fov_names) == fov_names
    assert job.params.fov_names not in list(job.non_derived_params)
    (tmp_path / "tm" / "Pos1.xml").unlink()
    with pytest.raises(WorkflowError) as refused_plan:
        planned_jobs(configfile, tmp_path)
    message = str(refused_plan.value)
    assert (
        f"datasets.mine.tracks.path: expected a TrackMate XML file per FOV of results/mine/raw.zarr "
        f"('tm/{{position}}.xml'), found none for 1 of 3 FOVs (FOV {fov_of['Pos1']}: tm/Pos1.xml)"
    ) in message


def test_imported_tracks_of_a_simulated_plate_are_scored_against_its_ground_truth(tmp_path: Path) -> None:
    """A simulated dataset whose tracks are imported (tracks:) has ground truth: evaluate_tracking is
    planned for it like for ultrack's tracks, reading the imported table and no tracks plate, and the
    first page reads its scores; a plate of one's own with imported tracks gets none, its page says
    it is not scored."""
    from integration.workflow_helpers import tiny_workflow_config

    table = tmp_path / "tracks.csv"
    table.write_text("fov_name,track_id,t,y,x,parent_track_id\nA/1/0,1,0,10,10,-1\n")
    config = tiny_workflow_config()
    config["contrastive_models"] = {}
    config["analysis"] = {"baselines": []}
    config["exports"] = {}  # the CTC export reads label images: refused when every dataset imports tracks
    config["datasets"]["tiny"]["tracks"] = {"format": "table", "path": str(table)}
    own = write_plate(tmp_path / "own.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:  # own's tracks: a CTC folder per FOV
        folder = tmp_path / "ctc" / fov.replace("/", "_")
        folder.mkdir(parents=True)
        (folder / "res_track.txt").write_text("1 0 0 0\n")
    config["datasets"]["own"] = {
        "plate": str(own),
        "phase": None,
        "tracks": {"format": "ctc", "path": str(tmp_path / "ctc" / "{row}_{col}_{fov}")},
    }
    # a plate of one's own tracked by ultrack on its own nuclear channel: no ground truth either
    wells = write_plate(tmp_path / "wells.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    config["datasets"]["wells"] = {"plate": str(wells), "phase": None}
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(configfile, tmp_path)
    rules = Counter(job.rule.name for job in jobs)
    assert rules["import_tracks"] == 2
    ultrack = {"tracks_plate", "track_fov", "collect_tracks"}
    tracked = {job.wildcards.dataset for job in jobs if job.rule.name in ultrack}
    assert tracked == {"wells"}  # ultrack tracks wells only
    (evaluation,) = [job for job in jobs if job.rule.name == "evaluate_tracking"]
    assert evaluation.wildcards.dataset == "tiny"
    assert sorted(evaluation.input.keys()) == ["labels", "tracks", "truth"]
    assert evaluation.input.tracks == "results/tiny/tracks.parquet"
    (findings,) = [job for job in jobs if job.rule.name == "findings"]
    assert "results/tiny/evaluation/tracking.csv" in findings.input
    # and its record, which states the frames scored where CTC folders cover part of the movie
    assert list(findings.input.tracking_records) == ["results/tiny/evaluation/tracking.json"]
    assert findings.params.sources["tracking"] == ["tiny"]
    # own (phase: null, tracks imported, no ground truth): its line says what ran, not scored
    assert findings.params.unscored == {"own": ["imported_tracks"], "wells": ["tracking"]}
    # the QC table reads every imported table's record (the frames each CTC folder tracked, the
    # import's warnings), and none where ultrack tracks; the first page reads its import warnings
    from dynaclr.qc import QcTableInputs

    qc_inputs = {job.wildcards.dataset: job.input for job in jobs if job.rule.name == "qc_table"}
    for dataset in ("own", "tiny"):
        imported = QcTableInputs.from_rule(qc_inputs[dataset]).imported_tracks
        assert imported == Path(f"results/{dataset}/tracks.parquet")
    assert QcTableInputs.from_rule(qc_inputs["wells"]).imported_tracks is None
    assert findings.params.sources["import_warnings"] == ["own", "tiny"]
    assert list(findings.input.import_warnings) == [
        f"results/{d}/import_warnings.csv" for d in ("own", "tiny")
    ]


@pytest.mark.parametrize(
    ("training", "message"),
    [
        (
            {"excluded_fovs": ["A/1/Pos0", "A/1/Pos1"], "validation_fraction": 0.25},
            "contrastive_models.m.training.validation_fraction: expected a fraction that leaves a "
            "training FOV (dataset 'mine' has 1 FOV(s) left by "
            "contrastive_models.m.training.excluded_fovs in",
        ),
        (
            {"excluded_fovs": ["A/1/Pos0"], "validation_fovs": ["A/1/Pos1", "B/2/Pos0"]},
            "contrastive_models.m.training.validation_fovs: expected a list that leaves a FOV for "
            "training, found every FOV not excluded of",
        ),
        (
            {"excluded_fovs": ["A/1/Pos0"], "validation_fovs": ["A/1/Pos0"]},
            "contrastive_models.m.training.validation_fovs: expected FOVs that are not also in "
            "contrastive_models.m.training.excluded_fovs",
        ),
        (
            {"excluded_fovs": FOVS},
            "contrastive_models.m.training.excluded_fovs: expected a list that leaves a FOV to train on",
        ),
    ],
)
def test_the_training_split_is_checked_without_the_excluded_fovs(
    plate: Path, training: dict[str, Any], message: str
) -> None:
    """excluded_fovs are neither trained nor validated on: a split that only works with them counted,
    or names a FOV in both lists, fails the dry run (not train_contrastive after every upstream
    stage ran, with a message blaming the wrong key)."""
    config = plate_config(plate)
    config["contrastive_models"]["m"]["training"].update(training)
    problems = _plate_problems(config, plate)
    assert any(problem.startswith(message) for problem in problems), problems
    config["contrastive_models"]["m"]["training"].update({"excluded_fovs": ["A/1/Pos0"]})
    config["contrastive_models"]["m"]["training"].pop("validation_fovs", None)
    config["contrastive_models"]["m"]["training"]["validation_fraction"] = 0.25
    assert _plate_problems(config, plate) == []


def test_a_cluster_job_of_a_plate_with_baseline_transfers_reads_one_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A simulated dataset beside a plate of one's own, each with a model, and the engineered-features
    baseline whose classifiers may transfer between them (apply_to null): what decides the transfers
    (the plates' sampling and depth) and the report's tables is planned with the report's jobs, not
    while a cluster job of one FOV parses the Snakefile, which reads one position of the plate."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    own = plate_config(write_plate(tmp_path / "own.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE))
    config["datasets"]["own"] = own["datasets"]["mine"]
    config["contrastive_models"]["own_model"] = {**own["contrastive_models"]["m"], "train_datasets": ["own"]}
    config["analysis"]["baselines"] = ["engineered_features"]
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    planned_jobs(configfile, tmp_path)  # the whole plan is sound
    read_positions = record_position_reads(monkeypatch)
    target = "extract_patches:dataset=own,spec=sensor,row=B,col=2,fov=Pos0"
    jobs = [job for job in planned_jobs(configfile, tmp_path, target) if job.rule.name == "extract_patches"]
    assert len(jobs) == 1
    assert len(set(read_positions)) <= 1, sorted(set(read_positions))


@pytest.mark.parametrize("key", ["excluded_fovs", "validation_fovs"])
def test_the_fovs_of_a_model_trained_on_several_datasets_are_checked_at_the_dry_run(
    plate: Path, key: str
) -> None:
    """A model trained on two datasets names FOVs 'dataset:row/col/fov': a name without its dataset, of a
    dataset the model does not train on, or of no FOV of its dataset's plate fails the dry run, naming
    the key, the entry and what exists (not train_contrastive after every upstream stage ran); names
    of the model's datasets' FOVs pass."""
    config = plate_config(plate)
    config["datasets"]["yours"] = copy.deepcopy(config["datasets"]["mine"])
    config["contrastive_models"]["m"]["train_datasets"] = ["mine", "yours"]
    training = config["contrastive_models"]["m"]["training"]
    training[key] = ["A/1/Pos0", "theirs:A/1/Pos0", "yours:A/1/Pos9", "mine:B/2/Pos0"]
    layouts = {name: read_plate_layout(plate) for name in ("mine", "yours")}
    problems = workflow_problems(WorkflowConfig.model_validate(config), layouts, "results")
    full_key = f"contrastive_models.m.training.{key}"
    assert sorted(problem for problem in problems if problem.startswith(f"{full_key}: ")) == sorted(
        [
            f"{full_key}: expected FOVs qualified by their dataset ('dataset:row/col/fov'; the model trains "
            "on ['mine', 'yours']), found ['A/1/Pos0']; e.g. mine:A/1/Pos0",
            f"{full_key}: expected FOVs of the datasets the model trains on (train_datasets ['mine', "
            "'yours']), found ['theirs:A/1/Pos0']",
            f"{full_key}: expected FOVs of the plate {plate} (dataset 'yours') {FOVS}, "
            "found ['yours:A/1/Pos9']",
        ]
    ), problems
    training[key] = ["mine:B/2/Pos0", "yours:A/1/Pos1"]
    assert workflow_problems(WorkflowConfig.model_validate(config), layouts, "results") == []


def test_a_model_trained_on_one_dataset_may_qualify_its_fovs(plate: Path) -> None:
    """Training reads 'dataset:row/col/fov' with one dataset too (split_pooled_fovs, without_excluded_fovs):
    the dry run accepts it for that dataset and refuses another dataset's name."""
    config = plate_config(plate)
    config["contrastive_models"]["m"]["training"]["excluded_fovs"] = ["mine:A/1/Pos0"]
    assert _plate_problems(config, plate) == []
    config["contrastive_models"]["m"]["training"]["excluded_fovs"] = ["yours:A/1/Pos0"]
    assert _plate_problems(config, plate) == [
        "contrastive_models.m.training.excluded_fovs: expected FOVs of the datasets the model trains on "
        "(train_datasets ['mine']), found ['yours:A/1/Pos0']"
    ]


def test_an_analysis_matrix_some_embedded_model_does_not_store_is_refused(
    plate: Path, tmp_path: Path
) -> None:
    """Every analysis reads its ``representation`` from the embeddings of every model embedding the
    datasets it analyses: the engineered-features baseline stores no projections, and only it stores
    'standardized'. Such a config planned, embedded everything and failed in temporal_metrics,
    project_embeddings, embedding_figures (KeyError in open_representation); the dry run refuses it,
    naming the key, the matrix and the models without it."""
    config = plate_config(plate)  # model m and the engineered_features baseline embed dataset 'mine'
    config["analysis"]["temporal_metrics"] = {"representation": "projections"}
    message = refused(config, tmp_path)
    assert (
        "analysis.temporal_metrics.representation: expected a matrix every model embedding dataset 'mine' "
        "stores, found 'projections', which ['engineered_features'] do not store" in message
    ), message
    assert "analysis.figures.distances_representation: expected a matrix" in message  # follows it
    config["analysis"]["temporal_metrics"] = {}
    config["analysis"]["projections"] = {"representation": "standardized"}
    config["analysis"]["baselines"] = ["engineered_features", "random_weights"]
    assert _plate_problems(config, plate) == [
        "analysis.projections.representation: expected a matrix every model embedding dataset 'mine' stores, "
        "found 'standardized', which ['m', 'random_weights'] do not store ('standardized' is the "
        "engineered-features baseline's z-scored X only); use 'features'"
    ]
    # the matrix every embedding model stores is accepted: projections without engineered features
    config["analysis"]["projections"] = {"representation": "projections"}
    config["analysis"]["interpretation"] = {"enabled": True, "representation": "projections"}
    config["analysis"]["baselines"] = ["random_weights"]
    assert _plate_problems(config, plate) == []
    # ... and interpretation's matrix is read only when it is enabled
    config["analysis"]["baselines"] = ["engineered_features"]
    config["analysis"]["projections"] = {}
    config["analysis"]["interpretation"] = {"enabled": False, "representation": "projections"}
    assert _plate_problems(config, plate) == []
    config["analysis"]["interpretation"]["enabled"] = True
    assert [problem.split(":")[0] for problem in _plate_problems(config, plate)] == [
        "analysis.interpretation.representation"
    ]


def _simulated_layouts(config: dict[str, Any]) -> tuple[WorkflowConfig, dict[str, Any]]:
    """``config`` validated and the layouts of its simulated datasets, as the dry run gets them."""
    from dynaclr.config.plate_checks import simulated_layout

    validated = WorkflowConfig.model_validate(config)
    layouts = {
        name: simulated_layout(dataset.simulate, f"results/{name}/raw.zarr")
        for name, dataset in validated.datasets.items()
        if dataset.simulate is not None
    }
    return validated, layouts


def _simulated_problems(config: dict[str, Any]) -> list[str]:
    """The dry run's problems of a config whose datasets are all simulated."""
    return workflow_problems(*_simulated_layouts(config), "results")


def test_matching_ground_truth_on_track_ids_of_ultrack_tracks_is_refused(tmp_path: Path) -> None:
    """A simulated dataset's ground truth, and the annotations drawn from it, carry the simulator's track
    ids; its tracks are ultrack's, numbered on their own. Matching them on 'track' (same fov, track_id,
    t) paired unrelated cells: classifiers trained on, and DTW, figures and distillation scored against,
    other cells' labels, every job exiting 0. The dry run refuses it, naming the key and the dataset."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    assert _simulated_problems(config) == []
    config["analysis"]["classification"] = {"match_annotations_on": "track"}
    config["analysis"]["pseudotime"] = {"match_truth_on": "track"}  # figures.match_truth_on follows it
    problems = _simulated_problems(config)
    assert [problem.split(":")[0] for problem in problems] == [
        "analysis.classification.match_annotations_on",
        "analysis.pseudotime.match_truth_on",
        "analysis.figures.match_truth_on",
    ], problems
    assert problems[0] == (
        "analysis.classification.match_annotations_on: expected 'position' for dataset 'tiny', found "
        "'track': its annotations are drawn from the simulator's ground truth, whose track ids are not "
        "those of its tracks (ultrack's), so matching on track ids pairs unrelated cells; use 'position'"
    )
    message = refused(config, tmp_path)
    assert "analysis.pseudotime.match_truth_on: expected 'position' for dataset 'tiny'" in message
    # tracks of one's own (e.g. the ground truth's) may be matched on their ids
    (tmp_path / "tracks.csv").write_text("fov_name,track_id,t,y,x\nA/1/0,1,0,10,10\n")
    config["datasets"]["tiny"]["tracks"] = {"format": "table", "path": str(tmp_path / "tracks.csv")}
    config["exports"]["ctc_tracks"] = False  # imported tracks have no label images to export
    assert _simulated_problems(config) == []


def test_occlusion_with_no_classified_dataset_of_its_models_is_refused(plate: Path, tmp_path: Path) -> None:
    """analysis.occlusion.enabled attributes a model on a dataset whose own annotations fitted its
    classifiers. A plate dataset without annotations (an imported checkpoint's model, say) planned no
    occlusion_attribution job and the run exited 0 without it; the dry run refuses it, naming the key.
    On a simulated dataset (annotated from ground truth) the same setting plans its jobs."""
    from integration.workflow_helpers import tiny_workflow_config

    config = plate_config(plate)
    config["analysis"]["occlusion"] = {"enabled": True}
    message = refused(config, tmp_path)
    assert "analysis.occlusion.enabled: expected a model of analysis.occlusion.models" in message
    assert "found the models embedding {'m': ['mine']} and classifiers trained on no dataset" in message
    simulated = tiny_workflow_config()
    simulated["analysis"]["occlusion"] = {"enabled": True}
    assert WorkflowConfig.model_validate(simulated).analysis.occlusion.enabled
    simulated["analysis"]["classification"] = {"train_on": []}
    with pytest.raises(ValueError, match="classifiers trained on no dataset"):
        WorkflowConfig.model_validate(simulated)


def test_ctc_export_of_datasets_that_all_import_their_tracks_is_refused(plate: Path) -> None:
    """exports.ctc_tracks exports the label images of the datasets the workflow tracks; a dataset whose
    tracks are imported has none and is skipped. With every dataset's tracks imported, the run exited 0
    with no CTC folder; the config is refused, naming the key. One tracked dataset beside is enough."""
    config = plate_config(plate)
    del config["datasets"]["mine"]["tracking_input"]
    config["datasets"]["mine"]["tracks"] = {"format": "table", "path": "tracks.csv"}
    config["exports"] = {"ctc_tracks": True}
    with pytest.raises(ValueError, match=r"exports.ctc_tracks: expected a dataset tracked by the workflow"):
        WorkflowConfig.model_validate(config)
    config["datasets"]["tracked"] = plate_config(plate)["datasets"]["mine"]
    assert WorkflowConfig.model_validate(config).exports.ctc_tracks


@pytest.mark.parametrize("key", ["h5ad", "feature_parquet", "viscy_features"])
def test_embedding_exports_with_nothing_embedded_are_refused(plate: Path, key: str) -> None:
    """exports.h5ad, feature_parquet and viscy_features copy each embeddings store; with no contrastive
    model (the baselines embed only the datasets a model embeds) the run exited 0 with no export; the
    config is refused, naming the key. With a model embedding the plate it is accepted."""
    config = plate_config(plate)
    models = config.pop("contrastive_models")
    config["exports"] = {key: True}
    with pytest.raises(ValueError) as raised:
        WorkflowConfig.model_validate(config)
    assert (
        f"exports.{key}: expected an embeddings store to export, found no contrastive model, and the "
        "baselines"
    ) in str(raised.value)
    assert f"or set exports.{key} to false" in str(raised.value)
    config["contrastive_models"] = models
    assert getattr(WorkflowConfig.model_validate(config).exports, key)


def test_a_plate_naming_the_sensor_otherwise_is_embedded_once_its_channel_is_named(
    plate: Path, tmp_path: Path
) -> None:
    """Another lab's plate calls the nuclei 'H2B' and the sensor 'mCherry'. Its patch channel reading
    'mCherry' gives the model's input only when named 'Sensor': then the model trained on 'mine'
    embeds it (and its patches read the plate's 'mCherry'); unnamed, it is not embedded, and naming
    it in embed_datasets is refused with the way out."""
    other = write_plate(tmp_path / "other.zarr", FOVS, ["H2B", "mCherry"], SHAPE)
    config = plate_config(plate)
    theirs = copy.deepcopy(config["datasets"]["mine"])
    theirs["plate"] = str(other)
    theirs["tracking_input"]["channel"] = "H2B"
    theirs["patches"][0]["channels"][0]["channel"] = "mCherry"
    config["datasets"]["theirs"] = theirs
    assert plan(config, tmp_path / "unnamed")["embed"] == 2  # the model and the baseline, on 'mine'
    config["contrastive_models"]["m"]["embed_datasets"] = ["mine", "theirs"]
    assert "give it name: Sensor" in refused(config, tmp_path / "refused")
    theirs["patches"][0]["channels"][0]["name"] = "Sensor"
    assert plan(config, tmp_path / "named")["embed"] == 4  # the model's and the baseline's, on each


def test_a_table_per_fov_lists_the_files_that_exist_as_the_imports_inputs(
    plate: Path, tmp_path: Path
) -> None:
    """annotations.table a pattern: the import's inputs are the FOVs' files that exist, in the plate's
    order (editing or adding one reruns it), in the dry run and as a cluster job plans it; the FOV
    names it is given are not a compared param (they rerun no import); with no file at all the dry
    run refuses the config, naming the key and the pattern."""
    folder = tmp_path / "annotations"
    folder.mkdir()
    pattern = str(folder / "{row}_{col}_{fov}.csv")
    config = plate_config(plate)
    config["datasets"]["mine"]["annotations"] = {"table": pattern, "tasks": ["infection"]}
    # the automatic DTW reference's window fits the plate's 6 frames
    config["analysis"]["pseudotime"] = {"reference_frames_before_onset": 2, "reference_frames_after_onset": 3}
    message = refused(config, tmp_path / "none")
    assert (
        f"datasets.mine.annotations.table: expected an annotation file for at least one FOV of {plate} "
        f"({pattern!r}), found none of the 3 (FOV A/1/Pos0: {folder}/A_1_Pos0.csv;"
    ) in message
    files = [folder / "A_1_Pos0.csv", folder / "B_2_Pos0.csv"]
    for file in files:
        file.write_text("fov_name,track_id,t,task,label\n")
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    for target in (None, "import_annotations:dataset=mine"):
        jobs = planned_jobs(configfile, tmp_path, target_job=target)
        (job,) = [job for job in jobs if job.rule.name == "import_annotations"]
        if target is None:  # the QC table reads the import's record for its warnings, the first page them
            from dynaclr.qc import QcTableInputs

            (qc,) = [job for job in jobs if job.rule.name == "qc_table"]
            assert QcTableInputs.from_rule(qc.input).imported_annotations == Path(job.output.annotations)
            (findings,) = [job for job in jobs if job.rule.name == "findings"]
            assert list(findings.input.import_warnings) == ["results/mine/import_warnings.csv"]
        assert list(job.input.table) == [str(file) for file in files]
        assert job.params.fov_names == FOVS
        assert FOVS not in list(job.non_derived_params)
        # which rows are one cell follows the classifiers' matching: a compared param
        assert job.params.match_annotations_on == "position"
        assert "position" in list(job.non_derived_params)
        # the table's y, x are matched to the tracked cells within the classifiers' distance, and read
        # as micrometres on the plate's stated pixels (check_position_reading)
        assert job.params.max_match_distance_px == 6.0 and job.params.pixel_size_um == 0.65


def test_a_camera_offset_beyond_the_plates_pixel_type_is_refused_by_the_dry_run(tmp_path: Path) -> None:
    """The default camera offset (100: a 16-bit camera's) on an 8-bit plate was refused by each phase
    job only once it ran; the plate's pixel type is in its metadata: the dry run refuses it naming the
    dataset, the key, the value, the limit and the plate's pixel type. A 16-bit plate, a float plate
    and the 8-bit plate's own dark level pass; a dataset without phase is not checked."""
    for dtype in ("uint8", "uint16", "float32"):
        plate = write_plate(tmp_path / f"{dtype}.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE, dtype=dtype)
        config = plate_config(plate)
        config["datasets"]["mine"]["phase"] = {"brightfield_channel": "Sensor"}
        workflow = WorkflowConfig.model_validate(config)
        layout = read_plate_layout(plate, workflow.datasets["mine"].acquisition.sampling())
        assert layout.pixel_types == (dtype,)
        problems = workflow_problems(workflow, {"mine": layout}, "results")
        if dtype != "uint8":
            assert problems == []
            continue
        (problem,) = problems
        assert problem == (
            "datasets.mine.phase.camera_offset_counts = 100 counts is 39% of the uint8 pixels' full scale "
            "255; expected a camera dark level of at most 12.5% of it (31.875 counts). The default 100 is "
            "a 16-bit camera's: set phase.camera_offset_counts to this camera's dark level (the counts of "
            "a frame taken with the shutter closed; 0 only if the offset really was subtracted at export) "
            f"(plate {plate}, pixels uint8)"
        )
        config["datasets"]["mine"]["phase"]["camera_offset_counts"] = 5
        assert workflow_problems(WorkflowConfig.model_validate(config), {"mine": layout}, "results") == []
        config["datasets"]["mine"]["phase"] = None
        assert workflow_problems(WorkflowConfig.model_validate(config), {"mine": layout}, "results") == []


def test_a_plate_another_dataset_makes_stays_downstream_of_the_job_that_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset whose `plate:` is the raw plate another dataset converts from TIFF files (results/
    mine/raw.zarr): its jobs read the plate by its root file, the file convert_tiff writes, so the
    conversion stays upstream of them (named as a folder, the input matched no output: the edge was
    lost, and a rewritten plate neither reran nor waited for them); its QC table shows that
    conversion's warnings, as the converting dataset's does."""
    config = tiff_config(tmp_path)
    made = write_plate(tmp_path / "results" / "mine" / "raw.zarr", FOVS_OF_TIFFS, ["Nuclei", "Sensor"], SHAPE)
    theirs = {key: value for key, value in config["datasets"]["mine"].items() if key != "tiff"}
    config["datasets"]["theirs"] = {**copy.deepcopy(theirs), "plate": "results/mine/raw.zarr"}
    config["contrastive_models"]["m"]["allow_other_scales"] = True  # write_plate's sampling, not the TIFFs'
    configfile = _tiff_configfile(tmp_path, config)
    monkeypatch.chdir(tmp_path)
    jobs = planned_jobs(configfile, tmp_path)
    readers = [
        job
        for job in jobs
        if job.wildcards.get("dataset") == "theirs"
        and {str(made), str(made / "zarr.json")} & set(map(os.path.abspath, job.input))
    ]
    assert readers  # extract_patches, track_fov, the QC figure... read the plate
    for job in readers:
        upstream = {(dep.rule.name, dep.wildcards.get("dataset")) for dep in job.dag.dependencies[job]}
        assert ("convert_tiff", "mine") in upstream, (job.rule.name, upstream)
    # the conversion's warnings concern its plate: the QC table of each dataset reading it shows them
    from dynaclr.qc import QcTableInputs

    for dataset in ("mine", "theirs"):
        (qc,) = [job for job in jobs if job.rule.name == "qc_table" and job.wildcards["dataset"] == dataset]
        assert QcTableInputs.from_rule(qc.input).converted_plate == Path("results/mine/raw.zarr"), dataset


def _classifiers_file(path: Path, encoder_config_hash: str | None, task: str = "infection") -> Path:
    """A classifiers artifact of an earlier run (rule classify's format): a classifier of ``task``
    (infection by default) of 4 features fitted on dataset 'before' by model 'earlier_model' of
    checkpoint hash ``encoder_config_hash``."""
    import numpy as np

    from dynaclr.classify import LinearClassifier
    from dynaclr.classify.model import build_pipeline, save_classifiers
    from dynaclr.io import ArtifactKind, make_provenance

    rng = np.random.default_rng(0)
    pipeline = build_pipeline().fit(rng.normal(size=(40, 4)), np.arange(40) % 2)
    classes = ("uninfected", "infected") if task == "infection" else ("interphase", "mitosis")
    classifier = LinearClassifier(task, pipeline, classes, "features")
    config = {
        "model": "earlier_model",
        "dataset": "before",
        "embedded_by": {"model": "earlier_model", "encoder_config_hash": encoder_config_hash},
    }
    save_classifiers({task: classifier}, path, make_provenance(ArtifactKind.CLASSIFIERS, config))
    return path


def test_classifiers_of_an_earlier_run_are_planned_as_a_transfer_or_refused_by_the_dry_run(
    tmp_path: Path,
) -> None:
    """analysis.classification.imported: a file fitted on the model's checkpoint predicts every dataset
    the model embeds through rule transfer_classifiers (its file an input, named '<dataset> (<file>)');
    one fitted on another checkpoint is refused by the dry run naming both hashes."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config import WorkflowConfig
    from dynaclr.io import config_hash

    config = tiny_workflow_config()
    model_hash = config_hash(
        WorkflowConfig.model_validate(config).contrastive_models["time_aware"].training.job_params()
    )
    good = _classifiers_file(tmp_path / "good.json", model_hash)
    config["analysis"]["classification"]["imported"] = {"earlier": {"file": str(good), "model": "time_aware"}}
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = [job for job in planned_jobs(configfile, tmp_path) if job.rule.name == "transfer_classifiers"]
    imported = [job for job in jobs if str(good) in job.input.classifiers]
    assert [(job.wildcards.model, job.wildcards.dataset) for job in imported] == [("time_aware", "tiny")]
    label = f"before ({good})"
    assert imported[0].params.sources[-1] == label and list(imported[0].params.imported) == [label]

    stale = _classifiers_file(tmp_path / "stale.json", "0123456789abcdef")
    config["analysis"]["classification"]["imported"]["earlier"]["file"] = str(stale)
    message = refused(config, tmp_path / "again")
    assert "analysis.classification.imported.earlier.file" in message
    assert model_hash in message and "0123456789abcdef" in message


def _transfer_config(plate: Path, tmp_path: Path, tasks: list[str]) -> dict[str, Any]:
    """Plate datasets `theirs` (a table annotating ``tasks``, which trains the classifiers) and
    `mine` (no annotations), both embedded by model m and the engineered-features baseline; the
    classifiers of `theirs` predict `mine` (apply_to); an automatic DTW reference fits the 6 frames."""
    table = tmp_path / "theirs.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    config = plate_config(plate)
    config["datasets"]["theirs"] = {
        **copy.deepcopy(config["datasets"]["mine"]),
        "annotations": {"table": str(table), "tasks": tasks},
    }
    config["analysis"]["classification"] = {"train_on": ["theirs"], "apply_to": ["mine"]}
    config["analysis"]["pseudotime"] = {"reference_frames_before_onset": 2, "reference_frames_after_onset": 3}
    return config


def _aligned(config: dict[str, Any], workdir: Path) -> dict[tuple[str, str], list[str]]:
    """Per planned align_pseudotime job, (model, dataset): its inputs."""
    (workdir / "config").mkdir(parents=True)
    configfile = workdir / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return {
        (job.wildcards["model"], job.wildcards["dataset"]): sorted(map(str, job.input))
        for job in planned_jobs(configfile, workdir)
        if job.rule.name == "align_pseudotime"
    }


def test_a_dataset_predicted_by_transferred_infection_classifiers_is_aligned_by_dtw(
    plate: Path, tmp_path: Path
) -> None:
    """A biologist annotates plate `theirs` and wants infection pseudo-time on plate `mine`: the
    classifiers of `theirs` predict `mine` (apply_to), but only datasets with an infection classifier
    of their own were aligned, so `mine` got no align_pseudotime job and the run exited 0 without it.
    Each (model, dataset) whose transferred predictions hold infection is aligned, reading them; with
    annotations of division only, the transferred predictions hold no infection: `mine` is not."""
    config = _transfer_config(plate, tmp_path, ["infection"])
    aligned = _aligned(config, tmp_path / "infection")
    models = ["engineered_features", "m"]
    assert sorted(aligned) == [(m, d) for m in models for d in ("mine", "theirs")]
    for model in models:
        assert f"results/evaluation/transfer_predictions/{model}/mine.parquet" in aligned[model, "mine"]
        assert f"results/evaluation/predictions/{model}/theirs.parquet" in aligned[model, "theirs"]

    config = _transfer_config(plate, tmp_path, ["division"])
    assert _aligned(config, tmp_path / "division") == {}


def _planned(config: dict[str, Any], workdir: Path) -> list[Any]:
    """The jobs of ``config``'s dry run in ``workdir``."""
    (workdir / "config").mkdir(parents=True)
    configfile = workdir / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return planned_jobs(configfile, workdir)


def _dtw_reasons(jobs: list[Any]) -> dict[tuple[str, str], str]:
    """Per (model, dataset) of the results table, its planned ``dtw_not_computed``."""
    (table,) = [job for job in jobs if job.rule.name == "results_table"]
    return {(row["model"], row["dataset"]): row["dtw_not_computed"] for row in table.params["pairs"]}


def test_an_imported_file_without_an_infection_classifier_plans_no_dtw_and_checks_no_window(
    plate: Path, tmp_path: Path
) -> None:
    """Datasets `theirs` (6 frames) and `short` (4), no annotations, an imported file of a division
    classifier only (model m), a reference window of 2 + 3: no align_pseudotime job is planned, yet
    the dry run refused the window for `short` (every dataset an imported entry predicts counted as
    aligned, whatever tasks its file holds). Each pair's reason says why it is not aligned."""
    from dynaclr.io import config_hash

    short = write_plate(tmp_path / "short.zarr", FOVS, ["Nuclei", "Sensor"], (4, *SHAPE[1:]))
    config = plate_config(plate)
    config["datasets"] = {"theirs": config["datasets"]["mine"], "short": {**config["datasets"]["mine"]}}
    config["datasets"]["short"]["plate"] = str(short)
    config["contrastive_models"]["m"]["train_datasets"] = ["theirs"]
    config["analysis"]["pseudotime"] = {"reference_frames_before_onset": 2, "reference_frames_after_onset": 3}
    training = WorkflowConfig.model_validate(config).contrastive_models["m"].training
    file = _classifiers_file(tmp_path / "division.json", config_hash(training.job_params()), "division")
    config["analysis"]["classification"] = {"imported": {"earlier": {"file": str(file), "model": "m"}}}
    jobs = _planned(config, tmp_path / "run")
    assert not [job for job in jobs if job.rule.name == "align_pseudotime"]
    reasons = _dtw_reasons(jobs)
    assert set(reasons) == {(m, d) for m in ("m", "engineered_features") for d in ("theirs", "short")}
    assert all(reason.startswith("nothing gives the infection state of ") for reason in reasons.values())
    assert "none of m transferred to it" in reasons["m", "short"]


def test_the_pseudotime_representation_is_checked_on_the_pairs_dtw_aligns_only(
    plate: Path, tmp_path: Path
) -> None:
    """An imported infection classifier of model m aligns (m, mine) only, not the engineered-features
    baseline's pair: `representation: projections` (which the baseline does not store) was refused
    for the baseline's pair, which no align_pseudotime job reads (the check took every model
    embedding an aligned dataset)."""
    from dynaclr.io import config_hash

    config = plate_config(plate)
    config["analysis"]["pseudotime"] = {
        "reference_frames_before_onset": 2,
        "reference_frames_after_onset": 3,
        "representation": "projections",
    }
    training = WorkflowConfig.model_validate(config).contrastive_models["m"].training
    file = _classifiers_file(tmp_path / "infection.json", config_hash(training.job_params()), "infection")
    config["analysis"]["classification"] = {"imported": {"earlier": {"file": str(file), "model": "m"}}}
    jobs = _planned(config, tmp_path / "run")
    aligned = sorted(
        (job.wildcards["model"], job.wildcards["dataset"])
        for job in jobs
        if job.rule.name == "align_pseudotime"
    )
    assert aligned == [("m", "mine")]


def _short_target_config(plate: Path, tmp_path: Path) -> dict[str, Any]:
    """`theirs` (6 frames, annotated for infection) and `short` (4 frames, no annotations), both
    embedded by m and the baseline; apply_to null; a reference window of 2 + 3 = 5 frames."""
    config = _transfer_config(plate, tmp_path, ["infection"])
    short = write_plate(tmp_path / "short.zarr", FOVS, ["Nuclei", "Sensor"], (4, *SHAPE[1:]))
    config["datasets"]["short"] = {**config["datasets"].pop("mine"), "plate": str(short)}
    config["contrastive_models"]["m"]["train_datasets"] = ["theirs"]
    config["analysis"]["classification"] = {}
    return config


def test_a_movie_too_short_for_the_window_predicted_from_elsewhere_is_left_out_with_its_reason(
    plate: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With apply_to null every unannotated movie embedded beside an annotated one gets transferred
    infection predictions, and was aligned: a config of `theirs` (annotated, 6 frames) and `short` (4
    frames, no annotations) planned before was refused by the window check, which said neither why
    `short` was aligned nor how to opt out. `short` is now left out of DTW like a still image: the
    results table says why (the window and where its predictions come from) and the dry run warns.
    A movie the user made eligible (its own infection annotations) keeps the refusal."""
    config = _short_target_config(plate, tmp_path)
    with caplog.at_level("WARNING"):
        jobs = _planned(config, tmp_path / "run")
    aligned = sorted(
        (j.wildcards["model"], j.wildcards["dataset"]) for j in jobs if j.rule.name == "align_pseudotime"
    )
    assert aligned == [("engineered_features", "theirs"), ("m", "theirs")]
    reasons = _dtw_reasons(jobs)
    for model in ("m", "engineered_features"):
        assert reasons[model, "short"] == (
            "4 frames, shorter than the reference window of 5 (predictions transferred from theirs)"
        )
        assert reasons[model, "theirs"] == ""
    assert "DTW pseudo-time not computed on dataset 'short' (model m): 4 frames, shorter" in caplog.text

    table = tmp_path / "short.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    config["datasets"]["short"]["annotations"] = {"table": str(table), "tasks": ["infection"]}
    with pytest.raises(
        WorkflowError, match=r"expected a reference window of at most 4 frames \(dataset 'short'"
    ):
        _planned(config, tmp_path / "annotated")


def test_a_dataset_annotated_for_division_only_is_aligned_on_transferred_infection_predictions(
    plate: Path, tmp_path: Path
) -> None:
    """`theirs` annotated for infection, `mine` for division only, train_on null: the classifiers of
    `theirs` predict `mine`'s infection (its transfer_predictions), but `mine` trains classifiers of
    its own and was left out of DTW (only datasets training no classifier counted as transfer
    targets), contrary to the README. It is aligned, and its infection state (DTW, infected fraction)
    is read from the transferred predictions, its own holding no infection."""
    config = _transfer_config(plate, tmp_path, ["infection"])
    table = tmp_path / "mine.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,division,non_dividing\n")
    config["datasets"]["mine"]["annotations"] = {"table": str(table), "tasks": ["division"]}
    config["analysis"]["classification"] = {}
    jobs = _planned(config, tmp_path / "run")
    inputs = {
        (job.rule.name, job.wildcards["model"], job.wildcards["dataset"]): sorted(map(str, job.input))
        for job in jobs
        if job.rule.name in ("align_pseudotime", "infected_fraction_figure")
    }
    for model in ("m", "engineered_features"):
        for rule in ("align_pseudotime", "infected_fraction_figure"):
            assert (
                f"results/evaluation/transfer_predictions/{model}/mine.parquet" in inputs[rule, model, "mine"]
            )
            assert f"results/evaluation/predictions/{model}/mine.parquet" not in inputs[rule, model, "mine"]
    assert _dtw_reasons(jobs)["m", "mine"] == ""


def test_imported_classifiers_align_the_pairs_they_predict_infection_of(plate: Path, tmp_path: Path) -> None:
    """analysis.classification.imported: classifiers of an earlier run predict plate `mine` (no
    annotations) by model m. With an infection classifier in the file, (m, mine) is aligned on the
    transferred predictions (the baseline, which the file does not predict, is not); a file of a
    division classifier only gives no infection state: nothing is aligned."""
    from dynaclr.io import config_hash

    config = plate_config(plate)
    config["analysis"]["pseudotime"] = {"reference_frames_before_onset": 2, "reference_frames_after_onset": 3}
    training = WorkflowConfig.model_validate(config).contrastive_models["m"].training
    model_hash = config_hash(training.job_params())
    for task, expected in (("infection", [("m", "mine")]), ("division", [])):
        file = _classifiers_file(tmp_path / f"{task}.json", model_hash, task)
        config["analysis"]["classification"] = {"imported": {"earlier": {"file": str(file), "model": "m"}}}
        jobs = _planned(config, tmp_path / task)
        aligned = {
            (job.wildcards["model"], job.wildcards["dataset"]): sorted(map(str, job.input))
            for job in jobs
            if job.rule.name == "align_pseudotime"
        }
        assert sorted(aligned) == expected, task
        for pair in expected:
            assert "results/evaluation/transfer_predictions/m/mine.parquet" in aligned[pair]
        # the reason is the pair's: the baseline, which the file does not predict, says so (was a bare
        # dash beside the aligned (m, mine))
        reasons = _dtw_reasons(jobs)
        assert reasons["engineered_features", "mine"].startswith(
            "nothing gives the infection state of mine's"
        )
        assert "none of engineered_features transferred to it" in reasons["engineered_features", "mine"]
        assert (reasons["m", "mine"] == "") == (task == "infection")


def test_the_dtw_reason_of_a_baseline_whose_transfer_was_skipped_names_the_skip(
    plate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The classifiers of `theirs` predict `mine` by m, but not by the baseline, whose patches of the
    two differ (a skipped transfer): (m, mine) is aligned, (engineered_features, mine) is not, and its
    reason says why, per pair (was empty for every pair of a dataset some model aligned)."""
    config = WorkflowConfig.model_validate(_transfer_config(plate, tmp_path, ["infection"]))
    frames = {"mine": 6, "theirs": 6}
    layouts = dict.fromkeys(frames, read_plate_layout(plate))
    assert ("engineered_features", "mine") in config.aligned_pairs(frames, layouts)
    differ = ["pixel size 0.5 µm, expected 0.25 µm"]
    monkeypatch.setattr(
        WorkflowConfig,
        "transfer_differences",
        lambda self, model, source, target, layouts: differ if model == "engineered_features" else [],
    )
    assert sorted(config.aligned_pairs(frames, {})) == [
        ("engineered_features", "theirs"),
        ("m", "mine"),
        ("m", "theirs"),
    ]
    assert config.dtw_not_computed("m", "mine", frames, {}) == ""
    assert config.dtw_not_computed("engineered_features", "mine", frames, {}) == (
        "no infection classifier of engineered_features predicts mine: the patches of theirs, whose "
        "classifiers would, differ from its own (transfers_skipped)"
    )


@pytest.mark.slow  # a Snakemake run
def test_snakemake_dry_run_lists_dtw_of_a_dataset_predicted_by_transferred_classifiers(
    plate: Path, tmp_path: Path
) -> None:
    """`snakemake -n` of the apply_to config: align_pseudotime for the annotated plate and the plate
    its classifiers predict, for m and the baseline (4 jobs; 2 before: the annotated plate's only)."""
    from integration.workflow_helpers import planned_jobs as dry_run, write_config

    write_config(tmp_path, _transfer_config(plate, tmp_path, ["infection"]))
    jobs = dry_run(tmp_path)
    assert jobs["transfer_classifiers"] == 2
    assert jobs["align_pseudotime"] == 4


def test_an_annotation_table_without_a_task_classified_is_warned_at_planning(
    plate: Path, tmp_path: Path
) -> None:
    """A table of infection annotations under the default classification tasks (infection and
    division): the dataset was not classified for division, said only by a WARNING in the classify
    job's log. The plan names the dataset, the tasks without annotations and the key to set; with
    classification.tasks [infection] it says nothing."""
    config, table, warned = infection_table_config(plate, tmp_path)

    def unannotated(config: dict[str, Any]) -> list[str]:
        return warned(config, "will not be classified")

    assert unannotated(config) == [
        "datasets.mine.annotations.tasks: expected the tasks of analysis.classification.tasks "
        "['infection', 'division'], found ['infection']: dataset 'mine' will not be classified for "
        f"['division'] (its table {table} holds no annotations of them); set analysis.classification.tasks "
        "to the tasks annotated, or annotate ['division'] in the table and list them in "
        "datasets.mine.annotations.tasks"
    ]
    config["analysis"]["classification"] = {"tasks": ["infection"]}
    assert unannotated(config) == []


@pytest.mark.parametrize("key", ["annotations", "tracks"])
def test_positions_in_micrometres_on_a_plate_of_unstated_pixels_are_refused_at_planning(
    key: str, tmp_path: Path
) -> None:
    """annotations.position_unit: um (tracks.position_unit: um) divides the table's y, x by the tracked
    (raw) plate's pixel size: on a plate that states none, the import refused it only when its job
    ran (annotations: after conversion and tracking, hours; tracks: `snakemake -n` passed). The dry
    run refuses it, naming the key and both fixes; stating the pixel size (acquisition.pixel_size_um)
    lets it pass."""
    table = tmp_path / "mine.csv"
    plate = write_plate(tmp_path / "unitless.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"][-2:]:  # y and x: a scale without a unit, a guess
                axis.pop("unit", None)
    config = plate_config(plate)
    if key == "annotations":
        table.write_text("fov_name,track_id,t,y,x,task,label\nA/1/Pos0,1,0,3.0,4.0,infection,uninfected\n")
        config["datasets"]["mine"]["annotations"] = {
            "table": str(table),
            "tasks": ["infection"],
            "position_unit": "um",
        }
        what = "the table's y, x"
    else:
        table.write_text("fov_name,track_id,t,y,x\nA/1/Pos0,1,0,3.0,4.0\n")
        config["datasets"]["mine"].pop("tracking_input", None)
        config["datasets"]["mine"]["tracks"] = {"format": "table", "path": str(table), "position_unit": "um"}
        what = "the tracks' y, x"
    with pytest.warns(UserWarning, match="axes without a unit"):
        layouts = {"mine": read_plate_layout(plate)}

    def unit_problems(config: dict[str, Any]) -> list[str]:
        found = workflow_problems(WorkflowConfig.model_validate(config), layouts, str(tmp_path / "results"))
        return [p for p in found if "position_unit" in p]

    (problem,) = unit_problems(config)
    assert problem.startswith(f"datasets.mine.{key}.position_unit: 'um' reads {what} as micrometres")
    assert f"expected a pixel size stated by {plate}'s metadata" in problem and "found none" in problem
    assert f"Set datasets.mine.acquisition.pixel_size_um, or convert {what} to pixels" in problem
    config["datasets"]["mine"]["acquisition"] = {"pixel_size_um": 0.65}
    assert unit_problems(config) == []


@pytest.mark.parametrize("pixel_size_um", [0.325, 1.3])
@pytest.mark.parametrize("match_on", ["position", "track"])
@pytest.mark.parametrize("per_fov", [False, True])
@pytest.mark.parametrize("header", ["fov_name,track_id,t,task,label", "fov_name,track_id,t,y,x,task,label"])
def test_the_annotation_radius_is_checked_only_where_the_table_gives_positions(
    header: str, per_fov: bool, match_on: str, pixel_size_um: float, tmp_path: Path
) -> None:
    """On 0.325 µm pixels the default max_match_distance_px (6 px, tuned for 0.65 µm) was refused for
    an annotation table without y, x, whose annotations the import places at their tracked cells (the
    classifiers match them at distance 0: no radius is read); a biologist's table of track ids was
    refused until a radius no stage reads was set (session 20, probe9). The table's header decides:
    with y, x the default is still refused, matching by track too (the import checks each row's y, x
    against the cell its track id names within the radius: a correct table's clicks lie farther than
    6 px on fine pixels). On coarse pixels (1.3 µm) matching by track, the default only loosens that
    check (labels follow the track ids): not refused (it was, blocking configs whose results it changes
    not)."""
    row = {"fov_name": "A/1/Pos0", "track_id": "1", "t": "0", "y": "3.0", "x": "4.0"}
    line = ",".join(
        row.get(column, "infection" if column == "task" else "uninfected") for column in header.split(",")
    )
    if per_fov:
        (tmp_path / "ann").mkdir()
        (tmp_path / "ann" / "A_1_Pos0.csv").write_text(f"{header}\n{line}\n")
        table = str(tmp_path / "ann" / "{row}_{col}_{fov}.csv")
    else:
        (tmp_path / "mine.csv").write_text(f"{header}\n{line}\n")
        table = str(tmp_path / "mine.csv")
    plate = write_plate(tmp_path / "unitless.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    for fov in FOVS:
        with ome_attributes(plate / fov) as ome:
            for axis in ome["multiscales"][0]["axes"][-2:]:  # y and x without a unit: acquisition states them
                axis.pop("unit", None)
    config = plate_config(plate)
    config["datasets"]["mine"]["acquisition"] = {"pixel_size_um": pixel_size_um}
    config["datasets"]["mine"]["annotations"] = {"table": table, "tasks": ["infection"]}
    config["analysis"]["classification"] = {"match_annotations_on": match_on}
    with pytest.warns(UserWarning, match="axes without a unit"):
        layouts = {"mine": read_plate_layout(plate)}
    found = workflow_problems(WorkflowConfig.model_validate(config), layouts, str(tmp_path / "results"))
    radius = [p for p in found if p.startswith("analysis.classification.max_match_distance_px")]
    if ",y,x," in header and not (match_on == "track" and pixel_size_um > 0.65):
        (problem,) = radius
        assert f"expected a radius set for the {pixel_size_um} µm pixels of dataset 'mine'" in problem
        if match_on == "track":
            assert "farther than that from the cell their track id names" in problem
            assert "with exit 0" not in problem  # a refusal, not a silent loss
    else:
        assert radius == []


@pytest.mark.parametrize("match_on", ["track", "position"])
def test_import_annotations_is_given_the_matching_params_whatever_the_matching(
    match_on: str, plate: Path, tmp_path: Path
) -> None:
    """The import checks a table's y, x against the tracked cells within the matching distance, and
    tries the other unit with the pixel size, whatever the matching: matching by track, against the
    cells the track ids name. It was passed None for both matching by track, so a table made on
    another tracking (ids renumbered, y, x showing it) was imported with exit 0."""
    table = tmp_path / "mine.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    config = plate_config(plate)
    config["datasets"]["mine"]["acquisition"] = {"pixel_size_um": 0.65}
    config["analysis"]["classification"] = {"match_annotations_on": match_on, "max_match_distance_px": 6.0}
    # the automatic reference's window fits the plate's 6 frames
    config["analysis"]["pseudotime"] = {"reference_frames_before_onset": 2, "reference_frames_after_onset": 3}
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"

    def import_params(position_unit: str) -> tuple[Any, Any]:
        annotations = {"table": str(table), "tasks": ["infection"], "position_unit": position_unit}
        config["datasets"]["mine"]["annotations"] = annotations
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        (job,) = [job for job in planned_jobs(configfile, tmp_path) if job.rule.name == "import_annotations"]
        return job.params.max_match_distance_px, job.params.pixel_size_um

    assert import_params("px") == (6.0, 0.65)
    assert import_params("um") == (6.0, 0.65)


def test_import_annotations_is_given_the_plates_frame_interval_as_a_param_no_rerun_compares(
    plate: Path, tmp_path: Path
) -> None:
    """The import refuses a table whose t reads as minutes or seconds of the plate's frame interval
    (check_t_not_time): the rule gives it the interval the plate's metadata states (10 minutes) in
    params.checks, a function of input that the params trigger does not compare, so it reruns no
    earlier import."""
    table = tmp_path / "mine.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    config = plate_config(plate)
    config["datasets"]["mine"]["annotations"] = {"table": str(table), "tasks": ["infection"]}
    config["analysis"]["pseudotime"] = {"reference_frames_before_onset": 2, "reference_frames_after_onset": 3}
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    (job,) = [job for job in planned_jobs(configfile, tmp_path) if job.rule.name == "import_annotations"]
    assert job.params.checks == {"frame_interval_minutes": 10.0}
    assert job.params.checks not in list(job.non_derived_params)  # derived from input: not compared
    assert job.params.max_match_distance_px in list(job.non_derived_params)  # a compared one is listed


def test_import_annotations_is_given_the_tracks_frame_step_as_a_param_no_rerun_compares(
    plate: Path, tmp_path: Path
) -> None:
    """Tracks imported with tracks.frame_step: 2 (a tracking of one frame in 2) put every annotation
    of them on an even frame, which the import's time check (check_t_not_time) read as minutes of a
    2-minute plate unless annotations.frame_step was set too: the rule gives it tracks.frame_step in
    params.checks (tracks_frame_step), which the params trigger does not compare."""
    table = tmp_path / "mine.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/Pos0,1,0,infection,uninfected\n")
    tracks = tmp_path / "tracks.csv"
    tracks.write_text("fov_name,track_id,t,y,x\nA/1/Pos0,1,0,10,10\n")
    config = plate_config(plate)
    config["datasets"]["mine"].pop("tracking_input", None)
    config["datasets"]["mine"]["tracks"] = {"format": "table", "path": str(tracks), "frame_step": 2}
    config["datasets"]["mine"]["annotations"] = {"table": str(table), "tasks": ["infection"]}
    config["analysis"]["pseudotime"] = {"reference_frames_before_onset": 2, "reference_frames_after_onset": 3}
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    (job,) = [job for job in planned_jobs(configfile, tmp_path) if job.rule.name == "import_annotations"]
    assert job.params.checks == {"frame_interval_minutes": 10.0, "tracks_frame_step": 2}
    assert job.params.checks not in list(job.non_derived_params)  # derived from input: not compared


def test_the_conversion_reads_resolution_tags_as_a_run_setting_no_rerun_compares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tiff.resolution_tags only decides whether a plain TIFF's resolution is read (so whether a pixel
    size disagreeing with tiff.pixel_size_um is refused); wherever both settings convert, the plate is
    the same. It reaches the convert_tiff job as params.run, which the params trigger does not
    compare: adding the key reruns no conversion of an earlier run, nor does editing it."""
    from dynaclr.config.base import with_run_params
    from dynaclr.config.convert import TiffSourceConfig

    config = tiff_config(tmp_path)
    config["datasets"]["mine"]["tiff"]["resolution_tags"] = "ignore"
    configfile = _tiff_configfile(tmp_path, config)
    monkeypatch.chdir(tmp_path)
    (job,) = [job for job in planned_jobs(configfile, tmp_path) if job.rule.name == "convert_tiff"]
    assert "resolution_tags" not in job.params.config
    assert job.params.run == {"resolution_tags": "ignore"}
    assert job.params.run not in list(job.non_derived_params)
    merged = TiffSourceConfig.model_validate(with_run_params(job.params.config, job.params.run))
    assert merged.resolution_tags == "ignore"


@pytest.mark.parametrize("position_unit", ["um", "px"])
def test_an_import_in_micrometres_reruns_when_the_pixel_size_it_divides_by_changes(
    tmp_path: Path, position_unit: str
) -> None:
    """With tracks.position_unit: um, import_tracks divides y, x by the plate's pixel size, which it
    got only as a param Snakemake does not compare (a function of input): editing the pixel size
    reran no import, and the tracks stayed scaled by the old size with exit 0. The size is now a
    compared param where it is divided by, and None in pixels (editing it reruns no such import). On
    a plate of more than one slice (the tiny plate's 5) a z column is divided by the z step: it is in
    the param too (session 23)."""
    from integration.workflow_helpers import tiny_workflow_config

    table = tmp_path / "tracks.csv"
    table.write_text("fov_name,track_id,t,y,x,parent_track_id\nA/1/0,1,0,10,10,-1\n")
    divided_by = []
    for pixel_size_um, z_step_um in ((0.65, 2.5), (0.5, 2.5), (0.5, 2.0)):
        config = tiny_workflow_config()
        config["contrastive_models"] = {}
        config["analysis"] = {"baselines": []}
        config["exports"] = {}
        config["datasets"]["tiny"]["simulate"]["pixel_size_um"] = pixel_size_um
        config["datasets"]["tiny"]["simulate"]["z_step_um"] = z_step_um
        config["datasets"]["tiny"]["tracks"] = {
            "format": "table",
            "path": str(table),
            "position_unit": position_unit,
        }
        jobs = _planned(config, tmp_path / f"{position_unit}{pixel_size_um}_{z_step_um}")
        (job,) = [job for job in jobs if job.rule.name == "import_tracks"]
        divided_by.append(job.params["divides_by_pixel_size_um"])
    expected = [[0.65, 2.5], [0.5, 2.5], [0.5, 2.0]] if position_unit == "um" else [None] * 3
    assert divided_by == expected


def test_an_import_in_micrometres_on_a_plate_of_one_slice_keeps_the_pixel_size_param(tmp_path: Path) -> None:
    """On a plate of one slice (config/alfi_like.yaml's) the param of a um import stays the pixel size
    alone, as before z was divided by the z step: upgrading reruns no 2D import."""
    config = yaml.safe_load((REPO_ROOT / "config" / "alfi_like.yaml").read_text())
    table = tmp_path / "tracks.csv"
    table.write_text("fov_name,track_id,t,y,x,parent_track_id\nA/1/0,1,0,10,10,-1\n")
    config["datasets"]["alfi"]["tracks"] = {"format": "table", "path": str(table), "position_unit": "um"}
    (job,) = [job for job in _planned(config, tmp_path / "work") if job.rule.name == "import_tracks"]
    assert job.params["divides_by_pixel_size_um"] == 0.65
    assert job.params.sampling_um["frame_interval_minutes"] == 7.0


@pytest.mark.parametrize("recorded", [False, True], ids=["your own", "with a dynaclr record"])
def test_a_patch_job_of_a_plate_of_your_own_is_given_the_root_attributes_it_reads(
    tmp_path: Path, recorded: bool
) -> None:
    """The dry run reads the root of a `plate:` dataset's plate of your own once and gives each
    extract_patches job the attributes it reads there (``params.config``, PLANNED_ROOT_KEY): no job
    reads the root, and a changed attribute changes the jobs' params (they rerun). A plate with a
    dynaclr record (its positions hold copies of the root) gets nothing: its params stay as they were."""
    import zarr

    from dynaclr.io import make_provenance
    from dynaclr.io.plate import PLANNED_ROOT_KEY
    from dynaclr.io.zarr_store import write_plate_provenance

    own = write_plate(tmp_path / "own.zarr", FOVS, ["Nuclei", "Sensor"], SHAPE)
    zarr.open_group(str(own), mode="r+").attrs["time_interval_minutes"] = 10.0  # its 600 s scale
    if recorded:
        write_plate_provenance(own, make_provenance("raw_plate", {}, stage="simulate"), FOVS)
    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(plate_config(own), sort_keys=False))
    jobs = [job for job in planned_jobs(configfile, tmp_path) if job.rule.name == "extract_patches"]
    assert len(jobs) == len(FOVS)
    given = [job.params.config.get(PLANNED_ROOT_KEY) for job in jobs]
    assert given == [None if recorded else {str(own): {"time_interval_minutes": 10.0}}] * len(FOVS)
    # keyed by the path the job reads the plate at (its input), which the job looks it up by
    assert all(str(job.input.plate_raw) == str(own) for job in jobs)


def test_dtw_on_infection_is_not_planned_for_a_simulated_dataset_without_infected_wells() -> None:
    """Every well mock (infected_fraction 0) with the default event 'infection': align_pseudotime was
    planned (a simulated dataset has ground truth) and failed after patches, training and embedding with
    "no lineage series with an infection event ...; lower analysis.pseudotime.reference_frames_...",
    a fix that cannot help. The plan leaves the pair out and the results table says why; the event
    'division', or one infected well, still aligns."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    for well in config["datasets"]["tiny"]["simulate"]["wells"]:
        well["infected_fraction"] = 0.0
    config["datasets"]["tiny"]["annotations"] = {"tasks": ["division"]}
    config["analysis"]["classification"]["tasks"] = ["division"]
    config["analysis"]["occlusion"] = {"enabled": False}
    frames = {"tiny": 12}
    workflow = WorkflowConfig.model_validate(config)
    assert workflow.aligned_pairs(frames, {}) == []
    assert workflow.dtw_not_computed("time_aware", "tiny", frames, {}) == (
        "no infected cell in tiny (every simulate.wells[].infected_fraction is 0), and "
        "analysis.pseudotime.event is 'infection'"
    )
    reason = workflow.dtw_not_computed("time_aware", "tiny", frames, {})
    # a WARNING at planning (the pairs of dtw_left_out), and the first page's line names the reason
    assert workflow.dtw_left_out(frames, {}) == {
        (model, "tiny"): reason for model in ("classical", "engineered_features", "time_aware")
    }
    assert workflow.dtw_not_run(frames, {}) == f"tiny: {reason}"
    division = copy.deepcopy(config)
    division["analysis"]["pseudotime"] = {"event": "division"}
    assert ("time_aware", "tiny") in WorkflowConfig.model_validate(division).aligned_pairs(frames, {})
    config["datasets"]["tiny"]["simulate"]["wells"][1]["infected_fraction"] = 0.5
    assert ("time_aware", "tiny") in WorkflowConfig.model_validate(config).aligned_pairs(frames, {})
    late = copy.deepcopy(config)
    late["datasets"]["tiny"]["simulate"]["infection"] = {"onset_frames": [20, 30]}  # after its 12 frames
    assert WorkflowConfig.model_validate(late).dtw_not_computed("time_aware", "tiny", frames, {}) == (
        "no infected cell in tiny (simulate.infection.onset_frames [20, 30] start after the movie's 12 "
        "frames), and analysis.pseudotime.event is 'infection'"
    )


#: Modules a dry run has no use for: the analyses' statistics and learning (SciPy's statistics,
#: scikit-learn) and the embeddings' reader (anndata). Each import is CPU and memory every plan pays
#: whatever the plate (about 0.9 s of CPU and 60 MB together).
ANALYSIS_ONLY_MODULES = (
    "scipy.stats",
    "sklearn",
    "anndata",
    "dynaclr.evaluation.temporal",
    "dynaclr.pseudotime.stage",
)

_PLAN_IN_A_FRESH_PROCESS = """
import json, sys
from pathlib import Path
sys.path[:0] = sys.argv[4:]
from test_stage_contract import planned_jobs
jobs = planned_jobs(Path(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps({"jobs": len(jobs), "imported": [m for m in json.loads(sys.argv[3]) if m in sys.modules]}))
"""


def test_a_dry_run_imports_no_analysis_module_for_the_constants_it_reads(plate: Path, tmp_path: Path) -> None:
    """The plan reads two constants of the analyses (the results table's 'one time point' reason and
    its DTW interval's confidence): from the config's modules, not from the analysis modules, whose
    imports (SciPy's statistics, scikit-learn) cost every dry run about 0.75 s of CPU
    (docs/benchmarks.md, planning a large plate); and neither the annotation tables' check (no
    dataset imports one here) nor the resources of a rule reading an embeddings store not made yet
    import anndata. Planned in a fresh process, whose modules are the plan's alone."""
    import json
    import subprocess
    import sys

    (tmp_path / "config").mkdir()
    configfile = tmp_path / "config" / "config.yaml"
    configfile.write_text(yaml.safe_dump(plate_config(plate), sort_keys=False))
    tests = Path(__file__).resolve().parent
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _PLAN_IN_A_FRESH_PROCESS,
            str(configfile),
            str(tmp_path),
            json.dumps(ANALYSIS_ONLY_MODULES),
            str(tests),
            str(tests.parent),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    planned = json.loads(result.stdout.strip().splitlines()[-1])
    assert planned["jobs"] > 2 * len(FOVS)  # the whole plan, the results table and findings included
    assert planned["imported"] == [], planned


@pytest.mark.parametrize(
    ("backbone", "refused"),
    [
        ("convnext_tiny.in12k_ft_in1k", False),  # the README's example: the weights' published tag
        ("convnext_atto.my_cells_ft", False),  # a tag: timm's list needs torch, import_model checks it
        ("convnext_atto", False),
        # a deep stem the z-fold stem cannot replace: stem: backbone keeps it, as import_model does (it
        # was refused at planning, session 26)
        ("resnet18d.ra2_in1k", False),
        ("resnetv2_50.a1h_in1k", True),  # an architecture the encoder does not take, tag or not
    ],
)
def test_a_pretrained_backbones_tag_is_accepted_at_planning_on_an_architecture_the_encoder_takes(
    backbone: str, refused: bool
) -> None:
    """The dry run refused every tagged name (not in dynaclr.config.backbones' lists), so the README's
    pretrained ConvNeXt (``convnext_tiny.in12k_ft_in1k``, its tag naming the input's normalisation)
    could not be planned."""
    from dynaclr.config.plate_checks import simulated_layout
    from dynaclr.config.workflow import load_config

    config = load_config(REPO_ROOT / "config" / "config.yaml").model_dump(mode="json")
    config["contrastive_models"]["imagenet"] = {
        "train": False,
        "pretrained_weights": "weights/model.safetensors",
        "training": {
            "patch_spec": "phase_sensor",
            "sampling": "classical",
            "backbone": backbone,
            "stem": "backbone",
            "projection_dim": 0,
            "input_channels": ["ViralSensor"],
        },
    }
    validated = WorkflowConfig.model_validate(config)
    layouts = {
        name: simulated_layout(dataset.simulate, f"results/{name}/raw.zarr")
        for name, dataset in validated.datasets.items()
        if dataset.simulate is not None
    }
    problems = [p for p in workflow_problems(validated, layouts, "results") if ".training.backbone" in p]
    assert bool(problems) == refused, problems
    if refused:
        assert problems[0].startswith(
            "contrastive_models.imagenet.training.backbone: expected a timm backbone"
        )
