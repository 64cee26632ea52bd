"""Anthropometric derivations."""

from __future__ import annotations

from trialdesk.derive import _checks
from trialdesk.derive.errors import DerivationError

#: Heights above this (metres) are taken as a unit error: 3 m exceeds any recorded human height,
#: while a height in centimetres (e.g. 170) is far above it.
_MAX_PLAUSIBLE_HEIGHT_M = 3.0


def compute_bmi(weight_kg: float, height_m: float) -> float:
    """Body mass index (kg/m^2).

    Formula: ``BMI = weight (kg) / height (m)^2``.

    Permitted values: weight finite and > 0 kg; height finite, > 0 and <= 3 m. A height above
    3 m almost certainly means centimetres were passed, and raises `DerivationError` saying so
    rather than returning a BMI 10,000 times too small.

    Source: WHO, Obesity: preventing and managing the global epidemic, Technical Report Series
    894 (2000) (BMI definition and adult classes: underweight < 18.5, normal 18.5-24.9,
    overweight 25-29.9, obese >= 30 kg/m^2). LOINC 39156-5 "Body mass index (BMI) [Ratio]".

    Worked example (70 kg, 1.75 m):

    >>> round(compute_bmi(70.0, 1.75), 2)
    22.86
    """
    weight = _checks.positive("weight_kg", weight_kg, "body weight in kg")
    height = _checks.positive("height_m", height_m, "height in metres")
    if height > _MAX_PLAUSIBLE_HEIGHT_M:
        raise DerivationError(
            "height_m",
            height_m,
            f"a height in metres (<= {_MAX_PLAUSIBLE_HEIGHT_M:g} m); this looks like centimetres, "
            "divide by 100",
        )
    return weight / (height * height)
