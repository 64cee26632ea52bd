"""Screening: submit the screening answers (and, optionally, the screening visit's raw values)
and keep the eligibility result snapshot with the values it used."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from fastapi import APIRouter, Response, status
from pydantic import Field
from sqlalchemy.orm import Session

from trialdesk.api.deps import ActorDep, SessionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.schemas import Body
from trialdesk.services.actor import Actor
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.itt import record_itt_test
from trialdesk.services.measurements import record_measurement
from trialdesk.services.screening import list_screenings, screen_participant
from trialdesk.services.uow import service
from trialdesk.services.views import Page, ScreeningView
from trialdesk.services.visits import SCREENING_CODE

router = APIRouter(tags=["screening"])

R = TypeVar("R")
FindingValue = bool | int | float | str | None


class RawValue(Body):
    """One value as entered, in the unit it was measured in (converted by the services)."""

    element: str = Field(description="Catalogue data element, e.g. fasting_glucose")
    value: float | int | str | bool = Field(description="As entered, e.g. 126 or 'negative'")
    unit: str | None = Field(None, description="As entered, e.g. mg/dL (none for categories)")


class IttSampleIn(Body):
    minute: float = Field(description="Minutes after the insulin bolus")
    glucose: float = Field(description="Glucose in `glucose_unit`")


class IttIn(Body):
    glucose_unit: str = Field(description="mmol/L or mg/dL")
    samples: list[IttSampleIn] = Field(min_length=1)
    insulin_dose_u_per_kg: float | None = Field(None, description="Bolus dose, usually 0.1 U/kg")


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


def _field_prefixed(prefix: str, call: Callable[[], R]) -> R:
    """Run `call`; a refused value names where it sits in this request's body."""
    try:
        return call()
    except ValidationProblem as exc:
        raise ValidationProblem(f"{prefix}.{exc.field}", exc.reason, rule=exc.rule) from None


@service
def _screen_with_values(
    session: Session, actor: Actor, participant_id: int, body: ScreeningCreate
) -> ScreeningView:
    # One transaction: the nested services join it, so a refused value saves nothing.
    for i, raw in enumerate(body.measurements):
        _field_prefixed(
            f"measurements[{i}]",
            lambda raw=raw: record_measurement(  # type: ignore[misc]
                session,
                actor,
                participant_id,
                visit_code=SCREENING_CODE,
                element=raw.element,
                value=raw.value,
                unit=raw.unit,
            ),
        )
    if body.itt is not None:
        itt = body.itt
        _field_prefixed(
            "itt",
            lambda: record_itt_test(
                session,
                actor,
                participant_id,
                visit_code=SCREENING_CODE,
                samples=[(s.minute, s.glucose) for s in itt.samples],
                glucose_unit=itt.glucose_unit,
                insulin_dose_u_per_kg=itt.insulin_dose_u_per_kg,
            ),
        )
    findings: dict[str, Any] = dict(body.findings)
    return screen_participant(
        session, actor, participant_id, screened_on=body.screened_on, findings=findings
    )


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
    view = _screen_with_values(session, actor, participant_id, body)
    set_etag(response, view.version)
    return view


add_record_routes(router, "/screenings", "screenings", "screening", ScreeningView)
