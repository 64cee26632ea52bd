"""Participants: registration (pseudonymous study id, identifying data kept apart), reading,
correction, end of participation, voiding, and what is derived from their stored data
(eligibility now, visit calendar, audit trail, casebook signatures)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS, error_responses
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change, VoidRequest
from trialdesk.services.crf_entries import Registration
from trialdesk.services.paging import Page as Paging
from trialdesk.services.participants import (
    IdentityCorrection,
    end_participation,
    find_participant,
    get_identity,
    get_participant,
    list_participants,
    register_participant,
    update_identity,
    update_participant,
)
from trialdesk.services.records import participant_history, void_participant
from trialdesk.services.screening import evaluate_eligibility
from trialdesk.services.signoff import list_signatures, sign_casebook, signature_state
from trialdesk.services.views import (
    AuditEntryView,
    EligibilityView,
    IdentityView,
    Page,
    ParticipantView,
    SignatureView,
    VisitCalendar,
)
from trialdesk.services.visits import visit_calendar
from trialdesk.store.enums import ParticipantStatus, StudyEndReason

router = APIRouter(prefix="/participants", tags=["participants"], route_class=EventLoopRoute)


class ParticipantCreate(Body):
    """Registration: the identifying fields go to the separate identity record."""

    site_code: str = Field(description="Site registering the participant, e.g. APGH")
    registered_on: date
    full_name: str
    date_of_birth: date
    sex: str | None = Field(None, description="F or M (SDTM DM.SEX)")
    medical_record_number: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


class ParticipantChange(Change):
    sex: str | None = None


class IdentityChange(Change):
    full_name: str | None = None
    date_of_birth: date | None = None
    medical_record_number: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


class ParticipationEnd(Body):
    ended_on: date
    end_reason: StudyEndReason
    reason: str | None = Field(None, description="Free-text explanation for the audit trail")


class SignatureRequest(Body):
    password: str = Field(description="The signer's password, re-entered (21 CFR 11.200(a))")
    code: str | None = Field(
        None, description="The authenticator code, for accounts with a second factor"
    )
    meaning: str | None = Field(
        None, description="What the signature means (default: the protocol's meaning)"
    )


class LaterChangeOut(BaseModel):
    what: str
    who: str
    when: datetime
    reason: str | None = None


class SignatureStateOut(BaseModel):
    """The latest signature and whether it still holds (21 CFR 11.50/11.70)."""

    state: str = Field(description="unsigned, valid, broken (data changed since) or invalid")
    summary: str = Field(description="Signed by <name>, <UTC time>, meaning: … (or why broken)")
    signature: SignatureView | None
    changes_after_signing: list[LaterChangeOut]
    earlier_signatures: list[SignatureView]


@router.get("", summary="Participants of the user's sites", responses=READ_ERRORS)
def get_participants(
    *,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    site_code: str | None = None,
    status_: Annotated[ParticipantStatus | None, Query(alias="status")] = None,
    include_voided: bool = False,
) -> Page[ParticipantView]:
    return list_participants(
        session,
        actor,
        site_code=site_code,
        status=status_,
        include_voided=include_voided,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a participant (study id <SITE>-NNN is assigned)",
    responses=CREATE_ERRORS,
)
def post_participant(
    body: ParticipantCreate, session: SessionDep, actor: ActorDep, response: Response
) -> ParticipantView:
    view = register_participant(session, actor, Registration(**body.model_dump()))
    set_etag(response, view.version)
    return view


@router.get("/by-study-id/{study_id}", summary="A participant by study id", responses=READ_ERRORS)
def get_by_study_id(
    study_id: str, session: SessionDep, actor: ActorDep, response: Response
) -> ParticipantView:
    view = find_participant(session, actor, study_id)
    set_etag(response, view.version)
    return view


@router.get("/{participant_id}", summary="One participant", responses=READ_ERRORS)
def get_one(
    participant_id: int, session: SessionDep, actor: ActorDep, response: Response
) -> ParticipantView:
    view = get_participant(session, actor, participant_id)
    set_etag(response, view.version)
    return view


@router.patch(
    "/{participant_id}", summary="Correct a participant (If-Match; reason)", responses=WRITE_ERRORS
)
def patch_participant(
    *,
    participant_id: int,
    body: ParticipantChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> ParticipantView:
    view = update_participant(
        session,
        actor,
        participant_id,
        expected_version=version,
        reason=body.reason or "",
        sex=body.sex,
    )
    set_etag(response, view.version)
    return view


@router.post(
    "/{participant_id}/end",
    summary="End participation (completed, death, lost to follow-up …; If-Match)",
    responses=WRITE_ERRORS,
)
def post_end(
    *,
    participant_id: int,
    body: ParticipationEnd,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> ParticipantView:
    """Consent withdrawal has its own endpoint (POST /consents/{id}/withdrawal)."""
    view = end_participation(
        session,
        actor,
        participant_id,
        ended_on=body.ended_on,
        end_reason=body.end_reason,
        expected_version=version,
        reason=body.reason,
    )
    set_etag(response, view.version)
    return view


@router.post(
    "/{participant_id}/void",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Void a participant registered in error (kept, marked voided; If-Match; reason)",
    responses=WRITE_ERRORS,
)
def post_void(
    participant_id: int,
    body: VoidRequest,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
) -> Response:
    void_participant(
        session, actor, participant_id, expected_version=version, reason=body.reason or ""
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{participant_id}/identity",
    tags=["identifying data"],
    summary="Identifying data (never for statisticians)",
    responses=READ_ERRORS,
)
def get_identity_data(
    participant_id: int, session: SessionDep, actor: ActorDep, response: Response
) -> IdentityView:
    view = get_identity(session, actor, participant_id)
    set_etag(response, view.version)
    return view


@router.patch(
    "/{participant_id}/identity",
    tags=["identifying data"],
    summary="Correct identifying data (If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_identity(
    *,
    participant_id: int,
    body: IdentityChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> IdentityView:
    fields = body.model_dump(exclude={"reason"}, exclude_none=True)
    view = update_identity(
        session,
        actor,
        participant_id,
        IdentityCorrection(**fields),
        expected_version=version,
        reason=body.reason or "",
    )
    set_etag(response, view.version)
    return view


@router.get(
    "/{participant_id}/eligibility",
    summary="Evaluate eligibility now from stored data (nothing is saved)",
    responses=READ_ERRORS,
)
def get_eligibility(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    on: Annotated[
        date | None,
        Query(description="Evaluation date (default: the latest screening's, else today)"),
    ] = None,
) -> EligibilityView:
    """Uses consent, date of birth, sex, the screening visit's measurements and ITT, and the
    findings of the latest screening; to keep a snapshot, POST a screening."""
    return evaluate_eligibility(session, actor, participant_id, on=on)


@router.get(
    "/{participant_id}/calendar",
    summary="Visit calendar: done, missed, due, overdue, upcoming",
    responses=READ_ERRORS,
)
def get_calendar(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    as_of: Annotated[date | None, Query(description="Reference date (default today)")] = None,
) -> VisitCalendar:
    return visit_calendar(session, actor, participant_id, as_of=as_of)


@router.get(
    "/{participant_id}/history",
    tags=["audit"],
    summary="Audit trail of everything recorded about the participant",
    responses=READ_ERRORS,
)
def get_history(
    participant_id: int, session: SessionDep, actor: ActorDep, page: PageDep
) -> Page[AuditEntryView]:
    return participant_history(
        session, actor, participant_id, page=Paging(limit=page.limit, offset=page.offset)
    )


@router.get(
    "/{participant_id}/signatures",
    summary="Investigator's casebook signatures",
    responses=READ_ERRORS,
)
def get_signatures(
    participant_id: int, session: SessionDep, actor: ActorDep, page: PageDep
) -> Page[SignatureView]:
    return page_of(list_signatures(session, actor, participant_id), page)


@router.post(
    "/{participant_id}/signatures",
    status_code=status.HTTP_201_CREATED,
    summary="Sign the casebook (investigators; password re-entered)",
    responses=error_responses(401, 403, 404, 409, 422, 423),
)
def post_signature(
    participant_id: int, body: SignatureRequest, session: SessionDep, actor: ActorDep
) -> SignatureView:
    return sign_casebook(
        session, actor, participant_id, password=body.password, code=body.code,
        meaning=body.meaning,
    )  # fmt: skip


@router.get(
    "/{participant_id}/signature-state",
    summary="Whether the casebook's latest signature still holds, and what changed since",
    responses=READ_ERRORS,
)
def get_signature_state(
    participant_id: int, session: SessionDep, actor: ActorDep
) -> SignatureStateOut:
    state = signature_state(session, actor, participant_id)
    return SignatureStateOut(
        state=state.state,
        summary=state.summary,
        signature=state.signature,
        changes_after_signing=[LaterChangeOut(**vars(c)) for c in state.changes],
        earlier_signatures=state.earlier,
    )
