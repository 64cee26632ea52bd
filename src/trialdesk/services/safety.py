"""Adverse events: CTCAE v5.0 grade, ICH E2A seriousness, and expedited-report due dates.

Severity and seriousness are different things (a grade 3 event need not be serious). An event
is **serious** when it meets any ICH E2A criterion (CPMP/ICH/377/95, II.B): results in death, is
life-threatening, requires or prolongs inpatient hospitalisation, results in persistent or
significant disability/incapacity, is a congenital anomaly/birth defect, or is another important
medical event.

Two clocks (issue 14; arithmetic in `trialdesk.derive.reporting`, reports and judgements in
`trialdesk.services.safety_reporting`): every serious event must be reported by the site to the
sponsor within 24 hours of the site's awareness (`aware_at`, ICH E6(R3) Annex 1 §2.7.2(b)); only
a SUSAR (serious, unexpected and at least possibly related, as *confirmed by an investigator*)
gets the sponsor's expedited-report due date (`expedited_report_due`, ICH E2A III.A: 7 calendar
days if fatal or life-threatening, else 15, from the sponsor's first knowledge).

Relatedness and expectedness entered or changed by anyone are *proposals* (kept in
``safety_assessments``); a change clears the investigator's confirmation, as a changed grade
clears the grade's. A change to what a follow-up report must carry stamps `new_information_at`.

Consistency (CTCAE v5.0: grade 5 = death related to the AE): grade 5, the ``death`` criterion
and the outcome ``fatal`` go together. Events before informed consent are medical history, not
adverse events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.derive.reporting import sponsor_clock
from trialdesk.services.access import (
    current_consent,
    get_participant,
    get_record,
    require,
    require_data_entry,
)
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.adverse_event_fields import AdverseEventChanges, AdverseEventReport
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.listing import DEFAULT_LIMIT, paginate, scoped
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import choice, not_after_today, required_text, today
from trialdesk.services.views import AdverseEventView, Page
from trialdesk.store.enums import (
    AeAction,
    AeOutcome,
    AssessmentStep,
    AssessmentSubject,
    Relatedness,
)
from trialdesk.store.models import AdverseEvent, Participant, SafetyAssessment, Site
from trialdesk.store.types import utcnow

SERIOUSNESS: dict[str, str] = {
    "death": "results_in_death",
    "life_threatening": "life_threatening",
    "hospitalisation": "hospitalisation",
    "disability": "disability",
    "congenital_anomaly": "congenital_anomaly",
    "important_medical_event": "important_medical_event",
}
CTCAE_GRADES = range(1, 6)
"""CTCAE v5.0 grades 1 (mild) to 5 (death related to the AE) [@CTCAE5]."""
FATAL_GRADE = 5
"""CTCAE v5.0: grade 5 is death related to the AE."""
RESOLVED = frozenset({AeOutcome.RECOVERED, AeOutcome.RECOVERED_WITH_SEQUELAE})


def expedited_report_due(day0: date, *, fatal_or_life_threatening: bool) -> date:
    """ICH E2A III.A: the sponsor's SUSAR due date from day 0 (`derive.reporting.sponsor_clock`).

    >>> expedited_report_due(date(2027, 3, 1), fatal_or_life_threatening=True)
    datetime.date(2027, 3, 8)
    >>> expedited_report_due(date(2027, 3, 1), fatal_or_life_threatening=False)
    datetime.date(2027, 3, 16)
    """
    return sponsor_clock(day0, fatal_or_life_threatening=fatal_or_life_threatening).due


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


def site_zone(session: Session, participant: Participant) -> ZoneInfo:
    """The participant's site time zone (dates of awareness and day 0 are the site's dates)."""
    site = session.get(Site, participant.site_id)
    try:
        return ZoneInfo(site.time_zone if site is not None else "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


# Slack for clocks a few minutes apart (a browser's clock against the server's).
FUTURE_SLACK = timedelta(minutes=5)


def aware_moment(
    aware_at: datetime | None,
    awareness_date: date | None,
    zone: ZoneInfo,
    aware_time: time | None = None,
) -> datetime:
    """When the site became aware: the date-time given (without a zone: site time); else the
    given day (default today) at `aware_time` (site time); else the start of the given day (the
    earliest reading, so the 24-hour clock is never late); else now."""
    field = "aware_at"
    if aware_at is None and aware_time is not None:
        if not isinstance(aware_time, time):
            raise ValidationProblem("aware_time", f"{aware_time!r} is not a time (HH:MM)")
        day = awareness_date or datetime.now(zone).date()
        aware_at, field = datetime.combine(day, aware_time, zone), "aware_time"
    if aware_at is not None:
        if not isinstance(aware_at, datetime):
            raise ValidationProblem(field, f"{aware_at!r} is not a date and time")
        moment = aware_at if aware_at.tzinfo else aware_at.replace(tzinfo=zone)
        if moment - utcnow() > FUTURE_SLACK:
            raise ValidationProblem(field, f"{moment.isoformat()} is in the future")
        return moment.astimezone(UTC)
    if awareness_date is not None and awareness_date != datetime.now(zone).date():
        return datetime.combine(awareness_date, time(0), zone).astimezone(UTC)
    return utcnow()


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
    if isinstance(value, bool) or not isinstance(value, int) or value not in CTCAE_GRADES:
        raise ValidationProblem("grade", f"{value!r} is not a CTCAE grade (1–5)")
    return value


def _consistent(state: dict[str, Any]) -> None:
    """Cross-field rules of one event (see module docstring)."""
    fatal = state["outcome"] is AeOutcome.FATAL
    if (state["grade"] == FATAL_GRADE) != fatal:
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
    return {"serious": any(state[column] for column in SERIOUSNESS.values())}


def propose(
    session: Session,
    actor: Actor,
    row: AdverseEvent,
    participant: Participant,
    subject: AssessmentSubject,
    *,
    basis: str | None = None,
) -> SafetyAssessment:
    """Keep what `row` now says about `subject` as a proposal by `actor` (audited)."""
    causality = subject is AssessmentSubject.CAUSALITY
    proposal = SafetyAssessment(
        participant_id=participant.id,
        adverse_event_id=row.id,
        subject=subject,
        step=AssessmentStep.PROPOSED,
        relatedness=row.relatedness if causality else None,
        expected=row.expected if causality else None,
        grade=None if causality else row.grade,
        basis=basis,
        assessed_by=actor.user_id,
        assessed_at=utcnow(),
    )
    add_record(session, actor, proposal, participant)
    return proposal


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
    session: Session, actor: Actor, participant_id: int, report: AdverseEventReport
) -> AdverseEventView:
    """Report an AE (awareness: `aware_at`, else the start of `awareness_date`, else now);
    its relatedness, expectedness and grade are kept as proposals for the investigator."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    onset_date = report.onset_date
    not_after_today(onset_date, "onset_date")
    zone = site_zone(session, participant)
    aware = aware_moment(report.aware_at, report.awareness_date, zone, report.aware_time)
    # Safety reporting passes a pending re-consent (ICH E6(R3); see services.access).
    require_data_entry(session, participant, onset_date, safety_report=True)
    _after_consent(session, participant, onset_date)
    state: dict[str, Any] = {
        "term": required_text(report.term, "term"),
        "onset_date": onset_date,
        "resolution_date": None
        if report.resolution_date is None
        else not_after_today(report.resolution_date, "resolution_date"),
        "grade": _grade(report.grade),
        "relatedness": choice(Relatedness, report.relatedness, "relatedness"),
        "action_taken": choice(AeAction, report.action_taken, "action_taken"),
        "outcome": choice(AeOutcome, report.outcome, "outcome"),
        "expected": report.expected,
        "awareness_date": not_after_today(aware.astimezone(zone).date(), "awareness_date"),
        "aware_at": aware,
        **_criteria(report.seriousness),
    }
    _consistent(state)
    state.update(_seriousness(state))
    row = AdverseEvent(participant_id=participant.id, **state)
    add_record(session, actor, row, participant)
    propose(session, actor, row, participant, AssessmentSubject.CAUSALITY)
    propose(session, actor, row, participant, AssessmentSubject.GRADE)
    return ae_view(row)


@service
def update_adverse_event(
    session: Session,
    actor: Actor,
    adverse_event_id: int,
    *,
    expected_version: int,
    reason: str,
    changes: AdverseEventChanges,
) -> AdverseEventView:
    """Follow-up of an AE (resolution, outcome, upgrade to serious, report sent …).

    An event that becomes serious starts its clock at `aware_at` (else the start of
    `awareness_date`, else now). A changed relatedness or expectedness is a new proposal and
    clears the investigator's confirmation; a changed grade clears the grade's confirmation.
    """
    row, participant = get_record(
        session, actor, AdverseEvent, adverse_event_id, Permission.WRITE_CLINICAL
    )
    if row.voided:
        raise RuleViolation("voided", f"adverse event {adverse_event_id} is voided", conflict=True)
    state: dict[str, Any] = {k: getattr(row, k) for k in _STATE_FIELDS}
    updates: dict[str, Any] = {
        "term": None if changes.term is None else required_text(changes.term, "term"),
        "onset_date": None
        if changes.onset_date is None
        else not_after_today(changes.onset_date, "onset_date"),
        "resolution_date": None
        if changes.resolution_date is None
        else not_after_today(changes.resolution_date, "resolution_date"),
        "grade": None if changes.grade is None else _grade(changes.grade),
        "relatedness": None
        if changes.relatedness is None
        else choice(Relatedness, changes.relatedness, "relatedness"),
        "action_taken": None
        if changes.action_taken is None
        else choice(AeAction, changes.action_taken, "action_taken"),
        "outcome": None
        if changes.outcome is None
        else choice(AeOutcome, changes.outcome, "outcome"),
        "expected": changes.expected,
        "awareness_date": None
        if changes.awareness_date is None
        else not_after_today(changes.awareness_date, "awareness_date"),
        "expedited_reported_on": None
        if changes.expedited_reported_on is None
        else not_after_today(changes.expedited_reported_on, "expedited_reported_on"),
    }
    state.update({k: v for k, v in updates.items() if v is not None})
    zone = site_zone(session, participant)
    awareness = (changes.aware_at, changes.awareness_date, changes.aware_time)
    awareness_given = any(v is not None for v in awareness)
    if awareness_given:
        day = changes.awareness_date or (
            row.awareness_date if changes.aware_time is not None else None
        )
        state["aware_at"] = aware_moment(changes.aware_at, day, zone, changes.aware_time)
        state["awareness_date"] = state["aware_at"].astimezone(zone).date()
    if changes.seriousness is not None:
        state.update(_criteria(changes.seriousness))
        became_serious = not row.serious and any(state[c] for c in SERIOUSNESS.values())
        if became_serious and not awareness_given:
            state["aware_at"] = utcnow()
            state["awareness_date"] = state["aware_at"].astimezone(zone).date()
    _after_consent(session, participant, state["onset_date"])
    _consistent(state)
    state.update(_seriousness(state))
    if state["expedited_reported_on"] is not None and not state["serious"]:
        raise ValidationProblem("expedited_reported_on", "only a serious event is reported")
    state.update(_judgements_changed(row, state))
    state["expedited_report_due"] = _sponsor_due(session, row, state)
    old_grade = row.grade
    change_record(
        session,
        actor,
        row,
        state,
        reason=reason,
        expected_version=expected_version,
        participant=participant,
    )
    unconfirmed = row.causality_confirmed_at is None
    if unconfirmed and (row.relatedness, row.expected) != _last_proposal(session, row):
        propose(session, actor, row, participant, AssessmentSubject.CAUSALITY)
    if row.grade != old_grade:
        propose(session, actor, row, participant, AssessmentSubject.GRADE)
    return ae_view(row)


# What a follow-up report to the sponsor must carry when it changes (not the bookkeeping of
# awareness, clocks and reports).
NEW_INFORMATION = (
    "term",
    "onset_date",
    "resolution_date",
    "grade",
    "relatedness",
    "action_taken",
    "outcome",
    "expected",
    *SERIOUSNESS.values(),
)


def _judgements_changed(row: AdverseEvent, state: dict[str, Any]) -> dict[str, Any]:
    """Clear confirmations whose judgement changed; stamp new information."""
    out: dict[str, Any] = {}
    if (state["relatedness"], state["expected"]) != (row.relatedness, row.expected):
        out |= {"causality_confirmed_by": None, "causality_confirmed_at": None}
    if state["grade"] != row.grade:
        out |= {"grade_confirmed_by": None, "grade_confirmed_at": None}
    if any(state[k] != getattr(row, k) for k in NEW_INFORMATION):
        out["new_information_at"] = utcnow()
    return out


def _last_proposal(session: Session, row: AdverseEvent) -> tuple[Any, Any]:
    last = session.scalars(
        select(SafetyAssessment)
        .where(
            SafetyAssessment.adverse_event_id == row.id,
            SafetyAssessment.subject == AssessmentSubject.CAUSALITY,
        )
        .order_by(SafetyAssessment.id.desc())
        .limit(1)
    ).first()
    return (None, None) if last is None else (last.relatedness, last.expected)


def _sponsor_due(session: Session, row: AdverseEvent, state: dict[str, Any]) -> date | None:
    """The sponsor's SUSAR due date for the event as it will be (see `safety_reporting`)."""
    from trialdesk.services.safety_reporting import sponsor_clock_for

    confirmed_at = state.get("causality_confirmed_at", row.causality_confirmed_at)
    clock = sponsor_clock_for(session, row, state, confirmed_at)
    return None if clock is None else clock.due


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
    "aware_at",
    "causality_confirmed_at",
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
