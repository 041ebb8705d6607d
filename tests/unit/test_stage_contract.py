"""The contract between rules and stages, checked on every job of the workflow's plan.

Every rule names all its inputs and outputs; its shim builds the stage's ``inputs`` and ``outputs``
with ``<Stage>Inputs.from_rule(snakemake.input)`` / ``<Stage>Outputs.from_rule(snakemake.output)``
(:class:`dynaclr.io.StageFiles`). Here the plan of the demo config is built (a dry run, no job
runs) and each job's real named files are fed to the classes its shim uses: a rule and a stage
that disagree on a name fail here, before anything runs.
"""

from __future__ import annotations

import ast
import copy
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO_ROOT

SCRIPTS = REPO_ROOT / "workflow" / "scripts"
#: Rules of analysis.interpretation (opt-in; off in the demo config).
INTERPRETATION_RULES = {"cell_features", "interpret_embeddings"}


def planned_jobs(
    configfile: Path | list[Path],
    workdir: Path,
    target_job: str | None = None,
    allowed_rules: set[str] | None = None,
) -> list[Any]:
    """Every job Snakemake would run for ``configfile`` (or several, merged in order as
    ``--configfile a b`` merges them) from scratch (dry run in ``workdir``); with ``target_job``
    (``rule:wildcard=value,...``), that job and what it needs, planned as the process a cluster job
    runs plans it (``--mode remote --target-jobs``: the Snakefile parsed again, the dry run's checks
    skipped); with ``allowed_rules`` (``--allowed-rules``, as a cluster job is also started) only jobs
    of those rules, so no input function of the rules upstream is called."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        DeploymentSettings,
        ExecMode,
        OutputSettings,
        Quietness,
        ResourceSettings,
        StorageSettings,
        WorkflowSettings,
    )
    from snakemake.target_jobs import parse_target_jobs_cli_args

    in_job = target_job is not None
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(
                configfiles=configfile if isinstance(configfile, list) else [configfile]
            ),
            storage_settings=StorageSettings(),
            workflow_settings=WorkflowSettings(exec_mode=ExecMode.REMOTE if in_job else ExecMode.DEFAULT),
            deployment_settings=DeploymentSettings(),
            snakefile=REPO_ROOT / "Snakefile",
            workdir=workdir,
        )
        targets = parse_target_jobs_cli_args([target_job]) if in_job else frozenset()
        dag_api = workflow_api.dag(
            dag_settings=DAGSettings(forceall=True, target_jobs=targets, allowed_rules=allowed_rules or set())
        )
        dag_api.execute_workflow(executor="dryrun")
        return [job for job in workflow_api._workflow.dag.jobs if job.rule.name != "all"]


def shim_classes(script: Path) -> dict[str, type]:
    """``{"input": cls, "output": cls}``: the classes whose ``from_rule`` the shim calls on them."""
    tree = ast.parse(script.read_text())
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = node.module
    found: dict[str, type] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "from_rule"
            and isinstance(node.func.value, ast.Name)
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Attribute)
            and isinstance(node.args[0].value, ast.Name)
            and node.args[0].value.id == "snakemake"
        ):
            name = node.func.value.id
            found[node.args[0].attr] = getattr(importlib.import_module(imported[name]), name)
    return found


@pytest.fixture(scope="module")
def demo_jobs(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    workdir = tmp_path_factory.mktemp("plan")
    # the demo config names the VisCy fixture by a path relative to the working directory
    (workdir / "tests").mkdir()
    (workdir / "tests" / "data").symlink_to(REPO_ROOT / "tests" / "data")
    return planned_jobs(REPO_ROOT / "config" / "config.yaml", workdir)


@pytest.fixture(scope="module")
def tiny_jobs(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The plan of the tiny whole-chain config (interpretation and occlusion on)."""
    from integration.workflow_helpers import tiny_workflow_config

    return plan_of(tiny_workflow_config(), tmp_path_factory.mktemp("tiny_plan"))


def plan_of(config: dict[str, Any], workdir: Path) -> list[Any]:
    """:func:`planned_jobs` of ``config`` written to ``workdir``/config.yaml."""
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return planned_jobs(configfile, workdir)


def test_every_script_rule_hands_its_stage_the_files_it_expects(demo_jobs: list[Any]) -> None:
    checked: set[str] = set()
    for job in demo_jobs:
        if job.rule.script is None:
            continue
        script = SCRIPTS / Path(job.rule.script).name
        classes = shim_classes(script)
        assert "output" in classes, f"{script.name}: the shim does not build its outputs with from_rule"
        if len(job.input):
            assert "input" in classes, f"{script.name}: the shim does not build its inputs with from_rule"
        for side, cls in classes.items():
            files = getattr(job, side)
            try:
                cls.from_rule(files)
            except ValueError as err:
                pytest.fail(f"rule {job.rule.name} ({script.name}): {err}")
        checked.add(job.rule.name)
    assert {"simulate", "track_fov", "collect_tracks", "evaluate_tracking"} <= checked


#: The rules that write a zarr store whole (dynaclr.io.atomic_output), each named by its root file.
STORE_WRITERS = {
    "simulate",
    "phase_transfer_function",
    "phase_plate",
    "virtual_stain_plate",
    "tracks_plate",
    "extract_patches",
    "collect_patches",
    "embed",
    "project_embeddings",
    "occlusion_attribution",
    "export_viscy",
}


def test_stores_are_named_by_their_root_file_and_handed_to_stages_as_stores(
    demo_jobs: list[Any], tiny_jobs: list[Any]
) -> None:
    """No rule declares a zarr store as a directory() output (Snakemake would write its
    .snakemake_timestamp into the store): it names the store's root metadata file, and the stage
    gets the store itself, as do the jobs that read it."""
    from dynaclr.io import STORE_ROOT_FILES

    writers: set[str] = set()
    for job in demo_jobs + tiny_jobs:
        directories = [str(path) for path in job.output if path.is_directory and ".zarr" in str(path)]
        assert directories == [], f"rule {job.rule.name} writes zarr stores as directory(): {directories}"
        if job.rule.script is None:
            continue
        classes = shim_classes(SCRIPTS / Path(job.rule.script).name)
        for side in ("input", "output"):
            named = getattr(job, side)
            roots = {
                name: str(value)
                for name, value in named.items()
                if isinstance(value, str) and Path(value).name in STORE_ROOT_FILES
            }
            if not roots:
                continue
            files = classes[side].from_rule(named)
            for name, root in roots.items():
                assert getattr(files, name) == Path(root).parent, (job.rule.name, side, name)
            if side == "output":
                writers.add(job.rule.name)
    assert writers == STORE_WRITERS


def test_no_rule_writes_a_directory_output(demo_jobs: list[Any], tiny_jobs: list[Any]) -> None:
    """Snakemake writes its .snakemake_timestamp into a directory() output: no rule declares one,
    the CTC export included (the CTC tools list its folder), which names its folder by the
    res_track.txt the stage writes last, and whose stage gets the folder."""
    directories = sorted(
        {(job.rule.name, str(out)) for job in demo_jobs + tiny_jobs for out in job.output if out.is_directory}
    )
    assert directories == []
    exports = [job for job in tiny_jobs if job.rule.name == "export_ctc"]
    assert exports, "the tiny config exports CTC folders"
    outputs_class = shim_classes(SCRIPTS / "export_ctc.py")["output"]
    for job in exports:
        outputs = outputs_class.from_rule(job.output)
        wildcards = job.wildcards
        assert outputs.folder.name == f"{wildcards.row}_{wildcards.col}_{wildcards.fov}"
        assert outputs.folder / "res_track.txt" == Path(str(job.output.res_track))
        assert outputs.labels.parent != outputs.folder  # the label table outside the folder CTC tools list


def test_every_file_a_rule_writes_is_named(demo_jobs: list[Any]) -> None:
    for job in demo_jobs:
        named = sum(len(v) if isinstance(v, list) else 1 for _, v in job.output.items())
        assert named == len(job.output), f"rule {job.rule.name} has unnamed outputs: {list(job.output)}"


def _check_report_captions(jobs: list[Any]) -> int:
    """A caption (workflow/report/*.rst) reads ``snakemake.params.<key>.<field>``: the rule must pass
    that key, and the field must be in it (an error here otherwise surfaces only in --report)."""
    checked = 0
    for job in jobs:
        for path in job.rule.output:
            report = path.flags.get("report") if hasattr(path, "flags") else None
            if not report:
                continue
            caption = Path(job.rule.workflow.basedir) / "rules" / report.caption
            text = caption.read_text()
            for key, field in re.findall(r"snakemake\.params\.(\w+)(?:\.(\w+))?", text):
                assert key in job.params.keys(), f"{caption.name}: rule {job.rule.name} has no param {key!r}"
                if field:
                    assert field in job.params[key], (
                        f"{caption.name}: params.{key} of {job.rule.name} lacks {field!r}"
                    )
            checked += 1
    return checked


def test_report_captions_name_only_params_their_rule_has(demo_jobs: list[Any], tiny_jobs: list[Any]) -> None:
    """The demo's rules, and the tiny config's (interpretation and occlusion on)."""
    assert _check_report_captions(demo_jobs) > 0
    interpretation = INTERPRETATION_RULES | {"feature_trajectories"}
    assert _check_report_captions([job for job in tiny_jobs if job.rule.name in interpretation]) > 0


def test_the_results_table_caption_states_the_levels_its_intervals_are_computed_at(
    demo_jobs: list[Any],
) -> None:
    """The caption said "95 %" whatever analysis.temporal_metrics.confidence and
    analysis.classification.confidence were; it states each level from the rule's params."""
    import jinja2

    from dynaclr.config.analysis import ONSET_ERROR_CONFIDENCE

    (job,) = [job for job in demo_jobs if job.rule.name == "results_table"]
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    analysis = config.get("analysis") or {}
    expected = {
        "track_pairs": (analysis.get("temporal_metrics") or {}).get("confidence", 0.95),
        "f1": (analysis.get("classification") or {}).get("confidence", 0.95),
        "dtw": ONSET_ERROR_CONFIDENCE,
    }
    assert dict(job.params.confidence) == expected
    caption = (REPO_ROOT / "workflow" / "report" / "results_table.rst").read_text()
    levels = {"track_pairs": 0.9, "f1": 0.8, "dtw": 0.95}
    text = " ".join(
        jinja2.Template(caption).render(snakemake=type("Job", (), {"params": {"confidence": levels}})).split()
    )
    assert "90 % over tracks for the track-pair smoothness" in text and "80 % over tracks for the F1s" in text
    assert "95 % over lineages for the DTW error" in text


def test_the_results_table_gets_the_configured_classification_tasks(demo_jobs: list[Any]) -> None:
    """A configured task a dataset has no annotations of was skipped by rule classify and shown as '–'
    without a reason: the results table derives the reason from the tasks its rule hands it."""
    (job,) = [job for job in demo_jobs if job.rule.name == "results_table"]
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    classification = (config.get("analysis") or {}).get("classification") or {}
    assert list(job.params.tasks) == list(classification.get("tasks", ["infection", "division"]))


def test_the_results_table_gets_the_plans_f1_reasons_per_task(demo_jobs: list[Any]) -> None:
    """The demo: demo trains classifiers, apply_to [demo_15min]. demo_15min's transferred F1s are
    computed (demo holds both tasks, demo_15min has both labels): no reason. demo's transferred cells
    said 'demo is not in analysis.classification.apply_to', which apply_to may not name (it is the
    only source): no other dataset's classifiers could predict it."""
    (job,) = [job for job in demo_jobs if job.rule.name == "results_table"]
    pairs = {(pair["model"], pair["dataset"]): pair for pair in job.params.pairs}
    for column in ("f1_infection_transferred_not_computed", "f1_division_transferred_not_computed"):
        assert pairs[("classical_ntxent", "demo_15min")][column] == ""
        assert pairs[("classical_ntxent", "demo")][column] == (
            "no classifier of classical_ntxent fitted on another dataset, nor imported"
        )


def test_the_dtw_figures_get_the_frame_interval_and_the_first_page_plain_model_descriptions(
    demo_jobs: list[Any],
) -> None:
    """The pseudo-time figures draw hours from the dataset's frame interval (the plate's, as the
    results table gives it); the first page describes each model in plain words, from its config."""
    for rule in ("pseudotime_figure", "aligned_trajectories_figure"):
        intervals = {
            job.wildcards["dataset"]: job.params.time_interval_minutes
            for job in demo_jobs
            if job.rule.name == rule
        }
        assert intervals == {"demo": 30.0, "demo_15min": 15.0}, rule
    (findings,) = [job for job in demo_jobs if job.rule.name == "findings"]
    models = findings.params.models
    assert models["viscy_fixture"] == (
        "contrastive model, test_convnext encoder, imported from contrastive_test_convnext.ckpt "
        "(VisCy checkpoint)"
    )
    assert models["time_aware_ntxent"].startswith(
        "contrastive model, time-aware sampling, NT-Xent loss, ConvNeXt-atto encoder, up to "
    )
    # the key smoothness pair: the trained models' samplings (not the baselines, not a model from a file)
    assert findings.params.samplings == {"classical_ntxent": "classical", "time_aware_ntxent": "time_aware"}


def test_the_condition_figures_get_every_condition_of_the_run(demo_jobs: list[Any]) -> None:
    """A condition's colour was its place among the conditions one figure held (``mock`` green in one
    dataset, purple in another): the figures that colour by condition get the run's conditions,
    sorted, which fix each condition's colour (dynaclr.figures.plots.label_colors)."""
    from dynaclr.config.workflow import WorkflowConfig

    config = WorkflowConfig.model_validate(yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text()))
    run = sorted({c for dataset in config.datasets.values() for c in dataset.well_conditions().values()})
    assert len(run) >= 2
    jobs = [job for job in demo_jobs if job.rule.name in ("embedding_figures", "infected_fraction_figure")]
    assert {job.rule.name for job in jobs} == {"embedding_figures", "infected_fraction_figure"}
    assert all(list(job.params.conditions) == run for job in jobs)


def test_the_condition_figures_get_only_the_conditions_of_datasets_with_figures(tmp_path: Path) -> None:
    """The run's conditions held those of datasets no model embeds, which get no figure coloured by
    condition: they took colours, and adding or editing such a dataset reran every
    embedding_figures and infected_fraction_figure job (their params changed). They are those of
    the embedded datasets alone."""
    from dynaclr.config.workflow import WorkflowConfig

    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    embedded = WorkflowConfig.model_validate(config)
    for name in config["contrastive_models"]:
        config["contrastive_models"][name]["embed_datasets"] = embedded.embedded_datasets(name)
    extra = copy.deepcopy(config["datasets"]["demo"])
    for well, condition in zip(extra["simulate"]["wells"], ("dmso", "uninfected"), strict=True):
        well["condition"] = condition
    config["datasets"]["not_embedded"] = extra
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(REPO_ROOT / "tests" / "data")
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    planned = planned_jobs(configfile, tmp_path)
    assert any(job.wildcards.get("dataset") == "not_embedded" for job in planned)  # a dataset of the run
    jobs = [job for job in planned if job.rule.name in ("embedding_figures", "infected_fraction_figure")]
    assert {job.rule.name for job in jobs} == {"embedding_figures", "infected_fraction_figure"}
    assert all(list(job.params.conditions) == ["infected", "mock"] for job in jobs)


def test_interpretation_rules_hand_their_stages_the_files_they_expect(tmp_path: Path) -> None:
    """The tiny config turns analysis.interpretation on: its rules are planned, once per (dataset,
    spec) and per (model, dataset), and their shims accept the files the rules name."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    planned = planned_jobs(configfile, tmp_path)
    jobs = [job for job in planned if job.rule.name in INTERPRETATION_RULES]
    assert sorted(job.rule.name for job in jobs) == ["cell_features", *["interpret_embeddings"] * 3]
    # occlusion (on in the tiny config too): the two trained models, not the baseline; ground truth
    # gives the infection onset on a simulated dataset
    occlusion = [job for job in planned if job.rule.name == "occlusion_attribution"]
    assert sorted(job.wildcards.model for job in occlusion) == ["classical", "time_aware"]
    assert all("ground_truth" in job.input.keys() for job in occlusion)
    # the figure's rows in hours: the plate's frame interval (the simulator's default 30 min)
    assert [job.params.time_interval_minutes for job in occlusion] == [30.0, 30.0]
    for job in jobs + occlusion:
        classes = shim_classes(SCRIPTS / Path(job.rule.script).name)
        for side in ("input", "output"):
            classes[side].from_rule(getattr(job, side))
    with_predictions = [job for job in jobs if "predictions" in job.input.keys()]
    assert len(with_predictions) == 3  # the tiny dataset is annotated: every model is classified


def test_interpretation_is_off_in_the_demo(demo_jobs: list[Any]) -> None:
    assert not {job.rule.name for job in demo_jobs} & INTERPRETATION_RULES


def test_editing_embed_datasets_or_allow_other_scales_retrains_no_model(
    demo_jobs: list[Any], tmp_path: Path
) -> None:
    """Snakemake reruns a job whose params changed: train_contrastive's hold only what decides the
    weights, so these two keys (which datasets a model embeds, a check) leave them as they were."""
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    for entry in config["contrastive_models"].values():
        if entry.get("train_datasets"):
            entry["embed_datasets"] = ["demo", "demo_15min"]  # the default, named
            entry["allow_other_scales"] = True
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(REPO_ROOT / "tests" / "data")

    def training_params(jobs: list[Any]) -> dict[str, Any]:
        return {
            job.wildcards["model"]: {key: job.params[key] for key in job.params.keys()}
            for job in jobs
            if job.rule.name == "train_contrastive"
        }

    demo = training_params(demo_jobs)
    assert len(demo) == 2
    assert training_params(planned_jobs(configfile, tmp_path)) == demo


def _params_by_job(jobs: list[Any]) -> dict[tuple[str, str], tuple[list[str], list[str]]]:
    """Each job's params and input files (what Snakemake's rerun triggers compare besides mtimes),
    by (rule, wildcards). The params are those the params trigger compares: not the ones derived from
    the job's input, output, threads or resources (``non_derived_params``)."""
    return {
        (job.rule.name, str(sorted(dict(job.wildcards).items()))): (
            sorted(map(repr, job.non_derived_params)),
            sorted(map(str, job.input)),
        )
        for job in jobs
    }


#: (config edit on the tiny config, the rules whose jobs' params or inputs change: Snakemake reruns
#: those and what follows them, nothing else). Keys that only choose which jobs run change no job's
#: params (but the results table's, whose reasons for an empty F1 may name them); turning an export off leaves
#: the other exports' jobs as they were.
CONFIG_EDITS = {
    "planning only": (
        {
            ("datasets", "tiny", "qc_figures", "max_fovs"): 3,  # the plate has 2 FOVs: the same figures
            ("analysis", "occlusion", "models"): ["classical", "time_aware"],  # the default, named
            ("analysis", "classification", "train_on"): ["tiny"],
            ("analysis", "classification", "apply_to"): [],
        },
        # the results table says why an F1 is empty in the plan's words, but apply_to [] leaves out
        # no dataset another's classifiers could predict (tiny is the only source; naming it in
        # apply_to is refused): its reason, 'no classifier of <model> fitted on another dataset, nor
        # imported', is the default's
        set(),
    ),
    "gallery": ({("analysis", "interpretation", "gallery_cells_per_bin"): 2}, {"interpret_embeddings"}),
    "cell features": ({("analysis", "interpretation", "radial_rings"): 3}, {"cell_features"}),
    "trajectories": (
        {("analysis", "interpretation", "trajectory_features"): ["raw:ViralSensor_mean"]},
        {"feature_trajectories"},
    ),
    "qc figures": ({("datasets", "tiny", "qc_figures", "frames"): 2}, {"image_qc_figure"}),
    "one export off": ({("exports", "viscy_features"): False, ("exports", "h5ad"): False}, set()),
    # how embed jobs run, not what they compute (EmbeddingConfig.RUN_KEYS)
    "embedding run settings": (
        {("analysis", "embeddings", "batch_size"): 7, ("analysis", "embeddings", "resume"): False},
        set(),
    ),
    # the patches read or encoded at a time by the engineered features, the cell features and the
    # occlusion maps (their RUN_KEYS)
    "batch sizes": (
        {
            ("analysis", "engineered_features", "batch_size"): 5,
            ("analysis", "interpretation", "batch_size"): 5,
            ("analysis", "occlusion", "perturbations_per_eval"): 5,
        },
        set(),
    ),
    # these change the numbers: every embedding is made again
    "embedding precision": ({("analysis", "embeddings", "bf16_autocast"): False}, {"embed"}),
    # how a model trains, not the weights it trains (ContrastiveModelConfig.RUN_KEYS): no model is
    # trained again, so no embedding either (the checkpoint's config hash they check is the same)
    "training run settings": (
        {
            ("contrastive_models", model, "training", key): value
            for model in ("time_aware", "classical")
            for key, value in {"num_workers": 2, "log_every_n_steps": 1, "record_sample_rows": True}.items()
        },
        set(),
    ),
    # the CIs' settings: rule classification_intervals computes them from classify's (and
    # transfer_classifiers') predictions, so nothing is refitted; the results table and the first
    # page state the level in their captions
    "classification intervals": (
        {
            ("analysis", "classification", "n_bootstrap"): 50,
            ("analysis", "classification", "confidence"): 0.9,
        },
        {"classification_intervals", "results_table", "findings"},
    ),
    # the weights change: the model is trained again, and its embeddings made again (the config
    # hash they check changes)
    "training seed": (
        {("contrastive_models", "time_aware", "training", "seed"): 1},
        {"train_contrastive", "embed"},
    ),
}


def _rules_an_edit_changes(
    config: dict[str, Any], edits: dict[tuple[str, ...], Any], before_jobs: list[Any], tmp_path: Path
) -> set[str]:
    """The rules whose jobs' compared params or inputs differ between ``before_jobs`` (the plan of
    ``config``) and the plan of ``config`` with ``edits``; the same jobs must be planned, less those
    of an export turned off."""
    for path, value in edits.items():
        node = config
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    edited, before = _params_by_job(plan_of(config, tmp_path)), _params_by_job(before_jobs)
    dropped = {rule for rule, _ in before.keys() - edited.keys()}
    assert edited.keys() <= before.keys() and dropped <= {"export_viscy"}
    return {job[0] for job, params in edited.items() if params != before[job]}


def _opt_in_config() -> dict[str, Any]:
    """The tiny config (two FOVs per well) with virtual staining trained on one FOV of each well and
    the time-aware model's infection classifier distilled (held out: the other FOV of each well)."""
    from integration.workflow_helpers import tiny_workflow_config

    config = tiny_workflow_config()
    tiny = config["datasets"]["tiny"]
    tiny["simulate"]["fovs_per_well"] = 2
    tiny["virtual_stain"] = {"train": {"train_fovs": ["A/1/0", "B/1/0"], "max_steps": 2}}
    config["analysis"]["distillation"] = {"enabled": True, "teacher_model": "time_aware", "dataset": "tiny"}
    return config


@pytest.fixture(scope="module")
def opt_in_jobs(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The plan of :func:`_opt_in_config`."""
    return plan_of(_opt_in_config(), tmp_path_factory.mktemp("opt_in_plan"))


VIRTUAL_STAIN_RULES = {"virtual_stain_plate", "predict_virtual_stain", "evaluate_virtual_stain"}
#: As CONFIG_EDITS, on :func:`_opt_in_config` (the stages the tiny config leaves off).
OPT_IN_CONFIG_EDITS = {
    # how the trained network predicts (VirtualStainConfig.KEYS_NOT_IN_TRAINING): predicted again,
    # not trained again (train_virtual_stain's params were the whole subtree)
    "virtual staining prediction": (
        {
            ("datasets", "tiny", "virtual_stain", "predict", key): value
            for key, value in {
                "tile_size_px": 64,
                "tile_overlap_fraction": 0.5,
                "blending": "constant",
            }.items()
        },
        VIRTUAL_STAIN_RULES,
    ),
    "virtual staining training": (
        {("datasets", "tiny", "virtual_stain", "train", "max_steps"): 3},
        {"train_virtual_stain"} | VIRTUAL_STAIN_RULES,
    ),
    # how the network trains, not the weights it trains (VirtualStainConfig.RUN_KEYS, bitwise the same
    # weights): not trained again, nothing predicted again (every virtual-staining rule's params held
    # the whole train subtree)
    "virtual staining training run settings": (
        {
            ("datasets", "tiny", "virtual_stain", "train", "data_loader_workers"): 2,
            ("datasets", "tiny", "virtual_stain", "train", "cache_megabytes"): 64,
        },
        set(),
    ),
    # every distillation key but the CIs' reruns distill alone (distillation_intervals then follows
    # its new files), inference_batch_size included (its validation scores choose the student's kept
    # step, which float32 rounding could change)
    "distillation": (
        {
            ("analysis", "distillation", key): value
            for key, value in {
                "max_steps": 10,
                "validation_every": 5,
                "device": "cpu",
                "inference_batch_size": 16,
                "heldout_fovs": ["A/1/1", "B/1/1"],  # the default, named
            }.items()
        },
        {"distill"},
    ),
    # the CIs' settings: rule distillation_intervals computes them from distill's held-out
    # predictions, so no student is trained again (nothing else reads its table or figure)
    "distillation intervals": (
        {
            ("analysis", "distillation", "n_bootstrap"): 50,
            ("analysis", "distillation", "confidence"): 0.9,
        },
        {"distillation_intervals"},
    ),
}


@pytest.mark.parametrize("name", list(CONFIG_EDITS) + list(OPT_IN_CONFIG_EDITS))
def test_a_config_edit_changes_the_params_or_inputs_of_exactly_the_rules_that_read_it(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """CONFIG_EDITS on the tiny config, OPT_IN_CONFIG_EDITS on :func:`_opt_in_config`."""
    from integration.workflow_helpers import tiny_workflow_config

    if name in CONFIG_EDITS:
        (edits, rerun), config, jobs = CONFIG_EDITS[name], tiny_workflow_config(), "tiny_jobs"
    else:
        (edits, rerun), config, jobs = OPT_IN_CONFIG_EDITS[name], _opt_in_config(), "opt_in_jobs"
    assert _rules_an_edit_changes(config, edits, request.getfixturevalue(jobs), tmp_path) == rerun


def test_the_virtual_staining_checkpoint_records_the_config_its_training_job_compares(
    opt_in_jobs: list[Any],
) -> None:
    """train_virtual_stain's params.config is the subtree without the prediction settings; the stage
    records that same config (its hash), and a prediction job's whole config is accepted against it."""
    from dynaclr.config.virtual_stain import VirtualStainConfig
    from dynaclr.io import make_provenance
    from dynaclr.io.provenance import config_hash
    from dynaclr.virtual_stain.checkpoint import check_trained_with

    jobs = {job.rule.name: job for job in opt_in_jobs}
    trained = dict(jobs["train_virtual_stain"].params.config)
    assert not {"predict", "output_channel", "checkpoint"} & set(trained)
    recorded = VirtualStainConfig.model_validate(trained).training_params()
    assert recorded == trained
    provenance = make_provenance("virtual_stain_model", recorded)
    assert provenance.config_hash == config_hash(trained)
    predicting = VirtualStainConfig.model_validate(dict(jobs["predict_virtual_stain"].params.config))
    check_trained_with(provenance, predicting, "model.ckpt")  # no difference: accepted


def test_the_virtual_staining_job_trains_with_run_settings_no_rerun_compares(tmp_path: Path) -> None:
    """virtual_stain.train's RUN_KEYS reach the train_virtual_stain job (its params.run, a params
    function of threads, which the params trigger leaves out), not its compared params.config, which
    holds them at their defaults as the checkpoint records them; a prediction job's config, holding
    the edited values, is accepted against that record."""
    from dynaclr.config.base import with_run_params
    from dynaclr.config.virtual_stain import VirtualStainConfig
    from dynaclr.io import make_provenance
    from dynaclr.virtual_stain.checkpoint import check_trained_with

    config = _opt_in_config()
    run = {"data_loader_workers": 3, "cache_megabytes": 64.0}
    config["datasets"]["tiny"]["virtual_stain"]["train"].update(run)
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = {job.rule.name: job for job in planned_jobs(configfile, tmp_path)}
    job = jobs["train_virtual_stain"]
    assert job.params.run not in list(job.non_derived_params)
    requested = VirtualStainConfig.model_validate(with_run_params(job.params.config, job.params.run))
    assert requested.train is not None
    assert {key: getattr(requested.train, key) for key in run} == run
    defaults = {key: type(requested.train).model_fields[key].default for key in run}
    assert {key: job.params.config["train"][key] for key in run} == defaults
    assert requested.training_params() == dict(job.params.config)
    provenance = make_provenance("virtual_stain_model", requested.training_params())
    predict = jobs["predict_virtual_stain"]
    predicting = VirtualStainConfig.model_validate(with_run_params(predict.params.config, predict.params.run))
    assert predicting.train is not None and predicting.train.data_loader_workers == 3
    check_trained_with(provenance, predicting, "model.ckpt")  # no difference: accepted


def _config_importing_a_model(tmp_path: Path) -> dict[str, Any]:
    """The tiny config with a model 'colleague' imported from a (empty) file, embedding 'tiny'."""
    from integration.workflow_helpers import TINY_TRAINING, tiny_workflow_config

    checkpoint = tmp_path / "colleague.ckpt"
    checkpoint.write_bytes(b"")  # planning reads nothing of it
    config = tiny_workflow_config()
    config["contrastive_models"]["colleague"] = {
        "checkpoint": str(checkpoint),
        "embed_datasets": ["tiny"],
        "training": {**TINY_TRAINING, "sampling": "classical"},
    }
    return config


def test_adding_a_dataset_to_an_imported_model_reruns_none_of_its_jobs(tmp_path: Path) -> None:
    """The sampling checks are functions of threads, which the params trigger does not compare:
    adding a dataset to an imported model's embed_datasets changes no compared param or input of its
    import_model job or of its embed job of the dataset it embedded (import_model is not rerun; the
    new dataset's embed job makes the comparison, given its sampling); a trained model's recorded
    sampling is no compared param either (editing what it records retrains nothing)."""
    config = _config_importing_a_model(tmp_path)

    def plan(name: str) -> list[Any]:
        (tmp_path / name).mkdir()
        configfile = tmp_path / name / "config.yaml"
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        return planned_jobs(configfile, tmp_path / name)

    before_jobs = plan("before")
    config["datasets"]["tiny_b"] = config["datasets"]["tiny"]
    config["contrastive_models"]["colleague"]["embed_datasets"] = ["tiny", "tiny_b"]
    after_jobs = plan("after")
    before, after = _params_by_job(before_jobs), _params_by_job(after_jobs)
    kept = [
        job for job in before if job[0] == "import_model" or (job[0] == "embed" and "colleague" in job[1])
    ]
    assert len(kept) == 2
    assert {job: after[job] for job in kept} == {job: before[job] for job in kept}
    checks = {
        job.wildcards["dataset"]: job.params.sampling_check
        for job in after_jobs
        if job.rule.name == "embed" and job.wildcards["model"] == "colleague"
    }
    assert set(checks) == {"tiny", "tiny_b"}
    assert all(check is not None and check["sampling"]["dataset"] == name for name, check in checks.items())
    for job in after_jobs:
        if job.rule.name == "train_contrastive":
            assert job.params.sampling not in list(job.non_derived_params)
            assert job.params.sampling  # the record still reaches the command line


def test_editing_the_specs_per_time_point_setting_reimports_a_model(tmp_path: Path) -> None:
    """import_model records the spec's normalize_per_time_point as the model's input where the file
    states none (VisCy, timm): it was a function of threads, which the params trigger leaves out, so
    editing the spec re-extracted the patches but kept the import, and embed then refused the store
    against the stale record. It is a compared param, as the channels are."""
    config = _config_importing_a_model(tmp_path)

    def import_params(name: str) -> tuple[list[str], list[str]]:
        (tmp_path / name).mkdir()
        configfile = tmp_path / name / "config.yaml"
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        (params,) = [
            p
            for job, p in _params_by_job(planned_jobs(configfile, tmp_path / name)).items()
            if job[0] == "import_model"
        ]
        return params

    before = import_params("before")
    config["datasets"]["tiny"]["patches"][0]["normalize_per_time_point"] = True
    assert import_params("after") != before


def test_the_training_job_runs_with_the_run_settings_no_rerun_compares(tmp_path: Path) -> None:
    """contrastive_models.<name>.training's RUN_KEYS reach the train_contrastive job (the config it
    writes for its command line, a params function of its threads: the params trigger leaves it out),
    not its compared params.config, which holds them at their defaults."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.training import ContrastiveModelConfig

    config = tiny_workflow_config()
    run = {"num_workers": 3, "log_every_n_steps": 1, "record_sample_rows": True}
    config["contrastive_models"]["time_aware"]["training"].update(run)
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    (job,) = [
        job
        for job in planned_jobs(configfile, tmp_path)
        if job.rule.name == "train_contrastive" and job.wildcards["model"] == "time_aware"
    ]
    assert job.params.training_json not in list(job.non_derived_params)
    requested = ContrastiveModelConfig.model_validate_json(job.params.training_json)
    assert {key: getattr(requested, key) for key in run} == run
    assert {key: job.params.config["training"][key] for key in run} == {
        key: ContrastiveModelConfig.model_fields[key].default for key in run
    }
    assert job.params.config["training"] == requested.job_params()


def test_the_embed_job_runs_with_the_run_settings_no_rerun_compares(tmp_path: Path) -> None:
    """analysis.embeddings.batch_size and resume reach the embed job (params.run, derived from its
    threads: the params trigger leaves it out), not its compared params.config."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config.embeddings import embedding_stage_config

    config = tiny_workflow_config()
    config["analysis"]["embeddings"] = {"batch_size": 7, "resume": False}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    embed_jobs = [job for job in planned_jobs(configfile, tmp_path) if job.rule.name == "embed"]
    encoders = [job for job in embed_jobs if job.wildcards["model"] != "engineered_features"]
    assert len(encoders) == 2
    for job in encoders:
        assert "batch_size" not in job.params.config and "resume" not in job.params.config
        assert job.params.config in list(job.non_derived_params)
        assert job.params.run not in list(job.non_derived_params)
        stage = embedding_stage_config(job.wildcards["model"], {**job.params.config, **job.params.run})
        assert (stage.batch_size, stage.resume) == (7, False)
