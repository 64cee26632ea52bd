"""Screening: the form generated from the protocol, judged live as values are typed.

``POST /screening/evaluate`` (htmx, every 300 ms of typing) returns the verdict panel plus, out
of band, the error text next to each field; it saves nothing. ``POST /screening`` registers the
candidate and saves the screening with its eligibility snapshot through the services; on an
error the whole form comes back with everything that was typed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.catalogue.missing import MISSING_CODES
from trialdesk.eligibility import Evaluator, InputError
from trialdesk.protocol import Protocol, catalogue_for
from trialdesk.services.accounts import list_sites
from trialdesk.services.editchecks import check_value, limit_check
from trialdesk.services.errors import ServiceError, ValidationProblem
from trialdesk.services.study import current_protocol
from trialdesk.services.validate import not_after_today, today
from trialdesk.units.convert import UnitError, convert, quantity
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.forms import csrf_errors
from trialdesk.web.locks import entry_block
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.screening_form import (
    FieldGroup,
    FormField,
    LiveEvaluation,
    all_fields,
    changed_verdicts,
    coded_errors,
    coded_from_form,
    coded_reasons,
    consent_errors,
    demography_groups,
    evaluate_form,
    raw_from_form,
    screening_groups,
    verdict_states,
)
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)

IDENTITY_FIELDS = ("site_code", "full_name", "medical_record_number")
#: The inputs beside a field that record it as missing (code, reason).
CODE_INPUTS = ("_missing", "_missing_reason")


_FORMS: dict[int, tuple[Protocol, Evaluator, list[FieldGroup]]] = {}


def study_form(
    session: Session | None = None, on: date | None = None
) -> tuple[Protocol, Evaluator, list[FieldGroup]]:
    """The evaluator and the form of the protocol version in force on `on` (the screening
    date typed; default today), built once per protocol object."""
    protocol = current_protocol(session, on)
    if id(protocol) not in _FORMS:
        catalogue = catalogue_for(protocol)
        _FORMS[id(protocol)] = (
            protocol,
            Evaluator(protocol, catalogue),
            screening_groups(protocol, catalogue) + demography_groups(protocol, catalogue),
        )
    return _FORMS[id(protocol)]


def _screening_date(form: dict[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(form.get("screening_date", "")).strip())
    except ValueError:
        return None


def _evaluate(
    form: dict[str, Any], session: Session
) -> tuple[LiveEvaluation, list[FieldGroup], Protocol]:
    """Judge what was typed: the services' edit checks first (a value beyond a hard limit is
    refused and counts as not recorded), then the criteria of the protocol version in force on
    the screening date."""
    protocol, evaluator, groups = study_form(session, _screening_date(form))
    fields = all_fields(groups)
    raw = raw_from_form(form, fields)
    errors = consent_errors(form)
    warnings: dict[str, str] = {}
    for f in fields:
        if f.name not in raw:
            continue
        problem, warning = edit_check(f, raw[f.name], raw.get(f"{f.name}_unit"))
        if problem:
            errors[f.name] = problem
        elif warning:
            warnings[f.name] = warning
    future = _future_screening_date(form)
    if future:
        errors["screening_date"] = future
    coded = coded_from_form(form, fields)
    errors.update(coded_errors(coded, raw))
    kept = {k: v for k, v in raw.items() if k.removesuffix("_unit") not in errors}
    live = evaluate_form(evaluator, kept, "candidate", coded=coded_reasons(coded, errors))
    live.errors = {**errors, **live.errors}
    live.warnings = {k: v for k, v in warnings.items() if k not in live.errors}
    return live, groups, protocol


def _future_screening_date(form: dict[str, Any]) -> str | None:
    """The save's own refusal of a screening date in the future (`validate.not_after_today`),
    so the live panel says it before the save does, in the same words."""
    on = _screening_date(form)
    if on is None:
        return None
    try:
        not_after_today(on, "screening_date")
    except ValidationProblem as exc:
        return exc.reason
    return None


def edit_check(f: FormField, raw: Any, unit: str | None) -> tuple[str | None, str | None]:
    """(reason refused, soft-limit warning) from the services' edit checks for one field."""
    kind = f.element.kind
    if kind not in (ElementKind.QUANTITY, ElementKind.SERIES):
        return None, None
    try:
        if kind is ElementKind.QUANTITY:
            query = check_value(f.element, raw, unit).query_text
        else:
            query = _check_samples(f, raw, unit)
    except ValidationProblem as exc:
        return exc.reason, None
    except InputError:
        return None, None  # unreadable: the evaluator reports it with its reason
    if query:
        return None, f"Outside the expected range: saving raises a data query ({query})"
    return None, None


def _check_samples(f: FormField, samples: dict[str, str], unit: str | None) -> str | None:
    queries = []
    for minute, text in samples.items():
        try:
            q = quantity(text, unit or "", analyte=f.element.analyte, field=f.name)
            mmol = float(convert(q, "mmol/L", analyte=f.element.analyte).magnitude)
        except UnitError:
            continue  # the evaluator names it
        _flag, query = limit_check(f.element, mmol, f"{text} {unit} at {minute} min")
        if query:
            queries.append(query)
    return "; ".join(queries) or None


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
    *,
    status_code: int = 200,
) -> Response:
    live, groups, protocol = _evaluate(values, session)
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
            "warning_names": [],
            "verdict_states": verdict_states,
            "missing_codes": MISSING_CODES,
        },
        status_code=status_code,
    )


@router.get("/screening/new", include_in_schema=False)
def new_screening(request: Request, session: DB, user: CurrentUser) -> Response:
    """The live screening form; read-only with the reason for a role that may not write or
    while the study is locked (issue 14)."""
    blocked = entry_block(session, user, None)
    if blocked:
        _live, groups, _protocol = _evaluate({}, session)
        labels = [f.label for f in all_fields(groups)]
        return render(
            request,
            "read_only_page.html",
            {"title": "Screen a candidate", "read_only": blocked, "labels": labels,
             "back": "", "back_text": ""},
        )  # fmt: skip
    return screening_page(request, session, user, {"screening_date": today().isoformat()}, {})


@router.post("/screening/evaluate", include_in_schema=False)
async def evaluate_screening(request: Request, session: DB, user: CurrentUser) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    live, groups, _protocol = _evaluate(form, session)
    fields = all_fields(groups)
    names = [n for f in fields for n in (f.input_names if f.kind == "consent" else [f.name])]
    names += [f"{f.name}{suffix}" for f in fields if f.codable for suffix in CODE_INPUTS]
    quantities = [f.name for f in fields if f.kind == "quantity"]
    return render(
        request,
        "_screening_result.html",
        {
            "live": live,
            "oob": True,
            "field_names": names,
            "warning_names": quantities,
            "verdict_states": verdict_states,
            "changes": changed_verdicts(form.get("verdicts_shown", ""), live.result),
        },
    )


@router.post("/screening", include_in_schema=False)
async def save_screening(request: Request, session: DB, user: CurrentUser) -> Response:
    from trialdesk.web.screening_save import save_screening_form

    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form.pop("csrf_token", None)
    live, groups, protocol = _evaluate(form, session)
    errors = {**csrf_errors(request), **live.errors}
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
    coded = coded_from_form(form, all_fields(groups))
    try:
        participant_id = save_screening_form(session, user.actor, form, raw, coded)
    except ServiceError as exc:
        errors[exc.field or "form"] = exc.message if not exc.field else _reason(exc)
        return screening_page(request, session, user, form, errors, status_code=exc.status)
    return RedirectResponse(f"/participants/{participant_id}?done=screened", status_code=303)


def _reason(exc: ServiceError) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else exc.message
