"""Safety reporting (issue 14): reports of a serious adverse event sent to the sponsor, the
investigator's confirmation of causality/expectedness and CTCAE grade (a coordinator proposes),
the event's clocks (site 24 h; the sponsor's 7/15 days only for a confirmed SUSAR, ICH E2A III.A)
and CTCAE v5.0 grades suggested from laboratory values."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.safety_reporting import (
    confirm_causality,
    confirm_grade,
    lab_grade_suggestions,
    open_safety_clocks,
    propose_causality,
    record_safety_report,
    safety_status,
)
from trialdesk.services.views import (
    AdverseEventView,
    LabGradeSuggestion,
    SafetyClockRow,
    SafetyReportView,
    SafetyStatusView,
)
from trialdesk.store.enums import Relatedness

router = APIRouter(tags=["adverse events"], route_class=EventLoopRoute)
AE = "/adverse-events/{adverse_event_id}"


class ReportSent(Body):
    sent_at: datetime | None = Field(
        None, description="When the report was sent (with time zone; default now)"
    )
    recipient: str = Field("sponsor", description="To whom (default: the sponsor)")
    note: str | None = Field(None, description="What the report carried (e.g. new information)")


class Causality(Body):
    relatedness: Relatedness
    expected: bool | None = Field(
        None, description="Listed in the reference safety information (a confirmation needs it)"
    )
    note: str | None = None


class Grade(Body):
    grade: int = Field(description="CTCAE v5.0 grade 1–5")
    basis: str | None = Field(None, description="e.g. the suggestion from a laboratory value")


@router.get(AE + "/safety", summary="The event's reporting clocks, reports and judgements",
            responses=READ_ERRORS)  # fmt: skip
def get_safety(adverse_event_id: int, session: SessionDep, actor: ActorDep) -> SafetyStatusView:
    return safety_status(session, actor, adverse_event_id)


@router.post(
    AE + "/reports",
    status_code=status.HTTP_201_CREATED,
    summary="Record a report sent to the sponsor (initial, then follow-ups)",
    responses=CREATE_ERRORS,
)
def post_report(
    adverse_event_id: int, body: ReportSent, session: SessionDep, actor: ActorDep
) -> SafetyReportView:
    return record_safety_report(session, actor, adverse_event_id, **body.model_dump())


@router.post(
    AE + "/causality/proposal",
    summary="Propose relatedness and expectedness (If-Match)",
    responses=WRITE_ERRORS,
)
def post_proposal(
    *,
    adverse_event_id: int,
    body: Causality,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> AdverseEventView:
    view = propose_causality(
        session, actor, adverse_event_id, expected_version=version, **body.model_dump()
    )
    set_etag(response, view.version)
    return view


@router.post(
    AE + "/causality/confirmation",
    summary="Investigator: confirm relatedness and expectedness (If-Match)",
    responses=WRITE_ERRORS,
)
def post_confirmation(
    *,
    adverse_event_id: int,
    body: Causality,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> AdverseEventView:
    view = confirm_causality(
        session,
        actor,
        adverse_event_id,
        relatedness=body.relatedness,
        expected=body.expected,  # None is refused by the service, naming the field
        expected_version=version,
        note=body.note,
    )
    set_etag(response, view.version)
    return view


@router.post(
    AE + "/grade/confirmation",
    summary="Investigator: confirm or override the CTCAE v5.0 grade (If-Match)",
    responses=WRITE_ERRORS,
)
def post_grade(
    *,
    adverse_event_id: int,
    body: Grade,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> AdverseEventView:
    view = confirm_grade(
        session, actor, adverse_event_id, expected_version=version, **body.model_dump()
    )
    set_etag(response, view.version)
    return view


@router.get(
    "/safety/clocks",
    summary="Serious events with a report to send (24-hour clock, follow-ups)",
    responses=READ_ERRORS,
)
def get_clocks(session: SessionDep, actor: ActorDep) -> list[SafetyClockRow]:
    return open_safety_clocks(session, actor)


@router.get(
    "/participants/{participant_id}/lab-grade-suggestions",
    summary="CTCAE v5.0 grades the participant's laboratory values meet",
    responses=READ_ERRORS,
)
def get_suggestions(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    visit_code: str | None = None,
    adverse_event_id: int | None = None,
) -> list[LabGradeSuggestion]:
    return lab_grade_suggestions(
        session, actor, participant_id, visit_code=visit_code, adverse_event_id=adverse_event_id
    )
