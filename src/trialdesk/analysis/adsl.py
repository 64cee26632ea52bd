"""ADSL, the subject-level analysis dataset: one row per enrolled participant.

Population flags follow CDISC ADaMIG v1.3 (section 3.2.3) as applied to a single-group study:

- ``ITTFL`` (intention-to-treat / full analysis set): every enrolled participant. Efficacy is
  analysed on it; a participant counts in a given analysis when it has the values it needs
  (the paired tests need baseline and month 12; the mixed model needs baseline and at least one
  later visit).
- ``SAFFL`` (safety set): participants who received the intervention (transplantation date
  recorded). Adverse-event tables use it as the denominator.
- ``COMPLFL``: participants who completed the study (status ``completed``).

Baseline characteristics (``<PARAMCD>BL``) are merged from ADEFF by `derive_vars_baseline`, so
ADSL and ADEFF cannot disagree on baseline.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from trialdesk.analysis._values import as_float, is_missing
from trialdesk.analysis.sources import SourceFrames
from trialdesk.derive import DerivationError, compute_age, compute_bmi
from trialdesk.protocol import Protocol

_EOSSTT = {
    "ongoing": "ONGOING",
    "completed": "COMPLETED",
    "withdrawn": "DISCONTINUED",
    "died": "DISCONTINUED",
}


def _flag(condition: pd.Series) -> pd.Series:
    return condition.map({True: "Y", False: "N"})


def compute_age_at(birth_date: Any, at: Any, recorded_age: float) -> float:
    """Age in completed years: the recorded age when given, else from birth date to `at`
    (`trialdesk.derive.compute_age`, completed years)."""
    if not math.isnan(recorded_age):
        return recorded_age
    if is_missing(birth_date) or is_missing(at):
        return math.nan
    return float(compute_age(pd.Timestamp(birth_date).date(), pd.Timestamp(at).date()))


def _discontinuation_reason(status: str, reason: Any) -> str | None:
    """DCSREAS: the recorded reason; "Death" for a death without one; None when not stopped."""
    given = reason.strip() if isinstance(reason, str) and reason.strip() else None
    if status == "died":
        return given or "Death"
    if status == "withdrawn":
        return given or "Not recorded"
    return None


def derive_adsl(frames: SourceFrames, protocol: Protocol) -> pd.DataFrame:
    """One row per enrolled participant with dates, disposition and population flags."""
    subjects = frames.subjects.sort_values("usubjid").reset_index(drop=True)
    ages = [
        compute_age_at(row.birth_date, row.enrolled_on, as_float(row.age))
        for row in subjects.itertuples()
    ]
    reasons = [
        _discontinuation_reason(str(s), r)
        for s, r in zip(subjects["status"], subjects["end_reason"], strict=True)
    ]
    adsl = pd.DataFrame(
        {
            "STUDYID": protocol.id,
            "USUBJID": subjects["usubjid"].astype(object),
            "SITEID": subjects["site"].astype(object),
            "SEX": subjects["sex"].astype(object),
            "AGE": pd.Series(ages, dtype=float),
            "AGEU": "YEARS",
            "BRTHDT": subjects["birth_date"],
            "HEIGHTBL": subjects["height_cm"].astype(float),
            "ENRLDT": subjects["enrolled_on"],
            "TRTSDT": subjects["transplanted_on"],
            "EOSDT": subjects["end_on"],
            "EOSSTT": subjects["status"].map(_EOSSTT),
            "DCSREAS": pd.Series(reasons, dtype=object),
            "DTHFL": _flag(subjects["status"] == "died"),
            "ITTFL": "Y",
            "SAFFL": _flag(subjects["transplanted_on"].notna()),
            "COMPLFL": _flag(subjects["status"] == "completed"),
        }
    )
    adsl["ARM"] = protocol.design.arms[0].name
    adsl["ARMCD"] = protocol.design.arms[0].code
    return adsl


def _bmi(weight_kg: float, height_cm: float) -> float:
    if np.isnan(weight_kg) or np.isnan(height_cm):
        return float("nan")
    try:
        return compute_bmi(weight_kg, height_cm / 100.0)
    except DerivationError:
        return float("nan")


def derive_vars_baseline(
    adsl: pd.DataFrame, adeff: pd.DataFrame, diabetes_duration: pd.Series
) -> pd.DataFrame:
    """Add ``<PARAMCD>BL`` baseline columns (from ADEFF's ABLFL rows), BMIBL and DIABDURBL.

    `diabetes_duration` is indexed by USUBJID (years, last pre-treatment value). BMI at baseline
    is ``WEIGHTBL / (HEIGHTBL / 100)^2`` (`trialdesk.derive.compute_bmi`, WHO).
    """
    out = adsl.copy()
    baseline = adeff[adeff["ABLFL"] == "Y"]
    wide = baseline.pivot_table(index="USUBJID", columns="PARAMCD", values="AVAL", aggfunc="last")
    for paramcd in wide.columns:
        out[f"{paramcd}BL"] = out["USUBJID"].map(wide[paramcd]).astype(float)
    if "WEIGHTBL" not in out:
        out["WEIGHTBL"] = np.nan
    out["BMIBL"] = [_bmi(w, h) for w, h in zip(out["WEIGHTBL"], out["HEIGHTBL"], strict=True)]
    out["DIABDURBL"] = out["USUBJID"].map(diabetes_duration).astype(float)
    return out
