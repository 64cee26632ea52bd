"""The status of a data collection form per participant and visit (REDCap's Incomplete /
Unverified / Complete), stored and audited like any clinical record."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import Base, ClinicalRecord, enum_type
from trialdesk.store.enums import FormStatus


class FormStatusRecord(ClinicalRecord, Base):
    """One form (e.g. ``labs``) of one visit (e.g. ``M3``) of one participant: its status."""

    __tablename__ = "form_statuses"
    __table_args__ = (
        UniqueConstraint("participant_id", "visit_code", "form", name="uq_form_statuses_form"),
    )

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    visit_code: Mapped[str] = mapped_column(String(20))
    form: Mapped[str] = mapped_column(String(40))
    status: Mapped[FormStatus] = mapped_column(enum_type(FormStatus, "form_status"))
