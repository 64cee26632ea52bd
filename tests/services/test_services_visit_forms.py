"""Issue 13, the services behind the visit page: a whole visit saved all or nothing, form
statuses (REDCap's Incomplete / Unverified / Complete), what a save raised, consent corrections."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.services.visit_forms import VisitFormProblems, VisitFormsEntry, VisitValue

Clinic = Any  # the `clinic` fixture of tests/services/conftest.py (a module name other test
# directories share, so it is not imported here)


def _at_baseline(clinic: Clinic) -> int:
    pid = clinic.enrolled()
    clinic.baseline(pid)
    return pid


def test_a_whole_visit_is_saved_together_and_says_what_it_raised(clinic: Clinic) -> None:
    pid = _at_baseline(clinic)
    entry = VisitFormsEntry(
        measurements=[VisitValue("hba1c", "17", "%"), VisitValue("weight", "80", "kg")],
        insulin={"start_date": clinic.day(28), "total_units_per_day": 40.0},
        statuses={"labs": "complete"},
    )
    done = sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "BL", entry)
    assert done.saved[:2] == ("Haemoglobin A1c 17 %", "Body weight 80 kg")
    assert "insulin 40 U/day" in done.saved[2] and done.saved[3] == "labs form marked complete"
    assert len(done.raised) == 1 and done.raised[0].startswith("query #")  # soft limit 16 %
    statuses = sv.list_form_statuses(clinic.session, clinic.coordinator, pid)
    assert [(s.visit_code, s.form, s.status.value) for s in statuses] == [
        ("BL", "labs", "complete")
    ]


def test_one_refusal_saves_nothing_and_names_every_refused_field(clinic: Clinic) -> None:
    pid = _at_baseline(clinic)
    entry = VisitFormsEntry(
        measurements=[VisitValue("weight", "80", "kg"), VisitValue("hba1c", "80", "%")],
        ogld={"start_date": clinic.day(28), "drug": "unobtainium", "daily_dose_mg": 500.0},
    )
    with pytest.raises(VisitFormProblems) as refused:
        sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "BL", entry)
    assert set(refused.value.problems) == {"hba1c", "ogld_drug"}
    rows = sv.list_measurements(clinic.session, clinic.coordinator, participant_id=pid)
    assert {m.visit_code for m in rows.items} == {"SCR"}  # nothing of BL was kept
    assert sv.list_ogld_doses(clinic.session, clinic.coordinator, pid) == []


def test_form_status_changes_are_versioned_and_audited(clinic: Clinic) -> None:
    pid = _at_baseline(clinic)
    who = clinic.coordinator
    first = sv.set_form_status(
        clinic.session, who, pid, visit_code="BL", form="labs", status="unverified"
    )
    later = sv.set_form_status(
        clinic.session, who, pid, visit_code="BL", form="labs", status="complete"
    )
    assert (first.version, later.version, later.status.value) == (1, 2, "complete")
    history = sv.record_history(clinic.session, who, "form_statuses", later.id)
    assert [e.reason for e in history] == [None, "form status: unverified → complete"]
    with pytest.raises(sv.ValidationProblem, match="not a form of visit BL"):
        sv.set_form_status(
            clinic.session, who, pid, visit_code="BL", form="transplantation", status="complete"
        )
    with pytest.raises(sv.StaleVersion):
        sv.set_form_status(
            clinic.session,
            who,
            pid,
            visit_code="BL",
            form="labs",
            status="incomplete",
            expected_version=1,
        )


def test_a_monitor_cannot_set_a_form_status(clinic: Clinic) -> None:
    pid = _at_baseline(clinic)
    with pytest.raises(sv.Forbidden):
        sv.set_form_status(
            clinic.session,
            clinic.actors["monitor"],
            pid,
            visit_code="BL",
            form="labs",
            status="complete",
        )


def test_consent_corrections_keep_consent_before_every_procedure(
    clinic: Clinic, session: Session
) -> None:
    pid = _at_baseline(clinic)
    consent = sv.list_consents(session, clinic.coordinator, pid)[0]
    with pytest.raises(sv.ValidationProblem, match="after the first trial procedure"):
        sv.update_consent(
            session, clinic.coordinator, consent.id, expected_version=consent.version,
            reason="date misread", consented_on=clinic.day(1),
        )  # fmt: skip
    fixed = sv.update_consent(
        session, clinic.coordinator, consent.id, expected_version=consent.version,
        reason="version misread", form_version="ICF v2.1",
        consented_on=clinic.day(0) - timedelta(days=1),
    )  # fmt: skip
    assert (fixed.form_version, fixed.version) == ("ICF v2.1", 2)
    with pytest.raises(sv.StaleVersion):
        sv.update_consent(
            session,
            clinic.coordinator,
            consent.id,
            expected_version=1,
            reason="x",
            form_version="3",
        )


def test_a_corrected_finding_is_judged_again(clinic: Clinic, session: Session) -> None:
    pid = clinic.eligible()
    screening = sv.list_screenings(session, clinic.coordinator, pid)[0]
    corrected = sv.update_screening(
        session, clinic.coordinator, screening.id, expected_version=screening.version,
        reason="HIV test was positive on the lab report", findings={"hiv_infection": True},
    )  # fmt: skip
    assert corrected.status.value == "ineligible" and corrected.findings["hiv_infection"] is True
    assert corrected.findings["t2dm_diagnosis"] is True  # the other answers are kept
    assert sv.get_participant(session, clinic.coordinator, pid).status.value == "screen_failed"
    history = sv.record_history(session, clinic.coordinator, "screenings", screening.id)
    assert history[-1].reason == "HIV test was positive on the lab report"


def test_an_enrolled_participant_found_ineligible_gets_a_deviation(
    clinic: Clinic, session: Session
) -> None:
    pid = clinic.enrolled()
    screening = sv.list_screenings(session, clinic.coordinator, pid)[0]
    sv.update_screening(
        session, clinic.coordinator, screening.id, expected_version=screening.version,
        reason="fever was recorded", findings={"unexplained_fever": True},
    )  # fmt: skip
    deviations = sv.list_deviations(session, clinic.coordinator, participant_id=pid).items
    assert [(d.category.value, d.severity.value) for d in deviations] == [("eligibility", "major")]
    assert sv.get_participant(session, clinic.coordinator, pid).status.value == "enrolled"
