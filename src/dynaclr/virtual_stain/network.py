"""2.5-D UNet for virtual staining: a timm ConvNeXt encoder and a light upsampling decoder.

Input ``(B, D, Y, X)``: a z-slab of ``D = input_depth_slices`` normalised phase slices, depth
as channels. Output ``(B, 1, Y, X)``: the normalised nuclear fluorescence of the slab's central
slice, at the input's full resolution.

ConvNeXt's patchify stem has stride 4, so its feature maps are at 1/4, 1/8, 1/16 and 1/32 of the
input. The decoder climbs back with 2x bilinear upsampling, concatenating each encoder feature
map (skip connection) before a convolution block, and adds two shallow full- and half-resolution
branches computed directly from the input, so fine nuclear edges are not lost in the stem.
Inputs whose Y or X is not a multiple of 32 are padded (reflect) and the output cropped back.
"""

from __future__ import annotations

from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn

from dynaclr.config.virtual_stain import NETWORK_STRIDE_PX, VirtualStainConfig

__all__ = ["ConvBlock", "VirtualStainUNet", "build_network"]


class ConvBlock(nn.Sequential):
    """``n_convs`` 3x3 convolutions, each with batch normalisation and GELU; ``stride`` on the first."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, n_convs: int = 2) -> None:
        layers: list[nn.Module] = []
        for index in range(n_convs):
            layers += [
                nn.Conv2d(
                    in_channels if index == 0 else out_channels,
                    out_channels,
                    3,
                    stride=stride if index == 0 else 1,
                    padding=1,
                    bias=False,
                ),
                nn.BatchNorm2d(out_channels),
                nn.GELU(),
            ]
        super().__init__(*layers)


class VirtualStainUNet(nn.Module):
    """UNet mapping a phase slab ``(B, D, Y, X)`` to one predicted fluorescence slice ``(B, 1, Y, X)``.

    Args:
        backbone: timm ConvNeXt name (``convnext_atto``, ...), created with ``pretrained=False``.
        input_depth_slices: ``D``, the number of phase slices fed as channels.
        full_resolution_channels: width of the decoder at full resolution (2x at half).
    """

    def __init__(self, backbone: str, input_depth_slices: int, full_resolution_channels: int = 16) -> None:
        super().__init__()
        self.backbone = backbone
        self.input_depth_slices = input_depth_slices
        self.encoder = timm.create_model(
            backbone, pretrained=False, features_only=True, in_chans=input_depth_slices
        )
        feature_info: Any = self.encoder.feature_info
        encoder_channels: list[int] = list(feature_info.channels())
        reductions: list[int] = list(feature_info.reduction())
        if reductions != [4, 8, 16, NETWORK_STRIDE_PX]:
            raise ValueError(
                f"backbone {backbone!r} has feature reductions {reductions}; expected a ConvNeXt with "
                f"[4, 8, 16, {NETWORK_STRIDE_PX}]"
            )
        half_resolution_channels = 2 * full_resolution_channels
        # high-resolution parts have one convolution each: they dominate the cost on large images
        self.full_resolution = ConvBlock(input_depth_slices, full_resolution_channels, n_convs=1)
        self.half_resolution = ConvBlock(
            full_resolution_channels, half_resolution_channels, stride=2, n_convs=1
        )
        # decoder, coarse to fine: 1/32 -> 1/16 -> 1/8 -> 1/4 with encoder skips
        self.decoder = nn.ModuleList(
            ConvBlock(deep + skip, skip)
            for deep, skip in zip(encoder_channels[:0:-1], encoder_channels[-2::-1], strict=True)
        )
        # 1/4 -> 1/2 -> 1/1 with the shallow branches as skips
        self.to_half = ConvBlock(
            encoder_channels[0] + half_resolution_channels, half_resolution_channels, n_convs=1
        )
        self.to_full = ConvBlock(
            half_resolution_channels + full_resolution_channels, full_resolution_channels, n_convs=1
        )
        self.head = nn.Conv2d(full_resolution_channels, 1, kernel_size=1)

    @property
    def stem(self) -> nn.Conv2d:
        """The encoder's first convolution (its ``in_channels`` is the slab depth)."""
        conv = self.encoder.stem_0
        assert isinstance(conv, nn.Conv2d)
        return conv

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Pad Y and X at the end up to multiples of the network stride (reflect where possible)."""
        size_y, size_x = x.shape[-2:]
        pad_y, pad_x = (-size_y) % NETWORK_STRIDE_PX, (-size_x) % NETWORK_STRIDE_PX
        if pad_y or pad_x:
            mode = "reflect" if pad_y < size_y and pad_x < size_x else "replicate"
            x = F.pad(x, (0, pad_x, 0, pad_y), mode=mode)
        return x, (size_y, size_x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, D, Y, X)`` phase slabs to ``(B, 1, Y, X)`` predictions (any Y, X ≥ 1)."""
        if x.ndim != 4 or x.shape[1] != self.input_depth_slices:
            raise ValueError(
                f"expected input (B, D={self.input_depth_slices}, Y, X) (a slab of input_depth_slices="
                f"{self.input_depth_slices} phase slices), got {tuple(x.shape)}"
            )
        x, (size_y, size_x) = self._pad(x)
        full = self.full_resolution(x)  # (B, f, Y, X)
        half = self.half_resolution(full)  # (B, 2f, Y/2, X/2)
        features = self.encoder(x)  # [(B, c_i, Y/r_i, X/r_i)] for r_i = 4, 8, 16, 32
        y = features[-1]
        for block, skip in zip(self.decoder, features[-2::-1], strict=True):
            y = block(torch.cat([self._up(y, skip), skip], dim=1))
        y = self.to_half(torch.cat([self._up(y, half), half], dim=1))  # (B, 2f, Y/2, X/2)
        y = self.to_full(torch.cat([self._up(y, full), full], dim=1))  # (B, f, Y, X)
        return self.head(y)[..., :size_y, :size_x]  # (B, 1, Y, X)


def build_network(config: VirtualStainConfig) -> VirtualStainUNet:
    """The network described by ``config`` (random weights; load a checkpoint for trained ones)."""
    return VirtualStainUNet(
        backbone=config.backbone,
        input_depth_slices=config.input_depth_slices,
        full_resolution_channels=config.decoder_full_resolution_channels,
    )
