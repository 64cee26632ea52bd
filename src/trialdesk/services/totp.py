"""Time-based one-time passwords (RFC 6238, via pyotp) and single-use recovery codes.

NIST SP 800-63B §5.1.4.1 (single-factor OTP device): a code is accepted within one time step
either side (±30 s of clock drift) and only once — a code whose time step is not later than the
last accepted one is refused, so an intercepted code cannot be replayed. Recovery codes are
random (60 bits each), shown once, and stored as SHA-256 digests only (like bearer tokens).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp

from trialdesk.services.errors import ServiceUnavailable
from trialdesk.store.sealed import SecretKeyMissing, SecretUnreadable, seal, unseal

ISSUER = "trialdesk"
DIGITS = 6
STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes


def sealed(secret: str) -> str:
    """`secret` encrypted for the database (`trialdesk.store.sealed`)."""
    try:
        return seal(secret)
    except SecretKeyMissing as exc:
        raise ServiceUnavailable("totp_key_missing", str(exc)) from None


def opened(stored: str) -> str:
    """A stored secret in clear, or a 503 naming the missing key (never a wrong-code answer:
    the user's code may be right, the server cannot tell)."""
    try:
        return unseal(stored)
    except SecretKeyMissing as exc:
        raise ServiceUnavailable("totp_key_missing", str(exc)) from None
    except SecretUnreadable as exc:
        raise ServiceUnavailable("totp_secret_unreadable", str(exc)) from None


@dataclass(frozen=True)
class TotpEnrolment:
    """What the user copies into an authenticator app: shown once."""

    secret: str  # base32, for typing in by hand
    uri: str  # otpauth://totp/...: what the QR code holds


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, RFC 4226 §4 recommendation


def enrolment(secret: str, username: str) -> TotpEnrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    return TotpEnrolment(secret=secret, uri=uri)


def matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step `code` belongs to (now ±1), or None; steps ≤ `last_step` never match."""
    cleaned = "".join(code.split())
    if len(cleaned) != DIGITS or not cleaned.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(at)
    for step in (now_step - 1, now_step, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), cleaned):
            return step
    return None


def was_replayed(secret: str, code: str, at: datetime, last_step: int | None) -> bool:
    """True when `code` is right but its time step was already used (a replay)."""
    return last_step is not None and matching_step(secret, code, at, None) is not None


def looks_like_totp(code: str) -> bool:
    cleaned = "".join(code.split())
    return len(cleaned) == DIGITS and cleaned.isdigit()


def new_recovery_codes() -> list[str]:
    return [
        "-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(3))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def recovery_digest(code: str) -> str:
    normalised = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normalised.encode("ascii", "ignore")).hexdigest()
