"""The traceability matrix: the catalogue's test ids exist, and results are rendered honestly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tools.validation_matrix import (
    CATALOGUE,
    JUnitResult,
    load_catalogue,
    main,
    read_junit,
    render,
)

ROOT = Path(__file__).parents[1]


def _defined(files: set[str]) -> set[str]:
    """Node ids of the tests defined in `files` (parameters aside): module-level ``test_*``
    functions and ``test_*`` methods of ``Test*`` classes, read from the source (pytest's own
    collection would import every mapped module: ~30 s of a CI run for the same answer)."""
    found: set[str] = set()
    for file in files:
        path = ROOT / file
        if not path.is_file():
            continue
        tree = ast.parse(path.read_text("utf-8"), filename=file)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                found.add(f"{file}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                found |= {
                    f"{file}::{node.name}::{item.name}"
                    for item in node.body
                    if isinstance(item, ast.FunctionDef) and item.name.startswith("test")
                }
    return found


def test_every_mapped_test_exists() -> None:
    ids = {t for r in load_catalogue() for t in r.tests}
    files = {t.split("::", 1)[0] for t in ids}
    missing = sorted(ids - _defined(files))
    assert missing == [], f"renamed or removed: {missing}"


def test_the_generated_matrix_lists_every_requirement() -> None:
    text = (ROOT / "docs" / "validation.md").read_text("utf-8")
    absent = [r.id for r in load_catalogue() if f"| {r.id}: " not in text]
    assert absent == [], f"docs/validation.md is stale (run make validation): {absent}"


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" timestamp="2026-12-04T15:00:00">
<testcase classname="tests.test_a" name="test_ok[sqlite]"/>
<testcase classname="tests.test_a" name="test_ok[postgresql]"/>
<testcase classname="tests.test_a" name="test_half[sqlite]"/>
<testcase classname="tests.test_a" name="test_half[postgresql]"><failure message="x"/></testcase>
<testcase classname="tests.test_a" name="test_skips"><skipped message="no chromium"/></testcase>
<testcase classname="tests.test_a.TestGroup" name="test_in_class"/>
</testsuite></testsuites>
"""

CATALOGUE_TEXT = """
requirements:
  - {id: R1, source: S1, text: all pass, tests: [tests/test_a.py::test_ok,
     tests/test_a.py::TestGroup::test_in_class]}
  - {id: R2, source: S2, text: one backend fails, tests: [tests/test_a.py::test_ok,
     tests/test_a.py::test_half]}
  - {id: R3, source: S3, text: skipped, tests: [tests/test_a.py::test_skips]}
  - {id: R4, source: S4, text: renamed, tests: [tests/test_a.py::test_gone]}
  - {id: R5, source: S5, text: procedural, tests: [], gap: training records}
"""


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("", "utf-8")
    junit, catalogue = tmp_path / "junit.xml", tmp_path / "requirements.yaml"
    junit.write_text(JUNIT, "utf-8")
    catalogue.write_text(CATALOGUE_TEXT, "utf-8")
    return junit, catalogue


def test_statuses_follow_the_worst_result(sample: tuple[Path, Path]) -> None:
    junit_path, catalogue = sample
    junit = read_junit(junit_path, root=junit_path.parent)
    assert junit.of("tests/test_a.py::test_half") == "fail"
    assert junit.of("tests/test_a.py::TestGroup::test_in_class") == "pass"
    text = render(load_catalogue(catalogue), junit, "junit.xml")
    rows = {line.split(":", 1)[0].strip("| "): line for line in text.splitlines() if "| R" in line}
    assert "**pass**" in rows["R1"] and "**fail**" in rows["R2"]
    assert "**skipped**" in rows["R3"] and "**missing**" in rows["R4"]
    assert "**no test**" in rows["R5"] and "2026-12-04T15:00:00" in text
    gaps = text.split("## Requirements and claims without a test", 1)[1]
    assert "**R5** (S5): training records" in gaps and "**R1**" not in gaps


def test_without_a_run_everything_is_missing(sample: tuple[Path, Path], tmp_path: Path) -> None:
    _, catalogue = sample
    out = tmp_path / "validation.md"
    code = main(
        ["--junit", str(tmp_path / "none.xml"), "--catalogue", str(catalogue), "--out", str(out)]
    )
    assert code == 0 and out.read_text("utf-8").count("**missing**") == 4  # R1-R4; R5 has no test


def test_a_requirement_needs_tests_or_a_stated_gap(tmp_path: Path) -> None:
    bad = tmp_path / "requirements.yaml"
    bad.write_text("requirements:\n  - {id: R1, source: S, text: t, tests: []}\n", "utf-8")
    with pytest.raises(ValueError, match="no test and no 'gap'"):
        load_catalogue(bad)
    bad.write_text("requirements:\n  - {id: R1, source: S, text: t, tests: [x]}\n" * 1
                   + "  - {id: R1, source: S, text: t, tests: [x]}\n", "utf-8")  # fmt: skip
    with pytest.raises(ValueError, match="used twice"):
        load_catalogue(bad)


def test_the_repository_catalogue_covers_part_11_and_annex_11() -> None:
    sources = " ".join(r.source for r in load_catalogue(CATALOGUE))
    for clause in ("11.10(a)", "11.10(k)", "11.50", "11.70", "11.100", "11.200", "11.300"):
        assert f"21 CFR {clause}" in sources, clause
    for section in ("§4", "§5", "§7", "§9", "§10", "§12", "§14", "§16", "§17"):
        assert f"Annex 11 {section} " in sources, section
    assert JUnitResult().of("tests/x.py::test_y") == "missing"


def test_a_rerun_replaces_the_earlier_result(sample: tuple[Path, Path], tmp_path: Path) -> None:
    junit_path, _ = sample
    rerun = tmp_path / "rerun.xml"
    rerun.write_text(
        '<testsuite timestamp="2026-12-04T16:00:00">'
        '<testcase classname="tests.test_a" name="test_half[postgresql]"/></testsuite>',
        "utf-8",
    )
    junit = read_junit(junit_path, root=tmp_path)
    assert junit.of("tests/test_a.py::test_half") == "fail"
    read_junit(rerun, root=tmp_path, into=junit)
    assert junit.of("tests/test_a.py::test_half") == "pass"
    assert junit.of("tests/test_a.py::test_skips") == "skipped"  # not re-run: kept
