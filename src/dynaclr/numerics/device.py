"""The torch device a ``device`` setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``) names."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str) -> torch.device:
    """``'auto'`` → the GPU when torch sees one, else the CPU; any other value as named.

    Raises:
        RuntimeError: a CUDA device is named but torch sees no GPU.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was requested but torch sees no GPU; use 'auto' or 'cpu'")
    return torch.device(device)
