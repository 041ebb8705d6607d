"""Base model shared by every stage config."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config model that rejects unknown keys (a misspelt key is an error, not silence)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    #: Keys that choose which jobs run, not what a job computes: left out of the jobs' params
    #: (:meth:`job_params`), so editing them reruns no job.
    PLANNING_KEYS: ClassVar[tuple[str, ...]] = ()
    #: Keys that change how a job runs (rows per forward pass, resuming), not what it computes (the
    #: same values, to float32 rounding): left out of :meth:`job_params` and handed to the job by
    #: :meth:`run_params`, a param Snakemake does not compare, so editing them reruns no job.
    RUN_KEYS: ClassVar[tuple[str, ...]] = ()

    def job_params(self) -> dict[str, Any]:
        """The config as a rule's ``params.config`` (what Snakemake compares to decide a rerun):
        defaults filled in, JSON-ready, without :attr:`PLANNING_KEYS` and :attr:`RUN_KEYS`."""
        return self.model_dump(mode="json", exclude=set(self.PLANNING_KEYS) | set(self.RUN_KEYS))

    def run_params(self) -> dict[str, Any]:
        """The :attr:`RUN_KEYS` the job needs besides :meth:`job_params` (JSON-ready)."""
        return self.model_dump(mode="json", include=set(self.RUN_KEYS))
