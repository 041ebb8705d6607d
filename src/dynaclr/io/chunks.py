"""Read a block of a plate's image array, naming the damaged chunk when it does not decode.

A truncated or overwritten chunk file (an interrupted copy, a full disk, a failing drive) makes the
codec fail deep inside zarr with a bare ``RuntimeError: blosc encoded value is invalid`` (or a
zstd/``ValueError``/``OSError``), which says neither which file is broken nor what to do.
:func:`read_block` reads ``array[key]`` and turns such an error into a :class:`CorruptChunkError`
that names the store, the array, the FOV, the time point and channel, the chunk and its file, and
the fix: re-copy the store from its source, or leave the FOV out of the dataset.

Every stage reads plate frames through it (phase, virtual staining, tracking, patches and the
evaluations). A *missing* chunk file is not an error for zarr (it reads as the fill value); this
helper cannot tell one from a frame never written.

A valid Zarr v2 array that iohub's default reader (the zarrs codec pipeline) does not decode, a
big-endian ``dtype`` (``>u2``, what bioformats2raw writes) or ``order`` ``F``, is no corruption: it is
refused naming that cause (:data:`UNDECODABLE_STORAGE_ERRORS`), and the dry run refuses such plates
before any job (:func:`dynaclr.io.plate.read_plate_layout`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dynaclr.io.provenance import ArtifactError

__all__ = ["DECODE_ERRORS", "STORAGE_FIX", "UNDECODABLE_STORAGE_ERRORS", "CorruptChunkError", "read_block"]

#: What codecs raise on bytes that do not decode: blosc and zstd (``RuntimeError``), a chunk of the
#: wrong size (``ValueError``), a file cut short or unreadable (``OSError``, ``EOFError``).
DECODE_ERRORS: tuple[type[BaseException], ...] = (RuntimeError, ValueError, OSError, EOFError)

#: What the zarrs codec pipeline (iohub's default reader) raises for a valid Zarr v2 array it does not
#: decode: a big-endian ``dtype`` (``>u2``) or ``order`` ``F``. Not corruption: the dry run refuses
#: such plates (:func:`dynaclr.io.plate.read_plate_layout`), and :func:`read_block` names the cause.
UNDECODABLE_STORAGE_ERRORS = ("Non-native byte order", "must be a C contiguous array")

#: How to rewrite a Zarr v2 array the plate reader does not decode (:data:`UNDECODABLE_STORAGE_ERRORS`).
STORAGE_FIX = (
    "read it with zarr-python's own codec pipeline (codec_pipeline.path "
    "'zarr.core.codec_pipeline.BatchedCodecPipeline', which decodes it) and write it again as the same "
    "type little-endian ('<u2' for '>u2') in C order, or convert the plate to OME-Zarr 0.5 (Zarr v3)"
)

#: Names of the axes of a plate's image array ``0`` (OME-NGFF ``T, C, Z, Y, X``).
TCZYX = ("t", "c", "z", "y", "x")


class CorruptChunkError(ArtifactError):
    """A chunk of an array could not be decoded: the store is truncated or corrupt."""


def _first_indices(key: tuple[Any, ...], shape: tuple[int, ...]) -> list[int]:
    """The first index along each axis that ``key`` (ints and slices, leading axes) selects."""
    first = []
    for axis, size in enumerate(shape):
        item = key[axis] if axis < len(key) else slice(None)
        if isinstance(item, slice):
            first.append(item.indices(size)[0])
        else:
            first.append(int(item) % size if size else 0)
    return first


def _chunk_description(array: Any, key: tuple[Any, ...], store: Path, array_name: str) -> str:
    """``chunk (3, 1, 0, 0, 0), file <path>`` of the block's first chunk, as far as it is known."""
    shape, chunks = tuple(getattr(array, "shape", ())), tuple(getattr(array, "chunks", ()) or ())
    if not shape or len(chunks) != len(shape):
        return ""
    first = _first_indices(key, shape)
    chunk = tuple(index // size for index, size in zip(first, chunks, strict=True))
    text = f", chunk {chunk}"
    try:  # the chunk's file name, from the array's own key encoding (zarr v2 or v3)
        import zarr

        metadata = zarr.open_array(store=str(store / array_name), mode="r").metadata
        text += f" (file {store / array_name / metadata.encode_chunk_key(chunk)})"
    except Exception:  # the file name is a courtesy; the error itself is already known
        pass
    return text


def _position(array: Any, key: tuple[Any, ...]) -> str:
    """``time point t=3, channel 1`` for a 5-D image array, else the key."""
    shape = tuple(getattr(array, "shape", ()))
    if len(shape) != len(TCZYX):
        return f"block {key}"
    first = _first_indices(key, shape)
    parts = []
    for axis in (0, 1):
        if axis < len(key) and not isinstance(key[axis], slice):
            parts.append(f"{'time point t' if axis == 0 else 'channel c'}={first[axis]}")
    return ", ".join(parts) or f"block {key}"


def read_block(
    array: Any,
    key: Any,
    *,
    store: str | Path,
    fov_name: str | None = None,
    array_name: str | None = None,
) -> np.ndarray:
    """``array[key]`` as a numpy array; a chunk that does not decode raises :class:`CorruptChunkError`.

    Args:
        array: an iohub ``ImageArray``, a zarr array or any array-like (numpy arrays never fail here).
        key: an index (``t``, ``(t, c)``, ``(t, c, z_slice)``...), the leading axes.
        store: path of the store (the plate) the array lives in, named in the error.
        fov_name: the FOV (``row/column/fov``) the array belongs to, named in the error.
        array_name: the array's path inside the store; default ``array.path`` (iohub and zarr arrays
            know it, e.g. ``A/1/0/0``), prefixed with ``fov_name`` where it is relative to the
            position (a position opened on its own, :func:`~dynaclr.io.plate.open_plate_position`).

    Raises:
        CorruptChunkError: the codec failed (:data:`DECODE_ERRORS`); the message names the store,
            the array, the FOV, the time point and channel, the chunk and its file, and the fix.
        ArtifactError: the reader does not decode the array's storage (:data:`UNDECODABLE_STORAGE_ERRORS`:
            a Zarr v2 array big-endian or in Fortran order), named as such, not as corruption.
    """
    try:
        return np.asarray(array[key])
    except ArtifactError:
        raise
    except DECODE_ERRORS as err:
        store = Path(store)
        name = array_name or str(getattr(array, "path", "") or "array")
        if fov_name and array_name is None and not name.startswith(f"{fov_name}/"):
            name = f"{fov_name}/{name}"  # an array of a position opened on its own: its path in the plate
        index = key if isinstance(key, tuple) else (key,)
        fov = f"FOV {fov_name}" if fov_name else "its FOV"
        if any(text in str(err) for text in UNDECODABLE_STORAGE_ERRORS):
            raise ArtifactError(
                f"{store}: array {name!r} ({fov}, {_position(array, index)}) cannot be read: "
                f"{type(err).__name__}: {err}. The array is stored in a way the plate reader (iohub's zarrs "
                f"codec pipeline) does not decode: a Zarr v2 .zarray whose dtype is big-endian (its dtype: "
                f"{getattr(array, 'dtype', '?')}) or whose order is 'F'. The store is not corrupt; rewrite "
                f"the array little-endian in C order: {STORAGE_FIX}"
            ) from err
        raise CorruptChunkError(
            f"{store}: array {name!r} ({fov}, {_position(array, index)}) cannot be read: a chunk does "
            f"not decode{_chunk_description(array, index, store, name)}: {type(err).__name__}: {err}. "
            f"The store is truncated or corrupt (an interrupted copy, a full disk or a failing drive). "
            f"Re-copy the store from its source; if the source is damaged too, leave {fov} out of the "
            "dataset (a plate without that position)."
        ) from err
