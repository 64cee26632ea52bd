"""TSPARMCD against CDISC CT (issue 18): define.xml lists the TS parameters of the dataset in a
codelist tied to the extensible CT codelist C66738; the sponsor-defined ones (PROTVERS,
PVEFFDTC, SIMDATA: CDISC CT has no term for them) are marked as extended values and defined,
the CDISC terms are not; the document stays valid against the Define-XML 2.1 schema."""

from __future__ import annotations

from datetime import date

from lxml import etree

from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.sdtm.define import DEF, ODM, define_xml
from trialdesk.export.sdtm.trial_design import SPONSOR_DEFINED_TS, trial_design
from trialdesk.protocol import builtin_protocol
from trialdesk.protocol.versions import ProtocolVersionInfo

NS = {"odm": ODM, "def": DEF}
VERSIONS = (
    ProtocolVersionInfo("1", date(2010, 6, 1), "original protocol", "a" * 64, "1.0"),
    ProtocolVersionInfo("2", date(2011, 3, 15), "HbA1c threshold 7.5 %", "b" * 64, "2.0"),
)


def _define() -> etree._Element:
    datasets = trial_design(builtin_protocol(), versions=VERSIONS, simulated="virtual cohort")
    return define_xml(datasets, study_id="NCT01142050", title="Stem cell therapy")


def test_sponsor_defined_ts_parameters_are_declared_as_extended_values() -> None:
    root = _define()
    assert schema_errors(root, "define") == []
    (codelist,) = root.findall(".//odm:CodeList[@OID='CL.TSPARMCD']", NS)
    alias = codelist.find("odm:Alias", NS)
    assert alias is not None and (alias.get("Context"), alias.get("Name")) == (
        "nci:ExtCodeID",
        "C66738",
    )
    items = {i.get("CodedValue"): i for i in codelist.findall("odm:EnumeratedItem", NS)}
    assert set(SPONSOR_DEFINED_TS) == {"PROTVERS", "PVEFFDTC", "SIMDATA"}
    for code in SPONSOR_DEFINED_TS:
        assert items[code].get(f"{{{DEF}}}ExtendedValue") == "Yes", code
        text = items[code].findtext("odm:Description/odm:TranslatedText", namespaces=NS)
        assert text and text.split(":")[0] in (
            "Protocol Version",
            "Protocol Version Effective Date",
            "Simulated Data Indicator",
        )
    for code in ("TITLE", "REGID", "SPONSOR", "TPHASE"):  # CDISC CT terms: not extensions
        assert items[code].get(f"{{{DEF}}}ExtendedValue") is None, code
    ref = root.find(".//odm:ItemDef[@OID='IT.TS.TSPARMCD']/odm:CodeListRef", NS)
    assert ref is not None and ref.get("CodeListOID") == "CL.TSPARMCD"
