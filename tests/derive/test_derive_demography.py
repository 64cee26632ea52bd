"""Age in completed years, with the 29 February convention."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from trialdesk.derive import DerivationError, compute_age


def _raises(
    argument: str, shown_value: str
) -> AbstractContextManager[pytest.ExceptionInfo[DerivationError]]:
    return pytest.raises(
        DerivationError, match="^" + re.escape(f"{argument}={shown_value}: expected ")
    )


@pytest.mark.parametrize(
    ("at", "age"),
    [
        (date(1980, 6, 15), 0),
        (date(2020, 6, 14), 39),
        (date(2020, 6, 15), 40),
        (date(2020, 12, 31), 40),
        (date(2021, 1, 1), 40),
    ],
)
def test_completed_years(at: date, age: int) -> None:
    assert compute_age(date(1980, 6, 15), at) == age


@pytest.mark.parametrize(
    ("at", "age"),
    [
        (date(2001, 2, 28), 0),  # non-leap year: still 0 on 28 Feb
        (date(2001, 3, 1), 1),  # ... and 1 on 1 March
        (date(2004, 2, 28), 3),  # leap year: still 3 on 28 Feb
        (date(2004, 2, 29), 4),  # ... and 4 on 29 Feb
        (date(2021, 2, 28), 20),
        (date(2021, 3, 1), 21),
        (date(2100, 2, 28), 99),  # 2100 is not a leap year
        (date(2100, 3, 1), 100),
    ],
)
def test_born_on_29_february_turns_older_on_1_march_in_non_leap_years(at: date, age: int) -> None:
    assert compute_age(date(2000, 2, 29), at) == age


def test_at_before_birth_is_named() -> None:
    with _raises("at", "1979-12-31") as exc:
        compute_age(date(1980, 1, 1), date(1979, 12, 31))
    assert "birth_date=1980-01-01" in str(exc.value)
    assert exc.value.value == date(1979, 12, 31)


def test_datetime_is_refused() -> None:
    with _raises("at", "2020-01-01T12:00:00"):
        compute_age(date(1980, 1, 1), datetime(2020, 1, 1, 12, 0))
    with _raises("birth_date", "1980-01-01T00:00:00"):
        compute_age(datetime(1980, 1, 1), date(2020, 1, 1))


def test_non_date_is_refused() -> None:
    with _raises("birth_date", "'1980-01-01'"):
        compute_age("1980-01-01", date(2020, 1, 1))  # type: ignore[arg-type]


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@given(dates, st.integers(min_value=0, max_value=40_000))
def test_age_is_non_decreasing_and_steps_by_at_most_one(born: date, days: int) -> None:
    at = born + timedelta(days=days)
    assume(at <= date(2200, 12, 30))
    age = compute_age(born, at)
    next_age = compute_age(born, at + timedelta(days=1))
    assert 0 <= age <= days // 365
    assert next_age - age in (0, 1)


@given(dates, st.integers(min_value=1, max_value=120))
def test_age_on_anniversary_and_the_day_before(born: date, years: int) -> None:
    assume(not (born.month == 2 and born.day == 29))
    anniversary = born.replace(year=born.year + years)
    assert compute_age(born, anniversary) == years
    assert compute_age(born, anniversary - timedelta(days=1)) == years - 1
