"""Ending participation, voiding a registration, manual deviations and the transplantation."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.store.enums import ParticipantStatus
from trialdesk.store.models import AuditEntry


def test_completing_the_study(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    version = sv.get_participant(session, clinic.coordinator, pid).version
    ended = sv.end_participation(
        session,
        clinic.coordinator,
        pid,
        ended_on=clinic.day(400),
        end_reason="completed",
        expected_version=version,
    )
    assert ended.status is ParticipantStatus.COMPLETED and ended.end_reason.value == "completed"
    with pytest.raises(sv.RuleViolation, match="already ended"):
        sv.end_participation(
            session,
            clinic.coordinator,
            pid,
            ended_on=clinic.day(401),
            end_reason="death",
            expected_version=ended.version,
        )
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.end_participation(
            session,
            clinic.coordinator,
            clinic.register(),
            ended_on=clinic.day(5),
            end_reason="bored",
            expected_version=1,
        )
    assert caught.value.field == "end_reason"


def test_a_registration_in_error_is_voided_with_its_identity(clinic, session, actors) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    sv.void_participant(
        session, clinic.coordinator, pid, expected_version=1, reason="duplicate registration"
    )
    assert sv.list_participants(session, clinic.coordinator).total == 0
    everyone = sv.list_participants(session, clinic.coordinator, include_voided=True)
    assert everyone.total == 1 and everyone.items[0].voided
    actions = session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.participant_id == pid, AuditEntry.action == "void"
        )
    ).all()
    assert len(actions) == 2  # participant and identity
    assert clinic.register() != pid  # numbering continues: APGH-002
    assert sv.list_participants(session, clinic.coordinator).items[0].study_id == "APGH-002"


def test_manual_deviation(clinic, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid)
    deviation = sv.record_deviation(
        session,
        actors["investigator"],
        pid,
        sv.DeviationEntry(
            category="procedure",
            severity="major",
            description="Baseline ITT done without overnight fast",
            detected_on=clinic.day(29),
            visit_code="BL",
        ),
    )
    assert not deviation.automatic and deviation.visit_id is not None
    updated = sv.update_deviation(
        session,
        actors["investigator"],
        deviation.id,
        sv.DeviationChanges(
            expected_version=1, reason="reclassified after review", severity="minor"
        ),
    )
    assert updated.severity.value == "minor"
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.record_deviation(
            session,
            actors["investigator"],
            pid,
            sv.DeviationEntry(
                category="lateness", severity="minor", description="x", detected_on=clinic.day(29)
            ),
        )
    assert caught.value.field == "category"
    with pytest.raises(sv.Forbidden):
        sv.record_deviation(
            session,
            actors["monitor"],
            pid,
            sv.DeviationEntry(
                category="other", severity="minor", description="x", detected_on=clinic.day(29)
            ),
        )


def _transplant(clinic, pid: int, **overrides):  # type: ignore[no-untyped-def]
    data = {
        "performed_on": clinic.day(35),
        "product": "UC-MSC suspension",
        "lot_number": "L2027-001",
        "cell_source": "umbilical_cord",
        "dose_cells_per_kg": 1e6,
        "route": "intravenous",
        "operator": "Dr Li",
        **overrides,
    }
    return sv.record_transplantation(
        clinic.session, clinic.coordinator, pid, sv.TransplantationEntry(**data)
    )


def test_transplantation_needs_enrollment(clinic) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sv.RuleViolation) as caught:
        _transplant(clinic, clinic.eligible())
    assert caught.value.rule == "not_enrolled"
    with pytest.raises(sv.RuleViolation) as caught:
        _transplant(clinic, clinic.enrolled(), performed_on=clinic.day(0))
    assert caught.value.rule == "before_enrollment"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dose_cells_per_kg": 1e12}, "dose_cells_per_kg"),
        ({"dose_cells_per_kg": 0}, "dose_cells_per_kg"),
        ({"route": "oral"}, "route"),
        ({"cell_source": "liver"}, "cell_source"),
        ({"lot_number": ""}, "lot_number"),
        ({"weight_kg": 5}, "weight_kg"),
    ],
)
def test_transplantation_fields_are_checked(clinic, overrides, field) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    with pytest.raises(sv.ValidationProblem) as caught:
        _transplant(clinic, pid, **overrides)
    assert caught.value.field == field


def test_transplantation_corrections(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    tx = _transplant(clinic, clinic.enrolled(), weight_kg=80)
    assert tx.total_cells == 8e7
    fixed = sv.update_transplantation(
        session,
        clinic.coordinator,
        tx.id,
        expected_version=tx.version,
        reason="weight on the day was 78 kg",
        weight_kg=78,
    )
    assert fixed.total_cells == 7.8e7 and fixed.version == 2
    with pytest.raises(sv.ValidationProblem, match="not a field"):
        sv.update_transplantation(
            session, clinic.coordinator, tx.id, expected_version=2, reason="x", colour="red"
        )


def test_a_wrong_signature_password_is_audited(clinic, session, actors) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    with pytest.raises(sv.Unauthenticated):
        sv.sign_casebook(session, actors["investigator"], pid, password="not my password")
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence.desc())).first()
    assert entry is not None and entry.action == "refuse" and "signature_password" in entry.changes
