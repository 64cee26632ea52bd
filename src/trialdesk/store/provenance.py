"""Whether the study database holds simulated data, read from its audit trail.

The simulator records it once, through `trialdesk.services.mark_simulated`, as an audit entry
on the pseudo-table ``study_provenance`` (no schema change: the audit trail is append-only and
hash-chained, so the mark can be neither removed nor altered without `audit verify` naming the
row). Every output built from the database (report, results JSON, SDTM TS, ODM, FHIR) reads it
here, so none can present simulated data as collected from people.
"""

from __future__ import annotations

import json
from typing import Any

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


# --- imported provenance (issue 15) ------------------------------------------------------------
#
# An import (`trialdesk import odm FILE`) writes its data through the services as the importing
# user, then replays the file's own history — every version of every item with the original
# user, time, reason, location and SourceID — as audit entries on the pseudo-table
# ``imported_history`` (one per foreign AuditRecord, in order, the importing user as the entry's
# user), and finally one entry on ``data_imports`` naming the file and its ODM FileOID. Kept in
# the hash-chained audit trail, the imported provenance can be neither altered nor removed
# without `audit verify` naming the row (21 CFR 11.10(e); ICH E6(R2) 4.9.0: attributable to
# its original source), and no schema change is needed.

IMPORT_TABLE = "data_imports"
IMPORTED_HISTORY_TABLE = "imported_history"


def imported_files(session: Session) -> dict[str, tuple[str, int]]:
    """FileOID → (file name, audit sequence) of every file imported into the database."""
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == IMPORT_TABLE)
        .order_by(AuditEntry.sequence)
    )
    files: dict[str, tuple[str, int]] = {}
    for row in rows:
        changes = json.loads(row.changes)
        files.setdefault(str(changes.get("file_oid")), (str(changes.get("file")), row.sequence))
    return files


def imported_history(session: Session) -> list[tuple[int, dict[str, Any]]]:
    """(audit sequence, the foreign change: subject, event, form, instance, item, value, user,
    when, reason, action, location, as_entered, source_id) of every imported history entry, in
    the order they were imported (= the order of the source's history)."""
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == IMPORTED_HISTORY_TABLE)
        .order_by(AuditEntry.sequence)
    )
    return [(row.sequence, json.loads(row.changes)) for row in rows]
