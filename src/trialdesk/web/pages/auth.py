"""Log in and log out. The session is a server-side token (`trialdesk.services.accounts`): the
cookie holds only its random secret, is HttpOnly (no script can read it), SameSite=Lax, Secure
over HTTPS, and expires with the session (8 hours); logging out revokes it in the database."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from trialdesk.services.accounts import login, revoke_token
from trialdesk.services.errors import TooManyAttempts, Unauthenticated
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.routing import SESSION_COOKIE, WebRoute, cookie_secure
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no "//" or backslash tricks)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/dashboard"
    if target.startswith(("/login", "/logout")):
        return "/dashboard"
    return target


@router.get("/", include_in_schema=False)
def home() -> Response:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "", expired: str = "") -> Response:  # noqa: A002
    return render(
        request,
        "login.html",
        {"next": safe_next(next), "username": "", "error": None, "expired": bool(expired)},
    )


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    session: DB,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002
) -> Response:
    try:
        issued = login(session, username.strip(), password)
    except Unauthenticated as exc:
        context = {
            "next": safe_next(next),
            "username": username,
            "error": _login_error(exc),
            "expired": False,
        }
        refused = render(request, "login.html", context, status_code=exc.status)
        if isinstance(exc, TooManyAttempts):  # 429: RFC 6585 §4
            refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        expires=issued.expires_at,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
    )
    return response


def _login_error(exc: Unauthenticated) -> str:
    if exc.rule in ("account_locked", "account_inactive"):
        return exc.message[0].upper() + exc.message[1:] + "."
    return "Unknown user name or wrong password."


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: DB, user: CurrentUser) -> Response:
    revoke_token(session, user.actor, user.session_token)
    response = RedirectResponse("/login?done=logged-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
