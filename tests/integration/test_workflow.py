"""The Snakemake workflow: lint, dry runs (local and SLURM profile), config errors before any
job, a real tiny run, and selective reruns after config edits."""

from __future__ import annotations

import copy
import json
import re
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import zarr
from conftest import REPO_ROOT, screenshots

from dynaclr.io import read_table
from integration.workflow_helpers import (
    TINY_TRAINING,
    planned_jobs,
    snakemake,
    tiny_workflow_config,
    write_config,
)


def test_lint_is_clean(tmp_path):
    result = snakemake(REPO_ROOT, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


PHASE_JOBS = {"phase_transfer_function": 1, "phase_plate": 1, "evaluate_phase": 1}
TRACKING_JOBS = {"tracks_plate": 1, "collect_tracks": 1, "evaluate_tracking": 1}
VIRTUAL_STAIN_JOBS = {"train_virtual_stain": 1, "virtual_stain_plate": 1, "evaluate_virtual_stain": 1}


#: Rules of config `exports` (on in the tiny config, off in the demo).
EXPORT_RULES = {"export_ctc", "export_embeddings", "export_viscy"}
ANALYSIS_RULES = {
    "embed",
    "project_embeddings",
    "temporal_metrics",
    "draw_annotations",
    "classify",
    "classification_intervals",
    "collect_classification",
    "align_pseudotime",
    "collect_pseudotime",
    "embedding_figures",
    "infected_fraction_figure",
    "pseudotime_figure",
    "aligned_trajectories_figure",
    "transfer_classifiers",
    "results_table",
    "findings",
}


#: Opt-in (analysis.interpretation.enabled): on in the tiny config, off in the demo's.
INTERPRETATION_RULES = {"cell_features", "interpret_embeddings", "feature_trajectories"}
#: Opt-in (analysis.occlusion.enabled): on in the tiny config and, for one model, in the demo's.
OCCLUSION_RULES = {"occlusion_attribution"}


def upstream(jobs: dict[str, int]) -> dict[str, int]:
    """The planned jobs up to training (the analysis rules are checked separately)."""
    excluded = ANALYSIS_RULES | INTERPRETATION_RULES | OCCLUSION_RULES | EXPORT_RULES | {"import_annotations"}
    return {rule: n for rule, n in jobs.items() if rule not in excluded}


def all_jobs(n_fovs: int, n_models: int, virtual_stain: bool = False, qc_fovs: int = 4) -> dict[str, int]:
    """Jobs of one simulated dataset with ``n_fovs`` FOVs, one patch spec and ``n_models`` models."""
    jobs = {
        "simulate": 1,
        "summarize_ground_truth": 1,
        **PHASE_JOBS,
        "reconstruct_phase": n_fovs,
        **TRACKING_JOBS,
        "track_fov": n_fovs,
        "extract_patches": n_fovs,
        "collect_patches": 1,
        "qc_table": 1,
        "image_qc_figure": min(n_fovs, qc_fovs),  # qc_figures.max_fovs
        "train_contrastive": n_models,
    }
    if virtual_stain:
        jobs.update(VIRTUAL_STAIN_JOBS, predict_virtual_stain=n_fovs)
    return jobs


def test_dry_run_default_config_plans_the_demo(tmp_path):
    write_config(tmp_path, __import__("yaml").safe_load((REPO_ROOT / "config" / "config.yaml").read_text()))
    (tmp_path / "tests").mkdir()  # the VisCy fixture the demo loads, by its path from the working directory
    (tmp_path / "tests" / "data").symlink_to(REPO_ROOT / "tests" / "data")
    jobs = planned_jobs(tmp_path)
    # demo_15min: no training, no VS; QC figures of 2 and 1 FOVs (qc_figures.max_fovs)
    demo, other = all_jobs(4, 2, virtual_stain=True, qc_fovs=2), all_jobs(2, 0, qc_fovs=1)
    expected = {rule: demo.get(rule, 0) + other.get(rule, 0) for rule in demo | other}
    expected = {rule: n for rule, n in expected.items() if n} | {"import_model": 1}
    assert upstream(jobs) == expected
    assert ANALYSIS_RULES <= set(jobs) and not (INTERPRETATION_RULES | EXPORT_RULES) & set(jobs)
    # 2 trained models x 2 datasets, the VisCy model on demo_15min, 2 baselines on demo (baseline_datasets)
    assert jobs["embed"] == jobs["pseudotime_figure"] == jobs["aligned_trajectories_figure"] == 7
    assert jobs["classify"] == 4 and jobs["transfer_classifiers"] == 2  # train_on demo, apply_to demo_15min
    assert jobs["infected_fraction_figure"] == 6  # the VisCy model embeds no dataset with a classifier
    assert jobs["occlusion_attribution"] == 1  # analysis.occlusion.models: the time-aware model on demo

    edited = __import__("yaml").safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    del edited["analysis"]["baseline_datasets"]  # default: the baselines embed every dataset a model embeds
    write_config(tmp_path, edited)
    jobs = planned_jobs(tmp_path)
    assert jobs["embed"] == 9 and jobs["transfer_classifiers"] == 4 and jobs["infected_fraction_figure"] == 8


def test_dry_run_with_slurm_profile_without_slurm(tmp_path):
    write_config(tmp_path, tiny_workflow_config())
    jobs = planned_jobs(tmp_path, "--profile", str(REPO_ROOT / "profiles" / "slurm"))
    assert upstream(jobs) == all_jobs(2, 2)
    # interpretation: features once per (dataset, spec), then every (model, dataset): 2 models + 1 baseline
    assert jobs["cell_features"] == 1 and jobs["interpret_embeddings"] == 3
    # the sensor's features along pseudo-time: every aligned (model, dataset) of the sensor's spec
    assert jobs["feature_trajectories"] == 3
    # occlusion: every model with a checkpoint on its classified dataset (not the baseline)
    assert jobs["occlusion_attribution"] == 2


def test_switching_phase_off_reads_phase_from_the_plate(tmp_path):
    config = tiny_workflow_config()
    config["datasets"]["tiny"]["phase"] = None
    config["datasets"]["tiny"]["patches"][0]["channels"][0]["source"] = "raw"
    config["datasets"]["tiny"]["patches"][0]["channels"][0]["channel"] = "Brightfield"
    write_config(tmp_path, config)
    jobs = planned_jobs(tmp_path)
    assert not set(jobs) & {*PHASE_JOBS, "reconstruct_phase"}
    assert jobs["track_fov"] == 2 and jobs["train_contrastive"] == 2


def test_dry_run_classifies_a_plate_dataset_that_names_its_annotation_table(tmp_path, tiny_plate):
    """A simulated and a real (``plate:``) dataset side by side: the real one imports its table,
    is classified, and gets DTW pseudo-time from its infection classifier; only the simulated one
    draws annotations and gets the pseudo-time figure, which plots the true onsets."""
    config = tiny_workflow_config()
    real = copy.deepcopy(config["datasets"]["tiny"])
    del real["simulate"], real["summary"]
    table = tmp_path / "my_annotations.csv"
    table.write_text("fov_name,track_id,t,task,label\nA/1/0,1,0,infection,uninfected\n")
    config["datasets"]["real"] = {
        **real,
        "plate": str(tiny_plate["plate"]),
        "annotations": {"table": str(table), "tasks": ["infection"]},
    }
    config["contrastive_models"]["on_real"] = {
        "train_datasets": ["real"],
        "training": {**TINY_TRAINING, "sampling": "classical"},
    }
    write_config(tmp_path, config)
    jobs = planned_jobs(tmp_path)
    # Both datasets' patch specs give the same input: every model embeds both (3 models + the
    # engineered-features baseline per dataset); classifiers are cross-validated on each dataset
    # and transferred to the other.
    pairs = 4
    assert jobs["embed"] == 2 * pairs
    assert jobs["draw_annotations"] == 1 and jobs["import_annotations"] == 1
    assert jobs["classify"] == jobs["align_pseudotime"] == jobs["transfer_classifiers"] == 2 * pairs
    assert jobs["pseudotime_figure"] == pairs  # simulated only: it plots the true onsets
    assert jobs["aligned_trajectories_figure"] == 2 * pairs  # every aligned pair: no ground truth read
    assert jobs["infected_fraction_figure"] == 2 * pairs  # the plate's from its predictions alone

    classify_real = "results/evaluation/classification/on_real/real.parquet"
    jobs = planned_jobs(tmp_path, classify_real)
    assert jobs["import_annotations"] == 1 and jobs["classify"] == 1
    assert not {"simulate", "draw_annotations"} & set(jobs)
    plan = snakemake(tmp_path, "--dry-run", "results/evaluation/pseudotime/on_real/real.parquet").stdout
    assert "results/evaluation/predictions/on_real/real.parquet" in plan  # the reference's infection state

    del config["datasets"]["real"]["annotations"]  # no table: the plate dataset is not classified
    write_config(tmp_path, config)
    jobs = planned_jobs(tmp_path)
    assert "import_annotations" not in jobs
    assert jobs["classify"] == pairs  # the simulated dataset's
    assert jobs["transfer_classifiers"] == pairs  # its classifiers predict the plate's cells
    # the simulated dataset on its ground truth, the plate on the infection state transferred to it
    assert jobs["align_pseudotime"] == 2 * pairs


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda c: c["datasets"]["tiny"]["simulate"].__setitem__("sed", 1), "sed"),
        (lambda c: c["datasets"]["tiny"]["simulate"].__setitem__("n_frames", "many"), "many"),
        (lambda c: c["datasets"]["tiny"]["simulate"]["wells"][0].pop("condition"), "condition"),
        (
            lambda c: c["analysis"]["interpretation"].__setitem__(
                "trajectory_features", ["raw:ERMarker_radial_slope"]
            ),
            "ERMarker_radial_slope",
        ),
    ],
    ids=["misspelt", "wrong-type", "missing-required", "unknown-trajectory-feature"],
)
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, edit, key):
    config = tiny_workflow_config()
    edit(config)
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--cores", "1", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert key in output
    assert not (tmp_path / "results").exists(), "no job may run with an invalid config"


@pytest.fixture(scope="module")
def finished_tiny_run(tmp_path_factory):
    """The whole tiny workflow, run once (every test here is marked slow: tests/conftest.py)."""
    workdir = tmp_path_factory.mktemp("tiny_workflow")
    config = tiny_workflow_config()
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2")
    return workdir, config


def test_tiny_run_writes_all_artifacts(finished_tiny_run):
    workdir, _ = finished_tiny_run
    results = workdir / "results"
    for path in (
        "tiny/raw.zarr",
        "tiny/ground_truth/tracks.parquet",
        "tiny/ground_truth/labels.zarr",
        "tiny/ground_truth/phase.zarr",
        "tiny/figures/ground_truth_preview.png",
        "tiny/figures/ground_truth_preview.svg",
        "logs/simulate/tiny.log",
        "benchmarks/simulate/tiny.tsv",
        "tiny/phase.zarr",
        "tiny/phase_transfer_function.zarr",
        "tiny/records/phase/A/1/0.json",
        "tiny/records/phase/B/1/0.json",
        "tiny/evaluation/phase.csv",
        "tiny/tracks.zarr",
        "tiny/tracks.parquet",
        "tiny/evaluation/tracking.csv",
        "tiny/patches/phase_sensor.zarr",
        "tiny/patches/phase_sensor.parquet",
        "models/time_aware/model.ckpt",
        "models/classical/model.ckpt",
        "embeddings/time_aware/tiny.zarr",
        "embeddings/engineered_features/tiny.zarr",
        "evaluation/temporal_metrics.csv",
        "evaluation/temporal_comparison.csv",
        "evaluation/classification.csv",
        "evaluation/dtw_accuracy.csv",
        "evaluation/results_table.csv",
        "tiny/cell_features/phase_sensor.parquet",
        "evaluation/interpretation/time_aware/tiny.csv",
        "evaluation/feature_trajectories/time_aware/tiny_summary.csv",
        "evaluation/occlusion/time_aware/tiny.csv",
        "evaluation/occlusion/classical/tiny.zarr",
        "figures/tiny/time_aware/occlusion.png",
        "report/findings.rst",
        "tiny/figures/qc/A_1_0.png",
        "figures/tiny/time_aware/explorer.html",
        "figures/tiny/engineered_features/explorer.html",
        "tiny/figures/qc/B_1_0.png",
        "evaluation/findings.csv",
        "tiny/exports/ctc/A_1_0/res_track.txt",
        "tiny/exports/ctc/B_1_0/mask000.tif",
        "tiny/exports/ctc_labels/A_1_0.csv",
        "exports/embeddings/time_aware/tiny.h5ad",
        "exports/embeddings/engineered_features/tiny.parquet",
        "exports/embeddings/time_aware/tiny.viscy.zarr",
    ):
        assert (results / path).exists(), path
    summary, prov = read_table(results / "tiny/ground_truth/summary.parquet", "ground_truth_summary")
    assert len(summary) == 2 and (summary["n_tracks"] > 0).all()
    assert prov.inputs[0].kind == "ground_truth_tracks"
    assert (workdir / "results/tiny/figures/ground_truth_preview.png").stat().st_size > 10_000


def test_no_store_holds_snakemakes_marker(finished_tiny_run):
    """Rules name the zarr stores (and CTC folders) they write by the root metadata file (the
    res_track.txt), not as directory() outputs: no store or folder holds Snakemake's
    .snakemake_timestamp, and zarr lists every root without a warning."""
    workdir, _ = finished_tiny_run
    results = workdir / "results"
    stores = sorted(path for path in results.rglob("*.zarr") if path.is_dir())
    names = {str(path.relative_to(results)) for path in stores}
    assert {
        "tiny/raw.zarr",
        "tiny/ground_truth/labels.zarr",
        "tiny/phase.zarr",
        "tiny/phase_transfer_function.zarr",
        "tiny/tracks.zarr",
        "tiny/patches/phase_sensor.zarr",
        "embeddings/time_aware/tiny.zarr",
        "embeddings/time_aware/tiny.projections.zarr",
        "evaluation/occlusion/classical/tiny.zarr",
        "exports/embeddings/time_aware/tiny.viscy.zarr",
    } <= names
    assert [path for path in stores if (path / ".snakemake_timestamp").exists()] == []
    # nor does a CTC export folder, which the CTC tools list (named by its res_track.txt)
    ctc = sorted((results / "tiny/exports/ctc").iterdir())
    assert ctc and all((folder / "res_track.txt").is_file() for folder in ctc)
    assert [path for path in results.rglob(".snakemake_timestamp")] == []
    # zarr's own warnings only: a warning of another library (a finaliser or a thread left by an earlier
    # test of the session) may be emitted while the stores are listed, and is not about them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for path in stores:
            list(zarr.open_group(path, mode="r").keys())
    zarr_warnings = [w for w in caught if w.category.__module__.startswith("zarr")]
    assert [f"{w.category.__name__}: {w.message}" for w in zarr_warnings] == []


FIGURE_CAPTIONS = {  # figure -> (rule drawing it, words of its caption in workflow/report/)
    "projections": ("embedding_figures", "projected to two dimensions"),
    "distances": ("embedding_figures", "Cosine distances between embeddings"),
    "infected_fraction": ("infected_fraction_figure", "Fraction of infected cells over time"),
    "pseudotime": ("pseudotime_figure", "Pseudo-time of infection by dynamic time warping"),
    "aligned_trajectories": ("aligned_trajectories_figure", "Aligned trajectories (paper Fig. 6)"),
    "pc_features": ("interpret_embeddings", "What the principal components"),
    "pc_gallery": ("interpret_embeddings", "Cells along the first"),
    "feature_trajectories": ("feature_trajectories", "Engineered cell features along DTW pseudo-time"),
}


def test_report_shows_every_figure_with_its_own_caption(finished_tiny_run):
    workdir, config = finished_tiny_run
    snakemake(workdir, "--report", "report.html")
    html = (workdir / "report.html").read_text()
    marker = "var results = "  # the results table of Snakemake's report template
    start = html.index(marker, html.index('<script id="results">')) + len(marker)
    results, _ = json.JSONDecoder().raw_decode(html, start)
    entries = {path.replace("\\", "/"): entry for path, entry in results.items()}
    models = [*config["contrastive_models"], *config["analysis"]["baselines"]]
    for model in models:
        for figure, (rule, words) in FIGURE_CAPTIONS.items():
            entry = entries[f"results/figures/tiny/{model}/{figure}.png"]
            assert entry["job_properties"]["rule"] == rule, (model, figure)
            assert words in entry["caption"] and model in entry["caption"], (model, figure)
    for model in config["contrastive_models"]:
        entry = entries[f"results/figures/tiny/{model}/occlusion.png"]
        assert entry["job_properties"]["rule"] == "occlusion_attribution"
        assert "Occlusion attribution" in entry["caption"] and model in entry["caption"]
    # the report opens on the run's findings (rule findings), not on the rule graph alone
    assert "What this run found" in html and "TRA" in html and "smoothness" in html


def test_report_first_page_starts_at_the_top_in_a_browser(finished_tiny_run, chromium, tmp_path):
    """Snakemake's report centres its landing view in a scrolling box; a first page taller than the
    window used to overflow above it, out of reach: its title must be in view, at the top."""
    workdir, _ = finished_tiny_run
    snakemake(workdir, "--report", str(tmp_path / "report.html"))
    screenshots.console_errors(chromium)  # drain: another test's messages are not this one's
    chromium.set_window_size(1000, 500)  # far shorter than the page
    try:
        chromium.get((tmp_path / "report.html").as_uri())
        title = None
        for _ in range(100):  # the report's React views render after the document loads
            headings = chromium.execute_script(
                "return [...document.querySelectorAll('h1')]"
                ".map(h => [h.textContent, h.getBoundingClientRect().top]);"
            )
            title = next((top for text, top in headings if text.startswith("What this run found")), None)
            if title is not None:
                break
            time.sleep(0.1)
    finally:
        chromium.set_window_size(*screenshots.WINDOW)
    assert title is not None and 0 <= title < 200, f"the findings' title is at {title} px of a 500 px window"
    assert screenshots.console_errors(chromium) == []


def test_nothing_to_do_after_a_finished_run(finished_tiny_run):
    workdir, _ = finished_tiny_run
    assert planned_jobs(workdir) == {}


def test_editing_a_stage_key_reruns_that_stage_and_its_descendants_only(finished_tiny_run):
    workdir, config = finished_tiny_run
    try:
        edited = copy.deepcopy(config)
        edited["datasets"]["tiny"]["simulate"]["seed"] = 99
        write_config(workdir, edited)
        jobs = planned_jobs(workdir)
        # one dataset: no classifier is transferred to another
        assert upstream(jobs) == all_jobs(n_fovs=2, n_models=2)
        assert ANALYSIS_RULES - {"transfer_classifiers"} <= set(jobs)

        # phase feeds the patches (Phase3D channel) and so the models, not the tracking
        edited = copy.deepcopy(config)
        edited["datasets"]["tiny"]["phase"] = {"regularization_strength": 1e-3}
        write_config(workdir, edited)
        jobs = planned_jobs(workdir)
        assert "embed" in jobs and upstream(jobs) == {
            **PHASE_JOBS,
            "reconstruct_phase": 2,
            "extract_patches": 2,
            "collect_patches": 1,
            "train_contrastive": 2,
            "qc_table": 1,  # the per-FOV records it gathers were rewritten
            "image_qc_figure": 2,
        }

        edited = copy.deepcopy(config)
        edited["datasets"]["tiny"]["tracking"] = {"linking": {"max_neighbors": 4}}
        write_config(workdir, edited)
        jobs = planned_jobs(workdir)
        assert "embed" in jobs and upstream(jobs) == {
            **TRACKING_JOBS,
            "track_fov": 2,
            "extract_patches": 2,
            "collect_patches": 1,
            "train_contrastive": 2,
            "qc_table": 1,
            "image_qc_figure": 2,
        }

        edited = copy.deepcopy(config)
        edited["contrastive_models"]["classical"]["training"]["temperature"] = 0.2
        write_config(workdir, edited)
        jobs = planned_jobs(workdir)
        assert upstream(jobs) == {"train_contrastive": 1}
        assert jobs["embed"] == 1, "only the retrained model is embedded again"

        edited = copy.deepcopy(config)
        edited["datasets"]["tiny"]["summary"]["preview_frames"] = 3
        write_config(workdir, edited)
        assert planned_jobs(workdir) == {"summarize_ground_truth": 1}

        # a second dataset is unrelated to the first: only its own jobs are planned
        edited = copy.deepcopy(config)
        edited["datasets"]["other"] = copy.deepcopy(config["datasets"]["tiny"])
        write_config(workdir, edited)
        jobs = planned_jobs(workdir)
        assert upstream(jobs) == {
            rule: n for rule, n in all_jobs(n_fovs=2, n_models=2).items() if rule != "train_contrastive"
        }
        result = snakemake(workdir, "--dry-run")
        blocks = re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout)
        on_tiny = {block.split(":")[0].split()[-1] for block in blocks if "dataset=tiny" in block}
        assert "dataset=other" in result.stdout
        # the first dataset's jobs are all done; only the classifiers fitted on the new one are
        # transferred to it, with their CIs (and its classification table, collected over all
        # datasets, follows)
        assert on_tiny == {"transfer_classifiers", "classification_intervals"}, on_tiny
    finally:
        write_config(workdir, config)
    assert planned_jobs(workdir) == {}


def test_a_pretrained_backbone_added_to_the_config_imports_embeds_and_joins_the_table(finished_tiny_run):
    """The paper's ImageNet baseline: a timm network's weights file (made here, saved as Hugging Face
    does), used as published on the viral-sensor channel: import, embed, metrics, table; no training."""
    import anndata as ad
    import pandas as pd
    import timm
    import torch
    from safetensors.torch import save_file

    workdir, config = finished_tiny_run
    torch.manual_seed(0)
    network = timm.create_model("test_convnext", pretrained=False, num_classes=10)
    (workdir / "weights").mkdir(exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in network.state_dict().items()}, str(workdir / "weights/net.safetensors")
    )
    edited = copy.deepcopy(config)
    edited["contrastive_models"]["imagenet"] = {
        "train": False,
        "pretrained_weights": "weights/net.safetensors",
        "training": {
            "patch_spec": "phase_sensor",
            "sampling": "classical",
            "backbone": "test_convnext",
            "stem": "backbone",
            "z_reduction": "max",
            "input_channels": ["ViralSensor"],
            "projection_dim": 0,
        },
    }
    try:
        write_config(workdir, edited)
        jobs = planned_jobs(workdir)
        assert jobs["import_model"] == 1 and jobs["embed"] == 1, jobs
        assert "train_contrastive" not in jobs and "extract_patches" not in jobs
        snakemake(workdir, "--cores", "2")
        adata = ad.read_zarr(workdir / "results/embeddings/imagenet/tiny.zarr")
        assert adata.X.shape[1] == network.num_features
        assert (adata.X == adata.obsm["X_projections"]).all()  # no head: projections are the features
        table = pd.read_csv(workdir / "results/evaluation/results_table.csv")
        row = table[(table["model"] == "imagenet") & (table["dataset"] == "tiny")]
        assert len(row) == 1 and row["distribution"].iloc[0] == "external"
        assert row["trained_on"].iloc[0] == "file weights/net.safetensors"
        assert row["smoothness"].notna().all()
    finally:
        write_config(workdir, config)


def _second_run_config(first: Path, workdir: Path, classifiers_of: str = "time_aware") -> dict:
    """A new run on the tiny run's plate, read as a plate of its own (no phase, the ground-truth tracks
    imported, brightfield in place of the phase channel): no simulation, phase, tracking or training.
    Model ``earlier`` is the tiny run's time-aware model.ckpt (only its architecture given here, so
    its training-config hash is this config's); the tiny run's classifiers of ``classifiers_of`` are
    imported. Dataset ``new`` has no annotations; ``new_annotated`` has infection annotations of a few
    cells, on which the imported classifier is scored."""
    tracks = pd.read_parquet(first / "results/tiny/ground_truth/tracks.parquet")
    columns = ["fov_name", "track_id", "t", "y", "x", "parent_track_id"]
    tracks[columns].to_csv(workdir / "tracks.csv", index=False)
    rows = tracks.groupby("fov_name").head(4)  # both labels in each FOV
    labels = ["infected", "uninfected"] * (len(rows) // 2) + ["infected"] * (len(rows) % 2)
    rows[["fov_name", "track_id", "t", "y", "x"]].assign(task="infection", label=labels).to_csv(
        workdir / "annotations.csv", index=False
    )
    spec = {
        "name": "phase_sensor",
        "channels": [
            {"source": "raw", "channel": "Brightfield", "name": "Phase3D", "normalization": "zscore"},
            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
        ],
        "z_window_slices": 3,
        "patch_size_yx_px": 32,
    }
    plate = {
        "plate": str(first / "results/tiny/raw.zarr"),
        "phase": None,
        "tracks": {"format": "table", "path": str(workdir / "tracks.csv")},
        "patches": [spec],
        "qc_figures": {"max_fovs": 0},
    }
    return {
        "datasets": {
            "new": plate,
            "new_annotated": {
                **plate,
                "annotations": {"table": str(workdir / "annotations.csv"), "tasks": ["infection"]},
            },
        },
        "contrastive_models": {
            "earlier": {
                "checkpoint": str(first / "results/models/time_aware/model.ckpt"),
                "embed_datasets": ["new", "new_annotated"],
                "training": {"patch_spec": "phase_sensor", "backbone": "convnext_atto", "tau_frames": 1},
            }
        },
        "analysis": {
            "baselines": [],
            "temporal_metrics": {"n_bootstrap": 20},
            "classification": {
                "n_bootstrap": 20,
                "imported": {
                    "first_run": {
                        "file": str(first / f"results/evaluation/classifiers/{classifiers_of}/tiny.json"),
                        "model": "earlier",
                    }
                },
            },
        },
    }


def test_classifiers_of_an_earlier_run_predict_a_new_run_of_its_imported_model(finished_tiny_run, tmp_path):
    """analysis.classification.imported as a user runs it: a new run imports the tiny run's model.ckpt
    and classifiers file; its transfer predictions are those classifiers' probabilities on the new
    embeddings, scored where annotated and named by their file in the table and on the first page. The
    classifiers of the tiny run's other model are refused by the dry run, naming both weights digests."""
    from dynaclr.classify.evaluate import PREDICTION_INDEX_COLUMNS
    from dynaclr.classify.model import imported_source_label, load_classifiers, read_classifiers_provenance
    from dynaclr.embeddings.cells import cell_table
    from dynaclr.embeddings.store import read_embeddings, representation_matrix

    first, _ = finished_tiny_run
    config = _second_run_config(first, tmp_path)
    write_config(tmp_path, config)
    jobs = planned_jobs(tmp_path)
    assert jobs["import_model"] == 1 and jobs["transfer_classifiers"] == 2, jobs
    assert not {"simulate", "reconstruct_phase", "track_fov", "train_contrastive"} & set(jobs), jobs
    snakemake(tmp_path, "--cores", "2")

    file = config["analysis"]["classification"]["imported"]["first_run"]["file"]
    label = imported_source_label(file)
    assert label == f"tiny ({file})"
    classifiers = load_classifiers(file)
    for dataset in ("new", "new_annotated"):
        predictions, provenance = read_table(
            tmp_path / f"results/evaluation/transfer_predictions/earlier/{dataset}.parquet", "predictions"
        )
        assert provenance.config["imported"] == [label]
        imported = predictions[predictions["train_dataset"] == label]
        assert sorted(imported["task"].unique()) == sorted(classifiers)
        embeddings = read_embeddings(tmp_path / f"results/embeddings/earlier/{dataset}.zarr")
        cells = cell_table(embeddings)
        keys = [c for c in PREDICTION_INDEX_COLUMNS if c in cells.columns]
        for task, classifier in classifiers.items():
            expected = cells[keys].assign(
                expected=classifier.positive_probability(
                    representation_matrix(embeddings, classifier.representation)
                )
            )
            got = imported[imported["task"] == task].merge(expected, on=keys, how="outer", validate="1:1")
            assert len(got) == len(cells) and got["probability"].notna().all(), (dataset, task)
            assert (got["probability"] == got["expected"]).all(), (dataset, task)

    # scored where annotated, under the file's name, in the table and on the first page
    classification = pd.read_csv(tmp_path / "results/evaluation/classification.csv")
    scored = classification[classification["train_dataset"] == label]
    assert list(zip(scored["dataset"], scored["task"], strict=True)) == [("new_annotated", "infection")]
    table = pd.read_csv(tmp_path / "results/evaluation/results_table.csv")
    row = table[(table["model"] == "earlier") & (table["dataset"] == "new_annotated")]
    assert label in set(row["f1_infection_transferred_from"].dropna()), row.T
    findings = (tmp_path / "results/report/findings.rst").read_text().replace("\\", "")  # RST escapes
    assert f"fitted on {label} and applied here" in findings

    # the classifiers of the tiny run's other model read other embeddings: refused before any job
    other = _second_run_config(first, tmp_path, classifiers_of="classical")
    write_config(tmp_path, other)
    result = snakemake(tmp_path, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    fitted = read_classifiers_provenance(other["analysis"]["classification"]["imported"]["first_run"]["file"])
    # compared by the weights the files record (the model.ckpt's are those of `file`'s)
    found = fitted.config["embedded_by"]["encoder_weights_sha256"]
    expected = read_classifiers_provenance(file).config["embedded_by"]["encoder_weights_sha256"]
    assert found != expected
    assert "analysis.classification.imported.first_run.file" in output
    assert found[:16] in output and expected[:16] in output
