"""A visit of the schedule: record it (or its absence), then its forms: vital signs and labs
(a unit chosen per field), the ITT with its computed KITT and curve, dosing and the
transplantation. Saved values are shown as entered, with the canonical value beside them, their
open queries, a link to raise one and to their audit history; correcting one asks for a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from trialdesk.catalogue import DataElement
from trialdesk.catalogue.missing import MISSING_CODES
from trialdesk.derive.dosing import WHO_DDD_MG
from trialdesk.protocol import Visit as PlannedVisit
from trialdesk.protocol.unscheduled import parse_unscheduled
from trialdesk.services import (
    get_measurement,
    get_participant,
    lab_grade_suggestions,
    list_insulin_doses,
    list_itt_tests,
    list_measurements,
    list_ogld_doses,
    list_transplantations,
    list_visits,
    record_missed_visit,
    record_visit,
    save_and_report,
    update_itt_test,
    update_measurement,
    visit_calendar,
)
from trialdesk.services.crf_entries import IttTestChanges, MeasurementChanges, MeasurementFilter
from trialdesk.services.crf_forms import form_of_element
from trialdesk.services.errors import ServiceError, StaleVersion
from trialdesk.services.form_status import list_form_statuses
from trialdesk.services.locks import write_block
from trialdesk.services.paging import Page
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.validate import today
from trialdesk.services.views import IttTestView, MeasurementView
from trialdesk.services.visits import plan_of
from trialdesk.store.enums import FormStatus
from trialdesk.web.casebook import MAX_ROWS, form_of, queries_by_field, unresolved_queries
from trialdesk.web.conflicts import Conflict, clash_reason, is_stale, merge, originals
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.entry import FormRefusal, record_visit_values
from trialdesk.web.figures import IttCurve, itt_chart
from trialdesk.web.flash import sentence, with_note
from trialdesk.web.forms import FRESH_FORM, FormInput, ShownForm, given, read_form
from trialdesk.web.itt_codes import coded_samples
from trialdesk.web.locks import lock_rights
from trialdesk.web.records import AE_BLOCK, TX_BLOCK, Field
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.screening_form import ITT_SAMPLE_MINUTES
from trialdesk.web.templating import render
from trialdesk.web.voiding import void_from_form, voided_by

router = APIRouter(route_class=WebRoute)

SECTION_TITLES = {
    "vital_signs": "Vital signs",
    "labs": "Laboratory",
    "safety_labs": "Safety panel (liver, kidney, blood count)",
    "other": "Other measurements",
}
#: The forms of a visit as the lead of its page names them (others: their code in words).
FORM_WORDS = {
    "itt": "insulin tolerance test (ITT)",
    "labs": "laboratory",
    "safety_labs": "safety laboratory",
}
ITT_ELEMENT = "itt_glucose"
STATUS_CHOICES = [(s.value, s.value.capitalize()) for s in FormStatus]
#: The error summary names each input of the page's blocks as its label does.
BLOCK_LABELS = {f.name: f.label for f in (*TX_BLOCK.fields, *AE_BLOCK.fields)} | {
    "insulin_start_date": "Insulin dose in force from",
    "insulin_total_units_per_day": "Total daily insulin (U/day)",
    "insulin_basal_units_per_day": "of which basal (U/day)",
    "insulin_bolus_units_per_day": "of which bolus (U/day)",
    "insulin_regimen": "Insulin regimen",
    "ogld_start_date": "Oral drug dose in force from",
    "ogld_drug": "Drug (INN)",
    "ogld_daily_dose_mg": "Daily dose (mg/day)",
    "insulin_dose_u_per_kg": "Insulin bolus (U/kg)",
}


@dataclass
class Section:
    key: str
    title: str
    elements: list[DataElement]
    saved: dict[str, list[MeasurementView]]

    @property
    def missing(self) -> list[DataElement]:
        """Elements without a live (non-voided) value: offered for entry."""
        return [
            e for e in self.elements if not any(not m.voided for m in self.saved.get(e.name, []))
        ]


def planned(code: str, session: Session | None = None) -> PlannedVisit:
    """The scheduled visit `code` of the protocol in force, or the no-window plan of an
    unscheduled one (``M3.U01``); 404 if the schedule has no such visit."""
    try:
        return plan_of(current_protocol(session), code)
    except ServiceError:
        raise HTTPException(404, f"visit {code!r} is not in the protocol's schedule") from None


def measurement_sections(
    plan: PlannedVisit, rows: list[MeasurementView], session: Session | None = None
) -> list[Section]:
    catalogue = current_catalogue(session)
    sections: dict[str, Section] = {}
    for name in plan.assessments:
        if name not in catalogue:
            continue
        element = catalogue[name]
        key = form_of(element)
        if key is None:
            continue
        section = sections.setdefault(key, Section(key, SECTION_TITLES[key], [], {}))
        section.elements.append(element)
    for row in rows:
        for section in sections.values():
            if any(e.name == row.element for e in section.elements):
                section.saved.setdefault(row.element, []).append(row)
    order = ("vital_signs", "labs", "safety_labs", "other")
    return [sections[k] for k in order if k in sections]


def itt_figure(test: IttTestView) -> Markup:
    curve = IttCurve(
        tuple(s.minute for s in test.samples),
        tuple(s.glucose_mmol_l for s in test.samples),
        test.kitt_percent_per_min,
    )
    return itt_chart(curve, f"itt-{test.id}")


def visit_page(
    request: Request,
    session: DB,
    user: WebUser,
    pid: int,
    code: str,
    *,
    shown: ShownForm = FRESH_FORM,
    form_dirty: bool = False,
) -> Response:
    """The visit page; `form_dirty`: the values shown came back from a refused save of the
    visit form itself, so leaving the page must warn (data-unsaved-guard); `shown.checks`: the
    boxes ticked in it (a new adverse event's seriousness criteria)."""
    values, errors, checks, status_code = (
        shown.values,
        shown.errors,
        shown.checks,
        shown.status_code,
    )
    plan = planned(code, session)
    actor = user.actor
    participant = get_participant(session, actor, pid)
    calendar = visit_calendar(session, actor, pid)
    entry = next((e for e in calendar.visits if e.code == code), None)
    if entry is None:  # an unscheduled visit code that was never recorded (or was voided)
        raise HTTPException(404, f"visit {code!r} is not recorded for this participant")
    visit = next((v for v in list_visits(session, actor, pid) if v.code == code), None)
    # Voided rows too: shown struck through with their reason, never silently gone.
    rows = list_measurements(
        session,
        actor,
        MeasurementFilter(participant_id=pid, visit_code=code, include_voided=True),
        Page(limit=MAX_ROWS),
    )
    tests = [
        t for t in list_itt_tests(session, actor, pid, include_voided=True) if t.visit_code == code
    ]
    visit_id = visit.id if visit else -1
    insulin = [
        d
        for d in list_insulin_doses(session, actor, pid, include_voided=True)
        if d.visit_id == visit_id
    ]
    oglds = [
        d
        for d in list_ogld_doses(session, actor, pid, include_voided=True)
        if d.visit_id == visit_id
    ]
    transplants = (
        list_transplantations(session, actor, pid) if "transplantation" in plan.forms else []
    )
    queries = unresolved_queries(session, user, participant_id=pid)
    day = (visit.visit_date if visit and visit.visit_date else today()).isoformat()
    defaults = {
        "visit_date": today().isoformat(),
        "itt_glucose_unit": "mmol/L",
        "insulin_start_date": day,
        "ogld_start_date": day,
        "tx_performed_on": day,
    }
    statuses = {s.form: s for s in list_form_statuses(session, actor, pid) if s.visit_code == code}
    defaults |= {f"status_{form}": s.status.value for form, s in statuses.items()}
    return render(
        request,
        "visit.html",
        {
            "participant": participant,
            "plan": plan,
            "entry": entry,
            "forms_text": ", ".join(FORM_WORDS.get(f, f.replace("_", " ")) for f in plan.forms),
            "provisional": calendar.anchor.startswith("provisional"),
            "visit": visit,
            "sections": measurement_sections(plan, rows.items, session),
            "itt_tests": [(t, itt_figure(t)) for t in tests],
            "itt_live": any(not t.voided for t in tests),
            "opened_with": ",".join(sorted({m.element for m in rows.items if not m.voided})),
            "itt_minutes": ITT_SAMPLE_MINUTES,
            "itt_units": current_catalogue(session)[ITT_ELEMENT].units,
            "insulin": insulin,
            "oglds": oglds,
            "transplants": transplants,
            "tx_block": TX_BLOCK,
            "tx_weight": next(
                (
                    m
                    for m in rows.items
                    if m.element == "weight" and not m.voided and m.value is not None
                ),
                None,
            ),  # fmt: skip
            "ae_block": AE_BLOCK,
            # The adverse-event log's own lock (services.locks.LOG_FORMS): the block is then
            # shown read-only with the lock's reason, the rest of the visit stays open.
            "ae_lock": write_block(session, pid, code, "adverse_events"),
            "checks": checks or {},
            "ae_open": _typed_in(AE_BLOCK.fields, values or {}, errors or {}, checks or {}),
            "queries": queries_by_field(queries),
            "values": {**defaults, **(values or {})},
            "errors": errors or {},
            "labels": {e.name: e.label for e in current_catalogue(session)} | BLOCK_LABELS,
            "missing_codes": MISSING_CODES,
            "absent": {m.element: m for m in rows.items if m.missing_code and not m.voided},
            "form_status": statuses,
            "visit_form_dirty": form_dirty,
            "status_choices": STATUS_CHOICES,
            "ogld_drugs": [(d, f"{d} (WHO DDD {ddd:g} mg)") for d, ddd in WHO_DDD_MG.items()],
            "next_visit": next_visit(code, session),
            "lab_grades": (
                lab_grade_suggestions(session, actor, pid, visit_code=code) if visit else []
            ),
            **_record_rights(user, request, session, pid, code),
        },
        status_code=status_code,
    )


def _typed_in(
    fields: tuple[Field, ...],
    values: dict[str, str],
    errors: dict[str, str],
    checks: dict[str, list[str]],
) -> bool:
    """Whether a block came back holding values or refusals (it is then shown open)."""
    names = {f.name for f in fields}
    return any(values.get(n, "").strip() or n in errors or checks.get(n) for n in names)


def next_visit(code: str, session: Session | None = None) -> str | None:
    """The scheduled visit after `code` ("Save & go to next form"); after an unscheduled visit
    (``M3.U01``), the one after the scheduled visit it follows."""
    unscheduled = parse_unscheduled(code)
    after = unscheduled[0] if unscheduled else code
    codes = [v.code for v in current_protocol(session).schedule]
    if after not in codes:
        return None
    at = codes.index(after)
    return codes[at + 1] if at + 1 < len(codes) else None


@router.get("/participants/{pid}/visits/{code}")
def show_visit(request: Request, session: DB, user: CurrentUser, pid: int, code: str) -> Response:
    return visit_page(request, session, user, pid, code)


def _back_to_visit(pid: int, code: str, flash: str, anchor: str = "") -> Response:
    suffix = f"#{anchor}" if anchor else ""
    return RedirectResponse(
        f"/participants/{pid}/visits/{code}?done={flash}{suffix}", status_code=303
    )


@dataclass(frozen=True)
class _VisitAction:
    """A save from the visit page: the service call, the form field a refusal is shown on (it
    also names what was saved in the confirmation), where the service's field names land on
    the form, and the page anchor to return to."""

    call: Callable[[], Any]
    default_field: str
    field_map: dict[str, str] | None = None
    anchor: str = ""


async def _attempt(
    request: Request,
    session: DB,
    user: WebUser,
    pid: int,
    code: str,
    *,
    form: FormInput,
    action: _VisitAction,
) -> Response:
    if not form.errors:
        try:
            outcome = save_and_report(session, user.actor, pid, action.call)
            what = {"visit_date": "Visit", "missed_reason": "Missed visit"}.get(
                action.default_field, "Insulin tolerance test"
            )
            anchor = action.anchor
            where = f"/participants/{pid}/visits/{code}" + (f"#{anchor}" if anchor else "")
            text = sentence([what], f"{planned(code, session).name} ({code})", outcome.raised)
            return RedirectResponse(with_note(request, where, text), status_code=303)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, action.field_map or {}, action.default_field)
    return visit_page(
        request,
        session,
        user,
        pid,
        code,
        shown=ShownForm(values=form.values, errors=form.errors, status_code=422),
    )


@router.post("/participants/{pid}/visits/{code}/record")
async def save_visit(
    request: Request, session: DB, user: CurrentUser, pid: int, code: str
) -> Response:
    planned(code, session)
    form = await read_form(request)
    on = form.date("visit_date", required=True)
    notes = form.text("notes", max_length=4000)
    return await _attempt(
        request,
        session,
        user,
        pid,
        code,
        form=form,
        action=_VisitAction(
            lambda: record_visit(
                session,
                user.actor,
                pid,
                code=code,
                visit_date=given(on),
                notes=notes,
                # "" when blank: the service then refuses an out-of-window date without a reason.
                deviation_reason=form.values.get("deviation_reason", ""),
            ),
            default_field="visit_date",
        ),
    )


@router.post("/participants/{pid}/visits/{code}/missed")
async def save_missed(
    request: Request, session: DB, user: CurrentUser, pid: int, code: str
) -> Response:
    planned(code, session)
    form = await read_form(request)
    why = form.text("missed_reason", required=True, max_length=4000)
    return await _attempt(
        request,
        session,
        user,
        pid,
        code,
        form=form,
        action=_VisitAction(
            lambda: record_missed_visit(session, user.actor, pid, code=code, reason=why or ""),
            default_field="missed_reason",
            field_map={"reason": "missed_reason"},
        ),
    )


#: Forms recorded as a whole as not done (an ITT, a dose), with the element that stands for them.
NOT_DONE_ELEMENTS = {
    "itt_glucose": "sec-itt",
    "insulin_daily_dose": "sec-dosing",
    "ogld_ddd": "sec-dosing",
}


@router.post("/participants/{pid}/visits/{code}/not-done")
async def save_not_done(
    request: Request, session: DB, user: CurrentUser, pid: int, code: str
) -> Response:
    """An ITT or a dose not recorded at the visit: its missing-data code and the reason."""
    planned(code, session)
    form = await read_form(request)
    element = form.values.get("element", "")
    if element not in NOT_DONE_ELEMENTS:  # the page (which checks access) says so
        form.errors["measurements"] = f"{element!r} cannot be recorded as not done here"
    missing_code = form.text(f"{element}_missing", required=True) or ""
    reason = form.text(f"{element}_missing_reason", max_length=2000) or ""
    try:
        if not form.errors:
            record_visit_values(
                session, user.actor, pid, code, [], missing=[(element, missing_code, reason)]
            )
            return _back_to_visit(pid, code, "saved", NOT_DONE_ELEMENTS.get(element, ""))
    except FormRefusal as exc:
        form.errors[exc.field or f"{element}_missing"] = exc.reason
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        form.refused(exc, {}, f"{element}_missing")
    return visit_page(
        request,
        session,
        user,
        pid,
        code,
        shown=ShownForm(values=form.values, errors=form.errors, status_code=422),
    )


def sample_minutes(test: IttTestView | None = None) -> list[float | int]:
    """The standard sampling minutes, plus any other minute a stored test has (e.g. one
    recorded through the API), so that a correction never drops a sample silently."""
    minutes: set[float | int] = set(ITT_SAMPLE_MINUTES)
    if test is not None:
        stored = [s.minute for s in test.samples] + [c.minute for c in test.coded_samples]
        minutes |= {int(m) if m.is_integer() else m for m in stored}
    return sorted(minutes)


def _samples(form: FormInput, minutes: list[float | int] | None = None) -> dict[float, float]:
    samples: dict[float, float] = {}
    for minute in minutes or sample_minutes():
        value = form.number(f"{ITT_ELEMENT}_{minute}")
        if value is not None:
            samples[float(minute)] = value
    if not samples and not any(f"{ITT_ELEMENT}_" in k for k in form.errors):
        form.errors[ITT_ELEMENT] = "type the glucose of at least three samples between 3 and 15 min"
    return samples


ITT_FIELDS = {
    "samples": ITT_ELEMENT,
    "glucose_unit": ITT_ELEMENT,
    "performed_on": "performed_on",
    "missing_samples": ITT_ELEMENT,
}


# --- one measurement / one ITT: view, queries, correction with a reason ----------------------


def measurement_page(
    request: Request,
    session: DB,
    user: WebUser,
    pid: int,
    view: MeasurementView,
    *,
    shown: ShownForm = FRESH_FORM,
    conflict: Conflict | None = None,
) -> Response:
    values, errors, status_code = shown.values, shown.errors, shown.status_code
    element = current_catalogue(session)[view.element]
    queries = unresolved_queries(
        session, user, participant_id=pid, target_table="measurements", target_id=view.id
    )
    start = measurement_values(view)
    return render(
        request,
        "measurement.html",
        {
            "participant": get_participant(session, user.actor, pid),
            "m": view,
            "element": element,
            "units": element.units,
            "queries": queries,
            "values": values if values is not None else start,
            "errors": errors or {},
            "labels": {
                "value": element.label,
                "unit": "Unit",
                "reason": "Reason for the change",
                "missing_code": "Missing-data code",
                "missing_reason": "Why the value is missing",
            },
            "missing_codes": MISSING_CODES,
            "conflict": conflict,
            "originals": start,
            "voided_by": voided_by(session, user, "measurements", view),
            **_record_rights(
                user, request, session, pid, view.visit_code, form=view_form(view, session)
            ),
            "here": f"/participants/{pid}/measurements/{view.id}",
        },
        status_code=status_code,
    )


def measurement_values(view: MeasurementView) -> dict[str, str]:
    """The fields of the correction form as stored (a value, or a missing-data code and why)."""
    return {
        "value": view.value_as_entered,
        "unit": view.unit_as_entered or "",
        "missing_code": view.missing_code or "",
        "missing_reason": view.missing_reason or "",
    }


def _shown(view: MeasurementView) -> str:
    """A value as entered with its unit, or its missing-data code ("not done (ND)")."""
    if view.missing_code:
        return f"recorded as missing ({view.missing_code})"
    return f"{view.value_as_entered} {view.unit_as_entered or ''}".strip()


def _measurement_conflict(
    request: Request, session: DB, user: WebUser, pid: int, mid: int, *, form: FormInput
) -> Response:
    """Changed by someone else since the form was opened: theirs beside yours, pre-merged."""
    view = _measurement(session, user, pid, mid)
    current = measurement_values(view)
    typed = {n: form.values.get(n, "").strip() for n in current}
    merged, conflict = merge(
        typed, originals(form, current), current,
        {"value": view.label, "unit": "Unit", "missing_code": "Missing-data code",
         "missing_reason": "Why the value is missing"},
        version=view.version, saved_at=view.updated_at,
    )  # fmt: skip
    errors = {c.name: clash_reason(c) for c in conflict.clashes}
    values = {**merged, "reason": form.values.get("reason", "")}
    return measurement_page(
        request,
        session,
        user,
        pid,
        view,
        conflict=conflict,
        shown=ShownForm(values=values, errors=errors, status_code=409),
    )


def _measurement(session: DB, user: WebUser, pid: int, mid: int) -> MeasurementView:
    view = get_measurement(session, user.actor, mid)
    if view.participant_id != pid:
        raise HTTPException(404, "This measurement is not one of this participant's records.")
    return view


@router.get("/participants/{pid}/measurements/{mid}")
def show_measurement(
    request: Request, session: DB, user: CurrentUser, pid: int, mid: int
) -> Response:
    return measurement_page(request, session, user, pid, _measurement(session, user, pid, mid))


@router.post("/participants/{pid}/measurements/{mid}")
async def correct_measurement(
    request: Request, session: DB, user: CurrentUser, pid: int, mid: int
) -> Response:
    view = _measurement(session, user, pid, mid)
    form = await read_form(request)
    if is_stale(form, view.version):
        return _measurement_conflict(request, session, user, pid, mid, form=form)
    code = form.text("missing_code")
    value = form.text("value", required=code is None, max_length=64)
    unit = form.text("unit")
    why_missing = form.text("missing_reason", max_length=2000)
    version = form.integer("version", required=True)
    reason = form.text("reason", required=True, max_length=4000)
    if code is None:
        unchanged = value == view.value_as_entered and (unit or None) == view.unit_as_entered
    else:
        unchanged = code == view.missing_code and why_missing == view.missing_reason
    if not form.errors and unchanged:
        form.errors["value" if code is None else "missing_code"] = (
            "is unchanged: type the corrected value (or code and reason) before saving"
        )
    if not form.errors:
        try:
            outcome = save_and_report(
                session, user.actor, pid,
                lambda: update_measurement(
                    session, user.actor, mid, MeasurementChanges(expected_version=version or 0,
                    reason=reason or "", value=value, unit=unit if code is None else None,
                    missing_code=code, missing_reason=why_missing),
                ),
            )  # fmt: skip
            text = f"Change saved: {view.label} {_shown(view)} → {_shown(outcome.result)}."
            if outcome.raised:
                text += " Raised: " + "; ".join(outcome.raised) + "."
            here = f"/participants/{pid}/measurements/{mid}"
            return RedirectResponse(with_note(request, here, text), status_code=303)
        except StaleVersion:
            return _measurement_conflict(request, session, user, pid, mid, form=form)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            fields = {view.element: "value", "expected_version": "reason"}
            form.refused(exc, fields, "value")
    return measurement_page(
        request,
        session,
        user,
        pid,
        view,
        shown=ShownForm(values=form.values, errors=form.errors, status_code=422),
    )


@router.post("/participants/{pid}/measurements/{mid}/void")
async def void_measurement(
    request: Request, session: DB, user: CurrentUser, pid: int, mid: int
) -> Response:
    view = _measurement(session, user, pid, mid)
    here = f"/participants/{pid}/measurements/{mid}"
    done, form = await void_from_form(
        request,
        session,
        user,
        "measurements",
        mid,
        done_path=here,
        label=f"{view.label} {view.value_as_entered}",
    )
    if done is not None:
        return done
    fresh = _measurement(session, user, pid, mid)
    values = {**measurement_values(fresh), **form.values}
    return measurement_page(
        request,
        session,
        user,
        pid,
        fresh,
        shown=ShownForm(values=values, errors=form.errors, status_code=422),
    )


def itt_page(
    request: Request,
    session: DB,
    user: WebUser,
    pid: int,
    test: IttTestView,
    *,
    shown: ShownForm = FRESH_FORM,
    conflict: Conflict | None = None,
) -> Response:
    values, errors, status_code = shown.values, shown.errors, shown.status_code
    start = itt_values(test)
    queries = unresolved_queries(
        session, user, participant_id=pid, target_table="itt_tests", target_id=test.id
    )
    return render(
        request,
        "itt.html",
        {
            "missing_codes": MISSING_CODES,
            "participant": get_participant(session, user.actor, pid),
            "test": test,
            "figure": itt_figure(test),
            "queries": queries,
            "itt_minutes": sample_minutes(test),
            "itt_units": current_catalogue(session)[ITT_ELEMENT].units,
            "values": values if values is not None else start,
            "errors": errors or {},
            "labels": {ITT_ELEMENT: "Glucose samples", "reason": "Reason for the change"},
            "conflict": conflict,
            "originals": start,
            "voided_by": voided_by(session, user, "itt_tests", test),
            **_record_rights(user, request, session, pid, test.visit_code, form="itt"),
            "here": f"/participants/{pid}/itt/{test.id}",
        },
        status_code=status_code,
    )


def itt_values(test: IttTestView) -> dict[str, str]:
    """The ITT as form strings: every sampling minute (blank when not taken), unit, bolus."""
    taken = {float(s.minute): f"{s.glucose_as_entered:g}" for s in test.samples}
    values = {f"{ITT_ELEMENT}_{m}": taken.get(float(m), "") for m in sample_minutes(test)}
    values[f"{ITT_ELEMENT}_unit"] = test.glucose_unit_as_entered
    dose = test.insulin_dose_u_per_kg
    values["insulin_dose_u_per_kg"] = f"{dose:g}" if dose is not None else ""
    coded = {float(c.minute): c for c in test.coded_samples}
    for m in sample_minutes(test):
        sample = coded.get(float(m))
        values[f"{ITT_ELEMENT}_{m}_missing"] = sample.missing_code if sample else ""
        values[f"{ITT_ELEMENT}_{m}_missing_reason"] = (
            (sample.missing_reason or "") if sample else ""
        )
    return values


def _itt_label(name: str) -> str:
    """A person's words for an ITT form field in a conflict panel ("glucose at 9 min: reason
    missing")."""
    minute = name.removeprefix(f"{ITT_ELEMENT}_")
    if minute.endswith("_missing_reason"):
        return f"glucose at {minute.removesuffix('_missing_reason')} min: reason missing"
    if minute.endswith("_missing"):
        return f"glucose at {minute.removesuffix('_missing')} min: missing-data code"
    return f"glucose at {minute} min"


def _itt_conflict(
    request: Request, session: DB, user: WebUser, pid: int, tid: int, *, form: FormInput
) -> Response:
    """Changed by someone else since the form was opened: theirs beside yours, pre-merged."""
    test = _itt(session, user, pid, tid)
    current = itt_values(test)
    typed = {n: form.values.get(n, "").strip() for n in current}
    labels = {n: _itt_label(n) for n in current}
    labels |= {f"{ITT_ELEMENT}_unit": "Glucose unit", "insulin_dose_u_per_kg": "Insulin bolus"}
    merged, conflict = merge(
        typed, originals(form, current), current, labels,
        version=test.version, saved_at=test.updated_at,
    )  # fmt: skip
    errors = {c.name: clash_reason(c) for c in conflict.clashes}
    values = {**merged, "reason": form.values.get("reason", "")}
    return itt_page(
        request,
        session,
        user,
        pid,
        test,
        conflict=conflict,
        shown=ShownForm(values=values, errors=errors, status_code=409),
    )


def _itt(session: DB, user: WebUser, pid: int, tid: int) -> IttTestView:
    tests = list_itt_tests(session, user.actor, pid, include_voided=True)
    test = next((t for t in tests if t.id == tid), None)
    if test is None:
        raise HTTPException(
            404, "This insulin tolerance test is not one of this participant's records."
        )
    return test


@router.get("/participants/{pid}/itt/{tid}")
def show_itt(request: Request, session: DB, user: CurrentUser, pid: int, tid: int) -> Response:
    return itt_page(request, session, user, pid, _itt(session, user, pid, tid))


@router.post("/participants/{pid}/itt/{tid}")
async def correct_itt(
    request: Request, session: DB, user: CurrentUser, pid: int, tid: int
) -> Response:
    test = _itt(session, user, pid, tid)
    form = await read_form(request)
    if is_stale(form, test.version):
        return _itt_conflict(request, session, user, pid, tid, form=form)
    samples = _samples(form, sample_minutes(test))
    unit = form.text(f"{ITT_ELEMENT}_unit", required=True)
    dose = form.number("insulin_dose_u_per_kg")
    version = form.integer("version", required=True)
    reason = form.text("reason", required=True, max_length=4000)
    if not form.errors:
        try:
            outcome = save_and_report(
                session, user.actor, pid,
                lambda: update_itt_test(
                    session, user.actor, tid, IttTestChanges(expected_version=version or 0,
                    reason=reason or "", samples=samples, glucose_unit=unit,
                    insulin_dose_u_per_kg=dose, missing_samples=coded_samples(form.values)),
                ),
            )  # fmt: skip
            kitt = outcome.result.kitt_percent_per_min
            text = "Change saved: insulin tolerance test" + (
                f" (KITT now {kitt:.2f} %/min)." if kitt is not None else "."
            )
            if outcome.raised:
                text += " Raised: " + "; ".join(outcome.raised) + "."
            here = f"/participants/{pid}/itt/{tid}"
            return RedirectResponse(with_note(request, here, text), status_code=303)
        except StaleVersion:
            return _itt_conflict(request, session, user, pid, tid, form=form)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {**ITT_FIELDS, "expected_version": "reason"}, ITT_ELEMENT)
    return itt_page(
        request,
        session,
        user,
        pid,
        test,
        shown=ShownForm(values=form.values, errors=form.errors, status_code=422),
    )


@router.post("/participants/{pid}/itt/{tid}/void")
async def void_itt(
    request: Request, session: DB, user: CurrentUser, pid: int, tid: int
) -> Response:
    _itt(session, user, pid, tid)  # 404 unless it is this participant's
    here = f"/participants/{pid}/itt/{tid}"
    done, form = await void_from_form(
        request, session, user, "itt_tests", tid, done_path=here, label="Insulin tolerance test"
    )
    if done is not None:
        return done
    fresh = _itt(session, user, pid, tid)
    values = {**itt_values(fresh), **form.values}
    return itt_page(
        request,
        session,
        user,
        pid,
        fresh,
        shown=ShownForm(values=values, errors=form.errors, status_code=422),
    )


def view_form(view: MeasurementView, session: Session) -> str:
    """The form a measurement is entered on (`services.crf_forms`)."""
    catalogue = current_catalogue(session)
    if view.element not in catalogue:
        return "medical_history"
    return form_of_element(catalogue[view.element], catalogue)


def _record_rights(
    user: WebUser,
    request: Request,
    session: Session | None = None,
    pid: int | None = None,
    visit_code: str | None = None,
    *,
    form: str | None = None,
) -> dict[str, object]:
    """What the signed-in user may do on a record page (the same keys on every record form);
    a data lock on the place makes it read-only with the lock's reason (issue 14)."""
    locked = lock_rights(session, user, pid, visit_code, form) if session is not None else {}
    return {
        "can_write": user.can("write_clinical"),
        "can_raise": user.can("raise_query"),
        "can_audit": user.can("read_audit"),
        "here": request.url.path,
        **locked,
    }
