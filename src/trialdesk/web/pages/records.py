"""Entering and correcting the field-by-field records (dosing, transplantation, adverse events,
visits) with the declarative forms of `trialdesk.web.records`. A correction sends only the fields
that changed, with the reason the services require; a refusal comes back next to its field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException

from trialdesk.services import (
    get_adverse_event,
    get_clinical_record,
    get_coding,
    get_participant,
    save_and_report,
)
from trialdesk.services.crf_forms import TABLE_FORMS
from trialdesk.services.errors import ServiceError, StaleVersion
from trialdesk.services.validate import today
from trialdesk.web.casebook import queries_by_field, unresolved_queries
from trialdesk.web.conflicts import (
    CHECK_SEPARATOR,
    Conflict,
    checks_text,
    clash_reason,
    is_stale,
    merge,
    originals,
)
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import sentence, with_note
from trialdesk.web.forms import FRESH_FORM, FormInput, ShownForm, read_form
from trialdesk.web.locks import entry_block, lock_rights
from trialdesk.web.pages.auth import safe_next
from trialdesk.web.pages.safety import safety_context
from trialdesk.web.records import (
    KINDS,
    SERIOUSNESS,
    RecordKind,
    as_text,
    changed_values,
    current_checks,
    current_values,
    parse,
    query_fields,
)
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import fmt_count, fmt_measure, fmt_when, render
from trialdesk.web.voiding import void_from_form, voided_by

CODED_TABLES = frozenset({"adverse_events", "ogld_doses"})
router = APIRouter(route_class=WebRoute)

# Where a service's field name lands on the form (the rest keep their own name).
FIELD_MAP = {"seriousness": "seriousness", "expected_version": "reason", "visit_code": "back"}


def _kind(table: str) -> RecordKind:
    kind = KINDS.get(table)
    if kind is None:
        raise HTTPException(404, "There is no form for this kind of record.")
    return kind


def load_record(session: DB, user: WebUser, kind: RecordKind, pid: int, rid: int) -> Any:
    # Any record of the table, voided ones too (shown struck through, never hidden).
    view: Any = get_clinical_record(session, user.actor, kind.table, rid)
    if getattr(view, "participant_id", pid) != pid:
        raise HTTPException(
            404, f"This {kind.title.lower()} is not one of this participant's records."
        )
    return view


def _back(request: Request, pid: int, value: str | None = None) -> str:
    target = value or request.query_params.get("back") or ""
    return safe_next(target) if target else f"/participants/{pid}"


@router.get("/participants/{pid}/adverse-events/new")
def new_adverse_event(request: Request, pid: int) -> Response:
    return RedirectResponse(f"/participants/{pid}/records/adverse_events/new", status_code=303)


@router.get("/participants/{pid}/records/{table}/new")
def new_record(
    *, request: Request, session: DB, user: CurrentUser, pid: int, table: str, visit: str = ""
) -> Response:
    kind = _kind(table)
    if kind.creator is None:
        raise HTTPException(405, f"{kind.title.lower()} records are not entered here")
    participant = get_participant(session, user.actor, pid)
    defaults = {f.name: today().isoformat() for f in kind.fields if f.kind == "date" and f.required}
    if kind.table == "adverse_events":  # from a CTCAE suggestion on the visit page
        asked = request.query_params
        defaults |= {k: asked[k] for k in ("term", "grade", "onset_date") if asked.get(k)}
    return _new_page(
        request, kind, participant, visit, shown=ShownForm(values=defaults),
        back=_back(request, pid),
        read_only=entry_block(session, user, pid, visit or None, TABLE_FORMS.get(table)),
    )  # fmt: skip


def _place(table: str, view: Any) -> tuple[str | None, str | None]:
    """(visit code, form) of a record shown on a record page, for its data lock."""
    if table == "visits":
        return getattr(view, "code", None), None
    if table in {"consents", "screenings"}:
        return "SCR", TABLE_FORMS[table]
    return getattr(view, "visit_code", None), TABLE_FORMS.get(table)


def _new_page(
    request: Request,
    kind: RecordKind,
    participant: Any,
    visit: str,
    *,
    shown: ShownForm,
    back: str,
    read_only: str = "",
) -> Response:
    labels = {f.name: f.label for f in kind.fields}
    return render(
        request,
        "record_new.html",
        {
            "kind": kind,
            "participant": participant,
            "visit_code": visit,
            "values": shown.values or {},
            "errors": shown.errors or {},
            "checks": shown.checks or {},
            "labels": labels,
            "back": back,
            "read_only": read_only,
        },
        status_code=shown.status_code,
    )


@router.post("/participants/{pid}/records/{table}/new")
async def create_record(
    *, request: Request, session: DB, user: CurrentUser, pid: int, table: str, visit: str = ""
) -> Response:
    kind = _kind(table)
    if kind.creator is None:
        raise HTTPException(405, f"{kind.title.lower()} records are not entered here")
    form = await read_form(request)
    values = parse(kind, form, editing=False)
    back = _back(request, pid, form.values.get("back"))
    creator = kind.creator
    if not form.errors:
        extra = {"visit_code": visit or None} if kind.visit_linked else {}
        try:
            outcome = save_and_report(
                session,
                user.actor,
                pid,
                lambda: creator(session, user.actor, pid, **values, **extra),
            )
            text = sentence([f"{kind.title} {outcome.result.id}"], "", outcome.raised)
            return RedirectResponse(with_note(request, back, text), status_code=303)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, FIELD_MAP, kind.fields[0].name)
    participant = get_participant(session, user.actor, pid)
    checks = {f.name: form.many(f.name) for f in kind.fields if f.kind == "checks"}
    return _new_page(
        request,
        kind,
        participant,
        visit,
        shown=ShownForm(values=form.values, errors=form.errors, checks=checks, status_code=422),
        back=back,
    )


def _with_flash(path: str, flash: str) -> str:
    base, _, anchor = path.partition("#")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}done={flash}" + (f"#{anchor}" if anchor else "")


@dataclass(frozen=True)
class RecordShown:
    """What a record page shows besides the stored record: a refused form brought back,
    someone else's conflicting change, and the typed safety-report form of an adverse event."""

    form: ShownForm = FRESH_FORM
    conflict: Conflict | None = None
    safety_values: dict[str, str] | None = None


FRESH_RECORD = RecordShown()


def record_page(
    request: Request,
    session: DB,
    user: WebUser,
    kind: RecordKind,
    pid: int,
    *,
    view: Any,
    state: RecordShown = FRESH_RECORD,
) -> Response:
    values, errors, checks = state.form.values, state.form.errors, state.form.checks
    participant = get_participant(session, user.actor, pid)
    shown = current_values(kind, view)
    originals = editable_values(kind, view)
    if kind.table == "adverse_events":
        for name, _label in SERIOUSNESS:
            shown[name] = as_text(getattr(view, name, None))
        shown["expedited_report_due"] = as_text(view.expedited_report_due)
        if view.aware_at is not None:  # the time of day, in the site's zone
            zone = str(getattr(request.state, "site_zone", "UTC") or "UTC")
            shown["aware_time"] = fmt_when(view.aware_at, zone)[11:]
    if kind.table == "screenings":  # the findings document, as one line per answer
        shown |= {"screened_on": as_text(view.screened_on), "status": as_text(view.status)}
        shown["findings"] = "; ".join(
            f"{f.label}: {shown[f.name]}" for f in kind.fields if shown.get(f.name)
        )
    queries = unresolved_queries(
        session, user, participant_id=pid, target_table=kind.table, target_id=view.id
    )
    by_field = {f: qs for (_t, _i, f), qs in queries_by_field(queries).items()}
    fields_shown = list(query_fields(kind.table))
    saved = dict(shown)
    for f in kind.fields:
        value = getattr(view, f.name, None)
        if f.kind != "number" or not isinstance(value, int | float):
            continue
        # As the site reads it: the stored unit at its reporting precision, cell counts as
        # powers of ten (not 1e+06 or 69.8532).
        saved[f.name] = fmt_measure(value, f.units[0]) if f.units else fmt_count(value)
    safety: dict[str, Any] = {}
    if kind.table == "adverse_events":
        fields_shown.append(("expedited_report_due", "Sponsor's expedited report due (SUSAR)"))
        safety = safety_context(session, user, view) | {"values": state.safety_values or {}}
    return render(
        request,
        "record.html",
        {
            "kind": kind,
            "record": view,
            "participant": participant,
            "shown": saved,
            "fields_shown": fields_shown,
            "open_queries": by_field,
            "values": values if values is not None else shown,
            "errors": errors or {},
            "checks": checks if checks is not None else current_checks(kind, view),
            "labels": {f.name: f.label for f in kind.fields},
            "back": _back(request, pid),
            "here": f"/participants/{pid}/records/{kind.table}/{view.id}",
            "can_raise": user.can("raise_query"),
            "can_audit": user.can("read_audit"),
            **lock_rights(session, user, pid, *_place(kind.table, view)),
            "conflict": state.conflict,
            "originals": originals,
            "voided_by": voided_by(session, user, kind.table, view),
            "coding": _coding(session, user, kind.table, view),
            "can_code": user.can("code_terms"),
            "safety": safety,
        },
        status_code=state.form.status_code,
    )


def _coding(session: DB, user: WebUser, table: str, view: Any) -> Any:
    """The medical coding of an adverse event or a drug dose (issue 14): False for other
    records, None while not coded."""
    if table not in CODED_TABLES or view.voided:
        return False
    return get_coding(session, user.actor, table, view.id)


def labels_of(kind: RecordKind, changes: dict[str, Any]) -> list[str]:
    return [f.label.split(":")[0] for f in kind.fields if f.name in changes]


def editable_values(kind: RecordKind, view: Any) -> dict[str, str]:
    """The correctable fields as form strings (ticked boxes joined), as saved in `view`."""
    values = current_values(kind, view)
    checks = current_checks(kind, view)
    out: dict[str, str] = {}
    for f in kind.fields:
        if f.on_edit:
            out[f.name] = (
                checks_text(checks.get(f.name, [])) if f.kind == "checks" else values[f.name]
            )
    return out


def typed_values(kind: RecordKind, form: FormInput) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in kind.fields:
        if f.on_edit:
            out[f.name] = (
                checks_text(form.many(f.name))
                if f.kind == "checks"
                else form.values.get(f.name, "").strip()
            )
    return out


def _conflict_page(
    request: Request,
    session: DB,
    user: WebUser,
    kind: RecordKind,
    pid: int,
    *,
    rid: int,
    form: FormInput,
) -> Response:
    """The record changed since the form was opened: theirs beside yours, pre-merged."""
    view = load_record(session, user, kind, pid, rid)
    labels = {f.name: f.label for f in kind.fields}
    merged, conflict = merge(
        typed_values(kind, form),
        originals(form, editable_values(kind, view)),
        editable_values(kind, view),
        labels,
        version=view.version,
        saved_at=view.updated_at,
    )
    errors = {c.name: clash_reason(c) for c in conflict.clashes}
    checks = {
        f.name: [v for v in merged[f.name].split(CHECK_SEPARATOR) if v]
        for f in kind.fields
        if f.kind == "checks" and f.on_edit
    }
    values = {**merged, "reason": form.values.get("reason", "")}
    return record_page(
        request,
        session,
        user,
        kind,
        pid,
        view=view,
        state=RecordShown(
            form=ShownForm(values=values, errors=errors, checks=checks, status_code=409),
            conflict=conflict,
        ),
    )


@router.get("/participants/{pid}/records/{table}/{rid}")
def show_record(
    *, request: Request, session: DB, user: CurrentUser, pid: int, table: str, rid: int
) -> Response:
    kind = _kind(table)
    return record_page(
        request, session, user, kind, pid, view=load_record(session, user, kind, pid, rid)
    )


@router.get("/adverse-events/{rid}")
def show_adverse_event(request: Request, session: DB, user: CurrentUser, rid: int) -> Response:
    view = get_adverse_event(session, user.actor, rid)
    return RedirectResponse(
        f"/participants/{view.participant_id}/records/adverse_events/{rid}", status_code=303
    )


@router.post("/participants/{pid}/records/{table}/{rid}")
async def correct_record(
    *, request: Request, session: DB, user: CurrentUser, pid: int, table: str, rid: int
) -> Response:
    kind = _kind(table)
    view = load_record(session, user, kind, pid, rid)
    form = await read_form(request)
    if is_stale(form, view.version):
        return _conflict_page(request, session, user, kind, pid, rid=rid, form=form)
    values = parse(kind, form, editing=True)
    version = form.integer("version", required=True)
    reason = form.text("reason", required=True, max_length=4000)
    changes = changed_values(kind, values, view)
    changes |= _deviation_reason(kind, form, changes)
    if not form.errors and not changes:
        form.errors["reason"] = "nothing was changed: edit a field before saving a correction"
    updater = kind.updater
    if not form.errors and updater is not None:
        try:
            outcome = save_and_report(
                session, user.actor, pid,
                lambda: updater(
                    session, user.actor, rid, expected_version=version, reason=reason, **changes
                ),
            )  # fmt: skip
            fields = ", ".join(labels_of(kind, changes))
            text = sentence([f"Correction of {fields}"], "", outcome.raised)
            text += " The reason is in the audit history."
            here = f"/participants/{pid}/records/{table}/{rid}"
            return RedirectResponse(with_note(request, here, text), status_code=303)
        except StaleVersion:  # saved by someone else between reading and writing
            return _conflict_page(request, session, user, kind, pid, rid=rid, form=form)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, FIELD_MAP, "reason")
    checks = {f.name: form.many(f.name) for f in kind.fields if f.kind == "checks"}
    return record_page(
        request,
        session,
        user,
        kind,
        pid,
        view=view,
        state=RecordShown(
            form=ShownForm(values=form.values, errors=form.errors, checks=checks, status_code=422)
        ),
    )


def _deviation_reason(kind: RecordKind, form: FormInput, changes: dict[str, Any]) -> dict[str, str]:
    """A corrected visit date comes with the reason typed for an out-of-window date ("" when
    blank: the service then refuses an out-of-window date without one, as when recording)."""
    if kind.table != "visits" or "visit_date" not in changes:
        return {}
    return {"deviation_reason": form.values.get("deviation_reason", "")}


@router.post("/participants/{pid}/records/{table}/{rid}/void")
async def void_record(
    *, request: Request, session: DB, user: CurrentUser, pid: int, table: str, rid: int
) -> Response:
    kind = _kind(table)
    load_record(session, user, kind, pid, rid)  # 404 unless it is this participant's
    here = f"/participants/{pid}/records/{table}/{rid}"
    label = f"{kind.title} {rid}"
    done, form = await void_from_form(
        request, session, user, table, rid, done_path=here, label=label
    )
    if done is not None:
        return done
    fresh = load_record(session, user, kind, pid, rid)
    values = {**current_values(kind, fresh), **form.values}
    return record_page(
        request,
        session,
        user,
        kind,
        pid,
        view=fresh,
        state=RecordShown(
            form=ShownForm(values=values, errors=form.errors, checks=None, status_code=422)
        ),
    )
