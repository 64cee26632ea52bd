"""Safety reporting (issue 14): the reports a site sends the sponsor about a serious adverse
event, and the history of safety judgements (proposed by site staff, confirmed by an
investigator). Both are clinical records: versioned, audited, voided rather than deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import SHORT, Base, ClinicalRecord, enum_type
from trialdesk.store.enums import AssessmentStep, AssessmentSubject, Relatedness, SafetyReportKind
from trialdesk.store.types import UTCDateTime


class SafetyReport(ClinicalRecord, Base):
    """One report sent to the sponsor: initial (sequence 0) or follow-up n."""

    __tablename__ = "safety_reports"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    adverse_event_id: Mapped[int] = mapped_column(ForeignKey("adverse_events.id"), index=True)
    kind: Mapped[SafetyReportKind] = mapped_column(enum_type(SafetyReportKind, "report_kind"))
    sequence: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recipient: Mapped[str] = mapped_column(SHORT)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class SafetyAssessment(ClinicalRecord, Base):
    """One judgement on an adverse event, proposed or confirmed, with who and when.

    Causality rows carry `relatedness` and `expected`; grade rows carry `grade` and, when a
    laboratory value suggested one, the suggestion it confirms or overrides (`basis`)."""

    __tablename__ = "safety_assessments"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    adverse_event_id: Mapped[int] = mapped_column(ForeignKey("adverse_events.id"), index=True)
    subject: Mapped[AssessmentSubject] = mapped_column(
        enum_type(AssessmentSubject, "assessment_subject")
    )
    step: Mapped[AssessmentStep] = mapped_column(enum_type(AssessmentStep, "assessment_step"))
    relatedness: Mapped[Relatedness | None] = mapped_column(
        enum_type(Relatedness, "relatedness"), default=None
    )
    expected: Mapped[bool | None] = mapped_column(Boolean, default=None)
    grade: Mapped[int | None] = mapped_column(Integer, default=None)
    basis: Mapped[str | None] = mapped_column(String(400), default=None)
    assessed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime)
