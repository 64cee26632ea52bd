"""Request bodies shared by the routers (responses are the services' views)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """A request body: unknown fields are refused, so a misspelt field name is not silently
    dropped from clinical data."""

    model_config = ConfigDict(extra="forbid")


class Change(Body):
    """A change to a record after its first entry: the reason is required (21 CFR 11.10(e));
    the services refuse a missing one with the rule `reason_required`."""

    reason: str | None = Field(None, description="Why the record is changed (required)")


class VoidRequest(Body):
    reason: str | None = Field(None, description="Why the record is voided (required)")
