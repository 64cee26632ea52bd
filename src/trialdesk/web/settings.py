"""Settings of the web pages, read from the environment (or given explicitly in tests)."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass

log = logging.getLogger("trialdesk.web")

SECRET_KEY_ENV = "TRIALDESK_SECRET_KEY"
COOKIE_SECURE_ENV = "TRIALDESK_COOKIE_SECURE"
MIN_SECRET_LENGTH = 32


_PROCESS_KEY: list[str] = []


def _process_key() -> str:
    """One random key per process (warned about once)."""
    if not _PROCESS_KEY:
        log.warning(
            "%s is not set: using a random key for this process (open forms must be reloaded "
            "after a restart; set it when running several workers)",
            SECRET_KEY_ENV,
        )
        _PROCESS_KEY.append(secrets.token_urlsafe(48))
    return _PROCESS_KEY[0]


@dataclass(frozen=True)
class WebSettings:
    """What the web pages need besides the database.

    secret_key: signs the CSRF tokens (`TRIALDESK_SECRET_KEY`, at least 32 characters). Without
        it a random key is made per process: forms opened before a restart must then be
        reloaded, and several worker processes would refuse each other's forms, so set it in
        production. Login sessions are server-side and do not depend on it.
    cookie_secure: mark cookies `Secure` even when the request arrived over plain HTTP (behind a
        TLS-terminating proxy; `TRIALDESK_COOKIE_SECURE=1`). Requests that arrive over HTTPS
        always get `Secure` cookies.
    """

    secret_key: str
    cookie_secure: bool = False

    def __post_init__(self) -> None:
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"{SECRET_KEY_ENV}: must have at least {MIN_SECRET_LENGTH} characters "
                f"(got {len(self.secret_key)}); e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'"
            )

    @classmethod
    def from_env(cls) -> WebSettings:
        key = os.environ.get(SECRET_KEY_ENV, "").strip() or _process_key()
        secure = os.environ.get(COOKIE_SECURE_ENV, "0").strip().lower() in {"1", "true", "yes"}
        return cls(secret_key=key, cookie_secure=secure)
