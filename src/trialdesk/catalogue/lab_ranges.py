"""Laboratory reference ranges per site (`lab_ranges.yaml`): the table SDTM LB reads its
normal ranges and reference-range indicators from. A sponsor replaces or extends the shipped
default with each site laboratory's ranges (`load_lab_ranges(path)`)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trialdesk import yamlio


class LabRange(BaseModel):
    """A reference range in `unit`; a missing bound is open."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    unit: str
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LabRange:
        if self.low is None and self.high is None:
            raise ValueError("a reference range needs a low or a high bound")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


class LabRanges(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default: dict[str, LabRange] = Field(default_factory=dict)
    sites: dict[str, dict[str, LabRange]] = Field(default_factory=dict)

    def for_site(self, site: str | None, element: str) -> LabRange | None:
        """The range of `element` at `site`: the site's own, else the default."""
        own = self.sites.get(site or "", {})
        return own.get(element, self.default.get(element))


def load_lab_ranges(path: Path) -> LabRanges:
    """Read a range table; raise ValueError naming the entry that is wrong."""
    data = yamlio.safe_load(path.read_text(encoding="utf-8")) or {}
    return LabRanges.model_validate(data)


@cache
def default_lab_ranges() -> LabRanges:
    """The shipped table (`trialdesk/catalogue/lab_ranges.yaml`)."""
    text = resources.files("trialdesk.catalogue").joinpath("lab_ranges.yaml").read_text("utf-8")
    return LabRanges.model_validate(yamlio.safe_load(text) or {})
