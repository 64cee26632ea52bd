"""Insulin per kg, percent change/reduction, dose reduction, DDDs [@InsulinDose-definitions]."""

from __future__ import annotations

import dataclasses
import math
import re
from contextlib import AbstractContextManager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialdesk.derive import (
    RESPONDER_THRESHOLD_PERCENT,
    WHO_DDD_MG,
    DerivationError,
    DoseReduction,
    compute_daily_insulin_dose_per_kg,
    compute_dose_reduction,
    compute_ogld_ddd_total,
    compute_percent_change,
    compute_percent_reduction,
)


def _raises(
    argument: str, shown_value: str
) -> AbstractContextManager[pytest.ExceptionInfo[DerivationError]]:
    return pytest.raises(
        DerivationError, match="^" + re.escape(f"{argument}={shown_value}: expected ")
    )


# --- insulin per kg ------------------------------------------------------------------------------


def test_insulin_per_kg() -> None:
    assert compute_daily_insulin_dose_per_kg(49.0, 70.0) == pytest.approx(0.7)
    assert compute_daily_insulin_dose_per_kg(0.0, 70.0) == 0.0


@pytest.mark.parametrize(
    ("units", "weight", "argument", "shown"),
    [
        (-1.0, 70.0, "total_daily_units", "-1.0"),
        (math.nan, 70.0, "total_daily_units", "nan"),
        (40.0, 0.0, "weight_kg", "0.0"),
        (40.0, -70.0, "weight_kg", "-70.0"),
    ],
)
def test_insulin_per_kg_guards(units: float, weight: float, argument: str, shown: str) -> None:
    with _raises(argument, shown):
        compute_daily_insulin_dose_per_kg(units, weight)


# --- percent change / reduction ------------------------------------------------------------------


def test_percent_change_and_reduction() -> None:
    assert compute_percent_change(40.0, 10.0) == -75.0
    assert compute_percent_reduction(40.0, 10.0) == 75.0
    assert compute_percent_change(40.0, 50.0) == 25.0
    assert compute_percent_reduction(40.0, 0.0) == 100.0


@pytest.mark.parametrize("func", [compute_percent_change, compute_percent_reduction])
@pytest.mark.parametrize(
    ("baseline", "value", "argument", "shown"),
    [
        (0.0, 10.0, "baseline", "0.0"),
        (0, 10.0, "baseline", "0"),
        (math.nan, 10.0, "baseline", "nan"),
        (40.0, math.inf, "value", "inf"),
    ],
)
def test_percent_guards(
    func: object, baseline: float, value: float, argument: str, shown: str
) -> None:
    assert callable(func)
    with _raises(argument, shown):
        func(baseline, value)


finite = st.floats(min_value=-1e100, max_value=1e100, allow_nan=False)
non_zero = finite.filter(lambda x: abs(x) >= 1e-100)


@given(non_zero, finite)
def test_percent_change_is_minus_percent_reduction(baseline: float, value: float) -> None:
    assert compute_percent_change(baseline, value) == -compute_percent_reduction(baseline, value)


@given(non_zero)
def test_no_change_is_zero_percent(baseline: float) -> None:
    assert compute_percent_change(baseline, baseline) == 0.0


# --- dose reduction ------------------------------------------------------------------------------


def test_bhansali_like_insulin_responder_in_u_per_day_and_u_per_kg_day() -> None:
    # 56 U/day at 80 kg -> 14 U/day at 74.5 kg (responders lost 5.5 kg in Bhansali 2009).
    per_day = compute_dose_reduction(56.0, 14.0)
    assert per_day == DoseReduction(
        baseline_dose=56.0,
        followup_dose=14.0,
        absolute_change=-42.0,
        percent_reduction=75.0,
        responder=True,
        independent=False,
    )
    per_kg = compute_dose_reduction(
        compute_daily_insulin_dose_per_kg(56.0, 80.0),
        compute_daily_insulin_dose_per_kg(14.0, 74.5),
    )
    assert per_kg.percent_reduction == pytest.approx((1 - (14 / 74.5) / (56 / 80)) * 100)
    assert per_kg.percent_reduction != pytest.approx(per_day.percent_reduction)
    assert per_kg.responder


def test_exactly_fifty_percent_is_a_responder() -> None:
    assert RESPONDER_THRESHOLD_PERCENT == 50.0
    assert compute_dose_reduction(0.7, 0.35).responder
    assert compute_dose_reduction(30.0, 15.0).responder
    assert not compute_dose_reduction(30.0, 15.01).responder


def test_insulin_independent() -> None:
    result = compute_dose_reduction(40.0, 0.0)
    assert result.independent
    assert result.responder
    assert result.percent_reduction == 100.0


def test_dose_increase_is_negative_reduction() -> None:
    result = compute_dose_reduction(40.0, 50.0)
    assert result.percent_reduction == -25.0
    assert result.absolute_change == 10.0
    assert not result.responder
    assert not result.independent


def test_ogld_as_mg_per_day_and_as_ddd_count() -> None:
    # Metformin 2000 -> 500 mg/day: 75 % reduction, whether in mg or in DDDs.
    in_mg = compute_dose_reduction(2000.0, 500.0)
    in_ddd = compute_dose_reduction(
        compute_ogld_ddd_total({"metformin": 2000.0, "glimepiride": 2.0}),
        compute_ogld_ddd_total({"metformin": 500.0}),
    )
    assert in_mg.percent_reduction == 75.0
    assert in_ddd.baseline_dose == 2.0
    assert in_ddd.followup_dose == 0.25
    assert in_ddd.percent_reduction == 87.5
    assert in_ddd.responder


def test_custom_threshold() -> None:
    assert not compute_dose_reduction(40.0, 20.0, responder_threshold_percent=75.0).responder
    assert compute_dose_reduction(40.0, 10.0, responder_threshold_percent=75.0).responder


def test_dose_reduction_is_frozen() -> None:
    result = compute_dose_reduction(40.0, 10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.responder = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "argument", "shown"),
    [
        ({"baseline_dose": 0.0, "followup_dose": 0.0}, "baseline_dose", "0.0"),
        ({"baseline_dose": -4.0, "followup_dose": 0.0}, "baseline_dose", "-4.0"),
        ({"baseline_dose": math.nan, "followup_dose": 0.0}, "baseline_dose", "nan"),
        ({"baseline_dose": 40.0, "followup_dose": -1.0}, "followup_dose", "-1.0"),
        ({"baseline_dose": 40.0, "followup_dose": math.inf}, "followup_dose", "inf"),
        (
            {"baseline_dose": 40.0, "followup_dose": 1.0, "responder_threshold_percent": 0.0},
            "responder_threshold_percent",
            "0.0",
        ),
        (
            {"baseline_dose": 40.0, "followup_dose": 1.0, "responder_threshold_percent": 150.0},
            "responder_threshold_percent",
            "150.0",
        ),
    ],
)
def test_dose_reduction_guards(kwargs: dict[str, float], argument: str, shown: str) -> None:
    with _raises(argument, shown):
        compute_dose_reduction(**kwargs)


doses = st.floats(min_value=0.01, max_value=1e4)
fractions = st.floats(min_value=0.0, max_value=2.0)


@given(doses, fractions)
def test_dose_reduction_properties(baseline: float, fraction: float) -> None:
    followup = baseline * fraction
    result = compute_dose_reduction(baseline, followup)
    assert result.responder is (result.percent_reduction >= 50.0)
    assert result.independent is (followup == 0.0)
    assert result.absolute_change == pytest.approx(followup - baseline)
    assert result.percent_reduction == pytest.approx(compute_percent_reduction(baseline, followup))


@given(doses)
def test_halving_is_always_a_responder(baseline: float) -> None:
    assert compute_dose_reduction(baseline, baseline / 2).responder


# --- OGLD defined daily doses --------------------------------------------------------------------


def test_who_ddd_table() -> None:
    assert dict(WHO_DDD_MG) == {
        "metformin": 2000.0,
        "glimepiride": 2.0,
        "gliclazide": 160.0,
        "glipizide": 10.0,
        "acarbose": 300.0,
        "sitagliptin": 100.0,
        "pioglitazone": 30.0,
        "repaglinide": 4.0,
    }
    with pytest.raises(TypeError):
        WHO_DDD_MG["metformin"] = 1.0  # type: ignore[index]


def test_ddd_total() -> None:
    assert compute_ogld_ddd_total({"metformin": 1000.0, "gliclazide": 80.0}) == 1.0
    assert compute_ogld_ddd_total({"metformin": 2000.0, "sitagliptin": 100.0}) == 2.0
    assert compute_ogld_ddd_total({}) == 0.0
    assert compute_ogld_ddd_total({"metformin": 0.0}) == 0.0


def test_ddd_names_are_case_and_space_insensitive() -> None:
    assert compute_ogld_ddd_total({" Metformin ": 2000.0, "PIOGLITAZONE": 15.0}) == 1.5


def test_custom_ddd_table() -> None:
    # e.g. modified-release gliclazide given its own DDD by the caller.
    table = {**WHO_DDD_MG, "gliclazide mr": 60.0}
    assert compute_ogld_ddd_total({"Gliclazide MR": 60.0}, table) == 1.0


def test_unknown_drug_is_named() -> None:
    with _raises("drug", "'metfromin'") as exc:
        compute_ogld_ddd_total({"metfromin": 1000.0})
    assert "metformin" in exc.value.expected
    assert exc.value.value == "metfromin"


@pytest.mark.parametrize(
    ("doses", "ddd", "argument", "shown"),
    [
        ({"metformin": -500.0}, WHO_DDD_MG, "doses['metformin']", "-500.0"),
        ({"metformin": math.nan}, WHO_DDD_MG, "doses['metformin']", "nan"),
        ({"metformin": 500.0, "Metformin": 500.0}, WHO_DDD_MG, "drug", "'Metformin'"),
        ({"": 500.0}, WHO_DDD_MG, "drug", "''"),
        ({1: 500.0}, WHO_DDD_MG, "drug", "1"),
        ({"metformin": 500.0}, {"metformin": 0.0}, "ddd_mg['metformin']", "0.0"),
        ({"metformin": 500.0}, {"metformin": 1.0, "METFORMIN": 2.0}, "ddd_mg key", "'METFORMIN'"),
    ],
)
def test_ddd_guards(
    doses: dict[str, float], ddd: dict[str, float], argument: str, shown: str
) -> None:
    with _raises(argument, shown):
        compute_ogld_ddd_total(doses, ddd)


@given(st.dictionaries(st.sampled_from(sorted(WHO_DDD_MG)), st.floats(0.0, 5000.0)))
def test_ddd_total_is_the_sum_of_per_drug_counts(doses: dict[str, float]) -> None:
    expected = sum(dose / WHO_DDD_MG[name] for name, dose in doses.items())
    assert compute_ogld_ddd_total(doses) == pytest.approx(expected)
