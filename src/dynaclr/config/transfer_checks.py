"""Checks, made before any job runs, that a model's datasets were imaged alike where it matters.

A patch spec is in pixels and slices (``patch_size_yx_px``, ``z_window_slices``) and ``tau_frames``
in frames. Two datasets whose specs give the same input (:func:`~dynaclr.config.patches.
spec_contract`) may still have been acquired with another objective (pixel size), another z step or
another time interval; the network then sees, from the same number of pixels, another physical area
or depth than it learnt from, and a pooled ``tau_frames`` another time in each dataset. Nothing in
the embeddings would show it, so :func:`transfer_problems` refuses such a config when Snakemake
parses the workflow (``snakemake -n``), one line per problem naming the key, the datasets and both
values, unless the model's ``allow_other_scales`` says the user means it. A spec keeping every slice gives
each dataset the depth of its own stacks: a dataset whose patches would hold another number of slices
than the model takes is refused whatever ``allow_other_scales`` says. A spec with ``pixel_size_um``
resamples its patches to that pixel size (:mod:`dynaclr.patches.extract`): its dataset's sampling
in YX is the spec's, whatever the plate's, which is how a model applies to a dataset of another
objective without ``allow_other_scales``. The baselines' classifiers
are not transferred between datasets :func:`scale_differences` tells apart, nor between datasets
whose specs give another input (:func:`input_differences`: another channel is another feature
column, whatever the width; the workflow's ``transfer_sources``; the dry run logs each transfer left
out).

The layouts are those of :func:`dynaclr.config.plate_checks.workflow_problems` (read from the
plates' metadata, a simulated dataset's from its ``simulate`` config). A dataset's sampling is that
of the plates its patch spec reads, as the stages write them
(:func:`~dynaclr.config.plate_checks.source_layouts`): a spec reading the phase or virtual-staining
plate has the phase config's ``yx_pixel_size_um`` / ``z_step_um`` where set (the README's fix for a
plate whose metadata is wrong), else the raw plate's metadata, or the dataset's ``acquisition``
where the metadata states none (:func:`~dynaclr.config.plate_checks.supplied_layout`). A size
(or time interval) nothing states is "not stated", never compared: a plate without a scale transform
(iohub reads 1 µm), or whose axis has a scale but no unit (read in micrometres / seconds, a guess:
:meth:`~dynaclr.io.plate.PlateSampling.stated_values`), with no ``acquisition`` value and no phase
override. A size not stated for either dataset is a difference, for both datasets as for one: the
check cannot tell the datasets were sampled alike (two plates without units whose guesses agree
passed as alike, and one in nm without its unit was refused as 1000 times the other's pixel size).

A model trained here records its training datasets' sampling (:class:`DatasetSampling`, JSON, in
``model.ckpt``'s ``training_sampling``): a copy imported into another workflow is compared with each
dataset it embeds by :func:`checkpoint_sampling_problems` (rules ``import_model`` and ``embed``),
the same comparison and wording: a dataset sampled as any of the training datasets is accepted. The
time interval is recorded, not compared (embedding one frame does not depend on it, as for a model
trained here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynaclr.config.patches import spec_contract
from dynaclr.config.plate_checks import (
    SCALE_RELATIVE_TOLERANCE,
    sampling_differs,
    sampling_source,
    source_layouts,
    stated_pixel_size_um,
    supplied_layout,
    unitless_guess,
)
from dynaclr.config.training import common_tau_minutes
from dynaclr.config.workflow import ContrastiveModelEntry, WorkflowConfig
from dynaclr.io.plate import IOHUB_DEFAULT_SCALE, PlateLayout, scale_fix

__all__ = [
    "SCALE_RELATIVE_TOLERANCE",
    "DatasetSampling",
    "checkpoint_sampling_problems",
    "dataset_sampling",
    "input_differences",
    "sampling_differences",
    "scale_differences",
    "transfer_problems",
]


def stack_slices(config: WorkflowConfig, dataset: str, spec_name: str, layout: PlateLayout) -> int | None:
    """Slices of the stacks ``dataset``'s patches of ``spec_name`` are cut from (a 2d phase plate has
    one): the most a spec's ``z_window_slices`` or ``z_range`` can keep; ``None``: its channels' plates
    differ in depth (:func:`~dynaclr.config.plate_checks.workflow_problems` reports it)."""
    spec = config.datasets[dataset].patch_spec(spec_name)
    plates = source_layouts(dataset, config.datasets[dataset], layout, config.results)
    depths = {plates[c.source].shape_tczyx[2] for c in spec.channels if c.source in plates}
    return depths.pop() if len(depths) == 1 else None


def _kept_slices(config: WorkflowConfig, dataset: str, spec_name: str, layout: PlateLayout) -> int | None:
    """Slices of ``dataset``'s patches of ``spec_name``, from the plates its channels are read from (a
    2d phase plate has one); ``None``: the spec does not fit the stacks, which
    :func:`~dynaclr.config.plate_checks.workflow_problems` reports."""
    n_z = stack_slices(config, dataset, spec_name, layout)
    if n_z is None:
        return None
    spec = config.datasets[dataset].patch_spec(spec_name)
    try:
        kept = spec.z_slices(n_z)
    except ValueError:
        return None
    return len(range(*kept.indices(n_z)))


@dataclass(frozen=True)
class DatasetSampling:
    """A dataset's sampling in one patch spec (module docstring), as compared here and as a model
    records the sampling of its training datasets (``training_sampling`` in ``model.ckpt``).

    Attributes:
        dataset: the dataset's name (in the config that stated it).
        pixel_size_um, z_step_um: µm; ``None``: stated by nothing.
        time_interval_minutes: the raw plate's frame interval; ``None``: stated by nothing.
        slices: the patches' slices (``None``: the spec does not fit the stacks).
        plate: the raw plate; ``source``: the plate the spec reads (``raw``, ``phase``, ...).
        unitless: the raw plate's values read from axes without a unit, by ``acquisition`` key
            (:meth:`~dynaclr.io.plate.PlateSampling.unitless_values`).
        default_scale: the raw plate's scale is iohub's default of ones
            (:attr:`~dynaclr.io.plate.PlateSampling.default_scale`), which states no sampling.
        recorded_in: the model file recording this sampling (the dataset is another config's, whose
            keys this config cannot set); ``None``: this config's dataset.
        resampled_from_um: where the spec's ``pixel_size_um`` resamples the patches (their pixel
            size ``pixel_size_um``), the plate's pixel size they are resampled from; ``None``: not
            resampled, or not known (a record: :meth:`to_json` leaves it out, for messages only).
    """

    dataset: str
    pixel_size_um: float | None
    z_step_um: float | None
    time_interval_minutes: float | None
    slices: int | None
    plate: Path
    source: str
    unitless: Mapping[str, float]
    default_scale: bool = False
    recorded_in: str | None = None
    resampled_from_um: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The record a model file keeps (:meth:`from_json` reads it)."""
        return {
            "dataset": self.dataset,
            "pixel_size_um": self.pixel_size_um,
            "z_step_um": self.z_step_um,
            "time_interval_minutes": self.time_interval_minutes,
            "slices": self.slices,
            "plate": str(self.plate),
            "source": self.source,
            "unitless": dict(self.unitless),
            "default_scale": self.default_scale,
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any], recorded_in: str | None = None) -> DatasetSampling:
        """A record of :meth:`to_json`.

        Raises:
            ValueError: a key is missing or of another type (naming it).
        """

        def size(key: str) -> float | None:
            value = record.get(key)
            if value is not None and not isinstance(value, int | float):
                raise ValueError(f"sampling record key {key!r}: expected a number or null, found {value!r}")
            return None if value is None else float(value)

        missing = [key for key in ("dataset", "plate", "source") if not isinstance(record.get(key), str)]
        if missing:
            raise ValueError(f"sampling record: expected a string under {missing[0]!r}, found {record!r}")
        slices = record.get("slices")
        return cls(
            dataset=record["dataset"],
            pixel_size_um=size("pixel_size_um"),
            z_step_um=size("z_step_um"),
            time_interval_minutes=size("time_interval_minutes"),
            slices=int(slices) if isinstance(slices, int) else None,
            plate=Path(record["plate"]),
            source=record["source"],
            unitless={str(k): float(v) for k, v in (record.get("unitless") or {}).items()},
            default_scale=record.get("default_scale") is True,  # absent from older records
            recorded_in=recorded_in,
        )


def dataset_sampling(
    config: WorkflowConfig, dataset: str, spec_name: str, raw: PlateLayout
) -> DatasetSampling:
    """The sampling of ``dataset``'s patches of ``spec_name``: that of the plate its channels read as
    the stages write it (module docstring). A spec reading the phase stage's plate (or the virtual-
    staining plate made from it) and raw channels takes the phase plate's: the phase config states
    the sampling of the whole acquisition where it overrides the metadata. A spec with
    ``pixel_size_um`` resamples its patches to that pixel size: it is theirs, provided the plate's
    is stated (else not stated: the patches cannot be made). The time interval is the raw plate's,
    stated or supplied by ``acquisition``."""
    entry = config.datasets[dataset]
    raw = supplied_layout(entry, raw)
    plates = source_layouts(dataset, entry, raw, config.results)
    spec = entry.patch_spec(spec_name)
    source = sampling_source(spec, plates)
    geometry = plates[source].geometry
    overrides = entry.phase if source != "raw" else None
    stated = raw.stated_values()  # a value read from an axis without a unit is a guess: not stated
    z_stated = stated["z_step_um"] is not None or (overrides is not None and overrides.z_step_um is not None)
    pixel = stated_pixel_size_um(entry, source, plates)  # the rule of the tracked pixels
    return DatasetSampling(
        dataset=dataset,
        pixel_size_um=spec.pixel_size_um if pixel is not None and spec.pixel_size_um is not None else pixel,
        resampled_from_um=pixel if spec.pixel_size_um is not None else None,
        z_step_um=geometry.z_step_um if z_stated else None,
        time_interval_minutes=stated["time_interval_minutes"],
        slices=_kept_slices(config, dataset, spec_name, raw),
        plate=raw.path,
        source=source,
        unitless=raw.unitless_values(),
        default_scale=raw.default_scale,
    )


#: How a size nothing states is named in a difference (:func:`_not_stated`).
_NOT_STATED = "not stated"


def _not_stated(sampling: DatasetSampling, key: str) -> str:
    """Why the dataset's size ``key`` (``yx_pixel_size_um`` / ``z_step_um``) is not stated; what to set
    (in the config that trained the model recording it, for a recorded sampling)."""
    dataset = sampling.dataset
    acquisition_key = "pixel_size_um" if key == "yx_pixel_size_um" else key
    settings = f"datasets.{dataset}.acquisition.{acquisition_key}"
    if sampling.source != "raw":
        settings += f" (or datasets.{dataset}.phase.{key})"
    if acquisition_key in sampling.unitless:
        where = unitless_guess(sampling.plate, acquisition_key, sampling.unitless[acquisition_key])
        where += " not compared"
        fix = f"set {settings}" + (
            " or write the axes' units" if key == "yx_pixel_size_um" else " or write the axis's unit"
        )
    else:
        what = IOHUB_DEFAULT_SCALE if sampling.default_scale else "no scale transform"
        where = f"{what} in the metadata of {sampling.plate}: iohub would read 1 µm"
        fix = scale_fix(sampling.default_scale, [acquisition_key], settings)
    if sampling.recorded_in is not None:
        where = f"as {sampling.recorded_in} records its training dataset {dataset!r}: {where}"
        fix += " in the config that trained it, and train it again"
    return f"{_NOT_STATED} ({where}; {fix})"


def _size(value: float | None, sampling: DatasetSampling, key: str) -> str:
    return f"{value:g} µm" if value is not None else _not_stated(sampling, key)


def _resampled(sampling: DatasetSampling) -> str:
    """Where ``sampling``'s patches are resampled (:attr:`DatasetSampling.resampled_from_um`), from
    what: its pixel size is the spec's, not the plate's."""
    if sampling.resampled_from_um is None:
        return ""
    return f" resampled by the spec's pixel_size_um from the plate's {sampling.resampled_from_um:g} µm"


def sampling_differences(expected: DatasetSampling, found: DatasetSampling, size: int) -> list[str]:
    """How ``found`` is sampled otherwise than ``expected``: its pixel size and, where both
    datasets' patches hold several slices, its z step, each when it differs by more than
    :data:`SCALE_RELATIVE_TOLERANCE` or is not stated for either dataset, or both (one phrase each,
    saying why each is not stated; empty: alike or not a usable size). ``size``: the patch size
    (px) the model sees. The time interval is not compared: a model embeds one frame at a time (a
    pooled ``tau_frames`` is checked by the dry run on the training datasets only)."""
    differences = []
    pixel, wanted = found.pixel_size_um, expected.pixel_size_um
    if pixel is not None and wanted is not None and sampling_differs(pixel, wanted):
        differences.append(
            f"pixel size {pixel:g} µm{_resampled(found)} (a {size} px patch spans {size * pixel:.3g} µm), "
            f"expected {wanted:g} µm{_resampled(expected)} ({size * wanted:.3g} µm)"
        )
    elif pixel is None or wanted is None:
        differences.append(
            f"pixel size {_size(pixel, found, 'yx_pixel_size_um')}, expected "
            f"{_size(wanted, expected, 'yx_pixel_size_um')}"
        )
    if all(depth is not None and depth > 1 for depth in (expected.slices, found.slices)):
        step, wanted = found.z_step_um, expected.z_step_um
        if step is not None and wanted is not None and sampling_differs(step, wanted):
            differences.append(f"z step {step:g} µm, expected {wanted:g} µm")
        elif step is None or wanted is None:
            differences.append(
                f"z step {_size(step, found, 'z_step_um')}, expected {_size(wanted, expected, 'z_step_um')}"
            )
    return differences


def input_differences(
    config: WorkflowConfig, reference: tuple[str, str], other: tuple[str, str]
) -> list[str]:
    """How the input ``other`` gives differs from ``reference``'s, each a ``(dataset, patch spec
    name)``: one phrase per item of :func:`~dynaclr.config.patches.spec_contract` (channels with
    their source and normalisation, slices, size, per-time-point normalisation) that differs;
    empty: the same input. A classifier fitted on features of one input reads the other's columns
    as its own (a sensor's features as a nuclear marker's), so it is not applied across them."""
    expected, found = (
        spec_contract(config.datasets[dataset].patch_spec(name)) for dataset, name in (reference, other)
    )
    differing = [key for key in expected if found[key] != expected[key]]
    return [f"{key} {found[key]}, expected {expected[key]}" for key in differing]


def scale_differences(
    config: WorkflowConfig,
    layouts: Mapping[str, PlateLayout],
    reference: tuple[str, str],
    other: tuple[str, str],
) -> list[str]:
    """How ``other`` is sampled otherwise than ``reference``, each a ``(dataset, patch spec name)``
    (:func:`sampling_differences`). ``layouts`` holds both datasets' raw
    plate layouts; the sampling compared is that of the plates the specs read, phase overrides
    included (module docstring)."""
    expected = dataset_sampling(config, *reference, layouts[reference[0]])
    found = dataset_sampling(config, *other, layouts[other[0]])
    size = config.datasets[reference[0]].patch_spec(reference[1]).patch_size_yx_px
    return sampling_differences(expected, found, size)


def _model_datasets(config: WorkflowConfig, model: str, entry: ContrastiveModelEntry) -> list[str]:
    """The datasets ``model`` trains on, then those it embeds besides, in that order: the first is the
    reference its input is compared with."""
    return list(dict.fromkeys([*entry.train_datasets, *config.embedded_datasets(model)]))


def _scale_mismatches(
    config: WorkflowConfig, model: str, entry: ContrastiveModelEntry, layouts: Mapping[str, PlateLayout]
) -> list[tuple[str, str, str, list[str], Resampling]]:
    """``(key, dataset, reference, differences, resampling)`` for each dataset the model trains on or
    embeds that is sampled otherwise than the reference dataset (pixel size, and z step where its
    patches hold several slices), the datasets named with their plates (the reference with its
    role); ``resampling``: the dataset's and the reference's samplings (:class:`Resampling`)."""
    datasets = _model_datasets(config, model, entry)
    if len(datasets) < 2:
        return []
    reference, spec_name = datasets[0], entry.training.patch_spec
    role = "trained on" if entry.train_datasets else "embedded first"
    found = []
    for dataset in datasets[1:]:
        key = "train_datasets" if dataset in entry.train_datasets else "embed_datasets"
        expected = dataset_sampling(config, reference, spec_name, layouts[reference])
        found_sampling = dataset_sampling(config, dataset, spec_name, layouts[dataset])
        differences = sampling_differences(
            expected, found_sampling, config.datasets[reference].patch_spec(spec_name).patch_size_yx_px
        )
        if differences:
            found.append(
                (
                    f"contrastive_models.{model}.{key}",
                    f"dataset {dataset!r} ({layouts[dataset].path})",
                    f"dataset {reference!r} ({layouts[reference].path}, {role})",
                    differences,
                    Resampling(found_sampling, [expected.pixel_size_um]),
                )
            )
    return found


def _scale_problems(
    config: WorkflowConfig, model: str, entry: ContrastiveModelEntry, layouts: Mapping[str, PlateLayout]
) -> list[str]:
    """Every dataset the model trains on or embeds has the reference dataset's pixel size (and z step
    where its patches hold several slices), unless ``allow_other_scales`` (:func:`transfer_warnings`)."""
    if entry.allow_other_scales:
        return []
    spec_name = entry.training.patch_spec
    return [
        _scale_problem(key, dataset, [(reference, differences)], spec_name, model, resampling)
        for key, dataset, reference, differences, resampling in _scale_mismatches(
            config, model, entry, layouts
        )
    ]


#: The phrase each size's difference starts with (:func:`sampling_differences`) and its phase key.
_SIZE_KEYS = {"pixel size": "yx_pixel_size_um", "z step": "z_step_um"}


def _unknown(differences: Sequence[str]) -> bool:
    """A size not stated (:func:`_not_stated`) is no known difference: the check cannot tell; one size
    known to differ is (the others not stated or not)."""
    return all(_NOT_STATED in difference for difference in differences)


def _sampling_mismatch(dataset: str, compared: Sequence[tuple[str, list[str]]], spec_name: str) -> str:
    """How ``dataset`` is sampled against each reference of ``compared`` and what the model sees
    of it, the one text of the refusal (:func:`_scale_problem`) and of the warning of a dataset
    ``allow_other_scales`` accepts (:func:`transfer_warnings`): "sampled otherwise" only where a size
    is known to differ, else "not known to be sampled as"."""
    unknown = _unknown([difference for _, found in compared for difference in found])
    if len(compared) == 1:
        ((reference, found),) = compared
        against = f" {reference}: " + "; ".join(found)
    else:
        against = f" any of the {len(compared)} datasets it was trained on: " + "; ".join(
            f"{reference}: " + ", ".join(found) for reference, found in compared
        )
    return (
        f"{dataset} is "
        + ("not known to be sampled as" if unknown else "sampled otherwise than")
        + against
        + f"; patch spec {spec_name!r} is in pixels and slices, so the model "
        + ("may" if unknown else "would")
        + " see another physical area than it learnt from"
    )


@dataclass(frozen=True)
class Resampling:
    """What a refusal or warning of a dataset sampled otherwise says of its patches' resampling:
    ``found``, the dataset's sampling (:attr:`DatasetSampling.resampled_from_um`: the spec's
    ``pixel_size_um`` resamples them), and ``wanted``, the pixel sizes (µm) of the model's patches,
    one per reference (``None``: not stated)."""

    found: DatasetSampling
    wanted: list[float | None]

    def target(self) -> float | None:
        """The one pixel size the model's patches have, else None (several, or one not stated)."""
        wanted = set(self.wanted)
        return next(iter(wanted)) if len(wanted) == 1 else None

    def advice(self, spec_name: str) -> str:
        """The spec's ``pixel_size_um`` to set: the model's patches' pixel size where known."""
        target, found = self.target(), self.found
        setting = (
            f"set pixel_size_um: {target:g} in its patch spec {spec_name!r}"
            if target is not None
            else f"set pixel_size_um in its patch spec {spec_name!r} to the pixel size of the model's patches"
        )
        if found.resampled_from_um is not None and found.pixel_size_um is not None:
            return f"{setting} (it resamples to {found.pixel_size_um:g} µm)"
        return f"resample its patches to the model's pixel size ({setting})"


def _pixel_differs(differences: Sequence[str]) -> bool:
    return any(difference.startswith("pixel size") for difference in differences)


def _scale_problem(
    key: str,
    dataset: str,
    compared: Sequence[tuple[str, list[str]]],
    spec_name: str,
    model: str,
    resampling: Resampling,
) -> str:
    """The refusal of ``dataset`` sampled otherwise than each reference of ``compared`` (each named
    with its plate, with the differences from it): one reference, or every training dataset a model
    file records, none of which the dataset matches. The advice names the keys of the sizes that
    differ, and the spec's ``pixel_size_um`` to set (:meth:`Resampling.advice`); a spec that
    resamples gets no advice on the plate's pixel size, which does not make its patches'."""
    differences = [difference for _, found in compared for difference in found]
    unknown = _unknown(differences)
    resampled = resampling.found.resampled_from_um is not None
    keys = [
        f"phase.{phase_key}"
        for phrase, phase_key in _SIZE_KEYS.items()
        if any(difference.startswith(phrase) for difference in differences)
        and not (resampled and phrase == "pixel size")
    ]
    metadata = (
        "correct the plate's scale metadata (or the dataset's " + " / ".join(keys) + "), " if keys else ""
    )
    resample = not unknown and _pixel_differs(differences)
    return (
        f"{key}: "
        + _sampling_mismatch(dataset, compared, spec_name)
        + ". Leave the dataset out (name embed_datasets), "
        + metadata
        + (resampling.advice(spec_name) + ", " if resample else "")
        + f"or set contrastive_models.{model}.allow_other_scales: true"
    )


def checkpoint_sampling_problems(
    model: str,
    path: str | Path,
    trained: Sequence[Mapping[str, Any]],
    embedded: Mapping[str, Mapping[str, Any]],
    size: int,
    spec_name: str,
) -> list[str]:
    """Every dataset ``model`` embeds sampled otherwise (:func:`sampling_differences`) than every
    dataset the model file ``path`` was trained on, as :func:`transfer_problems` refuses a model
    trained here, one line each naming the differences from each training dataset; a dataset
    sampled as any of them is accepted. ``allow_other_scales`` is the caller's to honour.

    Args:
        model: the model's name in the workflow config.
        path: the model file (``model.ckpt``) recording ``trained``.
        trained: its ``training_sampling`` (:meth:`DatasetSampling.to_json`, train_datasets order).
        embedded: each embedded dataset's record, by name (:func:`dataset_sampling`).
        size: the patch size the model sees (px); ``spec_name``: the patch spec it embeds.

    Raises:
        ValueError: a record is malformed (naming the key).
    """
    references = [DatasetSampling.from_json(record, recorded_in=str(path)) for record in trained]
    problems = []
    for name, record in embedded.items():
        found = DatasetSampling.from_json(record)
        compared = [(reference, sampling_differences(reference, found, size)) for reference in references]
        if compared and all(differences for _, differences in compared):
            problems.append(
                _scale_problem(
                    f"contrastive_models.{model}.embed_datasets",
                    f"dataset {name!r} ({found.plate})",
                    [
                        (f"dataset {reference.dataset!r} ({reference.plate}, which {path} was trained on)", d)
                        for reference, d in compared
                    ],
                    spec_name,
                    model,
                    Resampling(found, [reference.pixel_size_um for reference in references]),
                )
            )
    return problems


def _depth_problems(
    config: WorkflowConfig, model: str, entry: ContrastiveModelEntry, layouts: Mapping[str, PlateLayout]
) -> list[str]:
    """Every dataset the model trains on or embeds gives its patches as many slices as the reference
    dataset: a spec keeping all slices (neither ``z_range`` nor ``z_window_slices``) gives each dataset
    the depth of its own stacks, which :func:`~dynaclr.config.patches.spec_contract` cannot see."""
    datasets = _model_datasets(config, model, entry)
    if len(datasets) < 2:
        return []
    spec_name = entry.training.patch_spec
    reference = datasets[0]
    wanted = _kept_slices(config, reference, spec_name, layouts[reference])
    problems = []
    for dataset in datasets[1:]:
        found = _kept_slices(config, dataset, spec_name, layouts[dataset])
        if wanted is None or found is None or found == wanted:
            continue  # a spec that does not fit the stacks is reported by workflow_problems
        key = "train_datasets" if dataset in entry.train_datasets else "embed_datasets"
        problems.append(
            f"contrastive_models.{model}.{key}: expected patches of {wanted} slices in dataset {dataset!r} "
            f"(patch spec {spec_name!r} of dataset {reference!r}, which the model "
            f"{'trains on' if entry.train_datasets else 'embeds first'}), found {found} slices "
            f"({layouts[dataset].path}); give the spec the same z_window_slices (or a z_range of "
            f"{wanted} slices) in both datasets, or leave the dataset out (name embed_datasets)"
        )
    return problems


def _tau_problems(model: str, entry: ContrastiveModelEntry, layouts: Mapping[str, PlateLayout]) -> list[str]:
    """A ``tau_frames`` pooled over datasets means one time in every dataset: their intervals agree.
    Only stated intervals are compared. A movie whose interval nothing states, or that is read from a
    time axis without a unit (seconds assumed, a guess), is refused once, by
    :func:`~dynaclr.config.plate_checks.workflow_problems` (its ``_geometry_problems``, to which its
    ``_tau_problem`` defers likewise), naming the acquisition key to set: no second line here."""
    training = entry.training
    if training.sampling != "time_aware" or training.tau_frames is None or len(entry.train_datasets) < 2:
        return []
    stated = {d: layouts[d].stated_values()["time_interval_minutes"] for d in entry.train_datasets}
    reference, *others = entry.train_datasets
    wanted = stated[reference]
    if wanted is None:
        return []
    other = {d: v for d in others if (v := stated[d]) is not None and sampling_differs(v, wanted)}
    if not other:
        return []
    found = ", ".join(f"{d!r} {v:g} min ({training.tau_frames * v:g} min)" for d, v in other.items())
    values = common_tau_minutes(training.tau_frames * wanted, [v for v in stated.values() if v is not None])
    whole = (
        f" {' or '.join(f'{v:g}' for v in values)}, a whole number of frames of every training dataset,"
        if values
        else ""
    )
    return [
        f"contrastive_models.{model}.training.tau_frames: expected the time interval of dataset "
        f"{reference!r} ({wanted:g} min: tau = {training.tau_frames * wanted:g} min) in every training "
        f"dataset, found {found}; give tau_minutes{whole} instead (converted with each dataset's own "
        "interval)",
    ]


def transfer_warnings(config: WorkflowConfig, raw_layouts: Mapping[str, PlateLayout]) -> list[str]:
    """Each dataset a model with ``allow_other_scales: true`` trains on or embeds although it is sampled
    otherwise than the model's first dataset, one line each (the workflow logs them at every dry run):
    the user accepted it, but its results on that dataset rest on another physical area, which nothing
    downstream shows (probe4: a model of 0.65 µm pixels embedding a plate of 0.325 µm ran without a
    word). Arguments as for :func:`transfer_problems`."""
    raw_layouts = {name: supplied_layout(config.datasets[name], raw) for name, raw in raw_layouts.items()}
    warnings = []
    for model, entry in config.contrastive_models.items():
        if not entry.allow_other_scales:
            continue
        for key, dataset, reference, differences, resampling in _scale_mismatches(
            config, model, entry, raw_layouts
        ):
            found = resampling.found
            if not _pixel_differs(differences):
                how = ""
            elif found.resampled_from_um is None:
                how = " its patches are not resampled (no pixel_size_um in the patch spec):"
            else:
                how = (
                    f" its patches are resampled to pixel_size_um: {found.pixel_size_um:g}, not the model's:"
                )
            warnings.append(
                f"{key}: "
                + _sampling_mismatch(dataset, [(reference, differences)], entry.training.patch_spec)
                + f"; accepted by allow_other_scales: true, but{how} its embeddings, "
                "classifiers and pseudo-time of that dataset rest on "
                + ("what the model sees of it" if _unknown(differences) else "that other area")
            )
    return warnings


def transfer_problems(config: WorkflowConfig, raw_layouts: Mapping[str, PlateLayout]) -> list[str]:
    """Every model whose datasets are sampled otherwise (module docstring), one line each.

    Args:
        config: the validated workflow config.
        raw_layouts: each dataset's raw plate layout (its geometry: pixel size, z step, interval).
    """
    raw_layouts = {name: supplied_layout(config.datasets[name], raw) for name, raw in raw_layouts.items()}
    problems = []
    for model, entry in config.contrastive_models.items():
        problems += _scale_problems(config, model, entry, raw_layouts)
        problems += _tau_problems(model, entry, raw_layouts)
        problems += _depth_problems(config, model, entry, raw_layouts)
    return problems
