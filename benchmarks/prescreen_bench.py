"""EHR pre-screening at population scale: the compiled Ibis query on DuckDB against the same
criteria hand-written in DuckDB SQL, and a per-person Python baseline (raw record + Evaluator).

Data: a synthetic OMOP CDM (`trialdesk.prescreen.synth`) written as a Parquet folder (the
embedded default), cached in the temp directory per size and seed. Each path runs in its own
process so that its peak resident memory can be reported; wall time is the best of two runs and
CPU time (user + system, all threads) is reported beside it, because wall time on a shared
2-core machine depends on what else runs. Read the ratios, not the absolute numbers.

Issue #16 adds, on the same data, each checked to give the same answer before a ratio is shown:

* cost: a one-criterion protocol (I5) against the full one (only the elements the criteria
  reference are computed);
* the OHDSI Circe path (duckcdm's circe-be port, `benchmarks.circe_baseline`) against trialdesk
  on a cohort both express ("T2DM coded, no severe organ disease, no HIV/HBV/HCV"), same persons;
* end to end: `trialdesk prescreen --out ranked.parquet` as a fresh process (start-up, plan,
  query, the database writing the list, counts), its wall time and peak memory
  (RUSAGE_CHILDREN), `ROUNDS` times (best and median) against the goal (5 s at 1M, 60 s at
  10M persons);
* the floor: the hand-written SQL written to Parquet by DuckDB alone (no Python start-up), at
  every size: what this machine needs before trialdesk adds anything.

Compiled and hand SQL run interleaved over `ROUNDS` rounds; each row notes the load average,
because on a shared machine the load, not the code, can dominate the wall time.

`python -m benchmarks.prescreen_bench [PERSONS]`; `make bench` runs it with 1,000,000 persons
(TRIALDESK_BENCH_PRESCREEN_PERSONS overrides, e.g. 10000000: opt-in, the synthetic CDM is then
streamed to disk in chunks; the per-person baseline and the in-memory runs are skipped above
TRIALDESK_BENCH_PRESCREEN_IN_MEMORY_MAX persons, default 2,000,000).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

INDEX = date(2025, 6, 30)
SEED = 20100611
SUBSAMPLE = 1_000
DEFAULT_PERSONS = int(os.environ.get("TRIALDESK_BENCH_PRESCREEN_PERSONS", "1000000"))
IN_MEMORY_MAX = int(os.environ.get("TRIALDESK_BENCH_PRESCREEN_IN_MEMORY_MAX", "2000000"))
# Each path runs this many times, interleaved (compiled, hand, compiled, hand …), in fresh
# processes: on a shared machine the best and the median are both reported, with the load.
ROUNDS = int(os.environ.get("TRIALDESK_BENCH_PRESCREEN_ROUNDS", "3"))
GOAL_SECONDS = {1_000_000: 5.0, 10_000_000: 60.0}  # issue #16, end to end incl. start-up


def _load() -> str:
    """The 1-minute load average and the cores, e.g. "load 0.4 on 2 cores"."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _write_cdm(persons: int, folder: str) -> dict[str, Any]:
    from trialdesk.prescreen.synth import write_cdm_streaming

    return {"rows": write_cdm_streaming(persons, folder, SEED), "peak_mib": _peak_mib()}


def _cdm(persons: int) -> Path:
    """The synthetic CDM as Parquet (made in a child process, so this one stays small)."""
    folder = Path(tempfile.gettempdir()) / f"trialdesk-omop-{persons}-{SEED}"
    if not (folder / "concept_ancestor.parquet").exists():
        _in_child(_write_cdm, persons, str(folder))
    return folder


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mib() -> float:
    """Peak resident memory of this process (VmHWM: reset by exec, unlike ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _path(kind: str, folder: str) -> dict[str, Any]:
    """Runs in a child process: one engine, two timed runs, the result's key columns."""
    from trialdesk.prescreen.handsql import run_hand_sql
    from trialdesk.prescreen.plan import Settings, build_plan, with_criteria
    from trialdesk.prescreen.query import build_query
    from trialdesk.prescreen.source import open_duckdb
    from trialdesk.protocol import builtin_protocol

    source = open_duckdb(folder)
    protocol = builtin_protocol() if kind != "one" else with_criteria(builtin_protocol(), ["I5"])
    plan = build_plan(protocol, Settings(INDEX), source.descendants)
    walls, cpus, result = [], [], None
    for _ in range(2):
        started, cpu = time.perf_counter(), _cpu()
        if kind in ("ibis", "one"):
            result = source.to_pyarrow(build_query(source, plan).table)
        else:
            result = run_hand_sql(source.connection, plan)
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu() - cpu)
    assert result is not None
    best = walls.index(min(walls))
    keys = result.select(["person_id", "rank", "status", "failed", "assessable"]).to_pydict()
    if kind == "one":
        keys = {
            "I5": dict(zip(result["person_id"].to_pylist(), result["I5"].to_pylist(), strict=True))
        }
    elif kind == "ibis":
        keys["I5"] = dict(
            zip(result["person_id"].to_pylist(), result["I5"].to_pylist(), strict=True)
        )
    return {
        "wall": walls[best],
        "cpu": cpus[best],
        "rows": result.num_rows,
        "columns": result.num_columns,
        "peak_mib": _peak_mib(),
        "keys": keys,
    }


def _per_person(folder: str, person_ids: list[int]) -> dict[str, Any]:
    """Runs in a child process: raw records one person at a time, then the Evaluator."""
    from trialdesk.prescreen.plan import Settings, build_plan
    from trialdesk.prescreen.records import evaluate_people, read_tables, truths
    from trialdesk.prescreen.source import open_duckdb
    from trialdesk.protocol import builtin_protocol

    source = open_duckdb(folder)
    plan = build_plan(builtin_protocol(), Settings(INDEX), source.descendants)
    started, cpu = time.perf_counter(), _cpu()
    tables = read_tables(source.connection, person_ids)
    results = evaluate_people(tables, plan)
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "cpu": _cpu() - cpu,
        "persons": len(results),
        "peak_mib": _peak_mib(),
        "truths": {pid: truths(r, plan) for pid, r in results.items()},
    }


def _hand_copy(folder: str) -> dict[str, Any]:
    """Runs in a child process: the hand-written SQL, written to Parquet by DuckDB itself (as
    `trialdesk prescreen --out X.parquet` does): how long DuckDB alone needs on this machine."""
    from trialdesk.prescreen.handsql import CODES_TABLE, codes_table, hand_sql
    from trialdesk.prescreen.plan import Settings, build_plan
    from trialdesk.prescreen.source import open_duckdb
    from trialdesk.protocol import builtin_protocol

    source = open_duckdb(folder)
    plan = build_plan(builtin_protocol(), Settings(INDEX), source.descendants)
    con = source.connection
    con.register(CODES_TABLE, codes_table(plan))
    out = Path(tempfile.mkdtemp(prefix="trialdesk-hand-")) / "hand.parquet"
    started, cpu = time.perf_counter(), _cpu()
    con.execute(f"COPY ({hand_sql(plan)}) TO '{out}' (FORMAT parquet)")
    return {"wall": time.perf_counter() - started, "cpu": _cpu() - cpu, "peak_mib": _peak_mib()}


def _count_rows(folder: str, table: str) -> dict[str, Any]:
    import duckdb

    path = Path(folder) / f"{table}.parquet"
    return {"rows": duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchone()[0]}  # type: ignore[index]


def _in_child(function: Any, *args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()  # type: ignore[no-any-return]


def _check_same(ibis_run: dict[str, Any], sql_run: dict[str, Any]) -> None:
    if ibis_run["keys"] != sql_run["keys"]:
        raise AssertionError("the Ibis query and the hand-written SQL ranked differently")


def _check_baseline(folder: str, baseline: dict[str, Any]) -> None:
    from trialdesk.prescreen.plan import Settings, build_plan
    from trialdesk.prescreen.query import MET, NOT_MET, build_query
    from trialdesk.prescreen.source import open_duckdb
    from trialdesk.protocol import builtin_protocol

    source = open_duckdb(folder)
    plan = build_plan(builtin_protocol(), Settings(INDEX), source.descendants)
    table = build_query(source, plan).table
    wanted = list(baseline["truths"])
    rows = source.to_pyarrow(table.filter(table.person_id.isin(wanted))).to_pylist()
    verdict = {MET: True, NOT_MET: False}
    for row in rows:
        got = {c.id: verdict.get(row[c.id]) for c in plan.ehr_criteria}
        if got != baseline["truths"][row["person_id"]]:
            raise AssertionError(f"person {row['person_id']}: per-person path differs")


def _circe(folder: str) -> dict[str, Any]:
    """Runs in a child process: the Circe cohort SQL (duckcdm) on the same Parquet CDM, loaded
    as views, then the same cohort through trialdesk; best of two runs each."""
    from datetime import timedelta

    import duckdb

    from benchmarks.circe_baseline import run_circe, trialdesk_map, trialdesk_protocol
    from trialdesk.prescreen.plan import Settings, build_plan
    from trialdesk.prescreen.query import CANDIDATE, build_query
    from trialdesk.prescreen.source import open_duckdb

    window_start = INDEX - timedelta(days=365)
    con = duckdb.connect()
    for entry in sorted(Path(folder).glob("*.parquet")):
        con.execute(f"CREATE VIEW {entry.stem} AS SELECT * FROM read_parquet('{entry}')")
    circe_walls, circe_ids = [], []
    for _ in range(2):
        con.execute("DROP TABLE IF EXISTS cohort")
        started = time.perf_counter()
        circe_ids = run_circe(con, INDEX, window_start)
        circe_walls.append(time.perf_counter() - started)
    source = open_duckdb(folder)
    ours_walls, ours_ids = [], []
    for _ in range(2):
        started = time.perf_counter()
        plan = build_plan(
            trialdesk_protocol(), Settings(INDEX), source.descendants, omap=trialdesk_map()
        )
        table = build_query(source, plan).table
        found = source.to_pyarrow(
            table.filter(table.status == CANDIDATE).select("person_id")
        )
        ours_ids = sorted(found.column(0).to_pylist())
        ours_walls.append(time.perf_counter() - started)
    if ours_ids != circe_ids:
        raise AssertionError(
            f"Circe and trialdesk differ: {len(set(ours_ids) ^ set(circe_ids))} persons"
        )
    return {"circe": min(circe_walls), "trialdesk": min(ours_walls), "persons": len(ours_ids)}


def _end_to_end(folder: str) -> dict[str, Any]:
    """`trialdesk prescreen … --out ranked.parquet` as a fresh process; wall time and its peak
    resident memory (RUSAGE_CHILDREN of a parent that runs only this child)."""
    import json
    import subprocess

    out = Path(tempfile.mkdtemp(prefix="trialdesk-e2e-")) / "ranked.parquet"
    command = [
        sys.executable, "-m", "trialdesk.cli", "prescreen", "--omop", folder,
        "--index-date", INDEX.isoformat(), "--out", str(out),
    ]  # fmt: skip
    parent = (
        "import json, resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(json.dumps({'rc': r.returncode, 'wall': w, 'cpu': u.ru_utime + u.ru_stime, "
        "'peak_mib': u.ru_maxrss / 1024, 'err': r.stderr[-2000:]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", parent, *command], capture_output=True, text=True, check=True
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if found["rc"] != 0:
        raise RuntimeError(f"trialdesk prescreen failed: {found['err']}")
    found["rows"] = _count_rows(str(out.parent), "ranked")["rows"]
    return found


def _check_one(full: dict[str, Any], one: dict[str, Any]) -> None:
    if full["keys"]["I5"] != one["keys"]["I5"]:
        raise AssertionError("the one-criterion protocol judged I5 differently from the full one")


def _repeated(function: Any, *args: Any) -> list[dict[str, Any]]:
    return [_in_child(function, *args) for _ in range(ROUNDS)]


def _end_to_end_row(persons: int, folder: str, measurements: int) -> dict[str, Any]:
    runs = _repeated(_end_to_end, folder)
    walls = [r["wall"] for r in runs]
    best = runs[walls.index(min(walls))]
    goal = GOAL_SECONDS.get(persons)
    verdict = (
        f"goal ≤ {goal:.0f} s: {'met' if best['wall'] <= goal else 'NOT met'} "
        f"(best/goal {best['wall'] / goal:.2f}×); "
        if goal
        else ""
    )
    return {
        "name": f"prescreen end to end: {persons:,} persons "
        f"({measurements:,} measurements), trialdesk prescreen --out .parquet",
        "baseline_seconds": None,
        "candidate_seconds": best["wall"],
        "note": f"{verdict}best of {len(runs)}, median {_median(walls):.1f} s; fresh process "
        f"incl. start-up; {best['cpu']:.1f} s CPU; peak {best['peak_mib']:,.0f} MiB; "
        f"{best['rows']:,} ranked persons written; {_load()}",
        "end_to_end": best,
        "end_to_end_walls": walls,
    }


def _floor_row(persons: int, folder: str, e2e_seconds: float) -> dict[str, Any]:
    runs = _repeated(_hand_copy, folder)
    walls = [r["wall"] for r in runs]
    best = runs[walls.index(min(walls))]
    return {
        "name": f"prescreen floor: hand-written SQL written by DuckDB (COPY), {persons:,} persons",
        "baseline_seconds": best["wall"],
        "candidate_seconds": e2e_seconds,
        "note": f"DuckDB alone, no start-up: best {best['wall']:.1f} s, median "
        f"{_median(walls):.1f} s, {best['cpu']:.1f} s CPU, peak {best['peak_mib']:,.0f} MiB; "
        f"ratio = hand SQL / trialdesk end to end; {_load()}",
        "floor": best,
    }


def run(persons: int = DEFAULT_PERSONS) -> list[dict[str, Any]]:
    """Benchmark `persons` synthetic persons; rows for `benchmarks.run`."""
    started = time.perf_counter()
    folder = str(_cdm(persons))
    generated = time.perf_counter() - started
    measurements = _in_child(_count_rows, folder, "measurement")["rows"]
    e2e = _end_to_end_row(persons, folder, measurements)
    e2e["data_seconds"] = generated
    rows = [e2e, _floor_row(persons, folder, e2e["candidate_seconds"])]
    if persons > IN_MEMORY_MAX:
        return rows
    return rows + _in_memory_rows(persons, folder, measurements)


def _interleaved(folder: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    """Compiled and hand SQL alternately, `ROUNDS` fresh processes each: the best run of each,
    and the median ratios (wall, CPU) over the rounds."""
    pairs = [
        (_in_child(_path, "ibis", folder), _in_child(_path, "sql", folder)) for _ in range(ROUNDS)
    ]
    ibis_run = min((p[0] for p in pairs), key=lambda r: r["wall"])
    sql_run = min((p[1] for p in pairs), key=lambda r: r["wall"])
    medians = {
        "wall": _median([a["wall"] / b["wall"] for a, b in pairs]),
        "cpu": _median([a["cpu"] / b["cpu"] for a, b in pairs]),
    }
    return ibis_run, sql_run, medians


def _in_memory_rows(persons: int, folder: str, measurement_rows: int) -> list[dict[str, Any]]:
    ibis_run, sql_run, medians = _interleaved(folder)
    one_run = _in_child(_path, "one", folder)
    _check_same(
        {"keys": {k: v for k, v in ibis_run["keys"].items() if k != "I5"}},
        {"keys": {k: v for k, v in sql_run["keys"].items() if k != "I5"}},
    )
    _check_one(ibis_run, one_run)
    circe = _in_child(_circe, folder)
    population = ibis_run["keys"]["person_id"]
    sample = random.Random(SEED).sample(population, min(SUBSAMPLE, len(population)))
    baseline = _in_child(_per_person, folder, sample)
    _check_baseline(folder, baseline)
    rate_ibis = ibis_run["rows"] / ibis_run["wall"]
    rate_sql = sql_run["rows"] / sql_run["wall"]
    rate_person = baseline["persons"] / baseline["wall"]
    ratio_wall = ibis_run["wall"] / sql_run["wall"]
    ratio_cpu = ibis_run["cpu"] / sql_run["cpu"]
    extrapolated = ibis_run["rows"] / rate_person
    return [
        {
            "name": f"prescreen: {persons:,} persons ({measurement_rows:,} measurements), "
            "hand SQL vs Ibis/DuckDB",
            "baseline_seconds": sql_run["wall"],
            "candidate_seconds": ibis_run["wall"],
            "note": (
                f"Ibis/SQL best {ratio_wall:.2f}× wall, {ratio_cpu:.2f}× CPU; median of "
                f"{ROUNDS} interleaved rounds {medians['wall']:.2f}× wall, {medians['cpu']:.2f}× "
                f"CPU (goal ≤ 1.2×); {_load()}; "
                f"{rate_ibis:,.0f} vs {rate_sql:,.0f} persons/s; peak {ibis_run['peak_mib']:,.0f} "
                f"vs {sql_run['peak_mib']:,.0f} MiB; per-person Python {rate_person:,.0f} "
                f"persons/s (≈{extrapolated / 60:,.0f} min extrapolated, "
                f"{extrapolated / ibis_run['wall']:,.0f}× slower); same candidates"
            ),
            "persons": persons,
            "population": ibis_run["rows"],
            "output_columns": ibis_run["columns"],
            "ibis": {k: v for k, v in ibis_run.items() if k != "keys"},
            "sql": {k: v for k, v in sql_run.items() if k != "keys"},
            "per_person": {k: v for k, v in baseline.items() if k != "truths"},
            "ratio_ibis_to_sql_wall": ratio_wall,
            "ratio_ibis_to_sql_cpu": ratio_cpu,
            "median_ratio_ibis_to_sql": medians,
            "per_person_extrapolated_seconds": extrapolated,
        },
        {
            "name": f"prescreen cost: one criterion (I5) vs the full protocol, {persons:,} persons",
            "baseline_seconds": ibis_run["wall"],
            "candidate_seconds": one_run["wall"],
            "note": f"one/full {one_run['wall'] / ibis_run['wall']:.2f}× wall, "
            f"{one_run['cpu'] / ibis_run['cpu']:.2f}× CPU; same I5 verdicts",
            "ratio_one_to_full_wall": one_run["wall"] / ibis_run["wall"],
        },
        {
            "name": "prescreen vs OHDSI Circe (duckcdm 0.4.7): T2DM coded, no organ disease, "
            f"no HIV/HBV/HCV, {persons:,} persons",
            "baseline_seconds": circe["circe"],
            "candidate_seconds": circe["trialdesk"],
            "note": f"same {circe['persons']:,} persons; Circe SQL on DuckDB views of the "
            "same Parquet files",
        },
    ]


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PERSONS
    for outcome in run(size):
        print(
            f"{outcome['name']}: {outcome['candidate_seconds']:.2f} s "
            f"(baseline {outcome['baseline_seconds'] or float('nan'):.2f} s) {outcome['note']}"
        )
