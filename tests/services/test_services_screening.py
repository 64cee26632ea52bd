"""Screening and eligibility from stored data."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from trialdesk import services as sv


def test_the_snapshot_keeps_the_values_used(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.eligible()
    (screening,) = sv.list_screenings(session, clinic.coordinator, pid)
    criteria = {c["id"]: c for c in screening.result["criteria"]}
    assert screening.result["status"] == "eligible" and screening.result["candidate"] == "APGH-001"
    bmi = criteria["I4"]["values"][0]
    assert bmi["element"] == "bmi" and bmi["canonical"] == pytest.approx(26.4, abs=0.05)
    kitt = criteria["I6"]["values"][0]
    assert kitt["canonical"] == pytest.approx(2.27, abs=0.01)
    assert screening.findings["t2dm_diagnosis"] is True


def test_eligibility_is_rebuilt_from_stored_data(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.eligible()
    view = sv.evaluate_eligibility(session, clinic.coordinator, pid)
    record = view.record
    assert record["fasting_glucose"] == "9.4" and record["fasting_glucose_unit"] == "mmol/L"
    assert record["itt_glucose_unit"] == "mg/dL" and record["itt_glucose"][0] == [0.0, 180.0]
    assert record["informed_consent"] is True and record["sex"] == "M"
    assert view.status.value == "eligible"
    # A correction of a stored value changes the evaluation (nothing is cached).
    hba1c = sv.list_measurements(
        session, clinic.coordinator, sv.MeasurementFilter(participant_id=pid, element="hba1c")
    ).items[0]
    sv.update_measurement(
        session,
        clinic.coordinator,
        hba1c.id,
        sv.MeasurementChanges(
            expected_version=hba1c.version, reason="lab report re-read", value=6.8
        ),
    )
    again = sv.evaluate_eligibility(session, clinic.coordinator, pid)
    assert again.status.value == "ineligible" and again.result["failed"] == ["I5"]
    assert sv.evaluate_eligibility(
        session, clinic.coordinator, pid, findings={"hiv_infection": True}
    ).result["failed"] == ["I5", "E4"]


def test_missing_itt_leaves_screening_incomplete(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    clinic.consent(pid)
    sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    for element, value, unit in (
        ("weight", 68, "kg"),
        ("height", 163, "cm"),
        ("fasting_glucose", 8.9, "mmol/L"),
        ("hba1c", 8.2, "%"),
    ):
        sv.record_measurement(
            session,
            clinic.coordinator,
            pid,
            sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
        )
    screening = clinic.screen(pid)
    assert screening.status.value == "incomplete" and screening.result["missing"] == ["itt_glucose"]


@pytest.mark.parametrize(
    ("findings", "field", "text"),
    [
        ({"weight": 70}, "findings.weight", "record it as a measurement"),
        ({"favourite_colour": "red"}, "findings.favourite_colour", "unknown data element"),
        ({"sex": "F"}, "findings.sex", "its own record"),
        ({"pregnant": "perhaps"}, "findings.pregnant", "not yes/no"),
    ],
)
def test_bad_findings_name_the_field(clinic, session, findings, field, text) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    clinic.consent(pid)
    with pytest.raises(sv.ValidationProblem) as caught:
        clinic.screen(pid, **findings)
    assert caught.value.field == field and text in caught.value.message


def test_a_participant_is_not_rescreened_after_enrollment(clinic) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    with pytest.raises(sv.RuleViolation, match="already enrolled"):
        clinic.screen(pid)


def test_registration_assigns_study_ids_and_keeps_identity_apart(clinic, session, actors) -> None:  # type: ignore[no-untyped-def]
    first, second = clinic.register(), clinic.register()
    assert sv.get_participant(session, actors["monitor"], second).study_id == "APGH-002"
    found = sv.find_participant(session, actors["monitor"], "APGH-001")
    assert found.id == first and "full_name" not in found.model_dump()
    identity = sv.get_identity(session, actors["monitor"], first)
    assert identity.full_name == "Wang Wei"
    with pytest.raises(sv.NotFound):
        sv.find_participant(session, actors["coordinator2"], "APGH-001")
    with pytest.raises(sv.ValidationProblem, match="date_of_birth"):
        sv.register_participant(
            session,
            actors["coordinator"],
            sv.Registration(
                site_code="APGH",
                registered_on=clinic.day(0),
                full_name="Too Young",
                date_of_birth=clinic.day(5),
            ),
        )
