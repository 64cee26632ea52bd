"""A monitor's marks on the data: a field or a whole form verified against source (SDV) or
reviewed (ICH E6(R2) 5.18.4 (m)). A mark is a clinical record (versioned, audited); a later
change to what it covers clears it, with who, when and why, so a verified value is never one
that changed after the monitor looked at it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import Base, ClinicalRecord, enum_type
from trialdesk.store.enums import SdvKind
from trialdesk.store.types import UTCDateTime


class SdvMark(ClinicalRecord, Base):
    """One mark: on a form of a visit (`target_table` None) or on one record's field
    (`field` None: every field of the record)."""

    __tablename__ = "sdv_marks"
    __table_args__ = (Index("ix_sdv_marks_target", "target_table", "target_id"),)

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    visit_code: Mapped[str] = mapped_column(String(20))
    form: Mapped[str] = mapped_column(String(40))
    target_table: Mapped[str | None] = mapped_column(String(64), default=None)
    target_id: Mapped[int | None] = mapped_column(Integer, default=None)
    field: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[SdvKind] = mapped_column(enum_type(SdvKind, "sdv_kind"))
    marked_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cleared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    clear_reason: Mapped[str | None] = mapped_column(Text, default=None)
