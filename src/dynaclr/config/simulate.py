"""Configuration of the live-cell infection plate simulator (rule ``simulate``).

Units are in the field names: ``_um`` micrometres, ``_px`` pixels, ``_frames`` time points,
``_minutes`` minutes. Defaults give the embedded demo plate (2 wells x 2 FOVs, 30 frames at
30 min, 10 slices of 256 x 256 px).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from dynaclr.config.base import (
    WAVELENGTH_RANGE_UM,
    StrictModel,
    sampling_nanometre_hint,
    wavelength_nanometre_hint,
)
from dynaclr.io.sampling import PIXEL_SIZE_RANGE_UM, Z_STEP_RANGE_UM


class WellSpec(StrictModel):
    """One well of the plate: a condition, and how its cells get infected."""

    row: str = Field(pattern=r"^[A-Z]$", description="Plate row letter, e.g. 'A'.")
    column: str = Field(pattern=r"^[0-9]{1,2}$", description="Plate column number, e.g. '1'.")
    condition: str = Field(min_length=1, description="Condition name, e.g. 'mock' or 'infected'.")
    infected_fraction: float = Field(
        0.0, ge=0.0, le=1.0, description="Probability that a cell of this well gets infected."
    )


class OpticsConfig(StrictModel):
    """Optics of the simulated brightfield microscope (waveorder's thick-phase forward model)."""

    wavelength_um: float = Field(
        0.532,
        ge=WAVELENGTH_RANGE_UM[0],
        le=WAVELENGTH_RANGE_UM[1],
        description="Illumination wavelength in vacuum (µm), between 0.2 and 2.0 (light microscopy).",
    )
    numerical_aperture_detection: float = Field(0.55, gt=0, le=1.5)
    numerical_aperture_illumination: float = Field(0.4, gt=0, le=1.5)
    index_of_refraction_media: float = Field(1.34, ge=1.0)
    z_padding: int = Field(3, ge=0, description="Slices of padding used by the forward model.")

    @field_validator("wavelength_um", mode="before")
    @classmethod
    def _light_microscopy_wavelength(cls, value: Any) -> Any:
        """As the phase stage's (:class:`~dynaclr.config.phase.PhaseConfig`): 532 is nanometres."""
        return wavelength_nanometre_hint(value, "wavelength_um")


class CellsConfig(StrictModel):
    """Cell population: sizes, refractive index, motion, entering and leaving the FOV."""

    initial_cells_per_fov: int = Field(20, ge=0)
    nucleus_radius_um: float = Field(5.0, gt=0, description="Mean nuclear radius in YX (µm).")
    nucleus_radius_cv: float = Field(0.12, ge=0, lt=0.5, description="Coefficient of variation.")
    nucleus_height_um: float = Field(6.0, gt=0, description="Nuclear extent along Z (µm).")
    cytoplasm_radius_factor: float = Field(2.0, gt=1.0, description="Cytoplasm radius / nucleus.")
    cytoplasm_height_um: float = Field(4.0, gt=0, description="Thickness of the spread cytoplasm.")
    coverslip_z_um: float | None = Field(
        None,
        ge=0,
        description="Height of the coverslip above slice 0 (µm); null centres the nuclei in the stack.",
    )
    refractive_index_cytoplasm: tuple[float, float] = Field(
        (0.012, 0.02), description="Range of Δn of the cytoplasm relative to the medium."
    )
    refractive_index_nucleus_extra: tuple[float, float] = Field(
        (0.004, 0.01), description="Range of the nucleus's Δn above the cytoplasm's."
    )
    speed_um_per_frame: float = Field(2.5, ge=0, description="RMS speed of the random walk.")
    persistence: float = Field(0.7, ge=0, lt=1, description="Velocity autocorrelation per frame.")
    entering_cells_per_frame: float = Field(
        0.3, ge=0, description="Mean number of cells entering through the FOV border per frame."
    )
    # Morphodynamics: what a live cell changes from one frame to the next besides its biology.
    # Without them a cell looks the same in every frame, so two augmentations of one patch and the
    # same cell one frame later teach a model the same thing (time-aware sampling has nothing to add).
    rotation_std_rad_per_frame: float = Field(
        0.0, ge=0, description="Std of the random walk of each cell's orientation (radians per frame)."
    )
    membrane_fluctuation: float = Field(
        0.0,
        ge=0,
        le=0.3,
        description=(
            "RMS relative deviation of the cytoplasm's outline from its ellipse: shape modes 2-4 "
            "(protrusions, retractions) that are not affine, so no augmentation reproduces them."
        ),
    )
    membrane_persistence: float = Field(
        0.5, ge=0, lt=1, description="Per-frame autocorrelation of the outline's shape modes."
    )
    cytoplasm_granularity: float = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "Relative amplitude of refractive-index granules (vesicles, organelles) in the "
            "cytoplasm; they move, so their pattern is new in every frame."
        ),
    )


class DivisionConfig(StrictModel):
    """Cell cycle and mitosis."""

    cycle_length_frames: float = Field(40.0, gt=1, description="Mean cell-cycle length.")
    cycle_length_cv: float = Field(0.2, ge=0, lt=1)
    mitosis_frames: int = Field(
        2, ge=1, description="Frames during which the cell rounds up and chromatin condenses."
    )
    daughter_offset_um: float = Field(6.0, ge=0, description="Distance of each daughter from the parent.")


class InfectionConfig(StrictModel):
    """Asynchronous infection and its reporters."""

    onset_frames: tuple[int, int] = Field(
        (3, 20), description="Infection onsets are drawn uniformly from this frame range."
    )
    translocation_frames: float = Field(
        6.0, gt=0, description="Frames for the viral sensor to move from cytoplasm to nucleus."
    )
    sensor_nuclear_fraction_before: float = Field(0.15, ge=0, le=1)
    sensor_nuclear_fraction_after: float = Field(0.85, ge=0, le=1)
    er_condensation_frames: float = Field(
        8.0, gt=0, description="Frames for the ER marker to condense around the nucleus."
    )
    phase_index_change: float = Field(
        0.0,
        ge=-0.9,
        le=5.0,
        description="Relative change of the cytoplasm's refractive-index excess around the nucleus as "
        "the ER condenses (it follows er_condensation): replication compartments densify the "
        "perinuclear cytoplasm, so phase shows infection. 0: infection leaves phase unchanged until "
        "a cell dies.",
    )
    death_probability: float = Field(
        0.15, ge=0, le=1, description="Probability that an infected cell dies late in infection."
    )
    death_delay_frames: tuple[int, int] = Field(
        (10, 20), description="Frames from onset to the start of death, drawn uniformly."
    )
    dying_frames: int = Field(3, ge=1, description="Frames a dying cell shrinks before it vanishes.")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> InfectionConfig:
        for name in ("onset_frames", "death_delay_frames"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: lower bound {low} is above upper bound {high}; write [low, high]")
        return self


class ImagingConfig(StrictModel):
    """Detector and illumination: photon counts, background, noise."""

    brightfield_photons: float = Field(20000.0, gt=0, description="Mean photons per pixel.")
    brightfield_contrast: float = Field(
        0.05, gt=0, description="Std of the relative brightfield modulation inside cells."
    )
    fluorescence_photons: float = Field(400.0, gt=0, description="Photons at unit fluorophore density.")
    fluorescence_background: float = Field(20.0, ge=0, description="Background photons per pixel.")
    camera_offset: int = Field(100, ge=0, description="Camera offset added to every pixel (counts).")
    illumination_falloff: float = Field(
        0.15, ge=0, lt=1, description="Relative drop of illumination from centre to corner."
    )
    psf_sigma_yx_px: float = Field(1.0, ge=0, description="Fluorescence PSF Gaussian sigma in YX.")
    psf_sigma_z_slices: float = Field(0.8, ge=0, description="Fluorescence PSF Gaussian sigma in Z.")


class SimulateConfig(StrictModel):
    """The simulated plate: layout, sizes and the biology and optics that generate it."""

    seed: int = Field(0, ge=0, description="Random seed; the same seed gives identical arrays.")
    wells: list[WellSpec] = Field(
        default_factory=lambda: [
            WellSpec(row="A", column="1", condition="mock", infected_fraction=0.0),
            WellSpec(row="B", column="1", condition="infected", infected_fraction=0.7),
        ],
        min_length=1,
    )
    fovs_per_well: int = Field(2, ge=1)
    n_frames: int = Field(30, ge=2)
    time_interval_minutes: float = Field(30.0, gt=0)
    shape_zyx: tuple[int, int, int] = Field((10, 256, 256), description="Slices, rows, columns.")
    pixel_size_um: float = Field(
        0.65,
        ge=PIXEL_SIZE_RANGE_UM[0],
        le=PIXEL_SIZE_RANGE_UM[1],
        description="Pixel size in YX at the sample (µm), 0.02-20 (65 or 650 is refused as nanometres).",
    )
    z_step_um: float = Field(
        2.0,
        ge=Z_STEP_RANGE_UM[0],
        le=Z_STEP_RANGE_UM[1],
        description="Distance between slices (µm), 0.05-50 (500 or 2000 is refused as nanometres).",
    )
    nuclear_marker_fovs: Literal["all"] | list[str] = Field(
        "all",
        description="FOVs ('A/1/0', ...) imaged with the nuclear marker; others get an empty channel.",
    )
    optics: OpticsConfig = OpticsConfig()
    cells: CellsConfig = CellsConfig()
    division: DivisionConfig = DivisionConfig()
    infection: InfectionConfig = InfectionConfig()
    imaging: ImagingConfig = ImagingConfig()

    @field_validator("pixel_size_um", "z_step_um", mode="before")
    @classmethod
    def _sampling_in_micrometres(cls, value: Any, info: ValidationInfo) -> Any:
        """A size in nanometres (650 for 0.65 µm) would simulate cells a thousand times smaller than a
        pixel."""
        return sampling_nanometre_hint(value, str(info.field_name))

    @model_validator(mode="after")
    def _check_layout(self) -> SimulateConfig:
        wells = [(w.row, w.column) for w in self.wells]
        duplicates = sorted({f"{r}/{c}" for r, c in wells if wells.count((r, c)) > 1})
        if duplicates:
            raise ValueError(f"wells: each well must appear once; repeated: {duplicates}")
        z, y, x = self.shape_zyx
        if z < 1 or y < 32 or x < 32:
            raise ValueError(f"shape_zyx: need at least 1 slice and 32 x 32 pixels, got {self.shape_zyx}")
        if self.nuclear_marker_fovs != "all":
            unknown = sorted(set(self.nuclear_marker_fovs) - set(self.fov_names()))
            if unknown:
                raise ValueError(
                    f"nuclear_marker_fovs: {unknown} are not FOVs of this plate; FOVs are {self.fov_names()}"
                )
        return self

    def coverslip_height_um(self) -> float:
        """Coverslip height above slice 0 (µm); by default nuclei are centred in the stack.

        A 2D movie (one slice) images the plane through the middle of the nuclei: its coverslip lies
        half a nucleus below slice 0.
        """
        if self.cells.coverslip_z_um is not None:
            return self.cells.coverslip_z_um
        stack_center_um = (self.shape_zyx[0] - 1) * self.z_step_um / 2.0
        if self.shape_zyx[0] == 1:
            return stack_center_um - self.cells.nucleus_height_um / 2.0
        return max(stack_center_um - self.cells.nucleus_height_um / 2.0, 0.0)

    def fov_names(self) -> list[str]:
        """FOV names as ``row/column/fov`` in plate order."""
        return [f"{w.row}/{w.column}/{i}" for w in self.wells for i in range(self.fovs_per_well)]


CHANNEL_NAMES: tuple[str, ...] = ("Brightfield", "Nuclei", "ViralSensor", "ERMarker")
"""Channels of the simulated plate, in order."""

RAW_PIXEL_TYPE = "uint16"
"""Pixel type of the simulated raw plate (a 16-bit camera's counts)."""
