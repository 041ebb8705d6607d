"""Configuration of the phase reconstruction stage (rules ``phase_transfer_function``,
``phase_plate``, ``reconstruct_phase``, ``evaluate_phase``).

Phase is reconstructed from the brightfield z-stack with waveorder's weak-object models:
``phase_thick_3d`` (mode ``"3d"``: a phase volume) or ``isotropic_thin_3d`` (mode ``"2d"``: one
projected phase image). Units are in the field names: ``_um`` micrometres, ``_slices`` z planes,
``_counts`` camera counts. Pixel sizes are read from the plate's metadata unless overridden here.
Defaults suit the simulated demo plate (20x/0.55 NA detection, 0.4 NA illumination, 532 nm): a
non-negative 3d reconstruction with background-filled z padding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from dynaclr.config.base import (
    WAVELENGTH_RANGE_UM,
    StrictModel,
    sampling_nanometre_hint,
    wavelength_nanometre_hint,
)
from dynaclr.io.sampling import PIXEL_SIZE_RANGE_UM, Z_STEP_RANGE_UM

if TYPE_CHECKING:
    from dynaclr.io.plate import PlateGeometry


#: Largest camera offset, as a share of an integer pixel type's full scale, that phase takes: a
#: camera's dark level is a small part of its range (100 of a 16-bit camera's 65535; 0 to 16 of an
#: 8-bit camera's 255), so an offset above an eighth of the range (the default 100 on uint8 data: 39 %)
#: was set for another camera, and would take most of the signal (a 4.9 times larger phase at a
#: brightfield of 120 counts, measured).
MAX_OFFSET_FULL_SCALE_SHARE = 1 / 8

#: What to set ``phase.camera_offset_counts`` to, for integer plates (the offset can only be the
#: camera's dark level, or 0 where it was subtracted at export; such a plate cannot hold NaN).
INTEGER_OFFSET_ADVICE = (
    "set phase.camera_offset_counts to this camera's dark level (the counts of a frame taken with the "
    "shutter closed; 0 only if the offset really was subtracted at export)"
)


class PhaseConfig(StrictModel):
    """Optics and reconstruction parameters of the phase stage."""

    mode: Literal["3d", "2d"] = Field(
        "3d",
        description=(
            "'3d': thick-phase model, output (T, 1, Z, Y, X), the phase per voxel; "
            "'2d': thin-phase model, output (T, 1, 1, Y, X), the phase projected through the "
            "sample. Both in arbitrary units (the regularised inverse scales them)."
        ),
    )
    brightfield_channel: str = Field(
        "Brightfield", min_length=1, description="Name of the brightfield channel in the raw plate."
    )
    wavelength_illumination_um: float = Field(
        0.532,
        ge=WAVELENGTH_RANGE_UM[0],
        le=WAVELENGTH_RANGE_UM[1],
        description="Illumination wavelength in vacuum (µm), between 0.2 and 2.0 (light microscopy).",
    )
    numerical_aperture_detection: float = Field(
        0.55, gt=0, le=1.5, description="Numerical aperture of the objective (detection)."
    )
    numerical_aperture_illumination: float = Field(
        0.4, gt=0, le=1.5, description="Numerical aperture of the condenser (illumination)."
    )
    index_of_refraction_media: float = Field(
        1.34, ge=1.0, description="Refractive index of the medium around the cells."
    )
    z_padding_slices: int = Field(
        2,
        ge=0,
        description=(
            "3d mode: slices added above and below the stack (filled as z_padding_fill says) so the "
            "inverse filter does not wrap the top of the stack onto its bottom. Ignored in 2d mode."
        ),
    )
    z_padding_fill: Literal["background", "mirror"] = Field(
        "background",
        description=(
            "3d mode: what the padded slices hold. 'background': no modulation, right when the stack "
            "extends a few slices past the cells on both sides (the simulated plates); 'mirror': the "
            "stack reflected (waveorder's choice), for stacks that cut through the sample. Ignored in "
            "2d mode."
        ),
    )
    regularization_strength: float = Field(
        2.5e-6,
        gt=0,
        description=(
            "Tikhonov regularisation of the inverse (both modes), added to the squared transfer "
            "function (whose 3d maximum is about 8e-3 for the default optics). Smaller keeps more low "
            "spatial frequencies and more noise."
        ),
    )
    non_negativity_iterations: int = Field(
        20,
        ge=0,
        description=(
            "3d mode: ADMM iterations of the Tikhonov inverse constrained to phase >= 0 (cells are "
            "optically denser than the medium; the constraint recovers much of what the missing cone "
            "of the optics loses). Needs the right sign of defocus (invert_phase_contrast). 0: the "
            "linear Tikhonov inverse only. Ignored in 2d mode."
        ),
    )
    invert_phase_contrast: bool = Field(
        False, description="Flip the sign of defocus (for microscopes whose z axis points the other way)."
    )
    focus_offset_slices: float = Field(
        0.0,
        description=(
            "Position of the focal plane relative to slice Z // 2, in slices (waveorder's "
            "convention): used by the 2d mode's reconstruction and, in both modes, by the phase "
            "sign check (its thin-phase projection of each checked stack's central crop)."
        ),
    )
    camera_offset_counts: float = Field(
        100.0,
        ge=0,
        description=(
            "Camera offset (dark level, counts) subtracted from the brightfield counts before "
            "normalisation: the counts of a frame taken with the shutter closed. The default is a 16-bit "
            "camera's; set it for 8-bit cameras (often 0 to 16) and to 0 only if the offset really was "
            "subtracted at export. Refused above 1/8 of an integer pixel type's full scale (by the dry "
            "run), and where a stack's darkest 0.1 % of voxels lie below half of it; voxels at 0 (zero "
            "padding, dead pixels) are not the dark level: filled with the stack's median (with an "
            "offset of 0, only positions at 0 in every z slice)."
        ),
    )
    flat_field: Literal["z_mean", "none"] = Field(
        "z_mean",
        description=(
            "'z_mean': divide each slice by the stack's mean over z (removes uneven illumination, "
            "which the models would otherwise read as phase); 'none': use the counts as they are."
        ),
    )
    yx_pixel_size_um: float | None = Field(
        None,
        ge=PIXEL_SIZE_RANGE_UM[0],
        le=PIXEL_SIZE_RANGE_UM[1],
        description="Pixel size at the sample (µm), 0.02-20 (65 or 650 is refused as nanometres); null "
        "reads it from the plate metadata.",
    )
    z_step_um: float | None = Field(
        None,
        ge=Z_STEP_RANGE_UM[0],
        le=Z_STEP_RANGE_UM[1],
        description="Distance between slices (µm), 0.05-50 (500 or 2000 is refused as nanometres); null "
        "reads it from the plate metadata.",
    )

    def offset_pixel_type_problem(self, dtype: Any) -> str | None:
        """What is wrong with ``camera_offset_counts`` for pixels of type ``dtype``: more than
        :data:`MAX_OFFSET_FULL_SCALE_SHARE` of an integer type's full scale (floats have none);
        ``None`` where nothing is. Checked by the dry run on each raw plate's pixel types and by each
        phase job on the pixels it reads."""
        pixel_type = np.dtype(dtype)
        if pixel_type.kind not in "ui":
            return None
        offset = self.camera_offset_counts
        full_scale = float(np.iinfo(pixel_type).max)
        limit = MAX_OFFSET_FULL_SCALE_SHARE * full_scale
        if offset <= limit:
            return None
        return (
            f"phase.camera_offset_counts = {offset:g} counts is {100.0 * offset / full_scale:.0f}% of the "
            f"{pixel_type.name} pixels' full scale {full_scale:g}; expected a camera dark level of at most "
            f"{100.0 * MAX_OFFSET_FULL_SCALE_SHARE:.1f}% of it ({limit:g} counts). The default 100 is a "
            f"16-bit camera's: {INTEGER_OFFSET_ADVICE}"
        )

    def effective_geometry(self, plate: PlateGeometry) -> PlateGeometry:
        """The sampling the phase stage uses and writes (its plate, and the virtual-staining plate made
        from it): ``plate``'s (the raw plate's metadata), with this config's pixel size and z step
        where set."""
        return dataclasses.replace(
            plate,
            z_step_um=self.z_step_um if self.z_step_um is not None else plate.z_step_um,
            pixel_size_um=self.yx_pixel_size_um if self.yx_pixel_size_um is not None else plate.pixel_size_um,
        )

    def with_supplied(self, supplied: Mapping[str, float]) -> PhaseConfig:
        """This config with the pixel size and z step the dataset's ``acquisition`` supplies for a plate
        whose metadata states none (:meth:`~dynaclr.io.plate.PlateLayout.supplied_values`), where it
        sets none itself: the sampling the phase stage uses and records in its provenance."""
        fields = (("yx_pixel_size_um", "pixel_size_um"), ("z_step_um", "z_step_um"))
        update = {
            field: supplied[key] for field, key in fields if getattr(self, field) is None and key in supplied
        }
        return self.model_copy(update=update) if update else self

    @field_validator("wavelength_illumination_um", mode="before")
    @classmethod
    def _light_microscopy_wavelength(cls, value: Any) -> Any:
        """A wavelength in nanometres (532 for 0.532 µm, as microscope metadata writes it) leaves the
        optics' passband below the images' lowest spatial frequency: the transfer function vanishes
        but at a few frequencies next to zero, and the phase is a blur, with exit 0. Told so before
        the field's bounds apply."""
        return wavelength_nanometre_hint(value, "wavelength_illumination_um")

    @field_validator("yx_pixel_size_um", "z_step_um", mode="before")
    @classmethod
    def _sampling_in_micrometres(cls, value: Any, info: ValidationInfo) -> Any:
        """A pixel size or z step in nanometres (650 for 0.65 µm) gives the optics' model pixels a
        thousand times too large, with exit 0."""
        return sampling_nanometre_hint(value, str(info.field_name))

    @model_validator(mode="after")
    def _apertures_consistent(self) -> PhaseConfig:
        if self.numerical_aperture_detection >= self.index_of_refraction_media:
            raise ValueError(
                f"numerical_aperture_detection ({self.numerical_aperture_detection}) must be below "
                f"index_of_refraction_media ({self.index_of_refraction_media}); check both values"
            )
        if self.numerical_aperture_illumination > self.numerical_aperture_detection:
            raise ValueError(
                f"numerical_aperture_illumination ({self.numerical_aperture_illumination}) exceeds "
                f"numerical_aperture_detection ({self.numerical_aperture_detection}): that is darkfield, "
                "which these brightfield models do not describe; lower the illumination NA"
            )
        return self
