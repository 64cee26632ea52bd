"""WAL checkpoints in a background thread (`trialdesk.store.sqlite_checkpoint`, issue 8).

Which engines get one (SQLite files only), the automatic checkpoint turned off on the engine's
connections, the log copied back by the thread and not otherwise (the same writes without it
leave the log growing), data intact after concurrent writes, a prompt `stop()` with a final
checkpoint, failed rounds that do not end the thread, and the app's lifespan starting it only
for an engine it owns.
"""

from __future__ import annotations

import gc
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, Integer, MetaData, Table, Text, UniqueConstraint, text
from tools.harness.database import POSTGRES_URL_ENV

from trialdesk.api import ApiSettings, create_app
from trialdesk.store import make_engine, upgrade
from trialdesk.store.sqlite_checkpoint import Checkpointer, checkpoint_in_background

WAIT_S = 10.0  # generous bound for anything that should happen "at once"
THREAD_NAME = "sqlite-checkpoint"
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default `wal_autocheckpoint`
ROW_BYTES = 1000
ROWS_PER_TRANSACTION = 5
TRANSACTIONS_PER_BATCH = 100
BATCHES = 8  # ~4,000 rows of 1 KB in 800 transactions: well over 1,000 log pages in all

Round = tuple[int, int, int]

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("writer", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("writer", "n"),
)


def _body(writer: int, n: int) -> str:
    head = f"{writer}:{n}:"
    return head + "x" * (ROW_BYTES - len(head))


def _write(engine: Engine, writer: int, first: int, transactions: int) -> int:
    """`transactions` commits of `ROWS_PER_TRANSACTION` rows numbered from `first`; the next n."""
    n = first
    for _ in range(transactions):
        rows = [
            {"writer": writer, "n": i, "body": _body(writer, i)}
            for i in range(n, n + ROWS_PER_TRANSACTION)
        ]
        with engine.begin() as connection:
            connection.execute(notes.insert(), rows)
        n += ROWS_PER_TRANSACTION
    return n


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def _wait_for_rounds(rounds: list[Round], more: int) -> None:
    """Until `more` rounds beyond those reported so far have been reported."""
    target = len(rounds) + more
    _wait_for(lambda: len(rounds) >= target, f"{more} more checkpoint rounds")


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA page_size").fetchone()[0])


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "checkpoint.sqlite"


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines to dispose after the test, even a failed one."""
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


@pytest.fixture
def engine(path: Path, engines: list[Engine]) -> Engine:
    """A fresh file engine with the `notes` table; no connection opened yet stays in the pool."""
    # durable=False: 800 commits without a disk flush each; checkpoints do not depend on it
    engine = make_engine(f"sqlite:///{path}", durable=False)
    engines.append(engine)
    metadata.create_all(engine)
    engine.dispose()  # connections opened from here on see any listener the test adds
    return engine


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> list[Round]:
    """What each checkpoint run by a `Checkpointer` reported, in order."""
    results: list[Round] = []
    original = Checkpointer.checkpoint

    def recording(self: Checkpointer, connection: sqlite3.Connection) -> Round:
        result = original(self, connection)
        results.append(result)
        return result

    monkeypatch.setattr(Checkpointer, "checkpoint", recording)
    return results


@pytest.fixture(autouse=True)
def stopped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stop every `Checkpointer` a test started, even a failed test's: a thread left running
    would make the following tests fail too."""
    started: list[Checkpointer] = []
    original = Checkpointer.start

    def start(self: Checkpointer) -> Checkpointer:
        started.append(self)
        return original(self)

    monkeypatch.setattr(Checkpointer, "start", start)
    yield
    for checkpointer in started:
        checkpointer.stop()  # a second stop() is harmless


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start and end with no frozen objects: the app's start-up freezes this test process."""
    gc.unfreeze()
    yield
    gc.unfreeze()


# --- which engines -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_no_checkpointer_for_an_in_memory_database(url: str, engines: list[Engine]) -> None:
    engine = make_engine(url)
    engines.append(engine)
    assert checkpoint_in_background(engine, interval=0.01) is None
    assert _autocheckpoint(engine) == AUTOCHECKPOINT_PAGES  # no listener either
    assert _checkpoint_threads() == []


def test_no_checkpointer_for_postgresql_and_no_connection(engines: list[Engine]) -> None:
    # nothing listens on port 1: any attempt to connect would raise
    engine = make_engine("postgresql+psycopg://u:p@127.0.0.1:1/x")
    engines.append(engine)
    listeners = list(engine.pool.dispatch.connect)
    assert checkpoint_in_background(engine, interval=0.01) is None
    assert list(engine.pool.dispatch.connect) == listeners
    assert engine.pool.checkedin() == engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert _checkpoint_threads() == []


@pytest.mark.skipif(not os.environ.get(POSTGRES_URL_ENV), reason=f"{POSTGRES_URL_ENV} not set")
def test_a_postgresql_engine_still_connects(engines: list[Engine]) -> None:
    """No SQLite pragma sent to PostgreSQL on connect."""
    engine = make_engine(os.environ[POSTGRES_URL_ENV])
    engines.append(engine)
    assert checkpoint_in_background(engine, interval=0.01) is None
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1


# --- the automatic checkpoint ------------------------------------------------------------------


def test_connections_opened_afterwards_have_no_automatic_checkpoint(
    path: Path, engines: list[Engine]
) -> None:
    plain = make_engine(f"sqlite:///{path}")
    engines.append(plain)
    assert _autocheckpoint(plain) == AUTOCHECKPOINT_PAGES

    engine = make_engine(f"sqlite:///{path}")
    engines.append(engine)
    checkpointer = checkpoint_in_background(engine, interval=60)
    assert checkpointer is not None
    try:
        assert _autocheckpoint(engine) == 0
        with engine.connect() as first, engine.connect() as second:  # every pooled connection
            for connection in (first, second):
                assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
                assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert _autocheckpoint(plain) == AUTOCHECKPOINT_PAGES  # only this engine's connections
    finally:
        checkpointer.stop()


# --- the thread copies the log back ------------------------------------------------------------


def test_the_thread_checkpoints_the_log_as_it_grows(
    path: Path, engine: Engine, rounds: list[Round]
) -> None:
    checkpointer = checkpoint_in_background(engine, interval=0.02)
    assert checkpointer is not None
    try:
        n = 0
        for _ in range(BATCHES):
            n = _write(engine, 0, n, TRANSACTIONS_PER_BATCH)
            _wait_for_rounds(rounds, 2)  # the second one runs wholly after the batch
            busy, frames, done = rounds[-1]
            assert busy == 0
            assert done == frames > 0
    finally:
        checkpointer.stop()
    # once a log is all copied back the next writer starts it over: the file (never truncated)
    # stays at about one batch, though the batches wrote far more (next test)
    assert 0 < _wal_bytes(path) < AUTOCHECKPOINT_PAGES * _page_size(path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM notes").fetchone()[0] == n
        # nothing left that the thread had not copied
        busy, frames, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and done == frames


def test_without_the_thread_the_log_keeps_growing(
    path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same writes with the automatic checkpoint off and the thread never started."""
    monkeypatch.setattr(Checkpointer, "start", lambda self: self)
    assert checkpoint_in_background(engine, interval=0.02) is not None
    n = 0
    for _ in range(BATCHES):
        n = _write(engine, 0, n, TRANSACTIONS_PER_BATCH)
    assert _checkpoint_threads() == []
    # twice the automatic checkpoint's limit: with it on, the file ends just past 1,000 pages
    assert _wal_bytes(path) > 2 * AUTOCHECKPOINT_PAGES * _page_size(path)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM notes")).scalar_one() == n


def test_rows_written_by_threads_during_checkpoints_are_intact(
    path: Path, engine: Engine, rounds: list[Round]
) -> None:
    writers, transactions = 3, 200
    checkpointer = checkpoint_in_background(engine, interval=0.005)
    assert checkpointer is not None
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            _write(engine, i, 0, transactions)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(writers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_S * 3)
            assert not thread.is_alive()
    finally:
        checkpointer.stop()
    assert errors == []
    assert any(done > 0 for _, _, done in rounds)  # it copied pages while they wrote

    expected = {
        (w, n, _body(w, n))
        for w in range(writers)
        for n in range(transactions * ROWS_PER_TRANSACTION)
    }
    with sqlite3.connect(path) as connection:  # a fresh connection, not the engine's
        assert set(connection.execute("SELECT writer, n, body FROM notes")) == expected
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


# --- stop() ------------------------------------------------------------------------------------


def test_stop_ends_the_thread_at_once_after_a_final_checkpoint(
    path: Path, engine: Engine, rounds: list[Round]
) -> None:
    checkpointer = checkpoint_in_background(engine, interval=60)  # no round before stop()
    assert checkpointer is not None
    (thread,) = _checkpoint_threads()
    rows = _write(engine, 0, 0, TRANSACTIONS_PER_BATCH)
    assert rounds == []
    assert path.stat().st_size < rows * ROW_BYTES  # the rows are only in the log so far

    started = time.monotonic()
    checkpointer.stop()
    assert time.monotonic() - started < 2
    assert not thread.is_alive()
    assert _checkpoint_threads() == []

    ((busy, frames, done),) = rounds  # the final checkpoint, and only that one
    assert busy == 0
    assert done == frames > 0
    assert path.stat().st_size > rows * ROW_BYTES  # copied into the database file


# --- failures ----------------------------------------------------------------------------------


def _failing(
    monkeypatch: pytest.MonkeyPatch, fail: Callable[[int], bool]
) -> tuple[list[int], list[Round]]:
    """Make call number i (from 1) of `Checkpointer.checkpoint` raise if `fail(i)`."""
    calls: list[int] = []
    results: list[Round] = []
    original = Checkpointer.checkpoint

    def flaky(self: Checkpointer, connection: sqlite3.Connection) -> Round:
        calls.append(len(calls) + 1)
        if fail(len(calls)):
            raise sqlite3.OperationalError(f"test failure {len(calls)}")
        result = original(self, connection)
        results.append(result)
        return result

    monkeypatch.setattr(Checkpointer, "checkpoint", flaky)
    return calls, results


def test_a_failed_round_is_logged_and_the_next_ones_still_run(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trialdesk.store")
    calls, results = _failing(monkeypatch, lambda i: i == 1)
    checkpointer = checkpoint_in_background(engine, interval=0.01)
    assert checkpointer is not None
    try:
        _wait_for(lambda: len(results) >= 1, "a round after the failed one")
        (thread,) = _checkpoint_threads()
        n = _write(engine, 0, 0, 20)
        _wait_for_rounds(results, 2)
        busy, frames, done = results[-1]
        assert busy == 0 and done == frames > 0  # the writes were copied back
        assert thread.is_alive()
    finally:
        checkpointer.stop()
    assert n > 0
    failures = [
        r
        for r in caplog.records
        if r.name == "trialdesk.store" and r.levelno == logging.WARNING and "failed" in r.message
    ]
    assert len(failures) == 1
    assert "test failure 1" in failures[0].getMessage()
    assert calls[0] == 1 and len(calls) >= 3


def test_a_failed_final_checkpoint_is_logged_not_raised_in_the_thread(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trialdesk.store")
    unhandled: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", unhandled.append)
    calls, _ = _failing(monkeypatch, lambda i: True)
    checkpointer = checkpoint_in_background(engine, interval=60)
    assert checkpointer is not None
    (thread,) = _checkpoint_threads()
    checkpointer.stop()
    assert not thread.is_alive()
    assert calls == [1]
    assert unhandled == []
    assert any("test failure 1" in r.getMessage() for r in caplog.records)


# --- the app's lifespan ------------------------------------------------------------------------


@pytest.mark.usefixtures("unfrozen")
def test_an_app_that_owns_its_engine_runs_the_thread_while_it_serves(path: Path) -> None:
    url = f"sqlite:///{path}"
    upgrade(url)
    app = create_app(ApiSettings(database_url=url, threads=2))
    assert _checkpoint_threads() == []
    with TestClient(app) as client:
        (thread,) = _checkpoint_threads()
        assert _autocheckpoint(app.state.engine) == 0
        assert client.get("/api/v1/openapi.json").status_code == 200
    assert not thread.is_alive()
    assert _checkpoint_threads() == []


@pytest.mark.usefixtures("unfrozen")
def test_an_app_on_a_shared_engine_leaves_it_alone(path: Path, engines: list[Engine]) -> None:
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    engines.append(engine)
    app = create_app(ApiSettings(database_url=url, threads=2), engine=engine)
    with TestClient(app) as client:
        assert _checkpoint_threads() == []
        assert _autocheckpoint(engine) == AUTOCHECKPOINT_PAGES
        assert client.get("/api/v1/openapi.json").status_code == 200
    assert _checkpoint_threads() == []
