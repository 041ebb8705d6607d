"""The distillation figure: held-out infection F1 of teacher, probe and student with bootstrap CIs.

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
_COLOURS = {"teacher": "#4c72b0", "probe": "#8c8c8c", "student": "#dd8452"}


def distillation_caption(metrics: pd.DataFrame) -> str:
    """One paragraph: what was compared, on which held-out cells, and the F1 of each method."""
    by_method = metrics.set_index("method")
    first = metrics.iloc[0]
    level = round(100 * float(first["confidence"]))

    def f1(method: str) -> str:
        row = by_method.loc[method]
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
    elif np.isfinite(gain):
        recovered = (
            f" Student and probe do not differ beyond the interval (F1 {interval}): distillation adds "
            "nothing measurable here."
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
        f"(F1 [{level}% percentile-bootstrap CI over tracks]).{recovered}"
    )


def plot_distillation(metrics: pd.DataFrame) -> tuple[Figure, str]:
    """Bars of held-out F1 per method (teacher, probe, student) with their CIs as error bars.

    Args:
        metrics: the ``distillation`` table (columns ``method, f1, f1_ci_low, f1_ci_high`` and the
            counts the caption names).
    """
    caption = distillation_caption(metrics)
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
    figure.supxlabel(textwrap.fill(caption, 100), fontsize=6, ha="left", x=0.02)
    return figure, caption
