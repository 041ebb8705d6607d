"""Engineered cell features along DTW pseudo-time (paper Fig. 5: organelle remodelling).

The aligned trajectories (:mod:`dynaclr.figures.trajectories`) show what the embeddings do along
pseudo-time; this shows what measured features do there: e.g. the ER marker's radial profile
(``raw:ERMarker_radial_slope``) as the ER condenses around the nucleus after infection, beside the
simulator's own ``er_condensation`` where the dataset has ground truth.

Each matched frame of an aligned lineage counts once (:func:`aligned_frames`). Per feature:

* a binned trajectory: mean, SD and count of the feature per integer pseudo-time;
* a summary: the mean before the event (pseudo-time < 0) and from it on (>= 0), their difference
  as the mean over lineages of each lineage's after-minus-before difference (lineages aligned on
  both sides only), with a percentile-bootstrap 95 % CI over those lineages
  (:func:`scipy.stats.bootstrap`), and Spearman's rho of the feature with pseudo-time over all
  matched frames.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dynaclr.config.analysis import ALIGNED_EVENT_NAMES
from dynaclr.figures.trajectories import aligned_frames
from dynaclr.io.figures import new_figure
from dynaclr.numerics.timescale import FrameClock

#: Columns of the binned trajectory table.
TRAJECTORY_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "feature",
    "source",
    "pseudotime",
    "mean",
    "sd",
    "n",
)
#: Columns of the per-feature summary.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model",
    "dataset",
    "feature",
    "source",
    "mean_before",
    "mean_after",
    "change",
    "change_ci_low",
    "change_ci_high",
    "n_lineages_both_sides",
    "spearman_rho",
    "n_frames",
)


def feature_frames(pseudotime: pd.DataFrame, cells: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Matched frames of the aligned lineages with the cells' ``columns`` (each observation once)."""
    missing = [c for c in ("fov_name", "track_id", "t", *columns) if c not in cells.columns]
    if missing:
        raise KeyError(f"the cell table lacks columns {missing}; found {list(cells.columns)}")
    frames = aligned_frames(pseudotime, cells.loc[:, ["fov_name", "track_id", "t", *columns]])
    return frames


def _lineage_change(frames: pd.DataFrame, column: str, seed: int) -> tuple[float, float, float, int]:
    """Mean over lineages of after-minus-before, its bootstrap CI, and the number of lineages."""
    valid = frames[["fov_name", "query_id", "pseudotime", column]].dropna()
    side = np.where(valid["pseudotime"].to_numpy() >= 0, "after", "before")
    per_lineage = valid.assign(side=side).groupby(["fov_name", "query_id", "side"])[column].mean().unstack()
    if not {"before", "after"} <= set(per_lineage.columns):
        return np.nan, np.nan, np.nan, 0
    differences = (per_lineage["after"] - per_lineage["before"]).dropna().to_numpy(dtype=np.float64)
    if len(differences) == 0:
        return np.nan, np.nan, np.nan, 0
    change = float(differences.mean())
    if len(differences) < 3 or np.ptp(differences) == 0:
        return change, np.nan, np.nan, len(differences)
    interval = stats.bootstrap(
        (differences,),
        np.mean,
        confidence_level=0.95,
        n_resamples=1000,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return change, float(interval.low), float(interval.high), len(differences)


def feature_trajectories(
    frames: pd.DataFrame,
    columns: Sequence[str],
    sources: dict[str, str],
    *,
    model: str,
    dataset: str,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The binned trajectory and the summary of each of ``columns`` (module docstring).

    Args:
        frames: :func:`feature_frames`.
        columns: the features (and ground-truth columns) to summarise.
        sources: per column where it comes from (``cell features``, ``ground truth``).
        seed: seed of the bootstrap.

    Returns:
        ``(trajectory, summary)`` with :data:`TRAJECTORY_COLUMNS` and :data:`SUMMARY_COLUMNS`.
    """
    binned_rows: list[pd.DataFrame] = []
    summary_rows: list[dict[str, object]] = []
    bins = frames["pseudotime"].round()
    for column in columns:
        grouped = frames.groupby(bins)[column]
        table = grouped.agg(["mean", "std", "count"]).reset_index()
        table.columns = ["pseudotime", "mean", "sd", "n"]
        table.insert(0, "source", sources[column])
        table.insert(0, "feature", column)
        table.insert(0, "dataset", dataset)
        table.insert(0, "model", model)
        binned_rows.append(table)
        values = frames[["pseudotime", column]].dropna()
        before = values.loc[values["pseudotime"] < 0, column]
        after = values.loc[values["pseudotime"] >= 0, column]
        change, low, high, n_lineages = _lineage_change(frames, column, seed)
        rho = (
            float(stats.spearmanr(values["pseudotime"], values[column]).statistic)
            if len(values) >= 3 and values[column].nunique() > 1
            else np.nan
        )
        summary_rows.append(
            {
                "model": model,
                "dataset": dataset,
                "feature": column,
                "source": sources[column],
                "mean_before": float(before.mean()) if len(before) else np.nan,
                "mean_after": float(after.mean()) if len(after) else np.nan,
                "change": change,
                "change_ci_low": low,
                "change_ci_high": high,
                "n_lineages_both_sides": n_lineages,
                "spearman_rho": rho,
                "n_frames": len(values),
            }
        )
    trajectory = pd.concat(binned_rows, ignore_index=True) if binned_rows else pd.DataFrame()
    return trajectory.reindex(columns=list(TRAJECTORY_COLUMNS)), pd.DataFrame(
        summary_rows, columns=list(SUMMARY_COLUMNS)
    )


def _finding(row: pd.Series) -> str:
    """One sentence on a feature's change across the event, claimed only where the CI excludes 0."""
    name = f"{row['feature']} ({row['source']})"
    if not np.isfinite(row["change"]):
        return f"{name}: no lineage is aligned on both sides of the event."
    interval = (
        f"95 % CI {row['change_ci_low']:.3g} to {row['change_ci_high']:.3g}"
        if np.isfinite(row["change_ci_low"])
        else "too few lineages for a CI"
    )
    excludes_zero = np.isfinite(row["change_ci_low"]) and (
        row["change_ci_low"] > 0 or row["change_ci_high"] < 0
    )
    verdict = (
        ("rises" if row["change"] > 0 else "falls") if excludes_zero else "shows no change beyond its CI"
    )
    return (
        f"{name} {verdict} across the event: {row['change']:+.3g} after minus before, per lineage "
        f"({interval}, {int(row['n_lineages_both_sides'])} lineages); Spearman rho with pseudo-time "
        f"{row['spearman_rho']:.2f}."
    )


def plot_feature_trajectories(
    trajectory: pd.DataFrame,
    summary: pd.DataFrame,
    event: str = ALIGNED_EVENT_NAMES["infection"],
    label: str = "",
    clock: FrameClock | None = None,
) -> tuple[Figure, str]:
    """One panel per feature: mean ± SD per pseudo-time bin, the event at 0; and the caption.
    ``clock``: the dataset's frame interval: pseudo-time in hours where it is known, else in frames
    (the axes and the caption say which)."""
    clock = clock or FrameClock()
    features = list(dict.fromkeys(summary["feature"]))
    n = max(len(features), 1)
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    findings = [_finding(row) for _, row in summary.iterrows()]
    figure = new_figure(3.2 * columns, 2.8 * rows + 0.25 * (1 + len(findings)))
    for k, feature in enumerate(features):
        axis = figure.add_subplot(rows, columns, k + 1)
        part = trajectory[trajectory["feature"] == feature].sort_values("pseudotime")
        source = str(part["source"].iloc[0]) if len(part) else ""
        colour = "#55a868" if source == "ground truth" else "#4c72b0"
        x = clock(part["pseudotime"].to_numpy(dtype=np.float64))
        mean = part["mean"].to_numpy(dtype=np.float64)
        spread = np.nan_to_num(part["sd"].to_numpy(dtype=np.float64))
        axis.fill_between(x, mean - spread, mean + spread, color=colour, alpha=0.25, lw=0)
        axis.plot(x, mean, color=colour, lw=1.5)
        axis.axvline(0, color="#dd8452", lw=1, ls=":")
        axis.set_xlabel(f"pseudo-time ({clock.unit}; 0: {event})")
        axis.set_title(f"{feature}\n({source})", fontsize=8)
    if label:
        figure.suptitle(f"{label}: features along pseudo-time")
    # the findings under the panels, so the figure states them wherever it is shown
    width = int(48 * columns)
    figure.supxlabel(
        "\n".join(textwrap.fill(finding, width) for finding in findings), fontsize=6, ha="left", x=0.01
    )
    caption = (
        f"{label + ': ' if label else ''}engineered cell features along DTW pseudo-time (mean ± SD per "
        f"frame of pseudo-time, each matched cell observation once; 0 = the reference's {event}; "
        f"pseudo-time in {clock.stated}). " + " ".join(findings)
    )
    return figure, caption
