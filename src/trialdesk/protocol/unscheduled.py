"""Unscheduled visits: visits outside the schedule of assessments (e.g. an extra ITT, a safety lab).

An unscheduled visit is numbered after the scheduled visit that precedes it, as CDISC does
(SDTMIG v3.4, section 4.4.5 "Clinical Encounters and Visits"): the n-th unscheduled visit after
scheduled visit number 5 has ``VISITNUM = 5.0n`` and ``VISIT = "UNSCHEDULED 5.0n"``. Its code in
trialdesk is ``<scheduled code>.U<nn>`` (e.g. ``M3.U01``). No window applies to it; analysis by
visit (ADaM AVISIT) leaves it out of the per-visit summaries and lists it (ADaMIG v1.3, 3.3.4).
"""

from __future__ import annotations

import re

from trialdesk.protocol.model import Protocol, Visit

_CODE = re.compile(r"^(?P<after>[A-Z0-9_]{1,20})\.U(?P<n>\d{2})$")
MAX_PER_INTERVAL = 99
#: The forms an unscheduled visit offers (its own forms, whatever visit it follows).
UNSCHEDULED_FORMS = ("measurements", "safety_labs", "itt", "adverse_events")


def unscheduled_code(after: str, n: int) -> str:
    return f"{after}.U{n:02d}"


def parse_unscheduled(code: str) -> tuple[str, int] | None:
    """(code of the preceding scheduled visit, sequence number), or None for any other code."""
    match = _CODE.match(code)
    return (match["after"], int(match["n"])) if match else None


def is_unscheduled(code: str) -> bool:
    return parse_unscheduled(code) is not None


def scheduled_number(protocol: Protocol, code: str) -> int:
    """VISITNUM of a scheduled visit: its position in the schedule (1-based)."""
    return [v.code for v in protocol.schedule].index(code) + 1


def unscheduled_number(protocol: Protocol, code: str) -> float:
    """VISITNUM of an unscheduled visit (``M3.U01`` after visit 5 → 5.01)."""
    parsed = parse_unscheduled(code)
    if parsed is None:
        raise ValueError(f"{code!r} is not an unscheduled visit code")
    after, n = parsed
    return round(scheduled_number(protocol, after) + n / 100, 2)


def unscheduled_label(protocol: Protocol, code: str) -> str:
    """SDTM VISIT of an unscheduled visit, e.g. ``UNSCHEDULED 5.01``."""
    return f"UNSCHEDULED {unscheduled_number(protocol, code):.2f}"


def unscheduled_plan(protocol: Protocol, code: str) -> Visit:
    """A plan for an unscheduled visit: its own forms, every assessment of the schedule after
    screening, and no window (built without validation: its code is not a schedule code)."""
    parsed = parse_unscheduled(code)
    if parsed is None:
        raise ValueError(f"{code!r} is not an unscheduled visit code")
    after = protocol.visit(parsed[0])
    assessments: list[str] = []
    for visit in protocol.schedule[1:]:
        assessments += [a for a in visit.assessments if a not in assessments]
    return Visit.model_construct(
        code=code,
        name=f"Unscheduled visit {unscheduled_number(protocol, code):.2f} (after {after.name})",
        day=after.day,
        window_before=0,
        window_after=0,
        assessments=assessments,
        forms=list(UNSCHEDULED_FORMS),
    )
