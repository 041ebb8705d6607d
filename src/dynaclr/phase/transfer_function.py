"""The optical transfer function of the brightfield microscope, computed once per dataset.

Both waveorder models are linear (weak-object, first Born approximation): the brightfield
intensity modulation is the phase convolved with a point-spread function, i.e. multiplied by a
transfer function in Fourier space (Soto, Rodrigo & Alieva, Opt. Express 25, 15699 (2017)).
Computing it is the expensive step (it is evaluated on a Nyquist-upsampled grid and, in 2D mode,
decomposed by SVD at every spatial frequency), while it depends only on the optics and on the
stack shape, so one transfer function serves every FOV and time point of a plate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
import zarr
from iohub.ngff import open_ome_zarr
from waveorder.models import isotropic_thin_3d, phase_thick_3d

from dynaclr.config.phase import PhaseConfig
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    StageFiles,
    atomic_output,
    make_provenance,
    read_plate_provenance,
    read_zarr_provenance,
    write_zarr_provenance,
)
from dynaclr.io.plate import PlateGeometry, read_plate_sampling

logger = logging.getLogger(__name__)

#: Kinds of plate the brightfield stacks may come from: the simulator's raw plate. A plate without
#: dynaclr provenance (from a microscope or another tool) is accepted and recorded by path only.
RAW_PLATE_KINDS = (ArtifactKind.RAW_PLATE,)

#: Largest rows and columns of the central crop of each stack that the phase sign check
#: (:class:`~dynaclr.phase.reconstruct.SignCheck`) reconstructs with the thin-phase model in mode 3d
#: (in mode 2d it reads that crop of the phase): its thin-phase transfer function is computed with
#: the 3d one, once per plate (:func:`sign_check_arrays`), 4 s for 10 x 256 x 256 on one core (74 s
#: at 1024 x 1024: the whole field would cost more than a 3d frame).
SIGN_CHECK_CROP_PX = 256

#: The mode 3d arrays of the sign check: the singular system of the thin-phase transfer function of
#: the central crop (:func:`sign_check_arrays`): U (2, 2, Y', X'), S (2, Y', X') float32,
#: Vh (2, Z, Y', X'), ``Y' = min(Y, SIGN_CHECK_CROP_PX)``, ``X'`` likewise.
SIGN_CHECK_ARRAY_NAMES = ("sign_check_singular_u", "sign_check_singular_values", "sign_check_singular_vh")

#: Arrays stored for each mode (complex64 unless noted), with their shapes.
ARRAY_NAMES: dict[str, tuple[str, ...]] = {
    # (Z + 2 * z_padding, Y, X): transfer functions of the real / imaginary scattering potential;
    # the sign check's thin-phase singular system of the central crop (SIGN_CHECK_ARRAY_NAMES)
    "3d": (
        "real_potential_transfer_function",
        "imaginary_potential_transfer_function",
        *SIGN_CHECK_ARRAY_NAMES,
    ),
    # (Z, Y, X) transfer functions from a 2D object to the z-stack; singular system of the pair:
    # U (2, 2, Y, X), S (2, Y, X) float32, Vh (2, Z, Y, X)
    "2d": (
        "absorption_transfer_function",
        "phase_transfer_function",
        "singular_u",
        "singular_values",
        "singular_vh",
    ),
}


def read_raw_plate_provenance(raw_plate_path: str | Path) -> Provenance | None:
    """Provenance of the plate holding the brightfield stacks (``None``: a plate of your own)."""
    return read_plate_provenance(raw_plate_path, RAW_PLATE_KINDS, "brightfield input of phase reconstruction")


class PhaseTransferFunctionInputs(StageFiles):
    """Rule ``phase_transfer_function``: the raw plate (its brightfield channel and geometry)."""

    plate: Path


class PhaseTransferFunctionOutputs(StageFiles):
    """Rule ``phase_transfer_function``: the transfer function store."""

    transfer_function: Path


@dataclass(frozen=True)
class TransferFunction:
    """A transfer function and the stack geometry it was computed for.

    ``zyx_shape`` is the shape (slices, rows, columns) of the raw brightfield stacks it applies
    to; ``arrays`` holds the tensors named in :data:`ARRAY_NAMES` for ``mode``.
    """

    mode: Literal["3d", "2d"]
    zyx_shape: tuple[int, int, int]
    yx_pixel_size_um: float
    z_step_um: float
    z_padding_slices: int
    arrays: dict[str, torch.Tensor]

    def sign_check_function(self) -> TransferFunction:
        """The thin-phase transfer function (mode ``"2d"``, singular system only) of the central crop
        that the sign check reconstructs, from the arrays :data:`SIGN_CHECK_ARRAY_NAMES` of a mode
        ``"3d"`` transfer function (:func:`sign_check_arrays`); ``zyx_shape`` is the crop's."""
        missing = [name for name in SIGN_CHECK_ARRAY_NAMES if name not in self.arrays]
        if self.mode != "3d" or missing:
            lacking = missing or list(SIGN_CHECK_ARRAY_NAMES)
            raise ValueError(
                f"the {self.mode} transfer function lacks the sign check's arrays {lacking} "
                "(mode 3d computes them: calculate_transfer_function)"
            )
        u, s, vh = (self.arrays[name] for name in SIGN_CHECK_ARRAY_NAMES)
        n_z, n_y, n_x = self.zyx_shape
        if s.ndim != 3:
            raise ValueError(
                f"sign check array {SIGN_CHECK_ARRAY_NAMES[1]!r} has shape {tuple(s.shape)}; expected "
                "(2, crop Y, crop X)"
            )
        crop_y, crop_x = (int(n) for n in s.shape[-2:])
        expected = {"u": (2, 2, crop_y, crop_x), "s": (2, crop_y, crop_x), "vh": (2, n_z, crop_y, crop_x)}
        found = {"u": tuple(u.shape), "s": tuple(s.shape), "vh": tuple(vh.shape)}
        if found != expected or crop_y > n_y or crop_x > n_x:
            raise ValueError(
                f"sign check arrays (U, S, Vh) have shapes {found}; expected {expected} within the "
                f"stack's (Y, X) = {(n_y, n_x)}"
            )
        return TransferFunction(
            mode="2d",
            zyx_shape=(n_z, crop_y, crop_x),
            yx_pixel_size_um=self.yx_pixel_size_um,
            z_step_um=self.z_step_um,
            z_padding_slices=0,
            arrays={"singular_u": u, "singular_values": s, "singular_vh": vh},
        )

    def attributes(self) -> dict[str, Any]:
        """JSON attributes stored with the arrays."""
        return {
            "mode": self.mode,
            "zyx_shape": list(self.zyx_shape),
            "yx_pixel_size_um": self.yx_pixel_size_um,
            "z_step_um": self.z_step_um,
            "z_padding_slices": self.z_padding_slices,
        }


def effective_geometry(raw_plate_path: str | Path, config: PhaseConfig) -> PlateGeometry:
    """The plate's time interval (s), z step (µm) and pixel size (µm) of array ``0``
    (:func:`~dynaclr.io.plate.read_plate_sampling`: one position's metadata), with config overrides
    (:meth:`PhaseConfig.effective_geometry`)."""
    return config.effective_geometry(read_plate_sampling(raw_plate_path).geometry)


def first_position_shape(raw_plate_path: str | Path, config: PhaseConfig) -> tuple[int, int, int, int, int]:
    """TCZYX shape of the first position's image ``0``; checks the brightfield channel exists."""
    with open_ome_zarr(raw_plate_path, layout="hcs", mode="r") as plate:
        if config.brightfield_channel not in plate.channel_names:
            raise ArtifactError(
                f"{raw_plate_path}: brightfield channel {config.brightfield_channel!r} (config key "
                f"phase.brightfield_channel) not found; the plate's channels are {plate.channel_names}"
            )
        _, position = next(iter(plate.positions()))
        shape = tuple(int(n) for n in position["0"].shape)
    if len(shape) != 5:
        raise ArtifactError(f"{raw_plate_path}: image '0' has shape {shape}; expected 5 axes (T, C, Z, Y, X)")
    return shape  # type: ignore[return-value]


def z_positions_um(n_slices: int, z_step_um: float, focus_offset_slices: float) -> torch.Tensor:
    """Defocus of each slice (µm) in waveorder's convention: slice ``Z // 2`` in focus, z decreasing.

    Returns ``(Z,)`` float32: ``(Z // 2 + focus_offset_slices - k) * z_step_um`` for slice ``k``.
    """
    slices = torch.arange(n_slices, dtype=torch.float32)
    return (n_slices // 2 + focus_offset_slices - slices) * z_step_um


def central_slice(n: int, size: int) -> slice:
    """The central ``min(n, size)`` of ``n`` positions."""
    size = min(n, size)
    return slice((n - size) // 2, (n - size) // 2 + size)


def sign_check_crop(n_y: int, n_x: int) -> tuple[slice, slice]:
    """Rows and columns of the sign check's central crop of a ``(Y, X)`` field: at most
    :data:`SIGN_CHECK_CROP_PX` of each."""
    return central_slice(n_y, SIGN_CHECK_CROP_PX), central_slice(n_x, SIGN_CHECK_CROP_PX)


def sign_check_arrays(
    zyx_shape: tuple[int, int, int], yx_pixel_size_um: float, z_step_um: float, config: PhaseConfig
) -> dict[str, torch.Tensor]:
    """The sign check's arrays (:data:`SIGN_CHECK_ARRAY_NAMES`) for stacks of ``zyx_shape``: the
    singular system of the thin-phase transfer function (mode ``"2d"`` of ``config``'s optics,
    ``invert_phase_contrast`` and ``focus_offset_slices`` included) of the central crop of at most
    :data:`SIGN_CHECK_CROP_PX` rows and columns (:func:`sign_check_crop`)."""
    n_z, n_y, n_x = zyx_shape
    rows, columns = sign_check_crop(n_y, n_x)
    crop = (n_z, rows.stop - rows.start, columns.stop - columns.start)
    thin = calculate_transfer_function(
        crop, yx_pixel_size_um, z_step_um, config.model_copy(update={"mode": "2d"})
    )
    singular_system = (thin.arrays[name] for name in ("singular_u", "singular_values", "singular_vh"))
    return dict(zip(SIGN_CHECK_ARRAY_NAMES, singular_system, strict=True))


def calculate_transfer_function(
    zyx_shape: tuple[int, int, int], yx_pixel_size_um: float, z_step_um: float, config: PhaseConfig
) -> TransferFunction:
    """Compute the transfer function for stacks of ``zyx_shape`` (slices, rows, columns).

    3d mode: waveorder ``phase_thick_3d`` transfer functions of shape ``(Z + 2 p, Y, X)`` with
    ``p = config.z_padding_slices``, and the sign check's thin-phase singular system of the central
    crop (:func:`sign_check_arrays`: computed here, once per plate, not in every FOV job). 2d mode:
    ``isotropic_thin_3d`` transfer functions ``(Z, Y, X)`` and their singular system (computed here,
    once).

    Raises:
        ValueError: ``zyx_shape`` has one slice: phase is read from a defocus series, which one plane
            is not (in focus it carries no phase contrast: the inversion gave exactly 0 everywhere;
            the workflow's dry run refuses such plates whatever ``focus_offset_slices``).
    """
    n_z, n_y, n_x = zyx_shape
    if n_z < 2:
        raise ValueError(
            f"phase reconstruction needs a brightfield z-stack (Z >= 2: phase is read from defocus), found "
            f"Z = {n_z} (ZYX {tuple(zyx_shape)}): one plane is no defocus series (in focus, its phase "
            "reads 0 everywhere); use the plane as a label-free channel as it is (README: 2D movies) or "
            "acquire a z-stack"
        )
    if config.mode == "3d":
        real_tf, imaginary_tf = phase_thick_3d.calculate_transfer_function(
            zyx_shape=(n_z, n_y, n_x),
            yx_pixel_size=yx_pixel_size_um,
            z_pixel_size=z_step_um,
            wavelength_illumination=config.wavelength_illumination_um,
            z_padding=config.z_padding_slices,
            index_of_refraction_media=config.index_of_refraction_media,
            numerical_aperture_illumination=config.numerical_aperture_illumination,
            numerical_aperture_detection=config.numerical_aperture_detection,
            invert_phase_contrast=config.invert_phase_contrast,
        )
        arrays = {
            "real_potential_transfer_function": real_tf,
            "imaginary_potential_transfer_function": imaginary_tf,
            **sign_check_arrays((n_z, n_y, n_x), yx_pixel_size_um, z_step_um, config),
        }
        padding = config.z_padding_slices
    else:
        absorption_tf, phase_tf = isotropic_thin_3d.calculate_transfer_function(
            yx_shape=(n_y, n_x),
            yx_pixel_size=yx_pixel_size_um,
            z_position_list=z_positions_um(n_z, z_step_um, config.focus_offset_slices),
            wavelength_illumination=config.wavelength_illumination_um,
            index_of_refraction_media=config.index_of_refraction_media,
            numerical_aperture_illumination=config.numerical_aperture_illumination,
            numerical_aperture_detection=config.numerical_aperture_detection,
            invert_phase_contrast=config.invert_phase_contrast,
        )
        u, s, vh = isotropic_thin_3d.calculate_singular_system(absorption_tf, phase_tf)
        arrays = {
            "absorption_transfer_function": absorption_tf,
            "phase_transfer_function": phase_tf,
            "singular_u": u,
            "singular_values": s,
            "singular_vh": vh,
        }
        padding = 0
    return TransferFunction(
        mode=config.mode,
        zyx_shape=(n_z, n_y, n_x),
        yx_pixel_size_um=float(yx_pixel_size_um),
        z_step_um=float(z_step_um),
        z_padding_slices=padding,
        arrays={name: tensor.detach().contiguous() for name, tensor in arrays.items()},
    )


def save_transfer_function(
    transfer_function: TransferFunction, path: str | Path, provenance: Provenance
) -> None:
    """Write the arrays and attributes as a zarr store (atomically), provenance in its root attrs."""
    with atomic_output(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)  # root zarr.json
        for name, tensor in transfer_function.arrays.items():
            values = tensor.numpy()
            array = group.create_array(name, shape=values.shape, dtype=values.dtype, chunks=values.shape)
            array[...] = values
        group.attrs.update(transfer_function.attributes())
        write_zarr_provenance(tmp, provenance)


def load_transfer_function(path: str | Path) -> tuple[TransferFunction, Provenance]:
    """Read a ``phase_transfer_function`` store written by :func:`compute_transfer_function`."""
    provenance = read_zarr_provenance(path, ArtifactKind.PHASE_TRANSFER_FUNCTION)
    group = zarr.open_group(str(path), mode="r")
    attrs: dict[str, Any] = dict(group.attrs)
    mode = attrs.get("mode")
    if mode not in ARRAY_NAMES:
        raise ArtifactError(
            f"{path}: attribute 'mode' is {mode!r}, expected one of {sorted(ARRAY_NAMES)}; "
            "rerun it with `snakemake --forcerun phase_transfer_function`"
        )
    missing = [name for name in ARRAY_NAMES[mode] if name not in group]
    if missing:
        raise ArtifactError(
            f"{path}: {mode} transfer function lacks arrays {missing}; "
            "rerun it with `snakemake --forcerun phase_transfer_function`"
        )
    arrays = {}
    for name in ARRAY_NAMES[mode]:
        array = group[name]
        if not isinstance(array, zarr.Array):
            raise ArtifactError(
                f"{path}: '{name}' is not an array; rerun `snakemake --forcerun phase_transfer_function`"
            )
        arrays[name] = torch.from_numpy(np.asarray(array[...]))
    n_z, n_y, n_x = (int(n) for n in attrs["zyx_shape"])
    transfer_function = TransferFunction(
        mode=cast(Literal["3d", "2d"], mode),
        zyx_shape=(n_z, n_y, n_x),
        yx_pixel_size_um=float(attrs["yx_pixel_size_um"]),
        z_step_um=float(attrs["z_step_um"]),
        z_padding_slices=int(attrs["z_padding_slices"]),
        arrays=arrays,
    )
    if mode == "3d":
        try:
            transfer_function.sign_check_function()
        except ValueError as err:
            raise ArtifactError(
                f"{path}: {err}; rerun it with `snakemake --forcerun phase_transfer_function`"
            ) from err
    return transfer_function, provenance


def compute_transfer_function(
    config: PhaseConfig, inputs: PhaseTransferFunctionInputs, outputs: PhaseTransferFunctionOutputs
) -> TransferFunction:
    """Compute the dataset's transfer function from the optics and the first position's shape.

    Pixel sizes come from the plate metadata of ``inputs.plate`` (array ``0``'s, as
    ``read_plate_layout`` reads them for the phase plate) unless the config overrides them. Writes
    ``outputs.transfer_function``, a zarr store with the arrays of
    :data:`ARRAY_NAMES` and the attributes ``mode``, ``zyx_shape``, ``yx_pixel_size_um``,
    ``z_step_um``, ``z_padding_slices`` (provenance kind ``phase_transfer_function``), and returns it.
    """
    raw_plate_path = inputs.plate
    raw_provenance = read_raw_plate_provenance(raw_plate_path)
    _, _, n_z, n_y, n_x = first_position_shape(raw_plate_path, config)
    if config.mode == "3d" and config.z_padding_slices >= n_z:
        raise ValueError(
            f"phase.z_padding_slices = {config.z_padding_slices} must be smaller than the number of "
            f"slices ({n_z}) of {raw_plate_path}; lower it"
        )
    geometry = effective_geometry(raw_plate_path, config)
    logger.info(
        "computing the %s transfer function for ZYX %s, pixel %.4g µm, z step %.4g µm",
        config.mode,
        (n_z, n_y, n_x),
        geometry.pixel_size_um,
        geometry.z_step_um,
    )
    transfer_function = calculate_transfer_function(
        (n_z, n_y, n_x), geometry.pixel_size_um, geometry.z_step_um, config
    )
    provenance = make_provenance(
        ArtifactKind.PHASE_TRANSFER_FUNCTION,
        config.model_dump(mode="json"),
        inputs=[(raw_plate_path, raw_provenance)],
    )
    save_transfer_function(transfer_function, outputs.transfer_function, provenance)
    return transfer_function
