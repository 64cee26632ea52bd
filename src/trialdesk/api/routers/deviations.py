"""Protocol deviations: recorded by staff, or automatically when a visit falls outside its
window."""

from __future__ import annotations

from dataclasses import replace
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
from trialdesk.services.crf_entries import DeviationChanges, DeviationEntry, DeviationFilter
from trialdesk.services.deviations import (
    ReviewStatus,
    list_deviations,
    record_deviation,
    review_deviation,
    update_deviation,
)
from trialdesk.services.paging import Page as Paging
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


async def deviation_filter(
    participant_id: int | None = None,
    category: DeviationCategory | None = None,
    site_id: int | None = None,
    severity: DeviationSeverity | None = None,
    status: ReviewStatus | None = None,
) -> DeviationFilter:
    """The query filters as the service's `DeviationFilter` (FastAPI "Classes as
    Dependencies"); None = any."""
    return DeviationFilter(
        participant_id=participant_id,
        category=category,
        site_id=site_id,
        severity=severity,
        status=status,
    )


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
        replace(where, include_voided=include_voided),
        Paging(limit=page.limit, offset=page.offset),
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
    view = record_deviation(session, actor, participant_id, DeviationEntry(**body.model_dump()))
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
        DeviationChanges(
            expected_version=version,
            reason=body.reason or "",
            severity=body.severity,
            description=body.description,
            category=body.category,
            explanation=body.explanation,
        ),
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
