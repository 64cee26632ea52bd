"""EHR pre-screening at population scale: the compiled Ibis query on DuckDB against the same
criteria hand-written in DuckDB SQL, and a per-person Python baseline (raw record + Evaluator).

Data: a synthetic OMOP CDM (`trialdesk.prescreen.synth`) written as a Parquet folder (the
embedded default), cached in the temp directory per size and seed. Each path runs in its own
process so that its peak resident memory can be reported; wall time is the best of two runs and
CPU time (user + system, all threads) is reported beside it, because wall time on a shared
2-core machine depends on what else runs. Read the ratios, not the absolute numbers.

`python -m benchmarks.prescreen_bench [PERSONS]`; `make bench` runs it with 1,000,000 persons
(TRIALDESK_BENCH_PRESCREEN_PERSONS overrides).
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


def _write_cdm(persons: int, folder: str) -> dict[str, Any]:
    from trialdesk.prescreen.synth import synthesize, write_cdm

    tables = synthesize(persons, SEED)
    write_cdm(tables, folder)
    return {"rows": {name: table.num_rows for name, table in tables.items()}}


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
    from trialdesk.prescreen.plan import Settings, build_plan
    from trialdesk.prescreen.query import build_query
    from trialdesk.prescreen.source import open_duckdb
    from trialdesk.protocol import builtin_protocol

    source = open_duckdb(folder)
    plan = build_plan(builtin_protocol(), Settings(INDEX), source.descendants)
    walls, cpus, result = [], [], None
    for _ in range(2):
        started, cpu = time.perf_counter(), _cpu()
        if kind == "ibis":
            result = source.backend.to_pyarrow(build_query(source, plan).table)
        else:
            result = run_hand_sql(source.backend.con, plan)
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu() - cpu)
    assert result is not None
    best = walls.index(min(walls))
    keys = result.select(["person_id", "rank", "status", "failed", "assessable"]).to_pydict()
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
    tables = read_tables(source.backend.con, person_ids)
    results = evaluate_people(tables, plan)
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "cpu": _cpu() - cpu,
        "persons": len(results),
        "peak_mib": _peak_mib(),
        "truths": {pid: truths(r, plan) for pid, r in results.items()},
    }


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
    rows = source.backend.to_pyarrow(table.filter(table.person_id.isin(wanted))).to_pylist()
    verdict = {MET: True, NOT_MET: False}
    for row in rows:
        got = {c.id: verdict.get(row[c.id]) for c in plan.ehr_criteria}
        if got != baseline["truths"][row["person_id"]]:
            raise AssertionError(f"person {row['person_id']}: per-person path differs")


def run(persons: int = DEFAULT_PERSONS) -> dict[str, Any]:
    """Benchmark `persons` synthetic persons; returns one row for `benchmarks.run`."""
    started = time.perf_counter()
    folder = str(_cdm(persons))
    generated = time.perf_counter() - started
    ibis_run = _in_child(_path, "ibis", folder)
    sql_run = _in_child(_path, "sql", folder)
    _check_same(ibis_run, sql_run)
    population = ibis_run["keys"]["person_id"]
    sample = random.Random(SEED).sample(population, min(SUBSAMPLE, len(population)))
    baseline = _in_child(_per_person, folder, sample)
    _check_baseline(folder, baseline)
    measurements = _in_child(_count_rows, folder, "measurement")
    rate_ibis = ibis_run["rows"] / ibis_run["wall"]
    rate_sql = sql_run["rows"] / sql_run["wall"]
    rate_person = baseline["persons"] / baseline["wall"]
    ratio_wall = ibis_run["wall"] / sql_run["wall"]
    ratio_cpu = ibis_run["cpu"] / sql_run["cpu"]
    extrapolated = ibis_run["rows"] / rate_person
    return {
        "name": f"prescreen: {persons:,} persons ({measurements['rows']:,} measurements), "
        "hand SQL vs Ibis/DuckDB",
        "baseline_seconds": sql_run["wall"],
        "candidate_seconds": ibis_run["wall"],
        "note": (
            f"Ibis/SQL {ratio_wall:.2f}× wall, {ratio_cpu:.2f}× CPU; "
            f"{rate_ibis:,.0f} vs {rate_sql:,.0f} persons/s; peak {ibis_run['peak_mib']:,.0f} vs "
            f"{sql_run['peak_mib']:,.0f} MiB; per-person Python {rate_person:,.0f} persons/s "
            f"(≈{extrapolated / 60:,.0f} min extrapolated, {extrapolated / ibis_run['wall']:,.0f}× "
            f"slower); same candidates"
        ),
        "persons": persons,
        "measurement_rows": measurements["rows"],
        "population": ibis_run["rows"],
        "output_columns": ibis_run["columns"],
        "ibis": {k: v for k, v in ibis_run.items() if k != "keys"},
        "sql": {k: v for k, v in sql_run.items() if k != "keys"},
        "per_person": {k: v for k, v in baseline.items() if k != "truths"},
        "ratio_ibis_to_sql_wall": ratio_wall,
        "ratio_ibis_to_sql_cpu": ratio_cpu,
        "per_person_extrapolated_seconds": extrapolated,
        "data_seconds": generated,
    }


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PERSONS
    outcome = run(size)
    for key in ("name", "note", "population", "ratio_ibis_to_sql_wall", "ratio_ibis_to_sql_cpu"):
        print(f"{key}: {outcome[key]}")
    for key in ("ibis", "sql", "per_person"):
        print(
            f"{key}: "
            + ", ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in outcome[key].items()
            )
        )
