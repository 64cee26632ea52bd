"""`trialdesk serve` starts uvicorn with the API on the given host and port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from trialdesk.cli import app as cli
from trialdesk.store import make_engine, upgrade

STARTUP_SECONDS = 120


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
