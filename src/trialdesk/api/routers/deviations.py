"""Protocol deviations: recorded by staff, or automatically when a visit falls outside its
window."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.deviations import list_deviations, record_deviation, update_deviation
from trialdesk.services.views import DeviationView, Page
from trialdesk.store.enums import DeviationCategory, DeviationSeverity

router = APIRouter(tags=["deviations"], route_class=EventLoopRoute)


class DeviationCreate(Body):
    category: DeviationCategory
    severity: DeviationSeverity
    description: str
    detected_on: date
    visit_code: str | None = Field(None, description="Visit concerned, if any")


class DeviationChange(Change):
    severity: DeviationSeverity | None = None
    description: str | None = None


@router.get(
    "/deviations",
    summary="Protocol deviations at the user's sites (filter by participant, category)",
    responses=READ_ERRORS,
)
def get_deviations(
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    participant_id: int | None = None,
    category: DeviationCategory | None = None,
    include_voided: bool = False,
) -> Page[DeviationView]:
    return list_deviations(
        session,
        actor,
        participant_id=participant_id,
        category=category,
        include_voided=include_voided,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/participants/{participant_id}/deviations",
    status_code=status.HTTP_201_CREATED,
    summary="Record a protocol deviation",
    responses=CREATE_ERRORS,
)
def post_deviation(
    participant_id: int,
    body: DeviationCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> DeviationView:
    view = record_deviation(session, actor, participant_id, **body.model_dump())
    set_etag(response, view.version)
    return view


@router.patch(
    "/deviations/{deviation_id}",
    summary="Correct a deviation's severity or description (If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_deviation(
    deviation_id: int,
    body: DeviationChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> DeviationView:
    view = update_deviation(
        session,
        actor,
        deviation_id,
        expected_version=version,
        reason=body.reason or "",
        severity=body.severity,
        description=body.description,
    )
    set_etag(response, view.version)
    return view


add_record_routes(router, "/deviations", "protocol_deviations", "protocol deviation", DeviationView)
