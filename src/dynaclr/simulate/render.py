"""Render one frame of one FOV from the per-cell states of :mod:`dynaclr.simulate.cells`.

Each cell is drawn inside its own bounding box (never over the whole volume), as
- a spread cytoplasm: a dome of radius ``cytoplasm_radius_factor * nucleus radius`` resting on
  the coverslip, rounding up into a sphere-like shape in mitosis and death;
- a nucleus: an ellipsoid inside it, with its own refractive-index excess.
The outputs are noise-free densities in voxel units (Z slices, Y and X pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dynaclr.config.simulate import SimulateConfig
from dynaclr.simulate.cells import N_SHAPE_MODES


@dataclass
class FrameVolumes:
    """Noise-free volumes of one frame, each (Z, Y, X)."""

    phase: np.ndarray  # float32, cycles per voxel (waveorder's phase units)
    nuclei: np.ndarray  # float32, nuclear-marker density
    sensor: np.ndarray  # float32, viral-sensor density
    er: np.ndarray  # float32, ER-marker density
    labels: np.ndarray  # uint32, nucleus label = track_id, 0 = background


def _texture(
    seed: int | list[int], v: np.ndarray, u: np.ndarray, scale_px: float, n_waves: int = 6
) -> np.ndarray:
    """Smooth random texture attached to the cell's frame of reference, mean 1, about ±0.35."""
    rng = np.random.default_rng(seed)
    out = np.zeros(np.broadcast_shapes(v.shape, u.shape), dtype=np.float32)
    for _ in range(n_waves):
        k = rng.uniform(0.5, 1.5) * 2 * np.pi / scale_px
        theta = rng.uniform(0, 2 * np.pi)
        phase = rng.uniform(0, 2 * np.pi)
        out += np.cos(k * (np.cos(theta) * u + np.sin(theta) * v) + phase).astype(np.float32)
    return 1.0 + 0.35 * out / np.sqrt(n_waves / 2.0)


def _soft(signed_distance_px: np.ndarray, width_px: float = 0.7) -> np.ndarray:
    """Anti-aliased inside indicator from a signed distance (positive inside)."""
    return np.clip(0.5 + signed_distance_px / (2.0 * width_px), 0.0, 1.0).astype(np.float32)


def _voxel_gradient(
    rho_yx: np.ndarray, rho_z: np.ndarray, rho: np.ndarray, radius_px: float, half_height_slices: float
) -> np.ndarray:
    """|∇ρ| per voxel of the ellipsoid coordinate ``ρ = sqrt(ρ_yx² + ρ_z²)`` (1 on the surface).

    ``ρ_yx`` is the in-plane radius over ``radius_px`` and ``ρ_z`` the axial offset over
    ``half_height_slices``; ``(1 - ρ) / |∇ρ|`` is then the signed distance to the surface in
    voxels (exact at the poles and the equator), whatever the voxel's aspect ratio.
    """
    gradient = np.sqrt((rho_yx / radius_px) ** 2 + (rho_z / half_height_slices) ** 2) / np.maximum(rho, 1e-6)
    return np.maximum(gradient, np.float32(1e-6) / max(radius_px, half_height_slices))


def _shape_modes(cell: object) -> list[tuple[int, complex]]:
    """``(angular order, complex amplitude)`` of the cell's outline modes (0 where not given)."""
    return [
        (
            order,
            complex(
                getattr(cell, f"shape_mode_{order}_real", 0.0), getattr(cell, f"shape_mode_{order}_imag", 0.0)
            ),
        )
        for order in range(2, 2 + N_SHAPE_MODES)
    ]


def _outline_scale(modes: list[tuple[int, complex]], u: np.ndarray, v: np.ndarray) -> np.ndarray | float:
    """Relative radius of the cytoplasm's outline along each pixel's direction (1 = the ellipse)."""
    if not any(mode for _, mode in modes):
        return 1.0
    theta = np.arctan2(v, u)
    deviation = np.zeros(theta.shape, np.float32)
    for order, mode in modes:
        deviation += np.float32(mode.real) * np.cos(order * theta) - np.float32(mode.imag) * np.sin(
            order * theta
        )
    return np.clip(1.0 + deviation, 0.5, None)


@dataclass(frozen=True)
class CellShape:
    """Where one cell is in a frame: its bounding box and soft masks there, each ``(Z, Y', X')``.

    ``u``/``v`` are the box's pixel offsets from the centroid along the cell's major and minor
    axes (``(1, Y', X')``); ``rho_yx`` the in-plane nuclear ellipse coordinate (1 on its outline).
    """

    region: tuple[slice, slice, slice]
    u: np.ndarray
    v: np.ndarray
    nucleus_radius_px: float
    cytoplasm_radius_px: float
    rho_yx: np.ndarray
    nucleus: np.ndarray  # float32, 0..1
    body: np.ndarray  # float32, 0..1: nucleus or cytoplasm
    cytoplasm_only: np.ndarray  # float32, body outside the nucleus


def _cell_box(
    cell: Any, half_width_px: int, n_y: int, n_x: int
) -> tuple[tuple[slice, slice, slice], np.ndarray, np.ndarray] | None:
    """The cell's box (``None`` when outside the image) and its ``(u, v)`` axis coordinates, pixels."""
    y0, y1 = max(int(cell.y) - half_width_px, 0), min(int(cell.y) + half_width_px + 1, n_y)
    x0, x1 = max(int(cell.x) - half_width_px, 0), min(int(cell.x) + half_width_px + 1, n_x)
    if y0 >= y1 or x0 >= x1:
        return None
    yy = np.arange(y0, y1, dtype=np.float32)[None, :, None] - np.float32(cell.y)
    xx = np.arange(x0, x1, dtype=np.float32)[None, None, :] - np.float32(cell.x)
    # coordinates along the cell's major (u) and minor (v) axes, pixels
    cos_a, sin_a = np.float32(np.cos(cell.angle)), np.float32(np.sin(cell.angle))
    u = cos_a * xx + sin_a * yy
    v = -sin_a * xx + cos_a * yy
    return (slice(None), slice(y0, y1), slice(x0, x1)), u, v


def _nucleus(
    cell: Any, u: np.ndarray, v: np.ndarray, z_um: np.ndarray, radius_px: float, config: SimulateConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Soft mask of the nucleus, an ellipsoid centred at the ground-truth centroid, and ``ρ_yx``."""
    dz = config.z_step_um
    rounding = float(cell.rounding)
    sqrt_aspect = np.float32(np.sqrt(cell.aspect))
    half_height_um = config.cells.nucleus_height_um / 2 * (1 - rounding) + (cell.nucleus_radius_um * rounding)
    z_center_um = np.float32(cell.z * dz)
    rho_yx = np.sqrt((u / (radius_px * sqrt_aspect)) ** 2 + (v * sqrt_aspect / radius_px) ** 2)
    rho_z = (z_um - z_center_um) / np.float32(half_height_um)
    rho = np.sqrt(rho_yx**2 + rho_z**2)
    # signed distance to the surface in voxels (pixels in YX, slices in Z): the edge is
    # anti-aliased over about one voxel along every axis, as the cytoplasm's is
    nucleus = _soft((1.0 - rho) / _voxel_gradient(rho_yx, rho_z, rho, radius_px, half_height_um / dz))
    return nucleus, rho_yx


def _cytoplasm(
    cell: Any,
    u: np.ndarray,
    v: np.ndarray,
    z_um: np.ndarray,
    radius_px: float,
    modes: list[tuple[int, complex]],
    config: SimulateConfig,
) -> np.ndarray:
    """Soft mask of the cytoplasm: a dome on the coverslip, taller when rounded.

    The outline bulges and retracts (shape modes), less so as the cell rounds up."""
    dz = config.z_step_um
    coverslip_um = config.coverslip_height_um()
    rounding = float(cell.rounding)
    outline = _outline_scale(modes, u, v)
    outline = 1.0 + (1.0 - rounding) * (outline - 1.0)
    rho_c = np.sqrt(u**2 + v**2) / (radius_px * outline)
    dome_height_um = config.cells.cytoplasm_height_um * (1 - rounding) + 2 * cell.nucleus_radius_um * rounding
    top_um = coverslip_um + dome_height_um * np.sqrt(np.clip(1 - rho_c**2, 0, None))
    inside_z = _soft(((top_um - z_um) / dz) * 1.0) * _soft(((z_um - coverslip_um) / dz) + 0.5)
    return _soft((1.0 - rho_c) * radius_px) * inside_z


def cell_shape(cell: Any, config: SimulateConfig, z_um: np.ndarray) -> CellShape | None:
    """The cell's box and masks in this frame (``None``: the box misses the image).

    ``cell`` is a row of the dynamics table; ``z_um`` the slices' heights ``(Z, 1, 1)``, µm.
    """
    _, n_y, n_x = config.shape_zyx
    r_nuc_px = cell.nucleus_radius_um / config.pixel_size_um
    rounding = float(cell.rounding)
    # the cytoplasm retracts towards the nucleus when the cell rounds up
    cyto_factor = config.cells.cytoplasm_radius_factor * (1 - rounding) + 1.35 * rounding
    r_cyto_px = r_nuc_px * cyto_factor
    modes = _shape_modes(cell)
    largest_outline = 1.0 + sum(abs(mode) for _, mode in modes)
    box = _cell_box(cell, int(np.ceil(r_cyto_px * max(1.15, largest_outline))) + 2, n_y, n_x)
    if box is None:
        return None
    region, u, v = box
    nucleus, rho_yx = _nucleus(cell, u, v, z_um, r_nuc_px, config)
    cytoplasm = _cytoplasm(cell, u, v, z_um, r_cyto_px, modes, config)
    body = np.maximum(cytoplasm, nucleus)
    return CellShape(
        region=region,
        u=u,
        v=v,
        nucleus_radius_px=r_nuc_px,
        cytoplasm_radius_px=r_cyto_px,
        rho_yx=rho_yx,
        nucleus=nucleus,
        body=body,
        cytoplasm_only=np.clip(body - nucleus, 0, None),
    )


def _phase(cell: Any, shape: CellShape, config: SimulateConfig) -> np.ndarray:
    """Refractive-index excess of the cell in its box, in cycles per voxel (waveorder's units)."""
    wavelength_medium = config.optics.wavelength_um / config.optics.index_of_refraction_media
    to_cycles = config.z_step_um / wavelength_medium  # Δn -> cycles per voxel
    granularity = config.cells.cytoplasm_granularity
    body, nucleus = shape.body, shape.nucleus
    cytoplasm_index = np.float32(cell.delta_n_cytoplasm) * body
    if granularity > 0:
        # moving granules: a new pattern in every frame, in the cytoplasm outside the nucleus
        granules = _texture(
            [int(cell.texture_seed), int(cell.t), 2], shape.v, shape.u, scale_px=2.5, n_waves=8
        )
        cytoplasm_index = cytoplasm_index + np.float32(cell.delta_n_cytoplasm * granularity / 0.35) * np.clip(
            body - nucleus, 0, None
        ) * (granules - 1.0)
    index_change = config.infection.phase_index_change * float(cell.er_condensation)
    if index_change != 0.0:
        # infection's phase cue: the cytoplasm near the nucleus densifies as the ER condenses there
        cytoplasm_index = cytoplasm_index + np.float32(
            cell.delta_n_cytoplasm * index_change
        ) * shape.cytoplasm_only * _perinuclear_weight(shape, decay_fraction=0.3)
    return (cytoplasm_index + cell.delta_n_nucleus_extra * nucleus) * to_cycles  # type: ignore[no-any-return]


def _perinuclear_weight(shape: CellShape, decay_fraction: float) -> np.ndarray:
    """``exp(-distance from the nucleus / (decay_fraction x the cytoplasm's radius))`` in the box."""
    distance_from_nucleus = np.clip(shape.rho_yx - 1.0, 0, None) * shape.nucleus_radius_px
    decay_px = shape.cytoplasm_radius_px * decay_fraction
    return np.exp(-distance_from_nucleus / decay_px)  # type: ignore[no-any-return]


def _nuclear_marker(cell: Any, shape: CellShape) -> np.ndarray:
    """Chromatin texture over the nucleus, condensing (brighter, coarser) in mitosis."""
    chromatin = _texture(
        cell.texture_seed, shape.v, shape.u, scale_px=max(shape.nucleus_radius_px / 2.0, 1.0)
    )
    return shape.nucleus * chromatin * np.float32(1.0 + 1.5 * cell.chromatin_condensation)  # type: ignore[no-any-return]


def _viral_sensor(cell: Any, shape: CellShape) -> np.ndarray:
    """A fixed amount of sensor split between nucleus and cytoplasm (densities about 1)."""
    body_volume = float(shape.body.sum()) + 1e-6
    fraction = float(cell.sensor_nuclear_fraction)
    return body_volume * (  # type: ignore[no-any-return]
        fraction * shape.nucleus / (float(shape.nucleus.sum()) + 1e-6)
        + (1 - fraction) * shape.cytoplasm_only / (float(shape.cytoplasm_only.sum()) + 1e-6)
    )


def _er_marker(cell: Any, shape: CellShape) -> np.ndarray:
    """Reticulated texture over the cytoplasm, condensing around the nucleus (same total as the body)."""
    cytoplasm_only = shape.cytoplasm_only
    reticulum = _texture(cell.texture_seed + 1, shape.v, shape.u, scale_px=3.0, n_waves=8) ** 2
    er_density = (
        cytoplasm_only * reticulum * _perinuclear_weight(shape, 1.5 - 1.3 * float(cell.er_condensation))
    )
    return er_density * (float(cytoplasm_only.sum()) / (float(er_density.sum()) + 1e-6))  # type: ignore[no-any-return]


def render_frame(cells: pd.DataFrame, config: SimulateConfig) -> FrameVolumes:
    """Render the cells of one frame (rows of the dynamics table) into noise-free volumes.

    Cells are drawn in row order: densities add up, and a later cell's nucleus label wins where
    two nuclei overlap.
    """
    n_z, n_y, n_x = config.shape_zyx
    volumes = FrameVolumes(
        phase=np.zeros((n_z, n_y, n_x), np.float32),
        nuclei=np.zeros((n_z, n_y, n_x), np.float32),
        sensor=np.zeros((n_z, n_y, n_x), np.float32),
        er=np.zeros((n_z, n_y, n_x), np.float32),
        labels=np.zeros((n_z, n_y, n_x), np.uint32),
    )
    z_um = ((np.arange(n_z, dtype=np.float32) - 0.0) * config.z_step_um)[:, None, None]  # slice 0 at 0 µm
    for cell in cells.itertuples(index=False):
        shape = cell_shape(cell, config, z_um)
        if shape is None:
            continue
        region = shape.region
        volumes.phase[region] += _phase(cell, shape, config)
        volumes.nuclei[region] += _nuclear_marker(cell, shape)
        volumes.sensor[region] += _viral_sensor(cell, shape)
        volumes.er[region] += _er_marker(cell, shape)
        volumes.labels[region][shape.nucleus >= 0.5] = cell.track_id
    return volumes
