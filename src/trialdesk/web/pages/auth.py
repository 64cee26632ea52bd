"""Log in (password, then the second factor or the change of an initial password) and log out.

The session is a server-side token (`trialdesk.services.accounts`): the cookie holds only its
random secret, is HttpOnly (no script can read it), SameSite=Lax, Secure over HTTPS, and expires
with the session (8 hours, sooner after the policy's idle timeout); logging out revokes it in the
database. Between the password and the last step, a second HttpOnly cookie holds the login
challenge (`trialdesk.services.signin`, 10 minutes); no session exists until every step is done
(21 CFR 11.300; EU GMP Annex 11 §12.1; NIST SP 800-63B §4.2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from trialdesk.services.accounts import revoke_token
from trialdesk.services.errors import ServiceError, TooManyAttempts, Unauthenticated
from trialdesk.services.security_policy import policy_for_user
from trialdesk.services.signin import (
    CHALLENGE_LIFETIME,
    LoginStep,
    change_initial_password,
    confirm_totp_enrolment,
    login_progress,
    start_login,
    start_totp_enrolment,
    submit_code,
)
from trialdesk.services.views import IssuedToken
from trialdesk.store.models import User
from trialdesk.web.deps import DB, CurrentUser
from trialdesk.web.flash import with_note
from trialdesk.web.routing import SESSION_COOKIE, WebRoute, cookie_secure
from trialdesk.web.templating import render

router = APIRouter(route_class=WebRoute)

LOGIN_STEP_COOKIE = "trialdesk_login_step"
_TITLES = {
    "totp": "Authentication code",
    "change_password": "Choose your password",
    "enrol_totp": "Set up your authenticator",
    "recovery": "Your recovery codes",
}


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
def login_page(request: Request, next: str = "", expired: str = "") -> Response:  # noqa: A002  `next` is the field's name in the URL and form
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
    next: Annotated[str, Form()] = "",  # noqa: A002  `next` is the field's name in the URL and form
) -> Response:
    try:
        step = start_login(session, username.strip(), password)
    except Unauthenticated as exc:
        return _login_refused(request, exc, next, username)
    return _after(request, step, next)


def _login_refused(request: Request, exc: Unauthenticated, next_: str, username: str) -> Response:
    if exc.rule in ("login_step_unknown", "login_step_expired"):  # no or a dead challenge
        again = RedirectResponse(
            f"/login?next={quote(safe_next(next_), safe='')}&expired=1", status_code=303
        )
        again.delete_cookie(LOGIN_STEP_COOKIE, path="/login")
        return again
    context = {
        "next": safe_next(next_),
        "username": username,
        "error": _login_error(exc),
        "expired": False,
    }
    refused = render(request, "login.html", context, status_code=exc.status)
    if isinstance(exc, TooManyAttempts):  # 429: RFC 6585 §4
        refused.headers["Retry-After"] = str(exc.retry_after)
    refused.delete_cookie(LOGIN_STEP_COOKIE, path="/login")
    return refused


def _after(request: Request, step: LoginStep, next_: str) -> Response:
    """Where a login goes after a step: the next step's page, or in (session cookie)."""
    if step.token is not None:
        target = safe_next(next_)
        if step.password_notice:  # the password expires soon: said on the first page
            target = with_note(request, target, step.password_notice)
        response: Response = RedirectResponse(target, status_code=303)
        _start_session(request, response, step.token)
        return response
    response = RedirectResponse(
        f"/login/step?next={quote(safe_next(next_), safe='')}", status_code=303
    )
    if step.challenge:
        response.set_cookie(
            LOGIN_STEP_COOKIE,
            step.challenge,
            max_age=int(CHALLENGE_LIFETIME.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
            path="/login",
        )
    return response


def _start_session(request: Request, response: Response, issued: IssuedToken) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        expires=issued.expires_at,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_STEP_COOKIE, path="/login")


def _login_error(exc: Unauthenticated) -> str:
    if exc.rule in ("account_locked", "account_inactive"):
        return exc.message[0].upper() + exc.message[1:] + "."
    return "Unknown user name or wrong password."


def _challenge(request: Request) -> str:
    return request.cookies.get(LOGIN_STEP_COOKIE, "")


@router.get("/login/step", include_in_schema=False)
def step_page(request: Request, session: DB, next: str = "") -> Response:  # noqa: A002  `next` is the field's name in the URL and form
    try:
        progress = login_progress(session, _challenge(request))
        return _step_page(request, session, progress, next, None)
    except Unauthenticated as exc:
        return _login_refused(request, exc, next, "")


def _step_page(
    request: Request,
    session: DB,
    progress: LoginStep,
    next_: str,
    error: str | None,
    *,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "step": progress.next_step,
        "title": _TITLES.get(progress.next_step, "Log in"),
        "username": progress.username,
        "next": safe_next(next_),
        "error": error,
        "notice": progress.password_notice,
    }
    if progress.next_step == "enrol_totp":
        enrolment = start_totp_enrolment(session, _challenge(request))
        context |= {"secret": enrolment.secret, "uri": enrolment.uri, "qr_svg": _qr(enrolment.uri)}
    if progress.next_step == "change_password":
        user = session.scalars(select(User).where(User.username == progress.username)).one()
        context["min_length"] = policy_for_user(session, user).min_password_length
    return render(request, "login_step.html", context, status_code=status_code)


def _qr(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (segno, made here: no network, no script)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, light="#fff", title="QR code"))


def _step_refused(request: Request, session: DB, exc: ServiceError, next_: str) -> Response:
    """A wrong code or password: the same step again with the reason; a dead challenge or a
    lockout: back to the login form."""
    if isinstance(exc, Unauthenticated) and exc.rule not in ("invalid_code", "totp_code_reused"):
        return _login_refused(request, exc, next_, "")
    try:
        progress = login_progress(session, _challenge(request))
    except Unauthenticated as gone:
        return _login_refused(request, gone, next_, "")
    return _step_page(request, session, progress, next_, exc.message, status_code=exc.status)


def _take_step(
    request: Request, session: DB, next_: str, action: Callable[[str], LoginStep]
) -> Response:
    """One step of a login with the challenge of the cookie: the next page, or the same step
    again with the reason (one place for what every step does with a refusal)."""
    try:
        step = action(_challenge(request))
    except ServiceError as exc:
        return _step_refused(request, session, exc, next_)
    return _after(request, step, next_)


@router.post("/login/code", include_in_schema=False)
def code_submit(
    request: Request,
    session: DB,
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002  `next` is the field's name in the URL and form
) -> Response:
    return _take_step(
        request, session, next, lambda challenge: submit_code(session, challenge, code.strip())
    )


@router.post("/login/password", include_in_schema=False)
def password_submit(
    request: Request,
    session: DB,
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002  `next` is the field's name in the URL and form
) -> Response:
    if new_password != confirm_password:
        try:
            progress = login_progress(session, _challenge(request))
        except ServiceError as exc:
            return _step_refused(request, session, exc, next)
        differ = "The two new passwords differ."
        return _step_page(request, session, progress, next, differ, status_code=422)
    return _take_step(
        request,
        session,
        next,
        lambda challenge: change_initial_password(session, challenge, new_password),
    )


@router.post("/login/enrol", include_in_schema=False)
def enrol_submit(
    request: Request,
    session: DB,
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002  `next` is the field's name in the URL and form
) -> Response:
    try:
        step = confirm_totp_enrolment(session, _challenge(request), code.strip())
    except ServiceError as exc:
        return _step_refused(request, session, exc, next)
    if step.token is None:
        return _after(request, step, next)
    context = {
        "step": "recovery",
        "title": _TITLES["recovery"],
        "codes": step.recovery_codes,
        "next": safe_next(next),
        "username": step.username,
        "error": None,
    }
    response = render(request, "login_step.html", context)
    _start_session(request, response, step.token)
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: DB, user: CurrentUser) -> Response:
    revoke_token(session, user.actor, user.session_token)
    response = RedirectResponse("/login?done=logged-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
