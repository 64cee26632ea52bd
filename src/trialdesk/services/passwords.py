"""Passwords: the policy a new password must meet, its reuse history, and Argon2id hashing.

Policy after NIST SP 800-63B §5.1.1.2 (memorized secrets): at least `min_length` characters (12
by default, never fewer), at most 256 (long passphrases are welcome), no composition rules;
refused when it is a common or breached-style password (the list shipped in
``services/data/common_passwords.txt``, also with digits or punctuation around it), repetitive
or sequential characters, or contains the user name. 21 CFR 11.300(b) and EU GMP Annex 11 §12
ask for periodically revised passwords that cannot be reused: the last N hashes are kept
(`trialdesk.store.models.PasswordHistory`) and a new password matching one is refused.
Hashing is Argon2id (argon2-cffi; RFC 9106 parameters by default).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from trialdesk.services.errors import ValidationProblem

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
MIN_DISTINCT_CHARACTERS = 4
"""Fewest different characters a password needs ("aaaa1111" repeats too few: NIST SP 800-63B
§5.1.1.2 asks verifiers to reject repetitive passwords)."""
_AROUND = re.compile(r"^[\d\W_]*(.*?)[\d\W_]*$")
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "01234567890")

_hasher = PasswordHasher()


@cache
def common_passwords() -> frozenset[str]:
    """The shipped blocklist (lower case)."""
    text = files("trialdesk.services").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_password_policy(
    password: str,
    field: str = "password",
    *,
    username: str | None = None,
    min_length: int = MIN_PASSWORD_LENGTH,
) -> None:
    """Refuse a password that breaks the policy: `ValidationProblem` naming the reason."""
    if not isinstance(password, str) or len(password) < max(min_length, MIN_PASSWORD_LENGTH):
        raise ValidationProblem(
            field,
            f"must have at least {max(min_length, MIN_PASSWORD_LENGTH)} characters "
            "(a few words make a good passphrase)",
            rule="weak_password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationProblem(
            field, f"must have at most {MAX_PASSWORD_LENGTH} characters", rule="invalid_value"
        )
    reason = _weakness(password, username)
    if reason:
        raise ValidationProblem(field, reason, rule="weak_password")


def _weakness(password: str, username: str | None) -> str | None:
    lowered = password.lower()
    core = _AROUND.sub(r"\1", lowered)
    if lowered in common_passwords() or core in common_passwords():
        return "is a commonly used password (found in breach lists): choose another"
    if username and username.lower() in lowered:
        return "must not contain the user name"
    if len(set(lowered)) < MIN_DISTINCT_CHARACTERS:
        return "repeats too few characters: choose a phrase of several words"
    if any(lowered in sequence or lowered in sequence[::-1] for sequence in _SEQUENCES):
        return "is a keyboard or alphabet sequence: choose a phrase of several words"
    return None


def reused(password: str, earlier_hashes: Iterable[str]) -> bool:
    """True when `password` matches one of the earlier hashes (the reuse history)."""
    return any(verify_password(h, password) for h in earlier_hashes)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def use_fast_hashing() -> None:
    """Cheap Argon2 parameters for test suites (never in production)."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
