"""`trialdesk serve --workers N`: N server processes, each listening on the port itself.

uvicorn's own ``--workers`` binds one socket in the parent and lets every child accept from it.
The first child to wake takes every connection waiting, and a client keeps its connection
(HTTP keep-alive), so the load stays where it first landed: in the load benchmark (issue 8) one
of two processes served 5 requests in 6, and each run split differently, whence latencies that
changed from run to run. Here each process opens its own socket on the port with
``SO_REUSEPORT`` and the kernel spreads new connections over them evenly (a hash of the
client's address and port; Linux ``socket(7)``).

Two safeguards come with sharing a port: the port is tried first without ``SO_REUSEPORT``, so a
second server started on the same port fails (rather than quietly taking half the requests to
another database), and the kernel only lets sockets of the same user join the group.

The supervisor restarts a process that dies after it was serving (at most 5 restarts a minute
per process, counted over all of them), stops everything when one fails to start (a wrong
database URL would fail the same way every time), and on SIGINT/SIGTERM lets each process
finish its requests.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from typing import Any

import uvicorn

log = logging.getLogger("trialdesk.serve")

FACTORY = "trialdesk.api.app:app_from_env"
STARTUP_FAILED = 3  # uvicorn's own exit code for a failed start
_RESTARTS_PER_MINUTE = 5
_RESTART_WINDOW_S = 60
"""The window (seconds: one minute) over which restarts are counted."""
_STOP_GRACE_S = 15.0


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def check_port_free(host: str, port: int) -> None:
    """Raise `OSError` naming the address if something already listens on it."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"{host}:{port} is already in use ({exc.strerror})") from None


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, telling the supervisor once it serves."""

    def __init__(self, config: uvicorn.Config, ready: Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._ready.set()


def _worker(app: str, host: str, port: int, log_level: str, ready: Event) -> None:
    """One server process (the target of a spawned child): `app` is the import string of an
    app factory."""
    config = uvicorn.Config(app, factory=True, host=host, port=port, log_level=log_level)
    # The app first, the socket then: once in the port's group, the socket is dealt its share of
    # the new connections, which would wait for the imports (seconds), or be reset if the app
    # then failed to load.
    config.load()
    try:
        sock = _listening_socket(host, port)
    except OSError as exc:
        logging.getLogger("uvicorn.error").error("cannot listen on %s:%s: %s", host, port, exc)
        raise SystemExit(STARTUP_FAILED) from None
    # Ctrl-C reaches every process of the terminal's group: uvicorn finishes its requests, then
    # raises the signal again, as KeyboardInterrupt; no traceback for that.
    with contextlib.suppress(KeyboardInterrupt):
        _Server(config, ready).run(sockets=[sock])


@dataclass
class _Child:
    process: SpawnProcess
    ready: Event


@dataclass
class Supervisor:
    host: str
    port: int
    workers: int
    log_level: str = "info"
    app: str = FACTORY
    children: list[_Child] = field(default_factory=list)
    exit_code: int = 0
    stopping: bool = False  # set by a signal's handler or by a fatal failure
    _restarts: deque[float] = field(default_factory=deque)
    _context: Any = field(default_factory=lambda: multiprocessing.get_context("spawn"))

    def _start(self) -> _Child:
        ready = self._context.Event()
        process = self._context.Process(
            target=_worker,
            args=(self.app, self.host, self.port, self.log_level, ready),
            name="trialdesk-server",
        )
        process.start()
        return _Child(process, ready)

    def _replace(self, index: int, child: _Child) -> None:
        if not child.ready.is_set():
            log.error(
                "server process %s failed to start (exit code %s)",
                child.process.pid,
                child.process.exitcode,
            )
            self.exit_code = STARTUP_FAILED
            self.stopping = True
            return
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > _RESTART_WINDOW_S:
            self._restarts.popleft()
        if len(self._restarts) > _RESTARTS_PER_MINUTE * self.workers:
            log.error("server processes keep dying; stopping")
            self.exit_code = 1
            self.stopping = True
            return
        log.warning(
            "server process %s ended (exit code %s); starting another",
            child.process.pid,
            child.process.exitcode,
        )
        self.children[index] = self._start()

    def _on_signal(self, *_: object) -> None:
        # Only a flag: a handler that took a lock (a threading.Event's, say) could wait for
        # this same thread, which the signal interrupted while holding it, and never end.
        self.stopping = True

    def _watch(self) -> None:
        for index, child in enumerate(self.children):
            if self.stopping:
                return
            if not child.process.is_alive():
                child.process.join()
                self._replace(index, child)

    def _stop_all(self) -> None:
        for child in self.children:
            if child.process.is_alive():
                child.process.terminate()  # SIGTERM: uvicorn finishes the requests under way
        deadline = time.monotonic() + _STOP_GRACE_S
        for child in self.children:
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                child.process.kill()
                child.process.join()

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.children = [self._start() for _ in range(self.workers)]
            while not self.stopping:
                time.sleep(0.2)  # a signal's handler runs meanwhile
                self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code


def serve_workers(
    host: str, port: int, workers: int, log_level: str = "info", app: str = FACTORY
) -> int:
    """Serve with `workers` processes on one port; returns the exit code (see module docstring).

    `app` is the import string of the app factory each process calls (``module:function``)."""
    if not reuse_port_supported():  # not Linux/BSD: uvicorn's shared socket
        uvicorn.run(app, factory=True, host=host, port=port, workers=workers, log_level=log_level)
        return 0
    check_port_free(host, port)
    return Supervisor(host, port, workers, log_level, app).run()
