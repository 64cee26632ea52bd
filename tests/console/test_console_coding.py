"""`trialdesk coding load|list` and a coder created with `trialdesk user add --role coder`."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.harness.database import TestDatabase, fresh_database
from typer.testing import CliRunner

from trialdesk.cli import app

DATA = Path(__file__).parents[1] / "coding" / "data"
runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path) -> str:
    db: TestDatabase = fresh_database(directory=tmp_path)
    yield str(db.engine.url)  # type: ignore[misc]
    db.dispose()


def test_load_meddra_then_its_upgrade_and_list(url: str) -> None:
    first = runner.invoke(
        app, ["coding", "load", "meddra", str(DATA / "meddra_test_0_1"), "--version", "TEST 0.1",
              "--url", url],
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    assert "MedDRA TEST 0.1 (English) loaded: 9 terms" in first.output
    second = runner.invoke(
        app, ["coding", "load", "meddra", str(DATA / "meddra_test_0_2"), "--version", "TEST 0.2",
              "--url", url],
    )  # fmt: skip
    assert second.exit_code == 0 and "loaded: 10 terms" in second.output
    listed = runner.invoke(app, ["coding", "list", "--url", url])
    assert listed.exit_code == 0
    assert "TEST 0.1" in listed.output and "TEST 0.2" in listed.output


def test_wrong_version_and_malformed_files_are_refused_clearly(url: str, tmp_path: Path) -> None:
    wrong = runner.invoke(
        app, ["coding", "load", "meddra", str(DATA / "meddra_test_0_1"), "--version", "27.1",
              "--url", url],
    )  # fmt: skip
    assert wrong.exit_code == 2 and "version_mismatch" in wrong.output
    assert "Traceback" not in wrong.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = runner.invoke(
        app, ["coding", "load", "meddra", str(empty), "--version", "TEST 0.1", "--url", url]
    )
    assert missing.exit_code == 2
    assert "meddra_release.asc: the file is missing" in " ".join(missing.output.split())


def test_user_add_creates_a_coder(url: str) -> None:
    site = runner.invoke(
        app, ["site", "add", "APGH", "Armed Police General Hospital", "--url", url]
    )
    assert site.exit_code == 0, site.output
    result = runner.invoke(
        app, ["user", "add", "cora", "--role", "coder", "--site", "APGH", "--password-stdin",
              "--url", url],
        input="a long enough passphrase 42\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "roles coder" in result.output
