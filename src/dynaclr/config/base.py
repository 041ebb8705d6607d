"""Base model shared by every stage config."""

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


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

    def job_params(self) -> dict[str, Any]:
        """The config as a rule's ``params.config`` (what Snakemake compares to decide a rerun):
        defaults filled in, JSON-ready, without :attr:`PLANNING_KEYS` and :attr:`RUN_KEYS`."""
        return self.model_dump(mode="json", exclude=_key_tree(self.PLANNING_KEYS + self.RUN_KEYS))

    def run_params(self) -> dict[str, Any]:
        """The :attr:`RUN_KEYS` the job needs besides :meth:`job_params` (JSON-ready, nested as the
        config; :func:`with_run_params` merges them back)."""
        return self.model_dump(mode="json", include=_key_tree(self.RUN_KEYS))
