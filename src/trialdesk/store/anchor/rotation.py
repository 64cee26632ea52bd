"""Rotating the checkpoint signing key without breaking the log's chain of trust.

A signing key is retired when it may have been exposed, when its holder leaves, or on a
schedule (NIST SP 800-57 Part 1 Rev. 5 §5.3: cryptoperiods). The new
key must not orphan the checkpoints already signed, and an attacker must not be able to start
signing with a key of their own. So a rotation:

1. generates the new key pair in memory and writes its private key beside the current one
   (``<key>.next``, 0600), before anything is signed;
2. appends one ``key-rotation`` record to the log: a checkpoint of every entry since the last
   one, signed by the new key, carrying the new public key and the handover signed by the
   retiring key (`trialdesk.store.anchor.log`);
3. keeps the retiring public key in ``retired-keys/<key id>.pub`` (verifiers need it for the
   checkpoints before the rotation), removes the retiring private key, and moves the new one
   into place.

A crash between 2 and 3 leaves ``<key>.next``: the message of the next checkpoint names it.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.store.anchor.checkpoint import check_continues, new_entries, signed_state
from trialdesk.store.anchor.config import AnchorConfig
from trialdesk.store.anchor.keys import (
    AnchorKeyError,
    key_id,
    load_signing_key,
    raw_public_key,
    write_private_key,
    write_public_key,
)
from trialdesk.store.anchor.log import KEY_ROTATION, append_record, opened_log
from trialdesk.store.models.audit import AuditHead


@dataclass(frozen=True)
class RotationResult:
    old_key_id: str
    new_key_id: str
    number: int  # the key-rotation record's number in the log
    last_sequence: int  # the last entry it checkpoints

    def __str__(self) -> str:
        return (
            f"checkpoint signing key rotated: {self.old_key_id} → {self.new_key_id} (record "
            f"#{self.number} of the log, signed by both, checkpoints the trail to "
            f"#{self.last_sequence}); the old public key is kept to verify older checkpoints"
        )


def rotate_key(
    session: Session, config: AnchorConfig, *, reason: str, database: str
) -> RotationResult:
    """Hand the checkpoint log over to a new key (see module docstring)."""
    old = load_signing_key(config)
    new = Ed25519PrivateKey.generate()
    pending = pending_key_file(config)
    if pending.exists():
        raise AnchorKeyError(
            f"{pending} exists: an earlier rotation was interrupted. If the checkpoint log's "
            f"last record is a key-rotation to that key, move it to {config.key_file}; "
            "otherwise remove it, then rotate again"
        )
    write_private_key(pending, new)
    with opened_log(config, write=True) as handle:
        state = signed_state(handle, config, old)
        head = int(session.scalar(select(AuditHead.last_sequence)) or 0)
        check_continues(session, state, head)
        entries = new_entries(session, state, head) if head > state.last_sequence else []
        payload = {
            "kind": KEY_ROTATION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "reason": reason,
            "database": database,
            "first_sequence": state.last_sequence + 1,
            "last_sequence": head,
            "head_hash": entries[-1][0] if entries else state.head_hash,
            "entries": entries,
            "previous_key_id": key_id(old.public_key()),
            "public_key": base64.b64encode(raw_public_key(new.public_key())).decode("ascii"),
        }
        record = append_record(handle, state, new, payload, handover_from=old)
    _retire(config, old, new, pending)
    return RotationResult(
        key_id(old.public_key()), key_id(new.public_key()), int(record["number"]), head
    )


def pending_key_file(config: AnchorConfig) -> Path:
    return config.key_file.with_name(config.key_file.name + ".next")


def _retire(
    config: AnchorConfig, old: Ed25519PrivateKey, new: Ed25519PrivateKey, pending: Path
) -> None:
    config.retired_dir.mkdir(parents=True, exist_ok=True)
    retired = config.retired_dir / f"{key_id(old.public_key())}.pub"
    write_public_key(retired, old.public_key())
    # The retiring private key goes: the log refuses it from now on, and a key that no longer
    # exists cannot leak. os.replace is atomic: the key file is always one whole key.
    os.replace(pending, config.key_file)
    write_public_key(config.public_key_file, new.public_key())
