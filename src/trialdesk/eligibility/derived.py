"""Derived data elements (age, BMI, KITT, HOMA-IR, insulin dose per kg) from recorded ones.

The formulas live in `trialdesk.derive`; this module only converts the inputs to the units those
formulas take and wraps the result in its catalogue unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from trialdesk.derive import (
    compute_age,
    compute_bmi,
    compute_daily_insulin_dose_per_kg,
    compute_homa_ir,
    compute_kitt,
)
from trialdesk.units import Quantity, convert


def _magnitude(
    values: Mapping[str, Any], name: str, unit: str, analyte: str | None = None
) -> float:
    return float(convert(values[name], unit, analyte=analyte, field=name).magnitude)


def _age(values: Mapping[str, Any]) -> Any:
    return Quantity(compute_age(values["date_of_birth"], values["screening_date"]), "year")


def _bmi(values: Mapping[str, Any]) -> Any:
    weight = _magnitude(values, "weight", "kg")
    height = _magnitude(values, "height", "m")
    return Quantity(compute_bmi(weight, height), "kg/m**2")


def _kitt(values: Mapping[str, Any]) -> Any:
    series = values["itt_glucose"]
    return Quantity(compute_kitt(list(series.times), list(series.values.magnitude)), "percent/min")


def _homa_ir(values: Mapping[str, Any]) -> Any:
    glucose = _magnitude(values, "fasting_glucose", "mmol/L", "glucose")
    insulin = _magnitude(values, "fasting_insulin", "micro_insulin_unit/mL", "insulin")
    return Quantity(compute_homa_ir(glucose, insulin), "dimensionless")


def _insulin_dose_per_kg(values: Mapping[str, Any]) -> Any:
    dose = _magnitude(values, "insulin_daily_dose", "insulin_unit/day")
    weight = _magnitude(values, "weight", "kg")
    return Quantity(compute_daily_insulin_dose_per_kg(dose, weight), "insulin_unit/kg/day")


DERIVATIONS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "age": _age,
    "bmi": _bmi,
    "kitt": _kitt,
    "homa_ir": _homa_ir,
    "insulin_dose_per_kg": _insulin_dose_per_kg,
}
