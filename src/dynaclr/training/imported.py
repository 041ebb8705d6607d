"""A contrastive model read from a file instead of trained: rule ``import_model``.

``contrastive_models.<name>.checkpoint`` names a file holding a trained encoder: a ``model.ckpt``
written by this workflow (``checkpoint_format: dynaclr``, e.g. a model trained on another plate or
by a colleague), or a Lightning checkpoint of the reference implementation's contrastive model
(``checkpoint_format: viscy``: VisCy's ``ContrastiveModule`` with its ``ContrastiveEncoder``).
:func:`import_model` checks it against the architecture the config describes (``training``:
backbone, stem_kernel_z, projection_dim, projection_norm; channels and slices from the patch spec)
and writes ``results/models/{model}/model.ckpt`` in this workflow's layout, so embedding, the
random-weights baseline and every check downstream treat it as a trained model.

VisCy's state dict maps onto :class:`~dynaclr.contrastive.ContrastiveEncoder` key by key:

=========================  ===================  ====================================================
VisCy                      dynaclr              note
=========================  ===================  ====================================================
``model.stem.conv.*``      ``input_stem.conv.*``  Conv3d (kz, 4, 4), stride (kz, 4, 4); depth folded
                                                into channels in the same order
``model.encoder.*``        ``backbone.*``       the timm backbone without its stem convolution and
                                                classifier
``model.projection.*``     ``projection.*``     Linear, BatchNorm1d, ReLU, Linear, BatchNorm1d
                                                (``projection_norm: true`` gives the last one)
=========================  ===================  ====================================================

A VisCy encoder with a ResNet backbone is refused: VisCy replaces the ResNet's ``conv1`` by its stem
and keeps the stride-2 ``maxpool`` after it, dynaclr's encoder replaces both (stride 4 in all,
:func:`~dynaclr.contrastive.encoder._replace_backbone_stem`); the keys would map one to one (the
max-pool holds no tensor) and the weights compute other features than VisCy's.

Keys outside ``model.`` (none in VisCy 0.4.1's checkpoints) are ignored. The module's state dict
saved bare (``torch.save(module.state_dict())``) reads as the checkpoint's, and the state dict of
VisCy's ``ContrastiveEncoder`` alone (keys ``stem.conv.*``, ``encoder.*``, ``projection.*``, bare or
under ``state_dict``) as the same keys under ``model.``. A file that does not fit is refused with
the first mismatching key. The file is read with ``weights_only=True``: a checkpoint holding Python
objects is refused, never executed. A weight that is NaN or infinite (a diverged run, float16
overflow) is refused naming the tensor: every embedding would be NaN.

A ``timm`` file records no network: :func:`check_timm_network` compares timm's ``config.json``
beside it (a downloaded timm repository: the architecture, the weights' tag, mean and std; read
beside the :data:`TIMM_WEIGHTS_NAMES` timm writes with it only) with ``backbone``, and without it
refuses a ``stem: backbone`` name without a tag whose architecture's pretrained tags normalise
otherwise. Variants of identical tensor names and shapes (``resnet18`` and ``resnetblur18``, ...) are
told apart only by that ``config.json``, recorded as an input with its SHA-256. The tag and mean and
std the import resolved are recorded (``weights_read``): a copy is compared with them when read again.

A ``model.ckpt`` of this workflow records the architecture it was built with (its training config):
what the shapes cannot tell (``stem``; with ``stem: backbone`` the ``z_reduction`` and the patch
channels the network sees) must equal the config's, and so must ``backbone``, ``stem_kernel_z``,
``projection_dim`` and ``projection_norm``: the file's value and the config's are named.

A ``model.ckpt`` trained by this workflow records the sampling of its training datasets
(``training_sampling``: pixel size, z step, time interval, each ``null`` where nothing stated it):
each dataset the model embeds is compared with them, as the dry run compares the datasets of a
model trained here (:func:`~dynaclr.config.transfer_checks.checkpoint_sampling_problems`: a dataset
sampled as none of them, by another pixel size or z step, or a size stated for neither, is refused
naming the key, the datasets and both values, unless ``allow_other_scales``; the time interval is
not compared, embedding one frame does not depend on it). A file recording none is imported with a
warning and ``training_sampling_verified: false`` (the embed jobs then do not warn again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from timm.models import get_arch_pretrained_cfgs, split_model_name_tag
from timm.models.resnet import ResNet

from dynaclr.config.backbones import backbone_problem, contrastive_backbones
from dynaclr.config.patches import channels_difference
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.config.transfer_checks import checkpoint_sampling_problems
from dynaclr.contrastive.encoder import (
    ContrastiveEncoder,
    PretrainedImageInput,
    WeightsLayoutError,
    pretrained_tag_problem,
)
from dynaclr.io import ArtifactError, ArtifactKind, StageFiles, atomic_output, make_provenance
from dynaclr.io.provenance import PROVENANCE_KEY
from dynaclr.io.weights import read_weights_file, require_tensors
from dynaclr.training.checkpoint import (
    TRAINING_SUMMARY_KEY,
    ContrastiveCheckpoint,
    non_finite_weights,
    read_contrastive_checkpoint,
)

__all__ = [
    "ImportModelInputs",
    "ImportModelOutputs",
    "check_imported_sampling",
    "check_timm_network",
    "check_viscy_backbone",
    "import_model",
    "timm_source",
    "viscy_encoder_state",
    "viscy_state_dict",
]

logger = logging.getLogger(__name__)

CheckpointFormat = Literal["dynaclr", "viscy", "timm"]

#: VisCy ContrastiveModule key prefix -> ContrastiveEncoder key prefix.
_VISCY_PREFIXES = (
    ("model.stem.conv.", "input_stem.conv."),
    ("model.encoder.", "backbone."),
    ("model.projection.", "projection."),
)


class ImportModelInputs(StageFiles):
    """Rule ``import_model``: the model file the config names."""

    checkpoint: Path


class ImportModelOutputs(StageFiles):
    """Rule ``import_model``: the model in this workflow's layout and its config (as training writes)."""

    checkpoint: Path
    config: Path


#: VisCy ``ContrastiveEncoder`` keys (its state dict saved alone), under ``model.`` in the module's.
_VISCY_ENCODER_KEY = "stem.conv.weight"


def _some_keys(keys: Any) -> str:
    """At most five of ``keys``, sorted, and how many there are (a message stays short)."""
    names = sorted(str(key) for key in keys)
    return f"{names[:5]}{f' ... ({len(names)} keys)' if len(names) > 5 else ''}"


def viscy_state_dict(raw: Any, path: str | Path) -> dict[str, Any]:
    """The ``ContrastiveModule`` state dict of a VisCy file (module docstring): a Lightning
    checkpoint's ``state_dict``, a state dict saved bare, or the ``ContrastiveEncoder``'s alone (its
    keys put under ``model.``).

    Raises:
        ArtifactError: the file holds no state dict (naming what it holds), or one with a value that
            is not a tensor (naming its key and what it holds: metadata read as a stand-in belongs
            beside the state dict, never in it).
    """
    state = raw.get("state_dict") if isinstance(raw, dict) else None
    if (
        state is None
        and isinstance(raw, dict)
        and raw
        and all(isinstance(v, torch.Tensor) for v in raw.values())
    ):
        state = raw  # torch.save(module.state_dict())
    if not isinstance(state, dict):
        found = _some_keys(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ArtifactError(
            f"{path}: expected a Lightning checkpoint with a 'state_dict' (or a state dict of tensors), "
            f"found {found}"
        )
    if _VISCY_ENCODER_KEY in state and not any(str(key).startswith("model.") for key in state):
        logger.info("%s: the state dict of VisCy's ContrastiveEncoder alone; read as the module's", path)
        state = {f"model.{key}": tensor for key, tensor in state.items()}
    require_tensors(state, path, "its state dict")
    return state


def viscy_encoder_state(state_dict: dict[str, Any], path: str | Path) -> dict[str, torch.Tensor]:
    """VisCy ``ContrastiveModule`` state dict → :class:`ContrastiveEncoder` state dict (module docstring).

    Raises:
        ArtifactError: a ``model.`` key has no counterpart (naming it), or there is no ``model.`` key.
    """
    mapped: dict[str, torch.Tensor] = {}
    ignored = []
    for key, tensor in state_dict.items():
        if not key.startswith("model."):
            ignored.append(key)
            continue
        for theirs, ours in _VISCY_PREFIXES:
            if key.startswith(theirs):
                mapped[ours + key[len(theirs) :]] = tensor
                break
        else:
            raise ArtifactError(
                f"{path}: key {key!r} of the VisCy checkpoint has no counterpart in dynaclr's encoder "
                f"(expected keys under {', '.join(p for p, _ in _VISCY_PREFIXES)}); not a VisCy "
                "ContrastiveEncoder checkpoint (a ResNet3dEncoder or another module is not supported)"
            )
    if not mapped:
        raise ArtifactError(
            f"{path}: no 'model.' keys in its state_dict (found {_some_keys(state_dict)}): not a checkpoint "
            "of VisCy's ContrastiveModule; use checkpoint_format: dynaclr for a dynaclr model.ckpt"
        )
    if ignored:
        logger.info("%s: ignoring %d keys outside 'model.': %s", path, len(ignored), ignored[:5])
    stem = mapped.get("input_stem.conv.weight")
    if stem is not None and stem.ndim == 5 and tuple(stem.shape[-2:]) != (4, 4):
        raise ArtifactError(
            f"{path}: model.stem.conv.weight has a {stem.shape[-2]}x{stem.shape[-1]} YX kernel; dynaclr's "
            "stem is 4x4 with stride 4 (VisCy's default stem_kernel_size (kz, 4, 4)); this model cannot be "
            "mapped"
        )
    return mapped


def check_viscy_backbone(
    encoder: ContrastiveEncoder, path: str | Path, model_name: str, *, imported_copy: bool = False
) -> None:
    """Refuse VisCy weights for a ResNet backbone with the z-fold stem: VisCy's ``ContrastiveEncoder``
    keeps the ResNet's stride-2 ``maxpool`` after its stem, dynaclr's replaces it (module docstring):
    every key would fit and the network compute other features than the file's (cosine similarity
    0.8-0.9 on random patches), exit 0. ``imported_copy``: ``path`` is a ``model.ckpt`` an earlier
    version imported from such a file (rule ``embed`` checks it: the import is not rerun by an upgrade).

    Raises:
        ArtifactError: naming ``path``, the backbone key and what to do.
    """
    if encoder.stem != "z_fold" or not isinstance(encoder.backbone, ResNet):
        return
    found = (
        "a model.ckpt imported from a VisCy checkpoint (dynaclr_training.checkpoint_format: viscy) by an "
        "earlier version, for"
        if imported_copy
        else "a VisCy checkpoint for"
    )
    raise ArtifactError(
        f"{path}: expected VisCy weights of a ConvNeXt backbone (the architecture dynaclr's encoder "
        f"computes as VisCy does), found {found} contrastive_models.{model_name}.training.backbone "
        f"{encoder.backbone_name!r}, a ResNet: VisCy's ContrastiveEncoder keeps the ResNet's stride-2 "
        "max-pool after its stem, dynaclr's replaces it, so the weights load key for key and compute "
        "other features than VisCy's; import a VisCy model with a ConvNeXt backbone, or train the "
        "ResNet model here (train: true)"
    )


def _fit(
    encoder: ContrastiveEncoder, state: dict[str, torch.Tensor], path: Path, fmt: str, model_name: str
) -> None:
    """Load ``state`` into ``encoder`` strictly; refuse naming the first key that does not fit."""
    expected = encoder.state_dict()
    problem = None
    for key, tensor in expected.items():
        if key not in state:
            problem = f"{key!r} is missing from the file"
        elif tuple(state[key].shape) != tuple(tensor.shape):
            found, wanted = tuple(state[key].shape), tuple(tensor.shape)
            problem = f"{key!r} has shape {found} in the file, {wanted} in the encoder"
        if problem:
            break
    if problem is None:
        unexpected = [key for key in state if key not in expected]
        if unexpected:
            problem = f"{unexpected[0]!r} is in the file but not in the encoder ({len(unexpected)} such keys)"
    if problem:
        raise ArtifactError(
            f"{path}: the {fmt} checkpoint does not fit the encoder the config describes "
            f"({encoder._config_text()}): first mismatching key {problem}; set "
            f"contrastive_models.{model_name}.training (backbone, stem_kernel_z, projection_dim, "
            "projection_norm) and the patch spec's channels and slices to the model's"
        )
    encoder.load_state_dict(state, strict=True)


def _check_all_from_file(
    encoder: ContrastiveEncoder, weights_read: dict[str, str | list[str] | None], path: Path, model_name: str
) -> None:
    """A timm file holds the backbone alone: refuse an encoder with tensors outside it (the z_fold
    stem's convolution, a projection head), which would keep their random initial values."""
    if weights_read["kind"] != "backbone":
        return
    not_read = [key for key in encoder.state_dict() if not key.startswith("backbone.")]
    if not_read:
        raise ArtifactError(
            f"{path}: expected the timm network {encoder.backbone_name!r} as published, whose file holds "
            f"every tensor of the encoder the config describes ({encoder._config_text()}), found "
            f"{len(not_read)} tensors outside the backbone, {not_read[0]!r} first, that no timm file "
            "holds: they would keep their random initial values; set "
            f"contrastive_models.{model_name}.training.stem: backbone and projection_dim: 0"
        )


#: The file timm writes beside a network's weights (``save_for_hf``; a timm repository on the
#: Hugging Face Hub): the ``architecture`` and the ``pretrained_cfg`` (``tag``, ``mean``, ``std``).
TIMM_CONFIG_NAME = "config.json"

#: The weights files timm writes beside its ``config.json`` and reads from a Hub repository
#: (``timm.models._hub``: ``HF_SAFE_WEIGHTS_NAME``, ``HF_WEIGHTS_NAME`` and the OpenCLIP names): the
#: ``config.json`` describes these, not another file a user saved in the same folder.
TIMM_WEIGHTS_NAMES = (
    "model.safetensors",
    "pytorch_model.bin",
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
)


def _timm_config(path: Path) -> tuple[Path, str, dict[str, Any]] | None:
    """timm's ``config.json`` beside the weights file ``path`` (a downloaded timm repository): its
    path, ``architecture`` and ``pretrained_cfg``; ``None`` where there is none, the file beside is
    not timm's (no ``architecture`` and ``pretrained_cfg``: e.g. a model config of this workflow), or
    ``path`` is not one of the :data:`TIMM_WEIGHTS_NAMES` timm writes beside it (a file of the user's
    own in a folder holding a timm download: the ``config.json`` describes the download's weights).

    Raises:
        ArtifactError: the file beside cannot be read as JSON.
    """
    config_path = path.parent / TIMM_CONFIG_NAME
    if path.name not in TIMM_WEIGHTS_NAMES or not config_path.is_file():
        return None
    try:
        record = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(
            f"{config_path}: expected timm's config of the weights {path.name} beside it (JSON), found a "
            f"file that cannot be read ({error}); remove it or download it again"
        ) from None
    if not isinstance(record, dict):
        return None
    architecture, pretrained = record.get("architecture"), record.get("pretrained_cfg")
    if not isinstance(architecture, str) or not isinstance(pretrained, dict):
        return None
    return config_path, architecture, pretrained


def _normalisation_text(mean: Any, std: Any) -> str:
    return f"mean {tuple(round(float(v), 4) for v in mean)}, std {tuple(round(float(v), 4) for v in std)}"


def _same_normalisation(first: tuple[Any, Any], second: tuple[Any, Any]) -> bool:
    return all(
        len(a) == len(b)
        and all(math.isclose(float(x), float(y), rel_tol=1e-6) for x, y in zip(a, b, strict=True))
        for a, b in zip(first, second, strict=True)
    )


def _published_normalisations(architecture: str) -> dict[str, tuple[list[Any], list[Any]]]:
    """timm's published ``architecture.tag`` names of ``architecture`` with their mean and std."""
    return {
        name: (list(cfg.mean), list(cfg.std))
        for name, cfg in get_arch_pretrained_cfgs(architecture).items()
        if cfg.has_weights and cfg.mean is not None and cfg.std is not None  # not 'untrained'
    }


def _tags_normalised_otherwise(architecture: str, normalisation: tuple[Any, Any]) -> str:
    """timm's published tags of ``architecture`` whose mean and std are not ``normalisation``, with
    their values and those of the others (``""``: every tag normalises as ``normalisation``)."""
    by_tag = _published_normalisations(architecture)
    others = {name: value for name, value in by_tag.items() if not _same_normalisation(value, normalisation)}
    if not others:
        return ""
    same = sorted(name for name in by_tag if name not in others)
    listed = "; ".join(f"{name}: {_normalisation_text(*value)}" for name, value in sorted(others.items()))
    return f"{listed}; {_normalisation_text(*normalisation)} for {same}"


def recorded_normalisation(encoder: ContrastiveEncoder) -> dict[str, Any]:
    """What ``import_model`` records of a timm backbone's input (``weights_read``): the pretrained tag
    timm resolved the backbone name to and the mean and std the encoder normalises its input with
    (none for a z-fold stem, which does not normalise so)."""
    return encoder.input_normalisation() or {}


def _check_recorded_normalisation(
    encoder: ContrastiveEncoder,
    path: Path,
    key: str,
    recorded: Mapping[str, Any],
    normalisation: tuple[Any, Any] | None,
) -> None:
    """Refuse a timm copy whose backbone name the installed timm normalises otherwise than its import
    recorded (a timm whose default tag of the name changed): its weights would see inputs of another
    scale."""
    stored = (recorded["input_mean"], recorded["input_std"])
    if normalisation is not None and not _same_normalisation(normalisation, stored):
        raise ArtifactError(
            f"{path}: expected {key} {encoder.backbone_name!r} to normalise its input as when the model "
            f"was imported (tag {recorded.get('pretrained_tag')!r}: {_normalisation_text(*stored)}), "
            f"found {_normalisation_text(*normalisation)} from the installed timm: its weights would see "
            f"inputs of another scale; install the timm version it was imported with, or import the timm "
            "file again with a backbone naming the tag"
        )


def _unpublished_tag_fix(
    key: str, config_path: Path, path: Path, architecture: str, pretrained: dict[str, Any]
) -> str:
    """The advice for weights whose ``config.json`` gives a tag timm does not publish (``None``, or a
    fine-tune's own, which timm refuses as a backbone name): the published tags of ``architecture``
    normalising as the ``config.json`` says (the backbone name sets only the normalisation and the
    network; the weights come from the file)."""
    recorded = f"{config_path}, timm's config of {path.name}, records tag {pretrained.get('tag')!r}"
    mean, std = pretrained.get("mean"), pretrained.get("std")
    if not isinstance(mean, list) or not isinstance(std, list):
        return (
            f"{recorded}, which timm does not publish, and no mean and std: set {key} to the "
            f"{architecture!r} tag whose normalisation the weights learnt with (their documentation)"
        )
    alike = sorted(
        name
        for name, value in _published_normalisations(architecture).items()
        if _same_normalisation(value, (mean, std))
    )
    if not alike:
        return (
            f"{recorded}, which timm does not publish, with {_normalisation_text(mean, std)}, which no "
            f"published tag of {architecture!r} has: this workflow cannot normalise as the weights learnt"
        )
    return (
        f"{recorded}, which timm does not publish, with {_normalisation_text(mean, std)}, as the "
        f"published {alike}: set {key}: {alike[0]} (the weights stay the file's)"
    )


def check_timm_network(
    encoder: ContrastiveEncoder,
    path: Path,
    model_name: str,
    *,
    imported_copy: bool = False,
    imported_from: str | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> str | None:
    """Refuse a timm weights file whose network or normalisation cannot be the backbone's.

    A weights file records no architecture: timm variants of identical tensor names and shapes
    (``resnet18`` and ``resnetblur18``; ``resnet50``, ``resnetaa50`` and ``resnetblur50``; the ``d``
    variants alike) read each other's files strictly and compute other features. timm's
    ``config.json`` beside the file (a downloaded timm repository) records the ``architecture`` and
    the weights' ``pretrained_cfg``: another architecture is refused, and with ``stem: backbone``
    another ``mean`` / ``std`` than the backbone name's (name the weights' tag). With it or without
    it (the ``model.ckpt`` written would not say), a
    ``stem: backbone`` name without a tag whose architecture's pretrained tags normalise otherwise
    (``resnet18d``: ImageNet's, or 0.5 for ``ra4_e3600_r224_in1k``; ``convnext_base``: ImageNet's,
    or OpenAI CLIP's for ``clip_*``) is refused: the name's default tag would normalise the input.
    ``imported_copy``: ``path`` is a ``model.ckpt`` an earlier version imported from a timm file
    without this check (rule ``import_model`` reading it again, and rule ``embed``, check its name);
    ``imported_from``: the timm file it was imported from (its record's input), named in the advice
    to import that file again under the tagged name (the copy cannot be re-imported under another
    name: its recorded backbone is the bare one). ``recorded``: the copy's ``weights_read``; where it
    holds the normalisation its import resolved (``input_mean``, ``input_std``: recorded since session
    25), the copy passed this check then, and only that normalisation is compared with the one the
    installed timm gives the name (timm's tag list of the day does not decide).

    Returns:
        The ``config.json`` compared, ``None`` where there was none.

    Raises:
        ArtifactError: naming the file, ``contrastive_models.<model>.training.backbone`` and both values.
    """
    key = f"contrastive_models.{model_name}.training.backbone"
    architecture, tag = split_model_name_tag(encoder.backbone_name)
    normalisation: tuple[Any, Any] | None = None
    if isinstance(encoder.input_stem, PretrainedImageInput):
        normalisation = (
            encoder.input_stem.mean.flatten().tolist(),
            encoder.input_stem.std.flatten().tolist(),
        )
    if imported_copy and recorded is not None and "input_mean" in recorded and "input_std" in recorded:
        _check_recorded_normalisation(encoder, path, key, recorded, normalisation)
        return None
    found = None if imported_copy else _timm_config(path)
    if found is not None:
        config_path, their_architecture, pretrained = found
        # the name timm gives the weights where their tag is one of its published tags, else the architecture
        their_name = f"{their_architecture}.{pretrained.get('tag')}"
        published = get_arch_pretrained_cfgs(their_architecture).get(their_name)
        if published is None or not published.has_weights:  # e.g. 'untrained', a network of no weights
            their_name = their_architecture
        if their_architecture != architecture:
            raise ArtifactError(
                f"{path}: expected the weights of {key} {encoder.backbone_name!r}, found those of "
                f"{their_architecture!r} (the architecture {config_path}, timm's config of {path.name}, "
                "records): timm networks of the "
                "same tensor names and shapes read each other's weights and compute other features; set "
                f"{key}: {their_name}"
            )
        mean, std = pretrained.get("mean"), pretrained.get("std")
        if (
            normalisation is not None
            and isinstance(mean, list)
            and isinstance(std, list)
            and not _same_normalisation(normalisation, (mean, std))
        ):
            fix = (
                f"set {key}: {their_name}"
                if their_name != their_architecture
                else _unpublished_tag_fix(key, config_path, path, their_architecture, pretrained)
            )
            raise ArtifactError(
                f"{path}: expected weights normalised as {key} {encoder.backbone_name!r} normalises its "
                f"input ({_normalisation_text(*normalisation)}), found weights of {their_name!r} "
                f"({_normalisation_text(mean, std)}, as {config_path}, timm's config of {path.name}, "
                "records): the network would see "
                f"inputs of another scale; {fix}"
            )
        if normalisation is not None and not tag and _tags_normalised_otherwise(architecture, normalisation):
            if their_name != their_architecture:
                fix = f"set {key}: {their_name} (as {config_path}, timm's config of {path.name}, records)"
            else:  # a tag timm does not publish (a fine-tune's own): a published one normalising alike
                fix = _unpublished_tag_fix(key, config_path, path, their_architecture, pretrained)
            raise ArtifactError(
                f"{path}: expected {key} to name the weights' pretrained tag, found "
                f"{encoder.backbone_name!r}, whose tags normalise their input otherwise "
                f"({_tags_normalised_otherwise(architecture, normalisation)}): a model.ckpt of the name "
                f"alone could not tell which it holds; {fix}"
            )
        return str(config_path)
    if normalisation is None or tag:
        return None
    listed = _tags_normalised_otherwise(architecture, normalisation)
    if listed:
        what = (
            "a model.ckpt imported from a timm file by an earlier version:" if imported_copy else "the file"
        )
        original = imported_from or "the timm file it was imported from"
        fix = (
            f"and import {original} again: contrastive_models.{model_name}.pretrained_weights: "
            f"{original} in place of its checkpoint (a model.ckpt records the name it was imported under, "
            "so it cannot be imported again under another)"
            if imported_copy
            else f"or read timm's download as it is, {' or '.join(TIMM_WEIGHTS_NAMES[:2])} beside its "
            f"{TIMM_CONFIG_NAME}"
        )
        raise ArtifactError(
            f"{path}: expected {key} to name the weights' pretrained tag, found {encoder.backbone_name!r}, "
            f"whose pretrained weights normalise their input otherwise by tag ({listed}) and {what} does "
            f"not say which it holds: the input would be normalised with the default tag's; set {key} to "
            f"the name and tag of the weights (e.g. {sorted(get_arch_pretrained_cfgs(architecture))[0]!r}) "
            f"{fix}"
        )
    return None


def timm_source(trained: ContrastiveCheckpoint) -> str | None:
    """The timm file a ``model.ckpt`` imported from one records as its input (``None``: none)."""
    inputs = trained.provenance.inputs
    return inputs[0].path if inputs else None


def _check_finite(encoder: ContrastiveEncoder, path: Path, fmt: str) -> None:
    """Refuse weights holding NaN or infinite values (a diverged run, float16 overflow): every
    embedding would be NaN, found only by the analyses after every dataset is embedded."""
    bad = non_finite_weights(encoder.state_dict())
    if bad:
        raise ArtifactError(
            f"{path}: expected finite weights, found {bad} of the {fmt} checkpoint (the encoder's "
            "names): the model diverged or was saved in float16 beyond its range, and every embedding "
            "would be NaN; import a checkpoint from before the divergence"
        )


def _seen_channels(
    labels: list[str] | None, indices: list[int] | None, n_channels: int
) -> tuple[str, list[Any]]:
    """The patch channels a pretrained backbone sees (``indices`` into the spec's channels; ``None``:
    all ``n_channels``): their ``labels`` (``("labels", [...])``) where the spec's are known, else
    their indices (``("indices", [...])``), ``None`` spelt out as every index."""
    seen = list(range(n_channels)) if indices is None else list(indices)
    if labels is None:
        return "indices", seen
    return "labels", [labels[i] for i in seen]


def _check_dynaclr_architecture(
    trained: ContrastiveCheckpoint,
    config: ContrastiveModelConfig,
    channel_indices: list[int] | None,
    channels: list[str] | None,
    in_channels: int,
    path: Path,
    model_name: str,
) -> None:
    """A model.ckpt records the architecture it was built with: the config must describe the same.
    The shapes tell most keys apart, not ``stem``'s reduction of a patch to the plane a pretrained
    backbone sees (``z_reduction``) nor which patch channels it sees (``input_channels``): the weights
    would load and embed something else than the file's model does.

    Compared only where it shapes the network: ``stem_kernel_z`` with the z-fold stem (the backbone
    stem has none); with the backbone stem, the channels the network sees: their labels
    (``source:channel (normalization)``) where both the file and the spec (``channels``) state them,
    indices into two specs telling nothing where these differ, else their indices, a null selection
    being every channel (``in_channels`` here, the file's own)."""
    found, expected = trained.config.encoder_arguments(), config.encoder_arguments()
    keys = ["backbone", "stem", "projection_dim", "projection_norm"]
    keys += ["z_reduction"] if expected["stem"] == "backbone" else ["stem_kernel_z"]
    differing = [key for key in keys if found[key] != expected[key]]
    seen_file = _seen_channels(trained.input_channels, trained.channel_indices, trained.in_channels)
    seen_here = _seen_channels(channels, channel_indices, in_channels)
    if seen_file[0] != seen_here[0]:  # labels on one side only: compare the indices
        seen_file = _seen_channels(None, trained.channel_indices, trained.in_channels)
        seen_here = _seen_channels(None, channel_indices, in_channels)
    if expected["stem"] == "backbone" and found["stem"] == "backbone" and seen_file != seen_here:
        differing.append("input_channels")
    if not differing:
        return
    values = {**found, "input_channels": trained.config.input_channels}
    wanted = {**expected, "input_channels": config.input_channels}
    detail = "; ".join(
        f"{key}: {values[key]!r} in the file, {wanted[key]!r} in the config"
        + (
            f" (the network sees patch channels {seen_file[1]} in the file, {seen_here[1]} here)"
            if key == "input_channels"
            else ""
        )
        for key in differing
    )
    fix = f"set contrastive_models.{model_name}.training.{differing[0]} to the file's value"
    retagged = differing == ["backbone"] and (
        split_model_name_tag(found["backbone"])[0] == split_model_name_tag(expected["backbone"])[0]
    )
    if retagged and trained.imported_format == "timm":  # naming the tag a timm copy was imported without
        original = timm_source(trained) or "the timm file it was imported from"
        fix += (
            f", or, to name the pretrained tag, import {original} again: "
            f"contrastive_models.{model_name}.pretrained_weights: {original} in place of its checkpoint"
        )
    raise ArtifactError(
        f"{path}: expected a model built as contrastive_models.{model_name}.training describes, found a "
        f"model.ckpt built otherwise: {detail}; the weights would embed otherwise than the file's model "
        f"does: {fix}"
    )


def _check_depth(
    trained: ContrastiveCheckpoint,
    path: Path,
    in_stack_depth: int | None,
    model_name: str,
    embedded: Mapping[str, Mapping[str, Any]] | None,
) -> None:
    """Patches of ``in_stack_depth`` slices (the spec's on the first dataset of ``embedded``) are
    those the network learnt from: ``trained.in_stack_depth``, which every model.ckpt records. The
    training datasets' records (``training_sampling``) only name them. Where a dataset's plate
    (``stack_slices`` of its record in ``embedded``) has fewer slices than the model learnt from, no
    spec gives it the depth: the refusal says the model cannot embed it instead of naming a window."""
    learnt = trained.in_stack_depth
    if in_stack_depth is None or in_stack_depth == learnt:
        return
    records = [r for r in trained.training_sampling or [] if isinstance(r, Mapping) and r.get("dataset")]
    trained_on = (
        f"dataset {', '.join(str(r['dataset']) for r in records)}"
        if records
        else "the file records no training datasets"
    )
    embedded = embedded or {}
    stacks = {d: r["stack_slices"] for d, r in embedded.items() if isinstance(r.get("stack_slices"), int)}
    first = next(iter(embedded), None)
    where = "" if first is None else f" on dataset {first}"
    if first in stacks:
        where += f", whose plate has {stacks[first]} slices"
    short = [d for d, n in stacks.items() if n < learnt]
    if short:
        plates = ", ".join(f"{d} ({stacks[d]})" for d in short)
        fix = (
            f"the model cannot embed dataset {plates}: the plate has fewer slices than the {learnt} it "
            "learnt from, no z_window_slices or z_range gives them; train a model on it"
        )
        if len(short) < len(stacks):
            fix += (
                f", or list only the datasets it can embed in contrastive_models.{model_name}.embed_datasets"
            )
    else:
        fix = f"give the spec z_window_slices: {learnt} (or a z_range of {learnt} slices)"
    raise ArtifactError(
        f"{path}: expected a model trained on patches of {in_stack_depth} slices (the patch spec named by "
        f"contrastive_models.{model_name}.training.patch_spec{where}: its z_window_slices or z_range), "
        f"found a model trained on {learnt} slices ({trained_on}): the network would see another depth "
        f"than it learnt from; {fix}"
    )


def _check_dynaclr_input(
    trained: ContrastiveCheckpoint,
    path: Path,
    channels: list[str] | None,
    patch_size_yx_px: int,
    model_name: str,
    normalize_per_time_point: bool | None = None,
) -> int:
    """A model.ckpt of this workflow learnt from the channels (in order, with their normalisation),
    the per-time-point normalisation (or not) and the patch size it records (its depth:
    :func:`_check_depth`, before); returns the network input size to record (the trained one).

    Refused: another number of channels, the same channel names in another order (or a channel
    named in both at another position), another normalisation at a position or another
    ``normalize_per_time_point`` (the shapes fit, the values are silently off), a spec patch smaller
    than the trained one (the embedding stage centre-crops stored patches to the trained size: a
    smaller patch holds less context, the crop would not fit). Warned: other channel names or
    sources at a position (a lab's own names, a ``raw`` channel where this dataset reconstructs
    ``phase``). A larger spec patch is cropped."""
    key = f"the patch spec named by contrastive_models.{model_name}.training.patch_spec"
    learnt_per_time_point = trained.input_normalize_per_time_point
    if None not in (normalize_per_time_point, learnt_per_time_point) and (
        normalize_per_time_point != learnt_per_time_point
    ):
        if not trained.input_normalize_per_time_point_verified:  # assumed at an earlier import
            raise ArtifactError(
                f"{path}: expected a model imported for patches with normalize_per_time_point: "
                f"{normalize_per_time_point} ({key}), found a model.ckpt imported assuming "
                f"{learnt_per_time_point} (input_normalize_per_time_point_verified: false: the file it "
                "was imported from does not state it); set the spec's normalize_per_time_point to "
                f"{learnt_per_time_point}, or import that file itself if the model's documentation "
                "says otherwise"
            )
        raise ArtifactError(
            f"{path}: expected a model trained on patches with normalize_per_time_point: "
            f"{normalize_per_time_point} ({key}), found a model trained with {learnt_per_time_point}: "
            "the network would see values normalised otherwise than it learnt from; set the spec's "
            f"normalize_per_time_point to {learnt_per_time_point}"
        )
    learnt = trained.input_channels or []
    difference = None if channels is None or not learnt else channels_difference(learnt, channels)
    channels = channels or []
    if difference is not None and difference.kind == "count":
        raise ArtifactError(
            f"{path}: expected a model trained on the {len(channels)} channels of {key}, {channels}, "
            f"found a model trained on {len(learnt)}: {learnt}; list the model's channels in the spec"
        )
    if difference is not None and difference.kind == "order":
        raise ArtifactError(
            f"{path}: expected a model trained on the channels of {key} in their order, {channels}, "
            f"found a model trained on the same channels in another order, {learnt}: each position "
            "would feed another signal; list the spec's channels in the model's order"
        )
    if difference is not None and difference.kind == "moved":
        raise ArtifactError(
            f"{path}: expected a model trained on channel {difference.name!r} at position "
            f"{difference.at + 1}, where {key} lists it ({channels}), found a model trained on it at "
            f"position {difference.learnt_at + 1} ({learnt}): the positions would feed other signals; "
            "list the spec's channels in the model's order, or give a channel the model's `name:`"
        )
    if difference is not None and difference.kind == "normalization":
        raise ArtifactError(
            f"{path}: expected a model trained on the channels of {key}, {channels}, found a model "
            f"trained on {learnt}: channel {difference.at + 1} is normalised otherwise, the network would "
            "see values of another scale; list the spec's channels in the model's order and normalisation"
        )
    if difference is not None:
        logger.warning(
            "%s: the model was trained on the channels %s, %s lists %s: the same number and "
            "normalisation, other names or sources; check that each position holds the same signal "
            "(a renamed channel is fine)",
            path,
            learnt,
            key,
            channels,
        )
    if patch_size_yx_px < trained.patch_size_yx_px:
        raise ArtifactError(
            f"{path}: expected a model trained on patches of at most {patch_size_yx_px} px ({key}), found "
            f"{trained.patch_size_yx_px} px: the embedding stage crops patches to the trained size and "
            f"these are smaller; set the spec's patch_size_yx_px to at least {trained.patch_size_yx_px}"
        )
    if patch_size_yx_px > trained.patch_size_yx_px:
        logger.info(
            "%s: trained on %d px patches, %s gives %d px: embedding centre-crops them to %d px",
            path,
            trained.patch_size_yx_px,
            key,
            patch_size_yx_px,
            trained.patch_size_yx_px,
        )
    return trained.patch_size_yx_px


def check_imported_sampling(
    recorded: list[dict[str, Any]] | None,
    embedded: Mapping[str, Mapping[str, Any]] | None,
    path: Path,
    fmt: str,
    patch_size_yx_px: int,
    model_name: str,
    spec_name: str,
    allow_other_scales: bool,
) -> bool:
    """Compare the sampling the file ``path`` records its weights learnt from (``recorded``:
    ``training_sampling``) with each embedded dataset's (``embedded``, by name), as the dry run
    compares a model trained here (:func:`~dynaclr.config.transfer_checks.
    checkpoint_sampling_problems`); returns whether it was compared. A file recording none is warned.
    ``import_model`` checks every dataset the model embeds, ``embed`` the one it embeds (a dataset
    added since the import).

    Raises:
        ArtifactError: a dataset is sampled otherwise (every such line) and ``allow_other_scales`` is
            false, or the record is malformed.
    """
    if embedded is None:
        return False
    if recorded is None:
        logger.warning(
            "%s: the %s file does not record the sampling (pixel size, z step) of the "
            "data its weights learnt from (a model.ckpt of an older dynaclr, a VisCy or timm file, or a "
            "model.ckpt imported from one): the sampling could not be checked against the datasets "
            "contrastive_models.%s embeds, %s (recorded as training_sampling_verified: false); check "
            "that they were imaged with the model's objective and z step",
            path,
            fmt,
            model_name,
            sorted(embedded),
        )
        return False
    try:
        problems = checkpoint_sampling_problems(
            model_name, path, recorded, embedded, patch_size_yx_px, spec_name
        )
    except ValueError as error:
        raise ArtifactError(f"{path}: its training_sampling cannot be read: {error}") from None
    if problems and not allow_other_scales:
        raise ArtifactError("\n".join(problems))
    for problem in problems:
        logger.warning("allowed by allow_other_scales: %s", problem)
    return True


def import_model(
    config: ContrastiveModelConfig,
    checkpoint_format: CheckpointFormat,
    inputs: ImportModelInputs,
    outputs: ImportModelOutputs,
    *,
    in_channels: int,
    in_stack_depth: int,
    patch_size_yx_px: int,
    model_name: str,
    channel_indices: list[int] | None = None,
    channels: list[str] | None = None,
    normalize_per_time_point: bool | None = None,
    embedded_sampling: Mapping[str, Mapping[str, Any]] | None = None,
    allow_other_scales: bool = False,
) -> dict[str, Any]:
    """Check the file against the configured architecture and write it as this workflow's model.ckpt.

    Args:
        config: the model's ``training`` config: its architecture (and ``patch_spec``).
        checkpoint_format: ``dynaclr``, ``viscy`` (module docstring) or ``timm``: the weights of the
            plain timm backbone ``config.backbone`` (a pretrained network, ``pretrained_weights``),
            its classifier dropped; with ``config.stem == "backbone"`` the network is used as
            published (its own 2-D stem, :class:`~dynaclr.contrastive.PretrainedImageInput`).
        inputs, outputs: the rule's files.
        in_channels, in_stack_depth: channels and slices of the patch spec the model embeds (on
            the first dataset of ``embedded_sampling``); a ``dynaclr`` file's recorded
            ``in_stack_depth`` must be the same.
        patch_size_yx_px: the network input size (the spec's final patch size); a ``dynaclr`` file
            records its own, which must not be larger (it is recorded: embedding crops to it).
        model_name: the model's name in the workflow config (recorded: embedding checks it).
        channel_indices: ``stem: backbone``: the patch channels the network sees (``None``: all).
        channels: the patch spec's channels, ``source:channel (normalization)`` in order
            (:meth:`~dynaclr.config.patches.PatchSpec.channel_labels`); a ``dynaclr`` file that
            records the channels it learnt from must have learnt as many, normalised alike position
            by position (other names or sources are warned). Recorded in the output as
            ``input_channels``, with ``input_channels_verified``: ``false`` (and a warning naming the
            channels assumed) where the file does not state them (a VisCy or timm file, or a
            model.ckpt imported from one), so nothing could check them.
        normalize_per_time_point: the patch spec's ``normalize_per_time_point``; a ``dynaclr``
            file recording its own must record the same. Recorded in the output
            (``input_normalize_per_time_point``, with ``input_normalize_per_time_point_verified``:
            ``false`` and a warning where the file does not state it, so the spec's is assumed);
            ``None``: not compared, the file's recorded.
        embedded_sampling: the sampling of each dataset the model embeds, by name
            (:func:`~dynaclr.config.transfer_checks.dataset_sampling`, JSON); a ``dynaclr`` file
            recording the sampling its weights learnt from (``training_sampling``) is compared with
            each as the dry run compares a model trained here. A file recording none is warned and
            recorded with ``training_sampling_verified``: ``false``; ``None``: nothing compared.
            A record's ``stack_slices`` (the slices of the plate the spec reads; not part of the
            sampling) lets a refused depth say which datasets no spec can give that depth.
        allow_other_scales: the model's ``allow_other_scales``: a dataset sampled otherwise is
            warned, not refused.

    Returns:
        A summary: source, format, parameters, seconds.

    Raises:
        ArtifactError: the file is unreadable, of another kind, or does not fit (first mismatching key).
    """
    source = Path(inputs.checkpoint)
    trained = read_contrastive_checkpoint(source) if checkpoint_format == "dynaclr" else None
    if trained is not None:  # before an encoder of the spec's depth is built (a 2-D one refuses a z kernel)
        _check_depth(trained, source, in_stack_depth, model_name, embedded_sampling)
    problem = backbone_problem(
        f"contrastive_models.{model_name}.training.backbone",
        config.backbone,
        contrastive_backbones(config.stem),  # the one list the dry run checks
        "contrastive encoder",
        tagged=config.stem == "backbone",
    )
    if problem is not None:
        raise ArtifactError(problem)
    tag_problem = pretrained_tag_problem(config.backbone)
    recorded_input = trained is not None and trained.input_normalisation is not None
    if tag_problem is not None and not recorded_input:  # before timm refuses it with a bare RuntimeError
        raise ArtifactError(f"contrastive_models.{model_name}.training.backbone: {tag_problem}")
    encoder = ContrastiveEncoder(
        in_channels=in_channels,
        in_stack_depth=in_stack_depth,
        channel_indices=channel_indices,
        # a model.ckpt's own record (the config's backbone equals the file's, compared below)
        input_normalisation=trained.input_normalisation if trained is not None else None,
        **config.encoder_arguments(),
    )
    inputs_recorded: list[Any]
    verified = False  # the channels are those the file states its weights learnt from
    per_time_point_verified = False  # likewise normalize_per_time_point
    sampling: list[dict[str, Any]] | None = None  # the sampling the file states its weights learnt from
    weights_read: dict[str, Any] | None = None  # timm: how the file was read (recorded)
    metadata_not_read: tuple[str, ...] = ()  # viscy: the metadata classes read as stand-ins (recorded)
    if trained is not None:
        if trained.imported_format == "viscy":  # a VisCy import of an earlier version, imported again
            check_viscy_backbone(encoder, source, model_name, imported_copy=True)
        if trained.imported_format == "timm":  # a timm import of an earlier version: its name unchecked
            check_timm_network(
                encoder,
                source,
                model_name,
                imported_copy=True,
                imported_from=timm_source(trained),
                recorded=trained.weights_read,
            )
        verified = trained.input_channels is not None and trained.input_channels_verified
        state = trained.encoder_state
        inputs_recorded = [(source, trained.provenance)]
        _check_dynaclr_architecture(
            trained, config, channel_indices, channels, in_channels, source, model_name
        )
        # a pretrained backbone sees only the channels it selects, compared above: the spec's others
        # (in whichever order) do not reach it
        spec_channels = None if config.stem == "backbone" else channels
        patch_size_yx_px = _check_dynaclr_input(
            trained,
            source,
            spec_channels,
            patch_size_yx_px,
            model_name,
            normalize_per_time_point,
        )
        if trained.input_normalize_per_time_point is not None:  # the spec's, where given: compared above
            normalize_per_time_point = trained.input_normalize_per_time_point
            per_time_point_verified = trained.input_normalize_per_time_point_verified
        channels = channels if channels is not None else trained.input_channels
        sampling = trained.training_sampling
    elif checkpoint_format == "timm":
        try:
            weights_read = encoder.load_weights(source)
        except WeightsLayoutError as err:  # no backbone reads it: the message says what to save
            raise ArtifactError(str(err)) from None
        except ValueError as err:
            raise ArtifactError(
                f"{err}; set contrastive_models.{model_name}.training.backbone to the network the file holds"
            ) from None
        _check_all_from_file(encoder, weights_read, source, model_name)
        timm_config = check_timm_network(encoder, source, model_name)
        weights_read.update(recorded_normalisation(encoder))  # embed compares it (not timm's tags of then)
        state = encoder.state_dict()
        inputs_recorded = [source]
        if timm_config is not None:  # the architecture and normalisation compared, and its digest
            weights_read["timm_config"] = timm_config
            weights_read["timm_config_sha256"] = hashlib.sha256(Path(timm_config).read_bytes()).hexdigest()
            inputs_recorded.append(Path(timm_config))
    else:
        check_viscy_backbone(encoder, source, model_name)
        read = read_weights_file(
            source,
            what="VisCy checkpoint",
            fix=f"copy the file again or correct contrastive_models.{model_name}.checkpoint",
            foreign=True,
        )
        metadata_not_read = read.metadata_not_read
        state = viscy_encoder_state(viscy_state_dict(read.contents, source), source)
        inputs_recorded = [source]
    _fit(encoder, state, source, checkpoint_format, model_name)
    _check_finite(encoder, source, checkpoint_format)
    if channels is not None and not verified:
        logger.warning(
            "%s: the %s file does not state the channels its weights learnt from (a model.ckpt imported from "
            "a VisCy or timm file holds those assumed then); assumed to be those of "
            "the patch spec named by contrastive_models.%s.training.patch_spec, %s, in this order and "
            "normalisation (recorded as input_channels_verified: false); check them against the model's "
            "documentation",
            source,
            checkpoint_format,
            model_name,
            channels,
        )
    if normalize_per_time_point is not None and not per_time_point_verified:
        logger.warning(
            "%s: the %s file does not state whether its weights learnt from patches normalised per time "
            "point; assumed normalize_per_time_point: %s, that of the patch spec named by "
            "contrastive_models.%s.training.patch_spec (recorded as "
            "input_normalize_per_time_point_verified: false); check it against the model's documentation",
            source,
            checkpoint_format,
            normalize_per_time_point,
            model_name,
        )
    sampling_verified = check_imported_sampling(
        sampling,
        embedded_sampling,
        source,
        checkpoint_format,
        patch_size_yx_px,
        model_name,
        config.patch_spec,
        allow_other_scales,
    )
    config_json = config.job_params()  # hashed as training hashes it (the embed jobs check it)
    summary = {
        "model_name": model_name,
        "imported_from": str(source),
        "checkpoint_format": checkpoint_format,
        "parameters": sum(p.numel() for p in encoder.parameters()),
        "input_channels": channels,
        "input_channels_verified": verified,
        "input_normalize_per_time_point": normalize_per_time_point,
        "input_normalize_per_time_point_verified": per_time_point_verified,
        "training_sampling": sampling,
        "training_sampling_verified": sampling_verified,
    }
    if weights_read is not None:
        summary["weights_read"] = weights_read  # the wrapper key and key prefix the file had
    if metadata_not_read:  # a Lightning checkpoint's omegaconf hyperparameters, paths, ...
        summary["metadata_not_read"] = list(metadata_not_read)
    exported = {
        "state_dict": {f"encoder.{key}": tensor for key, tensor in encoder.state_dict().items()},
        "hyper_parameters": {
            "config": config_json,
            "in_channels": in_channels,
            "in_stack_depth": in_stack_depth,
            "patch_size_yx_px": patch_size_yx_px,
            "tau_frames": None,
            "channel_indices": channel_indices,
            # read back in place of timm's tags (every format; None for the z-fold stem)
            "input_normalisation": recorded_normalisation(encoder) or None,
        },
        PROVENANCE_KEY: json.loads(
            make_provenance(
                ArtifactKind.CONTRASTIVE_MODEL, config_json, inputs_recorded, stage="import_model"
            ).model_dump_json()
        ),
        TRAINING_SUMMARY_KEY: summary,
    }
    with atomic_output(outputs.config) as tmp:
        tmp.write_text(json.dumps(config_json, indent=2) + "\n")
    with atomic_output(outputs.checkpoint) as tmp:
        torch.save(exported, tmp)
    logger.info(
        "imported %s (%s, %d parameters) as %s", source, checkpoint_format, summary["parameters"], model_name
    )
    return summary
