"""The data-element catalogue: one entry per thing the trial measures or records.

Every adapter (eligibility, store, exports, pre-screening) looks codes and units up here, so
LOINC, UCUM, OMOP and SDTM codes are never scattered through the code.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ElementKind(StrEnum):
    QUANTITY = "quantity"  # a number with a unit
    BOOLEAN = "boolean"
    DATE = "date"
    CATEGORY = "category"  # one of `choices`
    SERIES = "series"  # timed samples of a quantity (e.g. the ITT glucose curve)


class Limits(BaseModel):
    """Edit-check limits in the canonical unit: hard = physiologically impossible, soft = query."""

    model_config = ConfigDict(extra="forbid")
    hard_low: float | None = None
    hard_high: float | None = None
    soft_low: float | None = None
    soft_high: float | None = None


class Codes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loinc: str | None = None
    omop_concept_id: int | None = None
    omop_domain: str | None = None  # measurement | condition | drug | observation
    sdtm_domain: str | None = None
    sdtm_testcd: str | None = None
    sdtm_test: str | None = None
    snomed: str | None = None
    icd10: str | None = None


class DataElement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    kind: ElementKind
    analyte: str | None = None  # selects cross-dimension conversions (glucose, insulin, hba1c …)
    canonical_unit: str | None = None
    units: list[str] = Field(default_factory=list)  # units accepted at entry
    choices: list[str] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    codes: Codes = Field(default_factory=Codes)
    derived_from: list[str] = Field(default_factory=list)
    derivation: str | None = None  # name in trialdesk.eligibility.derived.DERIVATIONS
    time_unit: str | None = None  # for series: unit of the sample times
    panel: str | None = None  # "safety": the safety laboratory panel (its own form and listing)
    description: str = ""

    @model_validator(mode="after")
    def _kind_fields(self) -> DataElement:
        if self.kind in (ElementKind.QUANTITY, ElementKind.SERIES) and not self.canonical_unit:
            raise ValueError(f"{self.kind.value} element needs canonical_unit")
        if self.kind is ElementKind.CATEGORY and not self.choices:
            raise ValueError("category element needs choices")
        if bool(self.derived_from) != bool(self.derivation):
            raise ValueError("derived_from and derivation go together")
        if self.canonical_unit and self.units and self.canonical_unit not in self.units:
            raise ValueError(f"canonical_unit {self.canonical_unit!r} must be one of units")
        return self

    @property
    def is_derived(self) -> bool:
        return self.derivation is not None
