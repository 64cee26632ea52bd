"""The `trialdesk protocol` and `trialdesk screen` commands, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.protocol.load import builtin_protocol_text

runner = CliRunner()
MINI = Path(__file__).parents[1] / "protocol" / "data" / "mini_protocol.yaml"


def test_protocol_show_prints_the_record() -> None:
    result = runner.invoke(app, ["protocol", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in (
        "NCT01142050",
        "Cellonis Biotechnology",
        "Armed Police General Hospital",
        "SINGLE_GROUP",
        "24",
        "Negative pregnancy test",
        "M12",
        "one year",
    ):
        assert text in result.output


def test_protocol_validate_builtin_warns_about_cell_source(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(builtin_protocol_text(), "utf-8")
    result = runner.invoke(app, ["protocol", "validate", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "bone marrow" in result.output
    assert "umbilical cord" in result.output and "is valid" in result.output


def test_protocol_validate_second_protocol_is_clean() -> None:
    result = runner.invoke(app, ["protocol", "validate", str(MINI)])
    assert result.exit_code == 0 and "warning" not in result.output


def test_protocol_validate_errors_exit_nonzero_with_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        builtin_protocol_text().replace("target_enrollment: 24", "target_enrollment: x")
    )
    result = runner.invoke(app, ["protocol", "validate", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "target_enrollment (line" in result.output and "integer" in result.output


def test_screen_shipped_examples() -> None:
    result = runner.invoke(app, ["screen"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "4 eligible, 5 ineligible, 1 incomplete" in result.output
    assert "C08 Inclusion 6: not assessable, missing itt_glucose" in result.output


def test_screen_json_one_candidate(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "P1",
                    "informed_consent": True,
                    "t2dm_diagnosis": True,
                    "date_of_birth": "1970-01-01",
                    "sex": "M",
                    "weight": {"value": 80, "unit": "kg"},
                    "height": "1.75 m",
                    "fasting_glucose": "8.0 mmol/L",
                    "hba1c": {"value": 64, "unit": "mmol/mol"},
                }
            ]
        )
    )
    result = runner.invoke(app, ["screen", str(path), "--on", "2026-11-20", "--json"])
    assert result.exit_code == 0, result.output
    [snapshot] = json.loads(result.output)
    assert snapshot["candidate"] == "P1" and snapshot["status"] == "incomplete"
    assert "itt_glucose" in snapshot["missing"]
    i3 = next(c for c in snapshot["criteria"] if c["id"] == "I3")
    assert i3["truth"] == "met"


def test_screen_bad_file_and_values(tmp_path: Path) -> None:
    assert runner.invoke(app, ["screen", str(tmp_path / "none.csv")]).exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("id,hba1c,hba1c_unit\nB1,7.5,mg/dL\n")
    result = runner.invoke(app, ["screen", str(bad)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "B1: hba1c: cannot convert mg/dL to %" in result.output
    txt = tmp_path / "x.txt"
    txt.write_text("")
    result = runner.invoke(app, ["screen", str(txt)], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "unsupported file type" in result.output
