"""KITT, ITT glucose half-life and the insulin-resistance call ([@KITT-examples])."""

from __future__ import annotations

import math
import re
from contextlib import AbstractContextManager

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialdesk.derive import (
    KITT_WINDOW_MIN,
    DerivationError,
    compute_itt_half_life,
    compute_kitt,
    is_insulin_resistant,
)

TIMES = [0.0, 3.0, 6.0, 9.0, 12.0, 15.0]
MG_DL_PER_MMOL_L = 18.016

# Worked examples [@KITT-examples]: (glucose at TIMES in mg/dL, KITT %/min, t_half min).
WORKED: dict[str, tuple[list[float], float, float]] = {
    "A exact exponential": ([100.0, 100.0, 88.69, 78.66, 69.77, 61.88], 4.000, 17.33),
    "A rounded to 1 dp": ([100, 100.0, 88.7, 78.7, 69.8, 61.9], 3.996, 17.34),
    "B T2DM-like": ([180, 176, 165, 153, 144, 134], 2.271, 30.52),
    "C markedly resistant": ([162, 160, 155, 151, 147, 143], 0.926, 74.89),
    "D insulin-sensitive": ([90, 88, 78, 69, 60, 53], 4.255, 16.29),
}


def _raises(
    argument: str, shown_value: str
) -> AbstractContextManager[pytest.ExceptionInfo[DerivationError]]:
    """Expect a DerivationError whose message starts '<argument>=<value>: expected'."""
    return pytest.raises(
        DerivationError, match="^" + re.escape(f"{argument}={shown_value}: expected ")
    )


@pytest.mark.parametrize(("glucose", "kitt", "half_life"), WORKED.values(), ids=WORKED.keys())
def test_worked_examples(glucose: list[float], kitt: float, half_life: float) -> None:
    assert compute_kitt(TIMES, glucose) == pytest.approx(kitt, abs=0.005)
    assert compute_itt_half_life(TIMES, glucose) == pytest.approx(half_life, abs=0.01)


def test_b_in_mmol_per_l_gives_the_same_kitt() -> None:
    glucose = WORKED["B T2DM-like"][0]
    mmol = [g / MG_DL_PER_MMOL_L for g in glucose]
    assert mmol[0] == pytest.approx(9.991, abs=0.0005)
    assert compute_kitt(TIMES, mmol) == pytest.approx(2.271, abs=0.005)
    assert compute_kitt(TIMES, mmol) == pytest.approx(compute_kitt(TIMES, glucose), rel=1e-12)


def test_b_fitted_over_0_to_15_min_gives_2_051() -> None:
    glucose = WORKED["B T2DM-like"][0]
    assert compute_kitt(TIMES, glucose, window=(0.0, 15.0)) == pytest.approx(2.051, abs=0.005)
    assert compute_itt_half_life(TIMES, glucose, window=(0.0, 15.0)) == pytest.approx(
        33.80, abs=0.01
    )


def test_default_window_is_3_to_15_min() -> None:
    assert KITT_WINDOW_MIN == (3.0, 15.0)


def test_samples_outside_the_window_are_ignored() -> None:
    glucose = WORKED["B T2DM-like"][0]
    times = [-15.0, -5.0, *TIMES, 18.0, 21.0]
    padded = [181.0, 179.0, *glucose, 500.0, 1.0]  # wild values outside 3-15 min
    assert compute_kitt(times, padded) == pytest.approx(compute_kitt(TIMES, glucose), rel=1e-12)


def test_window_bounds_are_inclusive() -> None:
    # Exactly three samples, at the two window bounds and one inside.
    assert compute_kitt([3.0, 9.0, 15.0], [100.0, 90.0, 81.0]) > 0


def test_numpy_arrays_are_accepted() -> None:
    glucose = np.array(WORKED["D insulin-sensitive"][0], dtype=np.float64)
    assert compute_kitt(np.array(TIMES), glucose) == pytest.approx(4.255, abs=0.005)  # type: ignore[arg-type]


def test_kitt_times_half_life_is_100_ln2() -> None:
    glucose = WORKED["C markedly resistant"][0]
    product = compute_kitt(TIMES, glucose) * compute_itt_half_life(TIMES, glucose)
    assert product == pytest.approx(100 * math.log(2), rel=1e-12)


# --- is_insulin_resistant ----------------------------------------------------------------------


def test_lee_2008_cutoff_is_strict() -> None:
    assert is_insulin_resistant(0.926, cutoff=2.5)  # case C
    assert is_insulin_resistant(2.499, cutoff=2.5)
    assert not is_insulin_resistant(2.5, cutoff=2.5)
    assert not is_insulin_resistant(4.255, cutoff=2.5)  # case D


def test_graci_1999_inclusive_cutoff_via_nextafter() -> None:
    graci = math.nextafter(4.8, math.inf)
    assert is_insulin_resistant(4.8, cutoff=graci)
    assert not is_insulin_resistant(4.81, cutoff=graci)
    assert not is_insulin_resistant(4.8, cutoff=4.8)


@pytest.mark.parametrize(
    ("kitt", "cutoff", "argument", "shown"),
    [
        (0.0, 2.5, "kitt", "0.0"),
        (-1.0, 2.5, "kitt", "-1.0"),
        (float("nan"), 2.5, "kitt", "nan"),
        (2.0, 0.0, "cutoff", "0.0"),
        (2.0, float("inf"), "cutoff", "inf"),
    ],
)
def test_is_insulin_resistant_rejects(
    kitt: float, cutoff: float, argument: str, shown: str
) -> None:
    with _raises(argument, shown):
        is_insulin_resistant(kitt, cutoff)


# --- guards --------------------------------------------------------------------------------------


def test_lengths_differ() -> None:
    with _raises("len(glucose)", "5") as exc:
        compute_kitt(TIMES, [180, 176, 165, 153, 144])
    assert "len(times_min)=6" in str(exc.value)


@pytest.mark.parametrize(("bad", "shown"), [(-3.0, "-3.0"), (0.0, "0.0")])
def test_non_positive_glucose(bad: float, shown: str) -> None:
    glucose = [180.0, 176.0, bad, 153.0, 144.0, 134.0]
    with _raises("glucose[2]", shown) as exc:
        compute_kitt(TIMES, glucose)
    assert str(exc.value) == f"glucose[2]={shown}: expected a positive concentration"
    assert exc.value.argument == "glucose[2]"
    assert exc.value.value == bad


def test_non_positive_glucose_outside_the_window_is_still_rejected() -> None:
    with _raises("glucose[0]", "-1.0"):
        compute_kitt(TIMES, [-1.0, 176, 165, 153, 144, 134])


@pytest.mark.parametrize(("bad", "shown"), [(math.nan, "nan"), (math.inf, "inf")])
def test_non_finite_glucose(bad: float, shown: str) -> None:
    glucose = [180.0, 176.0, 165.0, bad, 144.0, 134.0]
    with _raises("glucose[3]", shown) as exc:
        compute_kitt(TIMES, glucose)
    assert "finite" in exc.value.expected


def test_non_numeric_glucose() -> None:
    with _raises("glucose[1]", "'176'"):
        compute_kitt(TIMES, [180, "176", 165, 153, 144, 134])  # type: ignore[list-item]


def test_non_finite_time() -> None:
    with _raises("times_min[4]", "nan"):
        compute_kitt([0, 3, 6, 9, math.nan, 15], [180, 176, 165, 153, 144, 134])


@pytest.mark.parametrize(
    ("times", "index", "shown"),
    [
        ([0, 3, 6, 6, 12, 15], 3, "6"),
        ([0, 3, 9, 6, 12, 15], 3, "6"),
    ],
)
def test_times_not_strictly_increasing(times: list[float], index: int, shown: str) -> None:
    with _raises(f"times_min[{index}]", shown) as exc:
        compute_kitt(times, [180, 176, 165, 153, 144, 134])
    assert "strictly increasing" in str(exc.value)


def test_fewer_than_three_samples_in_window() -> None:
    with _raises("times_min", "(0.0, 3.0, 6.0, 20.0)") as exc:
        compute_kitt([0, 3, 6, 20], [180, 176, 165, 120])
    assert "at least 3 samples with 3.0 <= t <= 15.0 min (found 2)" in str(exc.value)


@pytest.mark.parametrize(
    "glucose",
    [
        [150, 150, 150, 150, 150, 150],  # flat: slope exactly 0
        [150, 150, 152, 155, 157, 160],  # rising
    ],
)
def test_non_negative_slope_is_not_computable(glucose: list[float]) -> None:
    in_window = repr(tuple(float(g) for g in glucose[1:]))
    with _raises("glucose", in_window) as exc:
        compute_kitt(TIMES, glucose)
    assert "not computable" in str(exc.value)
    with _raises("glucose", in_window):
        compute_itt_half_life(TIMES, glucose)


@pytest.mark.parametrize(
    ("window", "argument", "shown"),
    [
        ((15.0, 3.0), "window", "(15.0, 3.0)"),
        ((3.0, 3.0), "window", "(3.0, 3.0)"),
        ((math.nan, 15.0), "window[0]", "nan"),
        ([3.0, 15.0], "window", "[3.0, 15.0]"),
    ],
)
def test_bad_window(window: tuple[float, float], argument: str, shown: str) -> None:
    with _raises(argument, shown):
        compute_kitt(TIMES, [180, 176, 165, 153, 144, 134], window=window)


# --- properties --------------------------------------------------------------------------------

rates = st.floats(min_value=0.002, max_value=0.2)  # per minute
start_glucose = st.floats(min_value=2.0, max_value=600.0)
noise = st.lists(st.floats(min_value=-0.002, max_value=0.002), min_size=6, max_size=6)


def _curve(g0: float, k: float, eps: list[float]) -> list[float]:
    return [g0 * math.exp(-k * t + e) for t, e in zip(TIMES, eps, strict=True)]


@given(start_glucose, rates, noise, st.floats(min_value=1e-3, max_value=1e3))
def test_kitt_is_invariant_to_scaling_glucose(
    g0: float, k: float, eps: list[float], factor: float
) -> None:
    glucose = _curve(g0, k, eps)
    scaled = [g * factor for g in glucose]
    assert compute_kitt(TIMES, scaled) == pytest.approx(
        compute_kitt(TIMES, glucose), rel=1e-7, abs=1e-9
    )


@given(start_glucose, rates)
def test_exact_exponential_recovers_the_rate(g0: float, k: float) -> None:
    glucose = _curve(g0, k, [0.0] * 6)
    assert compute_kitt(TIMES, glucose) == pytest.approx(k * 100, rel=1e-9)
    assert compute_itt_half_life(TIMES, glucose) == pytest.approx(math.log(2) / k, rel=1e-9)


@given(start_glucose, rates, noise, st.floats(min_value=0.1, max_value=10.0))
def test_resistance_call_matches_the_comparison(
    g0: float, k: float, eps: list[float], cutoff: float
) -> None:
    kitt = compute_kitt(TIMES, _curve(g0, k, eps))
    assert is_insulin_resistant(kitt, cutoff) is (kitt < cutoff)
