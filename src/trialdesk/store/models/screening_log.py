"""Screening-log entries of candidates who declined or were not consented.

A candidate approached at the site who declines, or whose consent cannot be obtained, never
becomes a participant, yet the screening log must still show them: the CONSORT 2010 flow diagram
counts them as "assessed for eligibility" and "excluded: declined to participate" (Schulz,
Altman & Moher, BMJ 2010;340:c332, item 13a). Nothing identifying is stored before consent:
the site's own screening number or the candidate's initials (ICH E6(R3) 2.5.12/2.12.1
confidentiality).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import Base, ClinicalRecord, enum_type
from trialdesk.store.enums import ScreeningDeclineOutcome, ScreeningDeclineReason


class ScreeningDecline(ClinicalRecord, Base):
    """One candidate who declined or was not consented, with the reason."""

    __tablename__ = "screening_declines"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    approached_on: Mapped[date] = mapped_column(Date)
    candidate_label: Mapped[str] = mapped_column(String(20))  # initials or site screening no.
    outcome: Mapped[ScreeningDeclineOutcome] = mapped_column(
        enum_type(ScreeningDeclineOutcome, "screening_decline_outcome")
    )
    reason_category: Mapped[ScreeningDeclineReason] = mapped_column(
        enum_type(ScreeningDeclineReason, "screening_decline_reason")
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
