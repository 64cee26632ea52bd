"""Fixtures of the web tests: a migrated database (SQLite, and PostgreSQL when
TRIALDESK_TEST_POSTGRES_URL is set) with the demo site and users, the FastAPI app with the web
pages mounted, and a logged-in test client per role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from trialdesk.api import ApiSettings, create_app
from trialdesk.store.testing import (
    DEMO_PASSWORD,
    DemoSeed,
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)
from trialdesk.web import WebSettings, mount

SECRET = "web-test-secret-" + "x" * 40
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session", params=available_backends())
def web_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("webdb"))
    yield db
    db.dispose()


@pytest.fixture()
def seeded(web_database: TestDatabase) -> DemoSeed:
    web_database.reset()
    with web_database.session() as session:
        return seed_demo_site_and_users(session)


@pytest.fixture()
def web_app(web_database: TestDatabase, seeded: DemoSeed) -> FastAPI:
    settings = ApiSettings(database_url=str(web_database.engine.url))
    app = create_app(settings, engine=web_database.engine)
    return mount(app, WebSettings(secret_key=SECRET))


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no form with a CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> TestClient:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


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


SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
