"""Edit checks from the catalogue limits, unit handling, ITT samples and KITT."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk import services as sv
from trialdesk.services.queries import QueryFilter
from trialdesk.store.models import AuditEntry, Measurement


@pytest.fixture
def at_screening(clinic) -> int:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    clinic.consent(pid)
    sv.record_visit(clinic.session, clinic.coordinator, pid, code="SCR", visit_date=clinic.day(0))
    return pid


def _record(clinic, pid: int, element: str, value, unit: str | None = None):  # type: ignore[no-untyped-def]
    return sv.record_measurement(
        clinic.session,
        clinic.coordinator,
        pid,
        sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
    )


def test_values_keep_their_entered_unit_and_get_a_canonical_one(clinic, at_screening) -> None:  # type: ignore[no-untyped-def]
    glucose = _record(clinic, at_screening, "fasting_glucose", 126, "mg/dL")
    assert (glucose.value_as_entered, glucose.unit_as_entered) == ("126", "mg/dL")
    assert glucose.unit == "mmol/L" and glucose.value == pytest.approx(126 / 18.016, abs=1e-6)
    assert glucose.loinc == "1558-6" and glucose.label.startswith("Fasting plasma glucose")
    hba1c = _record(clinic, at_screening, "hba1c", 53, "mmol/mol")
    assert hba1c.unit == "%" and hba1c.value == pytest.approx(0.0915 * 53 + 2.15)
    assert hba1c.loinc == "4548-4" and hba1c.limit_flag is None


def test_a_value_beyond_a_hard_limit_is_refused_and_nothing_is_stored(  # type: ignore[no-untyped-def]
    clinic, at_screening, session: Session
) -> None:
    entries = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(sv.ValidationProblem) as caught:
        _record(clinic, at_screening, "fasting_glucose", 126, "mmol/L")  # mg/dL typed as mmol/L
    assert caught.value.rule == "hard_limit" and caught.value.field == "fasting_glucose"
    assert "physiologically possible range 0.5–60 mmol/L" in caught.value.message
    assert session.scalar(select(func.count()).select_from(Measurement)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries


def test_a_hard_limit_is_checked_in_canonical_units(clinic, at_screening) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sv.ValidationProblem, match=r"= 0.3\d* mmol/L"):
        _record(clinic, at_screening, "fasting_glucose", 6, "mg/dL")


def test_a_value_beyond_a_soft_limit_is_stored_with_a_query(  # type: ignore[no-untyped-def]
    clinic, at_screening, session: Session
) -> None:
    weight = _record(clinic, at_screening, "weight", 160, "kg")
    assert weight.limit_flag == "high" and weight.value == 160
    queries = sv.list_queries(
        session, clinic.coordinator, where=QueryFilter(participant_id=at_screening)
    ).items
    assert len(queries) == 1
    query = queries[0]
    assert (query.target_table, query.target_id, query.field) == (
        "measurements",
        weight.id,
        "value",
    )
    assert query.origin.value == "edit_check" and query.status.value == "open"
    assert "soft limit 150 kg" in query.text and "Body weight" in query.text


def test_a_correction_inside_the_limits_raises_no_new_query(clinic, at_screening, session) -> None:  # type: ignore[no-untyped-def]
    weight = _record(clinic, at_screening, "weight", 160, "kg")
    corrected = sv.update_measurement(
        session,
        clinic.coordinator,
        weight.id,
        sv.MeasurementChanges(
            expected_version=weight.version, reason="source document says 60 kg", value=60
        ),
    )
    assert corrected.value == 60 and corrected.limit_flag is None and corrected.version == 2
    assert (
        sv.list_queries(
            session, clinic.coordinator, where=QueryFilter(participant_id=at_screening)
        ).total
        == 1
    )


def test_a_correction_is_edit_checked_too(clinic, at_screening, session) -> None:  # type: ignore[no-untyped-def]
    weight = _record(clinic, at_screening, "weight", 70, "kg")
    with pytest.raises(sv.ValidationProblem, match="hard limit"):
        sv.update_measurement(
            session,
            clinic.coordinator,
            weight.id,
            sv.MeasurementChanges(expected_version=1, reason="typo", value=700),
        )


@pytest.mark.parametrize(
    ("element", "value", "unit", "field", "text"),
    [
        ("bmi", 25, "kg/m²", "element", "derived from weight, height"),
        ("kitt", 2.0, "%/min", "element", "derived from itt_glucose"),
        ("serum_sodium", 140, "mmol/L", "element", "not a data element"),
        ("fasting_glucose", 7.2, None, "fasting_glucose", "no unit"),
        ("fasting_glucose", 7.2, "mmHg", "fasting_glucose", "mmHg"),
        ("fasting_glucose", "seven", "mmol/L", "fasting_glucose", "not a number"),
        ("pregnancy_test", "maybe", None, "pregnancy_test", "not one of negative, positive"),
        ("itt_glucose", 5, "mmol/L", "element", "series"),
        ("t2dm_diagnosis", True, None, "element", "boolean"),
    ],
)
def test_bad_input_names_the_field_and_the_reason(  # type: ignore[no-untyped-def]
    clinic, at_screening, element, value, unit, *, field, text
) -> None:
    with pytest.raises(sv.ValidationProblem) as caught:
        _record(clinic, at_screening, element, value, unit)
    assert caught.value.field == field and caught.value.status == 422
    assert text in caught.value.message


def test_categorical_results_are_stored_as_text(clinic, at_screening) -> None:  # type: ignore[no-untyped-def]
    test = _record(clinic, at_screening, "pregnancy_test", "Negative")
    assert test.text_value == "negative" and test.value is None and test.loinc == "2106-3"


def test_data_need_the_visit_recorded_first(clinic, session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    clinic.consent(pid)
    with pytest.raises(sv.RuleViolation) as caught:
        _record(clinic, pid, "weight", 70, "kg")
    assert caught.value.rule == "visit_not_recorded"
    with pytest.raises(sv.ValidationProblem, match="not a visit of the schedule"):
        sv.record_measurement(
            session,
            clinic.coordinator,
            pid,
            sv.VisitMeasurement(visit_code="M2", element="weight", value=70, unit="kg"),
        )


def test_itt_samples_are_converted_and_kitt_computed(clinic, at_screening, session) -> None:  # type: ignore[no-untyped-def]
    test = sv.record_itt_test(
        session,
        clinic.coordinator,
        at_screening,
        sv.IttTestEntry(
            visit_code="SCR",
            samples=[(0, 180), (3, 176), (6, 165), (9, 153), (12, 144), (15, 134)],
            glucose_unit="mg/dL",
            insulin_dose_u_per_kg=0.1,
        ),
    )
    assert [s.minute for s in test.samples] == [0, 3, 6, 9, 12, 15]
    assert test.samples[0].glucose_mmol_l == pytest.approx(180 / 18.016)
    # Worked example B of [@KITT-examples] (docs/references.md): KITT 2.271 %/min over 3–15 min.
    assert test.kitt_percent_per_min == pytest.approx(2.271, abs=0.005)
    assert test.kitt_problem is None


def test_itt_hypoglycaemia_raises_a_query_and_impossible_values_are_refused(  # type: ignore[no-untyped-def]
    clinic, at_screening, session
) -> None:
    test = sv.record_itt_test(
        session,
        clinic.coordinator,
        at_screening,
        sv.IttTestEntry(
            visit_code="SCR",
            samples={0: 5.0, 3: 4.1, 6: 3.2, 9: 2.6, 12: 2.1, 15: 1.9},
            glucose_unit="mmol/L",
        ),
    )
    queries = sv.list_queries(
        session, clinic.coordinator, where=QueryFilter(participant_id=at_screening)
    ).items
    assert [q.target_id for q in queries] == [test.id, test.id]  # 2.1 and 1.9 mmol/L
    assert "at 12 min" in queries[0].text and "soft limit 2.2 mmol/L" in queries[0].text
    with pytest.raises(sv.ValidationProblem, match="hard limit"):
        sv.record_itt_test(
            session,
            clinic.coordinator,
            at_screening,
            sv.IttTestEntry(visit_code="SCR", samples={0: 5.0, 3: 0.2}, glucose_unit="mmol/L"),
        )
    with pytest.raises(sv.ValidationProblem, match="same minute"):
        sv.record_itt_test(
            session,
            clinic.coordinator,
            at_screening,
            sv.IttTestEntry(visit_code="SCR", samples=[(0, 5.0), (0, 4.0)], glucose_unit="mmol/L"),
        )


def test_replacing_itt_samples_voids_the_old_ones(clinic, at_screening, session) -> None:  # type: ignore[no-untyped-def]
    test = sv.record_itt_test(
        session,
        clinic.coordinator,
        at_screening,
        sv.IttTestEntry(
            visit_code="SCR",
            samples={0: 9.0, 3: 8.9, 6: 8.6, 9: 8.4, 12: 8.2, 15: 7.9},
            glucose_unit="mmol/L",
        ),
    )
    updated = sv.update_itt_test(
        session,
        clinic.coordinator,
        test.id,
        sv.IttTestChanges(
            expected_version=test.version,
            reason="sample at 15 min mis-transcribed",
            samples={0: 9.0, 3: 8.9, 6: 8.6, 9: 8.4, 12: 8.2, 15: 7.7},
            glucose_unit="mmol/L",
        ),
    )
    assert updated.version == test.version + 1
    assert [s.glucose_as_entered for s in updated.samples][-1] == 7.7
    history = sv.record_history(session, clinic.coordinator, "itt_tests", test.id)
    assert history[-1].changes["samples"][0][-1] == [15.0, 7.9]
    assert history[-1].reason == "sample at 15 min mis-transcribed"


def test_insulin_and_oral_drug_doses(clinic, session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    insulin = sv.record_insulin_dose(
        session,
        clinic.coordinator,
        pid,
        sv.InsulinDoseEntry(
            start_date=clinic.day(2),
            total_units_per_day=56,
            basal_units_per_day=24,
            bolus_units_per_day=32,
            regimen="glargine + aspart",
        ),
    )
    assert insulin.total_units_per_day == 56
    with pytest.raises(sv.ValidationProblem, match="does not add up"):
        sv.record_insulin_dose(
            session,
            clinic.coordinator,
            pid,
            sv.InsulinDoseEntry(
                start_date=clinic.day(2),
                total_units_per_day=56,
                basal_units_per_day=20,
                bolus_units_per_day=20,
            ),
        )
    metformin = sv.record_ogld_dose(
        session,
        clinic.coordinator,
        pid,
        sv.OgldDoseEntry(start_date=clinic.day(2), drug="Metformin", daily_dose_mg=1500),
    )
    assert (metformin.drug, metformin.ddd_mg, metformin.ddd) == ("metformin", 2000.0, 0.75)
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.record_ogld_dose(
            session,
            clinic.coordinator,
            pid,
            sv.OgldDoseEntry(start_date=clinic.day(2), drug="dapagliflozin", daily_dose_mg=10),
        )
    assert caught.value.field == "ddd_mg"
    high = sv.record_insulin_dose(
        session,
        clinic.coordinator,
        pid,
        sv.InsulinDoseEntry(start_date=clinic.day(3), total_units_per_day=320),
    )
    queries = sv.list_queries(
        session, clinic.coordinator, where=QueryFilter(participant_id=pid)
    ).items
    assert [(q.target_table, q.target_id) for q in queries] == [("insulin_doses", high.id)]


def test_an_ambiguous_comma_is_read_the_way_the_hard_limits_allow_in_the_unit_typed(  # type: ignore[no-untyped-def]
    clinic, at_screening
) -> None:
    glucose = _record(clinic, at_screening, "fasting_glucose", "5,500", "mmol/L")  # not 5500
    assert (glucose.value_as_entered, glucose.value) == ("5,500", pytest.approx(5.5))
    grams = _record(clinic, at_screening, "fasting_glucose", "99,000", "mg/dL")  # 99 000: no
    assert grams.value == pytest.approx(99 / 18.016, abs=1e-3)
    for element, typed, unit in (
        ("weight", "1,500", "lb"),  # 1.5 lb and 1500 lb (680 kg): neither possible
        ("fasting_insulin", "1,500", "µIU/mL"),  # 1.5 and 1500: both possible
    ):
        with pytest.raises(sv.ValidationProblem, match="can be read as 1500 or as 1.500") as no:
            _record(clinic, at_screening, element, typed, unit)
        assert no.value.field == element
