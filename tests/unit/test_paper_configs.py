"""The paper's grids (config/paper_infection.yaml, config/paper_division.yaml) are valid configs of
their own: every sampling x loss, the tau sweep and both baselines, in a results folder of their own."""

from __future__ import annotations

import itertools

import pytest
import yaml
from conftest import REPO_ROOT

from dynaclr.config import WorkflowConfig


@pytest.mark.parametrize(("name", "task"), [("paper_infection", "infection"), ("paper_division", "division")])
def test_a_paper_grid_config_holds_every_sampling_and_loss_and_the_tau_sweep(name: str, task: str):
    config = WorkflowConfig.model_validate(
        yaml.safe_load((REPO_ROOT / "config" / f"{name}.yaml").read_text())
    )
    assert config.results == f"results_{name}"  # never the demo's folder
    trainings = [entry.training for entry in config.contrastive_models.values()]
    grid = {(t.sampling, t.loss) for t in trainings}
    assert grid == set(itertools.product(["classical", "cell_aware", "time_aware"], ["ntxent", "triplet"]))
    taus = sorted(t.tau_minutes for t in trainings if t.sampling == "time_aware" and t.loss == "ntxent")
    interval = next(iter(config.datasets.values())).simulate.time_interval_minutes
    assert taus == [interval, 2 * interval, 4 * interval]
    assert set(config.analysis.baselines) == {"random_weights", "engineered_features"}
    assert task in config.analysis.classification.tasks
    # one training block for all: only sampling, loss and tau differ between the models
    others = [t.model_dump(exclude={"sampling", "loss", "tau_minutes"}) for t in trainings]
    assert all(other == others[0] for other in others)


def test_a_config_named_on_the_command_line_replaces_the_demos(tmp_path):
    """`--configfile config/paper_division.yaml` plans that config alone, under its own folder:
    Snakemake would otherwise merge it into the Snakefile's default (the demo's datasets and models)."""
    from test_stage_contract import planned_jobs

    jobs = planned_jobs(REPO_ROOT / "config" / "paper_division.yaml", tmp_path)
    datasets = {job.wildcards.get("dataset") for job in jobs} - {None}
    assert datasets == {"division"}
    models = {job.wildcards.get("model") for job in jobs if job.rule.name == "train_contrastive"}
    assert len(models) == 8
    assert all(str(path).startswith("results_paper_division/") for job in jobs for path in job.output)


def _merged(*names: str) -> dict:
    """The config files merged key by key as Snakemake's ``--configfile a b`` merges them."""

    def update(base: dict, extra: dict) -> dict:
        for key, value in extra.items():
            base[key] = update(base.get(key, {}), value) if isinstance(value, dict) else value
        return base

    merged: dict = {}
    for name in names:
        update(merged, yaml.safe_load((REPO_ROOT / "config" / f"{name}.yaml").read_text()))
    return merged


def test_the_distillation_overlay_is_the_demo_with_a_phase_cue_in_its_own_folder():
    demo = WorkflowConfig.model_validate(_merged("config"))
    overlay = WorkflowConfig.model_validate(_merged("config", "distillation"))
    assert overlay.results == "results_distillation" != demo.results
    assert overlay.analysis.distillation.enabled and not demo.analysis.distillation.enabled
    for name, dataset in overlay.datasets.items():
        simulated, original = dataset.simulate, demo.datasets[name].simulate
        assert simulated is not None and original is not None
        assert simulated.infection.phase_index_change > 0 == original.infection.phase_index_change
        # only the cue differs: same seeds, plate and biology otherwise
        changed = simulated.model_copy(update={"infection": original.infection})
        assert changed == original
        assert dataset.patches[0] == demo.datasets[name].patches[0]  # the demo's spec, unchanged
    # the demo's models as they are, and a phase-only one that the student starts from; the teacher's
    # model leaves the held-out FOVs out of its training (and so trains on every FOV left)
    assert set(overlay.contrastive_models) - set(demo.contrastive_models) == {"time_aware_phase"}
    teacher = overlay.analysis.distillation.teacher_model
    for name, entry in demo.contrastive_models.items():
        unseen = {"excluded_fovs": None, "validation_fraction": entry.training.validation_fraction}
        training = overlay.contrastive_models[name].training
        assert training.model_copy(update=unseen) == entry.training
        assert (training != entry.training) == (name == teacher)
    assert overlay.analysis.distillation.student_model == "time_aware_phase"


def test_the_distillation_overlays_encoders_never_saw_its_heldout_fovs():
    """Both contrastive encoders config/distillation.yaml distils from (the teacher's model, the
    student's start) leave its held-out FOVs out of their self-supervised training; the demo's own
    config excludes none (its models train on every FOV)."""
    overlay = WorkflowConfig.model_validate(_merged("config", "distillation"))
    heldout = overlay.analysis.distillation.heldout_fovs
    assert heldout == ["A/1/1", "B/1/1"]
    encoders = overlay.distillation_encoders()
    assert set(encoders) == {"teacher", "student"}
    for role, encoder in encoders.items():
        assert encoder.trains_on_dataset and not encoder.read_from_file
        assert encoder.saw(heldout) == "no" and encoder.heldout_warning(role, heldout) is None
        training = overlay.contrastive_models[encoder.model].training
        assert training.validation_fraction == 0 and training.excluded_fovs == heldout
    demo = WorkflowConfig.model_validate(_merged("config"))
    assert demo.distillation_encoders() == {}
    assert all(entry.training.excluded_fovs is None for entry in demo.contrastive_models.values())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("names", "results", "rule"),
    [
        (["paper_infection"], "results_paper_infection", "train_contrastive"),
        (["config", "distillation"], "results_distillation", "distill"),
        (["config", "organelle"], "results", "train_contrastive"),
    ],
)
def test_every_shipped_config_plans_from_scratch(tmp_path, names: list[str], results: str, rule: str):
    """Each shipped config, with the --configfile(s) the README gives it, plans without error (the
    paper's division grid is planned above), every output under its own results folder."""
    from test_stage_contract import planned_jobs

    # the demo config names the VisCy fixture by a path relative to the working directory
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(REPO_ROOT / "tests" / "data")
    jobs = planned_jobs([REPO_ROOT / "config" / f"{name}.yaml" for name in names], tmp_path)
    assert rule in {job.rule.name for job in jobs}
    assert all(str(path).startswith(f"{results}/") for job in jobs for path in job.output)


def test_the_distillation_caption_names_the_students_start():
    """The report's caption of the distillation figure says where the student starts: the phase-only
    contrastive model of config/distillation.yaml, not random weights; the demo's random ones."""
    from types import SimpleNamespace

    import jinja2

    template = jinja2.Template((REPO_ROOT / "workflow" / "report" / "distillation.rst").read_text())

    def caption(*names: str) -> str:
        distillation = WorkflowConfig.model_validate(_merged(*names)).analysis.distillation
        params = SimpleNamespace(config=distillation.interval_params(), described=distillation.job_params())
        wildcards = SimpleNamespace(model="teacher", dataset="demo")
        return template.render(snakemake=SimpleNamespace(params=params, wildcards=wildcards))

    overlay = caption("config", "distillation")
    assert "phase-only contrastive model **time_aware_phase**" in overlay and "random initial" not in overlay
    assert "seeded random initial weights" in caption("config")
