"""Fixtures of the API tests: the real app over a real, migrated database (SQLite always,
PostgreSQL when TRIALDESK_TEST_POSTGRES_URL is set), the demo sites and users, an HTTP client
that signs in per user, and a `Builder` that prepares clinical data through the services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import Api, Env, make_builder
from fastapi import FastAPI
from tools.harness.database import (
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
)

from trialdesk.api import ApiSettings, create_app


@pytest.fixture(scope="session", params=available_backends())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("api"))
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def app(database: TestDatabase) -> FastAPI:
    return create_app(ApiSettings(database_url="sqlite://"), engine=database.engine)


@pytest.fixture
def env(database: TestDatabase, app: FastAPI) -> Iterator[Env]:
    seed = database.reset_seeded()
    build, session = make_builder(database, seed)
    api = Api(app)
    try:
        yield Env(api, build, seed, database)
    finally:
        api.close()
        session.close()
