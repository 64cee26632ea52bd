"""Adding an unscheduled visit from the casebook (a date and a reason), then its visit page.

The visit is created by `trialdesk.services.add_unscheduled_visit` (the API's
``POST /participants/{id}/unscheduled-visits`` calls the same service); its page is the usual
visit page (`trialdesk.web.pages.visits`), which shows its own forms and no window.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import add_unscheduled_visit
from trialdesk.services.errors import ServiceError
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.forms import given, read_form
from trialdesk.web.pages.participants import casebook_page
from trialdesk.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

FIELDS = {"visit_date": "unscheduled_date", "reason": "unscheduled_reason"}


@router.post("/participants/{pid}/unscheduled-visits")
async def add_unscheduled(request: Request, session: DB, user: CurrentUser, pid: int) -> Response:
    form = await read_form(request)
    on = form.date("unscheduled_date", required=True)
    reason = form.text("unscheduled_reason", required=True, max_length=2000)
    if not form.errors:
        try:
            visit = add_unscheduled_visit(
                session, user.actor, pid, visit_date=given(on), reason=reason or ""
            )
            return RedirectResponse(
                f"/participants/{pid}/visits/{visit.code}?done=saved", status_code=303
            )
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, FIELDS, "unscheduled_reason")
    return casebook_page(
        request, session, user, pid, form.values, errors=form.errors, status_code=422
    )
