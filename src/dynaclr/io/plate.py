"""Small helpers over iohub for HCS OME-Zarr plates."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import zarr
from iohub.ngff import open_ome_zarr
from iohub.ngff.models import TransformationMeta
from numpy.typing import DTypeLike

from dynaclr.io.atomic import atomic_output
from dynaclr.io.chunks import STORAGE_FIX
from dynaclr.io.display import create_label_image
from dynaclr.io.provenance import (
    PROVENANCE_KEY,
    ArtifactError,
    Provenance,
    check_provenance,
    unreadable_artifact,
)
from dynaclr.io.sampling import implausible_sampling
from dynaclr.io.zarr_store import (
    PLATE_ATTRIBUTES_KEY,
    PLATE_METADATA_KEYS,
    copied_plate_attributes,
    copy_location,
    position_plate_attributes,
    write_plate_provenance,
)

OME_ZARR_VERSION = "0.5"


def scale_transform(time_interval_s: float, z_um: float, yx_um: float) -> list[TransformationMeta]:
    """OME-NGFF scale transform for TCZYX: time in seconds, space in micrometres."""
    return [TransformationMeta(type="scale", scale=[time_interval_s, 1.0, z_um, yx_um, yx_um])]


def split_fov_name(fov_name: str) -> tuple[str, str, str]:
    """``'A/1/0'`` → ``('A', '1', '0')`` with a clear error for anything else."""
    parts = fov_name.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"FOV name {fov_name!r} is not of the form 'row/column/fov' (e.g. 'A/1/0')")
    return parts[0], parts[1], parts[2]


def list_plate_fovs(plate_path: str | Path) -> list[str]:
    """FOV names (``row/column/fov``) of an HCS plate, read from its metadata only."""
    plate_path = Path(plate_path)
    if not plate_path.exists():
        raise ArtifactError(f"{plate_path}: plate not found")
    try:
        with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
            return [name for name, _ in plate.positions()]
    except Exception as err:
        raise ArtifactError(f"{plate_path}: not a readable HCS OME-Zarr plate ({err})") from err


def _no_fov(plate_path: str | Path, fov_name: str) -> ArtifactError:
    """The error for a FOV the plate does not hold, naming its FOVs (listed only then)."""
    return ArtifactError(
        f"{plate_path}: no FOV {fov_name!r}; the plate's FOVs are {list_plate_fovs(plate_path)}"
    )


def plate_position(plate: Any, fov_name: str, plate_path: str | Path) -> Any:
    """Position ``fov_name`` (``row/column/fov``) of an open iohub plate, looked up by its path, not
    by listing the plate's positions (iohub reads the plate's first position besides: a per-FOV job
    opens its position with :func:`open_plate_position` instead). Raises :class:`ArtifactError`
    naming the plate and its FOVs where it holds no such position."""
    try:
        return plate[fov_name]
    except KeyError:
        raise _no_fov(plate_path, fov_name) from None


@contextmanager
def open_plate_position(
    plate_path: str | Path, fov_name: str, mode: Literal["r", "r+"] = "r"
) -> Iterator[Any]:
    """Open position ``fov_name`` (``row/column/fov``) of an HCS plate on its own (iohub's ``fov``
    layout): its metadata is read, neither the plate's nor any other position's. What a per-FOV job
    uses: opening the plate reads its metadata (every well listed) and iohub's plate reads its first
    position's for any position looked up (:func:`plate_position`), in each of 10,000 jobs.

    Raises:
        ArtifactError: the plate holds no such position (naming the plate's FOVs), or its metadata
            cannot be read as an OME-Zarr image.
    """
    path = Path(plate_path)
    try:
        position = open_ome_zarr(path / fov_name, layout="fov", mode=mode)
    except FileNotFoundError:
        raise _no_fov(path, fov_name) from None
    except Exception as err:  # iohub's and zarr's errors for a foreign node vary
        raise ArtifactError(
            f"{path}: position {fov_name} cannot be opened as an OME-Zarr image ({type(err).__name__}: "
            f"{err}); expected a position of an HCS plate"
        ) from err
    with position:
        yield position


@dataclass(frozen=True)
class PlateGeometry:
    """Physical sampling of a plate: time interval (s), z step (µm), pixel size (µm)."""

    time_interval_s: float
    z_step_um: float
    pixel_size_um: float

    def transform(self) -> list[TransformationMeta]:
        return scale_transform(self.time_interval_s, self.z_step_um, self.pixel_size_um)


#: The axes every stage reads, in this order: (name, NGFF type).
EXPECTED_AXES: tuple[tuple[str, str], ...] = (
    ("t", "time"),
    ("c", "channel"),
    ("z", "space"),
    ("y", "space"),
    ("x", "space"),
)

#: Relative difference below which a Y and an X pixel size count as one (square pixels): a
#: metadata value's rounding, far below what changes a patch (the TIFF reader uses the same).
SQUARE_PIXEL_TOLERANCE = 1e-3

#: Largest relative difference between a plate's ``time_interval_minutes`` attribute and the time
#: scale of its positions: the rounding of a value written twice, far below a frame's worth.
TIME_INTERVAL_TOLERANCE = 1e-3

#: The units a time scale without one may plausibly be in (the intervals of live imaging): beside
#: the plate's ``time_interval_minutes`` attribute, a unit-less scale that agrees with it read in one
#: of them is a copy of it in that unit; one that agrees in none is said (:func:`_unitless_warning`).
PLAUSIBLE_TIME_UNITS = ("millisecond", "second", "minute", "hour")

#: The time scale iohub writes for an array created without a transform (an explicit scale of ones,
#: unit ``second``): beside the plate attribute ``time_interval_minutes`` it states nothing, and the
#: attribute gives the interval (with a warning).
IOHUB_DEFAULT_TIME_SCALE_S = 1.0

#: How a message names a scale of iohub's default (:attr:`PlateSampling.default_scale`).
IOHUB_DEFAULT_SCALE = (
    "iohub's default scale (every value 1, in seconds and micrometres: written for an array created "
    "without a scale, it states no sampling)"
)

#: NumPy dtype kinds of the pixels the stages read (as float32): unsigned and signed integers, real
#: floats. A complex array would lose its imaginary part, a boolean, string or object array is no image.
PIXEL_DTYPE_KINDS = "uif"

#: What a row, column or FOV name may hold: it becomes part of file paths and shell commands.
SAFE_NAME = re.compile(r"[A-Za-z0-9_-]+")

_SI_EXPONENTS = {
    **{"yocto": -24, "zepto": -21, "atto": -18, "femto": -15, "pico": -12, "nano": -9, "micro": -6},
    **{"milli": -3, "centi": -2, "deci": -1, "": 0, "hecto": 2, "kilo": 3, "mega": 6, "giga": 9},
    **{"tera": 12, "peta": 15, "exa": 18, "zetta": 21, "yotta": 24},
}
#: Seconds per OME-NGFF time unit and micrometres per OME-NGFF space unit (every unit the
#: specification lists). An axis without a unit is taken as seconds / micrometres, the units dynaclr
#: writes; :func:`read_plate_layout` refuses a unit not listed here.
_SECONDS = {f"{prefix}second": 10.0**exponent for prefix, exponent in _SI_EXPONENTS.items()} | {
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
}
_MICROMETRES = {f"{prefix}meter": 10.0 ** (exponent + 6) for prefix, exponent in _SI_EXPONENTS.items()} | {
    "angstrom": 1e-4,
    "inch": 25400.0,
    "foot": 304800.0,
    "yard": 914400.0,
    "mile": 1609344000.0,
    "parsec": 3.0856775814913673e22,
}
_UNITS = {"time": _SECONDS, "space": _MICROMETRES}
_DEFAULT_UNITS = {"time": "second", "space": "micrometer"}
#: The sampling key (:data:`~dynaclr.config.workflow.SAMPLING_KEYS`) each axis of ``t, c, z, y, x`` states.
_SAMPLING_KEY_OF_AXIS = {0: "time_interval_minutes", 2: "z_step_um", 3: "pixel_size_um", 4: "pixel_size_um"}


def position_geometry(position: Any) -> PlateGeometry:
    """Time interval and pixel sizes of an iohub position's array ``0`` (the array every stage reads:
    the product of its dataset's and its multiscales' ``scale``, as :func:`read_plate_layout` reads it;
    not iohub's ``position.scale``, which is that of whichever dataset the multiscales list first),
    converted from its axes' units (axes ``t, c, z, y, x``: :func:`read_plate_layout` refuses others,
    and units not in the OME-NGFF list)."""
    scale = [float(value) for value in position.get_effective_scale("0")]
    units = [getattr(axis, "unit", None) for axis in position.axes]
    return PlateGeometry(
        time_interval_s=scale[0] * _SECONDS[units[0] or "second"],
        z_step_um=scale[2] * _MICROMETRES[units[2] or "micrometer"],
        pixel_size_um=scale[3] * _MICROMETRES[units[3] or "micrometer"],
    )


def read_plate_geometry(plate_path: str | Path) -> PlateGeometry:
    """Time interval and pixel sizes of the first position's array ``0`` of an HCS plate, as its scale
    states them (iohub's 1 s and 1 µm where it has none: :func:`read_plate_sampling` adds the plate's
    ``time_interval_minutes`` attribute and the values the config supplies)."""
    with open_ome_zarr(plate_path, layout="hcs", mode="r") as plate:
        _, position = next(iter(plate.positions()))
        return position_geometry(position)


def _check_axes(axes: tuple[tuple[str, str], ...], plate_path: str | Path) -> None:
    """Refuse axes other than :data:`EXPECTED_AXES`: axes named ``t, c, z, y, x`` in that order whose
    types differ (none written: OME-NGFF's ``type`` is optional, but iohub cannot read an axis without
    one) are refused naming the key to write, not as another order."""
    if axes == EXPECTED_AXES:
        return
    if tuple(name for name, _ in axes) == tuple(name for name, _ in EXPECTED_AXES):
        raise ArtifactError(
            f"{plate_path}: arrays are stored with axes {_axes_text(axes)}: named t, c, z, y, x in the order "
            "dynaclr reads, but expected each axis's OME-NGFF type (multiscales[0].axes[].type): t time, "
            "c channel, z, y and x space. Write each axis's type in every position's metadata (iohub, "
            "which reads the positions, cannot read an axis without one)"
        )
    raise ArtifactError(
        f"{plate_path}: arrays are stored with axes {_axes_text(axes)}; dynaclr reads "
        f"{_axes_text(EXPECTED_AXES)} in that order. Write the plate with its arrays in TCZYX order "
        "(one time, one channel and three space axes)"
    )


def _axes_text(axes: tuple[tuple[str, str], ...]) -> str:
    return "(" + ", ".join(f"{name} [{kind}]" for name, kind in axes) + ")"


def check_plate_axes(plate_path: str | Path, fov_name: str | None = None) -> None:
    """Fail unless position ``fov_name`` (where given and held: the position a per-FOV job reads),
    else the plate's first position, stores its arrays with axes ``t, c, z, y, x``, its array ``0``'s
    Zarr v3 ``dimension_names`` naming those axes (the dry run's comparison, :func:`_checked_position`,
    which the dry run makes of every position of a plate it reads).

    Reads that position's metadata only (a per-FOV job reads no other FOV's, nor the plate's root:
    the readers of the plate's record read it there where the position holds no copy of it,
    :func:`~dynaclr.io.zarr_store.read_plate_provenance`, refusing a root that is no HCS plate). Raises
    :class:`ArtifactError` naming the plate, the position, what was expected and what was found, or
    that the plate is missing, not an HCS plate or without positions. A ``fov_name`` the plate does
    not hold is left to the caller, which refuses it as such.
    """
    path = Path(plate_path)
    if not path.exists():
        raise ArtifactError(f"{path}: plate not found")
    if fov_name is not None and _position_ome(path / fov_name) is not None:
        _checked_position(path, fov_name)
        return
    try:
        with open_ome_zarr(path, layout="hcs", mode="r") as plate:
            next(iter(plate.positions()), None)
    except Exception as err:  # iohub's and zarr's errors for a foreign store vary
        raise ArtifactError(
            f"{path}: not a readable HCS OME-Zarr plate ({type(err).__name__}: {err})"
        ) from err
    _checked_position(path, _first_listed_position(path))


def scale_fix(default_scale: bool, keys: Sequence[str], settings: str, alternative: str = "") -> str:
    """:meth:`PlateSampling.scale_fix` for a plate with (``default_scale``) or without iohub's
    default scale of ones (for a sampling recorded apart from its plate's layout)."""
    if not default_scale:
        return f"set {settings}, or write the plate's scale transform{alternative}"
    ones = " / ".join(
        dict.fromkeys("1 s (1/60 min)" if key == "time_interval_minutes" else "1 µm" for key in keys)
    )
    return (
        f"its scale is all ones, iohub's default when none is given: if {ones} is right, state "
        f"{'them' if len(keys) > 1 else 'it'} with {settings}; otherwise write the true "
        f"scale{alternative}"
    )


@dataclass(frozen=True, kw_only=True)
class PlateSampling:
    """A plate's sampling as its metadata states it, with what the config supplies where it states
    none: see :func:`read_plate_sampling` (one position read) and :class:`PlateLayout` (every position).

    Attributes:
        geometry: time interval (s) and pixel sizes (µm) of the first position's array ``0``,
            converted from its axes' units.
        time_interval_minutes: the plate's ``time_interval_minutes`` attribute, else the time scale.
        unscaled_position: the first position whose array ``0`` has no ``scale`` coordinate
            transformation, or iohub's default scale (:attr:`default_scale`; then every position
            has: positions agree), else None. Its ``geometry`` is then iohub's default of 1 (1 s,
            1 µm), stated by nothing.
        default_scale: whether the scale of ``unscaled_position`` is iohub's default, every value 1
            with units second and micrometer (:func:`_is_iohub_default_scale`), rather than none.
        time_interval_stated: whether the time interval is stated, by the scale transform, the
            plate's ``time_interval_minutes`` attribute or the config (``supplied``).
        supplied: the sampling keys (:data:`~dynaclr.config.workflow.SAMPLING_KEYS`) whose values
            the metadata does not state and the dataset's ``acquisition`` supplied
            (:meth:`supplied_by`); ``geometry`` and ``time_interval_minutes`` hold the supplied values.
        n_frames: the time points (T) of the first position's array ``0``.
        unitless: the sampling keys whose value is read from a scale whose axis has no unit (as
            seconds / micrometres: ``time_interval_minutes`` when no plate attribute states the
            interval, ``z_step_um``, ``pixel_size_um`` when both Y and X lack one): stated, but in a
            unit nothing names, so a value the config supplies takes their place (:meth:`supplied_by`).
        implausible: the pixel size and z step the scale states (in a unit it names, or none: read
            as micrometres) outside the bounds of live-cell microscopy
            (:func:`~dynaclr.io.sampling.implausible_sampling`: a 65 nm pixel written as 65 micrometer,
            or as 65 without a unit), each with how it was read (``"scale 65 micrometer of axes y and
            x"``, ``"scale 65 (no unit, read as µm) of axes y and x"``): a value the config supplies
            takes their place (:meth:`supplied_by`), and the dry run refuses those left
            (:mod:`dynaclr.config.plate_checks`).
    """

    geometry: PlateGeometry
    time_interval_minutes: float
    n_frames: int
    unscaled_position: str | None = None
    default_scale: bool = False
    time_interval_stated: bool = True
    supplied: tuple[str, ...] = ()
    unitless: tuple[str, ...] = ()
    implausible: tuple[tuple[str, str], ...] = ()

    @property
    def implausible_keys(self) -> tuple[str, ...]:
        """The keys of :attr:`implausible`."""
        return tuple(key for key, _ in self.implausible)

    def scale_fix(self, keys: Sequence[str], settings: str, alternative: str = "") -> str:
        """What to do, for a message, about the sampling ``keys`` (``time_interval_minutes``,
        ``pixel_size_um``, ``z_step_um``) :attr:`unscaled_position` does not state: ``settings`` names
        the config settings that state them, ``alternative`` (e.g. ``" or its
        time_interval_minutes attribute"``) another way to state them in the plate. A plate with
        iohub's default scale of ones (:attr:`default_scale`) has a scale transform: the message says
        its ones may be right, and how to state them so."""
        return scale_fix(self.default_scale, keys, settings, alternative)

    def no_scale_text(self) -> str:
        """What :attr:`unscaled_position` states of the sampling, for a message: no ``scale``, or
        iohub's default scale of ones (:attr:`default_scale`)."""
        what = IOHUB_DEFAULT_SCALE if self.default_scale else "no 'scale'"
        return (
            f"{what} in the coordinateTransformations of position {self.unscaled_position}'s dataset '0' "
            "or multiscales"
        )

    @property
    def pixel_size_stated(self) -> bool:
        """Whether the pixel size is stated, by the scale transform or the config (``supplied``)."""
        return self.unscaled_position is None or "pixel_size_um" in self.supplied

    @property
    def z_step_stated(self) -> bool:
        """Whether the z step is stated, by the scale transform or the config (``supplied``)."""
        return self.unscaled_position is None or "z_step_um" in self.supplied

    def _values(self) -> dict[str, float]:
        """Every sampling value, by ``acquisition`` key (:data:`~dynaclr.config.workflow.SAMPLING_KEYS`)."""
        return {
            "time_interval_minutes": self.time_interval_minutes,
            "pixel_size_um": self.geometry.pixel_size_um,
            "z_step_um": self.geometry.z_step_um,
        }

    def stated_values(self) -> dict[str, float | None]:
        """The values a check against the plate may use, by ``acquisition`` key: those the metadata
        states in a unit it names, or the config supplied; None for one stated by nothing (no scale)
        or read from a scale without a unit (:attr:`unitless`: seconds / micrometres assumed, a
        guess a file's correct calibration may disagree with)."""
        stated = {
            "time_interval_minutes": self.time_interval_stated,
            "pixel_size_um": self.pixel_size_stated,
            "z_step_um": self.z_step_stated,
        }
        return {
            key: value if stated[key] and key not in self.unitless else None
            for key, value in self._values().items()
        }

    def unitless_values(self) -> dict[str, float]:
        """The values read from a scale without a unit (:attr:`unitless`), by ``acquisition`` key, as
        read (in seconds / micrometres, the interval in minutes)."""
        values = self._values()
        return {key: values[key] for key in self.unitless}

    def supplied_values(self) -> dict[str, float]:
        """The values the config supplied (:attr:`supplied`), by ``acquisition`` key."""
        values = self._values()
        return {key: values[key] for key in self.supplied}

    def supplied_attributes(self) -> dict[str, dict[str, float]]:
        """The plate attributes recording the supplied values on a plate written with this sampling:
        ``{SUPPLIED_KEY: supplied_values()}``, none when the metadata states it all."""
        return {SUPPLIED_KEY: self.supplied_values()} if self.supplied else {}

    def supplied_by(self, values: Mapping[str, float | None]) -> Self:
        """This sampling with each value its metadata does not state taken from ``values`` (the
        dataset's ``acquisition``, keys :data:`~dynaclr.config.workflow.SAMPLING_KEYS`; ``None``: not
        given) and recorded in :attr:`supplied`; so is a value read from a scale without a unit
        (:attr:`unitless`: the config names the unit the metadata does not), and one outside the bounds
        of live-cell microscopy (:attr:`implausible`: the config corrects a unit the metadata got
        wrong). A value the metadata states plausibly with its unit is kept (the dry run checks
        ``acquisition`` against it); applying the same values twice changes nothing."""
        stated = {
            "time_interval_minutes": self.time_interval_stated,
            "pixel_size_um": self.pixel_size_stated,
            "z_step_um": self.z_step_stated,
        }
        replaceable = self.unitless + self.implausible_keys
        stated = {key: known and key not in replaceable for key, known in stated.items()}
        taken = {
            key: float(value) for key in stated if not stated[key] and (value := values.get(key)) is not None
        }
        if not taken:
            return self
        interval = taken.get("time_interval_minutes", self.time_interval_minutes)
        geometry = PlateGeometry(
            time_interval_s=interval * 60.0
            if "time_interval_minutes" in taken
            else self.geometry.time_interval_s,
            z_step_um=taken.get("z_step_um", self.geometry.z_step_um),
            pixel_size_um=taken.get("pixel_size_um", self.geometry.pixel_size_um),
        )
        return dataclasses.replace(
            self,
            geometry=geometry,
            time_interval_minutes=interval,
            time_interval_stated=True if "time_interval_minutes" in taken else self.time_interval_stated,
            supplied=self.supplied + tuple(taken),
            unitless=tuple(key for key in self.unitless if key not in taken),
            implausible=tuple((key, read) for key, read in self.implausible if key not in taken),
        )


@dataclass(frozen=True, kw_only=True)
class PlateLayout(PlateSampling):
    """What a plate's metadata says about it (no pixel is read): see :func:`read_plate_layout`; its
    sampling (:class:`PlateSampling`) is that of the first position.

    Attributes:
        path: the plate.
        fov_names: ``row/column/fov`` of every position, in the plate's order.
        channel_names: channel names of the first position, in its order. Every position names the
            same channels, some perhaps in another order: a job reading a position's pixels looks
            its channel up by name in that position, never by its index here.
        axes: ``(name, type)`` of the first position's multiscales axes, names lower case.
        shape_tczyx: array shape ``(T, C, Z, Y, X)`` shared by every position (T: ``n_frames``).
        warnings: what :func:`read_plate_layout` warned of (no scale, axes without units), for a
            caller that shows no Python warning (Snakemake while it parses the workflow).
        pixel_types: NumPy names of the pixel types of the positions' arrays ``0``, each once in the
            plate's order (empty: not known).
    """

    path: Path
    fov_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    axes: tuple[tuple[str, str], ...]
    shape_tczyx: tuple[int, int, int, int, int]
    warnings: tuple[str, ...] = ()
    pixel_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.n_frames != self.shape_tczyx[0]:
            raise ValueError(
                f"{self.path}: n_frames {self.n_frames} differs from the time points of shape_tczyx "
                f"{self.shape_tczyx}"
            )


#: The key under which the workflow adds the supplied values (:meth:`PlateLayout.supplied_values`)
#: to the ``params.config`` of a rule that reads the raw plate's sampling, only when the config
#: supplies one: the params of a dataset whose plate states its sampling stay as they were, and a
#: changed ``acquisition`` value reruns what was made from it.
SUPPLIED_KEY = "supplied_sampling"

#: The plate root attributes per-FOV jobs read (in their position's copy, where it holds one): the
#: record, the time interval, the supplied sampling and tracking's input (``tracks_plate``). A copy
#: lacking one the root holds is refused (:func:`_check_copies_agree`); another root key absent from
#: the copies (a note of your own, or the units dynaclr records for viewers) is read by no job.
JOB_READ_PLATE_ATTRIBUTES = (PROVENANCE_KEY, "time_interval_minutes", SUPPLIED_KEY, "tracking")


#: The key under which the workflow adds, to the ``params.config`` of a per-FOV rule reading a
#: ``plate:`` dataset's plate of your own (no dynaclr record, so no copy of the root in its positions),
#: the root attributes its jobs read, by the plate's path (:func:`planned_root_attributes`,
#: :func:`split_supplied`, :func:`planned_root_of`): the jobs read no metadata of the plate's root,
#: and a changed attribute reruns them (a changed param) while touching the root reruns none. Absent
#: for every other plate: their params stay as they were.
PLANNED_ROOT_KEY = "plate_root"
#: The key of rule ``extract_patches``'s ``params.config`` holding, for a patch spec with
#: ``pixel_size_um``, the plate pixel size the dry run checked
#: (:func:`~dynaclr.config.plate_checks.resampled_plate_pixel_size_um`); the job resamples from it
#: (:attr:`SuppliedValues.plate_pixel_size_um`, :func:`split_supplied`). Absent for a spec that does
#: not resample.
PLATE_PIXEL_SIZE_KEY = "resampled_from_pixel_size_um"


def planned_root_attributes(plate_path: str | Path) -> dict[str, Any] | None:
    """The root attributes of the plate at ``plate_path`` that per-FOV jobs read
    (:data:`JOB_READ_PLATE_ATTRIBUTES`; e.g. a ``time_interval_minutes`` of your own), read from the
    root alone, for a plate of your own: None for a plate holding a dynaclr record (its positions
    hold copies of it, or its jobs read the record at the root). For the dry run, which has checked
    the plate (:func:`read_plate_layout`); passed to its jobs under :data:`PLANNED_ROOT_KEY`."""
    attributes = _group_attributes(Path(plate_path), Path(plate_path), "plate")
    if PROVENANCE_KEY in attributes:
        return None
    return {key: attributes[key] for key in JOB_READ_PLATE_ATTRIBUTES if key in attributes}


class SuppliedValues(dict[str, float]):
    """What the dry run hands a per-FOV job beside its stage's config, in the rule's ``params.config``
    (:func:`split_supplied`): the sampling values the dataset's ``acquisition`` supplies, by key (the
    mapping itself, :data:`SUPPLIED_KEY`; empty when the plate states its sampling), and the root
    attributes of plates of your own (:attr:`planned_roots`, :data:`PLANNED_ROOT_KEY`), read through
    :func:`planned_root_of`. Carried together so that the workflow scripts, which pass ``supplied``
    on, need no edit (an edited script reruns every job of its rule)."""

    def __init__(
        self,
        values: Mapping[str, float] | None = None,
        planned_roots: Mapping[str | Path, Mapping[str, Any]] | None = None,
        plate_pixel_size_um: float | None = None,
    ) -> None:
        super().__init__({str(key): float(value) for key, value in (values or {}).items()})
        #: the planned root attributes, by the plate's path as ``str(Path(...))``
        self.planned_roots = {str(Path(plate)): dict(root) for plate, root in (planned_roots or {}).items()}
        #: the plate pixel size a resampling patch spec resamples from (:data:`PLATE_PIXEL_SIZE_KEY`)
        self.plate_pixel_size_um = None if plate_pixel_size_um is None else float(plate_pixel_size_um)


def planned_root_of(supplied: Mapping[str, float] | None, plate_path: str | Path) -> dict[str, Any] | None:
    """The root attributes of the plate at ``plate_path`` as the dry run read them, where ``supplied``
    (:func:`split_supplied`'s) carries them (a plate of your own, :data:`PLANNED_ROOT_KEY`); None
    otherwise: the job reads the plate's records itself. Paths compare as ``str(Path(...))``."""
    if not isinstance(supplied, SuppliedValues):
        return None
    return supplied.planned_roots.get(str(Path(plate_path)))


def split_supplied(config: Mapping[str, Any]) -> tuple[dict[str, Any], SuppliedValues]:
    """A rule's ``params.config`` split into the stage's own config and what the dry run supplies
    its job (:class:`SuppliedValues`): the sampling values (:data:`SUPPLIED_KEY`; none when the
    plate states its sampling), the planned root attributes (:data:`PLANNED_ROOT_KEY`) and the plate
    pixel size a resampling patch spec resamples from (:data:`PLATE_PIXEL_SIZE_KEY`)."""
    own = dict(config)
    supplied = own.pop(SUPPLIED_KEY, None) or {}
    planned = own.pop(PLANNED_ROOT_KEY, None) or {}
    return own, SuppliedValues(supplied, planned, own.pop(PLATE_PIXEL_SIZE_KEY, None))


def _group_attributes(group_path: Path, plate_path: Path, what: str) -> dict[str, Any]:
    """A zarr group's attributes; refuses a group that cannot be read, naming the plate."""
    try:
        return dict(zarr.open_group(group_path, mode="r").attrs)
    except Exception as err:  # zarr's errors for a missing or foreign store vary
        raise ArtifactError(
            f"{plate_path}: the {what} cannot be read as a zarr group ({type(err).__name__}); expected an "
            "HCS OME-Zarr plate (copy it again if it is incomplete)"
        ) from err


def _ome_attributes(group_path: Path, plate_path: Path, what: str) -> dict[str, Any]:
    """A zarr group's attributes, the OME-Zarr 0.5 ``ome`` wrapper removed (0.4 has none)."""
    attributes = _group_attributes(group_path, plate_path, what)
    wrapped = attributes.get("ome")
    return wrapped if isinstance(wrapped, dict) else attributes


def _plate_metadata(plate_path: Path) -> dict[str, Any]:
    """The plate's OME-Zarr ``plate`` metadata (read with zarr); refuses a store without it."""
    plate_meta = _ome_attributes(plate_path, plate_path, "plate").get("plate")
    if not isinstance(plate_meta, dict):
        raise ArtifactError(
            f"{plate_path}: no OME-Zarr 'plate' metadata; expected an HCS plate (row/column/fov positions)"
        )
    return plate_meta


def _listed_fov_names(plate_path: Path, plate_meta: dict[str, Any] | None = None) -> Iterator[str]:
    """FOV names as the plate's own metadata (``plate_meta``, read where not given) lists them (wells,
    then each well's images), each well's metadata read only when its FOVs are reached (``next()``
    reads the plate's and the first well's).

    Read with zarr, not iohub: iohub skips (with a warning only) a position it cannot open, such
    as one whose name is not alphanumeric, and a plate would silently lose FOVs.
    """
    if plate_meta is None:
        plate_meta = _plate_metadata(plate_path)
    for well in plate_meta.get("wells", []):
        well_path = str(well.get("path", ""))
        well_meta = _ome_attributes(plate_path / well_path, plate_path, f"well {well_path!r}").get("well")
        images = well_meta.get("images", []) if isinstance(well_meta, dict) else []
        yield from (f"{well_path}/{image.get('path', '')}" for image in images)


def listed_fov_names(plate_path: str | Path) -> list[str]:
    """FOV names (``row/column/fov``) as a plate's own plate and well metadata list them, no position's
    metadata read (:func:`read_plate_layout` reads and checks every position's): for a job that needs
    the names only, e.g. the inputs of the jobs above it that every SLURM job plans again.

    In :func:`read_plate_layout`'s order (:func:`fov_order`), not the metadata's: a job's inputs listed
    from them then equal, in order, those the dry run planned.

    Raises:
        ArtifactError: no OME-Zarr ``plate`` metadata, or a well's metadata unreadable.
    """
    return sorted(_listed_fov_names(Path(plate_path)), key=fov_order)


def fov_order(name: str) -> tuple[str, ...]:
    """The sort key of FOV names (rows, then columns, then FOVs, each as strings): the order of
    :func:`read_plate_layout`'s FOVs, which every stage iterates."""
    return tuple(name.split("/"))


def _check_listed_once(plate_path: Path, listed: list[str]) -> None:
    """Each position listed once by the plate's metadata: a well listed twice (``plate.wells[].path``)
    or an image listed twice in its well (``well.images[].path``) would give the workflow one FOV twice
    (iohub lists it once, the per-FOV jobs and the plates written from the layout twice). Entries
    without a path (``A/1/``) are left to :func:`_check_paths_given`, which names them as such."""
    counts = Counter(name for name in listed if "" not in name.split("/"))
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise ArtifactError(
            f"{plate_path}: expected each position listed once by the plate's metadata (plate.wells[].path, "
            f"each well's well.images[].path), found {repeated[:5]}{' ...' if len(repeated) > 5 else ''} "
            "listed more than once; remove the repeated entries"
        )


def _check_paths_given(plate_path: Path, listed: list[str]) -> None:
    """Each image a well lists has a ``path`` (a non-empty one): without it the FOV is named ``A/1/``
    and no position can be opened by that name."""
    missing = sorted({name.rstrip("/") for name in listed if "" in name.split("/")})
    if missing:
        raise ArtifactError(
            f"{plate_path}: expected each image a well lists to have a path (well.images[].path, the FOV's "
            f"name, e.g. '0'), found none or an empty one in the wells {missing}"
            "; write each image's path"
        )


#: The files of a Zarr group's metadata (Zarr v3's ``zarr.json``, v2's ``.zgroup`` / ``.zattrs``): what a
#: position folder holds before its OME-Zarr metadata is written, besides its array ``0``'s folder.
GROUP_METADATA_FILES = ("zarr.json", ".zgroup", ".zattrs")


@dataclasses.dataclass(frozen=True)
class _DiskPositions:
    """What :func:`_unlisted_positions` finds on disk that the plate's metadata does not list."""

    unlisted: list[str]  # row/column/fov folders holding an OME-Zarr image
    incomplete: list[str]  # row/column/fov folders holding a Zarr group or array '0' but no image yet,
    # each with what it holds or what is broken in it
    unreadable: list[str]  # folders or files that could not be listed or read, each with the reason


def _entries(folder: Path, plate_path: Path, unreadable: list[str]) -> dict[str, bool]:
    """The entries directly in ``folder``, each name with whether it is a folder; none where ``folder``
    is no folder. A folder that cannot be listed (permission denied: another user's backup) has none and
    is named in ``unreadable``, with the reason."""
    try:
        with os.scandir(folder) as entries:  # the entry's type from the listing: no file status read
            return {entry.name: entry.is_dir() for entry in entries}
    except (NotADirectoryError, FileNotFoundError):
        return {}
    except OSError as err:
        unreadable.append(_unreadable_path(folder, plate_path, err))
        return {}


def _unreadable_path(path: Path, plate_path: Path, err: OSError) -> str:
    """``path`` (the file ``err`` names, where in the plate) relative to the plate, with the reason."""
    failed = Path(err.filename) if isinstance(err.filename, str) else path
    if not failed.is_relative_to(plate_path):
        failed = path
    return f"{failed.relative_to(plate_path).as_posix()} ({err.strerror or type(err).__name__})"


def _named(on_disk: Sequence[str], names: Collection[str]) -> list[str]:
    """The folders of ``on_disk`` that ``names`` names. Names are compared case-insensitively where a
    name's own folder is not on disk: a case-insensitive file system (macOS, SMB shares) opens the
    metadata's ``a/1/0`` as the folder it lists as ``A/1/0``."""
    known, found = set(names), set(on_disk)
    other_case = {name.casefold() for name in known if name not in found}
    return [name for name in on_disk if name in known or name.casefold() in other_case]


def _listed_names(plate_meta: Mapping[str, Any], key: str) -> list[str]:
    """The names ``plate.<key>[].name`` lists (``rows`` or ``columns``; entries without a name left out)."""
    entries = plate_meta.get(key)
    return [
        entry["name"]
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    ]


def _unlisted_positions(
    plate_path: Path, listed: Sequence[str], plate_meta: Mapping[str, Any]
) -> _DiskPositions:
    """Positions on disk that the plate's metadata does not list: ``row/column/fov`` folders that no
    well's ``well.images[].path`` names, in a listed well or one ``plate.wells[].path`` does not list,
    holding an OME-Zarr image's metadata (``multiscales``), or only a Zarr group's metadata
    (:data:`GROUP_METADATA_FILES`) or an array ``0``'s folder (a position being written, or copied, when
    it stopped). Only row folders ``plate.rows[].name`` names and column folders ``plate.columns[].name``
    names are looked in (OME-NGFF requires a well's path to use them; the rows and columns of the
    listed wells besides): a plate's ``tables``, a snapshot or backup folder beside the rows are no
    wells. Lists each row's and each well's folder, reading the metadata of unlisted folders only (a
    listed position is not read again); a folder or file that cannot be listed or read is skipped and
    named."""
    unreadable: list[str] = []
    rows = {*_listed_names(plate_meta, "rows"), *(name.split("/")[0] for name in listed)}
    columns = {*_listed_names(plate_meta, "columns"), *(name.split("/")[1] for name in listed)}

    def folders(folder: Path, names: Collection[str] | None = None) -> list[str]:
        on_disk = [name for name, is_dir in _entries(folder, plate_path, unreadable).items() if is_dir]
        return on_disk if names is None else _named(on_disk, names)

    on_disk = [
        f"{row}/{column}/{fov}"
        for row in folders(plate_path, rows)
        for column in folders(plate_path / row, columns)
        for fov in folders(plate_path / row / column)
    ]
    unlisted: list[str] = []
    incomplete: list[str] = []
    named = set(_named(on_disk, listed))
    for name in (name for name in on_disk if name not in named):
        folder = plate_path / name
        entries = _entries(folder, plate_path, unreadable)
        marks = [mark for mark in GROUP_METADATA_FILES if entries.get(mark) is False]  # files
        marks += ["array 0"] if entries.get("0") else []  # a folder: a file named 0 is no array
        if not marks:
            continue  # a notes folder: no position
        try:
            metadata, problem = _read_zarr_metadata(folder)
        except OSError as err:  # listed, but its files cannot be read
            unreadable.append(_unreadable_path(folder, plate_path, err))
            continue
        if _ome_and_copy(metadata)[0] is not None:
            unlisted.append(name)
        else:
            incomplete.append(f"{name} ({problem or _joined(marks) + ' without multiscales'})")
    return _DiskPositions(*(sorted(names, key=fov_order) for names in (unlisted, incomplete, unreadable)))


def _joined(words: Sequence[str]) -> str:
    """``['a', 'b', 'c']`` → ``'a, b and c'``."""
    return " and ".join(filter(None, (", ".join(words[:-1]), words[-1])))


def _unlisted_warnings(plate_path: Path, found: _DiskPositions, n_listed: int) -> list[str]:
    """What a plate holding positions its metadata does not list (:func:`_unlisted_positions`) is read
    as: the listed ones alone, one warning for each kind of folder found."""

    def shown(names: Sequence[str]) -> str:
        return f"{list(names[:10])}{f' ... ({len(names)} in all)' if len(names) > 10 else ''}"

    read = f"the dataset reads the {n_listed} positions listed"
    messages = []
    if found.unlisted:
        messages.append(
            f"{plate_path}: positions {shown(found.unlisted)} are on disk (folders holding an OME-Zarr "
            "image) but not listed in the plate's metadata (their well's well.images[].path, or "
            f"plate.wells[].path for a well it does not list): {read}, without them. To read them, list "
            "them in the metadata (a converter stopped before it wrote the metadata leaves such "
            "positions); to leave them out on purpose, move them out of the plate"
        )
    if found.incomplete:
        messages.append(
            f"{plate_path}: folders {shown(found.incomplete)} look like incomplete positions (a Zarr group's "
            "metadata, zarr.json or .zgroup/.zattrs, or an array '0', but no OME-Zarr image's multiscales, "
            "or metadata that is not valid JSON: each named with what it holds or what is broken) and are "
            "not listed in the plate's metadata "
            f"(well.images[].path, plate.wells[].path): {read}, without them. An interrupted converter or "
            "a partial copy leaves such folders: write or copy them again whole and list them, or move "
            "them out of the plate"
        )
    if found.unreadable:
        messages.append(
            f"{plate_path}: folders {shown(found.unreadable)} could not be listed or read, so positions in "
            f"them that the plate's metadata does not list cannot be looked for: {read}. Make them "
            "readable, or move them out of the plate, to have them checked"
        )
    return messages


def _unsafe_names(names: list[str]) -> list[str]:
    return [name for name in names if not all(SAFE_NAME.fullmatch(part) for part in name.split("/"))]


def read_plate_layout(
    plate_path: str | Path, supplied: Mapping[str, float | None] | None = None
) -> PlateLayout:
    """FOV names, channels, axes, array shape and sampling of an HCS plate, from its metadata only.

    Refuses (:class:`ArtifactError`, naming the plate and what was expected and found): a missing
    or non-HCS store; a position listed twice (a well or a well's image repeated); a FOV name with
    characters other than letters, digits, ``_`` and ``-``; a position listed in the metadata that
    cannot be opened; axes other than ``t, c, z, y, x`` in that order; a Zarr v3 array ``0`` whose
    ``dimension_names`` are not its multiscales axes (case aside); a position whose
    ``coordinateTransformations`` (of its multiscales or its dataset ``0``) is missing, not a list, or
    holds a ``scale`` that is not one number per axis; an array ``0`` coarser on a space axis than another
    dataset of its multiscales (:func:`_check_finest_level`); an axis unit that is not an OME-NGFF unit;
    pixels whose Y and X sizes differ (beyond :data:`SQUARE_PIXEL_TOLERANCE`); positions whose array
    shapes, channel names (compared as sets: a position may list them in another order), axes or
    scale transforms differ (scales compared in seconds and
    micrometres: 650 nm and 0.65 µm agree, 600 s and 600 min do not); an omero channel without a
    label; a channel name given twice; a position without an array ``0``; a Zarr v2 array ``0`` stored
    big-endian (``dtype`` ``>u2``, as bioformats2raw writes it) or in Fortran order, which the reader
    (iohub's zarrs codec pipeline) cannot decode (:func:`_undecodable_storage`); in a plate of more than one
    frame, a ``time_interval_minutes`` attribute that is not a positive number, or that disagrees
    with the positions' time scale (beyond :data:`TIME_INTERVAL_TOLERANCE`, relative; without a scale
    or a time unit, and where the scale is iohub's default of 1 s, with a warning, the
    attribute states the interval: :func:`_stated_sampling`); a position whose copy of the plate's root
    attributes (what its per-FOV jobs read) disagrees with the root (:func:`_check_copies_agree`).

    The geometry is that of array ``0`` (the product of its dataset's and its multiscales' ``scale``
    transformations, as the positions are compared), converted to seconds and micrometres from the
    axes' units (an axis without a unit is taken as seconds / micrometres, with a warning, unless
    ``supplied`` gives its value: :attr:`PlateSampling.unitless`). A plate whose positions carry no
    ``scale`` at all, or iohub's default scale of ones (:func:`_is_iohub_default_scale`), is read
    (``unscaled_position`` names one) with a warning: iohub reads 1 s and 1 µm for it. The values
    ``supplied`` gives (the dataset's ``acquisition``, :meth:`PlateLayout.supplied_by`) take their
    place, and the warning says which came from the config; the dry-run checks
    (:mod:`dynaclr.config.plate_checks`) refuse the plate where a stage needs a value nothing states.

    FOVs are the positions the plate's metadata lists; folders on disk holding positions it does not
    list are not read, with a warning naming them (:func:`_unlisted_positions`: they were dropped without
    a word). FOVs come in iohub's order (rows, then columns, then FOVs, each sorted as strings), the order
    every stage iterates. Only the first position is opened with iohub (channel names, the plate's
    attributes); every position's group and array metadata are read as JSON, two small files per
    position: opening 10,000 positions with iohub took 18 s, this 2 s (benchmarks/planning.py).
    """
    path = Path(plate_path)
    if not path.exists():
        raise ArtifactError(f"{path}: plate not found")
    plate_meta = _plate_metadata(path)
    listed = list(_listed_fov_names(path, plate_meta))
    _check_paths_given(path, listed)
    _check_listed_once(path, listed)
    unsafe = _unsafe_names(listed)
    if unsafe:
        raise ArtifactError(
            f"{path}: FOV names {unsafe} hold characters other than letters, digits, '_' and '-'; "
            "they would become file paths and shell words. Rename those positions (OME-Zarr names are "
            "alphanumeric, e.g. 'A/1/Pos0')"
        )
    names = sorted(listed, key=fov_order)
    documents = {name: _position_metadata(path / name) for name in names}
    position_meta = {name: ome for name, (ome, _) in documents.items()}
    unreadable = [name for name, ome in position_meta.items() if ome is None]
    if unreadable:
        raise ArtifactError(
            f"{path}: positions {unreadable} are listed in the plate's metadata but cannot be opened "
            "(missing or invalid metadata); repair or remove them"
        )
    if not names:
        raise ArtifactError(f"{path}: the plate has no positions")
    position_ome = {name: ome for name, ome in position_meta.items() if ome is not None}
    sampling = {name: _position_sampling(path, name, ome) for name, ome in position_ome.items()}
    axes = _kinds(sampling[names[0]].axes)
    _check_axes(axes, path)
    _check_positions_agree(
        path, "axes (name [type])", {name: _axes_text(_kinds(s.axes)) for name, s in sampling.items()}
    )
    for name, position_sampling in sampling.items():
        _check_units(path, name, position_sampling.axes)
    _check_square_pixels(path, names[0], sampling[names[0]])
    _check_positions_agree(
        path,
        "scale transforms",  # compared in s and µm
        {name: _scale_text(_physical_scale(s)) for name, s in sampling.items()},
    )
    arrays = {name: _array_metadata(path, name) for name in names}
    for name, (_, _, dimension_names, _) in arrays.items():
        _check_dimension_names(path, name, sampling[name].axes, dimension_names)
    shapes = {name: shape for name, (shape, _, _, _) in arrays.items()}
    _check_pixel_types(path, {name: data_type for name, (_, data_type, _, _) in arrays.items()})
    _check_array_storage(path, {name: storage for name, (_, _, _, storage) in arrays.items()})
    _check_positions_agree(path, "array shape (T, C, Z, Y, X)", shapes)
    for name in names:
        _check_channel_labels(path, name, position_ome[name], shapes[name])
    _check_channel_sets(path, {name: _channel_labels(ome) for name, ome in position_ome.items()})
    try:
        with open_ome_zarr(path, layout="hcs", mode="r") as plate:
            first = plate[names[0]]
            channel_names = tuple(first.channel_names)
            root_attributes = plate.zattrs.asdict()
    except Exception as err:  # iohub's and pydantic's errors for metadata it cannot parse vary
        raise ArtifactError(
            f"{path}: position {names[0]} cannot be opened as an OME-Zarr image "
            f"({type(err).__name__}: {err}); repair its metadata"
        ) from err
    attribute = root_attributes.get("time_interval_minutes")
    written_here = PROVENANCE_KEY in root_attributes
    copies = {name: copied for name, (_, copied) in documents.items()}
    _check_copies_agree(path, root_attributes, copies)
    _check_unique_channels(path, channel_names)
    n_t, n_c, n_z, n_y, n_x = shapes[names[0]]
    interval = _interval_attribute(path, attribute, n_t)
    stated, default_scale_warning = _stated_sampling(
        path,
        names[0],
        sampling[names[0]],
        interval,
        n_t,
        written_here,
        stage=_recorded_stage(root_attributes),
        copies_held=any(copied is not None for copied in copies.values()),
    )
    layout = PlateLayout(
        path=path,
        fov_names=tuple(names),
        channel_names=channel_names,
        axes=axes,
        shape_tczyx=(n_t, n_c, n_z, n_y, n_x),
        pixel_types=tuple(dict.fromkeys(_pixel_type(data_type)[0] for _, data_type, _, _ in arrays.values())),
        **vars(stated),
    ).supplied_by(supplied or {})
    message = (
        _unscaled_warning(layout, interval is not None)
        if layout.unscaled_position is not None
        else _unitless_warning(layout, sampling[names[0]], interval)
    )
    replaced = _replaced_implausible_warning(layout, stated)
    unlisted = _unlisted_warnings(path, _unlisted_positions(path, names, plate_meta), len(names))
    messages = (
        *unlisted,
        *(text for text in (default_scale_warning, message, replaced) if text is not None),
    )
    for text in messages:
        warnings.warn(text, stacklevel=2)
    return dataclasses.replace(layout, warnings=messages) if messages else layout


def _check_copies_agree(path: Path, root_attributes: Mapping[str, Any], copies: Mapping[str, Any]) -> None:
    """Refuse (:class:`ArtifactError`) a plate a position of which holds a copy of the root attributes
    (:data:`~dynaclr.io.zarr_store.PLATE_ATTRIBUTES_KEY`, what its per-FOV jobs read) other than the
    root's as :func:`~dynaclr.io.zarr_store.copied_plate_attributes` copies it: a root edited by hand
    after the plate was written (its ``time_interval_minutes``, say) would leave every job reading the
    stale value. Compared are the keys the copy holds and the keys jobs read
    (:data:`JOB_READ_PLATE_ATTRIBUTES`); another key added to the root (a note of your own) is read by
    no job and not compared. Positions without a copy (a plate of your own, or written before) are read
    at the root; a copy of the whole record (written before records of many inputs were slimmed) agrees
    too. ``copies``: each position's copy (None where it holds none), already read with its metadata."""
    held = {name: copied for name, copied in copies.items() if copied is not None}
    if not held:
        return
    expected = copied_plate_attributes(root_attributes)
    whole = {key: value for key, value in root_attributes.items() if key not in PLATE_METADATA_KEYS}

    def compared(copied: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
        keys = set(copied) | set(JOB_READ_PLATE_ATTRIBUTES)
        return {key: root[key] for key in keys if key in root}

    differing = [
        name
        for name, copied in held.items()
        if copied != compared(copied, expected) and copied != compared(copied, whole)
    ]
    if not differing:
        return
    name = differing[0]
    found = (
        "; ".join(_differences(held[name], compared(held[name], expected))) or f"found {_short(held[name])}"
    )
    n_others = len(differing) - 1
    others = f" (and {n_others} other position{'s' if n_others > 1 else ''})" if n_others else ""
    stage = _recorded_stage(root_attributes)
    if not isinstance(root_attributes.get(PROVENANCE_KEY), dict):
        fix = (
            f"The plate's root has no '{PROVENANCE_KEY}' record (a plate of your own): its positions' copies "
            f"came from another plate (positions copied from a plate dynaclr wrote); delete "
            f"'{PLATE_ATTRIBUTES_KEY}' from every position's attributes (jobs then read the root)"
        )
    else:
        rerun = f"`snakemake --forcerun {stage}`" if stage is not None else "its rule"
        fix = (
            f"The root or the positions were edited after the plate was written: rerun the rule that wrote "
            f"the plate ({rerun}), or delete '{PLATE_ATTRIBUTES_KEY}' from every position's attributes "
            "(jobs then read the root)"
        )
    raise ArtifactError(
        f"{copy_location(path, name)}{others}: the copy of the plate's root attributes its per-FOV jobs "
        f"read disagrees with the root ({path / 'zarr.json'}): {found}. {fix}"
    )


def _recorded_stage(attributes: Mapping[str, Any]) -> str | None:
    """The stage (rule) the dynaclr record in a plate's root ``attributes`` names; None without one."""
    record = attributes.get(PROVENANCE_KEY)
    stage = record.get("stage") if isinstance(record, dict) else None
    return stage if isinstance(stage, str) else None


class _Absent:
    """A key one of two compared dicts lacks (:func:`_differences`)."""

    def __repr__(self) -> str:
        return "(absent)"


def _differences(copied: Any, expected: Any, key: str = "") -> list[str]:
    """``key: position X, root Y`` for each (dotted) key whose value differs between a position's copy
    of the root attributes and the root's, into nested dicts (a record's ``config_hash``)."""
    if not (isinstance(copied, dict) and isinstance(expected, dict)):
        return [f"{key or 'value'}: position {_short(copied)}, root {_short(expected)}"]
    absent = _Absent()
    differences = []
    for name in sorted(set(copied) | set(expected)):
        left, right = copied.get(name, absent), expected.get(name, absent)
        if left != right:
            differences += _differences(left, right, f"{key}.{name}" if key else str(name))
    return differences


def _short(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters for a message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _replaced_implausible_warning(layout: PlateLayout, stated: PlateSampling) -> str | None:
    """What the config supplied in place of a size the scale states implausibly
    (:attr:`PlateSampling.implausible`), or None where it replaced none."""
    supplied = layout.supplied_values()
    parts = [
        f"{read} not used (implausible): acquisition.{key} {supplied[key]:g} µm in its place"
        for key, read in stated.implausible
        if key in supplied and key not in stated.unitless  # said by _unitless_warning
    ]
    if not parts:
        return None
    return (
        f"{layout.path}: position {layout.fov_names[0]}: {'; '.join(parts)}. Correct the plate's scale or "
        "unit to state the sampling in the plate"
    )


def _unitless_warning(layout: PlateLayout, sampling: _Sampling, interval: float | None) -> str | None:
    """What a position whose time or space axes carry a scale but no unit is read as (seconds and
    micrometres: a plate written in minutes or nanometres without its units would be read 60 or 1000
    times off) or what the config supplied in its place (:attr:`PlateSampling.unitless`), or None
    when every such axis states its unit. Where the plate's ``time_interval_minutes`` attribute
    (``interval``; None: absent) states the interval, the time axis's scale is not used: it is said
    only where it disagrees with the attribute read in every unit of :data:`PLAUSIBLE_TIME_UNITS`
    (a scale of 600 beside 10 min is the interval in seconds; 5 beside 10 min is no reading of it)
    in a plate of more than one frame (with one, no stage reads the interval)."""
    if sampling.scale is None:
        return None
    supplied = layout.supplied_values()
    parts = []
    read = False  # an axis read in seconds or micrometres (not replaced by the config)
    disagrees = False  # a time scale that no plausible unit reconciles with the attribute
    for index, (value, (axis, kind, unit)) in enumerate(zip(sampling.scale, sampling.axes, strict=True)):
        if kind not in _UNITS or unit is not None:
            continue
        if kind == "time" and interval is not None:
            if layout.n_frames > 1 and not _agrees_in_a_plausible_unit(value, interval):
                parts.append(
                    f"{axis} {value:g} not used: it is not the plate attribute time_interval_minutes "
                    f"{interval:g} min in {', '.join(f'{name}s' for name in PLAUSIBLE_TIME_UNITS)} (within "
                    f"{TIME_INTERVAL_TOLERANCE:g} relative), and the attribute's {interval:g} min is used"
                )
                disagrees = True
            continue
        key = _SAMPLING_KEY_OF_AXIS[index]
        if key in supplied:
            what = "min" if kind == "time" else "µm"
            parts.append(
                f"{axis} {value:g} not used: acquisition.{key} {supplied[key]:g} {what} in its place"
            )
        else:
            parts.append(f"{axis} {value:g} read in {'seconds' if kind == 'time' else 'micrometres'}")
            read = True
    if not parts:
        return None
    advice = "Write each axis's OME-NGFF unit"
    if not read:
        advice += " to state the sampling in the plate"
    elif layout.unitless:
        keys = ", ".join(f"acquisition.{key}" for key in layout.unitless)
        advice += f", or set the dataset's {keys} (the config's value then takes the scale's place)"
    if disagrees:
        advice += (
            "; to silence the time axis's, write its scale as the interval the plate was acquired at, in "
            "its unit (it must then agree with the attribute), or correct the attribute (minutes)"
        )
    return (
        f"{layout.path}: position {layout.fov_names[0]}: axes without a unit (multiscales[0].axes[].unit): "
        f"{'; '.join(parts)}. {advice}"
    )


def _agrees_in_a_plausible_unit(scale: float, interval_minutes: float) -> bool:
    """Whether a time scale without a unit is ``interval_minutes`` read in one of
    :data:`PLAUSIBLE_TIME_UNITS` (within :data:`TIME_INTERVAL_TOLERANCE`, relative; a NaN agrees with
    nothing)."""
    interval_s = interval_minutes * 60.0
    return any(
        abs(scale * _SECONDS[unit] - interval_s) <= TIME_INTERVAL_TOLERANCE * interval_s
        for unit in PLAUSIBLE_TIME_UNITS
    )


def _interval_attribute(path: Path, attribute: Any, n_frames: int) -> float | None:
    """The plate attribute ``time_interval_minutes`` (``attribute``; None: absent) as the interval it
    states, in minutes. Refuses (:class:`ArtifactError`, naming the plate, the key and the value) one that
    is not a positive, finite JSON number where the plate has more than one frame; with one frame no
    stage reads the interval, and such an attribute is not read (None).

    A number written as a string (``"5"``) is refused, not parsed: every writer (iohub, dynaclr)
    writes a number, and a string may carry a unit (``"5 s"``) the parse would drop."""
    if attribute is None:
        return None
    number = isinstance(attribute, int | float) and not isinstance(attribute, bool)
    if number and math.isfinite(attribute) and attribute > 0:
        return float(attribute)
    if n_frames == 1:
        return None
    raise ArtifactError(
        f"{path}: plate attribute time_interval_minutes: expected a positive number of minutes (a JSON "
        f"number; {n_frames} frames), found {attribute!r}"
    )


def _stated_sampling(
    path: Path,
    name: str,
    sampling: _Sampling,
    interval: float | None,
    n_frames: int,
    written_here: bool,
    *,
    stage: str | None = None,
    copies_held: bool = False,
) -> tuple[PlateSampling, str | None]:
    """The sampling position ``name``'s array ``0`` (of ``n_frames`` time points) and the plate's
    ``time_interval_minutes`` attribute (``interval``, :func:`_interval_attribute`; None: absent) state,
    and a warning (None: nothing to warn of). Without a ``scale``: iohub's 1 s and 1 µm, flagged
    (``unscaled_position``), the attribute's interval in place of the 1 s.

    ``written_here``: the plate's attributes carry dynaclr's provenance (:data:`PROVENANCE_KEY`,
    which every dynaclr writer adds, :func:`~dynaclr.io.zarr_store.write_zarr_provenance`). Such a
    plate's scale is the geometry dynaclr wrote (:func:`scale_transform`), so a scale of ones states
    1 s, 1 µm and 1 µm: it is not read as iohub's default (:func:`_is_iohub_default_scale`). ``stage``:
    the rule its record names (the fix a refusal gives); ``copies_held``: its positions hold copies of
    the root attributes (:data:`~dynaclr.io.zarr_store.PLATE_ATTRIBUTES_KEY`: a hand edit of the root
    leaves them stale).

    The attribute states the interval (and the geometry's) where the time axis has no ``scale`` or no
    unit, and where its scale is iohub's default of 1 s (:data:`IOHUB_DEFAULT_TIME_SCALE_S`, written
    for an array created without a transform) while the attribute says otherwise: then with a warning
    naming both values. With more than one frame, refuses (:class:`ArtifactError`, naming the plate,
    the position and both values) an attribute that differs from any other stated time scale beyond
    :data:`TIME_INTERVAL_TOLERANCE` (relative), a non-finite scale included: stages reading the
    attribute (minute-based settings) and those reading the scale would use two intervals. With one
    frame nothing is compared: no stage reads the interval."""
    default_scale = not written_here and _is_iohub_default_scale(sampling)
    unscaled = name if sampling.scale is None or default_scale else None
    geometry = _sampling_geometry(sampling)
    # a key is read without a unit where every axis stating it has none (Y and X: the pixel size)
    has_unit = dict.fromkeys(_SAMPLING_KEY_OF_AXIS.values(), False)
    for index, key in _SAMPLING_KEY_OF_AXIS.items():
        has_unit[key] = has_unit[key] or sampling.axes[index][2] is not None
    unitless = tuple(
        key
        for key, stated_unit in has_unit.items()
        if unscaled is None
        and not stated_unit
        and not (key == "time_interval_minutes" and interval is not None)
    )
    implausible = _implausible_sizes(sampling, geometry) if unscaled is None else ()
    # a time scale without its unit is not compared: the attribute states the interval in its place
    time_scale_has_unit = unscaled is None and has_unit["time_interval_minutes"]
    attribute_states = interval is not None and not time_scale_has_unit
    warning = None
    scale_s = geometry.time_interval_s
    # written so that a NaN scale disagrees
    if (
        interval is not None
        and time_scale_has_unit
        and not abs(scale_s / 60.0 - interval) <= (TIME_INTERVAL_TOLERANCE * interval)
    ):
        attribute_states = scale_s == IOHUB_DEFAULT_TIME_SCALE_S
        if attribute_states and n_frames > 1:
            warning = (
                f"{path}: position {name}: time scale {scale_s:g} s (iohub's default, written for an array "
                f"created without a scale) ignored: the plate attribute time_interval_minutes {interval:g} "
                "min states the time interval. Write the time scale in its axis's unit to state it there"
            )
        elif not attribute_states and n_frames > 1:
            rule = f"`snakemake --forcerun {stage}`" if stage is not None else "the rule its record names"
            copies = " (its positions hold copies of the attribute)" if copies_held else ""
            fix = (
                f"this plate was written by dynaclr: rewrite it with its rule, {rule}, not by hand{copies}"
                if written_here
                else "write the time scale the plate was acquired at in its axis's unit, or correct the "
                "attribute (minutes)"
            )
            raise ArtifactError(
                f"{path}: plate attribute time_interval_minutes {interval:g} min disagrees with the time "
                f"scale of position {name} ({scale_s / 60.0:g} min = {scale_s:g} s, within "
                f"{TIME_INTERVAL_TOLERANCE:g} relative); {fix}"
            )
    if attribute_states:  # what iohub reads as the scale (1 s without one) is the attribute's interval
        assert interval is not None
        geometry = dataclasses.replace(geometry, time_interval_s=interval * 60.0)
    stated = PlateSampling(
        geometry=geometry,
        time_interval_minutes=interval if interval is not None else geometry.time_interval_s / 60.0,
        unscaled_position=unscaled,
        default_scale=default_scale,
        time_interval_stated=unscaled is None or interval is not None,
        n_frames=n_frames,
        unitless=unitless,
        implausible=implausible,
    )
    return stated, warning


def _is_iohub_default_scale(sampling: _Sampling) -> bool:
    """Whether the effective scale of array ``0`` is the one iohub writes for an array created without
    a transform: every value exactly 1, time in seconds and space in micrometres (as iohub's default
    axes name them). It states nothing: read as stated, a plate written without its sampling gave
    1 µm pixels and z steps (the phase transfer function computed for them) and a 1 s interval, with
    exit 0. A plate truly sampled at 1 s, 1 µm and 1 µm at once gets the same values from the
    dataset's ``acquisition``. Not applied to a plate dynaclr wrote (:func:`_stated_sampling`): its
    scale is always the one it was written with."""
    if sampling.scale is None or any(value != 1.0 for value in sampling.scale):
        return False
    return all(unit == _DEFAULT_UNITS[kind] for _, kind, unit in sampling.axes if kind in _DEFAULT_UNITS)


def _implausible_sizes(sampling: _Sampling, geometry: PlateGeometry) -> tuple[tuple[str, str], ...]:
    """The pixel size and z step of ``geometry`` (converted from ``sampling``'s scale in its axes'
    units, micrometres where an axis has none) outside the bounds of live-cell microscopy
    (:func:`~dynaclr.io.sampling.implausible_sampling`), each with how it was read
    (:func:`_scale_read`). One read without a unit is flagged too: a plate written in nanometres
    without its units would otherwise be read as 65 µm pixels, with a warning only."""
    assert sampling.scale is not None
    found = []
    for key, indices in (("pixel_size_um", (3, 4)), ("z_step_um", (2,))):
        value = geometry.pixel_size_um if key == "pixel_size_um" else geometry.z_step_um
        if implausible_sampling(value, key) is not None:
            found.append((key, _scale_read(sampling, indices)))
    return tuple(found)


def _scale_read(sampling: _Sampling, indices: tuple[int, ...]) -> str:
    """How the scale of the axes ``indices`` was read, each axis's value with its own unit or "no
    unit" (read as µm): ``"scale 65 micrometer of axes y and x"``, ``"scale 65 (no unit, read as µm)
    of axis y, 65000 nanometer of axis x"``."""
    assert sampling.scale is not None
    scale = sampling.scale
    read = [
        (
            f"{scale[index]:g} {unit}"
            if (unit := sampling.axes[index][2]) is not None
            else f"{scale[index]:g} (no unit, read as µm)",
            sampling.axes[index][0],
        )
        for index in indices
    ]
    texts = dict.fromkeys(text for text, _ in read)
    if len(texts) == 1:
        names = [axis for _, axis in read]
        axes = f"axes {' and '.join(names)}" if len(names) > 1 else f"axis {names[0]}"
        return f"scale {read[0][0]} of {axes}"
    return "scale " + ", ".join(f"{text} of axis {axis}" for text, axis in read)


def read_plate_sampling(
    plate_path: str | Path,
    supplied: Mapping[str, float | None] | None = None,
    fov_name: str | None = None,
    planned_root: Mapping[str, Any] | None = None,
) -> PlateSampling:
    """The sampling :func:`read_plate_layout` gives the plate (geometry, time interval, the values
    ``supplied`` fills in, time points), read from the plate's attributes and ONE position's metadata:
    ``fov_name``'s where given (a per-FOV job's own position: it reads no other FOV's metadata), else
    the first the plate's metadata lists (its first well's, that well's metadata only).

    For what a job needs of the sampling (a per-FOV rule's ``params:``, a plate written from another's
    geometry, whether a dataset is a movie): reading every position's metadata, as
    :func:`read_plate_layout` does, costs about 2 s at 10,000 FOVs, in every job (a SLURM job parses
    the Snakefile again). It checks nothing across
    positions and warns of nothing: the dry run reads the plate with :func:`read_plate_layout`, which
    refuses a plate whose positions differ in scale or shape (so any position states the plate's
    sampling and time points) and warns of one without scale. Refuses (:class:`ArtifactError`) a
    missing or non-HCS store, a plate without positions, and position metadata (or a position without
    array ``0``) :func:`read_plate_layout` refuses. ``planned_root``: the root attributes of a
    plate of your own as the dry run read them (:func:`planned_root_attributes`), read in place of
    its root where position ``fov_name`` (given or not) holds no copy of it, as
    :func:`~dynaclr.io.zarr_store.read_plate_attribute` and
    :func:`~dynaclr.io.zarr_store.read_plate_provenance` take it.
    """
    path = Path(plate_path)
    name = _first_listed_position(path) if fov_name is None else fov_name
    sampling, shape = _checked_position(path, name)
    _check_units(path, name, sampling.axes)
    n_frames = shape[0]
    # the plate's root attributes: position fov_name's copy of them where it holds one (a per-FOV job
    # reads no metadata of the plate's root)
    copied = position_plate_attributes(path, fov_name)
    attributes: Mapping[str, Any]
    if copied is not None:
        attributes = copied
    elif planned_root is not None:
        attributes = planned_root
    else:
        attributes = zarr.open_group(path, mode="r").attrs.asdict()
    interval = _interval_attribute(path, attributes.get("time_interval_minutes"), n_frames)
    written_here = PROVENANCE_KEY in attributes
    # read_plate_layout warns
    stated, _ = _stated_sampling(
        path,
        name,
        sampling,
        interval,
        n_frames,
        written_here,
        stage=_recorded_stage(attributes),
        copies_held=copied is not None,
    )
    return stated.supplied_by(supplied or {})


def _checked_position(path: Path, name: str) -> tuple[_Sampling, tuple[int, ...]]:
    """The axes and scale and the array ``0`` shape of position ``name``, read from its JSON metadata
    as the dry run reads every position (:func:`read_plate_layout`), refusing the same: metadata that
    cannot be opened, axes other than ``t, c, z, y, x``, a missing array ``0``, ``dimension_names``
    other than the axes (:func:`_check_dimension_names`), a Zarr v2 array ``0`` the reader cannot
    decode (big-endian or Fortran order, :func:`_undecodable_storage`). The one check of a position a
    job reads (:func:`read_plate_sampling`, :func:`check_plate_axes`)."""
    ome = _position_ome(path / name)
    if ome is None:
        raise ArtifactError(
            f"{path}: position {name} is listed in the plate's metadata but cannot be opened (missing or "
            "invalid metadata); repair or remove it"
        )
    sampling = _position_sampling(path, name, ome)
    _check_axes(_kinds(sampling.axes), path)
    shape, _, dimension_names, storage = _array_metadata(path, name)
    _check_dimension_names(path, name, sampling.axes, dimension_names)
    _check_array_storage(path, {name: storage})
    return sampling, shape


def _first_listed_position(path: Path) -> str:
    """The first position the plate's metadata lists (``row/column/fov``); refuses a missing plate
    or one without positions."""
    if not path.exists():
        raise ArtifactError(f"{path}: plate not found")
    name = next(_listed_fov_names(path), None)
    if name is None:
        raise ArtifactError(f"{path}: the plate has no positions")
    return name


def _array_metadata(path: Path, name: str) -> tuple[tuple[int, ...], Any, Any, str | None]:
    """The shape, data type (as the zarr metadata writes it: v3 ``data_type``, v2 ``dtype``),
    dimension names (Zarr v3 ``dimension_names``; None: not written) and the storage the reader cannot
    decode (:func:`_undecodable_storage`; None: none) of position ``name``'s array ``0``, from one read
    of its metadata; refuses a position without one."""
    metadata = _zarr_metadata(path / name / "0")
    shape = _metadata_shape(metadata)
    if metadata is None or shape is None:
        found = sorted(child.name for child in (path / name).iterdir() if child.is_dir())
        raise ArtifactError(
            f"{path}: position {name} has no array '0' (found {found}); "
            "dynaclr reads the full-resolution array '0'"
        )
    return (
        shape,
        metadata.get("data_type", metadata.get("dtype")),
        metadata.get("dimension_names"),
        _undecodable_storage(metadata),
    )


def _undecodable_storage(metadata: Mapping[str, Any]) -> str | None:
    """What in an array's zarr ``metadata`` the reader cannot decode, for a message
    (``".zarray dtype '>u2' (big-endian)"``), or None. The reader is iohub's default, the zarrs codec
    pipeline, which decodes a Zarr v2 array only in native byte order (little-endian here) and C
    order: a big-endian ``dtype`` (``>u2``, what Java writers such as bioformats2raw store) fails with
    ``Non-native byte order not supported``, an ``order`` of ``F`` with ``input array must be a C
    contiguous array``, at the first frame each job reads. Zarr v3 states byte order in its ``bytes``
    codec, which zarrs decodes in either order."""
    if metadata.get("zarr_format") != 2:
        return None
    found = []
    data_type = metadata.get("dtype")
    try:
        pixel_type = np.dtype(data_type) if isinstance(data_type, str) else None
    except (TypeError, ValueError):
        pixel_type = None
    if pixel_type is not None and not pixel_type.isnative:
        order = {">": "big-endian", "<": "little-endian"}.get(pixel_type.byteorder, "non-native")
        found.append(f".zarray dtype {data_type!r} ({order})")
    if metadata.get("order") not in (None, "C"):
        found.append(f".zarray order {metadata.get('order')!r} (Fortran)")
    return ", ".join(found) or None


def _check_array_storage(path: Path, storage: Mapping[str, str | None]) -> None:
    """Refuse positions whose array ``0`` is stored in a way the reader cannot decode (``storage``: by
    FOV, :func:`_undecodable_storage` of its array ``0``), naming the plate, the positions, the metadata
    found and the fix: every job would otherwise fail at its first frame, its error read as a corrupt
    store."""
    refused = {name: found for name, found in storage.items() if found is not None}
    if not refused:
        return
    shown = "; ".join(f"{name}: {found}" for name, found in list(refused.items())[:5])
    more = " ..." if len(refused) > 5 else ""
    raise ArtifactError(
        f"{path}: expected array '0' of every position in native (little-endian) byte order and C order, "
        "the Zarr v2 storage the plate reader (iohub's zarrs codec pipeline) decodes, found "
        f"{shown}{more} ({len(refused)} of {len(storage)} positions); every job "
        "would fail reading its pixels (the data are not corrupt). Rewrite each array '0' little-endian in C "
        f"order: {STORAGE_FIX}"
    )


def _check_dimension_names(
    path: Path, name: str, axes: tuple[tuple[str, str, str | None], ...], dimension_names: Any
) -> None:
    """Array ``0``'s Zarr v3 ``dimension_names`` (where written) name the position's multiscales axes in
    their order, as OME-Zarr 0.5 requires: arrays whose two descriptions disagree (``c, t, z, y, x``
    beside axes ``t, c, z, y, x``) would have their dimensions read as the axes say, whichever is
    right. Compared without case (iohub writes ``T, C, Z, Y, X`` beside axes ``t, c, z, y, x``); a
    null name (allowed by Zarr v3) agrees with any axis."""
    if dimension_names is None:
        return
    expected = [axis for axis, _, _ in axes]
    agree = isinstance(dimension_names, list) and len(dimension_names) == len(expected)
    if agree:
        agree = all(
            found is None or (isinstance(found, str) and found.lower() == axis)
            for found, axis in zip(dimension_names, expected, strict=True)
        )
    if not agree:
        raise ArtifactError(
            f"{path}: position {name}: expected the dimension_names of array '0' (its zarr.json) to name the "
            f"multiscales axes in their order, {expected}, found {dimension_names!r}; the array's dimensions "
            "would be read in the axes' order. Either the dimension_names are wrong (correct them in the "
            "array's zarr.json) or the array is in that order (rewrite it as t, c, z, y, x: dynaclr reads "
            "only that order)"
        )


def _pixel_type(data_type: Any) -> tuple[str, str | None]:
    """A zarr metadata data type (v3 ``data_type``, v2 ``dtype``) as its NumPy name and kind; kind
    None where it is no NumPy dtype (v3's ``string``, an extension type: named by its ``name``)."""
    try:
        found = np.dtype(data_type) if isinstance(data_type, str) else None
    except (TypeError, ValueError):
        found = None
    if found is not None:
        return found.name, found.kind
    return str(data_type.get("name", data_type) if isinstance(data_type, dict) else data_type), None


def _check_pixel_types(path: Path, data_types: dict[str, Any]) -> None:
    """Refuse positions whose array ``0`` holds pixels other than integers or real floats
    (:data:`PIXEL_DTYPE_KINDS`), naming the plate, the positions and their types."""
    types = {name: _pixel_type(data_type) for name, data_type in data_types.items()}
    refused = {
        name: shown for name, (shown, kind) in types.items() if kind is None or kind not in PIXEL_DTYPE_KINDS
    }
    if refused:
        shown = ", ".join(f"{name}: {data_type}" for name, data_type in list(refused.items())[:5])
        raise ArtifactError(
            f"{path}: expected array '0' of every position to hold integer or real floating-point pixels "
            "(of any width: int8 to uint64, float16 to float64), found "
            f"{shown}{' ...' if len(refused) > 5 else ''} "
            f"({len(refused)} of {len(data_types)} positions); a complex array would lose its imaginary "
            "part, a boolean, string or object array is no image: convert the pixels (e.g. the complex "
            "field's amplitude or phase) and write the plate again"
        )


def _unscaled_warning(layout: PlateLayout, interval_attribute: bool) -> str:
    """What a plate without a scale transform states, what the config supplied and what iohub reads."""
    values = layout.supplied_values()
    parts = []
    unstated = []
    for key, what, unit, iohub in (
        ("time_interval_minutes", "time interval", "min", "1 s"),
        ("pixel_size_um", "pixel size", "µm", "1 µm"),
        ("z_step_um", "z step", "µm", "1 µm"),
    ):
        if key in values:
            parts.append(f"{what} {values[key]:g} {unit} from the config (acquisition.{key})")
        elif key == "time_interval_minutes" and interval_attribute:
            parts.append(f"{what} {layout.time_interval_minutes:g} min from the plate attribute {key}")
        elif key == "time_interval_minutes" and layout.n_frames == 1:
            continue  # a still image: no stage reads its interval
        else:
            parts.append(f"{what} not stated (read as {iohub})")
            unstated.append(key)
    settings = "the dataset's " + " and ".join(f"acquisition.{key}" for key in unstated)
    fix = layout.scale_fix(unstated, settings)
    return (
        f"{layout.path}: position {layout.unscaled_position} (and every other) has "
        + (f"{IOHUB_DEFAULT_SCALE} in" if layout.default_scale else "no 'scale' in")
        + " the coordinateTransformations of its dataset '0' or its multiscales: "
        + "; ".join(parts)
        + (
            f". {fix[0].upper()}{fix[1:]}; the dry run refuses the plate where a stage needs a value "
            "nothing states"
            if unstated
            else ""
        )
    )


def _zarr_metadata(node: Path) -> dict[str, Any] | None:
    """A zarr node's own metadata document, read as JSON without zarr (:func:`_read_zarr_metadata`;
    None when the node has none, it cannot be read or it is not a valid JSON object)."""
    try:
        return _read_zarr_metadata(node)[0]
    except OSError:
        return None


def _read_zarr_metadata(node: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A zarr node's own metadata document, read as JSON without zarr: Zarr v3's ``zarr.json``, or
    v2's ``.zarray`` / ``.zattrs`` merged (None when the node has none), and what is wrong with it
    (``'zarr.json: not valid JSON'``; the metadata is then None). Raises :class:`OSError` where a
    document is there but cannot be read (permission denied): that is no invalid metadata."""
    v3 = node / "zarr.json"
    documents = [v3] if v3.is_file() else [node / ".zarray", node / ".zattrs"]
    metadata: dict[str, Any] = {}
    for document in documents:
        try:
            value = json.loads(document.read_text())
        except FileNotFoundError:
            continue
        except ValueError:  # a UnicodeDecodeError too
            return None, f"{document.name}: not valid JSON"
        if not isinstance(value, dict):
            return None, f"{document.name}: not a JSON object"
        metadata.update(value)
    return metadata or None, None


def _position_ome(position: Path) -> dict[str, Any] | None:
    """A position's OME group metadata, if it holds ``multiscales`` (what iohub needs to open it);
    None otherwise."""
    return _position_metadata(position)[0]


def _position_metadata(position: Path) -> tuple[dict[str, Any] | None, Any]:
    """A position's OME group metadata (:func:`_position_ome`) and its copy of the plate's root
    attributes (:data:`~dynaclr.io.zarr_store.PLATE_ATTRIBUTES_KEY`; None where it holds none), read
    from its one metadata document."""
    return _ome_and_copy(_zarr_metadata(position))


def _ome_and_copy(metadata: dict[str, Any] | None) -> tuple[dict[str, Any] | None, Any]:
    """:func:`_position_metadata` of a position's metadata document (None: it has none)."""
    if metadata is None:
        return None, None
    attributes = metadata.get("attributes", metadata)
    if not isinstance(attributes, dict):
        return None, None
    ome = attributes.get("ome", attributes)
    copied = attributes.get(PLATE_ATTRIBUTES_KEY)
    if isinstance(ome, dict) and isinstance(ome.get("multiscales"), list):
        return ome, copied
    return None, copied


def _channel_labels(ome: dict[str, Any]) -> tuple[str, ...]:
    """Channel names of a position (its ``omero`` channels' labels, as iohub reads them)."""
    omero = ome.get("omero")
    channels = omero.get("channels", []) if isinstance(omero, dict) else []
    return tuple(str(channel.get("label")) for channel in channels if isinstance(channel, dict))


def _check_channel_labels(path: Path, name: str, ome: dict[str, Any], shape: tuple[int, ...]) -> None:
    """The position's ``omero`` metadata names each channel of its array ``0``, once each (checked in
    every position, before the positions' label sets are compared, so a missing label is named as such).
    Without ``omero`` iohub names the channels 0, 1, ... (integers no config key can name); with fewer
    labels a channel has no name, with more a name reads past the array's last channel when a job runs;
    a channel entry without a label (or one that is not a string with a character other than
    whitespace) names no channel (iohub reads None; a blank label no config key can name)."""
    omero = ome.get("omero")
    if isinstance(omero, dict) and not isinstance(omero.get("channels"), list):
        return  # malformed: iohub's error names it when the position is opened
    unlabelled = [
        f"omero.channels[{index}]"
        + (
            f".label {channel['label']!r}"
            if isinstance(channel, dict) and "label" in channel
            else " no label"
        )
        for index, channel in enumerate(omero["channels"] if isinstance(omero, dict) else [])
        if not isinstance(channel, dict)
        or not isinstance(channel.get("label"), str)
        or not channel["label"].strip()
    ]
    if unlabelled:
        raise ArtifactError(
            f"{path}: position {name}: expected each omero channel to have a label (a non-blank string, the "
            f"channel's name), found {'; '.join(unlabelled)}. Write the position's omero channels, one "
            "labelled entry per channel, in the array's order"
        )
    labels = _channel_labels(ome)
    n_channels = shape[1] if len(shape) == len(EXPECTED_AXES) else None
    if n_channels is None or len(labels) == n_channels:
        return
    found = "no 'omero' metadata" if not isinstance(omero, dict) else f"{len(labels)}: {list(labels)}"
    raise ArtifactError(
        f"{path}: position {name}: expected one channel label per channel of array '0' "
        f"(omero.channels[].label; C = {n_channels}), found {found}. Write the position's omero channels, "
        "one labelled entry per channel, in the array's order"
    )


@dataclass(frozen=True)
class _Sampling:
    """A position's axes ``(name, type, unit)`` (names lower case) and the effective scale of its
    array ``0`` (None: no ``scale`` transformation), as its JSON metadata states them."""

    axes: tuple[tuple[str, str, str | None], ...]
    scale: tuple[float, ...] | None


def _position_sampling(path: Path, name: str, ome: dict[str, Any]) -> _Sampling:
    """The axes and effective scale of position ``name`` (the product of the ``scale``
    transformations of its dataset ``0`` and of its multiscales), refusing metadata that iohub would
    fail on or misread, naming the key, what was expected and what was found."""
    where = f"{path}: position {name}"
    multiscales = ome["multiscales"][0] if ome["multiscales"] else None
    if not isinstance(multiscales, dict):
        raise ArtifactError(f"{where}: expected an object at multiscales[0], found {multiscales!r}")
    raw_axes = multiscales.get("axes")
    if not isinstance(raw_axes, list) or not all(
        isinstance(axis, dict) and isinstance(axis.get("name"), str) for axis in raw_axes
    ):
        raise ArtifactError(
            f"{where}: expected a list of named axes at multiscales[0].axes, found {raw_axes!r}"
        )
    axes = tuple(
        (axis["name"].lower(), str(axis.get("type")), None if axis.get("unit") is None else str(axis["unit"]))
        for axis in raw_axes
    )
    datasets = multiscales.get("datasets")
    dataset = next(
        (
            (index, d)
            for index, d in enumerate(datasets if isinstance(datasets, list) else [])
            if isinstance(d, dict) and d.get("path") == "0"
        ),
        None,
    )
    if dataset is None:
        raise ArtifactError(
            f"{where}: expected a dataset with path '0' in multiscales[0].datasets, found {datasets!r}"
        )
    index, dataset_meta = dataset
    assert isinstance(datasets, list)  # it holds the dataset found
    scale = _dataset_scale(where, index, dataset_meta, multiscales, axes)
    _check_finest_level(where, axes, scale, datasets, index, multiscales)
    return _Sampling(axes, scale)


def _dataset_scale(
    where: str,
    index: int,
    dataset: dict[str, Any],
    multiscales: dict[str, Any],
    axes: tuple[tuple[str, str, str | None], ...],
) -> tuple[float, ...] | None:
    """The effective scale of ``multiscales[0].datasets[index]`` (``dataset``): the product of its
    ``scale`` transformations and those of the multiscales (None: none), refusing transformations
    that are malformed or a ``scale`` that is not one number per axis."""
    transforms = _transformations(
        where, f"multiscales[0].datasets[{index}].coordinateTransformations", dataset, required=True
    )
    transforms += _transformations(
        where, "multiscales[0].coordinateTransformations", multiscales, required=False
    )
    scales = []
    for key, transform in transforms:
        if transform.get("type") != "scale":
            continue
        scale = transform.get("scale")
        if (
            not isinstance(scale, list)
            or len(scale) != len(axes)
            or not all(isinstance(value, int | float) and not isinstance(value, bool) for value in scale)
        ):
            raise ArtifactError(
                f"{where}: expected {key}.scale to be a list of {len(axes)} numbers (one per axis "
                f"{[axis[0] for axis in axes]}), found {scale!r}"
            )
        scales.append(scale)
    if not scales:
        return None
    return tuple(float(v) for v in np.prod(np.asarray(scales, dtype=np.float64), axis=0))


def _check_finest_level(
    where: str,
    axes: tuple[tuple[str, str, str | None], ...],
    scale: tuple[float, ...] | None,
    datasets: list[Any],
    index: int,
    multiscales: dict[str, Any],
) -> None:
    """Array ``0`` (``datasets[index]``, of effective ``scale``) is the full-resolution level: no other
    dataset of the multiscales has a finer space axis. A tool that names its levels otherwise (the
    full resolution ``full`` or ``s0``, a coarser level ``0``) would have every stage read a
    downsampled image, its pixel size right for it, with exit 0. Levels whose transformations cannot
    be read are not compared (no stage reads them)."""
    if scale is None:
        return
    for other, dataset in enumerate(datasets):
        if other == index or not isinstance(dataset, dict):
            continue
        try:
            level = _dataset_scale(where, other, dataset, multiscales, axes)
        except ArtifactError:
            continue
        if level is None:
            continue
        finer = [
            f"axis {name} {value:g} against {scale[axis]:g}"
            for axis, ((name, kind, _), value) in enumerate(zip(axes, level, strict=True))
            if kind == "space" and value < scale[axis] * (1.0 - SQUARE_PIXEL_TOLERANCE)
        ]
        if finer:
            raise ArtifactError(
                f"{where}: expected array '0' to be the full-resolution level of multiscales[0].datasets "
                f"(dynaclr reads array '0'), found dataset {dataset.get('path')!r} "
                f"(multiscales[0].datasets[{other}]) finer than '0' (scale of {', '.join(finer)} in '0'); "
                "name the full-resolution array '0' (OME-NGFF lists it first, then each coarser "
                "level)"
            )


def _transformations(
    where: str, key: str, node: dict[str, Any], *, required: bool
) -> list[tuple[str, dict[str, Any]]]:
    """The coordinate transformations listed at ``node["coordinateTransformations"]``, each with its
    key; refuses a value that is not a list of objects with a ``type`` (absent: refused when
    ``required``, as OME-NGFF requires it of a dataset)."""
    transforms = node.get("coordinateTransformations")
    if transforms is None and not required and "coordinateTransformations" not in node:
        return []
    if not isinstance(transforms, list) or not all(
        isinstance(transform, dict) and isinstance(transform.get("type"), str) for transform in transforms
    ):
        found = "nothing" if "coordinateTransformations" not in node else repr(transforms)
        raise ArtifactError(
            f"{where}: expected {key} to be a list of transformations (objects with a 'type', the "
            f"array's 'scale' among them), found {found}"
        )
    return [(f"{key}[{index}]", transform) for index, transform in enumerate(transforms)]


def _kinds(axes: tuple[tuple[str, str, str | None], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, kind) for name, kind, _ in axes)


def _physical_scale(sampling: _Sampling) -> tuple[float, ...] | None:
    """The effective scale in seconds and micrometres (channel axes as written): positions that
    write one sampling in other units (650 nm, 0.65 µm; an axis without a unit is in s / µm) agree."""
    if sampling.scale is None:
        return None
    return tuple(
        value * _UNITS[kind][unit or _DEFAULT_UNITS[kind]] if kind in _UNITS else value
        for value, (_, kind, unit) in zip(sampling.scale, sampling.axes, strict=True)
    )


def _sampling_geometry(sampling: _Sampling) -> PlateGeometry:
    """The time interval (s) and pixel sizes (µm) of array ``0`` (axes ``t, c, z, y, x``), from its
    :func:`_physical_scale`: the one conversion :func:`read_plate_layout` makes (no ``scale``: iohub's
    default of 1, which ``unscaled_position`` flags)."""
    scale = _physical_scale(sampling) or (1.0,) * len(sampling.axes)
    return PlateGeometry(time_interval_s=scale[0], z_step_um=scale[2], pixel_size_um=scale[3])


def _check_units(path: Path, name: str, axes: tuple[tuple[str, str, str | None], ...]) -> None:
    """Each time and space axis has an OME-NGFF unit (or none: seconds / micrometres)."""
    for index, (axis, kind, unit) in enumerate(axes):
        units = _UNITS.get(kind, {})
        if units and unit is not None and unit not in units:
            raise ArtifactError(
                f"{path}: position {name}: expected an OME-NGFF {kind} unit at multiscales[0].axes[{index}]"
                f".unit (axis {axis}; e.g. {_DEFAULT_UNITS[kind]!r}), found {unit!r}; write the unit's "
                "full name"
            )


def _check_square_pixels(path: Path, name: str, sampling: _Sampling) -> None:
    """The Y and X pixel sizes agree in micrometres (within :data:`SQUARE_PIXEL_TOLERANCE`): the
    stages take one pixel size, Y's, for both."""
    scale = _physical_scale(sampling)
    if scale is None:
        return
    y_um, x_um = scale[3], scale[4]
    if not math.isclose(y_um, x_um, rel_tol=SQUARE_PIXEL_TOLERANCE):
        raise ArtifactError(
            f"{path}: position {name}: expected square pixels (the scale of axes y and x equal in µm; "
            f"dynaclr takes one pixel size), found y {y_um:g} µm and x {x_um:g} µm; resample the images "
            "to square pixels"
        )


def _scale_text(scale: tuple[float, ...] | None) -> str:
    """A scale to 6 significant digits: positions may carry scales that differ by float rounding,
    but not differ in sampling. As text (``"(600, 1, 2, 0.65, 0.65)"``), so that a NaN equals a NaN."""
    if scale is None:
        return "no scale"
    return "(" + ", ".join(f"{value:.6g}" for value in scale) + ")"


def _check_positions_agree(
    path: Path,
    what: str,
    values: dict[str, Any],
    key: Callable[[Any], Any] = lambda value: value,
    expected: str = "the same for the whole plate (dynaclr reads it from the first position)",
) -> None:
    """Every position has the same ``what`` (``values``: by FOV), compared as ``key`` of each value: the
    stages take it from the first position and apply it to all. Each differing group is shown as its
    first position's value."""
    groups: dict[Any, list[str]] = {}
    for name, value in values.items():
        groups.setdefault(key(value), []).append(name)
    if len(groups) > 1:
        found = "; ".join(
            f"{values[fovs[0]]} in {fovs[:3]}{' ...' if len(fovs) > 3 else ''}" for fovs in groups.values()
        )
        raise ArtifactError(
            f"{path}: positions differ in {what}, expected {expected}; found {found}. Write every position "
            f"with the same {what}"
        )


def _check_channel_sets(path: Path, labels: dict[str, tuple[str, ...]]) -> None:
    """Every position names the same channels, in any order (``labels``: each position's, by FOV):
    each job looks its channels up by name in the position it reads (iohub's ``get_channel_index`` of
    that position), so a position listing them in another order is read right. Positions naming other
    channels (or a name more or less often) are refused."""
    _check_positions_agree(
        path,
        "channel names",
        labels,
        key=lambda channels: tuple(sorted(channels)),
        expected="the same channels in every position (in any order: each job looks a channel up by name "
        "in its own position)",
    )


def _check_unique_channels(path: Path, channels: tuple[str, ...]) -> None:
    """Each channel name once: a name given twice is ambiguous to every key that names a channel."""
    repeated = sorted({name for name in channels if channels.count(name) > 1})
    if repeated:
        raise ArtifactError(
            f"{path}: expected each channel name once, found {repeated} repeated in {list(channels)}; "
            "a config key naming one would silently read the first. Give each channel its own name"
        )


def _metadata_shape(metadata: dict[str, Any] | None) -> tuple[int, ...] | None:
    """The shape in an array's zarr metadata (None: no metadata, or no array there)."""
    shape = metadata.get("shape") if metadata is not None else None
    return tuple(int(n) for n in shape) if isinstance(shape, list) else None


def create_empty_plate(
    path: str | Path,
    fov_names: list[str],
    channel_names: list[str],
    shape_tczyx: tuple[int, int, int, int, int],
    dtype: DTypeLike,
    geometry: PlateGeometry,
    provenance: Provenance,
    chunks: tuple[int, int, int, int, int] | None = None,
    attributes: dict[str, Any] | None = None,
    label_image: str | None = None,
) -> None:
    """Create an HCS plate whose positions hold lazily allocated arrays, for per-FOV jobs to fill.

    The plate is written under a temporary name and moved into place; each per-FOV job then
    writes its own position's chunks (no two jobs write the same file) and records completion
    with :func:`write_fov_record`. Each position holds a copy of the plate's root attributes and
    provenance record (:func:`~dynaclr.io.zarr_store.write_plate_provenance`), which its per-FOV job reads
    instead of the plate's root ``zarr.json``. With ``label_image``, each position also gets an empty NGFF
    label image ``labels/<label_image>`` of shape ``(T, Z, Y, X)`` and type ``dtype``
    (:func:`~dynaclr.io.display.create_label_image`) for the per-FOV jobs to fill beside image ``0``.
    """
    _, _, n_z, n_y, n_x = shape_tczyx
    with atomic_output(path) as tmp:
        with open_ome_zarr(
            tmp, layout="hcs", mode="w", channel_names=list(channel_names), version=OME_ZARR_VERSION
        ) as plate:
            for fov_name in fov_names:
                position = plate.create_position(*split_fov_name(fov_name))
                position.create_zeros(
                    "0",
                    shape=shape_tczyx,
                    dtype=dtype,
                    chunks=chunks or (1, 1, n_z, n_y, n_x),
                    transform=geometry.transform(),
                )
                if label_image is not None:
                    shape_tzyx = (shape_tczyx[0], n_z, n_y, n_x)
                    create_label_image(position, label_image, shape_tzyx, dtype, geometry.transform())
            interval_minutes = geometry.time_interval_s / 60.0
            if math.isfinite(interval_minutes) and interval_minutes > 0:  # else what the reader refuses
                plate.zattrs["time_interval_minutes"] = interval_minutes
            for key, value in (attributes or {}).items():
                plate.zattrs[key] = value
        write_plate_provenance(tmp, provenance, fov_names)  # root, and each position's copy


def fov_record_path(directory: str | Path, fov_name: str) -> Path:
    """Where a per-FOV job records its completion: ``{directory}/{row}/{col}/{fov}.json``."""
    return Path(directory).joinpath(*split_fov_name(fov_name)).with_suffix(".json")


def write_fov_record(path: str | Path, provenance: Provenance, metrics: dict[str, Any] | None = None) -> None:
    """Atomically write a per-FOV completion record (provenance + metrics) as JSON."""
    record = {PROVENANCE_KEY: json.loads(provenance.model_dump_json()), "metrics": metrics or {}}
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=float))


def read_fov_record(path: str | Path, kind: str) -> tuple[Provenance, dict[str, Any]]:
    """Read a per-FOV completion record and check its provenance."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(
            f"{path}: per-FOV record not found: the FOV was not processed (or its job was interrupted)"
        )
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise TypeError(f"expected a JSON object, found {type(record).__name__}")
    except (ValueError, TypeError) as err:
        raise unreadable_artifact(path, kind, err) from err
    return check_provenance(record.get(PROVENANCE_KEY), kind, path), record.get("metrics", {})
