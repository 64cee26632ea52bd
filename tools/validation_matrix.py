"""Render docs/validation.md: requirement -> the tests that prove it -> their last result.

    python -m tools.validation_matrix --junit build/junit.xml --out docs/validation.md

`--junit` may be given several times (e.g. a run, then a re-run of some tests): for a test in
more than one file, the last file's result counts.

Reads the requirements catalogue (docs/requirements.yaml: 21 CFR Part 11 and EU GMP Annex 11
clauses and the README's claims, each with the pytest node ids that prove it) and the JUnit
XML that `make test` writes. A test id stands for all its parametrisations; its result is
"fail" if any failed or errored, "skipped" if any was skipped, "pass" if all passed, and
"missing" when the JUnit file holds none of them (renamed, deselected or not run). A
requirement without a test is listed in its own section, so a claim cannot hide.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "docs" / "requirements.yaml"
PASS, FAIL, SKIPPED, MISSING = "pass", "fail", "skipped", "missing"


@dataclass(frozen=True)
class Requirement:
    id: str
    source: str
    text: str
    tests: tuple[str, ...]
    gap: str = ""
    note: str = ""


@dataclass
class JUnitResult:
    """Outcome of every test case in a JUnit file, by pytest node id (with parameters)."""

    outcomes: dict[str, str] = field(default_factory=dict)
    timestamp: str = ""

    def of(self, test_id: str) -> str:
        found = [o for node, o in self.outcomes.items() if node.split("[", 1)[0] == test_id]
        if not found:
            return MISSING
        for outcome in (FAIL, SKIPPED):
            if outcome in found:
                return outcome
        return PASS


def load_catalogue(path: Path = CATALOGUE) -> list[Requirement]:
    """The requirements, checked: unique ids, a source and a text, tests or a stated gap."""
    data = yaml.safe_load(path.read_text("utf-8"))
    items = data.get("requirements") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a mapping with a 'requirements' list")
    requirements, seen = [], set()
    for number, item in enumerate(items, start=1):
        where = f"{path.name}: requirement {number}"
        missing = [k for k in ("id", "source", "text", "tests") if k not in item]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        if item["id"] in seen:
            raise ValueError(f"{where}: id {item['id']!r} used twice")
        if not item["tests"] and not item.get("gap"):
            raise ValueError(f"{where} ({item['id']}): no test and no 'gap' saying why")
        seen.add(item["id"])
        requirements.append(
            Requirement(
                id=str(item["id"]),
                source=str(item["source"]),
                text=" ".join(str(item["text"]).split()),
                tests=tuple(str(t) for t in item["tests"]),
                gap=" ".join(str(item.get("gap", "")).split()),
                note=" ".join(str(item.get("note", "")).split()),
            )
        )
    return requirements


def _node_id(classname: str, name: str, root: Path) -> str:
    """pytest's node id from JUnit's dotted classname (module path, then any test class)."""
    parts = classname.split(".")
    for split in range(len(parts), 0, -1):
        module = Path(*parts[:split]).with_suffix(".py")
        if (root / module).exists():
            return "::".join([module.as_posix(), *parts[split:], name])
    return "::".join([classname.replace(".", "/") + ".py", name])


def _outcome(case: ET.Element) -> str:
    if case.find("failure") is not None or case.find("error") is not None:
        return FAIL
    return SKIPPED if case.find("skipped") is not None else PASS


def read_junit(
    path: Path | None, root: Path = ROOT, into: JUnitResult | None = None
) -> JUnitResult:
    """The outcomes in `path` (added to `into`, replacing its results for the same tests); an
    absent file means no run yet (every test "missing")."""
    result = into or JUnitResult()
    if path is None or not path.exists():
        return result
    rerun = set(result.outcomes)
    tree = ET.parse(path)
    suites = [tree.getroot()] if tree.getroot().tag == "testsuite" else tree.getroot()
    for suite in suites:
        result.timestamp = result.timestamp or suite.get("timestamp", "")
        for case in suite.iter("testcase"):
            node = _node_id(case.get("classname", ""), case.get("name", ""), root)
            if node in rerun:  # an earlier file's result, replaced by this run's
                rerun.discard(node)
                del result.outcomes[node]
            previous = result.outcomes.get(node)
            outcome = _outcome(case)
            # A test that fails in teardown after passing appears twice: the failure wins.
            result.outcomes[node] = FAIL if FAIL in (previous, outcome) else outcome
    return result


def _status(requirement: Requirement, junit: JUnitResult) -> str:
    if not requirement.tests:
        return "no test"
    results = {junit.of(t) for t in requirement.tests}
    for outcome in (FAIL, MISSING, SKIPPED):
        if outcome in results:
            return outcome
    return PASS


def render(
    requirements: list[Requirement], junit: JUnitResult, junit_name: str, run_note: str = ""
) -> str:
    """The Markdown document; `run_note` says what the JUnit files are the result of."""
    run = junit.timestamp or "none found"
    lines = [
        "# Validation traceability matrix",
        "",
        "Generated by `make validation` (`python -m tools.validation_matrix`) from",
        "`docs/requirements.yaml` and the JUnit result of the last `make test`",
        f"(`{junit_name}`, run started {run}). Do not edit by hand.",
        *([f"The results below are from: {run_note}."] if run_note else []),
        "",
        "A requirement passes when every test mapped to it passed on every backend it ran on;",
        "`missing` means the test was not in the run, `no test` that nothing proves it yet.",
        "",
        "| requirement | source | status | tests (last result) |",
        "|---|---|---|---|",
    ]
    for r in requirements:
        tests = "<br>".join(f"`{t.rsplit('/', 1)[-1]}` ({junit.of(t)})" for t in r.tests)
        lines.append(
            f"| {r.id}: {r.text} | {r.source} | **{_status(r, junit)}** | {tests or '—'} |"
        )
    untested = [r for r in requirements if not r.tests or r.gap]
    lines += ["", "## Requirements and claims without a test", ""]
    lines += [f"- **{r.id}** ({r.source}): {r.gap or 'no test'}" for r in untested] or ["None."]
    notes = [r for r in requirements if r.note]
    if notes:
        lines += ["", "## Interpretations", ""]
        lines += [f"- **{r.id}**: {r.note}" for r in notes]
    counts: dict[str, int] = {}
    for r in requirements:
        counts[_status(r, junit)] = counts.get(_status(r, junit), 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines += ["", f"Summary: {len(requirements)} requirements: {summary}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junit", type=Path, action="append", help="JUnit XML (repeatable)")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--run-note", default="", help="what the JUnit files are the result of")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "validation.md")
    args = parser.parse_args(argv)
    try:
        requirements = load_catalogue(args.catalogue)
        files = args.junit or [ROOT / "build" / "junit.xml"]
        junit = JUnitResult()
        for file in files:
            read_junit(file, into=junit)
    except (OSError, ValueError, ET.ParseError, yaml.YAMLError) as exc:
        print(f"validation matrix: {exc}", file=sys.stderr)
        return 2
    if not junit.outcomes:
        print(f"validation matrix: no results in {', '.join(map(str, files))}; run make test",
              file=sys.stderr)  # fmt: skip
    names = " + ".join(f.name for f in files)
    args.out.write_text(render(requirements, junit, names, args.run_note), "utf-8")
    print(f"{args.out}: {len(requirements)} requirements ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
