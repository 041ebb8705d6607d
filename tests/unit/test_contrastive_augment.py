"""Tests for dynaclr.contrastive.augment: batched, seeded GPU-style augmentations on CPU."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pydantic
import pytest
import torch

from dynaclr.config.training import AugmentationConfig
from dynaclr.contrastive.augment import (
    BatchAugmentation,
    adjust_gamma,
    affine_transform,
    center_crop,
    gaussian_smooth_yx,
)

ALL_OFF = {
    "affine_probability": 0.0,
    "gamma_probability": 0.0,
    "intensity_scale_probability": 0.0,
    "gaussian_smooth_probability": 0.0,
    "gaussian_noise_probability": 0.0,
}


@pytest.fixture(scope="module", autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _batch(b: int = 4, c: int = 2, z: int = 3, y: int = 48, x: int = 48, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, c, z, y, x, generator=torch.Generator().manual_seed(seed))


def _gaussian_blob(height: int, width: int, sigma: float) -> torch.Tensor:
    yy = torch.arange(height, dtype=torch.float32) - (height - 1) / 2
    xx = torch.arange(width, dtype=torch.float32) - (width - 1) / 2
    return torch.exp(-(yy[:, None] ** 2 + xx[None, :] ** 2) / (2 * sigma**2))  # (Y, X)


def _rotation(angle: float, scale: float = 1.0) -> torch.Tensor:
    return BatchAugmentation.affine_matrices(
        torch.tensor([angle]), torch.tensor([scale]), torch.zeros(1), torch.zeros(1)
    )


# ------------------------------------------------------------------ config


def test_config_defaults_are_paper_values() -> None:
    cfg = AugmentationConfig()
    assert cfg.affine_probability == 0.8
    assert cfg.affine_rotation_range == pytest.approx(math.pi)
    assert cfg.affine_scale_range == 0.2
    assert cfg.affine_shear_range == 0.01
    assert cfg.gamma_range == (0.8, 1.2) and cfg.gamma_probability == 0.5
    assert cfg.intensity_scale_range == 0.5 and cfg.intensity_scale_probability == 0.5
    assert cfg.gaussian_smooth_sigma_yx_range == (0.25, 0.75) and cfg.gaussian_smooth_probability == 0.5
    assert cfg.gaussian_noise_std == 0.2 and cfg.gaussian_noise_probability == 0.5


@pytest.mark.parametrize(
    "bad",
    [
        {"affine_probabilty": 0.5},  # typo → extra field
        {"affine_probability": 1.5},
        {"gamma_range": (1.2, 0.8)},
        {"gaussian_smooth_sigma_yx_range": (0.0, 1.0)},
        {"affine_scale_range": 1.0},
        {"gaussian_noise_std": -0.1},
    ],
)
def test_config_rejects_invalid(bad: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        AugmentationConfig(**bad)  # type: ignore[arg-type]


def test_config_accepts_lists_from_yaml() -> None:
    cfg = AugmentationConfig.model_validate({"gamma_range": [0.5, 2.0]})
    assert cfg.gamma_range == (0.5, 2.0)


# ------------------------------------------------------------------ crop


def test_center_crop_shape_and_position() -> None:
    x = torch.arange(7 * 9, dtype=torch.float32).reshape(1, 1, 1, 7, 9)
    out = center_crop(x, (3, 4))
    assert out.shape == (1, 1, 1, 3, 4)
    # start = (7-3)//2 = 2, (9-4)//2 = 2
    torch.testing.assert_close(out[0, 0, 0], x[0, 0, 0, 2:5, 2:6])
    assert center_crop(x, 5).shape == (1, 1, 1, 5, 5)


def test_center_crop_too_large_raises() -> None:
    with pytest.raises(ValueError, match="centre-crop"):
        center_crop(torch.zeros(1, 1, 8, 8), (9, 4))


def test_output_shape_after_crop() -> None:
    aug = BatchAugmentation(output_size_yx=(32, 24))
    out = aug(_batch(), generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 2, 3, 32, 24)
    assert out.is_contiguous()
    assert torch.isfinite(out).all()


def test_4d_input_is_supported() -> None:
    out = BatchAugmentation(output_size_yx=(16, 16))(_batch()[:, :, 0], torch.Generator().manual_seed(0))
    assert out.shape == (4, 2, 16, 16)


# ------------------------------------------------------------------ determinism


def test_same_seed_same_output_and_different_seed_differs() -> None:
    aug = BatchAugmentation(output_size_yx=(32, 32))
    x = _batch(b=8)
    first = aug(x, generator=torch.Generator().manual_seed(42))
    second = aug(x, generator=torch.Generator().manual_seed(42))
    other = aug(x, generator=torch.Generator().manual_seed(43))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.allclose(first, other)


def test_input_is_not_modified() -> None:
    x = _batch()
    before = x.clone()
    always = AugmentationConfig(**{k: 1.0 for k in ALL_OFF})
    BatchAugmentation(always, output_size_yx=(32, 32))(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, before, rtol=0, atol=0)


def test_all_probabilities_zero_is_crop_only() -> None:
    x = _batch()
    out = BatchAugmentation(AugmentationConfig(**ALL_OFF), output_size_yx=(32, 32))(x)
    torch.testing.assert_close(out, center_crop(x, (32, 32)), rtol=0, atol=0)
    # and without a crop it is a copy of the input
    same = BatchAugmentation(AugmentationConfig(**ALL_OFF))(x)
    torch.testing.assert_close(same, x, rtol=0, atol=0)
    assert same.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("enabled", list(ALL_OFF))
def test_each_augmentation_alone_changes_the_batch(enabled: str) -> None:
    x = _batch() + 0.5 * torch.linspace(0, 1, 48)  # non-constant along X so every op acts
    cfg = AugmentationConfig(**{**ALL_OFF, enabled: 1.0})
    out = BatchAugmentation(cfg, output_size_yx=(32, 32))(x, torch.Generator().manual_seed(0))
    changed = (out - center_crop(x, (32, 32))).flatten(1).abs().amax(dim=1) > 1e-4  # (B,)
    assert changed.all(), f"{enabled}=1 left samples unchanged: {changed.tolist()}"


@pytest.mark.parametrize("probability", [0.2, 0.8])
def test_probability_controls_fraction_of_augmented_samples(probability: float) -> None:
    x = _batch(b=400, c=1, z=1, y=8, x=8)
    cfg = AugmentationConfig(**{**ALL_OFF, "intensity_scale_probability": probability})
    out = BatchAugmentation(cfg)(x, torch.Generator().manual_seed(7))
    fraction = ((out - x).flatten(1).abs().amax(dim=1) > 0).float().mean().item()
    # binomial(400, p): 4 standard deviations ≈ 0.08
    assert abs(fraction - probability) < 0.08


# ------------------------------------------------------------------ affine


def test_affine_quarter_turn_equals_rot90() -> None:
    x = _batch(b=2, y=9, x=9)
    out = affine_transform(x, _rotation(math.pi / 2).expand(2, 2, 2))
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(-2, -1)), rtol=0, atol=1e-5)


def test_affine_sampled_at_the_crop_equals_the_crop_of_the_full_result() -> None:
    x = _batch(b=5, y=37, x=50)  # odd margins on both axes
    angles = torch.tensor([0.0, 0.4, -1.3, 2.9, math.pi / 2])
    matrices = BatchAugmentation.affine_matrices(
        angles, torch.tensor([1.0, 0.8, 1.2, 1.1, 0.9]), torch.full((5,), 0.01), torch.full((5,), -0.01)
    )
    for padding in ("reflection", "zeros"):
        full = affine_transform(x, matrices, padding_mode=padding)
        cropped = affine_transform(x, matrices, padding_mode=padding, output_size_yx=(20, 31))
        assert cropped.shape == (5, 2, 3, 20, 31)
        torch.testing.assert_close(cropped, center_crop(full, (20, 31)), rtol=0, atol=0)
    # and the batch augmentation with a crop is exactly the crop of the uncropped augmentation
    affine_only = AugmentationConfig(**{**ALL_OFF, "affine_probability": 0.6})
    with_crop = BatchAugmentation(affine_only, output_size_yx=(20, 31))(x, torch.Generator().manual_seed(5))
    without = BatchAugmentation(affine_only)(x, torch.Generator().manual_seed(5))
    torch.testing.assert_close(with_crop, center_crop(without, (20, 31)), rtol=0, atol=0)
    assert not torch.equal(with_crop, center_crop(x, (20, 31)))  # some samples were transformed


def test_affine_half_turn_on_rectangular_patch_flips_both_axes() -> None:
    x = _batch(b=1, y=10, x=16)
    out = affine_transform(x, _rotation(math.pi))
    torch.testing.assert_close(out, torch.flip(x, dims=(-2, -1)), rtol=0, atol=1e-5)


@pytest.mark.parametrize("angle", [0.3, 1.0, 2.5])
def test_rotation_keeps_centred_blob_on_rectangular_patch(angle: float) -> None:
    # An isotropic blob is rotation invariant; a wrong aspect-ratio handling would squash it.
    blob = _gaussian_blob(40, 64, sigma=5.0)[None, None, None]  # (1, 1, 1, 40, 64)
    out = affine_transform(blob, _rotation(angle), padding_mode="zeros")
    torch.testing.assert_close(out, blob, rtol=0, atol=0.02)


def test_zoom_magnifies_content() -> None:
    blob = _gaussian_blob(48, 48, sigma=4.0)[None, None]
    zoomed = affine_transform(blob, _rotation(0.0, scale=1.2), padding_mode="zeros")
    expected = _gaussian_blob(48, 48, sigma=4.8)[None, None]
    torch.testing.assert_close(zoomed, expected, rtol=0, atol=0.02)


def test_random_affine_preserves_mean_roughly() -> None:
    # smooth random field, rotated with reflection padding and cropped: mean and std stay close
    x = gaussian_smooth_yx(_batch(b=8, c=1, z=1, y=96, x=96), torch.full((8,), 3.0), torch.full((8,), 3.0))
    x = x / x.std() + 1.0
    cfg = AugmentationConfig(**{**ALL_OFF, "affine_probability": 1.0})
    out = BatchAugmentation(cfg, output_size_yx=(64, 64))(x, torch.Generator().manual_seed(0))
    reference = center_crop(x, (64, 64))
    assert out.mean().item() == pytest.approx(reference.mean().item(), abs=0.15)
    assert out.std().item() == pytest.approx(reference.std().item(), rel=0.2)
    assert not torch.allclose(out, reference, atol=1e-3)


def test_affine_same_for_channels_and_slices_independent_across_samples() -> None:
    plane = _batch(b=1, c=1, z=1, y=32, x=32)
    x = plane.expand(3, 2, 4, 32, 32).contiguous()  # 3 identical samples, identical planes
    cfg = AugmentationConfig(**{**ALL_OFF, "affine_probability": 1.0})
    out = BatchAugmentation(cfg)(x, torch.Generator().manual_seed(5))
    for b in range(3):
        for c in range(2):
            for z in range(4):
                torch.testing.assert_close(out[b, c, z], out[b, 0, 0], rtol=0, atol=0)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])


# ------------------------------------------------------------------ intensity


def test_gamma_on_negative_data_keeps_range_and_matches_power_law() -> None:
    x = torch.linspace(-3.0, 5.0, 101).reshape(1, 1, 1, 101)
    gamma = torch.tensor([2.0])
    out = adjust_gamma(x, gamma)
    unit = (x + 3.0) / 8.0
    torch.testing.assert_close(out, unit**2 * 8.0 - 3.0)
    assert out.min().item() == pytest.approx(-3.0) and out.max().item() == pytest.approx(5.0)
    torch.testing.assert_close(adjust_gamma(x, torch.tensor([1.0])), x)


def test_gamma_constant_sample_is_unchanged() -> None:
    x = torch.full((2, 1, 4, 4), -1.5)
    torch.testing.assert_close(adjust_gamma(x, torch.tensor([0.8, 1.2])), x)


def test_intensity_scale_is_a_per_sample_factor_in_range() -> None:
    x = _batch(b=64, c=2, z=1, y=4, x=4).abs() + 1.0
    cfg = AugmentationConfig(**{**ALL_OFF, "intensity_scale_probability": 1.0})
    out = BatchAugmentation(cfg)(x, torch.Generator().manual_seed(0))
    ratio = out / x  # (B, C, Z, Y, X): constant within a sample
    per_sample = ratio.flatten(1)
    torch.testing.assert_close(per_sample, per_sample[:, :1].expand_as(per_sample))
    assert per_sample.min() >= 0.5 - 1e-6 and per_sample.max() <= 1.5 + 1e-6
    assert per_sample[:, 0].std() > 0.1  # factors differ between samples


def test_gaussian_smoothing_preserves_mean_reduces_variance_and_keeps_z_separate() -> None:
    x = _batch(b=2, c=1, z=2, y=32, x=32)
    x[:, :, 1] = 0.0  # a blank slice must stay blank: no mixing along Z
    out = gaussian_smooth_yx(x, torch.tensor([0.75, 0.5]), torch.tensor([0.75, 0.25]))
    assert out[:, :, 1].abs().max() == 0
    assert out[:, :, 0].mean().item() == pytest.approx(x[:, :, 0].mean().item(), abs=0.02)
    assert out[:, :, 0].std() < 0.9 * x[:, :, 0].std()
    # delta response is the normalised separable Gaussian
    delta = torch.zeros(1, 1, 9, 9)
    delta[..., 4, 4] = 1.0
    kernel = gaussian_smooth_yx(delta, torch.tensor([0.5]), torch.tensor([0.5]))[0, 0]
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6)
    g = torch.exp(-0.5 * (torch.arange(-4, 5.0) / 0.5) ** 2)
    g = g / g[2:-2].sum()  # truncated at radius ceil(3 * 0.5) = 2
    torch.testing.assert_close(kernel[4, 3], g[4] * g[3], rtol=1e-4, atol=1e-6)


def test_gaussian_noise_has_configured_std() -> None:
    x = torch.zeros(16, 1, 1, 64, 64)
    cfg = AugmentationConfig(**{**ALL_OFF, "gaussian_noise_probability": 1.0, "gaussian_noise_std": 0.2})
    out = BatchAugmentation(cfg)(x, torch.Generator().manual_seed(0))
    assert out.std().item() == pytest.approx(0.2, rel=0.03)
    assert out.mean().item() == pytest.approx(0.0, abs=0.01)


def test_non_float_input_raises() -> None:
    with pytest.raises(TypeError, match="floating"):
        BatchAugmentation()(torch.zeros(1, 1, 1, 8, 8, dtype=torch.int32))


def test_affine_padding_mode_of_the_config_fills_the_corners_a_rotation_uncovers() -> None:
    """training.augmentation.affine_padding_mode: the batch augmentation resamples with the configured
    mode (its output is ``affine_transform`` with that mode and the same draws); rotating a patch of ones
    leaves it ones with 'border' and 'reflection' and uncovers zeros in its corners with 'zeros'."""
    x = torch.ones(3, 1, 2, 24, 24) + 0.1 * _batch(b=3, c=1, z=2, y=24, x=24)
    outputs = {}
    for mode in ("zeros", "border", "reflection"):
        config = AugmentationConfig(**{**ALL_OFF, "affine_probability": 1.0, "affine_padding_mode": mode})
        augmentation = BatchAugmentation(config)
        outputs[mode] = augmentation(x, torch.Generator().manual_seed(3))
        draws = augmentation._draw(3, torch.Generator().manual_seed(3), x.device)
        matrices = BatchAugmentation.affine_matrices(draws.angle, draws.scale, draws.shear_y, draws.shear_x)
        torch.testing.assert_close(outputs[mode], affine_transform(x, matrices, mode), rtol=0, atol=0)
    assert AugmentationConfig().affine_padding_mode == "reflection"
    corners = outputs["zeros"][[0, 2]][..., [0, 0, -1, -1], [0, -1, 0, -1]]
    assert float(corners.abs().max()) < 0.6  # outside the patch rotated by -2.97 and -2.76 rad (seed 3)
    for mode in ("border", "reflection"):
        assert float((outputs[mode] - 1).abs().max()) < 0.6
    assert not torch.equal(outputs["border"], outputs["reflection"])
