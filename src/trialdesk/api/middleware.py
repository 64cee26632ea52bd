"""Security headers on every answer.

The API returns pseudonymised clinical data: answers must not be cached by browsers or proxies
(`Cache-Control: no-store`, OWASP REST Security Cheat Sheet, "Security headers"), must not be
sniffed into another content type, framed or given a referrer, and the JSON answers may run no
script at all (`Content-Security-Policy: default-src 'none'`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The endpoint reference page has inline styles only, no script.
_DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


API_HEADERS: dict[str, str] = {
    name.decode(): value.decode()
    for name, value in (*_COMMON, (b"content-security-policy", _API_CSP.encode()))
}
"""The same headers as a dict, for answers written outside the middleware (the 500 handler runs
in Starlette's outermost error middleware)."""


class SecurityHeadersMiddleware:
    """Adds the headers unless a route set them itself (pure ASGI: streams pass through)."""

    def __init__(self, app: ASGIApp, docs_path: str) -> None:
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (_DOCS_CSP if scope["path"] == self.docs_path else _API_CSP).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in (*_COMMON, (b"content-security-policy", csp)):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
