"""Where the audit anchor lives: the signing key and the checkpoint log, outside the database.

* ``TRIALDESK_AUDIT_DIR``: default folder for both, by default ``trialdesk-audit`` *beside* the
  data directory (not inside it, so that copying or restoring the data directory leaves it alone);
* ``TRIALDESK_AUDIT_KEY_FILE``: the Ed25519 private key (PEM, 0600); its public key is the same
  path + ``.pub`` (enough to verify: give it to monitors and inspectors);
* ``TRIALDESK_AUDIT_CHECKPOINT_LOG``: the append-only checkpoint log (JSON Lines);
* ``TRIALDESK_AUDIT_CHECKPOINT_INTERVAL`` (seconds, 300) and ``TRIALDESK_AUDIT_CHECKPOINT_EVERY``
  (entries, 500): when the server writes a checkpoint (whichever comes first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trialdesk.store.config import data_dir

AUDIT_DIR_ENV = "TRIALDESK_AUDIT_DIR"
KEY_FILE_ENV = "TRIALDESK_AUDIT_KEY_FILE"
LOG_FILE_ENV = "TRIALDESK_AUDIT_CHECKPOINT_LOG"
INTERVAL_ENV = "TRIALDESK_AUDIT_CHECKPOINT_INTERVAL"
EVERY_ENV = "TRIALDESK_AUDIT_CHECKPOINT_EVERY"
KEY_NAME = "checkpoint-signing.key"
LOG_NAME = "checkpoints.jsonl"
RETIRED_DIR = "retired-keys"


@dataclass(frozen=True)
class AnchorConfig:
    key_file: Path
    log_file: Path
    interval_s: float = 300.0
    every_entries: int = 500

    @property
    def public_key_file(self) -> Path:
        return self.key_file.with_name(self.key_file.name + ".pub")

    @property
    def retired_dir(self) -> Path:
        """Public keys retired by rotation, kept so that older checkpoints still verify."""
        return self.key_file.parent / RETIRED_DIR

    @property
    def can_sign(self) -> bool:
        return self.key_file.is_file()

    @property
    def can_verify(self) -> bool:
        return self.key_file.is_file() or self.public_key_file.is_file()

    @property
    def has_retired_keys(self) -> bool:
        return self.retired_dir.is_dir() and any(self.retired_dir.glob("*.pub"))


def default_directory() -> Path:
    folder = os.environ.get(AUDIT_DIR_ENV, "").strip()
    if folder:
        return Path(folder)
    data = data_dir().absolute()
    return data.parent / "trialdesk-audit"


def anchor_config(directory: Path | None = None) -> AnchorConfig:
    """The configuration from the environment (`directory` overrides ``TRIALDESK_AUDIT_DIR``)."""
    folder = directory or default_directory()
    key = os.environ.get(KEY_FILE_ENV, "").strip() if directory is None else ""
    log = os.environ.get(LOG_FILE_ENV, "").strip() if directory is None else ""
    return AnchorConfig(
        Path(key) if key else folder / KEY_NAME,
        Path(log) if log else folder / LOG_NAME,
        _number(INTERVAL_ENV, 300.0),
        int(_number(EVERY_ENV, 500)),
    )


def _number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name}: must be positive, not {text}")
    return value
