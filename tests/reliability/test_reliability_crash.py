"""Crash safety: the real server is SIGKILLed at random moments while clients stream writes.

40 kill/restart cycles per backend in every run (``TRIALDESK_CRASH_CYCLES``; ``make soak`` runs
500). Four client threads send a mix
of writes over HTTP: measurements (one in five outside the soft limits, which also raises a
data query in the same transaction), ITT tests (a test row and six sample rows), corrections of
earlier measurements (If-Match, reason) and logins (a bearer token). After the last cycle:

* every write the server acknowledged (2xx with its body) is in the database, with its values;
* nothing is half-present: every clinical row has its audit `create` entry and every audit
  `create` entry its row; every ITT has its six samples; every out-of-limit value its query;
  every correction its audit `update` entry;
* every acknowledged token still signs in, and the audit chain verifies (`trialdesk audit verify`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliability_helpers import audited_ids, populate, server_url
from sqlalchemy import select
from sqlalchemy.orm import Session
from tools.harness.database import (
    DEMO_PASSWORD,
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
)
from typer.testing import CliRunner

from trialdesk.cli import app as cli
from trialdesk.store.audit import verify_chain
from trialdesk.store.models import (
    ApiToken,
    AuditEntry,
    DataQuery,
    IttSample,
    IttTest,
    Measurement,
)

CYCLES = int(os.environ.get("TRIALDESK_CRASH_CYCLES", "40"))
WRITERS = 4
API = "/api/v1"
HERE = Path(__file__).resolve().parent
SAMPLES = [
    {"minute": m, "glucose": g}
    for m, g in ((0, 10.0), (3, 9.8), (6, 9.2), (9, 8.5), (12, 8.0), (15, 7.4))
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Launcher:
    """The pre-imported launcher process (`reliability_server.py`) and its current server."""

    def __init__(self, url: str, log: Path, warm_up: list[dict[str, Any]]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        command = [sys.executable, str(HERE / "reliability_server.py"), url, str(self.port)]
        self.proc = subprocess.Popen(
            [*command, json.dumps(warm_up)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, "TRIALDESK_SECRET_KEY": "crash-test-" + "k" * 40},
        )
        assert self._read() == "ready"
        self.server: int | None = None

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"launcher ended; see {self._log.name}")
        return line

    def start(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write("serve\n")
        self.proc.stdin.flush()
        answer = self._read()
        assert answer.startswith("pid "), answer
        self.server = int(answer.split()[1])
        return self.server

    def kill(self) -> None:
        """SIGKILL the server and wait until it is gone (its port must not answer any more)."""
        if self.server is None:
            return
        os.kill(self.server, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.server, 0)
            except ProcessLookupError:
                break
            time.sleep(0.002)
        self.server = None

    def close(self) -> None:
        self.kill()
        if self.proc.stdin:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self._log.close()


@dataclass
class Ledger:
    """What the server acknowledged, and anything it answered that it should not have."""

    measurements: dict[int, float] = field(default_factory=dict)  # id → last acked value
    versions: dict[int, int] = field(default_factory=dict)  # id → last acked version
    out_of_limits: set[int] = field(default_factory=set)
    itts: set[int] = field(default_factory=set)
    tokens: list[str] = field(default_factory=list)
    corrections: int = 0
    unexpected: list[str] = field(default_factory=list)
    interrupted: int = 0  # requests sent but never answered: the kill fell mid-request
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def writes(self) -> int:
        return len(self.measurements) + len(self.itts) + len(self.tokens) + self.corrections


class Writer(threading.Thread):
    """One client: random writes until the server dies under it."""

    def __init__(self, base: str, token: str, pid: int, ledger: Ledger, seed: int) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=base, timeout=20, headers={"Authorization": f"Bearer {token}"}
        )
        self.pid, self.ledger, self.rng = pid, ledger, random.Random(seed)
        self.mine: list[int] = []  # measurements this writer may correct (one writer each)

    def run(self) -> None:
        try:
            while True:
                self._one()
        except httpx.ConnectError:
            pass  # the server was already gone when this request was to start
        except httpx.TransportError:
            with self.ledger.lock:
                self.ledger.interrupted += 1
        finally:
            self.client.close()

    def _check(self, response: httpx.Response, expected: int) -> dict[str, Any] | None:
        if response.status_code == expected:
            return dict(response.json())
        with self.ledger.lock:
            self.ledger.unexpected.append(f"{response.request.url}: {response.status_code}")
        return None

    def _one(self) -> None:
        roll = self.rng.random()
        if roll < 0.45:
            self._measurement()
        elif roll < 0.65:
            self._itt()
        elif roll < 0.9 and self.mine:
            self._correction()
        else:
            self._login()

    def _measurement(self) -> None:
        high = self.rng.random() < 0.2
        value = round(self.rng.uniform(34.0, 59.0) if high else self.rng.uniform(3.5, 30.0), 2)
        body = {"visit_code": "SCR", "element": "fasting_glucose", "value": value}
        body["unit"] = "mmol/L"
        answer = self._check(
            self.client.post(f"{API}/participants/{self.pid}/measurements", json=body), 201
        )
        if answer:
            with self.ledger.lock:
                self.ledger.measurements[answer["id"]] = value
                self.ledger.versions[answer["id"]] = answer["version"]
                if high:
                    self.ledger.out_of_limits.add(answer["id"])
            self.mine.append(answer["id"])

    def _itt(self) -> None:
        body = {"visit_code": "SCR", "glucose_unit": "mmol/L", "samples": SAMPLES}
        answer = self._check(
            self.client.post(f"{API}/participants/{self.pid}/itt-tests", json=body), 201
        )
        if answer:
            with self.ledger.lock:
                self.ledger.itts.add(answer["id"])

    def _correction(self) -> None:
        target = self.rng.choice(self.mine)
        version = self.ledger.versions[target]
        value = round(self.rng.uniform(3.5, 30.0), 2)
        response = self.client.patch(
            f"{API}/measurements/{target}",
            json={"value": value, "unit": "mmol/L", "reason": "transcription error"},
            headers={"If-Match": f'"{version}"'},
        )
        if response.status_code == 409:
            # The previous correction committed but its answer was cut off by a kill: that is
            # allowed (it was never acknowledged); catch up and go on.
            fresh = self.client.get(f"{API}/measurements/{target}").json()
            with self.ledger.lock:
                self.ledger.versions[target] = fresh["version"]
                self.ledger.measurements[target] = fresh["value"]
                self.ledger.out_of_limits.discard(target)
            return
        answer = self._check(response, 200)
        if answer:
            with self.ledger.lock:
                self.ledger.measurements[target] = value
                self.ledger.versions[target] = answer["version"]
                self.ledger.out_of_limits.discard(target)
                self.ledger.corrections += 1

    def _login(self) -> None:
        answer = self._check(
            self.client.post(
                f"{API}/auth/token", json={"username": "coordinator", "password": DEMO_PASSWORD}
            ),
            200,
        )
        if answer:
            with self.ledger.lock:
                self.ledger.tokens.append(answer["access_token"])


@pytest.fixture(params=available_backends())
def crash_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path / "db")
    yield db
    db.dispose()


def _sign_in(base: str) -> str:
    response = httpx.post(
        f"{base}{API}/auth/token",
        json={"username": "coordinator", "password": DEMO_PASSWORD},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _warm_up(pid: int, measurement: Measurement) -> list[dict[str, Any]]:
    """The requests the launcher sends once before forking servers (see reliability_server)."""
    login = ["coordinator", DEMO_PASSWORD]
    fix = {"value": measurement.value, "unit": "mmol/L", "reason": "warm-up (no change)"}
    return [
        {"method": "GET", "path": f"{API}/auth/me", "login": login},
        {"method": "GET", "path": f"{API}/measurements/{measurement.id}", "login": login},
        {
            "method": "PATCH",
            "path": f"{API}/measurements/{measurement.id}",
            "json": fix,
            "headers": {"If-Match": f'"{measurement.version}"'},
            "login": login,
        },
    ]


def _cycle(launcher: Launcher, token: str, pid: int, ledger: Ledger, rng: random.Random) -> None:
    """Start a server, let the clients write, and SIGKILL it at a random point of the stream."""
    launcher.start()
    writers = [
        Writer(launcher.base, token, pid, ledger, rng.randrange(1 << 30)) for _ in range(WRITERS)
    ]
    for index, w in enumerate(writers):
        w.mine = [m for m in ledger.measurements if m % WRITERS == index]
        w.start()
    # Kill after a random number of acknowledged writes (0-2) plus a random delay, so that the
    # kill falls anywhere: before, during and after commits.
    target, deadline = ledger.writes + rng.randint(0, 2), time.monotonic() + 5
    while ledger.writes < target and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(rng.uniform(0, 0.03))
    launcher.kill()
    for w in writers:
        w.join(timeout=30)
        assert not w.is_alive(), "a client hung after the server was killed"


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill(crash_db: TestDatabase, tmp_path: Path) -> None:
    study = populate(crash_db, per_site=1)
    pid = study.participants["APGH"][0]
    with crash_db.session() as session:
        first = session.scalars(
            select(Measurement).where(Measurement.participant_id == pid)
        ).first()
        assert first is not None
        warm_up = _warm_up(pid, first)
    crash_db.engine.dispose()
    url = server_url(crash_db)
    rng = random.Random(20240601)
    ledger = Ledger()
    launcher = Launcher(url, tmp_path / "server.log", warm_up)
    try:
        launcher.start()
        token = _sign_in(launcher.base)
        launcher.kill()
        for _ in range(CYCLES):
            _cycle(launcher, token, pid, ledger, rng)
        launcher.start()
        alive = [
            httpx.get(
                f"{launcher.base}{API}/auth/me", headers={"Authorization": f"Bearer {t}"}
            ).status_code
            for t in ledger.tokens
        ]
    finally:
        launcher.close()

    print(
        f"crash test ({crash_db.backend}): {CYCLES} SIGKILLs; acknowledged: "
        f"{len(ledger.measurements)} measurements ({len(ledger.out_of_limits)} with a query), "
        f"{len(ledger.itts)} ITTs, {ledger.corrections} corrections, {len(ledger.tokens)} logins; "
        f"{ledger.interrupted} requests cut off mid-way"
    )
    assert not ledger.unexpected, ledger.unexpected[:10]
    assert ledger.writes >= CYCLES // 2, f"only {ledger.writes} acknowledged writes"
    assert ledger.interrupted >= CYCLES // 2, "the kills did not cut requests off mid-way"
    assert alive.count(200) == len(alive), "an acknowledged login token was lost"
    with crash_db.session() as session:
        _check_acknowledged(session, ledger)
        _check_nothing_half_present(session)
        chain = verify_chain(session)
        assert chain.ok, str(chain)
    verified = CliRunner().invoke(cli, ["audit", "verify", "--url", url])
    assert verified.exit_code == 0, verified.output


def _check_acknowledged(session: Session, ledger: Ledger) -> None:
    rows = {m.id: m for m in session.scalars(select(Measurement))}
    missing = sorted(set(ledger.measurements) - set(rows))
    assert not missing, f"acknowledged measurements lost: {missing[:10]}"
    for mid, value in ledger.measurements.items():
        row = rows[mid]
        assert row.version >= ledger.versions[mid], f"measurement {mid}: correction lost"
        if row.version == ledger.versions[mid]:
            assert row.value == pytest.approx(value), f"measurement {mid}: value differs"
    tests = set(session.scalars(select(IttTest.id)))
    assert ledger.itts <= tests, f"acknowledged ITTs lost: {sorted(ledger.itts - tests)[:10]}"
    queried = set(
        session.scalars(select(DataQuery.target_id).where(DataQuery.target_table == "measurements"))
    )
    assert ledger.out_of_limits <= queried, "an out-of-limit value lost its query"


def _check_nothing_half_present(session: Session) -> None:
    for model in (Measurement, IttTest, IttSample, DataQuery, ApiToken):
        table = model.__tablename__
        ids = set(session.scalars(select(model.id)))
        audited = audited_ids(session, table)
        assert ids == audited, (
            f"{table}: rows without audit entry {sorted(ids - audited)[:5]}, "
            f"audit entries without row {sorted(audited - ids)[:5]}"
        )
    per_test: dict[int, int] = {}
    for test_id in session.scalars(select(IttSample.itt_test_id)):
        per_test[test_id] = per_test.get(test_id, 0) + 1
    for test_id in session.scalars(select(IttTest.id)):
        assert per_test.get(test_id) == len(SAMPLES), f"ITT {test_id} has {per_test.get(test_id)}"
    updates: dict[int, int] = {}
    for record_id in session.scalars(
        select(AuditEntry.record_id).where(
            AuditEntry.table_name == "measurements", AuditEntry.action == "update"
        )
    ):
        updates[int(str(record_id))] = updates.get(int(str(record_id)), 0) + 1
    for row in session.scalars(select(Measurement)):
        assert updates.get(row.id, 0) == row.version - 1, f"measurement {row.id}: audit/version"
