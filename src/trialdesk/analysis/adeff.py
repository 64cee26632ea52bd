"""ADEFF, the efficacy analysis dataset (ADaM BDS): one row per participant, parameter, visit.

Parameters are listed in `trialdesk.analysis.params`. Values measured in the study (HbA1c,
glucose, C-peptide, insulin, weight) are taken as recorded (canonical unit); derived parameters
are computed here with the formulas of `trialdesk.derive`:

- KITT (%/min) from each ITT's glucose samples (`compute_kitt`, OLS slope of ln glucose over
  3-15 min; Akinmokun 1992, Hirst 1993);
- HOMA1-IR from fasting glucose and fasting insulin of the same visit (`compute_homa_ir`;
  Matthews 1985);
- insulin U/kg/day from the daily dose and the weight of the same visit
  (`compute_daily_insulin_dose_per_kg`; Bhansali 2009); a weight up to 90 days older is carried
  when the visit has none (reported as a data issue).

Derived elements that arrive already computed in ``measurements`` (kitt, homa_ir, bmi) are not
used: deriving them here from the source values keeps one formula for every report.

Variables (CDISC ADaMIG v1.3): AVAL, BASE (the ABLFL value), CHG = AVAL - BASE, PCHG =
CHG / BASE x 100 (post-baseline rows only), ABLFL (baseline record), ANL01FL (the record used
when a visit has several: the latest), AVISIT/AVISITN (scheduled visit name and nominal day),
ADT, ADY (study day relative to the transplantation date TRTSDT: ADT - TRTSDT + 1 on or after
it, ADT - TRTSDT before it; no day 0), SRCDOM (source frame). Problems met while deriving
(e.g. an ITT with rising glucose) are returned as `DerivationIssue` rows, not raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialdesk.analysis._values import as_float, as_timestamp
from trialdesk.analysis.params import MEASURED_ELEMENTS, PARAMS, PARAMS_BY_CODE
from trialdesk.analysis.sources import SourceFrames
from trialdesk.derive import (
    DerivationError,
    compute_daily_insulin_dose_per_kg,
    compute_homa_ir,
    compute_kitt,
)
from trialdesk.protocol import Protocol

_RAW_COLUMNS = ["USUBJID", "PARAMCD", "VISIT", "VISITDY", "ADT", "AVAL", "SRCDOM"]


@dataclass(frozen=True)
class DerivationIssue:
    """A value that could not be derived: who, which parameter, which visit, and why."""

    usubjid: str
    paramcd: str
    visit: str
    reason: str


def _raw(rows: list[dict[str, object]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in _RAW_COLUMNS})
    return pd.DataFrame(rows, columns=_RAW_COLUMNS)


def derive_param_measured(frames: SourceFrames) -> pd.DataFrame:
    """Rows for parameters recorded as measurements (HbA1c, glucose, C-peptide, insulin, weight)."""
    m = frames.measurements[frames.measurements["element"].isin(list(MEASURED_ELEMENTS))]
    return pd.DataFrame(
        {
            "USUBJID": m["usubjid"],
            "PARAMCD": m["element"].map(lambda e: MEASURED_ELEMENTS[e].paramcd),
            "VISIT": m["visit"],
            "VISITDY": m["visit_day"],
            "ADT": m["date"],
            "AVAL": m["value"].astype(float),
            "SRCDOM": "LB",
        }
    ).reset_index(drop=True)


def derive_param_dose(frames: SourceFrames) -> pd.DataFrame:
    """Rows for the daily insulin dose (U/day) and the oral drugs (WHO DDD/day)."""
    d = frames.dosing
    parts = [
        pd.DataFrame(
            {
                "USUBJID": d["usubjid"],
                "PARAMCD": code,
                "VISIT": d["visit"],
                "VISITDY": d["visit_day"],
                "ADT": d["date"],
                "AVAL": d[column].astype(float),
                "SRCDOM": "CM",
            }
        )
        for code, column in (("INSDOSE", "insulin_u_per_day"), ("OGLDDDD", "ogld_ddd"))
    ]
    return pd.concat(parts, ignore_index=True)


def derive_param_kitt(frames: SourceFrames) -> tuple[pd.DataFrame, list[DerivationIssue]]:
    """KITT (%/min) per participant and ITT visit, from the glucose samples (`compute_kitt`)."""
    rows: list[dict[str, object]] = []
    issues: list[DerivationIssue] = []
    visit_days = _visit_days(frames)
    for (usubjid, visit), test in frames.itt.groupby(["usubjid", "visit"], sort=True):
        test = test.sort_values("minute")
        try:
            kitt = compute_kitt(test["minute"].tolist(), test["glucose_mmol_l"].tolist())
        except DerivationError as exc:
            issues.append(DerivationIssue(str(usubjid), "KITT", str(visit), str(exc)))
            continue
        rows.append(
            {
                "USUBJID": usubjid,
                "PARAMCD": "KITT",
                "VISIT": visit,
                "VISITDY": visit_days.get((str(usubjid), str(visit)), np.nan),
                "ADT": test["date"].max(),
                "AVAL": kitt,
                "SRCDOM": "ITT",
            }
        )
    return _raw(rows), issues


def _visit_days(frames: SourceFrames) -> dict[tuple[str, str], float]:
    """The recorded visit day of each participant's visit (the ITT frame has no visit_day)."""
    days: dict[tuple[str, str], float] = {}
    for frame in (frames.measurements, frames.dosing):
        for row in frame[["usubjid", "visit", "visit_day"]].itertuples(index=False):
            days.setdefault((str(row.usubjid), str(row.visit)), as_float(row.visit_day))
    return days


def _latest(raw: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    rows = raw[raw["PARAMCD"] == paramcd].sort_values("ADT")
    return rows.drop_duplicates(["USUBJID", "VISIT"], keep="last").set_index(["USUBJID", "VISIT"])


def derive_param_homa_ir(measured: pd.DataFrame) -> tuple[pd.DataFrame, list[DerivationIssue]]:
    """HOMA1-IR from FBG and fasting insulin taken at the same visit (`compute_homa_ir`)."""
    glucose, insulin = _latest(measured, "FBG"), _latest(measured, "INSF")
    rows: list[dict[str, object]] = []
    issues: list[DerivationIssue] = []
    for key in glucose.index.intersection(insulin.index).sort_values():
        g, i = glucose.loc[key], insulin.loc[key]
        try:
            value = compute_homa_ir(as_float(g["AVAL"]), as_float(i["AVAL"]))
        except DerivationError as exc:
            issues.append(DerivationIssue(str(key[0]), "HOMAIR", str(key[1]), str(exc)))
            continue
        rows.append(
            {
                "USUBJID": key[0],
                "PARAMCD": "HOMAIR",
                "VISIT": key[1],
                "VISITDY": g["VISITDY"],
                "ADT": max(g["ADT"], i["ADT"]),
                "AVAL": value,
                "SRCDOM": "LB",
            }
        )
    return _raw(rows), issues


#: How far back a body weight may be carried to normalise an insulin dose (days). Weight
#: changes slowly; 90 days covers the gap between two scheduled visits (assumption, stated in
#: the report's data issues whenever used).
WEIGHT_CARRY_DAYS = 90


def _all_weights(frames: SourceFrames, measured: pd.DataFrame) -> pd.DataFrame:
    """Every recorded body weight (measurements and dosing records) with its date and visit."""
    from_measurements = measured.loc[
        measured["PARAMCD"] == "WEIGHT", ["USUBJID", "VISIT", "ADT", "AVAL"]
    ]
    dosing = frames.dosing[frames.dosing["weight_kg"].notna()]
    from_dosing = pd.DataFrame(
        {
            "USUBJID": dosing["usubjid"],
            "VISIT": dosing["visit"],
            "ADT": dosing["date"],
            "AVAL": dosing["weight_kg"],
        }
    )
    # Dosing weights first: on the same date the measured (vital-signs) weight is preferred.
    parts = [p for p in (from_dosing, from_measurements) if len(p)]
    if not parts:
        return pd.DataFrame(columns=["USUBJID", "VISIT", "ADT", "AVAL"])
    return pd.concat(parts, ignore_index=True).sort_values("ADT", kind="stable")


def _weight_for(
    weights: pd.DataFrame, usubjid: str, visit: str, when: pd.Timestamp
) -> tuple[float, str | None]:
    """The weight of that visit, else the latest within WEIGHT_CARRY_DAYS before (with a note)."""
    own = weights[(weights["USUBJID"] == usubjid)]
    same = own[own["VISIT"] == visit]
    if len(same):
        return as_float(same["AVAL"].iloc[-1]), None
    earlier = own[
        (own["ADT"] <= when) & (own["ADT"] >= when - pd.Timedelta(days=WEIGHT_CARRY_DAYS))
    ]
    if len(earlier):
        last = earlier.iloc[-1]
        days = (when - last["ADT"]).days
        note = f"no weight at this visit; weight of {last['VISIT']} ({days} days earlier) used"
        return as_float(last["AVAL"]), note
    return math.nan, f"no body weight at this visit or in the {WEIGHT_CARRY_DAYS} days before"


def derive_param_insulin_per_kg(
    frames: SourceFrames, measured: pd.DataFrame
) -> tuple[pd.DataFrame, list[DerivationIssue]]:
    """Insulin U/kg/day: the visit's daily dose over the body weight of that visit.

    The weight is the dosing record's own ``weight_kg`` when given, else the body weight
    measured at the same visit, else the latest weight recorded up to `WEIGHT_CARRY_DAYS`
    before (reported as an issue); with none, the value is missing and an issue is reported.
    """
    weights = _all_weights(frames, measured)
    rows: list[dict[str, object]] = []
    issues: list[DerivationIssue] = []
    for d in frames.dosing.sort_values("date").itertuples(index=False):
        weight, note = as_float(d.weight_kg), None
        if math.isnan(weight):
            weight, note = _weight_for(weights, str(d.usubjid), str(d.visit), as_timestamp(d.date))
        if note:
            issues.append(DerivationIssue(str(d.usubjid), "INSDOSKG", str(d.visit), note))
        if math.isnan(weight):
            continue
        try:
            value = compute_daily_insulin_dose_per_kg(as_float(d.insulin_u_per_day), weight)
        except DerivationError as exc:
            issues.append(DerivationIssue(str(d.usubjid), "INSDOSKG", str(d.visit), str(exc)))
            continue
        rows.append(
            {
                "USUBJID": d.usubjid,
                "PARAMCD": "INSDOSKG",
                "VISIT": d.visit,
                "VISITDY": d.visit_day,
                "ADT": d.date,
                "AVAL": value,
                "SRCDOM": "CM",
            }
        )
    return _raw(rows), issues


def derive_var_anl01fl(raw: pd.DataFrame) -> pd.Series:
    """'Y' on the record analysed for each participant/parameter/visit: the latest by date."""
    order = raw.sort_values(["USUBJID", "PARAMCD", "VISIT", "ADT"], kind="stable")
    last = ~order.duplicated(["USUBJID", "PARAMCD", "VISIT"], keep="last")
    return last.reindex(raw.index).map({True: "Y", False: "N"})


def derive_var_ablfl(adeff: pd.DataFrame) -> pd.Series:
    """'Y' on the baseline record: the last analysed value at a visit on or before day 0."""
    eligible = adeff[(adeff["ANL01FL"] == "Y") & (adeff["VISITNDY"] <= 0)]
    chosen = (
        eligible.sort_values(["VISITNDY", "ADT"], kind="stable")
        .groupby(["USUBJID", "PARAMCD"])
        .tail(1)
    )
    flag = pd.Series("N", index=adeff.index, dtype=object)
    flag[chosen.index] = "Y"
    return flag


def derive_vars_chg(adeff: pd.DataFrame) -> pd.DataFrame:
    """BASE on every row; CHG = AVAL - BASE and PCHG = CHG / BASE x 100 after baseline.

    PCHG is missing when BASE is 0 (the percent change is undefined; see
    `trialdesk.derive.compute_percent_change`).
    """
    out = adeff.copy()
    base = out[out["ABLFL"] == "Y"].set_index(["USUBJID", "PARAMCD"])["AVAL"]
    keys = pd.MultiIndex.from_frame(out[["USUBJID", "PARAMCD"]])
    out["BASE"] = base.reindex(keys).to_numpy(dtype=float)
    post = out["VISITNDY"] > 0
    out["CHG"] = np.where(post, out["AVAL"] - out["BASE"], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = out["CHG"] / out["BASE"] * 100.0
    out["PCHG"] = np.where(post & (out["BASE"] != 0), pchg, np.nan)
    return out


def derive_var_ady(adt: pd.Series, trtsdt: pd.Series) -> pd.Series:
    """Study day relative to the transplantation date (no day 0; CDISC SDTMIG --DY rule)."""
    delta = (adt - trtsdt).dt.days
    return pd.Series(np.where(delta >= 0, delta + 1, delta), index=adt.index).astype("Float64")


def _outcome_of(protocol: Protocol) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for outcome in protocol.primary_outcomes:
        for element in outcome.elements:
            for p in PARAMS:
                if p.element == element:
                    mapping[p.paramcd] = outcome.id
    return mapping


def derive_adeff(
    frames: SourceFrames, protocol: Protocol, adsl: pd.DataFrame
) -> tuple[pd.DataFrame, list[DerivationIssue]]:
    """Build ADEFF from the source frames; returns the dataset and the derivation issues."""
    measured = derive_param_measured(frames)
    kitt, kitt_issues = derive_param_kitt(frames)
    homa, homa_issues = derive_param_homa_ir(measured)
    per_kg, kg_issues = derive_param_insulin_per_kg(frames, measured)
    parts = [p for p in (measured, derive_param_dose(frames), kitt, homa, per_kg) if len(p)]
    raw = pd.concat(parts, ignore_index=True) if parts else _raw([])
    raw["ADT"] = pd.to_datetime(raw["ADT"])
    schedule = {v.code: v for v in protocol.schedule}
    raw["AVISIT"] = raw["VISIT"].map(lambda c: schedule[c].name if c in schedule else None)
    nominal = raw["VISIT"].map(lambda c: float(schedule[c].day) if c in schedule else np.nan)
    raw["AVISITN"] = nominal
    # Unscheduled visits fall back on their recorded day to decide pre-/post-treatment.
    raw["VISITNDY"] = nominal.fillna(pd.to_numeric(raw["VISITDY"], errors="coerce"))
    raw["ANL01FL"] = derive_var_anl01fl(raw)
    raw["ABLFL"] = derive_var_ablfl(raw)
    adeff = derive_vars_chg(raw)
    subject = adsl.set_index("USUBJID")
    adeff["TRTSDT"] = adeff["USUBJID"].map(subject["TRTSDT"])
    adeff["ADY"] = derive_var_ady(adeff["ADT"], adeff["TRTSDT"])
    for flag in ("ITTFL", "SAFFL", "COMPLFL"):
        adeff[flag] = adeff["USUBJID"].map(subject[flag])
    adeff["PARAM"] = adeff["PARAMCD"].map(lambda c: PARAMS_BY_CODE[c].param)
    adeff["AVALU"] = adeff["PARAMCD"].map(lambda c: PARAMS_BY_CODE[c].unit)
    adeff["PARCAT1"] = adeff["PARAMCD"].map(_outcome_of(protocol))
    adeff.insert(0, "STUDYID", protocol.id)
    ordered = [
        "STUDYID",
        "USUBJID",
        "PARAMCD",
        "PARAM",
        "PARCAT1",
        "AVALU",
        "VISIT",
        "AVISIT",
        "AVISITN",
        "VISITNDY",
        "ADT",
        "ADY",
        "AVAL",
        "BASE",
        "CHG",
        "PCHG",
        "ABLFL",
        "ANL01FL",
        "SRCDOM",
        "ITTFL",
        "SAFFL",
        "COMPLFL",
    ]
    adeff = adeff[ordered].sort_values(["USUBJID", "PARAMCD", "VISITNDY", "ADT"], kind="stable")
    return adeff.reset_index(drop=True), [*kitt_issues, *homa_issues, *kg_issues]
