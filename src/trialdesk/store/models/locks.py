"""Data locks (issue 14): a form of a visit of a participant, a participant's casebook or the
whole study frozen against change (21 CFR 11.10(d): access limited to authorised people; the
lock is the study's "database lock" before analysis). A lock is a versioned, audited record;
unlocking fills `unlocked_*` (who, when, why) and keeps the row, so the history stays."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import Base, ClinicalRecord, enum_type
from trialdesk.store.enums import LockScope
from trialdesk.store.types import UTCDateTime


class DataLock(ClinicalRecord, Base):
    """One lock: `scope` study (no participant), participant, or form (`visit_code`, `form`)."""

    __tablename__ = "data_locks"

    scope: Mapped[LockScope] = mapped_column(enum_type(LockScope, "lock_scope"))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id"), index=True, default=None
    )
    visit_code: Mapped[str | None] = mapped_column(String(20), default=None)
    form: Mapped[str | None] = mapped_column(String(40), default=None)
    reason: Mapped[str] = mapped_column(Text)
    locked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    locked_by_name: Mapped[str] = mapped_column(String(200))
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    unlocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    unlocked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    unlocked_by_name: Mapped[str | None] = mapped_column(String(200), default=None)
    unlock_reason: Mapped[str | None] = mapped_column(Text, default=None)
