"""Recording that the study database holds simulated data (read back by every output).

A database the simulator writes into is marked once, in the audit trail and in the same
transaction as the simulator's first record, so that reports and exports made from it later say
"simulated" without anyone having to remember to pass a flag (EU GMP Annex 11 §5 and ICH E6(R2)
4.9.0: data must be attributable to its source). See `trialdesk.store.provenance`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.uow import service
from trialdesk.store import audit
from trialdesk.store.enums import AuditAction
from trialdesk.store.models import Participant
from trialdesk.store.provenance import (
    IMPORT_TABLE,
    IMPORTED_HISTORY_TABLE,
    PROVENANCE_TABLE,
    SIMULATED_RECORD,
    imported_files,
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
        audit.NewEntry(
            user_id=actor.user_id,
            action=AuditAction.CREATE,
            table=PROVENANCE_TABLE,
            record_id=SIMULATED_RECORD,
            changes={"simulated": True, "description": text},
            reason="data written by the trialdesk simulator, not collected from people",
        ),
    )
    return text


@service
def data_provenance(session: Session, actor: Actor) -> str | None:
    """The simulator's description when the database holds simulated data, else None."""
    return simulated_description(session)


@service
def record_imported_provenance(
    session: Session,
    actor: Actor,
    *,
    file_oid: str,
    file_name: str,
    source_system: str,
    history: list[dict[str, str | None]],
) -> int:
    """Keep a foreign file's history as imported provenance, then the import itself (see
    `trialdesk.store.provenance`): one audit entry per foreign change, in order, with its
    original user, time and reason in the entry and the importing user as the entry's user.
    Refuses a file (FileOID) already imported. Returns the number of history entries kept."""
    require(actor, Permission.WRITE_CLINICAL)
    oid = file_oid.strip()
    if not oid:
        raise ValidationProblem("FileOID", "the file has no FileOID to record the import under")
    if oid in imported_files(session):
        file, _sequence = imported_files(session)[oid]
        raise RuleViolation(
            "already_imported",
            f"the file with FileOID {oid} was already imported (as {file}); nothing was imported",
            conflict=True,
        )
    subjects = {str(c.get("subject")) for c in history}
    where = {
        p.study_id: (p.id, p.site_id)
        for p in session.scalars(select(Participant).where(Participant.study_id.in_(subjects)))
    }
    for number, change in enumerate(history, start=1):
        participant_id, site_id = where.get(str(change.get("subject")), (None, None))
        audit.append(
            session,
            audit.NewEntry(
                user_id=actor.user_id,
                action=AuditAction.CREATE,
                table=IMPORTED_HISTORY_TABLE,
                record_id=number,
                changes=change,
                reason=f"imported from {file_name} ({source_system or 'unknown source system'}): "
                f"{change.get('action', '')} by {change.get('user', '')} "
                f"at {change.get('when', '')}",
                site_id=site_id,
                participant_id=participant_id,
            ),
        )
    audit.append(
        session,
        audit.NewEntry(
            user_id=actor.user_id,
            action=AuditAction.CREATE,
            table=IMPORT_TABLE,
            record_id=oid[:64],
            changes={
                "file_oid": oid,
                "file": file_name,
                "source_system": source_system,
                "history": len(history),
            },
            reason=f"import of {file_name}",
        ),
    )
    return len(history)
