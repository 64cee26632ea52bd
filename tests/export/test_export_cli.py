"""`trialdesk export FORMAT` and `trialdesk import FORMAT` from the command line."""

from __future__ import annotations

from pathlib import Path

from tools.harness.database import TestDatabase
from typer.testing import CliRunner

from trialdesk.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def test_protocol_level_exports_and_their_imports(tmp_path: Path) -> None:
    code, out = _run("export", "redcap", "--out", str(tmp_path / "rc"))
    assert code == 0, out
    stem = tmp_path / "rc" / "NCT01142050"
    code, out = _run(
        "import",
        "redcap",
        f"{stem}_DataDictionary.csv",
        "--instruments",
        f"{stem}_Instruments.csv",
        "--events",
        f"{stem}_Events.csv",
        "--mapping",
        f"{stem}_InstrumentDesignations.csv",
        "--repeating",
        f"{stem}_RepeatingInstruments.csv",
    )
    assert code == 0, out
    assert "12 forms, 80 fields, 9 events" in out
    code, out = _run("export", "odm", "--out", str(tmp_path / "odm.xml"))
    assert code == 0 and "valid against ODM1-3-2.xsd" in out
    code, out = _run("import", "odm", str(tmp_path / "odm.xml"))
    assert code == 0 and "study NCT01142050, 9 events, 12 forms" in out
    code, out = _run("export", "sdtm", "--out", str(tmp_path / "sdtm"))
    assert code == 0 and "no findings" in out
    assert (tmp_path / "sdtm" / "ti.xpt").exists() and (tmp_path / "sdtm" / "define.xml").exists()
    code, out = _run("export", "fhir", "--out", str(tmp_path / "rs.json"))
    assert code == 0 and "ResearchStudy" in out


def test_bad_imports_exit_1_and_say_what_was_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "dd.csv"
    bad.write_text("Variable / Field Name,Form Name\nx,f\n", encoding="utf-8")
    code, out = _run("import", "redcap", str(bad))
    assert code == 1
    assert "rejected" in out and "nothing was imported" in out and "row 1" in out
    xml = tmp_path / "x.xml"
    xml.write_text("<ODM xmlns='http://www.cdisc.org/ns/odm/v1.3'/>", encoding="utf-8")
    code, out = _run("import", "odm", str(xml))
    assert code == 1 and "FileType" in out
    code, out = _run("import", "odm", str(tmp_path / "missing.xml"))
    assert code == 2 and "cannot read" in out


def test_database_export_and_import_from_the_command_line(
    cohort: TestDatabase, target: TestDatabase, tmp_path: Path
) -> None:
    source, destination = cohort.url, target.url  # PostgreSQL: the test schema in the URL
    code, out = _run("export", "sdtm", "--database", source, "--out", str(tmp_path / "sdtm"))
    assert code == 0 and "17 datasets" in out and "no findings" in out, out
    code, out = _run("export", "odm", "--database", source, "--out", str(tmp_path / "d.xml"))
    assert code == 0, out
    code, out = _run("export", "redcap", "--database", source, "--out", str(tmp_path / "rc"))
    assert code == 0 and (tmp_path / "rc" / "NCT01142050_Records.csv").exists()
    code, out = _run("import", "odm", str(tmp_path / "d.xml"), "--database", destination)
    assert code == 2 and "--user" in out
    code, out = _run(
        "import",
        "odm",
        str(tmp_path / "d.xml"),
        "--database",
        destination,
        "--user",
        "investigator",
    )
    assert code == 0 and "stored in one transaction" in out, out
