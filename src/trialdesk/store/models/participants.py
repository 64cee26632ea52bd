"""Participants (pseudonymous), their identifying data (kept apart), consent, screening,
enrollment and the investigator's sign-off."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trialdesk.store.base import SHORT, Base, ClinicalRecord, enum_type
from trialdesk.store.enums import ParticipantStatus, ScreeningStatus, StudyEndReason
from trialdesk.store.models.accounts import Site
from trialdesk.store.types import JSONDocument, UTCDateTime


class Participant(ClinicalRecord, Base):
    """A trial participant known by a pseudonymous study id such as ``APGH-001``.

    Nothing here identifies the person: name, date of birth and contact details live in
    `ParticipantIdentity`, which de-identified readers (statisticians) never see.
    """

    __tablename__ = "participants"

    study_id: Mapped[str] = mapped_column(String(20), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    sex: Mapped[str | None] = mapped_column(String(1), default=None)  # F | M (SDTM DM.SEX)
    status: Mapped[ParticipantStatus] = mapped_column(
        enum_type(ParticipantStatus, "participant_status"), default=ParticipantStatus.SCREENING
    )
    registered_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date, default=None)
    end_reason: Mapped[StudyEndReason | None] = mapped_column(
        enum_type(StudyEndReason, "study_end_reason"), default=None
    )

    site: Mapped[Site] = relationship(lazy="joined")


class ParticipantIdentity(ClinicalRecord, Base):
    """Identifying data of one participant (GCP: kept apart from the pseudonymised record)."""

    __tablename__ = "participant_identities"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), unique=True)
    full_name: Mapped[str] = mapped_column(SHORT)
    date_of_birth: Mapped[date] = mapped_column(Date)
    medical_record_number: Mapped[str | None] = mapped_column(String(50), default=None)
    phone: Mapped[str | None] = mapped_column(String(50), default=None)
    email: Mapped[str | None] = mapped_column(SHORT, default=None)
    address: Mapped[str | None] = mapped_column(Text, default=None)


class Consent(ClinicalRecord, Base):
    """Written informed consent (ICH E6(R2) 4.8): form version, date, who obtained it, and any
    later withdrawal."""

    __tablename__ = "consents"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    form_version: Mapped[str] = mapped_column(String(50))
    # The protocol version in force on the date (`ProtocolVersion.label`); None before issue 18.
    protocol_version: Mapped[str | None] = mapped_column(String(20), default=None)
    consented_on: Mapped[date] = mapped_column(Date)
    obtained_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    withdrawn_on: Mapped[date | None] = mapped_column(Date, default=None)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text, default=None)


class Screening(ClinicalRecord, Base):
    """One eligibility evaluation at screening, with the snapshot of the values it used."""

    __tablename__ = "screenings"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    screened_on: Mapped[date] = mapped_column(Date)
    protocol_id: Mapped[str] = mapped_column(String(50))
    protocol_version: Mapped[str | None] = mapped_column(String(20), default=None)
    status: Mapped[ScreeningStatus] = mapped_column(enum_type(ScreeningStatus, "screening_status"))
    # Screening findings that are not measurements (yes/no and category answers).
    findings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # `EligibilityResult.to_dict()`: per criterion the verdict, reasons and values used.
    result: Mapped[dict[str, Any]] = mapped_column(JSONDocument)


class Enrollment(ClinicalRecord, Base):
    __tablename__ = "enrollments"
    # A participant is enrolled at most once (voided enrollments excepted), even under races.
    __table_args__ = (
        Index(
            "uq_enrollments_live_participant",
            "participant_id",
            unique=True,
            sqlite_where=text("NOT voided"),
            postgresql_where=text("NOT voided"),
        ),
    )

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    enrolled_on: Mapped[date] = mapped_column(Date)
    arm_code: Mapped[str] = mapped_column(String(20))
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"))
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id"))
    over_target: Mapped[bool] = mapped_column(Boolean, default=False)
    override_reason: Mapped[str | None] = mapped_column(Text, default=None)


class Signature(ClinicalRecord, Base):
    """An investigator's electronic signature of a participant's casebook (21 CFR 11.50: the
    signer's printed name, the date and time, and the meaning of the signature)."""

    __tablename__ = "signatures"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    signed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signer_name: Mapped[str] = mapped_column(SHORT)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    meaning: Mapped[str] = mapped_column(Text)
    # Audit sequence number the signature covers: later changes show the casebook changed.
    audit_sequence: Mapped[int] = mapped_column(Integer)
    # 21 CFR 11.70: SHA-256 binding the signature to what it signed (the casebook's audit
    # entries up to `audit_sequence`) and to its signer, time and meaning; None before 0015.
    content_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    signature_hash: Mapped[str | None] = mapped_column(String(64), default=None)
