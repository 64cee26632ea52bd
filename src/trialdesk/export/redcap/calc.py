"""REDCap calculated-field formulas for the catalogue's derivations.

REDCap calc syntax ([@REDCap]): `[field]`, `[event][field]` across events, `round(x, dp)`,
`rounddown`, `datediff([d1], [d2], "y", "ymd")`, `^` for powers. Derivations with no closed
form REDCap can evaluate (KITT: a log-linear regression) are exported as read-only text fields
that trialdesk fills in.
"""

from __future__ import annotations

from collections.abc import Callable

# Placeholders {field} are replaced by a REDCap field reference, event-prefixed when the field
# is collected on another form than the calc field (see `reference`).
FORMULAS: dict[str, str] = {
    # Age in completed years at screening (ICH E3 demography); datediff "y" counts 365.2425-day
    # years, so rounddown can differ from the calendar age on the day before a birthday.
    "age": 'rounddown(datediff({date_of_birth}, {screening_date}, "y", "ymd"), 0)',
    # BMI = weight (kg) / height (m)^2 (WHO); height in cm is measured once at screening.
    "bmi": "round({weight} / (({height} / 100) ^ 2), 1)",
    # HOMA1-IR = FPG (mmol/L) × fasting insulin (µU/mL) / 22.5 (Matthews, Diabetologia 1985).
    "homa_ir": "round({fasting_glucose} * {fasting_insulin} / 22.5, 2)",
    # Daily insulin dose per kg body weight ([@InsulinDose-definitions]).
    "insulin_dose_per_kg": "round({insulin_daily_dose} / {weight}, 2)",
}


def render(derivation: str, reference: Callable[[str], str]) -> str | None:
    """The formula of `derivation` with each {field} replaced by `reference(field)`."""
    template = FORMULAS.get(derivation)
    if template is None:
        return None
    fields = {
        name: reference(name)
        for name in (
            "date_of_birth",
            "screening_date",
            "weight",
            "height",
            "fasting_glucose",
            "fasting_insulin",
            "insulin_daily_dose",
        )
        if "{" + name + "}" in template
    }
    return template.format(**fields)
