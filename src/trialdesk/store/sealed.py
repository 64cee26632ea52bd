"""TOTP shared secrets encrypted at rest, with a key kept outside the database (issue #18).

An RFC 6238 secret must be readable to check a code, so it cannot be hashed like a password;
stored in clear, whoever reads the ``users`` table (a backup, a database administrator) could
generate every user's codes and the second factor would be void (NIST SP 800-63B §5.1.4.2:
OTP secrets "SHALL be protected"; §5.2.7). So the column holds a Fernet token (AES-128-CBC +
HMAC-SHA256, `cryptography.fernet`) prefixed ``fernet1:``; the key is never in the database:

* ``TRIALDESK_TOTP_KEY``: the key itself (urlsafe base64, 32 bytes), for container secrets;
* else ``TRIALDESK_TOTP_KEY_FILE``;
* else ``totp-secrets.key`` in the audit anchor's folder (``TRIALDESK_AUDIT_DIR``, by default
  ``trialdesk-audit`` beside the data directory), created 0600 by ``trialdesk security keygen``.

Without the key nobody can enrol or check a code: `SecretKeyMissing` says which settings were
looked at. Migration 0011 encrypts the secrets stored in clear before it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from trialdesk.store.anchor.config import default_directory

KEY_ENV = "TRIALDESK_TOTP_KEY"
KEY_FILE_ENV = "TRIALDESK_TOTP_KEY_FILE"
KEY_NAME = "totp-secrets.key"
PREFIX = "fernet1:"


class SecretKeyMissing(RuntimeError):
    """No key to encrypt or decrypt TOTP secrets; the message says where it was looked for."""


class SecretUnreadable(RuntimeError):
    """A stored secret that the configured key does not open (another key, or edited)."""


def key_file() -> Path:
    named = os.environ.get(KEY_FILE_ENV, "").strip()
    return Path(named) if named else default_directory() / KEY_NAME


def _fernet() -> Fernet:
    text = os.environ.get(KEY_ENV, "").strip()
    source = KEY_ENV
    if not text:
        path = key_file()
        source = str(path)
        try:
            text = path.read_text("ascii").strip()
        except FileNotFoundError:
            raise SecretKeyMissing(
                f"no key to encrypt TOTP secrets: {KEY_ENV} is not set and {path} does not "
                f"exist (run `trialdesk security keygen`, or set {KEY_FILE_ENV})"
            ) from None
        except OSError as exc:
            raise SecretKeyMissing(f"{path}: cannot read the TOTP key: {exc.strerror}") from None
    try:
        return Fernet(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise SecretKeyMissing(
            f"{source}: not a TOTP key (32 bytes, urlsafe base64; `trialdesk security keygen`)"
        ) from None


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(PREFIX)


def seal(secret: str) -> str:
    """`secret` encrypted for storage."""
    return PREFIX + _fernet().encrypt(secret.encode("ascii")).decode("ascii")


def unseal(stored: str) -> str:
    """The secret in clear; refuses a value stored in clear (migration 0011 sealed them all)."""
    if not is_sealed(stored):
        raise SecretUnreadable("a TOTP secret is stored unencrypted: run `trialdesk db upgrade`")
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretUnreadable(
            "a stored TOTP secret cannot be decrypted with the configured key (another key, "
            "or the value was edited): reset that user's second factor"
        ) from None


def generate_secret_key(path: Path | None = None) -> Path:
    """A new key file, mode 0600, never overwritten; returns its path."""
    target = path or key_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretKeyMissing(
            f"{target} already exists: a new key would make every stored TOTP secret unreadable"
        ) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return target
