"""`trialdesk user redcap-token` and `redcap-revoke`, run as an administrator would (issue 15):
a 32-hex token shown once, stored hashed, that opens /redcap/api/ until revoked (audited)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tools.harness.database import TestDatabase, fresh_database, seed_demo_site_and_users
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.cli import app
from trialdesk.services.redcap_tokens import resolve_redcap_token
from trialdesk.store.models import ApiToken, AuditEntry

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def db(tmp_path: Path) -> Iterator[TestDatabase]:
    """SQLite: the command takes a URL (the service is tested on both backends in tests/api)."""
    database = fresh_database(directory=tmp_path)
    with database.session() as session:
        seed_demo_site_and_users(session)
    yield database
    database.dispose()


def _run(db: TestDatabase, *args: str, refused: bool = False) -> str:
    result = runner.invoke(app, [*args, "--url", str(db.engine.url)])
    assert (result.exit_code != 0) == refused, result.output
    return result.output


def test_token_made_used_and_revoked(db: TestDatabase) -> None:
    out = _run(db, "user", "redcap-token", "coordinator", "--days", "30")
    tokens = re.findall(r"\b[0-9A-F]{32}\b", out)
    assert len(tokens) == 1, out
    token = tokens[0]
    with db.session() as session:
        assert resolve_redcap_token(session, token).username == "coordinator"
        assert not any(token in str(r.token_hash) for r in session.scalars(select(ApiToken)))
    out = _run(db, "user", "redcap-revoke", "coordinator", "--reason", "left the study")
    assert "1 REDCap API token(s) of coordinator revoked" in out
    with db.session() as session:
        with pytest.raises(sv.Unauthenticated):
            resolve_redcap_token(session, token)
        reasons = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.table_name == "api_tokens")
        ).all()
        assert "left the study" in reasons


def test_refusals_name_the_option(db: TestDatabase) -> None:
    out = _run(db, "user", "redcap-token", "coordinator", "--days", "400", refused=True)
    assert "days: must be between 1 and 90 days" in out
    assert "not found" in _run(db, "user", "redcap-token", "nobody", refused=True)
    out = _run(db, "user", "redcap-revoke", "coordinator", "--reason", " ", refused=True)
    assert "reason" in out
