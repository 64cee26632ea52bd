"""``audit verify`` against the checkpoint log: name the first entry that differs, and how.

Two checks, both over every stored entry:

1. the chain against itself (`trialdesk.store.audit.verify_chain`): catches edits that were not
   re-hashed, gaps and swaps, also after the last checkpoint;
2. the stored entries against the signed checkpoints: catches what a re-hash hides. At the
   first sequence where they differ the kind of change is named from the content fingerprints:

   * ``rolled back``: the database ends before the log (restored from an old backup, or the
     tail deleted with the head row fixed);
   * ``removed``: the checkpointed entry is nowhere in the database;
   * ``reordered``: the database holds, at that place, an entry checkpointed elsewhere;
   * ``rewritten``: a different entry whose hash was recomputed (history rewritten since the
     checkpoint, or rolled back and written again);
   * ``altered``: the content changed and the chain hash no longer matches it.

The earlier of the two problems is reported (the checkpoint comparison when they coincide).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from trialdesk.store.anchor.config import AnchorConfig
from trialdesk.store.anchor.keys import key_id, key_ring, load_verifying_key
from trialdesk.store.anchor.log import Anchored, LogState, opened_log, read_log
from trialdesk.store.audit import (
    ChainProblem,
    content_fingerprint,
    entries_in_order,
    entry_hash,
    verify_chain,
)


@dataclass
class AnchoredReport:
    ok: bool
    checked: int
    last_sequence: int
    anchored_through: int  # the last sequence the checkpoints vouch for
    checkpoints: int
    last_checkpoint_at: str | None
    key_id: str = ""
    problem: ChainProblem | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.problem is not None and self.problem.kind == "checkpoint log":
            return f"audit trail NOT verified: the checkpoint log is BROKEN: {self.problem.message}"
        if self.problem is not None:
            return f"audit trail BROKEN at entry #{self.problem.sequence}: {self.problem.message}"
        if self.checkpoints == 0:
            return (
                f"audit trail intact as a chain: {self.checked} entries verified (last "
                f"#{self.last_sequence}), but there is no signed checkpoint yet, so an edit with "
                "recomputed hashes would not show (run `trialdesk audit checkpoint`; if "
                "checkpoints had been written, their log was removed)"
            )
        after = self.last_sequence - self.anchored_through
        tail = (
            f"; #{self.anchored_through + 1}…#{self.last_sequence} are newer than the last "
            "checkpoint and checked by the hash chain only"
            if after > 0
            else ""
        )
        return (
            f"audit trail intact: {self.checked} entries verified (last #{self.last_sequence}); "
            f"#1…#{self.anchored_through} match {self.checkpoints} signed "
            f"checkpoint{'s' if self.checkpoints != 1 else ''} "
            f"({'keys' if '→' in self.key_id else 'key'} {self.key_id}, last "
            f"{self.last_checkpoint_at or 'never'}){tail}"
        )


@dataclass(frozen=True)
class _Stored:
    hash: str
    fingerprint: str
    consistent: bool  # the stored hash is the hash of the stored content
    description: str


def verify_anchored(
    session: Session, config: AnchorConfig, progress: Callable[[int], None] | None = None
) -> AnchoredReport:
    """Check the chain against itself and against the signed checkpoint log of `config`."""
    public = load_verifying_key(config)
    if config.log_file.exists():
        with opened_log(config, write=False) as handle:
            state = read_log(handle, key_ring(config), str(config.log_file))
    else:
        state = LogState(notes=[f"no checkpoint log at {config.log_file} yet"])
    chain = verify_chain(session, progress=progress)
    report = AnchoredReport(
        ok=chain.ok,
        checked=chain.checked,
        last_sequence=chain.last_sequence,
        anchored_through=state.last_sequence,
        checkpoints=state.records,
        last_checkpoint_at=state.last_created_at,
        key_id=" → ".join(state.key_chain) or key_id(public),
        problem=chain.problem,
        notes=list(state.notes) + [f"key rotated {r}" for r in state.rotations],
    )
    if state.problem is not None:
        report.ok, report.problem = False, ChainProblem("checkpoint log", 0, None, state.problem)
        return report
    if state.signer is not None and key_id(state.signer) != key_id(public):
        report.notes.append(
            f"the configured key {key_id(public)} is not the key the checkpoint log now expects "
            f"({key_id(state.signer)}): new checkpoints will be refused until that key is back "
            "(a key is replaced only by `trialdesk audit rotate-key`)"
        )
    stored = _stored_entries(session, progress)
    problem = _first_difference(state, stored)
    first_in_chain = chain.problem.sequence if chain.problem else None
    if problem is not None and (first_in_chain is None or problem.sequence <= first_in_chain):
        report.ok, report.problem = False, problem
    return report


def _stored_entries(session: Session, progress: Callable[[int], None] | None) -> dict[int, _Stored]:
    stored: dict[int, _Stored] = {}
    for entry in entries_in_order(session, progress=progress):
        record = f" {entry.record_id}" if entry.record_id else ""
        stored[entry.sequence] = _Stored(
            entry.hash,
            content_fingerprint(entry),
            entry_hash(entry, entry.prev_hash) == entry.hash,
            f"#{entry.sequence} ({entry.table_name}{record})",
        )
    return stored


def _first_difference(state: LogState, stored: dict[int, _Stored]) -> ChainProblem | None:
    for sequence, anchored in enumerate(state.entries, start=1):
        entry = stored.get(sequence)
        if entry is not None and entry.hash == anchored.hash and entry.consistent:
            continue
        return _classify(state, stored, sequence, anchored)
    return None


def _was(entry: _Stored, anchored: Anchored, sequence: int) -> str:
    """The checkpointed table and record, when they differ from the stored ones."""
    recorded = anchored.describe(sequence)
    return "" if recorded == entry.description else f" ({recorded})"


def _missing(
    entry: _Stored | None,
    anchored_places: dict[str, int],
    anchored: Anchored,
    sequence: int,
    where: str,
) -> ChainProblem:
    """The problem when the checkpointed entry's content is stored nowhere in the database."""
    if entry is not None and entry.fingerprint in anchored_places:
        origin = anchored_places[entry.fingerprint]
        return ChainProblem(
            "removed",
            sequence,
            None,
            f"entry {anchored.describe(sequence)} recorded in {where} was removed; the "
            f"database now holds checkpointed #{origin} in its place (renumbered)",
        )
    if entry is None:
        return ChainProblem(
            "removed",
            sequence,
            None,
            f"entry {anchored.describe(sequence)} recorded in {where} was removed",
        )
    if entry.consistent:
        return ChainProblem(
            "rewritten",
            sequence,
            None,
            f"entry {entry.description} is not the entry {where} recorded"
            f"{_was(entry, anchored, sequence)}, though its hash was recomputed to fit the "
            "chain: the trail was rewritten since that checkpoint (or rolled back and "
            "written again)",
        )
    return ChainProblem(
        "altered",
        sequence,
        None,
        f"entry {entry.description} was altered since {where}: its content matches "
        "neither its hash nor the checkpoint",
    )


def _classify(
    state: LogState, stored: dict[int, _Stored], sequence: int, anchored: Anchored
) -> ChainProblem:
    where = f"checkpoint #{anchored.checkpoint}"
    entry = stored.get(sequence)
    last_stored = max(stored, default=0)
    if entry is None and sequence > last_stored:
        return ChainProblem(
            "rolled back",
            sequence,
            None,
            f"the database ends at #{last_stored}, but the checkpoints record entries up to "
            f"#{state.last_sequence} (first missing: {anchored.describe(sequence)}, {where}): "
            "the database was rolled back (e.g. restored from an old backup) or its tail deleted",
        )
    places = {e.fingerprint: s for s, e in stored.items()}
    anchored_places = {a.fingerprint: s for s, a in enumerate(state.entries, start=1)}
    if anchored.fingerprint not in places:
        return _missing(entry, anchored_places, anchored, sequence, where)
    if entry is not None and entry.fingerprint == anchored.fingerprint:
        return ChainProblem(
            "altered",
            sequence,
            None,
            f"entry {entry.description}: its chain hashes were changed since {where} "
            "(content as recorded)",
        )
    now_at = places[anchored.fingerprint]
    return ChainProblem(
        "reordered",
        sequence,
        None,
        f"entry {anchored.describe(sequence)} recorded in {where} is now stored as #{now_at}: "
        "entries were reordered",
    )
