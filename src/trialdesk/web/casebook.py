"""What a participant's casebook page shows, gathered through the services (site-scoped and
role-checked there): identity only for roles allowed to read it, screenings, consent,
enrollment, the visit calendar, trajectories, adverse events and open queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from trialdesk.catalogue import DataElement, ElementKind
from trialdesk.protocol import Protocol
from trialdesk.services import (
    enrollment_summary,
    get_enrollment,
    get_identity,
    get_participant,
    list_adverse_events,
    list_consents,
    list_insulin_doses,
    list_measurements,
    list_queries,
    list_screenings,
    visit_calendar,
)
from trialdesk.services.actor import Permission
from trialdesk.services.crf_entries import MeasurementFilter
from trialdesk.services.paging import Page as Paging
from trialdesk.services.protocol_versions import get_reconsent_due
from trialdesk.services.queries import QueryFilter
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.views import (
    AdverseEventView,
    ConsentView,
    EnrollmentSummary,
    EnrollmentView,
    IdentityView,
    MeasurementView,
    ParticipantView,
    QueryView,
    ReconsentDueView,
    ScreeningView,
    VisitCalendar,
)
from trialdesk.web.charts import Reference
from trialdesk.web.figures import TrajectoryPoint, trajectory_chart
from trialdesk.web.routing import WebUser

MAX_ROWS = 500

# Reference lines on the trajectories: the ADA glycaemic target for most adults (HbA1c < 7 %,
# ADA Standards of Care in Diabetes 2024, section 6) and the WHO 1999 fasting diagnostic
# threshold that is also the protocol's inclusion bound (FBG ≥ 7.0 mmol/L).
TRAJECTORIES: tuple[tuple[str, Reference | None], ...] = (
    ("hba1c", Reference(7.0, "7 % (ADA target)")),
    ("fasting_glucose", Reference(7.0, "7.0 mmol/L (WHO 1999)")),
)


def form_of(element: DataElement) -> str | None:
    """Which visit form records `element` as a measurement (None: not a measurement)."""
    if element.is_derived or element.kind not in (ElementKind.QUANTITY, ElementKind.CATEGORY):
        return None
    if element.codes.omop_domain == "drug":
        return None  # dosing records, not measurements
    if element.panel == "safety":
        return "safety_labs"
    domain = element.codes.sdtm_domain
    if domain == "VS":
        return "vital_signs"
    if domain == "LB":
        return "labs"
    return "other"


@dataclass
class Casebook:
    participant: ParticipantView
    identity: IdentityView | None
    consents: list[ConsentView]
    screenings: list[ScreeningView]
    enrollment: EnrollmentView | None
    summary: EnrollmentSummary
    calendar: VisitCalendar
    adverse_events: list[AdverseEventView]
    open_queries: list[QueryView]
    charts: list[tuple[str, Markup]] = field(default_factory=list)
    # The consent form the protocol version in force requires and this participant has not
    # signed yet (issue 13: re-consent on a new consent version); None when none is due.
    reconsent: ReconsentDueView | None = None
    missing: list[MeasurementView] = field(default_factory=list)  # coded-missing fields

    @property
    def consent(self) -> ConsentView | None:
        live = [c for c in self.consents if not c.voided]
        return max(live, key=lambda c: (c.consented_on, c.id)) if live else None

    @property
    def latest_screening(self) -> ScreeningView | None:
        live = [s for s in self.screenings if not s.voided]
        return max(live, key=lambda s: (s.screened_on, s.id)) if live else None

    @property
    def enroll_blocked_because(self) -> str | None:
        """Why enrollment cannot be offered now (None: it can)."""
        if self.enrollment is not None:
            return "already enrolled"
        consent = self.consent
        if consent is None:
            return "no informed consent is recorded"
        if consent.withdrawn_on is not None:
            return f"consent was withdrawn on {consent.withdrawn_on.isoformat()}"
        screening = self.latest_screening
        if screening is None:
            return "not screened yet"
        if screening.status.value != "eligible":
            return f"the latest screening ({screening.screened_on.isoformat()}) is " + (
                screening.status.value
            )
        return None


def build_casebook(session: Session, user: WebUser, participant_id: int) -> Casebook:
    actor = user.actor
    participant = get_participant(session, actor, participant_id)
    identity = (
        get_identity(session, actor, participant_id)
        if actor.can(Permission.READ_IDENTITY)
        else None
    )
    calendar = visit_calendar(session, actor, participant_id)
    book = Casebook(
        participant=participant,
        identity=identity,
        consents=list_consents(session, actor, participant_id),
        screenings=list_screenings(session, actor, participant_id),
        enrollment=get_enrollment(session, actor, participant_id),
        summary=enrollment_summary(session, actor),
        calendar=calendar,
        adverse_events=list_adverse_events(
            session, actor, participant_id=participant_id, limit=MAX_ROWS
        ).items,
        open_queries=unresolved_queries(session, user, participant_id=participant_id),
    )
    book.charts = trajectory_charts(session, user, participant_id, calendar)
    book.reconsent = get_reconsent_due(session, actor, participant_id)
    rows = list_measurements(
        session, actor, MeasurementFilter(participant_id=participant_id), Paging(limit=MAX_ROWS)
    ).items
    book.missing = [m for m in rows if m.missing_code]
    return book


def study_day(on: date, anchor: date | None) -> int | None:
    return (on - anchor).days if anchor is not None else None


def trajectory_charts(
    session: Session, user: WebUser, participant_id: int, calendar: VisitCalendar
) -> list[tuple[str, Markup]]:
    catalogue = current_catalogue(session)
    anchor = calendar.anchor_date
    ticks = visit_ticks(protocol=current_protocol(session))
    charts = []
    for name, reference in TRAJECTORIES:
        element = catalogue[name]
        rows = list_measurements(
            session,
            user.actor,
            MeasurementFilter(participant_id=participant_id, element=name),
            Paging(limit=MAX_ROWS),
        ).items
        points = [
            TrajectoryPoint(day, r.visit_code, r.value)
            for r in rows
            if r.value is not None and (day := study_day(r.collected_on, anchor)) is not None
        ]
        unit = element.canonical_unit or ""
        charts.append(
            (
                element.label,
                trajectory_chart(
                    f"traj-{name}", element.label, unit, points, reference, visit_ticks=ticks
                ),
            )
        )
    doses = list_insulin_doses(session, user.actor, participant_id)
    dose_points = [
        TrajectoryPoint(day, d.start_date.isoformat(), d.total_units_per_day)
        for d in doses
        if not d.voided and (day := study_day(d.start_date, anchor)) is not None
    ]
    charts.append(
        (
            "Total daily insulin dose",
            trajectory_chart(
                "traj-insulin",
                "Total daily insulin dose",
                "U/day",
                dose_points,
                None,
                visit_ticks=ticks,
                in_effect_until=study_day(calendar.as_of, anchor),  # capped at the axis end
            ),
        )
    )
    return charts


def unresolved_queries(session: Session, user: WebUser, **filters: Any) -> list[QueryView]:
    """Queries raised and not yet closed (open, or answered and awaiting the monitor)."""
    page = list_queries(
        session, user.actor, where=QueryFilter(**filters), page=Paging(limit=MAX_ROWS)
    )
    return [q for q in page.items if q.status.value != "closed"]


def visit_ticks(min_gap_days: int = 20, protocol: Protocol | None = None) -> list[tuple[int, str]]:
    """(protocol day, visit code) of the schedule, leaving out visits too close to the previous
    label to be read (e.g. TX a week after BL)."""
    ticks: list[tuple[int, str]] = []
    for visit in (protocol or current_protocol()).schedule:
        if not ticks or visit.day - ticks[-1][0] >= min_gap_days:
            ticks.append((visit.day, visit.code))
    return ticks


def queries_by_field(queries: Iterable[QueryView]) -> dict[tuple[str, int, str], list[QueryView]]:
    """Open queries keyed by (table, record id, field), so each field can show its own."""
    index: dict[tuple[str, int, str], list[QueryView]] = {}
    for q in queries:
        index.setdefault((q.target_table, q.target_id, q.field), []).append(q)
    return index


def visit_name(code: str) -> str:
    for visit in current_protocol().schedule:
        if visit.code == code:
            return visit.name
    return code
