"""Figures of the interpretation: the component-feature heatmap and galleries of cell patches.
Each function returns ``(Figure, caption)`` like :mod:`dynaclr.figures.plots`."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from dynaclr.interpretation.components import rho_excludes_zero
from dynaclr.io.figures import new_figure

#: One gallery row group: its label, and per column the ``(Y, X)`` images stacked top to bottom.
GalleryGroup = tuple[str, Sequence[Sequence[np.ndarray]]]


def plot_correlation_heatmap(correlation: pd.DataFrame, label: str = "") -> tuple[Figure, str]:
    """Heatmap of Spearman's rho, components (rows, with their % variance) x features (columns); a
    cross on each pair whose interval over tracks includes 0 or is withheld.

    Args:
        correlation: columns ``pc, explained_variance_ratio, feature, rho, rho_ci_low, rho_ci_high,
            n_observations, n_tracks, confidence`` (one row per pair,
            :func:`~dynaclr.interpretation.component_feature_correlation`).
        label: the model/dataset name for the title and caption.
    """
    excludes = rho_excludes_zero(correlation)
    rho = correlation.pivot(index="pc", columns="feature", values="rho").sort_index()
    rho = rho.loc[:, list(correlation["feature"].unique())]  # the table's feature order, not alphabetical
    shown = correlation.assign(_excludes=excludes).pivot(index="pc", columns="feature", values="_excludes")
    shown = shown.reindex(index=rho.index, columns=rho.columns)
    explained = correlation.groupby("pc")["explained_variance_ratio"].first().reindex(rho.index)
    figure = new_figure(max(5.0, 0.28 * rho.shape[1] + 2.0), max(2.5, 0.35 * rho.shape[0] + 1.8))
    ax = figure.subplots()
    image = ax.imshow(rho.to_numpy(dtype=np.float64), cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto")
    rows, cols = np.nonzero(~shown.to_numpy(dtype=bool))
    ax.scatter(cols, rows, marker="x", s=10, linewidths=0.6, color="0.35")
    ax.set_xticks(range(rho.shape[1]), list(rho.columns), rotation=90, fontsize=6)
    ax.set_yticks(
        range(rho.shape[0]), [f"PC{pc} ({100 * v:.1f}%)" for pc, v in explained.items()], fontsize=7
    )
    ax.set_title(f"{label}: Spearman rho of principal components and features", fontsize=9)
    figure.colorbar(image, ax=ax, label="Spearman rho", shrink=0.8)
    level = f"{100 * float(correlation['confidence'].iloc[0]):g} %" if len(correlation) else "the"
    n_tracks = int(correlation["n_tracks"].max()) if len(correlation) else 0
    n_observations = int(correlation["n_observations"].max()) if len(correlation) else 0
    clear = correlation[excludes]
    if len(clear):
        strongest = clear.loc[clear["rho"].abs().idxmax()]
        summary = (
            f" {len(clear)} of {len(correlation)} pairs {'has' if len(clear) == 1 else 'have'} a {level} "
            "interval over tracks that excludes 0; "
            f"the strongest is PC{int(strongest['pc'])} with {strongest['feature']} "
            f"(rho {strongest['rho']:.2f}, "
            f"{strongest['rho_ci_low']:.2f} to {strongest['rho_ci_high']:.2f})."
        )
    else:
        summary = (
            f" No pair's {level} interval over tracks excludes 0: none of these correlations is shown to "
            "differ from none."
        )
    caption = (
        f"{label + ': ' if label else ''}Spearman rank correlation of the first {rho.shape[0]} principal "
        f"components of the embeddings (rows, % of variance each explains) with {rho.shape[1]} engineered "
        "features of each cell's patch (columns: shape of the central cell's Otsu mask, intensity mean and "
        "IQR, entropy, radial slope, GLCM texture, per channel), over "
        f"{n_observations:,} cell observations (the paper's rho: a cell at each frame) of "
        f"{n_tracks:,} tracks. "
        "Red: the feature rises along the component; blue: it falls; white: unrelated or constant. A cross "
        f"marks a pair whose {level} interval (percentile bootstrap over tracks: a track's frames are not "
        "independent cells) includes 0 or is withheld: not shown to differ from no correlation."
        f"{summary}"
    )
    return figure, caption


def plot_gallery(
    groups: Sequence[GalleryGroup], column_labels: Sequence[str], title: str, caption: str
) -> tuple[Figure, str]:
    """A grid of patches: per group, one column per ``column_labels`` entry, images stacked.

    Every image is shown with its own grey range (2nd-98th percentile); empty cells stay blank.
    """
    heights = [max((len(column) for column in columns), default=0) for _, columns in groups]
    n_rows, n_cols = max(sum(heights), 1), max(len(column_labels), 1)
    figure = new_figure(1.1 * n_cols + 0.6, 1.1 * n_rows + 0.6)
    axes = np.atleast_2d(figure.subplots(n_rows, n_cols, squeeze=False))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    top = 0
    for (name, columns), height in zip(groups, heights, strict=True):
        for col, images in enumerate(columns):
            for row, image in enumerate(images):
                low, high = np.percentile(image, [2, 98]) if image.size else (0.0, 1.0)
                axes[top + row, col].imshow(image, cmap="gray", vmin=low, vmax=max(high, low + 1e-12))
        if height:
            axes[top, 0].set_ylabel(name, fontsize=8)
        top += height
    for col, text in enumerate(column_labels):
        axes[0, col].set_title(text, fontsize=7)
    figure.suptitle(title, fontsize=9)
    return figure, caption


@dataclass(frozen=True)
class AttributionPanel:
    """One time point of an occlusion figure: ``(C, Y, X)`` patch slices and maps, the region mask.

    ``patch`` ``None``: the cell is not tracked at that frame (the row stays blank).
    """

    label: str
    patch: np.ndarray | None
    attribution: np.ndarray | None
    region: np.ndarray | None


def plot_occlusion(
    blocks: Sequence[tuple[str, Sequence[AttributionPanel]]],
    channel_names: Sequence[str],
    title: str,
    footnote: str = "",
) -> Figure:
    """Rows = time points (grouped in ``blocks``, e.g. infection then division); per channel two
    columns: the patch (its own 2nd-98th percentile grey range) and the occlusion map over it
    (red: occluding lowers the predicted class's logit, blue: raises it; one symmetric colour range
    per block), the region's outline drawn on the map; ``footnote`` (e.g. the measured numbers) is
    wrapped under the grid.
    """
    n_channels = len(channel_names)
    n_rows = max(sum(len(panels) for _, panels in blocks), 1)
    n_cols = 2 * n_channels
    figure = new_figure(1.25 * n_cols + 1.4, 1.2 * n_rows + 0.8)
    axes = np.atleast_2d(figure.subplots(n_rows, n_cols, squeeze=False))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    top = 0
    for block_name, panels in blocks:
        maps = [p.attribution for p in panels if p.attribution is not None]
        limit = max((float(np.abs(m).max()) for m in maps), default=0.0) or 1.0
        shown: AxesImage | None = None
        for row, panel in enumerate(panels):
            axes[top + row, 0].set_ylabel(f"{block_name}\n{panel.label}", fontsize=6)
            if panel.patch is None or panel.attribution is None:
                axes[top + row, 0].text(0.5, 0.5, "not tracked", ha="center", va="center", fontsize=6)
                continue
            for channel in range(n_channels):
                image = panel.patch[channel]
                low, high = np.percentile(image, [2, 98])
                grey = {"cmap": "gray", "vmin": low, "vmax": max(high, low + 1e-12)}
                axes[top + row, 2 * channel].imshow(image, **grey)
                overlay = axes[top + row, 2 * channel + 1]
                overlay.imshow(image, **grey)
                shown = overlay.imshow(
                    panel.attribution[channel], cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.6
                )
                if panel.region is not None and panel.region.any():
                    overlay.contour(panel.region, levels=[0.5], colors="gold", linewidths=0.6)
        if shown is not None:
            figure.colorbar(shown, ax=axes[top : top + len(panels), -1], shrink=0.8, label="logit drop")
        top += len(panels)
    for channel, name in enumerate(channel_names):
        axes[0, 2 * channel].set_title(name, fontsize=7)
        axes[0, 2 * channel + 1].set_title(f"{name}: occlusion", fontsize=7)
    figure.suptitle(title, fontsize=9)
    if footnote:
        width = max(60, int(14 * (1.25 * n_cols + 1.4)))
        figure.supxlabel(textwrap.fill(footnote, width), fontsize=6, ha="left", x=0.01)
    return figure
