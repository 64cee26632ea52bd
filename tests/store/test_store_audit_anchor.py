"""The audit trail anchored outside the database (issue 18): whoever can write to the database
but does not hold the checkpoint key cannot rewrite the trail unnoticed, and `verify` names the
first entry that differs and how (altered, removed, reordered, rewritten, rolled back)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from anchor_helpers import append_entries, checkpoint, command_url, rehash_everything
from tools.harness.database import TestDatabase, execute_as_dba

from trialdesk import services as sv
from trialdesk.store import audit
from trialdesk.store.anchor import (
    AnchorConfig,
    AnchorKeyError,
    CheckpointRefused,
    anchor_config,
    generate_key,
    verify_anchored,
)
from trialdesk.store.anchor.background import CheckpointWriter
from trialdesk.store.backup import BackupError, backup, restore


@pytest.fixture
def anchor(tmp_path: Path) -> AnchorConfig:
    config = anchor_config(tmp_path / "anchor")
    generate_key(config)
    return config


def _verify(db: TestDatabase, config: AnchorConfig) -> audit.ChainProblem:
    with db.session() as session:
        report = verify_anchored(session, config)
    assert not report.ok and report.problem is not None, str(report)
    return report.problem


def _intact(db: TestDatabase, config: AnchorConfig) -> str:
    with db.session() as session:
        report = verify_anchored(session, config)
    assert report.ok, str(report)
    return str(report)


def test_an_untouched_trail_matches_its_checkpoints(db: TestDatabase, anchor: AnchorConfig) -> None:
    append_entries(db, 5)
    assert checkpoint(db, anchor).written
    append_entries(db, 2, start=6)
    message = _intact(db, anchor)
    assert "#1…#5 match 1 signed checkpoint (key " in message
    assert "#6…#7 are newer than the last checkpoint" in message


def test_a_key_without_checkpoints_says_what_is_not_checked(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 2)
    message = _intact(db, anchor)
    assert "no signed checkpoint yet" in message and "recomputed hashes would not show" in message


def test_the_issue_18_attack_edit_and_rehash_is_named(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 6)
    checkpoint(db, anchor)
    rehash_everything(db, "UPDATE audit_entries SET reason = 'no error' WHERE sequence = 2")
    with db.session() as session:
        assert audit.verify_chain(session).ok  # the chain alone is fooled
    problem = _verify(db, anchor)
    assert (problem.kind, problem.sequence) == ("rewritten", 2)
    assert "#2 (measurements 2)" in problem.message and "checkpoint #1" in problem.message


def test_an_edited_timestamp_is_named_with_or_without_rehash(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 4)
    checkpoint(db, anchor)
    earlier = (
        "occurred_at - interval '1 hour'"
        if db.backend == "postgresql"
        else "datetime(occurred_at, '-1 hour')"
    )
    execute_as_dba(db, f"UPDATE audit_entries SET occurred_at = {earlier} WHERE sequence = 3")
    problem = _verify(db, anchor)
    assert (problem.kind, problem.sequence) == ("altered", 3)
    rehash_everything(db)
    problem = _verify(db, anchor)
    assert (problem.kind, problem.sequence) == ("rewritten", 3)


def test_a_deleted_tail_with_the_head_fixed_is_a_rollback(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 6)
    checkpoint(db, anchor)
    rehash_everything(db, "DELETE FROM audit_entries WHERE sequence >= 5")
    with db.session() as session:
        assert audit.verify_chain(session).ok
    problem = _verify(db, anchor)
    assert (problem.kind, problem.sequence) == ("rolled back", 5)
    assert "the database ends at #4" in problem.message and "up to #6" in problem.message


def test_a_deleted_entry_with_the_rest_renumbered_is_named(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 6)
    checkpoint(db, anchor)
    rehash_everything(
        db,
        "DELETE FROM audit_entries WHERE sequence = 3",
        "UPDATE audit_entries SET sequence = sequence - 1 WHERE sequence > 3",
    )
    problem = _verify(db, anchor)
    assert (problem.kind, problem.sequence) == ("removed", 3)
    assert "#3 (measurements 3)" in problem.message and "renumbered" in problem.message


@pytest.mark.parametrize("rehash", [False, True])
def test_reordered_entries_are_named(db: TestDatabase, anchor: AnchorConfig, rehash: bool) -> None:
    append_entries(db, 5)
    checkpoint(db, anchor)
    swap = (
        "UPDATE audit_entries SET sequence = -1 WHERE sequence = 2",
        "UPDATE audit_entries SET sequence = 2 WHERE sequence = 3",
        "UPDATE audit_entries SET sequence = 3 WHERE sequence = -1",
    )
    if rehash:
        rehash_everything(db, *swap)
    else:
        execute_as_dba(db, *swap)
    problem = _verify(db, anchor)
    assert (problem.kind, problem.sequence) == ("reordered", 2)
    assert "now stored as #3" in problem.message


def test_a_database_restored_from_an_old_backup_is_named(
    db: TestDatabase, anchor: AnchorConfig, tmp_path: Path
) -> None:
    append_entries(db, 4)
    url = command_url(db)
    old = backup(url, tmp_path / "old.backup", anchor=anchor)
    assert old.checkpoint == "checkpoint #1 signed: entries #1…#4"
    assert json.loads(Path(f"{old.path}.manifest.json").read_text())["audit_checkpoint"]
    append_entries(db, 3, start=5)
    checkpoint(db, anchor)
    db.engine.dispose()
    restore(old.path, url, force=True)  # behind the log's back: no anchor, nothing recorded
    problem = _verify(db, anchor)
    assert (problem.kind, problem.sequence) == ("rolled back", 5)
    assert "the database ends at #4" in problem.message and "up to #7" in problem.message
    # Written again after the rollback: the new #5 is not the checkpointed one.
    append_entries(db, 1, start=50)
    problem = _verify(db, anchor)
    assert (problem.kind, problem.sequence) == ("rewritten", 5)


def test_a_recorded_restore_is_a_note_and_the_trail_continues(
    db: TestDatabase, anchor: AnchorConfig, tmp_path: Path
) -> None:
    append_entries(db, 3)
    url = command_url(db)
    old = backup(url, tmp_path / "old.backup", anchor=anchor)
    append_entries(db, 2, start=4)
    checkpoint(db, anchor)
    db.engine.dispose()
    report = restore(old.path, url, force=True, anchor=anchor)
    assert any("entries #4…#5 are lost" in note for note in report.notes)
    append_entries(db, 2, start=40)
    assert checkpoint(db, anchor).written
    with db.session() as session:
        verified = verify_anchored(session, anchor)
    assert verified.ok and verified.anchored_through == 5, str(verified)
    assert any("#4…#5 were lost" in note for note in verified.notes)


def test_a_checkpoint_is_refused_over_a_rewritten_trail(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 3)
    checkpoint(db, anchor)
    append_entries(db, 2, start=4)
    rehash_everything(db, "UPDATE audit_entries SET reason = 'x' WHERE sequence = 3")
    with pytest.raises(CheckpointRefused, match="entry #3 differs from checkpoint #1"):
        checkpoint(db, anchor)
    lines = anchor.log_file.read_text().splitlines()
    assert len(lines) == 1  # nothing signed over the tampering


def test_a_checkpoint_is_refused_over_a_broken_new_entry(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 3)
    execute_as_dba(db, "UPDATE audit_entries SET reason = 'x' WHERE sequence = 2")
    with pytest.raises(CheckpointRefused, match="entry #2 breaks the hash chain"):
        checkpoint(db, anchor)
    assert not anchor.log_file.exists() or anchor.log_file.read_text() == ""


def test_nothing_new_writes_no_checkpoint(db: TestDatabase, anchor: AnchorConfig) -> None:
    append_entries(db, 2)
    assert checkpoint(db, anchor).written
    again = checkpoint(db, anchor)
    assert not again.written and str(again).startswith("nothing new since checkpoint #1")
    assert len(anchor.log_file.read_text().splitlines()) == 1


def _rewrite_log(config: AnchorConfig, edit: object) -> None:
    lines = config.log_file.read_text().splitlines()
    config.log_file.write_text("\n".join(edit(lines)) + "\n")  # type: ignore[operator]


def _edit_first_hash(lines: list[str]) -> list[str]:
    record = json.loads(lines[0])
    record["entries"][0][0] = "f" * 64
    return [json.dumps(record), *lines[1:]]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_edit_first_hash, "checkpoint #1: the signature does not match its content"),
        (lambda lines: lines[1:], "checkpoint #2 does not follow checkpoint #0"),
        (lambda lines: [lines[0][:40], lines[1]], "checkpoint #2 does not follow checkpoint #0"),
        (lambda lines: [lines[0], '{"format": "x"}'], "line 2: not a signed checkpoint record"),
    ],
)
def test_a_tampered_checkpoint_log_is_named(
    db: TestDatabase, anchor: AnchorConfig, edit: object, expected: str
) -> None:
    append_entries(db, 2)
    checkpoint(db, anchor)
    append_entries(db, 2, start=3)
    checkpoint(db, anchor)
    _rewrite_log(anchor, edit)
    problem = _verify(db, anchor)
    assert problem.kind == "checkpoint log" and expected in problem.message
    with db.session() as session:
        assert "the checkpoint log is BROKEN" in str(verify_anchored(session, anchor))
    with pytest.raises(CheckpointRefused, match="damaged"):
        checkpoint(db, anchor)


def test_a_record_torn_by_a_crash_is_ignored_and_the_next_one_follows(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 2)
    checkpoint(db, anchor)
    append_entries(db, 2, start=3)
    with anchor.log_file.open("ab") as handle:
        handle.write(b'{"created_at":"2026-12-04T10:00:00+00:00","entries":[["ab')  # no newline
    assert checkpoint(db, anchor).number == 2
    with db.session() as session:
        report = verify_anchored(session, anchor)
    assert report.ok and report.anchored_through == 4, str(report)
    assert any("line 2: an incomplete record" in note for note in report.notes)


def test_a_log_signed_with_another_key_is_refused(
    db: TestDatabase, anchor: AnchorConfig, tmp_path: Path
) -> None:
    append_entries(db, 2)
    checkpoint(db, anchor)
    other = anchor_config(tmp_path / "other")
    generate_key(other)
    forged = AnchorConfig(other.key_file, anchor.log_file)
    problem = _verify(db, forged)
    assert "signed by another key" in problem.message


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path,
) -> None:
    config = anchor_config(tmp_path / "keys")
    generate_key(config)
    assert stat.S_IMODE(config.key_file.stat().st_mode) == 0o600
    assert config.public_key_file.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = config.key_file.read_bytes()
    with pytest.raises(AnchorKeyError, match="already exists"):
        generate_key(config)
    assert config.key_file.read_bytes() == before


def test_the_public_key_alone_verifies(db: TestDatabase, anchor: AnchorConfig) -> None:
    append_entries(db, 3)
    checkpoint(db, anchor)
    public_only = AnchorConfig(anchor.key_file.with_name("absent.key"), anchor.log_file)
    public_only.public_key_file.write_bytes(anchor.public_key_file.read_bytes())
    assert not public_only.can_sign and public_only.can_verify
    _intact(db, public_only)


def test_the_server_thread_checkpoints_every_n_entries_and_at_shutdown(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    config = AnchorConfig(anchor.key_file, anchor.log_file, interval_s=3600, every_entries=3)
    writer = CheckpointWriter(db.engine, config, poll_s=0.05)
    writer.round()  # at start: whatever is there (nothing) is due
    append_entries(db, 2)
    writer.round()
    assert not config.log_file.exists() or config.log_file.read_text() == ""
    append_entries(db, 2, start=3)
    writer.round()  # 4 new ≥ 3: due
    append_entries(db, 1, start=5)
    writer.start()
    writer.stop()  # the last one at shutdown
    records = [json.loads(line) for line in config.log_file.read_text().splitlines()]
    assert [(r["first_sequence"], r["last_sequence"]) for r in records] == [(1, 4), (5, 5)]
    _intact(db, config)


def test_a_backup_of_a_rewritten_trail_is_kept_but_not_checkpointed(
    db: TestDatabase, anchor: AnchorConfig, tmp_path: Path
) -> None:
    append_entries(db, 3)
    checkpoint(db, anchor)
    rehash_everything(db, "UPDATE audit_entries SET reason = 'x' WHERE sequence = 1")
    target = tmp_path / "evidence.backup"
    with pytest.raises(BackupError, match="no checkpoint was signed: entry #3 differs"):
        backup(command_url(db), target, anchor=anchor)
    assert target.exists() and Path(f"{target}.manifest.json").exists()
    assert len(anchor.log_file.read_text().splitlines()) == 1


def test_an_unreadable_key_is_a_clear_refusal_not_an_error(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 1)
    anchor.key_file.write_text("not a key")
    with db.session() as session:
        view = sv.verify_audit_trail(session, sv.SYSTEM, anchor=anchor)
    assert not view.ok and "cannot be read" in view.message and "not a readable" in view.message
