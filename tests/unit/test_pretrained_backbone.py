"""A pretrained backbone used as published (contrastive_models.<name>.train: false): the paper's
ImageNet baseline. Its weights file is a timm network's (here a small one made in the test and
saved as Hugging Face does, safetensors with the classifier); the workflow's model computes what
the timm network computes on the image the input adapter makes, without a download.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import re
from pathlib import Path

import pytest
import timm
import torch
import yaml
from conftest import REPO_ROOT
from pydantic import ValidationError
from safetensors.torch import save_file

from dynaclr.config import WorkflowConfig
from dynaclr.config.training import ContrastiveModelConfig
from dynaclr.contrastive import encoder as encoder_module
from dynaclr.contrastive.encoder import ContrastiveEncoder, PretrainedImageInput
from dynaclr.io import ArtifactError
from dynaclr.training import imported
from dynaclr.training.checkpoint import read_contrastive_checkpoint
from dynaclr.training.imported import ImportModelInputs, ImportModelOutputs, import_model

BACKBONE = "test_convnext"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def pretrained_network(seed: int = 0) -> torch.nn.Module:
    """A timm network with a 10-class classifier, as a pretrained file holds it."""
    torch.manual_seed(seed)
    return timm.create_model(BACKBONE, pretrained=False, num_classes=10).eval()


def weights_file(tmp_path: Path, network: torch.nn.Module) -> Path:
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))
    return path


def pretrained_config(**changes: object) -> ContrastiveModelConfig:
    fields = {
        "patch_spec": "phase_sensor",
        "sampling": "classical",
        "backbone": BACKBONE,
        "stem": "backbone",
        "projection_dim": 0,
        "input_channels": ["ViralSensor"],
        "z_reduction": "max",
    }
    return ContrastiveModelConfig.model_validate({**fields, **changes})


def patches(seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((4, 2, 5, 32, 32), generator=generator) * 7.0 - 2.0  # (B, C, Z, Y, X)


def test_the_input_adapter_reduces_scales_repeats_and_normalises() -> None:
    x = patches()
    adapter = PretrainedImageInput(2, [1], "max", MEAN, STD)
    image = adapter(x)
    plane = x[:, 1].amax(dim=1)  # (B, Y, X): the max projection of channel 1
    low, high = plane.amin(dim=(1, 2), keepdim=True), plane.amax(dim=(1, 2), keepdim=True)
    scaled = (plane - low) / (high - low)
    for channel in range(3):
        expected = (scaled - MEAN[channel]) / STD[channel]
        torch.testing.assert_close(image[:, channel], expected)
    middle = PretrainedImageInput(2, [0], "middle", MEAN, STD)(x)
    scaled_middle = x[:, 0, 2]
    scaled_middle = (scaled_middle - scaled_middle.amin(dim=(1, 2), keepdim=True)) / (
        scaled_middle.amax(dim=(1, 2), keepdim=True) - scaled_middle.amin(dim=(1, 2), keepdim=True)
    )
    torch.testing.assert_close(middle[:, 0], (scaled_middle - MEAN[0]) / STD[0])
    constant = PretrainedImageInput(1, None, "mean", MEAN, STD)(torch.full((1, 1, 3, 8, 8), 5.0))
    torch.testing.assert_close(constant[0, 2], torch.full((8, 8), -MEAN[2] / STD[2]))  # black, not NaN
    with pytest.raises(ValueError, match=r"takes 1 channel .* or 3; the input gives 2"):
        PretrainedImageInput(2, None, "middle", MEAN, STD)


def import_pretrained(
    directory: Path,
    config: ContrastiveModelConfig,
    fmt: str,
    source: Path,
    channel_indices: list[int] | None,
    channels: list[str] | None = None,
) -> tuple[Path, dict]:
    """Rule import_model on ``source`` into ``directory`` (the spec's ``channels``, else 2 channels; 5
    slices, 32 px): the model.ckpt written and the summary."""
    outputs = ImportModelOutputs(checkpoint=directory / "model.ckpt", config=directory / "config.json")
    summary = import_model(
        config,
        fmt,  # type: ignore[arg-type]
        ImportModelInputs(checkpoint=source),
        outputs,
        in_channels=2 if channels is None else len(channels),
        in_stack_depth=5,
        patch_size_yx_px=32,
        model_name="imagenet",
        channel_indices=channel_indices,
        channels=channels,
    )
    return outputs.checkpoint, summary


def test_imported_pretrained_backbone_computes_what_the_timm_network_computes(tmp_path: Path) -> None:
    network = pretrained_network()
    source = weights_file(tmp_path, network)
    checkpoint, summary = import_pretrained(tmp_path, pretrained_config(), "timm", source, [1])
    assert summary["checkpoint_format"] == "timm"
    model = read_contrastive_checkpoint(checkpoint)
    assert model.channel_indices == [1] and model.model_name == "imagenet"
    encoder = model.encoder()
    x = patches()
    features, projections = encoder(x)
    # the normalisation the network was trained with (timm's pretrained_cfg: 0.5 for test models)
    mean, std = network.pretrained_cfg["mean"], network.pretrained_cfg["std"]
    image = PretrainedImageInput(2, [1], "max", mean, std)(x)
    with torch.inference_mode():
        expected = network.forward_head(network.forward_features(image), pre_logits=True)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(projections, features)  # no projection head: projections are the features


def test_weights_of_another_network_are_refused_naming_the_backbone(tmp_path: Path) -> None:
    torch.manual_seed(0)
    other = timm.create_model("resnet18", pretrained=False, num_classes=10)
    source = tmp_path / "resnet.pth"
    torch.save(other.state_dict(), source)
    with pytest.raises(
        ArtifactError,
        match=r"do not fit this backbone .*set contrastive_models\.imagenet\.training\.backbone to",
    ):
        import_model(
            pretrained_config(),
            "timm",
            ImportModelInputs(checkpoint=source),
            ImportModelOutputs(checkpoint=tmp_path / "model.ckpt", config=tmp_path / "config.json"),
            in_channels=2,
            in_stack_depth=5,
            patch_size_yx_px=32,
            model_name="imagenet",
            channel_indices=[1],
        )
    assert not (tmp_path / "model.ckpt").exists()


def test_a_truncated_safetensors_file_is_refused(tmp_path: Path) -> None:
    source = weights_file(tmp_path, pretrained_network())
    source.write_bytes(source.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="not a complete safetensors file"):
        ContrastiveEncoder(BACKBONE, in_channels=1, in_stack_depth=5, stem="backbone", weights_path=source)


DEFAULT = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())


def with_model(entry: dict) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    cfg["contrastive_models"]["imagenet"] = entry
    return cfg


PRETRAINED_ENTRY = {
    "train": False,
    "pretrained_weights": "weights/convnext.safetensors",
    "training": {
        "patch_spec": "phase_sensor",
        "sampling": "classical",
        "backbone": "convnext_atto",
        "stem": "backbone",
        "projection_dim": 0,
        "input_channels": ["ViralSensor"],
    },
}


def test_a_pretrained_entry_is_a_loaded_model_embedding_every_compatible_dataset() -> None:
    workflow = WorkflowConfig.model_validate(with_model(PRETRAINED_ENTRY))
    entry = workflow.contrastive_models["imagenet"]
    assert entry.is_loaded and entry.model_file == "weights/convnext.safetensors"
    assert entry.import_format == "timm"
    assert workflow.embedded_datasets("imagenet") == ["demo", "demo_15min"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pretrained_weights": None}, "train: false embeds with a pretrained backbone"),
        ({"train_datasets": ["demo"]}, "train: false embeds with a pretrained backbone"),
        ({"train": True}, "fine-tuning a contrastive model from pretrained weights is not offered"),
        (
            {"training": {**PRETRAINED_ENTRY["training"], "stem": "z_fold"}},
            r"\['input_channels'\] are read only with stem: backbone",
        ),
        (
            {"training": {**PRETRAINED_ENTRY["training"], "input_channels": ["Phase3D", "ViralSensor"]}},
            "takes 1 channel .* or 3 distinct ones",
        ),
        (
            {"training": {**PRETRAINED_ENTRY["training"], "projection_norm": True}},
            "projection_norm needs a projection head",
        ),
        (
            {"training": {**PRETRAINED_ENTRY["training"], "stem": "z_fold", "input_channels": None}},
            r"training\.stem must be 'backbone' .* got stem='z_fold', projection_dim=0",
        ),
        (
            {"training": {**PRETRAINED_ENTRY["training"], "projection_dim": 32}},
            r"projection_dim 0 \(no head\).* got stem='backbone', projection_dim=32",
        ),
    ],
)
def test_bad_pretrained_entries_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkflowConfig.model_validate(with_model({**PRETRAINED_ENTRY, **changes}))


def test_a_trained_model_cannot_take_the_backbone_stem() -> None:
    entry = copy.deepcopy(DEFAULT["contrastive_models"]["time_aware_ntxent"])
    entry["training"]["stem"] = "backbone"
    with pytest.raises(ValidationError, match="a trained model uses stem z_fold"):
        WorkflowConfig.model_validate(with_model(entry))


@pytest.mark.parametrize(
    ("changes", "channel_indices", "message"),
    [
        ({"z_reduction": "middle"}, [1], r"z_reduction: 'max' in the file, 'middle' in the config"),
        (
            {"input_channels": ["Phase3D"]},
            [0],
            r"input_channels: \['ViralSensor'\] in the file, \['Phase3D'\] in the config \(the network sees "
            r"patch channels \[1\] in the file, \[0\] here\)",
        ),
    ],
    ids=["z_reduction", "input_channels"],
)
def test_a_model_ckpt_built_otherwise_than_the_config_says_is_refused(
    tmp_path: Path, changes: dict, channel_indices: list[int], message: str
) -> None:
    """A model.ckpt (here of a pretrained backbone) imported with a config that reduces the patch
    otherwise or shows the network another channel: the shapes fit, so it loaded and embedded
    otherwise than the file's model (features off by ~4), with exit 0."""
    source = weights_file(tmp_path, pretrained_network())
    first, _ = import_pretrained(tmp_path / "first", pretrained_config(), "timm", source, [1])
    again, _ = import_pretrained(tmp_path / "again", pretrained_config(), "dynaclr", first, [1])  # as built
    assert read_contrastive_checkpoint(again).channel_indices == [1]
    with pytest.raises(ArtifactError, match=message) as error:
        import_pretrained(tmp_path / "other", pretrained_config(**changes), "dynaclr", first, channel_indices)
    assert str(first) in str(error.value) and "contrastive_models.imagenet.training." in str(error.value)
    assert not (tmp_path / "other" / "model.ckpt").exists()


#: A spec's channels as PatchSpec.channel_labels gives them.
PHASE, SENSOR, NUCLEI = "phase:Phase3D (zscore)", "raw:ViralSensor (median_p99)", "raw:Nuclei (median_p99)"


@pytest.mark.parametrize(
    ("changes", "channel_indices", "channels"),
    [
        ({"stem_kernel_z": 2}, [1], None),  # no z-fold stem: the kernel shapes nothing
        ({}, [0], [SENSOR, PHASE]),  # the same channel seen, at another position of the spec
    ],
    ids=["stem_kernel_z", "reordered spec"],
)
def test_a_model_ckpt_is_compared_on_what_shapes_the_network(
    tmp_path: Path, changes: dict, channel_indices: list[int], channels: list[str] | None
) -> None:
    """With stem: backbone, stem_kernel_z is unused, yet a differing one was refused; the channels the
    network sees were compared as indices into two specs, so the same channel at another position of
    the spec was refused. Both import now, computing what the file's model computes."""
    source = weights_file(tmp_path, pretrained_network())
    first_channels = None if channels is None else [PHASE, SENSOR]
    first, _ = import_pretrained(tmp_path / "first", pretrained_config(), "timm", source, [1], first_channels)
    again, _ = import_pretrained(
        tmp_path / "again", pretrained_config(**changes), "dynaclr", first, channel_indices, channels
    )
    x = patches()
    if channels is not None:
        x = x.flip(1)  # the same signals in the spec's order
    expected = read_contrastive_checkpoint(first).encoder()(patches())[0]
    torch.testing.assert_close(read_contrastive_checkpoint(again).encoder()(x)[0], expected)


def test_another_channel_at_the_same_position_of_the_spec_is_refused(tmp_path: Path) -> None:
    """The backbone saw the sensor; a spec with nuclei at the sensor's position and input_channels
    [Nuclei] gave the same index, so it imported (a warning about other names) and the network saw
    nuclei, with exit 0. The channels it sees are compared by their labels."""
    source = weights_file(tmp_path, pretrained_network())
    first, _ = import_pretrained(
        tmp_path / "first", pretrained_config(), "timm", source, [1], [PHASE, SENSOR]
    )
    with pytest.raises(
        ArtifactError, match=r"input_channels: \['ViralSensor'\] in the file, \['Nuclei'\]"
    ) as error:
        import_pretrained(
            tmp_path / "other",
            pretrained_config(input_channels=["Nuclei"]),
            "dynaclr",
            first,
            [1],
            [PHASE, NUCLEI],
        )
    assert f"the network sees patch channels ['{SENSOR}'] in the file, ['{NUCLEI}'] here" in str(error.value)


def test_a_null_input_channels_is_every_channel(tmp_path: Path) -> None:
    """A model.ckpt of a one-channel spec built with input_channels: null (every channel) was refused
    for a config listing that channel (indices None against [0])."""
    source = weights_file(tmp_path, pretrained_network())
    every = pretrained_config(input_channels=None)
    first, _ = import_pretrained(tmp_path / "first", every, "timm", source, None, [SENSOR])
    again, _ = import_pretrained(tmp_path / "again", pretrained_config(), "dynaclr", first, [0], [SENSOR])
    assert read_contrastive_checkpoint(again).channel_indices == [0]


def test_pretrained_weights_that_are_not_finite_are_refused(tmp_path: Path) -> None:
    network = pretrained_network()
    with torch.no_grad():
        network.stages[0].blocks[0].conv_dw.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(
        ArtifactError, match=r"found 1 NaN or infinite values in 'backbone\.stages\.0\.blocks\.0\."
    ):
        import_pretrained(tmp_path, pretrained_config(), "timm", weights_file(tmp_path, network), [1])
    assert not (tmp_path / "model.ckpt").exists()


def saved(tmp_path: Path, content: object) -> Path:
    """``content`` saved with ``torch.save``, as a published ``.pth`` file."""
    path = tmp_path / "published.pth"
    torch.save(content, path)
    return path


def assert_embeds_as_the_network(checkpoint: Path, network: torch.nn.Module) -> None:
    """The imported model's features are the timm network's on the adapter's image."""
    features, _ = read_contrastive_checkpoint(checkpoint).encoder()(patches())
    mean, std = network.pretrained_cfg["mean"], network.pretrained_cfg["std"]
    image = PretrainedImageInput(2, [1], "max", mean, std)(patches())
    with torch.inference_mode():
        expected = network.forward_head(network.forward_features(image), pre_logits=True)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("wrap", "read"),
    [
        (lambda sd: {"model": sd, "epoch": 300}, {"wrapper": "model", "prefix": None}),
        (lambda sd: {"model_state": sd, "step": 7}, {"wrapper": "model_state", "prefix": None}),
        (lambda sd: {"model_state_dict": sd}, {"wrapper": "model_state_dict", "prefix": None}),
        (lambda sd: {f"module.{k}": v for k, v in sd.items()}, {"wrapper": None, "prefix": "module."}),
        (
            lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
            {"wrapper": "state_dict", "prefix": "module."},
        ),
        (lambda sd: {f"model.{k}": v for k, v in sd.items()}, {"wrapper": None, "prefix": "model."}),
        (lambda sd: {f"backbone.{k}": v for k, v in sd.items()}, {"wrapper": None, "prefix": "backbone."}),
        (
            lambda sd: {f"module.backbone.{k}": v for k, v in sd.items()},
            {"wrapper": None, "prefix": "module.backbone."},
        ),
    ],
    ids=[
        "model",
        "model_state",
        "model_state_dict",
        "ddp",
        "lightning_ddp",
        "model_prefix",
        "backbone_prefix",
        "ddp_backbone",
    ],
)
def test_weights_wrapped_or_prefixed_as_published_are_read(tmp_path: Path, wrap, read) -> None:
    """Wrappers and key prefixes published files have (ConvNeXt releases' ``model``, DDP's ``module.``, a
    module's ``backbone.``, the classifier kept under it) are read, and recorded; they were refused
    as missing every key."""
    network = pretrained_network()
    source = saved(tmp_path, wrap(network.state_dict()))
    checkpoint, summary = import_pretrained(tmp_path, pretrained_config(), "timm", source, [1])
    assert_embeds_as_the_network(checkpoint, network)
    assert file_read(summary) == {"kind": "backbone", **read}


#: What import_model records of the input a timm file's network normalises (compared by embed).
NORMALISATION_RECORD = ("pretrained_tag", "input_mean", "input_std")


def file_read(summary: dict) -> dict:
    """The summary's ``weights_read`` of how the file was read, without its normalisation record."""
    return {k: v for k, v in summary["weights_read"].items() if k not in NORMALISATION_RECORD}


def facebook_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A timm ConvNeXt / ConvNeXt-V2 state dict in the layout of Facebook's releases (the inverse of
    timm's ``checkpoint_filter_fn``): ``downsample_layers.*``, ``stages.i.j``, ``dwconv``,
    ``pwconv``, ``grn.gamma`` / ``beta`` of shape (1, 1, 1, C), ``norm.*`` and ``head.*``."""
    converted = {}
    for key, value in state.items():
        key = key.replace("stem.", "downsample_layers.0.")
        key = re.sub(r"stages\.(\d+)\.downsample\.(\d+)", r"downsample_layers.\1.\2", key)
        key = re.sub(r"stages\.(\d+)\.blocks\.(\d+)", r"stages.\1.\2", key)
        key = key.replace("conv_dw", "dwconv").replace("mlp.fc", "pwconv")
        if "mlp.grn" in key:
            key = key.replace("mlp.grn.weight", "grn.gamma").replace("mlp.grn.bias", "grn.beta")
            value = value.reshape(1, 1, 1, -1)
        key = key.replace("head.norm.", "norm.").replace("head.fc.", "head.")
        converted[key] = value
    return converted


@pytest.mark.parametrize("backbone", [BACKBONE, "convnextv2_atto"])
def test_a_convnext_release_in_facebooks_layout_is_read(tmp_path: Path, backbone: str) -> None:
    """Facebook's ConvNeXt / ConvNeXt-V2 release files (``{"model": ...}`` with keys
    ``downsample_layers.*``, ``dwconv``, ``pwconv``, ``norm.*``, ``head.*``) were said to be read but
    refused with "set training.backbone to the network the file holds", the network they named. They
    are converted by timm's checkpoint_filter_fn and embed as the timm network; the conversion is
    recorded. A release of another depth is still refused naming the backbone."""
    torch.manual_seed(0)
    network = timm.create_model(backbone, pretrained=False, num_classes=10).eval()
    release = facebook_layout(network.state_dict())
    assert any(k.startswith("downsample_layers.1.") for k in release) and "norm.weight" in release
    source = saved(tmp_path, {"model": release, "epoch": 300})
    config = pretrained_config(backbone=backbone)
    checkpoint, summary = import_pretrained(tmp_path, config, "timm", source, [1])
    assert_embeds_as_the_network(checkpoint, network)
    assert file_read(summary) == {
        "kind": "backbone",
        "wrapper": "model",
        "prefix": None,
        "layout": "facebook",
    }
    if backbone == BACKBONE:  # a release with a block this backbone does not have
        deeper = {**release, "stages.3.9.pwconv1.weight": torch.zeros(256, 64)}
        with pytest.raises(
            ArtifactError,
            match=r"Facebook's releases\) do not fit this backbone .*"
            r"no 'stages\.3\.blocks\.9\.mlp\.fc1\.weight'.*training\.backbone to the network the file holds",
        ):
            import_pretrained(tmp_path / "other", config, "timm", saved(tmp_path, {"model": deeper}), [1])


def test_a_convnext_release_of_another_width_in_facebooks_layout_is_refused_naming_the_key(
    tmp_path: Path,
) -> None:
    """A release of a wider ConvNeXt in Facebook's layout (``test_convnext2``'s into ``test_convnext``,
    as convnext_base's into convnext_small) made timm's checkpoint_filter_fn reshape its Linear
    weights to the backbone's and fail with a raw ``RuntimeError: shape '[96, 24]' is invalid for
    input of size 4096`` naming no file. It is refused naming the file, the backbone and the key."""
    wider = timm.create_model("test_convnext2", pretrained=False, num_classes=10)
    source = saved(tmp_path, {"model": facebook_layout(wider.state_dict())})
    with pytest.raises(ArtifactError) as info:
        import_pretrained(tmp_path, pretrained_config(), "timm", source, [1])
    message = str(info.value)
    assert str(source) in message
    assert f"backbone={BACKBONE!r}" in message
    assert "the file's 'stages.0.0.pwconv1.weight' of shape (128, 32) (4096 values) does not fit" in message
    assert "set contrastive_models.imagenet.training.backbone to the network the file holds" in message


def test_an_fcmae_pretraining_checkpoint_is_refused_naming_it(tmp_path: Path) -> None:
    """ConvNeXt-V2's FCMAE pre-training files (the encoder under ``encoder.`` beside ``decoder.*`` and
    ``mask_token``) were refused as missing every key, advising "set training.backbone to the network
    the file holds", which no backbone fixes. They are refused as what they are, with what to use."""
    network = timm.create_model("convnextv2_atto", pretrained=False, num_classes=10)
    state = {f"encoder.{k}": v for k, v in facebook_layout(network.state_dict()).items()}
    state |= {"mask_token": torch.zeros(1, 512, 1, 1), "decoder.0.dwconv.weight": torch.zeros(512, 1, 7, 7)}
    source = saved(tmp_path, {"model": state, "epoch": 1599})
    with pytest.raises(ArtifactError) as info:
        import_pretrained(tmp_path, pretrained_config(backbone="convnextv2_atto"), "timm", source, [1])
    message = str(info.value)
    assert f"{source}: expected a network's state dict, found an FCMAE pre-training checkpoint" in message
    assert f"{len(state) - 2} tensors under 'encoder.' beside 2 of its decoder" in message
    assert "use a fine-tuned release of the network" in message
    assert "training.backbone" not in message


def test_a_module_holding_the_backbone_beside_other_modules_is_refused_naming_them(tmp_path: Path) -> None:
    """A module's state dict (``backbone.*`` beside a ``decoder.*`` no self-supervised layout has) was
    refused as weights of another network ("set training.backbone to the network the file holds"):
    it is said to hold other modules, named, with what to save instead. (A ``projector.*`` beside it
    is a self-supervised Lightning module's, read: see the self-supervised layouts' test.)"""
    state = {f"backbone.{k}": v for k, v in pretrained_network().state_dict().items()}
    state |= {"decoder.0.weight": torch.zeros(4, 4), "decoder.0.bias": torch.zeros(4)}
    source = saved(tmp_path, {"state_dict": state, "epoch": 3})
    with pytest.raises(ArtifactError) as info:
        import_pretrained(tmp_path, pretrained_config(), "timm", source, [1])
    message = str(info.value)
    assert "found a module's 'backbone' beside other modules: decoder (2 tensors)" in message
    assert "save the backbone's state dict alone" in message
    assert "training.backbone" not in message
    assert not (tmp_path / "model.ckpt").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"epoch": 3, "args": {"lr": 0.1}}, r"found none of them \(the file holds \['args', 'epoch'\]\)"),
        ("sd_twice", r"found several: \['state_dict', 'model'\]"),
        ({"model": {"stem.0.weight": torch.zeros(1), "epoch": 3}}, r"not tensors: \['epoch'\]"),
    ],
    ids=["no_state_dict", "two_state_dicts", "not_tensors"],
)
def test_a_file_without_one_state_dict_is_refused_naming_what_it_holds(
    tmp_path: Path, content: object, message: str
) -> None:
    if content == "sd_twice":
        state = pretrained_network().state_dict()
        content = {"state_dict": state, "model": state}
    with pytest.raises(ArtifactError, match=r"published\.pth: expected a state dict of tensors.*" + message):
        import_pretrained(tmp_path, pretrained_config(), "timm", saved(tmp_path, content), [1])
    assert not (tmp_path / "model.ckpt").exists()


@pytest.mark.parametrize(
    ("changes", "first"),
    [
        ({"stem": "z_fold", "input_channels": None, "z_reduction": "middle"}, "input_stem.conv.weight"),
        ({"projection_dim": 16}, "projection.0.weight"),
    ],
    ids=["z_fold_stem", "projection_head"],
)
def test_timm_weights_for_an_encoder_with_tensors_outside_the_backbone_are_refused(
    tmp_path: Path, changes: dict, first: str
) -> None:
    """A timm file holds the backbone alone: the z_fold stem's convolution or a projection head kept
    their random initial values, with exit 0 (the stem's convolution in the file skipped)."""
    source = weights_file(tmp_path, pretrained_network())
    indices = None if changes.get("stem") == "z_fold" else [1]
    with pytest.raises(
        ArtifactError,
        match=rf"tensors outside the backbone, '{re.escape(first)}' first, .*random initial values; set "
        r"contrastive_models\.imagenet\.training\.stem: backbone and projection_dim: 0",
    ):
        import_pretrained(tmp_path, pretrained_config(**changes), "timm", source, indices)
    assert not (tmp_path / "model.ckpt").exists()


def test_only_the_networks_own_classifier_is_dropped(tmp_path: Path) -> None:
    """A ConvNeXt's classifier is ``head.fc``: a key ``fc.*`` (a ResNet's classifier) in its file is
    not the network's and is refused; it was dropped as a classifier of any family."""
    state = {**pretrained_network().state_dict(), "fc.weight": torch.zeros(10, 24)}
    with pytest.raises(ArtifactError, match=r"unexpected keys: \['fc\.weight'\]"):
        import_pretrained(tmp_path, pretrained_config(), "timm", saved(tmp_path, state), [1])


def test_a_network_published_with_one_input_channel_is_refused_naming_it(tmp_path: Path) -> None:
    """The backbone stem feeds the network RGB (one channel repeated: what timm's adapt_input_conv
    does to a 3-channel stem for in_chans=1); a 1-channel stem's file is refused, naming in_chans."""
    torch.manual_seed(0)
    one = timm.create_model(BACKBONE, pretrained=False, num_classes=10, in_chans=1)
    with pytest.raises(
        ArtifactError,
        match=r"its own 2-D stem takes 3 \(RGB\) channels\): shape mismatch: stem\.0\.weight: expected "
        r"\(24, 3, 4, 4\), got \(24, 1, 4, 4\) \(a network published with in_chans=1",
    ):
        import_pretrained(tmp_path, pretrained_config(), "timm", saved(tmp_path, one.state_dict()), [1])


def under(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in state.items()}


def projection_mlp(prefix: str, width: int) -> dict[str, torch.Tensor]:
    """A projector MLP's tensors (Linear, BatchNorm1d, ReLU, Linear, as MoCo's) under ``prefix``."""
    return {
        f"{prefix}0.weight": torch.randn(16, width),
        f"{prefix}1.weight": torch.ones(16),
        f"{prefix}1.bias": torch.zeros(16),
        f"{prefix}1.running_mean": torch.zeros(16),
        f"{prefix}1.running_var": torch.ones(16),
        f"{prefix}1.num_batches_tracked": torch.tensor(5),
        f"{prefix}3.weight": torch.randn(8, 16),
    }


def online_heads(width: int) -> dict[str, torch.Tensor]:
    """A solo-learn module's predictor (one tensor) and online classifier (two) beside its backbone."""
    return {
        "predictor.0.weight": torch.randn(8, 8),
        "classifier.weight": torch.randn(10, width),
        "classifier.bias": torch.zeros(10),
    }


def ssl_checkpoint(layout: str, network: torch.nn.Module, other: torch.nn.Module) -> tuple[object, dict]:
    """``network`` (what the method evaluates) and ``other`` (its second copy) as a self-supervised
    method saves them, and how the file is to be read."""
    backbone = {k: v for k, v in network.state_dict().items() if not k.startswith(("fc.", "head.fc."))}
    copy_ = {k: v for k, v in other.state_dict().items() if not k.startswith(("fc.", "head.fc."))}
    width = network.num_features
    classifier = "head.fc." if "head.fc.weight" in network.state_dict() else "fc."
    head = {
        "mlp.0.weight": torch.randn(16, width),
        "mlp.0.bias": torch.zeros(16),
        "last_layer.weight": torch.randn(8, 16),
    }
    optimizer = {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}
    if layout == "dino":  # main_dino.py: the teacher DDP-wrapped where the network has BatchNorm (ResNet)
        ddp = "module." if classifier == "fc." else ""
        content = {
            "student": under("module.", under("backbone.", copy_) | under("head.", head)),
            "teacher": under(ddp, under("backbone.", backbone) | under("head.", head)),
            "optimizer": optimizer,
            "epoch": 100,
            "args": argparse.Namespace(arch="resnet50", out_dim=8, teacher_temp=0.04),
            "dino_loss": {"center": torch.zeros(1, 8)},
        }
        read = {
            "wrapper": "teacher",
            "prefix": ddp or None,
            "ssl": "DINO",
            "encoder": "backbone.",
            "dropped": "head (3 tensors)",
        }
        return content, read
    if layout == "dino_student_alone":  # the documented way to read DINO's student
        content = under("module.", under("backbone.", backbone) | under("head.", head))
        return content, {
            "wrapper": None,
            "prefix": "module.",
            "ssl": "DINO",
            "encoder": "backbone.",
            "dropped": "head (3 tensors)",
        }
    if layout == "moco_v3":  # main_moco.py: base_encoder's classifier replaced by the projector MLP
        state = (
            under("base_encoder.", backbone | projection_mlp(classifier, width))
            | under("momentum_encoder.", copy_ | projection_mlp(classifier, width))
            | {"predictor.0.weight": torch.randn(16, 8), "predictor.3.weight": torch.randn(8, 16)}
        )
        content = {
            "epoch": 300,
            "arch": "resnet50",
            "state_dict": under("module.", state),
            "optimizer": optimizer,
            "scaler": {"scale": 65536.0},
        }
        dropped = (
            f"momentum_encoder ({len(copy_) + 7} tensors), predictor (2 tensors), "
            f"base_encoder.{classifier[:-1]} (its projection head, 7 tensors)"
        )
        return content, {
            "wrapper": "state_dict",
            "prefix": "module.",
            "ssl": "MoCo v3",
            "encoder": "base_encoder.",
            "dropped": dropped,
        }
    if layout == "moco_v2":  # moco's main_moco.py: encoder_q's fc the MLP head, a queue beside
        mlp = {
            f"{classifier}0.weight": torch.randn(16, width),
            f"{classifier}0.bias": torch.zeros(16),
            f"{classifier}2.weight": torch.randn(8, 16),
            f"{classifier}2.bias": torch.zeros(8),
        }
        state = under("encoder_q.", backbone | mlp) | under("encoder_k.", copy_ | mlp)
        state |= {"queue": torch.randn(8, 64), "queue_ptr": torch.zeros(1, dtype=torch.long)}
        content = {
            "epoch": 200,
            "arch": "resnet50",
            "state_dict": under("module.", state),
            "optimizer": optimizer,
        }
        dropped = (
            f"encoder_k ({len(copy_) + 4} tensors), queue (1 tensors), queue_ptr (1 tensors), "
            f"encoder_q.{classifier[:-1]} (its projection head, 4 tensors)"
        )
        return content, {
            "wrapper": "state_dict",
            "prefix": "module.",
            "ssl": "MoCo v2",
            "encoder": "encoder_q.",
            "dropped": dropped,
        }
    lightning = {
        "pytorch-lightning_version": "2.1.3",
        "epoch": 99,
        "global_step": 1000,
        "optimizer_states": [optimizer],
        "lr_schedulers": [],
        "hyper_parameters": {"method": "byol"},
    }
    if layout == "solo_learn":  # online backbone, projector, predictor, online classifier, momentum copies
        state = (
            under("backbone.", backbone)
            | projection_mlp("projector.", width)
            | online_heads(width)
            | under("momentum_backbone.", copy_)
            | projection_mlp("momentum_projector.", width)
        )
        dropped = (
            f"classifier (2 tensors), momentum_backbone ({len(copy_)} tensors), "
            "momentum_projector (7 tensors), predictor (1 tensors), projector (7 tensors)"
        )
        read = {"wrapper": "state_dict", "prefix": None, "encoder": "backbone.", "dropped": dropped}
    elif layout == "solo_learn_nnclr":  # NNCLR / NNBYOL: the support set of nearest neighbours beside
        state = (
            under("backbone.", backbone)
            | projection_mlp("projector.", width)
            | online_heads(width)
            | {
                "queue": torch.randn(64, 8),
                "queue_y": -torch.ones(64, dtype=torch.long),
                "queue_ptr": torch.zeros(1, dtype=torch.long),
            }
        )
        dropped = (
            "classifier (2 tensors), predictor (1 tensors), projector (7 tensors), queue (1 tensors), "
            "queue_ptr (1 tensors), queue_y (1 tensors)"
        )
        read = {"wrapper": "state_dict", "prefix": None, "encoder": "backbone.", "dropped": dropped}
    elif layout == "solo_learn_dino":  # solo-learn's DINO: its loss module holds the teacher's center
        state = (
            under("backbone.", backbone)
            | projection_mlp("head.", width)
            | {"classifier.weight": torch.randn(10, width), "classifier.bias": torch.zeros(10)}
            | under("momentum_backbone.", copy_)
            | projection_mlp("momentum_head.", width)
            | {"dino_loss_func.center": torch.zeros(1, 8)}
        )
        dropped = (
            f"classifier (2 tensors), dino_loss_func (1 tensors), head (7 tensors), "
            f"momentum_backbone ({len(copy_)} tensors), momentum_head (7 tensors)"
        )
        read = {"wrapper": "state_dict", "prefix": None, "encoder": "backbone.", "dropped": dropped}
    elif layout == "lightly_model_backbone":  # a module holding the SSL model as its ``model``
        state = under("model.", under("backbone.", backbone) | projection_mlp("projection_head.", width))
        read = {
            "wrapper": "state_dict",
            "prefix": "model.",
            "encoder": "backbone.",
            "dropped": "projection_head (7 tensors)",
        }
    else:  # "encoder": a module holding the network as its encoder beside a projector
        state = under("encoder.", backbone) | projection_mlp("projector.", width)
        read = {
            "wrapper": "state_dict",
            "prefix": None,
            "encoder": "encoder.",
            "dropped": "projector (7 tensors)",
        }
    return {"state_dict": state, **lightning}, {**read, "ssl": "self-supervised Lightning module"}


SSL_LAYOUTS = [
    "dino",
    "dino_student_alone",
    "moco_v3",
    "moco_v2",
    "solo_learn",
    "solo_learn_nnclr",
    "solo_learn_dino",
    "lightly_model_backbone",
    "encoder",
]


@pytest.mark.parametrize("backbone", [BACKBONE, "test_resnet"])
@pytest.mark.parametrize("layout", SSL_LAYOUTS)
def test_self_supervised_checkpoints_are_read_as_the_network_they_evaluate(
    tmp_path: Path, layout: str, backbone: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Self-supervised training checkpoints (DINO's teacher beside its student, args an
    argparse.Namespace; MoCo v3's base_encoder whose classifier is the projector; MoCo v2's encoder_q;
    a Lightning module's backbone or encoder beside heads and momentum copies) were refused ("found
    none of them", "Unsupported global: argparse.Namespace", missing every key, or "beside other
    modules"). The network the method evaluates is read and embeds as that network (the second copy,
    made with another seed, does not); what was not read is recorded."""
    torch.manual_seed(0)
    network = timm.create_model(backbone, pretrained=False, num_classes=10).eval()
    torch.manual_seed(1)
    other = timm.create_model(backbone, pretrained=False, num_classes=10).eval()
    content, read = ssl_checkpoint(layout, network, other)
    source = saved(tmp_path, content)
    with caplog.at_level(logging.INFO, logger="dynaclr.contrastive.encoder"):
        checkpoint, summary = import_pretrained(
            tmp_path, pretrained_config(backbone=backbone), "timm", source, [1]
        )
    assert_embeds_as_the_network(checkpoint, network)
    assert file_read(summary) == {"kind": "backbone", **read}
    assert f"reading the network under {read['encoder']!r}; not read: {read['dropped']}" in caplog.text
    if layout == "dino":
        assert (
            "a DINO checkpoint: reading its 'teacher' (what DINO evaluates); "
            "not read: ['dino_loss', 'student']"
        ) in caplog.text


def test_two_candidate_encoders_without_a_rule_are_refused_naming_them(tmp_path: Path) -> None:
    """A module holding two copies of the network under names no known layout has (lightly's DINO
    example: ``student_backbone`` and ``teacher_backbone`` beside their heads) is refused naming both
    candidates and what to do, never read as one of them."""
    state = under("student_backbone.", pretrained_network().state_dict())
    state |= under("teacher_backbone.", pretrained_network(seed=1).state_dict())
    state |= {"student_head.0.weight": torch.zeros(4, 4), "teacher_head.0.weight": torch.zeros(4, 4)}
    source = saved(tmp_path, {"state_dict": state, "pytorch-lightning_version": "2.1.3"})
    with pytest.raises(ArtifactError) as info:
        import_pretrained(tmp_path, pretrained_config(), "timm", source, [1])
    message = str(info.value)
    assert f"{source}: expected a network's state dict" in message
    assert (
        "found 2 modules holding this network, ['student_backbone', 'teacher_backbone'] (beside "
        "student_head (1 tensors), teacher_head (1 tensors)), and no known layout says which to read"
    ) in message
    assert "save the chosen module's state dict alone (its keys with the prefix removed)" in message
    assert "training.backbone" not in message
    assert not (tmp_path / "model.ckpt").exists()


def test_reading_a_checkpoint_leaves_the_process_allowlist_as_it_was(tmp_path: Path) -> None:
    """load_weights_file allows argparse.Namespace while it reads (DINO's ``args``). Before, leaving its
    ``safe_globals`` context took Namespace off torch's process-wide allowlist even where the process had
    put it there itself (``add_safe_globals``), so a later ``torch.load(weights_only=True)`` elsewhere
    refused files it had allowed; now the allowlist is as before the read, with or without Namespace."""
    from dynaclr.io.weights import load_weights_file

    path = tmp_path / "dino.pth"
    torch.save({"args": argparse.Namespace(arch="resnet50"), "w": torch.zeros(2)}, path)
    before = list(torch.serialization.get_safe_globals())
    try:
        for allowed in (False, True):
            torch.serialization.clear_safe_globals()
            torch.serialization.add_safe_globals([*before, *([argparse.Namespace] if allowed else [])])
            read = load_weights_file(path, what="checkpoint", fix="fix it")
            assert read["args"].arch == "resnet50"
            assert (argparse.Namespace in torch.serialization.get_safe_globals()) == allowed
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(before)


def timm_repository(directory: Path, name: str, **pretrained: object) -> Path:
    """A timm network ``name`` (``arch.tag``) saved as a timm repository is downloaded: the weights
    and ``config.json`` beside them recording its architecture and ``pretrained_cfg`` (``tag``, mean,
    std; ``pretrained`` overrides them)."""
    torch.manual_seed(0)
    network = timm.create_model(name, pretrained=False, num_classes=10)
    directory.mkdir(parents=True)
    source = weights_file(directory, network)
    cfg = network.pretrained_cfg
    record = {"tag": cfg["tag"], "mean": list(cfg["mean"]), "std": list(cfg["std"]), **pretrained}
    config = {"architecture": cfg["architecture"], "num_classes": 10, "pretrained_cfg": record}
    (directory / "config.json").write_text(json.dumps(config))
    return source


def refused_as(directory: Path, backbone: str, source: Path, message: str) -> None:
    """Rule import_model of the timm file ``source`` as ``backbone`` fails with ``message``."""
    with pytest.raises(ArtifactError, match=message):
        import_pretrained(directory, pretrained_config(backbone=backbone), "timm", source, [1])
    assert not (directory / "model.ckpt").exists()


def test_a_tag_normalised_otherwise_than_its_architectures_default_must_be_named(tmp_path: Path) -> None:
    # resnet18d's default tag (ra2_in1k) normalises with ImageNet's mean and std, ra4_e3600_r224_in1k
    # with 0.5: a file of the latter under the bare name would see inputs of another scale
    torch.manual_seed(0)
    network = timm.create_model("resnet18d.ra4_e3600_r224_in1k", pretrained=False, num_classes=10).eval()
    source = tmp_path / "resnet18d.pth"
    torch.save(network.state_dict(), source)
    refused_as(
        tmp_path / "bare",
        "resnet18d",
        source,
        r"resnet18d\.pth: expected contrastive_models\.imagenet\.training\.backbone to name the "
        r"weights' pretrained tag, found 'resnet18d'.*resnet18d\.ra4_e3600_r224_in1k: mean \(0\.5, 0\.5, "
        r"0\.5\).*for \['resnet18d\.ra2_in1k'\]",
    )
    tagged = pretrained_config(backbone="resnet18d.ra4_e3600_r224_in1k")
    checkpoint, _ = import_pretrained(tmp_path / "tagged", tagged, "timm", source, [1])
    x = patches()
    features, _ = read_contrastive_checkpoint(checkpoint).encoder()(x)
    image = PretrainedImageInput(2, [1], "max", (0.5,) * 3, (0.5,) * 3)(x)
    with torch.inference_mode():
        expected = network.forward_head(network.forward_features(image), pre_logits=True)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)
    # an architecture whose every tag normalises alike needs no tag (the test network has one)
    import_pretrained(
        tmp_path / "one", pretrained_config(), "timm", weights_file(tmp_path, pretrained_network()), [1]
    )


def test_timms_config_beside_the_file_refuses_a_variant_of_the_same_tensors(tmp_path: Path) -> None:
    # resnetblur18 has every tensor name and shape of resnet18 (blur-pooled downsampling, no tensor):
    # its weights load strictly into resnet18 and compute other features; timm's config.json tells
    source = timm_repository(tmp_path / "repo", "resnetblur18")
    refused_as(
        tmp_path / "wrong",
        "resnet18",
        source,
        r"model\.safetensors: expected the weights of contrastive_models\.imagenet\.training\.backbone "
        r"'resnet18', found those of 'resnetblur18' \(the architecture .*repo/config\.json, timm's config of "
        r"model\.safetensors, records\).*"
        r"set contrastive_models\.imagenet\.training\.backbone: resnetblur18$",
    )
    _, summary = import_pretrained(
        tmp_path / "right", pretrained_config(backbone="resnetblur18"), "timm", source, [1]
    )
    assert summary["weights_read"]["timm_config"] == str(tmp_path / "repo" / "config.json")


def test_timms_config_beside_the_file_refuses_another_normalisation(tmp_path: Path) -> None:
    source = timm_repository(tmp_path / "repo", "resnet18d.ra4_e3600_r224_in1k")
    for backbone in ("resnet18d", "resnet18d.ra2_in1k"):
        refused_as(
            tmp_path / backbone,
            backbone,
            source,
            rf"expected weights normalised as contrastive_models\.imagenet\.training\.backbone "
            rf"'{re.escape(backbone)}' normalises its input \(mean \(0\.485, 0\.456, 0\.406\).*found weights "
            r"of 'resnet18d\.ra4_e3600_r224_in1k' \(mean \(0\.5, 0\.5, 0\.5\), std \(0\.5, 0\.5, 0\.5\), as "
            r".*config\.json, timm's config of model\.safetensors, records\).*set "
            r"contrastive_models\.imagenet\.training\.backbone: "
            r"resnet18d\.ra4_e3600_r224_in1k$",
        )
    # the default tag's weights, stated by config.json, under the bare name: the model.ckpt would not
    # say which weights it holds (embed could not tell), so the name must carry the tag
    default = timm_repository(tmp_path / "default", "resnet18d.ra2_in1k")
    refused_as(
        tmp_path / "bare",
        "resnet18d",
        default,
        r"expected contrastive_models\.imagenet\.training\.backbone to name the weights' pretrained tag, "
        r"found 'resnet18d'.*set contrastive_models\.imagenet\.training\.backbone: resnet18d\.ra2_in1k \(as "
        r".*default/config\.json, timm's config of model\.safetensors, records\)$",
    )
    # the tag that config.json states: imported; a config.json of this workflow beside a file is not timm's
    import_pretrained(
        tmp_path / "tagged", pretrained_config(backbone="resnet18d.ra4_e3600_r224_in1k"), "timm", source, [1]
    )


def test_an_earlier_import_under_a_name_of_several_normalisations_is_refused_when_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a model.ckpt an earlier version imported from a timm file as 'resnet18d' (no tag asked for): the
    # tag it holds is unknown; reading it again (import_model, as embed does) asks for the tag
    torch.manual_seed(0)
    source = tmp_path / "resnet18d.pth"
    torch.save(timm.create_model("resnet18d", pretrained=False, num_classes=10).state_dict(), source)
    untagged = pretrained_config(backbone="resnet18d")
    with monkeypatch.context() as patch:
        patch.setattr(imported, "check_timm_network", lambda *args, **kwargs: None)
        patch.setattr(imported, "recorded_normalisation", lambda encoder: {})  # nor recorded the input's
        earlier, _ = import_pretrained(tmp_path / "earlier", untagged, "timm", source, [1])
    with pytest.raises(
        ArtifactError,
        match=rf"{re.escape(str(earlier))}: expected contrastive_models\.imagenet\.training\.backbone "
        r"to name the weights' pretrained tag, found 'resnet18d'.* a model\.ckpt imported from a timm file "
        r"by an earlier version: does not say which it holds",
    ) as info:
        import_pretrained(tmp_path / "again", untagged, "dynaclr", earlier, [1])
    # the advice is to import the timm file again under the tagged name (session 25 review: it said
    # to set the tag, which the model.ckpt, recording the bare name, then refused as built otherwise)
    assert str(info.value).endswith(
        f"and import {source} again: contrastive_models.imagenet.pretrained_weights: {source} in place of "
        "its checkpoint (a model.ckpt records the name it was imported under, so it cannot be imported "
        "again under another)"
    )
    # the copy under the tagged name: built otherwise (its bare name recorded), and the advice is the same
    tagged = pretrained_config(backbone="resnet18d.ra2_in1k")
    with pytest.raises(
        ArtifactError,
        match=r"backbone: 'resnet18d' in the file, 'resnet18d\.ra2_in1k' in the config.*to the file's value, "
        rf"or, to name the pretrained tag, import {re.escape(str(source))} again: "
        rf"contrastive_models\.imagenet\.pretrained_weights: {re.escape(str(source))} "
        r"in place of its checkpoint$",
    ):
        import_pretrained(tmp_path / "copy_tagged", tagged, "dynaclr", earlier, [1])
    import_pretrained(tmp_path / "tagged", tagged, "timm", source, [1])


def test_timms_config_describes_only_the_weights_timm_writes_beside_it(tmp_path: Path) -> None:
    # a folder holding a timm download (model.safetensors, config.json of resnetblur18) and the user's
    # own resnet18 file: the config.json was read as that file's too and refused it (session 25 review)
    source = timm_repository(tmp_path / "models", "resnetblur18")
    torch.manual_seed(1)
    own = tmp_path / "models" / "resnet18.safetensors"
    own_network = timm.create_model("resnet18", pretrained=False, num_classes=10)
    save_file({k: v.contiguous() for k, v in own_network.state_dict().items()}, str(own))
    _, summary = import_pretrained(tmp_path / "own", pretrained_config(backbone="resnet18"), "timm", own, [1])
    assert "timm_config" not in summary["weights_read"]
    refused_as(tmp_path / "download", "resnet18", source, r"timm's config of model\.safetensors, records\)")


def test_an_unpublished_tag_in_timms_config_suggests_published_tags_normalising_alike(tmp_path: Path) -> None:
    # a fine-tune saved by timm's save_for_hf under its own tag (timm refuses it as a backbone name) with
    # the default tag's normalisation: the advice named the bare name it refused (session 25 review)
    source = timm_repository(tmp_path / "repo", "resnet18d.ra2_in1k", tag="my_cells_ft")
    refused_as(
        tmp_path / "bare",
        "resnet18d",
        source,
        r"records tag 'my_cells_ft', which timm does not publish, with mean \(0\.485, 0\.456, 0\.406\), "
        r"std \(0\.229, 0\.224, 0\.225\), as the published \['resnet18d\.ra2_in1k'\]: set "
        r"contrastive_models\.imagenet\.training\.backbone: resnet18d\.ra2_in1k "
        r"\(the weights stay the file's\)$",
    )
    import_pretrained(
        tmp_path / "tagged", pretrained_config(backbone="resnet18d.ra2_in1k"), "timm", source, [1]
    )
    odd = timm_repository(tmp_path / "odd", "resnet18d.ra2_in1k", tag="mine", mean=[0.1] * 3, std=[0.2] * 3)
    refused_as(tmp_path / "odd_bare", "resnet18d", odd, r"which no published tag of 'resnet18d' has")


def test_timms_config_is_recorded_as_an_input_with_its_digest(tmp_path: Path) -> None:
    source = timm_repository(tmp_path / "repo", "resnetblur18")
    checkpoint, summary = import_pretrained(
        tmp_path / "model", pretrained_config(backbone="resnetblur18"), "timm", source, [1]
    )
    config_json = tmp_path / "repo" / "config.json"
    assert (
        summary["weights_read"]["timm_config_sha256"] == hashlib.sha256(config_json.read_bytes()).hexdigest()
    )
    inputs = [item.path for item in read_contrastive_checkpoint(checkpoint).provenance.inputs]
    assert inputs == [str(source), str(config_json)]


def test_a_config_json_that_is_not_timms_beside_the_weights_is_not_compared(tmp_path: Path) -> None:
    # e.g. a model config of this workflow (no architecture and pretrained_cfg) beside model.safetensors
    source = timm_repository(tmp_path / "repo", "resnetblur18")
    (tmp_path / "repo" / "config.json").write_text(json.dumps({"backbone": "resnet18", "stem": "backbone"}))
    _, summary = import_pretrained(
        tmp_path / "model", pretrained_config(backbone="resnet18"), "timm", source, [1]
    )
    assert "timm_config" not in summary["weights_read"]


def test_an_unreadable_timm_config_beside_the_weights_is_named(tmp_path: Path) -> None:
    source = timm_repository(tmp_path / "repo", "resnetblur18")
    (tmp_path / "repo" / "config.json").write_text('{"architecture": "resnetblur18", ')
    refused_as(
        tmp_path / "model",
        "resnetblur18",
        source,
        r"repo/config\.json: expected timm's config of the weights model\.safetensors beside it \(JSON\), "
        r"found a file that cannot be read",
    )


def test_a_copy_recording_its_normalisation_is_checked_against_it_not_timms_tags_of_the_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # embed (and import_model reading a copy) re-checked every timm copy against the installed timm's
    # tags: a timm publishing a tag of other normalisation for the architecture refused a copy that
    # passed at import (session 25 review). The import now records the normalisation resolved, and
    # a copy holding it is compared with it; one without it keeps the check of the tags
    source = weights_file(tmp_path, pretrained_network())
    copy, summary = import_pretrained(tmp_path / "first", pretrained_config(), "timm", source, [1])
    resolved = timm.create_model(BACKBONE, pretrained=False).pretrained_cfg
    assert summary["weights_read"]["pretrained_tag"] == resolved["tag"]
    assert summary["weights_read"]["input_mean"] == pytest.approx(list(resolved["mean"]))
    assert summary["weights_read"]["input_std"] == pytest.approx(list(resolved["std"]))
    monkeypatch.setattr(imported, "_tags_normalised_otherwise", lambda *args: "a new tag: mean (0.5, ...)")
    import_pretrained(tmp_path / "again", pretrained_config(), "dynaclr", copy, [1])
    # a copy without the record (imported before it existed) is checked against timm's tags
    content = torch.load(copy, map_location="cpu", weights_only=True)
    unrecorded = tmp_path / "unrecorded.ckpt"
    summary_key = next(k for k, v in content.items() if isinstance(v, dict) and "weights_read" in v)
    for key in NORMALISATION_RECORD:
        del content[summary_key]["weights_read"][key]
    torch.save(content, unrecorded)
    with pytest.raises(
        ArtifactError, match=r"whose pretrained weights normalise their input otherwise by tag"
    ):
        import_pretrained(tmp_path / "old", pretrained_config(), "dynaclr", unrecorded, [1])
    # a copy whose record differs from what the installed timm gives the name is refused naming both
    content[summary_key]["weights_read"].update(
        pretrained_tag="old", input_mean=[0.1] * 3, input_std=[0.2] * 3
    )
    other = tmp_path / "other.ckpt"
    torch.save(content, other)
    with pytest.raises(
        ArtifactError,
        match=rf"{re.escape(str(other))}: expected contrastive_models\.imagenet\.training\.backbone "
        rf"'{BACKBONE}' to normalise its input as when the model was imported \(tag 'old': mean \(0\.1, "
        r"0\.1, 0\.1\), std \(0\.2, 0\.2, 0\.2\)\), found mean \(0\.5, 0\.5, 0\.5\).*from the installed timm",
    ):
        import_pretrained(tmp_path / "other", pretrained_config(), "dynaclr", other, [1])


@pytest.mark.parametrize("backbone", ["resnet18.my_cells_ft", "resnet18.a1_in1kk"])
def test_an_unpublished_pretrained_tag_names_the_key_and_the_published_tags(
    tmp_path: Path, backbone: str
) -> None:
    # timm itself refuses such a name with a bare "RuntimeError: Invalid pretrained tag"
    source = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False, num_classes=10).state_dict(), source)
    with pytest.raises(
        ArtifactError,
        match=rf"contrastive_models\.imagenet\.training\.backbone: expected the architecture's name alone "
        rf"\('resnet18'\) or with a pretrained tag timm publishes for it \(\[.*'resnet18\.a1_in1k'.*\]\), "
        rf"found '{re.escape(backbone)}'",
    ):
        import_pretrained(tmp_path / "out", pretrained_config(backbone=backbone), "timm", source, [1])
    assert not (tmp_path / "out" / "model.ckpt").exists()
    with pytest.raises(ValueError, match=r"^backbone: expected .*'resnet18\.tv_in1k'"):
        ContrastiveEncoder(backbone=backbone, stem="backbone", projection_dim=0)
    assert ContrastiveEncoder(backbone="resnet18.a1_in1k", stem="backbone", projection_dim=0)


TAGGED = f"{BACKBONE}.r160_in1k"  # timm publishes it with mean = std = 0.5


def timm_normalising_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed timm gives every network ImageNet's mean and std (a timm whose tag changed)."""
    create = timm.create_model

    def other(name: str, **kwargs: object) -> torch.nn.Module:
        network = create(name, **kwargs)
        network.pretrained_cfg = {**network.pretrained_cfg, "mean": MEAN, "std": STD}
        return network

    monkeypatch.setattr(timm, "create_model", other)


def timm_without_the_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed timm no longer publishes ``TAGGED``: its name is refused, as timm refuses it."""
    create = timm.create_model

    def untagged(name: str, **kwargs: object) -> torch.nn.Module:
        if name == TAGGED:
            raise RuntimeError(f"Invalid pretrained tag ({TAGGED.split('.')[1]}) for {BACKBONE}.")
        return create(name, **kwargs)

    monkeypatch.setattr(timm, "create_model", untagged)
    monkeypatch.setattr(encoder_module, "get_arch_pretrained_cfgs", lambda architecture: {})


def test_every_model_ckpt_reads_its_input_normalisation_not_timms_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # a stem: backbone model.ckpt recorded no normalisation in its network (timm import: in its
    # summary only, and a copy imported from it none): reading it took timm's lookup of the tag, so a
    # timm normalising the tag otherwise embedded the copy at another scale with exit 0, and a timm
    # without the tag made both unloadable (session 26)
    source = weights_file(tmp_path, pretrained_network())
    first, _ = import_pretrained(tmp_path / "first", pretrained_config(backbone=TAGGED), "timm", source, [1])
    again, _ = import_pretrained(
        tmp_path / "again", pretrained_config(backbone=TAGGED), "dynaclr", first, [1]
    )
    expected = {"pretrained_tag": "r160_in1k", "input_mean": [0.5] * 3, "input_std": [0.5] * 3}
    features = {}
    for path in (first, again):
        stored = torch.load(path, map_location="cpu", weights_only=True)["hyper_parameters"]
        assert stored["input_normalisation"] == expected
        assert read_contrastive_checkpoint(path).input_normalisation == expected
        features[path] = read_contrastive_checkpoint(path).encoder()(patches())[0]
    with monkeypatch.context() as patch:
        timm_normalising_otherwise(patch)
        timms = ContrastiveEncoder(TAGGED, 2, 5, stem="backbone", channel_indices=[1])
        assert timms.input_stem.mean.flatten().tolist() == pytest.approx(list(MEAN))
        for path in (first, again):
            torch.testing.assert_close(
                read_contrastive_checkpoint(path).encoder()(patches())[0], features[path]
            )
    with monkeypatch.context() as patch:
        timm_without_the_tag(patch)
        with pytest.raises(ValueError, match=r"found 'test_convnext\.r160_in1k'"):
            ContrastiveEncoder(TAGGED, 2, 5, stem="backbone", channel_indices=[1])
        for path in (first, again):
            with caplog.at_level(logging.WARNING):
                encoder = read_contrastive_checkpoint(path).encoder()
            torch.testing.assert_close(encoder(patches())[0], features[path])
        assert "the installed timm does not publish its tag; built as 'test_convnext'" in caplog.text
        imported_again, _ = import_pretrained(
            tmp_path / "third", pretrained_config(backbone=TAGGED), "dynaclr", again, [1]
        )
        torch.testing.assert_close(
            read_contrastive_checkpoint(imported_again).encoder()(patches())[0], features[again]
        )


def test_a_model_ckpt_without_the_record_takes_timms_normalisation_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = weights_file(tmp_path, pretrained_network())
    path, _ = import_pretrained(tmp_path / "first", pretrained_config(), "timm", source, [1])
    content = torch.load(path, map_location="cpu", weights_only=True)
    del content["hyper_parameters"]["input_normalisation"]
    summary_key = next(k for k, v in content.items() if isinstance(v, dict) and "weights_read" in v)
    for key in NORMALISATION_RECORD:
        del content[summary_key]["weights_read"][key]
    torch.save(content, path)
    with caplog.at_level(logging.WARNING):
        encoder = read_contrastive_checkpoint(path).encoder()
    assert encoder.input_normalisation() == {
        "pretrained_tag": timm.create_model(BACKBONE, pretrained=False).pretrained_cfg["tag"],
        "input_mean": pytest.approx([0.5] * 3),
        "input_std": pytest.approx([0.5] * 3),
    }
    assert (
        f"backbone {BACKBONE!r}) records no input normalisation (written by an older dynaclr)" in caplog.text
    )
    content["hyper_parameters"]["input_normalisation"] = {"input_mean": [0.5] * 3, "input_std": [0.0] * 3}
    torch.save(content, path)
    refused = rf"{re.escape(str(path))}: input_normalisation: expected input_mean"
    with pytest.raises(ArtifactError, match=refused):
        read_contrastive_checkpoint(path)


def test_a_trained_module_records_its_input_normalisation(monkeypatch: pytest.MonkeyPatch) -> None:
    # last.ckpt and model.ckpt hold the module's hyperparameters: the normalisation the encoder
    # resolved is one of them, and a module built from them again keeps it whatever timm says
    from dynaclr.training.module import ContrastiveModule

    arguments = {
        "config": pretrained_config(backbone=TAGGED).model_dump(mode="json"),
        "in_channels": 1,
        "in_stack_depth": 5,
        "patch_size_yx_px": 32,
        "tau_frames": 1,
    }
    module = ContrastiveModule(**arguments)
    recorded = dict(module.hparams)["input_normalisation"]
    assert recorded == {"pretrained_tag": "r160_in1k", "input_mean": [0.5] * 3, "input_std": [0.5] * 3}
    timm_normalising_otherwise(monkeypatch)
    again = ContrastiveModule(**dict(module.hparams))
    assert again.encoder.input_normalisation() == recorded
    assert ContrastiveModule(**arguments).encoder.input_normalisation()["input_mean"] == pytest.approx(
        list(MEAN)
    )
    # a z-fold encoder normalises nothing so: recorded as None
    assert (
        ContrastiveModule(
            **{
                **arguments,
                "config": pretrained_config(
                    stem="z_fold", input_channels=None, z_reduction="middle", projection_dim=8
                ).model_dump(mode="json"),
            }
        ).hparams["input_normalisation"]
        is None
    )


@pytest.mark.parametrize("backbone", ["resnet18d.ra4_e3600_r224_in1k", "convnext_atto_ols"])
def test_a_pretrained_network_of_its_own_stem_is_plannable_as_import_model_takes_it(
    tmp_path: Path, backbone: str
) -> None:
    # the dry run checked a stem: backbone name against the z-fold stem's list, so resnet18d (whose
    # deep stem the z-fold stem cannot replace) was refused at planning though import_model took it
    # (session 26); both check contrastive_backbones(stem) now
    from dynaclr.config.plate_checks import simulated_layout, workflow_problems

    entry = copy.deepcopy(PRETRAINED_ENTRY)
    entry["training"]["backbone"] = backbone
    config = WorkflowConfig.model_validate(with_model(entry))
    layouts = {
        name: simulated_layout(d.simulate, f"results/{name}/raw.zarr") for name, d in config.datasets.items()
    }
    assert not [p for p in workflow_problems(config, layouts, "results") if "training.backbone" in p]
    torch.manual_seed(0)
    source = tmp_path / "weights.pth"
    architecture = backbone.split(".")[0]
    torch.save(timm.create_model(architecture, pretrained=False, num_classes=10).state_dict(), source)
    import_pretrained(tmp_path / "model", pretrained_config(backbone=backbone), "timm", source, [1])
    # a name of neither list is refused by both, alike
    entry["training"]["backbone"] = "resnetv2_50"
    config = WorkflowConfig.model_validate(with_model(entry))
    planned = [p for p in workflow_problems(config, layouts, "results") if "training.backbone" in p]
    with pytest.raises(ArtifactError) as error:
        import_pretrained(tmp_path / "other", pretrained_config(backbone="resnetv2_50"), "timm", source, [1])
    assert planned == [str(error.value)]
