"""Fixtures of the export tests that touch the study database (SQLite always, PostgreSQL when
TRIALDESK_TEST_POSTGRES_URL is set): a simulated cohort, and an empty target database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tools.harness.database import (
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk.simulate.run import SimulationSettings, run_simulation


@pytest.fixture(scope="session", params=available_backends())
def cohort(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """A database holding a simulated cohort (8 candidates, seed 3)."""
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("cohort"))
    with db.session() as session:
        seed_demo_site_and_users(session)
        run_simulation(session, SimulationSettings(n_candidates=8, seed=3))
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def empty(cohort: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(cohort.backend), directory=tmp_path_factory.mktemp("t"))
    yield db
    db.dispose()


@pytest.fixture
def target(empty: TestDatabase) -> TestDatabase:
    """An empty database of the cohort's backend, with the demo sites and users."""
    empty.reset_seeded()
    return empty
