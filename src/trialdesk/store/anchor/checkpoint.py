"""Writing checkpoints: sign what the database holds now, after checking it continues the log.

A checkpoint is refused (`CheckpointRefused`, nothing written) when the database does not
extend the last checkpoint exactly: an entry already checkpointed was changed, the database
ends before the log (rolled back or truncated), or a new entry breaks the chain. Signing such a
state would launder the tampering; ``trialdesk audit verify`` says what happened instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.store.anchor.config import AnchorConfig
from trialdesk.store.anchor.keys import key_id, key_ring, load_signing_key
from trialdesk.store.anchor.log import LogState, append_record, opened_log, read_log
from trialdesk.store.audit import content_fingerprint, entries_in_order, entry_hash
from trialdesk.store.models.audit import AuditEntry, AuditHead


class CheckpointRefused(RuntimeError):
    """The database does not continue the checkpoint log; the message says where and how."""


@dataclass(frozen=True)
class CheckpointResult:
    number: int  # the checkpoint now last in the log
    first_sequence: int
    last_sequence: int
    written: bool  # False: nothing new since the last checkpoint

    def __str__(self) -> str:
        last = self.last_sequence
        if not self.written:
            return f"nothing new since checkpoint #{self.number} (audit trail to #{last})"
        return f"checkpoint #{self.number} signed: entries #{self.first_sequence}…#{last}"


def write_checkpoint(
    session: Session, config: AnchorConfig, *, reason: str, database: str
) -> CheckpointResult:
    """Append a signed checkpoint of every entry after the last one (none if nothing is new)."""
    key = load_signing_key(config)
    with opened_log(config, write=True) as handle:
        state = signed_state(handle, config, key)
        head = int(session.scalar(select(AuditHead.last_sequence)) or 0)
        check_continues(session, state, head)
        if head == state.last_sequence:
            return CheckpointResult(state.records, head + 1, head, written=False)
        entries = new_entries(session, state, head)
        append_record(
            handle,
            state,
            key,
            {
                "kind": "checkpoint",
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "reason": reason,
                "database": database,
                "first_sequence": state.last_sequence + 1,
                "last_sequence": head,
                "head_hash": entries[-1][0],
                "entries": entries,
            },
        )
        return CheckpointResult(state.records + 1, state.last_sequence + 1, head, written=True)


def signed_state(handle: IO[bytes], config: AnchorConfig, key: Ed25519PrivateKey) -> LogState:
    """The log as read, refused when damaged or when `key` is not the one it now expects."""
    state = read_log(handle, key_ring(config), str(config.log_file))
    if state.problem is not None:
        raise CheckpointRefused(f"the checkpoint log is damaged: {state.problem}")
    mine = key_id(key.public_key())
    if state.signer is not None and key_id(state.signer) != mine:
        raise CheckpointRefused(
            f"the signing key {mine} is not the key the checkpoint log now expects "
            f"({key_id(state.signer)}): a key is replaced only by `trialdesk audit rotate-key`"
        )
    return state


def check_continues(session: Session, state: LogState, head: int) -> None:
    """The database still holds the last checkpointed entry, unchanged, and nothing less."""
    if head < state.last_sequence:
        raise CheckpointRefused(
            f"the database ends at #{head} but the checkpoint log records entries up to "
            f"#{state.last_sequence}: rolled back or truncated (run `trialdesk audit verify`)"
        )
    if not state.entries:
        return
    stored = session.scalar(
        select(AuditEntry.hash).where(AuditEntry.sequence == state.last_sequence)
    )
    if stored != state.head_hash:
        raise CheckpointRefused(
            f"entry #{state.last_sequence} differs from checkpoint #{state.records}: the "
            "trail was changed since (run `trialdesk audit verify`)"
        )


def new_entries(session: Session, state: LogState, head: int) -> list[list[str | None]]:
    """[hash, fingerprint, table, record] of #last+1…#head, each checked against the chain."""
    rows: list[list[str | None]] = []
    previous_hash, expected = state.head_hash, state.last_sequence + 1
    for entry in entries_in_order(session, after=state.last_sequence):
        if entry.sequence > head:
            break
        if (
            entry.sequence != expected
            or entry.prev_hash != previous_hash
            or entry_hash(entry, previous_hash) != entry.hash
        ):
            raise CheckpointRefused(
                f"entry #{expected} breaks the hash chain: not checkpointed "
                "(run `trialdesk audit verify`)"
            )
        rows.append([entry.hash, content_fingerprint(entry), entry.table_name, entry.record_id])
        previous_hash, expected = entry.hash, expected + 1
    if expected != head + 1:
        raise CheckpointRefused(
            f"entry #{expected} is missing though the chain head records #{head}: not checkpointed"
        )
    return rows


def record_restore(
    session: Session, config: AnchorConfig, *, backup_name: str, database: str
) -> str | None:
    """After a restore: sign that the checkpointed entries after the restored head are lost.

    Returns a sentence naming them, or None when the restored database is not behind the log.
    Refuses when the restored trail differs from the checkpointed one where they overlap.
    """
    key = load_signing_key(config)
    with opened_log(config, write=True) as handle:
        state = signed_state(handle, config, key)
        head_row = session.execute(select(AuditHead.last_sequence, AuditHead.last_hash)).one()
        head, head_hash = int(head_row[0]), str(head_row[1])
        if head >= state.last_sequence:
            return None
        expected = state.entries[head - 1].hash if head else head_hash
        if head_hash != expected:
            raise CheckpointRefused(
                f"the restored audit trail's entry #{head} differs from the checkpointed one: "
                "this backup is not a copy of this study's trail"
            )
        append_record(
            handle,
            state,
            key,
            {
                "kind": "restore",
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "reason": f"backup {backup_name}",
                "database": database,
                "first_sequence": head + 1,
                "last_sequence": head,
                "head_hash": head_hash,
                "lost_to": state.last_sequence,
                "entries": [],
            },
        )
        return (
            f"the backup ends at audit entry #{head}; checkpointed entries "
            f"#{head + 1}…#{state.last_sequence} are lost (recorded, signed, in checkpoint "
            f"#{state.records + 1})"
        )
