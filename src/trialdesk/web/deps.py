"""Request dependencies of the web pages: a database session and the logged-in user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from trialdesk.services.accounts import resolve_token
from trialdesk.services.errors import Unauthenticated
from trialdesk.services.sites import site_time_zone
from trialdesk.web.routing import SESSION_COOKIE, LoginRequired, WebUser, refuse_writes


async def db_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; every service call commits or rolls back its own work.

    ``async``: no thread hop for making or closing a session (see `trialdesk.api.deps`).
    """
    session = request.app.state.sessions()
    refuse_writes(session, request)  # a form replayed after a CSRF refusal saves nothing
    try:
        yield session
    finally:
        session.close()


DB = Annotated[Session, Depends(db_session)]


def logged_in_user(request: Request, session: DB) -> WebUser:
    """The user of the session cookie; `LoginRequired` (→ login page) when absent or expired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired()
    try:
        actor = resolve_token(session, token)
    except Unauthenticated as exc:
        raise LoginRequired(exc.message) from None
    user = WebUser(actor, token)
    request.state.web_user = user
    # For the display filters: the site's time zone, and staff names looked up when first needed.
    request.state.site_zone = site_time_zone(session, actor)
    request.state.db_session = session
    return user


CurrentUser = Annotated[WebUser, Depends(logged_in_user)]
