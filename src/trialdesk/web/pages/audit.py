"""The audit history, one click from every record: who changed what, when (UTC), from which
value to which, and why (21 CFR 11.10(e); ICH E6(R2) 4.9.0). Read-only; the services decide who
may read it (not statisticians, who see de-identified data only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from trialdesk.services import get_participant, participant_history, record_history
from trialdesk.services.views import AuditEntryView
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.routing import WebRoute
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)

PAGE_SIZE = 100


def change_rows(entry: AuditEntryView) -> list[tuple[str, str, str]]:
    """(field, old, new) per changed field; values that are not pairs show as "new"."""
    rows = []
    for name, change in entry.changes.items():
        if isinstance(change, list) and len(change) == 2:
            rows.append((name, _show(change[0]), _show(change[1])))
        else:
            rows.append((name, "", _show(change)))
    return rows


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@router.get("/audit/{table}/{record_id}")
def history(
    request: Request, session: DB, user: CurrentUser, table: str, record_id: int
) -> Response:
    entries = record_history(session, user.actor, table, record_id)
    return render(
        request,
        "audit.html",
        {
            "title": f"Audit history of {table.replace('_', ' ')} {record_id}",
            "entries": entries,
            "rows": {e.sequence: change_rows(e) for e in entries},
            "page": 1,
            "pages": 1,
            "base": None,
        },
    )


@router.get("/participants/{pid}/audit")
def participant_audit(
    request: Request, session: DB, user: CurrentUser, pid: int, page: int = 1
) -> Response:
    participant = get_participant(session, user.actor, pid)
    page = max(page, 1)
    listing = participant_history(
        session, user.actor, pid, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return render(
        request,
        "audit.html",
        {
            "title": f"Audit history of {participant.study_id}",
            "entries": listing.items,
            "rows": {e.sequence: change_rows(e) for e in listing.items},
            "page": page,
            "pages": max(1, -(-listing.total // PAGE_SIZE)),
            "base": f"/participants/{pid}/audit",
            "participant": participant,
        },
    )
