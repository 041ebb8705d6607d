"""The distillation figure: held-out infection F1 of teacher, probe and student with bootstrap CIs,
and, with validation FOVs, the student's validation curve with the step it kept.

Returns ``(Figure, caption)`` like :mod:`dynaclr.figures.plots`; the caption states the finding and
is also drawn under the axes, so the PNG carries it wherever it goes.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dynaclr.io.figures import new_figure

_LABELS = {
    "teacher": "teacher\n(phase + sensor)",
    "probe": "probe\n(phase, no distillation)",
    "student": "student\n(phase, distilled)",
}
_CURVE_LABELS = {
    "annotation_f1": "student F1, validation FOVs' annotations",
    "pseudo_label_f1": "student F1, teacher's calls on validation FOVs",
}
_COLOURS = {"teacher": "#4c72b0", "probe": "#8c8c8c", "student": "#dd8452"}


def validation_curve(metrics: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(K,)`` steps and ``(K,)`` validation scores of the student, from the comma-separated
    ``validation_steps`` and ``validation_scores`` columns (empty without validation FOVs)."""
    first = metrics.iloc[0]
    steps, scores = (
        str(first.get("validation_steps", "") or ""),
        str(first.get("validation_scores", "") or ""),
    )
    return (
        np.array([int(step) for step in steps.split(",") if step], dtype=np.int64),
        np.array([float(score) for score in scores.split(",") if score], dtype=np.float64),
    )


def _validation_sentence(first: pd.Series) -> str:
    metric = first.get("validation_metric", "none")
    if metric is None or metric == "none" or pd.isna(metric):
        return ""
    against = "their sparse annotations" if metric == "annotation_f1" else "the teacher's calls on them"
    return (
        f" The student kept the weights of step {int(first['student_chosen_step'])}, its best F1 "
        f"({float(first['validation_score']):.2f}) on validation FOVs {first['validation_fovs']} "
        f"(which nothing trained on; {int(first['n_validation_cells'])} cells) against {against}."
    )


def distillation_caption(metrics: pd.DataFrame) -> str:
    """One paragraph: what was compared, on which held-out cells, the F1 of each method and, with
    validation FOVs, the student's kept step."""
    by_method = metrics.set_index("method")
    first = metrics.iloc[0]
    level = round(100 * float(first["confidence"]))

    def f1(method: str) -> str:
        row = by_method.loc[method]
        if not np.isfinite(row["f1"]):
            return "undefined (held-out cells of one class)"
        if not (np.isfinite(row["f1_ci_low"]) and np.isfinite(row["f1_ci_high"])):
            return f"{row['f1']:.2f} [no CI: {_ci_missing(row, 'f1')}]"
        return f"{row['f1']:.2f} [{row['f1_ci_low']:.2f}, {row['f1_ci_high']:.2f}]"

    student, teacher, probe = (float(by_method.loc[m, "f1"]) for m in ("student", "teacher", "probe"))
    gain = by_method.loc["student"].get("f1_minus_probe", np.nan)
    low = by_method.loc["student"].get("f1_minus_probe_ci_low", np.nan)
    high = by_method.loc["student"].get("f1_minus_probe_ci_high", np.nan)
    interval = f"{gain:+.2f} [{low:+.2f}, {high:+.2f}], paired bootstrap"
    if np.isfinite(low) and low > 0:
        recovered = f" The student beats the probe: F1 {interval}"
        if np.isfinite(teacher - probe) and teacher - probe > 0.02:
            recovered += (
                f", {100 * (student - probe) / (teacher - probe):.0f}% of the teacher's gain over the probe"
            )
        recovered += "."
    elif np.isfinite(high) and high < 0:
        recovered = f" The student is worse than the probe: F1 {interval}."
    elif np.isfinite(gain) and np.isfinite(low) and np.isfinite(high):
        recovered = (
            f" Student and probe do not differ beyond the interval (F1 {interval}): distillation adds "
            "nothing measurable here."
        )
    elif np.isfinite(gain):
        recovered = (
            f" The student's F1 minus the probe's is {gain:+.2f}, with no interval to tell them apart "
            f"({_ci_missing(by_method.loc['student'], 'f1_minus_probe')})."
        )
    else:
        recovered = ""
    return (
        f"Cross-modal distillation on {first['dataset']} (teacher {first['teacher_model']}): infection F1 on "
        f"{int(first['n_heldout_cells'])} held-out cells ({int(first['n_heldout_positive'])} infected, "
        f"{int(first['n_heldout_tracks'])} tracks) of FOVs {first['heldout_fovs']}, which neither the "
        "teacher's head nor the student saw, against the simulator's ground truth. Teacher (phase + sensor) "
        f"{f1('teacher')}, "
        f"phase-only student distilled from {int(first['n_pseudo_labelled'])} pseudo-labelled cells "
        f"{f1('student')}, phase-only linear probe without distillation {f1('probe')} "
        f"(F1 [{level}% percentile-bootstrap CI over tracks]).{recovered}{_validation_sentence(first)}"
        f"{_encoder_sentence(by_method)}"
    )


#: How an ``encoder_saw_heldout`` value reads in the caption.
_SAW_WORDS = {
    "no": "was not trained on them",
    "yes": "was trained on them (self-supervised, no labels)",
    "unknown": "may have been trained on them (read from a file)",
}


def _encoder_sentence(by_method: pd.DataFrame) -> str:
    """Whether the contrastive encoders saw the held-out FOVs (column ``encoder_saw_heldout``; tables
    of schema 3 hold none: no sentence)."""
    if "encoder_saw_heldout" not in by_method.columns:
        return ""
    saw = by_method["encoder_saw_heldout"].astype(str)
    teacher, student = saw["teacher"], saw["student"]
    if teacher == student == "no":
        return " No contrastive encoder was trained on the held-out FOVs: they are unseen by every method."
    return (
        f" The teacher's contrastive encoder {_SAW_WORDS.get(teacher, teacher)}; the student's and the "
        f"probe's starting encoder {_SAW_WORDS.get(student, student)}: the held-out FOVs are unseen by "
        "labels only."
    )


def _ci_missing(row: pd.Series, metric: str) -> str:
    """Why ``metric`` has no CI in a ``distillation`` row (tables of schema 2 hold no reason)."""
    reason = row.get(f"{metric}_ci_missing", "")
    return str(reason) if isinstance(reason, str) and reason else "not computed"


def plot_distillation(metrics: pd.DataFrame) -> tuple[Figure, str]:
    """Bars of held-out F1 per method (teacher, probe, student) with their CIs as error bars; with
    validation FOVs, a second panel of the student's validation score per step, its kept step marked.

    Args:
        metrics: the ``distillation`` table (columns ``method, f1, f1_ci_low, f1_ci_high`` and the
            counts the caption names; optionally the validation columns).
    """
    caption = distillation_caption(metrics)
    steps, scores = validation_curve(metrics)
    if len(steps):
        figure = new_figure(8.4, 5.2)
        ax, curve = figure.subplots(1, 2, width_ratios=[3, 2])
        chosen = int(metrics["student_chosen_step"].iloc[0])
        curve.plot(steps, scores, marker="o", color=_COLOURS["student"])
        curve.axvline(chosen, color="black", linestyle="--", linewidth=0.8, label=f"kept: step {chosen}")
        curve.set_xlabel("student step")
        curve.set_ylabel(_CURVE_LABELS.get(str(metrics["validation_metric"].iloc[0]), "validation score"))
        curve.legend(fontsize=7, loc="lower right")
    else:
        figure = new_figure(5.6, 5.2)
        ax = figure.subplots()
    methods = list(metrics["method"])
    f1 = metrics["f1"].to_numpy(dtype=np.float64)
    low = np.nan_to_num(f1 - metrics["f1_ci_low"].to_numpy(dtype=np.float64), nan=0.0)
    high = np.nan_to_num(metrics["f1_ci_high"].to_numpy(dtype=np.float64) - f1, nan=0.0)
    positions = np.arange(len(methods))
    ax.bar(positions, f1, color=[_COLOURS.get(m, "#999999") for m in methods], width=0.6)
    ax.errorbar(positions, f1, yerr=np.vstack([low, high]), fmt="none", ecolor="black", capsize=4)
    for x, value, above in zip(positions, f1, high, strict=True):
        ax.text(x + 0.08, value + above + 0.01, f"{value:.2f}", ha="left", va="bottom", fontsize=8)
    ax.set_xticks(positions, [_LABELS.get(m, m) for m in methods], fontsize=8)
    ax.set_ylim(0.0, 1.1)
    ax.set_ylabel("infection F1, held-out FOVs")
    ax.set_title(
        f"Cross-modal distillation ({metrics['teacher_model'].iloc[0]}, {metrics['dataset'].iloc[0]})",
        fontsize=9,
    )
    figure.supxlabel(textwrap.fill(caption, 150 if len(steps) else 100), fontsize=6, ha="left", x=0.02)
    return figure, caption
