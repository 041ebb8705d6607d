"""No file the workflow reads can run code.

Every PyTorch file the workflow loads is read with ``torch.load(weights_only=True)``: a pickle
planted in its place (here, one whose ``__reduce__`` would create a marker file) is refused, and
the marker never appears. The files: training's resumable ``checkpoints/last.ckpt`` (moved aside to
``last.ckpt.corrupt``, training starts from scratch), the contrastive ``model.ckpt`` (read by
``embed`` and by :func:`dynaclr.training.load_contrastive_model`), the virtual-staining weights and
a backbone weights file. A scan of the package and the workflow's scripts then checks that no
reader that can run code (unpickling, ``eval``/``exec``, unsafe YAML) is used anywhere.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO_ROOT, build_patch_store, train_model

from dynaclr.config.patches import PatchSpec
from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.contrastive import ContrastiveEncoder
from dynaclr.io import ArtifactError, make_provenance
from dynaclr.training import load_contrastive_model, read_contrastive_checkpoint
from dynaclr.virtual_stain import load_network

#: What torch says when ``weights_only=True`` meets a global it does not allow.
WEIGHTS_ONLY_REFUSAL = re.compile(r"weights.only", re.IGNORECASE)


class TouchOnLoad:
    """A pickled object whose unpickling creates ``marker``: any code could run in its place."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


def plant(path: Path, marker: Path, contents: dict[str, Any]) -> Path:
    """Write ``contents`` with the payload added under ``'payload'``, as ``torch.save`` would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**contents, "payload": TouchOnLoad(marker)}, path)
    return path


def _contrastive_model(path: Path, marker: Path) -> Path:
    return plant(
        path,
        marker,
        {
            "state_dict": {"encoder.projection.0.weight": torch.zeros(2, 2)},
            "hyper_parameters": {"in_channels": 1},
            "dynaclr": make_provenance("contrastive_model", {}).model_dump(mode="json"),
        },
    )


def _virtual_stain_model(path: Path, marker: Path) -> Path:
    return plant(
        path,
        marker,
        {
            "format": "dynaclr_virtual_stain",
            "state_dict": {"encoder.stem_0.weight": torch.zeros(8, 3, 4, 4)},
            "dynaclr": make_provenance("virtual_stain_model", {}).model_dump(mode="json"),
        },
    )


def _backbone_weights(path: Path, marker: Path) -> Path:
    return plant(path, marker, {"state_dict": {"stem.0.weight": torch.zeros(40, 3, 4, 4)}})


#: (file, how the workflow reads it): each planted file must be refused.
READERS: dict[str, tuple[Callable[[Path, Path], Path], Callable[[Path], object]]] = {
    "model.ckpt (embed)": (_contrastive_model, read_contrastive_checkpoint),
    "model.ckpt (load_contrastive_model)": (_contrastive_model, load_contrastive_model),
    "virtual staining weights": (
        _virtual_stain_model,
        lambda path: load_network(path, VirtualStainConfig(input_depth_slices=3)),
    ),
    "backbone weights": (
        _backbone_weights,
        lambda path: ContrastiveEncoder(backbone="convnext_atto", weights_path=path),
    ),
}


def test_the_planted_payload_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The payload is live: an unsafe load creates the marker (so the tests below can fail)."""
    marker = tmp_path / "marker"
    planted = _contrastive_model(tmp_path / "model.ckpt", marker)
    torch.load(planted, map_location="cpu", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("reader", list(READERS))
def test_a_planted_pickle_is_refused_and_runs_nothing(reader: str, tmp_path: Path) -> None:
    make, load = READERS[reader]
    marker = tmp_path / "marker"
    planted = make(tmp_path / "planted.ckpt", marker)
    with pytest.raises(Exception) as refused:
        load(planted)
    assert not marker.exists()
    message = str(refused.value)
    assert isinstance(refused.value, ArtifactError) or WEIGHTS_ONLY_REFUSAL.search(message), message
    if isinstance(refused.value, ArtifactError):
        assert str(planted) in message


@pytest.mark.slow  # a patch store and one training step: about 15 s
def test_a_planted_last_checkpoint_is_moved_aside_and_training_starts_fresh(
    tiny_plate: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = PatchSpec.model_validate(
        {
            "name": "tiny",
            "channels": [{"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"}],
            "z_window_slices": 3,
            "patch_size_yx_px": 32,
        }
    )
    store = build_patch_store({"raw": tiny_plate["plate"]}, tiny_plate["tracks"], spec, tmp_path / "patches")
    work_dir, marker = tmp_path / "model", tmp_path / "marker"
    last = work_dir / "checkpoints" / "last.ckpt"
    planted = plant(last, marker, {"state_dict": {}, "global_step": 10**6, "epoch": 10**3})
    planted_bytes = planted.read_bytes()
    config = {
        "patch_spec": "tiny",
        "sampling": "classical",
        "backbone": "convnext_atto",
        "batch_size": 4,
        "num_workers": 0,
        "validation_fovs": ["A/1/0"],
        "epochs": 1,
        "max_batches_per_epoch": 1,
        "max_validation_batches": 1,
    }
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with caplog.at_level(logging.WARNING, logger="dynaclr"):
            summary = train_model(store["zarr"], store["parquet"], config, work_dir)
    finally:
        torch.set_num_threads(previous)
    assert not marker.exists()
    assert summary["resumed_from"] is None and summary["global_step"] == 1
    aside = last.with_name("last.ckpt.corrupt")
    assert aside.read_bytes() == planted_bytes
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(last) in w and "unreadable checkpoint" in w and str(aside) in w for w in warnings)


# --- the code: no reader that can run code ------------------------------------------------------

#: Modules whose readers unpickle (or unmarshal) data; naming their exception types is fine.
UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
#: Their reading functions and classes.
UNSAFE_READERS = {"load", "loads", "Unpickler", "open"}
#: Builtins that run code from a string.
UNSAFE_BUILTINS = {"eval", "exec", "compile"}
#: Functions and methods that unpickle or construct arbitrary objects whatever their arguments.
UNSAFE_CALLS = {"read_pickle", "unsafe_load", "full_load"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader"}


def _name(node: ast.expr) -> str:
    """Dotted name of a call's target (``torch.load``, ``np.load``, ``eval``); a method of a
    computed value starts with a dot (``.eval`` for ``model.to(device).eval``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_reads(source: str) -> list[str]:
    """Every place in ``source`` that could run code from a file's content, as ``line: reason``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            for alias in node.names:
                if alias.name in UNSAFE_READERS:
                    found.append(f"{node.lineno}: imports {node.module}.{alias.name}")
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        last = name.rsplit(".", 1)[-1]
        if name.split(".")[0] in UNSAFE_MODULES and last in UNSAFE_READERS:
            found.append(f"{node.lineno}: calls {name}")
        weights_only = _keyword(node, "weights_only")
        if name == "torch.load" or last == "load_from_checkpoint":
            if not _is_true(weights_only):
                found.append(f"{node.lineno}: {name} without weights_only=True")
        elif weights_only is not None and not _is_true(weights_only):
            found.append(f"{node.lineno}: {name} with weights_only other than True")
        if _keyword(node, "ckpt_path") is not None and not _is_true(weights_only):
            found.append(f"{node.lineno}: {name}(ckpt_path=...) without weights_only=True")
        if last == "load" and name.split(".")[0] in {"np", "numpy"}:
            allow = _keyword(node, "allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                found.append(f"{node.lineno}: {name} with allow_pickle")
        if name in {"yaml.load", "yaml.load_all"}:
            loader = _keyword(node, "Loader")
            if loader is None or _name(loader).rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
                found.append(f"{node.lineno}: {name} without a safe Loader")
        unsafe_builtin = isinstance(node.func, ast.Name) and name in UNSAFE_BUILTINS
        if unsafe_builtin or last in UNSAFE_CALLS or name.endswith("jit.load"):  # TorchScript runs code
            found.append(f"{node.lineno}: calls {name}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "import torch\ntorch.load(path)",
        "import torch\ntorch.load(path, weights_only=False)",
        "trainer.fit(module, ckpt_path=last)",
        "trainer.fit(module, ckpt_path=last, weights_only=False)",
        "Module.load_from_checkpoint(path)",
        "import pickle\npickle.loads(data)",
        "import pickle\npickle.Unpickler(stream).load()",
        "from joblib import load",
        "import shelve\nshelve.open(path)",
        "import numpy as np\nnp.load(path, allow_pickle=True)",
        "import yaml\nyaml.load(text)",
        "import yaml\nyaml.unsafe_load(text)",
        "import pandas as pd\npd.read_pickle(path)",
        "eval(path.read_text())",
        "exec(open(path).read())",
        "import torch\ntorch.jit.load(path)",
    ],
)
def test_the_scan_finds_each_unsafe_read(snippet: str) -> None:
    assert unsafe_reads(snippet), snippet


def test_the_scan_accepts_safe_reads() -> None:
    safe = (
        "import torch, yaml, numpy as np\n"
        "torch.load(path, map_location='cpu', weights_only=True)\n"
        "trainer.fit(module, ckpt_path=last, weights_only=True)\n"
        "yaml.load(text, Loader=yaml.SafeLoader)\nyaml.safe_load(text)\n"
        "np.load(path)\nnp.load(path, allow_pickle=False)\nmodule.eval()\n"
        "import pickle\ntry:\n    pass\nexcept pickle.UnpicklingError:\n    pass\n"
    )
    assert unsafe_reads(safe) == []


def test_no_code_of_the_package_or_the_workflow_reads_a_file_unsafely() -> None:
    files = sorted((REPO_ROOT / "src" / "dynaclr").rglob("*.py")) + sorted(
        (REPO_ROOT / "workflow" / "scripts").rglob("*.py")
    )
    assert len(files) > 50
    found = {
        str(path.relative_to(REPO_ROOT)): problems
        for path in files
        if (problems := unsafe_reads(path.read_text()))
    }
    assert found == {}
