"""Rotating the checkpoint signing key (issue 18): the log is handed over from the old key to the
new one in a record both sign; `audit verify` accepts checkpoints under every key of that chain
of keys and refuses one signed by any other key, including a retired key used after its
retirement. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from anchor_helpers import append_entries, checkpoint, command_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tools.harness.database import TestDatabase
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.store.anchor import (
    AnchorConfig,
    AnchorKeyError,
    CheckpointRefused,
    anchor_config,
    generate_key,
    rotate_key,
    verify_anchored,
)
from trialdesk.store.anchor.keys import key_id, key_ring, load_signing_key, raw_public_key
from trialdesk.store.anchor.log import append_record, opened_log, read_log

runner = CliRunner()


@pytest.fixture
def anchor(tmp_path: Path) -> AnchorConfig:
    config = anchor_config(tmp_path / "anchor")
    generate_key(config)
    return config


def _rotate(db: TestDatabase, config: AnchorConfig) -> str:
    with db.session() as session:
        return str(rotate_key(session, config, reason="test rotation", database="test"))


def _report(db: TestDatabase, config: AnchorConfig) -> tuple[bool, str, list[str]]:
    with db.session() as session:
        report = verify_anchored(session, config)
    return report.ok, str(report), report.notes


def _records(config: AnchorConfig) -> list[dict[str, object]]:
    return [json.loads(line) for line in config.log_file.read_text().splitlines() if line]


def _append_signed_by(config: AnchorConfig, key: Ed25519PrivateKey, db: TestDatabase) -> None:
    """A forger with write access to the log appends a checkpoint of the next entry."""
    with db.session() as session:
        from trialdesk.store.anchor.checkpoint import new_entries
        from trialdesk.store.models.audit import AuditHead

        head = int(session.query(AuditHead.last_sequence).scalar() or 0)
        with opened_log(config, write=True) as handle:
            state = read_log(handle, key_ring(config), "log")
            entries = new_entries(session, state, head)
            append_record(
                handle,
                state,
                key,
                {
                    "kind": "checkpoint",
                    "created_at": "2026-12-04T18:00:00+00:00",
                    "reason": "forged",
                    "database": "test",
                    "first_sequence": state.last_sequence + 1,
                    "last_sequence": head,
                    "head_hash": entries[-1][0],
                    "entries": entries,
                },
            )


def test_a_rotation_hands_over_and_every_checkpoint_still_verifies(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 3)
    checkpoint(db, anchor)
    old_id = key_id(load_signing_key(anchor).public_key())
    append_entries(db, 2, start=4)
    message = _rotate(db, anchor)
    new_id = key_id(load_signing_key(anchor).public_key())
    assert new_id != old_id and f"{old_id} → {new_id}" in message
    assert "checkpoints the trail to #5" in message
    rotation = _records(anchor)[-1]
    assert rotation["kind"] == "key-rotation" and rotation["key_id"] == new_id
    assert rotation["previous_key_id"] == old_id and rotation["handover_signature"]
    assert rotation["first_sequence"] == 4 and rotation["last_sequence"] == 5
    assert (anchor.retired_dir / f"{old_id}.pub").is_file()
    assert not Path(str(anchor.key_file) + ".next").exists()
    append_entries(db, 2, start=6)
    assert checkpoint(db, anchor).number == 3  # signed by the new key
    ok, text, notes = _report(db, anchor)
    assert ok, text
    assert f"keys {old_id} → {new_id}" in text and "#1…#7 match 3 signed checkpoints" in text
    assert any(f"key {old_id} → {new_id}" in note for note in notes)


def test_a_monitor_with_the_public_keys_only_verifies_across_the_rotation(
    db: TestDatabase, anchor: AnchorConfig, tmp_path: Path
) -> None:
    append_entries(db, 2)
    checkpoint(db, anchor)
    _rotate(db, anchor)
    append_entries(db, 1, start=3)
    checkpoint(db, anchor)
    monitor = AnchorConfig(tmp_path / "monitor" / "checkpoint-signing.key", anchor.log_file)
    monitor.retired_dir.mkdir(parents=True)
    monitor.public_key_file.write_bytes(anchor.public_key_file.read_bytes())
    for retired in anchor.retired_dir.glob("*.pub"):
        (monitor.retired_dir / retired.name).write_bytes(retired.read_bytes())
    ok, text, _ = _report(db, monitor)
    assert ok and "#1…#3 match 3 signed checkpoints" in text, text
    for retired in monitor.retired_dir.glob("*.pub"):
        retired.unlink()  # without the retired key, the start of the chain is unknown
    ok, text, _ = _report(db, monitor)
    assert not ok and "checkpoint #1 was signed by another key" in text, text


def test_a_checkpoint_under_an_unknown_key_is_refused(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 2)
    checkpoint(db, anchor)
    _rotate(db, anchor)
    append_entries(db, 1, start=3)
    _append_signed_by(anchor, Ed25519PrivateKey.generate(), db)
    ok, text, _ = _report(db, anchor)
    assert not ok and "checkpoint log is BROKEN" in text
    assert "checkpoint #3 was signed by another key" in text and "unknown here" in text


def test_a_stolen_retired_key_cannot_sign_after_its_retirement(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 2)
    checkpoint(db, anchor)
    stolen = load_signing_key(anchor)
    _rotate(db, anchor)
    append_entries(db, 1, start=3)
    _append_signed_by(anchor, stolen, db)
    ok, text, _ = _report(db, anchor)
    assert not ok and "retired by a rotation before it" in text, text


def test_a_handover_not_signed_by_the_retiring_key_is_refused(
    db: TestDatabase, anchor: AnchorConfig
) -> None:
    append_entries(db, 2)
    checkpoint(db, anchor)
    # An intruder's key put in place of the real one cannot rotate: nothing is signed.
    real = anchor.key_file.read_bytes()
    intruder = anchor_config(anchor.key_file.parent.parent / "intruder")
    generate_key(intruder)
    anchor.key_file.write_bytes(intruder.key_file.read_bytes())
    with db.session() as session, pytest.raises(CheckpointRefused, match="another key"):
        rotate_key(session, anchor, reason="takeover", database="test")
    anchor.key_file.write_bytes(real)
    Path(str(anchor.key_file) + ".next").unlink()
    assert _report(db, anchor)[0]
    # A handover record forged in the log, "signed" for the real key by another one, is refused.
    new, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with opened_log(anchor, write=True) as handle:
        state = read_log(handle, key_ring(anchor), "log")
        append_record(
            handle,
            state,
            new,
            {
                "kind": "key-rotation",
                "created_at": "2026-12-04T18:00:00+00:00",
                "reason": "forged",
                "database": "test",
                "first_sequence": 3,
                "last_sequence": 2,
                "head_hash": state.head_hash,
                "entries": [],
                "previous_key_id": key_id(load_signing_key(anchor).public_key()),
                "public_key": base64.b64encode(raw_public_key(new.public_key())).decode(),
            },
            handover_from=forger,
        )
    ok, text, _ = _report(db, anchor)
    assert not ok and "key rotation #2: the handover is not signed by key" in text, text


def test_an_interrupted_rotation_is_named(db: TestDatabase, anchor: AnchorConfig) -> None:
    pending = Path(str(anchor.key_file) + ".next")
    pending.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with db.session() as session, pytest.raises(AnchorKeyError, match="was interrupted"):
        rotate_key(session, anchor, reason="again", database="test")


def test_rotate_key_and_keygen_rotate_commands(db: TestDatabase, tmp_path: Path) -> None:
    url, folder = command_url(db), str(tmp_path / "cli")
    assert runner.invoke(app, ["audit", "keygen", "--dir", folder]).exit_code == 0
    append_entries(db, 2)
    first = runner.invoke(app, ["audit", "rotate-key", "--url", url, "--dir", folder])
    assert first.exit_code == 0, first.output
    assert "checkpoint signing key rotated" in first.output
    second = runner.invoke(
        app, ["audit", "keygen", "--rotate", "--url", url, "--dir", folder], env={"COLUMNS": "300"}
    )
    assert second.exit_code == 0, second.output
    assert len(list((tmp_path / "cli" / "retired-keys").glob("*.pub"))) == 2
    verified = runner.invoke(
        app, ["audit", "verify", "--url", url, "--dir", folder], env={"COLUMNS": "400"}
    )
    assert verified.exit_code == 0, verified.output
    chain = re.search(r"keys (\w+) → (\w+) → (\w+)", " ".join(verified.output.split()))
    assert chain is not None, verified.output  # the original key and both successors
    assert "match 2 signed checkpoints" in verified.output
