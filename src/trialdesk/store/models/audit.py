"""The audit trail table (append-only, hash-chained) and its chain head.

The logic (appending, verifying) is in `trialdesk.store.audit`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import Base
from trialdesk.store.types import UTCDateTime

GENESIS_HASH = "0" * 64
"""`prev_hash` of the first audit entry."""


class AuditEntry(Base):
    """One audit row: who, when (UTC), what (field-level old → new), why, chained by SHA-256.

    `changes` is stored as the exact canonical JSON text that was hashed, so verification never
    depends on how a database round-trips JSON.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    action: Mapped[str] = mapped_column(String(20))
    table_name: Mapped[str] = mapped_column(String(64), index=True)
    record_id: Mapped[str | None] = mapped_column(String(64), default=None)
    site_id: Mapped[int | None] = mapped_column(Integer, default=None)
    participant_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    changes: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """A single row recording the chain's last sequence and hash.

    Appending locks this row first (UPDATE), which serialises writers of the chain on PostgreSQL
    and SQLite alike, and lets `verify_chain` detect rows removed from the end of the chain.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
