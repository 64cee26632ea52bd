"""The data-element catalogue: one entry per thing the trial measures or records.

Every adapter (eligibility, store, exports, pre-screening) looks codes and units up here, so
LOINC, UCUM, OMOP and SDTM codes are never scattered through the code.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trialdesk.units.convert import REPORTING_DECIMALS


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
    # LOINC distinguishes the property a unit measures: substance concentration (mmol/L,
    # "[Moles/volume]") from mass concentration (mg/dL, "[Mass/volume]"); HbA1c as an NGSP
    # fraction (%) from IFCC mmol/mol. Unit -> the LOINC code whose property matches it.
    loinc_by_unit: dict[str, str] = Field(default_factory=dict)
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
    # Reporting precision: decimal places of a result in the canonical unit. Every exporter
    # (SDTM --STRESC/--STRESN, ODM, REDCap, FHIR) rounds with `trialdesk.catalogue.precision`.
    decimals: int | None = Field(default=None, ge=0, le=6)
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
    def reported_decimals(self) -> int | None:
        """Decimals a result is reported with: the element's own precision, else the
        laboratory reporting precision of its canonical unit (units.REPORTING_DECIMALS)."""
        if self.decimals is not None:
            return self.decimals
        return REPORTING_DECIMALS.get(self.canonical_unit or "")

    def loinc_for(self, unit: str | None) -> str | None:
        """The LOINC code of a result in `unit` (its property matching the unit's); the one
        code of an element whose LOINC term does not depend on the unit; None when the unit's
        property has no code recorded here (never a code of another property)."""
        if not self.codes.loinc_by_unit:
            return self.codes.loinc
        return self.codes.loinc_by_unit.get(unit or "")

    @property
    def is_derived(self) -> bool:
        return self.derivation is not None
