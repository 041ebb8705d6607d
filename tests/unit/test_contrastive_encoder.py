"""Tests for dynaclr.contrastive.encoder on small timm backbones (CPU, pretrained=False)."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from dynaclr.contrastive.encoder import ContrastiveEncoder, DepthToChannelStem
from dynaclr.io import ArtifactError


@pytest.fixture(scope="module", autouse=True)
def _single_thread() -> Iterator[None]:
    """Tiny models are fastest single-threaded; on a busy 2-core machine OpenMP spinning costs ~10x."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def atto_3d() -> ContrastiveEncoder:
    torch.manual_seed(0)
    return ContrastiveEncoder("convnext_atto", in_channels=2, in_stack_depth=15, stem_kernel_z=5).eval()


def test_3d_output_shapes(atto_3d: ContrastiveEncoder) -> None:
    x = torch.randn(2, 2, 15, 64, 64)
    with torch.no_grad():
        features, projections = atto_3d(x)
    assert atto_3d.embedding_dim == 320
    assert features.shape == (2, 320)
    assert projections.shape == (2, 32)
    assert torch.isfinite(features).all() and torch.isfinite(projections).all()


def test_3d_stem_folds_depth_into_backbone_stem_width() -> None:
    # convnext_atto's stem is 40 channels wide; Z/kz = 15/3 = 5 planes of 8 channels fold exactly
    stem = DepthToChannelStem(in_channels=2, in_stack_depth=15, stem_kernel_z=3, out_channels=40)
    assert stem.channels_per_plane == 8
    assert isinstance(stem.mix, torch.nn.Identity)
    out = stem(torch.randn(3, 2, 15, 32, 48))
    assert out.shape == (3, 40, 8, 12)
    # folding puts channel c of depth plane d at index c * depth + d: compare with the raw Conv3d
    x = torch.randn(1, 2, 15, 8, 8)
    raw = stem.conv(x)  # (1, 8, 5, 2, 2)
    folded = stem(x)
    torch.testing.assert_close(folded[:, 3 * 5 + 4], raw[:, 3, 4])


def test_3d_stem_non_divisible_width_uses_channel_mixing() -> None:
    # 40 channels over Z/kz = 3 planes: 14 per plane, 42 folded, mixed down to 40
    stem = DepthToChannelStem(in_channels=1, in_stack_depth=15, stem_kernel_z=5, out_channels=40)
    assert stem.channels_per_plane == 14
    assert isinstance(stem.mix, torch.nn.Conv2d) and stem.mix.in_channels == 42
    assert stem(torch.randn(1, 1, 15, 16, 16)).shape == (1, 40, 4, 4)


@pytest.mark.parametrize("shape", [(2, 3, 1, 64, 64), (2, 3, 64, 64)])
def test_2d_input_shapes(shape: tuple[int, ...]) -> None:
    model = ContrastiveEncoder("convnext_atto", in_channels=3, in_stack_depth=1, projection_dim=16).eval()
    with torch.no_grad():
        features, projections = model(torch.randn(*shape))
    assert features.shape == (2, 320)
    assert projections.shape == (2, 16)
    assert isinstance(model.input_stem.conv, torch.nn.Conv2d)


def test_2d_and_5d_singleton_depth_agree() -> None:
    model = ContrastiveEncoder("convnext_atto", in_channels=1, in_stack_depth=1).eval()
    x = torch.randn(2, 1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], model(x[:, :, 0])[0])


def test_convnext_pico_and_resnet_backbones() -> None:
    pico = ContrastiveEncoder("convnext_pico", in_channels=1, in_stack_depth=10, stem_kernel_z=5).eval()
    resnet = ContrastiveEncoder("resnet18", in_channels=1, in_stack_depth=4, stem_kernel_z=2).eval()
    with torch.no_grad():
        assert pico(torch.randn(2, 1, 10, 64, 64))[0].shape == (2, 512)
        assert resnet(torch.randn(2, 1, 4, 64, 64))[0].shape == (2, 512)
    # resnet keeps bn1/act1 and drops the stride-2 conv1 and maxpool (overall stride stays 4 * 8)
    assert isinstance(resnet.backbone.conv1, torch.nn.Identity)
    assert isinstance(resnet.backbone.maxpool, torch.nn.Identity)


def test_training_step_updates_stem_and_backbone() -> None:
    model = ContrastiveEncoder("convnext_atto", in_channels=1, in_stack_depth=5, stem_kernel_z=5)
    model.train()
    _, projections = model(torch.randn(4, 1, 5, 32, 32))
    projections.pow(2).sum().backward()
    assert model.input_stem.conv.weight.grad is not None
    assert model.input_stem.conv.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)


def test_depth_not_divisible_by_kernel_raises() -> None:
    with pytest.raises(ValueError, match=r"in_stack_depth \(Z=16\).*stem_kernel_z=5"):
        ContrastiveEncoder("convnext_atto", in_channels=1, in_stack_depth=16, stem_kernel_z=5)


def test_2d_with_z_kernel_raises() -> None:
    with pytest.raises(ValueError, match="stem_kernel_z=1"):
        ContrastiveEncoder("convnext_atto", in_channels=1, in_stack_depth=1, stem_kernel_z=5)


def test_wrong_input_shape_raises_naming_channels_and_depth(atto_3d: ContrastiveEncoder) -> None:
    with pytest.raises(ValueError, match=r"in_stack_depth=15"):
        atto_3d(torch.randn(1, 2, 10, 64, 64))
    with pytest.raises(ValueError, match=r"in_channels=2"):
        atto_3d(torch.randn(1, 3, 15, 64, 64))


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "convnext_atto_ols", "resnet50d"])
def test_unsupported_backbone_raises(name: str) -> None:
    with pytest.raises(NotImplementedError, match="supported families"):
        ContrastiveEncoder(name, in_channels=1, in_stack_depth=1)


def test_weights_round_trip(tmp_path: Path, atto_3d: ContrastiveEncoder) -> None:
    path = tmp_path / "encoder.pt"
    torch.save(atto_3d.state_dict(), path)
    torch.manual_seed(99)
    loaded = ContrastiveEncoder(
        "convnext_atto", in_channels=2, in_stack_depth=15, stem_kernel_z=5, weights_path=str(path)
    ).eval()
    x = torch.randn(2, 2, 15, 64, 64)
    with torch.no_grad():
        for expected, got in zip(atto_3d(x), loaded(x), strict=True):
            torch.testing.assert_close(got, expected)
    # a checkpoint wrapped as {"state_dict": ...} also loads
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": atto_3d.state_dict()}, wrapped)
    loaded.load_weights(wrapped)


def test_weights_round_trip_backbone_only(tmp_path: Path) -> None:
    import timm

    torch.manual_seed(1)
    plain = timm.create_model("convnext_atto", pretrained=False, num_classes=10)
    path = tmp_path / "timm_backbone.pt"
    torch.save(plain.state_dict(), path)
    model = ContrastiveEncoder(
        "convnext_atto", in_channels=1, in_stack_depth=5, stem_kernel_z=5, weights_path=path
    )
    torch.testing.assert_close(
        model.backbone.stages[2].blocks[0].conv_dw.weight, plain.stages[2].blocks[0].conv_dw.weight
    )
    torch.testing.assert_close(model.backbone.stem[1].weight, plain.stem[1].weight)


def test_weights_shape_mismatch_raises_naming_channels_and_depth(
    tmp_path: Path, atto_3d: ContrastiveEncoder
) -> None:
    path = tmp_path / "encoder.pt"
    torch.save(atto_3d.state_dict(), path)
    with pytest.raises(ValueError, match=r"C=1 and depth Z=10.*input_stem\.conv\.weight"):
        ContrastiveEncoder(
            "convnext_atto", in_channels=1, in_stack_depth=10, stem_kernel_z=5, weights_path=path
        )


def test_weights_from_other_backbone_raise(tmp_path: Path, atto_3d: ContrastiveEncoder) -> None:
    path = tmp_path / "encoder.pt"
    torch.save(atto_3d.state_dict(), path)
    with pytest.raises(ValueError, match="do not fit"):
        ContrastiveEncoder(
            "convnext_pico", in_channels=2, in_stack_depth=15, stem_kernel_z=5, weights_path=path
        )


def test_weights_path_missing_raises(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"absent.pt: encoder weights file not found; copy"):
        ContrastiveEncoder("convnext_atto", weights_path=tmp_path / "absent.pt")


def test_weights_only_rejects_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    # a path would be read as metadata (a stand-in, dynaclr.io.weights.METADATA_GLOBALS); a Fraction is not
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": Fraction(1, 3)}, path)
    with pytest.raises(ArtifactError, match=r"objects other than tensors") as raised:
        ContrastiveEncoder("convnext_atto", weights_path=path)
    assert "weights_only=False" not in str(raised.value)  # never torch's advice to load it unsafely


def test_truncated_weights_file_names_the_file_and_the_fix(
    tmp_path: Path, atto_3d: ContrastiveEncoder
) -> None:
    path = tmp_path / "encoder.pt"
    torch.save(atto_3d.state_dict(), path)
    path.write_bytes(path.read_bytes()[:1000])  # a partial copy
    with pytest.raises(ArtifactError, match=r"encoder.pt: encoder weights file cannot be read: .*truncated"):
        ContrastiveEncoder(
            "convnext_atto", in_channels=2, in_stack_depth=15, stem_kernel_z=5, weights_path=path
        )


def test_drop_path_rate_of_the_config_drops_residual_branches_in_training_only() -> None:
    """training.drop_path_rate reaches the backbone: with it, two training-mode passes of one batch
    differ (stochastic depth) and evaluation-mode passes do not; without it both modes are deterministic."""
    from dynaclr.config.training import ContrastiveModelConfig

    x = torch.randn(4, 1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    passes = {}
    for rate in (0.0, 0.5):
        arguments = {**ContrastiveModelConfig(patch_spec="p", sampling="classical").encoder_arguments()}
        arguments.update(backbone="convnext_atto", drop_path_rate=rate)
        torch.manual_seed(0)
        model = ContrastiveEncoder(in_channels=1, in_stack_depth=1, **arguments)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith(".gamma"):  # layer scale: 1e-6 at initialisation hides the branches
                    parameter.fill_(1.0)
            model.train()
            training = [model(x)[0] for _ in range(2)]
            model.eval()
            evaluation = [model(x)[0] for _ in range(2)]
        torch.testing.assert_close(evaluation[0], evaluation[1], rtol=0, atol=0)
        passes[rate] = training
    torch.testing.assert_close(passes[0.0][0], passes[0.0][1], rtol=0, atol=0)
    assert (passes[0.5][0] - passes[0.5][1]).abs().max() > 1e-3
