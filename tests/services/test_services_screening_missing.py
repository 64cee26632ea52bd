"""Screening fields recorded as missing with a code (issue #13): stored and audited like any
coded value of the screening visit, "not assessable" in eligibility with the code and reason as
the verdict's reason, never both a value and a code; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.services.test_services_screening_save import FINDINGS, candidate, entry

from trialdesk import services as sv
from trialdesk.store.models.audit import AuditEntry
from trialdesk.store.models.clinical import Measurement


def _coded(**codes: tuple[str, str]) -> list[sv.MissingEntry]:
    return [sv.MissingEntry(element=e, code=c, reason=r) for e, (c, r) in codes.items()]


def test_a_coded_measurement_and_finding_make_their_criteria_not_assessable(
    clinic: Any, session: Session
) -> None:
    measurements = [m for m in entry(clinic.day(0)).measurements if m.element != "hba1c"]
    findings = {k: v for k, v in FINDINGS.items() if k != "hepatitis_b_infection"}
    coded = _coded(hba1c=("ND", "sample haemolysed"), hepatitis_b_infection=("ASKU", "no records"))
    view = sv.register_and_screen(
        session,
        clinic.coordinator,
        candidate(clinic.day(0), measurements=measurements, findings=findings, missing=coded),
    )
    assert view.status.value == "incomplete"
    assert view.result["coded"] == {
        "hba1c": "not done (ND): sample haemolysed",
        "hepatitis_b_infection": "asked but unknown (ASKU): no records",
    }
    by_id = {c["id"]: c for c in view.result["criteria"]}
    hba1c = next(c for c in by_id.values() if "hba1c" in c["missing"])
    assert hba1c["truth"] == "not assessable"
    assert "Haemoglobin A1c: not done (ND): sample haemolysed" in hba1c["reasons"]
    hepatitis = next(c for c in by_id.values() if "hepatitis_b_infection" in c["missing"])
    assert any("asked but unknown (ASKU): no records" in r for r in hepatitis["reasons"])
    rows = session.scalars(
        select(Measurement).where(Measurement.participant_id == view.participant_id)
    ).all()
    assert {(m.element, m.missing_code, m.missing_reason) for m in rows if m.missing_code} == {
        ("hba1c", "ND", "sample haemolysed"),
        ("hepatitis_b_infection", "ASKU", "no records"),
    }
    audited = session.scalars(
        select(AuditEntry.record_id).where(AuditEntry.table_name == "measurements")
    ).all()
    assert {str(m.id) for m in rows} <= set(audited)


def test_a_value_and_a_code_for_one_field_are_refused_and_nothing_is_kept(
    clinic: Any, session: Session
) -> None:
    with pytest.raises(sv.ValidationProblem) as refused:
        sv.register_and_screen(
            session,
            clinic.coordinator,
            candidate(clinic.day(0), missing=_coded(hba1c=("ND", "sample haemolysed"))),
        )
    assert refused.value.field == "missing[0].hba1c"
    assert "either a value or a missing-data code" in refused.value.reason
    assert sv.list_participants(session, clinic.coordinator, limit=10).total == 0


@pytest.mark.parametrize(
    ("code", "reason", "field", "words"),
    [
        ("XX", "why", "missing[0].missing_code", "is not a missing-data code"),
        ("ND", "", "missing[0].missing_reason", "required"),
    ],
)
def test_an_unknown_code_or_no_reason_names_the_field(
    clinic: Any, session: Session, code: str, reason: str, field: str, *, words: str
) -> None:
    measurements = [m for m in entry(clinic.day(0)).measurements if m.element != "hba1c"]
    with pytest.raises(sv.ValidationProblem) as refused:
        sv.register_and_screen(
            session,
            clinic.coordinator,
            candidate(
                clinic.day(0),
                measurements=measurements,
                missing=[sv.MissingEntry(element="hba1c", code=code, reason=reason)],
            ),
        )
    assert refused.value.field == field and words in refused.value.reason


def test_a_later_value_supersedes_the_code(clinic: Any, session: Session) -> None:
    """Re-screening with the value (after the code was stored) judges the value."""
    measurements = [m for m in entry(clinic.day(0)).measurements if m.element != "hba1c"]
    first = sv.register_and_screen(
        session,
        clinic.coordinator,
        candidate(
            clinic.day(0),
            measurements=measurements,
            missing=_coded(hba1c=("NAV", "analyser down")),
        ),
    )
    sv.record_measurement(
        session, clinic.coordinator, first.participant_id, sv.VisitMeasurement(visit_code="SCR",
        element="hba1c", value="8.4", unit="%"),
    )  # fmt: skip
    again = sv.screen_participant(
        session, clinic.coordinator, first.participant_id, screened_on=clinic.day(0),
        findings=FINDINGS,
    )  # fmt: skip
    assert again.result["coded"] == {} and again.status.value == "eligible"
