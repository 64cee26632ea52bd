"""Enrollment: consent and an eligible screening first; at most the protocol's target (24)
unless an investigator overrides it with a reason."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, set_etag
from trialdesk.api.errors import ApiError
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.enrollment import enroll_participant, enrollment_summary, get_enrollment
from trialdesk.services.views import EnrollmentSummary, EnrollmentView

router = APIRouter(tags=["enrollment"], route_class=EventLoopRoute)


class EnrollmentCreate(Body):
    enrolled_on: date
    arm_code: str | None = Field(None, description="Arm of the protocol (default: the only arm)")
    override_reason: str | None = Field(
        None,
        description="Investigators only: why the participant is enrolled beyond the protocol's "
        "target enrollment",
    )


@router.get(
    "/enrollment/summary",
    summary="Study-wide enrollment against the protocol's target (a count only)",
    responses=READ_ERRORS,
)
def get_summary(session: SessionDep, actor: ActorDep) -> EnrollmentSummary:
    return enrollment_summary(session, actor)


@router.get(
    "/participants/{participant_id}/enrollment",
    summary="The participant's enrollment (404 not_enrolled when there is none)",
    responses=READ_ERRORS,
)
def get_participant_enrollment(
    participant_id: int, session: SessionDep, actor: ActorDep, response: Response
) -> EnrollmentView:
    view = get_enrollment(session, actor, participant_id)
    if view is None:
        raise ApiError(404, "not_enrolled", f"participant {participant_id} is not enrolled")
    set_etag(response, view.version)
    return view


@router.post(
    "/participants/{participant_id}/enrollment",
    status_code=status.HTTP_201_CREATED,
    summary="Enroll a consented, eligible participant",
    responses=CREATE_ERRORS,
)
def post_enrollment(
    participant_id: int,
    body: EnrollmentCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> EnrollmentView:
    view = enroll_participant(session, actor, participant_id, **body.model_dump())
    set_etag(response, view.version)
    return view


add_record_routes(router, "/enrollments", "enrollments", "enrollment", EnrollmentView)
