"""Statistics and preview figure of a simulated plate's ground truth."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from iohub.ngff import open_ome_zarr
from matplotlib.figure import Figure

from dynaclr.config.workflow import SummaryConfig
from dynaclr.io import (
    StageFiles,
    make_provenance,
    read_table,
    read_zarr_provenance,
    write_table,
)
from dynaclr.io.figures import new_figure, save_figure

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "fov_name",
    "condition",
    "track_id",
    "parent_track_id",
    "t",
    "y",
    "x",
    "infected",
    "mitosis",
)


def summary_table(ground_truth: pd.DataFrame) -> pd.DataFrame:
    """One row per FOV: cells, tracks, divisions, infected tracks, mean track length (frames)."""
    rows = []
    for fov_name, fov in ground_truth.groupby("fov_name", sort=True):
        tracks = fov.groupby("track_id")
        rows.append(
            {
                "fov_name": fov_name,
                "condition": fov["condition"].iloc[0],
                "n_frames": int(fov["t"].nunique()),
                "n_cell_observations": len(fov),
                "n_tracks": tracks.ngroups,
                "n_divisions": int(fov.loc[fov["parent_track_id"] >= 0, "parent_track_id"].nunique()),
                "n_infected_tracks": int(tracks["infected"].any().sum()),
                "mitotic_fraction": float(fov["mitosis"].mean()),
                "mean_track_length_frames": float(tracks.size().mean()),
                "cells_per_frame": float(fov.groupby("t").size().mean()),
            }
        )
    return pd.DataFrame(rows)


def plot_preview(
    plate_path: str | Path, ground_truth: pd.DataFrame, config: SummaryConfig, fov_name: str
) -> Figure:
    """Central slice of the chosen channels at evenly spaced frames, true centroids overlaid.

    Reads only the frames shown (one (Z, Y, X) stack per channel and frame).
    """
    with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
        position = plate[fov_name]
        image = position["0"]
        n_t, _, n_z, _, _ = image.shape
        frames = np.unique(np.linspace(0, n_t - 1, config.preview_frames).round().astype(int))
        channels = [(name, position.get_channel_index(name)) for name in config.preview_channels]
        fig = new_figure(2.2 * len(frames), 2.2 * len(channels))
        axes = fig.subplots(len(channels), len(frames), squeeze=False)
        fov_cells = ground_truth[ground_truth["fov_name"] == fov_name]
        z = round(float(fov_cells["z"].median())) if len(fov_cells) else n_z // 2
        for col, t in enumerate(frames):
            cells = ground_truth[(ground_truth["fov_name"] == fov_name) & (ground_truth["t"] == t)]
            for row, (name, c) in enumerate(channels):
                ax = axes[row, col]
                plane = np.asarray(image[int(t), c, z], dtype=np.float32)
                low, high = np.percentile(plane, [1, 99.5])
                ax.imshow(plane, cmap="gray", vmin=low, vmax=max(high, low + 1))
                colors = np.where(cells["infected"], "tab:red", "tab:cyan")
                colors = np.where(cells["mitosis"], "yellow", colors)
                ax.scatter(cells["x"], cells["y"], s=6, c=colors, linewidths=0)
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(f"t = {t}", fontsize=9)
                if col == 0:
                    ax.set_ylabel(name, fontsize=9)
    fig.suptitle(f"{fov_name}: true centroids (cyan uninfected, red infected, yellow mitosis)", fontsize=9)
    return fig


class SummaryInputs(StageFiles):
    """Rule ``summarize_ground_truth``: the simulator's ground truth and raw plate."""

    tracks: Path
    plate: Path


class SummaryOutputs(StageFiles):
    """Rule ``summarize_ground_truth``: the per-FOV table and the preview figure (PNG and SVG)."""

    summary: Path
    preview_png: Path
    preview_svg: Path


def summarize_ground_truth(
    config: SummaryConfig, inputs: SummaryInputs, outputs: SummaryOutputs
) -> pd.DataFrame:
    """Write the per-FOV summary table and the preview figure (one FOV per condition)."""
    tracks_path, plate_path = inputs.tracks, inputs.plate
    ground_truth, tracks_prov = read_table(tracks_path, "ground_truth_tracks", REQUIRED_COLUMNS)
    plate_prov = read_zarr_provenance(plate_path, "raw_plate")
    summary = summary_table(ground_truth)
    provenance = make_provenance(
        "ground_truth_summary",
        config.model_dump(mode="json"),
        inputs=[(tracks_path, tracks_prov), (plate_path, plate_prov)],
    )
    write_table(summary, outputs.summary, provenance)
    fov_name = sorted(ground_truth["fov_name"].unique())[-1] if len(ground_truth) else None
    if fov_name is None:
        figure = new_figure(4, 1)
        figure.text(0.5, 0.5, "no cells in this dataset", ha="center")
    else:
        figure = plot_preview(plate_path, ground_truth, config, fov_name)
    save_figure(figure, outputs.preview_png, outputs.preview_svg, dpi=110)
    logger.info("summary of %d FOVs written to %s", len(summary), outputs.summary)
    return summary
