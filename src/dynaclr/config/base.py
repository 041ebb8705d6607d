"""Base model shared by every stage config."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config model that rejects unknown keys (a misspelt key is an error, not silence)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
