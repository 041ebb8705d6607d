"""A dataset given as OME-TIFF files (``tiff:``): planned from the files' headers (a config that
contradicts them fails before any job), converted into the raw plate by rule ``convert_tiff``, and
tracked from it like any plate; editing a file reruns the conversion and what follows."""

from __future__ import annotations

import os
import time

import numpy as np
import tifffile
from iohub.ngff import open_ome_zarr

from dynaclr.io import read_table, read_zarr_provenance
from dynaclr.io.plate import read_plate_layout
from integration.workflow_helpers import planned_jobs, snakemake, write_config

POSITION_OF = {"A/1/0": "Pos0", "B/1/0": "Pos1"}
TRACKS = "results/mine/tracks.parquet"


def plate_images(plate) -> dict[str, np.ndarray]:
    with open_ome_zarr(plate, layout="hcs", mode="r") as store:
        return {name: np.asarray(position["0"][:]) for name, position in store.positions()}


def test_ome_tiffs_convert_into_the_raw_plate_that_tracking_reads(tmp_path, tiny_plate):
    layout = read_plate_layout(tiny_plate["plate"])
    images = plate_images(tiny_plate["plate"])
    (tmp_path / "tiffs").mkdir()
    for fov, image in images.items():
        tifffile.imwrite(
            tmp_path / "tiffs" / f"{POSITION_OF[fov]}.ome.tif",
            image,
            metadata={
                "axes": "TCZYX",
                "Channel": {"Name": list(layout.channel_names)},
                "PhysicalSizeX": layout.geometry.pixel_size_um,
                "PhysicalSizeY": layout.geometry.pixel_size_um,
                "PhysicalSizeZ": layout.geometry.z_step_um,
                "TimeIncrement": layout.geometry.time_interval_s,
            },
        )
    dataset = {
        "tiff": {"files": "tiffs/{position}.ome.tif", "positions": {p: f for f, p in POSITION_OF.items()}},
        "conditions": {"A/1": "mock", "B/1": "infected"},
    }
    disagreeing = {**dataset, "tiff": {**dataset["tiff"], "pixel_size_um": 0.5}}
    write_config(tmp_path, {"datasets": {"mine": disagreeing}})
    refused = snakemake(tmp_path, "--dry-run", TRACKS, check=False)
    assert refused.returncode != 0
    assert "datasets.mine: tiffs/Pos0.ome.tif: its metadata gives pixel_size_um = 0.65, the config " in (
        refused.stdout + refused.stderr
    )
    write_config(tmp_path, {"datasets": {"mine": dataset}})

    expected_jobs = {"convert_tiff": 1, "tracks_plate": 1, "track_fov": 2, "collect_tracks": 1}
    assert planned_jobs(tmp_path, TRACKS) == expected_jobs
    snakemake(tmp_path, "--cores", "2", TRACKS)

    plate = tmp_path / "results" / "mine" / "raw.zarr"
    assert read_zarr_provenance(plate, "raw_plate").kind == "raw_plate"
    assert read_plate_layout(plate).geometry == layout.geometry
    converted = plate_images(plate)
    assert list(converted) == list(images)
    for fov, image in images.items():
        np.testing.assert_array_equal(converted[fov], image, err_msg=fov)
    tracks, _ = read_table(tmp_path / TRACKS, "tracks")
    assert set(tracks["fov_name"]) == set(POSITION_OF)
    assert tracks.groupby("fov_name")["t"].nunique().eq(layout.n_frames).all()

    assert planned_jobs(tmp_path, TRACKS) == {}
    edited = tmp_path / "tiffs" / "Pos1.ome.tif"
    os.utime(edited, (time.time() + 60, time.time() + 60))  # newer than every output
    assert planned_jobs(tmp_path, TRACKS) == expected_jobs
