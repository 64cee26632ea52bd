"""Missing-data codes on measurements and unscheduled visits (issue #13, part 2)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from tests.services.conftest import ITT_MG_DL

from trialdesk import services as sv
from trialdesk.services.queries import QueryFilter


def _baseline_done(clinic) -> int:  # type: ignore[no-untyped-def]
    pid = clinic.enrolled()
    clinic.baseline(pid, day=28)
    return pid


def test_a_field_recorded_as_not_done_keeps_its_code_and_reason(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)
    m = sv.record_measurement(
        session,
        clinic.coordinator,
        pid,
        sv.VisitMeasurement(
            visit_code="BL",
            element="fasting_insulin",
            value=None,
            missing_code="nd",
            missing_reason="sample haemolysed",
        ),
    )
    assert (m.missing_code, m.missing_label, m.missing_reason) == (
        "ND",
        "Not done",
        "sample haemolysed",
    )
    assert m.value is None and m.value_as_entered == "" and m.limit_flag is None
    history = sv.record_history(session, clinic.actors["investigator"], "measurements", m.id)
    assert history[0].changes["missing_code"] in ("ND", [None, "ND"])


def test_a_missing_code_needs_a_known_code_a_reason_and_no_value(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)

    def record(**kw):  # type: ignore[no-untyped-def]
        return sv.record_measurement(
            session,
            clinic.coordinator,
            pid,
            sv.VisitMeasurement(visit_code="BL", element="hba1c", **kw),
        )

    with pytest.raises(sv.ValidationProblem) as caught:
        record(value=None, missing_code="XX", missing_reason="why")
    assert caught.value.field == "missing_code" and "ASKU" in caught.value.reason
    with pytest.raises(sv.ValidationProblem) as caught:
        record(value=None, missing_code="UNK", missing_reason="  ")
    assert caught.value.field == "missing_reason"
    with pytest.raises(sv.ValidationProblem) as caught:
        record(value="8.1", unit="%", missing_code="UNK", missing_reason="lab")
    assert caught.value.field == "missing_code" and "not both" in caught.value.reason


def test_edit_checks_do_not_fire_on_a_coded_missing_field(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)
    m = sv.record_measurement(
        session,
        clinic.coordinator,
        pid,
        sv.VisitMeasurement(
            visit_code="BL",
            element="weight",
            value=None,
            missing_code="NAV",
            missing_reason="scale broken",
        ),
    )
    queries = sv.list_queries(
        session, clinic.coordinator, where=QueryFilter(target_table="measurements", target_id=m.id)
    )
    assert queries.total == 0


def test_a_missing_code_is_corrected_to_a_value_and_back(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)
    m = sv.record_measurement(
        session,
        clinic.coordinator,
        pid,
        sv.VisitMeasurement(
            visit_code="BL",
            element="hba1c",
            value=None,
            missing_code="NAV",
            missing_reason="result pending from the central lab",
        ),
    )
    fixed = sv.update_measurement(
        session,
        clinic.coordinator,
        m.id,
        sv.MeasurementChanges(
            expected_version=m.version, reason="central lab result received", value="8.2", unit="%"
        ),
    )
    assert fixed.missing_code is None and fixed.missing_reason is None and fixed.value == 8.2
    back = sv.update_measurement(
        session,
        clinic.coordinator,
        m.id,
        sv.MeasurementChanges(
            expected_version=fixed.version,
            reason="result belonged to another patient",
            missing_code="UNK",
            missing_reason="lab cannot trace the sample",
        ),
    )
    assert back.missing_code == "UNK" and back.value is None and back.value_as_entered == ""
    history = sv.record_history(session, clinic.actors["investigator"], "measurements", m.id)
    assert [h.reason for h in history[1:]] == [
        "central lab result received",
        "result belonged to another patient",
    ]


def test_a_coded_missing_screening_value_is_not_assessable(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = clinic.register()
    clinic.consent(pid)
    clinic.screening_data(pid)
    (hba1c,) = sv.list_measurements(
        session, clinic.coordinator, sv.MeasurementFilter(participant_id=pid, element="hba1c")
    ).items
    sv.update_measurement(
        session,
        clinic.coordinator,
        hba1c.id,
        sv.MeasurementChanges(
            expected_version=hba1c.version,
            reason="analyser result withdrawn",
            missing_code="ND",
            missing_reason="analyser fault",
        ),
    )
    result = clinic.screen(pid)
    assert result.status.value == "incomplete"


def test_an_unscheduled_visit_is_numbered_after_the_preceding_visit(
    clinic, session: Session
) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)
    who = clinic.coordinator
    sv.record_visit(session, who, pid, code="M1", visit_date=clinic.day(28 + 30))
    first = sv.add_unscheduled_visit(
        session, who, pid, visit_date=clinic.day(28 + 45), reason="repeat ITT: haemolysed samples"
    )
    second = sv.add_unscheduled_visit(
        session, who, pid, visit_date=clinic.day(28 + 50), reason="safety lab after rash"
    )
    assert (first.code, second.code) == ("M1.U01", "M1.U02")
    assert first.unscheduled and first.unscheduled_reason == "repeat ITT: haemolysed samples"
    assert first.study_day == 45 and first.name.startswith("Unscheduled visit")
    calendar = sv.visit_calendar(session, who, pid)
    codes = [e.code for e in calendar.visits]
    assert codes.index("M1") < codes.index("M1.U01") < codes.index("M1.U02") < codes.index("M3")
    entry = next(e for e in calendar.visits if e.code == "M1.U01")
    assert entry.unscheduled and entry.status == "done" and entry.in_window is None


def test_an_unscheduled_visit_never_raises_a_window_deviation(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)
    sv.add_unscheduled_visit(
        session, clinic.coordinator, pid, visit_date=clinic.day(28 + 200), reason="safety lab"
    )
    assert (
        sv.list_deviations(
            session, clinic.coordinator, sv.DeviationFilter(participant_id=pid)
        ).items
        == []
    )


def test_an_unscheduled_visit_takes_measurements_and_an_itt(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)
    who = clinic.coordinator
    visit = sv.add_unscheduled_visit(
        session, who, pid, visit_date=clinic.day(28 + 10), reason="extra ITT"
    )
    test = sv.record_itt_test(
        session,
        who,
        pid,
        sv.IttTestEntry(visit_code=visit.code, samples=ITT_MG_DL, glucose_unit="mg/dL"),
    )
    assert test.visit_code == "BL.U01" and test.kitt_percent_per_min is not None
    m = sv.record_measurement(
        session,
        who,
        pid,
        sv.VisitMeasurement(
            visit_code=visit.code, element="fasting_glucose", value="7.9", unit="mmol/L"
        ),
    )
    assert m.visit_code == "BL.U01"


def test_an_unscheduled_visit_needs_a_reason_and_enrolment(clinic, session: Session) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.add_unscheduled_visit(
            session, clinic.coordinator, pid, visit_date=clinic.day(40), reason=" "
        )
    assert caught.value.field == "reason"
    other = clinic.eligible()
    with pytest.raises(sv.RuleViolation) as refused:
        sv.add_unscheduled_visit(
            session, clinic.coordinator, other, visit_date=clinic.day(2), reason="safety lab"
        )
    assert refused.value.rule == "not_enrolled"


def test_an_itt_or_a_dose_can_be_recorded_as_not_done_but_not_given_a_value(
    clinic, session: Session
) -> None:  # type: ignore[no-untyped-def]
    pid = _baseline_done(clinic)
    itt = sv.record_measurement(
        session,
        clinic.coordinator,
        pid,
        sv.VisitMeasurement(
            visit_code="BL",
            element="itt_glucose",
            value=None,
            missing_code="ND",
            missing_reason="no venous access",
        ),
    )
    assert itt.missing_code == "ND" and itt.label.startswith("Intravenous insulin tolerance")
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.update_measurement(
            session,
            clinic.coordinator,
            itt.id,
            sv.MeasurementChanges(
                expected_version=itt.version, reason="typed by mistake", value="9.1", unit="mmol/L"
            ),
        )
    assert caught.value.field == "element" and "series" in caught.value.reason
    with pytest.raises(sv.ValidationProblem):
        sv.record_measurement(
            session,
            clinic.coordinator,
            pid,
            sv.VisitMeasurement(visit_code="BL", element="itt_glucose", value="9.1"),
        )
