"""The evaluation figures. Each function returns ``(Figure, caption)``; the caption is one
paragraph that states what is shown and the numbers a reader needs, ready for the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.stats import gaussian_kde

from dynaclr.classify.annotations import task_classes
from dynaclr.config.analysis import ALIGNED_EVENT_NAMES
from dynaclr.config.reasons import ONE_TIME_POINT
from dynaclr.evaluation.temporal import (
    Embeddings,
    adjacent_distances,
    counted_reason,
    kde_grid,
    kde_peak,
    no_random_pairs_reason,
    random_distances,
    smoothness,
)
from dynaclr.io.figures import new_figure
from dynaclr.numerics.timescale import FrameClock

_STATE_COLORS = {0.0: "#4c72b0", 1.0: "#dd8452"}
#: Predicted labels drawn in the colours of the true states they name.
_LABEL_COLORS = {
    "uninfected": _STATE_COLORS[0.0],
    "interphase": _STATE_COLORS[0.0],
    "infected": _STATE_COLORS[1.0],
    "mitosis": _STATE_COLORS[1.0],
}


#: The ground truth's 0/1 columns: the panel's title and the legend's names of 0 and 1, in the words
#: of the classifiers' predicted labels beside them (a panel titled "infected" with a legend
#: "infected=False" did not say it was the ground truth, nor read as a biologist's words).
_TRUTH_PANELS = {
    "infected": ("infection, ground truth", ("uninfected", "infected")),
    "mitosis": ("division, ground truth", ("interphase", "mitosis")),
}
#: Per ground-truth 0/1 column, its task and the column of the task's predicted labels: a dataset
#: without the state (no cell of it in the ground truth) and without the task's classifier (no
#: predicted labels) does not have the task, so no panel of it is drawn (a division-only plate drew
#: an "infection, ground truth" panel all "uninfected", read as a missing result).
_TRUTH_TASKS = {
    "infected": ("infection", "predicted_infection"),
    "mitosis": ("division", "predicted_division"),
}
#: Legend of the cells a 0/1 column leaves unknown (no ground-truth cell within the matching distance).
_UNMATCHED = "no ground-truth match"


def _state_names(column: str) -> tuple[str, str]:
    """The legend's names of a 0/1 column's 0 and 1 (``not <column>``, ``<column>`` for others)."""
    return _TRUTH_PANELS[column][1] if column in _TRUTH_PANELS else (f"not {column}", column)


def absent_states(cells: pd.DataFrame) -> list[str]:
    """The ground-truth 0/1 columns of :data:`_TRUTH_TASKS` in ``cells`` whose state the figure has
    nothing to show of: no cell is in it (every value 0 or NaN) and ``cells`` hold no predictions of
    its task (no predicted column with a label). Decided from the data given, not the run's tasks: a
    classifier transferred from another dataset predicts in a file the figure is not given. A column
    with one positive cell, or whose task has predictions, is not absent: it is information (a
    classifier's errors, a state that never occurs)."""
    absent = []
    for column, (_, predicted) in _TRUTH_TASKS.items():
        if column not in cells.columns:
            continue
        states = pd.to_numeric(cells[column], errors="coerce").to_numpy(dtype=np.float64)
        has_predictions = predicted in cells.columns and cells[predicted].notna().any()
        if not (states == 1.0).any() and not has_predictions:
            absent.append(column)
    return absent


def _tasks_note(cells: pd.DataFrame, absent: Sequence[str]) -> str:
    """The caption's sentence naming the tasks shown and those left out (:func:`absent_states`)."""
    if not absent:
        return ""
    left_out = [_TRUTH_TASKS[c][0] for c in absent]
    shown = [
        task
        for column, (task, predicted) in _TRUTH_TASKS.items()
        if column not in absent and (column in cells.columns or predicted in cells.columns)
    ]
    states = " or ".join(_state_names(c)[1] for c in absent)
    tasks = " or ".join(left_out)
    return (
        f" Tasks: {', '.join(shown) if shown else 'none'}; no {tasks} panel: no cell of this dataset's "
        f"ground truth is {states} and no {tasks} predictions were given to this figure."
    )


def _panel_name(column: str) -> str:
    """A panel's title: ``infection, ground truth`` for the ground truth's 0/1 columns, else the
    column's words (``predicted infection``)."""
    return _TRUTH_PANELS[column][0] if column in _TRUTH_PANELS else column.replace("_", " ")


#: tab20 colours of the other labels (a condition "mock" beside "infected"): tab10's, those whose hue
#: is furthest from the states' blue and orange first, then their light shades; never red (drawn
#: beside the orange "infected", the demo's "mock" read as the same colour), grey (the unknown
#: cells'), blue or orange. Twelve labels before a colour repeats.
_OTHER_LABEL_COLORS = (4, 8, 12, 16, 18, 10, 5, 9, 13, 17, 19, 11)


#: Projection methods in drawing order, and how their axes are named.
_METHOD_AXES = {"pca": "PC", "umap": "UMAP", "phate": "PHATE"}
#: Colour of cells whose state is unknown (no ground-truth match, no prediction).
_UNKNOWN_COLOR = "0.8"


def _time_values(cells: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Hours since the first frame where every cell has ``time_minutes``, else the frame ``t``."""
    if "time_minutes" in cells.columns:
        minutes = pd.to_numeric(cells["time_minutes"], errors="coerce").to_numpy(dtype=np.float64)
        if len(minutes) and np.isfinite(minutes).all():
            return minutes / 60.0, "hours post start"
    return cells["t"].to_numpy(dtype=np.float64), "frame"


def _axis_label(method: str, component: int, variance_ratio: Sequence[float] | None) -> str:
    label = f"{_METHOD_AXES[method]}{component}"
    if method == "pca" and variance_ratio is not None and component <= len(variance_ratio):
        label += f" ({100.0 * variance_ratio[component - 1]:.1f}% variance)"
    return label


def label_colors(labels: Iterable[str], conditions: Sequence[str] = ()) -> dict[str, str | tuple[float, ...]]:
    """One colour per label (a condition, a predicted state), in the labels' sorted order: the
    states' names (``infected``, ``uninfected``, ...) take the states' colours, the others
    :data:`_OTHER_LABEL_COLORS` by their place in the run's ``conditions`` (every condition of
    every dataset, sorted: the workflow passes them to each figure), then any other label's sorted
    after them. So a condition's colour is a function of its name within the run, not of the labels
    one figure holds: ``mock`` was green in one dataset and purple in another. Every figure that
    colours by condition (the projections, the infected fraction) draws its conditions with it: the
    infected-fraction plot drew the condition ``infected`` in blue and ``mock`` in orange beside
    projections drawing ``infected`` orange and ``mock`` green."""
    palette = colormaps["tab20"]
    categories = sorted(set(labels))
    run = sorted(set(conditions))
    others = [c for c in run + [c for c in categories if c not in run] if c not in _LABEL_COLORS]
    return {
        category: _LABEL_COLORS[category]
        if category in _LABEL_COLORS
        else palette(_OTHER_LABEL_COLORS[others.index(category) % len(_OTHER_LABEL_COLORS)])
        for category in categories
    }


def _draw_states(
    ax: Axes, x: np.ndarray, y: np.ndarray, values: pd.Series, column: str, conditions: Sequence[str] = ()
) -> str | None:
    """Scatter one categorical colouring; 0/1 columns under the names of :func:`_state_names`, text
    columns in :func:`label_colors` (``conditions``: the run's). Returns a count."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric or pd.api.types.is_bool_dtype(values):
        states = values.to_numpy(dtype=np.float64)
        unknown = ~np.isfinite(states)
        if unknown.any():
            ax.scatter(x[unknown], y[unknown], s=5, color=_UNKNOWN_COLOR, linewidths=0, label=_UNMATCHED)
        for (state, color), name in zip(_STATE_COLORS.items(), _state_names(column), strict=True):
            chosen = states == state
            ax.scatter(x[chosen], y[chosen], s=6, color=color, linewidths=0, label=name)
        return f"{int(np.nansum(states))} of {int(np.isfinite(states).sum())} cells {column}"
    labels = values.astype("string")
    unknown = labels.isna().to_numpy()
    if unknown.any():
        ax.scatter(x[unknown], y[unknown], s=5, color=_UNKNOWN_COLOR, linewidths=0, label="unknown")
    colors = label_colors((str(c) for c in labels.dropna().unique()), conditions)
    for category, label_color in colors.items():
        chosen = (labels == category).fillna(False).to_numpy(dtype=bool)
        ax.scatter(x[chosen], y[chosen], s=6, color=label_color, linewidths=0, label=category)
    return None


def plot_projections(
    cells: pd.DataFrame,
    color_columns: tuple[str, ...] = (
        "t",
        "condition",
        "predicted_infection",
        "predicted_division",
        "infected",
        "mitosis",
    ),
    title: str = "",
    variance_ratio: Sequence[float] | None = None,
    conditions: Sequence[str] = (),
) -> tuple[Figure, str]:
    """Scatter of 2-D projections: one row per method (PCA, UMAP, PHATE), one panel per colouring.

    Args:
        cells: one row per cell with the coordinates ``{method}_1, {method}_2`` of each method
            drawn (``pca``, ``umap``, ``phate``, in that order, those present), and the
            ``color_columns``. ``t`` stands for time: hours since the first frame where
            ``time_minutes`` is known for every cell, else the frame. 0/1 columns (``infected``,
            ``mitosis``: ground truth) are two classes; text columns (``condition``,
            ``predicted_infection``: a classifier's labels) one colour per value; NaN grey.
            E.g. :func:`dynaclr.embeddings.projection_table` with
            :func:`dynaclr.embeddings.attach_ground_truth` applied.
        color_columns: columns to colour by, one panel each (missing or all-NaN ones are skipped, and
            a ground-truth state the dataset does not have, :func:`absent_states`: the caption
            names the tasks shown and those left out).
        title: e.g. ``"DynaCLR, demo"``.
        variance_ratio: PCA's explained variance ratio per component, shown on its axes.
        conditions: every condition of the run, which fix each condition's colour
            (:func:`label_colors`).
    """
    methods = [m for m in _METHOD_AXES if f"{m}_1" in cells.columns and f"{m}_2" in cells.columns]
    if not methods:
        raise ValueError(
            f"no projection coordinates (pca_1/2, umap_1/2, phate_1/2) among columns {list(cells.columns)}"
        )
    absent = absent_states(cells)
    panels = [c for c in color_columns if c in cells.columns and cells[c].notna().any() and c not in absent]
    if not panels:
        raise ValueError(f"none of the colour columns {color_columns} is in the table")
    time, time_unit = _time_values(cells)
    figure = new_figure(3.6 * len(panels), 3.3 * len(methods))
    axes = figure.subplots(len(methods), len(panels), squeeze=False)
    counts: dict[str, str] = {}
    for row, method in zip(axes, methods, strict=True):
        x, y = (cells[f"{method}_{k}"].to_numpy(dtype=np.float64) for k in (1, 2))
        for ax, column in zip(row, panels, strict=True):
            if column == "t":
                scatter = ax.scatter(x, y, c=time, s=6, cmap="viridis", linewidths=0)
                figure.colorbar(scatter, ax=ax, label=time_unit)
                name = f"time ({time_unit})"
            else:
                count = _draw_states(ax, x, y, cells[column], column, conditions)
                if count is not None:
                    counts[column] = count
                ax.legend(fontsize=7, markerscale=2, loc="best")
                name = _panel_name(column)
            ax.set_title(f"{_METHOD_AXES[method]}: {name}", fontsize=9)
            ax.set_xlabel(_axis_label(method, 1, variance_ratio), fontsize=8)
            ax.set_ylabel(_axis_label(method, 2, variance_ratio), fontsize=8)
    if title:
        figure.suptitle(title)
    caption = (
        f"{title + ': ' if title else ''}projections ({', '.join(_METHOD_AXES[m] for m in methods)}) of "
        f"{len(cells)} cell embeddings, coloured by "
        + ", ".join("time" if c == "t" else c.replace("_", " ") for c in panels)
        + (f" ({'; '.join(counts.values())})" if counts else "")
        + f". {_reading(panels)}"
        + _tasks_note(cells, absent)
    )
    return figure, caption


def _reading(panels: Sequence[str]) -> str:
    """How to read the projections, of the colourings drawn only: no infected or mitotic cells are
    spoken of where no panel colours them (a movie without annotations or ground truth)."""
    states = [
        name
        for name, columns in (
            ("infected", ("infected", "predicted_infection")),
            ("mitotic", ("mitosis", "predicted_division")),
        )
        if any(c in panels for c in columns)
    ]
    signs = (["smooth colour gradients along time"] if "t" in panels else []) + (
        [f"separated {'/'.join(states)} cells"] if states else []
    )
    if not signs:
        return "Cells of one colour grouped together indicate that the embedding encodes that grouping."
    what = "these states" if states else "time"
    return f"{' and '.join(signs).capitalize()} indicate that the embedding encodes {what}."


def not_computed_figure(label: str, reason: str) -> Figure:
    """A figure that says, in place of a plot, that ``label``'s plot was not computed and why."""
    figure = new_figure(5.0, 3.4)
    ax = figure.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, f"{label}\nnot computed: {reason}", ha="center", va="center", fontsize=9, wrap=True)
    return figure


def plot_distance_distributions(
    embeddings: Embeddings, index: pd.DataFrame, seed: int = 0, label: str = ""
) -> tuple[Figure, str]:
    """Histograms and KDEs of adjacent-frame vs random-frame cosine distances, KDE peaks marked.

    The peaks' difference is the dynamic range and the means' ratio the smoothness (paper
    appendix C; :mod:`dynaclr.evaluation.temporal`).

    Args:
        embeddings: ``(N, D)`` embeddings row-aligned with ``index`` (``fov_name, track_id, t``):
            an array, or :class:`~dynaclr.embeddings.MatrixBlocks` (an embeddings store's matrix,
            read a block of rows at a time, never whole); either draws the same distances.
        seed: seed of the random pairs.
        label: the model/dataset name for the title and caption.

    Cells without adjacent frames, or whose random frames within a track are their adjacent ones (a
    movie of two frames), have no pairs to compare: the figure and caption say "not computed" and why
    (:func:`~dynaclr.evaluation.temporal.no_random_pairs_reason`: ``one time point`` for still images,
    ``no track spans two frames`` for tracks of one detection each, ``no track spans three frames``).
    """
    reason = no_random_pairs_reason(index)
    if reason is not None:
        figure = not_computed_figure(label, reason)
        caption = (
            f"{label + ': ' if label else ''}cosine distances between a cell's frames not computed: "
            + (
                "one time point (still images)."
                if reason == ONE_TIME_POINT
                else f"{counted_reason(reason, index)}."
            )
        )
        return figure, caption
    adjacent = adjacent_distances(embeddings, index)["distance"].to_numpy()
    random = random_distances(embeddings, index, rng=seed)["distance"].to_numpy()
    grid = kde_grid()
    figure = new_figure(5.0, 3.4)
    ax = figure.subplots()
    # the axis ends at the 99.5th percentile of all distances, so that a few far pairs do not squeeze
    # both distributions into the first bins; the caption counts the pairs beyond it
    both = np.concatenate([adjacent, random])
    upper = float(np.quantile(both, 0.995)) if both.size else 0.0
    bins = np.linspace(0.0, max(upper * 1.05, 1e-3), 40)
    beyond = int((both > bins[-1]).sum())
    peaks = {}
    for name, values, color in (("adjacent", adjacent, "#4c72b0"), ("random", random, "#dd8452")):
        ax.hist(
            values,
            bins=bins.tolist(),
            density=True,
            alpha=0.35,
            color=color,
            label=f"{name} ({values.size} pairs)",
        )
        peaks[name] = kde_peak(values, grid)
        if values.size >= 2 and np.ptp(values) > 0:
            visible = grid[grid <= bins[-1]]
            ax.plot(visible, gaussian_kde(values)(visible), color=color)
        ax.axvline(peaks[name], color=color, linestyle="--", linewidth=1)
    dynamic = peaks["random"] - peaks["adjacent"]
    smooth = smoothness(adjacent, random)
    ax.set_xlabel("cosine distance")
    ax.set_ylabel("density")
    # the values on a line of their own: on one line with a long label ("engineered_features, demo")
    # the title ran past the figure's edge and read "dynamic range 0" for 0.064
    values = f"track-pair smoothness {smooth:.3f}, dynamic range {dynamic:.3f}"
    ax.set_title(f"{label}\n{values}" if label else values, fontsize=9)
    ax.legend(fontsize=8)
    caption = (
        f"{label + ': ' if label else ''}cosine distances between embeddings of the same cell at "
        f"adjacent frames ({adjacent.size} pairs) and at two random frames ({random.size} pairs), "
        f"histograms with Gaussian KDEs; dashed lines mark the KDE peaks (adjacent "
        f"{peaks['adjacent']:.3f}, random {peaks['random']:.3f}). Dynamic range (peak difference) "
        f"{dynamic:.3f}, smoothness (mean adjacent / mean random) {smooth:.3f}: lower smoothness and "
        "larger dynamic range mean a trajectory that changes little frame to frame yet spans a wide range. "
        "These are the track-pair variant (random pairs within a cell's track: the results table's "
        "'Smoothness, track pairs'), not the paper's smoothness and dynamic range of its '(paper)' columns, "
        "whose random pairs are of different cells."
        + (
            f" {beyond} pairs beyond {bins[-1]:.3f} (the 99.5th percentile) are not drawn; every pair counts "
            "in the peaks and means."
            if beyond
            else ""
        )
    )
    return figure, caption


#: The state whose fraction of cells a task's curves count, as the fraction plot's labels name it.
FRACTION_STATES: dict[str, str] = {"infection": "infected", "division": "mitotic"}


def plot_infected_fraction(
    curves: pd.DataFrame, label: str = "", conditions: Sequence[str] = (), task: str | None = None
) -> tuple[Figure, str]:
    """Fraction of cells in the curves' task's state over time (infected; mitotic for ``division``),
    one colour per condition: classify and count (dashed), adjusted classify and count (ACC,
    dash-dot) and the truth (solid; none where there is no ground truth: ``n_cells_true`` all 0).

    The adjusted curve is drawn where ``curves`` has one (``adjusted_fraction``) and its
    ``adjustment_note`` is empty; otherwise the caption says why it is not (it would repeat the
    classify-and-count curve).

    Args:
        curves: :func:`dynaclr.figures.curves.infected_fraction_over_time` output.
        label: model/dataset name.
        conditions: every condition of the run, which fix each condition's colour
            (:func:`label_colors`).
        task: the task the curves count, which the axis and caption name; by default
            ``curves.attrs["task"]`` (set by ``infected_fraction_over_time``). Curves that do not
            say their task (a table read back from CSV) need it; one that disagrees is refused.
    """
    state = _fraction_state(curves, task)
    figure = new_figure(5.0, 3.4)
    ax = figure.subplots()
    use_minutes = "time_minutes" in curves.columns and curves["time_minutes"].notna().all()
    counted: list[str] = []
    adjusted_errors: list[str] = []
    has_truth = bool((curves["n_cells_true"] > 0).any())
    note = _adjustment_note(curves)
    adjusted = not note
    colors = label_colors((str(c) for c in curves["condition"].unique()), conditions)
    for condition, group in curves.groupby("condition", sort=True):
        color = colors[str(condition)]
        x = group["time_minutes"] / 60.0 if use_minutes else group["t"]
        if has_truth:
            ax.plot(x, group["true_fraction"], color=color, label=f"{condition} truth")
        drawn = [("predicted_fraction", "--", "o", "classify and count")]
        if adjusted:
            drawn.append(("adjusted_fraction", "-.", "s", "adjusted (ACC)"))
        for column, linestyle, marker, name in drawn:
            ax.plot(
                x,
                group[column],
                color=color,
                linestyle=linestyle,
                marker=marker,
                ms=3,
                label=f"{condition} {name}",
            )
        if has_truth:
            counted.append(f"{condition} {_mean_abs_difference(group, 'predicted_fraction'):.3f}")
            if adjusted:
                adjusted_errors.append(f"{condition} {_mean_abs_difference(group, 'adjusted_fraction'):.3f}")
        else:
            with_call = group.dropna(subset=["predicted_fraction"])
            if with_call.empty:  # every cell of the condition lacks a call
                counted.append(f"{condition} no cell with a call")
                continue
            last = with_call.iloc[-1]
            counted.append(
                f"{condition} {last['predicted_fraction']:.2f}"
                + (f" (adjusted {last['adjusted_fraction']:.2f})" if adjusted else "")
                + f" of {int(last['n_cells_predicted'])} cells"
            )
    ax.set_xlabel("time (h)" if use_minutes else "frame")
    ax.set_ylabel(f"{state} fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    if label:
        ax.set_title(label, fontsize=9)
    curves_text = (
        "counted from the linear classifier trained on sparse annotations (classify and count, dashed)"
    )
    if adjusted:
        curves_text += (
            ", the same adjusted for the classifier's error rates "
            "(adjusted classify and count, ACC, dash-dot)"
        )
    if has_truth:
        caption = (
            f"{label + ': ' if label else ''}fraction of {state} cells over time per condition, "
            f"{curves_text} and from ground truth (solid). Mean absolute difference from the truth: "
            f"classify and count {', '.join(counted)}"
            + (f"; adjusted (ACC) {', '.join(adjusted_errors)}" if adjusted else "")
            + "."
        )
    else:
        caption = (
            f"{label + ': ' if label else ''}fraction of {state} cells over time per condition, "
            f"{curves_text} (no ground truth for this dataset). At the last frame: {', '.join(counted)}."
        )
    return figure, " ".join(
        (caption, _adjustment_sentence(curves, note), _fraction_counts(curves, has_truth, state))
    )


def _fraction_state(curves: pd.DataFrame, task: str | None) -> str:
    """The state ``curves`` count the fraction of (:data:`FRACTION_STATES`), from ``task`` or the
    task the curves carry; refused where neither says it, they disagree or the task is unknown."""
    carried = curves.attrs.get("task")
    if task is None and carried is None:
        raise ValueError(
            "the fraction curves do not say their task (attrs['task'], set by infected_fraction_over_time "
            f"and lost in a CSV): pass task=, one of {sorted(FRACTION_STATES)}"
        )
    if task is not None and carried is not None and task != carried:
        raise ValueError(f"curves of task {carried!r} cannot be drawn as task={task!r}")
    told = str(task if task is not None else carried)
    task_classes(told)  # an unknown task is refused here
    return FRACTION_STATES[told]


def _mean_abs_difference(group: pd.DataFrame, column: str) -> float:
    """Mean over frames of ``|column - true_fraction|`` of one condition's curves."""
    return float((group[column] - group["true_fraction"]).abs().mean())


#: What the adjusted classify and count cannot correct, stated in the fraction plot's caption
#: (docs/reliability.md gives the measurements).
ADJUSTMENT_LIMITS = (
    "the rates are those of the cross-validation's classifiers, fitted on fewer labels, which err "
    "more than the final one whose calls are counted: the adjustment can over-correct (on "
    "simulated plates it did so in the wells where the state was common while correcting those "
    "where it was absent; docs/reliability.md); "
    "ACC assumes the labelled cells are a random sample of their class, but annotators (and the "
    "drawn labels) pick clear cells, so the rates can understate the errors on ambiguous ones; it "
    "assumes the classifier errs alike in every condition and frame; a classifier imported from a "
    "file and applied back to the plate it was fitted on is scored on its own training labels, "
    "in-sample rates that understate its errors."
)


def _adjustment_note(curves: pd.DataFrame) -> str:
    """Why ``curves`` carry no adjusted fraction to draw (empty when they do)."""
    if "adjusted_fraction" not in curves.columns or "adjustment_note" not in curves.columns:
        return "the curves hold no adjusted fraction"
    notes = curves["adjustment_note"].fillna("").astype(str)
    return str(notes[notes != ""].iloc[0]) if (notes != "").any() else ""


def _adjustment_sentence(curves: pd.DataFrame, note: str) -> str:
    """The caption's sentence on the adjusted classify and count: what it corrects, with which
    error rates, or why it is not drawn."""
    if note:
        return f"Adjusted classify and count (ACC) not drawn: {note}; the counted fraction stands unadjusted."
    tpr, fpr = float(curves["true_positive_rate"].iloc[0]), float(curves["false_positive_rate"].iloc[0])
    return (
        "Classify and count leans toward one half where the classifier, trained with balanced class "
        "weights, errs; the adjusted fraction (q - FPR) / (TPR - FPR), clipped to [0, 1], corrects "
        f"each counted fraction q for the classifier's error rates TPR {tpr:.3f}, FPR {fpr:.3f}, "
        "measured on its labelled cells out of fold by the FOV-grouped cross-validation (a classifier "
        "transferred from another dataset: on this dataset's labels, without cross-validation). "
        f"Limits: {ADJUSTMENT_LIMITS}"
    )


def _fraction_counts(curves: pd.DataFrame, has_truth: bool, state: str) -> str:
    """The caption's sentence on the cells each condition's curves rest on: classifier predictions
    (cell-frames with a call, and the fewest and most in a frame), the cells left out for want of a
    call (where any), labelled cells, ground-truth cells."""
    parts = []
    for condition, group in curves.groupby("condition", sort=True):
        predicted = group["n_cells_predicted"]
        text = (
            f"{condition}: {int(predicted.sum()):,} predictions "
            f"({int(predicted.min()):,}–{int(predicted.max()):,} per frame)"
        )
        without_call = int(group["n_cells_without_call"].sum()) if "n_cells_without_call" in group else 0
        if without_call:
            text += f", {without_call:,} cells without a call (no finite probability) left out"
        if "n_cells_annotated" in group.columns:
            text += (
                f", {int(group['n_cells_annotated'].sum()):,} labelled "
                f"({int(group['n_cells_annotated_positive'].sum()):,} {state})"
            )
        if has_truth:
            text += f", {int(group['n_cells_true'].sum()):,} ground-truth cells"
        parts.append(text)
    return (
        "Cells counted over all frames (cell-frames; labelled: annotated cells the classifier was fitted "
        f"on or scored against): {'; '.join(parts)}."
    )


def plot_pseudotime_accuracy(
    pseudotime: pd.DataFrame,
    accuracy: pd.DataFrame,
    label: str = "",
    event: str = ALIGNED_EVENT_NAMES["infection"],
    clock: FrameClock | None = None,
) -> tuple[Figure, str]:
    """DTW pseudo-time vs the true time since the event (infection onset or division), and the onset errors.

    Args:
        pseudotime: per-frame table of :func:`dynaclr.pseudotime.stage.pseudotime_stage`.
        accuracy: its per-query accuracy table (``true_onset_t``, ``onset_error_frames``,
            ``has_observed_onset``).
        label: model/dataset name.
        event: what the DTW aligned on, as the caption names it (``analysis.pseudotime.event``).
        clock: the dataset's frame interval: times in hours where it is known, else in frames (the
            axes and the caption say which).

    The reference lineages (``is_reference_series``), aligned to themselves, are left out, as in
    the results table and the first page: their error of about 0 says nothing of the alignment.
    """
    clock = clock or FrameClock()
    if "is_reference_series" in accuracy.columns:
        accuracy = accuracy[~accuracy["is_reference_series"].astype(bool)]
    truth = accuracy[["fov_name", "query_id", "true_onset_t", "has_observed_onset"]]
    frames = pseudotime.merge(truth, on=["fov_name", "query_id"], how="inner")
    frames = frames[frames["has_observed_onset"].astype(bool) & frames["in_match"].astype(bool)]
    true_since_onset = clock((frames["t"] - frames["true_onset_t"]).to_numpy(dtype=np.float64))
    estimated = clock(frames["pseudotime"].to_numpy(dtype=np.float64))
    errors = accuracy.loc[accuracy["has_observed_onset"].astype(bool), "onset_error_frames"].dropna()
    figure = new_figure(8.0, 3.4)
    left, right = figure.subplots(1, 2)
    for k, (_, group) in enumerate(frames.groupby(["fov_name", "query_id"], sort=True)):
        left.plot(
            clock(group["t"] - group["true_onset_t"]),
            clock(group["pseudotime"]),
            color=f"C{k % 10}",
            alpha=0.6,
            lw=1,
        )
    if true_since_onset.size:
        low, high = float(np.nanmin(true_since_onset)), float(np.nanmax(true_since_onset))
        left.plot([low, high], [low, high], color="k", linestyle=":", lw=1, label="identity")
        left.legend(fontsize=7)
    left.set_xlabel(f"true time since {event} ({clock.unit})")
    left.set_ylabel(f"DTW pseudo-time ({clock.unit})")
    if len(errors):
        span = max(1, int(np.ceil(errors.abs().max())))
        right.hist(clock(errors), bins=clock(np.arange(-span - 0.5, span + 1.5, 1.0)), color="#4c72b0")
    right.set_xlabel(f"aligned - true onset ({clock.unit})")
    right.set_ylabel("lineages")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count: no "2.5 lineages" tick
    if label:
        figure.suptitle(label)
    correlation = (
        float(np.corrcoef(true_since_onset, estimated)[0, 1])
        if true_since_onset.size > 2 and np.ptp(estimated) > 0
        else float("nan")
    )
    mean_error = errors.abs().mean()
    caption = (
        f"{label + ': ' if label else ''}times in {clock.stated}. Left, DTW pseudo-time of each matched "
        f"frame against the true time since the {event} for "
        f"{frames[['fov_name', 'query_id']].drop_duplicates().shape[0]} "
        f"lineages whose {event} is observed, the reference excluded (Pearson r = {correlation:.3f}; "
        "dotted: identity); right, "
        f"aligned minus true onset (mean |error| {mean_error:.2f} frames{clock.in_hours(mean_error)}, "
        f"{int((errors.abs() <= 1).sum())} of {len(errors)} within one frame)."
    )
    return figure, caption
