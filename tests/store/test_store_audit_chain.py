"""The audit trail is append-only and hash-chained: tampering with it is detected and named."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from tools.harness.database import TestDatabase, execute_as_dba

from trialdesk.store import audit
from trialdesk.store.models import AuditEntry


def _append(db: TestDatabase, n: int) -> None:
    with db.session() as session:
        for i in range(1, n + 1):
            audit.append(
                session,
                audit.NewEntry(
                    user_id=None,
                    action="update",
                    table="measurements",
                    record_id=i,
                    changes={"value": [7.0 + i, 7.5 + i], "version": [1, 2]},
                    reason=f"transcription error {i}",
                    site_id=1,
                    participant_id=10 + i,
                ),
            )
        session.commit()


def _verify(db: TestDatabase) -> audit.ChainReport:
    with db.session() as session:
        return audit.verify_chain(session)


def test_an_untouched_chain_verifies(db: TestDatabase) -> None:
    _append(db, 5)
    report = _verify(db)
    assert report.ok and report.checked == 5 and report.last_sequence == 5
    assert "intact" in str(report)


def test_an_empty_chain_verifies(db: TestDatabase) -> None:
    report = _verify(db)
    assert report.ok and report.checked == 0


def test_entries_are_chained_to_their_predecessor(db: TestDatabase) -> None:
    _append(db, 3)
    with db.session() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.sequence)))
    assert rows[0].prev_hash == "0" * 64
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert [r.sequence for r in rows] == [1, 2, 3]
    assert rows[0].occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_entries SET reason = 'x'", "DELETE FROM audit_entries"]
)
def test_the_database_refuses_changes_to_the_audit_table(db: TestDatabase, statement: str) -> None:
    _append(db, 2)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text(statement))
    assert _verify(db).ok


def test_an_edited_field_is_named(db: TestDatabase) -> None:
    _append(db, 5)
    execute_as_dba(
        db, "UPDATE audit_entries SET changes = '{\"value\":[8.0,9.9]}' WHERE sequence = 3"
    )
    report = _verify(db)
    assert not report.ok and report.problem is not None
    assert (report.problem.kind, report.problem.sequence) == ("altered", 3)
    assert "#3" in str(report) and "altered" in str(report)
    assert report.checked == 2


def test_an_edited_timestamp_is_named(db: TestDatabase) -> None:
    _append(db, 4)
    execute_as_dba(
        db, "UPDATE audit_entries SET user_id = NULL, reason = 'typo' WHERE sequence = 2"
    )
    problem = _verify(db).problem
    assert problem is not None and (problem.kind, problem.sequence) == ("altered", 2)


def test_an_edit_with_a_recomputed_hash_is_still_named(db: TestDatabase) -> None:
    _append(db, 5)
    with db.session() as session:
        row = session.scalars(select(AuditEntry).where(AuditEntry.sequence == 2)).one()
        row.reason = "rewritten history"
        forged = audit.entry_hash(row, row.prev_hash)
        row_id = row.id
        session.rollback()
    execute_as_dba(
        db,
        f"UPDATE audit_entries SET reason = 'rewritten history', hash = '{forged}' "
        f"WHERE id = {row_id}",
    )
    problem = _verify(db).problem
    assert problem is not None
    assert (problem.kind, problem.sequence, problem.entry_id) == ("altered", 2, row_id)


def test_a_deleted_row_is_named(db: TestDatabase) -> None:
    _append(db, 5)
    execute_as_dba(db, "DELETE FROM audit_entries WHERE sequence = 3")
    report = _verify(db)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.sequence) == ("removed", 3)
    assert "#3 was removed" in report.problem.message


def test_deleted_rows_at_the_end_are_named(db: TestDatabase) -> None:
    _append(db, 5)
    execute_as_dba(db, "DELETE FROM audit_entries WHERE sequence >= 4")
    problem = _verify(db).problem
    assert problem is not None and (problem.kind, problem.sequence) == ("removed", 4)
    assert "#4…#5" in problem.message


def test_swapped_sequence_numbers_are_named(db: TestDatabase) -> None:
    _append(db, 5)
    execute_as_dba(
        db,
        "UPDATE audit_entries SET sequence = -1 WHERE sequence = 2",
        "UPDATE audit_entries SET sequence = 2 WHERE sequence = 3",
        "UPDATE audit_entries SET sequence = 3 WHERE sequence = -1",
    )
    problem = _verify(db).problem
    assert problem is not None and (problem.kind, problem.sequence) == ("reordered", 2)
    assert "out of order" in problem.message


def test_concurrent_writers_never_fork_the_chain(db: TestDatabase) -> None:
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(10):
                with db.session() as session:
                    audit.append(
                        session,
                        audit.NewEntry(
                            user_id=None,
                            action="create",
                            table="visits",
                            record_id=worker * 100 + i,
                            changes={"code": [None, "BL"]},
                        ),
                    )
                    session.commit()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = _verify(db)
    assert report.ok and report.checked == 40, str(report)


def test_history_lists_one_records_entries_in_order(db: TestDatabase) -> None:
    with db.session() as session:
        for version in (1, 2, 3):
            audit.append(
                session,
                audit.NewEntry(
                    user_id=None,
                    action="update",
                    table="adverse_events",
                    record_id=7,
                    changes={"version": [version, version + 1]},
                    reason="follow-up",
                ),
            )
        audit.append(
            session,
            audit.NewEntry(user_id=None, action="create", table="visits", record_id=7, changes={}),
        )
        session.commit()
        entries = audit.history(session, "adverse_events", 7)
    assert [e.sequence for e in entries] == [1, 2, 3]


def test_refusals_are_recorded_in_the_chain(db: TestDatabase) -> None:
    with db.session() as session:
        audit.record_refusal(
            session,
            audit.Refusal(
                user_id=None,
                operation="get_participant",
                rule="not_found",
                message="participant 3 not found",
                table="participants",
                record_id=3,
            ),
        )
        session.commit()
        entry = session.scalars(select(AuditEntry)).one()
    assert entry.action == "refuse" and entry.table_name == "participants"
    assert '"rule":"not_found"' in entry.changes
    assert _verify(db).ok
