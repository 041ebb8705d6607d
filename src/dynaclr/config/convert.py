"""Datasets that arrive as TIFF or OME-TIFF files (rule ``convert_tiff``).

The files are converted once into the HCS OME-Zarr raw plate every stage reads; what the files'
metadata says (axes, channel names, sampling) and what this config says must agree, so a value
given in both places is checked, never silently preferred.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from dynaclr.config.base import POSITION_PLACEHOLDER, StrictModel, sampling_nanometre_hint
from dynaclr.io.sampling import PIXEL_SIZE_RANGE_UM, Z_STEP_RANGE_UM

#: Placeholders of ``files``: the position (required,
#: :data:`~dynaclr.config.base.POSITION_PLACEHOLDER`), and optionally the time point, the channel and the
#: slice (files of one time point, channel or slice each).
TIME_PLACEHOLDER = "{t}"
CHANNEL_PLACEHOLDER = "{c}"
SLICE_PLACEHOLDER = "{z}"
#: Text of a file name that is none of the file's key and may differ between positions (Micro-Manager
#: 2.0's ``position001`` in ``Pos1/img_channel000_position001_time000000000_z000.tif``); any number.
ANONYMOUS_PLACEHOLDER = "{_}"
#: The plate axis each optional placeholder splits the files along.
SPLIT_PLACEHOLDERS = {TIME_PLACEHOLDER: "T", CHANNEL_PLACEHOLDER: "C", SLICE_PLACEHOLDER: "Z"}
#: The well of every position where ``positions`` is not given: position ``Pos0`` is FOV ``A/1/Pos0``.
DEFAULT_WELL = "A/1"
#: A row, column or FOV name (``dynaclr.io.plate.SAFE_NAME``; not imported: dynaclr.io.plate imports
#: iohub, and every job reads the config).
_SAFE_PART = r"[A-Za-z0-9_-]+"
FOV_NAME = re.compile(rf"{_SAFE_PART}/{_SAFE_PART}/{_SAFE_PART}")
#: The axes a file may declare, in any order; each at most once, Y and X required.
AXES = re.compile(r"[TCZYX]+")


class TiffSourceConfig(StrictModel):
    """TIFF / OME-TIFF stacks of a dataset: one file per position, or per position and time point,
    channel or slice (Micro-Manager's "separate image files").

    Sampling (time interval, pixel size, z step) and channel names come from the files' OME or
    ImageJ metadata when present, else from these keys; a value in both must agree (relative
    tolerance 1e-3).
    """

    #: ``resolution_tags`` decides only whether a plain TIFF's resolution is read, so whether a pixel
    #: size disagreeing with ``pixel_size_um`` is refused: wherever both settings convert, they give
    #: the same plate (the one pixel size every source agrees on). Editing it reruns no conversion.
    RUN_KEYS: ClassVar[tuple[str, ...]] = ("resolution_tags",)

    files: str = Field(
        description=(
            "Path pattern of the files, relative to the working directory, with the placeholder "
            "'{position}' and optionally '{t}' (an integer time point, zero-padded or not), '{c}' (a "
            "channel: a name of channel_names, or an integer index into them, zero-padded or not) and "
            "'{z}' (an integer slice index): e.g. 'tiffs/{position}.ome.tif' (one file per position), "
            "'tiffs/{position}/img_t{t}.tif' (one file per position and time point) or Micro-Manager's "
            "'Pos0/img_000000000_DAPI_000.tif' as 'mm/{position}/img_{t}_{c}_{z}.tif' (one file per "
            "position, time point, channel and slice); '{_}' (any number of times) matches any text "
            "without '/' that is not part of a file's key, e.g. Micro-Manager 2.0's "
            "'Pos1/img_channel000_position001_time000000000_z000.tif' as "
            "'mm/{position}/img_channel{c}_position{_}_time{t}_z{z}.tif' (two files of one key differing "
            "there are refused). Every position needs a file for every combination of the indices "
            "found, each index run without gaps; where '{position}' names folders, every folder it "
            "matches needs files."
        ),
        min_length=1,
    )
    positions: dict[str, str] | None = Field(
        None,
        description=(
            "FOV name ('row/column/fov') of each position, by what '{position}' matched (e.g. "
            "{Pos0: A/1/0, Pos1: B/1/0}); every position found must be named. Default: every position "
            "found, as 'A/1/<position>'."
        ),
    )
    axes: str | None = Field(
        None,
        description=(
            "Axis order of each file's image, letters of TCZYX (e.g. TCZYX, CZYX, ZYX, TYX, YX); missing "
            "axes have size 1. Default: the axes the OME, ImageJ or tifffile ('shaped') metadata gives. "
            "Given in both: the same letters in another order are refused (a swap of Z and C would be "
            "silent); other letters relabel the metadata's, or split its axes into more, with a warning "
            "(tifffile writes a stack without axes as CYX, Fiji a time-lapse not made a hyperstack as "
            "ZYX). Required for pages without metadata (ZYX slices, TYX time points, CYX channels) and "
            "an ImageJ stack of slices and one frame stating a frame interval and no slice spacing (ZYX "
            "reads slices, TYX time points); one stating neither is read as slices, with a warning. Y "
            "and X stand where the file has them: an RGB file's samples (tifffile's S, last) are "
            "channels, e.g. YXC or TYXC. No 'T' with '{t}' in 'files', no 'C' with '{c}', no 'Z' with "
            "'{z}' (e.g. YX for one plane per file)."
        ),
        json_schema_extra={"pattern": f"^{AXES.pattern}$"},
    )
    channel_names: list[str] | None = Field(
        None,
        min_length=1,
        description="The plate's channels, in the plate's order (default: those of the first file whose "
        "OME metadata names channels); required when the files' OME metadata names none, then in file "
        "order. A file whose OME metadata names its channels in another order has them placed by name; one "
        "naming other channels is refused. With '{c}' in 'files', '{c}' matches these names, or integer "
        "indices into them (sorted; 0 or the first index found is the first name); required there.",
    )
    time_interval_minutes: float | None = Field(
        None, gt=0, description="Time between frames (min); required without OME/ImageJ metadata."
    )
    pixel_size_um: float | None = Field(
        None,
        ge=PIXEL_SIZE_RANGE_UM[0],
        le=PIXEL_SIZE_RANGE_UM[1],
        description="Pixel size in Y and X (µm), 0.02-20 (65 or 650 is refused as nanometres); required "
        "without OME/ImageJ metadata.",
    )
    resolution_tags: Literal["read", "ignore"] = Field(
        "read",
        description="A plain TIFF's (no OME or ImageJ metadata) XResolution and YResolution: 'read' as its "
        "pixel size (a value outside 0.02-20 µm is a writer's default, not read), checked against "
        "pixel_size_um where given; 'ignore' (not read at all) where they hold a writer's or scanner's "
        "value, not the microscope's calibration, and pixel_size_um gives the pixel size. OME and ImageJ "
        "metadata are always read.",
    )
    z_step_um: float | None = Field(
        None,
        ge=Z_STEP_RANGE_UM[0],
        le=Z_STEP_RANGE_UM[1],
        description="Distance between slices (µm), 0.05-50 (500 or 2000 is refused as nanometres); required "
        "without metadata unless there is one slice.",
    )

    @field_validator("pixel_size_um", "z_step_um", mode="before")
    @classmethod
    def _sampling_in_micrometres(cls, value: Any, info: ValidationInfo) -> Any:
        """A size in nanometres (650 for 0.65 µm) would be written into the converted plate's scale."""
        return sampling_nanometre_hint(value, str(info.field_name))

    @field_validator("files")
    @classmethod
    def _placeholders(cls, files: str) -> str:
        found = re.findall(r"\{[^{}]*\}", files)
        known = {POSITION_PLACEHOLDER, ANONYMOUS_PLACEHOLDER, *SPLIT_PLACEHOLDERS}
        unknown = sorted({name for name in found if name not in known})
        if unknown:
            raise ValueError(
                f"placeholders {unknown} are not known; use '{{position}}' and optionally '{{t}}', '{{c}}', "
                "'{z}', '{_}'"
            )
        if found.count(POSITION_PLACEHOLDER) != 1:
            raise ValueError(f"expected '{{position}}' exactly once in {files!r}")
        for placeholder in SPLIT_PLACEHOLDERS:
            if found.count(placeholder) > 1:
                raise ValueError(f"expected '{placeholder}' at most once in {files!r}")
        return files

    @field_validator("axes")
    @classmethod
    def _axes_letters(cls, axes: str | None) -> str | None:
        if axes is None:
            return None
        axes = axes.upper()
        if not AXES.fullmatch(axes) or len(set(axes)) != len(axes) or not {"Y", "X"} <= set(axes):
            raise ValueError(
                "expected letters of TCZYX, each at most once, with Y and X (e.g. 'TCZYX', 'ZYX'), "
                f"found {axes!r}"
            )
        return axes

    @field_validator("positions")
    @classmethod
    def _fov_names(cls, positions: dict[str, str] | None) -> dict[str, str] | None:
        if positions is None:
            return None
        bad = sorted(fov for fov in positions.values() if not FOV_NAME.fullmatch(fov))
        if bad:
            raise ValueError(
                f"FOV names {bad} are not 'row/column/fov' of letters, digits, '_' and '-' (e.g. 'A/1/0')"
            )
        values = list(positions.values())
        repeated = sorted({fov for fov in values if values.count(fov) > 1})
        if repeated:
            raise ValueError(f"FOV names {repeated} are given to more than one position")
        return positions

    @field_validator("channel_names")
    @classmethod
    def _unique_channels(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique, found {names}")
        return names

    @model_validator(mode="after")
    def _split_axes_in_one_place(self) -> TiffSourceConfig:
        for placeholder, axis in SPLIT_PLACEHOLDERS.items():
            if placeholder in self.files and self.axes is not None and axis in self.axes:
                what = {"T": "time point", "C": "channel", "Z": "slice"}[axis]
                raise ValueError(
                    f"axes {self.axes!r} has {axis}, but files {self.files!r} hold one {what} each "
                    f"('{placeholder}'); remove {axis} from axes"
                )
        return self

    def fov_name(self, position: str) -> str:
        """The FOV name of a position: ``positions`` maps it, else it is FOV ``A/1/<position>``."""
        return f"{DEFAULT_WELL}/{position}" if self.positions is None else self.positions[position]

    def fov_positions(self, fov_names: Iterable[str]) -> dict[str, str]:
        """The position of each FOV of ``fov_names`` (``{fov_name: position}``, in their order):
        :meth:`fov_name` read backwards.

        Raises:
            ValueError: a FOV that no position is named as, naming it.
        """
        if self.positions is not None:
            of_fov = {fov: position for position, fov in self.positions.items()}
            naming = f"tiff.positions names {sorted(of_fov)[:3]}{' ...' if len(of_fov) > 3 else ''}"
        else:
            naming = f"without tiff.positions every position is FOV {DEFAULT_WELL}/<position>"
        found = {}
        for fov_name in fov_names:
            well, _, position = fov_name.rpartition("/")
            if self.positions is not None:
                position = of_fov.get(fov_name, "")
            elif well != DEFAULT_WELL:
                position = ""
            if not position:
                raise ValueError(f"FOV {fov_name} is no position of tiff.files {self.files!r} ({naming})")
            found[fov_name] = position
        return found

    @property
    def split_axes(self) -> str:
        """The plate axes the files are split along, one file per index (``TCZ`` order): ``T`` for
        ``{t}`` in ``files``, ``C`` for ``{c}``, ``Z`` for ``{z}``."""
        return "".join(axis for placeholder, axis in SPLIT_PLACEHOLDERS.items() if placeholder in self.files)

    @property
    def per_time_point(self) -> bool:
        """Whether each file holds one time point (``{t}`` in ``files``)."""
        return TIME_PLACEHOLDER in self.files
