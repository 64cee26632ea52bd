"""Password hashing with Argon2id (argon2-cffi; RFC 9106 parameters by default).

Policy: at least 8 characters and at most 256 (NIST SP 800-63B, 5.1.1.2: memorized secrets of
at least 8 characters; allow long passphrases); no composition rules, per the same guideline.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from trialdesk.services.errors import ValidationProblem

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher()


def check_password_policy(password: str, field: str = "password") -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationProblem(
            field, f"must have at least {MIN_PASSWORD_LENGTH} characters", rule="weak_password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationProblem(
            field, f"must have at most {MAX_PASSWORD_LENGTH} characters", rule="invalid_value"
        )


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
