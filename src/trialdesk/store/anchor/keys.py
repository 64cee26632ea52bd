"""The checkpoint signing key: Ed25519 (RFC 8032) through `cryptography`, never in the database.

The private key is a PKCS#8 PEM file created with mode 0600 and never overwritten (a new key
would orphan every checkpoint signed with the old one); its public key sits beside it
(``.pub``, SubjectPublicKeyInfo PEM) so that a monitor can verify without being able to sign.
The key id is the first 16 hex digits of the SHA-256 of the raw public key.

A key is replaced only by rotation (`trialdesk.store.anchor.rotation`): the retired public keys
are kept in ``retired-keys/<key id>.pub`` beside the key, and together with the current one form
the *key ring* a verifier trusts as the start of the log's chain of keys.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trialdesk.store.anchor.config import AnchorConfig


class AnchorKeyError(RuntimeError):
    """A key that is missing, unreadable or of the wrong kind; the message names the file."""


def generate_key(config: AnchorConfig) -> str:
    """Write a new key pair (private 0600, public 0644); returns the key id. Never overwrites."""
    config.key_file.parent.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    write_private_key(config.key_file, private)
    write_public_key(config.public_key_file, private.public_key())
    return key_id(private.public_key())


def write_private_key(path: Path, private: Ed25519PrivateKey) -> None:
    """`private` as PKCS#8 PEM in a new file, mode 0600, flushed to disk; never overwrites."""
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AnchorKeyError(
            f"{path} already exists: a new key would orphan the checkpoints signed "
            "with it (move it away yourself if that is really intended)"
        ) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def write_public_key(path: Path, public: Ed25519PublicKey) -> None:
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path.write_bytes(pem)
    path.chmod(0o644)


def raw_public_key(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_key(public)).hexdigest()[:16]


def load_signing_key(config: AnchorConfig) -> Ed25519PrivateKey:
    path = config.key_file
    if not path.is_file():
        raise AnchorKeyError(
            f"no checkpoint signing key at {path}: run `trialdesk audit keygen` "
            "(or set TRIALDESK_AUDIT_KEY_FILE)"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AnchorKeyError(f"{path}: not a readable PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorKeyError(f"{path}: not an Ed25519 key")
    return key


def load_verifying_key(config: AnchorConfig) -> Ed25519PublicKey:
    """The public key: from the private key file when readable, else from the ``.pub`` file."""
    if config.key_file.is_file() and os.access(config.key_file, os.R_OK):
        return load_signing_key(config).public_key()
    path = config.public_key_file
    if not path.is_file():
        raise AnchorKeyError(
            f"no checkpoint key at {config.key_file} nor {path}: run `trialdesk audit keygen` "
            "(or set TRIALDESK_AUDIT_KEY_FILE)"
        )
    return load_public_key(path)


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise AnchorKeyError(f"{path}: not a readable PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorKeyError(f"{path}: not an Ed25519 public key")
    return key


KeyRing = dict[str, Ed25519PublicKey]


def key_ring(config: AnchorConfig) -> KeyRing:
    """The keys a verifier trusts to start the log: the current one and every retired one."""
    ring: KeyRing = {}
    if config.can_verify:
        current = load_verifying_key(config)
        ring[key_id(current)] = current
    if config.retired_dir.is_dir():
        for path in sorted(config.retired_dir.glob("*.pub")):
            public = load_public_key(path)
            ring[key_id(public)] = public
    return ring


def signature_valid(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
