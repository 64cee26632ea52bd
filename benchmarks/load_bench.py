"""Load: 100 concurrent clients mixing reads and writes against the real server, for 60 s.

The server is `trialdesk serve` (uvicorn, one process) on 127.0.0.1 over a fresh database with
two sites, 40 consented participants and a signed-in coordinator per site. Each client (an
httpx async task; all of them share one event loop in this process) repeats: think for a random
time (exponential, mean ``TRIALDESK_LOAD_THINK_S``, default 0.5 s: a busy data-entry desk, far
faster than people type), then either records a measurement (``POST``, 50 %) or reads a
participant's measurements (``GET``, 50 %). The same clients are then run against a bare FastAPI
app on the same machine (one sync endpoint validating a body of the same shape and answering it
back: uvicorn + FastAPI + pydantic, no database), so the figures can be read against what the
framework alone costs here.

Afterwards every acknowledged write is counted in the database (no lost update) and the audit
chain is verified. Only loopback addresses are used; the run stops by itself.

    python -m benchmarks.run load_bench            # via `make bench`
    TRIALDESK_LOAD_SECONDS=10 python -m benchmarks.load_bench   # a short run, printed as JSON

Settings (environment): TRIALDESK_LOAD_SECONDS (60), TRIALDESK_LOAD_CLIENTS (100),
TRIALDESK_LOAD_THINK_S (0.5), TRIALDESK_LOAD_BARE_SECONDS (15); PostgreSQL is measured too when
TRIALDESK_TEST_POSTGRES_URL (or TRIALDESK_BENCH_POSTGRES_URL) is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

SECONDS = float(os.environ.get("TRIALDESK_LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("TRIALDESK_LOAD_CLIENTS", "100"))
THINK_S = float(os.environ.get("TRIALDESK_LOAD_THINK_S", "0.5"))
BARE_SECONDS = float(os.environ.get("TRIALDESK_LOAD_BARE_SECONDS", "15"))
WARMUP_SECONDS = float(os.environ.get("TRIALDESK_LOAD_WARMUP_SECONDS", "5"))
WORKERS = int(os.environ.get("TRIALDESK_LOAD_WORKERS", str(min(2, os.cpu_count() or 1))))
PARTICIPANTS_PER_SITE = 20
PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parent.parent


# --- the bare FastAPI reference ----------------------------------------------------------------


class _Entry(BaseModel):
    visit_code: str
    element: str
    value: float
    unit: str


def bare_app() -> FastAPI:
    """The reference: the same framework stack, no database (``uvicorn --factory``)."""
    app = FastAPI()

    @app.post("/api/v1/participants/{participant_id}/measurements", status_code=201)
    def write(participant_id: int, body: _Entry) -> dict[str, Any]:
        return {"id": participant_id, **body.model_dump()}

    @app.get("/api/v1/measurements")
    def read(participant_id: int, limit: int = 20) -> dict[str, Any]:
        return {"items": [], "total": 0, "limit": limit, "offset": participant_id}

    @app.get("/api/v1/auth/me")
    def me() -> dict[str, str]:
        return {"username": "bare"}

    return app


# --- servers -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    base: str
    pid: int  # the server process; its worker processes are its children


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        ticks[child] = int(fields[11]) + int(fields[12])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def _client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _server(command: list[str], port: int, env: dict[str, str]) -> Iterator[Served]:
    base = f"http://127.0.0.1:{port}"
    log = open(os.environ.get("TRIALDESK_LOAD_SERVER_LOG", os.devnull), "ab")  # noqa: SIM115
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server {command[2:5]} exited with {proc.returncode}")
            try:
                httpx.get(f"{base}/api/v1/auth/me", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Served(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TRIALDESK_SECRET_KEY": "load-bench-" + "k" * 40, **extra}


# --- the study -----------------------------------------------------------------------------


@dataclass
class Study:
    url: str  # for the server process
    participants: dict[str, list[int]]  # by coordinator
    cleanup: Any


def _prepare(backend_url: str | None) -> Study:
    from trialdesk import services as sv
    from trialdesk.store.testing import fresh_database, seed_demo_site_and_users

    db = fresh_database(backend_url)
    day = date.today() - timedelta(days=30)
    with db.session() as session:
        seed = seed_demo_site_and_users(session, fast_hashing=False)
        made: dict[str, list[int]] = {}
        for site, user in (("APGH", "coordinator"), ("PUMC", "coordinator2")):
            actor = sv.actor_for(session, seed.users[user])
            made[user] = []
            for _ in range(PARTICIPANTS_PER_SITE):
                p = sv.register_participant(
                    session,
                    actor,
                    site_code=site,
                    registered_on=day,
                    sex="F",
                    full_name="Load Test",
                    date_of_birth=date(1970, 1, 1),
                )
                sv.record_consent(session, actor, p.id, form_version="2.0", consented_on=day)
                sv.record_visit(session, actor, p.id, code="SCR", visit_date=day)
                made[user].append(p.id)
    url = db.engine.url.render_as_string(hide_password=False)
    if db.backend == "postgresql":
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={db.schema}"})
        url = scoped.render_as_string(hide_password=False)
    db.engine.dispose()
    return Study(url, made, db)


# --- the clients ---------------------------------------------------------------------------


@dataclass
class Tally:
    writes: list[float] = field(default_factory=list)  # seconds, acknowledged writes
    reads: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warm_up: int = 0  # requests answered during the warm-up, not in the figures


async def _client(
    http: aiohttp.ClientSession,
    token: str,
    pids: list[int],
    counted_from: float,
    until: float,
    rng: random.Random,
    tally: Tally,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        think = rng.expovariate(1 / THINK_S) if THINK_S > 0 else 0
        await asyncio.sleep(min(think, max(0.0, until - time.monotonic())))
        if time.monotonic() >= until:
            return
        pid = rng.choice(pids)
        write = rng.random() < 0.5
        started = time.perf_counter()
        try:
            if write:
                body = {
                    "visit_code": "SCR",
                    "element": "fasting_glucose",
                    "value": round(rng.uniform(4, 20), 1),
                    "unit": "mmol/L",
                }
                request = http.post(
                    f"/api/v1/participants/{pid}/measurements", json=body, headers=headers
                )
            else:
                request = http.get(
                    "/api/v1/measurements",
                    params={"participant_id": pid, "limit": 20},
                    headers=headers,
                )
            async with request as answer:
                text = await answer.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - started
        if started < counted_from:
            tally.warm_up += 1
            continue  # warm-up: the server's first requests are not what is measured
        if answer.status >= 400:
            tally.errors.append(f"{answer.status}: {text[:200]}")
        elif write:
            tally.writes.append(elapsed)
        else:
            tally.reads.append(elapsed)


async def _drive(
    base: str, tokens: dict[str, str], pids: dict[str, list[int]], seconds: float
) -> tuple[Tally, float]:
    tally = Tally()
    # One connection per client at most. Idle connections are dropped by the client before
    # uvicorn's 5 s keep-alive timeout, so that a request never races the server closing it.
    connector = aiohttp.TCPConnector(limit=CLIENTS, keepalive_timeout=2.0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:
        counted_from = time.perf_counter() + WARMUP_SECONDS
        until = time.monotonic() + WARMUP_SECONDS + seconds
        users = sorted(tokens)
        await asyncio.gather(
            *(
                _client(
                    http,
                    tokens[users[i % len(users)]],
                    pids[users[i % len(users)]],
                    counted_from,
                    until,
                    random.Random(i),
                    tally,
                )
                for i in range(CLIENTS)
            )
        )
        return tally, seconds


def _sign_in(base: str, users: list[str]) -> dict[str, str]:
    tokens = {}
    for user in users:
        answer = httpx.post(
            f"{base}/api/v1/auth/token", json={"username": user, "password": PASSWORD}, timeout=30
        )
        answer.raise_for_status()
        tokens[user] = answer.json()["access_token"]
    return tokens


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    p50, p95, p99 = np.percentile(np.array(samples) * 1000, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


def _load(
    served: Served, tokens: dict[str, str], pids: dict[str, list[int]], seconds: float
) -> tuple[dict[str, Any], Tally]:
    """Drive the clients against `served`; figures, with the CPU each side spent."""
    server_cpu, client_cpu = _cpu_seconds(served.pid), _client_cpu_seconds()
    tally, wall = asyncio.run(_drive(served.base, tokens, pids, seconds))
    server_cpu = _cpu_seconds(served.pid) - server_cpu
    client_cpu = _client_cpu_seconds() - client_cpu
    result = _summary(tally, wall)
    done = max(1, result["requests"] + tally.warm_up)  # the CPU was measured over both
    result["server_cpu_ms_per_request"] = server_cpu / done * 1000
    result["client_cpu_ms_per_request"] = client_cpu / done * 1000
    result["server_cpu_cores"] = server_cpu / (wall + WARMUP_SECONDS)
    return result, tally


def _summary(tally: Tally, wall: float) -> dict[str, Any]:
    done = len(tally.writes) + len(tally.reads)
    return {
        "requests": done,
        "rps": done / wall,
        "write_rps": len(tally.writes) / wall,
        "writes": {"n": len(tally.writes), **_percentiles(tally.writes)},
        "reads": {"n": len(tally.reads), **_percentiles(tally.reads)},
        "errors": len(tally.errors),
        "first_errors": tally.errors[:5],
    }


def _check_database(study: Study, before: int, acknowledged: int) -> dict[str, Any]:
    from trialdesk.store import make_engine, make_session_factory
    from trialdesk.store.audit import verify_chain
    from trialdesk.store.models import Measurement

    engine = make_engine(study.url)
    try:
        with make_session_factory(engine)() as session:
            stored = int(session.scalar(select(func.count()).select_from(Measurement)) or 0)
            chain = verify_chain(session)
    finally:
        engine.dispose()
    return {
        "stored_writes": stored - before,
        "acknowledged_writes": acknowledged,
        "lost": acknowledged - (stored - before),
        "audit_chain_ok": chain.ok,
    }


def measure_backend(backend_url: str | None, seconds: float = SECONDS) -> dict[str, Any]:
    """Run the load against `trialdesk serve` on a fresh database; figures as a dict."""
    study = _prepare(backend_url)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "trialdesk.cli",
        "serve",
        "--port",
        str(port),
        "--database-url",
        study.url,
        "--log-level",
        "warning",
        "--workers",
        str(WORKERS),
    ]
    try:
        with _server(command, port, _env()) as served:
            tokens = _sign_in(served.base, sorted(study.participants))
            result, tally = _load(served, tokens, study.participants, seconds)
        result.update(_check_database(study, 0, len(tally.writes)))
    finally:
        study.cleanup.dispose()
    result["backend"] = "postgresql" if backend_url else "sqlite"
    return result


def measure_bare(seconds: float = BARE_SECONDS) -> dict[str, Any]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "benchmarks.load_bench:bare_app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(WORKERS),
    ]
    pids = {"a": list(range(1, 41))}
    with _server(command, port, _env()) as served:
        result, _ = _load(served, {"a": "-"}, pids, seconds)
    return {"backend": "bare FastAPI", **result}


def _backends() -> list[str | None]:
    pg = os.environ.get("TRIALDESK_BENCH_POSTGRES_URL") or os.environ.get(
        "TRIALDESK_TEST_POSTGRES_URL"
    )
    return [None, pg] if pg else [None]


def measure_all() -> dict[str, Any]:
    bare = measure_bare()
    return {
        "settings": {
            "seconds": SECONDS,
            "clients": CLIENTS,
            "think_s": THINK_S,
            "bare_seconds": BARE_SECONDS,
            "warmup_seconds": WARMUP_SECONDS,
            "workers": WORKERS,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "bare": bare,
        "backends": [measure_backend(url) for url in _backends()],
    }


def run() -> list[dict[str, Any]]:
    """Rows for `benchmarks.run`: write p99 of trialdesk against the bare endpoint's p99."""
    figures = measure_all()
    bare = figures["bare"]
    rows = []
    for result in figures["backends"]:
        writes = result["writes"]
        if result["errors"] or result["lost"] or not result["audit_chain_ok"]:
            raise AssertionError(f"load on {result['backend']}: {json.dumps(result)[:800]}")
        rows.append(
            {
                "name": f"load {result['backend']}: write p99, {CLIENTS} clients × "
                f"{SECONDS:g} s (bare FastAPI p99 as baseline)",
                "baseline_seconds": bare["writes"]["p99_ms"] / 1000,
                "candidate_seconds": writes["p99_ms"] / 1000,
                "note": f"{result['rps']:.0f} req/s ({result['write_rps']:.0f} writes/s); "
                f"writes p50/p95/p99 {writes['p50_ms']:.1f}/{writes['p95_ms']:.1f}/"
                f"{writes['p99_ms']:.1f} ms; reads p99 {result['reads']['p99_ms']:.1f} ms; "
                f"bare {bare['rps']:.0f} req/s; errors {result['errors']}, lost "
                f"{result['lost']}; target p99 ≤ 50 ms "
                f"{'met' if writes['p99_ms'] <= 50 else 'NOT met'}",
            }
        )
    return rows


if __name__ == "__main__":
    print(json.dumps(measure_all(), indent=2))
