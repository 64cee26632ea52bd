"""Engines and sessions.

SQLite is configured for a small multi-user server: WAL journal (readers never block the
writer), ``synchronous=FULL`` (durable commits), ``foreign_keys=ON`` (SQLite ignores foreign
keys otherwise) and a busy timeout so concurrent writers wait for the lock instead of failing
at once; within one process, writers queue for it in arrival order
(`trialdesk.store.sqlite_writer`). PostgreSQL is used through psycopg 3
(``postgresql+psycopg://``); a plain ``postgresql://`` URL is upgraded to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from trialdesk.store.config import database_url
from trialdesk.store.sqlite_writer import queue_writers

SQLITE_BUSY_TIMEOUT_MS = 30_000
# An acknowledged commit survives an OS crash or power loss, not only the process dying
# (SQLite "PRAGMA synchronous": FULL syncs the WAL at every commit; NORMAL may lose the last ones).
SQLITE_SYNCHRONOUS = "PRAGMA synchronous=FULL"
# A server thread holds one connection per request. SQLAlchemy's default pool (5 + 10 overflow)
# made the threads beyond it wait for a connection, up to 30 s, and then fail with a 500 under
# load (found by the load test, issue 8): the pool holds 20 + 20, or more for more threads
# (`make_engine(connections=…)`).
POOL_SIZE = 20
POOL_OVERFLOW = 20


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL; None for another backend or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _normalise(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL | None = None,
    *,
    schema: str | None = None,
    durable: bool = True,
    connections: int | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine for `url` (default: `trialdesk.store.config.database_url()`).

    `schema` (PostgreSQL only) puts every table in that schema via ``search_path``; the test
    helpers use it to give each test worker a private schema in one database. ``durable=False``
    (tests only) stops waiting for the disk at each commit. `connections`: the most the caller
    uses at once (a server's threads); the pool's overflow grows to allow them.
    """
    parsed = _normalise(url or database_url())
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    overflow = max(POOL_OVERFLOW, (connections or 0) - POOL_SIZE)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("pool_size", POOL_SIZE)
            kwargs.setdefault("max_overflow", overflow)
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        on_connect(
            engine,
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            # Set, not left to the build's default (SQLITE_DEFAULT_SYNCHRONOUS / _WAL_SYNCHRONOUS,
            # which a distribution may lower to NORMAL): each commit waits for the disk.
            SQLITE_SYNCHRONOUS if durable else "PRAGMA synchronous=OFF",
        )
        if path is not None:
            queue_writers(engine, str(path.resolve()), SQLITE_BUSY_TIMEOUT_MS / 1000)
        return engine
    options = ([f"-csearch_path={schema}"] if schema else []) + (
        [] if durable else ["-csynchronous_commit=off"]
    )
    if options:
        connect_args["options"] = " ".join(options)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", overflow)
    return create_engine(parsed, connect_args=connect_args, **kwargs)


def on_connect(engine: Engine, *statements: str) -> None:
    """Run `statements` on every new connection of `engine`, in order (SQLite's PRAGMAs hold
    per connection, not per database)."""

    def _run(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()

    event.listen(engine, "connect", _run)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (views are built before it anyway)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session closed on exit; services commit or roll back their own transaction."""
    session = make_session_factory(engine)()
    try:
        yield session
    finally:
        session.close()
