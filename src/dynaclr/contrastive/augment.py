"""Batched random augmentations for contrastive training, on the training device or in the loader.

Augmentations act on whole batches of patches ``(B, C, Z, Y, X)`` (``(B, C, Y, X)`` also works)
instead of per sample: on the training device (GPU) after the transfer, or, for CPU training, in
the data-loader worker that read the batch (see ``augment_in`` of the training config). Every
augmentation is switched on per sample with its own probability and has independent per-sample
parameters; within one sample the same parameters are used for all channels and Z slices. All
random draws come from an optional ``torch.Generator``, so the same seed gives the same output (on
the same device).

Order (defaults are the DynaCLR paper values):

1. random affine in YX (p=0.8): rotation ``U(-π, π)``, isotropic zoom ``1 + U(-0.2, 0.2)``, shear
   ``U(-0.01, 0.01)`` along Y and X, about the patch centre, bilinear, reflection padding;
2. centre crop to the output YX size (intensity augmentations below only touch kept pixels);
3. contrast gamma ``U(0.8, 1.2)`` (p=0.5) on per-sample min-max rescaled values;
4. intensity scaling ``x * (1 + U(-0.5, 0.5))`` (p=0.5);
5. Gaussian smoothing in YX with ``σ_y, σ_x ~ U(0.25, 0.75)`` pixels (p=0.5);
6. additive Gaussian noise with standard deviation 0.2 (p=0.5), in the units of the (normalised)
   input intensities.

Patches should be cut larger than the output (e.g. ``ceil(sqrt(2) * 1.25 * out)`` to avoid padding
in the crop for every rotation and zoom) and then cropped here; at inference use :func:`center_crop`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from dynaclr.config.training import AugmentationConfig
from dynaclr.numerics.crop import center_crop

__all__ = [
    "BatchAugmentation",
    "adjust_gamma",
    "affine_transform",
    "center_crop",
    "gaussian_smooth_yx",
]


def affine_transform(
    x: torch.Tensor,
    matrices: torch.Tensor,
    padding_mode: Literal["zeros", "border", "reflection"] = "reflection",
    output_size_yx: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Resample ``x`` ``(B, ..., Y, X)`` with one 2x2 YX matrix per sample, about the patch centre.

    ``matrices`` ``(B, 2, 2)`` map *output* pixel offsets from the centre, in ``(x, y)`` order and
    pixel units, to input offsets: ``out(p) = in(M p)`` (bilinear). The same transform applies to
    all channels and Z slices of a sample. Pixel units are converted to ``affine_grid``'s
    normalised coordinates, so rotations stay rotations for non-square patches. With ``M`` the
    rotation ``[[cos t, -sin t], [sin t, cos t]]`` and ``t = π/2`` the result equals
    ``torch.rot90(x, 1, dims=(-2, -1))`` for square patches.

    With ``output_size_yx`` ``(h, w)`` only the central ``(h, w)`` output pixels are sampled: the
    result ``(B, ..., h, w)`` equals ``center_crop`` of the full result, at a fraction of the cost.
    """
    batch = x.shape[0]
    height, width = x.shape[-2:]
    if matrices.shape != (batch, 2, 2):
        raise ValueError(f"matrices must have shape ({batch}, 2, 2), got {tuple(matrices.shape)}")
    flat = x.reshape(batch, -1, height, width)  # (B, C*Z, Y, X)
    # normalised = pixel * (2/W, 2/H) with align_corners=False → theta = D M D^-1
    to_norm = torch.tensor([2.0 / width, 2.0 / height], dtype=matrices.dtype, device=matrices.device)
    linear = (matrices * to_norm[:, None] / to_norm[None, :]).to(x.dtype)  # (B, 2, 2)
    grid = _sampling_grid(linear, height, width, output_size_yx or (height, width))  # (B, h, w, 2)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    return out.reshape(*x.shape[:-2], *out.shape[-2:])  # (B, ..., h, w)


def _sampling_grid(
    linear: torch.Tensor, height: int, width: int, output_size_yx: tuple[int, int]
) -> torch.Tensor:
    """``grid_sample`` grid ``(B, h, w, 2)`` of the central ``(h, w)`` pixels of a ``(height, width)`` output.

    ``linear`` ``(B, 2, 2)`` maps normalised ``(x, y)`` output coordinates to input coordinates
    (``affine_grid``'s ``theta`` without translation, ``align_corners=False``). Only the kept pixels
    are computed (``affine_grid`` would build the whole image's grid with a batched matmul), and
    every pixel's coordinates are computed the same way whatever the crop, so a cropped result
    equals the crop of the full one exactly.
    """
    h, w = output_size_yx
    top, left = (height - h) // 2, (width - w) // 2
    kwargs: dict[str, Any] = {"dtype": linear.dtype, "device": linear.device}
    xs = (torch.arange(left, left + w, **kwargs) * 2 + (1 - width)) / width  # (w,) pixel centres
    ys = (torch.arange(top, top + h, **kwargs) * 2 + (1 - height)) / height  # (h,)
    m = linear[:, :, :, None, None]  # (B, 2, 2, 1, 1)
    grid_x = m[:, 0, 0] * xs + m[:, 0, 1] * ys[:, None]  # (B, h, w)
    grid_y = m[:, 1, 0] * xs + m[:, 1, 1] * ys[:, None]  # (B, h, w)
    return torch.stack([grid_x, grid_y], dim=-1)


def adjust_gamma(x: torch.Tensor, gamma: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-sample gamma curve for data of any sign: ``x`` ``(B, ...)``, ``gamma`` ``(B,)``.

    Each sample is min-max rescaled to ``[0, 1]`` over all its channels and voxels, raised to
    ``gamma`` and mapped back to its original ``[min, max]``, so the intensity range is preserved
    and negative (z-scored) values are handled. Constant samples are returned unchanged.
    """
    batch = x.shape[0]
    flat = x.reshape(batch, -1)  # (B, N)
    low = flat.amin(dim=1, keepdim=True)  # (B, 1); torch.aminmax is ~20x slower on CPU
    span = flat.amax(dim=1, keepdim=True) - low  # (B, 1)
    out = (flat - low).div_(span.clamp_min(eps)).clamp_(0.0, 1.0)  # (B, N) in [0, 1]
    out.pow_(gamma.to(x.dtype)[:, None]).mul_(span).add_(low)  # (B, N), one buffer throughout
    return out.reshape(x.shape)


def _gaussian_kernels(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised 1-D kernels ``(B, 2*radius+1)`` for standard deviations ``sigma`` ``(B,)`` (pixels)."""
    offsets = torch.arange(-radius, radius + 1, dtype=sigma.dtype, device=sigma.device)  # (K,)
    kernels = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None]) ** 2)  # (B, K)
    return kernels / kernels.sum(dim=1, keepdim=True)


def gaussian_smooth_yx(x: torch.Tensor, sigma_y: torch.Tensor, sigma_x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur along Y and X with per-sample ``sigma_y``, ``sigma_x`` ``(B,)`` pixels.

    ``x`` is ``(B, ..., Y, X)``; channels and Z slices are blurred independently (no mixing along Z).
    The kernel is truncated at ``ceil(3 σ_max)`` and borders use reflection padding.
    """
    batch = x.shape[0]
    height, width = x.shape[-2:]
    planes = x.reshape(batch, -1, height, width)  # (B, P, Y, X), P = C*Z
    n_planes = planes.shape[1]
    sigma_max = float(torch.maximum(sigma_y.max(), sigma_x.max()))
    radius = max(1, math.ceil(3.0 * sigma_max))
    mode = "reflect" if radius < min(height, width) else "replicate"
    grouped = planes.reshape(1, batch * n_planes, height, width)  # (1, B*P, Y, X)
    k_y = _gaussian_kernels(sigma_y.to(x.dtype), radius).repeat_interleave(n_planes, dim=0)  # (B*P, K)
    k_x = _gaussian_kernels(sigma_x.to(x.dtype), radius).repeat_interleave(n_planes, dim=0)  # (B*P, K)
    grouped = F.pad(grouped, (0, 0, radius, radius), mode=mode)  # (1, B*P, Y+2r, X)
    grouped = F.conv2d(grouped, k_y[:, None, :, None], groups=batch * n_planes)  # (1, B*P, Y, X)
    grouped = F.pad(grouped, (radius, radius, 0, 0), mode=mode)  # (1, B*P, Y, X+2r)
    grouped = F.conv2d(grouped, k_x[:, None, None, :], groups=batch * n_planes)  # (1, B*P, Y, X)
    return grouped.reshape(x.shape)


@dataclass(frozen=True)
class _Draws:
    """Per-sample random parameters for one batch; every field is ``(B,)`` on the data device."""

    affine: torch.Tensor
    angle: torch.Tensor
    scale: torch.Tensor
    shear_y: torch.Tensor
    shear_x: torch.Tensor
    gamma_on: torch.Tensor
    gamma: torch.Tensor
    intensity_on: torch.Tensor
    intensity_factor: torch.Tensor
    smooth_on: torch.Tensor
    sigma_y: torch.Tensor
    sigma_x: torch.Tensor
    noise_on: torch.Tensor


class BatchAugmentation(nn.Module):
    """Apply :class:`AugmentationConfig` augmentations to a batch and centre-crop it.

    Args:
        config: augmentation parameters (paper defaults when ``None``).
        output_size_yx: final ``(h, w)`` in pixels; ``None`` keeps the input size.

    ``forward(x, generator)`` takes float ``x`` ``(B, C, Z, Y, X)`` or ``(B, C, Y, X)`` and returns
    a new tensor ``(B, C, Z, h, w)``; the input is never modified. Random numbers are drawn from
    ``generator`` on the generator's device (default: the global RNG of ``x``'s device) and moved
    to ``x.device``; pass a CUDA generator to avoid host-to-device copies of the noise on GPU. The
    number of draws depends only on the batch shape and the per-sample on/off decisions, so a
    given seed reproduces the same batch.
    """

    def __init__(
        self, config: AugmentationConfig | None = None, output_size_yx: tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.config = config if config is not None else AugmentationConfig()
        if output_size_yx is not None and (len(output_size_yx) != 2 or min(output_size_yx) < 1):
            raise ValueError(f"output_size_yx must be two positive ints, got {output_size_yx}")
        self.output_size_yx: tuple[int, int] | None = (
            (int(output_size_yx[0]), int(output_size_yx[1])) if output_size_yx is not None else None
        )

    def extra_repr(self) -> str:
        return f"output_size_yx={self.output_size_yx}, config={self.config!r}"

    def _draw(self, batch: int, generator: torch.Generator | None, device: torch.device) -> _Draws:
        cfg = self.config
        draw_device = generator.device if generator is not None else device

        def uniform(low: float, high: float) -> torch.Tensor:
            u = torch.rand(batch, generator=generator, device=draw_device)  # (B,) in [0, 1)
            return (low + (high - low) * u).to(device)

        def coin(p: float) -> torch.Tensor:
            return torch.rand(batch, generator=generator, device=draw_device).to(device) < p  # (B,) bool

        # Fixed draw order: the stream consumed does not depend on the data.
        return _Draws(
            affine=coin(cfg.affine_probability),
            angle=uniform(-cfg.affine_rotation_range, cfg.affine_rotation_range),
            scale=uniform(1.0 - cfg.affine_scale_range, 1.0 + cfg.affine_scale_range),
            shear_y=uniform(-cfg.affine_shear_range, cfg.affine_shear_range),
            shear_x=uniform(-cfg.affine_shear_range, cfg.affine_shear_range),
            gamma_on=coin(cfg.gamma_probability),
            gamma=uniform(*cfg.gamma_range),
            intensity_on=coin(cfg.intensity_scale_probability),
            intensity_factor=uniform(1.0 - cfg.intensity_scale_range, 1.0 + cfg.intensity_scale_range),
            smooth_on=coin(cfg.gaussian_smooth_probability),
            sigma_y=uniform(*cfg.gaussian_smooth_sigma_yx_range),
            sigma_x=uniform(*cfg.gaussian_smooth_sigma_yx_range),
            noise_on=coin(cfg.gaussian_noise_probability),
        )

    @staticmethod
    def affine_matrices(
        angle: torch.Tensor, scale: torch.Tensor, shear_y: torch.Tensor, shear_x: torch.Tensor
    ) -> torch.Tensor:
        """Sampling matrices ``(B, 2, 2)`` (see :func:`affine_transform`) from ``(B,)`` parameters.

        ``M = R(angle) @ [[1, shear_x], [shear_y, 1]] / scale``: content is rotated, sheared and
        magnified by ``scale`` about the patch centre.
        """
        cos, sin = torch.cos(angle), torch.sin(angle)  # (B,)
        rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
        ones = torch.ones_like(angle)
        shear = torch.stack([torch.stack([ones, shear_x], -1), torch.stack([shear_y, ones], -1)], -2)
        return rotation @ shear / scale[:, None, None]  # (B, 2, 2)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Augment and crop ``x`` ``(B, C, Z, Y, X)`` → ``(B, C, Z, h, w)`` (see class docstring).

        ``out``: an optional contiguous tensor of the result's shape, dtype and device to write the
        result into (e.g. one in shared memory); it is returned.
        """
        if x.ndim not in (4, 5):
            raise ValueError(f"Expected (B, C, Z, Y, X) or (B, C, Y, X), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"BatchAugmentation needs a floating-point tensor, got {x.dtype}")
        cfg = self.config
        draws = self._draw(x.shape[0], generator, x.device)

        # the crop first, then the affine resampled at the kept pixels only (same values)
        cropped = x if self.output_size_yx is None else center_crop(x, self.output_size_yx)  # a view
        if out is None:
            out = torch.empty(cropped.shape, dtype=x.dtype, device=x.device)
        elif out.shape != cropped.shape or out.dtype != x.dtype or not out.is_contiguous():
            raise ValueError(
                f"out must be a contiguous {x.dtype} tensor of shape {tuple(cropped.shape)}, got "
                f"{out.dtype} {tuple(out.shape)}"
            )
        # out (B, C, Z, h, w): the resampled samples, the crop of the others; written in place below
        selected = draws.affine.nonzero().squeeze(1)  # (n,) sample indices
        if selected.numel() == 0:
            out.copy_(cropped)
        else:
            matrices = self.affine_matrices(
                draws.angle[selected], draws.scale[selected], draws.shear_y[selected], draws.shear_x[selected]
            )  # (n, 2, 2)
            source = x if selected.numel() == x.shape[0] else x.index_select(0, selected)
            resampled = affine_transform(source, matrices, cfg.affine_padding_mode, self.output_size_yx)
            _put(out, selected, resampled)
            others = (~draws.affine).nonzero().squeeze(1)
            if others.numel() > 0:
                out.index_copy_(0, others, cropped.index_select(0, others))

        selected = draws.gamma_on.nonzero().squeeze(1)
        if selected.numel() > 0:
            _put(out, selected, adjust_gamma(out.index_select(0, selected), draws.gamma[selected]))
        # a factor of exactly 1 leaves a sample unchanged: one pass over the batch, no gather or sync
        factor = torch.where(draws.intensity_on, draws.intensity_factor, 1.0).to(out.dtype)  # (B,)
        out.mul_(factor.reshape(-1, *([1] * (out.ndim - 1))))
        selected = draws.smooth_on.nonzero().squeeze(1)
        if selected.numel() > 0:
            sigma_y, sigma_x = draws.sigma_y[selected], draws.sigma_x[selected]  # (n,) pixels
            _put(out, selected, gaussian_smooth_yx(out.index_select(0, selected), sigma_y, sigma_x))
        selected = draws.noise_on.nonzero().squeeze(1)
        if selected.numel() > 0 and cfg.gaussian_noise_std > 0:
            draw_device = generator.device if generator is not None else out.device
            shape = (selected.numel(), *out.shape[1:])
            noise = torch.randn(shape, generator=generator, device=draw_device, dtype=out.dtype)
            out.index_add_(0, selected, noise.to(out.device), alpha=cfg.gaussian_noise_std)
        return out


def _put(out: torch.Tensor, selected: torch.Tensor, values: torch.Tensor) -> None:
    """``out[selected] = values`` along the batch axis (a plain copy when every sample is selected)."""
    if selected.numel() == out.shape[0]:
        out.copy_(values)
    else:
        out.index_copy_(0, selected, values)
