"""Issue #15: race and ethnicity of a simulated cohort written through the services (SQLite,
and PostgreSQL when configured) reach SDTM DM.RACE / DM.ETHNIC as CDISC CT submission values,
the ODM and REDCap demographics form (with their choices and the subjects' answers), and are
left out of the FHIR Patient on purpose (US Core extensions are US-specific)."""

from __future__ import annotations

import pytest
from tools.harness.database import TestDatabase

from trialdesk.export.crf.build import design_from_protocol
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.from_store import clinical_data, sdtm_sources
from trialdesk.export.odm.write import odm_document
from trialdesk.export.redcap.dictionary import dictionary_rows
from trialdesk.export.redcap.records import write_records
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.subjects import submission_value
from trialdesk.protocol import builtin_protocol

pytestmark = pytest.mark.slow  # a simulated cohort

RACE_CT = {  # CDISC CT RACE (C74457) submission values the catalogue offers
    "AMERICAN INDIAN OR ALASKA NATIVE", "ASIAN", "BLACK OR AFRICAN AMERICAN",
    "NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER", "WHITE", "NOT REPORTED", "UNKNOWN",
}  # fmt: skip
ETHNIC_CT = {"HISPANIC OR LATINO", "NOT HISPANIC OR LATINO", "NOT REPORTED", "UNKNOWN"}
ODM = {"o": "http://www.cdisc.org/ns/odm/v1.3"}


def test_catalogue_choices_map_to_the_ct_submission_values() -> None:
    from trialdesk.catalogue import default_catalogue

    catalogue = default_catalogue()
    assert {submission_value(c) for c in catalogue["race"].choices} == RACE_CT
    assert {submission_value(c) for c in catalogue["ethnicity"].choices} == ETHNIC_CT
    assert submission_value(None) is None and submission_value("") is None


def test_dm_race_and_ethnic_of_the_simulated_cohort(cohort: TestDatabase) -> None:
    protocol = builtin_protocol()
    with cohort.session() as session:
        dm = sdtm_datasets(protocol, sdtm_sources(session, protocol))["DM"]
    assert set(dm["RACE"]) <= RACE_CT and set(dm["ETHNIC"]) <= ETHNIC_CT
    assert "ASIAN" in set(dm["RACE"])  # the simulated site is in China


def test_odm_and_redcap_carry_the_demographics_answers(cohort: TestDatabase) -> None:
    protocol = builtin_protocol()
    design = design_from_protocol(protocol)
    with cohort.session() as session:
        data = clinical_data(session, protocol)
    root = odm_document(design, data)
    race_values = root.xpath("//o:ItemData[@ItemOID='IT.race']/@Value", namespaces=ODM)
    assert race_values and set(race_values) <= {"asian", "not_reported"}
    codes = root.xpath(
        "//o:CodeList[contains(@OID, 'race')]/o:CodeListItem/@CodedValue", namespaces=ODM
    )
    assert "not_reported" in codes and "white" in codes
    rows = {r[0]: r for r in dictionary_rows(design)}
    assert "Native Hawaiian or Other Pacific Islander" in rows["race"][5]
    assert "ethnicity" in rows
    csv_text = write_records(design, data.records, data.form_statuses)
    header = csv_text.splitlines()[0].split(",")
    assert "race" in header and "ethnicity" in header
    assert ",asian," in csv_text


def test_fhir_patient_carries_no_us_core_race_extension(cohort: TestDatabase) -> None:
    protocol = builtin_protocol()
    with cohort.session() as session:
        bundle = study_bundle(protocol, sdtm_sources(session, protocol))
    text = bundle.model_dump_json()
    assert "us-core-race" not in text and "us-core-ethnicity" not in text
