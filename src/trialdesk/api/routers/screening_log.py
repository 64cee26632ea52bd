"""Screening-log entries of candidates who declined or were not consented (no identity kept):
counted in the CONSORT flow diagram as "declined to participate"."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.crf_entries import ScreeningLogEntry
from trialdesk.services.screening_declines import list_screening_declines, log_screening_decline
from trialdesk.services.views import Page, ScreeningDeclineView
from trialdesk.store.enums import ScreeningDeclineOutcome, ScreeningDeclineReason

router = APIRouter(tags=["screening"], route_class=EventLoopRoute)


class DeclineCreate(Body):
    site_code: str
    approached_on: date
    candidate_label: str = Field(description="Site screening number or initials, not the name")
    outcome: ScreeningDeclineOutcome
    reason_category: ScreeningDeclineReason
    reason: str | None = Field(None, description="Free text; required when the category is other")


@router.get(
    "/screening-declines",
    summary="Candidates who declined or were not consented, at the user's sites",
    responses=READ_ERRORS,
)
def get_declines(session: SessionDep, actor: ActorDep, page: PageDep) -> Page[ScreeningDeclineView]:
    return page_of(list_screening_declines(session, actor), page)


@router.post(
    "/screening-declines",
    status_code=status.HTTP_201_CREATED,
    summary="Log a candidate who declined or was not consented (screening log, CONSORT)",
    responses=CREATE_ERRORS,
)
def post_decline(body: DeclineCreate, session: SessionDep, actor: ActorDep) -> ScreeningDeclineView:
    return log_screening_decline(session, actor, ScreeningLogEntry(**body.model_dump()))
