"""One Save for a whole visit page (REDCap's "Save & Stay", "Save & Go To Next Form",
"Save & Exit Form"): the values of every block are read, then saved together by
`trialdesk.services.save_visit_forms` (all or nothing, each block through its own use case,
the transplantation and a new adverse event included). What cannot be read is handed to the
service with the rest, so every refusal (typing slips, rules, edit checks, values entered
meanwhile by someone else) comes back at once, each next to its field, with everything typed;
when saved, the message names every value saved and every query, deviation or SAE clock the
save raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import (
    EnteredMeanwhile,
    VisitFormProblems,
    VisitFormsEntry,
    VisitIttEntry,
    VisitValue,
    save_visit_forms,
)
from trialdesk.services.errors import ServiceError
from trialdesk.services.study import current_catalogue
from trialdesk.store.enums import FormStatus
from trialdesk.web.casebook import form_of
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import sentence, with_note
from trialdesk.web.forms import FormInput, ShownForm, read_form
from trialdesk.web.itt_codes import coded_samples
from trialdesk.web.pages.visits import ITT_ELEMENT, _samples, next_visit, planned, visit_page
from trialdesk.web.records import AE_BLOCK, AE_PREFIX, TX_BLOCK, TX_PREFIX, RecordKind, parse
from trialdesk.web.routing import WebRoute

T = TypeVar("T")

router = APIRouter(route_class=WebRoute)

INSULIN_FIELDS = ("total_units_per_day", "basal_units_per_day", "bolus_units_per_day")


#: Inputs the page fills in itself (a default date, a unit): typing starts elsewhere.
PREFILLED = ("tx_performed_on", "tx_weight_kg_unit")


def _block(form: FormInput, build: Callable[[FormInput], T | None]) -> T | None:
    """A block's values, or None when one of its inputs could not be read (the reason stays in
    `form.errors` and goes to the service with the blocks that could)."""
    before = set(form.errors)
    values = build(form)
    return None if set(form.errors) - before else values


def _record_block(form: FormInput, kind: RecordKind, prefix: str) -> dict[str, Any] | None:
    """A record block typed on the visit page (None when left empty), as the creator's keywords."""
    typed = [
        k for k, v in form.values.items()
        if k.startswith(prefix) and k not in PREFILLED and v.strip()
    ]  # fmt: skip
    if not typed and not any(form.many(f.name) for f in kind.fields if f.kind == "checks"):
        return None
    values = parse(kind, form, editing=False)
    return {name.removeprefix(prefix): value for name, value in values.items()}


def _measurements(form: FormInput, code: str, session: DB) -> list[VisitValue]:
    """Each value typed, or the missing-data code chosen instead (both: the service refuses,
    naming the field, rather than one of them being dropped here)."""
    catalogue = current_catalogue(session)
    entries = []
    for name in planned(code, session).assessments:
        if name not in catalogue or form_of(catalogue[name]) is None:
            continue
        value = form.values.get(name, "").strip()
        missing = form.values.get(f"{name}_missing", "").strip()
        if missing:
            reason = form.values.get(f"{name}_missing_reason", "")
            entries.append(VisitValue(name, value, None, missing, reason))
        elif value:
            entries.append(VisitValue(name, value, form.values.get(f"{name}_unit") or None))
    return entries


def _itt(form: FormInput) -> VisitIttEntry | None:
    typed = [k for k, v in form.values.items() if k.startswith(f"{ITT_ELEMENT}_") and v.strip()]
    if not any(k != f"{ITT_ELEMENT}_unit" for k in typed):
        return None
    samples = _samples(form)
    unit = form.text(f"{ITT_ELEMENT}_unit", required=True) or ""
    dose = form.number("insulin_dose_u_per_kg")
    return VisitIttEntry(samples, unit, dose, coded_samples(form.values))


def _insulin(form: FormInput) -> dict[str, Any] | None:
    names = [f"insulin_{n}" for n in (*INSULIN_FIELDS, "regimen")]
    if not any(form.values.get(n, "").strip() for n in names):
        return None
    values: dict[str, Any] = {"start_date": form.date("insulin_start_date", required=True)}
    values["total_units_per_day"] = form.number("insulin_total_units_per_day", required=True)
    for name in INSULIN_FIELDS[1:]:
        values[name] = form.number(f"insulin_{name}")
    values["regimen"] = form.text("insulin_regimen", max_length=200)
    return values


def _ogld(form: FormInput) -> dict[str, Any] | None:
    if not any(form.values.get(n, "").strip() for n in ("ogld_drug", "ogld_daily_dose_mg")):
        return None
    return {
        "start_date": form.date("ogld_start_date", required=True),
        "drug": form.text("ogld_drug", required=True),
        "daily_dose_mg": form.number("ogld_daily_dose_mg", required=True),
    }


def _statuses(form: FormInput, code: str, entry: VisitFormsEntry, session: DB) -> dict[str, str]:
    """The statuses chosen; a form that gets values and has none chosen becomes Incomplete
    (as REDCap sets it on a form's first save)."""
    catalogue = current_catalogue(session)
    with_values = {form_of(catalogue[v.element]) for v in entry.measurements}
    with_values |= {"itt"} if entry.itt else set()
    with_values |= {"dosing"} if entry.insulin or entry.ogld else set()
    with_values |= {"transplantation"} if entry.transplantation else set()
    with_values |= {"adverse_events"} if entry.adverse_event else set()
    allowed = {s.value for s in FormStatus}
    chosen: dict[str, str] = {}
    for name in planned(code, session).forms:
        value = form.values.get(f"status_{name}", "").strip()
        if value and value not in allowed:
            form.errors[f"status_{name}"] = f"{value!r} is not one of {', '.join(allowed)}"
        elif value:
            chosen[name] = value
        elif name in with_values:
            chosen[name] = FormStatus.INCOMPLETE.value
    return chosen


def _opened_with(form: FormInput) -> frozenset[str] | None:
    """The elements that had a value when the page was opened (the hidden input); None when the
    form does not say (then nothing can be checked)."""
    if "opened_with" not in form.values:
        return None
    return frozenset(filter(None, form.values["opened_with"].split(",")))


def _entry(form: FormInput, code: str, session: DB) -> VisitFormsEntry:
    """Every block of the page as typed; a block that could not be read is left out, its
    reasons kept in `form.errors` (handed to the service with the rest)."""
    plan = planned(code, session)
    entry = VisitFormsEntry(
        measurements=_measurements(form, code, session),
        itt=_block(form, _itt) if "itt" in plan.forms else None,
        insulin=_block(form, _insulin) if "dosing" in plan.forms else None,
        ogld=_block(form, _ogld) if "dosing" in plan.forms else None,
        transplantation=(
            _block(form, lambda f: _record_block(f, TX_BLOCK, TX_PREFIX))
            if "transplantation" in plan.forms
            else None
        ),
        adverse_event=_block(form, lambda f: _record_block(f, AE_BLOCK, AE_PREFIX)),
        opened_with=_opened_with(form),
    )
    statuses = _statuses(form, code, entry, session)
    return replace(entry, statuses=statuses, refused=dict(form.errors))


def _after(session: DB, pid: int, code: str, choice: str) -> str:
    following = next_visit(code, session)
    if choice == "next" and following:
        return f"/participants/{pid}/visits/{following}"
    if choice == "exit":
        return f"/participants/{pid}"
    return f"/participants/{pid}/visits/{code}"


@router.post("/participants/{pid}/visits/{code}/forms")
async def save_visit_page(
    request: Request, session: DB, user: CurrentUser, pid: int, code: str
) -> Response:
    plan = planned(code, session)
    form = await read_form(request)
    checks = {f.name: form.many(f.name) for f in AE_BLOCK.fields if f.kind == "checks"}
    if form.errors:  # an expired or foreign form token: nothing is checked or saved
        return visit_page(
            request,
            session,
            user,
            pid,
            code,
            form_dirty=True,
            shown=ShownForm(values=form.values, errors=form.errors, status_code=422, checks=checks),
        )
    status_code = 422
    try:
        done = save_visit_forms(session, user.actor, pid, code, _entry(form, code, session))
        text = sentence(done.saved, f"visit {plan.name} ({code})", done.raised)
        after = _after(session, pid, code, form.values.get("after", ""))
        return RedirectResponse(with_note(request, after, text), status_code=303)
    except EnteredMeanwhile as exc:
        form.errors.update(exc.problems)
        status_code = 409
    except VisitFormProblems as exc:
        form.errors.update(exc.problems)
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            raise
        form.refused(exc, {}, "visit")
    return visit_page(
        request,
        session,
        user,
        pid,
        code,
        form_dirty=True,
        shown=ShownForm(
            values=form.values, errors=form.errors, status_code=status_code, checks=checks
        ),
    )
