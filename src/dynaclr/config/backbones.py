"""The timm backbones the networks can be built from, by name, without importing timm.

Importing timm (and torch) takes seconds, and every SLURM job parses the Snakefile again, so the
workflow checks a config's backbones against these lists when it is parsed
(:func:`dynaclr.config.plate_checks.workflow_problems`) instead of asking timm.
``tests/unit/test_backbones.py`` builds every ConvNeXt and ResNet of the installed timm (on the
``meta`` device, no memory) and fails when these lists and what the networks accept drift apart.

* Contrastive encoder (:class:`dynaclr.contrastive.ContrastiveEncoder`): ConvNeXt and ConvNeXt-V2
  with the 4x4 stride-4 "patch" stem, ResNets with one stride-2 ``conv1`` and a stride-2 max pool
  (the z-fold stem replaces theirs); with ``stem: backbone`` every timm ConvNeXt and ResNet
  (:func:`contrastive_backbones`).
* Virtual staining (:class:`dynaclr.virtual_stain.network.VirtualStainUNet`): every ConvNeXt.

Both accept timm's ``test_convnext*`` models (0.2-0.35 M parameters): tests and fixtures; a
pretrained stem its ``test_resnet`` too.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

CONTRASTIVE_BACKBONES: frozenset[str] = frozenset(
    {
        "convnext_atto",
        "convnext_atto_rms",
        "convnext_base",
        "convnext_femto",
        "convnext_large",
        "convnext_large_mlp",
        "convnext_nano",
        "convnext_pico",
        "convnext_small",
        "convnext_tiny",
        "convnext_tiny_hnf",
        "convnext_xlarge",
        "convnext_xxlarge",
        "convnext_zepto_rms",
        "convnextv2_atto",
        "convnextv2_base",
        "convnextv2_femto",
        "convnextv2_huge",
        "convnextv2_large",
        "convnextv2_nano",
        "convnextv2_pico",
        "convnextv2_small",
        "convnextv2_tiny",
        "resnet18",
        "resnet26",
        "resnet34",
        "resnet50",
        "resnet50_gn",
        "resnet101",
        "resnet152",
        "resnet200",
        "test_convnext",
        "test_convnext2",
        "test_convnext3",
    }
)

#: The ConvNeXts and ResNets whose stem the z-fold stem cannot replace (ResNets' deep ``c``/``d``/
#: ``s``/``t`` stems, anti-aliased and blurred ones, ``resnetrs``; ConvNeXts' overlapping ``ols``
#: stems): a contrastive encoder with ``stem: backbone`` keeps the network's own stem and takes them.
_OWN_STEM_ONLY_BACKBONES: frozenset[str] = frozenset(
    {
        "convnext_atto_ols",
        "convnext_femto_ols",
        "convnext_nano_ols",
        "convnext_pico_ols",
        "convnext_zepto_rms_ols",
        "resnet101c",
        "resnet101d",
        "resnet101s",
        "resnet10t",
        "resnet14t",
        "resnet152c",
        "resnet152d",
        "resnet152s",
        "resnet18d",
        "resnet200d",
        "resnet26d",
        "resnet26t",
        "resnet34d",
        "resnet50c",
        "resnet50d",
        "resnet50s",
        "resnet50t",
        "resnetaa101d",
        "resnetaa34d",
        "resnetaa50",
        "resnetaa50d",
        "resnetblur101d",
        "resnetblur18",
        "resnetblur50",
        "resnetblur50d",
        "resnetrs101",
        "resnetrs152",
        "resnetrs200",
        "resnetrs270",
        "resnetrs350",
        "resnetrs420",
        "resnetrs50",
        "test_resnet",
    }
)

#: The backbones of a contrastive encoder with ``stem: backbone`` (a pretrained network used as
#: published: rule ``import_model``): every timm ConvNeXt and ResNet network.
PRETRAINED_STEM_BACKBONES: frozenset[str] = CONTRASTIVE_BACKBONES | _OWN_STEM_ONLY_BACKBONES


def contrastive_backbones(stem: str) -> frozenset[str]:
    """The backbones a contrastive encoder with ``stem`` (``z_fold`` or ``backbone``) is built from:
    the one list the dry run and ``import_model`` check a model's ``backbone`` against."""
    return PRETRAINED_STEM_BACKBONES if stem == "backbone" else CONTRASTIVE_BACKBONES


VIRTUAL_STAIN_BACKBONES: frozenset[str] = frozenset(
    {
        "convnext_atto",
        "convnext_atto_ols",
        "convnext_atto_rms",
        "convnext_base",
        "convnext_femto",
        "convnext_femto_ols",
        "convnext_large",
        "convnext_large_mlp",
        "convnext_nano",
        "convnext_nano_ols",
        "convnext_pico",
        "convnext_pico_ols",
        "convnext_small",
        "convnext_tiny",
        "convnext_tiny_hnf",
        "convnext_xlarge",
        "convnext_xxlarge",
        "convnext_zepto_rms",
        "convnext_zepto_rms_ols",
        "convnextv2_atto",
        "convnextv2_base",
        "convnextv2_femto",
        "convnextv2_huge",
        "convnextv2_large",
        "convnextv2_nano",
        "convnextv2_pico",
        "convnextv2_small",
        "convnextv2_tiny",
        "test_convnext",
        "test_convnext2",
        "test_convnext3",
    }
)


#: How :func:`backbone_label` names each family of timm backbones (longest prefix first).
_FAMILY_LABELS: tuple[tuple[str, str], ...] = (
    ("convnextv2", "ConvNeXtV2"),
    ("convnext", "ConvNeXt"),
    ("resnet", "ResNet"),
)


def backbone_label(name: str) -> str:
    """A timm backbone as a reader names it: ``convnext_atto`` reads ``ConvNeXt-atto``,
    ``convnextv2_tiny`` ``ConvNeXtV2-tiny``, ``resnet50_gn`` ``ResNet-50-gn``; a name of another
    family (``test_convnext``) is returned as timm spells it."""
    for prefix, label in _FAMILY_LABELS:
        if name.startswith(prefix):
            return label + "".join(f"-{part}" for part in name[len(prefix) :].split("_") if part)
    return name


def backbone_problem(
    key: str, name: str, supported: Collection[str], network: str, *, tagged: bool = False
) -> str | None:
    """One line naming ``key``, the backbones ``network`` accepts and ``name``; ``None`` when supported.

    ``tagged``: ``name`` may end in a pretrained tag (``convnext_tiny.in12k_ft_in1k``: a pretrained
    contrastive backbone's weights), and its architecture (before the first ``.``, as timm splits it)
    is checked. Whether timm publishes the tag is not: timm's tag lists import torch (seconds at every
    parse), so ``import_model`` checks it where it builds the encoder
    (:func:`dynaclr.contrastive.encoder.pretrained_tag_problem`), naming the published tags."""
    if (name.split(".", 1)[0] if tagged else name) in supported:
        return None
    close = difflib.get_close_matches(name, sorted(supported), n=3, cutoff=0.6)
    hint = f"; close matches: {close}" if close else ""
    examples = ", ".join(sorted(supported)[:3])
    return (
        f"{key}: expected a timm backbone the {network} can be built from ({examples}, ...; "
        f"dynaclr.config.backbones lists all {len(supported)}), found {name!r}{hint}"
    )


def minimum_input_size_px(backbone: str) -> int:
    """Smallest patch side (Y and X, pixels) the contrastive encoder on ``backbone`` can encode.

    Both stems have stride 4. A ConvNeXt then downsamples three times with unpadded 2x2 stride-2
    convolutions, each needing at least 2 px: 4 x 2 x 2 x 2 = 32 px. A ResNet's stages pad their
    convolutions and end in a global pool, so the stem's 4 px suffice.
    """
    return 32 if "convnext" in backbone else 4


def input_size_problem(key: str, backbone: str, size_yx_px: tuple[int, int], what: str) -> str | None:
    """One line naming ``key``, the smallest input ``backbone`` takes and ``what`` gives
    ``size_yx_px``; ``None`` when the encoder can take it."""
    minimum = minimum_input_size_px(backbone)
    if min(size_yx_px) >= minimum:
        return None
    return (
        f"{key}: backbone {backbone!r} needs patches of at least {minimum} x {minimum} px (its "
        f"downsampling would shrink a smaller one to nothing), found {list(size_yx_px)} px from {what}; "
        f"raise the patch size to {minimum} or more, or choose a ResNet backbone"
    )
