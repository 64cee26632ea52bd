"""`trialdesk serve` starts uvicorn with the API on the given host and port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tools.harness.database import DEMO_PASSWORD, seed_demo_site_and_users
from typer.testing import CliRunner

from trialdesk.api.runtime import THREADS_ENV
from trialdesk.cli import app as cli
from trialdesk.store import make_engine, upgrade
from trialdesk.store.engine import make_session_factory
from trialdesk.web.csrf import CSRF_COOKIE
from trialdesk.web.routing import SESSION_COOKIE
from trialdesk.web.settings import SECRET_KEY_ENV

STARTUP_SECONDS = 120
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_help_names_the_defaults() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "8000" in result.output


@pytest.mark.slow
def test_serve_answers_over_http(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trialdesk.cli",
            "serve",
            "--port",
            str(port),
            "--database-url",
            url,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        # Generous: the whole CLI is imported first, which is slow on a busy CI machine.
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                spec = httpx.get(f"{base}/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "trialdesk serve did not start"
                time.sleep(0.2)
        assert spec.status_code == 200 and spec.json()["info"]["title"] == "trialdesk API"
        refused = httpx.post(f"{base}/auth/token", json={"username": "x", "password": "y"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_credentials"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_refuses_a_bad_thread_count() -> None:
    # None: CliRunner restores these afterwards, should `serve` write them to os.environ.
    clean = {"TRIALDESK_SECRET_KEY": None, "TRIALDESK_DATABASE_URL": None}
    result = CliRunner().invoke(cli, ["serve", "--threads", "1"], env={**clean})
    assert result.exit_code == 2
    assert "Invalid value for '--threads'" in result.output and "2" in result.output
    from_env = CliRunner().invoke(cli, ["serve"], env={**clean, "TRIALDESK_THREADS": "1"})
    assert from_env.exit_code == 2
    assert "TRIALDESK_THREADS" in from_env.output and "2–256" in from_env.output


# --- several worker processes ------------------------------------------------------------------


def _csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no form with a CSRF token"
    return match.group(1)


def _tcp_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of the loopback connection from `client_port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return inode
    return None


def _workers(supervisor: int) -> list[int]:
    """The worker processes uvicorn started (its children, without multiprocessing's helpers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if ppid == supervisor and b"multiprocessing.spawn" in command:
            found.append(int(stat.parent.name))
    return found


def _worker_of(response: httpx.Response, server_port: int, workers: list[int]) -> int:
    """Which worker process holds the (still open, keep-alive) connection of `response`."""
    client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    inode = _tcp_inode(server_port, client_port)
    assert inode is not None, "connection not found in /proc/net/tcp"
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds socket {inode}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop(process: subprocess.Popen[bytes], workers: list[int]) -> list[int]:
    """SIGTERM to the supervisor (it stops its workers, then exits); the workers it left."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # ours: started by the server process above
    return left


@contextmanager
def _fresh(
    method: str, url: str, cookies: dict[str, str] | None = None, **kwargs: Any
) -> Iterator[httpx.Response]:
    """One request on a new connection, kept open meanwhile so that its worker can be found."""
    with httpx.Client(timeout=30, cookies=cookies) as client:
        yield client.request(method, url, **kwargs)


def _serve_two_workers(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A seeded SQLite database served by `serve --workers 2`: the process, its port, its log."""
    url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        seed_demo_site_and_users(session, fast_hashing=True)
    engine.dispose()
    port = _free_port()
    # No key given: `serve` must make one and hand the same to both workers.
    env = {k: v for k, v in os.environ.items() if k not in {SECRET_KEY_ENV, THREADS_ENV}}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "trialdesk.cli", "serve", "--port", str(port)]
            + ["--database-url", url, "--workers", "2", "--threads", "4"]
            + ["--log-level", "warning"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return process, port, log


@pytest.mark.slow
def test_serve_with_two_workers_shares_tokens_and_form_keys(tmp_path: Path) -> None:
    """`--workers 2`: both processes serve, and neither refuses what the other issued."""
    process, port, log = _serve_two_workers(tmp_path)
    base = f"http://127.0.0.1:{port}"
    workers: list[int] = []

    def served_by(method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, int]:
        with _fresh(method, f"{base}{path}", **kwargs) as response:
            return response, _worker_of(response, port, workers)

    try:
        # Up once *both* workers answer (the first one may serve while the other still starts).
        deadline = time.monotonic() + STARTUP_SECONDS
        answered: set[int] = set()
        while len(answered) < 2:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not both workers answered: {answered}"
            workers[:] = _workers(process.pid)
            try:
                page, pid = served_by("GET", "/login")
                assert page.status_code == 200
                answered.add(pid)
            except httpx.TransportError:
                time.sleep(0.2)
        assert len(workers) == 2, workers
        assert "2 process(es) × 4 threads" in " ".join(log.read_text().split())

        # A token issued by one worker works on every following request, whichever worker.
        issued = httpx.post(
            f"{base}/api/v1/auth/token",
            json={"username": "coordinator", "password": DEMO_PASSWORD},
            timeout=30,
        )
        assert issued.status_code == 200, issued.text
        bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        with ThreadPoolExecutor(4) as pool:  # concurrent clients spread over both workers
            answers = list(
                pool.map(lambda _: served_by("GET", "/api/v1/auth/me", headers=bearer), range(24))
            )
        assert [me.status_code for me, _ in answers] == [200] * 24
        assert {me.json()["username"] for me, _ in answers} == {"coordinator"}
        assert {pid for _, pid in answers} == set(workers)

        # A login form opened on one worker is accepted when posted to the other.
        def log_in(_: int) -> tuple[int, int]:
            page, shown_by = served_by("GET", "/login")
            posted, posted_to = served_by(
                "POST",
                "/login",
                data={
                    "username": "monitor",
                    "password": DEMO_PASSWORD,
                    "csrf_token": _csrf_of(page.text),
                },
                cookies={CSRF_COOKIE: page.cookies[CSRF_COOKIE]},
                follow_redirects=False,
            )
            assert posted.status_code == 303, posted.text  # not 403 "Form refused (CSRF)"
            assert posted.cookies.get(SESSION_COOKIE)
            return shown_by, posted_to

        with ThreadPoolExecutor(4) as pool:
            pairs = list(pool.map(log_in, range(16)))
        assert any(shown != posted for shown, posted in pairs), pairs
    finally:
        left_running = _stop(process, workers)
    assert process.returncode == 0, log.read_text()
    assert left_running == [], "the supervisor left workers running"
