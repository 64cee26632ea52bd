"""ADSL, ADEFF and ADAE: flags, baseline, changes and derived parameters, checked by hand."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from trialdesk.analysis import AnalysisDatasets, SourceFrameError, SourceFrames, derive_datasets
from trialdesk.analysis.adae import compute_relatedness_group, compute_seriousness_code
from trialdesk.analysis.adeff import derive_var_ady
from trialdesk.derive import compute_homa_ir, compute_kitt
from trialdesk.protocol import Protocol


@pytest.fixture(scope="module")
def datasets(frames: SourceFrames, protocol: Protocol) -> AnalysisDatasets:
    return derive_datasets(frames, protocol)


def _rows(adeff: pd.DataFrame, usubjid: str, paramcd: str) -> pd.DataFrame:
    return adeff[(adeff["USUBJID"] == usubjid) & (adeff["PARAMCD"] == paramcd)]


def _rebuild(frames: SourceFrames, **changes: pd.DataFrame) -> SourceFrames:
    return SourceFrames(**{**frames.as_dict(), **changes})


def test_adsl_one_row_per_participant_with_flags(datasets: AnalysisDatasets) -> None:
    adsl = datasets.adsl.set_index("USUBJID")
    assert len(adsl) == 12 and adsl.index.is_unique
    assert (adsl["ITTFL"] == "Y").all()
    assert adsl.loc["S02", "SAFFL"] == "N" and adsl.loc["S01", "SAFFL"] == "Y"
    assert adsl.loc["S03", "COMPLFL"] == "N" and adsl.loc["S03", "EOSSTT"] == "DISCONTINUED"
    assert adsl.loc["S03", "DCSREAS"] == "Withdrawal by subject"
    assert adsl.loc["S01", "DCSREAS"] is None
    # Born 1965-03-01, enrolled (screened) 2024-01-04: 58 completed years.
    assert adsl.loc["S01", "AGE"] == 58


def test_adsl_baseline_bmi_is_weight_over_height_squared(datasets: AnalysisDatasets) -> None:
    row = datasets.adsl.set_index("USUBJID").loc["S04"]
    assert row["BMIBL"] == pytest.approx(row["WEIGHTBL"] / (row["HEIGHTBL"] / 100) ** 2)
    assert row["DIABDURBL"] == 8.0  # 5 + index 3


def test_one_baseline_record_per_participant_and_parameter(datasets: AnalysisDatasets) -> None:
    baseline = datasets.adeff[datasets.adeff["ABLFL"] == "Y"]
    assert not baseline.duplicated(["USUBJID", "PARAMCD"]).any()
    assert (baseline["VISITNDY"] <= 0).all()


def test_baseline_is_the_baseline_visit_not_screening(
    frames: SourceFrames, datasets: AnalysisDatasets
) -> None:
    m = frames.measurements
    bl = m[(m["usubjid"] == "S01") & (m["element"] == "hba1c") & (m["visit"] == "BL")]
    rows = _rows(datasets.adeff, "S01", "HBA1C")
    base = rows.loc[rows["ABLFL"] == "Y"]
    assert list(base["VISIT"]) == ["BL"]
    assert (rows["BASE"] == bl["value"].iloc[0]).all()


def test_baseline_falls_back_to_screening(frames: SourceFrames, protocol: Protocol) -> None:
    m = frames.measurements
    drop = (m["usubjid"] == "S01") & (m["element"] == "hba1c") & (m["visit"] == "BL")
    scr = m[(m["usubjid"] == "S01") & (m["element"] == "hba1c") & (m["visit"] == "SCR")]
    data = derive_datasets(_rebuild(frames, measurements=m[~drop]), protocol)
    rows = _rows(data.adeff, "S01", "HBA1C")
    assert list(rows.loc[rows["ABLFL"] == "Y", "VISIT"]) == ["SCR"]
    assert rows["BASE"].iloc[0] == scr["value"].iloc[0]


def test_change_and_percent_change(datasets: AnalysisDatasets) -> None:
    adeff = datasets.adeff
    post = adeff[adeff["VISITNDY"] > 0]
    assert np.allclose(post["CHG"], post["AVAL"] - post["BASE"], equal_nan=True)
    expected = (post["AVAL"] - post["BASE"]) / post["BASE"] * 100
    assert np.allclose(post["PCHG"], expected, equal_nan=True)
    assert adeff.loc[adeff["VISITNDY"] <= 0, "CHG"].isna().all()


def test_kitt_is_compute_kitt_on_the_same_samples(
    frames: SourceFrames, datasets: AnalysisDatasets
) -> None:
    itt = frames.itt
    test = itt[(itt["usubjid"] == "S06") & (itt["visit"] == "M6")].sort_values("minute")
    expected = compute_kitt(test["minute"].tolist(), test["glucose_mmol_l"].tolist())
    rows = _rows(datasets.adeff, "S06", "KITT")
    assert rows.loc[rows["VISIT"] == "M6", "AVAL"].iloc[0] == pytest.approx(expected, abs=1e-12)


def test_homa_ir_and_insulin_per_kg(frames: SourceFrames, datasets: AnalysisDatasets) -> None:
    m = frames.measurements
    at = m[(m["usubjid"] == "S06") & (m["visit"] == "M3")].set_index("element")["value"]
    homa = _rows(datasets.adeff, "S06", "HOMAIR")
    expected = compute_homa_ir(at["fasting_glucose"], at["fasting_insulin"])
    assert homa.loc[homa["VISIT"] == "M3", "AVAL"].iloc[0] == pytest.approx(expected)
    d = frames.dosing
    dose = d[(d["usubjid"] == "S06") & (d["visit"] == "M3")].iloc[0]
    per_kg = _rows(datasets.adeff, "S06", "INSDOSKG")
    value = per_kg.loc[per_kg["VISIT"] == "M3", "AVAL"].iloc[0]
    assert value == pytest.approx(dose["insulin_u_per_day"] / dose["weight_kg"])


def test_insulin_per_kg_uses_the_measured_weight_of_the_visit(
    frames: SourceFrames, datasets: AnalysisDatasets
) -> None:
    # The generator leaves weight_kg empty in the M9 dosing records: the M9 measurement is used.
    m = frames.measurements
    weight = m[(m["usubjid"] == "S01") & (m["visit"] == "M9") & (m["element"] == "weight")]
    d = frames.dosing
    dose = d[(d["usubjid"] == "S01") & (d["visit"] == "M9")]["insulin_u_per_day"].iloc[0]
    rows = _rows(datasets.adeff, "S01", "INSDOSKG")
    value = rows.loc[rows["VISIT"] == "M9", "AVAL"].iloc[0]
    assert value == pytest.approx(dose / weight["value"].iloc[0])
    assert not any("INSDOSKG at M9" in issue for issue in datasets.issues)


def test_insulin_per_kg_carries_a_recent_weight_and_says_so(
    frames: SourceFrames, protocol: Protocol
) -> None:
    m = frames.measurements
    drop = (m["usubjid"] == "S01") & (m["visit"] == "M9") & (m["element"] == "weight")
    data = derive_datasets(_rebuild(frames, measurements=m[~drop]), protocol)
    issue = next(i for i in data.issues if i.startswith("S01 INSDOSKG at M9"))
    assert "weight of M6 (90 days earlier) used" in issue
    rows = _rows(data.adeff, "S01", "INSDOSKG")
    m6_weight = m[(m["usubjid"] == "S01") & (m["visit"] == "M6") & (m["element"] == "weight")]
    d = frames.dosing
    dose = d[(d["usubjid"] == "S01") & (d["visit"] == "M9")]["insulin_u_per_day"].iloc[0]
    value = rows.loc[rows["VISIT"] == "M9", "AVAL"].iloc[0]
    assert value == pytest.approx(dose / m6_weight["value"].iloc[0])


def test_a_rising_itt_is_reported_not_raised(frames: SourceFrames, protocol: Protocol) -> None:
    itt = frames.itt.copy()
    pick = (itt["usubjid"] == "S07") & (itt["visit"] == "M3")
    itt.loc[pick, "glucose_mmol_l"] = np.linspace(8, 10, int(pick.sum()))
    data = derive_datasets(_rebuild(frames, itt=itt), protocol)
    assert any(i.startswith("S07 KITT at M3") and "not computable" in i for i in data.issues)
    assert "M3" not in set(_rows(data.adeff, "S07", "KITT")["VISIT"])


def test_latest_record_of_a_visit_is_analysed(frames: SourceFrames, protocol: Protocol) -> None:
    m = frames.measurements
    row = m[(m["usubjid"] == "S08") & (m["element"] == "hba1c") & (m["visit"] == "M12")]
    repeat = row.assign(value=6.1, date=row["date"] + pd.Timedelta(days=2))
    data = derive_datasets(
        _rebuild(frames, measurements=pd.concat([m, repeat], ignore_index=True)), protocol
    )
    rows = _rows(data.adeff, "S08", "HBA1C")
    m12 = rows[rows["VISIT"] == "M12"]
    assert sorted(m12["ANL01FL"]) == ["N", "Y"]
    assert m12.loc[m12["ANL01FL"] == "Y", "AVAL"].iloc[0] == 6.1


def test_study_day_has_no_day_zero() -> None:
    trt = pd.Series(pd.to_datetime(["2024-03-10"] * 3))
    adt = pd.Series(pd.to_datetime(["2024-03-09", "2024-03-10", "2024-03-11"]))
    assert list(derive_var_ady(adt, trt)) == [-1, 1, 2]


def test_adae_flags(datasets: AnalysisDatasets) -> None:
    adae = datasets.adae.set_index("AESPID")
    assert adae.loc["AE0", "TRTEMFL"] == "N"  # before transplantation
    assert adae.loc["AE1", "TRTEMFL"] == "Y"
    assert adae.loc["AE1", "ASTDY"] == 13  # 2024-02-20, transplanted 2024-02-08
    assert adae.loc["AE4", ["AESER", "AESHOSP", "AESMIE", "AESDTH"]].tolist() == [
        "Y",
        "Y",
        "Y",
        "N",
    ]
    assert adae.loc["AE2", "AERELGR1"] == "Related"
    assert adae.loc["AE3", "AERELGR1"] == "Not related"
    assert adae.loc["AE2", "AESEV"] == "Grade 3 (severe)"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hospitalization", "hospitalisation"),
        ("AESDTH", "death"),
        ("Life-threatening", "life_threatening"),
        ("birth defect", "congenital_anomaly"),
        ("medically important", "important_medical_event"),
        ("severe", None),
    ],
)
def test_seriousness_vocabulary(text: str, code: str | None) -> None:
    assert compute_seriousness_code(text) == code


@pytest.mark.parametrize(
    ("text", "group"),
    [("Definite", "Related"), ("Possibly related", "Related"), ("Unlikely", "Not related"),
     ("Not related", "Not related"), ("maybe", None)],
)  # fmt: skip
def test_relatedness_grouping(text: str, group: str | None) -> None:
    assert compute_relatedness_group(text) == group


def test_unknown_seriousness_term_is_named(frames: SourceFrames, protocol: Protocol) -> None:
    ae = frames.adverse_events.copy()
    ae.at[1, "seriousness"] = ["hospitalisation", "very bad"]
    with pytest.raises(SourceFrameError, match=r"adverse_events\.seriousness.*'very bad'"):
        derive_datasets(_rebuild(frames, adverse_events=ae), protocol)


def test_inconsistent_seriousness_is_reported(frames: SourceFrames, protocol: Protocol) -> None:
    ae = frames.adverse_events.copy()
    ae.loc[ae["ae_id"] == "AE1", "serious"] = True  # serious, no criterion
    ae.loc[ae["ae_id"] == "AE5", "grade"] = 5  # death without the criterion
    issues = derive_datasets(_rebuild(frames, adverse_events=ae), protocol).issues
    assert any("AE AE1" in i and "no ICH E2A criterion" in i for i in issues)
    assert any("AE AE5" in i and "grade 5" in i for i in issues)


def test_age_recorded_wins_over_birth_date(frames: SourceFrames, protocol: Protocol) -> None:
    subjects = frames.subjects.copy()
    subjects.loc[0, "age"] = 61.0
    subjects.loc[1, "birth_date"] = None
    data = derive_datasets(_rebuild(frames, subjects=subjects), protocol)
    adsl = data.adsl.set_index("USUBJID")
    assert adsl.loc["S01", "AGE"] == 61.0
    assert math.isnan(adsl.loc["S02", "AGE"])
    assert date(1965, 3, 1) == adsl.loc["S01", "BRTHDT"].date()
