"""Informed consent (form version, date, who obtained it) and its withdrawal."""

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
from trialdesk.services.consent import (
    list_consents,
    record_consent,
    update_consent,
    withdraw_consent,
)
from trialdesk.services.protocol_versions import get_reconsent_due, list_reconsent_due
from trialdesk.services.views import ConsentView, Page, ReconsentDueView

router = APIRouter(tags=["consent"], route_class=EventLoopRoute)


class ConsentCreate(Body):
    form_version: str = Field(description="Version of the consent form signed, e.g. 2.1")
    consented_on: date
    obtained_by: int | None = Field(
        None, description="User id of the investigator/coordinator (default: the caller)"
    )


class ConsentChange(Change):
    form_version: str | None = None
    consented_on: date | None = Field(
        None, description="Must still precede every trial procedure (ICH E6(R2) 4.8.8)"
    )


class ConsentWithdrawal(Body):
    withdrawn_on: date
    withdrawal_reason: str | None = Field(
        None, description="Optional: a participant need not give a reason (ICH E6(R2) 4.3.4)"
    )


@router.get(
    "/participants/{participant_id}/consents",
    summary="Consents of a participant",
    responses=READ_ERRORS,
)
def get_consents(
    participant_id: int,
    session: SessionDep,
    actor: ActorDep,
    page: PageDep,
    include_voided: bool = False,
) -> Page[ConsentView]:
    rows = list_consents(session, actor, participant_id, include_voided=include_voided)
    return page_of(rows, page)


@router.post(
    "/participants/{participant_id}/consents",
    status_code=status.HTTP_201_CREATED,
    summary="Record signed informed consent",
    responses=CREATE_ERRORS,
)
def post_consent(
    participant_id: int,
    body: ConsentCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> ConsentView:
    view = record_consent(session, actor, participant_id, **body.model_dump())
    set_etag(response, view.version)
    return view


@router.patch(
    "/consents/{consent_id}",
    summary="Correct a consent's form version or date (If-Match; reason)",
    responses=WRITE_ERRORS,
)
def patch_consent(
    *,
    consent_id: int,
    body: ConsentChange,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> ConsentView:
    fields = body.model_dump(exclude={"reason"})
    view = update_consent(
        session, actor, consent_id, expected_version=version, reason=body.reason or "", **fields
    )
    set_etag(response, view.version)
    return view


@router.post(
    "/consents/{consent_id}/withdrawal",
    summary="Record withdrawal of consent (stops further data entry; keeps all data; If-Match)",
    responses=WRITE_ERRORS,
)
def post_withdrawal(
    *,
    consent_id: int,
    body: ConsentWithdrawal,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> ConsentView:
    view = withdraw_consent(
        session,
        actor,
        consent_id,
        withdrawn_on=body.withdrawn_on,
        withdrawal_reason=body.withdrawal_reason,
        expected_version=version,
    )
    set_etag(response, view.version)
    return view


add_record_routes(router, "/consents", "consents", "consent", ConsentView)


@router.get(
    "/reconsent-due",
    summary="Participants who must sign the consent form a protocol amendment introduced",
    responses=READ_ERRORS,
)
def get_reconsent_list(session: SessionDep, actor: ActorDep) -> list[ReconsentDueView]:
    """Re-consent by posting a consent on the required form version
    (POST /participants/{participant_id}/consents); the earlier consent stays in the history."""
    return list_reconsent_due(session, actor)


@router.get(
    "/participants/{participant_id}/reconsent",
    summary="The re-consent a participant owes (null when none)",
    responses=READ_ERRORS,
)
def get_participant_reconsent(
    participant_id: int, session: SessionDep, actor: ActorDep
) -> ReconsentDueView | None:
    return get_reconsent_due(session, actor, participant_id)
