"""Candidates who declined or were not consented, logged on the screening log from the web
(`services.screening_declines`: no identity kept; counted in the CONSORT flow diagram)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import (
    list_sites,
    log_screening_decline,
)
from trialdesk.services.crf_entries import ScreeningLogEntry
from trialdesk.services.errors import ServiceError
from trialdesk.services.validate import today
from trialdesk.store.enums import (
    ScreeningDeclineOutcome,
    ScreeningDeclineReason,
)
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.forms import given, read_form
from trialdesk.web.locks import entry_block
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import humanise, render

router = APIRouter(route_class=WebRoute)


DECLINE_LABELS = {
    "site_code": "Site",
    "approached_on": "Date approached",
    "candidate_label": "Screening number or initials",
    "outcome": "Outcome",
    "reason_category": "Reason category",
    "reason": "Reason, in the candidate's or your words",
}


def _options(enum: Any) -> list[tuple[str, str]]:
    return [(m.value, humanise(m.value).capitalize()) for m in enum]


def decline_page(
    request: Request,
    session: DB,
    user: WebUser,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status_code: int = 200,
) -> Response:
    sites = [(s.code, f"{s.code} — {s.name}") for s in list_sites(session, user.actor)]
    return render(
        request,
        "screening_decline.html",
        {
            "values": values,
            "errors": errors,
            "labels": DECLINE_LABELS,
            "sites": sites,
            "outcomes": _options(ScreeningDeclineOutcome),
            "reasons": _options(ScreeningDeclineReason),
        },
        status_code=status_code,
    )


@router.get("/screening/declined")
def new_decline(request: Request, session: DB, user: CurrentUser) -> Response:
    blocked = entry_block(session, user, None)
    if blocked:  # read-only with the reason (issue 14), not a form refused after filling
        return render(
            request,
            "read_only_page.html",
            {"title": "Candidate declined or not consented", "read_only": blocked,
             "labels": list(DECLINE_LABELS.values()), "back": "/screening/log",
             "back_text": "Screening log"},
        )  # fmt: skip
    sites = list_sites(session, user.actor)
    values = {"approached_on": today().isoformat(), "site_code": sites[0].code if sites else ""}
    return decline_page(request, session, user, values, {})


@router.post("/screening/declined")
async def save_decline(request: Request, session: DB, user: CurrentUser) -> Response:
    form = await read_form(request)
    on = form.date("approached_on", required=True)
    for name in ("site_code", "candidate_label", "outcome", "reason_category"):
        form.text(name, required=True)
    if not form.errors:
        try:
            log_screening_decline(
                session,
                user.actor,
                ScreeningLogEntry(
                    site_code=form.values["site_code"],
                    approached_on=given(on),
                    candidate_label=form.values["candidate_label"],
                    outcome=form.values["outcome"],
                    reason_category=form.values["reason_category"],
                    reason=form.values.get("reason"),
                ),
            )
            return RedirectResponse("/screening/log?done=declined", status_code=303)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {}, "reason")
    return decline_page(request, session, user, form.values, form.errors, status_code=422)
