"""Adverse events: CTCAE grade, ICH E2A seriousness and the expedited-report due date."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from trialdesk import services as sv


def _report(clinic, pid: int, **overrides):  # type: ignore[no-untyped-def]
    data = {
        "term": "Hypoglycaemia",
        "onset_date": clinic.day(40),
        "grade": 2,
        "relatedness": "possible",
        "action_taken": "not applicable",
        "outcome": "recovering/resolving",
        "awareness_date": clinic.day(41),
    }
    data.update(overrides)
    return sv.report_adverse_event(
        clinic.session, clinic.coordinator, pid, sv.AdverseEventReport(**data)
    )


def test_expedited_due_dates_follow_ich_e2a() -> None:
    assert sv.expedited_report_due(date(2027, 1, 28), fatal_or_life_threatening=True) == date(
        2027, 2, 4
    )
    assert sv.expedited_report_due(date(2027, 1, 28), fatal_or_life_threatening=False) == date(
        2027, 2, 12
    )


def test_a_non_serious_event_has_no_due_date(clinic) -> None:  # type: ignore[no-untyped-def]
    ae = _report(clinic, clinic.enrolled())
    assert not ae.serious and ae.expedited_report_due is None and ae.seriousness_criteria == []


def test_a_serious_event_has_no_sponsor_due_date_until_a_confirmed_susar(clinic) -> None:  # type: ignore[no-untyped-def]
    """The 7/15-day clock is the sponsor's, for SUSARs only (ICH E2A III.A; issue 14): an SAE
    as reported by the site has the site's 24-hour clock (test_services_safety_reporting)."""
    ae = _report(clinic, clinic.enrolled(), grade=3, seriousness=["hospitalisation"])
    assert ae.serious and ae.seriousness_criteria == ["hospitalisation"]
    assert ae.expedited_report_due is None and not ae.expedited_report_overdue
    # Awareness given as a date: the start of that day at the site (the earliest reading).
    assert ae.awareness_date == clinic.day(41) and ae.aware_at is not None
    assert ae.aware_at.date() == clinic.day(41)


def test_a_life_threatening_event_is_serious(clinic) -> None:  # type: ignore[no-untyped-def]
    ae = _report(
        clinic, clinic.enrolled(), grade=4, seriousness=["life_threatening", "hospitalisation"]
    )
    assert ae.serious and ae.expedited_report_due is None


def test_a_fatal_event_is_due_in_7_days_and_must_be_consistent(clinic) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    ae = _report(
        clinic,
        pid,
        grade=5,
        outcome="fatal",
        seriousness=["death"],
        resolution_date=clinic.day(42),
    )
    assert ae.serious and ae.expedited_report_due is None
    with pytest.raises(sv.ValidationProblem) as caught:
        _report(clinic, pid, grade=5, seriousness=["death"])
    assert caught.value.field == "grade"
    with pytest.raises(sv.ValidationProblem) as caught:
        _report(clinic, pid, grade=5, outcome="fatal")
    assert caught.value.field == "seriousness"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"grade": 6}, "grade"),
        ({"grade": 0}, "grade"),
        ({"seriousness": ["severe"]}, "seriousness"),
        ({"relatedness": "likely"}, "relatedness"),
        ({"outcome": "recovered/resolved"}, "resolution_date"),
        ({"resolution_date": date(2000, 1, 1)}, "resolution_date"),
        ({"awareness_date": date(2000, 1, 1)}, "awareness_date"),
        ({"term": " "}, "term"),
    ],
)
def test_bad_adverse_events_name_the_field(clinic, overrides, field) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    with pytest.raises(sv.ValidationProblem) as caught:
        _report(clinic, pid, **overrides)
    assert caught.value.field == field


def test_events_before_consent_are_medical_history(clinic) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    with pytest.raises(sv.RuleViolation) as caught:
        _report(clinic, pid, onset_date=clinic.day(-3))
    assert caught.value.rule == "before_consent"


def test_an_event_upgraded_to_serious_gets_its_due_date(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    ae = _report(clinic, clinic.enrolled())
    updated = sv.update_adverse_event(
        session,
        clinic.coordinator,
        ae.id,
        expected_version=ae.version,
        reason="admitted to hospital on day 45",
        changes=sv.AdverseEventChanges(
            grade=3, seriousness=["hospitalisation"], awareness_date=clinic.day(45)
        ),
    )
    assert updated.serious and updated.awareness_date == clinic.day(45)
    reported = sv.update_adverse_event(
        session,
        clinic.coordinator,
        ae.id,
        expected_version=updated.version,
        reason="CIOMS form sent",
        changes=sv.AdverseEventChanges(expedited_reported_on=clinic.day(50)),
    )
    assert not reported.expedited_report_overdue
    resolved = sv.update_adverse_event(
        session,
        clinic.coordinator,
        ae.id,
        expected_version=reported.version,
        reason="discharged",
        changes=sv.AdverseEventChanges(
            outcome="recovered/resolved", resolution_date=clinic.day(52)
        ),
    )
    assert resolved.outcome.value == "recovered/resolved"
    history = sv.record_history(session, clinic.coordinator, "adverse_events", ae.id)
    assert [h.action for h in history] == ["create", "update", "update", "update"]
    assert history[1].changes["serious"] == [False, True]
    assert history[1].changes["awareness_date"] == [
        clinic.day(41).isoformat(),
        clinic.day(45).isoformat(),
    ]


def test_serious_events_can_be_listed_across_the_actors_sites(clinic, session, actors) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    _report(clinic, pid)
    _report(clinic, pid, term="Pneumonia", grade=3, seriousness=["hospitalisation"])
    serious = sv.list_adverse_events(session, actors["monitor"], serious=True)
    assert [a.term for a in serious.items] == ["Pneumonia"] and serious.total == 1
    assert sv.list_adverse_events(session, actors["coordinator2"]).total == 0
