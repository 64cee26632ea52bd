"""The study dashboard: enrollment against target, the screening log with the reasons for
failure, visits due or overdue in the coming weeks, unresolved data queries and serious adverse
events with a report to the sponsor still to send (the site's 24-hour clock). Everything is read
through the services, so each user sees their own sites only (the enrollment count against the
target is study-wide)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from markupsafe import Markup
from sqlalchemy.orm import Session

from trialdesk.services import (
    enrollment_summary,
    get_enrollment,
    list_participants,
    list_queries,
    list_reconsent_due,
    list_screenings,
    open_safety_clocks,
    visit_calendar,
)
from trialdesk.services.actor import Permission
from trialdesk.services.paging import Page as Paging
from trialdesk.services.screening_declines import list_screening_declines
from trialdesk.services.study import current_protocol, version_in_force
from trialdesk.services.validate import today
from trialdesk.services.views import (
    CalendarEntry,
    EnrollmentSummary,
    ParticipantView,
    QueryView,
    ReconsentDueView,
    SafetyClockRow,
    ScreeningView,
)
from trialdesk.web.casebook import MAX_ROWS
from trialdesk.web.figures import enrollment_chart
from trialdesk.web.routing import WebUser

LOOKAHEAD = timedelta(weeks=4)
ACTIVE = {"screening", "enrolled"}  # participants whose visits are still expected


@dataclass(frozen=True)
class ScreeningLogRow:
    participant: ParticipantView
    screening: ScreeningView

    @property
    def failed(self) -> list[dict[str, object]]:
        return [c for c in self.screening.result.get("criteria", []) if c.get("satisfied") is False]

    @property
    def missing(self) -> list[str]:
        return [str(m) for m in self.screening.result.get("missing", []) if m not in self.coded]

    @property
    def coded(self) -> dict[str, str]:
        """Fields recorded as missing with a code, and why ("not done (ND): haemolysed")."""
        return {str(k): str(v) for k, v in self.screening.result.get("coded", {}).items()}


@dataclass(frozen=True)
class VisitDue:
    participant: ParticipantView
    entry: CalendarEntry


@dataclass
class Dashboard:
    as_of: date
    summary: EnrollmentSummary
    chart: Markup
    screened: int  # CONSORT "assessed for eligibility": screenings and declines
    screen_failures: int
    declined: int = 0  # CONSORT "excluded: declined to participate" (and not consented)
    screening_log: list[ScreeningLogRow] = field(default_factory=list)
    visits_due: list[VisitDue] = field(default_factory=list)
    queries: list[QueryView] = field(default_factory=list)
    # Serious adverse events with a report to send: initial (24-hour clock) or follow-up.
    saes: list[SafetyClockRow] = field(default_factory=list)
    study_ids: dict[int, str] = field(default_factory=dict)  # participant id → study id
    # Consented participants who must sign the consent form a protocol amendment introduced.
    reconsent_due: list[ReconsentDueView] = field(default_factory=list)
    protocol: str = ""  # e.g. "NCT01142050 version 2, in force from 2027-01-15"


def screening_log(session: Session, user: WebUser) -> list[ScreeningLogRow]:
    """The latest screening of every participant of the user's sites, newest first."""
    rows = []
    for p in list_participants(session, user.actor, limit=MAX_ROWS).items:
        screenings = [s for s in list_screenings(session, user.actor, p.id) if not s.voided]
        if screenings:
            rows.append(ScreeningLogRow(p, max(screenings, key=lambda s: (s.screened_on, s.id))))
    rows.sort(key=lambda r: (r.screening.screened_on, r.participant.study_id), reverse=True)
    return rows


def build_dashboard(session: Session, user: WebUser, as_of: date | None = None) -> Dashboard:
    actor = user.actor
    moment = as_of or today()
    participants = list_participants(session, actor, limit=MAX_ROWS).items
    log = screening_log(session, user)
    enrolled_on: list[date] = []
    due: list[VisitDue] = []
    for p in participants:
        enrollment = get_enrollment(session, actor, p.id)
        if enrollment is not None:
            enrolled_on.append(enrollment.enrolled_on)
        if p.status.value in ACTIVE:
            due += _visits_due(session, user, p, moment)
    summary = enrollment_summary(session, actor)
    # Declines are clinical data: a role that may not read them (admin) counts none.
    declines = (
        list_screening_declines(session, actor) if actor.can(Permission.READ_CLINICAL) else []
    )
    due.sort(key=lambda v: (v.entry.window_end or moment, v.participant.study_id))
    return Dashboard(
        as_of=moment,
        summary=summary,
        chart=enrollment_chart(enrolled_on, summary.target, moment),
        screened=len(log) + len(declines),
        screen_failures=sum(1 for r in log if r.screening.status.value == "ineligible"),
        declined=len(declines),
        screening_log=log,
        visits_due=due,
        queries=[
            q
            for q in list_queries(session, actor, page=Paging(limit=MAX_ROWS)).items
            if q.status.value != "closed"
        ],
        saes=open_safety_clocks(session, actor),
        study_ids={p.id: p.study_id for p in participants},
        protocol=_protocol_line(session),
        reconsent_due=(
            list_reconsent_due(session, actor) if actor.can(Permission.READ_CLINICAL) else []
        ),
    )


def _protocol_line(session: Session) -> str:
    """Which protocol version the study runs under today (issue 18)."""
    version = version_in_force(session)
    if version is None:
        return current_protocol(session).id
    since = version.effective_on.isoformat()
    return f"{version.protocol_id} version {version.label}, in force from {since}"


def _visits_due(
    session: Session, user: WebUser, p: ParticipantView, moment: date
) -> list[VisitDue]:
    calendar = visit_calendar(session, user.actor, p.id, as_of=moment)
    horizon = moment + LOOKAHEAD
    return [
        VisitDue(p, e)
        for e in calendar.visits
        if e.status in ("due", "overdue")
        or (e.status == "upcoming" and e.window_start is not None and e.window_start <= horizon)
    ]


STATUS_WORDS = {"candidate": "Candidates", "incomplete": "Incomplete", "excluded": "Excluded"}
PRESCREEN_RUNS_SHOWN = 5


@dataclass(frozen=True)
class FunnelStepRow:
    step: int
    criterion: str  # "" for the population seen in the look-back
    text: str
    remaining: int
    removed: int
    not_assessable: int


@dataclass(frozen=True)
class PrescreenRunCard:
    """A stored EHR pre-screening run as the screening log shows it (counts, no persons)."""

    run_id: int
    site_code: str
    index_date: date
    lookback_days: int
    persons: int
    statuses: list[tuple[str, int]]
    steps: list[FunnelStepRow]
    picture: Markup


def prescreen_runs(session: Session, user: WebUser) -> list[PrescreenRunCard]:
    """The latest pre-screening runs at the user's sites with their attrition funnels."""
    from trialdesk.services import list_prescreen_runs
    from trialdesk.web.charts import FunnelBar, render_funnel

    if not user.can("read_clinical"):
        return []
    cards = []
    for run in list_prescreen_runs(session, user.actor, limit=PRESCREEN_RUNS_SHOWN).items:
        steps = [
            FunnelStepRow(
                int(s.get("step", 0)),
                str(s.get("criterion", "")),
                str(s.get("text", "")),
                int(s.get("remaining", 0)),
                int(s.get("removed", 0)),
                int(s.get("not_assessable", 0)),
            )
            for s in run.attrition
        ]
        bars = [
            FunnelBar(s.criterion or "Seen in the look-back", s.remaining, s.removed) for s in steps
        ]
        title = f"Pre-screening attrition at {run.site_code}, {run.index_date.isoformat()}"
        cards.append(
            PrescreenRunCard(
                run.id,
                run.site_code,
                run.index_date,
                run.lookback_days,
                run.persons_assessed,
                [(w, int(run.status_counts.get(k, 0))) for k, w in STATUS_WORDS.items()],
                steps,
                render_funnel(f"funnel-{run.id}", title, bars) if steps else Markup(""),
            )
        )
    return cards
