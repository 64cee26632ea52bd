"""The items of an adverse-event report and of its follow-up, as one value each.

An AE report (ICH E2A, "Clinical Safety Data Management", section III.A: the minimum
information of a case) is entered and passed on as a whole: from the API body, the web form,
the visit form, the simulator and an import to `report_adverse_event`. Grade is the CTCAE
v5.0 grade; seriousness the ICH E2A criteria (see `services.safety`). Awareness (`aware_at`, or
the day `awareness_date` with the time `aware_time` at the site) starts the reporting clocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

from trialdesk.store.enums import AeAction, AeOutcome, Relatedness


@dataclass(frozen=True, kw_only=True)
class AdverseEventReport:
    """A new adverse event: the AE CRF's items (ICH E2A III.A; grade: CTCAE v5.0)."""

    term: str
    onset_date: date
    grade: int
    relatedness: Relatedness | str
    action_taken: AeAction | str
    outcome: AeOutcome | str
    seriousness: Iterable[str] = ()
    resolution_date: date | None = None
    expected: bool | None = None
    awareness_date: date | None = None
    aware_at: datetime | None = None
    aware_time: time | None = None


@dataclass(frozen=True, kw_only=True)
class AdverseEventChanges:
    """A follow-up of an adverse event: only the items given (not None) change."""

    term: str | None = None
    onset_date: date | None = None
    resolution_date: date | None = None
    grade: int | None = None
    relatedness: Relatedness | str | None = None
    action_taken: AeAction | str | None = None
    outcome: AeOutcome | str | None = None
    seriousness: Iterable[str] | None = None
    expected: bool | None = None
    awareness_date: date | None = None
    expedited_reported_on: date | None = None
    aware_at: datetime | None = None
    aware_time: time | None = None
