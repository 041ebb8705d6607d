"""Classifiers of the engineered-features baseline transferred to another dataset.

Rule ``embed`` stores that baseline's ``X`` z-scored over the dataset's OWN cells (raw values in
``layers['raw']``, the statistics in ``var['raw_mean']``, ``var['raw_std']``). A classifier fitted on
plate A's ``X`` must read plate B's cells on A's scale: B's ``X``, centred on B's own mean, would
call about half the cells of an all-infected plate uninfected, exit 0. End to end through the
library: simulated plates -> patches -> engineered features -> classify on A -> transfer to B.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_SIMULATE, build_patch_store

from dynaclr.classify import (
    AnnotationsOutputs,
    ClassifyInputs,
    ClassifyOutputs,
    DrawAnnotationsInputs,
    TransferClassifiersInputs,
    TransferClassifiersOutputs,
    classify_stage,
    draw_annotations_stage,
    load_classifiers,
    read_predictions,
    transfer_classifiers_stage,
)
from dynaclr.classify.model import LinearClassifier
from dynaclr.config.analysis import AnnotationConfig, ClassificationConfig
from dynaclr.config.embeddings import EngineeredFeaturesConfig
from dynaclr.config.patches import PatchSpec
from dynaclr.config.simulate import SimulateConfig
from dynaclr.embeddings import (
    EmbedInputs,
    EmbedOutputs,
    build_anndata,
    embed_stage,
    read_embeddings,
    read_embeddings_provenance,
    write_embeddings,
)
from dynaclr.io import ArtifactError, read_table

MODEL = "engineered_features"
#: The viral sensor alone: its translocation is what the engineered features see of infection.
SPEC = PatchSpec.model_validate(
    {
        "name": "tiny",
        "channels": [{"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"}],
        "z_window_slices": 3,
        "patch_size_yx_px": 32,
    }
)
FOVS = ("A/1/0", "A/1/1", "B/1/0", "B/1/1")
CONFIG = ClassificationConfig(n_bootstrap=0, n_splits=2, tasks=("infection",))


def _dataset(root: Path, name: str, infected_fractions: tuple[float, float], seed: int) -> dict[str, Path]:
    """A simulated plate of two wells (two FOVs each) of the given infected fractions, its
    engineered-features store (rule embed) and annotations drawn from its ground truth."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    folder = root / name
    folder.mkdir()
    settings = copy.deepcopy(TINY_SIMULATE)
    settings["seed"] = seed
    settings["fovs_per_well"] = 2
    settings["cells"]["initial_cells_per_fov"] = 10
    for well, fraction in zip(settings["wells"], infected_fractions, strict=True):
        well["infected_fraction"] = fraction
    simulated = SimulateOutputs(
        plate=folder / "raw.zarr",
        tracks=folder / "ground_truth" / "tracks.parquet",
        labels=folder / "ground_truth" / "labels.zarr",
        phase=folder / "ground_truth" / "phase.zarr",
    )
    simulate_plate(SimulateConfig.model_validate(settings), simulated)
    store = build_patch_store({"raw": simulated.plate}, simulated.tracks, SPEC, folder / "patches", fovs=FOVS)
    embeddings = folder / "embeddings.zarr"
    embed_stage(
        EngineeredFeaturesConfig(),
        EmbedInputs(patches_zarr=store["zarr"], patches_parquet=store["parquet"]),
        EmbedOutputs(embeddings=embeddings),
        model=MODEL,
        dataset=name,
        partial_store=folder / ".embeddings.partial",
    )
    annotations = folder / "annotations.parquet"
    draw_annotations_stage(
        AnnotationConfig(fraction_of_cells=0.1, seed=0),
        DrawAnnotationsInputs(tracks=simulated.tracks),
        AnnotationsOutputs(annotations=annotations),
    )
    return {"embeddings": embeddings, "annotations": annotations, "truth": simulated.tracks}


@pytest.fixture(scope="module")
def plates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Plate A (a mock and an infected well: half the cells infected) with its classifiers (rule
    classify), and plate B (both wells infected), another acquisition of the same biology."""
    root = tmp_path_factory.mktemp("engineered_transfer")
    source = _dataset(root, "a", (0.0, 1.0), seed=3)
    source["classifiers"] = root / "a.json"
    classify_stage(
        CONFIG,
        ClassifyInputs(embeddings=source["embeddings"], annotations=source["annotations"]),
        ClassifyOutputs(
            scores=root / "a_scores.parquet",
            predictions=root / "a_predictions.parquet",
            classifiers=source["classifiers"],
        ),
        model=MODEL,
        dataset="a",
    )
    return {"a": source, "b": _dataset(root, "b", (1.0, 1.0), seed=4)}


def _transfer(
    classifiers: Path, target: dict[str, Path] | Path, out: Path, dataset: str = "b"
) -> tuple[object, object]:
    """Rule transfer_classifiers: ``classifiers`` (fitted on 'a') predict the store of ``target``."""
    embeddings = target if isinstance(target, Path) else target["embeddings"]
    annotations = None if isinstance(target, Path) else target["annotations"]
    scores = transfer_classifiers_stage(
        CONFIG,
        TransferClassifiersInputs(embeddings=embeddings, classifiers=[classifiers], annotations=annotations),
        TransferClassifiersOutputs(scores=out / "scores.parquet", predictions=out / "predictions.parquet"),
        model=MODEL,
        dataset=dataset,
        sources=["a"],
    )
    return scores, read_predictions(out / "predictions.parquet")


def test_an_engineered_classifier_reads_the_target_on_the_sources_scale(plates, tmp_path):
    """B's cells are mostly infected: read on B's own z-score (centred on B's mean) about half of
    them were called uninfected (45 % called infected of 72 % infected; F1 0.86), exit 0. The
    classifier reads B's raw values z-scored with A's statistics: the calls follow the truth."""
    scores, predictions = _transfer(plates["a"]["classifiers"], plates["b"], tmp_path)
    truth = read_table(plates["b"]["truth"], "ground_truth_tracks")[0]
    called = predictions.merge(
        truth[["fov_name", "track_id", "t", "infected"]], on=["fov_name", "track_id", "t"]
    )
    assert len(called) == len(predictions)
    infected = called["infected"].astype(bool).to_numpy()
    said = (called["predicted_label"] == "infected").to_numpy()
    assert infected.mean() > 0.6  # the plate of other proportions the bug showed on
    assert abs(said.mean() - infected.mean()) < 0.15
    assert (said == infected).mean() > 0.85
    row = scores.iloc[0]
    assert row["train_dataset"] == "a" and row["balanced_accuracy"] > 0.9 and row["f1"] > 0.9

    # exactly what the classifier gives on B's raw values z-scored with A's recorded statistics
    source, target = read_embeddings(plates["a"]["embeddings"]), read_embeddings(plates["b"]["embeddings"])
    mean, std = source.var["raw_mean"].to_numpy(), source.var["raw_std"].to_numpy()
    raw = np.asarray(target.layers["raw"], dtype=np.float64)
    on_source_scale = np.where(std > 0, (raw - mean) / np.where(std > 0, std, 1.0), 0.0)
    classifier = load_classifiers(plates["a"]["classifiers"])["infection"]
    expected = classifier.pipeline.predict_proba(on_source_scale)[:, 1]
    np.testing.assert_allclose(predictions["probability"].to_numpy(), expected, rtol=0, atol=1e-9)


def test_a_transfer_to_the_source_itself_reads_its_own_x(plates, tmp_path):
    """A's raw values z-scored with A's statistics are A's X (to float32 rounding): applied to its own
    dataset, a transferred classifier gives the in-run classifier's probabilities."""
    _, predictions = _transfer(plates["a"]["classifiers"], plates["a"]["embeddings"], tmp_path, dataset="a2")
    own = read_predictions(plates["a"]["classifiers"].parent / "a_predictions.parquet")
    np.testing.assert_allclose(predictions["probability"], own["probability"], atol=1e-5)


def test_the_classifier_file_records_the_sources_statistics(plates):
    """Each classifier of X records the mean and std that z-scored its source's X, and they round-trip."""
    document = json.loads(plates["a"]["classifiers"].read_text())
    recorded = document["classifiers"]["infection"]["source_standardization"]
    var = read_embeddings(plates["a"]["embeddings"]).var
    assert recorded["mean"] == var["raw_mean"].tolist() and recorded["std"] == var["raw_std"].tolist()
    classifier = load_classifiers(plates["a"]["classifiers"])["infection"]
    again = LinearClassifier.from_dict(classifier.to_dict(), key="infection")
    assert again.to_dict() == classifier.to_dict()


def test_a_classifier_file_without_the_sources_statistics_is_refused(plates, tmp_path):
    """A file written before the statistics were recorded reads B's own z-score, another scale than
    it was fitted on: refused, naming the file and the rule to rerun, never applied."""
    document = json.loads(plates["a"]["classifiers"].read_text())
    for entry in document["classifiers"].values():
        entry.pop("source_standardization", None)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    load_classifiers(old)  # still a readable file (its own dataset's classifier is unchanged)
    with pytest.raises(ValueError) as info:
        _transfer(old, plates["b"], tmp_path)
    message = str(info.value)
    assert message.startswith(f"{old}: its infection classifier was fitted on a's X")
    assert "records not those statistics" in message and "snakemake --forcerun classify" in message
    assert not (tmp_path / "predictions.parquet").exists()


def test_a_target_store_without_raw_values_is_refused(plates, tmp_path):
    """A classifier recording its source's statistics reads the target's raw values: a store of the
    same model holding X alone (no layers['raw']) is refused, not read on its own scale."""
    store = read_embeddings(plates["b"]["embeddings"])
    bare = tmp_path / "bare.zarr"
    write_embeddings(
        build_anndata(np.asarray(store.X), store.obs),
        bare,
        read_embeddings_provenance(plates["b"]["embeddings"]),
    )
    with pytest.raises(ValueError, match=r"a.json: its infection classifier .*bare.zarr holds no raw values"):
        _transfer(plates["a"]["classifiers"], bare, tmp_path)
    assert not (tmp_path / "predictions.parquet").exists()


def test_raw_values_without_their_statistics_or_malformed_statistics_are_refused(plates, tmp_path):
    """A store whose layers['raw'] lacks var['raw_mean'] / var['raw_std'], and a classifier file whose
    recorded statistics do not fit its features, are refused naming the file."""
    store = read_embeddings(plates["b"]["embeddings"])
    del store.var["raw_std"]
    altered = tmp_path / "altered.zarr"
    write_embeddings(store, altered, read_embeddings_provenance(plates["b"]["embeddings"]))
    with pytest.raises(ArtifactError, match=r"altered.zarr: expected var columns 'raw_mean' and 'raw_std'"):
        _transfer(plates["a"]["classifiers"], altered, tmp_path)
    entry = json.loads(plates["a"]["classifiers"].read_text())["classifiers"]["infection"]
    entry["source_standardization"]["std"] = entry["source_standardization"]["std"][:-1]
    with pytest.raises(
        ArtifactError, match=r"x.json \[infection\]: expected 'source_standardization' to hold"
    ):
        LinearClassifier.from_dict(entry, "x.json [infection]", key="infection")
