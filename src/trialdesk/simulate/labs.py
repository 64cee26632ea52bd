"""Laboratory and clinic unit conventions of simulated records, and rounding as reported.

Values are generated in the catalogue's canonical units (mmol/L, %, µIU/mL, ng/mL, kg, cm) and
then written the way the reporting laboratory prints them: in its unit, rounded to the decimals
that unit is reported to (`trialdesk.units.convert.REPORTING_DECIMALS`). Conversions use
`trialdesk.units.convert` (glucose 18.016 mg/dL per mmol/L; HbA1c IFCC master equation; insulin
6.0 pmol/L per µIU/mL; C-peptide 3020.3 g/mol), so a simulated record round-trips through the
eligibility evaluator and the store exactly as a typed-in one would.

The mix of laboratories is an assumption chosen to exercise unit handling: the study site's own
laboratory reports like most Chinese hospital laboratories (glucose mmol/L, HbA1c NGSP %,
insulin µIU/mL, C-peptide ng/mL); referring laboratories report IFCC mmol/mol HbA1c, molar
insulin/C-peptide, or conventional mg/dL glucose.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from trialdesk.units.convert import convert, quantity, reporting_decimals

#: Analyte of each element whose unit conversion needs one (see trialdesk.units.convert).
_ANALYTE = {
    "fasting_glucose": "glucose",
    "postmeal_glucose": "glucose",
    "ogtt_2h_glucose": "glucose",
    "itt_glucose": "glucose",
    "hba1c": "hba1c",
    "fasting_insulin": "insulin",
    "c_peptide": "c_peptide",
    "stimulated_c_peptide": "c_peptide",
}

#: Canonical unit of each element the generators produce (as in catalogue/elements.yaml).
CANONICAL_UNIT = {
    "fasting_glucose": "mmol/L",
    "postmeal_glucose": "mmol/L",
    "ogtt_2h_glucose": "mmol/L",
    "itt_glucose": "mmol/L",
    "hba1c": "%",
    "fasting_insulin": "µIU/mL",
    "c_peptide": "ng/mL",
    "stimulated_c_peptide": "ng/mL",
    "weight": "kg",
    "height": "cm",
    "diabetes_duration": "year",
    "insulin_daily_dose": "U/day",
    "ogld_ddd": "dimensionless",
    # The safety panel (simulate.safety_labs), reported by the site laboratory in these units.
    "alt": "U/L",
    "ast": "U/L",
    "creatinine": "µmol/L",
    "haemoglobin": "g/L",
    "white_cell_count": "10^9/L",
    "platelets": "10^9/L",
}


@dataclass(frozen=True)
class LabProfile:
    """The units one laboratory (glucose, HbA1c, insulin, C-peptide) and one clinic
    (weight, height) report in."""

    name: str
    glucose: str
    hba1c: str
    insulin: str
    c_peptide: str
    weight: str = "kg"
    height: str = "cm"

    def unit_for(self, element: str) -> str:
        """The unit this profile reports `element` in (its canonical unit if not listed)."""
        analyte = _ANALYTE.get(element)
        by_analyte = {
            "glucose": self.glucose,
            "hba1c": self.hba1c,
            "insulin": self.insulin,
            "c_peptide": self.c_peptide,
        }
        if analyte is not None:
            return by_analyte[analyte]
        if element == "weight":
            return self.weight
        if element == "height":
            return self.height
        return CANONICAL_UNIT[element]


SITE_LAB = LabProfile("site laboratory", "mmol/L", "%", "µIU/mL", "ng/mL")

#: (profile, probability) of the laboratory a candidate's screening results come from.
LAB_MIX: tuple[tuple[LabProfile, float], ...] = (
    (SITE_LAB, 0.60),
    (LabProfile("referral laboratory, IFCC/SI", "mmol/L", "mmol/mol", "pmol/L", "nmol/L"), 0.15),
    (LabProfile("referral laboratory, conventional", "mg/dL", "%", "µIU/mL", "ng/mL"), 0.15),
    (LabProfile("referral laboratory, mixed", "mg/dL", "mmol/mol", "mIU/L", "pmol/L"), 0.10),
)

#: (weight unit, height unit, probability) of the clinic's anthropometry (assumption).
BODY_UNIT_MIX: tuple[tuple[str, str, float], ...] = (
    ("kg", "cm", 0.95),
    ("lb", "in", 0.03),
    ("kg", "m", 0.02),
)


def choose_lab(rng: np.random.Generator) -> LabProfile:
    """A laboratory profile drawn from `LAB_MIX`, with anthropometry units from `BODY_UNIT_MIX`."""
    lab = LAB_MIX[int(rng.choice(len(LAB_MIX), p=[p for _, p in LAB_MIX]))][0]
    weight, height, _ = BODY_UNIT_MIX[
        int(rng.choice(len(BODY_UNIT_MIX), p=[p for _, _, p in BODY_UNIT_MIX]))
    ]
    return LabProfile(lab.name, lab.glucose, lab.hba1c, lab.insulin, lab.c_peptide, weight, height)


@lru_cache(maxsize=256)
def _affine(element: str, from_unit: str, to_unit: str) -> tuple[float, float]:
    """(slope, intercept) of the conversion, taken from `trialdesk.units.convert` once.

    Every conversion used here is affine (unit factors, molar masses, the insulin factor and
    the HbA1c master equation), so two points determine it exactly.
    """
    analyte = _ANALYTE.get(element)

    def at(x: float) -> float:
        q = quantity(x, from_unit, analyte=analyte)
        return float(convert(q, to_unit, analyte=analyte).magnitude)

    intercept = at(0.0)
    return at(1.0) - intercept, intercept


@lru_cache(maxsize=256)
def _decimals(unit: str, analyte: str | None) -> int | None:
    return reporting_decimals(quantity(1.0, unit, analyte=analyte).units)


def as_reported(element: str, canonical_value: float, unit: str) -> float:
    """`canonical_value` (in the element's canonical unit) converted to `unit` and rounded to the
    decimals that unit is reported to.

    >>> as_reported("fasting_glucose", 7.0, "mg/dL"), as_reported("hba1c", 7.0, "mmol/mol")
    (126.0, 53.0)
    """
    slope, intercept = _affine(element, CANONICAL_UNIT[element], unit)
    value = slope * float(canonical_value) + intercept
    decimals = _decimals(unit, _ANALYTE.get(element))
    return round(value, decimals) if decimals is not None else value


def to_canonical(element: str, value: float, unit: str) -> float:
    """A reported value back in the element's canonical unit (not rounded)."""
    slope, intercept = _affine(element, unit, CANONICAL_UNIT[element])
    return slope * float(value) + intercept
