"""Training patches: random YX crops of phase z-slabs and the nuclear fluorescence at their centre.

One sample is a :class:`SlabSample`: ``phase`` ``(D, P, P)`` (``D = input_depth_slices`` phase
slices centred on slice ``z``, normalised per FOV) and ``target`` ``(1, P, P)`` (the normalised
fluorescence of slice ``z``), ``P = patch_size_px``. Sample ``i`` is drawn from a generator
seeded with ``(seed, i)``, so a dataset gives the same patches and augmentations whatever the
order, process or worker that asks for them.

Missing voxels (:mod:`dynaclr.numerics.missing`): a frame mostly missing in either plate is never
sampled (the sample draws another frame from the same generator, logged at WARNING once per frame
and process); below that, missing voxels are 0 after normalisation. A finite voxel whose normalisation
overflows float32 (a value near float32's maximum, ~3.4e38, divided by a scale below 1) is missing too,
as virtual staining's prediction counts it: logged at WARNING naming the plate, FOV, frame and count
(once per frame and process), and a frame mostly missing once normalised is never sampled.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import monai.transforms as mt
import numpy as np
import torch
from iohub.ngff import open_ome_zarr
from monai.utils import convert_to_tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from dynaclr.config.virtual_stain import VirtualStainAugmentationConfig
from dynaclr.io.chunks import read_block
from dynaclr.numerics.missing import FOV_FIX, MissingDataError, count_missing, fill_missing, frame_is_dropped
from dynaclr.numerics.normalization import ChannelStatistics
from dynaclr.virtual_stain.slabs import slab_indices, slabs

__all__ = ["FovSource", "SlabPatchDataset", "SlabSample", "augmentation_transform", "slab_indices", "slabs"]

logger = logging.getLogger(__name__)

#: Draws of a (frame, slice) per sample before a FOV whose drawn frames are all dropped fails.
MAX_FRAME_DRAWS = 100


class SlabSample(TypedDict):
    """One training sample (a batch of them stacks to ``(B, D, P, P)`` and ``(B, 1, P, P)``)."""

    phase: torch.Tensor
    target: torch.Tensor


def augmentation_transform(config: VirtualStainAugmentationConfig) -> mt.Compose:
    """MONAI transforms on a :class:`SlabSample`: flips and 90° rotations of both images (same
    draw), scale, shift and Gaussian noise of the phase only."""
    both = ["phase", "target"]
    return mt.Compose(
        [
            mt.RandFlipd(keys=both, prob=config.flip_probability, spatial_axis=0),
            mt.RandFlipd(keys=both, prob=config.flip_probability, spatial_axis=1),
            mt.RandRotate90d(keys=both, prob=config.rotate90_probability, max_k=3, spatial_axes=(0, 1)),
            mt.RandScaleIntensityd(
                keys=["phase"], factors=config.intensity_scale_range, prob=config.intensity_probability
            ),
            mt.RandShiftIntensityd(
                keys=["phase"], offsets=config.intensity_shift_range, prob=config.intensity_probability
            ),
            mt.RandGaussianNoised(
                keys=["phase"],
                prob=1.0 if config.gaussian_noise_std > 0 else 0.0,
                std=config.gaussian_noise_std,
            ),
        ]
    )


@dataclass(frozen=True)
class FovSource:
    """One training FOV: where its channels are and how to normalise them."""

    fov_name: str
    phase_channel_index: int
    target_channel_index: int
    phase_normalization: ChannelStatistics
    target_normalization: ChannelStatistics
    shape_tzyx: tuple[int, int, int, int]


class SlabPatchDataset(Dataset[SlabSample]):
    """``n_samples`` random patches from the FOVs of two plates (phase input, fluorescent target).

    Normalised ``(Z, Y, X)`` stacks are kept in a least-recently-used cache of
    ``cache_megabytes``; plates are opened lazily in each process (DataLoader workers included).

    Args:
        phase_plate_path, target_plate_path: HCS plates with the same positions and ``T, Z, Y, X``.
        sources: the FOVs to sample from (uniformly), then a frame, a slice and a YX corner.
        n_samples: dataset length (``max_steps x batch_size``).
        depth: slab depth ``D`` (odd).
        patch_size: ``P`` in pixels (≤ every FOV's Y and X).
        seed: base seed of sampling and augmentation.
        augmentation: augmentation settings.
        cache_megabytes: memory budget of the stack cache.
    """

    def __init__(
        self,
        phase_plate_path: str | Path,
        target_plate_path: str | Path,
        sources: list[FovSource],
        n_samples: int,
        depth: int,
        patch_size: int,
        seed: int,
        augmentation: VirtualStainAugmentationConfig,
        cache_megabytes: float,
    ) -> None:
        too_small = [s.fov_name for s in sources if min(s.shape_tzyx[2:]) < patch_size]
        if too_small:
            raise ValueError(f"patch size {patch_size} px exceeds the YX size of FOVs {too_small}")
        self.paths = {"phase": Path(phase_plate_path), "target": Path(target_plate_path)}
        self.sources = sources
        self.n_samples = n_samples
        self.depth = depth
        self.patch_size = patch_size
        self.seed = seed
        self.transform = augmentation_transform(augmentation)
        self.cache_bytes = cache_megabytes * 1e6
        self._cache: OrderedDict[tuple[str, str, int], np.ndarray] = OrderedDict()
        self._cached_bytes = 0
        self._plates: dict[str, Any] = {}
        self._dropped: set[tuple[str, str, int]] = set()
        self._overflowed: set[tuple[str, str, int]] = set()

    def __len__(self) -> int:
        return self.n_samples

    def __getstate__(self) -> dict[str, Any]:
        # open plates and cached stacks stay in the process that made them
        return {**self.__dict__, "_plates": {}, "_cache": OrderedDict(), "_cached_bytes": 0}

    def close(self) -> None:
        """Close the plates opened by this process and drop the cache."""
        for plate in self._plates.values():
            plate.close()
        self._plates.clear()
        self._cache.clear()
        self._cached_bytes = 0

    def preload(self) -> int:
        """Read stacks into the cache, FOV by FOV and frame by frame, until it is full.

        Returns the number of (phase, target) frame pairs cached. Training then starts warm and
        its time per step is steady.
        """
        frames = [
            (source, t) for t in range(max(s.shape_tzyx[0] for s in self.sources)) for source in self.sources
        ]
        frames = [(source, t) for source, t in frames if t < source.shape_tzyx[0]]
        loaded = 0
        for source, t in tqdm(frames, desc="load training frames", unit="frame", mininterval=2.0):
            stack_bytes = 2 * 4 * int(np.prod(source.shape_tzyx[1:]))
            if self._cached_bytes + stack_bytes > self.cache_bytes:
                break
            self._stack("phase", source, t)
            self._stack("target", source, t)
            loaded += 1
        logger.info(
            "cached %d of %d training frames (%.0f MB)", loaded, len(frames), self._cached_bytes / 1e6
        )
        return loaded

    def _stack(self, which: str, source: FovSource, t: int) -> np.ndarray | None:
        """Normalised ``(Z, Y, X)`` stack of ``which`` ('phase' or 'target') at frame ``t``, missing
        voxels 0; ``None`` for a dropped frame (mostly missing)."""
        key = (which, source.fov_name, t)
        if key in self._dropped:
            return None
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if which not in self._plates:
            self._plates[which] = open_ome_zarr(self.paths[which], layout="hcs", mode="r")
        image = self._plates[which][source.fov_name]["0"]
        if which == "phase":
            channel, normalization = source.phase_channel_index, source.phase_normalization
        else:
            channel, normalization = source.target_channel_index, source.target_normalization
        raw = read_block(image, (t, channel), store=self.paths[which], fov_name=source.fov_name)
        normalised = normalization.apply(raw)
        n_missing = count_missing(normalised)  # overflowing voxels too (inf once normalised)
        self._warn_overflow(key, n_missing - count_missing(raw), normalization.center_scale()[1])
        if frame_is_dropped(n_missing, raw.size):
            self._dropped.add(key)
            logger.warning(
                "%s FOV %s frame t=%d: %.1f%% of its voxels are missing (NaN or inf); not sampled",
                self.paths[which],
                source.fov_name,
                t,
                100.0 * n_missing / raw.size,
            )
            return None
        stack = fill_missing(normalised, 0.0)
        self._cache[key] = stack
        self._cached_bytes += stack.nbytes
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= evicted.nbytes
        return stack

    def _warn_overflow(self, key: tuple[str, str, int], overflowed: int, scale: float) -> None:
        """Log at WARNING, once per frame and process, the ``overflowed`` finite voxels of the frame
        ``key`` whose normalisation overflows float32: counted as missing (0, or the frame dropped)."""
        if not overflowed or key in self._overflowed:
            return
        self._overflowed.add(key)
        which, fov_name, t = key
        logger.warning(
            "%s FOV %s frame t=%d: %d finite %s voxel(s) overflow float32 once normalised (scale %.4g): "
            "counted as missing voxels (0 in the training patches, the frame not sampled if mostly missing)",
            self.paths[which],
            fov_name,
            t,
            overflowed,
            which,
            scale,
        )

    def __getitem__(self, index: int) -> SlabSample:
        rng = np.random.default_rng([self.seed, index])
        source = self.sources[int(rng.integers(len(self.sources)))]
        n_t, n_z, n_y, n_x = source.shape_tzyx
        for _ in range(MAX_FRAME_DRAWS):  # a dropped frame is drawn again from the same generator
            t, z = int(rng.integers(n_t)), int(rng.integers(n_z))
            phase_stack = self._stack("phase", source, t)
            target_stack = self._stack("target", source, t) if phase_stack is not None else None
            if phase_stack is not None and target_stack is not None:
                break
        else:
            raise MissingDataError(
                f"training FOV {source.fov_name}: the {MAX_FRAME_DRAWS} frames drawn for sample {index} "
                f"are all dropped (mostly missing voxels in {self.paths['phase']} or "
                f"{self.paths['target']}). {FOV_FIX}; or take it out of virtual_stain.train.train_fovs."
            )
        y0, x0 = int(rng.integers(n_y - self.patch_size + 1)), int(rng.integers(n_x - self.patch_size + 1))
        window = (slice(y0, y0 + self.patch_size), slice(x0, x0 + self.patch_size))
        phase = phase_stack[(slab_indices(z, self.depth, n_z), *window)]
        target = target_stack[(slice(z, z + 1), *window)]
        self.transform.set_random_state(seed=int(rng.integers(2**31)))
        augmented = self.transform({"phase": phase.copy(), "target": target.copy()})
        return SlabSample(
            phase=convert_to_tensor(augmented["phase"], dtype=torch.float32, track_meta=False),
            target=convert_to_tensor(augmented["target"], dtype=torch.float32, track_meta=False),
        )
