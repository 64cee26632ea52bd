"""Least privilege on PostgreSQL (issue 18): the application role writes through the services
and appends to the audit trail, but cannot change or remove audit entries, lift the append-only
triggers, or change the schema. Run against the real server (CI: the one .ci/run starts)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from anchor_helpers import command_url
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from tools.harness.database import (
    POSTGRES_URL_ENV,
    TestDatabase,
    fresh_database,
    seed_demo_site_and_users,
)
from typer.testing import CliRunner

from trialdesk import services as sv
from trialdesk.api import ApiSettings, create_app
from trialdesk.cli import app as cli
from trialdesk.store.audit import verify_chain
from trialdesk.store.engine import make_engine, make_session_factory
from trialdesk.store.models import AuditEntry
from trialdesk.store.roles import RolesError, grant_app_role

PASSWORD = "app-role-test-password"
pytestmark = pytest.mark.postgres


@dataclass
class AppSetup:
    owner: TestDatabase
    role: str
    app: Engine


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url and os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_URL_ENV} is not set: CI must prove the roles on a real server")
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (.ci/run sets it)")
    return url


def _drop_role(owner_url: str, role: str) -> None:
    admin = make_engine(owner_url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP OWNED BY "{role}"'))
        connection.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


@pytest.fixture(scope="module")
def setup() -> Iterator[AppSetup]:
    url = _postgres_url()
    owner = fresh_database(url)
    role = f"td_app_{uuid.uuid4().hex[:10]}"
    report = grant_app_role(owner.engine, role, PASSWORD)
    assert report.created and report.schema == owner.schema
    app_url = make_url(url).set(username=role, password=PASSWORD)
    app = make_engine(app_url, schema=owner.schema)
    try:
        yield AppSetup(owner, role, app)
    finally:
        app.dispose()
        owner.dispose()
        _drop_role(url, role)


def test_the_application_role_writes_through_the_services_with_its_audit_entry(
    setup: AppSetup,
) -> None:
    sessions = make_session_factory(setup.app)
    with sessions() as session:
        assert session.scalar(text("SELECT current_user")) == setup.role
        before = session.scalar(select(func.count()).select_from(AuditEntry))
        site = sv.create_site(
            session, sv.SYSTEM, "RLS", "Least Privilege Hospital", city="X", country="Y"
        )
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "sites")).all()
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == (before or 0) + 1
        assert any(e.record_id == str(site.id) for e in entries)
        assert verify_chain(session).ok


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE audit_entries SET reason = 'x'", "permission denied for table audit_entries"),
        ("DELETE FROM audit_entries", "permission denied for table audit_entries"),
        ("TRUNCATE audit_entries", "permission denied for table audit_entries"),
        ("ALTER TABLE audit_entries DISABLE TRIGGER USER", "must be owner of table"),
        ("ALTER TABLE audit_entries DISABLE TRIGGER ALL", "must be owner of table"),
        ("DROP TRIGGER audit_entries_no_change ON audit_entries", "must be owner of"),
        ("SET session_replication_role = replica", "permission denied to set parameter"),
        ("CREATE TABLE shadow (id integer)", "permission denied for schema"),
        ("DROP TABLE participants CASCADE", "must be owner of table"),
        ("ALTER TABLE participants ADD COLUMN note text", "must be owner of table"),
        ("CREATE SCHEMA elsewhere", "permission denied for database"),
        ("UPDATE alembic_version SET version_num = '0001'", "permission denied for table"),
    ],
)
def test_the_application_role_is_refused(setup: AppSetup, statement: str, refusal: str) -> None:
    with pytest.raises(DBAPIError, match=refusal), setup.app.begin() as connection:
        connection.execute(text(statement))


def test_a_privileged_or_owning_role_is_refused_as_application_role(setup: AppSetup) -> None:
    owner = setup.owner.engine
    with owner.connect() as connection:
        me = connection.scalar(text("SELECT current_user"))
    with pytest.raises(RolesError, match="owner role running this command"):
        grant_app_role(owner, str(me))
    with pytest.raises(RolesError, match="superuser"):
        grant_app_role(owner, "postgres")
    again = grant_app_role(owner, setup.role)  # idempotent: after the next `db upgrade`
    assert not again.created


def test_db_upgrade_grants_the_application_role_too(setup: AppSetup) -> None:
    url = command_url(setup.owner)
    result = CliRunner().invoke(
        cli, ["db", "upgrade", "--no-sites", "--app-role", setup.role, "--url", url]
    )
    assert result.exit_code == 0, result.output
    assert f"application role {setup.role} (exists)" in result.output
    with pytest.raises(DBAPIError, match="permission denied"), setup.app.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries"))


def test_db_roles_command(setup: AppSetup) -> None:
    result = CliRunner().invoke(
        cli,
        ["db", "roles", "--app-role", setup.role, "--url", command_url(setup.owner)],
    )
    assert result.exit_code == 0, result.output
    assert f"application role {setup.role} (exists)" in result.output
    assert "only SELECT/INSERT on audit_entries" in result.output


def test_db_roles_on_sqlite_says_what_sqlite_cannot_do() -> None:
    db = fresh_database()
    try:
        result = CliRunner().invoke(cli, ["db", "roles", "--url", command_url(db)])
    finally:
        db.dispose()
    assert result.exit_code == 2 and "SQLite has no users or privileges" in result.output


def test_the_server_runs_as_the_application_role(setup: AppSetup) -> None:
    """The whole app (sign-in, an audited write, verification) on the least-privileged role."""
    with make_session_factory(setup.owner.engine)() as session:
        seed = seed_demo_site_and_users(session)
    app_url = (
        make_url(setup.app.url.render_as_string(hide_password=False))
        .update_query_dict({"options": f"-csearch_path={setup.owner.schema}"})
        .render_as_string(hide_password=False)
    )
    with TestClient(create_app(ApiSettings(database_url=app_url))) as client:
        signed_in = client.post(
            "/api/v1/auth/token", json={"username": "admin", "password": seed.password}
        )
        assert signed_in.status_code == 200, signed_in.text
        bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        created = client.post(
            "/api/v1/sites",
            json={"code": "LPRV", "name": "Least Privilege Site", "city": "", "country": ""},
            headers=bearer,
        )
        assert created.status_code == 201, created.text
        verified = client.get("/api/v1/audit/verify", headers=bearer).json()
    assert verified["ok"] is True, verified
    with make_session_factory(setup.owner.engine)() as session:
        tables = session.scalars(
            select(AuditEntry.table_name).order_by(AuditEntry.sequence.desc()).limit(5)
        ).all()
    assert "sites" in tables
