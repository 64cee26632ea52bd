"""The audit history, one click from every record: who changed what, when (in the site's time
zone; stored in UTC), from which value to which with units, and why (21 CFR 11.10(e);
ICH E6(R2) 4.9.0). The participant's history filters by form, field, user and date range.
Read-only; the services decide who may read it (not statisticians, who see de-identified data
only)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response

from trialdesk.services import get_participant, participant_history, record_history
from trialdesk.services.audit_text import ReadableEntry, readable_history
from trialdesk.services.labels import RECORD_LABELS, field_label, record_label
from trialdesk.services.paging import Page as Paging
from trialdesk.services.records import AuditTrailFilter
from trialdesk.services.sites import user_display_names
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.routing import WebRoute
from trialdesk.web.templating import render

_MAX_ID_DIGITS = 9
"""Longest user id typed into the filter that is still looked up (fits a 32-bit integer)."""

router = APIRouter(route_class=WebRoute)

PAGE_SIZE = 100
# The forms a participant's history can be narrowed to (record kinds that belong to one).
FORMS = (
    "participants",
    "consents",
    "screenings",
    "enrollments",
    "visits",
    "measurements",
    "itt_tests",
    "insulin_doses",
    "ogld_doses",
    "transplantations",
    "adverse_events",
    "protocol_deviations",
    "data_queries",
    "signatures",
)
FIELDS = (
    "visit_date",
    "value_as_entered",
    "unit_as_entered",
    "value",
    "status",
    "severity",
    "category",
    "explanation",
    "description",
    "grade",
    "serious",
    "dose_cells_per_kg",
    "weight_kg",
    "voided",
    "notes",
)


def _zone(request: Request) -> str:
    return str(getattr(request.state, "site_zone", "UTC"))


@router.get("/audit/{table}/{record_id}")
def history(
    request: Request, session: DB, user: CurrentUser, table: str, record_id: int
) -> Response:
    entries = readable_history(
        session, record_history(session, user.actor, table, record_id), _zone(request)
    )
    title = f"Audit history of the {record_label(table)}"
    if entries:
        title = f"Audit history of {entries[0].record}"
    return render(request, "audit.html", _context(title, entries) | {"page": 1, "pages": 1})


def _context(title: str, entries: list[ReadableEntry]) -> dict[str, Any]:
    return {"title": title, "entries": entries, "base": None, "filters": None}


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _bound(day: date | None, zone: str, *, end: bool) -> datetime | None:
    """Midnight of `day` in the site's zone (the next midnight for the end of a range)."""
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1 if end else 0), time(), ZoneInfo(zone))


@router.get("/participants/{pid}/audit")
def participant_audit(
    request: Request, session: DB, user: CurrentUser, pid: int, page: int = 1
) -> Response:
    participant = get_participant(session, user.actor, pid)
    q = request.query_params
    chosen = {k: q.get(k, "") for k in ("form", "field", "user", "from", "to")}
    errors = {
        k: "is not a date (YYYY-MM-DD)" for k in ("from", "to") if chosen[k] and not _day(chosen[k])
    }
    zone = _zone(request)
    page = max(page, 1)
    listing = participant_history(
        session,
        user.actor,
        pid,
        where=AuditTrailFilter(
            table=chosen["form"] if chosen["form"] in FORMS else None,
            field=chosen["field"] if chosen["field"] in FIELDS else None,
            user_id=int(chosen["user"])
            if chosen["user"].isdigit() and len(chosen["user"]) <= _MAX_ID_DIGITS
            else None,
            since=_bound(_day(chosen["from"]), zone, end=False),
            until=_bound(_day(chosen["to"]), zone, end=True),
        ),
        page=Paging(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE),
    )
    query = urlencode({k: v for k, v in chosen.items() if v})
    users = sorted(user_display_names(session).items(), key=lambda kv: kv[1])
    return render(
        request,
        "audit.html",
        {
            "title": f"Audit history of {participant.study_id}",
            "entries": readable_history(session, listing.items, zone),
            "page": page,
            "pages": max(1, -(-listing.total // PAGE_SIZE)),
            "base": f"/participants/{pid}/audit?{query}{'&' if query else ''}",
            "participant": participant,
            "filters": {
                "chosen": chosen,
                "errors": errors,
                "total": listing.total,
                "forms": [(t, RECORD_LABELS[t].capitalize()) for t in FORMS],
                "fields": [(f, field_label(f).capitalize()) for f in FIELDS],
                "users": [(str(uid), name) for uid, name in users],
            },
        },
    )
