"""Messages after a save that name what was saved and what it raised ("Haemoglobin A1c 8.1 %
saved for visit Month 3 (M3); raised query #4 on value: …").

The message travels in the redirect's address (Post/Redirect/Get, so a reload never re-posts),
signed with the application's secret and valid for ten minutes: a link made by someone else
cannot make a page say something the server did not say (OWASP "Content Spoofing"; the fixed
texts of `templating.FLASH` stay for messages that need no details).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

NOTE_PARAM = "note"
MAX_AGE_S = 600


def _serializer(request: Request) -> URLSafeTimedSerializer:
    secret = request.app.state.web_settings.secret_key
    return URLSafeTimedSerializer(secret, salt="trialdesk.web.flash")


def sentence(saved: Sequence[str], where: str, raised: Sequence[str]) -> str:
    """ "A and B saved for visit X." plus what the save raised, if anything."""
    items = list(saved)
    what = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    text = f"{what} saved{' for ' + where if where else ''}."
    if raised:
        text += " Raised: " + "; ".join(raised) + "."
    return text


def with_note(request: Request, path: str, text: str) -> str:
    """`path` with the signed message appended (before any #anchor)."""
    base, _, anchor = path.partition("#")
    joiner = "&" if "?" in base else "?"
    token = quote(_serializer(request).dumps(text), safe="")
    return f"{base}{joiner}{NOTE_PARAM}={token}" + (f"#{anchor}" if anchor else "")


def read_note(request: Request) -> str | None:
    token = request.query_params.get(NOTE_PARAM)
    if not token:
        return None
    try:
        text = _serializer(request).loads(token, max_age=MAX_AGE_S)
    except BadSignature:
        return None
    return text if isinstance(text, str) else None
