"""Visit windows, automatic protocol deviations and the participant's visit calendar."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from trialdesk import services as sv


def _deviations(session: Session, actor: sv.Actor, pid: int) -> list:  # type: ignore[type-arg]
    return sv.list_deviations(session, actor, sv.DeviationFilter(participant_id=pid)).items


def test_visits_after_screening_need_enrollment(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.eligible()
    with pytest.raises(sv.RuleViolation) as caught:
        clinic.baseline(pid)
    assert caught.value.rule == "not_enrolled"


def test_a_visit_is_recorded_once(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid)
    with pytest.raises(sv.RuleViolation) as caught:
        clinic.baseline(pid)
    assert caught.value.rule == "visit_already_recorded" and caught.value.status == 409


def test_a_visit_in_its_window_raises_no_deviation(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid, day=28)
    m3 = sv.record_visit(
        session, clinic.coordinator, pid, code="M3", visit_date=clinic.day(28 + 111)
    )
    assert m3.study_day == 111  # the last day of the M3 window (97 + 14)
    assert _deviations(session, clinic.coordinator, pid) == []


def test_a_visit_outside_its_window_is_a_deviation(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid, day=28)
    m3 = sv.record_visit(
        session, clinic.coordinator, pid, code="M3", visit_date=clinic.day(28 + 112)
    )
    (deviation,) = _deviations(session, clinic.coordinator, pid)
    assert deviation.category.value == "visit_window" and deviation.automatic
    assert deviation.visit_id == m3.id
    assert "day 112 from baseline" in deviation.description
    assert "window is day 83 to 111" in deviation.description
    # Correcting the date brings it back inside: the automatic deviation is voided, not deleted.
    sv.update_visit(
        session,
        clinic.coordinator,
        m3.id,
        sv.VisitChanges(
            expected_version=m3.version,
            reason="date transcribed from the wrong page",
            visit_date=clinic.day(28 + 100),
        ),
    )
    assert _deviations(session, clinic.coordinator, pid) == []
    voided = sv.list_deviations(
        session, clinic.coordinator, sv.DeviationFilter(participant_id=pid, include_voided=True)
    ).items
    assert len(voided) == 1 and voided[0].voided
    assert "no longer outside its window" in (voided[0].void_reason or "")


def test_screening_too_long_before_baseline_is_flagged_when_baseline_is_recorded(  # type: ignore[no-untyped-def]
    clinic, session: Session
) -> None:
    pid = clinic.enrolled()
    assert _deviations(session, clinic.coordinator, pid) == []
    clinic.baseline(pid, day=35)  # screening on day 0 is then day -35: window -28 … -1
    (deviation,) = _deviations(session, clinic.coordinator, pid)
    assert "Visit SCR" in deviation.description and "day -35" in deviation.description


def test_calendar_as_of_a_date(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    calendar = sv.visit_calendar(session, clinic.coordinator, pid, as_of=clinic.day(10))
    assert calendar.anchor.startswith("provisional") and calendar.anchor_date == clinic.day(28)
    by_code = {v.code: v for v in calendar.visits}
    assert by_code["SCR"].status == "done" and by_code["SCR"].in_window
    assert by_code["BL"].status == "upcoming"
    assert (by_code["BL"].window_start, by_code["BL"].window_end) == (
        clinic.day(21),
        clinic.day(28),
    )
    clinic.baseline(pid, day=27)
    sv.record_visit(session, clinic.coordinator, pid, code="TX", visit_date=clinic.day(34))
    sv.record_missed_visit(
        session, clinic.coordinator, pid, code="M1", reason="participant travelling"
    )
    as_of = clinic.day(27 + 90)
    calendar = sv.visit_calendar(session, clinic.coordinator, pid, as_of=as_of)
    by_code = {v.code: v for v in calendar.visits}
    assert calendar.anchor == "baseline" and calendar.anchor_date == clinic.day(27)
    assert by_code["BL"].status == "done" and by_code["BL"].study_day == 0
    assert by_code["TX"].status == "done" and by_code["TX"].study_day == 7
    assert by_code["M1"].status == "missed"
    assert by_code["M3"].status == "due"  # window day 83 … 111
    assert by_code["M3"].planned_date == clinic.day(27 + 97)
    assert by_code["M6"].status == "upcoming"
    later = sv.visit_calendar(session, clinic.coordinator, pid, as_of=as_of + timedelta(days=30))
    assert {v.code: v.status for v in later.visits}["M3"] == "overdue"


def test_calendar_of_a_withdrawn_participant_expects_nothing_more(clinic, session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid)
    consent = sv.list_consents(session, clinic.coordinator, pid)[0]
    sv.withdraw_consent(
        session, clinic.coordinator, consent.id, withdrawn_on=clinic.day(30), expected_version=1
    )
    calendar = sv.visit_calendar(session, clinic.coordinator, pid, as_of=clinic.day(200))
    statuses = {v.code: v.status for v in calendar.visits}
    assert statuses["BL"] == "done" and statuses["M3"] == "not_expected"


def test_voiding_a_visit_clears_its_deviation(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid, day=28)
    m1 = sv.record_visit(
        session, clinic.coordinator, pid, code="M1", visit_date=clinic.day(28 + 60)
    )
    assert len(_deviations(session, clinic.coordinator, pid)) == 1
    sv.void_clinical_record(
        session,
        clinic.coordinator,
        "visits",
        m1.id,
        expected_version=m1.version,
        reason="entered for the wrong participant",
    )
    assert _deviations(session, clinic.coordinator, pid) == []
    assert [v.code for v in sv.list_visits(session, clinic.coordinator, pid)] == ["SCR", "BL"]


def test_visit_dates_in_the_future_are_refused(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.record_visit(session, clinic.coordinator, pid, code="BL", visit_date=clinic.day(4000))
    assert caught.value.field == "visit_date" and "future" in caught.value.message
