"""Protocol deviations: recorded by staff, or automatically when a visit falls outside its
window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep
from trialdesk.api.routers._records import add_record_routes
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.deviations import (
    ReviewStatus,
    list_deviations,
    record_deviation,
    review_deviation,
    update_deviation,
)
from trialdesk.services.views import DeviationView, Page
from trialdesk.store.enums import DeviationCategory, DeviationSeverity

router = APIRouter(tags=["deviations"], route_class=EventLoopRoute)


class DeviationCreate(Body):
    category: DeviationCategory
    severity: DeviationSeverity = Field(
        description="major = an important deviation (ICH E3 10.2, ICH E6(R3)); else minor"
    )
    description: str
    detected_on: date
    visit_code: str | None = Field(None, description="Visit concerned, if any")
    explanation: str | None = Field(None, description="The site's explanation")


class DeviationChange(Change):
    severity: DeviationSeverity | None = None
    description: str | None = None
    category: DeviationCategory | None = None
    explanation: str | None = None


class DeviationReview(Body):
    comment: str = Field(description="The investigator's assessment (required)")


@dataclass(frozen=True)
class DeviationFilter:
    """The `GET /deviations` query filters (None = any)."""

    participant_id: int | None
    category: DeviationCategory | None
    site_id: int | None
    severity: DeviationSeverity | None
    status: ReviewStatus | None


async def deviation_filter(
    participant_id: int | None = None,
    category: DeviationCategory | None = None,
    site_id: int | None = None,
    severity: DeviationSeverity | None = None,
    status: ReviewStatus | None = None,
) -> DeviationFilter:
    """The query filters as one value (FastAPI "Classes as Dependencies")."""
    return DeviationFilter(participant_id, category, site_id, severity, status)


@router.get(
    "/deviations",
    summary="Protocol deviations at the user's sites (filter by participant, site, category, "
    "classification, review status)",
    responses=READ_ERRORS,
)
def get_deviations(
    *,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    where: Annotated[DeviationFilter, Depends(deviation_filter)],
    include_voided: bool = False,
) -> Page[DeviationView]:
    return list_deviations(
        session,
        actor,
        participant_id=where.participant_id,
        category=where.category,
        site_id=where.site_id,
        severity=where.severity,
        status=where.status,
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
    summary="Classify a deviation (category, major/minor), explain or correct it (If-Match; "
    "reason); a change after the investigator's sign-off needs a new review",
    responses=WRITE_ERRORS,
)
def patch_deviation(
    *,
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
        category=body.category,
        explanation=body.explanation,
    )
    set_etag(response, view.version)
    return view


@router.post(
    "/deviations/{deviation_id}/review",
    summary="Investigator review and sign-off of a deviation (investigators; If-Match)",
    responses=WRITE_ERRORS,
)
def post_deviation_review(
    *,
    deviation_id: int,
    body: DeviationReview,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> DeviationView:
    view = review_deviation(
        session, actor, deviation_id, expected_version=version, comment=body.comment
    )
    set_etag(response, view.version)
    return view


add_record_routes(router, "/deviations", "protocol_deviations", "protocol deviation", DeviationView)
