"""HOMA1 indices of insulin resistance and beta-cell function from fasting glucose and insulin.

These are the closed-form HOMA1 approximations of Matthews et al., *Diabetologia* 1985;28:412.
HOMA2 (Levy et al. 1998; Oxford calculator) is an iterative computer model with no closed form
(Wallace, Levy & Matthews, *Diabetes Care* 2004;27:1487) and is deliberately not approximated here.
"""

from __future__ import annotations

from trialdesk.derive import _checks
from trialdesk.derive.errors import DerivationError

#: Fasting glucose (mmol/L) above which the value was almost certainly given in mg/dL
#: (50 mmol/L = 900 mg/dL; a fasting subject fit for a HOMA sample is far below it).
_MAX_PLAUSIBLE_GLUCOSE_MMOL_L = 50.0

#: HOMA1-%B is undefined at or below this fasting glucose (mmol/L; 63 mg/dL).
HOMA_B_GLUCOSE_FLOOR_MMOL_L = 3.5


def _fasting_glucose(value: float) -> float:
    glucose = _checks.positive("fasting_glucose_mmol_l", value, "concentration in mmol/L")
    if glucose > _MAX_PLAUSIBLE_GLUCOSE_MMOL_L:
        raise DerivationError(
            "fasting_glucose_mmol_l",
            value,
            f"a glucose in mmol/L (<= {_MAX_PLAUSIBLE_GLUCOSE_MMOL_L:g}); this looks like mg/dL, "
            "divide by 18.016",
        )
    return glucose


def compute_homa_ir(fasting_glucose_mmol_l: float, fasting_insulin_uiu_ml: float) -> float:
    """HOMA1-IR, the homeostasis-model estimate of insulin resistance (dimensionless).

    Formula: ``HOMA-IR = G x I / 22.5`` with G the fasting plasma glucose in mmol/L and I the
    fasting insulin in uIU/mL (= mU/L). In mg/dL this is G x I / 405. Insulin reported in pmol/L
    must first be divided by the insulin factor (6.0 pmol/L per uIU/mL by default; some labs
    print 6.945), which is the caller's job.

    Permitted values: both finite and > 0; glucose <= 50 mmol/L (a larger value was almost
    certainly passed in mg/dL). Otherwise `DerivationError` naming the value.

    Source: Matthews et al., Diabetologia 1985;28:412. Cut-offs are population-specific (e.g.
    > 2.71 in Brazilian adults, Geloneze et al. 2006) and are not applied here.

    Worked example ([@HOMA-example]: G = 5.0 mmol/L, I = 10 uIU/mL):

    >>> round(compute_homa_ir(5.0, 10.0), 3)
    2.222
    """
    glucose = _fasting_glucose(fasting_glucose_mmol_l)
    insulin = _checks.positive("fasting_insulin_uiu_ml", fasting_insulin_uiu_ml, "uIU/mL insulin")
    return glucose * insulin / 22.5


def compute_homa_b(fasting_glucose_mmol_l: float, fasting_insulin_uiu_ml: float) -> float:
    """HOMA1-%B, the homeostasis-model estimate of beta-cell function (percent).

    Formula: ``HOMA-%B = 20 x I / (G - 3.5)`` % with G the fasting plasma glucose in mmol/L and
    I the fasting insulin in uIU/mL (in mg/dL: 360 x I / (G - 63)).

    Permitted values: insulin finite and > 0; glucose finite, > 3.5 mmol/L (the index is
    undefined or negative at or below 3.5 mmol/L = 63 mg/dL) and <= 50 mmol/L (a larger value
    was almost certainly passed in mg/dL). Otherwise `DerivationError` naming the value.

    Source: Matthews et al., Diabetologia 1985;28:412.

    Worked example ([@HOMA-example]: G = 5.0 mmol/L, I = 10 uIU/mL -> 133.3 %):

    >>> round(compute_homa_b(5.0, 10.0), 1)
    133.3
    """
    glucose = _fasting_glucose(fasting_glucose_mmol_l)
    insulin = _checks.positive("fasting_insulin_uiu_ml", fasting_insulin_uiu_ml, "uIU/mL insulin")
    if glucose <= HOMA_B_GLUCOSE_FLOOR_MMOL_L:
        raise DerivationError(
            "fasting_glucose_mmol_l",
            fasting_glucose_mmol_l,
            f"a glucose above {HOMA_B_GLUCOSE_FLOOR_MMOL_L:g} mmol/L "
            "(HOMA-%B is undefined at or below it)",
        )
    return 20.0 * insulin / (glucose - HOMA_B_GLUCOSE_FLOOR_MMOL_L)
