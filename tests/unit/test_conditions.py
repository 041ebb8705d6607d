"""The biology a user filters embeddings on: each well's condition (from the dataset's config) and
each patch's time in minutes, from the patch index to the embeddings' ``obs``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from conftest import TINY_SIMULATE
from iohub.ngff import open_ome_zarr
from pydantic import ValidationError
from test_stage_contract import planned_jobs

from dynaclr.config.patches import PatchSpec
from dynaclr.config.schema import workflow_schema
from dynaclr.config.workflow import DatasetConfig
from dynaclr.embeddings import build_anndata, read_embeddings, read_embeddings_provenance, write_embeddings
from dynaclr.io import ArtifactError, ArtifactKind, make_provenance, read_table, write_table
from dynaclr.io.plate import PlateGeometry, create_empty_plate
from dynaclr.io.provenance import PROVENANCE_KEY
from dynaclr.patches import (
    CollectPatchesInputs,
    CollectPatchesOutputs,
    ExtractPatchesInputs,
    ExtractPatchesOutputs,
    collect_patches,
    extract_fov_patches,
    open_patch_store,
)
from dynaclr.patches.extract import frame_times_minutes

SPEC = PatchSpec.model_validate(
    {
        "name": "bf",
        "channels": [{"source": "raw", "channel": "Brightfield", "normalization": "zscore"}],
        "z_range": [0, 2],
        "patch_size_yx_px": 16,
        "storage_dtype": "float32",
    }
)

# ------------------------------------------------------------------ the config


def test_a_plate_dataset_names_the_condition_of_its_wells():
    dataset = DatasetConfig.model_validate(
        {"plate": "p.zarr", "conditions": {"A/1": "mock", "B/12": "infected"}}
    )
    assert dataset.well_conditions() == {"A/1": "mock", "B/12": "infected"}
    assert DatasetConfig.model_validate({"plate": "p.zarr"}).well_conditions() == {}


@pytest.mark.parametrize("key", ["A1", "A/1/0", "A/", "/1", "A/1 "])
def test_a_condition_key_that_is_not_a_well_is_refused_naming_it(key):
    with pytest.raises(ValidationError, match=rf"conditions: key {key!r} is not a well.*'row/column'"):
        DatasetConfig.model_validate({"plate": "p.zarr", "conditions": {key: "mock"}})


def test_every_bad_key_and_empty_condition_is_named_at_once():
    with pytest.raises(ValidationError) as caught:
        DatasetConfig.model_validate({"plate": "p.zarr", "conditions": {"A1": "mock", "B2": "x", "C/3": ""}})
    message = str(caught.value)
    assert "'A1'" in message and "'B2'" in message and "conditions.C/3: the condition is empty" in message


def test_the_json_schema_refuses_a_key_that_is_not_a_well():
    schema = workflow_schema()
    config = {"datasets": {"d": {"plate": "p.zarr", "conditions": {"A/1": "mock"}}}}
    jsonschema.validate(config, schema)
    config["datasets"]["d"]["conditions"] = {"A1": "mock"}
    with pytest.raises(jsonschema.ValidationError, match="A1"):
        jsonschema.validate(config, schema)


def test_a_simulated_dataset_takes_its_conditions_from_its_wells():
    dataset = DatasetConfig.model_validate({"simulate": TINY_SIMULATE})
    assert dataset.well_conditions() == {"A/1": "mock", "B/1": "infected"}
    agreeing = DatasetConfig.model_validate({"simulate": TINY_SIMULATE, "conditions": {"B/1": "infected"}})
    assert agreeing.well_conditions() == {"A/1": "mock", "B/1": "infected"}


def test_conditions_contradicting_the_simulated_wells_are_refused_naming_both_values():
    with pytest.raises(
        ValidationError, match=r"conditions\.A/1: 'infected' contradicts simulate\.wells.*'mock'"
    ):
        DatasetConfig.model_validate({"simulate": TINY_SIMULATE, "conditions": {"A/1": "infected"}})
    with pytest.raises(ValidationError, match=r"conditions\.C/1: not a well of the simulated plate"):
        DatasetConfig.model_validate({"simulate": TINY_SIMULATE, "conditions": {"C/1": "mock"}})


# ------------------------------------------------------------------ the patch index and the embeddings


def _plate_with_tracks(
    root: Path, time_interval_s: float = 600.0, channels: tuple[str, ...] = ("Brightfield",)
) -> tuple[Path, Path]:
    """A plate of two wells (A/1/0, B/1/0; T=3, Z=2, 40 x 40, ``channels``) and a tracks table of one
    cell per FOV, without a condition column and without provenance (a tracking table of one's own)."""
    fovs = ["A/1/0", "B/1/0"]
    plate = root / "plate.zarr"
    create_empty_plate(
        plate,
        fovs,
        list(channels),
        (3, len(channels), 2, 40, 40),
        np.float32,
        PlateGeometry(time_interval_s=time_interval_s, z_step_um=1.0, pixel_size_um=0.5),
        make_provenance("raw_plate", {"synthetic": True}),
    )
    rng = np.random.default_rng(0)
    with open_ome_zarr(plate, layout="hcs", mode="r+") as opened:
        for fov in fovs:
            opened[fov]["0"][:] = rng.normal(100.0, 10.0, size=(3, len(channels), 2, 40, 40)).astype(
                np.float32
            )
    tracks = pd.DataFrame(
        [(fov, 1, -1, t, 20.0, 20.0) for fov in fovs for t in range(3)],
        columns=["fov_name", "track_id", "parent_track_id", "t", "y", "x"],
    )
    tracks_path = root / "tracks.parquet"
    tracks.to_parquet(tracks_path)
    return plate, tracks_path


def _extract_and_collect(
    plates: dict[str, Path],
    tracks: Path,
    spec: PatchSpec,
    conditions: dict[str, str | None],
    out: Path,
) -> tuple[Path, Path]:
    """Extract every FOV of ``conditions`` (FOV name -> the rule's ``params.condition``) and collect them."""
    inputs = ExtractPatchesInputs(
        **{f"plate_{source}": path for source, path in plates.items()}, tracks=tracks
    )
    stems = [out / fov.replace("/", "_") for fov in conditions]
    for (fov, condition), stem in zip(conditions.items(), stems, strict=True):
        outputs = ExtractPatchesOutputs(
            zarr=stem.with_suffix(".zarr"),
            parquet=stem.with_suffix(".parquet"),
            record=stem.with_suffix(".json"),
        )
        extract_fov_patches(spec, inputs, outputs, fov_name=fov, condition=condition)
    collected = CollectPatchesOutputs(zarr=out / "store.zarr", parquet=out / "store.parquet")
    collect_patches(
        CollectPatchesInputs(
            zarrs=[stem.with_suffix(".zarr") for stem in stems],
            parquets=[stem.with_suffix(".parquet") for stem in stems],
        ),
        collected,
    )
    return collected.zarr, collected.parquet


def _rule_conditions(dataset: DatasetConfig, fovs: list[str]) -> dict[str, str | None]:
    """What rule ``extract_patches`` passes as ``params.condition`` for each FOV."""
    wells = dataset.well_conditions()
    return {fov: wells.get(fov.rsplit("/", 1)[0]) for fov in fovs}


def _embeddings_obs(zarr_path: Path, parquet_path: Path, out: Path) -> pd.DataFrame:
    """``obs`` of embeddings written (and read back) from the collected store, as rule ``embed`` does."""
    store = open_patch_store(zarr_path, parquet_path)
    adata = build_anndata(np.zeros((len(store.index), 2)), store.index, info={"model": "m", "dataset": "d"})
    write_embeddings(adata, out, make_provenance(ArtifactKind.EMBEDDINGS, {"model": "m", "dataset": "d"}))
    return read_embeddings(out).obs


def test_a_plate_dataset_s_conditions_reach_the_index_and_the_embeddings(tmp_path):
    """Well A/1 is named in the config, B/1 is not: its cells have no condition (missing)."""
    plate, tracks = _plate_with_tracks(tmp_path)
    dataset = DatasetConfig.model_validate({"plate": str(plate), "conditions": {"A/1": "infected"}})
    conditions = _rule_conditions(dataset, ["A/1/0", "B/1/0"])
    assert conditions == {"A/1/0": "infected", "B/1/0": None}
    zarr_path, parquet_path = _extract_and_collect({"raw": plate}, tracks, SPEC, conditions, tmp_path)
    index, provenance = read_table(parquet_path, ArtifactKind.PATCH_INDEX)
    assert provenance.schema_version == ArtifactKind.PATCH_INDEX.schema_version
    assert (index["well"] == "A/1").sum() == 3 and (index["well"] == "B/1").sum() == 3
    assert index.loc[index["well"] == "A/1", "condition"].tolist() == ["infected"] * 3
    assert index.loc[index["well"] == "B/1", "condition"].isna().all()
    np.testing.assert_array_equal(index["time_minutes"], index["t"] * 10.0)  # 600 s per frame
    obs = _embeddings_obs(zarr_path, parquet_path, tmp_path / "embeddings.zarr")
    assert obs.loc[obs["well"] == "A/1", "condition"].tolist() == ["infected"] * 3
    assert obs.loc[obs["well"] == "B/1", "condition"].isna().all()
    np.testing.assert_array_equal(obs["time_minutes"].to_numpy(), obs["t"].to_numpy() * 10.0)


def test_a_well_without_condition_anywhere_is_missing_in_the_embeddings_as_a_string_column(tmp_path):
    plate, tracks = _plate_with_tracks(tmp_path)
    zarr_path, parquet_path = _extract_and_collect(
        {"raw": plate}, tracks, SPEC, {"A/1/0": None, "B/1/0": None}, tmp_path
    )
    obs = _embeddings_obs(zarr_path, parquet_path, tmp_path / "embeddings.zarr")
    assert obs["condition"].isna().all() and pd.api.types.is_string_dtype(obs["condition"])


def test_time_minutes_is_missing_when_the_plate_records_no_interval(tmp_path):
    plate, tracks = _plate_with_tracks(tmp_path, time_interval_s=0.0)
    _, parquet_path = _extract_and_collect({"raw": plate}, tracks, SPEC, {"A/1/0": None}, tmp_path)
    index = pd.read_parquet(parquet_path)
    assert len(index) == 3 and index["time_minutes"].isna().all()


@pytest.mark.parametrize("interval", [None, float("nan"), 0.0, -1.0])
def test_frame_times_are_nan_without_an_interval(interval):
    assert np.isnan(frame_times_minutes(np.array([0, 1, 2]), interval)).all()
    np.testing.assert_array_equal(frame_times_minutes(np.array([0, 3]), 7.5), [0.0, 22.5])


def test_a_simulated_dataset_s_wells_give_the_condition_over_tracks_without_one(tiny_plate, tmp_path):
    """Tracks of the tracking stage carry no condition: the config's wells give it; time from the
    plate's 30 min frames."""
    tracks = pd.read_parquet(tiny_plate["tracks"]).drop(columns=["condition"])
    tracks_path = tmp_path / "tracks.parquet"
    tracks.to_parquet(tracks_path)
    dataset = DatasetConfig.model_validate({"simulate": TINY_SIMULATE})
    conditions = _rule_conditions(dataset, ["A/1/0", "B/1/0"])
    spec = SPEC.model_copy(update={"z_range": (1, 3), "patch_size_yx_px": 32})
    zarr_path, parquet_path = _extract_and_collect(
        {"raw": tiny_plate["plate"]}, tracks_path, spec, conditions, tmp_path
    )
    index = pd.read_parquet(parquet_path)
    assert set(index["fov_name"]) == {"A/1/0", "B/1/0"}
    assert index.groupby("well")["condition"].unique().map(list).to_dict() == {
        "A/1": ["mock"],
        "B/1": ["infected"],
    }
    np.testing.assert_array_equal(index["time_minutes"], index["t"] * 30.0)
    obs = _embeddings_obs(zarr_path, parquet_path, tmp_path / "embeddings.zarr")
    assert obs.groupby("well")["condition"].unique().map(list).to_dict() == {
        "A/1": ["mock"],
        "B/1": ["infected"],
    }
    assert read_embeddings_provenance(tmp_path / "embeddings.zarr").schema_version == 4


def test_the_config_overrides_the_tracks_table_s_condition_only_where_it_names_one(tiny_plate, tmp_path):
    """Ground-truth tracks say A/1 is 'mock': a configured 'treated' wins, no configured one keeps 'mock'."""
    spec = SPEC.model_copy(update={"z_range": (1, 3), "patch_size_yx_px": 32})
    inputs = ExtractPatchesInputs(plate_raw=tiny_plate["plate"], tracks=tiny_plate["tracks"])
    for condition, expected in (("treated", "treated"), (None, "mock")):
        stem = tmp_path / f"{condition}"
        outputs = ExtractPatchesOutputs(
            zarr=stem.with_suffix(".zarr"),
            parquet=stem.with_suffix(".parquet"),
            record=stem.with_suffix(".json"),
        )
        extract_fov_patches(spec, inputs, outputs, fov_name="A/1/0", condition=condition)
        index = pd.read_parquet(outputs.parquet)
        assert len(index) > 0 and index["condition"].eq(expected).all()


# ------------------------------------------------------------------ older artifacts


def _as_schema(provenance, version: int):
    return provenance.model_copy(update={"schema_version": version})


def test_a_patch_index_without_the_new_columns_is_refused_with_the_rule_to_rerun(tmp_path):
    plate, tracks = _plate_with_tracks(tmp_path)
    zarr_path, parquet_path = _extract_and_collect({"raw": plate}, tracks, SPEC, {"A/1/0": None}, tmp_path)
    index, provenance = read_table(parquet_path, ArtifactKind.PATCH_INDEX)
    old = tmp_path / "old.parquet"
    write_table(index.drop(columns=["time_minutes"]), old, _as_schema(provenance, 2))
    with pytest.raises(ArtifactError, match=r"schema version 2 .*`snakemake --forcerun collect_patches`"):
        open_patch_store(zarr_path, old)


def test_embeddings_of_schema_3_are_refused_with_the_rule_to_rerun(tmp_path):
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 2, "track_id": [1, 1], "t": [0, 1]})
    path = tmp_path / "old.zarr"
    write_embeddings(
        build_anndata(np.ones((2, 2)), index), path, make_provenance(ArtifactKind.EMBEDDINGS, {})
    )
    old = json.loads(read_embeddings_provenance(path).model_dump_json())
    old["schema_version"] = 3
    zarr.open_group(str(path), mode="r+").attrs[PROVENANCE_KEY] = old
    with pytest.raises(ArtifactError, match=r"schema version 3 .*`snakemake --forcerun embed`"):
        read_embeddings(path)


# ------------------------------------------------------------------ the rule


def test_rule_extract_patches_passes_each_fov_its_well_s_condition(tmp_path):
    """A per-job param (so editing one well's condition reruns that well's FOVs only): a simulated
    dataset's from its wells, a plate dataset's from ``conditions`` (None for a well not listed)."""
    plate, _ = _plate_with_tracks(tmp_path, channels=("Brightfield", "Nuclei"))
    spec = SPEC.model_dump(mode="json", exclude_none=True)
    config = {
        "datasets": {
            "tiny": {"simulate": TINY_SIMULATE, "patches": [spec]},
            "mine": {"plate": str(plate), "phase": None, "conditions": {"A/1": "treated"}, "patches": [spec]},
        },
        "analysis": {"baselines": []},
    }
    configfile = tmp_path / "config" / "config.yaml"
    configfile.parent.mkdir()
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = [job for job in planned_jobs(configfile, tmp_path) if job.rule.name == "extract_patches"]
    planned = {(job.wildcards.dataset, job.params.fov_name): job.params.condition for job in jobs}
    assert planned == {
        ("tiny", "A/1/0"): "mock",
        ("tiny", "B/1/0"): "infected",
        ("mine", "A/1/0"): "treated",
        ("mine", "B/1/0"): None,
    }
