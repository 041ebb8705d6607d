"""Engineered cell features along DTW pseudo-time (paper Fig. 5: organelle remodelling).

The aligned trajectories (:mod:`dynaclr.figures.trajectories`) show what the embeddings do along
pseudo-time; this shows what measured features do there: e.g. the ER marker's radial profile
(``raw:ERMarker_radial_slope``) as the ER condenses around the nucleus after infection, beside the
simulator's own ``er_condensation`` where the dataset has ground truth.

Each matched frame of an aligned lineage counts once (:func:`aligned_frames`). Per feature:

* a binned trajectory: mean, SD and count of the feature per integer pseudo-time;
* a summary: the mean before the event (pseudo-time < 0) and from it on (>= 0), their difference
  as the mean over lineages of each lineage's after-minus-before difference (lineages aligned on
  both sides only; those seen on one side only are counted, ``n_lineages_one_side``, and left out),
  with a percentile-bootstrap 95 % CI over those lineages (:func:`scipy.stats.bootstrap`), and
  Spearman's rho of the feature with pseudo-time over all matched frames.

The CI follows the rule of every cluster bootstrap of the workflow (the lineages are the clusters):
none over fewer than :data:`~dynaclr.numerics.bootstrap.MIN_BOOTSTRAP_CLUSTERS` lineages
(:func:`~dynaclr.numerics.bootstrap.too_few_clusters`), and none where every lineage changes by the
same amount (each resample is then that value, an interval of one value that cannot show the
uncertainty); ``change_ci_missing`` says why, with the lineages counted, and so do the finding under
the panels and the caption. (This figure asked three lineages, a rule of its own: two gave a change
without an interval where the DTW error and the classifiers give one.)
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dynaclr.config.analysis import ALIGNED_EVENT_NAMES
from dynaclr.figures.trajectories import aligned_frames
from dynaclr.io.figures import new_figure
from dynaclr.numerics.bootstrap import MIN_BOOTSTRAP_CLUSTERS, too_few_clusters
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
    "n_lineages_one_side",
    "change_ci_missing",
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


#: Bootstrap resamples of a feature's change over lineages.
N_RESAMPLES = 1000


@dataclass(frozen=True)
class LineageChange:
    """A feature's after-minus-before change over lineages (module docstring).

    Attributes:
        change: the mean over the lineages aligned on both sides (NaN: none).
        low, high: its percentile-bootstrap 95 % CI (NaN: withheld, see ``missing``).
        n_both_sides: the lineages it is the mean of.
        n_one_side: the lineages with the feature on one side of the event only, left out.
        missing: why there is no CI (``""`` when there is one).
    """

    change: float
    low: float
    high: float
    n_both_sides: int
    n_one_side: int
    missing: str


def _lineages(n: int) -> str:
    return f"{n} lineage{'' if n == 1 else 's'}"


def _lineage_change(frames: pd.DataFrame, column: str, seed: int) -> LineageChange:
    """Mean over lineages of after-minus-before, its bootstrap CI, and the lineages counted."""
    valid = frames[["fov_name", "query_id", "pseudotime", column]].dropna()
    side = np.where(valid["pseudotime"].to_numpy() >= 0, "after", "before")
    per_lineage = (
        valid.assign(side=side)
        .groupby(["fov_name", "query_id", "side"])[column]
        .mean()
        .unstack()
        .reindex(columns=["before", "after"])
    )
    both = per_lineage.notna().all(axis=1)
    differences = (per_lineage["after"] - per_lineage["before"])[both].to_numpy(dtype=np.float64)
    n_one_side = int((~both).sum())
    left_out = f" ({_lineages(n_one_side)} seen on one side only left out)" if n_one_side else ""
    if len(differences) == 0:
        reason = f"no lineage is aligned on both sides of the event{left_out}"
        return LineageChange(np.nan, np.nan, np.nan, 0, n_one_side, reason)
    change = float(differences.mean())
    aligned = f"{_lineages(len(differences))} aligned on both sides of the event{left_out}"
    if too_few_clusters(len(differences), N_RESAMPLES):
        reason = f"{aligned}: a bootstrap over lineages needs {MIN_BOOTSTRAP_CLUSTERS} at least"
        return LineageChange(change, np.nan, np.nan, len(differences), n_one_side, reason)
    if np.ptp(differences) == 0:
        reason = f"{aligned}, each changing by the same amount: every resample gives that value"
        return LineageChange(change, np.nan, np.nan, len(differences), n_one_side, reason)
    interval = stats.bootstrap(
        (differences,),
        np.mean,
        confidence_level=0.95,
        n_resamples=N_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return LineageChange(change, float(interval.low), float(interval.high), len(differences), n_one_side, "")


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
        lineages = _lineage_change(frames, column, seed)
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
                "change": lineages.change,
                "change_ci_low": lineages.low,
                "change_ci_high": lineages.high,
                "n_lineages_both_sides": lineages.n_both_sides,
                "n_lineages_one_side": lineages.n_one_side,
                "change_ci_missing": lineages.missing,
                "spearman_rho": rho,
                "n_frames": len(values),
            }
        )
    trajectory = pd.concat(binned_rows, ignore_index=True) if binned_rows else pd.DataFrame()
    return trajectory.reindex(columns=list(TRAJECTORY_COLUMNS)), pd.DataFrame(
        summary_rows, columns=list(SUMMARY_COLUMNS)
    )


def _finding(row: pd.Series) -> str:
    """One sentence on a feature's change across the event, claimed only where the CI excludes 0; where
    there is no CI, why (the lineages it rests on and those left out: ``change_ci_missing``)."""
    name = f"{row['feature']} ({row['source']})"
    missing = row.get("change_ci_missing")
    missing = missing if isinstance(missing, str) and missing else "no CI"
    # a rho of constant values, or of fewer than 3 frames, is not measured: left out, not "nan"
    rho = (
        f"; Spearman rho with pseudo-time {row['spearman_rho']:.2f}."
        if np.isfinite(row["spearman_rho"])
        else "."
    )
    if not np.isfinite(row["change"]):
        return f"{name}: change not measured ({missing}){rho}"
    if not np.isfinite(row["change_ci_low"]):
        return f"{name}: {row['change']:+.3g} after minus before, per lineage, no CI ({missing}){rho}"
    excludes_zero = row["change_ci_low"] > 0 or row["change_ci_high"] < 0
    verdict = (
        ("rises" if row["change"] > 0 else "falls") if excludes_zero else "shows no change beyond its CI"
    )
    one_side = int(row.get("n_lineages_one_side", 0) or 0)
    left_out = f"; {_lineages(one_side)} seen on one side only left out" if one_side else ""
    return (
        f"{name} {verdict} across the event: {row['change']:+.3g} after minus before, per lineage "
        f"(95 % CI {row['change_ci_low']:.3g} to {row['change_ci_high']:.3g}, "
        f"{_lineages(int(row['n_lineages_both_sides']))}{left_out}){rho}"
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
