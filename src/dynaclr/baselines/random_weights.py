"""Baseline: the contrastive encoder with random (untrained) weights, seeded.

Its embeddings show what the architecture alone gives (paper's comparison of training
strategies); :func:`dynaclr.embeddings.embed_stage` runs it under the model name
``random_weights``.
"""

from __future__ import annotations

from typing import Any

import torch

from dynaclr.contrastive.encoder import ContrastiveEncoder


def random_encoder(seed: int = 0, **encoder_kwargs: Any) -> ContrastiveEncoder:
    """A :class:`~dynaclr.contrastive.ContrastiveEncoder` initialised from ``seed``, in eval mode.

    The global torch RNG is left untouched (initialisation runs under ``torch.random.fork_rng``),
    and the same seed gives bit-identical weights.

    Args:
        seed: initialisation seed.
        **encoder_kwargs: ``ContrastiveEncoder`` arguments (``backbone``, ``in_channels``,
            ``in_stack_depth``, ``stem_kernel_z``, ``projection_dim``, ...), the same as the
            trained model's; ``weights_path`` is refused.
    """
    if encoder_kwargs.get("weights_path") is not None:
        raise ValueError("random_encoder builds untrained weights; do not pass weights_path")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = ContrastiveEncoder(**encoder_kwargs)
    return encoder.eval()
