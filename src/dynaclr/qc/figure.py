"""What each image stage made of a FOV, at a few frames: the figure a biologist checks first.

Rows: every channel of the raw plate, the reconstructed phase, the virtual stain (where the
dataset has them), and the tracked labels as outlines over the image tracking read, with each
track's tail (its centroids over the last frames) and its id. Columns: evenly spaced frames, titled
in hours from the first frame where the plate records its interval. Each image shows its central
slice with a window from its own 1st–99.5th percentiles.

Reads only the frames shown (one slice per channel and frame).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray
from skimage.segmentation import find_boundaries

from dynaclr.config.workflow import QcFiguresConfig
from dynaclr.io import ArtifactError, StageFiles, parse_csv, read_table
from dynaclr.io.chunks import read_block
from dynaclr.io.figures import new_figure, save_figure
from dynaclr.io.plate import open_plate_position
from dynaclr.tracking.importing import TRACKED_FRAMES

logger = logging.getLogger(__name__)


class ImageQcFigureInputs(StageFiles):
    """Rule ``image_qc_figure``: the plates of each image stage the dataset runs, and its tracks
    (the FOV's own CSV from ``track_fov``, or the imported table). ``records``: the FOV's phase and
    virtual-staining records, which the rule waits for (the plates exist, empty, before the per-FOV
    jobs fill them; tracking on the plate's own nuclear channel does not wait for them); not read."""

    raw_plate: Path
    phase_plate: Path | None = None
    virtual_stain_plate: Path | None = None
    tracks_plate: Path | None = None
    tracks: Path | None = None
    tracking_plate: Path | None = None
    records: tuple[Path, ...] = ()


class ImageQcFigureOutputs(StageFiles):
    """Rule ``image_qc_figure``: the figure (PNG and SVG)."""

    png: Path
    svg: Path


def shown_frames(n_frames: int, count: int) -> list[int]:
    """``count`` evenly spaced frames from the first to the last (fewer for a short movie)."""
    return sorted({round(float(t)) for t in np.linspace(0, n_frames - 1, min(count, n_frames))})


def _slice(position: object, t: int, c: int, store: Path, fov_name: str) -> NDArray:
    """The central Z slice of channel ``c`` at frame ``t`` (a 2-D array)."""
    image = position["0"]  # type: ignore[index]
    z = image.shape[2] // 2
    return np.asarray(
        read_block(image, (t, c, slice(z, z + 1)), store=store, fov_name=fov_name)[0], np.float32
    )


def _show(ax: Axes, plane: NDArray, cmap: str = "gray") -> None:
    finite = plane[np.isfinite(plane)]
    low, high = np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0)
    ax.imshow(plane, cmap=cmap, vmin=low, vmax=max(high, low + 1e-6), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _frame_title(t: int, interval_minutes: float | None) -> str:
    if interval_minutes:
        return f"t = {t} ({t * interval_minutes / 60:.1f} h)"
    return f"t = {t}"


def read_fov_tracks_for_figure(path: Path, fov_name: str) -> tuple[pd.DataFrame, range | None]:
    """``track_id, t, y, x`` of one FOV from its tracks CSV or the dataset's tracks table, and the
    frames they cover where the table's record states them (tracks imported from a CTC folder made on
    part of the movie, :data:`~dynaclr.tracking.importing.TRACKED_FRAMES`; None: every frame)."""
    tracked = None
    if path.suffix == ".parquet":
        table, provenance = read_table(path, "tracks", ("fov_name", "track_id", "t", "y", "x"))
        table = table[table["fov_name"] == fov_name]
        first_last = (provenance.config.get(TRACKED_FRAMES) or {}).get(fov_name)
        tracked = None if first_last is None else range(first_last[0], first_last[1] + 1)
    else:
        table = parse_csv(path)
        missing = [c for c in ("track_id", "t", "y", "x") if c not in table.columns]
        if missing:
            raise ArtifactError(f"{path}: tracks CSV lacks columns {missing}; found {list(table.columns)}")
    return table[["track_id", "t", "y", "x"]], tracked


def _draw_tracks(ax: Axes, labels: NDArray | None, tracks: pd.DataFrame, t: int, tail_frames: int) -> None:
    if labels is not None:
        edges = find_boundaries(labels, mode="inner")
        overlay = np.zeros((*labels.shape, 4), np.float32)
        overlay[edges] = (1.0, 0.85, 0.0, 1.0)
        ax.imshow(overlay, interpolation="nearest")
    now = tracks[tracks["t"] == t]
    present = set(now["track_id"])
    recent = tracks[(tracks["t"] <= t) & (tracks["t"] >= t - tail_frames)].sort_values("t")
    for track_id, tail in recent.groupby("track_id"):
        if track_id in present and len(tail) > 1:
            ax.plot(tail["x"], tail["y"], color="tab:cyan", linewidth=0.8)
    for row in now.itertuples(index=False):
        ax.text(row.x, row.y, str(int(row.track_id)), color="white", fontsize=4, ha="center", va="center")


def _draw_tracks_row(
    axes: NDArray,
    tracks_plate: Path | None,
    background: tuple[Path, str | int],
    tracks: pd.DataFrame,
    frames: list[int],
    fov_name: str,
    config: QcFiguresConfig,
    tracked: range | None = None,
) -> None:
    """The last row: the tracked labels' outlines and the tracks' tails over ``background``; a frame
    outside ``tracked`` (None: every frame tracked) is titled "untracked": it has no tracks, which
    says nothing of its cells."""
    path, channel = background
    with ExitStack() as stack:
        position = stack.enter_context(open_plate_position(path, fov_name))
        c = position.get_channel_index(str(channel))
        labels_image = None
        if tracks_plate is not None:
            labels_image = stack.enter_context(open_plate_position(tracks_plate, fov_name))["0"]
        for col, t in enumerate(frames):
            _show(axes[col], _slice(position, t, c, path, fov_name))
            labels = None
            if labels_image is not None and tracks_plate is not None:
                stack_zyx = read_block(labels_image, (t, 0), store=tracks_plate, fov_name=fov_name)
                labels = stack_zyx.max(axis=0)  # (Z, Y, X) -> (Y, X); a 2-D plate has Z = 1
            _draw_tracks(axes[col], labels, tracks, t, config.tail_frames)
            if tracked is not None and t not in tracked:
                axes[col].set_title("untracked", fontsize=7, color="tab:red")
    axes[0].set_ylabel("tracks", fontsize=7)


def plot_fov_stages(
    inputs: ImageQcFigureInputs,
    fov_name: str,
    config: QcFiguresConfig,
    time_interval_minutes: float | None = None,
    tracking_channel: str | None = None,
) -> tuple[Figure, str]:
    """The figure of one FOV and its caption; frames titled in hours where the interval is known."""
    rows: list[tuple[str, Path, str | int]] = []  # (row title, plate, channel index or name)
    # this FOV's positions alone: no other FOV's metadata, nor the plates' (open_plate_position)
    with open_plate_position(inputs.raw_plate, fov_name) as raw:
        n_frames = raw["0"].shape[0]
        rows += [(name, inputs.raw_plate, name) for name in raw.channel_names]
    for title, path in (("phase", inputs.phase_plate), ("virtual stain", inputs.virtual_stain_plate)):
        if path is not None:
            with open_plate_position(path, fov_name) as position:
                rows += [(f"{title}: {name}", path, name) for name in position.channel_names]
    tracks, tracked = (
        (None, None) if inputs.tracks is None else read_fov_tracks_for_figure(inputs.tracks, fov_name)
    )
    frames = shown_frames(n_frames, config.frames)
    n_rows = len(rows) + (tracks is not None)
    figure = new_figure(2.0 * len(frames) + 0.6, 2.0 * n_rows)
    axes = figure.subplots(n_rows, len(frames), squeeze=False)
    for r, (title, path, channel) in enumerate(rows):
        with open_plate_position(path, fov_name) as position:
            c = position.get_channel_index(str(channel))
            for col, t in enumerate(frames):
                _show(axes[r, col], _slice(position, t, c, path, fov_name))
                if r == 0:
                    axes[r, col].set_title(_frame_title(t, time_interval_minutes), fontsize=8)
        axes[r, 0].set_ylabel(title, fontsize=7)
    if tracks is not None and rows:
        # the image tracking read, where the config names it; else the last row's
        background = rows[-1][1:]
        if inputs.tracking_plate is not None and tracking_channel is not None:
            background = (inputs.tracking_plate, tracking_channel)
        _draw_tracks_row(
            axes[len(rows)], inputs.tracks_plate, background, tracks, frames, fov_name, config, tracked
        )
    untracked = [] if tracked is None else [t for t in frames if t not in tracked]
    caption = (
        f"{fov_name}: each image stage at {len(frames)} frames (central slice, window from its own "
        f"1st–99.5th percentiles): {', '.join(title for title, _, _ in rows)}"
        + (
            f"; tracks: outlines of the tracked labels (yellow), each track's last {config.tail_frames} "
            "frames (cyan) and its id"
            if tracks is not None
            else ""
        )
        + (
            f"; frames {untracked} untracked (the CTC folder has label images for frames "
            f"{tracked[0]} .. {tracked[-1]} only): no tracks there, which says nothing of their cells"
            if tracked is not None and untracked
            else ""
        )
        + "."
    )
    figure.suptitle(fov_name, fontsize=9)
    return figure, caption


def image_qc_figure(
    config: QcFiguresConfig,
    inputs: ImageQcFigureInputs,
    outputs: ImageQcFigureOutputs,
    fov_name: str,
    time_interval_minutes: float | None = None,
    tracking_channel: str | None = None,
) -> str:
    """Draw and write one FOV's image-stage figure; returns its caption."""
    figure, caption = plot_fov_stages(inputs, fov_name, config, time_interval_minutes, tracking_channel)
    save_figure(figure, outputs.png, outputs.svg, dpi=150)
    logger.info("Wrote %s: %s", outputs.png, caption)
    return caption
