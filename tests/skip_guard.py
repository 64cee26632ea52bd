"""Under CI=true a skipped or xfailed test fails the run, unless a reviewer allowed it.

A missing chromium, Java runtime or PostgreSQL server makes the tests that need it skip; on a
developer's laptop that is a convenience, in CI it would be a silent green over untested code
(EU GMP Annex 11 §4.7 and 21 CFR 11.10(a) ask for evidence that the system was tested, not for
the absence of failures). So when the environment variable CI is "true", every skip, xfail and
xpass is compared with the reviewed allow-list (`tests/allowed_skips.txt`, or `--allowed-skips`):
one entry a line, four fields separated by " | ":

    node id pattern (fnmatch) | reason pattern (fnmatch) | reviewer, date | why it is acceptable

Anything not on the list is printed and turns the exit status into 1. Loaded by the root
`conftest.py`; tested with pytester in `tests/test_skip_guard.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ALLOW_LIST = Path(__file__).with_name("allowed_skips.txt")
SEPARATOR = " | "


@dataclass(frozen=True)
class Allowed:
    """One reviewed entry of the allow-list."""

    node: str
    reason: str
    reviewer: str
    why: str

    def covers(self, node_id: str, reason: str) -> bool:
        return fnmatchcase(node_id, self.node) and fnmatchcase(reason, self.reason)


@dataclass(eq=False)  # a plugin must be hashable: identity, not value
class Guard:
    """A plugin holding the allow-list and the skips seen that it does not cover."""

    allowed: list[Allowed]
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    used: set[Allowed] = field(default_factory=set)

    def judge(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        outcome = _outcome(report)
        if outcome is None:
            return
        reason = _reason(report)
        covering = [a for a in self.allowed if a.covers(report.nodeid, reason)]
        self.used.update(covering)
        if not covering:
            self.refused.append((report.nodeid, outcome, reason))

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A skip happens in setup (marks, fixtures) or in the call (pytest.skip in the test);
        # an xfail/xpass is reported on the call.
        if report.skipped or (report.when == "call" and hasattr(report, "wasxfail")):
            self.judge(report)

    @pytest.hookimpl(trylast=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A module-level importorskip skips the whole file at collection.
        if report.skipped:
            self.judge(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.refused and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        unused = [a for a in self.allowed if a not in self.used]
        if unused and not self.refused:
            # Not a failure (a run may select fewer tests), but a reviewer should see it.
            terminalreporter.section("allow-list entries no skip used (CI=true)", yellow=True)
            for entry in unused:
                terminalreporter.line(f"{entry.node} | {entry.reason}")
        if not self.refused:
            return
        terminalreporter.section("skips not on the reviewed allow-list (CI=true)", red=True)
        for node_id, outcome, reason in self.refused:
            terminalreporter.line(f"{outcome.upper()} {node_id}: {reason}")
        terminalreporter.line(
            f"{len(self.refused)} skip(s)/xfail(s) fail this CI run: make the test run here "
            f"(install what it needs) or add a reviewed entry to {ALLOW_LIST.name}."
        )


def parse_allow_list(text: str, source: str = "allow-list") -> list[Allowed]:
    """Entries of the allow-list; an entry without its four fields is an error, not ignored."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(SEPARATOR)]
        if len(parts) != 4 or not all(parts):
            raise pytest.UsageError(
                f"{source}:{number}: an entry needs four non-empty fields "
                f"'node id | reason | reviewer, date | why', got: {line.strip()!r}"
            )
        entries.append(Allowed(*parts))
    return entries


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The skip or xfail reason, as pytest prints it after 'SKIPPED'/'XFAIL'."""
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return str(wasxfail)
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _outcome(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    if hasattr(report, "wasxfail"):
        return "xpassed" if report.passed else "xfailed"
    return "skipped" if report.skipped else None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--allowed-skips",
        default=str(ALLOW_LIST),
        help="reviewed allow-list of skips/xfails accepted when CI=true",
    )


def pytest_configure(config: pytest.Config) -> None:
    # xdist workers forward their reports to the controller, which alone judges them.
    if not _in_ci() or hasattr(config, "workerinput"):
        return
    path = Path(config.getoption("--allowed-skips"))
    text = path.read_text("utf-8") if path.exists() else ""
    config.pluginmanager.register(Guard(parse_allow_list(text, str(path))), "skip_guard")
