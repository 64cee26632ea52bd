"""Is a visit date inside its protocol window? The one rule the live warning on the visit page
and the save both use (`visits.recheck_windows` flags what this reports as outside).

Day 0 is the baseline visit (BL); before baseline, the provisional day 0 from screening
(`visits.anchor_of`). Windows are the protocol's schedule of assessments (NCT01142050 registry
record, proposed schedule with windows, `protocol.schedule`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from trialdesk.protocol.model import Protocol
from trialdesk.services.access import get_participant
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.study import current_protocol
from trialdesk.services.uow import service
from trialdesk.services.visits import (
    BASELINE_CODE,
    SCREENING_CODE,
    anchor_of,
    live_visits,
    scheduled,
)
from trialdesk.store.enums import VisitStatus
from trialdesk.store.models import Visit


@dataclass(frozen=True)
class WindowCheck:
    """The verdict for one visit date: `inside` None when there is no day 0 yet."""

    code: str
    visit_date: date
    inside: bool | None
    study_day: int | None
    earliest_day: int
    latest_day: int
    anchor: date | None
    message: str


@service
def check_visit_window(
    session: Session, actor: Actor, participant_id: int, *, code: str, visit_date: date
) -> WindowCheck:
    """Where `visit_date` falls in visit `code`'s window for this participant (saves nothing)."""
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    protocol = current_protocol(session)  # the version the study database stores
    plan = scheduled(protocol, code)
    others = [v for v in live_visits(session, participant.id) if v.code != plan.code]
    anchor, _kind = anchor_of(others, protocol)
    if plan.code == BASELINE_CODE:
        anchor = visit_date  # baseline is day 0 by definition
    if anchor is None:
        return WindowCheck(
            plan.code,
            visit_date,
            None,
            None,
            plan.earliest_day,
            plan.latest_day,
            None,
            "No day 0 yet (no screening or baseline visit): the window cannot be checked.",
        )
    day = (visit_date - anchor).days
    inside = plan.earliest_day <= day <= plan.latest_day
    where = "inside" if inside else "outside"
    message = (
        f"{visit_date.isoformat()} is study day {day}, {where} the window of {plan.name} "
        f"(day {plan.earliest_day} to {plan.latest_day} from day 0 = {anchor.isoformat()})."
    )
    if plan.code == BASELINE_CODE:
        message = _baseline_message(protocol, others, visit_date)
    return WindowCheck(
        plan.code, visit_date, inside, day, plan.earliest_day, plan.latest_day, anchor, message
    )


def _baseline_message(protocol: Protocol, others: list[Visit], visit_date: date) -> str:
    """Baseline is day 0 by definition, so its own window always holds; what it can move out of
    its window is the screening visit before it (recorded as a deviation of that visit when the
    baseline is saved, `visits.recheck_windows`): say so while the date is typed."""
    message = (
        f"{visit_date.isoformat()} is day 0 of the schedule: the windows of the later visits "
        "are counted from it."
    )
    screening = next(
        (
            v
            for v in others
            if v.code == SCREENING_CODE and v.status is VisitStatus.DONE and v.visit_date
        ),
        None,
    )
    if screening is None or screening.visit_date is None:
        return message
    plan = scheduled(protocol, SCREENING_CODE)
    day = (screening.visit_date - visit_date).days
    if plan.earliest_day <= day <= plan.latest_day:
        return message
    return (
        f"{message} The screening visit on {screening.visit_date.isoformat()} would then be "
        f"day {day}, outside its window (day {plan.earliest_day} to {plan.latest_day}): saving "
        "records a protocol deviation of the screening visit."
    )
