"""Fixtures of the web tests: a migrated database (SQLite, and PostgreSQL when
TRIALDESK_TEST_POSTGRES_URL is set) with the demo site and users, the FastAPI app with the web
pages mounted, and a logged-in test client per user."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from browser_fixtures import chromium, live_url, open_page  # noqa: F401  (browser tests)
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tools.harness.database import (
    DemoSeed,
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
)
from web_helpers import SECRET, login

from trialdesk.api import ApiSettings, create_app
from trialdesk.web import WebSettings, mount


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Browser tests run on SQLite only, unless marked ``both_backends``.

    A browser test checks what the page does in chromium; the server side of every page runs
    on both backends in the TestClient tests of this folder. Running each browser test twice
    doubled the suite's longest part (chromium's CPU) to test the same pages. Where the
    database does change what the browser shows (two users racing for one row, values and
    times as each database returns them), the test is marked and runs on PostgreSQL too."""
    browser = metafunc.definition.get_closest_marker("browser")
    both = metafunc.definition.get_closest_marker("both_backends")
    if browser and not both and "web_database" in metafunc.fixturenames:
        # as a mark, which pytest's own hooks (run after this one) give precedence over the
        # fixture's params
        metafunc.definition.add_marker(
            pytest.mark.parametrize("web_database", ["sqlite"], indirect=True, scope="session")
        )


@pytest.fixture(scope="session", params=available_backends())
def web_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("webdb"))
    yield db
    db.dispose()


@pytest.fixture()
def seeded(web_database: TestDatabase) -> DemoSeed:
    return web_database.reset_seeded()


@pytest.fixture(scope="session")
def shared_app(web_database: TestDatabase) -> FastAPI:
    """One app per database: FastAPI builds each app's routing state on its first request,
    which costs about a second, so tests share the app and reset the database instead."""
    settings = ApiSettings(database_url=str(web_database.engine.url))
    app = create_app(settings, engine=web_database.engine)
    return mount(app, WebSettings(secret_key=SECRET))


@pytest.fixture()
def web_app(shared_app: FastAPI, seeded: DemoSeed) -> FastAPI:
    """The app over a freshly reset database with the demo site and users."""
    return shared_app


@pytest.fixture()
def client_for(web_app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    clients: list[TestClient] = []

    def make(username: str) -> TestClient:
        client = TestClient(web_app, base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        return login(client, username)

    yield make
    for client in clients:
        client.__exit__(None, None, None)
