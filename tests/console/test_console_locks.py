"""`trialdesk lock study|participant|list` and `trialdesk unlock` (issue 14), as an
administrator runs them; `trialdesk report` states the data cut. SQLite (the command takes a
URL); the services behind them run on both backends in tests/services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from tools.harness.database import TestDatabase, fresh_database, seed_demo_site_and_users
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.cli import app
from trialdesk.export.from_store import data_cut_at

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def db(tmp_path: Path) -> Iterator[TestDatabase]:
    database = fresh_database(directory=tmp_path)
    with database.session() as session:
        seed = seed_demo_site_and_users(session)
        sv.register_participant(
            session,
            sv.actor_for(session, seed.users["coordinator"]),
            sv.Registration(
                site_code="APGH",
                registered_on=date(2026, 1, 5),
                full_name="Li Na",
                date_of_birth=date(1970, 1, 1),
                sex="F",
            ),
        )
    yield database
    database.dispose()


def _run(db: TestDatabase, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--url", str(db.engine.url)])
    assert result.exit_code == code, result.output
    return result.output


def test_lock_and_unlock_from_the_command_line(db: TestDatabase) -> None:
    url = str(db.engine.url)
    assert not data_cut_at(url).locked
    out = _run(db, "lock", "participant", "APGH-001", "--reason", "data clean")
    assert "lock 1: the casebook of APGH-001 locked (data clean)" in out
    out = _run(
        db,
        "lock",
        "participant",
        "APGH-001",
        "--visit",
        "SCR",
        "--form",
        "x",
        "--reason",
        "r",
        code=2,
    )
    assert "form" in out and "has no form 'x'" in out
    out = _run(db, "lock", "study", "--reason", "final analysis")
    assert "the study database locked (final analysis)" in out
    cut = data_cut_at(url)
    assert cut.locked and cut.description.startswith("The study database is locked for analysis")
    assert "the system administrator" in cut.description
    listed = _run(db, "lock", "list")
    assert "the casebook of APGH-001" in listed and "the study database" in listed
    assert "unlock" in _run(db, "unlock", "2", "--reason", "", code=2).lower()
    out = _run(db, "unlock", "2", "--reason", "analysis rerun needs a correction")
    assert "lock 2: the study database unlocked" in out
    assert not data_cut_at(url).locked
    assert "the study database" in _run(db, "lock", "list", "--all")
