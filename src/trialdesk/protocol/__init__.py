"""The protocol as code: registry record, criteria, schedule and outcomes (pure; YAML only)."""

from trialdesk.protocol.load import (
    BUILTIN_ID,
    Problem,
    ProtocolError,
    builtin_protocol,
    catalogue_for,
    load_protocol,
    parse_protocol,
)
from trialdesk.protocol.model import (
    AssessedAt,
    Criterion,
    CriterionKind,
    Outcome,
    Protocol,
    Visit,
)

__all__ = [
    "BUILTIN_ID",
    "AssessedAt",
    "Criterion",
    "CriterionKind",
    "Outcome",
    "Problem",
    "Protocol",
    "ProtocolError",
    "Visit",
    "builtin_protocol",
    "catalogue_for",
    "load_protocol",
    "parse_protocol",
]
