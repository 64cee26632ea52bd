"""Database fixtures for the store tests: every test runs on SQLite and, when
TRIALDESK_TEST_POSTGRES_URL is set, on PostgreSQL (a private schema per test session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tools.harness.database import TestDatabase, available_backends, backend_url, fresh_database


@pytest.fixture(scope="session", params=available_backends())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("store"))
    yield db
    db.dispose()


@pytest.fixture
def db(database: TestDatabase) -> TestDatabase:
    """The session's database, emptied for this test."""
    database.reset()
    return database
