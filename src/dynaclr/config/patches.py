"""Configuration of single-cell patch extraction (rules ``extract_patches``, ``collect_patches``).

A :class:`PatchSpec` says which channels to cut around every tracked cell, from which source
plate, how to normalise them, which Z slices to keep and how large the patch is. Units are in
the field names: ``_px`` pixels, ``_slices`` Z slices.

Patches are cut larger than the network's input (``initial_patch_size_yx_px``) so the random
rotations, zooms and shears of training never bring padding into the final, centre-cropped view
(``patch_size_yx_px``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from dynaclr.config.base import StrictModel, slices_within
from dynaclr.io.sampling import implausible_sampling

#: Plates a patch channel can be read from; the workflow maps each to a plate path.
PatchSource = Literal["raw", "phase", "virtual_stain"]

#: ``zscore``: (x - mean) / std (phase). ``median_p99``: (x - median) / (p99 - median) (fluorescence).
NormalizationName = Literal["zscore", "median_p99"]

#: Paper augmentation extremes the default initial crop allows for (see ``dynaclr.contrastive.augment``).
DEFAULT_AFFINE_SCALE_RANGE = 0.2
DEFAULT_AFFINE_SHEAR_RANGE = 0.01
#: Largest factor a spec with ``pixel_size_um`` may resample a plate's pixels by, either way (the
#: zoom, patch pixels per plate pixel, lies in [1/8, 8]): beyond it the window is a few plate pixels
#: blown up, or a field of view shrunk to a thumbnail (6.5 typed for 0.65 on 0.325 µm plates: a
#: window of 20 patches' width, with exit 0).
MAX_RESAMPLING_ZOOM = 8.0


def required_initial_patch_size_px(
    patch_size_yx_px: int,
    affine_scale_range: float = DEFAULT_AFFINE_SCALE_RANGE,
    affine_shear_range: float = DEFAULT_AFFINE_SHEAR_RANGE,
) -> int:
    """Smallest even initial crop (px) whose random affine + centre crop never samples padding.

    The final ``h x h`` view's corners lie ``sqrt(2) h / 2`` from the centre; any rotation, a zoom
    by ``1 - affine_scale_range`` (the content shrinks, so the view reaches further out) and a
    shear of ``affine_shear_range`` map them at most ``sqrt(2) h / 2 * (1 + shear) / (1 - scale)``
    away. Two pixels are added for bilinear interpolation, then rounded up to an even size.
    """
    reach = math.sqrt(2.0) * patch_size_yx_px * (1.0 + affine_shear_range) / (1.0 - affine_scale_range)
    size = math.ceil(reach) + 2
    return size + (size % 2)


class PatchChannel(StrictModel):
    """One channel of the patches: where it comes from and how it is normalised."""

    source: PatchSource = Field(
        description="Plate to read: 'raw' (the acquired plate), 'phase' (reconstructed phase) or "
        "'virtual_stain' (predicted nuclei/membrane)."
    )
    channel: str = Field(min_length=1, description="Channel name in that plate, e.g. 'Phase3D'.")
    normalization: NormalizationName = Field(
        description="'zscore' (zero mean, unit std per FOV; for phase) or 'median_p99' (median to 0, "
        "99th percentile to 1 per FOV; for fluorescence)."
    )
    name: str | None = Field(
        None,
        pattern=r"^[^:]+$",
        description="The name this channel has in the patches, and so for models, classifiers, features "
        "and figures; null: `channel`. Give the name another dataset's plate uses for the same signal "
        "(e.g. channel 'mCherry' named 'ViralSensor') so that a model or classifier trained there "
        "applies here. No ':'.",
    )

    @property
    def patch_name(self) -> str:
        """The channel's name in the patches: ``name``, else the plate's ``channel``."""
        return self.name if self.name is not None else self.channel

    @model_serializer(mode="wrap")
    def _omit_unnamed(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``name`` out of the dump when it is not given, so that a spec without names dumps (and
        hashes, and records in its patch stores) as it did before names existed."""
        data: dict[str, Any] = handler(self)
        if data.get("name") is None:
            data.pop("name", None)
        return data


class PatchSpec(StrictModel):
    """A named patch layout: channels, Z slices, patch sizes and normalisation."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Name of the spec; the store is results/{dataset}/patches/{name}.zarr.",
    )
    channels: list[PatchChannel] = Field(min_length=1, description="Channels, in patch channel order.")
    z_range: tuple[int, int] | None = Field(
        None,
        description="Slices [start, stop) to keep (0-based, stop exclusive). Give this or "
        "z_window_slices or neither (all slices).",
    )
    z_window_slices: int | None = Field(
        None, ge=1, description="Keep this many slices centred on the middle slice of the stack."
    )
    patch_size_yx_px: int = Field(
        48,
        ge=16,
        description="Final (network input) patch size in Y and X after augmentation and centre crop. "
        "48 px holds a ~15 px radius cell (cytoplasm) with margin at 0.65 µm/px. A ConvNeXt backbone "
        "needs at least 32 px (a ResNet takes 16).",
    )
    initial_patch_size_yx_px: int | None = Field(
        None,
        description="Stored patch size in Y and X; null = the smallest size for which the paper's "
        "augmentations (rotation, zoom 1 ± 0.2, shear 0.01) never bring padding into the final view.",
    )
    normalize_per_time_point: bool = Field(
        False, description="Normalise every time point with its own statistics instead of the FOV's."
    )
    storage_dtype: Literal["float16", "float32"] = Field(
        "float16", description="Dtype of the stored (normalised) patches."
    )
    patches_per_shard: int = Field(
        64,
        ge=1,
        description="Patches per zarr shard file; each patch is its own chunk inside the shard, so "
        "random reads fetch single patches while the file count stays small.",
    )
    pixel_size_um: float | None = Field(
        None,
        gt=0.0,
        description="Pixel size (µm, Y and X) of the patches: each patch is a window of "
        "round(size x pixel_size_um / plate pixel size) plate pixels resampled to its size in pixels "
        "(Z is not resampled), so a model applies to datasets imaged at other pixel sizes. The plate's "
        "pixel size must be stated (its scale metadata, the dataset's acquisition.pixel_size_um or "
        "phase.yx_pixel_size_um). A plausible pixel size (0.02-20 µm), resampling the plate's pixels "
        "by at most 8x either way. null: patches are cut at the plate's own pixels, not resampled.",
    )

    @model_validator(mode="after")
    def _check_sizes(self) -> PatchSpec:
        if self.patch_size_yx_px % 4:
            raise ValueError(
                f"patch_size_yx_px must be a multiple of 4 (the encoder's stem has stride 4); got "
                f"{self.patch_size_yx_px}, use e.g. {4 * round(self.patch_size_yx_px / 4)}"
            )
        minimum = math.ceil(self.patch_size_yx_px * math.sqrt(2.0) * 1.2)
        if self.initial_patch_size_yx_px is not None and self.initial_patch_size_yx_px < minimum:
            raise ValueError(
                f"initial_patch_size_yx_px={self.initial_patch_size_yx_px} is too small for "
                f"patch_size_yx_px={self.patch_size_yx_px}: rotations and zooms would bring padding "
                f"into the final view. Use at least {minimum}, or leave it null for "
                f"{required_initial_patch_size_px(self.patch_size_yx_px)}."
            )
        return self

    @model_validator(mode="after")
    def _plausible_pixel_size(self) -> PatchSpec:
        """A ``pixel_size_um`` outside the plausible pixel sizes
        (:data:`~dynaclr.io.sampling.PIXEL_SIZE_RANGE_UM`; 650 typed in nanometres) is refused."""
        if self.pixel_size_um is not None:
            wrong = implausible_sampling(self.pixel_size_um, "pixel_size_um")
            if wrong is not None:
                raise ValueError(f"patch spec {self.name!r}: pixel_size_um: {wrong}")
        return self

    @model_validator(mode="after")
    def _check_z(self) -> PatchSpec:
        if self.z_range is not None and self.z_window_slices is not None:
            raise ValueError("give z_range or z_window_slices, not both")
        if self.z_range is not None:
            start, stop = self.z_range
            if not 0 <= start < stop:
                raise ValueError(
                    f"z_range must be [start, stop) with 0 <= start < stop; got {list(self.z_range)}"
                )
        return self

    @model_validator(mode="after")
    def _unique_channels(self) -> PatchSpec:
        keys = [f"{c.source}:{c.channel}" for c in self.channels]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"channels: each (source, channel) may appear once; repeated: {repeated}")
        names = self.channel_names()
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"channels: each patch channel name (source:name, the name defaulting to the channel) "
                f"may appear once; repeated: {repeated}; give the channels distinct 'name's"
            )
        return self

    @model_serializer(mode="wrap")
    def _omit_unresampled(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``pixel_size_um`` out of the dump when it is not given, so that a spec cut at the
        plate's pixels dumps (and hashes, and records in its patch stores) as before the key existed."""
        data: dict[str, Any] = handler(self)
        if data.get("pixel_size_um") is None:
            data.pop("pixel_size_um", None)
        return data

    def window_px(self, plate_pixel_size_um: float | None) -> int:
        """Plate pixels (Y and X) a stored patch covers: :attr:`initial_size_px`, or where
        ``pixel_size_um`` is set, ``round(initial_size_px x pixel_size_um / plate_pixel_size_um)``
        (at least 1), the window resampled to :attr:`initial_size_px`.

        Raises:
            ValueError: ``pixel_size_um`` is set and the plate's pixel size is not known (``None``), or
                the zoom (:attr:`initial_size_px` / window) lies outside
                [1 / :data:`MAX_RESAMPLING_ZOOM`, :data:`MAX_RESAMPLING_ZOOM`].
        """
        if self.pixel_size_um is None:
            return self.initial_size_px
        if plate_pixel_size_um is None:
            raise ValueError(
                f"patch spec {self.name!r}: pixel_size_um={self.pixel_size_um:g} resamples the patches, "
                "but the plate's pixel size is not stated"
            )
        window = max(1, round(self.initial_size_px * self.pixel_size_um / plate_pixel_size_um))
        zoom = self.initial_size_px / window
        if not 1.0 / MAX_RESAMPLING_ZOOM <= zoom <= MAX_RESAMPLING_ZOOM:
            raise ValueError(
                f"patch spec {self.name!r}: pixel_size_um={self.pixel_size_um:g} on the plate's "
                f"{plate_pixel_size_um:g} µm pixels makes a window of {window} plate pixels resampled to "
                f"{self.initial_size_px} px (zoom {zoom:.3g}), expected a zoom between "
                f"1/{MAX_RESAMPLING_ZOOM:g} and {MAX_RESAMPLING_ZOOM:g}; check pixel_size_um (µm, the "
                "model's pixel size) against the plate's"
            )
        return window

    @property
    def initial_size_px(self) -> int:
        """The stored (initial) patch size in Y and X, pixels."""
        if self.initial_patch_size_yx_px is not None:
            return self.initial_patch_size_yx_px
        return required_initial_patch_size_px(self.patch_size_yx_px)

    def z_slices(self, n_slices: int) -> slice:
        """Slices kept from a stack of ``n_slices``; raises ``ValueError`` naming the problem."""
        if self.z_range is not None:
            return slices_within(*self.z_range, n_slices, f"patch spec {self.name!r}: z_range")
        if self.z_window_slices is not None:
            if self.z_window_slices > n_slices:
                raise ValueError(
                    f"patch spec {self.name!r}: z_window_slices={self.z_window_slices} but the stack has "
                    f"{n_slices} slices; use at most {n_slices}"
                )
            start = (n_slices - self.z_window_slices) // 2
            return slice(start, start + self.z_window_slices)
        return slice(0, n_slices)

    def channel_names(self) -> list[str]:
        """Names of the patch channels, ``source:name`` (:attr:`PatchChannel.patch_name`)."""
        return [f"{c.source}:{c.patch_name}" for c in self.channels]

    def channel_labels(self) -> list[str]:
        """The patch channels as a model records its input: ``source:name (normalization)``, in order."""
        return [channel_label(c.model_dump()) for c in self.channels]


def channel_label(channel: dict[str, Any]) -> str:
    """A patch channel (a :class:`PatchChannel`'s fields, as a patch store's ``patch_spec`` attribute
    holds them) as a model records its input: ``source:name (normalization)``, the name defaulting to
    the plate's channel (a store written before names existed records none)."""
    name = channel.get("name") or channel["channel"]
    return f"{channel['source']}:{name} ({channel['normalization']})"


def label_normalization(label: str) -> str:
    """The normalisation of a channel label ``source:name (normalization)`` (:func:`channel_label`)."""
    return label.rpartition(" (")[2].rstrip(")")


def label_name(label: str) -> str:
    """The channel name of a channel label ``source:name (normalization)`` (:func:`channel_label`)."""
    return label.rpartition(" (")[0].partition(":")[2]


@dataclass(frozen=True)
class ChannelsDifference:
    """How the channel labels a network is given differ from those its weights (or a classifier of
    its features) learnt from, as :func:`channels_difference` finds it.

    ``kind``: ``count`` (another number of channels), ``order`` (the same names in another order),
    ``moved`` (a name in both at another position), ``normalization`` (another normalisation at a
    position): refused, the positions would feed other signals or values of another scale;
    ``renamed`` (other names or sources at a position, the same normalisation: a lab's own names,
    a ``raw`` channel where a dataset reconstructs ``phase``): warned. ``at``: the 0-based position
    in the given channels to fix (0 for ``count``); ``learnt_at``: for ``moved``, the
    name's position among the learnt ones; ``name``: the channel name moved; ``renamed``: the
    positions whose names or sources differ."""

    kind: Literal["count", "order", "moved", "normalization", "renamed"]
    at: int = 0
    learnt_at: int = 0
    name: str = ""
    renamed: tuple[int, ...] = ()

    @property
    def refused(self) -> bool:
        return self.kind != "renamed"

    @property
    def field(self) -> str:
        """The patch channel field (``channels[at].<field>``) the difference is in."""
        return "normalization" if self.kind == "normalization" else "name"


def channels_difference(learnt: Sequence[str], given: Sequence[str]) -> ChannelsDifference | None:
    """Compare the channel labels ``given`` (``source:name (normalization)`` in order, a patch
    spec's) with those ``learnt`` from: ``None`` where they are the same. The one comparison of a
    model's input: rule ``import_model`` compares a spec with the channels a model.ckpt records, and
    ``transfer_classifiers`` the channels a store's features were computed from with those a
    classifier file was fitted on."""
    given, learnt = list(given), list(learnt)
    if given == learnt:
        return None
    if len(given) != len(learnt):
        return ChannelsDifference("count")
    names, learnt_names = [label_name(c) for c in given], [label_name(c) for c in learnt]
    if names != learnt_names and sorted(names) == sorted(learnt_names):
        first = next(i for i, (a, b) in enumerate(zip(names, learnt_names, strict=True)) if a != b)
        return ChannelsDifference("order", at=first)
    moved = [i for i, name in enumerate(names) if name in learnt_names and learnt_names[i] != name]
    if moved:  # some names shared, at other positions: a renamed channel cannot explain it
        at = moved[0]
        return ChannelsDifference("moved", at=at, learnt_at=learnt_names.index(names[at]), name=names[at])
    other = [
        i
        for i, (a, b) in enumerate(zip(given, learnt, strict=True))
        if label_normalization(a) != label_normalization(b)
    ]
    if other:
        return ChannelsDifference("normalization", at=other[0])
    renamed = tuple(i for i, (a, b) in enumerate(zip(given, learnt, strict=True)) if a != b)
    return ChannelsDifference("renamed", at=renamed[0], renamed=renamed)


def channel_index(channel_names: list[str], name: str, owner: str) -> int:
    """Position among ``channel_names`` (``source:name`` each, as :meth:`PatchSpec.channel_names`
    and a patch store give them) of the channel ``name``: a channel's name (``ViralSensor``) or, where
    two sources give that name, ``source:name``.

    Raises:
        ValueError: ``name`` is not one of ``owner``'s channels, or is ambiguous.
    """
    found = [i for i, full in enumerate(channel_names) if name in (full, full.split(":", 1)[-1])]
    if len(found) != 1:
        reason = "is not one of" if not found else "names several of"
        raise ValueError(
            f"channel {name!r} {reason} {owner}'s channels {channel_names}; give a channel name, or "
            "'source:name'"
        )
    return found[0]


def channel_indices(spec: PatchSpec, names: list[str]) -> list[int]:
    """Positions in ``spec``'s patches of the channels ``names`` (:func:`channel_index`).

    Raises:
        ValueError: a name is not one of the spec's channels, or is ambiguous.
    """
    return [channel_index(spec.channel_names(), name, f"patch spec {spec.name!r}") for name in names]


def spec_contract(spec: PatchSpec) -> dict[str, Any]:
    """What a network trained on patches of ``spec`` sees: channels (source, patch name, normalisation,
    in order), slices, final size and per-time-point normalisation. Two datasets whose specs give the
    same contract can be embedded by the same model; storage dtype, shard size, the stored
    (initial) size, which slices are kept (``z_range``, a dataset's own focus) and the plate channel a
    patch channel reads (its ``name`` says what it is) may differ.
    """
    depth = spec.z_window_slices if spec.z_window_slices is not None else None
    if spec.z_range is not None:
        depth = spec.z_range[1] - spec.z_range[0]
    return {
        "channels": [(c.source, c.patch_name, c.normalization) for c in spec.channels],
        "slices": depth,
        "patch_size_yx_px": spec.patch_size_yx_px,
        "normalize_per_time_point": spec.normalize_per_time_point,
    }
