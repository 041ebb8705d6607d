"""Shared numerical building blocks: streaming Pearson r, normalisation statistics, crops, devices."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import dynaclr.numerics.normalization as normalization_module
from dynaclr.contrastive.augment import center_crop as torch_center_crop
from dynaclr.io import ArtifactError
from dynaclr.numerics.crop import center_crop, crop_window, crop_with_padding, nearest_pixel
from dynaclr.numerics.device import check_accelerator, resolve_device
from dynaclr.numerics.normalization import (
    MIN_SIGNAL_SHARE,
    ChannelStatistics,
    channel_statistics,
    sample_frames,
)
from dynaclr.numerics.pearson import PearsonAccumulator
from dynaclr.numerics.repeats import constant_level, is_constant

# --- Pearson r ----------------------------------------------------------------------------------


def test_pearson_accumulator_matches_numpy_over_pieces_and_merges():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 2.0, 3000)
    y = 0.7 * x + rng.normal(1000.0, 1.0, 3000)
    pieces = np.array_split(np.arange(3000), 7)
    added = PearsonAccumulator()
    for piece in pieces:
        added.add(x[piece], y[piece])
    merged = PearsonAccumulator()
    for piece in pieces:
        part = PearsonAccumulator()
        part.add(x[piece], y[piece])
        merged.merge(part)
    expected = np.corrcoef(x, y)[0, 1]
    assert added.n == merged.n == 3000
    assert added.r() == pytest.approx(expected, abs=1e-12)
    assert merged.r() == pytest.approx(expected, abs=1e-12)
    assert added.mean_y == pytest.approx(y.mean(), rel=1e-14)


def test_pearson_accumulator_keeps_its_precision_on_a_large_offset():
    """Raw sums of x² lose r entirely at an offset of 1e8 (float64 has 16 digits); centred
    moments do not."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    y = 0.5 * x + rng.normal(size=2000)
    accumulator = PearsonAccumulator()
    for piece in np.array_split(np.arange(2000), 9):
        accumulator.add(x[piece] + 1e8, y[piece] - 1e8)
    assert accumulator.r() == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-6)


def test_pearson_accumulator_undefined_cases():
    assert np.isnan(PearsonAccumulator().r())
    constant = PearsonAccumulator()
    constant.add(np.ones(10), np.arange(10))
    assert np.isnan(constant.r())
    empty = PearsonAccumulator()
    empty.add(np.zeros(0), np.zeros(0))
    empty.merge(PearsonAccumulator())
    assert empty.n == 0
    with pytest.raises(ValueError, match="paired samples; got 3 and 4"):
        PearsonAccumulator().add(np.zeros(3), np.zeros(4))


# --- normalisation statistics ---------------------------------------------------------------------


def _frames(with_empty: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = [rng.normal(5.0, 2.0, size=(2, 30, 30)) for _ in range(4)]
    return [*frames[:2], np.full((2, 30, 30), 7.0), *frames[2:]] if with_empty else frames


@pytest.mark.parametrize("normalization", ["zscore", "median_p99"])
def test_channel_statistics_ignore_constant_frames(normalization):
    frames, with_empty = _frames(False), _frames(True)
    reference = channel_statistics(frames.__getitem__, range(4), normalization)
    stats = channel_statistics(with_empty.__getitem__, range(5), normalization, per_time_point=True)
    assert stats.empty_frames == [2]
    assert stats.center == pytest.approx(reference.center)
    assert stats.scale == pytest.approx(reference.scale)
    assert stats.n_frames == 5
    assert stats.center_per_time is not None and stats.scale_per_time is not None
    assert stats.center_scale(2) == (stats.center, stats.scale)  # the empty frame uses FOV values
    assert stats.center_scale(0) != (stats.center, stats.scale)
    assert stats.center_scale() == (stats.center, stats.scale)


def test_channel_statistics_values_and_application():
    frames = _frames(True)
    pooled = np.concatenate([f.ravel() for i, f in enumerate(frames) if i != 2])
    zscore = channel_statistics(frames.__getitem__, range(5), "zscore", channel="c")
    assert zscore.channel == "c" and zscore.normalization == "zscore"
    assert zscore.center == pytest.approx(pooled.mean(), rel=1e-12)
    assert zscore.scale == pytest.approx(pooled.std(), rel=1e-12)
    median, p99 = np.percentile(pooled.astype(np.float32), [50, 99])
    robust = channel_statistics(frames.__getitem__, range(5), "median_p99")
    assert robust.center == pytest.approx(median) and robust.scale == pytest.approx(p99 - median)
    normalised = zscore.apply(frames[0])
    assert normalised.dtype == np.float32
    np.testing.assert_allclose(normalised, (frames[0] - pooled.mean()) / pooled.std(), rtol=1e-5, atol=1e-5)
    assert ChannelStatistics(**zscore.to_json()) == zscore


def test_channel_statistics_read_only_the_frames_named():
    frames = _frames(False)
    read: list[int] = []

    def read_frame(t: int) -> np.ndarray:
        read.append(t)
        return frames[t]

    stats = channel_statistics(read_frame, [0, 3], "zscore")
    assert read == [0, 3] and stats.n_frames == 2
    assert stats.center == pytest.approx(np.concatenate([frames[0], frames[3]]).mean())
    with pytest.raises(ValueError, match=r"frames 0\.\.T-1"):
        channel_statistics(read_frame, [0, 3], "zscore", per_time_point=True)
    with pytest.raises(ValueError, match="unknown normalization 'mean_std'"):
        channel_statistics(read_frame, [0], "mean_std")  # type: ignore[arg-type]


def test_a_channel_without_signal_falls_back_or_fails_as_asked(caplog):
    flat = [np.full((2, 8, 8), 3.0)] * 3
    with caplog.at_level(logging.WARNING, logger="dynaclr.numerics.normalization"):
        stats = channel_statistics(flat.__getitem__, range(3), "zscore", where="FOV A/1/0")
    # the fallback centre is the constant, so a flat channel (an empty well, a saturated FOV)
    # normalises to 0 rather than to its raw level
    assert (stats.center, stats.scale, stats.empty_frames) == (3.0, 1.0, [0, 1, 2])
    assert np.all(stats.apply(flat[0]) == 0.0)
    assert "every frame is constant" in caplog.text
    saturated = [np.full((2, 8, 8), 65535, dtype=np.uint16)] * 2
    for normalization in ("zscore", "median_p99"):
        stats = channel_statistics(saturated.__getitem__, range(2), normalization, per_time_point=True)
        assert np.all(stats.apply(saturated[1], 1).astype(np.float16) == 0.0)
    with pytest.raises(ArtifactError, match=r"FOV A/1/0: every frame of \[0, 1, 2\] is constant"):
        channel_statistics(flat.__getitem__, range(3), "zscore", require_signal=True, where="FOV A/1/0")
    # a flat channel but for one hot voxel (fewer than MIN_SIGNAL_SHARE above the median) is
    # constant (repeats.is_constant): no signal
    sparse = np.zeros((2, 100, 100))
    sparse[0, 0, 0] = 1000.0
    assert 1 < MIN_SIGNAL_SHARE * sparse.size
    with pytest.raises(ArtifactError, match=r"every frame of \[0\] is constant"):
        channel_statistics([sparse].__getitem__, [0], "median_p99", require_signal=True)
    stats = channel_statistics([sparse].__getitem__, [0], "median_p99")
    assert (stats.center, stats.scale, stats.empty_frames) == (0.0, 1.0, [0])


def test_median_p99_of_a_channel_mostly_at_one_value_takes_the_standard_deviation(caplog):
    """60 % of the voxels saturated at 65535: the median and the 99th percentile are 65535, so
    median_p99 has no scale, but the channel is not flat; the scale is its standard deviation (with
    a WARNING saying why), not 1, which left the unsaturated voxels at down to -65535."""
    rng = np.random.default_rng(0)
    frames = [rng.normal(500.0, 50.0, size=(1, 50, 50)) for _ in range(2)]
    for frame in frames:
        frame[..., :30] = 65535.0
    with caplog.at_level(logging.WARNING, logger="dynaclr.numerics.normalization"):
        stats = channel_statistics(frames.__getitem__, range(2), "median_p99", where="FOV A/1/0")
    pooled = np.concatenate(frames)
    assert stats.center == 65535.0 and stats.scale == pytest.approx(pooled.std(), rel=1e-6)
    assert np.abs(stats.apply(frames[0])).max() < 3.0
    assert "FOV A/1/0: the median and the 99th percentile are both 65535" in caplog.text
    zscore = channel_statistics(frames.__getitem__, range(2), "zscore")
    assert zscore.scale == pytest.approx(pooled.std(), rel=1e-6)  # unchanged


def test_median_p99_of_a_saturated_channel_fails_when_signal_is_required():
    """A nuclear target 62 % at 65535: the standard-deviation fallback is a fallback, so a caller
    that requires signal (virtual staining's targets) is refused, naming the saturation, as before
    the fallback existed."""
    rng = np.random.default_rng(0)
    frames = [rng.normal(500.0, 50.0, size=(1, 64, 64)) for _ in range(2)]
    for frame in frames:
        frame[..., :40] = 65535.0
    with pytest.raises(ArtifactError, match="FOV A/1/0: more than half of the voxels sit at the maximum"):
        channel_statistics(frames.__getitem__, range(2), "median_p99", require_signal=True, where="FOV A/1/0")


def test_sparse_signal_too_small_for_a_scale_is_not_blamed_on_saturation(caplog):
    """Cells on 400 voxels of one frame among 50 flat ones but for 30 dark voxels each (so none is
    constant; 3e-5 of the voxels above the background, under MIN_SIGNAL_SHARE): median_p99 has no
    scale, but nothing sits above a saturated plateau; the scale is the flat fallback 1 (not the
    standard deviation), and no WARNING speaks of saturation."""
    rng = np.random.default_rng(0)

    def frame(t: int) -> np.ndarray:
        values = np.full((1, 512, 512), 5, dtype=np.uint8)
        values[0, 0, t : t + 30] = 0  # dark voxels below the background, enough that no frame is constant
        if t == 49:
            values[0, 100:120, 100:120] = rng.integers(150, 250, size=(20, 20))
        return values

    with caplog.at_level(logging.WARNING, logger="dynaclr.numerics.normalization"):
        stats = channel_statistics(frame, range(50), "median_p99", where="sparse")
    assert stats.empty_frames == [] and stats.center == 5.0 and stats.scale == 1.0 and stats.std > 0.0
    assert "degenerate normalisation scale" in caplog.text and "saturated" not in caplog.text


def test_constant_frames_record_their_level_and_only_those_off_the_background_are_listed():
    """Frames constant at the background's level (0 of background-subtracted data before a cell
    lights up) are data; an all-0 frame of a sensor at 500 counts is off its background."""
    rng = np.random.default_rng(0)
    clipped = [np.zeros((1, 40, 40)) for _ in range(4)]
    for frame in clipped[2:]:
        frame[0, 10:18, 10:18] = rng.integers(150, 250, size=(8, 8))
    stats = channel_statistics(clipped.__getitem__, range(4), "zscore")
    assert stats.empty_frames == [0, 1] and stats.constant_levels == [0.0, 0.0]
    assert stats.off_background_frames == []
    sensor = [rng.normal(500.0, 50.0, size=(1, 40, 40)) for _ in range(3)]
    sensor[1][...] = 0.0
    stats = channel_statistics(sensor.__getitem__, range(3), "median_p99")
    assert stats.empty_frames == [1] and stats.off_background_frames == [1]
    flat = channel_statistics([np.zeros((1, 8, 8)), np.ones((1, 8, 8))].__getitem__, range(2), "zscore")
    assert flat.off_background_frames == [0, 1]  # every frame constant: no background to compare


def _nuclei_frames(n_frames: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``n_frames`` uint16 frames ``(2, 48, 48)``: background 500 +- 40 counts, two nuclei 1500 above it
    (their mask returned too)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    nuclei = ((yy - 24) ** 2 + (xx - 15) ** 2 < 64) | ((yy - 12) ** 2 + (xx - 34) ** 2 < 49)
    frames = rng.normal(500.0, 40.0, size=(n_frames, 2, 48, 48))
    frames[:, :, nuclei] += 1500.0
    return np.rint(frames).astype(np.uint16), nuclei


@pytest.mark.parametrize("normalization", ["zscore", "median_p99"])
@pytest.mark.parametrize("per_time_point", [False, True])
def test_an_over_exposed_frame_is_left_out_of_the_statistics_of_the_other_frames(
    normalization, per_time_point, caplog
):
    """One frame of ten with 31 % of its voxels clipped at 65535: its plateau moved the other nine
    frames' nuclei from 0.96 to 0.02 (``median_p99``) or 2.5 to -0.06 (``zscore``). The frame the
    stages name over-exposed is left out of the statistics, listed (``saturated_frames``) and named in
    a WARNING; per time point it keeps its own centre and scale."""
    intact, nuclei = _nuclei_frames()
    exposed = intact.copy()
    exposed[4, :, :, :15] = 65535
    kwargs = {"per_time_point": per_time_point, "where": "plate FOV A/1/0 channel 'Nuclei'"}
    reference = channel_statistics(intact.__getitem__, range(10), normalization, **kwargs)
    with caplog.at_level(logging.WARNING, logger="dynaclr.numerics.normalization"):
        stats = channel_statistics(exposed.__getitem__, range(10), normalization, **kwargs)
    others = [t for t in range(10) if t != 4]
    nucleus = [float(stats.apply(exposed[t], t)[:, nuclei].mean()) for t in others]
    expected = [float(reference.apply(intact[t], t)[:, nuclei].mean()) for t in others]
    np.testing.assert_allclose(nucleus, expected, rtol=0.05)
    assert stats.saturated_frames == [4] and reference.saturated_frames == []
    assert "frame(s) [4] have more than 1% of their voxels at a camera's full scale" in caplog.text
    assert "A/1/0" in caplog.text and "left out of the normalisation statistics" in caplog.text
    if per_time_point:
        assert stats.center_scale(4) != stats.center_scale(0)


def _dense_8bit_movie(n_frames: int = 10, size: int = 256) -> np.ndarray:
    """An 8-bit nuclear channel exported with auto-contrast: background about 20, nuclei of r = 6 px
    clipped at 255, their number growing 10 per frame (the share at 255 grows about 0.4 % to 4 %)."""
    rng = np.random.default_rng(1)
    yy, xx = np.ogrid[:size, :size]
    frames = []
    for t in range(n_frames):
        image = rng.normal(20, 3, (1, size, size))
        for _ in range(3 + 3 * t):
            y, x = rng.integers(8, size - 8, 2)
            image[0][(yy - y) ** 2 + (xx - x) ** 2 <= 36] = rng.normal(260, 40)
        frames.append(np.clip(np.rint(image), 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.mark.parametrize("normalization", ["zscore", "median_p99"])
def test_dense_8_bit_nuclei_clipped_at_255_keep_every_frame_but_a_flash_is_left_out(
    normalization, monkeypatch
):
    """Proliferating 8-bit nuclei clipped at 255 put more than 1 % of most frames at full scale: all
    of them were left out and the statistics came from the 2 sparse early frames (``zscore``
    22.5/23.7 against 28.9/43.9). Over-exposed alike, none is an outlier: every frame is pooled, the
    statistics those of no exclusion. A flash frame (31 % at 255) among them still is left out."""
    movie = _dense_8bit_movie()
    shares = [float((frame == 255).mean()) for frame in movie]
    assert sum(share > 0.01 for share in shares) > 5 and max(shares) < 0.06
    stats = channel_statistics(movie.__getitem__, range(10), normalization)
    with monkeypatch.context() as patch:
        patch.setattr(normalization_module, "full_scale_share", lambda values: 0.0)
        pooled = channel_statistics(movie.__getitem__, range(10), normalization)
    assert stats.saturated_frames == [] and pooled.saturated_frames == []
    assert (stats.center, stats.scale) == pytest.approx((pooled.center, pooled.scale), rel=1e-9)
    flash = movie.copy()
    flash[6, :, :, :80] = 255
    stats = channel_statistics(flash.__getitem__, range(10), normalization)
    reference = channel_statistics(flash.__getitem__, [t for t in range(10) if t != 6], normalization)
    assert stats.saturated_frames == [6]
    assert (stats.center, stats.scale) == pytest.approx((reference.center, reference.scale), rel=1e-9)


def test_a_blank_frame_with_a_few_hot_pixels_is_constant_but_sparse_signal_is_not(caplog):
    """An all-0 frame but for 5 voxels at 65535 (hot pixels) is constant at 0 (it was pooled into the
    statistics as data, moving a 500-count FOV's centre and scale from 500/40 to 450/155); a
    frame with a small nucleus of 60 voxels over a flat 0 (sparse signal) is not."""
    frames, _ = _nuclei_frames()
    frames[4] = 0
    frames[4, 1, 10, 10:15] = 65535
    assert is_constant(frames[4]) and constant_level(frames[4]) == (True, 0.0)
    sparse = np.zeros((2, 48, 48), dtype=np.uint16)
    sparse[0, 20:26, 20:30] = 300
    assert not is_constant(sparse) and not is_constant(frames[0])
    assert is_constant(np.full((2, 4, 4), np.nan)) and constant_level(np.full((4,), np.nan)) == (True, None)
    stats = channel_statistics(frames.__getitem__, range(10), "zscore")
    reference = channel_statistics(frames.__getitem__, [t for t in range(10) if t != 4], "zscore")
    assert stats.empty_frames == [4] and stats.constant_levels == [0.0] and stats.off_background_frames == [4]
    assert (stats.center, stats.scale) == pytest.approx((reference.center, reference.scale))


def test_a_large_frame_with_one_nucleus_over_an_exact_0_is_not_constant():
    """On a 2048 x 2048 frame the share (0.01 %) allowed 419 voxels off the level: one nucleus of about
    300 pixels over background-subtracted 0 was a blank frame. Constant allows fewer than 10 voxels
    off it, whatever the size: 5 hot pixels on that frame are, the nucleus is not."""
    frame = np.zeros((1, 2048, 2048), dtype=np.uint16)
    yy, xx = np.ogrid[:2048, :2048]
    nucleus = (yy - 600) ** 2 + (xx - 900) ** 2 <= 100
    frame[0][nucleus] = 1200
    assert 300 <= int(nucleus.sum()) <= 320
    assert not is_constant(frame) and constant_level(frame) == (False, None)
    hot = np.zeros_like(frame)
    hot[0, 100, 200:205] = 65535
    assert is_constant(hot) and constant_level(hot) == (True, 0.0)


def test_frames_all_over_exposed_or_binary_masks_are_still_read():
    """Where every frame with signal is over-exposed they are the statistics (nothing else to read;
    none listed), a frame every voxel at 65535 is constant (its own reason), and a 0/255 mask's full
    scale is its foreground, not over-exposure."""
    intact, _ = _nuclei_frames(3)
    exposed = intact.copy()
    exposed[:, :, :, :10] = 65535
    stats = channel_statistics(exposed.__getitem__, range(3), "zscore")
    assert stats.saturated_frames == [] and stats.mean > 10000.0
    exposed = intact.copy()
    exposed[1] = 65535
    stats = channel_statistics(exposed.__getitem__, range(3), "zscore")
    assert stats.empty_frames == [1] and stats.saturated_frames == []
    masks = np.zeros((3, 1, 20, 20), dtype=np.uint8)
    masks[0, 0, 2:12, 2:12] = 255  # 25 % foreground
    masks[1:, 0, 5:9, 5:9] = 255  # 4 %
    stats = channel_statistics(masks.__getitem__, range(3), "zscore")
    assert stats.saturated_frames == []
    assert stats.mean == pytest.approx(255.0 * (100 + 2 * 16) / (3 * 400))


@pytest.mark.parametrize("per_time_point", [False, True])
def test_median_p99_of_sparse_signal_over_a_flat_background_maps_the_signal_to_about_1(per_time_point):
    """Background-subtracted uint8 data clipped at 0 with cells on 0.2 % of the pixels: the 99th
    percentile is the background, so p99 - median is 0. The scale comes from the voxels above the
    median (their 99th percentile), not the fallback 1 that left the patches in raw counts."""
    rng = np.random.default_rng(0)
    frames = [np.zeros((1, 128, 128), dtype=np.uint8) for _ in range(3)]
    for frame in frames:
        frame[0, 60:66, 60:66] = rng.integers(150, 250, size=(6, 6))  # 36 of 16384 pixels
    stats = channel_statistics(frames.__getitem__, range(3), "median_p99", per_time_point=per_time_point)
    signal = np.concatenate([frame[frame > 0] for frame in frames]).astype(np.float64)
    assert stats.median == 0.0 and stats.p99 == 0.0 and stats.center == 0.0
    assert stats.scale == pytest.approx(np.percentile(signal, 99.0))
    for t, frame in enumerate(frames):
        normalised = stats.apply(frame, t)
        assert normalised.min() == 0.0 and 0.5 < normalised.max() <= 1.1


def test_sample_frames_are_evenly_spaced():
    assert sample_frames(30, 8) == [0, 4, 8, 12, 17, 21, 25, 29]
    assert sample_frames(3, 8) == [0, 1, 2]
    assert sample_frames(10, 1) == [0]


# --- crops --------------------------------------------------------------------------------------


def test_nearest_pixel_rounds_half_up():
    values = np.array([2.5, 3.5, -0.5, -1.5, 1.4999, 0.0])
    assert nearest_pixel(values).tolist() == [3, 4, 0, -1, 1, 0]
    assert nearest_pixel(values).dtype == np.int64


@pytest.mark.parametrize("size", [8, 9])
def test_padded_fraction_is_the_share_of_the_window_outside_the_image(size):
    image_shape = (20, 30)
    central = crop_window(10.0, 15.0, size, image_shape)
    assert central.padded_fraction == 0.0
    corner = crop_window(0.0, 0.0, size, image_shape)
    inside = (size - size // 2) ** 2  # rows and columns from the centroid's pixel on
    assert corner.padded_fraction == pytest.approx(1 - inside / size**2)
    if size % 2 == 0:
        assert corner.padded_fraction == 0.75
    assert crop_window(-100.0, 5.0, size, image_shape).padded_fraction == 1.0
    assert crop_window(5.0, 30.0 + size, size, image_shape).padded_fraction == 1.0


def test_crop_with_padding_copies_the_window_and_zero_fills_the_rest():
    image = np.arange(2 * 10 * 12, dtype=np.float32).reshape(2, 10, 12) + 1  # (Z, Y, X), no zeros
    window, padded = crop_with_padding(image, 4.5, 6.2, (4, 6))  # pixel (5, 6), window rows 3..6
    np.testing.assert_array_equal(window, image[:, 3:7, 3:9])
    assert padded == 0.0
    out = np.full((2, 6, 6), np.nan, dtype=np.float32)
    window, padded = crop_with_padding(image, 1.0, 11.0, 6, out=out)  # rows -2..3, columns 8..13
    assert window is out and padded == pytest.approx(1 - 4 * 4 / 36)
    np.testing.assert_array_equal(window[:, 2:, :4], image[:, 0:4, 8:12])
    assert np.all(window[:, :2] == 0) and np.all(window[:, :, 4:] == 0)
    # the centroid's pixel sits at index size // 2 of the window
    assert crop_with_padding(image, 5.0, 5.0, 5)[0][0, 2, 2] == image[0, 5, 5]
    assert crop_with_padding(image, 5.0, 5.0, 4)[0][0, 2, 2] == image[0, 5, 5]
    empty, padded = crop_with_padding(image, 50.0, 50.0, 4)
    assert padded == 1.0 and not empty.any()
    with pytest.raises(ValueError, match="out has shape"):
        crop_with_padding(image, 5.0, 5.0, 4, out=np.zeros((2, 5, 5), dtype=np.float32))


@pytest.mark.parametrize(("size", "crop"), [((10, 12), (4, 4)), ((11, 12), (4, 5)), ((8, 8), (8, 8))])
def test_center_crop_matches_the_torch_centre_crop(size, crop):
    array = np.arange(3 * size[0] * size[1], dtype=np.float32).reshape(3, *size)
    cropped = center_crop(array, crop)
    top, left = (size[0] - crop[0]) // 2, (size[1] - crop[1]) // 2
    np.testing.assert_array_equal(cropped, array[:, top : top + crop[0], left : left + crop[1]])
    np.testing.assert_array_equal(cropped, torch_center_crop(torch.from_numpy(array), crop).numpy())
    with pytest.raises(ValueError, match="cannot centre-crop"):
        center_crop(array, (size[0] + 1, 1))


# --- devices ------------------------------------------------------------------------------------


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda:1' was requested but torch sees no GPU"):
            resolve_device("cuda:1")


def _no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_a_gpu_asked_for_where_torch_sees_none_is_refused_naming_the_key(monkeypatch):
    """device: cuda and accelerator: gpu fail with the config key and a fix where torch sees no GPU
    (Lightning's own error, "No supported gpu backend found!", names neither); 'auto' and 'cpu' run."""
    _no_gpu(monkeypatch)
    with pytest.raises(
        RuntimeError, match=r"analysis.embeddings.device: 'cuda' was requested but torch sees no GPU"
    ):
        resolve_device("cuda", "analysis.embeddings.device")
    with pytest.raises(
        RuntimeError, match=r"training.accelerator: 'gpu' was requested .* use 'auto' or 'cpu'"
    ):
        check_accelerator("gpu", "training.accelerator")
    for accelerator in ("auto", "cpu"):
        check_accelerator(accelerator, "training.accelerator")
    assert resolve_device("auto", "analysis.embeddings.device") == torch.device("cpu")


@pytest.mark.parametrize("per_time_point", [False, True])
def test_a_hot_pixel_per_frame_does_not_dominate_the_zscore(per_time_point):
    """One 65535-count pixel per 128 x 128 frame of std 30: in the sums it lifts the std to about
    500; it lies far beyond OUTLIER_RANGE_FACTOR times the frame's p1-p99 range, so it is left out
    (counted) and the statistics are those of the clean frames. Clean data lose no voxel."""
    rng = np.random.default_rng(0)
    clean = [rng.normal(300.0, 30.0, size=(1, 128, 128)) for _ in range(3)]
    reference = channel_statistics(clean.__getitem__, range(3), "zscore", per_time_point=per_time_point)
    assert reference.std == pytest.approx(np.concatenate(clean).std(), rel=1e-9)
    hot = [frame.copy() for frame in clean]
    for frame in hot:
        frame[0, 7, 9] = 65535.0
    stats = channel_statistics(hot.__getitem__, range(3), "zscore", per_time_point=per_time_point)
    assert stats.scale == pytest.approx(reference.scale, rel=0.01)
    assert stats.center == pytest.approx(reference.center, rel=0.001)
    if per_time_point:
        np.testing.assert_allclose(stats.scale_per_time, reference.scale_per_time, rtol=0.01)
    assert (reference.outlier_voxels, stats.outlier_voxels) == (0, 3)
    normalised = stats.apply(hot[0])
    assert normalised[0, 7, 9] > 1000.0  # the hot pixel stays in the data, far out
    assert float(np.delete(normalised.ravel(), 7 * 128 + 9).std()) == pytest.approx(1.0, abs=0.03)


def test_sparse_bright_nuclei_stay_in_the_zscore():
    """Nuclei on 0.6 % of a frame, 630 standard deviations above a quiet background, lie beyond
    OUTLIER_RANGE_FACTOR times the frame's p1-p99 range (which only spans the background), but they
    are thousands of voxels: signal, not hot pixels. They stay in the mean and std (the plain
    statistics of the frame), so a nucleus normalises to about 13, not 630."""
    rng = np.random.default_rng(0)
    frame = rng.normal(100.0, 3.0, size=(1, 512, 512))
    yy, xx = np.mgrid[:512, :512]
    for cy, cx in rng.uniform(20, 492, size=(8, 2)):
        frame[0, np.hypot(yy - cy, xx - cx) <= 9] += 1900.0
    share = float((frame > 1000).mean())
    assert 0.003 < share < 0.01
    stats = channel_statistics([frame].__getitem__, range(1), "zscore")
    assert stats.outlier_voxels == 0
    assert stats.center == pytest.approx(frame.mean(), rel=1e-9)
    assert stats.scale == pytest.approx(frame.std(), rel=1e-6)


@pytest.mark.parametrize("normalization", ["zscore", "median_p99"])
@pytest.mark.parametrize("flat", ["nearly_constant", "one_hot_pixel"])
def test_a_flat_frame_normalised_per_time_point_takes_the_fov_statistics(normalization, flat, caplog):
    """Per time point, a frame without a scale of its own (noise 1e-9 of its level: listed and warned
    about as flat, or a constant frame but for one hot pixel: constant, repeats.is_constant) takes the
    FOV's centre and scale; it is neither left in raw units (scale 1) nor scaled by its hot pixel. The
    other frames keep their own statistics."""
    rng = np.random.default_rng(0)
    frames = [rng.normal(300.0, 30.0, size=(1, 64, 64)) for _ in range(3)]
    if flat == "nearly_constant":
        frames[1] = 300.0 + 1e-9 * rng.normal(size=(1, 64, 64))
    else:
        frames[1] = np.full((1, 64, 64), 300.0)
        frames[1][0, 5, 5] = 65535.0
    with caplog.at_level(logging.WARNING, logger="dynaclr.numerics.normalization"):
        stats = channel_statistics(
            frames.__getitem__, range(3), normalization, per_time_point=True, where="FOV A/1/0"
        )
    own = channel_statistics([frames[0]].__getitem__, [0], normalization)
    if flat == "nearly_constant":
        assert stats.degenerate_frames == [1] and stats.empty_frames == []
        assert "FOV A/1/0: 1 frame(s) [1] flat" in caplog.text
    else:
        assert stats.degenerate_frames == [] and stats.empty_frames == [1]
    assert stats.center_scale(1) == (stats.center, stats.scale)
    assert stats.center_scale(0) == pytest.approx((own.center, own.scale))
    assert 20.0 < stats.scale < 200.0  # the FOV's spread of the two noisy frames, in counts
    normalised = stats.apply(frames[1], 1)
    assert np.abs(np.delete(normalised.ravel(), 5 * 64 + 5)).max() < 5.0


def test_a_saturated_frame_normalised_per_time_point_is_warned_as_saturated(caplog):
    """Per time point under median_p99, a frame more than half at the camera's full scale (its
    median and 99th percentile both 65535) takes the FOV's statistics and is warned about as
    saturated, not as flat; a flat frame in the same FOV is still named flat."""
    rng = np.random.default_rng(0)
    frames = [rng.normal(500.0, 50.0, size=(1, 48, 48)) for _ in range(4)]
    for frame in frames:
        frame[..., 20:28, 20:28] += 2000.0
    frames[1][..., :29] = 65535.0  # 60 % saturated
    frames[3] = 500.0 + 1e-9 * rng.normal(size=(1, 48, 48))  # flat
    with caplog.at_level(logging.WARNING, logger="dynaclr.numerics.normalization"):
        stats = channel_statistics(
            frames.__getitem__, range(4), "median_p99", per_time_point=True, where="FOV A/1/0"
        )
    assert stats.degenerate_frames == [1, 3]
    assert stats.center_scale(1) == (stats.center, stats.scale)
    assert "FOV A/1/0: 1 frame(s) [1] more than half saturated" in caplog.text
    assert "FOV A/1/0: 1 frame(s) [3] flat" in caplog.text
    assert "[1] flat" not in caplog.text
