"""Contrastive sampling: time-aware positives through divisions, negatives, lineage-unique batches,
FOV split, DDP sharding and per-epoch reshuffling."""

from __future__ import annotations

import logging
import pickle
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from lightning.fabric.utilities.data import _set_sampler_epoch
from pydantic import ValidationError
from torch.utils.data import DataLoader

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.training.data import PatchDataModule
from dynaclr.training.sampling import (
    ContrastiveBatchSampler,
    PairPlanner,
    PlannedBatch,
    descendant_pairs,
    lineage_unique_batches,
    split_fovs,
)
from dynaclr.training.train import check_tau_fits


def _index() -> pd.DataFrame:
    """Two FOVs, 10 frames. FOV A/1/0: track 1 divides into 2 and 3 after frame 4; track 4 is
    missing at frame 6; tracks 5..12 are single cells. FOV A/1/1: tracks 1..10 (lineages collide
    in number with A/1/0 but are other cells)."""
    rows = [("A/1/0", 1, -1, t) for t in range(5)]
    rows += [("A/1/0", d, 1, t) for d in (2, 3) for t in range(5, 10)]
    rows += [("A/1/0", 4, -1, t) for t in range(10) if t != 6]
    rows += [("A/1/0", k, -1, t) for k in range(5, 13) for t in range(10)]
    rows += [("A/1/1", k, -1, t) for k in range(1, 11) for t in range(10)]
    index = pd.DataFrame(rows, columns=["fov_name", "track_id", "parent_track_id", "t"])
    index["lineage_id"] = np.where(index["parent_track_id"] >= 0, index["parent_track_id"], index["track_id"])
    index = index.sort_values(["fov_name", "t", "track_id"], ignore_index=True)
    index["row"] = np.arange(len(index))
    return index


INDEX = _index()
ALL_ROWS = INDEX["row"].to_numpy()


def _row(fov: str, track: int, t: int) -> int:
    hit = INDEX[(INDEX["fov_name"] == fov) & (INDEX["track_id"] == track) & (INDEX["t"] == t)]
    assert len(hit) == 1
    return int(hit["row"].iloc[0])


def _lineage_key(row: int) -> tuple[str, int]:
    return INDEX.at[row, "fov_name"], int(INDEX.at[row, "lineage_id"])


def test_descendants_include_self_and_daughters():
    pairs = descendant_pairs(INDEX[INDEX["fov_name"] == "A/1/0"])
    of_one = set(pairs.loc[pairs["track_id"] == 1, "descendant_track_id"])
    assert of_one == {1, 2, 3}
    assert set(pairs.loc[pairs["track_id"] == 2, "descendant_track_id"]) == {2}


@pytest.mark.parametrize("tau", [1, 3])
def test_time_aware_positive_is_same_lineage_tau_later(tau):
    planner = PairPlanner(INDEX, ALL_ROWS, "time_aware", tau_frames=tau, tolerance_frames=0)
    rng = np.random.default_rng(0)
    positives = planner.positives(planner.anchors, rng)
    for anchor, positive in zip(planner.anchors, positives, strict=True):
        assert _lineage_key(anchor) == _lineage_key(positive)
        assert INDEX.at[positive, "t"] == INDEX.at[anchor, "t"] + tau
    # anchors near the end of the movie have no positive and are not anchors
    assert INDEX.loc[planner.anchors, "t"].max() == 9 - tau


def test_time_aware_positive_follows_the_lineage_through_a_division():
    planner = PairPlanner(INDEX, ALL_ROWS, "time_aware", tau_frames=1, tolerance_frames=0)
    mother_last = _row("A/1/0", 1, 4)
    rng = np.random.default_rng(0)
    picks = {int(planner.positives(np.array([mother_last]), rng)[0]) for _ in range(50)}
    assert picks == {_row("A/1/0", 2, 5), _row("A/1/0", 3, 5)}  # either daughter, both drawn
    # a daughter's positive stays on the daughter, never jumps to its sister
    daughter = _row("A/1/0", 2, 6)
    assert planner.positives(np.array([daughter]), rng)[0] == _row("A/1/0", 2, 7)


def test_time_aware_tolerance_bridges_a_missing_frame():
    before_gap = _row("A/1/0", 4, 5)  # track 4 is missing at t=6
    strict = PairPlanner(INDEX, ALL_ROWS, "time_aware", tau_frames=1, tolerance_frames=0)
    assert before_gap not in set(strict.anchors)
    tolerant = PairPlanner(INDEX, ALL_ROWS, "time_aware", tau_frames=1, tolerance_frames=1)
    assert before_gap in set(tolerant.anchors)
    assert tolerant.positives(np.array([before_gap]), np.random.default_rng(0))[0] == _row("A/1/0", 4, 7)
    # an exact match is preferred over the tolerance
    assert tolerant.positives(np.array([_row("A/1/0", 4, 2)]), np.random.default_rng(0))[0] == _row(
        "A/1/0", 4, 3
    )


@pytest.mark.parametrize("sampling", ["cell_aware", "time_aware"])
def test_negatives_are_other_lineages_at_the_positive_time(sampling):
    planner = PairPlanner(INDEX, ALL_ROWS, sampling, tau_frames=2, tolerance_frames=1, with_negatives=True)
    rng = np.random.default_rng(1)
    samples = planner.plan(planner.anchors, rng)
    for anchor, positive, negative in samples:
        assert negative >= 0
        assert _lineage_key(negative) != _lineage_key(anchor)
        assert INDEX.at[negative, "t"] == INDEX.at[positive, "t"]
        if sampling == "cell_aware":
            assert positive == anchor


@pytest.mark.parametrize("sampling", ["cell_aware", "time_aware"])
def test_negatives_at_any_time_are_other_lineages_at_many_times(sampling):
    planner = PairPlanner(
        INDEX, ALL_ROWS, sampling, tau_frames=2, tolerance_frames=1, with_negatives=True, negative_time="any"
    )
    samples = planner.plan(planner.anchors, np.random.default_rng(3))
    offsets = []
    for anchor, positive, negative in samples:
        assert negative >= 0
        assert _lineage_key(negative) != _lineage_key(anchor)
        offsets.append(INDEX.at[negative, "t"] - INDEX.at[positive, "t"])
    # not tied to the positive's frame: negatives fall before, at and after it
    assert min(offsets) < 0 < max(offsets)
    assert sum(offset == 0 for offset in offsets) < len(offsets) / 2


def test_negative_time_any_fails_when_only_one_lineage_is_left():
    one_lineage = INDEX.loc[(INDEX["fov_name"] == "A/1/0") & (INDEX["lineage_id"] == 1), "row"].to_numpy()
    planner = PairPlanner(INDEX, one_lineage, "cell_aware", with_negatives=True, negative_time="any")
    with pytest.raises(ValueError, match="every patch belongs to the anchor's lineage"):
        planner.plan(planner.anchors[:2], np.random.default_rng(0))
    with pytest.raises(ValueError, match="negative_time must be"):
        PairPlanner(INDEX, ALL_ROWS, "cell_aware", negative_time="later")  # type: ignore[arg-type]


def test_negative_time_defaults_to_the_papers_definition():
    def resolved(**fields):
        return ContrastiveModelConfig(patch_spec="p", loss="triplet", **fields).resolved_negative_time

    assert resolved(sampling="cell_aware") == "any"
    assert resolved(sampling="time_aware", tau_frames=1) == "same"
    assert resolved(sampling="classical") == "any"
    assert resolved(sampling="cell_aware", negative_time="same") == "same"
    assert resolved(sampling="time_aware", tau_frames=1, negative_time="any") == "any"
    with pytest.raises(ValidationError, match="negative_time: same needs tracking"):
        ContrastiveModelConfig(patch_spec="p", sampling="classical", negative_time="same")


def test_negative_time_under_the_ntxent_loss_is_refused():
    """negative_time chooses the triplet loss's explicit negatives: under NT-Xent none are drawn
    (training/data.py plans negatives only for the triplet loss), so 'same' or 'any' was accepted,
    retrained the model (its params differ) and changed nothing; it is refused naming what to do."""
    for value in ("same", "any"):
        with pytest.raises(
            ValidationError, match=r"negative_time: expected null with loss ntxent.*found"
        ) as info:
            ContrastiveModelConfig(patch_spec="p", sampling="cell_aware", loss="ntxent", negative_time=value)
        assert f"found {value!r}; remove negative_time or set loss: triplet" in str(info.value)
    ContrastiveModelConfig(patch_spec="p", sampling="cell_aware", loss="ntxent")
    ContrastiveModelConfig(patch_spec="p", sampling="cell_aware", loss="triplet", negative_time="same")


def test_classical_positive_is_the_anchor_and_negative_any_other_patch():
    planner = PairPlanner(INDEX, ALL_ROWS, "classical", with_negatives=True)
    samples = planner.plan(planner.anchors, np.random.default_rng(0))
    assert all(a == p != n for a, p, n in samples)
    assert (
        PairPlanner(INDEX, ALL_ROWS, "classical").plan(planner.anchors[:3], np.random.default_rng(0))[0][2]
        == -1
    )


def test_lineage_unique_batches_hold_distinct_lineages():
    lineages = np.array([0, 0, 0, 0, 1, 1, 2, 3, 4, 5])
    batches = lineage_unique_batches(np.arange(10), lineages, batch_size=3)
    assert len(batches) >= 2
    for batch in batches:
        assert len(batch) == 3 and len(set(lineages[batch])) == 3


@pytest.mark.parametrize("sampling", ["cell_aware", "time_aware"])
def test_ntxent_batches_never_repeat_a_lineage(sampling):
    planner = PairPlanner(INDEX, ALL_ROWS, sampling, tau_frames=1, tolerance_frames=1)
    sampler = ContrastiveBatchSampler(planner, batch_size=8, lineage_unique=True, seed=0)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) > 5
        for batch in batches:
            keys = [_lineage_key(anchor) for anchor, _, _ in batch]
            assert len(batch) == 8 and len(set(keys)) == 8
    # without the constraint, random batches do repeat lineages (the test can fail)
    free = ContrastiveBatchSampler(planner, batch_size=8, lineage_unique=False, seed=0)
    assert any(len({_lineage_key(a) for a, _, _ in batch}) < 8 for batch in free)


def _uneven_lineages() -> pd.DataFrame:
    """One FOV of 12 single-cell lineages seen for 2, 4, ..., 24 frames: their anchors cut into
    lineage-unique batches of 8 give each epoch's order its own count (18, 17, 17, 17 for seed 0)."""
    rows = [("A/1/0", k, -1, t) for k in range(1, 13) for t in range(2 * k)]
    index = pd.DataFrame(rows, columns=["fov_name", "track_id", "parent_track_id", "t"])
    index["lineage_id"] = index["track_id"]
    index = index.sort_values(["fov_name", "t", "track_id"], ignore_index=True)
    index["row"] = np.arange(len(index))
    return index


def test_lineage_unique_epochs_all_yield_the_fewest_batches_any_epoch_forms(caplog):
    """Lightning counts an epoch's batches once, from epoch 0, and a resume finds its batch from the
    step: with ``epochs`` every epoch yields the same batches, the fewest any of them forms (the
    first ones of its own cut), and says so in ``len``."""
    index = _uneven_lineages()
    planner = PairPlanner(index, index["row"].to_numpy(), "cell_aware")
    epochs = 4
    own = ContrastiveBatchSampler(planner, 8, True, seed=0)  # each epoch the batches it forms
    formed = []
    for epoch in range(epochs):
        own.set_epoch(epoch)
        formed.append(list(own))
    counts = [len(batches) for batches in formed]
    assert len(set(counts)) > 1, counts  # the data makes the epochs differ
    fixed = ContrastiveBatchSampler(planner, 8, True, seed=0, epochs=epochs)
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        assert fixed.batches_per_epoch == min(counts)
    left_out = sum(counts) - epochs * min(counts)
    assert fixed.batches_left_out == left_out > 0  # formed, never trained: said and recorded
    assert any(f"leaving out {left_out} batches" in r.getMessage() for r in caplog.records)
    for epoch in range(epochs):
        fixed.set_epoch(epoch)
        batches = list(fixed)
        assert len(fixed) == len(batches) == min(counts)
        assert batches == formed[epoch][: min(counts)]
    capped = ContrastiveBatchSampler(planner, 8, True, seed=0, epochs=epochs, max_batches=min(counts) - 2)
    assert capped.batches_per_epoch == min(counts) - 2  # the cap below every epoch's count
    validation = ContrastiveBatchSampler(planner, 8, True, seed=0, shuffle=False, epochs=epochs)
    assert validation.batches_per_epoch is None  # one order every epoch: nothing to even out
    assert validation.batches_left_out == own.batches_left_out == 0


def test_samplers_are_deterministic_for_a_seed():
    planner = PairPlanner(
        INDEX, ALL_ROWS, "time_aware", tau_frames=2, tolerance_frames=1, with_negatives=True
    )
    first = list(ContrastiveBatchSampler(planner, 6, True, seed=5))
    second = list(ContrastiveBatchSampler(planner, 6, True, seed=5))
    other = list(ContrastiveBatchSampler(planner, 6, True, seed=6))
    assert first == second and first != other


@pytest.mark.parametrize("lineage_unique", [True, False])
def test_ddp_ranks_see_disjoint_samples_and_epochs_reshuffle(lineage_unique):
    planner = PairPlanner(INDEX, ALL_ROWS, "time_aware", tau_frames=1, tolerance_frames=1)
    ranks = [
        ContrastiveBatchSampler(planner, 4, lineage_unique, seed=0, rank=rank, world_size=2)
        for rank in (0, 1)
    ]
    orders = []
    for epoch in (0, 1):
        for sampler in ranks:
            sampler.set_epoch(epoch)
        per_rank = [list(sampler) for sampler in ranks]
        assert len(per_rank[0]) == len(per_rank[1]) == len(ranks[0]) > 0  # same number of steps
        anchors = [{a for batch in batches for a, _, _ in batch} for batches in per_rank]
        assert anchors[0].isdisjoint(anchors[1])
        for batch_0, batch_1 in zip(*per_rank, strict=True):
            assert len(batch_0) == len(batch_1) == 4
            if lineage_unique:  # the gathered global batch has no false negatives either
                keys = [_lineage_key(a) for a, _, _ in batch_0 + batch_1]
                assert len(set(keys)) == 8
        orders.append([a for batch in per_rank[0] for a, _, _ in batch])
    assert orders[0] != orders[1]


def test_lightning_set_epoch_reaches_the_batch_sampler():
    planner = PairPlanner(INDEX, ALL_ROWS, "cell_aware")
    sampler = ContrastiveBatchSampler(planner, 4, True, seed=0)
    loader = DataLoader(range(len(INDEX)), batch_sampler=sampler, collate_fn=lambda batch: batch)
    before = list(sampler)
    _set_sampler_epoch(loader, 3)  # what Lightning's fit and validation loops call
    assert sampler.sampler.epoch == 3 and list(sampler) != before
    validation = ContrastiveBatchSampler(planner, 4, True, seed=0, shuffle=False)
    fixed = list(validation)
    validation.set_epoch(7)
    assert list(validation) == fixed


def test_batches_carry_augmentation_seeds_per_epoch_batch_and_rank():
    planner = PairPlanner(INDEX, ALL_ROWS, "time_aware", tau_frames=1, tolerance_frames=1)

    def seeds(sampler: ContrastiveBatchSampler, epoch: int) -> list[int]:
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert all(isinstance(batch, PlannedBatch) for batch in batches)
        return [batch.augment_seed for batch in batches]

    train = [ContrastiveBatchSampler(planner, 4, True, seed=0, rank=rank, world_size=2) for rank in (0, 1)]
    first = seeds(train[0], 0)
    assert len(set(first)) == len(first)  # batches of an epoch differ
    assert seeds(ContrastiveBatchSampler(planner, 4, True, seed=0, rank=0, world_size=2), 0) == first
    assert set(seeds(train[0], 1)).isdisjoint(first)  # a new epoch, new augmentations
    assert set(seeds(train[1], 0)).isdisjoint(first)  # other rank, other augmentations
    other_seed = ContrastiveBatchSampler(planner, 4, True, seed=1, rank=0, world_size=2)
    assert set(seeds(other_seed, 0)).isdisjoint(first)
    validation = ContrastiveBatchSampler(planner, 4, True, seed=0, shuffle=False)
    assert seeds(validation, 0) == seeds(validation, 5)  # the same augmentations every epoch
    # a plain list otherwise, and the seed survives pickling (the trip to a data-loader worker)
    batch = next(iter(train[0]))
    copy = pickle.loads(pickle.dumps(batch))
    assert copy == list(batch) and copy.augment_seed == batch.augment_seed
    assert all(0 <= seed < 2**63 for seed in first)


def test_no_anchor_says_whether_tau_or_the_linking_is_at_fault():
    """A tau longer than every lineage asks for a smaller tau; single-frame tracks (never linked) name
    the linking, since no tau would help."""
    longest = r"longest lineage spans 9 frames \(20 lineages\); use a smaller tau"
    with pytest.raises(ValueError, match=longest):
        PairPlanner(INDEX, ALL_ROWS, "time_aware", tau_frames=12)
    unlinked = INDEX.copy()
    unlinked["track_id"] = np.arange(len(unlinked))
    unlinked["parent_track_id"] = -1
    unlinked["lineage_id"] = unlinked["track_id"]
    never_linked = r"no lineage spans two frames .*check the tracking's linking"
    with pytest.raises(ValueError, match=never_linked) as error:
        PairPlanner(unlinked, ALL_ROWS, "time_aware", tau_frames=1)
    assert "smaller tau" not in str(error.value)


def test_too_few_lineages_for_a_batch_says_what_to_do():
    planner = PairPlanner(INDEX, INDEX.loc[INDEX["fov_name"] == "A/1/1", "row"].to_numpy(), "cell_aware")
    fix = r"has 10; set contrastive_models.<model>.training.batch_size to at most 5, or set"
    with pytest.raises(ValueError, match=r"needs 12 lineages.*" + fix):
        ContrastiveBatchSampler(planner, 6, True, seed=0, world_size=2)
    # the value it names fits
    assert ContrastiveBatchSampler(planner, 5, True, seed=0, world_size=2).global_batches()


def test_too_few_anchors_for_a_batch_names_the_key_and_the_largest_batch():
    """A small plate of one's own met the default batch_size (64) at training, after phase, tracking
    and patches had run, and was told "lower batch_size" with no key (embeddings and distillation have
    one too) and no value. The message names the model's key and the largest batch that fits; with
    too few anchors for any batch, more cells."""
    rows = INDEX.loc[INDEX["fov_name"] == "A/1/1", "row"].to_numpy()
    planner = PairPlanner(INDEX, rows, "classical")
    n = len(planner.anchors)
    with pytest.raises(ValueError) as error:
        ContrastiveBatchSampler(planner, n + 1, False, seed=0)
    assert str(error.value) == (
        f"{n} anchors (training patches with a positive) cannot fill one global batch of {n + 1} x 1 "
        f"rank(s); set contrastive_models.<model>.training.batch_size to at most {n}"
    )
    # the value it names fits
    assert len(ContrastiveBatchSampler(planner, n, False, seed=0).global_batches()) == 1
    # one patch per lineage (time-aware's default): the largest batch is the lineages', which the
    # anchors' message names too (the user's next try then fails no second check)
    lineages = len(np.unique(planner.lineage[planner.anchors]))
    assert lineages < n
    with pytest.raises(ValueError, match=rf"at most {lineages}$"):
        ContrastiveBatchSampler(planner, n + 1, True, seed=0)
    assert ContrastiveBatchSampler(planner, lineages, True, seed=0).global_batches()
    few = PairPlanner(INDEX, rows[:3], "classical")
    with pytest.raises(ValueError, match=r"train on more cells or FOVs \(a batch needs at least 2 anchors"):
        ContrastiveBatchSampler(few, 2, False, seed=0, world_size=2)


def test_fov_split_is_deterministic():
    fovs = [f"{row}/{col}/{fov}" for row in "AB" for col in "12" for fov in range(3)]
    first = split_fovs(fovs, 0.25, seed=0)
    assert first == split_fovs(list(reversed(fovs)), 0.25, seed=0)
    assert len(first[1]) == 3 and set(first[0]).isdisjoint(first[1]) and len(first[0]) + 3 == 12
    assert any(split_fovs(fovs, 0.25, seed=s)[1] != first[1] for s in range(1, 5))
    assert split_fovs(fovs, 0.25, seed=0, validation_fovs=["B/2/1"])[1] == ["B/2/1"]
    assert split_fovs(["A/1/0", "A/1/1"], 0.0, seed=0) == (["A/1/0", "A/1/1"], [])
    with pytest.raises(ValueError, match="not in the patch index"):
        split_fovs(fovs, 0.25, seed=0, validation_fovs=["Z/9/9"])
    with pytest.raises(ValueError, match="leaves no training FOV"):
        split_fovs(["A/1/0"], 0.5, seed=0)


def test_model_config_validation():
    with pytest.raises(ValidationError, match="exactly one of tau_frames or tau_minutes"):
        ContrastiveModelConfig(patch_spec="p", sampling="time_aware")
    with pytest.raises(ValidationError, match="only used by time_aware"):
        ContrastiveModelConfig(patch_spec="p", sampling="classical", tau_frames=1)
    with pytest.raises(ValidationError, match="extra"):
        ContrastiveModelConfig.model_validate({"patch_spec": "p", "sampling": "classical", "lr": 1.0})
    config = ContrastiveModelConfig(patch_spec="p", sampling="time_aware", tau_minutes=60)
    assert config.uses_lineage_unique_batches
    assert not ContrastiveModelConfig(patch_spec="p", sampling="classical").uses_lineage_unique_batches
    triplet = ContrastiveModelConfig(patch_spec="p", sampling="cell_aware", loss="triplet")
    assert not triplet.uses_lineage_unique_batches


def test_a_tau_in_minutes_not_a_whole_number_of_frames_is_refused_by_the_training_cli() -> None:
    """Called directly (not through the dry run), training rounded tau_minutes to frames with only a
    warning: half an interval trained at one frame, twice the tau asked for. It raises, as the dry run
    refuses it; a tau within 10 % of a frame is that frame."""
    from dynaclr.training.train import resolve_tau_frames

    def tau(minutes: float) -> int:
        config = ContrastiveModelConfig(patch_spec="p", sampling="time_aware", tau_minutes=minutes)
        return resolve_tau_frames(config, 20.0, "store.zarr")

    assert (tau(20), tau(21), tau(60)) == (1, 1, 3)
    for minutes, frames, advised in ((10, "0.5", "20"), (30, "1.5", "20 or 40"), (4, "0.2", "20")):
        with pytest.raises(ValueError) as info:
            tau(minutes)
        assert str(info.value) == (
            f"store.zarr: tau_minutes: expected a whole number of the 20 min frames, within 10% of one "
            f"frame interval, found {minutes} min = {frames} frames; use {advised}, or tau_frames"
        )


def _data_module(index: pd.DataFrame, held_out: list[str], **training) -> PatchDataModule:
    config = ContrastiveModelConfig.model_validate(
        {"patch_spec": "tiny", "sampling": "time_aware", "tau_frames": 1, "batch_size": 4, **training}
    )
    train_fovs = sorted(set(index["fov_name"]) - set(held_out))
    return PatchDataModule("patches.zarr", index, config, 1, train_fovs, held_out)


def test_validation_fovs_without_anchors_are_named_as_the_validation_split():
    """The validation FOVs (drawn by validation_fraction, or listed) hold cells, but none a time-aware
    positive can be drawn for (tracks of one frame: the cells left, or were not linked there), while
    the training FOVs train. Training failed, after every stage before it, with the pair planner's
    message alone ("no usable anchors among 100 patches ... check the tracking's linking"), which
    named neither the validation split nor what to set; it now names both."""
    index = INDEX.copy()
    held_out = index["fov_name"] == "A/1/1"
    index.loc[held_out, "track_id"] = np.arange(held_out.sum())  # every cell seen in one frame
    index.loc[held_out, "lineage_id"] = index.loc[held_out, "track_id"]
    data = _data_module(index, ["A/1/1"])
    with pytest.raises(ValueError) as error:
        data.setup("fit")
    message = str(error.value)
    assert message.startswith("validation FOVs ['A/1/1']: no usable anchors among 100 patches")
    assert "no lineage spans two frames" in message
    assert message.endswith(
        "; list contrastive_models.<model>.training.validation_fovs naming FOVs whose cells give "
        "anchors, or set contrastive_models.<model>.training.validation_fraction: 0 to train without "
        "validation"
    )
    assert data.train_sampler is not None and data.train_sampler.global_batches()  # training FOVs fit
    # the same FOV with tracks trains and validates
    _data_module(INDEX, ["A/1/1"]).setup("fit")


@pytest.mark.parametrize("listed", [True, False], ids=["listed", "drawn_by_fraction"])
def test_validation_fovs_too_small_for_a_batch_say_what_to_set(listed):
    """Validation FOVs with one anchor (one lineage) cannot fill the batch of 2 a loss needs. Where
    validation_fraction drew them, a larger fraction may hold out enough: that advice is given again
    (probe13 had dropped it); listed FOVs are not changed by the fraction, so it is not given there."""
    index = INDEX[(INDEX["fov_name"] == "A/1/0") | (INDEX["track_id"] == 1)].copy()
    index["row"] = np.arange(len(index))
    index = index.reset_index(drop=True)
    listing = {"validation_fovs": ["A/1/1"]} if listed else {}
    with pytest.raises(ValueError) as error:
        _data_module(index, ["A/1/1"], **listing).setup("fit")
    key = "contrastive_models.<model>.training"
    fraction = "" if listed else f"set a larger {key}.validation_fraction (now 0.25), "
    assert str(error.value) == (
        f"validation FOVs ['A/1/1'] cannot fill a batch of 2 per rank (1 lineage(s) with anchors); {fraction}"
        f"list {key}.validation_fovs naming FOVs whose cells give anchors, or set "
        f"{key}.validation_fraction: 0 to train without validation"
    )


def test_a_validation_planner_error_other_than_no_anchors_gets_no_anchors_advice(monkeypatch):
    """Only the planner's no-anchors error is a matter of which FOVs validate; any other (a fake one
    here) is named as the validation split's, without advice on its FOVs."""
    planner = PatchDataModule._planner

    def failing(self: PatchDataModule, fovs: list[str]) -> PairPlanner:
        if fovs == self.validation_fovs:
            raise ValueError("classical sampling with negatives needs at least two patches")
        return planner(self, fovs)

    monkeypatch.setattr(PatchDataModule, "_planner", failing)
    with pytest.raises(ValueError) as error:
        _data_module(INDEX, ["A/1/1"]).setup("fit")
    assert str(error.value) == (
        "validation FOVs ['A/1/1']: classical sampling with negatives needs at least two patches"
    )


def _own_lineage_ids() -> pd.DataFrame:
    """A tracks table of one's own giving each track its own lineage_id: track 1 divides into 2 and 3
    after frame 4, their lineage_ids 1, 2, 3 (the parent links say one lineage); tracks 4..7 single
    cells."""
    rows = [("A/1/0", 1, -1, t) for t in range(5)]
    rows += [("A/1/0", d, 1, t) for d in (2, 3) for t in range(5, 10)]
    rows += [("A/1/0", k, -1, t) for k in range(4, 8) for t in range(10)]
    index = pd.DataFrame(rows, columns=["fov_name", "track_id", "parent_track_id", "t"])
    index["lineage_id"] = index["track_id"]
    index = index.sort_values(["fov_name", "t", "track_id"], ignore_index=True)
    index["row"] = np.arange(len(index))
    return index


def test_lineage_ids_that_ignore_parent_links_are_joined_with_the_parents_lineage():
    """Time-aware positives follow parent_track_id from a mother into her daughters; lineages (the
    negatives, lineage-unique batches) came from lineage_id alone, so with per-track lineage_ids a
    mother's triplet negative was her own daughter and a batch held a mother and a daughter."""
    index = _own_lineage_ids()
    track = index["track_id"].to_numpy()
    family = np.isin(track, [1, 2, 3])
    planner = PairPlanner(index, index["row"].to_numpy(), "time_aware", tau_frames=1, with_negatives=True)
    assert len(set(planner.lineage[family])) == 1
    rng = np.random.default_rng(0)
    mother = planner.anchors[track[planner.anchors] == 1]
    for _ in range(50):
        positives = planner.positives(mother, rng)
        assert not family[planner.negatives(mother, positives, rng)].any()
    sampler = ContrastiveBatchSampler(planner, 4, True, seed=0, epochs=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert family[[anchor for anchor, _, _ in batch]].sum() <= 1


def test_lineage_codes_join_lineage_ids_through_parent_links():
    from dynaclr.training.sampling import lineage_codes

    index = _own_lineage_ids()
    track = index["track_id"].to_numpy()
    family = np.isin(track, [1, 2, 3])
    codes, disagreeing = lineage_codes(index)
    assert disagreeing == 2 and len(set(codes[family])) == 1  # mother and daughters: one lineage
    assert codes[family][0] not in set(codes[~family])
    assert len(set(codes[~family])) == 4  # the single cells stay their own lineages
    # an index whose lineage_id follows the links keeps its (fov_name, lineage_id) lineages
    consistent, none = lineage_codes(INDEX)
    assert none == 0
    assert pd.Series(consistent).groupby([INDEX["fov_name"], INDEX["lineage_id"]]).nunique().eq(1).all()
    assert len(set(consistent)) == len(INDEX.drop_duplicates(["fov_name", "lineage_id"]))


def test_tau_fits_a_lineage_joined_through_parent_links(tmp_path):
    """Each track spans 4 frames, the lineage 1 -> 2, 3 spans 9: tau = 7 has anchors (the mother's
    first frames, positives in her daughters), so it is not refused as longer than every lineage."""
    index = _own_lineage_ids()
    index = index[index["track_id"] <= 3].reset_index(drop=True)
    index["row"] = np.arange(len(index))
    check_tau_fits(index, 7, 0, tmp_path / "patches.parquet")
    assert len(PairPlanner(index, index["row"].to_numpy(), "time_aware", tau_frames=7).anchors) == 3
    with pytest.raises(ValueError, match="longer than every lineage"):
        check_tau_fits(index, 10, 0, tmp_path / "patches.parquet")


def test_training_warns_naming_the_index_whose_lineage_ids_are_joined(tmp_path, caplog):
    from dynaclr.training.train import _warn_lineages_joined

    store = SimpleNamespace(index=_own_lineage_ids(), parquet_path=tmp_path / "patches.parquet")
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        _warn_lineages_joined(store)  # type: ignore[arg-type]
    assert any(
        str(tmp_path / "patches.parquet") in r.getMessage() and "lineage_id of 2 track(s)" in r.getMessage()
        for r in caplog.records
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dynaclr"):
        _warn_lineages_joined(SimpleNamespace(index=INDEX, parquet_path=tmp_path / "p"))  # type: ignore[arg-type]
    assert not caplog.records
