"""Models read from a file (rule import_model): VisCy checkpoints and this workflow's own model.ckpt.

The VisCy fixture (tests/data/viscy, made by tests/data/viscy/make_fixture.py in a throw-away
VisCy 0.4.1 environment) holds a Lightning checkpoint of VisCy's ContrastiveModule and what its
encoder computes on fixed patches: the imported model must compute the same, within 1e-5.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive.encoder import ContrastiveEncoder, DepthToChannelStem
from dynaclr.io import ArtifactError
from dynaclr.training.checkpoint import check_checkpoint_identity, read_contrastive_checkpoint
from dynaclr.training.imported import ImportModelInputs, ImportModelOutputs, import_model

FIXTURE = Path(__file__).parents[1] / "data" / "viscy"
CHECKPOINT = FIXTURE / "contrastive_test_convnext.ckpt"


def viscy_config(**changes: object) -> ContrastiveModelConfig:
    """The fixture's architecture: test_convnext, stem (5, 4, 4), projection 16 ending in BatchNorm."""
    fields = {
        "patch_spec": "phase_sensor",
        "sampling": "classical",
        "backbone": "test_convnext",
        "stem_kernel_z": 5,
        "projection_dim": 16,
        "projection_norm": True,
    }
    return ContrastiveModelConfig.model_validate({**fields, **changes})


def patches() -> torch.Tensor:
    """make_fixture.patches(): the same numbers (numpy's PCG64 stream is stable across versions)."""
    return torch.from_numpy(np.random.default_rng(0).standard_normal((6, 2, 5, 48, 48)).astype(np.float32))


#: The fixture's input as a patch spec gives it (PatchSpec.channel_labels).
CHANNELS = ["phase:Phase3D (zscore)", "raw:ViralSensor (median_p99)"]


def run_import(
    tmp_path: Path,
    config: ContrastiveModelConfig,
    source: Path = CHECKPOINT,
    fmt: str = "viscy",
    channels: list[str] | None = None,
    patch_size_yx_px: int = 48,
    normalize_per_time_point: bool | None = None,
    in_stack_depth: int = 5,
    embedded_sampling: dict[str, dict[str, Any]] | None = None,
):
    outputs = ImportModelOutputs(checkpoint=tmp_path / "model.ckpt", config=tmp_path / "config.json")
    import_model(
        config,
        fmt,  # type: ignore[arg-type]
        ImportModelInputs(checkpoint=source),
        outputs,
        in_channels=2,
        in_stack_depth=in_stack_depth,
        patch_size_yx_px=patch_size_yx_px,
        model_name="reference",
        channels=channels,
        normalize_per_time_point=normalize_per_time_point,
        embedded_sampling=embedded_sampling,
    )
    return outputs


def test_a_viscy_checkpoint_embeds_as_viscy_does(tmp_path: Path) -> None:
    outputs = run_import(tmp_path, viscy_config())
    model = read_contrastive_checkpoint(outputs.checkpoint)
    check_checkpoint_identity(model, outputs.checkpoint, expected_model="reference")
    reference = np.load(FIXTURE / "reference.npz")
    with torch.no_grad():
        features, projections = model.encoder()(patches())
    assert features.shape == (6, 64) and projections.shape == (6, 16)
    np.testing.assert_allclose(features.numpy(), reference["features"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(projections.numpy(), reference["projections"], atol=1e-5, rtol=0)
    assert model.provenance.inputs[0].path == str(CHECKPOINT)
    assert model.provenance.stage == "import_model"
    assert outputs.config.exists()


def test_depth_is_folded_into_channels_in_viscys_order() -> None:
    reference = np.load(FIXTURE / "reference.npz")
    stem = DepthToChannelStem(in_channels=2, in_stack_depth=10, stem_kernel_z=5, out_channels=24)
    stem.conv.load_state_dict(
        {
            "weight": torch.from_numpy(reference["stem_weight"]),
            "bias": torch.from_numpy(reference["stem_bias"]),
        }
    )
    with torch.no_grad():
        output = stem(torch.from_numpy(reference["stem_input"]))
    np.testing.assert_allclose(output.numpy(), reference["stem_output"], atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("changes", "first_key"),
    [
        ({"projection_dim": 32}, "'projection.3.weight' has shape (16, 64) in the file, (32, 64)"),
        ({"projection_norm": False}, "'projection.4.weight' is in the file but not in the encoder"),
        ({"stem_kernel_z": 1}, "'input_stem.conv.weight' has shape (24, 2, 5, 4, 4)"),
        ({"backbone": "convnext_atto"}, "'input_stem.conv.weight' has shape (24, 2, 5, 4, 4)"),
    ],
    ids=["projection_dim", "projection_norm", "stem_kernel_z", "backbone"],
)
def test_a_checkpoint_that_does_not_fit_names_the_first_mismatching_key(
    tmp_path: Path, changes: dict[str, object], first_key: str
) -> None:
    with pytest.raises(ArtifactError, match="first mismatching key") as error:
        run_import(tmp_path, viscy_config(**changes))
    assert first_key in str(error.value)
    assert "set contrastive_models.reference.training" in str(error.value)  # the model's own key
    assert not (tmp_path / "model.ckpt").exists()


def test_a_viscy_checkpoint_of_a_resnet_is_refused_not_run_without_its_max_pool(tmp_path: Path) -> None:
    """VisCy's ContrastiveEncoder keeps a ResNet's stride-2 maxpool after its stem, dynaclr's replaces
    it: a VisCy file of a ResNet (here in VisCy's key layout, every tensor of the configured encoder)
    loaded key for key and embedded with exit 0, its features off VisCy's (cosine 0.8-0.9)."""
    config = viscy_config(backbone="resnet18", projection_dim=16)
    encoder = ContrastiveEncoder(in_channels=2, in_stack_depth=5, **config.encoder_arguments())
    ours_to_viscy = {
        "input_stem.conv.": "model.stem.conv.",
        "backbone.": "model.encoder.",
        "projection.": "model.projection.",
    }
    state = {
        next(
            viscy + key[len(ours) :] for ours, viscy in ours_to_viscy.items() if key.startswith(ours)
        ): tensor
        for key, tensor in encoder.state_dict().items()
    }
    torch.save({"state_dict": state}, tmp_path / "viscy_resnet.ckpt")
    with pytest.raises(ArtifactError, match="max-pool") as error:
        run_import(tmp_path / "out", config, source=tmp_path / "viscy_resnet.ckpt")
    assert "'resnet18', a ResNet" in str(error.value) and "contrastive_models.reference" in str(error.value)
    assert not (tmp_path / "out" / "model.ckpt").exists()
    # a model.ckpt an earlier version imported from it (the upgrade does not import it again) is
    # refused when imported again in the dynaclr format, as rule embed refuses it
    import dynaclr.training.imported as imported

    with pytest.MonkeyPatch.context() as earlier_version:
        earlier_version.setattr(imported, "check_viscy_backbone", lambda *args, **kwargs: None)
        earlier = run_import(tmp_path / "earlier", config, source=tmp_path / "viscy_resnet.ckpt")
    with pytest.raises(ArtifactError, match=r"imported from a VisCy checkpoint .* by an earlier version"):
        run_import(tmp_path / "again", config, source=earlier.checkpoint, fmt="dynaclr")


def test_a_dynaclr_model_ckpt_imports_with_the_same_weights(tmp_path: Path) -> None:
    first = run_import(tmp_path / "first", viscy_config())
    copied = run_import(tmp_path / "second", viscy_config(), source=first.checkpoint, fmt="dynaclr")
    a, b = read_contrastive_checkpoint(first.checkpoint), read_contrastive_checkpoint(copied.checkpoint)
    assert a.encoder_state.keys() == b.encoder_state.keys()
    assert all(torch.equal(a.encoder_state[k], b.encoder_state[k]) for k in a.encoder_state)
    assert b.provenance.inputs[0].kind == "contrastive_model"


def test_a_model_ckpt_is_refused_for_a_spec_of_other_channels_or_size(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another number of channels, another normalisation at a position, a smaller patch: refused.
    Other names or sources at a position (a renamed channel): warned, accepted. A larger patch:
    accepted, the trained size recorded (embedding centre-crops to it)."""
    first = run_import(tmp_path / "first", viscy_config(), channels=CHANNELS)
    assert read_contrastive_checkpoint(first.checkpoint).input_channels == CHANNELS
    again = run_import(tmp_path / "again", viscy_config(), first.checkpoint, "dynaclr", channels=CHANNELS)
    assert read_contrastive_checkpoint(again.checkpoint).input_channels == CHANNELS
    renamed = ["raw:Phase3D (zscore)", "raw:GFP (median_p99)"]
    with caplog.at_level("WARNING", logger="dynaclr.training.imported"):
        kept = run_import(tmp_path / "renamed", viscy_config(), first.checkpoint, "dynaclr", channels=renamed)
    assert read_contrastive_checkpoint(kept.checkpoint).input_channels == renamed
    assert any(str(CHANNELS) in r.getMessage() and str(renamed) in r.getMessage() for r in caplog.records)
    with pytest.raises(ArtifactError, match=r"the same channels in another order"):
        run_import(tmp_path / "other", viscy_config(), first.checkpoint, "dynaclr", channels=CHANNELS[::-1])
    same_normalisation = [label.replace("median_p99", "zscore") for label in CHANNELS]
    swapped = run_import(tmp_path / "swap", viscy_config(), channels=same_normalisation)
    with pytest.raises(ArtifactError, match=r"the same channels in another order"):  # normalised alike
        run_import(
            tmp_path / "other", viscy_config(), swapped.checkpoint, "dynaclr", same_normalisation[::-1]
        )
    # one channel kept, at another position, beside a renamed one (normalised alike): no renaming
    # explains it, so it is refused as the order is
    fluorescence = ["raw:GFP (median_p99)", "raw:Nuclei (median_p99)"]
    two_markers = run_import(tmp_path / "markers", viscy_config(), channels=fluorescence)
    with pytest.raises(
        ArtifactError,
        match=r"channel 'Nuclei' at position 1, where the patch spec .* found a model trained on it at "
        r"position 2 .* or give a channel the model's `name:`",
    ):
        moved = ["raw:Nuclei (median_p99)", "raw:mCherry (median_p99)"]
        run_import(tmp_path / "other", viscy_config(), two_markers.checkpoint, "dynaclr", channels=moved)
    with pytest.raises(ArtifactError, match=r"channel \d is normalised otherwise"):
        channels = ["phase:Phase3D (zscore)", "raw:ViralSensor (zscore)"]
        run_import(tmp_path / "other", viscy_config(), first.checkpoint, "dynaclr", channels=channels)
    with pytest.raises(
        ArtifactError,
        match=r"the 3 channels of the patch spec named by contrastive_models\.reference\..*"
        r"found a model trained on 2",
    ):
        run_import(
            tmp_path / "other", viscy_config(), first.checkpoint, "dynaclr", [*CHANNELS, "raw:Other (zscore)"]
        )
    with pytest.raises(ArtifactError, match=r"patches of at most 32 px .* found 48 px"):
        run_import(
            tmp_path / "other", viscy_config(), first.checkpoint, "dynaclr", CHANNELS, patch_size_yx_px=32
        )
    assert not (tmp_path / "other" / "model.ckpt").exists()
    larger = run_import(
        tmp_path / "larger", viscy_config(), first.checkpoint, "dynaclr", CHANNELS, patch_size_yx_px=64
    )
    assert read_contrastive_checkpoint(larger.checkpoint).patch_size_yx_px == 48


def test_a_model_ckpt_is_refused_for_a_spec_of_another_depth_naming_the_slices(tmp_path: Path) -> None:
    """A model.ckpt records the slices of its training patches (training_sampling); a spec of another
    depth (a 10-slice window for a 5-slice model, another lab's z stack) is refused naming the spec's
    z_window_slices and both depths, not by the first stem tensor's shape."""
    first = run_import(tmp_path / "first", viscy_config(), channels=CHANNELS)
    checkpoint = torch.load(first.checkpoint, weights_only=False)
    record = {"dataset": "lab_a", "pixel_size_um": 0.65, "z_step_um": 2.0, "time_interval_minutes": 30.0}
    checkpoint["dynaclr_training"]["training_sampling"] = [{**record, "slices": 5}]
    torch.save(checkpoint, first.checkpoint)
    with pytest.raises(
        ArtifactError,
        match=r"expected a model trained on patches of 10 slices \(the patch spec named by "
        r"contrastive_models\.reference\.training\.patch_spec: its z_window_slices or z_range\), found a "
        r"model trained on 5 slices \(dataset lab_a\).*z_window_slices: 5",
    ):
        run_import(
            tmp_path / "other", viscy_config(), first.checkpoint, "dynaclr", CHANNELS, in_stack_depth=10
        )
    again = run_import(tmp_path / "again", viscy_config(), first.checkpoint, "dynaclr", CHANNELS)
    assert read_contrastive_checkpoint(again.checkpoint).training_sampling[0]["slices"] == 5


def test_a_model_ckpt_recording_no_sampling_is_refused_for_another_depth_by_its_in_stack_depth(
    tmp_path: Path,
) -> None:
    """Every model.ckpt records the depth its network takes (hyper_parameters.in_stack_depth), also
    one imported from a VisCy file, which records no training datasets: a spec of another depth is
    refused naming both depths, not by the first stem tensor's shape."""
    first = run_import(tmp_path / "first", viscy_config(), channels=CHANNELS)
    assert read_contrastive_checkpoint(first.checkpoint).training_sampling is None
    with pytest.raises(
        ArtifactError,
        match=r"expected a model trained on patches of 10 slices .*found a model trained on 5 slices "
        r"\(the file records no training datasets\).*give the spec z_window_slices: 5",
    ):
        run_import(
            tmp_path / "other", viscy_config(), first.checkpoint, "dynaclr", CHANNELS, in_stack_depth=10
        )


def _embedded(stacks: dict[str, int]) -> dict[str, dict[str, Any]]:
    """import_model's embedded_sampling as rule import_model passes it: by dataset, the one setting
    the spec's depth first, each with the slices of its plate (only these are read before the depth)."""
    return {
        d: {"dataset": d, "plate": f"{d}.zarr", "source": "raw", "stack_slices": n} for d, n in stacks.items()
    }


def test_a_depth_refusal_names_the_dataset_setting_the_depth_and_what_its_plate_allows(
    tmp_path: Path,
) -> None:
    """The refusal names the dataset whose plate set the spec's depth and its slices; where a plate
    has fewer slices than the model learnt from, it says the model cannot embed it (no window would
    give that depth: following 'z_window_slices: 5' would be refused next) instead."""
    first = run_import(tmp_path / "first", viscy_config(), channels=CHANNELS)

    def refusal(depth: int, stacks: dict[str, int]) -> str:
        with pytest.raises(ArtifactError) as refused:
            run_import(
                tmp_path / "other",
                viscy_config(),
                first.checkpoint,
                "dynaclr",
                CHANNELS,
                in_stack_depth=depth,
                embedded_sampling=_embedded(stacks),
            )
        return str(refused.value)

    deep = refusal(10, {"lab_b": 12})
    assert "patch_spec on dataset lab_b, whose plate has 12 slices" in deep
    assert deep.endswith("give the spec z_window_slices: 5 (or a z_range of 5 slices)")
    flat = refusal(1, {"plate_2d": 1})
    assert "patch_spec on dataset plate_2d, whose plate has 1 slices" in flat
    assert "the model cannot embed dataset plate_2d (1)" in flat
    assert flat.endswith("train a model on it")
    assert "z_window_slices: 5" not in flat
    mixed = refusal(3, {"shallow": 3, "lab_b": 12})
    assert "cannot embed dataset shallow (3)" in mixed
    assert mixed.endswith(
        "or list only the datasets it can embed in contrastive_models.reference.embed_datasets"
    )


def test_channels_a_foreign_file_does_not_state_are_recorded_as_not_verified(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A VisCy file states no channels: the patch spec's are recorded as assumed
    (``input_channels_verified: false``) with a warning naming them, and stay assumed in a model.ckpt
    imported from that one; a model trained here states its own and is verified as before."""
    with caplog.at_level("WARNING", logger="dynaclr.training.imported"):
        viscy = run_import(tmp_path / "viscy", viscy_config(), channels=CHANNELS)
    assert any(
        "does not state the channels" in r.getMessage() and str(CHANNELS) in r.getMessage()
        for r in caplog.records
    )
    model = read_contrastive_checkpoint(viscy.checkpoint)
    assert (model.input_channels, model.input_channels_verified) == (CHANNELS, False)
    assert (
        torch.load(viscy.checkpoint, weights_only=True)["dynaclr_training"]["input_channels_verified"]
        is False
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="dynaclr.training.imported"):
        again = run_import(tmp_path / "again", viscy_config(), viscy.checkpoint, "dynaclr", channels=CHANNELS)
    assert read_contrastive_checkpoint(again.checkpoint).input_channels_verified is False
    assert any("does not state the channels" in r.getMessage() for r in caplog.records)
    trained = torch.load(viscy.checkpoint, weights_only=True)  # a model trained here states its channels
    trained["dynaclr_training"] = {"model_name": "reference", "input_channels": CHANNELS}
    torch.save(trained, tmp_path / "trained.ckpt")
    assert read_contrastive_checkpoint(tmp_path / "trained.ckpt").input_channels_verified
    caplog.clear()
    with caplog.at_level("WARNING", logger="dynaclr.training.imported"):
        kept = run_import(tmp_path / "kept", viscy_config(), tmp_path / "trained.ckpt", "dynaclr", CHANNELS)
    assert read_contrastive_checkpoint(kept.checkpoint).input_channels_verified
    assert not any("does not state the channels" in r.getMessage() for r in caplog.records)
    with pytest.raises(ArtifactError, match=r"the same channels in another order"):  # still checked
        run_import(tmp_path / "other", viscy_config(), tmp_path / "trained.ckpt", "dynaclr", CHANNELS[::-1])


def test_an_unstated_per_time_point_setting_is_recorded_as_assumed(tmp_path: Path, caplog) -> None:
    """A VisCy file states no normalize_per_time_point: the spec's is recorded, as assumed
    (input_normalize_per_time_point_verified: false, with a warning), and stays assumed through an
    import of the copy; a model.ckpt stating it keeps it as stated."""
    import logging

    with caplog.at_level(logging.WARNING):
        viscy = run_import(
            tmp_path / "viscy", viscy_config(), channels=CHANNELS, normalize_per_time_point=False
        )
    read = read_contrastive_checkpoint(viscy.checkpoint)
    assert read.input_normalize_per_time_point is False and not read.input_normalize_per_time_point_verified
    assert (
        torch.load(viscy.checkpoint, weights_only=True)["dynaclr_training"][
            "input_normalize_per_time_point_verified"
        ]
        is False
    )
    assert any("assumed normalize_per_time_point: False" in r.getMessage() for r in caplog.records)
    copy = run_import(tmp_path / "copy", viscy_config(), viscy.checkpoint, "dynaclr", CHANNELS, 48, False)
    assert not read_contrastive_checkpoint(copy.checkpoint).input_normalize_per_time_point_verified
    stated = torch.load(viscy.checkpoint, weights_only=True)
    stated["dynaclr_training"].update(
        checkpoint_format="dynaclr", input_normalize_per_time_point_verified=True
    )
    torch.save(stated, tmp_path / "stated.ckpt")
    kept = run_import(
        tmp_path / "kept", viscy_config(), tmp_path / "stated.ckpt", "dynaclr", CHANNELS, 48, False
    )
    assert read_contrastive_checkpoint(kept.checkpoint).input_normalize_per_time_point_verified


def test_a_model_ckpt_normalised_per_time_point_is_refused_for_a_spec_normalising_per_fov(
    tmp_path: Path,
) -> None:
    """The channel labels say how each channel is normalised, not whether each time point has its
    own statistics: a model trained on per-time-point patches was imported for a spec normalising per
    FOV (values off what it learnt from) without a word. The recorded setting is compared, and the
    spec's recorded in the copy; a file that records none takes the spec's."""
    viscy = run_import(tmp_path / "viscy", viscy_config(), channels=CHANNELS, normalize_per_time_point=True)
    assert read_contrastive_checkpoint(viscy.checkpoint).input_normalize_per_time_point is True
    trained = torch.load(viscy.checkpoint, weights_only=True)  # as training records it: stated
    trained["dynaclr_training"].update(
        checkpoint_format="dynaclr", input_normalize_per_time_point_verified=True
    )
    torch.save(trained, tmp_path / "trained.ckpt")
    with pytest.raises(
        ArtifactError,
        match=r"expected a model trained on patches with normalize_per_time_point: False \(the patch spec "
        r"named by contrastive_models\.reference\.training\.patch_spec\), found a model trained with True",
    ):
        run_import(
            tmp_path / "other", viscy_config(), tmp_path / "trained.ckpt", "dynaclr", CHANNELS, 48, False
        )
    assert not (tmp_path / "other" / "model.ckpt").exists()
    # the VisCy import's True was the spec's, assumed: refused without claiming it was learnt
    with pytest.raises(ArtifactError, match=r"found a model\.ckpt imported assuming True") as refused:
        run_import(tmp_path / "other", viscy_config(), viscy.checkpoint, "dynaclr", CHANNELS, 48, False)
    assert "trained with" not in str(refused.value)
    kept = run_import(tmp_path / "kept", viscy_config(), viscy.checkpoint, "dynaclr", CHANNELS, 48, True)
    assert read_contrastive_checkpoint(kept.checkpoint).input_normalize_per_time_point is True
    unstated = run_import(tmp_path / "unstated", viscy_config(), viscy.checkpoint, "dynaclr", CHANNELS)
    assert read_contrastive_checkpoint(unstated.checkpoint).input_normalize_per_time_point is True
    older = torch.load(viscy.checkpoint, weights_only=True)  # an older dynaclr recorded none
    older["dynaclr_training"].pop("input_normalize_per_time_point")
    torch.save(older, tmp_path / "older.ckpt")
    assert read_contrastive_checkpoint(tmp_path / "older.ckpt").input_normalize_per_time_point is None
    run_import(
        tmp_path / "from_older", viscy_config(), tmp_path / "older.ckpt", "dynaclr", CHANNELS, 48, False
    )


def test_files_that_are_not_the_named_format_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a checkpoint of VisCy's ContrastiveModule"):
        torch.save({"state_dict": {"encoder.weight": torch.zeros(1)}}, tmp_path / "other.ckpt")
        run_import(tmp_path, viscy_config(), source=tmp_path / "other.ckpt")
    with pytest.raises(ArtifactError, match="contrastive_model"):
        shutil.copy(CHECKPOINT, tmp_path / "viscy.ckpt")
        run_import(tmp_path, viscy_config(), source=tmp_path / "viscy.ckpt", fmt="dynaclr")
    with pytest.raises(ArtifactError, match="not found"):
        run_import(tmp_path, viscy_config(), source=tmp_path / "missing.ckpt")


def _encoder_alone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """VisCy's ContrastiveEncoder state dict: the module's keys without ``model.``."""
    return {key.removeprefix("model."): tensor for key, tensor in state.items()}


@pytest.mark.parametrize(
    "layout",
    [
        lambda state: state,  # torch.save(module.state_dict())
        _encoder_alone,  # torch.save(module.model.state_dict())
        lambda state: {"state_dict": _encoder_alone(state)},
    ],
    ids=["module_state_dict_bare", "encoder_state_dict_bare", "encoder_state_dict_in_checkpoint"],
)
def test_a_viscy_state_dict_saved_without_lightning_embeds_as_viscy_does(tmp_path: Path, layout) -> None:
    """A VisCy model saved as a state dict (of the module or of its encoder alone) is the same model
    as the Lightning checkpoint; both were refused, the bare one with a message listing every key."""
    state = torch.load(CHECKPOINT, weights_only=True)["state_dict"]
    torch.save(layout(state), tmp_path / "weights.pt")
    outputs = run_import(tmp_path, viscy_config(), source=tmp_path / "weights.pt")
    reference = np.load(FIXTURE / "reference.npz")
    with torch.no_grad():
        features, projections = read_contrastive_checkpoint(outputs.checkpoint).encoder()(patches())
    np.testing.assert_allclose(features.numpy(), reference["features"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(projections.numpy(), reference["projections"], atol=1e-5, rtol=0)


def test_a_file_without_a_state_dict_is_refused_naming_a_few_of_its_keys(tmp_path: Path) -> None:
    torch.save({f"entry_{i}": [i] for i in range(50)}, tmp_path / "other.ckpt")
    with pytest.raises(
        ArtifactError, match=r"expected a Lightning checkpoint .* found \[.*\.\.\. \(50 keys\)"
    ):
        run_import(tmp_path, viscy_config(), source=tmp_path / "other.ckpt")


@pytest.mark.parametrize("fmt", ["viscy", "dynaclr"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_weights_that_are_not_finite_are_refused_naming_the_tensor(
    tmp_path: Path, fmt: str, value: float
) -> None:
    """A diverged model (NaN weights) or one saved in float16 beyond its range (inf) gave NaN
    embeddings with exit 0, found only by the analyses after every dataset was embedded."""
    key = "model.encoder.stages.0.blocks.0.conv_dw.weight"
    raw = torch.load(CHECKPOINT, weights_only=True)
    raw["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in raw["state_dict"].items()}
    half = tmp_path / "half.ckpt"
    torch.save(raw, half)
    source = run_import(tmp_path / "finite", viscy_config(), source=half).checkpoint  # float16 in range: read
    with torch.no_grad():
        features, _ = read_contrastive_checkpoint(source).encoder()(patches())
    np.testing.assert_allclose(features.numpy(), np.load(FIXTURE / "reference.npz")["features"], atol=1e-4)
    if fmt == "viscy":
        raw["state_dict"][key][0, 0, 0, 0] = value
    else:
        raw = torch.load(source, weights_only=True)
        raw["state_dict"]["encoder.backbone.stages.0.blocks.0.conv_dw.weight"][0, 0, 0, 0] = value
    torch.save(raw, tmp_path / "bad.ckpt")
    with pytest.raises(
        ArtifactError, match=r"expected finite weights, found 1 NaN or infinite values"
    ) as error:
        run_import(tmp_path / "bad", viscy_config(), source=tmp_path / "bad.ckpt", fmt=fmt)
    assert "'backbone.stages.0.blocks.0.conv_dw.weight'" in str(error.value)
    assert str(tmp_path / "bad.ckpt") in str(error.value)
    assert not (tmp_path / "bad" / "model.ckpt").exists()


def test_an_import_of_an_import_keeps_the_weights_digest(tmp_path: Path) -> None:
    """import_model copies tensors unchanged: a model.ckpt imported from one imported from another
    (each under its own training config, so another training-config hash) has the original's weights
    digest, what rule embed records and imported classifiers are compared with; other weights differ."""
    from dynaclr.io import config_hash
    from dynaclr.io.weights import state_dict_sha256

    first = run_import(tmp_path / "first", viscy_config())
    second = run_import(tmp_path / "second", viscy_config(seed=1), source=first.checkpoint, fmt="dynaclr")
    third = run_import(tmp_path / "third", viscy_config(seed=2), source=second.checkpoint, fmt="dynaclr")
    models = [read_contrastive_checkpoint(o.checkpoint) for o in (first, second, third)]
    assert len({config_hash(m.config.job_params()) for m in models}) == 3
    digests = {state_dict_sha256(m.encoder().state_dict()) for m in models}
    assert len(digests) == 1
    changed = models[2].encoder().state_dict()
    name = sorted(changed)[0]
    changed[name] = changed[name] + 1
    assert state_dict_sha256(changed) not in digests
