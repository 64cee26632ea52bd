"""`trialdesk backup` / `trialdesk restore`: a backup taken from a live database restores to the
same rows and the same verified audit chain, after the original was lost or changed; damaged or
mismatched backups are refused before anything is replaced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import audited_ids, populate, server_url
from sqlalchemy import text
from tools.harness.database import (
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
)
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.cli import app as cli
from trialdesk.store.audit import verify_chain
from trialdesk.store.backup import (
    BackupError,
    Snapshot,
    backup,
    manifest_path,
    restore,
    take_snapshot,
)
from trialdesk.store.models import IttSample, IttTest, Measurement

runner = CliRunner()


@pytest.fixture(scope="module", params=available_backends())
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """A populated database; every test leaves it holding what it held at the start."""
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("live"))
    populate(db)
    yield db
    db.dispose()


def _lose(db: TestDatabase) -> None:
    """The disaster: the database is gone (file deleted / schema dropped)."""
    db.engine.dispose()
    if db.backend == "sqlite":
        path = Path(str(db.engine.url.database))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with db.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{db.schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{db.schema}"'))


def _snapshot(db: TestDatabase) -> Snapshot:
    with db.engine.connect() as connection:
        return take_snapshot(connection)


def test_backup_then_restore_after_loss_gives_the_same_rows_and_chain(
    live: TestDatabase, tmp_path: Path
) -> None:
    url = server_url(live)
    before = _snapshot(live)
    assert before.counts["measurements"] == 12 and before.counts["itt_samples"] == 24

    made = runner.invoke(cli, ["backup", str(tmp_path / "study.bak"), "--url", url])
    assert made.exit_code == 0, made.output
    assert "audit trail to #" in made.output
    manifest = json.loads(manifest_path(tmp_path / "study.bak").read_text())
    assert manifest["snapshot"]["counts"] == before.counts

    # Work done after the backup is not in it; then the database is lost altogether.
    with live.session() as session:
        actor = sv.actor_for(
            session, session.scalar(text("SELECT id FROM users WHERE username = 'coordinator'"))
        )
        pid = session.scalar(text("SELECT min(id) FROM participants"))
        sv.record_measurement(
            session,
            actor,
            pid,
            sv.VisitMeasurement(visit_code="SCR", element="hba1c", value=7.9, unit="%"),
        )
    _lose(live)

    done = runner.invoke(cli, ["restore", str(tmp_path / "study.bak"), "--url", url])
    assert done.exit_code == 0, done.output
    assert "counts match the manifest" in done.output and "audit trail intact" in done.output
    after = _snapshot(live)
    assert after == before
    with live.session() as session:
        assert verify_chain(session).ok
        # Every clinical row still has its audit entry, and the reverse.
        assert audited_ids(session, "measurements") == {m.id for m in session.query(Measurement)}
        assert audited_ids(session, "itt_tests") == {t.id for t in session.query(IttTest)}
        assert all(
            len([s for s in session.query(IttSample) if s.itt_test_id == t.id]) == 6
            for t in session.query(IttTest)
        )
    verified = runner.invoke(cli, ["audit", "verify", "--url", url])
    assert verified.exit_code == 0, verified.output


def test_restore_refuses_to_overwrite_data_unless_forced(
    live: TestDatabase, tmp_path: Path
) -> None:
    url = server_url(live)
    backup(url, tmp_path / "b.bak")
    refused = runner.invoke(cli, ["restore", str(tmp_path / "b.bak"), "--url", url])
    assert refused.exit_code == 1
    assert "not empty" in refused.output and "--force" in refused.output
    forced = runner.invoke(cli, ["restore", str(tmp_path / "b.bak"), "--url", url, "--force"])
    assert forced.exit_code == 0, forced.output


def test_a_damaged_backup_is_refused_before_anything_is_replaced(
    live: TestDatabase, tmp_path: Path
) -> None:
    url = server_url(live)
    file = tmp_path / "b.bak"
    backup(url, file)
    before = _snapshot(live)
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match its manifest"):
        restore(file, url, force=True)
    assert _snapshot(live) == before


def test_backup_does_not_overwrite_and_names_the_problem(
    live: TestDatabase, tmp_path: Path
) -> None:
    url = server_url(live)
    backup(url, tmp_path / "b.bak")
    again = runner.invoke(cli, ["backup", str(tmp_path / "b.bak"), "--url", url])
    assert again.exit_code == 1 and "already exists" in again.output


def test_a_backup_cannot_be_restored_into_the_other_backend(tmp_path: Path) -> None:
    bogus = tmp_path / "x.bak"
    bogus.write_bytes(b"PGDMP" + b"\0" * 64)
    with pytest.raises(BackupError, match="postgresql backup; it cannot be restored into sqlite"):
        restore(bogus, f"sqlite:///{tmp_path / 'db.sqlite'}")
    bogus.write_bytes(b"not a backup at all")
    with pytest.raises(BackupError, match="neither a SQLite database nor a pg_dump"):
        restore(bogus, f"sqlite:///{tmp_path / 'db.sqlite'}")
