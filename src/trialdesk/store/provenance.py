"""Whether the study database holds simulated data, read from its audit trail.

The simulator records it once, through `trialdesk.services.mark_simulated`, as an audit entry
on the pseudo-table ``study_provenance`` (no schema change: the audit trail is append-only and
hash-chained, so the mark can be neither removed nor altered without `audit verify` naming the
row). Every output built from the database (report, results JSON, SDTM TS, ODM, FHIR) reads it
here, so none can present simulated data as collected from people.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.store.models import AuditEntry

PROVENANCE_TABLE = "study_provenance"
SIMULATED_RECORD = "simulated"


def simulated_description(session: Session) -> str | None:
    """The simulator's description of the data ("seed 2026, effect …"), or None when the
    database was never written by the simulator."""
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == PROVENANCE_TABLE)
        .where(AuditEntry.record_id == SIMULATED_RECORD)
        .order_by(AuditEntry.sequence)
        .limit(1)
    ).first()
    if entry is None:
        return None
    # A created entry's changes are the values written (field → value), as for any record.
    return str(json.loads(entry.changes).get("description") or "simulated data")
