"""Every export carries values recorded as missing and unscheduled visits (issue #13): SDTM
(--STAT/--REASND, VISITNUM x.0n, SV), FHIR (dataAbsentReason), ODM (IsNull ItemData flagged with
the code) and REDCap (the code in the field), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
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
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.redcap.dictionary import redcap_project
from trialdesk.export.redcap.records import read_records, write_records
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.to_store import import_into
from trialdesk.protocol import builtin_protocol
from trialdesk.services.form_status import FormStatusChange
from trialdesk.store.models import Measurement, User, Visit

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
DAY0 = date.today() - timedelta(days=40)
FINDINGS = {
    "t2dm_diagnosis": True,
    "pregnant": False,
    "nursing": False,
    "fertile": False,
    "effective_contraception": False,
    "severe_heart_disease": False,
    "severe_lung_disease": False,
    "haematopoietic_dysfunction": False,
    "liver_dysfunction": False,
    "kidney_dysfunction": False,
    "active_infection_requiring_treatment": False,
    "unexplained_fever": False,
    "hiv_infection": False,
    "hepatitis_b_infection": False,
    "hepatitis_c_infection": False,
    "other_immunosuppressive_disease": False,
}
ITT = {0: 10.0, 3: 9.8, 6: 9.5, 9: 9.1, 12: 8.9, 15: 8.5}


@pytest.fixture(scope="module", params=available_backends())
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield request.param


def _database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> TestDatabase:
    db = fresh_database(backend_url(backend), directory=tmp_path_factory.mktemp("missing"))
    with db.session() as session:
        seed_demo_site_and_users(session)
    return db


@pytest.fixture(scope="module")
def study(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    """One enrolled participant: C-peptide not done at baseline (ND, with a reason), and an
    unscheduled visit after baseline with an HbA1c, an ITT and a weight temporarily unavailable."""
    db = _database(backend, tmp_path_factory)
    with db.session() as session:
        who = sv.actor_for(
            session, session.scalars(select(User.id).where(User.username == "coordinator")).one()
        )
        p = sv.register_participant(
            session,
            who,
            sv.Registration(
                site_code="APGH",
                registered_on=DAY0,
                full_name="Zhang Min",
                date_of_birth=date(1966, 2, 3),
                sex="F",
            ),
        )
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
            session,
            who,
            p.id,
            sv.IttTestEntry(visit_code="SCR", samples=ITT, glucose_unit="mmol/L"),
        )
        sv.screen_participant(session, who, p.id, screened_on=DAY0, findings=FINDINGS)
        sv.enroll_participant(session, who, p.id, enrolled_on=DAY0 + timedelta(days=1))
        sv.record_visit(session, who, p.id, code="BL", visit_date=DAY0 + timedelta(days=5))
        sv.record_measurement(
            session,
            who,
            p.id,
            sv.VisitMeasurement(visit_code="BL", element="hba1c", value="8.0", unit="%"),
        )
        sv.record_measurement(
            session,
            who,
            p.id,
            sv.VisitMeasurement(
                visit_code="BL",
                element="c_peptide",
                value=None,
                missing_code="ND",
                missing_reason="sample haemolysed",
            ),
        )
        for element, reason in (
            ("itt_glucose", "insulin for the bolus not available"),
            ("ogld_ddd", "drug chart not brought"),
        ):
            sv.record_measurement(
                session,
                who,
                p.id,
                sv.VisitMeasurement(
                    visit_code="BL",
                    element=element,
                    value=None,
                    missing_code="ND" if element == "itt_glucose" else "UNK",
                    missing_reason=reason,
                ),
            )
        extra = sv.add_unscheduled_visit(
            session, who, p.id, visit_date=DAY0 + timedelta(days=12), reason="repeat ITT"
        )
        sv.record_measurement(
            session,
            who,
            p.id,
            sv.VisitMeasurement(visit_code=extra.code, element="hba1c", value="7.9", unit="%"),
        )
        sv.record_measurement(
            session,
            who,
            p.id,
            sv.VisitMeasurement(
                visit_code=extra.code,
                element="weight",
                value=None,
                missing_code="NAV",
                missing_reason="scale being repaired",
            ),
        )
        sv.record_itt_test(
            session,
            who,
            p.id,
            sv.IttTestEntry(visit_code=extra.code, samples=ITT, glucose_unit="mmol/L"),
        )
    yield db
    db.dispose()


def test_sdtm_carries_not_done_values_and_unscheduled_visits(study: TestDatabase) -> None:
    protocol = builtin_protocol()
    with study.session() as session:
        datasets = sdtm_datasets(protocol, sdtm_sources(session, protocol))
    assert check(datasets) == []
    lb, vs, sv_ = datasets["LB"], datasets["VS"], datasets["SV"]
    cpep, itt = lb[lb["LBSTAT"] == "NOT DONE"].sort_values("LBTESTCD").to_dict("records")
    assert cpep["LBTESTCD"] == "CPEPTIDE" and cpep["LBREASND"] == "NOT DONE: sample haemolysed"
    assert itt["LBCAT"] == "INSULIN TOLERANCE TEST" and pd.isna(itt["LBTPTNUM"])
    assert itt["LBREASND"] == "NOT DONE: insulin for the bolus not available"
    assert pd.isna(cpep["LBORRES"]) and pd.isna(cpep["LBSTRESN"]) and cpep["VISITNUM"] == 2
    cm = datasets["CM"]
    (chart,) = cm[cm["CMSTAT"] == "NOT DONE"].to_dict("records")
    # A pre-specified dose not collected: CMPRESP Y, CMOCCUR null (SDTMIG 3.4 §4.5.7).
    assert chart["CMCAT"] == "ORAL ANTIDIABETIC" and chart["CMPRESP"] == "Y"
    assert pd.isna(chart["CMOCCUR"]) or chart["CMOCCUR"] == ""
    assert chart["CMREASND"].endswith("drug chart not brought")
    (weight,) = vs[vs["VSSTAT"] == "NOT DONE"].to_dict("records")
    assert weight["VSREASND"] == "TEMPORARILY UNAVAILABLE: scale being repaired"
    assert weight["VISITNUM"] == 2.01 and weight["VISIT"] == "UNSCHEDULED 2.01"
    unscheduled = lb[lb["VISITNUM"] == 2.01]
    assert set(unscheduled["LBCAT"]) >= {"INSULIN TOLERANCE TEST"}
    assert (unscheduled["VISIT"] == "UNSCHEDULED 2.01").all()
    (visit,) = sv_[sv_["VISITNUM"] == 2.01].to_dict("records")
    assert visit["SVUPDES"] == "repeat ITT" and pd.isna(visit["SVPRESP"])
    assert (
        pd.isna(visit["VISITDY"]) and visit["EPOCH"] == sv_[sv_["VISITNUM"] == 2]["EPOCH"].iloc[0]
    )


def test_fhir_observations_carry_the_data_absent_reason(study: TestDatabase) -> None:
    protocol = builtin_protocol()
    with study.session() as session:
        bundle = study_bundle(protocol, sdtm_sources(session, protocol))
    absent = [
        e.resource
        for e in bundle.entry or []
        if e.resource.get_resource_type() == "Observation"
        and getattr(e.resource, "dataAbsentReason", None) is not None
    ]
    reasons = {
        (o.dataAbsentReason.coding[0].code, o.status, o.note[0].text)  # type: ignore[attr-defined]
        for o in absent
    }
    assert reasons == {
        ("not-performed", "cancelled", "sample haemolysed"),
        ("not-performed", "cancelled", "insulin for the bolus not available"),
        ("temp-unknown", "final", "scale being repaired"),
    }
    assert all(getattr(o, "valueQuantity", None) is None for o in absent)


def test_odm_and_redcap_carry_the_codes_and_odm_brings_them_back(
    study: TestDatabase, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    protocol = builtin_protocol()
    with study.session() as session:
        data = clinical_data(session, protocol)
    assert data.notes == ()
    coded = {(r.event, name): code for r in data.records for name, code in r.missing.items()}
    itt = ("ND", "insulin for the bolus not available")
    assert coded == {
        ("BL", "c_peptide"): ("ND", "sample haemolysed"),
        ("BL", "ogld_ddd"): ("UNK", "drug chart not brought"),
        **{("BL", f"itt_glucose_t{minute}"): itt for minute in ITT},
        ("UNSCHEDULED", "weight"): ("NAV", "scale being repaired"),
    }
    extra = {n: v for r in data.records if r.event == "UNSCHEDULED" for n, v in r.values.items()}
    assert extra["uv_reason"] == "repeat ITT" and extra["hba1c"] == 7.9
    assert extra["uv_date"] == DAY0 + timedelta(days=12) and "itt_glucose_t15" in extra
    document = odm_document(data.design, data, created=WHEN)
    assert schema_errors(document) == []
    text = to_bytes(document)
    assert b'IsNull="Yes"' in text and b"sample haemolysed" in text
    assert b'Type="Unscheduled"' in text and b'StudyEventRepeatKey="1"' in text
    back = read_odm(text).data
    assert back is not None
    assert {(r.event, n): c for r in back.records for n, c in r.missing.items()} == coded
    csv = write_records(data.design, data.records)
    assert ",ND," in csv or csv.rstrip().endswith(",ND")
    read = read_records(data.design, csv)
    assert {(r.event, n): c[0] for r in read for n, c in r.missing.items()} == {
        k: v[0] for k, v in coded.items()
    }
    assert "ND, Not done" in redcap_project(data.design).missing_codes
    assert "unscheduled_arm_1,,1," in csv  # the repeating event's first instance

    target = _database(backend, tmp_path_factory)
    try:
        with target.session() as session:
            import_into(session, back, username="coordinator", source="ODM", protocol=protocol)
            rows = session.scalars(select(Measurement).where(Measurement.missing_code.isnot(None)))
            assert sorted((m.element, m.missing_code, m.missing_reason) for m in rows) == [
                ("c_peptide", "ND", "sample haemolysed"),
                ("itt_glucose", "ND", "insulin for the bolus not available"),
                ("ogld_ddd", "UNK", "drug chart not brought"),
                ("weight", "NAV", "scale being repaired"),
            ]
            (visit,) = session.scalars(select(Visit).where(Visit.unscheduled))
            assert (visit.code, visit.unscheduled_reason) == ("BL.U01", "repeat ITT")
            assert visit.visit_date == DAY0 + timedelta(days=12)
    finally:
        target.dispose()


def test_redcap_form_status_is_the_one_the_site_recorded(study: TestDatabase) -> None:
    """`<form>_complete` carries the status set at the site (REDCap 0/1/2), and 2 only for a
    form with data but no recorded status."""
    import csv
    import io

    from trialdesk.export.redcap.columns import unique_event_name

    protocol = builtin_protocol()
    with study.session() as session:
        who = sv.actor_for(
            session, session.scalars(select(User.id).where(User.username == "coordinator")).one()
        )
        pid = sv.list_participants(session, who, limit=10).items[0].id
        sv.set_form_status(
            session, who, pid, FormStatusChange(visit_code="BL", form="labs", status="unverified")
        )
        sv.set_form_status(
            session, who, pid, FormStatusChange(visit_code="SCR", form="labs", status="incomplete")
        )
        data = clinical_data(session, protocol)
    rows = list(csv.DictReader(io.StringIO(write_records(data.design, data.records,
                                                         data.form_statuses))))  # fmt: skip
    by_event = {r["redcap_event_name"]: r for r in rows if not r["redcap_repeat_instrument"]}
    assert by_event[unique_event_name("BL")]["labs_complete"] == "1"
    assert by_event[unique_event_name("SCR")]["labs_complete"] == "0"
    assert by_event[unique_event_name("SCR")]["vital_signs_complete"] == "2"
    assert read_records(data.design, write_records(data.design, data.records, data.form_statuses))


def test_unscheduled_visit_form_statuses_travel_in_odm_and_redcap(study: TestDatabase) -> None:
    """Issue #13: the forms of an unscheduled visit carry their status like a scheduled visit's
    — ODM ``Annotation/Flag`` on the instance's FormData (read back), REDCap ``<form>_complete``
    on the repeating event's instance row; a form given a status but no value is written too."""
    import csv
    import io

    from trialdesk.export.redcap.columns import unique_event_name

    protocol = builtin_protocol()
    with study.session() as session:
        who = sv.actor_for(
            session, session.scalars(select(User.id).where(User.username == "coordinator")).one()
        )
        pid = sv.list_participants(session, who, limit=10).items[0].id
        (visit,) = session.scalars(select(Visit).where(Visit.unscheduled))
        sv.set_form_status(
            session,
            who,
            pid,
            FormStatusChange(visit_code=visit.code, form="measurements", status="complete"),
        )
        sv.set_form_status(
            session,
            who,
            pid,
            FormStatusChange(visit_code=visit.code, form="safety_labs", status="incomplete"),
        )
        data = clinical_data(session, protocol)
    subject = data.records[0].subject
    assert data.instance_statuses == {
        (subject, "UNSCHEDULED", "labs", 1): "complete",
        (subject, "UNSCHEDULED", "vital_signs", 1): "complete",
        (subject, "UNSCHEDULED", "safety_labs", 1): "incomplete",
    }
    document = odm_document(data.design, data, created=WHEN)
    assert schema_errors(document) == []
    ns = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
    flags = {
        fd.get("FormOID"): fd.findtext("o:Annotation/o:Flag/o:FlagValue", namespaces=ns)
        for fd in document.xpath(
            "//o:StudyEventData[@StudyEventOID='SE.UNSCHEDULED']/o:FormData", namespaces=ns
        )
    }
    assert flags["F.labs"] == flags["F.vital_signs"] == "complete"
    assert flags["F.safety_labs"] == "incomplete" and flags["F.itt"] is None
    back = read_odm(to_bytes(document)).data
    assert back is not None and back.instance_statuses == data.instance_statuses
    text = write_records(data.design, data.records, data.form_statuses, data.instance_statuses)
    rows = [
        r
        for r in csv.DictReader(io.StringIO(text))
        if r["redcap_event_name"] == unique_event_name("UNSCHEDULED")
    ]
    assert [(r["redcap_repeat_instance"], r["labs_complete"]) for r in rows] == [("1", "2")]
    assert rows[0]["safety_labs_complete"] == "0"
    assert rows[0]["itt_complete"] == "2"  # data but no recorded status
