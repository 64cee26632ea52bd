"""Issue #15: define.xml codelists carry the NCI C-codes of CDISC Controlled Terminology
(`Alias Context="nci:ExtCodeID"`, Define-XML 2.1 §5.3.9) from one data file with its CT
release (`ct_codes.yaml`), declared as the CT standard; unverified codes stay out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from export_samples import sdtm_sources
from lxml import etree

from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.sdtm import ct_codes
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.package import write_package
from trialdesk.export.sdtm.trial_design import CDISC_CT_VERSION
from trialdesk.protocol import builtin_protocol

NS = {"o": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


@pytest.fixture(scope="module")
def define(tmp_path_factory: pytest.TempPathFactory) -> etree._Element:
    datasets: dict[str, pd.DataFrame] = sdtm_datasets(builtin_protocol(), sdtm_sources())
    folder: Path = tmp_path_factory.mktemp("sdtm")
    write_package(datasets, folder, study_id="NCT01142050", title="Stem cell therapy")
    root = etree.parse(str(folder / "define.xml")).getroot()
    assert schema_errors(root, "define") == []
    return root


def _codelist_code(define: etree._Element, oid: str) -> str | None:
    codelist = define.find(f".//o:CodeList[@OID='{oid}']", NS)
    assert codelist is not None, oid
    alias = codelist.find("o:Alias[@Context='nci:ExtCodeID']", NS)
    return None if alias is None else alias.get("Name")


@pytest.mark.parametrize(
    ("oid", "code"),
    [
        ("CL.DM.SEX", "C66731"),
        ("CL.DM.AGEU", "C66781"),
        ("CL.LB.LBTESTCD", "C65047"),
        ("CL.LB.LBORRESU", "C71620"),
        ("CL.VS.VSTESTCD", "C66741"),
        ("CL.VS.VSORRESU", "C66770"),  # VS units have their own codelist (VSRESU)
        ("CL.LB.EPOCH", "C99079"),
        ("CL.LB.LBFAST", "C66742"),
        ("CL.TSPARMCD", "C66738"),
    ],
)
def test_cdisc_codelists_carry_their_nci_code(define: etree._Element, oid: str, code: str) -> None:
    assert _codelist_code(define, oid) == code


def test_codelists_from_outside_cdisc_ct_claim_no_ct_standard(define: etree._Element) -> None:
    country = define.find(".//o:CodeList[@OID='CL.DM.COUNTRY']", NS)
    assert country is not None
    assert country.get(f"{DEF}StandardOID") is None
    assert country.find("o:Alias", NS) is None
    sex = define.find(".//o:CodeList[@OID='CL.DM.SEX']", NS)
    assert sex is not None and sex.get(f"{DEF}StandardOID") == "STD.CT"


def test_dsdecod_spanning_three_codelists_carries_no_single_code(define: etree._Element) -> None:
    assert _codelist_code(define, "CL.DS.DSDECOD") is None


def test_only_verified_term_codes_are_written() -> None:
    raw = yaml.safe_load(
        (Path(ct_codes.__file__).parent / "ct_codes.yaml").read_text(encoding="utf-8")
    )
    race = ct_codes.terminology().codelists["Race"]
    assert race.code == "C74457"
    assert race.terms["ASIAN"] == "C41260"
    assert race.terms["NOT REPORTED"] == "C43234"  # checked against the NCI EVS files
    assert raw["codelists"]["Race"]["terms"]["NOT REPORTED"]["verified"] == "evs"
    unverified = {
        "code": "C1",
        "verified": "evs",
        "terms": {"A": {"code": "C2", "verified": False}},
    }
    assert ct_codes._codelist("X", unverified).terms == {}  # a code from memory is not loaded
    units = ct_codes.terminology().codelists["Unit"]
    assert "10^6 cells/kg" not in units.terms and "uIU/mL" not in units.terms  # not CT values
    assert units.terms["mmol/L"] == "C64387"
    assert raw["ct_version"] == CDISC_CT_VERSION == ct_codes.terminology().version


def test_a_verified_term_code_sits_on_its_enumerated_item(tmp_path: Path) -> None:
    datasets = sdtm_datasets(builtin_protocol(), sdtm_sources())
    dm = datasets["DM"].copy()
    dm.loc[dm.index[0], "RACE"] = "WHITE"
    datasets["DM"] = dm
    write_package(datasets, tmp_path, study_id="NCT01142050", title="Stem cell therapy")
    root = etree.parse(str(tmp_path / "define.xml")).getroot()
    assert schema_errors(root, "define") == []
    item = root.find(".//o:CodeList[@OID='CL.DM.RACE']/o:EnumeratedItem[@CodedValue='WHITE']", NS)
    assert item is not None
    assert item.find("o:Alias", NS).get("Name") == "C41261"
