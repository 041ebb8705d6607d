"""Phase reconstruction of one FOV with the dataset's shared transfer function.

Per-FOV pattern: :func:`create_phase_plate` (rule ``phase_plate``) creates the output plate with
every position (one dataset-level job), then one :func:`reconstruct_fov` job (rule
``reconstruct_phase``) per FOV fills its own position, one time point at a time, and records its
completion.

Missing brightfield voxels (NaN, ±inf) follow :mod:`dynaclr.numerics.missing`: a stack mostly
missing is a dropped frame (not reconstructed, written as NaN); below that, the missing voxels take
the stack's median brightfield before normalisation (their modulation is 0); a FOV mostly missing
fails. A stack without brightfield intensity (a shutter that did not open:
:class:`NoBrightfieldIntensityError`) is dropped the same way, and so is a constant stack (every voxel
one value once filled, above the dark level: a blank frame an exporter wrote, every voxel saturated;
:func:`~dynaclr.numerics.repeats.is_constant`), which has no modulation and would be written as a phase
of exactly 0; a FOV whose frames are mostly dropped with at least one of them without intensity
(background-subtracted data: every frame) is refused. Stack sums are taken in float64, so a finite
stack of any scale (a uniformly scaled float export) reconstructs as its unscaled counts do; a voxel at
float32's largest value (a clipped or no-data value) or, in a float64 plate, beyond float32's range is
refused naming the frame (:func:`normalise_brightfield`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import scipy.fft
import torch
from tqdm.auto import tqdm
from waveorder import util
from waveorder.models import isotropic_thin_3d
from waveorder.reconstruct import tikhonov_regularized_inverse_filter

from dynaclr.config.phase import INTEGER_OFFSET_ADVICE, PhaseConfig
from dynaclr.io import (
    ArtifactError,
    ArtifactKind,
    Provenance,
    StageFiles,
    config_hash,
    make_provenance,
    read_zarr_provenance,
)
from dynaclr.io.chunks import read_block
from dynaclr.io.display import write_display_metadata
from dynaclr.io.plate import (
    PlateGeometry,
    check_plate_axes,
    create_empty_plate,
    open_plate_position,
    position_geometry,
    read_plate_layout,
    write_fov_record,
)
from dynaclr.io.provenance import recorded_input
from dynaclr.numerics.missing import (
    BRIGHTFIELD_VOXELS_READ_KEY,
    DROP_FRAME_SHARE,
    FAIL_FOV_SHARE,
    FILLED_PADDING_KEY,
    MissingDataError,
    MissingTally,
    frame_is_dropped,
    missing_mask,
)
from dynaclr.numerics.repeats import (
    CONSTANT_FRAMES_KEY,
    CONSTANT_SLICES_KEY,
    RepeatedFrames,
    is_constant,
    warn_constant,
    warn_repeated,
)
from dynaclr.numerics.saturation import MAX_SATURATED_SHARE, saturated_frame
from dynaclr.phase.transfer_function import (
    TransferFunction,
    central_slice,
    first_position_shape,
    load_transfer_function,
    read_raw_plate_provenance,
    sign_check_crop,
)

logger = logging.getLogger(__name__)

#: Channel of the phase plate (in both modes; in 2d mode its Z axis has length 1).
PHASE_CHANNEL = "Phase3D"

#: What the stored phase values are: proportional to the phase (3d: Δn × z step / λ_medium per
#: voxel; 2d: the projected phase / 2π) only up to a factor nobody calibrates: the brightfield's
#: contrast scale (the simulator's is not the physical one) and the regularised inverse, which
#: shrinks each spatial frequency by its own amount. Hence arbitrary units; nothing downstream
#: depends on the scale (the evaluation correlates, virtual staining z-scores per FOV).
PHASE_UNITS = {
    "3d": "a.u. (phase density, proportional to Δn × z step / λ_medium up to an uncalibrated factor)",
    "2d": "a.u. (projected phase, proportional to phase / 2π up to an uncalibrated factor)",
}


#: Largest share of a brightfield stack's voxels that may lie at or below 0 counts once the camera
#: offset is subtracted: pixels without light (a vignetted corner, a well edge, an opaque region) sit
#: at the dark level, about half of them at or below 0, so a dark area of up to half the field is
#: allowed; more means the stack is no brightfield intensity: a frame without light (a shutter that
#: did not open: all of it), background-subtracted data (about half the voxels, and the other
#: half near 0) or an offset above the dark level.
MAX_NON_POSITIVE_SHARE = 0.25

#: Percentile of a stack's counts taken as its darkest voxels: with the offset at the camera's dark
#: level they lie at about the offset (read noise below it); below half the offset, the offset lies
#: above the dark level (an offset already subtracted, 8-bit data) or the stack holds fill values.
#: The voxels at the pixel type's minimum below the offset (0 for unsigned integers; exactly 0.0 for
#: floats: a stitched plate's zero padding, dead pixels) are not the dark level: they are filled
#: before (:func:`fill_unmeasured_brightfield`) and never reach this check.
DARKEST_PERCENTILE = 0.1

#: Median, over a FOV's reconstructed frames, of the skewness of the projected phase
#: (:class:`SignCheck`) below which the FOV's phase is taken for sign-inverted: cells darker than the
#: medium, as a stack whose z axis points the other way (reversed z order, or the opposite defocus
#: sign convention) gives. Cells are optically denser than the medium, so a field of cells has a long
#: tail of positive phase. Measured on simulated FOVs (docs/reliability.md), FOV medians as acquired
#: and z-reversed: the tiny test plate (20 FOVs, 5 x 96 x 96, 8 frames) +1.23 to +2.30 and -1.23 to
#: -2.30; one cell per FOV (20 FOVs) +2.29 to +6.80 and -2.29 to -6.80; the demo's optics and size
#: simulated with 6 frames (4 FOVs, 10 x 256 x 256) +2.51 to +2.67 and -2.41 to -2.56; 512 x 512
#: FOVs (crop) +1.73, +2.28 and -1.67, -2.22. Frames without cells (shot noise and uneven
#: illumination, 50 FOVs; uniform random counts, 60 stacks): -0.75 to +0.78 per frame, FOV medians
#: -0.40 to +0.40.
INVERTED_SIGN_SKEWNESS = -1.0

#: Most of a FOV's reconstructed frames that :class:`SignCheck` evaluates (:func:`sign_check_frames`):
#: the statistic is their median, and in mode 3d every frame costs a thin-phase reconstruction of the crop
#: (0.13 s at 10 x 256 x 256 px beside 0.76 s for the 3d frame, docs/benchmarks.md).
SIGN_CHECK_FRAMES = 8


def pixel_type_minimum(dtype: Any) -> float | None:
    """The smallest value of the integer pixel type ``dtype`` (0 for unsigned integers), ``None`` for
    floats (no such value: a float plate writes missing voxels as NaN)."""
    pixel_type = np.dtype(dtype)
    if pixel_type.kind not in "ui":
        return None
    return float(np.iinfo(pixel_type).min)


def _at_minimum(floor: float, dtype: Any) -> str:
    """What the voxels at ``floor`` (:func:`padding_value`) of pixel type ``dtype`` are at."""
    pixel_type = np.dtype(dtype)
    if pixel_type_minimum(pixel_type) is None:
        return f"exactly {floor:g}, the {pixel_type.name} pixels' padding value"
    if floor != pixel_type_minimum(pixel_type):  # signed integers under an offset at or below 0
        return f"{floor:g}, the {pixel_type.name} pixels' padding value"
    return f"{floor:g}, the {pixel_type.name} pixels' minimum"


def check_offset_fits_pixel_type(dtype: Any, config: PhaseConfig, where: str) -> None:
    """Refuse a ``phase.camera_offset_counts`` above :data:`MAX_OFFSET_FULL_SCALE_SHARE` of the full
    scale of the integer pixel type ``dtype`` (floats have no full scale: the per-stack check of
    :func:`normalise_brightfield` alone applies), naming ``where``, the key, the limit and the value.
    The dry run makes the same check on each raw plate's pixel types
    (:meth:`~dynaclr.config.phase.PhaseConfig.offset_pixel_type_problem`)."""
    problem = config.offset_pixel_type_problem(dtype)
    if problem:
        raise ValueError(f"{where}: {problem}")


def _check_offset_below_darkest_voxels(counts: np.ndarray, offset: float, pixel_type: np.dtype) -> None:
    """Refuse a stack whose darkest voxels (:data:`DARKEST_PERCENTILE`) lie below half ``offset``,
    with advice for the pixel type: NaN for voxels without data where a float plate can hold it."""
    if offset <= 0 or float(counts.min()) >= offset / 2:
        return
    darkest = float(np.percentile(counts, DARKEST_PERCENTILE))
    if darkest >= offset / 2:
        return
    if pixel_type_minimum(pixel_type) is None:
        advice = (
            "Set phase.camera_offset_counts to the camera's dark level (0 where the offset was "
            "subtracted already, e.g. 8-bit or background-corrected exports); voxels that stand for no "
            "data must be written as NaN or exactly 0 (a stitching gap's padding), which phase fills"
        )
    else:
        advice = INTEGER_OFFSET_ADVICE[0].upper() + INTEGER_OFFSET_ADVICE[1:]
    raise ValueError(
        f"brightfield stack: its darkest {DARKEST_PERCENTILE:g}% of voxels are at or below {darkest:.6g} "
        f"counts, less than half of phase.camera_offset_counts = {offset:g}; expected the offset at or "
        f"below the camera's dark level (no voxel far below it). {advice}"
    )


class NoBrightfieldIntensityError(ValueError):
    """A brightfield stack has no brightfield intensity: more than :data:`MAX_NON_POSITIVE_SHARE` of
    its voxels (or its mean) at or below 0 counts after the camera offset.

    ``found`` states the share, the mean and the range of the counts (the message without the fix).
    """

    def __init__(self, message: str, found: str) -> None:
        super().__init__(message)
        self.found = found


def normalise_brightfield(zyx_counts: np.ndarray, config: PhaseConfig) -> torch.Tensor:
    """Camera counts ``(Z, Y, X)`` → float32 intensity with the offset removed and a flat field.

    With ``flat_field='z_mean'`` every slice is divided by the stack's per-pixel mean over z, so
    the result is ~1 everywhere and uneven illumination (constant along z) cancels out. The stack
    must be finite (:func:`fill_unmeasured_brightfield` fills missing voxels first) and positive after
    the offset (at most :data:`MAX_NON_POSITIVE_SHARE` of its voxels at or below 0), else a
    :class:`NoBrightfieldIntensityError` says what was found; its darkest voxels
    (:data:`DARKEST_PERCENTILE`) must not lie below half the offset (an offset above the camera's dark
    level; voxels at their type's minimum, exactly 0.0 on floats, are filled first:
    :func:`fill_unmeasured_brightfield`),
    else a ``ValueError`` names ``phase.camera_offset_counts``.
    """
    values = np.asarray(zyx_counts)
    pixel_type = values.dtype
    n_missing = int((~np.isfinite(values)).sum()) if pixel_type.kind == "f" else 0
    if n_missing:
        raise MissingDataError(
            f"brightfield stack holds {n_missing} missing voxel(s) (NaN or inf) of {values.size}; fill "
            "them first (fill_unmeasured_brightfield, as reconstruct_stack does)"
        )
    _check_float32_range(values)
    counts = values.astype(np.float32, copy=False)
    data = counts - np.float32(config.camera_offset_counts)
    # sums in float64: float32's overflow for a finite stack of large values (a scaled export), and
    # the phase does not depend on the counts' scale
    mean = float(data.mean(dtype=np.float64))
    non_positive = float(np.count_nonzero(data <= 0)) / data.size
    if not mean > 0 or non_positive > MAX_NON_POSITIVE_SHARE:
        found = (
            f"{100.0 * non_positive:.1f}% of its voxels are at or below 0 counts "
            f"(at most {100.0 * MAX_NON_POSITIVE_SHARE:g}% may be) and its mean is {mean:.4g} counts "
            f"after subtracting phase.camera_offset_counts = {config.camera_offset_counts} (its counts "
            f"range from {float(counts.min()):.6g} to {float(counts.max()):.6g})"
        )
        raise NoBrightfieldIntensityError(
            f"brightfield stack: {found}; phase needs brightfield intensities above the camera's dark "
            "level, not a frame without light or background-subtracted data: set "
            "phase.camera_offset_counts below the camera's dark level, or check that "
            "phase.brightfield_channel names a brightfield channel",
            found,
        )
    _check_offset_below_darkest_voxels(counts, float(config.camera_offset_counts), pixel_type)
    if config.flat_field == "z_mean":
        z_mean = np.maximum(data.mean(axis=0, dtype=np.float64, keepdims=True), 1e-3 * mean)
        data = np.divide(data, z_mean.astype(np.float32), dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))


def _check_float32_range(values: np.ndarray) -> None:
    """Refuse finite voxels that float32 cannot hold (a float64 export beyond about 3.4e38: the phase
    is computed in float32) and voxels at float32's largest magnitude (a clipped or no-data value
    written as float32's limit, not a count), naming how many and the largest."""
    if values.dtype.kind != "f" or values.dtype.itemsize < 4:
        return
    limit = float(np.finfo(np.float32).max)
    largest = max(abs(float(values.max())), abs(float(values.min()))) if values.size else 0.0
    if largest < limit:
        return
    magnitude = np.abs(values)
    beyond = int(np.count_nonzero(magnitude > limit))
    if beyond:
        raise ValueError(
            f"brightfield stack: expected counts within float32's range (|value| <= {limit:.4g}), found "
            f"{beyond} voxel(s) of {values.size} beyond it, the largest {largest:.4g}: phase is computed in "
            "float32; rescale the export (divide every count by one constant: the phase does not depend "
            "on the counts' scale) or correct it"
        )
    at_limit = int(np.count_nonzero(magnitude == limit))
    raise ValueError(
        f"brightfield stack: expected counts, found {at_limit} voxel(s) of {values.size} at float32's "
        f"largest value ({limit:.4g}): a clipped or no-data value, not a measured intensity; write such "
        "voxels as NaN (missing: filled and counted) or correct the export"
    )


#: ADMM penalty of the non-negative inverse, relative to the maximum of |transfer function|².
#: Any positive value converges to the same solution; this one does so in about 20 iterations.
ADMM_PENALTY_RELATIVE = 2e-3


def pad_modulation_along_z(zyx_modulation: torch.Tensor, padding: int, fill: str) -> torch.Tensor:
    """``(Z, Y, X)`` → ``(Z + 2 padding, Y, X)``, padded with zeros (``fill='background'``) or with
    the stack reflected (``fill='mirror'``)."""
    if padding == 0:
        return zyx_modulation
    if fill == "mirror":
        return util.pad_zyx_along_z(zyx_modulation, padding)
    return torch.nn.functional.pad(zyx_modulation, (0, 0, 0, 0, padding, padding))


def _real_half_spectrum(transfer_function: torch.Tensor) -> torch.Tensor:
    """The half spectrum (last axis ``0 … X // 2``) of the Hermitian part of ``transfer_function``.

    For a real volume ``v``, ``real(ifftn(H · fftn(v)))`` equals ``irfftn(half · rfftn(v))``:
    only the Hermitian part ``(H(k) + conj(H(-k))) / 2`` acts on real data.
    """
    axes = (-3, -2, -1)
    reversed_frequencies = torch.roll(torch.flip(transfer_function, dims=axes), shifts=(1, 1, 1), dims=axes)
    hermitian = (transfer_function + torch.conj(reversed_frequencies)) / 2
    return hermitian[..., : transfer_function.shape[-1] // 2 + 1]


def non_negative_tikhonov(
    padded_modulation: torch.Tensor,
    transfer_function: torch.Tensor,
    regularization_strength: float,
    iterations: int,
) -> torch.Tensor:
    """Minimise ``|H o - m|² + λ |o|²`` subject to ``o >= 0`` on the periodic padded grid (ADMM).

    ``H`` multiplies by ``transfer_function`` in 3D Fourier space (and keeps the real part), ``m``
    is ``padded_modulation`` and ``λ`` the regularisation. Scaled ADMM with the split ``o = z``,
    ``z >= 0`` and penalty ``ρ = ADMM_PENALTY_RELATIVE · max |H|²``: each iteration solves the
    Tikhonov problem pulled towards ``z - u`` (diagonal in Fourier space: one real FFT pair),
    projects onto ``z >= 0`` and updates the scaled dual ``u``. Returns ``z`` (non-negative).

    The real FFTs run in SciPy (``workers`` = torch's thread count): torch's CPU ``irfftn`` of 3-D
    volumes intermittently corrupts the heap (pytorch issue 125664; seen here as ``free():
    corrupted unsorted chunks`` aborting one job in a few).
    """
    shape = tuple(padded_modulation.shape)
    workers = max(1, torch.get_num_threads())
    half = _real_half_spectrum(transfer_function).numpy()
    squared = half.real**2 + half.imag**2
    rho = ADMM_PENALTY_RELATIVE * float(squared.max())
    modulation = padded_modulation.numpy()
    data_term = np.conj(half) * scipy.fft.rfftn(modulation, workers=workers)
    denominator = squared + (regularization_strength + rho)
    z = np.zeros_like(modulation)
    u = np.zeros_like(modulation)
    for _ in range(iterations):
        spectrum = (data_term + rho * scipy.fft.rfftn(z - u, workers=workers)) / denominator
        o = scipy.fft.irfftn(spectrum, s=shape, workers=workers).astype(modulation.dtype, copy=False)
        z = np.maximum(o + u, 0.0)
        u += o - z
    return torch.from_numpy(z)


def invert_brightfield(
    zyx_intensity: torch.Tensor, transfer_function: TransferFunction, config: PhaseConfig
) -> np.ndarray:
    """Regularised inverse of the weak-object model.

    ``zyx_intensity`` is ``(Z, Y, X)`` (any positive scale: each model normalises it to a
    modulation around its mean). 3d: the modulation is padded along z (``config.z_padding_fill``)
    and inverted with the Tikhonov filter, or, with ``config.non_negativity_iterations`` > 0,
    with the non-negative Tikhonov solver :func:`non_negative_tikhonov`; returns float32
    ``(Z, Y, X)`` phase density, 2d: waveorder's thin-phase inverse; returns ``(1, Y, X)``
    projected phase; both in arbitrary units (:data:`PHASE_UNITS`).
    """
    arrays = transfer_function.arrays
    # the stack at a mean of 1 (its mean taken in float64): each model's own float32 mean of counts
    # near float32's limit overflows (flat_field 'none'), and the phase does not depend on the scale
    scale = float(zyx_intensity.numpy().mean(dtype=np.float64))
    if math.isfinite(scale) and scale > 0:
        zyx_intensity = zyx_intensity / scale
    if transfer_function.mode == "3d":
        padding = transfer_function.z_padding_slices
        n_z = zyx_intensity.shape[0]
        modulation = pad_modulation_along_z(
            util.inten_normalization_3D(zyx_intensity), padding, config.z_padding_fill
        )
        real_tf = arrays["real_potential_transfer_function"]
        if config.non_negativity_iterations > 0:
            padded_phase = non_negative_tikhonov(
                modulation, real_tf, config.regularization_strength, config.non_negativity_iterations
            )
        else:
            inverse = tikhonov_regularized_inverse_filter(real_tf, config.regularization_strength)
            padded_phase = torch.real(torch.fft.ifftn(torch.fft.fftn(modulation) * inverse))
        phase = padded_phase[padding : padding + n_z]
    else:
        singular_system = (arrays["singular_u"], arrays["singular_values"], arrays["singular_vh"])
        _, phase = isotropic_thin_3d.apply_inverse_transfer_function(
            zyx_intensity, singular_system, regularization_strength=config.regularization_strength
        )
        phase = phase[None]
    return phase.numpy().astype(np.float32, copy=False)


def sample_skewness(values: np.ndarray) -> float:
    """The sample skewness (third standardised moment) of ``values``; NaN for constant values."""
    centred = np.asarray(values, dtype=np.float64).ravel()
    centred = centred - centred.mean()
    variance = float(np.mean(centred**2))
    if not variance > 0:
        return math.nan
    return float(np.mean(centred**3)) / variance**1.5


def sign_check_frames(n_frames: int) -> list[int]:
    """The time points, at most :data:`SIGN_CHECK_FRAMES` spread evenly from the first to the last of
    ``n_frames``, at which :class:`SignCheck` is due; a due frame that is dropped passes its turn to the
    next reconstructed one (:func:`reconstruct_frames`)."""
    if n_frames <= SIGN_CHECK_FRAMES:
        return list(range(n_frames))
    return [int(t) for t in np.linspace(0, n_frames - 1, SIGN_CHECK_FRAMES).round()]


@dataclass
class SignCheck:
    """Whether a FOV's phase has the sign of cells (positive), from the brightfield it is made of.

    The central crop (at most :data:`~dynaclr.phase.transfer_function.SIGN_CHECK_CROP_PX` square) of at most
    :data:`SIGN_CHECK_FRAMES` stacks (:func:`sign_check_frames`) is reconstructed with the
    thin-phase model (mode ``"2d"`` of the same optics, ``phase.invert_phase_contrast`` and
    ``phase.focus_offset_slices`` included; in mode ``"2d"`` that is the phase already
    reconstructed, whose crop is read), whose projected phase has the sign of the defocus
    convention: the skewness of that image is positive for cells in the medium and changes sign,
    exactly for an odd number of slices, when the stack's z order is reversed. The 3d output itself
    cannot say it: its non-negativity constraint keeps it positive either way (skewness +1.9 to
    +4.7 as acquired, +1.9 to +3.3 reversed, on the tiny plate), while the reversed phase is not the
    cells' (Pearson r with the true phase -0.05 to +0.10, against 0.61 to 0.74 as acquired, 10 FOVs).
    """

    transfer_function: TransferFunction | None
    config: PhaseConfig
    rows: slice
    columns: slice

    @classmethod
    def build(cls, transfer_function: TransferFunction, config: PhaseConfig) -> SignCheck:
        """The check for stacks of ``transfer_function``'s shape and sampling, under ``config``. In mode
        ``"3d"`` the thin-phase transfer function of the crop is the one rule ``phase_transfer_function``
        computed and stored with the plate's (:meth:`TransferFunction.sign_check_function`; the crop
        is the central one of its size): no FOV job computes it. In mode ``"2d"`` the phase
        reconstructed is the projected phase already: no second transfer function
        (``transfer_function`` None), :meth:`skewness` reads the crop of that phase."""
        _, n_y, n_x = transfer_function.zyx_shape
        if transfer_function.mode == "2d":
            return cls(None, config, *sign_check_crop(n_y, n_x))
        thin_function = transfer_function.sign_check_function()  # computed once per plate, stored
        _, crop_y, crop_x = thin_function.zyx_shape
        thin = config.model_copy(update={"mode": "2d"})
        return cls(thin_function, thin, central_slice(n_y, crop_y), central_slice(n_x, crop_x))

    def skewness(self, filled_counts: np.ndarray, phase: np.ndarray) -> float:
        """Skewness of the projected phase of the central crop of a reconstructed stack: in mode
        ``"2d"`` the crop of its ``phase`` ``(1, Y, X)``; in mode ``"3d"`` the thin-phase reconstruction
        of the crop of ``filled_counts``, the stack as :func:`fill_unmeasured_brightfield` filled it for
        the whole stack (its missing voxels and padding, within the drop limit of the stack, may be
        most of the crop); NaN where the crop cannot be reconstructed (no brightfield intensity there)
        or is constant."""
        if self.transfer_function is None:
            return sample_skewness(phase[:, self.rows, self.columns])
        crop = np.ascontiguousarray(filled_counts[:, self.rows, self.columns])
        try:
            projected = reconstruct_filled_stack(crop, self.transfer_function, self.config)
        except (ValueError, MissingDataError):
            return math.nan
        return sample_skewness(projected)


def padding_value(dtype: Any, offset: float) -> float:
    """The value a stitched plate of pixel type ``dtype`` pads with under the camera offset ``offset``:
    the integer type's minimum (0 on unsigned integers), 0.0 on floats; on signed integers under an
    offset at or below 0, 0 (the offset was subtracted at export and the type keeps the negative read
    noise: the stitcher's zero padding is 0, not the type's minimum, which no such export writes)."""
    floor = pixel_type_minimum(dtype)
    if floor is None:
        return 0.0
    if floor < 0 and offset <= 0:
        return 0.0
    return floor


def padding_mask(zyx_counts: np.ndarray, offset: float) -> np.ndarray:
    """The voxels of the stack ``zyx_counts`` ``(Z, Y, X)`` that are no measurement under the camera
    offset ``offset``: those at :func:`padding_value` where it lies below the offset (the counts lie
    about the dark level, the offset: a stitched plate's zero padding, dead pixels; only that one
    value: other voxels below half the offset still refuse it, :func:`_check_offset_below_darkest_voxels`),
    and under an offset at or below it (0 on unsigned and signed integers and floats: the offset was
    subtracted at export, and a dark voxel at 0 is a measurement) the ``(y, x)`` positions at it in
    every z slice. Brightfield is transmitted light: noise puts a lit voxel at 0 in one slice or
    another, hardly ever in all of them (5 slices, read noise 2 counts: 2 of 1.6 million positions at a
    mean of 5 counts, none at 10 counts and more; ``benchmarks/phase_zero_padding.py``), while padding
    and dead pixels are 0 through the stack. No connected extent is asked for: dead pixels are single
    positions. Positions without light (a vignetted border) are 0 through the stack by chance (8 % of
    them there), or all of them where the subtracted offset lay above the dark level: filled too, they
    carry no phase either (the phase of the lit field moves towards that with the border written as
    NaN)."""
    floor = padding_value(zyx_counts.dtype, offset)
    at_floor = zyx_counts == floor
    if floor < offset:
        return at_floor
    return np.broadcast_to(at_floor.all(axis=0), at_floor.shape)


def _padding_found(dtype: Any, offset: float) -> str:
    """Where :func:`padding_mask`'s voxels of pixel type ``dtype`` are under the offset ``offset``."""
    floor = padding_value(dtype, offset)
    where = f"are at {_at_minimum(floor, dtype)}"
    if floor < offset:
        return f"{where}, below phase.camera_offset_counts = {offset:g}"
    return f"{where}, in every z slice of their stack (phase.camera_offset_counts = {offset:g})"


def fill_unmeasured_brightfield(zyx_counts: np.ndarray, offset: float) -> np.ndarray:
    """The stack with its voxels that are no measurement set to the median of the others: the missing
    ones (NaN, ±inf) and those of :func:`padding_mask` under the camera offset ``offset`` (0 counts
    on unsigned integers and exactly 0.0 on floats: under a positive offset every such voxel, under an
    offset of 0 the positions at it in every z slice; a stitched plate's zero padding, dead pixels).
    One mask, so the median stands for the measured voxels only ("no phase": after normalisation the
    modulation there is about 0) and the drop limit applies to what is not measured, whatever its kind
    (a stack 31 % NaN and 31 % padding holds 38 % measured voxels). Left as they are, a column of zero
    padding turns the whole phase into ringing (correlation -0.1 with the phase without it, 200 times
    its spread, measured). Returns the input unchanged where there is none.

    Raises:
        MissingDataError: more than :data:`~dynaclr.numerics.missing.DROP_FRAME_SHARE` of the stack
            is missing, with no padding (:func:`reconstruct_frames` drops such a frame before).
        NoBrightfieldIntensityError: more than that share is padding, or missing and padding together
            (a frame of padding: dropped by :func:`reconstruct_frames`), naming each share.
    """
    missing = missing_mask(zyx_counts)
    padding = padding_mask(zyx_counts, offset)
    mask = padding if missing is None else padding | missing
    n_unmeasured = int(np.count_nonzero(mask))
    if not n_unmeasured:
        return zyx_counts
    n_padding = int(np.count_nonzero(padding))
    if frame_is_dropped(n_unmeasured, mask.size):
        missing_share = 100.0 * (n_unmeasured - n_padding) / mask.size
        if not n_padding:
            raise MissingDataError(
                f"brightfield stack: {missing_share:.1f}% of its voxels are missing (NaN or inf), more "
                f"than the {100.0 * DROP_FRAME_SHARE:.0f}% a stack may miss; it cannot be reconstructed"
            )
        padding_share, unmeasured_share = 100.0 * n_padding / mask.size, 100.0 * n_unmeasured / mask.size
        found = f"{padding_share:.1f}% of its voxels {_padding_found(zyx_counts.dtype, offset)}"
        if n_padding < n_unmeasured:
            found += f" and {missing_share:.1f}% are missing (NaN or inf): {unmeasured_share:.1f}% unmeasured"
        found += f" (more than the {100.0 * DROP_FRAME_SHARE:.0f}% a stack may hold)"
        raise NoBrightfieldIntensityError(
            f"brightfield stack: {found}; phase needs brightfield intensities above the camera's dark level",
            found,
        )
    median = np.median(zyx_counts[~mask])
    filled = zyx_counts.copy()
    filled[mask] = median if pixel_type_minimum(zyx_counts.dtype) is None else np.rint(median)
    return filled


def reconstruct_stack(
    zyx_counts: np.ndarray, transfer_function: TransferFunction, config: PhaseConfig
) -> np.ndarray:
    """Phase of one brightfield stack ``(Z, Y, X)`` counts → float32 ``(Z, Y, X)`` (3d) or ``(1, Y, X)``.

    Missing voxels and padding (voxels at their type's minimum, 0.0 on floats, below the offset) are
    filled first (:func:`fill_unmeasured_brightfield`), so the phase is finite.
    """
    _check_stack_shape(zyx_counts, transfer_function)
    filled = fill_unmeasured_brightfield(zyx_counts, config.camera_offset_counts)
    return reconstruct_filled_stack(filled, transfer_function, config)


def reconstruct_filled_stack(
    filled_counts: np.ndarray, transfer_function: TransferFunction, config: PhaseConfig
) -> np.ndarray:
    """:func:`reconstruct_stack` of a stack :func:`fill_unmeasured_brightfield` has filled already (or a
    crop of one: :class:`SignCheck`), not filled again; a missing voxel left is a ``MissingDataError``."""
    _check_stack_shape(filled_counts, transfer_function)
    return invert_brightfield(normalise_brightfield(filled_counts, config), transfer_function, config)


def _check_stack_shape(zyx_counts: np.ndarray, transfer_function: TransferFunction) -> None:
    if tuple(zyx_counts.shape) != transfer_function.zyx_shape:
        raise ValueError(
            f"stack shape {tuple(zyx_counts.shape)} differs from the transfer function's "
            f"{transfer_function.zyx_shape}"
        )


def phase_plate_shape(raw_plate_path: str | Path, config: PhaseConfig) -> tuple[int, int, int, int, int]:
    """TCZYX shape of every position of the phase plate: ``(T, 1, Z, Y, X)``, ``Z = 1`` in 2d mode."""
    n_t, _, n_z, n_y, n_x = first_position_shape(raw_plate_path, config)
    return (n_t, 1, n_z if config.mode == "3d" else 1, n_y, n_x)


class PhasePlateInputs(StageFiles):
    """Rule ``phase_plate``: the raw plate whose positions and geometry the phase plate takes."""

    plate: Path


class PhasePlateOutputs(StageFiles):
    """Rule ``phase_plate``: the empty phase plate the per-FOV jobs fill."""

    phase_plate: Path


class ReconstructPhaseInputs(StageFiles):
    """Rule ``reconstruct_phase``: the raw plate, the dataset's transfer function and the phase plate
    whose position of this FOV the job fills."""

    plate: Path
    transfer_function: Path
    phase_plate: Path


class ReconstructPhaseOutputs(StageFiles):
    """Rule ``reconstruct_phase``: this FOV's completion record."""

    record: Path


def create_phase_plate(
    config: PhaseConfig,
    inputs: PhasePlateInputs,
    outputs: PhasePlateOutputs,
    supplied: Mapping[str, float] | None = None,
) -> None:
    """Create the empty phase plate: channel ``Phase3D``, float32, the raw plate's positions.

    Time interval and pixel sizes are carried over (with the config's overrides): the raw plate's
    (its ``time_interval_minutes`` attribute where it has one), else the values ``supplied`` (the
    dataset's ``acquisition``, for a raw plate whose metadata states none; recorded in the plate
    attribute ``supplied_sampling``). Chunks are one time point ``(1, 1, Z, Y, X)``. Provenance kind
    ``phase_plate``.
    """
    raw_plate_path, phase_plate_path = inputs.plate, outputs.phase_plate
    check_plate_axes(raw_plate_path)
    raw_provenance = read_raw_plate_provenance(raw_plate_path)
    layout = read_plate_layout(raw_plate_path, supplied)  # array 0's sampling, as the transfer function's
    shape = phase_plate_shape(raw_plate_path, config)
    provenance = make_provenance(
        ArtifactKind.PHASE_PLATE, config.model_dump(mode="json"), inputs=[(raw_plate_path, raw_provenance)]
    )
    create_empty_plate(
        phase_plate_path,
        fov_names=list(layout.fov_names),
        channel_names=[PHASE_CHANNEL],
        shape_tczyx=shape,
        dtype=np.float32,
        geometry=config.effective_geometry(layout.geometry),
        provenance=provenance,
        attributes={
            "phase_mode": config.mode,
            "phase_units": PHASE_UNITS[config.mode],
            **layout.supplied_attributes(),
        },
    )
    logger.info("created %s: %d positions of shape %s", phase_plate_path, len(layout.fov_names), shape)


def check_same_config(config: PhaseConfig, provenance: Provenance, path: str | Path) -> None:
    """Fail when ``path`` was made with another phase config than ``config``."""
    expected = config_hash(config.model_dump(mode="json"))
    if provenance.config_hash != expected:
        raise ArtifactError(
            f"{path}: made with phase config hash {provenance.config_hash}, but this job's phase config "
            f"has hash {expected}; it is out of date: rerun it with "
            f"`snakemake --forcerun {provenance.stage}`"
        )


def check_stack_geometry(
    inputs: ReconstructPhaseInputs,
    fov_name: str,
    zyx_shape: tuple[int, ...],
    geometry: PlateGeometry,
    transfer_function: TransferFunction,
    config: PhaseConfig,
) -> None:
    """The FOV's stack must have the shape and pixel sizes the transfer function was made for
    (``geometry``: the FOV's, in micrometres, :func:`~dynaclr.io.plate.position_geometry`)."""
    rerun = (
        "All FOVs of a plate must share one stack shape and pixel size. If the raw plate changed, rerun "
        "`snakemake --forcerun phase_transfer_function phase_plate`; if its FOVs genuinely differ, split "
        "them into datasets of one shape each"
    )
    if tuple(zyx_shape) != transfer_function.zyx_shape:
        raise ArtifactError(
            f"{inputs.plate}: FOV {fov_name} has ZYX shape {tuple(zyx_shape)}, but the transfer function "
            f"{inputs.transfer_function} was computed for ZYX shape {transfer_function.zyx_shape} (the "
            f"first position's). {rerun}."
        )
    tf = transfer_function
    sizes = {
        "z step (µm)": (config.z_step_um, geometry.z_step_um, tf.z_step_um),
        "pixel size (µm)": (config.yx_pixel_size_um, geometry.pixel_size_um, tf.yx_pixel_size_um),
    }
    for name, (override, found, expected) in sizes.items():
        if override is None and not math.isclose(found, expected, rel_tol=1e-6):
            raise ArtifactError(
                f"{inputs.plate}: FOV {fov_name} has {name} {found}, but the transfer function "
                f"{inputs.transfer_function} was computed for {expected}. {rerun}."
            )


@dataclass
class ReconstructionTotals:
    """Running totals of one FOV's reconstruction: wall times (s), sums of the phase values of the
    reconstructed frames, the brightfield's missing voxels (:mod:`dynaclr.numerics.missing`) and the
    frames dropped for having no brightfield intensity (``frames_without_intensity``, with the first
    one's error: the FOV's refusal quotes it) and the voxels read that are padding
    (``voxels_at_minimum``: :func:`padding_mask`, at 0 on unsigned integers, exactly 0.0 on floats,
    below the camera offset or, under an offset of 0, in every z slice: a stitched plate's zero
    padding or dead pixels, filled by :func:`fill_unmeasured_brightfield`; ``padding_filled`` those of
    the reconstructed frames, :data:`FILLED_PADDING_KEY`), and the reconstructed
    frames saturated at a camera's full scale (``saturated_frames``: :meth:`count_maximum`; a dropped
    frame is never listed there, it has no phase) with their voxels there (``saturated_voxels``) and
    the full scales (``full_scales``), the frames dropped for a constant stack (``constant_frames``:
    :func:`~dynaclr.numerics.repeats.is_constant` once filled, intensity above the dark level), the
    reconstructed frames holding a constant z slice, each with its slices (``frames_with_constant_slices``;
    the record's :data:`~dynaclr.numerics.repeats.CONSTANT_SLICES_KEY` holds the frame numbers only,
    the WARNING names the first frame's slices), :meth:`SignCheck.skewness`
    (``sign_skewness``) of the
    reconstructed frames it was evaluated on (``sign_frames``: :func:`sign_check_frames`), and the
    reconstructed frames equal voxel for voxel to the frame before (``repeated_frames``: a frame
    written twice, as a camera's noise never repeats)."""

    missing: MissingTally
    n_frames: int = 0
    frames_without_intensity: list[int] = field(default_factory=list)
    first_without_intensity: str = ""
    constant_frames: list[int] = field(default_factory=list)
    frames_with_constant_slices: dict[int, list[int]] = field(default_factory=dict)
    seconds_reading: float = 0.0
    seconds_reconstructing: float = 0.0
    seconds_writing: float = 0.0
    sum_phase: float = 0.0
    sum_squares: float = 0.0
    n_values: int = 0
    voxels_at_minimum: int = 0
    padding_filled: int = 0
    voxels_read: int = 0
    saturated_voxels: int = 0
    saturated_frames: list[int] = field(default_factory=list)
    full_scales: set[float] = field(default_factory=set)
    sign_skewness: list[float] = field(default_factory=list)
    sign_frames: list[int] = field(default_factory=list)
    repeated_frames: list[int] = field(default_factory=list)

    def sign_statistic(self) -> float | None:
        """Median of :meth:`SignCheck.skewness` over the reconstructed frames it was evaluated on
        (``sign_frames``; frames without one left out); ``None`` where no frame has one."""
        finite = [value for value in self.sign_skewness if math.isfinite(value)]
        return float(np.median(finite)) if finite else None

    def sign_inverted(self) -> bool:
        """Whether :meth:`sign_statistic` is below :data:`INVERTED_SIGN_SKEWNESS`."""
        statistic = self.sign_statistic()
        return statistic is not None and statistic < INVERTED_SIGN_SKEWNESS

    def report_sign(self, where: str, config: PhaseConfig) -> None:
        """Log at WARNING, naming ``where``, a FOV whose phase looks sign-inverted (:meth:`sign_inverted`)."""
        if not self.sign_inverted():
            return
        logger.warning(
            "%s: the phase looks sign-inverted (cells darker than the medium): the median skewness of the "
            "projected phase over its frames is %.2f, below %g (a field of cells gives a positive one). "
            "The brightfield z axis points the other way from waveorder's convention (z order reversed, "
            "or the opposite defocus sign): set phase.invert_phase_contrast to %s, or reverse the "
            "stack's z axis (listed as phase_sign_inverted in the FOV's record and the QC table)",
            where,
            self.sign_statistic(),
            INVERTED_SIGN_SKEWNESS,
            str(not config.invert_phase_contrast).lower(),
        )

    def metrics(self, fov_name: str, mode: str, seconds_total: float) -> dict[str, Any]:
        """The per-FOV record's metrics: frame count, wall times, mean and std of the phase, the
        missing voxels and dropped frames of the brightfield (:meth:`MissingTally.metrics`), its
        saturated frames and the sign check (:meth:`sign_statistic`, :meth:`sign_inverted`, the frames it
        was evaluated on)."""
        mean = self.sum_phase / max(self.n_values, 1)
        return {
            "fov_name": fov_name,
            "mode": mode,
            "n_frames": self.n_frames,
            "seconds_total": seconds_total,
            "seconds_reading": self.seconds_reading,
            "seconds_reconstructing": self.seconds_reconstructing,
            "seconds_writing": self.seconds_writing,
            "seconds_per_frame": seconds_total / max(self.n_frames, 1),
            "phase_mean": mean,
            "phase_std": math.sqrt(max(self.sum_squares / max(self.n_values, 1) - mean**2, 0.0)),
            **self.missing.metrics(),
            "dropped_frames": self.dropped_frames(),
            "frames_without_brightfield": list(self.frames_without_intensity),
            CONSTANT_FRAMES_KEY: list(self.constant_frames),
            CONSTANT_SLICES_KEY: list(self.frames_with_constant_slices),
            "voxels_at_pixel_type_minimum": self.voxels_at_minimum,
            FILLED_PADDING_KEY: self.padding_filled,
            BRIGHTFIELD_VOXELS_READ_KEY: self.voxels_read,
            "saturated_voxels": self.saturated_voxels,
            "saturated_frames": list(self.saturated_frames),
            "repeated_frames": list(self.repeated_frames),
            "phase_sign_skewness": self.sign_statistic(),
            "phase_sign_inverted": self.sign_inverted(),
            "phase_sign_frames": list(self.sign_frames),
        }

    def count_maximum(self, t: int, counts: np.ndarray) -> None:
        """Frame ``t`` (reconstructed: :func:`reconstruct_frames` never calls this for a dropped
        frame, whose record lists its drop reason only) is saturated where its stack ``counts``'s
        maximum is a camera's full scale
        (:func:`~dynaclr.numerics.saturation.full_scale_plateau`: 4095 for a 12-bit camera stored
        in uint16, not only the type's 65535) and holds more than
        :data:`~dynaclr.numerics.saturation.MAX_SATURATED_SHARE` of the stack's voxels
        (:func:`~dynaclr.numerics.saturation.saturated_frame`); its voxels there are counted. Missing
        voxels never count; a float plate of counts saturates at the same values."""
        saturated = saturated_frame(counts)
        if saturated is not None:
            top, n_at_maximum = saturated
            self.saturated_voxels += n_at_maximum
            self.saturated_frames.append(int(t))
            self.full_scales.add(top)

    def count_constant_slices(self, t: int, filled_counts: np.ndarray) -> None:
        """List frame ``t`` (reconstructed) where a z slice of its filled stack ``filled_counts`` is
        constant (:data:`~dynaclr.numerics.repeats.CONSTANT_SLICES_KEY`)."""
        slices = [z for z in range(len(filled_counts)) if is_constant(filled_counts[z])]
        if slices:
            self.frames_with_constant_slices[int(t)] = slices

    def report_constant_slices(self, where: str) -> None:
        """Log at WARNING the frames holding a constant z slice (:meth:`count_constant_slices`)."""
        if not self.frames_with_constant_slices:
            return
        frames = list(self.frames_with_constant_slices)
        logger.warning(
            "%s: frame(s) %s hold a constant z slice (z %s of frame %d; every voxel of the slice one value "
            "once filled: a slice the acquisition did not write, or saturated throughout): no brightfield "
            "contrast there, their phase is reduced (listed as %s in the FOV's record and the QC table); "
            "check the acquisition's export",
            where,
            frames[:10],
            self.frames_with_constant_slices[frames[0]],
            frames[0],
            CONSTANT_SLICES_KEY,
        )

    def report_repeats(self, where: str) -> None:
        """Log at WARNING the frames that repeat the frame before them (``repeated_frames``)."""
        if self.repeated_frames:
            warn_repeated(where, self.repeated_frames, "each is reconstructed as a new time point")

    def report_saturation(self, where: str) -> None:
        """Log at WARNING the saturated frames (:meth:`count_maximum`), naming ``where``."""
        if not self.saturated_frames:
            return
        logger.warning(
            "%s: frame(s) %s have more than %g%% of their brightfield voxels at a camera's full scale "
            "%s counts, their maximum (over-exposed; %d voxels in all): their phase is reduced there "
            "(listed as saturated_frames in the FOV's record and the QC table); lower the exposure or "
            "the illumination",
            where,
            self.saturated_frames[:10],
            100.0 * MAX_SATURATED_SHARE,
            " and ".join(f"{value:g}" for value in sorted(self.full_scales)),
            self.saturated_voxels,
        )

    def count_minimum(self, counts: np.ndarray, offset: float) -> int:
        """Count the voxels of the stack ``counts`` that :func:`padding_mask` takes for padding under
        the camera offset ``offset``; returns their number (:attr:`padding_filled` adds it where the
        frame is reconstructed)."""
        self.voxels_read += int(counts.size)
        n_padding = int(np.count_nonzero(padding_mask(counts, offset)))
        self.voxels_at_minimum += n_padding
        return n_padding

    def report_minimum(self, where: str, pixel_type: np.dtype, offset: float) -> None:
        """Log at WARNING the share of the voxels read that are padding under the camera offset
        ``offset`` (:func:`padding_mask`): not the dark level but no data (zero padding, dead
        pixels), filled."""
        if not self.voxels_at_minimum:
            return
        logger.warning(
            "%s: %d voxels (%.3g%% of those read) %s: zero padding of a stitched plate or dead pixels, "
            "not the camera's dark level; filled with their stack's median brightfield (no phase there)",
            where,
            self.voxels_at_minimum,
            100.0 * self.voxels_at_minimum / max(self.voxels_read, 1),
            _padding_found(pixel_type, offset),
        )

    def dropped_frames(self) -> list[int]:
        """Every dropped frame: mostly missing, without brightfield intensity or constant, in order."""
        return sorted({*self.missing.dropped_frames, *self.frames_without_intensity, *self.constant_frames})

    def drop_without_intensity(self, t: int, error: NoBrightfieldIntensityError, where: str) -> None:
        """Drop frame ``t`` (no brightfield intensity: ``error``), logged at WARNING naming ``where``."""
        if not self.frames_without_intensity:
            self.first_without_intensity = f"{where} frame t={t}: {error}"
        self.frames_without_intensity.append(int(t))
        logger.warning(
            "%s: frame t=%d dropped: no brightfield intensity (a shutter that did not open?): %s",
            where,
            t,
            error.found,
        )

    def check_frames_left(self) -> None:
        """Refuse the FOV when more than :data:`~dynaclr.numerics.missing.FAIL_FOV_SHARE` of its
        frames are dropped and at least one has no brightfield intensity (background-subtracted data,
        an offset above the dark level: every frame); mostly missing voxels alone fail in
        :class:`MissingTally`."""
        dropped = self.dropped_frames()
        if not self.frames_without_intensity or len(dropped) <= FAIL_FOV_SHARE * self.n_frames:
            return
        n_missing = len(dropped) - len(self.frames_without_intensity)
        raise NoBrightfieldIntensityError(
            f"{self.first_without_intensity}. {len(self.frames_without_intensity)} of the FOV's "
            f"{self.n_frames} frames have no brightfield intensity"
            + (
                f" and {n_missing} more are mostly missing" + (" or constant" if self.constant_frames else "")
                if n_missing
                else ""
            )
            + f": more than {100.0 * FAIL_FOV_SHARE:.0f}% of its frames would be dropped, so the FOV is "
            "refused",
            self.first_without_intensity,
        )


def reconstruct_frames(
    brightfield: Any,
    channel: int,
    output: Any,
    transfer_function: TransferFunction,
    config: PhaseConfig,
    description: str = "phase",
    *,
    store: str | Path = "brightfield",
    fov_name: str | None = None,
    where: str = "brightfield",
) -> ReconstructionTotals:
    """Reconstruct every time point of channel ``channel`` of ``brightfield`` into ``output``.

    ``brightfield`` is a ``(T, C, Z, Y, X)`` array of camera counts and ``output`` a float32
    ``(T, 1, Z', Y, X)`` array (``Z' = Z`` in 3d mode, 1 in 2d mode): zarr arrays, read and written
    one time point at a time, or numpy arrays. ``description`` labels the progress bar; ``store``
    and ``fov_name`` name the array in a corrupt-chunk error, ``where`` (plate, FOV, channel) in
    missing-data messages. A mostly missing stack, one without brightfield intensity
    (:class:`NoBrightfieldIntensityError`) or a constant one (every voxel one value once filled: no
    modulation, a phase of exactly 0) is a dropped frame, written as NaN; a FOV mostly missing
    fails (:mod:`dynaclr.numerics.missing`), and so does one whose frames are mostly dropped with any
    of them without intensity (:meth:`ReconstructionTotals.check_frames_left`). An offset too large
    for ``brightfield``'s integer pixel type is refused before any pixel is read
    (:func:`check_offset_fits_pixel_type`). Returns the totals of :class:`ReconstructionTotals`.
    """
    check_offset_fits_pixel_type(brightfield.dtype, config, where)
    n_frames = int(brightfield.shape[0])
    stack_voxels = int(np.prod(brightfield.shape[2:]))
    totals = ReconstructionTotals(MissingTally(where, expected_voxels=n_frames * stack_voxels), n_frames)
    sign_check = SignCheck.build(transfer_function, config)
    sign_due = sign_check_frames(n_frames)
    repeats = RepeatedFrames()  # the frame before, as its digest
    for t in tqdm(range(totals.n_frames), desc=description, unit="frame", mininterval=2.0):
        tic = perf_counter()
        counts = read_block(brightfield, (t, channel), store=store, fov_name=fov_name)
        toc = perf_counter()
        repeated = repeats.repeats(counts)
        dropped = totals.missing.add(t, counts)
        n_padding = totals.count_minimum(counts, float(config.camera_offset_counts))
        if not dropped:
            try:  # filled once, for the reconstruction and the sign check's crop
                filled = fill_unmeasured_brightfield(counts, config.camera_offset_counts)
                phase = reconstruct_filled_stack(filled, transfer_function, config)
            except NoBrightfieldIntensityError as err:
                totals.drop_without_intensity(t, err, where)
                totals.missing.not_used(counts)
                dropped = True
            except ValueError as err:
                raise ValueError(f"{where} frame t={t}: {err}") from err
            else:
                dropped = is_constant(filled)  # intensity but no modulation: a phase of exactly 0
                if dropped:
                    totals.constant_frames.append(int(t))
                    totals.missing.not_used(counts)
                else:  # a dropped frame has no phase to reduce: it carries its drop reason only
                    totals.padding_filled += n_padding
                    totals.count_maximum(t, counts)
                    totals.count_constant_slices(t, filled)
                    if repeated:
                        totals.repeated_frames.append(int(t))
                    if sign_due and t >= sign_due[0]:  # due now, or passed on by dropped frames
                        totals.sign_skewness.append(sign_check.skewness(filled, phase))
                        totals.sign_frames.append(int(t))
                        sign_due = [due for due in sign_due if due > t]
        if dropped:
            totals.check_frames_left()
            output[t, 0] = np.full(tuple(output.shape[2:]), np.nan, dtype=np.float32)
            totals.seconds_writing += perf_counter() - toc
            continue
        tac = perf_counter()
        output[t, 0] = phase
        totals.seconds_reading += toc - tic
        totals.seconds_reconstructing += tac - toc
        totals.seconds_writing += perf_counter() - tac
        totals.sum_phase += float(phase.sum(dtype=np.float64))
        totals.sum_squares += float(np.square(phase, dtype=np.float64).sum())
        totals.n_values += phase.size
    totals.missing.check_fov()
    totals.report_minimum(where, np.dtype(brightfield.dtype), float(config.camera_offset_counts))
    totals.report_saturation(where)
    warn_constant(where, totals.constant_frames, "written as NaN (virtual staining drops them too)")
    totals.report_constant_slices(where)
    totals.report_repeats(where)
    totals.report_sign(where, config)
    return totals


def _check_brightfield(
    position: Any, fov_name: str, inputs: ReconstructPhaseInputs, config: PhaseConfig
) -> None:
    """Fail unless the raw position ``fov_name`` holds the brightfield channel."""
    if config.brightfield_channel not in position.channel_names:
        raise ArtifactError(
            f"{inputs.plate}: FOV {fov_name} has no channel {config.brightfield_channel!r} (config key "
            f"phase.brightfield_channel); its channels are {position.channel_names}"
        )


def reconstruct_fov(
    config: PhaseConfig,
    inputs: ReconstructPhaseInputs,
    outputs: ReconstructPhaseOutputs,
    *,
    fov_name: str,
) -> dict[str, Any]:
    """Reconstruct every time point of one FOV into its position of the phase plate.

    Reads one brightfield stack ``(Z, Y, X)`` of ``inputs.plate`` at a time, writes float32
    ``Phase3D`` into position ``fov_name`` of ``inputs.phase_plate`` (``(Z, Y, X)`` per time point
    in 3d mode, ``(1, Y, X)`` in 2d mode) and its display windows
    (:func:`~dynaclr.io.display.write_display_metadata`), then writes the per-FOV record (kind
    ``phase_fov``) at ``outputs.record``. The transfer function and the phase plate must have been made with
    ``config``. Returns the record's metrics (:meth:`ReconstructionTotals.metrics`).
    """
    start = perf_counter()
    # the phase plate's record, in this FOV's position (not the plate's root zarr.json)
    plate_provenance = read_zarr_provenance(inputs.phase_plate, ArtifactKind.PHASE_PLATE, fov_name)
    # the raw plate as the phase plate's record states it (rule phase_plate checked it: kind, schema)
    raw_provenance = recorded_input(
        inputs.plate, plate_provenance, lambda: read_raw_plate_provenance(inputs.plate)
    )
    transfer_function, transfer_provenance = load_transfer_function(inputs.transfer_function)
    check_same_config(config, transfer_provenance, inputs.transfer_function)
    check_same_config(config, plate_provenance, inputs.phase_plate)
    with (  # this FOV's positions alone: no other FOV's metadata, nor the plates' (open_plate_position)
        open_plate_position(inputs.plate, fov_name) as raw_position,
        open_plate_position(inputs.phase_plate, fov_name, mode="r+") as phase_position,
    ):
        _check_brightfield(raw_position, fov_name, inputs, config)
        raw_image = raw_position["0"]
        n_t, _, n_z, n_y, n_x = raw_image.shape
        check_stack_geometry(
            inputs, fov_name, (n_z, n_y, n_x), position_geometry(raw_position), transfer_function, config
        )
        output = phase_position["0"]
        expected_shape = (n_t, 1, n_z if config.mode == "3d" else 1, n_y, n_x)
        if tuple(output.shape) != expected_shape:
            raise ArtifactError(
                f"{inputs.phase_plate}: position {fov_name} has shape {tuple(output.shape)}, expected "
                f"{expected_shape} for this FOV; rerun it with `snakemake --forcerun phase_plate`"
            )
        channel = raw_position.get_channel_index(config.brightfield_channel)
        totals = reconstruct_frames(
            raw_image,
            channel,
            output,
            transfer_function,
            config,
            description=f"phase {fov_name}",
            store=inputs.plate,
            fov_name=fov_name,
            where=f"{inputs.plate} FOV {fov_name} channel {config.brightfield_channel!r}",
        )
        write_display_metadata(phase_position)
    metrics = totals.metrics(fov_name, config.mode, perf_counter() - start)
    provenance = make_provenance(
        ArtifactKind.PHASE_FOV,
        config.model_dump(mode="json"),
        inputs=[
            (inputs.plate, raw_provenance),
            (inputs.transfer_function, transfer_provenance),
            (inputs.phase_plate, plate_provenance),
        ],
    )
    write_fov_record(outputs.record, provenance, metrics)
    logger.info("reconstructed %s: %d frames in %.1f s", fov_name, n_t, metrics["seconds_total"])
    return metrics
