"""The README's rule for the browser tests (tests/web/conftest.py): they run on SQLite, and
those marked ``both_backends`` on PostgreSQL too. Checked on pytest's own collection with a
PostgreSQL URL set (collecting connects to nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools.harness.database import POSTGRES_URL_ENV

ROOT = Path(__file__).parents[2]
UNMARKED = "tests/web/test_web_browser.py"  # browser tests, none marked both_backends
MARKED = "tests/web/test_web_conflicts_browser.py"  # marked for the whole module
SERVER_SIDE = "tests/web/test_web_workflow.py"  # TestClient tests: both backends as ever


def _collected(*files: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            POSTGRES_URL_ENV: "postgresql+psycopg://nobody@127.0.0.1/none",
            "CI": "",
        },
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_browser_tests_run_on_postgresql_only_when_marked() -> None:
    ids = _collected(UNMARKED, MARKED, SERVER_SIDE)
    by_file = {f: [i for i in ids if i.startswith(f)] for f in (UNMARKED, MARKED, SERVER_SIDE)}
    assert by_file[UNMARKED] and all("[sqlite" in i for i in by_file[UNMARKED]), by_file[UNMARKED]
    assert any("[postgresql" in i for i in by_file[MARKED]), by_file[MARKED]
    assert any("[sqlite" in i for i in by_file[MARKED]), by_file[MARKED]
    assert any("[postgresql" in i for i in by_file[SERVER_SIDE]), by_file[SERVER_SIDE]


def test_make_soak_runs_the_crash_test_longer_than_every_run() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    soak = makefile.split("\nsoak:", 1)[1].split("\n\n", 1)[0]
    assert "TRIALDESK_CRASH_CYCLES=500" in soak and "test_reliability_crash.py" in soak
    crash = (ROOT / "tests/reliability/test_reliability_crash.py").read_text("utf-8")
    assert 'os.environ.get("TRIALDESK_CRASH_CYCLES", "40")' in crash
