"""The Alembic migration builds exactly the schema the models describe, on every backend."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from tools.harness.database import TestDatabase, fresh_database

from trialdesk.store import Base, current_revision, database_url, head_revision, make_engine
from trialdesk.store.config import DatabaseConfigError


def test_migration_reaches_head_and_creates_every_table(db: TestDatabase) -> None:
    assert current_revision(db.engine) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_models_and_migration_agree(db: TestDatabase) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migration_seeds_the_audit_chain_head(db: TestDatabase) -> None:
    with db.engine.connect() as connection:
        row = connection.execute(text("SELECT id, last_sequence, last_hash FROM audit_head")).one()
    assert tuple(row) == (1, 0, "0" * 64)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = fresh_database(directory=tmp_path)
    try:
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            with pytest.raises(Exception, match="FOREIGN KEY"):
                connection.execute(
                    text("INSERT INTO site_memberships (user_id, site_id) VALUES (999, 999)")
                )
    finally:
        db.dispose()


def test_database_url_defaults_to_sqlite_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRIALDESK_DATABASE_URL", raising=False)
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path))
    assert database_url() == f"sqlite:///{tmp_path}/trialdesk.sqlite"
    monkeypatch.delenv("TRIALDESK_DATA_DIR")
    assert database_url() == "sqlite:///data/trialdesk.sqlite"


def test_database_url_from_environment_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALDESK_DATABASE_URL", "postgresql+psycopg://u:p@localhost/td")
    assert database_url().startswith("postgresql+psycopg://")
    monkeypatch.setenv("TRIALDESK_DATABASE_URL", "mysql://u:p@localhost/td")
    with pytest.raises(DatabaseConfigError, match="TRIALDESK_DATABASE_URL.*mysql"):
        database_url()
    monkeypatch.setenv("TRIALDESK_DATABASE_URL", "not a url")
    with pytest.raises(DatabaseConfigError, match="not a database URL"):
        database_url()


def test_plain_postgresql_urls_use_psycopg3() -> None:
    engine = make_engine("postgresql://u:p@localhost/td")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_migration_0008_keeps_existing_sites_and_reverts_cleanly(db: TestDatabase) -> None:
    """0008 on a database holding data: existing sites get UTC; downgrading to 0002 (through
    every later migration) removes what 0008 added and the data of 0002 is untouched."""
    from alembic import command
    from tools.harness.database import seed_demo_site_and_users

    from trialdesk import services as sv
    from trialdesk.store.migrate import alembic_config

    with db.session() as session:
        seed = seed_demo_site_and_users(session)
        coordinator = sv.actor_for(session, seed.users["coordinator"])
        p = sv.register_participant(
            session, coordinator, sv.Registration(site_code="APGH", registered_on=date.today(),
            full_name="Chen Jie", date_of_birth=date(1966, 1, 2), sex="F"),
        )  # fmt: skip
        sv.record_deviation(
            session, coordinator, p.id, sv.DeviationEntry(category="procedure", severity="minor",
            description="sample taken late", detected_on=date.today()),
        )  # fmt: skip
    config = alembic_config(db.engine)
    command.downgrade(config, "0002")
    inspector = inspect(db.engine)
    assert "screening_declines" not in inspector.get_table_names()
    assert "time_zone" not in {c["name"] for c in inspector.get_columns("sites")}
    assert "reviewed_by" not in {c["name"] for c in inspector.get_columns("protocol_deviations")}
    command.upgrade(config, "head")
    assert current_revision(db.engine) == head_revision()
    with db.session() as session:
        assert {(s.code, s.time_zone) for s in sv.list_sites(session, sv.SYSTEM)} == {
            ("APGH", "UTC"),
            ("PUMC", "UTC"),
        }
        assert sv.verify_audit_trail(session, sv.SYSTEM).ok
        (kept,) = sv.list_deviations(session, coordinator).items
        assert kept.description == "sample taken late" and kept.reviewed_at is None
