"""Participants: the list, the casebook, and the consent / enrollment / re-screening actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import (
    enroll_participant,
    list_participants,
    list_screenings,
    list_sites,
    record_consent,
    screen_participant,
    withdraw_consent,
)
from trialdesk.services.errors import ServiceError
from trialdesk.services.form_status import list_form_statuses
from trialdesk.services.locks import list_locks
from trialdesk.services.signoff import signature_state
from trialdesk.services.validate import today
from trialdesk.store.enums import ParticipantStatus
from trialdesk.web.casebook import build_casebook
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.forms import FormInput, given, read_form
from trialdesk.web.locks import lock_rights
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)

PAGE_SIZE = 50


@router.get("/participants")
def participants(
    *,
    request: Request,
    session: DB,
    user: CurrentUser,
    status: str = "",
    site: str = "",
    page: int = 1,
) -> Response:
    statuses = [s.value for s in ParticipantStatus]
    chosen_status = status if status in statuses else None
    page = max(page, 1)
    listing = list_participants(
        session,
        user.actor,
        site_code=site or None,
        status=chosen_status,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "participants.html",
        {
            "listing": listing,
            "statuses": statuses,
            "status": chosen_status or "",
            "site": site,
            "sites": list_sites(session, user.actor),
            "page": page,
            "pages": max(1, -(-listing.total // PAGE_SIZE)),
        },
    )


def casebook_page(
    request: Request,
    session: DB,
    user: WebUser,
    participant_id: int,
    values: dict[str, str] | None = None,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    book = build_casebook(session, user, participant_id)
    locked = lock_rights(session, user, participant_id)
    defaults = {
        "enrolled_on": today().isoformat(),
        "consented_on": today().isoformat(),
        "withdrawn_on": today().isoformat(),
        "unscheduled_date": today().isoformat(),
        "screened_on": _screening_visit_date(book) or today().isoformat(),
    }
    return render(
        request,
        "casebook.html",
        {
            "book": book,
            "values": {**defaults, **(values or {})},
            "errors": errors or {},
            **locked,
            "signature": signature_state(session, user.actor, participant_id),
            "locks": list_locks(session, user.actor, participant_id, active_only=True),
            "can_sign": user.can("sign"),
            "can_override": user.can("override_enrollment_target"),
            "can_audit": user.can("read_audit"),
            "can_raise": user.can("raise_query"),
            "form_statuses": form_statuses_by_visit(session, user, participant_id),
        },
        status_code=status_code,
    )


def form_statuses_by_visit(session: DB, user: WebUser, pid: int) -> dict[str, list[Any]]:
    """Visit code → its forms' statuses (REDCap's form status, shown in the calendar)."""
    by_visit: dict[str, list[Any]] = {}
    for status in list_form_statuses(session, user.actor, pid):
        by_visit.setdefault(status.visit_code, []).append(status)
    return by_visit


def _screening_visit_date(book: Any) -> str | None:
    for entry in book.calendar.visits:
        if entry.code == "SCR" and entry.visit_date is not None:
            return str(entry.visit_date.isoformat())
    return None


@router.get("/participants/{participant_id}")
def casebook(request: Request, session: DB, user: CurrentUser, participant_id: int) -> Response:
    return casebook_page(request, session, user, participant_id)


def _done(participant_id: int, flash: str, anchor: str = "") -> Response:
    suffix = f"#{anchor}" if anchor else ""
    return RedirectResponse(f"/participants/{participant_id}?done={flash}{suffix}", status_code=303)


@dataclass(frozen=True)
class _Action:
    """A casebook action: the service call, the field a refusal is shown on, and the word the
    casebook's confirmation (`?done=`) shows on success."""

    call: Callable[[], object]
    default_field: str
    flash: str


async def _act(
    request: Request,
    session: DB,
    user: WebUser,
    participant_id: int,
    form: FormInput,
    *,
    action: _Action,
) -> Response:
    """Run a casebook action; on refusal, show the casebook again with the reason and input."""
    if not form.errors:
        try:
            action.call()
            return _done(participant_id, action.flash)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {}, action.default_field)
    return casebook_page(
        request, session, user, participant_id, form.values, errors=form.errors, status_code=422
    )


@router.post("/participants/{participant_id}/consent")
async def add_consent(
    request: Request, session: DB, user: CurrentUser, participant_id: int
) -> Response:
    form = await read_form(request)
    version = form.text("form_version", required=True, max_length=50)
    on = form.date("consented_on", required=True)
    return await _act(
        request,
        session,
        user,
        participant_id,
        form,
        action=_Action(
            lambda: record_consent(
                session,
                user.actor,
                participant_id,
                form_version=version or "",
                consented_on=given(on),
            ),
            default_field="form_version",
            flash="consented",
        ),
    )


@router.post("/participants/{participant_id}/consents/{consent_id}/withdraw")
async def withdraw(
    request: Request, session: DB, user: CurrentUser, participant_id: int, consent_id: int
) -> Response:
    form = await read_form(request)
    on = form.date("withdrawn_on", required=True)
    version = form.integer("version", required=True)
    why = form.text("withdrawal_reason")
    return await _act(
        request,
        session,
        user,
        participant_id,
        form,
        action=_Action(
            lambda: withdraw_consent(
                session,
                user.actor,
                consent_id,
                withdrawn_on=given(on),
                expected_version=version or 0,
                withdrawal_reason=why,
            ),
            default_field="withdrawn_on",
            flash="saved",
        ),
    )


@router.post("/participants/{participant_id}/enroll")
async def enroll(request: Request, session: DB, user: CurrentUser, participant_id: int) -> Response:
    form = await read_form(request)
    on = form.date("enrolled_on", required=True)
    override = form.text("override_reason")
    return await _act(
        request,
        session,
        user,
        participant_id,
        form,
        action=_Action(
            lambda: enroll_participant(
                session, user.actor, participant_id, enrolled_on=given(on), override_reason=override
            ),
            default_field="enrolled_on",
            flash="enrolled",
        ),
    )


@router.post("/participants/{participant_id}/rescreen")
async def rescreen(
    request: Request, session: DB, user: CurrentUser, participant_id: int
) -> Response:
    """Evaluate the criteria again from the corrected stored data and the last findings."""
    form = await read_form(request)
    on = form.date("screened_on", required=True)
    previous = [s for s in list_screenings(session, user.actor, participant_id) if not s.voided]
    findings = max(previous, key=lambda s: (s.screened_on, s.id)).findings if previous else {}
    return await _act(
        request,
        session,
        user,
        participant_id,
        form,
        action=_Action(
            lambda: screen_participant(
                session, user.actor, participant_id, screened_on=given(on), findings=findings
            ),
            default_field="screened_on",
            flash="screened",
        ),
    )
