"""Intravenous short insulin tolerance tests (ITT): the timed glucose samples and KITT.

Each sample is edit-checked like a measurement of ``itt_glucose`` (hard limits refuse; a value
below the soft limit — 2.2 mmol/L, the hypoglycaemia threshold used for the low-dose ITT by
Hirst et al., Diabet Med 1993;10:839 — raises a query). KITT is computed on reading with
`trialdesk.derive.compute_kitt` (ln-glucose slope over 3–15 min; Hirst et al. 1993).

A sample that was not taken (the 10-min glucose of a blocked line) is recorded with a
missing-data code and the site's reason instead of a glucose (`missing_samples`); KITT then
uses the samples that were taken, when the method allows it (see `trialdesk.derive.itt`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.catalogue import ElementKind
from trialdesk.catalogue.missing import UnknownMissingCode, code_of, describe
from trialdesk.derive import DerivationError, compute_kitt
from trialdesk.services.access import get_participant, get_record, require_data_entry
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import CodedSamples, IttTestChanges, IttTestEntry
from trialdesk.services.editchecks import element_for_entry, limit_check
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.measurements import done_visit
from trialdesk.services.queries import open_query
from trialdesk.services.uow import RecordChange, add_record, change_record, service, void_record
from trialdesk.services.validate import finite_number, not_after_today, required_text
from trialdesk.services.views import IttCodedSampleView, IttSampleView, IttTestView
from trialdesk.store.enums import QueryOrigin
from trialdesk.store.models import IttSample, IttTest, Participant, Visit
from trialdesk.units.convert import UnitError, convert, format_unit, quantity

ELEMENT = "itt_glucose"
MINUTE_RANGE = (-30.0, 120.0)
MAX_INSULIN_DOSE_U_PER_KG = 0.3
"""Hard limit on the ITT insulin bolus: the test uses 0.05–0.1 U/kg regular insulin (Bonora E
et al., J Clin Endocrinol Metab 1989;68:374-8); above 0.3 U/kg is an entry error."""


def _coded_view(sample: IttSample) -> IttCodedSampleView:
    return IttCodedSampleView(
        minute=sample.minute,
        missing_code=sample.missing_code or "",
        missing_label=code_of(sample.missing_code or "").label,
        missing_reason=sample.missing_reason,
    )


def itt_view(test: IttTest, visit_code: str) -> IttTestView:
    live = [s for s in test.samples if not s.voided]
    taken = [s for s in live if s.missing_code is None]
    coded = [_coded_view(s) for s in live if s.missing_code is not None]
    pairs = [(s.minute, s.glucose_mmol_l) for s in taken if s.glucose_mmol_l is not None]
    kitt: float | None = None
    problem: str | None = None
    try:
        kitt = compute_kitt([m for m, _ in pairs], [g for _, g in pairs])
    except DerivationError as exc:
        problem = str(exc)
        if coded:
            problem += "; not taken: " + ", ".join(
                f"{c.minute:g} min ({describe(c.missing_code, c.missing_reason)})" for c in coded
            )
    fields = {
        k: getattr(test, k)
        for k in IttTestView.model_fields
        if k
        not in ("visit_code", "samples", "kitt_percent_per_min", "kitt_problem", "coded_samples")
    }
    return IttTestView.model_validate(
        {
            **fields,
            "visit_code": visit_code,
            "samples": [IttSampleView.model_validate(s) for s in taken],
            "kitt_percent_per_min": kitt,
            "kitt_problem": problem,
            "coded_samples": coded,
        }
    )


def _coded_rows(coded: CodedSamples | None, taken: list[float]) -> list[tuple[float, str, str]]:
    """(minute, code, reason) of each sample not taken, checked: a known code, a reason, a
    minute in range that has no glucose too."""
    rows = []
    for i, (raw_minute, (code, reason)) in enumerate((coded or {}).items(), start=1):
        minute = finite_number(raw_minute, f"missing_samples[{i}].minute")
        low, high = MINUTE_RANGE
        if not low <= minute <= high or minute in taken:
            raise ValidationProblem(
                "missing_samples",
                f"{minute:g} min: not a sample time between {low:g} and {high:g}, or it has a "
                "glucose too (give either a glucose or a missing-data code, not both)",
            )
        try:
            known = code_of(code)
        except UnknownMissingCode as exc:
            raise ValidationProblem("missing_samples", f"{minute:g} min: {exc}") from None
        rows.append((minute, known.code, required_text(reason, "missing_samples", 2000)))
    return sorted(rows)


def _pairs(
    samples: Mapping[Any, Any] | Iterable[Any], coded: bool = False
) -> list[tuple[float, float]]:
    items = list(samples.items()) if isinstance(samples, Mapping) else list(samples)
    if not items and not coded:
        raise ValidationProblem("samples", "at least one (minute, glucose) sample is required")
    pairs: list[tuple[float, float]] = []
    for i, item in enumerate(items, start=1):
        try:
            minute, glucose = item
        except (TypeError, ValueError):
            raise ValidationProblem(
                "samples", f"sample {i} is not a (minute, glucose) pair"
            ) from None
        pairs.append(
            (
                finite_number(minute, f"samples[{i}].minute"),
                finite_number(glucose, f"samples[{i}].glucose"),
            )
        )
    minutes = [m for m, _ in pairs]
    if len(set(minutes)) != len(minutes):
        raise ValidationProblem("samples", "two samples have the same minute")
    low, high = MINUTE_RANGE
    if any(not low <= m <= high for m in minutes):
        raise ValidationProblem("samples", f"sample minutes must lie between {low:g} and {high:g}")
    return sorted(pairs)


def _checked_samples(
    samples: Mapping[Any, Any] | Iterable[Any], unit: str, coded: bool = False
) -> tuple[str, list[tuple[float, float, float]], list[str]]:
    """(unit as entered, [(minute, as entered, mmol/L)], soft-limit query texts)."""
    element = element_for_entry(ELEMENT, allow=(ElementKind.SERIES,))
    if unit not in element.units:
        raise ValidationProblem(
            "glucose_unit", f"{unit!r} is not one of {', '.join(element.units)}"
        )
    rows, queries = [], []
    q = quantity(1, unit, analyte=element.analyte, field=ELEMENT)
    for minute, glucose in _pairs(samples, coded):
        try:
            q = quantity(glucose, unit, analyte=element.analyte, field=ELEMENT)
            mmol = float(convert(q, "mmol/L", analyte=element.analyte, field=ELEMENT).magnitude)
        except UnitError as exc:
            raise ValidationProblem("samples", str(exc)) from None
        _flag, query = limit_check(element, mmol, f"{glucose:g} {unit} at {minute:g} min")
        if query:
            queries.append(query)
        rows.append((minute, glucose, mmol))
    return format_unit(q.units), rows, queries


def _add_samples(
    session: Session,
    actor: Actor,
    participant: Participant,
    test: IttTest,
    rows: list[tuple[float, float, float]],
    *,
    coded: Sequence[tuple[float, str, str]] = (),
) -> None:
    for minute, entered, mmol in rows:
        sample = IttSample(
            itt_test_id=test.id, minute=minute, glucose_as_entered=entered, glucose_mmol_l=mmol
        )
        add_record(session, actor, sample, participant)
    for minute, code, reason in coded:
        add_record(
            session,
            actor,
            IttSample(itt_test_id=test.id, minute=minute, missing_code=code, missing_reason=reason),
            participant,
        )
    session.refresh(test, ["samples"])


def _dose(value: float | None) -> float | None:
    if value is None:
        return None
    dose = finite_number(value, "insulin_dose_u_per_kg")
    if not 0 < dose <= MAX_INSULIN_DOSE_U_PER_KG:
        raise ValidationProblem(
            "insulin_dose_u_per_kg", f"{dose:g} U/kg is outside 0–0.3 U/kg (ITT uses 0.05–0.1)"
        )
    return dose


@service
def record_itt_test(
    session: Session,
    actor: Actor,
    participant_id: int,
    entry: IttTestEntry,
) -> IttTestView:
    """Record an ITT: samples as {minute: glucose} or [(minute, glucose), …] in `glucose_unit`;
    `missing_samples` as {minute: (code, reason)} for samples not taken (e.g.
    ``{9: ("ND", "line blocked")}``)."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    visit = done_visit(session, participant, entry.visit_code)
    assert visit.visit_date is not None
    when = not_after_today(entry.performed_on or visit.visit_date, "performed_on")
    require_data_entry(session, participant, when)
    unit, rows, queries = _checked_samples(
        entry.samples, entry.glucose_unit, bool(entry.missing_samples)
    )
    coded = _coded_rows(entry.missing_samples, [m for m, _, _ in rows])
    test = IttTest(
        participant_id=participant.id,
        visit_id=visit.id,
        performed_on=when,
        insulin_dose_u_per_kg=_dose(entry.insulin_dose_u_per_kg),
        glucose_unit_as_entered=unit,
    )
    add_record(session, actor, test, participant)
    _add_samples(session, actor, participant, test, rows, coded=coded)
    for text in queries:
        open_query(
            session, actor, participant, test, "samples", text=text, origin=QueryOrigin.EDIT_CHECK
        )
    return itt_view(test, visit.code)


def _kept_codes(test: IttTest) -> dict[float, tuple[str, str]]:
    """The samples not taken of `test`: a correction that gives only glucoses keeps them (a
    glucose now given for one of those minutes replaces its code)."""
    return {
        s.minute: (s.missing_code, s.missing_reason or "")
        for s in test.samples
        if not s.voided and s.missing_code is not None
    }


@service
def update_itt_test(
    session: Session,
    actor: Actor,
    itt_test_id: int,
    changes: IttTestChanges,
) -> IttTestView:
    """Correct an ITT; new `samples` (and `missing_samples`, the samples not taken) replace the
    old ones (which are voided, not deleted)."""
    test, participant = get_record(session, actor, IttTest, itt_test_id, Permission.WRITE_CLINICAL)
    if test.voided:
        raise RuleViolation("voided", f"ITT {itt_test_id} is voided", conflict=True)
    columns: dict[str, Any] = {}
    if changes.performed_on is not None:
        columns["performed_on"] = not_after_today(changes.performed_on, "performed_on")
    if changes.insulin_dose_u_per_kg is not None:
        columns["insulin_dose_u_per_kg"] = _dose(changes.insulin_dose_u_per_kg)
    replacement = None
    if changes.samples is not None:
        kept = _kept_codes(test) if changes.missing_samples is None else changes.missing_samples
        unit, rows, queries = _checked_samples(
            changes.samples, changes.glucose_unit or test.glucose_unit_as_entered, bool(kept)
        )
        columns["glucose_unit_as_entered"] = unit
        taken = [m for m, _, _ in rows]
        coded = _coded_rows({m: c for m, c in kept.items() if m not in taken}, taken)
        replacement = (rows, queries, coded)
    elif changes.glucose_unit is not None or changes.missing_samples is not None:
        raise ValidationProblem("samples", "give the samples together with their new unit")
    old = [
        [s.minute, s.glucose_as_entered if s.missing_code is None else s.missing_code]
        for s in test.samples
        if not s.voided
    ]
    new = (
        sorted([[m, g] for m, g, _ in replacement[0]] + [[m, c] for m, c, _ in replacement[2]])
        if replacement is not None
        else old
    )
    change_record(
        session,
        actor,
        test,
        RecordChange(values=columns, extra={"samples": [old, new]} if new != old else None),
        reason=changes.reason,
        expected_version=changes.expected_version,
        participant=participant,
    )
    if replacement is not None and new != old:
        for sample in [s for s in test.samples if not s.voided]:
            void_record(
                session,
                actor,
                sample,
                reason=changes.reason,
                expected_version=None,
                participant=participant,
            )
        _add_samples(session, actor, participant, test, replacement[0], coded=replacement[2])
        for text in replacement[1]:
            open_query(
                session,
                actor,
                participant,
                test,
                "samples",
                text=text,
                origin=QueryOrigin.EDIT_CHECK,
            )
    visit = session.get(Visit, test.visit_id)
    return itt_view(test, visit.code if visit else "")


@service
def list_itt_tests(
    session: Session, actor: Actor, participant_id: int, *, include_voided: bool = False
) -> list[IttTestView]:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    query = (
        select(IttTest, Visit.code)
        .join(Visit, Visit.id == IttTest.visit_id)
        .where(IttTest.participant_id == participant_id)
        .order_by(IttTest.performed_on, IttTest.id)
    )
    if not include_voided:
        query = query.where(IttTest.voided.is_(False))
    return [itt_view(test, code) for test, code in session.execute(query).all()]
