"""A server anchors its own audit trail (issue 18): with a checkpoint key configured it signs
checkpoints in the background and at shutdown, and `GET /audit/verify` checks the trail against
them; without one it says the trail is not anchored."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import Api
from sqlalchemy.engine import make_url
from tools.harness.database import TestDatabase, execute_as_dba

from trialdesk.api import ApiSettings, create_app
from trialdesk.store.anchor import anchor_config, generate_key


def _url(db: TestDatabase) -> str:
    url = db.engine.url.render_as_string(hide_password=False)
    if db.backend == "sqlite":
        return url
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={db.schema}"})
        .render_as_string(hide_password=False)
    )


def test_the_server_checkpoints_and_verifies_against_the_checkpoints(
    database: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database.reset_seeded()
    monkeypatch.setenv("TRIALDESK_AUDIT_DIR", str(tmp_path / "anchor"))
    config = anchor_config()
    generate_key(config)
    app = create_app(ApiSettings(database_url=_url(database)))  # its own engine: a real server
    api = Api(app)  # runs the lifespan: the checkpoint thread starts
    try:
        report = api.get("admin", "/audit/verify").json()
    finally:
        api.close()  # shutdown: a last checkpoint
    assert report["ok"] is True, report
    assert config.log_file.exists() and config.log_file.read_text().count("\n") >= 1
    execute_as_dba(database, "UPDATE audit_entries SET reason = 'x' WHERE sequence = 1")
    app = create_app(ApiSettings(database_url=_url(database)))
    api = Api(app)
    try:
        broken = api.get("admin", "/audit/verify").json()
    finally:
        api.close()
    assert broken["ok"] is False and broken["problem_sequence"] == 1, broken
    assert broken["anchored_through"] >= 9  # two sites and seven users, at least


def test_without_a_key_the_report_says_not_anchored(
    database: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database.reset_seeded()
    monkeypatch.setenv("TRIALDESK_AUDIT_DIR", str(tmp_path / "none"))
    api = Api(create_app(ApiSettings(database_url=_url(database))))
    try:
        report = api.get("admin", "/audit/verify").json()
    finally:
        api.close()
    assert report["ok"] is True and report["anchored_through"] is None
    assert any("NOT anchored" in note for note in report["notes"])
