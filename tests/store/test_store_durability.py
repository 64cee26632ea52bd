"""SQLite commits wait for the disk: ``synchronous=FULL`` is set on every connection (issue 18),
not left to the build's default, which a distribution may compile as NORMAL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trialdesk.store.engine import make_engine
from trialdesk.store.sqlite_checkpoint import Checkpointer

_CONNECT = sqlite3.connect
FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def _synchronous(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA synchronous").fetchone()[0])


def _normal_by_default(path: Path) -> sqlite3.Connection:
    """A connection as a build whose default is NORMAL would hand out."""
    connection = _CONNECT(path, check_same_thread=False)
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def test_every_pooled_connection_is_synchronous_full(tmp_path: Path) -> None:
    path = tmp_path / "study.sqlite"
    engine = make_engine(f"sqlite:///{path}", creator=lambda: _normal_by_default(path))
    try:
        first, second = engine.connect(), engine.connect()  # two distinct pooled connections
        try:
            for connection in (first, second):
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        finally:
            first.close()
            second.close()
    finally:
        engine.dispose()


def test_only_the_test_engines_turn_it_off(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'scratch.sqlite'}", durable=False)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 0
    finally:
        engine.dispose()


def test_the_wal_checkpointer_connection_is_synchronous_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "study.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x integer)")
    engine.dispose()
    seen: list[int] = []

    class Recording(Checkpointer):
        def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
            seen.append(_synchronous(connection))
            return super().checkpoint(connection)

    monkeypatch.setattr(sqlite3, "connect", lambda *_a, **_k: _normal_by_default(path))
    Recording(str(path), interval=0.01).start().stop()
    assert seen and set(seen) == {FULL}
