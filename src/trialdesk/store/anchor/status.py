"""The audit anchor's state for people: last checkpoint, anchored or not, last verification.

The dashboard must show a broken trail loudly (21 CFR 11.10(e); EU GMP Annex 11 §9: audit
trails reviewed regularly), so the last verification and the last refused checkpoint are kept
in ``status.json`` beside the checkpoint log, written by whoever ran them (``audit verify``, the
API, the web page, the server's checkpoint thread). It lives outside the database because it
reports on the database; it is written only where the anchor folder already exists (``audit
keygen`` made it), never as a side effect in a folder nobody configured. It is a convenience for
people, not evidence: ``audit verify`` recomputes everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trialdesk.store.anchor.config import AnchorConfig
from trialdesk.store.anchor.keys import AnchorKeyError, key_ring
from trialdesk.store.anchor.log import opened_log, read_log

STATUS_NAME = "status.json"


@dataclass(frozen=True)
class Outcome:
    """A verification or a refused checkpoint: when, by whom, and what it said."""

    at: str
    ok: bool
    message: str
    by: str = ""
    first_sequence: int | None = None  # the first entry that differs (a failed verification)


@dataclass(frozen=True)
class AnchorStatus:
    anchored: bool  # a key to verify with is configured
    checkpoints: int
    last_checkpoint_at: str | None
    keys: str  # the chain of key ids, "a → b"
    log_problem: str | None  # the log itself does not verify
    last_verify: Outcome | None
    checkpoint_refused: Outcome | None


def _status_file(config: AnchorConfig) -> Path:
    return config.log_file.parent / STATUS_NAME


def _read(config: AnchorConfig) -> dict[str, Any]:
    try:
        data = json.loads(_status_file(config).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(config: AnchorConfig, name: str, outcome: Outcome | None) -> None:
    folder = config.log_file.parent
    if not folder.is_dir():
        return
    data = _read(config)
    data[name] = None if outcome is None else outcome.__dict__
    # Written whole to a temporary file, then renamed: a reader never sees half a file.
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".status-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(temporary, _status_file(config))


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_verification(config: AnchorConfig, outcome: Outcome) -> None:
    # The verification itself was returned to its caller; this note is best effort.
    with contextlib.suppress(OSError):
        _write(config, "last_verify", outcome)


def record_checkpoint_refused(config: AnchorConfig, outcome: Outcome | None) -> None:
    """A refused checkpoint (None: the last attempt succeeded, the refusal is over)."""
    with contextlib.suppress(OSError):
        if outcome is not None or _read(config).get("checkpoint_refused"):
            _write(config, "checkpoint_refused", outcome)


def _outcome(data: object) -> Outcome | None:
    if not isinstance(data, dict):
        return None
    try:
        return Outcome(**data)
    except TypeError:
        return None


@dataclass(frozen=True)
class _LogSummary:
    checkpoints: int = 0
    last_checkpoint_at: str | None = None
    keys: str = ""
    problem: str | None = None


# The log grows by a checkpoint every few minutes for years: reading and checking every
# signature on each dashboard view would grow with it, so the summary is kept per file version
# (path, size, modification time); an append changes the size and the log is read again.
_SUMMARIES: dict[tuple[str, int, int], _LogSummary] = {}


def _log_summary(config: AnchorConfig) -> _LogSummary:
    if not (config.can_verify and config.log_file.exists()):
        return _LogSummary()
    try:
        stat = config.log_file.stat()
        version = (str(config.log_file), stat.st_size, stat.st_mtime_ns)
        cached = _SUMMARIES.get(version)
        if cached is not None:
            return cached
        with opened_log(config, write=False) as handle:
            state = read_log(handle, key_ring(config), str(config.log_file))
    except (AnchorKeyError, OSError) as exc:
        return _LogSummary(problem=f"the checkpoint key or log cannot be read: {exc}")
    summary = _LogSummary(
        state.records, state.last_created_at, " → ".join(state.key_chain), state.problem
    )
    _SUMMARIES.clear()  # one log per server: only its latest version is worth keeping
    _SUMMARIES[version] = summary
    return summary


def anchor_status(config: AnchorConfig) -> AnchorStatus:
    """What the dashboard shows; reads the log (signatures checked), never the database."""
    saved = _read(config)
    log = _log_summary(config)
    return AnchorStatus(
        anchored=config.can_verify,
        checkpoints=log.checkpoints,
        last_checkpoint_at=log.last_checkpoint_at,
        keys=log.keys,
        log_problem=log.problem,
        last_verify=_outcome(saved.get("last_verify")),
        checkpoint_refused=_outcome(saved.get("checkpoint_refused")),
    )
