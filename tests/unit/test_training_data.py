"""Tests for batched patch-store reads (PatchRowReader, PatchDataset.read_rows / __getitems__).

Stores are written by the store's own writer (small shards, a partial last shard, an all-zero
patch that zarr does not store) and read batch-wise; every read is compared with plain per-row
zarr reads in the requested order. Batches augmented in data-loader workers are compared with the
same batches augmented afterwards (what the module does on the training device).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from torch.utils.data import DataLoader

from dynaclr.contrastive.augment import BatchAugmentation
from dynaclr.io import ArtifactError
from dynaclr.patches.store import PATCH_ARRAY, PatchRowReader, ShardedRowWriter, create_patch_array
from dynaclr.training.data import PatchDataset, _keep_batch, augment_batch, augmentation_generator
from dynaclr.training.sampling import PlannedBatch

N_PATCHES = 11
SHAPE_CZYX = (2, 3, 8, 8)


def _patches() -> np.ndarray:
    """11 float16 patches; patch 6 is all zeros (zarr stores no chunk for it)."""
    patches = np.random.default_rng(0).normal(size=(N_PATCHES, *SHAPE_CZYX)).astype(np.float16)
    patches[6] = 0
    return patches


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A store in the layout ``create_patch_array`` writes, in shards of 4 patches (the last of 3)."""
    path, patches = tmp_path_factory.mktemp("store") / "store.zarr", _patches()
    writer = ShardedRowWriter(
        create_patch_array(zarr.open_group(str(path), mode="w"), N_PATCHES, SHAPE_CZYX, "float16", 4)
    )
    for patch in patches:
        writer.append(patch)
    writer.close()
    return path, patches


@pytest.fixture(scope="module")
def other_layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """The same patches in a layout the direct reader does not handle (unsharded, uncompressed)."""
    path, patches = tmp_path_factory.mktemp("other") / "store.zarr", _patches()
    group = zarr.open_group(str(path), mode="w")
    group.create_array(PATCH_ARRAY, data=patches, chunks=(2, *SHAPE_CZYX), compressors=None)
    return path, patches


def _per_row(path: Path, rows: list[int]) -> np.ndarray:
    """The reference: one default zarr read per requested row, in the requested order."""
    array = zarr.open_group(str(path), mode="r")[PATCH_ARRAY]
    assert isinstance(array, zarr.Array)
    return np.stack([np.asarray(array[row]) for row in rows]).astype(np.float32)


ROWS = [
    [7, 2, 7, 10, 0, 2, 6, 5, 7],  # repeats, unsorted, across shards, the absent chunk
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],  # sorted and distinct
    [10, 9, 8],  # the partial last shard, reversed
    [3],
]


@pytest.mark.parametrize("layout", ["store", "other_layout"])
@pytest.mark.parametrize("rows", ROWS)
def test_batched_read_equals_per_row_reads_in_the_requested_order(request, layout, rows):
    path, patches = request.getfixturevalue(layout)
    dataset = PatchDataset(path)
    got = dataset.read_rows(np.asarray(rows))
    assert PatchRowReader(path).direct == (layout == "store")  # both read paths are exercised
    assert got.dtype == torch.float32 and got.shape == (len(rows), *SHAPE_CZYX) and got.is_contiguous()
    expected = _per_row(path, rows)
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(expected, patches[rows].astype(np.float32))  # the reference is right


def test_reader_returns_distinct_rows_in_the_given_order_and_checks_bounds(store):
    path, patches = store
    reader = PatchRowReader(path)
    rows = np.array([9, 0, 6, 4, 3])
    got = reader.read(rows)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, patches[rows])
    assert reader.read(np.array([], dtype=np.int64)).shape == (0, *SHAPE_CZYX)
    with pytest.raises(IndexError, match=r"\[0, 11\)"):
        reader.read(np.array([3, 11]))


def test_corrupt_shard_index_is_reported(store, tmp_path):
    import shutil

    path, _ = store
    copy = tmp_path / "store.zarr"
    shutil.copytree(path, copy)
    from dynaclr.patches.store import _shard_path

    shard = _shard_path(PatchRowReader(copy).array, 1)
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF  # a byte of the index (the last 16 * 4 + 4 bytes)
    shard.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="shard index"):
        PatchRowReader(copy).read(np.array([5]))


def test_getitems_splits_anchor_positive_negative(store):
    path, _ = store
    samples = [(3, 4, 9), (4, 3, 0), (10, 10, 6)]  # repeated rows within and across samples
    batch = PatchDataset(path).__getitems__(samples)
    for column, name in enumerate(("anchor", "positive", "negative")):
        rows = [sample[column] for sample in samples]
        np.testing.assert_array_equal(getattr(batch, name).numpy(), _per_row(path, rows))
        np.testing.assert_array_equal(getattr(batch, f"{name}_row").numpy(), rows)
    without = PatchDataset(path).__getitems__([(1, 2, -1), (2, 1, -1)])
    assert without.negative is None
    np.testing.assert_array_equal(without.positive.numpy(), _per_row(path, [2, 1]))
    np.testing.assert_array_equal(without.negative_row.numpy(), [-1, -1])


def test_dataset_reopens_after_pickling(store):
    path, patches = store
    dataset = PatchDataset(path)
    assert len(dataset) == N_PATCHES  # opens the store
    copy = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(copy.read_rows(np.array([5])).numpy(), patches[[5]].astype(np.float32))


def test_workers_forked_after_reads_in_the_main_process_read_the_same_batches(store):
    path, patches = store
    dataset = PatchDataset(path)
    dataset.read_rows(np.arange(N_PATCHES))  # the main process reads first, then forks the workers
    plan = [[(0, 5, -1), (5, 0, -1)], [(10, 6, -1), (3, 3, -1)], [(1, 2, -1), (9, 8, -1)]]
    loader = DataLoader(
        dataset, batch_sampler=plan, collate_fn=lambda batch: batch, num_workers=2, timeout=60
    )
    for samples, batch in zip(plan, loader, strict=True):
        rows = np.asarray(samples)
        np.testing.assert_array_equal(batch.anchor.numpy(), patches[rows[:, 0]].astype(np.float32))
        np.testing.assert_array_equal(batch.positive.numpy(), patches[rows[:, 1]].astype(np.float32))
        np.testing.assert_array_equal(batch.anchor_row.numpy(), rows[:, 0])


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as in data-loader workers
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_augmented_where_read_equal_batches_augmented_after_and_ignore_workers(
    store, workers, one_thread
):
    path, _ = store
    augmentation = BatchAugmentation(output_size_yx=(6, 6))
    plan = [
        PlannedBatch([(0, 5, 9), (5, 0, 2), (3, 3, 1)], augment_seed=11),
        PlannedBatch([(10, 6, 4), (3, 3, 0), (1, 2, 8)], augment_seed=12),
        PlannedBatch([(1, 2, -1), (9, 8, -1)], augment_seed=2**63 - 2),
        PlannedBatch([(1, 2, -1), (9, 8, -1)], augment_seed=13),  # same samples, other seed
    ]
    loader = DataLoader(
        PatchDataset(path, augmentation),
        batch_sampler=plan,
        collate_fn=_keep_batch,
        num_workers=workers,
        timeout=60 if workers else 0,
    )
    results = []
    for samples, batch in zip(plan, loader, strict=True):
        plain = PatchDataset(path).__getitems__(samples)  # unaugmented, at the stored size
        assert plain.anchor.shape[-2:] == (8, 8) and not plain.augmented
        expected = augment_batch(plain, augmentation, augmentation_generator(samples.augment_seed))
        assert batch.augmented and batch.augment_seed == samples.augment_seed
        for name in ("anchor", "positive", "negative"):
            got, want = getattr(batch, name), getattr(expected, name)
            if want is None:
                assert got is None
                continue
            assert got.shape == (len(samples), *SHAPE_CZYX[:2], 6, 6)
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        np.testing.assert_array_equal(batch.anchor_row.numpy(), np.asarray(samples)[:, 0])
        results.append(batch)
    assert not torch.equal(results[2].anchor, results[3].anchor)  # the seed decides
