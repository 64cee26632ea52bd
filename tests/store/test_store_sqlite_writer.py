"""SQLite writers queue for the database (`trialdesk.store.sqlite_writer`, issue 8).

The fair lock on its own (grants in arrival order, survives a waiter that gave up), the lock as
`make_engine` installs it (many threads writing one file, failed writes, readers), and the file
lock between processes (a second process waits for the first, a killed holder frees it).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trialdesk.store.engine import make_engine
from trialdesk.store.sqlite_writer import _HOLDS, FairLock, WriterLock, _lock_for

WAIT_S = 10.0  # generous bound for anything that should happen "at once"
STARTUP_S = 60.0  # a child Python importing SQLAlchemy on a busy machine

metadata = MetaData()
writes = Table(
    "writes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("writer", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    UniqueConstraint("writer", "n"),
)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def _start(target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _join(thread: threading.Thread, timeout: float = WAIT_S) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), "thread still blocked"


# --- FairLock ----------------------------------------------------------------------------------


def _queued(lock: FairLock, waiters: int) -> bool:
    return len(lock._waiters) == waiters


def test_fair_lock_grants_in_arrival_order() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[int] = []
    threads = []

    def waiter(i: int) -> None:
        assert lock.acquire(timeout=WAIT_S)
        order.append(i)  # serialised by the lock itself
        lock.release()

    for i in range(8):
        threads.append(_start(waiter, i))
        # the next one asks only once this one is visibly in the queue
        _wait_for(partial(_queued, lock, i + 1), f"waiter {i} queued")
    assert order == []  # all wait while the lock is held
    lock.release()
    for thread in threads:
        _join(thread)
    assert order == list(range(8))
    assert not lock._held and not lock._waiters


def test_fair_lock_timed_out_waiter_leaves_the_queue() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    results: dict[str, bool] = {}
    order: list[str] = []

    def waiter(name: str, timeout: float) -> None:
        results[name] = got = lock.acquire(timeout=timeout)
        if got:
            order.append(name)
            lock.release()

    first = _start(waiter, "first", WAIT_S)
    _wait_for(partial(_queued, lock, 1), "first queued")
    impatient = _start(waiter, "impatient", 0.2)
    _wait_for(partial(_queued, lock, 2), "impatient queued")
    last = _start(waiter, "last", WAIT_S)
    _wait_for(partial(_queued, lock, 3), "last queued")
    _join(impatient)
    assert results == {"impatient": False}
    assert len(lock._waiters) == 2  # its place in the queue is gone

    lock.release()  # to "first", who hands over to "last", not to the waiter that gave up
    _join(first)
    _join(last)
    assert order == ["first", "last"]
    assert results == {"impatient": False, "first": True, "last": True}
    assert not lock._held
    assert lock.acquire(timeout=0.1)  # free again, not stuck on the abandoned hand-over


def test_fair_lock_release_without_waiters_frees_it() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    busy: list[bool] = []
    _join(_start(lambda: busy.append(lock.acquire(timeout=0.05))))
    assert busy == [False]  # held: another thread cannot have it
    lock.release()
    assert not lock._held
    got: list[bool] = []
    started = time.monotonic()
    _join(_start(lambda: got.append(lock.acquire(timeout=WAIT_S))))
    assert got == [True] and time.monotonic() - started < 1


# --- through make_engine, in one process -------------------------------------------------------


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return (tmp_path / "writers.sqlite").resolve()


@pytest.fixture
def engine(sqlite_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{sqlite_path}", durable=False)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _writer_lock(path: Path) -> WriterLock:
    return _lock_for(str(path))  # the one make_engine installed for this file


def _file_locked(path: Path) -> bool:
    """Whether some open file (this process or another) holds the writer flock."""
    fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _assert_free(path: Path) -> None:
    lock = _writer_lock(path)
    assert not lock.threads._held and not lock.threads._waiters
    assert not _file_locked(path)


def _insert(engine: Engine, writer: int, n: int) -> None:
    with engine.begin() as connection:
        connection.execute(writes.insert().values(writer=writer, n=n))


def _timed_write_in_thread(engine: Engine, writer: int, n: int) -> float:
    """Seconds one more write takes (in a thread: a leaked lock must fail the test, not hang)."""
    elapsed: list[float] = []

    def write() -> None:
        started = time.monotonic()
        _insert(engine, writer, n)
        elapsed.append(time.monotonic() - started)

    _join(_start(write), timeout=60)
    assert elapsed, "the write failed"
    return elapsed[0]


def _rows(engine: Engine) -> set[tuple[int, int]]:
    with engine.connect() as connection:
        return {(r.writer, r.n) for r in connection.execute(select(writes.c.writer, writes.c.n))}


def test_many_threads_write_one_file_without_errors(engine: Engine, sqlite_path: Path) -> None:
    writers, rows_each = 8, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write(writer: int) -> None:
        try:
            barrier.wait(timeout=WAIT_S)
            for n in range(rows_each):
                if writer % 2:  # Core transactions and ORM sessions both give the lock back
                    with engine.begin() as connection:
                        connection.execute(select(func.count()).select_from(writes)).scalar()
                        connection.execute(writes.insert().values(writer=writer, n=n))
                else:
                    with Session(engine) as session:
                        session.execute(writes.insert().values(writer=writer, n=n))
                        session.commit()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [_start(write, w) for w in range(writers)]
    for thread in threads:
        _join(thread, timeout=120)
    assert errors == []  # in particular no "database is locked"
    expected = {(w, n) for w in range(writers) for n in range(rows_each)}
    assert _rows(engine) == expected
    _assert_free(sqlite_path)
    assert _timed_write_in_thread(engine, 99, 0) < 1


def test_the_lock_is_held_from_the_first_write_until_the_commit(
    engine: Engine, sqlite_path: Path
) -> None:
    lock = _writer_lock(sqlite_path)
    with engine.begin() as connection:
        connection.execute(select(writes.c.id)).all()
        assert not lock.threads._held and _HOLDS not in connection.info  # reads don't take it
        connection.execute(writes.insert().values(writer=1, n=1))
        assert connection.info[_HOLDS] is True
        assert lock.threads._held and _file_locked(sqlite_path)
    _assert_free(sqlite_path)


def test_a_failed_write_gives_the_lock_back(engine: Engine, sqlite_path: Path) -> None:
    _insert(engine, 1, 1)
    with pytest.raises(IntegrityError):
        _insert(engine, 1, 1)  # the statement itself fails (unique constraint)
    _assert_free(sqlite_path)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(writes.insert().values(writer=2, n=1))
        raise RuntimeError("the service refused after writing: rolled back")
    _assert_free(sqlite_path)
    with pytest.raises(IntegrityError), Session(engine) as session:
        session.execute(writes.insert().values(writer=1, n=1))
    _assert_free(sqlite_path)
    assert _timed_write_in_thread(engine, 3, 1) < 1  # not ~30 s behind a leaked lock
    assert _rows(engine) == {(1, 1), (3, 1)}


def test_a_session_that_only_reads_never_takes_the_lock(engine: Engine, sqlite_path: Path) -> None:
    _insert(engine, 1, 1)
    read: list[int] = []
    took_lock: list[bool] = []

    def reader() -> None:
        with Session(engine) as session:
            read.append(session.execute(select(func.count()).select_from(writes)).scalar_one())
            session.execute(select(writes.c.writer).where(writes.c.n == 1)).all()
            took_lock.append(_HOLDS in session.connection().info)
            session.commit()

    with engine.connect() as writer:
        writer.begin()
        writer.execute(writes.insert().values(writer=2, n=2))  # holds the lock, uncommitted
        assert _writer_lock(sqlite_path).threads._held
        started = time.monotonic()
        _join(_start(reader))  # WAL: the reader neither waits for the writer nor queues
        assert time.monotonic() - started < 1
        writer.commit()
    assert read == [1] and took_lock == [False]
    _assert_free(sqlite_path)


# --- between processes -------------------------------------------------------------------------

# Run as `python -c CHILD <mode> <url> <args...>`; files are the handshake with the test.
CHILD = r"""
import sys, threading, time
from pathlib import Path
from sqlalchemy import text
from trialdesk.store.engine import make_engine

mode, url, *args = sys.argv[1:]
engine = make_engine(url, durable=False)
INSERT = text("INSERT INTO writes (writer, n) VALUES (:w, :n)")

def wait_for(flag):
    while not Path(flag).exists():
        time.sleep(0.005)

if mode == "write":  # <go flag> <first writer id> <threads> <rows each>
    go, first, threads, rows = args[0], int(args[1]), int(args[2]), int(args[3])
    def write(writer):
        for n in range(rows):
            with engine.begin() as connection:
                connection.execute(INSERT, {"w": writer, "n": n})
    workers = [threading.Thread(target=write, args=(first + i,)) for i in range(threads)]
    wait_for(go)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
elif mode == "hold":  # <held flag> <go flag> <times file>: an open write until told to commit
    held, go, times = args
    with engine.begin() as connection:
        connection.execute(INSERT, {"w": 1, "n": 1})
        Path(held).touch()
        wait_for(go)
        before_commit = time.time()
    released = time.time()
    Path(times).write_text(f"{before_commit} {released}")
elif mode == "write-one":  # <started flag> <times file>
    started, times = args
    Path(started).touch()
    with engine.begin() as connection:
        connection.execute(INSERT, {"w": 2, "n": 1})
    Path(times).write_text(str(time.time()))
elif mode == "hold-forever":  # <held flag>: killed by the test while holding the lock
    with engine.begin() as connection:
        connection.execute(INSERT, {"w": 1, "n": 1})
        Path(args[0]).touch()
        time.sleep(600)
print("ok")
"""


def _child(mode: str, path: Path, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, f"sqlite:///{path}", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = STARTUP_S) -> None:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0 and output.strip().endswith("ok"), output


def _wait_for_file(flag: Path, *processes: subprocess.Popen[str]) -> None:
    def there() -> bool:
        for process in processes:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"child exited early ({process.returncode}): {output}")
        return flag.exists()

    _wait_for(there, f"{flag.name} exists", timeout=STARTUP_S)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Child processes of a test, killed if the test ends without them having finished."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_two_processes_write_one_file_without_errors(
    engine: Engine,
    sqlite_path: Path,
    tmp_path: Path,
    children: list[subprocess.Popen[str]],
) -> None:
    go = tmp_path / "go"
    threads, rows = 4, 25
    children += [_child("write", sqlite_path, go, first, threads, rows) for first in (0, 100)]
    go.touch()  # both start writing together once imported
    for process in children:
        _finish(process)
    expected = {(first + t, n) for first in (0, 100) for t in range(threads) for n in range(rows)}
    assert _rows(engine) == expected
    _assert_free(sqlite_path)


def test_a_writer_in_another_process_waits_for_the_holder(
    engine: Engine,
    sqlite_path: Path,
    tmp_path: Path,
    children: list[subprocess.Popen[str]],
) -> None:
    held, go, started = tmp_path / "held", tmp_path / "go", tmp_path / "started"
    holder_times, waiter_times = tmp_path / "holder.times", tmp_path / "waiter.times"
    holder = _child("hold", sqlite_path, held, go, holder_times)
    children.append(holder)
    _wait_for_file(held, holder)
    assert _file_locked(sqlite_path)  # the holder's flock, seen from this process

    waiter = _child("write-one", sqlite_path, started, waiter_times)
    children.append(waiter)
    _wait_for_file(started, waiter)
    time.sleep(1.0)  # plenty for an unqueued write to go through
    assert waiter.poll() is None and not waiter_times.exists()  # still waiting for the holder

    go.touch()
    _finish(holder)
    _finish(waiter)
    before_commit, released = map(float, holder_times.read_text().split())
    waiter_done = float(waiter_times.read_text())
    assert waiter_done > before_commit  # it wrote after the holder committed, not before
    assert waiter_done - released < WAIT_S  # and soon after, not at the end of a busy timeout
    assert _rows(engine) == {(1, 1), (2, 1)}
    _assert_free(sqlite_path)


def test_a_killed_holder_does_not_block_the_next_writer(
    engine: Engine,
    sqlite_path: Path,
    tmp_path: Path,
    children: list[subprocess.Popen[str]],
) -> None:
    held = tmp_path / "held"
    holder = _child("hold-forever", sqlite_path, held)
    children.append(holder)
    _wait_for_file(held, holder)
    assert _file_locked(sqlite_path)
    holder.kill()  # SIGKILL: no rollback, no unlock by the process itself
    holder.wait(timeout=WAIT_S)
    assert not _file_locked(sqlite_path)  # the kernel dropped its flock
    assert _timed_write_in_thread(engine, 3, 1) < WAIT_S  # well under the 30 s busy timeout
    assert _rows(engine) == {(3, 1)}  # the killed transaction never happened
    _assert_free(sqlite_path)
