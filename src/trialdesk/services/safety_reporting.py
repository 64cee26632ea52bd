"""Safety reporting (issue 14): the reports a site sends the sponsor about a serious adverse
event, the investigator's confirmation of causality, expectedness and CTCAE grade, the clocks
that follow from them, and CTCAE grades suggested from laboratory values.

- `record_safety_report`: the initial report (sequence 0) or follow-up n, sent at a date-time,
  by whom, to whom (default "sponsor"); audited. The site clock is awareness + 24 h (ICH E6(R3)
  Annex 1 §2.7.2(b)); a follow-up is expected when the event's information changed after the
  last report (`new_information_at`).
- `propose_causality` (anyone who enters clinical data) and `confirm_causality` (investigator,
  `Permission.CONFIRM_SAFETY`): relatedness and expectedness; only confirmed judgements make a
  SUSAR (`trialdesk.derive.reporting.is_susar`), which alone gets the sponsor's 7/15-day due
  date (ICH E2A III.A), counted from day 0 = the first report sent at or after the confirmation.
- `confirm_grade` (investigator): the CTCAE v5.0 grade, confirming or overriding a suggestion
  from a laboratory value (`lab_grade_suggestions`, `trialdesk.derive.ctcae`).
- `safety_status` (one event) and `open_safety_clocks` (the dashboard).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.catalogue.lab_ranges import default_lab_ranges
from trialdesk.derive.ctcae import CTCAE_TERMS, suggest_grade
from trialdesk.derive.reporting import (
    SponsorClock,
    follow_up_expected,
    is_susar,
    site_report_due,
    sponsor_clock,
    sponsor_first_knowledge,
    time_left_text,
)
from trialdesk.derive.safety import term_key
from trialdesk.services.access import get_participant, get_record, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.adverse_event_fields import AdverseEventChanges
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.listing import scoped
from trialdesk.services.locks import safety_judgement
from trialdesk.services.safety import (
    CTCAE_GRADES,
    FUTURE_SLACK,
    _consistent,
    ae_view,
    propose,
    site_zone,
)
from trialdesk.services.study import current_protocol
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import choice, required_text
from trialdesk.services.views import (
    AdverseEventView,
    LabGradeSuggestion,
    SafetyAssessmentView,
    SafetyClockRow,
    SafetyReportView,
    SafetyStatusView,
)
from trialdesk.store.enums import (
    AssessmentStep,
    AssessmentSubject,
    Relatedness,
    SafetyReportKind,
)
from trialdesk.store.models import (
    AdverseEvent,
    Measurement,
    Participant,
    SafetyAssessment,
    SafetyReport,
    Site,
    Visit,
)
from trialdesk.store.types import utcnow

DEFAULT_RECIPIENT = "sponsor"
# Laboratory values within this many days of an event's onset (or before its resolution) are
# offered as the basis of its CTCAE grade.
LAB_WINDOW = timedelta(days=7)


def _reports(session: Session, adverse_event_id: int) -> list[SafetyReport]:
    return list(
        session.scalars(
            select(SafetyReport)
            .where(
                SafetyReport.adverse_event_id == adverse_event_id, SafetyReport.voided.is_(False)
            )
            .order_by(SafetyReport.sent_at, SafetyReport.id)
        )
    )


def reports_sent(session: Session, adverse_event_id: int) -> int:
    """How many reports on the event were sent to the sponsor (voided ones not counted)."""
    return len(_reports(session, adverse_event_id))


def aware_of(row: AdverseEvent) -> datetime:
    """The awareness date-time; events from before it was recorded: the start of the day (UTC)."""
    if row.aware_at is not None:
        return row.aware_at
    return datetime.combine(row.awareness_date, time(0), UTC)


def sponsor_clock_for(
    session: Session,
    row: AdverseEvent,
    state: Mapping[str, Any] | None = None,
    confirmed_at: datetime | None = None,
) -> SponsorClock | None:
    """The sponsor's clock of the event (with `state` overriding its columns): None unless it
    is a SUSAR by confirmed judgements and a report has reached the sponsor since."""
    values: Mapping[str, Any] = state or {}

    def get(name: str) -> Any:
        return values[name] if name in values else getattr(row, name)

    confirmed = confirmed_at if state is not None else row.causality_confirmed_at
    relatedness = get("relatedness")
    if confirmed is None or not is_susar(
        serious=bool(get("serious")),
        expected=get("expected"),
        relatedness=None if relatedness is None else Relatedness(relatedness).value,
    ):
        return None
    first = sponsor_first_knowledge(confirmed, [r.sent_at for r in _reports(session, row.id)])
    if first is None:
        return None
    participant = session.get(Participant, row.participant_id)
    assert participant is not None
    day0 = first.astimezone(site_zone(session, participant)).date()
    fatal = bool(get("results_in_death") or get("life_threatening"))
    return sponsor_clock(day0, fatal_or_life_threatening=fatal)


def _refresh_sponsor_due(
    session: Session, actor: Actor, row: AdverseEvent, participant: Participant, why: str
) -> None:
    clock = sponsor_clock_for(session, row)
    due = None if clock is None else clock.due
    if due != row.expedited_report_due:
        with safety_judgement(session):  # the reporting clock: never held up by a lock
            change_record(
                session,
                actor,
                row,
                {"expedited_report_due": due},
                reason=why,
                expected_version=None,
                participant=participant,
            )


def _sent_at(value: datetime | None, row: AdverseEvent) -> datetime:
    if value is None:
        return utcnow()
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationProblem("sent_at", f"{value!r} is not a date-time with its time zone")
    if value - utcnow() > FUTURE_SLACK:
        raise ValidationProblem("sent_at", f"{value.isoformat()} is in the future")
    if value < aware_of(row):
        raise ValidationProblem("sent_at", "is before the site became aware of the event")
    return value


@service
def record_safety_report(
    session: Session,
    actor: Actor,
    adverse_event_id: int,
    *,
    sent_at: datetime | None = None,
    recipient: str = DEFAULT_RECIPIENT,
    note: str | None = None,
) -> SafetyReportView:
    """Record that a report on a serious event was sent (the first is the initial report, the
    next ones follow-ups, numbered); audited. Default: sent now, to the sponsor."""
    row, participant = get_record(
        session, actor, AdverseEvent, adverse_event_id, Permission.WRITE_CLINICAL
    )
    if row.voided:
        raise RuleViolation("voided", f"adverse event {adverse_event_id} is voided", conflict=True)
    if not row.serious:
        raise RuleViolation(
            "not_serious",
            "only a serious adverse event is reported to the sponsor as a safety report "
            "(ICH E6(R3) Annex 1 §2.7.2(b)); this event meets no ICH E2A seriousness criterion",
            "adverse_event_id",
        )
    sequence = len(_reports(session, row.id))
    report = SafetyReport(
        participant_id=participant.id,
        adverse_event_id=row.id,
        kind=SafetyReportKind.INITIAL if sequence == 0 else SafetyReportKind.FOLLOW_UP,
        sequence=sequence,
        sent_at=_sent_at(sent_at, row),
        sent_by=actor.user_id,
        recipient=required_text(recipient, "recipient"),
        note=(note or "").strip()[:4000] or None,
    )
    add_record(session, actor, report, participant)
    _refresh_sponsor_due(session, actor, row, participant, "sponsor clock: report sent")
    return SafetyReportView.model_validate(report)


def _yes_no(value: object, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValidationProblem(field, f"{value!r} is not yes, no or unknown")


@service
def propose_causality(
    session: Session,
    actor: Actor,
    adverse_event_id: int,
    *,
    relatedness: Relatedness | str,
    expected: bool | None,
    expected_version: int,
    note: str | None = None,
) -> AdverseEventView:
    """A coordinator's (or anyone's) proposal of relatedness and expectedness; it replaces the
    event's values and clears a previous confirmation (the investigator confirms again)."""
    from trialdesk.services.safety import update_adverse_event

    view = update_adverse_event(
        session,
        actor,
        adverse_event_id,
        expected_version=expected_version,
        reason=(note or "").strip() or "causality and expectedness proposed",
        changes=AdverseEventChanges(
            relatedness=choice(Relatedness, relatedness, "relatedness"),
            expected=_yes_no(expected, "expected"),
        ),
    )
    row = session.get(AdverseEvent, view.id)
    assert row is not None
    if row.causality_confirmed_at is None and not _proposed_now(session, row):
        participant = session.get(Participant, row.participant_id)
        assert participant is not None
        propose(session, actor, row, participant, AssessmentSubject.CAUSALITY, basis=note)
    return ae_view(row)


def _proposed_now(session: Session, row: AdverseEvent) -> bool:
    """Whether the latest causality row already is a proposal of the current values."""
    last = session.scalars(
        select(SafetyAssessment)
        .where(
            SafetyAssessment.adverse_event_id == row.id,
            SafetyAssessment.subject == AssessmentSubject.CAUSALITY,
        )
        .order_by(SafetyAssessment.id.desc())
        .limit(1)
    ).first()
    return (
        last is not None
        and last.step is AssessmentStep.PROPOSED
        and (last.relatedness, last.expected) == (row.relatedness, row.expected)
    )


@service
def confirm_causality(
    session: Session,
    actor: Actor,
    adverse_event_id: int,
    *,
    relatedness: Relatedness | str,
    expected: bool | None,
    expected_version: int,
    note: str | None = None,
) -> AdverseEventView:
    """The investigator's judgement of relatedness and expectedness (the proposal's values or
    others): stored on the event with who and when, audited, and kept in its history."""
    row, participant = get_record(
        session, actor, AdverseEvent, adverse_event_id, Permission.CONFIRM_SAFETY
    )
    _not_voided(row)
    related = choice(Relatedness, relatedness, "relatedness")
    if not isinstance(expected, bool):
        raise ValidationProblem("expected", "the investigator confirms expected: yes or no")
    now = utcnow()
    changes: dict[str, Any] = {
        "relatedness": related,
        "expected": expected,
        "causality_confirmed_by": actor.user_id,
        "causality_confirmed_at": now,
    }
    if (related, expected) != (row.relatedness, row.expected):
        changes["new_information_at"] = now
    state = {**{c.key: getattr(row, c.key) for c in AdverseEvent.__table__.columns}, **changes}
    changes["expedited_report_due"] = _due(session, row, state, now)
    with safety_judgement(session):  # the investigator's judgement goes through a lock
        change_record(
            session,
            actor,
            row,
            changes,
            reason=(note or "").strip()
            or "causality and expectedness confirmed by the investigator",
            expected_version=expected_version,
            participant=participant,
        )
    _judgement(session, actor, row, participant, AssessmentSubject.CAUSALITY, basis=note, at=now)
    return ae_view(row)


def _due(session: Session, row: AdverseEvent, state: dict[str, Any], at: datetime) -> date | None:
    clock = sponsor_clock_for(session, row, state, at)
    return None if clock is None else clock.due


def _not_voided(row: AdverseEvent) -> None:
    if row.voided:
        raise RuleViolation("voided", f"adverse event {row.id} is voided", conflict=True)


def _judgement(
    session: Session,
    actor: Actor,
    row: AdverseEvent,
    participant: Participant,
    subject: AssessmentSubject,
    *,
    basis: str | None,
    at: datetime,
) -> None:
    causality = subject is AssessmentSubject.CAUSALITY
    add_record(
        session,
        actor,
        SafetyAssessment(
            participant_id=participant.id,
            adverse_event_id=row.id,
            subject=subject,
            step=AssessmentStep.CONFIRMED,
            relatedness=row.relatedness if causality else None,
            expected=row.expected if causality else None,
            grade=None if causality else row.grade,
            basis=(basis or "").strip()[:400] or None,
            assessed_by=actor.user_id,
            assessed_at=at,
        ),
        participant,
    )


@service
def confirm_grade(
    session: Session,
    actor: Actor,
    adverse_event_id: int,
    *,
    grade: int,
    expected_version: int,
    basis: str | None = None,
) -> AdverseEventView:
    """The investigator confirms the CTCAE v5.0 grade, or overrides it (a suggestion from a
    laboratory value, or the grade entered): who and when on the event, audited."""
    row, participant = get_record(
        session, actor, AdverseEvent, adverse_event_id, Permission.CONFIRM_SAFETY
    )
    _not_voided(row)
    if isinstance(grade, bool) or not isinstance(grade, int) or grade not in CTCAE_GRADES:
        raise ValidationProblem("grade", f"{grade!r} is not a CTCAE grade (1–5)")
    state = {c.key: getattr(row, c.key) for c in AdverseEvent.__table__.columns} | {"grade": grade}
    _consistent(state)
    now = utcnow()
    changes: dict[str, Any] = {
        "grade": grade,
        "grade_confirmed_by": actor.user_id,
        "grade_confirmed_at": now,
    }
    if grade != row.grade:
        changes["new_information_at"] = now
    with safety_judgement(session):  # the investigator's judgement goes through a lock
        change_record(
            session,
            actor,
            row,
            changes,
            reason=(basis or "").strip() or "CTCAE grade confirmed by the investigator",
            expected_version=expected_version,
            participant=participant,
        )
    _judgement(session, actor, row, participant, AssessmentSubject.GRADE, basis=basis, at=now)
    return ae_view(row)


@service
def safety_status(session: Session, actor: Actor, adverse_event_id: int) -> SafetyStatusView:
    """The event's clocks, reports and judgement history (see module docstring)."""
    row, participant = get_record(
        session, actor, AdverseEvent, adverse_event_id, Permission.READ_CLINICAL
    )
    return _status(session, row, participant)


def _status(session: Session, row: AdverseEvent, participant: Participant) -> SafetyStatusView:
    reports = _reports(session, row.id)
    aware = aware_of(row)
    due = site_report_due(aware) if row.serious else None
    initial = reports[0].sent_at if reports else None
    clock = sponsor_clock_for(session, row)
    confirmed = row.causality_confirmed_at is not None
    susar = confirmed and is_susar(
        serious=row.serious, expected=row.expected, relatedness=row.relatedness.value
    )
    rsi = current_protocol(session).reference_safety_information
    history = session.scalars(
        select(SafetyAssessment)
        .where(SafetyAssessment.adverse_event_id == row.id, SafetyAssessment.voided.is_(False))
        .order_by(SafetyAssessment.assessed_at, SafetyAssessment.id)
    )
    return SafetyStatusView(
        adverse_event_id=row.id,
        participant_id=participant.id,
        serious=row.serious,
        aware_at=aware,
        site_report_due_at=due,
        initial_report_sent_at=initial,
        site_report_overdue=bool(due and (initial or utcnow()) > due),
        follow_up_expected=bool(
            row.serious and follow_up_expected(row.new_information_at, reports[-1].sent_at)
        )
        if reports
        else False,
        reports=[SafetyReportView.model_validate(r) for r in reports],
        causality_confirmed=confirmed,
        grade_confirmed=row.grade_confirmed_at is not None,
        susar=susar,
        fatal_or_life_threatening=row.results_in_death or row.life_threatening,
        sponsor_day0=None if clock is None else clock.day0,
        sponsor_due=None if clock is None else clock.due,
        sponsor_complete_due=None if clock is None else clock.complete_due,
        history=[SafetyAssessmentView.model_validate(h) for h in history],
        expected_per_reference=None if rsi is None else rsi.listed(row.term),
        reference_provisional=bool(rsi and rsi.provisional),
    )


@service
def open_safety_clocks(session: Session, actor: Actor) -> list[SafetyClockRow]:
    """Serious events of the actor's sites with a report to send: the initial report (24-hour
    clock, time left or overdue) or a follow-up after new information; most urgent first."""
    require(actor, Permission.READ_CLINICAL, table="adverse_events")
    query = scoped(select(AdverseEvent), AdverseEvent, actor, False).where(
        AdverseEvent.serious.is_(True)
    )
    now = utcnow()
    rows: list[SafetyClockRow] = []
    for ae in session.scalars(query):
        participant = session.get(Participant, ae.participant_id)
        assert participant is not None
        status = _status(session, ae, participant)
        if status.initial_report_sent_at is None and status.site_report_due_at is not None:
            due = status.site_report_due_at
            what, left, overdue = "initial report", time_left_text(due, now), due < now
        elif status.follow_up_expected:
            due, what, overdue = None, f"follow-up report {len(status.reports)}", False
            left = "new information since the last report"
        else:
            continue
        rows.append(
            SafetyClockRow(
                adverse_event_id=ae.id,
                participant_id=participant.id,
                study_id=participant.study_id,
                term=ae.term,
                due_at=due,
                what=what,
                time_left=left,
                overdue=overdue,
                susar=status.susar,
                sponsor_due=status.sponsor_due,
            )
        )
    rows.sort(key=lambda r: (r.due_at is None, r.due_at or now, r.adverse_event_id))
    return rows


_PREFIX_MIN_LENGTH = 4
"""Words at least this long match as a word's beginning ("hypoglyc"); shorter ones ("alt")
only as whole words, so that "alt" does not match "altered"."""
# Words in an event's term that name the CTCAE term a laboratory value grades.
_TERM_WORDS: dict[str, tuple[str, ...]] = {
    "Hypoglycemia": ("hypoglyc", "low_blood_glucose", "low_blood_sugar"),
    "Alanine aminotransferase increased": ("alt", "alanine", "transaminase", "liver_enzyme"),
    "Aspartate aminotransferase increased": ("ast", "aspartate", "transaminase", "liver_enzyme"),
    "Creatinine increased": ("creatinine", "kidney_injury", "renal"),
}


def matches_term(event_term: str, ctcae_term: str) -> bool:
    """Whether a recorded event term is about what a CTCAE laboratory term grades."""
    key = f"_{term_key(event_term)}_"
    return any(
        f"_{w}" in key if len(w) >= _PREFIX_MIN_LENGTH else f"_{w}_" in key
        for w in _TERM_WORDS.get(ctcae_term, ())
    )


@service
def lab_grade_suggestions(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    visit_code: str | None = None,
    adverse_event_id: int | None = None,
) -> list[LabGradeSuggestion]:
    """CTCAE v5.0 grades the participant's laboratory values meet (site normal ranges from
    `catalogue.lab_ranges`, baseline = the first value recorded): of one visit, or those
    within a week of an event's course that grade its term; worst grade first."""
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    site = session.get(Site, participant.site_id)
    ranges = default_lab_ranges()
    event = None
    if adverse_event_id is not None:
        event, _ = get_record(
            session, actor, AdverseEvent, adverse_event_id, Permission.READ_CLINICAL
        )
    rows = session.execute(
        select(Measurement, Visit.code)
        .join(Visit, Visit.id == Measurement.visit_id)
        .where(
            Measurement.participant_id == participant.id,
            Measurement.voided.is_(False),
            Measurement.value.is_not(None),
            Measurement.element.in_(tuple(CTCAE_TERMS)),
        )
        .order_by(Measurement.collected_on, Measurement.id)
    ).all()
    baseline: dict[str, float] = {}
    out: list[LabGradeSuggestion] = []
    for m, code in rows:
        assert m.value is not None
        first = baseline.setdefault(m.element, m.value)
        if visit_code is not None and code != visit_code:
            continue
        if event is not None and not _in_course(event, m.collected_on):
            continue
        bounds = ranges.for_site(site.code if site else None, m.element)
        if bounds is None or bounds.unit != m.unit:  # ranges in the canonical unit only
            continue
        suggestion = suggest_grade(
            m.element, m.value, low=bounds.low, high=bounds.high, baseline=first
        )
        if suggestion is None:
            continue
        if event is not None and not matches_term(event.term, suggestion.term):
            continue
        out.append(
            LabGradeSuggestion(
                measurement_id=m.id,
                element=m.element,
                visit_code=code,
                collected_on=m.collected_on,
                value=m.value,
                unit=m.unit or bounds.unit,
                term=suggestion.term,
                grade=suggestion.grade,
                reason=suggestion.reason,
            )
        )
    out.sort(key=lambda s: (-s.grade, s.collected_on, s.measurement_id))
    return out


def _in_course(event: AdverseEvent, on: date) -> bool:
    end = event.resolution_date or max(event.onset_date, on)
    return event.onset_date - LAB_WINDOW <= on <= end + LAB_WINDOW
