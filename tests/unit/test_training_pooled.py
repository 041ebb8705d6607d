"""Contrastive training pooled over several patch stores (one per dataset): the inputs and CLI,
the stores' agreement checks, tau per store, positives that never cross stores, the FOV split per
store, the pooled dataset's reads, provenance and the resume identity."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import zarr
from conftest import TINY_PATCH_SPEC, TINY_SIMULATE, build_patch_store

from dynaclr.config.patches import PatchSpec
from dynaclr.config.simulate import SimulateConfig
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.patches.store import ShardedRowWriter, create_patch_array, open_patch_store
from dynaclr.training import __main__ as cli, train as train_module
from dynaclr.training.data import PatchDataset
from dynaclr.training.sampling import (
    PairPlanner,
    pool_patch_indexes,
    split_fovs,
    split_pooled_fovs,
    without_excluded_fovs,
)
from dynaclr.training.train import (
    RESUME_KEY,
    TrainInputs,
    TrainOutputs,
    open_training_store,
    resumable_checkpoint,
    resume_identity,
    train_contrastive,
)

SPEC = PatchSpec.model_validate(TINY_PATCH_SPEC)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _plates(plate: dict[str, Path]) -> dict[str, Path]:
    return {"raw": plate["plate"], "phase": plate["phase"]}


@pytest.fixture(scope="module")
def stores(
    tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Path]]:
    """Two datasets' stores: the tiny plate every 30 min ("a"), another tiny plate every 15 min
    ("b"); both have FOVs A/1/0 and B/1/0 and lineages numbered alike."""
    from dynaclr.simulate import SimulateOutputs, simulate_plate

    root = tmp_path_factory.mktemp("pooled")
    plate_b = SimulateOutputs(
        plate=root / "b" / "raw.zarr",
        tracks=root / "b" / "ground_truth" / "tracks.parquet",
        labels=root / "b" / "ground_truth" / "labels.zarr",
        phase=root / "b" / "ground_truth" / "phase.zarr",
    )
    simulate_plate(
        SimulateConfig.model_validate({**TINY_SIMULATE, "seed": 4, "time_interval_minutes": 15.0}), plate_b
    )
    return {
        "a": build_patch_store(_plates(tiny_plate), tiny_plate["tracks"], SPEC, root / "store_a"),
        "b": build_patch_store(_plates(plate_b.model_dump()), plate_b.tracks, SPEC, root / "store_b"),
    }


def _inputs(*stores: dict[str, Path], names: tuple[str, ...] | None = None) -> TrainInputs:
    return TrainInputs(
        patches_zarr=tuple(s["zarr"] for s in stores),
        patches_parquet=tuple(s["parquet"] for s in stores),
        dataset_names=names,
    )


def _config(**extra) -> ContrastiveModelConfig:
    return ContrastiveModelConfig.model_validate(
        {
            "patch_spec": "tiny",
            "sampling": "time_aware",
            "loss": "ntxent",
            "tau_minutes": 30,
            "backbone": "convnext_atto",
            "batch_size": 4,
            "num_workers": 0,
            "validation_fraction": 0.5,
            "seed": 3,
            **extra,
        }
    )


def _variant(store: dict[str, Path], out: Path, **attributes) -> dict[str, Path]:
    """A copy of ``store`` whose zarr attributes are changed (what another patch spec would record)."""
    copy = {"zarr": out / "variant.zarr", "parquet": out / "variant.parquet"}
    shutil.copytree(store["zarr"], copy["zarr"])
    shutil.copy(store["parquet"], copy["parquet"])
    group = zarr.open_group(str(copy["zarr"]), mode="r+")
    group.attrs.update(attributes)
    return copy


# --- inputs and CLI -------------------------------------------------------------------------------


def test_train_inputs_take_one_path_or_several_of_equal_count(tmp_path):
    one = TrainInputs(patches_zarr=tmp_path / "a.zarr", patches_parquet=tmp_path / "a.parquet")
    assert one.patches_zarr == (tmp_path / "a.zarr",) and one.patches_parquet == (tmp_path / "a.parquet",)
    assert one == TrainInputs(patches_zarr=(tmp_path / "a.zarr",), patches_parquet=(tmp_path / "a.parquet",))
    two = TrainInputs.from_rule(
        {"patches_zarr": ["a.zarr", "b.zarr"], "patches_parquet": ["a.parquet", "b.parquet"]}
    )
    assert two.patches_zarr == (Path("a.zarr"), Path("b.zarr")) and two.dataset_names is None
    with pytest.raises(ValueError, match="one patches_parquet per patches_zarr"):
        TrainInputs(patches_zarr=("a.zarr", "b.zarr"), patches_parquet=("a.parquet",))
    with pytest.raises(ValueError, match="one dataset name per patch store"):
        TrainInputs(patches_zarr=("a.zarr", "b.zarr"), patches_parquet=("a.p", "b.p"), dataset_names=("a",))
    with pytest.raises(ValueError, match=r"must differ, \['a'\]"):
        TrainInputs(
            patches_zarr=("a.zarr", "b.zarr"), patches_parquet=("a.p", "b.p"), dataset_names=("a", "a")
        )
    with pytest.raises(ValueError, match="without ':'"):
        TrainInputs(patches_zarr="a.zarr", patches_parquet="a.p", dataset_names=("x:y",))


def test_cli_accepts_several_stores_and_refuses_unequal_counts(tmp_path, monkeypatch, capsys):
    config = tmp_path / "model.json"
    config.write_text(_config().model_dump_json())
    seen: list[TrainInputs] = []

    def fake_train(config, inputs, outputs, **kwargs):
        seen.append(inputs)
        return {"datasets": list(inputs.dataset_names or ())}

    monkeypatch.setattr(train_module, "train_contrastive", fake_train)
    outputs = ["--config", str(config), "--model", "m.ckpt", "--model-config", "c.json", "--work-dir", "w"]
    stores = ["--patches-zarr", "A.zarr", "B.zarr", "--patches-parquet", "A.parquet", "B.parquet"]
    assert cli.main([*stores, "--datasets", "a", "b", *outputs]) == 0
    assert seen[-1].patches_zarr == (Path("A.zarr"), Path("B.zarr"))
    assert seen[-1].patches_parquet == (Path("A.parquet"), Path("B.parquet"))
    assert seen[-1].dataset_names == ("a", "b")
    assert json.loads(capsys.readouterr().out) == {"datasets": ["a", "b"]}
    assert cli.main(["--patches-zarr", "A.zarr", "--patches-parquet", "A.parquet", *outputs]) == 0
    assert seen[-1].patches_zarr == (Path("A.zarr"),) and seen[-1].dataset_names is None

    refusals = {
        "2 store(s), --patches-parquet 1 index(es)": [
            *("--patches-zarr", "A.zarr", "B.zarr", "--patches-parquet", "A.parquet"),
        ],
        "--datasets names 1 dataset(s) for 2 store(s)": [*stores, "--datasets", "a"],
        "must differ": [*stores, "--datasets", "a", "a"],
    }
    for message, arguments in refusals.items():
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*arguments, *outputs])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert len(seen) == 2  # no refused command line trained


# --- stores must agree ----------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["channel names", "patch_size_yx_px"])
def test_stores_that_disagree_are_refused_naming_both_files(stores, tmp_path, what):
    channels = open_patch_store(stores["b"]["zarr"], stores["b"]["parquet"]).channel_names
    expected, found = {
        "channel names": (channels, channels[::-1]),  # the same channels in another order
        "patch_size_yx_px": (32, 24),
    }[what]
    variant = _variant(stores["b"], tmp_path, **{"channel_names" if what == "channel names" else what: found})
    with pytest.raises(ValueError) as info:
        open_training_store(_config(), _inputs(stores["a"], variant))
    message = str(info.value)
    assert f"disagree on {what}" in message
    assert str(stores["a"]["zarr"]) in message and str(variant["zarr"]) in message  # both files
    assert f"has {expected!r}" in message and f"has {found!r}" in message  # both values


def test_stores_of_another_depth_or_initial_size_are_refused(tiny_plate, stores, tmp_path):
    plates = _plates(tiny_plate)
    thin = build_patch_store(
        plates, tiny_plate["tracks"], SPEC.model_copy(update={"z_window_slices": 1}), tmp_path / "thin"
    )
    with pytest.raises(ValueError) as info:
        open_training_store(_config(), _inputs(stores["a"], thin))
    message = str(info.value)
    assert "disagree on patch depth Z (slices)" in message and "has 3" in message and "has 1" in message
    assert str(stores["a"]["zarr"]) in message and str(thin["zarr"]) in message
    wide = build_patch_store(
        plates,
        tiny_plate["tracks"],
        SPEC.model_copy(update={"initial_patch_size_yx_px": 64}),
        tmp_path / "wide",
    )
    with pytest.raises(
        ValueError, match=r"disagree on initial patch size .* has \[60, 60\], .* has \[64, 64\]"
    ):
        open_training_store(_config(), _inputs(stores["a"], wide))


# --- tau per store, positives within a store ------------------------------------------------------


def test_tau_minutes_is_converted_with_each_stores_interval(stores):
    pooled = open_training_store(_config(), _inputs(stores["a"], stores["b"], names=("a", "b")))
    assert pooled.tau_frames == [1, 2] and pooled.recorded_tau() == {"a": 1, "b": 2}
    n_a = int(pooled.stores[0].array.shape[0])
    tau = pooled.tau_of_rows()
    assert isinstance(tau, np.ndarray) and (tau[:n_a] == 1).all() and (tau[n_a:] == 2).all()
    assert set(pooled.index["fov_name"]) == {"a:A/1/0", "a:B/1/0", "b:A/1/0", "b:B/1/0"}
    # tau_frames is the same frames everywhere; a single store keeps its names and an int tau
    same = open_training_store(
        _config(tau_minutes=None, tau_frames=2), _inputs(stores["a"], stores["b"], names=("a", "b"))
    )
    assert same.tau_frames == [2, 2] and same.recorded_tau() == 2 and same.tau_of_rows() == 2
    # each store's tau must fit its own lineages: 240 min is 8 frames of "a" but 16 of "b" (12 frames)
    with pytest.raises(ValueError) as info:
        open_training_store(_config(tau_minutes=240), _inputs(stores["a"], stores["b"], names=("a", "b")))
    assert str(stores["b"]["parquet"]) in str(info.value) and "tau = 16 frames" in str(info.value)
    alone = open_training_store(_config(), _inputs(stores["b"]))
    assert alone.datasets == ["store0"] and alone.recorded_tau() == 2
    assert set(alone.index["fov_name"]) == {"A/1/0", "B/1/0"}


def test_a_training_runs_set_up_computes_each_indexs_lineage_codes_once(stores, monkeypatch):
    """lineage_codes (0.4 s per million rows) ran for each store's lineage warning, again for its
    tau check and again in the training and validation planners: 4 times for one store. Now once per
    store, once more for a pooled index of several (its FOV names qualified), the planners sharing
    the pooled index's codes (those lineage_codes gives it: the same pairs)."""
    import dynaclr.training.data as data_module
    import dynaclr.training.sampling as sampling_module
    from dynaclr.training.data import PatchDataModule

    lineage_codes = sampling_module.lineage_codes
    calls = []

    def counted(index: pd.DataFrame) -> tuple[np.ndarray, int]:
        calls.append(len(index))
        return lineage_codes(index)

    for module in (sampling_module, train_module, data_module):
        monkeypatch.setattr(module, "lineage_codes", counted, raising=False)
    config = _config(loss="triplet")
    for names, expected in ((None, 1), (("a", "b"), 3)):
        calls.clear()
        chosen = (stores["a"],) if names is None else (stores["a"], stores["b"])
        pooled = open_training_store(config, _inputs(*chosen, names=names))
        assert len(calls) == expected, calls  # the stores' warnings and tau checks, the pooled index
        fovs = [f"{name}:" for name in names] if names else [""]
        data = PatchDataModule(
            pooled.zarr_paths,
            pooled.index,
            config,
            pooled.tau_of_rows(),
            [f"{prefix}B/1/0" for prefix in fovs],
            [f"{prefix}A/1/0" for prefix in fovs],
            lineage=pooled.lineage,
        )
        data.setup("fit")
        assert len(calls) == expected, calls  # the planners: none more
        assert data.train_sampler is not None and data.validation_sampler is not None
        assert np.array_equal(data.train_sampler.planner.lineage, lineage_codes(pooled.index)[0])


def test_default_dataset_names_are_the_recorded_ones_else_store_numbers(stores, tmp_path):
    named = _variant(stores["b"], tmp_path, dataset="plate_b")
    pooled = open_training_store(_config(), _inputs(stores["a"], named))
    assert pooled.datasets == ["store0", "plate_b"]


def _synthetic_index(n_frames: int, divide_after: int) -> pd.DataFrame:
    """One FOV A/1/0: track 1 divides into 2 and 3 after ``divide_after``; tracks 4..7 single."""
    rows = [("A/1/0", 1, -1, t) for t in range(divide_after + 1)]
    rows += [("A/1/0", d, 1, t) for d in (2, 3) for t in range(divide_after + 1, n_frames)]
    rows += [("A/1/0", k, -1, t) for k in range(4, 8) for t in range(n_frames)]
    index = pd.DataFrame(rows, columns=["fov_name", "track_id", "parent_track_id", "t"])
    index["lineage_id"] = np.where(index["parent_track_id"] >= 0, index["parent_track_id"], index["track_id"])
    index = index.sort_values(["t", "track_id"], ignore_index=True)
    index["row"] = np.arange(len(index))
    return index


@pytest.mark.parametrize("sampling", ["time_aware", "cell_aware"])
def test_planned_pairs_stay_in_their_store_and_lineage_with_its_tau(sampling):
    """Two stores with the same FOV, track and lineage numbers, tau 1 and 3 frames."""
    indexes = [_synthetic_index(8, 3), _synthetic_index(10, 5)]
    pooled = pool_patch_indexes(indexes, ["a", "b"])
    store = pooled["store"].to_numpy()
    tau = np.asarray([1, 3])[store]
    planner = PairPlanner(
        pooled, pooled["row"].to_numpy(), sampling, tau_frames=tau, tolerance_frames=0, with_negatives=True
    )
    key = list(zip(pooled["fov_name"], pooled["lineage_id"], strict=True))
    t = pooled["t"].to_numpy()
    if sampling == "time_aware":
        # every candidate of every anchor: the same store and lineage, exactly that store's tau later
        for slot, anchor in enumerate(planner.anchors.tolist()):
            candidates = planner._candidates[
                planner._candidate_starts[slot] : planner._candidate_starts[slot + 1]
            ]
            assert len(candidates) > 0
            for positive in candidates.tolist():
                assert store[positive] == store[anchor] and key[positive] == key[anchor]
                assert t[positive] - t[anchor] == tau[anchor]
        # the anchors are exactly those with their lineage tau frames later in their own store
        n_a = len(indexes[0])
        assert set(t[planner.anchors[planner.anchors < n_a]]) == set(range(8 - 1))
        assert set(t[planner.anchors[planner.anchors >= n_a]]) == set(range(10 - 3))
    rng = np.random.default_rng(0)
    samples = np.asarray(planner.plan(planner.anchors, rng))
    for anchor, positive, negative in samples.tolist():
        assert store[positive] == store[anchor] and key[positive] == key[anchor]
        # a negative: another lineage at the positive's frame of the same store
        assert store[negative] == store[positive] and t[negative] == t[positive]
        assert key[negative] != key[anchor]


def test_per_row_tau_that_is_constant_plans_as_the_single_tau():
    index = _synthetic_index(10, 5)
    rows = index["row"].to_numpy()
    one = PairPlanner(index, rows, "time_aware", tau_frames=2, tolerance_frames=1, with_negatives=True)
    per_row = PairPlanner(
        pool_patch_indexes([index], ["a"]),
        rows,
        "time_aware",
        tau_frames=np.full(len(index), 2),
        tolerance_frames=1,
        with_negatives=True,
    )
    assert np.array_equal(one.anchors, per_row.anchors)
    assert np.array_equal(one._candidates, per_row._candidates)
    assert one.plan(one.anchors, np.random.default_rng(5)) == per_row.plan(
        per_row.anchors, np.random.default_rng(5)
    )


# --- FOV split per store --------------------------------------------------------------------------


def test_split_applies_to_each_stores_fovs():
    fovs = ["A/1/0", "A/1/1", "B/1/0", "B/1/1"]
    assert split_pooled_fovs({"a": fovs}, 0.25, 7) == split_fovs(fovs, 0.25, 7)  # one store: as before
    assert split_pooled_fovs({"a": fovs}, 0.0, 7, ["a:B/1/0"]) == split_fovs(fovs, 0.0, 7, ["B/1/0"])
    training, validation = split_pooled_fovs({"a": fovs, "b": fovs[:2]}, 0.25, 7)
    _, alone = split_fovs(fovs, 0.25, 7)
    _, alone_b = split_fovs(fovs[:2], 0.25, 7)
    assert validation == sorted([f"a:{f}" for f in alone] + [f"b:{f}" for f in alone_b])
    assert sorted(training + validation) == sorted([f"a:{f}" for f in fovs] + [f"b:{f}" for f in fovs[:2]])
    # explicit: qualified names; a store may be all validation (a held-out dataset)
    assert split_pooled_fovs({"a": fovs, "b": ["A/1/0"]}, 0.25, 7, ["b:A/1/0", "a:B/1/1"]) == (
        ["a:A/1/0", "a:A/1/1", "a:B/1/0"],
        ["a:B/1/1", "b:A/1/0"],
    )
    with pytest.raises(
        ValueError,
        match=r"^validation_fovs: expected FOVs qualified by their dataset .*\['a', 'b'\]\), "
        r"found \['A/1/0'\]; e.g. a:A/1/0$",
    ):
        split_pooled_fovs({"a": fovs, "b": fovs}, 0.0, 7, ["A/1/0"])
    with pytest.raises(
        ValueError,
        match=r"^validation_fovs: expected FOVs of the datasets the model trains on \(train_datasets "
        r"\['a', 'b'\]\), found \['c:A/1/0'\]$",
    ):
        split_pooled_fovs({"a": fovs, "b": fovs}, 0.0, 7, ["c:A/1/0"])
    with pytest.raises(ValueError, match=r"\['b:Z/9/9'\] are not in the patch index of dataset 'b'"):
        split_pooled_fovs({"a": fovs, "b": fovs}, 0.0, 7, ["b:Z/9/9"])
    with pytest.raises(ValueError, match=r"dataset .b.: validation_fraction=0\.5 leaves no training FOV"):
        split_pooled_fovs({"a": fovs, "b": ["A/1/0"]}, 0.5, 7)
    with pytest.raises(ValueError, match="no training FOV left"):
        split_pooled_fovs({"a": ["A/1/0"], "b": ["A/1/0"]}, 0.0, 7, ["a:A/1/0", "b:A/1/0"])


# --- the pooled dataset ---------------------------------------------------------------------------


def _synthetic_store(path: Path, n: int, seed: int, shape=(2, 3, 8, 8)) -> np.ndarray:
    patches = np.random.default_rng(seed).normal(size=(n, *shape)).astype(np.float16)
    writer = ShardedRowWriter(
        create_patch_array(zarr.open_group(str(path), mode="w"), n, shape, "float16", 4)
    )
    for patch in patches:
        writer.append(patch)
    writer.close()
    return patches


def test_pooled_dataset_reads_each_global_row_from_its_store(tmp_path):
    first = _synthetic_store(tmp_path / "a.zarr", 5, 0)
    second = _synthetic_store(tmp_path / "b.zarr", 7, 1)
    dataset = PatchDataset([tmp_path / "a.zarr", tmp_path / "b.zarr"])
    assert len(dataset) == 12
    rows = np.asarray([11, 0, 5, 4, 5, 9, 0])  # both stores, repeats, unsorted
    expected = np.concatenate([first, second])[rows].astype(np.float32)
    np.testing.assert_array_equal(dataset.read_rows(rows).numpy(), expected)
    batch = dataset.__getitems__([(4, 5, 11), (6, 0, 3)])
    assert batch.anchor_row.tolist() == [4, 6] and batch.negative is not None
    np.testing.assert_array_equal(batch.positive.numpy(), expected[[2, 1]])
    restored = pickle.loads(pickle.dumps(dataset))  # readers are not pickled: reopened lazily
    assert restored._readers is None and len(restored) == 12
    with pytest.raises(IndexError):
        dataset.read_rows(np.asarray([12]))
    _synthetic_store(tmp_path / "c.zarr", 3, 2, shape=(2, 1, 8, 8))
    with pytest.raises(ValueError, match="different shapes"):
        len(PatchDataset([tmp_path / "a.zarr", tmp_path / "c.zarr"]))


# --- end to end -----------------------------------------------------------------------------------


def test_two_stores_of_different_intervals_train_together(stores, tmp_path):
    config = _config(epochs=1, max_batches_per_epoch=2, max_validation_batches=1, record_sample_rows=True)
    inputs = _inputs(stores["a"], stores["b"], names=("a", "b"))
    outputs = TrainOutputs(checkpoint=tmp_path / "model.ckpt", config=tmp_path / "config.json")
    summary = train_contrastive(config, inputs, outputs, work_dir=tmp_path)
    assert summary["datasets"] == ["a", "b"] and summary["global_step"] == 2
    assert summary["tau_frames"] == {"a": 1, "b": 2} == summary["tau_frames_per_dataset"]
    # each store's two FOVs split apart: one validation FOV per dataset
    assert [f.split(":")[0] for f in summary["validation_fovs"]] == ["a", "b"]
    assert [f.split(":")[0] for f in summary["train_fovs"]] == ["a", "b"]
    a, b = (open_patch_store(s["zarr"], s["parquet"]) for s in (stores["a"], stores["b"]))
    assert summary["n_patches"] == len(a.index) + len(b.index)

    exported = torch.load(tmp_path / "model.ckpt", weights_only=True)
    recorded = [record["path"] for record in exported["dynaclr"]["inputs"]]
    assert recorded == [
        str(stores["a"]["zarr"]),
        str(stores["a"]["parquet"]),
        str(stores["b"]["zarr"]),
        str(stores["b"]["parquet"]),
    ]
    assert exported["hyper_parameters"]["tau_frames"] == {"a": 1, "b": 2}
    module, _ = train_module.load_contrastive_model(tmp_path / "model.ckpt")
    assert module.hparams["tau_frames"] == {"a": 1, "b": 2}

    # positives never cross stores, and are their store's tau (± the tolerance of 1) later
    rows = pd.read_parquet(tmp_path / "logs" / "sample_rows_rank0.parquet")
    t = np.concatenate([a.index["t"].to_numpy(), b.index["t"].to_numpy()])
    in_b = np.arange(len(t)) >= len(a.index)
    anchors, positives = rows["anchor_row"].to_numpy(), rows["positive_row"].to_numpy()
    assert (in_b[anchors] == in_b[positives]).all()
    tau = np.where(in_b[anchors], 2, 1)
    assert (np.abs(t[positives] - t[anchors] - tau) <= 1).all() and (t[positives] > t[anchors]).all()

    # the checkpoint's resume identity covers both stores: another list of stores never resumes it
    last = tmp_path / "checkpoints" / "last.ckpt"
    config_json = config.job_params()  # run keys at their defaults
    both = resume_identity(config_json, [a, b], ["a", "b"])
    assert torch.load(last, weights_only=True)[RESUME_KEY] == both
    assert resumable_checkpoint(last, both) == last
    for other in (resume_identity(config_json, a), resume_identity(config_json, [b, a], ["b", "a"])):
        assert resumable_checkpoint(last, other) is None
    assert resume_identity(config_json, [a], ["a"]) == resume_identity(config_json, a)  # one store: as before


def test_training_never_reads_a_patch_of_an_excluded_fov(stores, tmp_path):
    """training.excluded_fovs: no anchor, positive or negative of any batch comes from them, and they
    are not validation FOVs either (a distillation's held-out FOVs stay unseen by the encoder)."""
    config = _config(
        epochs=1,
        max_batches_per_epoch=2,
        validation_fraction=0.0,
        record_sample_rows=True,
        excluded_fovs=["a:B/1/0", "b:A/1/0"],
    )
    inputs = _inputs(stores["a"], stores["b"], names=("a", "b"))
    outputs = TrainOutputs(checkpoint=tmp_path / "model.ckpt", config=tmp_path / "config.json")
    summary = train_contrastive(config, inputs, outputs, work_dir=tmp_path)
    assert summary["train_fovs"] == ["a:A/1/0", "b:B/1/0"] and summary["validation_fovs"] == []
    a, b = (open_patch_store(s["zarr"], s["parquet"]) for s in (stores["a"], stores["b"]))
    fovs = np.concatenate([("a:" + a.index["fov_name"]).to_numpy(), ("b:" + b.index["fov_name"]).to_numpy()])
    rows = pd.read_parquet(tmp_path / "logs" / "sample_rows_rank0.parquet")
    read = np.concatenate([rows[c].dropna().to_numpy(dtype=np.int64) for c in rows if c.endswith("_row")])
    assert len(read) and set(fovs[read]) <= {"a:A/1/0", "b:B/1/0"}


def test_pooled_training_gives_the_same_weights_for_the_same_seed(stores, tmp_path):
    """Twice: batches augmented on the device in the main process, then in a data-loader worker
    (each worker opens both stores itself)."""
    inputs = _inputs(stores["a"], stores["b"], names=("a", "b"))
    states = []
    for run, (augment_in, workers) in {"device": ("device", 0), "workers": ("workers", 1)}.items():
        out = tmp_path / run
        train_contrastive(
            _config(augment_in=augment_in, num_workers=workers),
            inputs,
            TrainOutputs(checkpoint=out / "model.ckpt", config=out / "config.json"),
            work_dir=out,
            fast_dev_run=True,
        )
        states.append(torch.load(out / "model.ckpt", weights_only=True)["state_dict"])
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])


def test_excluded_fovs_are_neither_trained_nor_validated_on():
    """training.excluded_fovs (e.g. a distillation's held-out FOVs) leave the split: with one store as
    named, with several qualified; unknown names and an exclusion of every FOV are errors."""
    fovs = ["A/1/0", "A/1/1", "B/1/0", "B/1/1"]
    kept = without_excluded_fovs({"a": fovs}, ["A/1/1", "B/1/1"])
    assert kept == {"a": ["A/1/0", "B/1/0"]}
    training, validation = split_pooled_fovs(kept, 0.0, 7)
    assert training == ["A/1/0", "B/1/0"] and validation == []
    assert without_excluded_fovs({"a": fovs}, None) == {"a": fovs}
    pooled = without_excluded_fovs({"a": fovs, "b": fovs[:2]}, ["a:A/1/1", "b:A/1/0", "b:A/1/1"])
    assert pooled == {"a": ["A/1/0", "B/1/0", "B/1/1"], "b": []}  # b kept: the pooled names stay qualified
    training, _ = split_pooled_fovs(pooled, 0.0, 7)
    assert training == ["a:A/1/0", "a:B/1/0", "a:B/1/1"]
    with pytest.raises(ValueError, match=r"excluded_fovs \['Z/9/9'\] name no FOV"):
        without_excluded_fovs({"a": fovs}, ["Z/9/9"])
    with pytest.raises(ValueError, match=r"^excluded_fovs: expected FOVs qualified .*found \['A/1/0'\]"):
        without_excluded_fovs({"a": fovs, "b": fovs}, ["A/1/0"])
    with pytest.raises(ValueError, match=r"^excluded_fovs: expected FOVs of the datasets .*\['c:A/1/0'\]"):
        without_excluded_fovs({"a": fovs, "b": fovs}, ["c:A/1/0"])
    with pytest.raises(ValueError, match="leave no FOV"):
        without_excluded_fovs({"a": fovs[:1]}, ["A/1/0"])


def test_an_unset_exclusion_leaves_the_training_config_as_it_was():
    """excluded_fovs: null is left out of the dump, so the model's params and its checkpoint's config
    hash stay those of a config written before the key existed (nothing retrains on upgrade)."""
    config = ContrastiveModelConfig(patch_spec="p", sampling="classical")
    assert "excluded_fovs" not in config.model_dump(mode="json")
    assert ContrastiveModelConfig.model_validate(config.model_dump(mode="json")) == config
    excluding = config.model_copy(update={"excluded_fovs": ["A/1/1"]})
    assert excluding.model_dump(mode="json")["excluded_fovs"] == ["A/1/1"]
