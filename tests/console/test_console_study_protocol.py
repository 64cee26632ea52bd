"""The study knows its protocol (issue 18), end to end through the command line on SQLite and,
when TRIALDESK_TEST_POSTGRES_URL is set, PostgreSQL: a second protocol (NCT99000018: another
target, other age/BMI/HbA1c limits, no month-9 visit, two sites) simulated through
TRIALDESK_PROTOCOL, then reported, exported and screened without --protocol; a different file is
refused naming both hashes; an amendment is registered and listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select
from sqlalchemy.engine import make_url
from tools.harness.database import TestDatabase, available_backends, backend_url, fresh_database
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.protocol import load_protocol
from trialdesk.protocol.load import builtin_protocol_text
from trialdesk.services.study import text_sha256
from trialdesk.store.models import Participant, ProtocolVersion, Site, Visit

runner = CliRunner()
SECOND = Path(__file__).parents[1] / "protocol" / "data" / "second_protocol.yaml"
SECOND_TEXT = SECOND.read_text("utf-8")


def cli_url(db: TestDatabase) -> str:
    """The URL the command line uses for this test database (its private PostgreSQL schema)."""
    url = make_url(db.engine.url.render_as_string(hide_password=False))
    if db.backend == "postgresql":
        url = url.update_query_dict({"options": f"-csearch_path={db.schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=available_backends())
def study(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestDatabase, str]]:
    """A study database simulated under the second protocol (30 candidates)."""
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("second"))
    url = cli_url(db)
    result = runner.invoke(
        app,
        ["simulate", "--candidates", "30", "--seed", "2", "--database", url],
        env={"TRIALDESK_PROTOCOL": str(SECOND), "TRIALDESK_DATABASE_URL": url},
    )
    assert result.exit_code == 0, result.output
    yield db, url
    db.dispose()


def test_the_second_protocol_is_a_different_study() -> None:
    second = load_protocol(SECOND)
    assert second.id == "NCT99000018" and second.target_enrollment == 16
    assert "M9" not in [v.code for v in second.schedule]
    assert [s.code for s in second.sites] == ["APGH", "PUMCH"]


def test_report_without_protocol_uses_the_stored_one(
    study: tuple[TestDatabase, str], tmp_path: Path
) -> None:
    _db, url = study
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--out", str(out), "--database", url], env={})
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text("utf-8"))
    protocol = doc["protocolSection"]
    assert protocol["identificationModule"]["nctId"] == "NCT99000018"
    assert protocol["designModule"]["enrollmentInfo"] == {"count": 16, "type": "ESTIMATED"}
    html = (out / "report.html").read_text("utf-8")
    assert "NCT99000018" in html and "target enrollment 16" in html
    assert "NCT01142050" not in html


def test_schedules_have_no_month_9_and_candidates_are_at_both_sites(
    study: tuple[TestDatabase, str],
) -> None:
    db, _url = study
    with db.session() as session:
        codes = set(session.scalars(select(Visit.code)))
        sites = list(
            session.scalars(select(Site.code).join(Participant, Participant.site_id == Site.id))
        )
        versions = set(session.scalars(select(Visit.protocol_version)))
    assert "M12" in codes and "M9" not in codes
    assert set(sites) == {"APGH", "PUMCH"}
    assert abs(sites.count("APGH") - sites.count("PUMCH")) <= 1  # spread in turn
    assert versions == {"1.0"}  # the label the file gives


def test_a_different_protocol_file_is_refused_naming_both_hashes(
    study: tuple[TestDatabase, str], tmp_path: Path
) -> None:
    db, url = study
    with db.session() as session:  # the version in force (an amendment may be registered)
        stored = session.scalars(
            select(ProtocolVersion.sha256).order_by(ProtocolVersion.effective_on.desc())
        ).first()
    assert stored is not None
    builtin = tmp_path / "NCT01142050.yaml"
    builtin.write_text(builtin_protocol_text(), encoding="utf-8")
    for command in (
        ["report", "--out", str(tmp_path / "r"), "--database", url, "--protocol", str(builtin)],
        [
            "export",
            "fhir",
            "--out",
            str(tmp_path / "f.json"),
            "--database",
            url,
            "--protocol",
            str(builtin),
        ],
        ["screen", "--database", url, "--protocol", str(builtin)],
    ):
        result = runner.invoke(app, command, env={})
        assert result.exit_code == 2, (command, result.output)
        flat = " ".join(result.output.split())
        assert text_sha256(builtin_protocol_text())[:16] in flat.replace(" ", "")
        assert stored[:16] in flat.replace(" ", "")
        assert "trialdesk protocol register" in flat
    # Through the environment, too (the way `simulate` and `serve` are given a protocol).
    again = runner.invoke(
        app,
        ["simulate", "--candidates", "2", "--database", url],
        env={"TRIALDESK_PROTOCOL": str(builtin)},
    )
    assert again.exit_code == 1 and "is not the protocol this study database runs" in " ".join(
        again.output.split()
    )
    # The registered file itself is accepted.
    same = runner.invoke(
        app, ["screen", "--database", url, "--protocol", str(SECOND), "--json"], env={}
    )
    assert same.exit_code == 0, same.output
    assert '"protocol": "NCT99000018"' in same.output


def test_an_amendment_is_registered_listed_and_carried_by_the_exports(
    study: tuple[TestDatabase, str], tmp_path: Path
) -> None:
    _db, url = study
    amended = tmp_path / "amendment.yaml"
    amended.write_text(
        SECOND_TEXT.replace('version: "1.0"', 'version: "2.0"').replace(
            "consent_form_version: ICF 1.0", "consent_form_version: ICF 2.0"
        ),
        encoding="utf-8",
    )
    register = runner.invoke(
        app,
        [
            "protocol",
            "register",
            str(amended),
            "--effective",
            "2026-01-05",
            "--summary",
            "Consent form 2.0: new risk information",
            "--url",
            url,
        ],
        env={},
    )
    assert register.exit_code == 0, register.output
    assert "version 2.0" in register.output and "ICF 2.0" in register.output
    twice = runner.invoke(
        app,
        [
            "protocol",
            "register",
            str(amended),
            "--effective",
            "2026-02-05",
            "--summary",
            "again",
            "--url",
            url,
        ],
        env={},
    )
    assert twice.exit_code == 1 and "already registered as version 2.0" in twice.output
    listed = runner.invoke(app, ["protocol", "versions", "--url", url], env={})
    assert listed.exit_code == 0
    assert "1.0" in listed.output and "2.0" in listed.output and "2026-01-05" in listed.output
    # The amended file is now accepted wherever a protocol file is given.
    ok = runner.invoke(
        app,
        [
            "export",
            "fhir",
            "--out",
            str(tmp_path / "fhir.json"),
            "--database",
            url,
            "--protocol",
            str(amended),
        ],
        env={},
    )
    assert ok.exit_code == 0, ok.output
    bundle = json.loads((tmp_path / "fhir.json").read_text("utf-8"))
    study_resource = bundle["entry"][0]["resource"]
    assert study_resource["resourceType"] == "ResearchStudy"
    assert study_resource["extension"][0]["valueString"] == "2.0"
    plans = [r for r in study_resource["contained"] if r["resourceType"] == "PlanDefinition"]
    assert [(p["version"], p["date"]) for p in plans][-1] == ("2.0", "2026-01-05")
    assert len(plans) == 2 and len(study_resource["protocol"]) == 2
    odm = runner.invoke(
        app, ["export", "odm", "--out", str(tmp_path / "odm.xml"), "--database", url], env={}
    )
    assert odm.exit_code == 0, odm.output
    root = etree.parse(str(tmp_path / "odm.xml")).getroot()
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
    oids = [m.get("OID") for m in root.iterfind(".//odm:MetaDataVersion", ns)]
    assert oids == ["MDV.2.0", "MDV.1.0"]
    clinical = root.find("odm:ClinicalData", ns)
    assert clinical is not None and clinical.get("MetaDataVersionOID") == "MDV.2.0"
    refs = {
        (r.get("MetaDataVersionOID"), r.get("EffectiveDate"))
        for r in root.iterfind(".//odm:Location/odm:MetaDataVersionRef", ns)
    }
    assert ("MDV.2.0", "2026-01-05") in refs and len({oid for oid, _ in refs}) == 2


def test_serve_refuses_to_start_under_another_protocol(
    study: tuple[TestDatabase, str], tmp_path: Path
) -> None:
    _db, url = study
    builtin = tmp_path / "NCT01142050.yaml"
    builtin.write_text(builtin_protocol_text(), encoding="utf-8")
    # None: CliRunner restores these afterwards (`serve` writes them to os.environ).
    env = {
        "TRIALDESK_PROTOCOL": str(builtin),
        "TRIALDESK_DATABASE_URL": None,
        "TRIALDESK_SECRET_KEY": None,
    }
    result = runner.invoke(app, ["serve", "--database-url", url, "--port", "1"], env=env)
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert "refused" in flat and "is not the protocol this study database runs" in flat


def test_db_upgrade_sets_the_study_up_once_under_the_file_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/study.sqlite"
    first = runner.invoke(
        app,
        ["db", "upgrade", "--url", url, "--protocol", str(SECOND), "--effective", "2026-02-01"],
        env={},
    )
    assert first.exit_code == 0, first.output
    flat = " ".join(first.output.split())
    assert "protocol NCT99000018 version 1.0" in flat and "in force from 2026-02-01" in flat
    assert "registered site APGH" in flat and "registered site PUMCH" in flat
    again = runner.invoke(app, ["db", "upgrade", "--url", url], env={})  # nothing given: kept
    assert again.exit_code == 0 and "NCT99000018 version 1.0" in " ".join(again.output.split())
    builtin = tmp_path / "NCT01142050.yaml"
    builtin.write_text(builtin_protocol_text(), encoding="utf-8")
    other = runner.invoke(app, ["db", "upgrade", "--url", url, "--protocol", str(builtin)], env={})
    assert other.exit_code == 1
    refusal = " ".join(other.output.split())
    assert text_sha256(builtin_protocol_text()) in refusal and text_sha256(SECOND_TEXT) in refusal
    listed = runner.invoke(app, ["protocol", "versions", "--url", url], env={})
    assert listed.output.count("NCT99000018") == 1 and "NCT01142050" not in listed.output
