"""The report's first page: key numbers with findings that never claim a difference the CIs do not show."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT
from docutils.core import publish_parts

from dynaclr.classify.annotations import task_classes
from dynaclr.config.reasons import single_class_folds
from dynaclr.config.workflow import WorkflowConfig
from dynaclr.evaluation.stage import TEMPORAL_METRICS_COLUMNS
from dynaclr.figures.findings import (
    classifier_findings,
    dtw_findings,
    findings_rst,
    findings_table,
    image_findings,
    not_run_findings,
    smoothness_findings,
)
from dynaclr.figures.stage import (
    FindingsInputs,
    FindingsOutputs,
    ResultsTableInputs,
    ResultsTableOutputs,
    findings_stage,
    results_table_stage,
)
from dynaclr.figures.table import results_table
from dynaclr.io import ArtifactError, write_csv
from dynaclr.pseudotime.stage import DTW_ACCURACY_COLUMNS, STATE_FROM_LINEAGE, transferred_state_source

DEFAULT_CONFIG = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())


def _comparison(low: float, high: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": ["plate"],
            "representation": ["features"],
            "model_a": ["time_aware"],
            "model_b": ["classical"],
            "smoothness_a": [0.20],
            "smoothness_b": [0.25],
            "difference": [(low + high) / 2],
            "difference_ci_low": [low],
            "difference_ci_high": [high],
            "share_a_smoother": [0.9],
            "n_tracks": [50],
            "n_bootstrap": [200],
            "confidence": [0.95],
        }
    )


def test_a_smoothness_difference_is_claimed_only_when_its_interval_excludes_zero():
    (claimed,) = smoothness_findings(_comparison(-0.08, -0.02))
    assert claimed.statement.startswith("time_aware is smoother in time than classical")
    assert "95 % CI 0.020 to 0.080, over 50 tracks" in claimed.statement  # the n it rests on
    (reversed_,) = smoothness_findings(_comparison(0.02, 0.08))
    assert reversed_.statement.startswith("classical is smoother in time than time_aware")
    (unclaimed,) = smoothness_findings(_comparison(-0.05, 0.01))
    assert "not told apart" in unclaimed.statement
    assert "smoother in time than" not in unclaimed.statement


def _four_models(smoothness: dict[str, float], includes_zero: set[frozenset[str]]) -> pd.DataFrame:
    """Every pair of four models, ``model_a`` the earlier of the listing (so the smoothest is
    ``model_b`` of some pairs); a pair's difference CI excludes 0 unless it is in ``includes_zero``."""
    models = list(smoothness)
    rows = []
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            difference = smoothness[a] - smoothness[b]
            low, high = (difference - 0.02, difference + 0.02)
            if frozenset((a, b)) in includes_zero:
                low, high = min(difference, 0) - 0.05, max(difference, 0) + 0.05
            rows.append(
                {
                    "dataset": "d",
                    "representation": "features",
                    "model_a": a,
                    "model_b": b,
                    "smoothness_a": smoothness[a],
                    "smoothness_b": smoothness[b],
                    "difference": difference,
                    "difference_ci_low": low,
                    "difference_ci_high": high,
                    "n_tracks": 40,
                    "confidence": 0.95,
                }
            )
    return pd.DataFrame(rows)


SAMPLINGS = {"time_aware": "time_aware", "classical": "classical"}


def test_four_models_give_the_time_aware_vs_classical_pair_and_the_smoothest_not_every_pair():
    """With four models the page listed all six pairs; a biologist needs the time-aware vs
    classical comparison and which model is smoothest, every pair being in temporal_comparison.csv."""
    scores = {"engineered_features": 0.5, "classical": 0.3, "random_weights": 0.6, "time_aware": 0.2}
    found = smoothness_findings(_four_models(scores, set()), samplings=SAMPLINGS)
    assert len(found) == 2
    key, best = (f.statement for f in found)
    assert key.startswith("Time-aware vs classical sampling: time_aware is smoother in time than classical")
    assert "95 % CI 0.080 to 0.120, over 40 tracks" in key
    assert best.startswith(
        "time_aware is the smoothest in time: smoother than engineered_features, classical and "
        "random_weights, each difference's CI excluding 0."
    )
    assert "time_aware 0.200, classical 0.300, engineered_features 0.500, random_weights 0.600" in best
    assert best.endswith(
        "Every pair's difference with its CI (6 pairs): the report's temporal_comparison.csv."
    )


def test_the_smoothest_is_not_claimed_where_a_difference_ci_includes_zero():
    scores = {"engineered_features": 0.22, "classical": 0.3, "random_weights": 0.6, "time_aware": 0.2}
    tied = {frozenset(("time_aware", "engineered_features")), frozenset(("time_aware", "classical"))}
    key, best = (f.statement for f in smoothness_findings(_four_models(scores, tied), samplings=SAMPLINGS))
    assert "classical and time_aware are not told apart" in key and "smoother in time than" not in key
    assert best.startswith(
        "No model is clearly smoothest in time: time_aware, the lowest, is not told apart from "
        "engineered_features or classical (CI includes 0); time_aware is smoother than random_weights "
        "(CI excludes 0)."
    )
    assert "is the smoothest" not in best
    # without the models' samplings (a run of baselines and one trained model): the smoothest only
    (only,) = smoothness_findings(_four_models(scores, tied))
    assert only.statement == best


def test_the_smoothest_is_not_claimed_over_a_model_without_a_paired_row():
    """temporal_comparison.csv leaves out pairs of models embedding different cells: time_aware was
    called the smoothest though it was never compared with random_weights (no row of the pair; the
    model is scored in its rows against others). Such a model is named as not compared."""
    scores = {"engineered_features": 0.5, "classical": 0.3, "random_weights": 0.6, "time_aware": 0.2}
    table = _four_models(scores, set())
    unpaired = (table["model_a"] == "time_aware") & (table["model_b"] == "random_weights")
    unpaired |= (table["model_a"] == "random_weights") & (table["model_b"] == "time_aware")
    assert unpaired.sum() == 1
    _, best = (f.statement for f in smoothness_findings(table[~unpaired], samplings=SAMPLINGS))
    assert "is the smoothest" not in best
    assert best.startswith(
        "No model is clearly smoothest in time: time_aware has no paired comparison with random_weights "
        "(no row of the pair: the models embed different cells); time_aware is smoother than "
        "engineered_features and classical (CI excludes 0)."
    )
    assert "random_weights 0.600" in best


def _f1_table(ci_time_aware: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["time_aware", "classical", "engineered"],
            "dataset": ["d", "d", "d"],
            "f1_infection": [0.95, 0.90, 0.60],
            "f1_infection_ci_low": [ci_time_aware[0], 0.85, 0.50],
            "f1_infection_ci_high": [ci_time_aware[1], 0.93, 0.70],
        }
    )


def test_the_best_classifier_is_said_to_beat_only_models_whose_interval_it_clears():
    """A top value whose interval overlaps another's was still called best ("time_aware classifies
    infection best, not told apart from classical"); it is now "no model is clearly best"."""
    (overlapping,) = classifier_findings(_f1_table((0.92, 0.98)))
    assert overlapping.statement.count("best") == 1
    assert "No model is clearly best at classifying infection" in overlapping.statement
    assert "time_aware, the top value, is not told apart from classical (intervals overlap)" in (
        overlapping.statement
    )
    assert "time_aware is shown better than engineered (intervals apart)" in overlapping.statement
    assert "time_aware 0.950 (95 % CI 0.920 to 0.980); classical 0.900 (95 % CI 0.850 to 0.930)" in (
        overlapping.statement
    )
    (separated,) = classifier_findings(_f1_table((0.94, 0.97)))
    assert "time_aware is clearly best at classifying infection: its interval clears those of " in (
        separated.statement
    )
    assert "those of classical and engineered." in separated.statement
    assert "not told apart" not in separated.statement and "No model" not in separated.statement


def test_models_not_told_apart_from_the_top_one_read_as_a_list():
    """Several models overlapping the top one read "not told apart from classical or engineered", not
    the possessive list "from classical, engineered's"; the models it beats read "a and b"."""
    four = pd.DataFrame(
        {
            "model": ["time_aware", "classical", "engineered", "m3", "m4"],
            "dataset": ["d"] * 5,
            "f1_infection": [0.95, 0.90, 0.88, 0.30, 0.20],
            "f1_infection_ci_low": [0.85, 0.84, 0.80, 0.20, 0.10],
            "f1_infection_ci_high": [0.99, 0.94, 0.93, 0.40, 0.30],
        }
    )
    (found,) = classifier_findings(four)
    assert (
        "No model is clearly best at classifying infection: time_aware, the top value, is not told apart "
        "from classical or engineered (intervals overlap); time_aware is shown better than m3 and m4 "
        "(intervals apart)."
    ) in found.statement
    assert "'s" not in found.statement


def test_dtw_findings_bootstrap_over_lineages_and_exclude_the_reference():
    rng = np.random.default_rng(0)
    rows = []
    for model, scale in (("good", 0.5), ("bad", 6.0)):
        errors = np.abs(rng.normal(0, scale, 40))
        for e in errors:
            rows.append(
                {"model": model, "dataset": "d", "is_reference_series": False, "abs_onset_error_frames": e}
            )
        rows.append(
            {"model": model, "dataset": "d", "is_reference_series": True, "abs_onset_error_frames": 100.0}
        )
    table = pd.DataFrame(rows)
    (first,) = dtw_findings(table)
    (again,) = dtw_findings(table)
    assert first == again  # seeded bootstrap
    assert "over 40 lineages" in first.statement  # the reference series is left out
    assert "good is clearly best at placing the infection onset: its interval clears that of bad" in (
        first.statement
    )


def test_image_findings_read_the_all_row_of_tracking_and_split_held_out_fovs():
    tracking = pd.DataFrame(
        {
            "fov_name": ["A/1/0", "all"],
            "det": [0.9, 0.99],
            "tra": [0.9, 0.98],
            "division_precision": [0.5, 0.91],
            "division_recall": [0.5, 0.93],
            "n_reference_divisions": [4, 40],
        }
    )
    vs = pd.DataFrame({"fov_name": ["a", "b"], "held_out": [True, False], "pearson_r": [0.8, 0.9]})
    found = image_findings({}, {"d": vs}, {"d": tracking})
    text = " ".join(f.statement for f in found)
    assert "DET 0.990" in text and "TRA 0.980" in text
    assert "91% are real" in text and "93% of the real ones" in text
    assert "held out of its training 0.800 (1 FOV)" in text and "training FOVs 0.900 (1 FOV)" in text
    assert "Cells detected (DET 0.990)" in text and "imported" not in text


def test_the_tracking_line_says_which_true_divisions_it_counts():
    """A division-only plate of 3 FOVs (200 x 300 px) said "86 true divisions" while its ground-truth
    summary counted 99: the tracking score counts a division only where both daughters are tracks
    of the FOV (a daughter born outside it leaves her mother one daughter). The line now says so."""
    tracking = pd.DataFrame(
        {
            "fov_name": ["all"],
            "det": [0.99],
            "tra": [0.99],
            "division_precision": [0.94],
            "division_recall": [0.87],
            "n_reference_divisions": [86],
        }
    )
    (found,) = image_findings({}, {}, {"d": tracking})
    assert "86 true divisions with both daughters in the FOV" in found.statement


def test_the_tracking_line_of_imported_tracks_says_they_were_imported_not_tracked():
    """Imported tracks scored against a simulated plate's truth (test_alfi_like's first page read "Cells
    detected ... of the divisions found", as if the workflow had segmented and tracked them)."""
    tracking = pd.DataFrame(
        {
            "fov_name": ["all"],
            "det": [1.0],
            "tra": [0.97],
            "division_precision": [1.0],
            "division_recall": [0.8],
            "n_reference_divisions": [25],
        }
    )
    (found,) = image_findings({}, {}, {"alfi": tracking}, imported_tracks=["alfi"])
    assert found.statement.startswith("Detections (DET 1.000) and links (TRA 0.970) of the imported tracks")
    assert "matched to the true cell at its position" in found.statement
    assert "detected" not in found.statement and "divisions found" not in found.statement
    assert "of their divisions 100% are real (precision) and 80% of the real ones" in found.statement


def test_the_page_is_valid_restructuredtext_with_names_kept_literal():
    found = smoothness_findings(_comparison(-0.08, -0.02))
    rst = findings_rst(findings_table(found))
    html = publish_parts(rst, writer="html", settings_overrides={"report_level": 2, "halt_level": 2})[
        "html_body"
    ]
    assert "time_aware is smoother" in html
    assert not any(d in rst for d in ("{{", "{%", "{#"))  # Snakemake renders the page through Jinja
    # the page starts at the top of the report's window (Snakemake centres it vertically otherwise)
    assert "<style>div.h-screen.overflow-auto.items-center { align-items: flex-start; }</style>" in html


def test_stage_writes_page_and_table_and_refuses_unnamed_files(tmp_path):
    qc = tmp_path / "qc.csv"
    pd.DataFrame(
        {
            "fov_name": ["A/1/0", "A/1/0", "A/1/1"],
            "stage": ["phase", "tracking", "phase"],
            "n_frames": [10, 10, 10],
            "n_dropped_frames": [0, 2, 0],
            "dropped_frames": ["", "3;4", ""],
            "frames_without_signal": ["", "", ""],
            "missing_voxels": [0, 0, 0],
            "status": ["ok", "reduced", "ok"],
            "reason": ["", "frames [3, 4] dropped (more than half their voxels missing)", ""],
        }
    ).to_csv(qc, index=False)
    comparison = tmp_path / "comparison.csv"
    _comparison(-0.08, -0.02).to_csv(comparison, index=False)
    outputs = FindingsOutputs(rst=tmp_path / "report" / "findings.rst", csv=tmp_path / "findings.csv")
    table = findings_stage(
        FindingsInputs(qc=(qc,), temporal_comparison=comparison),
        outputs,
        datasets={"plate": "HCS plate x.zarr"},
        models={"time_aware": "time-aware sampling"},
        sources={"qc": ["plate"]},
    )
    page = outputs.rst.read_text()
    assert "2 FOVs × 10 frames" in page and "dropped 2 frame(s) and flagged 1 FOV(s)" in page
    assert list(table["section"]) == ["What was run", "What was run", "Embeddings"]
    assert pd.read_csv(outputs.csv).shape == (3, 4)
    with pytest.raises(ValueError, match="1 qc file"):
        findings_stage(FindingsInputs(qc=(qc,)), outputs, datasets={}, models={}, sources={})


def test_transferred_classifiers_are_reported_with_the_dataset_they_were_fitted_on():
    table = pd.DataFrame(
        {
            "model": ["a", "b"],
            "dataset": ["new", "new"],
            "f1_infection_transferred": [0.9, 0.5],
            "f1_infection_transferred_ci_low": [0.85, 0.4],
            "f1_infection_transferred_ci_high": [0.95, 0.6],
            "f1_infection_transferred_from": ["old", "old"],
        }
    )
    (found,) = classifier_findings(table)
    assert found.topic == "infection classifier, transferred"
    assert "fitted on old and applied here" in found.statement
    assert "a is clearly best at classifying infection: its interval clears that of b" in found.statement


def test_classifiers_transferred_from_two_datasets_get_a_line_per_source():
    """The results table's row per source (``f1_*_transferred_from``): a model transferred from two
    datasets is ranked once per source, never against itself."""

    classification = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "dataset": ["new"] * 4,
            "train_dataset": ["old", "older", "old", "older"],
            "task": ["infection"] * 4,
            "f1": [0.9, 0.55, 0.5, 0.8],
            "f1_ci_low": [0.85, 0.5, 0.4, 0.75],
            "f1_ci_high": [0.95, 0.6, 0.6, 0.85],
        }
    )
    found = classifier_findings(results_table(classification=classification))
    assert [f.topic for f in found] == ["infection classifier, transferred"] * 2
    old, older = sorted(found, key=lambda f: "fitted on older" in f.statement)
    assert "fitted on old and applied here" in old.statement
    assert "a is clearly best at classifying infection: its interval clears that of b" in old.statement
    assert "fitted on older and applied here" in older.statement
    assert "b is clearly best at classifying infection: its interval clears that of a" in older.statement


def test_a_configured_task_without_a_classifier_on_a_dataset_gets_a_line():
    """tasks [infection, division] on a dataset annotated for division only: rule classify skipped
    infection there (a WARNING in its log) and the first page said nothing of it."""
    from test_figures import _division_only_on_lineage

    table = results_table(classification=_division_only_on_lineage(), tasks=("infection", "division"))
    found = classifier_findings(table)
    lines = [f for f in found if f.dataset == "lineage" and f.topic == "infection classifier"]
    assert len(lines) == 1
    assert "not computed: no infection annotations in lineage (a, b)" in lines[0].statement
    assert "analysis.classification.tasks" in lines[0].statement
    assert not [f for f in found if f.dataset == "plate" and "not computed" in f.statement]
    topics = [f.topic for f in found if f.dataset == "lineage"]
    assert topics == ["infection classifier", "division classifier"]


def test_a_dataset_without_annotations_or_a_task_not_configured_is_no_skipped_task_line():
    """The results table now says why every empty F1 is empty (no annotations in a dataset, a task
    not in analysis.classification.tasks); the first page's line 'rule classify skipped it' is for
    a configured task the dataset's annotations lack, not for these."""
    from test_figures import _division_only_on_lineage, _temporal_metrics

    classification = _division_only_on_lineage()
    pairs = pd.DataFrame(
        {"model": ["a", "b"], "dataset": ["bare", "bare"], "f1_not_computed": ["no annotations in bare"] * 2}
    )
    bare = _temporal_metrics(("a", "b"), "bare")
    table = results_table(
        temporal_metrics=bare, classification=classification, pairs=pairs, tasks=("division",)
    )
    assert set(table.loc[table["dataset"] == "bare", "f1_division_not_computed"]) == {
        "no annotations in bare"
    }
    assert not [f for f in classifier_findings(table) if "rule classify skipped" in f.statement]


def test_a_classifier_scored_on_no_positive_cell_is_said_unscored_and_few_cells_are_flagged():
    """A plate annotated in a few cells: the held-out FOV holds no infected cell, so F1 is undefined
    (not 0, not 'best'); where it is computed, the finding names the cells it rests on."""
    table = pd.DataFrame(
        {
            "model": ["a", "b"],
            "dataset": ["plate", "plate"],
            "f1_infection": [np.nan, np.nan],
            "f1_infection_ci_low": [np.nan, np.nan],
            "f1_infection_ci_high": [np.nan, np.nan],
            "f1_infection_n_test": [5, 5],
            "f1_infection_n_test_positive": [0, 0],
            "f1_infection_transferred": [1.0, 0.92],
            "f1_infection_transferred_ci_low": [1.0, 0.78],
            "f1_infection_transferred_ci_high": [1.0, 1.0],
            "f1_infection_transferred_from": ["other", "other"],
            "f1_infection_transferred_n_test": [14, 14],
            "f1_infection_transferred_n_test_positive": [7, 7],
        }
    )
    own, transferred = classifier_findings(table)
    assert own.topic == "infection classifier"
    assert "not computed" in own.statement and "best" not in own.statement
    assert "5 scored annotated observations hold no infected one" in own.statement
    assert "0.000" not in own.statement
    assert "Scored on 14 annotated observations, 7 of them infected" in transferred.statement
    assert "fewer than 10 infected: a value and interval of few observations" in transferred.statement
    many = table.assign(
        f1_infection_transferred_n_test=[140, 140], f1_infection_transferred_n_test_positive=[70, 70]
    )
    assert "fewer than" not in classifier_findings(many)[1].statement


def _accuracy(errors: dict[str, list[float]]) -> pd.DataFrame:
    """A DTW accuracy table of dataset 'plate': per model a reference series (query 0), then one
    query lineage per error (NaN: no observed onset)."""
    rows = [
        {
            "model": model,
            "dataset": "plate",
            "fov_name": "A/1/0",
            "query_id": q,
            "is_reference_series": q == 0,
            "abs_onset_error_frames": [np.nan, *values][q],
        }
        for model, values in errors.items()
        for q in range(len(values) + 1)
    ]
    return pd.DataFrame(rows)


def test_a_dataset_aligned_without_true_onsets_gets_a_line_not_silence():
    (found,) = dtw_findings(_accuracy({"a": [np.nan] * 4, "b": [np.nan] * 4}))
    assert found.dataset == "plate" and found.topic == "pseudo-time"
    assert "not scored" in found.statement and "aligned 4 lineages" in found.statement
    assert "best" not in found.statement


def test_a_dataset_aligned_on_transferred_predictions_says_where_its_infection_state_came_from():
    """A plate without annotations aligned on the predictions of classifiers transferred from another
    dataset (``state_source`` of dtw_accuracy.csv): the first page and the results table say that it
    was aligned, how many lineages, and from which classifiers, not a bare dash."""
    from dynaclr.figures.table import formatted_results_table

    source = transferred_state_source("theirs")
    accuracy = _accuracy({"m": [np.nan] * 3}).assign(state_source=source, not_computed="")
    (found,) = dtw_findings(accuracy)
    assert (
        "aligned 3 lineages to a reference (m) on the infection state predicted by classifiers "
        "transferred from theirs, not scored"
    ) in found.statement
    table = results_table(dtw_accuracy=accuracy)
    assert table[["dtw_n_aligned", "dtw_state_source"]].values.tolist() == [[3, source]]
    shown = formatted_results_table(table)["DTW onset error (frames) ↓"].tolist()
    assert shown == [
        "not scored (no true onset): 3 lineages aligned; infection state predicted by classifiers "
        "transferred from theirs"
    ]


def test_the_not_scored_dtw_cell_counts_the_lineages_whose_state_shows_no_event(tmp_path):
    """The first page says "N of M aligned lineages show no infection onset inside their frames"; the
    results table's not-scored DTW cell said only "n lineages aligned; <state source>". It now gives
    the same count (never reach it, or past it from the first frame), and the CSV ``dtw_n_no_event``;
    a dtw_accuracy.csv written before ``state_event_position`` keeps the old text, NaN count."""
    from dynaclr.figures.table import formatted_results_table
    from dynaclr.pseudotime.stage import read_dtw_accuracy

    source = transferred_state_source("theirs")
    accuracy = _accuracy({"m": [np.nan] * 4, "n": [np.nan] * 3}).assign(state_source=source, not_computed="")
    optional = DTW_ACCURACY_COLUMNS[DTW_ACCURACY_COLUMNS.index("onset_source") :]
    accuracy = accuracy.assign(**{c: np.nan for c in DTW_ACCURACY_COLUMNS if c not in (*accuracy, *optional)})
    positions = ["", "before", "after", "reaches", "reaches", "", "reaches", "unknown", "reaches"]
    reaches = [None, False, None, True, True, None, True, None, True]  # references first (<NA>)
    path = tmp_path / "dtw_accuracy.csv"
    write_csv(
        accuracy.assign(
            state_event_position=positions,
            state_reaches_event=pd.array(reaches, dtype="boolean"),
            state_onset_t=np.nan,
        ),
        path,
    )
    table = results_table(dtw_accuracy=read_dtw_accuracy(path))
    assert table[["model", "dtw_n_aligned", "dtw_n_no_event"]].values.tolist() == [["m", 4, 2], ["n", 3, 0]]
    shown = formatted_results_table(table)["DTW onset error (frames) ↓"].tolist()
    assert shown == [
        "not scored (no true onset): 4 lineages aligned, 2 of them show no infection onset inside their "
        f"frames; {source}",
        f"not scored (no true onset): 3 lineages aligned; {source}",
    ]
    older = tmp_path / "older.csv"
    write_csv(accuracy, older)  # before state_reaches_event and state_event_position
    table = results_table(dtw_accuracy=read_dtw_accuracy(older))
    assert table["dtw_n_no_event"].isna().all()
    shown = formatted_results_table(table)["DTW onset error (frames) ↓"].tolist()
    assert shown == [f"not scored (no true onset): {n} lineages aligned; {source}" for n in (4, 3)]
    division = accuracy.assign(
        state_source=STATE_FROM_LINEAGE,
        state_event_position=positions,
        state_reaches_event=pd.array(reaches, dtype="boolean"),
    )
    shown = formatted_results_table(results_table(dtw_accuracy=division))["DTW onset error (frames) ↓"]
    assert shown.iloc[0].startswith(
        "not scored (no true onset): 4 lineages aligned, 2 of them show no division inside their frames; "
    )


def test_the_state_a_reference_was_picked_by_is_worded_per_event():
    """With ``event: division`` the state is the division state of the tracks' lineage: the first page
    and the results table say so, not "infection state its tracks' lineage"."""
    from dynaclr.figures.table import formatted_results_table

    accuracy = _accuracy({"m": [np.nan] * 3}).assign(state_source=STATE_FROM_LINEAGE, not_computed="")
    (found,) = dtw_findings(accuracy, event="division")  # a lineage's division state: event division
    assert "on the division state from its tracks' lineage, not scored" in found.statement
    shown = formatted_results_table(results_table(dtw_accuracy=accuracy))["DTW onset error (frames) ↓"]
    assert shown.tolist() == [
        "not scored (no true onset): 3 lineages aligned; division state from its tracks' lineage"
    ]
    assert "infection" not in found.statement + shown.iloc[0]


def test_lineages_whose_state_never_reaches_the_onset_are_counted_on_the_first_page():
    """Without ground truth the first page pointed at dtw_accuracy.csv's aligned onsets without
    saying that some lineages' own state (here transferred predictions) never calls them infected:
    their aligned onsets are matches, not onsets. Per model, the count says so; a table written
    before ``state_reaches_event`` (or all ``<NA>``) adds nothing."""
    source = transferred_state_source("theirs")
    accuracy = _accuracy({"m": [np.nan] * 3, "n": [np.nan] * 3}).assign(state_source=source, not_computed="")
    reaches = [None, False, False, True, None, True, True, False]  # the references first (<NA>)
    (found,) = dtw_findings(accuracy.assign(state_reaches_event=pd.array(reaches, dtype="boolean")))
    assert found.statement.endswith(
        "dtw_accuracy.csv; 2 of 3 aligned lineages never reach the infection onset by the infection state "
        "predicted by classifiers transferred from theirs: their aligned onsets are matches, not onsets (m); "
        "1 of 3 aligned lineages never reach the infection onset by the infection state predicted by "
        "classifiers transferred from theirs: their aligned onsets are matches, not onsets (n)."
    )
    unknown = accuracy.assign(state_reaches_event=pd.array([None] * 8, dtype="boolean"))
    assert dtw_findings(unknown)[0].statement == dtw_findings(accuracy)[0].statement
    assert "never reach" not in dtw_findings(accuracy)[0].statement


def test_a_dataset_with_one_scored_lineage_per_model_gets_a_line_without_a_ranking():
    """One lineage with an observed onset per model is too few for an interval: the page gives the
    errors and says so, rather than nothing."""
    (found,) = dtw_findings(_accuracy({"a": [1.0, np.nan], "b": [3.0, np.nan]}))
    assert found.dataset == "plate" and found.topic == "pseudo-time"
    assert "a 1.00, b 3.00" in found.statement and "too few lineages for an interval" in found.statement
    assert "best" not in found.statement and "not scored" not in found.statement


def test_a_frame_dropped_in_every_stage_counts_once_and_frames_without_signal_are_named():
    """One brightfield frame dropped by phase is dropped again by virtual staining, tracking and
    patches: the page read "dropped 4 frame(s)"; it now counts distinct FOV and frame pairs. A FOV
    flagged only for frames without nuclei for want of signal (which may be frames before cells
    enter) was counted among the flagged FOVs without a word; it now has its own words."""
    from dynaclr.figures.findings import run_findings

    stages = ["phase", "virtual_stain", "tracking", "patches:sensor"]
    dropped = "frames [3] dropped (no brightfield intensity)"
    without_signal = "without nuclei (no contrast above the pixel noise)"
    qc = pd.DataFrame(
        {
            "fov_name": ["A/1/0"] * 4 + ["B/1/0"] * 4,
            "stage": stages * 2,
            "n_frames": 10,
            "n_dropped_frames": [1, 1, 1, 1, 0, 0, 0, 0],
            "dropped_frames": ["3", "3", "3", "3", "", "", "", ""],
            "frames_without_signal": ["", "", "", "", "", "", "0;1;2", ""],
            "missing_voxels": 0,
            "status": ["reduced"] * 4 + ["ok", "ok", "reduced", "ok"],
            "reason": [dropped] * 4 + ["", "", f"frames 0 .. 2 {without_signal}", ""],
        }
    )
    (found, _) = run_findings({"plate": "HCS plate x.zarr"}, {}, {"plate": qc})
    assert found.statement == (
        "HCS plate x.zarr; 2 FOVs × 10 frames; quality control dropped 1 frame(s) and flagged 1 FOV(s) "
        "(stages: patches:sensor, phase, tracking, virtual_stain; see qc.csv); 1 FOV(s) with frames "
        "without nuclei for want of signal (see qc.csv)."
    )
    signal_only = qc[qc["fov_name"] == "B/1/0"]
    (found, _) = run_findings({"plate": "HCS plate x.zarr"}, {}, {"plate": signal_only})
    assert found.statement == (
        "HCS plate x.zarr; 1 FOV × 10 frames; quality control dropped no frame and no FOV; 1 FOV(s) with "
        "frames without nuclei for want of signal (see qc.csv)."
    )


def test_a_qc_table_written_before_frames_without_signal_still_gives_a_first_page(tmp_path):
    """A results folder upgraded from a dynaclr whose qc.csv has no frames_without_signal column
    (rule qc_table does not rerun): findings failed with "missing columns ['frames_without_signal']";
    it reads the column as empty."""
    qc = tmp_path / "qc.csv"
    qc.write_text(
        "fov_name,stage,n_frames,n_dropped_frames,dropped_frames,missing_voxels,missing_share,status,reason\n"
        "A/1/0,phase,30,0,,0,0.0,ok,\n"
        "A/1/0,tracking,30,2,3;4,10,0.01,reduced,"
        '"frames [3, 4] dropped (more than half their voxels missing)"\n'
        "A/1/1,phase,30,0,,0,0.0,ok,\n"
    )
    outputs = FindingsOutputs(rst=tmp_path / "findings.rst", csv=tmp_path / "findings.csv")
    table = findings_stage(
        FindingsInputs(qc=(qc,)),
        outputs,
        datasets={"plate": "HCS plate x.zarr"},
        models={},
        sources={"qc": ["plate"]},
    )
    assert table["statement"].iloc[0] == (
        "HCS plate x.zarr; 2 FOVs × 30 frames; quality control dropped 2 frame(s) and flagged 1 FOV(s) "
        "(stages: tracking; see qc.csv)."
    )


def test_without_a_dropped_frames_list_each_fovs_largest_count_is_read():
    from dynaclr.figures.findings import run_findings

    qc = pd.DataFrame(
        {
            "fov_name": ["A/1/0", "A/1/0", "A/1/1"],
            "stage": ["phase", "tracking", "phase"],
            "n_frames": 10,
            "n_dropped_frames": [1, 2, 0],
            "missing_voxels": [5, 9, 0],
            "status": ["reduced", "reduced", "ok"],
            "reason": ["frames [3] dropped", "frames [3, 4] dropped", ""],
        }
    )
    (found, _) = run_findings({"plate": "HCS plate x.zarr"}, {}, {"plate": qc})
    assert "quality control dropped 2 frame(s) and flagged 1 FOV(s)" in found.statement


def _statement_of_two_reduced_tracking_rows(**columns: object) -> str:
    """The first page's dataset line of two ``reduced`` tracking rows with frames 0 and 1 without
    signal and no dropped frame; ``columns`` add or replace columns (missing voxels, reasons)."""
    from dynaclr.figures.findings import run_findings

    qc = pd.DataFrame(
        {
            "fov_name": ["A/1/0", "B/1/0"],
            "stage": "tracking",
            "n_frames": 10,
            "n_dropped_frames": 0,
            "dropped_frames": "",
            "frames_without_signal": ["0;1", "0;1"],
            "missing_voxels": 0,
            "status": "reduced",
            **columns,
        }
    )
    (found, _) = run_findings({"plate": "HCS plate x.zarr"}, {}, {"plate": qc})
    return found.statement


#: The line of :func:`_statement_of_two_reduced_tracking_rows` where A/1/0 is flagged for more.
ONE_FLAGGED_ONE_WITHOUT_SIGNAL = (
    "HCS plate x.zarr; 2 FOVs × 10 frames; quality control dropped 0 frame(s) and flagged 1 FOV(s) "
    "(stages: tracking; see qc.csv); 1 FOV(s) with frames without nuclei for want of signal (see qc.csv)."
)


def test_frames_without_signal_beside_filled_voxels_are_flagged_whatever_the_reason_says():
    """Signal-only rows are told from the columns (frames without signal, no dropped frame, no
    missing voxel), not from the reason's wording."""
    statement = _statement_of_two_reduced_tracking_rows(
        missing_voxels=[12, 0],
        reason=["frames 0 .. 1 without nuclei (reworded); 12 missing voxel(s) filled", "frames 0 .. 1 empty"],
    )
    assert statement == ONE_FLAGGED_ONE_WITHOUT_SIGNAL


@pytest.mark.parametrize("through_csv", [False, True], ids=["table", "read back from qc.csv"])
def test_frames_without_signal_beside_an_implausible_nucleus_size_are_flagged(through_csv: bool):
    """A tracking row reduced for frames without signal and for its nuclei's size (a pixel size
    misstated?) was counted as reduced for want of signal alone: the first page named it among the
    FOVs with frames without nuclei, not among the flagged ones. Told from ``nucleus_size_flagged`` as
    qc.csv recorded it, not from the diameter against today's bounds: B/1/0's 30 µm was not flagged
    when its row was written (a missing value: a row made before the flag), so it stays a row without
    signal only."""
    flagged = pd.array([True, None], dtype="boolean")
    if through_csv:
        flagged = pd.read_csv(io.StringIO(pd.DataFrame({"f": flagged}).to_csv(index=False)))["f"]
    statement = _statement_of_two_reduced_tracking_rows(
        nucleus_diameter_um=[25.5, 30.0],
        nucleus_size_flagged=flagged,
        reason=[
            "frames 0 .. 1 without nuclei; nuclei unusually large (pixel size misstated?)",
            "frames 0 .. 1",
        ],
    )
    assert statement == ONE_FLAGGED_ONE_WITHOUT_SIGNAL


def test_a_run_without_any_embedding_says_so_on_its_first_page():
    from dynaclr.figures.findings import run_findings

    found = run_findings({"plate": "HCS plate x.zarr"}, {}, {})
    assert found[0].dataset == "plate" and found[0].statement == "HCS plate x.zarr."  # named once
    assert [f.topic for f in found] == ["dataset", "model"]
    assert "No model embedded any dataset" in found[1].statement
    assert not any("No model" in f.statement for f in run_findings({}, {"m": "trained"}, {}))


def test_without_confidence_intervals_no_difference_is_claimed_and_none_is_said_to_include_zero():
    """n_bootstrap 0 (or no replicate defining the metric) leaves NaN bounds: the page neither prints
    'nan' nor says an interval includes 0 or overlaps."""
    (smooth,) = smoothness_findings(_comparison(np.nan, np.nan).assign(difference=-0.05))
    assert "not told apart" in smooth.statement and "no confidence interval computed" in smooth.statement
    assert "nan" not in smooth.statement and "includes 0" not in smooth.statement
    table = _f1_table((np.nan, np.nan))
    (f1,) = classifier_findings(table)
    assert "nan" not in f1.statement
    verdict = "No model is clearly best at classifying infection: time_aware is not compared with "
    assert verdict in f1.statement
    assert "classical or engineered (no confidence interval to compare)" in f1.statement
    assert "intervals overlap" not in f1.statement and "intervals apart" not in f1.statement


def test_dtw_findings_name_where_the_true_onsets_come_from():
    """Divisions scored against an imported lineage (no ground truth) are said to be, not passed off
    as ground truth; as read back from the CSV, an unscored row's empty source is NaN."""
    table = _accuracy({"a": [1.0, 2.0, 1.5], "b": [3.0, 4.0, np.nan]})
    scored = table["abs_onset_error_frames"].notna()
    table["onset_source"] = np.where(scored, "imported lineage", None)
    (found,) = dtw_findings(table)
    assert "(true onsets from the imported lineage)" in found.statement
    (truth,) = dtw_findings(table.assign(onset_source=np.where(scored, "ground truth", None)))
    assert "(true onsets from the ground truth)" in truth.statement


def _first_page_of_one_fov(
    tmp_path: Path, dataset: str, n_frames: int, **kwargs: Any
) -> tuple[pd.DataFrame, str]:
    """``findings_stage`` of one FOV of ``n_frames`` frames of ``dataset`` (model ``classical``), and
    the page it wrote; ``kwargs`` go to ``findings_stage`` (``datasets`` defaults to ``HCS plate``)."""
    qc = tmp_path / "qc.csv"
    pd.DataFrame(
        {
            "fov_name": ["A/1/0"],
            "stage": ["patches"],
            "n_frames": [n_frames],
            "n_dropped_frames": [0],
            "dropped_frames": [""],
            "frames_without_signal": [""],
            "missing_voxels": [0],
            "status": ["ok"],
            "reason": [""],
        }
    ).to_csv(qc, index=False)
    outputs = FindingsOutputs(rst=tmp_path / "report" / "findings.rst", csv=tmp_path / "findings.csv")
    table = findings_stage(
        FindingsInputs(qc=(qc,)),
        outputs,
        **{"datasets": {dataset: "HCS plate"}, **kwargs},
        models={"classical": "classical sampling"},
        sources={"qc": [dataset]},
    )
    return table, outputs.rst.read_text()


def test_still_images_and_unscored_imported_tracks_get_a_line_not_a_number(tmp_path):
    """A dataset of one time point has no smoothness nor DTW line but one saying they are not computed;
    imported tracks without ground truth get a tracking line saying they are not scored."""
    table, page = _first_page_of_one_fov(
        tmp_path,
        "fixed",
        1,
        datasets={"fixed": "HCS plate fixed.zarr, tracks imported"},
        still=["fixed"],
        unscored={"fixed": ["imported_tracks"]},
    )
    statements = dict(zip(table["topic"], table["statement"], strict=False))
    assert "not computed: one time point" in statements["smoothness"]
    assert "not scored: no ground truth" in statements["tracking"]
    assert not any(char.isdigit() for char in statements["smoothness"] + statements["tracking"])
    assert "not computed: one time point" in page and "not scored: no ground truth" in page


def test_a_dataset_without_ground_truth_says_which_image_stages_ran_unscored(tmp_path):
    """A plate of one's own that ran phase, virtual staining and ultrack's tracking: the first page
    said nothing of its image stages (and, with no simulated dataset, had no image section at all).
    It now says what ran and that none of it is scored, never a number."""
    table, page = _first_page_of_one_fov(
        tmp_path,
        "wells",
        5,
        unscored={"wells": ["phase", "virtual_stain", "tracking"]},
    )
    (line,) = table[table["section"] == "Image stages"].itertuples(index=False)
    assert (line.dataset, line.topic) == ("wells", "image stages")
    assert line.statement == (
        "Phase reconstructed, nuclei virtually stained and cells tracked by ultrack, not scored: no "
        "ground truth (phase, virtual staining and detection, linking and divisions are scored only on "
        "a simulated dataset)."
    )
    assert "Image stages\n------------" in page and "not scored: no ground truth" in page
    # phase: null and imported tracks: only what ran is named
    (imported,) = image_findings({}, {}, {}, unscored={"own": ["virtual_stain", "imported_tracks"]})
    assert imported.statement.startswith("Nuclei virtually stained and tracks imported, not scored")
    assert "phase" not in imported.statement.replace("virtual staining", "")
    with pytest.raises(ValueError, match=r"unscored\['own'\]: unknown image stage\(s\) \['segmentation'\]"):
        image_findings({}, {}, {}, unscored={"own": ["segmentation"]})


def test_classifiers_unscored_for_one_reason_state_it_once_naming_every_model():
    """Every fold of a plate's two annotated FOVs held one class: no model's F1 is computed. The line
    repeated the job's long reason once per model (three times with the baselines); it now names the
    models once, before the reason, and claims no value."""
    reason = single_class_folds("infection", task_classes("infection"), 2)
    models = ["mine", "random_weights", "engineered_features"]
    table = pd.DataFrame(
        {
            "model": models,
            "dataset": ["wells"] * 3,
            "f1_infection": [np.nan] * 3,
            "f1_infection_ci_low": [np.nan] * 3,
            "f1_infection_ci_high": [np.nan] * 3,
            "f1_infection_n_test": [0] * 3,
            "f1_infection_n_test_positive": [0] * 3,
            "f1_infection_not_computed": [reason] * 3,
        }
    )
    (line,) = classifier_findings(table)
    assert line.statement == (
        "F1 of a linear classifier on held-out FOVs not computed: mine, random_weights and "
        f"engineered_features: {reason}."
    )
    # models whose reasons differ keep one each
    other = table.assign(f1_infection_n_test=[0, 4, 4], f1_infection_not_computed=[reason, "", ""])
    (line,) = classifier_findings(other)
    assert line.statement.count(reason) == 1
    assert "random_weights and engineered_features: the 4 scored annotated observations hold no infected" in (
        line.statement
    )


@pytest.mark.parametrize("event", ["infection", "division"])
def test_a_dataset_aligned_without_true_onsets_names_only_what_would_give_this_events_truth(event):
    """The unscored DTW line's reason read "a dataset without ground truth, nor for divisions imported
    tracks whose lineage states them, or none of whose lineages passes through the event" whatever
    the event: aligned on infection, divisions and imported lineages are no reason."""
    (found,) = dtw_findings(_accuracy({"mine": [np.nan] * 3}), event=event)
    if event == "infection":
        assert (
            "no lineage has a true infection onset observed inside its frames (a dataset without ground "
            "truth, or one none of whose lineages passes through the onset)"
        ) in found.statement
        assert "division" not in found.statement and "imported" not in found.statement
    else:
        assert (
            "no lineage has a true division observed inside its frames (a dataset with neither ground "
            "truth nor imported tracks whose lineage states its divisions, or one none of whose lineages "
            "passes through a division)"
        ) in found.statement


def test_an_analysis_run_on_no_dataset_gets_one_line_on_the_first_page(tmp_path):
    """No model had an infection classifier and DTW aligned no dataset: the report had no section of
    either and the first page said nothing of them. Each now gets one line saying why."""
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["analysis"]["classification"]["tasks"] = ["division"]
    config = WorkflowConfig.model_validate(cfg)
    not_run = {
        "infection classifier": config.infection_unclassified(),
        "pseudo-time": config.dtw_not_run({name: 1 for name in config.datasets}, {}),
    }
    table, page = _first_page_of_one_fov(tmp_path, "plate", 5, not_run=not_run)
    statements = dict(zip(table["topic"], table["statement"], strict=False))
    # infection left out of the tasks is the run's scope, not a missing result (a division-only plate)
    assert statements["infection classifier"] == (
        "Infection is not a task of this run (infection is not in analysis.classification.tasks): no "
        "infection classifier or column."
    )
    assert statements["pseudo-time"] == (
        "DTW pseudo-time not computed on any dataset: every embedded dataset has one time point."
    )
    assert "Infection is not a task of this run" in page and "Infection classifier not computed" not in page
    # an analysis that runs somewhere has no such line
    assert not_run_findings({"infection classifier": "", "pseudo-time": ""}) == []


def test_the_infection_line_names_the_embedded_training_datasets_and_an_unembedded_annotated_one():
    """train_on [demo, demo_15min]; demo annotated for division only, demo_15min for infection but
    embedded by no model: the line said "no dataset classifiers train on (demo, demo_15min) has
    infection annotations" while demo_15min has them (classifiers read embeddings: only demo's are
    fitted). It names the embedded ones, and demo_15min apart with what to set; with none embedded
    it says so rather than "(none)"."""
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    del cfg["contrastive_models"]["viscy_fixture"]
    for model in cfg["contrastive_models"].values():
        model["embed_datasets"] = ["demo"]
    cfg["analysis"]["classification"].update(train_on=["demo", "demo_15min"], apply_to=None)
    cfg["datasets"]["demo"]["annotations"]["tasks"] = ["division"]
    cfg["datasets"]["demo_15min"]["annotations"]["tasks"] = ["infection"]
    line = WorkflowConfig.model_validate(cfg).infection_unclassified()
    assert line.startswith(
        "no dataset classifiers train on (demo) has infection annotations, and no imported infection "
        "classifier applies; demo_15min has infection annotations but no contrastive model embeds it: "
        "name it in a model's embed_datasets"
    )
    cfg["analysis"]["classification"]["train_on"] = ["demo_15min"]
    cfg["analysis"]["occlusion"]["enabled"] = False  # it needs an embedded training dataset
    line = WorkflowConfig.model_validate(cfg).infection_unclassified()
    assert line.startswith("classifiers train on no dataset a contrastive model embeds, and no imported")
    assert "(none)" not in line and "; demo_15min has infection annotations" in line


def test_a_withheld_classifier_interval_is_quoted_with_its_reason():
    """Where the classification table says why a CI is withheld (``f1_*_ci_missing``), the line quotes
    the reason, shortened, instead of a bare "no confidence interval computed"."""
    from dynaclr.classify.evaluate import bootstrap_interval

    replicates = np.r_[np.full(36, np.nan), np.linspace(0.8, 0.9, 164)]
    withheld = bootstrap_interval(replicates, 0.95)
    assert np.isnan(withheld.low) and withheld.missing.startswith("undefined in 36 of 200")
    table = _f1_table((np.nan, np.nan)).assign(f1_infection_ci_missing=[withheld.missing, "", ""])
    (f1,) = classifier_findings(table)
    assert "time_aware 0.950 (no confidence interval: undefined in 36 of 200 bootstrap replicates)" in (
        f1.statement
    )
    assert "over the" not in f1.statement and "resamples without" not in f1.statement
    unexplained = classifier_findings(_f1_table((np.nan, np.nan)))[0].statement
    assert "time_aware 0.950 (no confidence interval computed)" in unexplained
    none_drawn = bootstrap_interval(np.array([]), 0.95).missing
    (zero,) = classifier_findings(table.assign(f1_infection_ci_missing=[none_drawn, "", ""]))
    assert "(no confidence interval: no bootstrap replicate drawn (n_bootstrap 0))" in zero.statement


def test_a_movie_without_adjacent_frames_gets_a_line_saying_why_and_what_to_check(tmp_path):
    """The results table says (temporal_not_computed, from the run's temporal_metrics.csv) that a movie's
    tracks never hold two adjacent frames: the first page gets one line for that dataset naming the
    reason with its counts and what to check, and none for the still dataset beyond its own line."""
    qc = tmp_path / "qc.csv"
    pd.DataFrame(
        {
            "fov_name": ["A/1/0"],
            "stage": ["patches"],
            "n_frames": [12],
            "n_dropped_frames": [0],
            "dropped_frames": [""],
            "frames_without_signal": [""],
            "missing_voxels": [0],
            "status": ["ok"],
            "reason": [""],
        }
    ).to_csv(qc, index=False)
    reason = "no track spans two frames (96 tracks, 96 cells, 12 frames)"
    results = tmp_path / "results_table.csv"
    pd.DataFrame(
        {
            "model": ["classical", "engineered_features", "classical"],
            "dataset": ["unlinked", "unlinked", "fixed"],
            "temporal_not_computed": [reason, reason, "one time point"],
            "smoothness": [np.nan] * 3,
        }
    ).to_csv(results, index=False)
    outputs = FindingsOutputs(rst=tmp_path / "report" / "findings.rst", csv=tmp_path / "findings.csv")
    table = findings_stage(
        FindingsInputs(qc=(qc,), results_table=results),
        outputs,
        datasets={"unlinked": "HCS plate unlinked.zarr", "fixed": "HCS plate fixed.zarr"},
        models={"classical": "classical sampling"},
        sources={"qc": ["unlinked"]},
        still=["fixed"],
    )
    lines = table[table["topic"] == "smoothness"].set_index("dataset")["statement"]
    assert sorted(lines.index) == ["fixed", "unlinked"]
    assert f"not computed: {reason}" in lines["unlinked"]
    assert "linking" in lines["unlinked"] and "frame interval" in lines["unlinked"]
    assert "not computed: one time point" in lines["fixed"]
    assert f"not computed: {reason}" in outputs.rst.read_text()


def test_a_reason_not_to_compute_is_said_only_of_what_it_concerns():
    """A two-frame movie's "no track spans three frames" concerns the track-pair smoothness (the
    paper's is measured); a movie without adjacent frames, the smoothness and dynamic range of both
    definitions. Neither speaks for the DTW pseudo-time (planned or not on the dataset, aligned or not)."""
    from dynaclr.evaluation.temporal import NO_TRACK_SPANS_THREE_FRAMES
    from dynaclr.figures.findings import unlinked_movie_findings

    three = f"{NO_TRACK_SPANS_THREE_FRAMES} (40 tracks, 80 cells, 2 frames)"
    adjacent = "no track spans two frames (96 tracks, 96 cells, 12 frames)"
    table = pd.DataFrame(
        {
            "model": ["m", "m", "m"],
            "dataset": ["two_frames", "unlinked", "fixed"],
            "temporal_not_computed": ["", adjacent, "one time point"],
            "track_pairs_not_computed": [three, adjacent, "one time point"],
        }
    )
    lines = {f.dataset: f.statement for f in unlinked_movie_findings(table)}
    assert sorted(lines) == ["two_frames", "unlinked"]
    assert lines["two_frames"].startswith(
        f"Smoothness and dynamic range of track pairs not computed: {three}"
    )
    assert "paper's definition (random pairs over all cells) is measured" in lines["two_frames"]
    assert lines["unlinked"].startswith(f"Smoothness and dynamic range not computed: {adjacent}")
    assert not any("DTW" in line for line in lines.values())


def test_the_dtw_error_is_defined_as_the_absolute_error_the_statements_report():
    """TERMS defined the DTW error as signed ("minus the true one") while every statement reports
    mean |aligned − true|."""
    from dynaclr.figures.findings import TERMS

    meaning = dict(TERMS)["pseudo-time"]
    assert "minus" not in meaning and "|aligned − true|" in meaning


@pytest.mark.parametrize(
    ("fovs", "r", "expected"),
    [
        # one FOV without r (a constant image): the pooled value kept, the FOV counted and said
        (
            ["A/1/0", "A/1/1", "all"],
            [np.nan, 0.8, 0.9],
            "0.900, 2 FOVs pooled (1 FOV with r, 0.800; 1 FOV without r)",
        ),
        # every FOV without r: the pooled value, no range of NaNs
        (["A/1/0", "A/1/1", "all"], [np.nan, np.nan, 0.9], "0.900, 2 FOVs pooled (2 FOVs without r)"),
        # no pooled row: the mean of the FOVs with r, the others counted
        (
            ["A/1/0", "A/1/1", "A/1/2"],
            [0.7, np.nan, 0.9],
            "0.800, mean of 2 FOVs (per FOV 0.700 to 0.900; 1 FOV without r)",
        ),
        (["A/1/0", "A/1/1"], [np.nan, np.nan], "not computed (2 FOVs without r)"),
    ],
)
def test_fovs_without_r_are_counted_and_the_pooled_value_kept(fovs, r, expected):
    """One FOV's r NaN beside a pooled row read "0.800 (1 FOV)", the pooled 0.9 dropped; every FOV's NaN
    read "0.900, 0 FOVs pooled (per FOV nan to nan)"."""
    (finding,) = image_findings({"d": pd.DataFrame({"fov_name": fovs, "pearson_r": r})}, {}, {})
    assert finding.statement.endswith(f"Pearson r (1 is perfect): {expected}.")


def test_a_phase_tables_pooled_row_is_not_counted_as_a_fov():
    """phase.csv ends with a row ``all`` pooling every voxel: it was averaged in with the FOVs and counted
    in their range (one FOV read "0.800 (FOVs 0.800–0.800)", as if several FOVs agreed)."""
    one = pd.DataFrame({"fov_name": ["A/1/0", "all"], "pearson_r": [0.8, 0.8]})
    two = pd.DataFrame({"fov_name": ["A/1/0", "A/1/1", "all"], "pearson_r": [0.8, 0.9, 0.82]})
    (single,) = image_findings({"d": one}, {}, {})
    assert single.statement.endswith("Pearson r (1 is perfect): 0.800 (1 FOV).")
    (pooled,) = image_findings({"d": two}, {}, {})
    # the pooled value (not 0.840, the mean of the FOVs and the pooled row) and the FOVs' own range
    assert "Pearson r (1 is perfect): 0.820, 2 FOVs pooled (per FOV 0.800 to 0.900)." in pooled.statement


def test_intervals_are_stated_at_the_level_they_were_computed_at():
    """A run with confidence 0.9 had its intervals called "95 % CI" on the first page."""
    comparison = _comparison(-0.08, -0.02).assign(confidence=0.9)
    (smooth,) = smoothness_findings(comparison)
    assert "90 % CI 0.020 to 0.080" in smooth.statement and "95 %" not in smooth.statement
    (f1,) = classifier_findings(_f1_table((0.92, 0.98)), confidence=0.9)
    assert "time_aware 0.950 (90 % CI 0.920 to 0.980)" in f1.statement and "95 %" not in f1.statement
    page = findings_rst(findings_table([smooth, f1]))
    assert "95 %" not in page  # the page's header no longer states a level of its own


def test_an_interval_without_a_recorded_level_is_not_called_95_percent():
    """A level missing from the table (no column, or an empty value) was read as 95 %: the page now
    says it is not recorded."""
    comparison = _comparison(-0.08, -0.02)
    for table in (comparison.drop(columns="confidence"), comparison.assign(confidence=np.nan)):
        (smooth,) = smoothness_findings(table)
        assert "CI (level not recorded) 0.020 to 0.080" in smooth.statement
        assert "95 %" not in smooth.statement


def _one_fov_qc(tmp_path: Path) -> Path:
    """A ``qc.csv`` of one FOV, nothing dropped."""
    qc = tmp_path / "qc.csv"
    pd.DataFrame(
        {
            "fov_name": ["A/1/0"],
            "stage": ["phase"],
            "n_frames": [10],
            "n_dropped_frames": [0],
            "dropped_frames": [""],
            "frames_without_signal": [""],
            "missing_voxels": [0],
            "status": ["ok"],
            "reason": [""],
        }
    ).to_csv(qc, index=False)
    return qc


def test_a_temporal_comparison_made_before_the_level_column_is_refused_with_the_rule_to_rerun(tmp_path):
    qc = _one_fov_qc(tmp_path)
    old = tmp_path / "temporal_comparison.csv"
    _comparison(-0.08, -0.02).drop(columns="confidence").to_csv(old, index=False)
    outputs = FindingsOutputs(rst=tmp_path / "findings.rst", csv=tmp_path / "findings.csv")
    with pytest.raises(
        ArtifactError, match=r"temporal_comparison.csv: no 'confidence' column .*--forcerun temporal_metrics"
    ):
        findings_stage(
            FindingsInputs(qc=(qc,), temporal_comparison=old),
            outputs,
            datasets={"plate": "HCS plate x.zarr"},
            models={"time_aware": "time-aware sampling"},
            sources={"qc": ["plate"]},
        )
    assert not outputs.rst.exists()


def test_the_smoothness_compared_is_named_as_the_results_tables_track_pair_column():
    """The first page's "smoothness 0.264" is the track-pair variant, while the results table's
    "Smoothness (paper)" column beside it read 0.084 for the same model: the page names the variant and
    defines it, with the other terms a reader needs, at its top."""
    (found,) = smoothness_findings(_comparison(-0.08, -0.02))
    assert "track-pair smoothness 0.200 vs 0.250 (lower is smoother)" in found.statement
    page = findings_rst(findings_table([found]))
    html = publish_parts(page, writer="html", settings_overrides={"report_level": 2, "halt_level": 2})[
        "html_body"
    ]
    for term in ("FOV", "track-pair smoothness", "F1", "pseudo-time", "observation"):
        assert f"<em>{term}</em>: " in html
    assert "Smoothness, track pairs" in html


def test_the_dtw_error_names_its_event_and_is_given_in_hours_where_the_interval_is_known():
    """The DTW error was given in frames only, "|aligned − true onset|" of an unnamed event: 3.3 frames
    on a 15-min plate (0.82 h) read beside 0.34 frames on a 30-min one as if in the same unit."""
    table = _accuracy({"a": [1.0, 2.0, 3.0], "b": [5.0, 6.0, 7.0]})
    (division,) = dtw_findings(table, event="division", intervals_minutes={"plate": 15.0})
    assert "mean error of the division it places, |aligned − true| in frames of 15 min" in division.statement
    assert "a 2.000 frames = 0.50 h (95 % CI" in division.statement
    assert "clearly best at placing the division" in division.statement
    (unknown,) = dtw_findings(table, intervals_minutes={"plate": None})
    assert "infection onset" in unknown.statement and "frame interval not recorded" in unknown.statement
    assert " h " not in unknown.statement


def test_the_stage_reads_the_frame_interval_of_the_dtw_error_from_the_results_table(tmp_path):
    qc = _one_fov_qc(tmp_path)
    results = tmp_path / "results_table.csv"
    pd.DataFrame(
        {"model": ["a", "b"], "dataset": ["plate", "plate"], "time_interval_minutes": [30.0, 30.0]}
    ).to_csv(results, index=False)
    accuracy = tmp_path / "dtw_accuracy.csv"
    accuracy_table = _accuracy({"a": [1.0, 2.0, 3.0], "b": [5.0, 6.0, 7.0]})
    unread = [c for c in DTW_ACCURACY_COLUMNS if c not in accuracy_table.columns]  # not read by the page
    accuracy_table.assign(**dict.fromkeys(unread, 0)).assign(not_computed="").to_csv(accuracy, index=False)
    outputs = FindingsOutputs(rst=tmp_path / "findings.rst", csv=tmp_path / "findings.csv")
    table = findings_stage(
        FindingsInputs(qc=(qc,), results_table=results, dtw_accuracy=accuracy),
        outputs,
        datasets={"plate": "a plate"},
        models={"a": "x", "b": "y"},
        sources={"qc": ["plate"]},
        event="division",
    )
    (dtw,) = table.loc[table["topic"] == "pseudo-time", "statement"]
    assert (
        "the division it places, |aligned − true| in frames of 30 min" in dtw
        and "a 2.000 frames = 1.00 h" in dtw
    )


def test_an_interval_of_one_value_is_said_to_show_no_uncertainty():
    """A transferred infection F1 read "1.000 (95 % CI 1.000 to 1.000)" on 78 observations, as if the
    value were known exactly: an interval of one value now says so, with the sample it rests on."""
    table = pd.DataFrame(
        {
            "model": ["time_aware", "classical"],
            "dataset": ["d", "d"],
            "f1_infection": [1.0, 0.987],
            "f1_infection_ci_low": [1.0, 0.955],
            "f1_infection_ci_high": [1.0, 1.0],
            "f1_infection_n_test": [78, 78],
            "f1_infection_n_test_positive": [39, 39],
        }
    )
    (found,) = classifier_findings(table)
    assert (
        "time_aware 1.000 (95 % CI 1.000 to 1.000: every resample inside it gave 1.000; n = 78 "
        "observations: the interval cannot show the uncertainty)"
    ) in found.statement
    assert "classical 0.987 (95 % CI 0.955 to 1.000)." in found.statement  # an interval of two values
    assert found.statement.count("cannot show the uncertainty") == 1
    # the DTW error's, of lineages that all have the same error
    (dtw,) = dtw_findings(_accuracy({"a": [2.0, 2.0, 2.0], "b": [5.0, 6.0, 7.0]}))
    assert "every resample inside it gave 2.000; n = 3 lineages: the interval cannot show" in dtw.statement


def test_the_dtw_error_and_its_interval_are_the_results_tables():
    """The first page gave the DTW error an interval the results table did not show: the table now
    carries the same interval (one computation, dynaclr.pseudotime.stage.onset_error_summary) and
    shows it as its other columns do."""
    from dynaclr.figures.table import formatted_results_table, results_table

    accuracy = _accuracy({"a": [1.0, 2.0, 4.0, 3.0], "b": [5.0, 6.0, 9.0, 7.0]}).assign(
        has_observed_onset=lambda t: t["abs_onset_error_frames"].notna()
    )
    table = results_table(dtw_accuracy=accuracy).set_index("model")
    (found,) = dtw_findings(accuracy)
    for model in ("a", "b"):
        row = table.loc[model]
        assert row["dtw_n_lineages"] == 4  # the reference left out
        low, high = row["dtw_onset_mae_frames_ci_low"], row["dtw_onset_mae_frames_ci_high"]
        assert low < row["dtw_onset_mae_frames"] < high
        assert (
            f"{model} {row['dtw_onset_mae_frames']:.3f} frames (95 % CI {low:.3f} to {high:.3f})"
            in found.statement
        )
    shown = formatted_results_table(table.reset_index()).set_index("Model")["DTW onset error (frames) ↓"]
    row = table.loc["a"]
    assert shown["a"] == (
        f"2.500 [{row['dtw_onset_mae_frames_ci_low']:.3f}, {row['dtw_onset_mae_frames_ci_high']:.3f}] "
        "(n=4 lineages)"
    )


def test_models_are_described_in_plain_words():
    """The first page listed a model as "classical sampling, ntxent loss, convnext_atto, ..." and a
    test fixture as "contrastive model read from tests/data/viscy/contrastive_test_convnext.ckpt
    (viscy checkpoint)", as a real model: a trained model now reads in plain words, an imported one
    names its file and format."""
    from dynaclr.config.backbones import backbone_label
    from dynaclr.config.workflow import ContrastiveModelEntry

    def entry(**fields: object) -> ContrastiveModelEntry:
        training = {"patch_spec": "p", "sampling": "classical", **fields.pop("training", {})}  # type: ignore[dict-item]
        return ContrastiveModelEntry.model_validate({**fields, "training": training})

    trained = entry(
        train_datasets=["demo"],
        training={"sampling": "time_aware", "tau_frames": 1, "backbone": "convnext_atto", "epochs": 2},
    )
    assert trained.description() == (
        "contrastive model, time-aware sampling, NT-Xent loss, ConvNeXt-atto encoder, up to 2 epochs, "
        "trained on demo"
    )
    one_epoch = entry(train_datasets=["demo"], training={"epochs": 1})
    assert ", up to 1 epoch, trained on demo" in one_epoch.description()  # was "up to 1 epochs"
    imported = entry(
        checkpoint="tests/data/viscy/contrastive_test_convnext.ckpt",
        checkpoint_format="viscy",
        training={"backbone": "test_convnext"},
    )
    assert imported.description() == (
        "contrastive model, test_convnext encoder, imported from contrastive_test_convnext.ckpt "
        "(VisCy checkpoint)"
    )
    pretrained = entry(
        train=False,
        pretrained_weights="/w/model.safetensors",
        training={"backbone": "resnet50", "stem": "backbone", "projection_dim": 0},
    )
    assert pretrained.description() == (
        "pretrained ResNet-50 encoder used as is (no contrastive training), imported from "
        "model.safetensors (timm weights)"
    )
    assert [backbone_label(name) for name in ("convnextv2_tiny", "resnet50_gn", "test_convnext")] == [
        "ConvNeXtV2-tiny",
        "ResNet-50-gn",
        "test_convnext",
    ]


def test_names_that_look_like_numbers_or_missing_values_survive_the_csvs(tmp_path):
    """A dataset '01' and models '007' and 'NA' (names the config allows) go through
    temporal_metrics.csv, the results table and the first page as written: pandas would read them
    back as 1, 7 and missing, and the results table's join with the plan's pairs then failed."""
    reason = "no track spans two frames (4 tracks, 4 cells, 2 frames)"
    rows = []
    for model in ("007", "NA"):
        for definition in ("paper", "track_pairs"):
            row = dict.fromkeys(TEMPORAL_METRICS_COLUMNS, np.nan)
            computed = definition == "paper"
            row.update(model=model, dataset="01", representation="embedding", definition=definition)
            row.update(smoothness=0.4 if computed else np.nan, not_computed="" if computed else reason)
            rows.append(row)
    write_csv(pd.DataFrame(rows), tmp_path / "temporal.csv")
    pairs = [
        {"model": m, "dataset": "01", "distribution": "in", "trained_on": "01", "time_interval_minutes": 15.0}
        for m in ("007", "NA")
    ]
    names = ("csv", "html", "png", "svg")
    outputs = ResultsTableOutputs(**{n: tmp_path / f"results_table.{n}" for n in names})
    inputs = ResultsTableInputs(temporal_metrics=tmp_path / "temporal.csv")
    table = results_table_stage(inputs, outputs, pairs=pairs)
    expected = [["007", "01", "01"], ["NA", "01", "01"]]
    assert table[["model", "dataset", "trained_on"]].values.tolist() == expected
    assert (table["time_interval_minutes"] == 15.0).all()
    assert (table["track_pairs_not_computed"] == reason).all()
    qc = tmp_path / "qc.csv"
    qc_row = {
        "fov_name": "B/03/000",
        "stage": "phase",
        "n_frames": 2,
        "n_dropped_frames": 0,
        "dropped_frames": "",
        "frames_without_signal": "",
        "missing_voxels": 0,
        "status": "ok",
        "reason": "",
    }
    write_csv(pd.DataFrame([qc_row]), qc)
    findings = findings_stage(
        FindingsInputs(qc=(qc,), results_table=outputs.csv),
        FindingsOutputs(rst=tmp_path / "findings.rst", csv=tmp_path / "findings.csv"),
        datasets={"01": "HCS plate 01.zarr"},
        models={"007": "time-aware sampling", "NA": "classical sampling"},
        sources={"qc": ["01"]},
    )
    smoothness = findings[findings["topic"] == "smoothness"]
    assert smoothness["dataset"].tolist() == ["01"]
    assert f"not computed: {reason}" in smoothness["statement"].iloc[0]


def test_the_tracking_line_says_only_the_tracked_frames_were_scored(tmp_path):
    """Tracks imported from CTC folders made on part of the movie are scored on those frames only
    (evaluate_tracking records them as tracked_frames). Before: the first page gave DET and TRA as if
    the whole movie had been scored."""
    from dynaclr.io import make_provenance
    from dynaclr.io.plate import write_fov_record

    qc, tracking = tmp_path / "qc.csv", tmp_path / "tracking.csv"
    pd.DataFrame(
        {
            "fov_name": ["A/1/0"],
            "stage": ["tracking"],
            "n_frames": [12],
            "n_dropped_frames": [6],
            "dropped_frames": ["0;1;2;9;10;11"],
            "frames_without_signal": [""],
            "missing_voxels": [0],
            "status": ["reduced"],
            "reason": ["frames [0, 1, 2, 9, 10, 11] dropped (untracked)"],
        }
    ).to_csv(qc, index=False)
    pd.DataFrame(
        {
            "fov_name": ["A/1/0", "all"],
            "det": [1.0, 1.0],
            "tra": [1.0, 1.0],
            "division_precision": [1.0, 1.0],
            "division_recall": [1.0, 1.0],
            "n_reference_divisions": [2, 2],
        }
    ).to_csv(tracking, index=False)
    outputs = FindingsOutputs(rst=tmp_path / "report" / "findings.rst", csv=tmp_path / "findings.csv")
    statements = {}
    for tracked in ({"A/1/0": [3, 8]}, {}):
        record = tmp_path / f"tracking{len(tracked)}.json"
        metrics = {"fov_names": ["A/1/0"], **({"tracked_frames": tracked} if tracked else {})}
        write_fov_record(record, make_provenance("tracking_evaluation", {}), metrics)
        table = findings_stage(
            FindingsInputs(qc=(qc,), tracking=(tracking,), tracking_records=(record,)),
            outputs,
            datasets={"sim": "simulated plate"},
            models={},
            sources={"qc": ["sim"], "tracking": ["sim"]},
            imported_tracks=["sim"],
        )
        statements[len(tracked)] = dict(zip(table["topic"], table["statement"], strict=False))["tracking"]
    assert "scored on frames 3 .. 8 only" in statements[1], statements[1]
    assert "scored on" not in statements[0]
    with pytest.raises(ValueError, match="1 tracking file"):
        findings_stage(
            FindingsInputs(qc=(qc,), tracking=(tracking,), tracking_records=(record, record)),
            outputs,
            datasets={"sim": "simulated plate"},
            models={},
            sources={"qc": ["sim"], "tracking": ["sim"]},
        )


def test_each_datasets_import_warnings_follow_its_dataset_line_on_the_first_page():
    """Before, every import-warning line came after all model lines, far from its dataset's line."""
    from dynaclr.figures.findings import run_findings

    warned = pd.DataFrame(
        {"record": ["tracks import (a/tracks.parquet)"] * 2, "warning": ["frames from 1", "links not read"]}
    )
    clean = pd.DataFrame(
        {
            "record": ["tracks import (b/tracks.parquet)", "annotations import (b/annotations.parquet)"],
            "warning": ["no import warnings", "no position check (matched by track)"],
        }
    )
    found = run_findings(
        {"a": "plate a.zarr", "sim": "simulated", "b": "plate b.zarr"},
        {"m": "trained"},
        {},
        {"a": warned, "b": clean},
    )
    assert [(f.topic, f.dataset) for f in found] == [
        ("dataset", "a"),
        ("import warning", "a"),
        ("import warning", "a"),
        ("dataset", "sim"),
        ("dataset", "b"),
        ("import warnings", "b"),
        ("model", ""),
    ]
    assert found[1].statement == "frames from 1 (from the tracks import (a/tracks.parquet))."
    assert found[5].statement == (
        "No import warnings (annotations import (b/annotations.parquet): no position check (matched by "
        "track) and tracks import (b/tracks.parquet))."
    )


def test_a_dim_frame_beside_frames_without_signal_is_flagged_not_called_want_of_signal():
    """A tracking row reduced for frames without signal (0, 1) and a frame with signal but no nucleus
    segmented (5: nuclei below the FOV's threshold, ``frames_without_foreground`` only): the page
    counted the FOV among those "with frames without nuclei for want of signal" (frames that may hold
    no cell), while its cells at frame 5 were lost; it is now among the FOVs quality control flagged."""
    statement = _statement_of_two_reduced_tracking_rows(frames_without_foreground=["0;1;5", "0;1"])
    assert statement == ONE_FLAGGED_ONE_WITHOUT_SIGNAL


@pytest.mark.parametrize(
    ("precision", "recall", "det", "said"),
    [
        (
            np.nan,
            np.nan,
            0.98,
            "no division found and no true division: division precision and recall not defined",
        ),
        (
            0.0,
            np.nan,
            0.98,
            "of the divisions found 0% are real (precision); recall not defined (no true division)",
        ),
        (
            np.nan,
            0.0,
            0.98,
            "no division found (precision not defined) and 0% of the real ones found (recall)",
        ),
        (np.nan, np.nan, np.nan, "DET not defined (no true cell)"),
    ],
)
def test_the_tracking_line_never_prints_nan(precision, recall, det, said):
    """A simulated plate whose movie holds no division (tracking.csv's division precision and recall
    NaN: TrackingScores leaves them undefined without a found or a true division) read "of the
    divisions found nan% are real (precision) and nan% of the real ones are found (recall)"; the line
    now says which score is not defined and why."""
    tracking = pd.DataFrame(
        {
            "fov_name": ["A/1/0", "all"],
            "det": [det, det],
            "tra": [0.97, 0.97],
            "division_precision": [precision, precision],
            "division_recall": [recall, recall],
            "n_reference_divisions": [0, 0],
        }
    )
    (found,) = image_findings({}, {}, {"sim": tracking})
    assert "nan" not in found.statement.lower()
    assert said in found.statement


@pytest.mark.parametrize(
    "record",
    [
        # constant nuclear frames (empty_frames) are frames without foreground too: want of signal
        {"empty_frames": [2], "frames_without_signal": [0], "frames_without_foreground": [0, 2]},
        {"empty_frames": [2, 3], "frames_without_foreground": [2, 3]},
        # a dim frame (5) beside a constant one: cells lost there
        {"empty_frames": [2], "frames_without_foreground": [2, 5]},
        # a dropped frame that is also constant and without foreground: its drop reason only
        {
            "empty_frames": [1],
            "dropped_frames": [1],
            "frames_without_signal": [4],
            "frames_without_foreground": [1, 4],
        },
    ],
)
def test_the_page_and_the_tracking_job_agree_on_the_dim_frames(record: dict) -> None:
    """findings derives the dim frames (without foreground, neither dropped nor without signal) from
    qc.csv's columns, the tracking job (its WARNING and the QC reason) from the record, where constant
    nuclear frames (``empty_frames``) are left out too: qc.csv's ``frames_without_signal`` holds them,
    so a record listing its constant frames among those without foreground reads want of signal on
    both sides, and a dim frame beside them reads dim on both."""
    from dynaclr.figures.findings import _only_without_signal
    from dynaclr.io import ArtifactKind
    from dynaclr.qc.table import qc_row
    from dynaclr.tracking.engine import unflagged_frames_without_foreground

    metrics = {"n_frames": 8, "missing_voxels": 0, "dropped_frames": [], "fov_names": ["A/1/0"], **record}
    row = qc_row(ArtifactKind.TRACKS_FOV, Path("A/1/0.json"), metrics, "tracking")
    assert row["status"] == "reduced", row
    dim = unflagged_frames_without_foreground(metrics)
    signal_only = bool(_only_without_signal(pd.DataFrame([row])).iloc[0])
    assert signal_only == (not dim and not metrics["dropped_frames"]), (row, dim)
