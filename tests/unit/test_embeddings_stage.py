"""Rule-level embedding runners: trained, random-weights and engineered-features embeddings of one
collected patch store, and the projections rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import build_patch_store, train_model

from dynaclr.baselines import random_encoder
from dynaclr.config.embeddings import EmbeddingConfig, EngineeredFeaturesConfig, ProjectionConfig, model_kind
from dynaclr.config.patches import PatchSpec
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive import ContrastiveEncoder
from dynaclr.contrastive.augment import center_crop
from dynaclr.embeddings import (
    EmbedInputs,
    EmbedOutputs,
    build_anndata,
    read_embeddings,
    read_embeddings_provenance,
    write_embeddings,
)
from dynaclr.embeddings.projections import (
    ProjectionInputs,
    ProjectionOutputs,
    explained_variance_ratio,
    project_matrix,
    projection_stage,
    projection_table,
    read_projections,
)
from dynaclr.embeddings.stage import embed_stage
from dynaclr.io import ArtifactError, ArtifactKind, config_hash, make_provenance
from dynaclr.io.weights import state_dict_sha256
from dynaclr.patches import open_patch_store
from dynaclr.pseudotime.synthetic import planted_infection_embeddings
from dynaclr.training import load_contrastive_model, read_contrastive_checkpoint
from dynaclr.training.imported import ImportModelInputs, ImportModelOutputs

SPEC = PatchSpec.model_validate(
    {
        "name": "tiny",
        "channels": [
            {"source": "raw", "channel": "Brightfield", "normalization": "zscore"},
            {"source": "raw", "channel": "ViralSensor", "normalization": "median_p99"},
        ],
        "z_window_slices": 3,
        "patch_size_yx_px": 32,
    }
)


#: The config of the model trained once for these tests, as the workflow names it: "time_aware".
MODEL_CONFIG = {
    "patch_spec": "tiny",
    "sampling": "time_aware",
    "tau_frames": 1,
    "loss": "ntxent",
    "backbone": "convnext_atto",
    "batch_size": 4,
    "num_workers": 0,
    "validation_fovs": ["A/1/0"],
    "seed": 5,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def store_and_model(tiny_plate: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny plate's collected patch store and a contrastive model trained for one step on it."""
    out = tmp_path_factory.mktemp("embed_stage")
    build_patch_store({"raw": tiny_plate["plate"]}, tiny_plate["tracks"], SPEC, out)
    train_model(
        out / "tiny.zarr",
        out / "tiny.parquet",
        MODEL_CONFIG,
        out / "model",
        fast_dev_run=True,
        model_name="time_aware",
    )
    return {
        "zarr": out / "tiny.zarr",
        "parquet": out / "tiny.parquet",
        "checkpoint": out / "model" / "model.ckpt",
    }


def _embed(
    store_and_model: dict[str, Path],
    model: str,
    output: Path,
    config: EmbeddingConfig | EngineeredFeaturesConfig,
    **expected: str | None,
) -> Path:
    embed_stage(
        config,
        EmbedInputs(
            patches_zarr=store_and_model["zarr"],
            patches_parquet=store_and_model["parquet"],
            checkpoint=None if model == "engineered_features" else store_and_model["checkpoint"],
        ),
        EmbedOutputs(embeddings=output),
        model=model,
        dataset="tiny",
        partial_store=partial_of(output),
        **expected,
    )
    return output


def partial_of(output: Path) -> Path:
    return output.with_name(f".{output.name}.partial")


def test_model_kind_of_names():
    assert model_kind("random_weights") == "random_weights"
    assert model_kind("engineered_features") == "engineered_features"
    assert model_kind("time_aware_ntxent") == "contrastive"


def test_trained_model_embeds_every_patch_at_its_training_crop(store_and_model, tmp_path):
    output = _embed(
        store_and_model, "time_aware", tmp_path / "time_aware" / "tiny.zarr", EmbeddingConfig(batch_size=16)
    )
    store = open_patch_store(store_and_model["zarr"], store_and_model["parquet"])
    adata = read_embeddings(output)
    n_patches = store.array.shape[0]
    assert adata.X.shape == (n_patches, 320) and adata.obsm["X_projections"].shape[0] == n_patches
    pd.testing.assert_series_equal(
        adata.obs["track_id"].reset_index(drop=True), store.index["track_id"], check_names=False
    )
    assert adata.uns["dynaclr"]["model"] == "time_aware" and adata.uns["dynaclr"]["kind"] == "contrastive"
    provenance = read_embeddings_provenance(output)
    assert provenance.config["resolved_crop_size_yx_px"] == [32, 32]  # the training crop, not the 60 px store
    assert provenance.config["batch_size"] == 16
    assert [Path(record.path).name for record in provenance.inputs] == [
        "tiny.zarr",
        "tiny.parquet",
        "model.ckpt",
    ]
    assert not partial_of(output).exists()  # removed once the embeddings are written
    module, _ = load_contrastive_model(store_and_model["checkpoint"])
    first = torch.from_numpy(np.asarray(store.array[:4], dtype=np.float32))
    with torch.no_grad():
        expected = module(center_crop(first, 32)).numpy()
    np.testing.assert_allclose(adata.X[:4], expected, rtol=1e-4, atol=1e-5)
    # the weights it encoded with, by digest (imported classifiers are compared with it)

    weights = read_contrastive_checkpoint(store_and_model["checkpoint"]).encoder().state_dict()
    assert provenance.config["encoder_weights_sha256"] == state_dict_sha256(weights)
    # the input those weights read (classifiers fitted on another input are refused)
    assert provenance.config["input"] == {
        "channels": SPEC.channel_labels(),
        "normalize_per_time_point": False,
    }


def test_the_embed_stage_hashes_the_encoder_weights_once(store_and_model, tmp_path, monkeypatch):
    """The digest rule embed records and the partial store's fingerprint (its resume identity) are
    one hashing of the weights (before: two, 0.3-0.6 s each for a ConvNeXt), and the fingerprint is
    that digest shortened, as when encode_patches takes it itself."""
    import dynaclr.embeddings.inference as inference
    import dynaclr.io.weights as weights_module

    hashed = []

    def counting(state):
        hashed.append(len(state))
        return state_dict_sha256(state)

    monkeypatch.setattr(weights_module, "state_dict_sha256", counting)
    monkeypatch.setattr(inference, "state_dict_sha256", counting)
    fingerprints = []
    open_partial = inference._open_partial
    monkeypatch.setattr(
        inference,
        "_open_partial",
        lambda path, fp, resume: fingerprints.append(fp) or open_partial(path, fp, resume),
    )
    output = _embed(store_and_model, "time_aware", tmp_path / "once.zarr", EmbeddingConfig(batch_size=64))
    assert len(hashed) == 1
    digest = read_embeddings_provenance(output).config["encoder_weights_sha256"]
    encoder = read_contrastive_checkpoint(store_and_model["checkpoint"]).encoder()
    assert fingerprints[0]["encoder"] == digest[:16] == inference.encoder_fingerprint(encoder)


def test_the_embed_stage_fingerprints_the_patch_store_it_reads(store_and_model, tmp_path, monkeypatch):
    """The partial store's resume identity names the patch store (its provenance's config hash and
    creation time): a job killed, then its store rebuilt (same shape and cells, other values), starts
    again instead of resuming into rows of the old patches."""
    import dynaclr.embeddings.inference as inference

    fingerprints = []
    open_partial = inference._open_partial
    monkeypatch.setattr(
        inference,
        "_open_partial",
        lambda path, fp, resume: fingerprints.append(fp) or open_partial(path, fp, resume),
    )
    _embed(store_and_model, "time_aware", tmp_path / "source.zarr", EmbeddingConfig(batch_size=64))
    patches = open_patch_store(store_and_model["zarr"], store_and_model["parquet"])
    recorded = patches.provenance
    assert fingerprints[0]["patches_source"] == f"{recorded.config_hash} {recorded.created}"
    assert fingerprints[0]["patches"] == inference.patches_fingerprint(patches.array)


def test_random_weights_copy_the_architecture_and_seed_of_the_trained_model(store_and_model, tmp_path):
    config = EmbeddingConfig(batch_size=32)
    output = _embed(store_and_model, "random_weights", tmp_path / "random.zarr", config)
    trained = _embed(store_and_model, "time_aware", tmp_path / "trained.zarr", config)
    random_x, trained_x = read_embeddings(output).X, read_embeddings(trained).X
    assert random_x.shape == trained_x.shape
    assert not np.allclose(random_x, trained_x)  # not the trained weights
    store = open_patch_store(store_and_model["zarr"], store_and_model["parquet"])
    encoder = random_encoder(
        seed=5, backbone="convnext_atto", in_channels=2, in_stack_depth=3, projection_dim=32
    )
    first = torch.from_numpy(np.asarray(store.array[:4], dtype=np.float32))
    with torch.no_grad():
        expected, _ = encoder(center_crop(first, 32))
    np.testing.assert_allclose(random_x[:4], expected.numpy(), rtol=1e-4, atol=1e-5)
    again = _embed(store_and_model, "random_weights", tmp_path / "again.zarr", config)
    np.testing.assert_array_equal(read_embeddings(again).X, random_x)  # seeded
    digests = [
        read_embeddings_provenance(p).config["encoder_weights_sha256"] for p in (output, again, trained)
    ]
    assert digests[0] == digests[1] == state_dict_sha256(encoder.state_dict()) != digests[2]


def test_engineered_features_of_the_same_store(store_and_model, tmp_path):
    config = EngineeredFeaturesConfig(radial_rings=2, texture_distances_px=(1,))
    output = _embed(store_and_model, "engineered_features", tmp_path / "features.zarr", config)
    adata = read_embeddings(output)
    assert adata.n_obs == open_patch_store(store_and_model["zarr"], store_and_model["parquet"]).array.shape[0]
    assert adata.var_names[0].startswith("raw:Brightfield_")
    assert "X_standardized" not in adata.obsm and np.isfinite(adata.X).all()
    assert read_embeddings_provenance(output).config["input"]["channels"] == SPEC.channel_labels()
    assert adata.layers["raw"].shape == adata.X.shape
    np.testing.assert_allclose(adata.X.mean(axis=0), 0, atol=1e-5)  # X is z-scored
    # obs carries what a user filters on: the well's condition and the time in minutes (30 min frames)
    assert adata.obs.groupby("well")["condition"].unique().map(list).to_dict() == {
        "A/1": ["mock"],
        "B/1": ["infected"],
    }
    np.testing.assert_array_equal(adata.obs["time_minutes"].to_numpy(), adata.obs["t"].to_numpy() * 30.0)


def test_embed_stage_errors_name_the_fix(store_and_model, tmp_path):
    files = EmbedInputs(patches_zarr=store_and_model["zarr"], patches_parquet=store_and_model["parquet"])
    output = EmbedOutputs(embeddings=tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="checkpoint"):
        embed_stage(
            EmbeddingConfig(),
            files,
            output,
            model="random_weights",
            dataset="tiny",
            partial_store=tmp_path / "p",
        )
    with pytest.raises(TypeError, match="EngineeredFeaturesConfig"):
        embed_stage(
            EmbeddingConfig(),
            files,
            output,
            model="engineered_features",
            dataset="tiny",
            partial_store=tmp_path,
        )
    with pytest.raises(TypeError, match="EmbeddingConfig"):
        embed_stage(
            EngineeredFeaturesConfig(),
            files,
            output,
            model="time_aware",
            dataset="tiny",
            partial_store=tmp_path,
        )
    assert not (tmp_path / "x.zarr").exists()


def test_embedding_refuses_a_checkpoint_of_another_model_or_config(store_and_model, tmp_path):
    """model.ckpt records the model's name; the rule says which model (and config) it expects."""
    config = EmbeddingConfig(batch_size=64)
    trained_hash = config_hash(ContrastiveModelConfig.model_validate(MODEL_CONFIG).job_params())
    checkpoint = store_and_model["checkpoint"]
    with pytest.raises(ArtifactError) as raised:
        _embed(store_and_model, "classical", tmp_path / "c.zarr", config, checkpoint_model="classical")
    message = str(raised.value)
    assert f"{checkpoint}: holds model 'time_aware', expected model 'classical'" in message
    assert f"`snakemake --forcerun {checkpoint}`" in message
    with pytest.raises(ArtifactError, match=r"made with train_contrastive config hash \w+, expected 0123"):
        _embed(
            store_and_model,
            "time_aware",
            tmp_path / "t.zarr",
            config,
            checkpoint_model="time_aware",
            checkpoint_config_hash="0123456789abcdef",
        )
    assert not (tmp_path / "c.zarr").exists() and not (tmp_path / "t.zarr").exists()
    # the random-weights baseline copies the reference model's architecture: its checkpoint is that model's
    random = _embed(
        store_and_model,
        "random_weights",
        tmp_path / "r.zarr",
        config,
        checkpoint_model="time_aware",
        checkpoint_config_hash=trained_hash,
    )
    assert read_embeddings(random).n_obs > 0


def test_embedding_refuses_a_model_trained_on_other_patches(store_and_model, tmp_path):
    checkpoint = torch.load(store_and_model["checkpoint"], weights_only=True)
    patches = next(item for item in checkpoint["dynaclr"]["inputs"] if item["kind"] == "patches")
    patches["config_hash"] = "0123456789abcdef"  # as if trained before the spec changed
    stale = tmp_path / "stale" / "model.ckpt"
    stale.parent.mkdir()
    torch.save(checkpoint, stale)
    with pytest.raises(
        ArtifactError, match=r"trained on patches made with patch-spec config hash 0123456789abcdef"
    ):
        _embed({**store_and_model, "checkpoint": stale}, "time_aware", tmp_path / "x.zarr", EmbeddingConfig())


def test_a_trained_model_records_the_channels_it_learnt_from(store_and_model):
    """What rule import_model compares a patch spec with when the model.ckpt is used elsewhere."""
    trained = read_contrastive_checkpoint(store_and_model["checkpoint"])
    assert trained.input_channels == SPEC.channel_labels()
    assert trained.input_normalize_per_time_point is False


def test_the_input_of_a_channel_selection_records_each_channels_index_in_the_spec(store_and_model):
    """A pretrained backbone's input_channels select some of the spec's channels: the input rule embed
    records names each one's index in the spec's channels (the key a classifier's refusal names); the
    record of every channel is unchanged."""
    store = open_patch_store(store_and_model["zarr"], store_and_model["parquet"])
    labels = SPEC.channel_labels()
    assert store.model_input([1]) == {
        "channels": [labels[1]],
        "normalize_per_time_point": False,
        "channel_indices": [1],
    }
    assert store.model_input() == {"channels": labels, "normalize_per_time_point": False}


def test_embedding_refuses_patches_of_another_input_than_the_model_records(store_and_model, tmp_path):
    """The shapes alone let patches of the same number of channels through: the channels in another
    order, otherwise normalised, or normalised per time point (a store rebuilt since the model was
    imported). The input model.ckpt records is compared with the store's, naming both."""
    checkpoint = torch.load(store_and_model["checkpoint"], weights_only=True)
    labels = SPEC.channel_labels()
    for i, (summary, found) in enumerate(
        (
            ({"input_channels": labels[::-1]}, f"channels {labels}, expected {labels[::-1]}"),
            (
                {"input_channels": [labels[0], labels[1].replace("median_p99", "zscore")]},
                "raw:ViralSensor (zscore)']",
            ),
            ({"input_normalize_per_time_point": True}, "normalize_per_time_point False, expected True"),
        )
    ):
        other = tmp_path / f"other{i}" / "model.ckpt"
        other.parent.mkdir()
        torch.save({**checkpoint, "dynaclr_training": {**checkpoint["dynaclr_training"], **summary}}, other)
        with pytest.raises(ArtifactError, match="expected patches of the input") as refused:
            _embed(
                {**store_and_model, "checkpoint": other}, "time_aware", tmp_path / "x.zarr", EmbeddingConfig()
            )
        assert found in str(refused.value) and str(store_and_model["zarr"]) in str(refused.value)
        assert not (tmp_path / "x.zarr").exists()


def test_a_model_ckpt_an_earlier_version_imported_from_a_viscy_resnet_is_refused(
    store_and_model, tmp_path, monkeypatch
):
    """import_model now refuses a VisCy ResNet (VisCy keeps the maxpool dynaclr's encoder replaces);
    a model.ckpt an earlier version imported from one is not imported again by an upgrade, so rule
    embed refuses it too, instead of embedding with a network VisCy never ran."""
    import dynaclr.training.imported as imported

    config = ContrastiveModelConfig.model_validate(
        {"patch_spec": "tiny", "sampling": "classical", "backbone": "resnet18", "stem_kernel_z": 3}
    )
    encoder = ContrastiveEncoder(in_channels=2, in_stack_depth=3, **config.encoder_arguments())
    viscy_keys = {
        "input_stem.conv.": "model.stem.conv.",
        "backbone.": "model.encoder.",
        "projection.": "model.projection.",
    }
    state = {
        next(theirs + key[len(ours) :] for ours, theirs in viscy_keys.items() if key.startswith(ours)): tensor
        for key, tensor in encoder.state_dict().items()
    }
    torch.save({"state_dict": state}, tmp_path / "viscy_resnet.ckpt")
    outputs = ImportModelOutputs(
        checkpoint=tmp_path / "model" / "model.ckpt", config=tmp_path / "model" / "config.json"
    )
    with monkeypatch.context() as earlier_version:  # as imported before the refusal existed
        earlier_version.setattr(imported, "check_viscy_backbone", lambda *args, **kwargs: None)
        imported.import_model(
            config,
            "viscy",
            ImportModelInputs(checkpoint=tmp_path / "viscy_resnet.ckpt"),
            outputs,
            in_channels=2,
            in_stack_depth=3,
            patch_size_yx_px=32,
            model_name="viscy_resnet",
        )
    with pytest.raises(ArtifactError, match="max-pool") as refused:
        embed_stage(
            EmbeddingConfig(batch_size=64),
            EmbedInputs(
                patches_zarr=store_and_model["zarr"],
                patches_parquet=store_and_model["parquet"],
                checkpoint=outputs.checkpoint,
            ),
            EmbedOutputs(embeddings=tmp_path / "x.zarr"),
            model="viscy_resnet",
            dataset="tiny",
            partial_store=tmp_path / ".x.zarr.partial",
        )
    assert "imported from a VisCy checkpoint" in str(refused.value) and "'resnet18'" in str(refused.value)
    assert not (tmp_path / "x.zarr").exists()


def test_a_store_of_another_input_than_an_unstated_one_assumed_at_import_says_it_was_assumed(
    store_and_model, tmp_path
):
    """A VisCy or timm file states no per-time-point normalisation: import_model records the spec's,
    assumed (input_normalize_per_time_point_verified: false). A store of another setting is refused
    without claiming the network learnt from the recorded value: the message says it was assumed."""
    checkpoint = torch.load(store_and_model["checkpoint"], weights_only=True)
    assumed = {
        **checkpoint["dynaclr_training"],
        "checkpoint_format": "viscy",
        "input_normalize_per_time_point": True,
        "input_normalize_per_time_point_verified": False,
    }
    other = tmp_path / "viscy" / "model.ckpt"
    other.parent.mkdir()
    torch.save({**checkpoint, "dynaclr_training": assumed}, other)
    assert read_contrastive_checkpoint(other).input_normalize_per_time_point_verified is False
    with pytest.raises(ArtifactError, match="does not state its input") as refused:
        _embed({**store_and_model, "checkpoint": other}, "time_aware", tmp_path / "x.zarr", EmbeddingConfig())
    assert "normalize_per_time_point False, expected True" in str(refused.value)
    assert "than it learnt from" not in str(refused.value)


def test_a_model_embeds_another_datasets_store_made_with_another_storage_or_focus(store_and_model, tmp_path):
    """Another dataset's spec may differ in storage dtype, shard size or z_range (the dry run checks
    that it gives the model's input, spec_contract): its patch-spec hash is not the training store's,
    and that is no reason to refuse it."""
    checkpoint = torch.load(store_and_model["checkpoint"], weights_only=True)
    patches = next(item for item in checkpoint["dynaclr"]["inputs"] if item["kind"] == "patches")
    patches["config_hash"] = "0123456789abcdef"  # the training dataset's spec: float32, another z_range
    patches["path"] = str(tmp_path / "elsewhere" / "patches" / "phase_sensor.zarr")
    trained_elsewhere = tmp_path / "trained_elsewhere" / "model.ckpt"
    trained_elsewhere.parent.mkdir()
    torch.save(checkpoint, trained_elsewhere)
    output = _embed(
        {**store_and_model, "checkpoint": trained_elsewhere},
        "time_aware",
        tmp_path / "x.zarr",
        EmbeddingConfig(),
    )
    assert read_embeddings(output).n_obs > 0


def test_embedding_refuses_an_unnamed_or_truncated_checkpoint(store_and_model, tmp_path):
    checkpoint = torch.load(store_and_model["checkpoint"], weights_only=True)
    checkpoint["dynaclr_training"].pop("model_name")  # as another tool or an older dynaclr wrote it
    unnamed = tmp_path / "unnamed" / "model.ckpt"
    unnamed.parent.mkdir()
    torch.save(checkpoint, unnamed)
    truncated = tmp_path / "truncated" / "model.ckpt"
    truncated.parent.mkdir()
    truncated.write_bytes(store_and_model["checkpoint"].read_bytes()[:4096])
    for path, expected in (
        (unnamed, "does not record which model it is"),
        (truncated, "contrastive model cannot be read: the file is truncated or corrupt"),
    ):
        with pytest.raises(ArtifactError, match=expected) as raised:
            _embed(
                {**store_and_model, "checkpoint": path},
                "m",
                tmp_path / "x.zarr",
                EmbeddingConfig(),
                checkpoint_model="m",
            )
        assert f"`snakemake --forcerun {path}`" in str(raised.value)
        assert "weights_only=False" not in str(raised.value)


def test_projection_stage_writes_coordinates_with_its_config(tmp_path):
    features, index = planted_infection_embeddings(n_fovs=2, tracks_per_fov=4, n_frames=6, seed=1)
    embeddings = tmp_path / "features.zarr"
    identity = {"model": "planted", "dataset": "tiny"}
    write_embeddings(
        build_anndata(features, index, info=identity),
        embeddings,
        make_provenance(ArtifactKind.EMBEDDINGS, identity),
    )
    config = ProjectionConfig(n_components=3)
    output = tmp_path / "features.projections.zarr"
    written = projection_stage(
        config, ProjectionInputs(embeddings=embeddings), ProjectionOutputs(projections=output)
    )
    adata, provenance = read_projections(output)
    assert sorted(adata.obsm) == ["X_pca"] and adata.n_vars == 0
    table = projection_table(adata)
    assert [c for c in table.columns if c.startswith("pca_")] == ["pca_1", "pca_2", "pca_3"]
    assert provenance.config == ProjectionConfig(n_components=3).model_dump(mode="json")
    assert [(Path(record.path), record.kind) for record in provenance.inputs] == [(embeddings, "embeddings")]
    assert len(table) == read_embeddings(embeddings).n_obs == written.n_obs
    pd.testing.assert_frame_equal(table[["fov_name", "track_id", "t"]], index[["fov_name", "track_id", "t"]])
    expected, diagnostics = project_matrix(features, config)["pca"]
    np.testing.assert_allclose(table[["pca_1", "pca_2", "pca_3"]].to_numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(explained_variance_ratio(adata), diagnostics["variance_ratio"])


@pytest.mark.parametrize("model", ["time_aware", "random_weights"])
def test_a_store_of_another_depth_is_refused_naming_the_store_and_the_model(
    store_and_model, tiny_plate, tmp_path, model
):
    """Patches of 5 slices for a model trained on 3 (another dataset whose spec keeps all of its
    slices): refused naming both files (it failed inside the encoder's forward pass naming neither)."""
    deeper = SPEC.model_copy(update={"z_window_slices": 5})
    store = build_patch_store({"raw": tiny_plate["plate"]}, tiny_plate["tracks"], deeper, tmp_path / "deep")
    with pytest.raises(ValueError) as raised:
        _embed({**store_and_model, **store}, model, tmp_path / "x.zarr", EmbeddingConfig())
    message = str(raised.value)
    assert message.startswith(f"{store['zarr']}: expected patches of 2 channel(s) x 3 slice(s), the input of")
    assert str(store_and_model["checkpoint"]) in message and "found 2 x 5" in message
    assert not (tmp_path / "x.zarr").exists()


def _with_recorded_config(source: Path, target: Path, **changes: object) -> Path:
    """A copy of model.ckpt ``source`` whose recorded training config has ``changes``."""
    checkpoint = torch.load(source, weights_only=True)
    checkpoint["hyper_parameters"]["config"].update(changes)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, target)
    return target


def test_a_checkpoint_recording_negative_time_under_ntxent_is_read_without_it(store_and_model, tmp_path):
    """negative_time with loss: ntxent was accepted before session 26 (it changed nothing trained);
    the config refusal made every such model.ckpt unreadable (embed, import_model, distill, occlusion,
    classify) with a bare ValidationError naming no file. It is now read as the same model."""
    assert MODEL_CONFIG["loss"] == "ntxent"
    old = _with_recorded_config(
        store_and_model["checkpoint"], tmp_path / "old" / "model.ckpt", negative_time="same"
    )
    with pytest.raises(ValueError, match="negative_time: expected null with loss ntxent"):
        ContrastiveModelConfig.model_validate({**MODEL_CONFIG, "negative_time": "same"})  # new configs
    read = read_contrastive_checkpoint(old)
    assert read.config == read_contrastive_checkpoint(store_and_model["checkpoint"]).config
    assert read.config.negative_time is None
    module, _ = load_contrastive_model(old)
    assert module.config == read.config
    output = _embed(
        {**store_and_model, "checkpoint": old}, "time_aware", tmp_path / "x.zarr", EmbeddingConfig()
    )
    expected = _embed(store_and_model, "time_aware", tmp_path / "y.zarr", EmbeddingConfig())
    np.testing.assert_array_equal(
        np.asarray(read_embeddings(output).X), np.asarray(read_embeddings(expected).X)
    )


def test_a_checkpoint_recording_a_config_this_version_does_not_read_is_refused_naming_it(
    store_and_model, tmp_path
):
    bad = _with_recorded_config(
        store_and_model["checkpoint"], tmp_path / "bad" / "model.ckpt", loss="infonce"
    )
    for read in (read_contrastive_checkpoint, load_contrastive_model):
        with pytest.raises(ArtifactError) as raised:
            read(bad)
        message = str(raised.value)
        assert message.startswith(f"{bad}: the training config it records (hyper_parameters.config)")
        assert "loss" in message and "infonce" in message
        assert f"`snakemake --forcerun {bad}`" in message


def test_engineered_features_the_stored_patches_cannot_hold_are_refused_naming_the_store(
    store_and_model, tmp_path
):
    """The embed job's refusal of offsets the patches cannot hold named the key but no file."""
    config = EngineeredFeaturesConfig(texture_distances_px=(1, 500))
    with pytest.raises(ArtifactError) as raised:
        _embed(store_and_model, "engineered_features", tmp_path / "features.zarr", config)
    assert str(raised.value).startswith(
        f"{store_and_model['zarr']}: analysis.engineered_features.texture_distances_px: expected offsets "
        "below"
    )
    assert "found [500]" in str(raised.value)
