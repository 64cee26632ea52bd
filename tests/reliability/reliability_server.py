"""A launcher of real trialdesk servers for the crash test (run as a script, not a test).

Importing trialdesk and building its first answers takes about a second; hundreds of kill/restart
cycles would spend most of their time there. So this process does it once, the way a pre-forking
server (gunicorn ``--preload``) does: it builds the app with `create_app`, sends it the warm-up
requests given as JSON (real requests through the ASGI interface, so every code path the crash
test uses is compiled and cached), closes every database connection, and then, for each
``serve`` line read on stdin, forks a child that serves the app with uvicorn on 127.0.0.1 and
opens its own connections. It answers ``pid <n>`` once the child listens; the test SIGKILLs that
child. The parent holds no database connection when it forks.

    python reliability_server.py DATABASE_URL PORT WARMUP_JSON   # then "serve\\n" ... "quit\\n"

WARMUP_JSON: ``[{"method", "path", "json", "login": [user, password] or null}, ...]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from typing import Any


def _warm_up(app: Any, requests: list[dict[str, Any]]) -> None:
    import httpx

    async def send() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://warm-up") as client:
            tokens: dict[str, str] = {}
            for spec in requests:
                headers = {}
                if spec.get("login"):
                    user, password = spec["login"]
                    if user not in tokens:
                        answer = await client.post(
                            "/api/v1/auth/token", json={"username": user, "password": password}
                        )
                        tokens[user] = answer.json()["access_token"]
                    headers["Authorization"] = f"Bearer {tokens[user]}"
                headers.update(spec.get("headers") or {})
                answer = await client.request(
                    spec["method"], spec["path"], json=spec.get("json"), headers=headers
                )
                if answer.status_code >= 500:
                    raise RuntimeError(f"warm-up {spec['path']}: {answer.status_code}")

    asyncio.run(send())


def _serve_forever(app: Any, port: int) -> None:
    import uvicorn

    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # the parent's command pipe is not ours to read or write
    os.dup2(devnull, 1)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _wait_listening(port: int, pid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.005)
    return False


def main(url: str, port: int, warm_up: list[dict[str, Any]]) -> None:
    import uvicorn  # noqa: F401  (imported before forking: children start fast)

    from trialdesk.api import ApiSettings, create_app
    from trialdesk.services.passwords import use_fast_hashing

    use_fast_hashing()  # logins in the stream need not spend 100 ms in Argon2
    app = create_app(ApiSettings(database_url=url, docs_enabled=False))
    _warm_up(app, warm_up)
    app.state.engine.dispose()  # no connection may be shared with a child
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed children are reaped automatically
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            return
        if command != "serve":
            print(f"error unknown command {command!r}", flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            try:
                _serve_forever(app, port)
            finally:
                os._exit(0)
        ok = _wait_listening(port, pid)
        print(f"pid {pid}" if ok else f"error server {pid} did not start", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]))
