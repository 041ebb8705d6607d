"""Cell population dynamics of one field of view: motion, division, infection, death.

The dynamics produce one row per cell per frame holding everything the renderer needs
(positions in pixels, sizes in micrometres, refractive indices, reporter states). The ground
truth table is a column subset of these rows, so images and ground truth agree by construction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dynaclr.config.simulate import SimulateConfig, WellSpec

logger = logging.getLogger(__name__)

NO_PARENT = -1
"""``parent_track_id`` of a track without a parent (CTC convention uses 0; we use -1)."""
NEVER = -1
"""``infection_onset_t`` / ``death_start_t`` of a cell that is never infected / never dies."""
N_SHAPE_MODES = 3
"""Shape modes of the cytoplasm outline (angular orders 2, 3 and 4)."""


@dataclass
class Cell:
    """State of one cell (one track) while the simulation runs. Positions in pixels."""

    track_id: int
    parent_track_id: int
    lineage_id: int
    y: float
    x: float
    vy: float
    vx: float
    nucleus_radius_um: float
    aspect: float  # YX ellipticity, major/minor axis ratio >= 1
    angle: float  # orientation of the major axis (radians)
    delta_n_cytoplasm: float
    delta_n_nucleus_extra: float
    cycle_age: float  # frames since birth
    cycle_length: float  # frames from birth to division
    infection_onset_t: int = NEVER
    death_start_t: int = NEVER
    texture_seed: int = 0
    # complex amplitudes of the cytoplasm outline's shape modes 2..(1 + N_SHAPE_MODES)
    shape_modes: np.ndarray = field(default_factory=lambda: np.zeros(N_SHAPE_MODES, np.complex128))
    # the morphodynamics draw from their own generator, so switching them on or off leaves every
    # other random draw of the FOV (positions, divisions, infections) unchanged
    shape_rng: np.random.Generator | None = None


def smoothstep(u: np.ndarray | float) -> np.ndarray | float:
    """Cubic ease from 0 (u <= 0) to 1 (u >= 1)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class FovDynamics:
    """Simulates the cells of one FOV frame by frame with a dedicated random generator."""

    def __init__(self, config: SimulateConfig, well: WellSpec, rng: np.random.Generator) -> None:
        self.config = config
        self.well = well
        self.rng = rng
        self.px = config.pixel_size_um
        _, self.height, self.width = config.shape_zyx
        self.next_track_id = 1
        self.cells: list[Cell] = []

    # ----------------------------------------------------------------- cell creation
    def _cytoplasm_radius_px(self, cell: Cell) -> float:
        return cell.nucleus_radius_um * self.config.cells.cytoplasm_radius_factor / self.px

    def _new_cell(self, y: float, x: float, vy: float, vx: float, t: int, cycle_age: float) -> Cell:
        cfg = self.config
        rng = self.rng
        cycle_length = max(
            cfg.division.mitosis_frames + 2.0,
            rng.normal(
                cfg.division.cycle_length_frames,
                cfg.division.cycle_length_frames * cfg.division.cycle_length_cv,
            ),
        )
        track_id = self.next_track_id
        self.next_track_id += 1
        cell = Cell(
            track_id=track_id,
            parent_track_id=NO_PARENT,
            lineage_id=track_id,
            y=y,
            x=x,
            vy=vy,
            vx=vx,
            nucleus_radius_um=cfg.cells.nucleus_radius_um
            * float(np.clip(rng.normal(1.0, cfg.cells.nucleus_radius_cv), 0.6, 1.4)),
            aspect=float(rng.uniform(1.0, 1.35)),
            angle=float(rng.uniform(0, np.pi)),
            delta_n_cytoplasm=float(rng.uniform(*cfg.cells.refractive_index_cytoplasm)),
            delta_n_nucleus_extra=float(rng.uniform(*cfg.cells.refractive_index_nucleus_extra)),
            cycle_age=cycle_age * cycle_length if cycle_age <= 1 else cycle_age,
            cycle_length=float(cycle_length),
            texture_seed=int(rng.integers(0, 2**31 - 1)),
        )
        cell.shape_rng = np.random.default_rng([cell.texture_seed, 0x5EED])
        cell.shape_modes = self._shape_mode_noise(cell.shape_rng)  # stationary start
        self._maybe_infect(cell, t)
        return cell

    def _shape_mode_noise(self, rng: np.random.Generator) -> np.ndarray:
        """Complex mode amplitudes whose outline deviates by ``membrane_fluctuation`` RMS."""
        sigma = self.config.cells.membrane_fluctuation
        if sigma == 0.0:
            return np.zeros(N_SHAPE_MODES, np.complex128)
        # deviation(θ) = Σ_k Re(m_k e^{ikθ}) has variance Σ_k E|m_k|² / 2 = σ²
        scale = sigma / np.sqrt(N_SHAPE_MODES)
        return scale * (rng.normal(size=N_SHAPE_MODES) + 1j * rng.normal(size=N_SHAPE_MODES))

    def _morph(self, cell: Cell) -> None:
        """One frame of the cell's own shape dynamics: orientation and outline random walks."""
        cells_cfg = self.config.cells
        rng = cell.shape_rng
        if rng is None:
            return
        if cells_cfg.rotation_std_rad_per_frame > 0:
            cell.angle = float(cell.angle + rng.normal(0.0, cells_cfg.rotation_std_rad_per_frame))
        if cells_cfg.membrane_fluctuation > 0:
            a = cells_cfg.membrane_persistence
            cell.shape_modes = a * cell.shape_modes + np.sqrt(1 - a * a) * self._shape_mode_noise(rng)

    def _maybe_infect(self, cell: Cell, t: int) -> None:
        """Infect ``cell`` with the well's probability, at an onset not before frame ``t``."""
        inf = self.config.infection
        if self.rng.random() >= self.well.infected_fraction:
            return
        low, high = inf.onset_frames
        cell.infection_onset_t = int(self.rng.integers(max(low, t), max(high, t) + 1))
        if self.rng.random() < inf.death_probability:
            delay = int(self.rng.integers(inf.death_delay_frames[0], inf.death_delay_frames[1] + 1))
            cell.death_start_t = cell.infection_onset_t + delay

    def _random_velocity(self) -> tuple[float, float]:
        sigma = self.config.cells.speed_um_per_frame / self.px / np.sqrt(2.0)
        vy, vx = self.rng.normal(0.0, sigma, size=2)
        return float(vy), float(vx)

    def _fits(self, y: float, x: float, radius_px: float) -> bool:
        factor = 0.75
        for other in self.cells:
            if np.hypot(other.y - y, other.x - x) < factor * (radius_px + self._cytoplasm_radius_px(other)):
                return False
        return True

    def seed_cells(self) -> None:
        """Place the initial cells at random, non-overlapping positions, with random cycle ages."""
        target = self.config.cells.initial_cells_per_fov
        attempts = 0
        while len(self.cells) < target and attempts < target * 200:
            attempts += 1
            y = self.rng.uniform(0, self.height)
            x = self.rng.uniform(0, self.width)
            vy, vx = self._random_velocity()
            cell = self._new_cell(y, x, vy, vx, t=0, cycle_age=float(self.rng.uniform(0, 1)))
            if self._fits(y, x, self._cytoplasm_radius_px(cell)):
                self.cells.append(cell)
            else:
                self.next_track_id -= 1  # reuse the id: keep ids dense
        if len(self.cells) < target:
            logger.warning("placed only %d of %d cells: the FOV is too crowded", len(self.cells), target)

    def _spawn_entering(self, t: int) -> None:
        n_new = self.rng.poisson(self.config.cells.entering_cells_per_frame)
        speed = self.config.cells.speed_um_per_frame / self.px
        for _ in range(n_new):
            side = int(self.rng.integers(4))
            along = self.rng.uniform(0.1, 0.9)
            inset = 1.0
            y, x, vy, vx = {
                0: (inset, along * self.width, speed, 0.0),
                1: (self.height - 1 - inset, along * self.width, -speed, 0.0),
                2: (along * self.height, inset, 0.0, speed),
                3: (along * self.height, self.width - 1 - inset, 0.0, -speed),
            }[side]
            cell = self._new_cell(y, x, vy, vx, t=t, cycle_age=float(self.rng.uniform(0, 0.8)))
            if self._fits(y, x, self._cytoplasm_radius_px(cell)):
                self.cells.append(cell)
            else:
                self.next_track_id -= 1

    # ----------------------------------------------------------------- per-frame states
    def _state(self, cell: Cell, t: int) -> dict[str, float | int | bool | str]:
        """Everything the renderer and the ground truth need about ``cell`` at frame ``t``."""
        cfg = self.config
        inf = cfg.infection
        mitosis_start = cell.cycle_length - cfg.division.mitosis_frames
        dying = cell.death_start_t != NEVER and t >= cell.death_start_t
        mitosis = (not dying) and cell.cycle_age >= mitosis_start
        mitosis_progress = (
            float((cell.cycle_age - mitosis_start + 1) / cfg.division.mitosis_frames) if mitosis else 0.0
        )
        dying_progress = float((t - cell.death_start_t + 1) / cfg.infection.dying_frames) if dying else 0.0
        infected = cell.infection_onset_t != NEVER and t >= cell.infection_onset_t
        since_onset = t - cell.infection_onset_t if infected else -1.0
        translocation = float(smoothstep(since_onset / inf.translocation_frames)) if infected else 0.0
        sensor_fraction = inf.sensor_nuclear_fraction_before + translocation * (
            inf.sensor_nuclear_fraction_after - inf.sensor_nuclear_fraction_before
        )
        er_condensation = float(smoothstep(since_onset / inf.er_condensation_frames)) if infected else 0.0
        growth = 0.9 + 0.2 * min(cell.cycle_age / cell.cycle_length, 1.0)
        nucleus_radius_um = (
            cell.nucleus_radius_um * growth * (1.0 - 0.3 * mitosis_progress) * (1.0 - 0.35 * dying_progress)
        )
        z_center_um = cfg.coverslip_height_um() + cfg.cells.nucleus_height_um / 2.0
        return {
            "fov_name": "",  # filled by the caller
            "well": f"{self.well.row}/{self.well.column}",
            "condition": self.well.condition,
            "track_id": cell.track_id,
            "parent_track_id": cell.parent_track_id,
            "lineage_id": cell.lineage_id,
            "t": t,
            "time_minutes": t * cfg.time_interval_minutes,
            "z": z_center_um / cfg.z_step_um,
            "y": cell.y,
            "x": cell.x,
            "nucleus_radius_px": nucleus_radius_um / self.px,
            "infected": infected,
            "infection_onset_t": cell.infection_onset_t,
            "mitosis": mitosis,
            "dying": dying,
            "death_start_t": cell.death_start_t,
            "sensor_nuclear_fraction": sensor_fraction,
            "er_condensation": er_condensation,
            # rendering-only parameters
            "nucleus_radius_um": nucleus_radius_um,
            "aspect": cell.aspect * (1.0 - mitosis_progress) + mitosis_progress,
            "angle": cell.angle,
            "rounding": max(mitosis_progress, dying_progress),
            "chromatin_condensation": mitosis_progress,
            "delta_n_cytoplasm": cell.delta_n_cytoplasm * (1.0 + 0.3 * dying_progress),
            "delta_n_nucleus_extra": cell.delta_n_nucleus_extra,
            "texture_seed": cell.texture_seed,
            **{
                f"shape_mode_{order}_{part}": float(getattr(mode, part))
                for order, mode in enumerate(cell.shape_modes, start=2)
                for part in ("real", "imag")
            },
        }

    # ----------------------------------------------------------------- time step
    def _divide(self, cell: Cell, t_next: int) -> list[Cell]:
        offset = self.config.division.daughter_offset_um / self.px
        theta = self.rng.uniform(0, 2 * np.pi)
        daughters = []
        for sign in (1.0, -1.0):
            dy, dx = sign * offset * np.sin(theta), sign * offset * np.cos(theta)
            vy, vx = self._random_velocity()
            daughter = self._new_cell(cell.y + dy, cell.x + dx, vy + 0.3 * dy, vx + 0.3 * dx, t_next, 0.0)
            daughter.parent_track_id = cell.track_id
            daughter.lineage_id = cell.lineage_id
            daughter.nucleus_radius_um = cell.nucleus_radius_um * float(self.rng.uniform(0.95, 1.05))
            # daughters inherit the infection programme of their mother
            daughter.infection_onset_t = cell.infection_onset_t
            daughter.death_start_t = cell.death_start_t
            daughters.append(daughter)
        return daughters

    def _resolve_overlaps(self, iterations: int = 12) -> None:
        if len(self.cells) < 2:
            return
        pos = np.array([[c.y, c.x] for c in self.cells])
        radius = np.array([self._cytoplasm_radius_px(c) for c in self.cells])
        min_dist = 0.75 * (radius[:, None] + radius[None, :])
        for _ in range(iterations):
            diff = pos[:, None, :] - pos[None, :, :]  # (n, n, 2)
            dist = np.sqrt((diff**2).sum(-1)) + np.eye(len(pos))  # avoid 0 on the diagonal
            overlap = np.clip(min_dist - dist, 0, None)
            np.fill_diagonal(overlap, 0.0)
            if not overlap.any():
                break
            push = (diff / dist[..., None]) * (overlap / 2.0)[..., None]
            pos += push.sum(axis=1)
        for cell, (y, x) in zip(self.cells, pos, strict=True):
            cell.y, cell.x = float(y), float(x)

    def step(self, t_next: int) -> None:
        """Advance all cells from frame ``t_next - 1`` to ``t_next``."""
        cfg = self.config
        alive: list[Cell] = []
        for cell in self.cells:
            if cell.death_start_t != NEVER and t_next >= cell.death_start_t + cfg.infection.dying_frames:
                continue  # dead and gone
            cell.cycle_age += 1.0
            if cell.cycle_age >= cell.cycle_length and not (
                cell.death_start_t != NEVER and t_next >= cell.death_start_t
            ):
                alive.extend(self._divide(cell, t_next))
                continue
            alive.append(cell)
        self.cells = alive
        a = cfg.cells.persistence
        for cell in self.cells:
            self._morph(cell)
            noise_vy, noise_vx = self._random_velocity()
            dying = cell.death_start_t != NEVER and t_next >= cell.death_start_t
            damping = 0.2 if dying else 1.0  # dying cells stop moving
            cell.vy = damping * (a * cell.vy + np.sqrt(1 - a * a) * noise_vy)
            cell.vx = damping * (a * cell.vx + np.sqrt(1 - a * a) * noise_vx)
            cell.y += cell.vy
            cell.x += cell.vx
        self._resolve_overlaps()
        self.cells = [c for c in self.cells if 0 <= c.y < self.height and 0 <= c.x < self.width]
        self._spawn_entering(t_next)

    def run(self) -> pd.DataFrame:
        """Simulate all frames; returns one row per cell per frame (see :meth:`_state`)."""
        self.seed_cells()
        rows: list[dict[str, float | int | bool | str]] = []
        for t in range(self.config.n_frames):
            if t > 0:
                self.step(t)
            rows.extend(self._state(cell, t) for cell in self.cells)
        return pd.DataFrame(rows, columns=list(self._state(_DUMMY, 0).keys()) if not rows else None)


_DUMMY = Cell(0, NO_PARENT, 0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 10.0)
