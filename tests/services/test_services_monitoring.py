"""Issue 14: record status grid, source-data verification and its risk-based selection."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from tests.services.conftest import Clinic

from trialdesk import services as sv
from trialdesk.catalogue import default_catalogue
from trialdesk.protocol import builtin_protocol
from trialdesk.services.cell_status import CellFacts, CellStatus, cell_status
from trialdesk.services.errors import Forbidden, ValidationProblem
from trialdesk.services.form_status import FormStatusChange
from trialdesk.services.sdv import SdvTarget
from trialdesk.services.sdv_plan import SdvReason, in_sample, sdv_plan, sdv_reason
from trialdesk.store.models import AuditEntry


def _cell(grid: sv.record_grid.RecordGrid, study_id: str, code: str, form: str) -> CellStatus:
    row = next(r for r in grid.rows if r.study_id == study_id)
    index = next(i for i, c in enumerate(grid.columns) if c.visit_code == code and c.form == form)
    return row.cells[index]


def _study_id(clinic: Clinic, pid: int) -> str:
    return sv.get_participant(clinic.session, clinic.coordinator, pid).study_id


def test_cell_status_ranks_lock_signature_action_verification_progress() -> None:
    assert cell_status(CellFacts()) is CellStatus.NOT_STARTED
    assert cell_status(CellFacts(has_data=True)) is CellStatus.INCOMPLETE
    assert cell_status(CellFacts(has_data=True, form_complete=True)) is CellStatus.COMPLETE
    assert cell_status(CellFacts(has_data=True, verified=True)) is CellStatus.VERIFIED
    assert cell_status(CellFacts(has_data=True, verified=True, deviation=True)) is (
        CellStatus.DEVIATION
    )
    assert cell_status(CellFacts(has_data=True, deviation=True, open_queries=1)) is (
        CellStatus.OPEN_QUERY
    )
    assert cell_status(CellFacts(has_data=True, open_queries=2, signed=True)) is CellStatus.SIGNED
    assert cell_status(CellFacts(signed=True)) is CellStatus.NOT_STARTED  # nothing to sign
    assert cell_status(CellFacts(has_data=True, signed=True, locked=True)) is CellStatus.LOCKED


def test_grid_shows_entered_complete_queried_and_verified_forms(
    clinic: Clinic, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    study_id = _study_id(clinic, pid)
    s, monitor = clinic.session, actors["monitor"]
    grid = sv.record_status_grid(s, monitor)
    assert _cell(grid, study_id, "SCR", "labs") is CellStatus.INCOMPLETE
    assert _cell(grid, study_id, "SCR", "consent") is CellStatus.INCOMPLETE
    assert _cell(grid, study_id, "M3", "labs") is CellStatus.NOT_STARTED
    sv.set_form_status(
        s,
        clinic.coordinator,
        pid,
        FormStatusChange(visit_code="SCR", form="labs", status="complete"),
    )
    assert _cell(sv.record_status_grid(s, monitor), study_id, "SCR", "labs") is (
        CellStatus.COMPLETE
    )
    hba1c = next(
        m
        for m in sv.list_measurements(s, monitor, sv.MeasurementFilter(participant_id=pid)).items
        if m.element == "hba1c"
    )
    sv.raise_query(
        s, monitor, target_table="measurements", target_id=hba1c.id, field="value", text="Source?"
    )
    assert _cell(sv.record_status_grid(s, monitor), study_id, "SCR", "labs") is (
        CellStatus.OPEN_QUERY
    )
    sv.mark_source_data(s, monitor, pid, SdvTarget(visit_code="SCR", form="vital_signs"))
    grid = sv.record_status_grid(s, monitor)
    assert _cell(grid, study_id, "SCR", "vital_signs") is CellStatus.VERIFIED
    assert grid.counts[CellStatus.VERIFIED] == 1
    assert grid.counts[CellStatus.OPEN_QUERY] == 1
    assert sum(grid.counts.values()) == len(grid.columns)
    only = sv.record_status_grid(s, monitor, status="verified")
    assert [r.study_id for r in only.rows] == [study_id]
    assert sv.record_status_grid(s, monitor, status="locked").rows == ()


def test_grid_filters_refuse_unknown_status_and_foreign_site(
    clinic: Clinic, actors: dict[str, sv.Actor]
) -> None:
    with pytest.raises(ValidationProblem, match="status"):
        sv.record_status_grid(clinic.session, actors["monitor"], status="green")
    with pytest.raises(ValidationProblem, match="PUMC"):
        sv.record_status_grid(clinic.session, actors["monitor"], site_code="PUMC")
    with pytest.raises(Forbidden):
        sv.record_status_grid(clinic.session, actors["admin"])


def test_grid_costs_the_same_queries_for_one_participant_as_for_four(
    clinic: Clinic, actors: dict[str, sv.Actor], session: Session
) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    clinic.enrolled()
    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        sv.record_status_grid(session, actors["monitor"])
        one = len(statements)
        for _ in range(3):
            clinic.enrolled()
        statements.clear()
        sv.record_status_grid(session, actors["monitor"])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == one
    assert one <= 20


def test_a_change_to_a_verified_value_clears_the_mark_and_says_why(
    clinic: Clinic, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    s, monitor = clinic.session, actors["monitor"]
    weight = next(
        m
        for m in sv.list_measurements(s, monitor, sv.MeasurementFilter(participant_id=pid)).items
        if m.element == "weight"
    )
    field_mark = sv.mark_source_data(
        s,
        monitor,
        pid,
        SdvTarget(
            visit_code="SCR",
            form="vital_signs",
            target_table="measurements",
            target_id=weight.id,
            field="value_as_entered",
        ),
    )
    form_mark = sv.mark_source_data(
        s, monitor, pid, SdvTarget(visit_code="SCR", form="vital_signs")
    )
    labs_mark = sv.mark_source_data(
        s, monitor, pid, SdvTarget(visit_code="SCR", form="labs"), kind="reviewed"
    )
    assert field_mark.marked_by_name == "Monitor" and field_mark.active
    sv.update_measurement(
        s,
        clinic.coordinator,
        weight.id,
        sv.MeasurementChanges(
            value=79, unit="kg", reason="transcription error", expected_version=weight.version
        ),
    )
    marks = {m.id: m for m in sv.list_sdv_marks(s, monitor, pid)}
    for mark_id in (field_mark.id, form_mark.id):
        cleared = marks[mark_id]
        assert cleared.cleared_at is not None and not cleared.active
        assert cleared.cleared_by_name == "Coordinator"
        assert "transcription error" in (cleared.clear_reason or "")
        assert "78" in (cleared.clear_reason or "") and "79" in (cleared.clear_reason or "")
    assert marks[labs_mark.id].active  # another form: untouched
    audited = s.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == "sdv_marks", AuditEntry.record_id == str(form_mark.id))
        .order_by(AuditEntry.sequence)
    ).all()
    assert [a.action for a in audited] == ["create", "update"]
    assert "transcription error" in (audited[-1].reason or "")


def test_a_new_record_on_a_verified_form_clears_its_form_mark(
    clinic: Clinic, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    s, monitor = clinic.session, actors["monitor"]
    mark = sv.mark_source_data(s, monitor, pid, SdvTarget(visit_code="SCR", form="labs"))
    sv.record_measurement(
        s,
        clinic.coordinator,
        pid,
        sv.VisitMeasurement(visit_code="SCR", element="c_peptide", value=1.1, unit="ng/mL"),
    )
    (after,) = [m for m in sv.list_sdv_marks(s, monitor, pid) if m.id == mark.id]
    assert after.clear_reason == "a new measurement was entered on the verified form"


def test_only_a_monitor_marks_and_a_mark_names_a_real_target(
    clinic: Clinic, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    s = clinic.session
    for role in ("coordinator", "investigator", "statistician"):
        with pytest.raises(Forbidden, match="verified against source"):
            sv.mark_source_data(s, actors[role], pid, SdvTarget(visit_code="SCR", form="labs"))
    monitor = actors["monitor"]
    with pytest.raises(ValidationProblem, match="form"):
        sv.mark_source_data(s, monitor, pid, SdvTarget(visit_code="SCR", form="transplantation"))
    with pytest.raises(ValidationProblem, match="field"):
        sv.mark_source_data(
            s,
            monitor,
            pid,
            SdvTarget(
                visit_code="SCR",
                form="labs",
                target_table="measurements",
                target_id=1,
                field="no_such_field",
            ),
        )
    with pytest.raises(ValidationProblem, match="kind"):
        sv.mark_source_data(
            s, monitor, pid, SdvTarget(visit_code="SCR", form="labs"), kind="approved"
        )
    again = sv.mark_source_data(s, monitor, pid, SdvTarget(visit_code="SCR", form="labs"))
    assert (
        sv.mark_source_data(s, monitor, pid, SdvTarget(visit_code="SCR", form="labs")).id
        == again.id
    )


def test_risk_based_selection_takes_critical_forms_and_a_seeded_sample() -> None:
    plan = sdv_plan(builtin_protocol(), default_catalogue())
    assert plan.sample_percent == 20 and plan.seed == 1142050
    assert sdv_reason(plan, "APGH-001", "SCR", "medical_history", serious=False) is (
        SdvReason.ELIGIBILITY
    )
    for form in ("labs", "itt", "dosing"):
        assert sdv_reason(plan, "APGH-001", "M3", form, serious=False) is (
            SdvReason.PRIMARY_OUTCOME
        )
    assert sdv_reason(plan, "APGH-001", "M3", "adverse_events", serious=True) is (
        SdvReason.SERIOUS_ADVERSE_EVENT
    )
    drawn = [in_sample(plan, f"APGH-{n:03d}", "M3", "adverse_events") for n in range(2000)]
    assert 0.17 < sum(drawn) / len(drawn) < 0.23
    assert drawn == [in_sample(plan, f"APGH-{n:03d}", "M3", "adverse_events") for n in range(2000)]


def test_sdv_progress_counts_selected_and_verified_forms(
    clinic: Clinic, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    study_id = _study_id(clinic, pid)
    s, monitor = clinic.session, actors["monitor"]
    before = sv.sdv_progress(s, monitor)
    selected = before.by_participant[study_id].selected
    assert selected >= 4 and before.by_participant[study_id].verified == 0
    sv.mark_source_data(s, monitor, pid, SdvTarget(visit_code="SCR", form="labs"))
    after = sv.sdv_progress(s, monitor)
    assert after.by_participant[study_id].verified == 1
    assert after.by_site["APGH"].verified == 1 and after.by_visit["SCR"].verified == 1
    plans = {(p.visit_code, p.form): p for p in sv.participant_sdv_plan(s, monitor, pid)}
    assert plans[("SCR", "labs")].verified and plans[("SCR", "labs")].reason is (
        SdvReason.ELIGIBILITY
    )
    assert not plans[("M3", "labs")].has_data


def test_enrolment_changes_no_verified_source_data(
    clinic: Clinic, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.eligible()
    s, monitor = clinic.session, actors["monitor"]
    mark = sv.mark_source_data(s, monitor, pid, SdvTarget(visit_code="SCR", form="demographics"))
    sv.enroll_participant(s, clinic.coordinator, pid, enrolled_on=clinic.day(1))
    (after,) = [m for m in sv.list_sdv_marks(s, monitor, pid) if m.id == mark.id]
    assert after.cleared_at is None
    sv.update_participant(s, clinic.coordinator, pid, sex="F", reason="sex entered wrongly",
                          expected_version=sv.get_participant(s, monitor, pid).version)  # fmt: skip
    (after,) = [m for m in sv.list_sdv_marks(s, monitor, pid) if m.id == mark.id]
    assert after.cleared_at is not None and "sex entered wrongly" in (after.clear_reason or "")
