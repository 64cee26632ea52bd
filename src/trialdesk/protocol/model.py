"""The protocol as a pydantic model: every field of the registry record, plus what makes it
computable (criteria expressions, schedule of assessments, outcome definitions, parameters)."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trialdesk.catalogue import DataElement
from trialdesk.protocol.expr import Expr


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CriterionKind(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


class AssessedAt(StrEnum):
    """Where a criterion can be judged: only at a screening visit, or also from EHR data."""

    VISIT = "visit"
    EHR = "ehr"


class Criterion(_Strict):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    kind: CriterionKind
    number: int = Field(ge=1)
    text: str = Field(min_length=1, description="The criterion as written in the registry record")
    expr: Expr
    assessed_at: AssessedAt = AssessedAt.EHR
    rationale: str = ""


class Site(_Strict):
    name: str
    city: str
    country: str
    code: str = Field(pattern=r"^[A-Z0-9]{2,10}$")


class Arm(_Strict):
    code: str = Field(pattern=r"^[A-Z0-9_]{1,20}$")
    name: str
    type: str = "EXPERIMENTAL"
    description: str = ""


class Design(_Strict):
    allocation: str = "NA"
    intervention_model: str
    masking: str = "NONE"
    primary_purpose: str = "TREATMENT"
    arms: list[Arm] = Field(min_length=1)

    @model_validator(mode="after")
    def _single_group_has_one_arm(self) -> Design:
        if self.intervention_model == "SINGLE_GROUP" and len(self.arms) != 1:
            raise ValueError("a SINGLE_GROUP design has exactly one arm")
        return self


class Intervention(_Strict):
    type: str
    name: str
    description: str = ""
    cell_source: str | None = None
    cell_source_note: str = ""
    dose_per_kg: str | None = None  # e.g. "1e6 cells/kg"
    route: str | None = None


class Outcome(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    number: int = Field(ge=1)
    title: str
    description: str
    time_frame: str
    time_frame_days: int = Field(gt=0)
    source: str = Field(default="measurements", pattern=r"^(measurements|adverse_events)$")
    elements: list[str] = Field(default_factory=list)
    measure: str = Field(description="How the element is summarised, e.g. change from baseline")

    @model_validator(mode="after")
    def _measured_outcomes_name_elements(self) -> Outcome:
        if self.source == "measurements" and not self.elements:
            raise ValueError("an outcome from measurements names its data elements")
        return self


class Visit(_Strict):
    code: str = Field(pattern=r"^[A-Z0-9_]{1,20}$")
    name: str
    day: int
    window_before: int = Field(ge=0)
    window_after: int = Field(ge=0)
    assessments: list[str] = Field(default_factory=list)
    forms: list[str] = Field(default_factory=list)

    @property
    def earliest_day(self) -> int:
        return self.day - self.window_before

    @property
    def latest_day(self) -> int:
        return self.day + self.window_after


DEFAULT_SIGNATURE_MEANING = (
    "I have reviewed the data in this casebook and attest that they are accurate, complete "
    "and attributable to the participant, to the best of my knowledge."
)


class Parameter(_Strict):
    value: float
    unit: str
    source: str


class ExpectedEvent(_Strict):
    """One event the reference safety information lists as expected, with the words a site may
    record it under (matched case- and punctuation-insensitively)."""

    term: str = Field(min_length=1)
    synonyms: list[str] = Field(default_factory=list)


class ReferenceSafetyInformation(_Strict):
    """The events the sponsor considers expected (ICH E2A II.C: an adverse reaction is
    "unexpected" when its nature or severity is not consistent with the reference safety
    information, e.g. the investigator's brochure). `provisional` marks a list that is not
    the sponsor's document but a placeholder to be replaced by it."""

    source: str = Field(min_length=1)
    provisional: bool = False
    expected_events: list[ExpectedEvent] = Field(default_factory=list)

    def listed(self, term: str) -> str | None:
        """The listed term a recorded term matches (None: not listed, so unexpected).

        >>> rsi = ReferenceSafetyInformation(source="IB", expected_events=[
        ...     ExpectedEvent(term="Hypoglycaemia", synonyms=["low blood sugar"])])
        >>> rsi.listed("Low blood-sugar"), rsi.listed("Hepatitis")
        ('Hypoglycaemia', None)
        """
        key = _fold(term)
        for event in self.expected_events:
            if key in {_fold(t) for t in (event.term, *event.synonyms)}:
                return event.term
        return None


def _fold(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


class Registry(_Strict):
    name: str
    id: str
    first_posted: date | None = None


class Protocol(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    registry: Registry
    # The protocol document's own version label and the informed-consent form version it
    # requires (ICH E6(R2) 4.8.2: a revised form is signed again). Optional: a study database
    # gives the label and form version when the file is registered (`trialdesk protocol register`).
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,20}$")
    consent_form_version: str | None = Field(default=None, min_length=1, max_length=50)
    title: str
    brief_title: str | None = None
    acronym: str | None = None
    phase: str
    sponsor: str
    status: str
    sex: str = Field(pattern=r"^(ALL|MALE|FEMALE)$")
    target_enrollment: int = Field(gt=0)
    study_type: str
    design: Design
    conditions: list[str] = Field(min_length=1)
    sites: list[Site] = Field(min_length=1)
    brief_summary: str
    detailed_description: list[str] = Field(default_factory=list)
    intervention: Intervention
    elements: list[DataElement] = Field(default_factory=list)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    criteria: list[Criterion] = Field(min_length=1)
    schedule: list[Visit] = Field(min_length=1)
    primary_outcomes: list[Outcome] = Field(min_length=1)
    secondary_outcomes: list[Outcome] = Field(default_factory=list)
    reference_safety_information: ReferenceSafetyInformation | None = None
    # The meaning of the investigator's casebook signature (21 CFR 11.50(a)(3)): shown at
    # signing, stored with the signature and printed wherever the signature is shown.
    signature_meaning: str = Field(default=DEFAULT_SIGNATURE_MEANING, min_length=10)

    @model_validator(mode="after")
    def _unique_ids(self) -> Protocol:
        for label, ids in (
            ("criterion id", [c.id for c in self.criteria]),
            ("visit code", [v.code for v in self.schedule]),
            ("outcome id", [o.id for o in self.primary_outcomes + self.secondary_outcomes]),
        ):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"duplicate {label}: {', '.join(duplicates)}")
        days = [v.day for v in self.schedule]
        if days != sorted(days):
            raise ValueError("schedule visits must be in order of their day")
        return self

    @property
    def inclusion(self) -> list[Criterion]:
        return [c for c in self.criteria if c.kind is CriterionKind.INCLUSION]

    @property
    def exclusion(self) -> list[Criterion]:
        return [c for c in self.criteria if c.kind is CriterionKind.EXCLUSION]

    def visit(self, code: str) -> Visit:
        for visit in self.schedule:
            if visit.code == code:
                return visit
        raise KeyError(f"protocol {self.id} has no visit {code!r}")

    def parameter(self, name: str) -> Parameter:
        try:
            return self.parameters[name]
        except KeyError:
            raise KeyError(f"protocol {self.id} has no parameter {name!r}") from None
