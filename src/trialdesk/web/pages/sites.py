"""Site settings for administrators: each site's IANA time zone (`services.sites`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services import (
    list_sites,
    set_site_time_zone,
)
from trialdesk.services.access import require
from trialdesk.services.actor import Permission
from trialdesk.services.errors import ServiceError
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.forms import given, read_form
from trialdesk.web.routing import WebRoute, WebUser
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)


# --- site settings ------------------------------------------------------------------------------


@router.get("/sites")
def site_settings(request: Request, session: DB, user: CurrentUser) -> Response:
    require(user.actor, Permission.MANAGE_USERS)
    return _sites_page(request, session, user, {}, {})


def _sites_page(
    request: Request,
    session: DB,
    user: WebUser,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status_code: int = 200,
) -> Response:
    from zoneinfo import available_timezones

    return render(
        request,
        "sites.html",
        {
            "sites": list_sites(session, user.actor),
            "zones": sorted(available_timezones() | {"UTC"}),
            "values": values,
            "errors": errors,
        },
        status_code=status_code,
    )


@router.post("/sites/{site_id}/time-zone")
async def save_time_zone(
    request: Request, session: DB, user: CurrentUser, site_id: int
) -> Response:
    form = await read_form(request)
    version = form.integer("version", required=True)
    if not form.errors:
        try:
            set_site_time_zone(
                session,
                user.actor,
                site_id,
                time_zone=form.values.get("time_zone", ""),
                expected_version=given(version),
                reason=form.values.get("reason", ""),
            )
            return RedirectResponse("/sites?done=saved", status_code=303)
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            form.refused(exc, {}, "time_zone")
    errors = {f"{k}-{site_id}": v for k, v in form.errors.items()}
    return _sites_page(request, session, user, form.values, errors, status_code=422)
