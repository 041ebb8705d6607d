"""Reading PyTorch weights files (checkpoints, state dicts) with errors a person can act on.

Every weights file is read with ``torch.load(weights_only=True)``: no file can run code. torch's
own errors for a file it cannot read are long and, for a corrupt file, advise retrying with
``weights_only=False``, which dynaclr never does (it would let a planted file run code).
:func:`load_weights_file` names the file, the likely cause and the fix the caller gives instead; only
for a file of a pickle protocol torch's weights-only reader cannot read does the message say how to
save it again, by a full load the user makes themselves and only of a file whose source they trust.
torch is imported only when a file is read.

Published Lightning checkpoints carry, beside their tensors, metadata pickled as classes dynaclr
neither has nor needs (Hydra's omegaconf ``DictConfig`` in ``hyper_parameters``, ``pathlib`` paths,
Lightning's ``AttributeDict``, jsonargparse's ``Namespace``, numpy scalars, dtypes and arrays). Globals
matching :data:`METADATA_GLOBALS` (any name under ``omegaconf.`` or ``typing.``, ``pathlib`` paths,
...), and no others, are read as inert stand-ins (:class:`MetadataNotRead`): found by
``torch.serialization.get_unsafe_globals_in_checkpoint`` (a static scan of the pickle), allowed while
the file is read (``safe_globals``: the process-wide allowlist is left as it was). The
``weights_only`` unpickler creates a stand-in with ``cls.__new__(cls, *args)`` (NEWOBJ) or
``cls(*args)`` (REDUCE) and gives it its state with ``__setstate__`` (BUILD): a stand-in keeps what
it is given and runs nothing else; the real class is never imported. Any other global refuses the
file, named.

numpy arrays in the metadata (normalisation statistics, a schedule, channel names in
``hyper_parameters``) are stand-ins too (:class:`NumpyArrayNotRead`), not numpy arrays: numpy's
reconstructor (``numpy._core.multiarray._reconstruct``, numpy 1's
``numpy.core.multiarray._reconstruct``) would build a real one from allowlisted dtypes without
running code, but dynaclr reads no metadata, and a stand-in keeps the array's dtype code and shape
as the scalars and dtypes beside it are kept, with no numpy class allowed in torch's unpickler. It
keeps the bytes of an array of numbers, strings, booleans, dates or records, and the items of an
array of Python objects (an object dtype, a record with an object field, numpy 2's ``StringDType``:
numpy pickles a list of its items, not bytes). Those items are built by torch's unpickler before
the stand-in gets them, under the same allowlist as anywhere in the file: they are what a list of
the same values would be (any other global among them refuses the file, named). An array where a
tensor belongs is refused by :func:`require_tensors` naming its key.

torch's weights-only reader (and its scan) reads pickle protocol 2, ``torch.save``'s default, not
all of 3 (its opcode for bytes) or 4 and 5 (framed pickles): a file saved with such a protocol is
refused naming it and how to save it again, warning that its globals were not checked. The protocol
and the opcodes protocols 3 to it add are read from the file's own bytes (its pickle's ``PROTO``
opcode, ``pickletools``; a zip file's ``data.pkl`` or a legacy file's pickles), not from torch's
error text: an opcode torch's error names must be one of those, and where its errors name none (its
wording changed), the first of those is the cause. A forbidden global torch's reader meets first is
named as in any file; an opcode no protocol up to the file's adds, or a pickle ``pickletools``
cannot parse, is a corrupt file.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import pickle
import pickletools
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from dynaclr.io.provenance import ArtifactError

__all__ = [
    "METADATA_GLOBALS",
    "MetadataNotRead",
    "NumpyArrayNotRead",
    "WeightsFile",
    "load_weights_file",
    "read_weights_file",
    "require_tensors",
    "state_dict_sha256",
]

logger = logging.getLogger(__name__)

#: Globals (``module.Qualname``) that checkpoints' metadata names beside the tensors, read as inert
#: stand-ins: they hold configuration and paths, never weights or code to run.
METADATA_GLOBALS = re.compile(
    r"omegaconf(\.\w+)+"  # Hydra / omegaconf: DictConfig, ListConfig, their nodes and metadata
    r"|pathlib(\._local)?\.(Pure)?(Posix|Windows)?Path"  # paths in hyperparameters (3.13: pathlib._local)
    r"|typing\.\w+"  # annotations omegaconf's metadata holds (typing.Any)
    r"|jsonargparse(\.\w+)*\.Namespace"  # LightningCLI's arguments
    r"|(lightning\.fabric\.utilities\.data|lightning_fabric\.utilities\.data"
    r"|lightning\.pytorch\.utilities\.parsing|pytorch_lightning\.utilities\.parsing)\.AttributeDict"
    r"|collections\.(defaultdict|deque)"
    # numpy scalars, dtypes and arrays in hyperparameters (numpy 2: numpy._core, numpy 1: numpy.core)
    r"|numpy\.(_core|core)\.multiarray\.(scalar|_reconstruct)|numpy\.ndarray|numpy\.dtype|numpy\.dtypes\.\w+DType"
    r"|numpy\._core\._internal\._convert_to_stringdtype_kwargs"  # numpy 2's StringDType, as pickled
    # types held as values (omegaconf's object_type=dict, defaultdict(list)'s factory)
    r"|builtins\.(dict|list|tuple|frozenset|str|int|float|bool|bytes|object)"
)
#: Of those, the containers the unpickler fills (SETITEMS, APPENDS: plain dicts and lists only).
_AS_DICT = re.compile(r".*\.AttributeDict|collections\.defaultdict")
_AS_LIST = "collections.deque"
#: numpy's array reconstructor: its stand-in is :class:`NumpyArrayNotRead`.
_NUMPY_ARRAY = re.compile(r"numpy\.(_core|core)\.multiarray\._reconstruct")
#: How an opcode torch's weights-only reader lacks shows in its error, and a global it refuses.
_UNSUPPORTED_OPCODE = re.compile(r"Unsupported operand (\d+)")
_REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+)")
#: Opcodes' names by their byte (``pickletools``). Only those protocols 3 to 5 add (66 and 67,
#: bytes, in 3; 140 to 149 in 4, FRAME among them; 150 to 152 in 5), up to the file's protocol,
#: are a protocol torch does not read: any other is corruption.
_OPCODE_NAME = {ord(op.code): op.name for op in pickletools.opcodes}
#: The pickles a legacy (pre-zip) torch.save file begins with: magic number, format version,
#: system info, then the object (its storages' keys and bytes follow).
_LEGACY_PICKLES = 4
#: Re-saving with the protocol torch reads (``torch.save``'s default): the file's own object, not
#: its ``state_dict`` (DINO's teacher and timm's files hold none).
_SAVE_WITH_PROTOCOL_2 = (
    "load it with weights_only=False only if you trust its source, and save it again with "
    "torch.save's default pickle protocol 2: torch.save(torch.load(path, weights_only=False), path)"
)
#: The fix for a foreign checkpoint holding what dynaclr does not read beside its weights.
_SAVE_STATE_DICT = (
    "save checkpoint['state_dict'] alone (torch.save(ckpt['state_dict'], path)) and read that file"
)


class MetadataNotRead:
    """Stands in for a class a checkpoint's metadata names that dynaclr does not read: it keeps the
    arguments and state the file gives it (``args``, ``state``) and runs no code of that class."""

    global_name: ClassVar[str] = ""
    args: tuple[Any, ...]
    state: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        stand_in = super().__new__(cls)
        stand_in.args, stand_in.state = args, None
        return stand_in

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # what __new__ was given is kept
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    @property
    def what(self) -> str:
        """What the file holds, as an error names it: the global stood in for."""
        return self.global_name

    def __repr__(self) -> str:
        return f"<{self.global_name}, not read>"


class NumpyArrayNotRead(MetadataNotRead):
    """A numpy array in a checkpoint's metadata, not built: numpy's reconstructor
    (``_reconstruct(ndarray, (0,), b'b')``) creates it, its state ``(version, shape, dtype,
    is_fortran, data)`` is kept (``shape``, ``dtype``: the dtype code as pickled, e.g. ``'<f4'``,
    ``'O8'`` for Python objects, ``'V16'`` for a record). ``data`` is the bytes of an array of
    numbers, strings, booleans, dates or records; ``items`` the list numpy pickles for an array of
    Python objects (an object dtype, or a record with an object field), as torch's unpickler built
    it under the file's allowlist. Any other state is refused, naming what it held."""

    shape: Any = None
    dtype: str = "?"
    data: bytes = b""
    items: list[Any] | None = None

    @property
    def what(self) -> str:
        return "numpy.ndarray"

    def __setstate__(self, state: Any) -> None:
        self.state = state
        parts = state if isinstance(state, tuple) and len(state) == 5 else (None,) * 5
        _, self.shape, dtype, _, data = parts
        if isinstance(dtype, MetadataNotRead) and dtype.args and isinstance(dtype.args[0], str):
            order = dtype.state[1] if isinstance(dtype.state, tuple) and len(dtype.state) > 1 else ""
            self.dtype = f"{order if order in ('<', '>') else ''}{dtype.args[0]}"
        elif isinstance(dtype, MetadataNotRead) and dtype.global_name.endswith(
            "_convert_to_stringdtype_kwargs"
        ):
            self.dtype = "StringDType"
        if isinstance(data, MetadataNotRead) and data.global_name == "builtins.bytes" and not data.args:
            data = b""  # an empty array's: pickle protocol 2 writes b"" as bytes()
        # numpy pickles a list of items exactly for dtypes holding objects: "O", or a record "V"
        # numpy pickles StringDType's strings as a list of items, as it does Python objects
        kind = "O" if self.dtype == "StringDType" else self.dtype.lstrip("<>|=")[:1]
        if isinstance(data, list) and kind in ("O", "V"):
            self.items = data
        elif isinstance(data, bytes) and kind != "O":
            self.data = data
        else:
            held = data.what if isinstance(data, MetadataNotRead) else type(data).__name__
            written = (
                "a list of items" if kind == "O" else "bytes or a list of items" if kind == "V" else "bytes"
            )
            given = (
                "a list of items"
                if isinstance(data, list)
                else "bytes"
                if isinstance(data, bytes)
                else f"a {held}"
            )
            raise pickle.UnpicklingError(
                f"{self.global_name}: a numpy array (dtype {self.dtype_name!r}) given {given} where numpy "
                f"writes {written}"
            )

    @property
    def dtype_name(self) -> str:
        """The dtype as a person reads it: ``object`` for Python objects, else the code as pickled."""
        return "object" if self.dtype.lstrip("<>|=").startswith("O") else self.dtype

    def __repr__(self) -> str:
        return f"<numpy.ndarray dtype {self.dtype_name!r} shape {self.shape}, not read>"


class _AsDict(MetadataNotRead):
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return {}  # the unpickler then sets its items: a dict subclass is refused


class _AsList(MetadataNotRead):
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return []


@functools.cache
def _stand_in(global_name: str) -> type:
    base = (
        _AsDict
        if _AS_DICT.fullmatch(global_name)
        else _AsList
        if global_name == _AS_LIST
        else NumpyArrayNotRead
        if _NUMPY_ARRAY.fullmatch(global_name)
        else MetadataNotRead
    )
    attributes = {"global_name": global_name, "__module__": __name__}
    return type(global_name.rsplit(".", 1)[-1], (base,), attributes)


@dataclass(frozen=True)
class WeightsFile:
    """A weights file as read: ``contents`` and the metadata globals read as stand-ins (sorted)."""

    contents: Any
    metadata_not_read: tuple[str, ...]


def _globals_to_check(path: Path) -> tuple[list[str], str]:
    """The globals in ``path``'s pickle that ``weights_only`` does not allow, and why the scan
    failed (empty if it did not); no globals for a file torch cannot scan (a legacy or corrupt file:
    ``torch.load`` names the problem; a pickle protocol it does not read)."""
    import torch

    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path)), ""
    except (ValueError, RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:
        return [], str(err) or type(err).__name__


def _pickle_protocol(path: Path) -> tuple[int, tuple[int, ...]] | None:
    """The pickle protocol ``path`` was saved with, read from its bytes (the ``PROTO`` opcode heading
    a ``torch.save`` zip file's ``data.pkl``, or a legacy file's first pickle), and the opcodes (their
    bytes) that protocols 3 to that protocol add which its pickle holds, first met first. Read with
    ``pickletools``: no object is built, nothing imported. None for a file that is no such pickle:
    neither a zip holding ``data.pkl`` nor a pickle, one without ``PROTO`` (protocols 0 and 1), or one
    ``pickletools`` cannot parse (an unknown opcode, cut short: corrupt)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = _zip_pickle(archive)
                if name is None:
                    return None
                with archive.open(name) as data:
                    return _protocol_and_later_opcodes(data, pickles=1)
        with path.open("rb") as data:
            return _protocol_and_later_opcodes(data, pickles=_LEGACY_PICKLES)
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError):
        return None


def _zip_pickle(archive: zipfile.ZipFile) -> str | None:
    """The name of the pickle a ``torch.save`` zip file holds (``<name>/data.pkl``), if any."""
    return next((n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")), None)


class _Inert:
    """Any object of a class in a pickle read by :func:`checkpoint_entry`: built from nothing it is
    given, it keeps nothing and runs nothing (a tensor, an ordered dict of them, a class of metadata)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


class _WithoutClasses(pickle.Unpickler):
    """Unpickles plain values (dicts, lists, numbers, strings) as saved and every global as
    :class:`_Inert`: no module is imported, no class of the file built, no storage read."""

    def find_class(self, module: str, name: str) -> Any:
        return _Inert

    def persistent_load(self, pid: Any) -> None:
        return None


#: Largest uncompressed pickle (``data.pkl``) :func:`checkpoint_entry` reads (64 MiB): a checkpoint's
#: pickle holds its dicts and tensor references, kilobytes to a few MiB (the tensors are separate
#: entries); a larger one is no checkpoint this probe reads at planning (the job's own read judges it).
MAX_PROBED_PICKLE_BYTES = 64 * 1024 * 1024


def checkpoint_entry(path: str | Path, key: str) -> Any:
    """Entry ``key`` of the dict a ``torch.save`` zip file holds (``hyper_parameters`` of a
    ``model.ckpt``), read without torch and without its tensors (seconds less at the dry run): its
    plain values as saved, any object of a class an inert stand-in. ``None`` where the file is not
    such a file, holds no such entry, holds a pickle larger than :data:`MAX_PROBED_PICKLE_BYTES`, or
    cannot be read for any reason (a best-effort probe: a corrupted pickle raises anything from
    ``MemoryError`` to ``AttributeError``; the job that loads the file refuses it naming why)."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = _zip_pickle(archive)
            if name is None or archive.getinfo(name).file_size > MAX_PROBED_PICKLE_BYTES:
                return None
            with archive.open(name) as data:
                contents = _WithoutClasses(data).load()
    except Exception:  # best effort (docstring): the job's own read refuses the file properly
        return None
    return contents.get(key) if isinstance(contents, dict) else None


def _protocol_and_later_opcodes(data: IO[bytes], pickles: int) -> tuple[int, tuple[int, ...]] | None:
    """:func:`_pickle_protocol` of the first ``pickles`` pickles in ``data``, one after another.

    Raises:
        ValueError: ``pickletools`` cannot parse them.
    """
    protocol: int | None = None
    later: dict[int, None] = {}  # ordered, without repeats
    for _ in range(pickles):
        for opcode, arg, _position in pickletools.genops(data):
            if protocol is None:
                if opcode.name != "PROTO" or not isinstance(arg, int):
                    return None
                protocol = arg
            if 2 < opcode.proto <= protocol:
                later.setdefault(ord(opcode.code))
    return (protocol, tuple(later)) if protocol is not None else None


def load_weights_file(
    path: str | Path, *, what: str, fix: str, map_location: str = "cpu", foreign: bool = False
) -> Any:
    """What :func:`read_weights_file` reads: the file's contents."""
    return read_weights_file(path, what=what, fix=fix, map_location=map_location, foreign=foreign).contents


def read_weights_file(
    path: str | Path, *, what: str, fix: str, map_location: str = "cpu", foreign: bool = False
) -> WeightsFile:
    """``torch.load(path, weights_only=True)``, ``argparse.Namespace`` allowed and the metadata
    globals of :data:`METADATA_GLOBALS` read as stand-ins, named in an INFO log (a ``.safetensors``
    file: ``safetensors.torch.load_file``);
    :class:`ArtifactError` naming ``what``, the cause and ``fix``.

    Args:
        path: the file.
        what: what the file should be, e.g. ``"contrastive model"``.
        fix: what to do about a missing or unreadable file, e.g. ``"rerun it with `snakemake
            --forcerun train_contrastive`"``.
        map_location: where tensors are loaded.
        foreign: the file is another project's checkpoint (VisCy's, a published network's): a
            refusal for globals other than metadata advises saving its state dict alone, which
            copying the file again cannot replace.

    Raises:
        ArtifactError: the file is missing, truncated or corrupt (a job killed while writing it, a
            partial copy), or holds Python objects other than tensors, plain containers and
            metadata (naming their globals), or metadata pickled with state a stand-in does not
            take, or was saved with a pickle protocol torch's weights-only reader does not read
            (naming it, and how to save the file again).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: {what} not found; {fix}")
    if path.suffix == ".safetensors":  # tensors only by design (Hugging Face's weights files)
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return WeightsFile(load_file(path, device=map_location), ())
        except (SafetensorError, OSError) as err:
            raise ArtifactError(
                f"{path}: {what} cannot be read: not a complete safetensors file ({err}); {fix}"
            ) from None
    unsafe, scan_failed = _globals_to_check(path)
    stubbed = tuple(name for name in unsafe if METADATA_GLOBALS.fullmatch(name))
    refused = [name for name in unsafe if name not in stubbed and name != "argparse.Namespace"]
    # argparse.Namespace: the training arguments self-supervised checkpoints hold (DINO's ``args``);
    # it holds plain values (anything else is still refused) and runs no code. The context's exit
    # takes what it added off the process-wide allowlist, so Namespace is added only where the
    # process had not allowed it already (add_safe_globals elsewhere stays in force)
    allow: list[Any] = [(_stand_in(name), name) for name in stubbed]
    if argparse.Namespace not in torch.serialization.get_safe_globals():
        allow.append(argparse.Namespace)
    try:
        with torch.serialization.safe_globals(allow):
            contents = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's reader stops at the first thing it refuses: a global (named as the scan names it,
        # builtins included), or an opcode, which is a pickle protocol it does not read only if
        # protocols 3 to 5, up to the file's, add it. The scan stops at such an opcode too: a
        # metadata global it did not reach is refused by the reader, the opcode the scan met the cause
        met = _REFUSED_GLOBAL.search(str(err))
        met_name = (met.group(1) if "." in met.group(1) else f"builtins.{met.group(1)}") if met else ""
        unscanned_metadata = bool(scan_failed) and (
            METADATA_GLOBALS.fullmatch(met_name) is not None or met_name == "argparse.Namespace"
        )
        if met and not refused and not unscanned_metadata:
            refused = [met_name]
        # the opcode torch met: the one its error names, which must be one the file's protocol adds;
        # where its errors name none (another wording), the first such the file holds, if its scan
        # failed too (a scan that read the whole pickle met no opcode torch lacks)
        protocol, later = _pickle_protocol(path) or (0, ())
        met_opcode = _UNSUPPORTED_OPCODE.search(scan_failed if unscanned_metadata else str(err))
        opcode = int(met_opcode.group(1)) if met_opcode else (later[0] if later and scan_failed else None)
        if refused or ("GLOBAL" in str(err) and not unscanned_metadata):
            named = f" ({', '.join(refused)})" if refused else ""
            cause = (
                f"it holds Python objects other than tensors, plain containers and known metadata{named}, "
                "which dynaclr never loads (that could run code)"
            )
            if foreign:  # copying the file again cannot help
                fix = f"where those classes exist, {_SAVE_STATE_DICT}"
            else:
                cause += ": it was not written by dynaclr"
        elif opcode in later:
            unchecked = " and its globals were not checked" if scan_failed else ""
            cause = (
                f"it was saved with pickle protocol {protocol}, whose opcode {opcode} "
                f"({_OPCODE_NAME[opcode]}) torch's weights-only reader does not read{unchecked}"
            )
            # a foreign file too: its own object, which may hold no 'state_dict'
            fix = _SAVE_WITH_PROTOCOL_2 if foreign else f"{_SAVE_WITH_PROTOCOL_2}; or {fix}"
        elif stubbed:  # torch's reason, without its advice to load with weights_only=False
            reason = re.search(r"WeightsUnpickler error:\s*([^\n]{1,160})", str(err))
            cause = (
                f"its metadata ({', '.join(stubbed)}) is not pickled as plain state dynaclr reads without "
                f"those classes{f': {reason.group(1)}' if reason else ''}"
            )
            if foreign:  # the weights are fine: the file, not a copy of it, holds the metadata
                fix = _SAVE_STATE_DICT
        else:
            cause = "it is corrupt or not a PyTorch weights file"
        raise ArtifactError(f"{path}: {what} cannot be read: {cause}; {fix}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first_sentence = str(err).split(". ")[0].splitlines()[0][:120] if str(err) else type(err).__name__
        raise ArtifactError(
            f"{path}: {what} cannot be read: the file is truncated or corrupt ({first_sentence}); {fix}"
        ) from None
    if stubbed:
        logger.info(
            "%s: the %s holds metadata of classes dynaclr does not have, not read (stand-ins keep their "
            "values; the weights are plain tensors): %s",
            path,
            what,
            ", ".join(stubbed),
        )
    return WeightsFile(contents, stubbed)


def require_tensors(state: Mapping[Any, Any], path: str | Path, where: str) -> None:
    """Refuse ``state`` (a state dict read from ``path``) unless every value is a tensor.

    Stand-ins (:class:`MetadataNotRead`) belong to a checkpoint's metadata: one where a tensor
    should be is named by the global it stands in for (an array: ``numpy.ndarray``).

    Raises:
        ArtifactError: naming ``path``, ``where`` (e.g. ``"its 'state_dict'"``), the first key
            whose value is not a tensor, what it is, and how many such keys there are.
    """
    import torch

    wrong = [(str(key), value) for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if wrong:
        key, value = wrong[0]
        found = value.what if isinstance(value, MetadataNotRead) else type(value).__name__
        more = f"; {len(wrong)} such keys" if len(wrong) > 1 else ""
        raise ArtifactError(
            f"{path}: {where} must map parameter names to tensors; key {key!r} holds a {found}{more}: "
            "not a model's weights"
        )


def state_dict_sha256(state: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a module's weights: over ``state``'s entries in sorted name order, each
    tensor's name, dtype, shape and bytes (on CPU). Two encoders have the same digest exactly when
    they hold the same tensors, whatever config trained or imported them (``embedded_by`` of the
    classifiers compares it).

    Raises:
        TypeError: an entry is not a tensor.
    """
    import torch

    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"state dict entry {name!r}: expected a tensor, found {type(tensor).__name__}")
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        for part in (name, str(flat.dtype), repr(tuple(tensor.shape))):
            encoded = part.encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "little") + encoded)
        data = flat.view(torch.uint8).numpy().tobytes()
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()
