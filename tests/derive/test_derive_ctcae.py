"""CTCAE v5.0 grades from laboratory values: every boundary of every grade [@CTCAE5]."""

from __future__ import annotations

import doctest

import pytest

from trialdesk.derive import ctcae
from trialdesk.derive.ctcae import (
    grade_aminotransferase,
    grade_creatinine,
    grade_hypoglycaemia,
    suggest_grade,
)
from trialdesk.derive.errors import DerivationError

LLN = 3.9  # mmol/L, the shipped glucose range


@pytest.mark.parametrize(
    ("glucose", "grade"),
    [
        (3.9, None),  # at the LLN: not below it
        (3.89, 1),
        (3.0, 1),  # grade 2 is *below* 3.0 mmol/L
        (2.99, 2),
        (2.2, 2),
        (2.19, 3),
        (1.7, 3),
        (1.69, 4),
        (0.0, 4),
    ],
)
def test_hypoglycaemia_grades_at_each_boundary(glucose: float, grade: int | None) -> None:
    got = grade_hypoglycaemia(glucose, LLN)
    assert (got.grade if got else None) == grade


def test_hypoglycaemia_reason_in_a_site_s_words() -> None:
    got = grade_hypoglycaemia(2.5, LLN)
    assert got is not None and got.term == "Hypoglycemia"
    assert str(got) == "CTCAE grade 2 (Hypoglycemia: glucose 2.5 mmol/L, below 3.0 mmol/L)"


@pytest.mark.parametrize(
    ("value", "grade"),
    [(40, None), (40.1, 1), (120, 1), (120.1, 2), (200, 2), (200.1, 3), (800, 3), (800.1, 4)],
)
def test_alt_with_a_normal_baseline_grades_by_uln(value: float, grade: int | None) -> None:
    got = grade_aminotransferase("alt", value, 40, baseline=30)
    assert (got.grade if got else None) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(89, None), (90, 1), (180, 1), (181, 2), (300, 2), (301, 3), (1200, 3), (1201, 4)],
)
def test_ast_with_an_abnormal_baseline_grades_by_baseline(value: float, grade: int | None) -> None:
    got = grade_aminotransferase("ast", value, 40, baseline=60)
    assert (got.grade if got else None) == grade
    if got:
        assert "× baseline (60 U/L)" in got.reason and got.term.startswith("Aspartate")


@pytest.mark.parametrize(
    ("value", "baseline", "grade", "words"),
    [
        (110, None, None, ""),
        (111, None, 1, "× ULN"),
        (165, None, 1, "× ULN"),
        (166, None, 2, "× ULN"),
        (331, None, 3, "× ULN"),
        (661, None, 4, "× ULN"),
        (100, 30, 3, "× baseline"),  # 3.3 × baseline beats 0.9 × ULN
        (100, 60, 2, "× baseline"),  # 1.7 × baseline
        (700, 60, 4, "× ULN"),  # 6.4 × ULN beats the baseline's grade 3
    ],
)
def test_creatinine_takes_the_worse_of_uln_and_baseline(
    value: float, baseline: float | None, grade: int | None, words: str
) -> None:
    got = grade_creatinine(value, 110, baseline)
    assert (got.grade if got else None) == grade
    if got:
        assert words in got.reason


def test_suggest_grade_routes_by_element_and_needs_the_bound() -> None:
    assert suggest_grade("fasting_glucose", 2.0, low=3.9, high=6.0).grade == 3  # type: ignore[union-attr]
    assert suggest_grade("fasting_glucose", 2.0, low=None, high=6.0) is None
    assert suggest_grade("alt", 130, low=None, high=40).grade == 2  # type: ignore[union-attr]
    assert suggest_grade("creatinine", 400, low=45, high=None) is None
    assert suggest_grade("haemoglobin", 70, low=120, high=170) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: grade_hypoglycaemia(2.0, 0),
        lambda: grade_hypoglycaemia(-1, 3.9),
        lambda: grade_aminotransferase("ggt", 100, 40),
        lambda: grade_aminotransferase("alt", 100, 40, baseline=0),
        lambda: grade_creatinine(100, 0),
    ],
)
def test_impossible_inputs_are_refused_by_name(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DerivationError):
        call()


def test_docstring_examples() -> None:
    assert doctest.testmod(ctcae).failed == 0
