"""Visits of the schedule of assessments, their windows, and the participant's calendar.

Day 0 (the anchor of every window) is the date of the baseline visit (BL). Before baseline is
recorded, a provisional day 0 is taken from the screening visit: its date minus the screening
visit's nominal day (−28 in NCT01142050), i.e. screening + 28 days. Whenever a visit date or the
anchor changes, every recorded visit is re-checked: a visit outside its protocol window gets an
automatic protocol deviation (category ``visit_window``), which is voided again if a correction
brings the visit back inside its window.

Unscheduled visits (an extra ITT, a safety lab: `add_unscheduled_visit`) are numbered after the
scheduled visit that precedes them (`trialdesk.protocol.unscheduled`); no window applies to them
and they never raise a window deviation. The calendar lists them after that scheduled visit.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.protocol import Protocol
from trialdesk.protocol.model import Visit as ScheduledVisit
from trialdesk.protocol.unscheduled import (
    MAX_PER_INTERVAL,
    is_unscheduled,
    parse_unscheduled,
    unscheduled_code,
    unscheduled_plan,
)
from trialdesk.services.access import (
    get_participant,
    get_record,
    live_visit,
    require_data_entry,
    require_enrolled,
)
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.crf_entries import VisitChanges
from trialdesk.services.deviations import (
    automatic_window_deviations,
    clear_window_deviation,
    flag_window_deviation,
    window_reason,
)
from trialdesk.services.errors import RuleViolation, ValidationProblem
from trialdesk.services.study import current_protocol, version_in_force
from trialdesk.services.uow import add_record, change_record, service
from trialdesk.services.validate import not_after_today, required_text, today
from trialdesk.services.views import CalendarEntry, VisitCalendar, VisitView
from trialdesk.store.enums import ParticipantStatus, VisitStatus
from trialdesk.store.models import Participant, Visit

SCREENING_CODE = "SCR"
BASELINE_CODE = "BL"
ENDED = frozenset(
    {
        ParticipantStatus.SCREEN_FAILED,
        ParticipantStatus.WITHDRAWN,
        ParticipantStatus.DIED,
        ParticipantStatus.LOST_TO_FOLLOW_UP,
        ParticipantStatus.COMPLETED,
    }
)


def scheduled(protocol: Protocol, code: str) -> ScheduledVisit:
    try:
        return protocol.visit(code)
    except KeyError:
        codes = ", ".join(v.code for v in protocol.schedule)
        raise ValidationProblem(
            "visit_code", f"{code!r} is not a visit of the schedule ({codes})"
        ) from None


def _version_label(session: Session, on: date) -> str | None:
    """The label of the protocol version in force on `on` (None before any is registered)."""
    version = version_in_force(session, on)
    return version.label if version else None


def plan_of(protocol: Protocol, code: str) -> ScheduledVisit:
    """The plan of a scheduled visit, or the no-window plan of an unscheduled one."""
    if is_unscheduled(code):
        after = parse_unscheduled(code)
        assert after is not None
        scheduled(protocol, after[0])
        return unscheduled_plan(protocol, code)
    return scheduled(protocol, code)


def live_visits(session: Session, participant_id: int) -> list[Visit]:
    return list(
        session.scalars(
            select(Visit)
            .where(Visit.participant_id == participant_id, Visit.voided.is_(False))
            .order_by(Visit.visit_date, Visit.id)
        )
    )


def anchor_of(visits: list[Visit], protocol: Protocol) -> tuple[date | None, str]:
    """(day 0, how it was found): ``baseline``, ``provisional`` or ``none``."""
    by_code = {v.code: v for v in visits if v.status is VisitStatus.DONE and v.visit_date}
    baseline = by_code.get(BASELINE_CODE)
    if baseline is not None and baseline.visit_date is not None:
        return baseline.visit_date, "baseline"
    screening = by_code.get(SCREENING_CODE)
    if screening is not None and screening.visit_date is not None:
        offset = scheduled(protocol, SCREENING_CODE).day
        return screening.visit_date - timedelta(days=offset), "provisional"
    return None, "none"


def window_text(visit: Visit, plan: ScheduledVisit, anchor: date, day: int) -> str:
    assert visit.visit_date is not None
    return (
        f"Visit {plan.code} ({plan.name}) on {visit.visit_date.isoformat()} is day {day} from "
        f"baseline ({anchor.isoformat()}); the protocol window is day "
        f"{plan.earliest_day} to {plan.latest_day}"
    )


def recheck_windows(session: Session, actor: Actor, participant: Participant) -> None:
    """Bring the automatic visit-window deviations in line with the recorded visit dates."""
    protocol = current_protocol(session)
    visits = live_visits(session, participant.id)
    anchor, _kind = anchor_of(visits, protocol)
    flagged = automatic_window_deviations(session, participant.id)
    outside: set[int] = set()
    for visit in visits:
        if anchor is None or visit.visit_date is None or visit.unscheduled:
            continue
        plan = scheduled(protocol, visit.code)
        day = (visit.visit_date - anchor).days
        if not plan.earliest_day <= day <= plan.latest_day:
            outside.add(visit.id)
            text = window_text(visit, plan, anchor, day)
            flag_window_deviation(
                session,
                actor,
                participant,
                visit.id,
                description=text,
                existing=flagged.get(visit.id),
            )
    for visit_id, deviation in flagged.items():
        if visit_id not in outside:
            clear_window_deviation(
                session,
                actor,
                participant,
                deviation,
                "visit no longer outside its window (visit date or baseline corrected, or visit "
                "voided)",
            )


def visit_view(
    visit: Visit,
    anchor: date | None = None,
    name: str | None = None,
    protocol: Protocol | None = None,
) -> VisitView:
    day = (visit.visit_date - anchor).days if anchor and visit.visit_date else None
    if name is None:
        name = plan_of(protocol or current_protocol(), visit.code).name
    fields = {
        k: getattr(visit, k) for k in VisitView.model_fields if k not in ("name", "study_day")
    }
    return VisitView.model_validate({**fields, "name": name, "study_day": day})


def visit_view_in_context(session: Session, visit: Visit) -> VisitView:
    """The view of a visit with its study day (when baseline is known)."""
    protocol = current_protocol(session)
    anchor, kind = anchor_of(live_visits(session, visit.participant_id), protocol)
    return visit_view(visit, anchor if kind == "baseline" else None, protocol=protocol)


@service
def record_visit(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    code: str,
    visit_date: date,
    notes: str | None = None,
    deviation_reason: str | None = None,
) -> VisitView:
    """Record that a scheduled visit took place (flags it if outside its window).

    `deviation_reason`: the site's reason for an out-of-window date, kept as the deviation's
    explanation. A caller that asks for it (the web page passes the typed text, "" when blank)
    is refused when the visit is outside its window and the reason is blank; None means the
    caller does not collect it (imports, the simulator): the deviation is still recorded."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    plan = scheduled(current_protocol(session), code)
    not_after_today(visit_date, "visit_date")
    require_data_entry(session, participant, visit_date)
    if plan.code != SCREENING_CODE:
        require_enrolled(session, participant, f"visit {plan.code}")
    if visit_date < participant.registered_on:
        raise ValidationProblem("visit_date", "is before the participant's registration date")
    if live_visit(session, participant.id, plan.code) is not None:
        raise RuleViolation(
            "visit_already_recorded",
            f"visit {plan.code} of {participant.study_id} is already recorded; correct it instead",
            "code",
            conflict=True,
        )
    visit = Visit(
        participant_id=participant.id,
        code=plan.code,
        status=VisitStatus.DONE,
        visit_date=visit_date,
        notes=notes,
        protocol_version=_version_label(session, visit_date),
    )
    add_record(session, actor, visit, participant)
    recheck_windows(session, actor, participant)
    if deviation_reason is not None:
        _explain_window(session, actor, participant, visit, deviation_reason)
    return visit_view_in_context(session, visit)


def _preceding(protocol: Protocol, visits: list[Visit], on: date) -> str:
    """Code of the scheduled visit an unscheduled one on `on` follows: the latest scheduled
    visit done on or before that date (the first of the schedule when there is none)."""
    order = [v.code for v in protocol.schedule]
    done = [
        v
        for v in visits
        if not v.unscheduled and v.code in order and v.visit_date is not None and v.visit_date <= on
    ]
    if not done:
        return order[0]
    return max(done, key=lambda v: (v.visit_date, order.index(v.code))).code


def _next_number(session: Session, participant_id: int, after: str) -> int:
    """The next sequence number after `after` (voided visits keep theirs: never reused)."""
    codes = session.scalars(
        select(Visit.code).where(Visit.participant_id == participant_id, Visit.unscheduled)
    )
    used = [n for c in codes if (p := parse_unscheduled(c)) and p[0] == after for n in [p[1]]]
    number = max(used, default=0) + 1
    if number > MAX_PER_INTERVAL:
        raise RuleViolation(
            "too_many_unscheduled", f"more than {MAX_PER_INTERVAL} unscheduled visits after {after}"
        )
    return number


@service
def add_unscheduled_visit(
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    visit_date: date,
    reason: str,
    notes: str | None = None,
) -> VisitView:
    """Record a visit outside the schedule (e.g. an extra ITT or a safety lab) and why.

    It is numbered after the scheduled visit that precedes it (``M3.U01``; SDTM VISITNUM 5.01)
    and takes its own forms; no window applies to it.
    """
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    why = required_text(reason, "reason", 2000)
    not_after_today(visit_date, "visit_date")
    require_data_entry(session, participant, visit_date)
    require_enrolled(session, participant, "an unscheduled visit")
    if visit_date < participant.registered_on:
        raise ValidationProblem("visit_date", "is before the participant's registration date")
    protocol = current_protocol(session, visit_date)
    after = _preceding(protocol, live_visits(session, participant.id), visit_date)
    visit = Visit(
        participant_id=participant.id,
        code=unscheduled_code(after, _next_number(session, participant.id, after)),
        status=VisitStatus.DONE,
        visit_date=visit_date,
        notes=notes,
        unscheduled=True,
        unscheduled_reason=why,
        protocol_version=_version_label(session, visit_date),
    )
    add_record(session, actor, visit, participant)
    return visit_view_in_context(session, visit)


def _explain_window(
    session: Session, actor: Actor, participant: Participant, visit: Visit, reason: str
) -> None:
    flagged = automatic_window_deviations(session, participant.id).get(visit.id)
    if flagged is None:
        return
    if not reason.strip():
        raise ValidationProblem(
            "deviation_reason",
            f"is required: {flagged.description}, so it is recorded as a protocol deviation; "
            "say why the visit took place on that date",
            rule="deviation_reason_required",
        )
    window_reason(session, actor, participant, visit.id, reason.strip())


@service
def record_missed_visit(
    session: Session, actor: Actor, participant_id: int, *, code: str, reason: str
) -> VisitView:
    """Record that a scheduled visit did not take place (and why)."""
    participant = get_participant(session, actor, participant_id, Permission.WRITE_CLINICAL)
    plan = scheduled(current_protocol(session), code)
    require_data_entry(session, participant, today())
    require_enrolled(session, participant, f"visit {plan.code}")
    if live_visit(session, participant.id, plan.code) is not None:
        raise RuleViolation(
            "visit_already_recorded",
            f"visit {plan.code} of {participant.study_id} is already recorded",
            "code",
            conflict=True,
        )
    visit = Visit(
        participant_id=participant.id,
        code=plan.code,
        status=VisitStatus.MISSED,
        visit_date=None,
        notes=required_text(reason, "reason", 2000),
    )
    add_record(session, actor, visit, participant)
    return visit_view_in_context(session, visit)


@service
def update_visit(
    session: Session,
    actor: Actor,
    visit_id: int,
    changes: VisitChanges,
) -> VisitView:
    """Correct a visit's date or notes, or why an unscheduled visit took place (re-checks every
    window when the date changes).

    `deviation_reason`, as for `record_visit`: a caller that collects it ("" when blank) is
    refused when the corrected date is outside the window and no reason is given; the reason
    becomes the explanation of the visit-window deviation the correction records."""
    visit, participant = get_record(session, actor, Visit, visit_id, Permission.WRITE_CLINICAL)
    columns: dict[str, object] = {}
    if changes.unscheduled_reason is not None:
        if not visit.unscheduled:
            raise ValidationProblem(
                "unscheduled_reason", f"visit {visit.code} is a scheduled visit of the protocol"
            )
        columns["unscheduled_reason"] = required_text(
            changes.unscheduled_reason, "unscheduled_reason", 2000
        )
    if changes.visit_date is not None:
        if visit.status is VisitStatus.MISSED:
            raise RuleViolation(
                "visit_missed", f"visit {visit.code} was recorded as missed; void it first"
            )
        not_after_today(changes.visit_date, "visit_date")
        if changes.visit_date < participant.registered_on:
            raise ValidationProblem("visit_date", "is before the participant's registration date")
        columns["visit_date"] = changes.visit_date
        columns["protocol_version"] = _version_label(session, changes.visit_date)
    if changes.notes is not None:
        columns["notes"] = changes.notes
    change_record(
        session,
        actor,
        visit,
        columns,
        reason=changes.reason,
        expected_version=changes.expected_version,
        participant=participant,
    )
    recheck_windows(session, actor, participant)
    if changes.visit_date is not None and changes.deviation_reason is not None:
        _explain_window(session, actor, participant, visit, changes.deviation_reason)
    return visit_view_in_context(session, visit)


@service
def list_visits(session: Session, actor: Actor, participant_id: int) -> list[VisitView]:
    get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    visits = live_visits(session, participant_id)
    protocol = current_protocol(session)
    anchor, kind = anchor_of(visits, protocol)
    return [
        visit_view(v, anchor if kind == "baseline" else None, protocol=protocol) for v in visits
    ]


@service
def visit_calendar(
    session: Session, actor: Actor, participant_id: int, *, as_of: date | None = None
) -> VisitCalendar:
    """Every scheduled visit with its window dates and status (done, missed, due, overdue,
    upcoming; ``unscheduled`` before any anchor; ``not_expected`` once participation ended)."""
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    protocol = current_protocol(session)
    moment = as_of or today()
    visits = live_visits(session, participant_id)
    anchor, kind = anchor_of(visits, protocol)
    recorded = {v.code: v for v in visits}
    entries = []
    for plan in protocol.schedule:
        entries.append(
            _calendar_entry(plan, recorded.get(plan.code), anchor, moment, participant.status)
        )
        entries += _unscheduled_entries(protocol, visits, plan.code, anchor)
    return VisitCalendar(
        participant_id=participant.id,
        study_id=participant.study_id,
        as_of=moment,
        anchor_date=anchor,
        anchor=kind if kind != "provisional" else "provisional (screening + 28 days)",
        visits=entries,
    )


def _unscheduled_entries(
    protocol: Protocol, visits: list[Visit], after: str, anchor: date | None
) -> list[CalendarEntry]:
    """The unscheduled visits numbered after scheduled visit `after`, in number order."""
    extra = sorted(
        (v for v in visits if v.unscheduled and (p := parse_unscheduled(v.code)) and p[0] == after),
        key=lambda v: v.code,
    )
    entries = []
    for visit in extra:
        plan = unscheduled_plan(protocol, visit.code)
        day = (visit.visit_date - anchor).days if anchor and visit.visit_date else None
        entries.append(
            CalendarEntry(
                code=visit.code,
                name=plan.name,
                day=plan.day,
                window_start_day=plan.day,
                window_end_day=plan.day,
                planned_date=None,
                window_start=None,
                window_end=None,
                status=visit.status.value,
                visit_id=visit.id,
                visit_date=visit.visit_date,
                study_day=day,
                unscheduled=True,
                reason=visit.unscheduled_reason,
            )
        )
    return entries


def _calendar_entry(
    plan: ScheduledVisit,
    visit: Visit | None,
    anchor: date | None,
    as_of: date,
    status: ParticipantStatus,
) -> CalendarEntry:
    def at(day: int) -> date | None:
        return anchor + timedelta(days=day) if anchor else None

    entry = CalendarEntry(
        code=plan.code,
        name=plan.name,
        day=plan.day,
        window_start_day=plan.earliest_day,
        window_end_day=plan.latest_day,
        planned_date=at(plan.day),
        window_start=at(plan.earliest_day),
        window_end=at(plan.latest_day),
        status="unscheduled",
    )
    if visit is not None:
        entry.status = visit.status.value
        entry.visit_id = visit.id
        entry.visit_date = visit.visit_date
        entry.protocol_version = visit.protocol_version
        if anchor and visit.visit_date:
            entry.study_day = (visit.visit_date - anchor).days
            entry.in_window = plan.earliest_day <= entry.study_day <= plan.latest_day
    elif status in ENDED:
        entry.status = "not_expected"
    elif entry.window_start is not None and entry.window_end is not None:
        if as_of < entry.window_start:
            entry.status = "upcoming"
        elif as_of <= entry.window_end:
            entry.status = "due"
        else:
            entry.status = "overdue"
    return entry
