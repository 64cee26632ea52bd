"""`trialdesk omop synth` and `trialdesk prescreen` from the command line, and the synthetic
population's determinism and shape."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.prescreen.synth import synthesize

runner = CliRunner()


def test_synth_then_prescreen_writes_a_ranked_csv(tmp_path: Path) -> None:
    cdm = tmp_path / "cdm.duckdb"
    made = runner.invoke(
        app, ["omop", "synth", "--persons", "400", "--out", str(cdm), "--seed", "3"]
    )
    assert made.exit_code == 0, made.output
    assert "measurement" in made.output
    out = tmp_path / "candidates.csv"
    run = runner.invoke(
        app,
        [
            "prescreen",
            "--omop",
            str(cdm),
            "--out",
            str(out),
            "--top",
            "25",
            "--lookback-days",
            "400",
            "--index-date",
            "2025-06-30",
        ],
    )
    assert run.exit_code == 0, run.output
    assert "Persons by pre-screening status" in run.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 25
    assert [int(r["rank"]) for r in rows] == list(range(1, 26))
    failed = [int(r["failed"]) for r in rows]
    assert failed == sorted(failed)
    assert {r["I1"] for r in rows} == {"assessed at visit"}
    assert {"fasting_glucose_unit", "hba1c_date", "insulin_treated"} <= set(rows[0])


def test_prescreen_parquet_folder_to_parquet(tmp_path: Path) -> None:
    folder = tmp_path / "cdm"
    assert (
        runner.invoke(app, ["omop", "synth", "--persons", "300", "--out", str(folder)]).exit_code
        == 0
    )
    out = tmp_path / "c.parquet"
    run = runner.invoke(app, ["prescreen", "--omop", str(folder), "--out", str(out)])
    assert run.exit_code == 0, run.output
    table = pq.read_table(out)
    assert table.num_rows > 200 and table.column("rank").to_pylist()[0] == 1


def test_bad_options_are_named(tmp_path: Path) -> None:
    cases = [
        (["prescreen", "--omop", str(tmp_path / "missing.duckdb")], "no such"),
        (["prescreen", "--omop", "x", "--backend", "oracle"], "--backend"),
        (["prescreen", "--omop", "x", "--index-date", "30/06/2025"], "--index-date"),
        (["prescreen", "--omop", "x", "--out", "c.xlsx"], "--out"),
        (["prescreen", "--omop", "x", "--top", "0"], "--top"),
        (["omop", "synth", "--persons", "0", "--out", str(tmp_path / "x")], "--persons"),
    ]
    for args, words in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, (args, result.output)


def test_synthetic_population_is_deterministic_and_plausible() -> None:
    a, b = synthesize(2000, seed=11), synthesize(2000, seed=11)
    assert all(a[name].equals(b[name]) for name in a)
    assert not synthesize(2000, seed=12)["measurement"].equals(a["measurement"])
    person = a["person"].to_pylist()
    assert 0.45 < sum(p["gender_concept_id"] == 8507 for p in person) / len(person) < 0.57
    conditions = pa.compute.value_counts(a["condition_occurrence"].column("condition_concept_id"))
    counts = {c["values"]: c["counts"] for c in conditions.to_pylist()}
    t2dm = counts.get(201826, 0) + counts.get(2_000_000_001, 0)
    assert 60 < t2dm < 250  # ~10 % of adults with diabetes, 75 % coded
    units = set(a["measurement"].column("unit_concept_id").to_pylist())
    assert {8753, 8840, 8554, 9579, 0} <= units  # mixed units and unknown ones
    assert a["measurement"].num_rows > 15 * 2000  # tens of rows per person
