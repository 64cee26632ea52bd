"""The record status grid (REDCap's "Record Status Dashboard", OpenClinica's "Subject
Matrix"): one row per participant, one column per form of each scheduled visit of the protocol,
one status per cell (`trialdesk.services.cell_status`), with counts per status, filters by
site and status, and pages of rows. Facts come from `grid_facts` in a fixed number of queries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.services.access import require
from trialdesk.services.actor import Actor, Permission
from trialdesk.services.cell_status import CellStatus, cell_status
from trialdesk.services.errors import ValidationProblem
from trialdesk.services.grid_facts import GridFacts, gather
from trialdesk.services.listing import page_bounds
from trialdesk.services.study import current_catalogue, current_protocol
from trialdesk.services.uow import service
from trialdesk.store.models import Participant, Site

FORM_LABELS = {"itt": "ITT", "adverse_events": "Adverse events", "vital_signs": "Vital signs"}
DEFAULT_ROWS = 50


def form_label(form: str) -> str:
    return FORM_LABELS.get(form, form.replace("_", " ").capitalize())


@dataclass(frozen=True)
class GridColumn:
    visit_code: str
    visit_name: str
    form: str
    form_label: str


@dataclass(frozen=True)
class GridRow:
    participant_id: int
    study_id: str
    site_code: str
    cells: tuple[CellStatus, ...]  # in the order of `RecordGrid.columns`


@dataclass(frozen=True)
class RecordGrid:
    columns: tuple[GridColumn, ...]
    rows: tuple[GridRow, ...]  # the page asked for
    total_rows: int  # participants matching the filters
    counts: dict[CellStatus, int]  # cells per status, over every row of the chosen sites
    limit: int
    offset: int


def grid_columns(session: Session) -> tuple[GridColumn, ...]:
    """Every form of every scheduled visit, in schedule order (the protocol in force)."""
    return tuple(
        GridColumn(v.code, v.name, form, form_label(form))
        for v in current_protocol(session).schedule
        for form in v.forms
    )


def _status(value: str | None) -> CellStatus | None:
    if not value:
        return None
    try:
        return CellStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in CellStatus)
        raise ValidationProblem("status", f"{value!r} is not one of {choices}") from None


def site_ids_of(session: Session, actor: Actor, site_code: str | None) -> list[int]:
    if not site_code:
        return sorted(actor.site_ids)
    site_id = session.scalar(select(Site.id).where(Site.code == site_code))
    if site_id is None or not actor.sees_site(site_id):
        raise ValidationProblem("site", f"{site_code!r} is not one of your sites")
    return [site_id]


def _rows(
    session: Session, site_ids: list[int], columns: tuple[GridColumn, ...], facts: GridFacts
) -> list[GridRow]:
    query = (
        select(Participant.id, Participant.study_id, Site.code)
        .join(Site, Site.id == Participant.site_id)
        .where(Participant.site_id.in_(site_ids), Participant.voided.is_(False))
        .order_by(Participant.study_id)
    )
    return [
        GridRow(
            pid,
            study_id,
            code,
            tuple(cell_status(facts.facts((pid, c.visit_code, c.form))) for c in columns),
        )
        for pid, study_id, code in session.execute(query)
    ]


@service
def record_status_grid(
    session: Session,
    actor: Actor,
    *,
    site_code: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_ROWS,
    offset: int = 0,
) -> RecordGrid:
    """The grid of the actor's sites (or one of them): rows having a cell of `status` when
    given, a page of `limit` rows from `offset`; counts over every row of those sites."""
    require(actor, Permission.READ_CLINICAL)
    limit, offset = page_bounds(limit, offset)
    wanted = _status(status)
    site_ids = site_ids_of(session, actor, site_code)
    columns = grid_columns(session)
    pids = select(Participant.id).where(
        Participant.site_id.in_(site_ids), Participant.voided.is_(False)
    )
    facts = gather(session, pids, current_protocol(session), current_catalogue(session))
    rows = _rows(session, site_ids, columns, facts)
    counts = Counter(s for row in rows for s in row.cells)
    chosen = [r for r in rows if wanted is None or wanted in r.cells]
    return RecordGrid(
        columns=columns,
        rows=tuple(chosen[offset : offset + limit]),
        total_rows=len(chosen),
        counts={s: counts.get(s, 0) for s in CellStatus},
        limit=limit,
        offset=offset,
    )
