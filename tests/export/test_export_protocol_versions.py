"""Exports carry the registered protocol versions (issue 18): SDTM TS one PROTVERS/PVEFFDTC group
per version (TSGRPID), written and checked as a package; one ODM MetaDataVersion per version,
valid against the ODM 1.3.2 schema; the FHIR R4B ResearchStudy's version and its PlanDefinitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from trialdesk.export.crf import design_from_protocol
from trialdesk.export.fhir.study import VERSION_EXTENSION, research_study
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.odm.write import odm_document, study_element
from trialdesk.export.sdtm.package import write_package
from trialdesk.export.sdtm.trial_design import trial_design
from trialdesk.protocol import builtin_protocol
from trialdesk.protocol.versions import ProtocolVersionInfo

VERSIONS = (
    ProtocolVersionInfo("1", date(2010, 6, 1), "original protocol", "a" * 64, "1.0"),
    ProtocolVersionInfo("2", date(2011, 3, 15), "HbA1c threshold 7.5 %", "b" * 64, "2.0"),
)


def test_sdtm_ts_has_a_group_per_protocol_version(tmp_path: Path) -> None:
    protocol = builtin_protocol()
    datasets = trial_design(protocol, versions=VERSIONS)
    ts = datasets["TS"]
    rows = ts[ts["TSPARMCD"].isin(["PROTVERS", "PVEFFDTC"])]
    columns = (rows["TSPARMCD"], rows["TSSEQ"], rows["TSVAL"], rows["TSGRPID"])
    assert list(zip(*columns, strict=True)) == [
        ("PROTVERS", 1, "1", "PROTOCOL VERSION 1"),
        ("PVEFFDTC", 1, "2010-06-01", "PROTOCOL VERSION 1"),
        ("PROTVERS", 2, "2", "PROTOCOL VERSION 2"),
        ("PVEFFDTC", 2, "2011-03-15", "PROTOCOL VERSION 2"),
    ]
    package = write_package(datasets, tmp_path, study_id=protocol.id, title=protocol.title)
    assert [f for f in package.findings if f.domain == "TS"] == []
    without = trial_design(protocol)["TS"]
    assert "PROTVERS" not in set(without["TSPARMCD"])


def test_odm_has_a_metadata_version_per_protocol_version() -> None:
    design = design_from_protocol(builtin_protocol())
    study = study_element(design, VERSIONS)
    ns = "{http://www.cdisc.org/ns/odm/v1.3}"
    versions = study.findall(f"{ns}MetaDataVersion")
    assert [(v.get("OID"), len(v)) for v in versions][0][0] == "MDV.2"
    assert [v.get("OID") for v in versions] == ["MDV.2", "MDV.1"]
    assert len(versions[0]) > 0 and len(versions[1]) == 0  # the full design is version 2's
    assert "HbA1c threshold 7.5 %" in (versions[0].get("Description") or "")
    assert "in force from 2010-06-01" in (versions[1].get("Description") or "")
    root = odm_document(design)
    root.remove(root[0])
    root.append(study)
    assert schema_errors(root) == []


def test_fhir_research_study_carries_the_version_in_force_and_every_version() -> None:
    study = research_study(builtin_protocol(), VERSIONS)
    extension = (study.extension or [])[0]
    assert extension.url == VERSION_EXTENSION and extension.valueString == "2"
    plans = [r for r in (study.contained or []) if r.get_resource_type() == "PlanDefinition"]
    assert [(p.version, str(p.date)) for p in plans] == [("1", "2010-06-01"), ("2", "2011-03-15")]
    assert [r.reference for r in study.protocol or []] == ["#protocol-v1", "#protocol-v2"]
    plain = research_study(builtin_protocol())
    assert plain.extension is None and plain.protocol is None
