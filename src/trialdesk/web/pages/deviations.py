"""The protocol-deviation log (filter by site, participant, category, classification, review;
classify, explain, investigator sign-off) and the live visit-window check of the visit page, on
`services.deviations` and `services.windows`: the same rules as the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import (
    check_visit_window,
    get_participant,
    list_deviations,
    list_participants,
    list_sites,
    review_deviation,
    update_deviation,
)
from trialdesk.services.crf_entries import DeviationChanges, DeviationFilter
from trialdesk.services.deviations import ReviewStatus
from trialdesk.services.errors import ServiceError
from trialdesk.services.paging import Page
from trialdesk.services.records import get_clinical_record
from trialdesk.services.views import DeviationView
from trialdesk.store.enums import (
    DeviationCategory,
    DeviationSeverity,
)
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.forms import FormInput, given, read_form
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import humanise, render

router = APIRouter(route_class=WebRoute)


def _options(enum: Any) -> list[tuple[str, str]]:
    return [(m.value, humanise(m.value).capitalize()) for m in enum]


SEVERITY_TEXT = {
    "major": "Major (important deviation, ICH E3 10.2)",
    "minor": "Minor",
}


# --- deviation log ------------------------------------------------------------------------------


_MAX_ID_DIGITS = 9
"""Longest id typed into a filter that is still looked up (fits a 32-bit integer)."""


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) <= _MAX_ID_DIGITS else None


@router.get("/deviations")
def deviation_log(request: Request, session: DB, user: CurrentUser) -> Response:
    """Every deviation at the user's sites, filtered by site, participant, category, status."""
    q = request.query_params
    chosen = {k: q.get(k, "") for k in ("site", "participant", "category", "severity", "status")}
    page = list_deviations(
        session,
        user.actor,
        DeviationFilter(
            site_id=_int(chosen["site"]),
            participant_id=_int(chosen["participant"]),
            category=chosen["category"] or None,
            severity=chosen["severity"] or None,
            status=chosen["status"] or None,
        ),
        Page(limit=500),
    )
    participants = list_participants(session, user.actor, limit=500).items
    return render(
        request,
        "deviations.html",
        {
            "rows": page.items,
            "total": page.total,
            "chosen": chosen,
            "sites": [(str(s.id), f"{s.code} — {s.name}") for s in list_sites(session, user.actor)],
            "participants": [(str(p.id), p.study_id) for p in participants],
            "study_ids": {p.id: p.study_id for p in participants},
            "categories": _options(DeviationCategory),
            "severities": [(s.value, SEVERITY_TEXT[s.value]) for s in DeviationSeverity],
            "statuses": _options(ReviewStatus),
        },
    )


def _deviation(session: DB, user: WebUser, did: int) -> DeviationView:
    return DeviationView.model_validate(
        get_clinical_record(session, user.actor, "protocol_deviations", did)
    )


def deviation_page(
    request: Request,
    session: DB,
    user: WebUser,
    did: int,
    values: dict[str, str] | None = None,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    dev = _deviation(session, user, did)
    participant = get_participant(session, user.actor, dev.participant_id)
    current = {
        "category": dev.category.value,
        "severity": dev.severity.value,
        "explanation": dev.explanation or "",
    }
    return render(
        request,
        "deviation.html",
        {
            "dev": dev,
            "participant": participant,
            "values": {**current, **(values or {})},
            "errors": errors or {},
            "labels": {"review_comment": "Review comment", "explanation": "Explanation"},
            "categories": _options(DeviationCategory),
            "severities": [(s.value, SEVERITY_TEXT[s.value]) for s in DeviationSeverity],
            "can_write": user.can("write_clinical"),
            "can_sign": user.can("sign"),
        },
        status_code=status_code,
    )


@router.get("/deviations/{did}")
def show_deviation(request: Request, session: DB, user: CurrentUser, did: int) -> Response:
    return deviation_page(request, session, user, did)


async def _deviation_form(
    request: Request, session: DB, user: WebUser, did: int, call: Any, *, default: str
) -> Response:
    form = await read_form(request)
    version = form.integer("version", required=True)
    if not form.errors:
        try:
            call(form, given(version))
            return RedirectResponse(f"/deviations/{did}?done=saved", status_code=303)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {"comment": "review_comment"}, default)
    return deviation_page(
        request, session, user, did, form.values, errors=form.errors, status_code=422
    )


@router.post("/deviations/{did}")
async def classify_deviation(
    request: Request, session: DB, user: CurrentUser, did: int
) -> Response:
    def call(form: FormInput, version: int) -> None:
        update_deviation(
            session,
            user.actor,
            did,
            DeviationChanges(
                expected_version=version,
                reason=form.values.get("reason", ""),
                category=form.values.get("category") or None,
                severity=form.values.get("severity") or None,
                explanation=form.values.get("explanation", ""),
            ),
        )

    return await _deviation_form(request, session, user, did, call, default="reason")


@router.post("/deviations/{did}/review")
async def sign_deviation(request: Request, session: DB, user: CurrentUser, did: int) -> Response:
    def call(form: FormInput, version: int) -> None:
        review_deviation(
            session,
            user.actor,
            did,
            expected_version=version,
            comment=form.values.get("review_comment", ""),
        )

    return await _deviation_form(request, session, user, did, call, default="review_comment")


# --- live visit-window check --------------------------------------------------------------------


@router.post("/participants/{pid}/visits/{code}/window")
async def window_check(
    request: Request, session: DB, user: CurrentUser, pid: int, code: str
) -> Response:
    """The window verdict for the date being typed (htmx), when a visit is recorded and when its
    date is corrected; the same rule the save applies. The participant is looked up once: by
    the check itself, or (no date yet) only to refuse another site's participant."""
    form = await read_form(request)
    on = form.date("visit_date")
    window = None
    if on is None:
        get_participant(session, user.actor, pid)  # another site's participant: not found
    else:
        try:
            window = check_visit_window(session, user.actor, pid, code=code, visit_date=on)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {}, "visit_date")
    return render(
        request,
        "_window_check.html",
        {"window": window, "values": form.values, "errors": form.errors},
    )
