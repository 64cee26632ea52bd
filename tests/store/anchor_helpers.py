"""Helpers of the anchor tests: entries written as the services write them, an attacker with
database access who re-hashes the whole chain, and the URL a command uses for a test database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import make_url
from tools.harness.database import TestDatabase, execute_as_dba

from trialdesk.store import audit
from trialdesk.store.anchor import AnchorConfig, write_checkpoint
from trialdesk.store.anchor.checkpoint import CheckpointResult
from trialdesk.store.models import AuditEntry
from trialdesk.store.models.audit import GENESIS_HASH


def append_entries(db: TestDatabase, n: int, start: int = 1) -> None:
    with db.session() as session:
        for i in range(start, start + n):
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


def checkpoint(db: TestDatabase, config: AnchorConfig) -> CheckpointResult:
    with db.session() as session:
        return write_checkpoint(session, config, reason="test", database="test")


def rehash_everything(db: TestDatabase, *tampering: str) -> None:
    """Play the attacker of issue 18: change rows, then recompute every entry's `prev_hash` and
    `hash` and the chain head, so that the chain verifies against itself."""
    if tampering:
        execute_as_dba(db, *tampering)
    statements: list[str] = []
    with db.session() as session:
        previous, last = GENESIS_HASH, 0
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.sequence)):
            digest = audit.entry_hash(entry, previous)
            if (entry.prev_hash, entry.hash) != (previous, digest):
                statements.append(
                    f"UPDATE audit_entries SET prev_hash = '{previous}', hash = '{digest}' "
                    f"WHERE id = {entry.id}"
                )
            previous, last = digest, entry.sequence
        session.rollback()
    statements.append(f"UPDATE audit_head SET last_sequence = {last}, last_hash = '{previous}'")
    execute_as_dba(db, *statements)


def command_url(db: TestDatabase) -> str:
    """The URL a command (CLI, backup) uses to reach this test database."""
    url = db.engine.url.render_as_string(hide_password=False)
    if db.backend == "sqlite":
        return url
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={db.schema}"})
        .render_as_string(hide_password=False)
    )
