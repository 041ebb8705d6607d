"""Configuration of virtual staining of nuclei (rules ``train_virtual_stain``, ``virtual_stain_plate``,
``predict_virtual_stain``, ``evaluate_virtual_stain``).

A 2.5-D UNet (timm ConvNeXt encoder, light decoder) maps a z-slab of ``input_depth_slices``
phase slices (as channels) to the nuclear fluorescence of the slab's central slice. The model
is either trained here (``train:``) or loaded from a local weights file (``checkpoint:``);
exactly one of the two is given.

Units are in the field names: ``_px`` pixels, ``_slices`` z slices, ``_minutes`` minutes.
Defaults suit the embedded demo plate (2 wells x 2 FOVs, 30 frames, 10 x 256 x 256 voxels,
nuclei of about 7.7 px radius).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from dynaclr.config.base import StrictModel

#: The network's coarsest feature map is 32x smaller than its input (ConvNeXt: stem 4, 3 x 2).
NETWORK_STRIDE_PX = 32


class VirtualStainAugmentationConfig(StrictModel):
    """Random augmentations of training patches (MONAI transforms, applied per patch)."""

    flip_probability: float = Field(
        0.5, ge=0, le=1, description="Probability of flipping a patch along each of Y and X."
    )
    rotate90_probability: float = Field(
        0.5, ge=0, le=1, description="Probability of rotating a patch by a random multiple of 90°."
    )
    intensity_scale_range: float = Field(
        0.2, ge=0, lt=1, description="Phase input is multiplied by 1 + u, u uniform in ± this value."
    )
    intensity_shift_range: float = Field(
        0.2, ge=0, description="Added to the normalised phase input, uniform in ± this value (std units)."
    )
    intensity_probability: float = Field(
        0.5, ge=0, le=1, description="Probability of each intensity augmentation (scale, shift)."
    )
    gaussian_noise_std: float = Field(
        0.05, ge=0, description="Std of Gaussian noise added to the normalised phase (std units); 0 = off."
    )


class VirtualStainTrainConfig(StrictModel):
    """Training: which FOVs, how long, how big the patches, and the optimiser."""

    train_fovs: list[str] = Field(
        default_factory=lambda: ["A/1/0", "B/1/0"],
        min_length=1,
        description="FOVs ('row/column/fov') whose phase and nuclear fluorescence are used for training; "
        "the other FOVs are held out for evaluation.",
    )
    max_steps: int = Field(
        300, ge=1, description="Optimiser steps; the learning rate follows one cosine cycle over them."
    )
    max_minutes: float = Field(
        2.0,
        gt=0,
        description="Wall-clock budget for training (minutes); training stops early when it is spent "
        "(the weights then depend on the machine's speed, not only on the seed).",
    )
    batch_size: int = Field(8, ge=1, description="Patches per optimiser step.")
    patch_size_px: int = Field(
        96,
        ge=NETWORK_STRIDE_PX,
        description=f"Side of the square YX training patches (px), a multiple of {NETWORK_STRIDE_PX}; "
        "clipped to the image size.",
    )
    learning_rate: float = Field(2e-3, gt=0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay.")
    warmup_steps: int = Field(20, ge=0, description="Steps of linear learning-rate warm-up.")
    seed: int = Field(0, ge=0, description="Seed of weights, patch sampling and augmentation.")
    cache_megabytes: float = Field(
        2048.0,
        gt=0,
        description="Memory for normalised (Z, Y, X) stacks kept between patches (MB); stacks beyond it "
        "are read again from the plate. A run setting: editing it trains nothing again (the same "
        "weights, unless max_minutes ends training early: then the steps trained depend on the "
        "machine's speed, which this changes).",
    )
    data_loader_workers: int = Field(
        0,
        ge=0,
        description="DataLoader worker processes (0: main process). A run setting: editing it trains "
        "nothing again (the same weights, unless max_minutes ends training early: then the steps "
        "trained depend on the machine's speed, which this changes).",
    )
    accelerator: Literal["auto", "cpu", "gpu"] = Field(
        "auto", description="Lightning accelerator; 'auto' uses a GPU when one is available."
    )
    augmentation: VirtualStainAugmentationConfig = VirtualStainAugmentationConfig()

    @field_validator("train_fovs")
    @classmethod
    def _fov_names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if len(name.split("/")) != 3 or not all(name.split("/"))]
        if bad:
            raise ValueError(
                f"train_fovs: {bad} are not FOV names of the form 'row/column/fov' (e.g. 'A/1/0')"
            )
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"train_fovs: list each FOV once; repeated: {repeated}")
        return value

    @field_validator("patch_size_px")
    @classmethod
    def _patch_multiple_of_stride(cls, value: int) -> int:
        if value % NETWORK_STRIDE_PX:
            lower = value // NETWORK_STRIDE_PX * NETWORK_STRIDE_PX
            raise ValueError(
                f"patch_size_px must be a multiple of {NETWORK_STRIDE_PX} (the network's stride); "
                f"got {value}, use {lower} or {lower + NETWORK_STRIDE_PX}"
            )
        return value


class VirtualStainPredictConfig(StrictModel):
    """Tiled prediction with Gaussian blending (MONAI sliding-window inference)."""

    tile_size_px: int | None = Field(
        256,
        ge=NETWORK_STRIDE_PX,
        description="Side of the square YX tiles (px); null predicts whole images at once "
        "(more memory, no tile seams).",
    )
    tile_overlap_fraction: float = Field(
        0.25, ge=0, lt=1, description="Overlap of neighbouring tiles as a fraction of the tile size."
    )
    blending: Literal["gaussian", "constant"] = Field(
        "gaussian", description="How overlapping tiles are combined: Gaussian-weighted or plain mean."
    )
    tiles_per_batch: int = Field(8, ge=1, description="Tiles passed through the network at once.")
    slices_per_batch: int = Field(
        16, ge=1, description="Z slices (each with its slab) predicted together; bounds memory."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' uses a GPU when one is available, the CPU otherwise."
    )


class VirtualStainConfig(StrictModel):
    """Virtual staining of nuclei from phase: network, and either training or a checkpoint."""

    #: The network is in eval mode and predicts every tile and slab on its own (per-sample layers
    #: only), so the tiles and slices per forward pass change float32 rounding only
    #: (tests/unit/test_virtual_stain.py): editing them predicts nothing again. Training's data-loader
    #: workers and stack cache train bitwise the same weights for any values (every patch and its
    #: augmentation are drawn from a generator seeded by the sample's index, in sample order, whichever
    #: process reads it and whether its stack was cached or read again; measured on CPU): editing them
    #: trains nothing again. ``accelerator`` and ``max_minutes`` are not run keys: a GPU trains other
    #: weights than the CPU, and a budget that ends training early trains fewer steps. Such a budget
    #: (``stopped_by_time``, logged at WARNING) makes the steps, hence the weights, depend on the
    #: machine's speed, which the workers and cache change too; they still rerun nothing, as a run on a
    #: slower machine or under more load would not (the checkpoint records their values, metrics.run).
    RUN_KEYS: ClassVar[tuple[str, ...]] = (
        "predict.tiles_per_batch",
        "predict.slices_per_batch",
        "train.data_loader_workers",
        "train.cache_megabytes",
    )
    #: The training run keys are held at their defaults in :meth:`job_params` and
    #: :meth:`training_params` (the checkpoint's config and hash): a config not setting them keeps the
    #: params it had before they became run keys (upgrading retrains each network once all the same:
    #: its script changed, README).
    RUN_KEYS_AT_DEFAULTS: ClassVar[tuple[str, ...]] = ("train.data_loader_workers", "train.cache_megabytes")
    #: Top-level keys that do not change the trained weights: how the trained network predicts, the
    #: prediction plate's channel name, and a weights file (which replaces training). Left out of
    #: :meth:`training_params`, so editing them trains nothing again, and not compared when a
    #: prediction checks its checkpoint against the config (dynaclr.virtual_stain.checkpoint).
    KEYS_NOT_IN_TRAINING: ClassVar[tuple[str, ...]] = ("predict", "output_channel", "checkpoint")

    input_channel: str = Field(
        "Phase3D", min_length=1, description="Channel of the phase plate read as input."
    )
    target_channel: str = Field(
        "Nuclei", min_length=1, description="Fluorescent nuclear channel of the raw plate (training target)."
    )
    output_channel: str = Field(
        "nuclei_prediction", min_length=1, description="Channel name of the predicted plate."
    )
    input_depth_slices: int = Field(
        5,
        ge=1,
        description="Phase slices in the input slab (odd); the prediction is for its central slice. "
        "Slabs at the top and bottom of a stack repeat the edge slice.",
    )
    backbone: str = Field(
        "convnext_atto",
        min_length=1,
        description="timm ConvNeXt encoder (convnext_atto, convnext_femto, convnext_pico, convnext_nano, "
        "convnext_tiny, ...), always built without downloaded weights.",
    )
    decoder_full_resolution_channels: int = Field(
        16, ge=4, description="Channels of the decoder at full resolution (twice this at half resolution)."
    )
    normalization_frames: int = Field(
        8,
        ge=1,
        description="Frames per FOV (evenly spaced) whose statistics normalise it: phase to zero mean and "
        "unit std, nuclear fluorescence to median 0 and 99th percentile 1 (empty frames ignored).",
    )
    train: VirtualStainTrainConfig | None = Field(
        default_factory=VirtualStainTrainConfig, description="Train the network (give this or 'checkpoint')."
    )
    checkpoint: str | None = Field(
        None, description="Local weights file of a trained network (give this or 'train')."
    )
    predict: VirtualStainPredictConfig = VirtualStainPredictConfig()

    def training_params(self) -> dict[str, Any]:
        """Rule ``train_virtual_stain``'s ``params.config`` and its checkpoint's recorded config:
        :meth:`job_params` without :attr:`KEYS_NOT_IN_TRAINING` (the training run keys at their
        defaults)."""
        return self._without_keys_not_in_training(self.job_params())

    def training_run_params(self) -> dict[str, Any]:
        """Rule ``train_virtual_stain``'s ``params.run``: the training's :attr:`RUN_KEYS` (with
        :meth:`training_params`, :func:`~dynaclr.config.base.with_run_params` gives the config back)."""
        return self._without_keys_not_in_training(self.run_params())

    def _without_keys_not_in_training(self, params: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in params.items() if key not in self.KEYS_NOT_IN_TRAINING}

    @field_validator("input_depth_slices")
    @classmethod
    def _odd_depth(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(
                f"input_depth_slices must be odd so the slab has a central slice; got {value}, "
                f"use {value - 1} or {value + 1}"
            )
        return value

    @field_validator("backbone")
    @classmethod
    def _convnext_backbone(cls, value: str) -> str:
        if not value.startswith("convnext"):
            raise ValueError(
                "backbone must be a timm ConvNeXt model (e.g. 'convnext_atto', 'convnext_pico'); "
                f"got {value!r}"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _checkpoint_replaces_default_training(cls, data: Any) -> Any:
        """A config naming only ``checkpoint`` does not get the default ``train`` section."""
        if isinstance(data, dict) and data.get("checkpoint") is not None and "train" not in data:
            return {**data, "train": None}
        return data

    @model_validator(mode="after")
    def _train_or_checkpoint(self) -> VirtualStainConfig:
        if (self.train is None) == (self.checkpoint is None):
            given = "both" if self.train is not None else "neither"
            raise ValueError(
                f"give exactly one of 'train' (train a network) or 'checkpoint' (path of a weights file); "
                f"got {given}. Remove one of the two keys."
            )
        return self
