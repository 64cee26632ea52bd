"""Consent and enrollment rules: consent before data, eligibility before enrollment, the
protocol's target of 24 with an investigator's reasoned override, withdrawal keeps the data."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.protocol import builtin_protocol
from trialdesk.store.enums import ParticipantStatus
from trialdesk.store.models import AuditEntry


def test_no_trial_data_before_consent(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    with pytest.raises(sv.RuleViolation) as caught:
        sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    assert caught.value.rule == "consent_required" and caught.value.status == 422
    assert "APGH-001" in caught.value.message


def test_no_enrollment_without_consent(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    with pytest.raises(sv.RuleViolation) as caught:
        sv.enroll_participant(session, clinic.coordinator, pid, enrolled_on=clinic.day(1))
    assert caught.value.rule == "enrollment_requires_consent"


def test_no_enrollment_without_a_screening(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    clinic.consent(pid)
    with pytest.raises(sv.RuleViolation) as caught:
        sv.enroll_participant(session, clinic.coordinator, pid, enrolled_on=clinic.day(1))
    assert caught.value.rule == "enrollment_requires_eligible_screening"


def test_no_enrollment_after_an_ineligible_screening(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    clinic.consent(pid)
    clinic.screening_data(pid, weight=(92, "kg"), height=(165, "cm"))  # BMI 33.8 (C04)
    screening = clinic.screen(pid)
    assert screening.status.value == "ineligible" and screening.result["failed"] == ["I4"]
    assert sv.get_participant(session, clinic.coordinator, pid).status is (
        ParticipantStatus.SCREEN_FAILED
    )
    with pytest.raises(sv.RuleViolation, match="ineligible.*failed I4") as caught:
        sv.enroll_participant(session, clinic.coordinator, pid, enrolled_on=clinic.day(1))
    assert caught.value.rule == "enrollment_requires_eligible_screening"


def test_no_enrollment_after_an_incomplete_screening(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    clinic.consent(pid)
    sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    screening = clinic.screen(pid)
    assert screening.status.value == "incomplete"
    with pytest.raises(sv.RuleViolation, match="incomplete.*missing"):
        sv.enroll_participant(session, clinic.coordinator, pid, enrolled_on=clinic.day(1))


def test_a_participant_is_enrolled_once(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    with pytest.raises(sv.RuleViolation) as caught:
        sv.enroll_participant(session, clinic.coordinator, pid, enrolled_on=clinic.day(2))
    assert caught.value.rule == "already_enrolled" and caught.value.status == 409


def test_the_builtin_target_is_24(session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    summary = sv.enrollment_summary(session, actors["coordinator"])
    assert summary.target == builtin_protocol().target_enrollment == 24
    assert (summary.enrolled, summary.remaining) == (0, 24)


@pytest.fixture
def target_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same protocol with a target of 2, so that the cap is reached in a few steps."""
    small = builtin_protocol().model_copy(update={"target_enrollment": 2})
    monkeypatch.setattr("trialdesk.services.enrollment.current_protocol", lambda *_: small)


def test_enrollment_stops_at_the_target(clinic, session: Session, target_of_two) -> None:  # type: ignore[no-untyped-def]
    clinic.enrolled()
    clinic.enrolled()
    pid = clinic.eligible()
    with pytest.raises(sv.RuleViolation) as caught:
        sv.enroll_participant(session, clinic.coordinator, pid, enrolled_on=clinic.day(1))
    assert caught.value.rule == "enrollment_target_reached" and caught.value.status == 409
    assert "2 participants are enrolled" in caught.value.message


def test_only_an_investigator_overrides_the_target(
    clinic, session: Session, actors, target_of_two
) -> None:  # type: ignore[no-untyped-def]
    clinic.enrolled()
    clinic.enrolled()
    pid = clinic.eligible()
    with pytest.raises(sv.Forbidden) as caught:
        sv.enroll_participant(
            session,
            actors["coordinator"],
            pid,
            enrolled_on=clinic.day(1),
            override_reason="replacement for a withdrawn participant",
        )
    assert caught.value.rule == "override_enrollment_target_not_allowed"
    enrollment = sv.enroll_participant(
        session,
        actors["investigator"],
        pid,
        enrolled_on=clinic.day(1),
        override_reason="replacement for a withdrawn participant (DSMB approval 12)",
    )
    assert enrollment.over_target and "DSMB" in (enrollment.override_reason or "")
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == "enrollments", AuditEntry.record_id == str(enrollment.id))
        .order_by(AuditEntry.sequence)
    ).all()
    assert json.loads(entries[0].changes)["override_reason"][1].endswith("(DSMB approval 12)")
    assert entries[0].user_id == actors["investigator"].user_id


def test_an_override_needs_a_reason(clinic, session: Session, actors, target_of_two) -> None:  # type: ignore[no-untyped-def]
    clinic.enrolled()
    clinic.enrolled()
    pid = clinic.eligible()
    with pytest.raises(sv.RuleViolation, match="giving a reason"):
        sv.enroll_participant(
            session, actors["investigator"], pid, enrolled_on=clinic.day(1), override_reason="  "
        )


def test_voided_enrollments_free_their_place(
    clinic, session: Session, actors, target_of_two
) -> None:  # type: ignore[no-untyped-def]
    first = clinic.enrolled()
    clinic.enrolled()
    enrollment = sv.get_enrollment(session, actors["coordinator"], first)
    assert enrollment is not None
    sv.void_clinical_record(
        session,
        actors["coordinator"],
        "enrollments",
        enrollment.id,
        expected_version=enrollment.version,
        reason="enrolled the wrong participant",
    )
    assert sv.get_participant(session, actors["coordinator"], first).status is (
        ParticipantStatus.SCREENING
    )
    clinic.enrolled()  # a place is free again
    assert sv.enrollment_summary(session, actors["coordinator"]).enrolled == 2


def test_withdrawal_stops_later_data_but_keeps_everything(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid)
    coordinator = clinic.coordinator
    sv.record_measurement(
        session,
        coordinator,
        pid,
        sv.VisitMeasurement(visit_code="BL", element="hba1c", value=8.1, unit="%"),
    )
    consent = sv.list_consents(session, coordinator, pid)[0]
    withdrawn = sv.withdraw_consent(
        session,
        coordinator,
        consent.id,
        withdrawn_on=clinic.day(40),
        expected_version=consent.version,
    )
    assert withdrawn.withdrawn_on == clinic.day(40) and withdrawn.withdrawal_reason is None
    participant = sv.get_participant(session, coordinator, pid)
    assert participant.status is ParticipantStatus.WITHDRAWN
    assert participant.ended_on == clinic.day(40)
    with pytest.raises(sv.RuleViolation) as caught:
        sv.record_visit(session, coordinator, pid, code="M1", visit_date=clinic.day(65))
    assert caught.value.rule == "consent_withdrawn" and caught.value.status == 409
    with pytest.raises(sv.RuleViolation, match="consent_withdrawn|withdrew"):
        sv.report_adverse_event(
            session,
            coordinator,
            pid,
            sv.AdverseEventReport(
                term="Headache",
                onset_date=clinic.day(41),
                grade=1,
                relatedness="unlikely",
                action_taken="not applicable",
                outcome="recovering/resolving",
            ),
        )
    # Data collected before the withdrawal can still be entered, and nothing was removed.
    sv.report_adverse_event(
        session,
        coordinator,
        pid,
        sv.AdverseEventReport(
            term="Nausea",
            onset_date=clinic.day(36),
            grade=1,
            relatedness="possible",
            action_taken="not applicable",
            outcome="recovering/resolving",
            awareness_date=clinic.day(41),
        ),
    )
    values = sv.list_measurements(session, coordinator, sv.MeasurementFilter(participant_id=pid))
    assert {m.element for m in values.items} >= {"weight", "height", "hba1c", "fasting_glucose"}
    assert len(sv.list_visits(session, coordinator, pid)) == 2


def test_withdrawn_participants_are_not_reconsented(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    consent_id = clinic.consent(pid)
    sv.withdraw_consent(
        session,
        clinic.coordinator,
        consent_id,
        withdrawn_on=clinic.day(3),
        expected_version=1,
        withdrawal_reason="moved away",
    )
    with pytest.raises(sv.RuleViolation, match="withdrew consent"):
        clinic.consent(pid)


def test_withdrawal_cannot_predate_consent(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    consent_id = clinic.consent(pid)
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.withdraw_consent(
            session,
            clinic.coordinator,
            consent_id,
            withdrawn_on=clinic.day(-5),
            expected_version=1,
        )
    assert caught.value.field == "withdrawn_on"


def test_consent_is_obtained_by_site_staff(clinic, session: Session, seed) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    with pytest.raises(sv.ValidationProblem, match="obtained_by"):
        sv.record_consent(
            session,
            clinic.coordinator,
            pid,
            form_version="ICF v2.0",
            consented_on=clinic.day(0),
            obtained_by=seed.users["monitor"],
        )
    with pytest.raises(sv.ValidationProblem, match="obtained_by"):
        sv.record_consent(
            session,
            clinic.coordinator,
            pid,
            form_version="ICF v2.0",
            consented_on=clinic.day(0),
            obtained_by=seed.users["coordinator2"],
        )
    consent = sv.record_consent(
        session,
        clinic.coordinator,
        pid,
        form_version="ICF v2.0",
        consented_on=clinic.day(0),
        obtained_by=seed.users["investigator"],
    )
    assert consent.obtained_by == seed.users["investigator"]


def test_a_later_re_consent_does_not_undo_the_consent_that_covered_enrollment(  # type: ignore[no-untyped-def]
    clinic, session: Session
) -> None:
    """Consent is judged on the date it must cover, not by the latest row: an enrollment dated
    day 1, entered after a re-consent on day 20, was covered by the day-0 consent."""
    pid = clinic.eligible()
    sv.record_consent(
        session, clinic.coordinator, pid, form_version="ICF v3.0", consented_on=clinic.day(20)
    )
    enrollment = sv.enroll_participant(session, clinic.coordinator, pid, enrolled_on=clinic.day(1))
    assert enrollment.enrolled_on == clinic.day(1)


def test_enrollment_before_any_consent_is_still_refused(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    sv.record_consent(
        session, clinic.coordinator, pid, form_version="ICF v2.0", consented_on=clinic.day(5)
    )
    with pytest.raises(sv.RuleViolation, match="on or before") as caught:
        sv.enroll_participant(session, clinic.coordinator, pid, enrolled_on=clinic.day(1))
    assert caught.value.rule == "enrollment_requires_consent"
