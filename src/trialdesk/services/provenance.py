"""Recording that the study database holds simulated data (read back by every output).

A database the simulator writes into is marked once, in the audit trail and in the same
transaction as the simulator's first record, so that reports and exports made from it later say
"simulated" without anyone having to remember to pass a flag (EU GMP Annex 11 §5 and ICH E6(R2)
4.9.0: data must be attributable to its source). See `trialdesk.store.provenance`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from trialdesk.services.access import require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.uow import service
from trialdesk.store import audit
from trialdesk.store.enums import AuditAction
from trialdesk.store.provenance import (
    PROVENANCE_TABLE,
    SIMULATED_RECORD,
    simulated_description,
)


@service
def mark_simulated(session: Session, actor: Actor, description: str) -> str:
    """Mark the database as simulated (`description`: how, e.g. seed and assumed effect).

    Idempotent: a database already marked keeps its first description. There is no way to
    unmark it: once simulated records are in, no later data make the database real.
    """
    require(actor, Permission.WRITE_CLINICAL)
    text = " ".join(description.split())
    if not text:
        raise ValidationProblem("description", "say how the data were simulated (seed, effect)")
    existing = simulated_description(session)
    if existing is not None:
        return existing
    audit.append(
        session,
        user_id=actor.user_id,
        action=AuditAction.CREATE,
        table=PROVENANCE_TABLE,
        record_id=SIMULATED_RECORD,
        changes={"simulated": True, "description": text},
        reason="data written by the trialdesk simulator, not collected from people",
    )
    return text


@service
def data_provenance(session: Session, actor: Actor) -> str | None:
    """The simulator's description when the database holds simulated data, else None."""
    return simulated_description(session)
