"""The paper's ALFI setting in miniature (Table 4): a 2D label-free movie at 7 min with tracks given
by an expert and sparse mitosis labels, through training, embeddings, a division classifier and DTW
of mitosis, run by Snakemake as a user runs it.

The "expert" tracks are the simulator's ground truth, written as a user's CSV before the run (the
workflow's own simulation of the same config makes the same plate); nothing is segmented or tracked.
The plate's only channel used is Brightfield at one focal plane, as it is (no phase reconstruction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT

from dynaclr.config.simulate import SimulateConfig
from dynaclr.io import read_table
from integration.workflow_helpers import snakemake, write_config

#: The miniature's config (also a copy-paste example): config/alfi_like.yaml.
ALFI_CONFIG = REPO_ROOT / "config" / "alfi_like.yaml"


def alfi_config(tracks_csv: str) -> dict:
    """config/alfi_like.yaml with the expert tracks at ``tracks_csv`` and the test's small budget."""
    config = yaml.safe_load(ALFI_CONFIG.read_text())
    config["datasets"]["alfi"]["tracks"]["path"] = tracks_csv
    for entry in config["contrastive_models"].values():
        entry["training"].update(batch_size=8, epochs=2, max_batches_per_epoch=4, max_validation_batches=1)
    config["analysis"]["temporal_metrics"]["n_bootstrap"] = 20
    config["analysis"]["classification"]["n_bootstrap"] = 20
    return config


@pytest.fixture(scope="module")
def alfi_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The miniature, run once: its expert tracks written as a CSV, then the whole workflow."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    root = tmp_path_factory.mktemp("alfi")
    scratch = root / "expert"
    truth = simulate_plate(
        SimulateConfig.model_validate(
            yaml.safe_load(ALFI_CONFIG.read_text())["datasets"]["alfi"]["simulate"]
        ),
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
