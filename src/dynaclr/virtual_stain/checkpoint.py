"""Virtual staining checkpoints: network weights with provenance, loaded with ``weights_only=True``.

A checkpoint written here is a dict of plain types and tensors::

    {"format": "dynaclr_virtual_stain", "state_dict": {...}, "network": {backbone, input_depth_slices,
     decoder_full_resolution_channels}, "metrics": {..., "training_input": {...}},
     "dynaclr": <provenance record>}

``metrics.training_input`` (written by ``train_virtual_stain``) records the plate the weights learnt
from, which each prediction compares with its own (:mod:`dynaclr.virtual_stain.transfer`).

:func:`load_network` also accepts a bare ``state_dict`` of the network and Lightning
checkpoints of :class:`~dynaclr.virtual_stain.module.VirtualStainModule` (keys ``network.*``) when
the config names the file (``checkpoint:``). When the config trains the network (``train:``) the
checkpoint must be the one rule ``train_virtual_stain`` wrote with that config: its provenance
must record the same config, apart from the keys that do not change the weights
(:data:`KEYS_NOT_IN_TRAINING` and ``VirtualStainConfig.RUN_KEYS``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dynaclr.config.virtual_stain import VirtualStainConfig
from dynaclr.io import ArtifactError, Provenance, atomic_output, check_provenance
from dynaclr.io.provenance import PROVENANCE_KEY, config_differences
from dynaclr.io.weights import load_weights_file, require_tensors
from dynaclr.virtual_stain.network import VirtualStainUNet, build_network
from dynaclr.virtual_stain.transfer import TRAINING_INPUT_KEY, TRAINING_KEY, TRAINING_STATE_KEYS

__all__ = [
    "CHECKPOINT_FORMAT",
    "TRAINING_KEY",
    "TRAINING_STATE_KEYS",
    "load_network",
    "load_trained_network",
    "recorded_training_state",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "dynaclr_virtual_stain"

_STEM_KEY = "encoder.stem_0.weight"

#: Keys of the virtual-staining config that do not change the trained weights.
KEYS_NOT_IN_TRAINING = VirtualStainConfig.KEYS_NOT_IN_TRAINING


def save_checkpoint(
    network: VirtualStainUNet,
    provenance: Provenance,
    path: str | Path,
    metrics: dict[str, Any] | None = None,
) -> None:
    """Write ``network``'s weights (on CPU), its description and ``provenance`` atomically to ``path``."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {key: value.detach().cpu() for key, value in network.state_dict().items()},
        "network": {
            "backbone": network.backbone,
            "input_depth_slices": network.input_depth_slices,
            "decoder_full_resolution_channels": network.full_resolution[0].out_channels,
        },
        "metrics": json.loads(json.dumps(metrics or {}, default=float)),
        PROVENANCE_KEY: json.loads(provenance.model_dump_json()),
    }
    with atomic_output(path) as tmp:
        torch.save(checkpoint, tmp)


def _fix(config: VirtualStainConfig) -> str:
    if config.checkpoint is not None:
        return "copy the weights file again, or correct virtual_stain.checkpoint in the config"
    return "retrain it with `snakemake --forcerun train_virtual_stain`"


def _read(
    path: Path, config: VirtualStainConfig
) -> tuple[dict[str, torch.Tensor], Provenance | None, dict[str, Any] | None]:
    # a file the config names is a published network's, or a copy of one trained here: a refusal for
    # what it holds beside its weights advises saving its state dict alone, not copying it again
    raw = load_weights_file(
        path, what="virtual staining checkpoint", fix=_fix(config), foreign=config.checkpoint is not None
    )
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path}: expected a dict of weights, found {type(raw).__name__}")
    provenance = None
    if PROVENANCE_KEY in raw:
        provenance = check_provenance(raw[PROVENANCE_KEY], "virtual_stain_model", path)
    state = raw.get("state_dict", raw)
    if not isinstance(state, dict):
        raise ArtifactError(f"{path}: 'state_dict' is not a mapping of parameter names to tensors")
    require_tensors(state, path, "its 'state_dict'")
    if all(key.startswith("network.") for key in state):  # a Lightning checkpoint of the module
        state = {key.removeprefix("network."): value for key, value in state.items()}
    metrics = raw.get("metrics")
    return state, provenance, metrics if isinstance(metrics, dict) else None


def recorded_training_state(metrics: Mapping[str, Any] | None, config: VirtualStainConfig) -> dict[str, Any]:
    """How far the training that made a checkpoint went, from its ``metrics`` (those
    ``train_virtual_stain`` wrote in model.pt) and ``config.train``: ``stopped_by_time`` (``True``:
    the ``max_minutes`` budget ended training before ``max_steps``, the model is partly trained),
    ``steps`` (the optimiser steps taken), ``max_steps`` and ``max_minutes`` (configured).

    A value not recorded is ``None``, read as unknown, never as a partly or a fully trained model: a
    model.pt of an older dynaclr, or weights of your own (``virtual_stain.checkpoint``: trained
    elsewhere, every value ``None``).
    """
    train = config.train if config.checkpoint is None else None
    recorded = metrics if train is not None and isinstance(metrics, Mapping) else {}
    stopped, steps = recorded.get("stopped_by_time"), recorded.get("steps")
    return {
        "stopped_by_time": stopped if isinstance(stopped, bool) else None,
        "steps": steps if isinstance(steps, int) and not isinstance(steps, bool) else None,
        "max_steps": train.max_steps if train is not None else None,
        "max_minutes": train.max_minutes if train is not None else None,
    }


def load_network(path: str | Path, config: VirtualStainConfig) -> tuple[VirtualStainUNet, Provenance | None]:
    """Build the network ``config`` describes and load the weights at ``path`` into it (eval mode).

    Returns the network (on CPU) and the checkpoint's provenance (None for a bare weights file):
    :func:`load_trained_network` without the training input and state.
    """
    network, provenance, _, _ = load_trained_network(path, config)
    return network, provenance


def load_trained_network(
    path: str | Path, config: VirtualStainConfig
) -> tuple[VirtualStainUNet, Provenance | None, dict[str, Any] | None, dict[str, Any]]:
    """:func:`load_network`, with what the checkpoint records of the plate it was trained on (its
    metrics' :data:`~dynaclr.virtual_stain.transfer.TRAINING_INPUT_KEY`, with the metrics'
    ``train_fovs`` and its provenance's nuclear target plate, ``target_plate``, added; None where it
    records none),
    which a prediction compares with its plate (:func:`~dynaclr.virtual_stain.transfer.
    check_training_input`), and how far its training went (:func:`recorded_training_state`).

    Raises:
        ArtifactError: the file is missing or unreadable, or its weights do not fit the network;
            a wrong slab depth is named as expected vs found input channels; when ``config`` trains
            the network (no ``checkpoint``), a file trained with another config or without provenance.
    """
    path = Path(path)
    state, provenance, metrics = _read(path, config)
    record = metrics.get(TRAINING_INPUT_KEY) if metrics is not None else None
    if isinstance(record, dict) and metrics is not None and isinstance(metrics.get("train_fovs"), list):
        # the FOVs it learnt from, which the prediction records (transfer.trained_on_fov)
        record = {**record, "train_fovs": [str(name) for name in metrics["train_fovs"]]}
        if provenance is not None and len(provenance.inputs) == 2:  # train_virtual_stain's: phase, target
            record["target_plate"] = provenance.inputs[1].path
    if config.checkpoint is None:
        check_trained_with(provenance, config, path)
    stem = state.get(_STEM_KEY)
    if stem is not None and stem.ndim == 4 and stem.shape[1] != config.input_depth_slices:
        raise ArtifactError(
            f"{path}: the checkpoint's first convolution takes {stem.shape[1]} input channels "
            f"(input_depth_slices={stem.shape[1]}), but the config expects {config.input_depth_slices} "
            f"input channels (input_depth_slices={config.input_depth_slices}). Set input_depth_slices: "
            f"{stem.shape[1]} or use a checkpoint trained with {config.input_depth_slices} slices."
        )
    network = build_network(config)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ArtifactError(
            f"{path}: the weights do not fit the configured network (backbone {config.backbone!r}, "
            f"input_depth_slices={config.input_depth_slices}, decoder_full_resolution_channels="
            f"{config.decoder_full_resolution_channels}); check these keys against the checkpoint's "
            f"training config. Details: {str(err)[:600]}"
        ) from err
    logger.info("loaded virtual staining weights from %s", path)
    training = recorded_training_state(metrics, config)
    return network.eval(), provenance, record if isinstance(record, dict) else None, training


def check_trained_with(provenance: Provenance | None, config: VirtualStainConfig, path: str | Path) -> None:
    """Fail unless the checkpoint at ``path`` was trained with ``config`` (keys that do not change the
    weights, :data:`KEYS_NOT_IN_TRAINING` and the run keys, are not compared); the message lists the
    keys that differ."""
    fix = _fix(config)
    if provenance is None:
        raise ArtifactError(
            f"{path}: has no dynaclr provenance, but the config trains the network (virtual_stain.train): "
            f"expected the checkpoint rule train_virtual_stain wrote; {fix}, or name your own weights file "
            "in virtual_stain.checkpoint"
        )
    ignored = KEYS_NOT_IN_TRAINING + VirtualStainConfig.RUN_KEYS  # the record holds the run keys at defaults
    differences = config_differences(provenance.config, config.model_dump(mode="json"), ignored)
    if differences:
        shown = "; ".join(differences[:5]) + (" ..." if len(differences) > 5 else "")
        raise ArtifactError(
            f"{path}: trained with another virtual_stain config than this job's ({shown}); {fix}"
        )
