"""Data locks (form, participant, study) and the bound casebook signature (issue 14), on SQLite
and PostgreSQL: every write service refuses locked data with a reason naming the lock; only an
administrator unlocks, with a reason; a change after signing breaks the signature visibly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from tools.harness.database import DEMO_PASSWORD

from trialdesk import services as sv
from trialdesk.services.cell_status import CellStatus
from trialdesk.services.form_status import FormStatusChange
from trialdesk.services.locks import LOCKED_TABLES, NOT_LOCKED_TABLES
from trialdesk.store import Base
from trialdesk.store.base import ClinicalRecord
from trialdesk.store.models import AuditEntry, Signature
from trialdesk.store.types import utcnow

Write = Callable[[Session, sv.Actor, dict[str, Any]], Any]


def _version(session: Session, model: str, rid: int) -> int:
    from trialdesk.services.records import get_clinical_record

    if model == "participants":
        return sv.get_participant(session, sv.SYSTEM_READER, rid).version  # type: ignore[attr-defined]
    return int(get_clinical_record(session, sv.SYSTEM_READER, model, rid).version)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _system_reader(monkeypatch: pytest.MonkeyPatch, actors: dict[str, sv.Actor]) -> None:
    monkeypatch.setattr(sv, "SYSTEM_READER", actors["investigator"], raising=False)


def _full_casebook(clinic: Any, session: Session, actors: dict[str, sv.Actor]) -> dict[str, Any]:
    """A participant with a record of every kind the write services touch."""
    who = actors["coordinator"]
    pid = clinic.enrolled()
    bl = clinic.baseline(pid)
    ids: dict[str, Any] = {"pid": pid, "visit": bl}
    ids["measurement"] = sv.record_measurement(
        session,
        who,
        pid,
        sv.VisitMeasurement(visit_code="BL", element="weight", value=80, unit="kg"),
    ).id
    ids["insulin"] = sv.record_insulin_dose(
        session,
        who,
        pid,
        sv.InsulinDoseEntry(start_date=clinic.day(28), total_units_per_day=40, visit_code="BL"),
    ).id
    ids["ogld"] = sv.record_ogld_dose(
        session,
        who,
        pid,
        sv.OgldDoseEntry(
            start_date=clinic.day(28), drug="metformin", daily_dose_mg=1000, visit_code="BL"
        ),
    ).id
    ids["itt"] = sv.list_itt_tests(session, who, pid)[0].id
    ids["ae"] = sv.report_adverse_event(
        session,
        who,
        pid,
        sv.AdverseEventReport(
            term="Headache",
            onset_date=clinic.day(30),
            grade=1,
            relatedness="unlikely",
            action_taken="dose not changed",
            outcome="recovering/resolving",
        ),
    ).id
    ids["deviation"] = sv.record_deviation(
        session,
        who,
        pid,
        sv.DeviationEntry(
            category="other",
            severity="minor",
            description="late sample",
            detected_on=clinic.day(30),
        ),
    ).id
    ids["consent"] = sv.list_consents(session, who, pid)[0].id
    ids["screening"] = sv.list_screenings(session, who, pid)[0].id
    return ids


def _writes(clinic: Any) -> dict[str, Write]:
    """Every write service, tried once against a locked participant."""
    day = clinic.day
    return {
        "record_measurement": lambda s, a, i: sv.record_measurement(
            s,
            a,
            i["pid"],
            sv.VisitMeasurement(visit_code="BL", element="height", value=172, unit="cm"),
        ),
        "update_measurement": lambda s, a, i: sv.update_measurement(
            s,
            a,
            i["measurement"],
            sv.MeasurementChanges(
                expected_version=_version(s, "measurements", i["measurement"]),
                reason="typo",
                value=81,
                unit="kg",
            ),
        ),  # fmt: skip
        "record_visit": lambda s, a, i: sv.record_visit(
            s, a, i["pid"], code="M1", visit_date=day(58)
        ),
        "update_visit": lambda s, a, i: sv.update_visit(
            s,
            a,
            i["visit"],
            sv.VisitChanges(
                expected_version=_version(s, "visits", i["visit"]), reason="typo", notes="late"
            ),
        ),  # fmt: skip
        "add_unscheduled_visit": lambda s, a, i: sv.add_unscheduled_visit(
            s, a, i["pid"], visit_date=day(40), reason="dizziness"
        ),
        "record_missed_visit": lambda s, a, i: sv.record_missed_visit(
            s, a, i["pid"], code="M3", reason="travelling"
        ),
        "record_itt_test": lambda s, a, i: sv.record_itt_test(
            s,
            a,
            i["pid"],
            sv.IttTestEntry(
                visit_code="BL",
                samples={0: 180, 3: 170, 6: 160, 9: 150, 12: 140, 15: 130},
                glucose_unit="mg/dL",
            ),
        ),  # fmt: skip
        "update_itt_test": lambda s, a, i: sv.update_itt_test(
            s,
            a,
            i["itt"],
            sv.IttTestChanges(
                expected_version=_version(s, "itt_tests", i["itt"]),
                reason="typo",
                insulin_dose_u_per_kg=0.1,
            ),
        ),  # fmt: skip
        "record_insulin_dose": lambda s, a, i: sv.record_insulin_dose(
            s, a, i["pid"], sv.InsulinDoseEntry(start_date=day(35), total_units_per_day=30)
        ),
        "update_insulin_dose": lambda s, a, i: sv.update_insulin_dose(
            s,
            a,
            i["insulin"],
            sv.InsulinDoseChanges(
                expected_version=_version(s, "insulin_doses", i["insulin"]),
                reason="typo",
                total_units_per_day=42,
            ),
        ),  # fmt: skip
        "record_ogld_dose": lambda s, a, i: sv.record_ogld_dose(
            s,
            a,
            i["pid"],
            sv.OgldDoseEntry(start_date=day(35), drug="gliclazide", daily_dose_mg=80),
        ),
        "update_ogld_dose": lambda s, a, i: sv.update_ogld_dose(
            s,
            a,
            i["ogld"],
            sv.OgldDoseChanges(
                expected_version=_version(s, "ogld_doses", i["ogld"]),
                reason="typo",
                daily_dose_mg=1500,
            ),
        ),  # fmt: skip
        "record_transplantation": lambda s, a, i: sv.record_transplantation(
            s,
            a,
            i["pid"],
            sv.TransplantationEntry(
                performed_on=day(29),
                product="MSC",
                lot_number="L1",
                cell_source="bone_marrow",
                dose_cells_per_kg=1e6,
                route="intravenous",
                operator="Dr Li",
            ),
        ),  # fmt: skip
        "report_adverse_event": lambda s, a, i: sv.report_adverse_event(
            s,
            a,
            i["pid"],
            sv.AdverseEventReport(
                term="Nausea",
                onset_date=day(31),
                grade=1,
                relatedness="unlikely",
                action_taken="dose not changed",
                outcome="recovering/resolving",
            ),
        ),  # fmt: skip
        "update_adverse_event": lambda s, a, i: sv.update_adverse_event(
            s,
            a,
            i["ae"],
            expected_version=_version(s, "adverse_events", i["ae"]),
            reason="typo",
            changes=sv.AdverseEventChanges(grade=2),
        ),  # fmt: skip
        "record_deviation": lambda s, a, i: sv.record_deviation(
            s,
            a,
            i["pid"],
            sv.DeviationEntry(
                category="other", severity="minor", description="x", detected_on=day(31)
            ),
        ),  # fmt: skip
        "update_deviation": lambda s, a, i: sv.update_deviation(
            s,
            a,
            i["deviation"],
            sv.DeviationChanges(
                expected_version=_version(s, "protocol_deviations", i["deviation"]),
                reason="typo",
                description="late blood sample",
            ),
        ),  # fmt: skip
        "record_consent": lambda s, a, i: sv.record_consent(
            s, a, i["pid"], form_version="ICF v3.0", consented_on=day(40)
        ),
        "update_consent": lambda s, a, i: sv.update_consent(
            s,
            a,
            i["consent"],
            expected_version=_version(s, "consents", i["consent"]),
            reason="typo",
            form_version="ICF v2.1",
        ),  # fmt: skip
        "withdraw_consent": lambda s, a, i: sv.withdraw_consent(
            s,
            a,
            i["consent"],
            withdrawn_on=day(60),
            expected_version=_version(s, "consents", i["consent"]),
        ),  # fmt: skip
        "update_screening": lambda s, a, i: sv.update_screening(
            s,
            a,
            i["screening"],
            expected_version=_version(s, "screenings", i["screening"]),
            reason="typo",
            findings={"hiv_infection": False},
        ),  # fmt: skip
        "update_participant": lambda s, a, i: sv.update_participant(
            s,
            a,
            i["pid"],
            expected_version=_version(s, "participants", i["pid"]),
            reason="typo",
            sex="F",
        ),  # fmt: skip
        "update_identity": lambda s, a, i: sv.update_identity(
            s,
            a,
            i["pid"],
            sv.IdentityCorrection(phone="+86 10 5555 0199"),
            expected_version=sv.get_identity(s, a, i["pid"]).version,
            reason="typo",
        ),  # fmt: skip
        "end_participation": lambda s, a, i: sv.end_participation(
            s,
            a,
            i["pid"],
            ended_on=day(60),
            end_reason="withdrawal_by_subject",
            expected_version=_version(s, "participants", i["pid"]),
            reason="moved away",
        ),  # fmt: skip
        "set_form_status": lambda s, a, i: sv.set_form_status(
            s, a, i["pid"], FormStatusChange(visit_code="BL", form="labs", status="complete")
        ),
        "void_clinical_record": lambda s, a, i: sv.void_clinical_record(
            s,
            a,
            "measurements",
            i["measurement"],
            expected_version=_version(s, "measurements", i["measurement"]),
            reason="wrong patient",
        ),  # fmt: skip
        "void_participant": lambda s, a, i: sv.void_participant(
            s,
            a,
            i["pid"],
            expected_version=_version(s, "participants", i["pid"]),
            reason="duplicate",
        ),  # fmt: skip
    }


def test_every_write_service_refuses_a_locked_participant(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    ids = _full_casebook(clinic, session, actors)
    lock = sv.lock_participant(session, actors["investigator"], ids["pid"], reason="data clean")
    assert lock.what == "the casebook of APGH-001" and lock.locked_by_name == "Investigator"
    before = session.scalar(select(AuditEntry.sequence).order_by(AuditEntry.sequence.desc()))
    refused: dict[str, str] = {}
    for name, write in _writes(clinic).items():
        with pytest.raises(sv.DataLocked) as caught:
            write(session, actors["coordinator"], ids)
        refused[name] = caught.value.message
        assert caught.value.status == 423 and caught.value.field == "participant"
    assert set(refused) == set(_writes(clinic))
    message = refused["record_measurement"]
    assert message.startswith("The casebook of APGH-001 is locked by Investigator on ")
    assert message.endswith("(data clean): ask an administrator to unlock")
    # Nothing was written; each refusal is in the audit trail.
    session.expire_all()
    later = list(session.scalars(select(AuditEntry).where(AuditEntry.sequence > before)))
    assert later and {e.action for e in later} == {"refuse"}
    assert sv.verify_audit_trail(session, sv.SYSTEM).ok


def test_every_clinical_table_is_either_locked_or_deliberately_not() -> None:
    clinical = {
        mapper.class_.__tablename__
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, ClinicalRecord)
    }
    assert clinical - LOCKED_TABLES - NOT_LOCKED_TABLES == set()


def test_form_lock_freezes_only_that_form_and_admin_unlocks_with_a_reason(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    clinic.baseline(pid)
    who = actors["coordinator"]
    lock = sv.lock_form(
        session, actors["admin"], pid, visit_code="BL", form="labs", reason="labs reviewed"
    )
    with pytest.raises(sv.DataLocked, match=r"^Baseline labs for APGH-001 are locked by Admin"):
        sv.record_measurement(
            session,
            who,
            pid,
            sv.VisitMeasurement(visit_code="BL", element="fasting_glucose", value=8, unit="mmol/L"),
        )
    # Vital signs of the same visit and labs of another visit are still open.
    sv.record_measurement(
        session,
        who,
        pid,
        sv.VisitMeasurement(visit_code="BL", element="weight", value=80, unit="kg"),
    )
    with pytest.raises(sv.RuleViolation, match="already locked"):
        sv.lock_form(session, actors["investigator"], pid, visit_code="BL", form="labs", reason="x")
    with pytest.raises(sv.Forbidden, match="may not unlock data: that needs the role admin"):
        sv.unlock(session, actors["investigator"], lock.id, reason="correction needed")
    with pytest.raises(sv.ValidationProblem, match="reason"):
        sv.unlock(session, actors["admin"], lock.id, reason="  ")
    with pytest.raises(sv.Forbidden):
        sv.lock_participant(session, who, pid, reason="coordinators do not lock")
    done = sv.unlock(session, actors["admin"], lock.id, reason="query 12 needs a correction")
    assert done.unlocked_by_name == "Admin" and done.unlock_reason == "query 12 needs a correction"
    sv.record_measurement(
        session,
        who,
        pid,
        sv.VisitMeasurement(visit_code="BL", element="fasting_glucose", value=8, unit="mmol/L"),
    )
    history = sv.record_history(session, actors["investigator"], "data_locks", lock.id)
    assert [e.action for e in history] == ["create", "refuse", "update"]  # refusal audited
    assert history[-1].reason == "query 12 needs a correction"
    locks = sv.list_locks(session, actors["investigator"], pid)
    assert [x.active for x in locks] == [False]


def test_study_lock_blocks_every_clinical_write_and_shows_in_the_grid(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    sv.lock_study(session, actors["admin"], reason="database lock for the final analysis")
    with pytest.raises(sv.DataLocked, match="^The study database is locked for analysis by Admin"):
        clinic.register()
    with pytest.raises(sv.DataLocked):
        clinic.baseline(pid)
    grid = sv.record_status_grid(session, actors["monitor"])
    assert grid.counts[CellStatus.LOCKED] > 0
    assert set(grid.rows[0].cells) == {CellStatus.LOCKED}
    # Queries and the monitor's marks stay possible on locked data.
    sv.raise_query(
        session, actors["monitor"], target_table="participants", target_id=pid, field="sex",
        text="please verify",
    )  # fmt: skip


def test_form_lock_shows_in_its_grid_cell_only(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    sv.lock_form(
        session, actors["investigator"], pid, visit_code="SCR", form="consent", reason="ok"
    )
    grid = sv.record_status_grid(session, actors["monitor"])
    cells = dict(
        zip([(c.visit_code, c.form) for c in grid.columns], grid.rows[0].cells, strict=True)
    )
    locked = [k for k, v in cells.items() if v == CellStatus.LOCKED]
    assert locked == [("SCR", "consent")]


def test_signature_is_bound_breaks_on_change_and_resigning_keeps_the_old_one(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    pid = clinic.enrolled()
    investigator = actors["investigator"]
    with pytest.raises(sv.Unauthenticated, match="password is wrong: not signed"):
        sv.sign_casebook(session, investigator, pid, password="wrong")
    first = sv.sign_casebook(session, investigator, pid, password=DEMO_PASSWORD)
    assert first.meaning.startswith("I have reviewed the data in this casebook and attest")
    assert first.content_hash and first.signature_hash
    state = sv.signature_state(session, investigator, pid)
    assert state.state == "valid" and state.summary.startswith("Signed by Investigator, ")
    # A lock does not break it; a change by the coordinator does, naming what, who, when.
    sv.lock_form(session, investigator, pid, visit_code="SCR", form="consent", reason="ok")
    assert sv.signature_state(session, investigator, pid).state == "valid"
    sv.record_measurement(
        session,
        actors["coordinator"],
        pid,
        sv.VisitMeasurement(visit_code="SCR", element="weight", value=79, unit="kg"),
    )
    broken = sv.signature_state(session, investigator, pid)
    assert broken.state == "broken" and "data changed after signing" in broken.summary
    assert [(c.what, c.who) for c in broken.changes] == [("measurement entered", "Coordinator")]
    second = sv.sign_casebook(session, investigator, pid, password=DEMO_PASSWORD)
    again = sv.signature_state(session, investigator, pid)
    assert again.state == "valid" and again.signature == second
    assert [s.id for s in again.earlier] == [first.id]


def test_a_signature_copied_to_another_casebook_is_invalid(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor], db: Any
) -> None:
    signed, other = clinic.enrolled(), clinic.enrolled()
    sig = sv.sign_casebook(session, actors["investigator"], signed, password=DEMO_PASSWORD)
    session.execute(update(Signature).where(Signature.id == sig.id).values(participant_id=other))
    session.commit()
    state = sv.signature_state(session, actors["investigator"], other)
    assert state.state == "invalid" and "does not match" in state.summary


def test_signing_with_an_authenticator_needs_its_code(  # type: ignore[no-untyped-def]
    clinic, session: Session, actors: dict[str, sv.Actor]
) -> None:
    import pyotp

    from trialdesk.services.totp import new_secret, sealed
    from trialdesk.store.models import User

    pid = clinic.enrolled()
    secret = new_secret()
    user = session.get(User, actors["investigator"].user_id)
    assert user is not None
    user.totp_secret = sealed(secret)
    session.commit()
    with pytest.raises(sv.Unauthenticated, match="authenticator code is wrong"):
        sv.sign_casebook(
            session, actors["investigator"], pid, password=DEMO_PASSWORD, code="000000"
        )
    code = pyotp.TOTP(secret).now()
    sig = sv.sign_casebook(session, actors["investigator"], pid, password=DEMO_PASSWORD, code=code)
    assert sig.signer_name == "Investigator"
    assert timedelta(0) <= utcnow() - sig.signed_at < timedelta(minutes=1)
