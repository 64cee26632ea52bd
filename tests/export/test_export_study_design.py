"""Protocol-level exports: FHIR R4B ResearchStudy, SDTM trial design (TS TA TE TV TI) as SAS XPORT
v5 and Dataset-JSON 1.1, and define.xml 2.1 — each checked by its validator."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pandas as pd
import pyreadstat
import pytest
from fhir.resources.R4B.researchstudy import ResearchStudy
from pydantic import ValidationError

from trialdesk.export.errors import ExportError
from trialdesk.export.fhir.study import research_study, research_study_json
from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.sdtm.define import define_xml
from trialdesk.export.sdtm.spec import DOMAINS
from trialdesk.export.sdtm.trial_design import trial_design
from trialdesk.export.sdtm.write import dataset_json, write_xpt
from trialdesk.protocol import builtin_protocol

# hl7.org/fhir/R4B/valueset-research-study-status.html
R4B_STUDY_STATUSES = {
    "active",
    "administratively-completed",
    "approved",
    "closed-to-accrual",
    "closed-to-accrual-and-intervention",
    "completed",
    "disapproved",
    "in-review",
    "temporarily-closed-to-accrual",
    "temporarily-closed-to-accrual-and-intervention",
    "withdrawn",
}


def test_research_study_is_a_valid_r4b_resource_with_the_registry_facts() -> None:
    study = research_study(builtin_protocol())
    data = json.loads(study.model_dump_json(exclude_none=True))
    ResearchStudy.model_validate(data)  # round trip through the R4B model
    assert data["identifier"][0]["value"] == "NCT01142050"
    assert data["title"] == "Stem Cell Therapy for Type 2 Diabetes Mellitus"
    assert data["phase"]["coding"][0]["code"] == "phase-1"
    assert data["status"] in R4B_STUDY_STATUSES
    assert data["condition"][0]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "44054006",
        "display": "Type 2 Diabetes Mellitus",
    }
    assert data["arm"][0]["name"] == "Mesenchymal stem cell transplantation"
    contained = {r["id"]: r for r in data["contained"]}
    assert contained["enrollment"]["quantity"] == 24
    assert contained["site-APGH"]["address"]["city"] == "Beijing"
    assert contained["sponsor"]["name"] == "Cellonis Biotechnology Co. Ltd."
    assert len(data["objective"]) == 7


def test_r4b_model_rejects_a_broken_research_study() -> None:
    broken = research_study_json(builtin_protocol())
    del broken["status"]
    with pytest.raises(ValidationError, match="status"):
        ResearchStudy.model_validate(broken)


def test_trial_design_conforms_to_the_implemented_core_rules() -> None:
    datasets = trial_design(builtin_protocol())
    assert check(datasets) == []


def test_ti_holds_the_13_criteria_with_short_codes_and_ascii_text() -> None:
    ti = trial_design(builtin_protocol())["TI"]
    assert list(ti["IETESTCD"]) == [f"INCL{i:02d}" for i in range(1, 10)] + [
        f"EXCL{i:02d}" for i in range(1, 5)
    ]
    assert ti["IETEST"].str.len().max() <= 200
    assert ti.loc[ti["IETESTCD"] == "INCL04", "IETEST"].item() == (
        "19<=Body mass index (BMI)<=30kg/m2"
    )
    assert set(ti["IECAT"]) == {"INCLUSION", "EXCLUSION"}
    assert ti.loc[ti["IETESTCD"] == "INCL06", "TIRL"].item() == "kitt < 2.5 %/min"


def test_ts_and_tv_follow_the_protocol() -> None:
    datasets = trial_design(builtin_protocol())
    ts = datasets["TS"].set_index(["TSPARMCD", "TSSEQ"])["TSVAL"]
    assert ts[("AGEMIN", 1)] == "P18Y"
    assert ts[("AGEMAX", 1)] == "P75Y"
    assert ts[("PLANSUB", 1)] == "24"
    assert ts[("TPHASE", 1)] == "PHASE I TRIAL"
    assert ts[("REGID", 1)] == "NCT01142050"
    tv = datasets["TV"].set_index("VISIT")["VISITDY"]
    # Study day 1 = transplantation (protocol day 7); no day 0 before it.
    assert (tv["Screening"], tv["Baseline"], tv["Transplantation"], tv["Month 12"]) == (
        -35,
        -7,
        1,
        366,
    )
    te = datasets["TE"].set_index("ETCD")
    assert te.loc["FU", "TEDUR"] == "P365D"


def test_conformance_checks_catch_broken_trial_design() -> None:
    datasets = trial_design(builtin_protocol())
    datasets["TI"].loc[0, "IETESTCD"] = "1NCL01"
    datasets["TE"].loc[0, "TEENRL"] = None
    datasets["TS"].loc[datasets["TS"]["TSPARMCD"] == "AGEMAX", "TSVAL"] = "75 years"
    rules = {f.rule for f in check(datasets)}
    assert {"CORE-000220", "CORE-000027", "CORE-000294"} <= rules


def test_xpt_v5_files_read_back_with_names_labels_and_values(tmp_path: Path) -> None:
    datasets = trial_design(builtin_protocol())
    for code, frame in datasets.items():
        path = write_xpt(code, frame, tmp_path)
        back, meta = pyreadstat.read_xport(str(path))
        assert meta.table_name == code
        assert list(back.columns) == DOMAINS[code].names
        assert list(meta.column_labels) == [v.label for v in DOMAINS[code].variables]
        assert len(back) == len(frame)
    back, _ = pyreadstat.read_xport(str(tmp_path / "ti.xpt"))
    assert back.loc[12, "IETESTCD"] == "EXCL04"


def test_xpt_refuses_text_it_cannot_hold(tmp_path: Path) -> None:
    ti = trial_design(builtin_protocol())["TI"]
    ti.loc[0, "IETEST"] = "BMI ≤ 30"
    with pytest.raises(ExportError, match="TI.IETEST: 'BMI ≤ 30' is not ASCII"):
        write_xpt("TI", ti, tmp_path)


def _dataset_json_schema() -> dict[str, object]:
    path = resources.files("trialdesk.export").joinpath(
        "schemas", "dataset-json1-1", "dataset.schema.json"
    )
    schema: dict[str, object] = json.loads(path.read_text("utf-8"))
    return schema


def test_dataset_json_validates_against_the_cdisc_1_1_schema() -> None:
    schema = _dataset_json_schema()
    for code, frame in trial_design(builtin_protocol()).items():
        document = dataset_json(code, frame, study_id="NCT01142050")
        jsonschema.validate(document, schema)
        assert document["records"] == len(frame)
        assert [c["name"] for c in document["columns"]] == DOMAINS[code].names
    tv = dataset_json("TV", trial_design(builtin_protocol())["TV"], study_id="NCT01142050")
    assert tv["rows"][0][4] == -35  # VISITDY is an integer, not "-35.0"


def test_dataset_json_schema_catches_a_broken_document() -> None:
    document = dataset_json("TA", trial_design(builtin_protocol())["TA"], study_id="X")
    document["columns"][0]["dataType"] = "text"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, _dataset_json_schema())


def test_define_xml_2_1_validates_against_its_schema() -> None:
    datasets = trial_design(builtin_protocol())
    root = define_xml(datasets, study_id="NCT01142050", title="Stem cell therapy")
    assert schema_errors(root, "define") == []
    ns = {"o": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
    assert root.xpath("//o:ItemGroupDef/@Name", namespaces=ns) == list(datasets)
    length = root.xpath("//o:ItemDef[@OID='IT.TI.IETEST']/@Length", namespaces=ns)
    assert length == [str(datasets["TI"]["IETEST"].str.len().max())]
    root.xpath("//o:ItemGroupDef", namespaces=ns)[0].attrib.pop(
        "{http://www.cdisc.org/ns/def/v2.1}Structure"
    )
    assert schema_errors(root, "define") != []


def test_conform_rejects_columns_outside_the_spec() -> None:
    ta = trial_design(builtin_protocol())["TA"].assign(EXTRA=1)
    with pytest.raises(ExportError, match="extra \\['EXTRA'\\]"):
        dataset_json("TA", ta, study_id="X")
    assert isinstance(ta, pd.DataFrame)
