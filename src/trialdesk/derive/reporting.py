"""Safety-reporting clocks (pure date arithmetic).

Two clocks, two parties:

- **Site → sponsor** (ICH E6(R3), Annex 1 §2.7.2(b) [@ICH-E6R3]): every serious adverse event
  is reported to the sponsor "immediately (after the investigator reasonably becomes aware of
  the event)"; this system, like most protocols, holds "immediately" to **24 hours** from the
  site's awareness (a date-time). Subsequent information goes in follow-up reports.
- **Sponsor → regulators** (ICH E2A, CPMP/ICH/377/95, III.A.1–2 [@ICH-E2A]): only for a
  **SUSAR**, a suspected unexpected serious adverse reaction: serious (E2A II.B), unexpected
  (not consistent with the reference safety information, E2A II.C) and with a reasonable
  possibility of a causal relationship (E2A II.A.2; here: the investigator's confirmed
  relatedness "possible", "probable" or "definite"). Fatal or life-threatening: no later than
  **7 calendar days**, followed by as complete a report as possible within **8 additional
  calendar days**; any other SUSAR: no later than **15 calendar days**. Both count from "first
  knowledge by the sponsor that a case qualifies" (E2A III.A.1/2).

**Day 0** of the sponsor clock is therefore the date (site time zone) of the first report sent
to the sponsor at or after the investigator confirmed the judgements that make the case a
SUSAR: before that report the sponsor cannot know that the case qualifies. Calendar days: day 0
+ 7 is the deadline, whatever the weekday.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from trialdesk.derive.errors import DerivationError

SITE_REPORT_HOURS = 24
FATAL_OR_LIFE_THREATENING_DAYS = 7
COMPLETE_REPORT_EXTRA_DAYS = 8
OTHER_SUSAR_DAYS = 15
#: Relatedness categories that are "at least possibly related" (a suspected reaction, E2A II.A.2).
SUSPECTED = frozenset({"possible", "probable", "definite"})


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise DerivationError(name, moment, "a date-time with its time zone")
    return moment


def site_report_due(aware_at: datetime) -> datetime:
    """The initial SAE report to the sponsor is due 24 hours after the site became aware.

    >>> from datetime import timezone
    >>> site_report_due(datetime(2027, 3, 1, 22, 30, tzinfo=timezone.utc)).isoformat()
    '2027-03-02T22:30:00+00:00'
    """
    return _aware(aware_at, "aware_at") + timedelta(hours=SITE_REPORT_HOURS)


def is_susar(*, serious: bool, expected: bool | None, relatedness: str | None) -> bool:
    """Serious, unexpected and at least possibly related, from *confirmed* judgements only:
    an expectedness or relatedness not confirmed (None) never makes a SUSAR.

    >>> is_susar(serious=True, expected=False, relatedness="possible")
    True
    >>> is_susar(serious=True, expected=None, relatedness="definite")
    False
    """
    return serious and expected is False and relatedness in SUSPECTED


@dataclass(frozen=True)
class SponsorClock:
    """The sponsor's expedited-report deadlines for one SUSAR (ICH E2A III.A)."""

    day0: date
    fatal_or_life_threatening: bool
    due: date  # the (initial) expedited report
    complete_due: date | None  # the complete report after a 7-day report

    @property
    def days(self) -> int:
        return (self.due - self.day0).days


def sponsor_clock(day0: date, *, fatal_or_life_threatening: bool) -> SponsorClock:
    """ICH E2A III.A.1/2: 7 calendar days (then 8 more for the complete report) for a fatal
    or life-threatening SUSAR, 15 otherwise.

    >>> c = sponsor_clock(date(2027, 12, 28), fatal_or_life_threatening=True)
    >>> c.due, c.complete_due
    (datetime.date(2028, 1, 4), datetime.date(2028, 1, 12))
    >>> sponsor_clock(date(2027, 2, 20), fatal_or_life_threatening=False).due
    datetime.date(2027, 3, 7)
    """
    if fatal_or_life_threatening:
        due = day0 + timedelta(days=FATAL_OR_LIFE_THREATENING_DAYS)
        return SponsorClock(day0, True, due, due + timedelta(days=COMPLETE_REPORT_EXTRA_DAYS))
    return SponsorClock(day0, False, day0 + timedelta(days=OTHER_SUSAR_DAYS), None)


def sponsor_first_knowledge(
    qualified_at: datetime, reports_sent_at: Iterable[datetime]
) -> datetime | None:
    """When the sponsor first knew the case qualifies (day 0, see module docstring): the
    first report sent at or after `qualified_at` (the investigator's confirmation); None
    while no such report was sent."""
    _aware(qualified_at, "qualified_at")
    after = [_aware(s, "reports_sent_at") for s in reports_sent_at if s >= qualified_at]
    return min(after) if after else None


def follow_up_expected(new_information_at: datetime | None, last_sent_at: datetime | None) -> bool:
    """A follow-up report is expected when information changed after the last report sent
    (ICH E6(R3) Annex 1 §2.7.2(b): "subsequent information … as a follow-up report")."""
    if last_sent_at is None or new_information_at is None:
        return False
    return new_information_at > last_sent_at


def time_left_text(due: datetime, now: datetime) -> str:
    """ "5 h 20 min left", "overdue by 1 d 3 h": a clock in a site's words (minutes rounded
    down; at most two units).

    >>> from datetime import timezone
    >>> t = datetime(2027, 3, 2, 12, 0, tzinfo=timezone.utc)
    >>> time_left_text(t, t - timedelta(hours=5, minutes=20, seconds=59))
    '5 h 20 min left'
    >>> time_left_text(t, t + timedelta(days=1, hours=3))
    'overdue by 1 d 3 h'
    """
    delta = _aware(due, "due") - _aware(now, "now")
    overdue = delta < timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (mins, "min")]
    shown = [f"{n} {u}" for n, u in parts if n][:2] or ["0 min"]
    text = " ".join(shown)
    return f"overdue by {text}" if overdue else f"{text} left"
