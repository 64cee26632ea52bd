"""`trialdesk security policy`, `trialdesk user unlock|reset-password|reset-totp` and the
initial-password rule of `trialdesk user add`, run as an administrator would (issue #18)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tools.harness.database import (
    DEMO_PASSWORD,
    TestDatabase,
    fresh_database,
    seed_demo_site_and_users,
)
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.cli import app
from trialdesk.services.errors import TooManyAttempts
from trialdesk.store.models import AuditEntry, User

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def db(tmp_path: Path) -> Iterator[TestDatabase]:
    """SQLite: the command takes a URL, and PostgreSQL test schemas are not in URLs (the services
    behind these commands are tested on both backends in tests/services)."""
    database = fresh_database(directory=tmp_path)
    with database.session() as session:
        seed_demo_site_and_users(session)
    yield database
    database.dispose()


def _run(db: TestDatabase, *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, [*args, "--url", str(db.engine.url)], input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_policy_set_and_show(db: TestDatabase) -> None:
    out = _run(
        db,
        "security",
        "policy",
        "set",
        "--reason",
        "SOP-IT-07 v2",
        "--totp-role",
        "investigator",
        "--lockout-threshold",
        "3",
        "--idle-timeout-minutes",
        "20",
    )
    assert "TOTP for investigator; lockout after 3 failures" in out
    shown = _run(db, "security", "policy", "show")
    assert "investigator" in shown and "20" in shown
    refused = runner.invoke(
        app,
        [
            "security",
            "policy",
            "set",
            "--reason",
            "x",
            "--min-password-length",
            "8",
            "--url",
            str(db.engine.url),
        ],
    )
    assert refused.exit_code == 2 and "min_password_length" in refused.output
    with db.session() as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == "security_policies")
            .order_by(AuditEntry.sequence.desc())
        ).first()
        assert entry is not None and entry.reason == "SOP-IT-07 v2"
        assert json.loads(entry.changes)["lockout_threshold"] == [5, 3]


def test_user_add_makes_the_password_an_initial_one(db: TestDatabase) -> None:
    _run(
        db,
        "user",
        "add",
        "li.na",
        "--role",
        "coordinator",
        "--site",
        "APGH",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    with db.session() as session, pytest.raises(sv.Forbidden, match="must be changed"):
        sv.login(session, "li.na", "a long passphrase")


def test_unlock_reset_password_and_reset_totp(db: TestDatabase) -> None:
    with db.session() as session:
        for _ in range(5):
            with pytest.raises(sv.Unauthenticated):
                sv.authenticate(session, "monitor", "wrong password")
        with pytest.raises(TooManyAttempts):
            sv.authenticate(session, "monitor", DEMO_PASSWORD)
    assert "user monitor unlocked" in _run(db, "user", "unlock", "monitor", "--reason", "phoned")
    with db.session() as session:
        assert sv.authenticate(session, "monitor", DEMO_PASSWORD).username == "monitor"
    out = _run(
        db,
        "user",
        "reset-password",
        "monitor",
        "--reason",
        "forgotten",
        "--password-stdin",
        stdin="granite lantern meadow\n",
    )
    assert "to be changed at the next login" in out
    with db.session() as session:
        assert sv.start_login(session, "monitor", "granite lantern meadow").next_step == (
            "change_password"
        )
    assert "enrolment at next login" in _run(db, "user", "reset-totp", "monitor", "--reason", "x")
    with db.session() as session:
        user = session.scalars(select(User).where(User.username == "monitor")).one()
        assert user.totp_secret is None
    missing = runner.invoke(
        app, ["user", "unlock", "nobody", "--reason", "x", "--url", str(db.engine.url)]
    )
    assert missing.exit_code == 1 and "user nobody not found" in missing.output
