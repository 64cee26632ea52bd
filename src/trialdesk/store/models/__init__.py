"""ORM models of the study database (SQLAlchemy 2 typed declarative)."""

from trialdesk.store.models.accounts import ApiToken, Site, SiteMembership, User, UserRole
from trialdesk.store.models.audit import GENESIS_HASH, AuditEntry, AuditHead
from trialdesk.store.models.clinical import (
    InsulinDose,
    IttSample,
    IttTest,
    Measurement,
    OgldDose,
    Transplantation,
    Visit,
)
from trialdesk.store.models.coding import (
    CodingAssignment,
    CodingDictionary,
    CodingSynonym,
    DrugTermRow,
    MeddraTermRow,
)
from trialdesk.store.models.forms import FormStatusRecord
from trialdesk.store.models.locks import DataLock
from trialdesk.store.models.monitoring import SdvMark
from trialdesk.store.models.participants import (
    Consent,
    Enrollment,
    Participant,
    ParticipantIdentity,
    Screening,
    Signature,
)
from trialdesk.store.models.prescreening import (
    CandidateWorkflow,
    PrescreenCandidate,
    PrescreenRun,
    PrescreenStatus,
)
from trialdesk.store.models.protocol import ProtocolVersion
from trialdesk.store.models.safety import AdverseEvent, DataQuery, ProtocolDeviation
from trialdesk.store.models.safety_reports import SafetyAssessment, SafetyReport
from trialdesk.store.models.screening_log import ScreeningDecline
from trialdesk.store.models.security import (
    LoginChallenge,
    PasswordHistory,
    RecoveryCode,
    SecurityPolicy,
)

__all__ = [
    "GENESIS_HASH",
    "AdverseEvent",
    "ApiToken",
    "AuditEntry",
    "AuditHead",
    "CandidateWorkflow",
    "CodingAssignment",
    "CodingDictionary",
    "CodingSynonym",
    "DrugTermRow",
    "MeddraTermRow",
    "Consent",
    "DataLock",
    "DataQuery",
    "Enrollment",
    "FormStatusRecord",
    "InsulinDose",
    "IttSample",
    "IttTest",
    "LoginChallenge",
    "Measurement",
    "OgldDose",
    "Participant",
    "PasswordHistory",
    "ParticipantIdentity",
    "PrescreenCandidate",
    "PrescreenRun",
    "PrescreenStatus",
    "ProtocolDeviation",
    "RecoveryCode",
    "ProtocolVersion",
    "SafetyAssessment",
    "SafetyReport",
    "Screening",
    "SecurityPolicy",
    "ScreeningDecline",
    "SdvMark",
    "Signature",
    "Site",
    "SiteMembership",
    "Transplantation",
    "User",
    "UserRole",
    "Visit",
]
