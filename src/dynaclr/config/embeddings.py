"""Configuration of embedding inference (rule ``embed``) and 2-D projections (rule ``project_embeddings``).

Units are in the field names: ``_px`` pixels. Inference applies no augmentation: every patch is
centre-cropped to ``crop_size_yx_px`` (the size the encoder was trained on) and encoded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field, field_validator, model_validator

from dynaclr.config.base import StrictModel

#: Models run through the same analyses as trained ones without being trained here.
BaselineName = Literal["random_weights", "engineered_features"]
#: What embeds a dataset: a trained contrastive model, or one of the baselines.
ModelKind = Literal["contrastive", "random_weights", "engineered_features"]


def model_kind(model: str) -> ModelKind:
    """The kind of a model name: a baseline's own name, ``contrastive`` for every other name.

    Contrastive model names never clash with baseline names (checked by
    :class:`dynaclr.config.WorkflowConfig`).
    """
    if model in get_args(BaselineName):
        return model  # type: ignore[return-value]
    return "contrastive"


class EmbeddingConfig(StrictModel):
    """How patches are encoded into features (backbone) and projections (head)."""

    batch_size: int = Field(
        128,
        ge=1,
        description=(
            "Patches encoded per forward pass; also the number of rows per chunk of the partial "
            "store, so an interrupted job resumes at a multiple of it."
        ),
    )
    crop_size_yx_px: tuple[int, int] | None = Field(
        None,
        description=(
            "Centre crop (Y, X) in pixels applied to every patch before encoding, usually the "
            "training crop; null encodes the whole stored patch."
        ),
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' uses the GPU when torch sees one, the CPU otherwise."
    )
    bf16_autocast: bool = Field(
        True,
        description="Run the forward pass under bfloat16 autocast on the GPU (ignored on the CPU).",
    )
    resume: bool = Field(
        True,
        description=(
            "Continue an interrupted job from its partial store (kept beside the output) when the "
            "patch store (not rebuilt since), index, encoder weights, crop, batch size, device and "
            "autocast are unchanged; otherwise it starts again."
        ),
    )

    #: The encoder is in eval mode and encodes every patch once, so the rows per forward pass change
    #: float32 rounding only (a batch-size-dependent kernel; tests/unit/test_embeddings.py), and a
    #: resumed job writes the rows a fresh one would: editing them re-embeds nothing. ``device`` and
    #: ``bf16_autocast`` change the numbers and stay in the rule's params.
    RUN_KEYS: ClassVar[tuple[str, ...]] = ("batch_size", "resume")

    @field_validator("crop_size_yx_px")
    @classmethod
    def _positive_crop(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError(
                f"crop_size_yx_px must be two positive pixel counts, e.g. [128, 128]; got {value}"
            )
        return value


#: Projection methods and the ``obsm`` key each one's coordinates are stored under (scanpy's names).
ProjectionMethod = Literal["pca", "umap", "phate"]
PROJECTION_KEYS: dict[str, str] = {"pca": "X_pca", "umap": "X_umap", "phate": "X_phate"}


class UmapConfig(StrictModel):
    """UMAP (umap-learn) parameters; its ``random_state`` is :attr:`ProjectionConfig.seed`."""

    n_neighbors: int = Field(
        15, ge=2, description="Neighbourhood size in cells; must be below the number of cells projected."
    )
    min_distance: float = Field(0.1, ge=0.0, le=1.0, description="UMAP min_dist: how tightly points pack.")


class PhateConfig(StrictModel):
    """PHATE (phate) parameters; its ``random_state`` is :attr:`ProjectionConfig.seed`, ``n_jobs`` 1."""

    knn: int = Field(
        5, ge=2, description="Nearest neighbours of the kernel, in cells; must be below the number of cells."
    )
    decay: float = Field(40.0, gt=0.0, description="Decay rate of the alpha-decaying kernel's tails.")
    t: int | Literal["auto"] = Field(
        "auto", description="Diffusion time (steps), or 'auto': the knee of the Von Neumann entropy."
    )
    n_landmark: int = Field(
        2000, ge=10, description="Landmarks of fast PHATE; the exact operator is used below this many cells."
    )

    @field_validator("t")
    @classmethod
    def _positive_t(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"t must be a positive number of diffusion steps or 'auto'; got {value}")
        return value


class ProjectionConfig(StrictModel):
    """Low-dimensional projections of embeddings for figures, computed in their own rule.

    Every method in ``methods`` is computed from the same matrix (UMAP and PHATE from its first
    ``neighbor_pca_components`` principal components when set) and stored under scanpy's key
    (``obsm['X_pca']``, ``obsm['X_umap']``, ``obsm['X_phate']``).
    """

    methods: tuple[ProjectionMethod, ...] = Field(
        ("pca",),
        min_length=1,
        description="Projections to compute, each drawn in the projection figure: 'pca' (scikit-learn), "
        "'umap' (umap-learn), 'phate' (phate).",
    )
    n_components: int = Field(2, ge=2, le=50, description="Number of projected coordinates per method.")
    representation: Literal["features", "projections", "standardized"] = Field(
        "features",
        description=(
            "Which matrix of the embeddings is projected: 'features' (X: backbone features, or "
            "z-scored engineered features), 'projections' (obsm['X_projections'], head) or "
            "'standardized' (X, accepted only where X is z-scored, i.e. engineered features)."
        ),
    )
    standardize: bool = Field(True, description="z-score every column over all cells before projecting.")
    seed: int = Field(
        0, ge=0, description="Random state of PCA, UMAP and PHATE: same seed, same coordinates on CPU."
    )
    neighbor_pca_components: int | None = Field(
        None,
        ge=2,
        description=(
            "UMAP and PHATE run on this many principal components of the matrix (z-scored first when "
            "'standardize'; scanpy's neighbours on X_pca) instead of on the whole matrix: the exact PCA "
            "is computed over blocks of rows, so the job holds cells x this many values, never cells x "
            "features. Must not exceed min(cells, features). null (default): UMAP and PHATE read and run "
            "on the whole matrix. No effect with 'pca' alone in 'methods'."
        ),
    )
    umap: UmapConfig = UmapConfig()
    phate: PhateConfig = PhateConfig()

    @model_validator(mode="before")
    @classmethod
    def _single_method_keys_moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = {"method": "methods: [{}]", "umap_n_neighbors": "umap: {{n_neighbors: {}}}"}
            moved["umap_min_distance"] = "umap: {{min_distance: {}}}"
            found = [
                f"'{old}: {data[old]}' is now '{new.format(data[old])}'"
                for old, new in moved.items()
                if old in data
            ]
            if found:
                raise ValueError("analysis.projections keys were renamed: " + "; ".join(found))
        return data

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"methods must not repeat a method, e.g. [pca, umap, phate]; got {list(value)}")
        return value


class EngineeredFeaturesConfig(StrictModel):
    """Hand-engineered per-patch features (the 'engineered_features' baseline model).

    Per channel: area above Otsu's threshold and the texture and radial profile of the central Z
    slice, intensity statistics of the whole (cropped) volume. See
    :func:`dynaclr.baselines.engineered_features`.
    """

    crop_size_yx_px: tuple[int, int] | None = Field(
        None,
        description="Centre crop (Y, X) in pixels before measuring, each side at least 2 (the smallest "
        "patch with a co-occurrence offset of 1 px); null uses the whole patch.",
    )
    intensity_percentiles: tuple[float, ...] = Field(
        (5.0, 25.0, 50.0, 75.0, 95.0), description="Percentiles (0-100) of each channel's intensities."
    )
    texture_gray_levels: int = Field(
        32, ge=2, le=256, description="Grey levels the central slice is quantised to for the GLCM."
    )
    texture_distances_px: tuple[int, ...] = Field(
        (1, 2),
        description="Pixel offsets of the grey-level co-occurrence matrix (averaged over 4 angles); each "
        "below the side of the patches measured (the crop, else the stored patches): checked at planning.",
    )
    radial_rings: int = Field(
        4,
        ge=1,
        le=32,
        description="Equal-width rings from the patch centre to its inscribed radius; each must hold a pixel "
        "of the patches measured (at most 10 on 16 px, 20 on 32 px, 30 on 48 px): checked at planning.",
    )
    batch_size: int = Field(256, ge=1, description="Patches read from the store at a time.")

    #: Every patch's features are measured on that patch alone: the patches read at a time change no
    #: value (tests/unit/test_baselines.py), so editing batch_size re-embeds nothing.
    RUN_KEYS: ClassVar[tuple[str, ...]] = ("batch_size",)

    @field_validator("intensity_percentiles")
    @classmethod
    def _percentiles_in_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= p <= 100.0 for p in value):
            raise ValueError(f"intensity_percentiles must lie in [0, 100], e.g. [5, 50, 95]; got {value}")
        return value

    @field_validator("crop_size_yx_px")
    @classmethod
    def _measurable_crop(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) < 2:
            raise ValueError(
                f"crop_size_yx_px: expected two pixel counts of at least 2 each (the smallest patch with a "
                f"pixel pair 1 px apart along Y and X), e.g. [24, 24], found {list(value)}"
            )
        return value

    @field_validator("texture_distances_px")
    @classmethod
    def _positive_distances(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or min(value) < 1:
            raise ValueError(f"texture_distances_px must be positive pixel offsets, e.g. [1, 2]; got {value}")
        return value


#: The grey-level co-occurrence statistics of each channel of the engineered features.
GLCM_PROPERTIES: tuple[str, ...] = ("contrast", "homogeneity", "energy", "correlation")


def ring_labels(height: int, width: int, n_rings: int) -> np.ndarray:
    """``(Y, X)`` ring index of each pixel (``-1`` outside the inscribed circle): ``n_rings`` equal-width
    rings from the centre of a ``height x width`` image out to its inscribed radius ``min(Y, X) / 2``."""
    y, x = np.mgrid[:height, :width]
    radius = np.hypot(y - (height - 1) / 2, x - (width - 1) / 2)
    edge = min(height, width) / 2
    ring = np.floor(radius / edge * n_rings).astype(np.int64)
    ring[radius >= edge] = -1
    return ring


def _empty_rings(height: int, width: int, n_rings: int) -> list[int]:
    """The rings of :func:`ring_labels` that hold no pixel centre (narrower than a pixel)."""
    held = set(np.unique(ring_labels(height, width, n_rings)).tolist())
    return [k for k in range(n_rings) if k not in held]


def engineered_features_misfit(
    config: EngineeredFeaturesConfig, height: int, width: int, measured: str
) -> str:
    """Why ``config`` cannot be measured on ``height x width`` px patches (``measured`` says which: a crop
    or a store's patches), empty where it can.

    A ring of ``radial_rings`` that holds no pixel (rings narrower than a pixel, on a small patch) has
    no mean: its column was 0 for every cell. A ``texture_distances_px`` offset not below the patch's
    side has no pixel pair at 0 or 90 degrees: those angles' co-occurrence matrices were empty (contrast,
    homogeneity and energy 0, correlation 1), averaged into the offset's four columns (every cell the same
    where no angle has a pair). Both came out of the embed job with exit 0."""
    problems = []
    larger = "a larger crop" if measured.startswith("crop") else "larger patches"
    empty = _empty_rings(height, width, config.radial_rings)
    if empty:
        # every count up to this one gives each ring pixels (counts above can, then fail again)
        fitting = next(n for n in range(1, config.radial_rings + 1) if _empty_rings(height, width, n)) - 1
        problems.append(
            f"analysis.engineered_features.radial_rings: expected rings that each hold a pixel of the "
            f"{height} x {width} px {measured}, found {config.radial_rings}, whose rings {empty} are "
            f"narrower than a pixel and hold none (their columns would be 0 for every cell); "
            + (f"use at most {fitting}, or {larger}" if fitting >= 1 else f"use {larger}")
        )
    side = min(height, width)
    far = [d for d in config.texture_distances_px if d >= side]
    if far:
        problems.append(
            f"analysis.engineered_features.texture_distances_px: expected offsets below the {side} px side "
            f"of the {height} x {width} px {measured} (no pixel pair lies that far apart along it, so the "
            f"co-occurrence matrix of its angle, 0 or 90 degrees, would be empty), found {far}; "
            + (f"use offsets up to {side - 1}, or {larger}" if side > 1 else f"use {larger}")
        )
    return "; ".join(problems)


def feature_names(channel_names: Sequence[str], config: EngineeredFeaturesConfig) -> list[str]:
    """Names of the engineered features of patches of ``channel_names``, in column order
    (:mod:`dynaclr.baselines.engineered`); here so that the config knows their number without
    importing what computes them."""
    names: list[str] = []
    for channel in channel_names:
        names.append(f"{channel}_area_px")
        names += [f"{channel}_mean", f"{channel}_std"]
        names += [f"{channel}_p{q:g}" for q in config.intensity_percentiles]
        names += [
            f"{channel}_glcm_{prop}_d{d}" for d in config.texture_distances_px for prop in GLCM_PROPERTIES
        ]
        names += [f"{channel}_ring{k}" for k in range(config.radial_rings)]
    return names


def embedding_stage_config(model: str, raw: dict[str, Any]) -> EmbeddingConfig | EngineeredFeaturesConfig:
    """The ``embed`` rule's config of ``model``: ``analysis.engineered_features`` for that
    baseline, ``analysis.embeddings`` for every encoder (validated)."""
    if model_kind(model) == "engineered_features":
        return EngineeredFeaturesConfig.model_validate(raw)
    return EmbeddingConfig.model_validate(raw)
