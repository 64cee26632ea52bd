"""`trialdesk db upgrade`, `site add`, `user add`, `audit verify`, run as an administrator would."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.harness.database import TestDatabase, execute_as_dba, fresh_database
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.store import head_revision

runner = CliRunner()


@pytest.fixture
def sqlite_file(tmp_path: Path) -> TestDatabase:
    db = fresh_database(directory=tmp_path)
    yield db  # type: ignore[misc]
    db.dispose()


def _url(db: TestDatabase) -> str:
    return str(db.engine.url)


def test_db_upgrade_creates_the_database_and_the_protocol_site(tmp_path: Path) -> None:
    env = {"TRIALDESK_DATA_DIR": str(tmp_path / "data"), "TRIALDESK_DATABASE_URL": ""}
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    head = head_revision()
    assert f"revision {head} (head)" in result.output and "registered site APGH" in result.output
    assert (tmp_path / "data" / "trialdesk.sqlite").exists()
    again = runner.invoke(app, ["db", "upgrade"], env=env)
    assert again.exit_code == 0 and "registered site" not in again.output
    status = runner.invoke(app, ["db", "status"], env=env)
    assert status.exit_code == 0 and f"revision {head} (head {head})" in status.output


def test_commands_on_an_uninitialised_database_say_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.sqlite"
    result = runner.invoke(app, ["audit", "verify", "--url", url])
    assert result.exit_code == 1 and "trialdesk db upgrade" in result.output


def test_user_add_with_password_on_stdin(sqlite_file: TestDatabase) -> None:
    url = _url(sqlite_file)
    assert (
        runner.invoke(
            app, ["site", "add", "APGH", "Armed Police General Hospital", "--url", url]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app,
        [
            "user",
            "add",
            "li.na",
            "--role",
            "coordinator",
            "--role",
            "investigator",
            "--site",
            "APGH",
            "--name",
            "Li Na",
            "--password-stdin",
            "--url",
            url,
        ],
        input="a long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "user li.na created: roles coordinator, investigator; sites APGH" in result.output
    listed = runner.invoke(app, ["user", "list", "--url", url], env={"COLUMNS": "200"})
    row = next(line for line in listed.output.splitlines() if "li.na" in line)
    assert all(text in row for text in ("Li Na", "coordinator, investigator", "APGH", "active"))


def test_user_add_prompts_for_the_password_twice(sqlite_file: TestDatabase) -> None:
    url = _url(sqlite_file)
    result = runner.invoke(
        app,
        ["user", "add", "root", "--role", "admin", "--url", url],
        input="a long passphrase\na long passphrase\n",
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "stdin", "code", "text"),
    [
        (["--role", "coordinator", "--site", "APGH"], "short\n", 2, "at least 12 characters"),
        (["--role", "nurse", "--site", "APGH"], "a long passphrase\n", 2, "'nurse' is not a role"),
        (["--role", "monitor", "--site", "NOPE"], "a long passphrase\n", 2, "unknown site NOPE"),
    ],
)
def test_user_add_refusals_name_the_problem(sqlite_file, args, stdin, code, text) -> None:  # type: ignore[no-untyped-def]
    url = _url(sqlite_file)
    runner.invoke(app, ["site", "add", "APGH", "Armed Police General Hospital", "--url", url])
    result = runner.invoke(
        app, ["user", "add", "someone", *args, "--password-stdin", "--url", url], input=stdin
    )
    assert result.exit_code == code and text in result.output


def test_audit_verify_passes_then_names_the_tampered_entry(sqlite_file: TestDatabase) -> None:
    url = _url(sqlite_file)
    runner.invoke(app, ["site", "add", "APGH", "Armed Police General Hospital", "--url", url])
    runner.invoke(app, ["site", "add", "PUMC", "Second site", "--url", url])
    ok = runner.invoke(app, ["audit", "verify", "--url", url])
    assert ok.exit_code == 0 and "intact: 2 entries" in ok.output
    execute_as_dba(sqlite_file, "DELETE FROM audit_entries WHERE sequence = 1")
    broken = runner.invoke(app, ["audit", "verify", "--url", url])
    assert broken.exit_code == 1
    assert "entry #1 was removed" in broken.output
