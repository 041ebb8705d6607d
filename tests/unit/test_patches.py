"""Patch extraction and collection: shapes, border cells, normalisation statistics, streaming."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr
from iohub.ngff import open_ome_zarr
from plate_helpers import (
    plate_of_your_own,
    reads_outside_position,
    record_metadata_reads,
    run_workflow_script,
)
from pydantic import ValidationError

from dynaclr.config.patches import PatchSpec, required_initial_patch_size_px
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    make_provenance,
    read_table,
    read_zarr_provenance,
    write_table,
)
from dynaclr.io.plate import (
    PLANNED_ROOT_KEY,
    PlateGeometry,
    create_empty_plate,
    planned_root_attributes,
    read_fov_record,
    write_fov_record,
)
from dynaclr.patches import (
    CollectPatchesInputs,
    CollectPatchesOutputs,
    ExtractPatchesInputs,
    ExtractPatchesOutputs,
    collect as collect_module,
    collect_patches,
    extract_fov_patches,
    lineage_from_parents,
    open_patch_store,
    store as store_module,
)
from dynaclr.patches.collect import collected_attributes, destination_shards
from dynaclr.patches.extract import cut_patches
from dynaclr.patches.inputs import conform_tracks

TINY_SPEC = PatchSpec.model_validate(
    {
        "name": "tiny",
        "channels": [
            {"source": "phase", "channel": "Phase3D", "normalization": "zscore"},
            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
        ],
        "z_window_slices": 3,
        "patch_size_yx_px": 32,
        "patches_per_shard": 16,
    }
)


def _outputs(stem: Path) -> ExtractPatchesOutputs:
    """A per-FOV store, index and record named ``stem`` with suffixes .zarr, .parquet, .json."""
    return ExtractPatchesOutputs(
        zarr=stem.with_suffix(".zarr"), parquet=stem.with_suffix(".parquet"), record=stem.with_suffix(".json")
    )


def _collect(stems: list[Path], out: Path) -> None:
    """Collect the per-FOV stores named ``stems`` into ``out`` .zarr / .parquet."""
    collect_patches(
        CollectPatchesInputs(
            zarrs=[stem.with_suffix(".zarr") for stem in stems],
            parquets=[stem.with_suffix(".parquet") for stem in stems],
        ),
        CollectPatchesOutputs(zarr=out.with_suffix(".zarr"), parquet=out.with_suffix(".parquet")),
    )


def _extract(
    tiny_plate: dict[str, Path], out: Path, fov: str, spec: PatchSpec = TINY_SPEC, tracks: Path | None = None
) -> dict:
    inputs = ExtractPatchesInputs(
        plate_raw=tiny_plate["plate"], plate_phase=tiny_plate["phase"], tracks=tracks or tiny_plate["tracks"]
    )
    return extract_fov_patches(spec, inputs, _outputs(out / fov.replace("/", "_")), fov_name=fov)


def test_a_patch_job_reads_no_metadata_outside_its_position(
    tiny_plate: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One extract_patches job per FOV (10,000 on a large plate): it reads its own position's
    metadata of each source plate (axes, channels, sampling, and the position's copy of the plate's
    record and time interval), never another position's, a row's or well's, nor the plate's root
    ``zarr.json`` (here B/1/0, the plate's first position being A/1/0). Before, every job read each
    source plate's root (its record, ``time_interval_minutes``, the HCS check)."""
    read = record_metadata_reads(monkeypatch)
    _extract(tiny_plate, tmp_path, "B/1/0")
    assert any(path.parent == tiny_plate["plate"] / "B/1/0" for path in read), read  # the recorder records
    assert reads_outside_position(read, [tiny_plate["plate"], tiny_plate["phase"]], "B/1/0") == []


@pytest.fixture(scope="module")
def tiny_patches(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per-FOV and collected patch stores of the tiny plate."""
    out = tmp_path_factory.mktemp("tiny_patches")
    for fov in ("A/1/0", "B/1/0"):
        _extract(tiny_plate, out, fov)
    _collect([out / "A_1_0", out / "B_1_0"], out / "tiny")
    return {"dir": out, "zarr": out / "tiny.zarr", "parquet": out / "tiny.parquet"}


def test_extract_shapes_index_and_border_cells(tiny_plate, tiny_patches):
    tracks = pd.read_parquet(tiny_plate["tracks"])
    fov_tracks = tracks[tracks["fov_name"] == "A/1/0"]
    group = zarr.open_group(str(tiny_patches["dir"] / "A_1_0.zarr"), mode="r")
    patches = group["patches"]
    size = required_initial_patch_size_px(32)
    assert size == 60
    assert patches.shape == (len(fov_tracks), 2, 3, size, size)
    assert patches.chunks == (1, 2, 3, size, size)
    assert patches.shards == (16, 2, 3, size, size)
    index, provenance = read_table(tiny_patches["dir"] / "A_1_0.parquet", "patch_fov")
    assert provenance.kind == "patch_fov"
    assert index["row"].tolist() == list(range(len(fov_tracks)))
    assert index[["t", "track_id"]].equals(index[["t", "track_id"]].sort_values(["t", "track_id"]))
    assert set(index["well"]) == {"A/1"} and set(index["condition"]) == {"mock"}
    np.testing.assert_array_equal(index["time_minutes"], index["t"] * 30.0)  # the plate's 30 min frames
    # every tracked cell is kept, border cells included
    assert len(index) == len(fov_tracks)
    assert ((index["padded_fraction"] >= 0) & (index["padded_fraction"] < 1)).all()
    border = index[index["padded_fraction"] > 0]
    interior = index[index["padded_fraction"] == 0]
    assert len(border) > 0 and len(interior) > 0
    # a border cell's padding is exactly zero, where the image is not
    row = border.iloc[0]
    patch = np.asarray(patches[int(row["row"])], dtype=np.float32)  # (C, Z, S, S)
    top = int(np.floor(row["y"] + 0.5)) - size // 2
    left = int(np.floor(row["x"] + 0.5)) - size // 2
    outside = np.zeros((size, size), dtype=bool)
    ys, xs = np.arange(size) + top, np.arange(size) + left
    outside[(ys < 0) | (ys >= 96), :] = True
    outside[:, (xs < 0) | (xs >= 96)] = True
    assert np.isclose(outside.mean(), row["padded_fraction"])
    assert np.all(patch[..., outside] == 0)
    assert np.abs(patch[..., ~outside]).mean() > 0.1
    _, metrics = read_fov_record(tiny_patches["dir"] / "A_1_0.json", "patch_fov")
    assert metrics["n_patches"] == len(index) and metrics["n_border_patches"] == len(border)


def test_phase_patches_are_zscored_with_the_fov_statistics(tiny_plate, tiny_patches):
    group = zarr.open_group(str(tiny_patches["dir"] / "A_1_0.zarr"), mode="r")
    stats = group.attrs["normalization"]["A/1/0"]["phase:Phase3D"]
    with open_ome_zarr(tiny_plate["phase"], layout="hcs", mode="r") as plate:
        phase = np.asarray(plate["A/1/0"]["0"][:, 0, 1:4], dtype=np.float64)  # (T, 3, Y, X), centred 3 of 5
    assert stats["center"] == pytest.approx(phase.mean(), rel=1e-5)
    assert stats["scale"] == pytest.approx(phase.std(), rel=1e-5)
    # an interior patch equals the normalised crop of the source
    index = pd.read_parquet(tiny_patches["dir"] / "A_1_0.parquet")
    row = index[index["padded_fraction"] == 0].iloc[0]
    y, x, t = int(np.floor(row["y"] + 0.5)), int(np.floor(row["x"] + 0.5)), int(row["t"])
    expected = (phase[t, :, y - 30 : y + 30, x - 30 : x + 30] - stats["center"]) / stats["scale"]
    stored = np.asarray(group["patches"][int(row["row"])][0], dtype=np.float64)
    np.testing.assert_allclose(stored, expected, atol=2e-2, rtol=2e-3)  # float16 storage


def _synthetic_plate(root: Path) -> tuple[Path, Path, np.ndarray]:
    """A 1-FOV plate (T=4, Z=3, 40 x 40) whose ViralSensor frame 2 is blank, and a tracks table
    without lineage, well or condition columns (and without provenance)."""
    rng = np.random.default_rng(1)
    data = rng.integers(100, 1000, size=(4, 2, 3, 40, 40)).astype(np.uint16)
    data[2, 1] = 100  # an empty acquisition
    plate = root / "plate.zarr"
    create_empty_plate(
        plate,
        ["A/1/0"],
        ["Brightfield", "ViralSensor"],
        data.shape,
        np.uint16,
        PlateGeometry(time_interval_s=600.0, z_step_um=1.0, pixel_size_um=0.5),
        make_provenance("raw_plate", {"synthetic": True}),
    )
    with open_ome_zarr(plate, layout="hcs", mode="r+") as opened:
        opened["A/1/0"]["0"][:] = data
    rows = [(1, -1, t, 20.0, 20.0) for t in (0, 1)]
    rows += [(2, 1, t, 20.4, 15.0) for t in (2, 3)] + [(3, 1, t, 19.6, 25.0) for t in (2, 3)]
    rows += [(4, -1, t, 2.0, 3.0) for t in range(4)]
    tracks = pd.DataFrame(rows, columns=["track_id", "parent_track_id", "t", "y", "x"]).assign(
        fov_name="A/1/0"
    )
    tracks_path = root / "tracks.parquet"
    tracks.to_parquet(tracks_path)
    return plate, tracks_path, data


def test_external_inputs_lineage_empty_frames_and_exact_crops(tmp_path):
    plate, tracks_path, data = _synthetic_plate(tmp_path)
    spec = PatchSpec.model_validate(
        {
            "name": "synthetic",
            "channels": [
                {"source": "raw", "channel": "Brightfield", "normalization": "zscore"},
                {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
            ],
            "z_range": [1, 3],
            "patch_size_yx_px": 16,
            "storage_dtype": "float32",
        }
    )
    assert spec.initial_size_px == 32
    extract_fov_patches(
        spec,
        ExtractPatchesInputs(plate_raw=plate, tracks=tracks_path),
        _outputs(tmp_path / "p"),
        fov_name="A/1/0",
    )
    group = zarr.open_group(str(tmp_path / "p.zarr"), mode="r")
    sensor = group.attrs["normalization"]["A/1/0"]["raw:ViralSensor"]
    assert sensor["empty_frames"] == [2]
    kept = data[[0, 1, 3], 1, 1:3].astype(np.float64)
    median, p99 = np.percentile(kept, [50, 99])
    assert sensor["center"] == pytest.approx(median) and sensor["scale"] == pytest.approx(p99 - median)
    assert group.attrs["time_interval_minutes"] == pytest.approx(10.0)
    index = pd.read_parquet(tmp_path / "p.parquet")
    assert index.set_index("track_id")["lineage_id"].to_dict() == {1: 1, 2: 1, 3: 1, 4: 4}
    assert set(index["well"]) == {"A/1"} and index["condition"].isna().all()
    # exact crop of the centred cell (t=0) and the corner cell's padded fraction
    centre = index[(index["track_id"] == 1) & (index["t"] == 0)].iloc[0]
    patch = np.asarray(group["patches"][int(centre["row"])])
    expected = (data[0, 1, 1:3, 4:36, 4:36] - median) / (p99 - median)
    np.testing.assert_allclose(patch[1], expected, rtol=1e-5, atol=1e-5)
    corner = index[index["track_id"] == 4]
    assert corner["padded_fraction"].to_numpy() == pytest.approx(1 - 18 * 19 / 32**2)


def test_the_supplied_time_interval_counts_the_time_of_a_plate_stating_none(tmp_path):
    """A raw plate without a scale transform (iohub: 1 s) and without the plate attribute: the time
    interval the dataset's ``acquisition`` supplies counts the patches' time_minutes and the store's
    interval (tau_minutes is converted with it), and the provenance records it came from the config."""
    from plate_helpers import ome_attributes

    plate, tracks_path, _ = _synthetic_plate(tmp_path)
    with ome_attributes(plate / "A/1/0") as ome:
        ome["multiscales"][0]["datasets"][0]["coordinateTransformations"] = [
            {"type": "translation", "translation": [0.0] * 5}
        ]
    del zarr.open_group(str(plate), mode="r+").attrs["time_interval_minutes"]
    spec = PatchSpec.model_validate(
        {
            "name": "synthetic",
            "channels": [{"source": "raw", "channel": "ViralSensor", "normalization": "zscore"}],
            "z_window_slices": 1,
            "patch_size_yx_px": 16,
        }
    )
    supplied = {"time_interval_minutes": 7.0}
    inputs = ExtractPatchesInputs(plate_raw=plate, tracks=tracks_path)
    extract_fov_patches(spec, inputs, _outputs(tmp_path / "p"), fov_name="A/1/0", supplied=supplied)
    index = pd.read_parquet(tmp_path / "p.parquet")
    np.testing.assert_allclose(index["time_minutes"], index["t"] * 7.0)
    _collect([tmp_path / "p"], tmp_path / "all")
    assert open_patch_store(tmp_path / "all.zarr", tmp_path / "all.parquet").time_interval_minutes == 7.0
    assert read_zarr_provenance(tmp_path / "p.zarr", "patch_fov").config["supplied_sampling"] == supplied
    extract_fov_patches(spec, inputs, _outputs(tmp_path / "q"), fov_name="A/1/0")  # nothing supplied
    assert "supplied_sampling" not in read_zarr_provenance(tmp_path / "q.zarr", "patch_fov").config


def test_padded_fraction_is_the_share_of_the_patch_outside_the_image(tmp_path):
    """A cell on the image corner has 3/4 of an even-sized patch outside the image; a central
    cell none. Centroids round half up, so (-0.5, 0.4) is the corner pixel too."""
    plate, _, _ = _synthetic_plate(tmp_path)
    tracks = pd.DataFrame(
        {
            "fov_name": "A/1/0",
            "track_id": [1, 2, 3],
            "parent_track_id": -1,
            "t": 0,
            "y": [0.0, -0.5, 20.0],
            "x": [0.0, 0.4, 20.0],
        }
    )
    tracks.to_parquet(tmp_path / "corner.parquet")
    spec = PatchSpec.model_validate(
        {
            "name": "corner",
            "channels": [{"source": "raw", "channel": "Brightfield", "normalization": "zscore"}],
            "patch_size_yx_px": 16,
            "initial_patch_size_yx_px": 32,
            "storage_dtype": "float32",
        }
    )
    metrics = extract_fov_patches(
        spec,
        ExtractPatchesInputs(plate_raw=plate, tracks=tmp_path / "corner.parquet"),
        _outputs(tmp_path / "c"),
        fov_name="A/1/0",
    )
    index = pd.read_parquet(tmp_path / "c.parquet").set_index("track_id")
    assert index["padded_fraction"].to_dict() == {1: 0.75, 2: 0.75, 3: 0.0}
    assert metrics["n_border_patches"] == 2
    patches = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")["patches"]
    corner = np.asarray(patches[int(index.loc[1, "row"])])[0]  # (Z, 32, 32)
    assert np.all(corner[:, :16, :] == 0) and np.all(corner[:, :, :16] == 0)
    assert np.all(corner[:, 16:, 16:] != 0)  # the image's top-left 16 x 16 pixels, normalised


def test_per_time_point_normalisation(tmp_path):
    plate, tracks_path, data = _synthetic_plate(tmp_path)
    spec = PatchSpec.model_validate(
        {
            "name": "per_time",
            "channels": [{"source": "raw", "channel": "Brightfield", "normalization": "zscore"}],
            "patch_size_yx_px": 16,
            "normalize_per_time_point": True,
            "storage_dtype": "float32",
        }
    )
    extract_fov_patches(
        spec,
        ExtractPatchesInputs(plate_raw=plate, tracks=tracks_path),
        _outputs(tmp_path / "p"),
        fov_name="A/1/0",
    )
    group = zarr.open_group(str(tmp_path / "p.zarr"), mode="r")
    stats = group.attrs["normalization"]["A/1/0"]["raw:Brightfield"]
    frames = data[:, 0].astype(np.float64)  # (T, Z, Y, X)
    np.testing.assert_allclose(stats["center_per_time"], frames.mean(axis=(1, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(stats["scale_per_time"], frames.std(axis=(1, 2, 3)), rtol=1e-6)
    index = pd.read_parquet(tmp_path / "p.parquet")
    row = index[(index["track_id"] == 2) & (index["t"] == 3)].iloc[0]  # centre (20, 15): x from -1 to 31
    patch = np.asarray(group["patches"][int(row["row"])])[0]  # (Z, 32, 32)
    expected = (frames[3, :, 4:36, 0:31] - stats["center_per_time"][3]) / stats["scale_per_time"][3]
    np.testing.assert_allclose(patch[:, :, 1:], expected, rtol=1e-5, atol=1e-5)
    assert np.all(patch[:, :, 0] == 0)


def test_extraction_streams_whole_shards(tiny_plate, tmp_path, monkeypatch):
    flushed: list[int] = []
    original = store_module.ShardedRowWriter.flush

    def spy(self):
        flushed.append(self.filled)
        original(self)

    monkeypatch.setattr(store_module.ShardedRowWriter, "flush", spy)
    spec = TINY_SPEC.model_copy(update={"patches_per_shard": 8})
    metrics = _extract(tiny_plate, tmp_path, "B/1/0", spec)
    n = metrics["n_patches"]
    assert max(flushed) == 8  # memory holds one shard of patches, never the FOV's
    assert sum(flushed) == n and len([f for f in flushed if f]) == math.ceil(n / 8)


def test_collect_concatenates_fovs(tiny_plate, tiny_patches):
    store = open_patch_store(tiny_patches["zarr"], tiny_patches["parquet"])
    per_fov = [zarr.open_group(str(tiny_patches["dir"] / f"{n}.zarr"))["patches"] for n in ("A_1_0", "B_1_0")]
    assert store.array.shape[0] == sum(a.shape[0] for a in per_fov) == len(store.index)
    assert store.index["row"].tolist() == list(range(len(store.index)))
    assert (
        store.index["fov_name"].tolist() == ["A/1/0"] * per_fov[0].shape[0] + ["B/1/0"] * per_fov[1].shape[0]
    )
    np.testing.assert_array_equal(store.array[per_fov[0].shape[0] + 3], per_fov[1][3])
    assert set(store.attributes["normalization"]) == {"A/1/0", "B/1/0"}
    assert store.channel_names == ["phase:Phase3D", "raw:ViralSensor"]
    assert store.time_interval_minutes == 30.0 and store.spec_name == "tiny"
    assert (
        read_zarr_provenance(tiny_patches["zarr"], "patches").config_hash
        == store.index_provenance.config_hash
    )
    assert json.loads(json.dumps(store.attributes["patch_spec"])) == TINY_SPEC.model_dump(mode="json")


PYTHON_CODEC_PIPELINE = "zarr.core.codec_pipeline.BatchedCodecPipeline"


def _store_files(root: Path) -> dict[str, bytes]:
    """Every file of a store by relative path; the group's ``zarr.json`` without its creation time."""
    files = {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}
    group = json.loads(files.pop("zarr.json"))
    del group["attributes"]["dynaclr"]["created"]
    files["zarr.json"] = json.dumps(group, sort_keys=True).encode()
    return files


@pytest.mark.parametrize("threads", [1, 3])
def test_collect_copies_stored_chunks_into_the_files_a_decoded_copy_writes(
    tiny_plate, tiny_patches, tmp_path, monkeypatch, threads
):
    """Shards that straddle FOVs, an empty FOV and a partial last shard: the stored-chunk copy writes
    byte for byte the files of the decode-and-encode copy, and the same index.

    The decoded copy runs on zarr-python's own codec pipeline: iohub switches the process to the
    zarrs pipeline, which lays a shard's chunks out in the order its threads finish them (the same
    chunks and index entries, in another order on every run)."""
    stems = [tiny_patches["dir"] / "A_1_0", tiny_patches["dir"] / "B_1_0"]
    empty = tmp_path / "empty"
    collect_module.write_table(
        read_table(stems[1].with_suffix(".parquet"), "patch_fov")[0].iloc[:0],
        empty.with_suffix(".parquet"),
        read_table(stems[1].with_suffix(".parquet"), "patch_fov")[1],
    )
    source = zarr.open_group(str(stems[1].with_suffix(".zarr")))
    target = zarr.open_group(str(empty.with_suffix(".zarr")), mode="w", zarr_format=3)
    target.attrs.update({**dict(source.attrs), "normalization": {"C/1/0": {}}})
    store_module.create_patch_array(target, 0, source["patches"].shape[1:], str(source["patches"].dtype), 16)
    ordered = [stems[0], empty, stems[1]]
    inputs = CollectPatchesInputs(
        zarrs=[stem.with_suffix(".zarr") for stem in ordered],
        parquets=[stem.with_suffix(".parquet") for stem in ordered],
    )
    copied = CollectPatchesOutputs(zarr=tmp_path / "copied.zarr", parquet=tmp_path / "copied.parquet")
    collect_patches(inputs, copied, threads=threads)
    with monkeypatch.context() as patch, zarr.config.set({"codec_pipeline.path": PYTHON_CODEC_PIPELINE}):
        patch.setattr(collect_module, "can_copy_encoded", lambda source, destination: False)
        patch.setattr(collect_module, "_copy_encoded", None)  # the decoded path must not need it
        decoded = CollectPatchesOutputs(zarr=tmp_path / "decoded.zarr", parquet=tmp_path / "decoded.parquet")
        collect_patches(inputs, decoded)
    n_rows = [zarr.open_group(str(z))["patches"].shape[0] for z in inputs.zarrs]
    assert n_rows[0] % 16 and n_rows[1] == 0 and sum(n_rows) % 16  # shards straddle, the last is partial
    assert _store_files(copied.zarr) == _store_files(decoded.zarr)
    pd.testing.assert_frame_equal(
        read_table(copied.parquet, "patch_index")[0], read_table(decoded.parquet, "patch_index")[0]
    )
    collected = open_patch_store(copied.zarr, copied.parquet)
    np.testing.assert_array_equal(
        collected.array[n_rows[0] :], zarr.open_group(str(inputs.zarrs[2]))["patches"][:]
    )


def test_destination_shards_cut_the_inputs_rows_end_to_end():
    assert list(destination_shards([3, 0, 5, 1], 4)) == [
        [(0, 0, 3), (2, 0, 1)],
        [(2, 1, 5)],
        [(3, 0, 1)],
    ]
    assert list(destination_shards([0, 0], 4)) == []
    assert list(destination_shards([8], 4)) == [[(0, 0, 4)], [(0, 4, 8)]]


def test_collect_refuses_stores_of_different_specs(tiny_plate, tiny_patches, tmp_path):
    other = TINY_SPEC.model_copy(update={"z_window_slices": 1})
    _extract(tiny_plate, tmp_path, "B/1/0", other)
    with pytest.raises(ArtifactError, match="patch spec hash"):
        _collect([tiny_patches["dir"] / "A_1_0", tmp_path / "B_1_0"], tmp_path / "all")


def test_extraction_errors_name_the_problem(tiny_plate, tmp_path):
    missing_channel = PatchSpec.model_validate(
        {
            **TINY_SPEC.model_dump(),
            "channels": [{"source": "raw", "channel": "Actin", "normalization": "zscore"}],
        }
    )
    with pytest.raises(ArtifactError, match=r"no channel 'Actin'.*ViralSensor"):
        _extract(tiny_plate, tmp_path, "A/1/0", missing_channel)
    with pytest.raises(ValueError, match=r"only sources \['raw'\].*plate_phase"):
        extract_fov_patches(
            TINY_SPEC,
            ExtractPatchesInputs(plate_raw=tiny_plate["plate"], tracks=tiny_plate["tracks"]),
            _outputs(tmp_path / "x"),
            fov_name="A/1/0",
        )
    with pytest.raises(ArtifactError, match=r"no FOV 'C/9/0'; the plate's FOVs are \["):
        _extract(tiny_plate, tmp_path, "C/9/0")
    too_deep = TINY_SPEC.model_copy(update={"z_window_slices": 9})
    with pytest.raises(ValueError, match="z_window_slices=9 but the stack has 5"):
        _extract(tiny_plate, tmp_path, "A/1/0", too_deep)
    assert not (tmp_path / "A_1_0.zarr").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("y", np.inf, r"\(inf, "),
        ("y", 960.0, r"\(960, "),
        ("x", -0.51, r", -0\.51\)"),
        ("x", 96.0, r", 96\)"),
    ],
    ids=["infinite", "below", "left-edge", "right-edge"],
)
def test_a_centroid_outside_the_image_is_refused_not_cut_as_zero_padding(
    tiny_plate, tmp_path, column, value, shown
):
    """A tracks table whose centroid lies outside the FOV's image or is infinite (a table of another
    plate, a binned or larger image, micrometres): before, its patch was cut as all zero padding
    (padded_fraction 1.0) and stored as a cell with exit 0, under the mostly-padded warning's 25 %."""
    tracks = pd.read_parquet(tiny_plate["tracks"])
    first = tracks.index[tracks["fov_name"] == "A/1/0"][0]
    tracks.loc[first, column] = value
    edited = tmp_path / "tracks.parquet"
    tracks.to_parquet(edited)
    with pytest.raises(
        ArtifactError,
        match=r"tracks\.parquet: FOV A/1/0 has 1 of \d+ centroids outside its image: expected finite y in "
        r"\[-0\.5, 96\) and x in \[-0\.5, 96\) \(pixels of the 96 x 96 image of .*found track \d+ t \d+ "
        rf"\(y, x\) = .*{shown}",
    ):
        _extract(tiny_plate, tmp_path, "A/1/0", tracks=edited)
    assert not (tmp_path / "A_1_0.zarr").exists()
    _extract(tiny_plate, tmp_path, "B/1/0", tracks=edited)  # the other FOV's cells are all inside


def test_a_patch_window_larger_than_the_image_is_refused(tiny_plate, tmp_path):
    explicit = TINY_SPEC.model_copy(update={"initial_patch_size_yx_px": 200})
    with pytest.raises(
        ArtifactError,
        match=r"patch spec 'tiny': the patch window initial_patch_size_yx_px = 200 px is larger than the "
        r"image of FOV A/1/0 in .*phase\.zarr, \(Y, X\) = \(96, 96\) px.*at most 96 px",
    ):
        _extract(tiny_plate, tmp_path, "A/1/0", explicit)
    derived = TINY_SPEC.model_copy(update={"patch_size_yx_px": 72})  # initial size 132 px
    with pytest.raises(
        ArtifactError, match=r"null: 132 px, derived from patch_size_yx_px = 72 px.*lower patch_size"
    ):
        _extract(tiny_plate, tmp_path, "A/1/0", derived)
    assert not (tmp_path / "A_1_0.zarr").exists()


def test_mostly_padded_patches_are_counted_and_warned_about(tiny_plate, tiny_patches, tmp_path, caplog):
    index = pd.read_parquet(tiny_patches["dir"] / "A_1_0.parquet")
    _, metrics = read_fov_record(tiny_patches["dir"] / "A_1_0.json", "patch_fov")
    mostly = int((index["padded_fraction"] > 0.5).sum())
    assert metrics["n_mostly_padded_patches"] == mostly
    assert metrics["mostly_padded_share"] == pytest.approx(mostly / len(index))
    assert metrics["dropped_frames"] == [] and metrics["missing_voxels"] == 0
    large = TINY_SPEC.model_copy(update={"initial_patch_size_yx_px": 96})  # the whole image
    with caplog.at_level("WARNING", logger="dynaclr.patches.extract"):
        wide = _extract(tiny_plate, tmp_path, "A/1/0", large)
    assert wide["mostly_padded_share"] > 0.25 and wide["n_mostly_padded_patches"] > mostly
    assert (
        "are more than 50% padding; the patch window is large for the image (Y, X) = (96, 96)" in caplog.text
    )


def test_lineage_from_parents_follows_chains():
    tracks = pd.DataFrame(
        {
            "fov_name": ["A/1/0"] * 5 + ["B/1/0"],
            "track_id": [1, 2, 3, 4, 5, 2],
            "parent_track_id": [-1, 1, 2, -1, 99, -1],
        }
    )
    assert lineage_from_parents(tracks).tolist() == [1, 1, 1, 4, 5, 2]


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"patch_size_yx_px": 30}, "multiple of 4"),
        ({"initial_patch_size_yx_px": 40}, "too small"),
        ({"z_range": [0, 2], "z_window_slices": 2}, "not both"),
        ({"z_range": [3, 3], "z_window_slices": None}, "start < stop"),
        ({"name": "bad name"}, "pattern"),
        ({"channels": [{"source": "raw", "channel": "A", "normalization": "zscore"}] * 2}, "repeated"),
        ({"channels": [{"source": "lab", "channel": "A", "normalization": "zscore"}]}, "raw"),
    ],
)
def test_patch_spec_validation(update, message):
    with pytest.raises(ValidationError, match=message):
        PatchSpec.model_validate({**TINY_SPEC.model_dump(), **update})


def test_fov_without_tracks_gets_an_empty_valid_store(tiny_plate, tmp_path):
    """A FOV with no cells (no rows in the tracks table) yields an empty store; collect goes on."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(tiny_plate["tracks"])
    only_a = table.filter(pc.equal(table["fov_name"], "A/1/0"))
    tracks = tmp_path / "tracks.parquet"
    pq.write_table(only_a, tracks)  # the schema metadata keeps the provenance
    stems = {fov: tmp_path / fov.replace("/", "_") for fov in ("A/1/0", "B/1/0")}
    n_patches = {fov: _extract(tiny_plate, tmp_path, fov, tracks=tracks)["n_patches"] for fov in stems}
    assert n_patches == {"A/1/0": only_a.num_rows, "B/1/0": 0}
    empty, _ = read_table(stems["B/1/0"].with_suffix(".parquet"), "patch_fov")
    assert len(empty) == 0
    _collect(list(stems.values()), tmp_path / "all")
    store = open_patch_store(tmp_path / "all.zarr", tmp_path / "all.parquet")
    assert store.array.shape[0] == len(store.index) == only_a.num_rows
    assert set(store.index["fov_name"]) == {"A/1/0"}


def test_cut_patches_crops_every_cell_in_row_order_reading_each_frame_once():
    """The compute step alone: frames from memory, patches collected in a list."""
    frames = np.arange(3 * 2 * 1 * 10 * 12, dtype=np.float32).reshape(3, 2, 1, 10, 12)  # (T, C, Z, Y, X)
    cells = pd.DataFrame({"t": [0, 0, 2], "track_id": [1, 2, 1], "y": [5.0, 0.4, 9.5], "x": [6.0, 0.0, 12.0]})
    read: list[int] = []
    patches: list[np.ndarray] = []

    def frame_at(t: int) -> np.ndarray:
        read.append(t)
        return frames[t]

    padded = cut_patches(frame_at, cells, (2, 1, 4, 4), lambda patch: patches.append(patch.copy()))
    assert read == [0, 2]  # frame 1 has no cell
    np.testing.assert_array_equal(patches[0], frames[0][..., 3:7, 4:8])  # centred on pixel (5, 6)
    assert padded.tolist() == [0.0, 0.75, 0.75]  # (0, 0) and (10, 12): a quarter of the patch inside
    np.testing.assert_array_equal(patches[1][..., 2:, 2:], frames[0][..., :2, :2])
    assert np.all(patches[1][..., :2, :] == 0) and np.all(patches[1][..., :, :2] == 0)
    np.testing.assert_array_equal(patches[2][..., :2, :2], frames[2][..., 8:, 10:])


def test_collected_attributes_merge_fovs_and_refuse_mismatches():
    def attributes(fov: str, channels: list[str], interval: float) -> dict:
        shared = {"patch_spec": {"name": "s"}, "initial_patch_size_yx_px": 60, "patch_size_yx_px": 32}
        return {
            **shared,
            "channel_names": channels,
            "z_slices": [1, 4],
            "time_interval_minutes": interval,
            "fov_name": fov,
            "normalization": {fov: {"raw:A": {"center": 1.0}}},
        }

    first, second = attributes("A/1/0", ["raw:A"], 30.0), attributes("B/1/0", ["raw:A"], 30.0)
    merged = collected_attributes([first, second], ["a.zarr", "b.zarr"])
    assert set(merged["normalization"]) == {"A/1/0", "B/1/0"} and "fov_name" not in merged
    assert merged["channel_names"] == ["raw:A"] and merged["time_interval_minutes"] == 30.0
    with pytest.raises(
        ArtifactError, match=r"b.zarr: attributes \['channel_names'\] differ from those of a.zarr"
    ):
        collected_attributes([first, attributes("B/1/0", ["raw:B"], 30.0)], ["a.zarr", "b.zarr"])
    with pytest.raises(ArtifactError, match=r"b.zarr: FOV\(s\) \['A/1/0'\] appear in more than one"):
        collected_attributes([first, first], ["a.zarr", "b.zarr"])


def test_conform_tracks_fills_defaults_and_names_the_problem():
    table = pd.DataFrame(
        {
            "fov_name": ["A/1/0"] * 3,
            "track_id": [1, 2, 3],
            "parent_track_id": [-1, 1, 1],
            "t": [0.0, 1.0, 1.0],
            "y": [1, 2, 3],
            "x": [4, 5, 6],
        }
    )
    tracks = conform_tracks(table, where="mine.parquet")
    assert list(tracks.columns) == [
        "fov_name",
        "well",
        "condition",
        "track_id",
        "parent_track_id",
        "lineage_id",
        "t",
        "y",
        "x",
    ]
    assert tracks["lineage_id"].tolist() == [1, 1, 1] and set(tracks["well"]) == {"A/1"}
    assert (
        tracks["condition"].isna().all() and tracks["t"].dtype == np.int64 and tracks["y"].dtype == np.float64
    )
    with pytest.raises(ArtifactError, match=r"mine.parquet: tracks table lacks required columns \['x'\]"):
        conform_tracks(table.drop(columns="x"), where="mine.parquet")
    with pytest.raises(ArtifactError, match=r"mine.parquet: 1 rows repeat a .*track 1, t 0"):
        conform_tracks(pd.concat([table, table.iloc[:1]]), where="mine.parquet")


def test_stage_files_carry_the_rule_names(tmp_path):
    inputs = ExtractPatchesInputs.from_rule(
        {"plate_phase": "phase.zarr", "plate_raw": "raw.zarr", "records": ["r.json"], "tracks": "t.parquet"}
    )
    assert inputs.source_plates() == {"raw": Path("raw.zarr"), "phase": Path("phase.zarr")}
    assert inputs.records == (Path("r.json"),)
    with pytest.raises(ValueError, match="plate_lab"):
        ExtractPatchesInputs.from_rule({"plate_lab": "lab.zarr", "tracks": "t.parquet"})
    with pytest.raises(ValueError, match="record"):
        ExtractPatchesOutputs.from_rule({"zarr": "p.zarr", "parquet": "p.parquet"})


def test_tracks_table_of_another_kind_is_refused(tiny_plate, tmp_path):
    """A table of the user's own is accepted; one with a dynaclr record of another kind is not."""
    tracks = pd.read_parquet(tiny_plate["tracks"])
    wrong = tmp_path / "wrong.parquet"
    write_table(tracks, wrong, make_provenance("patch_index", {}))
    with pytest.raises(ArtifactError, match=r"must be of kind tracks or ground_truth_tracks.*'patch_index'"):
        _extract(tiny_plate, tmp_path, "A/1/0", tracks=wrong)
    assert not (tmp_path / "A_1_0.zarr").exists()


def test_a_fovs_own_tracks_csv_gives_the_same_patches_as_the_dataset_table(
    tiny_plate, tiny_patches, tmp_path
):
    """extract_patches reads its FOV's tracks (track_fov's CSV and record), not the dataset's table:
    the same cells, lineages and pixels; a record of another FOV or CSV is refused."""
    truth = pd.read_parquet(tiny_plate["tracks"])
    fov = "B/1/0"
    rows = truth[truth["fov_name"] == fov]
    csv = tmp_path / "tracks_B_1_0.csv"
    rows[["track_id", "t", "y", "x", "parent_track_id"]].assign(id=0, parent_id=-1).to_csv(csv, index=False)
    record = tmp_path / "B_1_0.json"
    write_fov_record(record, make_provenance("tracks_fov", {}), {"fov_name": fov, "tracks_csv": str(csv)})
    out = tmp_path / "own"
    inputs = ExtractPatchesInputs(
        plate_raw=tiny_plate["plate"], plate_phase=tiny_plate["phase"], tracks=csv, tracks_record=record
    )
    extract_fov_patches(TINY_SPEC, inputs, _outputs(out), fov_name=fov)
    own = pd.read_parquet(out.with_suffix(".parquet"))
    table = pd.read_parquet(tiny_patches["dir"] / "B_1_0.parquet")
    columns = ["fov_name", "track_id", "parent_track_id", "lineage_id", "t", "y", "x"]
    pd.testing.assert_frame_equal(own[columns], table[columns])
    np.testing.assert_array_equal(
        np.asarray(zarr.open_group(str(out.with_suffix(".zarr")), mode="r")["patches"]),
        np.asarray(zarr.open_group(str(tiny_patches["dir"] / "B_1_0.zarr"), mode="r")["patches"]),
    )
    with pytest.raises(ArtifactError, match=r"records FOV 'B/1/0'.*expected FOV 'A/1/0'"):
        extract_fov_patches(TINY_SPEC, inputs, _outputs(tmp_path / "other"), fov_name="A/1/0")


def _one_channel_plate(root: Path, data: np.ndarray, kind: str = "raw_plate") -> tuple[Path, Path]:
    """A 1-FOV plate (its provenance of ``kind``) whose only channel ``ViralSensor`` is ``data``
    ``(T, Z, Y, X)`` (its dtype), and a tracks table with one cell at the centre of every frame."""
    root.mkdir(parents=True, exist_ok=True)
    plate = root / "plate.zarr"
    shape = (data.shape[0], 1, *data.shape[1:])
    create_empty_plate(
        plate,
        ["A/1/0"],
        ["ViralSensor"],
        shape,
        data.dtype,
        PlateGeometry(time_interval_s=600.0, z_step_um=1.0, pixel_size_um=0.5),
        make_provenance(kind, {"synthetic": True}),
    )
    with open_ome_zarr(plate, layout="hcs", mode="r+") as opened:
        opened["A/1/0"]["0"][:] = data.reshape(shape)
    rows = [(1, -1, t, data.shape[2] / 2, data.shape[3] / 2) for t in range(data.shape[0])]
    tracks = pd.DataFrame(rows, columns=["track_id", "parent_track_id", "t", "y", "x"]).assign(
        fov_name="A/1/0"
    )
    tracks.to_parquet(root / "tracks.parquet")
    return plate, root / "tracks.parquet"


def _sensor_spec(normalization: str, storage_dtype: str = "float16") -> PatchSpec:
    return PatchSpec.model_validate(
        {
            "name": "sensor",
            "channels": [{"source": "raw", "channel": "ViralSensor", "normalization": normalization}],
            "patch_size_yx_px": 16,
            "storage_dtype": storage_dtype,
        }
    )


@pytest.mark.parametrize("normalization", ["zscore", "median_p99"])
def test_a_saturated_fov_is_stored_as_zeros_not_float16_infinities(tmp_path, normalization):
    """A channel at the camera's maximum in every voxel (no signal) normalises to 0: its raw level,
    65535, lies beyond float16's range and would be stored as inf."""
    plate, tracks = _one_channel_plate(tmp_path, np.full((3, 2, 40, 40), 65535, dtype=np.uint16))
    metrics = extract_fov_patches(
        _sensor_spec(normalization),
        ExtractPatchesInputs(plate_raw=plate, tracks=tracks),
        _outputs(tmp_path / "p"),
        fov_name="A/1/0",
    )
    patches = np.asarray(zarr.open_group(str(tmp_path / "p.zarr"), mode="r")["patches"][:])
    assert metrics["empty_frames"] == {"raw:ViralSensor": [0, 1, 2]}
    assert np.all(patches == 0.0)


def test_hot_pixels_beyond_float16_are_clipped_counted_and_reported(tmp_path, caplog):
    """Background-subtracted float data with a tiny spread and a hot pixel per frame: median_p99's
    scale is small, so the hot pixel normalises beyond float16's range. It is stored as the largest
    float16 (not inf), counted in the record and named in a warning; float32 storage keeps it."""
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 0.01, size=(3, 2, 40, 40)).astype(np.float32)
    data[:, 1, 20, 20] = 1e4  # hot pixel at the cell's centre, every frame
    plate, tracks = _one_channel_plate(tmp_path, data)
    inputs = ExtractPatchesInputs(plate_raw=plate, tracks=tracks)
    with caplog.at_level(logging.WARNING, logger="dynaclr.patches.extract"):
        metrics = extract_fov_patches(
            _sensor_spec("median_p99"), inputs, _outputs(tmp_path / "h"), fov_name="A/1/0"
        )
    patches = np.asarray(zarr.open_group(str(tmp_path / "h.zarr"), mode="r")["patches"][:])
    limit = float(np.finfo(np.float16).max)
    assert np.isfinite(patches).all() and patches.max() == limit
    assert metrics["clipped_voxels_per_channel"] == {"raw:ViralSensor": 3}
    assert "channel 'raw:ViralSensor': 3 normalised voxel(s) at frame(s) [0, 1, 2]" in caplog.text
    metrics = extract_fov_patches(
        _sensor_spec("median_p99", "float32"), inputs, _outputs(tmp_path / "f"), fov_name="A/1/0"
    )
    kept = np.asarray(zarr.open_group(str(tmp_path / "f.zarr"), mode="r")["patches"][:])
    assert metrics["clipped_voxels_per_channel"] == {"raw:ViralSensor": 0} and kept.max() > limit


def test_a_named_channel_reads_the_plates_channel_and_stores_its_name(tmp_path):
    """A spec channel reading the plate's 'ViralSensor' under the name 'RFP' (another plate's name for
    the same sensor): the pixels are those of the plate's channel, the store (per FOV and collected)
    knows the channel only by its name, and a spec without names records what it always did."""
    rng = np.random.default_rng(1)
    data = rng.normal(100.0, 5.0, size=(3, 2, 40, 40)).astype(np.float32)
    plate, tracks = _one_channel_plate(tmp_path, data)
    inputs = ExtractPatchesInputs(plate_raw=plate, tracks=tracks)
    plain = _sensor_spec("median_p99")
    named = PatchSpec.model_validate(
        plain.model_dump() | {"channels": [plain.channels[0].model_dump() | {"name": "RFP"}]}
    )
    assert "name" not in plain.model_dump()["channels"][0]  # an unnamed spec dumps (and hashes) as before
    extract_fov_patches(plain, inputs, _outputs(tmp_path / "plain"), fov_name="A/1/0")
    metrics = extract_fov_patches(named, inputs, _outputs(tmp_path / "named"), fov_name="A/1/0")
    _collect([tmp_path / "named"], tmp_path / "collected")
    store = open_patch_store(tmp_path / "collected.zarr", tmp_path / "collected.parquet")
    assert store.channel_names == ["raw:RFP"]
    assert list(store.attributes["normalization"]["A/1/0"]) == ["raw:RFP"]
    assert store.attributes["patch_spec"]["channels"][0] == {
        "source": "raw",
        "channel": "ViralSensor",
        "normalization": "median_p99",
        "name": "RFP",
    }
    assert metrics["clipped_voxels_per_channel"] == {"raw:RFP": 0}
    read = zarr.open_group(str(tmp_path / "plain.zarr"), mode="r")
    assert read.attrs["channel_names"] == ["raw:ViralSensor"]
    assert "name" not in read.attrs["patch_spec"]["channels"][0]
    np.testing.assert_array_equal(np.asarray(store.array[:]), np.asarray(read["patches"][:]))


def test_patch_channel_names_are_unique_and_carry_no_colon():
    channels = [
        {"source": "raw", "channel": "mCherry", "normalization": "median_p99", "name": "Sensor"},
        {"source": "raw", "channel": "Sensor", "normalization": "median_p99"},
    ]
    with pytest.raises(ValidationError, match=r"patch channel name .* repeated: \['raw:Sensor'\]"):
        PatchSpec.model_validate({"name": "s", "channels": channels})
    channels[1]["name"] = "raw:RFP"
    with pytest.raises(ValidationError, match=r"channels\.1\.name"):
        PatchSpec.model_validate({"name": "s", "channels": channels})
    channels[1]["name"] = "Other"
    assert PatchSpec.model_validate({"name": "s", "channels": channels}).channel_names() == [
        "raw:Sensor",
        "raw:Other",
    ]


def test_a_virtual_stain_channel_is_cut_from_the_virtual_stain_plate_as_a_raw_one_from_the_raw_plate(
    tmp_path,
):
    """patch spec channels with source 'virtual_stain': read from the virtual-staining plate (kind
    virtual_stain_plate; another kind is refused), cut and normalised as a raw channel of the same
    pixels is; the normalisation is recorded under 'virtual_stain:<channel>'."""
    rng = np.random.default_rng(3)
    data = rng.integers(100, 1000, size=(3, 2, 40, 40)).astype(np.uint16)
    raw_plate, tracks = _one_channel_plate(tmp_path / "raw", data)
    stained, _ = _one_channel_plate(tmp_path / "virtual_stain", data, kind="virtual_stain_plate")
    spec = {"name": "sensor", "patch_size_yx_px": 16, "storage_dtype": "float32"}
    channel = {"channel": "ViralSensor", "normalization": "median_p99"}
    patches = {}
    for source, inputs in (
        ("raw", ExtractPatchesInputs(plate_raw=raw_plate, tracks=tracks)),
        ("virtual_stain", ExtractPatchesInputs(plate_virtual_stain=stained, tracks=tracks)),
    ):
        one = PatchSpec.model_validate({**spec, "channels": [{"source": source, **channel}]})
        metrics = extract_fov_patches(one, inputs, _outputs(tmp_path / source), fov_name="A/1/0")
        assert metrics["empty_frames"] == {f"{source}:ViralSensor": []}
        patches[source] = np.asarray(
            zarr.open_group(str(tmp_path / f"{source}.zarr"), mode="r")["patches"][:]
        )
    assert patches["virtual_stain"].shape == (3, 1, 2, 32, 32) and np.isfinite(patches["virtual_stain"]).all()
    np.testing.assert_array_equal(patches["virtual_stain"], patches["raw"])
    wrong = PatchSpec.model_validate({**spec, "channels": [{"source": "virtual_stain", **channel}]})
    with pytest.raises(ArtifactError, match="virtual_stain_plate"):
        extract_fov_patches(
            wrong,
            ExtractPatchesInputs(plate_virtual_stain=raw_plate, tracks=tracks),
            _outputs(tmp_path / "wrong"),
            fov_name="A/1/0",
        )


def _sensor_movie(rng: np.random.Generator, n_frames: int = 4) -> np.ndarray:
    """``(T, 2, 48, 48)`` uint16 counts: background 500 ± 50, a cell 2000 brighter at the centre."""
    data = rng.normal(500.0, 50.0, size=(n_frames, 2, 48, 48))
    data[:, :, 20:28, 20:28] += 2000.0
    return data.clip(0, 65535).astype(np.uint16)


def _extract_sensor(root: Path, data: np.ndarray, normalization: str, per_time_point: bool) -> dict:
    """Patches (float32, in ``root``/p.*) of the 1-channel plate ``data`` (:func:`_one_channel_plate`)
    normalised by ``normalization`` per FOV or per time point; the FOV's record."""
    plate, tracks = _one_channel_plate(root, data)
    spec = _sensor_spec(normalization, "float32").model_copy(
        update={"normalize_per_time_point": per_time_point}
    )
    return extract_fov_patches(
        spec, ExtractPatchesInputs(plate_raw=plate, tracks=tracks), _outputs(root / "p"), fov_name="A/1/0"
    )


@pytest.mark.parametrize("per_time_point", [False, True])
@pytest.mark.parametrize("normalization", ["zscore", "median_p99"])
def test_an_all_zero_frame_is_0_in_the_patches_and_warned_about(
    tmp_path, caplog, normalization, per_time_point
):
    """A dropped acquisition (frame 1 all 0) of a sensor with signal at the other frames: its cells'
    patches hold 0 there (the FOV's centre, a missing voxel's value), not the FOV's normalisation of
    0 counts (a uniform -0.25 with median_p99, -1.7 with zscore: a dark cell no frame shows), and a
    WARNING names the channel, the frame and the cell observations; the record counts them."""
    data = _sensor_movie(np.random.default_rng(0))
    data[1] = 0
    with caplog.at_level(logging.WARNING, logger="dynaclr.patches.extract"):
        metrics = _extract_sensor(tmp_path, data, normalization, per_time_point)
    patches = np.asarray(
        zarr.open_group(str(tmp_path / "p.zarr"), mode="r")["patches"][:]
    )  # one cell per frame
    assert np.all(patches[1] == 0.0)
    assert all(np.abs(patches[t]).max() > 0.5 for t in (0, 2, 3))
    assert metrics["empty_frames"] == {"raw:ViralSensor": [1]}
    assert metrics["n_cells_at_constant_frames"] == {"raw:ViralSensor": 1}
    assert "channel 'raw:ViralSensor': constant at frame(s) [1]" in caplog.text
    assert "the 1 cell observation(s) there" in caplog.text


@pytest.mark.parametrize("normalization", ["zscore", "median_p99"])
def test_a_constant_frame_at_the_background_level_is_data_not_an_empty_acquisition(
    tmp_path, caplog, normalization
):
    """Background-subtracted data clipped at 0: no cell is lit before frame 2, so frames 0 and 1 are
    all 0, the background's level. They are normalised like the others (the background at one value
    in every frame, not 0 there and -0.167 elsewhere under zscore), with no WARNING, no count and no
    QC reason; the record still lists them as constant, with their level."""
    from dynaclr.qc.table import qc_row

    data = np.zeros((4, 1, 48, 48), np.uint8)
    data[2:, :, 20:28, 20:28] = np.random.default_rng(0).integers(150, 250, size=(2, 1, 8, 8))
    plate, tracks = _one_channel_plate(tmp_path, data)
    with caplog.at_level(logging.WARNING, logger="dynaclr.patches.extract"):
        metrics = extract_fov_patches(
            _sensor_spec(normalization, "float32"),
            ExtractPatchesInputs(plate_raw=plate, tracks=tracks),
            _outputs(tmp_path / "p"),
            fov_name="A/1/0",
        )
    patches = np.asarray(zarr.open_group(str(tmp_path / "p.zarr"), mode="r")["patches"][:])
    corners = {float(patches[t, 0, 0, 0, 0]) for t in range(4)}
    assert len(corners) == 1 and (normalization == "median_p99" or corners != {0.0})
    assert metrics["empty_frames"] == {"raw:ViralSensor": [0, 1]}
    assert metrics["off_background_frames"] == {"raw:ViralSensor": []}
    assert metrics["n_cells_at_constant_frames"] == {"raw:ViralSensor": 0}
    assert "constant at frame" not in caplog.text
    assert qc_row(ArtifactKind.PATCH_FOV, tmp_path / "p.json", metrics, "patches")["status"] == "ok"


def test_a_0_255_mask_channel_is_not_counted_saturated(tmp_path, caplog):
    """A uint8 infected-cell mask (0/255; frame 2 without an object, all 0): 255 is its foreground,
    not a camera's saturation, so no voxel is counted saturated, nothing is warned about and the QC
    row is ok; the empty mask frame is at the background's level and is not an empty acquisition."""
    from dynaclr.qc.table import qc_row

    data = np.zeros((4, 1, 48, 48), np.uint8)
    data[:, :, 20:28, 20:28] = 255
    data[2] = 0
    plate, tracks = _one_channel_plate(tmp_path, data)
    with caplog.at_level(logging.WARNING, logger="dynaclr.patches.extract"):
        metrics = extract_fov_patches(
            _sensor_spec("zscore", "float32"),
            ExtractPatchesInputs(plate_raw=plate, tracks=tracks),
            _outputs(tmp_path / "p"),
            fov_name="A/1/0",
        )
    assert metrics["saturated_voxels_per_channel"] == {"raw:ViralSensor": 0}
    assert metrics["n_cells_at_constant_frames"] == {"raw:ViralSensor": 0}
    assert "saturated" not in caplog.text and "constant at frame" not in caplog.text
    assert qc_row(ArtifactKind.PATCH_FOV, tmp_path / "p.json", metrics, "patches")["status"] == "ok"


@pytest.mark.parametrize("per_time_point", [False, True])
def test_a_channel_mostly_saturated_is_scaled_not_left_in_raw_counts(tmp_path, caplog, per_time_point):
    """60 % of the sensor's voxels at 65535: median_p99's median and 99th percentile are both the
    saturation level, so its scale is 0; the fallback scale of 1 left the channel in raw counts
    (patches down to -65000 that a network reads as data). Now the scale is the standard deviation,
    the patches stay within a few units, and WARNINGs say the channel is saturated and how the scale
    was taken; the record gives the saturated share."""
    data = _sensor_movie(np.random.default_rng(0), n_frames=3)
    data[:, :, :, :29] = 65535
    plate, tracks = _one_channel_plate(tmp_path, data)
    spec = _sensor_spec("median_p99", "float32").model_copy(
        update={"normalize_per_time_point": per_time_point}
    )
    with caplog.at_level(logging.WARNING):
        metrics = extract_fov_patches(
            spec,
            ExtractPatchesInputs(plate_raw=plate, tracks=tracks),
            _outputs(tmp_path / "p"),
            fov_name="A/1/0",
        )
    patches = np.asarray(zarr.open_group(str(tmp_path / "p.zarr"), mode="r")["patches"][:])
    assert np.abs(patches).max() < 5.0 and patches.std() > 0.1
    assert metrics["saturated_share_per_channel"]["raw:ViralSensor"] == pytest.approx(29 / 48)
    assert "(60.4%) at the camera's full scale 65535 (saturated) in frame(s) [0, 1, 2]" in caplog.text
    assert "median_p99 gives no scale; using the standard deviation" in caplog.text


@pytest.mark.parametrize("per_time_point", [False, True])
def test_dropped_and_constant_frames_are_not_counted_saturated(tmp_path, caplog, per_time_point):
    """Frame 1 all at 65535 (constant off the 500-count background: 0 in the patches) and frame 3
    mostly NaN but for a 10x10 corner at 65535 (dropped): neither frame reaches the patches and each
    carries its own reason, so no voxel is counted saturated, the share is 0, no WARNING blames the
    exposure and the QC row gives no saturation reason (before: 5 % saturated, a WARNING and a
    saturation reason beside the dropped and constant ones)."""
    from dynaclr.qc.table import qc_row

    data = _sensor_movie(np.random.default_rng(0), n_frames=6).astype(np.float32)
    data[1] = 65535.0
    data[3] = np.nan
    data[3, :, :10, :10] = 65535.0
    with caplog.at_level(logging.WARNING, logger="dynaclr.patches.extract"):
        metrics = _extract_sensor(tmp_path, data, "median_p99", per_time_point)
    row = qc_row(ArtifactKind.PATCH_FOV, tmp_path / "p.json", metrics, "patches")
    assert metrics["dropped_frames"] == [3]
    assert metrics["n_cells_at_constant_frames"] == {"raw:ViralSensor": 1}
    assert metrics["saturated_voxels_per_channel"] == {"raw:ViralSensor": 0}
    assert metrics["saturated_share_per_channel"] == {"raw:ViralSensor": 0.0}
    assert "saturated" not in caplog.text
    assert row["status"] == "reduced" and "dropped" in row["reason"]
    assert "constant" in row["reason"] and "saturated" not in row["reason"]


def test_a_few_percent_saturated_is_warned_about_and_marked_in_the_qc_table(tmp_path, caplog):
    """6 % of the voxels at 65535 (over-exposed debris): the 99th percentile is 65535 and the cell,
    2000 counts over the background, normalises to about 0.03. The patches are kept, a WARNING
    names the channel, the count and the share, and the QC row is reduced saying why; 3 saturated
    voxels per frame (under 1 %) are counted but not warned about."""
    from dynaclr.qc.table import qc_row

    data = _sensor_movie(np.random.default_rng(0), n_frames=3)
    few = data.copy()
    data[:, :, :, :3] = 65535
    few[:, 0, 0, :3] = 65535
    for name, movie in (("many", data), ("few", few)):
        (tmp_path / name).mkdir()
        plate, tracks = _one_channel_plate(tmp_path / name, movie)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="dynaclr.patches.extract"):
            metrics = extract_fov_patches(
                _sensor_spec("median_p99"),
                ExtractPatchesInputs(plate_raw=plate, tracks=tracks),
                _outputs(tmp_path / name / "p"),
                fov_name="A/1/0",
            )
        row = qc_row(ArtifactKind.PATCH_FOV, tmp_path / name / "p.json", metrics, "patches")
        if name == "many":
            assert metrics["saturated_voxels_per_channel"] == {"raw:ViralSensor": 3 * 2 * 48 * 3}
            assert "channel 'raw:ViralSensor': 864 voxel(s) (6.2%) at the camera's full scale" in caplog.text
            assert row["status"] == "reduced" and "6.2% of raw:ViralSensor" in row["reason"]
        else:
            assert metrics["saturated_voxels_per_channel"] == {"raw:ViralSensor": 9}
            assert "saturated" not in caplog.text and row["status"] == "ok"


@pytest.mark.parametrize("normalization", ["zscore", "median_p99"])
def test_an_over_exposed_frame_is_left_out_of_the_patch_normalisation(tmp_path, normalization):
    """Frame 2 of six with its left 15 columns (31 %) at 65535: read into the FOV's statistics, its
    plateau moved the cell in the other frames' patches from 0.99 (median_p99) or 5.9 (zscore) to
    about 0. It is left out of them (listed in the record and the store's normalisation attribute): the
    other frames' patches are those of the intact FOV but for its frame 2's share of the statistics."""
    intact = _sensor_movie(np.random.default_rng(0), n_frames=6)
    exposed = intact.copy()
    exposed[2, :, :, :15] = 65535
    patches, metrics = {}, {}
    for name, data in (("intact", intact), ("exposed", exposed)):
        metrics[name] = _extract_sensor(tmp_path / name, data, normalization, False)
        frames = pd.read_parquet(tmp_path / name / "p.parquet")["t"].to_numpy()
        store = np.asarray(zarr.open_group(str(tmp_path / name / "p.zarr"), mode="r")["patches"][:])
        patches[name] = store[frames != 2][..., 14:18, 14:18]  # the cell, in the other frames
    assert metrics["exposed"]["normalization_saturated_frames"] == {"raw:ViralSensor": [2]}
    assert metrics["intact"]["normalization_saturated_frames"] == {"raw:ViralSensor": []}
    assert patches["intact"].mean() > 0.5
    assert patches["exposed"].mean() == pytest.approx(patches["intact"].mean(), rel=0.1)


#: TINY_SPEC's raw channel alone: the frame interval is the raw plate's.
RAW_SPEC = PatchSpec.model_validate(
    {**TINY_SPEC.model_dump(), "channels": [TINY_SPEC.channels[1].model_dump()]}
)


@pytest.mark.parametrize(
    ("root", "planned_interval", "expected"),
    [(30.0, 7.5, 7.5), (None, None, 30.0)],
    ids=["interval planned", "root stating no interval"],
)
def test_a_patch_job_reads_no_metadata_outside_its_position_of_a_plate_of_your_own(
    tiny_plate: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    root: float | None,
    planned_interval: float | None,
    expected: float,
) -> None:
    """A raw plate another pipeline wrote (no dynaclr record, no copy of it in the positions): the job,
    run by the rule's script as it was before the planned roots (an edited script reruns every job of
    its rule), takes the root attributes the dry run read (the rule's ``params.config`` under
    PLANNED_ROOT_KEY, which ``split_supplied`` hands on in ``supplied``) and reads no metadata of the
    root: the interval stamped is the planned one (7.5 min here, the root stating 30); a root stating
    none (planned ``{}``) gives the position's time scale (30 min), the root still not read. Before,
    every job read the root twice (the record and HCS check, then the time interval)."""
    own = plate_of_your_own(tiny_plate["plate"], tmp_path / "own.zarr")
    attributes = zarr.open_group(str(own), mode="r+").attrs
    if root is None:
        del attributes["time_interval_minutes"]
    else:
        attributes["time_interval_minutes"] = root  # as its time scale
    planned_root = planned_root_attributes(own)
    assert planned_root == ({} if root is None else {"time_interval_minutes": root})
    if planned_interval is not None:
        planned_root = {"time_interval_minutes": planned_interval}
    read = record_metadata_reads(monkeypatch)
    inputs = ExtractPatchesInputs(plate_raw=own, tracks=tiny_plate["tracks"])
    outputs = _outputs(tmp_path / "B_1_0")
    config = {**RAW_SPEC.model_dump(mode="json"), PLANNED_ROOT_KEY: {str(own): planned_root}}
    run_workflow_script("extract_patches", config, inputs, outputs, fov_name="B/1/0", condition=None)
    assert any(path.parent == own / "B/1/0" for path in read), read  # the recorder records
    assert reads_outside_position(read, [own], "B/1/0") == []
    index, provenance = read_table(outputs.parquet, "patch_fov")
    assert len(index) and np.allclose(index["time_minutes"], index["t"] * expected)
    assert (str(own), None) in [(i.path, i.kind) for i in provenance.inputs]  # recorded as your own
    assert provenance.config == RAW_SPEC.model_dump(mode="json")  # the planned root is no config


@pytest.mark.parametrize("fov_name", [None, "B/1/0"], ids=["plate", "position"])
def test_the_plate_readers_take_a_planned_root_alike_with_or_without_a_position(
    tiny_plate: dict[str, Path], tmp_path: Path, fov_name: str | None
) -> None:
    """read_plate_attribute, read_plate_provenance and read_plate_sampling each take the planned root
    in place of the root of a plate of your own, whether or not a position is named (before, the
    first took it either way, the other two only with ``fov_name``). The root here states 7.5 min
    against its 30 min scale (refused where read) and no record; the planned root 30 min and one."""
    from dynaclr.io.plate import read_plate_sampling
    from dynaclr.io.zarr_store import read_plate_attribute, read_plate_provenance

    own = plate_of_your_own(tiny_plate["plate"], tmp_path / "own.zarr")
    zarr.open_group(str(own), mode="r+").attrs["time_interval_minutes"] = 7.5  # not its 30 min scale
    record = make_provenance("raw_plate", {}, stage="simulate")
    planned = {"time_interval_minutes": 30.0, "dynaclr": record.model_dump(mode="json")}
    assert read_plate_attribute(own, "time_interval_minutes", fov_name, planned) == 30.0
    assert read_plate_sampling(own, None, fov_name, planned).time_interval_minutes == 30.0
    with pytest.raises(ArtifactError, match=r"7\.5 min disagrees"):  # the root, read
        read_plate_sampling(own, None, fov_name)
    provenance = read_plate_provenance(own, ["raw_plate"], "raw plate", fov_name, planned)
    assert provenance is not None and provenance.config_hash == record.config_hash
    assert read_plate_provenance(own, ["raw_plate"], "raw plate", fov_name) is None  # the root: none


def test_a_patch_job_without_planned_roots_reads_a_plate_of_your_own_at_its_root(
    tiny_plate: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Called without the dry run's root attributes (a caller of the library), the job reads the root
    of a plate of your own as before, its ``time_interval_minutes`` included."""
    own = plate_of_your_own(tiny_plate["plate"], tmp_path / "own.zarr")
    zarr.open_group(str(own), mode="r+").attrs["time_interval_minutes"] = 30.0
    read = record_metadata_reads(monkeypatch)
    _extract({**tiny_plate, "plate": own}, tmp_path, "B/1/0", spec=RAW_SPEC)
    assert "own.zarr/zarr.json" in reads_outside_position(read, [own], "B/1/0")
    index, _ = read_table((tmp_path / "B_1_0").with_suffix(".parquet"), "patch_fov")
    assert len(index) and np.allclose(index["time_minutes"], index["t"] * 30.0)
