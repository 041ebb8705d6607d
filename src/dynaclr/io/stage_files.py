"""The files of one job, under the names its rule gives them: the contract between rule and stage.

Every stage function has one shape::

    def stage(config: SomeConfig, inputs: SomeInputs, outputs: SomeOutputs, **identity) -> ...

``config`` is the stage's typed config subtree (the rule's ``params.config``); ``inputs`` and
``outputs`` are :class:`StageFiles` whose field names are the rule's ``input:`` and ``output:``
names, so a shim builds them with ``SomeInputs.from_rule(snakemake.input)``; ``identity`` holds the
few names a job needs that are not files (``fov_name``, ``model``, ``dataset``). The rule passes
every path, outputs and scratch locations included: no stage derives one path from another.

A rule and its stage that disagree on a name fail when the job starts, naming both sides
(and ``tests/unit/test_stage_contract.py`` checks every job of the workflow's DAG against its
stage's classes before any job runs).

A rule names a zarr store that one job writes whole by the store's root metadata file
(:data:`STORE_ROOT_FILES`, e.g. ``phase.zarr/zarr.json``), not by the directory: Snakemake then
keeps its ``.snakemake_timestamp`` marker out of the store, and the root file (moved into place
with the rest of the store by :func:`~dynaclr.io.atomic_output`) is what proves the store
complete. Its stage gets the store itself: :class:`StageFiles` reads such a path as its directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: The root metadata files by which rules name the zarr stores their jobs write whole: a zarr
#: format 3 group's ``zarr.json`` (the OME-Zarr plates, patches, embeddings, transfer function,
#: occlusion maps), a format 2 group's ``.zgroup`` (VisCy's feature store).
STORE_ROOT_FILES = ("zarr.json", ".zgroup")


def store_directory(path: str | Path) -> Path:
    """The store a rule's file names: the parent of a root metadata file (:data:`STORE_ROOT_FILES`),
    else ``path`` itself (a store named by its directory, e.g. a plate the config names)."""
    path = Path(path)
    return path.parent if path.name in STORE_ROOT_FILES else path


class StageFiles(BaseModel):
    """A job's named files (``Path``, ``Path | None`` or ``tuple[Path, ...]`` fields), immutable.

    Subclass it once per stage for its inputs and once for its outputs; a field's name is the
    rule's name for that file. Unknown names are refused (``extra="forbid"``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Inputs that only decide when the job reruns, never read by the stage: the metadata file of
    #: the job's FOV in a plate of your own (``<plate>/<row>/<col>/<fov>/zarr.json``; the rules'
    #: ``fov_metadata`` in workflow/rules/common.smk), which the plate folder's time does not replace.
    #: Left out of ``model_dump()``: a stage (or a test) that lists its files by dumping them sees the
    #: files it reads or writes only, and an output class has none.
    fov_metadata: tuple[Path, ...] = Field(default=(), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _stores_as_directories(cls, values: Any) -> Any:
        """A store named by its root metadata file (``X.zarr/zarr.json``) as the store (``X.zarr``)."""
        if not isinstance(values, dict):
            return values
        return {key: _store_directories(value) for key, value in values.items()}

    @classmethod
    def from_rule(cls, named: Any) -> Self:
        """Build from a rule's ``input`` or ``output`` (Snakemake's named list, or a mapping).

        Raises:
            ValueError: the rule has unnamed files, or its names differ from this class's fields;
                the message lists both sets of names.
        """
        values = dict(named.items())
        n_files = sum(len(value) if isinstance(value, list | tuple) else 1 for value in values.values())
        if hasattr(named, "__len__") and not isinstance(named, dict) and len(named) > n_files:
            raise ValueError(
                f"{cls.__name__}: the rule passes {len(named) - n_files} unnamed file(s); name every "
                f"input and output (expected names: {sorted(cls.model_fields)})"
            )
        try:
            return cls.model_validate({key: _plain(value) for key, value in values.items()})
        except ValidationError as err:
            raise ValueError(
                f"{cls.__name__}: the rule's files {sorted(values)} do not fit the stage, which expects "
                f"{_describe(cls)}:\n{err}"
            ) from None


def _store_directories(value: Any) -> Any:
    """``value`` with every path that names a store by its root file replaced by the store; other
    values (paths, names, None) as they are."""
    if isinstance(value, list | tuple):
        return type(value)(_store_directories(item) for item in value)
    if isinstance(value, str | Path) and Path(value).name in STORE_ROOT_FILES:
        return store_directory(value)
    return value


def _plain(value: Any) -> Any:
    """Snakemake's file objects and named sub-lists as plain ``str`` and ``list``."""
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return None if value is None else str(value)


def _describe(cls: type[StageFiles]) -> str:
    required = sorted(name for name, field in cls.model_fields.items() if field.is_required())
    optional = sorted(name for name, field in cls.model_fields.items() if not field.is_required())
    return f"{required}" + (f" and optionally {optional}" if optional else "")
