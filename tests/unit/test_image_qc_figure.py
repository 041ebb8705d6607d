"""The image-stage QC figure: every stage's images of a FOV, frames in hours, tracks over the labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from iohub.ngff import open_ome_zarr

from dynaclr.config.workflow import QcFiguresConfig
from dynaclr.qc.figure import (
    ImageQcFigureInputs,
    ImageQcFigureOutputs,
    image_qc_figure,
    plot_fov_stages,
    shown_frames,
)

FOV = "A/1/0"


def _plate(path: Path, channels: list[str], data: np.ndarray) -> Path:
    with open_ome_zarr(path, layout="hcs", mode="w", channel_names=channels) as plate:
        plate.create_position("A", "1", "0").create_image("0", data)
    return path


@pytest.fixture
def stages(tmp_path: Path) -> ImageQcFigureInputs:
    rng = np.random.default_rng(0)
    n_t = 5
    raw = rng.normal(100, 10, (n_t, 2, 3, 32, 32)).astype(np.float32)
    labels = np.zeros((n_t, 1, 1, 32, 32), np.uint32)
    rows = []
    for t in range(n_t):
        labels[t, 0, 0, 5 + t : 10 + t, 5:10] = 3
        rows.append({"track_id": 3, "t": t, "y": 7.0 + t, "x": 7.0, "parent_track_id": -1})
    csv = tmp_path / "tracks.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return ImageQcFigureInputs(
        raw_plate=_plate(tmp_path / "raw.zarr", ["Brightfield", "Nuclei"], raw),
        phase_plate=_plate(tmp_path / "phase.zarr", ["Phase3D"], raw[:, :1]),
        tracks_plate=_plate(tmp_path / "tracks.zarr", ["labels"], labels),
        tracks=csv,
        tracking_plate=tmp_path / "raw.zarr",
    )


def test_frames_are_evenly_spaced_first_to_last():
    assert shown_frames(30, 3) == [0, 14, 29]  # 14.5 rounds to even
    assert shown_frames(2, 5) == [0, 1]
    assert shown_frames(1, 3) == [0]


def test_one_row_per_stage_channel_and_a_tracks_row_titled_in_hours(stages: ImageQcFigureInputs):
    figure, caption = plot_fov_stages(stages, FOV, QcFiguresConfig(frames=3), 30.0, "Nuclei")
    grid = [ax for ax in figure.axes if ax.get_images()]
    assert len(grid) == 4 * 3  # Brightfield, Nuclei, Phase3D, tracks x 3 frames
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ["t = 0 (0.0 h)", "t = 2 (1.0 h)", "t = 4 (2.0 h)"]
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_ylabel()]
    assert labels == ["Brightfield", "Nuclei", "phase: Phase3D", "tracks"]
    # the tracks row: outlines over the image, the tail drawn from the CSV's centroids, the id written
    last = figure.axes[-1]
    assert len(last.get_images()) == 2 and last.texts[0].get_text() == "3"
    (tail,) = last.get_lines()
    np.testing.assert_array_equal(tail.get_ydata(), [7.0, 8.0, 9.0, 10.0, 11.0])
    assert "Brightfield, Nuclei, phase: Phase3D" in caption and "tail" not in caption.split(";")[0]


def test_windows_come_from_each_image_not_its_dtype(stages: ImageQcFigureInputs):
    figure, _ = plot_fov_stages(stages, FOV, QcFiguresConfig(frames=1), None, None)
    low, high = figure.axes[0].get_images()[0].get_clim()
    assert 60 < low < 100 < high < 140  # data ~ N(100, 10), not 0-65535
    assert figure.axes[0].get_title() == "t = 0"  # no interval: frames only


def test_the_figure_is_written_as_png_and_svg(stages: ImageQcFigureInputs, tmp_path: Path):
    outputs = ImageQcFigureOutputs(png=tmp_path / "f.png", svg=tmp_path / "f.svg")
    caption = image_qc_figure(QcFiguresConfig(), stages, outputs, FOV, 30.0, "Nuclei")
    assert outputs.png.stat().st_size > 5_000 and outputs.svg.exists()
    assert caption.startswith(FOV)


def test_the_figure_waits_for_its_fovs_phase_when_tracking_reads_the_raw_plate(tmp_path: Path):
    """Tracking on the plate's own nuclear channel does not wait for phase; the figure read the phase
    plate (created empty by phase_plate) before its FOV was reconstructed and drew a black row."""
    from integration.workflow_helpers import planned_jobs, tiny_workflow_config, write_config

    config = tiny_workflow_config()
    assert "tracking_input" not in config["datasets"]["tiny"]  # tracks the raw 'Nuclei' channel
    write_config(tmp_path, config)
    jobs = planned_jobs(tmp_path, "results/tiny/figures/qc/A_1_0.png")
    assert jobs.get("reconstruct_phase") == 1 and jobs["image_qc_figure"] == 1


def test_frames_outside_a_ctc_folders_run_are_titled_untracked(stages: ImageQcFigureInputs, tmp_path: Path):
    """Tracks imported from a CTC folder made on part of the movie (frames 2 .. 4 of 5): before, the
    tracks row showed frame 0 without outlines or ids, like a frame without cells."""
    from dynaclr.io import make_provenance, write_table

    table = pd.read_csv(stages.tracks).query("t >= 2").assign(fov_name=FOV)
    parquet = tmp_path / "tracks.parquet"
    write_table(
        table, parquet, make_provenance("tracks", {"tracked_frames": {FOV: [2, 4]}, "plate_frames": 5})
    )
    inputs = stages.model_copy(update={"tracks": parquet, "tracks_plate": None})
    figure, caption = plot_fov_stages(inputs, FOV, QcFiguresConfig(frames=3), None, "Nuclei")
    tracks_row = figure.axes[-3:]
    assert [ax.get_title() for ax in tracks_row] == ["untracked", "", ""]
    assert "frames [0] untracked (the CTC folder has label images for frames 2 .. 4 only)" in caption
    # the whole movie tracked, or tracks of another form: no panel so titled
    whole = tmp_path / "whole.parquet"
    write_table(table, whole, make_provenance("tracks", {"tracked_frames": {FOV: [0, 4]}, "plate_frames": 5}))
    figure, caption = plot_fov_stages(
        stages.model_copy(update={"tracks": whole, "tracks_plate": None}), FOV, QcFiguresConfig(frames=3)
    )
    assert "untracked" not in [ax.get_title() for ax in figure.axes] and "untracked" not in caption


def test_each_row_shows_the_channel_it_is_labelled_with_in_positions_of_other_orders(tmp_path: Path):
    """Positions listing the plate's channels in other orders (``A/1/0``: Brightfield, GFP; ``B/1/0``:
    GFP, Brightfield): each FOV's rows are looked up by name in its own position, so the row labelled
    Brightfield shows Brightfield (counts around 20,000) in both, and the caption names the rows drawn."""
    from plate_helpers import write_plate_in_channel_orders

    orders = {"A/1/0": ["Brightfield", "GFP"], "B/1/0": ["GFP", "Brightfield"]}
    rng = np.random.default_rng(0)
    images = {
        "Brightfield": rng.integers(19000, 21000, size=(3, 3, 16, 16), dtype=np.uint16),
        "GFP": rng.integers(500, 1500, size=(3, 3, 16, 16), dtype=np.uint16),
    }
    plate = write_plate_in_channel_orders(tmp_path / "raw.zarr", orders, images)
    for fov_name, order in orders.items():
        figure, caption = plot_fov_stages(
            ImageQcFigureInputs(raw_plate=plate), fov_name, QcFiguresConfig(frames=2)
        )
        shown = {ax.get_ylabel(): ax.get_images()[0].get_array() for ax in figure.axes if ax.get_ylabel()}
        assert list(shown) == order, fov_name
        for name, plane in shown.items():
            np.testing.assert_array_equal(plane, images[name][0, 1], err_msg=f"{fov_name}: row {name}")
        assert f"percentiles): {', '.join(order)}." in caption
