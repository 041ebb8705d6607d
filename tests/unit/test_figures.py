"""Figures: each returns (Figure, caption) with the numbers; written to the paths given; results table."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT
from matplotlib.figure import Figure

from dynaclr.classify import draw_annotations, fit_and_evaluate
from dynaclr.config.analysis import (
    ALIGNED_EVENT_NAMES,
    AnnotationConfig,
    ClassificationConfig,
    PseudotimeConfig,
)
from dynaclr.config.embeddings import ProjectionConfig
from dynaclr.config.reasons import planned_f1_reasons
from dynaclr.config.workflow import WorkflowConfig
from dynaclr.embeddings import attach_ground_truth, build_anndata, project_matrix
from dynaclr.evaluation.temporal import adjacent_distances, dynamic_range, kde_peak, random_distances
from dynaclr.figures import (
    formatted_results_table,
    plot_distance_distributions,
    plot_infected_fraction,
    plot_projections,
    plot_pseudotime_accuracy,
    plot_results_table,
    results_table,
    results_table_html,
    save_figure,
)
from dynaclr.figures.curves import infected_fraction_over_time
from dynaclr.figures.table import unrun_tasks
from dynaclr.pseudotime.stage import align_embeddings
from dynaclr.pseudotime.synthetic import planted_infection_embeddings


@pytest.fixture(scope="module")
def planted() -> dict:
    features, truth = planted_infection_embeddings(
        n_fovs=4, tracks_per_fov=8, n_frames=20, noise=0.08, seed=3
    )
    return {"features": features, "truth": truth, "adata": build_anndata(features, truth)}


def _check(figure: object, caption: object) -> str:
    assert isinstance(figure, Figure)
    assert isinstance(caption, str) and len(caption) > 80 and "\n" not in caption
    return caption


def test_projections_coloured_by_time_infection_division(planted, tmp_path):
    coordinates, _ = project_matrix(planted["features"], ProjectionConfig(n_components=2))["pca"]
    cells = planted["truth"][["fov_name", "track_id", "t", "y", "x"]].assign(
        pca_1=coordinates[:, 0], pca_2=coordinates[:, 1]
    )
    cells = attach_ground_truth(cells, planted["truth"], ("infected", "mitosis"), on="track")
    np.testing.assert_array_equal(cells["infected"], planted["truth"]["infected"].astype(float))
    figure, caption = plot_projections(cells, title="planted")
    _check(figure, caption)
    assert len(figure.axes) == 4  # three panels and the time colour bar
    infected = int(planted["truth"]["infected"].sum())
    assert f"{infected} of {len(cells)} cells infected" in caption
    png, svg = tmp_path / "figures" / "projections.png", tmp_path / "figures" / "projections.svg"
    save_figure(figure, png, svg)
    assert sorted((tmp_path / "figures").iterdir()) == [png, svg]  # exactly the paths given
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:400]
    save_figure(figure, tmp_path / "only.svg")  # the suffix says the format; no PNG beside it
    assert sorted(path.name for path in tmp_path.iterdir()) == ["figures", "only.svg"]
    with pytest.raises(ValueError, match="coordinates"):
        plot_projections(cells.drop(columns=["pca_1", "pca_2"]))
    assert "separated infected/mitotic cells" in caption
    # a movie without annotations or ground truth: coloured by time only, so no infected or mitotic
    # cells are spoken of
    _, time_only = plot_projections(cells[["t", "pca_1", "pca_2"]], title="movie")
    assert "coloured by time." in time_only
    assert "infected" not in time_only and "mitotic" not in time_only
    assert "Smooth colour gradients along time indicate that the embedding encodes time." in time_only


def test_distance_distributions_mark_the_kde_peaks(planted):
    figure, caption = plot_distance_distributions(
        planted["features"], planted["truth"], seed=0, label="planted"
    )
    _check(figure, caption)
    lines = [line for line in figure.axes[0].lines if line.get_linestyle() == "--"]
    peaks = sorted(float(line.get_xdata()[0]) for line in lines)
    adjacent = adjacent_distances(planted["features"], planted["truth"])["distance"]
    random = random_distances(planted["features"], planted["truth"], rng=0)["distance"]
    assert peaks == pytest.approx(sorted([kde_peak(adjacent), kde_peak(random)]))
    assert f"{dynamic_range(adjacent, random):.3f}" in caption
    # the title's values are the track-pair variant, not those of the results table's "(paper)" columns
    assert figure.axes[0].get_title().startswith("planted\ntrack-pair smoothness ")
    assert "'Smoothness, track pairs'), not the paper's smoothness and dynamic range" in caption
    upper = figure.axes[0].get_xlim()[1]
    both = np.concatenate([adjacent, random])
    assert upper <= np.quantile(both, 0.995) * 1.05 * 1.1  # the axis ends near the 99.5th percentile
    beyond = int((both > np.quantile(both, 0.995) * 1.05).sum())
    assert (f"{beyond} pairs beyond" in caption) == (beyond > 0)


def test_the_distance_figure_title_is_read_whole(planted):
    """With a long model and dataset name the one-line title ran past the figure's right edge: the
    demo's engineered_features figure read "dynamic range 0" for 0.064. The values now have a line
    of their own, inside the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    label = "engineered_features, demo_15min"
    figure, _ = plot_distance_distributions(planted["features"], planted["truth"], seed=0, label=label)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    title = figure.axes[0].title
    box, page = title.get_window_extent(canvas.get_renderer()), figure.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1, (box, page)
    adjacent = adjacent_distances(planted["features"], planted["truth"])["distance"]
    random = random_distances(planted["features"], planted["truth"], rng=0)["distance"]
    assert title.get_text().endswith(f"dynamic range {dynamic_range(adjacent, random):.3f}")


def test_projections_name_the_ground_truth_in_a_biologists_words(planted):
    """The ground truth's panels were titled "infected" and "mitosis", beside "predicted infection",
    with legends "infected=False", "infected=True" and "unmatched": nothing said they were the
    ground truth. They are titled as such, their states named as the predictions' are."""
    coordinates, _ = project_matrix(planted["features"], ProjectionConfig(n_components=2))["pca"]
    cells = planted["truth"][["fov_name", "track_id", "t"]].assign(
        pca_1=coordinates[:, 0],
        pca_2=coordinates[:, 1],
        infected=planted["truth"]["infected"].astype(float).where(planted["truth"]["t"] > 0),
        mitosis=planted["truth"]["mitosis"].astype(float),
    )
    figure, _ = plot_projections(cells)
    panels = {ax.get_title(): ax for ax in figure.axes if ax.get_title()}
    assert set(panels) == {"PC: time (frame)", "PC: infection, ground truth", "PC: division, ground truth"}
    legends = {
        title: [text.get_text() for text in ax.get_legend().get_texts()]
        for title, ax in panels.items()
        if ax.get_legend() is not None
    }
    assert legends == {
        "PC: infection, ground truth": ["no ground-truth match", "uninfected", "infected"],
        "PC: division, ground truth": ["interphase", "mitosis"],
    }


def test_a_division_only_dataset_draws_no_infection_panel(planted):
    """A division-only plate (simulated without infection, classified for division) drew an
    "infection, ground truth" panel all "uninfected": a biologist read it as a missing result. A
    state no ground-truth cell is in, whose task no classifier ran, is left out and the caption says
    which tasks were shown; with one infected cell, or an infection classifier, the panel stays."""
    coordinates, _ = project_matrix(planted["features"], ProjectionConfig(n_components=2))["pca"]
    truth = planted["truth"]
    division_only = truth[["fov_name", "track_id", "t"]].assign(
        pca_1=coordinates[:, 0],
        pca_2=coordinates[:, 1],
        infected=0.0,
        mitosis=truth["mitosis"].astype(float),
        predicted_division=np.where(truth["mitosis"], "mitosis", "interphase"),
    )
    figure, caption = plot_projections(division_only, title="divplate")
    titles = {ax.get_title() for ax in figure.axes if ax.get_title()}
    assert titles == {"PC: time (frame)", "PC: predicted division", "PC: division, ground truth"}
    assert "infected" not in caption.split(". Tasks:")[0] and "separated mitotic cells" in caption
    # the figure knows its data, not the run's tasks (a classifier transferred from another dataset
    # predicts it in another file): the caption says what it was given, not that the task is absent
    assert caption.endswith(
        "Tasks: division; no infection panel: no cell of this dataset's ground truth is infected and "
        "no infection predictions were given to this figure."
    )
    # an infection plate where no cell is infected, but an infection classifier ran: kept
    classified = division_only.assign(predicted_infection="uninfected")
    figure, caption = plot_projections(classified)
    assert "PC: infection, ground truth" in {ax.get_title() for ax in figure.axes}
    assert "Tasks:" not in caption
    # one infected cell in the ground truth: kept
    one = division_only.assign(infected=np.where(np.arange(len(division_only)) == 0, 1.0, 0.0))
    figure, _ = plot_projections(one)
    assert "PC: infection, ground truth" in {ax.get_title() for ax in figure.axes}


def test_a_conditions_colour_is_not_confused_with_the_infected_state(planted):
    """The demo's condition panel drew "mock" in tab10's red beside "infected" in the states' orange:
    the two read as one colour. The first four other labels' hues are now far from both states'."""
    from matplotlib.colors import rgb_to_hsv, to_rgb

    coordinates, _ = project_matrix(planted["features"], ProjectionConfig(n_components=2))["pca"]
    conditions = ["infected", "mock", "drug_a", "drug_b", "drug_c"]
    cells = planted["truth"][["t"]].assign(
        pca_1=coordinates[:, 0],
        pca_2=coordinates[:, 1],
        condition=[conditions[k % len(conditions)] for k in range(len(coordinates))],
    )
    figure, _ = plot_projections(cells)
    (ax,) = [ax for ax in figure.axes if ax.get_title() == "PC: condition"]
    hues = {str(c.get_label()): float(rgb_to_hsv(to_rgb(c.get_facecolor()[0]))[0]) for c in ax.collections}
    states = [hues["infected"], float(rgb_to_hsv(to_rgb("#4c72b0"))[0])]
    for label, hue in hues.items():
        if label != "infected":
            assert all(min(abs(hue - s), 1 - abs(hue - s)) > 0.1 for s in states), (label, hue, states)


def test_a_condition_has_one_colour_in_the_projections_and_the_infected_fraction(planted):
    """The infected-fraction plot drew the condition "infected" in blue (C0) and "mock" in orange
    (C1), while the projections drew "infected" in the states' orange and "mock" in green: one
    condition read as two colours across the report. Both now take plots.label_colors."""
    from matplotlib.colors import to_rgba

    conditions = ["mock", "infected", "drug_a"]
    coordinates, _ = project_matrix(planted["features"], ProjectionConfig(n_components=2))["pca"]
    cells = planted["truth"][["t"]].assign(
        pca_1=coordinates[:, 0],
        pca_2=coordinates[:, 1],
        condition=[conditions[k % len(conditions)] for k in range(len(coordinates))],
    )
    figure, _ = plot_projections(cells, color_columns=("condition",))
    (ax,) = [ax for ax in figure.axes if ax.get_title() == "PC: condition"]
    projected = {str(c.get_label()): to_rgba(c.get_facecolor()[0]) for c in ax.collections}
    curves = pd.DataFrame(
        {
            "condition": np.repeat(conditions, 3),
            "t": np.tile([0, 1, 2], 3),
            "time_minutes": np.tile([0.0, 30.0, 60.0], 3),
            "predicted_fraction": 0.5,
            "true_fraction": 0.4,
            "n_cells_predicted": 10,
            "n_cells_true": 10,
        }
    )
    figure, _ = plot_infected_fraction(curves, task="infection")
    lines = {str(line.get_label()): to_rgba(line.get_color()) for line in figure.axes[0].lines}
    assert set(projected) == set(conditions)
    for condition in conditions:
        drawn = (lines[f"{condition} truth"], lines[f"{condition} classify and count"])
        assert drawn == (projected[condition], projected[condition]), condition
    assert projected["infected"] == to_rgba("#dd8452")  # the infected state's orange


def test_a_conditions_colour_is_a_function_of_its_name_within_the_run():
    """A condition's colour was its place among the labels one figure held: "mock" green in a
    dataset with conditions mock and zika, purple in one with drug_a and mock; beyond six
    conditions colours repeated. Given the run's conditions (the workflow passes them to every
    figure), the colour depends on them alone; twelve conditions get twelve colours, none a state's."""
    from matplotlib.colors import to_rgba

    from dynaclr.figures.plots import label_colors

    run = ["zika", "mock", "drug_a", "infected"]
    one = label_colors(["mock", "zika"], run)
    other = label_colors(["drug_a", "mock"], run)
    assert one["mock"] == other["mock"]
    assert label_colors(["mock"])["mock"] != label_colors(["drug_a", "mock"])["mock"]  # without the run's
    curves = pd.DataFrame(
        {
            "condition": ["mock", "mock"],
            "t": [0, 1],
            "predicted_fraction": 0.5,
            "true_fraction": 0.0,
            "n_cells_predicted": 10,
            "n_cells_true": 0,
        }
    )
    figure, _ = plot_infected_fraction(curves, conditions=run, task="infection")
    (line,) = figure.axes[0].lines
    assert to_rgba(line.get_color()) == to_rgba(other["mock"])
    many = [f"condition_{k:02d}" for k in range(12)]
    colors = label_colors(many, many)
    states = {to_rgba("#4c72b0"), to_rgba("#dd8452")}
    assert len({to_rgba(c) for c in colors.values()}) == 12
    assert not {to_rgba(c) for c in colors.values()} & states


def test_infected_fraction_figure(planted):
    """The caption states the predictions, labelled and ground-truth cells each condition's curves
    rest on (it gave the fractions alone)."""
    annotations = draw_annotations(planted["truth"], AnnotationConfig(seed=0))
    predictions = fit_and_evaluate(
        planted["adata"], annotations, "infection", ClassificationConfig(n_bootstrap=0)
    ).predictions
    curves = infected_fraction_over_time(predictions, planted["truth"])
    figure, caption = plot_infected_fraction(curves, label="planted")
    _check(figure, caption)
    # per condition: truth (solid), classify and count (dashed), adjusted classify and count (dash-dot)
    lines = {str(line.get_label()): line.get_linestyle() for line in figure.axes[0].lines}
    assert len(lines) == 3 * curves["condition"].nunique()
    for condition in curves["condition"].unique():
        assert lines[f"{condition} truth"] == "-" and lines[f"{condition} classify and count"] == "--"
        assert lines[f"{condition} adjusted (ACC)"] == "-."
    assert "mock" in caption and "infected" in caption
    assert "classify and count, dashed" in caption and "adjusted classify and count, ACC, dash-dot" in caption
    tpr, fpr = curves["true_positive_rate"].iloc[0], curves["false_positive_rate"].iloc[0]
    assert f"error rates TPR {tpr:.3f}, FPR {fpr:.3f}, measured on its labelled cells out of fold" in caption
    for condition, group in curves.groupby("condition"):
        error = (group["adjusted_fraction"] - group["true_fraction"]).abs().mean()
        assert f"{condition} {error:.3f}" in caption.split("; adjusted (ACC) ")[1].split(". ")[0]
    rows = predictions[predictions["task"] == "infection"]
    annotated = rows[rows["annotated"]]
    assert curves["n_cells_annotated"].sum() == len(annotated) > 0
    assert curves["n_cells_annotated_positive"].sum() == (annotated["annotation_label"] == "infected").sum()
    for condition, group in curves.groupby("condition"):
        per_frame = group["n_cells_predicted"]
        expected = (
            f"{condition}: {per_frame.sum():,} predictions "
            f"({per_frame.min():,}–{per_frame.max():,} per frame), "
            f"{group['n_cells_annotated'].sum():,} labelled ({group['n_cells_annotated_positive'].sum():,} "
            f"infected), {group['n_cells_true'].sum():,} ground-truth cells"
        )
        assert expected in caption


def test_cells_without_a_call_are_left_out_of_the_fraction_and_counted(planted):
    """A cell whose probability is not finite (NaN embeddings) has no ``predicted_label``: the
    counted fraction took it as not infected while keeping it in the denominator (2 infected calls
    of 4 cells, 2 without a call, read 0.5 instead of 1.0). It is left out of both, counted in
    ``n_cells_without_call`` and named in the caption; a frame without any call has no fraction."""
    predictions = pd.DataFrame(
        {
            "task": "infection",
            "t": [0, 0, 0, 0, 1, 1],
            "time_minutes": [0.0, 0.0, 0.0, 0.0, 30.0, 30.0],
            "condition": "infected",
            "predicted_label": ["infected", "infected", None, np.nan, None, None],
        }
    )
    curves = infected_fraction_over_time(predictions, None).set_index("t")
    assert curves.loc[0, "predicted_fraction"] == 1.0
    assert (curves.loc[0, "n_cells_predicted"], curves.loc[0, "n_cells_without_call"]) == (2, 2)
    assert np.isnan(curves.loc[1, "predicted_fraction"]) and curves.loc[1, "n_cells_predicted"] == 0
    assert curves.loc[1, "n_cells_without_call"] == 2
    _, caption = plot_infected_fraction(curves.reset_index(), label="m, plate", task="infection")
    assert "infected 1.00 of 2 cells" in caption
    left_out = "4 cells without a call (no finite probability) left out"
    assert f"infected: 2 predictions (0–2 per frame), {left_out}" in caption
    # the classifier's own predictions of cells with NaN embeddings, against the ground truth
    from dynaclr.classify.evaluate import apply_and_evaluate

    annotations = draw_annotations(planted["truth"], AnnotationConfig(seed=0))
    config = ClassificationConfig(n_bootstrap=0)
    classifier = fit_and_evaluate(planted["adata"], annotations, "infection", config).classifier
    adata = planted["adata"].copy()
    adata.X = np.asarray(adata.X, dtype=np.float32).copy()
    blanked = np.flatnonzero((planted["truth"]["t"] == 15).to_numpy())[::2]
    adata.X[blanked] = np.nan
    _, applied = apply_and_evaluate(adata, classifier, annotations, config)
    assert applied["predicted_label"].isna().sum() == len(blanked)
    curves = infected_fraction_over_time(applied, planted["truth"])
    called = applied[applied["predicted_label"].notna()]
    expected = (called["predicted_label"] == "infected").groupby([called["condition"], called["t"]]).mean()
    counted = curves.set_index(["condition", "t"])
    np.testing.assert_allclose(counted["predicted_fraction"], expected.loc[counted.index])
    assert counted["n_cells_without_call"].sum() == len(blanked)
    assert (counted["n_cells_predicted"] + counted["n_cells_without_call"] == counted["n_cells_true"]).all()


def test_the_fraction_plot_is_labelled_by_the_task_its_curves_count():
    """The fraction curves of task ``division`` (mitotic cells) were drawn labelled "infected
    fraction" / "fraction of infected cells": the plot now labels the curves by the task they carry
    (``attrs['task']``, or ``task=``), and refuses curves that do not say their task or say another."""
    predictions = pd.DataFrame(
        {
            "task": "division",
            "t": [0, 0, 1, 1],
            "condition": "mock",
            "predicted_label": ["mitosis", "interphase", "interphase", "interphase"],
            "annotated": [True, False, False, False],
            "annotation_label": ["mitosis", None, None, None],
        }
    )
    truth = pd.DataFrame({"condition": "mock", "well": "A/1", "t": [0, 1], "mitosis": [True, False]})
    curves = infected_fraction_over_time(predictions, truth, task="division")
    figure, caption = plot_infected_fraction(curves, label="planted")
    assert figure.axes[0].get_ylabel() == "mitotic fraction"
    assert "fraction of mitotic cells over time" in caption and "(1 mitotic)" in caption
    assert "infected" not in caption
    figure, caption = plot_infected_fraction(curves, task="division")
    assert figure.axes[0].get_ylabel() == "mitotic fraction"
    untold = pd.DataFrame(curves.to_dict("list"))  # read back from a CSV: no attrs
    with pytest.raises(ValueError, match="fraction curves do not say their task"):
        plot_infected_fraction(untold)
    figure, caption = plot_infected_fraction(untold, task="infection")
    assert figure.axes[0].get_ylabel() == "infected fraction" and "fraction of infected cells" in caption
    with pytest.raises(ValueError, match=r"curves of task 'division' .* task='infection'"):
        plot_infected_fraction(curves, task="infection")
    with pytest.raises(ValueError, match="unknown task 'death'"):
        plot_infected_fraction(untold, task="death")


def test_pseudotime_accuracy_figure(planted):
    truth = planted["truth"]
    pseudotime, accuracy, *_ = align_embeddings(
        planted["adata"],
        PseudotimeConfig(),
        truth["infected"].to_numpy(dtype=float),
        truth["infection_onset_t"].to_numpy(dtype=float),
        show_progress=False,
    )
    figure, caption = plot_pseudotime_accuracy(pseudotime, accuracy, label="planted")
    _check(figure, caption)
    # the reference, aligned to itself, is left out (as in the results table and the first page)
    assert accuracy.loc[accuracy["is_reference_series"], "has_observed_onset"].any()
    observed = accuracy[accuracy["has_observed_onset"] & ~accuracy["is_reference_series"]]
    assert f"mean |error| {observed['abs_onset_error_frames'].mean():.2f} frames" in caption
    assert f"for {len(observed)} lineages" in caption
    assert "since the infection onset" in caption
    # aligned on division (analysis.pseudotime.event): the caption names the event the run aligned on
    _, division = plot_pseudotime_accuracy(pseudotime, accuracy, label="planted", event="division")
    assert "since the division" in division and "infection" not in division


def test_the_dtw_error_histogram_counts_lineages_in_whole_numbers():
    """With a few lineages per bin the count axis read 0.5, 1.5, 2.5 lineages; its ticks are whole."""
    errors = [-2.0, 0.0, 0.0, 1.0, 3.0]
    accuracy = pd.DataFrame(
        {
            "fov_name": "A/1/0",
            "query_id": range(5),
            "true_onset_t": 5.0,
            "has_observed_onset": True,
            "onset_error_frames": errors,
            "is_reference_series": False,
        }
    )
    pseudotime = pd.DataFrame(
        {
            "fov_name": "A/1/0",
            "query_id": np.repeat(range(5), 3),
            "t": np.tile([4, 5, 6], 5),
            "pseudotime": np.tile([-1.0, 0.0, 1.0], 5) - np.repeat(errors, 3),
            "in_match": True,
        }
    )
    figure, _ = plot_pseudotime_accuracy(pseudotime, accuracy, label="few")
    right = figure.axes[1]
    assert right.get_ylabel() == "lineages"
    assert max(patch.get_height() for patch in right.patches) == 2
    ticks = [t for t in right.get_yticks() if right.get_ylim()[0] <= t <= right.get_ylim()[1]]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_the_tables_give_the_dtw_error_in_hours_where_the_frame_interval_is_known():
    """The table gave the DTW error in frames only: rows of a 30-min and a 15-min dataset read 1.841
    and 3.500 for errors of 0.92 h and 0.88 h, while the first page gives both units. Each value is
    followed by its hours where the dataset's frame interval is known."""
    row = {
        "model": "m",
        "dtw_onset_mae_frames": 1.841,
        "dtw_onset_mae_frames_ci_low": 0.932,
        "dtw_onset_mae_frames_ci_high": 2.932,
        "dtw_n_lineages": 44,
    }
    table = pd.DataFrame(
        [
            {**row, "dataset": "every_30min", "time_interval_minutes": 30.0},
            {**row, "dataset": "every_15min", "dtw_onset_mae_frames": 3.5, "time_interval_minutes": 15.0},
            {**row, "dataset": "unknown", "time_interval_minutes": np.nan},
        ]
    )
    shown = formatted_results_table(table)["DTW onset error (frames) ↓"].tolist()
    assert shown == [
        "1.841 [0.932, 2.932] = 0.92 h (n=44 lineages)",
        "3.500 [0.932, 2.932] = 0.88 h (n=44 lineages)",
        "1.841 [0.932, 2.932] (n=44 lineages)",
    ]
    assert "= 0.92 h (n=44 lineages)" in results_table_html(table)
    _, caption = plot_results_table(table)
    assert "hours where the dataset's frame interval is known" in caption


@pytest.mark.parametrize(
    ("event", "state_source", "named"),
    [
        ("division", "division state from its tracks' lineage", "the DTW-aligned division (mean"),
        ("infection", "infection state from ground truth", "the DTW-aligned infection onset (mean"),
        ("division", "", "the DTW-aligned division (mean"),  # an explicit reference: picked by no state
    ],
)
def test_the_results_table_caption_names_the_event_its_rows_aligned(
    event: str, state_source: str, named: str
) -> None:
    """The drawn table's caption said "the DTW-aligned event, infection onset or division" whatever
    the rows aligned: a division-only run's caption named infection onset too."""
    row = {
        "model": "m",
        "dataset": "d",
        "dtw_onset_mae_frames": 1.841,
        "dtw_onset_mae_frames_ci_low": 0.932,
        "dtw_onset_mae_frames_ci_high": 2.932,
        "dtw_n_lineages": 44,
        "dtw_state_source": state_source,
    }
    _, caption = plot_results_table(pd.DataFrame([row]), event=event)
    assert named in caption and "infection onset or division" not in caption
    other = "infection" if event == "division" else "division"
    if state_source:  # rows aligned on another event than the one named: a stale dtw_accuracy.csv
        with pytest.raises(ValueError, match=r"results/evaluation/dtw_accuracy\.csv") as refused:
            plot_results_table(
                pd.DataFrame([row]), event=other, dtw_accuracy="results/evaluation/dtw_accuracy.csv"
            )
        assert f"to be aligned on '{other}'" in str(refused.value)
        assert f"(m, d): {state_source!r}" in str(refused.value)
        assert "aligned on another event" in str(refused.value)
    else:  # an explicit reference is picked by no state: never refused, whatever the event
        _, caption = plot_results_table(pd.DataFrame([row]), event=other)
        assert f"the DTW-aligned {ALIGNED_EVENT_NAMES[other]} (mean" in caption


@pytest.mark.parametrize(
    "state_source", ["ground truth", "its tracks' lineage", "predicted by its own classifiers"]
)
def test_a_state_source_of_no_known_wording_is_not_called_another_event(state_source: str) -> None:
    """The refusal called any state_source not starting with the event's state "aligned on another
    event", though a dtw_accuracy.csv of an older wording names neither; it is now refused as
    unrecognised, naming the rows, the file and the rerun."""
    row = {"model": "m", "dataset": "d", "dtw_n_lineages": 4, "dtw_state_source": state_source}
    for event in ("infection", "division"):
        with pytest.raises(ValueError, match="unrecognised dtw_state_source") as refused:
            plot_results_table(pd.DataFrame([row]), event=event, dtw_accuracy="dtw_accuracy.csv")
        assert "another event" not in str(refused.value)
        assert f"(m, d): {state_source!r}" in str(refused.value)
        assert "--forcerun align_pseudotime" in str(refused.value)


def test_the_tables_show_each_datasets_frame_interval_beside_its_smoothness():
    """probe4: one model on a 30-min and a 10-min plate; the HTML and PNG tables gave its track-pair
    smoothness 0.539 and 0.291 side by side with no interval (the CSV alone had
    ``time_interval_minutes``), the 10-min plate reading smoother for adjacent frames 10 min apart
    instead of 30. Each row now shows its frame interval, and the caption says why it matters."""
    table = pd.DataFrame(
        [
            {"model": "m", "dataset": "a", "time_interval_minutes": 30.0, "smoothness_track_pairs": 0.539},
            {"model": "m", "dataset": "b", "time_interval_minutes": 10.0, "smoothness_track_pairs": 0.291},
            {"model": "m", "dataset": "c", "time_interval_minutes": 7.5, "smoothness_track_pairs": 0.3},
            {
                "model": "m",
                "dataset": "still",
                "time_interval_minutes": np.nan,
                "smoothness_track_pairs": np.nan,
            },
        ]
    )
    shown = formatted_results_table(table)
    assert list(shown.columns[:4]) == ["Model", "Dataset", "Frame interval", "Distribution"]
    assert shown["Frame interval"].tolist() == ["30 min", "10 min", "7.5 min", "–"]
    assert "<th>Frame interval</th>" in results_table_html(table)
    _, caption = plot_results_table(table)
    assert "compare adjacent frames, so rows of other frame intervals measure other time steps" in caption


def test_the_readers_caption_says_why_the_frame_interval_is_shown() -> None:
    """The sentence on frame intervals was only in the caption ``plot_results_table`` logs: the report
    shows the static ``results_table.rst`` and the HTML table its own ``<caption>``, neither saying it."""
    table = pd.DataFrame(
        [
            {"model": "m", "dataset": "a", "time_interval_minutes": 30.0, "smoothness_track_pairs": 0.539},
            {"model": "m", "dataset": "b", "time_interval_minutes": 10.0, "smoothness_track_pairs": 0.291},
        ]
    )
    sentence = "compare adjacent frames, so rows of other frame intervals measure other time steps"
    assert sentence in results_table_html(table)
    report = (REPO_ROOT / "workflow" / "report" / "results_table.rst").read_text()
    assert sentence in " ".join(report.split())


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [
        (30.0, "30 min"),
        (7.5, "7.5 min"),
        (5 / 60, "5 s"),
        (0.5, "30 s"),
        (12.3456, "12.3 min"),
        (1.0, "1 min"),
        (1440.0, "1440 min"),
    ],
)
def test_a_frame_interval_is_shown_in_seconds_below_a_minute_and_to_three_figures(
    minutes: float, shown: str
) -> None:
    """A 5-s interval read ``0.0833333 min``."""
    table = pd.DataFrame([{"model": "m", "dataset": "a", "time_interval_minutes": minutes}])
    assert formatted_results_table(table)["Frame interval"].tolist() == [shown]


def _temporal_metrics(models: tuple[str, str], dataset: str, **counts: int) -> pd.DataFrame:
    """``temporal_metrics`` rows of two models on one dataset, track-pair rows (with CIs) first, the
    first model smoother; ``counts`` (e.g. ``n_tracks``) are added to every row."""
    return pd.DataFrame(
        {
            "model": [*models, *models],
            "dataset": [dataset] * 4,
            "definition": ["track_pairs", "track_pairs", "paper", "paper"],
            "smoothness": [0.2, 0.6, 0.1, 0.4],
            "smoothness_ci_low": [0.18, 0.55, np.nan, np.nan],
            "smoothness_ci_high": [0.22, 0.65, np.nan, np.nan],
            "dynamic_range": [0.5, 0.1, 1.2, 0.3],
            "dynamic_range_ci_low": [0.45, 0.05, np.nan, np.nan],
            "dynamic_range_ci_high": [0.55, 0.15, np.nan, np.nan],
            **{name: [value] * 4 for name, value in counts.items()},
        }
    )


def test_results_table_merges_the_evaluations(tmp_path):
    temporal = _temporal_metrics(("dynaclr", "engineered_features"), "demo")
    classification = pd.DataFrame(
        {
            "model": ["dynaclr", "dynaclr", "dynaclr"],
            "dataset": ["demo", "demo", "other"],
            "train_dataset": ["demo", "demo", "demo"],  # the last: trained on demo, scored on other
            "task": ["infection", "division", "infection"],
            "f1": [0.95, 0.7, 0.8],
            "f1_ci_low": [0.9, 0.6, 0.7],
            "f1_ci_high": [0.98, 0.8, 0.85],
        }
    )
    pairs = pd.DataFrame(
        {
            "model": ["dynaclr", "dynaclr", "engineered_features"],
            "dataset": ["demo", "other", "demo"],
            "distribution": ["in", "out", "untrained"],
            "trained_on": ["demo", "demo", ""],
            "time_interval_minutes": [30.0, 15.0, 30.0],
        }
    )
    dtw = pd.DataFrame(
        {
            "model": ["dynaclr"] * 3,
            "dataset": ["demo"] * 3,
            "has_observed_onset": [True, True, False],
            "is_reference_series": [False, True, False],
            "abs_onset_error_frames": [2.0, 0.0, np.nan],
        }
    )
    table = results_table(temporal, classification, dtw, pairs)
    assert list(zip(table["model"], table["dataset"], strict=True)) == [
        ("dynaclr", "demo"),
        ("engineered_features", "demo"),
        ("dynaclr", "other"),
    ]
    assert list(table["distribution"]) == ["in", "untrained", "out"]
    assert list(table["time_interval_minutes"]) == [30.0, 30.0, 15.0]  # the dataset's frame interval
    other = table.iloc[2]
    assert np.isnan(other["f1_infection"]) and other["f1_infection_transferred"] == 0.8
    assert other["f1_infection_transferred_from"] == "demo" and np.isnan(other["smoothness"])
    assert (
        formatted_results_table(table).loc[2, "F1 infection, transferred ↑"]
        == "0.800 [0.700, 0.850] from demo"
    )
    table = table.iloc[:2].reset_index(drop=True)
    row = table.iloc[0]
    assert row["f1_infection"] == 0.95 and row["f1_division"] == 0.7
    assert row["dtw_onset_mae_frames"] == 2.0 and row["dtw_n_lineages"] == 1  # reference excluded
    assert np.isnan(table.iloc[1]["f1_infection"])
    shown = formatted_results_table(table)
    assert row["smoothness"] == 0.1 and row["dynamic_range"] == 1.2  # the paper's definition
    assert "smoothness_ci_low" not in table.columns  # the paper reports no intervals
    assert shown.loc[0, "Smoothness (paper) ↓"] == "0.100"
    assert shown.loc[0, "Smoothness, track pairs ↓"] == "0.200 [0.180, 0.220]"
    assert shown.loc[1, "F1 infection ↑"] == "–"
    html = results_table_html(table)
    assert html.startswith("<table") and html.count("<tr>") == 3 and "engineered_features" in html
    figure, caption = plot_results_table(table)
    _check(figure, caption)
    assert "2 models" in caption
    with pytest.raises(ValueError, match="at least one"):
        results_table()


def test_each_datasets_best_value_per_column_is_marked_bold():
    from dynaclr.figures.table import best_in_dataset

    table = pd.DataFrame(
        {
            "model": ["a", "b", "c", "a"],
            "dataset": ["d1", "d1", "d1", "d2"],
            "smoothness_track_pairs": [0.3, 0.1, 0.1, 0.2],  # lower is better: b and c tie
            "smoothness_track_pairs_ci_low": [0.25, 0.05, 0.05, 0.1],
            "smoothness_track_pairs_ci_high": [0.35, 0.15, 0.15, 0.3],
            "f1_infection": [0.9, 0.8, np.nan, 0.7],  # higher is better; d2 has one value: none marked
            "f1_infection_ci_low": [0.85, 0.7, np.nan, 0.6],
            "f1_infection_ci_high": [0.95, 0.9, np.nan, 0.8],
        }
    )
    best = best_in_dataset(table)
    assert list(best["Smoothness, track pairs ↓"]) == [False, True, True, False]
    assert list(best["F1 infection ↑"]) == [True, False, False, False]
    assert not best["DTW onset error (frames) ↓"].any()  # a column without values
    html = results_table_html(table)
    assert html.count("<strong>") == 3 and "<td><strong>0.900 [0.850, 0.950]</strong></td>" in html


def test_a_value_without_an_interval_is_never_bold():
    """The paper's columns carry no interval yet their best value was bold, beside a caption telling
    the reader to compare the intervals: a value is bold only where it carries one."""
    from dynaclr.figures.table import best_in_dataset

    table = pd.DataFrame(
        {
            "model": ["a", "b", "a", "b"],
            "dataset": ["d1", "d1", "d2", "d2"],
            "smoothness": [0.3, 0.1, 0.2, 0.4],  # the paper's: no interval
            "dynamic_range": [1.0, 2.0, 1.5, 1.2],
            "f1_infection": [0.9, 0.8, 0.7, 0.6],
            "f1_infection_ci_low": [np.nan, 0.7, 0.6, 0.5],  # d1's best withheld its interval
            "f1_infection_ci_high": [np.nan, 0.9, 0.8, 0.7],
        }
    )
    best = best_in_dataset(table)
    assert not best["Smoothness (paper) ↓"].any() and not best["Dynamic range (paper) ↑"].any()
    assert list(best["F1 infection ↑"]) == [False, False, True, False]
    assert results_table_html(table).count("<strong>") == 1
    figure, caption = plot_results_table(table)
    bold = [
        cell.get_text().get_text()
        for cell in figure.axes[0].tables[0].get_celld().values()
        if cell.get_text().get_fontweight() == "bold"
    ]
    assert bold == ["0.700 [0.600, 0.800]"]
    assert "where it carries an interval (the paper's columns, which have none, are never bold)" in caption


def test_results_table_shows_each_source_of_a_transferred_classifier():
    """Classifiers of one model transferred into ``target`` from two datasets: the table had one
    ``f1_infection_transferred_from`` (the first source); now the (model, dataset) row holds the first
    source and a row below it the second, with nothing else repeated, and the display names each."""
    temporal = _temporal_metrics(("dynaclr", "other"), "target").query("model == 'dynaclr'")
    classification = pd.DataFrame(
        {
            "model": ["dynaclr"] * 4,
            "dataset": ["target"] * 4,
            "train_dataset": ["source_b", "source_a", "source_b", "target"],
            "task": ["infection", "infection", "division", "infection"],
            "f1": [0.7, 0.8, 0.6, 0.9],
            "f1_ci_low": [0.6, 0.7, 0.5, 0.85],
            "f1_ci_high": [0.75, 0.9, 0.7, 0.95],
        }
    )
    pairs = pd.DataFrame({"model": ["dynaclr"], "dataset": ["target"], "distribution": ["in"]})
    table = results_table(temporal, classification, pairs=pairs)
    assert list(zip(table["model"], table["dataset"], strict=True)) == [("dynaclr", "target")] * 2
    first, second = table.iloc[0], table.iloc[1]
    assert first["f1_infection"] == 0.9 and np.isfinite(first["smoothness"])
    assert (first["f1_infection_transferred_from"], first["f1_infection_transferred"]) == ("source_a", 0.8)
    assert (first["f1_division_transferred_from"], first["f1_division_transferred"]) == ("source_b", 0.6)
    assert (second["f1_infection_transferred_from"], second["f1_infection_transferred"]) == ("source_b", 0.7)
    assert pd.isna(second["f1_division_transferred"]) and pd.isna(second["f1_division_transferred_from"])
    assert np.isnan(second["smoothness"]) and np.isnan(second["f1_infection"])  # not repeated
    assert second["distribution"] == "in"
    shown = formatted_results_table(table)["F1 infection, transferred ↑"]
    assert list(shown) == ["0.800 [0.700, 0.900] from source_a", "0.700 [0.600, 0.750] from source_b"]
    assert results_table_html(table).count("from source_") == 3
    # the transferred division F1 is shown as the infection one is (it was in the CSV only)
    shown = formatted_results_table(table)
    assert list(shown.columns[-3:]) == [
        "F1 division ↑",
        "F1 division, transferred ↑",
        "DTW onset error (frames) ↓",
    ]
    assert list(shown["F1 division, transferred ↑"]) == ["0.600 [0.500, 0.700] from source_b", "–"]
    figure, caption = plot_results_table(table)
    assert "F1 division, transferred ↑" in [
        cell.get_text().get_text() for cell in figure.axes[0].tables[0].get_celld().values()
    ]
    assert "transferred: fitted on the dataset named after 'from'" in caption


def test_results_table_carries_the_cells_each_f1_is_scored_on():
    classification = pd.DataFrame(
        {
            "model": ["m", "m"],
            "dataset": ["plate", "other"],
            "train_dataset": ["plate", "plate"],
            "task": ["infection", "infection"],
            "f1": [np.nan, 0.9],
            "f1_ci_low": [np.nan, 0.8],
            "f1_ci_high": [np.nan, 1.0],
            "n_test": [5, 14],
            "n_test_positive": [0, 7],
        }
    )
    table = results_table(classification=classification).set_index("dataset")
    assert table.loc["plate", "f1_infection_n_test"] == 5
    assert table.loc["plate", "f1_infection_n_test_positive"] == 0
    assert table.loc["other", "f1_infection_transferred_n_test_positive"] == 7
    assert formatted_results_table(table.reset_index()).loc[1, "F1 infection ↑"] == "– (n=5, 0+)"


def _division_only_on_lineage() -> pd.DataFrame:
    """``classification.csv`` of models ``a`` and ``b``: both tasks cross-validated on ``plate``, and
    division only on ``lineage`` (imported tracks whose lineage gives division labels only: rule
    classify skipped infection there with a WARNING)."""
    return pd.DataFrame(
        {
            "model": ["a", "b"] * 3,
            "dataset": ["plate"] * 4 + ["lineage"] * 2,
            "train_dataset": ["plate"] * 4 + ["lineage"] * 2,
            "task": ["infection"] * 2 + ["division"] * 4,
            "f1": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            "f1_ci_low": [0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
            "f1_ci_high": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5],
            "n_test": [40] * 6,
            "n_test_positive": [12] * 6,
        }
    )


def test_results_table_says_why_a_configured_task_has_no_f1_on_a_dataset():
    """tasks [infection, division] on a dataset annotated for division only: rule classify skipped
    infection with a WARNING in its log, and the table showed '–' for its F1 with no reason, unlike
    every other column not computed. The reason is derived from classification.csv and the tasks."""
    reason = "no infection annotations in lineage"
    table = results_table(
        classification=_division_only_on_lineage(), tasks=("infection", "division")
    ).set_index(["dataset", "model"])
    assert list(table.loc["lineage", "f1_infection_not_computed"]) == [reason] * 2
    assert list(table.loc["plate", "f1_infection_not_computed"]) == ["", ""]
    assert list(table["f1_division_not_computed"]) == [""] * 4
    shown = formatted_results_table(table.reset_index()).set_index(["Dataset", "Model"])
    assert shown.loc[("lineage", "a"), "F1 infection ↑"] == f"not computed: {reason}"
    assert shown.loc[("lineage", "a"), "F1 division ↑"] == "0.500 [0.400, 0.600] (n=40, 12+)"
    assert shown.loc[("plate", "a"), "F1 infection ↑"] == "0.900 [0.800, 1.000] (n=40, 12+)"
    assert f"<td>not computed: {reason}</td>" in results_table_html(table.reset_index())
    figure, _ = plot_results_table(table.reset_index())
    texts = [cell.get_text().get_text() for cell in figure.axes[0].tables[0].get_celld().values()]
    assert f"not computed: {reason}" in texts
    # a task left out of analysis.classification.tasks is not a task the run failed to classify: its
    # empty cells say it is not configured, its cells with a value (plate's older rows) say nothing
    division_only = results_table(classification=_division_only_on_lineage(), tasks=("division",))
    not_configured = "infection is not in analysis.classification.tasks"
    assert list(division_only["f1_infection_not_computed"]) == [not_configured] * 2 + ["", ""]


def test_the_results_table_of_a_division_only_run_has_no_infection_column():
    """A division-only plate (no infection; tasks [division]) showed an "F1 infection" column of "not
    computed: infection is not in analysis.classification.tasks" on every row: read as a missing
    result. The displayed tables leave out a task the run classifies on no row, their captions say
    which tasks were classified; a run with infection configured keeps the column, its reasons."""
    division = pd.DataFrame(
        {
            "model": ["a", "b"],
            "dataset": ["divplate"] * 2,
            "train_dataset": ["divplate"] * 2,
            "task": ["division"] * 2,
            "f1": [0.95, 0.85],
            "f1_ci_low": [0.9, 0.8],
            "f1_ci_high": [0.98, 0.9],
            "n_test": [173] * 2,
            "n_test_positive": [86] * 2,
        }
    )
    table = results_table(classification=division, tasks=("division",))
    assert unrun_tasks(table) == ["infection"]
    assert "f1_infection_not_computed" in table.columns  # the CSV keeps its columns and reasons
    shown = formatted_results_table(table)
    assert not any("infection" in header for header in shown.columns)
    assert list(shown["F1 division ↑"]) == [
        "0.950 [0.900, 0.980] (n=173, 86+)",
        "0.850 [0.800, 0.900] (n=173, 86+)",
    ]
    note = "Tasks classified: division (infection is not in analysis.classification.tasks: no column of it)."
    page = results_table_html(table)
    assert "infection ↑" not in page and "not computed" not in page and f"{note}</caption>" in page
    figure, caption = plot_results_table(table)
    texts = [cell.get_text().get_text() for cell in figure.axes[0].tables[0].get_celld().values()]
    assert not any("infection" in text for text in texts)
    assert "F1 of linear classifiers of division trained" in caption and caption.endswith(note)
    # infection configured but not computed (no infection annotations): the column and reason stay
    configured = results_table(classification=division, tasks=("infection", "division"))
    assert unrun_tasks(configured) == []
    kept = formatted_results_table(configured)
    assert list(kept["F1 infection ↑"]) == ["not computed: no infection annotations in divplate"] * 2
    _, caption = plot_results_table(configured)
    assert "of infection and division trained" in caption and "Tasks classified" not in caption
    # the tasks unknown (no reasons recorded): nothing is left out
    assert unrun_tasks(results_table(classification=division)) == []
    # a dataset with division classifiers transferred from two others: its extra source's row has no
    # reason (empty), which does not bring the infection column back
    transferred = pd.concat(
        [
            division.assign(model="a", dataset=d, train_dataset=source)
            for d, source in (("p", "p"), ("q", "q"), ("r", "p"), ("r", "q"))
        ],
        ignore_index=True,
    )
    several = results_table(classification=transferred, tasks=("division",))
    assert "" in set(several["f1_infection_not_computed"])  # the extra source's row
    assert unrun_tasks(several) == ["infection"]
    assert not any("infection" in header for header in formatted_results_table(several).columns)
    # no row giving a reason (every row an extra source's, or the reasons empty): the tasks unknown
    assert unrun_tasks(several.assign(f1_infection_not_computed="")) == []


def _f1_rows(*rows: tuple[str, str, str, float]) -> pd.DataFrame:
    """``classification.csv`` of model ``a``: one row per (dataset, train_dataset, task, F1)."""
    return pd.DataFrame(
        [
            {"model": "a", "dataset": d, "train_dataset": s, "task": t, "f1": f1, "f1_ci_low": f1 - 0.1}
            | {"f1_ci_high": f1 + 0.05, "n_test": 40, "n_test_positive": 12}
            for d, s, t, f1 in rows
        ]
    )


def _plan(
    dataset: str,
    annotation_tasks: set[str] | None,
    *,
    trains: bool,
    sources: dict[str, set[str]],
    left_out_by_apply_to: bool = False,
    tasks: tuple[str, ...] = ("infection",),
    imported_files: dict[str, str] | None = None,
) -> dict[str, str]:
    """The plan's F1 reasons of (model ``a``, ``dataset``), as rule results_table's params give them."""
    return planned_f1_reasons(
        "a",
        dataset,
        tasks=tasks,
        annotation_tasks=annotation_tasks,
        trains=trains,
        sources=sources,
        left_out_by_apply_to=left_out_by_apply_to,
        skipped=False,
        imported_files=imported_files,
    )


def test_an_imported_file_without_a_tasks_classifier_is_said_to_lack_the_classifier_not_annotations():
    """An earlier run's file of infection classifiers (fitted on plate_30min) predicts B, annotated
    for both tasks, tasks [infection, division]: B's transferred division cell read "no division
    annotations in plate_30min (old_run/classifiers.json)", though the file has no annotations to
    lack and plate_30min may well be annotated for division: the file holds no division classifier."""
    tasks = ("infection", "division")
    label, file = "plate_30min (old_run/classifiers.json)", "old_run/classifiers.json"
    plan = _plan(
        "B",
        {"infection", "division"},
        trains=True,
        sources={label: {"infection"}, "A": {"infection"}},
        tasks=tasks,
        imported_files={label: file},
    )
    assert plan["f1_infection_transferred_not_computed"] == ""
    assert plan["f1_division_transferred_not_computed"] == (
        "no division classifier in old_run/classifiers.json; no division annotations in A"
    )
    pairs = pd.DataFrame([{"model": "a", "dataset": "B", **plan}])
    table = results_table(
        temporal_metrics=_temporal_metrics(("a", "b"), "B"),
        classification=_f1_rows(("B", "B", "infection", 0.9), (label, "B", "infection", 0.8)),
        pairs=pairs,
        tasks=tasks,
    ).set_index(["dataset", "model"])
    assert table.loc[("B", "a"), "f1_division_transferred_not_computed"] == (
        "no division classifier in old_run/classifiers.json; no division annotations in A"
    )


def test_a_transferred_f1_the_transfer_job_writes_no_row_of_says_who_lacks_the_labels():
    """A (annotated for infection, trains) -> B (annotated for division only, not in train_on), tasks
    [infection, division]: the transfer job writes no row for B (A has no division classifier, B no
    infection label to score one on), and both of B's transferred cells said "no classifier of another
    dataset scored on B". The plan knows each source's tasks and B's: it says which lacks what."""
    tasks = ("infection", "division")
    plan = {
        "A": _plan("A", {"infection"}, trains=True, sources={}, tasks=tasks),
        "B": _plan("B", {"division"}, trains=False, sources={"A": {"infection"}}, tasks=tasks),
    }
    assert plan["B"] == {
        "f1_not_computed": "B is not in analysis.classification.train_on",
        "f1_infection_transferred_not_computed": "no infection annotations in B",
        "f1_division_transferred_not_computed": "no division annotations in A",
    }
    pairs = pd.DataFrame([{"model": "a", "dataset": d, **reasons} for d, reasons in plan.items()])
    table = results_table(
        temporal_metrics=_temporal_metrics(("a", "b"), "B"),
        classification=_f1_rows(("A", "A", "infection", 0.9)),
        pairs=pairs,
        tasks=tasks,
    ).set_index(["dataset", "model"])
    assert table.loc[("B", "a"), "f1_infection_transferred_not_computed"] == "no infection annotations in B"
    assert table.loc[("B", "a"), "f1_division_transferred_not_computed"] == "no division annotations in A"
    # a source that holds the task and a dataset with its labels: computed (its row, when written)
    both = _plan("B", {"infection", "division"}, trains=False, sources={"A": {"infection"}}, tasks=tasks)
    assert both["f1_infection_transferred_not_computed"] == ""
    assert both["f1_division_transferred_not_computed"] == "no division annotations in A"


def test_a_dataset_apply_to_leaves_out_is_named_only_where_another_source_could_predict_it():
    """The only dataset classifiers train on, with ``apply_to: []``: its transferred cell said "tiny is
    not in analysis.classification.apply_to", but naming it there is refused (_check_apply_to: it is
    the only source). apply_to is the reason only where another dataset's classifiers could predict it."""
    alone = _plan("tiny", {"infection"}, trains=True, sources={}, left_out_by_apply_to=False)
    assert alone["f1_infection_transferred_not_computed"] == (
        "no classifier of a fitted on another dataset, nor imported"
    )
    left_out = _plan("tiny", {"infection"}, trains=True, sources={}, left_out_by_apply_to=True)
    assert left_out["f1_infection_transferred_not_computed"] == (
        "tiny is not in analysis.classification.apply_to"
    )


def test_every_empty_f1_of_a_dataset_without_any_classifier_says_why():
    """A movie without annotations, in no apply_to (no transfer), no import: its F1 cells showed '–'
    with no reason, own and transferred. The plan's reasons (planned_f1_reasons) now fill them."""
    classification = _f1_rows(("plate", "plate", "infection", 0.9), ("other", "plate", "infection", 0.8))
    infection = {"infection"}
    plan = {
        "plate": _plan("plate", infection, trains=True, sources={}, left_out_by_apply_to=True),
        "other": _plan("other", infection, trains=False, sources={"plate": infection}),
        "bare": _plan("bare", None, trains=False, sources={}),
    }
    pairs = pd.DataFrame([{"model": "a", "dataset": d, **reasons} for d, reasons in plan.items()])
    table = results_table(
        temporal_metrics=_temporal_metrics(("a", "b"), "bare"),
        classification=classification,
        pairs=pairs,
        tasks=("infection",),
    )
    shown = formatted_results_table(table).set_index(["Dataset", "Model"])
    bare = shown.loc[("bare", "a")]
    assert bare["F1 infection ↑"] == "not computed: no annotations in bare"
    assert (
        bare["F1 infection, transferred ↑"]
        == "not computed: no classifier of a fitted on another dataset, nor imported"
    )
    # division is classified on no dataset (not in tasks): no column of it, the captions say so
    assert not any(header.startswith("F1 division") for header in shown.columns)
    other = shown.loc[("other", "a")]
    assert other["F1 infection ↑"] == "not computed: other is not in analysis.classification.train_on"
    assert other["F1 infection, transferred ↑"] == "0.800 [0.700, 0.850] (n=40, 12+) from plate"
    assert shown.loc[("plate", "a"), "F1 infection, transferred ↑"] == (
        "not computed: plate is not in analysis.classification.apply_to"
    )
    for (_, model), row in shown.iterrows():  # no empty cell: a value or a reason (b only has no plan)
        f1s = [row[header] for header in shown.columns if header.startswith("F1")]
        assert all(cell != "–" for cell in f1s), (model, f1s)
    assert "not computed: no annotations in bare" in results_table_html(table)


def test_a_transferred_f1_says_whether_the_source_or_this_dataset_lacks_the_tasks_labels():
    """Division classifiers asked; plate is annotated for infection only. Its classifiers transferred
    to movie gave no division F1 (plate has no division classifier), and movie's transferred to
    plate none either (plate has no division label to score on): both cells showed '–'."""
    classification = _f1_rows(
        ("plate", "plate", "infection", 0.9),
        ("movie", "movie", "infection", 0.8),
        ("movie", "movie", "division", 0.7),
        ("third", "third", "infection", 0.8),
        ("third", "third", "division", 0.6),
        ("movie", "plate", "infection", 0.75),
        ("plate", "movie", "infection", 0.7),
        ("third", "movie", "infection", 0.65),
        ("third", "movie", "division", 0.55),
    )
    table = results_table(classification=classification, tasks=("infection", "division"))
    by_dataset = table.set_index("dataset")
    assert (
        by_dataset.loc["movie", "f1_division_transferred_not_computed"] == "no division annotations in plate"
    )
    assert (
        by_dataset.loc["plate", "f1_division_transferred_not_computed"] == "no division annotations in plate"
    )
    assert by_dataset.loc["third", "f1_division_transferred_not_computed"] == ""
    assert by_dataset.loc["plate", "f1_division_not_computed"] == "no division annotations in plate"
    shown = formatted_results_table(table).set_index("Dataset")
    assert (
        shown.loc["movie", "F1 division, transferred ↑"] == "not computed: no division annotations in plate"
    )
    assert shown.loc["third", "F1 division, transferred ↑"] == "0.550 [0.450, 0.600] (n=40, 12+) from movie"


def test_the_dtw_error_of_a_movie_dtw_is_not_planned_on_says_why(monkeypatch):
    """A movie without ground truth nor infection classifier (event infection) is not aligned: its DTW
    cell showed '–' with no reason (the plan gave one only for still images). The plan's reason
    (WorkflowConfig.dtw_not_computed) now fills it; an aligned dataset's stays empty."""
    from test_findings import DEFAULT_CONFIG

    from dynaclr.config.workflow import DatasetConfig

    config = WorkflowConfig.model_validate(copy.deepcopy(DEFAULT_CONFIG))
    frames = {name: 10 for name in config.datasets}
    model = "time_aware_ntxent"
    assert config.dtw_not_computed(model, "demo", frames, {}) == ""  # simulated: aligned
    assert config.dtw_not_computed(model, "demo", {**frames, "demo": 1}, {}) == ""  # one time point says so
    monkeypatch.setattr(DatasetConfig, "is_simulated", property(lambda self: False))
    reason = config.dtw_not_computed(model, "demo", frames, {})
    assert reason == (
        "nothing gives the infection state of demo's cells: no ground truth, no infection classifier of "
        "its own, none of time_aware_ntxent transferred to it (analysis.classification.apply_to) nor imported"
    )
    assert config.dtw_not_run(frames, {}).startswith("no embedded dataset of several frames is simulated")
    division_only = config.model_copy(
        update={
            "analysis": config.analysis.model_copy(
                update={
                    "classification": config.analysis.classification.model_copy(
                        update={"tasks": ["division"]}
                    )
                }
            )
        }
    )
    assert division_only.dtw_not_computed(model, "demo", frames, {}) == (
        "no ground truth in demo, and infection is not in analysis.classification.tasks"
    )
    pairs = pd.DataFrame(
        {
            "model": ["a", "b"],
            "dataset": ["demo", "demo"],
            "temporal_not_computed": "",
            "dtw_not_computed": reason,
        }
    )
    table = results_table(temporal_metrics=_temporal_metrics(("a", "b"), "demo"), pairs=pairs)
    assert list(table["dtw_not_computed"]) == [reason] * 2
    shown = formatted_results_table(table)
    assert list(shown["DTW onset error (frames) ↓"]) == [f"not computed: {reason}"] * 2


def _infection_f1s(**columns: list[object]) -> pd.DataFrame:
    """``classification.csv`` rows of models ``a`` and ``b``'s infection classifiers cross-validated
    on dataset ``d``, with ``columns`` (``f1``, its CI, counts, ...)."""
    return pd.DataFrame(
        {"model": ["a", "b"], "dataset": ["d", "d"], "train_dataset": ["d", "d"], "task": ["infection"] * 2}
        | columns
    )


def test_the_html_and_png_tables_show_the_sample_each_value_rests_on():
    """An F1 of 12 cells and one of 12,000 looked the same in the HTML and PNG tables; the CSV alone
    had the counts. Each value now carries its n, and the best is still bold."""
    temporal = _temporal_metrics(("a", "b"), "d", n_tracks=96, n_cells=4812)
    classification = _infection_f1s(
        f1=[0.91, 0.5],
        f1_ci_low=[0.88, np.nan],
        f1_ci_high=[0.94, np.nan],
        f1_bootstrap_used=[200, 120],
        f1_ci_missing=["", "undefined in 80 of 200 bootstrap replicates"],
        n_test=[412, 12],
        n_test_positive=[57, 2],
    )
    table = results_table(temporal, classification)
    assert table.loc[1, "f1_infection_bootstrap_used"] == 120
    assert table.loc[1, "f1_infection_ci_missing"].startswith("undefined in 80")
    shown = formatted_results_table(table)
    assert shown.loc[0, "F1 infection ↑"] == "0.910 [0.880, 0.940] (n=412, 57+)"
    assert shown.loc[1, "F1 infection ↑"] == "0.500 [no CI] (n=12, 2+)"
    assert shown.loc[0, "Smoothness, track pairs ↓"] == "0.200 [0.180, 0.220] (n=96 tracks)"
    assert list(shown["Cells (tracks)"]) == ["4,812 (96)", "4,812 (96)"]
    html = results_table_html(table)
    assert "<td><strong>0.910 [0.880, 0.940] (n=412, 57+)</strong></td>" in html
    assert "<th>Cells (tracks)</th>" in html and "<td>0.500 [no CI] (n=12, 2+)</td>" in html
    figure, caption = plot_results_table(table)
    texts = [cell.get_text().get_text() for cell in figure.axes[0].tables[0].get_celld().values()]
    assert "0.910 [0.880, 0.940]\n(n=412, 57+)" in texts and "4,812 (96)" in texts
    assert "n=annotated observations scored (a cell at one frame" in caption and "[no CI]" in caption


def test_the_tables_state_the_levels_their_intervals_are_computed_at():
    """The drawn table's caption said "95 % bootstrap confidence intervals" whatever level the
    smoothness (analysis.temporal_metrics.confidence) and the F1s (analysis.classification.confidence)
    were computed at, and the HTML table stated none: both state the levels the tables record."""
    temporal = _temporal_metrics(("a", "b"), "d", n_tracks=96, n_cells=4812).assign(confidence=0.9)
    classification = _infection_f1s(
        f1=[0.91, 0.5], f1_ci_low=[0.88, 0.4], f1_ci_high=[0.94, 0.6], confidence=[0.8, 0.8]
    )
    dtw = pd.DataFrame(
        {
            "model": ["a"] * 3,
            "dataset": ["d"] * 3,
            "is_reference_series": [False] * 3,
            "abs_onset_error_frames": [1.0, 2.0, 4.0],
        }
    )
    table = results_table(temporal, classification, dtw)
    assert list(table["track_pairs_confidence"]) == [0.9, 0.9]
    assert list(table["f1_infection_confidence"]) == [0.8, 0.8]
    _, caption = plot_results_table(table)
    html = results_table_html(table)
    for text in (caption, html):
        assert "95 % bootstrap" not in text
        assert "90 % for Smoothness, track pairs" in text and "80 % for F1 infection" in text
        assert "95 % for DTW onset error (frames)" in text
    same = results_table(temporal.assign(confidence=0.95), classification.assign(confidence=0.95), dtw)
    _, caption = plot_results_table(same)
    assert "Brackets: 95 % bootstrap confidence intervals (over tracks; over lineages" in caption
    assert "<caption>Brackets: 95 % bootstrap" in results_table_html(same)


def test_results_table_says_the_analyses_over_time_are_not_computed_on_still_images():
    """A pair of still images (one time point) has no temporal metrics nor DTW row and, without
    annotations, no classifier row either: it still gets its row, its temporal cells NaN in the CSV
    and "not computed: one time point" in the HTML (never a number); the movie's row is unchanged."""
    from dynaclr.config.reasons import ONE_TIME_POINT
    from dynaclr.figures.table import formatted_results_table

    temporal = _temporal_metrics(("dynaclr", "engineered_features"), "movie")
    pairs = pd.DataFrame(
        {
            "model": ["dynaclr", "engineered_features", "dynaclr", "engineered_features"],
            "dataset": ["movie", "movie", "fixed", "fixed"],
            "temporal_not_computed": ["", "", ONE_TIME_POINT, ONE_TIME_POINT],
        }
    )
    table = results_table(temporal_metrics=temporal, pairs=pairs)
    assert sorted(zip(table["model"], table["dataset"], strict=True)) == sorted(
        zip(pairs["model"], pairs["dataset"], strict=True)
    )
    fixed = table[table["dataset"] == "fixed"]
    assert (
        fixed[["smoothness", "dynamic_range", "smoothness_track_pairs", "dtw_onset_mae_frames"]]
        .isna()
        .all()
        .all()
    )
    shown = formatted_results_table(table).set_index(["Model", "Dataset"])
    for model in ("dynaclr", "engineered_features"):
        row = shown.loc[(model, "fixed")]
        assert row["Smoothness (paper) ↓"] == "not computed: one time point"
        assert row["DTW onset error (frames) ↓"] == "not computed: one time point"
        assert row["F1 infection ↑"] == "–"  # no annotations: missing, not "not computed"
        assert shown.loc[(model, "movie"), "Smoothness (paper) ↓"][0].isdigit()
    alone = results_table(pairs=pairs[pairs["dataset"] == "fixed"])  # only still images: no input table
    assert len(alone) == 2 and alone["smoothness"].isna().all()


def test_results_table_says_why_a_movie_without_adjacent_frames_has_no_temporal_metrics():
    """A movie whose tracks never hold two adjacent frames is known at run time only: its
    ``temporal_metrics.csv`` rows are NaN with ``not_computed`` saying why. The results table carries
    that reason into ``temporal_not_computed`` and ``track_pairs_not_computed`` (the plan's ``one time
    point`` keeps precedence) and the HTML shows it in place of the smoothness of both definitions,
    never a number; the DTW error, whose alignment these reasons do not speak for, is a dash; the
    measured movie's row is unchanged."""
    from dynaclr.figures.table import formatted_results_table

    reason = "no track spans two frames (96 tracks, 96 cells, 12 frames)"
    measured = _temporal_metrics(("dynaclr", "engineered_features"), "movie").assign(not_computed=np.nan)
    unlinked = _temporal_metrics(("dynaclr", "engineered_features"), "unlinked", n_cells=96, n_tracks=0)
    unlinked = unlinked.assign(not_computed=reason)
    unlinked.loc[:, ["smoothness", "smoothness_ci_low", "smoothness_ci_high", "dynamic_range"]] = np.nan
    unlinked.loc[:, ["dynamic_range_ci_low", "dynamic_range_ci_high"]] = np.nan
    pairs = pd.DataFrame(
        {
            "model": ["dynaclr", "engineered_features"] * 2,
            "dataset": ["movie", "movie", "unlinked", "unlinked"],
            "temporal_not_computed": [""] * 4,
        }
    )
    table = results_table(temporal_metrics=pd.concat([measured, unlinked], ignore_index=True), pairs=pairs)
    assert "not_computed" not in table.columns and "_run_not_computed" not in table.columns
    by_pair = table.set_index(["model", "dataset"])["temporal_not_computed"].fillna("")
    assert by_pair[("dynaclr", "unlinked")] == reason and by_pair[("dynaclr", "movie")] == ""
    shown = formatted_results_table(table).set_index(["Model", "Dataset"])
    for model in ("dynaclr", "engineered_features"):
        row = shown.loc[(model, "unlinked")]
        for header in ("Smoothness (paper) ↓", "Smoothness, track pairs ↓"):
            assert row[header] == f"not computed: {reason}", header
        assert row["DTW onset error (frames) ↓"] == "–"
        assert shown.loc[(model, "movie"), "Smoothness (paper) ↓"][0].isdigit()
        assert shown.loc[(model, "unlinked"), "Cells (tracks)"] == "96"  # not "96 (0)": none resampled
    without_pairs = results_table(temporal_metrics=unlinked)  # no plan given: the run's reason alone
    assert (without_pairs["temporal_not_computed"] == reason).all()
    assert (without_pairs["track_pairs_not_computed"] == reason).all()
    assert (without_pairs["dtw_not_computed"] == "").all()


def test_a_reason_not_to_compute_shows_only_in_the_columns_it_concerns():
    """A movie of two frames: the track-pair smoothness is not computed (no track spans three frames)
    while the paper's is measured; its DTW error, NaN where the dataset was not aligned, is a dash, not
    the track pairs' reason (which said "no track spans three frames" there too). Still images: the
    plan's ``one time point`` in every column over time, the DTW error's included."""
    from dynaclr.config.reasons import ONE_TIME_POINT
    from dynaclr.evaluation.temporal import NO_TRACK_SPANS_THREE_FRAMES
    from dynaclr.figures.table import formatted_results_table

    reason = f"{NO_TRACK_SPANS_THREE_FRAMES} (40 tracks, 80 cells, 2 frames)"
    temporal = _temporal_metrics(("dynaclr", "engineered_features"), "two_frames").assign(not_computed="")
    track_pairs = temporal["definition"] == "track_pairs"
    temporal.loc[track_pairs, ["smoothness", "smoothness_ci_low", "smoothness_ci_high"]] = np.nan
    temporal.loc[track_pairs, "not_computed"] = reason
    pairs = pd.DataFrame(
        {
            "model": ["dynaclr", "engineered_features"] * 2,
            "dataset": ["two_frames", "two_frames", "fixed", "fixed"],
            "temporal_not_computed": ["", "", ONE_TIME_POINT, ONE_TIME_POINT],
        }
    )
    table = results_table(temporal_metrics=temporal, pairs=pairs)
    by_pair = table.set_index(["model", "dataset"])
    assert by_pair.loc[("dynaclr", "two_frames"), "temporal_not_computed"] == ""
    assert by_pair.loc[("dynaclr", "two_frames"), "track_pairs_not_computed"] == reason
    assert by_pair.loc[("dynaclr", "fixed"), "dtw_not_computed"] == ONE_TIME_POINT
    shown = formatted_results_table(table).set_index(["Model", "Dataset"])
    two_frames, fixed = shown.loc[("dynaclr", "two_frames")], shown.loc[("dynaclr", "fixed")]
    assert two_frames["Smoothness (paper) ↓"] == "0.100"
    assert two_frames["Smoothness, track pairs ↓"] == f"not computed: {reason}"
    assert two_frames["DTW onset error (frames) ↓"] == "–"
    assert fixed["DTW onset error (frames) ↓"] == f"not computed: {ONE_TIME_POINT}"
    assert fixed["Smoothness, track pairs ↓"] == f"not computed: {ONE_TIME_POINT}"


def test_the_distance_figure_of_still_images_says_it_is_not_computed():
    """One time point: no adjacent frames to compare, so no histogram (nor a crash on no pairs)."""
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 4, "track_id": [1, 2, 3, 4], "t": [0] * 4})
    embeddings = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    figure, caption = plot_distance_distributions(embeddings, index, label="m, fixed")
    assert isinstance(figure, Figure)
    assert "not computed: one time point" in caption


@pytest.mark.parametrize(
    ("track_id", "t", "reason", "counts"),
    [
        # tracks of one detection
        ([1, 2, 3, 4, 5, 6], [0, 1, 2, 0, 1, 2], "no track spans two frames", "6 tracks, 6 cells, 3 frames"),
        # gaps only
        (
            [1, 1, 2, 2, 3, 3],
            [0, 2, 0, 2, 1, 3],
            "no track spans two adjacent frames",
            "3 tracks, 6 cells, 4 frames",
        ),
        # two frames: every random pair within a track is the adjacent one (it drew smoothness 1)
        (
            [1, 1, 2, 2, 3, 3],
            [0, 1, 0, 1, 1, 2],
            "no track spans three frames: every random pair within a track is an adjacent pair",
            "3 tracks, 6 cells, 3 frames",
        ),
    ],
)
def test_the_distance_figure_of_a_movie_without_adjacent_frames_says_why(track_id, t, reason, counts):
    """A movie (several frames) whose tracks never hold two consecutive frames: no adjacent pair, so
    the figure says "not computed" and why (no crash on an empty KDE); the caption gives the counts
    in the words of the temporal metrics' ``not_computed`` and the pseudo-time's ``not_aligned``."""
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 6, "track_id": track_id, "t": t})
    embeddings = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    figure, caption = plot_distance_distributions(embeddings, index, label="m, unlinked")
    assert isinstance(figure, Figure)
    assert f"not computed: {reason} ({counts})." in caption
    assert any(f"not computed: {reason}" in text.get_text() for text in figure.axes[0].texts)


def test_every_value_of_the_drawn_results_table_fits_its_cell():
    """The drawn table gave every column the same width: "0.264 [0.243, 0.291] (n=206 tracks)" ran into
    its neighbours, cut on both sides. Each value's sample and source now have lines of their own and
    each column is as wide as its longest line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    row = {
        "model": "classical_ntxent",
        "dataset": "demo_15min",
        "distribution": "out",
        "n_cells": 782,
        "n_tracks": 48,
        "smoothness": 0.059,
        "dynamic_range": 1.251,
        "smoothness_track_pairs": 0.185,
        "smoothness_track_pairs_ci_low": 0.150,
        "smoothness_track_pairs_ci_high": 0.250,
        "f1_infection_transferred": 0.987,
        "f1_infection_transferred_ci_low": 0.955,
        "f1_infection_transferred_ci_high": 1.0,
        "f1_infection_transferred_n_test": 78,
        "f1_infection_transferred_n_test_positive": 39,
        "f1_infection_transferred_from": "a_long_source_dataset_name",
        "f1_infection": np.nan,
        "f1_division": 0.948,
        "f1_division_ci_low": 0.904,
        "f1_division_ci_high": 0.977,
        "f1_division_n_test": 287,
        "f1_division_n_test_positive": 116,
        "dtw_onset_mae_frames": 1.84,
        "dtw_n_lineages": 44,
    }
    table = pd.DataFrame([row, {**row, "model": "time_aware_ntxent"}])
    figure, _ = plot_results_table(table)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    for cell in figure.axes[0].tables[0].get_celld().values():
        text, box = cell.get_text().get_window_extent(renderer), cell.get_window_extent(renderer)
        assert text.width <= box.width and text.height <= box.height, cell.get_text().get_text()


def test_a_short_offset_falls_back_to_minutes_or_seconds_and_gallery_titles_are_distinct():
    """At a 6 s frame interval the offsets read "-0.00 h" and the trajectory gallery's columns all
    read "pseudo-time +0.0 h": a span that hours show as 0 is given in minutes (or seconds), one unit
    per gallery, each column's title distinct."""
    from dynaclr.figures.trajectories import plot_aligned_trajectories
    from dynaclr.numerics.timescale import FrameClock

    fast = FrameClock.of(0.1)  # 6 s
    assert fast.offset(-1, decimals=2) == "-0.10 min"
    assert FrameClock.of(0.001).offset(-1, decimals=2) == "-0.06 s"
    assert FrameClock.of(30.0).offset(-2, decimals=2) == "-1.00 h"
    assert fast.offset(0) == "+0.0 h"
    assert FrameClock().offset(-4) == "-4 frames"
    assert fast.offsets([-4.0, 0.0, 4.0, 8.0]) == ["-0.4 min", "+0.0 min", "+0.4 min", "+0.8 min"]
    rng = np.random.default_rng(0)
    n = 40
    frames = pd.DataFrame(
        {
            "fov_name": "A/1/0",
            "query_id": np.arange(n) % 4,
            "track_id": np.arange(n),
            "t": np.arange(n),
            "pseudotime": np.repeat(np.arange(10.0), 4),
            "normalized_cost": rng.random(n),
            "is_reference_series": False,
            "row": np.arange(n),
            "pc1": rng.normal(size=n),
        }
    )
    figure, _ = plot_aligned_trajectories(
        frames, np.array([0.5]), thumbnails=lambda rows: rng.random((len(rows), 8, 8)), clock=fast
    )
    titles = [axis.get_title() for axis in figure.axes if axis.get_title().startswith("pseudo-time ")]
    assert len(titles) == 5 and len(set(titles)) == 5, titles
    assert all(title.endswith(" min") for title in titles), titles
