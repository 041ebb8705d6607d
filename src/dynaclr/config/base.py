"""Base model shared by every stage config."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config model that rejects unknown keys (a misspelt key is an error, not silence)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    #: Keys that choose which jobs run, not what a job computes: left out of the jobs' params
    #: (:meth:`job_params`), so editing them reruns no job.
    PLANNING_KEYS: ClassVar[tuple[str, ...]] = ()

    def job_params(self) -> dict[str, Any]:
        """The config as a rule's ``params.config`` (what Snakemake compares to decide a rerun):
        defaults filled in, JSON-ready, without :attr:`PLANNING_KEYS`."""
        return self.model_dump(mode="json", exclude=set(self.PLANNING_KEYS))
