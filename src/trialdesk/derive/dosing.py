"""Glucose-lowering dose derivations: insulin per kg, percent change, dose reduction, DDDs.

Definitions follow the stem-cell T2DM trials (Bhansali et al. 2009, Zang et al. 2022;
[@InsulinDose-definitions]): the daily
insulin dose is total basal + bolus units per day, optionally per kg of body weight; the percent
reduction is (baseline - follow-up) / baseline x 100; a responder has a reduction of at least 50 %
(Bhansali et al., *Stem Cells Dev* 2009;18:1407, PMID 19686048). Because responders can lose
weight, a reduction in U/day differs from one in U/kg/day: the protocol must say which it uses,
and the caller should derive and store both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from trialdesk.derive import _checks
from trialdesk.derive.errors import DerivationError

#: Bhansali 2009 responder definition: daily dose reduced by at least this percentage.
RESPONDER_THRESHOLD_PERCENT = 50.0

#: A reduction in percent cannot exceed the whole baseline dose.
_MAX_PERCENT = 100.0

#: WHO defined daily doses (DDD, mg/day, oral route) of common oral glucose-lowering drugs.
#: Source: WHO Collaborating Centre for Drug Statistics Methodology, ATC/DDD Index
#: (https://atcddd.fhi.no/atc_ddd_index/), ATC group A10B: metformin A10BA02 2 g; glimepiride
#: A10BB12 2 mg; gliclazide A10BB09 160 mg (plain tablets; modified-release gliclazide has a
#: different DDD, so convert MR doses to a count of DDDs yourself or pass your own table);
#: glipizide A10BB07 10 mg; acarbose A10BF01 300 mg; sitagliptin A10BH01 100 mg; pioglitazone
#: A10BG03 30 mg; repaglinide A10BX02 4 mg. The index is revised every year: check it before a
#: database lock. Keys are lower-case international non-proprietary names.
WHO_DDD_MG: Mapping[str, float] = MappingProxyType(
    {
        "metformin": 2000.0,
        "glimepiride": 2.0,
        "gliclazide": 160.0,
        "glipizide": 10.0,
        "acarbose": 300.0,
        "sitagliptin": 100.0,
        "pioglitazone": 30.0,
        "repaglinide": 4.0,
    }
)


@dataclass(frozen=True, slots=True)
class DoseReduction:
    """The change in a daily glucose-lowering dose between baseline and a follow-up visit.

    Attributes:
        baseline_dose: the baseline daily dose, in the caller's unit (> 0).
        followup_dose: the follow-up daily dose, in the same unit (>= 0).
        absolute_change: ``followup_dose - baseline_dose`` in that unit (negative = reduced).
        percent_reduction: ``(baseline - followup) / baseline x 100`` (negative = increased).
        responder: ``percent_reduction >= threshold`` (50 % by default, Bhansali 2009).
        independent: the follow-up dose is exactly 0 (off the drug, e.g. insulin independent).
    """

    baseline_dose: float
    followup_dose: float
    absolute_change: float
    percent_reduction: float
    responder: bool
    independent: bool


def compute_daily_insulin_dose_per_kg(total_daily_units: float, weight_kg: float) -> float:
    """Weight-normalised daily insulin dose (U/kg/day).

    Formula: ``dose = total daily insulin (U/day, basal + bolus) / body weight (kg)``.

    Permitted values: total_daily_units finite and >= 0 (0 = off insulin); weight_kg finite and
    > 0. Otherwise `DerivationError` naming the value. Use the weight measured at the same visit
    as the dose.

    Source: Bhansali et al., Stem Cells Dev 2009;18:1407 (inclusion on insulin >= 0.7 U/kg/day);
    Bhansali et al. 2017, PMC5496640 (>= 0.4 IU/kg/day).

    Worked example (49 U/day at 70 kg):

    >>> round(compute_daily_insulin_dose_per_kg(49.0, 70.0), 3)
    0.7
    """
    units = _checks.non_negative("total_daily_units", total_daily_units, "insulin dose in U/day")
    weight = _checks.positive("weight_kg", weight_kg, "body weight in kg")
    return units / weight


def compute_percent_change(baseline: float, value: float) -> float:
    """Percent change from baseline: ``(value - baseline) / baseline x 100`` (%).

    Units: baseline and value in the same unit; the result is in percent (negative = fell).
    Permitted values: both finite; baseline != 0 (the change is undefined); otherwise
    `DerivationError` naming the value. A negative baseline is accepted and the sign follows the
    formula; prefer absolute changes for quantities that can be negative.

    Source: [@InsulinDose-definitions]; it is the negative of
    `compute_percent_reduction`.

    Worked example (insulin 40 -> 10 U/day):

    >>> compute_percent_change(40.0, 10.0)
    -75.0
    """
    base = _checks.finite("baseline", baseline, "baseline value")
    current = _checks.finite("value", value, "value")
    if base == 0:
        raise DerivationError("baseline", baseline, "a non-zero baseline (percent change of 0)")
    return (current - base) / base * 100.0


def compute_percent_reduction(baseline: float, value: float) -> float:
    """Percent reduction from baseline: ``(baseline - value) / baseline x 100`` (%).

    Units: baseline and value in the same unit; the result is in percent (positive = fell,
    negative = rose). Permitted values: both finite; baseline != 0; otherwise
    `DerivationError` naming the value.

    Source: [@InsulinDose-definitions]; Bhansali et al., Stem Cells Dev 2009;18:1407 (insulin dose
    reduction, responder >= 50 %).

    Worked example (insulin 40 -> 10 U/day):

    >>> compute_percent_reduction(40.0, 10.0)
    75.0
    """
    base = _checks.finite("baseline", baseline, "baseline value")
    current = _checks.finite("value", value, "value")
    if base == 0:
        raise DerivationError("baseline", baseline, "a non-zero baseline (percent reduction of 0)")
    return (base - current) / base * 100.0


def compute_dose_reduction(
    baseline_dose: float,
    followup_dose: float,
    *,
    responder_threshold_percent: float = RESPONDER_THRESHOLD_PERCENT,
) -> DoseReduction:
    """Change in a daily glucose-lowering dose, with the responder and independence flags.

    Formulas: ``absolute_change = followup - baseline``;
    ``percent_reduction = (baseline - followup) / baseline x 100``;
    ``responder = percent_reduction >= responder_threshold_percent`` (50 % by default);
    ``independent = followup == 0``.

    Units: any daily dose, the same for both visits: insulin in U/day or U/kg/day (these give
    different reductions when weight changes; derive both and let the protocol choose), or an
    oral glucose-lowering drug (OGLD) as mg/day or as a count of WHO defined daily doses (see
    `compute_ogld_ddd_total`).

    Permitted values: baseline_dose finite and > 0; followup_dose finite and >= 0;
    responder_threshold_percent finite with 0 < threshold <= 100. Otherwise `DerivationError`
    naming the value. A follow-up above baseline gives a negative reduction (not a responder).

    Source: Bhansali et al., Stem Cells Dev 2009;18:1407 (primary endpoint: insulin reduction
    >= 50 %; 7/10 responders, 3 stopped insulin); Zang et al., Stem Cell Res Ther 2022
    (reduction >= 50 % as part of the composite endpoint).

    Worked example (insulin 0.8 -> 0.2 U/kg/day, then an OGLD 2.5 -> 0 DDDs):

    >>> r = compute_dose_reduction(0.8, 0.2)
    >>> round(r.percent_reduction, 1), r.responder, r.independent
    (75.0, True, False)
    >>> compute_dose_reduction(2.5, 0.0).independent
    True
    """
    base = _checks.positive("baseline_dose", baseline_dose, "daily dose")
    followup = _checks.non_negative("followup_dose", followup_dose, "daily dose")
    threshold = _checks.positive(
        "responder_threshold_percent", responder_threshold_percent, "threshold in percent"
    )
    if threshold > _MAX_PERCENT:
        raise DerivationError(
            "responder_threshold_percent",
            responder_threshold_percent,
            "a threshold in percent, at most 100",
        )
    reduction = (base - followup) / base * 100.0
    return DoseReduction(
        baseline_dose=base,
        followup_dose=followup,
        absolute_change=followup - base,
        percent_reduction=reduction,
        responder=reduction >= threshold,
        independent=followup == 0,
    )


def _normalise(name: object, argument: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise DerivationError(argument, name, "a drug name (non-empty str)")
    return name.strip().casefold()


def compute_ogld_ddd_total(
    doses: Mapping[str, float], ddd_mg: Mapping[str, float] = WHO_DDD_MG
) -> float:
    """Total oral glucose-lowering drug (OGLD) exposure as a count of WHO defined daily doses.

    Formula: ``sum over drugs of daily dose (mg/day) / DDD (mg)``; the result is in DDDs per
    day (dimensionless), 0.0 for no drugs. Drug names are matched case-insensitively after
    stripping spaces; use the international non-proprietary name of each component (split
    fixed-dose combinations into their components).

    Permitted values: each dose finite and >= 0 mg/day; each DDD used finite and > 0 mg; every
    drug present in ``ddd_mg`` (default `WHO_DDD_MG`); no drug named twice. Otherwise
    `DerivationError` naming the drug or the value.

    Source: WHO Collaborating Centre for Drug Statistics Methodology, ATC/DDD Index
    (https://atcddd.fhi.no/atc_ddd_index/) and its Guidelines for ATC classification and DDD
    assignment: the DDD is the assumed average maintenance dose per day for the main indication
    in adults, a unit of measurement, not a recommended dose.

    Worked example (metformin 1000 mg/day + gliclazide 80 mg/day = 0.5 + 0.5 DDD):

    >>> compute_ogld_ddd_total({"metformin": 1000.0, "gliclazide": 80.0})
    1.0
    """
    table: dict[str, float] = {}
    for name, ddd in ddd_mg.items():
        key = _normalise(name, "ddd_mg key")
        if key in table:
            raise DerivationError("ddd_mg key", name, "each drug listed once")
        table[key] = _checks.positive(f"ddd_mg[{name!r}]", ddd, "DDD in mg")
    seen: set[str] = set()
    total = 0.0
    for name, dose in doses.items():
        key = _normalise(name, "drug")
        if key in seen:
            raise DerivationError("drug", name, "each drug named once in doses")
        seen.add(key)
        if key not in table:
            raise DerivationError(
                "drug", name, f"a drug listed in ddd_mg ({', '.join(sorted(table))})"
            )
        daily_mg = _checks.non_negative(f"doses[{name!r}]", dose, "daily dose in mg")
        total += daily_mg / table[key]
    return total
