"""The paper's ALFI setting in miniature (Table 4): a 2D label-free movie at 7 min with tracks given
by an expert and sparse mitosis labels, through training, embeddings, a division classifier and DTW
of mitosis, run by Snakemake as a user runs it.

The "expert" tracks are the simulator's ground truth, written as a user's CSV before the run (the
workflow's own simulation of the same config makes the same plate); nothing is segmented or tracked.
The plate's only channel used is Brightfield at one focal plane, as it is (no phase reconstruction).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from dynaclr.config.simulate import SimulateConfig
from dynaclr.io import read_table
from integration.workflow_helpers import TINY_TRAINING, snakemake, write_config

#: A 2D movie (Z = 1) at 7 min: 2 FOVs (the classifiers are cross-validated by FOV), cells that divide
#: every ~10 frames with a 2-frame mitosis, nobody infected.
ALFI_SIMULATE = {
    "seed": 7,
    "wells": [
        {"row": "A", "column": "1", "condition": "untreated", "infected_fraction": 0.0},
        {"row": "A", "column": "2", "condition": "untreated", "infected_fraction": 0.0},
    ],
    "fovs_per_well": 1,
    "n_frames": 20,
    "time_interval_minutes": 7,
    "shape_zyx": [1, 112, 112],
    "pixel_size_um": 0.65,
    "cells": {"initial_cells_per_fov": 9, "entering_cells_per_frame": 0.2, "speed_um_per_frame": 1.5},
    "division": {"cycle_length_frames": 10, "mitosis_frames": 2},
}


#: The label-free channel, used as it is (one focal plane, no reconstruction).
BRIGHTFIELD_AS_IS = {"source": "raw", "channel": "Brightfield", "normalization": "zscore"}


def alfi_config(tracks_csv: str) -> dict:
    training = {**TINY_TRAINING, "patch_spec": "dic", "epochs": 2, "max_batches_per_epoch": 4}
    return copy.deepcopy(
        {
            "datasets": {
                "alfi": {
                    "simulate": ALFI_SIMULATE,
                    "summary": {"preview_channels": ["Brightfield"], "preview_frames": 2},
                    "phase": None,
                    "tracks": {"format": "table", "path": tracks_csv},
                    "patches": [
                        {
                            "name": "dic",
                            "channels": [BRIGHTFIELD_AS_IS],
                            "z_window_slices": 1,
                            "patch_size_yx_px": 32,
                        }
                    ],
                    "annotations": {"tasks": ["division"]},
                }
            },
            "contrastive_models": {
                "time_aware": {
                    "train_datasets": ["alfi"],
                    "training": {**training, "sampling": "time_aware", "tau_minutes": 7},
                },
                "classical": {"train_datasets": ["alfi"], "training": {**training, "sampling": "classical"}},
            },
            "analysis": {
                "baselines": ["engineered_features"],
                "temporal_metrics": {"n_bootstrap": 20},
                "classification": {"tasks": ["division"], "n_bootstrap": 20},
                "pseudotime": {
                    "event": "division",
                    "min_query_frames": 6,
                    "reference_frames_before_onset": 3,
                    "reference_frames_after_onset": 3,
                },
            },
        }
    )


@pytest.fixture(scope="module")
def alfi_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The miniature, run once: its expert tracks written as a CSV, then the whole workflow."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    root = tmp_path_factory.mktemp("alfi")
    scratch = root / "expert"
    truth = simulate_plate(
        SimulateConfig.model_validate(ALFI_SIMULATE),
        SimulateOutputs(
            plate=scratch / "raw.zarr",
            tracks=scratch / "tracks.parquet",
            labels=scratch / "labels.zarr",
            phase=scratch / "phase.zarr",
        ),
    )
    expert = truth[["fov_name", "track_id", "t", "y", "x", "parent_track_id"]]
    expert.to_csv(root / "expert_tracks.csv", index=False)
    workdir = root / "run"
    write_config(workdir, alfi_config(str(root / "expert_tracks.csv")))
    result = snakemake(workdir, "--cores", "2")
    return {"workdir": workdir, "truth": truth, "log": result.stdout + result.stderr}


def test_nothing_is_segmented_or_tracked(alfi_run):
    results = alfi_run["workdir"] / "results"
    assert (results / "logs" / "import_tracks").is_dir()
    for rule in ("tracks_plate", "track_fov", "collect_tracks", "reconstruct_phase", "train_virtual_stain"):
        assert not (results / "logs" / rule).exists(), f"{rule} ran"


def test_the_imported_tracks_are_the_expert_tracks(alfi_run):
    tracks, _ = read_table(alfi_run["workdir"] / "results" / "alfi" / "tracks.parquet", "tracks")
    truth = alfi_run["truth"]
    key = ["fov_name", "track_id", "t"]
    merged = truth.merge(tracks, on=key, how="outer", suffixes=("_truth", ""), indicator=True)
    assert (merged["_merge"] == "both").all()
    np.testing.assert_allclose(merged["y"], merged["y_truth"], atol=1e-6)
    np.testing.assert_array_equal(merged["parent_track_id"], merged["parent_track_id_truth"])


def test_patches_are_2d_and_every_expert_cell_has_one(alfi_run):
    from dynaclr.patches.store import open_patch_store

    patches = alfi_run["workdir"] / "results" / "alfi" / "patches"
    store = open_patch_store(patches / "dic.zarr", patches / "dic.parquet")
    assert store.array.shape[1:3] == (1, 1)  # (N, C, Z, Y, X): one channel, one plane
    index = pd.read_parquet(patches / "dic.parquet")
    truth = alfi_run["truth"]
    assert len(index) == len(truth)  # cells near the border are padded, never dropped


def test_division_classifier_and_dtw_of_mitosis(alfi_run):
    results = alfi_run["workdir"] / "results" / "evaluation"
    classification = pd.read_csv(results / "classification.csv")
    division = classification[classification["task"] == "division"]
    assert set(division["model"]) == {"time_aware", "classical", "engineered_features"}
    assert division["f1"].notna().all() and (division["n_test_positive"] > 0).all()
    accuracy = pd.read_csv(results / "dtw_accuracy.csv")
    observed = accuracy[accuracy["has_observed_onset"].astype(bool)]
    assert len(observed) > 0, "no lineage crosses a division inside the movie"
    # DTW of mitosis: aligned divisions within a few frames of the true ones (a planted trajectory)
    assert observed["abs_onset_error_frames"].mean() < 4.0
    table = pd.read_csv(results / "results_table.csv")
    assert set(table["model"]) == {"time_aware", "classical", "engineered_features"}
    assert table["smoothness"].between(0, 2).all() and table["f1_division"].notna().all()
    print(table[["model", "smoothness", "dynamic_range", "f1_division", "dtw_onset_mae_frames"]].to_string())
