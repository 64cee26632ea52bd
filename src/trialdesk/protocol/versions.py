"""A registered protocol version as the exports see it (pure: no database).

The study database keeps every version (`trialdesk.store.models.ProtocolVersion`); exports
carry them: SDTM TS (``PROTVERS``/``AMENDNUM``), one ODM MetaDataVersion per version, FHIR
ResearchStudy version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ProtocolVersionInfo:
    label: str
    effective_on: date
    summary: str
    sha256: str
    consent_form_version: str
