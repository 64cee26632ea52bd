"""Glucose-lowering treatment over time: insulin (U/day) and oral glucose-lowering drugs
(mg/day, also as WHO defined daily doses)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.numbers import Number
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.crf_entries import (
    InsulinDoseChanges,
    InsulinDoseEntry,
    OgldDoseChanges,
    OgldDoseEntry,
)
from trialdesk.services.dosing import (
    list_insulin_doses,
    list_ogld_doses,
    record_insulin_dose,
    record_ogld_dose,
    update_insulin_dose,
    update_ogld_dose,
)
from trialdesk.services.views import InsulinDoseView, OgldDoseView, Page

router = APIRouter(tags=["dosing"], route_class=EventLoopRoute)


class InsulinDoseCreate(Body):
    start_date: date = Field(description="The dose is in force from this date")
    total_units_per_day: Number = Field(description="Basal + bolus, U/day (0 = off insulin)")
    basal_units_per_day: Number | None = None
    bolus_units_per_day: Number | None = None
    regimen: str | None = Field(None, description="e.g. basal-bolus, premixed twice daily")
    visit_code: str | None = Field(None, description="Visit at which it was recorded")


class InsulinDoseChange(Change):
    start_date: date | None = None
    total_units_per_day: Number | None = None
    basal_units_per_day: Number | None = None
    bolus_units_per_day: Number | None = None
    regimen: str | None = None


class OgldDoseCreate(Body):
    start_date: date
    drug: str = Field(description="Generic name, e.g. metformin")
    daily_dose_mg: Number
    ddd_mg: Number | None = Field(
        None, description="WHO defined daily dose in mg (default: from the ATC/DDD index)"
    )
    visit_code: str | None = None


class OgldDoseChange(Change):
    start_date: date | None = None
    daily_dose_mg: Number | None = None
    ddd_mg: Number | None = None


@router.get(
    "/participants/{participant_id}/insulin-doses",
    summary="Insulin doses over time",
    responses=READ_ERRORS,
)
def get_insulin_doses(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    include_voided: bool = False,
) -> Page[InsulinDoseView]:
    rows = list_insulin_doses(session, actor, participant_id, include_voided=include_voided)
    return page_of(rows, page)


@router.post(
    "/participants/{participant_id}/insulin-doses",
    status_code=status.HTTP_201_CREATED,
    summary="Record the insulin dose in force from a date",
    responses=CREATE_ERRORS,
)
def post_insulin_dose(
    participant_id: int,
    body: InsulinDoseCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> InsulinDoseView:
    view = record_insulin_dose(
        session, actor, participant_id, InsulinDoseEntry(**body.model_dump())
    )
    set_etag(response, view.version)
    return view


@router.patch(
    "/insulin-doses/{dose_id}",
    summary="Correct an insulin dose (If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_insulin_dose(
    *,
    dose_id: int,
    body: InsulinDoseChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> InsulinDoseView:
    fields = body.model_dump(exclude={"reason"})
    view = update_insulin_dose(
        session,
        actor,
        dose_id,
        InsulinDoseChanges(expected_version=version, reason=body.reason or "", **fields),
    )
    set_etag(response, view.version)
    return view


@router.get(
    "/participants/{participant_id}/ogld-doses",
    summary="Oral glucose-lowering drug doses over time",
    responses=READ_ERRORS,
)
def get_ogld_doses(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    include_voided: bool = False,
) -> Page[OgldDoseView]:
    rows = list_ogld_doses(session, actor, participant_id, include_voided=include_voided)
    return page_of(rows, page)


@router.post(
    "/participants/{participant_id}/ogld-doses",
    status_code=status.HTTP_201_CREATED,
    summary="Record an oral glucose-lowering drug dose in force from a date",
    responses=CREATE_ERRORS,
)
def post_ogld_dose(
    participant_id: int,
    body: OgldDoseCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> OgldDoseView:
    view = record_ogld_dose(session, actor, participant_id, OgldDoseEntry(**body.model_dump()))
    set_etag(response, view.version)
    return view


@router.patch(
    "/ogld-doses/{dose_id}",
    summary="Correct an oral glucose-lowering drug dose (If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_ogld_dose(
    *,
    dose_id: int,
    body: OgldDoseChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> OgldDoseView:
    fields = body.model_dump(exclude={"reason"})
    view = update_ogld_dose(
        session,
        actor,
        dose_id,
        OgldDoseChanges(expected_version=version, reason=body.reason or "", **fields),
    )
    set_etag(response, view.version)
    return view


add_record_routes(router, "/insulin-doses", "insulin_doses", "insulin dose", InsulinDoseView)
add_record_routes(
    router, "/ogld-doses", "ogld_doses", "oral glucose-lowering drug dose", OgldDoseView
)
