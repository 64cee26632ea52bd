"""The `trialdesk protocol` and `trialdesk screen` commands, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
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
    assert f"{bad}: row 1 (B1): hba1c: cannot convert mg/dL to %" in result.stderr
    txt = tmp_path / "x.txt"
    txt.write_text("")
    result = runner.invoke(app, ["screen", str(txt)], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "unsupported file type" in result.stderr


HEADER = (
    "id,informed_consent,t2dm_diagnosis,date_of_birth,sex,weight,weight_unit,height,"
    "height_unit,fasting_glucose,fasting_glucose_unit,hba1c,hba1c_unit"
)
GOOD = "G1,yes,yes,1968-04-02,M,78,kg,172,cm,9.4,mmol/L,8.6,%"


def _screen(path: Path, *extra: str) -> Any:
    return runner.invoke(
        app, ["screen", str(path), "--on", "2026-11-20", *extra], env={"COLUMNS": "200"}
    )


def _unwrapped(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        # issue #16: a mg/dL glucose and an IFCC HbA1c typed in the wrong unit
        ("U1,yes,yes,1968-04-02,M,78,kg,172,cm,100,mmol/L,53,%", "fasting_glucose", "100 mmol/L"),
        ("U1,yes,yes,1968-04-02,M,78,kg,172,cm,100,mmol/L,53,%", "hba1c", "53 % is above"),
        ("W1,yes,yes,1968-04-02,M,780,kg,172,cm,9.4,mmol/L,8.6,%", "weight", "780 kg is above"),
        ("W2,yes,yes,1968-04-02,M,10,kg,172,cm,9.4,mmol/L,8.6,%", "weight", "10 kg is below"),
        ("W3,yes,yes,1968-04-02,M,-1,kg,172,cm,9.4,mmol/L,8.6,%", "weight", "-1 kg is below"),
        ("D1,yes,yes,2030-01-01,M,78,kg,172,cm,9.4,mmol/L,8.6,%", "date_of_birth", "after"),
    ],
)
def test_screen_refuses_impossible_values_on_stderr(
    tmp_path: Path, row: str, field: str, reason: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{HEADER}\n{row}\n{GOOD}\n", "utf-8")
    result = _screen(path, "--json")
    assert result.exit_code == 1
    candidate = row.split(",")[0]
    assert f"{path}: row 1 ({candidate}): {field}: " in _unwrapped(result.stderr)
    assert reason in _unwrapped(result.stderr)
    [judged] = json.loads(result.stdout)  # stdout is only JSON: the good row, judged
    assert judged["candidate"] == "G1"


def test_screen_row_with_an_extra_cell_is_named_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{HEADER}\n{GOOD},surplus\n{GOOD.replace('G1', 'G2')}\n", "utf-8")
    result = _screen(path, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{path}: row 1 (G1): line 2: 14 cells where the header has 13 columns" in (
        _unwrapped(result.stderr)
    )
    assert [r["candidate"] for r in json.loads(result.stdout)] == ["G2"]


def test_screen_utf16_is_read_and_latin1_is_refused_by_name(tmp_path: Path) -> None:
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text(f"{HEADER}\n{GOOD}\n", "utf-16")  # Excel "Unicode text" keeps a BOM
    result = _screen(utf16, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["candidate"] == "G1"
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(f"{HEADER}\n{GOOD.replace('G1', 'Gé')}\n".encode("latin-1"))
    result = _screen(latin1)
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{latin1}: not UTF-8 text (byte 0xe9 on line 2)" in _unwrapped(result.stderr)
    assert "--on" not in result.stderr


@pytest.mark.parametrize(("text", "reason"), [("", "the file is empty"), (HEADER, "only a header")])
def test_screen_empty_file_says_so(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(text, "utf-8")
    result = _screen(path)
    assert result.exit_code == 2 and reason in result.stderr and result.stdout == ""


def test_screen_bad_on_date_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n", "utf-8")
    result = runner.invoke(app, ["screen", str(path), "--on", "20/11/2026"])
    assert result.exit_code == 2 and "--on: '20/11/2026' is not a date" in result.stderr


@pytest.mark.parametrize(
    ("cell", "said"),
    [
        ("ND", "not done (ND)"),
        ("nav: analyser under repair", "temporarily unavailable (NAV): analyser under repair"),
        ("UNK", "unknown (UNK)"),
    ],
)
def test_screen_csv_takes_missing_data_codes(tmp_path: Path, cell: str, said: str) -> None:
    """A CSV cell may hold a missing-data code (catalogue.missing, as the web and API take
    them): the field then has no value, the candidate is not assessable on the criteria that
    need it, and the verdict says it was recorded as missing with that code."""
    path = tmp_path / "c.csv"
    coded = GOOD.replace("G1", "M1").replace(",8.6,%", f",{cell},%")
    path.write_text(f"{HEADER}\n{coded}\n", "utf-8")
    result = _screen(path, "--json")
    assert result.exit_code == 0, result.stderr
    [judged] = json.loads(result.stdout)
    assert judged["status"] == "incomplete"
    assert judged["coded"] == {"hba1c": said}
    reasons = " ".join(" ".join(c["reasons"]) for c in judged["criteria"])
    assert said in reasons
    shown = _unwrapped(_screen(path).stdout)
    assert f"M1 hba1c: recorded as missing, {said}" in shown


def test_screen_csv_unknown_code_is_still_refused_as_a_value(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{HEADER}\n{GOOD.replace(',8.6,%', ',XX,%')}\n", "utf-8")
    result = _screen(path, "--json")
    assert result.exit_code == 1
    assert f"{path}: row 1 (G1): hba1c: " in _unwrapped(result.stderr)
