"""Fixtures of the security tests: the real app (API and web pages) over a migrated database
(SQLite, and PostgreSQL when TRIALDESK_TEST_POSTGRES_URL is set) holding two sites, each with a
participant who has a record of every kind, and a bearer token per demo user."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from security_helpers import World, build_site, make_app, sign_in_all
from tools.harness.database import (
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk import services as sv


@pytest.fixture(scope="session", params=available_backends())
def security_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("sec"))
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def world(security_db: TestDatabase) -> Iterator[World]:
    """Built once per backend; tests must leave the two participants' records as they are."""
    security_db.reset()
    with security_db.session() as session:
        seed = seed_demo_site_and_users(session)
        actors = {name: sv.actor_for(session, uid) for name, uid in seed.users.items()}
        records = {site: build_site(session, actors, site) for site in ("APGH", "PUMC")}
    app = make_app(security_db)
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens = sign_in_all(client, list(seed.users))
        yield World(security_db, app, client, seed, records, tokens, app.openapi())
