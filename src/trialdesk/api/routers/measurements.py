"""Measurements: the value and unit as entered; the answer adds the canonical value and unit,
the LOINC code and the soft-limit flag (a value outside a hard limit is refused)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep
from trialdesk.api.routers._records import add_void_route
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.catalogue.missing import MISSING_CODES
from trialdesk.services.crf_entries import MeasurementChanges, MeasurementFilter, VisitMeasurement
from trialdesk.services.measurements import (
    get_measurement,
    list_measurements,
    record_measurement,
    update_measurement,
)
from trialdesk.services.paging import Page as Paging
from trialdesk.services.views import MeasurementView, Page

router = APIRouter(tags=["measurements"], route_class=EventLoopRoute)

EnteredValue = float | int | str | bool
MISSING_HELP = "Instead of a value, why there is none: " + ", ".join(
    f"{m.code} ({m.label.lower()})" for m in MISSING_CODES
)


class MeasurementCreate(Body):
    visit_code: str = Field(description="Visit of the schedule (recorded as done), e.g. BL")
    element: str = Field(description="Catalogue data element, e.g. fasting_glucose, hba1c")
    value: EnteredValue | None = Field(
        None, description="As entered, e.g. 126, 7.4 or 'negative'; none with missing_code"
    )
    unit: str | None = Field(None, description="As entered, e.g. mg/dL, %, mmol/mol")
    collected_on: date | None = Field(None, description="Default: the visit date")
    missing_code: str | None = Field(None, description=MISSING_HELP)
    missing_reason: str | None = Field(None, description="Why the value is missing (required)")


class MeasurementChange(Change):
    value: EnteredValue | None = None
    unit: str | None = None
    collected_on: date | None = None
    missing_code: str | None = Field(None, description=MISSING_HELP)
    missing_reason: str | None = None


@router.get(
    "/measurements",
    summary="Measurements at the user's sites (filter by participant, visit, element)",
    responses=READ_ERRORS,
)
def get_measurements(
    *,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    participant_id: int | None = None,
    visit_code: str | None = None,
    element: str | None = None,
    include_voided: bool = False,
) -> Page[MeasurementView]:
    return list_measurements(
        session,
        actor,
        MeasurementFilter(
            participant_id=participant_id,
            visit_code=visit_code,
            element=element,
            include_voided=include_voided,
        ),
        Paging(limit=page.limit, offset=page.offset),
    )


@router.post(
    "/participants/{participant_id}/measurements",
    status_code=status.HTTP_201_CREATED,
    summary="Record a value (hard limits refuse; soft limits raise a query) or a missing-data code",
    responses=CREATE_ERRORS,
)
def post_measurement(
    participant_id: int,
    body: MeasurementCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> MeasurementView:
    view = record_measurement(session, actor, participant_id, VisitMeasurement(**body.model_dump()))
    set_etag(response, view.version)
    return view


@router.get("/measurements/{measurement_id}", summary="One measurement", responses=READ_ERRORS)
def get_one(
    measurement_id: int, session: SessionDep, actor: ActorDep, response: Response
) -> MeasurementView:
    view = get_measurement(session, actor, measurement_id)
    set_etag(response, view.version)
    return view


@router.patch(
    "/measurements/{measurement_id}",
    summary="Correct a value (re-checked against the limits; If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_measurement(
    *,
    measurement_id: int,
    body: MeasurementChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> MeasurementView:
    view = update_measurement(
        session,
        actor,
        measurement_id,
        MeasurementChanges(
            expected_version=version,
            reason=body.reason or "",
            value=body.value,
            unit=body.unit,
            collected_on=body.collected_on,
            missing_code=body.missing_code,
            missing_reason=body.missing_reason,
        ),
    )
    set_etag(response, view.version)
    return view


add_void_route(router, "/measurements", "measurements", "measurement")
