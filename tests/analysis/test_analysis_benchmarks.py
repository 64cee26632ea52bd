"""The benchmark runner (`make bench`) and the power benchmark's contract."""

from __future__ import annotations

import pytest
from benchmarks import run as runner


def test_discover_finds_the_power_benchmark() -> None:
    assert "benchmarks.power_bench" in runner.discover()
    assert "benchmarks.report_bench" in runner.discover()


def test_rows_must_name_what_they_measure() -> None:
    assert runner._rows({"name": "x", "candidate_seconds": 0.1}) == [
        {"name": "x", "candidate_seconds": 0.1}
    ]
    with pytest.raises(ValueError, match="candidate_seconds"):
        runner._rows([{"name": "x"}])
    assert runner._ratio({"baseline_seconds": 2.0, "candidate_seconds": 0.5}) == "4.0×"
    assert runner._ratio({"baseline_seconds": None, "candidate_seconds": 0.5}) == "–"


def test_power_benchmark_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # one line per note: rich wraps cells at 80 columns
    assert runner.main(["power_bench"]) == 0
    out = capsys.readouterr().out
    assert "identical p-values" in out and "vs analytic" in out
    assert "same power" in out  # the 10,000-trial run has its per-trial loop baseline


def test_report_benchmark_times_the_report_against_the_analysis() -> None:
    from benchmarks import report_bench

    (row,) = report_bench.run()
    assert row["baseline_seconds"] > 0 and row["candidate_seconds"] > row["baseline_seconds"]
    for step in ("pdf", "rtf", "docx"):
        assert f"{step} " in row["note"]
