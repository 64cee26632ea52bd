"""Issue #15: define.xml 2.1 for a submission: standards declared, a method for every derived
variable, codelists of the values used, value-level metadata per LB and VS test, comments and
def:HasNoData; read back with lxml and validated against the Define-XML 2.1 schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from export_samples import sdtm_sources
from lxml import etree

from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.package import write_package
from trialdesk.export.sdtm.trial_design import CDISC_CT_VERSION
from trialdesk.protocol import builtin_protocol

NS = {
    "o": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.1",
}
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


@pytest.fixture(scope="module")
def datasets() -> dict[str, pd.DataFrame]:
    return sdtm_datasets(builtin_protocol(), sdtm_sources())


@pytest.fixture(scope="module")
def define(
    datasets: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> etree._Element:
    folder: Path = tmp_path_factory.mktemp("sdtm")
    write_package(datasets, folder, study_id="NCT01142050", title="Stem cell therapy")
    root = etree.parse(str(folder / "define.xml")).getroot()
    assert schema_errors(root, "define") == []
    return root


def test_define_is_for_a_submission_and_declares_its_standards(define: etree._Element) -> None:
    assert define.get(f"{DEF}Context") == "Submission"
    standards = {
        (s.get("Name"), s.get("Type"), s.get("Version"))
        for s in define.iterfind(".//def:Standards/def:Standard", NS)
    }
    assert standards == {("SDTMIG", "IG", "3.4"), ("CDISC/NCI", "CT", CDISC_CT_VERSION)}


def test_every_derived_variable_has_a_method(define: etree._Element) -> None:
    methods = {m.get("OID"): m for m in define.iterfind(".//o:MethodDef", NS)}
    derived = {
        i.get("OID")
        for i in define.iterfind(".//o:ItemDef", NS)
        if i.find("def:Origin", NS).get("Type") == "Derived" and i.get("OID").count(".") == 2
    }
    referenced = {
        r.get("ItemOID"): r.get("MethodOID")
        for r in define.iterfind(".//o:ItemGroupDef/o:ItemRef", NS)
    }
    assert derived and derived <= set(referenced)
    for oid in derived:
        assert referenced[oid] in methods, oid
    text = methods["MT.LB.LBDY"].findtext("o:Description/o:TranslatedText", namespaces=NS)
    assert "RFSTDTC" in text


def test_value_level_metadata_per_lab_and_vital_sign_test(
    define: etree._Element, datasets: dict[str, pd.DataFrame]
) -> None:
    for domain, variable in (("LB", "LBSTRESN"), ("LB", "LBORRES"), ("VS", "VSSTRESN")):
        refs = define.findall(f".//def:ValueListDef[@OID='VL.{domain}.{variable}']/o:ItemRef", NS)
        tests = set(datasets[domain][f"{domain}TESTCD"])
        assert {r.get("ItemOID").rsplit(".", 1)[1] for r in refs} == tests
        item = define.find(f".//o:ItemDef[@OID='IT.{domain}.{variable}']", NS)
        assert item.find("def:ValueListRef", NS).get("ValueListOID") == f"VL.{domain}.{variable}"
    clause = define.find(".//def:WhereClauseDef[@OID='WC.LB.LBTESTCD.GLUC']/o:RangeCheck", NS)
    assert clause.get(f"{DEF}ItemOID") == "IT.LB.LBTESTCD"
    assert clause.findtext("o:CheckValue", namespaces=NS) == "GLUC"
    glucose = define.find(".//o:ItemDef[@OID='IT.LB.LBSTRESN.GLUC']", NS)
    assert (glucose.get("DataType"), glucose.get("SignificantDigits")) == ("float", "1")
    assert "mmol/L" in glucose.findtext("o:Description/o:TranslatedText", namespaces=NS)


def test_codelists_hold_the_values_the_data_use(
    define: etree._Element, datasets: dict[str, pd.DataFrame]
) -> None:
    sex = define.find(".//o:CodeList[@OID='CL.DM.SEX']", NS)
    assert sex.get(f"{DEF}StandardOID") == "STD.CT"
    coded = {e.get("CodedValue") for e in sex.iterfind("o:EnumeratedItem", NS)}
    assert coded == set(datasets["DM"]["SEX"])
    item = define.find(".//o:ItemDef[@OID='IT.DM.SEX']/o:CodeListRef", NS)
    assert item.get("CodeListOID") == "CL.DM.SEX"


def test_has_no_data_and_comments(
    define: etree._Element, datasets: dict[str, pd.DataFrame]
) -> None:
    dm = define.find(".//o:ItemGroupDef[@OID='IG.DM']", NS)
    empty = {
        r.get("ItemOID") for r in dm.iterfind("o:ItemRef", NS) if r.get(f"{DEF}HasNoData") == "Yes"
    }
    assert "IT.DM.RACE" in empty and "IT.DM.USUBJID" not in empty
    expected = {f"IT.DM.{c}" for c in datasets["DM"].columns if datasets["DM"][c].isna().all()}
    assert empty == expected
    race = define.find(".//o:ItemDef[@OID='IT.DM.RACE']", NS)
    comment = define.find(f".//def:CommentDef[@OID='{race.get(f'{DEF}CommentOID')}']", NS)
    assert "reported it at screening" in comment.findtext(
        "o:Description/o:TranslatedText", namespaces=NS
    )
    groups = {
        g.get("Name"): g.get(f"{DEF}HasNoData") for g in define.iterfind(".//o:ItemGroupDef", NS)
    }
    for code, frame in datasets.items():
        assert (groups[code] == "Yes") == frame.empty, code
