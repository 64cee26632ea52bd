"""Screening: the form generated from the protocol, judged live as values are typed.

``POST /screening/evaluate`` (htmx, every 300 ms of typing) returns the verdict panel plus, out
of band, the error text next to each field; it saves nothing. ``POST /screening`` registers the
candidate and saves the screening with its eligibility snapshot through the services; on an
error the whole form comes back with everything that was typed.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.catalogue import Catalogue
from trialdesk.eligibility import Evaluator
from trialdesk.protocol import Protocol
from trialdesk.services.accounts import list_sites
from trialdesk.services.actor import Permission
from trialdesk.services.errors import ServiceError
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.validate import today
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.screening_form import (
    FieldGroup,
    LiveEvaluation,
    all_fields,
    evaluate_form,
    raw_from_form,
    screening_groups,
)
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)

IDENTITY_FIELDS = ("site_code", "full_name", "medical_record_number")


@cache
def _form_for(protocol: Protocol, catalogue: Catalogue) -> tuple[Evaluator, list[FieldGroup]]:
    return Evaluator(protocol, catalogue), screening_groups(protocol, catalogue)


def study_form() -> tuple[Protocol, Evaluator, list[FieldGroup]]:
    protocol = current_protocol()
    evaluator, groups = _form_for(protocol, current_catalogue())
    return protocol, evaluator, groups


def _screening_date(form: dict[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(form.get("screening_date", "")).strip())
    except ValueError:
        return None


def _evaluate(form: dict[str, Any]) -> tuple[LiveEvaluation, list[FieldGroup], Protocol]:
    protocol, evaluator, groups = study_form()
    raw = raw_from_form(form, all_fields(groups))
    return evaluate_form(evaluator, raw, "candidate"), groups, protocol


def _labels(groups: list[FieldGroup]) -> dict[str, str]:
    labels = {f.name: f.label for f in all_fields(groups)}
    labels.update(
        site_code="Site", full_name="Full name", medical_record_number="Medical record number"
    )
    return labels


def screening_page(
    request: Request,
    session: DB,
    user: WebUser,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    live, groups, protocol = _evaluate(values)
    sites = [(s.code, f"{s.code} — {s.name}") for s in list_sites(session, user.actor)]
    return render(
        request,
        "screening.html",
        {
            "protocol": protocol,
            "groups": groups,
            "values": values,
            "errors": errors,
            "live": live,
            "sites": sites,
            "labels": _labels(groups),
            "oob": False,
            "field_names": [],
        },
        status_code=status_code,
    )


@router.get("/screening/new", include_in_schema=False)
def new_screening(request: Request, session: DB, user: CurrentUser) -> Response:
    from trialdesk.services.access import require

    require(user.actor, Permission.WRITE_CLINICAL)
    return screening_page(request, session, user, {"screening_date": today().isoformat()}, {})


@router.post("/screening/evaluate", include_in_schema=False)
async def evaluate_screening(request: Request, user: CurrentUser) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    live, groups, _protocol = _evaluate(form)
    names = [f.name for f in all_fields(groups)]
    return render(
        request,
        "_screening_result.html",
        {"live": live, "oob": True, "field_names": names},
    )


@router.post("/screening", include_in_schema=False)
async def save_screening(request: Request, session: DB, user: CurrentUser) -> Response:
    from trialdesk.web.screening_save import save_screening_form

    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form.pop("csrf_token", None)
    live, groups, protocol = _evaluate(form)
    errors = dict(live.errors)
    for name in ("site_code", "full_name"):
        if not str(form.get(name, "")).strip():
            errors[name] = "is required"
    if "date_of_birth" not in errors and not form.get("date_of_birth"):
        errors["date_of_birth"] = "is required to register the candidate"
    if "screening_date" not in errors and _screening_date(form) is None:
        errors["screening_date"] = "is required (YYYY-MM-DD)"
    if errors:
        return screening_page(request, session, user, form, errors, status_code=422)
    raw = raw_from_form(form, all_fields(groups))
    try:
        participant_id = save_screening_form(session, user.actor, form, raw, live)
    except ServiceError as exc:
        errors[exc.field or "form"] = exc.message if not exc.field else _reason(exc)
        return screening_page(request, session, user, form, errors, status_code=exc.status)
    return RedirectResponse(f"/participants/{participant_id}?done=screened", status_code=303)


def _reason(exc: ServiceError) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else exc.message
