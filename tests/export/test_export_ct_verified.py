"""CDISC CT codes checked against the NCI EVS release files (issue 15): every code ct_codes.yaml
marks verified as `evs` is found, with that code, by tools/ct/check_ct_codes.py in a file in
NCI EVS's "SDTM Terminology.txt" format; a wrong code or an unknown term is reported. TS carries
the verified codes of its coded values (TSVALCD, TSVCDREF, TSVCDVER) and the TSPARMCD terms'
codes sit on define.xml's TS.TSPARMCD codelist."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import yaml
from export_samples import sdtm_sources
from lxml import etree
from tools.ct import check_ct_codes

from trialdesk.export.sdtm import ct_codes
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.package import write_package
from trialdesk.export.sdtm.trial_design import CDISC_CT_VERSION, trial_summary
from trialdesk.protocol import builtin_protocol

NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
HEADER = (
    "Code",
    "Codelist Code",
    "Codelist Extensible (Yes/No)",
    "Codelist Name",
    "CDISC Submission Value",
    "CDISC Synonym(s)",
    "CDISC Definition",
    "NCI Preferred Term",
)


def _release(path: Path, data: dict, *, drop: str | None = None, recode: str | None = None) -> Path:
    """An EVS-format release file holding exactly the YAML's verified codes (less `drop`, with
    the term `recode` given another code)."""
    rows = []
    sections = {**data["codelists"], **data["ts_values"]}
    for entry in sections.values():
        if entry.get("code"):
            rows.append([entry["code"], "", "Yes", "x", entry.get("short", ""), "", "", ""])
        for value, term in (entry.get("terms") or {}).items():
            if str(value) == drop:
                continue
            code = "C999999" if str(value) == recode else term["code"]
            rows.append([code, entry["code"], "", "x", str(value), "", "", ""])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_the_checker_finds_every_verified_code_and_reports_a_wrong_one(tmp_path: Path) -> None:
    data = yaml.safe_load(check_ct_codes.CT_CODES.read_text(encoding="utf-8"))
    good = _release(tmp_path / "good.txt", data)
    assert check_ct_codes.problems(data, good) == []
    assert check_ct_codes.main([str(good)]) == 0
    bad = _release(tmp_path / "bad.txt", data, drop="HBA1C", recode="WEIGHT")
    found = check_ct_codes.problems(data, bad)
    assert any("'HBA1C' is None" in p for p in found), found
    assert any("'WEIGHT' is C999999, not C25208" in p for p in found), found
    assert check_ct_codes.main([str(bad)]) == 1


def test_the_codes_asked_for_are_verified() -> None:
    ct = ct_codes.terminology()
    tsparmcd = ct.codelists["Trial Summary Parameter Test Code"]
    assert tsparmcd.code == "C66738"
    assert tsparmcd.terms["DCUTDTC"] == "C98717" and tsparmcd.terms["ADDON"] == "C49703"
    assert "SIMDATA" not in tsparmcd.terms  # sponsor-defined: no CDISC code
    assert ct.codelists["Laboratory Test Code"].terms["HBA1C"] == "C64849"
    assert ct.codelists["Vital Signs Test Code"].terms["WEIGHT"] == "C25208"
    assert ct.codelists["Unit"].terms["mmol/L"] == "C64387"
    assert ct.codelists["Epoch"].terms["SCREENING"] == "C202487"
    assert ct.ts_value_code("TBLIND", "OPEN LABEL") == "C49659"
    assert ct.ts_value_code("ADDON", "Y") == "C49488"
    assert ct.ts_value_code("TPHASE", "PHASE 0 TRIAL") is None  # renamed: not confirmed


def test_ts_carries_the_verified_codes_of_its_coded_values() -> None:
    ts = trial_summary(builtin_protocol()).set_index("TSPARMCD")
    for parmcd, code in (("TBLIND", "C49659"), ("INTMODEL", "C82640"), ("STYPE", "C98388")):
        row = ts.loc[parmcd]
        assert (row["TSVALCD"], row["TSVCDREF"], row["TSVCDVER"]) == (
            code,
            "CDISC CT",
            CDISC_CT_VERSION,
        ), parmcd
    free = ts.loc["SPONSOR"]
    assert pd.isna(free["TSVALCD"]) and pd.isna(free["TSVCDREF"])  # free text: no code


def test_define_carries_the_tsparmcd_term_codes(tmp_path: Path) -> None:
    datasets = sdtm_datasets(builtin_protocol(), sdtm_sources())
    write_package(datasets, tmp_path, study_id="NCT01142050", title="Stem cell therapy")
    root = etree.parse(str(tmp_path / "define.xml")).getroot()
    codelist = root.find(".//o:CodeList[@OID='CL.TSPARMCD']", NS)
    assert codelist is not None
    codes = {
        item.get("CodedValue"): _alias(item) for item in codelist.iterfind("o:EnumeratedItem", NS)
    }
    assert codes["DCUTDTC"] == "C98717" and codes["TPHASE"] == "C48281"
    assert codes.get("SIMDATA", codes.get("PROTVERS")) is None  # sponsor-defined: no code
    lbtestcd = root.find(
        ".//o:CodeList[@OID='CL.LB.LBTESTCD']/o:EnumeratedItem[@CodedValue='HBA1C']", NS
    )
    assert lbtestcd is not None and lbtestcd.find("o:Alias", NS).get("Name") == "C64849"


def _alias(item: etree._Element) -> str | None:
    alias = item.find("o:Alias", NS)
    return None if alias is None else alias.get("Name")
