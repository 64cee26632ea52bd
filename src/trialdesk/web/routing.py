"""What every web page goes through: CSRF check, security headers, login redirect, error pages.

`WebRoute` is the route class of the web router. Around each handler it

* gives the browser a CSRF nonce cookie if it has none, and refuses any POST whose token is not
  valid with 403 (see `trialdesk.web.csrf`). A signed-in user's form post with an expired or
  foreign token is not a dead end: the handler runs in *refused* mode, where its database
  session refuses every write (`refuse_writes`) and `read_form` reports the refusal as a form
  error, so the same form comes back (403) with what was typed and a fresh token;
* turns a missing or expired login into a redirect to the login page (303 for forms; htmx
  requests get ``HX-Redirect`` so the whole page moves, not a fragment);
* renders service refusals (`trialdesk.services.errors`) and HTTP errors as HTML pages with the
  rule and the reason, never a traceback;
* sets the security headers of HTML pages: a Content-Security-Policy with no inline script or
  style (htmx is served from /static), no framing, no MIME sniffing, no caching of clinical pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import event
from starlette.exceptions import HTTPException

from trialdesk.services.actor import Actor
from trialdesk.services.errors import ServiceError
from trialdesk.web.csrf import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfSigner,
    new_nonce,
    session_binding,
)

log = logging.getLogger("trialdesk.web")

SESSION_COOKIE = "trialdesk_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HTML_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class WebUser:
    """The logged-in user of this request."""

    actor: Actor
    session_token: str

    @property
    def username(self) -> str:
        return self.actor.username

    @property
    def roles(self) -> list[str]:
        return sorted(r.value for r in self.actor.roles)

    def can(self, permission: str) -> bool:
        from trialdesk.services.actor import Permission

        return self.actor.can(Permission(permission))


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signer(request: Request) -> CsrfSigner:
    return request.app.state.web_csrf  # type: ignore[no-any-return]


def csrf_token_for(request: Request) -> str:
    """The token to put in this page's forms (bound to the browser and the login session)."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce is None:
        nonce = request.cookies.get(CSRF_COOKIE) or new_nonce()
        request.state.csrf_nonce = nonce
    return signer(request).token(nonce, session_binding(request.cookies.get(SESSION_COOKIE)))


def current_web_user(request: Request) -> WebUser | None:
    return getattr(request.state, "web_user", None)


def cookie_secure(request: Request) -> bool:
    return bool(request.app.state.web_settings.cookie_secure or request.url.scheme == "https")


CSRF_REFUSED_MESSAGE = (
    "your session form expired or was opened in another login (CSRF check): nothing was saved; "
    "check the values below and save again"
)


def csrf_refusal(request: Request) -> str | None:
    """The CSRF refusal this request is replayed under (None: the token was good)."""
    return getattr(request.state, "csrf_refused", None)


def refuse_writes(session: Any, request: Request) -> None:
    """In refused mode nothing may be written: any flush of a change raises `CsrfRejected`."""
    reason = csrf_refusal(request)
    if reason is None:
        return

    def _refuse(flushing: Any, _context: Any, _instances: Any) -> None:
        if flushing.new or flushing.dirty or flushing.deleted:
            raise CsrfRejected(reason)

    event.listen(session, "before_flush", _refuse)


def _may_replay(request: Request) -> bool:
    """A browser form of a signed-in user (never the login form, whose failed attempts must
    be counted; never htmx, whose fragments have no form to re-render)."""
    content_type = request.headers.get("content-type", "")
    return (
        request.url.path != "/login"
        and bool(request.cookies.get(SESSION_COOKIE))
        and not request.headers.get("hx-request")
        and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    )


async def _replay_refused(
    request: Request,
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
    reason: str,
) -> Response:
    """Run the handler in refused mode; only a re-rendered form (4xx) is returned as is."""
    log.warning(
        "CSRF refusal on %s %s (form re-rendered): %s", request.method, request.url.path, reason
    )
    request.state.csrf_refused = reason
    try:
        response = await handler(request)
    except Exception:  # no form to show again (bad address, no login …): the plain refusal
        log.info("no form to re-render after the CSRF refusal on %s", request.url.path)
        raise CsrfRejected(reason) from None
    if (
        response.status_code < HTTPStatus.BAD_REQUEST
    ):  # the handler did not re-render a form: refuse plainly
        raise CsrfRejected(reason)
    response.status_code = 403
    return response


async def _check_csrf(request: Request) -> None:
    submitted = request.headers.get(CSRF_HEADER)
    if not submitted:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    failure = signer(request).check(
        request.cookies.get(CSRF_COOKIE),
        submitted,
        session_binding(request.cookies.get(SESSION_COOKIE)),
    )
    if failure is not None:
        raise CsrfRejected(failure.reason)


def _login_redirect(request: Request, reason: str) -> Response:
    target = request.url.path
    if request.method in SAFE_METHODS and request.url.query:
        target += "?" + request.url.query
    location = f"/login?next={quote(target, safe='')}"
    if reason:
        location += "&expired=1"
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def error_page(request: Request, status: int, title: str, message: str, rule: str = "") -> Response:
    from trialdesk.web.templating import render

    return render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message, "rule": rule},
        status_code=status,
    )


# The address parts of the pages, as the site calls them (never "path.pid").
_ADDRESS_PARTS = {
    "pid": "participant",
    "rid": "record",
    "mid": "measurement",
    "tid": "insulin tolerance test",
    "did": "deviation",
    "qid": "query",
    "site_id": "site",
    "record_id": "record",
    "id": "record",
    "page": "page number",
    "table": "kind of record",
}


def _address_problem(error: Mapping[str, Any]) -> str:
    """One unreadable part of an address or form, in words ("participant: must be a number")."""
    name = str(error.get("loc", ("", ""))[-1])
    part = _ADDRESS_PARTS.get(name, name.removesuffix("_id").replace("_", " "))
    kind = str(error.get("type", ""))
    if kind.startswith("int"):
        return f"the {part} in the address must be a whole number"
    if kind == "missing":
        return f"the {part} is missing from the address"
    return f"the {part} is not valid: {error.get('msg', '')}"


def page_message(exc: ServiceError) -> str:
    """A refusal in the site's words: a record the user cannot see is named by its kind, never
    by its table or id (the API keeps the service's message, which callers match on ids)."""
    from trialdesk.services.errors import NotFound
    from trialdesk.services.labels import record_label

    table = exc.context.get("table")
    if isinstance(exc, NotFound) and table:
        return (
            f"This {record_label(str(table))} does not exist, or it is at a site you do not "
            "work at."
        )
    return exc.message


_TITLES = {
    400: "The request could not be understood",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict with the current data",
    422: "The data were not accepted",
}


def _finish(request: Request, response: Response) -> Response:
    for name, value in HTML_HEADERS.items():
        response.headers.setdefault(name, value)
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and nonce != request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            httponly=True,
            samesite="lax",
            secure=cookie_secure(request),
            path="/",
        )
    return response


async def _checked(
    request: Request, handler: Callable[[Request], Coroutine[Any, Any, Response]]
) -> Response:
    """The handler's page once the CSRF check of a changing request passed; a refused form
    that can be shown again is re-rendered with the refusal (else CsrfRejected propagates)."""
    if request.method not in SAFE_METHODS:
        try:
            await _check_csrf(request)
        except CsrfRejected as exc:
            if not _may_replay(request):
                raise
            return await _replay_refused(request, handler, exc.reason)
    return await handler(request)


async def _run(
    request: Request, handler: Callable[[Request], Coroutine[Any, Any, Response]]
) -> Response:
    try:
        return await _checked(request, handler)
    except CsrfRejected as exc:
        log.warning("CSRF refusal on %s %s: %s", request.method, request.url.path, exc.reason)
        return error_page(
            request, 403, "Form refused (CSRF check)", exc.reason, "csrf_token_invalid"
        )
    except LoginRequired as exc:
        return _login_redirect(request, exc.reason)
    except ServiceError as exc:
        return error_page(
            request, exc.status, _TITLES.get(exc.status, "Refused"), page_message(exc)
        )
    except HTTPException as exc:
        return error_page(
            request, exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail)
        )
    except RequestValidationError as exc:  # e.g. /participants/abc: say which part is wrong
        problems = "; ".join(_address_problem(e) for e in exc.errors())
        return error_page(request, 422, "The address or form is not valid", problems)


class WebRoute(APIRoute):
    """The route class of every web page (see module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if request.cookies.get(CSRF_COOKIE) is None:
                request.state.csrf_nonce = new_nonce()
            response = await _run(request, original)
            return _finish(request, response)

        return handler
