"""Safety-reporting clocks: site 24 h (ICH E6(R3)), sponsor 7/15 days for SUSARs (ICH E2A)."""

from __future__ import annotations

import doctest
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from trialdesk.derive import reporting
from trialdesk.derive.errors import DerivationError
from trialdesk.derive.reporting import (
    follow_up_expected,
    is_susar,
    site_report_due,
    sponsor_clock,
    sponsor_first_knowledge,
    time_left_text,
)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_site_clock_is_24_hours_across_midnight_month_and_leap_day() -> None:
    assert site_report_due(at(2028, 2, 28, 23, 59)) == at(2028, 2, 29, 23, 59)
    assert site_report_due(at(2027, 12, 31, 12, 0)) == at(2028, 1, 1, 12, 0)
    shanghai = timezone(timedelta(hours=8))
    due = site_report_due(datetime(2027, 3, 1, 6, 0, tzinfo=shanghai))
    assert due.astimezone(UTC) == at(2027, 3, 1, 22, 0)


def test_a_naive_date_time_is_refused() -> None:
    with pytest.raises(DerivationError) as caught:
        site_report_due(datetime(2027, 3, 1, 6, 0))
    assert caught.value.argument == "aware_at"


@pytest.mark.parametrize(
    ("serious", "expected", "relatedness", "susar"),
    [
        (True, False, "possible", True),
        (True, False, "probable", True),
        (True, False, "definite", True),
        (True, False, "unlikely", False),
        (True, False, "not_related", False),
        (True, True, "definite", False),  # expected: an SAE, not a SUSAR
        (True, None, "definite", False),  # expectedness not confirmed
        (True, False, None, False),  # relatedness not confirmed
        (False, False, "definite", False),  # not serious
    ],
)
def test_susar_needs_all_three_confirmed(
    serious: bool, expected: bool | None, relatedness: str | None, susar: bool
) -> None:
    assert is_susar(serious=serious, expected=expected, relatedness=relatedness) is susar


def test_sponsor_clock_counts_calendar_days_from_day_0() -> None:
    fatal = sponsor_clock(date(2028, 2, 25), fatal_or_life_threatening=True)
    assert fatal.due == date(2028, 3, 3)  # across the leap day
    assert fatal.complete_due == date(2028, 3, 11)  # 8 more calendar days
    assert fatal.days == 7
    other = sponsor_clock(date(2027, 12, 20), fatal_or_life_threatening=False)
    assert other.due == date(2028, 1, 4) and other.complete_due is None and other.days == 15


def test_day_0_is_the_first_report_after_the_confirmation() -> None:
    confirmed = at(2027, 3, 2, 10, 0)
    sent = [at(2027, 3, 1, 9, 0), at(2027, 3, 4, 8, 0), at(2027, 3, 3, 8, 0)]
    assert sponsor_first_knowledge(confirmed, sent) == at(2027, 3, 3, 8, 0)
    assert sponsor_first_knowledge(confirmed, sent[:1]) is None
    assert sponsor_first_knowledge(confirmed, [confirmed]) == confirmed  # "at or after"


def test_follow_up_expected_only_for_news_after_the_last_report() -> None:
    sent = at(2027, 3, 3, 8, 0)
    assert follow_up_expected(sent + timedelta(seconds=1), sent)
    assert not follow_up_expected(sent, sent)
    assert not follow_up_expected(sent - timedelta(days=1), sent)
    assert not follow_up_expected(sent, None)  # no report yet: the initial one is due


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=23, minutes=59, seconds=30), "23 h 59 min left"),
        (timedelta(seconds=30), "0 min left"),
        (timedelta(0), "0 min left"),
        (timedelta(days=2, minutes=5), "2 d 5 min left"),
        (-timedelta(minutes=1), "overdue by 1 min"),
        (-timedelta(days=3, hours=1, minutes=2), "overdue by 3 d 1 h"),
    ],
)
def test_time_left_in_a_site_s_words(delta: timedelta, text: str) -> None:
    now = at(2027, 3, 3, 8, 0)
    assert time_left_text(now + delta, now) == text


def test_docstring_examples() -> None:
    assert doctest.testmod(reporting).failed == 0
