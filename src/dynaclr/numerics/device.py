"""The torch device a ``device`` setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``) names, and the check
of a Lightning ``accelerator`` setting (``auto``, ``cpu``, ``gpu``) against the machine."""

from __future__ import annotations

import torch

__all__ = ["check_accelerator", "resolve_device"]


def _no_gpu(key: str | None, value: str) -> RuntimeError:
    named = f"{key}: {value!r}" if key else f"device {value!r}"
    return RuntimeError(
        f"{named} was requested but torch sees no GPU on this machine; use 'auto' or 'cpu', or run the "
        "job where torch sees a GPU"
    )


def resolve_device(device: str, key: str | None = None) -> torch.device:
    """``'auto'`` → the GPU when torch sees one, else the CPU; any other value as named.

    Args:
        device: the setting.
        key: the config key it comes from, named in the error (e.g. ``analysis.embeddings.device``).

    Raises:
        RuntimeError: a CUDA device is named but torch sees no GPU.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise _no_gpu(key, device)
    return torch.device(device)


def check_accelerator(accelerator: str, key: str) -> None:
    """Refuse a Lightning ``accelerator: gpu`` where torch sees no GPU (CUDA, or Apple's MPS, which
    Lightning's 'gpu' also takes), naming ``key``, before any data is read; Lightning's own error
    ("No supported gpu backend found!") names neither the key nor a fix.

    Raises:
        RuntimeError: ``accelerator`` is 'gpu' and torch sees no GPU.
    """
    if accelerator == "gpu" and not (torch.cuda.is_available() or torch.backends.mps.is_available()):
        raise _no_gpu(key, accelerator)
