"""Estimated glomerular filtration rate from serum creatinine: the CKD-EPI 2021 equation.

Inker et al., *N Engl J Med* 2021;385:1737 (the race-free refit of the CKD-EPI creatinine
equation, recommended by the NKF-ASN Task Force):

    eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200 × 0.9938^age × 1.012 [if female]

with Scr the serum creatinine in mg/dL, κ = 0.7 (female) or 0.9 (male), α = −0.241 (female) or
−0.302 (male), age in years; the result is in mL/min/1.73 m². Creatinine in µmol/L is divided
by 88.4 (its molar mass, 113.12 g/mol) first. The equation is validated for adults only.
"""

from __future__ import annotations

from trialdesk.derive import _checks
from trialdesk.derive.errors import DerivationError

EGFR_UNIT = "mL/min/1.73 m²"
CREATININE_UMOL_PER_MG_DL = 88.4
_CONSTANT = 142.0
_KAPPA = {"F": 0.7, "M": 0.9}
_ALPHA = {"F": -0.241, "M": -0.302}
_ABOVE_KAPPA_EXPONENT = -1.200
_AGE_BASE = 0.9938
_FEMALE_FACTOR = 1.012
_ADULT_YEARS = 18.0


def compute_egfr_ckd_epi_2021(creatinine_umol_l: float, age_years: float, sex: str) -> float:
    """eGFR (mL/min/1.73 m²) by CKD-EPI 2021 (module docstring) from creatinine in µmol/L."""
    creatinine = _checks.positive("creatinine_umol_l", creatinine_umol_l, "a value in µmol/L")
    age = _checks.positive("age_years", age_years, "an age in years")
    if age < _ADULT_YEARS:
        raise DerivationError("age_years", age_years, "an adult age (the equation is for >= 18)")
    if sex not in _KAPPA:
        raise DerivationError("sex", sex, "F or M")
    ratio = creatinine / CREATININE_UMOL_PER_MG_DL / _KAPPA[sex]
    egfr = (
        _CONSTANT
        * min(ratio, 1.0) ** _ALPHA[sex]
        * max(ratio, 1.0) ** _ABOVE_KAPPA_EXPONENT
        * _AGE_BASE**age
    )
    return float(egfr * _FEMALE_FACTOR if sex == "F" else egfr)
