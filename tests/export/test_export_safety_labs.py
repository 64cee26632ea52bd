"""The safety laboratory (ALT, AST, creatinine, haemoglobin, white cells, platelets) and the
form statuses reach every export (issue #13): SDTM LB in CDISC standard units, FHIR
Observations (LOINC, UCUM, status from the form's status), ODM (ItemData, a FormData status flag
that reads back) and REDCap (fields, ``safety_labs_complete``), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select
from tools.harness.database import (
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk import services as sv
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.fhir.form_status import FORM_STATUS_EXTENSION
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm import names as n
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.redcap.columns import unique_event_name
from trialdesk.export.redcap.dictionary import redcap_project
from trialdesk.export.redcap.records import write_records
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.protocol import builtin_protocol
from trialdesk.services.actor import Actor
from trialdesk.services.form_status import FormStatusChange
from trialdesk.store.models import User

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
DAY0 = date.today() - timedelta(days=40)
NO = [
    "pregnant",
    "nursing",
    "fertile",
    "effective_contraception",
    "severe_heart_disease",
    "severe_lung_disease",
    "haematopoietic_dysfunction",
    "liver_dysfunction",
    "kidney_dysfunction",
    "active_infection_requiring_treatment",
    "unexplained_fever",
    "hiv_infection",
    "hepatitis_b_infection",
    "hepatitis_c_infection",
    "other_immunosuppressive_disease",
]
FINDINGS: dict[str, Any] = {"t2dm_diagnosis": True, **dict.fromkeys(NO, False)}
ITT = {0: 10.0, 3: 9.8, 6: 9.5, 9: 9.1, 12: 8.9, 15: 8.5}
# As a site types them: conventional units for some (µkat/L, mg/dL, g/dL, 10^3/µL).
SAFETY = (
    ("alt", "45", "U/L"),
    ("ast", "0.6", "µkat/L"),
    ("creatinine", "1.1", "mg/dL"),
    ("haemoglobin", "13.2", "g/dL"),
    ("white_cell_count", "6.1", "10^3/µL"),
    ("platelets", "250", "10^9/L"),
)


@pytest.fixture(scope="module", params=available_backends())
def study(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """One enrolled participant: the safety panel at baseline (safety form "unverified"), and
    an unscheduled safety-lab visit with platelets and ALT not done (haemolysed)."""
    db = fresh_database(backend_url(request.param), directory=tmp_path_factory.mktemp("safety"))
    with db.session() as session:
        seed_demo_site_and_users(session)
        who = sv.actor_for(
            session, session.scalars(select(User.id).where(User.username == "coordinator")).one()
        )
        pid = _enrolled(session, who)
        sv.record_visit(session, who, pid, code="BL", visit_date=DAY0 + timedelta(days=5))
        for element, value, unit in SAFETY:
            sv.record_measurement(
                session,
                who,
                pid,
                sv.VisitMeasurement(visit_code="BL", element=element, value=value, unit=unit),
            )
        sv.set_form_status(
            session,
            who,
            pid,
            FormStatusChange(visit_code="BL", form="safety_labs", status="unverified"),
        )
        sv.set_form_status(
            session, who, pid, FormStatusChange(visit_code="BL", form="dosing", status="incomplete")
        )
        extra = sv.add_unscheduled_visit(
            session, who, pid, visit_date=DAY0 + timedelta(days=12), reason="safety lab"
        )
        sv.record_measurement(
            session,
            who,
            pid,
            sv.VisitMeasurement(
                visit_code=extra.code, element="platelets", value="180", unit="10^9/L"
            ),
        )
        sv.record_measurement(
            session, who, pid, sv.VisitMeasurement(visit_code=extra.code, element="alt", value=None,
            missing_code="ND", missing_reason="sample haemolysed"),
        )  # fmt: skip
    yield db
    db.dispose()


def _enrolled(session: Any, who: Actor) -> int:
    p = sv.register_participant(
        session, who, sv.Registration(site_code="APGH", registered_on=DAY0, full_name="Li Na",
        date_of_birth=date(1964, 5, 6), sex="F"),
    )  # fmt: skip
    sv.record_consent(session, who, p.id, form_version="1.0", consented_on=DAY0)
    sv.record_visit(session, who, p.id, code="SCR", visit_date=DAY0)
    for element, value, unit in (
        ("fasting_glucose", "8.9", "mmol/L"),
        ("hba1c", "8.2", "%"),
        ("weight", "70", "kg"),
        ("height", "165", "cm"),
    ):
        sv.record_measurement(
            session,
            who,
            p.id,
            sv.VisitMeasurement(visit_code="SCR", element=element, value=value, unit=unit),
        )
    sv.record_itt_test(
        session, who, p.id, sv.IttTestEntry(visit_code="SCR", samples=ITT, glucose_unit="mmol/L")
    )
    sv.screen_participant(session, who, p.id, screened_on=DAY0, findings=FINDINGS)
    sv.enroll_participant(session, who, p.id, enrolled_on=DAY0 + timedelta(days=1))
    return p.id


def test_sdtm_lb_holds_the_safety_panel_in_standard_units(study: TestDatabase) -> None:
    protocol = builtin_protocol()
    with study.session() as session:
        datasets = sdtm_datasets(protocol, sdtm_sources(session, protocol))
    assert check(datasets) == []
    lb = datasets["LB"]
    baseline = {r["LBTESTCD"]: r for r in lb[lb["VISITNUM"] == 2].to_dict("records")}
    ast, creat = baseline["AST"], baseline["CREAT"]
    assert (ast["LBORRES"], ast["LBORRESU"], ast["LBSTRESU"]) == ("0.6", "ukat/L", "U/L")
    assert ast["LBSTRESN"] == pytest.approx(36.0) and ast["LBLOINC"] == "1920-8"
    assert creat["LBORRESU"] == "mg/dL" and creat["LBSTRESU"] == "umol/L"
    assert creat["LBSTRESN"] == 97  # 1.1 mg/dL × 88.4 = 97.24, reported to whole µmol/L
    assert baseline["HGB"]["LBSTRESN"] == pytest.approx(132.0)
    assert baseline["WBC"]["LBSTRESU"] == "10^9/L" and baseline["WBC"]["LBSTRESN"] == 6.1
    assert {baseline[c]["LBCAT"] for c in ("HGB", "WBC", "PLAT")} == {"HEMATOLOGY"}
    assert {baseline[c]["LBSPEC"] for c in ("ALT", "AST", "CREAT")} == {"SERUM"}
    extra = lb[lb["VISITNUM"] == 2.01].set_index("LBTESTCD")
    assert extra.loc["PLAT", "LBSTRESN"] == 180
    assert extra.loc["ALT", "LBSTAT"] == "NOT DONE"
    assert extra.loc["ALT", "LBREASND"] == "NOT DONE: sample haemolysed"


def _observations(study: TestDatabase) -> dict[tuple[str, str], dict[str, Any]]:
    protocol = builtin_protocol()
    with study.session() as session:
        bundle = study_bundle(protocol, sdtm_sources(session, protocol))
    out = {}
    for entry in bundle.entry or []:
        resource = entry.resource.model_dump(mode="json", exclude_none=True)  # type: ignore[union-attr]
        if resource["resourceType"] == "Observation":
            code = resource["code"]["coding"][0]["code"]
            out[(code, resource.get("effectiveDateTime", ""))] = resource
    return out


def test_fhir_observations_carry_loinc_ucum_and_the_form_status(study: TestDatabase) -> None:
    observations = _observations(study)
    baseline = (DAY0 + timedelta(days=5)).isoformat()
    ast = observations[("1920-8", baseline)]
    assert ast["valueQuantity"] == {
        "value": pytest.approx(36.0), "unit": "U/L", "system": "http://unitsofmeasure.org",
        "code": "U/L",
    }  # fmt: skip
    # The safety form is "unverified": preliminary, and the exact status in the extension.
    assert ast["status"] == "preliminary"
    assert ast["extension"] == [{"url": FORM_STATUS_EXTENSION, "valueCode": "unverified"}]
    assert observations[("6690-2", baseline)]["valueQuantity"]["code"] == "10*9/L"
    assert observations[("14682-9", baseline)]["valueQuantity"]["code"] == "umol/L"
    # No status recorded for the screening labs: final, no extension.
    hba1c = observations[("4548-4", DAY0.isoformat())]
    assert hba1c["status"] == "final" and "extension" not in hba1c
    # Not performed at the unscheduled visit: cancelled with its reason.
    alt = observations[("1742-6", (DAY0 + timedelta(days=12)).isoformat())]
    assert alt["status"] == "cancelled" and alt["dataAbsentReason"]["coding"][0]["code"] == (
        "not-performed"
    )


def test_odm_flags_form_statuses_and_reads_them_back(study: TestDatabase) -> None:
    protocol = builtin_protocol()
    with study.session() as session:
        data = clinical_data(session, protocol)
    assert data.notes == ()
    document = odm_document(data.design, data, created=WHEN)
    assert schema_errors(document) == []
    flags = {
        (fd.getparent().get("StudyEventOID"), fd.get("FormOID")): fd.findtext(
            f"{n.q('Annotation')}/{n.q('Flag')}/{n.q('FlagValue')}"
        )
        for fd in document.iter(n.q("FormData"))
    }
    assert flags[(n.event_oid("BL"), n.form_oid("safety_labs"))] == "unverified"
    # A status on a form with no value yet still travels (an empty FormData).
    assert flags[(n.event_oid("BL"), n.form_oid("dosing"))] == "incomplete"
    assert flags[(n.event_oid("SCR"), n.form_oid("labs"))] is None  # data, no status
    values = {(r.event, name): value for r in data.records for name, value in r.values.items()}
    assert values[("BL", "creatinine")] == 97  # reported to whole µmol/L
    assert values[("UNSCHEDULED", "platelets")] == 180
    assert {(r.event, k): v for r in data.records for k, v in r.missing.items()} == {
        ("UNSCHEDULED", "alt"): ("ND", "sample haemolysed")
    }
    back = read_odm(to_bytes(document)).data
    assert back is not None
    subject = data.records[0].subject
    assert back.form_statuses == {
        (subject, "BL", "safety_labs"): "unverified",
        (subject, "BL", "dosing"): "incomplete",
    }
    assert etree.fromstring(to_bytes(document)) is not None


def test_redcap_has_the_safety_form_its_fields_and_status(study: TestDatabase) -> None:
    protocol = builtin_protocol()
    with study.session() as session:
        data = clinical_data(session, protocol)
    project = redcap_project(data.design)
    dictionary = csv.DictReader(io.StringIO(project.dictionary))
    fields = {row["Variable / Field Name"]: row for row in dictionary}
    for name in ("alt", "ast", "creatinine", "haemoglobin", "white_cell_count", "platelets"):
        assert fields[name]["Form Name"] == "safety_labs"
    assert "safety_labs" in project.instruments
    rows = list(
        csv.DictReader(io.StringIO(write_records(data.design, data.records, data.form_statuses)))
    )
    baseline = next(r for r in rows if r["redcap_event_name"] == unique_event_name("BL"))
    assert baseline["safety_labs_complete"] == "1" and baseline["dosing_complete"] == "0"
    assert float(baseline["ast"]) == pytest.approx(36.0)
    extra = next(r for r in rows if r["redcap_event_name"].startswith("unscheduled"))
    assert (extra["alt"], extra["platelets"]) == ("ND", "180")
