"""`trialdesk protocol show` shows the study database's protocol when one is configured, with its
version and SHA-256, and says so; the built-in protocol otherwise, also said (issue #18)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from tools.harness.database import TestDatabase, available_backends, backend_url, fresh_database
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.services.study import text_sha256

runner = CliRunner()
SECOND = Path(__file__).parents[1] / "protocol" / "data" / "second_protocol.yaml"


def _cli_url(db: TestDatabase) -> str:
    url = make_url(db.engine.url.render_as_string(hide_password=False))
    if db.backend == "postgresql":
        url = url.update_query_dict({"options": f"-csearch_path={db.schema}"})
    return url.render_as_string(hide_password=False)


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("backend", available_backends())
def test_show_reads_the_stored_protocol_with_version_and_hash(backend: str, tmp_path: Path) -> None:
    db = fresh_database(backend_url(backend), directory=tmp_path)
    try:
        url = _cli_url(db)
        upgrade = runner.invoke(
            app,
            ["db", "upgrade", "--url", url, "--protocol", str(SECOND), "--effective", "2026-02-01"],
            env={},
        )
        assert upgrade.exit_code == 0, upgrade.output
        shown = runner.invoke(app, ["protocol", "show", "--url", url], env={"COLUMNS": "300"})
        assert shown.exit_code == 0, shown.output
        flat = _flat(shown.output)
        assert "study database" in flat and "NCT99000018 version 1.0" in flat
        assert f"SHA-256 {text_sha256(SECOND.read_text('utf-8'))}" in flat
        assert "in force from 2026-02-01" in flat
    finally:
        db.dispose()


def test_show_without_a_database_says_built_in(tmp_path: Path) -> None:
    shown = runner.invoke(
        app,
        ["protocol", "show"],
        env={"COLUMNS": "300", "TRIALDESK_DATA_DIR": str(tmp_path), "TRIALDESK_DATABASE_URL": ""},
    )
    assert shown.exit_code == 0, shown.output
    flat = _flat(shown.output)
    assert "Source: built-in NCT01142050 (no study database configured" in flat
    assert not (tmp_path / "trialdesk.sqlite").exists()  # showing never creates a database


def test_show_of_a_database_without_protocol_says_built_in(tmp_path: Path) -> None:
    db = fresh_database(None, directory=tmp_path)  # migrated, no protocol stored
    try:
        shown = runner.invoke(
            app, ["protocol", "show", "--url", _cli_url(db)], env={"COLUMNS": "300"}
        )
        assert shown.exit_code == 0, shown.output
        assert "has no protocol registered" in _flat(shown.output)
        assert "built-in NCT01142050" in _flat(shown.output)
    finally:
        db.dispose()
