"""What the pre-screening services take and give: candidate rows in, views out.

A row is one person of a ``trialdesk prescreen`` ranked list, reduced to what the screening log
keeps: the pseudonymous EHR key, the rank, the pre-screen status and, per criterion, the verdict
and the values it used. Nothing identifying may be stored before consent (ICH E6(R2) 2.11;
GDPR Art. 89(1)), so a row naming a value such as a name, a date of birth or a medical record
number is refused rather than silently stripped: the caller must not send it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as InputShapeError

from trialdesk.services.errors import ValidationProblem
from trialdesk.services.views import RecordView
from trialdesk.store.models import CandidateWorkflow, PrescreenStatus

Verdict = Literal["met", "not met", "not assessable", "assessed at visit"]
Scalar = str | int | float | bool | None
MAX_ROWS_PER_RUN = 50_000
MAX_SOURCE_TEXT_CHARS = 2000
"""Longest description of the EHR extract a pre-screening run was read from."""
MAX_LOOKBACK_DAYS = 36_600
"""Longest look-back of a pre-screening query: about one hundred years, i.e. a whole record."""
"""The log holds persons to be approached: a larger list means excluded persons were sent too
(their number is kept in the run's counts instead)."""

IDENTIFYING_VALUES = frozenset(
    {
        "name",
        "full_name",
        "first_name",
        "last_name",
        "given_name",
        "family_name",
        "date_of_birth",
        "birth_date",
        "birth_datetime",
        "birth_year",
        "year_of_birth",
        "month_of_birth",
        "day_of_birth",
        "person_source_value",
        "medical_record_number",
        "mrn",
        "phone",
        "email",
        "address",
        "postcode",
        "zip",
        "national_id",
        "ssn",
    }
)
"""Value names refused in a candidate row (HIPAA Safe Harbor identifiers, 45 CFR
164.514(b)(2), as they appear in OMOP CDM v5.4 ``person``/``location`` and in CRFs)."""

_CREDENTIALS = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


class CriterionOutcome(BaseModel):
    """A criterion's pre-screen verdict and the values it was judged on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    values: dict[str, Scalar] = Field(default_factory=dict)


class CandidateRow(BaseModel):
    """One person of a ranked pre-screening list (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ehr_person_key: str = Field(min_length=1, max_length=64)
    rank: int = Field(ge=1, le=2**31 - 1)
    prescreen_status: PrescreenStatus
    criteria: dict[str, CriterionOutcome] = Field(default_factory=dict)

    @field_validator("ehr_person_key", mode="before")
    @classmethod
    def _key_as_text(cls, value: object) -> object:
        # OMOP person_id is a bigint; the log keeps it as text (other EHRs use other keys).
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value.strip() if isinstance(value, str) else value


def candidate_rows(rows: Iterable[CandidateRow | Mapping[str, Any]]) -> list[CandidateRow]:
    """Check every row (shape, duplicates, no identifying values); the first problem found is
    raised naming the row and field, e.g. ``rows[3].criteria.I2.verdict``."""
    checked: list[CandidateRow] = []
    keys: set[str] = set()
    ranks: set[int] = set()
    for index, raw in enumerate(rows):
        if len(checked) >= MAX_ROWS_PER_RUN:
            raise ValidationProblem(
                "rows",
                f"more than {MAX_ROWS_PER_RUN:,} persons: store the candidates to approach "
                "(e.g. without excluded persons, whose number the run keeps)",
                rule="too_many_rows",
            )
        row = _row(index, raw)
        if row.ehr_person_key in keys:
            raise ValidationProblem(
                f"rows[{index}].ehr_person_key", f"{row.ehr_person_key!r} appears twice"
            )
        if row.rank in ranks:
            raise ValidationProblem(f"rows[{index}].rank", f"rank {row.rank} appears twice")
        _refuse_identifying(index, row)
        keys.add(row.ehr_person_key)
        ranks.add(row.rank)
        checked.append(row)
    return checked


def _row(index: int, raw: CandidateRow | Mapping[str, Any]) -> CandidateRow:
    if isinstance(raw, CandidateRow):
        return raw
    if not isinstance(raw, Mapping):
        raise ValidationProblem(f"rows[{index}]", f"{type(raw).__name__} is not a candidate row")
    try:
        return CandidateRow.model_validate(dict(raw))
    except InputShapeError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ValidationProblem(f"rows[{index}].{where}", error["msg"]) from None


def _refuse_identifying(index: int, row: CandidateRow) -> None:
    for cid, outcome in row.criteria.items():
        for name in outcome.values:
            if name.strip().lower() in IDENTIFYING_VALUES:
                raise ValidationProblem(
                    f"rows[{index}].criteria.{cid}.values.{name}",
                    "identifying data cannot be stored before consent (pre-screening keeps the "
                    "pseudonymous EHR key only)",
                    rule="identifying_data",
                )


def status_counts(
    counts: Mapping[str, int] | None, rows: list[CandidateRow], persons: int | None
) -> tuple[int, dict[str, int]]:
    """The run's (persons assessed, persons by status), checked against the rows stored."""
    found = {s.value: sum(r.prescreen_status is s for r in rows) for s in PrescreenStatus}
    if counts is None:
        counts = found
    unknown = sorted(set(counts) - {s.value for s in PrescreenStatus})
    if unknown:
        raise ValidationProblem("status_counts", f"{unknown[0]!r} is not a pre-screen status")
    clean = {s.value: counts.get(s.value, 0) for s in PrescreenStatus}
    for status, n in clean.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValidationProblem(f"status_counts.{status}", f"{n!r} is not a count")
        if n < found[status]:
            raise ValidationProblem(
                f"status_counts.{status}", f"{n} is fewer than the {found[status]} rows sent"
            )
    total = sum(clean.values())
    if persons is None:
        persons = total
    if persons != total:
        raise ValidationProblem(
            "persons_assessed", f"{persons} differs from the {total} persons counted by status"
        )
    return persons, clean


def source_text(value: str | None) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationProblem("source_description", "is required (which EHR extract was read)")
    if len(text) > MAX_SOURCE_TEXT_CHARS:
        raise ValidationProblem(
            "source_description", f"must be at most {MAX_SOURCE_TEXT_CHARS} characters"
        )
    if _CREDENTIALS.search(text):
        raise ValidationProblem(
            "source_description", "contains a password: describe the source without credentials"
        )
    return text


def positive_days(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LOOKBACK_DAYS:
        raise ValidationProblem(
            "lookback_days", f"{value!r} is not a number of days (1–{MAX_LOOKBACK_DAYS})"
        )
    return value


def a_date(value: object, field: str) -> date:
    if not isinstance(value, date):
        raise ValidationProblem(field, f"{value!r} is not a date (YYYY-MM-DD)")
    return value


# --- views --------------------------------------------------------------------------------------


class PrescreenRunView(RecordView):
    site_id: int
    site_code: str
    protocol_id: str
    index_date: date
    lookback_days: int
    source_description: str
    run_by: int
    run_by_username: str
    persons_assessed: int = Field(description="Persons in the look-back window")
    status_counts: dict[str, int] = Field(description="Persons by pre-screen status")
    attrition: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Attrition funnel: per EHR criterion, persons remaining/removed/unassessable",
    )
    candidates_stored: int = Field(description="Rows of this run kept in the screening log")


class PrescreenCandidateView(RecordView):
    run_id: int
    site_id: int
    site_code: str
    ehr_person_key: str = Field(description="Pseudonymous EHR key (OMOP person_id)")
    rank: int
    prescreen_status: PrescreenStatus
    criteria: dict[str, Any] = Field(description="Per criterion: verdict and values used")
    workflow_status: CandidateWorkflow
    status_changed_on: date | None
    status_reason: str | None
    participant_id: int | None
    study_id: str | None = Field(None, description="The participant's study id once screened")
    screening_id: int | None
    index_date: date = Field(description="The run's index date (planned screening date)")


class AttritionStep(BaseModel):
    """One step of a run's attrition funnel (`trialdesk.prescreen.funnel.FunnelStep`)."""

    model_config = ConfigDict(extra="forbid")
    step: int = Field(ge=0)
    criterion: str = Field(max_length=40)
    text: str = Field(max_length=2000)
    remaining: int = Field(ge=0)
    removed: int = Field(ge=0)
    not_assessable: int = Field(ge=0)


def attrition_steps(steps: Sequence[Mapping[str, Any]], persons: int) -> list[dict[str, Any]]:
    """The funnel checked: steps numbered 0…n, each removing what the previous one kept, the
    first one the persons assessed."""
    checked: list[AttritionStep] = []
    for number, raw in enumerate(steps):
        try:
            step = AttritionStep.model_validate(raw)
        except InputShapeError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationProblem(f"attrition.{number}.{where}", first["msg"]) from None
        previous = checked[-1].remaining if checked else persons
        if step.step != number or step.remaining + step.removed != previous:
            raise ValidationProblem(
                f"attrition.{number}",
                f"step {step.step}: {step.remaining} remaining + {step.removed} removed "
                f"differs from the {previous} persons before it",
            )
        checked.append(step)
    return [s.model_dump() for s in checked]
