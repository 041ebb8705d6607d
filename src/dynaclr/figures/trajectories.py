"""Aligned trajectories (paper Fig 6): principal components along DTW pseudo-time, and galleries of
the best-aligned cells at a few pseudo-time points.

DTW gives every matched frame of every lineage a pseudo-time (frames relative to the reference's
event: infection onset or division). Binning the matched frames by pseudo-time and averaging their
first principal components shows the trajectory the population shares (mean ± SD per bin); the
gallery shows, at a few pseudo-times, the patches of the frames aligned there at the lowest cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.typing import NDArray
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from dynaclr.io.figures import new_figure
from dynaclr.numerics.timescale import FrameClock

#: Columns naming one observation of a cell (a frame of a track).
CELL_KEYS = ["fov_name", "track_id", "t"]


def principal_components(
    matrix: NDArray[np.floating], n_components: int = 3, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The first ``n_components`` PCs of the z-scored ``matrix`` and their explained variance ratio."""
    n = min(n_components, *matrix.shape)
    scaled = StandardScaler().fit_transform(np.asarray(matrix, dtype=np.float64))
    pca = PCA(n_components=n, svd_solver="full", random_state=seed)
    return pca.fit_transform(scaled), pca.explained_variance_ratio_


def aligned_frames(pseudotime: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Matched frames of every aligned lineage with their cell's columns (PCs, patch ``row``).

    A mother's frames appear in the series of each of her daughters; each observation is kept once,
    at its lowest alignment cost, so the statistics count cells, not series.

    Args:
        pseudotime: per-frame table of :func:`dynaclr.pseudotime.stage.pseudotime_stage`.
        cells: one row per embedded cell, with :data:`CELL_KEYS`.
    """
    matched = pseudotime[pseudotime["in_match"].astype(bool) & pseudotime["pseudotime"].notna()]
    matched = matched.sort_values(["normalized_cost", "fov_name", "query_id"], kind="stable")
    matched = matched.drop_duplicates(CELL_KEYS, keep="first")
    return matched.merge(cells, on=CELL_KEYS, how="inner", suffixes=("", "_cell"))


def gallery_picks(frames: pd.DataFrame, n_points: int = 5, per_point: int = 4) -> dict[float, pd.DataFrame]:
    """Up to ``per_point`` lowest-cost frames at each of ``n_points`` pseudo-times spread over the
    aligned range (one frame per lineage and pseudo-time).

    Pseudo-time 0 (the event) is always among them where it was aligned: it takes the place of the
    spread pseudo-time nearest to it, the first and the last kept where there are three or more
    (spread alone, 5 of -3 to 2 gave -3, -2, -1, 1, 2).
    """
    times = np.sort(frames["pseudotime"].round().unique())
    if times.size == 0:
        return {}
    indices = np.unique(np.linspace(0, times.size - 1, min(n_points, times.size)).round().astype(int))
    event = np.flatnonzero(times == 0)
    if event.size and event[0] not in indices:
        movable = indices[1:-1] if indices.size >= 3 else indices
        nearest = movable[np.argmin(np.abs(movable - event[0]))]
        indices = np.sort(np.where(indices == nearest, event[0], indices))
    chosen = times[indices]
    picks = {}
    for value in chosen:
        at = frames[frames["pseudotime"].round() == value].sort_values("normalized_cost", kind="stable")
        picks[float(value)] = at.drop_duplicates(["fov_name", "query_id"]).head(per_point)
    return picks


def composite(image: NDArray[np.floating]) -> NDArray[np.float64]:
    """An RGB thumbnail of a ``(C, Y, X)`` (or ``(Y, X)``) patch plane: the first channel in grey, the
    second (e.g. the viral sensor) in magenta over it; each channel scaled to its 1st-99.5th
    percentiles."""
    planes = np.asarray(image, dtype=np.float64)
    planes = planes[None] if planes.ndim == 2 else planes
    scaled = []
    for plane in planes[:2]:
        low, high = np.percentile(plane, [1, 99.5])
        scaled.append(np.clip((plane - low) / (high - low if high > low else 1.0), 0, 1))
    if len(scaled) == 1:
        return np.repeat(scaled[0][..., None], 3, axis=-1)
    grey, magenta = 0.7 * scaled[0], scaled[1]
    return np.clip(np.stack([grey + magenta, grey, grey + magenta], axis=-1), 0, 1)


def plot_aligned_trajectories(
    frames: pd.DataFrame,
    variance: NDArray[np.float64],
    thumbnails: Callable[[NDArray[np.int64]], NDArray[np.floating]] | None = None,
    event: str = "onset",
    label: str = "",
    n_points: int = 5,
    per_point: int = 4,
    clock: FrameClock | None = None,
    view: str = "the central crop the model sees",
) -> tuple[Figure, str]:
    """Mean ± SD of the first PCs along pseudo-time, and a gallery of best-aligned cells.

    Args:
        frames: :func:`aligned_frames` with columns ``pc1, pc2, ...`` and the patch ``row``.
        variance: explained variance ratio of each PC.
        thumbnails: patch rows -> ``(n, C, Y, X)`` planes (or ``(n, Y, X)``); None: no gallery.
        event: what pseudo-time 0 is (``infection onset``, ``division``).
        label: model/dataset name.
        n_points, per_point: gallery columns (pseudo-times) and cells per column.
        clock: the dataset's frame interval: pseudo-time in hours where it is known, else in frames
            (the axes, gallery titles and caption say which).
        view: what of each patch the thumbnails show, for the caption
            (:attr:`~dynaclr.embeddings.ViewedCrop.described`).
    """
    clock = clock or FrameClock()
    pcs = [c for c in frames.columns if c.startswith("pc") and c[2:].isdigit()]
    picks = gallery_picks(frames, n_points, per_point) if thumbnails is not None else {}
    n_rows_gallery = max((len(p) for p in picks.values()), default=0)
    figure = new_figure(3.0 * max(len(pcs), 1), 3.0 + 1.3 * n_rows_gallery)
    grid = figure.add_gridspec(
        1 + n_rows_gallery, max(len(pcs), len(picks), 1), height_ratios=[2.2] + [1.0] * n_rows_gallery
    )
    binned = frames.assign(bin=frames["pseudotime"].round()).groupby("bin")
    summary = binned[pcs].agg(["mean", "std", "count"]) if pcs else pd.DataFrame()
    width = max(len(pcs), len(picks), 1)
    for k, pc in enumerate(pcs):
        axis = figure.add_subplot(grid[0, k * width // len(pcs) : (k + 1) * width // len(pcs)])
        x = clock(summary.index.to_numpy(dtype=np.float64))
        mean = summary[(pc, "mean")].to_numpy()
        spread = np.nan_to_num(summary[(pc, "std")].to_numpy())
        axis.fill_between(x, mean - spread, mean + spread, color="#4c72b0", alpha=0.25, lw=0)
        axis.plot(x, mean, color="#4c72b0", lw=1.5, label="mean ± SD")
        reference = frames[frames["is_reference_series"].astype(bool)].sort_values("pseudotime")
        if len(reference):
            axis.plot(
                clock(reference["pseudotime"]), reference[pc], color="k", lw=1, ls="--", label="reference"
            )
        axis.axvline(0, color="#dd8452", lw=1, ls=":")
        axis.set_xlabel(f"pseudo-time ({clock.unit})")
        axis.set_title(f"PC{k + 1} along pseudo-time (0: {event})", fontsize=8)
        axis.set_ylabel(f"PC{k + 1} ({100 * variance[k]:.0f} % var.)")
        if k == 0:
            axis.legend(fontsize=7)
    titles = dict(zip(sorted(picks), clock.offsets(sorted(picks)), strict=True))  # one unit, distinct
    for column, (value, chosen) in enumerate(sorted(picks.items())):
        images: NDArray[np.floating] | list[NDArray[np.floating]] = (
            thumbnails(chosen["row"].to_numpy(dtype=np.int64)) if thumbnails is not None else []
        )
        for row, image in enumerate(images):
            axis = figure.add_subplot(grid[1 + row, column])
            axis.imshow(composite(image))
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(f"pseudo-time {titles[value]}", fontsize=8)
    if label:
        figure.suptitle(label)
    n_lineages = frames[["fov_name", "query_id"]].drop_duplicates().shape[0]
    caption = (
        f"{label + ': ' if label else ''}the first {len(pcs)} principal components of the embeddings "
        f"along DTW pseudo-time (time since the reference's {event}, in {clock.stated}; dotted line: "
        "0), mean ± SD over "
        f"{len(frames)} matched observations of {n_lineages} aligned lineages (dashed: the reference); "
        + (
            f"below, at {len(picks)} pseudo-times, the patches aligned there at the lowest cost (middle "
            f"slice, {view}; first channel grey, second magenta)."
            if picks
            else "no gallery."
        )
    )
    return figure, caption
