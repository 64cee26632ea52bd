"""Adverse events (CTCAE grade, ICH E2A seriousness), protocol deviations and data queries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import SHORT, Base, ClinicalRecord, enum_type
from trialdesk.store.enums import (
    AeAction,
    AeOutcome,
    DeviationCategory,
    DeviationSeverity,
    QueryOrigin,
    QueryStatus,
    Relatedness,
)
from trialdesk.store.types import UTCDateTime


class AdverseEvent(ClinicalRecord, Base):
    """An adverse event.

    Severity is the CTCAE v5.0 grade (1 mild … 5 death related to the AE; NCI, 27 Nov 2017).
    Seriousness is regulatory and separate: the six ICH E2A criteria (CPMP/ICH/377/95 II.B), one
    column each (SDTM AESDTH, AESLIFE, AESHOSP, AESDISAB, AESCONG, AESMIE). A serious event
    carries its expedited-report due date (see `trialdesk.services.safety`).
    """

    __tablename__ = "adverse_events"
    __table_args__ = (CheckConstraint("grade BETWEEN 1 AND 5", name="grade_1_to_5"),)

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    term: Mapped[str] = mapped_column(SHORT)
    onset_date: Mapped[date] = mapped_column(Date)
    resolution_date: Mapped[date | None] = mapped_column(Date, default=None)
    grade: Mapped[int] = mapped_column(Integer)
    results_in_death: Mapped[bool] = mapped_column(Boolean, default=False)
    life_threatening: Mapped[bool] = mapped_column(Boolean, default=False)
    hospitalisation: Mapped[bool] = mapped_column(Boolean, default=False)
    disability: Mapped[bool] = mapped_column(Boolean, default=False)
    congenital_anomaly: Mapped[bool] = mapped_column(Boolean, default=False)
    important_medical_event: Mapped[bool] = mapped_column(Boolean, default=False)
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    relatedness: Mapped[Relatedness] = mapped_column(enum_type(Relatedness, "relatedness"))
    expected: Mapped[bool | None] = mapped_column(Boolean, default=None)
    action_taken: Mapped[AeAction] = mapped_column(enum_type(AeAction, "ae_action"))
    outcome: Mapped[AeOutcome] = mapped_column(enum_type(AeOutcome, "ae_outcome"))
    awareness_date: Mapped[date] = mapped_column(Date)
    expedited_report_due: Mapped[date | None] = mapped_column(Date, default=None)
    expedited_reported_on: Mapped[date | None] = mapped_column(Date, default=None)
    # Issue 14: when the site became aware (date-time; starts the site's 24-hour clock), when
    # information a follow-up report must carry last changed, and the investigator's
    # confirmations (who, when) of causality/expectedness and of the CTCAE grade.
    aware_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    new_information_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    causality_confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    causality_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    grade_confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    grade_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ProtocolDeviation(ClinicalRecord, Base):
    __tablename__ = "protocol_deviations"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), default=None)
    category: Mapped[DeviationCategory] = mapped_column(
        enum_type(DeviationCategory, "deviation_category")
    )
    severity: Mapped[DeviationSeverity] = mapped_column(
        enum_type(DeviationSeverity, "deviation_severity")
    )
    description: Mapped[str] = mapped_column(Text)
    detected_on: Mapped[date] = mapped_column(Date)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the site says happened and why (e.g. the reason given for an out-of-window visit).
    explanation: Mapped[str | None] = mapped_column(Text, default=None)
    # Investigator review and sign-off (ICH E6(R3) 3.10.1.3: the investigator reviews
    # deviations; ICH E3 10.2: important deviations are reported).
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    review_comment: Mapped[str | None] = mapped_column(Text, default=None)


class DataQuery(ClinicalRecord, Base):
    """A data clarification request on one field of one record: raised → answered → closed."""

    __tablename__ = "data_queries"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    target_table: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(64))
    origin: Mapped[QueryOrigin] = mapped_column(enum_type(QueryOrigin, "query_origin"))
    status: Mapped[QueryStatus] = mapped_column(enum_type(QueryStatus, "query_status"))
    text: Mapped[str] = mapped_column(Text)
    raised_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answer_text: Mapped[str | None] = mapped_column(Text, default=None)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    close_text: Mapped[str | None] = mapped_column(Text, default=None)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
