"""Demographic derivations."""

from __future__ import annotations

from datetime import date, datetime

from trialdesk.derive.errors import DerivationError


def _calendar_date(argument: str, value: object) -> date:
    # datetime is a subclass of date; refuse it so that a time zone or time of day is never
    # silently dropped (and date/datetime comparisons never raise TypeError).
    if isinstance(value, datetime) or not isinstance(value, date):
        raise DerivationError(argument, value, "a calendar date (datetime.date, not a datetime)")
    return value


def compute_age(birth_date: date, at: date) -> int:
    """Age in completed years at the date `at`.

    Formula: ``at.year - birth_date.year``, minus 1 if the birthday has not yet come in the year
    of `at`, i.e. if ``(at.month, at.day) < (birth_date.month, birth_date.day)``.

    Leap-day convention: a person born on 29 February turns a year older on 1 March in non-leap
    years (on 28 February they are still the younger age), and on 29 February in leap years. This
    is the common legal convention and is what the month/day comparison above yields; a few
    jurisdictions use 28 February instead, so a protocol that needs that must say so.

    Permitted values: two `datetime.date` objects (not datetimes) with ``at >= birth_date``;
    otherwise `DerivationError` naming the value. Units: whole (completed) years.

    Source: CDISC SDTM DM.AGE / ADaM ADSL.AGE, age in completed years at a reference date
    (AGEU = "YEARS"); cf. pharmaverse admiral ``derive_vars_aage()``.

    Worked example (born 29 Feb 2000):

    >>> compute_age(date(2000, 2, 29), date(2021, 2, 28))
    20
    >>> compute_age(date(2000, 2, 29), date(2021, 3, 1))
    21
    """
    born = _calendar_date("birth_date", birth_date)
    when = _calendar_date("at", at)
    if when < born:
        raise DerivationError("at", when, f"a date on or after birth_date={born.isoformat()}")
    before_birthday = (when.month, when.day) < (born.month, born.day)
    return when.year - born.year - int(before_birthday)
