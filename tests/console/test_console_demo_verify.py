"""`trialdesk demo` verifies the audit trail in full (chain and signed checkpoints), not the
chain alone (issue 18): a fresh key and log for the fresh demo database, one checkpoint, then
`services.verify_audit_trail` with the anchor; a tampered trail fails the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from tools.harness.database import execute_as_dba, fresh_database

from trialdesk.console.demo_cmd import _verify_audit, verify_demo_audit
from trialdesk.store import audit


def _trail(tmp_path: Path) -> str:
    db = fresh_database(None, directory=tmp_path / "db")
    with db.session() as session:
        for i in range(1, 4):
            audit.append(
                session,
                audit.NewEntry(
                    user_id=None,
                    action="create",
                    table="measurements",
                    record_id=i,
                    changes={"value": [None, 7.0 + i]},
                ),
            )
        session.commit()
    url = str(db.engine.url)
    db.engine.dispose()
    return url


def test_the_demo_checks_chain_and_checkpoints(tmp_path: Path) -> None:
    url = _trail(tmp_path)
    stale = tmp_path / "demo" / "trialdesk-audit"
    stale.mkdir(parents=True)
    (stale / "checkpoints.jsonl").write_text("left by an earlier run\n")
    report = verify_demo_audit(url, stale)
    assert report.ok, report.message
    assert report.anchored_through == 3 and "match 1 signed checkpoint" in report.message
    assert (stale / "checkpoint-signing.key").is_file()


def test_a_tampered_demo_trail_fails_the_demo(tmp_path: Path) -> None:
    db = fresh_database(None, directory=tmp_path / "db")
    try:
        with db.session() as session:
            for i in range(1, 4):
                audit.append(
                    session,
                    audit.NewEntry(
                        user_id=None,
                        action="create",
                        table="measurements",
                        record_id=i,
                        changes={"value": [None, 7.0 + i]},
                    ),
                )
            session.commit()
        execute_as_dba(db, "UPDATE audit_entries SET reason = 'edited' WHERE sequence = 2")
        url = str(db.engine.url)
        report = verify_demo_audit(url, tmp_path / "demo" / "trialdesk-audit")
        assert not report.ok and report.problem_sequence == 2, report.message
        with pytest.raises(typer.Exit):
            _verify_audit(url, tmp_path / "demo")
    finally:
        db.dispose()


def test_the_demo_prints_a_verify_command_that_finds_its_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shlex

    from typer.testing import CliRunner

    from trialdesk.cli import app

    url = _trail(tmp_path)
    _verify_audit(url, tmp_path / "demo")
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.startswith("verify again: "))
    words = shlex.split(line.removeprefix("verify again: "))
    assert words[:3] == ["trialdesk", "audit", "verify"], words
    done = CliRunner().invoke(app, words[1:])
    assert done.exit_code == 0, done.output
    assert "match 1 signed checkpoint" in done.output and "NOT anchored" not in done.output
