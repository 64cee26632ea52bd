"""Issue #15: the CDISC CORE rules engine (`cdisc-rules-engine`, run in its own Python 3.12 venv
made by `make core-venv`) runs on the SDTM package of a simulated cohort written through the
services, and reports every rule as passed, failed,
explained or not runnable (why). A package broken on purpose makes the engine report failures,
so the check can fail.

The cohort is the SQLite one: the engine checks the package, and the package is built by the
same code from either database (the export tests of this folder run on both backends); a
second engine run of a minute on the PostgreSQL cohort checked the same datasets again."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from tools.harness.database import TestDatabase

from trialdesk.export.from_store import sdtm_sources
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.package import write_package
from trialdesk.protocol import builtin_protocol

pytestmark = pytest.mark.slow  # a simulated cohort and a second interpreter
ON_SQLITE = pytest.mark.parametrize("cohort", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tools" / "core" / "run_core.py"
PROJECT_RULES = sorted(p.name.split("_")[0] for p in (ROOT / "tools/core/rules").glob("*.yaml"))


def _core_python() -> Path:
    """The interpreter of `.venv-core` (or TRIALDESK_CORE_PYTHON); a clear failure without it."""
    configured = os.environ.get("TRIALDESK_CORE_PYTHON")
    python = Path(configured) if configured else ROOT / ".venv-core" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make core-venv` (Python 3.12 + cdisc-rules-engine)")
    return python


def _run(
    package: Path, out: Path, cache: Path | None = None
) -> tuple[int, dict[str, dict[str, str]]]:
    extra = ["--cache", str(cache)] if cache else []
    done = subprocess.run(  # our own runner under our own interpreter
        [str(_core_python()), str(RUNNER), str(package), "--out", str(out), "--quiet", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    with out.open(encoding="utf-8") as fh:
        return done.returncode, {row["rule"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def package(cohort: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    protocol = builtin_protocol()
    with cohort.session() as session:
        datasets = sdtm_datasets(protocol, sdtm_sources(session, protocol))
    folder = tmp_path_factory.mktemp("sdtm")
    write_package(datasets, folder, study_id=protocol.id, title=protocol.title)
    return folder


Report = tuple[int, dict[str, dict[str, str]], Path]


@pytest.fixture(scope="module")
def report(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """One engine run on the simulated package (exit code, rows by rule, the CSV)."""
    out = tmp_path_factory.mktemp("core") / "core.csv"
    code, rows = _run(package, out)
    return code, rows, out


@ON_SQLITE
def test_every_project_rule_runs_in_the_engine_and_passes(report: Report) -> None:
    code, rows, _ = report
    assert PROJECT_RULES, "the project ships CORE rules"
    for rule in PROJECT_RULES:
        assert rows[rule]["source"] == "trialdesk"
        assert rows[rule]["status"] in ("passed", "explained"), rows[rule]
    assert code == 0


@ON_SQLITE
def test_without_the_cache_the_published_rules_are_reported_not_runnable(report: Report) -> None:
    _, rows, _ = report
    published = rows["SDTMIG 3.4 published rules"]
    assert published["status"] == "not runnable"
    assert "not in the PyPI wheel" in published["detail"]


SHIPPED_CACHE = ROOT / "tools" / "core" / "cache"


@ON_SQLITE
def test_the_published_rules_run_offline_from_the_shipped_cache(
    package: Path, tmp_path: Path
) -> None:
    """The published SDTMIG 3.4 rules from the shipped cache: each passed, explained (reviewed,
    with its reason), not applicable or not runnable (the engine's reason); none failed."""
    code, rows = _run(package, tmp_path / "core.csv", cache=SHIPPED_CACHE)
    published = {rule: row for rule, row in rows.items() if row["source"] == "CDISC cache"}
    assert len(published) >= 400, "the shipped cache holds the published rules"
    failed = {rule: row["detail"] for rule, row in published.items() if row["status"] == "failed"}
    assert failed == {}
    passed = [rule for rule, row in published.items() if row["status"] == "passed"]
    assert len(passed) >= 200
    for row in published.values():
        if row["status"] in ("not runnable", "explained"):
            assert row["detail"], row  # every rule not passed says why
    assert code == 0


def _break(folder: Path) -> None:
    """Duplicate a subject in DM and give one a race outside CDISC CT; report a glucose in
    mmol/L under the mass LOINC code."""
    import pyreadstat

    dm, meta = pyreadstat.read_xport(str(folder / "dm.xpt"))
    dm.loc[1, "USUBJID"] = dm.loc[0, "USUBJID"]
    dm.loc[2, "RACE"] = "CAUCASIAN"  # not a CDISC CT RACE submission value
    pyreadstat.write_xport(
        dm, str(folder / "dm.xpt"), table_name="DM", column_labels=meta.column_labels
    )
    lb, meta = pyreadstat.read_xport(str(folder / "lb.xpt"))
    row = lb.index[lb["LBTESTCD"] == "GLUC"][0]
    lb.loc[row, ["LBORRESU", "LBLOINC"]] = ["mmol/L", "1558-6"]
    pyreadstat.write_xport(
        lb, str(folder / "lb.xpt"), table_name="LB", column_labels=meta.column_labels
    )


@ON_SQLITE
def test_a_broken_package_fails_the_rules_it_breaks(package: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in package.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    _break(broken)
    code, rows = _run(broken, tmp_path / "core.csv")
    assert code == 1
    assert rows["TD0001"]["status"] == "failed"
    assert rows["TD0001"]["findings"] == "2"
    assert rows["TD0002"]["status"] == "failed"
    assert "molar" in rows["TD0002"]["detail"]
    assert rows["TD0007"]["status"] == "failed"
    assert rows["TD0003"]["status"] == "passed"


def test_the_runner_refuses_a_folder_without_datasets(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(_core_python()), str(RUNNER), str(tmp_path), "--out", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "no .xpt datasets" in done.stderr
    assert "Traceback" not in done.stderr


@ON_SQLITE
def test_report_csv_columns_are_stable(report: Report) -> None:
    frame = pd.read_csv(report[2])
    assert list(frame.columns) == ["rule", "source", "status", "findings", "detail"]
    assert set(frame["status"]) <= {
        "passed",
        "failed",
        "explained",
        "not runnable",
        "not applicable",
    }
