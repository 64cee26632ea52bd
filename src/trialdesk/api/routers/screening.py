"""Screening: submit the screening answers (and, optionally, the screening visit's raw values)
and keep the eligibility result snapshot with the values it used."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.numbers import Number
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.screening import ScreeningEntry, list_screenings, save_screening
from trialdesk.services.screening_correction import update_screening
from trialdesk.services.views import Page, ScreeningView

router = APIRouter(tags=["screening"], route_class=EventLoopRoute)

FindingValue = bool | int | float | str | None


class RawValue(Body):
    """One value as entered, in the unit it was measured in (converted by the services)."""

    element: str = Field(description="Catalogue data element, e.g. fasting_glucose")
    value: float | int | str | bool = Field(description="As entered, e.g. 126 or 'negative'")
    unit: str | None = Field(None, description="As entered, e.g. mg/dL (none for categories)")


class IttSampleIn(Body):
    minute: Number = Field(description="Minutes after the insulin bolus")
    glucose: Number = Field(description="Glucose in `glucose_unit`")


class IttIn(Body):
    glucose_unit: str = Field(description="mmol/L or mg/dL")
    samples: list[IttSampleIn] = Field(min_length=1)
    insulin_dose_u_per_kg: Number | None = Field(None, description="Bolus dose, usually 0.1 U/kg")


class MissingIn(Body):
    """A screening field with no value: its missing-data code and the site's reason."""

    element: str = Field(description="Catalogue data element, e.g. hba1c or pregnant")
    code: str = Field(description="ND, NA, UNK, ASKU, NASK, NAV or MSK (REDCap / HL7)")
    reason: str = Field(description="Why there is no value, e.g. 'sample haemolysed'")


class ScreeningCreate(Body):
    screened_on: date
    findings: dict[str, FindingValue] = Field(
        default_factory=dict,
        description="Yes/no, category and date answers by data element, e.g. "
        '{"t2dm_diagnosis": true, "pregnant": false}',
    )
    measurements: list[RawValue] = Field(
        default_factory=list,
        description="Optional raw values to record at the screening visit (SCR, which must be "
        "recorded) before evaluating; all or nothing is saved",
    )
    itt: IttIn | None = Field(None, description="Optional ITT of the screening visit")
    missing: list[MissingIn] = Field(
        default_factory=list,
        description="Fields recorded as missing with a code (not assessable in eligibility)",
    )

    def entry(self) -> ScreeningEntry:
        """The services' screening entry (the field names are the same)."""
        return ScreeningEntry.model_validate(self.model_dump())


@router.get(
    "/participants/{participant_id}/screenings",
    summary="Screening results of a participant (eligibility snapshots)",
    responses=READ_ERRORS,
)
def get_screenings(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    include_voided: bool = False,
) -> Page[ScreeningView]:
    rows = list_screenings(session, actor, participant_id, include_voided=include_voided)
    return page_of(rows, page)


@router.post(
    "/participants/{participant_id}/screenings",
    status_code=status.HTTP_201_CREATED,
    summary="Screen: evaluate the criteria from stored data and keep the snapshot",
    responses=CREATE_ERRORS,
)
def post_screening(
    participant_id: int,
    body: ScreeningCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> ScreeningView:
    """The evaluation uses consent, date of birth, sex, the screening visit's measurements and
    ITT (recorded before, or given here in `measurements`/`itt`) and `findings`. An ineligible
    result marks the participant a screen failure; a later screening may supersede it."""
    view = save_screening(session, actor, participant_id, body.entry())
    set_etag(response, view.version)
    return view


class ScreeningChange(Change):
    findings: dict[str, Any] = Field(
        description="The answers to correct (others are kept; null removes one); judged again"
    )


@router.patch(
    "/screenings/{screening_id}",
    summary="Correct a screening's findings and judge it again (If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_screening(
    *,
    screening_id: int,
    body: ScreeningChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> ScreeningView:
    view = update_screening(
        session, actor, screening_id, expected_version=version, reason=body.reason or "",
        findings=body.findings,
    )  # fmt: skip
    set_etag(response, view.version)
    return view


add_record_routes(router, "/screenings", "screenings", "screening", ScreeningView)
