"""Coded adverse events in the exports (issue 14): SDTM AE carries the MedDRA term and primary
path, define.xml declares MedDRA with its version as an external dictionary, FHIR
AdverseEvent.event carries the LLT in MedDRA's code system; the codings are read from the
study database on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from export_samples import sdtm_sources
from lxml import etree
from tools.harness.database import (
    DEMO_PASSWORD,
    TestDatabase,
    available_backends,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk import services as sv
from trialdesk.coding import MEDDRA_SYSTEM, CodedDrug, CodedTerm
from trialdesk.export.fhir.bundle import study_bundle
from trialdesk.export.from_store import ae_coding, dictionary_versions, drug_coding
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.sdtm.package import write_package
from trialdesk.export.sdtm.sources import DRUG_COLUMNS
from trialdesk.protocol import builtin_protocol
from trialdesk.services.accounts import NewUserAccount
from trialdesk.services.validate import today

DATA = Path(__file__).parents[1] / "coding" / "data"
HYPO = CodedTerm(
    "TEST 0.1", 90000404, "Low blood sugar", 90000302, "Hypoglycaemia", 90000202,
    "TEST low glucose terms", 90000102, "TEST glucose group", 90000002, "TEST metabolism class",
)  # fmt: skip
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


METFORMIN = CodedDrug("TEST 0.1", "T9000001", "Metformin", "A10BA02", "TEST metformin class")


@pytest.fixture(scope="module")
def coded_sources():  # type: ignore[no-untyped-def]
    drugs = pd.DataFrame(
        [["APGH-001", "OGLD7", "metformin", date(2011, 3, 1), 1500.0],
         ["APGH-001", "OGLD8", "Glucophage XR", date(2011, 6, 1), 1000.0]],
        columns=list(DRUG_COLUMNS),
    )  # fmt: skip
    return dataclasses.replace(
        sdtm_sources(), ae_coding={"AE2": HYPO}, dictionaries={"MEDDRA": "TEST 0.1"},
        drugs=drugs, drug_coding={"OGLD7": METFORMIN},
    )  # fmt: skip


def test_sdtm_ae_carries_the_meddra_term_and_primary_path(coded_sources) -> None:  # type: ignore[no-untyped-def]
    ae = sdtm_datasets(builtin_protocol(), coded_sources)["AE"].set_index("AESPID")
    coded, uncoded = ae.loc["AE2"], ae.loc["AE1"]
    assert (coded["AETERM"], coded["AELLT"], coded["AELLTCD"]) == (
        "Hypoglycaemia", "Low blood sugar", 90000404,
    )  # fmt: skip
    assert (coded["AEDECOD"], coded["AEPTCD"]) == ("Hypoglycaemia", 90000302)
    assert (coded["AEHLT"], coded["AEHLTCD"], coded["AEHLGT"], coded["AEHLGTCD"]) == (
        "TEST low glucose terms", 90000202, "TEST glucose group", 90000102,
    )  # fmt: skip
    assert (coded["AEBODSYS"], coded["AEBDSYCD"], coded["AESOC"], coded["AESOCCD"]) == (
        "TEST metabolism class", 90000002, "TEST metabolism class", 90000002,
    )  # fmt: skip
    # Not coded yet: the verbatim in AEDECOD, no dictionary values.
    assert uncoded["AEDECOD"] == "FEVER AFTER INFUSION"
    assert uncoded[["AELLT", "AEPTCD", "AEBODSYS"]].isna().all()


def test_sdtm_cm_has_each_drug_with_its_dictionary_name_and_atc_class(coded_sources) -> None:  # type: ignore[no-untyped-def]
    cm = sdtm_datasets(builtin_protocol(), coded_sources)["CM"]
    drugs = cm[cm["CMDOSU"] == "mg"].set_index("CMSPID")
    coded, uncoded = drugs.loc["OGLD7"], drugs.loc["OGLD8"]
    assert (coded["CMTRT"], coded["CMDECOD"], coded["CMCLAS"], coded["CMCLASCD"]) == (
        "METFORMIN", "METFORMIN", "TEST METFORMIN CLASS", "A10BA02",
    )  # fmt: skip
    assert (coded["CMDOSTOT"], coded["CMSTDTC"], coded["CMCAT"]) == (
        1500.0, "2011-03-01", "ORAL ANTIDIABETIC",
    )  # fmt: skip
    assert uncoded["CMTRT"] == "GLUCOPHAGE XR" and pd.isna(uncoded["CMDECOD"])
    # every drug record has the epoch of its start date (CDISC CORE-000701)
    assert set(drugs["EPOCH"]) <= {"SCREENING", "TREATMENT", "FOLLOW-UP"}
    sequences = cm.groupby("USUBJID")["CMSEQ"].apply(list)
    assert all(seq == list(range(1, len(seq) + 1)) for seq in sequences)


def test_coded_package_conforms_and_define_declares_meddra(coded_sources, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    datasets = sdtm_datasets(builtin_protocol(), coded_sources)
    assert check(datasets) == []
    write_package(
        datasets,
        tmp_path,
        study_id="NCT01142050",
        title="MSC in T2DM",
        dictionaries=coded_sources.dictionaries,
    )  # fmt: skip  (write_package validates define.xml against the Define-XML 2.1 schema)
    define = etree.parse(str(tmp_path / "define.xml"))
    externals = define.findall(f".//{ODM}CodeList/{ODM}ExternalCodeList")
    assert {(e.get("Dictionary"), e.get("Version")) for e in externals} == {("MEDDRA", "TEST 0.1")}
    decod = define.find(f".//{ODM}ItemDef[@OID='IT.AE.AEDECOD']")
    assert decod is not None
    assert decod.find(f"{ODM}CodeListRef").get("CodeListOID") == "CL.MEDDRA"  # type: ignore[union-attr]
    ptcd = define.find(f".//{ODM}ItemDef[@OID='IT.AE.AEPTCD']")
    assert ptcd.find(f"{ODM}CodeListRef").get("CodeListOID") == "CL.MEDDRA.CODE"  # type: ignore[union-attr]


def test_define_declares_the_drug_dictionary_for_cm(coded_sources, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """CMDECOD, CMCLAS and CMCLASCD reference the drug dictionary and its version as an
    ExternalCodeList, as the AE variables reference MedDRA (Define-XML 2.1)."""
    dictionaries = {"MEDDRA": "TEST 0.1", "TEST DRUGS": "TEST 0.1"}
    datasets = sdtm_datasets(builtin_protocol(), coded_sources)
    write_package(
        datasets, tmp_path, study_id="NCT01142050", title="MSC in T2DM", dictionaries=dictionaries
    )  # write_package validates define.xml against the Define-XML 2.1 schema
    define = etree.parse(str(tmp_path / "define.xml"))
    externals = define.findall(f".//{ODM}CodeList/{ODM}ExternalCodeList")
    assert {(e.get("Dictionary"), e.get("Version")) for e in externals} == {
        ("MEDDRA", "TEST 0.1"),
        ("TEST DRUGS", "TEST 0.1"),
    }
    drugs = define.find(f".//{ODM}CodeList[@OID='CL.DRUGDICT']")
    assert drugs is not None and drugs.get("Name") == "TEST DRUGS TEST 0.1"
    for name in ("CMDECOD", "CMCLAS", "CMCLASCD"):
        item = define.find(f".//{ODM}ItemDef[@OID='IT.CM.{name}']")
        assert item is not None
        refs = [r.get("CodeListOID") for r in item.findall(f"{ODM}CodeListRef")]
        assert refs == ["CL.DRUGDICT"], (name, refs)
    trt = define.find(f".//{ODM}ItemDef[@OID='IT.CM.CMTRT']")
    assert trt is not None and trt.find(f"{ODM}CodeListRef") is None  # the verbatim name


def test_define_without_coding_declares_no_dictionary(tmp_path: Path) -> None:
    datasets = sdtm_datasets(builtin_protocol(), sdtm_sources())
    write_package(datasets, tmp_path, study_id="NCT01142050", title="MSC in T2DM")
    assert b"ExternalCodeList" not in (tmp_path / "define.xml").read_bytes()


def test_fhir_adverse_event_is_coded_to_meddra(coded_sources) -> None:  # type: ignore[no-untyped-def]
    bundle = json.loads(
        study_bundle(builtin_protocol(), coded_sources).model_dump_json(exclude_none=True)
    )
    events = {
        e["resource"]["identifier"]["value"]: e["resource"]["event"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "AdverseEvent"
    }
    assert events["AE2"] == {
        "coding": [
            {"system": MEDDRA_SYSTEM, "version": "TEST 0.1", "code": "90000404",
             "display": "Low blood sugar"}
        ],
        "text": "Hypoglycaemia",
    }  # fmt: skip
    assert events["AE1"] == {"text": "Fever after infusion"}


@pytest.fixture(params=available_backends())
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    db = fresh_database(backend_url(request.param), directory=tmp_path)
    yield db
    db.dispose()


def test_codings_in_force_are_read_from_the_database(database: TestDatabase) -> None:
    start = today() - timedelta(days=60)
    with database.session() as session:
        seed = seed_demo_site_and_users(session)
        coordinator = sv.actor_for(session, seed.users["coordinator"])
        coder_user = sv.create_user(
            session,
            sv.SYSTEM,
            NewUserAccount(
                username="coder",
                full_name="Cora Coder",
                password=DEMO_PASSWORD,
                roles=["coder"],
                site_codes=["APGH"],
                must_change_password=False,
            ),
        )
        coder = sv.actor_for(session, coder_user.id)
        pid = sv.register_participant(
            session,
            coordinator,
            sv.Registration(
                site_code="APGH",
                registered_on=start,
                full_name="Wang Wei",
                date_of_birth=date(1968, 4, 2),
                sex="M",
            ),
        ).id
        sv.record_consent(session, coordinator, pid, form_version="ICF v2.0", consented_on=start)
        ae = sv.report_adverse_event(
            session,
            coordinator,
            pid,
            sv.AdverseEventReport(
                term="low blood SUGAR",
                onset_date=start + timedelta(1),
                grade=1,
                relatedness="possible",
                action_taken="not applicable",
                outcome="recovering/resolving",
                awareness_date=start + timedelta(1),
            ),
        ).id
        assert ae_coding(session) == {} and dictionary_versions(session) == {}
        sv.load_dictionary(session, coder, "meddra", DATA / "meddra_test_0_1")
        assert sv.autocode(session, coder).coded == 1
        assert ae_coding(session) == {f"AE{ae}": HYPO}
        assert dictionary_versions(session) == {"MEDDRA": "TEST 0.1"}
        dose = sv.record_ogld_dose(
            session,
            coordinator,
            pid,
            sv.OgldDoseEntry(start_date=start, drug="Metformin", daily_dose_mg=1500),
        ).id
        sv.load_dictionary(session, coder, "drug", DATA / "drugs_test_0_1")
        assert sv.autocode(session, coder, "drug").coded == 1
        assert drug_coding(session) == {f"OGLD{dose}": METFORMIN}
        assert dictionary_versions(session) == {
            "MEDDRA": "TEST 0.1",
            "MADE-UP TEST DRUG DICTIONARY (NOT WHODRUG CONTENT)": "TEST 0.1",
        }
