"""HOMA1-IR and HOMA1-%B (Matthews 1985; [@HOMA-example])."""

from __future__ import annotations

import math
import re
from contextlib import AbstractContextManager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialdesk.derive import DerivationError, compute_homa_b, compute_homa_ir


def _raises(
    argument: str, shown_value: str
) -> AbstractContextManager[pytest.ExceptionInfo[DerivationError]]:
    return pytest.raises(
        DerivationError, match="^" + re.escape(f"{argument}={shown_value}: expected ")
    )


def test_worked_example_homa_ir() -> None:
    assert compute_homa_ir(5.0, 10.0) == pytest.approx(2.222, abs=0.0005)


def test_worked_example_homa_b() -> None:
    assert compute_homa_b(5.0, 10.0) == pytest.approx(133.3, abs=0.05)


def test_mg_dl_form_agrees() -> None:
    # HOMA-IR = G(mg/dL) x I / 405 with 1 mmol/L = 18 mg/dL in that constant.
    assert compute_homa_ir(90.0 / 18.0, 10.0) == pytest.approx(90.0 * 10.0 / 405.0)
    # HOMA-%B = 360 x I / (G(mg/dL) - 63).
    assert compute_homa_b(90.0 / 18.0, 10.0) == pytest.approx(360.0 * 10.0 / (90.0 - 63.0))


@pytest.mark.parametrize("func", [compute_homa_ir, compute_homa_b])
@pytest.mark.parametrize(
    ("glucose", "insulin", "argument", "shown"),
    [
        (0.0, 10.0, "fasting_glucose_mmol_l", "0.0"),
        (-5.0, 10.0, "fasting_glucose_mmol_l", "-5.0"),
        (math.nan, 10.0, "fasting_glucose_mmol_l", "nan"),
        (90.0, 10.0, "fasting_glucose_mmol_l", "90.0"),  # mg/dL passed as mmol/L
        (5.0, 0.0, "fasting_insulin_uiu_ml", "0.0"),
        (5.0, -1.0, "fasting_insulin_uiu_ml", "-1.0"),
        (5.0, math.inf, "fasting_insulin_uiu_ml", "inf"),
    ],
)
def test_guards(func: object, glucose: float, insulin: float, argument: str, shown: str) -> None:
    assert callable(func)
    with _raises(argument, shown) as exc:
        func(glucose, insulin)
    assert exc.value.argument == argument


def test_mg_dl_glucose_message_says_so() -> None:
    with _raises("fasting_glucose_mmol_l", "126.0") as exc:
        compute_homa_ir(126.0, 10.0)
    assert "mg/dL" in str(exc.value)


@pytest.mark.parametrize(("glucose", "shown"), [(3.5, "3.5"), (3.0, "3.0")])
def test_homa_b_undefined_at_or_below_3_5(glucose: float, shown: str) -> None:
    with _raises("fasting_glucose_mmol_l", shown) as exc:
        compute_homa_b(glucose, 10.0)
    assert "above 3.5 mmol/L" in str(exc.value)
    # HOMA-IR remains defined there.
    assert compute_homa_ir(glucose, 10.0) > 0


glucose_mmol = st.floats(min_value=3.6, max_value=30.0)
insulin_uiu = st.floats(min_value=0.5, max_value=300.0)


@given(glucose_mmol, insulin_uiu, st.floats(min_value=0.1, max_value=1.5))
def test_homa_ir_is_proportional_to_each_input(
    glucose: float, insulin: float, factor: float
) -> None:
    base = compute_homa_ir(glucose, insulin)
    assert compute_homa_ir(glucose, insulin * factor) == pytest.approx(base * factor)
    assert compute_homa_ir(glucose * factor, insulin) == pytest.approx(base * factor)


@given(glucose_mmol, glucose_mmol, insulin_uiu)
def test_homa_b_falls_as_glucose_rises(g1: float, g2: float, insulin: float) -> None:
    low, high = sorted((g1, g2))
    assert compute_homa_b(low, insulin) >= compute_homa_b(high, insulin)
