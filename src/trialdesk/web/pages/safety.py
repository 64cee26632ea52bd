"""Safety reporting on the adverse-event page (issue 14): the site's 24-hour clock and the
reports sent to the sponsor, causality and expectedness proposed by site staff and confirmed by
an investigator (history: who, when), the sponsor's SUSAR clock only once it is a confirmed
SUSAR, and CTCAE v5.0 grades suggested from laboratory values, which the investigator confirms
or overrides. Every action calls `services.safety_reporting`, the same rules as the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from trialdesk.derive.reporting import time_left_text
from trialdesk.services import (
    confirm_causality,
    confirm_grade,
    get_adverse_event,
    lab_grade_suggestions,
    propose_causality,
    record_safety_report,
    safety_status,
)
from trialdesk.services.errors import ServiceError, ValidationProblem
from trialdesk.store.enums import Relatedness
from trialdesk.store.types import utcnow
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import with_note
from trialdesk.web.forms import FormInput, ShownForm, read_form
from trialdesk.web.routing import WebRoute, WebUser

router = APIRouter(route_class=WebRoute)

RELATEDNESS: tuple[tuple[str, str], ...] = tuple(
    (m.value, m.value.replace("_", " ")) for m in Relatedness
)
# Each action's form fields, for the refusals the services name.
FIELDS = {"relatedness", "expected", "grade", "basis", "note", "sent_at", "recipient"}


def safety_context(session: Session, user: WebUser, view: Any) -> dict[str, Any]:
    """What the adverse-event page shows about reporting and judgements."""
    status = safety_status(session, user.actor, view.id)
    suggestions = lab_grade_suggestions(
        session, user.actor, view.participant_id, adverse_event_id=view.id
    )
    now = utcnow()
    return {
        "status": status,
        "suggestions": suggestions,
        "site_left": (
            time_left_text(status.site_report_due_at, now) if status.site_report_due_at else ""
        ),
        "relatedness_options": RELATEDNESS,
        "can_confirm": user.can("confirm_safety"),
        "now_local": "",
    }


def _zone(request: Request) -> ZoneInfo:
    try:
        return ZoneInfo(str(getattr(request.state, "site_zone", "UTC") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_datetime(form: FormInput, name: str, zone: ZoneInfo) -> datetime | None:
    """A `datetime-local` value read in the site's time zone (None when blank)."""
    text = form.text(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        form.errors[name] = f"{text!r} is not a date and time (YYYY-MM-DD HH:MM)"
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _expected(form: FormInput) -> bool | None:
    return {"yes": True, "no": False}.get(form.values.get("expected", ""))


async def _act(
    request: Request,
    session: Session,
    user: WebUser,
    rid: int,
    action: Callable[[FormInput, int], str],
) -> Response:
    """Run one action; back to the event page with what was done, or with the refusal."""
    from trialdesk.web.pages.records import RecordShown, record_page
    from trialdesk.web.records import KINDS

    view = get_adverse_event(session, user.actor, rid)
    form = await read_form(request)
    version = form.integer("version") or view.version
    here = f"/participants/{view.participant_id}/records/adverse_events/{rid}"
    if not form.errors:
        try:
            done = action(form, version)
            return RedirectResponse(with_note(request, here + "#safety", done), status_code=303)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {}, "safety")
    fresh = get_adverse_event(session, user.actor, rid)
    errors = {f"safety_{k}" if k in FIELDS else "safety": v for k, v in form.errors.items()}
    return record_page(
        request,
        session,
        user,
        KINDS["adverse_events"],
        fresh.participant_id,
        view=fresh,
        state=RecordShown(
            form=ShownForm(errors=errors, status_code=422), safety_values=form.values
        ),
    )


@router.post("/adverse-events/{rid}/safety/report")
async def report_sent(request: Request, session: DB, user: CurrentUser, rid: int) -> Response:
    zone = _zone(request)

    def action(form: FormInput, _version: int) -> str:
        sent_at = local_datetime(form, "sent_at", zone)
        if form.errors:
            raise _FormProblem(form)
        report = record_safety_report(
            session,
            user.actor,
            rid,
            sent_at=sent_at,
            recipient=form.values.get("recipient", "").strip() or "sponsor",
            note=form.values.get("note"),
        )
        return f"The {report.label} to the {report.recipient} is recorded."

    return await _act(request, session, user, rid, action)


@router.post("/adverse-events/{rid}/safety/propose")
async def propose(request: Request, session: DB, user: CurrentUser, rid: int) -> Response:
    def action(form: FormInput, version: int) -> str:
        propose_causality(
            session,
            user.actor,
            rid,
            relatedness=form.values.get("relatedness", ""),
            expected=_expected(form),
            expected_version=version,
            note=form.values.get("note"),
        )
        return "Causality and expectedness proposed: an investigator confirms them."

    return await _act(request, session, user, rid, action)


@router.post("/adverse-events/{rid}/safety/confirm-causality")
async def confirm(request: Request, session: DB, user: CurrentUser, rid: int) -> Response:
    def action(form: FormInput, version: int) -> str:
        confirm_causality(
            session,
            user.actor,
            rid,
            relatedness=form.values.get("relatedness", ""),
            expected=_expected(form),
            expected_version=version,
            note=form.values.get("note"),
        )
        return "Causality and expectedness confirmed."

    return await _act(request, session, user, rid, action)


@router.post("/adverse-events/{rid}/safety/confirm-grade")
async def grade(request: Request, session: DB, user: CurrentUser, rid: int) -> Response:
    def action(form: FormInput, version: int) -> str:
        value = form.integer("grade", required=True)
        if value is None:
            raise _FormProblem(form)
        confirm_grade(
            session,
            user.actor,
            rid,
            grade=value,
            expected_version=version,
            basis=form.values.get("basis"),
        )
        return f"CTCAE grade {value} confirmed."

    return await _act(request, session, user, rid, action)


def _FormProblem(form: FormInput) -> ValidationProblem:  # raised like a class
    """A value the form could not read: refused next to its field like a service refusal."""
    field, reason = next(iter(form.errors.items()))
    form.errors.clear()
    return ValidationProblem(field, reason)
