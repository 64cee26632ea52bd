"""Adverse events: CTCAE v5.0 grade, ICH E2A seriousness, and expedited-report due dates.

Severity and seriousness are different things (a grade 3 event need not be serious). An event
is **serious** when it meets any ICH E2A criterion (CPMP/ICH/377/95, II.B): results in death, is
life-threatening, requires or prolongs inpatient hospitalisation, results in persistent or
significant disability/incapacity, is a congenital anomaly/birth defect, or is another important
medical event.

A serious event is flagged for expedited reporting with a due date counted in calendar days
from the day the site became aware of it (day 0), per ICH E2A III.A: **7 days** for a fatal or
life-threatening event, **15 days** otherwise. (E2A's regulatory clock applies to serious,
unexpected, suspected adverse reactions; the system flags every serious event, so that the
sponsor's assessment of relatedness and expectedness is never missed.)

Consistency (CTCAE v5.0: grade 5 = death related to the AE): grade 5, the ``death`` criterion
and the outcome ``fatal`` go together. Events before informed consent are medical history, not
adverse events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import (
    current_consent,
    get_participant,
    get_record,
    require,
    require_data_entry,
)
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.listing import DEFAULT_LIMIT, paginate, scoped
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import choice, not_after_today, required_text, today
from trialdesk.services.views import AdverseEventView, Page
from trialdesk.store.enums import AeAction, AeOutcome, Relatedness
from trialdesk.store.models import AdverseEvent, Participant

SERIOUSNESS: dict[str, str] = {
    "death": "results_in_death",
    "life_threatening": "life_threatening",
    "hospitalisation": "hospitalisation",
    "disability": "disability",
    "congenital_anomaly": "congenital_anomaly",
    "important_medical_event": "important_medical_event",
}
FATAL_OR_LIFE_THREATENING_DAYS = 7
OTHER_SERIOUS_DAYS = 15
RESOLVED = frozenset({AeOutcome.RECOVERED, AeOutcome.RECOVERED_WITH_SEQUELAE})


def expedited_report_due(awareness_date: date, *, fatal_or_life_threatening: bool) -> date:
    """ICH E2A III.A: day 0 = first knowledge; 7 calendar days if fatal or life-threatening,
    otherwise 15.

    >>> expedited_report_due(date(2027, 3, 1), fatal_or_life_threatening=True)
    datetime.date(2027, 3, 8)
    >>> expedited_report_due(date(2027, 3, 1), fatal_or_life_threatening=False)
    datetime.date(2027, 3, 16)
    """
    days = FATAL_OR_LIFE_THREATENING_DAYS if fatal_or_life_threatening else OTHER_SERIOUS_DAYS
    return awareness_date + timedelta(days=days)


def ae_view(row: AdverseEvent) -> AdverseEventView:
    criteria = [name for name, column in SERIOUSNESS.items() if getattr(row, column)]
    overdue = bool(
        row.serious
        and row.expedited_reported_on is None
        and row.expedited_report_due is not None
        and row.expedited_report_due < today()
    )
    fields = {
        k: getattr(row, k)
        for k in AdverseEventView.model_fields
        if k not in ("seriousness_criteria", "expedited_report_overdue")
    }
    return AdverseEventView.model_validate(
        {**fields, "seriousness_criteria": criteria, "expedited_report_overdue": overdue}
    )


def _criteria(seriousness: Iterable[str]) -> dict[str, bool]:
    given = list(seriousness)
    unknown = [c for c in given if c not in SERIOUSNESS]
    if unknown:
        raise ValidationProblem(
            "seriousness",
            f"{unknown[0]!r} is not an ICH E2A criterion ({', '.join(SERIOUSNESS)})",
        )
    return {column: name in given for name, column in SERIOUSNESS.items()}


def _grade(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValidationProblem("grade", f"{value!r} is not a CTCAE grade (1–5)")
    return value


def _consistent(state: dict[str, Any]) -> None:
    """Cross-field rules of one event (see module docstring)."""
    fatal = state["outcome"] is AeOutcome.FATAL
    if (state["grade"] == 5) != fatal:
        raise ValidationProblem(
            "grade", "grade 5 (death related to the AE, CTCAE v5.0) goes with outcome 'fatal'"
        )
    if state["results_in_death"] != fatal:
        raise ValidationProblem(
            "seriousness", "the 'death' criterion goes with outcome 'fatal' and grade 5"
        )
    onset, resolved = state["onset_date"], state["resolution_date"]
    if resolved is not None and resolved < onset:
        raise ValidationProblem("resolution_date", "is before the onset date")
    if state["outcome"] in RESOLVED and resolved is None:
        raise ValidationProblem("resolution_date", "is required when the event has resolved")
    if resolved is not None and state["outcome"] not in RESOLVED | {AeOutcome.FATAL}:
        raise ValidationProblem(
            "resolution_date", f"an event with outcome '{state['outcome'].value}' has not resolved"
        )
    if state["awareness_date"] < onset:
        raise ValidationProblem("awareness_date", "is before the onset date")


def _seriousness(state: dict[str, Any]) -> dict[str, Any]:
    serious = any(state[column] for column in SERIOUSNESS.values())
    due = None
    if serious:
        due = expedited_report_due(
            state["awareness_date"],
            fatal_or_life_threatening=state["results_in_death"] or state["life_threatening"],
        )
    return {"serious": serious, "expedited_report_due": due}


def _after_consent(session: Session, participant: Participant, onset: date) -> None:
    consent = current_consent(session, participant.id)
    if consent is not None and onset < consent.consented_on:
        raise RuleViolation(
            "before_consent",
            f"onset {onset} is before informed consent ({consent.consented_on}): record it as "
            "medical history, not as an adverse event",
            "onset_date",
        )


@service
def report_adverse_event(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    term: str,
    onset_date: date,
    grade: int,
    relatedness: Relatedness | str,
    action_taken: AeAction | str,
    outcome: AeOutcome | str,
    seriousness: Iterable[str] = (),
    resolution_date: date | None = None,
    expected: bool | None = None,
    awareness_date: date | None = None,
) -> AdverseEventView:
    """Report an AE; a serious one gets its expedited-report due date (ICH E2A)."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    not_after_today(onset_date, "onset_date")
    # Safety reporting passes a pending re-consent (ICH E6(R3); see services.access).
    require_data_entry(session, participant, onset_date, safety_report=True)
    _after_consent(session, participant, onset_date)
    state: dict[str, Any] = {
        "term": required_text(term, "term"),
        "onset_date": onset_date,
        "resolution_date": None
        if resolution_date is None
        else not_after_today(resolution_date, "resolution_date"),
        "grade": _grade(grade),
        "relatedness": choice(Relatedness, relatedness, "relatedness"),
        "action_taken": choice(AeAction, action_taken, "action_taken"),
        "outcome": choice(AeOutcome, outcome, "outcome"),
        "expected": expected,
        "awareness_date": not_after_today(awareness_date or today(), "awareness_date"),
        **_criteria(seriousness),
    }
    _consistent(state)
    state.update(_seriousness(state))
    row = AdverseEvent(participant_id=participant.id, **state)
    add_record(session, actor, row, participant)
    return ae_view(row)


@service
def update_adverse_event(
    session: Session,
    actor: Actor,
    adverse_event_id: int,
    *,
    expected_version: int,
    reason: str,
    term: str | None = None,
    onset_date: date | None = None,
    resolution_date: date | None = None,
    grade: int | None = None,
    relatedness: Relatedness | str | None = None,
    action_taken: AeAction | str | None = None,
    outcome: AeOutcome | str | None = None,
    seriousness: Iterable[str] | None = None,
    expected: bool | None = None,
    awareness_date: date | None = None,
    expedited_reported_on: date | None = None,
) -> AdverseEventView:
    """Follow-up of an AE (resolution, outcome, upgrade to serious, report sent …).

    An event that becomes serious starts its clock on `awareness_date` (default: today).
    """
    row, participant = get_record(
        session, actor, AdverseEvent, adverse_event_id, Permission.WRITE_CLINICAL
    )
    if row.voided:
        raise RuleViolation("voided", f"adverse event {adverse_event_id} is voided", conflict=True)
    state: dict[str, Any] = {k: getattr(row, k) for k in _STATE_FIELDS}
    updates: dict[str, Any] = {
        "term": None if term is None else required_text(term, "term"),
        "onset_date": None if onset_date is None else not_after_today(onset_date, "onset_date"),
        "resolution_date": None
        if resolution_date is None
        else not_after_today(resolution_date, "resolution_date"),
        "grade": None if grade is None else _grade(grade),
        "relatedness": None
        if relatedness is None
        else choice(Relatedness, relatedness, "relatedness"),
        "action_taken": None
        if action_taken is None
        else choice(AeAction, action_taken, "action_taken"),
        "outcome": None if outcome is None else choice(AeOutcome, outcome, "outcome"),
        "expected": expected,
        "awareness_date": None
        if awareness_date is None
        else not_after_today(awareness_date, "awareness_date"),
        "expedited_reported_on": None
        if expedited_reported_on is None
        else not_after_today(expedited_reported_on, "expedited_reported_on"),
    }
    state.update({k: v for k, v in updates.items() if v is not None})
    if seriousness is not None:
        state.update(_criteria(seriousness))
        became_serious = not row.serious and any(state[c] for c in SERIOUSNESS.values())
        if became_serious and awareness_date is None:
            state["awareness_date"] = today()
    _after_consent(session, participant, state["onset_date"])
    _consistent(state)
    state.update(_seriousness(state))
    if state["expedited_reported_on"] is not None and not state["serious"]:
        raise ValidationProblem("expedited_reported_on", "only a serious event is reported")
    change_record(
        session,
        actor,
        row,
        state,
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    return ae_view(row)


_STATE_FIELDS = (
    "term",
    "onset_date",
    "resolution_date",
    "grade",
    "relatedness",
    "action_taken",
    "outcome",
    "expected",
    "awareness_date",
    "expedited_reported_on",
    *SERIOUSNESS.values(),
)


@service
def get_adverse_event(session: Session, actor: Actor, adverse_event_id: int) -> AdverseEventView:
    row, _ = get_record(session, actor, AdverseEvent, adverse_event_id, Permission.READ_CLINICAL)
    return ae_view(row)


@service
def list_adverse_events(
    session: Session,
    actor: Actor,
    *,
    participant_id: int | None = None,
    serious: bool | None = None,
    include_voided: bool = False,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page[AdverseEventView]:
    if participant_id is not None:
        get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    else:
        require(actor, Permission.READ_CLINICAL, table="adverse_events")
    query = scoped(select(AdverseEvent), AdverseEvent, actor, include_voided)
    if participant_id is not None:
        query = query.where(AdverseEvent.participant_id == participant_id)
    if serious is not None:
        query = query.where(AdverseEvent.serious.is_(serious))
    query = query.order_by(AdverseEvent.onset_date, AdverseEvent.id)
    return paginate(session, query, limit, offset, ae_view)
