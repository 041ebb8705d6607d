"""Robustness of the embeddings to tracking errors (paper appendix F): the robustness curve.

A small simulated infection plate (2 wells, mock and infected, 2 FOVs each) is tracked perfectly
(its ground truth), then corrupted at several error rates with
:func:`dynaclr.tracking.inject_tracking_errors`: a rate ``r`` is ``r`` errors per track, half
identity switches and half false merges, drawn with the run's seed. For each ``(rate, seed)`` the
whole workflow runs in its own directory with the corrupted table as the dataset's tracks (rule
``import_tracks``): patches are cut along the corrupted tracks, the time-aware and classical models
train on them (positive pairs and one-patch-per-lineage batches follow the wrong identities), embed
them, and the analysis stages score the embeddings. What is scored against ground truth:

* ``smoothness_true``: smoothness (``track_pairs`` definition, track-bootstrap 95 % CI) along the
  *true* tracks: each patch's cell is matched to the ground truth by position
  (:func:`dynaclr.embeddings.attach_ground_truth`) and takes its true track id;
* ``smoothness_tracked``: the same metric as the workflow reports it, along the corrupted tracks;
* ``f1_infection`` (95 % CI): the infection classifier, annotations drawn from and matched to the
  ground truth by position;
* ``dtw_onset_mae_frames``: DTW onset error against the true onsets, over the lineage series the
  corrupted tracks make.

Usage (one ``(rate, seed)`` run at the default budget takes 1-3 minutes on 2 loaded cores; the
first run also simulates the plate and reconstructs its phase)::

    python benchmarks/tracking_robustness.py --workdir /tmp/robustness --quick
    python benchmarks/tracking_robustness.py --workdir /tmp/robustness --rates 0 0.05 0.1 0.2 --seeds 0 1 2
    python benchmarks/tracking_robustness.py --workdir /tmp/longer --rates 0 0.2 --seeds 0 1 \\
        --epochs 16 --random-weights
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from dynaclr.config.simulate import SimulateConfig
from dynaclr.embeddings import attach_ground_truth, cell_table, read_embeddings, representation_matrix
from dynaclr.evaluation import temporal_metrics_with_replicates
from dynaclr.simulate import simulate_fov_dynamics
from dynaclr.simulate.plate import ground_truth_table
from dynaclr.tracking import inject_tracking_errors

REPO = Path(__file__).resolve().parents[1]
DATASET = "plate"
MODELS = ("time_aware", "classical")
#: The plate: 4 FOVs x 16 frames of 5 x 128 x 128, about 70 tracks; onsets late enough for DTW's reference.
SIMULATE = {
    "seed": 11,
    "wells": [
        {"row": "A", "column": "1", "condition": "mock", "infected_fraction": 0.0},
        {"row": "B", "column": "1", "condition": "infected", "infected_fraction": 1.0},
    ],
    "fovs_per_well": 2,
    "n_frames": 16,
    "shape_zyx": [5, 128, 128],
    "z_step_um": 2.5,
    "cells": {"initial_cells_per_fov": 10, "entering_cells_per_frame": 0.2},
    "division": {"cycle_length_frames": 12},
    "infection": {"onset_frames": [4, 9], "translocation_frames": 3, "death_probability": 0.0},
}
PATCHES = {
    "name": "phase_sensor",
    "channels": [
        {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
        {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
    ],
    "z_window_slices": 3,
    "patch_size_yx_px": 32,
}
TRAINING = {
    "patch_spec": "phase_sensor",
    "backbone": "convnext_atto",
    "batch_size": 8,
    "max_validation_batches": 2,
    "warmup_epochs": 0.5,
    "num_workers": 0,
}
#: Training budgets: epochs and batches per epoch.
BUDGETS = {"quick": (2, 6), "full": (4, 10)}
RESULT_COLUMNS = [
    "f1_infection",
    "f1_infection_ci_low",
    "f1_infection_ci_high",
    "dtw_onset_mae_frames",
    "dtw_n_lineages",
]


def workflow_config(
    tracks_csv: Path, seed: int, budget: tuple[int, int], n_bootstrap: int, baselines: list[str]
) -> dict:
    """The workflow's config: the plate with imported tracks, the two models (``budget``: epochs,
    batches per epoch), the ``baselines`` beside them, infection analyses."""
    epochs, batches = budget
    models = {
        name: {
            "train_datasets": [DATASET],
            "training": {
                **TRAINING,
                "sampling": name,
                **({"tau_frames": 1} if name == "time_aware" else {}),
                "epochs": epochs,
                "max_batches_per_epoch": batches,
                "seed": seed,
            },
        }
        for name in MODELS
    }
    return {
        "datasets": {
            DATASET: {
                "simulate": SIMULATE,
                "summary": {"preview_frames": 2},
                "tracks": {"format": "table", "path": str(tracks_csv)},
                "patches": [PATCHES],
                "annotations": {"tasks": ["infection"]},
            }
        },
        "contrastive_models": copy.deepcopy(models),
        "analysis": {
            "baselines": baselines,
            "temporal_metrics": {"n_bootstrap": n_bootstrap},
            "classification": {"tasks": ["infection"], "n_bootstrap": n_bootstrap},
        },
    }


def ground_truth() -> pd.DataFrame:
    """The plate's ground-truth table (its dynamics only; the workflow renders the same plate)."""
    config = SimulateConfig.model_validate(SIMULATE)
    return ground_truth_table([simulate_fov_dynamics(config, i) for i in range(len(config.fov_names()))])


def run_workflow(config: dict, workdir: Path) -> float:
    """The workflow up to the results table on ``config`` in ``workdir``; returns its wall time (s)."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    with open(workdir / "snakemake.log", "a") as log:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "results/evaluation/results_table.csv",
                "--snakefile",
                str(REPO / "Snakefile"),
                "--cores",
                "2",
            ],
            cwd=workdir,
            check=True,
            stdout=log,
            stderr=log,
        )
    return time.perf_counter() - start


def true_track_smoothness(embeddings: Path, truth: pd.DataFrame, n_bootstrap: int) -> dict[str, float]:
    """Smoothness (track pairs, 95 % CI) of ``embeddings`` along the true tracks of its cells."""
    adata = read_embeddings(embeddings)
    cells = attach_ground_truth(
        cell_table(adata), truth.assign(true_track_id=truth["track_id"]), ["true_track_id"], on="position"
    )
    matched = cells["true_track_id"].notna().to_numpy()
    index = cells.loc[matched].assign(track_id=cells.loc[matched, "true_track_id"].astype("int64"))
    matrix = representation_matrix(adata, "features")[matched]
    metrics, _ = temporal_metrics_with_replicates(matrix, index, n_bootstrap=n_bootstrap)
    return {
        "smoothness_true": metrics["smoothness"],
        "smoothness_true_ci_low": metrics["smoothness_ci_low"],
        "smoothness_true_ci_high": metrics["smoothness_ci_high"],
        "unmatched_cells": int((~matched).sum()),
    }


def one_run(
    truth: pd.DataFrame,
    rate: float,
    seed: int,
    workdir: Path,
    budget: tuple[int, int],
    n_bootstrap: int,
    baselines: list[str],
) -> pd.DataFrame:
    """Corrupt the tracks at ``rate``, run the workflow, score both models; one row per model.

    Every run shares the workflow directory ``workdir / "workflow"``: the plate and its phase do not
    change, so Snakemake makes them once; the tracks and everything after them are remade per run.
    The run's tracks, its errors and its results table are kept in ``workdir / "rate<r>_seed<s>"``.
    """
    run_dir, workflow_dir = workdir / f"rate{rate:g}_seed{seed}", workdir / "workflow"
    run_dir.mkdir(parents=True, exist_ok=True)
    corrupted, errors = inject_tracking_errors(
        truth, identity_switch_rate=rate / 2, false_merge_rate=rate / 2, seed=seed
    )
    errors.to_csv(run_dir / "errors.csv", index=False)
    tracks = corrupted[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]]
    tracks.to_csv(run_dir / "tracks.csv", index=False)
    workflow_dir.mkdir(parents=True, exist_ok=True)
    tracks.to_csv(workflow_dir / "tracks.csv", index=False)
    config = workflow_config(workflow_dir / "tracks.csv", seed, budget, n_bootstrap, baselines)
    seconds = run_workflow(config, workflow_dir)
    results = pd.read_csv(workflow_dir / "results" / "evaluation" / "results_table.csv")
    results.to_csv(run_dir / "results_table.csv", index=False)
    rows = []
    for model in [*MODELS, *baselines]:
        workflow_row = results[(results["model"] == model) & (results["dataset"] == DATASET)].iloc[0]
        embeddings = workflow_dir / "results" / "embeddings" / model / f"{DATASET}.zarr"
        rows.append(
            {
                "rate": rate,
                "seed": seed,
                "model": model,
                "switches": int((errors["kind"] == "identity_switch").sum()),
                "merges": int((errors["kind"] == "false_merge").sum()),
                **true_track_smoothness(embeddings, truth, n_bootstrap),
                "smoothness_tracked": workflow_row["smoothness_track_pairs"],
                **{column: workflow_row[column] for column in RESULT_COLUMNS},
                "run_seconds": round(seconds),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--epochs", type=int, help=f"training epochs (default {BUDGETS['full'][0]})")
    parser.add_argument(
        "--batches-per-epoch", type=int, help=f"training batches per epoch (default {BUDGETS['full'][1]})"
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="also score the untrained encoder (baseline random_weights): what training adds",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"rates 0, 0.1, 0.2, seed 0, {BUDGETS['quick']} (epochs, batches per epoch), 50 bootstraps",
    )
    args = parser.parse_args()
    rates, seeds, n_bootstrap = args.rates, args.seeds, args.n_bootstrap
    budget = BUDGETS["full"]
    if args.quick:
        rates, seeds, n_bootstrap, budget = [0.0, 0.1, 0.2], [0], 50, BUDGETS["quick"]
    budget = (args.epochs or budget[0], args.batches_per_epoch or budget[1])
    baselines = ["random_weights"] if args.random_weights else []
    truth = ground_truth()
    print(
        f"plate: {truth.groupby(['fov_name', 'track_id']).ngroups} true tracks, {len(truth)} cells; "
        f"budget {budget[0]} epochs x {budget[1]} batches",
        flush=True,
    )
    tables = []
    for rate in rates:
        for seed in seeds:
            tables.append(one_run(truth, rate, seed, args.workdir, budget, n_bootstrap, baselines))
            print(tables[-1].round(3).to_string(index=False), flush=True)
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(args.workdir / "robustness.csv", index=False)
    with pd.option_context("display.width", 250):
        print(table.round(3).to_string(index=False))
    summary = table.groupby(["model", "rate"])[["smoothness_true", "f1_infection", "dtw_onset_mae_frames"]]
    if len(seeds) > 1:
        print(summary.agg(["mean", "std"]).round(3).to_string())


if __name__ == "__main__":
    main()
