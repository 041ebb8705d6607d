"""Parameters of the batched contrastive augmentations (no torch import, so configs stay light).

:class:`AugmentationConfig` is used by :class:`dynaclr.contrastive.augment.BatchAugmentation` and is
part of the training config; it lives here so that validating a workflow config does not import torch.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AugmentationConfig"]


class AugmentationConfig(BaseModel):
    """Parameters of :class:`BatchAugmentation`; defaults are the DynaCLR paper values.

    Probabilities are per sample, in ``[0, 1]``. Ranges ``r`` mean ``U(-r, r)``; pairs are
    ``(low, high)``. Intensities are in the units of the input (usually z-scored, unitless).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    affine_probability: float = Field(0.8, ge=0.0, le=1.0)
    affine_rotation_range: float = Field(math.pi, ge=0.0, description="radians, rotation in YX")
    affine_scale_range: float = Field(0.2, ge=0.0, lt=1.0, description="isotropic YX zoom 1+U(-r, r)")
    affine_shear_range: float = Field(0.01, ge=0.0, description="shear factors along Y and X")
    affine_padding_mode: Literal["zeros", "border", "reflection"] = "reflection"
    gamma_probability: float = Field(0.5, ge=0.0, le=1.0)
    gamma_range: tuple[float, float] = (0.8, 1.2)
    intensity_scale_probability: float = Field(0.5, ge=0.0, le=1.0)
    intensity_scale_range: float = Field(0.5, ge=0.0, description="multiply by 1+U(-r, r)")
    gaussian_smooth_probability: float = Field(0.5, ge=0.0, le=1.0)
    gaussian_smooth_sigma_yx_range: tuple[float, float] = Field(
        (0.25, 0.75), description="pixels; σ_y and σ_x drawn independently"
    )
    gaussian_noise_probability: float = Field(0.5, ge=0.0, le=1.0)
    gaussian_noise_std: float = Field(0.2, ge=0.0)

    @field_validator("gamma_range", "gaussian_smooth_sigma_yx_range")
    @classmethod
    def _positive_ordered_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.0 < low <= high:
            raise ValueError(f"range must satisfy 0 < low <= high, got {value}")
        return value
