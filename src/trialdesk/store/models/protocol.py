"""The protocol versions the study runs under (configuration management, issue 18).

ICH E6(R2) 8.2.2 / 8.3.2 list the protocol and each signed amendment among the essential
documents; 21 CFR 11.10(k) asks for control of system documentation. The study database keeps
the full YAML text of every version it has run under, its SHA-256, the date it takes effect and
the consent-form version it requires, so that the server and every command judge data under the
same protocol and a screening is judged under the version in force on its date.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trialdesk.store.base import Base, ClinicalRecord


class ProtocolVersion(ClinicalRecord, Base):
    """One version of the protocol: the original (the study set-up) or an amendment."""

    __tablename__ = "protocol_versions"

    protocol_id: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(20), unique=True)
    effective_on: Mapped[date] = mapped_column(Date)
    summary_of_changes: Mapped[str] = mapped_column(Text)
    yaml_text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    consent_form_version: Mapped[str] = mapped_column(String(50))
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
