"""Analysis visits (ADaM AVISIT/AVISITN) from the protocol's schedule of assessments.

AVISITN is the visit's nominal day in the schedule (days from the baseline visit, day 0), so
that plots have a true time axis. Baseline is the last non-missing value at a visit scheduled
on or before day 0 (screening or baseline): the intervention (transplantation) is given after
day 0, so these are the pre-treatment values (ADaMIG v1.3, section 3.3.3: baseline is the last
non-missing value before first exposure, unless the SAP says otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from trialdesk.protocol import Protocol, Visit


@dataclass(frozen=True)
class AnalysisVisit:
    code: str
    name: str
    day: int

    @property
    def month(self) -> float:
        """Nominal months since the baseline visit (for axis ticks)."""
        return self.day / 30.4375


def analysis_visits(protocol: Protocol) -> list[AnalysisVisit]:
    """Every scheduled visit, in schedule order."""
    return [AnalysisVisit(v.code, v.name, v.day) for v in protocol.schedule]


def is_pre_treatment(visit: Visit) -> bool:
    """A visit whose values may serve as baseline (scheduled on or before day 0)."""
    return visit.day <= 0


def baseline_visit(protocol: Protocol) -> AnalysisVisit:
    """The last scheduled visit on or before day 0 (the label given to baseline rows)."""
    candidates = [v for v in protocol.schedule if is_pre_treatment(v)]
    if not candidates:
        raise ValueError(f"protocol {protocol.id}: no visit scheduled on or before day 0")
    last = candidates[-1]
    return AnalysisVisit(last.code, last.name, last.day)


def primary_visit(protocol: Protocol) -> AnalysisVisit:
    """The scheduled visit nearest the primary outcomes' time frame (month 12 for NCT01142050).

    The registry gives the time frame as "one year"; the protocol encodes it as
    ``time_frame_days`` and the visit whose nominal day is closest to it is the primary visit.
    """
    target = max(o.time_frame_days for o in protocol.primary_outcomes)
    post = [v for v in protocol.schedule if v.day > 0]
    if not post:
        raise ValueError(f"protocol {protocol.id}: no visit scheduled after day 0")
    best = min(post, key=lambda v: (abs(v.day - target), -v.day))
    return AnalysisVisit(best.code, best.name, best.day)
