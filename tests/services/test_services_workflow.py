"""A participant's path through the trial, end to end through the services."""

from __future__ import annotations

from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.store.enums import ParticipantStatus


def test_a_participant_from_registration_to_transplantation(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    coordinator = clinic.coordinator
    pid = clinic.register()
    participant = sv.get_participant(session, coordinator, pid)
    assert participant.study_id == "APGH-001" and participant.status is ParticipantStatus.SCREENING
    clinic.consent(pid)
    clinic.screening_data(pid)
    screening = clinic.screen(pid)
    assert screening.status.value == "eligible", screening.result
    enrollment = sv.enroll_participant(session, coordinator, pid, enrolled_on=clinic.day(1))
    assert enrollment.arm_code == "MSC" and not enrollment.over_target
    clinic.baseline(pid)
    sv.record_visit(session, coordinator, pid, code="TX", visit_date=clinic.day(35))
    tx = sv.record_transplantation(
        session,
        coordinator,
        pid,
        sv.TransplantationEntry(
            performed_on=clinic.day(35),
            product="UC-MSC suspension",
            lot_number="L2027-001",
            cell_source="umbilical_cord",
            dose_cells_per_kg=1e6,
            route="intravenous",
            operator="Dr Li",
            weight_kg=78,
            visit_code="TX",
        ),
    )
    assert tx.total_cells == 78e6
    assert sv.get_participant(session, coordinator, pid).status is ParticipantStatus.ENROLLED
    assert sv.verify_audit_trail(session, sv.SYSTEM).ok
