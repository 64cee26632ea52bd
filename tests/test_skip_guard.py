"""The CI skip guard (tests/skip_guard.py) run on small test files of its own, with pytester."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.skip_guard import ALLOW_LIST, parse_allow_list

GUARD_SOURCE = (Path(__file__).parent / "skip_guard.py").read_text("utf-8")

SKIPPING = """
import pytest

def test_runs():
    assert True

@pytest.mark.skipif(True, reason="no chromium on this machine")
def test_needs_chromium():
    assert True
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(GUARD_SOURCE)
    monkeypatch.setenv("CI", "true")
    return pytester


def _allow(pytester: pytest.Pytester, *lines: str) -> str:
    path = pytester.path / "allowed.txt"
    path.write_text("# reviewed skips\n" + "\n".join(lines) + "\n", "utf-8")
    return f"--allowed-skips={path}"


def test_a_skip_fails_the_ci_run_and_is_named(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_one=SKIPPING)
    result = suite.runpytest(_allow(suite))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*skips not on the reviewed allow-list*",
        "SKIPPED test_one.py::test_needs_chromium: no chromium on this machine",
    ])  # fmt: skip


def test_a_reviewed_skip_passes(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_one=SKIPPING)
    entry = "test_one.py::test_needs_chromium | no chromium* | A. Reviewer, 2026-12-04 | demo"
    unused = "test_gone.py::test_x | * | A. Reviewer, 2026-12-04 | removed since"
    result = suite.runpytest(_allow(suite, entry, unused))
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*skips not on the reviewed allow-list*")
    result.stdout.fnmatch_lines(["*allow-list entries no skip used*", "test_gone.py::test_x | *"])


def test_an_entry_must_match_the_reason_too(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_one=SKIPPING)
    entry = "test_one.py::test_needs_chromium | no Java* | A. Reviewer, 2026-12-04 | demo"
    assert suite.runpytest(_allow(suite, entry)).ret == pytest.ExitCode.TESTS_FAILED


def test_outside_ci_a_skip_is_only_reported(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI")
    suite.makepyfile(test_one=SKIPPING)
    assert suite.runpytest(_allow(suite)).ret == pytest.ExitCode.OK


def test_xfail_xpass_runtime_skip_and_importorskip_all_count(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_marks="""
import pytest

@pytest.mark.xfail(reason="known bug")
def test_xfails():
    assert False

@pytest.mark.xfail(reason="fixed meanwhile")
def test_xpasses():
    assert True

def test_skips_inside():
    pytest.skip("TRIALDESK_TEST_POSTGRES_URL is not set")
""",
        test_module="""
import pytest
pytest.importorskip("no_such_module_anywhere")
""",
    )
    result = suite.runpytest(_allow(suite))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random([
        "XFAILED test_marks.py::test_xfails: known bug",
        "XPASSED test_marks.py::test_xpasses: fixed meanwhile",
        "SKIPPED test_marks.py::test_skips_inside: TRIALDESK_TEST_POSTGRES_URL is not set",
        "SKIPPED test_module.py: *no_such_module_anywhere*",
    ])  # fmt: skip


def test_a_failing_run_keeps_its_own_status(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_one=SKIPPING + "\ndef test_fails():\n    assert False\n")
    assert suite.runpytest(_allow(suite)).ret == pytest.ExitCode.TESTS_FAILED


def test_a_malformed_entry_is_refused(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_one=SKIPPING)
    result = suite.runpytest(_allow(suite, "test_one.py::test_needs_chromium | no chromium*"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*allowed.txt:2: an entry needs four non-empty fields*"])


def test_under_xdist_the_controller_judges(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_one=SKIPPING)
    result = suite.runpytest_subprocess("-n", "2", "-p", "xdist", _allow(suite))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["SKIPPED test_one.py::test_needs_chromium: no chromium*"])


def test_the_repository_allow_list_is_well_formed() -> None:
    entries = parse_allow_list(ALLOW_LIST.read_text("utf-8"), str(ALLOW_LIST))
    assert all("," in e.reviewer for e in entries), "each entry names its reviewer and date"


def test_beside_directory_conftests(suite: pytest.Pytester) -> None:
    # The project's own conftest files define fixtures and hooks per directory; the guard is
    # registered beside them (pluggy hashes every plugin for per-directory hook calls).
    sub = suite.mkdir("sub")
    (sub / "conftest.py").write_text("def pytest_runtest_setup(item):\n    pass\n", "utf-8")
    (sub / "test_sub.py").write_text(SKIPPING, "utf-8")
    result = suite.runpytest(_allow(suite))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["SKIPPED sub/test_sub.py::test_needs_chromium: no chromium*"])
