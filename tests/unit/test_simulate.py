"""The simulator: lineage, labels vs centroids, reporters, determinism, plate metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from iohub.ngff import open_ome_zarr
from plate_helpers import assert_positions_copy_the_root

from dynaclr.config.simulate import CHANNEL_NAMES, SimulateConfig
from dynaclr.io import read_table, read_zarr_provenance
from dynaclr.simulate import GROUND_TRUTH_COLUMNS, SimulateOutputs, simulate_fov_dynamics
from dynaclr.simulate.render import cell_shape, render_frame


def _outputs(root: Path) -> SimulateOutputs:
    """The rule's four outputs under ``root``."""
    return SimulateOutputs(
        plate=root / "raw.zarr",
        tracks=root / "gt.parquet",
        labels=root / "labels.zarr",
        phase=root / "phase.zarr",
    )


def _ground_truth(tiny_plate) -> pd.DataFrame:
    df, _ = read_table(tiny_plate["tracks"], "ground_truth_tracks", GROUND_TRUTH_COLUMNS)
    return df


def test_ground_truth_has_documented_columns_and_provenance(tiny_plate, tiny_config):
    df, prov = read_table(tiny_plate["tracks"], "ground_truth_tracks", GROUND_TRUTH_COLUMNS)
    assert list(df.columns) == list(GROUND_TRUTH_COLUMNS)
    assert prov.config == tiny_config.model_dump(mode="json")
    assert set(df["fov_name"]) == set(tiny_config.fov_names())
    assert not df.duplicated(["fov_name", "track_id", "t"]).any()
    for kind, key in (
        ("raw_plate", "plate"),
        ("ground_truth_labels", "labels"),
        ("ground_truth_phase", "phase"),
    ):
        assert read_zarr_provenance(tiny_plate[key], kind).config_hash == prov.config_hash


def test_lineage_parents_end_the_frame_before_daughters_start(tiny_plate):
    df = _ground_truth(tiny_plate)
    spans = df.groupby(["fov_name", "track_id"])["t"].agg(["min", "max", "size"])
    # tracks are contiguous in time (no gaps)
    assert ((spans["max"] - spans["min"] + 1) == spans["size"]).all()
    daughters = df[df["parent_track_id"] >= 0].groupby(["fov_name", "track_id"]).first()
    assert len(daughters) >= 2, "the tiny plate should contain at least one division"
    for (fov, _), row in daughters.iterrows():
        parent_end = spans.loc[(fov, row["parent_track_id"]), "max"]
        daughter_start = spans.loc[(fov, _), "min"]
        assert daughter_start == parent_end + 1
        parent_lineage = df[(df.fov_name == fov) & (df.track_id == row["parent_track_id"])][
            "lineage_id"
        ].iloc[0]
        assert row["lineage_id"] == parent_lineage
    # at most two daughters per parent, and the parent was in mitosis at its last frame
    counts = daughters.reset_index().groupby(["fov_name", "parent_track_id"]).size()
    assert (counts <= 2).all()
    last_frames = df.merge(
        counts.rename("n").reset_index().rename(columns={"parent_track_id": "track_id"}),
        on=["fov_name", "track_id"],
    )
    last = last_frames.loc[last_frames.groupby(["fov_name", "track_id"])["t"].idxmax()]
    assert last["mitosis"].all()


def test_labels_agree_with_centroids(tiny_plate):
    df = _ground_truth(tiny_plate)
    with open_ome_zarr(tiny_plate["labels"], layout="hcs", mode="r") as plate:
        for fov_name, position in plate.positions():
            labels = np.asarray(position["0"][:, 0])  # (T, Z, Y, X)
            fov = df[df.fov_name == fov_name]
            for row in fov.itertuples():
                mask = labels[row.t] == row.track_id
                r = row.nucleus_radius_px
                inside = r * 1.5 <= row.y <= labels.shape[2] - 1 - r * 1.5 and (
                    r * 1.5 <= row.x <= labels.shape[3] - 1 - r * 1.5
                )
                assert mask.any(), f"track {row.track_id} at t={row.t} has no label voxels"
                if inside:  # border cells are cut by the image edge
                    zz, yy, xx = np.nonzero(mask)
                    assert abs(yy.mean() - row.y) < 1.0
                    assert abs(xx.mean() - row.x) < 1.0
                    assert abs(zz.mean() - row.z) < 1.0
            # no label without a ground-truth row
            for t in range(labels.shape[0]):
                ids = set(np.unique(labels[t])) - {0}
                assert ids <= set(fov.loc[fov.t == t, "track_id"])


def test_sensor_moves_into_the_nucleus_after_onset_and_not_before(tiny_plate):
    """Measured on the rendered (noise-free) volumes, with the true nuclear masks."""
    df = _ground_truth(tiny_plate)
    infected = df[(df.condition == "infected") & (df.infection_onset_t >= 0)]
    assert len(infected), "the infected well must contain infected cells"
    config = SimulateConfig.model_validate(read_table(tiny_plate["tracks"], "ground_truth_tracks")[1].config)
    fov_index = config.fov_names().index(infected["fov_name"].iloc[0])
    states = simulate_fov_dynamics(config, fov_index)
    measured = []
    for t, frame in states.groupby("t"):
        volumes = render_frame(frame, config)
        for row in frame.itertuples():
            nucleus = volumes.labels == row.track_id
            # the cell's own neighbourhood, so neighbours' sensor does not count
            yy, xx = np.ogrid[: volumes.sensor.shape[1], : volumes.sensor.shape[2]]
            near = (yy - row.y) ** 2 + (xx - row.x) ** 2 <= (row.nucleus_radius_px * 2.2) ** 2
            total = volumes.sensor[:, near].sum()
            measured.append(
                {
                    "track_id": row.track_id,
                    "t": t,
                    "onset": row.infection_onset_t,
                    "fraction": volumes.sensor[nucleus].sum() / total,
                }
            )
    m = pd.DataFrame(measured)
    m = m[m.onset >= 0]
    before = m[m.t < m.onset]["fraction"]
    late = m[m.t >= m.onset + config.infection.translocation_frames]["fraction"]
    assert len(before) and len(late)
    assert late.mean() > before.mean() + 0.3
    # not before: the fraction is flat until onset (within rendering noise of cell shape)
    assert before.max() < late.min()
    mock = df[df.condition == "mock"]
    assert (
        not mock["infected"].any()
        and (mock["sensor_nuclear_fraction"] == mock["sensor_nuclear_fraction"].iloc[0]).all()
    )


def test_plate_metadata(tiny_plate, tiny_config):
    with open_ome_zarr(tiny_plate["plate"], layout="hcs", mode="r") as plate:
        assert plate.channel_names == list(CHANNEL_NAMES)
        names = [name for name, _ in plate.positions()]
        assert names == tiny_config.fov_names()
        position = plate[names[0]]
        assert [axis.name for axis in position.axes] == ["T", "C", "Z", "Y", "X"]
        assert position["0"].shape == (tiny_config.n_frames, len(CHANNEL_NAMES), *tiny_config.shape_zyx)
        scale = position.scale
        assert scale[0] == pytest.approx(tiny_config.time_interval_minutes * 60)
        assert scale[2:] == pytest.approx(
            [tiny_config.z_step_um, tiny_config.pixel_size_um, tiny_config.pixel_size_um]
        )
        assert plate.zattrs["time_interval_minutes"] == tiny_config.time_interval_minutes
        data = np.asarray(position["0"][0])
        assert data.dtype == np.uint16
        # brightfield has structure (cells), fluorescence has signal above background
        assert data[0].std() > 0
        assert all(data[c].max() > data[c].min() for c in range(1, len(CHANNEL_NAMES)))
    for plate in (tiny_plate["plate"], tiny_plate["labels"], tiny_plate["phase"]):
        assert_positions_copy_the_root(plate)


def test_same_seed_same_arrays_different_seed_different(tmp_path, tiny_config):
    from dynaclr.simulate import simulate_plate

    small = tiny_config.model_copy(update={"n_frames": 3})

    def run(config, name):
        outputs = _outputs(tmp_path / name)
        simulate_plate(config, outputs)
        with open_ome_zarr(outputs.plate, layout="hcs", mode="r") as plate:
            return {fov: np.asarray(pos["0"][:]) for fov, pos in plate.positions()}

    first, again = run(small, "a"), run(small, "b")
    other = run(small.model_copy(update={"seed": small.seed + 1}), "c")
    for fov in first:
        np.testing.assert_array_equal(first[fov], again[fov])
        assert not np.array_equal(first[fov], other[fov])


def test_nuclear_marker_only_on_configured_fovs(tmp_path, tiny_config):
    from dynaclr.simulate import simulate_plate

    config = SimulateConfig.model_validate(
        {**tiny_config.model_dump(mode="json"), "n_frames": 2, "nuclear_marker_fovs": ["A/1/0"]}
    )
    outputs = _outputs(tmp_path)
    simulate_plate(config, outputs)
    with open_ome_zarr(outputs.plate, layout="hcs", mode="r") as plate:
        nuclei = CHANNEL_NAMES.index("Nuclei")
        assert np.asarray(plate["A/1/0"]["0"][0, nuclei]).std() > 0
        assert np.asarray(plate["B/1/0"]["0"][0, nuclei]).std() == 0


def test_empty_fov_gives_schema_valid_ground_truth(tmp_path, tiny_config):
    from dynaclr.simulate import GROUND_TRUTH_COLUMNS as columns, simulate_plate

    config = SimulateConfig.model_validate(
        {
            **tiny_config.model_dump(mode="json"),
            "n_frames": 2,
            "cells": {"initial_cells_per_fov": 0, "entering_cells_per_frame": 0.0},
        }
    )
    outputs = _outputs(tmp_path)
    gt = simulate_plate(config, outputs)
    assert len(gt) == 0
    df, _ = read_table(outputs.tracks, "ground_truth_tracks", columns)
    assert len(df) == 0


def _one_cell(config: SimulateConfig, z_slices: float) -> pd.DataFrame:
    """One round, flat (interphase) cell at the centre of the volume, nucleus centred at ``z_slices``."""
    _, n_y, n_x = config.shape_zyx
    return pd.DataFrame(
        [
            {
                "y": n_y / 2,
                "x": n_x / 2,
                "z": z_slices,
                "nucleus_radius_um": config.cells.nucleus_radius_um,
                "aspect": 1.0,
                "angle": 0.0,
                "rounding": 0.0,
                "chromatin_condensation": 0.0,
                "delta_n_cytoplasm": 0.015,
                "delta_n_nucleus_extra": 0.006,
                "sensor_nuclear_fraction": 0.5,
                "er_condensation": 0.0,
                "texture_seed": 0,
                "track_id": 1,
            }
        ]
    )


@pytest.mark.parametrize("z_slices", [4.0, 4.2, 4.5, 4.8])
def test_nucleus_is_anti_aliased_along_z_wherever_it_falls_between_slices(z_slices):
    # 5 µm tall nucleus at 2 µm slices spans 2.5 slices: sampling its surface without
    # anti-aliasing gives 2 or 3 full slices depending on the sub-slice position
    config = SimulateConfig.model_validate(
        {"shape_zyx": [10, 64, 64], "cells": {"nucleus_height_um": 5.0, "coverslip_z_um": 0.0}}
    )
    nucleus = render_frame(_one_cell(config, z_slices), config).nuclei
    column = nucleus[:, 32, 32]
    column = column / column.max()
    assert column.sum() == pytest.approx(2.5, abs=0.15)
    centroid = float((column * np.arange(len(column))).sum() / column.sum())
    assert centroid == pytest.approx(z_slices, abs=0.1)
    # the edge ramps over about one slice: some slice holds a partial volume
    assert np.any((column > 0.05) & (column < 0.95))


def test_morphodynamics_change_the_cell_between_frames_but_nothing_else(tiny_config):
    """Outline modes, rotation and granules: off reproduces the static cells exactly; on, a
    cell's cytoplasm changes from frame to frame while every position, division and infection
    (drawn from the FOV's own generator) stays the same."""
    static = tiny_config.model_copy(update={"n_frames": 4})
    moving = SimulateConfig.model_validate(
        {
            **static.model_dump(),
            "cells": {
                **static.cells.model_dump(),
                "rotation_std_rad_per_frame": 0.2,
                "membrane_fluctuation": 0.15,
                "cytoplasm_granularity": 0.5,
            },
        }
    )
    table_static = simulate_fov_dynamics(static, 0)
    table_moving = simulate_fov_dynamics(moving, 0)
    same = ["track_id", "t", "y", "x", "infection_onset_t", "mitosis", "parent_track_id"]
    pd.testing.assert_frame_equal(table_static[same], table_moving[same])
    assert (table_static.filter(like="shape_mode_") == 0).all().all()
    modes = table_moving.filter(like="shape_mode_").to_numpy()
    assert 0.05 < np.sqrt((modes**2).sum(axis=1) / 2).mean() < 0.3  # ~ membrane_fluctuation RMS

    one = table_moving[table_moving["track_id"] == table_moving["track_id"].iloc[0]]
    frames = [render_frame(one[one["t"] == t], moving) for t in one["t"].iloc[:2]]
    static_frames = [
        render_frame(table_static.loc[one.index][one["t"] == t], static) for t in one["t"].iloc[:2]
    ]
    # static cell: the phase only moves with the cell; moving cell: its cytoplasm changes shape
    # and texture, while the nucleus (and so the labels) keeps its own shape
    change_static = np.abs(np.diff([f.phase.sum(axis=0) for f in static_frames], axis=0)).sum()
    change_moving = np.abs(np.diff([f.phase.sum(axis=0) for f in frames], axis=0)).sum()
    assert change_moving > 2 * change_static
    assert [int((f.labels > 0).sum()) for f in frames] == pytest.approx(
        [int((f.labels > 0).sum()) for f in static_frames], rel=0.05
    )


def test_cell_shape_masks_and_a_cell_outside_the_image():
    config = SimulateConfig.model_validate({"shape_zyx": [10, 64, 64], "cells": {"coverslip_z_um": 0.0}})
    z_um = (np.arange(10, dtype=np.float32) * config.z_step_um)[:, None, None]
    cell = next(_one_cell(config, 2.0).itertuples(index=False))
    shape = cell_shape(cell, config, z_um)
    assert shape is not None
    assert shape.nucleus.shape == shape.body.shape == shape.cytoplasm_only.shape
    assert shape.nucleus.shape[0] == 10 and shape.nucleus.shape[1:] == shape.u.shape[1:]
    # the body holds the nucleus; the cytoplasm-only mask is the rest of it
    assert np.all(shape.body >= shape.nucleus)
    np.testing.assert_allclose(shape.cytoplasm_only, shape.body - shape.nucleus)
    assert shape.cytoplasm_radius_px == pytest.approx(2.0 * shape.nucleus_radius_px)
    frame = render_frame(_one_cell(config, 2.0), config)
    np.testing.assert_array_equal(frame.labels[shape.region] > 0, shape.nucleus >= 0.5)
    far = _one_cell(config, 2.0).assign(y=-500.0, x=-500.0)
    assert cell_shape(next(far.itertuples(index=False)), config, z_um) is None
    empty = render_frame(far, config)
    assert not empty.labels.any() and not empty.phase.any()


def test_simulate_outputs_are_the_rule_outputs():
    outputs = SimulateOutputs.from_rule(
        {"plate": "raw.zarr", "tracks": "t.parquet", "labels": "l.zarr", "phase": "p.zarr"}
    )
    assert outputs.plate == Path("raw.zarr") and outputs.phase == Path("p.zarr")
    with pytest.raises(ValueError, match="phase"):
        SimulateOutputs.from_rule({"plate": "raw.zarr", "tracks": "t.parquet", "labels": "l.zarr"})


def test_the_brightfield_forward_model_runs_on_one_torch_thread_whatever_the_jobs_threads(
    tiny_config: SimulateConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch's FFTs round differently with another thread count (a few voxels of a 256 px plate move
    by one count): the plate must be the same whatever ``threads`` the rule gives the job."""
    import torch

    from dynaclr.simulate import acquire

    seen: list[int] = []
    for name in ("calculate_transfer_function", "apply_transfer_function"):
        original = getattr(acquire.phase_thick_3d, name)

        def recording(*args, _original=original, **kwargs):
            seen.append(torch.get_num_threads())
            return _original(*args, **kwargs)

        monkeypatch.setattr(acquire.phase_thick_3d, name, recording)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        microscope = acquire.Microscope.build(tiny_config)
        microscope._modulation(np.zeros(tiny_config.shape_zyx, dtype=np.float32))
        assert torch.get_num_threads() == 2  # the caller's count is restored
    finally:
        torch.set_num_threads(previous)
    assert len(seen) >= 3 and set(seen) == {1}  # transfer function, calibration and the volume


def test_infection_phase_cue_densifies_the_perinuclear_cytoplasm_of_infected_cells_only():
    """``infection.phase_index_change``: 0 leaves every array as it was; > 0 raises the phase of an
    infected cell's cytoplasm next to its nucleus as the ER condenses, and nowhere else."""
    base = SimulateConfig.model_validate({"shape_zyx": [6, 96, 96], "n_frames": 12})
    cue = SimulateConfig.model_validate(
        {**base.model_dump(), "infection": {**base.infection.model_dump(), "phase_index_change": 0.8}}
    )
    cells = simulate_fov_dynamics(base, 2)  # B/1/0, the infected well
    assert cells.equals(simulate_fov_dynamics(cue, 2)), "the cue must not change the dynamics"
    condensed = cells[cells["er_condensation"] > 0.5]
    healthy = cells[(cells["er_condensation"] == 0) & (cells["t"] == cells["t"].max())]
    assert len(condensed) and len(healthy), "need infected and uninfected cells in the last frames"
    one = condensed.iloc[[0]]
    plain, changed = render_frame(one, base), render_frame(one, cue)
    np.testing.assert_array_equal(plain.er, changed.er)
    np.testing.assert_array_equal(plain.sensor, changed.sensor)
    np.testing.assert_array_equal(plain.labels, changed.labels)
    gain = changed.phase - plain.phase
    assert gain.min() >= 0 and gain.max() > 0.1 * plain.phase.max()
    inside_nucleus = plain.labels > 0
    share_in_nucleus = gain[inside_nucleus].sum() / gain.sum()
    assert share_in_nucleus < 0.25, f"the cue is in the cytoplasm, not the nucleus ({share_in_nucleus:.0%})"
    for _, cell in healthy.iterrows():
        frame = cells.loc[[cell.name]]
        np.testing.assert_array_equal(render_frame(frame, base).phase, render_frame(frame, cue).phase)
