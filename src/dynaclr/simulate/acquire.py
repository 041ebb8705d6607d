"""Image formation: brightfield through waveorder's forward model, fluorescence through a PSF.

A 2D movie (one slice) has no z-stack for the brightfield model, and a phase object in focus gives
brightfield almost no contrast: its label-free channel is rendered as differential interference
contrast instead (the optical path sheared along X, the relief of a DIC image such as the paper's
ALFI movies), under the same photon budget, illumination and noise.

Noise-free volumes from :mod:`dynaclr.simulate.render` become camera counts (uint16) with shot
noise, background, camera offset and uneven illumination.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import gaussian_filter
from waveorder.models import phase_thick_3d

from dynaclr.config.simulate import SimulateConfig
from dynaclr.simulate.render import FrameVolumes, render_frame

UINT16_MAX = np.iinfo(np.uint16).max


def _shot_noise(expected_photons: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photon shot noise, float32.

    Gaussian approximation of the Poisson distribution (variance = mean): accurate at the
    background levels used here (tens of photons and more) and ten times faster than sampling
    Poisson variates on 2 cores.
    """
    expected = np.clip(expected_photons, 0, None, dtype=np.float32)
    noise = rng.standard_normal(expected.shape, dtype=np.float32)
    noise *= np.sqrt(expected)
    noise += expected
    return noise


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one thread within: its FFTs round a few brightfield voxels to the other integer count
    with another thread count, and the simulated plate must not depend on the job's threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class Microscope:
    """Optics and detector shared by every FOV of a plate (the transfer function is computed once)."""

    config: SimulateConfig
    transfer_function: torch.Tensor | None  # real potential TF, (Z + 2 * z_padding, Y, X); None for 2D (DIC)
    contrast_scale: float  # relative brightfield modulation per unit of forward-model output
    illumination: np.ndarray  # (Y, X) relative illumination, 1 at the centre

    @classmethod
    def build(cls, config: SimulateConfig) -> Microscope:
        optics = config.optics
        real_tf = None
        if config.shape_zyx[0] > 1:
            with one_torch_thread():
                real_tf, _ = phase_thick_3d.calculate_transfer_function(
                    zyx_shape=config.shape_zyx,
                    yx_pixel_size=config.pixel_size_um,
                    z_pixel_size=config.z_step_um,
                    wavelength_illumination=optics.wavelength_um,
                    z_padding=optics.z_padding,
                    index_of_refraction_media=optics.index_of_refraction_media,
                    numerical_aperture_illumination=optics.numerical_aperture_illumination,
                    numerical_aperture_detection=optics.numerical_aperture_detection,
                )
        _, n_y, n_x = config.shape_zyx
        yy, xx = np.mgrid[0:n_y, 0:n_x].astype(np.float32)
        r2 = ((yy - n_y / 2) / (n_y / 2)) ** 2 + ((xx - n_x / 2) / (n_x / 2)) ** 2
        illumination = 1.0 - config.imaging.illumination_falloff * r2 / 2.0  # corner: r2 = 2
        microscope = cls(config, real_tf, 1.0, illumination.astype(np.float32))
        microscope.contrast_scale = microscope._calibrate_contrast()
        return microscope

    def _modulation(self, phase: np.ndarray) -> np.ndarray:
        """Relative brightfield modulation (unitless, 0 = background) of a phase volume (Z, Y, X).

        The object is zero-padded along Z to the transfer function's depth and the full
        transfer function applied (``z_padding=0``): passing the padding to waveorder instead
        would crop the transfer function in frequency space and mis-pair its z-frequencies.
        """
        if self.transfer_function is None:  # 2D: DIC, the optical path sheared along X
            return np.gradient(phase, axis=2).astype(np.float32)  # type: ignore[no-any-return]
        pad = self.config.optics.z_padding
        padded = np.pad(phase, ((pad, pad), (0, 0), (0, 0)))
        with one_torch_thread():
            out = phase_thick_3d.apply_transfer_function(
                torch.from_numpy(padded), self.transfer_function, 0, brightness=1.0
            )
        return out.numpy().astype(np.float32)[pad : pad + phase.shape[0]] - 1.0

    def _calibrate_contrast(self) -> float:
        """Scale making a typical cell's brightfield modulation std equal ``brightfield_contrast``.

        Calibrated on one average cell in the plate's volume shape, independent of any FOV.
        """
        cfg = self.config
        _, n_y, n_x = cfg.shape_zyx
        cell = {
            "y": n_y / 2,
            "x": n_x / 2,
            "z": (cfg.coverslip_height_um() + cfg.cells.nucleus_height_um / 2) / cfg.z_step_um,
            "nucleus_radius_um": cfg.cells.nucleus_radius_um,
            "aspect": 1.0,
            "angle": 0.0,
            "rounding": 0.0,
            "chromatin_condensation": 0.0,
            "delta_n_cytoplasm": float(np.mean(cfg.cells.refractive_index_cytoplasm)),
            "delta_n_nucleus_extra": float(np.mean(cfg.cells.refractive_index_nucleus_extra)),
            "sensor_nuclear_fraction": 0.5,
            "er_condensation": 0.0,
            "texture_seed": 0,
            "track_id": 1,
            "t": 0,
        }
        volumes = render_frame(pd.DataFrame([cell]), cfg)
        modulation = self._modulation(volumes.phase)
        inside = volumes.phase.max(axis=0) > 0
        spread = float(modulation[:, inside].std())
        if spread == 0.0:
            raise ValueError("brightfield calibration failed: the average cell gives no contrast")
        return cfg.imaging.brightfield_contrast / spread

    def acquire(
        self, volumes: FrameVolumes, has_nuclear_marker: bool, rng: np.random.Generator
    ) -> np.ndarray:
        """Camera counts (C, Z, Y, X) uint16 for Brightfield, Nuclei, ViralSensor, ERMarker."""
        img = self.config.imaging
        offset = np.float32(img.camera_offset)
        modulation = self._modulation(volumes.phase)
        expected = img.brightfield_photons * self.illumination * (1.0 + self.contrast_scale * modulation)
        brightfield = _shot_noise(expected, rng)
        channels = [brightfield]
        sigma = (img.psf_sigma_z_slices, img.psf_sigma_yx_px, img.psf_sigma_yx_px)
        for name, density in (("nuclei", volumes.nuclei), ("sensor", volumes.sensor), ("er", volumes.er)):
            if name == "nuclei" and not has_nuclear_marker:
                channels.append(np.zeros_like(brightfield))
                continue
            blurred = gaussian_filter(density, sigma=sigma, mode="constant")
            photons = img.fluorescence_photons * blurred * self.illumination + img.fluorescence_background
            channels.append(_shot_noise(photons, rng))
        stack = np.stack(channels) + offset
        return np.clip(np.rint(stack), 0, UINT16_MAX).astype(np.uint16)
