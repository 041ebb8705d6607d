"""Rules ``embed`` and ``project_embeddings``: one call per job, whatever kind of model embeds.

Every model of the comparison goes through the same rule and the same output layout
(``results/embeddings/{model}/{dataset}.zarr``, :mod:`dynaclr.embeddings.store`):

* ``contrastive``: a trained model (``results/models/{model}/model.ckpt``) encodes every patch,
  centre-cropped to its training crop unless the config names another crop;
* ``random_weights``: the architecture of a trained model (the checkpoint of the first model
  trained on the dataset) with seeded random weights, seed = that model's training seed, so the
  baseline is the same network before training;
* ``engineered_features``: hand-engineered features of the same patches
  (:func:`dynaclr.baselines.engineered_features`).

The contrastive and random-weights embeddings stream into a resumable partial store beside the
output (:func:`dynaclr.embeddings.embed_patches`); the engineered features are computed in one pass.
Each kind imports only what it runs: torch and timm for a network, Lightning nowhere (the
checkpoint is read with :func:`dynaclr.training.read_contrastive_checkpoint`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from dynaclr.config.embeddings import EmbeddingConfig, EngineeredFeaturesConfig, ProjectionConfig
from dynaclr.embeddings.projections import compute_projections
from dynaclr.patches import open_patch_store

logger = logging.getLogger(__name__)

ModelKind = Literal["contrastive", "random_weights", "engineered_features"]
MODEL_KINDS: tuple[ModelKind, ...] = ("contrastive", "random_weights", "engineered_features")


def model_kind(model: str) -> ModelKind:
    """The kind of a model name: a baseline's own name, ``contrastive`` for every other name.

    Model names never clash with baseline names (checked by
    :class:`dynaclr.config.WorkflowConfig`).
    """
    if model in ("random_weights", "engineered_features"):
        return model  # type: ignore[return-value]
    return "contrastive"


def embed_stage(
    kind: ModelKind,
    model: str,
    dataset: str,
    patches_zarr: str | Path,
    patches_parquet: str | Path,
    output_path: str | Path,
    config: EmbeddingConfig | EngineeredFeaturesConfig | Mapping[str, Any],
    checkpoint: str | Path | None = None,
    show_progress: bool = True,
) -> Path:
    """Embed a collected patch store with a model of ``kind`` (module docstring) into ``output_path``.

    Args:
        kind: ``'contrastive'``, ``'random_weights'`` or ``'engineered_features'``.
        model, dataset: names recorded in the AnnData's ``uns['dynaclr']`` and the provenance.
        patches_zarr, patches_parquet: the collected patch store ``(N, C, Z, Y, X)`` and its index.
        output_path: the embeddings store, ``results/embeddings/{model}/{dataset}.zarr``.
        config: :class:`EmbeddingConfig` (``contrastive``, ``random_weights``) or
            :class:`EngineeredFeaturesConfig` (``engineered_features``); a dict is validated.
        checkpoint: ``model.ckpt`` of the trained model (``contrastive``) or of the model whose
            architecture and seed the random encoder copies (``random_weights``); unused for
            ``engineered_features``.
        show_progress: tqdm progress bar over batches.

    Returns:
        ``output_path``.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {list(MODEL_KINDS)}, got {kind!r}")
    output_path = Path(output_path)
    store = open_patch_store(patches_zarr, patches_parquet)
    inputs: list[Any] = [(patches_zarr, store.provenance), (patches_parquet, store.index_provenance)]
    logger.info(
        "Embedding %s (%s) on %s: %d patches of shape %s",
        model,
        kind,
        dataset,
        store.array.shape[0],
        tuple(store.array.shape[1:]),
    )
    if kind == "engineered_features":
        from dynaclr.baselines import engineered_features

        features_config = EngineeredFeaturesConfig.model_validate(
            config.model_dump() if isinstance(config, EngineeredFeaturesConfig) else config
        )
        engineered_features(
            store.array,
            store.index,
            output_path,
            channel_names=store.channel_names,
            config=features_config,
            inputs=inputs,
            show_progress=show_progress,
        )
        return output_path
    embedding_config = EmbeddingConfig.model_validate(
        config.model_dump() if isinstance(config, EmbeddingConfig) else config
    )
    if checkpoint is None:
        raise ValueError(f"kind {kind!r} needs the checkpoint of a trained model (model.ckpt)")
    from dynaclr.baselines import random_encoder  # torch and timm: imported for a network only
    from dynaclr.embeddings import embed_patches
    from dynaclr.training import read_contrastive_checkpoint

    trained = read_contrastive_checkpoint(checkpoint)
    inputs.append((checkpoint, trained.provenance))
    architecture = trained.config
    if kind == "random_weights":
        encoder = random_encoder(seed=architecture.seed, **trained.encoder_arguments())
        logger.info(
            "Random weights: %s architecture of %s, seed %d",
            architecture.backbone,
            checkpoint,
            architecture.seed,
        )
    else:
        encoder = trained.encoder()
    crop = embedding_config.crop_size_yx_px or (trained.patch_size_yx_px, trained.patch_size_yx_px)
    provenance_config = {
        **embedding_config.model_dump(mode="json"),
        "kind": kind,
        "model": model,
        "dataset": dataset,
        "resolved_crop_size_yx_px": list(crop),
    }
    return embed_patches(
        encoder,
        store.array,
        store.index,
        output_path,
        batch_size=embedding_config.batch_size,
        device=embedding_config.device,
        crop_size_yx=crop,
        bf16_autocast=embedding_config.bf16_autocast,
        resume=embedding_config.resume,
        provenance_config=provenance_config,
        inputs=inputs,
        info={"model": model, "dataset": dataset, "kind": kind},
        show_progress=show_progress,
    )


def projection_stage(
    embeddings_path: str | Path,
    output_path: str | Path,
    config: ProjectionConfig | Mapping[str, Any] | None = None,
) -> Path:
    """Rule ``project_embeddings``: :func:`~dynaclr.embeddings.compute_projections` with a config.

    Args:
        embeddings_path: an embeddings store.
        output_path: Parquet table, the ``obs`` columns and ``{method}_1 .. {method}_k``.
        config: :class:`ProjectionConfig` (a dict is validated; default: PCA to 2-D).

    Returns:
        ``output_path``.
    """
    config = ProjectionConfig.model_validate(
        config.model_dump() if isinstance(config, ProjectionConfig) else (config or {})
    )
    compute_projections(
        embeddings_path,
        output_path,
        method=config.method,
        n_components=config.n_components,
        representation=config.representation,
        standardize=config.standardize,
        seed=config.seed,
        umap_n_neighbors=config.umap_n_neighbors,
        umap_min_distance=config.umap_min_distance,
        provenance_config=config.model_dump(mode="json"),
    )
    return Path(output_path)
