"""Study sites: every user sees their own; administrators see and register all."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep, VersionDep, set_etag
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS, WRITE_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body, Change
from trialdesk.services.accounts import create_site, list_sites
from trialdesk.services.sites import set_site_time_zone
from trialdesk.services.views import Page, SiteView

router = APIRouter(prefix="/sites", tags=["sites"], route_class=EventLoopRoute)


class SiteCreate(Body):
    code: str = Field(description="2–10 capital letters or digits; prefixes study ids (APGH-001)")
    name: str
    city: str = ""
    country: str = ""


@router.get(
    "", summary="Sites (all for an administrator, else the user's own)", responses=READ_ERRORS
)
def get_sites(session: SessionDep, actor: ActorDep, page: PageDep) -> Page[SiteView]:
    return page_of(list_sites(session, actor), page)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a site (administrators)",
    responses=CREATE_ERRORS,
)
def post_site(body: SiteCreate, session: SessionDep, actor: ActorDep) -> SiteView:
    return create_site(session, actor, body.code, body.name, city=body.city, country=body.country)


class SiteTimeZone(Change):
    time_zone: str = Field(description="IANA time zone name, e.g. Asia/Shanghai (pages only)")


@router.patch(
    "/{site_id}/time-zone",
    summary="Set the time zone the site's pages show times in (administrators; If-Match; "
    "stored times and exports stay UTC)",
    responses=WRITE_ERRORS,
)
def patch_site_time_zone(
    *,
    site_id: int,
    body: SiteTimeZone,
    session: SessionDep,
    actor: ActorDep,
    version: VersionDep,
    response: Response,
) -> SiteView:
    view = set_site_time_zone(
        session,
        actor,
        site_id,
        time_zone=body.time_zone,
        expected_version=version,
        reason=body.reason or "",
    )
    set_etag(response, view.version)
    return view
