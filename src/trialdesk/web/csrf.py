"""Cross-site request forgery protection: the signed double-submit token.

Every browser gets a random nonce in an HttpOnly cookie; every form carries a token that is the
nonce signed (HMAC-SHA1 via itsdangerous, with a timestamp) together with a binding to the login
session. A state-changing request is accepted only when the submitted token's signature is valid,
it is younger than `max_age`, its nonce equals the cookie's, and its session binding matches the
session the request comes with (OWASP CSRF Prevention Cheat Sheet, "Signed Double-Submit Cookie").
An attacker's page can make the browser send the cookie but can neither read it nor forge a
signature, and a token lifted from one session is useless in another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CSRF_COOKIE = "trialdesk_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
DEFAULT_MAX_AGE_S = 12 * 3600  # longer than a session (8 h): a form never outlives its login
_TOKEN_PARTS = 2  # a token signs [nonce, login binding]


def session_binding(session_token: str | None) -> str:
    """A short digest of the session secret (never the secret itself) or "" when logged out."""
    if not session_token:
        return ""
    return hashlib.sha256(session_token.encode("utf-8")).hexdigest()[:24]


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class CsrfFailure:
    """Why a token was refused (shown on the 403 page; says nothing secret)."""

    reason: str


class CsrfSigner:
    """Makes and checks tokens with the application's secret key."""

    def __init__(self, secret_key: str, max_age_s: int = DEFAULT_MAX_AGE_S) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="trialdesk.web.csrf")
        self.max_age_s = max_age_s

    def token(self, nonce: str, binding: str) -> str:
        return self._serializer.dumps([nonce, binding])

    def check(
        self, cookie_nonce: str | None, submitted: str | None, binding: str
    ) -> CsrfFailure | None:
        """None when the token is good, else the reason it is not."""
        if not cookie_nonce:
            return CsrfFailure("the browser sent no CSRF cookie (are cookies blocked?)")
        if not submitted:
            return CsrfFailure("the form carried no CSRF token")
        payload = self._payload(submitted)
        if isinstance(payload, CsrfFailure):
            return payload
        return _matches(payload, cookie_nonce, binding)

    def _payload(self, submitted: str) -> tuple[str, str] | CsrfFailure:
        """The (nonce, binding) a signed, unexpired token carries, else why it does not."""
        try:
            payload = self._serializer.loads(submitted, max_age=self.max_age_s)
        except SignatureExpired:
            return CsrfFailure("the form is too old; reload the page and submit it again")
        except BadSignature:
            return CsrfFailure("the CSRF token was not issued by this server")
        if not (isinstance(payload, list) and len(payload) == _TOKEN_PARTS):
            return CsrfFailure("the CSRF token is malformed")
        nonce, token_binding = (str(part) for part in payload)
        return nonce, token_binding


def _matches(payload: tuple[str, str], cookie_nonce: str, binding: str) -> CsrfFailure | None:
    """None when the token's nonce and login binding are this browser's, else the reason."""
    nonce, token_binding = payload
    if not hmac.compare_digest(nonce, cookie_nonce):
        return CsrfFailure("the CSRF token does not belong to this browser")
    if not hmac.compare_digest(token_binding, binding):
        return CsrfFailure(
            "the form was opened in another login session; reload the page and submit again"
        )
    return None
