"""Visits of the protocol's schedule: done (with date, window-checked) or missed; and
unscheduled visits (a date and a reason; no window)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.crf_entries import VisitChanges
from trialdesk.services.views import Page, VisitView
from trialdesk.services.visits import (
    add_unscheduled_visit,
    list_visits,
    record_missed_visit,
    record_visit,
    update_visit,
)

router = APIRouter(tags=["visits"], route_class=EventLoopRoute)


class VisitCreate(Body):
    code: str = Field(description="Visit code of the schedule, e.g. SCR, BL, M3")
    visit_date: date
    notes: str | None = None


class MissedVisit(Body):
    code: str
    reason: str = Field(description="Why the visit did not take place")


class UnscheduledVisit(Body):
    visit_date: date
    reason: str = Field(description="Why the visit took place, e.g. repeat ITT, safety lab")
    notes: str | None = None


class VisitChange(Change):
    visit_date: date | None = None
    notes: str | None = None
    unscheduled_reason: str | None = Field(None, description="Unscheduled visits only")
    deviation_reason: str | None = Field(
        None,
        description=(
            "Why the visit took place outside its window: required (422 "
            "deviation_reason_required) when given blank and the corrected date is outside; "
            "kept as the explanation of the protocol deviation"
        ),
    )


@router.get(
    "/participants/{participant_id}/visits",
    summary="Recorded visits (with study day from baseline)",
    responses=READ_ERRORS,
)
def get_visits(
    participant_id: int, session: SessionDep, actor: ActorDep, page: PageDep
) -> Page[VisitView]:
    return page_of(list_visits(session, actor, participant_id), page)


@router.post(
    "/participants/{participant_id}/visits",
    status_code=status.HTTP_201_CREATED,
    summary="Record a visit that took place (outside its window → automatic deviation)",
    responses=CREATE_ERRORS,
)
def post_visit(
    participant_id: int,
    body: VisitCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> VisitView:
    view = record_visit(session, actor, participant_id, **body.model_dump())
    set_etag(response, view.version)
    return view


@router.post(
    "/participants/{participant_id}/missed-visits",
    status_code=status.HTTP_201_CREATED,
    summary="Record that a scheduled visit did not take place",
    responses=CREATE_ERRORS,
)
def post_missed_visit(
    participant_id: int,
    body: MissedVisit,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> VisitView:
    view = record_missed_visit(session, actor, participant_id, code=body.code, reason=body.reason)
    set_etag(response, view.version)
    return view


@router.post(
    "/participants/{participant_id}/unscheduled-visits",
    status_code=status.HTTP_201_CREATED,
    summary="Record an unscheduled visit (code e.g. M3.U01; no window; its own forms)",
    responses=CREATE_ERRORS,
)
def post_unscheduled_visit(
    participant_id: int,
    body: UnscheduledVisit,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> VisitView:
    view = add_unscheduled_visit(session, actor, participant_id, **body.model_dump())
    set_etag(response, view.version)
    return view


@router.patch(
    "/visits/{visit_id}",
    summary="Correct a visit's date or notes (If-Match; reason; windows re-checked)",
    responses=WRITE_ERRORS,
)
def patch_visit(
    *,
    visit_id: int,
    body: VisitChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> VisitView:
    view = update_visit(
        session,
        actor,
        visit_id,
        VisitChanges(
            expected_version=version,
            reason=body.reason or "",
            visit_date=body.visit_date,
            notes=body.notes,
            unscheduled_reason=body.unscheduled_reason,
            deviation_reason=body.deviation_reason,
        ),
    )
    set_etag(response, view.version)
    return view


add_record_routes(router, "/visits", "visits", "visit", VisitView)
