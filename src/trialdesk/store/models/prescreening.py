"""The pre-screening log: EHR pre-screening runs and the candidates each one found.

A run of ``trialdesk prescreen`` (issue 7) over a site's OMOP CDM extract finds persons who may
fit the protocol. This is *before consent*, so nothing identifying is kept here: a candidate is
known only by the EHR's pseudonymous key (OMOP ``person_id`` as text), which site staff look up
in their own hospital system to contact the patient. No name, date of birth, medical record
number or contact detail is stored (ICH E6(R2) 2.11, confidentiality of records that could
identify subjects; EU GDPR Art. 89(1) data minimisation for research).

The log follows a candidate from the EHR list to the screening visit, as a CONSORT 2010 flow
diagram needs ("assessed for eligibility", "excluded: declined to participate"):

    new → invited → declined
              └───→ screened (linked to the registered participant and their screening)
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import Base, ClinicalRecord, enum_type
from trialdesk.store.types import JSONDocument


class PrescreenStatus(StrEnum):
    """The pre-screen's verdict over the criteria judged from EHR data
    (`trialdesk.prescreen.query`)."""

    CANDIDATE = "candidate"  # every EHR-assessable criterion passes
    INCOMPLETE = "incomplete"  # none fails, the record lacks data some criterion needs
    EXCLUDED = "excluded"  # at least one criterion fails
    # Until migration 0021_prescreen_verdicts the stored value for INCOMPLETE was "possible".


class CandidateWorkflow(StrEnum):
    """Where a pre-screened candidate is in recruitment."""

    NEW = "new"  # found by the pre-screen, not yet contacted
    INVITED = "invited"  # contacted and invited to a screening visit
    DECLINED = "declined"  # declined, or not to be approached (reason recorded)
    SCREENED = "screened"  # registered and screened: linked to the participant


class PrescreenRun(ClinicalRecord, Base):
    """One pre-screening run at a site: the protocol, the index date (planned screening date),
    the look-back window, the EHR source it read and the counts it found."""

    __tablename__ = "prescreen_runs"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    protocol_id: Mapped[str] = mapped_column(String(50))
    index_date: Mapped[date] = mapped_column(Date)
    lookback_days: Mapped[int] = mapped_column(Integer)
    source_description: Mapped[str] = mapped_column(Text)
    run_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Persons in the look-back window, and how many had each pre-screen status (CONSORT
    # "assessed for eligibility"), whether or not every candidate row was stored.
    persons_assessed: Mapped[int] = mapped_column(Integer)
    status_counts: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # The sequential attrition funnel (issue #16): one {"step", "criterion", "text",
    # "remaining", "removed", "not_assessable"} object per EHR criterion, in protocol order.
    attrition: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONDocument, default=list, server_default=text("'[]'")
    )


class PrescreenCandidate(ClinicalRecord, Base):
    """One person of a run's ranked list, and where they are in recruitment."""

    __tablename__ = "prescreen_candidates"
    __table_args__ = (UniqueConstraint("run_id", "ehr_person_key"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("prescreen_runs.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    ehr_person_key: Mapped[str] = mapped_column(String(64), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    prescreen_status: Mapped[PrescreenStatus] = mapped_column(
        enum_type(PrescreenStatus, "prescreen_status")
    )
    # Per criterion: {"verdict": met | not met | not assessable | assessed at visit,
    # "values": {column: value used}}.
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    workflow_status: Mapped[CandidateWorkflow] = mapped_column(
        enum_type(CandidateWorkflow, "candidate_workflow"), default=CandidateWorkflow.NEW
    )
    status_changed_on: Mapped[date | None] = mapped_column(Date, default=None)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id"), default=None, index=True
    )
    screening_id: Mapped[int | None] = mapped_column(ForeignKey("screenings.id"), default=None)
