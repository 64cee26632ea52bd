"""Run every ``benchmarks/*_bench.py`` module and print one table (``make bench``).

Contract for a benchmark module: a function ``run() -> list[dict]`` (or one dict), each dict
with

- ``name`` (str): what is measured;
- ``candidate_seconds`` (float): time of the implementation trialdesk uses;
- ``baseline_seconds`` (float or None): time of the reference it is compared with (e.g. a plain
  loop); the table shows the ratio baseline / candidate (how many times faster);
- ``note`` (str, optional): anything else worth reading (accuracy, sizes).

A module whose ``run()`` raises is reported as failed and the runner exits with status 1.
"""

from __future__ import annotations

import importlib
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Module names of the benchmarks, in file-name order."""
    return [f"benchmarks.{p.stem}" for p in sorted(HERE.glob("*_bench.py"))]


def _rows(result: Any) -> list[dict[str, Any]]:
    rows = [result] if isinstance(result, dict) else list(result)
    for row in rows:
        if "name" not in row or "candidate_seconds" not in row:
            raise ValueError(f"benchmark row {row!r} lacks 'name' or 'candidate_seconds'")
    return rows


def _seconds(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _ratio(row: dict[str, Any]) -> str:
    base, cand = row.get("baseline_seconds"), row["candidate_seconds"]
    if base is None or not cand:
        return "–"
    return f"{base / cand:,.1f}×"


def main(argv: list[str] | None = None) -> int:
    console = Console()
    wanted = set(argv or [])
    table = Table(title="trialdesk benchmarks")
    for column in ("Benchmark", "Baseline", "trialdesk", "Ratio", "Note"):
        table.add_column(
            column, justify="right" if column in ("Baseline", "trialdesk", "Ratio") else "left"
        )
    failed = 0
    for module_name in discover():
        if wanted and module_name.rsplit(".", 1)[-1] not in wanted:
            continue
        started = time.perf_counter()
        try:
            rows = _rows(importlib.import_module(module_name).run())
        except Exception:  # a broken benchmark must not hide the others
            failed += 1
            console.print(f"[red]{module_name} failed[/red]\n{traceback.format_exc()}")
            continue
        for row in rows:
            table.add_row(
                str(row["name"]),
                _seconds(row.get("baseline_seconds")),
                _seconds(row["candidate_seconds"]),
                _ratio(row),
                str(row.get("note", "")),
            )
        console.print(f"{module_name}: {time.perf_counter() - started:.1f} s", style="dim")
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
