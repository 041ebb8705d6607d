"""Compare the outputs of two runs of a job: arrays bit for bit, tables equal, records equal.

Two runs differ in what they cannot share: their directories (recorded in provenance and metrics)
and their clocks (``created``, seconds, rates). Both are normalised away; everything else must be
equal: the files of a zarr store, every array in it (numbers compared as bytes, so NaN payloads and
signed zeros count), every attribute, every table cell, every tensor of a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import zarr

#: What a checkpoint's training summary holds that depends on the run, not on its result.
RUN_KEYS = {"resumed_from", "model_path", "checkpoint"}


def _volatile(key: str) -> bool:
    return key == "created" or "seconds" in key or key == "frames_per_second" or key in RUN_KEYS


def normalised(value: Any, run_dir: Path) -> Any:
    """``value`` without clock readings, with ``run_dir`` written as ``<run>``."""
    if isinstance(value, dict):
        return {key: normalised(item, run_dir) for key, item in value.items() if not _volatile(str(key))}
    if isinstance(value, list | tuple):
        return [normalised(item, run_dir) for item in value]
    if isinstance(value, str):
        return value.replace(str(run_dir), "<run>")
    return value


def _same_array(found: np.ndarray, expected: np.ndarray, where: str) -> None:
    assert found.dtype == expected.dtype and found.shape == expected.shape, (
        f"{where}: {found.dtype}{found.shape} vs {expected.dtype}{expected.shape}"
    )
    if found.dtype.kind in "biufc":
        assert found.tobytes() == expected.tobytes(), f"{where}: values differ"
    else:
        assert np.array_equal(found, expected), f"{where}: values differ"


def _members(path: Path) -> dict[str, Any]:
    group = zarr.open_group(str(path), mode="r")
    return {"": group, **dict(group.members(max_depth=None))}


def _files(store: Path) -> list[str]:
    return sorted(str(path.relative_to(store)) for path in store.rglob("*") if path.is_file())


def assert_same_store(found: Path, expected: Path, runs: tuple[Path, Path]) -> None:
    """The same files (no leftover of a killed write), and every group and array of two zarr stores,
    with their attributes, equal."""
    assert _files(found) == _files(expected), found
    found_members, expected_members = _members(found), _members(expected)
    assert sorted(found_members) == sorted(expected_members), found
    for name, member in expected_members.items():
        other = found_members[name]
        where = f"{found}/{name}"
        assert normalised(dict(other.attrs), runs[0]) == normalised(dict(member.attrs), runs[1]), where
        if isinstance(member, zarr.Array):
            assert isinstance(other, zarr.Array), where
            _same_array(np.asarray(other[...]), np.asarray(member[...]), where)


def assert_same_checkpoint(found: Path, expected: Path, runs: tuple[Path, Path]) -> None:
    """Same tensors bit for bit, same hyperparameters, steps and (normalised) records."""
    a = torch.load(found, map_location="cpu", weights_only=True)
    b = torch.load(expected, map_location="cpu", weights_only=True)
    assert a.keys() == b.keys(), found
    for key in b:
        if key == "state_dict":
            assert a[key].keys() == b[key].keys(), found
            for name, tensor in b[key].items():
                _same_array(a[key][name].numpy(), tensor.numpy(), f"{found}: {name}")
        else:
            assert normalised(a[key], runs[0]) == normalised(b[key], runs[1]), f"{found}: {key}"


def assert_same_outputs(found: list[Path], expected: list[Path], runs: tuple[Path, Path]) -> None:
    """Each output of one run equals the same output of the other (``runs``: their directories)."""
    for a, b in zip(found, expected, strict=True):
        assert a.exists(), f"{a} was not written"
        if a.suffix == ".zarr":
            assert_same_store(a, b, runs)
        elif a.suffix == ".json":
            assert normalised(json.loads(a.read_text()), runs[0]) == normalised(
                json.loads(b.read_text()), runs[1]
            ), a
        elif a.suffix == ".csv":
            pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b), check_exact=True)
        elif a.suffix == ".ckpt":
            assert_same_checkpoint(a, b, runs)
        else:
            raise AssertionError(f"{a}: no comparison for this kind of file")
