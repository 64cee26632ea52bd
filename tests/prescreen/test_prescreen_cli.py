"""`trialdesk omop synth` and `trialdesk prescreen` from the command line, and the synthetic
population's determinism and shape."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
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


def _prescreen(cdm: Path, *args: str) -> Any:
    return runner.invoke(
        app,
        ["prescreen", "--omop", str(cdm), "--index-date", "2025-06-30", *args],
        env={"COLUMNS": "200"},
    )


def test_candidates_exist_and_the_funnel_is_written_three_ways(
    cdm_file: Path, tmp_path: Path
) -> None:
    """Issue #16: with the built-in protocol candidates exist (E4's uncoded part goes to the
    visit), and the attrition funnel is in the console, next to the CSV, and as a PNG."""
    out, png = tmp_path / "c.csv", tmp_path / "funnel.png"
    run = _prescreen(cdm_file, "--out", str(out), "--funnel-png", str(png))
    assert run.exit_code == 0, run.output
    rows = list(csv.DictReader(out.open()))
    statuses = {r["status"] for r in rows}
    assert statuses == {"candidate", "incomplete", "excluded"}
    for row in rows:
        if row["status"] == "candidate":
            assert row["failed_criteria"] == "" and row["missing"] == ""
            assert "E4: Other known immunosuppressive disease" in row["check_at_visit"]
        elif row["status"] == "incomplete":
            assert row["missing"] and row["failed_criteria"] == ""
        else:
            assert row["failed_criteria"]
    funnel = list(csv.DictReader((tmp_path / "c.funnel.csv").open()))
    assert [f["criterion"] for f in funnel] == ["", "I2", "I3", "I4", "I5", "E1", "E2", "E4", "P1"]
    assert int(funnel[0]["remaining"]) == len(rows)
    kept = sum(r["status"] != "excluded" for r in rows)
    assert int(funnel[-1]["remaining"]) == kept
    assert sum(int(f["removed"]) for f in funnel) == len(rows) - kept
    text = " ".join(run.output.split())
    assert "Attrition, criterion by criterion" in text
    assert "Still to check at the screening visit" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_site_concept_set_with_local_codes(cdm_folder: Path, tmp_path: Path) -> None:
    """A site's local T2DM code (2000000001, no vocabulary in the extract) is found when the
    site lists it in its own concept set."""
    bare = tmp_path / "novocab"
    bare.mkdir()
    for entry in cdm_folder.iterdir():
        if entry.name != "concept_ancestor.parquet":
            (bare / entry.name).symlink_to(entry)
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "t2dm.yaml").write_text(
        "name: t2dm\ntitle: Type 2 diabetes (site codes)\ndomain: condition\nitems:\n"
        "  - {concept_id: 201826, name: Type 2 diabetes mellitus}\n"
        "  - {concept_id: 2000000001, name: T2DM (local code)}\n",
        "utf-8",
    )
    plain, local = tmp_path / "plain.csv", tmp_path / "local.csv"
    assert _prescreen(bare, "--out", str(plain)).exit_code == 0
    run = _prescreen(bare, "--out", str(local), "--concept-sets", str(sets))
    assert run.exit_code == 0, run.output

    def coded(path: Path) -> int:
        return sum(r["t2dm_diagnosis"] == "true" for r in csv.DictReader(path.open()))

    assert coded(local) > coded(plain) > 0


@pytest.mark.parametrize(
    ("files", "option", "words"),
    [
        (
            {"x.yaml": "name: x\ntitle: X\ndomain: condition\nitems: []\n"},
            "--concept-sets",
            "x.yaml: items: Tuple should have at least 1 item",
        ),
        (
            {"y.yaml": "name: z\ntitle: Z\ndomain: drug\nitems: [{concept_id: 1, name: a}]\n"},
            "--concept-sets",
            "y.yaml: name: 'z' differs from the file name 'y'",
        ),
        (
            {"map.yaml": "elements:\n  hba1c: {source: measurment}\n"},
            "--element-map",
            "map.yaml: elements.hba1c.source: Input should be",
        ),
        (
            {"map.yaml": "elements:\n  hba1c: {source: measurement, concept_sets: [a1c]}\n"},
            "--element-map",
            "hba1c: unknown concept set 'a1c'",
        ),
        (
            {"map.yaml": "elements:\n  shoe_size: {source: measurement}\n"},
            "--element-map",
            "shoe_size: not a data element of the catalogue or protocol",
        ),
        ({"map.yaml": "elements: [\n"}, "--element-map", "map.yaml: not valid YAML"),
    ],
)
def test_site_files_are_checked_naming_file_and_field(
    cdm_file: Path, tmp_path: Path, files: dict[str, str], option: str, words: str
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, "utf-8")
    target = folder if option == "--concept-sets" else folder / next(iter(files))
    run = _prescreen(cdm_file, option, str(target))
    assert run.exit_code == 2, run.output
    assert words in " ".join(run.stderr.split()), run.stderr
    assert "Traceback" not in run.output


def test_site_element_map_replaces_the_builtin_one(cdm_file: Path, tmp_path: Path) -> None:
    """A map without the insulin drug element: P1 has no EHR source and goes to the visit."""
    text = resources.files("trialdesk.prescreen").joinpath("omop_map.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    del raw["elements"]["insulin_treated"]
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    out = tmp_path / "c.csv"
    run = _prescreen(cdm_file, "--out", str(out), "--element-map", str(path))
    assert run.exit_code == 0, run.output
    rows = list(csv.DictReader(out.open()))
    assert {r["P1"] for r in rows} == {"assessed at visit"}
    assert "P1 (whole criterion)" in rows[0]["check_at_visit"]


def test_the_criteria_table_fits_a_narrow_terminal(cdm_folder: Path, tmp_path: Path) -> None:
    """At 80 columns the criterion text gives way (an ellipsis), never the counts, "at visit"
    or the verdict headers."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trialdesk.cli",
            "prescreen",
            "--omop",
            str(cdm_folder),
            "--index-date",
            "2025-06-30",
            "--out",
            str(tmp_path / "c.csv"),
        ],
        env={**os.environ, "COLUMNS": "80", "TERM": "dumb"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Criteria")
    table = lines[start : start + 20]
    assert all(len(line) <= 80 for line in table), "\n".join(table)
    assert any("assessable" in line for line in table)
    visit = [line for line in table if "│ I1 " in line]
    assert visit and "at visit" in visit[0], "\n".join(table)
    counts = [line for line in table if "│ I3 " in line]
    assert counts and counts[0].rstrip("│ ").split("│")[-1].strip().replace(",", "").isdigit()
