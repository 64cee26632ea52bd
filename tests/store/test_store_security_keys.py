"""TOTP secrets encrypted at rest (migration 0011 and `trialdesk security keygen`) and the audit
anchor's state kept for the dashboard (issue 18); on SQLite and PostgreSQL."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from alembic import command
from anchor_helpers import append_entries, checkpoint, rehash_everything
from sqlalchemy import text
from tools.harness.database import TestDatabase, execute_as_dba, seed_demo_site_and_users
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.cli import app
from trialdesk.store import current_revision, head_revision
from trialdesk.store.anchor import anchor_config, generate_key
from trialdesk.store.anchor.background import CheckpointWriter
from trialdesk.store.anchor.status import anchor_status
from trialdesk.store.migrate import alembic_config
from trialdesk.store.sealed import KEY_ENV, SecretKeyMissing, is_sealed, unseal

CLEAR_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _stored_secret(db: TestDatabase) -> str:
    with db.engine.connect() as connection:
        value = connection.execute(
            text("SELECT totp_secret FROM users WHERE username = 'investigator'")
        ).scalar_one()
    return str(value)


def _clear_secret_before_0011(db: TestDatabase) -> None:
    with db.session() as session:
        seed_demo_site_and_users(session)
    command.downgrade(alembic_config(db.engine), "0010_missing_labs")
    execute_as_dba(
        db, f"UPDATE users SET totp_secret = '{CLEAR_SECRET}' WHERE username = 'investigator'"
    )


def test_migration_0011_encrypts_the_secrets_stored_in_clear(db: TestDatabase) -> None:
    _clear_secret_before_0011(db)
    command.upgrade(alembic_config(db.engine), "head")
    stored = _stored_secret(db)
    assert is_sealed(stored) and CLEAR_SECRET not in stored
    assert unseal(stored) == CLEAR_SECRET
    command.downgrade(alembic_config(db.engine), "0010_missing_labs")
    assert _stored_secret(db) == CLEAR_SECRET  # a downgrade gives the old column back
    command.upgrade(alembic_config(db.engine), "head")
    assert current_revision(db.engine) == head_revision()


def test_migration_0011_without_a_key_stops_before_changing_anything(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clear_secret_before_0011(db)
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("TRIALDESK_TOTP_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(SecretKeyMissing, match="run `trialdesk security keygen`"):
        command.upgrade(alembic_config(db.engine), "head")
    assert current_revision(db.engine) == "0010_missing_labs"
    assert _stored_secret(db) == CLEAR_SECRET
    monkeypatch.undo()
    command.upgrade(alembic_config(db.engine), "head")  # the key is back: it goes through
    assert is_sealed(_stored_secret(db))


def test_security_keygen_writes_a_private_key_once(tmp_path: Path) -> None:
    target = tmp_path / "keys" / "totp-secrets.key"
    runner = CliRunner()
    first = runner.invoke(app, ["security", "keygen", "--key-file", str(target)])
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    before = target.read_bytes()
    again = runner.invoke(app, ["security", "keygen", "--key-file", str(target)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert target.read_bytes() == before


def test_the_dashboard_state_records_verifications_and_refused_checkpoints(
    db: TestDatabase, tmp_path: Path
) -> None:
    config = anchor_config(tmp_path / "anchor")
    assert not anchor_status(config).anchored
    generate_key(config)
    append_entries(db, 4)
    checkpoint(db, config)
    with db.session() as session:
        assert sv.verify_audit_trail(session, sv.SYSTEM, anchor=config).ok
    state = anchor_status(config)
    assert state.anchored and state.checkpoints == 1 and state.last_checkpoint_at
    assert state.last_verify is not None and state.last_verify.ok
    assert state.last_verify.by == "system" and state.checkpoint_refused is None
    rehash_everything(db, "UPDATE audit_entries SET reason = 'none' WHERE sequence = 3")
    append_entries(db, 1, start=5)
    CheckpointWriter(db.engine, config).round(force=True)  # the server's thread is refused
    with db.session() as session:
        assert not sv.verify_audit_trail(session, sv.SYSTEM, anchor=config).ok
    state = anchor_status(config)
    assert state.last_verify is not None and not state.last_verify.ok
    assert state.last_verify.first_sequence == 3
    assert "rewritten since that checkpoint" in state.last_verify.message
    assert state.checkpoint_refused is not None
    assert "differs from checkpoint #1" in state.checkpoint_refused.message


def test_no_status_file_where_no_anchor_folder_was_made(db: TestDatabase, tmp_path: Path) -> None:
    config = anchor_config(tmp_path / "never-configured")
    append_entries(db, 1)
    with db.session() as session:
        sv.verify_audit_trail(session, sv.SYSTEM, anchor=config)
    assert not (tmp_path / "never-configured").exists()
