"""Saving a whole visit page at once: the measurements of every block, the insulin tolerance
test, the dosing, the transplantation and a new adverse event typed on one visit form, in one
transaction.

Each block is still entered through its own use case (so validated, edit-checked and audited on
its own, exactly as through the API), but they all join one transaction: when any value is
refused, nothing is saved and every refusal is reported against its field, so the form can be
shown again with everything that was typed (all or nothing: one "Save" submits the whole page,
as REDCap's "Save & Stay" submits the whole instrument).

Every block is checked before the answer is given: what the adapter could not read (a typing
slip, `VisitFormsEntry.refused`), every use case's rules and edit checks, and the values someone
else entered meanwhile (`visit_meanwhile`) are reported together, so a user fixes every error
at once instead of meeting them one save after another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.adverse_event_fields import AdverseEventReport
from trialdesk.services.consequences import marks, raised_since
from trialdesk.services.crf_entries import (
    InsulinDoseEntry,
    IttTestEntry,
    OgldDoseEntry,
    TransplantationEntry,
    VisitMeasurement,
)
from trialdesk.services.dosing import record_insulin_dose, record_ogld_dose
from trialdesk.services.errors import ServiceError, ValidationProblem
from trialdesk.services.form_status import FormStatusChange, list_form_statuses, set_form_status
from trialdesk.services.itt import record_itt_test
from trialdesk.services.measurements import record_measurement
from trialdesk.services.safety import report_adverse_event
from trialdesk.services.study import current_protocol
from trialdesk.services.transplantation import record_transplantation
from trialdesk.services.uow import service
from trialdesk.services.visit_meanwhile import ITT_ELEMENT, Meanwhile, Typed, entered_meanwhile
from trialdesk.services.visits import plan_of
from trialdesk.units.numbers import format_count


@dataclass(frozen=True)
class VisitValue:
    """One measurement as typed: catalogue element, value, unit; or, instead of a value, a
    missing-data code and the site's reason (`trialdesk.catalogue.missing`)."""

    element: str
    value: str
    unit: str | None = None
    missing_code: str | None = None
    missing_reason: str | None = None


@dataclass(frozen=True)
class VisitIttEntry:
    samples: Mapping[float, float]
    glucose_unit: str
    insulin_dose_u_per_kg: float | None = None
    # Samples not taken: minute → (missing-data code, reason).
    missing_samples: Mapping[float, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class VisitFormsEntry:
    """What a visit page carries; a block left empty is None (or no values)."""

    measurements: Sequence[VisitValue] = ()
    itt: VisitIttEntry | None = None
    insulin: Mapping[str, Any] | None = None  # InsulinDoseEntry fields but the visit
    ogld: Mapping[str, Any] | None = None  # OgldDoseEntry fields but the visit
    statuses: Mapping[str, str] = field(default_factory=dict)  # form → FormStatus value
    transplantation: Mapping[str, Any] | None = None  # TransplantationEntry fields but the visit
    adverse_event: Mapping[str, Any] | None = None  # AdverseEventReport items
    # The elements that had a value when the caller read the visit (None: not said, not checked).
    opened_with: frozenset[str] | None = None
    # Fields the adapter could not read (field → reason): reported with every other refusal.
    refused: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VisitFormsSaved:
    """What was saved (one phrase per value or record) and what the save raised."""

    saved: tuple[str, ...]
    raised: tuple[str, ...]


class VisitFormProblems(ValidationProblem):
    """Every refusal of a visit save, by form field (nothing was saved)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        name, reason = next(iter(problems.items()))
        super().__init__(name, reason, "visit_form_invalid")
        self.problems = dict(problems)


class EnteredMeanwhile(VisitFormProblems):
    """A value typed into a field someone else filled since the form was read (409): every
    refusal by field, and the value now saved in each field entered meanwhile (`current`)."""

    http_status = 409

    def __init__(self, problems: Mapping[str, str], current: Mapping[str, str]) -> None:
        super().__init__(problems)
        self.rule = "entered_meanwhile"
        self.current = dict(current)


ITT_INPUTS = ("insulin_dose_u_per_kg", "performed_on")
# Every input of the transplantation and adverse-event blocks, so that a refusal of one left
# blank (e.g. the resolution date an outcome requires) lands next to it, not on the first field.
TX_INPUTS = (
    "performed_on", "product", "lot_number", "cell_source", "dose_cells_per_kg", "route",
    "operator", "weight_kg", "notes",
)  # fmt: skip
AE_INPUTS = (
    "term", "onset_date", "resolution_date", "grade", "seriousness", "relatedness", "expected",
    "action_taken", "outcome", "awareness_date", "aware_time",
)  # fmt: skip


class _Collector:
    """Runs each block's use case, keeping what it saved or why it was refused."""

    def __init__(self) -> None:
        self.saved: list[str] = []
        self.problems: dict[str, str] = {}

    def attempt(
        self, where: str, prefix: str, call: Callable[[], str], inputs: tuple[str, ...] = ()
    ) -> None:
        """Run `call`; a refusal of one of `inputs` is kept under prefix + its name, any other
        (the value, its unit, a derived field such as a drug's DDD) under `where`."""
        try:
            self.saved.append(call())
        except ServiceError as exc:
            if exc.status in (401, 403, 404):
                raise
            name = (exc.field or "").split(".")[-1].split("[")[0]
            target = prefix + name if name in inputs else where
            self.problems.setdefault(target, str(getattr(exc, "reason", None) or exc.message))


@service
def save_visit_forms(
    session: Session,
    actor: Actor,
    participant_id: int,
    visit_code: str,
    entry: VisitFormsEntry,
) -> VisitFormsSaved:
    """Save every block of a visit page that has values, all or nothing (see module doc)."""
    # Access first, whatever the entry holds: another site's participant is not found, and a
    # role that may not write is refused, before any value is looked at.
    get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    before = marks(session)
    meanwhile = entered_meanwhile(
        session, actor, participant_id, visit_code,
        opened_with=entry.opened_with, typed=_typed(entry),
    )  # fmt: skip
    run = _Collector()
    _run_blocks(run, (session, actor, participant_id, visit_code), entry, meanwhile)
    _refuse_if_any(run, entry, meanwhile)
    run.saved = [s for s in run.saved if s]
    if not run.saved:
        raise ValidationProblem("visit", "type at least one value before saving", "nothing_to_save")
    session.flush()
    return VisitFormsSaved(tuple(run.saved), raised_since(session, participant_id, before))


Where = tuple[Session, Actor, int, str]


def _run_blocks(run: _Collector, at: Where, entry: VisitFormsEntry, meanwhile: Meanwhile) -> None:
    """Every block through its own use case; a value entered meanwhile is not attempted."""
    for value in entry.measurements:
        if value.element in meanwhile.problems:
            continue
        # A missing-data code's reason is refused next to its own input (<element>_missing_reason).
        call = partial(_measurement, *at, value)
        run.attempt(value.element, value.element + "_", call, ("missing_reason",))
    if entry.itt is not None and ITT_ELEMENT not in meanwhile.problems:
        run.attempt(ITT_ELEMENT, "", partial(_itt, *at, entry.itt), ITT_INPUTS)
    if entry.insulin is not None:
        call = partial(_insulin, *at, entry.insulin)
        run.attempt("insulin_total_units_per_day", "insulin_", call, tuple(entry.insulin))
    if entry.ogld is not None:
        run.attempt("ogld_drug", "ogld_", partial(_ogld, *at, entry.ogld), tuple(entry.ogld))
    if entry.transplantation is not None:
        call = partial(_transplantation, *at, entry.transplantation)
        if not _has_form(at, "transplantation"):
            call = partial(_no_form, at[3], "a transplantation")
        run.attempt("tx_performed_on", "tx_", call, TX_INPUTS)
    if entry.adverse_event is not None:
        call = partial(_adverse_event, *at, entry.adverse_event)
        run.attempt("ae_term", "ae_", call, AE_INPUTS)
    for form, status in entry.statuses.items():
        run.attempt("status_" + form, "", partial(_status, *at, form=form, status=status))


def _refuse_if_any(run: _Collector, entry: VisitFormsEntry, meanwhile: Meanwhile) -> None:
    """Every refusal at once: the use cases', the values entered meanwhile (409 when there are
    any) and what the adapter could not read (that reason wins: it is the most precise)."""
    problems = {**run.problems, **meanwhile.problems, **entry.refused}
    if meanwhile.problems:
        raise EnteredMeanwhile(problems, meanwhile.current)
    if problems:
        raise VisitFormProblems(problems)


def _typed(entry: VisitFormsEntry) -> list[Typed]:
    """The fields the entry fills that were empty for the caller (each measurement, the ITT)."""
    typed = [
        Typed(v.element, f"{v.value} {v.unit or ''}".strip() or f"code {v.missing_code}")
        for v in entry.measurements
    ]
    if entry.itt is not None:
        typed.append(
            Typed(ITT_ELEMENT, f"an insulin tolerance test of {len(entry.itt.samples)} samples")
        )
    return typed


def _measurement(session: Session, actor: Actor, pid: int, code: str, value: VisitValue) -> str:
    view = record_measurement(
        session, actor, pid, VisitMeasurement(visit_code=code, element=value.element,
        value=value.value or None, unit=value.unit if value.value else None,
        missing_code=value.missing_code, missing_reason=value.missing_reason),
    )  # fmt: skip
    if view.missing_code:
        return f"{view.label} recorded as missing ({view.missing_code}: {view.missing_reason})"
    return f"{view.label} {view.value_as_entered} {view.unit_as_entered or ''}".strip()


def _itt(session: Session, actor: Actor, pid: int, code: str, itt: VisitIttEntry) -> str:
    view = record_itt_test(
        session, actor, pid, IttTestEntry(visit_code=code, samples=dict(itt.samples),
        glucose_unit=itt.glucose_unit, insulin_dose_u_per_kg=itt.insulin_dose_u_per_kg,
        missing_samples=dict(itt.missing_samples) or None),
    )  # fmt: skip
    kitt = view.kitt_percent_per_min
    return f"insulin tolerance test ({len(view.samples)} samples" + (
        f", KITT {kitt:.2f} %/min)" if kitt is not None else ")"
    )


def _insulin(session: Session, actor: Actor, pid: int, code: str, values: Mapping[str, Any]) -> str:
    view = record_insulin_dose(session, actor, pid, InsulinDoseEntry(visit_code=code, **values))
    return f"insulin {view.total_units_per_day:g} U/day from {view.start_date.isoformat()}"


def _ogld(session: Session, actor: Actor, pid: int, code: str, values: Mapping[str, Any]) -> str:
    view = record_ogld_dose(session, actor, pid, OgldDoseEntry(visit_code=code, **values))
    return f"{view.drug} {view.daily_dose_mg:g} mg/day from {view.start_date.isoformat()}"


def _status(session: Session, actor: Actor, pid: int, code: str, *, form: str, status: str) -> str:
    """Set a form's status; "" when it already had it (nothing to say)."""
    current = {
        (s.visit_code, s.form): s.status.value for s in list_form_statuses(session, actor, pid)
    }
    if current.get((code, form)) == status:
        return ""
    set_form_status(
        session, actor, pid, FormStatusChange(visit_code=code, form=form, status=status)
    )
    return f"{form.replace('_', ' ')} form marked {status}"


def _has_form(at: Where, form: str) -> bool:
    """Whether the visit's forms (protocol schedule, version in force) include `form`."""
    session, _actor, _pid, code = at
    return form in plan_of(current_protocol(session), code).forms


def _no_form(code: str, what: str) -> str:
    raise ValidationProblem(
        "performed_on", f"visit {code} has no form for {what} in the protocol's schedule"
    )


def _transplantation(
    session: Session, actor: Actor, pid: int, code: str, values: Mapping[str, Any]
) -> str:
    view = record_transplantation(
        session, actor, pid, TransplantationEntry(visit_code=code, **values)
    )
    return (
        f"cell transplantation on {view.performed_on.isoformat()} "
        f"({format_count(view.dose_cells_per_kg)} cells/kg, lot {view.lot_number})"
    )


def _adverse_event(
    session: Session, actor: Actor, pid: int, code: str, values: Mapping[str, Any]
) -> str:
    view = report_adverse_event(session, actor, pid, AdverseEventReport(**values))
    return f"adverse event {view.id} ({view.term}, grade {view.grade})"
