"""The record status grid benchmark runs, and the page costs the same number of statements
whatever the cohort's size (what `benchmarks/record_grid_bench.py` reports at 24 and 2,000)."""

from __future__ import annotations

import re

import pytest
from benchmarks import record_grid_bench as bench


def _statements(note: str) -> int:
    match = re.search(r"participants in (\d+) statements", note)
    assert match, note
    return int(match.group(1))


def test_grid_benchmark_rows_and_constant_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "REPEATS", 1)
    small, larger = bench._measure(3), bench._measure(12)
    for row in (small, larger):
        assert row["candidate_seconds"] > 0 and row["baseline_seconds"] > 0
    assert _statements(small["note"]) == _statements(larger["note"])
    assert "3 rows shown" in small["note"] and "12 rows shown" in larger["note"]
