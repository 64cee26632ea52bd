"""BMI (WHO)."""

from __future__ import annotations

import math
import re
from contextlib import AbstractContextManager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialdesk.derive import DerivationError, compute_bmi


def _raises(
    argument: str, shown_value: str
) -> AbstractContextManager[pytest.ExceptionInfo[DerivationError]]:
    return pytest.raises(
        DerivationError, match="^" + re.escape(f"{argument}={shown_value}: expected ")
    )


def test_worked_example() -> None:
    assert compute_bmi(70.0, 1.75) == pytest.approx(22.857, abs=0.001)


def test_who_class_boundaries_are_reachable() -> None:
    assert compute_bmi(30.0 * 1.6**2, 1.6) == pytest.approx(30.0)
    assert compute_bmi(18.5 * 2.0**2, 2.0) == pytest.approx(18.5)


def test_three_metres_is_accepted() -> None:
    assert compute_bmi(90.0, 3.0) == pytest.approx(10.0)


def test_height_in_centimetres_is_named() -> None:
    with _raises("height_m", "170.0") as exc:
        compute_bmi(70.0, 170.0)
    assert "centimetres" in str(exc.value)
    assert exc.value.value == 170.0


@pytest.mark.parametrize(
    ("weight", "height", "argument", "shown"),
    [
        (0.0, 1.7, "weight_kg", "0.0"),
        (-70.0, 1.7, "weight_kg", "-70.0"),
        (math.nan, 1.7, "weight_kg", "nan"),
        (70.0, 0.0, "height_m", "0.0"),
        (70.0, -1.7, "height_m", "-1.7"),
        (70.0, math.inf, "height_m", "inf"),
        (70.0, 3.01, "height_m", "3.01"),
        (70.0, None, "height_m", "None"),
    ],
)
def test_guards(weight: float, height: float, argument: str, shown: str) -> None:
    with _raises(argument, shown):
        compute_bmi(weight, height)


weights = st.floats(min_value=1.0, max_value=400.0)
heights = st.floats(min_value=0.3, max_value=3.0)


@given(weights, weights, heights)
def test_monotonic_increasing_in_weight(w1: float, w2: float, height: float) -> None:
    low, high = sorted((w1, w2))
    assert compute_bmi(low, height) <= compute_bmi(high, height)


@given(weights, heights, heights)
def test_monotonic_decreasing_in_height(weight: float, h1: float, h2: float) -> None:
    short, tall = sorted((h1, h2))
    assert compute_bmi(weight, short) >= compute_bmi(weight, tall)


@given(weights, heights)
def test_inverse_formula(weight: float, height: float) -> None:
    assert compute_bmi(weight, height) * height**2 == pytest.approx(weight)
