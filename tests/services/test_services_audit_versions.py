"""Every change is audited (who, when, old → new, why); stale writes change nothing; tampering
with the trail is detected through the service."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tools.harness.database import TestDatabase, execute_as_dba

from trialdesk import services as sv
from trialdesk.services.paging import Page as Paging
from trialdesk.services.uow import change_record, service
from trialdesk.store.models import AuditEntry, Measurement


@pytest.fixture
def weight(clinic) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    pid = clinic.eligible()
    item = sv.list_measurements(
        clinic.session,
        clinic.coordinator,
        sv.MeasurementFilter(participant_id=pid, element="weight"),
    ).items[0]
    return pid, item.id


def test_the_first_entry_is_audited_field_by_field(weight, session: Session, actors) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = weight
    (entry,) = sv.record_history(session, actors["coordinator"], "measurements", mid)
    assert entry.action == "create" and entry.username == "coordinator"
    assert entry.changes["value"] == [None, 78.0]
    assert entry.changes["unit_as_entered"] == [None, "kg"]
    assert entry.reason is None and entry.occurred_at.tzinfo is not None


def test_a_change_needs_a_reason_and_is_audited_old_to_new(weight, session, actors) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = weight
    with pytest.raises(sv.ValidationProblem) as caught:
        sv.update_measurement(
            session,
            actors["coordinator"],
            mid,
            sv.MeasurementChanges(expected_version=1, reason=" ", value=77),
        )
    assert caught.value.rule == "reason_required" and caught.value.field == "reason"
    updated = sv.update_measurement(
        session,
        actors["investigator"],
        mid,
        sv.MeasurementChanges(expected_version=1, reason="scale recalibrated", value=77.5),
    )
    assert updated.version == 2
    last = sv.record_history(session, actors["monitor"], "measurements", mid)[-1]
    assert last.action == "update" and last.username == "investigator"
    assert last.changes["value"] == [78.0, 77.5]
    assert last.changes["value_as_entered"] == ["78", "77.5"]
    assert last.changes["version"] == [1, 2]
    assert last.reason == "scale recalibrated"


def test_a_stale_version_changes_nothing(weight, session, actors) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = weight
    sv.update_measurement(
        session,
        actors["coordinator"],
        mid,
        sv.MeasurementChanges(expected_version=1, reason="first fix", value=77),
    )
    entries = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(sv.StaleVersion) as caught:
        sv.update_measurement(
            session,
            actors["investigator"],
            mid,
            sv.MeasurementChanges(expected_version=1, reason="second", value=76),
        )
    assert caught.value.status == 409 and "version 2, not 1" in caught.value.message
    assert sv.get_measurement(session, actors["coordinator"], mid).value == 77
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries


@service
def _set_value(session: Session, actor: sv.Actor, row: Measurement, value: float) -> None:
    change_record(
        session, actor, row, {"value": value}, reason="concurrent edit", expected_version=None
    )


def test_two_writers_with_the_same_version_one_wins(weight, db: TestDatabase, actors) -> None:  # type: ignore[no-untyped-def]
    """Both sessions read version 1; the second write hits the database-side version check."""
    _pid, mid = weight
    first, second = db.session(), db.session()
    try:
        row_a = first.get(Measurement, mid)
        row_b = second.get(Measurement, mid)
        assert row_a is not None and row_b is not None and row_a.version == row_b.version == 1
        _set_value(first, actors["coordinator"], row_a, 80.0)
        with pytest.raises(sv.StaleVersion):
            _set_value(second, actors["investigator"], row_b, 81.0)
    finally:
        first.close()
        second.close()
    with db.session() as check:
        row = check.get(Measurement, mid)
        assert row is not None and (row.value, row.version) == (80.0, 2)
        updates = check.scalars(
            select(AuditEntry).where(
                AuditEntry.table_name == "measurements",
                AuditEntry.record_id == str(mid),
                AuditEntry.action == "update",
            )
        ).all()
        assert [u.user_id for u in updates] == [actors["coordinator"].user_id]
        assert sv.verify_audit_trail(check, sv.SYSTEM).ok


def test_concurrent_threads_exactly_one_wins(weight, db: TestDatabase, actors) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = weight
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write(who: str, value: float) -> None:
        with db.session() as own:
            barrier.wait()
            try:
                sv.update_measurement(
                    own,
                    actors[who],
                    mid,
                    sv.MeasurementChanges(expected_version=1, reason=f"{who} edit", value=value),
                )
                outcomes.append("ok")
            except sv.StaleVersion:
                outcomes.append("stale")
            except sv.RuleViolation as exc:  # pragma: no cover - reported by the assertion
                outcomes.append(exc.rule)

    threads = [
        threading.Thread(target=write, args=("coordinator", 79.0)),
        threading.Thread(target=write, args=("investigator", 80.0)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "stale"]
    with db.session() as check:
        row = check.get(Measurement, mid)
        assert row is not None and row.version == 2 and row.value in (79.0, 80.0)
        assert sv.verify_audit_trail(check, sv.SYSTEM).ok


def test_voiding_keeps_the_record(weight, session, actors) -> None:  # type: ignore[no-untyped-def]
    pid, mid = weight
    with pytest.raises(sv.ValidationProblem, match="reason"):
        sv.void_clinical_record(
            session, actors["coordinator"], "measurements", mid, expected_version=1, reason=""
        )
    sv.void_clinical_record(
        session,
        actors["coordinator"],
        "measurements",
        mid,
        expected_version=1,
        reason="duplicate entry",
    )
    live = sv.list_measurements(
        session, actors["coordinator"], sv.MeasurementFilter(participant_id=pid, element="weight")
    )
    everything = sv.list_measurements(
        session,
        actors["coordinator"],
        sv.MeasurementFilter(participant_id=pid, element="weight", include_voided=True),
    )
    assert live.total == 0 and everything.total == 1
    assert everything.items[0].voided and everything.items[0].void_reason == "duplicate entry"
    history = sv.record_history(session, actors["coordinator"], "measurements", mid)
    assert history[-1].action == "void" and history[-1].changes["voided"] == [False, True]
    with pytest.raises(sv.RuleViolation, match="already voided"):
        sv.void_clinical_record(
            session,
            actors["coordinator"],
            "measurements",
            mid,
            expected_version=2,
            reason="again",
        )
    with pytest.raises(sv.ValidationProblem, match="cannot be voided"):
        sv.void_clinical_record(
            session, actors["coordinator"], "data_queries", 1, expected_version=1, reason="x"
        )


def test_statisticians_get_no_audit_trail(weight, session, actors) -> None:  # type: ignore[no-untyped-def]
    pid, mid = weight
    with pytest.raises(sv.Forbidden):
        sv.record_history(session, actors["statistician"], "measurements", mid)
    with pytest.raises(sv.Forbidden):
        sv.participant_history(session, actors["statistician"], pid)


def test_participant_history_covers_every_record(weight, session, actors) -> None:  # type: ignore[no-untyped-def]
    pid, _mid = weight
    page = sv.participant_history(session, actors["monitor"], pid, page=Paging(limit=500))
    tables = {e.table for e in page.items}
    assert {
        "participants",
        "participant_identities",
        "consents",
        "visits",
        "measurements",
        "itt_tests",
        "itt_samples",
        "screenings",
    } <= tables
    assert page.total == len(page.items)
    sequences = [e.sequence for e in page.items]
    assert sequences == sorted(sequences)
    first = sv.participant_history(session, actors["monitor"], pid, page=Paging(limit=3, offset=0))
    assert len(first.items) == 3 and first.total == page.total


def test_identity_changes_are_audited_but_only_for_identity_readers(
    weight, session, actors
) -> None:  # type: ignore[no-untyped-def]
    pid, _mid = weight
    identity = sv.get_identity(session, actors["coordinator"], pid)
    sv.update_identity(
        session,
        actors["coordinator"],
        pid,
        sv.IdentityCorrection(phone="+86 10 5555 0199"),
        expected_version=identity.version,
        reason="new phone number",
    )
    history = sv.record_history(session, actors["monitor"], "participant_identities", identity.id)
    assert history[-1].changes["phone"] == ["+86 10 5555 0101", "+86 10 5555 0199"]


def test_tampering_is_reported_by_the_service(weight, db: TestDatabase, session, actors) -> None:  # type: ignore[no-untyped-def]
    _pid, mid = weight
    assert sv.verify_audit_trail(session, actors["monitor"]).ok
    target = session.scalar(
        select(AuditEntry.sequence)
        .where(AuditEntry.table_name == "measurements", AuditEntry.record_id == str(mid))
        .order_by(AuditEntry.sequence)
    )
    execute_as_dba(
        db,
        "UPDATE audit_entries SET changes = replace(changes, '78.0', '68.0') "
        f"WHERE sequence = {target}",
    )
    report = sv.verify_audit_trail(session, actors["monitor"])
    assert not report.ok and report.problem_kind == "altered"
    assert report.problem_sequence == target and f"#{target}" in report.message
    with pytest.raises(sv.Forbidden):
        sv.verify_audit_trail(session, actors["statistician"])
