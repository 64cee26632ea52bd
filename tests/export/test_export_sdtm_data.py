"""SDTM subject data (DM IE DS EX CM LB VS AE SV) from source frames: the values a reviewer
checks, the implemented CORE rules, and the written package (XPT, Dataset-JSON, define.xml)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pandas as pd
import pyreadstat
import pytest
from export_samples import sdtm_sources
from lxml import etree

from trialdesk.export.odm.validate import schema_errors
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.sdtm.package import write_package
from trialdesk.protocol import builtin_protocol

Datasets = dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def datasets() -> dict[str, pd.DataFrame]:
    return sdtm_datasets(builtin_protocol(), sdtm_sources())


def _one(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    assert mask.sum() == 1, f"{where}: {mask.sum()} rows"
    return frame[mask].iloc[0]


def test_every_implemented_core_rule_passes(datasets: dict[str, pd.DataFrame]) -> None:
    assert check(datasets) == []


def test_dm_reference_dates_and_arms(datasets: dict[str, pd.DataFrame]) -> None:
    dm = datasets["DM"]
    first = _one(dm, SUBJID="APGH-001")
    assert first["USUBJID"] == "NCT01142050-APGH-001"
    assert (first["RFSTDTC"], first["RFXSTDTC"], first["RFICDTC"]) == (
        "2011-04-01",
        "2011-04-01",
        "2011-03-01",
    )
    assert (first["AGE"], first["AGEU"], first["COUNTRY"]) == (49, "YEARS", "CHN")
    untreated = _one(dm, SUBJID="APGH-003")
    assert pd.isna(untreated["ACTARMCD"]) and untreated["ARMNRS"] == "ASSIGNED, NOT TREATED"
    assert _one(datasets["TS"], TSPARMCD="SSTDTC")["TSVAL"] == "2011-03-01"
    assert _one(datasets["TS"], TSPARMCD="ACTSUB")["TSVAL"] == "3"


def test_ie_holds_criteria_not_met_by_enrolled_subjects_and_screen_failures(
    datasets: Datasets,
) -> None:
    ie = datasets["IE"]
    row = _one(ie, USUBJID="NCT01142050-APGH-003")  # enrolled although I4 was not met
    assert (row["IETESTCD"], row["IEORRES"], row["IECAT"]) == ("INCL04", "N", "INCLUSION")
    failed = ie[ie["USUBJID"] == "NCT01142050-C4"]  # screen failure: I5 not met, E2 met
    assert sorted(zip(failed["IETESTCD"], failed["IEORRES"], strict=True)) == [
        ("EXCL02", "Y"),
        ("INCL05", "N"),
    ]
    assert set(failed["VISITNUM"]) <= set(datasets["SV"]["VISITNUM"])


def test_screen_failures_are_dm_subjects_with_a_null_arm_and_a_reason(
    datasets: Datasets,
) -> None:
    failure = _one(datasets["DM"], SUBJID="C4")
    assert failure["ARMNRS"] == "SCREEN FAILURE"  # SDTMIG v3.4: arm variables null
    assert all(pd.isna(failure[v]) for v in ("ARMCD", "ARM", "ACTARMCD", "ACTARM", "RFSTDTC"))
    assert (failure["SITEID"], failure["SEX"]) == ("APGH", "U")
    ds = _one(datasets["DS"], USUBJID="NCT01142050-C4")
    assert (ds["DSDECOD"], ds["DSCAT"], ds["EPOCH"], ds["DSSTDTC"]) == (
        "SCREEN FAILURE",
        "DISPOSITION EVENT",
        "SCREENING",
        "2011-04-02",
    )
    assert "C1" not in set(datasets["DM"]["SUBJID"])  # enrolled candidates appear once


def test_lb_keeps_entered_values_and_gives_standard_units_and_loinc(datasets: Datasets) -> None:
    lb = datasets["LB"]
    glucose = _one(
        lb, USUBJID="NCT01142050-APGH-001", LBTESTCD="GLUC", VISIT="Baseline", LBLOINC="1558-6"
    )
    assert (glucose["LBORRES"], glucose["LBORRESU"]) == ("176.6", "mg/dL")
    assert (glucose["LBSTRESN"], glucose["LBSTRESU"], glucose["LBFAST"]) == (9.8, "mmol/L", "Y")
    assert glucose["LBLOBXFL"] == "Y"  # last before the transplantation on 2011-04-01
    itt = lb[lb["LBCAT"] == "INSULIN TOLERANCE TEST"]
    assert list(itt["LBELTM"]) == ["PT0M", "PT3M", "PT6M", "PT9M", "PT12M", "PT15M"]
    assert set(itt["LBLOINC"]) == {"14749-6"}
    hcg = _one(lb, LBTESTCD="HCG")
    assert (hcg["LBORRES"], hcg["LBSPEC"], pd.isna(hcg["LBSTRESN"])) == ("NEGATIVE", "URINE", True)


def test_vs_derives_bmi_from_weight_and_height(datasets: Datasets) -> None:
    bmi = _one(datasets["VS"], USUBJID="NCT01142050-APGH-002", VSTESTCD="BMI")
    assert bmi["VSSTRESN"] == 22.4  # 66.0 kg / 1.715 m² = 22.44, reported to 0.1
    assert bmi["VSDRVFL"] == "Y" and pd.isna(bmi["VSORRES"])


def test_ae_seriousness_flags_grade_and_study_days(datasets: Datasets) -> None:
    ae = datasets["AE"]
    sae = _one(ae, AESPID="AE2")
    assert (sae["AESER"], sae["AESLIFE"], sae["AESHOSP"], sae["AESDTH"]) == ("Y", "Y", "Y", "N")
    assert (sae["AETOXGR"], sae["AEOUT"], sae["AEREL"]) == (
        "3",
        "RECOVERING/RESOLVING",
        "POSSIBLY RELATED",
    )
    assert sae["AESTDY"] == 3  # 2011-04-03, transplantation on 2011-04-01 is day 1
    fever = _one(ae, AESPID="AE1")
    assert (fever["AESER"], fever["EPOCH"]) == ("N", "TREATMENT")


def test_ex_is_the_transplantation_and_cm_the_diabetes_drugs(datasets: Datasets) -> None:
    ex = _one(datasets["EX"], USUBJID="NCT01142050-APGH-001")
    assert (ex["EXDOSE"], ex["EXDOSU"], ex["EXROUTE"], ex["EXLOT"]) == (
        1.0,
        "10^6 cells/kg",
        "INTRAVENOUS",
        "L-0042",
    )
    cm = datasets["CM"]
    insulin = cm[(cm["USUBJID"] == "NCT01142050-APGH-001") & (cm["CMCAT"] == "INSULIN")]
    assert list(insulin["CMDOSTOT"]) == [42.0, 30.0]
    assert set(cm["CMDOSU"]) == {"U", "DDD"}
    # The protocol asks for both daily doses at every visit: pre-specified, occurred when > 0.
    asked = cm[cm["CMDOSU"].isin(["U", "DDD"])]
    assert (asked["CMPRESP"] == "Y").all()
    occurred = asked["CMDOSTOT"].map(lambda dose: "Y" if dose > 0 else "N")
    assert list(asked["CMOCCUR"]) == list(occurred)
    assert list(insulin["CMOCCUR"]) == ["Y", "Y"]


def test_conformance_catches_broken_subject_data(datasets: Datasets) -> None:
    broken = {k: v.copy() for k, v in datasets.items()}
    broken["AE"].loc[0, "AESDTH"] = "Y"  # a serious criterion on a non-serious AE
    broken["DM"].loc[0, "RFICDTC"] = "2011-02-01"
    broken["LB"].loc[0, "LBSTRESN"] = 99.0
    broken["VS"].loc[0, "VSDY"] = 0
    rules = {f.rule for f in check(broken)}
    assert {"CORE-000022", "CORE-000370", "CORE-000542", "CORE-000529", "CORE-000252"} <= rules


def test_package_writes_valid_xpt_json_and_define(datasets: Datasets, tmp_path: Path) -> None:
    package = write_package(datasets, tmp_path, study_id="NCT01142050", title="MSC in T2DM")
    assert package.findings == []
    names = sorted(p.name for p in package.files)
    assert "lb.xpt" in names and "ae.json" in names and "define.xml" in names
    lb, meta = pyreadstat.read_xport(str(tmp_path / "lb.xpt"))
    assert meta.column_names_to_labels["LBSTRESN"] == "Numeric Result/Finding in Standard Units"
    assert len(lb) == len(datasets["LB"])
    schema = json.loads(
        resources.files("trialdesk.export")
        .joinpath("schemas", "dataset-json1-1", "dataset.schema.json")
        .read_text("utf-8")
    )
    for code in datasets:
        jsonschema.validate(json.loads((tmp_path / f"{code.lower()}.json").read_text()), schema)
    define = etree.parse(str(tmp_path / "define.xml"))
    assert schema_errors(define, "define") == []


def test_empty_datasets_are_written_with_their_columns(datasets: Datasets, tmp_path: Path) -> None:
    empty = {code: frame.iloc[0:0] for code, frame in datasets.items() if code in ("IE", "AE")}
    package = write_package({**empty, "DM": datasets["DM"]}, tmp_path, study_id="S", title="T")
    back, meta = pyreadstat.read_xport(str(tmp_path / "ie.xpt"))
    assert len(back) == 0 and "IETESTCD" in meta.column_names
    assert json.loads((tmp_path / "ae.json").read_text())["records"] == 0
    assert package.files
