"""Safety reporting (issue 14): the site's 24-hour clock and the reports sent, causality
proposed by a coordinator and confirmed by an investigator, the SUSAR clock only then, and
CTCAE grades suggested from laboratory values, confirmed by the investigator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.store.models import AuditEntry, SafetyAssessment
from trialdesk.store.types import utcnow


def _sae(clinic, pid: int, **overrides):  # type: ignore[no-untyped-def]
    data = {
        "term": "Hepatitis",
        "onset_date": clinic.day(40),
        "grade": 3,
        "relatedness": "possible",
        "action_taken": "not applicable",
        "outcome": "recovering/resolving",
        "seriousness": ["hospitalisation"],
        "aware_at": datetime.combine(clinic.day(41), datetime.min.time(), UTC) + timedelta(hours=9),
    }
    data.update(overrides)
    return sv.report_adverse_event(
        clinic.session, clinic.coordinator, pid, sv.AdverseEventReport(**data)
    )


def _audited(session: Session, table: str, record_id: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == table, AuditEntry.record_id == str(record_id))
            .order_by(AuditEntry.sequence)
        )
    )


def test_the_site_clock_runs_24_hours_from_awareness(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    ae = _sae(clinic, clinic.enrolled())
    status = sv.safety_status(session, clinic.coordinator, ae.id)
    assert status.aware_at == ae.aware_at
    assert status.site_report_due_at == ae.aware_at + timedelta(hours=24)  # type: ignore[operator]
    assert status.site_report_overdue and status.initial_report_sent_at is None
    # Not a SUSAR (nothing confirmed): no sponsor clock, and none stored for the API either.
    assert not status.susar and status.sponsor_due is None and ae.expedited_report_due is None
    clocks = sv.open_safety_clocks(session, clinic.coordinator)
    assert [(c.adverse_event_id, c.what, c.overdue) for c in clocks] == [
        (ae.id, "initial report", True)
    ]
    assert clocks[0].time_left.startswith("overdue by")


def test_reports_sent_are_numbered_audited_and_stop_the_clock(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    ae = _sae(clinic, clinic.enrolled())
    sent = ae.aware_at + timedelta(hours=20)  # type: ignore[operator]
    first = sv.record_safety_report(session, clinic.coordinator, ae.id, sent_at=sent)
    assert (first.kind.value, first.sequence, first.recipient) == ("initial", 0, "sponsor")
    assert _audited(session, "safety_reports", first.id)
    status = sv.safety_status(session, clinic.coordinator, ae.id)
    assert status.initial_report_sent_at == sent and not status.site_report_overdue
    assert not status.follow_up_expected
    assert sv.open_safety_clocks(session, clinic.coordinator) == []
    # New information (the outcome changes): a follow-up is expected, then sent.
    current = sv.get_adverse_event(session, clinic.coordinator, ae.id)
    sv.update_adverse_event(
        session,
        clinic.coordinator,
        ae.id,
        expected_version=current.version,
        reason="discharged",
        changes=sv.AdverseEventChanges(
            outcome="recovered/resolved", resolution_date=clinic.day(50)
        ),
    )
    status = sv.safety_status(session, clinic.coordinator, ae.id)
    assert status.follow_up_expected
    clocks = sv.open_safety_clocks(session, clinic.coordinator)
    assert [c.what for c in clocks] == ["follow-up report 1"]
    follow = sv.record_safety_report(session, clinic.coordinator, ae.id, note="discharged")
    assert (follow.kind.value, follow.sequence) == ("follow_up", 1)
    assert not sv.safety_status(session, clinic.coordinator, ae.id).follow_up_expected


@pytest.mark.parametrize(
    ("sent_at", "field"),
    [
        (datetime(2000, 1, 1, tzinfo=UTC), "sent_at"),  # before awareness
        (utcnow() + timedelta(days=2), "sent_at"),  # in the future
        (datetime(2030, 1, 1), "sent_at"),  # no time zone
    ],
)
def test_bad_report_times_name_the_field(clinic, session: Session, sent_at, field) -> None:  # type: ignore[no-untyped-def]
    ae = _sae(clinic, clinic.enrolled())
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.record_safety_report(session, clinic.coordinator, ae.id, sent_at=sent_at)
    assert caught.value.field == field


def test_a_non_serious_event_is_not_reported(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    ae = _sae(clinic, clinic.enrolled(), seriousness=[], grade=2)
    with pytest.raises(sv.RuleViolation) as caught:
        sv.record_safety_report(session, clinic.coordinator, ae.id)
    assert caught.value.rule == "not_serious"
    assert sv.safety_status(session, clinic.coordinator, ae.id).site_report_due_at is None


def test_only_an_investigator_confirms_and_only_then_a_susar_clock(
    clinic, session: Session
) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    ae = _sae(clinic, pid, seriousness=["life_threatening", "hospitalisation"], grade=4)
    sent = ae.aware_at + timedelta(hours=3)  # type: ignore[operator]
    sv.record_safety_report(session, clinic.coordinator, ae.id, sent_at=sent)
    proposed = sv.propose_causality(
        session,
        clinic.coordinator,
        ae.id,
        relatedness="probable",
        expected=False,
        expected_version=sv.get_adverse_event(session, clinic.coordinator, ae.id).version,
    )
    assert proposed.causality_confirmed_at is None
    status = sv.safety_status(session, clinic.coordinator, ae.id)
    assert not status.susar and status.sponsor_due is None  # proposed is not confirmed
    with pytest.raises(sv.Forbidden):
        sv.confirm_causality(
            session,
            clinic.coordinator,
            ae.id,
            relatedness="probable",
            expected=False,
            expected_version=proposed.version,
        )
    investigator = clinic.actors["investigator"]
    confirmed = sv.confirm_causality(
        session,
        investigator,
        ae.id,
        relatedness="probable",
        expected=False,
        expected_version=proposed.version,
    )
    assert confirmed.causality_confirmed_by == investigator.user_id
    status = sv.safety_status(session, investigator, ae.id)
    assert status.susar and status.fatal_or_life_threatening
    # Day 0: the sponsor learns the case qualifies from the next report sent after confirming.
    assert status.sponsor_day0 is None and status.sponsor_due is None
    assert status.follow_up_expected  # the confirmation is new information
    report = sv.record_safety_report(session, clinic.coordinator, ae.id)
    status = sv.safety_status(session, investigator, ae.id)
    day0 = report.sent_at.date()
    assert status.sponsor_day0 == day0
    assert status.sponsor_due == day0 + timedelta(days=7)
    assert status.sponsor_complete_due == day0 + timedelta(days=15)
    stored = sv.get_adverse_event(session, investigator, ae.id)
    assert stored.expedited_report_due == day0 + timedelta(days=7)  # the API's field too
    history = [
        (h.step.value, h.assessed_by) for h in status.history if h.subject.value == "causality"
    ]
    coordinator = clinic.coordinator.user_id
    assert history == [
        ("proposed", coordinator),
        ("proposed", coordinator),
        ("confirmed", investigator.user_id),
    ]
    # A later proposal clears the confirmation: the SUSAR clock goes until confirmed again.
    again = sv.propose_causality(
        session,
        clinic.coordinator,
        ae.id,
        relatedness="unlikely",
        expected=False,
        expected_version=stored.version,
    )
    assert again.causality_confirmed_at is None and again.expedited_report_due is None
    assert not sv.safety_status(session, investigator, ae.id).susar


def test_an_expected_or_unrelated_sae_has_no_sponsor_clock(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    investigator = clinic.actors["investigator"]
    ae = _sae(clinic, clinic.enrolled(), term="Hypoglycaemia")
    status = sv.safety_status(session, investigator, ae.id)
    assert status.expected_per_reference == "Hypoglycaemia" and status.reference_provisional
    sv.record_safety_report(session, investigator, ae.id)
    confirmed = sv.confirm_causality(
        session, investigator, ae.id, relatedness="definite", expected=True,
        expected_version=ae.version,
    )  # fmt: skip
    status = sv.safety_status(session, investigator, ae.id)
    assert status.causality_confirmed and not status.susar and status.sponsor_due is None
    assert confirmed.expedited_report_due is None


def _glucose(clinic, pid: int, value: float, unit: str = "mmol/L") -> None:  # type: ignore[no-untyped-def]
    sv.record_measurement(
        clinic.session,
        clinic.coordinator,
        pid,
        sv.VisitMeasurement(
            visit_code="BL",
            element="fasting_glucose",
            value=value,
            unit=unit,
            collected_on=clinic.day(28),
        ),
    )


def test_a_low_glucose_suggests_a_grade_the_investigator_confirms(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid)
    _glucose(clinic, pid, 45, "mg/dL")  # 2.5 mmol/L: CTCAE v5 grade 2
    visit = sv.lab_grade_suggestions(session, clinic.coordinator, pid, visit_code="BL")
    assert [(s.element, s.grade, s.term) for s in visit] == [("fasting_glucose", 2, "Hypoglycemia")]
    assert "below 3.0 mmol/L" in visit[0].text
    ae = sv.report_adverse_event(
        session,
        clinic.coordinator,
        pid,
        sv.AdverseEventReport(
            term="Hypoglycaemia",
            onset_date=clinic.day(28),
            grade=1,
            relatedness="unlikely",
            action_taken="not applicable",
            outcome="recovered/resolved",
            resolution_date=clinic.day(28),
        ),
    )
    for_event = sv.lab_grade_suggestions(session, clinic.coordinator, pid, adverse_event_id=ae.id)
    assert [s.grade for s in for_event] == [2]
    with pytest.raises(sv.Forbidden):
        sv.confirm_grade(session, clinic.coordinator, ae.id, grade=2, expected_version=ae.version)
    investigator = clinic.actors["investigator"]
    done = sv.confirm_grade(
        session, investigator, ae.id, grade=2, expected_version=ae.version,
        basis=for_event[0].text,
    )  # fmt: skip
    assert done.grade == 2 and done.grade_confirmed_by == investigator.user_id
    rows = session.scalars(
        select(SafetyAssessment).where(
            SafetyAssessment.adverse_event_id == ae.id, SafetyAssessment.subject == "grade"
        )
    ).all()
    assert [(r.step.value, r.grade) for r in rows] == [("proposed", 1), ("confirmed", 2)]
    assert "CTCAE grade 2" in (rows[-1].basis or "")
    # A later change of the grade by the site clears the confirmation.
    changed = sv.update_adverse_event(
        session,
        clinic.coordinator,
        ae.id,
        expected_version=done.version,
        reason="re-read",
        changes=sv.AdverseEventChanges(grade=3),
    )
    assert changed.grade_confirmed_at is None


def test_unrelated_terms_get_no_lab_suggestion(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid)
    _glucose(clinic, pid, 2.0)
    ae = sv.report_adverse_event(
        session,
        clinic.coordinator,
        pid,
        sv.AdverseEventReport(
            term="Headache",
            onset_date=clinic.day(28),
            grade=1,
            relatedness="unlikely",
            action_taken="not applicable",
            outcome="recovering/resolving",
        ),
    )
    assert sv.lab_grade_suggestions(session, clinic.coordinator, pid, adverse_event_id=ae.id) == []


def test_other_sites_events_are_not_found(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    ae = _sae(clinic, clinic.enrolled())
    with pytest.raises(sv.NotFound):
        sv.safety_status(session, clinic.actors["investigator2"], ae.id)
    with pytest.raises(sv.NotFound):
        sv.record_safety_report(session, clinic.actors["coordinator2"], ae.id)
    assert sv.open_safety_clocks(session, clinic.actors["investigator2"]) == []
