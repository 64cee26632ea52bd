"""Physiological relations shared by the candidate and follow-up generators (pure, numpy only).

Every relation here is a published equation or an explicitly labelled assumption:

* HbA1c and mean glucose: the ADAG regression, estimated average glucose
  ``eAG (mg/dL) = 28.7 x HbA1c (%) - 46.7`` (Nathan et al., *Diabetes Care* 2008;31:1473,
  r = 0.92). Its published 95 % intervals (e.g. HbA1c 7 % -> eAG 154 mg/dL, 123-185) imply a
  residual SD of about 16 mg/dL for glucose given HbA1c, i.e. about 0.55 %-points of HbA1c
  given glucose; `hba1c_from_mean_glucose` inverts the line and adds that noise.
* Glucose units: 1 mmol/L = 18.016 mg/dL (molar mass 180.16 g/mol; docs/references.md, units).
* The short insulin tolerance test (ITT): glucose is flat until the insulin has mixed (about
  3 min), then falls exponentially, ``G(t) = G0 x exp(-k (t - 3))`` with ``k = KITT / 100`` per
  minute, which is exactly the model KITT is fitted to (Akinmokun et al., *Diabet Med*
  1992;9:432; Hirst et al., *Diabet Med* 1993;10:839; [@KITT-examples] A).
  Each sample gets multiplicative analytical noise; a 1.5 % CV is typical of a laboratory glucose
  analyser (assumption, in line with the <= 2-3 % imprecision goals of ISO 15197-type
  specifications).
* Within-subject (day-to-day) variation: CV of HbA1c about 2 % (analytical + biological), fasting
  insulin about 20 %, C-peptide about 10-15 % (Ricos et al., *Scand J Clin Lab Invest*
  1999;59:491, biological-variation database: HbA1c CVi 1.9 %, insulin CVi 21 %, C-peptide CVi
  9 %); fasting glucose varies more in treated diabetes than the 5.6 % of healthy people, about
  10 % is assumed. Test-retest CV of KITT 13 % (Hirst 1993).
"""

from __future__ import annotations

import numpy as np

#: ADAG slope and intercept (Nathan et al., Diabetes Care 2008;31:1473): eAG mg/dL per HbA1c %.
ADAG_SLOPE_MG_DL = 28.7
ADAG_INTERCEPT_MG_DL = -46.7
#: Residual SD of HbA1c given mean glucose (%-points), from the ADAG 95 % intervals (see above).
ADAG_RESIDUAL_SD_PERCENT = 0.55

#: mg/dL per mmol/L for glucose (molar mass 180.16 g/mol).
GLUCOSE_MG_DL_PER_MMOL_L = 18.016

#: Standard sampling times of the short ITT (minutes after the 0.1 U/kg bolus).
ITT_SAMPLE_MINUTES: tuple[float, ...] = (0.0, 3.0, 6.0, 9.0, 12.0, 15.0)
#: Insulin mixing lag: glucose is taken as flat before this time (minutes).
ITT_LAG_MIN = 3.0
#: Analytical CV of one glucose sample (assumption, see module docstring).
GLUCOSE_ASSAY_CV = 0.015
#: Test-retest CV of KITT in one person (Hirst et al., Diabet Med 1993;10:839).
KITT_TEST_RETEST_CV = 0.13


def estimated_average_glucose_mg_dl(hba1c_percent: float) -> float:
    """ADAG eAG (mg/dL) = 28.7 x HbA1c (%) - 46.7 (Nathan et al. 2008).

    >>> round(estimated_average_glucose_mg_dl(7.0), 1)
    154.2
    """
    return ADAG_SLOPE_MG_DL * hba1c_percent + ADAG_INTERCEPT_MG_DL


def hba1c_from_mean_glucose(
    mean_glucose_mg_dl: float, rng: np.random.Generator, sd: float = ADAG_RESIDUAL_SD_PERCENT
) -> float:
    """HbA1c (%) for a mean glucose: the ADAG line inverted, plus residual noise (SD `sd`).

    ``HbA1c = (eAG + 46.7) / 28.7 + N(0, sd)``; with ``sd=0`` it is the exact inverse:

    >>> round(hba1c_from_mean_glucose(154.2, np.random.default_rng(0), sd=0.0), 3)
    7.0
    """
    return (mean_glucose_mg_dl - ADAG_INTERCEPT_MG_DL) / ADAG_SLOPE_MG_DL + rng.normal(0.0, sd)


def mmol_l(glucose_mg_dl: float) -> float:
    """Glucose mg/dL -> mmol/L (÷ 18.016)."""
    return glucose_mg_dl / GLUCOSE_MG_DL_PER_MMOL_L


def lognormal_factor(rng: np.random.Generator, cv_log: float) -> float:
    """A multiplicative noise factor with median 1 (``exp(N(0, cv_log))``)."""
    return float(np.exp(rng.normal(0.0, cv_log)))


def mean_one_factor(rng: np.random.Generator, sd_log: float) -> float:
    """A multiplicative factor with mean exactly 1 (``exp(N(-s²/2, s))``): no systematic drift."""
    return float(np.exp(rng.normal(-0.5 * sd_log * sd_log, sd_log)))


def itt_curve(
    baseline_glucose_mmol_l: float,
    kitt_percent_per_min: float,
    rng: np.random.Generator,
    minutes: tuple[float, ...] = ITT_SAMPLE_MINUTES,
    assay_cv: float = GLUCOSE_ASSAY_CV,
) -> dict[float, float]:
    """Glucose samples (mmol/L) of a short ITT with the given true KITT.

    ``G(t) = G0`` for ``t <= 3`` and ``G0 x exp(-KITT/100 x (t - 3))`` after, each sample times
    ``exp(N(0, assay_cv))``. Fitting ln G over 3-15 min (`trialdesk.derive.compute_kitt`) gives
    back the true KITT up to the assay noise:

    >>> curve = itt_curve(5.55, 4.0, np.random.default_rng(0), assay_cv=0.0)
    >>> [round(curve[t], 2) for t in (0.0, 3.0, 15.0)]
    [5.55, 5.55, 3.43]
    """
    if baseline_glucose_mmol_l <= 0 or kitt_percent_per_min <= 0:
        raise ValueError(
            f"itt_curve: baseline glucose ({baseline_glucose_mmol_l}) and KITT "
            f"({kitt_percent_per_min}) must be > 0"
        )
    k = kitt_percent_per_min / 100.0
    out: dict[float, float] = {}
    for t in minutes:
        expected = baseline_glucose_mmol_l * np.exp(-k * max(0.0, t - ITT_LAG_MIN))
        out[float(t)] = float(expected * np.exp(rng.normal(0.0, assay_cv)))
    return out
