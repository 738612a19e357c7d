"""The base of every contract model: unknown keys are errors, not silently ignored.

Its own module so that the contract models (``lakeloop.contracts``) and the calendar
(``lakeloop.contracts.calendar``) share it without importing each other."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A contract section: a misspelt key fails loading with the key named."""

    model_config = ConfigDict(extra="forbid")
