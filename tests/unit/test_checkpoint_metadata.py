"""Foreign checkpoints whose metadata holds classes dynaclr does not have (nor need).

Published Lightning checkpoints carry, beside ``state_dict``, hyperparameters and callback state
pickled as Hydra/omegaconf ``DictConfig`` / ``ListConfig`` (with their ``ContainerMetadata``,
``AnyNode`` and ``typing.Any``), ``pathlib`` paths, Lightning's ``AttributeDict``, jsonargparse's
``Namespace`` and ``collections.defaultdict``. The fixtures build such files without omegaconf,
Lightning or jsonargparse installed: small classes are defined in a throw-away module registered in
``sys.modules`` under the real names while ``torch.save`` pickles them, then taken out again, so the
reading process does not have them, as a user's would not. Their weights are read (the metadata is
replaced by inert stand-ins, recorded as not read); any other global still refuses the file,
named, and runs nothing.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import pickle
import pickletools
import sys
import types
import typing
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest
import torch
from test_imported_model import CHECKPOINT, patches, run_import, viscy_config

from dynaclr.io import ArtifactError
from dynaclr.io.weights import NumpyArrayNotRead, _pickle_protocol, load_weights_file
from dynaclr.training.checkpoint import read_contrastive_checkpoint

# --- the foreign classes, as their libraries pickle them ------------------------------------------


class _Plain:
    """Pickled by default (protocol 2): NEWOBJ of the class, then BUILD with its ``__dict__``."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class _Container(_Plain):
    """omegaconf's containers: ``__getstate__`` / ``__setstate__`` of their ``__dict__``."""

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _AttributeDict(dict):  # type: ignore[type-arg]
    """Lightning's AttributeDict: a dict (NEWOBJ, then SETITEMS)."""


#: module -> {name: base class}: what the fixtures pickle under each foreign name.
FOREIGN: dict[str, dict[str, type]] = {
    "omegaconf.base": {"ContainerMetadata": _Plain, "Metadata": _Plain},
    "omegaconf.nodes": {"AnyNode": _Plain},
    "omegaconf.dictconfig": {"DictConfig": _Container},
    "omegaconf.listconfig": {"ListConfig": _Container},
    "lightning.fabric.utilities.data": {"AttributeDict": _AttributeDict},
    "jsonargparse._namespace": {"Namespace": argparse.Namespace},
}


#: The throw-away modules (by name) while :func:`foreign_modules` runs.
_THROW_AWAY: dict[str, types.ModuleType] = {}

#: Those modules and their parent packages.
FOREIGN_PACKAGES = sorted(
    {".".join(m.split(".")[:depth]) for m in FOREIGN for depth in range(1, m.count(".") + 2)}
)


@contextmanager
def foreign_modules() -> Iterator[dict[str, type]]:
    """The foreign classes, keyed ``module.Name``, in throw-away modules registered in ``sys.modules``
    (with their parent packages) while the block runs, in place of any installed one (Lightning is:
    its modules are put back untouched); taken out after, as the reader's process does not have them."""
    saved = {name: sys.modules[name] for name in FOREIGN_PACKAGES if name in sys.modules}
    classes: dict[str, type] = {}
    try:
        for name in FOREIGN_PACKAGES:
            _THROW_AWAY[name] = sys.modules[name] = types.ModuleType(name)
        for module_name, names in FOREIGN.items():
            for name, base in names.items():
                cls = type(name, (base,), {"__module__": module_name, "__qualname__": name})
                setattr(sys.modules[module_name], name, cls)
                classes[f"{module_name}.{name}"] = cls
        yield classes
    finally:
        for name in _THROW_AWAY:
            del sys.modules[name]
        _THROW_AWAY.clear()
        sys.modules.update(saved)


def _dict_config(c: dict[str, type], content: dict[str, Any]) -> Any:
    """A DictConfig as omegaconf pickles one: metadata with typing.Any and dict, values in AnyNodes."""
    metadata = c["omegaconf.base.ContainerMetadata"](
        ref_type=typing.Any, object_type=dict, optional=True, key=None, flags={}, key_type=typing.Any
    )
    config = c["omegaconf.dictconfig.DictConfig"](_metadata=metadata, _parent=None)
    config._content = {
        key: c["omegaconf.nodes.AnyNode"](
            _val=value, _metadata=c["omegaconf.base.Metadata"](ref_type=typing.Any, key=key), _parent=config
        )
        for key, value in content.items()
    }
    return config


def hydra_metadata(c: dict[str, type]) -> dict[str, Any]:
    """What a Lightning checkpoint of a Hydra / LightningCLI run holds beside its tensors."""
    listed = c["omegaconf.listconfig.ListConfig"](_metadata=None, _content=[1, 2, 3])
    return {
        "hyper_parameters": {
            "cfg": _dict_config(c, {"lr": 1e-3, "backbone": "convnext_tiny", "layers": listed}),
            "log_dir": Path("/hpc/runs/dynaclr/version_0"),
            "pure": PurePosixPath("/hpc/data"),
            "trainer": c["jsonargparse._namespace.Namespace"](max_epochs=100),
            "by_stage": collections.defaultdict(list, {"fit": [1]}),
        },
        "hparams_name": "hparams",
        "datamodule_hyper_parameters": c["lightning.fabric.utilities.data.AttributeDict"](batch_size=32),
    }


def lightning_checkpoint(
    path: Path, extra: Callable[[dict[str, type]], dict[str, Any]] = hydra_metadata
) -> Path:
    """The VisCy fixture's checkpoint with the foreign metadata added, saved where the foreign
    classes exist."""
    checkpoint = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    with foreign_modules() as classes:
        modules = dict(_THROW_AWAY)
        torch.save({**checkpoint, **extra(classes)}, path)
    assert not _THROW_AWAY and not any(sys.modules.get(name) is module for name, module in modules.items())
    assert "omegaconf" not in sys.modules and "jsonargparse" not in sys.modules
    return path


def assert_embeds_as_the_plain_fixture(tmp_path: Path, source: Path) -> Path:
    """Import ``source`` and the plain fixture: the two models embed the same patches exactly.
    Returns the imported ``model.ckpt``."""
    plain = run_import(tmp_path / "plain", viscy_config())
    imported = run_import(tmp_path / "imported", viscy_config(), source=source)
    plain_model, imported_model = (read_contrastive_checkpoint(out.checkpoint) for out in (plain, imported))
    with torch.no_grad():
        expected = plain_model.encoder()(patches())
        found = imported_model.encoder()(patches())
    for want, got in zip(expected, found, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    return imported.checkpoint


# --- the tests ----------------------------------------------------------------------------------


def test_a_lightning_checkpoint_with_hydra_metadata_imports_and_embeds_as_the_plain_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The weights are plain tensors: the file imports, embedding exactly as the fixture does, and
    the summary names the metadata classes that were not read. Before: refused ("holds Python
    objects other than tensors and plain containers")."""
    source = lightning_checkpoint(tmp_path / "hydra.ckpt")
    with caplog.at_level(logging.INFO, logger="dynaclr.io.weights"):
        hydra = assert_embeds_as_the_plain_fixture(tmp_path, source)
    stubbed = torch.load(hydra, weights_only=True)["dynaclr_training"]["metadata_not_read"]
    assert stubbed == [
        "builtins.dict",
        "builtins.list",
        "collections.defaultdict",
        "jsonargparse._namespace.Namespace",
        "lightning.fabric.utilities.data.AttributeDict",
        "omegaconf.base.ContainerMetadata",
        "omegaconf.base.Metadata",
        "omegaconf.dictconfig.DictConfig",
        "omegaconf.listconfig.ListConfig",
        "omegaconf.nodes.AnyNode",
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "typing.Any",
    ]
    plain = torch.load(tmp_path / "plain" / "model.ckpt", weights_only=True)
    assert "metadata_not_read" not in plain["dynaclr_training"]
    logged = [
        r.getMessage() for r in caplog.records if r.levelno == logging.INFO and str(source) in r.getMessage()
    ]
    assert len(logged) == 1 and "omegaconf.dictconfig.DictConfig" in logged[0] and "not read" in logged[0]


def test_the_metadata_is_read_as_inert_stand_ins(tmp_path: Path) -> None:
    """What the file held is kept as data (the stand-ins hold the values the file gave them), plain
    where the unpickler must fill a container (AttributeDict, defaultdict: dicts); nothing of the
    foreign classes is imported."""
    from dynaclr.io.weights import read_weights_file

    path = lightning_checkpoint(tmp_path / "hydra.ckpt")
    read = read_weights_file(path, what="checkpoint", fix="fix it")
    assert "omegaconf" not in sys.modules
    assert read.metadata_not_read[0] == "builtins.dict"
    hparams = read.contents["hyper_parameters"]
    cfg = hparams["cfg"]
    assert type(cfg).__name__ == "DictConfig" and "not read" in repr(cfg)
    assert cfg.state["_content"]["lr"].state["_val"] == 1e-3
    assert hparams["log_dir"].args == ("/", "hpc", "runs", "dynaclr", "version_0")
    assert hparams["trainer"].state == {"max_epochs": 100}
    assert hparams["by_stage"] == {"fit": [1]} and type(hparams["by_stage"]) is dict
    assert read.contents["datamodule_hyper_parameters"] == {"batch_size": 32}
    assert set(read.contents["state_dict"]) == set(torch.load(CHECKPOINT, weights_only=True)["state_dict"])


class _RunsCode:
    """A planted global: unpickling it would run a shell command creating ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (os.system, (f"touch {self.marker}",))


class _MainClass:
    """A class of the writer's ``__main__`` (its module renamed below): not metadata dynaclr knows."""


@contextmanager
def _main_class_in_main(planted: str) -> Iterator[None]:
    """While the block runs (the file is written), where ``planted`` is ``"__main__"``: ``_MainClass``
    as a class of the writer's ``__main__``, as a user's script's class is pickled; put back after,
    so the reading process does not find it there (a user's would not)."""
    if planted != "__main__":
        yield
        return
    _MainClass.__module__ = "__main__"
    sys.modules["__main__"]._MainClass = _MainClass  # type: ignore[attr-defined]
    try:
        yield
    finally:
        _MainClass.__module__ = __name__
        del sys.modules["__main__"]._MainClass  # type: ignore[attr-defined]


@pytest.mark.parametrize("planted", ["os.system", "builtins.eval", "__main__", "subprocess"])
def test_a_checkpoint_with_another_global_beside_the_metadata_is_refused_naming_it(
    planted: str, tmp_path: Path
) -> None:
    """Only globals of the metadata modules are stood in for: a file holding anything else beside
    them is refused as before, naming it, and nothing runs."""
    import subprocess

    marker = tmp_path / "marker"
    payloads: dict[str, tuple[Any, str]] = {
        "os.system": (_RunsCode(marker), f"{os.system.__module__}.system"),
        "builtins.eval": (eval, "builtins.eval"),
        "__main__": (_MainClass(), "__main__._MainClass"),
        # torch.save's pickle protocol 2 writes Python 2's name for subprocess: commands
        "subprocess": (subprocess.Popen, "commands.Popen"),
    }
    payload, name = payloads[planted]
    with _main_class_in_main(planted):
        path = lightning_checkpoint(
            tmp_path / "planted.ckpt", lambda c: {**hydra_metadata(c), "payload": payload}
        )
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(path, what="VisCy checkpoint", fix="fix it")
    assert not marker.exists()
    message = str(refused.value)
    assert str(path) in message and name in message and "fix it" in message, message
    assert "omegaconf" not in message  # the metadata is not what is refused


def test_reading_stubs_leaves_the_process_allowlist_as_it_was(tmp_path: Path) -> None:
    """The stand-ins are allowed while the file is read, and only then: the process-wide allowlist
    is the same after the read (and after a refused one), so a later ``torch.load`` elsewhere
    still refuses the metadata."""
    path = lightning_checkpoint(tmp_path / "hydra.ckpt")
    planted = lightning_checkpoint(tmp_path / "planted.ckpt", lambda c: {**hydra_metadata(c), "bad": eval})
    before = set(torch.serialization.get_safe_globals())  # a list in no set order
    load_weights_file(path, what="checkpoint", fix="fix it")
    assert set(torch.serialization.get_safe_globals()) == before
    with pytest.raises(ArtifactError):
        load_weights_file(planted, what="checkpoint", fix="fix it")
    assert set(torch.serialization.get_safe_globals()) == before
    with pytest.raises(Exception, match="Unsupported global"):
        torch.load(path, weights_only=True)


def test_metadata_pickled_with_state_a_stand_in_cannot_take_is_refused_naming_it(tmp_path: Path) -> None:
    """An AttributeDict is read as a plain dict (the unpickler fills no other): one pickled with
    attributes beside its items cannot be, and is refused naming the metadata, not called corrupt."""

    def with_attributes(c: dict[str, type]) -> dict[str, Any]:
        hparams = c["lightning.fabric.utilities.data.AttributeDict"](batch_size=32)
        hparams.extra = "kept in __dict__"  # an attribute, pickled as BUILD state
        return {"hyper_parameters": hparams}

    path = lightning_checkpoint(tmp_path / "attributes.ckpt", with_attributes)
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(path, what="VisCy checkpoint", fix="fix it")
    message = str(refused.value)
    assert str(path) in message and "lightning.fabric.utilities.data.AttributeDict" in message, message
    assert "Can only build" in message and "corrupt" not in message and "weights_only" not in message


def test_a_stand_in_where_a_tensor_should_be_is_refused_naming_the_file_key_and_type(tmp_path: Path) -> None:
    """Stand-ins belong to metadata: one in a VisCy ``state_dict`` is refused naming the file, the
    key and what was found. Before: a raw ``AttributeError: 'PosixPath' object has no attribute
    'ndim'`` naming no file."""
    checkpoint = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    key = next(k for k, v in checkpoint["state_dict"].items() if k.startswith("model.") and v.ndim > 1)
    checkpoint["state_dict"][key] = Path("/hpc/weights.pt")
    source = tmp_path / "planted.ckpt"
    torch.save(checkpoint, source)
    with pytest.raises(ArtifactError) as refused:
        run_import(tmp_path / "out", viscy_config(), source=source)
    message = str(refused.value)
    assert str(source) in message and repr(key) in message and "pathlib.PosixPath" in message, message


def test_numpy_scalars_and_dtypes_in_hyperparameters_are_read_as_metadata(tmp_path: Path) -> None:
    """Lightning runs put numpy scalars (a learning rate from a numpy schedule) and dtypes in their
    hyperparameters: read as stand-ins, recorded, and the model imports. Before: refused as "not
    written by dynaclr"."""
    hparams = {"lr": np.float64(0.1), "steps": np.int64(3), "dtype": np.dtype("float32")}
    source = tmp_path / "numpy.ckpt"
    torch.save({**torch.load(CHECKPOINT, weights_only=True), "hyper_parameters": hparams}, source)
    scanned = set(torch.serialization.get_unsafe_globals_in_checkpoint(source))
    assert (
        scanned & {"numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar"}
        and "numpy.dtype" in scanned
    )
    from dynaclr.io.weights import read_weights_file

    read = read_weights_file(source, what="VisCy checkpoint", fix="fix it")
    assert set(read.metadata_not_read) == scanned
    assert "not read" in repr(read.contents["hyper_parameters"]["lr"])
    out = run_import(tmp_path / "out", viscy_config(), source=source)
    summary = torch.load(out.checkpoint, weights_only=True)["dynaclr_training"]
    assert summary["metadata_not_read"] == sorted(scanned)


def test_a_foreign_checkpoint_with_another_global_advises_saving_its_state_dict_alone(tmp_path: Path) -> None:
    """Copying a foreign checkpoint again cannot help: the refusal says to save its state dict alone."""
    path = lightning_checkpoint(tmp_path / "planted.ckpt", lambda c: {**hydra_metadata(c), "bad": eval})
    with pytest.raises(ArtifactError) as refused:
        run_import(tmp_path / "out", viscy_config(), source=path)
    message = str(refused.value)
    assert "builtins.eval" in message and "torch.save(ckpt['state_dict'], path)" in message, message


def test_a_timm_checkpoint_with_metadata_records_it_as_a_sorted_list(tmp_path: Path) -> None:
    """``weights_read.metadata_not_read`` is the sorted list of globals, as the summary's own."""
    import timm

    from dynaclr.contrastive.encoder import ContrastiveEncoder

    network = timm.create_model("test_convnext", pretrained=False, num_classes=10)
    source = tmp_path / "timm.ckpt"
    hparams = {"root": PurePosixPath("/hpc/data"), "log_dir": Path("/hpc/runs"), "lr": np.float64(0.1)}
    torch.save({"state_dict": network.state_dict(), "hyper_parameters": hparams}, source)
    encoder = ContrastiveEncoder("test_convnext", in_channels=1, in_stack_depth=5, stem="backbone")
    read = encoder.load_weights(source)
    expected = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(source))
    assert read["metadata_not_read"] == expected and "pathlib.PurePosixPath" in expected


# --- numpy arrays in the metadata -----------------------------------------------------------------


class _Numpy1Pickler(pickle._Pickler):
    """Pickles numpy's globals under numpy 1's module names (``numpy.core.multiarray``, as a file
    written where numpy 1 ran holds them), numpy 2 being the one installed (``numpy._core``)."""

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = getattr(obj, "__module__", None) or ""
        if module.startswith("numpy._core."):
            qualname = name or obj.__qualname__
            self.write(
                pickle.GLOBAL + f"numpy.core.{module.removeprefix('numpy._core.')}\n{qualname}\n".encode()
            )
            self.memoize(obj)
        else:
            super().save_global(obj, name)


#: torch.save's pickle module for each numpy's names; the array reconstructor each pickles.
NUMPY_NAMES = {
    "numpy2": (pickle, "numpy._core.multiarray._reconstruct"),
    "numpy1": (
        types.SimpleNamespace(__name__="numpy1_pickle", Pickler=_Numpy1Pickler),
        "numpy.core.multiarray._reconstruct",
    ),
}


def save_with_numpy_names(contents: dict[str, Any], path: Path, numpy_names: str) -> Path:
    """``torch.save`` of ``contents``, numpy's globals named as ``numpy_names`` (numpy1 / numpy2) does."""
    pickle_module, reconstruct = NUMPY_NAMES[numpy_names]
    torch.save(contents, path, pickle_module=pickle_module)
    assert reconstruct in torch.serialization.get_unsafe_globals_in_checkpoint(path)
    return path


def numpy_metadata() -> dict[str, Any]:
    """Arrays a Lightning run keeps beside its weights: hyperparameters, normalisation statistics."""
    return {
        "hyper_parameters": {
            "steps": np.arange(3.0),
            "stats": np.arange(6, dtype=np.float32).reshape(2, 3),
            "lr": np.float64(0.1),
            "none_yet": np.zeros((0, 2), dtype=">i2"),
        },
        "datamodule_hyper_parameters": {"normalization": {"mean": np.array([0.5, 0.25]), "std": np.ones(2)}},
    }


@pytest.mark.parametrize("numpy_names", sorted(NUMPY_NAMES))
def test_numpy_arrays_in_metadata_are_read_as_stand_ins_and_the_weights_embed_as_the_plain_ones(
    numpy_names: str, tmp_path: Path
) -> None:
    """A checkpoint whose metadata holds numpy arrays (numpy 1's or numpy 2's names) imports and
    embeds exactly as the plain fixture; the arrays are stand-ins keeping their dtype, shape and
    bytes, recorded as not read. Before: refused as "not written by dynaclr"."""
    from dynaclr.io.weights import read_weights_file

    source = save_with_numpy_names(
        {**torch.load(CHECKPOINT, weights_only=True), **numpy_metadata()},
        tmp_path / "numpy.ckpt",
        numpy_names,
    )
    scanned = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(source))
    assert "numpy.ndarray" in scanned and "numpy.dtype" in scanned
    read = read_weights_file(source, what="VisCy checkpoint", fix="fix it")
    assert list(read.metadata_not_read) == scanned
    stats = read.contents["hyper_parameters"]["stats"]
    assert (
        isinstance(stats, NumpyArrayNotRead)
        and repr(stats) == "<numpy.ndarray dtype '<f4' shape (2, 3), not read>"
    )
    assert stats.shape == (2, 3) and stats.data == np.arange(6, dtype=np.float32).tobytes()
    mean = read.contents["datamodule_hyper_parameters"]["normalization"]["mean"]
    assert (mean.dtype, mean.shape, mean.data) == ("<f8", (2,), np.array([0.5, 0.25]).tobytes())
    empty = read.contents["hyper_parameters"]["none_yet"]
    assert (empty.dtype, empty.shape, empty.data) == (">i2", (0, 2), b"")
    assert "not read" in repr(read.contents["hyper_parameters"]["lr"])
    imported = assert_embeds_as_the_plain_fixture(tmp_path, source)
    summary = torch.load(imported, weights_only=True)["dynaclr_training"]
    assert summary["metadata_not_read"] == scanned


def object_arrays() -> dict[str, np.ndarray]:
    """Arrays of Python objects a run keeps in its hyperparameters: strings from pandas (``.values``,
    ``.unique()`` of a string column), numbers with a gap, a record with a text field."""
    return {
        "channels": np.array(["Phase3D", "GFP"], dtype=object),
        "gaps": np.array([0.5, None], dtype=object),
        "record": np.array([(1.5, "GFP")], dtype=[("scale", "f8"), ("name", "O")]),
    }


@pytest.mark.parametrize("numpy_names", sorted(NUMPY_NAMES))
def test_numpy_arrays_of_python_objects_in_metadata_are_read_as_stand_ins_keeping_their_items(
    numpy_names: str, tmp_path: Path
) -> None:
    """An array of Python objects is pickled as a list of its items, which torch's unpickler builds
    under the same allowlist as a list of the same values: it is read as a stand-in keeping them
    (``items``), and the weights embed exactly as the plain fixture's. Before: refused ("a numpy
    array of Python objects (dtype 'O8') ... dynaclr reads arrays of numbers only")."""
    from dynaclr.io.weights import read_weights_file

    source = save_with_numpy_names(
        {**torch.load(CHECKPOINT, weights_only=True), "hyper_parameters": object_arrays()},
        tmp_path / "objects.ckpt",
        numpy_names,
    )
    hparams = read_weights_file(source, what="VisCy checkpoint", fix="fix it").contents["hyper_parameters"]
    channels, gaps, record = hparams["channels"], hparams["gaps"], hparams["record"]
    assert isinstance(channels, NumpyArrayNotRead) and channels.items == ["Phase3D", "GFP"]
    assert repr(channels) == "<numpy.ndarray dtype 'object' shape (2,), not read>"
    assert (gaps.shape, gaps.items) == ((2,), [0.5, None])
    assert (record.dtype, record.shape, record.items) == ("V16", (1,), [(1.5, "GFP")])
    assert_embeds_as_the_plain_fixture(tmp_path, source)


@pytest.mark.parametrize("numpy_names", sorted(NUMPY_NAMES))
@pytest.mark.parametrize("planted", ["os.system", "__main__"])
def test_a_forbidden_global_inside_a_numpy_array_of_objects_is_refused_naming_it(
    planted: str, numpy_names: str, tmp_path: Path
) -> None:
    """The items are read under the same allowlist as anywhere else: an item that is another global
    refuses the file naming it, and nothing runs."""
    marker = tmp_path / "marker"
    item, name = {
        "os.system": (_RunsCode(marker), f"{os.system.__module__}.system"),
        "__main__": (_MainClass(), "__main__._MainClass"),
    }[planted]
    with _main_class_in_main(planted):
        source = save_with_numpy_names(
            {
                **torch.load(CHECKPOINT, weights_only=True),
                "hyper_parameters": {"labels": np.array(["GFP", item], dtype=object)},
            },
            tmp_path / "planted.ckpt",
            numpy_names,
        )
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(source, what="VisCy checkpoint", fix="fix it")
    assert not marker.exists()
    message = str(refused.value)
    assert str(source) in message and name in message and "fix it" in message, message
    assert "corrupt" not in message and "weights_only" not in message, message


class _ArrayOfWrongState:
    """Pickles as numpy's reconstructor does, with state numpy never writes: numbers (dtype f8)
    given as a list of items, not bytes."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            np._core.multiarray._reconstruct,
            (np.ndarray, (0,), b"b"),
            (1, (2,), np.dtype("f8"), False, [1.0, 2.0]),
        )


def test_a_numpy_array_pickled_with_state_numpy_does_not_write_is_refused_naming_it(tmp_path: Path) -> None:
    """A stand-in keeps bytes for an array of numbers and items for one of objects only: other state
    is refused naming the array and what it held, not called corrupt."""
    source = tmp_path / "wrong.ckpt"
    torch.save(
        {**torch.load(CHECKPOINT, weights_only=True), "hyper_parameters": _ArrayOfWrongState()}, source
    )
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(source, what="VisCy checkpoint", fix="fix it", foreign=True)
    message = str(refused.value)
    assert str(source) in message and "numpy array" in message and "'<f8'" in message, message
    assert "given a list of items where numpy writes bytes" in message, message
    assert "torch.save(ckpt['state_dict'], path)" in message, message
    assert "corrupt" not in message and "numbers only" not in message, message
    reason = message.split("without those classes", 1)[1].split("; save", 1)[0]
    depths = [reason[:i].count("(") - reason[:i].count(")") for i in range(len(reason))]
    assert max(depths) <= 1, f"nested parentheses: {message}"


@pytest.mark.parametrize("numpy_names", sorted(NUMPY_NAMES))
def test_a_numpy_array_where_a_tensor_should_be_is_refused_naming_the_file_key_and_type(
    numpy_names: str, tmp_path: Path
) -> None:
    """Arrays are read as metadata, not as weights: one in the ``state_dict`` is refused naming the
    file, the key and ``numpy.ndarray``. Before: refused without naming the key."""
    checkpoint = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    key = next(k for k, v in checkpoint["state_dict"].items() if k.startswith("model.") and v.ndim > 1)
    checkpoint["state_dict"][key] = checkpoint["state_dict"][key].numpy()
    source = save_with_numpy_names(checkpoint, tmp_path / "array.ckpt", numpy_names)
    with pytest.raises(ArtifactError) as refused:
        run_import(tmp_path / "out", viscy_config(), source=source)
    message = str(refused.value)
    assert str(source) in message and repr(key) in message and "numpy.ndarray" in message, message


# --- pickle protocols torch's weights-only reader does not read -----------------------------------

#: How a refused pickle protocol is to be saved again, and the warning beside it.
RESAVE = "torch.save(torch.load(path, weights_only=False), path)"
TRUST = "load it with weights_only=False only if you trust its source"


@pytest.mark.parametrize(
    ("protocol", "metadata"),
    [(3, {"lr": np.float64(0.1)}), (4, {}), (5, {"root": PurePosixPath("/hpc/data")})],
    ids=["3-numpy-scalar", "4-plain", "5-path"],
)
@pytest.mark.parametrize("foreign", [True, False], ids=["foreign", "dynaclr"])
def test_a_pickle_protocol_torch_does_not_read_is_named_with_how_to_save_the_file_again(
    protocol: int, metadata: dict[str, Any], foreign: bool, tmp_path: Path
) -> None:
    """Pickle protocol 3 writes bytes as an opcode (``SHORT_BINBYTES``) torch's weights-only reader
    and its scan do not read, protocols 4 and 5 frame their pickles (``FRAME``): such a file is
    refused naming the protocol and how to save it again (torch.save's default protocol 2). Before:
    "it is corrupt or not a PyTorch weights file", or (protocol 3, numpy metadata: the scan failed)
    as holding "Python objects other than tensors, plain containers and known metadata" naming none."""
    source = tmp_path / f"protocol{protocol}.ckpt"
    contents = {**torch.load(CHECKPOINT, weights_only=True), "hyper_parameters": metadata}
    torch.save(contents, source, pickle_protocol=protocol)
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(source, what="VisCy checkpoint", fix="fix it", foreign=foreign)
    message = str(refused.value)
    assert str(source) in message and f"pickle protocol {protocol}" in message, message
    assert RESAVE in message and "protocol 2" in message and TRUST in message, message
    assert "corrupt" not in message and "not written by dynaclr" not in message, message
    assert "state_dict" not in message, message
    assert ("fix it" in message) is not foreign, message


def test_pickle_protocol_3_without_bytes_is_read(tmp_path: Path) -> None:
    """Protocol 3 differs from 2 only for bytes: a state dict of tensors and plain values reads."""
    path = tmp_path / "protocol3.pt"
    torch.save({"w": torch.ones(2), "lr": 0.1}, path, pickle_protocol=3)
    read = load_weights_file(path, what="weights", fix="fix it")
    assert read["lr"] == 0.1 and torch.equal(read["w"], torch.ones(2))


def test_a_foreign_checkpoint_without_a_state_dict_in_a_protocol_torch_does_not_read_is_told_to_save_it_again(
    tmp_path: Path,
) -> None:
    """A DINO teacher or timm file holds its weights under another key (``model``): the advice saves
    the same object again, not ``checkpoint['state_dict']`` (a KeyError there). Before: "save
    checkpoint['state_dict'] alone ... with torch.save's default pickle protocol 2"."""
    source = tmp_path / "timm.pth"
    torch.save({"model": {"w": torch.ones(2)}, "note": b"xx"}, source, pickle_protocol=4)
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(source, what="timm checkpoint", fix="fix it", foreign=True)
    message = str(refused.value)
    assert "pickle protocol 4" in message and RESAVE in message and TRUST in message, message
    assert "state_dict" not in message, message


@pytest.mark.parametrize("first", ["global", "bytes"])
def test_a_forbidden_global_in_a_protocol_torch_does_not_read_is_refused_naming_it(
    first: str, tmp_path: Path
) -> None:
    """torch's scan stops at protocol 3's bytes opcode: the global torch's reader refuses (met
    before the bytes) is named, as in a protocol 2 file, with no advice to save the file again
    (that needs weights_only=False: it would run eval). Met after the bytes, the protocol is named
    and the globals are said not to have been checked. Before: "saved with pickle protocol 3 ...
    save it again" whichever came first, not naming eval, without a warning."""
    source = tmp_path / "eval.pt"
    contents = {"w": torch.ones(2), "loss": eval, "note": b"xx"}
    if first == "bytes":
        contents = {"note": b"xx", "w": torch.ones(2), "loss": eval}
    torch.save(contents, source, pickle_protocol=3)
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(source, what="weights", fix="fix it")
    message = str(refused.value)
    if first == "global":
        assert "builtins.eval" in message and "Python objects other than tensors" in message, message
        assert "pickle protocol" not in message and "weights_only=False" not in message, message
    else:
        assert "pickle protocol 3" in message and "its globals were not checked" in message, message
        assert TRUST in message, message


#: The protocol adding each opcode, by its byte (``pickletools``), and the first opcode a later
#: protocol adds that a file of each holds: SHORT_BINBYTES (the file's bytes), FRAME, FRAME.
OPCODE_PROTOCOL = {ord(op.code): op.proto for op in pickletools.opcodes}
FIRST_LATER_OPCODE = {3: 67, 4: 149, 5: 149}


def _saved(tmp_path: Path, protocol: int, legacy: bool) -> Path:
    """A state dict with bytes beside its tensor, saved with ``protocol`` as a zip file (torch.save's
    format) or in the legacy format (a sequence of pickles, as torch before 1.6 wrote)."""
    path = tmp_path / f"protocol{protocol}{'-legacy' if legacy else ''}.pt"
    contents = {"w": torch.ones(2), "note": b"xx"}
    torch.save(contents, path, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_the_pickle_protocol_is_read_from_the_file_s_bytes(
    protocol: int, legacy: bool, tmp_path: Path
) -> None:
    """The protocol comes from the pickle's PROTO opcode (a zip file's data.pkl, a legacy file's first
    pickle), with the opcodes protocols 3 to it add that the pickle holds, first met first, read by
    pickletools (not from torch's error text)."""
    saved = _pickle_protocol(_saved(tmp_path, protocol, legacy))
    assert saved is not None and saved[0] == protocol, saved
    later = saved[1]
    if protocol == 2:
        assert later == (), later
    else:
        assert later[0] == FIRST_LATER_OPCODE[protocol], later
        assert all(2 < OPCODE_PROTOCOL[code] <= protocol for code in later), later


@pytest.mark.parametrize("kind", ["text", "random", "zip-without-pickle", "truncated", "protocol-1"])
def test_a_file_that_is_not_a_pickle_of_a_protocol_has_none(kind: str, tmp_path: Path) -> None:
    """Not a pickle, a zip without data.pkl, a pickle cut short (corrupt) or one without PROTO
    (protocols 0 and 1): no protocol is read, and such a file is never refused as a protocol."""
    path = tmp_path / f"{kind}.pt"
    if kind == "text":
        path.write_text("w: [1.0, 2.0]\n")
    elif kind == "random":
        path.write_bytes(bytes([0x80, 4, 0xEE]) + os.urandom(64))
    elif kind == "zip-without-pickle":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("model/weights.bin", b"\0" * 16)
    elif kind == "truncated":
        whole = _saved(tmp_path, 4, legacy=True).read_bytes()
        path.write_bytes(whole[:40])
    else:
        path.write_bytes(pickle.dumps({"w": [1.0, 2.0], "note": b"xx"}, protocol=1))
    assert _pickle_protocol(path) is None
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(path, what="weights", fix="fix it")
    message = str(refused.value)
    assert "corrupt" in message and message.endswith("; fix it"), message
    assert "pickle protocol" not in message, message


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_a_legacy_format_file_of_a_protocol_torch_does_not_read_is_named_with_how_to_save_it_again(
    protocol: int, tmp_path: Path
) -> None:
    """A file in torch's legacy format (pickles one after another) of protocol 3 with bytes, 4 or 5 is
    refused naming the protocol and the opcode, as a zip file is. Before: "it is corrupt or not a
    PyTorch weights file" (the protocol was read from a zip file's data.pkl only)."""
    source = _saved(tmp_path, protocol, legacy=True)
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(source, what="weights", fix="fix it")
    message = str(refused.value)
    opcode = FIRST_LATER_OPCODE[protocol]
    assert f"pickle protocol {protocol}, whose opcode {opcode} (" in message, message
    assert RESAVE in message and TRUST in message and "corrupt" not in message, message


def test_a_legacy_format_file_of_protocol_2_is_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2), "lr": 0.1}, path, _use_new_zipfile_serialization=False)
    read = load_weights_file(path, what="weights", fix="fix it")
    assert read["lr"] == 0.1 and torch.equal(read["w"], torch.ones(2))


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_a_protocol_is_named_when_torch_s_errors_name_no_opcode(
    protocol: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch's wording of an opcode it does not read (``Unsupported operand N``) is not relied on:
    where its reader's and its scan's errors name none (another torch version's wording), the
    protocol and its first opcode torch's reader lacks are read from the file. Before: "it is
    corrupt or not a PyTorch weights file"."""
    source = _saved(tmp_path, protocol, legacy=False)

    def reworded(*args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("Weights only load failed: opcode not understood")

    monkeypatch.setattr(torch, "load", reworded)
    monkeypatch.setattr(torch.serialization, "get_unsafe_globals_in_checkpoint", reworded)
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(source, what="weights", fix="fix it")
    message = str(refused.value)
    opcode = FIRST_LATER_OPCODE[protocol]
    assert f"pickle protocol {protocol}, whose opcode {opcode} (" in message, message
    assert "its globals were not checked" in message and RESAVE in message, message


def _with_opcode(tmp_path: Path, protocol: int, opcode: int) -> Path:
    """A protocol 2 file whose data.pkl's PROTO byte says ``protocol`` and whose fourth byte (an
    opcode: ``}`` EMPTY_DICT is followed by BINPUT's argument, then MARK) is ``opcode``."""
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(2), "lr": 0.1}, plain)
    source = tmp_path / f"protocol{protocol}-opcode{opcode}.pt"
    with zipfile.ZipFile(plain) as read, zipfile.ZipFile(source, "w") as write:
        for info in read.infolist():
            data = read.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                assert data[:3] == b"\x80\x02}", data[:3]
                data = bytes([data[0], protocol, data[2], opcode]) + data[4:]
            write.writestr(info, data)
    return source


@pytest.mark.parametrize(
    ("protocol", "opcode"), [(4, 0xEE), (3, pickle.FRAME[0])], ids=["0xEE", "FRAME-in-3"]
)
def test_an_opcode_no_protocol_torch_lacks_adds_is_called_corrupt(
    protocol: int, opcode: int, tmp_path: Path
) -> None:
    """Only the opcodes protocols 3 to 5 add (66, 67, 140 to 152, up to the file's protocol) are a
    protocol torch does not read: any other is a corrupt file, with the caller's fix. Before: "saved
    with pickle protocol 4, whose opcode 238 ..."."""
    source = _with_opcode(tmp_path, protocol, opcode)
    with pytest.raises(ArtifactError) as refused:
        load_weights_file(source, what="weights", fix="fix it")
    message = str(refused.value)
    assert "corrupt" in message and message.endswith("; fix it"), message
    assert "pickle protocol" not in message, message


@pytest.mark.skipif(not hasattr(np.dtypes, "StringDType"), reason="numpy 2's StringDType")
@pytest.mark.parametrize("na_object", [None, os.system], ids=["plain", "os.system"])
def test_a_numpy_string_dtype_array_in_metadata_is_read_as_a_stand_in_keeping_its_items(
    na_object: Any, tmp_path: Path
) -> None:
    """numpy 2 pickles a StringDType array's dtype as ``_convert_to_stringdtype_kwargs`` and its
    strings as a list: read as an array of objects is (a forbidden global in it refuses the file,
    named). Before: refused as "Python objects other than tensors" naming that function."""
    source = tmp_path / "strings.ckpt"
    names = np.array(["Phase3D", "GFP"], dtype=np.dtypes.StringDType(na_object=na_object))
    torch.save({"w": torch.ones(2), "hyper_parameters": {"channels": names}}, source)
    if na_object is os.system:
        with pytest.raises(ArtifactError, match=r"\((os|posix)\.system\)"):
            load_weights_file(source, what="weights", fix="fix it")
        return
    channels = load_weights_file(source, what="weights", fix="fix it")["hyper_parameters"]["channels"]
    assert isinstance(channels, NumpyArrayNotRead) and channels.items == ["Phase3D", "GFP"], channels
    assert channels.dtype_name == "StringDType" and channels.shape == (2,), channels


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b".",  # BINBYTES8 of 1 TiB: MemoryError
        b"\x80\x02K\x01}b.",  # BUILD on an int: AttributeError
        b"\x80\x02K\x01K\x02a.",  # APPEND to an int: AttributeError
    ],
    ids=["huge_bytes", "build_on_int", "append_to_int"],
)
def test_the_planning_probe_of_a_corrupted_checkpoint_pickle_gives_none(
    tmp_path: Path, data: bytes, monkeypatch
):
    """``checkpoint_entry`` promises ``None`` for a file it cannot read, but a corrupted ``data.pkl``
    raised MemoryError or AttributeError at planning (the job's own read refuses the file, naming why).
    A pickle over MAX_PROBED_PICKLE_BYTES is not read either; an intact one still is."""
    import dynaclr.io.weights as weights

    intact = tmp_path / "intact.ckpt"
    torch.save({"hyper_parameters": {"lr": 0.001}}, intact)
    assert weights.checkpoint_entry(intact, "hyper_parameters") == {"lr": 0.001}
    corrupted = tmp_path / "corrupted.ckpt"
    with zipfile.ZipFile(corrupted, "w") as archive:
        archive.writestr("archive/data.pkl", data)
    assert weights.checkpoint_entry(corrupted, "hyper_parameters") is None
    monkeypatch.setattr(weights, "MAX_PROBED_PICKLE_BYTES", 16)
    assert weights.checkpoint_entry(intact, "hyper_parameters") is None
