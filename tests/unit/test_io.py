"""Provenance, atomic outputs and artifact checks."""

from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import zarr

from dynaclr.io import (
    ArtifactError,
    atomic_output,
    config_hash,
    make_provenance,
    read_csv,
    read_table,
    read_zarr_provenance,
    write_csv,
    write_table,
    write_zarr_provenance,
)
from dynaclr.io.provenance import PROVENANCE_KEY, ArtifactKind


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_csv_names_are_read_back_as_written(tmp_path):
    """A CSV has no types: pandas would read a dataset '01' as 1, a model '007' as 7, 'NA', 'None' or
    'nan' as missing and 'true' as a boolean. The name columns come back as written (an empty cell
    is missing), the other columns as numbers."""
    table = pd.DataFrame(
        {
            "model": ["007", "NA", "None"],
            "dataset": ["01", "nan", "true"],
            "fov_name": ["B/03/000", "B/03/001", "B/03/001"],
            "f1_infection_transferred_from": ["01", None, "1e5"],
            "not_computed": [None, "000", None],
            "smoothness": [0.5, np.nan, 1.0],
            "n_tracks": [3, 4, 5],
        }
    )
    path = tmp_path / "table.csv"
    write_csv(table, path)
    back = read_csv(path, ["model", "dataset"])
    for column in ("model", "dataset", "fov_name"):
        assert back[column].tolist() == table[column].tolist(), column
    assert back["f1_infection_transferred_from"].fillna("-").tolist() == ["01", "-", "1e5"]
    assert back["not_computed"].fillna("-").tolist() == ["-", "000", "-"]
    assert back["smoothness"].dtype == np.float64 and np.isnan(back["smoothness"][1])
    assert back["n_tracks"].tolist() == [3, 4, 5] and back["n_tracks"].dtype == np.int64


def test_parquet_keeps_names_as_text(tmp_path):
    df = pd.DataFrame({"dataset": ["01", "NA"], "fov_name": ["B/03/000", "B/03/001"], "t": [0, 1]})
    write_table(df, tmp_path / "t.parquet", make_provenance("tracks", {}, []))
    back, _ = read_table(tmp_path / "t.parquet", "tracks")
    assert back["dataset"].tolist() == ["01", "NA"] and back["fov_name"].tolist() == ["B/03/000", "B/03/001"]


def test_table_round_trip_with_provenance(tmp_path):
    df = pd.DataFrame({"fov_name": ["A/1/0"], "t": [0]})
    prov = make_provenance("ground_truth_tracks", {"seed": 1}, inputs=["x.zarr"])
    path = tmp_path / "gt.parquet"
    write_table(df, path, prov)
    back, back_prov = read_table(path, "ground_truth_tracks", ["fov_name", "t"])
    pd.testing.assert_frame_equal(back, df)
    assert back_prov.config_hash == config_hash({"seed": 1})
    assert back_prov.inputs[0].path == "x.zarr"
    assert back_prov.package_version


def test_reader_names_missing_columns(tmp_path):
    path = tmp_path / "gt.parquet"
    write_table(pd.DataFrame({"t": [0]}), path, make_provenance("ground_truth_tracks", {}))
    with pytest.raises(ArtifactError, match=r"lacks required columns \['track_id'\]"):
        read_table(path, "ground_truth_tracks", ["t", "track_id"])


def test_reader_refuses_wrong_kind_and_says_what_to_do(tmp_path):
    path = tmp_path / "summary.parquet"
    write_table(pd.DataFrame({"t": [0]}), path, make_provenance("ground_truth_summary", {}))
    with pytest.raises(ArtifactError, match="expected an artifact of kind 'ground_truth_tracks'"):
        read_table(path, "ground_truth_tracks")


def test_reader_refuses_old_schema_and_names_rule_to_rerun(tmp_path):
    store = zarr.open_group(str(tmp_path / "raw.zarr"), mode="w")
    prov = json.loads(make_provenance("raw_plate", {}).model_dump_json())
    prov["schema_version"] = ArtifactKind.RAW_PLATE.schema_version - 1
    store.attrs[PROVENANCE_KEY] = prov
    with pytest.raises(ArtifactError, match=r"out of date: rerun it with `snakemake --forcerun simulate`"):
        read_zarr_provenance(tmp_path / "raw.zarr", "raw_plate")


def test_reader_refuses_foreign_files(tmp_path):
    pd.DataFrame({"t": [0]}).to_parquet(tmp_path / "foreign.parquet")
    with pytest.raises(ArtifactError, match="no 'dynaclr' provenance"):
        read_table(tmp_path / "foreign.parquet", "ground_truth_tracks")
    zarr.open_group(str(tmp_path / "foreign.zarr"), mode="w")
    with pytest.raises(ArtifactError, match="no 'dynaclr' provenance"):
        read_zarr_provenance(tmp_path / "foreign.zarr", "raw_plate")
    with pytest.raises(ArtifactError, match="not found"):
        read_zarr_provenance(tmp_path / "missing.zarr", "raw_plate")


def test_zarr_provenance_round_trip(tmp_path):
    zarr.open_group(str(tmp_path / "p.zarr"), mode="w")
    write_zarr_provenance(tmp_path / "p.zarr", make_provenance("raw_plate", {"seed": 0}))
    assert read_zarr_provenance(tmp_path / "p.zarr", "raw_plate").config == {"seed": 0}


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown artifact kind"):
        make_provenance("no_such_kind", {})


def test_the_record_names_the_rule_that_wrote_it_one_of_the_kinds_writers():
    assert make_provenance("tracks", {}).stage == "collect_tracks"
    assert make_provenance("tracks", {}, stage="import_tracks").stage == "import_tracks"
    with pytest.raises(ValueError, match=r"rule 'collect_tracks' does not write kind 'raw_plate'"):
        make_provenance("raw_plate", {}, stage="collect_tracks")


def test_atomic_output_leaves_nothing_when_interrupted(tmp_path):
    final = tmp_path / "out.zarr"
    with pytest.raises(RuntimeError), atomic_output(final) as tmp:
        tmp.mkdir()
        (tmp / "chunk").write_text("partial")
        raise RuntimeError("killed")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("left", ["stale store", "empty folder"])
def test_a_store_named_by_its_root_file_is_complete_only_with_it(tmp_path, left):
    """Before a job whose output is ``phase.zarr/zarr.json`` Snakemake deletes only that file and
    makes its folder: a stale store without its root file, or an empty folder, is left. An
    interrupted write leaves no root file (the store does not look complete); a finished one
    replaces the folder whole, with a new root file (newer than the last: the rerun trigger)."""
    store = tmp_path / "phase.zarr"
    zarr.open_group(store, mode="w").create_group("stale")
    os.utime(store / "zarr.json", (1_000_000_000, 1_000_000_000))  # made by an earlier run
    if left == "empty folder":
        shutil.rmtree(store)
        store.mkdir()
    else:
        (store / "zarr.json").unlink()
    with pytest.raises(RuntimeError), atomic_output(store) as tmp:
        zarr.open_group(tmp, mode="w").create_group("new")
        raise RuntimeError("killed")
    assert not (store / "zarr.json").exists()
    with atomic_output(store) as tmp:
        zarr.open_group(tmp, mode="w").create_group("new")
    assert sorted(path.name for path in store.iterdir()) == ["new", "zarr.json"]
    assert (store / "zarr.json").stat().st_mtime > 1_000_000_000
    assert sorted(path.name for path in tmp_path.iterdir()) == ["phase.zarr"]


def test_atomic_output_replaces_previous_result(tmp_path):
    final = tmp_path / "table.txt"
    final.write_text("old")
    with atomic_output(final) as tmp:
        assert not tmp.exists()
        tmp.write_text("new")
    assert final.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.txt"]


@pytest.fixture
def zarr_2_by_default():
    """anndata's ``zarr_write_format`` and zarr's ``default_zarr_format`` (``ZARR_DEFAULT_ZARR_FORMAT``)
    set to 2, as a caller or a user's environment may."""
    import anndata as ad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the anndata setting is deprecated
        with ad.settings.override(zarr_write_format=2), zarr.config.set({"default_zarr_format": 2}):
            yield


def test_stores_are_written_with_their_root_zarr_json_whatever_the_default_zarr_format(
    tmp_path, zarr_2_by_default
):
    """The workflow names a store by its root ``zarr.json``: a writer relying on anndata's or zarr's
    default format wrote ``.zgroup`` instead under format 2 defaults, and the job failed
    (MissingOutputException) after its work was done."""
    import anndata as ad
    import numpy as np
    import torch

    from dynaclr.embeddings import build_anndata, write_embeddings
    from dynaclr.embeddings.projections import projections_anndata, write_projections
    from dynaclr.interpretation.occlusion_stage import _write_maps
    from dynaclr.phase.transfer_function import TransferFunction, save_transfer_function

    ad.AnnData(np.ones((2, 2))).write_zarr(tmp_path / "default.zarr")
    assert (tmp_path / "default.zarr" / ".zgroup").exists()  # the defaults are format 2 here
    index = pd.DataFrame({"fov_name": ["A/1/0"] * 4, "track_id": [1] * 4, "t": range(4)})
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    partial = zarr.open_group(tmp_path / "partial.zarr", mode="w", zarr_format=3)
    lazy = partial.create_array("features", data=features, chunks=(2, 3))
    write_embeddings(build_anndata(features, index), tmp_path / "e.zarr", make_provenance("embeddings", {}))
    write_embeddings(build_anndata(lazy, index), tmp_path / "s.zarr", make_provenance("embeddings", {}))
    projections = projections_anndata(index, {"pca": (features[:, :2], {"variance_ratio": [0.6, 0.3]})})
    write_projections(projections, tmp_path / "p.zarr", make_provenance(ArtifactKind.PROJECTIONS, {}))
    transfer_function = TransferFunction("2d", (3, 4, 4), 0.65, 2.0, 0, {"a": torch.zeros(2, 2)})
    save_transfer_function(
        transfer_function, tmp_path / "tf.zarr", make_provenance(ArtifactKind.PHASE_TRANSFER_FUNCTION, {})
    )
    summary = pd.DataFrame(
        columns=["event", "cell_number", "offset_frames", "role", "fov_name", "track_id", "t"]
    )
    stacks: dict[str, list[np.ndarray]] = {"attributions": [], "patches": [], "regions": []}
    _write_maps(tmp_path / "m.zarr", stacks, summary, ["a"], make_provenance(ArtifactKind.OCCLUSION_MAPS, {}))
    for name in ("e", "s", "p", "tf", "m"):
        store = tmp_path / f"{name}.zarr"
        assert (store / "zarr.json").is_file() and not (store / ".zgroup").exists(), store
