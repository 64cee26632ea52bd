"""Load: 100 concurrent clients mixing reads and writes against the real server, for 60 s.

The server is `trialdesk serve --workers 2` (one process per core of this 2-core machine, each
with its own socket on the port; default threads) on 127.0.0.1 over a fresh database with two
sites, 40 consented participants and a signed-in coordinator per site. Each client (an aiohttp
task; all share one event loop in this process) repeats: think for a random time (exponential,
mean *think*), then either records a measurement (``POST``, 50 %) or reads a participant's
measurements (``GET``, 50 %). The run is repeated for each mean think time of
``TRIALDESK_LOAD_THINK_S`` (default 2, 1, 0.5 and 0.25 s, i.e. about 50, 100, 200 and 400
requests/s offered by the 100 clients). The first ``TRIALDESK_LOAD_WARMUP_SECONDS`` (5) of each
run are not counted. The same clients are run for 15 s against a bare FastAPI app (one sync
endpoint validating a body of the same shape and answering it back: uvicorn + FastAPI +
pydantic, no database, same workers) at each think time, so the figures can be read against
what the framework alone costs here.

aiohttp, not httpx, drives the load: on this machine httpx spent ~2 ms of CPU per request on
the client side against ~0.7 ms for aiohttp, CPU taken from the server it measures on the same
two cores. The server's CPU time per request is reported too (from /proc), and each server
process's share of it, which shows how evenly the connections were spread.

Afterwards every acknowledged write is counted in the database (no lost update) and the audit
chain is verified. Only loopback addresses are used; the run stops by itself. `make bench`
also writes ``benchmarks/out/load.json`` and a plot of write latency against load,
``benchmarks/out/load.png``.

    python -m benchmarks.run load_bench            # via `make bench`
    TRIALDESK_LOAD_SECONDS=10 python -m benchmarks.load_bench   # a short run, printed as JSON

Settings (environment): TRIALDESK_LOAD_SECONDS (60), TRIALDESK_LOAD_CLIENTS (100),
TRIALDESK_LOAD_THINK_S ("2,1,0.5,0.25"), TRIALDESK_LOAD_BARE_SECONDS (15),
TRIALDESK_LOAD_WARMUP_SECONDS (5), TRIALDESK_LOAD_WORKERS (2); PostgreSQL is measured too when
TRIALDESK_TEST_POSTGRES_URL (or TRIALDESK_BENCH_POSTGRES_URL) is set.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

SECONDS = float(os.environ.get("TRIALDESK_LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("TRIALDESK_LOAD_CLIENTS", "100"))
_THINK = os.environ.get("TRIALDESK_LOAD_THINK_S", "2,1,0.5,0.25")
THINK_TIMES = [float(part) for part in _THINK.split(",") if part]
BARE_SECONDS = float(os.environ.get("TRIALDESK_LOAD_BARE_SECONDS", "15"))
WARMUP_SECONDS = float(os.environ.get("TRIALDESK_LOAD_WARMUP_SECONDS", "5"))
WORKERS = int(os.environ.get("TRIALDESK_LOAD_WORKERS", str(min(2, os.cpu_count() or 1))))
PARTICIPANTS_PER_SITE = 20
STEAL_NOTE_PERCENT = 5.0  # CPU steal worth a note on the plot
WRITE_SHARE = 0.5  # half the requests record a measurement, half list them
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


def _processes() -> Iterator[tuple[int, str, int, float]]:
    """(pid, command name, parent pid, CPU seconds user + system) of every process, from
    /proc/<pid>/stat (Linux ``proc(5)``)."""
    hertz = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue  # ended meanwhile
        fields = rest.split()
        yield (
            int(stat.parent.name),
            name,
            int(fields[1]),
            (int(fields[11]) + int(fields[12])) / hertz,
        )


def _cpu_by_process(pid: int) -> dict[int, float]:
    """CPU time (s) of a process and each of its live descendants."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for child, _, ppid, cpu in _processes():
        parents[child], seconds[child] = ppid, cpu
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return {p: seconds[p] for p in tree if p in seconds}


def _postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this machine (its backends, WAL writer,
    checkpointer): the database's share of a request, which the server's own figure leaves out."""
    return sum(cpu for _, name, _, cpu in _processes() if name == "postgres")


def _tracker(pid: int) -> bool:
    """multiprocessing's resource tracker, a child of the supervisor that serves nothing."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _spread(before: dict[int, float], after: dict[int, float], supervisor: int) -> list[float]:
    """Each server process's share of the server CPU spent between two readings (largest
    first): how evenly the kernel dealt the connections."""
    used = [after[p] - before.get(p, 0.0) for p in after if p != supervisor and not _tracker(p)]
    total = sum(used) or 1.0
    return sorted((round(u / total, 3) for u in used), reverse=True)


def _steal_ticks() -> tuple[int, int]:
    """(stolen, total) CPU ticks of the machine so far (/proc/stat): time the hypervisor gave
    this virtual machine's cores to someone else, which no code here can win back."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


def _client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _listening(port: int) -> int:
    """Sockets listening on `port` (/proc/net/tcp): one per server process once all are up.
    The clients connect only then, or the first process up would keep every connection."""
    rows = [row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for f in rows if f[1].endswith(f":{port:04X}") and f[3] == "0A")  # 0A: LISTEN


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
                if _listening(port) >= WORKERS:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"server {command[2:5]}: not every process listens after 60 s")
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
    from tools.harness.database import fresh_database, seed_demo_site_and_users

    from trialdesk import services as sv

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
                    sv.Registration(
                        site_code=site,
                        registered_on=day,
                        sex="F",
                        full_name="Load Test",
                        date_of_birth=date(1970, 1, 1),
                    ),
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
    warm_up_writes: int = 0  # acknowledged then: counted in the database check all the same


@dataclass(frozen=True)
class Window:
    """When the clients' answers start to count (perf_counter) and when they stop (monotonic)."""

    counted_from: float
    until: float


async def _client(
    http: aiohttp.ClientSession,
    token: str,
    pids: list[int],
    *,
    window: Window,
    rng: random.Random,
    tally: Tally,
    think_s: float,
) -> None:
    counted_from, until = window.counted_from, window.until
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        think = rng.expovariate(1 / think_s) if think_s > 0 else 0
        await asyncio.sleep(min(think, max(0.0, until - time.monotonic())))
        if time.monotonic() >= until:
            return
        pid = rng.choice(pids)
        write = rng.random() < WRITE_SHARE
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
            tally.warm_up_writes += write and answer.status < HTTPStatus.BAD_REQUEST
            continue  # warm-up: the server's first requests are not what is measured
        if answer.status >= HTTPStatus.BAD_REQUEST:
            tally.errors.append(f"{answer.status}: {text[:200]}")
        elif write:
            tally.writes.append(elapsed)
        else:
            tally.reads.append(elapsed)


async def _drive(
    base: str,
    tokens: dict[str, str],
    pids: dict[str, list[int]],
    *,
    seconds: float,
    think_s: float,
    label: str,
) -> tuple[Tally, float]:
    tally = Tally()
    # Each client its own connection, as each person's browser has: a shared pool would hand
    # the few connections just freed to whoever asks next, and a handful of connections (so of
    # server processes) would carry all the traffic. Idle connections are dropped by the client
    # before uvicorn's 5 s keep-alive timeout, so that a request never races the server
    # closing it.
    timeout = aiohttp.ClientTimeout(total=60)
    async with contextlib.AsyncExitStack() as stack:
        sessions = [
            await stack.enter_async_context(
                aiohttp.ClientSession(
                    base,
                    connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=2.0),
                    timeout=timeout,
                )
            )
            for _ in range(CLIENTS)
        ]
        window = Window(
            counted_from=time.perf_counter() + WARMUP_SECONDS,
            until=time.monotonic() + WARMUP_SECONDS + seconds,
        )
        users = sorted(tokens)
        await asyncio.gather(
            *(
                _client(
                    sessions[i],
                    tokens[users[i % len(users)]],
                    pids[users[i % len(users)]],
                    window=window,
                    rng=random.Random(i),
                    tally=tally,
                    think_s=think_s,
                )
                for i in range(CLIENTS)
            ),
            _show_progress(label, WARMUP_SECONDS + seconds, tally),
        )
        return tally, seconds


async def _show_progress(label: str, seconds: float, tally: Tally) -> None:
    """A rich progress bar on stderr (stdout may carry the JSON figures)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]} answered"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=seconds, done=0)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            done = len(tally.writes) + len(tally.reads) + tally.warm_up
            progress.update(task, completed=elapsed, done=done)
            await asyncio.sleep(0.5)


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
    served: Served,
    tokens: dict[str, str],
    pids: dict[str, list[int]],
    *,
    seconds: float,
    think_s: float,
    label: str,
) -> tuple[dict[str, Any], Tally]:
    """Drive the clients against `served`; figures, with the CPU each side spent."""
    processes, client_cpu = _cpu_by_process(served.pid), _client_cpu_seconds()
    database_cpu = _postgres_cpu_seconds()
    steal_before, ticks_before = _steal_ticks()
    tally, wall = asyncio.run(
        _drive(served.base, tokens, pids, seconds=seconds, think_s=think_s, label=label)
    )
    steal_after, ticks_after = _steal_ticks()
    stolen, ticks = steal_after - steal_before, ticks_after - ticks_before
    processes_after = _cpu_by_process(served.pid)
    server_cpu = sum(processes_after.values()) - sum(processes.values())
    client_cpu = _client_cpu_seconds() - client_cpu
    result = _summary(tally, wall)
    done = max(1, result["requests"] + tally.warm_up)  # the CPU was measured over both
    result["server_cpu_ms_per_request"] = server_cpu / done * 1000
    result["client_cpu_ms_per_request"] = client_cpu / done * 1000
    result["server_cpu_cores"] = server_cpu / (wall + WARMUP_SECONDS)
    result["cpu_steal_percent"] = 100 * stolen / max(1, ticks)
    result["process_cpu_shares"] = _spread(processes, processes_after, served.pid)
    # every PostgreSQL process on the machine: only meaningful on the PostgreSQL runs
    result["postgres_cpu_ms_per_request"] = (_postgres_cpu_seconds() - database_cpu) / done * 1000
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


def measure_backend(
    backend_url: str | None, think_s: float, seconds: float = SECONDS
) -> dict[str, Any]:
    """Run the load against `trialdesk serve` on a fresh database; figures as a dict."""
    backend = "postgresql" if backend_url else "sqlite"
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
            label = f"{backend}, think {think_s:g} s"
            result, tally = _load(
                served, tokens, study.participants, seconds=seconds, think_s=think_s, label=label
            )
        result.update(_check_database(study, 0, len(tally.writes) + tally.warm_up_writes))
    finally:
        study.cleanup.dispose()
    result["backend"] = backend
    result["think_s"] = think_s
    return result


def measure_bare(think_s: float, seconds: float = BARE_SECONDS) -> dict[str, Any]:
    port = _free_port()
    # The same process model as `trialdesk serve --workers`: one socket per process.
    command = [
        sys.executable,
        "-c",
        "from trialdesk.api.workers import serve_workers; raise SystemExit(serve_workers("
        f"'127.0.0.1', {port}, {WORKERS}, 'warning', app='benchmarks.load_bench:bare_app'))",
    ]
    pids = {"a": list(range(1, 41))}
    with _server(command, port, _env()) as served:
        label = f"bare FastAPI, think {think_s:g} s"
        result, _ = _load(served, {"a": "-"}, pids, seconds=seconds, think_s=think_s, label=label)
    return {"backend": "bare FastAPI", "think_s": think_s, **result}


def _backends() -> list[str | None]:
    pg = os.environ.get("TRIALDESK_BENCH_POSTGRES_URL") or os.environ.get(
        "TRIALDESK_TEST_POSTGRES_URL"
    )
    return [None, pg] if pg else [None]


def measure_all() -> dict[str, Any]:
    runs = []
    for think_s in THINK_TIMES:
        runs.append(measure_bare(think_s))
        runs.extend(measure_backend(url, think_s) for url in _backends())
    return {
        "settings": {
            "seconds": SECONDS,
            "clients": CLIENTS,
            "think_s": THINK_TIMES,
            "bare_seconds": BARE_SECONDS,
            "warmup_seconds": WARMUP_SECONDS,
            "workers": WORKERS,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "runs": runs,
    }


TARGET_P99_MS = 50.0


def plot(figures: dict[str, Any], path: Path) -> None:
    """Write p50 and p99 of writes against the requests/s served, one line per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    for backend, colour in (("bare FastAPI", "grey"), ("sqlite", "C0"), ("postgresql", "C1")):
        runs = sorted(
            (r for r in figures["runs"] if r["backend"] == backend), key=lambda r: r["rps"]
        )
        if not runs:
            continue
        rps = [r["rps"] for r in runs]
        ax.plot(
            rps, [r["writes"]["p99_ms"] for r in runs], "o-", color=colour, label=f"{backend} p99"
        )
        for run in runs:
            if run["cpu_steal_percent"] >= STEAL_NOTE_PERCENT:  # not the server's doing: say so
                ax.annotate(
                    f"host took {run['cpu_steal_percent']:.0f} % of the CPU",
                    (run["rps"], run["writes"]["p99_ms"]),
                    textcoords="offset points",
                    xytext=(6, -4),
                    fontsize=7,
                    color=colour,
                )
        ax.plot(
            rps,
            [r["writes"]["p50_ms"] for r in runs],
            "o--",
            color=colour,
            alpha=0.6,
            label=f"{backend} p50",
        )
    ax.axhline(TARGET_P99_MS, color="red", linewidth=1, label="target p99 50 ms")
    ax.set_yscale("log")
    thinks = sorted({r["think_s"] for r in figures["runs"]}, reverse=True)
    ax.set_xlabel(
        f"requests/s served ({CLIENTS} clients, 50 % writes; mean think time "
        f"{' → '.join(f'{t:g}' for t in thinks)} s)"
    )
    ax.set_ylabel("write latency (ms, log scale)")
    settings = figures["settings"]
    ax.set_title(
        f"trialdesk serve, {settings['workers']} workers, {settings['cpus']} cores "
        "shared with the load generator"
    )
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


OUT = ROOT / "benchmarks" / "out"


def run() -> list[dict[str, Any]]:
    """Rows for `benchmarks.run`: write p99 of trialdesk against the bare endpoint's p99, per
    think time; also writes out/load.json and out/load.png."""
    figures = measure_all()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "load.json").write_text(json.dumps(figures, indent=2))
    plot(figures, OUT / "load.png")
    bare = {r["think_s"]: r for r in figures["runs"] if r["backend"] == "bare FastAPI"}
    rows = []
    for result in figures["runs"]:
        if result["backend"] == "bare FastAPI":
            continue
        writes, reference = result["writes"], bare[result["think_s"]]
        if result["errors"] or result["lost"] or not result["audit_chain_ok"]:
            raise AssertionError(f"load on {result['backend']}: {json.dumps(result)[:800]}")
        met = "met" if writes["p99_ms"] <= TARGET_P99_MS else "NOT met"
        rows.append(
            {
                "name": f"load {result['backend']}, think {result['think_s']:g} s: write p99, "
                f"{CLIENTS} clients × {SECONDS:g} s (bare FastAPI p99 as baseline)",
                "baseline_seconds": reference["writes"]["p99_ms"] / 1000,
                "candidate_seconds": writes["p99_ms"] / 1000,
                "note": f"{result['rps']:.0f} req/s ({result['write_rps']:.0f} writes/s); "
                f"writes p50/p95/p99 {writes['p50_ms']:.1f}/{writes['p95_ms']:.1f}/"
                f"{writes['p99_ms']:.1f} ms; reads p99 {result['reads']['p99_ms']:.1f} ms; "
                f"server CPU {result['server_cpu_ms_per_request']:.1f} ms/request"
                + (
                    f" + PostgreSQL {result['postgres_cpu_ms_per_request']:.1f}; "
                    if result["backend"] == "postgresql"
                    else "; "
                )
                + f"CPU stolen by the host {result['cpu_steal_percent']:.1f} %; "
                f"server processes' CPU shares {result['process_cpu_shares']}; "
                f"bare {reference['rps']:.0f} req/s; errors {result['errors']}, lost "
                f"{result['lost']}; target p99 ≤ {TARGET_P99_MS:g} ms {met}",
            }
        )
    return rows


if __name__ == "__main__":
    print(json.dumps(measure_all(), indent=2))
