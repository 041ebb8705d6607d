"""Encoder for (B, C, Z, Y, X) image patches: a Z-folding stem, a timm backbone and a projection head.

The backbone's own patchify stem is replaced by :class:`DepthToChannelStem`, which turns a 3-D
stack into a 2-D feature map with the channel count the backbone expects after its stem:

* ``Z > 1``: ``Conv3d(C, c, kernel=(kz, 4, 4), stride=(kz, 4, 4))`` gives ``(B, c, Z/kz, Y/4, X/4)``,
  whose depth is folded into channels, ``(B, c*Z/kz, Y/4, X/4)``, with ``c*Z/kz`` equal to the
  backbone stem width.
* ``Z == 1``: ``Conv2d(C, stem_width, kernel=4, stride=4)``.

Supported timm families:

* ConvNeXt / ConvNeXt-V2 with the default ``"patch"`` stem (``convnext_atto`` ... ``convnext_xxlarge``):
  the stem's 4x4 stride-4 convolution is replaced, its normalisation layer is kept.
* ResNet with the default single-convolution stem (``resnet18``, ``resnet50``, ...): ``conv1``
  (stride 2) and ``maxpool`` (stride 2) are replaced by the stride-4 stem; ``bn1`` and ``act1`` are kept.

Backbones are always created with ``pretrained=False`` (no downloads); local weights can be loaded
with ``weights_path``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import get_arch_pretrained_cfgs, split_model_name_tag
from timm.models.convnext import ConvNeXt, checkpoint_filter_fn
from timm.models.resnet import ResNet
from torch import nn

__all__ = [
    "SUPPORTED_FAMILIES",
    "ContrastiveEncoder",
    "DepthToChannelStem",
    "PretrainedImageInput",
    "WeightsLayoutError",
]

logger = logging.getLogger(__name__)

SUPPORTED_FAMILIES = ("convnext (patch stem)", "convnextv2 (patch stem)", "resnet (single-conv stem)")

_STEM_STRIDE_YX = 4


class DepthToChannelStem(nn.Module):
    """Stride-4 patchify stem mapping ``(B, C, Z, Y, X)`` to ``(B, out_channels, Y/4, X/4)``.

    For ``in_stack_depth > 1`` a ``Conv3d`` with kernel and stride ``(kz, 4, 4)`` produces
    ``Z/kz`` depth planes of ``ceil(out_channels / (Z/kz))`` channels each, which are folded into
    the channel axis. If ``out_channels`` is not divisible by ``Z/kz`` the folded map has a few
    more channels than needed and a bias-free 1x1 convolution mixes them down to ``out_channels``
    (logged at INFO); otherwise the fold is exact and no extra layer is created.

    For ``in_stack_depth == 1`` it is a ``Conv2d(C, out_channels, 4, stride=4)`` and accepts
    ``(B, C, 1, Y, X)`` or ``(B, C, Y, X)``.

    ``Y`` and ``X`` should be multiples of 4 (the convolution floors otherwise).
    """

    def __init__(self, in_channels: int, in_stack_depth: int, stem_kernel_z: int, out_channels: int) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if in_stack_depth < 1:
            raise ValueError(f"in_stack_depth (Z) must be >= 1, got {in_stack_depth}")
        if stem_kernel_z < 1:
            raise ValueError(f"stem_kernel_z must be >= 1, got {stem_kernel_z}")
        if in_stack_depth == 1 and stem_kernel_z != 1:
            raise ValueError(
                f"2-D input (in_stack_depth=1) needs stem_kernel_z=1, got stem_kernel_z={stem_kernel_z}"
            )
        if in_stack_depth % stem_kernel_z != 0:
            raise ValueError(
                f"in_stack_depth (Z={in_stack_depth}) must be divisible by stem_kernel_z={stem_kernel_z}; "
                f"choose a depth that is a multiple of {stem_kernel_z} or a kernel that divides "
                f"{in_stack_depth}"
            )
        self.in_channels = in_channels
        self.in_stack_depth = in_stack_depth
        self.stem_kernel_z = stem_kernel_z
        self.out_channels = out_channels
        self.out_depth = in_stack_depth // stem_kernel_z  # Z / kz
        self.conv: nn.Conv2d | nn.Conv3d
        self.mix: nn.Module
        if in_stack_depth == 1:
            self.channels_per_plane = out_channels
            self.conv = nn.Conv2d(in_channels, out_channels, _STEM_STRIDE_YX, stride=_STEM_STRIDE_YX)
            self.mix = nn.Identity()
        else:
            self.channels_per_plane = math.ceil(out_channels / self.out_depth)
            kernel = (stem_kernel_z, _STEM_STRIDE_YX, _STEM_STRIDE_YX)
            self.conv = nn.Conv3d(in_channels, self.channels_per_plane, kernel, stride=kernel)
            folded = self.channels_per_plane * self.out_depth
            if folded == out_channels:
                self.mix = nn.Identity()
            else:
                logger.info(
                    "Stem width %d is not divisible by Z/kz=%d: folding %d channels and mixing them "
                    "down with a 1x1 convolution",
                    out_channels,
                    self.out_depth,
                    folded,
                )
                self.mix = nn.Conv2d(folded, out_channels, kernel_size=1, bias=False)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, in_stack_depth={self.in_stack_depth}, "
            f"stem_kernel_z={self.stem_kernel_z}, out_channels={self.out_channels}"
        )

    def _check_input(self, x: torch.Tensor) -> None:
        expected = f"(B, C={self.in_channels}, Z={self.in_stack_depth}, Y, X)"
        if x.ndim == 4 and self.in_stack_depth == 1:
            if x.shape[1] != self.in_channels:
                raise ValueError(f"Expected input {expected} or (B, C, Y, X), got {tuple(x.shape)}")
            return
        if x.ndim != 5 or x.shape[1] != self.in_channels or x.shape[2] != self.in_stack_depth:
            raise ValueError(
                f"Expected input {expected} (in_channels={self.in_channels}, "
                f"in_stack_depth={self.in_stack_depth}), got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, C, Z, Y, X)`` to ``(B, out_channels, Y/4, X/4)``."""
        self._check_input(x)
        if self.in_stack_depth == 1:
            if x.ndim == 5:
                x = x[:, :, 0]  # (B, C, Y, X)
            return self.conv(x)  # (B, out, Y/4, X/4)
        x = self.conv(x)  # (B, c, Z/kz, Y/4, X/4)
        b, c, d, h, w = x.shape
        x = x.reshape(b, c * d, h, w)  # (B, c*Z/kz, Y/4, X/4): channel index = ch*depth + plane
        return self.mix(x)  # (B, out, Y/4, X/4)


class PretrainedImageInput(nn.Module):
    """The input a pretrained 2-D network expects, from ``(B, C, Z, Y, X)`` patches: ``(B, 3, Y, X)``.

    The selected channels (``channel_indices``; all when ``None``) are reduced to one plane
    (``z_reduction``: the middle slice, or the max or mean projection), each image is scaled to
    [0, 1] by its own minimum and maximum (a constant image becomes 0), one channel is repeated to
    three (RGB), and the result is normalised with the backbone's ``mean`` and ``std`` (timm's
    ``pretrained_cfg``: ImageNet's for ImageNet weights). No parameters: the backbone's own stem
    follows.
    """

    def __init__(
        self,
        in_channels: int,
        channel_indices: list[int] | None,
        z_reduction: str,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> None:
        super().__init__()
        indices = list(range(in_channels)) if channel_indices is None else [int(i) for i in channel_indices]
        if not indices or any(not 0 <= i < in_channels for i in indices):
            raise ValueError(
                f"channel_indices {indices} do not select channels of a {in_channels}-channel input"
            )
        if len(indices) not in (1, 3):
            raise ValueError(
                "a pretrained 2-D backbone takes 1 channel (repeated to RGB) or 3; the input gives "
                f"{len(indices)}: "
                "select 1 or 3 with input_channels"
            )
        if z_reduction not in ("middle", "max", "mean"):
            raise ValueError(f"z_reduction must be 'middle', 'max' or 'mean', got {z_reduction!r}")
        self.in_channels = in_channels
        self.channel_indices = indices
        self.z_reduction = z_reduction
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False
        )

    def extra_repr(self) -> str:
        return f"channel_indices={self.channel_indices}, z_reduction={self.z_reduction!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, C, Z, Y, X)`` (or ``(B, C, Y, X)``) to the normalised ``(B, 3, Y, X)`` image."""
        if x.ndim == 4:
            x = x.unsqueeze(2)
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"Expected input (B, C={self.in_channels}, Z, Y, X), got {tuple(x.shape)}")
        x = x[:, self.channel_indices]
        if self.z_reduction == "middle":
            image = x[:, :, x.shape[2] // 2]
        elif self.z_reduction == "max":
            image = x.amax(dim=2)
        else:
            image = x.mean(dim=2)
        low = image.amin(dim=(-2, -1), keepdim=True)
        span = image.amax(dim=(-2, -1), keepdim=True) - low
        image = torch.where(span > 0, (image - low) / span.clamp_min(torch.finfo(image.dtype).tiny), 0.0)
        if image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        return (image - self.mean) / self.std


def _replace_backbone_stem(model: nn.Module, backbone: str) -> int:
    """Swap the stride-4 entry of a timm model for ``Identity`` in place; return the stem width."""
    unsupported = (
        f"Backbone {backbone!r} ({type(model).__name__}) is not supported; supported families: "
        f"{', '.join(SUPPORTED_FAMILIES)}"
    )
    if isinstance(model, ConvNeXt):
        conv = model.stem[0] if isinstance(model.stem, nn.Sequential) else None
        if not isinstance(conv, nn.Conv2d) or conv.stride != (4, 4) or conv.kernel_size != (4, 4):
            raise NotImplementedError(f"{unsupported} (only the 4x4 stride-4 'patch' stem is handled)")
        model.stem[0] = nn.Identity()  # keep stem[1], the normalisation layer
        return int(conv.out_channels)
    if isinstance(model, ResNet):
        conv1, maxpool = model.conv1, model.maxpool
        if (
            not isinstance(conv1, nn.Conv2d)
            or conv1.stride != (2, 2)
            or not isinstance(maxpool, nn.MaxPool2d)
            or maxpool.stride not in (2, (2, 2))
        ):
            raise NotImplementedError(f"{unsupported} (expected a stride-2 conv1 and a stride-2 maxpool)")
        # keep bn1 and act1; timm annotates these attributes with narrower types
        model.conv1 = nn.Identity()  # type: ignore[assignment]
        model.maxpool = nn.Identity()  # type: ignore[assignment]
        return int(conv1.out_channels)
    raise NotImplementedError(unsupported)


class WeightsLayoutError(ValueError):
    """A weights file that holds no network of any backbone as it stands (e.g. a module's backbone
    beside other modules): its message says what the file holds and what to save instead; another
    backbone would not read it either."""


def _check_not_fcmae(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Refuse a ConvNeXt-V2 FCMAE pre-training checkpoint (its sparse encoder under ``encoder.``
    beside the masked autoencoder's ``decoder.*`` / ``mask_token``), naming it: no backbone reads
    it as it stands, and another backbone would not either."""
    if not any(key.startswith("encoder.") for key in state):
        return
    if not ("mask_token" in state or any(key.startswith("decoder.") for key in state)):
        return
    encoder = sum(key.startswith("encoder.") for key in state)
    raise WeightsLayoutError(
        f"{path}: expected a network's state dict, found an FCMAE pre-training checkpoint "
        f"(ConvNeXt-V2's masked autoencoder: {encoder} tensors under 'encoder.' beside "
        f"{len(state) - encoder} of its decoder, mask_token and prediction head): its encoder is "
        "under 'encoder.', in the layout of that pre-training (sparse convolutions); use a fine-tuned "
        "release of the network (not the FCMAE file), or convert the encoder to a dense ConvNeXt-V2 "
        "(the ConvNeXt-V2 repository's remap_checkpoint_keys) and save it alone"
    )


#: Keys under which published checkpoints hold a network's state dict beside other entries (epoch,
#: optimizer, args): Lightning's and timm's training script's ``state_dict``, ``model`` (ConvNeXt's
#: own releases), ``model_state`` and ``model_state_dict`` (plain PyTorch training loops).
_WRAPPER_KEYS = ("state_dict", "model", "model_state", "model_state_dict")
#: Prefixes that every key of a published state dict may carry: DDP's ``module.``, a module holding
#: the network as its ``model`` (stripped in this order, e.g. ``module.model.``).
_KEY_PREFIXES = ("module.", "model.")
#: Self-supervised training checkpoints holding two copies of the network as separate state dicts:
#: (name, the state dict read, the one beside it not read). DINO (facebookresearch/dino's
#: ``main_dino.py``: ``{"student", "teacher", "optimizer", "epoch", "args", "dino_loss"}``) is
#: evaluated with its teacher.
_SSL_STATE_DICTS = (("DINO", "teacher", "student"),)


@dataclass(frozen=True)
class _SSLLayout:
    """A self-supervised training module's state dict: the network under ``encoder`` beside the
    modules in ``beside`` (heads, a momentum copy, queues: dropped and reported); ``head_in_encoder``:
    the encoder's classifier is the method's projection head (dropped and reported)."""

    name: str
    encoder: str
    beside: frozenset[str]
    head_in_encoder: bool = False


#: Modules a self-supervised Lightning module holds beside its ``backbone`` (solo-learn: ``projector``,
#: ``predictor``, ``prototypes``, the online ``classifier``, ``momentum_*`` copies, NNCLR's and NNBYOL's
#: support set ``queue``, ``queue_y``, ``queue_ptr`` and DINO's loss ``dino_loss_func`` holding its
#: ``center``; lightly's examples: ``projection_head``, ``prediction_head``, ``*_momentum``), none of
#: them the network.
_SSL_HEADS = frozenset(
    {
        "projector",
        "predictor",
        "prototypes",
        "classifier",
        "head",
        "momentum_backbone",
        "momentum_projector",
        "momentum_classifier",
        "momentum_head",
        "projection_head",
        "prediction_head",
        "backbone_momentum",
        "projection_head_momentum",
        "prediction_head_momentum",
        "queue",
        "queue_y",
        "queue_ptr",
        "dino_loss_func",
    }
)
#: Known self-supervised layouts, matched in order against a state dict's top-level modules (its
#: keys' first components, after the wrapper and prefixes of :func:`_published_state_dict`): the
#: network read is the one the method evaluates (DINO's ``backbone`` beside its ``head``; MoCo v3's
#: ``base_encoder``, whose ``fc`` / ``head`` is the projector; MoCo v2's ``encoder_q``, whose ``fc``
#: is the MLP head; a Lightning module's online ``backbone`` or ``encoder``).
_SSL_LAYOUTS = (
    _SSLLayout("DINO", "backbone", frozenset({"head"})),
    _SSLLayout("MoCo v3", "base_encoder", frozenset({"momentum_encoder", "predictor"}), head_in_encoder=True),
    _SSLLayout("MoCo v2", "encoder_q", frozenset({"encoder_k", "queue", "queue_ptr"}), head_in_encoder=True),
    _SSLLayout("self-supervised Lightning module", "backbone", _SSL_HEADS),
    _SSLLayout("self-supervised Lightning module", "encoder", _SSL_HEADS),
)


def _some(keys: list[str]) -> str:
    """The first five of ``keys`` and how many there are."""
    return f"{keys[:5]}{f' ... ({len(keys)} keys)' if len(keys) > 5 else ''}"


def _published_state_dict(
    raw: object, path: Path
) -> tuple[dict[str, torch.Tensor], dict[str, str | list[str] | None]]:
    """The state dict of a weights file as networks are published: bare, or under one of
    :data:`_WRAPPER_KEYS`, or a self-supervised checkpoint's copy the method evaluates
    (:data:`_SSL_STATE_DICTS`: DINO's ``teacher``, not its ``student``); every key prefixed by DDP's
    ``module.`` or ``model.`` (stripped).

    Returns:
        The state dict and how it was read: ``wrapper`` (the key it was under) and ``prefix``
        (what was stripped from every key), ``None`` where there was none; ``ssl`` (e.g. ``DINO``)
        where the state dict was chosen by a self-supervised method's layout, absent otherwise.

    Raises:
        ArtifactError: the file holds no state dict of tensors (naming what it holds), or several
            (naming their keys).
    """
    from dynaclr.io.provenance import ArtifactError  # imported here, as in load_weights

    read: dict[str, str | list[str] | None] = {"wrapper": None, "prefix": None, "ssl": None}
    if not isinstance(raw, Mapping):
        raise ArtifactError(f"{path} does not hold a state dict (got {type(raw).__name__})")
    tensors: Mapping[Any, Any] = raw
    if not all(isinstance(value, torch.Tensor) for value in raw.values()):
        held = [key for key in _WRAPPER_KEYS if isinstance(raw.get(key), Mapping)]
        known = [
            (name, key, beside)
            for name, key, beside in _SSL_STATE_DICTS
            if isinstance(raw.get(key), Mapping) and isinstance(raw.get(beside), Mapping)
        ]
        if not held and len(known) == 1:
            held, read["ssl"] = [known[0][1]], known[0][0]
        if len(held) != 1:
            found = "none of them" if not held else f"several: {held}"
            raise ArtifactError(
                f"{path}: expected a state dict of tensors, bare or under one of {list(_WRAPPER_KEYS)}, "
                f"found {found} (the file holds {_some(sorted(str(k) for k in raw))}); save the "
                "network's state dict alone"
            )
        others = sorted(  # e.g. timm's state_dict_ema beside state_dict
            str(k)
            for k, v in raw.items()
            if k != held[0]
            and isinstance(v, Mapping)
            and v
            and all(isinstance(t, torch.Tensor) for t in v.values())
        )
        if read["ssl"]:  # the other copy is expected: said at INFO
            name, key, beside = known[0]
            logger.info(
                "%s: a %s checkpoint: reading its %r (what %s evaluates); not read: %s",
                path,
                name,
                key,
                name,
                sorted({*others, beside}),
            )
        elif others:
            logger.warning(
                "%s: reading the state dict under %r; the file holds other state dicts, not read: %s",
                path,
                held[0],
                others,
            )
        else:
            logger.info("%s: reading the state dict under %r", path, held[0])
        read["wrapper"], tensors = held[0], raw[held[0]]
        not_tensors = sorted(str(k) for k, v in tensors.items() if not isinstance(v, torch.Tensor))
        if not_tensors:
            raise ArtifactError(
                f"{path}: expected a state dict of tensors under {held[0]!r}, found entries that are "
                f"not tensors: {_some(not_tensors)}"
            )
    state = {str(key): tensor for key, tensor in tensors.items()}
    stripped = ""
    for prefix in _KEY_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: tensor for key, tensor in state.items()}
            stripped += prefix
    if stripped:
        logger.info("%s: stripped %r from every key", path, stripped)
        read["prefix"] = stripped
    if read["ssl"] is None:
        del read["ssl"]
    return state, read


def pretrained_tag_problem(backbone: str) -> str | None:
    """One line naming ``backbone``'s pretrained tag and the tags timm publishes for its architecture
    (``resnet18.my_cells_ft``: timm knows no such tag, and would refuse it with a bare
    ``RuntimeError``); ``None`` for a name without a tag or with a published one."""
    architecture, tag = split_model_name_tag(backbone)
    if not tag:
        return None
    published = list(get_arch_pretrained_cfgs(architecture))
    if backbone in published:
        return None
    return (
        f"expected the architecture's name alone ({architecture!r}) or with a pretrained tag timm "
        f"publishes for it ({published or 'none'}), found {backbone!r}: a tag names the normalisation "
        "of published weights (the weights themselves are read from the file)"
    )


def _mean_std_text(mean: tuple[float, ...], std: tuple[float, ...]) -> str:
    return f"mean {tuple(round(v, 4) for v in mean)}, std {tuple(round(v, 4) for v in std)}"


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def recorded_mean_std(
    record: Mapping[str, Any] | None,
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The mean and std of a checkpoint's input normalisation record (``input_mean``,
    ``input_std``: 3 finite numbers each, std positive); ``None`` for no record (``None`` or empty).

    Raises:
        ValueError: a record without them or with other values, naming what it holds.
    """
    if not record:
        return None
    mean, std = record.get("input_mean"), record.get("input_std")
    if (
        isinstance(mean, list | tuple)
        and isinstance(std, list | tuple)
        and all(len(value) == 3 and all(_finite_number(v) for v in value) for value in (mean, std))
        and all(v > 0 for v in std)
    ):
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)
    raise ValueError(
        "input_normalisation: expected input_mean and input_std of 3 finite numbers each (std positive), "
        f"found {dict(record)}"
    )


class ContrastiveEncoder(nn.Module):
    """Stem + timm backbone + projection MLP: ``(B, C, Z, Y, X)`` → ``(features, projections)``.

    ``features`` ``(B, embedding_dim)`` are the backbone's globally pooled features (768 for
    ``convnext_tiny``, 320 for ``convnext_atto``); ``projections`` ``(B, projection_dim)`` come from
    ``Linear(E, E) → BatchNorm1d(E) → ReLU → Linear(E, projection_dim)`` (``→ BatchNorm1d`` with
    ``projection_norm``) and are what the
    contrastive loss sees. In training mode ``BatchNorm1d`` needs ``B > 1``.

    Args:
        backbone: timm model name (see module docstring for the supported families).
        in_channels: number of input channels ``C``.
        in_stack_depth: number of input Z slices; ``1`` for 2-D input.
        stem_kernel_z: Z kernel and stride of the 3-D stem; must divide ``in_stack_depth``.
        projection_dim: output width of the projection head; ``0``: no head, the projections are
            the features.
        projection_norm: end the head with ``BatchNorm1d(projection_dim)``, as the reference
            implementation's (VisCy) head does.
        drop_path_rate: stochastic-depth rate passed to timm.
        weights_path: optional local ``torch.save``'d state dict (or ``.safetensors`` file) of the
            plain timm backbone (its classifier, and with the ``z_fold`` stem its stem convolution,
            are skipped; see :meth:`load_weights`). Never executes code (``weights_only=True``).
        stem: ``"z_fold"`` (:class:`DepthToChannelStem` replaces the backbone's stem) or
            ``"backbone"`` (the backbone keeps its own 2-D stem and sees
            :class:`PretrainedImageInput`: a pretrained network used as published).
        z_reduction: ``stem="backbone"``: the plane it sees (``middle``, ``max``, ``mean``).
        channel_indices: ``stem="backbone"``: the input channels it sees (1 or 3; ``None``: all).
        input_normalisation: ``stem="backbone"``: the normalisation a checkpoint recorded
            (:meth:`input_normalisation`: ``pretrained_tag``, ``input_mean``, ``input_std``), used in
            place of the one the installed timm gives ``backbone``'s tag; a tag the installed timm no
            longer publishes is then built as its architecture (the weights come from the
            checkpoint, loaded strictly). ``None``: timm's (a new network, or a checkpoint written
            before the record).
    """

    def __init__(
        self,
        backbone: str = "convnext_tiny",
        in_channels: int = 1,
        in_stack_depth: int = 1,
        stem_kernel_z: int = 1,
        projection_dim: int = 32,
        projection_norm: bool = False,
        drop_path_rate: float = 0.0,
        weights_path: str | Path | None = None,
        stem: str = "z_fold",
        z_reduction: str = "middle",
        channel_indices: list[int] | None = None,
        input_normalisation: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if projection_dim < 0:
            raise ValueError(f"projection_dim must be >= 0, got {projection_dim}")
        if projection_dim == 0 and projection_norm:
            raise ValueError("projection_norm needs a projection head (projection_dim >= 1)")
        if stem not in ("z_fold", "backbone"):
            raise ValueError(f"stem must be 'z_fold' or 'backbone', got {stem!r}")
        if stem == "z_fold" and channel_indices is not None:
            raise ValueError("channel_indices is read only with stem='backbone'")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        recorded = recorded_mean_std(input_normalisation) if stem == "backbone" else None
        network_name = backbone
        tag_problem = pretrained_tag_problem(backbone)
        if tag_problem is not None:
            if recorded is None:
                raise ValueError(f"backbone: {tag_problem}")
            # the checkpoint's record decides the input; the network is the architecture's
            network_name = split_model_name_tag(backbone)[0]
            logger.warning(
                "backbone %r: the installed timm does not publish its tag; built as %r with the "
                "normalisation its checkpoint recorded (%s)",
                backbone,
                network_name,
                _mean_std_text(*recorded),
            )
        self.backbone_name = backbone
        self.in_channels = in_channels
        self.in_stack_depth = in_stack_depth
        self.stem_kernel_z = stem_kernel_z
        self.projection_dim = projection_dim
        self.projection_norm = projection_norm
        self.stem = stem
        self.z_reduction = z_reduction
        self.channel_indices = channel_indices

        model = timm.create_model(
            network_name,
            pretrained=False,
            features_only=False,
            num_classes=0,
            drop_path_rate=drop_path_rate,
        )
        self.input_stem: nn.Module
        self._pretrained_tag: str | None = None  # stem 'backbone': the tag its mean and std came from
        # keys of the plain network's state dict the encoder has no counterpart for: its classifier,
        # and the stem convolution the z_fold stem replaces
        classifier = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or "fc"
        classifiers = [classifier] if isinstance(classifier, str) else list(classifier)
        self._classifier_keys = tuple(f"{name}." for name in classifiers)
        self._dropped_backbone_keys = self._classifier_keys
        if stem == "z_fold":
            replaced = "conv1." if isinstance(model, ResNet) else "stem.0."
            self._dropped_backbone_keys += (replaced,)
            stem_width = _replace_backbone_stem(model, backbone)
            self.input_stem = DepthToChannelStem(in_channels, in_stack_depth, stem_kernel_z, stem_width)
        else:
            pretrained_cfg = getattr(model, "pretrained_cfg", None) or {}
            mean, std = recorded or (
                tuple(pretrained_cfg.get("mean", (0.485, 0.456, 0.406))),
                tuple(pretrained_cfg.get("std", (0.229, 0.224, 0.225))),
            )
            self._pretrained_tag = (
                input_normalisation.get("pretrained_tag")
                if recorded is not None and input_normalisation is not None
                else pretrained_cfg.get("tag")
            )
            self.input_stem = PretrainedImageInput(
                in_channels, channel_indices, z_reduction, mean=mean, std=std
            )
        self.backbone = model
        num_features = getattr(model, "num_features", None)
        if not isinstance(num_features, int):
            raise NotImplementedError(f"Backbone {backbone!r} does not report an integer num_features")
        self.embedding_dim = num_features
        e = self.embedding_dim
        self.projection = (
            nn.Sequential(
                nn.Linear(e, e),
                nn.BatchNorm1d(e),
                nn.ReLU(inplace=True),
                nn.Linear(e, projection_dim),
                *([nn.BatchNorm1d(projection_dim)] if projection_norm else []),
            )
            if projection_dim
            else nn.Identity()
        )
        if weights_path is not None:
            self.load_weights(weights_path)

    def input_normalisation(self) -> dict[str, Any] | None:
        """What a checkpoint records of the input a ``stem="backbone"`` network expects: the
        pretrained tag its mean and std came from (``pretrained_tag``: timm's resolution of the
        backbone name, or the record it was built from) and the mean and std it normalises with
        (``input_mean``, ``input_std``); ``None`` for the z-fold stem, which does not normalise so."""
        if not isinstance(self.input_stem, PretrainedImageInput):
            return None
        return {
            "pretrained_tag": self._pretrained_tag,
            "input_mean": self.input_stem.mean.flatten().tolist(),
            "input_std": self.input_stem.std.flatten().tolist(),
        }

    def _config_text(self) -> str:
        return (
            f"backbone={self.backbone_name!r}, in_channels={self.in_channels}, "
            f"in_stack_depth={self.in_stack_depth}, stem_kernel_z={self.stem_kernel_z}, "
            f"projection_dim={self.projection_dim}, projection_norm={self.projection_norm}, "
            f"stem={self.stem!r}"
        )

    def load_weights(self, weights_path: str | Path) -> dict[str, str | list[str] | None]:
        """Load a local state dict with ``torch.load(weights_only=True)``: bare or as networks are
        published (:func:`_published_state_dict`), of the plain timm backbone: its classifier, and with
        the ``z_fold`` stem its stem convolution, skipped; every key under ``backbone.`` (a module
        holding the network as its ``backbone``, as an encoder with the ``backbone`` stem and no
        projection head saves itself); a ConvNeXt / ConvNeXt-V2 in the layout of Facebook's releases
        (``downsample_layers.*``, ``dwconv``, ``pwconv``) converted by timm's
        ``checkpoint_filter_fn``; the network of a self-supervised training checkpoint, the copy the
        method evaluates (:meth:`_read_ssl_layout`: DINO's teacher backbone, MoCo v3's
        ``base_encoder``, MoCo v2's ``encoder_q``, their projection heads dropped; a Lightning
        module's online ``backbone`` or ``encoder`` beside its heads and momentum copies), what was not
        read reported. To read DINO's student instead, save ``checkpoint["student"]`` alone (it is read
        as the same layout). In the workflow (``checkpoint_format: timm``, ``train: false``) the
        encoder has no tensor outside its backbone (``stem: backbone``, ``projection_dim: 0``). A file
        holding tensors of the encoder's other modules (``input_stem.``, ``projection.``) is read as
        a whole encoder of this configuration (:class:`ContrastiveEncoder` with ``weights_path``,
        outside the workflow).

        Returns:
            How the file was read: ``kind`` (``encoder``: every tensor of the encoder came from the
            file; ``backbone``: those of :attr:`backbone` alone), ``wrapper`` and ``prefix``, and
            ``layout`` (``facebook``) where the keys were converted from Facebook's layout; for a
            self-supervised layout ``ssl`` (its name, e.g. ``MoCo v3``), ``encoder`` (the module read,
            e.g. ``base_encoder.``) and ``dropped`` (the modules and projection head not read, with
            their tensor counts); ``metadata_not_read`` (a sorted list), where the file's metadata
            held classes read as stand-ins (:func:`dynaclr.io.weights.read_weights_file`:
            omegaconf's ``DictConfig``, ...).

        Raises:
            ArtifactError: the file does not exist, is truncated, corrupt or not a weights file, or
                holds no state dict (or several).
            WeightsLayoutError: the file holds a module's ``backbone`` (or another module holding the
                network) beside modules no known layout has, or two modules holding the network and no
                layout says which (naming them).
            ValueError: tensor shapes or key sets do not match this
                encoder; the message names the first missing or unexpected key and the expected
                architecture.
        """
        path = Path(weights_path)
        # imported here: the model itself needs no artifact I/O (zarr, pandas), so a GPU benchmark
        # or another project can build it with torch and timm alone
        from dynaclr.io.weights import read_weights_file

        weights = read_weights_file(
            path,
            what="encoder weights file",
            fix="copy the weights file again or correct its path",
            foreign=True,
        )
        state, read = _published_state_dict(weights.contents, path)
        if weights.metadata_not_read:  # a Lightning checkpoint's omegaconf hyperparameters, paths, ...
            read["metadata_not_read"] = list(weights.metadata_not_read)  # sorted
        _check_not_fcmae(state, path)
        state = self._read_ssl_layout(state, path, read)
        target: nn.Module
        if any(k.startswith(("input_stem.", "projection.")) for k in state) or (
            any(k.startswith("backbone.") for k in state)
            and not all(k.startswith("backbone.") for k in state)
        ):
            target, kind = self, "encoder"
        else:  # a plain timm network, or one held as a module's ``backbone``
            if state and all(k.startswith("backbone.") for k in state):
                state = {k[len("backbone.") :]: v for k, v in state.items()}
                read["prefix"] = f"{read['prefix'] or ''}backbone."
            if isinstance(self.backbone, ConvNeXt) and any(k.startswith("downsample_layers.") for k in state):
                state = self._from_facebook_layout(state, path)
                read["layout"] = "facebook"
            skipped = sorted(k for k in state if k.startswith(self._dropped_backbone_keys))
            if skipped:
                logger.info("Skipping %d backbone keys replaced by the encoder: %s", len(skipped), skipped)
            state = {k: v for k, v in state.items() if not k.startswith(self._dropped_backbone_keys)}
            target, kind = self.backbone, "backbone"
        expected = target.state_dict()
        mismatched = [
            f"{k}: expected {tuple(expected[k].shape)}, got {tuple(v.shape)}"
            for k, v in state.items()
            if k in expected and tuple(v.shape) != tuple(expected[k].shape)
        ]
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if mismatched or missing or unexpected:
            details = "; ".join(
                part
                for part in (
                    f"shape mismatch: {', '.join(mismatched)}" if mismatched else "",
                    f"missing keys: {missing[:5]}{' ...' if len(missing) > 5 else ''}" if missing else "",
                    f"unexpected keys: {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
                    if unexpected
                    else "",
                )
                if part
            )
            sees = (
                "its own 2-D stem takes 3 (RGB) channels"
                if self.stem == "backbone"
                else f"input channels C={self.in_channels} and depth Z={self.in_stack_depth}"
            )
            in_chans = [
                int(v.shape[1])
                for k, v in state.items()
                if k in expected
                and v.ndim == 4
                and tuple(v.shape[:1] + v.shape[2:]) == tuple(expected[k].shape[:1] + expected[k].shape[2:])
                and v.shape[1] != expected[k].shape[1]
                and k.startswith(("stem.0.", "conv1."))
            ]
            if in_chans and self.stem == "backbone":
                details += (
                    f" (a network published with in_chans={in_chans[0]}: its stem is read only as "
                    "published for RGB, a 1-channel input is repeated to 3 channels)"
                )
            raise ValueError(
                f"Weights in {path} do not fit this {kind} (expected {self._config_text()}, "
                f"i.e. {sees}): {details}"
            )
        target.load_state_dict(state, strict=True)
        logger.info("Loaded %s weights from %s", kind, path)
        return {"kind": kind, **read}

    def _read_ssl_layout(
        self, state: dict[str, torch.Tensor], path: Path, read: dict[str, str | list[str] | None]
    ) -> dict[str, torch.Tensor]:
        """The network in a self-supervised training module's state dict (:data:`_SSL_LAYOUTS`): the
        state dict under its encoder, the other modules and the encoder's projection head dropped and
        reported (``read``: ``ssl``, ``encoder``, ``dropped``; an INFO log); ``state`` as it is where
        it is no such module (a network, a module's ``backbone`` alone, this encoder's own modules).

        Raises:
            WeightsLayoutError: a module holding the network (``backbone``, or any whose keys hold every
                tensor of this backbone) beside modules no known layout has, or several modules holding
                this backbone (two candidate encoders) where no layout says which to read; naming them.
        """
        modules = {key.split(".", 1)[0] for key in state}
        if modules == {"backbone"} or modules <= {name for name, _ in self.named_children()}:
            return state
        counts = {name: sum(key == name or key.startswith(f"{name}.") for key in state) for name in modules}
        layout = next(
            (
                known
                for known in _SSL_LAYOUTS
                if known.encoder in modules and modules - {known.encoder} <= known.beside
            ),
            None,
        )
        if layout is None:
            self._refuse_modules(state, path, modules, counts)
            return state
        prefix = f"{layout.encoder}."
        network = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        dropped = [f"{name} ({counts[name]} tensors)" for name in sorted(modules - {layout.encoder})]
        if layout.head_in_encoder:  # the method put its projector in place of the network's classifier
            head = sorted(key for key in network if key.startswith(self._classifier_keys))
            if head:
                names = "/".join(
                    sorted(
                        name[:-1] for name in self._classifier_keys if any(k.startswith(name) for k in head)
                    )
                )
                dropped.append(f"{prefix}{names} (its projection head, {len(head)} tensors)")
                network = {key: value for key, value in network.items() if key not in head}
        logger.info(
            "%s: a %s state dict: reading the network under %r; not read: %s",
            path,
            layout.name,
            prefix,
            ", ".join(dropped) or "nothing",
        )
        read["ssl"] = read.get("ssl") or layout.name
        read["encoder"] = prefix
        read["dropped"] = ", ".join(dropped) or None
        return network

    def _refuse_modules(
        self, state: Mapping[str, torch.Tensor], path: Path, modules: set[str], counts: dict[str, int]
    ) -> None:
        """Refuse a state dict of modules, one or several holding this backbone (or named ``backbone``),
        that no known self-supervised layout reads: no backbone reads such a file as it stands."""
        expected = set(self.backbone.state_dict())
        candidates = sorted(
            name
            for name in modules
            if expected <= {key[len(name) + 1 :] for key in state if key.startswith(f"{name}.")}
        )
        if not candidates and "backbone" in modules:
            candidates = ["backbone"]
        if not candidates:
            return
        known = "; ".join(
            f"{layout.name}: {layout.encoder!r} beside {sorted(layout.beside)}" for layout in _SSL_LAYOUTS[:3]
        )
        others = ", ".join(f"{name} ({counts[name]} tensors)" for name in sorted(modules - set(candidates)))
        if len(candidates) == 1:
            name = candidates[0]
            found = f"a module's {name!r} beside other modules: {others}"
        else:
            found = (
                f"{len(candidates)} modules holding this network, {candidates}"
                f"{f' (beside {others})' if others else ''}, and no known layout says which to read"
            )
            name = "chosen module"
        raise WeightsLayoutError(
            f"{path}: expected a network's state dict (bare, every key under 'backbone.', or a "
            f"self-supervised layout read: {known}; a Lightning module's 'backbone' or 'encoder' beside "
            f"{sorted(_SSL_HEADS)}), found {found}; save the {name}'s state dict alone (its keys with the "
            "prefix removed)"
        )

    def _from_facebook_layout(self, state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
        """A ConvNeXt / ConvNeXt-V2 state dict in the layout of Facebook's releases in timm's, by
        timm's own ``checkpoint_filter_fn``; refuses (``ValueError``, naming the key) one whose
        blocks this backbone does not have."""
        try:
            converted = checkpoint_filter_fn(state, self.backbone)
        except (KeyError, RuntimeError) as err:
            # timm indexes the backbone's layers by the file's keys (KeyError: a block it lacks) and
            # reshapes a Linear's weight to the layer's (RuntimeError: a release of another width);
            # the key is found by converting the file's tensors one at a time
            reason = f"the conversion failed: {err}"
            for key, value in state.items():
                try:
                    checkpoint_filter_fn({key: value}, self.backbone)
                except KeyError as key_err:
                    reason = f"it has no {key_err.args[0]!r}, a layer of the file's network"
                    break
                except RuntimeError as shape_err:
                    reason = (
                        f"the file's {key!r} of shape {tuple(value.shape)} ({value.numel()} values) "
                        f"does not fit its layer ({shape_err}): a network of another width"
                    )
                    break
            raise ValueError(
                f"Weights in {path} (a ConvNeXt in the layout of Facebook's releases) do not fit this "
                f"backbone (expected {self._config_text()}): {reason}"
            ) from None
        logger.info("%s: converted from the layout of Facebook's ConvNeXt releases (timm)", path)
        return {str(key): value for key, value in converted.items()}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``x`` ``(B, C, Z, Y, X)`` (or ``(B, C, Y, X)`` when ``in_stack_depth == 1``).

        Returns:
            ``features`` ``(B, embedding_dim)`` and ``projections`` ``(B, projection_dim)``.
        """
        x = self.input_stem(x)  # (B, stem_width, Y/4, X/4)
        features = self.backbone(x)  # (B, E), pooled (and for ConvNeXt, layer-normed)
        projections = self.projection(features)  # (B, projection_dim)
        return features, projections
