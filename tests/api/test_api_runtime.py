"""Per-process start-up of the server (`trialdesk.api.runtime`, issue 8): the thread count from
`TRIALDESK_THREADS`, the connection pool warmed before the first request, and what the app's
lifespan applies (thread limit, warm pool, frozen start-up objects)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from tools.harness.database import POSTGRES_URL_ENV, available_backends

from trialdesk.api import ApiSettings, create_app
from trialdesk.api.app import app_from_env
from trialdesk.api.runtime import DEFAULT_THREADS, THREADS_ENV, threads, warm_up
from trialdesk.store.config import DATABASE_URL_ENV
from trialdesk.store.engine import make_engine


def _url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'runtime.sqlite'}"
    return os.environ[POSTGRES_URL_ENV]


@pytest.fixture(params=available_backends())
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _url(request.param, tmp_path)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start and end with no frozen objects: the app's start-up freezes this test process."""
    gc.unfreeze()
    yield
    gc.unfreeze()


# --- TRIALDESK_THREADS -------------------------------------------------------------------------


def test_threads_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert threads() == DEFAULT_THREADS == 6
    monkeypatch.setenv(THREADS_ENV, "  ")
    assert threads() == 6


@pytest.mark.parametrize(("raw", "expected"), [("8", 8), (" 2 ", 2), ("256", 256)])
def test_threads_valid(monkeypatch: pytest.MonkeyPatch, raw: str, expected: int) -> None:
    monkeypatch.setenv(THREADS_ENV, raw)
    assert threads() == expected


@pytest.mark.parametrize("raw", ["x", "1", "0", "-4", "257", "999", "2.5"])
def test_threads_invalid(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(THREADS_ENV, raw)
    with pytest.raises(ValueError, match=THREADS_ENV):
        threads()


# --- warm_up -----------------------------------------------------------------------------------


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_warm_up_leaves_the_connections_open_in_the_pool(engine: Engine) -> None:
    assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    warm_up(engine, 6)
    assert engine.pool.checkedin() == 6  # type: ignore[attr-defined]
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    warm_up(engine, 3)  # already warm: reuses them, opens no more
    assert engine.pool.checkedin() == 6  # type: ignore[attr-defined]


# --- the app's lifespan ------------------------------------------------------------------------


def _with_probe(app: FastAPI) -> FastAPI:
    """Add a route that reports the thread limit of the event loop serving requests."""

    @app.get("/test-runtime-probe")
    async def probe() -> dict[str, float]:
        return {"threads": anyio.to_thread.current_default_thread_limiter().total_tokens}

    return app


@pytest.mark.usefixtures("unfrozen")
def test_app_start_up_applies_the_thread_limit_and_warms_the_pool(url: str) -> None:
    app = _with_probe(create_app(ApiSettings(database_url=url, threads=5)))
    engine: Engine = app.state.engine
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:  # as a context manager: the lifespan runs
        assert engine.pool.checkedin() == 5  # type: ignore[attr-defined]
        assert gc.get_freeze_count() > 0
        assert client.get("/test-runtime-probe").json() == {"threads": 5}
        assert client.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.usefixtures("unfrozen")
def test_app_from_env_takes_the_threads_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What each `trialdesk serve --workers` process builds."""
    monkeypatch.setenv(DATABASE_URL_ENV, _url("sqlite", tmp_path))
    monkeypatch.setenv(THREADS_ENV, "3")
    app = _with_probe(app_from_env())
    with TestClient(app) as client:
        assert client.get("/test-runtime-probe").json() == {"threads": 3}
        assert app.state.engine.pool.checkedin() == 3


def test_app_from_env_refuses_a_bad_thread_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, _url("sqlite", tmp_path))
    monkeypatch.setenv(THREADS_ENV, "1")
    with pytest.raises(ValueError, match=THREADS_ENV):
        app_from_env()


@pytest.mark.usefixtures("unfrozen")
def test_app_starts_on_an_in_memory_database() -> None:
    """Its pool (one connection per thread) has no `size()` to warm up to: one connection."""
    app = _with_probe(create_app(ApiSettings(database_url="sqlite://", threads=2)))
    with TestClient(app) as client:
        assert client.get("/test-runtime-probe").json() == {"threads": 2}


@pytest.mark.parametrize(("threads_", "at_least"), [(6, 40), (100, 100)])
def test_the_app_pool_has_a_connection_for_every_thread(
    url: str, threads_: int, at_least: int
) -> None:
    # More threads than connections made requests wait up to 30 s for one, then fail (issue 8).
    app = create_app(ApiSettings(database_url=url, threads=threads_))
    pool = app.state.engine.pool
    try:
        assert pool.size() + pool._max_overflow == at_least
    finally:
        app.state.engine.dispose()
