"""Refuse NUL characters (U+0000) anywhere in a request: path, query, JSON or form body.

PostgreSQL cannot store U+0000 in a text column (it raises an error, which became a 500), while
SQLite stores it silently; neither is acceptable for clinical data, and no real value contains
it. So every request carrying one is refused up front with 422 and the field named, on both
backends alike, before any service or database sees it (found by the schemathesis fuzz test,
issue 8). Binary multipart uploads are left alone: their content is not text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trialdesk.api.errors import error_response

NUL = "\x00"
_MAX_BUFFER = 16 * 1024 * 1024  # bodies larger than this are not inspected (no such endpoint)


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(dotted location, text) of every key and string inside a decoded JSON value."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", str(key)
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}.{index}")


def nul_field(scope: Scope, body: bytes) -> str | None:
    """Where the request carries a NUL character, or None."""
    if NUL in scope.get("path", ""):
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        found = _nul_in_pairs(query, "query")
        if found:
            return found
    if b"\\u0000" not in body and b"%00" not in body:
        return None
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"").decode("latin-1")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return _nul_in_pairs(body, "form")
    return _nul_in_json(body)


def _nul_in_pairs(encoded: bytes, part: str) -> str | None:
    """`part.key` of the first URL-encoded pair (query string or form) carrying a NUL, or None."""
    for key, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        if NUL in key or NUL in value:
            return f"{part}.{key.replace(NUL, '')}"
    return None


def _nul_in_json(body: bytes) -> str | None:
    """Where in a JSON body a string carries a NUL, or None (also when it is not JSON)."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return None  # not JSON: the request validation refuses it with its own message
    for where, text in _strings(decoded, "body"):
        if NUL in text:
            return where.replace(NUL, "")
    return None


class RejectNulMiddleware:
    """Pure ASGI: buffers the (small) request body, checks it, then replays it to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False) or len(body) > _MAX_BUFFER:
                break
        field = nul_field(scope, body) if len(body) <= _MAX_BUFFER else None
        if field is not None:
            response = error_response(
                422,
                "nul_character",
                f"{field}: contains a NUL character (U+0000), which no value may contain",
                field,
            )
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
