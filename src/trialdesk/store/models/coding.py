"""Medical coding (issue 14): the dictionary releases a sponsor loaded, their terms, the study's
synonym list, and the coding of each adverse event term and medication.

A release is kept whole (``meddra_terms`` / ``drug_terms``: one row per LLT with its primary
path, one per drug name), so a coding can always be traced to the release it was made from and
an upgrade can be compared with it. A coding is a clinical record (versioned, audited); a new
coding supersedes the old one, which is kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import SHORT, Base, ClinicalRecord, Timestamped, enum_type
from trialdesk.store.enums import CodingMethod, CodingStatus, DictionaryKind
from trialdesk.store.types import UTCDateTime


class CodingDictionary(Timestamped, Base):
    """One loaded release: which dictionary, which version, who loaded it, a hash of its files."""

    __tablename__ = "coding_dictionaries"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[DictionaryKind] = mapped_column(enum_type(DictionaryKind, "dictionary_kind"))
    version: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(SHORT)
    content_sha256: Mapped[str] = mapped_column(String(64))
    term_count: Mapped[int] = mapped_column(Integer)
    loaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeddraTermRow(Base):
    """An LLT of a release with its PT and primary path (HLT, HLGT, SOC)."""

    __tablename__ = "meddra_terms"
    __table_args__ = (
        UniqueConstraint("dictionary_id", "llt_code"),
        Index("ix_meddra_terms_key", "dictionary_id", "llt_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dictionary_id: Mapped[int] = mapped_column(ForeignKey("coding_dictionaries.id"))
    llt_code: Mapped[int] = mapped_column(Integer)
    llt_name: Mapped[str] = mapped_column(SHORT)
    llt_key: Mapped[str] = mapped_column(SHORT)
    llt_current: Mapped[bool] = mapped_column(Boolean)
    pt_code: Mapped[int] = mapped_column(Integer)
    pt_name: Mapped[str] = mapped_column(SHORT)
    hlt_code: Mapped[int] = mapped_column(Integer)
    hlt_name: Mapped[str] = mapped_column(SHORT)
    hlgt_code: Mapped[int] = mapped_column(Integer)
    hlgt_name: Mapped[str] = mapped_column(SHORT)
    soc_code: Mapped[int] = mapped_column(Integer)
    soc_name: Mapped[str] = mapped_column(SHORT)
    soc_abbrev: Mapped[str] = mapped_column(String(10))


class DrugTermRow(Base):
    """A drug name of a release with its ATC class."""

    __tablename__ = "drug_terms"
    __table_args__ = (
        UniqueConstraint("dictionary_id", "drug_code"),
        Index("ix_drug_terms_key", "dictionary_id", "drug_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dictionary_id: Mapped[int] = mapped_column(ForeignKey("coding_dictionaries.id"))
    drug_code: Mapped[str] = mapped_column(String(20))
    drug_name: Mapped[str] = mapped_column(SHORT)
    drug_key: Mapped[str] = mapped_column(SHORT)
    atc_code: Mapped[str] = mapped_column(String(7))
    atc_text: Mapped[str] = mapped_column(SHORT)


class CodingSynonym(Timestamped, Base):
    """The study's synonym list: a verbatim (normalised) a coder coded by hand, and its code,
    used by autocoding when no term of the dictionary has that name."""

    __tablename__ = "coding_synonyms"
    __table_args__ = (UniqueConstraint("kind", "verbatim_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[DictionaryKind] = mapped_column(enum_type(DictionaryKind, "dictionary_kind"))
    verbatim_key: Mapped[str] = mapped_column(SHORT)
    code: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)


class CodingAssignment(ClinicalRecord, Base):
    """The coding of one verbatim: an adverse event's term (MedDRA) or a medication's name
    (drug dictionary). Only one per record is in force (status current or needs_review)."""

    __tablename__ = "coding_assignments"
    __table_args__ = (Index("ix_coding_assignments_target", "target_table", "target_id"),)

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    target_table: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int] = mapped_column(Integer)
    verbatim: Mapped[str] = mapped_column(SHORT)
    dictionary_id: Mapped[int] = mapped_column(ForeignKey("coding_dictionaries.id"))
    dictionary_version: Mapped[str] = mapped_column(String(40))
    method: Mapped[CodingMethod] = mapped_column(enum_type(CodingMethod, "coding_method"))
    status: Mapped[CodingStatus] = mapped_column(enum_type(CodingStatus, "coding_status"))
    review_reason: Mapped[str | None] = mapped_column(Text, default=None)
    coded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    coded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    llt_code: Mapped[int | None] = mapped_column(Integer, default=None)
    llt_name: Mapped[str | None] = mapped_column(SHORT, default=None)
    pt_code: Mapped[int | None] = mapped_column(Integer, default=None)
    pt_name: Mapped[str | None] = mapped_column(SHORT, default=None)
    hlt_code: Mapped[int | None] = mapped_column(Integer, default=None)
    hlt_name: Mapped[str | None] = mapped_column(SHORT, default=None)
    hlgt_code: Mapped[int | None] = mapped_column(Integer, default=None)
    hlgt_name: Mapped[str | None] = mapped_column(SHORT, default=None)
    soc_code: Mapped[int | None] = mapped_column(Integer, default=None)
    soc_name: Mapped[str | None] = mapped_column(SHORT, default=None)
    drug_code: Mapped[str | None] = mapped_column(String(20), default=None)
    drug_name: Mapped[str | None] = mapped_column(SHORT, default=None)
    atc_code: Mapped[str | None] = mapped_column(String(7), default=None)
    atc_text: Mapped[str | None] = mapped_column(SHORT, default=None)
