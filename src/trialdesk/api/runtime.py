"""What a server process does once at start so that the first and the slowest requests are fast.

Measured by the load benchmark (issue 8, `docs/reliability.md`):

* **Garbage collection.** The process holds ~400,000 long-lived objects once the app and its
  libraries are imported; a full (generation 2) collection walked all of them and stopped every
  request for ~200–250 ms. `gc.freeze()` after start-up moves them to a permanent generation that
  collections skip (CPython docs, `gc.freeze`: "for a 'warm' start-up, before fork()"); later
  objects are still collected.
* **Worker threads.** The API's record endpoints run on the event loop
  (`trialdesk.api.routing`); the thread pool serves the slow ones marked `on_thread` (sign-in,
  audit verification) and the web pages. Only one thread runs Python at a time (the GIL), and a
  thread holding the database's write lock waits for it with the others, so the pool is kept
  small: `threads` (default 6). More processes scale (`trialdesk serve --workers`), more
  threads do not.
* **The protocol.** It is parsed and its catalogue built on first use: done here, not in the
  first request that records a value.
* **Connections.** Opening a connection (and, on SQLite, setting its pragmas) and compiling each
  statement the first time made the first second of traffic 10× slower; `warm_up` opens the
  pool's connections before the first request.
"""

from __future__ import annotations

import gc
import os

import anyio.to_thread
from sqlalchemy import Engine, text

THREADS_ENV = "TRIALDESK_THREADS"
DEFAULT_THREADS = 6
MIN_THREADS = 2
"""One thread is not enough: a request's session teardown needs a thread of its own."""
MAX_THREADS = 256
"""Upper bound on one process's threads (a typo guard, far above the 2-core default)."""


def threads() -> int:
    """`TRIALDESK_THREADS` (default 6): one process's threads for slow requests and web pages."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_THREADS
    except ValueError:
        raise ValueError(f"{THREADS_ENV}: {raw!r} is not a whole number") from None
    if not MIN_THREADS <= value <= MAX_THREADS:
        raise ValueError(f"{THREADS_ENV}: {value} is outside {MIN_THREADS}–{MAX_THREADS}")
    return value


def warm_up(engine: Engine, connections: int) -> None:
    """Open `connections` pooled connections now rather than during the first requests."""
    opened = []
    try:
        for _ in range(connections):
            connection = engine.connect()
            connection.execute(text("SELECT 1"))
            opened.append(connection)
    finally:
        for connection in opened:
            connection.close()  # back to the pool, still open


def prepare_process(engine: Engine, thread_count: int) -> None:
    """Call once the app is built, before serving (the lifespan start of each worker)."""
    from trialdesk.services.study import current_catalogue

    anyio.to_thread.current_default_thread_limiter().total_tokens = thread_count
    current_catalogue()
    # QueuePool.size() is a method; SingletonThreadPool (SQLite in memory) has an int `size`.
    size = getattr(engine.pool, "size", None)
    warm_up(engine, min(thread_count, size()) if callable(size) else 1)
    gc.collect()
    gc.freeze()
