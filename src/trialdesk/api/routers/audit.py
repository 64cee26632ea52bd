"""The audit trail: the history of any record (who, when, old → new, why) and verification of
the hash chain."""

from __future__ import annotations

from fastapi import APIRouter, Request

from trialdesk.api.deps import ActorDep, SessionDep
from trialdesk.api.openapi import READ_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routing import EventLoopRoute, on_thread
from trialdesk.services.records import record_history, verify_audit_trail
from trialdesk.services.views import AuditEntryView, ChainReportView, Page

router = APIRouter(prefix="/audit", tags=["audit"], route_class=EventLoopRoute)


@router.get(
    "/verify",
    summary="Recompute the hash chain; names the first altered, removed or reordered entry",
    responses=READ_ERRORS,
)
@on_thread  # reads and hashes the whole trail
def get_verify(request: Request, session: SessionDep, actor: ActorDep) -> ChainReportView:
    """Against the signed checkpoints too when the server has the checkpoint key."""
    return verify_audit_trail(session, actor, anchor=getattr(request.app.state, "anchor", None))


@router.get(
    "/{table}/{record_id}",
    summary="Audit history of one record, oldest first",
    responses=READ_ERRORS,
)
def get_record_history(
    table: str, record_id: int, session: SessionDep, actor: ActorDep, page: PageDep
) -> Page[AuditEntryView]:
    """`table` is the record's table, e.g. measurements, adverse_events, participants."""
    return page_of(record_history(session, actor, table, record_id), page)
