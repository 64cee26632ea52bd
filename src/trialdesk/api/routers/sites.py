"""Study sites: every user sees their own; administrators see and register all."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import Field

from trialdesk.api.deps import ActorDep, SessionDep
from trialdesk.api.openapi import CREATE_ERRORS, READ_ERRORS
from trialdesk.api.pagination import PageDep, page_of
from trialdesk.api.routing import EventLoopRoute
from trialdesk.api.schemas import Body
from trialdesk.services.accounts import create_site, list_sites
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
    return create_site(session, actor, body.code, body.name, body.city, body.country)
