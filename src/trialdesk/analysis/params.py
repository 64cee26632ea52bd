"""Analysis parameters (ADaM PARAMCD/PARAM) for the efficacy dataset ADEFF.

Each parameter names where its values come from: a catalogue element recorded in the
``measurements`` frame, a column of the ``dosing`` frame, or a derivation from
`trialdesk.derive` (KITT from the ITT glucose samples, HOMA1-IR from fasting glucose and
insulin, insulin U/kg/day from the daily dose and the weight of the same visit). PARAMCD follows
the CDISC ADaM rule of at most 8 characters, upper case (ADaMIG v1.3, section 3.3.4).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParamSpec:
    """One analysis parameter.

    Attributes:
        paramcd: ADaM PARAMCD (<= 8 characters).
        param: ADaM PARAM, the label shown in tables, with the unit.
        unit: the analysis unit (the catalogue's canonical unit).
        element: the catalogue element the parameter reports (used to match protocol outcomes).
        source: ``measurements``, ``dosing``, ``itt`` or ``derived``.
        short: a short label for figure axes.
        decimals: decimals shown in tables (the precision the assay or dose is recorded to + 1).
    """

    paramcd: str
    param: str
    unit: str
    element: str
    source: str
    short: str
    decimals: int = 2

    @property
    def change_unit(self) -> str:
        """The unit of a change from baseline: HbA1c in % changes by percentage points."""
        return "percentage points" if self.unit == "%" else self.unit


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("HBA1C", "Haemoglobin A1c (%)", "%", "hba1c", "measurements", "HbA1c", 2),
    ParamSpec(
        "FBG",
        "Fasting plasma glucose (mmol/L)",
        "mmol/L",
        "fasting_glucose",
        "measurements",
        "FBG",
        2,
    ),
    ParamSpec(
        "PBG",
        "2-h post-meal plasma glucose (mmol/L)",
        "mmol/L",
        "postmeal_glucose",
        "measurements",
        "PBG",
        2,
    ),
    ParamSpec(
        "CPEPF",
        "Fasting C-peptide (ng/mL)",
        "ng/mL",
        "c_peptide",
        "measurements",
        "Fasting C-peptide",
        3,
    ),
    ParamSpec(
        "CPEPS",
        "Stimulated C-peptide (ng/mL)",
        "ng/mL",
        "stimulated_c_peptide",
        "measurements",
        "Stimulated C-peptide",
        3,
    ),
    ParamSpec(
        "INSF",
        "Fasting serum insulin (µIU/mL)",
        "µIU/mL",
        "fasting_insulin",
        "measurements",
        "Fasting insulin",
        2,
    ),
    ParamSpec("HOMAIR", "HOMA1-IR", "1", "homa_ir", "derived", "HOMA-IR", 2),
    ParamSpec(
        "KITT", "ITT glucose disappearance rate KITT (%/min)", "%/min", "kitt", "itt", "KITT", 3
    ),
    ParamSpec(
        "INSDOSE",
        "Exogenous insulin dose (U/day)",
        "U/day",
        "insulin_daily_dose",
        "dosing",
        "Insulin U/day",
        1,
    ),
    ParamSpec(
        "INSDOSKG",
        "Exogenous insulin dose (U/kg/day)",
        "U/kg/day",
        "insulin_dose_per_kg",
        "derived",
        "Insulin U/kg/day",
        3,
    ),
    ParamSpec(
        "OGLDDDD",
        "Oral glucose-lowering drugs (WHO DDD/day)",
        "DDD/day",
        "ogld_ddd",
        "dosing",
        "OGLD DDD",
        2,
    ),
    ParamSpec("WEIGHT", "Body weight (kg)", "kg", "weight", "measurements", "Weight", 1),
)

PARAMS_BY_CODE: dict[str, ParamSpec] = {p.paramcd: p for p in PARAMS}
PARAMS_BY_ELEMENT: dict[str, ParamSpec] = {p.element: p for p in PARAMS}

#: Measurement elements copied into ADEFF as they are (derived parameters are computed instead).
MEASURED_ELEMENTS: dict[str, ParamSpec] = {
    p.element: p for p in PARAMS if p.source == "measurements"
}


def param(paramcd: str) -> ParamSpec:
    """The parameter with this PARAMCD; KeyError naming the known codes otherwise."""
    try:
        return PARAMS_BY_CODE[paramcd]
    except KeyError:
        known = ", ".join(PARAMS_BY_CODE)
        raise KeyError(f"unknown PARAMCD {paramcd!r}; known: {known}") from None
