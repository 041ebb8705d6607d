"""The committed backbone lists (checked at parse time, without timm) against the installed timm."""

from __future__ import annotations

import pytest

from dynaclr.config.backbones import (
    CONTRASTIVE_BACKBONES,
    PRETRAINED_STEM_BACKBONES,
    VIRTUAL_STAIN_BACKBONES,
    backbone_problem,
    contrastive_backbones,
    input_size_problem,
    minimum_input_size_px,
)


def test_every_listed_backbone_is_a_timm_model() -> None:
    import timm

    unknown = sorted(
        name for name in PRETRAINED_STEM_BACKBONES | VIRTUAL_STAIN_BACKBONES if not timm.is_model(name)
    )
    assert not unknown, f"not timm models (update dynaclr.config.backbones): {unknown}"


def test_backbone_problem_names_key_found_and_close_matches() -> None:
    assert backbone_problem("k", "convnext_atto", CONTRASTIVE_BACKBONES, "encoder") is None
    problem = backbone_problem("a.backbone", "resnet-18", CONTRASTIVE_BACKBONES, "encoder")
    assert problem is not None
    assert problem.startswith("a.backbone: expected a timm backbone the encoder can be built from")
    assert "found 'resnet-18'" in problem and "'resnet18'" in problem


@pytest.mark.slow
def test_lists_are_exactly_the_backbones_the_networks_accept() -> None:
    """Builds every ConvNeXt and ResNet of the installed timm on the meta device (about 20 s)."""
    import timm
    import torch
    from timm.models.convnext import ConvNeXt
    from timm.models.resnet import ResNet

    from dynaclr.contrastive.encoder import _replace_backbone_stem
    from dynaclr.virtual_stain.network import VirtualStainUNet

    contrastive, own_stem, virtual_stain = set(), set(), set()
    for name in (
        timm.list_models("convnext*")
        + timm.list_models("resnet*")
        + timm.list_models("test_convnext*")
        + timm.list_models("test_resnet*")
    ):
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, num_classes=0)
            if isinstance(model, ConvNeXt | ResNet):  # stem: backbone keeps the network's own stem
                own_stem.add(name)
            try:
                _replace_backbone_stem(model, name)
                contrastive.add(name)
            except NotImplementedError:
                pass
            if "convnext" in name:
                try:
                    VirtualStainUNet(name, input_depth_slices=5)
                    virtual_stain.add(name)
                except (NotImplementedError, ValueError):
                    pass
    assert contrastive == CONTRASTIVE_BACKBONES
    assert own_stem == PRETRAINED_STEM_BACKBONES
    assert virtual_stain == VIRTUAL_STAIN_BACKBONES


def test_a_pretrained_stem_takes_every_convnext_and_resnet_a_z_fold_stem_takes_those_it_replaces() -> None:
    # resnet18d (a deep stem the z-fold stem cannot replace) was refused at planning with stem:
    # backbone, though import_model took it (session 26): one list per stem, checked by both
    assert contrastive_backbones("z_fold") == CONTRASTIVE_BACKBONES < PRETRAINED_STEM_BACKBONES
    assert contrastive_backbones("backbone") == PRETRAINED_STEM_BACKBONES
    for name in ("resnet18d", "resnet50d", "convnext_atto_ols"):
        assert name in PRETRAINED_STEM_BACKBONES and name not in CONTRASTIVE_BACKBONES
    assert "resnetv2_50" not in PRETRAINED_STEM_BACKBONES  # another family


@pytest.mark.parametrize("backbone", ["test_convnext", "resnet18"])
@pytest.mark.parametrize("stem", ["z_fold", "backbone"])
def test_minimum_input_size_is_the_smallest_patch_the_encoder_takes(backbone: str, stem: str) -> None:
    """A patch of minimum_input_size_px is encoded; a ConvNeXt refuses one 4 px smaller (its unpadded
    2x2 downsamplings run out of pixels), which input_size_problem then names."""
    import torch

    from dynaclr.contrastive import ContrastiveEncoder

    encoder = ContrastiveEncoder(backbone=backbone, in_channels=1, in_stack_depth=1, stem=stem).eval()
    minimum = minimum_input_size_px(backbone)
    with torch.no_grad():
        features, _ = encoder(torch.zeros(2, 1, 1, minimum, minimum))
        assert features.shape[0] == 2 and torch.isfinite(features).all()
        if "convnext" in backbone:
            with pytest.raises(RuntimeError):
                encoder(torch.zeros(2, 1, 1, minimum - 4, minimum - 4))
    assert input_size_problem("k", backbone, (minimum, minimum), "here") is None
    smaller = (minimum - 4, minimum)
    if "convnext" in backbone:
        problem = input_size_problem("k", backbone, smaller, "here")
        assert problem is not None and problem.startswith(
            f"k: backbone {backbone!r} needs patches of at least"
        )
        assert f"found {list(smaller)} px from here" in problem
