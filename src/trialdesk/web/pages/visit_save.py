"""One Save for a whole visit page (REDCap's "Save & Stay", "Save & Go To Next Form",
"Save & Exit Form"): the values of every block are read, then saved together by
`trialdesk.services.save_visit_forms` (all or nothing, each block through its own use case).
When anything is refused, the page comes back with everything typed and each reason next to its
field; when saved, the message names every value saved and every query, deviation or SAE clock
the save raised.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import (
    VisitFormProblems,
    VisitFormsEntry,
    VisitIttEntry,
    VisitValue,
    list_measurements,
    save_visit_forms,
)
from trialdesk.services.errors import ServiceError
from trialdesk.services.study import current_catalogue
from trialdesk.store.enums import FormStatus
from trialdesk.web.casebook import form_of
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import sentence, with_note
from trialdesk.web.forms import FormInput, read_form
from trialdesk.web.itt_codes import coded_samples
from trialdesk.web.pages.visits import ITT_ELEMENT, _samples, next_visit, planned, visit_page
from trialdesk.web.routing import WebRoute, WebUser

router = APIRouter(route_class=WebRoute)

INSULIN_FIELDS = ("total_units_per_day", "basal_units_per_day", "bolus_units_per_day")


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


def live_elements(session: DB, user: WebUser, pid: int, code: str) -> set[str]:
    """Elements with a live (non-voided) value at the visit."""
    rows = list_measurements(session, user.actor, participant_id=pid, visit_code=code, limit=500)
    return {m.element for m in rows.items}


def _entered_meanwhile(
    session: DB, user: WebUser, pid: int, code: str, form: FormInput, entry: VisitFormsEntry
) -> None:
    """A value typed into an empty field that someone else filled since the page was opened is
    not added as a second value: the user is told, with their value, and nothing is saved."""
    opened = set(filter(None, form.values.get("opened_with", "").split(",")))
    if "opened_with" not in form.values:
        return
    now = live_elements(session, user, pid, code)
    for value in entry.measurements:
        if value.element in now - opened:
            typed = f"{value.value} {value.unit or ''}".strip()
            form.errors[value.element] = (
                f"was entered by someone else while you were typing (see the saved value above); "
                f"yours, {typed}, was not saved: if yours is right, correct the saved value"
            )


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
    entry = VisitFormsEntry(
        measurements=_measurements(form, code, session),
        itt=_itt(form) if "itt" in plan.forms else None,
        insulin=_insulin(form) if "dosing" in plan.forms else None,
        ogld=_ogld(form) if "dosing" in plan.forms else None,
    )
    entry = VisitFormsEntry(**{**entry.__dict__, "statuses": _statuses(form, code, entry, session)})
    _entered_meanwhile(session, user, pid, code, form, entry)
    if not form.errors:
        try:
            done = save_visit_forms(session, user.actor, pid, code, entry)
            text = sentence(done.saved, f"visit {plan.name} ({code})", done.raised)
            after = _after(session, pid, code, form.values.get("after", ""))
            target = with_note(request, after, text)
            return RedirectResponse(target, status_code=303)
        except VisitFormProblems as exc:
            form.errors.update(exc.problems)
        except ServiceError as exc:
            if exc.status in (401, 403, 404):
                raise
            form.refused(exc, {}, "visit")
    return visit_page(request, session, user, pid, code, form.values, form.errors, 422, True)
