"""One writer at a time, in arrival order, for a SQLite database shared by a server's threads.

SQLite lets one transaction write at a time. A second writer gets ``SQLITE_BUSY`` and its
busy handler *sleeps* and retries with growing pauses (1, 2, 5, 10 … 100 ms;
``sqliteDefaultBusyCallback`` in SQLite's ``main.c``), so under concurrent writes the unlucky
one waited hundreds of ms or seconds while the lock sat free most of that time (load test,
issue 8: write p99 1.3 s with 16 threads, for 4 ms of work each). Inside one process the
writers therefore queue on a fair (first come, first served) lock taken at a transaction's
first write statement and released when its connection goes back to the pool, i.e. after the
commit or rollback.

Between processes (``trialdesk serve --workers``, or a command run beside the server) the lock
holder also takes an exclusive ``flock`` on ``<database>-writer.lock``, polled every 2 ms at
most (SQLite's own handler backs off to 100 ms), so the one writer of each process takes turns
with the others promptly. A process that dies loses its flock with it. Anything writing the
file without trialdesk still meets SQLite's own lock and busy timeout, which stay as they were.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import Engine, event

_WRITES = ("insert", "update", "delete", "replace", "begin immediate", "begin exclusive")
_HOLDS = "trialdesk.sqlite_write_lock"


class FairLock:
    """A lock granted in the order it was asked for (a FIFO queue of waiters)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
        if gate.acquire(timeout=timeout):
            return True  # handed over by release(): the lock is ours
        with self._mutex:
            if gate in self._waiters:
                self._waiters.remove(gate)
                return False
        return True  # release() handed it over just as the wait timed out

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # stays held: handed to the next in line
            else:
                self._held = False


def _flock_until(fd: int, deadline: float) -> bool:
    """Take the exclusive flock, polling (flock has no timeout) with pauses of at most 2 ms."""
    pause = 0.0002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.002)


class WriterLock:
    """The fair in-process lock, then the file lock that other processes honour."""

    def __init__(self, database: str) -> None:
        self.threads = FairLock()
        self.lock_file = database + "-writer.lock"
        self._fd: int | None = None
        self._pid = os.getpid()

    def _file(self) -> int | None:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            try:
                self._fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                self._fd = None  # read-only directory: SQLite's own locking alone
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout):
            return False
        fd = self._file()
        if fd is None or _flock_until(fd, deadline):
            return True
        self.threads.release()  # another process kept it too long: SQLite's busy timeout decides
        return False

    def release(self) -> None:
        fd = self._file()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self.threads.release()


_LOCKS: dict[str, WriterLock] = {}
_LOCKS_MUTEX = threading.Lock()


def _lock_for(path: str) -> WriterLock:
    with _LOCKS_MUTEX:
        return _LOCKS.setdefault(path, WriterLock(path))


def queue_writers(engine: Engine, path: str, timeout_s: float) -> None:
    """Make `engine`'s connections take the per-file writer lock (see module docstring).

    After `timeout_s` without the lock the statement goes ahead anyway and SQLite's own busy
    timeout decides, as before: a thread that holds two connections cannot deadlock itself.
    """
    lock = _lock_for(path)

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.info.get(_HOLDS) is not None:
            return
        if statement.lstrip()[:15].lower().startswith(_WRITES):
            conn.info[_HOLDS] = lock.acquire(timeout_s)

    def _give_back(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
        if record is not None and record.info.pop(_HOLDS, None):
            lock.release()

    # Not "soft_invalidate": a softly invalidated connection goes on with its transaction until
    # it is checked in.
    event.listen(engine.pool, "checkin", _give_back)
    event.listen(engine.pool, "invalidate", _give_back)
    event.listen(engine.pool, "close", _give_back)
