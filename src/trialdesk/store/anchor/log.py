"""The checkpoint log: a JSON Lines file of signed records, each chained to the one before.

A record (one line) holds ``format``, ``kind`` (``checkpoint`` or ``restore``), ``number``
(1, 2, …), ``created_at``, ``reason``, ``database`` (its URL, password hidden), ``key_id``,
``previous`` (SHA-256 of the previous record's signed payload; 64 zeros for the first),
``first_sequence``/``last_sequence``/``head_hash`` and ``entries``: for every audit entry since
the previous checkpoint, ``[chain hash, content fingerprint, table, record id]``. ``signature``
is the Ed25519 signature of the canonical JSON of all other fields.

A ``restore`` record, written by ``trialdesk restore`` with the key, states that the database
was restored from a backup that ends at ``last_sequence`` and that the checkpointed entries
after it (up to ``lost_to``) are lost: verification reports it as a note instead of a rollback.

The file is only ever appended to, under an exclusive ``flock`` (server processes and commands
may checkpoint at once), and each record is flushed to disk before the call returns.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trialdesk.store.anchor.config import AnchorConfig
from trialdesk.store.anchor.keys import key_id, signature_valid
from trialdesk.store.audit import canonical_json
from trialdesk.store.models.audit import GENESIS_HASH

LOG_FORMAT = "trialdesk-audit-checkpoint/1"


@dataclass(frozen=True)
class Anchored:
    """One audit entry as a checkpoint recorded it."""

    hash: str
    fingerprint: str
    table: str
    record_id: str | None
    checkpoint: int

    def describe(self, sequence: int) -> str:
        record = f" {self.record_id}" if self.record_id else ""
        return f"#{sequence} ({self.table}{record})"


@dataclass
class LogState:
    """What the log vouches for: the anchored entries (index = sequence − 1) and its last record."""

    entries: list[Anchored] = field(default_factory=list)
    records: int = 0
    last_digest: str = GENESIS_HASH
    last_created_at: str | None = None
    notes: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def last_sequence(self) -> int:
        return len(self.entries)

    @property
    def head_hash(self) -> str:
        return self.entries[-1].hash if self.entries else GENESIS_HASH


def payload_digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def read_log(handle: IO[bytes], public: Ed25519PublicKey, source: str) -> LogState:
    """Read and check every record: signature, key, numbering, link, sequences."""
    state = LogState()
    handle.seek(0)
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        if _torn(line):
            # A record cut off by a crash while it was written. Skipping it loses nothing: the
            # next record must still link to the last complete one, or verification stops there.
            state.notes.append(
                f"{source}, line {line_number}: an incomplete record (a write "
                "cut off by a crash?) was ignored"
            )
            continue
        problem = _apply(state, line, public)
        if problem is not None:
            state.problem = f"{source}, line {line_number}: {problem}"
            break
    return state


def _torn(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return True
    return False


def _apply(state: LogState, line: bytes, public: Ed25519PublicKey) -> str | None:
    try:
        record = json.loads(line)
        signature = base64.b64decode(record.pop("signature"), validate=True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return "not a signed checkpoint record (the log was edited or a write was cut off)"
    if not isinstance(record, dict) or record.get("format") != LOG_FORMAT:
        return f"not a {LOG_FORMAT} record"
    number = record.get("number")
    if record.get("key_id") != key_id(public):
        return f"checkpoint #{number} was signed by another key (id {record.get('key_id')})"
    if not signature_valid(public, signature, canonical_json(record).encode("utf-8")):
        return f"checkpoint #{number}: the signature does not match its content (edited)"
    if number != state.records + 1 or record.get("previous") != state.last_digest:
        return (
            f"checkpoint #{number} does not follow checkpoint #{state.records}: "
            "records were removed, reordered or inserted"
        )
    problem = _restore(state, record) if record["kind"] == "restore" else _extend(state, record)
    if problem is None:
        state.records += 1
        state.last_digest = payload_digest(record)
        state.last_created_at = str(record["created_at"])
    return problem


def _extend(state: LogState, record: dict[str, Any]) -> str | None:
    number = int(record["number"])
    first = int(record["first_sequence"])
    if first != state.last_sequence + 1:
        return f"checkpoint #{number} starts at #{first}, not #{state.last_sequence + 1}"
    for digest, fingerprint, table, record_id in record["entries"]:
        state.entries.append(Anchored(digest, fingerprint, table, record_id, number))
    if (
        state.last_sequence != int(record["last_sequence"])
        or state.head_hash != record["head_hash"]
    ):
        return f"checkpoint #{number}: its entries do not add up to its head"
    return None


def _restore(state: LogState, record: dict[str, Any]) -> str | None:
    number, kept = int(record["number"]), int(record["last_sequence"])
    if kept > state.last_sequence:
        return f"restore record #{number} keeps #{kept}, beyond #{state.last_sequence}"
    kept_hash = state.entries[kept - 1].hash if kept else GENESIS_HASH
    if kept_hash != record["head_hash"]:
        return f"restore record #{number}: the restored #{kept} differs from the checkpointed one"
    lost_to = state.last_sequence
    del state.entries[kept:]
    if lost_to > kept:
        state.notes.append(
            f"checkpoint #{number} ({record['created_at']}): the database was restored from "
            f"{record.get('reason', 'a backup')}; checkpointed entries #{kept + 1}…#{lost_to} "
            "were lost with it"
        )
    return None


def create_log(config: AnchorConfig) -> None:
    """An empty log file (mode 0640), if there is none yet."""
    config.log_file.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(config.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640))


@contextmanager
def opened_log(config: AnchorConfig, *, write: bool) -> Iterator[IO[bytes]]:
    """The log file, locked (exclusively to write, shared to read); created when writing."""
    path = config.log_file
    handle: IO[bytes]
    if write:
        create_log(config)
        # O_APPEND: every write lands at the end, which `chattr +a` (append-only) still allows.
        handle = os.fdopen(os.open(path, os.O_RDWR | os.O_APPEND), "a+b")
    else:
        handle = path.open("rb")
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def append_record(
    handle: IO[bytes], state: LogState, key: Ed25519PrivateKey, payload: dict[str, Any]
) -> dict[str, Any]:
    """Sign `payload` (number, previous, key id and format added) and append it durably."""
    record = {
        **payload,
        "format": LOG_FORMAT,
        "number": state.records + 1,
        "previous": state.last_digest,
        "key_id": key_id(key.public_key()),
    }
    signature = key.sign(canonical_json(record).encode("utf-8"))
    line = json.dumps(
        {**record, "signature": base64.b64encode(signature).decode("ascii")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    handle.seek(0, os.SEEK_END)
    if handle.tell() > 0:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) != b"\n":  # after a torn record: start on a line of our own
            handle.write(b"\n")
    handle.write(line.encode("utf-8") + b"\n")
    handle.flush()
    os.fsync(handle.fileno())
    return record
