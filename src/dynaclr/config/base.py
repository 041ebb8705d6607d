"""Base model shared by every stage config."""

import os
import string
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from dynaclr.io.sampling import nanometre_range, reads_as_nanometres, sampling_range, sampling_what


def _key_tree(keys: Iterable[str]) -> dict[str, Any]:
    """Dotted keys (``predict.tiles_per_batch``) as the nested include/exclude pydantic takes
    (``{"predict": {"tiles_per_batch": True}}``)."""
    tree: dict[str, Any] = {}
    for key in keys:
        *parents, leaf = key.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = True
    return tree


def _at_defaults(model: BaseModel, keys: Iterable[str]) -> BaseModel:
    """``model`` with the (dotted) ``keys`` at their defaults; a key under an unset (``None``)
    section is skipped."""
    updates: dict[str, Any] = {}
    nested: dict[str, list[str]] = {}
    for key in keys:
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, []).append(rest)
        else:
            updates[head] = type(model).model_fields[head].get_default(call_default_factory=True)
    for head, inner_keys in nested.items():
        inner = getattr(model, head)
        if isinstance(inner, BaseModel):
            updates[head] = _at_defaults(inner, inner_keys)
    return model.model_copy(update=updates) if updates else model


def with_run_params(config: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, Any]:
    """A job's whole config: its ``params.config`` (:meth:`StrictModel.job_params`) with its
    ``params.run`` (:meth:`StrictModel.run_params`) merged in, nested keys included."""
    merged = dict(config)
    for key, value in run.items():
        inner = merged.get(key)
        if isinstance(value, Mapping) and isinstance(inner, Mapping):
            value = with_run_params(inner, value)
        merged[key] = value
    return merged


class StrictModel(BaseModel):
    """A config model that rejects unknown keys (a misspelt key is an error, not silence)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    #: Keys that choose which jobs run, not what a job computes: left out of the jobs' params
    #: (:meth:`job_params`), so editing them reruns no job.
    PLANNING_KEYS: ClassVar[tuple[str, ...]] = ()
    #: Keys that change how a job runs (rows per forward pass, resuming), not what it computes (the
    #: same values, to float32 rounding): left out of :meth:`job_params` and handed to the job by
    #: :meth:`run_params`, a param Snakemake does not compare, so editing them reruns no job. A key
    #: of a nested model is dotted (``predict.tiles_per_batch``).
    RUN_KEYS: ClassVar[tuple[str, ...]] = ()
    #: :attr:`RUN_KEYS` that :meth:`job_params` holds at their defaults instead of leaving out: keys
    #: made run keys after configs had been run with them, so that a config not setting them keeps
    #: the params (and the artifacts' config hashes) it had, and upgrading reruns nothing.
    RUN_KEYS_AT_DEFAULTS: ClassVar[tuple[str, ...]] = ()

    def job_params(self) -> dict[str, Any]:
        """The config as a rule's ``params.config`` (what Snakemake compares to decide a rerun):
        defaults filled in, JSON-ready, without :attr:`PLANNING_KEYS` and :attr:`RUN_KEYS` (those of
        :attr:`RUN_KEYS_AT_DEFAULTS` held at their defaults)."""
        left_out = [key for key in self.PLANNING_KEYS + self.RUN_KEYS if key not in self.RUN_KEYS_AT_DEFAULTS]
        held = _at_defaults(self, self.RUN_KEYS_AT_DEFAULTS)
        return held.model_dump(mode="json", exclude=_key_tree(left_out))

    def run_params(self) -> dict[str, Any]:
        """The :attr:`RUN_KEYS` the job needs besides :meth:`job_params` (JSON-ready, nested as the
        config; :func:`with_run_params` merges them back)."""
        return self.model_dump(mode="json", include=_key_tree(self.RUN_KEYS))


class IntervalsConfig(StrictModel):
    """A stage config whose track-bootstrap CIs a rule of their own computes from the fitting job's
    point scores and predictions (``classification_intervals``, ``distillation_intervals``): the
    fitting rules compare :meth:`fit_params`, so editing :attr:`INTERVAL_KEYS` refits nothing. A
    subclass has the fields ``n_bootstrap``, ``confidence`` and ``seed`` (the bootstrap's)."""

    #: The keys only the CIs read: not in the params of the rules that fit, so editing them reruns
    #: the intervals' rule alone (and what reads its outputs).
    INTERVAL_KEYS: ClassVar[tuple[str, ...]] = ("n_bootstrap", "confidence")

    def fit_params(self) -> dict[str, Any]:
        """The fitting rules' ``params.config`` and the config their outputs record: :meth:`job_params`
        without :attr:`INTERVAL_KEYS`."""
        return {key: value for key, value in self.job_params().items() if key not in self.INTERVAL_KEYS}

    def interval_params(self) -> dict[str, Any]:
        """The intervals' rule's ``params.config``: :attr:`INTERVAL_KEYS` and ``seed`` (the
        bootstrap's)."""
        return self.model_dump(mode="json", include={*self.INTERVAL_KEYS, "seed"})


#: Placeholders of a per-FOV path pattern (a FOV is named ``row/col/fov``): ``tracks.path`` of the
#: per-FOV formats, ``annotations.table`` of a file per FOV.
FOV_PLACEHOLDERS: tuple[str, ...] = ("{row}", "{col}", "{fov}")
#: The placeholder of a ``tiff:`` dataset's positions (what ``tiff.files``' ``{position}`` matched): a
#: per-FOV pattern of such a dataset may name each FOV's file by its position alone instead
#: (``trackmate/{position}.xml``), the FOV's position given by ``tiff.positions`` (or the default FOV
#: naming ``A/1/<position>``).
POSITION_PLACEHOLDER = "{position}"


def pattern_placeholders(pattern: str) -> list[str]:
    """The placeholders of ``pattern`` as :meth:`str.format` reads them (``{name}``, in their order,
    one per occurrence): an escaped brace (``{{position}}``, the literal text ``{position}``) is
    none. A ``pattern`` that ``str.format`` refuses (a lone ``{`` or ``}``) is read as the
    :data:`FOV_PLACEHOLDERS` and :data:`POSITION_PLACEHOLDER` it spells, so that
    :func:`check_fov_pattern` refuses it saying how to write a literal brace."""
    try:
        return [f"{{{field}}}" for _, field, _, _ in string.Formatter().parse(pattern) if field is not None]
    except ValueError:
        return [name for name in (*FOV_PLACEHOLDERS, POSITION_PLACEHOLDER) if name in pattern]


def fov_placeholders(pattern: str) -> list[str]:
    """The :data:`FOV_PLACEHOLDERS` and :data:`POSITION_PLACEHOLDER` that ``pattern`` holds
    (:func:`pattern_placeholders`), in that order (any: ``pattern`` names a file per FOV)."""
    held = pattern_placeholders(pattern)
    return [name for name in (*FOV_PLACEHOLDERS, POSITION_PLACEHOLDER) if name in held]


def names_position(pattern: str | None) -> bool:
    """Whether ``pattern`` names each FOV's file by its TIFF position (:data:`POSITION_PLACEHOLDER`,
    not escaped: :func:`pattern_placeholders`)."""
    return pattern is not None and POSITION_PLACEHOLDER in pattern_placeholders(pattern)


def position_maps_to(position: str, fov_name: str) -> str:
    """The words saying that TIFF ``position`` (``Pos0``: a file's name, where a FOV name belongs, in
    a user's table) is FOV ``fov_name`` of the plate: the refusals of a ``fov_name`` column holding
    positions (annotations, tracks) say it alike."""
    return (
        f"tiff.positions (or, without it, the FOV naming A/1/<position>) maps position {position} to "
        f"FOV {fov_name}"
    )


def fill_fov_pattern(pattern: str, fov_name: str, positions: Mapping[str, str] | None = None) -> str:
    """The path of FOV ``row/col/fov``: ``pattern`` with its placeholders filled; a pattern naming
    files by position (:func:`names_position`) takes the FOV's from ``positions`` (``{fov_name:
    position}``, :meth:`~dynaclr.config.convert.TiffSourceConfig.fov_positions`).

    Raises:
        ValueError: the pattern names files by position and ``positions`` gives none for the FOV.
    """
    if names_position(pattern):
        position = None if positions is None else positions.get(fov_name)
        if position is None:
            raise ValueError(
                f"{pattern!r} names each FOV's file by its TIFF position ({POSITION_PLACEHOLDER}); expected "
                f"the TIFF position of each FOV, found none for FOV {fov_name}"
            )
        return pattern.format(position=position)
    row, col, fov = fov_name.split("/")
    return pattern.format(row=row, col=col, fov=fov)


def check_fov_pattern(key: str, pattern: str, what: str) -> None:
    """Refuse a per-FOV ``pattern`` that lacks one of :data:`FOV_PLACEHOLDERS` (unless it holds
    :data:`POSITION_PLACEHOLDER` alone), mixes them with :data:`POSITION_PLACEHOLDER`, or holds
    another placeholder (``what`` says why the key is a pattern). Whether the dataset has TIFF
    positions is its config's to check (``DatasetConfig``).

    Raises:
        ValueError: naming ``key``, what was expected and ``pattern``.
    """
    held = fov_placeholders(pattern)
    fov_parts = " ".join(FOV_PLACEHOLDERS)
    if POSITION_PLACEHOLDER in held:
        if len(held) > 1:
            raise ValueError(
                f"{key}: give either {POSITION_PLACEHOLDER} alone (a tiff: dataset's positions) or "
                f"{fov_parts}, not both; found {pattern!r}"
            )
        example = {"position": "Pos0"}
    elif len(held) != len(FOV_PLACEHOLDERS):
        missing = [name for name in FOV_PLACEHOLDERS if name not in held]
        raise ValueError(
            f"{key}: {what}; expected a pattern with {fov_parts}, found {pattern!r} (lacks {missing}); a "
            f"tiff: dataset may instead name each FOV's file by its position, {POSITION_PLACEHOLDER} alone"
        )
    else:
        example = {"row": "A", "col": "1", "fov": "0"}
    try:
        pattern.format(**example)
    except (KeyError, IndexError, ValueError) as err:
        known = " ".join(f"{{{name}}}" for name in example)
        raise ValueError(
            f"{key}: {pattern!r} holds a placeholder other than {known} ({err!r}); write a literal brace "
            "as {{ or }}"
        ) from None


def fov_pattern_paths(
    pattern: str, fov_names: Iterable[str], positions: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``{path: FOV}`` of a per-FOV ``pattern`` over ``fov_names``, in their order (paths normalised:
    ``./a/b.csv`` is ``a/b.csv``; ``positions``: each FOV's TIFF position, :func:`fill_fov_pattern`).

    Raises:
        ValueError: two FOVs fill the pattern to the same path (e.g. ``{row}{col}{fov}`` with FOVs
            ``A/1/10`` and ``A/11/0``), naming both and the path; a FOV has no position.
    """
    paths: dict[str, str] = {}
    for fov_name in fov_names:
        path = os.path.normpath(fill_fov_pattern(pattern, fov_name, positions))
        if path in paths:
            raise ValueError(
                f"expected one file per FOV, found FOVs {paths[path]} and {fov_name} naming the same file "
                f"{path} ({pattern!r}); separate the placeholders (e.g. {{row}}_{{col}}_{{fov}})"
            )
        paths[path] = fov_name
    return paths


def slices_within(first: int, stop: int, n_slices: int, key: str) -> slice:
    """Slices ``[first, stop)`` (the range config key ``key`` gives) of a stack of ``n_slices``.

    Raises:
        ValueError: the range ends past the stack, naming ``key``, the range and ``n_slices``.
    """
    if stop > n_slices:
        raise ValueError(
            f"{key} [{first}, {stop}] needs {stop} slices, the stack has {n_slices}; use a stop <= {n_slices}"
        )
    return slice(first, stop)


#: Illumination wavelengths of light microscopy (µm): ultraviolet to near infrared.
WAVELENGTH_RANGE_UM = (0.2, 2.0)


def nanometre_hint(
    value: Any, key: str, what: str, low: float, high: float, typical: tuple[float, float] | None = None
) -> Any:
    """The body of a ``mode="before"`` validator of config key ``key``, a length in µm of ``what`` ("a
    wavelength") whose field bounds it to ``[low, high]`` (``ge``/``le``): the bounds are the field's,
    in the JSON schema too; this only refuses a number outside them whose thousandth lies in
    ``typical`` (the length's typical range; the bounds where None) as nanometres
    (:func:`~dynaclr.io.sampling.reads_as_nanometres`), saying what to write (a wavelength of 532, a
    pixel size of 65 or 650, as microscope metadata writes them). Anything else is returned as it is,
    for the field's type and bounds to check (stating the bounds only: a 60 µm survey z step is not
    told to write 0.06)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not reads_as_nanometres(value, (low, high), typical):
        return value
    raise ValueError(
        f"{key}: expected {what} in µm between {low:g} and {high:g}, found {value:g}; {value:g} looks like "
        f"nanometres: write {value / 1000:g}"
    )


def wavelength_nanometre_hint(value: Any, key: str) -> Any:
    """:func:`nanometre_hint` of a wavelength (a field bounded to :data:`WAVELENGTH_RANGE_UM`)."""
    return nanometre_hint(value, key, "a wavelength", *WAVELENGTH_RANGE_UM)


def sampling_nanometre_hint(value: Any, key: str) -> Any:
    """:func:`nanometre_hint` of the pixel size or z step ``key`` (a field bounded to
    :func:`~dynaclr.io.sampling.sampling_range`: :data:`~dynaclr.io.sampling.PIXEL_SIZE_RANGE_UM`,
    :data:`~dynaclr.io.sampling.Z_STEP_RANGE_UM`, the one plausibility rule plates and TIFF files are
    held to as well), called nanometres only where the thousandth is a typical size
    (:func:`~dynaclr.io.sampling.nanometre_range`)."""
    return nanometre_hint(value, key, sampling_what(key), *sampling_range(key), typical=nanometre_range(key))
