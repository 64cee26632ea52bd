"""Saving a whole screening through one use case: `save_screening` (a typed `ScreeningEntry`),
`register_and_screen` (a new candidate, all or nothing) and `record_screening_data` (a
``trialdesk screen`` row) store the same values and reach the same verdict; a refusal names the
part of the entry it concerns and nothing is kept."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.services.screening import entry_from_record, protocol_itt_dose
from trialdesk.store.models.audit import AuditEntry

FINDINGS: dict[str, Any] = {
    "t2dm_diagnosis": True,
    "fertile": False,
    "severe_heart_disease": False,
    "severe_lung_disease": False,
    "haematopoietic_dysfunction": False,
    "liver_dysfunction": False,
    "kidney_dysfunction": False,
    "active_infection_requiring_treatment": False,
    "unexplained_fever": False,
    "hiv_infection": False,
    "hepatitis_b_infection": False,
    "hepatitis_c_infection": False,
    "other_immunosuppressive_disease": False,
}
# 169 mg/dL fasting glucose ≈ 9.4 mmol/L; 69 mmol/mol HbA1c ≈ 8.5 % (IFCC→NGSP master
# equation, Hoelzel et al. 2004); ITT KITT 2.27 %/min ([@KITT-examples] B).
MEASUREMENTS = [
    sv.MeasurementEntry(element="weight", value=172, unit="lb"),
    sv.MeasurementEntry(element="height", value="1.72", unit="m"),
    sv.MeasurementEntry(element="fasting_glucose", value=169, unit="mg/dL"),
    sv.MeasurementEntry(element="hba1c", value=69, unit="mmol/mol"),
]
ITT_MG_DL = {0: 180, 3: 176, 6: 165, 9: 153, 12: 144, 15: 134}


def itt(dose: float | None = 0.1, unit: str = "mg/dL") -> sv.IttEntry:
    return sv.IttEntry(
        glucose_unit=unit,
        samples=[sv.IttSampleEntry(minute=m, glucose=g) for m, g in ITT_MG_DL.items()],
        insulin_dose_u_per_kg=dose,
    )


def entry(day: date, **changes: Any) -> sv.ScreeningEntry:
    fields: dict[str, Any] = {
        "screened_on": day,
        "findings": FINDINGS,
        "measurements": MEASUREMENTS,
        "itt": itt(),
        **changes,
    }
    return sv.ScreeningEntry(**fields)


def candidate(day: date, **changes: Any) -> sv.CandidateScreeningEntry:
    fields: dict[str, Any] = {
        **entry(day).model_dump(),
        "registration": sv.CandidateRegistration(
            site_code="APGH",
            full_name="Zhang Min",
            date_of_birth=date(1966, 3, 14),
            sex="M",
            medical_record_number="MRN-7781",
        ),
        "consent": sv.ConsentEntry(form_version="ICF v2.0", consented_on=day),
        **changes,
    }
    return sv.CandidateScreeningEntry(**fields)


def consented(clinic: Any) -> int:
    pid: int = clinic.register()
    clinic.consent(pid)
    return pid


def stored(session: Session, actor: sv.Actor, pid: int) -> dict[str, Any]:
    """What the screening left in the casebook, as entered and canonical."""
    measurements = sv.list_measurements(
        session, actor, sv.MeasurementFilter(participant_id=pid)
    ).items
    (test,) = sv.list_itt_tests(session, actor, pid)
    return {
        "visits": [(v.code, v.visit_date) for v in sv.list_visits(session, actor, pid)],
        "values": {
            m.element: (m.value_as_entered, m.unit_as_entered, round(m.value or 0, 2))
            for m in measurements
        },
        "itt": (
            test.glucose_unit_as_entered,
            test.insulin_dose_u_per_kg,
            [(s.minute, s.glucose_as_entered) for s in test.samples],
        ),
    }


def nothing_stored(session: Session, actor: sv.Actor, pid: int) -> bool:
    return (
        sv.list_measurements(session, actor, sv.MeasurementFilter(participant_id=pid)).total == 0
        and sv.list_itt_tests(session, actor, pid) == []
        and sv.list_screenings(session, actor, pid) == []
    )


# --- save_screening ------------------------------------------------------------------------


def test_save_screening_stores_every_value_as_entered_and_screens(
    clinic: Any, session: Session
) -> None:
    pid = consented(clinic)
    sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    view = sv.save_screening(session, clinic.coordinator, pid, entry(clinic.day(0)))
    assert view.status.value == "eligible", view.result["failed"]
    assert view.findings == FINDINGS
    kept = stored(session, clinic.coordinator, pid)
    assert kept["values"] == {
        "weight": ("172", "lb", 78.02),
        "height": ("1.72", "m", 172.0),
        "fasting_glucose": ("169", "mg/dL", 9.38),
        "hba1c": ("69", "mmol/mol", 8.46),
    }
    unit, dose, samples = kept["itt"]
    assert (unit, dose) == ("mg/dL", 0.1)
    assert samples == [(float(m), float(g)) for m, g in ITT_MG_DL.items()]
    used = {v["element"]: v for c in view.result["criteria"] for v in c["values"]}
    assert used["kitt"]["canonical"] == pytest.approx(2.27, abs=0.01)


def test_a_refused_measurement_is_addressed_in_the_entry_and_nothing_is_kept(
    clinic: Any, session: Session
) -> None:
    pid = consented(clinic)
    sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    impossible = sv.MeasurementEntry(element="fasting_glucose", value=900, unit="mmol/L")
    bad = entry(clinic.day(0), measurements=[MEASUREMENTS[0], impossible])
    with pytest.raises(sv.EntryProblem) as caught:
        sv.save_screening(session, clinic.coordinator, pid, bad)
    problem = caught.value
    assert problem.field == "measurements[1].fasting_glucose"
    assert problem.rule == "hard_limit" and problem.status == 422
    assert problem.message.startswith("measurements[1].fasting_glucose: 900 mmol/L is above")
    assert problem.part == "measurements[1]" and problem.refusal.field == "fasting_glucose"
    # All or nothing: the weight before the refused glucose was not kept either.
    assert nothing_stored(session, clinic.coordinator, pid)


@pytest.mark.parametrize(
    ("itt_entry", "field"),
    [
        (itt(unit="g/L"), "itt.glucose_unit"),
        (itt(dose=-1), "itt.insulin_dose_u_per_kg"),
        (sv.IttEntry(glucose_unit="mg/dL", samples=[]), "itt.samples"),
    ],
)
def test_a_refused_itt_is_addressed_in_the_entry(
    clinic: Any, session: Session, itt_entry: sv.IttEntry, field: str
) -> None:
    pid = consented(clinic)
    sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    with pytest.raises(sv.EntryProblem) as caught:
        sv.save_screening(session, clinic.coordinator, pid, entry(clinic.day(0), itt=itt_entry))
    assert caught.value.field == field and caught.value.part == "itt"
    assert nothing_stored(session, clinic.coordinator, pid)


def test_the_screenings_own_refusals_keep_their_entry_fields(clinic: Any, session: Session) -> None:
    pid = consented(clinic)
    sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    bad = entry(clinic.day(0), findings={**FINDINGS, "pregnant": "maybe"})
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.save_screening(session, clinic.coordinator, pid, bad)
    assert not isinstance(caught.value, sv.EntryProblem)
    assert caught.value.field == "findings.pregnant"
    assert caught.value.context["part"] == "screening"
    assert nothing_stored(session, clinic.coordinator, pid)


def test_the_visit_must_be_recorded_unless_asked_to_record_it(
    clinic: Any, session: Session
) -> None:
    pid = consented(clinic)
    with pytest.raises(sv.RuleViolation) as caught:
        sv.save_screening(session, clinic.coordinator, pid, entry(clinic.day(0)))
    # A rule, not a value: its own field and status, and the part it concerns.
    assert caught.value.rule == "visit_not_recorded" and caught.value.field == "visit_code"
    assert caught.value.context["part"] == "measurements[0]"
    assert sv.list_visits(session, clinic.coordinator, pid) == []

    view = sv.save_screening(
        session, clinic.coordinator, pid, entry(clinic.day(2)), record_visit=True
    )
    assert view.status.value == "eligible"
    assert stored(session, clinic.coordinator, pid)["visits"] == [("SCR", clinic.day(2))]


def test_only_the_site_and_role_may_save_a_screening(
    clinic: Any, session: Session, actors: dict[str, sv.Actor]
) -> None:
    pid = consented(clinic)
    sv.record_visit(session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    with pytest.raises(sv.NotFound):
        sv.save_screening(session, actors["coordinator2"], pid, entry(clinic.day(0)))
    with pytest.raises(sv.Forbidden):
        sv.save_screening(session, actors["monitor"], pid, entry(clinic.day(0)))
    assert nothing_stored(session, clinic.coordinator, pid)


# --- register_and_screen ---------------------------------------------------------------------


def test_register_and_screen_saves_the_candidate_and_the_screening(
    clinic: Any, session: Session
) -> None:
    view = sv.register_and_screen(session, clinic.coordinator, candidate(clinic.day(0)))
    pid = view.participant_id
    assert view.status.value == "eligible", view.result["failed"]
    participant = sv.get_participant(session, clinic.coordinator, pid)
    assert participant.study_id == "APGH-001" and participant.sex == "M"
    assert participant.registered_on == clinic.day(0)
    identity = sv.get_identity(session, clinic.coordinator, pid)
    assert (identity.full_name, identity.medical_record_number) == ("Zhang Min", "MRN-7781")
    (consent,) = sv.list_consents(session, clinic.coordinator, pid)
    assert (consent.form_version, consent.consented_on) == ("ICF v2.0", clinic.day(0))
    kept = stored(session, clinic.coordinator, pid)
    assert kept["visits"] == [("SCR", clinic.day(0))]
    assert kept["values"]["hba1c"] == ("69", "mmol/mol", 8.46)
    assert kept["itt"][:2] == ("mg/dL", 0.1)


def _no_participants(session: Session, actor: sv.Actor) -> bool:
    return sv.list_participants(session, actor).total == 0


@pytest.mark.parametrize(
    ("changes", "error", "part", "field"),
    [
        ({"consent": None}, sv.RuleViolation, "visit", None),
        (
            {"consent": sv.ConsentEntry(form_version=" ", consented_on=date(2020, 1, 1))},
            sv.EntryProblem,
            "consent",
            "consent.form_version",
        ),
        (
            {"measurements": [sv.MeasurementEntry(element="weight", value=5000, unit="kg")]},
            sv.EntryProblem,
            "measurements[0]",
            "measurements[0].weight",
        ),
    ],
)
def test_register_and_screen_is_all_or_nothing(
    clinic: Any,
    session: Session,
    changes: dict[str, Any],
    error: type[sv.ServiceError],
    part: str,
    *,
    field: str | None,
) -> None:
    with pytest.raises(error) as caught:
        sv.register_and_screen(session, clinic.coordinator, candidate(clinic.day(0), **changes))
    assert caught.value.context["part"] == part and caught.value.field == field
    # Not even the registration is kept.
    assert _no_participants(session, clinic.coordinator)


def test_a_refused_registration_is_audited_and_names_its_part(
    clinic: Any, session: Session, actors: dict[str, sv.Actor]
) -> None:
    with pytest.raises(sv.Forbidden) as caught:
        sv.register_and_screen(session, actors["coordinator2"], candidate(clinic.day(0)))
    assert caught.value.rule == "site_not_assigned"
    assert caught.value.context["part"] == "registration"
    refusals = session.scalars(select(AuditEntry).where(AuditEntry.action == "refuse")).all()
    assert [r.table_name for r in refusals] == ["participants"]
    assert '"operation":"register_and_screen"' in refusals[0].changes.replace(" ", "")
    assert _no_participants(session, clinic.coordinator)


# --- one use case, three ways in --------------------------------------------------------------


def test_the_three_ways_in_store_the_same_screening(clinic: Any, session: Session) -> None:
    """A ``trialdesk screen`` row, its typed entry and a new candidate's entry give the same
    measurements, ITT and verdict."""
    day = clinic.day(0)
    row = {
        "id": "C01",
        "sex": "M",
        "date_of_birth": "1966-03-14",
        "weight": "172",
        "weight_unit": "lb",
        "height": "1.72",
        "height_unit": "m",
        "fasting_glucose": "169",
        "fasting_glucose_unit": "mg/dL",
        "hba1c": "69",
        "hba1c_unit": "mmol/mol",
        "itt_glucose": "; ".join(f"{m}:{g}" for m, g in ITT_MG_DL.items()),
        "itt_glucose_unit": "mg/dL",
        **{k: "yes" if v else "no" for k, v in FINDINGS.items()},
    }
    typed = entry_from_record(row, day)
    assert [m.element for m in typed.measurements] == [m.element for m in MEASUREMENTS]
    assert typed.itt is not None and typed.itt.insulin_dose_u_per_kg is None

    def new_candidate() -> int:
        return sv.register_participant(
            session,
            clinic.coordinator,
            sv.Registration(
                site_code="APGH",
                registered_on=day,
                full_name="Zhang Min",
                date_of_birth=date(1966, 3, 14),
                sex="M",
            ),
        ).id

    by_row = new_candidate()
    clinic.consent(by_row)
    from_row = sv.record_screening_data(
        session, clinic.coordinator, by_row, record=row, screened_on=day
    )
    by_entry = new_candidate()
    clinic.consent(by_entry)
    from_entry = sv.save_screening(
        session, clinic.coordinator, by_entry, entry(day, itt=itt(dose=None)), record_visit=True
    )
    from_form = sv.register_and_screen(
        session, clinic.coordinator, candidate(day, itt=itt(dose=None))
    )
    views = (from_row, from_entry, from_form)
    assert {v.status.value for v in views} == {"eligible"}
    assert len({tuple(v.result["failed"]) for v in views}) == 1
    kept = [stored(session, clinic.coordinator, v.participant_id) for v in views]
    assert kept[0] == kept[1] == kept[2]


def test_a_screening_row_refusal_names_its_column(clinic: Any, session: Session) -> None:
    with pytest.raises(sv.ValidationProblem) as unknown:
        entry_from_record({"glucose_fasting": "9.4"}, clinic.day(0))
    assert unknown.value.field == "glucose_fasting"
    pid = consented(clinic)
    row = {"weight": "5000", "weight_unit": "kg"}
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.record_screening_data(
            session, clinic.coordinator, pid, record=row, screened_on=clinic.day(0)
        )
    assert not isinstance(caught.value, sv.EntryProblem)
    assert caught.value.field == "weight" and caught.value.rule == "hard_limit"
    assert sv.list_visits(session, clinic.coordinator, pid) == []


def test_the_protocols_itt_bolus() -> None:
    # NCT01142050: 0.1 U/kg regular insulin (parameter itt_insulin_dose).
    assert protocol_itt_dose() == pytest.approx(0.1)
