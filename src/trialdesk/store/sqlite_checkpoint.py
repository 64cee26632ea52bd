"""WAL checkpoints off the write path, for a long-running server on SQLite.

By default the connection whose commit pushes the write-ahead log past 1,000 pages copies it
back into the database file (an automatic checkpoint, ``PRAGMA wal_autocheckpoint``) inside
that commit, with a disk flush, while every other writer waits (the load test saw a stall every
~4 s, issue 8). A server instead turns the automatic checkpoint off on its own connections and
runs a PASSIVE checkpoint every second from a background thread: PASSIVE copies what no reader
still needs and never blocks writers or readers (SQLite, "Write-Ahead Logging" §3 and
``sqlite3_wal_checkpoint_v2``). Durability does not change: a committed transaction is already
flushed to the log (``synchronous=FULL``), and a log left behind by a crash is replayed by the
next connection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import Engine

from trialdesk.store.engine import SQLITE_SYNCHRONOUS, on_connect, sqlite_file

log = logging.getLogger("trialdesk.store")

INTERVAL_S = 1.0


class Checkpointer:
    """A daemon thread checkpointing one SQLite database file every `interval` seconds."""

    def __init__(self, path: str, interval: float = INTERVAL_S) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """(busy, log frames, frames checkpointed) as SQLite reports them."""
        busy, frames, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(done)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        connection.execute(SQLITE_SYNCHRONOUS)  # a checkpoint syncs the database file too
        try:
            while not self._stop.wait(self.interval):
                self._round(connection)
            self._round(connection)  # leave a short log behind
        finally:
            connection.close()

    def _round(self, connection: sqlite3.Connection) -> None:
        try:
            self.checkpoint(connection)
        except sqlite3.Error as exc:  # the next round tries again; the log is replayed anyway
            log.warning("WAL checkpoint of %s failed: %s", self.path, exc)


def checkpoint_in_background(engine: Engine, interval: float = INTERVAL_S) -> Checkpointer | None:
    """For a SQLite file engine: no automatic checkpoints on its connections, a `Checkpointer`
    instead (started; stop it at shutdown). None for other engines."""
    path = sqlite_file(engine.url)
    if path is None:
        return None

    on_connect(engine, "PRAGMA wal_autocheckpoint=0")

    return Checkpointer(str(path), interval).start()
