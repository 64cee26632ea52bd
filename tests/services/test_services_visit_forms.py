"""Issue 13, the services behind the visit page: a whole visit saved all or nothing, form
statuses (REDCap's Incomplete / Unverified / Complete), what a save raised, consent corrections."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.services.form_status import FormStatusChange
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
    rows = sv.list_measurements(
        clinic.session, clinic.coordinator, sv.MeasurementFilter(participant_id=pid)
    )
    assert {m.visit_code for m in rows.items} == {"SCR"}  # nothing of BL was kept
    assert sv.list_ogld_doses(clinic.session, clinic.coordinator, pid) == []


def test_form_status_changes_are_versioned_and_audited(clinic: Clinic) -> None:
    pid = _at_baseline(clinic)
    who = clinic.coordinator
    first = sv.set_form_status(
        clinic.session,
        who,
        pid,
        FormStatusChange(visit_code="BL", form="labs", status="unverified"),
    )
    later = sv.set_form_status(
        clinic.session, who, pid, FormStatusChange(visit_code="BL", form="labs", status="complete")
    )
    assert (first.version, later.version, later.status.value) == (1, 2, "complete")
    history = sv.record_history(clinic.session, who, "form_statuses", later.id)
    assert [e.reason for e in history] == [None, "form status: unverified → complete"]
    with pytest.raises(sv.ValidationProblem, match="not a form of visit BL"):
        sv.set_form_status(
            clinic.session,
            who,
            pid,
            FormStatusChange(visit_code="BL", form="transplantation", status="complete"),
        )
    with pytest.raises(sv.StaleVersion):
        sv.set_form_status(
            clinic.session,
            who,
            pid,
            FormStatusChange(visit_code="BL", form="labs", status="incomplete", expected_version=1),
        )


def test_a_monitor_cannot_set_a_form_status(clinic: Clinic) -> None:
    pid = _at_baseline(clinic)
    with pytest.raises(sv.Forbidden):
        sv.set_form_status(
            clinic.session,
            clinic.actors["monitor"],
            pid,
            FormStatusChange(visit_code="BL", form="labs", status="complete"),
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
    deviations = sv.list_deviations(
        session, clinic.coordinator, sv.DeviationFilter(participant_id=pid)
    ).items
    assert [(d.category.value, d.severity.value) for d in deviations] == [("eligibility", "major")]
    assert sv.get_participant(session, clinic.coordinator, pid).status.value == "enrolled"


# --- every refusal at once; the transplantation and an adverse event on the page ------------


def _transplantation(clinic: Clinic, **overrides: Any) -> dict[str, Any]:
    return {
        "performed_on": clinic.day(35), "product": "UC-MSC", "lot_number": "L-7",
        "cell_source": "umbilical_cord", "dose_cells_per_kg": 1e6, "route": "intravenous",
        "operator": "Dr Li", "weight_kg": 70.0, **overrides,
    }  # fmt: skip


def _adverse_event(clinic: Clinic, **overrides: Any) -> dict[str, Any]:
    return {
        "term": "Headache", "onset_date": clinic.day(35), "grade": 1,
        "relatedness": "unlikely", "action_taken": "dose not changed",
        "outcome": "recovering/resolving", **overrides,
    }  # fmt: skip


def _at_transplant_visit(clinic: Clinic) -> int:
    pid = _at_baseline(clinic)
    sv.record_visit(clinic.session, clinic.coordinator, pid, code="TX", visit_date=clinic.day(35))
    return pid


def test_what_the_adapter_could_not_read_is_reported_with_every_rule_refusal(
    clinic: Clinic,
) -> None:
    pid = _at_baseline(clinic)
    entry = VisitFormsEntry(
        measurements=[VisitValue("weight", "80", "kg"), VisitValue("hba1c", "80", "%")],
        ogld={"start_date": clinic.day(28), "drug": "unobtainium", "daily_dose_mg": 500.0},
        refused={"insulin_total_units_per_day": "'4x' is not a number"},
    )
    with pytest.raises(VisitFormProblems) as refused:
        sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "BL", entry)
    assert refused.value.problems["insulin_total_units_per_day"] == "'4x' is not a number"
    assert set(refused.value.problems) == {"hba1c", "ogld_drug", "insulin_total_units_per_day"}
    rows = sv.list_measurements(
        clinic.session, clinic.coordinator, sv.MeasurementFilter(participant_id=pid)
    )
    assert {m.visit_code for m in rows.items} == {"SCR"}


def test_a_refusal_of_one_field_alone_still_saves_nothing(clinic: Clinic) -> None:
    pid = _at_baseline(clinic)
    entry = VisitFormsEntry(
        measurements=[VisitValue("weight", "80", "kg")], refused={"itt_glucose_3": "not a number"}
    )
    with pytest.raises(VisitFormProblems):
        sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "BL", entry)
    rows = sv.list_measurements(
        clinic.session,
        clinic.coordinator,
        sv.MeasurementFilter(participant_id=pid, visit_code="BL"),
    )
    assert rows.items == []


def test_the_transplantation_and_an_adverse_event_are_saved_with_the_visit(clinic: Clinic) -> None:
    pid = _at_transplant_visit(clinic)
    entry = VisitFormsEntry(
        measurements=[VisitValue("weight", "70", "kg")],
        transplantation=_transplantation(clinic),
        adverse_event=_adverse_event(clinic),
    )
    done = sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "TX", entry)
    assert (
        done.saved[1] == f"cell transplantation on {clinic.day(35)} (1.0 × 10⁶ cells/kg, lot L-7)"
    )
    assert done.saved[2].endswith("(Headache, grade 1)")
    (tx,) = sv.list_transplantations(clinic.session, clinic.coordinator, pid)
    assert tx.visit_id is not None
    history = sv.record_history(clinic.session, clinic.coordinator, "transplantations", tx.id)
    assert [e.action for e in history] == ["create"]


def test_an_adverse_event_refused_keeps_the_transplantation_from_being_saved(
    clinic: Clinic,
) -> None:
    pid = _at_transplant_visit(clinic)
    entry = VisitFormsEntry(
        transplantation=_transplantation(clinic, lot_number=" "),
        adverse_event=_adverse_event(clinic, onset_date=clinic.day(2000)),  # in the future
    )
    with pytest.raises(VisitFormProblems) as refused:
        sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "TX", entry)
    assert set(refused.value.problems) == {"tx_lot_number", "ae_onset_date"}
    assert sv.list_transplantations(clinic.session, clinic.coordinator, pid) == []
    events = sv.list_adverse_events(clinic.session, clinic.coordinator, participant_id=pid)
    assert events.items == []


# --- a value entered meanwhile --------------------------------------------------------------


def test_a_value_entered_meanwhile_is_refused_with_the_value_saved_now(clinic: Clinic) -> None:
    pid = _at_baseline(clinic)
    first = VisitFormsEntry(measurements=[VisitValue("hba1c", "8,1", "%")], opened_with=frozenset())
    sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "BL", first)
    stale = VisitFormsEntry(
        measurements=[VisitValue("hba1c", "8.3", "%"), VisitValue("weight", "80", "kg")],
        opened_with=frozenset(),
    )
    with pytest.raises(sv.EnteredMeanwhile) as refused:
        sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "BL", stale)
    assert refused.value.status == 409 and refused.value.current == {"hba1c": "8,1 %"}
    assert "yours, 8.3 %, was not saved" in refused.value.problems["hba1c"]
    rows = sv.list_measurements(
        clinic.session,
        clinic.coordinator,
        sv.MeasurementFilter(participant_id=pid, visit_code="BL"),
    )
    assert [m.element for m in rows.items] == ["hba1c"]  # the weight was not saved either
    fresh = VisitFormsEntry(measurements=stale.measurements[1:], opened_with=frozenset({"hba1c"}))
    assert sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "BL", fresh).saved


# --- a corrected visit date outside its window ----------------------------------------------


def test_a_visit_date_corrected_out_of_its_window_needs_the_reason_kept_on_the_deviation(
    clinic: Clinic,
) -> None:
    pid = _at_baseline(clinic)
    visit = sv.record_visit(
        clinic.session, clinic.coordinator, pid, code="M1", visit_date=clinic.day(65)
    )
    outside = {"expected_version": visit.version, "reason": "typo", "visit_date": clinic.day(40)}
    with pytest.raises(sv.ValidationProblem) as refused:
        sv.update_visit(
            clinic.session,
            clinic.coordinator,
            visit.id,
            sv.VisitChanges(deviation_reason="", **outside),
        )
    assert refused.value.field == "deviation_reason"
    assert (
        sv.list_deviations(
            clinic.session, clinic.coordinator, sv.DeviationFilter(participant_id=pid)
        ).items
        == []
    )
    sv.update_visit(
        clinic.session,
        clinic.coordinator,
        visit.id,
        sv.VisitChanges(deviation_reason="flooding", **outside),
    )
    (deviation,) = sv.list_deviations(
        clinic.session, clinic.coordinator, sv.DeviationFilter(participant_id=pid)
    ).items
    assert (deviation.visit_id, deviation.explanation) == (visit.id, "flooding")


# --- the transplantation day's body weight: weighed once, with the vital signs --------------


def test_the_transplantation_takes_its_weight_from_the_vital_signs(clinic: Clinic) -> None:
    """Issue #13: the weight is typed once (vital signs); the transplantation uses it for the
    total cell count, and its audit entry names where the weight came from."""
    pid = _at_transplant_visit(clinic)
    entry = VisitFormsEntry(
        measurements=[VisitValue("weight", "72.5", "kg")],
        transplantation=_transplantation(clinic, weight_kg=None),
    )
    sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "TX", entry)
    (tx,) = sv.list_transplantations(clinic.session, clinic.coordinator, pid)
    assert tx.weight_kg == 72.5 and tx.total_cells == pytest.approx(72.5e6)
    (created,) = sv.record_history(clinic.session, clinic.coordinator, "transplantations", tx.id)
    source = created.changes["weight_kg_source"][1]
    assert source.startswith(f"from vital signs on {clinic.day(35).isoformat()} (measurement ")
    with pytest.raises(sv.RuleViolation, match="differs from the body weight recorded"):
        sv.update_transplantation(
            clinic.session, clinic.coordinator, tx.id, expected_version=tx.version,
            reason="typed again", weight_kg=80,
        )  # fmt: skip


def test_a_different_weight_typed_for_the_transplantation_is_refused(clinic: Clinic) -> None:
    pid = _at_transplant_visit(clinic)
    entry = VisitFormsEntry(
        measurements=[VisitValue("weight", "70", "kg")],
        transplantation=_transplantation(clinic, weight_kg=80.0),
    )
    with pytest.raises(VisitFormProblems) as refused:
        sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "TX", entry)
    [(field, message)] = [(k, v) for k, v in refused.value.problems.items() if "weight" in k]
    assert field.endswith("weight_kg")
    assert "80 kg differs from the body weight recorded with the vital signs" in message
    assert "70 kg on" in message
    assert sv.list_transplantations(clinic.session, clinic.coordinator, pid) == []


def test_without_vital_signs_the_typed_weight_is_kept(clinic: Clinic) -> None:
    pid = _at_transplant_visit(clinic)
    entry = VisitFormsEntry(transplantation=_transplantation(clinic, weight_kg=68.0))
    sv.save_visit_forms(clinic.session, clinic.coordinator, pid, "TX", entry)
    (tx,) = sv.list_transplantations(clinic.session, clinic.coordinator, pid)
    assert tx.weight_kg == 68.0
    (created,) = sv.record_history(clinic.session, clinic.coordinator, "transplantations", tx.id)
    assert "weight_kg_source" not in created.changes
