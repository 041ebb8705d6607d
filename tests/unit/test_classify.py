"""Sparse annotations, FOV-grouped linear classifiers, safe classifier files, infected fraction."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from dynaclr.classify import (
    CLASSIFICATION_COLUMNS,
    SCORE_COLUMNS,
    AnnotationsOutputs,
    ClassificationIntervalsInputs,
    ClassificationIntervalsOutputs,
    ClassifyInputs,
    ClassifyOutputs,
    CollectClassificationInputs,
    CollectClassificationOutputs,
    DrawAnnotationsInputs,
    LinearClassifier,
    classification_intervals_stage,
    classify_stage,
    collect_classification,
    draw_annotations,
    draw_annotations_stage,
    fit_and_evaluate,
    load_classifiers,
    read_predictions,
    truth_column,
)
from dynaclr.classify.evaluate import (
    MAX_UNDEFINED_REPLICATE_SHARE,
    binary_metrics,
    bootstrap_interval,
    bootstrap_metrics,
    bootstrap_replicates,
    one_class_reason,
)
from dynaclr.config.analysis import AnnotationConfig, ClassificationConfig
from dynaclr.embeddings import (
    attach_ground_truth,
    build_anndata,
    match_observations_to_cells,
    write_embeddings,
)
from dynaclr.figures.curves import infected_fraction_over_time
from dynaclr.io import ArtifactError, ArtifactKind, make_provenance, read_table, write_table
from dynaclr.pseudotime.synthetic import planted_infection_embeddings


@pytest.fixture(scope="module")
def planted() -> dict:
    features, truth = planted_infection_embeddings(
        n_fovs=6, tracks_per_fov=10, n_frames=20, noise=0.08, seed=2
    )
    return {"features": features, "truth": truth, "adata": build_anndata(features, truth)}


def _draw(truth: pd.DataFrame, **config) -> pd.DataFrame:
    """``draw_annotations`` with an :class:`AnnotationConfig` of ``config`` (defaults otherwise)."""
    return draw_annotations(truth, AnnotationConfig(**config))


def test_annotations_are_sparse_balanced_deterministic_and_true(planted):
    truth = planted["truth"]
    annotations = _draw(truth, fraction_of_cells=0.05, seed=1)
    assert annotations.equals(_draw(truth, fraction_of_cells=0.05, seed=1))
    assert not annotations.equals(_draw(truth, fraction_of_cells=0.05, seed=2))
    budget = round(0.05 * len(truth))
    for task, column, positive in (("infection", "infected", "infected"), ("division", "mitosis", "mitosis")):
        rows = annotations[annotations["task"] == task]
        assert len(rows) == budget
        assert not rows.duplicated(["fov_name", "track_id", "t"]).any()
        # mitoses are rare (a few % of observations) but make up half of the division annotations
        assert (rows["label"] == positive).sum() == min(round(0.5 * budget), truth[column].sum())
        joined = rows.merge(truth, on=["fov_name", "track_id", "t"])
        assert ((joined["label"] == positive) == joined[column]).all()
    assert truth["mitosis"].mean() < 0.1
    with pytest.raises(ValidationError, match=r"fraction_of_cells\n.*less than or equal to 0\.1"):
        AnnotationConfig(fraction_of_cells=0.2)
    with pytest.raises(ValueError, match="imported, not drawn"):
        draw_annotations(truth, AnnotationConfig(table="mine.csv"))


def test_annotation_budget_falls_back_when_positives_run_short(planted):
    truth = planted["truth"].assign(mitosis=False)
    truth.loc[truth.index[:3], "mitosis"] = True
    rows = _draw(truth, fraction_of_cells=0.1, seed=0, tasks=("division",))
    assert (rows["label"] == "mitosis").sum() == 3
    assert len(rows) == round(0.1 * len(truth))


def test_binary_metrics_on_a_hand_counted_example():
    truth = np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    probability = np.array([0.9, 0.6, 0.3, 0.7, 0.2, 0.1, 0.4, 0.5])
    # threshold 0.5: TP 2, FN 1, FP 2 (0.7 and 0.5), TN 3
    metrics = binary_metrics(truth, probability)
    assert metrics["f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    assert metrics["balanced_accuracy"] == pytest.approx((2 / 3 + 3 / 5) / 2)
    # positive above negative in 5 + 4 + 2 of the 3 x 5 pairs
    assert metrics["auroc"] == pytest.approx(11 / 15)
    tied = binary_metrics(np.array([1, 0], dtype=bool), np.array([0.4, 0.4]))
    assert tied["auroc"] == 0.5  # a tie counts one half


def test_the_one_class_reason_names_the_metrics_a_constant_call_would_max():
    """All positive: calling every cell positive makes no false call, F1 and balanced accuracy 1. All
    negative: F1 is 0/0 (no positive to find), only balanced accuracy would be 1; the reason said a
    constant 'uninfected' call "would score 1" as if F1 were among them."""
    positive = one_class_reason("infection", 26, 26)
    assert "are all 'infected'" in positive
    assert "for a classifier calling every cell 'infected', F1 and balanced accuracy would be 1" in positive
    negative = one_class_reason("infection", 12, 0)
    assert "are all 'uninfected'" in negative
    assert "balanced accuracy would be 1; F1 has nothing to find" in negative
    assert "F1 and balanced accuracy would be 1" not in negative
    assert one_class_reason("infection", 12, 5) == one_class_reason("infection", 0, 0) == ""


@pytest.mark.filterwarnings("error")
def test_binary_metrics_of_a_one_class_bootstrap_replicate():
    """Cells of one class have no F1, AUROC nor balanced accuracy. With no negative cell precision is
    1 whatever is called: F1 was 2R/(1+R) (6/7 here) and a classifier calling every cell infected
    scored 1.000; balanced accuracy was the accuracy on the class present (1.000 for a constant
    call of that class). Both read as measurements of a classifier on a target of one state."""
    only_positive = binary_metrics(np.ones(4, dtype=bool), np.array([0.9, 0.8, 0.2, 0.6]))
    assert all(np.isnan(value) for value in only_positive.values())
    always_infected = binary_metrics(np.ones(30, dtype=bool), np.full(30, 0.9))
    assert all(np.isnan(value) for value in always_infected.values())
    nothing_positive = binary_metrics(np.zeros(3, dtype=bool), np.array([0.1, 0.2, 0.3]))
    assert all(np.isnan(value) for value in nothing_positive.values())
    # no positive to find, one false call: F1 is undefined, not 0 (a 0 reads as every positive missed)
    false_call = binary_metrics(np.zeros(3, dtype=bool), np.array([0.1, 0.7, 0.3]))
    assert all(np.isnan(value) for value in false_call.values())
    assert all(np.isnan(value) for value in binary_metrics(np.zeros(0, bool), np.zeros(0)).values())
    # both classes, no positive called: F1 is 0 (every positive missed), a measurement
    none_called = binary_metrics(np.array([1, 1, 0, 0], dtype=bool), np.full(4, 0.1))
    assert none_called["f1"] == 0.0 and none_called["balanced_accuracy"] == 0.5


def test_a_ci_is_withheld_when_too_many_replicates_leave_the_metric_undefined():
    """Replicates without a positive have no F1: they were dropped silently, and the CI came from the
    resamples that drew the rare positive track, a biased subset. Now the used count is recorded
    and, past the limit, the CI is NaN with the reason."""
    n_tracks = 20
    clusters = np.repeat(np.arange(n_tracks), 3)
    truth = clusters == 0  # one positive track of 20: about (19/20)^20 = 36 % of resamples miss it
    probability = np.where(truth, 0.8, 0.3)
    probability[3] = 0.6  # a false call, so F1 varies between resamples
    replicates = bootstrap_replicates(truth, probability, clusters, 200, seed=0)
    undefined = int(np.isnan(replicates["f1"]).sum())
    assert undefined > MAX_UNDEFINED_REPLICATE_SHARE * 200
    out = bootstrap_metrics(truth, probability, clusters, 200, seed=0)
    assert np.isnan(out["f1_ci_low"]) and np.isnan(out["f1_ci_high"])
    assert out["f1_bootstrap_used"] == 200 - undefined
    assert f"undefined in {undefined} of 200 bootstrap replicates" in out["f1_ci_missing"]
    # balanced accuracy of a replicate without a positive was its accuracy on the negatives (the
    # recall of the class present): now undefined in the same replicates, and withheld alike
    assert out["balanced_accuracy_bootstrap_used"] == 200 - undefined
    assert np.isnan(out["balanced_accuracy_ci_low"]) and np.isnan(out["balanced_accuracy_ci_high"])
    assert f"undefined in {undefined} of 200 bootstrap replicates" in out["balanced_accuracy_ci_missing"]


def test_cells_of_one_track_get_no_interval():
    """The bootstrap resamples tracks: the annotated cells of one track are redrawn whole by every
    resample, so every replicate was the point metric and the CI a single value with no reason given,
    as if the score were certain. Now it is withheld, saying why."""
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1], dtype=bool)
    probability = np.array([0.1, 0.2, 0.6, 0.3, 0.7, 0.8, 0.4, 0.9, 0.95, 0.8])
    out = bootstrap_metrics(truth, probability, np.array(["A/1/0|3"] * 10), 200, seed=0)
    for metric in ("f1", "auroc", "balanced_accuracy"):
        assert np.isnan(out[f"{metric}_ci_low"]) and np.isnan(out[f"{metric}_ci_high"]), metric
        assert out[f"{metric}_bootstrap_used"] == 0
        assert out[f"{metric}_ci_missing"].startswith("one track"), out[f"{metric}_ci_missing"]
    # two tracks, each with cells of both classes: an interval
    two = bootstrap_metrics(truth, probability, np.tile(["A/1/0|3", "A/1/0|4"], 5), 200, seed=0)
    assert two["auroc_ci_missing"] == "" and two["auroc_ci_low"] <= two["auroc_ci_high"]


def test_bootstrap_interval_counts_the_replicates_it_rests_on():
    values = np.linspace(0.0, 1.0, 100)
    few_undefined = values.copy()
    few_undefined[:10] = np.nan  # 10 %: at the limit, kept
    kept = bootstrap_interval(few_undefined, 0.9)
    assert kept.n_used == 90 and kept.missing == ""
    assert (kept.low, kept.high) == pytest.approx(tuple(np.quantile(values[10:], [0.05, 0.95])))
    many_undefined = values.copy()
    many_undefined[:11] = np.nan
    withheld = bootstrap_interval(many_undefined, 0.9)
    assert np.isnan(withheld.low) and np.isnan(withheld.high) and withheld.n_used == 89
    assert "11 of 100" in withheld.missing
    assert "n_bootstrap 0" in bootstrap_interval(np.zeros(0), 0.9).missing
    assert bootstrap_interval(np.full(5, np.nan), 0.9).missing == "undefined in all 5 bootstrap replicates"


def test_fit_and_evaluate_learns_and_never_leaks(planted):
    annotations = _draw(planted["truth"], fraction_of_cells=0.1, seed=0)
    result = fit_and_evaluate(
        planted["adata"], annotations, "infection", ClassificationConfig(seed=0, n_bootstrap=50, n_splits=3)
    )
    metrics = result.metrics
    assert metrics["f1"] > 0.9 and metrics["auroc"] > 0.95 and metrics["balanced_accuracy"] > 0.9
    assert metrics["f1_ci_low"] <= metrics["f1"] <= metrics["f1_ci_high"]
    assert metrics["n_folds"] == 3 and metrics["n_test"] == metrics["n_matched"] == len(result.annotated)
    x = planted["features"].astype(np.float64)[result.annotated["cell_row"].to_numpy()]
    for fold in result.folds:
        assert not set(fold.train_fovs) & set(fold.test_fovs)
        train_cells = set(
            map(tuple, result.annotated.loc[fold.train_rows, ["fov_name", "track_id"]].to_numpy())
        )
        test_cells = set(
            map(tuple, result.annotated.loc[fold.test_rows, ["fov_name", "track_id"]].to_numpy())
        )
        assert not train_cells & test_cells
        scaler = fold.pipeline.named_steps["scaler"]
        np.testing.assert_allclose(scaler.mean_, x[fold.train_rows].mean(axis=0), rtol=1e-10, atol=1e-12)
        assert not np.allclose(scaler.mean_, x.mean(axis=0))  # the test rows were not used
    predictions = result.predictions
    assert len(predictions) == planted["adata"].n_obs
    assert predictions["annotated"].sum() == metrics["n_matched"]
    assert set(predictions["predicted_label"]) == {"infected", "uninfected"}
    accuracy = ((predictions["predicted_label"] == "infected") == planted["truth"]["infected"]).mean()
    assert accuracy > 0.9


def test_division_classifier_from_rare_positives(planted):
    annotations = _draw(planted["truth"], fraction_of_cells=0.1, seed=0)
    metrics = fit_and_evaluate(
        planted["adata"], annotations, "division", ClassificationConfig(n_bootstrap=0, n_splits=3)
    ).metrics
    assert metrics["positive_class"] == "mitosis" and metrics["auroc"] > 0.9
    assert np.isnan(metrics["f1_ci_low"])


def test_same_seed_same_result(planted):
    annotations = _draw(planted["truth"], seed=0)
    first = fit_and_evaluate(
        planted["adata"], annotations, "infection", ClassificationConfig(seed=4, n_bootstrap=20)
    )
    second = fit_and_evaluate(
        planted["adata"], annotations, "infection", ClassificationConfig(seed=4, n_bootstrap=20)
    )
    assert first.metrics == second.metrics
    pd.testing.assert_frame_equal(first.predictions, second.predictions)


def test_classifier_json_round_trip_predicts_identically(planted, tmp_path):
    annotations = _draw(planted["truth"], seed=0)
    result = fit_and_evaluate(planted["adata"], annotations, "infection", ClassificationConfig(n_bootstrap=0))
    path = tmp_path / "classifiers.json"
    from dynaclr.classify import save_classifiers

    save_classifiers(
        {"infection": result.classifier}, path, make_provenance(ArtifactKind.CLASSIFIERS, {"x": 1})
    )
    document = json.loads(path.read_text())
    assert document["classifiers"]["infection"]["feature_dim"] == planted["features"].shape[1]
    assert "sklearn_version" in document["classifiers"]["infection"]
    loaded = load_classifiers(path)["infection"]
    matrix = planted["features"].astype(np.float64)
    np.testing.assert_array_equal(
        loaded.positive_probability(matrix), result.classifier.positive_probability(matrix)
    )
    np.testing.assert_array_equal(loaded.pipeline.predict(matrix), result.classifier.pipeline.predict(matrix))
    assert loaded.class_names == ("uninfected", "infected")
    with pytest.raises(ValueError, match="expects"):
        loaded.positive_probability(matrix[:, :3])
    broken = dict(document["classifiers"]["infection"], feature_dim=3)
    with pytest.raises(ArtifactError, match="feature_dim=3"):
        LinearClassifier.from_dict(broken)
    path.write_text(json.dumps({**document, "format_version": 99}))
    with pytest.raises(ArtifactError, match="version"):
        load_classifiers(path)


@pytest.mark.parametrize(
    ("edit", "found"),
    [
        (
            {"class_names": ["infected", "uninfected"]},
            r"\[infection\]: expected 'class_names' \['uninfected', 'infected'\] for task 'infection' "
            r"\(\[negative, positive\].*found \['infected', 'uninfected'\]",
        ),
        (
            {"task": "division"},
            r"\[infection\]: the entry 'infection' of 'classifiers' holds a classifier of task 'division'; "
            r"expected its 'task' to be 'infection'.*found 'division'",
        ),
        (
            {"task": "division", "class_names": ["interphase", "mitosis"]},
            r"entry 'infection' .* found 'division'",
        ),
        ({"class_names": ["uninfected", "infected", "dead"]}, r"class_names holds 3 names, expected 2"),
    ],
)
def test_a_classifier_file_whose_names_disagree_is_refused_on_load(tmp_path, edit, found):
    """A hand-edited classifier file (class_names in the other order, or an entry whose task is not
    its key) was loaded and applied with exit 0: column 1 was scored as the positive class of the
    entry's key. Now refused on load, naming the file and entry, what was expected and found."""
    from dynaclr.classify import save_classifiers
    from dynaclr.classify.model import build_pipeline

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 4))
    pipeline = build_pipeline().fit(features, (features[:, 0] > 0).astype(int))
    path = tmp_path / "classifiers.json"
    classifier = LinearClassifier("infection", pipeline, ("uninfected", "infected"), "embeddings")
    save_classifiers({"infection": classifier}, path, make_provenance(ArtifactKind.CLASSIFIERS, {"x": 1}))
    assert load_classifiers(path)["infection"].class_names == ("uninfected", "infected")
    document = json.loads(path.read_text())
    document["classifiers"]["infection"].update(edit)
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=found) as refused:
        load_classifiers(path)
    assert str(refused.value).startswith(f"{path} [infection]: ")


def test_annotations_match_tracked_cells_by_position(planted):
    truth = planted["truth"]
    annotations = _draw(truth, seed=0)
    rng = np.random.default_rng(0)
    tracked = truth.assign(
        track_id=truth["track_id"] + 1000,  # the tracker numbers tracks its own way
        y=truth["y"] + rng.normal(scale=1.0, size=len(truth)),
        x=truth["x"] + rng.normal(scale=1.0, size=len(truth)),
    )
    rows = match_observations_to_cells(annotations, tracked, on="position", max_distance_px=6.0)
    matched = rows >= 0
    assert matched.mean() > 0.95
    found = tracked.iloc[rows[matched]]
    assert (
        found["track_id"].to_numpy() - 1000 == annotations.loc[matched, "track_id"].to_numpy()
    ).mean() > 0.95
    assert (match_observations_to_cells(annotations, tracked, on="track") < 0).all()
    assert (match_observations_to_cells(annotations, truth, on="track") >= 0).all()


def test_unmatched_annotations_warn_and_unmatched_ground_truth_is_only_info(planted, caplog):
    """Annotations that match no cell are lost labels (a warning naming them and the share);
    ground-truth cells the tracker missed are expected (INFO, so the console stays quiet)."""
    truth = planted["truth"]
    annotations = _draw(truth, seed=0)
    kept = truth[truth["fov_name"] != annotations["fov_name"].iloc[0]]  # one FOV's cells were not tracked
    with caplog.at_level(logging.INFO, logger="dynaclr.embeddings.cells"):
        match_observations_to_cells(annotations, kept, on="track", kind="infection annotations")
        attach_ground_truth(kept, truth, ["infected"], on="track")
    levels = {record.getMessage().split(" (")[0]: record.levelno for record in caplog.records}
    lost = int((annotations["fov_name"] == annotations["fov_name"].iloc[0]).sum())
    assert levels[f"{lost} of {len(annotations)} infection annotations"] == logging.WARNING
    missed = len(truth) - len(kept)
    assert levels[f"{missed} of {len(truth)} ground-truth cells"] == logging.INFO


def test_single_fov_and_single_class_are_refused(planted):
    truth = planted["truth"]
    one_fov = truth[truth["fov_name"] == truth["fov_name"].iloc[0]]
    adata = build_anndata(planted["features"][one_fov.index], one_fov)
    annotations = _draw(one_fov, seed=0)
    with pytest.raises(ValueError, match="one FOV"):
        fit_and_evaluate(adata, annotations, "infection", ClassificationConfig())
    only_negative = annotations[annotations["label"] != "infected"]
    with pytest.raises(ValueError, match="single class"):
        fit_and_evaluate(planted["adata"], only_negative, "infection", ClassificationConfig())


@pytest.mark.parametrize("match_on", ["track", "position"])
def test_a_cell_annotated_twice_counts_once_and_two_labels_are_refused(planted, match_on):
    """fit_and_evaluate failed on a cell and task annotated twice when matching by track (both rows
    matched the cell: "the predictions are not those the scores were computed with"), and by
    position kept one of two disagreeing labels, counting the other as unmatched. As rule
    import_annotations reads a table (unique_cells): one label twice counts once, two are refused,
    naming the source, the cell, its rows and both labels."""
    annotations = _draw(planted["truth"], fraction_of_cells=0.1, seed=0)
    annotations = annotations[annotations["task"] == "infection"].reset_index(drop=True)
    config = ClassificationConfig(n_bootstrap=5, n_splits=3, match_annotations_on=match_on)
    expected = fit_and_evaluate(planted["adata"], annotations, "infection", config).metrics
    twice = pd.concat([annotations, annotations.iloc[[3]]], ignore_index=True)
    metrics = fit_and_evaluate(planted["adata"], twice, "infection", config).metrics
    assert metrics == pytest.approx(expected, nan_ok=True)
    assert metrics["n_annotated"] == metrics["n_matched"] == len(annotations)
    cell = annotations.iloc[3]
    other = "infected" if cell["label"] == "uninfected" else "uninfected"
    disagreeing = pd.concat([annotations, annotations.iloc[[3]].assign(label=other)], ignore_index=True)
    message = (
        rf"^mine\.csv: 2 rows annotate a cell and task more than once with different labels .* e\.g\. "
        rf"FOV {cell['fov_name']} track {cell['track_id']} frame {cell['t']} task 'infection' at rows 4, "
        rf"{len(disagreeing)} \(labels \['infected', 'uninfected'\] disagree\)"
    )
    with pytest.raises(ValueError, match=message):
        fit_and_evaluate(planted["adata"], disagreeing, "infection", config, source="mine.csv")


def test_rows_of_one_key_at_other_positions_are_other_cells_by_position_and_one_by_track(planted):
    """Rows sharing fov_name, track_id, t, task at other y, x were read as repeats whatever the
    matching: by position they are other cells (both kept and matched); by track they are one cell
    twice, read once where the labels agree and refused where they do not."""
    annotations = _draw(planted["truth"], fraction_of_cells=0.1, seed=0)
    annotations = annotations[annotations["task"] == "infection"].reset_index(drop=True)
    truth = planted["truth"]
    cell = annotations.iloc[3]
    same_frame = truth[(truth["fov_name"] == cell["fov_name"]) & (truth["t"] == cell["t"])]
    other = same_frame[same_frame["track_id"] != cell["track_id"]].iloc[0]
    other_label = "infected" if other["infected"] else "uninfected"
    elsewhere = annotations.iloc[[3]].assign(y=other["y"], x=other["x"], label=other_label)
    moved = pd.concat([annotations, elsewhere], ignore_index=True)
    by_position = ClassificationConfig(n_bootstrap=5, n_splits=3, match_annotations_on="position")
    metrics = fit_and_evaluate(planted["adata"], moved, "infection", by_position).metrics
    assert metrics["n_annotated"] == metrics["n_matched"] == len(moved)
    by_track = ClassificationConfig(n_bootstrap=5, n_splits=3, match_annotations_on="track")
    agreeing = moved.assign(label=[*annotations["label"], cell["label"]])
    metrics = fit_and_evaluate(planted["adata"], agreeing, "infection", by_track).metrics
    assert metrics["n_annotated"] == metrics["n_matched"] == len(annotations)
    flipped = "infected" if cell["label"] == "uninfected" else "uninfected"
    disagreeing = moved.assign(label=[*annotations["label"], flipped])
    with pytest.raises(ValueError, match=r"with different labels \(key fov_name, track_id, t, task;"):
        fit_and_evaluate(planted["adata"], disagreeing, "infection", by_track)


def test_two_annotations_at_other_positions_matching_one_cell_with_other_labels_are_refused_by_position(
    planted, caplog
):
    """The same cell clicked twice 1 px apart (one track id, frame and task) with two labels: by
    position unique_cells keeps both rows (other positions, other cells), both pick the same tracked
    cell, and the closer one's label was kept silently (the other counted as matching no cell). It is
    refused, naming both annotations and the cell; with one label, it is read once and the count
    line says so."""
    annotations = _draw(planted["truth"], fraction_of_cells=0.1, seed=0)
    annotations = annotations[annotations["task"] == "infection"].reset_index(drop=True)
    config = ClassificationConfig(n_bootstrap=5, n_splits=3, match_annotations_on="position")
    expected = fit_and_evaluate(planted["adata"], annotations, "infection", config).metrics
    cell = annotations.iloc[3]
    other = "infected" if cell["label"] == "uninfected" else "uninfected"
    clicked = annotations.iloc[[3]].assign(y=cell["y"] + 1.0)
    disagreeing = pd.concat([annotations, clicked.assign(label=other)], ignore_index=True)
    message = (
        rf"^mine\.csv: infection annotations: 1 tracked cell\(s\) matched by observations of task "
        rf"'infection' with other labels .*\(FOV {cell['fov_name']} track {cell['track_id']} frame "
        rf"{cell['t']} at y {cell['y']:g}, x {cell['x']:g}\) and '{other}' \(FOV {cell['fov_name']} track "
        rf"{cell['track_id']} frame {cell['t']} at y {cell['y'] + 1.0:g}, x {cell['x']:g}\) both match the "
        rf"tracked cell FOV {cell['fov_name']} track"
    )
    with pytest.raises(ValueError, match=message):
        fit_and_evaluate(planted["adata"], disagreeing, "infection", config, source="mine.csv")
    agreeing = pd.concat([annotations, clicked], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="dynaclr.embeddings.cells"):
        metrics = fit_and_evaluate(planted["adata"], agreeing, "infection", config, source="mine.csv").metrics
    assert metrics == pytest.approx({**expected, "n_annotated": len(agreeing)}, nan_ok=True)
    assert metrics["n_matched"] == len(annotations)
    assert "1 of them give a cell the label another of its task gives it (read once)" in caplog.text


def test_an_applied_classifier_scoring_no_cell_does_not_log_single_class_folds(planted, caplog):
    """A classifier fitted elsewhere has no folds: where it scored none of the annotated cells (NaN
    probabilities of NaN embeddings), the WARNING said every cross-validation fold's training FOVs
    held one class, as if it had been cross-validated; it now gives the CIs' reason."""
    from dynaclr.classify.evaluate import apply_and_evaluate

    annotations = _draw(planted["truth"], fraction_of_cells=0.1, seed=0)
    config = ClassificationConfig(n_bootstrap=5, n_splits=3)
    classifier = fit_and_evaluate(planted["adata"], annotations, "infection", config).classifier
    adata = planted["adata"].copy()
    adata.X = np.full(adata.X.shape, np.nan, dtype=np.float32)
    with caplog.at_level("WARNING", logger="dynaclr.classify.evaluate"):
        scores, _ = apply_and_evaluate(adata, classifier, annotations, config)
    assert scores is not None and scores["n_test"] == 0 and scores["n_folds"] == 0
    (warned,) = [r.getMessage() for r in caplog.records if "metrics are NaN" in r.getMessage()]
    assert warned == "infection: metrics are NaN: no annotated cell scored"
    assert scores["f1_ci_missing"] == "no annotated cell scored"


def test_folds_whose_training_fovs_hold_one_class_say_so_in_the_tables_and_findings(planted):
    """Two FOVs, one condition each (the tiny plate: A/1/0 mock, B/1/0 infected): every fold trains on
    the other FOV, one class, so every fold is skipped and no annotated cell is scored. The tables
    and the findings said "no cell scored" / "no annotated cell could be scored", although the cells
    were annotated and matched; they now say why and what to do."""
    from dynaclr.figures.findings import classifier_findings
    from dynaclr.figures.table import results_table

    truth = planted["truth"]
    fovs = sorted(truth["fov_name"].unique())[:2]
    annotations = _draw(truth[truth["fov_name"].isin(fovs)], seed=0)
    annotations = annotations[annotations["task"] == "infection"]
    infected = annotations["label"] == "infected"
    one_class_each = annotations[
        ((annotations["fov_name"] == fovs[0]) & ~infected) | ((annotations["fov_name"] == fovs[1]) & infected)
    ]
    assert one_class_each["fov_name"].nunique() == 2 and one_class_each["label"].nunique() == 2
    result = fit_and_evaluate(
        planted["adata"], one_class_each, "infection", ClassificationConfig(n_bootstrap=10)
    )
    metrics = result.metrics
    assert metrics["n_matched"] == len(one_class_each) and metrics["n_test"] == 0 and np.isnan(metrics["f1"])
    reason = (
        "every cross-validation fold's training FOVs hold only uninfected or only infected cells (2 "
        "annotated FOVs, folds grouped by FOV), so no infection fold was fitted and no annotated cell "
        "scored; annotate both classes in more FOVs, or image more FOVs per condition"
    )
    assert {metrics[f"{m}_ci_missing"] for m in ("f1", "auroc", "balanced_accuracy")} == {reason}
    classification = pd.DataFrame([{"model": "m", "dataset": "plate", "train_dataset": "plate", **metrics}])
    table = results_table(classification=classification, tasks=("infection",))
    assert table.loc[0, "f1_infection_not_computed"] == reason
    (finding,) = [f for f in classifier_findings(table) if f.topic == "infection classifier"]
    assert f"not computed: m: {reason}." in finding.statement
    assert "could be scored" not in finding.statement
    assert finding.statement.count("no annotated cell scored") == 1


def test_a_classifier_of_another_dataset_that_scores_no_cell_is_not_said_to_have_single_class_folds(
    planted,
):
    """A transferred or imported classifier has no folds (n_folds 0): where it scored no annotated
    cell, the CIs' reason said every cross-validation fold's training FOVs held one class, folds it
    never had. Only a dataset's own classifier that fitted no fold says so; the others say no
    annotated cell was scored."""
    from dynaclr.classify.evaluate import score_intervals

    scores = {
        "task": "infection",
        "positive_class": "infected",
        **{name: float("nan") for name in ("f1", "auroc", "balanced_accuracy")},
        "n_test": 0,
        "n_test_positive": 0,
        "n_folds": 0,
        "n_fovs": 2,
    }
    predictions = pd.DataFrame(
        {
            "fov_name": ["A/1/0"],
            "track_id": [1],
            "task": ["infection"],
            "annotated": [True],
            "annotation_label": ["infected"],
            "out_of_fold_probability": [np.nan],
        }
    )
    config = ClassificationConfig(n_bootstrap=10)

    def reasons(cross_validated: bool) -> set[str]:
        out = score_intervals(scores, predictions, config, "p", cross_validated=cross_validated)
        return {out[f"{m}_ci_missing"] for m in ("f1", "auroc", "balanced_accuracy")}

    assert reasons(cross_validated=False) == {"no annotated cell scored"}
    (own,) = reasons(cross_validated=True)
    assert own.startswith("every cross-validation fold's training FOVs hold only uninfected or only infected")


def test_classify_stage_writes_metrics_predictions_and_classifiers(planted, tmp_path):
    truth = planted["truth"]
    tracks_path = tmp_path / "tracks.parquet"
    write_table(truth, tracks_path, make_provenance(ArtifactKind.GROUND_TRUTH_TRACKS, {}))
    annotations_path = tmp_path / "annotations.parquet"
    draw_annotations_stage(
        AnnotationConfig(fraction_of_cells=0.1, seed=0),
        DrawAnnotationsInputs(tracks=tracks_path),
        AnnotationsOutputs(annotations=annotations_path),
    )
    embeddings = tmp_path / "embeddings" / "planted" / "toy.zarr"
    write_embeddings(
        planted["adata"],
        embeddings,
        make_provenance(ArtifactKind.EMBEDDINGS, {"model": "planted", "dataset": "toy"}),
    )
    config = ClassificationConfig(n_bootstrap=10, n_splits=3)
    out = tmp_path / "evaluation"
    scores = classify_stage(
        config,
        ClassifyInputs(embeddings=embeddings, annotations=annotations_path),
        ClassifyOutputs(
            scores=out / "classification_scores" / "planted" / "toy.parquet",
            predictions=out / "predictions" / "planted" / "toy.parquet",
            classifiers=out / "classifiers" / "planted" / "toy.json",
        ),
        model="planted",
        dataset="toy",
    )
    assert list(scores["task"]) == ["infection", "division"]
    stored, prov = read_table(
        out / "classification_scores" / "planted" / "toy.parquet", "classification_scores"
    )
    assert list(stored.columns) == list(SCORE_COLUMNS)
    assert {record.kind for record in prov.inputs} == {"embeddings", "annotations"}
    assert "n_bootstrap" not in prov.config and "confidence" not in prov.config
    metrics = classification_intervals_stage(
        config,
        ClassificationIntervalsInputs(
            scores=out / "classification_scores" / "planted" / "toy.parquet",
            predictions=out / "predictions" / "planted" / "toy.parquet",
        ),
        ClassificationIntervalsOutputs(metrics=out / "classification" / "planted" / "toy.parquet"),
    )
    stored, prov = read_table(out / "classification" / "planted" / "toy.parquet", "classification")
    assert list(stored.columns) == list(CLASSIFICATION_COLUMNS)
    pd.testing.assert_frame_equal(stored, metrics)
    pd.testing.assert_frame_equal(stored[list(SCORE_COLUMNS)], scores)
    assert {record.kind for record in prov.inputs} == {"classification_scores", "predictions"}
    assert (prov.config["n_bootstrap"], prov.config["confidence"]) == (10, 0.95)
    predictions = read_predictions(out / "predictions" / "planted" / "toy.parquet")
    assert len(predictions) == 2 * len(truth)
    assert set(load_classifiers(out / "classifiers" / "planted" / "toy.json")) == {"infection", "division"}
    combined = collect_classification(
        CollectClassificationInputs(metrics=[out / "classification" / "planted" / "toy.parquet"]),
        CollectClassificationOutputs(table=out / "classification.csv"),
    )
    assert list(pd.read_csv(out / "classification.csv").columns) == list(CLASSIFICATION_COLUMNS)
    assert len(combined) == 2

    curves = infected_fraction_over_time(predictions, truth)
    assert set(curves["condition"]) == {"mock", "infected"}
    assert len(curves) == 2 * truth["t"].nunique()
    mock = curves[curves["condition"] == "mock"]
    assert (mock["true_fraction"] == 0).all() and mock["predicted_fraction"].max() < 0.15
    infected = curves[curves["condition"] == "infected"]
    assert infected["true_fraction"].iloc[-1] > infected["true_fraction"].iloc[0]
    assert (infected["predicted_fraction"] - infected["true_fraction"]).abs().mean() < 0.1
    assert (curves["n_cells_predicted"] == curves["n_cells_true"]).all()


def test_infected_fraction_fills_missing_conditions_from_the_wells():
    """Tracked cells know their well but not its condition (condition is null in the patches)."""
    truth = pd.DataFrame(
        {"well": ["A/1", "B/1"], "condition": ["mock", "infected"], "t": [0, 0], "infected": [False, True]}
    )
    predictions = pd.DataFrame(
        {
            "task": ["infection"] * 2,
            "t": [0, 0],
            "well": ["A/1", "B/1"],
            "condition": [None, None],
            "predicted_label": ["uninfected", "infected"],
        }
    )
    curves = infected_fraction_over_time(predictions, truth).set_index("condition")
    assert curves.loc["infected", "predicted_fraction"] == 1.0
    assert curves.loc["mock", "predicted_fraction"] == 0.0


def test_infected_fraction_of_a_plate_without_ground_truth_is_drawn_per_condition():
    """A real plate: conditions from the config (or the well when it has none), time in minutes."""
    from dynaclr.figures.plots import plot_infected_fraction

    predictions = pd.DataFrame(
        {
            "task": ["infection"] * 6,
            "t": [0, 0, 1, 1, 1, 1],
            "time_minutes": [0.0, 0.0, 15.0, 15.0, 15.0, 15.0],
            "well": ["A/1", "B/1", "A/1", "B/1", "B/1", "C/1"],
            "condition": ["mock", "", "mock", "", "", "infected"],
            "predicted_label": ["uninfected", "infected", "uninfected", "infected", "uninfected", "infected"],
        }
    )
    curves = infected_fraction_over_time(predictions, None)
    assert set(curves["condition"]) == {"mock", "well B/1", "infected"}
    b1 = curves[curves["condition"] == "well B/1"].set_index("t")
    assert b1.loc[1, "predicted_fraction"] == 0.5 and b1.loc[1, "n_cells_predicted"] == 2
    assert b1.loc[1, "time_minutes"] == 15.0
    assert curves["true_fraction"].isna().all() and (curves["n_cells_true"] == 0).all()
    figure, caption = plot_infected_fraction(curves, label="m, plate")
    assert "no ground truth" in caption and "well B/1 0.50 of 2 cells" in caption
    assert len(figure.axes[0].lines) == 3  # one predicted curve per condition, no truth curves


def test_adjusted_classify_and_count_is_closer_to_the_truth_than_classify_and_count():
    """Counting cells a balanced-weight classifier calls infected leans the fraction toward one half
    (a mock well of no infected cell read 0.12 infected); the adjusted classify and count (ACC), with
    the TPR and FPR of the cross-validation's held-out labels, comes closer to the truth. On this
    plate (noise 0.45) the mean absolute error over both conditions and 20 frames fell from 0.092
    to 0.051, the mock well's from 0.122 to 0.019 (the infected well's rose from 0.062 to 0.083:
    the folds' classifiers, fitted on fewer labels, err more than the final one)."""
    features, truth = planted_infection_embeddings(
        n_fovs=6, tracks_per_fov=10, n_frames=20, noise=0.45, seed=4
    )
    predictions = fit_and_evaluate(
        build_anndata(features, truth),
        draw_annotations(truth, AnnotationConfig(seed=0)),
        "infection",
        ClassificationConfig(n_bootstrap=0),
    ).predictions
    curves = infected_fraction_over_time(predictions, truth)
    scored = predictions[predictions["annotated"] & predictions["out_of_fold_probability"].notna()]
    called = scored["out_of_fold_probability"] >= 0.5
    positive = scored["annotation_label"] == "infected"
    tpr, fpr = called[positive].mean(), called[~positive].mean()
    assert (curves["true_positive_rate"] == tpr).all() and (curves["false_positive_rate"] == fpr).all()
    assert (curves["adjustment_note"] == "").all() and tpr - fpr >= 0.2
    expected = ((curves["predicted_fraction"] - fpr) / (tpr - fpr)).clip(0, 1)
    np.testing.assert_allclose(curves["adjusted_fraction"], expected)
    raw = (curves["predicted_fraction"] - curves["true_fraction"]).abs()
    adjusted = (curves["adjusted_fraction"] - curves["true_fraction"]).abs()
    assert adjusted.mean() < raw.mean() - 0.03, (raw.mean(), adjusted.mean())
    mock = curves["condition"] == "mock"
    assert raw[mock].mean() > 0.05 and adjusted[mock].mean() < raw[mock].mean() / 2


def test_the_mitotic_fraction_reads_the_division_truth_and_adjusts_the_over_call():
    """The division classifier's counted mitotic fraction over-calls like the infected one: on a plate
    12 % mitotic (each cell's last 4 of 20 frames, 60 % of cells dividing) balanced class weights and
    labels half mitotic (the sampler draws positives from the same ``mitosis`` column the truth
    counts) call 0.30 of cells mitotic, the false positives of the 89 % interphase majority (FPR 0.27
    out of fold). The curves of task ``division`` count the truth's ``mitosis`` column (they read
    ``infected`` before, and counted no cell called ``mitosis``); ACC per frame, averaged over the
    plate, reads 0.166 against 0.113 true (0.303 counted). Clipping each frame's estimate at 0 keeps
    it above the truth: most frames have no mitotic cell."""
    features, truth = planted_infection_embeddings(
        n_fovs=6, tracks_per_fov=10, n_frames=20, noise=0.45, seed=4, mitosis_share=0.6, mitosis_frames=4
    )
    predictions = fit_and_evaluate(
        build_anndata(features, truth),
        draw_annotations(truth, AnnotationConfig(seed=0, tasks=["division"])),
        "division",
        ClassificationConfig(n_bootstrap=0),
    ).predictions
    curves = infected_fraction_over_time(predictions, truth, task="division")
    by_frame = truth.groupby(["condition", "t"])["mitosis"].mean()
    np.testing.assert_allclose(curves.set_index(["condition", "t"])["true_fraction"], by_frame)
    assert (curves["adjustment_note"] == "").all()
    weights = curves["n_cells_predicted"] / curves["n_cells_predicted"].sum()
    counted, adjusted = (
        (weights * curves["predicted_fraction"]).sum(),
        (weights * curves["adjusted_fraction"]).sum(),
    )
    true = truth["mitosis"].mean()
    assert 0.1 < true < 0.13 and counted > 2 * true, (true, counted)
    assert abs(adjusted - true) < abs(counted - true) / 2, (true, counted, adjusted)


def test_the_fraction_of_a_task_needs_that_tasks_truth_column():
    """A truth table without the task's column is refused, not read from another task's column."""
    predictions = pd.DataFrame(
        {"task": ["division"], "t": [0], "condition": ["mock"], "predicted_label": ["mitosis"]}
    )
    truth = pd.DataFrame({"condition": ["mock"], "well": ["A/1"], "t": [0], "infected": [False]})
    with pytest.raises(ValueError, match="ground truth lacks column 'mitosis'"):
        infected_fraction_over_time(predictions, truth, task="division")
    assert (
        infected_fraction_over_time(predictions, None, task="division")["predicted_fraction"].iloc[0] == 1.0
    )
    with pytest.raises(ValueError, match="unknown task 'death'"):
        infected_fraction_over_time(predictions, None, task="death")


def test_a_tasks_truth_column_and_the_curves_task_come_from_the_annotations_accessors():
    """The ground-truth column of a task is read one way (``truth_column``: the drawn annotations and
    the fraction curves read ``TASK_LABELS`` by position before), and the curves say which task they
    count (``attrs['task']``), which the fraction plot labels them by."""
    assert (truth_column("infection"), truth_column("division")) == ("infected", "mitosis")
    with pytest.raises(ValueError, match="unknown task 'death'"):
        truth_column("death")
    predictions = pd.DataFrame(
        {
            "task": ["division", "infection"],
            "t": [0, 0],
            "condition": ["mock"] * 2,
            "predicted_label": ["mitosis"] * 2,
        }
    )
    truth = pd.DataFrame(
        {"condition": ["mock"], "well": ["A/1"], "t": [0], "infected": [True], "mitosis": [False]}
    )
    for task in ("division", "infection"):
        assert infected_fraction_over_time(predictions, truth, task=task).attrs["task"] == task
    with pytest.raises(ValueError, match=r"lacks columns .*'mitosis'"):
        draw_annotations(truth.drop(columns="mitosis"), AnnotationConfig(tasks=["division"]))


def _labelled_predictions(
    oof_positive: list[float], oof_negative: list[float], counted: float, copies: int = 2
) -> pd.DataFrame:
    """Predictions of 40 cells at ``t`` 0, a share ``counted`` called infected, and labelled cells
    whose out-of-fold probabilities are ``oof_positive`` (labelled infected), ``oof_negative``, each
    ``copies`` times (twice: 5 probabilities give a class the 10 labels the rates need)."""
    n_cells = 40
    n_called = round(n_cells * counted)
    positive, negative = oof_positive * copies, oof_negative * copies
    labelled = len(positive) + len(negative)
    return pd.DataFrame(
        {
            "task": "infection",
            "t": 0,
            "condition": "infected",
            "predicted_label": ["infected"] * n_called + ["uninfected"] * (n_cells - n_called),
            "annotated": [True] * labelled + [False] * (n_cells - labelled),
            "annotation_label": ["infected"] * len(positive)
            + ["uninfected"] * len(negative)
            + [""] * (n_cells - labelled),
            "out_of_fold_probability": [*positive, *negative] + [np.nan] * (n_cells - labelled),
        }
    )


def test_adjusted_fraction_corrects_the_counted_one_by_the_error_rates():
    """TPR 4/5, FPR 1/5: a counted fraction 0.5 is (0.5 - 0.2) / 0.6 = 0.5 of cells, 0.1 is none."""
    predictions = _labelled_predictions([0.9, 0.8, 0.7, 0.6, 0.2], [0.1, 0.2, 0.3, 0.4, 0.7], 0.5)
    curves = infected_fraction_over_time(predictions, None)
    row = curves.iloc[0]
    assert (row["true_positive_rate"], row["false_positive_rate"]) == (0.8, 0.2)
    assert row["predicted_fraction"] == 0.5 and row["adjusted_fraction"] == pytest.approx(0.5)
    assert row["adjustment_note"] == ""
    low = infected_fraction_over_time(
        _labelled_predictions([0.9, 0.8, 0.7, 0.6, 0.2], [0.1, 0.2, 0.3, 0.4, 0.7], 0.1), None
    )
    assert low["predicted_fraction"].iloc[0] == 0.1 and low["adjusted_fraction"].iloc[0] == 0.0  # clipped


def test_adjusted_fraction_falls_back_to_the_counted_one_where_the_classifier_barely_separates(caplog):
    """TPR 3/5, FPR 2/5: TPR - FPR = 0.2, below a ``min_separation`` of 0.25, would divide the
    counted fraction's noise by a small number: the counted fraction stands, with a WARNING and a
    note in the table, and the figure draws no adjusted curve."""
    from dynaclr.figures.plots import plot_infected_fraction

    unstable = _labelled_predictions([0.9, 0.8, 0.7, 0.2, 0.1], [0.9, 0.8, 0.3, 0.2, 0.1], 0.5)
    with caplog.at_level(logging.WARNING, logger="dynaclr.figures.curves"):
        curves = infected_fraction_over_time(unstable, None, min_separation=0.25)
    assert curves["adjusted_fraction"].iloc[0] == curves["predicted_fraction"].iloc[0] == 0.5
    assert curves["adjustment_note"].iloc[0].startswith("unstable: TPR - FPR = 0.600 - 0.400 = 0.200 < 0.25")
    assert any("adjusted classify and count not applied" in r.getMessage() for r in caplog.records)
    figure, caption = plot_infected_fraction(curves, label="m, plate")
    assert len(figure.axes[0].lines) == 1
    assert "Adjusted classify and count (ACC) not drawn: unstable" in caption
    # no labelled cell scored out of fold (a transferred classifier on a dataset without labels)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dynaclr.figures.curves"):
        unlabelled = infected_fraction_over_time(_labelled_predictions([], [], 0.3), None)
    assert unlabelled["adjusted_fraction"].iloc[0] == 0.3
    # no invented class name ("0 labelled other"): it says no label was there to measure on
    note = unlabelled["adjustment_note"].iloc[0]
    assert note == "no error rates: no labelled cell of this task in these predictions to measure them on"
    assert any(note in r.getMessage() for r in caplog.records)


def test_adjusted_fraction_needs_ten_labelled_cells_of_each_class(caplog):
    """One labelled infected cell (called infected) and 10 uninfected (2 called) would give TPR 1,
    FPR 0.2 and adjust a counted 0.25 to 0.0625 on one cell's say: the counted fraction stands, with
    a WARNING and the reason in the table and caption; 9 of a class are too few as well."""
    from dynaclr.figures.plots import plot_infected_fraction

    one_infected = _labelled_predictions([0.9], [0.1] * 8 + [0.6, 0.7], 0.25, copies=1)
    with caplog.at_level(logging.WARNING, logger="dynaclr.figures.curves"):
        curves = infected_fraction_over_time(one_infected, None)
    assert curves["adjusted_fraction"].iloc[0] == curves["predicted_fraction"].iloc[0] == 0.25
    assert curves["adjustment_note"].iloc[0].startswith("no error rates: 1 labelled infected < 10")
    assert "uninfected" not in curves["adjustment_note"].iloc[0]
    assert any("adjusted classify and count not applied" in r.getMessage() for r in caplog.records)
    _, caption = plot_infected_fraction(curves, label="m, plate")
    assert "not drawn: no error rates: 1 labelled infected < 10" in caption
    nine = _labelled_predictions([0.9] * 10, [0.1] * 9, 0.25, copies=1)
    note = infected_fraction_over_time(nine, None)["adjustment_note"].iloc[0]
    assert note.startswith("no error rates: 9 labelled uninfected < 10")
    ten = _labelled_predictions([0.9] * 9 + [0.2], [0.1] * 9 + [0.6], 0.25, copies=1)
    adjusted = infected_fraction_over_time(ten, None).iloc[0]
    assert adjusted["adjustment_note"] == ""
    assert adjusted["adjusted_fraction"] == pytest.approx((0.25 - 0.1) / (0.9 - 0.1))
    _, caption = plot_infected_fraction(infected_fraction_over_time(ten, None), label="m, plate")
    # the limits of the adjustment are stated where it is drawn
    assert "the adjustment can over-correct" in caption
    assert "random sample of their class" in caption and "in-sample rates" in caption


def test_infection_annotations_skip_cells_whose_sensor_has_not_yet_moved(planted):
    truth = planted["truth"].copy()
    since = np.where(truth["infected"], truth["t"] - truth["infection_onset_t"], -1)
    # resting 0.15, full 0.85, a 4-frame ramp: progress 0, .25, .5, .75, 1 at 0..4 frames after onset
    truth["sensor_nuclear_fraction"] = 0.15 + 0.7 * np.clip(np.where(since >= 0, since / 4, 0), 0, 1)
    early = truth["infected"] & (since < 2)
    assert early.sum() > 0
    rows = _draw(truth, fraction_of_cells=0.1, seed=0, tasks=("infection",))
    joined = rows.merge(truth.assign(early=early), on=["fov_name", "track_id", "t"])
    assert len(rows) == round(0.1 * len(truth))
    assert not joined["early"].any()  # progress < 0.5: looks uninfected, left unannotated
    assert ((joined["label"] == "infected") == joined["infected"]).all()
    assert (joined.loc[joined["label"] == "infected", "sensor_nuclear_fraction"] >= 0.5).all()
    # threshold 0 labels from the true onset: early infected cells are drawn again
    everyone = _draw(
        truth, fraction_of_cells=0.1, seed=0, tasks=("infection",), infection_visible_translocation=0
    )
    assert everyone.merge(truth.assign(early=early), on=["fov_name", "track_id", "t"])["early"].any()
    with pytest.raises(ValidationError, match="infection_visible_translocation"):
        AnnotationConfig(infection_visible_translocation=1.5)


def _embeddings_store(
    path,
    features,
    truth,
    model="planted",
    dataset="toy",
    checkpoint=None,
    channel_names=None,
    weights=None,
    model_input=None,
):
    """An embeddings store made by ``model`` (encoded with a checkpoint of training config
    ``checkpoint`` when given: its provenance lists the checkpoint as the embed rule does; features
    of the patch channels ``channel_names`` when given, as the engineered-features rule records;
    ``weights``: the encoder weights' digest the embed rule records; ``model_input``: the input it
    records, as PatchStore.model_input gives it)."""
    inputs = []
    if checkpoint is not None:
        inputs = [(path.parent / "model.ckpt", make_provenance(ArtifactKind.CONTRASTIVE_MODEL, checkpoint))]
    config = {"model": model, "dataset": dataset}
    if channel_names is not None:
        config["channel_names"] = channel_names
    if weights is not None:
        config["encoder_weights_sha256"] = weights
    if model_input is not None:
        config["input"] = model_input
        config["patch_spec"] = "ps"  # embed records the spec of its input
    write_embeddings(
        build_anndata(features, truth), path, make_provenance(ArtifactKind.EMBEDDINGS, config, inputs)
    )
    return path


def _classifiers_fitted_on(source, truth, config, tmp_path):
    """Rule classify on the store ``source`` (model 'planted', dataset 'toy') with annotations drawn
    from ``truth``; its scores, predictions and metrics (rule classification_intervals) as ms.parquet,
    p.parquet, m.parquet. Returns the classifier file."""
    annotations = tmp_path / "annotations.parquet"
    write_table(
        _draw(truth, fraction_of_cells=0.1, seed=0),
        annotations,
        make_provenance(ArtifactKind.ANNOTATIONS, {}),
    )
    classifiers = tmp_path / "classifiers.json"
    classify_stage(
        config,
        ClassifyInputs(embeddings=source, annotations=annotations),
        ClassifyOutputs(
            scores=tmp_path / "ms.parquet", predictions=tmp_path / "p.parquet", classifiers=classifiers
        ),
        model="planted",
        dataset="toy",
    )
    _intervals(config, tmp_path / "ms.parquet", tmp_path / "p.parquet", tmp_path / "m.parquet")
    return classifiers


def _intervals(config, scores, predictions, metrics):
    """Rule classification_intervals: the CIs of ``scores`` from ``predictions``, as ``metrics``."""
    return classification_intervals_stage(
        config,
        ClassificationIntervalsInputs(scores=scores, predictions=predictions),
        ClassificationIntervalsOutputs(metrics=metrics),
    )


def test_the_intervals_are_computed_from_the_predictions_and_refit_nothing(tmp_path):
    """Rule classification_intervals reads classify's scores and predictions: other CI settings give
    other CIs of the same point metrics, and classify's outputs are neither read for a fit nor
    written."""
    features, truth = planted_infection_embeddings(
        n_fovs=6, tracks_per_fov=10, n_frames=20, noise=1.0, seed=2
    )
    source = _embeddings_store(tmp_path / "source.zarr", features, truth)
    _classifiers_fitted_on(source, truth, ClassificationConfig(n_splits=3), tmp_path)
    names = ("ms.parquet", "p.parquet", "classifiers.json")
    written = {name: (tmp_path / name).read_bytes() for name in names}
    scores = read_table(tmp_path / "ms.parquet", "classification_scores")[0]

    def intervals(name, **config):
        path = tmp_path / name
        return _intervals(
            ClassificationConfig(**config), tmp_path / "ms.parquet", tmp_path / "p.parquet", path
        )

    wide = intervals("w.parquet", n_bootstrap=40, confidence=0.95)
    narrow = intervals("n.parquet", n_bootstrap=40, confidence=0.5)
    none = intervals("z.parquet", n_bootstrap=0)
    for metrics in (wide, narrow, none):
        pd.testing.assert_frame_equal(metrics[list(SCORE_COLUMNS)], scores)
    for metric in ("f1", "auroc", "balanced_accuracy"):
        low, high = f"{metric}_ci_low", f"{metric}_ci_high"
        assert (wide[low] <= narrow[low]).all() and (narrow[high] <= wide[high]).all()
        assert ((wide[high] - wide[low]) > (narrow[high] - narrow[low])).all()
    assert list(wide["confidence"]) == [0.95, 0.95] and list(narrow["n_bootstrap"]) == [40, 40]
    assert none["f1_ci_low"].isna().all() and (none["f1_ci_missing"] != "").all()
    recorded = read_table(tmp_path / "n.parquet", "classification")[1].config
    assert (recorded["n_bootstrap"], recorded["confidence"], recorded["n_splits"]) == (40, 0.5, 3)
    assert written == {name: (tmp_path / name).read_bytes() for name in names}


def test_the_intervals_refuse_predictions_that_are_not_those_of_the_scores(planted, tmp_path):
    """The CIs must be those of the cells the scores were computed on: scores and predictions of
    different jobs, a predictions table that lost a scored cell, or another bootstrap seed than the
    fit's are refused, naming the file."""
    features, truth = planted["features"], planted["truth"]
    source = _embeddings_store(tmp_path / "source.zarr", features, truth)
    _classifiers_fitted_on(source, truth, ClassificationConfig(n_splits=3), tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _classifiers_fitted_on(source, truth, ClassificationConfig(n_splits=3, seed=1), other)
    config = ClassificationConfig(n_bootstrap=5)
    with pytest.raises(
        ValueError, match=r"ms.parquet: expected the scores of the job that wrote .*other/p.parquet"
    ):
        _intervals(config, tmp_path / "ms.parquet", other / "p.parquet", tmp_path / "x.parquet")
    with pytest.raises(
        ValueError, match=r"ms.parquet: expected scores of analysis.classification.seed 0 .* found seed 1"
    ):
        _intervals(config, other / "ms.parquet", other / "p.parquet", tmp_path / "x.parquet")
    predictions, provenance = read_table(tmp_path / "p.parquet", "predictions")
    scored = predictions.index[predictions["annotated"] & (predictions["task"] == "infection")]
    write_table(predictions.drop(index=scored[:1]), tmp_path / "lost.parquet", provenance)
    with pytest.raises(ValueError, match=r"lost.parquet .* expected \d+ scored infection cells .* found"):
        _intervals(config, tmp_path / "ms.parquet", tmp_path / "lost.parquet", tmp_path / "x.parquet")
    flipped = predictions.copy()
    flipped.loc[scored, "out_of_fold_probability"] = 1.0 - flipped.loc[scored, "out_of_fold_probability"]
    write_table(flipped, tmp_path / "flipped.parquet", provenance)
    with pytest.raises(
        ValueError, match=r"flipped.parquet .* giving f1 1.0 \(scores\) vs 0.0 \(predictions\)"
    ):
        _intervals(config, tmp_path / "ms.parquet", tmp_path / "flipped.parquet", tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_the_intervals_refuse_predictions_of_the_same_config_on_other_embeddings(planted, tmp_path):
    """Two classify jobs of one config on different embeddings (another model) record the same config
    hash: their inputs tell them apart, so scores of one and predictions of the other are refused."""
    features, truth = planted["features"], planted["truth"]
    config = ClassificationConfig(n_splits=3)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        store = _embeddings_store(tmp_path / name / "embeddings.zarr", features, truth)
        _classifiers_fitted_on(store, truth, config, tmp_path / name)
    with pytest.raises(ValueError) as info:
        _intervals(
            config, tmp_path / "a" / "ms.parquet", tmp_path / "b" / "p.parquet", tmp_path / "x.parquet"
        )
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'a' / 'ms.parquet'}: expected the scores of the job that wrote")
    assert f"inputs {tmp_path / 'b' / 'embeddings.zarr'}" in message
    assert "found those of rule 'classify', config hash" in message
    assert not (tmp_path / "x.parquet").exists()
    _intervals(config, tmp_path / "b" / "ms.parquet", tmp_path / "b" / "p.parquet", tmp_path / "x.parquet")


def _transfer(
    config, target, classifiers, tmp_path, name, annotations=None, *, imported=False, checkpoint=None
):
    """Rule transfer_classifiers: ``classifiers`` (fitted on 'toy') predict ``target`` ('other' of
    model 'planted'); metrics and predictions as ``{name}.parquet`` and ``{name}p.parquet``. With
    ``imported``: ``classifiers`` is a file of an earlier run (analysis.classification.imported)
    read by model 'reused' (``checkpoint``: its model.ckpt), labelled as the rule's planning does."""
    from dynaclr.classify import (
        TransferClassifiersInputs,
        TransferClassifiersOutputs,
        transfer_classifiers_stage,
    )
    from dynaclr.classify.model import imported_source_label

    source = imported_source_label(classifiers) if imported else "toy"
    scores, predictions = tmp_path / f"{name}s.parquet", tmp_path / f"{name}p.parquet"
    transfer_classifiers_stage(
        config,
        TransferClassifiersInputs(
            embeddings=target, classifiers=[classifiers], annotations=annotations, checkpoint=checkpoint
        ),
        TransferClassifiersOutputs(scores=scores, predictions=predictions),
        model="reused" if imported else "planted",
        dataset="other",
        sources=[source],
        **({"imported": [source]} if imported else {}),
    )
    return _intervals(config, scores, predictions, tmp_path / f"{name}.parquet")


def test_classifiers_of_another_model_of_the_same_width_are_refused(planted, tmp_path):
    """A classifier reads only the embeddings of the model (and checkpoint) it was fitted on: the
    width alone would let another model's features through, silently."""
    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    source = _embeddings_store(tmp_path / "source.zarr", features, truth, checkpoint={"seed": 0})
    classifiers = _classifiers_fitted_on(source, truth, config, tmp_path)

    def transfer(target):
        return _transfer(config, target, classifiers, tmp_path, "t")

    same = _embeddings_store(tmp_path / "same.zarr", features, truth, dataset="other", checkpoint={"seed": 0})
    transfer(same)  # the same model and checkpoint: applied
    other_model = _embeddings_store(
        tmp_path / "other_model.zarr",
        features,
        truth,
        model="another",
        dataset="other",
        checkpoint={"seed": 0},
    )
    with pytest.raises(
        ValueError, match=r"expected classifiers fitted on 'another'.s embeddings .* found .*'planted'"
    ):
        transfer(other_model)
    retrained = _embeddings_store(
        tmp_path / "retrained.zarr", features, truth, dataset="other", checkpoint={"seed": 1}
    )
    with pytest.raises(
        ValueError, match=r"encoded with a checkpoint of training-config hash .* trained again"
    ):
        transfer(retrained)


def test_feature_classifiers_are_refused_on_features_of_other_channels(planted, tmp_path):
    """Engineered features have no checkpoint: the channels they were computed from decide what the
    columns mean. A classifier fitted on a plate's sensor features must not read another plate's
    nuclear-marker features of the same width (it would, silently, and be scored as a transfer)."""
    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    sensor = ["phase:Phase3D", "raw:ViralSensor"]
    source = _embeddings_store(tmp_path / "source.zarr", features, truth, channel_names=sensor)
    classifiers = _classifiers_fitted_on(source, truth, config, tmp_path)
    same = _embeddings_store(tmp_path / "same.zarr", features, truth, dataset="other", channel_names=sensor)
    _transfer(config, same, classifiers, tmp_path, "t")  # the same channels: applied
    nuclear = _embeddings_store(
        tmp_path / "nuclear.zarr",
        features,
        truth,
        dataset="other",
        channel_names=["phase:Phase3D", "raw:H2B-mCherry"],
    )
    with pytest.raises(ValueError, match=r"channels \['phase:Phase3D', 'raw:ViralSensor'\].*H2B-mCherry"):
        _transfer(config, nuclear, classifiers, tmp_path, "t")


def _fitted_on_toy_and_other_target(planted, config, tmp_path):
    """Classifiers fitted on the planted store 'toy' (:func:`_classifiers_fitted_on`) and a target
    'other': the same planted axes (the seed's first draw), other cells, frames and noise, another
    acquisition. Returns the classifier file, the target's features, truth and store."""
    source = _embeddings_store(tmp_path / "source.zarr", planted["features"], planted["truth"])
    classifiers = _classifiers_fitted_on(source, planted["truth"], config, tmp_path)
    target_features, target_truth = planted_infection_embeddings(
        n_fovs=4, tracks_per_fov=8, n_frames=16, noise=0.1, seed=2
    )
    target = _embeddings_store(tmp_path / "target.zarr", target_features, target_truth, dataset="other")
    return classifiers, target_features, target_truth, target


def test_classifiers_transfer_to_another_dataset_and_are_scored_on_its_labels(planted, tmp_path):
    """Fitted on one dataset's annotations, applied unchanged to another acquisition of the same biology."""
    config = ClassificationConfig(n_bootstrap=20, n_splits=3)
    classifiers, target_features, target_truth, target = _fitted_on_toy_and_other_target(
        planted, config, tmp_path
    )
    target_annotations = tmp_path / "target_annotations.parquet"
    write_table(
        _draw(target_truth, fraction_of_cells=0.1, seed=1, tasks=("infection",)),
        target_annotations,
        make_provenance(ArtifactKind.ANNOTATIONS, {}),
    )
    metrics = _transfer(config, target, classifiers, tmp_path, "t", annotations=target_annotations)
    # the target has infection labels only: one scored row, predictions for both tasks
    assert list(metrics["task"]) == ["infection"]
    row = metrics.iloc[0]
    assert (row["dataset"], row["train_dataset"], row["n_folds"]) == ("other", "toy", 0)
    assert row["f1"] > 0.8 and row["f1_ci_low"] <= row["f1"] <= row["f1_ci_high"]
    predictions = read_predictions(tmp_path / "tp.parquet")
    assert len(predictions) == 2 * len(target_truth) and set(predictions["train_dataset"]) == {"toy"}
    stages = {
        n: read_table(tmp_path / f"{n}.parquet", k)[1].stage
        for n, k in (("t", "classification"), ("ts", "classification_scores"), ("tp", "predictions"))
    }
    assert stages == {
        "t": "classification_intervals",
        "ts": "transfer_classifiers",
        "tp": "transfer_classifiers",
    }
    scored = predictions[predictions["annotated"]]
    assert len(scored) == row["n_test"] and scored["out_of_fold_probability"].notna().all()

    # without labels: predictions only, an empty metrics table that collects
    unlabelled = _transfer(config, target, classifiers, tmp_path, "u")
    assert unlabelled.empty and len(read_predictions(tmp_path / "up.parquet")) == 2 * len(target_truth)
    combined = collect_classification(
        CollectClassificationInputs(
            metrics=[tmp_path / "m.parquet", tmp_path / "t.parquet", tmp_path / "u.parquet"]
        ),
        CollectClassificationOutputs(table=tmp_path / "classification.csv"),
    )
    assert sorted(zip(combined["dataset"], combined["train_dataset"], combined["task"], strict=True)) == [
        ("other", "toy", "infection"),
        ("toy", "toy", "division"),
        ("toy", "toy", "infection"),
    ]

    # another model's classifier (another width) is refused
    narrow = _embeddings_store(
        tmp_path / "narrow.zarr", target_features[:, :3], target_truth, dataset="other"
    )
    with pytest.raises(ValueError, match="fitted on another model's embeddings"):
        _transfer(config, narrow, classifiers, tmp_path, "n")


@pytest.mark.parametrize("label", ["infected", "uninfected"])
def test_a_classifier_transferred_to_cells_of_one_class_is_not_scored_and_the_tables_say_why(
    planted, tmp_path, label
):
    """A target whose annotated cells are all of one state (every frame infected, or none): the
    transferred classifier was scored F1 1.000 on 26 infected cells (precision is 1 by construction
    without a negative cell: a classifier calling every cell infected scores 1.000) and, on
    uninfected ones, balanced accuracy as the accuracy on that class, as measurements; only the first
    page's counts hinted at it. The metrics are now withheld with the reason, in classification.csv
    (``{metric}_ci_missing``), the results table and the first page."""
    from dynaclr.figures.findings import classifier_findings
    from dynaclr.figures.table import formatted_results_table, results_table

    config = ClassificationConfig(n_bootstrap=20, n_splits=3)
    classifiers, _, target_truth, target = _fitted_on_toy_and_other_target(planted, config, tmp_path)
    drawn = _draw(target_truth, fraction_of_cells=0.1, seed=1, tasks=("infection",))
    one_state = drawn[drawn["label"] == label]
    target_annotations = tmp_path / "target_annotations.parquet"
    write_table(one_state, target_annotations, make_provenance(ArtifactKind.ANNOTATIONS, {}))
    row = _transfer(config, target, classifiers, tmp_path, "t", annotations=target_annotations).iloc[0]
    n = len(one_state)
    assert (row["n_test"], row["n_test_positive"]) == (n, n if label == "infected" else 0)
    reason = f"the {n} scored annotated cells are all {label!r}: F1, AUROC and balanced accuracy need"
    for metric in ("f1", "auroc", "balanced_accuracy"):
        assert np.isnan(row[metric]), (metric, row[metric])
        assert np.isnan(row[f"{metric}_ci_low"]) and np.isnan(row[f"{metric}_ci_high"])
        assert row[f"{metric}_ci_missing"].startswith(reason)

    combined = collect_classification(
        CollectClassificationInputs(metrics=[tmp_path / "m.parquet", tmp_path / "t.parquet"]),
        CollectClassificationOutputs(table=tmp_path / "classification.csv"),
    )
    table = results_table(classification=combined.assign(model="planted"))
    other = table[table["dataset"] == "other"]
    shown = formatted_results_table(other).iloc[0]
    (cell,) = [value for value in shown if isinstance(value, str) and reason in value]
    assert cell.startswith("not computed: ") and cell.endswith(f"(n={n}, {row['n_test_positive']}+) from toy")
    (finding,) = [f for f in classifier_findings(other) if f.topic == "infection classifier, transferred"]
    assert "not computed" in finding.statement and "best" not in finding.statement
    said = "are all infected (F1 needs a negative one too" if label == "infected" else "hold no infected one"
    assert f"the {n} scored annotated observations {said}" in finding.statement


def _imported_model_ckpt(path, source_config):
    """A model.ckpt as rule import_model writes it from another run's model.ckpt (trained with
    ``source_config``): its provenance records that file and its training-config hash."""
    import torch

    source = make_provenance(ArtifactKind.CONTRASTIVE_MODEL, source_config)
    provenance = make_provenance(
        ArtifactKind.CONTRASTIVE_MODEL, {"seed": 9}, [("earlier/model.ckpt", source)], stage="import_model"
    )
    torch.save({"dynaclr": json.loads(provenance.model_dump_json())}, path)
    return path


def test_classifiers_of_an_earlier_run_predict_a_new_dataset_as_in_run_transfer(planted, tmp_path):
    """A classifiers file fitted in an earlier run (another model name there) predicts this run's
    embeddings of the same checkpoint exactly as the in-run transfer does, named by its file; a
    model imported from that run's model.ckpt under another training config is matched through the
    file it was imported from."""
    import shutil

    config = ClassificationConfig(n_bootstrap=0, n_splits=3)
    features, truth = planted["features"], planted["truth"]
    source = _embeddings_store(tmp_path / "source.zarr", features, truth, checkpoint={"seed": 0})
    fitted = _classifiers_fitted_on(source, truth, config, tmp_path)
    earlier = tmp_path / "earlier_run.json"
    shutil.copy(fitted, earlier)
    target_features, target_truth = planted_infection_embeddings(
        n_fovs=4, tracks_per_fov=8, n_frames=16, noise=0.1, seed=2
    )

    def target(name, model, seed):
        """The new dataset's store, embedded by ``model`` with the checkpoint of config seed ``seed``."""
        return _embeddings_store(
            tmp_path / f"{name}.zarr",
            target_features,
            target_truth,
            model,
            "other",
            checkpoint={"seed": seed},
        )

    in_run = target("in_run", "planted", 0)
    _transfer(config, in_run, fitted, tmp_path, "t")
    expected = read_predictions(tmp_path / "tp.parquet")

    reused = target("reused", "reused", 0)
    assert _transfer(
        config, reused, earlier, tmp_path, "i", imported=True
    ).empty  # no labels: predictions only
    predictions = read_predictions(tmp_path / "ip.parquet")
    assert set(predictions["train_dataset"]) == {f"toy ({earlier})"}
    key = ["fov_name", "track_id", "t", "task"]
    merged = expected.merge(predictions, on=key, suffixes=("", "_imported"))
    assert len(merged) == len(expected) == 2 * len(target_truth)
    np.testing.assert_array_equal(merged["probability"], merged["probability_imported"])
    assert (merged["predicted_label"] == merged["predicted_label_imported"]).all()

    # the model imported under another training config (own hash): matched through its source
    reimported = target("reimported", "reused", 9)
    with pytest.raises(
        ValueError, match=r"expected classifiers fitted .* hash [0-9a-f]{16} .*found .*'planted'"
    ):
        _transfer(config, reimported, earlier, tmp_path, "r", imported=True)
    checkpoint = _imported_model_ckpt(tmp_path / "model.ckpt", {"seed": 0})
    _transfer(config, reimported, earlier, tmp_path, "r", imported=True, checkpoint=checkpoint)
    again = read_predictions(tmp_path / "rp.parquet")
    np.testing.assert_array_equal(
        expected.sort_values(key)["probability"].to_numpy(), again.sort_values(key)["probability"].to_numpy()
    )


def test_classifiers_of_an_earlier_run_of_another_encoder_are_refused_naming_both_hashes(planted, tmp_path):
    """Fitted on another checkpoint's embeddings (or on a baseline's, which records none), the file
    is refused by the job, whose message names the store's and the file's checkpoint hashes."""
    from dynaclr.io import config_hash

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    source = _embeddings_store(tmp_path / "source.zarr", features, truth, checkpoint={"seed": 0})
    earlier = _classifiers_fitted_on(source, truth, config, tmp_path)
    other = _embeddings_store(
        tmp_path / "other.zarr", features, truth, model="reused", dataset="other", checkpoint={"seed": 1}
    )
    with pytest.raises(ValueError) as refused:
        _transfer(config, other, earlier, tmp_path, "o", imported=True)
    assert config_hash({"seed": 1}) in str(refused.value) and config_hash({"seed": 0}) in str(refused.value)
    baseline_dir = tmp_path / "baseline"
    baseline_dir.mkdir()
    baseline = _classifiers_fitted_on(
        _embeddings_store(baseline_dir / "b.zarr", features, truth), truth, config, baseline_dir
    )
    with pytest.raises(ValueError, match="checkpoint hash None"):
        _transfer(config, other, baseline, tmp_path, "b", imported=True)


def _config_importing(file, model="time_aware", checkpoint=None, **entry):
    """The tiny workflow config with classifiers of an earlier run, ``file``, read by ``model``
    (imported from the model.ckpt ``checkpoint`` when given, not trained)."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config import WorkflowConfig

    raw = tiny_workflow_config()
    if checkpoint is not None:
        entry_config = raw["contrastive_models"][model]
        entry_config["embed_datasets"] = entry_config.pop("train_datasets")
        entry_config["checkpoint"] = str(checkpoint)
    raw["analysis"]["classification"]["imported"] = {"earlier": {"file": str(file), "model": model, **entry}}
    return WorkflowConfig.model_validate(raw)


def test_the_dry_run_compares_the_input_an_imported_file_records_with_the_spec(planted, tmp_path):
    """The spec's input is known at planning: a file of an earlier run recording the input it was
    fitted on is compared with the input the model reads on each dataset it predicts (one line
    naming the spec key), as the job compares the store's; a malformed record is a line naming the
    file; the same input, or none recorded, passes."""
    from dynaclr.classify.model import imported_classifier_problems
    from dynaclr.io import config_hash

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    workflow = _config_importing("x")
    model = workflow.contrastive_models["time_aware"]
    features, truth = planted["features"], planted["truth"]
    store = _embeddings_store(tmp_path / "s.zarr", features, truth, model="time_aware", checkpoint={})
    file = _classifiers_fitted_on(store, truth, config, tmp_path)
    document = json.loads(file.read_text())
    document["dynaclr"]["config"]["embedded_by"]["encoder_config_hash"] = config_hash(
        model.training.job_params()
    )
    dataset = workflow.embedded_datasets("time_aware")[0]
    spec = workflow.datasets[dataset].patch_spec(model.training.patch_spec)
    same = {"channels": spec.channel_labels(), "normalize_per_time_point": spec.normalize_per_time_point}
    other = {**same, "normalize_per_time_point": not spec.normalize_per_time_point}
    key = f"datasets.{dataset}.patches[{spec.name}].normalize_per_time_point"
    for recorded, found in ((None, None), (same, None), (other, key), ("phase", "expected an input record")):
        if recorded is not None:
            document["dynaclr"]["config"]["embedded_by"]["input"] = recorded
        file.write_text(json.dumps(document))
        problems = imported_classifier_problems(_config_importing(file))
        if found is None:
            assert problems == []
        else:
            (problem,) = problems
            assert problem.startswith("analysis.classification.imported.earlier.file: ")
            assert found in problem and str(file) in problem


def test_the_dry_run_refuses_a_file_that_is_no_classifiers_artifact_or_of_another_checkpoint(
    planted, tmp_path
):
    """The dry run reads each imported file: a pickle, another artifact's JSON, a missing file, and
    classifiers fitted on another checkpoint than the model's (both hashes named) are each one line
    naming the key; the file of the model's own checkpoint passes."""
    import pickle

    from dynaclr.classify.model import imported_classifier_problems
    from dynaclr.io import config_hash

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    model_hash = config_hash(_config_importing("x").contrastive_models["time_aware"].training.job_params())
    features, truth = planted["features"], planted["truth"]
    source = _embeddings_store(tmp_path / "source.zarr", features, truth, checkpoint={"seed": 0})
    stale = _classifiers_fitted_on(source, truth, config, tmp_path)
    good_dir = tmp_path / "good"
    good_dir.mkdir()
    # a store encoded with the model's checkpoint: the store's provenance records its hash
    store = _embeddings_store(good_dir / "s.zarr", features, truth, model="time_aware", checkpoint={})
    good = _classifiers_fitted_on(store, truth, config, good_dir)
    document = json.loads(good.read_text())
    document["dynaclr"]["config"]["embedded_by"]["encoder_config_hash"] = model_hash
    good.write_text(json.dumps(document))
    assert imported_classifier_problems(_config_importing(good)) == []

    pickled = tmp_path / "classifiers.pkl"
    pickled.write_bytes(pickle.dumps(load_classifiers(good)))
    other_kind = tmp_path / "other.json"
    other_kind.write_text(json.dumps({"format": "something-else", "format_version": 1}))
    for file, expected in (
        (pickled, "cannot be read as a 'classifiers' artifact"),
        (other_kind, "expected format 'dynaclr-linear-classifiers' version 1, found 'something-else'"),
        (tmp_path / "missing.json", "classifier file not found"),
    ):
        (problem,) = imported_classifier_problems(_config_importing(file))
        assert problem.startswith("analysis.classification.imported.earlier.file: ") and expected in problem
    (problem,) = imported_classifier_problems(_config_importing(stale))
    assert model_hash in problem and config_hash({"seed": 0}) in problem


def test_the_dry_run_compares_the_hash_an_imported_model_ckpt_records(planted, tmp_path):
    """For a model imported from a model.ckpt, the dry run reads the hash that file records (the one
    the classifiers of the run that wrote it record, which the job accepts): classifiers of that
    checkpoint pass, those of another checkpoint are refused naming the hashes; a model.ckpt not made
    yet (this run's) is left to the job."""
    from dynaclr.classify.model import imported_classifier_problems
    from dynaclr.io import config_hash

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    checkpoint = _imported_model_ckpt(tmp_path / "model.ckpt", {"seed": 0})  # records {"seed": 9}
    files = {}
    for seed in (9, 1):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        store = _embeddings_store(folder / "s.zarr", features, truth, checkpoint={"seed": seed})
        files[seed] = _classifiers_fitted_on(store, truth, config, folder)
    assert imported_classifier_problems(_config_importing(files[9], checkpoint=checkpoint)) == []
    (problem,) = imported_classifier_problems(_config_importing(files[1], checkpoint=checkpoint))
    assert problem.startswith("analysis.classification.imported.earlier.file: ")
    assert config_hash({"seed": 9}) in problem and config_hash({"seed": 1}) in problem
    not_yet = _config_importing(files[1], checkpoint="results/models/other/model.ckpt")
    assert imported_classifier_problems(not_yet) == []


def test_the_dry_run_reads_an_imported_model_ckpts_hash_once_per_file_version(planted, tmp_path, monkeypatch):
    """The hash a model.ckpt records is read (the whole file loaded) once per file version and
    process, however often the dry run asks; the file replaced in place is read again, and its new
    hash is the one compared."""
    import os

    import torch

    import dynaclr.training.checkpoint as checkpoint_module
    from dynaclr.classify.model import imported_classifier_problems

    def write_model_ckpt(seed: int, mtime_ns: int):
        provenance = make_provenance(ArtifactKind.CONTRASTIVE_MODEL, {"seed": seed})
        path = tmp_path / "model.ckpt"
        torch.save({"dynaclr": json.loads(provenance.model_dump_json())}, path)
        os.utime(path, ns=(mtime_ns, mtime_ns))
        return path

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    store = _embeddings_store(tmp_path / "s.zarr", features, truth, checkpoint={"seed": 9})
    file = _classifiers_fitted_on(store, truth, config, tmp_path)
    loads = []
    load = checkpoint_module.load_checkpoint
    monkeypatch.setattr(checkpoint_module, "load_checkpoint", lambda path: loads.append(path) or load(path))
    importing = _config_importing(file, checkpoint=write_model_ckpt(9, 10**18))
    assert imported_classifier_problems(importing) == imported_classifier_problems(importing) == []
    assert len(loads) == 1
    write_model_ckpt(7, 2 * 10**18)  # another run's model.ckpt copied over it: read again, refused
    (problem,) = imported_classifier_problems(importing)
    assert len(loads) == 2 and problem.startswith("analysis.classification.imported.earlier.file: ")


def test_imported_classifiers_name_a_model_and_datasets_it_embeds():
    """The entry's model must be a contrastive model, and apply_to datasets it embeds (config check)."""
    with pytest.raises(
        ValidationError, match=r"imported.earlier.model: expected a model of contrastive_models"
    ):
        _config_importing("x.json", model="nope")
    with pytest.raises(
        ValidationError, match=r"imported.earlier.apply_to: expected datasets .* \['elsewhere'\]"
    ):
        _config_importing("x.json", apply_to=["elsewhere"])
    config = _config_importing("x.json")
    assert config.imported_classifier_targets("time_aware", "tiny") == ["earlier"]
    assert config.imported_classifier_targets("classical", "tiny") == []


def _digest(seed):
    """The digest of a small encoder's weights drawn with ``seed`` (what rule embed records)."""
    import torch

    from dynaclr.io.weights import state_dict_sha256

    generator = torch.Generator().manual_seed(seed)
    return state_dict_sha256(
        {"layer.weight": torch.randn(4, 3, generator=generator), "layer.bias": torch.zeros(4)}
    )


def _fitted_with_weights(planted, tmp_path, config, weights):
    """Classifiers of an earlier run fitted on embeddings of a checkpoint of training config
    {'seed': 0} whose weights have the digest ``weights``."""
    source_dir = tmp_path / "earlier"
    source_dir.mkdir()
    features, truth = planted["features"], planted["truth"]
    source = _embeddings_store(
        source_dir / "s.zarr", features, truth, checkpoint={"seed": 0}, weights=weights
    )
    return _classifiers_fitted_on(source, truth, config, source_dir)


def test_classifiers_of_an_earlier_run_are_compared_by_the_weights_not_the_training_config(planted, tmp_path):
    """A run training the same ``training`` section on other data (same training-config hash, other
    weights) is refused naming both digests, the file and the model; the same weights under another
    training config (an import of an import, whose model.ckpt names only its direct source) are
    accepted and predict as before; a file written before the digest was recorded falls back to the
    hash, warned."""
    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    earlier = _fitted_with_weights(planted, tmp_path, config, _digest(0))
    from dynaclr.classify.model import read_classifiers_provenance

    assert read_classifiers_provenance(earlier).config["embedded_by"]["encoder_weights_sha256"] == _digest(0)
    features, truth = planted["features"], planted["truth"]

    def target(name, seed, weights):
        return _embeddings_store(
            tmp_path / f"{name}.zarr",
            features,
            truth,
            "reused",
            "other",
            checkpoint={"seed": seed},
            weights=weights,
        )

    retrained = target("retrained", 0, _digest(1))  # same training config, other data: other weights
    with pytest.raises(ValueError) as refused:
        _transfer(config, retrained, earlier, tmp_path, "r", imported=True)
    message = str(refused.value)
    assert _digest(0) in message and _digest(1) in message
    assert str(earlier) in message and "'reused'" in message

    # an import of an import: the store's hash (seed 2) and its model.ckpt's source (seed 1) are not
    # the file's (seed 0), but the weights are
    chained = target("chained", 2, _digest(0))
    checkpoint = _imported_model_ckpt(tmp_path / "model.ckpt", {"seed": 1})
    _transfer(config, chained, earlier, tmp_path, "c", imported=True, checkpoint=checkpoint)
    assert set(read_predictions(tmp_path / "cp.parquet")["train_dataset"]) == {f"toy ({earlier})"}


#: The input classifiers of an earlier run were fitted on (as PatchStore.model_input gives it).
FITTED_INPUT = {
    "channels": ["phase:Phase3D (zscore)", "raw:Nuclei (median_p99)"],
    "normalize_per_time_point": False,
}


def _fitted_on_input(planted, tmp_path, config, model_input, model="planted"):
    """Classifiers fitted (in tmp_path/earlier) on ``model``'s embeddings of weights ``_digest(0)``
    that record ``model_input``. Returns the classifier file."""
    earlier_dir = tmp_path / "earlier"
    earlier_dir.mkdir(parents=True)
    source = _embeddings_store(
        earlier_dir / "s.zarr",
        planted["features"],
        planted["truth"],
        model,
        checkpoint={"seed": 0},
        weights=_digest(0),
        model_input=model_input,
    )
    return _classifiers_fitted_on(source, planted["truth"], config, earlier_dir)


def _target_of_input(planted, path, model_input, model="reused", weights=None):
    """A store of dataset 'other' embedded by ``model`` with weights ``weights`` (default
    ``_digest(0)``), recording ``model_input``."""
    return _embeddings_store(
        path,
        planted["features"],
        planted["truth"],
        model,
        "other",
        checkpoint={"seed": 0},
        weights=weights or _digest(0),
        model_input=model_input,
    )


def test_classifiers_of_the_same_weights_fed_another_input_are_refused(planted, tmp_path):
    """The same weights (one VisCy or timm file imported in two runs) embedding patches whose channels
    are in another order, or otherwise normalised, give features that mean something else: the
    weights' digest matched and the classifiers of the earlier run predicted them, silently. The
    input the embeddings record is compared, in-run and for a file of an earlier run, naming both;
    the same input is accepted, and a store or file that records none is not compared."""
    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    fitted_input = FITTED_INPUT
    earlier = _fitted_on_input(planted, tmp_path, config, fitted_input)
    swapped = {**fitted_input, "channels": fitted_input["channels"][::-1]}
    renormalised = {**fitted_input, "channels": ["phase:Phase3D (zscore)", "raw:Nuclei (zscore)"]}
    per_time_point = {**fitted_input, "normalize_per_time_point": True}
    for i, (other, found) in enumerate(
        (
            (swapped, "datasets.other.patches[ps].channels[0].name: expected the channels"),
            (renormalised, "datasets.other.patches[ps].channels[1].normalization: expected 'median_p99'"),
            (per_time_point, "datasets.other.patches[ps].normalize_per_time_point: expected False"),
        )
    ):
        for imported, model in ((True, "reused"), (False, "planted")):
            target = _embeddings_store(
                tmp_path / f"t{i}{imported}.zarr",
                features,
                truth,
                model,
                "other",
                checkpoint={"seed": 0},
                weights=_digest(0),
                model_input=other,
            )
            with pytest.raises(ValueError, match="features of another input") as refused:
                _transfer(config, target, earlier, tmp_path, f"x{i}", imported=imported)
            assert found in str(refused.value) and str(target) in str(refused.value)
            assert str(earlier) in str(refused.value)
    alike = _embeddings_store(
        tmp_path / "alike.zarr",
        features,
        truth,
        "reused",
        "other",
        checkpoint={"seed": 0},
        weights=_digest(0),
        model_input=dict(fitted_input),
    )
    _transfer(config, alike, earlier, tmp_path, "a", imported=True)
    unrecorded = _embeddings_store(
        tmp_path / "unrecorded.zarr",
        features,
        truth,
        "reused",
        "other",
        checkpoint={"seed": 0},
        weights=_digest(0),
    )
    _transfer(config, unrecorded, earlier, tmp_path, "u", imported=True)
    # a file written before the input was recorded, applied to a store recording one: not compared
    older = _fitted_on_input(planted, tmp_path / "older", config, None)
    from dynaclr.classify.model import read_classifiers_provenance

    assert "input" not in read_classifiers_provenance(older).config["embedded_by"]
    recording = _target_of_input(planted, tmp_path / "recording.zarr", swapped)
    _transfer(config, recording, older, tmp_path, "o", imported=True)
    assert set(read_predictions(tmp_path / "op.parquet")["train_dataset"]) == {f"toy ({older})"}


def test_the_input_is_compared_as_import_model_compares_channels(planted, tmp_path, caplog):
    """Classifiers' input is compared as rule import_model compares a spec's channels (one
    comparison): a channel renamed at its position (a lab's own names; import_model only warns)
    is warned and the classifiers applied, where the full labels were refused; a channel named in
    both at another position beside a renamed one is refused naming the key and the `name:` advice;
    a malformed input record is refused naming the file, not an AttributeError."""
    import logging

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    earlier = _fitted_on_input(planted, tmp_path, config, FITTED_INPUT)
    renamed = {**FITTED_INPUT, "channels": ["phase:Phase3D (zscore)", "raw:H2B (median_p99)"]}
    with caplog.at_level(logging.WARNING, logger="dynaclr.classify.stage"):
        _transfer(
            config,
            _target_of_input(planted, tmp_path / "r.zarr", renamed),
            earlier,
            tmp_path,
            "r",
            imported=True,
        )
    assert any(
        "datasets.other.patches[ps].channels[1].name/source" in r.getMessage() and "raw:H2B" in r.getMessage()
        for r in caplog.records
    )
    assert set(read_predictions(tmp_path / "rp.parquet")["train_dataset"]) == {f"toy ({earlier})"}

    moved = {**FITTED_INPUT, "channels": ["raw:Nuclei (zscore)", "raw:GFP (median_p99)"]}
    with pytest.raises(
        ValueError, match=r"channels\[0\]\.name: expected channel 'Nuclei' at position 2"
    ) as refused:
        _transfer(
            config,
            _target_of_input(planted, tmp_path / "m.zarr", moved),
            earlier,
            tmp_path,
            "m",
            imported=True,
        )
    assert "`name:`" in str(refused.value)

    malformed = _target_of_input(planted, tmp_path / "x.zarr", ["phase:Phase3D (zscore)"])
    with pytest.raises(ValueError, match="expected an input record") as refused:
        _transfer(config, malformed, earlier, tmp_path, "x", imported=True)
    assert str(malformed) in str(refused.value)


def test_a_refusal_names_the_spec_index_of_a_channel_a_pretrained_backbone_selects(planted, tmp_path):
    """With a pretrained backbone's input_channels (ViralSensor, channels[1] of spec phase_sensor),
    the refusals named channels[0], its position among the channels the network reads, not the
    index in the spec's channels the user edits. Rule embed records each read channel's index in
    the spec (channel_indices); the job and the dry run name datasets.<d>.patches[<spec>].channels[1]."""
    from dynaclr.classify.model import imported_classifier_problems
    from dynaclr.io import config_hash

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    fitted = {
        "channels": ["raw:ViralSensor (zscore)"],
        "normalize_per_time_point": False,
        "channel_indices": [1],
    }
    earlier = _fitted_on_input(planted, tmp_path, config, fitted)
    found = {**fitted, "channels": ["raw:ViralSensor (median_p99)"]}
    target = _target_of_input(planted, tmp_path / "t.zarr", found)
    with pytest.raises(ValueError, match="features of another input") as refused:
        _transfer(config, target, earlier, tmp_path, "t", imported=True)
    assert "datasets.other.patches[ps].channels[1].normalization: expected 'zscore'" in str(refused.value)
    assert "channels[0]" not in str(refused.value)
    bad_indices = _target_of_input(planted, tmp_path / "b.zarr", {**found, "channel_indices": [1, 2]})
    with pytest.raises(ValueError, match="expected an input record"):
        _transfer(config, bad_indices, earlier, tmp_path, "b", imported=True)

    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config import WorkflowConfig

    raw = tiny_workflow_config()
    raw["contrastive_models"]["time_aware"] = {  # the paper's ImageNet baseline: ViralSensor only
        "train": False,
        "pretrained_weights": str(tmp_path / "convnext.safetensors"),
        "training": {
            **raw["contrastive_models"]["time_aware"]["training"],
            "stem": "backbone",
            "projection_dim": 0,
            "input_channels": ["ViralSensor"],
        },
    }
    raw["analysis"]["classification"]["imported"] = {"earlier": {"file": str(earlier), "model": "time_aware"}}
    workflow = WorkflowConfig.model_validate(raw)
    document = json.loads(earlier.read_text())
    document["dynaclr"]["config"]["embedded_by"] |= {
        "model": "time_aware",
        "encoder_config_hash": config_hash(workflow.contrastive_models["time_aware"].training.job_params()),
    }
    earlier.write_text(json.dumps(document))
    problems = imported_classifier_problems(workflow)
    assert problems and all(
        "datasets.tiny.patches[phase_sensor].channels[1].normalization: expected 'zscore'" in line
        for line in problems
    ), problems


@pytest.mark.parametrize(
    ("fitted_channels", "found_channels", "indices", "says"),
    [
        (
            ["raw:Phase (zscore)", "raw:Sensor (zscore)"],
            ["raw:Sensor (zscore)", "raw:Phase (zscore)"],
            [1, 0],
            "expected the channels the classifiers were fitted on in their order",
        ),
        (
            ["raw:Phase (zscore)", "raw:Sensor (zscore)", "raw:Nuclei (zscore)"],
            ["raw:Phase (zscore)"],
            [0],
            "expected the 3 channels",
        ),
        (
            ["raw:Phase (zscore)", "raw:Sensor (zscore)"],
            ["raw:Sensor (zscore)", "raw:Nuclei (zscore)"],
            [1, 2],
            "expected channel 'Sensor' at position 2",
        ),
    ],
    ids=["order", "count", "moved"],
)
def test_a_selection_of_another_count_or_order_names_input_channels_not_the_spec(
    planted, tmp_path, fitted_channels, found_channels, indices, says
):
    """A pretrained backbone's input_channels choose which of the spec's channels the network reads
    and in which order. Before: another order, count or a moved channel named the spec's
    datasets.<d>.patches[<spec>].channels (reordering the spec changes nothing the network reads), and
    the note on the channels read was hidden where they are the spec's first ones ([0])."""
    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    earlier = _fitted_on_input(
        planted, tmp_path, config, {"channels": fitted_channels, "normalize_per_time_point": False}
    )
    found = {"channels": found_channels, "normalize_per_time_point": False, "channel_indices": indices}
    target = _target_of_input(planted, tmp_path / "t.zarr", found)
    with pytest.raises(ValueError, match="features of another input") as refused:
        _transfer(config, target, earlier, tmp_path, "t", imported=True)
    message = str(refused.value)
    assert f"contrastive_models.reused.training.input_channels: {says}" in message, message
    assert f"(the network reads the spec's channels {indices}, selected and ordered by " in message
    assert "datasets.other.patches[ps].channels:" not in message
    assert "datasets.other.patches[ps].channels[0].name" not in message
    assert "datasets.other.patches[ps].channels[1].name" not in message


def test_other_weights_or_a_baseline_are_named_before_another_input(planted, tmp_path):
    """The input is compared last: classifiers of other weights that also had another input are
    refused for the weights (not told 'the same weights fed other channels'), in-run and imported,
    and a baseline's imported classifiers as a baseline's."""
    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    other_input = {**FITTED_INPUT, "normalize_per_time_point": True}
    earlier = _fitted_on_input(planted, tmp_path, config, FITTED_INPUT)
    for imported, model in ((True, "reused"), (False, "planted")):
        retrained = _target_of_input(planted, tmp_path / f"w{imported}.zarr", other_input, model, _digest(1))
        with pytest.raises(ValueError) as refused:
            _transfer(config, retrained, earlier, tmp_path, "w", imported=imported)
        assert _digest(1) in str(refused.value) and "another input" not in str(refused.value)
    baseline = _fitted_on_input(planted, tmp_path / "b", config, FITTED_INPUT, model="random_weights")
    store = _target_of_input(planted, tmp_path / "b.zarr", other_input)
    with pytest.raises(ValueError, match="classifiers of the baseline 'random_weights'"):
        _transfer(config, store, baseline, tmp_path, "b", imported=True)


def test_a_file_recording_no_weights_digest_is_checked_by_hash_with_a_warning(planted, tmp_path, caplog):
    """Classifiers written before the weights' digest was recorded are accepted by training-config
    hash as before, with a warning that the weights could not be compared; a store that records no
    digest refuses a file that does (rerun embed)."""
    import logging

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old = _classifiers_fitted_on(
        _embeddings_store(old_dir / "s.zarr", features, truth, checkpoint={"seed": 0}), truth, config, old_dir
    )
    store = _embeddings_store(
        tmp_path / "t.zarr", features, truth, "reused", "other", checkpoint={"seed": 0}, weights=_digest(0)
    )
    with caplog.at_level(logging.WARNING, logger="dynaclr.classify.stage"):
        _transfer(config, store, old, tmp_path, "o", imported=True)
    assert any("weights could not be compared" in r.getMessage() for r in caplog.records)

    recorded = _fitted_with_weights(planted, tmp_path, config, _digest(0))
    unrecorded = _embeddings_store(
        tmp_path / "u.zarr", features, truth, "reused", "other", checkpoint={"seed": 0}
    )
    with pytest.raises(ValueError, match=r"records none .* rerun rule 'embed'"):
        _transfer(config, unrecorded, recorded, tmp_path, "u", imported=True)


def test_in_run_classifiers_of_other_weights_of_the_same_config_are_refused(planted, tmp_path):
    """In-run transfer compares the weights' digest too (where both record it)."""
    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    fitted = _classifiers_fitted_on(
        _embeddings_store(source_dir / "s.zarr", features, truth, checkpoint={"seed": 0}, weights=_digest(0)),
        truth,
        config,
        source_dir,
    )
    other = _embeddings_store(
        tmp_path / "o.zarr", features, truth, dataset="other", checkpoint={"seed": 0}, weights=_digest(1)
    )
    with pytest.raises(ValueError, match="weights of SHA-256"):
        _transfer(config, other, fitted, tmp_path, "x")


def test_the_dry_run_accepts_a_projections_classifier_of_a_model_without_a_head(planted, tmp_path):
    """projection_dim 0: the head is the identity, its projections the backbone's features; the dry
    run leaves their width to the job instead of refusing them against 0."""
    from dynaclr.classify.model import imported_classifier_problems
    from dynaclr.config import WorkflowConfig
    from dynaclr.io import config_hash

    config = ClassificationConfig(
        n_bootstrap=0, n_splits=3, tasks=("infection",), representation="projections"
    )
    features, truth = planted["features"], planted["truth"]
    store = tmp_path / "s.zarr"  # no head: the projections are the features
    provenance = make_provenance(
        ArtifactKind.EMBEDDINGS,
        {"model": "time_aware", "dataset": "toy"},
        [(tmp_path / "model.ckpt", make_provenance(ArtifactKind.CONTRASTIVE_MODEL, {}))],
    )
    write_embeddings(build_anndata(features, truth, projections=features), store, provenance)
    file = _classifiers_fitted_on(store, truth, config, tmp_path)
    assert {c.representation for c in load_classifiers(file).values()} == {"projections"}
    raw = _config_importing(file).model_dump(mode="json", exclude_unset=True)
    raw["contrastive_models"]["time_aware"]["training"]["projection_dim"] = 0
    headless = WorkflowConfig.model_validate(raw)
    document = json.loads(file.read_text())
    expected = config_hash(headless.contrastive_models["time_aware"].training.job_params())
    document["dynaclr"]["config"]["embedded_by"]["encoder_config_hash"] = expected
    file.write_text(json.dumps(document))
    assert imported_classifier_problems(headless) == []


def test_imported_files_under_this_runs_results_or_named_twice_are_refused(tmp_path):
    """An imported file under this run's results folder is an output here; the same file and model
    in two entries would apply the classifiers twice: both refused by the config check. So is an
    entry predicting no dataset (``apply_to: []``): the dry run never reads one (its input comparison
    takes ``apply_to`` as given where set, every embedded dataset where null)."""
    from integration.workflow_helpers import tiny_workflow_config

    from dynaclr.config import WorkflowConfig

    raw = tiny_workflow_config()
    inside = f"{raw.get('results', 'results')}/evaluation/classifiers/time_aware/tiny.json"
    with pytest.raises(
        ValidationError, match=r"imported.earlier.file: expected .* outside this run's results"
    ):
        _config_importing(inside)
    with pytest.raises(ValidationError, match=r"imported.earlier.apply_to: expected datasets .* found none"):
        _config_importing(tmp_path / "c.json", apply_to=[])
    raw["analysis"]["classification"]["imported"] = {
        "a": {"file": str(tmp_path / "c.json"), "model": "time_aware"},
        "b": {"file": str(tmp_path / "." / "c.json"), "model": "time_aware"},
    }
    with pytest.raises(ValidationError, match=r"imported.b: expected each file applied once per model"):
        WorkflowConfig.model_validate(raw)


def test_the_dry_run_compares_the_weights_of_an_imported_model_ckpt_not_its_lineage(
    planted, tmp_path, monkeypatch
):
    """Classifiers that record the weights they were fitted on are compared by the dry run with the
    weights of the model.ckpt the model is imported from (the digest rule embed will record), not by
    training-config hash: an import of an import under other training sections (hashes that differ
    from the file's) passes where its weights are the file's; other weights are refused naming both
    digests. The digest of a real model.ckpt chain is tested in test_imported_model.py."""
    import dynaclr.classify.model as model_module
    from dynaclr.classify.model import imported_classifier_problems

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    checkpoint = _imported_model_ckpt(tmp_path / "model.ckpt", {"seed": 5})  # records {"seed": 9} and 5
    store = _embeddings_store(
        tmp_path / "s.zarr", features, truth, checkpoint={"seed": 1}, weights=_digest(0)
    )
    file = _classifiers_fitted_on(store, truth, config, tmp_path)  # hash of {"seed": 1}: neither 9 nor 5
    monkeypatch.setattr(model_module, "_model_file_digest", lambda path: _digest(0))
    assert imported_classifier_problems(_config_importing(file, checkpoint=checkpoint)) == []
    monkeypatch.setattr(model_module, "_model_file_digest", lambda path: _digest(3))
    (problem,) = imported_classifier_problems(_config_importing(file, checkpoint=checkpoint))
    assert problem.startswith("analysis.classification.imported.earlier.file: ")
    assert _digest(0)[:16] in problem and _digest(3)[:16] in problem and "weights digest" in problem


def test_classifiers_of_a_random_weights_baseline_are_refused_though_it_records_the_models_hash(
    planted, tmp_path
):
    """The random-weights baseline lists the model whose architecture it shares, and so records its
    training-config hash: its classifiers passed the dry run and the job's hash check, and would have
    predicted the trained model's embeddings with exit 0. Both refuse a baseline's classifiers."""
    from dynaclr.classify.model import imported_classifier_problems
    from dynaclr.classify.stage import _check_imported_fit
    from dynaclr.io import config_hash

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    model_hash = config_hash(_config_importing("x").contrastive_models["time_aware"].training.job_params())
    features, truth = planted["features"], planted["truth"]
    store = _embeddings_store(tmp_path / "s.zarr", features, truth, model="random_weights", checkpoint={})
    file = _classifiers_fitted_on(store, truth, config, tmp_path)
    document = json.loads(file.read_text())
    document["dynaclr"]["config"]["embedded_by"]["encoder_config_hash"] = model_hash
    file.write_text(json.dumps(document))
    (problem,) = imported_classifier_problems(_config_importing(file))
    assert (
        problem.startswith("analysis.classification.imported.earlier.file: ") and "random_weights" in problem
    )
    recorded = document["dynaclr"]["config"]["embedded_by"]
    target = {"model": "time_aware", "encoder_config_hash": model_hash, "encoder_weights_sha256": None}
    with pytest.raises(ValueError, match=r"classifiers of the baseline 'random_weights'"):
        _check_imported_fit(file, tmp_path / "target.zarr", recorded, target, [])


def test_a_model_ckpt_the_dry_run_cannot_build_is_a_problem_line_not_a_traceback(planted, tmp_path):
    """Comparing weights builds the imported model.ckpt's encoder: a file this version cannot build
    (here one holding provenance only) is one line naming the model's checkpoint key, not an
    exception out of the Snakefile."""
    from dynaclr.classify.model import imported_classifier_problems

    config = ClassificationConfig(n_bootstrap=0, n_splits=3, tasks=("infection",))
    features, truth = planted["features"], planted["truth"]
    checkpoint = _imported_model_ckpt(tmp_path / "model.ckpt", {"seed": 5})
    store = _embeddings_store(
        tmp_path / "s.zarr", features, truth, checkpoint={"seed": 1}, weights=_digest(0)
    )
    file = _classifiers_fitted_on(store, truth, config, tmp_path)
    (problem,) = imported_classifier_problems(_config_importing(file, checkpoint=checkpoint))
    assert problem.startswith(
        "contrastive_models.time_aware.checkpoint: expected a model.ckpt this version reads"
    )
    assert str(checkpoint) in problem


@pytest.mark.parametrize("stage", ["draw_annotations", "import_annotations"])
def test_drawn_annotations_of_two_merged_cells_keep_the_closer_and_imported_ones_are_refused(
    planted, tmp_path, caplog, stage
):
    """Annotations drawn from ground truth name simulated cells: where the tracker merged two of
    other labels, both match one tracked cell. Rule classify refused such a valid run as if one
    annotation were wrong; for drawn annotations (the artifact's provenance names rule
    draw_annotations) the closer one keeps the cell (INFO), a user's table (import_annotations) is
    refused, the message naming the merge as a cause."""
    annotations = _draw(planted["truth"], fraction_of_cells=0.1, seed=0)
    cell = annotations[annotations["task"] == "infection"].iloc[3]
    other = "infected" if cell["label"] == "uninfected" else "uninfected"
    neighbour = cell.to_frame().T.assign(track_id=999, y=cell["y"] + 2.0, label=other)
    merged = pd.concat([annotations, neighbour], ignore_index=True).astype(annotations.dtypes)
    path = tmp_path / "annotations.parquet"
    write_table(merged, path, make_provenance(ArtifactKind.ANNOTATIONS, {}, stage=stage))
    embeddings = tmp_path / "embeddings" / "planted" / "toy.zarr"
    write_embeddings(
        planted["adata"],
        embeddings,
        make_provenance(ArtifactKind.EMBEDDINGS, {"model": "planted", "dataset": "toy"}),
    )
    out = tmp_path / "evaluation"
    outputs = ClassifyOutputs(
        scores=out / "s.parquet", predictions=out / "p.parquet", classifiers=out / "c.json"
    )
    config = ClassificationConfig(n_bootstrap=5, n_splits=3, match_annotations_on="position")
    inputs = ClassifyInputs(embeddings=embeddings, annotations=path)
    if stage == "import_annotations":
        with pytest.raises(ValueError, match=r"remove the wrong annotation, or the tracker merged two cells"):
            classify_stage(config, inputs, outputs, model="planted", dataset="toy")
        return
    with caplog.at_level(logging.INFO, logger="dynaclr.embeddings.cells"):
        scores = classify_stage(config, inputs, outputs, model="planted", dataset="toy")
    assert (
        f"1 {path}: infection annotations give a tracked cell another label than a closer one of its "
        "task: the tracker merged their cells, the closer one is kept"
    ) in caplog.text
    infection = scores[scores["task"] == "infection"].iloc[0]
    assert infection["n_matched"] == (annotations["task"] == "infection").sum()
    predictions = read_predictions(out / "p.parquet")
    at = predictions[
        (predictions["task"] == "infection")
        & (predictions["fov_name"] == cell["fov_name"])
        & (predictions["track_id"] == cell["track_id"])
        & (predictions["t"] == cell["t"])
    ]
    assert list(at["annotation_label"]) == [cell["label"]]


def test_a_cell_without_finite_embeddings_has_no_predicted_label(planted):
    """A NaN probability (NaN embeddings) fell below the decision threshold: the cell's predicted_label
    was the negative class, which the DTW reference's infection state and the infected fractions read
    as a call, exit 0. It has no label now (missing), as it has no probability."""
    from dynaclr.classify.evaluate import apply_and_evaluate
    from dynaclr.pseudotime.stage import _predicted_infection

    annotations = _draw(planted["truth"], fraction_of_cells=0.1, seed=0)
    config = ClassificationConfig(n_bootstrap=5, n_splits=3)
    classifier = fit_and_evaluate(planted["adata"], annotations, "infection", config).classifier
    adata = planted["adata"].copy()
    adata.X = np.asarray(adata.X, dtype=np.float32).copy()
    adata.X[3] = np.nan
    _, predictions = apply_and_evaluate(adata, classifier, annotations, config)
    labels = predictions["predicted_label"]
    assert labels.isna().to_numpy()[3] and np.isnan(predictions["probability"].to_numpy()[3])
    assert labels.drop(index=3).isin(["infected", "uninfected"]).all()
    state, _ = _predicted_infection(adata.obs, predictions, Path("predictions.parquet"), "toy")
    assert np.isnan(state[3]) and np.isfinite(np.delete(state, 3)).all()
