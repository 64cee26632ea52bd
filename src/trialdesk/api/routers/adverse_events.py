"""Adverse events: CTCAE v5.0 grade, ICH E2A seriousness criteria, relatedness, action, outcome.
A serious event is reported to the sponsor within 24 hours of the site's awareness; only a SUSAR
confirmed by an investigator carries the sponsor's expedited-report due date (7 days if fatal or
life-threatening, otherwise 15; ICH E2A III.A). Reports and judgements: `safety_reports`."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep
from trialdesk.api.routers._records import add_void_route
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.adverse_event_fields import AdverseEventChanges, AdverseEventReport
from trialdesk.services.safety import (
    SERIOUSNESS,
    get_adverse_event,
    list_adverse_events,
    report_adverse_event,
    update_adverse_event,
)
from trialdesk.services.views import AdverseEventView, Page
from trialdesk.store.enums import AeAction, AeOutcome, Relatedness

router = APIRouter(tags=["adverse events"], route_class=EventLoopRoute)

_SERIOUSNESS_HELP = (
    "ICH E2A seriousness criteria met, any of: " + ", ".join(SERIOUSNESS) + " (empty: not serious)"
)


class AdverseEventCreate(Body):
    term: str = Field(description="Event term (CTCAE / MedDRA wording)")
    onset_date: date
    grade: int = Field(description="CTCAE v5.0 grade 1–5")
    relatedness: Relatedness
    action_taken: AeAction
    outcome: AeOutcome
    seriousness: list[str] = Field(default_factory=list, description=_SERIOUSNESS_HELP)
    resolution_date: date | None = None
    expected: bool | None = Field(None, description="Listed in the reference safety information")
    awareness_date: date | None = Field(
        None, description="The day the site first knew (start of that day; default: now)"
    )
    aware_at: datetime | None = Field(
        None, description="When the site first knew, with time zone (starts the 24-hour clock)"
    )


class AdverseEventChange(Change):
    term: str | None = None
    onset_date: date | None = None
    resolution_date: date | None = None
    grade: int | None = None
    relatedness: Relatedness | None = None
    action_taken: AeAction | None = None
    outcome: AeOutcome | None = None
    seriousness: list[str] | None = Field(None, description=_SERIOUSNESS_HELP)
    expected: bool | None = None
    awareness_date: date | None = None
    aware_at: datetime | None = None
    expedited_reported_on: date | None = Field(
        None, description="Date the sponsor's expedited report was sent to the regulator"
    )


@router.get(
    "/adverse-events",
    summary="Adverse events at the user's sites (filter by participant, seriousness)",
    responses=READ_ERRORS,
)
def get_adverse_events(
    *,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    participant_id: int | None = None,
    serious: bool | None = None,
    include_voided: bool = False,
) -> Page[AdverseEventView]:
    return list_adverse_events(
        session,
        actor,
        participant_id=participant_id,
        serious=serious,
        include_voided=include_voided,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/participants/{participant_id}/adverse-events",
    status_code=status.HTTP_201_CREATED,
    summary="Report an adverse event (serious → report to the sponsor due in 24 hours)",
    responses=CREATE_ERRORS,
)
def post_adverse_event(
    participant_id: int,
    body: AdverseEventCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> AdverseEventView:
    view = report_adverse_event(
        session, actor, participant_id, AdverseEventReport(**body.model_dump())
    )
    set_etag(response, view.version)
    return view


@router.get(
    "/adverse-events/{adverse_event_id}", summary="One adverse event", responses=READ_ERRORS
)
def get_one(
    adverse_event_id: int, session: SessionDep, actor: ActorDep, response: Response
) -> AdverseEventView:
    view = get_adverse_event(session, actor, adverse_event_id)
    set_etag(response, view.version)
    return view


@router.patch(
    "/adverse-events/{adverse_event_id}",
    summary="Follow up an adverse event (resolution, outcome, seriousness, report sent; "
    "If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_adverse_event(
    *,
    adverse_event_id: int,
    body: AdverseEventChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> AdverseEventView:
    fields = body.model_dump(exclude={"reason"})
    view = update_adverse_event(
        session,
        actor,
        adverse_event_id,
        expected_version=version,
        reason=body.reason or "",
        changes=AdverseEventChanges(**fields),
    )
    set_etag(response, view.version)
    return view


add_void_route(router, "/adverse-events", "adverse_events", "adverse event")
