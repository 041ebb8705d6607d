"""Reading PyTorch weights files (checkpoints, state dicts) with errors a person can act on.

Every weights file is read with ``torch.load(weights_only=True)``: no file can run code. torch's
own errors for a file it cannot read are long and, for a corrupt file, advise retrying with
``weights_only=False``, which is never the fix here (and would let a planted file run code).
:func:`load_weights_file` names the file, the likely cause and the fix the caller gives instead.
torch is imported only when a file is read.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dynaclr.io.provenance import ArtifactError

__all__ = ["load_weights_file", "state_dict_sha256"]


def load_weights_file(path: str | Path, *, what: str, fix: str, map_location: str = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, ``argparse.Namespace`` allowed (a ``.safetensors`` file:
    ``safetensors.torch.load_file``);
    :class:`ArtifactError` naming ``what``, the cause and ``fix``.

    Args:
        path: the file.
        what: what the file should be, e.g. ``"contrastive model"``.
        fix: what to do about a missing or unreadable file, e.g. ``"rerun it with `snakemake
            --forcerun train_contrastive`"``.
        map_location: where tensors are loaded.

    Raises:
        ArtifactError: the file is missing, truncated or corrupt (a job killed while writing it, a
            partial copy), or holds Python objects other than tensors and plain containers.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: {what} not found; {fix}")
    if path.suffix == ".safetensors":  # tensors only by design (Hugging Face's weights files)
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path, device=map_location)
        except (SafetensorError, OSError) as err:
            raise ArtifactError(
                f"{path}: {what} cannot be read: not a complete safetensors file ({err}); {fix}"
            ) from None
    try:
        # argparse.Namespace: the training arguments self-supervised checkpoints hold (DINO's
        # ``args``); it holds plain values (anything else is still refused) and runs no code. The
        # context's exit takes it off the process-wide allowlist, so it is entered only where the
        # process had not allowed it already (add_safe_globals elsewhere stays in force)
        allowed = argparse.Namespace in torch.serialization.get_safe_globals()
        with contextlib.nullcontext() if allowed else torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" in str(err) or "not an allowed global" in str(err):
            cause = (
                "it holds Python objects other than tensors and plain containers, which dynaclr never "
                "loads (that could run code): it was not written by dynaclr"
            )
        else:
            cause = "it is corrupt or not a PyTorch weights file"
        raise ArtifactError(f"{path}: {what} cannot be read: {cause}; {fix}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first_sentence = str(err).split(". ")[0].splitlines()[0][:120] if str(err) else type(err).__name__
        raise ArtifactError(
            f"{path}: {what} cannot be read: the file is truncated or corrupt ({first_sentence}); {fix}"
        ) from None


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
