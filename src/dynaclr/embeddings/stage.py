"""Rule ``embed``: one call per job, whatever embeds the dataset.

Every model of the comparison goes through the same rule and the same output layout
(``results/embeddings/{model}/{dataset}.zarr``, :mod:`dynaclr.embeddings.store`). What embeds is
the model's kind (:func:`dynaclr.config.embeddings.model_kind`):

* ``contrastive``: a trained model (``results/models/{model}/model.ckpt``) encodes every patch,
  centre-cropped to its training crop unless the config names another crop;
* ``random_weights``: the architecture of a trained model (the checkpoint of the first model
  trained on the dataset) with seeded random weights, seed = that model's training seed, so the
  baseline is the same network before training (:func:`dynaclr.baselines.random_encoder`);
* ``engineered_features``: hand-engineered features of the same patches
  (:func:`dynaclr.baselines.engineered_features`), stored z-scored in ``X`` with the raw values in
  ``layers['raw']``.

A trained model's store records how far its training went (``training`` of its provenance config,
:func:`dynaclr.embeddings.store.training_state`): the results table and the report's first page
mark a model the ``max_minutes`` budget stopped before its epochs.

Before it embeds, an encoder's ``model.ckpt`` is checked to be the one the rule expects
(``checkpoint_model``, ``checkpoint_config_hash``) and, for a trained model, to have been trained on
patches of this store's spec: a checkpoint of another model, of an older config of this one, or of
other patches is refused with the command that rebuilds it.

This stage sits above both the encoders and the baselines: it reads the patch store, asks the
model's kind for a matrix, and writes the artifact. An encoder streams into a resumable partial
store the rule names (:func:`dynaclr.embeddings.encode_patches`), removed once the artifact is
written. Each kind imports only what it runs: torch and timm for a network, Lightning nowhere
(the checkpoint is read with :func:`dynaclr.training.read_contrastive_checkpoint`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anndata as ad

from dynaclr.config.embeddings import EmbeddingConfig, EngineeredFeaturesConfig, model_kind
from dynaclr.embeddings.store import PROJECTIONS_KEY, TRAINING_KEY, build_anndata, write_embeddings
from dynaclr.io import ArtifactError, ArtifactKind, StageFiles, make_provenance
from dynaclr.patches import PatchStore, open_patch_store

if TYPE_CHECKING:  # torch: imported for a network only
    from dynaclr.training.checkpoint import ContrastiveCheckpoint

logger = logging.getLogger(__name__)


class EmbedInputs(StageFiles):
    """Rule ``embed``: the dataset's patch store and index, and the checkpoint an encoder needs
    (the trained model, or the model whose architecture the random weights copy)."""

    patches_zarr: Path
    patches_parquet: Path
    checkpoint: Path | None = None


class EmbedOutputs(StageFiles):
    """Rule ``embed``: the embeddings store."""

    embeddings: Path


def embed_stage(
    config: EmbeddingConfig | EngineeredFeaturesConfig,
    inputs: EmbedInputs,
    outputs: EmbedOutputs,
    *,
    model: str,
    dataset: str,
    partial_store: str | Path,
    checkpoint_model: str | None = None,
    checkpoint_config_hash: str | None = None,
    sampling_check: Mapping[str, Any] | None = None,
) -> ad.AnnData:
    """Embed a dataset's patches with ``model`` (module docstring) and write the embeddings store.

    Args:
        config: :class:`EmbeddingConfig` for an encoder (``contrastive``, ``random_weights``),
            :class:`EngineeredFeaturesConfig` for ``engineered_features``.
        inputs, outputs: the rule's files.
        model, dataset: names recorded in ``uns['dynaclr']`` and the provenance.
        partial_store: where an encoder streams its rows, to resume after a stop.
        checkpoint_model: the model whose ``model.ckpt`` ``inputs.checkpoint`` must be: ``model``
            itself for a trained model, the reference model for ``random_weights`` (``None``: not
            checked).
        checkpoint_config_hash: hash of that model's training config (``None``: not checked).
        sampling_check: a model read from a file (rule ``import_model``): ``sampling``, the
            dataset's sampling (:func:`~dynaclr.config.transfer_checks.dataset_sampling`, JSON), and
            ``allow_other_scales``: the sampling ``model.ckpt`` records its weights learnt from is
            compared with it as ``import_model`` compares it
            (:func:`~dynaclr.training.imported.check_imported_sampling`); ``None``: not compared (a
            model trained here: the dry run compared its datasets). A copy recording
            ``training_sampling_verified: false`` (its file recorded no sampling; the import warned)
            is not compared, nor warned again.

    Raises:
        ArtifactError: ``inputs.checkpoint`` is unreadable, or not ``checkpoint_model``'s, or made
            with another training config, or (``sampling_check``) learnt from data sampled otherwise.

    Returns:
        The AnnData written. An encoder's matrices are never all in memory: they stream from the
        partial store into the output, and the returned ``X`` and ``obsm['X_projections']`` are
        the output's zarr arrays.
    """
    kind = model_kind(model)
    store = open_patch_store(inputs.patches_zarr, inputs.patches_parquet)
    store.require_patches(f"embeddings of {dataset} by {model}")
    recorded: list[Any] = [
        (inputs.patches_zarr, store.provenance),
        (inputs.patches_parquet, store.index_provenance),
    ]
    logger.info(
        "Embedding %s (%s) on %s: %d patches of shape %s",
        model,
        kind,
        dataset,
        store.array.shape[0],
        tuple(store.array.shape[1:]),
    )
    info = {"model": model, "dataset": dataset, "kind": kind}
    if kind == "engineered_features":
        if not isinstance(config, EngineeredFeaturesConfig):
            raise TypeError(f"{model} needs an EngineeredFeaturesConfig, got {type(config).__name__}")
        adata, recorded_config = _engineered(store, config, info)
    else:
        if not isinstance(config, EmbeddingConfig):
            raise TypeError(f"{model} ({kind}) needs an EmbeddingConfig, got {type(config).__name__}")
        if inputs.checkpoint is None:
            raise ValueError(f"{model} ({kind}) needs the checkpoint of a trained model (model.ckpt)")
        expected = (checkpoint_model, checkpoint_config_hash)
        adata, recorded_config, checkpoint_provenance = _encoded(
            store, config, inputs.checkpoint, Path(partial_store), info, expected, sampling_check
        )
        recorded.append((inputs.checkpoint, checkpoint_provenance))
    provenance_config = {
        **config.model_dump(mode="json"),
        **recorded_config,
        **info,
        "patch_spec": store.spec_name,  # the spec of `input` (named by classifiers fitted on another)
    }
    write_embeddings(
        adata, outputs.embeddings, make_provenance(ArtifactKind.EMBEDDINGS, provenance_config, recorded)
    )
    if kind != "engineered_features":  # its matrices read the partial store: read the output instead
        adata = _matrices_from(outputs.embeddings, adata)
    shutil.rmtree(partial_store, ignore_errors=True)
    return adata


def _matrices_from(store: Path, adata: ad.AnnData) -> ad.AnnData:
    """``adata`` with ``X`` and its projections the embeddings ``store``'s zarr arrays (read on use)."""
    import zarr

    group = zarr.open_group(str(store), mode="r")
    adata.X = group["X"]
    adata.obsm[PROJECTIONS_KEY] = group[f"obsm/{PROJECTIONS_KEY}"]
    return adata


def _engineered(
    store: PatchStore, config: EngineeredFeaturesConfig, info: dict[str, str]
) -> tuple[ad.AnnData, dict[str, Any]]:
    from dynaclr.baselines import engineered_features, feature_names, standardize_with_statistics

    raw = engineered_features(store.array, config, source=store.zarr_path)
    standardized, mean, std = standardize_with_statistics(raw)
    adata = build_anndata(
        standardized,
        store.index,
        raw=raw,
        raw_mean=mean,
        raw_std=std,
        info={
            **info,
            "representation_note": (
                "X = engineered features z-scored over all cells (constant features 0), "
                "layers['raw'] = raw values, var['raw_mean'], var['raw_std'] = mean and std used"
            ),
        },
    )
    adata.var_names = feature_names(store.channel_names, config)
    return adata, {"channel_names": store.channel_names, "input": store.model_input()}


def _check_learnt_input(trained: ContrastiveCheckpoint, checkpoint: Path, store: PatchStore) -> None:
    """The patches hold the input ``checkpoint`` records its weights learnt from (or, imported, were
    checked against at import): the channels in that order and normalisation, normalised per time
    point or not, where it records them. The shapes alone let channels in another order, or
    otherwise normalised, through: a patch store rebuilt since the model was imported, or given by
    hand."""
    found = store.model_input()
    expected = {
        "channels": (trained.input_channels, trained.input_channels_verified),
        "normalize_per_time_point": (
            trained.input_normalize_per_time_point,
            trained.input_normalize_per_time_point_verified,
        ),
    }
    differing = {
        key: f"{key} {found[key]}, expected {value}"
        for key, (value, _) in expected.items()
        if value is not None and found[key] != value
    }
    if not differing:
        return
    if all(not expected[key][1] for key in differing):  # the file states none: assumed at import
        raise ArtifactError(
            f"{store.zarr_path}: expected patches of the input {checkpoint} was imported for, found "
            + "; ".join(differing.values())
            + ": the file it was imported from does not state its input, so the patch spec's at import "
            "was assumed and recorded (input_channels_verified / input_normalize_per_time_point_verified: "
            "false), and this store's spec gives another; import it again for this spec (snakemake "
            f"--forcerun {checkpoint}) after checking the model's documentation, or embed a store of "
            "the spec it was imported for"
        )
    raise ArtifactError(
        f"{store.zarr_path}: expected patches of the input {checkpoint} records, found "
        + "; ".join(differing.values())
        + ": the network would read other signals, or values normalised otherwise, than it learnt "
        "from; embed a store whose patch spec gives the model's channels in its order and "
        "normalisation (a model imported before the spec changed: import it again, snakemake "
        f"--forcerun {checkpoint})"
    )


def _encoded(
    store: PatchStore,
    config: EmbeddingConfig,
    checkpoint: Path,
    partial_store: Path,
    info: dict[str, str],
    expected: tuple[str | None, str | None],
    sampling_check: Mapping[str, Any] | None,
) -> tuple[ad.AnnData, dict[str, Any], Any]:
    from dynaclr.baselines import random_encoder  # torch and timm: imported for a network only
    from dynaclr.embeddings.inference import encode_patches
    from dynaclr.io.weights import state_dict_sha256
    from dynaclr.training import read_contrastive_checkpoint
    from dynaclr.training.checkpoint import check_checkpoint_identity, check_trained_on
    from dynaclr.training.imported import (
        check_imported_sampling,
        check_timm_network,
        check_viscy_backbone,
        timm_source,
    )

    trained = read_contrastive_checkpoint(checkpoint)
    if info["kind"] == "contrastive":
        check_trained_on(trained, checkpoint, store.provenance, store.zarr_path)
    expected_model, expected_config_hash = expected
    if expected_model is not None:
        check_checkpoint_identity(
            trained, checkpoint, expected_model=expected_model, expected_config_hash=expected_config_hash
        )
    # a copy whose file recorded no sampling was warned once, by import_model (in the file's own
    # terms: a VisCy or timm file learnt from no dataset of this workflow); nothing to compare here
    unrecorded = trained.training_sampling is None and trained.training_sampling_verified is False
    if sampling_check is not None and info["kind"] == "contrastive" and not unrecorded:
        check_imported_sampling(
            trained.training_sampling,
            {info["dataset"]: sampling_check["sampling"]},
            checkpoint,
            "dynaclr",
            trained.patch_size_yx_px,
            info["model"],
            trained.config.patch_spec,
            bool(sampling_check["allow_other_scales"]),
        )
    found = tuple(int(n) for n in store.array.shape[1:3])
    if found != (trained.in_channels, trained.in_stack_depth):
        raise ValueError(
            f"{store.zarr_path}: expected patches of {trained.in_channels} channel(s) x "
            f"{trained.in_stack_depth} slice(s), the input of {checkpoint}, found {found[0]} x {found[1]}; "
            "embed a store whose patch spec gives the model's input (the same channels and number of slices)"
        )
    if info["kind"] == "contrastive":
        _check_learnt_input(trained, checkpoint, store)
    architecture = trained.config
    if info["kind"] == "random_weights":
        encoder = random_encoder(seed=architecture.seed, **trained.encoder_arguments())
        logger.info(
            "Random weights: %s architecture of %s, seed %d",
            architecture.backbone,
            checkpoint,
            architecture.seed,
        )
    else:
        encoder = trained.encoder()
        if trained.imported_format == "viscy":  # imported before import_model refused a VisCy ResNet
            check_viscy_backbone(encoder, checkpoint, info["model"], imported_copy=True)
        if trained.imported_format == "timm":  # imported before import_model asked for the weights' tag
            check_timm_network(
                encoder,
                Path(checkpoint),
                info["model"],
                imported_copy=True,
                imported_from=timm_source(trained),
                recorded=trained.weights_read,
            )
    crop = config.crop_size_yx_px or (trained.patch_size_yx_px, trained.patch_size_yx_px)
    # the weights that encode, whatever config trained or imported them (taken before encoding: a
    # state the digest cannot read fails here, not after every patch): classifiers of an earlier run
    # (analysis.classification.imported) are compared with it
    weights_sha256 = state_dict_sha256(encoder.state_dict())
    features, projections = encode_patches(
        encoder,
        store.array,
        store.index,
        config,
        crop_size_yx=crop,
        partial_path=partial_store,
        lazy=True,
        weights_sha256=weights_sha256,  # the partial store's fingerprint: not hashed again
        where=f"{store.zarr_path} embedded with {checkpoint}",
        # the store's identity: a partial store of a killed job is not resumed over a store rebuilt since
        patches_source=f"{store.provenance.config_hash} {store.provenance.created}",
    )
    adata = build_anndata(
        features,
        store.index,
        projections=projections,
        info={**info, "representation_note": "X = backbone features, obsm['X_projections'] = head"},
    )
    recorded_config: dict[str, Any] = {
        "resolved_crop_size_yx_px": list(crop),
        "encoder_weights_sha256": weights_sha256,
        # the input those weights read here (classifiers fitted on another input are refused)
        "input": store.model_input(trained.channel_indices),
    }
    if info["kind"] == "contrastive":  # how far its training went (the report marks a partly trained one)
        recorded_config[TRAINING_KEY] = trained.training_state
    return adata, recorded_config, trained.provenance
