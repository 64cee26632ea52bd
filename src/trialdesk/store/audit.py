"""The audit trail: append-only, hash-chained, written in the same transaction as the change.

What is recorded follows 21 CFR 11.10(e) and ICH E6(R2) 4.9.0 / 5.5.3: a secure, computer-
generated, time-stamped record of who did what and when, with old and new values, that does not
obscure the previous values, plus the reason for a change after first entry.

Chain. Entry *n* stores ``hash_n = SHA-256(prev_hash || canonical JSON of its content)`` where
the content includes its sequence number, so editing a field, removing an entry or swapping two
entries' places breaks the chain at a nameable row. `AuditHead` holds the last sequence and hash
so that removing entries from the end is detected too. Appending begins by updating the head row,
which takes a write lock: concurrent writers append one after the other and never fork the chain.

Append-only is also enforced by the database: the migration installs triggers that refuse UPDATE
and DELETE on ``audit_entries`` (an administrator with DDL rights can still drop them, which is
exactly what `verify_chain` is for).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from trialdesk.store.enums import AuditAction
from trialdesk.store.models.audit import GENESIS_HASH, AuditEntry, AuditHead
from trialdesk.store.types import utcnow

HEAD_ID = 1


def jsonable(value: Any) -> Any:
    """A value as it is written into the audit trail (dates ISO 8601, enums by value)."""
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    # Decimal (written as its exact digits) and anything else: its text.
    return str(value)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_fingerprint(entry: AuditEntry) -> str:
    """SHA-256 (first 16 hex digits) of an entry's content without its place in the chain.

    Checkpoints record it beside each entry's chain hash so that, once the chain no longer
    matches, verification can tell an entry moved elsewhere (reordered) from one altered or gone.
    """
    content = _content(entry)
    del content["sequence"]
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()[:16]


def _content(entry: AuditEntry) -> dict[str, Any]:
    return {
        "sequence": entry.sequence,
        "occurred_at": entry.occurred_at.isoformat(),
        "user_id": entry.user_id,
        "action": entry.action,
        "table": entry.table_name,
        "record_id": entry.record_id,
        "site_id": entry.site_id,
        "participant_id": entry.participant_id,
        "changes": entry.changes,
        "reason": entry.reason,
    }


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    """SHA-256 (hex) of the previous hash followed by the entry's canonical content."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical_json(_content(entry)).encode("utf-8"))
    return digest.hexdigest()


_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
# Built once (every write runs both): the no-op update takes the head row's lock.
_LOCK_HEAD = (
    _HEAD.update()
    .where(_HEAD.c.id == HEAD_ID)
    .values(last_sequence=_HEAD.c.last_sequence)
    .returning(_HEAD.c.last_sequence, _HEAD.c.last_hash)
)
_ADVANCE_HEAD = (
    _HEAD.update()
    .where(_HEAD.c.id == HEAD_ID)
    .values(last_sequence=bindparam("sequence"), last_hash=bindparam("hash"))
)


def lock_chain(session: Session) -> tuple[int, str]:
    """Take the chain's write lock (held until commit); returns (last sequence, last hash).

    Services that must serialise a decision (e.g. the enrollment cap) call this before reading.
    """
    head = session.execute(_LOCK_HEAD).one_or_none()
    if head is None:
        raise RuntimeError("audit_head row is missing: run `trialdesk db upgrade`")
    return int(head[0]), str(head[1])


@dataclass(frozen=True, kw_only=True)
class NewEntry:
    """What one audit-trail entry says (21 CFR 11.10(e): who did what to which record, and why);
    `append` adds when, its place in the chain and its hash. Each item is one column."""

    user_id: int | None
    action: AuditAction | str
    table: str
    record_id: int | str | None
    changes: Mapping[str, Any]
    reason: str | None = None
    site_id: int | None = None
    participant_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """An access refused (403 Forbidden / 404 for another site's record): who, doing what,
    stopped by which rule with which message, and the record it was about, if any."""

    user_id: int | None
    operation: str
    rule: str
    message: str
    table: str | None = None
    record_id: int | str | None = None
    site_id: int | None = None
    participant_id: int | None = None


def append(session: Session, new: NewEntry) -> AuditEntry:
    """Append one entry in the caller's transaction (flushed, not committed)."""
    last_sequence, last_hash = lock_chain(session)
    action = new.action
    entry = AuditEntry(
        sequence=last_sequence + 1,
        occurred_at=utcnow(),
        user_id=new.user_id,
        action=str(AuditAction(action).value if isinstance(action, AuditAction) else action),
        table_name=new.table,
        record_id=None if new.record_id is None else str(new.record_id),
        site_id=new.site_id,
        participant_id=new.participant_id,
        changes=canonical_json(new.changes),
        reason=new.reason,
        prev_hash=last_hash,
    )
    entry.hash = entry_hash(entry, last_hash)
    session.add(entry)
    session.flush()
    session.execute(_ADVANCE_HEAD, {"sequence": entry.sequence, "hash": entry.hash})
    return entry


def record_refusal(session: Session, refusal: Refusal) -> AuditEntry:
    """Record an access refusal (403 Forbidden / 404 for another site's record).

    Appends in the caller's transaction; the caller commits (a refusal usually follows a
    rollback of the refused work, so commit it on its own).
    """
    changes = {"operation": refusal.operation, "rule": refusal.rule, "message": refusal.message}
    return append(
        session,
        NewEntry(
            user_id=refusal.user_id,
            action=AuditAction.REFUSE,
            table=refusal.table or "-",
            record_id=refusal.record_id,
            changes=changes,
            site_id=refusal.site_id,
            participant_id=refusal.participant_id,
        ),
    )


def history(session: Session, table: str, record_id: int | str) -> list[AuditEntry]:
    """Every entry about one record, oldest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == table, AuditEntry.record_id == str(record_id))
            .order_by(AuditEntry.sequence)
        )
    )


@dataclass(frozen=True)
class ChainProblem:
    """The first place the chain breaks. `kind`: altered | removed | reordered | truncated."""

    kind: str
    sequence: int
    entry_id: int | None
    message: str


@dataclass
class ChainReport:
    ok: bool
    checked: int
    last_sequence: int
    problem: ChainProblem | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.ok:
            return (
                f"audit trail intact: {self.checked} entries verified (last #{self.last_sequence})"
            )
        assert self.problem is not None
        return f"audit trail BROKEN at entry #{self.problem.sequence}: {self.problem.message}"


def verify_chain(
    session: Session, batch_size: int = 2000, progress: Callable[[int], None] | None = None
) -> ChainReport:
    """Recompute the chain and name the first altered, removed or reordered entry.

    `progress`, when given, is called with the number of entries read after each batch.
    """
    known = set(session.scalars(select(AuditEntry.hash)))
    previous: AuditEntry | None = None
    checked = 0
    for entry in entries_in_order(session, batch_size, progress):
        problem = _check(entry, previous, known)
        if problem is not None:
            return ChainReport(False, checked, previous.sequence if previous else 0, problem)
        checked += 1
        previous = entry
    last = previous.sequence if previous else 0
    problem = _check_head(session, last, previous.hash if previous else GENESIS_HASH)
    if problem is not None:
        return ChainReport(False, checked, last, problem)
    return ChainReport(True, checked, last)


def entries_in_order(
    session: Session,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    after: int = 0,
) -> Iterable[AuditEntry]:
    """The stored entries by sequence (those after `after`), read in batches."""
    while True:
        batch = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.sequence > after)
                .order_by(AuditEntry.sequence)
                .limit(batch_size)
            )
        )
        if not batch:
            return
        yield from batch
        if progress is not None:
            progress(len(batch))
        after = batch[-1].sequence


def _describe(entry: AuditEntry) -> str:
    return (
        f"entry #{entry.sequence} (id {entry.id}: {entry.action} {entry.table_name} "
        f"{entry.record_id or ''})".replace(" )", ")")
    )


def _check(entry: AuditEntry, previous: AuditEntry | None, known: set[str]) -> ChainProblem | None:
    """The first problem at `entry`, given the verified entry before it (None at the start)."""
    expected_sequence = previous.sequence + 1 if previous else 1
    expected_prev = previous.hash if previous else GENESIS_HASH
    intact = entry_hash(entry, entry.prev_hash) == entry.hash
    if entry.prev_hash != expected_prev and entry.prev_hash in known:
        return ChainProblem(
            "reordered",
            entry.sequence,
            entry.id,
            f"{_describe(entry)} is out of order: it was chained after a different entry than "
            "the one now before it",
        )
    if entry.sequence != expected_sequence and intact:
        return ChainProblem(
            "removed",
            expected_sequence,
            None,
            f"entry #{expected_sequence} was removed: the next stored entry is {_describe(entry)}",
        )
    if not intact:
        return ChainProblem(
            "altered",
            entry.sequence,
            entry.id,
            f"{_describe(entry)} was altered: its content no longer matches its hash",
        )
    if entry.prev_hash != expected_prev:
        # The entry itself is intact but points at a hash no stored entry has: the entry before
        # it was altered and re-hashed (or replaced).
        assert previous is not None
        return ChainProblem(
            "altered",
            previous.sequence,
            previous.id,
            f"{_describe(previous)} was altered and re-hashed: {_describe(entry)} was chained "
            "to a different hash",
        )
    return None


def _check_head(session: Session, last: int, last_hash: str) -> ChainProblem | None:
    head = session.execute(
        select(AuditHead.last_sequence, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
    ).one_or_none()
    if head is None:
        return ChainProblem("truncated", last, None, "the chain head row is missing")
    head_sequence, head_hash = int(head[0]), str(head[1])
    if head_sequence > last:
        return ChainProblem(
            "removed",
            last + 1,
            None,
            f"entries #{last + 1}…#{head_sequence} were removed from the end of the trail "
            f"(the chain head records #{head_sequence})",
        )
    if head_sequence != last or head_hash != last_hash:
        return ChainProblem(
            "altered",
            last,
            None,
            f"the chain head (#{head_sequence}) does not match the last entry (#{last})",
        )
    return None
