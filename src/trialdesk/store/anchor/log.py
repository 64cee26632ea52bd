"""The checkpoint log: a JSON Lines file of signed records, each chained to the one before.

A record (one line) holds ``format``, ``kind`` (``checkpoint`` or ``restore``), ``number``
(1, 2, …), ``created_at``, ``reason``, ``database`` (its URL, password hidden), ``key_id``,
``previous`` (SHA-256 of the previous record's signed payload; 64 zeros for the first),
``first_sequence``/``last_sequence``/``head_hash`` and ``entries``: for every audit entry since
the previous checkpoint, ``[chain hash, content fingerprint, table, record id]``. ``signature``
is the Ed25519 signature of the canonical JSON of all other fields.

A ``key-rotation`` record (`trialdesk.store.anchor.rotation`) hands the log over to a new key:
it is a checkpoint like any other, signed by the *new* key (``key_id``), and carries the new
public key (``public_key``, raw, base64) and ``previous_key_id`` with ``handover_signature``, the
retiring key's signature of the record without its two signatures. From it on, only the new key
is accepted; before it, only the retiring one. The first record must be signed by a key of the
key ring (the configured key or a retired one); any other signer is refused.

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
from trialdesk.store.anchor.keys import KeyRing, key_id, signature_valid
from trialdesk.store.audit import canonical_json
from trialdesk.store.models.audit import GENESIS_HASH

LOG_FORMAT = "trialdesk-audit-checkpoint/1"
KEY_ROTATION = "key-rotation"


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
    signer: Ed25519PublicKey | None = None  # the key the next record must be signed by
    key_chain: list[str] = field(default_factory=list)  # key ids, oldest first
    rotations: list[str] = field(default_factory=list)  # "when: old → new"

    @property
    def last_sequence(self) -> int:
        return len(self.entries)

    @property
    def head_hash(self) -> str:
        return self.entries[-1].hash if self.entries else GENESIS_HASH


def payload_digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def read_log(handle: IO[bytes], ring: KeyRing, source: str) -> LogState:
    """Read and check every record: signature, chain of keys, numbering, link, sequences."""
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
        problem = _apply(state, line, ring)
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


def _apply(state: LogState, line: bytes, ring: KeyRing) -> str | None:
    try:
        record = json.loads(line)
        signature = base64.b64decode(record.pop("signature"), validate=True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return "not a signed checkpoint record (the log was edited or a write was cut off)"
    if not isinstance(record, dict) or record.get("format") != LOG_FORMAT:
        return f"not a {LOG_FORMAT} record"
    number = record.get("number")
    rotation = record.get("kind") == KEY_ROTATION
    public, problem = _handover(state, record, ring) if rotation else _signer(state, record, ring)
    if public is None:
        return problem
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
        _trust(state, public, record if rotation else None)
    return problem


def _trust(state: LogState, public: Ed25519PublicKey, rotation: dict[str, Any] | None) -> None:
    """`public` signs the next record (after a rotation: the new key, and only it)."""
    if rotation is not None and not state.key_chain:  # a log that starts with a rotation
        state.key_chain.append(str(rotation["previous_key_id"]))
    if state.signer is None or rotation is not None:
        state.key_chain.append(key_id(public))
    if rotation is not None:
        state.rotations.append(
            f"{rotation['created_at']}: key {rotation['previous_key_id']} → {key_id(public)}"
        )
    state.signer = public


def _unknown(number: object, signer: object, state: LogState) -> str:
    chain = " → ".join(state.key_chain) if state.key_chain else "none yet"
    if signer in state.key_chain:
        return (
            f"checkpoint #{number} was signed by key {signer}, retired by a rotation before it "
            f"(chain of keys: {chain})"
        )
    return (
        f"checkpoint #{number} was signed by another key (id {signer}), unknown here: neither "
        f"the configured key, a retired one nor one handed over in the log (chain of keys: "
        f"{chain})"
    )


def _signer(
    state: LogState, record: dict[str, Any], ring: KeyRing
) -> tuple[Ed25519PublicKey | None, str | None]:
    """The key an ordinary record must be signed by: the log's current one (the first record:
    a key of the ring)."""
    signer = record.get("key_id")
    if state.signer is None:
        public = ring.get(str(signer))
    else:
        public = state.signer if key_id(state.signer) == signer else None
    if public is None:
        return None, _unknown(record.get("number"), signer, state)
    return public, None


def _handover(
    state: LogState, record: dict[str, Any], ring: KeyRing
) -> tuple[Ed25519PublicKey | None, str | None]:
    """The new key of a rotation record, once the retiring key's signature is checked."""
    number = record.get("number")
    previous = record.get("previous_key_id")
    old, problem = _signer(state, {**record, "key_id": previous}, ring)
    if old is None:
        return None, problem
    body = {k: v for k, v in record.items() if k != "handover_signature"}
    try:
        handover = base64.b64decode(str(record.get("handover_signature")), validate=True)
        new = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(str(record.get("public_key")), validate=True)
        )
    except ValueError:
        return None, f"key rotation #{number}: not a valid handover record"
    if not signature_valid(old, handover, canonical_json(body).encode("utf-8")):
        return None, f"key rotation #{number}: the handover is not signed by key {previous}"
    if key_id(new) != record.get("key_id"):
        return None, f"key rotation #{number}: its key id does not match its public key"
    return new, None


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
    handle: IO[bytes],
    state: LogState,
    key: Ed25519PrivateKey,
    payload: dict[str, Any],
    handover_from: Ed25519PrivateKey | None = None,
) -> dict[str, Any]:
    """Sign `payload` (number, previous, key id and format added) and append it durably.

    With `handover_from`, a key-rotation record: `key` is the new key, and the retiring
    `handover_from` signs the record first (see module docstring)."""
    record = {
        **payload,
        "format": LOG_FORMAT,
        "number": state.records + 1,
        "previous": state.last_digest,
        "key_id": key_id(key.public_key()),
    }
    if handover_from is not None:
        handover = handover_from.sign(canonical_json(record).encode("utf-8"))
        record["handover_signature"] = base64.b64encode(handover).decode("ascii")
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
