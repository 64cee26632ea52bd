"""The dashboard page."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from trialdesk.services.audit_state import AuditStateView, audit_state, shows_audit_state
from trialdesk.web.dashboard import build_dashboard, prescreen_runs, screening_log
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.pages.coding import coding_counts
from trialdesk.web.pages.monitoring import record_status_counts
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)


@router.get("/dashboard")
def dashboard(request: Request, session: DB, user: CurrentUser) -> Response:
    audit = _audit_state(request, user)
    if not user.can("read_clinical"):
        # An administrator's role reads no clinical data (services.actor); say so plainly.
        return render(request, "dashboard_admin.html", {"audit": audit})
    return render(
        request,
        "dashboard.html",
        {
            "d": build_dashboard(session, user),
            "audit": audit,
            **record_status_counts(session, user),
            "coding": coding_counts(session, user),
        },
    )


def _audit_state(request: Request, user: WebUser) -> AuditStateView | None:
    """The audit anchor's state, for administrators and investigators (issue 18)."""
    if not shows_audit_state(user.actor):
        return None
    return audit_state(user.actor, request.app.state.anchor)


@router.get("/screening/log")
def full_screening_log(request: Request, session: DB, user: CurrentUser) -> Response:
    """Every candidate screened at the user's sites with the reasons for failure."""
    from trialdesk.services import list_screening_declines

    rows = screening_log(session, user)
    declines = list_screening_declines(session, user.actor)
    runs = prescreen_runs(session, user)
    return render(request, "screening_log.html", {"rows": rows, "declines": declines, "runs": runs})
