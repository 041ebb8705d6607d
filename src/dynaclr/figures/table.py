"""The model comparison table (like the paper's Tables 4-5): one row per (model, dataset), and one
more for each further dataset a model's classifiers were transferred from into that dataset (holding
that source's ``f1_*_transferred`` columns only; the first source in name order is on the first row).

Columns of :func:`results_table`: ``model, dataset``; ``distribution`` (``in``: the model trained on
this dataset, ``out``: on others, ``external``: read from a file, ``untrained``: a baseline) and
``trained_on``, ``time_interval_minutes`` (the dataset's frame interval: smoothness and dynamic
range compare adjacent frames, so rows of datasets of other intervals measure other time steps) and
``transfers_skipped`` (the classifier transfers to the dataset left out because their source dataset
is sampled otherwise or gives another input; empty: none); why a column over time is not computed
on the row, each reason in the columns it concerns (:data:`NOT_COMPUTED_COLUMNS`; empty: computed
where configured): ``temporal_not_computed`` (the paper's smoothness and dynamic range),
``track_pairs_not_computed`` (the track pairs') and ``dtw_not_computed`` (the DTW error), each
``one time point`` for still images, from the workflow's plan, else, for the first two, their
definition's ``not_computed`` in ``temporal_metrics.csv``: ``no track spans two frames (...)`` or
``no track spans two adjacent frames (...)`` for a movie whose tracks never hold two adjacent frames
(both), ``no track spans three frames: ...`` for one whose tracks never span three frames (the track
pairs' only: the paper's definition is measured), and for the DTW error the ``not_computed`` of
``dtw_accuracy.csv`` (a movie none of whose lineages could be aligned, e.g. ``no track spans two
frames (...)``), or the plan's ``dtw_not_computed`` of a movie DTW is not planned on (nothing gives
its cells' infection state); why each F1 is empty on a (model, dataset)'s row
(:data:`F1_NOT_COMPUTED_COLUMNS`, :func:`_f1_reasons`; empty: computed, or NaN for want of a
positive cell, which its counts show): ``f1_<task>_not_computed`` and
``f1_<task>_transferred_not_computed``, in a few phrases: ``<task> is not in
analysis.classification.tasks``; ``no <task> annotations in <dataset>`` (rule ``classify`` skips a
task the dataset's annotations lack; for a transferred F1, the dataset it would be scored on, or the
source its classifier would come from; ``no <task> classifier in <file>`` of a file of an earlier
run); the plan's (``pairs``' ``f1_not_computed`` and
``f1_<task>_transferred_not_computed``, :func:`planned_f1_reasons`): ``no annotations in <dataset>``,
``<dataset> is not in analysis.classification.train_on`` (or ``apply_to``), no classifier fitted on
another dataset nor imported, or the sources' patches differ (``transfers_skipped``); ``smoothness`` and
``dynamic_range`` as the paper's tables define them (``temporal_metrics.csv`` rows of definition
``paper``, no CIs); ``smoothness_track_pairs`` and ``dynamic_range_track_pairs``, this project's
stricter definition, with ``_ci_low``/``_ci_high``; ``f1_infection`` and ``f1_division`` with CIs,
of classifiers cross-validated on the dataset's own annotations; ``f1_infection_transferred`` (and
division) with CIs and ``_from``, of classifiers fitted on another dataset (``f1_*_from``) and
scored here, each with the cells it is scored on (``_n_test``, ``_n_test_positive``: F1 is NaN
when they are all of one class, the reason in ``_ci_missing``, shown in its cell) and its CI's
bootstrap replicates (``_bootstrap_used``; ``_ci_missing``: why there is no CI, e.g. too many
resamples without a positive cell); ``dtw_onset_mae_frames`` (mean
|aligned - true onset| over lineages with an observed onset, reference excluded) with
``_ci_low``/``_ci_high`` (a percentile bootstrap over lineages,
:func:`dynaclr.pseudotime.stage.onset_error_summary`: the first page's) and ``dtw_n_lineages``;
``n_cells`` and ``n_tracks`` (the cells embedded and the tracks the track-pair metrics resample);
the level of each interval: ``track_pairs_confidence`` (``temporal_metrics.csv``'s ``confidence``),
``f1_<task>[_transferred]_confidence`` (``classification.csv``'s) and
``dtw_onset_mae_frames_confidence``; ``dtw_n_aligned`` (the lineages DTW aligned, reference
excluded, with a true onset or not) and ``dtw_state_source`` (what gave the state the reference
was picked by, a whole phrase: ``infection state from ground truth``, ``infection state predicted
by its own classifiers``, ``infection state predicted by classifiers transferred from <source>``,
``division state from its tracks' lineage``; ``dtw_accuracy.csv``'s ``state_source``) and
``dtw_n_no_event`` (the aligned lineages whose own state shows no event inside their frames: never
reach it, or past it from their first frame, as the first page counts them; NaN for a
``dtw_accuracy.csv`` that does not say); how far each trained model's training went
(:data:`TRAINING_COLUMNS`, from its embeddings store, :func:`training_table`): ``stopped_by_time``
(``True``: the model's ``max_minutes`` budget ended its training before its epochs, its numbers are
of a partly trained model; ``False``: it trained every epoch; empty: not a trained model, or not
known: a model imported from a file, or embeddings written before it was recorded),
``epochs_completed`` and ``epochs`` (those configured). Missing inputs leave NaN. A DTW error not
scored (no true onset in any lineage: a dataset without ground truth) reads ``not scored (no true onset): <n>
lineages aligned; <dtw_state_source>``, with ``, <k> of them show no infection onset inside their
frames`` (or ``division``) after ``aligned`` where ``dtw_n_no_event`` counts some.

The HTML and PNG renderings name a partly trained model so in its Model cell (``m (partly trained:
3 of 50 epochs, stopped by max_minutes)``), and show each value with its CI and the sample it rests on:
``0.910 [0.880, 0.940] (n=412, 57+)`` for an F1 (annotated cells scored, positives among them;
a transferred one followed by ``from <source dataset>``),
``(n=96 tracks)`` for the track-pair smoothness, ``1.841 [0.932, 2.932] = 0.92 h (n=44 lineages)`` for
the DTW error (in frames, and in hours where ``time_interval_minutes`` is known), and a column
of cells (tracks) per row for the paper's definitions, computed over all cells; the HTML table's
``<caption>`` and the drawn table's caption state the intervals' levels the table records
(:func:`intervals_caption`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from dynaclr.config.analysis import ALIGNED_EVENT_NAMES, ONSET_ERROR_CONFIDENCE
from dynaclr.config.reasons import (
    F1_NOT_COMPUTED_COLUMNS,
    F1_TASKS,
    PLANNED_F1_REASONS,
    no_annotations,
    not_configured,
)
from dynaclr.numerics.timescale import FrameClock
from dynaclr.pseudotime.stage import no_event_counts, onset_error_summary

#: Columns of ``classification.csv`` each F1 column carries (``f1_<task>[_transferred]_<count>``, the
#: ``f1_`` of the last two dropped): the annotated cells an F1 is scored on and the positive ones
#: among them (F1 is NaN when they are all of one class), the bootstrap replicates its CI rests on
#: and why it has none.
F1_COUNTS = ("n_test", "n_test_positive", "f1_bootstrap_used", "f1_ci_missing")

#: Columns of ``pairs`` that the table carries first (those present), after ``model, dataset``.
PAIR_COLUMNS = (
    "distribution",
    "trained_on",
    "time_interval_minutes",
    "transfers_skipped",
    "temporal_not_computed",
    "dtw_not_computed",
)


#: Per display column that follows cells over time, the column of why it was not computed on a row
#: (shown as ``not computed: <reason>`` in place of its NaN): the plan's ``one time point`` for each
#: (still images), and the run's ``temporal_metrics.csv`` ``not_computed`` of the definition it
#: concerns: the paper's row (no adjacent pair) for the paper's columns, the ``track_pairs`` row (no
#: adjacent pair, or no track spanning three frames while the paper's definition is measured) for the
#: track pairs'. The DTW error's: ``dtw_accuracy.csv``'s ``not_computed`` (a movie whose lineages
#: could not be aligned), not the temporal metrics' (they do not say whether DTW was planned on the
#: dataset nor whether it aligned its lineages).
NOT_COMPUTED_COLUMNS: dict[str, str] = {
    "smoothness": "temporal_not_computed",
    "dynamic_range": "temporal_not_computed",
    "smoothness_track_pairs": "track_pairs_not_computed",
    "dtw_onset_mae_frames": "dtw_not_computed",
}

#: The ``definition`` of ``temporal_metrics.csv`` whose ``not_computed`` gives each reason column.
_RUN_REASONS: dict[str, str] = {"paper": "temporal_not_computed", "track_pairs": "track_pairs_not_computed"}

#: The reason column that ``dtw_accuracy.csv``'s ``not_computed`` gives (:data:`NOT_COMPUTED_COLUMNS`).
_DTW_REASON = "dtw_not_computed"

#: The column of the track-pair metrics' CI level (``temporal_metrics.csv``'s ``confidence``); each F1
#: has ``f1_<task>[_transferred]_confidence`` (``classification.csv``'s) and the DTW error
#: ``dtw_onset_mae_frames_confidence``.
TRACK_PAIRS_LEVEL = "track_pairs_confidence"

#: How far each trained model's training went (:func:`training_table`), per (model, dataset).
TRAINING_COLUMNS = ("stopped_by_time", "epochs_completed", "epochs")

_DISPLAY = (
    ("smoothness", "Smoothness (paper) ↓"),
    ("dynamic_range", "Dynamic range (paper) ↑"),
    ("smoothness_track_pairs", "Smoothness, track pairs ↓"),
    ("f1_infection", "F1 infection ↑"),
    ("f1_division", "F1 division ↑"),
    ("dtw_onset_mae_frames", "DTW onset error (frames) ↓"),
)


def results_table(
    temporal_metrics: pd.DataFrame | None = None,
    classification: pd.DataFrame | None = None,
    dtw_accuracy: pd.DataFrame | None = None,
    pairs: pd.DataFrame | None = None,
    tasks: Sequence[str] | None = None,
    training: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Merge the evaluation tables into one numeric comparison table (columns in module docstring).

    ``training`` (:func:`training_table`: ``model, dataset`` and :data:`TRAINING_COLUMNS`): how far
    each embedded model's training went; its columns are empty on a row it lacks.

    ``pairs`` (``model, dataset`` and :data:`PAIR_COLUMNS`: how each dataset relates to what its
    model learnt from, and the dataset's frame interval) gives the columns that come first.
    ``tasks`` (``analysis.classification.tasks``): a configured task that a classified (model,
    dataset) has no ``classification.csv`` row of gets its reason in ``f1_<task>_not_computed``
    (:func:`_f1_reasons`); None: the tasks are not known, no reason is derived.
    """
    parts: list[pd.DataFrame] = []
    if temporal_metrics is not None and len(temporal_metrics):
        columns = [
            f"{name}{suffix}"
            for name in ("smoothness", "dynamic_range")
            for suffix in ("", "_ci_low", "_ci_high")
        ]
        for definition, suffix in (("paper", ""), ("track_pairs", "_track_pairs")):
            rows = temporal_metrics[temporal_metrics["definition"] == definition]
            renamed = {
                column: column.replace("smoothness", f"smoothness{suffix}").replace(
                    "dynamic_range", f"dynamic_range{suffix}"
                )
                for column in columns
            }
            selected = rows[["model", "dataset", *columns]].rename(columns=renamed)
            if definition == "paper":  # the paper reports no intervals
                selected = selected.drop(
                    columns=[c for c in selected.columns if c.endswith(("_ci_low", "_ci_high"))]
                )
            parts.append(selected)
        sizes = temporal_metrics[temporal_metrics["definition"] == "track_pairs"]
        counted = [c for c in ("n_cells", "n_tracks") if c in sizes.columns]
        counted += [c for c in ("confidence",) if c in sizes.columns]
        if counted:
            parts.append(
                sizes[["model", "dataset", *counted]].rename(columns={"confidence": TRACK_PAIRS_LEVEL})
            )
        if "not_computed" in temporal_metrics.columns:  # why a definition measured nothing (run time)
            for definition, column in _RUN_REASONS.items():
                rows = temporal_metrics[temporal_metrics["definition"] == definition]
                reasons = rows["not_computed"].fillna("").astype(str)
                parts.append(rows[["model", "dataset"]].assign(**{f"_run_{column}": reasons}))
    # the transferred F1s of a (model, dataset)'s second, third, ... source (in name order), one row
    # each after the (model, dataset)'s own row (which holds the first source's): rank -> task -> rows
    more_sources: list[pd.DataFrame] = []
    if classification is not None and len(classification):
        own = classification["train_dataset"] == classification["dataset"]
        for task in ("infection", "division"):
            for rows, suffix in ((classification[own], ""), (classification[~own], "_transferred")):
                rows = rows[rows["task"] == task]
                if suffix and not len(rows):
                    continue
                rank = None
                if suffix:  # the first source in name order on the (model, dataset)'s row, others below
                    rows = rows.sort_values(["model", "dataset", "train_dataset"], kind="stable")
                    rank = rows.groupby(["model", "dataset"], sort=False).cumcount()
                columns = ["model", "dataset", "f1", "f1_ci_low", "f1_ci_high"]
                columns += [c for c in (*F1_COUNTS, "confidence") if c in rows.columns]
                renamed = rows[columns + (["train_dataset"] if suffix else [])].rename(
                    columns={
                        "f1": f"f1_{task}{suffix}",
                        "f1_ci_low": f"f1_{task}{suffix}_ci_low",
                        "f1_ci_high": f"f1_{task}{suffix}_ci_high",
                        "train_dataset": f"f1_{task}{suffix}_from",
                        "confidence": f"f1_{task}{suffix}_confidence",
                        **{count: f"f1_{task}{suffix}_{count.removeprefix('f1_')}" for count in F1_COUNTS},
                    }
                )
                if rank is None:
                    parts.append(renamed)
                else:
                    parts.append(renamed[(rank == 0).to_numpy()])
                    more_sources.append(renamed[(rank > 0).to_numpy()].assign(_source_rank=rank[rank > 0]))
    if dtw_accuracy is not None and len(dtw_accuracy):
        summary = onset_error_summary(dtw_accuracy)
        parts.append(summary.assign(dtw_onset_mae_frames_confidence=ONSET_ERROR_CONFIDENCE))
        parts.append(_dtw_aligned(dtw_accuracy))
        if "not_computed" in dtw_accuracy.columns:  # a (model, dataset) that aligned nothing (run time)
            reasons = dtw_accuracy[dtw_accuracy["not_computed"].fillna("").astype(str) != ""]
            reasons = reasons.drop_duplicates(["model", "dataset"])
            renamed = {"not_computed": f"_run_{_DTW_REASON}"}
            parts.append(reasons[["model", "dataset", "not_computed"]].rename(columns=renamed))
    if not parts and pairs is None:
        raise ValueError("results_table needs at least one non-empty input table")
    table = _outer_merged(parts, ["model", "dataset"])
    if pairs is not None:
        carried = [column for column in PAIR_COLUMNS if column in pairs.columns]
        table = pairs[["model", "dataset", *carried]].merge(table, on=["model", "dataset"], how="right")
        if "temporal_not_computed" in pairs.columns:  # still images: a row even without a classifier
            known = set(zip(table["model"], table["dataset"], strict=True))
            still = pairs[pairs["temporal_not_computed"].fillna("").astype(bool)]
            rows = [
                (model, dataset) not in known
                for model, dataset in zip(still["model"], still["dataset"], strict=True)
            ]
            table = pd.concat([table, still.loc[rows, ["model", "dataset", *carried]]], ignore_index=True)
    if tasks is not None:  # one row per (model, dataset) yet: each empty F1's reason
        table = table.merge(
            _f1_reasons(table[["model", "dataset"]], classification, pairs, tasks), on=["model", "dataset"]
        )
    extra = _more_sources(more_sources)
    if len(extra):
        if pairs is not None:
            extra = extra.merge(pairs[["model", "dataset", *carried]], on=["model", "dataset"], how="left")
        table = pd.concat([table.assign(_source_rank=0), extra], ignore_index=True)
        table = table.sort_values(["dataset", "model", "_source_rank"], kind="stable", ignore_index=True)
        table = table.drop(columns="_source_rank")
    table = _with_reasons(table)
    for column in F1_NOT_COMPUTED_COLUMNS.values():
        table[column] = table.get(column, pd.Series("", index=table.index)).fillna("").astype(str)
    for name, _ in _DISPLAY:
        if name not in table.columns:
            table[name] = np.nan
    if training is not None:
        table = table.merge(
            training[["model", "dataset", *TRAINING_COLUMNS]].drop_duplicates(["model", "dataset"]),
            on=["model", "dataset"],
            how="left",
        )
        table = table.astype({"stopped_by_time": "boolean", "epochs_completed": "Int64", "epochs": "Int64"})
    return table.sort_values(["dataset", "model"], kind="stable", ignore_index=True)


def training_table(states: Sequence[tuple[str, str, Mapping[str, object] | None]]) -> pd.DataFrame:
    """:data:`TRAINING_COLUMNS` per ``(model, dataset, state)``, ``state`` the training state its
    embeddings store records (:func:`~dynaclr.embeddings.store.training_state`; ``None``: none
    recorded, a baseline or an older store: every column empty, not a partly trained model)."""

    def value(state: Mapping[str, object] | None, key: str) -> object:
        found = None if state is None else state.get(key)
        return pd.NA if found is None else found

    return pd.DataFrame(
        {
            "model": [model for model, _, _ in states],
            "dataset": [dataset for _, dataset, _ in states],
            **{column: [value(state, column) for _, _, state in states] for column in TRAINING_COLUMNS},
        }
    ).astype({"stopped_by_time": "boolean", "epochs_completed": "Int64", "epochs": "Int64"})


def partly_trained(table: pd.DataFrame) -> pd.Series:
    """Per row of a results table, whether its model is one the ``max_minutes`` budget stopped
    before its epochs (``stopped_by_time`` true); ``False`` where the column is empty, not
    ``True``/``true`` or absent (a table written before it was recorded)."""
    if "stopped_by_time" not in table.columns:
        return pd.Series(False, index=table.index)
    return table["stopped_by_time"].astype("string").str.lower().eq("true").fillna(False).astype(bool)


def recorded_count(row: pd.Series | Mapping[str, object], column: str) -> str:
    """``row``'s ``column`` (a table's row or a record's dict) as a whole number, ``?`` where it is
    not recorded (empty or absent)."""
    number = pd.to_numeric(pd.Series([row.get(column)]), errors="coerce").iloc[0]
    return "?" if pd.isna(number) else str(int(number))


def epochs_trained(row: pd.Series) -> str:
    """``3 of 50 epochs``: a results-table ``row``'s ``epochs_completed`` of ``epochs`` (``?`` for a
    count not recorded)."""
    return f"{recorded_count(row, 'epochs_completed')} of {recorded_count(row, 'epochs')} epochs"


def partly_trained_note(row: pd.Series) -> str:
    """``partly trained: 3 of 50 epochs, stopped by max_minutes`` of a results-table ``row`` whose
    model the budget stopped (:func:`epochs_trained`)."""
    return f"partly trained: {epochs_trained(row)}, stopped by max_minutes"


def _dtw_aligned(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Per (model, dataset) that aligned lineages: ``dtw_n_aligned`` (the lineages aligned, reference
    excluded, scored or not), ``dtw_state_source`` (``state_source`` of ``dtw_accuracy.csv``: what
    gave the state the reference was picked by, e.g. ``infection state predicted by classifiers
    transferred from <dataset>``; empty where the table does not say) and ``dtw_n_no_event`` (those
    whose own state shows no event inside their frames: never reach it or past it from their first
    frame, :func:`~dynaclr.pseudotime.stage.no_event_counts`, as the first page counts them; NaN
    where the table does not say, e.g. one written before ``state_event_position``)."""
    reasons = accuracy.get("not_computed", pd.Series("", index=accuracy.index)).fillna("").astype(str)
    aligned = accuracy[(reasons == "") & ~accuracy["is_reference_series"].astype(bool)]
    sources = aligned.get("state_source", pd.Series("", index=aligned.index)).fillna("").astype(str)
    grouped = aligned.assign(_source=sources).groupby(["model", "dataset"], sort=True)
    return pd.DataFrame(
        [
            (model, dataset, len(rows), rows["_source"].iloc[0], _no_event_count(rows))  # a row per lineage
            for (model, dataset), rows in grouped
        ],
        columns=["model", "dataset", "dtw_n_aligned", "dtw_state_source", "dtw_n_no_event"],
    )


def _no_event_count(rows: pd.DataFrame) -> float:
    """The aligned lineages ``rows`` whose own state shows no event inside their frames, or NaN where
    no row says where its state puts the event (no ``state_reaches_event`` nor ``state_event_position``)."""
    empty = pd.Series(pd.NA, index=rows.index, dtype="boolean")
    positions = rows.get("state_event_position", empty).astype("string").fillna("")
    if not (rows.get("state_reaches_event", empty).notna().any() or (positions != "").any()):
        return np.nan
    return float(sum(no_event_counts(rows)))


def _with_reasons(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each of :data:`NOT_COMPUTED_COLUMNS`: the plan's ``temporal_not_computed``
    (``one time point``: nothing over time is planned) where it gives one, for the DTW error next the
    plan's ``dtw_not_computed`` (``pairs``: a movie DTW is not planned on, as nothing gives its cells'
    infection state; :meth:`~dynaclr.config.workflow.WorkflowConfig.dtw_not_computed`), else the
    run's reason of the definition the column concerns (:data:`_RUN_REASONS`; ``dtw_accuracy.csv``'s
    for the DTW error); empty: computed where configured."""
    empty = pd.Series("", index=table.index)
    planned = table.get("temporal_not_computed", empty).fillna("").astype(str)
    run = {
        column: table.pop(f"_run_{column}").fillna("").astype(str)
        for column in dict.fromkeys(NOT_COMPUTED_COLUMNS.values())
        if f"_run_{column}" in table.columns
    }
    for column in NOT_COMPUTED_COLUMNS.values():
        reason = planned
        if column == _DTW_REASON and column in table.columns:  # the plan aligns no lineage of the dataset
            dtw = table[column].astype(object).fillna("").astype(str)
            reason = planned.where(planned != "", dtw)
        table[column] = reason.where(reason != "", run.get(column, empty))
    return table


def _f1_reasons(
    keys: pd.DataFrame, classification: pd.DataFrame | None, pairs: pd.DataFrame | None, tasks: Sequence[str]
) -> pd.DataFrame:
    """Per (model, dataset) of ``keys``, each of :data:`F1_NOT_COMPUTED_COLUMNS`: why its F1 is not
    on the row (empty: it is, or it is NaN for want of a positive cell, which its counts show). An own
    classifier that scored no annotated cell (``n_test`` 0: every fold's training FOVs held one class)
    gets its row's ``f1_ci_missing`` (:func:`~dynaclr.config.reasons.single_class_folds`).

    A task not in ``tasks`` (``analysis.classification.tasks``): :func:`not_configured`. Own F1: of a
    (model, dataset) with ``classification.csv`` rows of its own classifiers, ``no <task> annotations
    in <dataset>`` for a task it has none of (rule ``classify`` skipped it); of one without, the plan's
    ``f1_not_computed`` (``pairs``; ``no annotations in <dataset>``, or not in ``train_on``).
    Transferred F1: the plan's ``f1_<task>_transferred_not_computed`` where it gives one (no source, a
    dataset without the task's annotations to score on, sources without its classifier: the transfer
    job writes no row for them, so ``classification.csv`` cannot tell), else, for a task without a
    transferred row (the run found fewer labels than the config's tasks, e.g. imported tracks),
    ``no <task> annotations in <dataset>`` where the dataset's own rows lack the task or a source's
    hold it, else ``no <task> annotations in <source>`` for each source whose own rows lack it, else
    ``no classifier of another dataset scored on <dataset>``."""
    rows = (
        classification if classification is not None else pd.DataFrame(columns=["model", "dataset", "task"])
    )
    if "train_dataset" not in rows.columns:
        rows = rows.assign(train_dataset=rows["dataset"])
    own = rows["train_dataset"] == rows["dataset"]
    own_tasks: dict[tuple[str, str], set[str]] = {}
    for model, dataset, task in zip(
        rows.loc[own, "model"], rows.loc[own, "dataset"], rows.loc[own, "task"], strict=True
    ):
        own_tasks.setdefault((model, dataset), set()).add(task)
    # own classifiers that scored no annotated cell (every fold skipped): the job's reason, in its
    # f1_ci_missing (dynaclr.config.reasons.single_class_folds)
    unscored: dict[tuple[str, str, str], str] = {}
    if {"n_test", "f1_ci_missing"} <= set(rows.columns):
        none_scored = rows[own & (pd.to_numeric(rows["n_test"], errors="coerce") == 0)]
        for model, dataset, task, why in zip(
            none_scored["model"],
            none_scored["dataset"],
            none_scored["task"],
            none_scored["f1_ci_missing"],
            strict=True,
        ):
            unscored[(model, dataset, task)] = "" if pd.isna(why) else str(why)
    transferred: dict[tuple[str, str], dict[str, set[str]]] = {}  # (model, dataset) -> source -> tasks
    for model, dataset, source, task in zip(
        rows.loc[~own, "model"],
        rows.loc[~own, "dataset"],
        rows.loc[~own, "train_dataset"],
        rows.loc[~own, "task"],
        strict=True,
    ):
        transferred.setdefault((model, dataset), {}).setdefault(source, set()).add(task)
    planned: dict[tuple[str, str], dict[str, str]] = {}
    if pairs is not None:
        for record in pairs.to_dict("records"):
            planned[(record["model"], record["dataset"])] = {
                column: "" if pd.isna(record.get(column)) else str(record.get(column))
                for column in PLANNED_F1_REASONS
            }

    def reason(model: str, dataset: str, task: str, kind: str) -> str:
        target = own_tasks.get((model, dataset))
        sources = transferred.get((model, dataset), {})
        if (not kind and target is not None and task in target) or (
            kind and any(task in held for held in sources.values())
        ):
            # an F1 (or NaN for want of a positive cell: its counts say so), or none scored at all
            return "" if kind else unscored.get((model, dataset, task), "")
        if task not in tasks:
            return not_configured(task)
        plan = planned.get((model, dataset), {})
        if not kind:
            if target is not None:  # rule classify skipped the task
                return no_annotations(dataset, task)
            return plan.get("f1_not_computed") or f"no classifier fitted on {dataset}"
        if plan.get(f"f1_{task}_transferred_not_computed"):
            return plan[f"f1_{task}_transferred_not_computed"]
        if (target is not None and task not in target) or any(
            task in own_tasks.get((model, source), set()) for source in sources
        ):  # a source's classifier of the task had no label here to be scored on
            return no_annotations(dataset, task)
        lacking = [
            no_annotations(s, task) for s in sorted(sources) if task not in own_tasks.get((model, s), {task})
        ]
        return "; ".join(lacking) or f"no classifier of another dataset scored on {dataset}"

    reasons = keys.drop_duplicates().reset_index(drop=True)
    for column, reason_column in F1_NOT_COMPUTED_COLUMNS.items():
        task = column.split("_")[1]
        kind = column.removeprefix(f"f1_{task}")
        reasons[reason_column] = [
            reason(model, dataset, task, kind)
            for model, dataset in zip(reasons["model"], reasons["dataset"], strict=True)
        ]
    return reasons


def _more_sources(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of the transferred F1s beyond each (model, dataset)'s first source: the ``k``-th
    source of infection and of division share a row (each names its own in ``f1_*_transferred_from``),
    which holds nothing else (the (model, dataset)'s other values are on its first row)."""
    return _outer_merged([part for part in parts if len(part)], ["model", "dataset", "_source_rank"])


def _outer_merged(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """``parts`` outer-merged on ``keys``, in order (a row per key any part holds); no part: no row,
    the keys' columns."""
    if not parts:
        return pd.DataFrame(columns=keys)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part, on=keys, how="outer")
    return merged


def _count(row: pd.Series, column: str) -> int | None:
    value = pd.to_numeric(pd.Series([row.get(column, np.nan)]), errors="coerce").iloc[0]
    return int(value) if pd.notna(value) else None


def _sample_size(row: pd.Series, name: str) -> str:
    """`` (n=412, 57+)`` for an F1 (annotated cells scored, positives among them), `` (n=96 tracks)``,
    `` (n=12 lineages)``; empty where the table does not carry the count."""
    if name.startswith("f1_"):
        n, positive = _count(row, f"{name}_n_test"), _count(row, f"{name}_n_test_positive")
        if n is None:
            return ""
        return f" (n={n:,}, {positive:,}+)" if positive is not None else f" (n={n:,})"
    counted = {
        "smoothness_track_pairs": ("n_tracks", "tracks"),
        "dtw_onset_mae_frames": ("dtw_n_lineages", "lineages"),
    }
    if name in counted:
        column, unit = counted[name]
        n = _count(row, column)
        return f" (n={n:,} {unit})" if n is not None else ""
    return ""


def _format(row: pd.Series, name: str) -> str:
    """A value with its CI and sample; a transferred F1 also names the dataset it was fitted on."""
    source = row.get(f"{name}_from", "")
    text = _format_value(row, name)
    return f"{text} from {source}" if isinstance(source, str) and source else text


def _format_value(row: pd.Series, name: str) -> str:
    value = row.get(name, np.nan)
    n = _sample_size(row, name)
    if value is None or not np.isfinite(value):
        reasons = {**NOT_COMPUTED_COLUMNS, **F1_NOT_COMPUTED_COLUMNS}
        reason = row.get(reasons[name], "") if name in reasons else ""
        if isinstance(reason, str) and reason:
            return f"not computed: {reason}"
        # an F1 withheld by its job (scored cells of one class): the job's reason, with the counts
        withheld = row.get(f"{name}_ci_missing", "") if name.startswith("f1_") else ""
        if isinstance(withheld, str) and withheld:
            return f"not computed: {withheld}{n}"
        if name == "dtw_onset_mae_frames" and (aligned := _count(row, "dtw_n_aligned")):
            # aligned without a true onset (no ground truth): say so, and what picked the reference
            source = row.get("dtw_state_source", "")
            state = f"; {source}" if isinstance(source, str) and source else ""
            return f"not scored (no true onset): {aligned:,} lineages aligned{_no_event(row)}{state}"
        return "–" + n
    # the DTW error in hours too where the dataset's frame interval is known, as the first page gives
    # it: in frames alone, rows of datasets imaged every 30 and every 15 min read 1.841 and 3.500 for
    # errors of 0.92 h and 0.88 h
    hours = (
        FrameClock.of(row.get("time_interval_minutes")).in_hours(value)
        if name == "dtw_onset_mae_frames"
        else ""
    )
    low, high = row.get(f"{name}_ci_low", np.nan), row.get(f"{name}_ci_high", np.nan)
    if low is not None and high is not None and np.isfinite(low) and np.isfinite(high):
        return f"{value:.3f} [{low:.3f}, {high:.3f}]{hours}{n}"
    missing = row.get(f"{name}_ci_missing", "")
    withheld = " [no CI]" if isinstance(missing, str) and missing else ""
    return f"{value:.3f}{withheld}{hours}{n}"


def _no_event(row: pd.Series) -> str:
    """``, 26 of them show no infection onset inside their frames`` (``dtw_n_no_event``, the event as
    the first page names it, by the state ``dtw_state_source`` names: ``<event> state ...``); empty
    where none is known to show none."""
    n = _count(row, "dtw_n_no_event")
    if not n:
        return ""
    source = row.get("dtw_state_source", "")
    source = source if isinstance(source, str) else ""
    named = [name for state, name in ALIGNED_EVENT_NAMES.items() if source.startswith(f"{state} state ")]
    event = named[0] if named else "event"
    return f", {n:,} of them show no {event} inside their frames"


def _cells(row: pd.Series) -> str:
    """``4,812 (96)``: the cells embedded and their tracks (``–`` when not known; the cells alone where
    no track was resampled: a movie without adjacent frames, whose reason gives its tracks)."""
    cells, tracks = _count(row, "n_cells"), _count(row, "n_tracks")
    if cells is None:
        return "–"
    return f"{cells:,} ({tracks:,})" if tracks else f"{cells:,}"


def percent(confidence: float) -> str:
    """``95 %`` for a coverage of 0.95: the level an interval was computed at (a table's or the
    config's ``confidence``)."""
    return f"{100 * float(confidence):g} %"


def _level_column(name: str) -> str:
    """The column of the CI level of display column ``name`` (:data:`TRACK_PAIRS_LEVEL` for the
    track-pair smoothness, else ``<name>_confidence``)."""
    return TRACK_PAIRS_LEVEL if name.endswith("_track_pairs") else f"{name}_confidence"


def _levels(table: pd.DataFrame, name: str) -> list[float]:
    """The CI levels of column ``name``'s values that carry a CI (none where the table does not record
    the level, or no value has a CI)."""
    bounded = _numeric(table, f"{name}_ci_low").notna() & _numeric(table, f"{name}_ci_high").notna()
    return sorted(set(_numeric(table, _level_column(name))[bounded].dropna()))


def unrun_tasks(table: pd.DataFrame) -> list[str]:
    """The tasks of :data:`~dynaclr.config.reasons.F1_TASKS` the run does not classify: every row's
    own F1 empty because the task is not in ``analysis.classification.tasks``
    (:func:`~dynaclr.config.reasons.not_configured`). The displayed tables leave their F1 columns out
    (a division-only plate's "F1 infection: not computed" column read as a missing result) and their
    captions say so (:func:`tasks_note`); a task configured but not computed keeps its column and
    its reason. Rows without a reason (a further transfer source's row of a (model, dataset),
    which carries none) are not read; at least one row must give it. None where the table records
    no reasons (the tasks are not known)."""
    unrun = []
    for task in F1_TASKS:
        reasons = table.get(F1_NOT_COMPUTED_COLUMNS[f"f1_{task}"])
        values = pd.to_numeric(table.get(f"f1_{task}", pd.Series(np.nan, index=table.index)), errors="coerce")
        if reasons is None or not values.isna().all():
            continue
        given = reasons.fillna("").astype(str)
        given = given[given != ""]
        if len(given) and (given == not_configured(task)).all():
            unrun.append(task)
    return unrun


def tasks_note(table: pd.DataFrame) -> str:
    """The captions' sentence naming the tasks classified where a task is not (:func:`unrun_tasks`;
    empty otherwise): ``Tasks classified: division (infection is not in
    analysis.classification.tasks: no column of it).``"""
    unrun = unrun_tasks(table)
    if not unrun:
        return ""
    run = [task for task in F1_TASKS if task not in unrun]
    why = "; ".join(not_configured(task) for task in unrun)
    return f"Tasks classified: {', '.join(run) if run else 'none'} ({why}: no column of it)."


def _display_columns(table: pd.DataFrame) -> list[tuple[str, str]]:
    """:data:`_DISPLAY`, each task's transferred F1 (where the table has one) after its own F1; none
    of a task the run does not classify (:func:`unrun_tasks`)."""
    display = []
    unrun = {f"f1_{task}" for task in unrun_tasks(table)}
    for name, header in _DISPLAY:
        if name in unrun:
            continue
        display.append((name, header))
        if name.startswith("f1_") and f"{name}_transferred" in table.columns:
            display.append((f"{name}_transferred", header.replace(" ↑", ", transferred ↑")))
    return display


#: Why the tables show each row's frame interval, in every caption a reader sees (the drawn table's,
#: the HTML ``<caption>``, ``workflow/report/results_table.rst``): smoothness and dynamic range
#: compare adjacent frames (probe4: one model read smoother on a 10-min plate than on a 30-min one).
FRAME_INTERVAL_NOTE = (
    "compare adjacent frames, so rows of other frame intervals measure other time steps (Frame "
    "interval: the dataset's)"
)


def intervals_caption(table: pd.DataFrame) -> str:
    """What the brackets of the HTML and drawn tables are, at the levels the table records
    (:func:`_levels`): ``Brackets: 95 % bootstrap confidence intervals (over tracks; over lineages
    for the DTW error)`` where every column's is the same, else each column's level
    (``analysis.temporal_metrics.confidence`` and ``analysis.classification.confidence`` may differ);
    no level where the table records none."""
    levels = {
        header.rstrip(" ↑↓"): _levels(table, name)
        for name, header in _display_columns(table)
        if _levels(table, name)
    }
    over = "over tracks; over lineages for the DTW error"
    shared = {tuple(value) for value in levels.values()}
    if len(shared) != 1:
        each = "; ".join(
            f"{' / '.join(map(percent, value))} for {header}" for header, value in levels.items()
        )
        return f"Brackets: bootstrap confidence intervals ({over}){': ' + each if each else ''}"
    return f"Brackets: {' / '.join(map(percent, shared.pop()))} bootstrap confidence intervals ({over})"


def _numeric(table: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as numbers (NaN where the table lacks it)."""
    if column not in table:
        return pd.Series(np.nan, index=table.index)
    return pd.to_numeric(table[column], errors="coerce")


def best_in_dataset(table: pd.DataFrame) -> pd.DataFrame:
    """Per display header, whether the row holds its dataset's best value (highest for ↑, lowest
    for ↓; ties all marked; a dataset with one finite value marks none) and that value carries a
    confidence interval: a value without one (the paper's columns, which never have one; n_bootstrap
    0; a CI withheld) is never marked, as nothing shown beside it can be compared with the others."""
    marks = {}
    for name, header in _display_columns(table):
        values = _numeric(table, name)
        bounded = _numeric(table, f"{name}_ci_low").notna() & _numeric(table, f"{name}_ci_high").notna()
        higher = header.endswith("↑")
        best = values.groupby(table["dataset"]).transform("max" if higher else "min")
        counts = values.groupby(table["dataset"]).transform("count")
        marks[header] = (values == best) & (counts > 1) & values.notna() & bounded
    return pd.DataFrame(marks, index=table.index)


def formatted_results_table(table: pd.DataFrame) -> pd.DataFrame:
    """Display strings (value [CI low, CI high] (n=...), ``–`` when missing; module docstring) with
    readable headers."""
    display = _display_columns(table)
    distribution = (
        table["distribution"] if "distribution" in table.columns else pd.Series("", index=table.index)
    )
    intervals = (
        table["time_interval_minutes"]
        if "time_interval_minutes" in table.columns
        else pd.Series(np.nan, index=table.index)
    )
    stopped = partly_trained(table)
    models = [
        f"{row['model']} ({partly_trained_note(row)})" if stopped.at[i] else row["model"]
        for i, row in table.iterrows()
    ]
    return pd.DataFrame(
        {
            "Model": models,
            "Dataset": table["dataset"],
            # smoothness and dynamic range compare adjacent frames: rows of other intervals measure
            # other time steps, so each row says its own (probe4: a 10-min plate read smoother)
            "Frame interval": [_interval(minutes) for minutes in intervals],
            "Distribution": distribution.fillna(""),
            "Cells (tracks)": [_cells(row) for _, row in table.iterrows()],
            **{header: [_format(row, name) for _, row in table.iterrows()] for name, header in display},
        }
    )


def _interval(minutes: object) -> str:
    """A dataset's frame interval as the tables show it, to 3 significant figures: in seconds below a
    minute (``5 s``, not ``0.0833 min``), else in minutes (``30 min``, ``7.5 min``); ``–`` where not
    known."""
    clock = FrameClock.of(minutes)
    if clock.minutes_per_frame is None:
        return "–"
    seconds = clock.minutes_per_frame < 1
    value = clock.minutes_per_frame * 60 if seconds else clock.minutes_per_frame
    return f"{float(f'{value:.3g}'):g} {'s' if seconds else 'min'}"  # 1440 min, not 1.44e+03


def results_table_html(table: pd.DataFrame) -> str:
    """An HTML ``<table>`` of :func:`formatted_results_table` (escaped); each dataset's best value
    per column in bold (:func:`best_in_dataset`); its ``<caption>`` the intervals' levels
    (:func:`intervals_caption`) and why each row's frame interval is shown (:data:`FRAME_INTERVAL_NOTE`)."""
    shown = formatted_results_table(table)
    best = best_in_dataset(table)
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)

    def cell(column: str, i: int, value: object) -> str:
        text = html.escape(str(value))
        return (
            f"<td><strong>{text}</strong></td>"
            if column in best and best.at[i, column]
            else f"<td>{text}</td>"
        )

    body = "".join(
        "<tr>" + "".join(cell(column, i, shown.at[i, column]) for column in shown.columns) + "</tr>"
        for i in shown.index
    )
    note = tasks_note(table)
    sentences = [intervals_caption(table) + ".", f"Smoothness and dynamic range {FRAME_INTERVAL_NOTE}.", note]
    caption = f"<caption>{html.escape(' '.join(filter(None, sentences)))}</caption>"
    return (
        f'<table class="dynaclr-results">\n{caption}\n<thead><tr>{header}</tr></thead>\n'
        f"<tbody>{body}</tbody>\n</table>"
    )


#: Size of the drawn table's text (7 pt): an upper bound of a character's width, a line's height, and
#: the margin of a cell, in inches.
_CHAR_WIDTH_IN, _LINE_HEIGHT_IN, _CELL_PADDING_IN = 0.07, 0.13, 0.12


def _wrapped(value: object) -> str:
    """A displayed value with its sample and its source on lines of their own."""
    return str(value).replace(" = ", "\n= ").replace(" (n=", "\n(n=").replace(" from ", "\nfrom ")


def _aligned_event_name(table: pd.DataFrame, event: str, dtw_accuracy: Path | str) -> str:
    """How the caption names ``event`` (``analysis.pseudotime.event``), the event the table's DTW rows
    aligned. Each row's ``dtw_state_source`` (``state_source`` of ``dtw_accuracy``) names the state
    the reference was picked by, ``<event> state ...`` (:mod:`dynaclr.pseudotime.stage`), or is empty
    (an explicit reference, picked by no state: accepted for either event). Refused, naming the rows
    and the file: one naming the other event's state (aligned on another event), one of no known
    wording (an older ``dtw_accuracy.csv``: "ground truth", "its tracks' lineage", which does not
    say the event), or an unknown ``event``."""
    if event not in ALIGNED_EVENT_NAMES:
        raise ValueError(
            f"results table: expected an event of {sorted(ALIGNED_EVENT_NAMES)}, found {event!r}"
        )
    sources = table.get("dtw_state_source", pd.Series("", index=table.index)).fillna("").astype(str)
    states = {name: f"{name} state " for name in ALIGNED_EVENT_NAMES}
    other: list[str] = []
    unrecognised: list[str] = []
    for model, dataset, source in zip(table["model"], table["dataset"], sources, strict=True):
        if source and not source.startswith(states[event]):
            named = any(source.startswith(state) for state in states.values())
            (other if named else unrecognised).append(f"({model}, {dataset}): {source!r}")
    if other:
        raise ValueError(
            f"{dtw_accuracy}: the lineages were to be aligned on {event!r} (analysis.pseudotime.event), "
            f"but the dtw_state_source of {'; '.join(other)} names another state: the file was aligned "
            "on another event; rerun it (snakemake --forcerun align_pseudotime)"
        )
    if unrecognised:
        raise ValueError(
            f"{dtw_accuracy}: unrecognised dtw_state_source of {'; '.join(unrecognised)} (expected one "
            f"starting {sorted(states.values())}, or empty): it does not say which event it aligned, "
            "as the file's wording is older; rerun it with snakemake --forcerun align_pseudotime"
        )
    return ALIGNED_EVENT_NAMES[event]


def plot_results_table(
    table: pd.DataFrame, *, event: str = "infection", dtw_accuracy: Path | str = "dtw_accuracy.csv"
) -> tuple[Figure, str]:
    """The comparison table drawn as a figure, and its caption, which names the event the DTW rows
    aligned (``event``: ``analysis.pseudotime.event``, :func:`_aligned_event_name`; ``dtw_accuracy``:
    the file the rows come from, named where they disagree)."""
    aligned = _aligned_event_name(table, event, dtw_accuracy)
    shown = formatted_results_table(table)
    # each value's sample and source on lines of their own, every column as wide as its longest line
    # and every row as tall as its most lines (a fixed width cut "0.264 [0.243, 0.291] (n=206 tracks)")
    cells = [[_wrapped(value) for value in row] for row in shown.to_numpy()]
    lines = [[str(value).split("\n") for value in row] for row in [list(shown.columns), *cells]]
    widths = [
        _CHAR_WIDTH_IN * max(len(line) for row in lines for line in row[j]) + _CELL_PADDING_IN
        for j in range(shown.shape[1])
    ]
    row_height = _LINE_HEIGHT_IN * max(len(value) for row in lines for value in row) + _CELL_PADDING_IN
    figure = Figure(figsize=(sum(widths), row_height * (len(shown) + 1)))
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.axis("off")
    drawn = ax.table(
        cellText=cells,
        colLabels=list(shown.columns),
        colWidths=[w / sum(widths) for w in widths],
        cellLoc="center",
        bbox=Bbox.from_bounds(0.0, 0.0, 1.0, 1.0),
    )
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(7)
    best = best_in_dataset(table)
    for j, column in enumerate(shown.columns):
        if column in best:
            for i, is_best in enumerate(best[column].to_numpy()):
                if is_best:
                    drawn[i + 1, j].set_text_props(fontweight="bold")
    classified = " and ".join(t for t in F1_TASKS if t not in unrun_tasks(table)) or "no task"
    caption = (
        f"Comparison of {table['model'].nunique()} models on {table['dataset'].nunique()} dataset(s): "
        "temporal smoothness (lower is better) and dynamic range (higher is better) of the embeddings as "
        "the paper's tables define them (z-scored features, random pairs over all cells), and smoothness "
        "with random pairs within a track (a stricter variant, with confidence intervals); all three "
        f"{FRAME_INTERVAL_NOTE}; "
        f"F1 of linear classifiers of {classified} trained on sparse annotations and tested on "
        "held-out FOVs (transferred: fitted on the dataset named after 'from' and tested on this one), "
        f"and the error of the DTW-aligned {aligned} (mean absolute "
        "frames, and hours where the dataset's frame interval is known; simulated data only). "
        f"{intervals_caption(table)} "
        "([no CI]: none, as n_bootstrap is 0 or too many resamples lacked a positive or a negative cell; "
        "the reason is in results_table.csv). Parentheses: the sample each value rests on, n=annotated "
        "observations scored (a cell at one frame: a cell annotated at several frames counts at each) and "
        "k+ the positive ones among them for an F1, tracks for the track-pair "
        "smoothness, lineages for the "
        "DTW error; Cells (tracks): the cells embedded and their tracks, over which the paper's "
        "smoothness and dynamic range are computed. Bold: "
        "the dataset's best value in the column where it carries an interval (the paper's columns, which "
        "have none, are never bold): not a claim that it differs from the others; compare the intervals."
        + (f" {note}" if (note := tasks_note(table)) else "")
    )
    return figure, caption
