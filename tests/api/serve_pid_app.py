"""App factories for the tests of `trialdesk.api.workers` (test_api_workers.py): each server
process builds its own app, which answers which process it is.

Imported by name (``serve_pid_app:make_app``) in the spawned server processes: the tests put
this directory on PYTHONPATH."""

from __future__ import annotations

import http.client
import json
import os
import time

from fastapi import FastAPI

FAIL_MARKER_ENV = "TRIALDESK_TEST_FAIL_MARKER"  # a file that must not exist yet
PORT_ENV = "TRIALDESK_TEST_PORT"


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/pid")
    async def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    return app


def pid_at(port: int, timeout: float = 10.0) -> int:
    """The pid of the server process answering GET /pid on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/pid", headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"GET /pid answered {response.status}: {body!r}")
    return int(json.loads(body)["pid"])


def make_app_failing_once() -> FastAPI:
    """The first process to call it (the one that creates TRIALDESK_TEST_FAIL_MARKER) waits
    until another process serves on TRIALDESK_TEST_PORT, then raises; the others serve."""
    try:
        os.close(os.open(os.environ[FAIL_MARKER_ENV], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return make_app()
    port = int(os.environ[PORT_ENV])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            pid_at(port, timeout=2)
            break
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
    time.sleep(3)  # the test sees it serve too
    raise RuntimeError("this server process fails to start, as the test wants")
