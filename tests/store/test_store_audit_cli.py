"""`trialdesk audit keygen|checkpoint|verify`, `backup`, `restore` with the audit anchor, run as
an administrator would (issue 18); on SQLite and PostgreSQL."""

from __future__ import annotations

import stat
from pathlib import Path

from anchor_helpers import append_entries, command_url, rehash_everything
from tools.harness.database import TestDatabase
from typer.testing import CliRunner

from trialdesk.cli import app

runner = CliRunner()


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_verify_without_a_key_says_the_trail_is_not_anchored(
    db: TestDatabase, tmp_path: Path
) -> None:
    append_entries(db, 3)
    url, folder = command_url(db), str(tmp_path / "nothing-here")
    code, output = _run("audit", "verify", "--url", url, "--dir", folder)
    assert code == 0 and "intact: 3 entries" in output
    assert "NOT anchored" in output and "checked only against itself" in output
    code, output = _run("audit", "verify", "--url", url, "--dir", folder, "--require-anchor")
    assert code == 2 and "no checkpoint key" in output


def test_keygen_checkpoint_verify_then_the_attack_is_named(
    db: TestDatabase, tmp_path: Path
) -> None:
    url, folder = command_url(db), str(tmp_path / "anchor")
    code, output = _run("audit", "keygen", "--dir", folder)
    assert code == 0 and "checkpoint signing key" in output and "chattr +a" in output
    assert (tmp_path / "anchor" / "checkpoints.jsonl").read_text() == ""
    key = tmp_path / "anchor" / "checkpoint-signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    code, output = _run("audit", "keygen", "--dir", folder)
    assert code == 1 and "already exists" in output
    append_entries(db, 4)
    code, output = _run("audit", "checkpoint", "--url", url, "--dir", folder)
    assert code == 0 and "checkpoint #1 signed: entries #1…#4" in output
    code, output = _run("audit", "verify", "--url", url, "--dir", folder, "--require-anchor")
    assert code == 0 and "#1…#4 match 1 signed checkpoint " in output
    rehash_everything(db, "UPDATE audit_entries SET reason = 'none' WHERE sequence = 2")
    code, output = _run("audit", "verify", "--url", url, "--dir", folder)
    assert code == 1
    assert "BROKEN at entry #2" in output and "rewritten since that checkpoint" in output
    code, output = _run("audit", "checkpoint", "--url", url, "--dir", folder)
    assert code == 1 and "no checkpoint written" in output


def test_the_environment_names_the_key_and_log(db: TestDatabase, tmp_path: Path) -> None:
    env = {
        "TRIALDESK_AUDIT_KEY_FILE": str(tmp_path / "keys" / "study.key"),
        "TRIALDESK_AUDIT_CHECKPOINT_LOG": str(tmp_path / "worm" / "study.jsonl"),
    }
    assert _run("audit", "keygen", env=env)[0] == 0
    append_entries(db, 2)
    code, output = _run("audit", "checkpoint", "--url", command_url(db), env=env)
    assert code == 0, output
    assert (tmp_path / "worm" / "study.jsonl").read_text().count("\n") == 1
    assert (tmp_path / "keys" / "study.key.pub").exists()


def test_backup_signs_a_checkpoint_and_restore_names_the_lost_entries(
    db: TestDatabase, tmp_path: Path
) -> None:
    env = {"TRIALDESK_AUDIT_DIR": str(tmp_path / "anchor")}
    url, target = command_url(db), str(tmp_path / "b" / "monday.backup")
    assert _run("audit", "keygen", env=env)[0] == 0
    append_entries(db, 3)
    code, output = _run("backup", target, "--url", url, env=env)
    assert code == 0 and "checkpoint #1 signed: entries #1…#3" in output
    append_entries(db, 2, start=4)
    assert _run("audit", "checkpoint", "--url", url, env=env)[0] == 0
    db.engine.dispose()
    code, output = _run("restore", target, "--url", url, "--force", env=env)
    assert code == 0, output
    assert "entries #4…#5 are lost" in output
    code, output = _run("audit", "verify", "--url", url, env=env)
    assert code == 0 and "#4…#5 were lost" in output


def test_backup_without_a_key_warns(db: TestDatabase, tmp_path: Path) -> None:
    env = {"TRIALDESK_AUDIT_DIR": str(tmp_path / "none")}
    append_entries(db, 1)
    code, output = _run("backup", str(tmp_path / "x.backup"), "--url", command_url(db), env=env)
    assert code == 0 and "no checkpoint signed" in output
