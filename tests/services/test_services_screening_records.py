"""The shipped example candidates stored through the services evaluate exactly as the direct
Evaluator does; any record can be read back by table and id."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.console.screen_cmd import example_candidates
from trialdesk.eligibility import CandidateInputError, Evaluator
from trialdesk.eligibility.candidates import read_candidates
from trialdesk.protocol import builtin_protocol

CANDIDATES = {r["id"]: r for r in read_candidates(example_candidates())}


@pytest.mark.parametrize("candidate", ["C01", "C02", "C03", "C04", "C06", "C07", "C08", "C09"])
def test_stored_screening_matches_direct_evaluation(
    clinic, session: Session, candidate: str
) -> None:  # type: ignore[no-untyped-def]
    record = dict(CANDIDATES[candidate])
    record.pop("screening_date")
    screened_on = clinic.day(0)
    pid = sv.register_participant(
        session,
        clinic.coordinator,
        sv.Registration(
            site_code="APGH",
            registered_on=screened_on,
            full_name=f"Candidate {candidate}",
            date_of_birth=date.fromisoformat(record["date_of_birth"]),
            sex=record["sex"],
        ),
    ).id
    clinic.consent(pid)
    stored = sv.record_screening_data(
        session, clinic.coordinator, pid, record=record, screened_on=screened_on
    )
    direct = Evaluator(builtin_protocol()).evaluate(record, f"APGH-{pid:03d}", screened_on)
    assert stored.status.value == direct.status.value
    assert stored.result["failed"] == [c.criterion.id for c in direct.failed]
    assert stored.result["missing"] == direct.missing


def test_screening_data_must_agree_with_the_participant(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register(sex="M")
    clinic.consent(pid)
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.record_screening_data(
            session, clinic.coordinator, pid, record=CANDIDATES["C02"], screened_on=clinic.day(0)
        )
    assert caught.value.field == "sex"
    # Nothing was stored: the whole record is one transaction.
    assert sv.list_visits(session, clinic.coordinator, pid) == []


def test_screening_data_need_consent(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    with pytest.raises(sv.RuleViolation, match="consent"):
        sv.record_screening_data(
            session, clinic.coordinator, pid, record=CANDIDATES["C01"], screened_on=clinic.day(0)
        )


def test_any_record_reads_back_by_table_and_id(clinic, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    visit_id = clinic.baseline(pid)
    ae = sv.report_adverse_event(
        session,
        clinic.coordinator,
        pid,
        sv.AdverseEventReport(
            term="Fever",
            onset_date=clinic.day(36),
            grade=1,
            relatedness="possible",
            action_taken="not applicable",
            outcome="recovering/resolving",
            awareness_date=clinic.day(36),
        ),
    )
    visit = sv.get_clinical_record(session, actors["monitor"], "visits", visit_id)
    assert visit.code == "BL" and visit.study_day == 0  # type: ignore[attr-defined]
    read_ae = sv.get_clinical_record(session, actors["statistician"], "adverse_events", ae.id)
    assert read_ae.model_dump() == ae.model_dump()
    consent = sv.list_consents(session, actors["monitor"], pid)[0]
    assert sv.get_clinical_record(session, actors["monitor"], "consents", consent.id) == consent
    with pytest.raises(sv.NotFound):
        sv.get_clinical_record(session, actors["coordinator2"], "visits", visit_id)
    with pytest.raises(sv.ValidationProblem):
        sv.get_clinical_record(session, actors["monitor"], "users", 1)


@pytest.mark.parametrize(
    ("element", "value", "unit"),
    [
        ("fasting_glucose", "100", "mmol/L"),  # really mg/dL
        ("hba1c", "53", "%"),  # really mmol/mol (IFCC)
        ("weight", "780", "kg"),
        ("weight", "10", "kg"),
    ],
)
def test_one_hard_limit_message_on_every_entry_path(  # type: ignore[no-untyped-def]
    clinic, session: Session, element: str, value: str, unit: str
) -> None:
    """Issue #16: `trialdesk screen` (the Evaluator), a measurement (API and web forms) and a
    screening record import refuse an impossible value with the same words, nothing stored."""
    record = {**CANDIDATES["C01"], element: value, f"{element}_unit": unit}
    record.pop("screening_date")
    screened_on = clinic.day(0)
    with pytest.raises(CandidateInputError) as direct:
        Evaluator(builtin_protocol()).evaluate(record, "C01", screened_on)
    [cli] = direct.value.errors
    pid = clinic.register(sex="M")  # born 1968-04-02, as C01
    clinic.consent(pid)
    with pytest.raises(sv.ValidationProblem) as imported:
        sv.record_screening_data(
            session, clinic.coordinator, pid, record=record, screened_on=screened_on
        )
    sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=screened_on)
    with pytest.raises(sv.ValidationProblem) as entered:
        sv.record_measurement(
            session,
            clinic.coordinator,
            pid,
            sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
        )
    assert cli.rule == imported.value.rule == entered.value.rule == "hard_limit"
    assert cli.field == imported.value.field == entered.value.field == element
    assert cli.reason == imported.value.reason == entered.value.reason
    assert "physiologically possible range" in cli.reason
    assert (
        sv.list_measurements(
            session, clinic.coordinator, sv.MeasurementFilter(participant_id=pid)
        ).total
        == 0
    )
