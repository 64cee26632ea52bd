"""SDV progress: of the forms the risk-based plan selects (`sdv_plan`), how many are verified,
per participant, per visit and per site; and, per form of a participant's visit, why it is
selected. Computed from the same facts as the record status grid (`grid_facts`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import get_participant, require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.grid_facts import Cell, GridFacts, gather
from trialdesk.services.record_grid import grid_columns, site_ids_of
from trialdesk.services.sdv_plan import SdvPlan, SdvReason, sdv_plan, sdv_reason
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.uow import service
from trialdesk.store.models import Participant, Site


@dataclass
class Tally:
    selected: int = 0
    verified: int = 0
    reviewed: int = 0

    @property
    def percent(self) -> float:
        return 100.0 * self.verified / self.selected if self.selected else 100.0


@dataclass
class SdvProgress:
    by_site: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_participant: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_visit: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    total: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class FormPlan:
    """One form of one visit of a participant, for the monitor's SDV page."""

    visit_code: str
    form: str
    has_data: bool
    reason: SdvReason | None  # None: not selected for SDV
    verified: bool
    reviewed: bool


def _selected(plan: SdvPlan, facts: GridFacts, study_id: str, cell: Cell) -> SdvReason | None:
    if cell not in facts.data:
        return None
    return sdv_reason(plan, study_id, cell[1], cell[2], serious=cell in facts.serious)


def _count(tally: Tally, facts: GridFacts, cell: Cell) -> None:
    tally.selected += 1
    tally.verified += cell in facts.verified
    tally.reviewed += cell in facts.reviewed


@service
def sdv_progress(session: Session, actor: Actor, *, site_code: str | None = None) -> SdvProgress:
    """Verified / selected forms per site, participant and visit of the actor's sites."""
    require(actor, Permission.READ_CLINICAL)
    site_ids = site_ids_of(session, actor, site_code)
    pids = select(Participant.id).where(
        Participant.site_id.in_(site_ids), Participant.voided.is_(False)
    )
    protocol, catalogue = current_protocol(session), current_catalogue(session)
    facts = gather(session, pids, protocol, catalogue)
    plan = sdv_plan(protocol, catalogue)
    columns = grid_columns(session)
    out = SdvProgress()
    rows = session.execute(
        select(Participant.id, Participant.study_id, Site.code)
        .join(Site, Site.id == Participant.site_id)
        .where(Participant.id.in_(pids))
    )
    for pid, study_id, site in rows:
        for column in columns:
            cell = (pid, column.visit_code, column.form)
            if _selected(plan, facts, study_id, cell) is None:
                continue
            for tally in (
                out.by_site[site],
                out.by_participant[study_id],
                out.by_visit[column.visit_code],
                out.total,
            ):
                _count(tally, facts, cell)
    return out


@service
def participant_sdv_plan(session: Session, actor: Actor, participant_id: int) -> list[FormPlan]:
    """Every form of every scheduled visit of a participant: data entered, why it must be
    verified (or not selected), and whether it is verified / reviewed."""
    participant = get_participant(session, actor, participant_id, Permission.READ_CLINICAL)
    pids = select(Participant.id).where(Participant.id == participant.id)
    protocol, catalogue = current_protocol(session), current_catalogue(session)
    facts = gather(session, pids, protocol, catalogue)
    plan = sdv_plan(protocol, catalogue)
    plans = []
    for column in grid_columns(session):
        cell = (participant.id, column.visit_code, column.form)
        plans.append(
            FormPlan(
                column.visit_code,
                column.form,
                cell in facts.data,
                _selected(plan, facts, participant.study_id, cell),
                cell in facts.verified,
                cell in facts.reviewed,
            )
        )
    return plans
