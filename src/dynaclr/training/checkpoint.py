"""A trained model's encoder read from ``model.ckpt`` without Lightning.

``model.ckpt`` (kind ``contrastive_model``, written by :func:`~dynaclr.training.train_contrastive`)
holds the :class:`~dynaclr.training.ContrastiveModule`'s arguments under ``hyper_parameters`` and
its weights under ``state_dict``, the encoder's prefixed ``encoder.``. Embedding needs the encoder
and its architecture only; rebuilding them here spares an embedding job importing Lightning.
:func:`~dynaclr.training.load_contrastive_model` loads the whole module instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.encoder import ContrastiveEncoder
from dynaclr.io import Provenance, check_provenance
from dynaclr.io.provenance import PROVENANCE_KEY

_ENCODER_PREFIX = "encoder."


@dataclass(frozen=True)
class ContrastiveCheckpoint:
    """The architecture and encoder weights of a trained contrastive model.

    Attributes:
        config: the model's training config (backbone, head, seed, ...).
        in_channels, in_stack_depth: patch channels ``C`` and slices ``Z``.
        patch_size_yx_px: network input size ``S`` (the training centre crop).
        encoder_state: the encoder's ``state_dict``.
        provenance: the checkpoint's provenance record.
    """

    config: ContrastiveModelConfig
    in_channels: int
    in_stack_depth: int
    patch_size_yx_px: int
    encoder_state: dict[str, torch.Tensor]
    provenance: Provenance

    def encoder_arguments(self) -> dict[str, Any]:
        """:class:`~dynaclr.contrastive.ContrastiveEncoder` arguments of this architecture."""
        return {
            "backbone": self.config.backbone,
            "in_channels": self.in_channels,
            "in_stack_depth": self.in_stack_depth,
            "stem_kernel_z": self.config.stem_kernel_z,
            "projection_dim": self.config.projection_dim,
            "drop_path_rate": self.config.drop_path_rate,
        }

    def encoder(self) -> ContrastiveEncoder:
        """The trained encoder, in eval mode."""
        encoder = ContrastiveEncoder(**self.encoder_arguments())
        encoder.load_state_dict(self.encoder_state)
        return encoder.eval()


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[dict[str, Any], Provenance]:
    """The raw ``model.ckpt`` dictionary (tensors only, ``weights_only``) and its checked provenance."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: contrastive model not found; run `snakemake --forcerun train_contrastive`"
        )
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    return checkpoint, check_provenance(checkpoint.get(PROVENANCE_KEY), "contrastive_model", path)


def read_contrastive_checkpoint(path: str | Path, map_location: str = "cpu") -> ContrastiveCheckpoint:
    """``model.ckpt`` (kind ``contrastive_model``, provenance checked) as a :class:`ContrastiveCheckpoint`."""
    checkpoint, provenance = load_checkpoint(path, map_location)
    hyper_parameters = checkpoint["hyper_parameters"]
    state = {
        name[len(_ENCODER_PREFIX) :]: tensor
        for name, tensor in checkpoint["state_dict"].items()
        if name.startswith(_ENCODER_PREFIX)
    }
    return ContrastiveCheckpoint(
        config=ContrastiveModelConfig.model_validate(hyper_parameters["config"]),
        in_channels=int(hyper_parameters["in_channels"]),
        in_stack_depth=int(hyper_parameters["in_stack_depth"]),
        patch_size_yx_px=int(hyper_parameters["patch_size_yx_px"]),
        encoder_state=state,
        provenance=provenance,
    )
