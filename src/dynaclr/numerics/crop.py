"""Windows cut around a pixel (zero-padded where they leave the image) and centre crops.

Two rules, used by every crop in the package:

* **A window around a centroid.** A float centroid is rounded half up to a pixel,
  ``c = floor(v + 0.5)`` (:func:`nearest_pixel`; 2.5 → 3, -0.5 → 0), and the ``h x w`` window
  starts at ``c - h // 2``: the centroid's pixel sits at index ``h // 2`` of the window (the
  middle for odd sizes, just below it for even ones). The part of the window outside the image
  is zero; ``padded_fraction`` is that part's share of the window's area (0: wholly inside, 1:
  wholly outside).
* **A centre crop** of ``Y x X`` to ``h x w`` starts at ``(Y - h) // 2`` and ``(X - w) // 2``: an
  odd margin drops its extra pixel at the high end (:func:`center_crop`, for numpy arrays and
  torch tensors alike).

A window of another size than the patch (a patch spec's ``pixel_size_um``: the window spans the
patch's physical size in the plate's pixels) is resampled to the patch by :func:`resample_yx`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

__all__ = ["CropWindow", "center_crop", "crop_window", "crop_with_padding", "nearest_pixel", "resample_yx"]


def nearest_pixel(values: npt.ArrayLike) -> np.ndarray:
    """Float pixel coordinates rounded half up (``floor(v + 0.5)``), as int64 (same shape)."""
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5).astype(np.int64)


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


@dataclass(frozen=True)
class CropWindow:
    """Where an ``h x w`` window around a pixel meets an image.

    Attributes:
        source: ``(rows, columns)`` slices of the image inside the window (empty slices when the
            window misses the image).
        target: the same pixels' ``(rows, columns)`` slices in the window.
        padded_fraction: share of the window's area outside the image (0 to 1).
    """

    source: tuple[slice, slice]
    target: tuple[slice, slice]
    padded_fraction: float


def crop_window(
    center_y: float, center_x: float, size_yx: int | tuple[int, int], image_shape_yx: tuple[int, int]
) -> CropWindow:
    """The window of ``size_yx`` pixels around the centroid ``(center_y, center_x)`` (pixels).

    The centroid is rounded half up and the window starts at ``pixel - size // 2`` (module
    docstring); ``image_shape_yx`` is the image's ``(Y, X)``.
    """
    height, width = (int(n) for n in image_shape_yx)
    h, w = _pair(size_yx)
    top = int(nearest_pixel(center_y)) - h // 2
    left = int(nearest_pixel(center_x)) - w // 2
    y0, y1 = min(max(top, 0), height), max(min(top + h, height), 0)
    x0, x1 = min(max(left, 0), width), max(min(left + w, width), 0)
    y1, x1 = max(y1, y0), max(x1, x0)
    inside = (y1 - y0) * (x1 - x0)
    return CropWindow(
        source=(slice(y0, y1), slice(x0, x1)),
        target=(slice(y0 - top, y1 - top), slice(x0 - left, x1 - left)),
        padded_fraction=1.0 - inside / float(h * w),
    )


def crop_with_padding(
    image: np.ndarray,
    center_y: float,
    center_x: float,
    size_yx: int | tuple[int, int],
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Copy the window around ``(center_y, center_x)`` of ``image`` ``(..., Y, X)``, zero outside it.

    Args:
        image: any leading axes (e.g. ``(C, Z, Y, X)``); the last two are cropped.
        center_y, center_x: centroid in pixels (rounded half up, see :func:`crop_window`).
        size_yx: window size ``h`` or ``(h, w)`` in pixels.
        out: optional ``(..., h, w)`` array to fill (reused between calls); else a new array of
            ``image``'s dtype.

    Returns:
        ``(window, padded_fraction)``: ``window`` is ``out`` when given.
    """
    h, w = _pair(size_yx)
    window = crop_window(center_y, center_x, (h, w), image.shape[-2:])
    if out is None:
        out = np.zeros((*image.shape[:-2], h, w), dtype=image.dtype)
    elif out.shape != (*image.shape[:-2], h, w):
        raise ValueError(f"out has shape {out.shape}; expected {(*image.shape[:-2], h, w)}")
    else:
        out.fill(0)
    if window.padded_fraction < 1.0:
        out[(..., *window.target)] = image[(..., *window.source)]
    return out, window.padded_fraction


def resample_yx(
    window: np.ndarray, size_yx: int | tuple[int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """``window`` ``(..., h, w)`` resampled in its last two axes to ``size_yx``, each leading index
    (channel, Z slice) on its own: the leading axes are not resampled.

    :func:`skimage.transform.resize`, bilinear (``order=1``) over pixel areas (the window's edges
    map to the output's edges, so its centre stays the centre), with a Gaussian anti-aliasing
    filter (sigma ``(factor - 1) / 2`` per axis) where the window shrinks, so that detail finer
    than the output's pixels averages out rather than aliases; values keep their range
    (``preserve_range``), float32. Intensity images only: a label image would need nearest neighbour.
    """
    from skimage.transform import resize  # skimage is slow to import; only resampling specs need it

    h, w = _pair(size_yx)
    leading = window.shape[:-2]
    flat = window.reshape(-1, *window.shape[-2:])
    shrinks = flat.shape[-2] > h or flat.shape[-1] > w
    resampled = np.stack(
        [
            resize(plane, (h, w), order=1, mode="edge", anti_aliasing=shrinks, preserve_range=True)
            for plane in flat
        ]
    ).astype(np.float32, copy=False)
    if out is None:
        return resampled.reshape(*leading, h, w)
    out[...] = resampled.reshape(*leading, h, w)
    return out


class _Sliceable(Protocol):
    """An array (numpy, zarr, torch) that has a shape and can be sliced."""

    @property
    def shape(self) -> Any: ...

    def __getitem__(self, key: Any) -> Any: ...


def center_crop[ArrayT: _Sliceable](array: ArrayT, size_yx: int | tuple[int, int]) -> ArrayT:
    """Centre crop (a view) of the last two axes to ``size_yx``: start ``(Y - h) // 2``, ``(X - w) // 2``.

    The one centre-crop rule of the package, for numpy arrays and torch tensors alike (an odd
    margin drops its extra pixel at the high end).

    Raises:
        ValueError: the crop is larger than the array.
    """
    h, w = _pair(size_yx)
    height, width = array.shape[-2:]
    if h > height or w > width or h < 1 or w < 1:
        raise ValueError(f"cannot centre-crop (Y, X)=({height}, {width}) to ({h}, {w})")
    top, left = (height - h) // 2, (width - w) // 2
    return cast(ArrayT, array[..., top : top + h, left : left + w])
